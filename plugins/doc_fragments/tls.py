# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Doc fragment mailfleet.outlook.tls: the TLS and CA options, one name each across modules, lookup and roles."""

from __future__ import annotations


class ModuleDocFragment:
    # Old names stay as aliases: ca_path (smtp_check before 1.0.0), min_tls_version. Roles use <role>_ca_file and
    # <role>_tls_min_version (the reachability role still reads the old reachability_ca_path / _min_tls_version).
    DOCUMENTATION = r"""
options:
  ca_file:
    description:
      - CA bundle to verify servers with, the absolute path of a PEM file (M(mailfleet.outlook.smtp_check) also takes a
        directory of hashed certificates).
      - Unset, the profile's (the lab's CA for C(lab)), else the system trust store.
    type: path
    aliases: [ca_path]
  tls_min_version:
    description:
      - Lowest TLS version accepted. Microsoft 365 requires 1.2 or later; lower it only to confirm a diagnosis
        (C(legacy_tls_rejected)).
      - Unset, the profile's (C(1.2)).
    type: str
    choices: ['1.0', '1.1', '1.2', '1.3']
    aliases: [min_tls_version]
"""
