# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet report: one model built from every host's reachability result, written as JSON, JUnit XML
and one self-contained HTML page (``_fleet_report_html``).

Controller side only (used by the ``mailfleet.outlook.fleet_report`` action plugin and by the command line
``_fleet_report_cli``). Pure functions over plain data, standard library only: the unit tests and the command
line drive them without Ansible.

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

The model is built in two steps so that reports of several runs (job slices, parallel pipeline jobs) merge
into exactly the report one run would have written: ``host_row`` turns one host's result into a row, and
``assemble`` derives everything else (host order, columns, the cells of hosts without a plan, summary,
Basic auth list, trend) from the rows alone. ``merge_reports`` takes the rows of several reports and
assembles them again.

Extending the report: ``HOST_HOOKS`` (functions ``(row, result)`` that copy more of a host's result into its
row) and ``SUMMARY_HOOKS`` (functions ``(report)`` returning a dict merged into ``summary``; they run on
every assemble, merges included), ``SUMMARY_LINE_HOOKS`` (functions ``(report)`` returning one more part of the
summary line, or "") and ``JUNIT_HOOKS`` (functions ``(root, report)`` adding a suite to the ``testsuites``
element). New keys are additive: consumers ignore keys they do not know.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import glob
import json
import os
import re
import tempfile

from ansible_collections.mailfleet.outlook.plugins.module_utils._catalog import BASIC_AUTH_RETIREMENT

SCHEMA = "mailfleet.outlook/fleet-report/v1"
DEFAULT_TITLE = "mailfleet fleet report"
FORMATS = ("json", "junit", "html")
FILE_NAMES = {"json": "report.json", "junit": "report.xml", "html": "report.html"}

# Host status vocabulary (the cells' statuses are the CSS classes "st-<status>" of the HTML grid).
HOST_STATUSES = ("ok", "failing", "unreachable", "not_run")
# A host's site when the inventory says nothing (see site_of()).
NO_SITE = "ungrouped"
SITE_GROUP_PREFIX = "site_"

UNREACHABLE_HINT = "fix Ansible's access to the host (SSH, inventory address, credentials)"
NOT_RUN_MSG = ("no reachability result: the host failed or was unreachable earlier in this run "
               "(see the Ansible output for that host)")
NOT_IN_SLICES_MSG = "no merged report has a result for this host (its slice or job did not write a report)"

# Extension points (see the module docstring).
HOST_HOOKS = []
SUMMARY_HOOKS = []
SUMMARY_LINE_HOOKS = []
JUNIT_HOOKS = []


class ReportError(ValueError):
    """A report file that cannot be read or merged (message names the file and the fix)."""


def basic_auth_deadline():
    """The Basic auth deadline from the catalog (the one place Microsoft facts live)."""
    return BASIC_AUTH_RETIREMENT["disabled_by_default_from"]


def _iso_now():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()


def host_sort_key(name):
    """Natural order (host2 before host10), the same in every run and every merge."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part.lower()) for part in re.split(r"(\d+)", name) if part]


def site_of(groups, site=None, prefix=SITE_GROUP_PREFIX):
    """A host's site: ``site`` when set, else its first inventory group named ``<prefix>...``, else its first
    group, else ``ungrouped``."""
    if site:
        return str(site)
    groups = [g for g in (groups or []) if g not in ("all", "ungrouped")]
    for g in groups:
        if prefix and g.startswith(prefix):
            return g
    return groups[0] if groups else NO_SITE


# --------------------------------------------------------------------------------------------- model

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


def host_row(name, res, deadline=None, site=None, groups=None):
    """One host's row of the report from its reachability result (``res`` None: the host never recorded one)."""
    deadline = deadline or basic_auth_deadline()
    groups = sorted(set(str(g) for g in (groups or []) if g not in ("all",)))
    row = {"host": name, "site": site_of(groups, site), "groups": groups, "status": None, "msg": "",
           "profile": None, "required": [], "endpoints": [], "drift": None, "basic_auth": [], "failing_codes": []}
    if not res:
        row["status"] = "not_run"
        row["msg"] = NOT_RUN_MSG
        return row
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
            row["endpoints"].append({
                "name": p.get("name"), "host": p.get("host"), "port": p.get("port"), "security": p.get("security"),
                "required": p.get("name") in row["required"], "status": "unreachable", "ok": False, "stage": None,
                "failed_stage": None,
                "diagnosis": {"code": "host_unreachable", "message": row["msg"], "hint": UNREACHABLE_HINT},
                "timings_ms": {}, "warnings": [], "tls": None})
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
    for hook in HOST_HOOKS:
        hook(row, res)
    return row


