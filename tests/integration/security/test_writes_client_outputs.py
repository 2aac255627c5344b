# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 10, section 3 (the write path's part): what the client role shows other users and the log.

- The role's look at the homes gets the accounts in its module arguments: while the role runs, a sampler
  reads every process's command line (as ``ps`` shows it to any local user) and finds no account in any
  of them, plain or base64-encoded.  A process started with an encoded account on its command line is
  caught by the same sampler (so it would have caught the old ``client_precheck.py <base64>``).
- No hash of a secret in any result or diff: with ``-v`` and ``--diff`` (first write, then a change of
  password), no MD5/SHA-1/SHA-256/SHA-512 of the password (with or without its newline) appears anywhere
  in the output, and the secret files' results carry their size only.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import subprocess
import threading
import time
import uuid

import pytest

from mailfleet_testing.local_users import local_users

pytestmark = [pytest.mark.timeout(240),
              pytest.mark.skipif(os.geteuid() != 0, reason="creates users: needs root")]

PLAY = [{"hosts": "localhost", "gather_facts": False, "roles": [{"role": "mailfleet.outlook.client"}]}]
_B64 = re.compile(r"[A-Za-z0-9+/=_-]{16,}")


@pytest.fixture
def two_users():
    with local_users(2, prefix="mfo") as users:
        yield users


class CommandLineSampler(threading.Thread):
    """Reads /proc/*/cmdline in a loop; keeps the command lines that show ``needle`` (plain or base64)."""

    def __init__(self, needle):
        super().__init__(daemon=True)
        self.needle = needle.encode()
        self.found = []
        self.samples = 0
        self.stopping = threading.Event()

    def shows(self, args):
        for arg in args:
            if self.needle in arg:
                return True
            for chunk in _B64.findall(arg.decode("latin-1")):
                for decode in (base64.b64decode, base64.urlsafe_b64decode):
                    try:
                        if self.needle in decode(chunk + "=" * (-len(chunk) % 4)):
                            return True
                    except (binascii.Error, ValueError):
                        continue
        return False

    def run(self):
        while not self.stopping.is_set():
            self.samples += 1
            for pid in os.listdir("/proc"):
                if not pid.isdigit():
                    continue
                try:
                    with open("/proc/%s/cmdline" % pid, "rb") as handle:
                        args = handle.read().split(b"\0")
                except OSError:
                    continue
                if self.shows(args):
                    self.found.append(b" ".join(args)[:300].decode("latin-1"))
            time.sleep(0.002)

    def stop(self):
        self.stopping.set()
        self.join(timeout=10)


def accounts_for(users, tag, password="pw"):
    return [{"user": pw.pw_name, "address": "precheck-%s-%d@contoso.com" % (tag, i), "auth_method": "password",
             "password": "%s-%d" % (password, i), "clients": ["msmtp", "neomutt"]} for i, pw in enumerate(users)]


def test_no_account_on_any_command_line_while_the_role_runs(run_playbook, two_users):
    tag = uuid.uuid4().hex
    sampler = CommandLineSampler(tag)
    sampler.start()
    try:
        # the control: what the old precheck did (its argument was base64 of the accounts' JSON)
        encoded = base64.b64encode(json.dumps([{"address": "precheck-%s-0@contoso.com" % tag}]).encode()).decode()
        subprocess.run(["sh", "-c", "sleep 0.5", "client_precheck.py", encoded], check=True, timeout=30)
        deadline = time.monotonic() + 5
        while not sampler.found and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sampler.found, "the sampler did not see an encoded account on a command line"
        control = list(sampler.found)
        del sampler.found[:]
        run = run_playbook(PLAY, extra_vars={"client_accounts": accounts_for(two_users, tag)})
    finally:
        sampler.stop()
    run.assert_ok()
    assert run.results(action="mailfleet.outlook.client_precheck"), run.describe()
    assert sampler.samples > 20, sampler.samples
    assert sampler.found == [], (control, sampler.found)


def digests(secret):
    out = []
    for text in (secret, secret + "\n"):
        for algorithm in ("md5", "sha1", "sha256", "sha512"):
            digest = hashlib.new(algorithm, text.encode()).hexdigest()
            out.extend([digest, digest.upper()])
    return out


def test_no_hash_of_a_secret_in_any_result_or_diff(run_playbook, two_users):
    tag = uuid.uuid4().hex[:12]
    first = "first-%s" % tag
    second = "second-%s" % tag
    runs = [run_playbook(PLAY, extra_vars={"client_accounts": accounts_for(two_users, tag, first)}, diff=True,
                         verbosity=1)]
    runs.append(run_playbook(PLAY, extra_vars={"client_accounts": accounts_for(two_users, tag, second)},
                             diff=True, verbosity=1, check=True))
    runs.append(run_playbook(PLAY, extra_vars={"client_accounts": accounts_for(two_users, tag, second)},
                             diff=True, verbosity=1))
    for run in runs:
        run.assert_ok()
        output = run.all_output()
        for i in range(len(two_users)):
            for secret in ("%s-%d" % (first, i), "%s-%d" % (second, i)):
                assert secret not in output
                found = [d for d in digests(secret) if d in output]
                assert found == [], "a hash of the password is in the output: %s" % found
        configured = [t["result"] for t in run.tasks if t["task"].endswith("Configure the mail clients of each user")]
        files = [f for r in configured for item in r["results"] for f in item["files"]]
        secret_files = [f for f in files if f["secret"]]
        assert secret_files and all("sha256" not in f and f["size"] > 0 for f in secret_files)
    # the change of password shows in the diff as a change of a redacted file
    assert "<redacted: %d bytes, changed>" % len("%s-0\n" % second) in runs[1].stdout
