# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The settings model: a host's effective mail settings, built from a catalog profile plus overrides.

``build_settings()`` validates everything once, before any host is touched. Every error is a
``SettingsError`` whose text names the variable, the bad value and the fix. Warnings (for example the
Basic auth timeline) come back in ``settings["warnings"]``.

Standard library only: modules on targets import this too.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re

from ansible_collections.mailfleet.outlook.plugins.module_utils._catalog import (
    AUTH_METHODS,
    BASIC_AUTH_RETIREMENT,
    PROFILE_NAMES,
    SECURITY_MODES,
    SOURCE_465,
    TLS_VERSIONS,
    get_profile,
)

OVERRIDE_KEYS = (
    "smtp_host", "smtp_port", "smtp_security",
    "imap_host", "imap_port", "imap_security",
    "pop_host", "pop_port", "pop_security",
    "auth_method", "username", "sender", "tenant", "client_id", "mx_host",
    "tls_min_version", "ca_file", "allow_plaintext_auth",
)

# Well-known ports whose TLS mode is fixed by the protocol, not by taste.
IMPLICIT_TLS_PORTS = {465: "SMTP submission over implicit TLS", 993: "IMAPS", 995: "POP3S"}
STARTTLS_PORTS = {587: "SMTP submission with STARTTLS", 143: "IMAP with STARTTLS", 110: "POP3 with STARTTLS"}
DEFAULT_PORTS = {
    "smtp": {"starttls": 587, "tls": 465, "none": 25},
    "imap": {"starttls": 143, "tls": 993, "none": 143},
    "pop": {"starttls": 110, "tls": 995, "none": 110},
}

DEFAULT_SECURITY = {"smtp": "starttls", "imap": "tls", "pop": "tls"}

# Validating patterns are used with fullmatch(): "$" would also match before a trailing newline.
_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
_LOCAL_PART = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_TOKEN = re.compile(r"[A-Za-z0-9._~:-]{1,256}")

# Values are data: no value that reaches a rendered file may hold a character that ends a line or that a
# parser treats as one - the C0 controls (NUL, TAB, LF, CR, ...), DEL, the C1 controls (U+0085 NEL among
# them) and the Unicode line and paragraph separators - nor a lone surrogate (not encodable as UTF-8).
# Multi-line values (a format says which) may hold LF, CR LF and TAB.
_CONTROL = re.compile(u"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_CONTROL_MULTILINE = re.compile(u"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]|\r(?!\n)")
_CONTROL_NAMES = {0x00: "NUL", 0x09: "TAB", 0x0a: "LF, a newline", 0x0d: "CR, a carriage return", 0x1b: "ESC",
                  0x7f: "DEL", 0x85: "NEL, a next-line", 0x2028: "LINE SEPARATOR", 0x2029: "PARAGRAPH SEPARATOR"}
# Variable names whose values are secrets: errors name them but never show their value.
_SECRET_NAME = re.compile(r"(?:^|[._])(?:password|secret|client_secret|token|oauth2_token)\Z")
_TRUE = ("true", "yes", "on", "1", "y", "t")
_FALSE = ("false", "no", "off", "0", "n", "f")


class SettingsError(ValueError):
    """Invalid settings: the message names the variable, the value and the fix."""

    def __init__(self, variable, value, problem, fix):
        self.variable = variable
        self.value = value
        self.problem = problem
        self.fix = fix
        super(SettingsError, self).__init__("%s=%s: %s. Fix: %s" % (variable, _show(value), problem, fix))


class SecretValue(object):
    """Stands for a secret's value in an error text: ``<hidden>``."""

    def __repr__(self):
        return "<hidden>"


HIDDEN = SecretValue()


def _show(value):
    text = repr(value)
    if len(text) > 80:
        text = text[:77] + "..."
    return text


def is_secret_name(name):
    """True for a variable that holds a secret (``relay_password``, ``auth.oauth2.client_secret``, ...)."""
    return bool(_SECRET_NAME.search(str(name)))


def control_character(text, multiline=False):
    """The first character of ``text`` that values may not hold, as (index, description), or None."""
    match = (_CONTROL_MULTILINE if multiline else _CONTROL).search(text)
    if match is None:
        return None
    code = ord(match.group(0))
    if 0xd800 <= code <= 0xdfff:
        what = "U+%04X (a lone surrogate, not a character)" % code
    else:
        what = "U+%04X (%s)" % (code, _CONTROL_NAMES.get(code, "a control character"))
    return match.start(), what