def _fill_planless(row, columns):
    """Cells for a host without any plan (never ran, unreachable before planning, invalid settings): one per
    column, marked ``synthetic`` so that a merge can drop and rebuild them against the merged columns."""
    if row["status"] == "unreachable":
        status, code, hint = "unreachable", "host_unreachable", UNREACHABLE_HINT
    elif row["status"] == "failing":
        status, code, hint = "fail", "probe_error", "fix the variable named in the message; nothing was probed"
    else:
        status, code, hint = "not_run", "not_run", "re-run after fixing what failed earlier for this host"
    row["endpoints"] = [{"name": col, "required": True, "status": status, "ok": False, "synthetic": True,
                         "diagnosis": {"code": code, "message": row["msg"], "hint": hint},
                         "timings_ms": {}, "warnings": [], "tls": None} for col in columns]
    row["failing_codes"] = [code] if status == "fail" else []


def assemble(rows, title=DEFAULT_TITLE, generated=None, deadline=None, today=None, previous=None, sources=None):
    """The whole report from host rows: order, columns, cells of plan-less hosts, summary, trend."""
    generated = generated or _iso_now()
    deadline = deadline or basic_auth_deadline()
    if today is None:
        today = datetime.datetime.now(datetime.timezone.utc).date()
    try:
        days_to_deadline = (datetime.date.fromisoformat(deadline) - today).days
    except (TypeError, ValueError):
        days_to_deadline = None

    rows = sorted(rows, key=lambda r: host_sort_key(r["host"]))
    columns = []
    seen = set()
    for row in rows:
        for c in row["endpoints"]:
            if c.get("synthetic"):
                continue
            name = c.get("name")
            if name not in seen:
                seen.add(name)
                columns.append(name)
    if not columns:
        columns.append("endpoints")
    for row in rows:
        if not row["endpoints"] or all(c.get("synthetic") for c in row["endpoints"]):
            _fill_planless(row, columns)

    counts = dict((s, 0) for s in HOST_STATUSES)
    by_diag = {}
    by_site = {}
    basic_rows = []
    drift_hosts = []
    checks = checks_failed = 0
    for row in rows:
        counts[row["status"]] += 1
        for code in sorted(set(row["failing_codes"])):
            by_diag[code] = by_diag.get(code, 0) + 1
        site = by_site.get(row["site"])
        if site is None:
            site = by_site[row["site"]] = dict((s, 0) for s in ("hosts",) + HOST_STATUSES + ("basic_auth",))
        site["hosts"] += 1
        site[row["status"]] += 1
        if row["basic_auth"]:
            site["basic_auth"] += 1
        for item in row["basic_auth"]:
            basic_rows.append(dict(item, host=row["host"]))
        if (row["drift"] or {}).get("changed"):
            drift_hosts.append(row["host"])
        checks += len(row["endpoints"])
        checks_failed += sum(1 for c in row["endpoints"] if c["status"] in ("fail", "unreachable", "not_run"))
    summary = {
        "hosts": len(rows),
        "ok": counts["ok"], "failing": counts["failing"],
        "unreachable": counts["unreachable"], "not_run": counts["not_run"],
        "by_diagnosis": dict(sorted(by_diag.items())),
        "by_site": dict(sorted(by_site.items(), key=lambda kv: host_sort_key(kv[0]))),
        "checks": checks,
        "checks_failed": checks_failed,
        "failing_hosts": [r["host"] for r in rows if r["status"] != "ok"],
        "drift_hosts": drift_hosts,
        "basic_auth_hosts": sorted(set(b["host"] for b in basic_rows), key=host_sort_key),
        "basic_auth_deadline": deadline,
        "days_to_basic_auth_deadline": days_to_deadline,
    }
    report = {"schema": SCHEMA, "title": title, "generated": generated, "summary": summary,
              "columns": columns, "hosts": rows, "basic_auth": basic_rows}
    if sources:
        report["sources"] = sources
    if previous is not None:
        report["trend"] = compute_trend(report, previous)
    for hook in SUMMARY_HOOKS:
        summary.update(hook(report) or {})
    return report


