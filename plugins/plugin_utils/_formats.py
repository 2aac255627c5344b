# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The format registry of mailfleet.outlook.mail_config (controller side).

A *format* is a set of files rendered from templates plus what the target must do with them.  Adding a
format means adding template files under ``plugins/templates/<format>/``, its ``Format(...)`` (here, or in
``_client_formats.py`` / ``_xoauth2_formats.py``) and one entry in ``FORMATS`` at the end of this file, the
registry; the action plugin and the module need no change.

The contract of ``Format`` and ``File`` (every argument, and ``ctx``) is in ``_format_model.py``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.mailfleet.outlook.plugins.module_utils._probe.proxy import parse_proxy
from ansible_collections.mailfleet.outlook.plugins.module_utils._settings import is_email, is_hostname
from ansible_collections.mailfleet.outlook.plugins.plugin_utils._format_model import File, Format, program_file
from ansible_collections.mailfleet.outlook.plugins.plugin_utils._quote import Unrepresentable, postfix_map

# ---------------------------------------------------------------------------------------------------
# postfix_relay: Postfix as a null client that relays everything to one upstream.
# ---------------------------------------------------------------------------------------------------

POSTFIX_MODES = ("submission", "connector", "direct_send", "custom")
# The map types of sasl_passwd: type -> suffix of the file postmap compiles (None: read as text, no postmap).
POSTFIX_MAP_TYPES = {"hash": "db", "btree": "db", "lmdb": "lmdb", "cdb": "cdb", "texthash": None}
ORIGINAL_SENDER = ("none", "display_name", "reply_to")
HOST_LOOKUPS = ("dns", "native")
_PARAMETER = re.compile(r"[a-z0-9_]+")
_TIME_VALUE = re.compile(r"\d+[smhdw]?")

# main.cf parameters that relay_extra_settings may not set unless allow_unsafe_settings names them (and then
# with a warning on every run): they open this null client to other hosts, send mail or a copy of it somewhere
# the settings model never checked, weaken TLS to the upstream, or log credentials. name -> what it does.
_OPEN = "decides who may send through this host: a wide value makes an open relay"
_ROUTE = "routes mail around the upstream the role checked (use the relay_ variables for the upstream)"
_BCC = "sends a hidden copy of messages to another address"
_TRUST = "changes which certificates the upstream is trusted with (use relay_ca_file)"
_CIPHERS = "can allow weak or null ciphers to the upstream"
UNSAFE_POSTFIX_SETTINGS = {
    "inet_interfaces": "listens beyond loopback, so other hosts can connect to this null client",
    "mynetworks": _OPEN, "mynetworks_style": _OPEN, "relay_domains": _OPEN, "permit_mx_backup_networks": _OPEN,
    "smtpd_sasl_auth_enable": "accepts logins from clients, which may then relay",
    "smtpd_authorized_xclient_hosts": "lets those clients impersonate others",
    "smtpd_authorized_xforward_hosts": "lets those clients rewrite what is logged about them",
    "relayhost": _ROUTE, "smtp_fallback_relay": _ROUTE, "fallback_relay": _ROUTE, "default_transport": _ROUTE,
    "relay_transport": _ROUTE, "transport_maps": _ROUTE, "sender_dependent_relayhost_maps": _ROUTE,
    "sender_dependent_default_transport_maps": _ROUTE,
    "always_bcc": _BCC, "sender_bcc_maps": _BCC, "recipient_bcc_maps": _BCC,
    "smtp_tls_policy_maps": "per-destination TLS policies can turn TLS to the upstream off",
    "smtp_tls_per_site": "per-destination TLS policies can turn TLS to the upstream off",
    "smtp_use_tls": "an obsolete TLS switch that overrides the TLS level",
    "smtp_enforce_tls": "an obsolete TLS switch that overrides the TLS level",
    "smtp_tls_enforce_peername": "an obsolete switch that turns the certificate name check off",
    "smtp_tls_CAfile": _TRUST, "smtp_tls_CApath": _TRUST, "smtp_tls_trust_anchor_file": _TRUST,
    "tls_append_default_CA": _TRUST,
    "smtp_tls_secure_cert_match": "changes which names the upstream's certificate must carry",
    "smtp_tls_verify_cert_match": "changes which names the upstream's certificate must carry",
    "smtp_tls_mandatory_protocols": "can allow TLS versions below relay_tls_min_version",
    "smtp_tls_protocols": "can allow TLS versions below relay_tls_min_version",
    "smtp_tls_mandatory_ciphers": _CIPHERS, "smtp_tls_ciphers": _CIPHERS, "tls_high_cipherlist": _CIPHERS,
    "tls_medium_cipherlist": _CIPHERS, "tls_low_cipherlist": _CIPHERS, "tls_export_cipherlist": _CIPHERS,
    "tls_null_cipherlist": _CIPHERS,
    "debug_peer_list": "logs whole SMTP sessions with these peers, the AUTH exchange included",
}
_UNSAFE_PATTERN = re.compile(r"smtpd_[a-z0-9_]*_restrictions")
# Parameters that are unsafe only with some values; a value with $ (expanded by Postfix) cannot be checked.
SAFE_TLS_LEVELS = ("encrypt", "dane-only", "fingerprint", "verify", "secure")


