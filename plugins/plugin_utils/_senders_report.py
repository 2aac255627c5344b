# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet report's "How each host sends today" section and its Basic-auth exposure figure.

Input: each host's ``senders`` (what ``mailfleet.outlook.mail_senders_facts`` returned, recorded by the
reachability role in ``reachability_result.senders``). This module plugs into the report through its extension
points (``register()``, idempotent; the fleet_report action plugin and the command line call it):

- a host hook puts the host's findings, compacted, into its row (``row["senders"]``), so that merged reports
  (slices, parallel jobs) keep them;
- a summary hook derives the fleet's part from the rows on every assemble: ``report["senders"]`` (exposure: hosts
  and files, managed or not; counts by verdict; hosts not scanned, cut short, files not read) and
  ``summary["basic_auth_exposure"]``;
- a JUnit hook adds a ``mailfleet.outlook.senders`` suite, a summary line hook the exposure sentence;
- an HTML section, grouped by verdict (worst first).

Basic-auth exposure counts every sender and mention that logs in to Microsoft (or the lab, which rehearses it) with a
password, managed by this collection or not: the hosts, and the files that say so (host:file:line).

Every value comes from a host's files: hostile data. HTML escapes it (``_e``), JUnit goes through the report's
``xml_value`` of ``_fleet_report_junit`` (control characters replaced), text lines get ``_one_line``.

Controller side only; pure functions over plain data.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re

from ansible_collections.mailfleet.outlook.plugins.module_utils._senders._verdict import VERDICTS, VERDICT_TITLES
from ansible_collections.mailfleet.outlook.plugins.plugin_utils import _fleet_report as fr
from ansible_collections.mailfleet.outlook.plugins.plugin_utils import _fleet_report_junit as fr_junit

FAILING_VERDICTS = ("wrong", "stops", "blocked", "unsafe")
# Verdict groups the HTML shows open; the others are folded.
OPEN_VERDICTS = FAILING_VERDICTS + ("review",)
# Per host at most this many unreadable paths in the report (the host's own facts have them all).
UNREADABLE_PER_HOST = 50
# The HTML stays readable at thousands of hosts: at most this many rows per verdict group and exposure files (the
# page says how many more; report.json and report.xml have every one).
HTML_ROWS_PER_VERDICT = 500
HTML_EXPOSURE_FILES = 2000
_CONTROL = re.compile(u"[\x00-\x1f\x7f-\x9f\u2028\u2029]")

SENDERS_CSS = (
    "#section-senders h3{font-size:1em;margin:1em 0 .3em} .exposure{font-size:1.05em;padding:.5em .8em;background:#fce8e6;"
    "border-left:4px solid var(--fail)} .exposure.none{background:#e6f4ea;border-color:var(--ok)} table.senders td{font-size:.9em}"
    " table.senders td.fix{max-width:38em} .v-wrong,.v-stops{color:var(--fail);font-weight:600}"
    " .v-blocked,.v-unsafe{color:var(--opt);font-weight:600} .v-ok{color:var(--ok)} .v-review,.v-not_microsoft{color:#5f6368}"
    " details.adopt pre{margin:.2em 0;font-size:.85em;background:#f8f9fa;padding:.3em;white-space:pre-wrap}")


def _e(value):
    from ansible_collections.mailfleet.outlook.plugins.plugin_utils._fleet_report_html_parts import esc as escape
    return escape(value)


def _one_line(value):
    """A value from a host's file on one line of text (no newline, no control character can forge a line)."""
    return _CONTROL.sub(u"\ufffd", u"" if value is None else u"%s" % (value,))


def _security(f):
    sec = f.get("security")
    if not sec:
        return "unknown" if f.get("upstream") else "-"
    label = {"starttls": "STARTTLS", "tls": "implicit TLS", "none": "none"}.get(sec, sec)
    if sec == "starttls" and f.get("tls_required") is False:
        label += " (optional)"
    if sec != "none" and f.get("cert_check") is False:
        label += ", no certificate check"
    elif sec != "none" and f.get("cert_check"):
        label += ", certificate checked"
    return label


def _upstream(f):
    up = f.get("upstream") or {}
    if not up.get("host"):
        return "direct (MX of each recipient)" if f.get("route") == "direct" else "-"
    return "%s:%s" % (up["host"], up["port"] if up.get("port") is not None else "?")


