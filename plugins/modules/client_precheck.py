#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: client_precheck
short_description: Look at users' homes before the client role writes there (read-only)
description:
  - Internal to the C(mailfleet.outlook.client) role; not meant to be called on its own.
  - For each account of the C(mailfleet.outlook.client_accounts) filter, finds the user, their home and the
    clients whose files the role may write. A client is skipped for a user when one of its files, or a
    directory on its way, is a symbolic link, not a directory, not a regular file or belongs to someone
    else, or when its file exists and was not written by the role (no C(mailfleet.outlook) marker in its
    first 4 KiB). Files under C(~/.config/mailfleet/) belong to the role by their place.
  - Each home is looked at by a child process that has become its user, through directory descriptors that
    never follow a link (the same walk as M(mailfleet.outlook.mail_config)); nothing is read beyond the
    marker check and C(~/.thunderbird/profiles.ini), and no file content is returned.
  - This is a look, not a guard - the user can change their home after it ran. The guard is in the write
    (M(mailfleet.outlook.mail_config) refuses the same things at the moment it writes).
  - The account list reaches the host inside the module's arguments (Ansible's module payload), never on
    a command line.
version_added: 0.2.0
author:
  - mailfleet engineers (@mailfleet)
options:
  accounts:
    description:
      - The C(accounts) of the C(mailfleet.outlook.client_accounts) filter (user, clients, paths,
        client_formats, thunderbird_profile). They hold no secret.
    type: list
    elements: dict
    required: true
attributes:
  check_mode:
    support: full
    details: The module only looks; it runs the same way in check mode.
  diff_mode:
    support: none
  platform:
    platforms: posix
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
seealso:
  - module: mailfleet.outlook.mail_config
"""

EXAMPLES = r"""
- name: Look at the users' homes
  mailfleet.outlook.client_precheck:
    accounts: "{{ (client_accounts | mailfleet.outlook.client_accounts(profile='microsoft365')).accounts }}"
  register: homes
"""

RETURN = r"""
users:
  description:
    - Per user found on the host - home, uid, gid, C(clients) kept, C(formats) they need, C(skipped) (client
      -> reason) and C(thunderbird_profile) (given, or found in C(profiles.ini)).
  returned: always
  type: dict
  sample: {"alice": {"home": "/home/alice", "uid": 1001, "gid": 1001, "clients": ["msmtp"],
           "formats": ["client_msmtp", "client_password", "client_oauth2"], "skipped": {},
           "thunderbird_profile": null}}
missing:
  description: Users of the accounts that do not exist on the host.
  returned: always
  type: list
  elements: str
