import datetime
import json

import pytest

from ansible_collections.mailfleet.outlook.plugins.plugin_utils import _fleet_report as fr

pytestmark = [pytest.mark.timeout(30), pytest.mark.core_independent]


def build(sample, **kw):
    hosts, results = sample
    return fr.build_report(hosts, results, generated="2026-11-26T18:00:00+00:00",
                           today=datetime.date(2026, 11, 26), **kw)


def test_every_host_appears_with_its_status(sample):
    report = build(sample)
    status = dict((r["host"], r["status"]) for r in report["hosts"])
    assert status == {"good": "ok", "blocked": "failing", "refused": "failing", "badcert": "failing",
                      "gone": "unreachable", "never": "not_run"}
    # natural order of the names: the same in one run and in a merge of slices, whatever the play order
    assert [r["host"] for r in report["hosts"]] == ["badcert", "blocked", "gone", "good", "never", "refused"]


def test_natural_host_order_and_sites():
    hosts = ["ws10", "ws2", "WS1", "db1"]
    report = fr.build_report(hosts, {}, inventory={"ws10": {"groups": ["linux", "site_paris"]}, "ws2": {"site": "lyon"},
                                                   "WS1": {"groups": ["linux"]}})
    assert [r["host"] for r in report["hosts"]] == ["db1", "WS1", "ws2", "ws10"]
    assert dict((r["host"], r["site"]) for r in report["hosts"]) == {"ws10": "site_paris", "ws2": "lyon", "WS1": "linux",
                                                                     "db1": "ungrouped"}
    assert report["summary"]["by_site"]["site_paris"] == {"hosts": 1, "ok": 0, "failing": 0, "unreachable": 0,
                                                          "not_run": 1, "basic_auth": 0}


def test_summary_counts_and_diagnoses(sample):
    s = build(sample)["summary"]
    assert (s["hosts"], s["ok"], s["failing"], s["unreachable"], s["not_run"]) == (6, 1, 3, 1, 1)
    assert s["by_diagnosis"] == {"cert_untrusted": 1, "connect_refused": 1, "connect_timeout": 1}
    assert s["drift_hosts"] == ["blocked"]
    assert s["basic_auth_hosts"] == ["good"]
    assert s["basic_auth_deadline"] == "2026-12-31"
    assert s["days_to_basic_auth_deadline"] == 35


def test_cells_per_host_and_endpoint(sample):
    report = build(sample)
    assert report["columns"] == ["smtp", "imap"]
    cells = dict(((r["host"], c["name"]), c["status"]) for r in report["hosts"] for c in r["endpoints"])
    assert cells[("good", "smtp")] == "ok"
    assert cells[("good", "imap")] == "warn"            # certificate expiring: warning, not failure
    assert cells[("refused", "imap")] == "optional_fail"  # imap is not required by that host
    assert cells[("gone", "smtp")] == cells[("gone", "imap")] == "unreachable"
    assert cells[("never", "smtp")] == cells[("never", "imap")] == "not_run"
    assert ("blocked", "imap") not in cells


def test_basic_auth_rows_carry_deadline_and_variable(sample):
    report = build(sample)
    assert report["basic_auth"] == [{"component": "relay", "profile": "microsoft365", "variable": "relay_auth_method",
                                     "fix": "set relay_auth_method=oauth2", "deadline": "2026-12-31", "host": "good"}]


def test_json_round_trip(sample):
    report = build(sample)
    data = json.loads(fr.render_json(report))
    assert data["schema"] == fr.SCHEMA
    assert data == json.loads(json.dumps(report))


def test_summary_line_and_table(sample):
    report = build(sample)
    line = fr.summary_line(report)
    assert line.startswith("6 hosts: 1 ok, 3 failing (cert_untrusted: 1, connect_refused: 1, connect_timeout: 1)")
    assert "1 unreachable by Ansible" in line and "1 not run" in line and "Basic auth (deadline 2026-12-31)" in line
    table = fr.summary_table(report).splitlines()
    assert table[0].split() == ["host", "site", "status", "smtp", "imap"]
    assert table[3].split() == ["blocked", "ungrouped", "failing", "connect_timeout", "-"]
    assert table[4].split() == ["gone", "ungrouped", "unreachable", "host_unreachable", "host_unreachable"]
    short = fr.summary_table(report, limit=2).splitlines()
    assert len(short) == 2 + 2 + 1 and short[-1] == "... and 4 more hosts (see the report files)"
    assert all(line.split()[2] != "ok" for line in short[2:4])   # hosts that are not ok first


def test_probe_error_without_endpoints_is_failing():
    res = {"required": ["smtp"], "planned": [{"name": "smtp", "host": "h", "port": 587, "security": "starttls"}],
           "probe_error": "module crashed", "endpoints": []}
    report = fr.build_report(["h1"], {"h1": res})
    assert report["hosts"][0]["status"] == "failing"
    assert report["hosts"][0]["endpoints"][0]["diagnosis"]["code"] == "probe_error"


def test_empty_fleet_still_writes(tmp_path):
    report = fr.build_report([], {})
    paths = fr.write_report(report, str(tmp_path / "out"))
    assert sorted(paths) == ["html", "json", "junit"]
    assert json.loads(open(paths["json"]).read())["summary"]["hosts"] == 0


def test_deadline_and_stages_come_from_their_one_home():
    from ansible_collections.mailfleet.outlook.plugins.module_utils._catalog import BASIC_AUTH_RETIREMENT
    from ansible_collections.mailfleet.outlook.plugins.module_utils._diagnosis import STAGES
    assert fr.basic_auth_deadline() == BASIC_AUTH_RETIREMENT["disabled_by_default_from"]
    from ansible_collections.mailfleet.outlook.plugins.plugin_utils import _fleet_report_html as fh
    assert fh.STAGES is STAGES


def test_json_is_one_host_per_line(sample):
    report = build(sample)
    lines = fr.render_json(report).splitlines()
    assert len(lines) == len(report["hosts"]) + 2   # head, one line per host, closing line
    assert json.loads(lines[1].rstrip(","))["host"] == "badcert"


def test_stats_for_set_stats(sample):
    report = build(sample)
    st = fr.stats(report, {"junit": "/r/report.xml"})
    assert (st["hosts"], st["ok"], st["failing"], st["unreachable"], st["not_run"]) == (6, 1, 3, 1, 1)
    assert st["failing_hosts"] == ["badcert", "blocked", "gone", "never", "refused"]
    assert st["basic_auth_hosts"] == ["good"] and st["paths"]["junit"] == "/r/report.xml"
    assert json.loads(json.dumps(st)) == st
