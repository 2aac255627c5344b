# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Postfix: where the SMTP client relays to (relayhost, default/relay transport, transport and sender-dependent
relayhost maps), how (TLS level, wrapper mode, master.cf -o overrides, TLS policy maps) and with which credentials
(smtp_sasl_password_maps sources, sasl-xoauth2's mechanism filter).

Values come from ``postconf -n -x -c DIR`` (and ``postconf -P`` for master.cf) when postconf exists, else from
main.cf/master.cf parsed with Postfix's rules: a logical line starts at the first column and continues on lines
that start with whitespace, ``#`` comments, the last definition wins, ``$name``/``${name}``/``$(name)`` expand
(``${name?text}`` / ``${name:text}`` too), with a depth limit that turns an expansion loop into a finding.
Line numbers always come from main.cf itself. Maps are read from their source file (``hash:/etc/postfix/sasl_passwd``
-> ``/etc/postfix/sasl_passwd``, never the .db); a password in a map is never kept, only its key and login.

Standard library only: shipped to targets with mail_senders_facts.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import shutil
import subprocess

from ansible_collections.mailfleet.outlook.plugins.module_utils._senders._finding import (
    SERVICES,
    is_managed,
    new_finding,
    port_number,
    secret_info,
)

CONFIG_DIR = "/etc/postfix"
POSTCONF_CANDIDATES = ("/usr/sbin/postconf", "/usr/bin/postconf")

# Postfix's own defaults for the parameters discovery reads (postconf -d on Postfix 3.7).
DEFAULTS = {
    "relayhost": "", "default_transport": "smtp", "relay_transport": "relay", "transport_maps": "",
    "sender_dependent_relayhost_maps": "", "smtp_sasl_auth_enable": "no", "smtp_sasl_password_maps": "",
    "smtp_sender_dependent_authentication": "no", "smtp_sasl_mechanism_filter": "", "smtp_tls_security_level": "",
    "smtp_use_tls": "no", "smtp_enforce_tls": "no", "smtp_tls_wrappermode": "no", "smtp_tls_policy_maps": "",
    "smtp_tls_cert_file": "", "config_directory": CONFIG_DIR,
}
FILE_MAP_TYPES = ("hash", "btree", "lmdb", "cdb", "dbm", "sdbm", "texthash", "regexp", "pcre", "cidr")
SECRET_CONFIG_MAP_TYPES = ("mysql", "pgsql", "ldap", "sqlite", "memcache", "socketmap", "tcp")
_EXPAND = re.compile(r"\$(\w+)|\$\{(\w+)(?:([?:])([^}]*))?\}|\$\((\w+)(?:([?:])([^)]*))?\)")
MAX_DEPTH = 20


class ExpansionLoop(ValueError):
    pass


def parse_main_cf(text):
    """{name: (value, line)}: Postfix's main.cf rules (logical lines, continuation, comments, last one wins)."""
    params = {}
    current = None
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if raw[0] in " \t":
            if current is not None:
                name, value, line = current
                current = (name, (value + " " + stripped).strip(), line)
            continue
        if current is not None:
            params[current[0]] = (current[1], current[2])
        name, sep, value = raw.partition("=")
        name = name.strip()
        if not sep or not re.match(r"^[\w.-]+$", name):
            current = None
            continue
        current = (name, value.strip(), number)
    if current is not None:
        params[current[0]] = (current[1], current[2])
    return params


def expand(value, lookup, depth=0, stack=()):
    """Postfix $parameter expansion; ``lookup(name)`` returns the raw value or None."""
    if depth > MAX_DEPTH:
        raise ExpansionLoop("more than %d levels of $parameter expansion" % MAX_DEPTH)

    def repl(m):
        name = m.group(1) or m.group(2) or m.group(5)
        op = m.group(3) or m.group(6)
        alt = m.group(4) if m.group(2) else m.group(7)
        if name in stack:
            raise ExpansionLoop("$%s refers to itself (%s)" % (name, " -> ".join(stack + (name,))))
        raw = lookup(name)
        resolved = expand(raw, lookup, depth + 1, stack + (name,)) if raw else ""
        if op == "?":
            return expand(alt, lookup, depth + 1, stack) if resolved else ""
        if op == ":":
            return expand(alt, lookup, depth + 1, stack) if not resolved else ""
        return resolved

    return _EXPAND.sub(repl, value or "")


def parse_master_cf(text):
    """{service: {"command": str, "type": str, "overrides": {param: value}, "line": n}} (inet/unix services)."""
    services = {}
    logical = []
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if raw[0] in " \t" and logical:
            logical[-1][1].extend(stripped.split())
        else:
            logical.append((number, stripped.split()))
    for number, fields in logical:
        if len(fields) < 8:
            continue
        overrides = {}
        args = fields[8:]
        i = 0
        while i < len(args):
            arg = args[i]
            opt = None
            if arg == "-o" and i + 1 < len(args):
                opt = args[i + 1]
                i += 1
            elif arg.startswith("-o") and len(arg) > 2:
                opt = arg[2:]
            if opt and "=" in opt:
                k, v = opt.split("=", 1)
                overrides[k.strip()] = v.strip()
            i += 1
        services[fields[0]] = {"type": fields[1], "command": fields[7], "overrides": overrides, "line": number}
    return services


def parse_nexthop(text):
    """'[smtp.office365.com]:587' -> (host, port, bracketed); port None when not given."""
    text = (text or "").strip()
    if not text:
        return None, None, False
    if text.lower().startswith("inet:"):
        text = text[5:]
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            return None, None, False
        host, rest = text[1:end], text[end + 1:]
        port = port_number(rest[1:], SERVICES) if rest.startswith(":") else None
        return host, port, True
    if text.count(":") == 1:
        host, port = text.split(":", 1)
        return host, port_number(port, SERVICES), False
    return text, None, False


def parse_map_spec(spec, config_dir=CONFIG_DIR):
    """'hash:/etc/postfix/sasl_passwd' -> ("hash", "/etc/postfix/sasl_passwd"); inline/static -> (type, None)."""
    spec = spec.strip().rstrip(",")
    while spec.startswith("proxy:"):
        spec = spec[6:]
    kind, sep, rest = spec.partition(":")
    if not sep:
        return None, None
    kind = kind.lower()
    if kind in ("static", "inline"):
        return kind, None
    path = rest
    if kind in ("hash", "btree", "lmdb", "cdb", "dbm", "sdbm"):
        for suffix in (".db", ".lmdb", ".cdb", ".dir", ".pag"):
            if path.endswith(suffix):
                path = path[: -len(suffix)]
                break
    if path and not path.startswith("/"):
        path = os.path.join(config_dir, path)
    return kind, path or None


def split_list(value):
    """Postfix list values: whitespace and/or commas; {...} groups (inline maps) stay whole."""
    items = []
    depth = 0
    cur = ""
    for ch in value or "":
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth = max(0, depth - 1)
        if depth == 0 and (ch in ", \t"):
            if cur:
                items.append(cur)
            cur = ""
            continue
        cur += ch
    if cur:
        items.append(cur)
    return items


def parse_map_source(text, kind):
    """[(key, value, line)] from a map's source file (postmap's rules: '#' comments, continuation lines).
    regexp/pcre maps give (pattern, value, line). Values are given whole: callers drop secrets at once."""
    entries = []
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if raw[0] in " \t" and entries:
            key, value, line = entries[-1]
            entries[-1] = (key, (value + " " + stripped).strip(), line)
            continue
        if kind in ("regexp", "pcre") and stripped[0] in "/!":
            m = re.match(r"^(!?/(?:[^/\\]|\\.)*/\w*)\s+(.*)$", stripped)
            if m:
                entries.append((m.group(1), m.group(2).strip(), number))
            continue
        fields = stripped.split(None, 1)
        entries.append((fields[0], fields[1].strip() if len(fields) > 1 else "", number))
    return entries


def _inline_entries(spec):
    """inline:{ key=value, key2=value2 } / static:value -> [(key, value, None)]."""
    kind, sep, rest = spec.partition(":")
    if kind.lower() == "static":
        return [("*", rest.strip("{} "), None)]
    body = rest.strip()
    if body.startswith("{") and body.endswith("}"):
        body = body[1:-1]
    out = []
    for item in re.split(r"[,\s]+(?=[^,\s=]+=)", body.strip()):
        item = item.strip().strip(",").strip()
        if item.startswith("{") and item.endswith("}"):
            item = item[1:-1].strip()
        if "=" in item:
            k, v = item.split("=", 1)
            out.append((k.strip(), v.strip(), None))
    return out


class PostfixConfig:
    """One Postfix instance's effective parameters (postconf when it runs, main.cf parsed otherwise)."""

    def __init__(self, reader, config_dir=CONFIG_DIR):
        self.reader = reader
        self.dir = config_dir
        self.main_path = config_dir + "/main.cf"
        self.text = reader.read(self.main_path)
        self.lines = parse_main_cf(self.text) if self.text is not None else {}
        self.params = dict((k, v[0]) for k, v in self.lines.items())
        self.master = {}
        self.source = "main.cf"
        self.postconf = None
        self.defaults = {}
        if self.text is None:
            return
        master_text = reader.read(config_dir + "/master.cf")
        postconf = _postconf_binary(reader)
        if postconf:
            values = self._postconf(postconf, ["-n"])
            if values is not None:
                self.params = values
                self.source = "postconf"
                self.postconf = postconf
            if master_text is not None:
                overrides = self._postconf(postconf, ["-P"])
                if overrides is not None:
                    for key, value in overrides.items():
                        parts = key.split("/")
                        if len(parts) == 3:
                            self.master.setdefault(parts[0], {"overrides": {}, "line": None})["overrides"][parts[2]] = value
        if master_text is not None:
            parsed = parse_master_cf(master_text)
            for name, svc in parsed.items():
                entry = self.master.setdefault(name, {"overrides": {}, "line": None})
                entry["line"] = svc["line"]
                entry["command"] = svc["command"]
                if self.source != "postconf":
                    entry["overrides"] = svc["overrides"]

    def _postconf(self, binary, args, pairs=True):
        remaining = self.reader.deadline.remaining()
        if remaining <= 0.5:
            return None
        argv = [binary, "-c", self.reader.host(self.dir)] + args
        try:
            proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  timeout=min(10.0, remaining), check=False)
        except (OSError, subprocess.TimeoutExpired) as err:
            self.reader.note(self.main_path, "postconf %s: %s (main.cf parsed instead)" % (" ".join(args), err.__class__.__name__))
            return None
        if proc.returncode != 0:
            self.reader.note(self.main_path, "postconf %s failed (exit %d): main.cf parsed instead" % (" ".join(args), proc.returncode))
            return None
        if not pairs:
            return proc.stdout.decode("utf-8", "replace").strip()
        out = {}
        for line in proc.stdout.decode("utf-8", "replace").splitlines():
            name, sep, value = line.partition(" = ")
            if not sep:
                name, sep, value = line.partition("=")
            if sep:
                out[name.strip()] = value.strip()
        return out

    def get(self, name, service=None):
        """The effective value of ``name`` (expanded), a master.cf -o override of ``service`` first."""
        if service and name in (self.master.get(service) or {}).get("overrides", {}):
            return self._expand(self.master[service]["overrides"][name])
        return self._expand(self.params.get(name, DEFAULTS.get(name, "")))

    def _default(self, name):
        """A parameter that main.cf does not set: Postfix's default (``postconf -h -x``, asked once per name,
        only for names a value refers to: computing every default costs a DNS lookup of the host name)."""
        if name in DEFAULTS:
            return DEFAULTS[name]
        if name not in self.defaults:
            value = None
            if self.postconf:
                out = self._postconf(self.postconf, ["-h", "-x", name], pairs=False)
                value = out if out is not None else None
            self.defaults[name] = value
        return self.defaults[name]

    def _expand(self, raw):
        if "$" not in (raw or ""):
            return raw or ""

        def lookup(n):
            return self.params[n] if n in self.params else self._default(n)
        try:
            return expand(raw, lookup)
        except ExpansionLoop as err:
            self.reader.note(self.main_path, "cannot expand a parameter: %s" % err)
            return ""

    def line(self, name):
        entry = self.lines.get(name)
        return entry[1] if entry else None

    def yes(self, name, service=None):
        return self.get(name, service).strip().lower() in ("yes", "true", "on", "1")


