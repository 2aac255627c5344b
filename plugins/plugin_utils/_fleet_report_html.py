# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The HTML page of the fleet report: one self-contained file that a person can read at thousands of hosts.

- Everything a reader needs first is rendered on the server (readable without JavaScript): the summary
  (counts by status and diagnosis, by site, a chart), the trend, the Basic auth list, failures grouped by
  cause and by site in collapsed ``<details>``, with the hosts of one failure folded into one line.
- The hosts x endpoints grid is rendered lazily by a small inline script: the data is embedded once as
  compact JSON (strings interned in a table), and only the rows in view are materialised, with a search
  box and filters. No external asset; the Content-Security-Policy forbids any.

The page is a list of sections (``SECTIONS``): ``(section_id, render)`` where ``render(report, page)`` returns
HTML (or "" to leave the section out). Other report parts plug in with ``register_section``. The sections'
building blocks are in ``_fleet_report_html_parts.py``, the style sheet and the grid script in
``_fleet_report_html_assets.py``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import math
import re

from ansible_collections.mailfleet.outlook.plugins.module_utils._diagnosis import CODES, STAGES
from ansible_collections.mailfleet.outlook.plugins.plugin_utils._fleet_report import (
    HOST_STATUSES,
    host_sort_key,
    summary_line,
    trend_line,
)
from ansible_collections.mailfleet.outlook.plugins.plugin_utils._fleet_report_html_assets import _CSS, _JS
from ansible_collections.mailfleet.outlook.plugins.plugin_utils._fleet_report_html_parts import (
    _PROBLEM,
    Page,
    _e,
    _filter_button,
    _fold_line,
    _ms,
    _n,
    _pct,
    _stage_keys,
    _variants,
    hosts_list,
    message_shape,
)

# Endpoint fields that other parts of the probe add: shown in the grid's cell details as "field: value" when an
# endpoint has them. Append to add one. (The proxy is shown as "through: <proxy or direct>" for every probed cell.)
EXTRA_CELL_FIELDS = []

SLOWEST = 10


# --------------------------------------------------------------------------------------------- sections

