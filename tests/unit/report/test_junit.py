"""The JUnit report validates against the common JUnit schema and carries the diagnosis per host x endpoint."""
import os

import pytest

from ansible_collections.mailfleet.outlook.plugins.plugin_utils import _fleet_report as fr

lxml_etree = pytest.importorskip("lxml.etree", reason="lxml (requirements/dev.txt) is needed to validate JUnit XML")

pytestmark = [pytest.mark.timeout(30), pytest.mark.core_independent]

XSD = os.path.join(os.path.dirname(__file__), "junit.xsd")


def schema():
    return lxml_etree.XMLSchema(lxml_etree.parse(XSD))


def validate(xml_text):
    doc = lxml_etree.fromstring(xml_text.encode("utf-8"))
    s = schema()
    assert s.validate(doc), s.error_log
    return doc


def test_schema_rejects_a_failure_without_message():
    bad = ('<testsuites><testsuite name="x" tests="1" failures="1" errors="0">'
           '<testcase name="a" classname="b"><failure type="t">no message</failure></testcase></testsuite></testsuites>')
    assert not schema().validate(lxml_etree.fromstring(bad))


def test_report_validates_and_counts(sample):
    hosts, results = sample
    report = fr.build_report(hosts, results)
    doc = validate(fr.render_junit(report))
    suite = doc.find("testsuite[@name='mailfleet.outlook.reachability']")
    cases = suite.findall("testcase")
    # one test case per host x endpoint: good 2, blocked 1, refused 2, badcert 1, gone 2 (plan), never 2 (columns)
    assert len(cases) == int(suite.get("tests")) == 10
    assert suite.get("failures") == "3"   # blocked, refused smtp, badcert (refused imap is optional)
    assert suite.get("errors") == "4"     # gone x2, never x2
    names = set((c.get("classname"), c.get("name").split(" ")[0]) for c in cases)
    assert ("reachability.never", "smtp") in names and ("reachability.gone", "imap") in names


def test_failure_carries_message_and_hint(sample):
    hosts, results = sample
    doc = validate(fr.render_junit(fr.build_report(hosts, results)))
    case = doc.find("testsuite/testcase[@classname='reachability.blocked']")
    failure = case.find("failure")
    assert failure.get("type") == "connect_timeout"
    assert failure.get("message").startswith("connect_timeout: no answer from 10.77.0.1:10587 within 5 s")
    assert "use 587" in failure.get("message")
    assert "hint: a firewall or the ISP drops this port" in failure.text
    bad = doc.find("testsuite/testcase[@classname='reachability.badcert']/failure")
    assert "<&>" in bad.get("message")   # escaped correctly, read back intact


def test_drift_suite(sample):
    hosts, results = sample
    doc = validate(fr.render_junit(fr.build_report(hosts, results)))
    drift = doc.find("testsuite[@name='mailfleet.outlook.drift']")
    assert drift.get("failures") == "1"
    assert drift.find("testcase[@classname='drift.blocked']/failure").get("message") == "configuration drift: /etc/postfix/main.cf"
