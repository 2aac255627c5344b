# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The report's "How each host sends today" section: exposure figure, JSON, JUnit (schema-valid), HTML by verdict."""

import os

import pytest

from ansible_collections.mailfleet.outlook.plugins.plugin_utils import _fleet_report as fr
from ansible_collections.mailfleet.outlook.plugins.plugin_utils import _senders_report as sr
from mailfleet_testing.senders import CANARY, FakeRoot

pytestmark = [pytest.mark.timeout(60), pytest.mark.core_independent]
sr.register()
XSD = os.path.join(os.path.dirname(__file__), "..", "report", "junit.xsd")


@pytest.fixture
def fleet_results(tmp_path):
    """Three hosts discovered for real (scratch roots): Postfix with Basic auth (not managed), a managed relay with
    Basic auth, msmtp with OAuth2; a fourth host whose discovery failed; a fifth Ansible could not reach."""
    results = {}
    a = FakeRoot(tmp_path / "a")
    a.write("/etc/postfix/main.cf", "relayhost = [smtp.office365.com]:587\nsmtp_sasl_auth_enable = yes\n"
                                    "smtp_sasl_password_maps = hash:/etc/postfix/sasl_passwd\nsmtp_tls_security_level = secure\n")
    a.write("/etc/postfix/sasl_passwd", "[smtp.office365.com]:587 a@contoso.com:%s\n" % CANARY, mode=0o600)
    a.write("/etc/app/mail.env", "SMTP_HOST=smtp.office365.com\nSMTP_PASS=%s\n" % CANARY, mode=0o600)
    b = FakeRoot(tmp_path / "b")
    b.write("/etc/postfix/main.cf", "# Managed by Ansible (mailfleet.outlook.mail_config, format postfix_relay): x\n"
                                    "relayhost = [smtp.office365.com]:587\nsmtp_sasl_auth_enable = yes\n"
                                    "smtp_sasl_password_maps = hash:/etc/postfix/sasl_passwd\nsmtp_tls_security_level = secure\n")
    b.write("/etc/postfix/sasl_passwd", "[smtp.office365.com]:587 b@contoso.com:%s\n" % CANARY, mode=0o600)
    c = FakeRoot(tmp_path / "c")
    c.write("/etc/msmtprc", "account o\nhost smtp.office365.com\nport 587\ntls on\nauth xoauth2\nuser c@contoso.com\n"
                            "passwordeval \"/usr/local/bin/token\"\n")
    for name, root in (("a-pfx", a), ("b-managed", b), ("c-oauth", c)):
        results[name] = {"profile": "microsoft365", "endpoints": [], "senders": root.discover()}
    results["d-broken"] = {"profile": "microsoft365", "endpoints": [], "senders": None, "senders_error": "module failure"}
    results["e-offline"] = {"profile": "microsoft365", "unreachable": True, "msg": "ssh: connect timed out"}
    return results


def test_exposure_counts_hosts_and_files_managed_or_not(fleet_results):
    report = fr.build_report(sorted(fleet_results), fleet_results, generated="2026-12-01T10:00:00+00:00")
    e = report["senders"]["exposure"]
    assert e["hosts"] == ["a-pfx", "b-managed"] and e["managed_hosts"] == ["b-managed"] and e["unmanaged_hosts"] == ["a-pfx"]
    assert sorted((f["host"], f["file"]) for f in e["files"]) == [
        ("a-pfx", "/etc/app/mail.env"), ("a-pfx", "/etc/postfix/main.cf"), ("b-managed", "/etc/postfix/main.cf")]
    s = report["summary"]["basic_auth_exposure"]
    assert (s["hosts"], s["files"], s["managed_hosts"], s["unmanaged_hosts"], s["hosts_scanned"]) == (2, 3, 1, 1, 3)
    assert report["senders"]["not_scanned"] == [{"host": "d-broken", "reason": "module failure"}]
    assert "Basic-auth exposure: 2 hosts, 3 files (1 managed, 1 not managed by this collection; deadline 2026-12-31)" in fr.summary_line(report)
    managed = [r for r in sr.sender_rows(report) if r["host"] == "b-managed"][0]
    assert managed["fix"].startswith("set relay_auth_method: oauth2")
    assert CANARY not in fr.render_json(report) + fr.render_junit(report) + fr.render_html(report)


def test_junit_suite(fleet_results):
    lxml_etree = pytest.importorskip("lxml.etree")
    report = fr.build_report(sorted(fleet_results), fleet_results, generated="2026-12-01T10:00:00+00:00")
    doc = lxml_etree.fromstring(fr.render_junit(report).encode())
    schema = lxml_etree.XMLSchema(lxml_etree.parse(XSD))
    assert schema.validate(doc), schema.error_log
    suite = doc.find("testsuite[@name='mailfleet.outlook.senders']")
    cases = suite.findall("testcase")
    failed = sorted((c.get("classname"), c.find("failure").get("type")) for c in cases if c.find("failure") is not None)
    assert failed == [("senders.a-pfx", "stops"), ("senders.a-pfx", "stops"), ("senders.b-managed", "stops")]
    assert suite.get("tests") == str(len(cases)) == "4" and suite.get("failures") == "3"
    assert int(doc.get("failures")) >= 3


