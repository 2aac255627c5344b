# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""relay_adoption: one proposal per host from the discovered senders; the diff of a takeover is withheld when a file
the relay role rewrites holds a password today."""

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.mailfleet.outlook.plugins.filter.relay_adoption import relay_adoption, relay_rendered_public_files
from mailfleet_testing.senders import CANARY

pytestmark = pytest.mark.timeout(60)


def test_public_relay_files_come_from_the_formats_registry():
    files = relay_rendered_public_files()
    assert "/etc/postfix/main.cf" in files and "/etc/msmtprc" in files and "/etc/postfix/sasl_passwd" not in files


def test_system_mta_before_user_msmtp(fake_root):
    fake_root.write("/etc/nullmailer/remotes", "smtp.office365.com smtp --port=587 --starttls --user=n@contoso.com --pass=%s\n"
                    % CANARY, mode=0o600)
    home = fake_root.user("alice", 2001)
    fake_root.write(home + "/.msmtprc", "account a\nhost smtp.office365.com\nport 587\ntls on\nauth on\nuser al@contoso.com\n"
                                        "password %s\n" % CANARY, mode=0o600, uid=2001, gid=2001)
    out = relay_adoption(fake_root.discover(), host="web01")
    assert out["adopt"] and out["source"]["program"] == "nullmailer" and out["vars"]["relay_username"] == "n@contoso.com"
    assert out["diff_safe"] and out["secret_files"] == ["/etc/nullmailer/remotes", "/home/alice/.msmtprc"]
    assert out["yaml"].startswith("---\n# mailfleet.outlook.relay variables for web01") and CANARY not in out["yaml"]
    assert "# relay_client_secret:" in out["yaml"]


def test_inline_password_in_a_file_the_relay_rewrites(fake_root):
    fake_root.write("/etc/msmtprc", "account a\nhost smtp.office365.com\nport 587\ntls on\nauth on\nuser m@contoso.com\n"
                                    "password %s\n" % CANARY, mode=0o600)
    out = relay_adoption(fake_root.discover())
    assert out["adopt"] and not out["diff_safe"] and out["secret_files"] == ["/etc/msmtprc"]


def test_nothing_to_adopt(fake_root):
    fake_root.write("/etc/msmtprc", "account o\nhost smtp.office365.com\nport 587\ntls on\nauth xoauth2\nuser o@contoso.com\n"
                                    "passwordeval \"/usr/local/bin/token\"\n")
    out = relay_adoption(fake_root.discover())
    assert not out["adopt"] and out["notes"][0].startswith("already fine: msmtp /etc/msmtprc:1")
    assert not relay_adoption({"senders": []})["adopt"]
    with pytest.raises(AnsibleFilterError):
        relay_adoption("not facts")


def test_hostile_values_stay_data_in_the_yaml():
    """A file name and an account from a host are hostile: a line break in them must not add a YAML key."""
    import yaml
    evil_file = "/etc/app/x\nrelay_smtp_host: evil.example\r\u2028relay_mode: custom"
    finding = {"program": "postfix", "file": evil_file, "line": 3, "verdict": "stops", "upstream": {"host": "smtp.office365.com"},
               "adopt": {"vars": {"relay_profile": "microsoft365", "relay_mode": "submission", "relay_auth_method": "oauth2",
                                  "relay_username": "a@contoso.com\nrelay_tenant: evil"},
                         "to_fill": {}, "notes": ["found in %s" % evil_file]}}
    other = dict(finding, program="dma", file=evil_file + "2")
    out = relay_adoption({"senders": [finding, other], "mentions": []}, host="web\n01")
    doc = yaml.safe_load(out["yaml"])
    assert sorted(doc) == ["relay_auth_method", "relay_mode", "relay_profile", "relay_username"]
    assert doc["relay_mode"] == "submission" and doc["relay_username"] == "a@contoso.com\nrelay_tenant: evil"
    assert all(line.startswith(("---", "#", "relay_")) for line in out["yaml"].splitlines())
