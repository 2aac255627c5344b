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


def _xoauth2(lab, blob):
    try:
        text = base64.b64decode(blob, validate=True).decode("utf-8")
        fields = dict(part.split("=", 1) for part in text.split("\x01") if part)
        scheme, dummy, token = fields.get("auth", "").partition(" ")
        if scheme.lower() != "bearer":
            return None
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    identity = lab.check_xoauth2(fields.get("user", ""), token.strip())[0]
    return identity


async def _readline(reader):
    return await asyncio.wait_for(reader.readline(), 60)


async def _xoauth2_exchange(lab, args, reader, writer):
    """SASL XOAUTH2 for IMAP AUTHENTICATE and POP AUTH: the initial response in ``args`` (SASL-IR) or
    after a "+ " continuation; returns the identity the token stands for, or None."""
    words = args.split()
    if len(words) > 1:
        blob = words[1]
    else:
        writer.write(b"+ \r\n")
        await writer.drain()
        blob = (await _readline(reader)).decode("ascii", "replace").strip()
    return _xoauth2(lab, blob)


async def serve_imap(lab, reader, writer):
    """Enough IMAP4rev1 for a probe: greeting, CAPABILITY, NOOP, LOGIN, AUTHENTICATE XOAUTH2, LOGOUT."""
    peer = writer.get_extra_info("peername")
    LOG.info("imap %s: connection", peer[0] if peer else "?")

    def send(line):
        writer.write(line.encode("utf-8") + b"\r\n")

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
            elif command == "LOGIN":
                words = _imap_args(args)
                identity = None
                if len(words) == 2:
                    identity = lab.check_password(words[0], words[1])[0]
                LOG.info("imap: LOGIN <redacted> -> %s", "OK" if identity else "NO")
                send("%s OK LOGIN completed." % tag if identity else "%s NO LOGIN failed." % tag)
            elif command == "AUTHENTICATE" and args.split(" ")[0].upper() == "XOAUTH2":
                identity = await _xoauth2_exchange(lab, args, reader, writer)
                LOG.info("imap: AUTHENTICATE XOAUTH2 <redacted> -> %s", "OK" if identity else "NO")
                send("%s OK AUTHENTICATE completed." % tag if identity else "%s NO AUTHENTICATE failed." % tag)
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
                identity = lab.check_password(user or "", args)[0] if user else None
                LOG.info("pop: PASS <redacted> -> %s", "+OK" if identity else "-ERR")
                send("+OK User successfully authenticated." if identity
                     else "-ERR Logon failure: unknown user name or bad password.")
            elif command == "AUTH" and args.split(" ")[0].upper() == "XOAUTH2":
                identity = await _xoauth2_exchange(lab, args, reader, writer)
                LOG.info("pop: AUTH XOAUTH2 <redacted> -> %s", "+OK" if identity else "-ERR")
                send("+OK User successfully authenticated." if identity
                     else "-ERR Authentication failure: unknown user name or bad password.")
            elif command == "NOOP":
                send("+OK")
            elif command == "STAT" and identity:
                send("+OK 0 0")
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
