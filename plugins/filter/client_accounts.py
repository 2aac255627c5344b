# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: client_accounts
author: mailfleet engineers (@mailfleet)
version_added: 1.0.0
short_description: Validate the client role's accounts and derive what its templates need
description:
  - Validates every entry of O(_input) (the C(client_accounts) of the R(client role,ansible_collections.mailfleet.outlook.client_role))
    with the collection's settings model, before any host is touched.
  - Every error names the account (C(client_accounts[1] (user bob))), the variable, the bad value and the fix.
  - Returns the accounts without their passwords, with the validated settings, the login, percent-encoded URLs,
    Thunderbird and Evolution enums and stable UUIDs (uuid5; re-runs never change them), plus one entry per
    published domain.
options:
  _input:
    description: The list of accounts (C(user), C(address), C(clients), C(profile), C(auth_method), ...).
    type: list
    elements: dict
    required: true
  profile:
    description: Default profile of accounts that give none.
    type: str
    default: microsoft365
  auth_method:
    description: Default auth method of accounts that give none (the profile's default when unset).
    type: str
  clients:
    description: Default clients of accounts that give none.
    type: list
    elements: str
    default: [msmtp]
  settings:
    description: Setting overrides applied to every account (an account's own C(settings) win).
    type: dict
  client_id:
    description: Application (client) ID used for the OAuth2 device-code sign-in when an account gives none.
    type: str
  thunderbird_profile:
    description:
      - Default Thunderbird profile directory, relative to the home directory.
      - Unset, the client role finds the default profile in C(~/.thunderbird/profiles.ini) on the host.
    type: str
  oauth2_authority_url:
    description:
      - Replaces the profile's OAuth2 authority (C(https://host[:port]), no path) in the token, device-code and
        authorize URLs, for example the lab on other ports.
    type: str
  proxy:
    description:
      - Default proxy URL of accounts that give none (C(socks5h://host:port) or C(socks5://host:port); C(direct) or
        unset for none). msmtp and Thunderbird use SOCKS5; neomutt and Evolution cannot be configured with a proxy
        (an error says why); no client can authenticate to a proxy.
    type: str
"""

EXAMPLES = r"""
- name: Validate the accounts
  ansible.builtin.set_fact:
    client_model: "{{ client_accounts | mailfleet.outlook.client_accounts(profile='microsoft365') }}"
"""

RETURN = r"""
_value:
  description: C(accounts) (validated, no secrets), C(domains) (published view per domain), C(profiles) (SMTP
    endpoint per profile in use) and C(warnings).
  type: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.mailfleet.outlook.plugins.plugin_utils._client import (
    ClientError,
    normalize_accounts,
    published_domains,
)


def client_accounts(accounts, profile="microsoft365", auth_method=None, clients=None, settings=None, client_id=None,
                    thunderbird_profile=None, oauth2_authority_url=None, proxy=None):
    defaults = {"profile": profile, "auth_method": auth_method, "clients": clients or ["msmtp"],
                "settings": settings or {}, "client_id": client_id, "thunderbird_profile": thunderbird_profile,
                "oauth2_authority_url": oauth2_authority_url, "proxy": proxy}
    try:
        normalized = normalize_accounts(accounts, defaults)
        domains = published_domains(normalized)
    except ClientError as e:
        raise AnsibleFilterError(str(e))
    warnings = [w for a in normalized for w in a["warnings"]]
    profiles = []
    for a in normalized:
        if a["profile"] not in [p["profile"] for p in profiles]:
            profiles.append({"profile": a["profile"], "smtp": a["smtp"], "ca_file": a["ca_file"]})
    return {"accounts": normalized, "domains": domains, "profiles": profiles, "warnings": warnings}


class FilterModule(object):
    def filters(self):
        return {"client_accounts": client_accounts}
