# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The reachability_plan filter; its logic is plugin_utils/_reachability.py."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: reachability_plan
author: mailfleet engineers (@mailfleet)
version_added: 1.0.0
short_description: The endpoints a host must reach, for the reachability role
description:
  - From a host's validated settings (the P(mailfleet.outlook.mail_settings#lookup) lookup), the endpoints the
    R(reachability role,ansible_collections.mailfleet.outlook.reachability_role) probes - SMTP submission when
    O(smtp), IMAP and POP when O(include_incoming), the tenant MX host when the settings have a C(mx_host) and a
    C(connector), then O(extra_endpoints).
  - Also returns the same list in the form M(mailfleet.outlook.smtp_check) takes (without C(required)) and the
    refusal of an empty plan (a host must need something).
options:
  _input:
    description: The host's settings (empty when they were invalid).
    type: dict
    required: true
  smtp:
    description: Probe the SMTP submission endpoint.
    type: bool
    default: true
  include_incoming:
    description: Probe IMAP and POP too.
    type: bool
    default: false
  extra_endpoints:
    description:
      - Extra endpoints (C(name), C(host), C(port), C(security) default C(starttls), C(required) default true,
        C(protocol), C(proxy)).
    type: list
    elements: dict
    default: []
  error:
    description: An earlier error (invalid settings); returned as it is instead of the empty-plan refusal.
    type: str
    default: ""
"""

EXAMPLES = r"""
- name: Plan the endpoints
  ansible.builtin.set_fact:
    planned: "{{ lookup('mailfleet.outlook.mail_settings', 'microsoft365') | mailfleet.outlook.reachability_plan(include_incoming=true) }}"
"""

RETURN = r"""
_value:
  description:
    - C(plan) (entries C(name), C(host), C(port), C(security), C(protocol) and C(proxy) when set, C(required)),
      C(probe_endpoints) (the same without C(required)) and C(error) (empty, O(error), or why the plan is empty).
  type: dict
"""

from ansible_collections.mailfleet.outlook.plugins.plugin_utils._reachability import reachability_plan


class FilterModule(object):
    def filters(self):
        return {"reachability_plan": reachability_plan}
