# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Mentions: files under /etc and the users' homes that name a Microsoft SMTP host (the catalog's submission hosts
and tenant MX suffixes), e.g. an application's own mail settings, git send-email, Thunderbird's prefs.js.

Each mention is reported with file:line, the host, the port and security found on that line or the lines around it,
whether a password-like or OAuth-like setting is next to it, and the name of the setting (``MAIL_HOST``,
``mail.smtpserver.smtp1.hostname``); never the line itself, so no secret can be reported.

The scan is bounded: breadth first (shallow configuration files first), at most ``max_depth`` directory levels,
``max_files`` files, ``max_bytes`` bytes, files up to ``max_file_size``, binaries and links skipped, directories
that hold no configuration skipped (caches, VCS and language toolchains), and the deadline of the whole discovery.
Inside homes nothing that is not the user's own is read and no link is followed.

Standard library only: shipped to targets with mail_senders_facts.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import re
import stat

from ansible_collections.mailfleet.outlook.plugins.module_utils._catalog import MX_HOST_SUFFIXES, PROFILES
from ansible_collections.mailfleet.outlook.plugins.module_utils._senders._finding import new_finding
from ansible_collections.mailfleet.outlook.plugins.module_utils._senders._read import Timeout, Unreadable

SKIP_DIRS = frozenset((".cache", ".git", ".hg", ".svn", "node_modules", ".npm", ".cargo", ".rustup", ".pyenv", ".venv",
                       "venv", "site-packages", "dist-packages", ".local/share/Trash", "__pycache__", ".gradle", ".m2",
                       ".ansible", ".vscode-server", "snap", ".steam", "go", ".nvm", ".rbenv", ".conda"))
NEAR = 3          # lines around a mention searched for its port and security
NEAR_AUTH = 5     # lines around a mention searched for a password or OAuth setting
_PORT_ON_LINE = re.compile(r"^(?::(\d{2,5})|\s+(25|465|587|2525))\b")
_PORT_NEAR = re.compile(r"(?i)port\w*[\"']?\s*[:=,>]?\s*[\"']?(\d{2,5})\b")
_KEY = re.compile(r"""^\s*(?:user_pref\(\s*|[{,(]\s*)?["']?([A-Za-z0-9_.\-\[\]/]{1,80}?)["']?\s*(?:[:=,]|\s)""")
_PASSWORD = re.compile(r"(?i)(pass(word|wd)?|secret|pwd)\b[\"']?\s*[:=,>]")
_OAUTH = re.compile(r"(?i)(oauth|xoauth2|bearer|access_token|refresh_token|client_secret)")
_SSL = re.compile(r"(?i)\b(ssl|smtps|implicit)\b")
_STARTTLS = re.compile(r"(?i)\b(starttls|start_tls|tls)\b")
_THUNDERBIRD = re.compile(r'user_pref\("mail\.smtpserver\.(smtp\d+)\.(\w+)",\s*("?)(.*?)\3\);')


def smtp_host_pattern():
    """One regex for every Microsoft SMTP host name in the catalog (and the tenant MX suffixes)."""
    hosts = set()
    for profile in PROFILES.values():
        if not profile.get("microsoft"):
            continue
        for key in ("smtp", "smtp_legacy_tls_host"):
            if profile.get(key) and profile[key].get("host"):
                hosts.add(re.escape(profile[key]["host"].lower()))
    names = sorted(hosts, key=len, reverse=True)
    mx = ["[a-z0-9-]+(?:\\.[a-z0-9-]+)*" + re.escape(s) for s in MX_HOST_SUFFIXES["suffixes"]]
    return re.compile(r"(?i)(?<![a-z0-9.-])(%s)(?![a-z0-9-]|\.[a-z0-9])" % "|".join(names + mx))


_HOSTS = smtp_host_pattern()


def mentions_in(text):
    """[{"line", "host", "port", "security", "auth", "key"}] for every Microsoft SMTP host named in ``text``."""
    lines = text.splitlines()
    out = []
    tb = _thunderbird(lines)
    for index, line in enumerate(lines):
        for m in _HOSTS.finditer(line):
            host = m.group(1).lower()
            entry = {"line": index + 1, "host": host, "port": None, "security": None, "auth": "unknown", "key": None}
            km = _KEY.match(line)
            if km:
                entry["key"] = km.group(1)
            tbm = _THUNDERBIRD.search(line)
            if tbm and tbm.group(2) == "hostname" and tbm.group(1) in tb:
                entry.update(tb[tbm.group(1)])
                out.append(entry)
                continue
            after = _PORT_ON_LINE.match(line[m.end():])
            if after:
                entry["port"] = int(after.group(1) or after.group(2))
            lo, hi = max(0, index - NEAR), min(len(lines), index + NEAR + 1)
            window = lines[lo:hi]
            if entry["port"] is None:
                for near in [line] + window:
                    pm = _PORT_NEAR.search(near)
                    if pm and 0 < int(pm.group(1)) < 65536:
                        entry["port"] = int(pm.group(1))
                        break
            text_near = "\n".join(window)
            if entry["port"] == 465 or _SSL.search(text_near):
                entry["security"] = "tls" if entry["port"] in (None, 465) else None
            if entry["security"] is None and (_STARTTLS.search(text_near) or entry["port"] == 587):
                entry["security"] = "starttls"
            auth_window = "\n".join(lines[max(0, index - NEAR_AUTH):min(len(lines), index + NEAR_AUTH + 1)])
            if _OAUTH.search(auth_window):
                entry["auth"] = "oauth2"
            elif _PASSWORD.search(auth_window):
                entry["auth"] = "password"
            out.append(entry)
    return out


