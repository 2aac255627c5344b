# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""mailfleet-xoauth2-relay: the last hop of Postfix's queue to Microsoft 365 with OAuth2 (XOAUTH2).

Postfix keeps the queue, the retries, the bounces and the pacing; this program only authenticates. The relay
role installs it verbatim (``/usr/local/lib/mailfleet/mailfleet_xoauth2_relay.py``, next to the collection's
OAuth2 client ``mailfleet_oauth2.py``) and wires it into Postfix::

    master.cf  mailfleet-xoauth2 unix - n n - - spawn user=mailfleet-relay
                   argv=/usr/bin/python3 /usr/local/lib/mailfleet/mailfleet_xoauth2_relay.py /etc/mailfleet/relay/xoauth2.json
    main.cf    default_transport = lmtp:unix:private/mailfleet-xoauth2

For every connection of Postfix's LMTP client, spawn(8) runs this program as the dedicated system user (the
only one that can read the client secret or key and the token cache) with the connection on its standard
input and output. The program takes the cached token (or fetches one: ``_oauth2.cached_token``), connects to
the submission host, STARTTLS, ``AUTH XOAUTH2``, and only then greets Postfix. It then forwards MAIL, RCPT,
DATA (the message lines exactly as Postfix sent them, dot-stuffed), RSET and QUIT one at a time and hands the
upstream's replies back verbatim, so Postfix logs, retries and bounces on Microsoft's own answers:

* anything that keeps the session from being set up - the token endpoint down, slow, 5xx, 429 or a transient
  AADSTS error, a refused or timed-out connection, TLS failures, 4xx greetings - becomes a ``421`` greeting
  with the reason: Postfix defers the mail and shows the reason in its log and ``postqueue -p``;
* credentials refused for good (the token endpoint refuses the secret or certificate, or Microsoft answers
  ``535 5.7.x`` to a freshly fetched token) are deferred the same way for ``auth_failure_defer`` seconds from
  the first refusal (so an admin can fix the app registration without losing mail), then refused with a 5xx
  reply that carries Microsoft's text, which Postfix bounces;
* Microsoft's replies to the mail itself are passed through: ``451 4.7.500`` throttling defers,
  ``554 5.2.252 SendAsDenied`` or ``550 5.1.x`` bounce with Microsoft's text in the DSN;
* Postfix's own bounces (``MAIL FROM:<>``) leave with the relay mailbox as the envelope sender (``null_sender``),
  the only sender Microsoft accepts from this login, so the DSN reaches the sender.

LMTP gives one reply per recipient after DATA, so each recipient keeps its own status. Standard library only
(plus the collection's ``_oauth2``); the configuration is a JSON file readable only by the dedicated user.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import json
import os
import smtplib
import socket
import ssl
import sys
import time

try:
    import syslog
except ImportError:  # pragma: no cover - not on Linux
    syslog = None

try:
    from ansible_collections.mailfleet.outlook.plugins.module_utils import _oauth2 as oauth2
except ImportError:  # installed on the target next to this file
    import mailfleet_oauth2 as oauth2  # pylint: disable=import-error

PROGRAM = "mailfleet-xoauth2"
DEFAULTS = {
    "connect_timeout": 30,       # TCP connect, greeting, EHLO, STARTTLS, AUTH
    "command_timeout": 300,      # MAIL, RCPT, DATA (Postfix's own smtp_*_timeout are 300 s)
    "data_done_timeout": 600,    # the reply after the final "." (smtp_data_done_timeout)
    "client_timeout": 300,       # idle time allowed between Postfix's commands
    "token_timeout": 20,
    "token_failure_memory": 10,  # seconds a temporary token failure is answered from memory (0: never)
    "auth_failure_defer": 86400,
}
TLS_VERSIONS = {"1.2": "TLSv1_2", "1.3": "TLSv1_3"}
MAX_LINE = 65536
DATA_CHUNK = 65536


class Reply(object):
    """One SMTP/LMTP reply: a code and its text lines (each text keeps its enhanced status code)."""

    def __init__(self, code, lines):
        self.code = int(code)
        self.lines = list(lines) or [""]

    @classmethod
    def make(cls, code, text):
        return cls(code, text.split("\n"))

    @classmethod
    def from_smtplib(cls, code, message):
        text = message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message or "")
        return cls(code if code and code > 0 else 421, text.split("\n"))

    @property
    def text(self):
        return " ".join(line.strip() for line in self.lines)

    def render(self):
        out = []
        for index, line in enumerate(self.lines):
            sep = " " if index == len(self.lines) - 1 else "-"
            out.append("%d%s%s\r\n" % (self.code, sep, line.replace("\r", " ").replace("\n", " ")))
        return "".join(out).encode("utf-8", "replace")

    def __str__(self):
        return "%d %s" % (self.code, self.text)