def section_summary(report, page):
    s = report["summary"]
    out = []
    cls = "all-ok" if s["ok"] == s["hosts"] else "has-fail"
    out.append("<p id=\"summary\" class=\"summary %s\" data-hosts=\"%d\" data-ok=\"%d\" data-failing=\"%d\" "
               "data-unreachable=\"%d\" data-not-run=\"%d\">%s</p>" % (
                   cls, s["hosts"], s["ok"], s["failing"], s["unreachable"], s["not_run"], _e(summary_line(report))))
    # chart: one stacked bar of host statuses (inline SVG)
    total = s["hosts"] or 1
    x = 0.0
    rects = []
    for st in HOST_STATUSES:
        w = 600.0 * s[st] / total
        if w > 0:
            rects.append("<rect class=\"st-%s\" x=\"%.2f\" y=\"0\" width=\"%.2f\" height=\"22\"><title>%s: %s</title></rect>" % (
                st, x, w, st.replace("_", " "), _n(s[st])))
        x += w
    out.append("<svg id=\"status-chart\" class=\"chart\" width=\"600\" height=\"22\" viewBox=\"0 0 600 22\" role=\"img\" "
               "aria-label=\"%s\">%s</svg>" % (_e(", ".join("%s %d" % (st, s[st]) for st in HOST_STATUSES)), "".join(rects)))
    out.append("<p class=\"legend\">%s</p>" % "".join(
        "<span class=\"st-%s\">%s %s</span>" % (st, st.replace("_", " "), _n(s[st])) for st in HOST_STATUSES))
    if s.get("basic_auth_hosts"):
        days = s.get("days_to_basic_auth_deadline")
        out.append("<p id=\"basic-auth-figure\"><strong>%s host%s still on Basic auth</strong> against Microsoft: "
                   "it stops working from %s%s.</p>" % (
                       _n(len(s["basic_auth_hosts"])), "" if len(s["basic_auth_hosts"]) == 1 else "s",
                       _e(s["basic_auth_deadline"]), "" if days is None else " (%d days)" % days))
    # failing hosts by diagnosis
    by = s["by_diagnosis"]
    if by:
        top = max(by.values())
        # what a code means: the diagnosis table's own words, else the most frequent message
        msgs = dict((code, CODES[code][0]) for code in by if code in CODES)
        for f in page.folds:
            msgs.setdefault(f["code"], sorted(f["messages"].items(), key=lambda kv: -kv[1])[0][0])
        out.append("<table id=\"by-diagnosis\"><thead><tr><th>diagnosis</th><th>failing hosts</th><th></th><th>what it means</th>"
                   "</tr></thead><tbody>")
        for code, n in sorted(by.items(), key=lambda kv: (-kv[1], kv[0])):
            out.append("<tr data-code=\"%s\"><td><code>%s</code> %s</td><td class=\"n\">%s</td><td><span class=\"hbar\" "
                       "style=\"width:%.1fem\"></span></td><td>%s</td></tr>" % (
                           _e(code), _e(code), _filter_button("code", code, "show"), _n(n), 12.0 * n / top,
                           _e(msgs.get(code, ""))))
        out.append("</tbody></table>")
    # by site
    sites = s.get("by_site") or {}
    if sites:
        out.append("<table id=\"by-site\"><thead><tr><th>site</th><th>hosts</th><th>ok</th><th>failing</th><th>unreachable</th>"
                   "<th>not run</th><th>Basic auth</th><th></th></tr></thead><tbody>")
        for site, c in sorted(sites.items(), key=lambda kv: (-(kv[1]["hosts"] - kv[1]["ok"]), host_sort_key(kv[0]))):
            segments = "".join("<span class=\"st-%s\" style=\"width:%.2f%%\"></span>" % (st, _pct(c[st], c["hosts"]))
                               for st in HOST_STATUSES if c[st])
            out.append("<tr data-site=\"%s\"><td>%s %s</td><td class=\"n\">%s</td>%s<td class=\"n\">%s</td><td><span class=\"mini\">%s"
                       "</span></td></tr>" % (
                           _e(site), _e(site), _filter_button("site", site, "show"), _n(c["hosts"]),
                           "".join("<td class=\"n\">%s</td>" % _n(c[st]) for st in HOST_STATUSES), _n(c.get("basic_auth", 0)),
                           segments))
        out.append("</tbody></table>")
    return "".join(out)


def section_trend(report, page):
    t = report.get("trend")
    if not t:
        return ""
    out = ["<h2 id=\"trend-title\">Since the previous report (%s)</h2>" % _e(t.get("previous_generated") or "?"),
           "<p id=\"trend\" data-new-failures=\"%d\" data-fixed=\"%d\" data-new-basic-auth=\"%d\">%s</p>" % (
               t["counts"]["new_failures"], t["counts"]["fixed"], t["counts"]["new_basic_auth"], _e(trend_line(report)))]

    def by_key(items, key):
        groups = {}
        for item in items:
            groups.setdefault(key(item), []).append(item["host"])
        return sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))

    if t["new_failures"]:
        out.append("<details class=\"group\" id=\"trend-new-failures\" open><summary>New failures: %s</summary>" % _n(len(t["new_failures"])))
        for key, names in by_key(t["new_failures"], lambda i: "%s (was %s)" % (", ".join(i["codes"]) or i["status"], i["was"])):
            out.append("<div class=\"fold\"><strong>%s</strong>: <span class=\"count\">%s</span>%s</div>" % (
                _e(key), _n(len(names)), hosts_list(names)))
        out.append("</details>")
    if t["fixed"]:
        out.append("<details class=\"group\" id=\"trend-fixed\"><summary>Fixed: %s</summary>" % _n(len(t["fixed"])))
        for key, names in by_key(t["fixed"], lambda i: "was %s %s" % (i["was"], ", ".join(i["codes"]))):
            out.append("<div class=\"fold\"><strong>%s</strong>: <span class=\"count\">%s</span>%s</div>" % (
                _e(key), _n(len(names)), hosts_list(names)))
        out.append("</details>")
    if t["changed"]:
        out.append("<details class=\"group\" id=\"trend-changed\"><summary>Failing differently: %s</summary>%s</details>" % (
            _n(len(t["changed"])), hosts_list([i["host"] for i in t["changed"]])))
    if t["new_basic_auth"]:
        out.append("<details class=\"group\" id=\"trend-new-basic-auth\" open><summary>New Basic auth exposure: %s</summary>"
                   % _n(len(t["new_basic_auth"])))
        for key, names in by_key(t["new_basic_auth"], lambda i: re.sub(r"\[\d+\]", "[i]", str(i["variable"]))):
            out.append("<div class=\"fold\"><code>%s</code>: <span class=\"count\">%s</span>%s</div>" % (
                _e(key), _n(len(names)), hosts_list(names)))
        out.append("</details>")
    if t["basic_auth_resolved"]:
        out.append("<details class=\"group\"><summary>Basic auth resolved: %s</summary>%s</details>" % (
            _n(len(t["basic_auth_resolved"])), hosts_list([i["host"] for i in t["basic_auth_resolved"]])))
    if t["hosts_added"] or t["hosts_removed"]:
        out.append("<details class=\"group\"><summary>Hosts added: %s, removed: %s</summary>%s%s</details>" % (
            _n(len(t["hosts_added"])), _n(len(t["hosts_removed"])), hosts_list(t["hosts_added"], "added"),
            hosts_list(t["hosts_removed"], "removed")))
    return "".join(out)