def build_report(hosts, results, title=DEFAULT_TITLE, generated=None, deadline=None, today=None, inventory=None,
                 previous=None):
    """Build the report model.

    ``hosts``: every host of the play (``ansible_play_hosts_all``).
    ``results``: host name -> the host's ``reachability_result`` (or None when the host never recorded one).
    ``inventory``: host name -> {"site": ..., "groups": [...]} (optional: the site and inventory groups).
    ``previous``: the previous report (a loaded report.json) for the trend.
    """
    deadline = deadline or basic_auth_deadline()
    inventory = inventory or {}
    rows = []
    for name in hosts:
        meta = inventory.get(name) or {}
        rows.append(host_row(name, results.get(name), deadline=deadline, site=meta.get("site"),
                             groups=meta.get("groups")))
    return assemble(rows, title=title, generated=generated, deadline=deadline, today=today, previous=previous)


# --------------------------------------------------------------------------------------------- merge

def load_report(path):
    """A report.json read back, checked to be one of ours (ReportError names the file and what is wrong)."""
    try:
        with open(path, "rb") as f:
            data = json.loads(f.read().decode("utf-8"))
    except (IOError, OSError) as e:
        raise ReportError("cannot read the report %s: %s" % (path, e))
    except ValueError as e:
        raise ReportError("%s is not a JSON report: %s" % (path, e))
    if not isinstance(data, dict) or data.get("schema") != SCHEMA or not isinstance(data.get("hosts"), list):
        raise ReportError("%s is not a mailfleet fleet report (schema %s expected, found %r): pass the report.json "
                          "that mailfleet.outlook.fleet_report wrote" % (path, SCHEMA, (data or {}).get("schema")
                                                                         if isinstance(data, dict) else type(data).__name__))
    for row in data["hosts"]:
        if not isinstance(row, dict) or not isinstance(row.get("host"), str) or row.get("status") not in HOST_STATUSES:
            raise ReportError("%s: a host entry has no host name or an unknown status: %.200r" % (path, row))
    return data


def report_paths(patterns):
    """Report files from paths, directories holding a report.json, and glob patterns, in a stable order.
    A pattern that matches nothing is an error (a slice that wrote no report must not pass unnoticed)."""
    paths = []
    for pattern in patterns:
        pattern = os.path.expanduser(str(pattern))
        if os.path.isdir(pattern):
            pattern = os.path.join(pattern, FILE_NAMES["json"])
        found = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else ([pattern] if os.path.exists(pattern) else [])
        if not found:
            raise ReportError("%s matches no report file; give the report.json of each slice (a path, a directory "
                              "holding report.json, or a glob such as reports/slices/*/report.json)" % pattern)
        paths.extend(p for p in found if p not in paths)
    return paths


# Which of two rows of the same host wins in a merge: evidence beats its absence, then the newer report.
_EVIDENCE = {"ok": 2, "failing": 2, "unreachable": 1, "not_run": 0}


def _merge_row(row):
    row = dict(row)
    row["endpoints"] = [c for c in row.get("endpoints") or [] if not c.get("synthetic")]
    row.setdefault("site", NO_SITE)
    row.setdefault("groups", [])
    row.setdefault("basic_auth", [])
    row.setdefault("failing_codes", [])
    if not row["endpoints"]:
        row["failing_codes"] = []
    return row


def merge_reports(reports, hosts=None, inventory=None, title=None, generated=None, deadline=None, today=None,
                  previous=None, names=None):
    """One report from several (slices of one fleet, parallel jobs per site).

    ``reports``: loaded reports. ``names``: one label per report (its path), recorded in ``sources``.
    ``hosts``: the hosts the merged report must have (e.g. the whole inventory); a host no report has is
    ``not_run``. ``inventory`` as for build_report (overrides the site and groups the reports recorded).
    A host in several reports: the row with a probe result wins over unreachable / not run, then the newer report.
    """
    inventory = inventory or {}
    names = list(names or [])
    best = {}
    sources = []
    for i, rep in enumerate(reports):
        label = names[i] if i < len(names) else "report %d" % (i + 1)
        sources.append({"report": label, "generated": rep.get("generated"), "hosts": len(rep["hosts"]),
                        "title": rep.get("title")})
        for row in rep["hosts"]:
            rank = (_EVIDENCE[row["status"]], rep.get("generated") or "")
            have = best.get(row["host"])
            if have is None or rank > have[0]:
                best[row["host"]] = (rank, _merge_row(row))
    rows = dict((h, r) for h, (rank, r) in best.items())
    if hosts is not None:
        for name in hosts:
            if name not in rows:
                row = host_row(name, None, deadline=deadline)
                row["msg"] = NOT_IN_SLICES_MSG
                rows[name] = row
    for name, meta in inventory.items():
        if name in rows and (meta.get("site") or meta.get("groups")):
            rows[name]["groups"] = sorted(set(meta.get("groups") or rows[name]["groups"]))
            rows[name]["site"] = site_of(rows[name]["groups"], meta.get("site"))
    if title is None:
        title = (reports[0].get("title") if reports else None) or DEFAULT_TITLE
    return assemble(list(rows.values()), title=title, generated=generated, deadline=deadline, today=today,
                    previous=previous, sources=sources)


