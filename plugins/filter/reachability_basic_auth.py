# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The reachability_basic_auth filter; its logic is plugin_utils/_reachability.py."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: reachability_basic_auth
author: mailfleet engineers (@mailfleet)
version_added: 1.0.0
short_description: What still uses password (Basic) auth against a profile with a Basic-auth deadline
description:
  - Collects the components of a host that log in with a password - O(_input) (the reachability role's
    C(reachability_basic_auth_sources)), the relay when O(relay_auth_method) is set, and every entry of
    O(client_accounts) (its C(user), C(address), C(profile) and C(auth_method)) - and keeps those with auth
    method C(password) whose profile has a Basic-auth deadline.
  - The deadline of a profile comes from the collection's settings model (the same as the
    C(basic_auth_deadline) of the P(mailfleet.outlook.mail_settings#lookup) lookup), unless O(deadlines) gives it.
options:
  _input:
    description: Extra components (C(component), C(profile), C(auth_method), C(variable), C(fix)).
    type: list
    elements: dict
    required: true
  profile:
    description: The profile of entries that give none.
    type: str
    default: microsoft365
  relay_auth_method:
    description: The relay role's C(relay_auth_method); unset, the relay is not a source.
    type: str
  relay_profile:
    description: The relay role's C(relay_profile) (default O(profile)).
    type: str
  client_accounts:
    description: The client role's C(client_accounts).
    type: list
    elements: dict
    default: []
  client_profile:
    description: The profile of accounts that give none (default O(profile)).
    type: str
  client_auth_method:
    description: The auth method of accounts that give none.
    type: str
    default: oauth2
  deadlines:
    description: The Basic-auth deadline (or null) per profile name; unset, the settings model's.
    type: dict
"""

EXAMPLES = r"""
- name: What still uses Basic auth
  ansible.builtin.debug:
    msg: "{{ [] | mailfleet.outlook.reachability_basic_auth(relay_auth_method='password', client_accounts=client_accounts) }}"
"""

RETURN = r"""
_value:
  description: One entry per component, with C(component), C(profile), C(variable), C(fix) and C(deadline).
  type: list
  elements: dict
"""

from ansible_collections.mailfleet.outlook.plugins.plugin_utils._reachability import reachability_basic_auth


class FilterModule(object):
    def filters(self):
        return {"reachability_basic_auth": reachability_basic_auth}
