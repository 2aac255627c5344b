# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The client role with real ansible-playbook (local connection, this machine), real unix users and the
lab: files, owners and modes, msmtp sending into the lab's store, idempotence, check/diff, bad input."""

from __future__ import annotations

import os
import plistlib
import shutil
import stat
import subprocess
import uuid

import pytest

pytestmark = [pytest.mark.timeout(300)]

PLAY = [{"hosts": "localhost", "gather_facts": False, "roles": [{"role": "mailfleet.outlook.client"}]}]
LAB_PASSWORD = "alice-lab-password"  # the lab's password of alice@contoso.test (lab/README.md)


@pytest.fixture
def lab_settings(lab, tmp_path):
    """Overrides that point the lab profile at this session's lab; its CA copied where test users can read it."""
    ca = "/tmp/mfc-ca-%s.pem" % uuid.uuid4().hex[:8]
    shutil.copyfile(lab.ca_file, ca)
    os.chmod(ca, 0o644)
    yield {"smtp_port": lab.ports["submission"], "imap_port": lab.ports["imap"], "pop_port": lab.ports["pop"],
           "ca_file": ca}
    os.unlink(ca)


def base_vars(tmp_path, lab_settings, accounts, **kw):
    data = {"client_profile": "lab", "client_settings": lab_settings, "client_accounts": accounts,
            "client_publish_dir": str(tmp_path / "www"), "client_thunderbird_install_dir": str(tmp_path / "tb")}
    data.update(kw)
    return data


def as_user(pw, argv, stdin=None, timeout=60):
    env = {"HOME": pw.pw_dir, "USER": pw.pw_name, "LOGNAME": pw.pw_name, "PATH": "/usr/local/bin:/usr/bin:/bin"}
    runuser = shutil.which("runuser", path="/usr/sbin:/sbin:/usr/bin:/bin")
    return subprocess.run([runuser, "-u", pw.pw_name, "--"] + argv, input=stdin, capture_output=True, text=True,
                          timeout=timeout, env=env)


def message(sender, to, subject):
    return "From: %s\nTo: %s\nSubject: %s\n\nsent by a mailfleet.outlook client test\n" % (sender, to, subject)


def task_result(run, name):
    """The result of the role's task ``name`` (role tasks are named '<role> : <name>')."""
    found = [e["result"] for e in run.tasks if e["task"] == name or e["task"].endswith(" : " + name)]
    assert len(found) == 1, "%d results for %r\n%s" % (len(found), name, run.describe())
    return found[0]


def owned(path, pw, mode=0o600):
    st = os.stat(path)
    return st.st_uid == pw.pw_uid and st.st_gid == pw.pw_gid and stat.S_IMODE(st.st_mode) == mode


