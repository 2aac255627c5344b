#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: mail_config
short_description: Render and apply mail configuration files (Postfix, msmtp, ...) as one atomic unit
description:
  - Renders, on the controller, the templates of one or more output formats from the host's validated
    mail settings (see C(docs/mail_config.md)), then writes every file of the host in a single module call.
  - Each changed file is written atomically (temporary file and rename in the same directory), with its
    mode, owner and group; backups on request.
  - "No step follows a symbolic link that someone other than root could have placed. Every path is walked
    from C(/) with directory descriptors (C(O_DIRECTORY|O_NOFOLLOW)); below a directory that belongs to
    another user (a home directory, for example) every step - look, create directories, write, set modes,
    back up, rename, remove - runs in a child process that has become that user, so the kernel enforces that
    nothing the user arranges there reaches a file that user could not write. A link, a parent that is not
    a directory or a directory of someone else on the way is a named refusal for that user
    (C(left alone: ~/.config is a symbolic link)); see O(on_refusal)."
  - After writing, the format's post steps run (for Postfix, C(postmap) of the hash/lmdb maps) and then its
    validator (for Postfix, C(postfix check) against the new configuration). If any of them fails, every
    file of the call is restored and the task fails with the command's output. Nothing is half-applied.
  - "Check mode reports exactly which files would change; diff mode shows before and after per file, with
    files that hold secrets redacted as C(<redacted: N bytes>) (C(<redacted: N bytes, changed>) after a change):
    no hash of a secret appears in any result or diff."
  - Bad input (unknown format, missing required setting or variable, unwritable path) fails before any file
    is written.
  - This module is run by its action plugin of the same name, which passes it the rendered files as internal
    options (C(_)-prefixed, refused in a task). They are documented only because the collection's sanity tests
    run without ignore files.
version_added: 1.0.0
author:
  - mailfleet engineers (@mailfleet)