def _basic_auth_folds(report):
    folds = {}
    for b in report["basic_auth"]:
        kind = str(b.get("component") or "").split(" ", 1)[0]
        key = (kind, re.sub(r"\[\d+\]", "[i]", str(b.get("variable"))), str(b.get("profile")), str(b.get("deadline")),
               str(b.get("fix")))
        folds.setdefault(key, []).append(b["host"])
    return sorted(folds.items(), key=lambda kv: (-len(kv[1]), kv[0]))


def section_basic_auth(report, page):
    if not report["basic_auth"]:
        return ""
    s = report["summary"]
    days = s.get("days_to_basic_auth_deadline")
    out = ["<h2 id=\"basic-auth-title\">Still on password (Basic) authentication against Microsoft: change before %s%s</h2>"
           % (_e(s["basic_auth_deadline"]), "" if days is None else " (%d days)" % days),
           "<table id=\"basic-auth\"><thead><tr><th>component</th><th>hosts</th><th>profile</th><th>deadline</th>"
           "<th>variable to change</th><th>fix</th></tr></thead><tbody>"]
    for (kind, variable, profile, deadline, fix), names in _basic_auth_folds(report):
        uniq = sorted(set(names), key=host_sort_key)
        out.append("<tr class=\"basic-auth-row\" data-hosts=\"%d\"><td>%s</td><td><span class=\"count\">%s</span>%s</td>"
                   "<td>%s</td><td>%s</td><td><code>%s</code></td><td class=\"hint\">%s</td></tr>" % (
                       len(uniq), _e(kind), _n(len(uniq)), hosts_list(uniq), _e(profile), _e(deadline), _e(variable), _e(fix)))
    out.append("</tbody></table>")
    return "".join(out)


def section_by_cause(report, page):
    out = ["<h2 id=\"by-cause-title\">Failures by cause</h2>"]
    if not page.folds:
        out.append("<p id=\"failures\">None.</p>")
        return "".join(out)
    by_code = {}
    for f in page.folds:
        by_code.setdefault(f["code"], []).append(f)
    out.append("<div id=\"failures\">")
    for code, folds in sorted(by_code.items(), key=lambda kv: (-len(set(h for f in kv[1] for h in f["hosts"])), kv[0])):
        n = len(set(h for f in folds for h in f["hosts"]))
        out.append("<details class=\"group cause\" data-code=\"%s\"><summary><code>%s</code>: <span class=\"count\">%s host%s</span> "
                   "%s</summary>%s%s</details>" % (
                       _e(code), _e(code), _n(n), "" if n == 1 else "s", _filter_button("code", code),
                       "".join(_fold_line(f) for f in folds), ""))
    out.append("</div>")
    return "".join(out)