def unsafe_postfix_setting(name, value):
    """Why setting main.cf ``name`` to ``value`` opens the host or weakens it (a text), or None when safe."""
    if name in UNSAFE_POSTFIX_SETTINGS:
        return UNSAFE_POSTFIX_SETTINGS[name]
    if _UNSAFE_PATTERN.fullmatch(name):
        return _OPEN
    text = str(value).strip().lower()
    if name == "smtp_tls_security_level" and ("$" in text or text not in SAFE_TLS_LEVELS):
        return "TLS to the upstream below encrypt (or not checkable: %s) lets mail and credentials travel in clear" % (
            ", ".join(SAFE_TLS_LEVELS))
    if name == "smtp_sasl_security_options" and ("$" in text or "noplaintext" not in re.split(r"[\s,]+", text)):
        return "allows plaintext AUTH mechanisms when a session is not encrypted (keep noplaintext)"
    if name == "smtp_tls_loglevel" and not (text.isdigit() and int(text) <= 2):
        return "levels above 2 log the TLS session's content, the AUTH exchange included"
    return None


def _absolute_path(errors, cfg, var, key, what):
    value = cfg.get(key)
    if value is not None and not (isinstance(value, str) and value.startswith("/")):
        errors.append((key, "%r is not an absolute path" % (value,), "give the %s's absolute path" % what))


def _extra_settings_errors(extra, allowed, var):
    """relay_extra_settings: parameter names, one-value values, and the unsafe parameters."""
    errors = []
    if allowed is None:
        allowed = []
    if not isinstance(allowed, (list, tuple)) or not all(isinstance(a, str) for a in allowed):
        return [("allow_unsafe_settings", "%r is not a list of parameter names" % (allowed,),
                 "list the main.cf parameter names, e.g. [inet_interfaces, mynetworks]")]
    for name in allowed:
        if not (_PARAMETER.fullmatch(name) and unsafe_postfix_setting(name, "")):
            errors.append(("allow_unsafe_settings", "%r is not one of the parameters that need it" % (name,),
                           "list only parameters %s refuses (see docs/security.md)" % var("extra_settings")))
    for key in sorted(extra, key=str):
        value = extra[key]
        if not (isinstance(key, str) and _PARAMETER.fullmatch(key)):
            errors.append(("extra_settings", "%r is not a main.cf parameter name" % (key,), "use names like smtp_helo_name"))
            continue
        if not isinstance(value, (str, int, bool)):
            errors.append(("extra_settings", "%s=%r is not one value" % (key, value),
                           "give each parameter one string, number or boolean (a list as one string: 'a, b')"))
            continue
        why = unsafe_postfix_setting(key, value)
        if why and key not in allowed:
            errors.append(("extra_settings", "%s=%r %s" % (key, value, why),
                           "leave it out, or list it in %s to apply it anyway (with a warning on every run)"
                           % var("allow_unsafe_settings")))
    return errors


