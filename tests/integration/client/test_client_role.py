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
                          timeout=timeout, env=env, check=False)


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


PUBLIC_CLIENT = "22222222-2222-4222-8222-222222222222"  # the lab's public client (device-code flow)


@pytest.fixture
def shared_dir():
    """A directory test users can read (pytest's tmp dirs are 0700): the token command goes there."""
    path = "/tmp/mfc-bin-%s" % uuid.uuid4().hex[:8]
    os.makedirs(path)
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_oauth2_device_code_then_msmtp_sends_with_xoauth2(run_playbook, lab_factory, unix_users, shared_dir, tmp_path):
    lab = lab_factory({"token": {"device_auto_approve": "alice@contoso.test", "device_code_interval": 1}})
    ca = os.path.join(shared_dir, "ca.pem")
    shutil.copyfile(lab.ca_file, ca)
    os.chmod(ca, 0o644)
    (alice,) = unix_users(1)
    command = os.path.join(shared_dir, "mailfleet-oauth2")
    extra = base_vars(tmp_path, {"smtp_port": lab.ports["submission"], "imap_port": lab.ports["imap"],
                                 "pop_port": lab.ports["pop"], "ca_file": ca},
                      [{"user": alice.pw_name, "address": "alice@contoso.test", "auth_method": "oauth2",
                        "clients": ["msmtp", "neomutt"]}],
                      client_oauth2_client_id=PUBLIC_CLIENT,
                      client_oauth2_authority_url="https://localhost:%d" % lab.ports["token"],
                      client_token_command=command, client_token_library_dir=os.path.join(shared_dir, "lib"))
    run = run_playbook(PLAY, extra_vars=extra)
    run.assert_ok()
    home = alice.pw_dir
    assert os.stat(command).st_mode & 0o777 == 0o755
    assert os.path.isfile(os.path.join(shared_dir, "lib", "mailfleet_oauth2.py"))
    assert not os.path.exists(home + "/.config/mailfleet/password")

    # before the sign-in, the command says what to do (exit 1, one line)
    before = as_user(alice, [command, "token"])
    assert before.returncode == 1 and "run 'mailfleet-oauth2 login" in before.stderr
    login = as_user(alice, [command, "login"])
    assert login.returncode == 0, login.stderr
    assert "devicelogin" in login.stderr and "Signed in as alice@contoso.test" in login.stderr
    store = home + "/.config/mailfleet/oauth2-token.json"
    assert owned(store, alice, 0o600)

    subject = "client-e2e-oauth2-%s" % uuid.uuid4().hex
    sent = as_user(alice, ["msmtp", "-t"], stdin=message("alice@contoso.test", "bob@contoso.test", subject))
    assert sent.returncode == 0, sent.stderr
    (stored,) = lab.wait_for_messages(1, timeout=20, subject=subject)
    assert stored["user"] == "alice@contoso.test" and stored["auth_mechanism"] == "XOAUTH2"

    # a fresh token from the stored one, then from the refresh token (rotated and kept)
    first = as_user(alice, [command, "token"])
    forced = as_user(alice, [command, "token", "--force"])
    assert first.returncode == forced.returncode == 0 and first.stdout.strip() != forced.stdout.strip()
    with open(store) as f:
        assert f.read().count(forced.stdout.strip()) == 1

    q = as_user(alice, ["neomutt", "-n", "-F", home + "/.config/neomutt/neomuttrc", "-Q", "smtp_oauth_refresh_command"])
    assert q.stdout.strip() == 'set smtp_oauth_refresh_command = "%s token --config %s/.config/mailfleet/oauth2.json"' % (command, home)
    for token in (first.stdout.strip(), forced.stdout.strip()):
        assert token not in run.all_output()

    again = run_playbook(PLAY, extra_vars=extra)
    again.assert_ok()
    assert again.stats["localhost"]["changed"] == 0, again.describe()


