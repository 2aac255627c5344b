# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Format ``postfix_xoauth2`` of the mail_config registry (``_formats.FORMATS``): OAuth2 for Postfix.

Postfix keeps the queue; its LMTP client hands every message to ``mailfleet-xoauth2`` (the collection's
``module_utils/_xoauth2_relay.py``, installed verbatim, run by spawn(8) as a dedicated system user), which
authenticates to Microsoft 365 with XOAUTH2 (see that file and docs/relay.md). This format installs the
program and the collection's OAuth2 client next to it, and writes the program's JSON configuration and the
certificate credential, all readable only by the dedicated user. ``postfix_relay`` writes the ``main.cf`` side
(``default_transport = lmtp:unix:private/mailfleet-xoauth2``); the relay role adds the master.cf service and
the user.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.mailfleet.outlook.plugins.plugin_utils._format_model import File, Format

_TIME = re.compile(r"^(\d+)([smhdw]?)$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def time_seconds(value):
    """Postfix-style time (``90s``, ``24h``, ``2d``; a bare number is seconds) -> seconds, or None."""
    match = _TIME.match(str(value).strip())
    if not match:
        return None
    return int(match.group(1)) * _UNITS[match.group(2)]


def _certificate(ctx):
    return bool(ctx["cfg"].get("client_certificate")) or "client_key" in ctx["secrets_given"]


def _number(value, kind):
    """``kind(value)`` (float or int), or None when ``value`` is not such a number."""
    try:
        return kind(value)
    except (TypeError, ValueError):
        return None


def _check(ctx):
    s, cfg, var = ctx["settings"], ctx["cfg"], ctx["var"]
    if s["auth_method"] != "oauth2" or cfg.get("mode") not in ("submission", "custom"):
        return []
    errors = []
    has_cert = bool(cfg.get("client_certificate"))
    has_key = "client_key" in ctx["secrets_given"]
    if has_cert != has_key:
        errors.append(("client_certificate", "the certificate credential needs both the certificate and its key",
                       "set both %s (PEM certificate) and %s (PEM private key, in Ansible Vault), or neither"
                       % (var("client_certificate"), var("client_key"))))
    if has_cert and "client_secret" in ctx["secrets_given"]:
        errors.append(("client_secret", "give a client secret or a certificate credential, not both",
                       "remove %s, or %s and %s" % (var("client_secret"), var("client_certificate"), var("client_key"))))
    if has_cert and "BEGIN CERTIFICATE" not in str(cfg["client_certificate"]):
        errors.append(("client_certificate", "not a PEM certificate (no -----BEGIN CERTIFICATE----- line)",
                       "give the certificate's PEM text (the public part registered in the app registration)"))
    if time_seconds(cfg.get("auth_failure_defer")) is None:
        errors.append(("auth_failure_defer", "%r is not a time such as 24h, 90m or 3600" % (cfg.get("auth_failure_defer"),),
                       "give how long mail waits while Microsoft refuses the credentials, e.g. 24h"))
    timeout = _number(cfg.get("token_timeout"), float)
    if timeout is None or not 0 < timeout <= 300:
        errors.append(("token_timeout", "%r is not a number of seconds between 1 and 300" % (cfg.get("token_timeout"),),
                       "give the seconds a token request may take, e.g. 20"))
    memory = _number(str(cfg.get("token_failure_memory")), int)
    if memory is None or not 0 <= memory <= 300:
        errors.append(("token_failure_memory", "%r is not a whole number of seconds between 0 and 300"
                       % (cfg.get("token_failure_memory"),),
                       "give the seconds a failed token request is not repeated, e.g. 10 (0: ask every time)"))
    if not re.match(r"^[a-z_][a-z0-9_-]{0,31}$", str(cfg.get("oauth2_user") or "")):
        errors.append(("oauth2_user", "%r is not a valid system user name" % (cfg.get("oauth2_user"),),
                       "use a name like mailfleet-relay"))
    return errors


def _prepare(ctx):
    s, cfg = ctx["settings"], ctx["cfg"]
    o = s.get("oauth2") or {}
    # the relay helpers of _formats.py, imported when used: _formats.py lists this file's format in its registry
    from ansible_collections.mailfleet.outlook.plugins.plugin_utils import _formats as _registry  # pylint: disable=import-outside-toplevel
    up = _registry._relay_upstream(ctx)  # pylint: disable=protected-access
    state_dir = cfg["state_dir"].rstrip("/")
    rewrite = _registry._is_true(cfg.get("rewrite_sender"))  # pylint: disable=protected-access
    out = {
        "token_url_value": cfg.get("token_url") or o.get("token_url"),
        "certificate": _certificate(ctx),
        "auth_failure_defer_seconds": time_seconds(cfg.get("auth_failure_defer")),
        "ca_file": s.get("ca_file") or cfg.get("system_ca_file"),
        "cache_file": state_dir + "/token.json",
        "state_file": state_dir + "/credentials-refused.json",
        # bounces (null sender) leave as the mailbox every message leaves as (see _xoauth2_relay._null_sender)
        "null_sender": (s.get("sender") or s.get("username")) if rewrite else None,
    }
    out.update(up)
    return out


def _is_oauth2(ctx):
    return ctx["settings"]["auth_method"] == "oauth2"


POSTFIX_XOAUTH2 = Format(
    name="postfix_xoauth2",
    description="OAuth2 (XOAUTH2) for Postfix: the mailfleet-xoauth2 delivery program behind Postfix's queue, "
                "its configuration and credentials (dedicated system user, 0600)",
    variables={
        "mode": "submission",
        "oauth2_user": "mailfleet-relay",
        "secret_dir": "/etc/mailfleet/relay",
        "state_dir": "/var/lib/mailfleet/relay",
        "lib_dir": "/usr/local/lib/mailfleet",
        "system_ca_file": "/etc/ssl/certs/ca-certificates.crt",
        "tls_security_level": "secure",
        "token_url": None,
        "client_certificate": None,
        "auth_failure_defer": "24h",
        "token_timeout": 20,
        "token_failure_memory": 10,
        "rewrite_sender": True,
        "myhostname": None,
    },
    secrets=("client_secret", "client_key"),
    multiline=("client_certificate", "client_key"),  # PEM text: lines are its syntax (written as they are)
    check=_check,
    prepare=_prepare,
    files=[
        # the collection's one OAuth2 client and the delivery program, installed verbatim side by side
        File(None, "{lib_dir}/mailfleet_oauth2.py", mode="0644", source="module_utils/_oauth2.py", when=_is_oauth2),
        File(None, "{lib_dir}/mailfleet_xoauth2_relay.py", mode="0644", source="module_utils/_xoauth2_relay.py",
             when=_is_oauth2),
        File("postfix_xoauth2/xoauth2.json.j2", "{secret_dir}/xoauth2.json", mode="0600", owner="{oauth2_user}",
             group="{oauth2_user}", secret=True, when=_is_oauth2),
        File("postfix_xoauth2/client.crt.j2", "{secret_dir}/client.crt", mode="0644", owner="{oauth2_user}", group="{oauth2_user}",
             when=lambda ctx: _is_oauth2(ctx) and _certificate(ctx)),
        File("postfix_xoauth2/client.key.j2", "{secret_dir}/client.key", mode="0600", owner="{oauth2_user}", group="{oauth2_user}",
             secret=True, when=lambda ctx: _is_oauth2(ctx) and _certificate(ctx)),
    ],
)
