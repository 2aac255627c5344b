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

import grp
import hashlib
import os
import pwd
import select
import subprocess
import time

from ansible_collections.mailfleet.outlook.plugins.module_utils._safe_fs import (
    Refused, group_name, locate, op_chattr, op_exists, op_look, op_remove, op_remove_dirs, op_write, run_each, user_name)

try:
    import pty
except ImportError:  # pragma: no cover - not on Linux
    pty = None


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


class ApplyError(Exception):
    """A failure with a message meant for the user, plus optional command output."""

    def __init__(self, msg, output=None, rolled_back=False):
        super(ApplyError, self).__init__(msg)
        self.msg = msg
        self.output = output
        self.rolled_back = rolled_back


def redact(data, changed=False):
    """The text shown instead of a secret file's content: its size, and whether it changed (never a hash:
    a hash of a short secret is a way to guess it)."""
    if data is None:
        return ""
    return "<redacted: %d bytes%s>\n" % (len(data), ", changed" if changed else "")


def under_root(root, path):
    """Join an absolute target path under ``root`` ("/" means the live system)."""
    if not path.startswith("/"):
        raise ApplyError("path %r must be absolute" % path)
    if root in (None, "", "/"):
        return os.path.normpath(path)
    return os.path.normpath(os.path.join(root, path.lstrip("/")))


def _expand(arg, dest, root):
    """Fill the target-side placeholders: {dest} (written path), {destdir} (its directory), {root}."""
    return (arg.replace("{destdir}", os.path.dirname(dest)).replace("{dest}", dest)
            .replace("{root}", root or "/"))


def _mode_int(mode):
    if mode is None:
        return None
    if isinstance(mode, int):
        return mode
    try:
        return int(str(mode), 8)
    except ValueError:
        raise ApplyError("mode %r is not an octal mode such as '0644'" % (mode,))


def _uid(owner):
    if owner is None:
        return None
    if isinstance(owner, int) or str(owner).isdigit():
        return int(owner)
    try:
        return pwd.getpwnam(owner).pw_uid
    except KeyError:
        raise ApplyError("owner %r does not exist on this host" % owner)


def _gid(group):
    if group is None:
        return None
    if isinstance(group, int) or str(group).isdigit():
        return int(group)
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        raise ApplyError("group %r does not exist on this host" % group)


class _Stat(object):
    """Mode and owner of a file as found (from the descriptor it was read through)."""

    def __init__(self, info):
        self.mode = info["mode"]
        self.uid = info["uid"]
        self.gid = info["gid"]


def _path_exists(path):
    """lexists() for a target-side path, through the same descriptor walk (a link is not followed)."""
    try:
        place = locate(path)
    except Refused:
        return False
    try:
        return place.run(op_exists)
    finally:
        place.close()


def _remove_path(path):
    place = locate(path)
    try:
        return place.run(op_remove)
    finally:
        place.close()


def _remove_file(place, exists, extra):
    """state=absent: unlink the file (never what a link there points to) and its outputs."""
    if exists:
        op_remove(place)
    for p in extra:
        _remove_path(p)


def _restore_file(place, old, creates, created_dirs):
    """Put a file back as it was (``old``: content, mode, uid, gid; None: it did not exist); best effort."""
    problems = []
    try:
        if old is None:
            op_remove(place)
            for p in creates:
                _remove_path(p)
        else:
            op_write(place, *old)
        if created_dirs:
            op_remove_dirs(place, created_dirs)
    except (IOError, OSError, Refused) as e:
        problems.append("%s: %s" % (place.dest, e))
    return problems


def _by_owner(entries):
    """Entries grouped by the user who controls their directory (None: root), in order of appearance."""
    groups = []
    index = {}
    for e in entries:
        key = e.group_key
        if key not in index:
            index[key] = len(groups)
            groups.append((e.owner, []))
        groups[index[key]][1].append(e)
    return groups


