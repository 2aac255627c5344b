# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""msmtp: the system file /etc/msmtprc and every user's ~/.config/msmtp/config and ~/.msmtprc (read without following
any link inside the home, and only when the file belongs to the user, like msmtp itself requires).

msmtp's rules (msmtp(1), 1.8): one command per line, its argument the rest of the line (double quotes and backslash
escapes allowed); ``#`` starts a comment line; ``defaults`` sets values for the accounts that follow; ``account NAME
[: parent[, parent...]]`` starts from the defaults, then copies the parents; ``account default : NAME`` is an alias.
Defaults: tls off, tls_starttls on, tls_certcheck on, auth off, port 25 (465 with tls on and tls_starttls off).
``auth on`` with a password (``password``, ``passwordeval``, or msmtp's keyring/.netrc lookup) is a password login;
``auth xoauth2`` / ``oauthbearer`` with ``passwordeval`` is OAuth2; ``auth external`` is a TLS client certificate.
``passwordeval`` is never run: when its command reads a file (``cat FILE``, ``gpg -d FILE``), that file's mode and
owner are reported; ``echo``/``printf`` put the password in the configuration file itself.

Standard library only: shipped to targets with mail_senders_facts.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import shlex

from ansible_collections.mailfleet.outlook.plugins.module_utils._client_files import CLIENT_FILES
from ansible_collections.mailfleet.outlook.plugins.module_utils._senders._finding import (
    is_managed,
    new_finding,
    port_number,
    secret_info,
)

SYSTEM = "/etc/msmtprc"
USER_FILES = CLIENT_FILES["msmtp"]["files"] + (".msmtprc",)  # the client role's file, then msmtp's older place
KEYS = ("host", "port", "tls", "tls_starttls", "tls_certcheck", "tls_fingerprint", "tls_trust_file", "auth", "user",
        "password", "passwordeval", "from", "protocol", "tls_cert_file")
_ON = ("on", "")
INLINE_PROGRAMS = ("echo", "printf")


def _argument(text):
    text = text.strip()
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        out = []
        i = 1
        while i < len(text) - 1:
            ch = text[i]
            if ch == "\\" and i + 1 < len(text) - 1:
                i += 1
                ch = text[i]
            out.append(ch)
            i += 1
        return "".join(out)
    return text


def parse_msmtprc(text):
    """(accounts, aliases, errors): accounts {name: {"line": n, key: (value, line)}} in file order.

    Secrets never leave this function: ``password`` becomes True (set) with its line; ``passwordeval`` keeps its
    command only to find the file it reads (the caller reduces it to a program name and a path)."""
    accounts = {}
    order = []
    aliases = {}
    errors = []
    defaults = {}
    current = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        cmd, unused_sep, arg = line.partition(" ")
        if "\t" in cmd:
            cmd, unused_sep, more = cmd.partition("\t")
            arg = more + " " + arg
        cmd = cmd.strip().lower()
        arg = arg.strip()
        if cmd == "defaults":
            current = defaults
            continue
        if cmd == "account":
            name, colon, parents = arg.partition(":")
            name = _argument(name.strip())
            parent_names = [p.strip() for p in parents.split(",") if p.strip()] if colon else []
            if name == "default" and colon and len(parent_names) == 1:
                aliases["default"] = (parent_names[0], number)
                current = None
                continue
            account = dict(defaults)
            for parent in parent_names:
                if parent not in accounts:
                    errors.append((number, "account %s inherits from %s, which is not defined before it" % (name, parent)))
                    continue
                account.update(dict((k, v) for k, v in accounts[parent].items() if k not in ("line", "parents")))
            account["line"] = number
            account["parents"] = parent_names
            if name in accounts:
                errors.append((number, "account %s is defined twice" % name))
            accounts[name] = account
            if name not in order:
                order.append(name)
            current = account
            continue
        if cmd == "eval":
            errors.append((number, "eval (a command that prints configuration) is not run"))
            continue
        if cmd not in KEYS:
            continue
        if current is None:
            errors.append((number, "%s outside an account or defaults section" % cmd))
            continue
        value = _argument(arg)
        if cmd == "password":
            value = True
        current[cmd] = (value, number)
    return [(n, accounts[n]) for n in order], aliases, errors


def _flag(account, key, default):
    value = account.get(key)
    if value is None:
        return default
    return value[0].lower() in _ON


def eval_program(command):
    """(program basename, the file it reads or None) of a passwordeval command; never runs it."""
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    if not words:
        return None, None
    program = words[0].rsplit("/", 1)[-1]
    path = None
    for word in reversed(words[1:]):
        if word.startswith(("/", "~/")) and not word.endswith("/"):
            path = word
            break
    return program, path


def account_finding(reader, path, name, account, owner_home=None, user=None, managed=False):
    host = account.get("host", (None, None))[0]
    tls = _flag(account, "tls", False)
    starttls = _flag(account, "tls_starttls", True)
    certcheck = _flag(account, "tls_certcheck", True) or bool(account.get("tls_fingerprint"))
    port = port_number(account["port"][0]) if account.get("port") else None
    if port is None:
        port = 465 if tls and not starttls else 25
    security = ("starttls" if starttls else "tls") if tls else "none"
    auth_value = account.get("auth", ("off", None))[0].lower()
    user_name = account.get("user", (None, None))[0] or None
    secret = None
    program = None
    if "password" in account:
        secret = secret_info(reader, path, "inline", line=account["password"][1], home=owner_home)
    elif "passwordeval" in account:
        program, secret_path = eval_program(account["passwordeval"][0])
        if program in INLINE_PROGRAMS:
            secret = secret_info(reader, path, "inline", line=account["passwordeval"][1], home=owner_home, program=program)
        else:
            if secret_path and secret_path.startswith("~/") and owner_home:
                secret_path = owner_home.rstrip("/") + secret_path[1:]
            secret = secret_info(reader, secret_path if secret_path and secret_path.startswith("/") else None,
                                 "command", line=account["passwordeval"][1], program=program,
                                 home=owner_home if secret_path and owner_home and secret_path.startswith(owner_home) else None)
            if not secret_path:
                secret["file"] = None
    mechanism = None
    if auth_value in ("off", "none"):
        auth = "none"
    elif auth_value in ("xoauth2", "oauthbearer"):
        auth, mechanism = "oauth2", auth_value.upper()
    elif auth_value == "external":
        auth, mechanism = "certificate", "EXTERNAL"
    elif auth_value in ("gssapi",):
        auth, mechanism = "unknown", "GSSAPI"
    else:
        auth = "password"
        mechanism = None if auth_value in ("on", "") else auth_value.upper()
        if secret is None:
            secret = {"set": True, "source": "keyring", "file": None}
    f = new_finding("msmtp", path, account["line"], host=host, port=port, security=security,
                    tls_required=tls, cert_check=certcheck if tls else None, auth=auth, account=user_name,
                    secret=secret if auth != "none" else None, route="account", name=name, user=user,
                    mechanism=mechanism, managed=managed)
    if program and auth != "none":
        f["notes"].append("password from a command (passwordeval, %s): not run" % program)
    if not host:
        f["notes"].append("no host: msmtp cannot send with this account")
    return f


def _discover_file(reader, path, owner=None, home=None, user=None):
    text = reader.read(path, owner=owner, home=home)
    if text is None:
        return []
    accounts, aliases, errors = parse_msmtprc(text)
    for line, message in errors:
        reader.note(path, "line %d: %s" % (line, message), line=line)
    managed = is_managed(text)
    findings = []
    for name, account in accounts:
        f = account_finding(reader, path, name, account, owner_home=home, user=user, managed=managed)
        if aliases.get("default", (None,))[0] == name:
            f["notes"].append("the default account")
        findings.append(f)
    return findings


def discover(reader, homes=True):
    findings = _discover_file(reader, SYSTEM)
    if homes:
        for user, uid, home in reader.homes():
            for rel in USER_FILES:
                findings.extend(_discover_file(reader, home.rstrip("/") + "/" + rel, owner=uid, home=home, user=user))
    return findings
