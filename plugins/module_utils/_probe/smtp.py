# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The SMTP dialogue of the smtp_check probe (standard library only)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.mailfleet.outlook.plugins.module_utils._diagnosis import classify_reply
from ansible_collections.mailfleet.outlook.plugins.module_utils._probe.channel import _clip
from ansible_collections.mailfleet.outlook.plugins.module_utils._probe.errors import ProbeError
from ansible_collections.mailfleet.outlook.plugins.module_utils._probe.options import build_test_message, dot_stuff
from ansible_collections.mailfleet.outlook.plugins.module_utils._probe.sasl import (
    b64 as _b64,
    xoauth2_error as _xoauth2_error,
    xoauth2_string,
)


def _looks_like_text(raw):
    if not raw or raw[:1] in (b"\x14", b"\x15", b"\x16", b"\x17"):
        return False
    sample = raw[:32]
    return all(32 <= b < 127 or b in (9, 10, 13) for b in bytearray(sample))


# --------------------------------------------------------------------------- protocols

class _SMTP:
    def __init__(self, probe):
        self.probe = probe
        self.ext = {}

    def banner(self):
        probe = self.probe
        reply = probe._reply()
        probe.result["banner"] = _clip(reply.text)
        if reply.code != 220:
            probe._fail_reply(reply, "banner")

    def capabilities(self):
        probe = self.probe
        reply = probe._cmd("EHLO %s" % probe.opts["ehlo_name"])
        if reply.code != 250:
            probe._fail_reply(reply)
        ext = {}
        for line in reply.lines[1:]:
            keyword, _sep, params = line.strip().partition(" ")
            if keyword.upper().startswith("AUTH="):
                params = keyword[5:] + (" " + params if params else "")
                keyword = "AUTH"
            if keyword:
                ext[keyword.upper()] = params.strip()
        if not probe.tls_active and "AUTH" in ext:
            probe.pre_tls_auth = True
        self.ext = ext
        probe.result["extensions"] = ext

    def mechanisms(self):
        return self.ext.get("AUTH", "").upper().split()

    def starttls(self):
        probe = self.probe
        if "STARTTLS" not in self.ext:
            raise ProbeError("starttls_not_offered", "(EHLO answer: %s)" % ", ".join(sorted(self.ext)) if self.ext else None)
        reply = probe._cmd("STARTTLS")
        if reply.code != 220:
            probe._fail_reply(reply, "starttls")

    # auth ---------------------------------------------------------------
    def auth(self, auth):
        probe = self.probe
        if auth.get("token_error"):
            raise ProbeError("auth_failed", "No access token: %s" % auth["token_error"])
        if not probe.tls_active and not auth.get("allow_plaintext"):
            raise ProbeError("auth_not_offered", "Refusing to send credentials without TLS.")
        offered = self.mechanisms()
        if not offered:
            raise ProbeError("auth_not_offered", "(the server advertises no AUTH extension on this connection)")
        mech = auth["mechanism"]
        if mech == "auto":
            if auth.get("oauth2_token"):
                mech = "xoauth2"
            elif "PLAIN" in offered:
                mech = "plain"
            else:
                mech = "login"
        if mech.upper() not in offered:
            raise ProbeError("auth_not_offered", "(requested %s; the server offers %s)" % (mech.upper(), " ".join(offered)))
        probe.result["auth_mechanism"] = mech.upper()
        user = auth["username"]
        probe.in_auth = True
        if mech == "plain":
            secret = "\0%s\0%s" % (user, auth["password"])
            probe.redactor.add(_b64(secret))
            reply = probe._cmd("AUTH PLAIN %s" % _b64(secret))
        elif mech == "login":
            probe.redactor.add(_b64(auth["password"]))
            reply = probe._cmd("AUTH LOGIN")
            if reply.code == 334:
                reply = probe._cmd(_b64(user))
            if reply.code == 334:
                reply = probe._cmd(_b64(auth["password"]))
        else:
            blob = xoauth2_string(user, auth["oauth2_token"])
            probe.redactor.add(blob)
            reply = probe._cmd("AUTH XOAUTH2 %s" % blob)
            if reply.code == 334:
                detail = _xoauth2_error(reply.text, probe.shown)
                reply = probe._cmd("")  # the client answers the error challenge with an empty line
                if reply.code != 235 and detail:
                    code, hint = classify_reply(reply.code, reply.enhanced, reply.text, "auth")
                    raise ProbeError(code, "The server answered: %s (XOAUTH2 error: %s)"
                                     % (_clip(probe.shown(reply.lines[0]), 300), detail), hint=hint)
        if reply.code == 334:
            # still challenging: abort the exchange (RFC 4954 '*') rather than guess
            reply = probe._cmd("*")
            raise ProbeError("auth_failed", "The server kept challenging (%s)." % _clip(probe.shown(reply.text), 200))
        if reply.code != 235:
            probe._fail_reply(reply, "auth")
        probe.in_auth = False

    # send ---------------------------------------------------------------
    def send(self, send):
        probe = self.probe
        reply = probe._cmd("MAIL FROM:<%s>" % send["sender"])
        if reply.code != 250:
            probe._fail_reply(reply, "send")
        for rcpt in send["recipients"]:
            reply = probe._cmd("RCPT TO:<%s>" % rcpt)
            if reply.code not in (250, 251):
                probe._fail_reply(reply, "send")
        reply = probe._cmd("DATA")
        if reply.code != 354:
            probe._fail_reply(reply, "send")
        message_id, data = build_test_message(send["sender"], send["recipients"], send["subject"],
                                              probe.opts["ehlo_name"], probe.ep["name"])
        probe.channel.send(dot_stuff(data))
        reply = probe._reply()
        if reply.code != 250:
            probe._fail_reply(reply, "send")
        probe.result["message_id"] = message_id
        probe.result["sent"] = True
