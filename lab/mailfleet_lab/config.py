# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Lab configuration: defaults, JSON merge patches, validation.

A lab config file is a JSON merge patch (RFC 7386) applied over ``default_config()``: give only what
differs; ``null`` removes a key (for example an account). The admin endpoint applies patches the same way.
"""

import copy
import importlib.util
import json
import os
import sys

from .core import ANSWERS


def _load_catalog():
    """Return the collection's catalog module (the one home of the lab's ports)."""
    try:
        # pylint: disable-next=import-outside-toplevel
        from ansible_collections.mailfleet.outlook.plugins.module_utils import _catalog
        return _catalog
    except ImportError:
        pass
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "plugins", "module_utils", "_catalog.py")
    spec = importlib.util.spec_from_file_location("mailfleet_lab_catalog", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_CATALOG = _load_catalog()
LAB_PORTS = dict(_CATALOG.LAB_PORTS)
DEFAULT_STATE_DIR = _CATALOG.LAB_STATE_DIR

# Extra listeners of the lab that the catalog does not name (0 = any free port, see state.json).
EXTRA_PORTS = {"admin": 0}

# Token endpoint faults (``token.fault``): what a relay must survive without losing mail.
TOKEN_FAULTS = ("unavailable", "slow", "throttled", "AADSTS50196", "AADSTS90033")

TENANT_ID = "00000000-0000-4000-8000-000000000001"
APP_CLIENT_ID = "11111111-1111-4111-8111-111111111111"
APP_SECRET = "lab-app-secret-value"
PUBLIC_CLIENT_ID = "22222222-2222-4222-8222-222222222222"
# Continuous error throttling codes of SMTP AUTH submissions (facts section 4).
THROTTLE_CODES = ("5.2.251", "5.2.252", "5.2.253", "5.2.254", "5.2.255")


def _mailbox(password=None, **switches):
    box = {
        "password": password,
        "send_as": [],
        "smtp_auth_disabled": False,
        "policy": False,
        "security_defaults": False,
        "basic_auth_disabled": False,
        "basic_auth_removed": False,
        "blocked_sender": False,
        "imap_disabled": False,                # Set-CASMailbox -ImapEnabled $false
        "pop_disabled": False,                 # Set-CASMailbox -PopEnabled $false
        "continuous_error_throttled": None,    # "5.2.251" .. "5.2.255": MAIL FROM gets that throttling answer
    }
    box.update(switches)
    return box


def default_config():
    """The default lab config (documented in lab/README.md). A fresh deep copy each call."""
    return {
        "hostname": "localhost",
        "bind": "127.0.0.1",
        "bind_extra": [],
        "admin_bind": "127.0.0.1",   # the admin endpoint (no authentication) listens here only
        "state_dir": DEFAULT_STATE_DIR,
        "ca_file": None,            # default: <state_dir>/ca.pem
        "store_path": None,         # default: <state_dir>/messages.jsonl
        "log_path": None,           # default: <state_dir>/lab.log
        "ports": dict(LAB_PORTS, **EXTRA_PORTS),
        "disabled": [],             # listener names not to start
        "extra_names": [],          # more DNS names / IPs for the lab's server certificate
        "slow_byte_delay": 0.1,
        "tarpit_seconds": 300,
        "data_size_limit": 37748736,
        "tenant": {
            "id": TENANT_ID,
            "name": "contoso",
            "domains": ["contoso.test"],
            "smtp_auth_disabled": False,
            "security_defaults": False,
            "basic_auth_removed": False,
            "direct_send_rejected": False,
            # "data": SendAs checked after DATA (554 5.2.252, envelope and header From);
            # "mail": the envelope sender is checked at MAIL FROM (550 5.7.60), header From after DATA;
            # "storedrv": after DATA, with the store driver's 554 5.2.0 ...SendAsDeniedException text.
            "send_as_check": "data",
            # None, "threshold" (550 5.7.705) or "unregistered_domains" (550 5.7.750): MAIL FROM refused.
            "sending_blocked": None,
            # TERRL: external recipients per 24 h for the whole tenant (0 = no limit); over it RCPT gets 550 5.7.233.
            "external_recipient_limit": 0,
            # Basic auth for IMAP/POP retired (Exchange Online since 2022): every LOGIN / USER+PASS is refused.
            "imap_pop_basic_auth_retired": False,
        },
        "accounts": {
            "alice@contoso.test": _mailbox("alice-lab-password"),
            "bob@contoso.test": _mailbox("bob-lab-password"),
            "relay@contoso.test": _mailbox("relay-lab-password", send_as=["noreply@contoso.test"]),
            "noreply@contoso.test": _mailbox(None),
            "smtpoff@contoso.test": _mailbox("smtpoff-lab-password", smtp_auth_disabled=True),
            "policy@contoso.test": _mailbox("policy-lab-password", policy=True),
            "secdefaults@contoso.test": _mailbox("secdefaults-lab-password", security_defaults=True),
            "nobasic@contoso.test": _mailbox("nobasic-lab-password", basic_auth_disabled=True),
            "basicremoved@contoso.test": _mailbox("basicremoved-lab-password", basic_auth_removed=True),
        },
        "apps": {
            APP_CLIENT_ID: {
                "name": "mailfleet-lab-app",
                "secret": APP_SECRET,
                # Mailboxes this app may send as with an app-only token (SMTP.SendAsApp + mailbox permission).
                "send_as": ["alice@contoso.test", "relay@contoso.test", "noreply@contoso.test",
                            "smtpoff@contoso.test", "nobasic@contoso.test", "secdefaults@contoso.test",
                            "basicremoved@contoso.test"],
                # Application permissions granted (admin consent): the roles of its client-credentials tokens.
                "roles": ["SMTP.SendAsApp", "IMAP.AccessAsApp", "POP.AccessAsApp"],
                # Mailboxes its service principal may open over IMAP/POP (Add-MailboxPermission -AccessRights FullAccess).
                "mailboxes": ["alice@contoso.test", "relay@contoso.test", "noreply@contoso.test"],
                "public_client": False,
                # "lab": the lab makes a certificate for client_assertion (see state.json app_certs);
                # or the path of a PEM certificate; None: secret only.
                "certificate": "lab",
            },
            PUBLIC_CLIENT_ID: {
                "name": "mailfleet-lab-public-client",
                "secret": None,
                "send_as": [],
                "public_client": True,
                # authorization code flow: http://localhost on any port, like a native app's loopback redirect
                "redirect_uris": ["http://localhost", "http://127.0.0.1"],
            },
        },
        "token": {
            "lifetime": 3600,
            "scope_resources": ["https://outlook.office365.com", "https://outlook.office.com"],
            "device_code_lifetime": 900,
            "device_code_interval": 1,
            "device_auto_approve": None,    # a mailbox: device codes are signed in at once (demos, CI)
            "refresh_token_lifetime": 86400,
            # a fault of the token endpoint (one of TOKEN_FAULTS) for every token request until cleared:
            # "unavailable" (HTTP 503, HTML), "slow" (answers after fault_delay seconds), "throttled" (HTTP 429,
            # Retry-After: fault_retry_after), "AADSTS50196" (400, request loop), "AADSTS90033" (503, transient)
            "fault": None,
            "fault_delay": 30,
            "fault_retry_after": 10,
        },
        "rate_limit": {"messages": 30, "window_seconds": 60, "recipients_per_day": 10000},
        # Microsoft's answer on demand: a message whose Subject contains a key gets the answer named by its
        # value after DATA (a key of core.ANSWERS: "send_as_denied", "bad_outbound_sender", "rate_limited", ...)
        "refuse_subjects": {},
        "blocked_client_ips": [],   # MAIL FROM from these client IPs: 550 5.7.708 (submission and connector)
        "connector": {
            "client_ips": ["127.0.0.1"],
            "cert_names": ["relay.contoso.test"],
            "require_tls": False,
            # True: a matched connector relays to outside recipients only for senders in the tenant's domains
            # (attribution by sender domain, as in Exchange Online); others get 550 5.7.64.
            "require_accepted_sender": False,
        },
        "client_cert_names": ["relay.contoso.test", "stranger.example.test"],
    }


def merge_patch(target, patch):
    """RFC 7386 JSON merge patch: return ``target`` updated by ``patch`` (``target`` is modified)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if not isinstance(target, dict):
        target = {}
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        else:
            target[key] = merge_patch(target.get(key), value)
    return target