def _secret(f):
    s = f.get("secret") or {}
    if not s.get("set"):
        return ""
    where = s.get("file") or {"keyring": "msmtp keyring/.netrc", "command": "a command"}.get(s.get("source"), s.get("source"))
    if s.get("line"):
        where = "%s:%s" % (where, s["line"])
    if s.get("mode"):
        where += " (%s %s:%s)" % (s.get("mode"), s.get("owner"), s.get("group"))
    return where


def _finding(f):
    problems = f.get("problems") or []
    return {
        "program": f.get("program"), "kind": f.get("kind"), "file": f.get("file"), "line": f.get("line"),
        "name": f.get("name"), "user": f.get("user"), "upstream": _upstream(f), "security": _security(f),
        "auth": f.get("auth"), "account": f.get("account"), "microsoft": f.get("microsoft"), "profile": f.get("profile"),
        "managed": bool(f.get("managed")), "verdict": f.get("verdict") if f.get("verdict") in VERDICTS else "review",
        "problems": [p.get("text") for p in problems], "codes": [p.get("code") for p in problems], "fix": f.get("fix"),
        "secret": _secret(f), "adopt": f.get("adopt"),
        "basic_auth": any(p.get("code") == "basic_auth" for p in problems),
    }


def host_senders(res):
    """The host's part of its report row (None when discovery was not asked for)."""
    if not hasattr(res, "get"):
        return None
    senders = res.get("senders")
    if not senders:
        if res.get("senders_error"):
            return {"scanned": False, "error": _one_line(res["senders_error"]), "findings": []}
        return None
    senders = json.loads(json.dumps(senders, default=str))   # native copy of Ansible data
    found = [_finding(f) for f in list(senders.get("senders") or []) + list(senders.get("mentions") or [])]
    found.sort(key=lambda r: (VERDICTS.index(r["verdict"]), r["file"] or "", r["line"] or 0))
    unreadable = list(senders.get("unreadable") or [])
    return {"scanned": True, "complete": bool(senders.get("complete", True)), "errors": list(senders.get("errors") or []),
            "stopped_by": (senders.get("scan") or {}).get("stopped_by"), "findings": found,
            "unreadable": unreadable[:UNREADABLE_PER_HOST], "unreadable_count": len(unreadable)}


def host_hook(row, res):
    part = host_senders(res)
    if part is not None:
        row["senders"] = part


def sender_rows(report):
    """Every finding of the fleet, worst verdict first, each with its host."""
    rows = []
    for row in report["hosts"]:
        for f in (row.get("senders") or {}).get("findings") or []:
            rows.append(dict(f, host=row["host"]))
    rows.sort(key=lambda r: (VERDICTS.index(r["verdict"]) if r["verdict"] in VERDICTS else len(VERDICTS),
                             fr.host_sort_key(r["host"]), r["file"] or "", r["line"] or 0))
    return rows


def build_section(report):
    """``report["senders"]``: the fleet's figures, from the rows."""
    scanned, not_scanned, incomplete, unreadable = [], [], [], []
    for row in report["hosts"]:
        part = row.get("senders")
        if not part:
            continue
        if not part.get("scanned"):
            not_scanned.append({"host": row["host"], "reason": part.get("error")})
            continue
        scanned.append(row["host"])
        if not part.get("complete", True):
            incomplete.append({"host": row["host"], "errors": part.get("errors") or [], "stopped_by": part.get("stopped_by")})
        for u in part.get("unreadable") or []:
            unreadable.append(dict(u, host=row["host"]))
    rows = sender_rows(report)
    exposed = [r for r in rows if r["basic_auth"]]
    files = []
    seen = set()
    for r in exposed:
        entry = {"host": r["host"], "file": r["file"], "line": r["line"], "program": r["program"], "kind": r["kind"],
                 "account": r["account"], "managed": r["managed"], "secret": r["secret"]}
        key = json.dumps(entry, sort_keys=True, default=str)
        if key not in seen:
            seen.add(key)
            files.append(entry)
    hosts = sorted(set(r["host"] for r in exposed), key=fr.host_sort_key)
    exposure = {
        "hosts": hosts, "files": files, "hosts_count": len(hosts),
        "files_count": len(set((f["host"], f["file"]) for f in files)),
        "managed_hosts": sorted(set(r["host"] for r in exposed if r["managed"]), key=fr.host_sort_key),
        "unmanaged_hosts": sorted(set(r["host"] for r in exposed if not r["managed"]), key=fr.host_sort_key),
    }
    by_verdict = dict((v, sum(1 for r in rows if r["verdict"] == v)) for v in VERDICTS)
    return {"exposure": exposure, "by_verdict": by_verdict, "findings": len(rows), "hosts_scanned": scanned,
            "not_scanned": not_scanned, "incomplete": incomplete, "unreadable": unreadable}


