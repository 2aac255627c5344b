# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Command line for the fleet report, without Ansible (Python 3 standard library and this collection only).

    PYTHONPATH=<collections path> python3 -m ansible_collections.mailfleet.outlook.plugins.plugin_utils._fleet_report_cli \\
        merge --dest reports/merged [--previous reports/merged/report.json] [--hosts-file all-hosts.txt] \\
        reports/slices/*/report.json

``<collections path>`` is the directory that holds ``ansible_collections/`` (``~/.ansible/collections``,
``/usr/share/ansible/collections``, or the path given to ``ansible-galaxy collection install -p``).

``merge`` writes report.json, report.xml and report.html into ``--dest``, prints the summary line (and the
trend line) and the paths; exit status 0 when every host is ok, 2 when some host is not (``--fail-on-failure``),
1 on bad input (a file that is not a fleet report, nothing to merge).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import argparse
import os
import sys

from ansible_collections.mailfleet.outlook.plugins.plugin_utils._fleet_report import (
    FORMATS,
    ReportError,
    load_report,
    merge_reports,
    report_paths,
    summary_line,
    trend_line,
    write_report,
)
from ansible_collections.mailfleet.outlook.plugins.plugin_utils import _senders_report

# The report parts that plug in through the report's extension points.
_senders_report.register()


def _hosts(path):
    with open(path, "r", encoding="utf-8") as f:
        return [line.strip() for line in f if line.strip() and not line.lstrip().startswith("#")]


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python3 -m ansible_collections.mailfleet.outlook.plugins.plugin_utils._fleet_report_cli",
                                     description="mailfleet fleet report without Ansible")
    sub = parser.add_subparsers(dest="command")
    m = sub.add_parser("merge", help="merge the report.json of several runs (slices, parallel jobs) into one report")
    m.add_argument("reports", nargs="+", help="report.json files, directories holding one, or glob patterns")
    m.add_argument("--dest", required=True, help="directory for the merged report.json, report.xml and report.html")
    m.add_argument("--previous", help="an earlier report.json to compare with (ignored when it does not exist yet)")
    m.add_argument("--hosts-file", help="the hosts the merged report must have, one per line; missing ones are 'not run'")
    m.add_argument("--title", help="title of the merged report (default: the first report's)")
    m.add_argument("--formats", default=",".join(FORMATS), help="comma-separated subset of %s" % ",".join(FORMATS))
    m.add_argument("--fail-on-failure", action="store_true", help="exit 2 when a host is not ok")
    args = parser.parse_args(argv)
    if args.command != "merge":
        parser.print_help(sys.stderr)
        return 1
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        sys.stderr.write("merge: unknown format(s) %s; use %s\n" % (", ".join(bad), ", ".join(FORMATS)))
        return 1
    try:
        paths = report_paths(args.reports)
        reports = [load_report(p) for p in paths]
        previous = load_report(args.previous) if args.previous and os.path.exists(args.previous) else None
        hosts = _hosts(args.hosts_file) if args.hosts_file else None
    except (ReportError, IOError, OSError) as e:
        sys.stderr.write("merge: %s\n" % e)
        return 1
    report = merge_reports(reports, hosts=hosts, title=args.title, previous=previous, names=paths)
    written = write_report(report, args.dest, formats)
    print(summary_line(report))
    if report.get("trend"):
        print(trend_line(report))
    for fmt in formats:
        print("%s: %s" % (fmt, written[fmt]))
    return 2 if args.fail_on_failure and report["summary"]["failing_hosts"] else 0


if __name__ == "__main__":
    sys.exit(main())
