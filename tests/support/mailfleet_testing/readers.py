# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read rendered configuration back the way the real programs do (round-trip tests of plugin_utils/_quote.py).

Every reader returns the values exactly as the program sees them (nothing stripped), or raises.
- Postfix: ``postconf_values`` (``postconf -c DIR -xh``: $$ expanded to $), ``postmap_query`` (``postmap -q``).
- msmtp: ``msmtp_pretend`` (``msmtp -C FILE --pretend``: every setting as msmtp parsed it).
- neomutt: ``neomutt_query`` (``neomutt -n -F FILE -Q VAR``; backtick commands run).
- GLib key files (Evolution): ``glib_keyfile`` (GLib.KeyFile.get_string in the system python, python3-gi).
- Thunderbird user.js: ``parse_user_js``, a strict parser of Gecko's preference grammar (libpref's parser:
  ``user_pref(<string>, <string|int|bool>);``, comments ``//``, ``/* */``, ``#``; string escapes ``\\" \\' \\\\
  \\n \\r \\xNN \\uNNNN`` (surrogate pairs joined, ``\\x00``/``\\u0000`` refused); anything else is an error).
"""

from __future__ import annotations

import json
import os
import re
import subprocess

TIMEOUT = 20
SYSTEM_PYTHON = "/usr/bin/python3"


def _run(argv, env=None, check=True):
    out = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT, env=env, check=False)
    if check and out.returncode != 0:
        raise AssertionError("%s failed (%s): %s %s" % (" ".join(argv), out.returncode, out.stdout, out.stderr))
    return out


# ------------------------------------------------------------------------------------------------ Postfix

def postconf_values(config_dir, names):
    """{name: value} as Postfix reads main.cf in ``config_dir`` ($name and $$ expanded, as the daemons do)."""
    master = os.path.join(config_dir, "master.cf")
    if not os.path.exists(master):
        open(master, "w").close()
    out = _run(["postconf", "-c", str(config_dir), "-xh"] + list(names)).stdout
    values = out.split("\n")[:-1]
    assert len(values) == len(names), out
    return dict(zip(names, values))


def postmap_query(config_dir, table, key):
    """The value ``postmap -q`` finds for ``key`` in ``table`` (``type:path``), or None."""
    out = _run(["postmap", "-c", str(config_dir), "-q", key, table], check=False)
    if out.returncode == 1:
        return None
    assert out.returncode == 0, out.stderr
    assert out.stdout.endswith("\n"), out.stdout
    return out.stdout[:-1]


# ------------------------------------------------------------------------------------------------ msmtp

def msmtp_pretend(config, account=None, home="/nonexistent"):
    """{setting: value} of ``msmtp --pretend`` (values verbatim after ' = ')."""
    os.chmod(config, 0o600)
    argv = ["msmtp", "-C", str(config), "--pretend"] + (["-a", account] if account else []) + ["bob@example.org"]
    out = _run(argv, env={"PATH": os.environ["PATH"], "HOME": home})
    values = {}
    for line in out.stdout.split("\n"):
        key, sep, value = line.partition(" = ")
        if sep and key and " " not in key:
            values[key] = value
    return values


# ------------------------------------------------------------------------------------------------ neomutt

_NEOMUTT_SET = re.compile(r'set ([a-z_]+) = "((?:[^"\\]|\\.)*)"')


def neomutt_query(config, name, home):
    """The value of neomutt variable ``name`` after reading ``config`` (``neomutt -Q``, which re-quotes it)."""
    out = _run(["neomutt", "-n", "-F", str(config), "-Q", name],
               env={"PATH": os.environ["PATH"], "HOME": str(home), "TERM": "dumb"})
    match = _NEOMUTT_SET.fullmatch(out.stdout.rstrip("\n"))
    assert match and match.group(1) == name, out.stdout + out.stderr
    return re.sub(r"\\(.)", r"\1", match.group(2))


# ------------------------------------------------------------------------------------------------ GLib

_GLIB_READER = r"""
import json, sys
import gi
gi.require_version("GLib", "2.0")
from gi.repository import GLib
out = {}
for path in sys.argv[1:]:
    kf = GLib.KeyFile()
    kf.load_from_file(path, GLib.KeyFileFlags.NONE)
    groups, _n = kf.get_groups()
    out[path] = {g: {k: kf.get_string(g, k) for k in kf.get_keys(g)[0]} for g in groups}