def _postconf_binary(reader):
    for path in POSTCONF_CANDIDATES:
        if os.access(path, os.X_OK):
            return path
    return shutil.which("postconf")


def _tls(cfg, service, host, port):
    """(security, tls_required, cert_check) for the SMTP client service ``service`` to host:port."""
    level = cfg.get("smtp_tls_security_level", service).strip().lower()
    if not level:
        level = "encrypt" if cfg.yes("smtp_enforce_tls", service) else ("may" if cfg.yes("smtp_use_tls", service) else "none")
    policy = cfg.get("smtp_tls_policy_maps", service).strip()
    if policy:
        for spec in split_list(policy):
            kind, path = parse_map_spec(spec, cfg.dir)
            if not path or kind not in FILE_MAP_TYPES:
                continue
            text = cfg.reader.read(path)
            for key, value, unused_line in parse_map_source(text or "", kind):
                if key.lower() in _keys_for(host, port):
                    level = (value.split() or [level])[0].lower()
                    break
    wrapper = cfg.yes("smtp_tls_wrappermode", service)
    if level == "none":
        return ("tls" if wrapper else "none"), wrapper, False if wrapper else None
    required = level not in ("may", "dane")
    cert = level in ("verify", "secure", "fingerprint", "dane-only")
    return ("tls" if wrapper else "starttls"), required, cert


