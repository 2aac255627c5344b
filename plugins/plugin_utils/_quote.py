# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Values are data: one function per file syntax that writes a value so that its program reads back exactly
that value, and never a second directive.

Templates reach these through the ``mailfleet.outlook.quote`` filter (``{{ value | mailfleet.outlook.quote('postfix',
'myhostname') }}``). Every function first refuses control characters (the settings model's rule, so a value can
never end its line); a value that a syntax cannot represent at all (a Postfix value with leading blanks, a map
path with a comma) raises ``Unrepresentable`` with the problem and the fix, and the render step turns that into
the usual ``<variable>=<value>: <problem>. Fix: <fix>`` error. Each function documents the rule it follows
and the program whose parser the round-trip tests (tests/integration/security/test_values_roundtrip.py) use.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re

try:
    from shlex import quote as _shell_quote
except ImportError:  # pragma: no cover - Python 2 is not supported
    from pipes import quote as _shell_quote

from ansible_collections.mailfleet.outlook.plugins.module_utils._settings import control_character


class Unrepresentable(ValueError):
    """``value`` cannot be written in ``syntax``; ``problem`` and ``fix`` complete the error text."""

    def __init__(self, syntax, value, problem, fix, variable=None):
        self.syntax = syntax
        self.value = value
        self.problem = problem
        self.fix = fix
        self.variable = variable
        # the value is not part of the text: it may be a secret (the render step decides what to show)
        super(Unrepresentable, self).__init__("%s: %s. Fix: %s" % (syntax, problem, fix))


def _text(syntax, value):
    """The value as text, refused if it holds a control character (no syntax below may take one)."""
    if isinstance(value, bool):
        value = "yes" if value else "no"
    if not isinstance(value, str):
        if value is None or isinstance(value, (dict, list, tuple)):
            raise Unrepresentable(syntax, value, "not a single value", "give a string or a number")
        value = str(value)
    found = control_character(value)
    if found is not None:
        raise Unrepresentable(syntax, value, "contains a control character, %s, at position %d" % (found[1], found[0]),
                              "give the value on one line, without control characters")
    return value


def _no_outer_blanks(syntax, value, program):
    if value != value.strip(" \t"):
        raise Unrepresentable(syntax, value, "starts or ends with a blank, which %s drops" % program,
                              "remove the leading and trailing blanks")


# ------------------------------------------------------------------------------------------------- Postfix

def postfix(value):
    """A main.cf parameter value, or the result of a regexp/pcre table (canonical maps, header_checks):
    ``$`` is written ``$$`` (Postfix expands ``$name``; ``$$`` is one literal ``$``: postconf -x, postmap -q).
    Postfix strips blanks at both ends of a value, so they cannot be represented."""
    value = _text("postfix", value)
    _no_outer_blanks("postfix", value, "Postfix")
    return value.replace("$", "$$")


def postfix_expression(value):
    """A main.cf value written as a Postfix expression (``relay_extra_settings``): ``$name`` is expanded by
    Postfix, as an admin who writes main.cf expects. Still one line, no blanks at either end."""
    value = _text("postfix_expression", value)
    _no_outer_blanks("postfix_expression", value, "Postfix")
    return value


def postfix_map(value):
    """The name part of a Postfix lookup table (``regexp:<name>``) inside a parameter that takes a list:
    Postfix splits lists at blanks and commas and treats braces as grouping, so those are refused."""
    value = _text("postfix_map", value)
    bad = [ch for ch in " \t,{}" if ch in value]
    if not value or bad:
        raise Unrepresentable("postfix_map", value, "a Postfix table name in a list cannot contain blanks, commas or "
                              "braces (found %r)" % "".join(bad) if bad else "empty",
                              "use a directory path without blanks, commas and braces")
    return value.replace("$", "$$")


_ERE_SPECIAL = re.compile(r"([\\.\[\]()*+?{}|^$/])")


def postfix_regexp(value):
    """Text matched literally inside a ``/.../`` pattern of a Postfix regexp table (POSIX ERE): every ERE
    operator and the ``/`` delimiter are escaped with a backslash."""
    return _ERE_SPECIAL.sub(r"\\\1", _text("postfix_regexp", value))


def postfix_table_value(value):
    """The value of an indexed table source line (``key value``, postmap: hash, lmdb, cdb): taken verbatim by
    postmap (no ``$`` expansion), but the trailing blanks of the line are dropped, so they cannot be
    represented."""
    value = _text("postfix_table_value", value)
    if value != value.rstrip(" \t"):
        raise Unrepresentable("postfix_table_value", value, "ends with a blank, which postmap drops",
                              "remove the trailing blanks")
    return value


# ------------------------------------------------------------------------------------------------- msmtp

def msmtp(value):
    """A msmtp configuration argument. msmtp takes the rest of the line, trims blanks, and removes one pair of
    double quotes around it (nothing inside is an escape: msmtp --pretend shows it verbatim). A value that is
    empty, holds a blank, or starts or ends with a double quote is therefore written inside quotes; every
    other value as it is."""
    value = _text("msmtp", value)
    if value == "" or " " in value or "\t" in value or value.startswith('"') or value.endswith('"'):
        return '"%s"' % value
    return value


# ------------------------------------------------------------------------------------------------- shell

