# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Judge one discovered sender against the catalog and the settings validator.

A parser reports what a configuration says (upstream host and port, security, certificate check, authentication,
account, where the secret lives); ``judge()`` adds whether the upstream is Microsoft's (catalog hosts and MX
suffixes, plus the upstreams the caller declares, e.g. the lab), the problems, the verdict and the one change that
fixes it. The rules are the validator's (``build_settings``: 465 and implicit TLS refused for Microsoft 365, TLS
required, authentication required for submission, clear-text passwords refused) and the catalog's (the Basic auth
retirement date), plus what only a running configuration can show: TLS that is optional, certificates that are not
checked, port 25 to the submission host, a secret file that everyone can read.

Standard library only: shipped to targets with mail_senders_facts.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.mailfleet.outlook.plugins.module_utils._catalog import (
    BASIC_AUTH_RETIREMENT,
    MX_HOST_SUFFIXES,
    PROFILES,
    microsoft_hosts,
)
from ansible_collections.mailfleet.outlook.plugins.module_utils._settings import SettingsError, build_settings
from ansible_collections.mailfleet.outlook.plugins.module_utils._senders._adopt import adopt_vars, inline_vars

# Worst first. The verdict of a finding is the verdict of its worst problem.
VERDICTS = ("wrong", "stops", "blocked", "unsafe", "review", "ok", "not_microsoft")
VERDICT_TITLES = {
    "wrong": "Wrong today: Microsoft refuses this configuration",
    "stops": "Stops working when Microsoft disables Basic auth by default (%s)" % BASIC_AUTH_RETIREMENT["disabled_by_default_from"],
    "blocked": "Blocked on most networks: port 25 to the submission host",
    "unsafe": "Unsafe: no TLS, optional TLS, no certificate check or a readable secret",
    "review": "Review: a Microsoft host is named, not enough to judge",
    "ok": "OK: OAuth2 or a connector",
    "not_microsoft": "Not Microsoft (the deadline does not apply)",
}
AUTH_KINDS = ("password", "oauth2", "certificate", "none", "unknown")
SECURITY_KINDS = ("starttls", "tls", "none")

# The one change for a host the collection manages (its files carry the mail_config header): the relay variable.
MANAGED_FIX = {
    "basic_auth": "set relay_auth_method: oauth2 (with relay_client_id, relay_tenant and a vaulted relay_client_secret), "
                  "or relay_mode: connector",
    "port_465": "set relay_smtp_port: 587 and relay_smtp_security: starttls",
    "implicit_tls": "set relay_smtp_security: starttls",
    "no_tls": "set relay_smtp_security: starttls",
    "tls_optional": "set relay_tls_security_level: secure",
    "no_cert_check": "set relay_tls_security_level: secure",
    "port_25": "set relay_smtp_port: 587",
    "secret_world_readable": "run the relay role again: it writes its secrets 0600",
}


def profile_applies_basic_auth(profile):
    """Whether the December 2026 Basic auth switch applies to the profile: Microsoft's (and the lab, which rehearses
    it), unless the profile's own ``basic_auth`` entry has no date (High Volume Email)."""
    entry = PROFILES.get(profile) or {}
    own = entry.get("basic_auth")
    if own is not None and not own.get("disabled_by_default_from"):
        return False
    return bool(entry.get("microsoft") or entry.get("emulates_microsoft"))


def normalize_host(host):
    if not isinstance(host, str):
        return None
    host = host.strip().strip("[]").rstrip(".").lower()
    return host or None


