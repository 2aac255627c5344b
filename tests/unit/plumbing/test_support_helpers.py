# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fast checks of the shared test helpers (no ansible process)."""

from __future__ import annotations

import pytest

from mailfleet_testing import AnsibleRun, default_inventory


def _run(tasks, rc=0):
    return AnsibleRun(cmd=["ansible-playbook", "x.yml"], returncode=rc, stdout="out", stderr="err",
                      json={"tasks": tasks, "stats": {}})


def test_result_lookup_by_task_host_action():
    run = _run([
        {"task": "a", "host": "h1", "action": "debug", "status": "ok", "result": {"msg": 1}},
        {"task": "a", "host": "h2", "action": "debug", "status": "ok", "result": {"msg": 2}},
    ])
    assert run.result(task="a", host="h2") == {"msg": 2}
    assert run.results(action="debug") == [{"msg": 1}, {"msg": 2}]
    with pytest.raises(AssertionError, match="expected one result .* found 2"):
        run.result(task="a")


def test_assertions_carry_the_output():
    with pytest.raises(AssertionError, match="(?s)returncode: 4.*--- stdout ---\nout.*--- stderr ---\nerr"):
        _run([], rc=4).assert_ok()
    assert _run([]).assert_ok().ok
    with pytest.raises(AssertionError, match="expected to fail"):
        _run([]).assert_failed()


def test_default_inventory_is_local():
    host = default_inventory()["all"]["hosts"]["localhost"]
    assert host["ansible_connection"] == "local"
