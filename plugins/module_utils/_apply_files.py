# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One file of a mail_config plan: its checks before anything is written, its look at the host, its write (with a
private backup), and its restore when the call is rolled back; plus the failure type of the write path.

Standard library only (runs on the managed host).  ``_apply`` applies a plan's files as one unit with these.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import grp
import hashlib
import os
import pwd

from ansible_collections.mailfleet.outlook.plugins.module_utils._refusal import Refused
from ansible_collections.mailfleet.outlook.plugins.module_utils._safe_fs import group_name, locate, user_name
from ansible_collections.mailfleet.outlook.plugins.module_utils._safe_fs_ops import (
    op_chattr, op_exists, op_look, op_remove, op_remove_dirs, op_write)


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


def expand_dest(arg, dest, root):
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


def by_owner(entries):
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


class FileEntry(object):
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
        self.post = [[expand_dest(a, self.dest, root) for a in argv] for argv in (spec.get("post") or [])]
        self.creates = [expand_dest(p, self.dest, root) for p in (spec.get("creates") or [])]
        self.remove_with = [expand_dest(p, self.dest, root) for p in (spec.get("remove_with") or [])]
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
