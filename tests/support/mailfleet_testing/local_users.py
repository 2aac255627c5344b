# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Real unprivileged users for security tests: create and remove them, run things as them, and take
exact snapshots of files they must not be able to change (content, owner, mode, inode, times)."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import stat
import subprocess
import uuid
from pathlib import Path

HOSTILE_USER_SCRIPT = Path(__file__).with_name("hostile_user.py")
RUNUSER = shutil.which("runuser", path="/usr/sbin:/sbin:/usr/bin:/bin") or "runuser"


class LocalUsers:
    """``users.create(n)`` -> n fresh users (``<prefix><random>``, with homes); ``users.remove()`` at the end."""

    def __init__(self, prefix="mfs"):
        self.prefix = prefix
        self.names = []

    def create(self, count=1):
        made = []
        for _number in range(count):
            name = "%s%s" % (self.prefix, uuid.uuid4().hex[:8])
            subprocess.run(["useradd", "--create-home", "--shell", "/bin/sh", name], check=True,
                           capture_output=True, timeout=60)
            self.names.append(name)
            made.append(pwd.getpwnam(name))
        return made

    def remove(self):
        for name in self.names:  # the tests end the processes they started as these users themselves
            subprocess.run(["userdel", "--remove", name], capture_output=True, timeout=60, check=False)
        self.names = []


@contextlib.contextmanager
def local_users(count, prefix="mfs"):
    """``with local_users(2) as (alice, bob):`` fresh users, removed afterwards."""
    users = LocalUsers(prefix=prefix)
    try:
        yield users.create(count)
    finally:
        users.remove()


@contextlib.contextmanager
def scratch_dir(prefix, mode=0o755):
    """A fresh directory under /tmp with ``mode`` (set exactly: test users must reach it), removed afterwards."""
    path = "/tmp/%s-%s" % (prefix, uuid.uuid4().hex[:10])
    os.mkdir(path)
    try:
        os.chmod(path, mode)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def user_env(pw):
    return {"HOME": pw.pw_dir, "USER": pw.pw_name, "LOGNAME": pw.pw_name, "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LC_ALL": "C.UTF-8"}


def run_as(pw, argv, timeout=60, **kwargs):
    return subprocess.run([RUNUSER, "-u", pw.pw_name, "--"] + list(argv), capture_output=True, text=True,
                          timeout=timeout, env=user_env(pw), check=False, **kwargs)


def spawn_as(pw, argv, **kwargs):
    # pylint: disable-next=consider-using-with
    return subprocess.Popen([RUNUSER, "-u", pw.pw_name, "--"] + list(argv), env=user_env(pw),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kwargs)


def give(pw, *paths):
    """Hand paths the test created to ``pw`` (lchown: a link stays a link, like one the user made)."""
    for path in paths:
        os.lchown(path, pw.pw_uid, pw.pw_gid)


def install_hostile_script(directory):
    """Copy hostile_user.py where any user can read it; returns its path."""
    target = os.path.join(directory, "hostile_user.py")
    shutil.copyfile(HOSTILE_USER_SCRIPT, target)
    os.chmod(target, 0o644)
    return target


def snapshot(path):
    """{relative path: (type, mode, uid, gid, inode, mtime_ns, content or link target or listing)} of a tree."""
    out = {}
    top = os.fspath(path)

    def one(p):
        st = os.lstat(p)
        if stat.S_ISLNK(st.st_mode):
            data = os.readlink(p)
        elif stat.S_ISREG(st.st_mode):
            with open(p, "rb") as handle:
                data = handle.read()
        elif stat.S_ISDIR(st.st_mode):
            data = tuple(sorted(os.listdir(p)))
        else:
            data = None
        out[os.path.relpath(p, top)] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid,
                                        st.st_ino, st.st_mtime_ns, data)

    if not os.path.lexists(top):
        return None
    one(top)
    if os.path.isdir(top) and not os.path.islink(top):
        for dirpath, dirnames, filenames in os.walk(top):
            for name in dirnames + filenames:
                one(os.path.join(dirpath, name))
    return out


def owners_below(path):
    """Every (relative path, uid) below ``path`` (links included, not followed)."""
    found = []
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            found.append((os.path.relpath(p, path), os.lstat(p).st_uid))
    return found
