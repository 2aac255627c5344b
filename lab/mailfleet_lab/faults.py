# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fault listeners (tarpit, close, garbage banner) and the IMAP / POP greeters of the lab."""

import asyncio
import base64
import binascii
import re

from .core import LOG

GARBAGE_BANNER = b"\x16\x03\x01\x00\xff garbage \xfe\xff not an SMTP server \x80\x81\r\n"


class TarpitProtocol(asyncio.Protocol):
    """Accepts the TCP connection and never says a word (closes after ``seconds``)."""

    def __init__(self, seconds):
        self.seconds = seconds
        self.handle = None
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport
        self.handle = asyncio.get_running_loop().call_later(self.seconds, transport.close)

    def data_received(self, data):
        pass

    def connection_lost(self, exc):
        if self.handle:
            self.handle.cancel()


class CloseProtocol(asyncio.Protocol):
    """Closes the connection right after accepting it."""

    def connection_made(self, transport):
        transport.close()


class GarbageProtocol(asyncio.Protocol):
    """Sends a banner that is not SMTP, answers every line with more of it, closes after 30 s."""

    def __init__(self):
        self.transport = None
        self.handle = None

    def connection_made(self, transport):
        self.transport = transport
        transport.write(GARBAGE_BANNER)
        self.handle = asyncio.get_running_loop().call_later(30, transport.close)

    def data_received(self, data):
        if b"\n" in data and not self.transport.is_closing():
            self.transport.write(GARBAGE_BANNER)

    def connection_lost(self, exc):
        if self.handle:
            self.handle.cancel()


_IMAP_ATOM = re.compile(r'"((?:[^"\\]|\\.)*)"|(\S+)')


def _imap_args(text):
    return [quoted.replace('\\"', '"').replace("\\\\", "\\") if quoted or not plain else plain
            for quoted, plain in _IMAP_ATOM.findall(text)]


def _xoauth2(lab, service, blob):
    try:
        text = base64.b64decode(blob, validate=True).decode("utf-8")
        fields = dict(part.split("=", 1) for part in text.split("\x01") if part)
        scheme, dummy, token = fields.get("auth", "").partition(" ")
        if scheme.lower() != "bearer":
            return None
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    return lab.check_mailbox_token(service, fields.get("user", ""), token.strip())


async def _readline(reader):
    return await asyncio.wait_for(reader.readline(), 60)


async def _xoauth2_exchange(lab, service, args, reader, writer):
    """SASL XOAUTH2 for IMAP AUTHENTICATE and POP AUTH: the initial response in ``args`` (SASL-IR) or
    after a "+ " continuation; returns the identity the token stands for, or None."""
    words = args.split()
    if len(words) > 1:
        blob = words[1]
    else:
        writer.write(b"+ \r\n")
        await writer.drain()
        blob = (await _readline(reader)).decode("ascii", "replace").strip()
    return _xoauth2(lab, service, blob)


