# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Mentions: Microsoft SMTP hosts named in applications' files, with port/security/auth next to them, no content."""

import os

import pytest

from ansible_collections.mailfleet.outlook.plugins.module_utils._senders import _mentions
from mailfleet_testing.senders import CANARY, codes, only

pytestmark = [pytest.mark.timeout(60), pytest.mark.core_independent]


def test_hosts_from_the_catalog_and_lookalikes():
    found = [m["host"] for m in _mentions.mentions_in(
        "a = smtp.office365.com\nb = SMTP.Office365.com:587\nc = smtp.office365.com.evil.example\n"
        "d = xsmtp.office365.com\ne = contoso-com.mail.protection.outlook.com\nf = contoso.mx.microsoft\n"
        "g = outlook.office365.com\nh = smtp-mail.outlook.com\n")]
    assert found == ["smtp.office365.com", "smtp.office365.com", "contoso-com.mail.protection.outlook.com",
                     "contoso.mx.microsoft", "smtp-mail.outlook.com"]


@pytest.mark.parametrize("text, port, security, auth, key", [
    ("MAIL_HOST=smtp.office365.com\nMAIL_PORT=587\nMAIL_PASSWORD=%s\n" % CANARY, 587, "starttls", "password", "MAIL_HOST"),
    ("smtp:\n  host: smtp.office365.com:465\n  ssl: true\n", 465, "tls", "unknown", "host"),
    ("[sendemail]\n\tsmtpserver = smtp.office365.com\n\tsmtpserverport = 587\n\tsmtpencryption = tls\n", 587, "starttls", "unknown", "smtpserver"),
    ('{"smtp_host": "smtp.office365.com", "oauth_client_id": "x"}', None, None, "oauth2", "smtp_host"),
    ("relay smtp.office365.com 25\n", 25, None, "unknown", "relay"),
    ("# see smtp.office365.com 2024 notes\n", None, None, "unknown", None),
])
def test_context(text, port, security, auth, key):
    m = _mentions.mentions_in(text)[0]
    assert (m["port"], m["security"], m["auth"], m["key"]) == (port, security, auth, key)
    assert CANARY not in repr(m)


def test_thunderbird_prefs():
    prefs = ('user_pref("mail.smtpserver.smtp1.hostname", "smtp.office365.com");\n'
             'user_pref("mail.smtpserver.smtp1.port", 587);\nuser_pref("mail.smtpserver.smtp1.try_ssl", 2);\n'
             'user_pref("mail.smtpserver.smtp1.authMethod", 3);\nuser_pref("mail.smtpserver.smtp1.username", "t@contoso.com");\n'
             'user_pref("mail.smtpserver.smtp2.hostname", "smtp.office365.com");\nuser_pref("mail.smtpserver.smtp2.authMethod", 10);\n')
    one, two = _mentions.mentions_in(prefs)
    assert (one["port"], one["security"], one["auth"], one["account"]) == (587, "starttls", "password", "t@contoso.com")
    assert one["key"] == "mail.smtpserver.smtp1.hostname"
    assert two["auth"] == "oauth2"


def test_scan_of_etc_and_home(fake_root):
    fake_root.write("/etc/app/mail.env", "MAIL_HOST=smtp.office365.com\nMAIL_PORT=587\nMAIL_PASSWORD=%s\n" % CANARY, mode=0o640)
    fake_root.write("/etc/app/readme", "nothing here\n")
    fake_root.write("/etc/app/blob.bin", "smtp.office365.com\0binary")
    r = fake_root.discover()
    m = only(r["mentions"], file="/etc/app/mail.env")
    assert (m["line"], m["kind"], m["verdict"], m["secret"]["mode"]) == (1, "mention", "stops", "0640")
    assert codes(m) == ["basic_auth"] and "OAuth2" in m["fix"]
    assert r["scan"]["skipped"]["binary"] == 1 and r["scan"]["complete"]
    assert r["basic_auth"] == [{"program": "mention", "kind": "mention", "file": "/etc/app/mail.env", "line": 1, "account": None,
                                "user": None, "managed": False, "secret_file": "/etc/app/mail.env", "upstream": "smtp.office365.com:587"}]


def test_scan_limits(fake_root):
    for i in range(30):
        fake_root.write("/etc/many/f%02d.conf" % i, "x = 1\n")
    fake_root.write("/etc/a/b/c/d/e/f/g/deep.conf", "host = smtp.office365.com\n")
    fake_root.write("/etc/big.conf", "smtp.office365.com\n" + "x" * 5000)
    r = fake_root.discover(limits={"timeout": 10, "max_files": 10, "max_file_size": 4096})
    assert r["scan"]["stopped_by"] == "max_files" and not r["scan"]["complete"] and not r["complete"]
    assert r["scan"]["files"] == 10
    r = fake_root.discover(limits={"timeout": 10, "max_file_size": 4096})
    assert r["scan"]["skipped"]["large"] == 1 and r["mentions"] == []     # too large, and too deep (max_depth 6)


@pytest.mark.skipif(os.geteuid() != 0, reason="homes owned by other users need root to set up")
def test_home_scan_reads_only_the_users_own_files(fake_root):
    home = fake_root.user("dave", 2010)
    fake_root.mkdir(home + "/.config", uid=2010)
    fake_root.mkdir(home + "/.config/app", uid=2010)
    fake_root.write(home + "/.config/app/settings.ini", "[mail]\nserver = smtp.office365.com\nport = 465\n", uid=2010, gid=2010)
    fake_root.write(home + "/.config/app/planted.ini", "server = smtp.office365.com\n", uid=0, gid=0)
    fake_root.write(home + "/.cache/x.ini", "server = smtp.office365.com\n", uid=2010, gid=2010)
    os.symlink("/etc", fake_root.p(home + "/etc-link"))
    r = fake_root.discover()
    m = only(r["mentions"], user="dave")
    assert (m["file"], m["upstream"]["port"], m["security"], m["verdict"]) == ("/home/dave/.config/app/settings.ini", 465, "tls", "wrong")
    assert r["scan"]["skipped"]["not_owned"] == 1 and r["scan"]["skipped"]["links"] >= 1
    assert "/home/dave/etc-link" in r["links_skipped"]


def test_excluded_paths_are_not_read(fake_root):
    fake_root.write("/etc/app/mail.env", "MAIL_HOST=smtp.office365.com\n")
    fake_root.write("/etc/msmtprc", "account a\nhost smtp.office365.com\n")
    r = fake_root.discover(exclude=["/etc/app", "/etc/msmtprc"])
    assert r["mentions"] == [] and r["senders"] == []
