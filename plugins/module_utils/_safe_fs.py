# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reach files without ever following a link that someone other than root could have placed.

Standard library only (runs on the managed host).  Used by the write path (``_apply.py``) and by the
client role's look at users' homes (``client_precheck`` module).

How a path is reached
---------------------
``locate(path, root)`` walks from ``/`` down, one component at a time, with ``openat(O_DIRECTORY |
O_NOFOLLOW)`` on the directory opened before: no step resolves a whole path.  While the directories belong
to root (or to the user running the module) the walk goes on in this process.  A symbolic link is followed
only when root placed it: it sits in a directory that only root can write (root-owned, not writable by
group or others), or it belongs to root in a root-owned sticky directory such as ``/tmp``; its target is
walked again by the same rules (absolute targets from ``root``, so an image root behaves like a chroot).
Any other link is a refusal (``Refused``: "... is a symbolic link").

The walk stops at the first directory that belongs to another user (a home directory, or a directory
such as ``/srv/www`` owned by a service user).  That directory *controls* the rest of the path: everything
below it -- looking, creating directories, writing, changing modes, backing up, renaming, removing --
runs in a forked child that has become that user (``setgroups`` + ``setresgid`` + ``setresuid``, then not
dumpable), starting from the directory descriptor it inherits, with the same descriptor discipline and
no link followed at all.  The kernel then enforces that nothing the user can arrange in their directory
(links, hard links, swapped entries, FIFOs) reaches anything that user could not already write.  Inside
such a directory every directory on the way must belong to that user, and files get that user as owner.

In directories root owns but others may write (group- or world-writable), the work stays in this
process, still only through descriptors: files are created with ``O_CREAT | O_EXCL | O_NOFOLLOW``,
modes and owners are set with ``fchmod``/``fchown`` on the opened file, renames are ``renameat`` inside
the opened directory, and a rename that did not move our own file (someone swapped it) is a refusal.

Refusals are ``Refused(path, problem)`` (``_refusal``); the caller decides whether a refusal fails the task or
leaves that user's files alone.

This module is the walk (``locate``, ``descend``, ``open_existing``, ``read_below``); the child processes that act as
a user are ``_as_user``; the operations on a reached place (look, write, back up, chmod/chown, remove) are
``_safe_fs_ops``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import grp
import os
import pwd
import stat

_PATH_FLAG = getattr(os, "O_PATH", os.O_RDONLY)
DIR_FLAGS = _PATH_FLAG | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_NOCTTY | os.O_CLOEXEC
MAX_LINKS = 40
USER_FILE_LIMIT = 16 << 20  # a file in a user's directory larger than this is not one we wrote: not read

from ansible_collections.mailfleet.outlook.plugins.module_utils._as_user import run_each
from ansible_collections.mailfleet.outlook.plugins.module_utils._refusal import Refused


def _join(base, name):
    return base.rstrip("/") + "/" + name if base != "/" else "/" + name


def user_name(uid):
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return "uid %d" % uid


def group_name(gid):
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return "gid %d" % gid


class Identity(object):
    """The user that controls a directory: the one the child process becomes."""

    def __init__(self, uid, fallback_gid):
        self.uid = uid
        try:
            pw = pwd.getpwuid(uid)
            self.name, self.gid, self.home = pw.pw_name, pw.pw_gid, pw.pw_dir
            self.groups = sorted(set(os.getgrouplist(pw.pw_name, pw.pw_gid)))
        except KeyError:
            self.name, self.gid, self.home = "uid %d" % uid, fallback_gid, None
            self.groups = [fallback_gid]

    def __repr__(self):
        return "Identity(%s)" % self.name


def trusted_uids():
    return (0, os.geteuid())


def dir_is_trusted(st):
    """Only root (or the user running us) can change the entries of this directory."""
    return st.st_uid in trusted_uids() and not st.st_mode & 0o022


def _link_is_roots(dir_st, link_st):
    if dir_is_trusted(dir_st):
        return True
    return bool(dir_st.st_mode & stat.S_ISVTX) and dir_st.st_uid in trusted_uids() and link_st.st_uid in trusted_uids()


class Place(object):
    """Where a path leads: the opened directory ``fd`` (``path``), the components left to walk (``rest``,
    the last one is the file's name) and the user who controls ``fd`` (``owner``, None: this process)."""

    def __init__(self, fd, path, rest, owner):
        self.fd = fd
        self.path = path
        self.rest = list(rest)
        self.owner = owner

    @property
    def dest(self):
        out = self.path
        for name in self.rest:
            out = _join(out, name)
        return out

    def run(self, func, *args, **kwargs):
        """Run ``func(place, *args, **kwargs)`` as the user who controls the place (a child process), or here
        (see ``run_each``); returns its result or raises its Refused / OSError."""
        kind, value = run_each(self.owner, [(func, (self,) + args, kwargs)])[0]
        if kind == "ok":
            return value
        raise value

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def _components(path):
    return [p for p in path.split("/") if p not in ("", ".")]