def refuse_control_characters(variable, value, multiline=False, secret=None):
    """Raise SettingsError when ``value`` (a string, or any string inside a list or dict, keys included)
    holds a control character; ``variable`` names it (``client_accounts[0].display_name``). Secrets - given
    by ``secret`` or recognised by their name - are named, never shown."""
    if secret is None:
        secret = is_secret_name(variable)
    if isinstance(value, dict):
        for key, item in value.items():
            found = control_character(key) if isinstance(key, str) else None
            if found is not None:
                raise SettingsError(variable, key, "a key contains a control character, %s, at position %d" % (
                    found[1], found[0]), "give the key on one line, without control characters")
            name = "%s.%s" % (variable, key)
            refuse_control_characters(name, item, multiline, secret or is_secret_name(name))
        return
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            refuse_control_characters("%s[%d]" % (variable, index), item, multiline, secret)
        return
    if not isinstance(value, str):
        return
    found = control_character(value, multiline)
    if found is None:
        return
    index, what = found
    if secret:
        raise SettingsError(variable, HIDDEN, "contains a control character, %s; the value is a secret and is not shown"
                            % what, "give the secret on one line, without control characters (a trailing newline "
                            "from a file lookup counts: strip it)")
    raise SettingsError(variable, value, "contains a control character, %s, at position %d%s" % (
        what, index, "" if not multiline else "; only newlines and tabs are allowed here"),
        "give the value on one line, without control characters (values are written into configuration files as "
        "data, never as extra lines)" if not multiline else "remove the control character")


def is_ip_address(value):
    try:
        ipaddress.ip_address(value.strip("[]"))
    except ValueError:
        return False
    return True


def is_hostname(value):
    if not isinstance(value, str) or not value or len(value) > 253:
        return False
    name = value[:-1] if value.endswith(".") else value
    return all(_LABEL.fullmatch(label) for label in name.split("."))


def is_email(value):
    if not isinstance(value, str) or value.count("@") != 1 or len(value) > 254:
        return False
    local, domain = value.split("@")
    if not local or len(local) > 64 or not _LOCAL_PART.fullmatch(local):
        return False
    return is_hostname(domain) and "." in domain.strip(".") or domain == "localhost"


class _Validator:
    """Collects the checks of one build_settings() call; ``var`` gives the variable names."""

    def __init__(self, profile_name, var_prefix):
        self.profile_name = profile_name
        self.prefix = var_prefix

    def var(self, key):
        return self.prefix + key

    def fail(self, key, value, problem, fix):
        raise SettingsError(self.var(key), value, problem, fix)

    def port(self, key, value):
        original = value
        if isinstance(value, bool) or value is None:
            self.fail(key, value, "not a port number", "give an integer from 1 to 65535, e.g. 587 for SMTP submission")
        if isinstance(value, str):
            if not value.strip().isdigit():
                self.fail(key, value, "not a port number", "give an integer from 1 to 65535, e.g. 587 for SMTP submission")
            value = int(value.strip())
        if not isinstance(value, int):
            self.fail(key, value, "not a port number", "give an integer from 1 to 65535, e.g. 587 for SMTP submission")
        if not 1 <= value <= 65535:
            self.fail(key, original, "port outside 1-65535", "give an integer from 1 to 65535, e.g. 587 for SMTP submission")
        return value

    def security(self, key, value):
        if not isinstance(value, str) or value.lower() not in SECURITY_MODES:
            fix = "use starttls (port 587), tls (implicit TLS: 465, 993, 995) or none"
            if isinstance(value, str) and value.lower() in ("ssl", "ssl/tls", "implicit"):
                fix += " (guides say 'SSL' for implicit TLS: that is tls)"
            self.fail(key, value, "not one of starttls, tls, none", fix)
        return value.lower()

    def host(self, key, value):
        if not isinstance(value, str) or not value.strip():
            self.fail(key, value, "not a host name", "give the server's DNS name, e.g. smtp.office365.com")
        value = value.strip()
        if "://" in value:
            self.fail(key, value, "a URL, not a host name", "give the bare DNS name; port and security have their own variables")
        if ":" in value and not is_ip_address(value):
            self.fail(key, value, "contains a port", "put the host name here and the port in %s" % self.var(key.replace("host", "port")))
        if not (is_hostname(value) or is_ip_address(value)):
            self.fail(key, value, "not a valid DNS name or IP address", "give the server's DNS name, e.g. smtp.office365.com")
        return value

    def email(self, key, value, what):
        if not is_email(value):
            self.fail(key, value, "not a valid email address", "give %s as user@domain, e.g. alice@contoso.com" % what)
        return value

    def boolean(self, key, value):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
            return value.strip().lower() in _TRUE
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        self.fail(key, value, "not a boolean", "use true or false")
        return False  # not reached