class SetupFailure(Exception):
    """The session to the upstream could not be set up; ``reply`` is what Postfix gets, ``credentials`` tells
    whether the credentials themselves were refused (bounded deferral) or the failure is temporary."""

    def __init__(self, reply, credentials=False):
        Exception.__init__(self, str(reply))
        self.reply = reply
        self.credentials = credentials


def _why(err):
    return str(err) or err.__class__.__name__


def log(priority, message):
    if syslog is not None:
        try:
            syslog.syslog(priority, message)
        except (OSError, ValueError):  # pragma: no cover
            pass


def _info():
    return syslog.LOG_INFO if syslog else 6


def _warning():
    return syslog.LOG_WARNING if syslog else 4


def load_config(path):
    with open(path, "r") as handle:
        cfg = json.load(handle)
    for key in ("host", "port", "username", "token_url", "client_id", "scope", "cache", "state"):
        if not cfg.get(key):
            raise ValueError("%s: %s is missing" % (path, key))
    if not cfg.get("client_secret") and not (cfg.get("client_certificate") and cfg.get("client_key")):
        raise ValueError("%s: client_secret, or client_certificate and client_key, are missing" % path)
    for key, value in DEFAULTS.items():
        cfg.setdefault(key, value)
    return cfg


def _stamp(epoch):
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(epoch))


class CredentialState(object):
    """When the credentials were first refused (a small JSON file of the dedicated user)."""

    def __init__(self, path, clock=time.time):
        self.path = path
        self.clock = clock

    def since(self):
        try:
            with open(self.path, "r") as handle:
                return float(json.load(handle)["since"])
        except (IOError, OSError, ValueError, KeyError, TypeError):
            return None

    def refused(self, reason):
        """Record a refusal; returns the time of the first one."""
        since = self.since()
        if since is None:
            since = self.clock()
            oauth2.write_private(self.path, json.dumps({"since": since, "reason": reason[:500]}).encode("utf-8"))
        return since

    def accepted(self):
        try:
            os.unlink(self.path)
        except OSError:
            pass


