# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small OAuth2 client for Microsoft Entra ID (and the lab's token endpoint): client credentials.

``fetch_token(token_url, client_id, client_secret, scope, ca_file=None, timeout=10)`` POSTs
``grant_type=client_credentials`` (facts section 3) with the standard library's ``urllib`` and
returns ``{"access_token", "expires_in", "token_type", "expires_at"}``.

Errors raise ``OAuth2Error`` whose text names the AADSTS code and what it means (``AADSTS_CODES``),
the HTTP status and the OAuth2 ``error``; the client secret never appears in any message (it is
scrubbed even if a server echoes it back).  Used by smtp_check (``auth.oauth2``) and by the relay
role's token helper.

Standard library only: this file runs on targets.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re
import socket
import ssl
import time

from urllib.error import HTTPError, URLError
from urllib.parse import urlencode, urlparse
from urllib.request import HTTPSHandler, Request, build_opener

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
}

_AADSTS_RE = re.compile(r"\b(AADSTS\d{5,8})\b")


class OAuth2Error(Exception):
    """A token request failed; ``str()`` is a complete, secret-free explanation."""

    def __init__(self, message, aadsts=None, error=None, status=None):
        Exception.__init__(self, message)
        self.aadsts = aadsts
        self.error = error
        self.status = status


def explain_aadsts(code):
    return AADSTS_CODES.get(code)


def _scrub(text, secrets):
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "********")
    return text


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


def fetch_token(token_url, client_id, client_secret, scope, ca_file=None, timeout=10.0, validate_certs=True):
    """Client-credentials grant; returns the token dict or raises OAuth2Error (secret-free)."""
    secrets = [client_secret]
    if not token_url:
        raise OAuth2Error("No token URL: give auth.oauth2.token_url or a profile and a tenant.")
    parsed = urlparse(token_url)
    if parsed.scheme != "https":
        raise OAuth2Error("The token URL must use https, got %r." % _scrub(token_url, secrets))
    for name, value in (("client_id", client_id), ("client_secret", client_secret), ("scope", scope)):
        if not value:
            raise OAuth2Error("Token request needs %s." % name)
    body = urlencode({
        "client_id": client_id,
        "client_secret": client_secret,
        "scope": scope,
        "grant_type": "client_credentials",
    }).encode("ascii")
    context = ssl.create_default_context(cafile=ca_file) if validate_certs else ssl._create_unverified_context()
    opener = build_opener(HTTPSHandler(context=context))
    request = Request(token_url, data=body, method="POST", headers={
        "Content-Type": "application/x-www-form-urlencoded",
        "Accept": "application/json",
        "User-Agent": "mailfleet.outlook",
    })
    started = time.time()
    try:
        response = opener.open(request, timeout=timeout)
        status = response.getcode()
        payload = response.read(1024 * 1024)
    except HTTPError as err:
        try:
            payload = err.read(1024 * 1024)
        except Exception:  # pylint: disable=broad-except
            payload = b""
        raise _error_from_body(err.code, payload, secrets)
    except URLError as err:
        reason = err.reason
        if isinstance(reason, ssl.SSLCertVerificationError):
            text = "certificate verification failed (%s)" % (reason.verify_message or reason)
        elif isinstance(reason, (socket.timeout,)):
            text = "no answer within %gs" % timeout
        else:
            text = str(reason)
        raise OAuth2Error(_scrub("Cannot reach the token endpoint %s://%s: %s" % (parsed.scheme, parsed.netloc, text),
                                 secrets))
    except socket.timeout:
        raise OAuth2Error("Cannot reach the token endpoint %s: no answer within %gs" % (parsed.netloc, timeout))
    except (OSError, ValueError) as err:
        raise OAuth2Error(_scrub("Token request to %s failed: %s" % (parsed.netloc, err), secrets))
    try:
        data = json.loads(payload.decode("utf-8"))
    except ValueError:
        raise OAuth2Error("The token endpoint answered HTTP %s with a body that is not JSON." % status)
    if not isinstance(data, dict) or not data.get("access_token"):
        raise _error_from_body(status, payload, secrets)
    try:
        expires_in = int(data.get("expires_in") or 0)
    except (TypeError, ValueError):
        expires_in = 0
    return {
        "access_token": data["access_token"],
        "token_type": data.get("token_type", "Bearer"),
        "expires_in": expires_in,
        "expires_at": int(started + expires_in) if expires_in else None,
    }
