# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""TLS contexts, versions and certificate summaries of the smtp_check probe (standard library only).

Heuristics of the engine (documented in docs/smtp_check.md):

- ``plain_on_tls_port``: on a plain/STARTTLS endpoint the probe waits for the first byte of the
  greeting for at most half of the remaining time.  If nothing comes, it tries a TLS handshake on a
  second connection with the rest of the time: success means the port expects implicit TLS
  (``plain_on_tls_port``); no answer means a tarpit (``banner_timeout``).  Greeting bytes that are a
  TLS record (0x15/0x16 0x03 ...) also mean ``plain_on_tls_port``.
- ``tls_on_plain_port``: on an implicit-TLS endpoint, the server's first raw bytes are text (a ``220``
  greeting) or OpenSSL reports a wrong version number / record layer failure.
- On a certificate verification failure, if time remains, a second connection without verification
  fetches the certificate so that the result shows its subject, SAN and dates.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import ipaddress
import os
import ssl
import tempfile
import time
import warnings


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