class Upstream(object):
    """The authenticated SMTP session to the submission host (smtplib, raw command forwarding)."""

    def __init__(self, cfg, clock=time.time):
        self.cfg = cfg
        self.clock = clock
        self.smtp = None
        self.features = {}
        self.name = "%s:%s" % (cfg["host"], cfg["port"])

    # -- token ------------------------------------------------------------------------------------------
    def _identity(self):
        cfg = self.cfg
        kind = "certificate" if cfg.get("client_certificate") else "secret"
        return {"token_url": cfg["token_url"], "client_id": cfg["client_id"], "scope": cfg["scope"], "credential": kind}

    def token(self, force=False):
        cfg = self.cfg

        def fetch():
            return oauth2.fetch_token(cfg["token_url"], cfg["client_id"], cfg.get("client_secret"), cfg["scope"],
                                      ca_file=cfg.get("token_ca_file") or cfg.get("ca_file") or None,
                                      timeout=float(cfg["token_timeout"]),
                                      client_certificate=cfg.get("client_certificate"),
                                      client_key=cfg.get("client_key"))
        try:
            token, fetched = oauth2.cached_token(cfg["cache"], fetch, self._identity(), force=force, clock=self.clock,
                                                 failure_ttl=int(cfg["token_failure_memory"]))
        except oauth2.OAuth2Error as err:
            if err.temporary:
                raise SetupFailure(Reply.make(421, "4.7.0 %s: no OAuth2 token: %s" % (PROGRAM, err)))
            raise SetupFailure(Reply.make(535, "5.7.0 %s: the token endpoint refused the credentials: %s"
                                          % (PROGRAM, err)), credentials=True)
        except (IOError, OSError) as err:
            raise SetupFailure(Reply.make(421, "4.3.0 %s: token cache %s: %s" % (PROGRAM, cfg["cache"], err)))
        if fetched:
            log(_info(), "fetched a new token for client_id=%s (valid %ss)" % (cfg["client_id"], token.get("expires_in")))
        return token, fetched

    # -- SMTP -------------------------------------------------------------------------------------------
    def _tls_context(self):
        cfg = self.cfg
        context = ssl.create_default_context(cafile=cfg.get("ca_file") or None)
        minimum = TLS_VERSIONS.get(str(cfg.get("tls_min_version") or "1.2"))
        if minimum and hasattr(ssl, "TLSVersion"):
            context.minimum_version = getattr(ssl.TLSVersion, minimum)
        if cfg.get("tls_verify") is False:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def connect(self):
        cfg = self.cfg
        timeout = float(cfg["connect_timeout"])
        helo = cfg.get("helo") or socket.gethostname()
        security = cfg.get("security") or "starttls"
        try:
            if security == "tls":
                self.smtp = smtplib.SMTP_SSL(cfg["host"], int(cfg["port"]), local_hostname=helo, timeout=timeout,
                                             context=self._tls_context())
            else:
                self.smtp = smtplib.SMTP(cfg["host"], int(cfg["port"]), local_hostname=helo, timeout=timeout)
            code, message = self.smtp.ehlo()
            if code != 250:
                raise SetupFailure(Reply.make(421, "4.4.0 %s: %s answered EHLO with %s %s"
                                              % (PROGRAM, self.name, code, message.decode("utf-8", "replace"))))
            if security == "starttls":
                if not self.smtp.has_extn("starttls"):
                    raise SetupFailure(Reply.make(421, "4.7.0 %s: %s does not offer STARTTLS" % (PROGRAM, self.name)))
                self.smtp.starttls(context=self._tls_context())
                self.smtp.ehlo()
        except SetupFailure:
            self.close()
            raise
        except smtplib.SMTPConnectError as err:
            self.close()
            reply = Reply.from_smtplib(err.smtp_code, err.smtp_error)
            raise SetupFailure(Reply.make(421, "4.4.0 %s: %s greeted with %s" % (PROGRAM, self.name, reply)))
        except smtplib.SMTPResponseException as err:
            self.close()
            reply = Reply.from_smtplib(err.smtp_code, err.smtp_error)
            raise SetupFailure(Reply.make(421, "4.7.0 %s: %s refused STARTTLS: %s" % (PROGRAM, self.name, reply)))
        except ssl.SSLError as err:
            self.close()
            raise SetupFailure(Reply.make(421, "4.7.0 %s: TLS with %s failed: %s"
                                          % (PROGRAM, self.name, getattr(err, "verify_message", None) or err)))
        except (socket.timeout, OSError, smtplib.SMTPException) as err:
            self.close()
            raise SetupFailure(Reply.make(421, "4.4.1 %s: cannot connect to %s: %s"
                                          % (PROGRAM, self.name, _why(err))))
        self.features = dict(self.smtp.esmtp_features)

    def _auth(self, token):
        blob = base64.b64encode(("user=%s\x01auth=Bearer %s\x01\x01" % (self.cfg["username"], token))
                                .encode("utf-8")).decode("ascii")
        code, message = self.smtp.docmd("AUTH", "XOAUTH2 " + blob)
        if code == 334:  # an error challenge (base64 JSON): the client answers with an empty line
            code, message = self.smtp.docmd("")
        return Reply.from_smtplib(code, message)

    def open(self, state):
        """Token, connection, STARTTLS, AUTH XOAUTH2; raises SetupFailure with the reply Postfix is to get."""
        token, fetched = self.token()
        self.connect()
        try:
            reply = self._auth(token["access_token"])
            if reply.code >= 500 and not fetched:
                # the cached token may have been revoked: one more try with a new one before believing it
                log(_info(), "%s refused the cached token (%s): fetching a new one" % (self.name, reply))
                token, fetched = self.token(force=True)
                reply = self._auth(token["access_token"])
        except SetupFailure:
            self.close()
            raise
        except (socket.timeout, OSError, smtplib.SMTPException) as err:
            self.close()
            raise SetupFailure(Reply.make(421, "4.4.2 %s: %s dropped the connection during AUTH: %s"
                                          % (PROGRAM, self.name, _why(err))))
        if reply.code == 235:
            state.accepted()
            return
        self.close()
        if reply.code >= 500:
            raise SetupFailure(reply, credentials=True)
        raise SetupFailure(Reply(421, reply.lines))

    def forward(self, line, timeout=None):
        """Send one command line (bytes, CRLF included) and return the reply."""
        if timeout:
            self.smtp.sock.settimeout(timeout)
        self.smtp.send(line)
        code, message = self.smtp.getreply()
        return Reply.from_smtplib(code, message)

    def send_raw(self, data):
        self.smtp.send(bytes(data))

    def close(self):
        if self.smtp is not None:
            try:
                self.smtp.close()
            except (OSError, smtplib.SMTPException):  # pragma: no cover
                pass
        self.smtp = None


