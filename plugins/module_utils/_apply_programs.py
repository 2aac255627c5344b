# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The programs a mail_config plan runs (post steps, validators, services): where they are, which package brings
them, and how they run (``run_command``, or under a pseudo-terminal for the few that insist on one).

Standard library only (runs on the managed host).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import select
import subprocess
import time

try:
    import pty
except ImportError:  # pragma: no cover - not on Linux
    pty = None


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


def package_of(programs, name):
    """The package that provides program ``name`` (from the format's ``programs``), or None."""
    return (programs or {}).get(os.path.basename(name))


def run_program(run_command, argv):
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


def locate_programs(post_needed, validators, services, programs, which):
    """Look up every program the call will run; returns ({name: absolute path}, [missing names])."""
    names = []
    for e in post_needed:
        names.extend(argv[0] for argv in e.post)
    names.extend(step.argv[0] for step in validators)
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


def missing_message(missing, programs):
    parts = []
    for name in missing:
        package = package_of(programs, name)
        parts.append("%s (package %s)" % (name, package) if package else name)
    packages = sorted(set(p for p in (package_of(programs, n) for n in missing) if p))
    return ("%s %s not installed on this host, and the new configuration needs %s; nothing was written. "
            "Fix: install %s first (the relay role does unless relay_install_packages is false), or write into "
            "an image directory instead of the live system (option root; the relay role's relay_root)"
            % (", ".join(parts), "is" if len(missing) == 1 else "are", "it" if len(missing) == 1 else "them",
               " and ".join(packages) if packages else "the missing program(s)"))


def image_skip_warning(entry, argv, root, programs):
    package = package_of(programs, argv[0])
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