class ConfigError(ValueError):
    """A lab config that cannot work."""


def _normalise_accounts(config):
    accounts = {}
    for address, box in (config.get("accounts") or {}).items():
        full = _mailbox(None)
        full.update(box or {})
        full["send_as"] = [addr.lower() for addr in full.get("send_as") or []]
        accounts[address.lower()] = full
    config["accounts"] = accounts
    for client_id, app in (config.get("apps") or {}).items():
        app.setdefault("secret", None)
        app.setdefault("certificate", None)
        app.setdefault("redirect_uris", [])
        app.setdefault("public_client", app.get("secret") is None)
        app["send_as"] = [addr.lower() for addr in app.get("send_as") or []]
        app.setdefault("roles", ["SMTP.SendAsApp", "IMAP.AccessAsApp", "POP.AccessAsApp"])
        app["mailboxes"] = [addr.lower() for addr in app.get("mailboxes") or []]
        app.setdefault("name", client_id)


def finish_config(config):
    """Fill derived defaults (paths) and check the config; returns it."""
    state_dir = config.get("state_dir") or DEFAULT_STATE_DIR
    config["state_dir"] = os.path.abspath(state_dir)
    config["ca_file"] = os.path.abspath(config.get("ca_file") or os.path.join(config["state_dir"], "ca.pem"))
    config["store_path"] = os.path.abspath(config.get("store_path") or os.path.join(config["state_dir"], "messages.jsonl"))
    config["log_path"] = os.path.abspath(config.get("log_path") or os.path.join(config["state_dir"], "lab.log"))
    ports = config.get("ports") or {}
    for name, port in ports.items():
        if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
            raise ConfigError("ports.%s: %r is not a port number (0 = any free port)" % (name, port))
    unknown = set(ports) - set(LAB_PORTS) - set(EXTRA_PORTS)
    if unknown:
        raise ConfigError("ports: unknown listener(s) %s; known: %s" % (
            ", ".join(sorted(unknown)), ", ".join(sorted(set(LAB_PORTS) | set(EXTRA_PORTS)))))
    for name in LAB_PORTS:
        ports.setdefault(name, LAB_PORTS[name])
    for name, port in EXTRA_PORTS.items():
        ports.setdefault(name, port)
    config["ports"] = ports
    if not isinstance(config.get("bind_extra") or [], list):
        raise ConfigError("bind_extra: must be a list of addresses")
    config["bind_extra"] = list(config.get("bind_extra") or [])
    rate = config.get("rate_limit") or {}
    if int(rate.get("messages", 0)) < 0 or float(rate.get("window_seconds", 0)) <= 0:
        raise ConfigError("rate_limit: messages must be >= 0 (0 = unlimited) and window_seconds > 0")
    refuse = config.get("refuse_subjects") or {}
    if not isinstance(refuse, dict) or any(answer not in ANSWERS for answer in refuse.values()):
        raise ConfigError("refuse_subjects: map subject substrings to answer names (%s)" % ", ".join(sorted(ANSWERS)))
    fault = (config.get("token") or {}).get("fault")
    if fault is not None and fault not in TOKEN_FAULTS:
        raise ConfigError("token.fault: %r is not one of %s (or null)" % (fault, ", ".join(TOKEN_FAULTS)))
    _normalise_accounts(config)
    config["tenant"]["domains"] = [domain.lower() for domain in config["tenant"].get("domains") or []]
    tenant = config["tenant"]
    if tenant.get("send_as_check", "data") not in ("data", "mail", "storedrv"):
        raise ConfigError("tenant.send_as_check: %r is not data, mail or storedrv" % (tenant.get("send_as_check"),))
    if tenant.get("sending_blocked") not in (None, "threshold", "unregistered_domains"):
        raise ConfigError("tenant.sending_blocked: %r is not null, threshold or unregistered_domains"
                          % (tenant.get("sending_blocked"),))
    for address, box in config["accounts"].items():
        if box.get("continuous_error_throttled") not in (None,) + THROTTLE_CODES:
            raise ConfigError("accounts.%s.continuous_error_throttled: %r is not null or one of %s"
                              % (address, box.get("continuous_error_throttled"), ", ".join(THROTTLE_CODES)))
    return config


def load_config(path=None, overrides=None):
    """Default config, patched by the JSON file at ``path`` ("-": standard input) and then by ``overrides``."""
    config = default_config()
    if path:
        try:
            if path == "-":     # from standard input: secrets of a test config never touch the disk
                patch = json.load(sys.stdin)
            else:
                with open(path, "r", encoding="utf-8") as handle:
                    patch = json.load(handle)
        except ValueError as error:
            raise ConfigError("%s: not valid JSON: %s" % (path, error)) from error
        if not isinstance(patch, dict):
            raise ConfigError("%s: the config must be a JSON object" % path)
        merge_patch(config, patch)
    if overrides:
        merge_patch(config, overrides)
    return finish_config(config)


def redacted(config):
    """A copy of ``config`` without passwords or client secrets (for logs and the admin endpoint)."""
    clean = copy.deepcopy(config)
    for box in clean.get("accounts", {}).values():
        if box.get("password"):
            box["password"] = "<redacted>"
    for app in clean.get("apps", {}).values():
        if app.get("secret"):
            app["secret"] = "<redacted>"
    return clean
