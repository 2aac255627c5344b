# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""SASL strings shared by the SMTP, IMAP and POP logins of the probe (standard library only)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import json
import re


def b64(data):
    """Base64 of ``data`` (str as UTF-8) as ASCII text."""
    if not isinstance(data, bytes):
        data = data.encode("utf-8")
    return base64.b64encode(data).decode("ascii")


def xoauth2_string(username, token):
    """The SASL XOAUTH2 initial response, base64-encoded (facts section 3): the same for SMTP, IMAP and POP."""
    return b64("user=%s\x01auth=Bearer %s\x01\x01" % (username, token))


def xoauth2_error(text, shown=None):
    """The server's XOAUTH2 error challenge (base64 JSON) as 'key=value, ...', or None when it is not one.
    ``shown`` filters each value (replies to AUTH are never shown verbatim); a key that is not a plain name is
    ``[withheld]``."""
    try:
        data = json.loads(base64.b64decode(text.strip().encode("ascii")).decode("utf-8"))
    except Exception:  # pylint: disable=broad-except
        return None
    if isinstance(data, dict):
        shown = shown or (lambda value: value)
        return ", ".join("%s=%s" % (k if re.fullmatch(r"[A-Za-z_]{1,40}", str(k)) else "[withheld]", shown(str(data[k])))
                         for k in sorted(data, key=str))
    return None
