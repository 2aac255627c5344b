# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""nullmailer parser: remotes lines with shell quoting, options with or without '--'."""

import pytest

from ansible_collections.mailfleet.outlook.plugins.module_utils._senders import _nullmailer
from mailfleet_testing.senders import CANARY, codes, only

pytestmark = [pytest.mark.timeout(60), pytest.mark.core_independent]


def test_parse_remotes_quoting_and_options():
    remotes = _nullmailer.parse_remotes(
        "# comment\n\nsmarthost.dom smtp port=2525 starttls user=user pass='my pass phrase'\n"
        "smtp.office365.com smtp --port=587 --starttls --user=a@contoso.com --pass=\"%s\" --insecure\n"
        "relay.example\nbroken 'quote\n" % CANARY)
    assert remotes[0]["options"] == {"port": "2525", "starttls": True, "user": "user", "pass": True}
    assert remotes[1]["options"]["insecure"] is True and remotes[1]["options"]["pass"] is True
    assert remotes[2] == {"host": "relay.example", "protocol": "smtp", "options": {}, "line": 5}
    assert remotes[3]["host"] is None and remotes[3]["line"] == 6
    assert CANARY not in repr(remotes)


@pytest.mark.parametrize("line, port, security, cert, verdict, problem_codes", [
    ("smtp.office365.com smtp --port=587 --starttls --user=a@contoso.com --pass=%s" % CANARY, 587, "starttls", True, "stops", ["basic_auth"]),
    ("smtp.office365.com smtp --ssl --user=a@contoso.com --pass=%s" % CANARY, 465, "tls", True, "wrong", ["port_465", "basic_auth"]),
    ("smtp.office365.com smtp tls port=587 user=a@contoso.com pass=%s" % CANARY, 587, "tls", True, "wrong", ["implicit_tls", "basic_auth"]),
    ("smtp.office365.com smtp --port=587 --starttls --insecure --user=a@contoso.com --pass=%s" % CANARY, 587, "starttls", False,
     "stops", ["basic_auth", "no_cert_check"]),
    ("smtp.office365.com smtp --user=a@contoso.com --pass=%s" % CANARY, 25, "none", None, "wrong", ["no_tls", "basic_auth", "port_25"]),
])
def test_remote_verdicts(fake_root, line, port, security, cert, verdict, problem_codes):
    fake_root.write("/etc/nullmailer/remotes", line + "\n", mode=0o600)
    f = only(fake_root.discover()["senders"], program="nullmailer")
    assert (f["upstream"]["port"], f["security"], f["cert_check"]) == (port, security, cert)
    assert (f["auth"], f["account"], f["verdict"]) == ("password", "a@contoso.com", verdict)
    assert sorted(codes(f)) == sorted(problem_codes)
    assert f["secret"]["file"] == "/etc/nullmailer/remotes" and f["secret"]["source"] == "inline" and f["secret"]["mode"] == "0600"


def test_world_readable_remotes_is_a_finding(fake_root):
    fake_root.write("/etc/nullmailer/remotes", "smtp.office365.com smtp --port=587 --starttls --user=a@contoso.com --pass=%s\n"
                    % CANARY, mode=0o644)
    f = only(fake_root.discover()["senders"], program="nullmailer")
    assert f["secret"]["world_readable"] and "secret_world_readable" in codes(f)


def test_unparseable_line_is_reported(fake_root):
    fake_root.write("/etc/nullmailer/remotes", "host 'unbalanced\n")
    r = fake_root.discover()
    assert r["senders"] == [] and r["unreadable"] == [{"path": "/etc/nullmailer/remotes", "reason": "line 1: unbalanced quotes", "line": 1}]
