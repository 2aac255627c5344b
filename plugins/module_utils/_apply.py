# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Target-side engine of mailfleet.outlook.mail_config: apply a set of files as one unit.

Standard library only (runs on the managed host).  The plan handed in by the action plugin is a list
of file entries::

    {"path": "/etc/postfix/main.cf", "content": "...", "state": "present"|"absent",
     "mode": "0644", "owner": "root", "group": "root", "secret": False, "dir_mode": "0755",
     "post": [["postmap", "hash:{dest}"]], "creates": ["{dest}.db"], "remove_with": ["{dest}.db"]}

plus validators (argv lists run after all files are in place) and service actions.  The contract:

* everything that can be checked before writing (paths, owners, groups, modes, the way to each file) is
  checked first; nothing is written when a check fails;
* every file is reached through ``_safe_fs``: a descriptor walk from ``/`` that never follows a link
  someone other than root could have placed.  Below a directory that another user controls (a home
  directory, a service user's directory) every step -- look, create directories, write, chmod, back up,
  rename, remove -- runs in a child process that has become that user; a link, a parent that is not a
  directory or a directory of someone else there is a refusal for that user (``on_refusal``);
* each changed file is written to a temporary file (``O_EXCL``, 0600) in its own directory, its owner and
  mode set on the open descriptor, and renamed over the target; a backup (``backup``) is a copy created
  0600 (or stricter, as the file was) with an unpredictable name in the same directory;
* post steps run for files whose content changed (or whose ``creates`` outputs are missing);
* validators run once after all files are in place; when a post step or a validator fails, every
  file of the call is restored (content, mode, owner) or removed if it did not exist, post steps of
  restored files run again, and the call fails with the command's output;
* secret files never show their content, or a hash of it, in diffs or results: size and "changed" only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
from collections import namedtuple

from ansible_collections.mailfleet.outlook.plugins.module_utils._apply_files import (
    ApplyError, FileEntry, by_owner, expand_dest)
from ansible_collections.mailfleet.outlook.plugins.module_utils._apply_programs import (
    find_program, image_skip_warning, locate_programs, missing_message, run_program, run_with_tty)
from ansible_collections.mailfleet.outlook.plugins.module_utils._as_user import run_each


# The options a user gives mail_config; the action plugin validates them and the module accepts them again,
# plus the rendered plan the action plugin adds (files, secret_contents, validate, services).
USER_ARGUMENT_SPEC = dict(
    format=dict(type="list", elements="str", required=True),
    profile=dict(type="str", default="microsoft365"),
    settings=dict(type="dict", default={}),
    vars=dict(type="dict", default={}),
    secrets=dict(type="dict", default={}, no_log=True),
    var_prefix=dict(type="str", default=""),
    var_names=dict(type="dict", default={}),
    template_dir=dict(type="path"),
    root=dict(type="path", default="/"),
    backup=dict(type="bool", default=False),
    reload=dict(type="bool", default=True),
    validate_only=dict(type="bool", default=False),
    on_refusal=dict(type="str", default="fail", choices=["fail", "skip"]),
)


class Step(namedtuple("Step", "kind argv entry tty")):
    """A program ``apply_plan`` runs once the files are written: a ``post step`` of the file ``entry`` (postmap ...)
    or a ``validator`` (``entry`` None; ``tty``: it runs on a pseudo-terminal, for validators that need one).
    ``argv`` as shown in results; the program is located before anything is written."""

    __slots__ = ()


def apply_plan(files, run_command, root="/", check_mode=False, backup=False, validate=None,
               services=None, run_services=True, programs=None, which=find_program, on_refusal="fail"):
    """Apply ``files`` as one unit.  Returns a result dict; raises ApplyError (already rolled back).

    ``programs`` maps the programs of post steps, validators and services to the package that provides them.
    Every such program is looked up (``which``) before anything is written: on the live system a missing one
    fails the call with its name, its package and the fix; under an image ``root`` a missing post step is
    skipped with a warning that says what was not compiled and how to do it in the image.

    A file whose way is refused (a link another user could have placed, a parent that is not a directory,
    a directory of someone else: see ``_safe_fs``) fails the call before any write (``on_refusal="fail"``)
    or leaves every file of that user alone and goes on with the others (``"skip"``: listed in
    ``refused``).
    """
    root = root or "/"
    seen = set()
    entries = []
    try:
        for spec in files:
            e = FileEntry(spec, root)
            if e.dest in seen:
                raise ApplyError("%s is listed twice" % e.path)
            seen.add(e.dest)
            entries.append(e)
        return _apply_entries(entries, run_command, root, check_mode, backup, validate, services, run_services,
                              programs, which, on_refusal)
    finally:
        for e in entries:
            e.close()


def refusal_text(refused):
    """One line per refusal: 'user alice: left alone: ~/.config is a symbolic link (for /home/alice/...)'."""
    return "; ".join("%s%s (for %s)" % ("user %s: " % r["user"] if r["user"] else "", r["reason"], r["path"])
                     for r in refused)


REFUSAL_FIX = ("Fix: make each of them a real directory or file that belongs to that user (no symbolic link, "
               "no file where a directory belongs, no directory of another user), or set on_refusal=skip to "
               "leave those users alone and write the others")


def _leave_alone(entries):
    """A refusal leaves every file of the same user alone (a user's files are one unit); others go on."""
    refused = []
    reasons = {}
    for e in entries:
        if e.refusal is not None and e.left_alone is None:
            reason = e.describe_refusal(e.refusal)
            reasons.setdefault(e.group_key, reason)
            refused.append({"path": e.path, "user": e.owner.name if e.owner is not None else None, "reason": reason})
    for e in entries:
        if e.group_key in reasons and e.left_alone is None:
            e.left_alone = e.describe_refusal(e.refusal) if e.refusal is not None else reasons[e.group_key]
    return refused


def _apply_entries(entries, run_command, root, check_mode, backup, validate, services, run_services, programs, which,
                   on_refusal):
    live = os.path.normpath(root) == "/"

    # 1. look (one child per user whose directories hold files), and check everything before any write
    for e in entries:
        e.locate()
    for owner, group in by_owner([e for e in entries if e.refusal is None]):
        for e, outcome in zip(group, run_each(owner, [e.look_call() for e in group])):
            e.take_look(outcome)
    for e in entries:
        e.check_writable()
    refused = _leave_alone(entries)
    if refused and on_refusal == "fail":
        raise ApplyError("%s. Nothing was written. %s" % (refusal_text(refused), REFUSAL_FIX))

    changed = [e for e in entries if e.changed and not e.left_alone]
    post_needed = [e for e in entries if not e.left_alone and e.needs_post()]
    validators = []
    for v in (validate or []):
        argv = v["argv"] if isinstance(v, dict) else v
        validators.append(Step("validator", [expand_dest(a, "", root) for a in argv], None,
                               bool(isinstance(v, dict) and v.get("tty"))))
    wanted_services = [svc for svc in (services or []) if run_services] if live else []
    located, missing = locate_programs(post_needed, validators if live else [], wanted_services, programs, which)
    if missing and live and (changed or post_needed) and not check_mode:
        raise ApplyError(missing_message(missing, programs))
    result = {
        "changed": bool(changed or post_needed),
        "files": [e.result() for e in entries],
        "changed_files": [e.path for e in changed],
        "diff": [e.diff() for e in changed],
        "post_steps": [],
        "validated": False,
        "services": [],
        "skipped_steps": [],
        "warnings": [],
        "refused": refused,
    }
    if check_mode:
        result["post_steps"] = [" ".join(a) for e in post_needed for a in e.post]
        if missing and live and (changed or post_needed):
            # in check mode a package task before this one only pretended to install it
            result["warnings"].append("check mode: " + missing_message(missing, programs).replace(
                "; nothing was written", "; the real run fails here unless it is installed first"))
        return result
    if not (changed or post_needed):
        return result

    # 2. write, one child per user; a refusal met now (the user changed their directory meanwhile) restores
    #    that user's files and leaves the others written
    applied = []
    for owner, group in by_owner(changed):
        outcomes = run_each(owner, [e.write_call(backup) for e in group], stop_at_failure=True)
        for e, (kind, value) in zip(group, outcomes):
            if kind == "skipped":
                continue
            applied.append(e)
            if kind == "ok":
                e.took_write(value)
            elif kind == "refused":
                e.refusal = value
                if on_refusal == "fail":
                    problems = _rollback(applied, run_command)
                    raise ApplyError("%s; every file of this call was restored%s. %s" % (
                        e.describe_refusal(value), _problems(problems), REFUSAL_FIX), rolled_back=True)
                _rollback([a for a in applied if a.group_key == e.group_key], run_command)
                applied = [a for a in applied if a.group_key != e.group_key]
                refused.extend(_leave_alone(entries))
            else:
                problems = _rollback(applied, run_command)
                raise ApplyError("writing %s failed: %s; every file of this call was restored%s"
                                 % (e.path, value, _problems(problems)), rolled_back=True)
    changed = [e for e in changed if not e.left_alone]
    post_needed = [e for e in post_needed if not e.left_alone]
    result.update(changed=bool(changed or post_needed), files=[e.result() for e in entries],
                  changed_files=[e.path for e in changed], diff=[e.diff() for e in changed])

    # 3. post steps (postmap ...) and validators; any failure rolls everything back
    steps = [Step("post step", argv, e, False) for e in post_needed for argv in e.post] + validators
    for step in steps:
        kind, argv = step.kind, step.argv
        if kind == "validator" and not live:
            result["skipped_steps"].append("validator %s (root is %s)" % (" ".join(argv), root))
            continue
        if argv[0] not in located:
            # only under an image root: a live system failed before writing (above)
            result["skipped_steps"].append("%s %s (%s is not installed on this host)" % (kind, " ".join(argv), argv[0]))
            result["warnings"].append(image_skip_warning(step.entry, argv, root, programs))
            continue
        shown, argv = argv, [located[argv[0]]] + list(argv[1:])
        if step.tty:
            rc, out = run_with_tty(argv)
        else:
            rc, out = run_program(run_command, argv)
        argv = shown
        if rc != 0:
            problems = _rollback(applied, run_command)
            raise ApplyError("%s '%s' failed (rc=%d); every file of this call was restored to its "
                             "previous state%s:\n%s" % (kind, " ".join(argv), rc, _problems(problems), out),
                             output=out, rolled_back=True)
        if kind == "post step":
            result["post_steps"].append(" ".join(argv))
        else:
            result["validated"] = True

    # 4. services (reload, never restart); only on the live system
    for svc in (services or []):
        name = svc.get("name")
        if not run_services:
            continue
        if not live:
            result["skipped_steps"].append("service %s (root is %s)" % (name, root))
            continue
        status = svc.get("status")
        if status:
            rc, _out = run_program(run_command, [located.get(status[0], status[0])] + list(status[1:]))
            if rc != 0:
                result["skipped_steps"].append("service %s (not running)" % name)
                continue
        reload_argv = svc["reload"]
        rc, out = run_program(run_command, [located.get(reload_argv[0], reload_argv[0])] + list(reload_argv[1:]))
        if rc != 0:
            raise ApplyError("the new configuration is in place but reloading %s failed (rc=%d):\n%s"
                             % (name, rc, out), output=out)
        result["services"].append(name)
    return result


def _problems(problems):
    return "" if not problems else " (except: %s)" % "; ".join(problems)


def _rollback(applied, run_command):
    problems = []
    for owner, group in by_owner(list(reversed(applied))):
        for kind, value in run_each(owner, [e.restore_call() for e in group]):
            if kind == "ok":
                problems.extend(value)
            elif kind != "skipped":
                problems.append(str(value))
    for e in applied:
        if e.old_stat is not None and e.post:
            for argv in e.post:
                rc, out = run_program(run_command, argv)
                if rc not in (0, 127):
                    problems.append("%s: %s" % (" ".join(argv), out))
    return problems