def test_html_groups_by_verdict_and_escapes(fleet_results):
    fleet_results["a-pfx"]["senders"]["senders"][0]["account"] = "<script>alert(1)</script>"
    report = fr.build_report(sorted(fleet_results), fleet_results, generated="2026-12-01T10:00:00+00:00")
    page = fr.render_html(report)
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    section = sr.section_html(report)
    assert section.index('data-verdict="stops"') < section.index('data-verdict="ok"')
    assert 'id="basic-auth-exposure" class="exposure" data-hosts="2" data-files="3"' in section
    assert section.count('class="exposure-row"') == 3 and section.count('class="sender-row"') == 4
    assert "relay_auth_method: oauth2" in section     # the adoption proposal, printed
    assert 'd-broken: not scanned (module failure)' in section


def test_no_senders_anywhere_keeps_the_report_as_before():
    results = {"h": {"profile": "lab", "endpoints": []}}
    report = fr.build_report(["h"], results, generated="2026-12-01T10:00:00+00:00")
    assert sr.section_html(report) == "" and "exposure" not in fr.summary_line(report)
    assert "senders" not in report and "basic_auth_exposure" not in report["summary"]
    assert "mailfleet.outlook.senders" not in fr.render_junit(report)


def test_merged_slices_keep_the_section(fleet_results):
    """Slices of one fleet merged: the same exposure as one run (the findings travel in the host rows)."""
    names = sorted(fleet_results)
    whole = fr.build_report(names, fleet_results, generated="2026-12-01T10:00:00+00:00")
    parts = [fr.build_report(names[:2], dict((n, fleet_results[n]) for n in names[:2]), generated="2026-12-01T10:00:00+00:00"),
             fr.build_report(names[2:], dict((n, fleet_results[n]) for n in names[2:]), generated="2026-12-01T10:00:00+00:00")]
    import json
    merged = fr.merge_reports([json.loads(fr.render_json(p)) for p in parts], generated="2026-12-01T10:00:00+00:00")
    assert merged["senders"]["exposure"] == whole["senders"]["exposure"]
    assert merged["summary"]["basic_auth_exposure"] == whole["summary"]["basic_auth_exposure"]


def test_hostile_values_cannot_forge_lines_or_markup(fleet_results):
    """A sender config is hostile data: a newline, control characters and HTML in an account or file name."""
    finding = fleet_results["a-pfx"]["senders"]["senders"][0]
    finding["account"] = "evil\nfailures: 0\x1b[2J<img src=x onerror=alert(1)>"
    finding["file"] = "/etc/postfix/main.cf\n<b>x</b>"
    report = fr.build_report(sorted(fleet_results), fleet_results, generated="2026-12-01T10:00:00+00:00")
    page = fr.render_html(report)
    assert "<img src=x" not in page and "<b>x</b>" not in page and "&lt;img src=x" in page
    xml = fr.render_junit(report)
    from xml.etree import ElementTree as ET
    doc = ET.fromstring(xml.encode())      # still well-formed XML
    failure = [c for c in doc.iter("testcase") if c.get("classname") == "senders.a-pfx" and "main.cf" in c.get("name")][0]
    assert "\n" not in failure.get("name") and "\x1b" not in xml
    assert "\naccount: evil\n" not in failure.find("failure").text     # no forged "failures: 0" line
    assert "\n" not in fr.summary_line(report)


def test_html_caps_rows_and_says_how_many_more(fleet_results, monkeypatch):
    """At thousands of hosts the page keeps a bounded number of rows per verdict and says where the rest is."""
    monkeypatch.setattr(sr, "HTML_ROWS_PER_VERDICT", 1)
    monkeypatch.setattr(sr, "HTML_EXPOSURE_FILES", 2)
    report = fr.build_report(sorted(fleet_results), fleet_results, generated="2026-12-01T10:00:00+00:00")
    section = sr.section_html(report)
    assert section.count('class="exposure-row"') == 2 and 'data-more="1">and 1 more files' in section
    stops = section[section.index('data-verdict="stops"'):]
    stops = stops[:stops.index('<details class="senders-group"')]     # up to the next verdict group (ok)
    assert stops.count('class="sender-row"') == 1 and 'data-more="2">and 2 more findings with this verdict' in stops
    assert len(sr.sender_rows(report)) == 4 and report["senders"]["exposure"]["files_count"] == 3   # the data is whole
