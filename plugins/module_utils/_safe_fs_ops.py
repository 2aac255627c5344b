# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The operations on a ``Place`` (look, write with a private backup, change mode/owner, remove, exists, remove the
directories a write created), run as the place's owner by ``Place.run`` / ``run_each``.

Standard library only (runs on the managed host).  How a place is reached, and why these operations only use
opened descriptors, is in ``_safe_fs``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import binascii
import errno
import os
import stat
import time

from ansible_collections.mailfleet.outlook.plugins.module_utils._refusal import Refused
from ansible_collections.mailfleet.outlook.plugins.module_utils._safe_fs import (
    CREATE_FLAGS, _by, _join, _read_all, descend, dir_is_trusted, open_existing)


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
