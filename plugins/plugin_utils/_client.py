# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The client role's account model: validate ``client_accounts`` and derive what the templates need.

Runs on the controller (filter ``mailfleet.outlook.client_accounts``), before any host is touched.
Every account goes through ``build_settings(var_prefix="client_")``; every error names the account
(``client_accounts[<index>] (user <name>)``), the variable, the bad value and the fix.

What comes out is plain data (no secrets: passwords stay in ``client_accounts`` and reach the hosts
only through the engine's ``secrets``): per account the validated settings, the login, the URLs the
rc files need (user part percent-encoded), stable UUIDs (uuid5, so re-runs never change them), the
Thunderbird enums and the Evolution security names.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import uuid

from urllib.parse import quote  # controller side only: Python 3

from ansible_collections.mailfleet.outlook.plugins.module_utils._client_files import (
    CLIENT_FILES,
    ROLE_FILES,
    user_files,
    uses_role_files,
)
from ansible_collections.mailfleet.outlook.plugins.module_utils._probe.proxy import DIRECT, parse_proxy
from ansible_collections.mailfleet.outlook.plugins.module_utils._settings import (
    SettingsError,
    build_settings,
    is_email,
    refuse_control_characters,
)

# Namespace of every UUID the role derives (uuid5 of this namespace and a stable name).
UUID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_DNS, "client.mailfleet.outlook")

# What each client can do. ``auth``: the auth methods the role can configure for it, with the reason
# when one is missing (the error text quotes it). ``proxy``: the proxy schemes it can be configured with
# (``no_proxy`` says why not); no client here can authenticate to a proxy.
CLIENTS = {
    "msmtp": {
        "auth": ("oauth2", "password", "none"),
        "why_not": {},
        # proxy_host / proxy_port: SOCKS5 only; msmtp sends its DNS queries through the proxy too
        "proxy": ("socks5h", "socks5"),
        "no_proxy": "msmtp speaks SOCKS5 only (proxy_host/proxy_port), not HTTP CONNECT",
    },
    "neomutt": {
        "auth": ("oauth2", "password"),
        "why_not": {"none": "neomutt needs a mailbox login for IMAP; use a relay (mailfleet.outlook.relay) for unauthenticated sending"},
        "proxy": (),
        "no_proxy": ("neomutt has no proxy setting; its $tunnel is one command for every connection (IMAP and SMTP "
                     "go to different hosts) and, with $tunnel_is_secure, skips TLS, so the role does not build one. "
                     "Run neomutt on a host with a direct path, or send through a relay inside the network "
                     "(mailfleet.outlook.relay)"),
    },
    "thunderbird": {
        "auth": ("oauth2", "password"),
        "why_not": {"none": "Thunderbird needs a mailbox login for IMAP"},
        # network.proxy.socks* (manual proxy); IMAP and SMTP go through SOCKS only, never an HTTP proxy
        "proxy": ("socks5h", "socks5"),
        "no_proxy": "Thunderbird sends IMAP and SMTP through a SOCKS proxy only (network.proxy.socks), not HTTP CONNECT",
        # Thunderbird finds the OAuth2 endpoints from its built-in provider list by host name
        # (OAuth2Providers): only Microsoft's hosts are in it, a lab or custom host is not.
        "oauth2_microsoft_only": True,
    },
    "evolution": {
        "auth": ("password",),
        "why_not": {
            "oauth2": "a .source file cannot carry the tenant and the application (client) ID: Evolution signs in to "
                      "Microsoft 365 through its own OAuth2 services (GNOME Online Accounts or evolution-ews), "
                      "which the user sets up once in Evolution",
            "none": "Evolution needs a mailbox login for IMAP",
        },
        "proxy": (),
        "no_proxy": ("Evolution takes its proxy from GNOME's network settings (or a proxy source the user picks in "
                     "Evolution), which a .source file of this role does not own; set the proxy there, or drop the "
                     "proxy for this account"),
    },
}
CLIENT_NAMES = tuple(sorted(CLIENTS))

# The mail_config formats each client needs (rendered per user): its own format, and for a client that reads
# the role's files (module_utils/_client_files.py) the password and token command formats, which remove their
# file again, by their ``when``, when the account's auth method no longer needs it.
CLIENT_USER_FORMATS = dict(
    (name, ("client_" + name,) + (("client_password", "client_oauth2") if uses_role_files(name) else ()))
    for name in CLIENT_FILES)