def section_by_site(report, page):
    sites = report["summary"].get("by_site") or {}
    if len(sites) < 2 and not page.folds:
        return ""
    per_site = {}
    for row in report["hosts"]:
        per_site.setdefault(row.get("site") or "", []).append(row)
    out = ["<h2 id=\"by-site-title\">By site</h2><div id=\"sites\">"]
    for site, c in sorted(sites.items(), key=lambda kv: (-(kv[1]["hosts"] - kv[1]["ok"]), host_sort_key(kv[0]))):
        folds = {}
        for row in per_site.get(site, []):
            for cell in row["endpoints"]:
                if cell["status"] in _PROBLEM:
                    key = (cell["diagnosis"]["code"], cell.get("name"), cell["status"])
                    folds.setdefault(key, []).append(row["host"])
        bad = c["hosts"] - c["ok"]
        out.append("<details class=\"group site\" data-site=\"%s\"><summary><strong>%s</strong>: %s hosts, %s ok, %s not ok "
                   "<span class=\"mini\">%s</span> %s</summary>" % (
                       _e(site), _e(site), _n(c["hosts"]), _n(c["ok"]), _n(bad),
                       "".join("<span class=\"st-%s\" style=\"width:%.2f%%\"></span>" % (st, _pct(c[st], c["hosts"]))
                               for st in HOST_STATUSES if c[st]), _filter_button("site", site)))
        for (code, endpoint, status), names in sorted(folds.items(), key=lambda kv: (-len(kv[1]), kv[0])):
            out.append("<div class=\"fold\"><strong>%s</strong> &rarr; <code>%s</code>%s: <span class=\"count\">%s</span>%s</div>" % (
                _e(endpoint), _e(code), "" if status == "fail" else " (%s)" % _e(status.replace("_", " ")), _n(len(names)),
                hosts_list(names)))
        if not folds:
            out.append("<p>Every host of this site reaches what it needs.</p>")
        out.append("</details>")
    out.append("</div>")
    return "".join(out)


def _detail_pairs(c, si):
    """(label, value) lines of a cell's details beyond the fixed fields: how it was probed, then EXTRA_CELL_FIELDS."""
    pairs = []
    if c.get("timings_ms"):  # probed: say how (the proxy's address is the one connected to)
        pairs.append([si("through"), si(c.get("proxy") or "direct")])
    for k in EXTRA_CELL_FIELDS:
        if c.get(k) not in (None, "", [], {}):
            pairs.append([si(k), si(json.dumps(c[k]) if isinstance(c[k], (dict, list)) else c[k])])
    return pairs


def grid_data(report):
    """The grid's data: compact JSON, every string once in a table (``s``), cells as arrays of indexes."""
    strings = [""]
    index = {"": 0}

    def si(value):
        if value is None:
            return 0
        value = str(value)
        i = index.get(value)
        if i is None:
            i = index[value] = len(strings)
            strings.append(value)
        return i

    cols = report["columns"]
    col_i = dict((c, i) for i, c in enumerate(cols))
    hosts = []
    for row in report["hosts"]:
        drift = row.get("drift") or {}
        cells = []
        for c in row["endpoints"]:
            d = c["diagnosis"]
            tls = c.get("tls") or {}
            cert = tls.get("cert") or {}
            reply = c.get("reply") or {}
            t = c.get("timings_ms") or {}
            timings = 0
            if t:
                timings = [t.get(s) for s in STAGES] + [t.get("total")]
            target = "%s:%s (%s)" % (c.get("host"), c.get("port"), c.get("security")) if c.get("host") else ""
            said = " ".join(str(v) for v in (reply.get("code"), reply.get("enhanced_code"), reply.get("text")) if v)
            cells.append([
                col_i.get(c.get("name"), 0), si(c["status"]), si(d["code"]), si(d["message"]), si(d["hint"]), si(target),
                si(c.get("stage")), si(c.get("failed_stage")), si(c.get("address")), si(said),
                si(" ".join(str(v) for v in (tls.get("version"), tls.get("cipher")) if v)),
                si("subject %s, issuer %s, not after %s" % (cert.get("subject"), cert.get("issuer"), cert.get("not_after"))
                   if cert else ""),
                cert.get("days_left") if cert else None, si("; ".join(str(w) for w in c.get("warnings") or [])),
                timings, 1 if c.get("required", True) else 0,
                _detail_pairs(c, si)])
        hosts.append([row["host"], si(row["status"]), si(row.get("site")),
                      si(", ".join(drift.get("files") or []) or "yes") if drift.get("changed") else 0,
                      1 if row.get("basic_auth") else 0, cells])
    return {"v": 1, "stages": list(STAGES), "cols": cols, "s": strings, "h": hosts}