async def serve_imap(lab, reader, writer):
    """Enough IMAP4rev1 for a probe: greeting, CAPABILITY, NOOP, LOGIN, AUTHENTICATE XOAUTH2, SELECT / EXAMINE
    INBOX (the stored messages addressed to the mailbox), LOGOUT; Exchange Online's refusals (core.ANSWERS)."""
    peer = writer.get_extra_info("peername")
    LOG.info("imap %s: connection", peer[0] if peer else "?")

    def send(line):
        writer.write(line.encode("utf-8") + b"\r\n")

    identity = None
    try:
        send("* OK The Microsoft Exchange IMAP4 service is ready. [%s]" % lab.hostname)
        while True:
            line = (await _readline(reader)).decode("utf-8", "replace").rstrip("\r\n")
            if not line:
                break
            tag, dummy, rest = line.partition(" ")
            command, dummy, args = rest.partition(" ")
            command = command.upper()
            if command == "CAPABILITY":
                send("* CAPABILITY IMAP4 IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 SASL-IR UIDPLUS ID UNSELECT CHILDREN "
                     "IDLE NAMESPACE LITERAL+")
                send("%s OK CAPABILITY completed." % tag)
            elif command == "NOOP":
                send("%s OK NOOP completed." % tag)
            elif command == "LOGOUT":
                send("* BYE Microsoft Exchange Server IMAP4 server signing off.")
                send("%s OK LOGOUT completed." % tag)
                break
            elif command == "LOGIN" and identity is None:
                words = _imap_args(args)
                if len(words) == 2:
                    identity = lab.check_mailbox_password("imap", words[0], words[1])
                LOG.info("imap: LOGIN <redacted> -> %s", "OK" if identity else "NO")
                send("%s OK LOGIN completed." % tag if identity else "%s %s" % (tag, lab.answer("imap_login_failed")))
            elif command == "AUTHENTICATE" and args.split(" ")[0].upper() == "XOAUTH2" and identity is None:
                identity = await _xoauth2_exchange(lab, "imap", args, reader, writer)
                LOG.info("imap: AUTHENTICATE XOAUTH2 <redacted> -> %s", "OK" if identity else "NO")
                send("%s OK AUTHENTICATE completed." % tag if identity
                     else "%s %s" % (tag, lab.answer("imap_authenticate_failed")))
            elif command in ("SELECT", "EXAMINE") and identity is None:
                send("%s BAD Command received in Invalid state." % tag)
            elif command in ("SELECT", "EXAMINE"):
                folder = (_imap_args(args) or [""])[0]
                if not lab.mailbox_connected(identity):
                    LOG.info("imap: %s by app %s for %s -> not connected", command, identity.app, identity.user)
                    send("%s %s" % (tag, lab.answer("imap_not_connected")))
                elif folder.upper() != "INBOX":
                    send("%s NO [NONEXISTENT] The requested item could not be found." % tag)
                else:
                    count = lab.mailbox_messages(identity.user)[0]
                    send("* %d EXISTS" % count)
                    send("* 0 RECENT")
                    send("* FLAGS (\\Seen \\Answered \\Flagged \\Deleted \\Draft $MDNSent)")
                    send("* OK [UIDVALIDITY 14] UIDVALIDITY value")
                    mode = "READ-ONLY" if command == "EXAMINE" else "READ-WRITE"
                    send("%s OK [%s] %s completed." % (tag, mode, command))
            else:
                send("%s BAD Command Error. 12" % tag)
            await writer.drain()
        await writer.drain()
    except (asyncio.TimeoutError, ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def serve_pop(lab, reader, writer):
    """Enough POP3 for a probe: greeting, CAPA, USER/PASS, AUTH XOAUTH2, NOOP, STAT, QUIT."""
    peer = writer.get_extra_info("peername")
    LOG.info("pop %s: connection", peer[0] if peer else "?")

    def send(line):
        writer.write(line.encode("utf-8") + b"\r\n")

    user, identity = None, None
    try:
        send("+OK The Microsoft Exchange POP3 service is ready. [%s]" % lab.hostname)
        while True:
            line = (await _readline(reader)).decode("utf-8", "replace").rstrip("\r\n")
            if not line:
                break
            command, dummy, args = line.partition(" ")
            command = command.upper()
            if command == "CAPA":
                for reply in ("+OK", "TOP", "UIDL", "SASL PLAIN XOAUTH2", "USER", "."):
                    send(reply)
            elif command == "USER":
                user = args.strip()
                send("+OK")
            elif command == "PASS":
                identity = lab.check_mailbox_password("pop", user or "", args) if user else None
                LOG.info("pop: PASS <redacted> -> %s", "+OK" if identity else "-ERR")
                send("+OK User successfully authenticated." if identity else lab.answer("pop_logon_failure"))
            elif command == "AUTH" and args.split(" ")[0].upper() == "XOAUTH2":
                identity = await _xoauth2_exchange(lab, "pop", args, reader, writer)
                LOG.info("pop: AUTH XOAUTH2 <redacted> -> %s", "+OK" if identity else "-ERR")
                send("+OK User successfully authenticated." if identity else lab.answer("pop_auth_failure"))
            elif command == "NOOP":
                send("+OK")
            elif command == "STAT" and identity:
                send("+OK %d %d" % lab.mailbox_messages(identity.user))
            elif command == "QUIT":
                send("+OK Microsoft Exchange Server POP3 server signing off.")
                break
            else:
                send("-ERR Protocol error. 14")
            await writer.drain()
        await writer.drain()
    except (asyncio.TimeoutError, ConnectionError, OSError):
        pass
    finally:
        writer.close()