def test_password_accounts_end_to_end(run_playbook, lab, lab_settings, unix_users, tmp_path):
    (alice,) = unix_users(1)
    os.makedirs(tmp_path / "tb")
    accounts = [{"user": alice.pw_name, "address": "alice@contoso.test", "display_name": "Alice Lab",
                 "auth_method": "password", "password": LAB_PASSWORD,
                 "clients": ["msmtp", "neomutt", "thunderbird", "evolution"],
                 "thunderbird_profile": ".thunderbird/lab.default"}]
    run = run_playbook(PLAY, extra_vars=base_vars(tmp_path, lab_settings, accounts), diff=True)
    run.assert_ok()
    assert LAB_PASSWORD not in run.all_output()

    home = alice.pw_dir
    files = [home + "/.config/msmtp/config", home + "/.config/mailfleet/password", home + "/.config/neomutt/neomuttrc",
             home + "/.thunderbird/lab.default/user.js"]
    for path in files:
        assert owned(path, alice), path
    sources = sorted(os.listdir(home + "/.config/evolution/sources"))
    assert len(sources) == 3 and all(s.startswith("mailfleet-") for s in sources)
    assert owned(home + "/.config/mailfleet", alice, 0o700)
    with open(home + "/.config/mailfleet/password") as f:
        assert f.read().strip() == LAB_PASSWORD
    for path in files[:1] + files[2:]:
        with open(path) as f:
            assert LAB_PASSWORD not in f.read()
    assert os.path.isfile(tmp_path / "tb/isp/contoso.test.xml")
    for rel in ("mail/config-v1.1.xml", "autodiscover/autodiscover.xml", "apple/alice@contoso.test.mobileconfig"):
        assert os.path.isfile(tmp_path / "www/contoso.test" / rel), rel

    # msmtp, run by the user with the generated config, sends into the lab
    subject = "client-e2e-password-%s" % uuid.uuid4().hex
    sent = as_user(alice, ["msmtp", "-t"], stdin=message("alice@contoso.test", "bob@contoso.test", subject))
    assert sent.returncode == 0, sent.stderr
    (stored,) = lab.wait_for_messages(1, timeout=20, subject=subject)
    assert stored["user"] == "alice@contoso.test" and stored["auth_mechanism"] == "LOGIN"
    assert stored["rcpt_tos"] == ["bob@contoso.test"] and stored["tls_version"] in ("TLSv1.2", "TLSv1.3")
    info = as_user(alice, ["msmtp", "--serverinfo"])
    assert info.returncode == 0 and "TLS session parameters" in info.stdout, info.stdout + info.stderr

    # neomutt reads the generated file as the user
    q = as_user(alice, ["neomutt", "-n", "-F", home + "/.config/neomutt/neomuttrc", "-Q", "smtp_url"])
    assert q.stdout.strip() == 'set smtp_url = "smtp://alice%%40contoso.test@localhost:%d/"' % lab.ports["submission"]

    # idempotent: the second run changes nothing, UUIDs and files stay
    apple = (tmp_path / "www/contoso.test/apple/alice@contoso.test.mobileconfig").read_bytes()
    again = run_playbook(PLAY, extra_vars=base_vars(tmp_path, lab_settings, accounts))
    again.assert_ok()
    assert again.stats["localhost"]["changed"] == 0, again.describe()
    assert (tmp_path / "www/contoso.test/apple/alice@contoso.test.mobileconfig").read_bytes() == apple
    assert sorted(os.listdir(home + "/.config/evolution/sources")) == sources
    assert plistlib.loads(apple)["PayloadUUID"]


def test_check_and_diff_mode_are_exact_and_redact_secrets(run_playbook, lab_settings, unix_users, tmp_path):
    (alice,) = unix_users(1)
    canary = "canary-%s" % uuid.uuid4().hex
    accounts = [{"user": alice.pw_name, "address": "alice@contoso.test", "auth_method": "password",
                 "password": canary, "clients": ["msmtp"]}]
    home = alice.pw_dir
    check = run_playbook(PLAY, extra_vars=base_vars(tmp_path, lab_settings, accounts), check=True, diff=True)
    check.assert_ok()
    assert not os.path.exists(home + "/.config/msmtp/config") and not os.path.exists(tmp_path / "www")
    assert canary not in check.all_output()
    configured = task_result(check, "Configure the mail clients of each user")["results"][0]
    assert sorted(configured["changed_files"]) == sorted([home + "/.config/msmtp/config", home + "/.config/mailfleet/password"])

    run_playbook(PLAY, extra_vars=base_vars(tmp_path, lab_settings, accounts)).assert_ok()
    # a new password and display name: check mode reports exactly those files, diff redacts the secret
    new_canary = "canary-new-%s" % uuid.uuid4().hex
    accounts[0].update(password=new_canary, display_name="Alice Renamed")
    before = open(home + "/.config/mailfleet/password").read()
    check = run_playbook(PLAY, extra_vars=base_vars(tmp_path, lab_settings, accounts), check=True, diff=True)
    check.assert_ok()
    configured = task_result(check, "Configure the mail clients of each user")["results"][0]
    assert configured["changed_files"] == [home + "/.config/mailfleet/password"]
    assert new_canary not in check.all_output() and canary not in check.all_output()
    assert "<redacted: " in check.stdout
    assert open(home + "/.config/mailfleet/password").read() == before
    apple_check = task_result(check, "Publish the Apple configuration profile of each account")["results"][0]
    # the display name is in the Apple profile (EmailAccountName): exactly that published file would change
    assert apple_check["changed_files"] == [str(tmp_path / "www/contoso.test/apple/alice@contoso.test.mobileconfig")]
