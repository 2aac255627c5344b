# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a hostile local user runs while root configures their mail: a racer and a reader (Linux inotify).

Run as that user (``runuser -u <user> -- python3 hostile_user.py race|read ...``); standard library only
(inotify through ctypes), so it runs with the system Python of the host under test.

``race HOME ROOT_FILE ROOT_DIR DANGLING PAUSE LOG READY``
    Watches HOME and every directory below it; each new entry (file, directory, temporary file) that
    appears while the file PAUSE does not exist is renamed away (``<name>.racer-<n>``) and replaced by a
    symbolic link: directories to ROOT_DIR, files alternately to ROOT_FILE and to DANGLING (a path that
    must never come to exist).  Entries that appear while PAUSE exists (the test's own set-up) are
    watched instead.  One line per swap goes to LOG; READY (holding the racer's pid) is written once
    the watches are in place.  Runs until SIGTERM.

``read DIR CANARY STOP OUT READY``
    Watches DIR; every new entry is opened and read at once (then again, a few times), and the whole
    directory is tried now and then; any content that contains CANARY is a hit.  Stops when STOP exists
    and writes ``{"attempts": n, "opened": n, "hits": [...], "names": n}`` to OUT.
"""

from __future__ import annotations

import ctypes
import json
import os
import select
import signal
import struct
import sys
import time

IN_MODIFY = 0x2
IN_CLOSE_WRITE = 0x8
IN_MOVED_TO = 0x80
IN_CREATE = 0x100
IN_ISDIR = 0x40000000
_EVENT = struct.Struct("iIII")

_libc = ctypes.CDLL(None, use_errno=True)


class Inotify:
    def __init__(self):
        self.fd = _libc.inotify_init1(os.O_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        self.paths = {}

    def watch(self, path, mask=IN_CREATE | IN_MOVED_TO):
        wd = _libc.inotify_add_watch(self.fd, os.fsencode(path), mask)
        if wd >= 0:
            self.paths[wd] = path
        return wd >= 0

    def events(self):
        """Blocking read; yields (directory, name, mask)."""
        data = os.read(self.fd, 1 << 16)
        offset = 0
        while offset + _EVENT.size <= len(data):
            wd, mask, _cookie, length = _EVENT.unpack_from(data, offset)
            raw = data[offset + _EVENT.size:offset + _EVENT.size + length]
            offset += _EVENT.size + length
            name = os.fsdecode(raw.rstrip(b"\0"))
            if wd in self.paths and name:
                yield self.paths[wd], name, mask


def race(home, root_file, root_dir, dangling, pause, log, ready):
    ino = Inotify()
    count = [0]

    def watch_tree(top):
        for dirpath, dirnames, _files in os.walk(top):
            ino.watch(dirpath)
            dirnames[:] = [d for d in dirnames if not os.path.islink(os.path.join(dirpath, d))]

    watch_tree(home)
    out = open(log, "a", buffering=1, encoding="utf-8")  # pylint: disable=consider-using-with

    def stop(_signum, _frame):
        out.close()
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    with open(ready, "w", encoding="utf-8") as handle:
        handle.write("%d\n" % os.getpid())
    while True:
        for directory, name, _mask in ino.events():
            if ".racer-" in name:
                continue
            path = os.path.join(directory, name)
            try:
                st = os.lstat(path)
            except OSError:
                continue
            if os.path.islink(path):
                continue
            is_dir = os.path.isdir(path)
            if os.path.exists(pause):
                if is_dir:
                    watch_tree(path)
                continue
            count[0] += 1
            link_to = root_dir if is_dir else (root_file if count[0] % 2 else dangling)
            try:
                os.rename(path, "%s.racer-%d" % (path, count[0]))
                os.symlink(link_to, path)
            except OSError as e:
                out.write("missed %s %s: %s\n" % ("dir" if is_dir else "file", path, e))
                continue
            out.write("swapped %s %s -> %s (mode %o)\n" % ("dir" if is_dir else "file", path, link_to, st.st_mode))


def read(directory, canary, stop, out_path, ready):
    ino = Inotify()
    ino.watch(directory, IN_CREATE | IN_MOVED_TO | IN_MODIFY | IN_CLOSE_WRITE)
    os.set_blocking(ino.fd, False)
    stats = {"attempts": 0, "opened": 0, "hits": [], "names": 0}
    seen = set()
    needle = canary.encode()

    def attempt(path):
        stats["attempts"] += 1
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError:
            return
        stats["opened"] += 1
        if needle in data:
            stats["hits"].append(os.path.basename(path))

    with open(ready, "w", encoding="utf-8") as handle:
        handle.write("%d\n" % os.getpid())
    last_sweep = 0.0
    while not os.path.exists(stop):
        select.select([ino.fd], [], [], 0.05)
        try:
            events = list(ino.events())
        except BlockingIOError:
            events = []
        for _d, name, _mask in events:  # at once, while the entry is new: the moment a loose mode would show
            seen.add(name)
            for _i in range(3):
                attempt(os.path.join(directory, name))
        if time.monotonic() - last_sweep > 0.5:
            last_sweep = time.monotonic()
            for name in os.listdir(directory):
                seen.add(name)
                attempt(os.path.join(directory, name))
    stats["names"] = len(seen)
    with open(out_path, "w", encoding="utf-8") as handle:
        json.dump(stats, handle)


if __name__ == "__main__":
    if sys.argv[1] == "race":
        race(*sys.argv[2:9])
    elif sys.argv[1] == "read":
        read(*sys.argv[2:7])
    else:
        sys.exit("usage: hostile_user.py race|read ...")