def exposure_summary(section):
    """The summary's ``basic_auth_exposure`` entry."""
    e = section["exposure"]
    return {"hosts": e["hosts_count"], "files": e["files_count"], "managed_hosts": len(e["managed_hosts"]),
            "unmanaged_hosts": len(e["unmanaged_hosts"]), "hosts_scanned": len(section["hosts_scanned"]),
            "by_verdict": dict(section["by_verdict"])}


def summary_hook(report):
    section = build_section(report)
    if not (section["hosts_scanned"] or section["not_scanned"]):
        report.pop("senders", None)
        return {}
    report["senders"] = section
    return {"basic_auth_exposure": exposure_summary(section)}


def exposure_text(report):
    section = report.get("senders")
    if not section or not section["hosts_scanned"]:
        return ""
    e = section["exposure"]
    return "Basic-auth exposure: %d host%s, %d file%s (%d managed, %d not managed by this collection; deadline %s)" % (
        e["hosts_count"], "" if e["hosts_count"] == 1 else "s", e["files_count"], "" if e["files_count"] == 1 else "s",
        len(e["managed_hosts"]), len(e["unmanaged_hosts"]), report["summary"].get("basic_auth_deadline"))


# --------------------------------------------------------------------------------------------- JUnit

def junit_hook(root, report):
    """A ``mailfleet.outlook.senders`` suite: one case per host x finding; stops/wrong/blocked/unsafe fail."""
    section = report.get("senders")
    if not section or not section["hosts_scanned"]:
        return
    el = fr_junit.element
    suite = el(root, "testsuite", name="mailfleet.outlook.senders", timestamp=report["generated"][:19],
               hostname="controller", errors=0, skipped=0, time="0.000")
    props = el(suite, "properties")
    el(props, "property", name="basic_auth_exposure", value=exposure_text(report))
    rows = sender_rows(report)
    failures = 0
    for r in rows:
        name = "%s %s:%s -> %s" % (r["program"], r["file"], r["line"] or "-", r["upstream"])
        case = el(suite, "testcase", classname="senders.%s" % r["host"], name=_one_line(name), time="0.000")
        detail = ("host: %s\nprogram: %s\nfile: %s:%s\nupstream: %s\nsecurity: %s\nauth: %s\naccount: %s\nsecret: %s\n"
                  "verdict: %s\n%sfix: %s\n" % (
                      r["host"], r["program"], _one_line(r["file"]), r["line"], _one_line(r["upstream"]), r["security"],
                      r["auth"], _one_line(r["account"]), _one_line(r["secret"]) or "-", r["verdict"],
                      "".join("problem: %s\n" % _one_line(p) for p in r["problems"]), _one_line(r["fix"]) or "-"))
        if r["verdict"] in FAILING_VERDICTS:
            failures += 1
            el(case, "failure", detail, type=r["verdict"], message=_one_line(
                "%s: %s Fix: %s" % (r["verdict"], (r["problems"] or [""])[0], r["fix"] or "-")))
        else:
            el(case, "system-out", detail)
    suite.set("tests", str(len(rows)))
    suite.set("failures", str(failures))
    root.set("tests", str(int(root.get("tests", "0")) + len(rows)))
    root.set("failures", str(int(root.get("failures", "0")) + failures))


# --------------------------------------------------------------------------------------------- HTML

def _adopt_block(adopt):
    if not adopt:
        return ""
    lines = ["%s: %s" % (k, json.dumps(v)) for k, v in (adopt.get("vars") or {}).items()]
    lines += ["# %s: %s" % (k, _one_line(v)) for k, v in sorted((adopt.get("to_fill") or {}).items())]
    return "<details class=\"adopt\"><summary>relay variables</summary><pre>%s</pre></details>" % _e("\n".join(lines))


def _more(left, what, where):
    if left <= 0:
        return ""
    return ("<p class=\"more\" data-more=\"%d\">and %s more %s: report.json (%s) and report.xml have every one</p>"
            % (left, "{:,}".format(left), _e(what), _e(where)))


