# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet report: one model built from every host's reachability result, written as JSON, JUnit XML
and one self-contained HTML page.

Controller side only (used by the ``mailfleet.outlook.fleet_report`` action plugin). Pure functions over
plain data, so the unit tests drive them without Ansible.

Input per host (what the ``mailfleet.outlook.reachability`` role records in the fact ``reachability_result``)::

    {"profile": "microsoft365", "microsoft": True,
     "required": ["smtp"],                  # endpoint names the host must reach
     "endpoints": [<smtp_check endpoint entries>],
     "planned": [{"name": "smtp", "host": ..., "port": ..., "security": ...}],   # computed before probing
     "unreachable": False, "msg": "...",    # unreachable: Ansible itself could not reach the host
     "probe_error": None,                   # the probe task itself failed (module error text)
     "drift": {"checked": True, "changed": False, "files": [], "msg": ""},
     "basic_auth": [{"component": "relay", "variable": "relay_auth_method", "profile": "microsoft365",
                     "fix": "..."}]}

A host listed in ``hosts`` with no result at all is reported as ``not_run`` (it failed, or was unreachable,
before the reachability role ran, e.g. in an earlier play of site.yml): it is never silently missing.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import html
import json
import math
from xml.etree import ElementTree as ET

SCHEMA = "mailfleet.outlook/fleet-report/v1"

# Stage order of smtp_check (timings_ms keys); anything else the probe reports follows in its own order.
STAGES = ("dns", "connect", "proxy", "banner", "ehlo", "starttls", "tls", "auth", "mailbox", "send")

# Cell / host status vocabulary (also the CSS classes "st-<status>" of the HTML grid).
CELL_STATUSES = ("ok", "warn", "fail", "optional_fail", "unreachable", "not_run", "na")
HOST_STATUSES = ("ok", "failing", "unreachable", "not_run")

DEFAULT_BASIC_AUTH_DEADLINE = "2026-12-31"


def basic_auth_deadline():
    """The Basic auth deadline from the catalog (the one place Microsoft facts live)."""
    try:
        from ansible_collections.mailfleet.outlook.plugins.module_utils._catalog import BASIC_AUTH_RETIREMENT
        return BASIC_AUTH_RETIREMENT["disabled_by_default_from"]
    except Exception:  # pragma: no cover - catalog not importable (unit tests outside the collection tree)
        return DEFAULT_BASIC_AUTH_DEADLINE


def _plain(value):
    """Native JSON-able copy of Ansible data (drops tags, lazy containers)."""
    return json.loads(json.dumps(value, default=str))


def _diag(ep):
    d = ep.get("diagnosis") or {}
    if not isinstance(d, dict):
        d = {"code": str(d)}
    return {"code": d.get("code") or ("ok" if ep.get("ok") else "unknown"),
            "message": d.get("message") or "", "hint": d.get("hint") or ""}


def _cell_status(ep, required):
    if ep.get("ok"):
        return "warn" if ep.get("warnings") else "ok"
    return "fail" if required else "optional_fail"


def _iso_now():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()


