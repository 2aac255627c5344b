# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""mailfleet.outlook.fleet_report's merge and previous options through ansible-playbook: bad input is refused with
the file or pattern named, before anything is written; sites come from the inventory."""

import json

import pytest

from ansible_collections.mailfleet.outlook.plugins.plugin_utils import _fleet_report as fr

pytestmark = pytest.mark.timeout(120)


def _play(tasks):
    return [{"hosts": "all", "gather_facts": False, "tasks": tasks}]


def _inventory():
    return {"all": {"children": {"site_paris": {"hosts": {"a1": {}, "a2": {"reachability_site": "lyon"}}}},
                    "vars": {"ansible_connection": "local"}}}


def test_merge_and_previous_refuse_bad_input(run_playbook, tmp_path):
    junk = tmp_path / "junk.json"
    junk.write_text(json.dumps({"schema": "other", "hosts": []}))
    dest = tmp_path / "out"
    run = run_playbook(_play([
        {"name": "nothing to merge", "mailfleet.outlook.fleet_report": {"dest": str(dest), "merge": [str(tmp_path / "slices" / "*")]},
         "run_once": True, "ignore_errors": True},
        {"name": "not a report", "mailfleet.outlook.fleet_report": {"dest": str(dest), "merge": [str(junk)]},
         "run_once": True, "ignore_errors": True},
        {"name": "previous not a report", "mailfleet.outlook.fleet_report": {"dest": str(dest), "previous": str(junk)},
         "run_once": True, "ignore_errors": True},
    ]), inventory=_inventory(), timeout=90)
    assert "slices/* matches no report file" in run.result(task="nothing to merge")["msg"]
    assert "junk.json is not a mailfleet fleet report" in run.result(task="not a report")["msg"]
    assert run.result(task="previous not a report")["msg"].startswith("fleet_report: previous: ")
    assert not dest.exists()


def test_merge_with_inventory_hosts_and_sites(run_playbook, tmp_path):
    part = tmp_path / "slices" / "one"
    fr.write_report(fr.build_report(["a1"], {"a1": {"required": ["smtp"], "endpoints": [
        {"name": "smtp", "ok": True, "diagnosis": {"code": "ok"}}]}}), str(part))
    run = run_playbook(_play([
        {"name": "merge", "mailfleet.outlook.fleet_report": {
            "dest": str(tmp_path), "merge": [str(tmp_path / "slices" / "*" / "report.json")],
            "hosts": "{{ ansible_play_hosts_all }}", "previous": str(tmp_path / "report.json")},
         "run_once": True, "register": "merged"},
    ]), inventory=_inventory(), timeout=90).assert_ok()
    result = run.result(task="merge")
    assert result["summary"]["by_site"] == {
        "lyon": {"hosts": 1, "ok": 0, "failing": 0, "unreachable": 0, "not_run": 1, "basic_auth": 0},
        "site_paris": {"hosts": 1, "ok": 1, "failing": 0, "unreachable": 0, "not_run": 0, "basic_auth": 0}}
    assert result["hosts_failing"] == ["a2"] and result["trend"] is None and len(result["sources"]) == 1
    assert result["stats"]["paths"]["junit"] == str(tmp_path / "report.xml")
