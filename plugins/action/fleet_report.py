# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of mailfleet.outlook.fleet_report: runs on the controller only (no module is sent to a host).

Two ways to get the hosts' results:

- from ``hostvars`` (default): every host's reachability result. Which hosts: ``hosts`` (default
  ``ansible_play_hosts_all``: every host of the play, honouring ``--limit``, including the hosts that failed or
  were unreachable earlier in the run, which ``ansible_play_hosts`` drops);
- from report files (``merge``): the report.json of several runs (job slices, parallel pipeline jobs) merged
  into one; ``hosts`` then names the hosts the merged report must have (missing ones are ``not_run``).

Either way: the site and inventory groups of each host come from the inventory, ``previous`` adds the trend.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_text

from ansible_collections.mailfleet.outlook.plugins.plugin_utils._fleet_report import (
    DEFAULT_TITLE,
    FORMATS,
    ReportError,
    build_report,
    load_report,
    merge_reports,
    report_paths,
    stats,
    summary_line,
    summary_table,
    trend_line,
    write_report,
)
from ansible_collections.mailfleet.outlook.plugins.plugin_utils import _senders_report
from ansible_collections.mailfleet.outlook.plugins.plugin_utils._action import MailfleetActionBase
from ansible_collections.mailfleet.outlook.plugins.modules.fleet_report import ARGUMENT_SPEC

# The report parts that plug in through the report's extension points.
_senders_report.register()

# At most this many host lines in the plain-text table of the task result (the files have every host).
TABLE_LIMIT = 50


def _plain(value):
    """Native JSON-able copy of Ansible data (drops tags, lazy containers): one pass for every host."""
    return json.loads(json.dumps(value, default=to_text))


class ActionModule(MailfleetActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True

    NAME = "mailfleet.outlook.fleet_report"
    ARGUMENT_SPEC = ARGUMENT_SPEC

    def _inventory(self, hosts, hostvars, site_var):
        inventory = {}
        for h in hosts:
            try:
                hv = hostvars[h]
            except KeyError:
                continue
            try:
                groups = hv.get("group_names") or []
                site = hv.get(site_var) if site_var else None
            except Exception:  # pylint: disable=broad-except  # a broken variable must not lose the report
                groups, site = [], None
            inventory[h] = {"groups": [to_text(g) for g in groups], "site": to_text(site) if site else None}
        return _plain(inventory)

    def run_validated(self, args, task_vars, result):
        raw = self._task.args
        dest = os.path.abspath(os.path.expanduser(to_text(args["dest"])))
        merge = [raw["merge"]] if isinstance(raw.get("merge"), str) else args["merge"]  # one pattern, commas and all
        hosts = args["hosts"]
        if hosts is None and not merge:
            hosts = task_vars.get("ansible_play_hosts_all") or []
        if isinstance(raw.get("hosts"), str):
            hosts = [h.strip() for h in raw["hosts"].split(",") if h.strip()]
        if hosts is not None:
            hosts = [to_text(h) for h in hosts]
        result_var = to_text(args["result_var"] or "reachability_result")
        site_var = to_text(args["site_var"] or "reachability_site")
        title = raw.get("title")  # without one, a merged report keeps the title of the reports it merges
        formats = args["formats"] or list(FORMATS)

        previous = None
        previous_path = args.get("previous")
        if previous_path:
            previous_path = os.path.abspath(os.path.expanduser(to_text(previous_path)))
            if os.path.exists(previous_path):
                try:
                    previous = load_report(previous_path)
                except ReportError as e:
                    raise AnsibleActionFail("fleet_report: previous: %s" % e)

        hostvars = task_vars.get("hostvars") or {}
        inventory = self._inventory(hosts or [], hostvars, site_var)
        if merge:
            try:
                paths = report_paths(merge)
                reports = [load_report(p) for p in paths]
            except ReportError as e:
                raise AnsibleActionFail("fleet_report: merge: %s" % e)
            report = merge_reports(reports, hosts=hosts, inventory=inventory, title=to_text(title) if title else None,
                                   previous=previous, names=paths)
        else:
            results = {}
            for h in hosts:
                try:
                    hv = hostvars[h]
                except KeyError:
                    results[h] = None
                    continue
                try:
                    value = hv.get(result_var) if hasattr(hv, "get") else None
                except Exception as e:  # pylint: disable=broad-except  # a lazily templated var that fails must not lose the report
                    value = {"probe_error": "cannot read %s: %s" % (result_var, to_text(e))}
                results[h] = value or None
            report = build_report(hosts, _plain(results), title=to_text(title or DEFAULT_TITLE), inventory=inventory,
                                  previous=previous)
        try:
            paths = write_report(report, dest, formats)
        except (IOError, OSError) as e:
            raise AnsibleActionFail("fleet_report: cannot write the report to %s: %s" % (dest, to_text(e)))

        result.update(
            changed=False,
            paths=paths,
            summary=report["summary"],
            summary_line=summary_line(report),
            table=summary_table(report, limit=TABLE_LIMIT),
            hosts_failing=report["summary"]["failing_hosts"],
            trend=report.get("trend"),
            trend_line=trend_line(report),
            stats=stats(report, paths),
            sources=report.get("sources") or [],
        )
        if args["fail_on_failure"] and result["hosts_failing"]:
            result["failed"] = True
            result["msg"] = "fleet report: " + result["summary_line"]
        else:
            result["msg"] = result["summary_line"]
        return result