print(json.dumps(out))
"""


def glib_keyfile(*paths):
    """{path: {group: {key: get_string()}}} read by GLib's own key-file parser."""
    return json.loads(_run([SYSTEM_PYTHON, "-c", _GLIB_READER] + [str(p) for p in paths]).stdout)


# ------------------------------------------------------------------------------------------------ user.js

class PrefSyntaxError(ValueError):
    pass


_PREF_KINDS = ("user_pref", "pref", "sticky_pref")


def parse_user_js(text):
    """{name: value} of a prefs file, or PrefSyntaxError at the first thing Gecko's parser would refuse."""
    pos = 0
    prefs = {}

    def error(what):
        raise PrefSyntaxError("%s at offset %d: %r" % (what, pos, text[pos:pos + 30]))

    def skip():
        nonlocal pos
        while pos < len(text):
            if text[pos] in " \t\r\n":
                pos += 1
            elif text.startswith("//", pos) or text[pos] == "#":
                end = text.find("\n", pos)
                pos = len(text) if end < 0 else end + 1
            elif text.startswith("/*", pos):
                end = text.find("*/", pos + 2)
                if end < 0:
                    error("unterminated comment")
                pos = end + 2
            else:
                return

    def expect(token):
        nonlocal pos
        skip()
        if not text.startswith(token, pos):
            error("expected %r" % token)
        pos += len(token)

    def string():
        nonlocal pos
        skip()
        quote = text[pos:pos + 1]
        if quote not in ('"', "'"):
            error("expected a string")
        pos += 1
        units = []  # UTF-16 code units and characters, joined at the end
        while True:
            if pos >= len(text):
                error("unterminated string")
            ch = text[pos]
            if ch == quote:
                pos += 1
                break
            if ch == "\\":
                esc = text[pos + 1:pos + 2]
                if esc in ('"', "'", "\\"):
                    units.append(esc)
                    pos += 2
                elif esc == "n":
                    units.append("\n")
                    pos += 2
                elif esc == "r":
                    units.append("\r")
                    pos += 2
                elif esc == "x" and re.fullmatch(r"[0-9a-fA-F]{2}", text[pos + 2:pos + 4]):
                    value = int(text[pos + 2:pos + 4], 16)
                    if value == 0:
                        error("\\x00 is not allowed")
                    units.append(chr(value))
                    pos += 4
                elif esc == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", text[pos + 2:pos + 6]):
                    value = int(text[pos + 2:pos + 6], 16)
                    pos += 6
                    if value == 0:
                        error("\\u0000 is not allowed")
                    if 0xD800 <= value <= 0xDBFF:
                        low = text[pos:pos + 6]
                        if not re.fullmatch(r"\\u[dD][c-fC-F][0-9a-fA-F]{2}", low):
                            error("a high surrogate without its low surrogate")
                        value = 0x10000 + ((value - 0xD800) << 10) + (int(low[2:], 16) - 0xDC00)
                        pos += 6
                    elif 0xDC00 <= value <= 0xDFFF:
                        error("a lone low surrogate")
                    units.append(chr(value))
                else:
                    error("an escape sequence Gecko does not know")
                continue
            if ch == "\n" or ch == "\r":
                error("a line break inside a string")
            units.append(ch)
            pos += 1
        return "".join(units)

    def value():
        nonlocal pos
        skip()
        if text[pos:pos + 1] in ('"', "'"):
            return string()
        for word, result in (("true", True), ("false", False)):
            if text.startswith(word, pos) and not re.match(r"[A-Za-z0-9_]", text[pos + len(word):pos + len(word) + 1]):
                pos += len(word)
                return result
        match = re.compile(r"[+-]?[0-9]+(?![A-Za-z_0-9])").match(text, pos)
        if not match:
            error("expected a value")
        pos = match.end()
        return int(match.group(0))

    while True:
        skip()
        if pos >= len(text):
            return prefs
        kind = re.compile(r"[a-z_]+").match(text, pos)
        if not kind or kind.group(0) not in _PREF_KINDS:
            error("expected user_pref(")
        pos = kind.end()
        expect("(")
        name = string()
        expect(",")
        prefs[name] = value()
        expect(")")
        expect(";")
