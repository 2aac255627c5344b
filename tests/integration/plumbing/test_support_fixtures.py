# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The shared fixtures of tests/conftest.py drive real ansible commands and report what happened."""

from __future__ import annotations

import os
import time

import pytest

CANARY = "canary-Zq8-not-a-real-secret"


def test_collection_env_points_at_checkout(collection_env, repo_root, tmp_path):
    link = os.path.join(collection_env["ANSIBLE_COLLECTIONS_PATH"], "ansible_collections", "mailfleet", "outlook")
    assert os.path.realpath(link) == str(repo_root.resolve())
    assert collection_env["ANSIBLE_LOCAL_TEMP"].startswith(str(tmp_path))
    assert collection_env["ANSIBLE_HOST_KEY_CHECKING"] == "False"
    assert collection_env["ANSIBLE_RETRY_FILES_ENABLED"] == "False"


def test_run_playbook_returns_task_results(run_playbook, request):
    assert request.node.get_closest_marker("integration") is not None
    run = run_playbook([{
        "hosts": "all", "gather_facts": False,
        "tasks": [
            {"name": "say", "ansible.builtin.debug": {"msg": "hello {{ who }}"}},
            {"name": "skip me", "ansible.builtin.debug": {"msg": "x"}, "when": False},
            {"name": "python", "ansible.builtin.command": "{{ ansible_python_interpreter }} -c 'print(1)'",
             "changed_when": False},
        ],
    }], extra_vars={"who": "fleet"}, timeout=120).assert_ok()
    assert run.result(task="say")["msg"] == "hello fleet"
    assert [t["status"] for t in run.tasks] == ["ok", "skipped", "ok"]
    assert run.stats["localhost"]["ok"] == 2 and run.stats["localhost"]["skipped"] == 1
    assert "hello fleet" in run.stdout  # default callback output kept for humans


def test_run_playbook_check_and_diff_and_failure(run_playbook, tmp_path):
    target = tmp_path / "file.txt"
    play = [{"hosts": "all", "gather_facts": False, "tasks": [
        {"name": "write", "ansible.builtin.copy": {"dest": str(target), "content": "v1\n"}},
        {"name": "boom", "ansible.builtin.fail": {"msg": "expected failure"}},
    ]}]
    run = run_playbook(play, check=True, diff=True, timeout=120).assert_failed()
    assert run.returncode == 2
    write = run.result(task="write")
    assert write["changed"] is True and "v1" in write["diff"][0]["after"]
    assert not target.exists()
    assert run.result(task="boom")["msg"] == "expected failure"
    assert run.tasks[-1]["status"] == "failed"


def test_extra_vars_stay_off_the_command_line(run_playbook):
    run = run_playbook([{"hosts": "all", "gather_facts": False,
                         "tasks": [{"name": "n", "ansible.builtin.debug": {"msg": "len={{ secret | length }}"}}]}],
                       extra_vars={"secret": CANARY}, timeout=120).assert_ok()
    assert CANARY not in " ".join(run.cmd)
    assert CANARY not in run.all_output()
    assert run.result(task="n")["msg"] == "len=%d" % len(CANARY)


def test_run_ansible_adhoc(run_ansible):
    run = run_ansible("ansible.builtin.ping", timeout=120).assert_ok()
    assert run.result(host="localhost")["ping"] == "pong"


def test_timeout_kills_the_run(run_playbook):
    start = time.monotonic()
    run = run_playbook([{"hosts": "all", "gather_facts": False,
                         "tasks": [{"ansible.builtin.command": "sleep 60"}]}], timeout=5)
    assert run.timed_out and not run.ok
    assert time.monotonic() - start < 30
    with pytest.raises(AssertionError, match="timed out"):
        run.assert_ok()
