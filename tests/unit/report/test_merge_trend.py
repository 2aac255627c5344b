"""Merging the reports of slices gives the report of one run; the trend against a previous report; the command
line that merges without Ansible."""
import copy
import datetime
import json
import os
import subprocess
import sys

import pytest

from ansible_collections.mailfleet.outlook.plugins.plugin_utils import _fleet_report as fr
from mailfleet_testing import COLLECTIONS_PATH
from mailfleet_testing.fleet_results import fleet

lxml_etree = pytest.importorskip("lxml.etree", reason="lxml (requirements/dev.txt) reads the JUnit XML")

pytestmark = [pytest.mark.timeout(60), pytest.mark.core_independent]

GENERATED = "2026-12-01T06:00:00+00:00"
TODAY = datetime.date(2026, 12, 1)


def _fleet():
    hosts, results, inventory = fleet(300, seed=3)
    # columns that only one slice sees, and plan-less hosts in the others: their cells must follow the merged columns
    probed = [h for h in hosts if results[h] and results[h]["endpoints"]]
    results["host-00007"] = copy.deepcopy(results[probed[0]])
    results["host-00007"]["endpoints"].append(dict(results["host-00007"]["endpoints"][0], name="mx", port=25))
    results["host-00008"] = None
    results["host-00009"] = {"required": ["smtp"], "planned": [], "endpoints": [], "probe_error": "invalid settings: x"}
    return hosts, results, inventory


def _round_trip(report):
    return json.loads(fr.render_json(report))


def _slices(hosts, n):
    return [hosts[i::n] for i in range(n)]


def test_three_slices_merge_into_the_report_of_one_run():
    hosts, results, inventory = _fleet()
    whole = fr.build_report(hosts, results, inventory=inventory, generated=GENERATED, today=TODAY)
    parts = [_round_trip(fr.build_report(s, results, inventory=inventory, generated=GENERATED, today=TODAY))
             for s in _slices(hosts, 3)]
    assert len(set(tuple(p["columns"]) for p in parts)) > 1   # the slices really differ
    merged = fr.merge_reports(parts, generated=GENERATED, today=TODAY, names=["s1", "s2", "s3"])
    assert [s["report"] for s in merged.pop("sources")] == ["s1", "s2", "s3"]
    assert _round_trip(merged) == _round_trip(whole)
    assert fr.render_junit(merged) == fr.render_junit(whole)
    assert "mx" in whole["columns"]
    never = [r for r in whole["hosts"] if r["host"] == "host-00008"][0]
    assert [c["name"] for c in never["endpoints"]] == whole["columns"]


def test_contiguous_slices_and_order_do_not_matter():
    hosts, results, inventory = _fleet()
    whole = _round_trip(fr.build_report(hosts, results, inventory=inventory, generated=GENERATED, today=TODAY))
    parts = [_round_trip(fr.build_report(hosts[a:b], results, inventory=inventory, generated=GENERATED, today=TODAY))
             for a, b in ((200, 300), (0, 57), (57, 200))]
    merged = fr.merge_reports(parts, generated=GENERATED, today=TODAY)
    merged.pop("sources")
    assert _round_trip(merged) == whole


def test_host_in_two_reports_and_hosts_in_none():
    hosts, results, inventory = _fleet()
    probed = [h for h in hosts if results[h] and results[h]["endpoints"]][0]
    a = _round_trip(fr.build_report([probed, "host-00002"], {}, generated="2026-12-01T07:00:00+00:00"))   # not run
    b = _round_trip(fr.build_report([probed], results, generated="2026-12-01T06:00:00+00:00"))
    merged = fr.merge_reports([a, b], hosts=[probed, "host-00002", "lost-host"])
    rows = dict((r["host"], r) for r in merged["hosts"])
    assert rows[probed] == b["hosts"][0]   # the probe result wins over the newer "not run"
    assert rows["host-00002"]["status"] == "not_run" and rows["host-00002"]["msg"] == fr.NOT_RUN_MSG
    assert rows["lost-host"]["status"] == "not_run" and rows["lost-host"]["msg"] == fr.NOT_IN_SLICES_MSG
    assert [s["hosts"] for s in merged["sources"]] == [2, 1]


def test_bad_reports_are_refused_with_the_file_named(tmp_path):
    bad = tmp_path / "report.json"
    bad.write_text(json.dumps({"schema": "something/else", "hosts": []}))
    with pytest.raises(fr.ReportError, match=r"report.json is not a mailfleet fleet report"):
        fr.load_report(str(bad))
    bad.write_text("{not json")
    with pytest.raises(fr.ReportError, match="is not a JSON report"):
        fr.load_report(str(bad))
    bad.write_text(json.dumps({"schema": fr.SCHEMA, "hosts": [{"host": "a", "status": "exploded"}]}))
    with pytest.raises(fr.ReportError, match="unknown status"):
        fr.load_report(str(bad))
    with pytest.raises(fr.ReportError, match="matches no report file"):
        fr.report_paths([str(tmp_path / "slices" / "*" / "report.json")])