def build_report(hosts, results, title="mailfleet fleet report", generated=None, deadline=None, today=None):
    """Build the report model.

    ``hosts``: every host of the play (``ansible_play_hosts_all``), in order.
    ``results``: host name -> the host's ``reachability_result`` (or None when the host never recorded one).
    """
    generated = generated or _iso_now()
    deadline = deadline or basic_auth_deadline()
    if today is None:
        today = datetime.datetime.now(datetime.timezone.utc).date()
    try:
        days_to_deadline = (datetime.date.fromisoformat(deadline) - today).days
    except (TypeError, ValueError):
        days_to_deadline = None

    columns = []
    host_rows = []
    for name in hosts:
        res = results.get(name)
        res = _plain(res) if res else None
        row = {"host": name, "status": None, "msg": "", "profile": None, "required": [], "endpoints": [],
               "drift": None, "basic_auth": [], "failing_codes": []}
        if res is None:
            row["status"] = "not_run"
            row["msg"] = ("no reachability result: the host failed or was unreachable earlier in this run "
                          "(see the Ansible output for that host)")
            host_rows.append(row)
            continue
        row["profile"] = res.get("profile")
        row["required"] = list(res.get("required") or [])
        row["drift"] = res.get("drift")
        for item in res.get("basic_auth") or []:
            item = dict(item)
            item.setdefault("deadline", deadline)
            row["basic_auth"].append(item)
        planned = list(res.get("planned") or [])
        eps = list(res.get("endpoints") or [])
        if res.get("unreachable"):
            row["status"] = "unreachable"
            row["msg"] = res.get("msg") or "Ansible could not reach the host"
            # the endpoint plan is known (computed on the controller); show every planned cell as unreachable
            for p in planned:
                cell = {"name": p.get("name"), "host": p.get("host"), "port": p.get("port"),
                        "security": p.get("security"), "required": p.get("name") in row["required"],
                        "status": "unreachable", "ok": False, "stage": None, "failed_stage": None,
                        "diagnosis": {"code": "host_unreachable", "message": row["msg"],
                                      "hint": "fix Ansible's access to the host (SSH, inventory address, credentials)"},
                        "timings_ms": {}, "warnings": [], "tls": None}
                row["endpoints"].append(cell)
        else:
            if res.get("probe_error"):
                row["msg"] = "the probe did not run: %s" % res["probe_error"]
            if res.get("probe_error") and not eps:
                for p in planned:
                    eps.append({"name": p.get("name"), "host": p.get("host"), "port": p.get("port"),
                                "security": p.get("security"), "ok": False,
                                "diagnosis": {"code": "probe_error", "message": res["probe_error"],
                                              "hint": "see the task output of mailfleet.outlook.smtp_check"}})
            for ep in eps:
                required = ep.get("name") in row["required"] if row["required"] else True
                cell = dict(ep)
                cell["required"] = required
                cell["diagnosis"] = _diag(ep)
                cell["status"] = _cell_status(ep, required)
                cell.setdefault("timings_ms", {})
                cell.setdefault("warnings", [])
                row["endpoints"].append(cell)
            failing = [c for c in row["endpoints"] if c["status"] == "fail"]
            row["failing_codes"] = [c["diagnosis"]["code"] for c in failing]
            row["status"] = "failing" if failing or (res.get("probe_error") and not res.get("endpoints")) else "ok"
        for c in row["endpoints"]:
            if c.get("name") not in columns:
                columns.append(c.get("name"))
        host_rows.append(row)

    # hosts without any plan (never ran, or unreachable before planning) get one cell per column,
    # so the grid and JUnit never lose a host
    if not columns:
        columns.append("endpoints")
    for row in host_rows:
        if row["endpoints"]:
            continue
        if row["status"] == "unreachable":
            status, code, hint = "unreachable", "host_unreachable", "fix Ansible's access to the host (SSH, inventory address, credentials)"
        elif row["status"] == "failing":
            status, code, hint = "fail", "probe_error", "fix the variable named in the message; nothing was probed"
        else:
            status, code, hint = "not_run", "not_run", "re-run after fixing what failed earlier for this host"
        row["endpoints"] = [{"name": col, "required": True, "status": status, "ok": False,
                             "diagnosis": {"code": code, "message": row["msg"], "hint": hint},
                             "timings_ms": {}, "warnings": [], "tls": None} for col in columns]
        if status == "fail":
            row["failing_codes"] = [code]

    by_diag = {}
    for row in host_rows:
        for code in sorted(set(row["failing_codes"])):
            by_diag[code] = by_diag.get(code, 0) + 1
    counts = dict((s, sum(1 for r in host_rows if r["status"] == s)) for s in HOST_STATUSES)
    basic_rows = []
    for row in host_rows:
        for item in row["basic_auth"]:
            basic_rows.append(dict(item, host=row["host"]))
    drift_hosts = [r["host"] for r in host_rows if (r["drift"] or {}).get("changed")]
    summary = {
        "hosts": len(host_rows),
        "ok": counts["ok"], "failing": counts["failing"],
        "unreachable": counts["unreachable"], "not_run": counts["not_run"],
        "by_diagnosis": dict(sorted(by_diag.items())),
        "checks": sum(len(r["endpoints"]) for r in host_rows),
        "checks_failed": sum(1 for r in host_rows for c in r["endpoints"] if c["status"] in ("fail", "unreachable", "not_run")),
        "drift_hosts": drift_hosts,
        "basic_auth_hosts": sorted(set(b["host"] for b in basic_rows)),
        "basic_auth_deadline": deadline,
        "days_to_basic_auth_deadline": days_to_deadline,
    }
    return {"schema": SCHEMA, "title": title, "generated": generated, "summary": summary,
            "columns": columns, "hosts": host_rows, "basic_auth": basic_rows}


