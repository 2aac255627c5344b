# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hostile input through the real module (ansible-playbook): huge, binary, special, unreadable, linked and looping
configuration files, and a tree too big to scan: the module finishes within its time bound and reports what it
could not read."""

import os
import time

import pytest

from mailfleet_testing import AnsibleRunner, make_env
from mailfleet_testing.local_users import local_users, scratch_dir
from mailfleet_testing.senders import CANARY

pytestmark = [pytest.mark.timeout(180)]


def _root(base):
    root = os.path.join(base, "root")
    for d in ("etc/postfix", "etc/exim4", "etc/nullmailer", "etc/dma", "etc/many", "home/eve/.config", "srv"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    with open(os.path.join(root, "etc/passwd"), "w") as f:
        f.write("root:x:0:0::/root:/bin/sh\neve:x:24201:24201::/home/eve:/bin/sh\n")
    os.chown(os.path.join(root, "home/eve"), 24201, 24201)
    os.chown(os.path.join(root, "home/eve/.config"), 24201, 24201)
    os.mkfifo(os.path.join(root, "etc/postfix/main.cf"))                          # a FIFO: a plain open() blocks
    with open(os.path.join(root, "etc/nullmailer/remotes"), "wb") as f:           # 8 GiB, sparse
        f.truncate(8 << 30)
    with open(os.path.join(root, "etc/dma/dma.conf"), "wb") as f:                 # binary
        f.write(b"SMARTHOST smtp.office365.com\n" + os.urandom(4096).replace(b"\0", b"\1") + b"\0")
    os.symlink("update-exim4.conf.conf", os.path.join(root, "etc/exim4/update-exim4.conf.conf"))   # loops onto itself
    os.symlink("/dev/zero", os.path.join(root, "etc/smtpd.conf"))
    secret = os.path.join(root, "srv/secret.conf")
    with open(secret, "w") as f:
        f.write("account x\nhost smtp.office365.com\npassword %s\n" % CANARY)
    os.symlink("/srv/secret.conf", os.path.join(root, "etc/msmtprc"))                 # a link to a file with a secret
    os.symlink("/etc", os.path.join(root, "home/eve/.config/msmtp"))                  # a user's link to root's files
    with open(os.path.join(root, "home/eve/.msmtprc"), "w") as f:                     # unreadable for the module's user
        f.write("account e\nhost smtp.office365.com\n")
    os.chown(os.path.join(root, "home/eve/.msmtprc"), 24201, 24201)
    os.chmod(os.path.join(root, "home/eve/.msmtprc"), 0o600)
    for i in range(40):                                                               # a tree too big for the scan's time
        d = os.path.join(root, "etc/many/d%02d" % i)
        os.makedirs(d)
        for j in range(500):
            with open(os.path.join(d, "f%03d.conf" % j), "w") as f:
                f.write("key = value %d\n" % j)
    return root


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("needs root (files owned by a test user, a run as another user)")
    work = tmp_path_factory.mktemp("hostile")
    # the scratch root lives where a test user can reach it (pytest's own directories are root's, 0700)
    with scratch_dir("mfs-hostile") as base, local_users(1, prefix="mfh") as (reader,):
        root = _root(base)
        local_tmp = work / "ansible-local"
        local_tmp.mkdir()
        runner = AnsibleRunner(make_env(local_tmp), work)
        play = [{"hosts": "localhost", "gather_facts": False, "tasks": [
            {"name": "discover", "mailfleet.outlook.mail_senders_facts": {"root": root, "timeout": 3}, "register": "found"},
            {"name": "discover as another user", "become": True, "become_user": reader.pw_name,
             "become_method": "ansible.builtin.su",
             "mailfleet.outlook.mail_senders_facts": {"root": root, "timeout": 3, "mentions": False},
             "register": "found_other", "ignore_errors": True},
        ]}]
        started = time.monotonic()
        run = runner.playbook(play, verbosity=3, timeout=120)
        yield {"run": run, "elapsed": time.monotonic() - started, "root": root}


def test_hostile_files_are_reported_not_waited_on(hostile):
    run = hostile["run"]
    facts = run.result(task="discover")["ansible_facts"]["mail_senders"]
    reasons = dict((u["path"], u["reason"]) for u in facts["unreadable"])
    assert "FIFO" in reasons["/etc/postfix/main.cf"]
    assert "larger than the size limit" in reasons["/etc/nullmailer/remotes"]
    assert "binary" in reasons["/etc/dma/dma.conf"]
    assert reasons["/etc/exim4/update-exim4.conf.conf"] == "a symbolic link: not followed"
    assert reasons["/etc/smtpd.conf"] == "a symbolic link: not followed"
    assert reasons["/etc/msmtprc"] == "a symbolic link: not followed"
    assert "symbolic link in a home directory" in reasons["/home/eve/.config/msmtp/config"]
    assert sorted(facts["links_skipped"])[:3] == ["/etc/exim4/update-exim4.conf.conf", "/etc/msmtprc", "/etc/smtpd.conf"]
    assert "/home/eve/.config/msmtp" in facts["links_skipped"]
    assert [f["file"] for f in facts["senders"]] == ["/home/eve/.msmtprc"]


def test_time_bound(hostile):
    facts = hostile["run"].result(task="discover")["ansible_facts"]["mail_senders"]
    assert facts["elapsed_ms"] < 3000 + 2500          # the deadline (3 s) plus the grace of the watchdog
    assert not facts["complete"] and facts["scan"]["stopped_by"] in ("timeout", "max_files")
    assert hostile["elapsed"] < 60


def test_unreadable_as_another_user(hostile):
    result = hostile["run"].result(task="discover as another user")
    assert "ansible_facts" in result, result
    facts = result["ansible_facts"]["mail_senders"]
    reasons = dict((u["path"], u["reason"]) for u in facts["unreadable"])
    assert reasons.get("/home/eve/.msmtprc") == "permission denied"


def test_no_secret_in_any_output(hostile):
    assert CANARY not in hostile["run"].all_output()