def _is_true(value):
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "on")


# Postfix's SMTP client has no proxy support: what the relay role says instead (relay_proxy).
POSTFIX_NO_PROXY = (
    "Postfix's SMTP client cannot go through a SOCKS or HTTP proxy (it opens its TCP connections itself)",
    "relay through a connector the network lets out (relay_mode=connector: the tenant's MX host on port 25 from "
    "this site's public IP), or point the relay at a mail relay inside the network that can reach Microsoft 365 "
    "(relay_mode=custom, relay_smtp_host); or use relay_mta=msmtp, which can use a SOCKS5 proxy")


def _relay_proxy(ctx):
    """The relay's SOCKS proxy (msmtp) as the template needs it, or None; a list of errors for the rest."""
    cfg, var = ctx["cfg"], ctx["var"]
    value = cfg.get("proxy")
    if value in (None, "", "direct"):
        return None, []
    if ctx["format"] == "postfix_relay":
        return None, [("proxy", "%s" % POSTFIX_NO_PROXY[0], POSTFIX_NO_PROXY[1])]
    try:
        spec = parse_proxy(value, variable=var("proxy"))
    except ValueError as e:
        return None, [("proxy", str(e), "give socks5h://host:port")]
    if spec["scheme"] not in ("socks5h", "socks5"):
        return None, [("proxy", "%s: msmtp speaks SOCKS5 only (proxy_host/proxy_port), not HTTP CONNECT" % spec["url"],
                       "use the site's SOCKS5 proxy (socks5h://host:port), or a relay inside the network")]
    if spec["username"] is not None:
        return None, [("proxy", "%s: msmtp cannot authenticate to a SOCKS proxy" % spec["url"],
                       "use a proxy that admits this host by its address, without a user")]
    return {"host": spec["host"], "port": spec["port"], "url": spec["url"]}, []