def summary_line(report):
    s = report["summary"]
    parts = ["%d host%s: %d ok, %d failing" % (s["hosts"], "" if s["hosts"] == 1 else "s", s["ok"], s["failing"])]
    if s["by_diagnosis"]:
        parts[0] += " (%s)" % ", ".join("%s: %d" % kv for kv in s["by_diagnosis"].items())
    parts.append("%d unreachable by Ansible" % s["unreachable"])
    if s["not_run"]:
        parts.append("%d not run (failed earlier)" % s["not_run"])
    if s["drift_hosts"]:
        parts.append("%d with configuration drift" % len(s["drift_hosts"]))
    if s["basic_auth_hosts"]:
        parts.append("%d still on Basic auth (deadline %s)" % (len(s["basic_auth_hosts"]), s["basic_auth_deadline"]))
    return "; ".join(parts)


def summary_table(report):
    """A short plain-text table: host, status, one column per endpoint (diagnosis code)."""
    cols = report["columns"]
    rows = [["host", "status"] + cols]
    for r in report["hosts"]:
        by = dict((c.get("name"), c) for c in r["endpoints"])
        line = [r["host"], r["status"]]
        for col in cols:
            c = by.get(col)
            line.append("-" if c is None else c["diagnosis"]["code"])
        rows.append(line)
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    out = ["  ".join(str(v).ljust(w) for v, w in zip(row, widths)).rstrip() for row in rows]
    out.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(out)


# --------------------------------------------------------------------------------------------- JSON

def render_json(report):
    return json.dumps(report, indent=2, sort_keys=False, default=str) + "\n"


# --------------------------------------------------------------------------------------------- JUnit

def _seconds(ms):
    try:
        return "%.3f" % (float(ms) / 1000.0)
    except (TypeError, ValueError):
        return "0.000"


def render_junit(report):
    """JUnit XML as CI systems read it: testsuites > testsuite > testcase > failure|error (message, type).

    One test case per host x endpoint. A failing endpoint is a <failure>; a host Ansible could not reach,
    or that never ran the probe, is an <error> (the check could not be made). A failing endpoint that the
    host does not need is reported as passed with the diagnosis in <system-out>.
    """
    s = report["summary"]
    root = ET.Element("testsuites", name=report["title"])
    suite = ET.SubElement(root, "testsuite", name="mailfleet.outlook.reachability", timestamp=report["generated"][:19],
                          hostname="controller")
    props = ET.SubElement(suite, "properties")
    ET.SubElement(props, "property", name="summary", value=summary_line(report))
    ET.SubElement(props, "property", name="basic_auth_deadline", value=str(s["basic_auth_deadline"]))
    tests = failures = errors = 0
    total = 0.0
    for row in report["hosts"]:
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
            case = ET.SubElement(suite, "testcase", classname="reachability.%s" % row["host"],
                                 name="%s%s" % (c.get("name"), target), time=_seconds(t))
            d = c["diagnosis"]
            detail = "host: %s\nendpoint: %s%s\ndiagnosis: %s\nmessage: %s\nhint: %s\nfailed stage: %s\n" % (
                row["host"], c.get("name"), target, d["code"], d["message"], d["hint"], c.get("failed_stage"))
            if c["status"] == "fail":
                failures += 1
                el = ET.SubElement(case, "failure", message="%s: %s Hint: %s" % (d["code"], d["message"], d["hint"]),
                                   type=d["code"])
                el.text = detail
            elif c["status"] in ("unreachable", "not_run"):
                errors += 1
                el = ET.SubElement(case, "error", message="%s: %s" % (d["code"], d["message"]), type=d["code"])
                el.text = detail
            elif c["status"] in ("warn", "optional_fail"):
                out = ET.SubElement(case, "system-out")
                out.text = detail + "".join("warning: %s\n" % w for w in c.get("warnings") or [])
    suite.set("tests", str(tests))
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    suite.set("skipped", "0")
    suite.set("time", "%.3f" % total)
    root.set("tests", str(tests))
    root.set("failures", str(failures))
    root.set("errors", str(errors))
    root.set("time", "%.3f" % total)
    # configuration drift and the Basic auth deadline: a second suite, one case per host that was checked
    drift_rows = [r for r in report["hosts"] if (r.get("drift") or {}).get("checked")]
    if drift_rows:
        ds = ET.SubElement(root, "testsuite", name="mailfleet.outlook.drift", timestamp=report["generated"][:19],
                           hostname="controller", tests=str(len(drift_rows)), errors="0", skipped="0", time="0.000")
        nfail = 0
        for r in drift_rows:
            case = ET.SubElement(ds, "testcase", classname="drift.%s" % r["host"], name="configuration matches", time="0.000")
            if r["drift"].get("changed"):
                nfail += 1
                files = ", ".join(r["drift"].get("files") or []) or "see check-mode diff"
                el = ET.SubElement(case, "failure", message="configuration drift: %s" % files, type="drift")
                el.text = r["drift"].get("msg") or ""
        ds.set("failures", str(nfail))
        root.set("tests", str(tests + len(drift_rows)))
        root.set("failures", str(failures + nfail))
    ET.indent(root) if hasattr(ET, "indent") else None
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