ACCOUNT_KEYS = ("user", "address", "display_name", "profile", "auth_method", "clients", "username", "password",
                "settings", "thunderbird_profile", "publish", "proxy")

# Thunderbird enums, as Thunderbird reads them (comm-central MailNewsTypes2.idl: nsMsgSocketType,
# nsMsgAuthMethod): socketType / try_ssl 0 plain, 2 STARTTLS (always), 3 SSL/TLS;
# authMethod 1 none, 3 normal password, 10 OAuth2.
THUNDERBIRD_SOCKET = {"none": 0, "starttls": 2, "tls": 3}
THUNDERBIRD_AUTH = {"none": 1, "password": 3, "oauth2": 10}
# Thunderbird autoconfig (config-v1.1.xml) names of the same things.
AUTOCONFIG_SOCKET = {"none": "plain", "starttls": "STARTTLS", "tls": "SSL"}
AUTOCONFIG_AUTH = {"none": "none", "password": "password-cleartext", "oauth2": "OAuth2"}
# Evolution (CamelNetworkSecurityMethod nicks, [Security] Method=).
EVOLUTION_SECURITY = {"none": "none", "starttls": "starttls-on-standard-port", "tls": "ssl-on-alternate-port"}
# Outlook POX autodiscover <Encryption>.
AUTODISCOVER_ENCRYPTION = {"none": "None", "starttls": "TLS", "tls": "SSL"}

_UNIX_USER = re.compile(r"[a-z_][a-z0-9_.-]{0,31}")  # fullmatch
_PROFILE_DIR = re.compile(r"[A-Za-z0-9._/-]+")
_AUTHORITY = re.compile(r"https://[^/\s]+")
# The role variables behind the filter's defaults (error texts name them).
DEFAULT_VARIABLES = {"profile": "client_profile", "auth_method": "client_auth_method", "clients": "client_clients",
                     "settings": "client_settings", "client_id": "client_oauth2_client_id",
                     "thunderbird_profile": "client_thunderbird_profile",
                     "oauth2_authority_url": "client_oauth2_authority_url"}


class ClientError(ValueError):
    """Invalid client account input; the message names the account, the variable and the fix."""


def _where(index, user):
    return "client_accounts[%d]%s" % (index, " (user %s)" % user if isinstance(user, str) and _UNIX_USER.fullmatch(user) else "")


def _fail(index, user, key, value, problem, fix):
    raise ClientError("%s: %s=%r: %s. Fix: %s" % (_where(index, user), key, value, problem, fix))


def stable_uuid(*parts):
    """uuid5 of the role's namespace and the parts: the same input gives the same UUID on every run."""
    return str(uuid.uuid5(UUID_NAMESPACE, "\x1f".join(str(p).lower() for p in parts))).upper()


def _endpoint_view(ep):
    if ep is None:
        return None
    view = dict(ep)
    view["thunderbird_socket"] = THUNDERBIRD_SOCKET[ep["security"]]
    view["autoconfig_socket"] = AUTOCONFIG_SOCKET[ep["security"]]
    view["evolution_security"] = EVOLUTION_SECURITY[ep["security"]]
    view["autodiscover_encryption"] = AUTODISCOVER_ENCRYPTION[ep["security"]]
    view["tls"] = ep["security"] != "none"
    view["starttls"] = ep["security"] == "starttls"
    return view


def _oauth2_view(oauth2, authority_url=None):
    """OAuth2 endpoints with the tenant filled in: without a tenant, Microsoft's multi-tenant ``common``
    authority (what Thunderbird's ISPDB entry for office365.com uses). ``authority_url`` replaces the
    profile's authority (a lab on other ports, an egress proxy)."""
    if not oauth2:
        return None
    view = dict(oauth2)
    if authority_url:
        view["authority_url"] = authority_url.rstrip("/")
    if view.get("authority_url") and (authority_url or not oauth2.get("tenant")):
        view["tenant"] = view.get("tenant") or "common"
        base = "%s/%s/oauth2/v2.0/" % (view["authority_url"], view["tenant"])
        view.update(token_url=base + "token", device_code_url=base + "devicecode", authorize_url=base + "authorize")
    view["issuer"] = view["authority_url"].split("://", 1)[-1] if view.get("authority_url") else None
    return view