class _Entry(object):
    """One file of the plan, with what is on disk now."""

    def __init__(self, spec, root):
        self.spec = spec
        self.path = spec["path"]
        self.root = root
        self.dest = under_root(root, self.path)
        self.state = spec.get("state") or "present"
        content = spec.get("content")
        if self.state == "present" and content is None:
            raise ApplyError("%s: no content given" % self.path)
        self.new = None if content is None else content.encode("utf-8")
        self.secret = bool(spec.get("secret"))
        self.mode = _mode_int(spec.get("mode"))
        dir_mode = _mode_int(spec.get("dir_mode"))
        self.dir_mode = 0o755 if dir_mode is None else dir_mode
        self.uid = _uid(spec.get("owner"))
        self.gid = _gid(spec.get("group"))
        self.post = [[_expand(a, self.dest, root) for a in argv] for argv in (spec.get("post") or [])]
        self.creates = [_expand(p, self.dest, root) for p in (spec.get("creates") or [])]
        self.remove_with = [_expand(p, self.dest, root) for p in (spec.get("remove_with") or [])]
        self.place = None
        self.owner = None        # the Identity that controls the file's directory (None: root does)
        self.refusal = None      # a Refused found while looking
        self.left_alone = None   # the reason this file is not written (a refusal of this user's files)
        self.writable = True
        self.writable_dir = None
        self.old = None
        self.old_stat = None
        self.content_changed = False
        self.attrs_changed = False
        self.removed_extra = []
        self.backup_file = None
        self.created_dirs = []

    # -- inspection -------------------------------------------------------------------------
    @property
    def group_key(self):
        return None if self.owner is None else self.owner.uid

    def describe_refusal(self, refusal):
        return refusal.describe(self.owner.home if self.owner is not None else None)

    def locate(self):
        """Find the way to the file (no link followed that root did not place) and who controls it."""
        try:
            self.place = locate(self.path, self.root)
        except Refused as e:
            self.refusal = e
            return
        except OSError as e:
            raise ApplyError("%s: cannot look at it: %s" % (self.path, e.strerror))
        self.owner = self.place.owner
        self.dest = self.place.dest
        if self.owner is not None:
            if self.post or self.creates or self.remove_with:
                raise ApplyError("%s: post steps and map files cannot be used in %s, a directory user %s controls"
                                 % (self.path, self.place.path, self.owner.name))
            self.refusal = self._owner_refusal()

    def look_call(self):
        return (op_look, (self.place,), {})

    def take_look(self, outcome):
        """What op_look found (run as the directory's user): the old content, mode and owner."""
        kind, info = outcome
        if kind == "refused":
            self.refusal = info
            return
        if kind == "oserror":
            raise ApplyError("%s: cannot look at it: %s" % (self.dest, info.strerror))
        self.writable = info["writable"]
        self.writable_dir = info.get("dir")
        st = _Stat(info) if info["exists"] else None
        self.old_stat = st
        if st is not None:
            self.old = info["content"]

        if self.state == "absent":
            self.content_changed = st is not None
            self.removed_extra = [p for p in self.remove_with if _path_exists(p)]
            return
        self.content_changed = self.old != self.new
        if st is not None and not self.content_changed:
            want_mode = self.mode if self.mode is not None else st.mode
            want_uid = self.uid if self.uid is not None else st.uid
            want_gid = self.gid if self.gid is not None else st.gid
            self.attrs_changed = (st.mode != want_mode or st.uid != want_uid or st.gid != want_gid)

    def _owner_refusal(self):
        """Inside a directory another user controls, files are written as that user: refuse other owners."""
        who = self.owner
        if self.uid is not None and self.uid != who.uid:
            return Refused(self.place.path, "belongs to %s: a file there can only be written as %s, not with owner %s"
                           % (who.name, who.name, user_name(self.uid)))
        if self.gid is not None and self.gid not in who.groups:
            return Refused(self.place.path, "belongs to %s, who is not a member of group %s asked for %s"
                           % (who.name, group_name(self.gid), self.path))
        return None

    def check_writable(self):
        """Fail now (before any write) if the file could not be written or removed."""
        if self.refusal is not None or not (self.changed or self.needs_post()):
            return
        if not self.writable:
            if self.owner is not None:
                self.refusal = Refused(self.writable_dir, "is not writable by %s" % self.owner.name)
                return
            raise ApplyError("%s: directory %s is not writable" % (self.path, self.writable_dir))
        if self.uid is not None and os.geteuid() != 0 and self.uid != os.geteuid():
            raise ApplyError("%s: owner %r needs root" % (self.path, self.spec.get("owner")))

    @property
    def changed(self):
        return self.content_changed or self.attrs_changed or bool(self.removed_extra)

    def needs_post(self):
        if self.state != "present" or not self.post:
            return False
        if self.content_changed:
            return True
        return any(not _path_exists(p) for p in self.creates)

    # -- reporting ----------------------------------------------------------------------------
    def diff(self):
        before = self.old
        after = self.new if self.state == "present" else None
        if self.secret:
            b_text = redact(before) if before is not None else ""
            a_text = redact(after, changed=self.content_changed and before is not None) if after is not None else ""
        else:
            b_text = before.decode("utf-8", "replace") if before is not None else ""
            a_text = after.decode("utf-8", "replace") if after is not None else ""
        d = {"before_header": self.path if before is not None else "%s (absent)" % self.path,
             "after_header": self.path if after is not None else "%s (absent)" % self.path,
             "before": b_text, "after": a_text}
        if self.attrs_changed and not self.content_changed:
            st = self.old_stat
            d["before_header"] += " (mode %04o uid %d gid %d)" % (st.mode, st.uid, st.gid)
            d["after_header"] += " (mode %s uid %s gid %s)" % (
                "%04o" % self.mode if self.mode is not None else "unchanged",
                self.uid if self.uid is not None else "unchanged",
                self.gid if self.gid is not None else "unchanged")
        return d

    def result(self):
        r = {"path": self.path, "dest": self.dest, "state": self.state, "secret": self.secret,
             "changed": self.changed and not self.left_alone, "content_changed": self.content_changed,
             "attributes_changed": self.attrs_changed}
        if self.state == "present":
            r["size"] = len(self.new)
            if not self.secret:  # a hash of a secret is a way to guess it: size and "changed" only
                r["sha256"] = hashlib.sha256(self.new).hexdigest()
        if self.owner is not None:
            r["written_as"] = self.owner.name
        if self.left_alone:
            r["left_alone"] = self.left_alone
        if self.backup_file:
            r["backup_file"] = self.backup_file
        return r

    # -- writing ------------------------------------------------------------------------------
    def write_call(self, backup=False):
        """The call that writes (or removes, or re-moded) this file, for run_each."""
        if self.state == "absent":
            return (_remove_file, (self.place, self.old_stat is not None, self.removed_extra), {})
        st = self.old_stat
        mode = self.mode if self.mode is not None else (st.mode if st else 0o644)
        uid = self.uid if self.uid is not None else (st.uid if st else None)
        gid = self.gid if self.gid is not None else (st.gid if st else None)
        if self.content_changed:
            return (op_write, (self.place, self.new, mode, uid, gid),
                    {"dir_mode": self.dir_mode, "backup": backup and self.old is not None})
        return (op_chattr, (self.place, mode, uid, gid), {})

    def took_write(self, value):
        if isinstance(value, dict):
            self.created_dirs = value["created"]
            self.backup_file = value["backup"]

    def restore_call(self):
        """The call that puts back what was there before (best effort: returns the problems it met)."""
        st = self.old_stat
        old = None if st is None else (self.old, st.mode, st.uid, st.gid)
        return (_restore_file, (self.place, old, self.creates, self.created_dirs), {})

    def close(self):
        if self.place is not None:
            self.place.close()


