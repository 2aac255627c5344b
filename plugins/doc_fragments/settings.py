# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Doc fragment mailfleet.outlook.settings: the settings keys of the catalog's settings model (plugins/module_utils/_settings.py)."""

from __future__ import annotations


class ModuleDocFragment:
    # One entry per override key of _settings.OVERRIDE_KEYS, except the TLS/CA (mailfleet.outlook.tls) and OAuth2
    # (mailfleet.outlook.oauth2) ones; tests/unit/catalog/test_doc_names.py keeps the three equal to OVERRIDE_KEYS.
    DOCUMENTATION = r"""
options:
  smtp_host:
    description: SMTP submission host (required for C(custom)).
    type: str
  smtp_port:
    description: SMTP submission port, an integer from 1 to 65535 (validated by the collection, with a clear error).
    type: raw
  smtp_security:
    description: SMTP connection security.
    type: str
    choices: [starttls, tls, none]
  imap_host:
    description: IMAP host.
    type: str
  imap_port:
    description: IMAP port, an integer from 1 to 65535 (validated by the collection, with a clear error).
    type: raw
  imap_security:
    description: IMAP connection security.
    type: str
    choices: [starttls, tls, none]
  pop_host:
    description: POP host.
    type: str
  pop_port:
    description: POP port, an integer from 1 to 65535 (validated by the collection, with a clear error).
    type: raw
  pop_security:
    description: POP connection security.
    type: str
    choices: [starttls, tls, none]
  auth_method:
    description: How the host authenticates; defaults to the profile's first method (C(oauth2) for Microsoft profiles).
    type: str
    choices: [oauth2, password, none]
  username:
    description: Login name; for Microsoft profiles the mailbox address (UPN).
    type: str
  sender:
    description: Sender address; defaults to O(username) when that is an address.
    type: str
  mx_host:
    description: Tenant MX host for connector relay or direct send (never derived from a pattern).
    type: str
  allow_plaintext_auth:
    description: Allow credentials over a connection without TLS (trusted on-premises relays only).
    type: bool
    default: false
"""
