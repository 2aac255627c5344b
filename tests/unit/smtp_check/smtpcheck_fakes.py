# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Small in-test servers on 127.0.0.1 for the smtp_check unit tests (and the fuzz test).

``FakeServer(handler)`` listens on an ephemeral loopback port and runs ``handler(conn)`` in a thread
per connection; ``conn`` is a ``Conn`` with blocking helpers (``send``, ``line``, ``start_tls``).
``scripted_smtp(**behaviour)`` builds a handler that behaves like a configurable SMTP server
(Exchange Online like by default: STARTTLS before AUTH, AUTH LOGIN XOAUTH2 after it).
Every server socket has a timeout, so no thread outlives a test by more than a few seconds.
"""

from __future__ import annotations

import base64
import datetime
import re
import socket
import ssl
import threading
import time
import warnings

import trustme


class Conn:
    def __init__(self, sock, server):
        self.sock = sock
        self.server = server
        self.file = None
        self.tls = False
        self.received = []  # every line the client sent (decoded), for assertions

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.sock.sendall(data)

    def reply(self, text):
        self.send(text + "\r\n")

    def line(self):
        buf = bytearray()
        while not buf.endswith(b"\n"):
            chunk = self.sock.recv(1)
            if not chunk:
                raise EOFError
            buf += chunk
            if len(buf) > 100000:
                raise EOFError
        text = bytes(buf).decode("utf-8", "replace").rstrip("\r\n")
        self.received.append(text)
        self.server.log.append(text)
        return text

    def start_tls(self, context):
        self.sock = context.wrap_socket(self.sock, server_side=True)
        self.tls = True


class FakeServer:
    def __init__(self, handler, host="127.0.0.1", timeout=30.0):
        self.handler = handler
        self.timeout = timeout
        self.log = []
        self.connections = 0
        self.lsock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((host, 0))
        self.lsock.listen(64)
        self.lsock.settimeout(0.2)
        self.port = self.lsock.getsockname()[1]
        self.host = host
        self._stop = threading.Event()
        self._socks = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self._stop.is_set():
            try:
                sock, _addr = self.lsock.accept()
            except (socket.timeout, OSError):
                continue
            self.connections += 1
            sock.settimeout(self.timeout)
            self._socks.append(sock)
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock):
        conn = Conn(sock, self)
        try:
            self.handler(conn)
        except Exception:  # noqa: BLE001 - a fake server ends its connection on any error
            pass
        finally:
            try:
                conn.sock.close()
            except OSError:
                pass

    def close(self):
        self._stop.set()
        self.lsock.close()
        for sock in self._socks:
            try:
                sock.close()
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Certs:
    """A trustme CA with good, expired, wrong-host and untrusted server certificates."""

    def __init__(self, tmp_path):
        self.ca = trustme.CA()
        self.ca_file = str(tmp_path / "ca.pem")
        self.ca.cert_pem.write_to_path(self.ca_file)
        now = datetime.datetime.now(datetime.timezone.utc)
        self.good = self._ctx(self.ca.issue_cert("localhost", "127.0.0.1", "::1"))
        self.soon = self._ctx(self.ca.issue_cert("localhost", "127.0.0.1", not_after=now + datetime.timedelta(days=5)))
        self.expired = self._ctx(self.ca.issue_cert(
            "localhost", "127.0.0.1", not_before=now - datetime.timedelta(days=30),
            not_after=now - datetime.timedelta(days=2)))
        self.wrong_host = self._ctx(self.ca.issue_cert("mail.other.test"))
        self.untrusted = self._ctx(trustme.CA().issue_cert("localhost", "127.0.0.1"))

    @staticmethod
    def _ctx(leaf, max_version=None, min_version=None):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        leaf.configure_cert(ctx)
        if max_version is not None:
            ctx.maximum_version = max_version
        if min_version is not None:
            ctx.minimum_version = min_version
        return ctx

    def old_only(self):
        """A server context that speaks only TLS 1.0/1.1."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ca.issue_cert("localhost", "127.0.0.1", key_type=trustme.KeyType.RSA).configure_cert(ctx)
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = ssl.TLSVersion.TLSv1
            ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        return ctx


def b64d(text):
    return base64.b64decode(text.encode("ascii")).decode("utf-8", "replace")