"""

import configparser
import os
import pwd

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mailfleet.outlook.plugins.module_utils._client_files import ROLE_DIR, user_files, uses_role_files
from ansible_collections.mailfleet.outlook.plugins.module_utils._safe_fs import Refused, locate, read_below

MARKER = b"mailfleet.outlook"
PROFILES_INI = ".thunderbird/profiles.ini"


def _state(place, rel):
    """(state, detail) of one path relative to the home: absent, ours, foreign or refused (detail: why)."""
    try:
        head = read_below(place, rel, limit=4096)
    except Refused as e:
        return "refused", "%s %s" % (e.path, e.problem)
    if head is None:
        return "absent", None
    if rel.startswith(ROLE_DIR + "/") or MARKER in head:
        return "ours", None
    return "foreign", "%s/%s exists and was not written by mailfleet.outlook" % (place.path.rstrip("/"), rel)


def thunderbird_default_profile(place, home):
    """The default profile directory (relative to home) from ~/.thunderbird/profiles.ini, or (None, reason)."""
    ini = os.path.join(home, PROFILES_INI)
    try:
        data = read_below(place, PROFILES_INI, limit=1 << 20)
    except Refused as e:
        return None, "%s %s" % (e.path, e.problem)
    if data is None:
        return None, "no Thunderbird profile yet (%s is missing: start Thunderbird once, or set thunderbird_profile)" % ini
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read_string(data.decode("utf-8", "replace"))
    except configparser.Error as e:
        return None, "%s cannot be read: %s" % (ini, e)
    chosen = None
    for section in parser.sections():  # Thunderbird 68+: the profile of the installation
        if section.startswith("Install") and parser.get(section, "Default", fallback=None):
            chosen = (parser.get(section, "Default"), True)
            break
    if chosen is None:
        profiles = [s for s in parser.sections() if s.startswith("Profile")]
        default = [s for s in profiles if parser.get(s, "Default", fallback="0") == "1"] or profiles[:1]
        if default:
            chosen = (parser.get(default[0], "Path", fallback=""),
                      parser.get(default[0], "IsRelative", fallback="1") == "1")
    if not chosen or not chosen[0]:
        return None, "%s names no profile (set thunderbird_profile)" % ini
    path, relative = chosen
    full = os.path.normpath(os.path.join(home, ".thunderbird", path) if relative else path)
    if not full.startswith(home.rstrip("/") + "/"):
        return None, "the default Thunderbird profile %s is outside the home directory (set thunderbird_profile)" % full
    return os.path.relpath(full, home), None


def look_at_home(place, home, account):
    """Run as the home's user (Place.run): the clients the account can have, and why others are skipped."""
    entry = {"clients": [], "formats": [], "skipped": {}, "thunderbird_profile": account.get("thunderbird_profile")}
    shared = account["paths"].get("mailfleet", [])
    for client in account["clients"]:
        rels = account["paths"].get(client, []) + (shared if uses_role_files(client) else [])
        if client == "thunderbird" and not account.get("thunderbird_profile"):
            profile, reason = thunderbird_default_profile(place, home)
            if profile is None:
                entry["skipped"][client] = reason
                continue
            entry["thunderbird_profile"] = profile
            rels = user_files("thunderbird", {"thunderbird_profile": profile})
        problems = [detail for state, detail in (_state(place, rel) for rel in rels) if state in ("refused", "foreign")]
        if problems:
            entry["skipped"][client] = "; ".join(problems)
            continue
        entry["clients"].append(client)
        for fmt in account["client_formats"][client]:
            if fmt not in entry["formats"]:
                entry["formats"].append(fmt)
    return entry


def _home_problem(place, home, pw):
    if place.rest and place.owner is None:
        return "home directory %s is missing" % home
    if place.rest:
        return "home directory %s is inside %s, a directory of %s" % (home, place.path, place.owner.name)
    if place.owner is not None and place.owner.uid != pw.pw_uid:
        return "home directory %s belongs to %s" % (home, place.owner.name)
    return None


def look(accounts):
    """One look per account (the client_accounts filter allows one account per user)."""
    result = {"users": {}, "missing": []}
    for account in accounts:
        user = account["user"]
        try:
            pw = pwd.getpwnam(user)
        except KeyError:
            result["missing"].append(user)
            continue
        home = pw.pw_dir.rstrip("/") or "/"
        entry = None
        try:
            place = locate(home, directory=True)
        except Refused as e:
            reason = "home directory %s %s" % (e.path, e.problem)
        else:
            try:
                reason = _home_problem(place, home, pw)
                if reason is None:
                    entry = place.run(look_at_home, home, account)
            except Refused as e:
                reason = "%s %s" % (e.path, e.problem)
            finally:
                place.close()
        if entry is None:
            entry = {"clients": [], "formats": [], "skipped": dict((c, reason) for c in account["clients"]),
                     "thunderbird_profile": account.get("thunderbird_profile")}
        entry.update(home=home, uid=pw.pw_uid, gid=pw.pw_gid)
        result["users"][user] = entry
    return result


def main():
    module = AnsibleModule(argument_spec=dict(accounts=dict(type="list", elements="dict", required=True)),
                           supports_check_mode=True)
    module.exit_json(changed=False, **look(module.params["accounts"]))


if __name__ == "__main__":
    main()