# --------------------------------------------------------------------------------------------- trend

_BAD = ("failing", "unreachable")


def compute_trend(report, previous):
    """What changed since ``previous``: new failures, fixed hosts, new and resolved Basic auth exposure."""
    before = dict((r["host"], r) for r in previous.get("hosts") or [])
    now = dict((r["host"], r) for r in report["hosts"])
    new_failures, fixed, changed = [], [], []
    for name, row in now.items():
        old = before.get(name)
        was = old["status"] if old else "absent"
        if row["status"] in _BAD and was in ("ok", "absent", "not_run"):
            new_failures.append({"host": name, "status": row["status"], "was": was,
                                 "codes": sorted(set(c["diagnosis"]["code"] for c in row["endpoints"]
                                                     if c["status"] in ("fail", "unreachable")))})
        elif row["status"] == "ok" and was in _BAD:
            fixed.append({"host": name, "was": was, "codes": sorted(set(old.get("failing_codes") or []))})
        elif row["status"] in _BAD and was in _BAD:
            codes = sorted(set(row["failing_codes"]))
            old_codes = sorted(set(old.get("failing_codes") or []))
            if (row["status"], codes) != (was, old_codes):
                changed.append({"host": name, "status": row["status"], "was": was, "codes": codes, "old_codes": old_codes})

    def exposure(rep):
        return set((b.get("host"), b.get("component"), b.get("variable")) for b in rep.get("basic_auth") or [])
    exp_now, exp_before = exposure(report), exposure(previous)
    new_basic = [{"host": h, "component": c, "variable": v} for h, c, v in exp_now - exp_before]
    resolved = [{"host": h, "component": c, "variable": v} for h, c, v in exp_before - exp_now if h in now]

    def order(item):
        return (host_sort_key(item["host"]), str(item.get("component")))

    trend = {
        "previous_generated": previous.get("generated"),
        "previous_hosts": len(before),
        "new_failures": sorted(new_failures, key=order),
        "fixed": sorted(fixed, key=order),
        "changed": sorted(changed, key=order),
        "new_basic_auth": sorted(new_basic, key=order),
        "basic_auth_resolved": sorted(resolved, key=order),
        "hosts_added": sorted((h for h in now if h not in before), key=host_sort_key),
        "hosts_removed": sorted((h for h in before if h not in now), key=host_sort_key),
    }
    keys = ("new_failures", "fixed", "changed", "new_basic_auth", "basic_auth_resolved", "hosts_added", "hosts_removed")
    trend["counts"] = dict((k, len(trend[k])) for k in keys)
    return trend


def _plural(n, word, plural=None):
    return "%d %s" % (n, word if n == 1 else (plural or word + "s"))


def trend_line(report):
    t = report.get("trend")
    if not t:
        return ""
    c = t["counts"]
    parts = [_plural(c["new_failures"], "new failure"), _plural(c["fixed"], "fixed host"),
             _plural(c["new_basic_auth"], "new Basic auth exposure", "new Basic auth exposures")]
    if c["changed"]:
        parts.append("%d failing differently" % c["changed"])
    if c["basic_auth_resolved"]:
        parts.append("%d Basic auth resolved" % c["basic_auth_resolved"])
    if c["hosts_added"] or c["hosts_removed"]:
        parts.append("%d hosts added, %d removed" % (c["hosts_added"], c["hosts_removed"]))
    return "since %s: %s" % (t.get("previous_generated") or "the previous report", ", ".join(parts))


# --------------------------------------------------------------------------------------------- text