options:
  format:
    description:
      - Output format(s) to render, for example C(postfix_relay), C(msmtp_relay), C(oauth2_token_helper).
      - See C(docs/mail_config.md) for the list and the files of each format.
    type: list
    elements: str
    required: true
  profile:
    description: Settings profile from the catalog (C(microsoft365), C(outlook_com), C(gcc_high), C(lab), ...).
    type: str
    default: microsoft365
  settings:
    description:
      - Overrides for the settings model (C(auth_method), C(username), C(sender), C(smtp_host), C(mx_host),
        C(ca_file), ...). They are validated before anything is rendered.
    type: dict
    default: {}
  vars:
    description:
      - Format variables (for example C(mode), C(rate_delay), C(extra_settings) for C(postfix_relay)).
      - Unknown variables of a format are an error.
    type: dict
    default: {}
  secrets:
    description:
      - Secret values used by the templates (C(password), C(client_secret)). They only end up in files the
        format marks as secret (mode 0600) and never in results or diffs.
    type: dict
    default: {}
  var_prefix:
    description:
      - Prefix used in error messages to name the caller's variables, for example C(relay_) so that an error
        about C(mode) reads C(relay_mode).
    type: str
    default: ''
  var_names:
    description:
      - The caller's names for format variables whose name is not O(var_prefix) plus the variable's own, for
        error messages, for example C(map_type) named C(relay_postfix_map_type) by the relay role.
    type: dict
    default: {}
  template_dir:
    description:
      - A directory on the controller with templates that override the collection's ones by relative name
        (for example C(<template_dir>/postfix_relay/main.cf.j2)).
    type: path
  root:
    description:
      - Write under this directory instead of the live system (image builds). With a value other than C(/),
        validators and service actions are skipped, post steps run only if the program is installed on the
        build host; a skipped post step is a warning that says what was not compiled and how to do it in the
        image.
      - On the live system (C(/)), every program of the post steps, validators and services must be installed;
        a missing one fails the task before any file is written, naming the program and its package.
    type: path
    default: /
  backup:
    description:
      - Keep a copy of each file that is replaced, next to it, named C(<name>.<timestamp>.<random>~).
      - The copy is created mode 0600 (or the file's mode if stricter) from its first byte, with
        C(O_EXCL|O_NOFOLLOW), owned like the file; inside a user's directory it is written by that user.
    type: bool
    default: false
  on_refusal:
    description:
      - What to do when the way to a file is refused (a symbolic link another user could have placed, a
        parent that is not a directory, a directory that belongs to someone else, an owner that the
        directory's user cannot give).
      - C(fail) fails the task before anything is written, naming each refusal.
      - C(skip) leaves every file of that user alone (a user's files are one unit), writes the others and
        lists the refusals in RV(refused) and as warnings. The client role uses C(skip) by default.
    type: str
    default: fail
    choices: [fail, skip]
  reload:
    description:
      - Reload the format's services (never restart) after a successful change, when they are running.
      - Roles set this to C(false) and reload from a handler instead.
    type: bool
    default: true
  validate_only:
    description:
      - Validate the settings and variables and render the templates on the controller, without contacting
        the host. Used as the first task of a role so that bad input fails before any host change.
    type: bool
    default: false
  _files:
    description:
      - Internal, set by the action plugin (a task that gives it fails). The rendered files (path, content, mode,
        owner, group, secret, post steps).
    type: list
    elements: dict
  _secret_contents:
    description: Internal, set by the action plugin (a task that gives it fails). Content of the secret files, by path.
    type: dict
  _validate:
    description:
      - Internal, set by the action plugin (a task that gives it fails). Validators run after writing - argv lists,
        or dicts with C(argv) and C(tty) (run with stderr on a pseudo-terminal, for programs that only print errors
        to a terminal).
    type: list
    elements: raw
  _services:
    description:
      - Internal, set by the action plugin (a task that gives it fails). Service reload actions (name, status argv,
        reload argv).
    type: list
    elements: dict
  _programs:
    description:
      - Internal, set by the action plugin (a task that gives it fails). The package that provides each program of
        the post steps, validators and services, named when a program is missing.
    type: dict
attributes:
  action:
    description: Indicates this has a corresponding action plugin so some parts of the options can be executed on the controller.
    support: full
  check_mode:
    support: full
  diff_mode:
    support: full
    details: Files marked secret are shown as their size (and whether they changed) only.
  platform:
    platforms: posix
  safe_file_operations:
    description: Uses Ansible's strict file operation functions to ensure proper permissions and avoid data corruption.
    support: full
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
notes:
  - Templates are looked up first in O(template_dir), then in the collection's C(plugins/templates/) directory.
seealso:
  - module: mailfleet.outlook.smtp_check
"""

EXAMPLES = r"""
- name: Configure Postfix as a null client relaying through Microsoft 365
  mailfleet.outlook.mail_config:
    format: postfix_relay
    profile: microsoft365
    settings:
      auth_method: password
      username: alerts@contoso.com
    vars:
      mode: submission
    secrets:
      password: "{{ vault_alerts_password }}"
    backup: true

- name: Render into an image root (no validator, no reload)
  mailfleet.outlook.mail_config:
    format: [postfix_relay]
    root: /srv/image-root
    settings:
      auth_method: password
      username: alerts@contoso.com
    secrets:
      password: "{{ vault_alerts_password }}"

- name: Use my own main.cf template (same name as the collection's)
  mailfleet.outlook.mail_config:
    format: postfix_relay
    template_dir: "{{ playbook_dir }}/templates/mailfleet"
    settings:
      auth_method: password
      username: alerts@contoso.com
    secrets:
      password: "{{ vault_alerts_password }}"
"""

RETURN = r"""
changed_files:
  description: Target paths that changed (or would change in check mode).
  returned: always
  type: list
  elements: str
  sample: [/etc/postfix/main.cf]
files:
  description:
    - Every file of the call with its state, whether it changed, size and (files that are not secret) SHA-256
      of the new content; C(written_as) (the user who controls its directory, when not root), C(left_alone)
      (why it was not written) and C(backup_file) when they apply.
    - With O(validate_only), the path, state and C(secret) of each file the call would write.
  returned: always
  type: list
  elements: dict
refused:
  description:
    - "The refusals met, one per refused file, with the user whose directory it is (or null), the file and the
      reason, for example C(left alone: ~/.config is a symbolic link). Only with O(on_refusal=skip); with
      C(fail) the task fails instead."
  returned: always
  type: list
  elements: dict
  sample: [{"user": "alice", "path": "/home/alice/.config/msmtp/config", "reason": "left alone: ~/.config is a symbolic link"}]
post_steps:
  description: Post steps that ran (or would run in check mode), for example C(postmap hash:/etc/postfix/sasl_passwd).
  returned: always
  type: list
  elements: str
validated:
  description: Whether a validator ran and passed.
  returned: always
  type: bool
services:
  description: Services that were reloaded.
  returned: always
  type: list
  elements: str
skipped_steps:
  description: Steps that were skipped and why (non-C(/) root, program not installed, service not running).
  returned: always
  type: list
  elements: str
formats:
  description: The formats that were rendered.
  returned: always
  type: list
  elements: str
settings_warnings:
  description: Warnings from the settings model and the formats (for example the Basic auth retirement timeline).
  returned: when there are warnings (always with O(validate_only))
  type: list
  elements: str
settings:
  description: The validated settings the templates were rendered from (secrets are not part of them).
  returned: with O(validate_only)
  type: dict
rolled_back:
  description:
    - Whether the files this call had already written were restored to their previous state (a write, post step
      or validator failed after the first write). C(false) when the call failed before writing anything.
  returned: when the module fails while applying
  type: bool
validator_output:
  description: The output of the post step or validator that failed (empty when none failed).
  returned: when the module fails while applying
  type: str
"""

import traceback

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mailfleet.outlook.plugins.module_utils._apply import USER_ARGUMENT_SPEC, ApplyError, apply_plan, refusal_text


def main():
    module = AnsibleModule(
        argument_spec=dict(
            USER_ARGUMENT_SPEC,
            # internal: set by the action plugin only (plugins/action/mail_config.py, INTERNAL_OPTIONS)
            _files=dict(type="list", elements="dict"),
            _secret_contents=dict(type="dict", no_log=True),
            _validate=dict(type="list", elements="raw"),
            _services=dict(type="list", elements="dict"),
            _programs=dict(type="dict"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if p["_files"] is None:
        module.fail_json(msg="mail_config must run through its action plugin (files were not rendered)")

    files = []
    secret_contents = p["_secret_contents"] or {}
    for spec in p["_files"]:
        spec = dict(spec)
        if spec.get("secret") and spec.get("state", "present") == "present":
            if spec["path"] not in secret_contents:
                module.fail_json(msg="%s: secret content missing" % spec["path"])
            spec["content"] = secret_contents[spec["path"]]
        files.append(spec)

    def run(argv):
        return module.run_command(argv, check_rc=False, environ_update={"LC_ALL": "C"})

    try:
        result = apply_plan(files, run, root=p["root"], check_mode=module.check_mode, backup=p["backup"],
                            validate=p["_validate"], services=p["_services"], run_services=p["reload"],
                            programs=p["_programs"], on_refusal=p["on_refusal"])
    except ApplyError as e:
        module.fail_json(msg=e.msg, rolled_back=e.rolled_back, validator_output=e.output or "")
    except Exception as e:  # pragma: no cover - unexpected
        module.fail_json(msg="mail_config: unexpected error: %s" % e, exception=traceback.format_exc())

    for text in result.pop("warnings", None) or []:
        module.warn(text)
    for refusal in result["refused"]:
        module.warn(refusal_text([refusal]))
    diff = result.pop("diff")
    if module._diff:
        result["diff"] = diff
    result["formats"] = p["format"]
    module.exit_json(**result)


if __name__ == "__main__":
    main()
