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

Refusals are ``Refused(path, problem)``; the caller decides whether a refusal fails the task or leaves
that user's files alone.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
import errno
import grp
import json
import os
import pwd
import select
import signal
import stat
import time

_PATH_FLAG = getattr(os, "O_PATH", os.O_RDONLY)
DIR_FLAGS = _PATH_FLAG | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_NOCTTY | os.O_CLOEXEC
MAX_LINKS = 40
CHILD_TIMEOUT = 120
USER_FILE_LIMIT = 16 << 20  # a file in a user's directory larger than this is not one we wrote: not read


class Refused(Exception):
    """A path that must be left alone: ``path`` (absolute) ``problem`` (e.g. "is a symbolic link")."""

    def __init__(self, path, problem):
        super(Refused, self).__init__("%s %s" % (path, problem))
        self.path = path
        self.problem = problem

    def describe(self, home=None):
        """'left alone: ~/.config is a symbolic link' (paths under ``home`` shown with ``~``)."""
        return "left alone: %s %s" % (tilde(self.path, home), self.problem)


def tilde(path, home):
    if path and home and home != "/":
        home = home.rstrip("/")
        if path == home:
            return "~"
        if path.startswith(home + "/"):
            return "~" + path[len(home):]
    return path


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
# Acting as the user who controls a directory

_LIBC = []


def _libc():
    """libc through ctypes, loaded once in the parent (importing ctypes in each child costs ~10 ms)."""
    if not _LIBC:
        try:
            import ctypes  # pylint: disable=import-outside-toplevel
            _LIBC.append(ctypes.CDLL(None, use_errno=True))
        except Exception:  # pragma: no cover - no ctypes: setresuid already reset dumpable to fs.suid_dumpable
            _LIBC.append(None)
    return _LIBC[0]


def _not_dumpable():
    """Keep the user away from the child's memory (ptrace, /proc/PID/mem) whatever fs.suid_dumpable says."""
    libc = _libc()
    if libc is not None:
        libc.prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE, 0


def become(identity):
    """Drop this process to ``identity`` for good (supplementary groups, gid, uid: real, effective, saved)."""
    os.setgroups(identity.groups)
    os.setresgid(identity.gid, identity.gid, identity.gid)
    os.setresuid(identity.uid, identity.uid, identity.uid)
    if os.getresuid() != (identity.uid,) * 3 or os.getresgid() != (identity.gid,) * 3:
        raise OSError(errno.EPERM, "could not become %s" % identity.name)
    _not_dumpable()