def _previous_and_now():
    hosts, results, inventory = fleet(60, seed=5)
    before = copy.deepcopy(results)
    now = copy.deepcopy(results)
    ok_hosts = [h for h in hosts if results[h] and not results[h]["unreachable"] and results[h]["endpoints"]
                and results[h]["endpoints"][0]["ok"]]
    bad_hosts = [h for h in hosts if results[h] and results[h]["endpoints"] and not results[h]["endpoints"][0]["ok"]]
    broken, repaired, exposed = ok_hosts[0], bad_hosts[0], ok_hosts[1]
    now[broken]["endpoints"][0].update(ok=False, diagnosis={"code": "connect_refused", "message": "refused", "hint": "h"})
    now[repaired]["endpoints"][0].update(ok=True, diagnosis={"code": "ok", "message": "", "hint": ""})
    now[exposed]["basic_auth"] = now[exposed]["basic_auth"] + [
        {"component": "client alice <alice@contoso.com>", "variable": "client_accounts[0].auth_method",
         "profile": "microsoft365", "fix": "set auth_method: oauth2"}]
    previous = _round_trip(fr.build_report(hosts, before, inventory=inventory, generated="2026-11-30T06:00:00+00:00"))
    report = fr.build_report(hosts + ["new-host"], now, inventory=inventory, generated=GENERATED, previous=previous)
    return report, broken, repaired, exposed


def test_trend_in_json_junit_and_html():
    report, broken, repaired, exposed = _previous_and_now()
    t = report["trend"]
    assert t["previous_generated"] == "2026-11-30T06:00:00+00:00"
    assert [(i["host"], i["was"], i["codes"]) for i in t["new_failures"]] == [(broken, "ok", ["connect_refused"])]
    assert [i["host"] for i in t["fixed"]] == [repaired]
    assert [(i["host"], i["variable"]) for i in t["new_basic_auth"]] == [(exposed, "client_accounts[0].auth_method")]
    assert t["hosts_added"] == ["new-host"] and t["hosts_removed"] == []
    assert t["counts"]["new_failures"] == 1 and t["counts"]["fixed"] == 1 and t["counts"]["new_basic_auth"] == 1
    assert json.loads(fr.render_json(report))["trend"] == t
    doc = lxml_etree.fromstring(fr.render_junit(report).encode())
    props = dict((p.get("name"), p.get("value")) for p in doc.iter("property"))
    assert props["trend"] == ("since 2026-11-30T06:00:00+00:00: 1 new failure, 1 fixed host, 1 new Basic auth exposure, "
                              "1 hosts added, 0 removed")
    assert (props["trend_new_failures"], props["trend_fixed"], props["trend_new_basic_auth"]) == ("1", "1", "1")
    page = fr.render_html(report)
    assert '<p id="trend" data-new-failures="1" data-fixed="1" data-new-basic-auth="1">' in page
    assert broken in page.split('id="trend-new-failures"', 1)[1].split("</details>", 1)[0]
    assert exposed in page.split('id="trend-new-basic-auth"', 1)[1].split("</details>", 1)[0]


def test_no_trend_without_previous(sample):
    hosts, results = sample
    report = fr.build_report(hosts, results)
    assert "trend" not in report and fr.trend_line(report) == ""
    assert 'id="trend"' not in fr.render_html(report) and 'name="trend"' not in fr.render_junit(report)


def test_command_line_merges_without_ansible(tmp_path):
    """python3 -S (no site-packages, so no ansible) with only the collections path: the merged files equal one run's."""
    hosts, results, inventory = _fleet()
    whole = fr.build_report(hosts, results, inventory=inventory, generated=GENERATED)
    for i, part in enumerate(_slices(hosts, 3)):
        fr.write_report(fr.build_report(part, results, inventory=inventory, generated=GENERATED), str(tmp_path / "slices" / str(i)))
    (tmp_path / "hosts.txt").write_text("\n".join(hosts + ["lost-host"]) + "\n")
    env = {"PYTHONPATH": str(COLLECTIONS_PATH), "PATH": os.environ.get("PATH", "/usr/bin")}
    cmd = [sys.executable, "-S", "-m", "ansible_collections.mailfleet.outlook.plugins.plugin_utils._fleet_report_cli",
           "merge", "--dest", str(tmp_path / "merged"), "--hosts-file", str(tmp_path / "hosts.txt"),
           "--previous", str(tmp_path / "merged" / "report.json"), str(tmp_path / "slices" / "*" / "report.json")]
    probe = subprocess.run([sys.executable, "-S", "-c", "import ansible"], env=env, capture_output=True, check=False)
    assert probe.returncode != 0, "ansible must not be importable in this check"
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0, run.stderr
    merged = fr.load_report(str(tmp_path / "merged" / "report.json"))
    assert run.stdout.splitlines()[0] == fr.summary_line(merged)
    assert "not run (no result in any merged report, or failed earlier)" in run.stdout
    assert len(merged.pop("sources")) == 3
    lost = [r for r in merged["hosts"] if r["host"] == "lost-host"][0]
    assert lost["status"] == "not_run" and lost["msg"] == fr.NOT_IN_SLICES_MSG
    merged["hosts"].remove(lost)
    for key in ("generated", "summary"):
        merged.pop(key)
    expected = _round_trip(whole)
    for key in ("generated", "summary"):
        expected.pop(key)
    assert merged == expected
    # second run: the first merged report is the previous one, and nothing changed
    run = subprocess.run(cmd + ["--fail-on-failure"], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 2, run.stderr
    assert "0 new failures, 0 fixed hosts, 0 new Basic auth exposures" in run.stdout
    # bad input: exit 1, the file named
    (tmp_path / "junk.json").write_text("[]")
    run = subprocess.run(cmd[:-1] + [str(tmp_path / "junk.json")], env=env, capture_output=True, text=True, timeout=60,
                         check=False)
    assert run.returncode == 1 and "junk.json is not a mailfleet fleet report" in run.stderr