def _relay_check(ctx, allowed_modes=POSTFIX_MODES):
    s, cfg, var = ctx["settings"], ctx["cfg"], ctx["var"]
    errors = []
    mode = cfg["mode"]
    if mode not in allowed_modes:
        return [("mode", "%r is not one of %s" % (mode, ", ".join(allowed_modes)), "set %s to one of them" % var("mode"))]
    auth = s["auth_method"]
    errors.extend(_relay_proxy(ctx)[1])
    if mode in ("connector", "direct_send"):
        if not s.get("mx_host"):
            errors.append(("mx_host", "required for mode %s (the tenant's MX host, e.g. contoso-com.mail.protection.outlook.com)" % mode,
                           "set %s to the host of your domain's MX record (it is not derived from a pattern)" % var("mx_host")))
        if auth != "none":
            errors.append(("auth_method", "mode %s does not authenticate (the connector matches the host's IP or TLS certificate)" % mode,
                           "set %s=none, or use %s=submission" % (var("auth_method"), var("mode"))))
        if not s.get("sender") and _is_true(cfg.get("rewrite_sender", True)):
            errors.append(("sender", "required for mode %s: Microsoft 365 accepts only senders in the tenant's accepted domains" % mode,
                           "set %s to an address of your domain, e.g. alerts@contoso.com (or %s=false)" % (var("sender"), var("rewrite_sender"))))
        if not s.get("connector"):
            errors.append(("mode", "profile %s has no connector / direct send endpoint" % s["profile"],
                           "use a Microsoft 365 profile (or lab) for %s=%s" % (var("mode"), mode)))
    if mode == "submission" and auth == "none":
        errors.append(("auth_method", "mode submission needs authentication (530 5.7.57 otherwise)",
                       "set %s to password or oauth2, or use %s=connector" % (var("auth_method"), var("mode"))))
    if mode == "custom" and s["profile"] != "custom":
        errors.append(("mode", "mode custom relays to your own host and needs profile custom (got %s)" % s["profile"],
                       "set %s=custom and %s" % (var("profile"), var("smtp_host"))))
    if mode in ("submission", "custom") and auth != "none":
        if not s.get("username"):
            errors.append(("username", "required with %s=%s" % (var("auth_method"), auth),
                           "set %s to the mailbox address, e.g. alerts@contoso.com" % var("username")))
    if auth == "password" and mode in ("submission", "custom") and "password" not in ctx["secrets_given"]:
        errors.append(("password", "required with %s=password" % var("auth_method"),
                       "set %s (keep it in Ansible Vault)" % var("password")))
    if auth == "oauth2" and mode in ("submission", "custom"):
        o = s.get("oauth2") or {}
        errors.extend(_app_only_errors(s, var))
        if not o.get("client_id"):
            errors.append(("client_id", "required with %s=oauth2 (app-only tokens, client credentials)" % var("auth_method"),
                           "set %s to the app registration's application (client) ID" % var("client_id")))
        if not o.get("tenant"):
            errors.append(("tenant", "required with %s=oauth2" % var("auth_method"),
                           "set %s to the directory (tenant) ID or a verified domain" % var("tenant")))
        if not (o.get("token_url") or cfg.get("token_url")):
            errors.append(("tenant", "no token endpoint for profile %s" % s["profile"],
                           "use a Microsoft 365 profile with %s=oauth2" % var("auth_method")))
        if "client_secret" not in ctx["secrets_given"] and "client_key" not in ctx["secrets_given"]:
            errors.append(("client_secret", "required with %s=oauth2 (or a certificate credential)" % var("auth_method"),
                           "set %s (keep it in Ansible Vault), or %s and %s"
                           % (var("client_secret"), var("client_certificate"), var("client_key"))))
    if cfg.get("original_sender") not in ORIGINAL_SENDER:
        errors.append(("original_sender", "%r is not one of %s" % (cfg.get("original_sender"), ", ".join(ORIGINAL_SENDER)),
                       "set %s to one of them" % var("original_sender")))
    map_type = cfg.get("map_type")
    if map_type is not None and map_type not in POSTFIX_MAP_TYPES:
        errors.append(("map_type", "%r is not a map type for sasl_passwd" % (map_type,),
                       "use one of %s (texthash needs no postmap)" % ", ".join(sorted(POSTFIX_MAP_TYPES))))
    rd = cfg.get("rate_delay")
    if rd is not None and not _TIME_VALUE.fullmatch(str(rd)):
        errors.append(("rate_delay", "%r is not a Postfix time value" % (rd,), "use e.g. 2s (30 messages per minute) or 0"))
    if (cfg.get("tls_cert_file") is None) != (cfg.get("tls_key_file") is None):
        errors.append(("tls_cert_file", "the TLS client certificate and key go together",
                       "set both %s and %s, or neither" % (var("tls_cert_file"), var("tls_key_file"))))
    for key, what in (("tls_cert_file", "client certificate"), ("tls_key_file", "client key"),
                      ("system_ca_file", "CA bundle"), ("secret_dir", "directory"), ("token_helper", "token helper"),
                      ("postfix_dir", "Postfix configuration directory")):
        _absolute_path(errors, cfg, var, key, what)
    if cfg.get("tls_security_level") not in ("encrypt", "secure", "verify"):
        errors.append(("tls_security_level", "%r is not encrypt, verify or secure" % (cfg.get("tls_security_level"),),
                       "use secure (default: certificate verified, name checked) or encrypt"))
    username = s.get("username")
    if username and ":" in username:
        errors.append(("username", "%r contains ':', which ends the login in Postfix's and msmtp's password maps"
                       % (username,), "give the login without ':'"))
    extra = cfg.get("extra_settings")
    if extra is not None and not isinstance(extra, dict):
        errors.append(("extra_settings", "not a dictionary", "give main.cf parameter names and values"))
    elif extra or cfg.get("allow_unsafe_settings"):
        errors.extend(_extra_settings_errors(extra or {}, cfg.get("allow_unsafe_settings"), var))
    return errors