class Session(object):
    """One LMTP session with Postfix's LMTP client (``rfile``/``wfile``: binary files of the connection)."""

    def __init__(self, cfg, rfile, wfile, upstream=None, clock=time.time):
        self.cfg = cfg
        self.rfile = rfile
        self.wfile = wfile
        self.clock = clock
        self.upstream = upstream or Upstream(cfg, clock=clock)
        self.state = CredentialState(cfg["state"], clock=clock)
        self.refusal = None
        self.accepted = 0

    def send(self, reply):
        self.wfile.write(reply.render())
        self.wfile.flush()

    def _setup(self):
        """Returns the greeting for Postfix."""
        try:
            self.upstream.open(self.state)
        except SetupFailure as failure:
            if not failure.credentials:
                log(_warning(), "deferring: %s" % failure.reply)
                return Reply(421, failure.reply.lines)
            since = self.state.refused(failure.reply.text)
            bound = float(self.cfg["auth_failure_defer"])
            if self.clock() < since + bound:
                log(_warning(), "credentials refused since %s, deferring until %s: %s"
                    % (_stamp(since), _stamp(since + bound), failure.reply))
                return Reply.make(421, "4.7.0 %s: credentials refused since %s, mail is deferred until %s "
                                       "(auth_failure_defer), then bounced: %s"
                                  % (PROGRAM, _stamp(since), _stamp(since + bound), failure.reply))
            log(_warning(), "credentials refused since %s (longer than %ds): bouncing: %s"
                % (_stamp(since), bound, failure.reply))
            code = failure.reply.code if 500 <= failure.reply.code < 600 else 550
            self.refusal = Reply(code, ["5.7.0 %s: credentials refused since %s (longer than auth_failure_defer):"
                                        % (PROGRAM, _stamp(since))] + failure.reply.lines)
            return Reply.make(220, "%s %s LMTP (credentials refused: mail is bounced)" % (socket.gethostname(), PROGRAM))
        return Reply.make(220, "%s %s LMTP ready, authenticated to %s"
                          % (socket.gethostname(), PROGRAM, self.upstream.name))

    def _lhlo(self):
        lines = ["%s %s" % (socket.gethostname(), PROGRAM), "ENHANCEDSTATUSCODES"]
        features = self.upstream.features
        if features.get("size"):
            lines.append("SIZE %s" % features["size"].strip())
        for name in ("8bitmime", "smtputf8", "dsn"):
            if name in features:
                lines.append(name.upper())
        return Reply(250, lines)

    def run(self):
        greeting = self._setup()
        self.send(greeting)
        if greeting.code != 220:
            return 0
        try:
            return self._loop()
        finally:
            self.upstream.close()

    def _loop(self):
        while True:
            try:
                line = self.rfile.readline(MAX_LINE)
            except (socket.timeout, OSError):
                return 0
            if not line:
                return 0
            verb = line.split(b" ", 1)[0].strip().upper()
            if verb == b"LHLO":
                self.send(self._lhlo())
            elif verb == b"QUIT":
                self.send(Reply.make(221, "2.0.0 %s closing" % PROGRAM))
                if self.refusal is None:
                    try:
                        self.upstream.forward(b"QUIT\r\n", timeout=10)
                    except (OSError, smtplib.SMTPException):
                        pass
                return 0
            elif verb == b"NOOP" or (verb == b"RSET" and self.refusal is not None):
                self.send(Reply.make(250, "2.0.0 OK"))
            elif self.refusal is not None and verb in (b"MAIL", b"RCPT", b"DATA"):
                self.send(self.refusal)
            elif verb in (b"MAIL", b"RCPT", b"RSET", b"DATA"):
                if not self._forward(verb, line):
                    return 0
            else:
                self.send(Reply.make(502, "5.5.1 %s: command not implemented" % PROGRAM))

    def _lost(self, err):
        reply = Reply.make(421, "4.4.2 %s: lost the connection to %s: %s"
                           % (PROGRAM, self.upstream.name, _why(err)))
        log(_warning(), str(reply))
        self.send(reply)
        return False

    def _null_sender(self, line):
        """``MAIL FROM:<>`` (a bounce or delivery report of Postfix) leaves as the relay mailbox: Microsoft only
        accepts the authenticated mailbox (or one it may send as) as the sender, so a null sender would be refused
        and the sender would never learn why its mail bounced. Postfix still treats the message as a bounce."""
        mailbox = self.cfg.get("null_sender")
        head = b"MAIL FROM:<>"
        if mailbox and line[:len(head)].upper() == head:
            return b"MAIL FROM:<" + mailbox.encode("utf-8") + b">" + line[len(head):]
        return line

    def _forward(self, verb, line):
        try:
            if verb == b"DATA":
                return self._data(line)
            if verb == b"MAIL":
                line = self._null_sender(line)
            reply = self.upstream.forward(line, timeout=float(self.cfg["command_timeout"]))
        except (socket.timeout, OSError, smtplib.SMTPException) as err:
            return self._lost(err)
        if verb == b"MAIL":
            self.accepted = 0
        elif verb == b"RCPT" and 200 <= reply.code < 300:
            self.accepted += 1
        elif verb == b"RSET":
            self.accepted = 0
        self.send(reply)
        return reply.code != 421

    def _data(self, line):
        reply = self.upstream.forward(line, timeout=float(self.cfg["command_timeout"]))
        self.send(reply)
        if reply.code != 354:
            return reply.code != 421
        buffer = bytearray()
        while True:
            chunk = self.rfile.readline(MAX_LINE)
            if not chunk:
                raise OSError("Postfix closed the connection during DATA")
            if chunk in (b".\r\n", b".\n"):
                break
            buffer += chunk
            if len(buffer) >= DATA_CHUNK:
                self.upstream.send_raw(buffer)
                buffer = bytearray()
        buffer += b".\r\n"
        self.upstream.send_raw(buffer)
        reply = self._final()
        log(_info(), "message for %d recipient(s): %s" % (self.accepted, reply))
        for dummy in range(max(1, self.accepted)):
            self.send(reply)
        self.accepted = 0
        return reply.code != 421

    def _final(self):
        self.upstream.smtp.sock.settimeout(float(self.cfg["data_done_timeout"]))
        code, message = self.upstream.smtp.getreply()
        return Reply.from_smtplib(code, message)