def normalize_account(raw, index, defaults=None):
    """Validate one ``client_accounts`` entry and return the template view of it (no secrets)."""
    defaults = defaults or {}
    if not isinstance(raw, dict):
        raise ClientError("%s: not a mapping (got %r). Fix: give user, address and clients as a dictionary"
                          % (_where(index, None), raw))
    user = raw.get("user")
    try:  # values are data: no control character in any value of the account, before anything else
        refuse_control_characters("", raw)
    except SettingsError as e:
        raise ClientError("%s: %s" % (_where(index, user), str(e).lstrip(".")))
    for key in raw:
        if key not in ACCOUNT_KEYS:
            _fail(index, user, str(key), raw[key], "not an account key", "use one of " + ", ".join(ACCOUNT_KEYS))
    if not isinstance(user, str) or not _UNIX_USER.fullmatch(user):
        _fail(index, user, "user", user, "not a unix user name", "give the local login name, e.g. alice")

    address = raw.get("address")
    if not is_email(address):
        _fail(index, user, "address", address, "not a valid email address", "give the mailbox address, e.g. alice@contoso.com")
    local_part, domain = address.split("@")

    clients = raw.get("clients", defaults.get("clients", ["msmtp"]))
    if isinstance(clients, str):
        clients = [clients]
    if not isinstance(clients, (list, tuple)) or not clients:
        _fail(index, user, "clients", clients, "not a list of clients", "list one or more of " + ", ".join(CLIENT_NAMES))
    for name in clients:
        if name not in CLIENTS:
            _fail(index, user, "clients", name, "not a client this role configures",
                  "use one of " + ", ".join(CLIENT_NAMES) + (" (mutt: use neomutt)" if name == "mutt" else ""))
    clients = sorted(set(clients), key=list(CLIENT_NAMES).index)

    profile = raw.get("profile", defaults.get("profile", "microsoft365"))
    overrides = dict(defaults.get("settings") or {})
    account_settings = raw.get("settings") or {}
    if not isinstance(account_settings, dict):
        _fail(index, user, "settings", account_settings, "not a mapping", "give setting overrides as a dictionary")
    overrides.update(account_settings)
    for key in ("username", "sender"):
        if key in account_settings:
            _fail(index, user, "settings." + key, account_settings[key], "set by the account itself",
                  "use the account's username (login) and address (sender) keys")
    auth_method = raw.get("auth_method", defaults.get("auth_method"))
    if auth_method is not None:
        overrides["auth_method"] = auth_method
    login = raw.get("username") or address
    overrides["username"] = login
    overrides["sender"] = address
    if defaults.get("client_id") and not overrides.get("client_id"):
        overrides["client_id"] = defaults["client_id"]
    try:
        settings = build_settings(profile, overrides, var_prefix="client_")
    except SettingsError as e:
        raise ClientError("%s: %s" % (_where(index, user), e))
    auth_method = settings["auth_method"]

    for name in clients:
        spec = CLIENTS[name]
        if auth_method not in spec["auth"]:
            _fail(index, user, "auth_method", auth_method, "%s cannot use %s here: %s" % (
                name, auth_method, spec["why_not"].get(auth_method, "not supported")),
                "use %s for %s, or drop %s from clients" % (" or ".join(spec["auth"]), name, name))
        if auth_method == "oauth2" and spec.get("oauth2_microsoft_only") and not settings["microsoft"]:
            _fail(index, user, "auth_method", auth_method,
                  "%s finds OAuth2 endpoints only for Microsoft's own hosts (its built-in provider list); profile "
                  "%s is not one" % (name, profile), "use password for %s with this profile, or drop it" % name)
        if name in ("neomutt", "thunderbird", "evolution") and settings["imap"] is None:
            _fail(index, user, "client_imap_host", None, "%s needs an IMAP server and profile %s has none" % (name, profile),
                  "set settings.imap_host (and imap_port, imap_security), or drop %s" % name)

    authority = defaults.get("oauth2_authority_url")
    if authority is not None and not (isinstance(authority, str) and _AUTHORITY.fullmatch(authority)):
        _fail(index, user, "client_oauth2_authority_url", authority, "not an https:// authority URL without a path",
              "give e.g. https://login.microsoftonline.com, or leave it unset for the profile's authority")
    oauth2 = _oauth2_view(settings["oauth2"], authority) if auth_method == "oauth2" else None
    role_files = any(uses_role_files(c) for c in clients)
    token_command = role_files and auth_method == "oauth2"
    if token_command:
        if not oauth2 or not oauth2.get("device_code_url") or not oauth2.get("token_url"):
            _fail(index, user, "client_tenant", settings["oauth2"] and settings["oauth2"].get("tenant"),
                  "the device-code sign-in needs the tenant's token and device-code endpoints",
                  "set settings.tenant (or the profile's authority) for this account")
        if not oauth2.get("client_id"):
            _fail(index, user, "client_client_id", None,
                  "the device-code sign-in for msmtp/neomutt needs an application (client) ID of a public client "
                  "app registration with delegated SMTP.Send / IMAP.AccessAsUser.All",
                  "set client_oauth2_client_id (or settings.client_id of the account)")

    password_needed = auth_method == "password" and role_files
    password = raw.get("password")
    if password_needed and (not isinstance(password, str) or not password):
        _fail(index, user, "password", "<not set>" if password is None else "<hidden>",
              "password auth for msmtp/neomutt needs the mailbox password (written 0600, never into the rc file)",
              "set password (from a vault) for this account")
    if password is not None and not isinstance(password, str):
        _fail(index, user, "password", "<hidden>", "not a string", "give the password as a string")

    display_name = raw.get("display_name") or local_part
    if not isinstance(display_name, str) or any(c in display_name for c in "\r\n\x00"):
        _fail(index, user, "display_name", display_name, "not a one-line name", "give the person's name on one line")

    tb_profile = raw.get("thunderbird_profile", defaults.get("thunderbird_profile"))
    if "thunderbird" in clients and tb_profile is not None:
        # unset: the host's default profile from ~/.thunderbird/profiles.ini (found by the role's precheck)
        if not isinstance(tb_profile, str) or not tb_profile or tb_profile.startswith("/") or ".." in tb_profile.split("/") \
                or not _PROFILE_DIR.fullmatch(tb_profile):
            _fail(index, user, "thunderbird_profile", tb_profile, "not a profile directory relative to the home directory",
                  "give the Thunderbird profile directory, e.g. .thunderbird/abcd1234.default-release")
    publish = raw.get("publish", True)
    if not isinstance(publish, bool):
        _fail(index, user, "publish", publish, "not a boolean", "use true or false")
    proxy = _account_proxy(raw, index, user, clients, defaults)

    smtp, imap = _endpoint_view(settings["smtp"]), _endpoint_view(settings["imap"])
    quoted = quote(login, safe="")
    key = stable_uuid("account", address, profile)
    evolution_uids = ["mailfleet-" + stable_uuid("evolution-" + part, address, profile).lower()
                      for part in ("account", "identity", "transport")]
    formats = []
    for name in clients:
        formats.extend(f for f in CLIENT_USER_FORMATS[name] if f not in formats)
    placeholders = {
        "thunderbird_profile": tb_profile.rstrip("/") if tb_profile else None,
        "evolution_account_uid": evolution_uids[0],
        "evolution_identity_uid": evolution_uids[1],
        "evolution_transport_uid": evolution_uids[2],
    }
    paths = dict((name, user_files(name, placeholders)) for name in clients)
    if role_files:
        paths["mailfleet"] = list(ROLE_FILES)
    return {
        "index": index,
        "user": user,
        "address": address,
        "local_part": local_part,
        "domain": domain.lower(),
        "display_name": display_name,
        "profile": profile,
        "title": settings["title"],
        "microsoft": settings["microsoft"],
        "auth_method": auth_method,
        "login": login,
        "clients": clients,
        "publish": publish,
        "password_file": password_needed,
        "token_command": token_command,
        "thunderbird_profile": tb_profile if "thunderbird" in clients else None,
        "smtp": smtp,
        "imap": imap,
        "pop": _endpoint_view(settings["pop"]),
        "ca_file": settings["ca_file"],
        "tls_min_version": settings["tls_min_version"],
        "oauth2": oauth2,
        "oauth2_scopes": " ".join(oauth2["scopes_delegated"]) if oauth2 else None,
        "proxy": proxy,
        "smtp_url": "%s://%s@%s:%d/" % ("smtps" if smtp["security"] == "tls" else "smtp", quoted, smtp["host"], smtp["port"]),
        "imap_url": ("%s://%s@%s:%d/" % ("imaps" if imap["security"] == "tls" else "imap", quoted, imap["host"], imap["port"])
                     if imap else None),
        "thunderbird_auth": THUNDERBIRD_AUTH[auth_method],
        "autoconfig_auth": AUTOCONFIG_AUTH[auth_method],
        "uuid": {
            "account": key,
            "apple_profile": stable_uuid("apple-profile", address, profile),
            "apple_payload": stable_uuid("apple-payload", address, profile),
            "evolution_account": evolution_uids[0],
            "evolution_identity": evolution_uids[1],
            "evolution_transport": evolution_uids[2],
        },
        "formats": formats,
        "client_formats": dict((name, list(CLIENT_USER_FORMATS[name])) for name in clients),
        "paths": paths,
        "overrides": dict((k, v) for k, v in overrides.items() if v is not None),
        "warnings": ["%s: %s" % (_where(index, user), w) for w in settings["warnings"]],
    }


