# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""msmtp parser: defaults/account inheritance, quoting, port defaults, auth kinds, passwordeval, users' files
(read without links, only the user's own); each configuration is also given to the real msmtp (--pretend) and the
parser must agree with it."""

import os
import re
import shutil
import subprocess

import pytest

from ansible_collections.mailfleet.outlook.plugins.module_utils._senders import _msmtp
from mailfleet_testing.senders import CANARY, codes, only

pytestmark = [pytest.mark.timeout(60), pytest.mark.core_independent]

CONFIGS = {
    "inherit": ("defaults\ntls on\ntls_trust_file /etc/ssl/certs/ca-certificates.crt\n\naccount base\nhost smtp.office365.com\n"
                "port 587\nauth login\nuser \"base@contoso.com\"\npassword %s\n\naccount child : base\nuser child@contoso.com\n"
                "from child@contoso.com\n\naccount default : child\n" % CANARY),
    "implicit": "account smtps\nhost smtp.office365.com\ntls on\ntls_starttls off\nauth on\nuser a@contoso.com\npassword %s\n" % CANARY,
    "plain": "account plain\nhost relay.example\nauth off\n",
    "oauth": ("account oauth\nhost smtp.office365.com\nport 587\ntls on\nauth xoauth2\nuser a@contoso.com\n"
              "passwordeval \"/usr/local/bin/token --user a@contoso.com\"\n"),
    "nocheck": ("account nocheck\nhost smtp.office365.com\nport 587\ntls on\ntls_certcheck off\nauth plain\nuser a@contoso.com\n"
                "passwordeval \"cat /etc/mail-secret\"\n"),
}


def _pretend(path, account):
    out = subprocess.run(["msmtp", "--pretend", "-C", path, "-a", account], capture_output=True, text=True, timeout=10, check=False)
    assert out.returncode == 0, out.stderr
    return dict(re.findall(r"^(\w[\w ]*?) = (.*)$", out.stdout, re.M))


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_parser_agrees_with_msmtp(tmp_path, name):
    if not shutil.which("msmtp"):
        pytest.fail("msmtp is not installed (scripts/apt-packages.txt)")
    # msmtp --pretend runs passwordeval: give the commands something real to read
    secret = tmp_path / "secret"
    secret.write_text(CANARY)
    text = CONFIGS[name].replace("/etc/mail-secret", str(secret)).replace("/usr/local/bin/token --user a@contoso.com", "cat %s" % secret)
    path = tmp_path / "msmtprc"
    path.write_text(text)
    os.chmod(path, 0o600)
    accounts, aliases, errors = _msmtp.parse_msmtprc(text)
    assert errors == []
    for account_name, account in accounts:
        ref = _pretend(str(path), account_name)
        assert CANARY not in repr(account)
        assert account.get("host", (None,))[0] == ref["host"]
        port = int(account["port"][0]) if "port" in account else None
        tls = _msmtp._flag(account, "tls", False)
        starttls = _msmtp._flag(account, "tls_starttls", True)
        assert (port or (465 if tls and not starttls else 25)) == int(ref["port"])
        assert ("on" if tls else "off", "on" if starttls else "off") == (ref["tls"], ref["tls_starttls"])
        assert ("on" if _msmtp._flag(account, "tls_certcheck", True) else "off") == ref["tls_certcheck"]
        auth = account.get("auth", ("off", 0))[0]
        assert ref["auth"] == {"off": "none", "on": "choose", "login": "LOGIN", "plain": "PLAIN", "xoauth2": "XOAUTH2"}[auth]
        assert account.get("user", ("(not set)",))[0] == ref["user"]
        assert ("password" in account or "passwordeval" in account) == (ref["password"] == "*")   # --pretend runs passwordeval


def test_inheritance_and_default_alias(fake_root):
    fake_root.write("/etc/msmtprc", CONFIGS["inherit"], mode=0o600)
    r = fake_root.discover()
    base = only(r["senders"], name="base")
    child = only(r["senders"], name="child")
    assert (child["upstream"], child["account"], child["security"]) == ({"host": "smtp.office365.com", "port": 587}, "child@contoso.com", "starttls")
    assert child["secret"]["source"] == "inline" and child["secret"]["line"] == 10 and child["secret"]["file"] == "/etc/msmtprc"
    assert "the default account" in child["notes"] and base["account"] == "base@contoso.com"
    assert child["verdict"] == "stops" and codes(child) == ["basic_auth"]


@pytest.mark.parametrize("name, port, security, auth, verdict, problem_codes", [
    ("implicit", 465, "tls", "password", "wrong", ["port_465", "basic_auth"]),
    ("plain", 25, "none", "none", "unsafe", ["no_tls"]),
    ("oauth", 587, "starttls", "oauth2", "ok", []),
    ("nocheck", 587, "starttls", "password", "stops", ["basic_auth", "no_cert_check"]),
])
def test_accounts(fake_root, name, port, security, auth, verdict, problem_codes):
    fake_root.write("/etc/msmtprc", CONFIGS[name], mode=0o600)
    fake_root.write("/etc/mail-secret", CANARY, mode=0o600)
    f = only(fake_root.discover()["senders"], program="msmtp")
    assert (f["upstream"]["port"], f["security"], f["auth"], f["verdict"]) == (port, security, auth, verdict)
    assert codes(f) == problem_codes


def test_passwordeval_file_and_inline_command(fake_root):
    fake_root.write("/etc/msmtprc", CONFIGS["nocheck"])
    fake_root.write("/etc/mail-secret", CANARY, mode=0o644)
    f = only(fake_root.discover()["senders"], program="msmtp")
    assert (f["secret"]["source"], f["secret"]["file"], f["secret"]["program"], f["secret"]["mode"]) == (
        "command", "/etc/mail-secret", "cat", "0644")
    assert "secret_world_readable" in codes(f)
    fake_root.write("/etc/msmtprc", CONFIGS["nocheck"].replace("cat /etc/mail-secret", "echo %s" % CANARY), mode=0o600)
    f = only(fake_root.discover()["senders"], program="msmtp")
    assert (f["secret"]["source"], f["secret"]["file"], f["secret"]["program"]) == ("inline", "/etc/msmtprc", "echo")


def test_undefined_parent_and_eval_are_reported(fake_root):
    fake_root.write("/etc/msmtprc", "account a : nothere\nhost smtp.office365.com\neval echo host x\n")
    r = fake_root.discover()
    reasons = [u["reason"] for u in r["unreadable"]]
    assert any("not defined before it" in x for x in reasons) and any("eval" in x for x in reasons)


@pytest.mark.skipif(os.geteuid() != 0, reason="homes owned by other users need root to set up")
def test_user_files(fake_root):
    home = fake_root.user("alice", 2001)
    fake_root.write(home + "/.msmtprc", CONFIGS["implicit"], mode=0o600, uid=2001, gid=2001)
    fake_root.mkdir(home + "/.config", uid=2001)
    fake_root.mkdir(home + "/.config/msmtp", uid=2001)
    fake_root.write(home + "/.config/msmtp/config", CONFIGS["oauth"], mode=0o600, uid=2001, gid=2001)
    bob = fake_root.user("bob", 2002)
    fake_root.write(bob + "/.msmtprc", CONFIGS["plain"], mode=0o600, uid=0, gid=0)       # not bob's: a planted file
    carol = fake_root.user("carol", 2003)
    os.symlink("/etc/shadow", fake_root.p(carol + "/.msmtprc"))
    fake_root.mkdir(carol + "/.config", uid=2003)
    os.symlink("/etc", fake_root.p(carol + "/.config/msmtp"))
    r = fake_root.discover()
    mine = [f for f in r["senders"] if f["program"] == "msmtp"]
    assert sorted((f["user"], f["file"]) for f in mine) == [("alice", "/home/alice/.config/msmtp/config"), ("alice", "/home/alice/.msmtprc")]
    reasons = dict((u["path"], u["reason"]) for u in r["unreadable"])
    assert "not to the home's owner" in reasons["/home/bob/.msmtprc"]
    assert reasons["/home/carol/.msmtprc"] == "a symbolic link: not followed"
    assert "symbolic link in a home directory" in reasons["/home/carol/.config/msmtp/config"]
    assert sorted(r["links_skipped"]) == ["/home/carol/.config/msmtp", "/home/carol/.msmtprc"]
