# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""OpenSMTPD parser: action ... relay host URL auth <table>, tables, macros, includes (and their loops)."""

import pytest

from ansible_collections.mailfleet.outlook.plugins.module_utils._senders import _opensmtpd
from mailfleet_testing.senders import CANARY, codes, only

pytestmark = [pytest.mark.timeout(60), pytest.mark.core_independent]

BASE = """#	$OpenBSD: smtpd.conf,v 1.10 2018/05/24 11:40:17 gilles Exp $
table aliases file:/etc/aliases
table secrets file:/etc/smtpd/secrets
listen on localhost
action "local" maildir alias <aliases>
action "relay" relay host %s auth <secrets> %s
match for local action "local"
match from local for any action "relay"
"""


@pytest.mark.parametrize("url, expected", [
    ("smtp+tls://bob@smtp.office365.com:587", {"proto": "smtp+tls", "label": "bob", "host": "smtp.office365.com", "port": 587}),
    ("smtps://smtp.office365.com", {"proto": "smtps", "label": None, "host": "smtp.office365.com", "port": 465}),
    ("relay.example", {"proto": "smtp", "label": None, "host": "relay.example", "port": 25}),
    ("smtp://[2001:db8::1]:2525", {"proto": "smtp", "label": None, "host": "2001:db8::1", "port": 2525}),
])
def test_urls(url, expected):
    assert _opensmtpd.parse_url(url) == expected


def test_statements_continuation_comments_quotes():
    st = _opensmtpd.statements('a = "x # not a comment" # comment\naction "r" relay \\\n  host smtp://h\n')
    assert st[0] == (1, [("word", "a"), ("word", "="), ("str", "x # not a comment")])
    assert st[1][0] == 2 and ("word", "host") in st[1][1]


@pytest.mark.parametrize("url, opts, security, required, cert, verdict", [
    ("smtp+tls://bob@smtp.office365.com:587", "", "starttls", True, True, "stops"),
    ("smtp+tls://bob@smtp.office365.com:587", "tls no-verify", "starttls", True, False, "stops"),
    ("smtp://bob@smtp.office365.com:587", "", "starttls", False, False, "stops"),
    ("smtps://bob@smtp.office365.com", "", "tls", True, True, "wrong"),
])
def test_relay_actions(fake_root, url, opts, security, required, cert, verdict):
    fake_root.write("/etc/smtpd.conf", BASE % (url, opts))
    fake_root.write("/etc/smtpd/secrets", "# label user:password\nbob osmtpd@contoso.com:%s\n" % CANARY, mode=0o640)
    f = only(fake_root.discover()["senders"], program="opensmtpd")
    assert (f["security"], f["tls_required"], f["cert_check"]) == (security, required, cert)
    assert (f["auth"], f["account"], f["verdict"], f["line"]) == ("password", "osmtpd@contoso.com", verdict, 6)
    assert f["secret"]["file"] == "/etc/smtpd/secrets" and f["secret"]["line"] == 2 and "basic_auth" in codes(f)


def test_inline_table_and_macro(fake_root):
    fake_root.write("/etc/smtpd.conf", 'relay_host = "smtp+tls://bob@smtp.office365.com:587"\n'
                                       'table secrets { bob = "osmtpd@contoso.com:%s" }\n'
                                       'action "relay" relay host $relay_host auth <secrets>\n' % CANARY, mode=0o600)
    f = only(fake_root.discover()["senders"], program="opensmtpd")
    assert (f["account"], f["secret"]["source"], f["secret"]["file"], f["secret"]["line"]) == (
        "osmtpd@contoso.com", "inline", "/etc/smtpd.conf", 2)


def test_connector_relay_without_auth(fake_root):
    fake_root.write("/etc/smtpd.conf", 'action "relay" relay host smtp+tls://contoso-com.mail.protection.outlook.com:25\n')
    f = only(fake_root.discover()["senders"], program="opensmtpd")
    assert (f["service"], f["auth"], f["verdict"]) == ("mx", "none", "ok")


def test_include_and_include_loop(fake_root):
    fake_root.write("/etc/smtpd.conf", 'include "/etc/smtpd/relay.conf"\n')
    fake_root.write("/etc/smtpd/relay.conf", 'include "/etc/smtpd.conf"\naction "relay" relay host smtp+tls://smtp.office365.com:587\n')
    r = fake_root.discover()
    f = only(r["senders"], program="opensmtpd")
    assert f["file"] == "/etc/smtpd/relay.conf" and f["line"] == 2
    assert any("include loop" in u["reason"] for u in r["unreadable"])


def test_old_accept_syntax_and_direct(fake_root):
    fake_root.write("/etc/smtpd.conf", "accept for any relay via tls+auth://bob@smtp.office365.com:587 auth <secrets>\n"
                                       'action "out" relay\n')
    r = fake_root.discover()
    assert len(r["senders"]) == 2
    direct = only(r["senders"], route="direct")
    assert direct["verdict"] == "not_microsoft"