def _account_proxy(raw, index, user, clients, defaults):
    """The account's proxy (``proxy``, else the role's ``client_proxy``; ``direct`` for none) as the templates need
    it, or None; refused, naming the client and why, where a client cannot use it."""
    if "proxy" in raw:
        value, variable = raw["proxy"], "proxy"
    else:
        value, variable = defaults.get("proxy"), "client_proxy"
    if value in (None, "", DIRECT):
        return None
    try:
        spec = parse_proxy(value, variable=variable)
    except ValueError as e:
        raise ClientError("%s: %s" % (_where(index, user), e))
    if spec["username"] is not None:
        _fail(index, user, variable, spec["url"], "a proxy user was given, and none of msmtp, Thunderbird, neomutt or "
              "Evolution can authenticate to a proxy", "use a proxy that admits this host without a password (by its "
              "address), or send through a relay inside the network")
    for name in clients:
        if spec["scheme"] not in CLIENTS[name]["proxy"]:
            if CLIENTS[name]["proxy"]:
                fix = ("give %s the site's SOCKS5 proxy (socks5h://host:port), set proxy: direct for this account, or "
                       "drop %s from clients" % (name, name))
            else:
                fix = "drop %s from clients, or set proxy: direct for this account" % name
            _fail(index, user, variable, spec["url"], "%s cannot use it: %s" % (name, CLIENTS[name]["no_proxy"]), fix)
    return {"scheme": spec["scheme"], "host": spec["host"], "port": spec["port"], "remote_dns": spec["remote_dns"],
            "url": spec["url"]}


