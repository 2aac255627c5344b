# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark: the fleet report at 1,000, 5,000 and 20,000 hosts, against the 0.1.0 implementation (baseline).

The baseline is the report module as it was before the rewrite (``git show BASELINE_REV:...``, loaded into a
temporary module), measured in the same run on the same machine with the same synthetic fleet
(tests/support/mailfleet_testing/fleet_results.py: 3 endpoints per host, the outcome mix of a large fleet).

Per size and implementation, in a fresh Python process each: build_report, render_html, render_junit,
render_json (seconds, best of --runs), the HTML and JSON sizes, the peak Python memory of build + render
(tracemalloc, a separate pass). Then headless Chromium opens both 5,000-host pages through the DevTools
protocol: first contentful paint, the moment the summary is visible (polled), the load event; and a search
for one host in the new page, which must find exactly that host.

Targets (issue 17): build + render <= 2 s and HTML <= 5 MB at 5,000 hosts; summary visible <= 2 s.

Usage: .venv/bin/python bench/bench_report.py [--sizes 1000,5000,20000] [--runs 3] [--screenshot /work/notes/report-5000.png]
"""

from __future__ import annotations

import argparse
import base64
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / ".build"
sys.path[:0] = [str(BUILD), str(ROOT / "tests" / "support")]

# The report module of 0.1.0 (the commit this work branched from).
BASELINE_REV = "f0836b2"
BASELINE_PATH = "plugins/plugin_utils/_fleet_report.py"


def load_impl(which, scratch):
    if which == "new":
        from ansible_collections.mailfleet.outlook.plugins.plugin_utils import _fleet_report
        return _fleet_report
    src = subprocess.run(["git", "-C", str(ROOT), "show", "%s:%s" % (BASELINE_REV, BASELINE_PATH)],
                         capture_output=True, text=True, check=True).stdout
    path = Path(scratch) / "baseline_fleet_report.py"
    path.write_text(src, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("baseline_fleet_report", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def worker(which, n, runs, out_dir):
    """One implementation at one size, in this (fresh) process; prints one JSON line."""
    from mailfleet_testing import ensure_collection_link
    from mailfleet_testing.fleet_results import fleet
    ensure_collection_link()
    fr = load_impl(which, out_dir)
    hosts, results, inventory = fleet(n)
    kwargs = {"inventory": inventory} if which == "new" else {}
    best = {}
    report = None
    for _run in range(runs):
        t0 = time.perf_counter()
        report = fr.build_report(hosts, results, **kwargs)
        t1 = time.perf_counter()
        page = fr.render_html(report)
        t2 = time.perf_counter()
        junit = fr.render_junit(report)
        t3 = time.perf_counter()
        text = fr.render_json(report)
        t4 = time.perf_counter()
        for key, value in (("build", t1 - t0), ("html", t2 - t1), ("junit", t3 - t2), ("json", t4 - t3)):
            best[key] = min(best.get(key, value), value)
    del junit
    html_path = Path(out_dir) / ("report-%s-%d.html" % (which, n))
    html_path.write_text(page, encoding="utf-8")
    sizes = {"html_mb": len(page.encode("utf-8")) / 1e6, "json_mb": len(text.encode("utf-8")) / 1e6}
    del page, text, report
    tracemalloc.start()
    report = fr.build_report(hosts, results, **kwargs)
    fr.render_html(report)
    fr.render_junit(report)
    fr.render_json(report)
    peak = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    print(json.dumps(dict(best, impl=which, hosts=n, peak_mb=peak, html_path=str(html_path), **sizes)))


def measure(which, n, runs, out_dir):
    proc = subprocess.run([sys.executable, __file__, "--worker", which, str(n), "--runs", str(runs), "--out", out_dir],
                          capture_output=True, text=True, check=False, timeout=1800)
    if proc.returncode != 0:
        raise SystemExit("worker %s %d failed:\n%s" % (which, n, proc.stderr[-3000:]))
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _cdp():
    from mailfleet_testing import chromium_cdp  # pylint: disable=import-outside-toplevel
    return chromium_cdp


VISIBLE = ("(function(){var s=document.getElementById('summary'); if(!s) return false; var r=s.getBoundingClientRect();"
           "return r.height>0 && r.top<innerHeight && getComputedStyle(s).visibility!=='hidden'})()")


def browser(html_path, search=None, screenshot=None):
    """Open a page in headless Chromium; times in ms from navigation start."""
    cdp = _cdp()
    with cdp.Chromium() as chromium:
        dt = chromium.dt
        dt.call("Runtime.enable")
        dt.call("Page.enable")
        t0 = time.perf_counter()
        dt.call("Page.navigate", url="file://" + os.path.abspath(html_path))
        visible = None
        while time.perf_counter() - t0 < 60:
            try:
                if dt.evaluate(VISIBLE):
                    visible = (time.perf_counter() - t0) * 1000
                    break
            except AssertionError:   # the new document is not there yet
                pass
            time.sleep(0.01)
        dt.wait_event("Page.loadEventFired", timeout=120)
        loaded = (time.perf_counter() - t0) * 1000
        paint = dt.evaluate("JSON.stringify(performance.getEntriesByType('paint').map(function(e){return [e.name, e.startTime]}))")
        nav = dt.evaluate("JSON.stringify(performance.getEntriesByType('navigation')[0].toJSON())")
        out = {"summary_visible_ms": visible, "load_wall_ms": loaded, "errors": len(chromium.errors()),
               "fcp_ms": dict(json.loads(paint)).get("first-contentful-paint"),
               "load_event_ms": json.loads(nav).get("loadEventEnd"),
               "dom_nodes": dt.evaluate("document.getElementsByTagName('*').length")}
        if screenshot:
            shot = dt.call("Page.captureScreenshot", format="png")
            Path(screenshot).write_bytes(base64.b64decode(shot["data"]))
        if search:
            t1 = time.perf_counter()
            found = dt.evaluate("(function(){var q=document.getElementById('q'); q.value=%s; q.dispatchEvent(new Event('input'));"
                                "return Array.from(document.querySelectorAll('#grid-body tr[data-host]')).map(function(r)"
                                "{return r.getAttribute('data-host')})})()" % json.dumps(search))
            out["search_ms"] = (time.perf_counter() - t1) * 1000
            out["search_found"] = found
            if screenshot:
                dt.evaluate("document.getElementById('hosts').scrollIntoView()")
                shot = dt.call("Page.captureScreenshot", format="png")
                Path(screenshot.replace(".png", "-search.png")).write_bytes(base64.b64decode(shot["data"]))
        return out


def ratio(new, old):
    return "%.2fx" % (old / new) if new else "-"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,5000,20000")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--screenshot", default="")
    parser.add_argument("--no-browser", action="store_true")
    parser.add_argument("--worker", nargs=2)
    parser.add_argument("--out")
    args = parser.parse_args()
    if args.worker:
        worker(args.worker[0], int(args.worker[1]), args.runs, args.out)
        return 0
    sizes = [int(s) for s in args.sizes.split(",")]
    out_dir = tempfile.mkdtemp(prefix="mailfleet-bench-report-")
    rows = []
    for n in sizes:
        old = measure("baseline", n, 1 if n > 5000 else args.runs, out_dir)
        new = measure("new", n, args.runs, out_dir)
        rows.append((n, old, new))
    print("fleet report: baseline = %s (0.1.0), new = this checkout; times best of %d runs (1 for the baseline above 5,000)"
          % (BASELINE_REV, args.runs))
    print("| hosts | impl | build s | html s | junit s | json s | build+render s | HTML MB | JSON MB | peak MB |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for n, old, new in rows:
        for r in (old, new):
            r["total"] = r["build"] + r["html"] + r["junit"] + r["json"]
            print("| {:,} | {} | {:.2f} | {:.2f} | {:.2f} | {:.2f} | {:.2f} | {:.1f} | {:.1f} | {:.0f} |".format(
                n, r["impl"], r["build"], r["html"], r["junit"], r["json"], r["total"], r["html_mb"], r["json_mb"], r["peak_mb"]))
        print("| {:,} | ratio (baseline / new) | {} | {} | {} | {} | {} | {} | {} | {} |".format(
            n, *[ratio(new[k], old[k]) for k in ("build", "html", "junit", "json", "total", "html_mb", "json_mb", "peak_mb")]))
    five = [(o, nw) for n, o, nw in rows if n == 5000]
    if five:
        o, nw = five[0]
        print("5,000 hosts: build + render %.2f s (target <= 2 s): %s; HTML %.1f MB (target <= 5 MB): %s" % (
            nw["total"], "ok" if nw["total"] <= 2 else "MISSED", nw["html_mb"], "ok" if nw["html_mb"] <= 5 else "MISSED"))
        if not args.no_browser:
            b_old = browser(o["html_path"])
            b_new = browser(nw["html_path"], search="host-04217", screenshot=args.screenshot or None)
            print("| chromium, 5,000 hosts | first contentful paint ms | summary visible ms | load event ms | DOM nodes | errors |")
            print("|---|---|---|---|---|---|")
            for name, b in (("baseline", b_old), ("new", b_new)):
                print("| %s | %.0f | %.0f | %.0f | %d | %d |" % (
                    name, b["fcp_ms"] or -1, b["summary_visible_ms"] or -1, b["load_event_ms"] or -1, b["dom_nodes"], b["errors"]))
            print("| ratio (baseline / new) | %s | %s | %s | %s | |" % (
                ratio(b_new["fcp_ms"], b_old["fcp_ms"]), ratio(b_new["summary_visible_ms"], b_old["summary_visible_ms"]),
                ratio(b_new["load_event_ms"], b_old["load_event_ms"]), ratio(b_new["dom_nodes"], b_old["dom_nodes"])))
            ok = b_new["summary_visible_ms"] is not None and b_new["summary_visible_ms"] <= 2000
            print("summary visible in %.0f ms (target <= 2000 ms): %s" % (b_new["summary_visible_ms"] or -1, "ok" if ok else "MISSED"))
            print("search 'host-04217': %s in %.0f ms: %s" % (b_new["search_found"], b_new["search_ms"],
                                                              "ok" if b_new["search_found"] == ["host-04217"] else "MISSED"))
            if args.screenshot:
                print("screenshots: %s, %s" % (args.screenshot, args.screenshot.replace(".png", "-search.png")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