def classify(host, port=None, upstreams=()):
    """{"microsoft": bool, "profile": name|None, "service": "submission"|"mailbox"|"mx"|None} for an upstream.

    ``upstreams``: [{"host", "port" (optional), "profile", "service" (submission, the default, or mx)}] the caller
    declares (the lab, an alias of a Microsoft host); they win over the catalog.
    """
    name = normalize_host(host)
    if not name:
        return {"microsoft": False, "profile": None, "service": None}
    for up in upstreams or ():
        if normalize_host(up.get("host")) == name and (not up.get("port") or port is None or int(up["port"]) == int(port)):
            profile = up.get("profile") or "custom"
            service = up.get("service") or ("submission" if profile != "custom" else None)
            return {"microsoft": bool((PROFILES.get(profile) or {}).get("microsoft")), "profile": profile,
                    "service": service, "declared": True}
    known = microsoft_hosts().get(name)
    if known:
        return {"microsoft": True, "profile": known[0], "service": known[1]}
    for suffix in MX_HOST_SUFFIXES["suffixes"]:
        if name.endswith(suffix) and len(name) > len(suffix):
            return {"microsoft": True, "profile": MX_HOST_SUFFIXES["profile"], "service": "mx"}
    return {"microsoft": False, "profile": None, "service": None}


def _problem(code, verdict, text):
    return {"code": code, "verdict": verdict, "text": text}


def _code(err):
    var = err.variable.rsplit("_", 1)[-1] if "_" in err.variable else err.variable
    if err.variable.endswith("smtp_port") and err.value == 465:
        return "port_465"
    if err.variable.endswith("smtp_security"):
        return {"tls": "implicit_tls", "none": "no_tls"}.get(err.value, "security")
    if err.variable.endswith("auth_method"):
        return "auth_%s" % err.value
    if err.variable.endswith("smtp_host"):
        return "bad_host"
    return var or "invalid"


def _validator_problems(profile, service, host, port, security, auth):
    """What the settings validator says about this upstream (each stage separately, so that one error does not
    hide the next)."""
    problems = []
    stages = []
    if service == "mx":
        stages.append({"mx_host": host, "auth_method": "none"})
    else:
        endpoint = {"smtp_host": host}
        if port is not None:
            endpoint["smtp_port"] = port
        if security in SECURITY_KINDS:
            endpoint["smtp_security"] = security
        stages.append(dict(endpoint, auth_method="none" if profile == "custom" else "oauth2"))
        if auth in ("password", "oauth2", "none", "certificate"):
            stages.append({"auth_method": "none" if auth == "certificate" else auth,
                           "smtp_host": host, "allow_plaintext_auth": True} if profile != "custom"
                          else dict(endpoint, auth_method="none" if auth == "certificate" else auth))
    for overrides in stages:
        try:
            build_settings(profile, overrides)
        except SettingsError as err:
            code = _code(err)
            if profile == "custom" or not (PROFILES.get(profile) or {}).get("microsoft") and code == "no_tls":
                verdict = "unsafe" if code in ("no_tls", "security") else "review"
            else:
                verdict = "review" if code == "bad_host" else "wrong"
            if all(p["code"] != code for p in problems):
                problems.append(_problem(code, verdict, err.problem))
    return problems


