# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The reachability_result filter; its logic is plugin_utils/_reachability.py."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: reachability_result
author: mailfleet engineers (@mailfleet)
version_added: 1.0.0
short_description: One host's reachability result, read by the fleet report
description:
  - Combines what the R(reachability role,ansible_collections.mailfleet.outlook.reachability_role) registered for a
    host - the probe, the ping, the drift checks, the relay's drift, the plan, the Basic-auth list, the senders -
    into the result that M(mailfleet.outlook.fleet_report) reads (the contract is in the collection's
    C(docs/report.md)).
  - The probe is the connection check; the ping ran only when there was nothing to probe.
options:
  _input:
    description: The result of M(mailfleet.outlook.smtp_check) (a skipped result when nothing was probed).
    type: dict
    required: true
  profile:
    description: The host's profile.
    type: str
    required: true
  settings:
    description: The host's settings (empty when they were invalid).
    type: dict
  plan:
    description: The plan (P(mailfleet.outlook.reachability_plan#filter)'s C(plan)).
    type: list
    elements: dict
  probe_endpoints:
    description: The endpoints given to the probe (C(probe_endpoints) of the plan).
    type: list
    elements: dict
  plan_error:
    description: Why nothing was probed (invalid settings, empty plan), or empty.
    type: str
    default: ""
  ping:
    description: The result of the ping that ran when nothing was probed.
    type: dict
  drift:
    description: The loop result of the check-mode M(mailfleet.outlook.mail_config) calls.
    type: dict
  relay_drift:
    description: The relay's drift (C(checked), C(files), C(msg)), or null when it was not checked.
    type: dict
  basic_auth:
    description: P(mailfleet.outlook.reachability_basic_auth#filter)'s list.
    type: list
    elements: dict
  senders:
    description: The result of M(mailfleet.outlook.mail_senders_facts), or null when it did not run.
    type: dict
"""

EXAMPLES = r"""
- name: Record the host's reachability result
  ansible.builtin.set_fact:
    reachability_result: "{{ probe | mailfleet.outlook.reachability_result(profile='microsoft365', plan=plan) }}"
"""

RETURN = r"""
_value:
  description:
    - C(profile), C(microsoft), C(planned), C(required), C(endpoints), C(unreachable), C(msg), C(probe_error),
      C(drift) (C(checked), C(changed), C(files), C(msg)), C(basic_auth), C(senders), C(senders_error).
  type: dict
"""

from ansible_collections.mailfleet.outlook.plugins.plugin_utils._reachability import reachability_result


class FilterModule(object):
    def filters(self):
        return {"reachability_result": reachability_result}
