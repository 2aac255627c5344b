# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The probe engine of smtp_check: one probe per endpoint (``EndpointProbe``), one deadline per probe.

- A probe walks the stages ``dns``, ``connect``, then per security mode
  ``starttls``: ``banner``, ``ehlo``, ``starttls``, ``tls`` (handshake, certificate, EHLO again);
  ``tls`` (implicit): ``tls``, ``banner``, ``ehlo``; ``none``: ``banner``, ``ehlo``;
  then optionally ``auth`` and ``send``.  IMAP and POP endpoints use the same stages: the greeting is
  the ``banner``, CAPABILITY / CAPA is the ``ehlo`` stage, STARTTLS / STLS the ``starttls`` stage.

The deadline and the line reader are described in ``channel``, secrets and the token in ``options``, the
heuristics in ``tls``.  Standard library only: this file runs on targets.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import socket
import ssl
import threading
import time

from ansible_collections.mailfleet.outlook.plugins.module_utils._diagnosis import classify_reply, diagnosis
from ansible_collections.mailfleet.outlook.plugins.module_utils._oauth2 import OAuth2Error
from ansible_collections.mailfleet.outlook.plugins.module_utils._probe import proxy
from ansible_collections.mailfleet.outlook.plugins.module_utils._probe.channel import (
    ADDRESS_FAMILIES,
    Channel,
    Deadline,
    MAX_WORKERS,
    QUIT_BUDGET,
    _BadReply,
    _Closed,
    _RESET_ERRNOS,
    _ROUTING_ERRNOS,
    _Timeout,
    _clip,
    _printable,
)
from ansible_collections.mailfleet.outlook.plugins.module_utils._probe.errors import ProbeError
from ansible_collections.mailfleet.outlook.plugins.module_utils._probe.imap_pop import _IMAP, _POP
from ansible_collections.mailfleet.outlook.plugins.module_utils._probe.options import (
    Redactor,
    auth_reply_text,
    check_plaintext_auth,
    normalize_endpoint,
    normalize_options,
    secrets_of,
)
from ansible_collections.mailfleet.outlook.plugins.module_utils._probe.smtp import _SMTP, _looks_like_text
from ansible_collections.mailfleet.outlook.plugins.module_utils._probe.tls import (
    _NOT_TLS_REASONS,
    _OLD_TLS_REASONS,
    _VERSION_NAMES,
    _VERSION_RANK,
    _X509_EXPIRED,
    _X509_HOSTNAME,
    _X509_NOT_YET_VALID,
    _decode_der,
    _detect_context,
    cert_summary,
    make_tls_context,
)


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
                self._text_instead_of_tls(raw)
            if implicit and reason in _NOT_TLS_REASONS:
                raise ProbeError("tls_on_plain_port", "(OpenSSL: %s)" % reason)
            if reason in _OLD_TLS_REASONS:
                raise ProbeError("tls_version_too_old",
                                 "(OpenSSL: %s; min_tls_version is %s)" % (reason, self.opts["min_tls_version"]))
            self._version_verdict("(OpenSSL: %s)" % (reason or err))
        except _Closed:
            raw = channel.handshake_raw
            if implicit and _looks_like_text(raw):
                self._text_instead_of_tls(raw)
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

    def _text_instead_of_tls(self, raw):
        """An implicit-TLS endpoint answered the ClientHello with text (a plain-text SMTP/IMAP/POP port): the
        ``tls_on_plain_port`` verdict; a reply line that starts with a code is kept as the banner."""
        if raw[:3].isdigit():
            self.result["banner"] = _clip(_printable(raw.split(b"\n", 1)[0].rstrip(b"\r"), 500))
        raise ProbeError("tls_on_plain_port", "The server answered the TLS ClientHello with text: %r."
                         % _printable(raw, 80))

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
