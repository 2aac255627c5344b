# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""report.xml: the fleet report as JUnit XML (what CI systems read), from the report model of ``_fleet_report``.

Every value goes through ``xml_value`` and, at the end, ``xml_scrub`` (a hostile banner cannot break the XML).
Extensions add suites through ``_fleet_report.JUNIT_HOOKS``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from xml.etree import ElementTree as ET

from ansible_collections.mailfleet.outlook.plugins.plugin_utils._fleet_report import JUNIT_HOOKS, summary_line, trend_line
from ansible_collections.mailfleet.outlook.plugins.plugin_utils._quote import xml_scrub


def xml_value(value):
    """Every attribute and text of report.xml goes through here (one place for XML value rules)."""
    return "" if value is None else str(value)


def seconds(ms):
    try:
        return "%.3f" % (float(ms) / 1000.0)
    except (TypeError, ValueError):
        return "0.000"


def element(parent, tag, text=None, **attrs):
    el = ET.SubElement(parent, tag, dict((k, xml_value(v)) for k, v in attrs.items()))
    if text is not None:
        el.text = xml_value(text)
    return el


def render_junit(report):
    """JUnit XML as CI systems read it: testsuites > testsuite > testcase > failure|error (message, type).

    One test case per host x endpoint. A failing endpoint is a <failure>; a host Ansible could not reach,
    or that never ran the probe, is an <error> (the check could not be made). A failing endpoint that the
    host does not need is reported as passed with the diagnosis in <system-out>.
    """
    s = report["summary"]
    root = ET.Element("testsuites", name=xml_value(report["title"]))
    suite = element(root, "testsuite", name="mailfleet.outlook.reachability", timestamp=report["generated"][:19],
                    hostname="controller")
    props = element(suite, "properties")
    element(props, "property", name="summary", value=summary_line(report))
    element(props, "property", name="basic_auth_deadline", value=s["basic_auth_deadline"])
    if report.get("trend"):
        element(props, "property", name="trend", value=trend_line(report))
        for key, n in report["trend"]["counts"].items():
            element(props, "property", name="trend_" + key, value=n)
    tests = failures = errors = 0
    total = 0.0
    for row in report["hosts"]:
        classname = "reachability.%s" % row["host"]
        for c in row["endpoints"]:
            tests += 1
            t = (c.get("timings_ms") or {}).get("total", 0) or 0
            try:
                total += float(t) / 1000.0
            except (TypeError, ValueError):
                pass
            target = ""
            if c.get("host"):
                target = " (%s:%s %s)" % (c.get("host"), c.get("port"), c.get("security"))
            case = element(suite, "testcase", classname=classname, name="%s%s" % (c.get("name"), target),
                           time=seconds(t))
            status = c["status"]
            if status in ("ok", "na"):
                continue
            d = c["diagnosis"]
            detail = "host: %s\nendpoint: %s%s\ndiagnosis: %s\nmessage: %s\nhint: %s\nfailed stage: %s\n" % (
                row["host"], c.get("name"), target, d["code"], d["message"], d["hint"], c.get("failed_stage"))
            if status == "fail":
                failures += 1
                element(case, "failure", detail, message="%s: %s Hint: %s" % (d["code"], d["message"], d["hint"]),
                        type=d["code"])
            elif status in ("unreachable", "not_run"):
                errors += 1
                element(case, "error", detail, message="%s: %s" % (d["code"], d["message"]), type=d["code"])
            elif status in ("warn", "optional_fail"):
                element(case, "system-out", detail + "".join("warning: %s\n" % w for w in c.get("warnings") or []))
    for el in (suite, root):
        el.set("tests", str(tests))
        el.set("failures", str(failures))
        el.set("errors", str(errors))
        el.set("time", "%.3f" % total)
    suite.set("skipped", "0")
    # configuration drift: a second suite, one case per host that was checked
    drift_rows = [r for r in report["hosts"] if (r.get("drift") or {}).get("checked")]
    if drift_rows:
        ds = element(root, "testsuite", name="mailfleet.outlook.drift", timestamp=report["generated"][:19],
                     hostname="controller", tests=len(drift_rows), errors=0, skipped=0, time="0.000")
        nfail = 0
        for r in drift_rows:
            case = element(ds, "testcase", classname="drift.%s" % r["host"], name="configuration matches", time="0.000")
            if r["drift"].get("changed"):
                nfail += 1
                files = ", ".join(r["drift"].get("files") or []) or "see check-mode diff"
                element(case, "failure", r["drift"].get("msg") or "", message="configuration drift: %s" % files,
                        type="drift")
        ds.set("failures", str(nfail))
        root.set("tests", str(tests + len(drift_rows)))
        root.set("failures", str(failures + nfail))
    for hook in JUNIT_HOOKS:
        hook(root, report)
    # one element per line: readable, and much cheaper than ElementTree.indent at thousands of cases; server text
    # is hostile: every character XML 1.0 forbids (U+FFFE, lone surrogates, C0 controls) in a text or attribute
    # becomes U+FFFD, so report.xml always parses (ElementTree would write them as they are)
    for el in root.iter():
        el.text = xml_scrub(el.text)
        for key, value in el.attrib.items():
            el.set(key, xml_scrub(value))
        if len(el):
            el.text = (el.text or "") + "\n"
        el.tail = "\n"
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")
