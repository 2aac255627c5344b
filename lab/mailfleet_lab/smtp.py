# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""SMTP listeners of the lab, on aiosmtpd: submission (and its TLS variants) and the connector."""

import asyncio
import base64
import binascii
import collections
import email.parser
import email.policy
import email.utils
import hashlib
import logging
import uuid

from asyncio import sslproto

from aiosmtpd.smtp import SMTP, AuthResult, MISSING

from .core import LOG

# aiosmtpd logs command lines (and at DEBUG level, AUTH data) on "mail.log": keep it quiet, the lab
# logs its own redacted events on "mailfleet_lab".
logging.getLogger("mail.log").setLevel(logging.ERROR)

LEGACY_TLS = ("TLSv1", "TLSv1.1")


class _Handler:
    """aiosmtpd handler: hands the hooks back to the LabSMTP instance."""

    @staticmethod
    async def handle_RCPT(server, session, envelope, address, rcpt_options):  # pylint: disable=invalid-name,unused-argument
        return await server.lab_rcpt(address, rcpt_options)

    @staticmethod
    async def handle_DATA(server, session, envelope):  # pylint: disable=invalid-name,unused-argument
        return await server.lab_data()

    @staticmethod
    async def handle_exception(error):
        LOG.info("smtp session error: %s", error.__class__.__name__)
        return "451 4.3.0 Temporary server error. Please try again later"


