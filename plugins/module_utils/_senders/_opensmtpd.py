# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""OpenSMTPD: /etc/smtpd.conf (Debian; /etc/smtpd/smtpd.conf and /etc/mail/smtpd.conf elsewhere), smtpd.conf(5) of
OpenSMTPD 6.4+: ``action NAME relay host proto://[label@]host[:port] [auth <table>] [tls [no-verify]] [pki NAME]``,
``table NAME [type:]path`` and inline tables ``table NAME { label = "user:password" }``, ``NAME = "value"`` macros,
``include "file"`` (followed, loops refused), ``\\`` line continuation, ``#`` comments. The pre-6.4
``accept ... relay via URL auth <table>`` form is read too.

Protocols (smtpd.conf(5)): smtp (opportunistic STARTTLS), smtp+tls (mandatory STARTTLS), smtp+notls (no TLS), smtps
(TLS on connect, default port 465), lmtp; port 25 otherwise. Certificates are verified for smtp+tls and smtps unless
``tls no-verify``. The label names the credentials (``label user:password``) in the auth table.

Standard library only: shipped to targets with mail_senders_facts.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.mailfleet.outlook.plugins.module_utils._senders._finding import (
    is_managed,
    new_finding,
    port_number,
    secret_info,
)

CANDIDATES = ("/etc/smtpd.conf", "/etc/smtpd/smtpd.conf", "/etc/mail/smtpd.conf")
MAX_INCLUDES = 16
_TOKEN = re.compile(r'"((?:[^"\\]|\\.)*)"|(<[^>]*>)|(\{)|(\})|([^\s"{}]+)')
_URL = re.compile(r"^(?:(?P<proto>[a-z+]+)://)?(?:(?P<label>[^@/]+)@)?(?P<host>\[[^\]]+\]|[^:/]+)(?::(?P<port>\d+))?/?$", re.I)
PROTOCOLS = {
    "smtp": ("starttls", False, False),
    "smtp+tls": ("starttls", True, True),
    "smtp+notls": ("none", False, None),
    "smtps": ("tls", True, True),
    "lmtp": ("none", False, None),
    # before OpenSMTPD 6.4 (accept ... relay via): the certificate check of those versions is not asserted here
    "tls": ("starttls", True, None), "tls+auth": ("starttls", True, None),
    "ssl": ("tls", True, None), "ssl+auth": ("tls", True, None), "smtps+auth": ("tls", True, None),
}


def statements(text):
    """[(line, [tokens])]: one statement per logical line (backslash continuation), comments removed."""
    out = []
    pending = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw
        hash_at = _comment_start(line)
        if hash_at is not None:
            line = line[:hash_at]
        cont = line.rstrip().endswith("\\")
        if cont:
            line = line.rstrip()[:-1]
        if pending is None:
            pending = (number, line)
        else:
            pending = (pending[0], pending[1] + " " + line)
        if cont:
            continue
        tokens = tokenize(pending[1])
        if tokens:
            out.append((pending[0], tokens))
        pending = None
    if pending is not None and tokenize(pending[1]):
        out.append((pending[0], tokenize(pending[1])))
    return out


def _comment_start(line):
    quoted = False
    escaped = False
    for i, ch in enumerate(line):
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == "#" and not quoted:
            return i
    return None


def tokenize(line):
    tokens = []
    for m in _TOKEN.finditer(line):
        if m.group(1) is not None:
            tokens.append(("str", re.sub(r"\\(.)", r"\1", m.group(1))))
        elif m.group(2):
            tokens.append(("table", m.group(2)[1:-1].strip()))
        elif m.group(3):
            tokens.append(("open", "{"))
        elif m.group(4):
            tokens.append(("close", "}"))
        else:
            tokens.append(("word", m.group(5)))
    return tokens


def parse_url(url):
    m = _URL.match(url or "")
    if not m:
        return None
    proto = (m.group("proto") or "smtp").lower()
    host = m.group("host").strip("[]")
    port = port_number(m.group("port")) if m.group("port") else (465 if proto == "smtps" else 25)
    return {"proto": proto, "label": m.group("label"), "host": host, "port": port}


def parse_secrets_table(text):
    """[(label, user, line)] of a credentials table file (``label user:password``); passwords dropped here."""
    out = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split(None, 1)
        if len(fields) == 2:
            out.append((fields[0], fields[1].split(":", 1)[0], number))
    return out


