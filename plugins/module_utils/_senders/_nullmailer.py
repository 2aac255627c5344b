# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""nullmailer: /etc/nullmailer/remotes, one remote per line, ``host [protocol] [options]`` parsed with shell quoting
rules (nullmailer-send(8)); options with or without a leading ``--``: port=, user=, pass=, auth-login, tls / ssl
(implicit TLS, default port 465), starttls, insecure (no certificate check), tls-anon-auth, x509cafile=, x509certfile=.
Certificates are verified unless ``insecure``. The password is on the line itself: the file is the secret file.

Standard library only: shipped to targets with mail_senders_facts.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import shlex

from ansible_collections.mailfleet.outlook.plugins.module_utils._senders._finding import (
    is_managed,
    new_finding,
    port_number,
    secret_info,
)

REMOTES = "/etc/nullmailer/remotes"
DEFAULT_PORTS = {"smtp": 25, "qmqp": 628}


def parse_remotes(text):
    """[{"host", "protocol", "options": {name: value|True}, "line"}]; ``pass`` is replaced by True (set) at once."""
    out = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            words = shlex.split(line, posix=True)
        except ValueError:
            words = None
        if not words:
            out.append({"host": None, "protocol": None, "options": {}, "line": number, "error": "unbalanced quotes"})
            continue
        host = words[0]
        protocol = "smtp"
        rest = words[1:]
        if rest and not rest[0].startswith("-") and "=" not in rest[0]:
            protocol = rest[0].lower()
            rest = rest[1:]
        options = {}
        for word in rest:
            name, sep, value = word.lstrip("-").partition("=")
            name = name.lower()
            if name == "p" and not sep:
                continue
            options[name] = (True if name == "pass" else value) if sep else True
        out.append({"host": host, "protocol": protocol, "options": options, "line": number})
    return out


def discover(reader):
    text = reader.read(REMOTES)
    if text is None:
        return []
    managed = is_managed(text)
    findings = []
    for remote in parse_remotes(text):
        if not remote["host"]:
            reader.note(REMOTES, "line %d: %s" % (remote["line"], remote.get("error") or "cannot parse"), line=remote["line"])
            continue
        opts = remote["options"]
        implicit = bool(opts.get("tls") or opts.get("ssl"))
        starttls = bool(opts.get("starttls"))
        port = port_number(opts.get("port")) if opts.get("port") not in (None, True) else None
        if port is None:
            port = 465 if implicit else DEFAULT_PORTS.get(remote["protocol"], 25)
        security = "tls" if implicit else ("starttls" if starttls else "none")
        cert = None if security == "none" else not (opts.get("insecure") or opts.get("tls-anon-auth"))
        user = opts.get("user") if opts.get("user") not in (None, True) else None
        has_pass = "pass" in opts
        auth = "password" if (user or has_pass) else "none"
        secret = secret_info(reader, REMOTES, "inline", line=remote["line"]) if has_pass else None
        f = new_finding("nullmailer", REMOTES, remote["line"], host=remote["host"], port=port, security=security,
                        tls_required=security != "none", cert_check=cert, auth=auth, account=user, secret=secret,
                        route="remotes", name="%s %s" % (remote["host"], remote["protocol"]),
                        mechanism="LOGIN" if opts.get("auth-login") else None, managed=managed)
        if remote["protocol"] != "smtp":
            f["notes"].append("protocol %s" % remote["protocol"])
        findings.append(f)
    return findings
