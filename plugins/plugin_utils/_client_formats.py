# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Formats of the client role, for the mail_config format registry (``_formats.FORMATS``).

Per-user formats take ``user``, ``group``, ``home`` and ``account`` (one entry of the
``mailfleet.outlook.client_accounts`` filter's ``accounts``); their files are owned by the user, mode 0600,
and are whole files owned by the role; the directories on their way are created by the user,
0700. Host-wide and published formats take ``domain`` (one entry of the
filter's ``domains``) or ``account`` plus a target directory.

Templates live in ``plugins/templates/client_<name>/``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.mailfleet.outlook.plugins.module_utils._client_files import (
    CLIENT_FILES,
    OAUTH2_FILE,
    PASSWORD_FILE,
    ROLE_DIR,
)
from ansible_collections.mailfleet.outlook.plugins.plugin_utils._format_model import File, Format, program_file

TOKEN_LIBRARY_DIR = "/usr/local/lib/mailfleet-outlook"  # the token command's library (client_token_library_dir)

_USER_VARS = {
    "user": None,
    "group": None,
    "home": None,
    "account": None,
    "mailfleet_dir": None,
    "token_command": "/usr/local/bin/mailfleet-oauth2",
    "library_dir": TOKEN_LIBRARY_DIR,
    "system_ca_file": "/etc/ssl/certs/ca-certificates.crt",
}


def _require(*names):
    def check(ctx):
        cfg, var = ctx["cfg"], ctx["var"]
        errors = []
        for name in names:
            if cfg.get(name) in (None, "", {}):
                errors.append((name, "required by format %s" % ctx["format"], "set %s" % var(name)))
        home = cfg.get("home")
        if "home" in names and home and not str(home).startswith("/"):
            errors.append(("home", "%r is not an absolute path" % (home,), "give the user's home directory"))
        return errors
    return check


def _user_prepare(ctx):
    cfg = ctx["cfg"]
    out = {}
    if not cfg.get("mailfleet_dir"):
        out["mailfleet_dir"] = "%s/%s" % (cfg["home"].rstrip("/"), ROLE_DIR)
    account = cfg.get("account") or {}
    uuids = account.get("uuid") or {}
    out["key"] = "mf_" + str(uuids.get("account", "")).replace("-", "")[:12].lower()
    out["thunderbird_profile"] = (account.get("thunderbird_profile") or "").rstrip("/") or None
    out["evolution_account_uid"] = uuids.get("evolution_account")
    out["evolution_identity_uid"] = uuids.get("evolution_identity")
    out["evolution_transport_uid"] = uuids.get("evolution_transport")
    return out


def _user_format(name, description, files, extra_vars=None, secrets=()):
    variables = dict(_USER_VARS)
    variables.update(extra_vars or {})
    return Format(name=name, description=description, files=files, variables=variables, secrets=secrets,
                  check=_require("user", "group", "home", "account"), prepare=_user_prepare)


def _user_file(template, path, secret=False, when=None):
    return File(template, path, mode="0600", owner="{user}", group="{group}", secret=secret, when=when, dir_mode="0700")


def _client_files(client, *templates):
    """The files of a client, at the paths of the one registry (module_utils/_client_files.py), in its order."""
    rels = CLIENT_FILES[client]["files"]
    if len(rels) != len(templates):
        raise ValueError("client %s has %d files and %d templates" % (client, len(rels), len(templates)))
    return [_user_file(template, "{home}/" + rel) for template, rel in zip(templates, rels)]


def _role_file(rel):
    """A file under the role's directory, as ``{mailfleet_dir}/...`` (a format variable the caller may move)."""
    return "{mailfleet_dir}" + rel[len(ROLE_DIR):]


CLIENT_MSMTP = _user_format(
    "client_msmtp", "msmtp user configuration (~/%s): TLS, XOAUTH2 via the token command or AUTH LOGIN" % CLIENT_FILES["msmtp"]["files"][0],
    _client_files("msmtp", "client_msmtp/config.j2"))

CLIENT_PASSWORD = _user_format(
    "client_password", "The mailbox password of a user's msmtp/neomutt account, alone in a 0600 file",
    [_user_file("client_password/password.j2", _role_file(PASSWORD_FILE), secret=True,
                when=lambda ctx: bool(ctx["cfg"]["account"].get("password_file")))],
    secrets=("password",))

CLIENT_OAUTH2 = _user_format(
    "client_oauth2", "The token command's per-user settings (endpoints, client ID, scopes; no secret)",
    [_user_file("client_oauth2/oauth2.json.j2", _role_file(OAUTH2_FILE),
                when=lambda ctx: bool(ctx["cfg"]["account"].get("token_command")))])

CLIENT_NEOMUTT = _user_format(
    "client_neomutt",
    "neomutt user configuration (~/%s): IMAPS folder, SMTP URL, XOAUTH2 or LOGIN" % CLIENT_FILES["neomutt"]["files"][0],
    _client_files("neomutt", "client_neomutt/neomuttrc.j2"))

CLIENT_THUNDERBIRD = _user_format(
    "client_thunderbird", "Thunderbird user.js in the user's profile: account, IMAP server, identity, SMTP server",
    _client_files("thunderbird", "client_thunderbird/user.js.j2"))

CLIENT_EVOLUTION = _user_format(
    "client_evolution", "GNOME Evolution sources (~/.config/evolution/sources): mail account, identity, transport",
    _client_files("evolution", "client_evolution/account.source.j2", "client_evolution/identity.source.j2",
                  "client_evolution/transport.source.j2"))


def _domain_prepare(ctx):
    return {"domain_name": ctx["cfg"]["domain"]["domain"]}


def _account_prepare(ctx):
    account = ctx["cfg"]["account"]
    return {"domain_name": account["domain"], "address": account["address"]}


_PUBLISH_VARS = {"publish_dir": None, "publish_owner": "root", "publish_group": "root", "publish_mode": "0644"}

CLIENT_AUTOCONFIG = Format(
    name="client_autoconfig",
    description="Thunderbird autoconfig file of a domain (<publish_dir>/<domain>/mail/config-v1.1.xml)",
    variables=dict(_PUBLISH_VARS, domain=None),
    check=_require("publish_dir", "domain"),
    prepare=_domain_prepare,
    files=[File("client_autoconfig/config-v1.1.xml.j2", "{publish_dir}/{domain_name}/mail/config-v1.1.xml",
                mode="{publish_mode}", owner="{publish_owner}", group="{publish_group}")],
)

CLIENT_AUTODISCOVER = Format(
    name="client_autodiscover",
    description="Outlook POX autodiscover answer of a domain (<publish_dir>/<domain>/autodiscover/autodiscover.xml)",
    variables=dict(_PUBLISH_VARS, domain=None),
    check=_require("publish_dir", "domain"),
    prepare=_domain_prepare,
    files=[File("client_autodiscover/autodiscover.xml.j2", "{publish_dir}/{domain_name}/autodiscover/autodiscover.xml",
                mode="{publish_mode}", owner="{publish_owner}", group="{publish_group}")],
)

_REVERSE_DNS = re.compile(r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*")


def _apple_check(ctx):
    errors = _require("publish_dir", "account")(ctx)
    prefix = ctx["cfg"].get("identifier_prefix")
    if not (isinstance(prefix, str) and _REVERSE_DNS.fullmatch(prefix)):
        errors.append(("identifier_prefix", "%r is not a reverse-DNS identifier" % (prefix,),
                       "give e.g. com.contoso.mail (letters, digits, hyphens and dots)"))
    return errors


CLIENT_APPLE = Format(
    name="client_apple",
    description="Apple configuration profile of an account (<publish_dir>/<domain>/apple/<address>.mobileconfig)",
    variables=dict(_PUBLISH_VARS, account=None, identifier_prefix="outlook.mailfleet.client"),
    check=_apple_check,
    prepare=_account_prepare,
    files=[File("client_apple/account.mobileconfig.j2", "{publish_dir}/{domain_name}/apple/{address}.mobileconfig",
                mode="{publish_mode}", owner="{publish_owner}", group="{publish_group}")],
)

CLIENT_THUNDERBIRD_ISP = Format(
    name="client_thunderbird_isp",
    description="Thunderbird's host-wide ISP file of a domain (<install dir>/isp/<domain>.xml), read with no server",
    variables={"domain": None, "thunderbird_install_dir": "/usr/lib/thunderbird"},
    check=_require("domain", "thunderbird_install_dir"),
    prepare=_domain_prepare,
    files=[File("client_autoconfig/config-v1.1.xml.j2", "{thunderbird_install_dir}/isp/{domain_name}.xml", mode="0644")],
)

CLIENT_MSMTP_SYSTEM = Format(
    name="client_msmtp_system",
    description="Host-wide msmtp defaults (/etc/msmtprc): TLS and one account per profile in use (no login)",
    variables={"profiles": None, "config_path": "/etc/msmtprc", "system_ca_file": "/etc/ssl/certs/ca-certificates.crt"},
    check=_require("profiles"),
    files=[File("client_msmtp_system/msmtprc.j2", "{config_path}", mode="0644")],
)

CLIENT_TOKEN_COMMAND = Format(
    name="client_token_command",
    description="The OAuth2 token command for msmtp/neomutt (device-code sign-in, refresh tokens; standard library only)",
    variables={"token_command": "/usr/local/bin/mailfleet-oauth2", "library_dir": TOKEN_LIBRARY_DIR, "python": "/usr/bin/python3"},
    # the command and the collection's one OAuth2 client, installed verbatim (per-user oauth2.json names library_dir)
    files=[program_file("module_utils/_oauth2_command.py", "{token_command}"),
           File(None, "{library_dir}/mailfleet_oauth2.py", mode="0644", source="module_utils/_oauth2.py")],
)

CLIENT_FORMATS = (CLIENT_MSMTP, CLIENT_PASSWORD, CLIENT_OAUTH2, CLIENT_NEOMUTT, CLIENT_THUNDERBIRD, CLIENT_EVOLUTION,
                  CLIENT_AUTOCONFIG, CLIENT_AUTODISCOVER, CLIENT_APPLE, CLIENT_THUNDERBIRD_ISP, CLIENT_MSMTP_SYSTEM,
                  CLIENT_TOKEN_COMMAND)