def scripted_smtp(
    tls_context=None,
    banner="220 fake.test Microsoft ESMTP MAIL Service ready",
    implicit_tls=False,
    offer_starttls=True,
    auth_before_tls=False,
    mechanisms="LOGIN XOAUTH2",
    starttls_reply="220 2.0.0 SMTP server ready",
    drop_after_starttls=False,
    inject_after_starttls=None,
    ehlo_tls_reply=None,
    auth_reply="235 2.7.0 Authentication successful",
    mail_reply="250 2.1.0 Sender OK",
    rcpt_reply="250 2.1.5 Recipient OK",
    data_end_reply="250 2.0.0 OK <queued>",
    messages=None,
    delay_banner=0.0,
):
    """An SMTP server handler; each keyword switches one behaviour."""

    def handler(conn):
        if implicit_tls:
            conn.start_tls(tls_context)
        if delay_banner:
            time.sleep(delay_banner)
        conn.reply(banner)
        authed = False
        while True:
            line = conn.line()
            verb = line.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                if ehlo_tls_reply and conn.tls:
                    conn.reply(ehlo_tls_reply)
                    return
                ext = ["250-fake.test Hello [127.0.0.1]", "250-SIZE 157286400", "250-8BITMIME"]
                if offer_starttls and not conn.tls and not implicit_tls:
                    ext.append("250-STARTTLS")
                if mechanisms and (conn.tls or auth_before_tls):
                    ext.append("250-AUTH " + mechanisms)
                ext.append("250 SMTPUTF8")
                conn.send("\r\n".join(ext) + "\r\n")
            elif verb == "STARTTLS":
                # an injected answer travels in the same segment as the 220 (the CVE-2011-0411 pattern)
                conn.send(starttls_reply + "\r\n" + (inject_after_starttls or ""))
                if not starttls_reply.startswith("220"):
                    continue
                if drop_after_starttls:
                    return
                conn.start_tls(tls_context)
            elif verb == "AUTH":
                parts = line.split(" ")
                mech = parts[1].upper() if len(parts) > 1 else ""
                if mech == "LOGIN":
                    conn.reply("334 VXNlcm5hbWU6")
                    conn.line()
                    conn.reply("334 UGFzc3dvcmQ6")
                    conn.line()
                elif mech == "XOAUTH2" and auth_reply.startswith("5"):
                    err = base64.b64encode(b'{"status":"401","schemes":"bearer","scope":"https://outlook.office.com/SMTP.Send"}')
                    conn.reply("334 " + err.decode())
                    conn.line()
                conn.reply(auth_reply)
                authed = auth_reply.startswith("235")
            elif verb == "MAIL":
                conn.reply(mail_reply)
            elif verb == "RCPT":
                conn.reply(rcpt_reply)
            elif verb == "DATA":
                conn.reply("354 Start mail input; end with <CRLF>.<CRLF>")
                body = []
                while True:
                    data_line = conn.line()
                    if data_line == ".":
                        break
                    body.append(data_line)
                if messages is not None:
                    messages.append("\r\n".join(body))
                conn.reply(data_end_reply)
            elif verb == "QUIT":
                conn.reply("221 2.0.0 Service closing transmission channel")
                return
            elif verb == "RSET" or verb == "NOOP":
                conn.reply("250 2.0.0 OK")
            else:
                conn.reply("500 5.3.3 Unrecognized command")
        del authed

    return handler


def tarpit(conn):
    """Accept and never answer (until the client goes away or the server socket times out)."""
    try:
        while conn.sock.recv(4096):
            pass
    except OSError:
        pass


def close_at_once(conn):
    conn.sock.close()


def slow_banner(conn, interval=0.1):
    for byte in b"220 slow.test ESMTP a very slow server that sends one byte per interval\r\n":
        conn.send(bytes([byte]))
        time.sleep(interval)


def _imap_command(conn):
    """One IMAP command line, with its synchronizing literals ({n}) read in (the client waits for "+")."""
    line = conn.line()
    parts = []
    while True:
        match = re.search(r"\{(\d+)\}$", line)
        if not match:
            parts.append(line)
            if len(parts) > 1:
                conn.server.log.append("".join(parts))  # the whole command, literals in
            return "".join(parts)
        parts.append(line[:match.start()])
        conn.reply("+ Ready for additional command text.")
        size, data = int(match.group(1)), b""
        while len(data) < size:
            chunk = conn.sock.recv(size - len(data))
            if not chunk:
                raise EOFError
            data += chunk
        parts.append('"<literal %s>"' % data.decode("utf-8"))
        line = conn.line()


