# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Debian packages that cannot be installed beside Postfix (exim4, nullmailer, dma, opensmtpd all provide
mail-transport-agent): downloaded with ``apt-get download`` and unpacked with ``dpkg-deb`` into a cache under
.build/debs, so that tests use the packages' own files (configuration templates, maintainer scripts, binaries)
without installing them. Nothing is installed and nothing outside the cache is written."""

import fcntl
import glob
import os
import shutil
import subprocess

from mailfleet_testing import REPO_ROOT

CACHE = os.path.join(str(REPO_ROOT), ".build", "debs")
# The packages the discovery tests take files from (and why): see docs/mail_senders.md, "How it is tested".
PACKAGES = ("exim4-config", "exim4-daemon-light", "nullmailer", "dma", "opensmtpd")


class DebUnavailable(RuntimeError):
    pass


def _run(argv, cwd=None, timeout=180):
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise DebUnavailable("%s failed (%d): %s" % (" ".join(argv), proc.returncode, (proc.stderr or proc.stdout).strip()[-800:]))
    return proc


def unpacked(name):
    """{"root": dir with the package's files, "control": dir with its maintainer scripts} (downloaded once)."""
    if not (shutil.which("apt-get") and shutil.which("dpkg-deb")):
        raise DebUnavailable("apt-get and dpkg-deb are needed to take files from Debian packages")
    os.makedirs(CACHE, exist_ok=True)
    root = os.path.join(CACHE, "x", name)
    control = os.path.join(CACHE, "control", name)
    with open(os.path.join(CACHE, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (os.path.isdir(root) and os.path.isdir(control)):
            debs = glob.glob(os.path.join(CACHE, "%s_*.deb" % name))
            if not debs:
                _run(["apt-get", "download", "-q", name], cwd=CACHE)
                debs = glob.glob(os.path.join(CACHE, "%s_*.deb" % name))
            if not debs:
                raise DebUnavailable("apt-get download %s left no .deb in %s" % (name, CACHE))
            for path in (root + ".tmp", control + ".tmp"):
                shutil.rmtree(path, ignore_errors=True)
                os.makedirs(os.path.dirname(path), exist_ok=True)
            _run(["dpkg-deb", "-x", debs[0], root + ".tmp"])
            _run(["dpkg-deb", "-e", debs[0], control + ".tmp"])
            os.rename(root + ".tmp", root)
            os.rename(control + ".tmp", control)
    return {"root": root, "control": control}


def all_unpacked():
    return dict((name, unpacked(name)) for name in PACKAGES)