def _encode(value):
    if isinstance(value, bytes):
        return {"__bytes__": base64.b64encode(value).decode("ascii")}
    if isinstance(value, dict):
        return dict((k, _encode(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    return value


def _decode(value):
    if isinstance(value, dict):
        if set(value) == set(["__bytes__"]):
            return base64.b64decode(value["__bytes__"])
        return dict((k, _decode(v)) for k, v in value.items())
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def _call(func, args, kwargs):
    """One call's outcome: ("ok", value), ("refused", Refused) or ("oserror", OSError)."""
    try:
        return ("ok", func(*args, **kwargs))
    except Refused as e:
        return ("refused", e)
    except OSError as e:
        return ("oserror", e)


def _outcome_to_json(outcome):
    kind, value = outcome
    if kind == "refused":
        return {"refused": [value.path, value.problem]}
    if kind == "oserror":
        return {"oserror": [value.errno, value.strerror, value.filename]}
    return {kind: value}


def _outcome_from_json(data):
    if "refused" in data:
        return ("refused", Refused(*data["refused"]))
    if "oserror" in data:
        return ("oserror", OSError(*data["oserror"]))
    kind = "ok" if "ok" in data else "skipped"
    return (kind, data.get(kind))


def run_each(owner, calls, stop_at_failure=False):
    """Run ``calls`` (``(func, args, kwargs)`` tuples) one after the other, in one child process that has
    become ``owner`` (or here, when ``owner`` is None or this process is not root: it has nothing to drop),
    and return one outcome per call: ``("ok", value)``, ``("refused", Refused)``, ``("oserror", OSError)``,
    or ``("skipped", None)`` for calls after a failure when ``stop_at_failure``.

    Inside a user's directory every error is that user's doing (they changed the directory meanwhile, their
    quota is full, they stopped the child...): it comes back as a refusal for that user, never as a failure
    that would stop the others."""
    def body():
        out = []
        failed = False
        for func, args, kwargs in calls:
            if failed:
                out.append(("skipped", None))
                continue
            outcome = _call(func, args, kwargs)
            failed = stop_at_failure and outcome[0] != "ok"
            out.append(outcome)
        return out

    if owner is None or os.geteuid() != 0:
        return body()
    try:
        outcomes = [_outcome_from_json(d) for d in run_as(owner, lambda: [_outcome_to_json(o) for o in body()])]
    except (Refused, OSError) as e:
        refusal = e if isinstance(e, Refused) else Refused(owner.home or "/", "(working as %s): %s" % (owner.name, e))
        return [("refused", refusal)] + [("skipped", None)] * (len(calls) - 1) if stop_at_failure else \
            [("refused", refusal)] * len(calls)
    out = []
    for (_func, args, _kwargs), (kind, value) in zip(calls, outcomes):
        if kind == "oserror":
            where = getattr(args[0], "dest", None) if args else None
            kind, value = "refused", Refused(where or owner.home or "/", "could not be handled as %s: %s"
                                             % (owner.name, value.strerror or value))
        out.append((kind, value))
    return out


def run_as(identity, func, *args, **kwargs):
    """Run ``func(*args, **kwargs)`` in a child process that has become ``identity``; return its result.

    The result travels back as JSON (bytes as base64).  ``Refused`` and ``OSError`` raised in the child are
    raised again here; a child that does not answer within CHILD_TIMEOUT seconds (the user can stop it:
    it runs as them) is killed and reported as a refusal.
    """
    _libc()
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child (its coverage is not collected)
        status = 0
        try:
            os.close(rfd)
            try:
                become(identity)
                out = _outcome_to_json(_call(func, args, kwargs))
            except Exception as e:  # pylint: disable=broad-except
                out = {"error": "%s: %s" % (type(e).__name__, e)}
            data = json.dumps(_encode(out)).encode("utf-8")
            while data:
                data = data[os.write(wfd, data):]
        except BaseException:  # pylint: disable=broad-except
            status = 1
        finally:
            os._exit(status)
    os.close(wfd)
    chunks = []
    deadline = time.time() + CHILD_TIMEOUT
    try:
        while True:
            left = deadline - time.time()
            if left <= 0:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                pid = None
                raise Refused(identity.home or "/", "(working as %s) did not finish within %d s"
                              % (identity.name, CHILD_TIMEOUT))
            ready, _w, _x = select.select([rfd], [], [], left)
            if not ready:
                continue
            data = os.read(rfd, 1 << 20)
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(rfd)
    _pid, status = os.waitpid(pid, 0)
    try:
        out = _decode(json.loads(b"".join(chunks).decode("utf-8")))
    except ValueError:
        out = None
    if not isinstance(out, dict) or status != 0:
        raise Refused(identity.home or "/", "(working as %s) was interrupted (wait status %d)" % (identity.name, status))
    if "error" in out:
        raise RuntimeError("working as %s: %s" % (identity.name, out["error"]))
    kind, value = _outcome_from_json(out)
    if kind == "ok":
        return value
    raise value


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


def _stat_dict(st):
    return {"mode": stat.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid}


def op_look(place, read=True):
    """What is at the place: {"exists", "content", "mode", "uid", "gid", "missing", "writable"}."""
    dfd, dpath, missing = descend(place, place.rest[:-1])
    try:
        writable = os.access(".", os.W_OK | os.X_OK, dir_fd=dfd, effective_ids=os.access in os.supports_effective_ids)
        if missing:
            return {"exists": False, "missing": missing, "writable": writable, "dir": dpath}
        fd, st = open_existing(place, dfd, dpath, place.rest[-1], dir_is_trusted(os.fstat(dfd)))
        if fd is None:
            return {"exists": False, "missing": None, "writable": writable, "dir": dpath}
        try:
            out = {"exists": True, "writable": writable, "dir": dpath}
            out.update(_stat_dict(st))
            if read:
                out["content"] = _read_all(fd)
            return out
        finally:
            os.close(fd)
    finally:
        os.close(dfd)


def _random():
    return binascii.hexlify(os.urandom(8)).decode("ascii")


def _chown(place, fd, uid, gid):
    """fchown on an opened file; inside a user's directory only to what that user may set."""
    if uid is None and gid is None:
        return
    os.fchown(fd, -1 if uid is None else uid, -1 if gid is None else gid)


def _backup(place, dfd, dpath, name, trusted):
    """Copy the current file to '<name>.<stamp>.<random>~' in the same directory: created 0600 (or the
    file's mode if stricter) with O_EXCL | O_NOFOLLOW, never through a link; owner and times kept."""
    ofd, ost = open_existing(place, dfd, dpath, name, trusted)
    if ofd is None:
        return None
    try:
        mode = stat.S_IMODE(ost.st_mode) & 0o600
        bname = "%s.%s.%s~" % (name, time.strftime("%Y-%m-%d@%H:%M:%S"), _random())
        bfd = os.open(bname, CREATE_FLAGS, mode, dir_fd=dfd)
        try:
            os.fchmod(bfd, mode)
            data = _read_all(ofd)
            while data:
                data = data[os.write(bfd, data):]
            os.fsync(bfd)
            try:
                _chown(place, bfd, ost.st_uid, ost.st_gid)
            except OSError as e:
                if e.errno != errno.EPERM:
                    raise
            os.utime(bfd, ns=(ost.st_atime_ns, ost.st_mtime_ns))
        finally:
            os.close(bfd)
        return _join(dpath, bname)
    finally:
        os.close(ofd)


def op_write(place, data, mode, uid=None, gid=None, dir_mode=0o755, backup=False):
    """Write ``data`` atomically: temporary file (O_EXCL, 0600), fchown/fchmod on it, renameat over the
    name, then check that the name now holds our file.  Returns {"created": [...], "backup": path}."""
    created = []
    dfd, dpath, _missing = descend(place, place.rest[:-1], create=True, dir_mode=dir_mode, created=created)
    name = place.rest[-1]
    result = {"created": created, "backup": None}
    try:
        trusted = dir_is_trusted(os.fstat(dfd))
        if backup:
            result["backup"] = _backup(place, dfd, dpath, name, trusted)
        tmp = ".%s.%s.mailfleet" % (name, _random())
        try:
            fd = os.open(tmp, CREATE_FLAGS, 0o600, dir_fd=dfd)
        except OSError as e:
            if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
                raise Refused(dpath, "is not writable%s: %s" % (_by(place), e.strerror))
            raise
        try:
            try:
                os.fchmod(fd, 0o600)
                rest = data
                while rest:
                    rest = rest[os.write(fd, rest):]
                os.fsync(fd)
                _chown(place, fd, uid, gid)
                os.fchmod(fd, mode)
                ours = os.fstat(fd)
            finally:
                os.close(fd)
            try:
                os.rename(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
            except OSError as e:
                if e.errno == errno.ENOENT:  # someone moved our temporary file away
                    raise Refused(_join(dpath, name), "was replaced while it was being written")
                raise
            tmp = None
        finally:
            if tmp is not None:
                try:
                    os.unlink(tmp, dir_fd=dfd)
                except OSError:
                    pass
        try:
            now = os.stat(name, dir_fd=dfd, follow_symlinks=False)
        except OSError:
            now = None
        if now is None or (now.st_dev, now.st_ino) != (ours.st_dev, ours.st_ino):
            raise Refused(_join(dpath, name), "was replaced while it was being written")
        return result
    finally:
        os.close(dfd)


def op_chattr(place, mode, uid=None, gid=None):
    """Set mode/owner of the existing file through its opened descriptor (never by path)."""
    dfd, dpath, missing = descend(place, place.rest[:-1])
    try:
        if missing:
            raise Refused(missing, "disappeared")
        fd, _st = open_existing(place, dfd, dpath, place.rest[-1], dir_is_trusted(os.fstat(dfd)))
        if fd is None:
            raise Refused(_join(dpath, place.rest[-1]), "disappeared")
        try:
            _chown(place, fd, uid, gid)
            os.fchmod(fd, mode)
        finally:
            os.close(fd)
    finally:
        os.close(dfd)


def op_remove(place):
    """unlinkat the name (a link or file is removed itself, never what it points to); False when missing."""
    dfd, _dpath, missing = descend(place, place.rest[:-1])
    try:
        if missing:
            return False
        os.unlink(place.rest[-1], dir_fd=dfd)
        return True
    except OSError as e:
        if e.errno == errno.ENOENT:
            return False
        raise
    finally:
        os.close(dfd)


def op_exists(place):
    dfd, _dpath, missing = descend(place, place.rest[:-1])
    try:
        if missing:
            return False
        os.stat(place.rest[-1], dir_fd=dfd, follow_symlinks=False)
        return True
    except OSError:
        return False
    finally:
        os.close(dfd)


def op_remove_dirs(place, created):
    """Remove the (empty) directories ``op_write`` created, deepest first; best effort."""
    for comps in sorted(created, key=len, reverse=True):
        try:
            dfd, _dpath, missing = descend(place, comps[:-1])
        except (OSError, Refused):
            continue
        try:
            if not missing:
                os.rmdir(comps[-1], dir_fd=dfd)
        except OSError:
            pass
        finally:
            os.close(dfd)
    return True
