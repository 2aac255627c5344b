# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small OAuth2 client for Microsoft Entra ID (and the lab's token endpoint).

``fetch_token(token_url, client_id, client_secret, scope, ca_file=None, timeout=10)`` POSTs
``grant_type=client_credentials`` (facts section 3) with the standard library's ``http.client`` and
returns ``{"access_token", "expires_in", "token_type", "expires_at"}``.

Every request has ONE deadline (``timeout`` seconds, or the absolute ``deadline`` of the caller, a
``time.monotonic()`` value): name resolution (in a helper thread), connect, TLS, sending and reading the
answer all end by then, however slowly a server drips its bytes. A redirect (3xx) is never followed: it
is an error that names the status and where it pointed.

Delegated tokens (a person signs in once; used by the client role's token command for msmtp/neomutt):
``request_device_code(device_code_url, client_id, scope)`` starts the device-code flow (RFC 8628),
``poll_device_code(token_url, client_id, device_code, interval, expires_in)`` waits for the sign-in,
``refresh_access_token(token_url, client_id, refresh_token, scope)`` redeems a refresh token. Their
token dicts also carry ``refresh_token`` (when the server sent one) and ``scope``.

Certificate credentials (Microsoft's recommendation for app-only access): ``fetch_token(...,
client_certificate=PATH, client_key=PATH)`` sends a client assertion (RFC 7523 JWT, RS256, header ``x5t`` =
the certificate's SHA-1 thumbprint) instead of a secret. The standard library cannot sign RSA, so
``client_assertion()`` has the ``openssl`` command sign it: the signing input goes to its standard input, the
key is read by openssl from its (0600) file, so the key never passes through a process argument.

``cached_token(cache_path, fetch, identity)`` keeps a token in a 0600 JSON file, shared by concurrent
processes under an ``flock``, and fetches a new one only when less than a quarter of its lifetime (at most
5 minutes) is left.

Errors raise ``OAuth2Error`` whose text names the AADSTS code and what it means (``AADSTS_CODES``),
the HTTP status and the OAuth2 ``error``; ``.temporary`` says whether asking again later can succeed
(network, timeouts, HTTP 5xx / 429, ``temporarily_unavailable``, transient AADSTS codes) or the credentials
or request were refused. The client secret never appears in any message (it is scrubbed even if a server
echoes it back, also case-changed, percent-, JSON- or HTML-encoded, or in base64: ``redact()``, also
used by smtp_check's probe).  Used by smtp_check (``auth.oauth2``), the relay role's token helper (msmtp) and its
XOAUTH2 relay program (Postfix).

Standard library only: this file runs on targets.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import hashlib
import http.client
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import uuid

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Linux
    fcntl = None

from urllib.parse import urlencode, urlparse
from urllib.request import getproxies, proxy_bypass

# Common AADSTS codes of the token endpoint, and what to do about them.
AADSTS_CODES = {
    "AADSTS7000215": "Invalid client secret: the value is wrong (give the secret's value, not its ID).",
    "AADSTS7000222": "The client secret has expired: create a new one in the app registration.",
    "AADSTS700016": "Application not found in the directory: wrong client_id, or the app is not in this tenant.",
    "AADSTS90002": "Tenant not found: check the tenant ID or domain (and the national cloud).",
    "AADSTS900023": "The tenant identifier is neither a valid GUID nor a verified domain.",
    "AADSTS90014": "A required field is missing from the request.",
    "AADSTS7000218": "The request must contain client_secret or client_assertion.",
    "AADSTS70011": "The scope is invalid: client credentials need a '/.default' scope "
                   "(https://outlook.office365.com/.default for SMTP).",
    "AADSTS1002012": "The scope is invalid: client credentials need a '/.default' scope.",
    "AADSTS500011": "The resource (Exchange Online) was not found in the tenant: check the scope's host.",
    "AADSTS65001": "Admin consent is missing for the requested permission (SMTP.SendAsApp).",
    "AADSTS700024": "The client assertion is not within its valid time range (check the clock).",
    "AADSTS700027": "The client assertion's signature is invalid (wrong certificate).",
    "AADSTS50034": "The user account does not exist in the tenant.",
    "AADSTS50126": "Invalid user name or password.",
    "AADSTS50076": "Multi-factor authentication is required.",
    "AADSTS53003": "Blocked by a Conditional Access policy.",
    "AADSTS7000112": "The application is disabled.",
    "AADSTS700082": "The refresh token has expired due to inactivity: sign in again.",
    "AADSTS70016": "The sign-in is still pending: the user has not entered the code yet.",
    "AADSTS70000": "The grant is invalid or was declined: sign in again.",
    "AADSTS50173": "The refresh token is no longer valid (password changed or session revoked): sign in again.",
    "AADSTS50196": "The token endpoint detected a request loop and throttled this client: try again later.",
    "AADSTS90033": "A transient error occurred at the token endpoint: try again later.",
    "AADSTS700021": "The client assertion's issuer or subject is not the client_id.",
    "AADSTS50027": "The client assertion (JWT) is invalid or malformed (check its audience: the token URL).",
}

# AADSTS codes that say "ask again later" (throttling, transient service errors); every other code is a
# refusal of the credentials or of the request.
TEMPORARY_AADSTS = frozenset(("AADSTS50196", "AADSTS90033"))
TEMPORARY_ERRORS = frozenset(("temporarily_unavailable", "server_error"))

GRANT_DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code"

_AADSTS_RE = re.compile(r"\b(AADSTS\d{5,8})\b")


class OAuth2Error(Exception):
    """A token request failed; ``str()`` is a complete, secret-free explanation. ``timed_out`` is true when
    the deadline ended the request."""

    def __init__(self, message, aadsts=None, error=None, status=None, temporary=None, timed_out=False):
        Exception.__init__(self, message)
        self.aadsts = aadsts
        self.error = error
        self.status = status
        if temporary is None:
            temporary = any((status is None, status is not None and status >= 500, status == 429,
                             aadsts in TEMPORARY_AADSTS, error in TEMPORARY_ERRORS))
        self.temporary = bool(temporary)
        self.timed_out = timed_out


def explain_aadsts(code):
    return AADSTS_CODES.get(code)


# --------------------------------------------------------------------------- redaction

REDACTED = "********"


def _char_forms(ch):
    """A regex alternative for one character of a secret: itself (any case), percent-encoded (UTF-8 bytes),
    JSON-escaped, an HTML numeric entity, and '+' for a space (form encoding)."""
    forms = [re.escape(ch), "".join("%%%02x" % b for b in ch.encode("utf-8")), r"\\u%04x" % ord(ch),
             "&#%d;" % ord(ch), "&#x0*%x;" % ord(ch)]
    if ch == " ":
        forms.append(r"\+")
    return "(?:%s)" % "|".join(forms)


def secret_pattern(secrets):
    """One case-insensitive regex for every secret of 4 characters or more in the forms a server may echo
    it back: as given, in any letter case, partly or wholly percent-, JSON- or HTML-encoded, and its base64
    (standard and URL-safe alphabets). None when there is nothing to look for."""
    alternatives = []
    for secret in sorted(set(s for s in secrets if s and len(s) >= 4), key=len, reverse=True):
        alternatives.append("".join(_char_forms(ch) for ch in secret))
        encoded = base64.b64encode(secret.encode("utf-8")).decode("ascii")
        for form in (encoded, encoded.rstrip("="), encoded.replace("+", "-").replace("/", "_").rstrip("=")):
            alternatives.append(re.escape(form))
    if not alternatives:
        return None
    return re.compile("|".join(alternatives), re.IGNORECASE)


def redact(text, secrets=(), pattern=None):
    """``text`` with every form of every secret (see ``secret_pattern``) replaced by ``********``."""
    pattern = pattern if pattern is not None else secret_pattern(secrets)
    if pattern is None or not text:
        return text
    return pattern.sub(REDACTED, text)


def _scrub(text, secrets):
    return redact(text, secrets)


def _error_from_body(status, body, secrets):
    try:
        data = json.loads(body.decode("utf-8", "replace"))
    except ValueError:
        data = None
    if not isinstance(data, dict):
        snippet = body[:200].decode("utf-8", "replace").strip()
        return OAuth2Error(_scrub("The token endpoint answered HTTP %s without an OAuth2 error body: %r"
                                  % (status, snippet), secrets), status=status)
    error = str(data.get("error") or "unknown_error")
    description = str(data.get("error_description") or "").split("\r\n", 1)[0].strip()
    codes = data.get("error_codes") or []
    match = _AADSTS_RE.search(description)
    aadsts = match.group(1) if match else ("AADSTS%s" % codes[0] if codes else None)
    meaning = explain_aadsts(aadsts) if aadsts else None
    parts = ["Token request failed (HTTP %s, %s)" % (status, error)]
    if aadsts:
        parts.append("%s: %s" % (aadsts, meaning or "see https://login.microsoftonline.com/error?code=%s" % aadsts[6:]))
    if description and (not meaning or aadsts not in description or len(description) < 300):
        parts.append("Server said: %s" % description[:400])
    return OAuth2Error(_scrub(". ".join(parts), secrets), aadsts=aadsts, error=error, status=status)


def _resolve(host, port, deadline):
    """getaddrinfo in a helper thread, so that a resolver that never answers cannot outlive the deadline."""
    box = {}

    def work():
        try:
            box["addresses"] = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
        except (OSError, UnicodeError) as err:
            box["error"] = err

    worker = threading.Thread(target=work, name="oauth2-resolve")
    worker.daemon = True
    worker.start()
    worker.join(max(0.0, deadline - time.monotonic()))
    if worker.is_alive():
        raise socket.timeout("the name did not resolve in time")
    if "error" in box:
        raise box["error"]
    return box["addresses"]


class _DeadlineConnection(http.client.HTTPSConnection):
    """An HTTPS connection whose every step ends by ``deadline``: resolution and connect get the time that
    remains, and a watchdog shuts the socket down when the deadline passes (a server that sends one byte per
    second cannot stretch a read). Like urllib before it, it goes through the ``https_proxy`` of the
    environment (CONNECT) unless ``no_proxy`` names the host."""

    def __init__(self, host, port, context, deadline):
        proxy = None if proxy_bypass(host) else getproxies().get("https")
        proxy = urlparse(proxy if "://" in (proxy or "://") else "http://" + proxy) if proxy else None
        http.client.HTTPSConnection.__init__(self, proxy.hostname if proxy else host,
                                             (proxy.port or 80) if proxy else port,
                                             timeout=max(0.01, deadline - time.monotonic()), context=context)
        if proxy:
            self.set_tunnel(host, port)
        self._server_name = host
        self._deadline = deadline
        self._watchdog = None
        self._watched = None

    def connect(self):
        error = socket.timeout("no time left")
        for family, kind, proto, _name, address in _resolve(self.host, self.port, self._deadline):
            left = self._deadline - time.monotonic()
            if left <= 0:
                break
            sock = socket.socket(family, kind, proto)
            try:
                sock.settimeout(left)
                sock.connect(address)
            except OSError as err:
                sock.close()
                error = err
                continue
            self._watched = sock.dup()
            self._watchdog = threading.Timer(max(0.0, self._deadline - time.monotonic()), self._expire)
            self._watchdog.daemon = True
            self._watchdog.start()
            sock.settimeout(max(0.01, self._deadline - time.monotonic()))
            self.sock = sock
            if self._tunnel_host:
                self._tunnel()
            self.sock = self._context.wrap_socket(self.sock, server_hostname=self._server_name)
            return
        raise error

    def _expire(self):
        try:
            self._watched.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def close(self):
        if self._watchdog is not None:
            self._watchdog.cancel()
        if self._watched is not None:
            self._watched.close()
            self._watched = None
        http.client.HTTPSConnection.close(self)


def _post_form(url, fields, secrets, ca_file=None, timeout=10.0, validate_certs=True, what="token", deadline=None):
    """POST ``fields`` form-encoded to ``url`` within one deadline; returns (status, JSON dict) or raises
    OAuth2Error (secret-free). Redirects are refused, never followed."""
    started = time.monotonic()
    deadline = deadline if deadline is not None else started + float(timeout)
    budget = max(0.0, deadline - started)
    if not url:
        raise OAuth2Error("No %s URL: give auth.oauth2.token_url or a profile and a tenant." % what)
    parsed = urlparse(url)
    if parsed.scheme != "https" or not parsed.hostname:
        raise OAuth2Error("The %s URL must use https, got %r." % (what, _scrub(url, secrets)))
    body = urlencode(fields).encode("ascii")
    context = ssl.create_default_context(cafile=ca_file) if validate_certs else ssl._create_unverified_context()
    target = (parsed.path or "/") + ("?" + parsed.query if parsed.query else "")
    connection = _DeadlineConnection(parsed.hostname, parsed.port or 443, context, deadline)
    try:
        connection.request("POST", target, body=body, headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
            "User-Agent": "mailfleet.outlook",
        })
        response = connection.getresponse()
        status = response.status
        location = response.getheader("Location")
        payload = response.read(1024 * 1024)
    except ssl.SSLCertVerificationError as err:
        raise OAuth2Error(_scrub("Cannot reach the %s endpoint %s://%s: certificate verification failed (%s)"
                                 % (what, parsed.scheme, parsed.netloc, err.verify_message or err), secrets))
    except (OSError, http.client.HTTPException, ValueError) as err:
        if time.monotonic() >= deadline or isinstance(err, socket.timeout):
            raise OAuth2Error("Cannot reach the %s endpoint %s://%s: no answer within %gs (the whole answer must arrive by then)"
                              % (what, parsed.scheme, parsed.netloc, budget), timed_out=True)
        if isinstance(err, OSError) and not isinstance(err, ssl.SSLError):
            raise OAuth2Error(_scrub("Cannot reach the %s endpoint %s://%s: %s" % (
                what, parsed.scheme, parsed.netloc, err.strerror or err or type(err).__name__), secrets))
        raise OAuth2Error(_scrub("%s request to %s failed: %s" % (what[0].upper() + what[1:], parsed.netloc,
                                                                  err or type(err).__name__), secrets))
    finally:
        connection.close()
    if 300 <= status < 400:
        raise OAuth2Error(_scrub("The %s endpoint %s answered HTTP %s, a redirect%s: refused, a %s request never "
                                 "follows a redirect. Fix: give the endpoint's own https URL"
                                 % (what, parsed.netloc, status, " to %s" % location[:200] if location else "", what),
                                 secrets), status=status)
    if status >= 400 or status < 200:
        raise _error_from_body(status, payload, secrets)
    try:
        data = json.loads(payload.decode("utf-8"))
    except ValueError:
        raise OAuth2Error("The %s endpoint answered HTTP %s with a body that is not JSON." % (what, status))
    if not isinstance(data, dict):
        raise _error_from_body(status, payload, secrets)
    return status, data


def _token(status, data, started, secrets):
    """The token dict of a successful token answer (``refresh_token`` and ``scope`` only when sent)."""
    if not data.get("access_token"):
        raise _error_from_body(status, json.dumps(data).encode("utf-8"), secrets)
    try:
        expires_in = int(data.get("expires_in") or 0)
    except (TypeError, ValueError):
        expires_in = 0
    token = {
        "access_token": data["access_token"],
        "token_type": data.get("token_type", "Bearer"),
        "expires_in": expires_in,
        "expires_at": int(started + expires_in) if expires_in else None,
    }
    for key in ("refresh_token", "scope"):
        if data.get(key):
            token[key] = data[key]
    return token


ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_LIFETIME = 600


def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def certificate_thumbprint(certificate_pem):
    """base64url SHA-1 of the first certificate's DER (the JWT ``x5t`` header Microsoft matches)."""
    text = certificate_pem.decode("ascii", "replace") if isinstance(certificate_pem, bytes) else certificate_pem
    match = re.search(r"-----BEGIN CERTIFICATE-----(.+?)-----END CERTIFICATE-----", text, re.S)
    if not match:
        raise OAuth2Error("The client certificate is not a PEM certificate (no BEGIN CERTIFICATE block).",
                          temporary=False)
    try:
        der = base64.b64decode("".join(match.group(1).split()), validate=True)
    except (ValueError, TypeError):
        raise OAuth2Error("The client certificate's PEM block is not valid base64.", temporary=False)
    return _b64url(hashlib.sha1(der).digest())  # nosec - x5t is defined as the SHA-1 thumbprint


def openssl_sign(data, key_file, openssl=None, timeout=30):
    """RSASSA-PKCS1-v1_5 with SHA-256 (JWT RS256) by the openssl command: ``data`` on its standard input,
    the key read by openssl from ``key_file``; returns the signature bytes or raises OAuth2Error."""
    program = openssl or shutil.which("openssl") or ("/usr/bin/openssl" if os.path.exists("/usr/bin/openssl") else None)
    if not program or (os.sep in program and not os.path.exists(program)):
        raise OAuth2Error("Certificate credentials need the openssl command to sign the client assertion: install "
                          "the openssl package.")
    if not os.access(key_file, os.R_OK):
        raise OAuth2Error("The client key %s cannot be read by this user (uid %d)." % (key_file, os.getuid()))
    try:
        proc = subprocess.run([program, "dgst", "-sha256", "-binary", "-sign", key_file], input=data,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout, check=False)
    except (OSError, subprocess.SubprocessError) as err:
        raise OAuth2Error("Cannot run %s to sign the client assertion: %s" % (program, err))
    if proc.returncode != 0 or not proc.stdout:
        reason = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise OAuth2Error("openssl could not sign the client assertion with %s (exit %d): %s"
                          % (key_file, proc.returncode, reason[0] if reason else "no output"))
    return proc.stdout


def client_assertion(token_url, client_id, certificate_file, key_file, lifetime=ASSERTION_LIFETIME, now=None,
                     signer=openssl_sign):
    """A client assertion JWT (RS256, ``x5t``; claims aud = token URL, iss = sub = client id, jti, nbf, exp)."""
    try:
        with open(certificate_file, "rb") as handle:
            certificate = handle.read()
    except (IOError, OSError) as err:
        raise OAuth2Error("Cannot read the client certificate %s: %s" % (certificate_file, err.strerror))
    now = int(time.time() if now is None else now)
    header = {"alg": "RS256", "typ": "JWT", "x5t": certificate_thumbprint(certificate)}
    claims = {"aud": token_url, "iss": client_id, "sub": client_id, "jti": str(uuid.uuid4()),
              "nbf": now, "iat": now, "exp": now + int(lifetime)}
    signing_input = ".".join(_b64url(json.dumps(part, separators=(",", ":")).encode("utf-8"))
                             for part in (header, claims))
    return signing_input + "." + _b64url(signer(signing_input.encode("ascii"), key_file))


def fetch_token(token_url, client_id, client_secret, scope, ca_file=None, timeout=10.0, validate_certs=True,
                client_certificate=None, client_key=None, deadline=None):
    """Client-credentials grant with a secret, or with a certificate (``client_certificate`` + ``client_key``,
    PEM files); returns the token dict or raises OAuth2Error (secret-free). The request ends within ``timeout``
    seconds, or by ``deadline`` (a ``time.monotonic()`` value) when given."""
    secrets = [client_secret]
    if not token_url:
        raise OAuth2Error("No token URL: give auth.oauth2.token_url or a profile and a tenant.")
    if urlparse(token_url).scheme != "https":
        raise OAuth2Error("The token URL must use https, got %r." % _scrub(token_url, secrets))
    certificate = bool(client_certificate or client_key)
    required = [("client_id", client_id), ("scope", scope)]
    required += [("client_certificate", client_certificate), ("client_key", client_key)] if certificate \
        else [("client_secret", client_secret)]
    for name, value in required:
        if not value:
            raise OAuth2Error("Token request needs %s." % name)
    fields = {"client_id": client_id, "scope": scope, "grant_type": "client_credentials"}
    if certificate:
        fields["client_assertion_type"] = ASSERTION_TYPE
        fields["client_assertion"] = client_assertion(token_url, client_id, client_certificate, client_key)
        secrets.append(fields["client_assertion"])
    else:
        fields["client_secret"] = client_secret
    started = time.time()
    status, data = _post_form(token_url, fields, secrets, ca_file=ca_file, timeout=timeout,
                              validate_certs=validate_certs, deadline=deadline)
    return _token(status, data, started, secrets)


def _refresh_margin(expires_in):
    """Seconds before expiry at which a cached token is renewed: a quarter of its lifetime, 10 s to 5 min."""
    return max(10, min(300, int(expires_in or 3600) // 4))


def write_private(path, data):
    """Atomically replace ``path`` with ``data`` (bytes), mode 0600 from the first byte."""
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".token.")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            fd = None
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.rename(tmp, path)
        tmp = None
    finally:
        if fd is not None:
            os.close(fd)
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


def _recent_failure(path, identity, clock, ttl):
    """The OAuth2Error of a token request that failed less than ``ttl`` seconds ago, or None."""
    try:
        with open(path, "r") as handle:
            failed = json.load(handle)
    except (IOError, OSError, ValueError):
        return None
    age = clock() - float(failed.get("at") or 0)
    if failed.get("identity") != identity or not 0 <= age < ttl:
        return None
    return OAuth2Error("%s (the same answer %.0fs ago; asking again after %ds)" % (failed.get("message"), age, ttl),
                       aadsts=failed.get("aadsts"), error=failed.get("error"), status=failed.get("status"),
                       temporary=failed.get("temporary"))


def cached_token(cache_path, fetch, identity, force=False, clock=time.time, min_validity=None, failure_ttl=10):
    """The cached token dict for ``identity`` (a dict: token URL, client id, scope, credential kind), or a
    new one from ``fetch()`` when there is none, it is for another identity, or it is close to expiry.

    One process fetches at a time (``flock`` on ``<cache>.lock``); the others then read what it wrote, so
    concurrent deliveries share one token. A request that failed temporarily (endpoint down, slow, 5xx) is
    remembered for ``failure_ttl`` seconds (``<cache>.failed``): processes that waited for it get the same error
    at once instead of asking again, so a token endpoint that is down or slow is not asked once per queued
    message. Refusals are never remembered. ``min_validity`` (seconds)
    replaces the default renewal margin. Returns ``(token, fetched)``; the cache files are 0600.
    """
    if fcntl is None:  # pragma: no cover
        return fetch(), True
    failed_path = cache_path + ".failed"
    lock_fd = os.open(cache_path + ".lock", os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        if not force:
            try:
                with open(cache_path, "r") as handle:
                    cached = json.load(handle)
                left = float(cached.get("expires_at") or 0) - clock()
                margin = min_validity if min_validity is not None else _refresh_margin(cached.get("expires_in"))
                if cached.get("identity") == identity and cached.get("access_token") and left > margin:
                    return cached, False
            except (IOError, OSError, ValueError, TypeError, AttributeError):
                pass  # no cache yet, or an unreadable one: fetch and replace it
            recent = _recent_failure(failed_path, identity, clock, failure_ttl) if failure_ttl else None
            if recent is not None:
                raise recent
        try:
            token = fetch()
        except OAuth2Error as err:
            if not err.temporary:
                # a refusal is answered at once and may be fixed any minute (a new secret, a re-added
                # certificate): never answer it from memory, the next delivery asks again
                raise
            write_private(failed_path, json.dumps({
                "at": clock(), "identity": identity, "message": str(err), "aadsts": err.aadsts, "error": err.error,
                "status": err.status, "temporary": err.temporary}).encode("utf-8"))
            raise
        if not token.get("expires_at"):
            token["expires_in"] = token.get("expires_in") or 3600
            token["expires_at"] = int(clock() + token["expires_in"])
        record = dict(token, identity=identity)
        write_private(cache_path, json.dumps(record, sort_keys=True).encode("utf-8"))
        if os.path.exists(failed_path):
            os.unlink(failed_path)
        return record, True
    finally:
        os.close(lock_fd)


def request_device_code(device_code_url, client_id, scope, ca_file=None, timeout=10.0, validate_certs=True):
    """Start the device-code flow; returns ``device_code``, ``user_code``, ``verification_uri``,
    ``expires_in``, ``interval`` and ``message`` (what to tell the person)."""
    for name, value in (("client_id", client_id), ("scope", scope)):
        if not value:
            raise OAuth2Error("Device code request needs %s." % name)
    status, data = _post_form(device_code_url, {"client_id": client_id, "scope": scope}, [],
                              ca_file=ca_file, timeout=timeout, validate_certs=validate_certs, what="device code")
    for key in ("device_code", "user_code", "verification_uri"):
        if not data.get(key):
            raise OAuth2Error("The device code endpoint answered HTTP %s without %s." % (status, key))
    try:
        interval = max(1, int(data.get("interval") or 5))
        expires_in = int(data.get("expires_in") or 900)
    except (TypeError, ValueError):
        interval, expires_in = 5, 900
    return {"device_code": data["device_code"], "user_code": data["user_code"],
            "verification_uri": data["verification_uri"], "expires_in": expires_in, "interval": interval,
            "message": data.get("message") or "Open %s and enter the code %s to sign in."
            % (data["verification_uri"], data["user_code"])}


def poll_device_code(token_url, client_id, device_code, interval=5, expires_in=900, ca_file=None, timeout=10.0,
                     validate_certs=True, sleep=time.sleep, clock=time.time):
    """Poll the token endpoint until the person signed in (RFC 8628 section 3.4-3.5); returns the token dict
    (with ``refresh_token`` when ``offline_access`` was asked for) or raises OAuth2Error."""
    secrets = [device_code]
    deadline = clock() + expires_in
    while True:
        started = time.time()
        try:
            status, data = _post_form(token_url, {
                "grant_type": GRANT_DEVICE_CODE, "client_id": client_id, "device_code": device_code,
            }, secrets, ca_file=ca_file, timeout=timeout, validate_certs=validate_certs)
            return _token(status, data, started, secrets)
        except OAuth2Error as err:
            if err.error == "slow_down":
                interval += 5
            elif err.error == "authorization_declined":
                raise OAuth2Error("The sign-in was declined by the user (HTTP %s, authorization_declined)." % err.status,
                                  aadsts=err.aadsts, error=err.error, status=err.status)
            elif err.error == "expired_token":
                raise OAuth2Error("The device code expired before the sign-in was completed: start again (HTTP %s, "
                                  "expired_token)." % err.status, aadsts=err.aadsts, error=err.error, status=err.status)
            elif err.error != "authorization_pending":
                raise
        if clock() + interval > deadline:
            raise OAuth2Error("The device code expired before the sign-in was completed (%ds): start again."
                              % expires_in, error="expired_token")
        sleep(interval)


def refresh_access_token(token_url, client_id, refresh_token, scope, ca_file=None, timeout=10.0, validate_certs=True):
    """Redeem a refresh token; returns the token dict (Microsoft usually sends a new refresh token: keep it)."""
    secrets = [refresh_token]
    for name, value in (("client_id", client_id), ("refresh_token", refresh_token)):
        if not value:
            raise OAuth2Error("Refresh request needs %s." % name)
    fields = {"grant_type": "refresh_token", "client_id": client_id, "refresh_token": refresh_token}
    if scope:
        fields["scope"] = scope
    started = time.time()
    status, data = _post_form(token_url, fields, secrets, ca_file=ca_file, timeout=timeout,
                              validate_certs=validate_certs)
    return _token(status, data, started, secrets)