def _endpoint(v, kind, base, overrides, microsoft, implicit_tls_supported):
    """Effective host/port/security of one service (smtp, imap, pop), validated."""
    host_key, port_key, sec_key = kind + "_host", kind + "_port", kind + "_security"
    given = any(overrides.get(k) is not None for k in (host_key, port_key, sec_key))
    if base is None and not given:
        return None
    base = base or {"host": None, "port": None, "security": None}
    host = overrides.get(host_key, base["host"])
    port = overrides.get(port_key)
    security = overrides.get(sec_key)
    if security is not None:
        security = v.security(sec_key, security)
    if port is not None:
        port = v.port(port_key, port)

    if host is None:
        v.fail(host_key, None, "required for profile %s" % v.profile_name, "set %s to the server's DNS name" % v.var(host_key))
    host = v.host(host_key, host)

    # Port and security: explicit values win; a missing one follows from the other, then from the profile.
    if port is None and security is None:
        port, security = base["port"], base["security"] or DEFAULT_SECURITY[kind]
    if port is None:
        port = base["port"] or DEFAULT_PORTS[kind][security]
    if security is None:
        if port == base["port"] and base["security"]:
            security = base["security"]
        elif port in IMPLICIT_TLS_PORTS:
            security = "tls"
        elif port in STARTTLS_PORTS:
            security = "starttls"
        else:  # a port of its own (a lab, a NAT): keep the profile's way of securing this service
            security = base["security"] or DEFAULT_SECURITY[kind]

    if microsoft and port == 465:
        v.fail(port_key, port, "Microsoft 365 does not support 465; use 587 with STARTTLS (source: %s)" % SOURCE_465,
               "set %s=587 and %s=starttls" % (v.var(port_key), v.var(sec_key)))
    if security == "tls" and port in STARTTLS_PORTS:
        v.fail(sec_key, security,
               "%d uses STARTTLS; 465 is implicit TLS (an implicit-TLS connect to %d fails: 'first record does not "
               "look like a TLS handshake')" % (port, port),
               "set %s=starttls; guides that say 'use SSL, not STARTTLS' on %d are wrong" % (v.var(sec_key), port))
    if security == "starttls" and port in IMPLICIT_TLS_PORTS:
        v.fail(sec_key, security,
               "587 uses STARTTLS; 465 is implicit TLS (port %d is %s)" % (port, IMPLICIT_TLS_PORTS[port]),
               "set %s=tls for port %d, or use the STARTTLS port with starttls" % (v.var(sec_key), port))
    if microsoft and security == "tls" and kind == "smtp":
        v.fail(sec_key, security, "Microsoft 365 SMTP submission offers no implicit TLS, only STARTTLS on 587",
               "set %s=587 and %s=starttls" % (v.var(port_key), v.var(sec_key)))
    if microsoft and security == "none":
        v.fail(sec_key, security, "Microsoft 365 requires TLS 1.2 or later",
               "set %s=%s" % (v.var(sec_key), "starttls" if kind == "smtp" else "tls"))
    if not implicit_tls_supported and security == "tls" and kind == "smtp":
        v.fail(sec_key, security, "this profile offers no implicit TLS for SMTP", "set %s=starttls" % v.var(sec_key))
    return {"host": host, "port": port, "security": security}