def shell(value):
    """A command line for ``sh -c`` (msmtp passwordeval, neomutt backticks and refresh commands): a list is
    one word per item, each quoted for the POSIX shell (shlex.quote); a string is one word."""
    words = value if isinstance(value, (list, tuple)) else [value]
    return " ".join(_shell_quote(_text("shell", word)) for word in words)


# ------------------------------------------------------------------------------------------------- neomutt

def _neomutt_escaped(value):
    return (value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$").replace("`", "\\`"))


def neomutt(value):
    """A neomutt string in double quotes: backslash, double quote, ``$`` (variable expansion) and backtick
    (command substitution) are escaped with a backslash (neomutt -Q reads back the value)."""
    return '"%s"' % _neomutt_escaped(_text("neomutt", value))


def neomutt_command_output(argv):
    """A neomutt string whose value is the output of a command (`` "`cat file`" ``): the command is quoted for
    the shell, then escaped like any neomutt string (neomutt unescapes inside the backticks too)."""
    return '"`%s`"' % _neomutt_escaped(shell(argv))


# ------------------------------------------------------------------------------------------------- GKeyFile

def keyfile(value):
    """A GLib key-file value (Evolution .source files): backslash is ``\\\\``, and the spaces at both ends are
    ``\\s`` (GLib drops leading blanks otherwise; a tab is a control character, refused before).
    GLib.KeyFile.get_string reads it back."""
    value = _text("keyfile", value).replace("\\", "\\\\")
    core = value.strip(" ")
    lead = len(value) - len(value.lstrip(" "))
    tail = len(value) - len(value.rstrip(" ")) if core else 0
    return "\\s" * lead + core + "\\s" * tail


# ------------------------------------------------------------------------------------------------- XML

# Characters XML 1.0 does not allow anywhere (production [2] Char), as a character class.
_XML_FORBIDDEN = re.compile(u"[^\\x09\\x0a\\x0d\\x20-\\ud7ff\\ue000-\\ufffd\\U00010000-\\U0010ffff]")


def xml(value):
    """Text or an attribute value in an XML 1.0 document (autoconfig, autodiscover, Apple plist): ``& < > " '``
    become entities; a character XML 1.0 forbids (U+FFFE, U+FFFF, ...) is refused. ElementTree, xmllint and
    plistlib read it back."""
    value = _text("xml", value)
    bad = _XML_FORBIDDEN.search(value)
    if bad:
        raise Unrepresentable("xml", value, "U+%04X cannot appear in an XML 1.0 document" % ord(bad.group(0)),
                              "remove that character")
    return (value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("'", "&apos;"))


def xml_comment(value):
    """Text inside ``<!-- -->``: no ``--`` and no trailing ``-`` (XML 1.0 [15]); other characters as in xml()."""
    value = xml(value)
    while "--" in value:
        value = value.replace("--", "- -")
    return value + " " if value.endswith("-") else value


def xml_scrub(text):
    """For text we do not control (server replies in the fleet report): every character XML 1.0 forbids
    becomes U+FFFD, so the document always parses; nothing is refused."""
    if text is None:
        return text
    return _XML_FORBIDDEN.sub(u"\ufffd", str(text))


# ------------------------------------------------------------------------------------------------- user.js

def userjs(value):
    """A value of Thunderbird's ``user_pref(name, value);``: booleans and integers as they are, strings as a
    double-quoted literal whose only escapes are ``\\"``, ``\\\\`` and ``\\uXXXX`` (json.dumps with ASCII
    output; Gecko's preference parser accepts exactly these, and refuses ``\\t`` and friends, which control
    character refusal keeps out)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(_text("userjs", value), ensure_ascii=True)


# ------------------------------------------------------------------------------------------------- JSON

def json_value(value):
    """A JSON value (strings, numbers, booleans, null, lists and objects of them), ASCII output: every string
    inside is checked like any other value."""
    def check(item):
        if isinstance(item, dict):
            for key, sub in item.items():
                _text("json", key)
                check(sub)
        elif isinstance(item, (list, tuple)):
            for sub in item:
                check(sub)
        elif isinstance(item, str):
            _text("json", item)
    check(value)
    return json.dumps(value, ensure_ascii=True, indent=2, sort_keys=True)


SYNTAXES = {
    "postfix": postfix,
    "postfix_expression": postfix_expression,
    "postfix_map": postfix_map,
    "postfix_regexp": postfix_regexp,
    "postfix_table_value": postfix_table_value,
    "msmtp": msmtp,
    "shell": shell,
    "neomutt": neomutt,
    "neomutt_command_output": neomutt_command_output,
    "keyfile": keyfile,
    "xml": xml,
    "xml_comment": xml_comment,
    "userjs": userjs,
    "json": json_value,
}


def quote(value, syntax, variable=None):
    """``SYNTAXES[syntax](value)``; an Unrepresentable error carries ``variable`` (the format variable or
    setting the value came from) so that the render step can name it."""
    try:
        function = SYNTAXES[syntax]
    except KeyError:
        raise ValueError("unknown syntax %r: use one of %s" % (syntax, ", ".join(sorted(SYNTAXES))))
    try:
        return function(value)
    except Unrepresentable as err:
        err.variable = variable
        raise