def _postfix_check(ctx):
    """postfix_relay: the relay checks plus what main.cf and the maps need of each value."""
    cfg, var = ctx["cfg"], ctx["var"]
    errors = _relay_check(ctx)
    if cfg.get("myhostname") is not None and not is_hostname(cfg["myhostname"]):
        errors.append(("myhostname", "%r is not a DNS name" % (cfg["myhostname"],),
                       "give this host's fully qualified name, e.g. mail01.contoso.com, or leave it unset"))
    myorigin = cfg.get("myorigin")
    if myorigin is not None and myorigin not in ("$myhostname", "$mydomain") and not is_hostname(myorigin):
        errors.append(("myorigin", "%r is not a DNS name" % (myorigin,),
                       "give the domain that local mail appears to come from, $mydomain or $myhostname"))
    forward = cfg.get("forward_local_to")
    if forward is not None and not is_email(forward):
        errors.append(("forward_local_to", "%r is not a mail address" % (forward,), "give one address, e.g. ops@contoso.com"))
    lookup = cfg.get("host_lookup")
    words = [w for w in re.split(r"[\s,]+", str(lookup).strip()) if w] if lookup is not None else []
    if lookup is not None and (not words or any(w not in HOST_LOOKUPS for w in words)):
        errors.append(("host_lookup", "%r is not a list of %s" % (lookup, " and ".join(HOST_LOOKUPS)),
                       "use dns, native or 'dns, native'"))
    try:
        postfix_map(cfg.get("postfix_dir"))
    except Unrepresentable as err:
        errors.append(("postfix_dir", "%r: %s" % (cfg.get("postfix_dir"), err.problem), err.fix))
    return errors


def _relay_precheck(cfg, overrides, var):
    mode = cfg.get("mode")
    if mode in ("connector", "direct_send") and not overrides.get("mx_host"):
        return [("mx_host", "required for mode %s (the tenant's MX host, e.g. contoso-com.mail.protection.outlook.com)" % mode,
                 "set %s to the host of your domain's MX record (it is not derived from a pattern)" % var("mx_host"))]
    return []


def _relay_upstream(ctx):
    s, cfg = ctx["settings"], ctx["cfg"]
    mode = cfg["mode"]
    if mode in ("connector", "direct_send"):
        return {"upstream_host": s["mx_host"], "upstream_port": cfg.get("mx_port") or s["connector"]["port"],
                "upstream_security": "starttls"}
    return {"upstream_host": s["smtp"]["host"], "upstream_port": s["smtp"]["port"], "upstream_security": s["smtp"]["security"]}