def locate(path, root="/", directory=False):
    """Walk to ``path`` (absolute; under ``root``) and return a ``Place``.  Raises ``Refused``.

    With ``directory``, ``path`` is a directory to look into: the Place is that directory itself (empty
    ``rest``) when root controls the whole way, else the directory where the walk stopped."""
    if not path.startswith("/"):
        raise ValueError("%r is not absolute" % path)
    top = os.open("/", DIR_FLAGS)
    try:
        place = _walk(top, "/", _components(root or "/"), (top, "/"), final_is_dir=True)
        if place.rest or place.owner is not None:
            place.rest.extend(_components(path))
            return place
        inner = place.fd
        try:
            return _walk(inner, place.path, _components(path), (inner, place.path), final_is_dir=directory)
        finally:
            os.close(inner)
    finally:
        os.close(top)


def _walk(start_fd, start_path, comps, top, final_is_dir=False):
    """The walk of ``locate``; returns a Place whose fd is a new descriptor (the caller's are kept)."""
    stack = [(os.dup(start_fd), start_path, os.fstat(start_fd))]
    todo = list(comps)
    links = 0
    try:
        while todo:
            name = todo.pop(0)
            cur_fd, cur_path, cur_st = stack[-1]
            if name == "..":
                if len(stack) > 1:
                    os.close(stack.pop()[0])
                continue
            here = _join(cur_path, name)
            try:
                st = os.stat(name, dir_fd=cur_fd, follow_symlinks=False)
            except OSError as e:
                if e.errno != errno.ENOENT:
                    raise Refused(here, "cannot be looked at: %s" % e.strerror)
                return _place_from(stack, [name] + todo, None)
            if stat.S_ISLNK(st.st_mode):
                if not _link_is_roots(cur_st, st):
                    raise Refused(here, "is a symbolic link")
                links += 1
                if links > MAX_LINKS:
                    raise Refused(here, "has too many levels of symbolic links")
                target = os.readlink(name, dir_fd=cur_fd)
                if target.startswith("/"):
                    while len(stack) > 1:
                        os.close(stack.pop()[0])
                    os.close(stack.pop()[0])
                    stack.append((os.dup(top[0]), top[1], os.fstat(top[0])))
                todo = _components(target) + todo
                continue
            if not todo and not final_is_dir:
                return _place_from(stack, [name], None)
            if not stat.S_ISDIR(st.st_mode):
                raise Refused(here, "is not a directory")
            nfd = open_dir(cur_fd, name, here)
            nst = os.fstat(nfd)
            stack.append((nfd, here, nst))
            if os.geteuid() == 0 and nst.st_uid not in trusted_uids():
                return _place_from(stack, todo, Identity(nst.st_uid, nst.st_gid))
        return _place_from(stack, [], None)
    finally:
        for fd, _path, _st in stack:
            if fd is not None:
                os.close(fd)


def _place_from(stack, rest, owner):
    fd, path, _st = stack[-1]
    if ".." in rest:
        raise Refused(_join(path, rest[0]), "does not exist (a symbolic link leads through it)")
    stack[-1] = (None, path, _st)
    return Place(fd, path, rest, owner)


def open_dir(dir_fd, name, path):
    """openat(O_DIRECTORY | O_NOFOLLOW) with refusals that name the problem."""
    try:
        return os.open(name, DIR_FLAGS, dir_fd=dir_fd)
    except OSError as e:
        if e.errno in (errno.ENOTDIR, errno.ELOOP):
            try:
                st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
                if stat.S_ISLNK(st.st_mode):
                    raise Refused(path, "is a symbolic link")
            except OSError:
                pass
            raise Refused(path, "is not a directory")
        raise


# ------------------------------------------------------------------------------------------------
# Operations on a Place (run as its owner by Place.run)

def _allowed_uids(place):
    return (place.owner.uid,) if place.owner is not None else trusted_uids()


def _check_owner(place, path, st):
    allowed = _allowed_uids(place)
    if st.st_uid not in allowed:
        who = place.owner.name if place.owner is not None else "root"
        raise Refused(path, "belongs to %s, not %s" % (user_name(st.st_uid), who))


