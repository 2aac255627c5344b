# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""dma (DragonFly Mail Agent): /etc/dma/dma.conf (``KEYWORD [value]`` lines, ``#`` comments: SMARTHOST, PORT (default
25), AUTHPATH, SECURETRANSFER (TLS; implicit TLS unless STARTTLS), STARTTLS, OPPORTUNISTIC_TLS (STARTTLS may fail),
INSECURE (plain-text login allowed), FINGERPRINT (pinned certificate)) and the AUTHPATH file (``user|smarthost:password``).
dma checks no certificate against a CA (only a pinned FINGERPRINT): without one the check is off.

Standard library only: shipped to targets with mail_senders_facts.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.mailfleet.outlook.plugins.module_utils._senders._finding import (
    is_managed,
    new_finding,
    port_number,
    secret_info,
)

DMA_CONF = "/etc/dma/dma.conf"
FLAGS = ("SECURETRANSFER", "STARTTLS", "OPPORTUNISTIC_TLS", "INSECURE", "NULLCLIENT", "DEFER", "FULLBOUNCE")


def parse_dma_conf(text):
    """{KEYWORD: (value or True, line)} (the last one wins, like dma)."""
    out = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        word, unused_sep, value = line.partition(" ")
        if "\t" in word:
            word, unused_sep, more = word.partition("\t")
            value = (more + " " + value).strip()
        word = word.strip().upper()
        value = value.strip()
        out[word] = (value if value else True, number)
    return out


def parse_auth_conf(text):
    """[(user, smarthost, line)] of ``user|smarthost:password`` lines; passwords are dropped here."""
    out = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#") or "|" not in line:
            continue
        user, unused_bar, rest = line.partition("|")
        host = rest.split(":", 1)[0]
        out.append((user.strip(), host.strip(), number))
    return out


def discover(reader):
    text = reader.read(DMA_CONF)
    if text is None:
        return []
    conf = parse_dma_conf(text)
    smarthost = conf.get("SMARTHOST")
    if not smarthost or smarthost[0] is True:
        return []
    host, line = smarthost[0], smarthost[1]
    port = port_number(conf["PORT"][0]) if "PORT" in conf and conf["PORT"][0] is not True else None
    port = port or 25
    if "SECURETRANSFER" in conf:
        security = "starttls" if "STARTTLS" in conf else "tls"
        required = not (security == "starttls" and "OPPORTUNISTIC_TLS" in conf)
        cert = "FINGERPRINT" in conf and conf["FINGERPRINT"][0] is not True
    else:
        security, required, cert = "none", False, None
    auth, account, secret = "none", None, None
    authpath = conf.get("AUTHPATH")
    if authpath and authpath[0] is not True:
        path = authpath[0]
        auth_text = reader.read(path)
        for user, auth_host, auth_line in parse_auth_conf(auth_text or ""):
            if auth_host.lower() == host.lower():
                auth, account = "password", user or None
                secret = secret_info(reader, path, "file", line=auth_line)
                break
    f = new_finding("dma", DMA_CONF, line, host=host, port=port, security=security, tls_required=required,
                    cert_check=cert, auth=auth, account=account, secret=secret, route="SMARTHOST", name="SMARTHOST",
                    mechanism="LOGIN" if auth == "password" else None, managed=is_managed(text))
    if auth == "password" and security == "none" and "INSECURE" not in conf:
        f["notes"].append("dma sends no password without TLS unless INSECURE is set: authentication fails as configured")
    return [f]
