# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The probe engine of smtp_check: one probe per endpoint, one deadline per probe.

Design:

- A probe walks the stages ``dns``, ``connect``, then per security mode
  ``starttls``: ``banner``, ``ehlo``, ``starttls``, ``tls`` (handshake, certificate, EHLO again);
  ``tls`` (implicit): ``tls``, ``banner``, ``ehlo``; ``none``: ``banner``, ``ehlo``;
  then optionally ``auth`` and ``send``.  IMAP and POP endpoints use the same stages: the greeting is
  the ``banner``, CAPABILITY / CAPA is the ``ehlo`` stage, STARTTLS / STLS the ``starttls`` stage.
- The whole probe has ONE deadline (``timeout`` seconds from its start).  Every blocking operation
  (resolver, connect, each recv/send, the TLS handshake) gets only the time that remains, so a
  black-holed port costs the timeout once, not once per stage.  The resolver runs in a helper thread
  so that it is bounded too.
- Our own line reader over a raw socket; TLS through ``ssl.SSLObject`` over memory BIOs, so that we
  see the raw bytes a server sends during a handshake (a ``220`` text banner means implicit TLS was
  attempted against a plain port) and every read is bounded by the deadline.
- Credentials are only sent after TLS is established (unless ``allow_plaintext`` is set explicitly);
  a STARTTLS endpoint never falls back to plain text.  Results are scrubbed of every secret - also
  case-changed, percent-, JSON- or HTML-encoded and in base64 (``_oauth2.secret_pattern``) - before they leave
  the engine, and the server's replies to AUTH are never shown verbatim: only their plain words, numbers and
  URLs (``auth_reply_text``); anything else in them is ``[withheld]``.
- With ``auth.oauth2`` (client credentials) the token is fetched inside the probe's deadline, at the ``auth``
  stage (``TokenSource``: once for all endpoints of a call), so the timeout covers DNS, connect, TLS, the token
  request and SMTP together.

Heuristics (documented in docs/smtp_check.md):

- ``plain_on_tls_port``: on a plain/STARTTLS endpoint the probe waits for the first byte of the
  greeting for at most half of the remaining time.  If nothing comes, it tries a TLS handshake on a
  second connection with the rest of the time: success means the port expects implicit TLS
  (``plain_on_tls_port``); no answer means a tarpit (``banner_timeout``).  Greeting bytes that are a
  TLS record (0x15/0x16 0x03 ...) also mean ``plain_on_tls_port``.
- ``tls_on_plain_port``: on an implicit-TLS endpoint, the server's first raw bytes are text (a ``220``
  greeting) or OpenSSL reports a wrong version number / record layer failure.
- On a certificate verification failure, if time remains, a second connection without verification
  fetches the certificate so that the result shows its subject, SAN and dates.

Standard library only: this file runs on targets.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import email.policy
import email.utils
import errno
import ipaddress
import os
import re
import socket
import ssl
import tempfile
import threading
import time
import warnings
from email.message import EmailMessage

from ansible_collections.mailfleet.outlook.plugins.module_utils._diagnosis import (
    classify_reply,
    diagnosis,
    parse_enhanced_code,
)
from ansible_collections.mailfleet.outlook.plugins.module_utils._probe import mailbox, proxy
from ansible_collections.mailfleet.outlook.plugins.module_utils._probe.errors import ProbeError
from ansible_collections.mailfleet.outlook.plugins.module_utils._probe.sasl import (
    b64 as _b64,
    xoauth2_error as _xoauth2_error,
    xoauth2_string,
)
from ansible_collections.mailfleet.outlook.plugins.module_utils._oauth2 import OAuth2Error, fetch_token, secret_pattern

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
_NOT_TLS_REASONS = frozenset((
    "WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG", "HTTP_REQUEST",
    "UNKNOWN_PROTOCOL", "RECORD_LENGTH_MISMATCH",
))
# ... and "the peer only speaks TLS versions we do not accept".
_OLD_TLS_REASONS = frozenset((
    "UNSUPPORTED_PROTOCOL", "TLSV1_ALERT_PROTOCOL_VERSION", "NO_PROTOCOLS_AVAILABLE", "VERSION_TOO_LOW",
    "TLSV1_ALERT_INSUFFICIENT_SECURITY",
))
_VERSION_NAMES = {"1.0": "TLSv1", "1.1": "TLSv1.1", "1.2": "TLSv1.2", "1.3": "TLSv1.3"}
_VERSION_RANK = {"SSLv3": 0, "TLSv1": 1, "TLSv1.1": 2, "TLSv1.2": 3, "TLSv1.3": 4}
_X509_EXPIRED = (10,)          # certificate has expired
_X509_NOT_YET_VALID = (9,)     # certificate is not yet valid
_X509_HOSTNAME = (62, 63, 64)  # hostname / email / IP mismatch

_CERT_NAME_KEYS = {
    "commonName": "CN", "organizationName": "O", "organizationalUnitName": "OU", "countryName": "C",
    "localityName": "L", "stateOrProvinceName": "ST", "emailAddress": "emailAddress",
}


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

def default_ehlo_name(hosts_file="/etc/hosts", hostname_file="/etc/hostname"):
    """This host's FQDN without any network lookup (socket.getfqdn() may block on DNS)."""
    name = ""
    try:
        name = socket.gethostname() or ""
    except OSError:
        pass
    if not name:
        try:
            with open(hostname_file) as handle:
                name = handle.read().strip()
        except (IOError, OSError):
            name = ""
    if "." in name and _valid_domain(name):
        return name
    if name:
        try:
            with open(hosts_file) as handle:
                for line in handle:
                    tokens = line.split("#", 1)[0].split()
                    if len(tokens) < 2 or name not in tokens[1:]:
                        continue
                    for token in tokens[1:]:
                        if "." in token and not token.startswith("localhost") and _valid_domain(token):
                            return token
        except (IOError, OSError):
            pass
    if name and _valid_domain(name):
        return name
    return "localhost.localdomain"


_DOMAIN_RE = re.compile(r"(?=.{1,253}\Z)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?")


def _valid_domain(name):
    return bool(_DOMAIN_RE.fullmatch(name))  # fullmatch: "$" would accept a trailing newline (EHLO injection)