class Config:
    def __init__(self, reader):
        self.reader = reader
        self.macros = {}
        self.tables = {}     # name -> {"path", "line", "file"} or {"inline": {label: user}, "line", "file"}
        self.relays = []     # (file, line, url, auth_table, no_verify, tls_required, name)
        self.files = []

    def load(self, path, depth=0, stack=()):
        if path in stack:
            self.reader.note(path, "include loop: %s" % " -> ".join(stack + (path,)))
            return
        if depth > MAX_INCLUDES:
            self.reader.note(path, "more than %d nested includes: not read" % MAX_INCLUDES)
            return
        text = self.reader.read(path)
        if text is None:
            return
        self.files.append((path, text))
        for line, tokens in statements(text):
            self._statement(path, line, tokens, depth, stack + (path,))

    def _value(self, tok):
        kind, value = tok
        if kind == "word" and value.startswith("$") and value[1:] in self.macros:
            return self.macros[value[1:]]
        return value

    def _statement(self, path, line, tokens, depth, stack):
        words = [self._value(t) for t in tokens]
        head = words[0].lower() if tokens[0][0] == "word" else None
        if len(tokens) >= 3 and tokens[1] == ("word", "=") and tokens[0][0] == "word":
            self.macros[tokens[0][1]] = words[2]
            return
        if head == "include" and len(words) > 1:
            self.load(words[1], depth + 1, stack)
        elif head == "table" and len(words) >= 3:
            name = words[1]
            if tokens[2][0] == "open":
                self.tables[name] = {"inline": _inline_table(tokens[3:]), "line": line, "file": path}
            else:
                spec = words[2]
                kind, sep, rest = spec.partition(":")
                table_path = rest if sep and kind in ("file", "db") else spec
                self.tables[name] = {"path": table_path, "kind": kind if sep else "file", "line": line, "file": path}
        elif head == "action" and "relay" in [w.lower() for w in words[2:3]]:
            self._relay(path, line, tokens, words, "host", words[1])
        elif head == "accept" and "via" in [w.lower() for w in words]:
            self._relay(path, line, tokens, words, "via", "accept")

    def _relay(self, path, line, tokens, words, keyword, name):
        lowered = [w.lower() if t[0] == "word" else None for t, w in zip(tokens, words)]
        if keyword not in lowered:
            self.relays.append((path, line, None, None, False, None, name))
            return
        i = lowered.index(keyword)
        url = words[i + 1] if i + 1 < len(words) else None
        auth_table = None
        if "auth" in lowered:
            j = lowered.index("auth")
            if j + 1 < len(tokens) and tokens[j + 1][0] == "table":
                auth_table = tokens[j + 1][1]
        no_verify = "no-verify" in lowered
        tls = "tls" in lowered[i + 2:] if keyword == "host" else None
        self.relays.append((path, line, url, auth_table, no_verify, tls, name))


def _inline_table(tokens):
    """{label: user} of ``{ label = "user:password", ... }`` (passwords dropped)."""
    out = {}
    words = [v for k, v in tokens if k in ("word", "str")]
    i = 0
    while i < len(words):
        if i + 2 < len(words) and words[i + 1] == "=":
            out[words[i].strip(",")] = words[i + 2].split(":", 1)[0]
            i += 3
        else:
            i += 1
    return out


def discover(reader):
    findings = []
    for path in CANDIDATES:
        if not reader.exists(path):
            continue
        cfg = Config(reader)
        cfg.load(path)
        if not cfg.files:
            continue
        managed = is_managed(cfg.files[0][1])
        for file, line, url, table, no_verify, tls_opt, name in cfg.relays:
            if not url:
                f = new_finding("opensmtpd", file, line, route="direct", name="action %s relay" % name, auth="none",
                                managed=managed)
                f["notes"].append("relay without a host: OpenSMTPD delivers to each recipient domain's MX host itself")
                findings.append(f)
                continue
            parsed = parse_url(url)
            if not parsed:
                reader.note(file, "line %d: cannot parse the relay URL" % line, line=line)
                continue
            security, required, cert = PROTOCOLS.get(parsed["proto"], ("none", False, None))
            if tls_opt and security == "starttls":
                required = True
            if tls_opt and cert is False:
                cert = True
            if no_verify and security != "none":
                cert = False
            auth, account, secret = "none", None, None
            if parsed["label"] and table:
                auth = "password"
                entry = cfg.tables.get(table)
                if entry is None:
                    reader.note(file, "line %d: table <%s> is not defined" % (line, table), line=line)
                elif "inline" in entry:
                    account = entry["inline"].get(parsed["label"])
                    secret = secret_info(reader, entry["file"], "inline", line=entry["line"])
                else:
                    text = reader.read(entry["path"])
                    for label, user, tline in parse_secrets_table(text or ""):
                        if label == parsed["label"]:
                            account = user or None
                            secret = secret_info(reader, entry["path"], "file", line=tline)
                            break
                    else:
                        secret = secret_info(reader, entry["path"], "file")
            f = new_finding("opensmtpd", file, line, host=parsed["host"], port=parsed["port"], security=security,
                            tls_required=required, cert_check=cert, auth=auth, account=account, secret=secret,
                            route="relay host" if name != "accept" else "relay via", name="action %s" % name,
                            managed=managed)
            if parsed["proto"] not in PROTOCOLS:
                f["notes"].append("unknown protocol %s" % parsed["proto"])
            findings.append(f)
        break   # smtpd reads one configuration file
    return findings
