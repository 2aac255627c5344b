# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: mail_settings
author: mailfleet engineers (@mailfleet)
version_added: 1.0.0
short_description: Validated Microsoft 365 / Outlook mail settings for a profile, with per-host overrides
description:
  - Returns the effective mail settings (SMTP submission, IMAP, POP, auth method, OAuth2 endpoints and scopes,
    sending limits, connector facts) of a catalog profile, after applying and validating per-host overrides.
  - The catalog holds Microsoft's real endpoints (worldwide, Outlook.com, GCC High, DoD, 21Vianet), a C(custom)
    profile for on-premises or hybrid relays, and a C(lab) profile for the bundled lab server.
  - Invalid input fails the task with a message that names the variable, the bad value and the fix, for example
    port 465 for Microsoft 365, implicit TLS on 587, or password auth for Outlook.com.
  - Using password (Basic) auth against a Microsoft profile succeeds with a warning that states the retirement
    timeline (disabled by default at the end of December 2026).
options:
  _terms:
    description: Profile names, one result per profile.
    required: true
    type: list
    elements: str
    choices: [microsoft365, microsoft365_hve, outlook_com, gcc_high, dod, china, custom, lab]
  warn:
    description: Show the settings' warnings (such as the Basic auth timeline) as Ansible warnings.
    type: bool
    default: true
extends_documentation_fragment:
  - mailfleet.outlook.settings
  - mailfleet.outlook.tls
  - mailfleet.outlook.oauth2
notes:
  - The catalog lives in the collection's C(module_utils/_catalog.py); every fact there carries its source.
seealso:
  - name: Microsoft 365 SMTP settings
    description: How to set up a multifunction device or application to send email using Microsoft 365.
    link: >-
      https://learn.microsoft.com/en-us/exchange/mail-flow-best-practices/how-to-set-up-a-multifunction-device-or-application-to-send-email-using-microsoft-365-or-office-365
"""

EXAMPLES = r"""
- name: Show the worldwide Microsoft 365 settings
  ansible.builtin.debug:
    msg: "{{ lookup('mailfleet.outlook.mail_settings', 'microsoft365') }}"

- name: Settings for a host that logs in with OAuth2 as its own mailbox
  ansible.builtin.set_fact:
    mail: "{{ lookup('mailfleet.outlook.mail_settings', 'microsoft365', username='alerts@contoso.com',
                     tenant='contoso.onmicrosoft.com', client_id='11111111-2222-3333-4444-555555555555') }}"

- name: An on-premises relay
  ansible.builtin.debug:
    msg: "{{ lookup('mailfleet.outlook.mail_settings', 'custom', smtp_host='relay.corp.example', smtp_port=25,
                    smtp_security='starttls', auth_method='none') }}"
"""

RETURN = r"""
_raw:
  description: One settings dictionary per profile.
  type: list
  elements: dict
  contains:
    profile:
      description: Profile name.
      type: str
    title:
      description: Human-readable profile title.
      type: str
    microsoft:
      description: Whether the profile is a Microsoft service.
      type: bool
    basic_auth_deadline:
      description: Date from which Microsoft disables Basic auth for SMTP AUTH by default, or null.
      type: str
    smtp:
      description: SMTP submission endpoint with C(host), C(port) and C(security).
      type: dict
    imap:
      description: IMAP endpoint with C(host), C(port) and C(security), or null.
      type: dict
    pop:
      description: POP endpoint with C(host), C(port) and C(security), or null.
      type: dict
    auth_method:
      description: C(oauth2), C(password) or C(none).
      type: str
    username:
      description: Login name, or null.
      type: str
    sender:
      description: Sender address, or null.
      type: str
    tls_min_version:
      description: Lowest accepted TLS version.
      type: str
    ca_file:
      description: CA bundle path, or null for the system CAs.
      type: str
    oauth2:
      description: OAuth2 authority, token/device-code/authorize URLs (when the tenant is known), scopes and client ID.
      type: dict
    limits:
      description: Sending limits (C(messages_per_minute), C(recipients_per_day), C(message_size) in bytes); null where
        not published.
      type: dict
    mx_host:
      description: Tenant MX host for connector or direct send, or null.
      type: str
    connector:
      description: Port and security of connector relay / direct send, or null.
      type: dict
    warnings:
      description: Warnings about the settings, such as the Basic auth timeline.
      type: list
      elements: str
"""

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase
from ansible.utils.display import Display

from ansible_collections.mailfleet.outlook.plugins.module_utils._settings import OVERRIDE_KEYS, SettingsError, build_settings

display = Display()


class LookupModule(LookupBase):

    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        overrides = dict((key, self.get_option(key)) for key in OVERRIDE_KEYS)
        results = []
        for profile in terms:
            try:
                settings = build_settings(profile, overrides)
            except SettingsError as exc:
                raise AnsibleLookupError("mailfleet.outlook.mail_settings: %s" % exc)
            if self.get_option("warn"):
                for warning in settings["warnings"]:
                    display.warning(warning)
            results.append(settings)
        return results
