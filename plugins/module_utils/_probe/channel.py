# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Deadline, socket channel and reply parsing of the smtp_check probe (standard library only).

- The whole probe has ONE deadline (``timeout`` seconds from its start).  Every blocking operation
  (resolver, connect, each recv/send, the TLS handshake) gets only the time that remains, so a
  black-holed port costs the timeout once, not once per stage.  The resolver runs in a helper thread
  so that it is bounded too.
- Our own line reader over a raw socket; TLS through ``ssl.SSLObject`` over memory BIOs, so that we
  see the raw bytes a server sends during a handshake (a ``220`` text banner means implicit TLS was
  attempted against a plain port) and every read is bounded by the deadline.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import socket
import ssl
import time

from ansible_collections.mailfleet.outlook.plugins.module_utils._diagnosis import parse_enhanced_code


SECURITY_MODES = ("starttls", "tls", "none")
PROTOCOLS = ("smtp", "imap", "pop")
MECHANISMS = ("auto", "login", "plain", "xoauth2")
TLS_VERSIONS = ("1.0", "1.1", "1.2", "1.3")
ADDRESS_FAMILIES = {"any": socket.AF_UNSPEC, "ipv4": socket.AF_INET, "ipv6": socket.AF_INET6}
MAX_WORKERS = 32

MAX_LINE = 4096          # longest reply line accepted (RFC 5321: 512)
MAX_REPLY_LINES = 200    # longest multi-line reply accepted
MAX_TEXT = 2000          # longest reply text kept in a result
QUIT_BUDGET = 1.0        # at most this long for a polite QUIT / LOGOUT

_ROUTING_ERRNOS = frozenset(e for e in (
    getattr(errno, "ENETUNREACH", None), getattr(errno, "EHOSTUNREACH", None),
    getattr(errno, "ENETDOWN", None), getattr(errno, "EHOSTDOWN", None),
    getattr(errno, "EADDRNOTAVAIL", None), getattr(errno, "EAFNOSUPPORT", None),
) if e is not None)
_RESET_ERRNOS = frozenset(e for e in (
    getattr(errno, "ECONNRESET", None), getattr(errno, "ECONNABORTED", None), getattr(errno, "EPIPE", None),
) if e is not None)

# OpenSSL reasons (SSLError.reason) that mean "the peer does not speak TLS here".


# --------------------------------------------------------------------------- errors and deadline

class _Timeout(Exception):
    """The deadline (or a shorter wait) passed while waiting for the server."""


class _Closed(Exception):
    """The server closed (or reset) the connection."""


class _BadReply(Exception):
    """The server sent bytes that are not a valid reply line."""

    def __init__(self, message, data=b""):
        Exception.__init__(self, message)
        self.data = data


class Deadline:
    """A point in (monotonic) time; every wait gets ``remaining()``."""

    def __init__(self, seconds):
        self.start = time.monotonic()
        self.end = self.start + float(seconds)

    def remaining(self):
        return self.end - time.monotonic()

    def until(self, seconds):
        """An absolute wait limit ``seconds`` from now, capped by the deadline."""
        return min(self.end, time.monotonic() + seconds)


# --------------------------------------------------------------------------- replies

class Reply:
    """A (possibly multi-line) SMTP reply."""

    def __init__(self, code, lines):
        self.code = code
        self.lines = lines
        self.enhanced = parse_enhanced_code(lines[0] if lines else "")

    @property
    def text(self):
        return "\n".join(self.lines)

    def as_dict(self):
        return {"code": self.code, "enhanced_code": self.enhanced, "text": _clip(self.text)}

    def __repr__(self):
        return "Reply(%r, %r)" % (self.code, self.lines)


def _printable(data, limit=200):
    """Bytes -> a safe, readable str (non-printables escaped), clipped."""
    if isinstance(data, bytes):
        text = data[:limit].decode("latin-1")
    else:
        text = data[:limit]
    out = []
    for ch in text:
        if ch in "\t" or " " <= ch <= "~":
            out.append(ch)
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\n":
            out.append("\\n")
        else:
            out.append("\\x%02x" % ord(ch))
    return "".join(out)


def _clip(text, limit=MAX_TEXT):
    if text is None:
        return None
    return text if len(text) <= limit else text[:limit] + "..."


def _decode_line(line):
    text = line.decode("utf-8", "replace")
    return "".join(ch if (ch == "\t" or ord(ch) >= 32) and ord(ch) != 127 else "?" for ch in text)