def etc_state():
    """What a write through a link to /etc could change: /etc's entries and the trees the clients use."""
    state = {"/etc": sorted(os.listdir("/etc"))}
    for tree in ("/etc/msmtp", "/etc/mailfleet", "/etc/neomutt", "/etc/msmtprc"):
        for root, dirs, files in os.walk(tree):
            for name in [""] + dirs + files:
                st = os.lstat(os.path.join(root, name))
                state[os.path.join(root, name)] = (st.st_mode, st.st_uid, st.st_size, st.st_mtime_ns)
        if os.path.isfile(tree):
            st = os.lstat(tree)
            state[tree] = (st.st_mode, st.st_uid, st.st_size, st.st_mtime_ns)
    return state


def listing(path):
    out = []
    for root, dirs, files in os.walk(path):
        out.extend(os.path.join(root, n) for n in dirs + files)
    return sorted(out)


@pytest.mark.parametrize("change,expected", [
    ({"clients": ["msmtp", "pine"]}, "client_accounts[1] (user nosuchuser-mfc2): clients='pine': not a client this role configures"),
    ({"address": "alice.contoso.test"}, "client_accounts[1] (user nosuchuser-mfc2): address='alice.contoso.test': not a valid email address"),
    ({"auth_method": "oauth2", "clients": ["evolution"]},
     "client_accounts[1] (user nosuchuser-mfc2): auth_method='oauth2': evolution cannot use oauth2 here"),
    ({"settings": {"smtp_security": "tls", "smtp_port": 587}},
     "client_accounts[1] (user nosuchuser-mfc2): client_smtp_security='tls': 587 uses STARTTLS"),
    ({"user": "nosuchuser-mfc"}, "client_accounts: user(s) nosuchuser-mfc do not exist on localhost"),
])
def test_bad_input_fails_clearly_and_writes_nothing(run_playbook, lab_settings, unix_users, tmp_path, change, expected):
    (alice,) = unix_users(1)
    before = listing(alice.pw_dir)
    good = {"user": alice.pw_name, "address": "alice@contoso.test", "auth_method": "password", "password": "x-pw",
            "clients": ["msmtp"]}
    # a good account first: nothing is written for it either, the bad one fails the host before any change
    second = dict(good, user="nosuchuser-mfc2", address="x@contoso.test")
    second.update(change)
    accounts = [good, second]
    run = run_playbook(PLAY, extra_vars=base_vars(tmp_path, lab_settings, accounts))
    run.assert_failed()
    assert expected.format(user=alice.pw_name) in run.all_output(), run.describe()
    assert listing(alice.pw_dir) == before
    assert not os.path.exists(tmp_path / "www")


def test_missing_user_skipped_when_asked(run_playbook, lab_settings, unix_users, tmp_path):
    (alice,) = unix_users(1)
    accounts = [{"user": "nosuchuser-mfc", "address": "ghost@contoso.test", "auth_method": "password",
                 "password": "x-pw", "clients": ["msmtp"]},
                {"user": alice.pw_name, "address": "alice@contoso.test", "auth_method": "password", "password": "x-pw",
                 "clients": ["msmtp"]}]
    run = run_playbook(PLAY, extra_vars=base_vars(tmp_path, lab_settings, accounts, client_missing_users="skip"))
    run.assert_ok()
    assert "skipped user(s) missing on this host: nosuchuser-mfc" in run.stdout
    assert os.path.isfile(alice.pw_dir + "/.config/msmtp/config")


def test_foreign_files_and_symlinks_are_left_alone(run_playbook, lab_settings, unix_users, tmp_path):
    alice, bob = unix_users(2)
    own = alice.pw_dir + "/.config/msmtp/config"
    os.makedirs(os.path.dirname(own))
    with open(own, "w") as f:
        f.write("# my own msmtp config\naccount default\nhost mail.example.org\n")
    # alice wrote it herself: her directories are hers (a root-owned ~/.config would be refused)
    subprocess.run(["chown", "-R", "%d:%d" % (alice.pw_uid, alice.pw_gid), alice.pw_dir + "/.config"], check=True, timeout=30)
    shutil.rmtree(bob.pw_dir + "/.config", ignore_errors=True)
    os.symlink("/etc", bob.pw_dir + "/.config")
    accounts = [{"user": alice.pw_name, "address": "alice@contoso.test", "auth_method": "password", "password": "x-pw",
                 "clients": ["msmtp", "neomutt"]},
                {"user": bob.pw_name, "address": "bob@contoso.test", "auth_method": "password", "password": "y-pw",
                 "clients": ["msmtp"]}]
    # bob's ~/.config leads to /etc: nothing there may be created or changed through it (compared with
    # what the machine had before, which other runs may have left)
    etc_before = etc_state()
    run = run_playbook(PLAY, extra_vars=base_vars(tmp_path, lab_settings, accounts))
    run.assert_ok()
    with open(own) as f:
        assert f.read().startswith("# my own msmtp config")  # not touched
    assert os.path.isfile(alice.pw_dir + "/.config/neomutt/neomuttrc")  # the other client still configured
    assert "exists and was not written by mailfleet.outlook" in run.stdout
    assert "is a symbolic link" in run.stdout
    assert etc_state() == etc_before
    # and when asked to fail, it fails before writing anything
    fail = run_playbook(PLAY, extra_vars=base_vars(tmp_path / "2", lab_settings, accounts, client_foreign_files="fail"))
    fail.assert_failed()
    assert "%s exists and was not written by mailfleet.outlook" % own in fail.all_output()