def summary_line(report):
    s = report["summary"]
    parts = ["%d host%s: %d ok, %d failing" % (s["hosts"], "" if s["hosts"] == 1 else "s", s["ok"], s["failing"])]
    if s["by_diagnosis"]:
        parts[0] += " (%s)" % ", ".join("%s: %d" % kv for kv in s["by_diagnosis"].items())
    parts.append("%d unreachable by Ansible" % s["unreachable"])
    if s["not_run"]:
        parts.append("%d not run (%s)" % (s["not_run"], "no result in any merged report, or failed earlier"
                                          if report.get("sources") else "failed earlier"))
    if s["drift_hosts"]:
        parts.append("%d with configuration drift" % len(s["drift_hosts"]))
    if s["basic_auth_hosts"]:
        parts.append("%d still on Basic auth (deadline %s)" % (len(s["basic_auth_hosts"]), s["basic_auth_deadline"]))
    parts.extend(hook(report) for hook in SUMMARY_LINE_HOOKS)
    return "; ".join(p for p in parts if p)


def summary_table(report, limit=None):
    """A short plain-text table: host, status, one column per endpoint (diagnosis code).

    ``limit``: at most this many host lines (failing hosts first), then a line saying how many were left out."""
    cols = report["columns"]
    rows = [["host", "site", "status"] + cols]
    hosts = report["hosts"]
    left = 0
    if limit is not None and len(hosts) > limit:
        hosts = sorted(hosts, key=lambda r: r["status"] == "ok")[:limit]
        left = len(report["hosts"]) - limit
    for r in hosts:
        by = dict((c.get("name"), c) for c in r["endpoints"])
        line = [r["host"], r.get("site") or "", r["status"]]
        for col in cols:
            c = by.get(col)
            line.append("-" if c is None else c["diagnosis"]["code"])
        rows.append(line)
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    out = ["  ".join(str(v).ljust(w) for v, w in zip(row, widths)).rstrip() for row in rows]
    out.insert(1, "  ".join("-" * w for w in widths))
    if left:
        out.append("... and %d more hosts (see the report files)" % left)
    return "\n".join(out)


def stats(report, paths=None):
    """The summary to publish with ansible.builtin.set_stats (AWX job details, workflow nodes)."""
    s = report["summary"]
    data = dict((k, s[k]) for k in ("hosts", "ok", "failing", "unreachable", "not_run", "by_diagnosis",
                                    "failing_hosts", "basic_auth_hosts", "basic_auth_deadline", "drift_hosts"))
    data["summary_line"] = summary_line(report)
    data["generated"] = report["generated"]
    if report.get("trend"):
        data["trend"] = dict(report["trend"]["counts"], line=trend_line(report))
    if paths:
        data["paths"] = dict(paths)
    return data


# --------------------------------------------------------------------------------------------- JSON

def render_json(report):
    """Compact JSON, one host per line (fast to write, diff and grep at thousands of hosts)."""
    head = dict((k, v) for k, v in report.items() if k != "hosts")
    text = json.dumps(head, separators=(",", ":"), default=str)
    hosts = ",\n".join(json.dumps(r, separators=(",", ":"), default=str) for r in report["hosts"])
    return '%s,"hosts":[\n%s\n]}\n' % (text[:-1], hosts) if head else '{"hosts":[\n%s\n]}\n' % hosts


# --------------------------------------------------------------------------------------------- JUnit, HTML, files

def render_junit(report):
    """report.xml (see _fleet_report_junit; imported here lazily, as the HTML page, so that this module imports on its own)."""
    from ansible_collections.mailfleet.outlook.plugins.plugin_utils._fleet_report_junit import render_junit as render
    return render(report)


def render_html(report):
    """The HTML page (see _fleet_report_html; imported here lazily so this module imports on its own)."""
    from ansible_collections.mailfleet.outlook.plugins.plugin_utils._fleet_report_html import render_page
    return render_page(report)


RENDERERS = {"json": render_json, "junit": render_junit, "html": render_html}


def write_report(report, dest, formats=FORMATS):
    """Write the report files into the directory ``dest`` (atomically each); return {format: path}."""
    if not os.path.isdir(dest):
        os.makedirs(dest)
    paths = {}
    for fmt in formats:
        path = os.path.join(dest, FILE_NAMES[fmt])
        data = RENDERERS[fmt](report).encode("utf-8")
        fd, tmp = tempfile.mkstemp(dir=dest, prefix=".%s." % FILE_NAMES[fmt])
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
