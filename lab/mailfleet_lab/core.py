# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab's tenant model: accounts, apps, tokens, rate limit and message store.

Everything runs in one asyncio loop (no threads), so no locks are needed. Answer texts are Exchange
Online's (``shared/facts/microsoft-mail.md`` section 4); they live in ``ANSWERS`` and nowhere else.
"""

import base64
import collections
import datetime
import hashlib
import hmac
import json
import logging
import os
import secrets
import time
import uuid

LOG = logging.getLogger("mailfleet_lab")

ANSWERS = {
    "auth_ok": "235 2.7.0 Authentication successful",
    "not_authenticated": "530 5.7.57 Client not authenticated to send mail. [{host}]",
    "not_authenticated_anonymous": "530 5.7.57 Client not authenticated to send anonymous mail during MAIL FROM [{host}]",
    "auth_before_tls": "504 5.7.4 Unrecognized authentication type [{host}]",
    "tenant_smtp_auth_disabled": ("535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the "
                                  "Tenant. Visit https://aka.ms/smtp_auth_disabled [{host}]"),
    "mailbox_smtp_auth_disabled": ("535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the "
                                   "Mailbox. Visit https://aka.ms/smtp_auth_disabled [{host}]"),
    "policy": ("535 5.7.139 Authentication unsuccessful, the request did not meet the criteria to be authenticated "
               "successfully. Contact your administrator. [{host}]"),
    "security_defaults": ("535 5.7.139 Authentication unsuccessful, user is locked by your organization's security "
                          "defaults policy. [{host}]"),
    "basic_auth_disabled": "535 5.7.139 Authentication unsuccessful, basic authentication is disabled. [{host}]",
    "bad_credentials": "535 5.7.139 Authentication unsuccessful, the user credentials were incorrect. [{host}]",
    "basic_auth_removed": "550 5.7.30 Basic authentication is not supported for Client Submission. [{host}]",
    "bad_token": "535 5.7.3 Authentication unsuccessful [{host}]",
    "send_as_denied": ("554 5.2.252 SendAsDenied; {login} not allowed to send as {address}; "
                       "STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied; "
                       "Failed to process message due to a permanent exception with message "
                       "[BeginDiagnosticData]Cannot submit message. [EndDiagnosticData] [{host}]"),
    "send_as_denied_mail": "550 5.7.60 SMTP; Client does not have permissions to send as this sender [{host}]",
    "send_as_denied_storedrv": ("554 5.2.0 STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied; "
                                "Failed to process message due to a permanent exception with message "
                                "[BeginDiagnosticData]Cannot submit message. [EndDiagnosticData] [{host}]"),
    # Continuous error throttling of SMTP AUTH submissions (facts section 4 quotes the start of the text; the
    # words after "continuous" are the lab's).
    "continuous_error_throttled": "550 {code} Sender throttled due to continuous errors [{host}]",
    "tenant_outbound_limit": ("550 5.7.233 Message rejected: your organization exceeded its tenant external recipient "
                              "rate limit [{host}]"),
    "tenant_threshold": "550 5.7.705 Access denied, tenant has exceeded threshold [{host}]",
    "unregistered_domains": "550 5.7.750 Service unavailable. Client blocked from sending from unregistered domains [{host}]",
    "ip_blocked": "550 5.7.708 Access denied, traffic not accepted from this IP [{host}]",
    "bad_outbound_sender": "550 5.1.8 Access denied, bad outbound sender [{host}]",
    "quota_exceeded": ("554 5.2.2 Submission quota exceeded; "
                       "STOREDRV.Submission.Exception:SubmissionQuotaExceededException [{host}]"),
    "rate_limited": "451 4.7.500 Server busy. Please try again later from [{ip}]. (S77719) [{host}]",
    "relay_denied": "550 5.7.64 TenantAttribution; Relay Access Denied [{host}]",
    "direct_send_rejected": ("550 5.7.68 TenantInboundAttribution; Direct Send not allowed for this organization "
                             "from unauthorized sources [{host}]"),
    "legacy_tls": ("421 4.7.66 TLS 1.0 and 1.1 are not supported. Please upgrade/update your client to support "
                   "TLS 1.2. Visit https://aka.ms/smtp_auth_tls [{host}]"),
    "starttls_required": "451 5.7.3 STARTTLS is required to send mail [{host}]",
    "starttls_ready": "220 2.0.0 SMTP server ready",
    # IMAP (after the tag) and POP answers: Exchange Online gives one refusal for every cause of a failed login.
    "imap_authenticate_failed": "NO AUTHENTICATE failed.",
    "imap_login_failed": "NO LOGIN failed.",
    "imap_not_connected": "BAD User is authenticated but not connected.",
    "pop_auth_failure": "-ERR Authentication failure: unknown user name or bad password.",
    "pop_logon_failure": "-ERR Logon failure: unknown user name or bad password.",
    "queued": "250 2.0.0 OK <{message_id}> [Hostname={host}]",
}


def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text):
    text = text.encode("ascii") if isinstance(text, str) else text
    return base64.urlsafe_b64decode(text + b"=" * (-len(text) % 4))


class Identity:
    """Who an SMTP session authenticated as."""

    def __init__(self, user, mechanism, app=None, app_only=False):
        self.user = user
        self.login = user
        self.mechanism = mechanism
        self.app = app
        self.app_only = app_only  # an application token (client credentials), not a person's

    def __repr__(self):
        return "Identity(%r, %r, app=%r)" % (self.user, self.mechanism, self.app)


class Lab:
    """State shared by every listener of one lab process."""

    def __init__(self, config):
        self.config = config
        for directory in (config["state_dir"], os.path.dirname(config["store_path"])):
            os.makedirs(directory, exist_ok=True)
        self.started = time.time()
        self.sent = collections.defaultdict(collections.deque)
        self.recipients = collections.defaultdict(collections.deque)
        self.external_recipients = collections.deque()
        self.signing_key = self._load_signing_key()
        self.device_codes = {}
        self.auth_codes = {}
        self.refresh_tokens = {}
        self.ports = {}
        self.certs = None

    # ----- helpers -------------------------------------------------------------------------------------------------
    @property
    def hostname(self):
        return self.config.get("hostname") or "localhost"

    def answer(self, key, **values):
        values.setdefault("host", self.hostname)
        return ANSWERS[key].format(**values)

    def account(self, address):
        return self.config["accounts"].get((address or "").lower())

    def tenant(self):
        return self.config["tenant"]

    def tenant_matches(self, name):
        tenant = self.tenant()
        name = (name or "").lower()
        return name == tenant["id"].lower() or name in tenant["domains"]

    def may_send_as(self, login, address):
        login, address = (login or "").lower(), (address or "").lower()
        if not address or address == login:
            return True
        box = self.account(login) or {}
        return address in box.get("send_as", [])

    # ----- Basic auth (AUTH LOGIN) ---------------------------------------------------------------------------------
    def check_password(self, user, password):
        """Return (identity, None) or (None, answer) for AUTH LOGIN, in Exchange Online's order of checks."""
        tenant = self.tenant()
        box = self.account(user)
        if tenant.get("basic_auth_removed"):
            return None, self.answer("basic_auth_removed")
        if tenant.get("smtp_auth_disabled"):
            return None, self.answer("tenant_smtp_auth_disabled")
        if tenant.get("security_defaults"):
            return None, self.answer("security_defaults")
        if box is None or not box.get("password") or not hmac.compare_digest(
                str(box["password"]).encode("utf-8"), password.encode("utf-8", "surrogateescape")):
            return None, self.answer("bad_credentials")
        if box.get("basic_auth_removed"):
            return None, self.answer("basic_auth_removed")
        if box.get("smtp_auth_disabled"):
            return None, self.answer("mailbox_smtp_auth_disabled")
        if box.get("security_defaults"):
            return None, self.answer("security_defaults")
        if box.get("basic_auth_disabled"):
            return None, self.answer("basic_auth_disabled")
        if box.get("policy"):
            return None, self.answer("policy")
        return Identity(user.lower(), "LOGIN"), None

    # ----- tokens ------------------------------------------------------------------------------------------------
    def _load_signing_key(self):
        path = os.path.join(self.config["state_dir"], "signing.key")
        try:
            with open(path, "rb") as handle:
                key = handle.read()
            if len(key) >= 32:
                return key
        except OSError:
            pass
        return self.rotate_signing_key()

    def rotate_signing_key(self):
        """New signing key: every token issued so far stops working (admin ``revoke_tokens``)."""
        key = secrets.token_bytes(32)
        path = os.path.join(self.config["state_dir"], "signing.key")
        fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(key)
        os.replace(path + ".tmp", path)
        self.signing_key = key
        return key

    def make_token(self, claims, lifetime):
        now = int(time.time())
        body = {
            "aud": "https://outlook.office365.com",
            "iss": "https://sts.windows.net/%s/" % self.tenant()["id"],
            "tid": self.tenant()["id"],
            "iat": now, "nbf": now, "exp": now + int(lifetime),
            "uti": uuid.uuid4().hex,
            "ver": "1.0",
        }
        body.update(claims)
        header = {"typ": "JWT", "alg": "HS256", "kid": "mailfleet-lab"}
        signing_input = _b64url(json.dumps(header, separators=(",", ":")).encode()) + "." + _b64url(
            json.dumps(body, separators=(",", ":")).encode())
        signature = hmac.new(self.signing_key, signing_input.encode("ascii"), hashlib.sha256).digest()
        return signing_input + "." + _b64url(signature)

    def decode_token(self, token):
        """The claims of a token the lab issued, if its signature is good and it has not expired; else None."""
        try:
            head, body, signature = token.split(".")
            expected = hmac.new(self.signing_key, (head + "." + body).encode("ascii"), hashlib.sha256).digest()
            if not hmac.compare_digest(expected, _b64url_decode(signature)):
                return None
            claims = json.loads(_b64url_decode(body))
        except (ValueError, TypeError, UnicodeError):
            return None
        now = time.time()
        if not isinstance(claims, dict) or claims.get("exp", 0) <= now or claims.get("nbf", 0) > now + 5:
            return None
        if claims.get("tid") != self.tenant()["id"]:
            return None
        return claims

    def check_xoauth2(self, user, token):
        """Return (identity, None) or (None, answer) for AUTH XOAUTH2."""
        claims = self.decode_token(token)
        user = (user or "").lower()
        box = self.account(user)
        if claims is None or box is None:
            return None, self.answer("bad_token")
        tenant = self.tenant()
        if tenant.get("smtp_auth_disabled"):
            return None, self.answer("tenant_smtp_auth_disabled")
        if box.get("smtp_auth_disabled"):
            return None, self.answer("mailbox_smtp_auth_disabled")
        if claims.get("idtyp") == "app":
            app = self.config["apps"].get(claims.get("appid"))
            if app is None or user not in app.get("send_as", []) or "SMTP.SendAsApp" not in claims.get("roles", []):
                return None, self.answer("bad_token")
            return Identity(user, "XOAUTH2", app=claims.get("appid")), None
        if claims.get("idtyp") == "user":
            if (claims.get("upn") or "").lower() != user or "SMTP.Send" not in (claims.get("scp") or "").split():
                return None, self.answer("bad_token")
            return Identity(user, "XOAUTH2", app=claims.get("appid")), None
        return None, self.answer("bad_token")

    # ----- IMAP and POP logins -----------------------------------------------------------------------------------
    def check_mailbox_password(self, service, user, password):
        """The identity for an IMAP LOGIN / POP USER+PASS (``service`` "imap" or "pop"), or None (one answer)."""
        box = self.account(user)
        if self.tenant().get("imap_pop_basic_auth_retired"):
            return None
        if box is None or not box.get("password") or not hmac.compare_digest(
                str(box["password"]).encode("utf-8"), password.encode("utf-8", "surrogateescape")):
            return None
        if box.get(service + "_disabled") or any(box.get(key) for key in (
                "security_defaults", "basic_auth_disabled", "basic_auth_removed", "policy")):
            return None
        return Identity(user.lower(), "LOGIN")

    def check_mailbox_token(self, service, user, token):
        """The identity for IMAP AUTHENTICATE / POP AUTH XOAUTH2, or None: delegated tokens need the protocol's
        AccessAsUser.All scope for their own user, app-only tokens its AccessAsApp role (the mailbox permission
        is checked when the mailbox is opened: IMAP's "authenticated but not connected")."""
        claims = self.decode_token(token)
        user = (user or "").lower()
        box = self.account(user)
        if claims is None or box is None or box.get(service + "_disabled"):
            return None
        if claims.get("idtyp") == "app":
            if "%s.AccessAsApp" % service.upper() not in claims.get("roles", []):
                return None
            identity = Identity(user, "XOAUTH2", app=claims.get("appid"), app_only=True)
            # POP has no "authenticated but not connected" answer: the lab refuses the login itself
            return identity if service == "imap" or self.mailbox_connected(identity) else None
        if claims.get("idtyp") == "user":
            if (claims.get("upn") or "").lower() != user or \
                    "%s.AccessAsUser.All" % service.upper() not in (claims.get("scp") or "").split():
                return None
            return Identity(user, "XOAUTH2", app=claims.get("appid"))
        return None

    def mailbox_connected(self, identity):
        """Whether an authenticated IMAP/POP session may open its mailbox (app-only: Add-MailboxPermission)."""
        if not identity.app_only:
            return True
        app = self.config["apps"].get(identity.app) or {}
        return identity.user in app.get("mailboxes", [])

    def mailbox_messages(self, user):
        """(count, octets) of the stored messages addressed to ``user`` (the lab's INBOX)."""
        user = (user or "").lower()
        mine = [m for m in self.messages() if user in [r.lower() for r in m.get("rcpt_tos") or []]]
        return len(mine), sum(int(m.get("size") or 0) for m in mine)

    # ----- tenant limits -------------------------------------------------------------------------------------------
    def over_tenant_outbound_limit(self, address, pending=()):
        """True if one more external recipient passes ``tenant.external_recipient_limit`` (24 h; 0 = none);
        ``pending``: the recipients already accepted for the message in progress."""
        limit = int(self.tenant().get("external_recipient_limit") or 0)
        domain = (address or "").rpartition("@")[2].lower()
        if limit <= 0 or domain in self.tenant()["domains"]:
            return False
        sent = self.external_recipients
        now = time.monotonic()
        while sent and sent[0] <= now - 86400:
            sent.popleft()
        waiting = sum(1 for a in pending if a.rpartition("@")[2].lower() not in self.tenant()["domains"])
        return len(sent) + waiting + 1 > limit

    def count_external(self, recipients):
        now = time.monotonic()
        for address in recipients:
            if address.rpartition("@")[2].lower() not in self.tenant()["domains"]:
                self.external_recipients.append(now)

    # ----- rate limit --------------------------------------------------------------------------------------------
    def rate_limited(self, user):
        limit = self.config.get("rate_limit") or {}
        count = int(limit.get("messages", 0))
        window = float(limit.get("window_seconds", 60))
        if count <= 0:
            return False
        sent = self.sent[user]
        now = time.monotonic()
        while sent and sent[0] <= now - window:
            sent.popleft()
        return len(sent) >= count

    def count_sent(self, user, recipients=1):
        if user:
            now = time.monotonic()
            self.sent[user].append(now)
            self.recipients[user].extend([now] * recipients)

    def over_recipient_quota(self, user, extra=1):
        """True if ``extra`` more recipients would pass ``rate_limit.recipients_per_day`` (a 24 h window)."""
        limit = int((self.config.get("rate_limit") or {}).get("recipients_per_day", 0))
        if limit <= 0:
            return False
        sent = self.recipients[user]
        now = time.monotonic()
        while sent and sent[0] <= now - 86400:
            sent.popleft()
        return len(sent) + extra > limit

    def ip_blocked(self, ip):
        return ip in (self.config.get("blocked_client_ips") or [])

    # ----- store ---------------------------------------------------------------------------------------------------
    def store(self, record):
        record.setdefault("id", uuid.uuid4().hex)
        record.setdefault("time", datetime.datetime.now(datetime.timezone.utc).isoformat())
        line = json.dumps(record, sort_keys=True) + "\n"
        fd = os.open(self.config["store_path"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as handle:
            handle.write(line)
        return record

    def messages(self):
        try:
            with open(self.config["store_path"], "r", encoding="utf-8") as handle:
                return [json.loads(line) for line in handle if line.strip()]
        except FileNotFoundError:
            return []

    def clear_store(self):
        fd = os.open(self.config["store_path"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.close(fd)
        self.sent.clear()
        self.recipients.clear()
        self.external_recipients.clear()
