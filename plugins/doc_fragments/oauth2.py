# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Doc fragment mailfleet.outlook.oauth2: the OAuth2 options of the settings model (tenant, app registration)."""

from __future__ import annotations


class ModuleDocFragment:
    # Secrets (client secrets, tokens) are never options of a lookup; modules add them with no_log.
    DOCUMENTATION = r"""
options:
  tenant:
    description: Directory (tenant) ID or a verified domain of the tenant, used to build the token URL.
    type: str
  client_id:
    description: Application (client) ID of the app registration used for OAuth2.
    type: str
"""
