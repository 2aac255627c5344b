# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read-only look at a host for the mailfleet.outlook client role (run with ansible.builtin.script).

Input (argv[1], base64 JSON): the accounts of the client_accounts filter (user, clients, paths,
client_formats). Output (stdout, JSON) per user: home, uid, gid, the clients kept and the formats they
need, the directories to create, the clients skipped and why; plus the users missing on the host.

A client is skipped for a user when one of its files (or a directory on the way) is a symbolic link, or
when its file exists and was not written by the role (no marker in its first 4 KiB). Files under
~/.config/mailfleet/ belong to the role by their place. Nothing is read beyond the marker check and
no file content is ever printed. Standard library only.
"""

import base64
import configparser
import json
import os
import pwd
import stat
import sys

MARKER = b"mailfleet.outlook"
ROLE_DIR = ".config/mailfleet"


def inspect(home, rel):
    """Return (state, detail) for one path relative to home: absent, ours, foreign, symlink, notfile."""
    parts = rel.split("/")
    current = home
    for part in parts[:-1]:
        current = os.path.join(current, part)
        try:
            st = os.lstat(current)
        except OSError:
            return "absent", None
        if stat.S_ISLNK(st.st_mode):
            return "symlink", current
        if not stat.S_ISDIR(st.st_mode):
            return "notfile", current
    path = os.path.join(home, rel)
    try:
        st = os.lstat(path)
    except OSError:
        return "absent", None
    if stat.S_ISLNK(st.st_mode):
        return "symlink", path
    if not stat.S_ISREG(st.st_mode):
        return "notfile", path
    if rel.startswith(ROLE_DIR + "/"):
        return "ours", path
    with open(path, "rb") as f:
        head = f.read(4096)
    return ("ours" if MARKER in head else "foreign"), path


def thunderbird_default_profile(home):
    """The default profile directory (relative to home) from ~/.thunderbird/profiles.ini, or (None, reason)."""
    ini = os.path.join(home, ".thunderbird", "profiles.ini")
    if os.path.islink(ini) or not os.path.isfile(ini):
        return None, "no Thunderbird profile yet (%s is missing: start Thunderbird once, or set thunderbird_profile)" % ini
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read(ini)
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


def main():
    accounts = json.loads(base64.b64decode(sys.argv[1]).decode("utf-8"))
    result = {"users": {}, "missing": []}
    for account in accounts:
        user = account["user"]
        try:
            pw = pwd.getpwnam(user)
        except KeyError:
            result["missing"].append(user)
            continue
        home = pw.pw_dir.rstrip("/") or "/"
        entry = {"home": home, "uid": pw.pw_uid, "gid": pw.pw_gid, "clients": [], "formats": [], "dirs": [],
                 "skipped": {}, "thunderbird_profile": account.get("thunderbird_profile")}
        if not os.path.isdir(home) or os.path.islink(home):
            entry["skipped"] = dict((c, "home directory %s is missing or a symbolic link" % home) for c in account["clients"])
            result["users"][user] = entry
            continue
        shared = account["paths"].get("mailfleet", [])
        for client in account["clients"]:
            problems = []
            rels = account["paths"].get(client, []) + (shared if client in ("msmtp", "neomutt") else [])
            if client == "thunderbird" and not account.get("thunderbird_profile"):
                profile, reason = thunderbird_default_profile(home)
                if profile is None:
                    entry["skipped"][client] = reason
                    continue
                entry["thunderbird_profile"] = profile
                rels = [profile + "/user.js"]
            for rel in rels:
                state, detail = inspect(home, rel)
                if state == "symlink":
                    problems.append("%s is a symbolic link" % detail)
                elif state == "notfile":
                    problems.append("%s is not a regular file or directory" % detail)
                elif state == "foreign":
                    problems.append("%s exists and was not written by mailfleet.outlook" % detail)
            if problems:
                entry["skipped"][client] = "; ".join(problems)
                continue
            entry["clients"].append(client)
            for fmt in account["client_formats"][client]:
                if fmt not in entry["formats"]:
                    entry["formats"].append(fmt)
            for rel in rels:
                parts = rel.split("/")[:-1]
                for i in range(1, len(parts) + 1):
                    d = "/".join(parts[:i])
                    private = d != ".config"
                    item = {"path": os.path.join(home, d), "private": private,
                            "exists": os.path.isdir(os.path.join(home, d))}
                    if item not in entry["dirs"]:
                        entry["dirs"].append(item)
        result["users"][user] = entry
    sys.stdout.write(json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