# --------------------------------------------------------------------------------------------- HTML

_CSS = """
:root{--ok:#1e8e3e;--warn:#c98a00;--fail:#c5221f;--opt:#e8710a;--unr:#5f6368;--norun:#9aa0a6;--na:#f1f3f4}
body{font:14px/1.4 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1.5em;color:#202124}
h1{font-size:1.4em;margin:0 0 .3em} h2{font-size:1.1em;margin:1.4em 0 .4em}
.summary{font-size:1.05em;padding:.6em .8em;background:#f8f9fa;border-left:4px solid var(--unr)}
.summary.all-ok{border-color:var(--ok)} .summary.has-fail{border-color:var(--fail)}
table{border-collapse:collapse;margin:.3em 0} th,td{border:1px solid #dadce0;padding:.3em .6em;text-align:left;vertical-align:top}
#grid td.cell{min-width:9em;cursor:pointer;color:#fff;font-weight:600}
.st-ok{background:var(--ok)} .st-warn{background:var(--warn)} .st-fail{background:var(--fail)}
.st-optional_fail{background:var(--opt)} .st-unreachable{background:var(--unr)} .st-not_run{background:var(--norun)}
#grid td.st-na{background:var(--na);color:#5f6368;cursor:default;font-weight:400}
.badge{display:inline-block;padding:0 .4em;border-radius:3px;color:#fff;font-size:.85em;margin-left:.4em}
.badge.h-ok{background:var(--ok)} .badge.h-failing{background:var(--fail)} .badge.h-unreachable{background:var(--unr)}
.badge.h-not_run{background:var(--norun)}
#detail{white-space:pre-wrap;font-family:ui-monospace,monospace;background:#f8f9fa;padding:.6em;border:1px solid #dadce0;min-height:2em}
.bars .row{display:flex;align-items:center;margin:2px 0} .bars .label{width:22em;font-family:ui-monospace,monospace;font-size:.85em}
.bar{display:flex;height:14px;background:#f1f3f4;width:40em} .bar span{display:block;height:100%}
.seg-dns{background:#8ab4f8}.seg-connect{background:#1a73e8}.seg-banner{background:#a142f4}.seg-ehlo{background:#f439a0}
.seg-starttls{background:#fa7b17}.seg-tls{background:#fbbc04}.seg-auth{background:#34a853}.seg-send{background:#24c1e0}
.seg-other{background:#9aa0a6} .ms{margin-left:.5em;font-size:.85em;color:#5f6368}
.legend span{display:inline-block;padding:0 .5em;margin-right:.3em;color:#fff}
.days-low{color:var(--fail);font-weight:600} .hint{color:#3c4043} code{font-size:.95em}
"""