def _postfix_prepare(ctx):
    s, cfg = ctx["settings"], ctx["cfg"]
    out = _relay_upstream(ctx)
    mode = cfg["mode"]
    out["auth"] = s["auth_method"] if mode in ("submission", "custom") else "none"
    out["map_ext"] = POSTFIX_MAP_TYPES.get(cfg["map_type"]) or ""
    rd = cfg.get("rate_delay")
    if rd is None:
        limit = (s.get("limits") or {}).get("messages_per_minute") if mode == "submission" else None
        rd = "%ds" % -(-60 // limit) if limit else "0s"
    out["rate_delay_value"] = str(rd) if str(rd)[-1:] in "smhdw" else "%ss" % rd
    out["rewrite_to"] = s.get("sender") or s.get("username")
    out["ca_file"] = s.get("ca_file") or cfg.get("system_ca_file")
    out["ipv4_only"] = _is_true(cfg.get("ipv4_only"))
    out["local_delivery"] = _is_true(cfg.get("local_delivery"))
    # messages up to the upstream's size limit must get through Postfix (its default is 10 MB)
    out["message_size_limit"] = (s.get("limits") or {}).get("message_size") if mode == "submission" else None
    return out


def _last_wins(content, ctx):
    """main.cf: a parameter given in extra_settings replaces the role's own line (no duplicate entries)."""
    extra = ctx["cfg"].get("extra_settings") or {}
    if not extra:
        return content
    lines = content.splitlines(True)
    last = {}
    for i, line in enumerate(lines):
        m = re.match(r"([a-z0-9_]+)\s*=", line)
        if m:
            last[m.group(1)] = i
    keep = []
    for i, line in enumerate(lines):
        m = re.match(r"([a-z0-9_]+)\s*=", line)
        if m and m.group(1) in extra and last[m.group(1)] != i:
            continue
        keep.append(line)
    return "".join(keep)


def _postfix_rewrite(ctx):
    return bool(ctx["cfg"].get("rewrite_to")) and _is_true(ctx["cfg"].get("rewrite_sender"))


def _relay_warn(ctx):
    cfg, var = ctx["cfg"], ctx["var"]
    out = []
    if cfg.get("mode") == "direct_send":
        out.append("%s=direct_send: Microsoft 365 accepts only recipients in your own tenant's domains this way "
                   "(external recipients get 550 5.7.64 TenantAttribution; Relay Access Denied), the tenant may block "
                   "direct send (550 5.7.68), and messages are not authenticated. Use %s=connector or submission "
                   "for external recipients." % (var("mode"), var("mode")))
    if cfg.get("tls_security_level") == "encrypt":
        out.append("%s=encrypt: the upstream's certificate is not verified; use secure." % var("tls_security_level"))
    extra = cfg.get("extra_settings") or {}
    unsafe = ["%s=%s (%s)" % (k, extra[k], unsafe_postfix_setting(k, extra[k])) for k in sorted(extra)
              if k in (cfg.get("allow_unsafe_settings") or []) and unsafe_postfix_setting(k, extra[k])]
    if unsafe:
        out.append("%s: applying unsafe main.cf settings because %s lists them: %s. Remove them from both variables "
                   "when they are no longer needed." % (var("extra_settings"), var("allow_unsafe_settings"), "; ".join(unsafe)))
    return out


POSTFIX_RELAY = Format(
    name="postfix_relay",
    description="Postfix null client relaying all mail to Microsoft 365 (submission, connector, direct send) or a custom relay",
    variables={
        "mode": "submission",
        "postfix_dir": "/etc/postfix",
        "map_type": "hash",
        "system_ca_file": "/etc/ssl/certs/ca-certificates.crt",
        "tls_security_level": "secure",
        "tls_cert_file": None,
        "tls_key_file": None,
        "rate_delay": None,
        "ipv4_only": False,
        "myhostname": None,
        "myorigin": None,
        "local_delivery": False,
        "rewrite_sender": True,
        "original_sender": "none",
        "forward_local_to": None,
        "extra_settings": {},
        "allow_unsafe_settings": [],
        "host_lookup": "dns, native",
        "mx_port": None,
        "xoauth2_service": "mailfleet-xoauth2",
        "token_url": None,
        "token_helper": "/usr/local/libexec/mailfleet/mailfleet-oauth2-token",
        "secret_dir": "/etc/mailfleet/relay",
        "proxy": None,
    },
    secrets=("password", "client_secret"),
    precheck=_relay_precheck,
    check=_postfix_check,
    prepare=_postfix_prepare,
    warn=_relay_warn,
    files=[
        File("postfix_relay/main.cf.j2", "{postfix_dir}/main.cf", mode="0644", finalize=_last_wins),
        File("postfix_relay/sasl_passwd.j2", "{postfix_dir}/sasl_passwd", mode="0600", secret=True,
             when=lambda ctx: ctx["cfg"]["auth"] == "password",
             post=[["postmap", "-c", "{destdir}", "{map_type}:{dest}"]], creates=["{dest}.{map_ext}"],
             remove_with=["{dest}.%s" % ext for ext in sorted(set(filter(None, POSTFIX_MAP_TYPES.values())))],
             post_when=lambda ctx: bool(ctx["cfg"]["map_ext"]),
             post_hint=lambda var: "set %s to texthash, which Postfix reads as text and needs no compilation" % var("map_type")),
        File("postfix_relay/sender_canonical.j2", "{postfix_dir}/sender_canonical", mode="0644",
             when=_postfix_rewrite),
        File("postfix_relay/smtp_header_checks.j2", "{postfix_dir}/smtp_header_checks", mode="0644",
             when=_postfix_rewrite),
        File("postfix_relay/header_checks.j2", "{postfix_dir}/header_checks", mode="0644",
             when=lambda ctx: _postfix_rewrite(ctx) and ctx["cfg"].get("original_sender") == "reply_to"),
        File("postfix_relay/recipient_canonical.j2", "{postfix_dir}/recipient_canonical", mode="0644",
             when=lambda ctx: bool(ctx["cfg"].get("forward_local_to"))),
        File("postfix_relay/defer_permanent.j2", "{postfix_dir}/defer_permanent", mode="0644"),
    ],
    # postfix prints its fatal errors only to a terminal: run the check with a pty to report them
    validate=[{"argv": ["postfix", "check"], "tty": True}],
    services=[{"name": "postfix", "status": ["postfix", "status"], "reload": ["postfix", "reload"]}],
    programs={"postmap": "postfix", "postfix": "postfix"},
)


# ---------------------------------------------------------------------------------------------------
# msmtp_relay: msmtp-mta as the host's sendmail, one system-wide account.
# ---------------------------------------------------------------------------------------------------

def _msmtp_check(ctx):
    errors = _relay_check(ctx, allowed_modes=("submission", "custom"))
    errors = [e for e in errors if e[0] not in ("original_sender", "rate_delay", "tls_security_level", "extra_settings")]
    if ctx["settings"]["auth_method"] == "oauth2" and "oauth2_token_helper" not in ctx["formats"]:
        errors.append(("format", "msmtp_relay with OAuth2 runs the token helper", "add oauth2_token_helper to the formats"))
    return errors


def _msmtp_prepare(ctx):
    s, cfg = ctx["settings"], ctx["cfg"]
    out = _relay_upstream(ctx)
    out["auth"] = s["auth_method"]
    out["from"] = s.get("sender") or s.get("username")
    out["ca_file"] = s.get("ca_file") or cfg.get("system_ca_file")
    out["socks_proxy"] = _relay_proxy(ctx)[0]
    return out


def _msmtp_warn(ctx):
    return ["msmtp has no queue: a message handed over while Microsoft 365, the network or the token endpoint is "
            "unreachable fails at once and cron, monitoring and applications usually drop it; only root's mail can "
            "use the OAuth2 token. Use %s=postfix (the default) where mail must not be lost (docs/relay.md)."
            % ctx["var"]("mta")]


MSMTP_RELAY = Format(
    name="msmtp_relay",
    description="msmtp-mta as the system sendmail, sending as one mailbox (password or XOAUTH2 app-only tokens)",
    variables={
        "mode": "submission",
        "config_path": "/etc/msmtprc",
        "secret_dir": "/etc/mailfleet/relay",
        "system_ca_file": "/etc/ssl/certs/ca-certificates.crt",
        "aliases_file": None,
        "log": "syslog",
        "token_helper": "/usr/local/libexec/mailfleet/mailfleet-oauth2-token",
        "token_url": None,
        "python": "/usr/bin/python3",
        "tls_cert_file": None,
        "tls_key_file": None,
        "original_sender": "none",
        "tls_security_level": "secure",
        "proxy": None,
    },
    secrets=("password", "client_secret"),
    check=_msmtp_check,
    prepare=_msmtp_prepare,
    warn=_msmtp_warn,
    files=[
        File("msmtp_relay/msmtprc.j2", "{config_path}", mode="0644"),
        File("msmtp_relay/password.j2", "{secret_dir}/password", mode="0600", secret=True,
             when=lambda ctx: ctx["cfg"]["auth"] == "password"),
    ],
)


# ---------------------------------------------------------------------------------------------------
# oauth2_token_helper: the stdlib token helper (client credentials, cached, refreshed before expiry).
# ---------------------------------------------------------------------------------------------------

def _app_only_errors(s, var):
    """Client credentials need the profile's app-only scope (Outlook.com consumer accounts have none)."""
    o = s.get("oauth2") or {}
    if o.get("authority_url") and not o.get("scope_app"):
        return [("auth_method", "profile %s has no app-only (client credentials) route: %s" % (
            s["profile"], o.get("app_only_note") or "no app scope in the catalog"),
            "use a Microsoft 365 tenant profile for a relay with %s=oauth2" % var("auth_method"))]
    return []


def _helper_check(ctx):
    s, var = ctx["settings"], ctx["var"]
    if s["auth_method"] != "oauth2":
        return []
    o = s.get("oauth2") or {}
    errors = _app_only_errors(s, var)
    if not o.get("client_id"):
        errors.append(("client_id", "required with %s=oauth2 (app-only tokens, client credentials)" % var("auth_method"),
                       "set %s to the app registration's application (client) ID" % var("client_id")))
    if not (ctx["cfg"].get("token_url") or o.get("token_url")):
        errors.append(("tenant", "required with %s=oauth2 (it names the token endpoint)" % var("auth_method"),
                       "set %s to the directory (tenant) ID or a verified domain" % var("tenant")))
    if "client_secret" not in ctx["secrets_given"]:
        errors.append(("client_secret", "required with %s=oauth2" % var("auth_method"),
                       "set %s (keep it in Ansible Vault)" % var("client_secret")))
    return errors


def _helper_prepare(ctx):
    o = ctx["settings"].get("oauth2") or {}
    return {"token_url_value": ctx["cfg"].get("token_url") or o.get("token_url")}


OAUTH2_TOKEN_HELPER = Format(
    name="oauth2_token_helper",
    description="Token helper for XOAUTH2 (client credentials): prints a cached access token, refreshed before expiry",
    variables={
        "token_helper": "/usr/local/libexec/mailfleet/mailfleet-oauth2-token",
        "python": "/usr/bin/python3",
        "secret_dir": "/etc/mailfleet/relay",
        "token_cache": "/var/cache/mailfleet/relay-token.json",
        "token_url": None,
        "helper_lib_dir": "/usr/local/lib/mailfleet",
    },
    secrets=("client_secret",),
    check=_helper_check,
    prepare=_helper_prepare,
    files=[
        # the collection's one OAuth2 client (also used by smtp_check), installed as a library for the helper
        File(None, "{helper_lib_dir}/mailfleet_oauth2.py", mode="0644", source="module_utils/_oauth2.py"),
        program_file("module_utils/_oauth2_token_helper.py", "{token_helper}", python="/usr/bin/python3"),
        File("oauth2_token_helper/oauth2.json.j2", "{secret_dir}/oauth2.json", mode="0600", secret=True,
             when=lambda ctx: ctx["settings"]["auth_method"] == "oauth2"),
    ],
)


# The registry: every format of the collection, one entry each. The formats of the client role and OAuth2 for
# Postfix are defined in their own files (same File / Format classes, from _format_model.py) and listed here.
from ansible_collections.mailfleet.outlook.plugins.plugin_utils import _client_formats as _client  # noqa: E402
from ansible_collections.mailfleet.outlook.plugins.plugin_utils import _xoauth2_formats as _xoauth2  # noqa: E402

FORMATS = dict((f.name, f) for f in (
    POSTFIX_RELAY,
    MSMTP_RELAY,
    OAUTH2_TOKEN_HELPER,
    _xoauth2.POSTFIX_XOAUTH2,
    _client.CLIENT_MSMTP,
    _client.CLIENT_PASSWORD,
    _client.CLIENT_OAUTH2,
    _client.CLIENT_NEOMUTT,
    _client.CLIENT_THUNDERBIRD,
    _client.CLIENT_EVOLUTION,
    _client.CLIENT_AUTOCONFIG,
    _client.CLIENT_AUTODISCOVER,
    _client.CLIENT_APPLE,
    _client.CLIENT_THUNDERBIRD_ISP,
    _client.CLIENT_MSMTP_SYSTEM,
    _client.CLIENT_TOKEN_COMMAND,
))
