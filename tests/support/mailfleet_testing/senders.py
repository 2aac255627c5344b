# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers of the discovery tests (mail_senders_facts): a scratch root file system (``FakeRoot``) that the parsers
read through the module's Reader exactly as they read a host (its ``root`` option), the canary secret, and small
matchers. Used by tests/unit/senders and tests/integration/senders."""

import json
import os
import time

from ansible_collections.mailfleet.outlook.plugins.module_utils._senders._discover import discover
from ansible_collections.mailfleet.outlook.plugins.module_utils._senders._read import Reader

CANARY = "Canary-Pw-7f3a9c"   # every secret in these tests; it must never appear in a result


class FakeRoot:
    def __init__(self, path):
        self.path = str(path)
        self.users = [("root", 0, 0, "/root")]
        os.makedirs(self.p("/etc"), exist_ok=True)
        os.makedirs(self.p("/root"), exist_ok=True)
        self._write_passwd()

    def p(self, path):
        return os.path.join(self.path, path.lstrip("/"))

    def write(self, path, text, mode=0o644, uid=0, gid=0):
        full = self.p(path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as f:
            f.write(text)
        os.chmod(full, mode)
        if os.geteuid() == 0:
            os.chown(full, uid, gid)
        # Postfix programs wait ~2 s when main.cf changed within the last seconds: date files like a real host's
        past = time.time() - 120
        os.utime(full, (past, past))
        return full

    def user(self, name, uid, home=None):
        home = home or "/home/%s" % name
        self.users.append((name, uid, uid, home))
        os.makedirs(self.p(home), exist_ok=True)
        if os.geteuid() == 0:
            os.chown(self.p(home), uid, uid)
        self._write_passwd()
        return home

    def mkdir(self, path, uid=0, mode=0o755):
        os.makedirs(self.p(path), exist_ok=True)
        os.chmod(self.p(path), mode)
        if os.geteuid() == 0:
            os.chown(self.p(path), uid, uid)

    def _write_passwd(self):
        with open(self.p("/etc/passwd"), "w") as f:
            for name, uid, gid, home in self.users:
                f.write("%s:x:%d:%d::%s:/bin/sh\n" % (name, uid, gid, home))
        with open(self.p("/etc/group"), "w") as f:
            for name, uid, gid, home in self.users:
                f.write("%s:x:%d:\n" % (name, gid))

    def reader(self, **limits):
        return Reader(root=self.path, limits=limits)

    def discover(self, **kw):
        kw.setdefault("limits", {"timeout": 10})
        result = discover(root=self.path, **kw)
        assert CANARY not in json.dumps(result), "a secret reached the result"
        return result


def only(findings, **match):
    hits = [f for f in findings if all(f.get(k) == v for k, v in match.items())]
    assert len(hits) == 1, (match, findings)
    return hits[0]


def codes(finding):
    return [p["code"] for p in finding["problems"]]
