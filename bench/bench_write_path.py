# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark: the write path (apply_plan) into a user's directory, against the path-based one it replaced.

The new write path walks every path with directory descriptors and works inside another user's directory
from a child process that has become that user (one fork per file looked at, one per file written).  The
baseline is ``_apply.py`` as of commit a27068c (paths, followed links, root writing into the home),
loaded from git into a scratch module, on the same files, in the same run.

Four files of a client-role user (msmtp, neomutt, password, oauth2.json) in a directory owned by
``nobody``; per implementation: calls that change nothing (the common case at fleet scale: one look per
file) and calls that rewrite every file.  Prints ms per call and the ratio new / baseline.

Usage (root; from the repository root): .venv/bin/python bench/bench_write_path.py [--calls 200]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE_COMMIT = "a27068c"
sys.path.insert(0, str(ROOT / ".build"))


def load_baseline(scratch):
    source = subprocess.run(["git", "-C", str(ROOT), "show", "%s:plugins/module_utils/_apply.py" % BASELINE_COMMIT],
                            capture_output=True, text=True, check=True).stdout
    path = os.path.join(scratch, "baseline_apply.py")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(source)
    spec = importlib.util.spec_from_file_location("baseline_apply", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.apply_plan


def run(argv):
    p = subprocess.run(argv, capture_output=True, text=True, check=False)
    return p.returncode, p.stdout, p.stderr


def plan(home, user, n):
    names = [".config/msmtp/config", ".config/neomutt/neomuttrc", ".config/mailfleet/password",
             ".config/mailfleet/oauth2.json"]
    return [{"path": "%s/%s" % (home, rel), "content": "# file %d, version %d\n" % (i, n) + "x" * 600,
             "mode": "0600", "owner": user, "group": None, "secret": rel.endswith("password"), "dir_mode": "0700"}
            for i, rel in enumerate(names)]


def timed(apply_plan, home, user, calls, change):
    started = time.perf_counter()
    for n in range(calls):
        apply_plan(plan(home, user, n if change else 0), run)
    return (time.perf_counter() - started) / calls * 1000


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root (the write path drops to the directory's user)")
    from ansible_collections.mailfleet.outlook.plugins.module_utils._apply import apply_plan  # pylint: disable=import-outside-toplevel

    nobody = pwd.getpwnam("nobody")
    scratch = tempfile.mkdtemp(prefix="mf-bench-write-")
    os.chmod(scratch, 0o755)
    try:
        baseline = load_baseline(scratch)
        rows = []
        for label, impl in (("baseline (paths, as root)", baseline), ("descriptors, as the user", apply_plan)):
            home = os.path.join(scratch, "home-%d" % len(rows))
            os.mkdir(home)
            for sub in (".config", ".config/msmtp", ".config/neomutt", ".config/mailfleet"):
                os.mkdir(os.path.join(home, sub), 0o700)
            for dirpath, _dirs, _files in os.walk(home):
                os.chown(dirpath, nobody.pw_uid, nobody.pw_gid)
            impl(plan(home, "nobody", 0), run)
            unchanged = timed(impl, home, "nobody", args.calls, change=False)
            changed = timed(impl, home, "nobody", args.calls, change=True)
            rows.append((label, unchanged, changed))
        for label, unchanged, changed in rows:
            print("%-28s unchanged %.2f ms/call   rewrite all %.2f ms/call" % (label, unchanged, changed))
        print("ratio new/baseline: unchanged %.2f, rewrite all %.2f (4 files per call, %d calls each)"
              % (rows[1][1] / rows[0][1], rows[1][2] / rows[0][2], args.calls))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
