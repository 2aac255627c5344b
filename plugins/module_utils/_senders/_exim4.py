# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Exim4 as Debian configures it: the debconf answers in /etc/exim4/update-exim4.conf.conf (``dc_eximconfig_configtype``,
``dc_smarthost`` with Exim's ``host::port`` list syntax), the Debian macros that change the smarthost transport
(exim4.conf.localmacros or conf.d/main/*localmacros*: REMOTE_SMTP_SMARTHOST_HOSTS_REQUIRE_TLS, _TLS_VERIFY_HOSTS,
_HOSTS_AVOID_TLS, _PROTOCOL), and the client credentials in /etc/exim4/passwd.client (``host:login:password``,
looked up with nwildlsearch like Debian's remote_smtp_smarthost transport does).

Without those macros Debian's transport uses STARTTLS when the smarthost offers it, and retries in clear text when TLS
fails (tls_tempfail_tryclear): TLS is optional. Whether the certificate is checked by default depends on the installed
exim4-config: since Debian 11 its transport macros set REMOTE_SMTP_SMARTHOST_TLS_VERIFY_HOSTS = * unless the admin
defines it (#985344); the parser reads that default from the host's own template files, not from a version number.

Standard library only: shipped to targets with mail_senders_facts.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fnmatch
import re
import shlex

from ansible_collections.mailfleet.outlook.plugins.module_utils._senders._finding import (
    is_managed,
    new_finding,
    port_number,
    secret_info,
)

CONF_DIR = "/etc/exim4"
UE4CC = CONF_DIR + "/update-exim4.conf.conf"
PASSWD_CLIENT = CONF_DIR + "/passwd.client"
_ASSIGN = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)=(.*)$")
_MACRO = re.compile(r"^\s*([A-Z][A-Z0-9_]*)\s*=\s*(.*?)\s*$")


def parse_ue4cc(text):
    """{name: (value, line)} of a shell-style file: ``dc_smarthost='host::587'`` (single, double or no quotes)."""
    out = {}
    for number, raw in enumerate(text.splitlines(), 1):
        if raw.lstrip().startswith("#"):
            continue
        m = _ASSIGN.match(raw)
        if not m:
            continue
        try:
            words = shlex.split(m.group(2), comments=True, posix=True)
        except ValueError:
            words = [m.group(2).strip().strip("'\"")]
        out[m.group(1)] = (" ".join(words), number)
    return out


def split_smarthosts(value):
    """Exim host list with Debian's '::' port separator: 'a.example::587 : b.example' -> [("a.example", 587), ...].
    update-exim4.conf turns ';' into ':' first, so both separate hosts."""
    value = (value or "").replace(";", ":")
    hosts = []
    for item in value.replace("::", "\0").split(":"):
        item = item.strip()
        if not item:
            continue
        host, sep, port = item.partition("\0")
        host = host.strip().strip("[]")
        if host:
            hosts.append((host, port_number(port) if sep else None))
    return hosts


def parse_macros(text):
    """{NAME: (value, line)} of Exim macro definitions (``NAME = value`` at the start of a line)."""
    out = {}
    for number, raw in enumerate(text.splitlines(), 1):
        if raw.lstrip().startswith("#"):
            continue
        m = _MACRO.match(raw)
        if m:
            out[m.group(1)] = (m.group(2), number)
    return out


def parse_passwd_client(text):
    """[(host_pattern, login, line)] of passwd.client (``host:login:password``); passwords are dropped here."""
    out = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split(":", 2)
        if len(fields) < 2:
            continue
        out.append((fields[0].strip(), fields[1].strip(), number))
    return out


def host_matches(pattern, host):
    """Exim nwildlsearch key matching: exact, ``*``, ``*.domain`` / ``*suffix`` wildcards, ``^regex``."""
    pattern = pattern.strip().lower()
    host = host.lower()
    if pattern.startswith("^"):
        try:
            return re.match(pattern, host) is not None
        except re.error:
            return False
    if "*" in pattern:
        return fnmatch.fnmatchcase(host, pattern)
    return pattern == host


_VERIFY_DEFAULT = re.compile(r"\.ifndef\s+REMOTE_SMTP_SMARTHOST_TLS_VERIFY_HOSTS\s*\n\s*REMOTE_SMTP_SMARTHOST_TLS_VERIFY_HOSTS\s*=\s*(\S*)")


def default_verify_hosts(reader, split):
    """The installed exim4-config's default for REMOTE_SMTP_SMARTHOST_TLS_VERIFY_HOSTS ('*' on Debian 11+), '' when
    its templates set none, None when they are not there to tell."""
    path = CONF_DIR + ("/conf.d/transport/10_exim4-config_transport-macros" if split else "/exim4.conf.template")
    text = reader.read(path)
    if text is None:
        return None
    m = _VERIFY_DEFAULT.search(text)
    return m.group(1) if m else ""


def _macros(reader, split):
    """Macros the admin defines: exim4.conf.localmacros (non-split), conf.d/main/*localmacros* (split)."""
    if split:
        files = [CONF_DIR + "/conf.d/main/" + n for n in reader.listdir(CONF_DIR + "/conf.d/main") if "localmacros" in n]
    else:
        files = [CONF_DIR + "/exim4.conf.localmacros"]
    macros = {}
    for path in files:
        text = reader.read(path)
        if text is None:
            continue
        for name, (value, line) in parse_macros(text).items():
            macros[name] = (value, line, path)
    return macros


def discover(reader):
    text = reader.read(UE4CC)
    if text is None:
        return []
    conf = parse_ue4cc(text)
    managed = is_managed(text)
    if reader.exists(CONF_DIR + "/exim4.conf"):
        reader.note(CONF_DIR + "/exim4.conf", "a hand-written exim4.conf replaces the Debian configuration: "
                                              "its routers and transports are not interpreted")
    ctype, ctype_line = conf.get("dc_eximconfig_configtype", ("", None))
    ctype = ctype.strip().lower()
    if ctype not in ("smarthost", "satellite"):
        if ctype == "internet":
            f = new_finding("exim4", UE4CC, ctype_line, route="direct", name="dc_eximconfig_configtype", auth="none",
                            managed=managed)
            f["notes"].append("internet site: Exim delivers to each recipient domain's MX host itself")
            return [f]
        return []
    smarthost, sh_line = conf.get("dc_smarthost", ("", None))
    split = conf.get("dc_use_split_config", ("false", None))[0].strip().lower() == "true"
    macros = _macros(reader, split)

    def macro(name):
        value = macros.get(name)
        return value[0].strip() if value else None

    protocol = (macro("REMOTE_SMTP_SMARTHOST_PROTOCOL") or "smtp").lower()
    require_tls = macro("REMOTE_SMTP_SMARTHOST_HOSTS_REQUIRE_TLS")
    avoid_tls = macro("REMOTE_SMTP_SMARTHOST_HOSTS_AVOID_TLS")
    verify_hosts = macro("REMOTE_SMTP_SMARTHOST_TLS_VERIFY_HOSTS")
    if "REMOTE_SMTP_SMARTHOST_TLS_VERIFY_HOSTS" not in macros:
        verify_hosts = default_verify_hosts(reader, split)
    passwd = None
    passwd_text = reader.read(PASSWD_CLIENT)
    if passwd_text is not None:
        passwd = parse_passwd_client(passwd_text)
    findings = []
    for host, port in split_smarthosts(smarthost):
        if protocol == "smtps":
            security, required = "tls", True
            port = port or 465
        elif avoid_tls and host_matches(avoid_tls, host):
            security, required = "none", False
        else:
            security, required = "starttls", bool(require_tls) and (require_tls == "*" or host_matches(require_tls, host))
        port = port or 25
        if security == "none" or verify_hosts is None:
            cert = None
        else:
            cert = bool(verify_hosts) and host_matches(verify_hosts, host)
        auth, account, secret = "none", None, None
        for pattern, login, line in passwd or []:
            if host_matches(pattern, host):
                auth, account = "password", login or None
                secret = secret_info(reader, PASSWD_CLIENT, "file", line=line)
                break
        f = new_finding("exim4", UE4CC, sh_line, host=host, port=port, security=security, tls_required=required,
                        cert_check=cert, auth=auth, account=account, secret=secret, route="dc_smarthost",
                        name="dc_smarthost (%s)" % ctype, managed=managed)
        for name in ("REMOTE_SMTP_SMARTHOST_PROTOCOL", "REMOTE_SMTP_SMARTHOST_HOSTS_REQUIRE_TLS",
                     "REMOTE_SMTP_SMARTHOST_TLS_VERIFY_HOSTS", "REMOTE_SMTP_SMARTHOST_HOSTS_AVOID_TLS"):
            if name in macros:
                f["notes"].append("%s = %s (%s:%d)" % (name, macros[name][0], macros[name][2], macros[name][1]))
        if security == "starttls" and not required:
            f["notes"].append("set REMOTE_SMTP_SMARTHOST_HOSTS_REQUIRE_TLS = * in exim4.conf.localmacros to require TLS")
        findings.append(f)
    return findings