def _connection():
    """Binary reader and writer of the connection spawn(8) gave us (a socket on stdin/stdout)."""
    try:
        sock = socket.socket(fileno=os.dup(0))
    except OSError:
        return os.fdopen(os.dup(0), "rb"), os.fdopen(os.dup(1), "wb"), None
    return sock.makefile("rb"), sock.makefile("wb"), sock


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    # spawn(8) connects stderr to Postfix's LMTP client too: nothing may be written there
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    if syslog is not None:
        syslog.openlog(PROGRAM, syslog.LOG_PID, syslog.LOG_MAIL)
    rfile, wfile, sock = _connection()
    if sock is not None:
        sock.settimeout(float(DEFAULTS["client_timeout"]))
    try:
        cfg = load_config(argv[0] if argv else "/etc/mailfleet/relay/xoauth2.json")
    except (IndexError, IOError, OSError, ValueError) as err:
        reply = Reply.make(421, "4.3.5 %s: configuration: %s" % (PROGRAM, err))
        log(_warning(), str(reply))
        wfile.write(reply.render())
        wfile.flush()
        return 0
    if sock is not None:
        sock.settimeout(float(cfg["client_timeout"]))
    try:
        return Session(cfg, rfile, wfile).run()
    except (OSError, smtplib.SMTPException) as err:
        log(_warning(), "session ended: %s" % err)
        return 0
    except Exception as err:  # pylint: disable=broad-except
        # never a traceback to Postfix: one line to the log, and Postfix defers (lost connection)
        log(_warning(), "internal error: %s: %s" % (err.__class__.__name__, err))
        try:
            wfile.write(Reply.make(421, "4.3.0 %s: internal error (%s)" % (PROGRAM, err.__class__.__name__)).render())
            wfile.flush()
        except (OSError, ValueError):
            pass
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
