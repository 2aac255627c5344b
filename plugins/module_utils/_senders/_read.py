# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bounded, read-only file access for discovery: no link is followed that another user could have placed.

* Every file is opened with ``O_NOFOLLOW | O_NONBLOCK`` through the descriptor of its directory (a FIFO, a device,
  a link, a directory in place of a file is refused, never waited on), checked with ``fstat`` (a regular file, not
  larger than the size limit), read up to that limit, and refused when it holds NUL bytes (binary).
* Directories are walked one component at a time with ``O_DIRECTORY | O_NOFOLLOW``. A symbolic link on the way to a
  file is followed only when the directory holding it belongs to root and nobody else can write to it (so only root
  could have placed it, e.g. ``/home -> /srv/home``); every other link is refused and reported.
* Inside a user's home, files are read only when they belong to that user (a hard link to someone else's file is
  not read), and no link at all is followed.
* Everything that could not be read is recorded (``unreadable``: path and reason) and every limit is enforced:
  file size, number of files, bytes, and the deadline of the whole discovery.

Paths are host paths (``/etc/msmtprc``); with ``root`` set they are looked up under that directory (an image, a
container root), and reported as the host sees them.

Standard library only: shipped to targets with mail_senders_facts.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import stat
import threading
import time

_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | _O_CLOEXEC
_O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | _O_CLOEXEC
_MAX_LINK_HOPS = 40

DEFAULT_LIMITS = {
    "timeout": 20.0,            # seconds for the whole discovery
    "max_file_size": 1 << 20,   # bytes per file
    "max_files": 20000,         # files the mention scan opens
    "max_bytes": 64 << 20,      # bytes the mention scan reads
    "max_depth": 6,             # directory levels the mention scan descends
    "max_results": 200,         # findings, mentions and unreadable entries kept (each)
}


class Timeout(Exception):
    """The discovery's deadline passed."""


class Unreadable(Exception):
    """Could not be read; ``link``: the path of the symbolic link that was refused, if that was the reason."""

    def __init__(self, reason, link=None):
        super(Unreadable, self).__init__(reason)
        self.reason = reason
        self.link = link


def _kind(mode):
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISLNK, "a symbolic link")):
        if test(mode):
            return name
    return "not a regular file"


def _trusted_dir(st):
    """A directory whose entries only root can have placed."""
    return st.st_uid == 0 and not (st.st_mode & (stat.S_IWGRP | stat.S_IWOTH))


class Deadline:
    def __init__(self, seconds):
        self.seconds = float(seconds)
        self.end = time.monotonic() + self.seconds

    def remaining(self):
        return max(0.0, self.end - time.monotonic())

    def expired(self):
        return time.monotonic() >= self.end

    def check(self):
        if self.expired():
            raise Timeout()


def split_path(path):
    """'/etc/postfix/main.cf' -> ['etc', 'postfix', 'main.cf'] (lexically normalised, '..' never above /)."""
    parts = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    return parts