class LabSMTP(SMTP):
    """One SMTP session of the lab.

    ``mode``: "submission" (SMTP AUTH client submission, like smtp.office365.com:587) or "connector"
    (the tenant MX host: relay by client IP / client certificate, or direct send to tenant domains).
    """

    # Exchange Online's AUTH LOGIN prompts (base64 "Username:" / "Password:").
    AuthLoginUsernameChallenge = "Username:"
    AuthLoginPasswordChallenge = "Password:"
    # OAuth2 access tokens make long AUTH XOAUTH2 lines (Microsoft's are 2-3 kB in base64).
    line_length_limit = 16384
    max_auth_line = 16384

    def __init__(self, lab, endpoint, mode="submission", tls_context=None, implicit_tls=False,
                 legacy_reject=False, starttls_drop=False, byte_delay=0.0):
        exclude = ["PLAIN", "CRAM-MD5"]
        if mode != "submission":
            exclude += ["LOGIN", "XOAUTH2"]
        super().__init__(
            _Handler(),
            hostname=lab.hostname,
            ident="Microsoft ESMTP MAIL Service ready (mailfleet lab)",
            tls_context=tls_context,
            require_starttls=False,
            auth_required=False,
            auth_require_tls=False,
            auth_exclude_mechanism=exclude,
            authenticator=self._authenticate_login,
            enable_SMTPUTF8=True,
            data_size_limit=lab.config.get("data_size_limit"),
            timeout=600,
            loop=asyncio.get_running_loop(),
        )
        self.lab = lab
        self.endpoint = endpoint
        self.mode = mode
        self.implicit_tls = implicit_tls
        self.legacy_reject = legacy_reject
        self.starttls_drop = starttls_drop
        self.byte_delay = byte_delay
        self.command_size_limits = collections.defaultdict(lambda: SMTP.command_size_limit)
        self.command_size_limits["AUTH"] = self.max_auth_line
        for name, method in list(self._smtp_methods.items()):
            self._smtp_methods[name] = self._guarded(name, method)

    # ----- transport facts ---------------------------------------------------------------------------------------
    def tls_version(self):
        if self.transport is None:
            return None
        ssl_object = self.transport.get_extra_info("ssl_object")
        return ssl_object.version() if ssl_object is not None else None

    def peer_ip(self):
        peer = self.session.peer if self.session else None
        return peer[0] if isinstance(peer, (tuple, list)) and peer else str(peer)

    def client_cert_names(self):
        if self.transport is None:
            return []
        cert = self.transport.get_extra_info("peercert")
        if not cert:
            return []
        names = [value for kind, value in cert.get("subjectAltName", ()) if kind == "DNS"]
        for rdn in cert.get("subject", ()):
            for key, value in rdn:
                if key == "commonName" and value not in names:
                    names.append(value)
        return [name.lower() for name in names]

    def _guarded(self, name, method):
        async def guarded(arg):
            if self.legacy_reject and self.tls_version() in LEGACY_TLS:
                LOG.info("%s %s: %s after %s -> 421 4.7.66", self.endpoint, self.peer_ip(), name, self.tls_version())
                await self.push(self.lab.answer("legacy_tls"))
                self.transport.close()
                return None
            return await method(arg)
        return guarded

    # ----- output ------------------------------------------------------------------------------------------------
    async def push(self, status):
        if not self.byte_delay:
            await super().push(status)
            return
        data = (status.encode("utf-8") if isinstance(status, str) else status) + b"\r\n"
        for index in range(len(data)):
            if self.transport is None or self.transport.is_closing():
                return
            self._writer.write(data[index:index + 1])
            await self._writer.drain()
            await asyncio.sleep(self.byte_delay)

    # ----- commands ----------------------------------------------------------------------------------------------
    async def smtp_EHLO(self, hostname):  # pylint: disable=invalid-name
        if not hostname:
            await self.push("501 Syntax: EHLO hostname")
            return
        self._set_rset_state()
        self.session.extended_smtp = True
        self.session.host_name = hostname
        tls = self.tls_version() is not None
        lines = ["%s Hello [%s]" % (self.hostname, self.peer_ip())]
        if self.data_size_limit:
            lines.append("SIZE %d" % self.data_size_limit)
            self.command_size_limits["MAIL"] = SMTP.command_size_limit + 26 + 10
        lines += ["PIPELINING", "ENHANCEDSTATUSCODES"]
        if self.tls_context is not None and not tls and not self.implicit_tls:
            lines.append("STARTTLS")
        if self.mode == "submission" and tls:
            lines.append("AUTH " + " ".join(sorted(self._auth_methods)))
        lines += ["8BITMIME", "SMTPUTF8"]
        for line in lines[:-1]:
            await self.push("250-" + line)
        await self.push("250 " + lines[-1])

    async def smtp_STARTTLS(self, arg):  # pylint: disable=invalid-name
        if arg:
            await self.push("501 5.5.4 Syntax: STARTTLS")
            return
        if self.tls_context is None or self.implicit_tls or self.tls_version() is not None:
            await self.push("502 5.3.3 Command not implemented")
            return
        await self.push(self.lab.answer("starttls_ready"))
        if self.starttls_drop:
            LOG.info("%s %s: STARTTLS accepted, dropping the handshake", self.endpoint, self.peer_ip())
            try:
                await asyncio.wait_for(self._reader.read(1), 10)
            except (asyncio.TimeoutError, ConnectionError):
                pass
            self.transport.abort()
            return
        waiter = self.loop.create_future()
        self._tls_protocol = sslproto.SSLProtocol(self.loop, self, self.tls_context, waiter, server_side=True)
        self._original_transport = self.transport
        self._original_transport.set_protocol(self._tls_protocol)
        self.transport = self._tls_protocol._app_transport  # pylint: disable=protected-access
        self._tls_protocol.connection_made(self._original_transport)
        try:
            await waiter
        except Exception as error:  # pylint: disable=broad-exception-caught
            LOG.info("%s %s: TLS handshake failed: %s", self.endpoint, self.peer_ip(), error)
            self._original_transport.close()
            return
        LOG.info("%s %s: STARTTLS done, %s", self.endpoint, self.peer_ip(), self.tls_version())

    async def smtp_AUTH(self, arg):  # pylint: disable=invalid-name
        mechanism = (arg or "").split(" ", 1)[0].upper()
        if self.mode != "submission" or self.tls_version() is None or (mechanism and mechanism not in self._auth_methods):
            LOG.info("%s %s: AUTH %s refused (no TLS or not offered)", self.endpoint, self.peer_ip(), mechanism or "-")
            await self.push(self.lab.answer("auth_before_tls"))
            return
        LOG.info("%s %s: AUTH %s <redacted>", self.endpoint, self.peer_ip(), mechanism)
        if arg:
            parts = arg.split(" ", 1)
            arg = " ".join([parts[0].upper()] + parts[1:])
        await super().smtp_AUTH(arg)

    async def smtp_MAIL(self, arg):  # pylint: disable=invalid-name
        if self.session.host_name and self.lab.ip_blocked(self.peer_ip()):
            LOG.info("%s %s: client IP blocked -> 550 5.7.708", self.endpoint, self.peer_ip())
            await self.push(self.lab.answer("ip_blocked"))
            return
        if self.session.host_name:
            if self.mode == "submission":
                if self.tls_version() is None or not self.session.authenticated:
                    LOG.info("%s %s: MAIL before AUTH -> 530 5.7.57", self.endpoint, self.peer_ip())
                    # Exchange Online's two texts: without TLS, and after STARTTLS without AUTH
                    await self.push(self.lab.answer("not_authenticated" if self.tls_version() is None
                                                    else "not_authenticated_anonymous"))
                    return
                user = self.session.auth_data.user
                blocked = self.lab.tenant().get("sending_blocked")
                if blocked:
                    answer = {"threshold": "tenant_threshold", "unregistered_domains": "unregistered_domains"}[blocked]
                    LOG.info("%s %s: tenant blocked for sending (%s)", self.endpoint, self.peer_ip(), blocked)
                    await self.push(self.lab.answer(answer))
                    return
                throttled = (self.lab.account(user) or {}).get("continuous_error_throttled")
                if throttled:
                    LOG.info("%s %s: %s throttled for continuous errors -> 550 %s", self.endpoint, self.peer_ip(), user,
                             throttled)
                    await self.push(self.lab.answer("continuous_error_throttled", code=throttled))
                    return
                if (self.lab.account(user) or {}).get("blocked_sender"):
                    LOG.info("%s %s: %s is a blocked sender -> 550 5.1.8", self.endpoint, self.peer_ip(), user)
                    await self.push(self.lab.answer("bad_outbound_sender"))
                    return
                sender = self._getaddr(self._strip_command_keyword("FROM:", arg or "") or "")[0]
                if self.lab.tenant().get("send_as_check") == "mail" and sender and not self.lab.may_send_as(user, sender):
                    LOG.info("%s %s: %s may not send as %s -> 550 5.7.60", self.endpoint, self.peer_ip(), user, sender)
                    await self.push(self.lab.answer("send_as_denied_mail"))
                    return
                if self.lab.rate_limited(user):
                    LOG.info("%s %s: %s over the rate limit -> 451 4.7.500", self.endpoint, self.peer_ip(), user)
                    await self.push(self.lab.answer("rate_limited", ip=self.peer_ip()))
                    return
            elif self.lab.config["connector"].get("require_tls") and self.tls_version() is None:
                await self.push(self.lab.answer("starttls_required"))
                return
        if arg:
            # RFC 4954 AUTH=<mailbox> parameter: accepted and ignored, like Exchange Online.
            arg = " ".join(word for word in arg.split(" ") if not word.upper().startswith("AUTH="))
        await super().smtp_MAIL(arg)

    # ----- authentication ----------------------------------------------------------------------------------------
    def _authenticate_login(self, server, session, envelope, mechanism, auth_data):  # pylint: disable=unused-argument
        user = auth_data.login.decode("utf-8", "surrogateescape")
        password = auth_data.password.decode("utf-8", "surrogateescape")
        identity, answer = self.lab.check_password(user, password)
        if identity is None:
            LOG.info("%s %s: AUTH %s user=%s -> %s", self.endpoint, self.peer_ip(), mechanism, user, answer.split(" [")[0])
            return AuthResult(success=False, handled=False, message=answer)
        LOG.info("%s %s: AUTH %s user=%s -> 235", self.endpoint, self.peer_ip(), mechanism, user)
        return AuthResult(success=True, auth_data=identity, message=self.lab.answer("auth_ok"))

    async def auth_XOAUTH2(self, server, args):  # pylint: disable=invalid-name,unused-argument
        if len(args) > 1:
            blob = args[1]
        else:
            line = await self.challenge_auth("")
            if line is MISSING:
                return AuthResult(success=False, handled=True)
            blob = base64.b64encode(line).decode("ascii")
        try:
            text = base64.b64decode(blob, validate=True).decode("utf-8")
            fields = dict(part.split("=", 1) for part in text.split("\x01") if part)
            user = fields.get("user", "")
            scheme, dummy, token = fields.get("auth", "").partition(" ")
            if scheme.lower() != "bearer":
                raise ValueError("not a bearer token")
        except (ValueError, binascii.Error, UnicodeDecodeError):
            LOG.info("%s %s: AUTH XOAUTH2 malformed -> 535 5.7.3", self.endpoint, self.peer_ip())
            return AuthResult(success=False, handled=False, message=self.lab.answer("bad_token"))
        identity, answer = self.lab.check_xoauth2(user, token.strip())
        if identity is None:
            LOG.info("%s %s: AUTH XOAUTH2 user=%s -> %s", self.endpoint, self.peer_ip(), user, answer.split(" [")[0])
            return AuthResult(success=False, handled=False, message=answer)
        LOG.info("%s %s: AUTH XOAUTH2 user=%s app=%s -> 235", self.endpoint, self.peer_ip(), user, identity.app)
        return AuthResult(success=True, auth_data=identity, message=self.lab.answer("auth_ok"))

    # ----- envelope and data -------------------------------------------------------------------------------------
    def _relay_via(self):
        connector = self.lab.config["connector"]
        if self.peer_ip() in connector.get("client_ips", []):
            return "ip"
        allowed = [name.lower() for name in connector.get("cert_names", [])]
        if any(name in allowed for name in self.client_cert_names()):
            return "certificate"
        return None

    async def lab_rcpt(self, address, rcpt_options):
        if self.mode == "submission" and self.session.authenticated:
            user = self.session.auth_data.user
            if self.lab.over_recipient_quota(user, len(self.envelope.rcpt_tos) + 1):
                LOG.info("%s %s: %s over the recipient quota -> 554 5.2.2", self.endpoint, self.peer_ip(), user)
                return self.lab.answer("quota_exceeded")
            if self.lab.over_tenant_outbound_limit(address, self.envelope.rcpt_tos):
                LOG.info("%s %s: tenant external recipient limit -> 550 5.7.233", self.endpoint, self.peer_ip())
                return self.lab.answer("tenant_outbound_limit")
        if self.mode == "connector":
            domain = address.rpartition("@")[2].lower()
            tenant = self.lab.tenant()
            sender_domain = (self.envelope.mail_from or "").rpartition("@")[2].lower()
            if (self._relay_via() is not None and domain not in tenant["domains"]
                    and self.lab.config["connector"].get("require_accepted_sender")
                    and sender_domain not in tenant["domains"]):
                LOG.info("%s %s: sender domain %s not accepted -> 550 5.7.64", self.endpoint, self.peer_ip(),
                         sender_domain or "<>")
                return self.lab.answer("relay_denied")
            if self._relay_via() is None:
                if domain not in tenant["domains"]:
                    LOG.info("%s %s: RCPT %s -> 550 5.7.64", self.endpoint, self.peer_ip(), address)
                    return self.lab.answer("relay_denied")
                if tenant.get("direct_send_rejected"):
                    LOG.info("%s %s: RCPT %s -> 550 5.7.68", self.endpoint, self.peer_ip(), address)
                    return self.lab.answer("direct_send_rejected")
        self.envelope.rcpt_tos.append(address)
        self.envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 Recipient OK"

    async def lab_data(self):
        raw = self.envelope.original_content or b""
        headers = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw)
        header_from = [addr for dummy, addr in email.utils.getaddresses(headers.get_all("From", []))]
        identity = self.session.auth_data if self.session.authenticated else None
        record = {
            "endpoint": self.endpoint,
            "peer": list(self.session.peer[:2]) if isinstance(self.session.peer, tuple) else self.session.peer,
            "helo": self.session.host_name,
            "tls_version": self.tls_version(),
            "user": identity.user if identity else None,
            "app": identity.app if identity else None,
            "auth_mechanism": identity.mechanism if identity else None,
            "relay_via": None,
            "client_cert_names": self.client_cert_names(),
            "mail_from": self.envelope.mail_from,
            "rcpt_tos": list(self.envelope.rcpt_tos),
            "header_from": header_from,
            "subject": headers.get("Subject"),
            "message_id": (headers.get("Message-ID") or "").strip() or None,
            "size": len(raw),
            "sha256": hashlib.sha256(raw).hexdigest(),
            "data": raw.decode("utf-8", "replace"),
        }
        for needle, answer in (self.lab.config.get("refuse_subjects") or {}).items():
            if needle and needle in (record["subject"] or ""):
                login = identity.user if identity else ""
                LOG.info("%s %s: subject matches %r -> %s", self.endpoint, self.peer_ip(), needle, answer)
                return self.lab.answer(answer, login=login, address=self.envelope.mail_from or "", ip=self.peer_ip())
        if self.mode == "submission":
            for address in [self.envelope.mail_from] + header_from:
                if not self.lab.may_send_as(identity.user, address):
                    storedrv = self.lab.tenant().get("send_as_check") == "storedrv"
                    LOG.info("%s %s: %s may not send as %s -> 554 %s", self.endpoint, self.peer_ip(),
                             identity.user, address, "5.2.0" if storedrv else "5.2.252")
                    if storedrv:
                        return self.lab.answer("send_as_denied_storedrv")
                    return self.lab.answer("send_as_denied", login=identity.user, address=address)
            self.lab.count_sent(identity.user, len(self.envelope.rcpt_tos))
            self.lab.count_external(self.envelope.rcpt_tos)
        else:
            via = self._relay_via()
            record["relay_via"] = via or "direct_send"
        record = self.lab.store(record)
        message_id = "%s@%s" % (uuid.UUID(record["id"]), self.lab.hostname)
        LOG.info("%s %s: stored message %s from %s to %d recipient(s)", self.endpoint, self.peer_ip(), record["id"],
                 self.envelope.mail_from, len(self.envelope.rcpt_tos))
        return self.lab.answer("queued", message_id=message_id)
