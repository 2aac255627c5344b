# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""IMAP and POP logins of smtp_check, and the optional look into the mailbox (standard library only).

What a mailbox-polling application does (ticketing, archiving, scan-to-mailbox), on a connection the engine has
already secured with TLS:

- IMAP: ``AUTHENTICATE XOAUTH2`` (initial response when the server offers SASL-IR, else after the ``+``
  continuation) or ``LOGIN`` (quoted strings, or literals for anything a quoted string cannot carry);
  then, when asked, ``EXAMINE INBOX`` (the read-only SELECT: it changes no flag) and the message count.
- POP: ``AUTH XOAUTH2`` (the two-step form Microsoft documents) or ``USER`` / ``PASS``; then, when asked, ``STAT``.

Every refusal is classified by ``_diagnosis.classify_mailbox_reply`` (the table of Exchange Online's IMAP/POP
answers); the exception carries the server's line as ``answer`` for the result's ``reply``.
The engine passes a ``LineIO``: how to send bytes, read one line (each bounded by the probe's deadline), whether
TLS is active, and how to add a value to the result scrubber.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.mailfleet.outlook.plugins.module_utils._diagnosis import classify_mailbox_reply
from ansible_collections.mailfleet.outlook.plugins.module_utils._probe.errors import ProbeError
from ansible_collections.mailfleet.outlook.plugins.module_utils._probe.sasl import xoauth2_error, xoauth2_string

MAX_UNTAGGED = 1000   # untagged lines accepted while waiting for a tagged IMAP answer


class MailboxRefused(ProbeError):
    """A login or mailbox step refused by the server; ``answer`` is the server's line."""

    def __init__(self, code, detail=None, hint=None, answer=None):
        ProbeError.__init__(self, code, detail, hint)
        self.answer = answer


class LineIO:
    """The engine's side of the connection, as the logins need it."""

    def __init__(self, send, read_line, tls_active, add_secret):
        self.send = send                # bytes -> None
        self.read_line = read_line      # () -> str without CRLF
        self.tls_active = tls_active    # bool
        self.add_secret = add_secret    # str -> None (scrubbed from the result)
        self.tag = 0

    def send_line(self, text):
        self.send(text.encode("utf-8") + b"\r\n")

    def next_tag(self):
        self.tag += 1
        return "L%d" % self.tag


def _refuse(protocol, step, answer, extra=None):
    code, hint = classify_mailbox_reply(protocol, step, answer)
    detail = "The server answered: %s" % answer[:300]
    if extra:
        detail += " (%s)" % extra
    raise MailboxRefused(code, detail, hint=hint, answer=answer)


def _precheck(io, auth):
    if auth.get("token_error"):
        raise ProbeError("auth_failed", "No access token: %s" % auth["token_error"])
    if not io.tls_active and not auth.get("allow_plaintext"):
        raise ProbeError("auth_not_offered", "Refusing to send credentials without TLS.")


def _mechanism(auth):
    """xoauth2 (a token) or password: for IMAP and POP, login and plain both mean the protocol's password login."""
    mech = auth.get("mechanism") or "auto"
    if mech == "xoauth2" or (mech == "auto" and auth.get("oauth2_token")):
        return "xoauth2"
    return "password"


# --------------------------------------------------------------------------- IMAP

_SAFE_QUOTED = re.compile(r"[\x20-\x7e]*")  # fullmatch: with "$" a trailing newline would end the command


def _imap_tagged(io, tag, on_continuation=None):
    """Read until the tagged answer of ``tag``; returns (status text after the tag, untagged lines)."""
    untagged = []
    for _i in range(MAX_UNTAGGED):
        line = io.read_line()
        if line.startswith(tag + " "):
            return line[len(tag) + 1:], untagged
        if line.startswith("+") and on_continuation is not None:
            on_continuation(line[1:].strip())
            continue
        if line.upper().startswith("* BYE"):
            raise ProbeError("connection_closed", "(the server ended the session: %s)" % line[:300])
        untagged.append(line)
    raise ProbeError("protocol_error", "no tagged answer to %s after %d lines" % (tag, MAX_UNTAGGED))


def _is_ok(status):
    return status.upper().startswith("OK")


def _imap_string(value):
    """``value`` as an IMAP astring: (inline text, literal bytes or None). Quoted when it can be, else a literal."""
    if _SAFE_QUOTED.fullmatch(value):
        quoted = '"%s"' % value.replace("\\", "\\\\").replace('"', '\\"')
        return quoted, None
    data = value.encode("utf-8")
    return "{%d}" % len(data), data


def _imap_login(io, tag, auth):
    user, password = auth["username"], auth["password"]
    parts = [_imap_string(user), _imap_string(password)]
    io.add_secret(parts[1][0])  # the escaped form is not the raw secret: scrub it too
    # LOGIN <user> <password>, each part either inline or a synchronizing literal (wait for "+").
    pending = "%s LOGIN " % tag
    for index, (inline, literal) in enumerate(parts):
        pending += inline
        if literal is None:
            pending += " " if index == 0 else ""
            continue
        io.send_line(pending)
        line = io.read_line()
        if not line.startswith("+"):
            _refuse("imap", "login", line[len(tag) + 1:] if line.startswith(tag + " ") else line)
        io.send(literal)
        pending = " " if index == 0 else ""
    io.send_line(pending)
    status, _untagged = _imap_tagged(io, tag)
    if not _is_ok(status):
        _refuse("imap", "login", status)


def imap_login(io, capabilities, auth):
    """Log in; returns the result fields (``auth_mechanism``). Raises ProbeError / MailboxRefused."""
    _precheck(io, auth)
    caps = set(cap.upper() for cap in capabilities)
    tag = io.next_tag()
    if _mechanism(auth) == "password":
        if "LOGINDISABLED" in caps:
            raise ProbeError("auth_not_offered", "(the server advertises LOGINDISABLED: no password login on this "
                                                 "connection)")
        _imap_login(io, tag, auth)
        return {"auth_mechanism": "LOGIN"}
    if caps and "AUTH=XOAUTH2" not in caps:
        raise ProbeError("auth_not_offered", "(requested XOAUTH2; the server offers %s)"
                         % (" ".join(sorted(c[5:] for c in caps if c.startswith("AUTH="))) or "no SASL mechanism"))
    blob = xoauth2_string(auth["username"], auth["oauth2_token"])
    io.add_secret(blob)
    errors = []

    def continuation(text):
        if not sent[0]:
            sent[0] = True
            io.send_line(blob)
            return
        errors.append(xoauth2_error(text) or text[:200])
        io.send_line("")   # answer the error challenge with an empty response; the tagged NO follows

    sent = [False]
    if "SASL-IR" in caps:
        sent[0] = True
        io.send_line("%s AUTHENTICATE XOAUTH2 %s" % (tag, blob))
    else:
        io.send_line("%s AUTHENTICATE XOAUTH2" % tag)
    status, _untagged = _imap_tagged(io, tag, on_continuation=continuation)
    if not _is_ok(status):
        _refuse("imap", "xoauth2", status, "XOAUTH2 error: %s" % errors[0] if errors and errors[0] else None)
    return {"auth_mechanism": "XOAUTH2"}


def imap_examine(io, mailbox="INBOX"):
    """EXAMINE (read-only SELECT) the mailbox; returns ``{name, messages, read_only}``."""
    tag = io.next_tag()
    io.send_line("%s EXAMINE %s" % (tag, mailbox))
    status, untagged = _imap_tagged(io, tag)
    if not _is_ok(status):
        _refuse("imap", "open", status)
    messages = None
    for line in untagged:
        match = re.match(r"^\* (\d+) EXISTS\b", line, re.IGNORECASE)
        if match:
            messages = int(match.group(1))
    return {"name": mailbox, "messages": messages, "read_only": True}


# --------------------------------------------------------------------------- POP

def _pop_status(io):
    line = io.read_line()
    if line.startswith("+OK"):
        return True, line
    if line.startswith("-ERR"):
        return False, line[4:].strip()
    return None, line


def _pop_expect(io, step):
    ok, text = _pop_status(io)
    if ok is None:
        raise ProbeError("protocol_error", "Not a POP3 status line: %r" % text[:120])
    if not ok:
        _refuse("pop", step, text)
    return text


def pop_login(io, capabilities, auth):
    """Log in; returns the result fields (``auth_mechanism``). ``capabilities``: the CAPA answer ({} if unknown)."""
    _precheck(io, auth)
    if _mechanism(auth) == "password":
        if capabilities and "USER" not in capabilities:
            raise ProbeError("auth_not_offered", "(the server's CAPA has no USER: no password login)")
        if any(ord(ch) < 32 for ch in auth["password"]):
            raise ProbeError("auth_failed", "The password contains control characters: POP3 PASS cannot carry them.")
        io.send_line("USER %s" % auth["username"])
        _pop_expect(io, "login")
        io.send_line("PASS %s" % auth["password"])
        _pop_expect(io, "login")
        return {"auth_mechanism": "USER"}
    sasl = (capabilities.get("SASL") or "").upper().split()
    if capabilities and "XOAUTH2" not in sasl:
        raise ProbeError("auth_not_offered", "(requested XOAUTH2; the server offers %s)"
                         % (" ".join(sasl) or "no SASL mechanism"))
    blob = xoauth2_string(auth["username"], auth["oauth2_token"])
    io.add_secret(blob)
    io.send_line("AUTH XOAUTH2")
    line = io.read_line()
    if not line.startswith("+"):
        ok, text = (True, line) if line.startswith("+OK") else (False, line[4:].strip() if line.startswith("-ERR") else line)
        if not ok:
            _refuse("pop", "xoauth2", text)
    io.send_line(blob)
    line = io.read_line()
    extra = None
    if line.startswith("+") and not line.startswith("+OK"):
        extra = xoauth2_error(line[1:].strip()) or line[1:200].strip()
        io.send_line("")
        line = io.read_line()
    if line.startswith("+OK"):
        return {"auth_mechanism": "XOAUTH2"}
    if line.startswith("-ERR"):
        _refuse("pop", "xoauth2", line[4:].strip(), "XOAUTH2 error: %s" % extra if extra else None)
    raise ProbeError("protocol_error", "Not a POP3 answer to AUTH: %r" % line[:120])


def pop_stat(io):
    """STAT; returns ``{messages, octets}``."""
    io.send_line("STAT")
    text = _pop_expect(io, "open")
    match = re.match(r"^\+OK\s+(\d+)\s+(\d+)", text)
    if not match:
        raise ProbeError("protocol_error", "STAT answered without a message count: %r" % text[:120])
    return {"messages": int(match.group(1)), "octets": int(match.group(2))}
