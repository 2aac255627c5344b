# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Proxies for smtp_check: proxy URLs, and the SOCKS5 / HTTP CONNECT tunnel a probe opens in its deadline.

URLs (one home for their rules; the client formats parse them here too):

- ``socks5h://[user@]host[:port]``: SOCKS5 (RFC 1928), the proxy resolves the mail server's name (remote DNS;
  what a corporate network without outside DNS needs). Default port 1080.
- ``socks5://[user@]host[:port]``: SOCKS5, this host resolves the name and sends the address (curl's meaning).
- ``http://[user@]host[:port]``: an HTTP proxy's CONNECT method (RFC 9110 section 9.3.6), the proxy resolves the
  name; Basic proxy authentication (RFC 7617). Default port 3128.

The password never goes into the URL (an error says so): it is a separate secret (``proxy_password``), sent with
the SOCKS username/password method (RFC 1929) or as ``Proxy-Authorization: Basic``.

``negotiate()`` runs on a socket already connected to the proxy: every read and write gets only the time left
until the probe's deadline. It raises ``ProbeError`` with a proxy code (``proxy_timeout``, ``proxy_auth_required``,
``proxy_auth_failed``, ``proxy_denied``, ``proxy_target_failed``, ``proxy_protocol_error``) or ``connect_timeout``
when the proxy accepted the request and the destination never answered it. When it returns, the socket is a
tunnel to the destination: the mail session (and its TLS, verified against the mail server's name) runs inside.

Standard library only: this file runs on targets.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import ipaddress
import re
import socket
import struct

try:
    from urllib.parse import unquote, urlsplit
except ImportError:  # pragma: no cover - Python 2 is not supported
    from urlparse import urlsplit  # pylint: disable=import-error
    from urllib import unquote  # pylint: disable=no-name-in-module

from ansible_collections.mailfleet.outlook.plugins.module_utils._probe.errors import ProbeError

SCHEMES = ("socks5h", "socks5", "http")
DEFAULT_PORTS = {"socks5h": 1080, "socks5": 1080, "http": 3128}
DIRECT = "direct"          # an endpoint's ``proxy: direct`` bypasses the call's proxy
MAX_HEAD = 16384           # longest HTTP answer head accepted from a proxy

_REFUSED_SCHEMES = {
    "https": "a TLS connection to the proxy itself is not supported; use http:// (CONNECT): the mail session inside "
             "the tunnel is still protected by its own TLS, verified against the mail server's certificate",
    "socks4": "SOCKS4 has no user/password authentication and no IPv6; use socks5h:// (the proxy resolves names)",
    "socks4a": "SOCKS4a has no user/password authentication; use socks5h:// (the proxy resolves names)",
    "socks": "name the SOCKS version: socks5h:// (the proxy resolves names) or socks5:// (this host resolves them)",
}
_DOMAIN = re.compile(r"(?=.{1,253}\Z)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?")

# The engine's codes for a failed TCP connect, when it is the connect to the proxy.
CONNECT_CODES = {
    "connect_timeout": "proxy_timeout",
    "connect_refused": "proxy_refused",
    "network_unreachable": "proxy_unreachable",
    "connection_closed": "proxy_refused",
}

# SOCKS5 reply field (RFC 1928 section 6) -> (diagnosis code, meaning).
SOCKS_REPLIES = {
    0x01: ("proxy_target_failed", "general SOCKS server failure"),
    0x02: ("proxy_denied", "connection not allowed by ruleset"),
    0x03: ("proxy_target_failed", "network unreachable (from the proxy)"),
    0x04: ("proxy_target_failed", "host unreachable (from the proxy; also the proxy's answer when it cannot resolve the name)"),
    0x05: ("proxy_target_failed", "connection refused by the destination"),
    0x06: ("proxy_target_failed", "TTL expired (the destination did not answer the proxy in time)"),
    0x07: ("proxy_protocol_error", "command not supported (the proxy does not allow CONNECT)"),
    0x08: ("proxy_protocol_error", "address type not supported"),
}


def _masked(value):
    """A proxy URL for an error message: any password in it replaced by ********."""
    return re.sub(r"(://[^:/@\s]*:)[^@/\s]*@", r"\1********@", value)


def _bad(variable, value, problem, fix):
    return ValueError("%s=%r: %s. Fix: %s" % (variable, _masked(value) if isinstance(value, str) else value, problem, fix))


def _check_credential(variable, value, what, scheme):
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise ValueError("%s: the proxy %s contains control characters. Fix: give it on one line" % (variable, what))
    if len(value.encode("utf-8")) > 255 and scheme.startswith("socks"):
        raise ValueError("%s: the proxy %s is longer than 255 bytes, the SOCKS5 limit (RFC 1929). Fix: use a shorter "
                         "one" % (variable, what))


def parse_proxy(value, password=None, variable="proxy", password_variable="proxy_password"):
    """A proxy URL (+ its password) -> the proxy dict; raises ValueError naming the variable, the value and the fix.

    Returns ``{scheme, host, port, username, password, remote_dns, url}``; ``url`` is the URL without user
    information (what results and reports show). ``None``, ``""`` and ``"direct"`` give ``None`` (no proxy).
    """
    if value is None or value == "" or value == DIRECT:
        if password:
            raise ValueError("%s is set but %s is not: the password would go nowhere. Fix: give the proxy URL in %s, "
                             "or remove %s" % (password_variable, variable, variable, password_variable))
        return None
    if not isinstance(value, str):
        raise _bad(variable, value, "not a URL string", "give it like socks5h://proxy.example.net:1080 or "
                                                        "http://proxy.example.net:3128")
    if any(ord(ch) <= 32 or ord(ch) == 127 for ch in value):
        raise _bad(variable, value, "spaces or control characters in the URL", "give the URL alone, on one line")
    if "://" not in value:
        raise _bad(variable, value, "no scheme", "write socks5h://%s (SOCKS5, the proxy resolves names) or http://%s "
                                                 "(HTTP CONNECT)" % (value, value))
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as err:
        raise _bad(variable, value, "not a valid URL (%s)" % err, "give it like socks5h://proxy.example.net:1080")
    scheme = parts.scheme.lower()
    if scheme in _REFUSED_SCHEMES:
        raise _bad(variable, value, "scheme %s:// is not supported: %s" % (scheme, _REFUSED_SCHEMES[scheme]),
                   "use socks5h://, socks5:// or http://")
    if scheme not in SCHEMES:
        raise _bad(variable, value, "scheme %s:// is not a proxy this module speaks" % scheme,
                   "use socks5h:// (SOCKS5, the proxy resolves names), socks5:// (this host resolves them) or http:// "
                   "(HTTP CONNECT)")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise _bad(variable, value, "a proxy URL has no path, query or fragment", "give only scheme://[user@]host:port")
    if parts.password is not None:
        raise ValueError("%s=%r: the URL carries a password. Fix: put the password in %s (a secret: it is never shown); "
                         "keep only the user name in the URL" % (variable, _masked(value), password_variable))
    host = parts.hostname or ""
    literal = False
    try:
        ipaddress.ip_address(host)
        literal = True
    except ValueError:
        pass
    if not host or not (literal or _DOMAIN.fullmatch(host)):  # fullmatch: "$" accepted a trailing newline
        raise _bad(variable, value, "no valid proxy host name or address", "give it like socks5h://proxy.example.net:1080")
    if port is None:
        port = DEFAULT_PORTS[scheme]
    if not 0 < port < 65536:
        raise _bad(variable, value, "port %d is out of range" % port, "give the proxy's port (1 to 65535)")
    username = unquote(parts.username) if parts.username else None
    if username is not None:
        _check_credential(variable, username, "user name", scheme)
        if scheme == "http" and ":" in username:
            raise _bad(variable, value, "an HTTP Basic user name cannot contain ':'", "use the proxy user name without ':'")
    if password is not None and not isinstance(password, str):
        raise ValueError("%s: not a string. Fix: give the proxy password as a string" % password_variable)
    if password:
        if username is None:
            raise ValueError("%s is set but the proxy URL %s=%r has no user name. Fix: give the user in the URL, like "
                             "%s://USER@%s:%d" % (password_variable, variable, _masked(value), scheme, host, port))
        _check_credential(password_variable, password, "password", scheme)
    return {
        "scheme": scheme,
        "host": host,
        "port": port,
        "username": username,
        "password": password or None,
        "remote_dns": scheme != "socks5",
        "url": proxy_label(scheme, host, port),
    }


def proxy_label(scheme, host, port):
    """``scheme://host:port`` (IPv6 literals in brackets): the proxy as results and reports show it."""
    return "%s://%s:%d" % (scheme, "[%s]" % host if ":" in host else host, port)


def proxy_secrets(spec):
    """The values of a proxy dict that must never appear in a result (the password and its encoded forms)."""
    if not spec or not spec.get("password"):
        return []
    password = spec["password"]
    values = [password, base64.b64encode(password.encode("utf-8")).decode("ascii")]
    if spec.get("username") is not None:
        values.append(_basic_credentials(spec))
    return values


def _basic_credentials(spec):
    pair = "%s:%s" % (spec["username"], spec.get("password") or "")
    return base64.b64encode(pair.encode("utf-8")).decode("ascii")


# --------------------------------------------------------------------------- I/O bounded by the deadline

def _without_secrets(data, spec):
    """A proxy's answer with the proxy password (and its encoded forms) cut out, before anything is clipped."""
    for secret in sorted(proxy_secrets(spec), key=len, reverse=True):
        data = data.replace(secret.encode("utf-8"), b"********")
    return data


def _printable(data, limit=120, spec=None):
    if spec is not None:
        data = _without_secrets(data, spec)
    text = data[:limit].decode("latin-1")
    return "".join(ch if " " <= ch <= "~" else "\\x%02x" % ord(ch) for ch in text)


class _Wire:
    """Reads and writes on the proxy socket, each bounded by the probe's deadline.

    ``phase`` says what a timeout or a close means at this point of the negotiation.
    """

    def __init__(self, sock, deadline, spec, target):
        self.sock = sock
        self.deadline = deadline
        self.spec = spec
        self.target = target
        self.phase = "greeting"
        self.received = 0

    def _wait(self):
        left = self.deadline.remaining()
        if left <= 0:
            raise self._timeout()
        self.sock.settimeout(left)

    def _timeout(self):
        if self.phase == "connect":
            return ProbeError(
                "connect_timeout",
                "(through %s: the proxy accepted the request for %s but did not report a connection before the "
                "deadline)" % (self.spec["url"], self.target),
                hint="The proxy accepted the request, then got no answer from %s: the network behind the proxy (or the "
                     "proxy's own rules) drops this destination port. Ask the proxy's administrators to allow it, or "
                     "use a port the proxy allows." % self.target)
        if self.phase == "greeting" and not self.received:
            return ProbeError("proxy_timeout", "(%s sent no answer to the SOCKS5 greeting before the deadline; an HTTP "
                                               "proxy waits like this: then use http://)" % self.spec["url"])
        return ProbeError("proxy_timeout", "(%s stopped answering during %s before the deadline)"
                          % (self.spec["url"], self.phase))

    def _closed(self, why):
        if self.phase == "greeting" and not self.received:
            return ProbeError("proxy_denied", "(%s closed the connection without answering: %s; its client rules may "
                                              "refuse this host)" % (self.spec["url"], why))
        if self.phase == "authentication":
            return ProbeError("proxy_auth_failed", "(%s closed the connection during authentication: %s)"
                              % (self.spec["url"], why))
        if self.phase == "connect" and self.spec["scheme"] == "http" and not self.received:
            return ProbeError("proxy_protocol_error", "(%s closed the connection without answering CONNECT: %s; a SOCKS "
                                                      "proxy does this: then use socks5h://)" % (self.spec["url"], why))
        if self.phase == "connect":
            return ProbeError("proxy_target_failed", "(%s closed the connection instead of answering the request for "
                                                     "%s: %s)" % (self.spec["url"], self.target, why))
        return ProbeError("proxy_protocol_error", "(%s closed the connection: %s)" % (self.spec["url"], why))

    def send(self, data):
        self._wait()
        try:
            self.sock.sendall(data)
        except socket.timeout:
            raise self._timeout()
        except OSError as err:
            raise self._closed(err.strerror or str(err))

    def recv(self, count, flags=0):
        self._wait()
        try:
            data = self.sock.recv(count, flags)
        except socket.timeout:
            raise self._timeout()
        except OSError as err:
            raise self._closed(err.strerror or str(err))
        if not data:
            raise self._closed("end of stream")
        if not flags:
            self.received += len(data)
        return data

    def exact(self, count):
        data = b""
        while len(data) < count:
            data += self.recv(count - len(data))
        return data


# --------------------------------------------------------------------------- SOCKS5

def _socks_address(host, address, remote_dns):
    """The SOCKS5 DST.ADDR with its ATYP for ``host`` (or the locally resolved ``address``)."""
    literal = address if (address and not remote_dns) else host
    try:
        ip = ipaddress.ip_address(literal.strip("[]"))
    except ValueError:
        ip = None
    if ip is not None:
        return (b"\x01" if ip.version == 4 else b"\x04") + ip.packed
    try:
        name = host.rstrip(".").encode("idna")
    except UnicodeError:
        raise ProbeError("proxy_protocol_error", "(the host name %r cannot be sent to a SOCKS5 proxy)" % host)
    if not 0 < len(name) < 256:
        raise ProbeError("proxy_protocol_error", "(the host name is too long for SOCKS5: %d bytes)" % len(name))
    return b"\x03" + struct.pack("B", len(name)) + name


def _not_socks(wire, head):
    if head[:5] == b"HTTP/" or head[:1] == b"H":
        return ProbeError("proxy_protocol_error", "(%s answered like an HTTP proxy: %r; use http:// for it)"
                          % (wire.spec["url"], _printable(head, spec=wire.spec)))
    return ProbeError("proxy_protocol_error", "(%s is not a SOCKS5 proxy: it answered %r)"
                      % (wire.spec["url"], _printable(head, spec=wire.spec)))


def _socks5(wire, host, port, address):
    spec = wire.spec
    methods = b"\x00\x02" if spec.get("username") is not None else b"\x00"
    wire.send(b"\x05" + struct.pack("B", len(methods)) + methods)
    head = wire.exact(2)
    if head[:1] != b"\x05":
        raise _not_socks(wire, head)
    method = head[1:2]
    if method == b"\xff":
        if spec.get("username") is None:
            raise ProbeError("proxy_auth_required", "(%s accepts no connection without authentication; give the proxy "
                                                    "user in the URL and its password in proxy_password)" % spec["url"])
        raise ProbeError("proxy_auth_required", "(%s accepts none of the offered methods: no authentication, "
                                                "username/password; it may want GSSAPI)" % spec["url"])
    if method == b"\x02":
        if spec.get("username") is None:
            raise ProbeError("proxy_protocol_error", "(%s chose username/password, which was not offered)" % spec["url"])
        wire.phase = "authentication"
        user = spec["username"].encode("utf-8")
        password = (spec.get("password") or "").encode("utf-8")
        wire.send(b"\x01" + struct.pack("B", len(user)) + user + struct.pack("B", len(password)) + password)
        status = wire.exact(2)
        if status[1:2] != b"\x00":
            raise ProbeError("proxy_auth_failed", "(%s refused the user %r: RFC 1929 status %d)"
                             % (spec["url"], spec["username"], bytearray(status)[1]))
    elif method != b"\x00":
        raise ProbeError("proxy_protocol_error", "(%s chose authentication method 0x%02x, which was not offered)"
                         % (spec["url"], bytearray(method)[0]))
    wire.phase = "connect"
    wire.send(b"\x05\x01\x00" + _socks_address(host, address, spec["remote_dns"]) + struct.pack(">H", port))
    reply = wire.exact(4)
    if reply[:1] != b"\x05":
        raise _not_socks(wire, reply)
    rep = bytearray(reply)[1]
    if rep != 0:
        code, meaning = SOCKS_REPLIES.get(rep, ("proxy_protocol_error", "unknown reply"))
        hint = None
        if rep == 0x08 and spec["remote_dns"]:
            hint = ("The proxy cannot resolve names for its clients: use socks5:// so that this host resolves the mail "
                    "server's name and sends the address.")
        raise ProbeError(code, "(%s for %s: SOCKS reply 0x%02x, %s)" % (spec["url"], wire.target, rep, meaning),
                         hint=hint)
    atyp = bytearray(reply)[3]
    if atyp == 1:
        wire.exact(4 + 2)
    elif atyp == 4:
        wire.exact(16 + 2)
    elif atyp == 3:
        wire.exact(bytearray(wire.exact(1))[0] + 2)
    else:
        raise ProbeError("proxy_protocol_error", "(%s sent an unknown address type %d)" % (spec["url"], atyp))


# --------------------------------------------------------------------------- HTTP CONNECT

_STATUS_LINE = re.compile(br"^HTTP/1\.[01] (\d{3})(?: ([^\r\n]*))?\r?\n")


def _read_head(wire):
    """The proxy's answer head (through the blank line), never a byte of the tunnel after it."""
    head = b""
    while True:
        peeked = wire.recv(4096, socket.MSG_PEEK)
        both = head + peeked
        if not b"HTTP/".startswith(both[:5]):
            wire.exact(min(len(peeked), 200))
            if both[:1] == b"\x05":
                what = "a SOCKS5 proxy's answer: use socks5h://"
            elif re.match(br"^(220|\* OK|\+OK)", both):
                what = "a mail server's greeting"
            else:
                what = "not HTTP"
            raise ProbeError("proxy_protocol_error", "(%s is not an HTTP proxy: it answered %r, %s)"
                             % (wire.spec["url"], _printable(both.split(b"\n", 1)[0].rstrip(b"\r"), spec=wire.spec),
                                what))
        end = -1
        for marker in (b"\r\n\r\n", b"\n\n"):
            found = both.find(marker)
            if found >= 0 and (end < 0 or found + len(marker) < end):
                end = found + len(marker)
        if end >= 0:
            return head + wire.exact(end - len(head))
        head += wire.exact(len(peeked))
        if len(head) > MAX_HEAD:
            raise ProbeError("proxy_protocol_error", "(%s sent an answer head longer than %d bytes)"
                             % (wire.spec["url"], MAX_HEAD))


def _authority(host, port):
    return "%s:%d" % ("[%s]" % host if ":" in host else host, port)


def _http_connect(wire, host, port):
    spec = wire.spec
    authority = _authority(host.strip("[]"), port)
    lines = ["CONNECT %s HTTP/1.1" % authority, "Host: %s" % authority, "User-Agent: mailfleet.outlook smtp_check"]
    if spec.get("username") is not None:
        lines.append("Proxy-Authorization: Basic %s" % _basic_credentials(spec))
    wire.phase = "connect"
    wire.send(("\r\n".join(lines) + "\r\n\r\n").encode("utf-8"))
    head = _read_head(wire)
    match = _STATUS_LINE.match(head)
    if not match:
        raise ProbeError("proxy_protocol_error", "(%s answered CONNECT with %r)"
                         % (spec["url"], _printable(head, spec=spec)))
    status = int(match.group(1))
    reason = _printable(match.group(2) or b"", 80, spec=spec)
    if 200 <= status < 300:
        return
    said = "(%s answered CONNECT %s with HTTP %d %s)" % (spec["url"], authority, status, reason)
    if status in (401, 407):
        if spec.get("username") is None:
            raise ProbeError("proxy_auth_required", said)
        raise ProbeError("proxy_auth_failed", said[:-1] + "; user %r)" % spec["username"])
    if status == 403:
        raise ProbeError("proxy_denied", said)
    if status in (500, 502, 503, 504):
        raise ProbeError("proxy_target_failed", said)
    raise ProbeError("proxy_protocol_error", said + (" (the proxy does not support CONNECT)" if status in (400, 405, 501)
                                                     else ""))


def negotiate(sock, spec, host, port, deadline, address=None):
    """Open the tunnel to ``host:port`` on ``sock`` (connected to the proxy ``spec``) before ``deadline``.

    ``address``: the destination's address resolved on this host (``socks5://`` only). Raises ``ProbeError``.
    """
    wire = _Wire(sock, deadline, spec, _authority(host, port))
    if spec["scheme"] == "http":
        _http_connect(wire, host, port)
    else:
        _socks5(wire, host, port, address)