def parse_reply_line(raw):
    """One reply line (bytes, with or without CRLF) -> (code, is_last, text).  Raises _BadReply."""
    line = raw.rstrip(b"\r\n")
    if b"\r" in line or b"\x00" in line:
        raise _BadReply("control characters in a reply line", raw)
    if len(line) < 3 or not line[:3].isdigit():
        raise _BadReply("a reply line must start with a 3-digit code", raw)
    code = int(line[:3])
    if not 200 <= code <= 599:
        raise _BadReply("reply code %d is out of range" % code, raw)
    if len(line) == 3:
        return code, True, ""
    sep = line[3:4]
    if sep not in (b" ", b"-"):
        raise _BadReply("a reply code must be followed by a space or a hyphen", raw)
    return code, sep == b" ", _decode_line(line[4:])


# --------------------------------------------------------------------------- the channel

class Channel:
    """A socket with optional TLS (SSLObject over memory BIOs); every wait is bounded by the deadline."""

    def __init__(self, sock, deadline):
        self.sock = sock
        self.deadline = deadline
        self.buf = bytearray()
        self.tls = None
        self._in = None
        self._out = None
        self.received = 0          # raw bytes received
        self.handshake_raw = b""   # first raw bytes received during the TLS handshake

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    # raw I/O
    def _recv_raw(self, until=None):
        limit = self.deadline.end if until is None else min(until, self.deadline.end)
        wait = limit - time.monotonic()
        if wait <= 0:
            raise _Timeout()
        self.sock.settimeout(wait)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise _Timeout()
        except OSError as err:
            raise _Closed(os.strerror(err.errno) if err.errno else str(err))
        if not data:
            raise _Closed("the server closed the connection")
        self.received += len(data)
        return data

    def _send_raw(self, data):
        wait = self.deadline.remaining()
        if wait <= 0:
            raise _Timeout()
        self.sock.settimeout(wait)
        try:
            self.sock.sendall(data)
        except socket.timeout:
            raise _Timeout()
        except OSError as err:
            raise _Closed(os.strerror(err.errno) if err.errno else str(err))

    def _flush(self):
        data = self._out.read()
        if data:
            self._send_raw(data)

    # application data
    def send(self, data):
        if self.tls is None:
            self._send_raw(data)
            return
        try:
            self.tls.write(data)
        except ssl.SSLError as err:
            raise _Closed("TLS error: %s" % (err.reason or err,))
        self._flush()

    def fill(self, until=None):
        """Receive at least one more byte of application data into the buffer."""
        if self.tls is None:
            self.buf += self._recv_raw(until)
            return
        while True:
            try:
                data = self.tls.read(65536)
            except ssl.SSLWantReadError:
                self._flush()
                self._in.write(self._recv_raw(until))
                continue
            except ssl.SSLZeroReturnError:
                raise _Closed("the server closed the TLS session")
            except ssl.SSLError as err:
                raise _Closed("TLS error: %s" % (err.reason or err,))
            if not data:
                raise _Closed("the server closed the TLS session")
            self.buf += data
            return

    def readline(self, until=None):
        while True:
            idx = self.buf.find(b"\n")
            if idx >= 0:
                line = bytes(self.buf[:idx + 1])
                del self.buf[:idx + 1]
                return line
            if len(self.buf) > MAX_LINE:
                raise _BadReply("a reply line is longer than %d bytes" % MAX_LINE, bytes(self.buf[:200]))
            self.fill(until)

    def read_reply(self, until=None):
        """One complete SMTP reply (multi-line aware)."""
        lines = []
        first = None
        while True:
            code, last, text = parse_reply_line(self.readline(until))
            if first is None:
                first = code
            elif code != first:
                raise _BadReply("a multi-line reply changed its code from %d to %d" % (first, code))
            lines.append(text)
            if last:
                return Reply(first, lines)
            if len(lines) >= MAX_REPLY_LINES:
                raise _BadReply("a reply has more than %d lines" % MAX_REPLY_LINES)

    def start_tls(self, context, server_hostname):
        if self.buf:
            raise _BadReply("the server sent data after its STARTTLS answer, before the TLS handshake "
                            "(STARTTLS command injection risk); refusing to continue", bytes(self.buf[:200]))
        self._in = ssl.MemoryBIO()
        self._out = ssl.MemoryBIO()
        self.tls = context.wrap_bio(self._in, self._out, server_side=False, server_hostname=server_hostname)
        seen = bytearray()
        while True:
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self._flush()
                data = self._recv_raw()
                if len(seen) < 512:
                    seen += data[:512 - len(seen)]
                    self.handshake_raw = bytes(seen)
                self._in.write(data)
        self._flush()


# --------------------------------------------------------------------------- helpers
