# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""check.yml against a real fleet of network namespaces over SSH (fixtures in conftest.py): the right
diagnosis per host in the JSON and JUnit reports and in the HTML report (headless Chromium); nothing
changed on any host, in normal and in check mode."""

import importlib.util
import json
import os

import pytest

from mailfleet_testing import AnsibleRunner, make_env

pytestmark = [pytest.mark.netns, pytest.mark.timeout(600)]

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
LAB_NAME = "lab.fleet.test"
OUTPUT = os.path.join(REPO, "tests", "output", "fleet")
CHECK = os.path.join(REPO, "playbooks", "check.yml")


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


from mailfleet_testing import chromium_cdp as cdp  # noqa: E402

EXPECTED_SMTP = {"good": "ok", "blocked": "connect_timeout", "refused": "connect_refused", "badcert": "cert_untrusted"}
EXPECTED_STATUS = {"good": "ok", "blocked": "failing", "refused": "failing", "badcert": "failing", "offline": "unreachable"}
# IMAP and POP (implicit TLS, reachability_include_incoming) pass everywhere: only 25/587 are blocked.
EXPECTED_CELLS = {
    ("good", "smtp"): "st-ok", ("good", "imap"): "st-ok", ("good", "pop"): "st-ok", ("good", "connector"): "st-ok",
    ("blocked", "smtp"): "st-fail", ("blocked", "imap"): "st-ok", ("blocked", "pop"): "st-ok",
    ("blocked", "connector"): "st-optional_fail",
    ("refused", "smtp"): "st-fail", ("refused", "imap"): "st-ok", ("refused", "pop"): "st-ok",
    ("refused", "connector"): "st-ok",
    ("badcert", "smtp"): "st-fail", ("badcert", "imap"): "st-ok", ("badcert", "pop"): "st-ok",
    ("badcert", "connector"): "st-ok",
    ("offline", "smtp"): "st-unreachable", ("offline", "imap"): "st-unreachable", ("offline", "pop"): "st-unreachable",
    ("offline", "connector"): "st-unreachable",
}


def _run(fleet_inventory, tmp_path_factory, name, check=False, extra_vars=None):
    work = tmp_path_factory.mktemp(name)
    local_tmp = work / "ansible-local"
    local_tmp.mkdir()
    report_dir = work / "report"
    runner = AnsibleRunner(make_env(local_tmp), work)
    run = runner.playbook(CHECK, inventory=fleet_inventory, check=check, timeout=300,
                          extra_vars=extra_vars, env={"MAILFLEET_REPORT_DIR": str(report_dir)})
    return run, report_dir


@pytest.fixture(scope="module")
def normal_run(fleet_inventory, tmp_path_factory):
    return _run(fleet_inventory, tmp_path_factory, "check-normal")


@pytest.fixture(scope="module")
def check_mode_run(fleet_inventory, tmp_path_factory):
    return _run(fleet_inventory, tmp_path_factory, "check-checkmode", check=True)


def _report(report_dir):
    with open(os.path.join(str(report_dir), "report.json")) as f:
        return json.load(f)


def _assert_diagnoses(report):
    hosts = dict((h["host"], h) for h in report["hosts"])
    assert sorted(hosts) == sorted(EXPECTED_STATUS)
    assert dict((h, hosts[h]["status"]) for h in hosts) == EXPECTED_STATUS
    for host, code in EXPECTED_SMTP.items():
        smtp = [e for e in hosts[host]["endpoints"] if e["name"] == "smtp"][0]
        assert smtp["diagnosis"]["code"] == code, (host, smtp)
    # the ISP block costs the timeout once, not more: connect_timeout within 4 s + margin
    blocked = [e for e in hosts["blocked"]["endpoints"] if e["name"] == "smtp"][0]
    assert blocked["failed_stage"] == "connect" and blocked["timings_ms"]["total"] < 6000
    refused = [e for e in hosts["refused"]["endpoints"] if e["name"] == "smtp"][0]
    assert refused["failed_stage"] == "connect"
    good = [e for e in hosts["good"]["endpoints"] if e["name"] == "smtp"][0]
    assert good["tls"]["version"] in ("TLSv1.2", "TLSv1.3") and good["tls"]["cert"]["days_left"] > 0
    imap = [e for e in hosts["blocked"]["endpoints"] if e["name"] == "imap"][0]
    assert imap["ok"] and imap["security"] == "tls" and LAB_NAME in imap["tls"]["cert"]["san"], imap
    assert "Ansible could not reach" in hosts["offline"]["msg"] or "ssh" in hosts["offline"]["msg"].lower()
    s = report["summary"]
    assert (s["ok"], s["failing"], s["unreachable"], s["not_run"]) == (1, 3, 1, 0)
    assert s["by_diagnosis"] == {"cert_untrusted": 1, "connect_refused": 1, "connect_timeout": 1}
    # the relay of "refused" still uses password auth against a profile that emulates Microsoft 365
    assert [(b["host"], b["variable"], b["deadline"]) for b in report["basic_auth"]] == [("refused", "relay_auth_method", "2026-12-31")]


def _assert_nothing_changed(run):
    assert run.json is not None, run.describe()
    for host, stats in run.stats.items():
        assert stats.get("changed", 0) == 0, (host, stats)
    assert [t for t in run.tasks if (t.get("result") or {}).get("changed")] == []


def test_check_yml_diagnoses_each_host(normal_run):
    run, report_dir = normal_run
    assert run.returncode == 2, run.describe()   # the failing and unreachable hosts fail (reachability_fail default)
    _assert_diagnoses(_report(report_dir))
    failed = sorted(h for h, st in run.stats.items() if st.get("failures", st.get("failed", 0)))
    assert failed == ["badcert", "blocked", "offline", "refused"], run.stats
    _assert_nothing_changed(run)
    assert "report: %s" % os.path.join(str(report_dir), "report.html") in run.stdout


def test_check_mode_changes_nothing_and_agrees(check_mode_run):
    run, report_dir = check_mode_run
    assert run.returncode == 2, run.describe()
    _assert_diagnoses(_report(report_dir))
    _assert_nothing_changed(run)


def test_report_only_mode_exits_zero(fleet_inventory, tmp_path_factory):
    run, report_dir = _run(fleet_inventory, tmp_path_factory, "check-report-only", extra_vars={"reachability_fail": False})
    assert run.returncode == 0, run.describe()
    _assert_diagnoses(_report(report_dir))
    _assert_nothing_changed(run)


def test_junit_report(normal_run):
    lxml_etree = pytest.importorskip("lxml.etree", reason="lxml (requirements/dev.txt) validates the JUnit XML")
    report_dir = normal_run[1]
    schema = lxml_etree.XMLSchema(lxml_etree.parse(os.path.join(REPO, "tests", "unit", "report", "junit.xsd")))
    doc = lxml_etree.parse(os.path.join(str(report_dir), "report.xml"))
    assert schema.validate(doc), schema.error_log
    suite = doc.find("testsuite[@name='mailfleet.outlook.reachability']")
    cases = dict(((c.get("classname").split(".", 1)[1], c.get("name").split(" ")[0]), c) for c in suite.findall("testcase"))
    assert sorted(cases) == sorted(EXPECTED_CELLS)
    for host, code in EXPECTED_SMTP.items():
        case = cases[(host, "smtp")]
        if code == "ok":
            assert case.find("failure") is None and case.find("error") is None
        else:
            failure = case.find("failure")
            assert failure.get("type") == code and failure.get("message").startswith(code + ": ")
            assert "Hint: " in failure.get("message")
    assert cases[("offline", "smtp")].find("error").get("type") == "host_unreachable"
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("20", "3", "4")


def test_html_report_in_chromium(normal_run, tmp_path):
    report_dir = normal_run[1]
    try:
        cdp.chromium_binary()
    except cdp.ChromiumMissing as e:
        pytest.fail(str(e))   # CI installs chromium (scripts/apt-packages.txt): no skip here
    os.makedirs(OUTPUT, exist_ok=True)
    with cdp.Chromium(str(tmp_path / "chromium")) as chromium:
        dt = chromium.open(os.path.join(str(report_dir), "report.html"))
        assert chromium.errors() == []
        assert chromium.cells() == EXPECTED_CELLS
        summary = dt.evaluate("document.getElementById('summary').textContent")
        assert summary.startswith("5 hosts: 1 ok, 3 failing (cert_untrusted: 1, connect_refused: 1, connect_timeout: 1)")
        titles = dt.evaluate("Array.from(document.querySelectorAll('#grid td.st-fail')).map(function(td){return td.title})")
        assert all("Hint: " in t for t in titles), titles
        assert dt.evaluate("document.querySelectorAll('#basic-auth tr.basic-auth-row').length") == 1
        png = chromium.screenshot(os.path.join(OUTPUT, "fleet-report.png"))
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        assert chromium.errors() == []
    # keep the reports next to the screenshot for people reading CI artifacts
    for name in ("report.json", "report.xml", "report.html"):
        with open(os.path.join(str(report_dir), name), "rb") as src, open(os.path.join(OUTPUT, name), "wb") as dst:
            dst.write(src.read())