def _keys_for(host, port):
    host = (host or "").lower()
    keys = {host, "[%s]" % host}
    if port:
        keys.update({"%s:%d" % (host, port), "[%s]:%d" % (host, port)})
    return keys


def _auth(cfg, service, host, port):
    """(auth, mechanism, account, secret) for this upstream."""
    if not cfg.yes("smtp_sasl_auth_enable", service):
        return "none", None, None, None
    mechanisms = cfg.get("smtp_sasl_mechanism_filter", service).lower()
    oauth = "xoauth2" in mechanisms or "oauthbearer" in mechanisms
    maps = cfg.get("smtp_sasl_password_maps", service).strip()
    sender_dependent = cfg.yes("smtp_sender_dependent_authentication", service)
    keys = _keys_for(host, port)
    raw_line = cfg.line("smtp_sasl_password_maps")
    for spec in split_list(maps):
        kind, path = parse_map_spec(spec, cfg.dir)
        if kind in ("static", "inline"):
            for key, value, unused in _inline_entries(spec):
                if key == "*" or key.lower() in keys or (sender_dependent and "@" in key):
                    account = value.split(":", 1)[0] or None
                    return ("oauth2" if oauth else "password", "XOAUTH2" if oauth else None, account,
                            secret_info(cfg.reader, cfg.main_path, "inline", line=raw_line))
            continue
        if kind in SECRET_CONFIG_MAP_TYPES:
            return ("oauth2" if oauth else "password", None, None,
                    secret_info(cfg.reader, path, "file") if path else {"set": True, "source": kind})
        if not path:
            continue
        text = cfg.reader.read(path)
        if text is None:
            compiled = [p for p in (path + ".db", path + ".lmdb", path + ".cdb") if cfg.reader.exists(p)]
            if compiled:
                cfg.reader.note(path, "the map's source file is missing; only %s exists: login unknown" % compiled[0])
                return ("oauth2" if oauth else "password", None, None, secret_info(cfg.reader, compiled[0], "file"))
            continue
        for key, value, line in parse_map_source(text, kind):
            if key.lower() in keys or (sender_dependent and "@" in key):
                account = value.split(":", 1)[0] or None
                secret = secret_info(cfg.reader, path, "file", line=line)
                if oauth:
                    token_file = value.split(":", 1)[1] if ":" in value else ""
                    if token_file.startswith("/"):
                        secret = secret_info(cfg.reader, token_file, "file", program="sasl-xoauth2")
                        secret["map"] = path
                return ("oauth2" if oauth else "password", "XOAUTH2" if oauth else None, account, secret)
    return "none", None, None, None