# Where Ansible's get_bin_path looks besides PATH: Postfix's commands live in /usr/sbin, often not on a user's PATH.
SBIN_DIRS = ("/sbin", "/usr/sbin", "/usr/local/sbin")


def find_program(name, search_path=None):
    """The absolute path of program ``name`` (PATH, then the sbin directories), or None when it is not installed."""
    if os.path.isabs(name):
        return name if os.path.isfile(name) and os.access(name, os.X_OK) else None
    dirs = [d for d in (search_path if search_path is not None else os.environ.get("PATH", os.defpath)).split(os.pathsep) if d]
    dirs += [d for d in SBIN_DIRS if d not in dirs]
    for d in dirs:
        candidate = os.path.join(d, name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def _package_of(programs, name):
    """The package that provides program ``name`` (from the format's ``programs``), or None."""
    return (programs or {}).get(os.path.basename(name))


def _run(run_command, argv):
    """Run argv; return (rc, combined output).  A missing program is rc 127."""
    try:
        rc, out, err = run_command(argv)
    except (OSError, IOError) as e:
        return 127, "%s: %s" % (argv[0], e)
    text = "\n".join(s.strip() for s in (out, err) if s and s.strip())
    return rc, text


def run_with_tty(argv, timeout=120):
    """Run argv with its stderr on a pseudo-terminal; return (rc, combined output).

    Postfix commands print their fatal errors to stderr only when it is a terminal (else only to the
    mail log, which may not exist), so validators such as ``postfix check`` run this way to report why.
    """
    if pty is None:
        return 127, "no pty support"
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave,
                                env=dict(os.environ, LC_ALL="C"), close_fds=True)
    except OSError as e:
        os.close(master)
        os.close(slave)
        return 127, "%s: %s" % (argv[0], e)
    os.close(slave)
    chunks = []
    deadline = time.time() + timeout
    fds = [master, proc.stdout.fileno()]
    while fds and time.time() < deadline:
        ready, _w, _x = select.select(fds, [], [], 0.2)
        for fd in ready:
            try:
                data = os.read(fd, 65536)
            except OSError:
                data = b""
            if not data:
                fds.remove(fd)
            else:
                chunks.append(data)
        if proc.poll() is not None and not ready:
            break
    if proc.poll() is None:
        proc.kill()
    rc = proc.wait()
    os.close(master)
    proc.stdout.close()
    text = b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n").strip()
    return rc, text


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
            e = _Entry(spec, root)
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
    for owner, group in _by_owner([e for e in entries if e.refusal is None]):
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
        tty = isinstance(v, dict) and v.get("tty")
        argv = v["argv"] if isinstance(v, dict) else v
        validators.append((tty, [_expand(a, "", root) for a in argv]))
    wanted_services = [svc for svc in (services or []) if run_services] if live else []
    located, missing = _locate_programs(post_needed, validators if live else [], wanted_services,
                                        programs, which)
    if missing and live and (changed or post_needed) and not check_mode:
        raise ApplyError(_missing_message(missing, programs))
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
            result["warnings"].append("check mode: " + _missing_message(missing, programs).replace(
                "; nothing was written", "; the real run fails here unless it is installed first"))
        return result
    if not (changed or post_needed):
        return result

    # 2. write, one child per user; a refusal met now (the user changed their directory meanwhile) restores
    #    that user's files and leaves the others written
    applied = []
    for owner, group in _by_owner(changed):
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
    steps = []
    for e in post_needed:
        for argv in e.post:
            steps.append(("post step", e, argv))
    for tty, argv in validators:
        steps.append(("validator", tty, argv))
    for kind, e, argv in steps:
        if kind == "validator" and not live:
            result["skipped_steps"].append("validator %s (root is %s)" % (" ".join(argv), root))
            continue
        if argv[0] not in located:
            # only under an image root: a live system failed before writing (above)
            result["skipped_steps"].append("%s %s (%s is not installed on this host)" % (kind, " ".join(argv), argv[0]))
            result["warnings"].append(_image_skip_warning(e, argv, root, programs))
            continue
        shown, argv = argv, [located[argv[0]]] + list(argv[1:])
        if kind == "validator" and e:
            rc, out = run_with_tty(argv)
        else:
            rc, out = _run(run_command, argv)
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
            rc, _out = _run(run_command, [located.get(status[0], status[0])] + list(status[1:]))
            if rc != 0:
                result["skipped_steps"].append("service %s (not running)" % name)
                continue
        reload_argv = svc["reload"]
        rc, out = _run(run_command, [located.get(reload_argv[0], reload_argv[0])] + list(reload_argv[1:]))
        if rc != 0:
            raise ApplyError("the new configuration is in place but reloading %s failed (rc=%d):\n%s"
                             % (name, rc, out), output=out)
        result["services"].append(name)
    return result


