# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Acting as the user who controls a directory: a forked child that has become that user (``setgroups`` +
``setresgid`` + ``setresuid``, then not dumpable) runs the calls and sends their outcomes back as JSON.

Standard library only (runs on the managed host).  See ``_safe_fs`` for when the write path does this.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import errno
import json
import os
import select
import signal
import time

from ansible_collections.mailfleet.outlook.plugins.module_utils._refusal import Refused

CHILD_TIMEOUT = 120


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