def descend(place, dirs, create=False, dir_mode=0o755, created=None):
    """Open ``dirs`` below ``place.fd`` one by one (no link followed).  Returns ``(fd, path, missing)``: the
    last directory opened and, when one is missing (without ``create``), the path of the first missing one
    (``fd`` is then the deepest existing directory).  With ``create``, missing directories are made (0700
    until opened, then ``dir_mode``) and their components appended to ``created``."""
    fd, path = os.dup(place.fd), place.path
    try:
        for i, name in enumerate(dirs):
            here = _join(path, name)
            try:
                nfd = open_dir(fd, name, here)
            except OSError as e:
                if e.errno != errno.ENOENT:
                    raise
                if not create:
                    return fd, path, here
                nfd, made = _make_dir(place, fd, path, name, dir_mode)
                if made and created is not None:
                    created.append(list(dirs[:i + 1]))
            try:
                _check_owner(place, here, os.fstat(nfd))
            except Refused:
                os.close(nfd)
                raise
            os.close(fd)
            fd, path = nfd, here
        return fd, path, None
    except BaseException:
        os.close(fd)
        raise


def _make_dir(place, fd, path, name, dir_mode):
    """mkdirat 0700, open it (no link followed), check it is ours, then fchmod to ``dir_mode``.
    Returns (fd, whether this call made it)."""
    here = _join(path, name)
    made = True
    try:
        os.mkdir(name, 0o700, dir_fd=fd)
    except OSError as e:
        if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise Refused(path, "is not writable%s: %s" % (_by(place), e.strerror))
        if e.errno != errno.EEXIST:
            raise
        made = False  # made meanwhile (by an earlier file of this call, or by the user): checked below
    try:
        nfd = open_dir(fd, name, here)
    except OSError as e:
        if e.errno == errno.ENOENT:
            raise Refused(here, "was replaced by another user while being created")
        raise
    nst = os.fstat(nfd)
    if nst.st_uid != os.geteuid():
        os.close(nfd)
        raise Refused(here, "was replaced by another user while being created")
    if not made:
        return nfd, False
    try:
        rfd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
        try:
            if os.fstat(rfd).st_ino == nst.st_ino:
                os.fchmod(rfd, dir_mode)
        finally:
            os.close(rfd)
    except BaseException:
        os.close(nfd)
        raise
    return nfd, True


def _by(place):
    return " by %s" % place.owner.name if place.owner is not None else ""


def open_existing(place, dfd, dpath, name, trusted):
    """Open the file ``name`` of directory ``dfd`` for reading; None when missing.  Refuses links, non-regular
    files, files of another user (inside a user's directory) and hard-linked files in shared directories."""
    path = _join(dpath, name)
    try:
        fd = os.open(name, READ_FLAGS, dir_fd=dfd)
    except OSError as e:
        if e.errno == errno.ENOENT:
            return None, None
        if e.errno == errno.ELOOP:
            raise Refused(path, "is a symbolic link")
        if e.errno in (errno.EACCES, errno.EPERM):
            raise Refused(path, "cannot be read%s: %s" % (_by(place), e.strerror))
        if e.errno in (errno.ENXIO, errno.EISDIR, errno.ENODEV, errno.EOPNOTSUPP):
            raise Refused(path, "is not a regular file")
        raise
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise Refused(path, "is not a regular file")
    if place.owner is not None:
        try:
            _check_owner(place, path, st)
            if st.st_size > USER_FILE_LIMIT:
                raise Refused(path, "is larger than %d MiB" % (USER_FILE_LIMIT >> 20))
        except Refused:
            os.close(fd)
            raise
    elif not trusted and st.st_nlink > 1:
        os.close(fd)
        raise Refused(path, "has other hard links (in a directory others can write)")
    return fd, st


def _read_all(fd, limit=None):
    chunks = []
    size = 0
    while limit is None or size < limit:
        data = os.read(fd, 1 << 16 if limit is None else min(1 << 16, limit - size))
        if not data:
            break
        chunks.append(data)
        size += len(data)
    return b"".join(chunks)


def read_below(place, rel, limit=None):
    """Content of ``rel`` (a relative path below the place's directory), or None when it (or a directory
    on its way) does not exist.  Raises Refused for a link, a non-directory parent, a non-regular file..."""
    parts = _components(rel)
    dfd, dpath, missing = descend(place, place.rest + parts[:-1])
    try:
        if missing:
            return None
        fd, _st = open_existing(place, dfd, dpath, parts[-1], dir_is_trusted(os.fstat(dfd)))
        if fd is None:
            return None
        try:
            return _read_all(fd, limit)
        finally:
            os.close(fd)
    finally:
        os.close(dfd)
