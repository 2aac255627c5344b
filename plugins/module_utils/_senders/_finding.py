# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The shape of one discovered sender, shared by every parser (standard library only).

A finding never holds a secret: ``secret`` says that one is set, where (file, line), and the file's mode and owner.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# The first line of every file the collection renders (plugins/action/mail_config.py MANAGED; a unit test holds
# the two equal): such a file is managed, and its fix is a variable, not an adoption.
MANAGED_MARK = "Managed by Ansible (mailfleet.outlook.mail_config, format "

PROGRAMS = ("postfix", "exim4", "nullmailer", "msmtp", "dma", "opensmtpd", "mention")


def new_finding(program, file, line, host=None, port=None, security=None, tls_required=None, cert_check=None,
                auth="unknown", account=None, secret=None, route=None, name=None, user=None, mechanism=None,
                kind="config", managed=False, notes=None):
    return {
        "program": program, "kind": kind, "file": file, "line": line, "name": name, "user": user, "route": route,
        "upstream": {"host": host, "port": port} if host else None,
        "security": security, "tls_required": tls_required, "cert_check": cert_check,
        "auth": auth, "mechanism": mechanism, "account": account, "secret": secret,
        "managed": bool(managed), "notes": list(notes or []),
    }


def is_managed(text):
    return bool(text) and MANAGED_MARK in text[:2048]


def secret_info(reader, path, source, line=None, home=None, program=None):
    """"A secret is set": where it is and who can read the file (mode, owner), never the secret itself.

    ``source``: ``file`` (a file that holds it), ``inline`` (in the configuration file itself), ``command`` (a command
    prints it; ``path`` is the file the command reads, if one could be seen), ``keyring`` (msmtp's keyring/.netrc).
    """
    info = {"set": True, "source": source}
    if line:
        info["line"] = line
    if program:
        info["program"] = program
    if path:
        info.update(reader.secret_meta(path, home=home))
    return info


def port_number(text, services=None):
    """'587' -> 587, 'submission' -> 587 (with ``services``), anything else -> None."""
    if text is None:
        return None
    text = str(text).strip()
    if text.isdigit() and 0 < int(text) < 65536:
        return int(text)
    return (services or {}).get(text.lower())


SERVICES = {"smtp": 25, "submission": 587, "smtps": 465, "submissions": 465, "ssmtp": 465}