def make_tls_context(validate_certs=True, ca_path=None, min_tls_version="1.2", max_tls_version=None):
    """A client SSLContext: verification against ca_path (file or directory) or the system store."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if validate_certs:
        context.check_hostname = True
        context.verify_mode = ssl.CERT_REQUIRED
        if ca_path:
            if os.path.isdir(ca_path):
                context.load_verify_locations(capath=ca_path)
            else:
                context.load_verify_locations(cafile=ca_path)
        else:
            context.load_default_certs()
    else:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    _set_versions(context, min_tls_version, max_tls_version)
    return context


def _set_versions(context, version, maximum=None):
    versions = {
        "1.0": ssl.TLSVersion.TLSv1, "1.1": ssl.TLSVersion.TLSv1_1,  # pylint: disable=no-member
        "1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3,
    }
    with warnings.catch_warnings():
        # TLS 1.0/1.1 are deprecated in Python's ssl module; the user asked for them explicitly
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = versions[version]
        if maximum:
            context.maximum_version = versions[maximum]
    if version in ("1.0", "1.1"):
        # OpenSSL 3 security level 2 (Debian's default) refuses TLS 1.0/1.1 even when allowed above.
        try:
            context.set_ciphers("DEFAULT:@SECLEVEL=0")
        except ssl.SSLError:
            pass


def _detect_context():
    """An unverified context accepting any TLS version: only used to ask 'does this port speak TLS?'."""
    return make_tls_context(validate_certs=False, min_tls_version="1.0")


def _fmt_name(rdns):
    parts = []
    for rdn in rdns or ():
        for key, value in rdn:
            parts.append("%s=%s" % (_CERT_NAME_KEYS.get(key, key), value))
    return ",".join(parts)


def _decode_der(der):
    """DER certificate -> the dict getpeercert() would give, without verification (stdlib only)."""
    decoder = getattr(getattr(ssl, "_ssl", None), "_test_decode_cert", None)
    if decoder is None or not der:
        return None
    handle, path = tempfile.mkstemp(prefix="smtp_check-", suffix=".pem")
    try:
        with os.fdopen(handle, "w") as out:
            out.write(ssl.DER_cert_to_PEM_cert(der))
        return decoder(path)
    except Exception:  # pylint: disable=broad-except
        return None
    finally:
        try:
            os.unlink(path)
        except OSError:
            pass


def _san_value(kind, value):
    if kind == "IP Address":
        try:
            return ipaddress.ip_address(value.strip()).compressed
        except ValueError:
            return value.strip()
    return value


def cert_summary(cert, now=None):
    """getpeercert() dict -> {subject, issuer, san, not_before, not_after, days_left}."""
    if not cert:
        return None
    now = time.time() if now is None else now
    info = {
        "subject": _fmt_name(cert.get("subject")),
        "issuer": _fmt_name(cert.get("issuer")),
        "san": [_san_value(kind, value) for kind, value in cert.get("subjectAltName", ())],
        "not_before": None,
        "not_after": None,
        "days_left": None,
    }
    for key, field in (("notBefore", "not_before"), ("notAfter", "not_after")):
        if cert.get(key):
            try:
                stamp = ssl.cert_time_to_seconds(cert[key])
            except ValueError:
                continue
            info[field] = datetime.datetime.fromtimestamp(stamp, tz=datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            if key == "notAfter":
                info["days_left"] = int((stamp - now) // 86400)
    return info


def build_test_message(sender, recipients, subject, ehlo_name, endpoint_name):
    """The test message: Date, Message-ID, From, To, Subject, and a body saying what it is."""
    msg = EmailMessage(policy=email.policy.SMTP)
    domain = sender.rpartition("@")[2] if "@" in sender else ehlo_name
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Subject"] = subject
    msg["Date"] = email.utils.formatdate(localtime=True)
    msg["Message-ID"] = email.utils.make_msgid(idstring="mailfleet", domain=domain)
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Mailer"] = "mailfleet.outlook smtp_check"
    msg.set_content(
        "This is a mailfleet test message.\n\n"
        "It was sent by the Ansible module mailfleet.outlook.smtp_check\n"
        "from host: %s\n"
        "through endpoint: %s\n\n"
        "It proves that this host can submit mail. No action is needed;\n"
        "you may delete it.\n" % (ehlo_name, endpoint_name)
    )
    return msg["Message-ID"], msg.as_bytes()


def dot_stuff(data):
    """CRLF-normalise and dot-stuff a message for DATA, with the terminating '.' line."""
    lines = data.replace(b"\r\n", b"\n").split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    out = [b"." + line if line.startswith(b".") else line for line in lines]
    return b"\r\n".join(out) + b"\r\n.\r\n"


class Redactor:
    """Replaces every secret, and the base64 forms the probe sent, with '********' - in any letter case and
    percent-, JSON- or HTML-encoded too (a server may echo a secret back changed)."""

    def __init__(self, secrets=()):
        self.values = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)
        self.pattern = secret_pattern(self.values)

    def add(self, value):
        # copy-on-write: probes of other endpoints may be scrubbing with the old pattern right now
        if value and len(value) >= 4 and value not in self.values:
            values = sorted(set(self.values) | {value}, key=len, reverse=True)
            self.pattern, self.values = secret_pattern(values), values

    def text(self, value):
        pattern = self.pattern
        return pattern.sub("********", value) if pattern is not None and value else value

    def scrub(self, obj):
        if not self.values:
            return obj
        if isinstance(obj, str):
            return self.text(obj)
        if isinstance(obj, dict):
            return dict((k, self.scrub(v)) for k, v in obj.items())
        if isinstance(obj, (list, tuple)):
            return [self.scrub(v) for v in obj]
        return obj


# Words of a reply to AUTH that a result may show: plain words, numbers and status codes, and http(s) URLs
# without user, query or fragment (Microsoft's answers point to aka.ms pages), each maybe as ``name=value``. Anything else - a token, a
# base64 blob, a server id - could be a credential echoed back in a form we cannot recognise.
_SHOWN_WORD = re.compile(
    r"[(\[\"']*(?:[A-Za-z_]{1,40}=)?"
    r"(?:[A-Za-z]+(?:['-][A-Za-z]+)*|\d+(?:[.:/-]\d+)*|https?://[A-Za-z0-9.-]+(?:/[A-Za-z0-9._~/-]*)?)"
    r"[)\]\"'.,;:!?]*")
WITHHELD = "[withheld]"


def auth_reply_text(text):
    """A reply to AUTH as a result shows it: each word that is not a plain word, number or URL (see
    _SHOWN_WORD) becomes [withheld]; line breaks of a multi-line reply are kept."""
    if not text:
        return text
    lines = []
    for line in text.split("\n"):
        words = [w if _SHOWN_WORD.fullmatch(w) else WITHHELD for w in line.split()]
        lines.append(" ".join(words))
    return "\n".join(lines)


class TokenSource:
    """The client-credentials token of ``auth.oauth2``, fetched once for every endpoint of a call, inside the
    deadline of the probe that needs it first (others wait for it within their own deadlines). A timeout is
    not kept: the next probe that needs the token tries with its own time."""

    def __init__(self, token_url, client_id, client_secret, scope, ca_file=None, validate_certs=True,
                 client_certificate=None, client_key=None):
        self.request = dict(token_url=token_url, client_id=client_id, client_secret=client_secret, scope=scope,
                            client_certificate=client_certificate, client_key=client_key,
                            ca_file=ca_file, validate_certs=validate_certs)
        self.secret = client_secret
        self.token = None
        self.error = None
        self.elapsed_ms = None
        self._lock = threading.Lock()

    def get(self, deadline):
        """The access token, or raises OAuth2Error (``timed_out`` when the deadline ended the wait)."""
        if not self._lock.acquire(timeout=max(0.0, deadline.remaining())):
            raise OAuth2Error("No access token: another probe's token request did not finish within the deadline.",
                              timed_out=True)
        try:
            if self.token is None and self.error is None:
                started = time.monotonic()
                try:
                    self.token = fetch_token(deadline=deadline.end, **self.request)["access_token"]
                except OAuth2Error as err:
                    if not err.timed_out:
                        self.error = err
                    raise
                finally:
                    self.elapsed_ms = int(round((time.monotonic() - started) * 1000))
            if self.error is not None:
                raise self.error
            return self.token
        finally:
            self._lock.release()


# --------------------------------------------------------------------------- options

DEFAULTS = {
    "timeout": 10.0,
    "validate_certs": True,
    "ca_path": None,
    "min_tls_version": "1.2",
    "max_tls_version": None,
    "ehlo_name": None,
    "address_family": "any",
    "auth": None,
    "send": None,
    "cert_expiry_warn_days": 21,
    "check_mode": False,
    "proxy": None,            # a proxy URL for every endpoint (an endpoint's own ``proxy`` wins); see _probe/proxy.py
    "proxy_password": None,
}


def normalize_options(options):
    """Fill defaults and check option consistency; raises ValueError with a readable message."""
    opts = dict(DEFAULTS)
    opts.update(dict((k, v) for k, v in (options or {}).items() if v is not None))
    opts["proxy"] = proxy.parse_proxy(opts["proxy"], opts.pop("proxy_password"))
    opts["timeout"] = float(opts["timeout"])
    if not opts["timeout"] > 0:  # pylint: disable=unnecessary-negation  # "not >" also rejects NaN
        raise ValueError("timeout must be a positive number of seconds, got %r" % (options.get("timeout"),))
    if opts["min_tls_version"] not in TLS_VERSIONS:
        raise ValueError("min_tls_version must be one of %s, got %r" % (", ".join(TLS_VERSIONS), opts["min_tls_version"]))
    if opts["max_tls_version"] is not None:
        if opts["max_tls_version"] not in TLS_VERSIONS:
            raise ValueError("max_tls_version must be one of %s, got %r" % (", ".join(TLS_VERSIONS), opts["max_tls_version"]))
        if TLS_VERSIONS.index(opts["max_tls_version"]) < TLS_VERSIONS.index(opts["min_tls_version"]):
            raise ValueError("max_tls_version %s is below min_tls_version %s" % (opts["max_tls_version"], opts["min_tls_version"]))
    if opts["address_family"] not in ADDRESS_FAMILIES:
        raise ValueError("address_family must be one of any, ipv4, ipv6, got %r" % (opts["address_family"],))
    if not opts["ehlo_name"]:
        opts["ehlo_name"] = default_ehlo_name()
    elif not (_valid_domain(opts["ehlo_name"]) or re.fullmatch(r"\[[0-9A-Fa-f:.Iv]+\]", opts["ehlo_name"])):
        raise ValueError("ehlo_name must be a domain name or an address literal like [192.0.2.1], got %r" % (opts["ehlo_name"],))
    auth = opts.get("auth")
    if auth:
        auth = dict(auth)
        auth.setdefault("mechanism", "auto")
        auth["mechanism"] = (auth.get("mechanism") or "auto").lower()
        if auth["mechanism"] not in MECHANISMS:
            raise ValueError("auth.mechanism must be one of %s, got %r" % (", ".join(MECHANISMS), auth["mechanism"]))
        if not auth.get("username"):
            raise ValueError("auth.username is required for AUTH (the full mailbox address)")
        if any(ord(ch) < 32 or ord(ch) == 127 or ch == " " for ch in auth["username"]):
            raise ValueError("auth.username %r contains spaces or control characters: give the mailbox address"
                             % (auth["username"],))
        has_secret = any((auth.get("password"), auth.get("oauth2_token"), auth.get("token_error"),
                          auth.get("token_source") is not None))
        if not has_secret:
            raise ValueError("auth needs password, oauth2_token or oauth2 (client credentials)")
        if auth.get("password") and auth.get("oauth2_token"):
            raise ValueError("auth takes password or oauth2_token, not both")
        if auth.get("token_source") is not None and (auth.get("password") or auth.get("oauth2_token")):
            raise ValueError("auth takes oauth2 (client credentials) or password or oauth2_token, not two of them")
        if auth["mechanism"] == "xoauth2" and auth.get("password"):
            raise ValueError("auth.mechanism xoauth2 needs oauth2_token or oauth2, not password")
        if auth["mechanism"] in ("login", "plain") and not auth.get("password"):
            raise ValueError("auth.mechanism %s needs auth.password" % auth["mechanism"])
        auth["allow_plaintext"] = bool(auth.get("allow_plaintext"))
        auth["open_mailbox"] = bool(auth.get("open_mailbox"))
        opts["auth"] = auth
    send = opts.get("send")
    if send:
        send = dict(send)
        if not send.get("sender"):
            send["sender"] = (auth or {}).get("username")
        if not send.get("sender"):
            raise ValueError("send.sender is required when auth.username is not given")
        send["recipients"] = list(send.get("recipients") or [send["sender"]])
        for address in [send["sender"]] + send["recipients"]:
            if any(ch in address for ch in "<>\r\n ") or "@" not in address:
                raise ValueError("send: %r is not a plain mail address (user@domain)" % (address,))
        send["subject"] = send.get("subject") or "mailfleet test message"
        if "\r" in send["subject"] or "\n" in send["subject"]:
            raise ValueError("send.subject must be a single line")
        opts["send"] = send
    return opts


def normalize_endpoint(endpoint, index=0, opts=None):
    """Check one endpoint dict; fill name, protocol and security defaults, its proxy and whether it logs in.

    ``proxy``: the endpoint's own proxy URL (with its ``proxy_password``), ``direct`` for none, or absent for the
    call's (``opts["proxy"]``, already parsed). ``auth``: false skips the login on this endpoint.
    """
    ep = dict(endpoint or {})
    if not ep.get("host"):
        raise ValueError("endpoint %d: host is required" % (index + 1))
    try:
        ep["port"] = int(ep.get("port"))
    except (TypeError, ValueError):
        raise ValueError("endpoint %s: port must be a number, got %r" % (ep.get("host"), ep.get("port")))
    if not 0 < ep["port"] < 65536:
        raise ValueError("endpoint %s: port %d is out of range" % (ep["host"], ep["port"]))
    ep["protocol"] = (ep.get("protocol") or "smtp").lower()
    if ep["protocol"] not in PROTOCOLS:
        raise ValueError("endpoint %s: protocol must be one of smtp, imap, pop, got %r" % (ep["host"], ep["protocol"]))
    if not ep.get("security"):
        ep["security"] = "starttls" if ep["protocol"] == "smtp" else "tls"
    ep["security"] = ep["security"].lower()
    if ep["security"] not in SECURITY_MODES:
        raise ValueError("endpoint %s: security must be one of starttls, tls, none, got %r" % (ep["host"], ep["security"]))
    if not ep.get("name"):
        ep["name"] = "%s:%d" % (ep["host"], ep["port"])
    password = ep.pop("proxy_password", None)
    if ep.get("proxy") is None:
        if password:
            raise ValueError("endpoint %s: proxy_password is set without the endpoint's own proxy (the call's proxy "
                             "takes the call's proxy_password)" % ep["name"])
        ep["proxy"] = (opts or {}).get("proxy")
    else:
        ep["proxy"] = proxy.parse_proxy(ep["proxy"], password, variable="endpoint %s: proxy" % ep["name"],
                                        password_variable="endpoint %s: proxy_password" % ep["name"])
    ep["auth"] = ep.get("auth") is not False
    return ep


def check_plaintext_auth(endpoints, opts):
    """Refuse (before connecting) AUTH on a security=none SMTP endpoint unless allow_plaintext is set."""
    auth = opts.get("auth")
    if not auth or auth.get("allow_plaintext"):
        return
    for ep in endpoints:
        if ep["security"] == "none" and ep.get("auth", True):
            raise ValueError(
                "endpoint %s has security none: auth would send the credentials in plain text. Use starttls or "
                "tls, or set auth.allow_plaintext: true if you really mean it." % ep["name"])


# --------------------------------------------------------------------------- the probe

class EndpointProbe:
    """Probe one endpoint; ``run()`` returns the result dict (never raises)."""

    def __init__(self, endpoint, opts, redactor=None, deadline=None, cert_only=False):
        self.ep = endpoint
        self.opts = opts
        self.redactor = redactor or Redactor()
        self.deadline = deadline or Deadline(opts["timeout"])
        self.cert_only = cert_only  # stop after the TLS handshake (the certificate second look)
        self.channel = None
        self.current = None
        self.stage_started = None
        self.last_reply = None
        self.in_auth = False  # replies to AUTH are shown through auth_reply_text() only
        self.tls_active = False
        self.pre_tls_auth = False
        self.cert_der = None
        self.context = None
        self.peer_port = endpoint["port"]   # the port TCP-connected to (the proxy's, through a proxy)
        self.target_address = None          # socks5:// only: the destination's address, resolved here
        self.result = {
            "name": endpoint["name"],
            "host": endpoint["host"],
            "port": endpoint["port"],
            "security": endpoint["security"],
            "protocol": endpoint["protocol"],
            "ok": False,
            "address": None,
            "stage": None,
            "failed_stage": None,
            "diagnosis": None,
            "warnings": [],
            "timings_ms": {},
            "banner": None,
            "extensions": {},
            "auth_mechanisms": [],
            "tls": None,
            "reply": None,
            "proxy": (endpoint.get("proxy") or {}).get("url"),
        }

    # stage bookkeeping
    def _begin(self, stage):
        self.current = stage
        self.stage_started = time.monotonic()

    def _passed(self, stage=None, timing_key=None):
        stage = stage or self.current
        elapsed = int(round((time.monotonic() - self.stage_started) * 1000))
        key = timing_key or stage
        self.result["timings_ms"][key] = self.result["timings_ms"].get(key, 0) + elapsed
        self.result["stage"] = stage
        self.current = None

    def _warn(self, text):
        if text not in self.result["warnings"]:
            self.result["warnings"].append(text)

    def _reply(self, until=None):
        reply = self.channel.read_reply(until)
        self.last_reply = reply
        return reply

    def _cmd(self, line):
        self.channel.send(line.encode("utf-8") + b"\r\n")
        return self._reply()

    def shown(self, text):
        """Server text as the result may show it (a reply to AUTH only through auth_reply_text)."""
        return auth_reply_text(text) if self.in_auth else text

    def _fail_reply(self, reply, stage=None):
        code, hint = classify_reply(reply.code, reply.enhanced, reply.text, stage or self.current)
        raise ProbeError(code, "The server answered: %s" % _clip(self.shown(reply.text.split("\n")[0]), 300), hint=hint)

    # ------------------------------------------------------------------ run
    def run(self):
        try:
            self._run()
            if not self.cert_only:
                self.result["ok"] = True
                self.result["diagnosis"] = diagnosis("ok")
        except ProbeError as err:
            self._record_failure(err.code, err.detail, err.hint)
        except _Timeout:
            self._record_failure(*self._timeout_code())
        except _Closed as err:
            self._record_failure("connection_closed", "(%s)" % err if str(err) else None)
        except _BadReply as err:
            code = "bad_banner" if self.current == "banner" else "protocol_error"
            self._record_failure(code, "%s: %r" % (err, _printable(err.data)) if err.data else str(err))
        except Exception as err:  # pylint: disable=broad-except
            self._record_failure("protocol_error", "Unexpected error in the probe: %s: %s" % (type(err).__name__, err))
        self._quit()
        if self.channel is not None:
            self.channel.close()
        self.result["timings_ms"]["total"] = int(round((time.monotonic() - self.deadline.start) * 1000))
        return self.redactor.scrub(self.result)

    def _record_failure(self, code, detail=None, hint=None):
        self.result["ok"] = False
        self.result["failed_stage"] = self.current
        self.result["diagnosis"] = diagnosis(code, detail, hint)
        if self.last_reply is not None:
            self.result["reply"] = dict(self.last_reply.as_dict(), text=_clip(self.shown(self.last_reply.text)))
        if self.current is not None and self.stage_started is not None:
            elapsed = int(round((time.monotonic() - self.stage_started) * 1000))
            self.result["timings_ms"][self.current] = self.result["timings_ms"].get(self.current, 0) + elapsed

    def _timeout_code(self):
        stage = self.current
        secs = self.opts["timeout"]
        if stage == "dns":
            return "dns_error", "The resolver gave no answer within the timeout (%gs)." % secs
        if stage == "connect":
            return "connect_timeout", None
        if stage == "banner" and (self.channel is None or not self.channel.received):
            return "banner_timeout", "(waited %gs)" % secs
        if stage == "tls" and self.ep["security"] == "tls" and self.channel is not None and not self.channel.received:
            return "banner_timeout", "No answer to the TLS ClientHello within %gs." % secs
        return "timeout", "(stage %s, %gs)" % (stage, secs)

    def _quit(self):
        channel = self.channel
        if channel is None or self.deadline.remaining() <= 0 or self.cert_only:
            return
        command = {"smtp": b"QUIT\r\n", "imap": b"Z LOGOUT\r\n", "pop": b"QUIT\r\n"}[self.ep["protocol"]]
        try:
            channel.send(command)
            channel.readline(until=self.deadline.until(QUIT_BUDGET))
        except Exception:  # pylint: disable=broad-except
            pass

    def _run(self):
        ep = self.ep
        if ep.get("proxy"):
            sock, address = self._open_via_proxy(ep["proxy"])
        else:
            self._begin("dns")
            addresses = self._resolve()
            self._passed()

            self._begin("connect")
            sock, address = self._connect(addresses)
        self.result["address"] = address
        self.channel = Channel(sock, self.deadline)
        self._passed()

        self.context = make_tls_context(self.opts["validate_certs"], self.opts["ca_path"], self.opts["min_tls_version"],
                                        self.opts.get("max_tls_version"))
        if ep["security"] == "tls":
            self._begin("tls")
            self._handshake(implicit=True)
            self._passed()
            if self.cert_only:
                return

        protocol = {"smtp": _SMTP, "imap": _IMAP, "pop": _POP}[ep["protocol"]](self)
        self._begin("banner")
        self._wait_first_byte(address)
        protocol.banner()
        self._passed()

        self._begin("ehlo")
        protocol.capabilities()
        self._passed()

        if ep["security"] == "starttls":
            self._begin("starttls")
            protocol.starttls()
            self._passed()
            self._begin("tls")
            self._handshake(implicit=False)
            if self.cert_only:
                return
            tls_started = time.monotonic()
            protocol.capabilities()
            self.result["timings_ms"]["ehlo_tls"] = int(round((time.monotonic() - tls_started) * 1000))
            self.stage_started += time.monotonic() - tls_started  # keep 'tls' = the handshake alone
            self._passed()
        elif ep["security"] == "none":
            self._warn("No TLS (security: none): everything on this connection, including any credentials, "
                       "travels in plain text.")
        if self.pre_tls_auth and ep["security"] == "starttls":
            self._warn("The server advertises AUTH before STARTTLS; clients may send credentials in plain text.")
        self.result["auth_mechanisms"] = protocol.mechanisms()

        if ep["protocol"] != "smtp":
            auth = self.opts.get("auth")
            if auth and ep.get("auth", True):
                self._begin("auth")
                auth = self._auth_options()
                protocol.auth(auth)
                self._passed()
                if auth.get("open_mailbox"):
                    self._begin("mailbox")
                    protocol.open_mailbox()
                    self._passed()
            return
        if self.opts.get("auth") and ep.get("auth", True):
            self._begin("auth")
            protocol.auth(self._auth_options())
            self._passed()
        send = self.opts.get("send")
        if send:
            if self.opts.get("check_mode"):
                self._warn("send skipped: check mode (no message was sent).")
            else:
                self._begin("send")
                protocol.send(send)
                self._passed()

    def _auth_options(self):
        """The auth options, with the token of ``auth.oauth2`` fetched now by the call's TokenSource - inside this
        probe's deadline, once TLS is up (or plain text is allowed), so ``timeout`` covers the token request too."""
        auth = self.opts["auth"]
        source = auth.get("token_source")
        if source is None or auth.get("oauth2_token") or not (self.tls_active or auth.get("allow_plaintext")):
            return auth
        started = time.monotonic()
        try:
            token = source.get(self.deadline)
        except OAuth2Error as err:
            raise ProbeError("timeout" if err.timed_out else "auth_failed", "No access token: %s" % err)
        finally:
            self.result["timings_ms"]["token"] = int(round((time.monotonic() - started) * 1000))
        self.redactor.add(token)
        return dict(auth, oauth2_token=token)

    # ------------------------------------------------------------------ dns / connect
    def _open_via_proxy(self, spec):
        """Stages dns (the proxy's name; with socks5:// the destination's too), connect (to the proxy) and proxy
        (the tunnel): a socket that reaches the endpoint, within the probe's deadline."""
        self._begin("dns")
        try:
            proxies = self._resolve(spec["host"], spec["port"])
        except ProbeError as err:
            raise ProbeError("proxy_unreachable", "(the proxy's name %s: %s)" % (spec["host"], err.detail or err.code))
        except _Timeout:
            raise ProbeError("proxy_unreachable", "(the resolver gave no answer for the proxy's name %s in time)"
                             % spec["host"])
        if not spec["remote_dns"]:
            self.target_address = self._resolve()[0][1][0]
        self._passed()
        self._begin("connect")
        try:
            sock, address = self._connect(proxies)
        except ProbeError as err:
            raise ProbeError(proxy.CONNECT_CODES.get(err.code, err.code),
                             "(proxy %s: %s)" % (spec["url"], (err.detail or "").strip("()")))
        except _Timeout:
            raise ProbeError("proxy_timeout", "(no time left to connect to the proxy %s)" % spec["url"])
        self.peer_port = spec["port"]
        self._passed()
        self._begin("proxy")
        try:
            proxy.negotiate(sock, spec, self.ep["host"], self.ep["port"], self.deadline, self.target_address)
        except BaseException:
            sock.close()
            raise
        self._passed()
        return sock, address

    def _resolve(self, host=None, port=None):
        host, port = host or self.ep["host"], port or self.ep["port"]
        family = ADDRESS_FAMILIES[self.opts["address_family"]]
        literal = host[1:-1] if host.startswith("[") and host.endswith("]") else host
        try:
            infos = socket.getaddrinfo(literal, port, family, socket.SOCK_STREAM, socket.IPPROTO_TCP,
                                       socket.AI_NUMERICHOST)
        except socket.gaierror:
            infos = self._resolve_bounded(host, port, family)
        seen = []
        for fam, _type, _proto, _canon, sockaddr in infos:
            item = (fam, sockaddr)
            if item not in seen:
                seen.append(item)
        if not seen:
            raise ProbeError("dns_error", "No address found for %s." % host)
        return seen

    def _resolve_bounded(self, host, port, family):
        box = {}

        def work():
            try:
                box["infos"] = socket.getaddrinfo(host, port, family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
            except Exception as err:  # pylint: disable=broad-except
                box["error"] = err

        worker = threading.Thread(target=work, name="smtp_check-dns")
        worker.daemon = True
        worker.start()
        worker.join(max(0.0, self.deadline.remaining()))
        if worker.is_alive():
            raise _Timeout()
        if "error" in box:
            err = box["error"]
            if isinstance(err, socket.gaierror):
                raise ProbeError("dns_error", "%s: %s" % (host, err.strerror or err))
            raise ProbeError("dns_error", "%s: %s" % (host, err))
        return box["infos"]

    def _connect(self, addresses):
        failures = []
        last_code = None
        for index, (family, sockaddr) in enumerate(addresses):
            left = self.deadline.remaining()
            if left <= 0:
                break
            budget = left / (len(addresses) - index)
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.settimeout(budget)
            try:
                sock.connect(sockaddr)
                return sock, sockaddr[0]
            except socket.timeout:
                last_code = "connect_timeout"
                failures.append("%s: no answer" % sockaddr[0])
            except ConnectionRefusedError:
                last_code = "connect_refused"
                failures.append("%s: refused" % sockaddr[0])
            except OSError as err:
                if err.errno in _ROUTING_ERRNOS:
                    last_code = "network_unreachable"
                elif err.errno in _RESET_ERRNOS:
                    last_code = "connection_closed"
                else:
                    last_code = "connect_refused"
                failures.append("%s: %s" % (sockaddr[0], os.strerror(err.errno) if err.errno else err))
            sock.close()
        if last_code is None:
            raise _Timeout()
        raise ProbeError(last_code, "(%s)" % "; ".join(failures))

    # ------------------------------------------------------------------ banner heuristics
    def _wait_first_byte(self, address):
        """Plain greeting expected: wait for its first byte for half the remaining time, then look for TLS."""
        channel = self.channel
        if channel.buf or channel.tls is not None:
            return
        half = self.deadline.remaining() / 2.0
        try:
            channel.fill(until=self.deadline.until(half))
        except _Timeout:
            if self._speaks_tls(address):
                raise ProbeError("plain_on_tls_port",
                                 "No greeting within %.1fs, and a TLS handshake on a second connection succeeded: "
                                 "this port expects implicit TLS." % half)
            raise ProbeError("banner_timeout", "(waited %gs)" % self.opts["timeout"])
        # Bytes before our first word are never TLS: a TLS server waits for the ClientHello.  Binary
        # greetings are therefore bad_banner (the SMTP/IMAP/POP parsers say so), not plain_on_tls_port.

    def _speaks_tls(self, address):
        if self.deadline.remaining() <= 0.05:
            return False
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        sockaddr = (address, self.peer_port, 0, 0) if family == socket.AF_INET6 else (address, self.peer_port)
        sock = socket.socket(family, socket.SOCK_STREAM)
        probe = Channel(sock, self.deadline)
        try:
            sock.settimeout(max(0.01, self.deadline.remaining()))
            sock.connect(sockaddr)
            if self.ep.get("proxy"):
                proxy.negotiate(sock, self.ep["proxy"], self.ep["host"], self.ep["port"], self.deadline,
                                self.target_address)
            probe.start_tls(_detect_context(), None)
            return True
        except Exception:  # pylint: disable=broad-except
            return False
        finally:
            probe.close()

    # ------------------------------------------------------------------ TLS
    def _server_hostname(self):
        host = self.ep["host"]
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        return host.rstrip(".") or None

    def _handshake(self, implicit):
        channel = self.channel
        try:
            channel.start_tls(self.context, self._server_hostname())
        except ssl.SSLCertVerificationError as err:
            code = getattr(err, "verify_code", None)
            message = getattr(err, "verify_message", None) or str(err)
            if code in _X509_EXPIRED:
                diag = "cert_expired"
            elif code in _X509_NOT_YET_VALID:
                diag = "cert_expired"
            elif code in _X509_HOSTNAME:
                diag = "cert_hostname_mismatch"
            else:
                diag = "cert_untrusted"
            self._second_look()
            raise ProbeError(diag, "(%s)" % message)
        except ssl.SSLError as err:
            reason = getattr(err, "reason", None) or ""
            raw = channel.handshake_raw
            if implicit and _looks_like_text(raw):
                if raw[:3].isdigit():
                    self.result["banner"] = _clip(_printable(raw.split(b"\n", 1)[0].rstrip(b"\r"), 500))
                raise ProbeError("tls_on_plain_port", "The server answered the TLS ClientHello with text: %r."
                                 % _printable(raw, 80))
            if implicit and reason in _NOT_TLS_REASONS:
                raise ProbeError("tls_on_plain_port", "(OpenSSL: %s)" % reason)
            if reason in _OLD_TLS_REASONS:
                raise ProbeError("tls_version_too_old",
                                 "(OpenSSL: %s; min_tls_version is %s)" % (reason, self.opts["min_tls_version"]))
            self._version_verdict("(OpenSSL: %s)" % (reason or err))
        except _Closed:
            raw = channel.handshake_raw
            if implicit and _looks_like_text(raw):
                self.result["banner"] = _clip(_printable(raw.split(b"\n", 1)[0].rstrip(b"\r"), 500))
                raise ProbeError("tls_on_plain_port", "The server answered the TLS ClientHello with text: %r."
                                 % _printable(raw, 80))
            self._version_verdict("The server closed the connection during the TLS handshake.")
        self.tls_active = True
        tls = channel.tls
        cert = tls.getpeercert() if self.opts["validate_certs"] else None
        der = tls.getpeercert(binary_form=True)
        if not cert and der:
            cert = _decode_der(der)
        cipher = tls.cipher()
        self.result["tls"] = {
            "version": tls.version(),
            "cipher": cipher[0] if cipher else None,
            "cert": cert_summary(cert),
            "verified": bool(self.opts["validate_certs"]),
        }
        self._cert_warnings()

    def _cert_warnings(self):
        tls = self.result["tls"] or {}
        version = tls.get("version") or ""
        if version in ("TLSv1", "TLSv1.1", "SSLv3"):
            self._warn("Negotiated %s: Microsoft 365 and most providers require TLS 1.2 or later." % version)
        cert = tls.get("cert")
        if not self.opts["validate_certs"]:
            self._warn("validate_certs is false: the server certificate was NOT verified (chain, name, dates).")
        if not cert or cert.get("days_left") is None:
            return
        days = cert["days_left"]
        if days < 0:
            self._warn("The server certificate expired on %s." % cert["not_after"])
        elif days < int(self.opts["cert_expiry_warn_days"]):
            self._warn("The server certificate expires in %d days (%s), within cert_expiry_warn_days (%d)."
                       % (days, cert["not_after"], int(self.opts["cert_expiry_warn_days"])))

    def _look(self):
        """A second connection, no verification, any TLS version, stopping after the handshake: its tls dict."""
        if self.cert_only or self.deadline.remaining() < 0.1:
            return None
        opts = dict(self.opts, validate_certs=False, auth=None, send=None, min_tls_version="1.0",
                    max_tls_version=None)
        look = EndpointProbe(self.ep, opts, deadline=self.deadline, cert_only=True)
        try:
            look.run()
        except Exception:  # pylint: disable=broad-except
            return None
        return look.result.get("tls")

    def _second_look(self):
        """After a verification failure: fetch the certificate without verification, for the report."""
        tls = self._look()
        if tls:
            self.result["tls"] = tls
            self.result["tls"]["verified"] = False

    def _version_verdict(self, detail):
        """A handshake failed without a clear reason (many servers just close): try any TLS version once.

        If that succeeds with a version below min_tls_version, the server is too old; otherwise the
        handshake failure stands.
        """
        tls = self._look()
        version = (tls or {}).get("version")
        if version and _VERSION_RANK.get(version, 99) < _VERSION_RANK[_VERSION_NAMES[self.opts["min_tls_version"]]]:
            self.result["tls"] = dict(tls, verified=False)
            raise ProbeError("tls_version_too_old", "The server negotiates at most %s (min_tls_version is %s); a "
                             "second connection accepting any version confirmed it." % (version, self.opts["min_tls_version"]))
        raise ProbeError("tls_handshake_failed", detail)


def _looks_like_text(raw):
    if not raw or raw[:1] in (b"\x14", b"\x15", b"\x16", b"\x17"):
        return False
    sample = raw[:32]
    return all(32 <= b < 127 or b in (9, 10, 13) for b in bytearray(sample))


# --------------------------------------------------------------------------- protocols

class _SMTP:
    def __init__(self, probe):
        self.probe = probe
        self.ext = {}

    def banner(self):
        probe = self.probe
        reply = probe._reply()
        probe.result["banner"] = _clip(reply.text)
        if reply.code != 220:
            probe._fail_reply(reply, "banner")

    def capabilities(self):
        probe = self.probe
        reply = probe._cmd("EHLO %s" % probe.opts["ehlo_name"])
        if reply.code != 250:
            probe._fail_reply(reply)
        ext = {}
        for line in reply.lines[1:]:
            keyword, _sep, params = line.strip().partition(" ")
            if keyword.upper().startswith("AUTH="):
                params = keyword[5:] + (" " + params if params else "")
                keyword = "AUTH"
            if keyword:
                ext[keyword.upper()] = params.strip()
        if not probe.tls_active and "AUTH" in ext:
            probe.pre_tls_auth = True
        self.ext = ext
        probe.result["extensions"] = ext

    def mechanisms(self):
        return self.ext.get("AUTH", "").upper().split()

    def starttls(self):
        probe = self.probe
        if "STARTTLS" not in self.ext:
            raise ProbeError("starttls_not_offered", "(EHLO answer: %s)" % ", ".join(sorted(self.ext)) if self.ext else None)
        reply = probe._cmd("STARTTLS")
        if reply.code != 220:
            probe._fail_reply(reply, "starttls")

    # auth ---------------------------------------------------------------
    def auth(self, auth):
        probe = self.probe
        if auth.get("token_error"):
            raise ProbeError("auth_failed", "No access token: %s" % auth["token_error"])
        if not probe.tls_active and not auth.get("allow_plaintext"):
            raise ProbeError("auth_not_offered", "Refusing to send credentials without TLS.")
        offered = self.mechanisms()
        if not offered:
            raise ProbeError("auth_not_offered", "(the server advertises no AUTH extension on this connection)")
        mech = auth["mechanism"]
        if mech == "auto":
            if auth.get("oauth2_token"):
                mech = "xoauth2"
            elif "PLAIN" in offered:
                mech = "plain"
            else:
                mech = "login"
        if mech.upper() not in offered:
            raise ProbeError("auth_not_offered", "(requested %s; the server offers %s)" % (mech.upper(), " ".join(offered)))
        probe.result["auth_mechanism"] = mech.upper()
        user = auth["username"]
        probe.in_auth = True
        if mech == "plain":
            secret = "\0%s\0%s" % (user, auth["password"])
            probe.redactor.add(_b64(secret))
            reply = probe._cmd("AUTH PLAIN %s" % _b64(secret))
        elif mech == "login":
            probe.redactor.add(_b64(auth["password"]))
            reply = probe._cmd("AUTH LOGIN")
            if reply.code == 334:
                reply = probe._cmd(_b64(user))
            if reply.code == 334:
                reply = probe._cmd(_b64(auth["password"]))
        else:
            blob = xoauth2_string(user, auth["oauth2_token"])
            probe.redactor.add(blob)
            reply = probe._cmd("AUTH XOAUTH2 %s" % blob)
            if reply.code == 334:
                detail = _xoauth2_error(reply.text, probe.shown)
                reply = probe._cmd("")  # the client answers the error challenge with an empty line
                if reply.code != 235 and detail:
                    code, hint = classify_reply(reply.code, reply.enhanced, reply.text, "auth")
                    raise ProbeError(code, "The server answered: %s (XOAUTH2 error: %s)"
                                     % (_clip(probe.shown(reply.lines[0]), 300), detail), hint=hint)
        if reply.code == 334:
            # still challenging: abort the exchange (RFC 4954 '*') rather than guess
            reply = probe._cmd("*")
            raise ProbeError("auth_failed", "The server kept challenging (%s)." % _clip(probe.shown(reply.text), 200))
        if reply.code != 235:
            probe._fail_reply(reply, "auth")
        probe.in_auth = False

    # send ---------------------------------------------------------------
    def send(self, send):
        probe = self.probe
        reply = probe._cmd("MAIL FROM:<%s>" % send["sender"])
        if reply.code != 250:
            probe._fail_reply(reply, "send")
        for rcpt in send["recipients"]:
            reply = probe._cmd("RCPT TO:<%s>" % rcpt)
            if reply.code not in (250, 251):
                probe._fail_reply(reply, "send")
        reply = probe._cmd("DATA")
        if reply.code != 354:
            probe._fail_reply(reply, "send")
        message_id, data = build_test_message(send["sender"], send["recipients"], send["subject"],
                                              probe.opts["ehlo_name"], probe.ep["name"])
        probe.channel.send(dot_stuff(data))
        reply = probe._reply()
        if reply.code != 250:
            probe._fail_reply(reply, "send")
        probe.result["message_id"] = message_id
        probe.result["sent"] = True


class _IMAP:
    def __init__(self, probe):
        self.probe = probe
        self.caps = []
        self.tag = 0

    def _line(self):
        raw = self.probe.channel.readline()
        return _decode_line(raw.rstrip(b"\r\n"))

    def banner(self):
        probe = self.probe
        line = self._line()
        probe.result["banner"] = _clip(line)
        upper = line.upper()
        if upper.startswith("* OK") or upper.startswith("* PREAUTH"):
            self._caps_from(line)
            return
        if upper.startswith("* BYE"):
            raise ProbeError("bad_banner", "The server refused the session: %s" % _clip(line, 300))
        raise ProbeError("bad_banner", "Not an IMAP greeting: %r" % _printable(line, 120))

    def _caps_from(self, line):
        match = re.search(r"\[CAPABILITY ([^\]]*)\]", line, re.IGNORECASE)
        if match:
            self.caps = match.group(1).split()

    def _command(self, command):
        probe = self.probe
        self.tag += 1
        tag = "A%d" % self.tag
        probe.channel.send(("%s %s\r\n" % (tag, command)).encode("ascii"))
        untagged = []
        for _i in range(MAX_REPLY_LINES):
            line = self._line()
            if line.startswith(tag + " "):
                status = line[len(tag) + 1:]
                return status, untagged
            untagged.append(line)
        raise _BadReply("no tagged answer to %s" % command)

    def capabilities(self):
        status, untagged = self._command("CAPABILITY")
        if not status.upper().startswith("OK"):
            raise ProbeError("protocol_error", "CAPABILITY answered: %s" % _clip(status, 300))
        for line in untagged:
            if line.upper().startswith("* CAPABILITY "):
                self.caps = line[len("* CAPABILITY "):].split()
        ext = {}
        for cap in self.caps:
            if cap.upper().startswith("AUTH="):
                ext["AUTH"] = (ext.get("AUTH", "") + " " + cap[5:]).strip()
            else:
                ext[cap.upper()] = ""
        self.probe.result["extensions"] = ext

    def mechanisms(self):
        return [cap[5:].upper() for cap in self.caps if cap.upper().startswith("AUTH=")]

    def starttls(self):
        if "STARTTLS" not in [cap.upper() for cap in self.caps]:
            raise ProbeError("starttls_not_offered", None)
        status, _untagged = self._command("STARTTLS")
        if not status.upper().startswith("OK"):
            raise ProbeError("tls_handshake_failed", "STARTTLS answered: %s" % _clip(status, 300))

    def auth(self, auth):
        self.probe.result.update(_mailbox_step(self, mailbox.imap_login, self.caps, auth))

    def open_mailbox(self):
        self.probe.result["mailbox"] = _mailbox_step(self, mailbox.imap_examine)


class _POP:
    def __init__(self, probe):
        self.probe = probe
        self.caps = {}

    def _line(self):
        raw = self.probe.channel.readline()
        return _decode_line(raw.rstrip(b"\r\n"))

    def banner(self):
        probe = self.probe
        line = self._line()
        probe.result["banner"] = _clip(line)
        if line.startswith("+OK"):
            return
        if line.startswith("-ERR"):
            raise ProbeError("bad_banner", "The server refused the session: %s" % _clip(line, 300))
        raise ProbeError("bad_banner", "Not a POP3 greeting: %r" % _printable(line, 120))

    def capabilities(self):
        probe = self.probe
        probe.channel.send(b"CAPA\r\n")
        status = self._line()
        caps = {}
        if status.startswith("+OK"):
            for _i in range(MAX_REPLY_LINES):
                line = self._line()
                if line == ".":
                    break
                keyword, _sep, params = line.partition(" ")
                caps[keyword.upper()] = params.strip()
            else:
                raise _BadReply("CAPA answer is not terminated")
        elif status.startswith("-ERR"):
            probe._warn("The POP3 server does not support CAPA: capabilities unknown.")
        else:
            raise ProbeError("protocol_error", "CAPA answered: %r" % _printable(status, 120))
        self.caps = caps
        probe.result["extensions"] = caps

    def mechanisms(self):
        return self.caps.get("SASL", "").upper().split()

    def starttls(self):
        if "STLS" not in self.caps:
            raise ProbeError("starttls_not_offered", None)
        self.probe.channel.send(b"STLS\r\n")
        status = self._line()
        if not status.startswith("+OK"):
            raise ProbeError("tls_handshake_failed", "STLS answered: %s" % _clip(status, 300))

    def auth(self, auth):
        self.probe.result.update(_mailbox_step(self, mailbox.pop_login, self.caps, auth))

    def open_mailbox(self):
        self.probe.result["mailbox"] = _mailbox_step(self, mailbox.pop_stat)


def _mailbox_step(session, step, *args):
    """Run an IMAP/POP login or mailbox step of ``_probe.mailbox`` on the session (_IMAP / _POP) of a probe; a
    refusal's line becomes the result's reply."""
    probe = session.probe
    if getattr(session, "io", None) is None:  # one per connection: it numbers the IMAP tags
        session.io = mailbox.LineIO(probe.channel.send, session._line, probe.tls_active,  # pylint: disable=protected-access
                                    probe.redactor.add)
    login = step in (mailbox.imap_login, mailbox.pop_login)
    probe.in_auth = login  # the answers to a login are never shown verbatim (auth_reply_text)
    try:
        return step(session.io, *args)
    except ProbeError as err:
        # what the server said during a login (a refusal, a closing line, an answer we could not read) is shown
        # through auth_reply_text; the probe's own texts (no token, no TLS) are kept
        if login and (isinstance(err, mailbox.MailboxRefused) or err.code in ("connection_closed", "protocol_error")):
            err.detail = auth_reply_text(err.detail)
        if isinstance(err, mailbox.MailboxRefused):
            probe.result["reply"] = {"code": None, "enhanced_code": None, "text": _clip(probe.shown(err.answer))}
        raise
    finally:
        probe.in_auth = False


# --------------------------------------------------------------------------- entry points

def secrets_of(opts, endpoints=()):
    """Every secret of the options (and of the endpoints' own proxies), with the encoded forms the probe sends."""
    auth = opts.get("auth") or {}
    values = []
    for key in ("password", "oauth2_token"):
        if auth.get(key):
            values.append(auth[key])
            values.append(_b64(auth[key]))
    for spec in [opts.get("proxy")] + [ep.get("proxy") for ep in endpoints]:
        values.extend(proxy.proxy_secrets(spec))
    source = auth.get("token_source")
    if source is not None and source.secret:
        values.append(source.secret)
    return values


def probe_endpoint(endpoint, opts, redactor=None):
    """Probe one (normalized) endpoint with normalized options; never raises."""
    redactor = redactor or Redactor(secrets_of(opts, [endpoint]))
    probe = EndpointProbe(endpoint, opts, redactor=redactor)
    return probe.run()


def _late_result(endpoint, opts):
    probe = EndpointProbe(endpoint, opts)
    probe.result["diagnosis"] = diagnosis("timeout", "(the probe thread did not finish in time)")
    probe.result["timings_ms"]["total"] = int(opts["timeout"] * 1000)
    return probe.result


def probe_endpoints(endpoints, options, max_workers=MAX_WORKERS):
    """Probe endpoints concurrently (one thread each, at most max_workers at once).

    ``endpoints``: list of endpoint dicts (normalized here); ``options``: see DEFAULTS.
    Returns the list of results, in the order of ``endpoints``.  Raises ValueError for bad options.
    """
    opts = normalize_options(options)
    eps = [normalize_endpoint(ep, i, opts) for i, ep in enumerate(endpoints)]
    check_plaintext_auth(eps, opts)
    redactor = Redactor(secrets_of(opts, eps))
    results = [None] * len(eps)
    gate = threading.BoundedSemaphore(max(1, int(max_workers)))

    def work(index):
        with gate:
            results[index] = probe_endpoint(eps[index], opts, redactor)

    threads = []
    for index in range(len(eps)):
        thread = threading.Thread(target=work, args=(index,), name="smtp_check-%d" % index)
        thread.daemon = True
        thread.start()
        threads.append(thread)
    waves = (len(eps) + max_workers - 1) // max_workers or 1
    limit = time.monotonic() + waves * (opts["timeout"] + QUIT_BUDGET) + 5.0
    for thread in threads:
        thread.join(max(0.0, limit - time.monotonic()))
    return [res if res is not None else _late_result(eps[i], opts) for i, res in enumerate(results)]
