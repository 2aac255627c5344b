# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""From a discovered sender to the mailfleet.outlook.relay variables that take the host over.

The discovered upstream and account become variables to review; the OAuth2 application (client id, secret) can
never be discovered, so it is listed under ``to_fill``. Values come from files anyone may have written: they are
data, rendered as JSON strings (valid YAML) in ``to_yaml()``, never as raw text.

Standard library only (the module builds one proposal per finding; the relay_adoption filter picks one per host).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re

from ansible_collections.mailfleet.outlook.plugins.module_utils._catalog import PROFILES, microsoft_hosts
from ansible_collections.mailfleet.outlook.plugins.module_utils._settings import is_email

ORDER = ("relay_profile", "relay_mode", "relay_auth_method", "relay_username", "relay_tenant", "relay_smtp_host",
         "relay_smtp_port", "relay_smtp_security", "relay_mx_host")

TO_FILL = {
    "relay_client_id": "the application (client) ID of the app registration allowed SMTP.SendAsApp",
    "relay_client_secret": "its client secret, from Ansible Vault: \"{{ vault_relay_client_secret }}\"",
    "relay_tenant": "the tenant (directory) ID or a verified domain",
    "relay_username": "the mailbox that sends (UPN)",
    "relay_password": "the relay's password, from Ansible Vault",
}


def adopt_vars(finding):
    """{"vars": {relay_*}, "to_fill": {name: what}, "notes": [...]} for one finding, or None (no upstream)."""
    up = finding.get("upstream") or {}
    host = up.get("host")
    if not host:
        return None
    port = up.get("port")
    account = finding.get("account")
    profile = finding.get("profile") or "custom"
    entry = PROFILES.get(profile) or PROFILES["custom"]
    notes = []
    to_fill = {}
    if finding.get("service") == "mx":
        out = {"relay_profile": profile, "relay_mode": "connector", "relay_mx_host": host}
        notes.append("a connector matches this host's public IP address (or its TLS client certificate: "
                     "relay_tls_cert_file and relay_tls_key_file)")
    elif profile == "custom":
        out = {"relay_profile": "custom", "relay_mode": "custom", "relay_smtp_host": host}
        if port:
            out["relay_smtp_port"] = port
        out["relay_smtp_security"] = finding.get("security") if finding.get("security") in ("starttls", "tls") else "starttls"
        if finding.get("auth") == "password":
            out["relay_auth_method"] = "password"
            if account:
                out["relay_username"] = account
            to_fill["relay_password"] = TO_FILL["relay_password"]
        else:
            out["relay_auth_method"] = "none"
    else:
        out = {"relay_profile": profile, "relay_mode": "submission", "relay_auth_method": "oauth2"}
        if account and is_email(account):
            out["relay_username"] = account
            out["relay_tenant"] = account.split("@", 1)[1]
            notes.append("relay_tenant is the account's domain: check that it is a verified domain of the tenant")
        else:
            to_fill["relay_username"] = TO_FILL["relay_username"]
            to_fill["relay_tenant"] = TO_FILL["relay_tenant"]
            if account:
                notes.append("the account found (%s) is not a mailbox address" % json.dumps(account))
        smtp = entry.get("smtp") or {}
        if host.lower() != (smtp.get("host") or "").lower() and host.lower() not in microsoft_hosts():
            out["relay_smtp_host"] = host      # a declared upstream (the lab, an alias): keep it
            if port:
                out["relay_smtp_port"] = port
        elif port not in (None, smtp.get("port")):
            notes.append("port %s becomes %s with STARTTLS" % (port, smtp.get("port")))
        to_fill["relay_client_id"] = TO_FILL["relay_client_id"]
        to_fill["relay_client_secret"] = TO_FILL["relay_client_secret"]
    vars_ = dict((k, out[k]) for k in ORDER if k in out)
    return {"vars": vars_, "to_fill": to_fill, "notes": notes}


def inline_vars(adopt):
    """relay_profile=microsoft365 relay_username=... (one line, for the report's fix column)."""
    parts = ["%s=%s" % (k, v) for k, v in adopt["vars"].items()]
    if adopt.get("to_fill"):
        parts.append("plus %s" % ", ".join(sorted(adopt["to_fill"])))
    return " ".join(parts)


def _scalar(value):
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int):
        return str(value)
    return json.dumps(str(value))


# Every character YAML (or a terminal) could take as a line break or control: never inside a comment.
_LINE_BREAKS = re.compile(u"[\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff]")


def _comment(text):
    """Text from a host's files (a file name, an account) inside a YAML comment: on one line, whatever it holds."""
    return _LINE_BREAKS.sub(u"?", u"%s" % (text,))


def to_yaml(adopt, host=None, source=None):
    """The proposal as a host_vars YAML document, with what is to fill in as comments."""
    lines = ["---"]
    if host or source:
        lines.append(_comment("# mailfleet.outlook.relay variables%s, proposed by mailfleet.outlook.adopt%s: review them."
                              % (" for %s" % host if host else "", " from %s" % source if source else "")))
    for key, value in adopt["vars"].items():
        lines.append("%s: %s" % (key, _scalar(value)))
    for note in adopt.get("notes") or []:
        lines.append(_comment("# note: %s" % note))
    if adopt.get("to_fill"):
        lines.append("# to fill in (discovery cannot know them; group_vars suit values shared by the fleet):")
        for key in sorted(adopt["to_fill"]):
            lines.append(_comment("# %s: %s" % (key, adopt["to_fill"][key])))
    return "\n".join(lines) + "\n"