def _locate_programs(post_needed, validators, services, programs, which):
    """Look up every program the call will run; returns ({name: absolute path}, [missing names])."""
    names = []
    for e in post_needed:
        names.extend(argv[0] for argv in e.post)
    names.extend(argv[0] for _tty, argv in validators)
    for svc in services:
        names.extend(argv[0] for argv in (svc.get("status"), svc.get("reload")) if argv)
    located, missing = {}, []
    for name in names:
        if name in located or name in missing:
            continue
        path = which(name)
        if path:
            located[name] = path
        else:
            missing.append(name)
    return located, missing


def _missing_message(missing, programs):
    parts = []
    for name in missing:
        package = _package_of(programs, name)
        parts.append("%s (package %s)" % (name, package) if package else name)
    packages = sorted(set(p for p in (_package_of(programs, n) for n in missing) if p))
    return ("%s %s not installed on this host, and the new configuration needs %s; nothing was written. "
            "Fix: install %s first (the relay role does unless relay_install_packages is false), or write into "
            "an image directory instead of the live system (option root; the relay role's relay_root)"
            % (", ".join(parts), "is" if len(missing) == 1 else "are", "it" if len(missing) == 1 else "them",
               " and ".join(packages) if packages else "the missing program(s)"))


def _image_skip_warning(entry, argv, root, programs):
    package = _package_of(programs, argv[0])
    outputs = list(entry.creates) if entry is not None else []
    what = entry.path if entry is not None else "the configuration"
    hint = (entry.spec.get("post_hint") if entry is not None else None) or ""
    return ("%s is not installed on this build host%s: '%s' was skipped, so %s under %s was written but %s. "
            "Fix: run that step inside the image (for example at first boot, where %s is installed), or install "
            "%s on the build host%s"
            % (argv[0], " (package %s)" % package if package else "", " ".join(argv), what, root,
               "not compiled (%s missing)" % ", ".join("/" + os.path.relpath(p, root) for p in outputs) if outputs
               else "not processed",
               argv[0], package or argv[0], "; or " + hint if hint else ""))


def _problems(problems):
    return "" if not problems else " (except: %s)" % "; ".join(problems)


def _rollback(applied, run_command):
    problems = []
    for owner, group in _by_owner(list(reversed(applied))):
        for kind, value in run_each(owner, [e.restore_call() for e in group]):
            if kind == "ok":
                problems.extend(value)
            elif kind != "skipped":
                problems.append(str(value))
    for e in applied:
        if e.old_stat is not None and e.post:
            for argv in e.post:
                rc, out = _run(run_command, argv)
                if rc not in (0, 127):
                    problems.append("%s: %s" % (" ".join(argv), out))
    return problems
