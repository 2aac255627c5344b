# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""On this machine (root /), with real unprivileged users made for the test: each user's msmtp files are found and
judged, a user's link to a root file (~/.config/msmtp/config -> /etc/shadow) and a file planted by someone else are
reported and not read, a user's application config is a mention, and nothing secret reaches any output. The scan
leaves /root out (exclude_paths): it is not the test's to read."""

import os
import pwd
import subprocess
import uuid

import pytest

from mailfleet_testing.senders import CANARY, codes, only

pytestmark = [pytest.mark.timeout(180)]


@pytest.fixture
def users():
    if os.geteuid() != 0:
        pytest.skip("creating unix users needs root")
    made = []

    def make():
        name = "mfd%s" % uuid.uuid4().hex[:8]
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/sh", name], check=True, capture_output=True, timeout=60)
        made.append(name)
        return pwd.getpwnam(name)
    yield make
    for name in made:
        subprocess.run(["userdel", "--remove", name], capture_output=True, timeout=60, check=False)


def _as(user, path, text, mode=0o600):
    with open(path, "w") as f:
        f.write(text)
    os.chown(path, user.pw_uid, user.pw_gid)
    os.chmod(path, mode)


def test_users_homes_on_this_machine(users, run_playbook):
    alice, mallory = users(), users()
    _as(alice, os.path.join(alice.pw_dir, ".msmtprc"),
        "account work\nhost smtp.office365.com\nport 587\ntls on\nauth on\nuser %s@contoso.com\npassword %s\n" % (alice.pw_name, CANARY))
    os.makedirs(os.path.join(alice.pw_dir, ".config", "app"))
    for d in (".config", ".config/app"):
        os.chown(os.path.join(alice.pw_dir, d), alice.pw_uid, alice.pw_gid)
    _as(alice, os.path.join(alice.pw_dir, ".config", "app", "mail.yml"),
        "smtp:\n  host: smtp.office365.com\n  port: 465\n  ssl: true\n  password: %s\n" % CANARY)
    os.makedirs(os.path.join(mallory.pw_dir, ".config", "msmtp"))
    os.rmdir(os.path.join(mallory.pw_dir, ".config", "msmtp"))
    os.chown(os.path.join(mallory.pw_dir, ".config"), mallory.pw_uid, mallory.pw_gid)
    os.symlink("/etc/shadow", os.path.join(mallory.pw_dir, ".config", "msmtp"))
    os.symlink("/etc/shadow", os.path.join(mallory.pw_dir, ".msmtprc"))
    run = run_playbook([{"hosts": "all", "gather_facts": False, "tasks": [
        {"name": "discover", "mailfleet.outlook.mail_senders_facts": {"exclude_paths": ["/root"], "timeout": 30}}]}],
        verbosity=3, timeout=150).assert_ok()
    facts = run.result(task="discover")["ansible_facts"]["mail_senders"]
    f = only(facts["senders"], user=alice.pw_name)
    assert (f["file"], f["upstream"], f["account"], f["verdict"]) == (
        alice.pw_dir + "/.msmtprc", {"host": "smtp.office365.com", "port": 587}, alice.pw_name + "@contoso.com", "stops")
    assert (f["secret"]["owner"], f["secret"]["mode"]) == (alice.pw_name, "0600")
    m = only(facts["mentions"], user=alice.pw_name)
    assert (m["file"], m["upstream"]["port"], m["security"], m["auth"], m["verdict"]) == (
        alice.pw_dir + "/.config/app/mail.yml", 465, "tls", "password", "wrong")
    assert "port_465" in codes(m) and "basic_auth" in codes(m)
    reasons = dict((u["path"], u["reason"]) for u in facts["unreadable"])
    assert reasons[mallory.pw_dir + "/.msmtprc"] == "a symbolic link: not followed"
    assert "symbolic link in a home directory" in reasons[mallory.pw_dir + "/.config/msmtp/config"]
    assert [x for x in facts["senders"] + facts["mentions"] if x.get("user") == mallory.pw_name] == []
    seen = [x["file"] for x in facts["senders"] + facts["mentions"]] + [u["path"] for u in facts["unreadable"]]
    assert not [p for p in seen if p == "/root" or p.startswith("/root/")] and facts["excluded"] == ["/root"]
    assert CANARY not in run.all_output()
