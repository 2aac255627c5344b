#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: fleet_report
short_description: Write the fleet reachability report (JSON, JUnit XML, HTML) on the controller
version_added: 1.0.0
description:
  - Reads the reachability result that the role C(mailfleet.outlook.reachability) recorded for every host
    (the fact named by O(result_var)) and writes C(report.json), C(report.xml) (JUnit) and C(report.html)
    (one self-contained page, no external assets, readable at thousands of hosts) into O(dest) on the controller.
  - With O(merge), reads the C(report.json) of several runs instead (the slices of an AWX / Automation Platform
    sliced job, parallel pipeline jobs per site) and writes the one report a single run would have written.
  - With O(previous), the report says what changed since that earlier report (new failures, fixed hosts, new
    Basic auth exposure), in all three files.
  - Every host of O(hosts) appears in the report. A host whose result says Ansible could not reach it is
    reported as C(unreachable); a host with no result at all (it failed or was unreachable earlier in the run)
    is reported as C(not_run). No host is silently missing.
  - Runs entirely on the controller (action plugin); nothing is sent to or changed on any host. Use it once
    per play (C(run_once=true)).
options:
  dest:
    description: Controller directory for the report files (created if missing).
    type: path
    required: true
  hosts:
    description:
      - The hosts of the report (the report lists them in natural order of their names).
      - Defaults to C(ansible_play_hosts_all), every host of the play within C(--limit), including hosts that
        failed or were unreachable (C(ansible_play_hosts) would drop them).
      - With O(merge), the hosts the merged report must have (default none beyond those of the merged reports);
        a host that no merged report has is reported as C(not_run).
    type: list
    elements: str
  merge:
    description:
      - Merge these reports instead of reading the hosts' results. Each item is the path of a C(report.json), a
        directory holding one, or a glob pattern (V(/srv/mailfleet/slices/*/report.json)); a pattern that
        matches nothing is an error.
      - A host in several reports keeps the row with a probe result over one where it was unreachable or did
        not run, then the newest report's. The site and groups come from the inventory when the host is in it.
    type: list
    elements: str
    version_added: 1.0.0
  previous:
    description:
      - An earlier C(report.json) to compare with (the trend). A path that does not exist yet (the first run)
        gives a report without trend; a file that is not a fleet report is an error.
    type: path
    version_added: 1.0.0
  site_var:
    description:
      - Host variable that names the host's site in the report. When it is not set for a host, its site is its
        first inventory group whose name starts with C(site_), else its first group, else C(ungrouped).
    type: str
    default: reachability_site
    version_added: 1.0.0
  result_var:
    description: Name of the per-host variable that holds the reachability result.
    type: str
    default: reachability_result
  title:
    description: Title of the report.
    type: str
    default: mailfleet fleet report
  formats:
    description: Which files to write.
    type: list
    elements: str
    choices: [json, junit, html]
    default: [json, junit, html]
  fail_on_failure:
    description: Fail this task when a host is not C(ok) (the role fails the hosts themselves instead).
    type: bool
    default: false
attributes:
  action:
    support: full
    details: All of it runs in the action plugin on the controller; there is no module run on a host.
  async:
    support: none
  bypass_host_loop:
    support: none
    details: Runs per host like any task; use it once per play with C(run_once=true).
  check_mode:
    support: partial
    details:
      - Nothing changes on any host, in check mode or not.
      - In check mode the report files are still written on the controller, so that a check-mode run of the
        reachability role still delivers its report. The task never reports C(changed), in check mode or not (the
        report is a record of the run on the controller, not a change to the fleet).
  diff_mode:
    support: none
  platform:
    support: full
    platforms: posix
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
author:
  - mailfleet engineers (@mailfleet)
seealso:
  - module: mailfleet.outlook.smtp_check
notes:
  - The same merge runs without Ansible, for pipelines, as
    C(PYTHONPATH=<collections path> python3 -m ansible_collections.mailfleet.outlook.plugins.plugin_utils._fleet_report_cli merge ...)
    (see docs/report.md of the collection).
"""

EXAMPLES = r"""
- name: Write the fleet report once, on the controller
  mailfleet.outlook.fleet_report:
    dest: "{{ playbook_dir }}/reports"
  run_once: true
  delegate_to: localhost

- name: Merge the reports of the slices of a sliced job into one, with the trend since the last merged report
  mailfleet.outlook.fleet_report:
    dest: /srv/mailfleet/report
    merge: /srv/mailfleet/report/slices/*/report.json
    previous: /srv/mailfleet/report/report.json
    hosts: "{{ ansible_play_hosts_all }}"
  run_once: true
"""

RETURN = r"""
paths:
  description: Path of each file written, by format.
  returned: success
  type: dict
  sample: {"json": "/srv/reports/report.json", "junit": "/srv/reports/report.xml", "html": "/srv/reports/report.html"}
summary:
  description: Counts of hosts by status, failing hosts by diagnosis code, drift and Basic auth hosts.
  returned: success
  type: dict
summary_line:
  description: The summary in one line.
  returned: success
  type: str
  sample: "4 hosts: 1 ok, 3 failing (cert_untrusted: 1, connect_refused: 1, connect_timeout: 1); 0 unreachable by Ansible"
table:
  description:
    - A plain-text table, one line per host (site, status), one column per endpoint (diagnosis code).
    - At most 50 host lines, hosts that are not ok first; the report files have every host.
  returned: success
  type: str
hosts_failing:
  description: Hosts whose status is not C(ok) (failing, unreachable or not run).
  returned: success
  type: list
  elements: str
trend:
  description: What changed since O(previous) (new_failures, fixed, changed, new_basic_auth, basic_auth_resolved, hosts_added,
    hosts_removed, counts); null without O(previous).
  returned: success
  type: dict
  version_added: 1.0.0
trend_line:
  description: The trend in one line; empty without O(previous).
  returned: success
  type: str
  sample: "since 2026-11-30T06:00:00+00:00: 3 new failures, 12 fixed hosts, 1 new Basic auth exposure"
  version_added: 1.0.0
stats:
  description: The summary to publish with C(ansible.builtin.set_stats) (counts, failing hosts, Basic auth hosts, trend, paths).
  returned: success
  type: dict
  version_added: 1.0.0
sources:
  description: With O(merge), one entry per merged report (report, generated, hosts, title).
  returned: success
  type: list
  elements: dict
  version_added: 1.0.0
"""

from ansible.module_utils.basic import AnsibleModule


# The options of a task: the action plugin validates a task's arguments with this spec (its one home).
ARGUMENT_SPEC = dict(
    dest=dict(type="path", required=True),
    hosts=dict(type="list", elements="str"),
    result_var=dict(type="str", default="reachability_result"),
    title=dict(type="str", default="mailfleet fleet report"),
    formats=dict(type="list", elements="str", choices=["json", "junit", "html"], default=["json", "junit", "html"]),
    fail_on_failure=dict(type="bool", default=False),
    merge=dict(type="list", elements="str"),
    previous=dict(type="path"),
    site_var=dict(type="str", default="reachability_site"),
)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    module.fail_json(msg="mailfleet.outlook.fleet_report runs on the controller through its action plugin; "
                         "it cannot be run as a module on a host")


if __name__ == "__main__":
    main()