def build_settings(profile, overrides=None, var_prefix=""):
    """Return the validated effective settings of a host (a dict), or raise SettingsError.

    ``profile`` names a catalog profile; ``overrides`` holds per-host values (see OVERRIDE_KEYS; None
    values are ignored); ``var_prefix`` is put before every variable name in error texts, so that a role
    can report ``relay_smtp_port`` where the setting is ``smtp_port``.
    """
    if not isinstance(profile, str) or profile not in PROFILE_NAMES:
        raise SettingsError(var_prefix + "profile", profile, "not a known profile", "use one of " + ", ".join(PROFILE_NAMES))
    v = _Validator(profile, var_prefix)
    if overrides is None:
        overrides = {}
    if not isinstance(overrides, dict):
        v.fail("overrides", overrides, "not a mapping", "give the overrides as a dictionary of settings")
    for key in overrides:
        if key not in OVERRIDE_KEYS:
            v.fail(str(key), overrides[key], "not a setting", "use one of " + ", ".join(OVERRIDE_KEYS))
        refuse_control_characters(v.var(key), overrides[key])
    overrides = dict((k, val) for k, val in overrides.items() if val is not None)

    cat = get_profile(profile)
    microsoft = cat["microsoft"]
    retirement = cat.get("basic_auth") or BASIC_AUTH_RETIREMENT
    basic_auth_applies = bool((microsoft or cat.get("emulates_microsoft", False)) and retirement["disabled_by_default_from"])
    warnings = []

    smtp = _endpoint(v, "smtp", cat["smtp"], overrides, microsoft, cat["implicit_tls_supported"])
    imap = _endpoint(v, "imap", cat["imap"], overrides, microsoft, True)
    pop = _endpoint(v, "pop", cat["pop"], overrides, microsoft, True)

    allow_plaintext = v.boolean("allow_plaintext_auth", overrides.get("allow_plaintext_auth", False))

    auth_method = overrides.get("auth_method", cat["auth_methods"][0])
    if not isinstance(auth_method, str) or auth_method not in AUTH_METHODS:
        v.fail("auth_method", auth_method, "not one of " + ", ".join(AUTH_METHODS),
               "use oauth2 (XOAUTH2 tokens), password (AUTH LOGIN) or none (connector / direct send)")

    mx_host = overrides.get("mx_host")
    if mx_host is not None:
        mx_host = v.host("mx_host", mx_host)

    if profile == "outlook_com" and auth_method == "password":
        v.fail("auth_method", auth_method,
               "Outlook.com requires OAuth2 (Modern Auth) for IMAP, POP and SMTP since September 2024",
               "set %s=oauth2" % v.var("auth_method"))
    if microsoft and auth_method == "none" and mx_host is None:
        v.fail("auth_method", auth_method,
               "Microsoft 365 SMTP submission requires authentication (530 5.7.57 otherwise)",
               "use oauth2 or password, or relay through a connector / direct send by setting %s to the tenant's MX host"
               % v.var("mx_host"))
    if auth_method not in cat["auth_methods"] and not (auth_method == "none" and mx_host is not None):
        v.fail("auth_method", auth_method, "profile %s supports %s" % (profile, ", ".join(cat["auth_methods"])),
               "use one of " + ", ".join(cat["auth_methods"]))

    if auth_method != "none":
        if smtp["security"] == "none" and not allow_plaintext:
            v.fail("smtp_security", smtp["security"],
                   "with %s=%s the credentials would cross the network in clear text" % (v.var("auth_method"), auth_method),
                   "use starttls or tls, or set %s=true for a trusted relay" % v.var("allow_plaintext_auth"))
        if microsoft and is_ip_address(smtp["host"]):
            v.fail("smtp_host", smtp["host"],
                   "IP addresses are not supported for Microsoft 365 SMTP AUTH (the certificate names the DNS name)",
                   "use the DNS name %s" % cat["smtp"]["host"])

    username = overrides.get("username")
    if username is not None:
        if microsoft or cat.get("emulates_microsoft", False):
            v.email("username", username, "the mailbox address (UPN)")
        elif not isinstance(username, str) or not username.strip() or any(c.isspace() for c in username):
            v.fail("username", username, "not a user name", "give the login name without spaces")
    sender = overrides.get("sender")
    if sender is not None:
        v.email("sender", sender, "the sender address")
    if sender is None and username is not None and is_email(username):
        sender = username

    tls_min = overrides.get("tls_min_version", cat["tls_min_version"])
    if not isinstance(tls_min, str) or tls_min not in TLS_VERSIONS:
        v.fail("tls_min_version", tls_min, "not one of " + ", ".join(TLS_VERSIONS), "use 1.2 (or 1.3)")
    legacy = cat.get("smtp_legacy_tls_host")
    if microsoft and tls_min in ("1.0", "1.1") and not (legacy and smtp["host"] == legacy["host"]):
        v.fail("tls_min_version", tls_min,
               "Microsoft 365 requires TLS 1.2 or later for SMTP AUTH (421 4.7.66 otherwise)",
               "use 1.2; %s" % (
                   "only the opt-in endpoint %s accepts TLS 1.0/1.1 (%s)" % (legacy["host"], legacy["note"]) if legacy
                   else "profile %s has no legacy TLS endpoint" % profile))

    tenant = overrides.get("tenant")
    if tenant is not None and not (isinstance(tenant, str) and (_GUID.fullmatch(tenant) or is_hostname(tenant))):
        v.fail("tenant", tenant, "not a tenant id (GUID) or domain", "give the directory (tenant) ID or a verified domain, e.g. contoso.onmicrosoft.com")
    client_id = overrides.get("client_id")
    if client_id is not None and not (isinstance(client_id, str) and _TOKEN.fullmatch(client_id)):
        v.fail("client_id", client_id, "not an application (client) ID", "give the app registration's client ID (a GUID)")

    ca_file = overrides.get("ca_file", cat["ca_file"])
    if ca_file is not None and not (isinstance(ca_file, str) and ca_file.startswith("/")):
        v.fail("ca_file", ca_file, "not an absolute path", "give the CA bundle's absolute path, or leave it unset for the system CAs")

    oauth2 = None
    if cat["oauth2"]:
        o = cat["oauth2"]
        tenant = tenant or o["tenant"]

        def url(path):
            return o["authority_url"] + path.format(tenant=tenant) if tenant else None

        oauth2 = {
            "authority_url": o["authority_url"], "tenant": tenant,
            "token_url": url(o["token_path"]), "device_code_url": url(o["device_code_path"]),
            "authorize_url": url(o["authorize_path"]),
            "scope_app": o["scope_app"], "app_only_note": o.get("app_only_note"),
            "scopes_delegated": list(o["scopes_delegated"]),
            "client_id": client_id, "confirmed": o["confirmed"],
        }
    elif auth_method == "oauth2":
        oauth2 = {"authority_url": None, "tenant": tenant, "token_url": None, "device_code_url": None,
                  "authorize_url": None, "scope_app": None, "scopes_delegated": [], "client_id": client_id,
                  "confirmed": True}

    if auth_method == "password" and basic_auth_applies:
        warnings.append(
            "%s=password against %s: %s Deadline: %s (%s). Fix: set %s=oauth2, or relay through a connector."
            % (v.var("auth_method"), cat["title"], retirement["text"],
               retirement["disabled_by_default_from"], retirement["source"], v.var("auth_method")))
    if auth_method != "none" and smtp["security"] == "none":
        warnings.append("%s=none with authentication: credentials cross the network in clear text (allowed by %s)."
                        % (v.var("smtp_security"), v.var("allow_plaintext_auth")))

    limits = cat["limits"] or {}
    return {
        "profile": profile,
        "title": cat["title"],
        "microsoft": microsoft,
        "basic_auth_deadline": retirement["disabled_by_default_from"] if basic_auth_applies else None,
        "smtp": smtp,
        "imap": imap,
        "pop": pop,
        "auth_method": auth_method,
        "username": username,
        "sender": sender,
        "tls_min_version": tls_min,
        "ca_file": ca_file,
        "allow_plaintext_auth": allow_plaintext,
        "oauth2": oauth2,
        "limits": {"messages_per_minute": limits.get("messages_per_minute"),
                   "recipients_per_day": limits.get("recipients_per_day"),
                   "recipients_per_message": limits.get("recipients_per_message"),
                   "tenant_external_recipients_per_day": limits.get("tenant_external_recipients_per_day"),
                   "message_size": limits.get("message_size")},
        "recipients": cat.get("recipients", "internal and external"),
        "mx_host": mx_host,
        "connector": {"port": cat["connector"]["port"], "security": cat["connector"]["security"]} if cat["connector"] else None,
        "warnings": warnings,
    }
