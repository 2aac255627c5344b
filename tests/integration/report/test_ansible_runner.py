# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""check.yml through ansible-runner (the Python API AWX / Automation Platform run jobs with), with job slicing
simulated: three runs each limited to one slice of the inventory, each writing its report into its own slice
directory, then report_merge.yml. The artifacts directory of each run holds the published summary
(set_stats -> the playbook_on_stats event's artifact_data), the JUnit path is printed, and the merged report
is whole: the same as the report of one run over the whole inventory."""

import glob
import json

import pytest

from mailfleet_testing import REPO_ROOT, make_env
from mailfleet_testing.local_fleet import assert_report_matches, essence, local_fleet

ansible_runner = pytest.importorskip("ansible_runner", reason="ansible-runner (requirements/dev.txt) runs the jobs")

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]

HOSTS = 24
SLICES = 3
CHECK = str(REPO_ROOT / "playbooks" / "check.yml")
MERGE = str(REPO_ROOT / "playbooks" / "report_merge.yml")


def _run(tmp_path, name, playbook, inventory_path, extravars, limit=None):
    """One ansible-runner job in its own private data directory, as AWX gives each job (no process isolation)."""
    pdd = tmp_path / name
    (pdd / "inventory").mkdir(parents=True)
    local_tmp = tmp_path / ("%s-local" % name)
    local_tmp.mkdir()
    env = make_env(local_tmp)
    for key in ("ANSIBLE_CALLBACK_PLUGINS", "ANSIBLE_CALLBACKS_ENABLED"):   # runner brings its own event callback
        env.pop(key)
    env.pop("MAILFLEET_REPORT_DIR", None)
    result = ansible_runner.run(private_data_dir=str(pdd), playbook=playbook, inventory=str(inventory_path),
                                extravars=extravars, limit=limit, envvars=env, quiet=True, timeout=300, ident=name)
    events = []
    for path in sorted(glob.glob(str(pdd / "artifacts" / name / "job_events" / "*.json"))):
        with open(path) as f:
            events.append(json.load(f))
    stdout = (pdd / "artifacts" / name / "stdout").read_text(errors="replace")
    return result, events, stdout


def _published(events):
    stats = [e for e in events if e.get("event") == "playbook_on_stats"]
    assert len(stats) == 1, [e.get("event") for e in events][-5:]
    return stats[0]["event_data"]["artifact_data"]["mailfleet_report"]


def test_sliced_job_through_ansible_runner_merges_whole(lab, closed_port, tmp_path):
    inventory, kinds = local_fleet(lab, HOSTS, closed_port)
    inventory_path = tmp_path / "hosts.json"
    inventory_path.write_text(json.dumps(inventory))
    report_dir = tmp_path / "reports"   # the persistent report directory (a volume mounted into the EE in AWX)
    hosts = sorted(kinds)
    common = {"reachability_report_dir": str(report_dir), "reachability_fail": False}

    # one job over the whole inventory, for comparison
    result, events, stdout = _run(tmp_path, "whole", CHECK, inventory_path,
                                  dict(common, reachability_report_dir=str(tmp_path / "whole-report")))
    assert result.rc == 0, stdout[-3000:]
    whole = json.loads((tmp_path / "whole-report" / "report.json").read_text())
    assert_report_matches(whole, kinds)

    # the slices: what AWX does with job_slice_count 3 (each job sees a third of the inventory)
    for n in range(SLICES):
        part = hosts[n::SLICES]
        name = "slice%d" % (n + 1)
        result, events, stdout = _run(tmp_path, name, CHECK, inventory_path,
                                      dict(common, reachability_report_slice=name), limit=",".join(part))
        assert result.rc == 0 and result.status == "successful", stdout[-3000:]
        published = _published(events)
        assert published["slice"] == name and published["hosts"] == len(part)
        assert sorted(published["failing_hosts"]) == sorted(h for h in part if kinds[h] != "ok")
        assert sorted(published["basic_auth_hosts"]) == sorted(h for h in part if int(h[2:]) % 3 == 0)
        assert published["paths"]["junit"] == str(report_dir / "slices" / name / "report.xml")
        assert "junit: %s" % published["paths"]["junit"] in stdout
        assert (report_dir / "slices" / name / "report.xml").exists()

    # the merge node of the workflow: the whole inventory, no connection to any host
    result, events, stdout = _run(tmp_path, "merge", MERGE, inventory_path, common)
    assert result.rc == 0, stdout[-3000:]
    merged = json.loads((report_dir / "report.json").read_text())
    assert len(merged["sources"]) == SLICES
    assert_report_matches(merged, kinds)
    assert essence(merged) == essence(whole)
    published = _published(events)
    assert (published["hosts"], published["ok"], published["failing"], published["unreachable"]) == (
        whole["summary"]["hosts"], whole["summary"]["ok"], whole["summary"]["failing"], whole["summary"]["unreachable"])
    assert len(published["sources"]) == SLICES and "trend" not in published   # the first merged report: no trend yet
    assert "junit: %s" % (report_dir / "report.xml") in stdout
    assert not [e for e in events if e.get("event") == "runner_on_ok" and e["event_data"].get("task_action") == "mailfleet.outlook.smtp_check"]

    # the next run of the workflow: the merged report of the last run is the previous one (trend, all three files)
    result, events, stdout = _run(tmp_path, "merge2", MERGE, inventory_path, common)
    assert result.rc == 0, stdout[-3000:]
    trend = _published(events)["trend"]
    assert (trend["new_failures"], trend["fixed"], trend["new_basic_auth"]) == (0, 0, 0)
    assert 'name="trend_new_failures" value="0"' in (report_dir / "report.xml").read_text()