def _script_json(data):
    """JSON that is safe inside <script type="application/json">: no '<', '>' or '&' can close or confuse it."""
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False, default=str)
    return (text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def section_grid(report, page):
    s = report["summary"]
    cols = report["columns"]
    codes = sorted(set(c["diagnosis"]["code"] for r in report["hosts"] for c in r["endpoints"]))
    legend = "".join("<span class=\"st-%s\">%s</span>" % (st, st.replace("_", " "))
                     for st in ("ok", "warn", "fail", "optional_fail", "unreachable", "not_run"))
    out = ["<h2 id=\"hosts\">Hosts &times; endpoints</h2>",
           "<p class=\"legend\">" + legend +
           " &middot; hover a cell for the diagnosis, click it (or Enter) for details</p>",
           "<div class=\"controls js-only\"><input id=\"q\" type=\"search\" placeholder=\"search a host, a site or a diagnosis\" "
           "aria-label=\"search\"><select id=\"f-status\" aria-label=\"status\"><option value=\"\">every status</option>"
           "<option value=\"problem\">not ok</option>%s</select><select id=\"f-site\" aria-label=\"site\"><option value=\"\">"
           "every site</option>%s</select><select id=\"f-code\" aria-label=\"diagnosis\"><option value=\"\">every diagnosis"
           "</option>%s</select><span id=\"grid-count\"></span></div>" % (
               "".join("<option>%s</option>" % _e(st) for st in HOST_STATUSES),
               "".join("<option>%s</option>" % _e(site) for site in s.get("by_site") or {}),
               "".join("<option>%s</option>" % _e(code) for code in codes)),
           "<noscript><p>The grid of every host needs JavaScript; the summary and the groups by cause and by site "
           "list every host that is not ok, and report.json has every detail.</p></noscript>",
           "<div id=\"grid-wrap\" class=\"js-only\"><table id=\"grid\"><thead><tr><th>host</th><th>site</th>%s</tr></thead>"
           "<tbody id=\"grid-body\"></tbody></table></div>" % "".join("<th>%s</th>" % _e(c) for c in cols),
           "<div id=\"detail\" class=\"js-only\" aria-live=\"polite\">Click a cell for its details.</div>",
           "<script type=\"application/json\" id=\"report-data\">%s</script>" % _script_json(grid_data(report))]
    return "".join(out)


def _quantile(values, q):
    if not values:
        return 0.0
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def _total_of(c):
    t = c.get("timings_ms") or {}
    return _ms(t.get("total")) or sum(_ms(v) for k, v in t.items() if k != "total")


def _bar_row(label, t, total, top, attrs=""):
    length = 100.0 * math.log10(1.0 + total) / top if top > 0 else 0.0
    keys = _stage_keys(t)
    parts = sum(_ms(t[k]) for k in keys) or 1.0
    segs = "".join("<span class=\"seg-%s\" style=\"width:%.2f%%\" title=\"%s: %s ms\"></span>" % (
        _e(k if k in STAGES else "other"), length * _ms(t[k]) / parts, _e(k), _e(round(_ms(t[k]), 1))) for k in keys)
    return "<div class=\"row\"%s><span class=\"label\">%s</span><div class=\"bar\">%s</div><span class=\"ms\">%s ms</span></div>" % (
        attrs, label, segs, _e(round(total, 1)))


def section_latency(report, page):
    """Per endpoint: the median time of each stage and the 95th percentile; then the slowest endpoints."""
    probed = [(r, c) for r in report["hosts"] for c in r["endpoints"] if c.get("timings_ms")]
    out = ["<h2>Latency per stage</h2><p class=\"legend\">" + "".join(
        "<span class=\"seg-%s\">%s</span>" % (st, st) for st in STAGES) +
        " &middot; bar length: total time (log scale); segments: share of each stage</p>"]
    if not probed:
        out.append("<p>Nothing was timed.</p>")
        return "".join(out)
    top = math.log10(1.0 + max(_total_of(c) for r, c in probed) or 1.0)
    per_col = {}
    for r, c in probed:
        per_col.setdefault(c.get("name"), []).append(c)
    out.append("<div class=\"bars\" id=\"latency-endpoints\">")
    for col in report["columns"]:
        cells = per_col.get(col)
        if not cells:
            continue
        medians = dict((k, _quantile([_ms(c["timings_ms"][k]) for c in cells if k in c["timings_ms"]], 0.5))
                       for k in STAGES if any(k in c["timings_ms"] for c in cells))
        totals = [_total_of(c) for c in cells]
        label = "%s: median of %s, p95 %s ms, max %s ms" % (
            _e(col), _n(len(cells)), _e(round(_quantile(totals, 0.95), 1)), _e(round(max(totals), 1)))
        out.append(_bar_row(label, medians, _quantile(totals, 0.5), top, " data-endpoint=\"%s\"" % _e(col)))
    out.append("</div><h3>Slowest endpoints</h3><div class=\"bars\" id=\"latency\">")
    for r, c in sorted(probed, key=lambda rc: -_total_of(rc[1]))[:SLOWEST]:
        out.append(_bar_row("%s &rarr; %s" % (_e(r["host"]), _e(c.get("name"))), c["timings_ms"], _total_of(c), top,
                            " data-host=\"%s\" data-endpoint=\"%s\"" % (_e(r["host"]), _e(c.get("name")))))
    out.append("</div>")
    return "".join(out)


def section_certificates(report, page):
    folds = {}
    for r in report["hosts"]:
        for c in r["endpoints"]:
            tls = c.get("tls") or {}
            cert = tls.get("cert") or {}
            if not cert:
                continue
            key = (str(cert.get("subject")), str(cert.get("issuer")), str(cert.get("not_after")))
            f = folds.setdefault(key, {"hosts": set(), "endpoints": set(), "tls": set(), "days": None, "n": 0})
            f["n"] += 1
            f["hosts"].add(r["host"])
            f["endpoints"].add(str(c.get("name")))
            if tls.get("version"):
                f["tls"].add(str(tls["version"]))
            days = cert.get("days_left")
            if isinstance(days, (int, float)) and (f["days"] is None or days < f["days"]):
                f["days"] = days
    out = ["<h2>Certificates</h2>"]
    if not folds:
        out.append("<p>No certificate was seen.</p>")
        return "".join(out)
    out.append("<table id=\"certs\"><thead><tr><th>subject</th><th>issuer</th><th>not after</th><th>days left</th>"
               "<th>endpoints</th><th>TLS</th><th>seen by</th></tr></thead><tbody>")
    for (subject, issuer, not_after), f in sorted(folds.items(), key=lambda kv: (kv[1]["days"] if kv[1]["days"] is not None else 1e9)):
        low = f["days"] is not None and f["days"] < 21
        out.append("<tr><td>%s</td><td>%s</td><td>%s</td><td class=\"days%s\">%s</td><td>%s</td><td>%s</td><td>%s</td></tr>" % (
            _e(subject), _e(issuer), _e(not_after), " days-low" if low else "", _e(f["days"]),
            _e(", ".join(sorted(f["endpoints"]))), _e(", ".join(sorted(f["tls"]))),
            hosts_list(sorted(f["hosts"], key=host_sort_key))))
    out.append("</tbody></table>")
    return "".join(out)


def section_drift(report, page):
    checked = [r for r in report["hosts"] if (r.get("drift") or {}).get("checked")]
    if not checked:
        return ""
    folds = {}
    for r in checked:
        if r["drift"].get("changed"):
            folds.setdefault(", ".join(r["drift"].get("files") or []) or "see the check-mode diff", []).append(r["host"])
    n = sum(len(v) for v in folds.values())
    out = ["<h2>Configuration drift</h2><p id=\"drift-summary\">%s of %s checked hosts drift.</p>" % (_n(n), _n(len(checked)))]
    if folds:
        out.append("<table id=\"drift\"><thead><tr><th>files that would change</th><th>hosts</th></tr></thead><tbody>")
        for files, names in sorted(folds.items(), key=lambda kv: (-len(kv[1]), kv[0])):
            out.append("<tr data-hosts=\"%d\"><td>%s</td><td><span class=\"count\">%s</span>%s</td></tr>" % (
                len(names), _e(files), _n(len(names)), hosts_list(names)))
        out.append("</tbody></table>")
    return "".join(out)


def section_no_result(report, page):
    folds = {}
    for r in report["hosts"]:
        if r["status"] in ("unreachable", "not_run"):
            f = folds.setdefault((r["status"], message_shape(r["msg"], r["host"])), {"hosts": [], "messages": {}})
            f["hosts"].append(r["host"])
            f["messages"][r["msg"]] = f["messages"].get(r["msg"], 0) + 1
    if not folds:
        return ""
    out = ["<h2>Hosts without a probe result</h2><ul id=\"unreachable\">"]
    for (status, shape), f in sorted(folds.items(), key=lambda kv: (-len(kv[1]["hosts"]), kv[0])):
        names = f["hosts"]
        out.append("<li data-status=\"%s\" data-hosts=\"%d\"><strong>%s</strong> (%s): %s%s</li>" % (
            _e(status), len(names), ("%s hosts" % _n(len(names))) if len(names) > 1 else _e(names[0]),
            _e(status.replace("_", " ")), _variants(f["messages"], "messages"), hosts_list(names) if len(names) > 1 else ""))
    out.append("</ul>")
    return "".join(out)


# The page, in order. register_section() adds more (e.g. how each host sends mail today).
SECTIONS = [
    ("summary", section_summary),
    ("trend", section_trend),
    ("basic-auth", section_basic_auth),
    ("by-cause", section_by_cause),
    ("by-site", section_by_site),
    ("grid", section_grid),
    ("latency", section_latency),
    ("certificates", section_certificates),
    ("drift", section_drift),
    ("no-result", section_no_result),
]


def register_section(section_id, render, before=None):
    """Add (or replace) a section; ``before``: the id of the section it goes in front of (default: the end)."""
    for i, (sid, dummy) in enumerate(SECTIONS):
        if sid == section_id:
            SECTIONS[i] = (section_id, render)
            return
    ids = [sid for sid, dummy in SECTIONS]
    SECTIONS.insert(ids.index(before) if before in ids else len(SECTIONS), (section_id, render))


def render_page(report, sections=None):
    page = Page(report)
    out = ["<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
           # no external asset can load: everything is inline (and the policy says so to the browser)
           "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
           "script-src 'unsafe-inline'; img-src data:\">",
           "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
           "<title>%s</title><style>%s</style></head><body>" % (_e(report["title"]), _CSS),
           "<h1>%s</h1>" % _e(report["title"]),
           "<p class=\"generated\">generated %s &middot; schema %s%s</p>" % (
               _e(report["generated"]), _e(report["schema"]),
               " &middot; merged from %d reports" % len(report["sources"]) if report.get("sources") else "")]
    for section_id, render in (sections or SECTIONS):
        body = render(report, page)
        if body:
            out.append("<section id=\"section-%s\">%s</section>" % (_e(section_id), body))
    out.append("<script>%s</script></body></html>\n" % _JS)
    return "".join(out)
