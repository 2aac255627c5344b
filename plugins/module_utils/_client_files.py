# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where each mail client of the client role keeps its per-user files: the one definition.

The client formats (``plugin_utils/_client_formats.py``) render these paths, the ``client_accounts`` filter
(``plugin_utils/_client.py``) lists them for the precheck, the ``client_precheck`` module refuses to write over a
foreign file at them, and the msmtp sender discovery (``_senders/_msmtp.py``) reads msmtp's. Paths are relative to
the user's home; ``{name}`` placeholders are filled per account (``thunderbird_profile``, the Evolution source
UIDs ``evolution_account_uid`` / ``evolution_identity_uid`` / ``evolution_transport_uid``).

``role_files``: the client reads the role's own files under ``ROLE_DIR`` (the mailbox password file, the token
command's settings): it uses the token command (OAuth2) or the password file (password auth).

Standard library only: imported by modules that run on the target.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# The role's own directory in each home: files there belong to the role by their place.
ROLE_DIR = ".config/mailfleet"
PASSWORD_FILE = ROLE_DIR + "/password"
OAUTH2_FILE = ROLE_DIR + "/oauth2.json"
ROLE_FILES = (PASSWORD_FILE, OAUTH2_FILE)

_EVOLUTION_SOURCES = ".config/evolution/sources/"

CLIENT_FILES = {
    "msmtp": {"files": (".config/msmtp/config",), "role_files": True},
    "neomutt": {"files": (".config/neomutt/neomuttrc",), "role_files": True},
    "thunderbird": {"files": ("{thunderbird_profile}/user.js",), "role_files": False},
    "evolution": {"files": (_EVOLUTION_SOURCES + "{evolution_account_uid}.source",
                            _EVOLUTION_SOURCES + "{evolution_identity_uid}.source",
                            _EVOLUTION_SOURCES + "{evolution_transport_uid}.source"), "role_files": False},
}


def uses_role_files(client):
    """True when the client reads the role's password file / token command settings (msmtp, neomutt)."""
    return CLIENT_FILES[client]["role_files"]


def user_files(client, values=None):
    """The client's files relative to the home, placeholders filled from ``values``.

    A placeholder without a value (e.g. no Thunderbird profile known yet) leaves the client with no file."""
    values = dict((k, v) for k, v in (values or {}).items() if v is not None)
    out = []
    for rel in CLIENT_FILES[client]["files"]:
        try:
            out.append(rel.format(**values))
        except KeyError:
            return []
    return out