def normalize_accounts(accounts, defaults=None):
    """Validate every account (all before any host change); one account per unix user."""
    if accounts is None:
        accounts = []
    if not isinstance(accounts, (list, tuple)):
        raise ClientError("client_accounts=%r: not a list. Fix: give a list of accounts (user, address, clients)" % (accounts,))
    for key, value in (defaults or {}).items():
        try:
            refuse_control_characters(DEFAULT_VARIABLES.get(key, key), value)
        except SettingsError as e:
            raise ClientError(str(e))
    result = []
    seen = {}
    for index, raw in enumerate(accounts):
        account = normalize_account(raw, index, defaults)
        if account["user"] in seen:
            _fail(index, account["user"], "user", account["user"],
                  "already has an account (client_accounts[%d]); the role configures one account per unix user"
                  % seen[account["user"]], "keep one account per user")
        seen[account["user"]] = index
        result.append(account)
    return result


def published_domains(accounts):
    """The per-domain view for the published files (autoconfig, autodiscover): one entry per domain.

    Accounts of one domain must agree on the servers (the files describe the domain, not a person).
    """
    domains = {}
    for account in accounts:
        if not account["publish"]:
            continue
        entry = domains.get(account["domain"])
        view = {"domain": account["domain"], "profile": account["profile"], "title": account["title"],
                "microsoft": account["microsoft"], "auth_method": account["auth_method"],
                "autoconfig_auth": account["autoconfig_auth"], "smtp": account["smtp"], "imap": account["imap"],
                "pop": account["pop"], "oauth2": account["oauth2"], "oauth2_scopes": account["oauth2_scopes"]}
        if entry is None:
            domains[account["domain"]] = dict(view, accounts=[account["address"]])
            continue
        for key in ("smtp", "imap", "pop", "auth_method"):
            if entry[key] != view[key]:
                raise ClientError(
                    "%s: address=%r: the published files describe domain %s once, and client_accounts[%d] gives it "
                    "different %s settings. Fix: use the same profile and overrides for every account of %s, or set "
                    "publish: false on one of them" % (_where(account["index"], account["user"]), account["address"],
                                                       account["domain"], _first_index(accounts, account["domain"]), key,
                                                       account["domain"]))
        entry["accounts"].append(account["address"])
    return [domains[d] for d in sorted(domains)]


def _first_index(accounts, domain):
    for account in accounts:
        if account["domain"] == domain and account["publish"]:
            return account["index"]
    return -1