_JS = """
(function(){
  var detail = document.getElementById('detail');
  function show(td){
    var t = td.getAttribute('data-detail') || '';
    detail.textContent = t;
    var sel = document.querySelectorAll('#grid td.selected');
    for (var i = 0; i < sel.length; i++) { sel[i].classList.remove('selected'); }
    td.classList.add('selected');
  }
  var cells = document.querySelectorAll('#grid td.cell');
  for (var i = 0; i < cells.length; i++) {
    cells[i].addEventListener('click', function(){ show(this); });
    cells[i].addEventListener('keydown', function(e){ if (e.key === 'Enter') { show(this); } });
  }
  document.body.setAttribute('data-report-ready', String(cells.length));
})();
"""


def _e(value):
    return html.escape("" if value is None else str(value), quote=True)


def _ms(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return 0.0


def _cell_detail(row, c):
    d = c["diagnosis"]
    lines = ["%s -> %s" % (row["host"], c.get("name"))]
    if c.get("host"):
        lines.append("endpoint: %s:%s (%s)" % (c.get("host"), c.get("port"), c.get("security")))
    lines.append("status: %s%s" % (c["status"], "" if c.get("required", True) else " (not required by this host)"))
    lines.append("diagnosis: %s" % d["code"])
    if d["message"]:
        lines.append("message: %s" % d["message"])
    if d["hint"]:
        lines.append("hint: %s" % d["hint"])
    if c.get("stage") or c.get("failed_stage"):
        lines.append("last stage passed: %s; failed stage: %s" % (c.get("stage"), c.get("failed_stage")))
    if c.get("address"):
        lines.append("address: %s" % c["address"])
    if c.get("timings_ms"):  # probed: say how (the proxy's address is the one connected to)
        lines.append("through: %s" % (c.get("proxy") or "direct"))
    reply = c.get("reply") or {}
    if reply.get("code") or reply.get("text"):
        lines.append("server said: %s %s %s" % (reply.get("code") or "", reply.get("enhanced_code") or "", reply.get("text") or ""))
    tls = c.get("tls") or {}
    if tls.get("version"):
        lines.append("tls: %s %s" % (tls.get("version"), tls.get("cipher") or ""))
    cert = tls.get("cert") or {}
    if cert:
        lines.append("certificate: subject %s, issuer %s, not after %s (%s days left)" % (
            cert.get("subject"), cert.get("issuer"), cert.get("not_after"), cert.get("days_left")))
    for w in c.get("warnings") or []:
        lines.append("warning: %s" % w)
    t = c.get("timings_ms") or {}
    if t:
        lines.append("timings (ms): " + ", ".join("%s=%s" % (k, t[k]) for k in _stage_keys(t)) +
                     (", total=%s" % t["total"] if "total" in t else ""))
    return "\n".join(lines)


def _stage_keys(t):
    keys = [s for s in STAGES if s in t]
    keys += [k for k in t if k not in STAGES and k != "total"]
    return keys


def render_html(report):
    s = report["summary"]
    cols = report["columns"]
    out = []
    w = out.append
    w("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">")
    # no external asset can load: everything is inline (and the policy says so to the browser)
    w("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
      "script-src 'unsafe-inline'; img-src data:\">")
    w("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">")
    w("<title>%s</title><style>%s</style></head><body>" % (_e(report["title"]), _CSS))
    w("<h1>%s</h1>" % _e(report["title"]))
    w("<p class=\"generated\">generated %s &middot; schema %s</p>" % (_e(report["generated"]), _e(report["schema"])))
    cls = "all-ok" if s["ok"] == s["hosts"] else "has-fail"
    w("<p id=\"summary\" class=\"summary %s\" data-hosts=\"%d\" data-ok=\"%d\" data-failing=\"%d\" data-unreachable=\"%d\" "
      "data-not-run=\"%d\">%s</p>" % (
          cls, s["hosts"], s["ok"], s["failing"], s["unreachable"], s["not_run"], _e(summary_line(report))))

    # Basic auth deadline
    if report["basic_auth"]:
        days = s.get("days_to_basic_auth_deadline")
        w("<h2 id=\"basic-auth-title\">Still on password (Basic) authentication against Microsoft: change before %s%s</h2>"
          % (_e(s["basic_auth_deadline"]), "" if days is None else " (%d days)" % days))
        w("<table id=\"basic-auth\"><thead><tr><th>host</th><th>component</th><th>profile</th><th>deadline</th>"
          "<th>variable to change</th><th>fix</th></tr></thead><tbody>")
        for b in report["basic_auth"]:
            w("<tr class=\"basic-auth-row\" data-host=\"%s\"><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td><code>%s</code></td>"
              "<td class=\"hint\">%s</td></tr>" % (
                  _e(b["host"]), _e(b["host"]), _e(b.get("component")), _e(b.get("profile")),
                  _e(b.get("deadline")), _e(b.get("variable")), _e(b.get("fix"))))
        w("</tbody></table>")

    # grid
    w("<h2>Hosts &times; endpoints</h2>")
    w("<p class=\"legend\">" + "".join("<span class=\"st-%s\">%s</span>" % (st, st.replace("_", " ")) for st in
                                       ("ok", "warn", "fail", "optional_fail", "unreachable", "not_run")) +
      " &middot; hover a cell for the diagnosis, click it for details</p>")
    w("<table id=\"grid\"><thead><tr><th>host</th>%s</tr></thead><tbody>" % "".join("<th>%s</th>" % _e(c) for c in cols))
    for row in report["hosts"]:
        by = dict((c.get("name"), c) for c in row["endpoints"])
        drift = row.get("drift") or {}
        extra = ""
        if drift.get("changed"):
            extra = " <span class=\"badge h-failing drift\" title=\"%s\">drift</span>" % _e(
                "configuration differs from the catalog and variables: %s" % ", ".join(drift.get("files") or []))
        w("<tr data-host=\"%s\" data-status=\"%s\"><th>%s<span class=\"badge h-%s\">%s</span>%s</th>" % (
            _e(row["host"]), _e(row["status"]), _e(row["host"]), _e(row["status"]), _e(row["status"].replace("_", " ")), extra))
        for col in cols:
            c = by.get(col)
            if c is None:
                w("<td class=\"cell-na st-na\" data-host=\"%s\" data-endpoint=\"%s\">&ndash;</td>" % (_e(row["host"]), _e(col)))
                continue
            d = c["diagnosis"]
            title = "%s: %s%s" % (d["code"], d["message"], (" Hint: " + d["hint"]) if d["hint"] and c["status"] != "ok" else "")
            w("<td class=\"cell st-%s\" tabindex=\"0\" data-host=\"%s\" data-endpoint=\"%s\" data-status=\"%s\" data-code=\"%s\" "
              "title=\"%s\" data-detail=\"%s\">%s</td>" % (
                  _e(c["status"]), _e(row["host"]), _e(col), _e(c["status"]), _e(d["code"]), _e(title),
                  _e(_cell_detail(row, c)), _e(d["code"])))
        w("</tr>")
    w("</tbody></table>")
    w("<div id=\"detail\" aria-live=\"polite\">Click a cell for its details.</div>")

    # failures with hints
    fails = [(r, c) for r in report["hosts"] for c in r["endpoints"] if c["status"] in ("fail", "optional_fail", "unreachable", "not_run")]
    w("<h2>Failures and what to do</h2>")
    if fails:
        w("<ul id=\"failures\">")
        for r, c in fails:
            d = c["diagnosis"]
            w("<li data-host=\"%s\" data-endpoint=\"%s\"><strong>%s &rarr; %s</strong>: <code>%s</code> %s<br><span class=\"hint\">Hint: %s</span></li>"
              % (_e(r["host"]), _e(c.get("name")), _e(r["host"]), _e(c.get("name")), _e(d["code"]), _e(d["message"]), _e(d["hint"])))
        w("</ul>")
    else:
        w("<p id=\"failures\">None.</p>")

    # latency bars: bar length on a log scale of the total (a 10 s timeout and a 15 ms answer both stay
    # readable), segments proportional to each stage's share of the total

    probed = [(r, c) for r in report["hosts"] for c in r["endpoints"] if c.get("timings_ms")]

    def total_of(c):
        t = c.get("timings_ms") or {}
        return _ms(t.get("total")) or sum(_ms(v) for k, v in t.items() if k != "total")

    top = math.log10(1.0 + max([total_of(cell) for row_, cell in probed] or [1.0]))
    w("<h2>Latency per stage</h2><p class=\"legend\">" + "".join(
        "<span class=\"seg-%s\">%s</span>" % (st, st) for st in STAGES) +
      " &middot; bar length: total time (log scale); segments: share of each stage</p><div class=\"bars\" id=\"latency\">")
    for r, c in probed:
        t = c["timings_ms"]
        total = total_of(c)
        length = 100.0 * math.log10(1.0 + total) / top if top > 0 else 0.0
        parts = sum(_ms(t[k]) for k in _stage_keys(t)) or 1.0
        segs = []
        for k in _stage_keys(t):
            pct = length * _ms(t[k]) / parts
            segs.append("<span class=\"seg-%s\" style=\"width:%.2f%%\" title=\"%s: %s ms\"></span>" % (
                _e(k if k in STAGES else "other"), pct, _e(k), _e(t[k])))
        w("<div class=\"row\" data-host=\"%s\" data-endpoint=\"%s\"><span class=\"label\">%s &rarr; %s</span><div class=\"bar\">%s</div>"
          "<span class=\"ms\">%s ms</span></div>" % (
              _e(r["host"]), _e(c.get("name")), _e(r["host"]), _e(c.get("name")), "".join(segs), _e(t.get("total", ""))))
    w("</div>")

    # certificates
    certs = [(r, c, ((c.get("tls") or {}).get("cert") or {})) for r in report["hosts"] for c in r["endpoints"]]
    certs = [x for x in certs if x[2]]
    w("<h2>Certificates</h2>")
    if certs:
        w("<table id=\"certs\"><thead><tr><th>host</th><th>endpoint</th><th>TLS</th><th>subject</th><th>issuer</th>"
          "<th>not after</th><th>days left</th></tr></thead><tbody>")
        for r, c, cert in certs:
            days = cert.get("days_left")
            low = isinstance(days, (int, float)) and days < 21
            w("<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td class=\"days%s\">%s</td></tr>" % (
                _e(r["host"]), _e(c.get("name")), _e((c.get("tls") or {}).get("version")), _e(cert.get("subject")),
                _e(cert.get("issuer")), _e(cert.get("not_after")), " days-low" if low else "", _e(days)))
        w("</tbody></table>")
    else:
        w("<p>No certificate was seen.</p>")

    # drift
    drift_rows = [r for r in report["hosts"] if (r.get("drift") or {}).get("checked")]
    if drift_rows:
        w("<h2>Configuration drift</h2><table id=\"drift\"><thead><tr><th>host</th><th>drift</th><th>files</th></tr></thead><tbody>")
        for r in drift_rows:
            dr = r["drift"]
            w("<tr data-host=\"%s\"><td>%s</td><td>%s</td><td>%s</td></tr>" % (
                _e(r["host"]), _e(r["host"]), "yes" if dr.get("changed") else "no", _e(", ".join(dr.get("files") or []))))
        w("</tbody></table>")

    # hosts Ansible could not reach / that did not run
    gone = [r for r in report["hosts"] if r["status"] in ("unreachable", "not_run")]
    if gone:
        w("<h2>Hosts without a probe result</h2><ul id=\"unreachable\">")
        for r in gone:
            w("<li data-host=\"%s\"><strong>%s</strong> (%s): %s</li>" % (_e(r["host"]), _e(r["host"]), _e(r["status"].replace("_", " ")), _e(r["msg"])))
        w("</ul>")

    w("<script>%s</script></body></html>\n" % _JS)
    return "".join(out)


def write_report(report, dest, formats=("json", "junit", "html")):
    """Write the report files into the directory ``dest`` (atomically each); return {format: path}."""
    import os
    import tempfile
    names = {"json": "report.json", "junit": "report.xml", "html": "report.html"}
    renderers = {"json": render_json, "junit": render_junit, "html": render_html}
    if not os.path.isdir(dest):
        os.makedirs(dest)
    paths = {}
    for fmt in formats:
        path = os.path.join(dest, names[fmt])
        data = renderers[fmt](report).encode("utf-8")
        fd, tmp = tempfile.mkstemp(dir=dest, prefix=".%s." % names[fmt])
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.chmod(tmp, 0o644)
            os.rename(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        paths[fmt] = path
    return paths