class Reader:
    """File access for one discovery run; collects what it could not read."""

    def __init__(self, root="/", limits=None, deadline=None, exclude=()):
        self.root = os.path.abspath(root or "/")
        self.exclude = tuple(p.rstrip("/") for p in exclude or () if p and p != "/")
        self.limits = dict(DEFAULT_LIMITS)
        self.limits.update(dict((k, v) for k, v in (limits or {}).items() if v is not None))
        self.deadline = deadline or Deadline(self.limits["timeout"])
        self.lock = threading.Lock()
        self.unreadable = []
        self.unreadable_dropped = 0
        self.links = []
        self.current = None     # the path being read (reported when the deadline strikes)
        self.seen = set()       # host paths read by a parser (the mention scan skips them)
        self._passwd = None
        self._groups = None

    def excluded(self, path):
        """Under one of the paths the caller asked not to read."""
        return any(path == p or path.startswith(p + "/") for p in self.exclude)

    # ------------------------------------------------------------------ reporting
    def note(self, path, reason, line=None):
        entry = {"path": path, "reason": reason}
        if line:
            entry["line"] = line
        with self.lock:
            if len(self.unreadable) < self.limits["max_results"]:
                if entry not in self.unreadable:
                    self.unreadable.append(entry)
            else:
                self.unreadable_dropped += 1

    def note_link(self, path):
        with self.lock:
            if path not in self.links and len(self.links) < self.limits["max_results"]:
                self.links.append(path)

    def refused(self, path, err):
        """Record why ``path`` was not read (and the link that was refused, if any)."""
        if err.link:
            self.note_link(err.link)
        self.note(path, err.reason)

    # ------------------------------------------------------------------ directories
    def open_dir(self, path, trusted_links=True):
        """Open the directory at host path ``path``; return an fd, or raise Unreadable / OSError(ENOENT)."""
        todo = split_path(path)
        done = []
        hops = 0
        fd = os.open(self.root, _O_DIR)
        try:
            while todo:
                name = todo.pop(0)
                try:
                    nfd = os.open(name, _O_DIR, dir_fd=fd)
                except OSError as err:
                    if err.errno not in (errno.ELOOP, errno.ENOTDIR):
                        raise
                    st = os.lstat(name, dir_fd=fd)
                    where = "/" + "/".join(done + [name])
                    if not stat.S_ISLNK(st.st_mode):
                        raise Unreadable("%s is %s, not a directory" % (where, _kind(st.st_mode)))
                    if not trusted_links or not _trusted_dir(os.fstat(fd)):
                        raise Unreadable("%s is a symbolic link that a user other than root could have placed: not followed"
                                         % where, link=where)
                    hops += 1
                    if hops > _MAX_LINK_HOPS:
                        raise Unreadable("%s: too many levels of symbolic links" % where)
                    target = os.readlink(name, dir_fd=fd)
                    base = [] if target.startswith("/") else list(done)
                    todo = split_path("/".join(base) + "/" + target) + todo
                    done = []
                    os.close(fd)
                    fd = os.open(self.root, _O_DIR)
                    continue
                os.close(fd)
                fd = nfd
                done.append(name)
            return fd
        except BaseException:
            os.close(fd)
            raise

    # ------------------------------------------------------------------ files
    def _read_fd(self, fd, path, limit):
        chunks = []
        size = 0
        while True:
            self.deadline.check()
            chunk = os.read(fd, min(65536, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise Unreadable("larger than %d bytes (the size limit): not read" % limit)
        return b"".join(chunks)

    def read_at(self, dir_fd, name, path, owner=None, limit=None):
        """Read ``name`` in the open directory ``dir_fd``. Return (text, stat) or raise Unreadable / OSError(ENOENT)."""
        self.deadline.check()
        limit = limit or self.limits["max_file_size"]
        try:
            fd = os.open(name, _O_FILE, dir_fd=dir_fd)
        except OSError as err:
            if err.errno == errno.ELOOP:
                raise Unreadable("a symbolic link: not followed", link=path)
            if err.errno in (errno.EACCES, errno.EPERM):
                raise Unreadable("permission denied")
            if err.errno == errno.ENXIO:
                raise Unreadable("a socket or device: not read")
            raise
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise Unreadable("%s, not a regular file: not read" % _kind(st.st_mode))
            if owner is not None and st.st_uid != owner:
                raise Unreadable("belongs to uid %d, not to the home's owner (uid %d): not read" % (st.st_uid, owner))
            if st.st_size > limit:
                raise Unreadable("%d bytes, larger than the size limit (%d): not read" % (st.st_size, limit))
            self.current = path
            try:
                data = self._read_fd(fd, path, limit)
            except OSError as err:
                raise Unreadable("read error: %s" % os.strerror(err.errno))
            finally:
                self.current = None
        finally:
            os.close(fd)
        if b"\0" in data:
            raise Unreadable("binary (NUL bytes): not read")
        return data.decode("utf-8", "replace"), st

    @staticmethod
    def _os_reason(err):
        if err.errno in (errno.EACCES, errno.EPERM):
            return "permission denied"
        return os.strerror(err.errno) if err.errno else str(err)

    def read(self, path, owner=None, home=None, quiet_missing=True):
        """Text of the file at host path ``path``, or None (missing: nothing recorded; unreadable: recorded).

        ``home``: the home directory the file lies in; links inside it are never followed and the file must belong
        to ``owner``.
        """
        if self.excluded(path):
            return None
        parent, name = path.rsplit("/", 1)
        fd = None
        try:
            fd = self.open_dir_within(parent or "/", home)
            text, unused_st = self.read_at(fd, name, path, owner=owner)
        except Unreadable as err:
            self.refused(path, err)
            return None
        except OSError as err:
            if err.errno in (errno.ENOENT, errno.ENOTDIR) and quiet_missing:
                return None
            self.note(path, self._os_reason(err))
            return None
        finally:
            if fd is not None:
                os.close(fd)
        self.seen.add(path)
        return text

    def open_dir_within(self, path, home=None):
        """Open a directory; below ``home`` no link is followed at all."""
        if not home or not (path == home or path.startswith(home.rstrip("/") + "/")):
            return self.open_dir(path)
        fd = self.open_dir(home)
        where = home.rstrip("/")
        try:
            for name in split_path(path[len(home.rstrip("/")):]):
                where += "/" + name
                try:
                    nfd = os.open(name, _O_DIR, dir_fd=fd)
                except OSError as err:
                    if err.errno in (errno.ELOOP, errno.ENOTDIR) and stat.S_ISLNK(os.lstat(name, dir_fd=fd).st_mode):
                        raise Unreadable("%s is a symbolic link in a home directory: not followed" % where, link=where)
                    raise
                os.close(fd)
                fd = nfd
            return fd
        except BaseException:
            os.close(fd)
            raise

    def exists(self, path):
        try:
            os.lstat(self.host(path))
        except OSError:
            return False
        return True

    def host(self, path):
        """The real path of host path ``path`` under root (for programs such as postconf)."""
        if self.root == "/":
            return path
        return os.path.join(self.root, path.lstrip("/"))

    def listdir(self, path):
        """Names in a root-owned directory (sorted), [] when missing or unreadable (recorded)."""
        try:
            fd = self.open_dir(path)
        except Unreadable as err:
            self.note(path, err.reason)
            return []
        except OSError as err:
            if err.errno not in (errno.ENOENT, errno.ENOTDIR):
                self.note(path, os.strerror(err.errno))
            return []
        try:
            return sorted(os.listdir(fd))
        finally:
            os.close(fd)

    # ------------------------------------------------------------------ metadata of secret files
    def secret_meta(self, path, home=None):
        """Mode and owner of a file holding a secret (never its content). ``exists`` False when missing."""
        meta = {"file": path, "exists": False}
        parent, name = path.rsplit("/", 1)
        try:
            fd = self.open_dir_within(parent or "/", home)
        except (Unreadable, OSError) as err:
            meta["error"] = getattr(err, "reason", None) or os.strerror(getattr(err, "errno", 0) or errno.EIO)
            return meta
        try:
            st = os.lstat(name, dir_fd=fd)
        except OSError as err:
            if err.errno != errno.ENOENT:
                meta["error"] = os.strerror(err.errno)
            return meta
        finally:
            os.close(fd)
        mode = stat.S_IMODE(st.st_mode)
        meta.update({
            "exists": True,
            "mode": "%04o" % mode,
            "owner": self.user_name(st.st_uid),
            "group": self.group_name(st.st_gid),
            "world_readable": bool(mode & stat.S_IROTH) and not stat.S_ISLNK(st.st_mode),
            "group_readable": bool(mode & stat.S_IRGRP) and not stat.S_ISLNK(st.st_mode),
        })
        if stat.S_ISLNK(st.st_mode):
            meta["link"] = True
        return meta

    # ------------------------------------------------------------------ users
    def passwd(self):
        """[(name, uid, gid, home)] from the root's /etc/passwd (parsed, not through NSS: the root may be an image)."""
        if self._passwd is None:
            entries = []
            text = self.read("/etc/passwd") or ""
            for line in text.splitlines():
                fields = line.split(":")
                if len(fields) < 7 or not fields[2].isdigit() or not fields[3].isdigit():
                    continue
                entries.append((fields[0], int(fields[2]), int(fields[3]), fields[5]))
            self._passwd = entries
        return self._passwd

    def user_name(self, uid):
        for name, u, unused_gid, unused_home in self.passwd():
            if u == uid:
                return name
        return str(uid)

    def group_name(self, gid):
        if self._groups is None:
            groups = {}
            for line in (self.read("/etc/group") or "").splitlines():
                fields = line.split(":")
                if len(fields) >= 3 and fields[2].isdigit():
                    groups.setdefault(int(fields[2]), fields[0])
            self._groups = groups
        return self._groups.get(gid, str(gid))

    def homes(self, people_only=False):
        """[(user, uid, home)] one per distinct home directory. ``people_only``: root and the accounts from UID_MIN
        (login.defs, default 1000) up to 59999; otherwise every account with a home other than /."""
        uid_min = 1000
        for line in (self.read("/etc/login.defs") or "").splitlines():
            fields = line.split()
            if len(fields) == 2 and fields[0] == "UID_MIN" and fields[1].isdigit():
                uid_min = int(fields[1])
        seen = set()
        out = []
        for name, uid, unused_gid, home in self.passwd():
            if not home.startswith("/") or home in ("/", "/nonexistent", "/dev/null") or home in seen or self.excluded(home):
                continue
            if people_only and not (uid == 0 or uid_min <= uid < 60000):
                continue
            seen.add(home)
            out.append((name, uid, home))
        return out
