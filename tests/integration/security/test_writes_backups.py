# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 10, section 1: backups of secret files are never readable by another user, at any moment.

The write path (``apply_plan``, as mail_config runs it on a host) replaces alice's password file 2,000
times with ``backup: true`` while bob runs a reader (tests/support/mailfleet_testing/hostile_user.py
``read``): inotify tells it of every new entry of the directory, which it opens at once, several times,
and it sweeps the whole directory twice a second.  The directory is made world-readable for the test so
that only the files' own modes protect them.  A file bob can read is planted first to show the reader
does read what it can.  Then: bob read no secret, ever, and every backup is 0600 and alice's.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid

import pytest

from ansible_collections.mailfleet.outlook.plugins.module_utils._apply import apply_plan
from mailfleet_testing.local_users import give, install_hostile_script, local_users, scratch_dir, spawn_as

BACKUPS = 2000
pytestmark = [pytest.mark.timeout(300), pytest.mark.slow,
              pytest.mark.skipif(os.geteuid() != 0, reason="creates users and drops to them: needs root")]


def run(argv):
    p = subprocess.run(argv, capture_output=True, text=True, check=False)
    return p.returncode, p.stdout, p.stderr


@pytest.fixture
def pair():
    with local_users(2, prefix="mfb") as users:
        yield users


@pytest.fixture
def scratch():
    """A directory both test users can use (the reader's script and its results)."""
    with scratch_dir("mfsec-read", 0o777) as path:
        yield path


def wait_for(path, proc, seconds=20):
    deadline = time.monotonic() + seconds
    while not os.path.exists(path):
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "%s did not appear" % path
        time.sleep(0.05)


def test_no_backup_of_a_secret_is_ever_readable_by_another_user(pair, scratch):
    alice, bob = pair
    canary = "canary-%s" % uuid.uuid4().hex
    secret_dir = alice.pw_dir + "/.config/mailfleet"
    os.makedirs(secret_dir)
    give(alice, alice.pw_dir + "/.config", secret_dir)
    for path in (alice.pw_dir, alice.pw_dir + "/.config", secret_dir):
        os.chmod(path, 0o755)  # only the files' modes stand between bob and the secret
    work = scratch
    script = install_hostile_script(work)

    def plan(i):
        return [{"path": secret_dir + "/password", "content": "%s-%d\n" % (canary, i), "mode": "0600",
                 "owner": alice.pw_name, "group": None, "secret": True, "dir_mode": "0700"}]

    apply_plan(plan(0), run)

    reader = spawn_as(bob, ["/usr/bin/python3", script, "read", secret_dir, canary, work + "/stop", work + "/out",
                            work + "/ready"])
    try:
        wait_for(work + "/ready", reader)
        # the reader works: a file bob may read, with the canary, is read
        probe = secret_dir + "/readable-probe"
        with open(probe, "w", encoding="utf-8") as handle:
            handle.write(canary + "-probe\n")
        os.chmod(probe, 0o644)
        time.sleep(1.2)
        os.unlink(probe)

        started = time.monotonic()
        backups = set()
        for i in range(1, BACKUPS + 1):
            result = apply_plan(plan(i), run, backup=True)
            backups.add(result["files"][0]["backup_file"])
        elapsed = time.monotonic() - started
    finally:
        with open(work + "/stop", "w", encoding="ascii"):
            pass
        reader.wait(timeout=60)
    with open(work + "/out", encoding="utf-8") as handle:
        stats = json.load(handle)
    print("%d backups in %.1f s; bob tried %d opens, %d succeeded, %d names seen, hits: %s"
          % (BACKUPS, elapsed, stats["attempts"], stats["opened"], stats["names"], stats["hits"][:5]))

    assert "readable-probe" in stats["hits"], "the reader never read the readable probe: it would miss a leak too"
    assert [h for h in stats["hits"] if h != "readable-probe"] == [], stats
    assert len(backups) == BACKUPS and None not in backups
    assert stats["names"] >= BACKUPS  # bob saw every backup (and temporary file) appear
    for path in backups:
        st = os.lstat(path)
        assert (st.st_uid, st.st_mode & 0o7777) == (alice.pw_uid, 0o600), path
