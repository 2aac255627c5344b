#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: mail_senders_facts
short_description: Find how a host sends mail today, whoever configured it, and judge it against Microsoft's rules
version_added: 1.0.0
description:
  - Reads, without changing anything, the configuration of every mail sender on the host - Postfix, Exim4 (Debian),
    nullmailer, msmtp (system and every user's), dma, OpenSMTPD - and the files under C(/etc) and the users' homes
    that name a Microsoft SMTP host (applications' own settings, reported as C(mentions)).
  - For each configuration it returns the program, the file and line, the upstream host and port, the security
    (STARTTLS, implicit TLS, none; required or optional; certificate check on or off), the authentication
    (password, OAuth2, certificate, none), the account, whether the upstream is Microsoft's (the catalog's hosts and
    tenant MX suffixes, plus O(upstreams)), the problems, the verdict and the one change that fixes it.
  - Verdicts come from the catalog and the settings validator of the collection - C(stops) (password authentication
    to Microsoft, which Microsoft disables by default at the end of December 2026), C(wrong) (465 or implicit TLS, no
    TLS, no authentication for submission), C(blocked) (port 25 to the submission host), C(unsafe) (optional TLS, no
    certificate check, a secret file everyone can read), C(review), C(ok) (OAuth2, a connector), C(not_microsoft).
  - B(No secret is ever read into the result.) Only that a password is set, the file that holds it, its mode and its
    owner. Password lines are parsed and dropped at once; mentions report no line content.
  - Users' homes are read without following any link (directory descriptors, C(O_NOFOLLOW)), and only the files that
    belong to the user; links and everything else that could not be read are reported in RV(ansible_facts.mail_senders.unreadable).
  - Bounded in time and size. Huge, binary, special (FIFO, device), linked and unreadable files are reported, never
    waited on; the whole discovery stops at O(timeout) and says what it could not finish.
  - A C(*_facts) module, like M(ansible.builtin.service_facts) - what a host's mail configuration is, is a fact about
    the host - so the result lands in C(ansible_facts.mail_senders), where fact caching (AWX, Automation Platform,
    C(jsonfile)) keeps it for later plays and reports.
options:
  root:
    description:
      - Look at the system installed under this directory (an image, a container's root file system) instead of
        C(/). Paths in the result are the paths inside that system.
    type: path
    default: /
  upstreams:
    description:
      - Upstreams to judge as a catalog profile besides the catalog's own hosts, for example the bundled lab or an
        alias of a Microsoft host. The reachability role passes the host's configured submission endpoint.
    type: list
    elements: dict
    default: []
    suboptions:
      host:
        description: Host name as the configurations name it.
        type: str
        required: true
      port:
        description: Only this port (any port when unset).
        type: int
      profile:
        description: Catalog profile to judge the upstream as.
        type: str
        required: true
        choices: [china, custom, dod, gcc_high, lab, microsoft365, microsoft365_hve, outlook_com]
      service:
        description: What the upstream is - the SMTP submission endpoint, or the tenant MX host (connector, direct send).
        type: str
        choices: [submission, mx]
        default: submission
  homes:
    description: Read the users' configuration (C(~/.msmtprc), C(~/.config/msmtp/config)) and scan their homes for mentions.
    type: bool
    default: true
  mentions:
    description: Scan for files that name a Microsoft SMTP host.
    type: bool
    default: true
  mention_paths:
    description: Directories the mention scan walks (besides the homes of root and of people, UID_MIN and above).
    type: list
    elements: path
    default: [/etc]
  exclude_paths:
    description:
      - Paths not read at all, neither by the parsers nor by the mention scan (for example a home on a slow network
        file system, or a directory of data that holds no configuration).
    type: list
    elements: path
    default: []
  timeout:
    description: Seconds for the whole discovery; what is not finished by then is reported as such.
    type: float
    default: 20
  max_file_size:
    description: Files larger than this (bytes) are not read (reported for configuration files, counted for the scan).
    type: int
    default: 1048576
  max_files:
    description: Files the mention scan opens at most.
    type: int
    default: 20000
  max_results:
    description: Senders, mentions and unreadable entries returned at most (each); the rest is counted in C(dropped).
    type: int
    default: 200
attributes:
  check_mode:
    support: full
    details: The module only reads.
  diff_mode:
    support: none
  facts:
    support: full
  platform:
    support: full
    platforms: posix
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.facts
author:
  - mailfleet engineers (@mailfleet)
seealso:
  - module: mailfleet.outlook.smtp_check
  - module: mailfleet.outlook.fleet_report
notes:
  - Runs on the host with the Python standard library only. As root it can read every configuration; as another
    user, what that user cannot read is reported as unreadable.
  - Exim4 is read as Debian configures it (debconf answers and macros); a hand-written C(/etc/exim4/exim4.conf) is
    reported, not interpreted. Postfix values come from C(postconf) when it is installed.
"""

EXAMPLES = r"""
- name: Find how every host sends mail today
  mailfleet.outlook.mail_senders_facts:

- name: List what still logs in to Microsoft with a password
  ansible.builtin.debug:
    msg: "{{ ansible_facts.mail_senders.basic_auth }}"

- name: Treat the lab's submission endpoint like Microsoft 365 (what the reachability role does for the lab profile)
  mailfleet.outlook.mail_senders_facts:
    upstreams:
      - host: lab.example.test
        port: 10587
        profile: lab

- name: Look into an image before it boots
  mailfleet.outlook.mail_senders_facts:
    root: /srv/images/web
    mentions: false
"""

RETURN = r"""
ansible_facts:
  description: Facts added to the host.
  returned: always
  type: dict
  contains:
    mail_senders:
      description: How the host sends mail today.
      returned: always
      type: dict
      contains:
        schema:
          description: Version of this structure.
          type: str
          sample: mailfleet.outlook/mail-senders/v1
        complete:
          description: False when the time limit or a size limit cut the discovery short (see C(errors), C(scan)).
          type: bool
        basic_auth_deadline:
          description: When Microsoft disables Basic auth for SMTP AUTH by default (from the catalog).
          type: str
          sample: "2026-12-31"
        senders:
          description:
            - One entry per configuration found (a Postfix relayhost or transport entry, an Exim4 smarthost, a
              nullmailer remote, an msmtp account, a dma smarthost, an OpenSMTPD relay action).
            - "Keys: C(program), C(kind) (config), C(file), C(line), C(name), C(user) (per-user files), C(route),
              C(upstream) ({host, port} or null for direct delivery), C(security) (starttls, tls, none),
              C(tls_required), C(cert_check), C(auth) (password, oauth2, certificate, none, unknown), C(mechanism),
              C(account), C(secret) ({set, source, file, line, mode, owner, group, world_readable}; never the secret),
              C(managed) (written by this collection), C(microsoft), C(profile), C(service) (submission, mailbox, mx),
              C(problems) ([{code, verdict, text}]), C(verdict), C(fix), C(adopt) ({vars, to_fill, notes}: the relay
              role variables that take the host over), C(notes)."
          type: list
          elements: dict
        mentions:
          description: Files that name a Microsoft SMTP host, same keys as C(senders) with C(kind=mention); C(name) is the setting's name.
          type: list
          elements: dict
        basic_auth:
          description:
            - The senders and mentions that log in to Microsoft with a password.
            - Keys C(program), C(kind), C(file), C(line), C(account), C(user), C(managed), C(secret_file), C(upstream).
          type: list
          elements: dict
        summary:
          description: Counts (C(senders), C(mentions), C(by_verdict)), C(basic_auth_files), C(programs).
          type: dict
        unreadable:
          description: What could not be read and why ({path, reason}) - links, huge, binary, special or unreadable files, loops.
          type: list
          elements: dict
        links_skipped:
          description: Symbolic links that were not followed where a configuration was looked for.
          type: list
          elements: str
        scan:
          description: The mention scan's counts ({files, bytes, skipped, complete, stopped_by}).
          type: dict
        errors:
          description: Parsers that could not finish (time limit, unexpected error).
          type: list
          elements: str
        dropped:
          description: Entries left out by O(max_results).
          type: dict
        elapsed_ms:
          description: Time the discovery took.
          type: int
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mailfleet.outlook.plugins.module_utils._catalog import PROFILE_NAMES
from ansible_collections.mailfleet.outlook.plugins.module_utils._senders._discover import discover


def main():
    module = AnsibleModule(
        argument_spec=dict(
            root=dict(type="path", default="/"),
            upstreams=dict(type="list", elements="dict", default=[], options=dict(
                host=dict(type="str", required=True),
                port=dict(type="int"),
                profile=dict(type="str", required=True, choices=list(PROFILE_NAMES)),
                service=dict(type="str", choices=["submission", "mx"], default="submission"),
            )),
            homes=dict(type="bool", default=True),
            mentions=dict(type="bool", default=True),
            mention_paths=dict(type="list", elements="path", default=["/etc"]),
            exclude_paths=dict(type="list", elements="path", default=[]),
            timeout=dict(type="float", default=20),
            max_file_size=dict(type="int", default=1048576),
            max_files=dict(type="int", default=20000),
            max_results=dict(type="int", default=200),
        ),
        supports_check_mode=True,
    )
    p = module.params
    for key in ("timeout", "max_file_size", "max_files", "max_results"):
        if p[key] is None or p[key] <= 0:
            module.fail_json(msg="%s=%r: must be greater than 0. Fix: give a positive number (default %s)"
                                 % (key, p[key], module.argument_spec[key]["default"]))
    limits = {"timeout": p["timeout"], "max_file_size": p["max_file_size"], "max_files": p["max_files"],
              "max_results": p["max_results"]}
    facts = discover(root=p["root"], upstreams=p["upstreams"], homes=p["homes"], mentions=p["mentions"],
                     mention_paths=p["mention_paths"], limits=limits, exclude=p["exclude_paths"])
    module.exit_json(changed=False, ansible_facts={"mail_senders": facts})


if __name__ == "__main__":
    main()
