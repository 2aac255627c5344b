# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 10, section 1: a user who races the client role never wins.

While one ansible-playbook runs the client role 20 times (a loop of include_role), a process of the user
(tests/support/mailfleet_testing/hostile_user.py ``race``, inotify) replaces every new entry of the user's
home and config directories -- the directories the role creates, its temporary files, the renamed files,
the backups -- by a symbolic link to a root-only file, a root-owned directory or a path that must never
come to exist.  Even rounds start with no ~/.config (the role creates the directories: they are swapped);
odd rounds with the directories in place (the temporary files and the final files are swapped).

Afterwards: the root-owned targets are identical, nothing exists where the dangling links pointed, root
created nothing in the user's home, the user was told (left alone), and the other user was configured
every round.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
import uuid

import pytest

from mailfleet_testing.local_users import install_hostile_script, local_users, owners_below, scratch_dir, snapshot, spawn_as

ROUNDS = 20
pytestmark = [pytest.mark.timeout(400), pytest.mark.slow,
              pytest.mark.skipif(os.geteuid() != 0, reason="creates users and root-owned targets: needs root")]

RESET = """cd "$1" || exit 1
rm -rf .config .config.racer-*
if [ $(($2 % 2)) -eq 1 ]; then mkdir -p .config/msmtp .config/mailfleet && chmod 700 .config/msmtp .config/mailfleet; fi
sleep 0.2
"""


def iteration_tasks(work):
    return [
        {"name": "Pause the racer while alice's files are reset",
         "ansible.builtin.file": {"path": work + "/pause", "state": "touch", "mode": "0644"}},
        {"name": "Reset alice's configuration (as alice)",
         "ansible.builtin.command": {"argv": ["runuser", "-u", "{{ mfsec_alice }}", "--", "sh", "-c", RESET, "reset",
                                              "{{ mfsec_alice_home }}", "{{ mfsec_round }}"]},
         "changed_when": True},
        {"name": "Let the racer go", "ansible.builtin.file": {"path": work + "/pause", "state": "absent"}},
        {"name": "Configure the mail clients", "ansible.builtin.include_role": {"name": "mailfleet.outlook.client"}},
    ]


@pytest.fixture
def arena():
    tag = uuid.uuid4().hex[:10]
    root_dir = "/etc/mfsec-race-%s" % tag
    # the racer (alice) writes its log and pid in the scratch directory
    with local_users(2, prefix="mfr") as (alice, bob), scratch_dir("mfsec-race", 0o1777) as work:
        try:
            os.mkdir(root_dir, 0o755)
            os.mkdir(root_dir + "/dir", 0o755)
            with open(root_dir + "/target", "w", encoding="utf-8") as handle:
                handle.write("ROOT-ONLY-%s\n" % tag)
            os.chmod(root_dir + "/target", 0o600)
            yield {"alice": alice, "bob": bob, "work": work, "root_dir": root_dir, "tag": tag,
                   "dangling": "/etc/profile.d/mfsec-race-%s.sh" % tag}
        finally:
            shutil.rmtree(root_dir, ignore_errors=True)
            if os.path.lexists("/etc/profile.d/mfsec-race-%s.sh" % tag):  # only if the racer won
                os.unlink("/etc/profile.d/mfsec-race-%s.sh" % tag)


def start_racer(arena):
    alice, work = arena["alice"], arena["work"]
    script = install_hostile_script(work)
    ready = work + "/ready"
    proc = spawn_as(alice, ["/usr/bin/python3", script, "race", alice.pw_dir, arena["root_dir"] + "/target",
                            arena["root_dir"] + "/dir", arena["dangling"], work + "/pause", work + "/log", ready])
    deadline = time.monotonic() + 20
    while not os.path.exists(ready):
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "the racer did not start"
        time.sleep(0.05)
    with open(ready, encoding="ascii") as handle:
        return proc, int(handle.read())


def stop_racer(proc, pid):
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=20)


def test_racing_user_never_wins_over_20_role_runs(run_playbook, tmp_path, arena):
    alice, bob, work = arena["alice"], arena["bob"], arena["work"]
    root_before = snapshot(arena["root_dir"])
    tasks = tmp_path / "round.yml"
    tasks.write_text(json.dumps(iteration_tasks(work)))
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": [{
        "name": "Run the client role %d times" % ROUNDS,
        "ansible.builtin.include_tasks": str(tasks),
        "loop": "{{ range(%d) | list }}" % ROUNDS,
        "loop_control": {"loop_var": "mfsec_round"},
    }]}]
    accounts = [{"user": pw.pw_name, "address": "%s@contoso.com" % name, "auth_method": "password",
                 "password": "pw-%s-%s" % (name, arena["tag"]), "clients": ["msmtp"]}
                for name, pw in (("alice", alice), ("bob", bob))]
    extra = {"client_accounts": accounts, "client_backup": True, "mfsec_alice": alice.pw_name,
             "mfsec_alice_home": alice.pw_dir}

    proc, pid = start_racer(arena)
    try:
        started = time.monotonic()
        run = run_playbook(play, extra_vars=extra, timeout=330)
        elapsed = time.monotonic() - started
    finally:
        stop_racer(proc, pid)
    run.assert_ok()
    with open(work + "/log", encoding="utf-8") as handle:
        log = handle.read().splitlines()
    swaps = [line for line in log if line.startswith("swapped")]
    print("%d rounds in %.1f s; the racer swapped %d entries (%d directories, %d temporary files)" % (
        ROUNDS, elapsed, len(swaps), sum(" dir " in s for s in swaps), sum(".mailfleet " in s for s in swaps)))

    # the racer really raced: it swapped directories the role created and its temporary files
    assert sum(" dir " in s for s in swaps) >= ROUNDS // 2, log[-20:]
    assert sum(".mailfleet " in s for s in swaps) >= 1, log[-20:]
    # ... and never won
    assert snapshot(arena["root_dir"]) == root_before
    assert not os.path.lexists(arena["dangling"])
    for rel, uid in owners_below(alice.pw_dir):
        assert uid == alice.pw_uid, "root created %s in alice's home" % rel
    assert "left alone" in run.all_output() or "is a symbolic link" in run.stdout
    # bob was configured in every round (his file changed in none after the first: same content)
    configured = [t["result"] for t in run.tasks
                  if t["task"].endswith("Configure the mail clients of each user") and "results" in t["result"]]
    assert len(configured) == ROUNDS
    for round_result in configured:
        by_user = dict((item["item"]["user"], item) for item in round_result["results"])
        assert not by_user[bob.pw_name].get("failed") and by_user[bob.pw_name]["refused"] == []
    with open(bob.pw_dir + "/.config/mailfleet/password", encoding="utf-8") as handle:
        assert handle.read().strip() == accounts[1]["password"]
