# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Building blocks of the fleet report page's sections: escaping and number formats, the page's shared state
(``Page``: the problem cells folded by cause, computed once) and the folded lines of hosts."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import html
import re

from ansible_collections.mailfleet.outlook.plugins.module_utils._diagnosis import STAGES

# Host lists inside a folded line: names beyond this many are left to the grid's search (the line says so).
HOST_LIST_LIMIT = 2000


def _e(value):
    return html.escape("" if value is None else str(value), quote=True)


def _ms(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return 0.0


def _n(n):
    return "{:,}".format(n)


def _stage_keys(t):
    keys = [s for s in STAGES if s in t]
    keys += [k for k in t if k not in STAGES and k != "total"]
    return keys


def _pct(part, whole):
    return 100.0 * part / whole if whole else 0.0


_PROBLEM = ("fail", "optional_fail", "unreachable", "not_run")


class Page:
    """What several sections share, computed once per page: the folded failures and the grid data."""

    def __init__(self, report):
        self.report = report
        self.hosts = report["hosts"]
        self._folds = None

    @property
    def folds(self):
        """Problem cells folded: one entry per (code, endpoint, target, status) with its hosts."""
        if self._folds is None:
            folds = {}
            for row in self.hosts:
                for c in row["endpoints"]:
                    if c["status"] not in _PROBLEM:
                        continue
                    d = c["diagnosis"]
                    target = "%s:%s %s" % (c.get("host"), c.get("port"), c.get("security")) if c.get("host") else ""
                    key = (d["code"], c.get("name"), target, c["status"])
                    f = folds.get(key)
                    if f is None:
                        f = folds[key] = {"code": d["code"], "endpoint": c.get("name"), "target": target,
                                          "status": c["status"], "hosts": [], "messages": {}, "hints": {}, "sites": {}}
                    f["hosts"].append(row["host"])
                    f["messages"][d["message"]] = f["messages"].get(d["message"], 0) + 1
                    if d["hint"]:
                        f["hints"][d["hint"]] = f["hints"].get(d["hint"], 0) + 1
                    site = row.get("site") or ""
                    f["sites"][site] = f["sites"].get(site, 0) + 1
            self._folds = sorted(folds.values(), key=lambda f: (-len(f["hosts"]), f["code"], str(f["endpoint"])))
        return self._folds


def hosts_list(names, label="hosts", limit=HOST_LIST_LIMIT):
    """A folded list of host names: inline when short, else in a collapsed <details>."""
    names = list(names)
    if not names:
        return ""
    shown = names[:limit]
    more = ""
    if len(names) > limit:
        more = " &hellip; and %s more (search the grid)" % _n(len(names) - limit)
    text = ", ".join(_e(n) for n in shown) + more
    if len(names) <= 5:
        return "<p class=\"hosts\">%s</p>" % text
    return "<details class=\"hosts\"><summary>%s %s</summary><p class=\"hosts\">%s</p></details>" % (
        _n(len(names)), _e(label), text)


def _filter_button(kind, value, label="show in the grid"):
    return "<button type=\"button\" class=\"js-only\" data-filter=\"%s\" data-value=\"%s\">%s</button>" % (
        _e(kind), _e(value), _e(label))


def message_shape(message, host=None):
    """What one message says without what varies per host (its name, addresses, numbers): the key that folds
    "cannot reach 10.0.0.7" and "cannot reach 10.0.0.9" into one line."""
    text = str(message or "")
    if host:
        text = text.replace(host, "<host>")
    return re.sub(r"[0-9a-fA-F]*\d[0-9a-fA-F.:]*", "#", text)


def _variants(counts, label):
    items = sorted(counts.items(), key=lambda kv: -kv[1])
    if len(items) == 1:
        return _e(items[0][0])
    shown = "; ".join("%s (%s)" % (_e(t), _n(n)) for t, n in items[:3])
    if len(items) > 3:
        shown += "; and %d more %s" % (len(items) - 3, label)
    return shown


def _fold_line(f, with_sites=True):
    n = len(f["hosts"])
    head = "<strong>%s</strong> &rarr; <code>%s</code>%s: <span class=\"count\">%s host%s</span>" % (
        _e(f["endpoint"]), _e(f["code"]), (" (%s)" % _e(f["target"])) if f["target"] else "", _n(n), "" if n == 1 else "s")
    if f["status"] != "fail":
        head += " <span class=\"badge h-%s\">%s</span>" % (
            "failing" if f["status"] == "optional_fail" else _e(f["status"]), _e(f["status"].replace("_", " ")))
    parts = [head, " %s" % _variants(f["messages"], "messages")]
    if f["hints"]:
        parts.append("<br><span class=\"hint\">Hint: %s</span>" % _variants(f["hints"], "hints"))
    if with_sites and len(f["sites"]) > 1:
        parts.append("<br><span class=\"sites\">by site: %s</span>" % ", ".join(
            "%s %s" % (_e(s), _n(k)) for s, k in sorted(f["sites"].items(), key=lambda kv: (-kv[1], kv[0]))[:12]))
    parts.append(hosts_list(f["hosts"]))
    return "<div class=\"fold\" data-code=\"%s\" data-endpoint=\"%s\" data-hosts=\"%d\">%s</div>" % (
        _e(f["code"]), _e(f["endpoint"]), n, "".join(parts))
