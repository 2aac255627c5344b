# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of mailfleet.outlook.fleet_report: runs on the controller only (no module is sent to a host).

It reads every host's reachability result from hostvars and writes report.json, report.xml and report.html.
Which hosts: ``hosts`` (default ``ansible_play_hosts_all``: every host of the play, honouring ``--limit``,
including the hosts that failed or were unreachable earlier in the run, which ``ansible_play_hosts`` drops).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase

from ansible_collections.mailfleet.outlook.plugins.plugin_utils._fleet_report import (
    build_report,
    summary_line,
    summary_table,
    write_report,
)

_FORMATS = ("json", "junit", "html")


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True

    _VALID_ARGS = frozenset(("dest", "hosts", "result_var", "title", "formats", "fail_on_failure"))

    def run(self, tmp=None, task_vars=None):
        if task_vars is None:
            task_vars = {}
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        args = self._task.args
        dest = args.get("dest")
        if not dest:
            raise AnsibleActionFail("fleet_report: dest is required (the controller directory for the report files)")
        dest = os.path.abspath(os.path.expanduser(to_text(dest)))
        hosts = args.get("hosts")
        if hosts is None:
            hosts = task_vars.get("ansible_play_hosts_all") or []
        if isinstance(hosts, str):
            hosts = [h.strip() for h in hosts.split(",") if h.strip()]
        hosts = [to_text(h) for h in hosts]
        result_var = to_text(args.get("result_var") or "reachability_result")
        title = to_text(args.get("title") or "mailfleet fleet report")
        formats = args.get("formats") or list(_FORMATS)
        bad = [f for f in formats if f not in _FORMATS]
        if bad:
            raise AnsibleActionFail("fleet_report: unknown format(s) %s; use %s" % (", ".join(map(str, bad)), ", ".join(_FORMATS)))

        hostvars = task_vars.get("hostvars") or {}
        results = {}
        for h in hosts:
            try:
                hv = hostvars[h]
            except KeyError:
                results[h] = None
                continue
            try:
                value = hv.get(result_var) if hasattr(hv, "get") else None
            except Exception as e:  # a lazily templated var that fails must not lose the whole report
                value = {"probe_error": "cannot read %s: %s" % (result_var, to_text(e))}
            results[h] = value or None

        report = build_report(hosts, results, title=title)
        try:
            paths = write_report(report, dest, formats)
        except (IOError, OSError) as e:
            raise AnsibleActionFail("fleet_report: cannot write the report to %s: %s" % (dest, to_text(e)))

        result.update(
            changed=False,
            paths=paths,
            summary=report["summary"],
            summary_line=summary_line(report),
            table=summary_table(report),
            hosts_failing=[r["host"] for r in report["hosts"] if r["status"] != "ok"],
        )
        if args.get("fail_on_failure") and result["hosts_failing"]:
            result["failed"] = True
            result["msg"] = "fleet report: " + result["summary_line"]
        else:
            result["msg"] = result["summary_line"]
        return result
