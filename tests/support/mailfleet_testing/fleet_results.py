# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A synthetic fleet of reachability results, shaped like what the reachability role records per host.

Used by bench/bench_report.py and the report tests that need thousands of hosts. Deterministic for a given
size and seed. Each host has 3 endpoints (smtp required, imap and connector optional), a site, inventory
groups, and the mix of outcomes a large fleet shows: most ok, ISP blocks (timeouts), refused ports,
untrusted certificates, hosts Ansible cannot reach, hosts that never ran, Basic auth on two hosts in three.
"""

from __future__ import annotations

import random

SMTP = {"name": "smtp", "host": "smtp.office365.com", "port": 587, "security": "starttls"}
IMAP = {"name": "imap", "host": "outlook.office365.com", "port": 993, "security": "tls"}
CONNECTOR = {"name": "connector", "host": "contoso-com.mail.protection.outlook.com", "port": 25, "security": "starttls"}
PLAN = [SMTP, IMAP, CONNECTOR]

# (weight, smtp outcome) for the required endpoint; the optional ones fail less often.
OUTCOMES = [(62, "ok"), (17, "connect_timeout"), (7, "connect_refused"), (4, "cert_untrusted"), (2, "smtp_auth_disabled"),
            (4, "unreachable"), (3, "not_run"), (1, "probe_error")]
MESSAGES = {
    "connect_timeout": ("The TCP connection got no answer within the timeout. no answer from %s:%d within 10 s",
                        "A firewall, a security group or the ISP drops this port: submit on 587 with STARTTLS."),
    "connect_refused": ("The TCP connection was refused: nothing listens on this port, or a firewall rejects it.",
                        "Check the port number and that the service runs; a local firewall with a reject rule gives the same answer."),
    "cert_untrusted": ("The server's certificate chain is not trusted: self-signed certificate in certificate chain",
                       "A TLS-inspecting proxy or a missing CA bundle: install the issuing CA (ca_path) or exempt the host."),
    "smtp_auth_disabled": ("535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant.",
                           "Enable SMTP AUTH for the mailbox (Set-CASMailbox -SmtpClientAuthenticationDisabled $false) or use a connector."),
}


def host_names(n, prefix="host"):
    width = max(5, len(str(n)))
    return ["%s-%0*d" % (prefix, width, i) for i in range(1, n + 1)]


def _timings(rng, fail_at=None):
    t = {"dns": rng.randint(1, 30), "connect": rng.randint(5, 120)}
    if fail_at == "connect":
        t["connect"] = 10000
    else:
        t.update({"banner": rng.randint(20, 400), "ehlo": rng.randint(5, 60), "starttls": rng.randint(5, 40),
                  "tls": rng.randint(20, 200)})
    t["total"] = sum(t.values())
    return t


def _endpoint(rng, plan, code, address):
    ok = code == "ok"
    ep = dict(plan)
    ep.update({"ok": ok, "address": address, "stage": "ehlo" if ok else "connect", "failed_stage": None if ok else "connect",
               "warnings": [], "banner": "220 BN8PR04CA0001.outlook.office365.com Microsoft ESMTP MAIL Service ready",
               "extensions": ["SIZE 157286400", "PIPELINING", "DSN", "ENHANCEDSTATUSCODES", "STARTTLS", "8BITMIME",
                              "BINARYMIME", "CHUNKING", "SMTPUTF8"],
               "auth_mechanisms": ["LOGIN", "XOAUTH2"], "reply": {"code": None, "enhanced_code": None, "text": None}})
    if ok:
        ep["diagnosis"] = {"code": "ok", "message": "The endpoint answered every stage of the probe as expected.", "hint": ""}
        ep["timings_ms"] = _timings(rng)
        ep["tls"] = {"version": "TLSv1.3", "cipher": "TLS_AES_256_GCM_SHA384",
                     "cert": {"subject": "CN=outlook.com", "issuer": "CN=DigiCert Cloud Services CA-1",
                              "san": ["*.office365.com", "*.outlook.com"], "not_after": "2027-06-30T23:59:59Z",
                              "days_left": 211}}
    else:
        message, hint = MESSAGES[code]
        if "%s" in message:
            message = message % (address, plan["port"])
        ep["diagnosis"] = {"code": code, "message": message, "hint": hint}
        ep["timings_ms"] = _timings(rng, "connect" if code in ("connect_timeout", "connect_refused") else None)
        ep["tls"] = None
        if code == "smtp_auth_disabled":
            ep["reply"] = {"code": 535, "enhanced_code": "5.7.139", "text": message}
    return ep


def fleet(n, seed=17, sites=24, prefix="host"):
    """(hosts, results, inventory) for build_report: n hosts, results by host (None = never ran), site/groups."""
    rng = random.Random(seed)
    names = host_names(n, prefix)
    weights = [w for w, dummy in OUTCOMES]
    outcomes = [o for dummy, o in OUTCOMES]
    results = {}
    inventory = {}
    for i, name in enumerate(names):
        site = "site_%02d" % (i % sites)
        inventory[name] = {"groups": [site, "mail_relays" if i % 10 == 0 else "workstations", "linux"]}
        outcome = rng.choices(outcomes, weights)[0]
        if outcome == "not_run":
            results[name] = None
            continue
        address = "10.%d.%d.%d" % (i % sites, (i // 250) % 250, i % 250 + 1)
        res = {"profile": "microsoft365", "microsoft": True, "required": ["smtp"], "planned": PLAN,
               "unreachable": False, "msg": "", "probe_error": None,
               "drift": {"checked": i % 10 == 0, "changed": i % 97 == 0, "files": ["/etc/postfix/main.cf"] if i % 97 == 0 else [],
                         "msg": ""},
               "basic_auth": []}
        if i % 3 != 2:
            res["basic_auth"].append({"component": "relay", "profile": "microsoft365", "variable": "relay_auth_method",
                                      "fix": "set relay_auth_method: oauth2 (with the app registration's client id, tenant "
                                             "and a vaulted client secret), or relay_mode: connector",
                                      "deadline": "2026-12-31"})
        if outcome == "unreachable":
            res.update({"unreachable": True, "endpoints": [],
                        "msg": "Failed to connect to the host via ssh: ssh: connect to host %s port 22: No route to host" % address})
        elif outcome == "probe_error":
            res.update({"probe_error": "invalid settings: relay_smtp_port: 465 is implicit TLS, which Microsoft 365 does not "
                                       "offer for SMTP AUTH; use 587 with STARTTLS", "endpoints": [], "planned": []})
        else:
            imap_code = "ok" if rng.random() < 0.9 else "connect_timeout"
            conn_code = "ok" if rng.random() < 0.8 else rng.choice(["connect_timeout", "connect_refused"])
            res["endpoints"] = [_endpoint(rng, SMTP, outcome, address), _endpoint(rng, IMAP, imap_code, address),
                                _endpoint(rng, CONNECTOR, conn_code, address)]
        results[name] = res
    return names, results, inventory