def section_html(report, page=None):
    section = report.get("senders")
    if not section or not (section["hosts_scanned"] or section["not_scanned"]):
        return ""
    e = section["exposure"]
    out = ["<style>%s</style>" % SENDERS_CSS]
    w = out.append
    w("<h2 id=\"senders-title\">How each host sends today</h2>")
    w("<p id=\"basic-auth-exposure\" class=\"exposure%s\" data-hosts=\"%d\" data-files=\"%d\">%s</p>" % (
        "" if e["hosts_count"] else " none", e["hosts_count"], e["files_count"], _e(exposure_text(report))))
    if e["files"]:
        w("<table id=\"exposure-files\"><thead><tr><th>host</th><th>file</th><th>program</th><th>account</th>"
          "<th>secret</th><th>managed</th></tr></thead><tbody>")
        for f in e["files"][:HTML_EXPOSURE_FILES]:
            w("<tr class=\"exposure-row\" data-host=\"%s\" data-file=\"%s\"><td>%s</td><td><code>%s:%s</code></td><td>%s</td>"
              "<td>%s</td><td>%s</td><td>%s</td></tr>" % (
                  _e(f["host"]), _e(f["file"]), _e(f["host"]), _e(f["file"]), _e(f["line"] or "-"), _e(f["program"]),
                  _e(f["account"] or "-"), _e(f["secret"] or "-"), "yes" if f["managed"] else "no"))
        w("</tbody></table>")
        w(_more(len(e["files"]) - HTML_EXPOSURE_FILES, "files", "summary.basic_auth_exposure and senders.exposure.files"))
    rows = sender_rows(report)
    for verdict in VERDICTS:
        group = [r for r in rows if r["verdict"] == verdict]
        if not group:
            continue
        w("<details class=\"senders-group\" data-verdict=\"%s\"%s><summary><h3 class=\"v-%s\" style=\"display:inline\">"
          "%s (%d)</h3></summary>" % (_e(verdict), " open" if verdict in OPEN_VERDICTS else "", _e(verdict),
                                      _e(VERDICT_TITLES.get(verdict, verdict)), len(group)))
        w("<table class=\"senders\"><thead><tr><th>host</th><th>program</th><th>file</th><th>upstream</th><th>security</th>"
          "<th>auth</th><th>account</th><th>secret</th><th>problems</th><th>fix</th></tr></thead><tbody>")
        for r in group[:HTML_ROWS_PER_VERDICT]:
            w("<tr class=\"sender-row\" data-host=\"%s\" data-verdict=\"%s\" data-program=\"%s\" data-file=\"%s\">"
              "<td>%s</td><td>%s%s</td><td><code>%s:%s</code></td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td>"
              "<td>%s</td><td class=\"fix\">%s%s</td></tr>" % (
                  _e(r["host"]), _e(verdict), _e(r["program"]), _e(r["file"]), _e(r["host"]), _e(r["program"]),
                  " (managed)" if r["managed"] else "", _e(r["file"]), _e(r["line"] or "-"), _e(r["upstream"]),
                  _e(r["security"]), _e(r["auth"]), _e(r["account"] or "-"), _e(r["secret"] or "-"),
                  "<br>".join(_e(p) for p in r["problems"]) or "-", _e(r["fix"] or "-"), _adopt_block(r["adopt"])))
        w("</tbody></table>")
        w(_more(len(group) - HTML_ROWS_PER_VERDICT, "findings with this verdict", "hosts[].senders.findings"))
        w("</details>")
    if section["not_scanned"] or section["incomplete"] or section["unreadable"]:
        w("<h3>Not read</h3><ul id=\"senders-unread\">")
        for item in section["not_scanned"]:
            w("<li data-host=\"%s\">%s: not scanned (%s)</li>" % (_e(item["host"]), _e(item["host"]), _e(item["reason"])))
        for item in section["incomplete"]:
            w("<li data-host=\"%s\">%s: incomplete (%s)</li>" % (
                _e(item["host"]), _e(item["host"]), _e("; ".join(item["errors"]) or item["stopped_by"] or "limit")))
        for item in section["unreadable"][:200]:
            w("<li data-host=\"%s\" class=\"unreadable\">%s: <code>%s</code> %s</li>" % (
                _e(item["host"]), _e(item["host"]), _e(item.get("path")), _e(item.get("reason"))))
        w("</ul>")
    return "".join(out)


def register():
    """Plug the section into the fleet report (idempotent)."""
    from ansible_collections.mailfleet.outlook.plugins.plugin_utils import _fleet_report_html as frh
    for hooks, hook in ((fr.HOST_HOOKS, host_hook), (fr.SUMMARY_HOOKS, summary_hook), (fr.JUNIT_HOOKS, junit_hook),
                        (fr.SUMMARY_LINE_HOOKS, exposure_text)):
        if hook not in hooks:
            hooks.append(hook)
    frh.register_section("senders", section_html, before="grid")