def _transport_nexthop(value):
    """'smtp:[host]:587' -> ("smtp", "[host]:587"); 'relay' -> ("relay", "")."""
    value = (value or "").strip()
    transport, sep, nexthop = value.partition(":")
    return transport, nexthop


def discover(reader, config_dir=CONFIG_DIR):
    """Findings of the Postfix instance in ``config_dir`` (nothing when there is no main.cf)."""
    cfg = PostfixConfig(reader, config_dir)
    if cfg.text is None:
        return []
    managed = is_managed(cfg.text)
    findings = []
    main = cfg.main_path

    def add(route, name, line, nexthop_text, service, file=None):
        host, port, unused_bracketed = parse_nexthop(nexthop_text)
        if not host:
            return
        if port is None:
            port = 25
        service = service or "smtp"
        svc = cfg.master.get(service) or {}
        command = svc.get("command")
        if command not in ("smtp", "lmtp") and not (command is None and service in ("smtp", "relay")):
            return   # error:, local:, discard:, ... deliver nowhere upstream
        security, required, cert = _tls(cfg, service, host, port)
        auth, mech, account, secret = _auth(cfg, service, host, port)
        f = new_finding("postfix", file or main, line, host=host, port=port, security=security, tls_required=required,
                        cert_check=cert, auth=auth, account=account, secret=secret, route=route, name=name,
                        mechanism=mech, managed=managed)
        if cfg.source != "postconf":
            f["notes"].append("read from main.cf (postconf not available)")
        findings.append(f)

    default_transport, default_nexthop = _transport_nexthop(cfg.get("default_transport"))
    relayhost = cfg.get("relayhost").strip()
    for item in split_list(relayhost):
        add("relayhost", "relayhost", cfg.line("relayhost"), item, default_transport)
    if default_nexthop and not relayhost:
        add("default_transport", "default_transport", cfg.line("default_transport"), default_nexthop, default_transport)
    relay_transport, relay_nexthop = _transport_nexthop(cfg.get("relay_transport"))
    if relay_nexthop:
        add("relay_transport", "relay_transport", cfg.line("relay_transport"), relay_nexthop, relay_transport)
    for param, route in (("transport_maps", "transport_maps"), ("sender_dependent_relayhost_maps", "sender_dependent_relayhost_maps")):
        for spec in split_list(cfg.get(param)):
            kind, path = parse_map_spec(spec, cfg.dir)
            if kind in ("static", "inline"):
                for key, value, unused in _inline_entries(spec):
                    transport, nexthop = _transport_nexthop(value) if route == "transport_maps" else ("smtp", value)
                    add(route, key, cfg.line(param), nexthop, transport)
                continue
            if not path or kind not in FILE_MAP_TYPES:
                continue
            text = reader.read(path)
            for key, value, line in parse_map_source(text or "", kind):
                if route == "transport_maps":
                    transport, nexthop = _transport_nexthop(value)
                else:
                    transport, nexthop = "smtp", value
                if nexthop:
                    add(route, key, line, nexthop, transport or "smtp", file=path)
    if not findings and (default_transport or "smtp") == "smtp":
        f = new_finding("postfix", main, None, route="direct", name="default_transport", managed=managed,
                        security=None, auth="none")
        f["notes"].append("no relayhost: Postfix delivers to each recipient domain's MX host itself")
        findings.append(f)
    sasl_conf = "/etc/sasl-xoauth2.conf"
    if any(f.get("mechanism") == "XOAUTH2" for f in findings) and reader.exists(sasl_conf):
        for f in findings:
            if f.get("mechanism") == "XOAUTH2":
                f["notes"].append("sasl-xoauth2 client credentials: %s (mode %s)"
                                  % (sasl_conf, reader.secret_meta(sasl_conf).get("mode")))
    return findings