def test_thunderbird_default_profile_found_from_profiles_ini(run_playbook, lab_settings, unix_users, tmp_path):
    alice, bob = unix_users(2)
    tb = alice.pw_dir + "/.thunderbird"
    os.makedirs(tb + "/x1y2z3.default-release")
    with open(tb + "/profiles.ini", "w") as f:
        f.write("[Profile0]\nName=default-release\nIsRelative=1\nPath=x1y2z3.default-release\nDefault=1\n\n"
                "[Install4F96D1932A9F858E]\nDefault=x1y2z3.default-release\nLocked=1\n\n[General]\nStartWithLastProfile=1\n")
    subprocess.run(["chown", "-R", "%d:%d" % (alice.pw_uid, alice.pw_gid), tb], check=True, timeout=30)
    accounts = [{"user": u.pw_name, "address": "%s@contoso.test" % n, "auth_method": "password", "password": "x-pw",
                 "clients": ["thunderbird", "msmtp"]} for u, n in ((alice, "alice"), (bob, "bob"))]
    run = run_playbook(PLAY, extra_vars=base_vars(tmp_path, lab_settings, accounts))
    run.assert_ok()
    assert owned(tb + "/x1y2z3.default-release/user.js", alice)
    # bob never started Thunderbird: that client is skipped with the reason, msmtp is configured
    assert "no Thunderbird profile yet" in run.stdout
    assert not os.path.exists(bob.pw_dir + "/.thunderbird")
    assert os.path.isfile(bob.pw_dir + "/.config/msmtp/config")
    again = run_playbook(PLAY, extra_vars=base_vars(tmp_path, lab_settings, accounts))
    assert again.stats["localhost"]["changed"] == 0, again.describe()


def test_switching_to_oauth2_removes_the_password_file(run_playbook, lab_settings, unix_users, tmp_path):
    (alice,) = unix_users(1)
    account = {"user": alice.pw_name, "address": "alice@contoso.test", "auth_method": "password", "password": "x-pw",
               "clients": ["msmtp"]}
    extra = dict(client_oauth2_client_id=PUBLIC_CLIENT, client_token_command="/usr/local/bin/mailfleet-oauth2-test-%s"
                 % uuid.uuid4().hex[:6], client_token_library_dir=str(tmp_path / "lib"))
    run_playbook(PLAY, extra_vars=base_vars(tmp_path, lab_settings, [account], **extra)).assert_ok()
    password_file = alice.pw_dir + "/.config/mailfleet/password"
    assert os.path.isfile(password_file)
    account = dict(account, auth_method="oauth2")
    del account["password"]
    try:
        run = run_playbook(PLAY, extra_vars=base_vars(tmp_path, lab_settings, [account], **extra), diff=True)
        run.assert_ok()
        assert not os.path.exists(password_file)
        assert os.path.isfile(alice.pw_dir + "/.config/mailfleet/oauth2.json")
        with open(alice.pw_dir + "/.config/msmtp/config") as f:
            assert "auth xoauth2" in f.read()
        assert "x-pw" not in run.all_output()
    finally:
        if os.path.exists(extra["client_token_command"]):
            os.unlink(extra["client_token_command"])