def imap_server(tls_context=None, implicit_tls=True, starttls=False, answers=None, sasl_ir=True):
    """An Exchange Online-like IMAP server. ``answers``: command -> status after the tag ("OK ..."; LOGIN may be a
    function of the command's arguments), or for
    EXAMINE a list of lines (untagged first, the status last); AUTHENTICATE may be a list too (lines sent as they
    are, e.g. an error challenge "+ <b64>", before the status)."""
    answers = dict(answers or {})

    def handler(conn):
        if implicit_tls:
            conn.start_tls(tls_context)
        conn.reply("* OK The Microsoft Exchange IMAP4 service is ready.")
        while True:
            line = _imap_command(conn)
            tag, _sp, rest = line.partition(" ")
            cmd, _sp, args = rest.partition(" ")
            cmd = cmd.upper()
            if cmd == "CAPABILITY":
                caps = "IMAP4 IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 %sUIDPLUS ID UNSELECT CHILDREN IDLE NAMESPACE LITERAL+" % (
                    "SASL-IR " if sasl_ir else "")
                if starttls and not conn.tls:
                    caps = "IMAP4 IMAP4rev1 STARTTLS LOGINDISABLED"
                conn.reply("* CAPABILITY " + caps)
                conn.reply(tag + " OK CAPABILITY completed.")
            elif cmd == "STARTTLS":
                conn.reply(tag + " OK Begin TLS negotiation now.")
                conn.start_tls(tls_context)
            elif cmd == "LOGOUT":
                conn.reply("* BYE Microsoft Exchange Server IMAP4 server signing off.")
                conn.reply(tag + " OK LOGOUT completed.")
                return
            elif cmd == "LOGIN" and "LOGIN" in answers:
                answer = answers["LOGIN"]
                conn.reply(tag + " " + (answer(args) if callable(answer) else answer))
            elif cmd == "AUTHENTICATE" and "AUTHENTICATE" in answers:
                if len(args.split()) < 2:
                    conn.reply("+ ")
                    conn.line()
                script = answers["AUTHENTICATE"]
                script = script if isinstance(script, list) else [script]
                for item in script[:-1]:
                    conn.reply(item)
                    if item.startswith("+"):
                        conn.line()
                conn.reply(tag + " " + script[-1])
            elif cmd == "EXAMINE" and "EXAMINE" in answers:
                lines = answers["EXAMINE"] if isinstance(answers["EXAMINE"], list) else [answers["EXAMINE"]]
                for item in lines[:-1]:
                    conn.reply(item)
                conn.reply(tag + " " + lines[-1])
            else:
                conn.reply(tag + " BAD Command Error.")

    return handler


def pop_server(tls_context=None, implicit_tls=True, answers=None, capa=True):
    """An Exchange Online-like POP3 server. ``answers``: command (USER, PASS, AUTH, STAT) -> its answer line; AUTH
    may be a list (lines after the client's response to "+", e.g. an error challenge, then the final answer)."""
    answers = dict(answers or {})

    def handler(conn):
        if implicit_tls:
            conn.start_tls(tls_context)
        conn.reply("+OK The Microsoft Exchange POP3 service is ready.")
        while True:
            line = conn.line()
            cmd = line.split(" ", 1)[0].upper()
            if cmd == "CAPA" and capa:
                conn.send("+OK\r\nTOP\r\nUIDL\r\nSASL PLAIN XOAUTH2\r\nUSER\r\n.\r\n")
            elif cmd == "QUIT":
                conn.reply("+OK Microsoft Exchange Server POP3 server signing off.")
                return
            elif cmd == "AUTH" and "AUTH" in answers:
                conn.reply("+ ")
                conn.line()
                script = answers["AUTH"] if isinstance(answers["AUTH"], list) else [answers["AUTH"]]
                for item in script[:-1]:
                    conn.reply(item)
                    conn.line()
                conn.reply(script[-1])
            elif cmd in answers:
                conn.reply(answers[cmd])
            else:
                conn.reply("-ERR Command is not valid in this state.")

    return handler
