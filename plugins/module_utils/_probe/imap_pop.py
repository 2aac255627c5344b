# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The IMAP and POP sessions of the smtp_check probe; the logins themselves are in ``mailbox`` (standard library only)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.mailfleet.outlook.plugins.module_utils._probe import mailbox
from ansible_collections.mailfleet.outlook.plugins.module_utils._probe.channel import (
    MAX_REPLY_LINES,
    _BadReply,
    _clip,
    _decode_line,
    _printable,
)
from ansible_collections.mailfleet.outlook.plugins.module_utils._probe.errors import ProbeError
from ansible_collections.mailfleet.outlook.plugins.module_utils._probe.options import auth_reply_text


class _Session:
    """What the IMAP and POP sessions share: the probe they drive and how one line is read."""

    def __init__(self, probe):
        self.probe = probe

    def _line(self):
        raw = self.probe.channel.readline()
        return _decode_line(raw.rstrip(b"\r\n"))


class _IMAP(_Session):
    def __init__(self, probe):
        _Session.__init__(self, probe)
        self.caps = []
        self.tag = 0

    def banner(self):
        probe = self.probe
        line = self._line()
        probe.result["banner"] = _clip(line)
        upper = line.upper()
        if upper.startswith("* OK") or upper.startswith("* PREAUTH"):
            self._caps_from(line)
            return
        if upper.startswith("* BYE"):
            raise ProbeError("bad_banner", "The server refused the session: %s" % _clip(line, 300))
        raise ProbeError("bad_banner", "Not an IMAP greeting: %r" % _printable(line, 120))

    def _caps_from(self, line):
        match = re.search(r"\[CAPABILITY ([^\]]*)\]", line, re.IGNORECASE)
        if match:
            self.caps = match.group(1).split()

    def _command(self, command):
        probe = self.probe
        self.tag += 1
        tag = "A%d" % self.tag
        probe.channel.send(("%s %s\r\n" % (tag, command)).encode("ascii"))
        untagged = []
        for _i in range(MAX_REPLY_LINES):
            line = self._line()
            if line.startswith(tag + " "):
                status = line[len(tag) + 1:]
                return status, untagged
            untagged.append(line)
        raise _BadReply("no tagged answer to %s" % command)

    def capabilities(self):
        status, untagged = self._command("CAPABILITY")
        if not status.upper().startswith("OK"):
            raise ProbeError("protocol_error", "CAPABILITY answered: %s" % _clip(status, 300))
        for line in untagged:
            if line.upper().startswith("* CAPABILITY "):
                self.caps = line[len("* CAPABILITY "):].split()
        ext = {}
        for cap in self.caps:
            if cap.upper().startswith("AUTH="):
                ext["AUTH"] = (ext.get("AUTH", "") + " " + cap[5:]).strip()
            else:
                ext[cap.upper()] = ""
        self.probe.result["extensions"] = ext

    def mechanisms(self):
        return [cap[5:].upper() for cap in self.caps if cap.upper().startswith("AUTH=")]

    def starttls(self):
        if "STARTTLS" not in [cap.upper() for cap in self.caps]:
            raise ProbeError("starttls_not_offered", None)
        status, _untagged = self._command("STARTTLS")
        if not status.upper().startswith("OK"):
            raise ProbeError("tls_handshake_failed", "STARTTLS answered: %s" % _clip(status, 300))

    def auth(self, auth):
        self.probe.result.update(_mailbox_step(self, mailbox.imap_login, self.caps, auth))

    def open_mailbox(self):
        self.probe.result["mailbox"] = _mailbox_step(self, mailbox.imap_examine)


class _POP(_Session):
    def __init__(self, probe):
        _Session.__init__(self, probe)
        self.caps = {}

    def banner(self):
        probe = self.probe
        line = self._line()
        probe.result["banner"] = _clip(line)
        if line.startswith("+OK"):
            return
        if line.startswith("-ERR"):
            raise ProbeError("bad_banner", "The server refused the session: %s" % _clip(line, 300))
        raise ProbeError("bad_banner", "Not a POP3 greeting: %r" % _printable(line, 120))

    def capabilities(self):
        probe = self.probe
        probe.channel.send(b"CAPA\r\n")
        status = self._line()
        caps = {}
        if status.startswith("+OK"):
            for _i in range(MAX_REPLY_LINES):
                line = self._line()
                if line == ".":
                    break
                keyword, _sep, params = line.partition(" ")
                caps[keyword.upper()] = params.strip()
            else:
                raise _BadReply("CAPA answer is not terminated")
        elif status.startswith("-ERR"):
            probe._warn("The POP3 server does not support CAPA: capabilities unknown.")
        else:
            raise ProbeError("protocol_error", "CAPA answered: %r" % _printable(status, 120))
        self.caps = caps
        probe.result["extensions"] = caps

    def mechanisms(self):
        return self.caps.get("SASL", "").upper().split()

    def starttls(self):
        if "STLS" not in self.caps:
            raise ProbeError("starttls_not_offered", None)
        self.probe.channel.send(b"STLS\r\n")
        status = self._line()
        if not status.startswith("+OK"):
            raise ProbeError("tls_handshake_failed", "STLS answered: %s" % _clip(status, 300))

    def auth(self, auth):
        self.probe.result.update(_mailbox_step(self, mailbox.pop_login, self.caps, auth))

    def open_mailbox(self):
        self.probe.result["mailbox"] = _mailbox_step(self, mailbox.pop_stat)


def _mailbox_step(session, step, *args):
    """Run an IMAP/POP login or mailbox step of ``_probe.mailbox`` on the session (_IMAP / _POP) of a probe; a
    refusal's line becomes the result's reply."""
    probe = session.probe
    if getattr(session, "io", None) is None:  # one per connection: it numbers the IMAP tags
        session.io = mailbox.LineIO(probe.channel.send, session._line, probe.tls_active,  # pylint: disable=protected-access
                                    probe.redactor.add)
    login = step in (mailbox.imap_login, mailbox.pop_login)
    probe.in_auth = login  # the answers to a login are never shown verbatim (auth_reply_text)
    try:
        return step(session.io, *args)
    except ProbeError as err:
        # what the server said during a login (a refusal, a closing line, an answer we could not read) is shown
        # through auth_reply_text; the probe's own texts (no token, no TLS) are kept
        if login and (isinstance(err, mailbox.MailboxRefused) or err.code in ("connection_closed", "protocol_error")):
            err.detail = auth_reply_text(err.detail)
        if isinstance(err, mailbox.MailboxRefused):
            probe.result["reply"] = {"code": None, "enhanced_code": None, "text": _clip(probe.shown(err.answer))}
        raise
    finally:
        probe.in_auth = False


# --------------------------------------------------------------------------- entry points