def judge(finding, upstreams=()):
    """Add microsoft/profile/service, problems, verdict, fix and adopt to ``finding`` (in place); return it."""
    up = finding.get("upstream") or None
    host = up.get("host") if up else None
    port = up.get("port") if up else None
    security = finding.get("security")
    auth = finding.get("auth") or "unknown"
    cls = classify(host, port, upstreams) if host else {"microsoft": False, "profile": None, "service": None}
    finding["microsoft"] = cls["microsoft"]
    finding["profile"] = cls["profile"]
    finding["service"] = cls["service"]
    problems = []
    if host:
        profile = cls["profile"] or "custom"
        if finding.get("kind") != "mention" or port is not None or security is not None:
            problems.extend(_validator_problems(profile, cls["service"], host, port, security, auth))
        elif auth in ("password", "none") and cls["service"] == "submission":
            problems.extend(p for p in _validator_problems(profile, cls["service"], host, None, None, auth)
                            if p["code"].startswith("auth_"))
        if auth == "password" and cls["profile"] and profile_applies_basic_auth(cls["profile"]) and cls["service"] != "mx":
            problems.insert(0, _problem(
                "basic_auth", "stops",
                "password (Basic) authentication to %s: %s Deadline: %s (%s)." % (
                    PROFILES[cls["profile"]]["title"], BASIC_AUTH_RETIREMENT["text"],
                    BASIC_AUTH_RETIREMENT["disabled_by_default_from"], BASIC_AUTH_RETIREMENT["source"])))
        if cls["service"] == "mx" and auth == "password":
            problems.append(_problem("auth_mx", "wrong", "a tenant MX host offers no SMTP AUTH: a connector matches the "
                                                         "host's IP address or TLS certificate, direct send needs none"))
        if security == "starttls" and finding.get("tls_required") is False:
            problems.append(_problem("tls_optional", "unsafe",
                                     "STARTTLS only when the server offers it: anyone on the path can strip it and read "
                                     "the mail%s" % (" and the password" if auth == "password" else "")))
        if security in ("starttls", "tls") and finding.get("cert_check") is False:
            problems.append(_problem("no_cert_check", "unsafe",
                                     "the server's certificate is not checked: anyone on the path can pose as the "
                                     "server%s" % (" and collect the password" if auth == "password" else "")))
        if security == "none" and not any(p["code"] == "no_tls" for p in problems):
            problems.append(_problem("no_tls", "wrong" if cls["microsoft"] else "unsafe",
                                     "no TLS: the mail%s crosses the network in clear text"
                                     % (" and the password" if auth == "password" else "")))
        if cls["microsoft"] and cls["service"] in ("submission", "mailbox") and port == 25:
            problems.append(_problem("port_25", "blocked",
                                     "port 25 to the submission host: accepted by Microsoft, but most ISPs, clouds and "
                                     "corporate networks block outbound port 25; use 587 with STARTTLS"))
    secret = finding.get("secret") or {}
    if secret.get("world_readable"):
        problems.append(_problem("secret_world_readable", "unsafe",
                                 "%s holds the secret and every local user can read it (mode %s)"
                                 % (secret.get("file"), secret.get("mode"))))
    problems.sort(key=lambda p: VERDICTS.index(p["verdict"]))
    finding["problems"] = problems
    if problems:
        verdict = problems[0]["verdict"]
    elif cls["profile"] and cls["profile"] != "custom":
        verdict = "ok" if auth in ("oauth2", "certificate", "none") else "review"
    else:
        verdict = "not_microsoft"
    finding["verdict"] = verdict
    # a user's own msmtp account is the client role's to take over, not the host's relay
    finding["adopt"] = adopt_vars(finding) if host and verdict not in ("ok", "not_microsoft") and not finding.get("user") else None
    finding["fix"] = fix_for(finding)
    return finding


def fix_for(finding):
    """The one change that fixes the finding's worst problem (None when there is nothing to fix)."""
    problems = finding.get("problems") or []
    if not problems:
        return None
    worst = problems[0]
    if finding.get("managed") and worst["code"] in MANAGED_FIX:
        return MANAGED_FIX[worst["code"]]
    if finding.get("kind") == "mention":
        return ("change this application's mail settings to OAuth2 (XOAUTH2) on %s:587 with STARTTLS, or point it at the "
                "host's own relay (localhost:25) once the host is adopted with mailfleet.outlook.relay"
                % ((PROFILES.get(finding.get("profile") or "") or {}).get("smtp") or {}).get("host", "the submission host"))
    if worst["code"] == "secret_world_readable":
        return "chmod 0600 %s (only its owner may read it)" % (finding.get("secret") or {}).get("file")
    if finding.get("user") and finding.get("program") == "msmtp":
        entry = {"user": finding["user"], "clients": ["msmtp"], "auth_method": "oauth2"}
        if finding.get("account") and "@" in str(finding["account"]):
            entry["address"] = finding["account"]
        if finding.get("profile") and finding.get("profile") != "microsoft365":
            entry["profile"] = finding["profile"]
        return ("manage this user's msmtp with the mailfleet.outlook.client role (OAuth2 with a device-code sign-in): "
                "client_accounts: [%s]" % json.dumps(entry, sort_keys=True))
    adopt = finding.get("adopt")
    if adopt:
        return "adopt the host with mailfleet.outlook.relay (playbook mailfleet.outlook.adopt): %s" % inline_vars(adopt)
    return worst["text"]