def _thunderbird(lines):
    """Thunderbird prefs.js SMTP servers: {smtpN: {port, security, auth, account}} (socketType / try_ssl 2 STARTTLS,
    3 SSL, 0 plain; authMethod 10 OAuth2, 3/4 password; facts section 5)."""
    servers = {}
    for line in lines:
        m = _THUNDERBIRD.search(line)
        if m:
            servers.setdefault(m.group(1), {})[m.group(2)] = m.group(4)
    out = {}
    for name, prefs in servers.items():
        entry = {}
        if prefs.get("port", "").isdigit():
            entry["port"] = int(prefs["port"])
        sec = prefs.get("try_ssl") or prefs.get("socketType")
        entry["security"] = {"2": "starttls", "3": "tls", "0": "none"}.get(sec)
        entry["auth"] = {"10": "oauth2", "3": "password", "4": "password", "1": "none"}.get(prefs.get("authMethod"), "unknown")
        if prefs.get("username"):
            entry["account"] = prefs["username"]
        out[name] = entry
    return out


class Scan:
    """One bounded walk over directories; counts what it skipped."""

    def __init__(self, reader):
        self.reader = reader
        self.limits = reader.limits
        self.files = 0
        self.bytes = 0
        self.skipped = {"large": 0, "binary": 0, "links": 0, "unreadable": 0, "not_owned": 0, "special": 0}
        self.stopped = None
        self.results = []

    def full(self):
        if self.files >= self.limits["max_files"]:
            self.stopped = self.stopped or "max_files"
        elif self.bytes >= self.limits["max_bytes"]:
            self.stopped = self.stopped or "max_bytes"
        elif self.reader.deadline.expired():
            self.stopped = self.stopped or "timeout"
        return self.stopped is not None

    def walk(self, top, owner=None, user=None):
        """Breadth first from ``top`` (a host path); ``owner``: a home's uid (no link followed, own files only)."""
        reader = self.reader
        queue = [(top.rstrip("/") or "/", 0)]
        while queue and not self.full():
            path, depth = queue.pop(0)
            if reader.excluded(path):
                continue
            try:
                fd = reader.open_dir_within(path, top if owner is not None else None)
            except Unreadable as err:
                reader.refused(path, err)
                continue
            except OSError as err:
                if err.errno not in (errno.ENOENT, errno.ENOTDIR):
                    self.skipped["unreadable"] += 1
                continue
            subdirs = []
            try:
                for entry in sorted(os.scandir(fd), key=lambda e: e.name):
                    if self.full():
                        break
                    child = (path.rstrip("/") + "/" + entry.name)
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except OSError:
                        self.skipped["unreadable"] += 1
                        continue
                    if stat.S_ISLNK(st.st_mode):
                        self.skipped["links"] += 1
                        if owner is not None:
                            reader.note_link(child)
                        continue
                    if stat.S_ISDIR(st.st_mode):
                        rel = child[len(top.rstrip("/")) + 1:]
                        if entry.name in SKIP_DIRS or rel in SKIP_DIRS or child in self.skip_paths:
                            continue
                        if owner is not None and st.st_uid != owner:
                            self.skipped["not_owned"] += 1
                            continue
                        if depth + 1 < self.limits["max_depth"]:
                            subdirs.append((child, depth + 1))
                        continue
                    if not stat.S_ISREG(st.st_mode):
                        self.skipped["special"] += 1
                        continue
                    if child in reader.seen or reader.excluded(child):
                        continue
                    if st.st_size > self.limits["max_file_size"]:
                        self.skipped["large"] += 1
                        continue
                    if owner is not None and st.st_uid != owner:
                        self.skipped["not_owned"] += 1
                        continue
                    self._file(fd, entry.name, child, owner, user)
            finally:
                os.close(fd)
            queue.extend(subdirs)

    skip_paths = frozenset(("/etc/ssl/certs", "/etc/alternatives"))

    def _file(self, dir_fd, name, path, owner, user):
        self.files += 1
        try:
            text, st = self.reader.read_at(dir_fd, name, path, owner=owner)
        except Unreadable as err:
            if "binary" in err.reason:
                self.skipped["binary"] += 1
            elif "symbolic link" in err.reason:
                self.skipped["links"] += 1
            elif "larger" in err.reason:
                self.skipped["large"] += 1
            else:
                self.skipped["unreadable"] += 1
            return
        except OSError:
            self.skipped["unreadable"] += 1
            return
        except Timeout:
            self.stopped = "timeout"
            raise
        self.bytes += len(text)
        if not _HOSTS.search(text):
            return
        for m in mentions_in(text):
            f = new_finding("mention", path, m["line"], host=m["host"], port=m.get("port"), security=m.get("security"),
                            tls_required=None, cert_check=None, auth=m.get("auth") or "unknown",
                            account=m.get("account"), route="mention", name=m.get("key"), user=user, kind="mention")
            if m.get("auth") == "password":
                f["secret"] = {"set": True, "source": "inline", "file": path, "line": None}
                f["secret"].update(self.reader.secret_meta(path, home=None if owner is None else path.rsplit("/", 1)[0]))
                f["notes"].append("a password-like setting is next to it")
            self.results.append(f)

    def summary(self):
        return {"files": self.files, "bytes": self.bytes, "skipped": dict(self.skipped), "complete": self.stopped is None,
                "stopped_by": self.stopped}


def discover(reader, paths=("/etc",), homes=True):
    scan = Scan(reader)
    try:
        for path in paths:
            if scan.full():
                break
            scan.walk(path)
        if homes:
            for user, uid, home in reader.homes(people_only=True):
                if scan.full():
                    break
                if any(home == p or home.startswith(p.rstrip("/") + "/") for p in paths):
                    continue
                scan.walk(home, owner=uid, user=user)
    except Timeout:
        scan.stopped = "timeout"
    return scan.results, scan.summary()
