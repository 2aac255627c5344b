# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Reader under hostile input: links, FIFOs, devices, huge, binary, unreadable files, link loops, and the time
bound of the whole discovery (a parser that hangs cannot hold the module)."""

import os
import time

import pytest

from ansible_collections.mailfleet.outlook.plugins.module_utils._senders import _discover, _read
from mailfleet_testing.senders import CANARY

pytestmark = [pytest.mark.timeout(60), pytest.mark.core_independent]


def _reason(result, path):
    return dict((u["path"], u["reason"]) for u in result["unreadable"]).get(path)


def test_hostile_configuration_files(fake_root, tmp_path):
    fake_root.mkdir("/etc/postfix")
    os.mkfifo(fake_root.p("/etc/postfix/main.cf"))                                           # would block a plain open()
    fake_root.mkdir("/etc/nullmailer")
    with open(fake_root.p("/etc/nullmailer/remotes"), "wb") as f:                               # 4 GiB, sparse
        f.truncate(4 << 30)
    fake_root.write("/etc/dma/dma.conf", "SMARTHOST smtp.office365.com\n\0\0\0binary")
    outside = tmp_path / "outside.conf"
    outside.write_text("account x\nhost smtp.office365.com\npassword %s\n" % CANARY)
    os.symlink(str(outside), fake_root.p("/etc/msmtprc"))
    fake_root.mkdir("/etc/exim4")
    os.symlink("loop-b", fake_root.p("/etc/exim4/update-exim4.conf.conf"))
    os.symlink("update-exim4.conf.conf", fake_root.p("/etc/exim4/loop-b"))
    os.symlink("/dev/zero", fake_root.p("/etc/smtpd.conf"))
    started = time.monotonic()
    r = fake_root.discover()
    assert time.monotonic() - started < 10
    assert "FIFO" in _reason(r, "/etc/postfix/main.cf")
    assert "larger than the size limit" in _reason(r, "/etc/nullmailer/remotes")
    assert "binary" in _reason(r, "/etc/dma/dma.conf")
    assert _reason(r, "/etc/msmtprc") == "a symbolic link: not followed"
    assert _reason(r, "/etc/exim4/update-exim4.conf.conf") == "a symbolic link: not followed"
    assert _reason(r, "/etc/smtpd.conf") == "a symbolic link: not followed"
    assert r["senders"] == [] and r["complete"]


def test_directory_links_follow_only_root_placed_ones(fake_root):
    fake_root.write("/srv/postfix-conf/main.cf", "relayhost = [smtp.office365.com]:587\n")
    # an absolute link resolves inside the root (like in the image it belongs to); /etc is root's and nobody else
    # may write it: followed
    os.symlink("/srv/postfix-conf", fake_root.p("/etc/postfix"))
    reader = fake_root.reader()
    assert "relayhost" in reader.read("/etc/postfix/main.cf")
    os.chmod(fake_root.p("/etc"), 0o777)                       # now anyone could have placed the link
    try:
        reader = fake_root.reader()
        assert reader.read("/etc/postfix/main.cf") is None
        assert "could have placed" in reader.unreadable[0]["reason"] and reader.links == ["/etc/postfix"]
    finally:
        os.chmod(fake_root.p("/etc"), 0o755)


def test_link_loop_in_directories(fake_root):
    os.symlink("b", fake_root.p("/etc/a"))
    os.symlink("a", fake_root.p("/etc/b"))
    reader = fake_root.reader()
    assert reader.read("/etc/a/main.cf") is None
    assert "too many levels of symbolic links" in reader.unreadable[0]["reason"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_permission_denied(fake_root):
    fake_root.write("/etc/msmtprc", "account a\nhost smtp.office365.com\n", mode=0o000)
    r = fake_root.discover()
    assert _reason(r, "/etc/msmtprc") == "permission denied"


def test_permission_denied_as_another_user(fake_root):
    """As root, run the same read in a child that dropped to nobody (what a non-root run of the module sees)."""
    if os.geteuid() != 0:
        pytest.skip("covered by test_permission_denied")
    fake_root.write("/etc/msmtprc", "account a\nhost smtp.office365.com\n", mode=0o600)
    os.chmod(fake_root.path, 0o755)
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.setgid(65534)
            os.setuid(65534)
            reader = fake_root.reader()
            reader.read("/etc/msmtprc")
            os.write(write_fd, repr(reader.unreadable).encode())
        finally:
            os._exit(0)
    os.close(write_fd)
    os.waitpid(pid, 0)
    assert "permission denied" in os.read(read_fd, 4096).decode()


def test_the_deadline_holds_when_a_parser_hangs(fake_root, monkeypatch):
    def hang(reader, opts):
        time.sleep(30)
        return []
    monkeypatch.setattr(_discover, "GRACE", 0.5)
    monkeypatch.setattr(_discover, "PARSERS", (("postfix", hang),) + _discover.PARSERS[1:])
    started = time.monotonic()
    r = _discover.discover(root=fake_root.path, limits={"timeout": 1})
    assert time.monotonic() - started < 3
    assert not r["complete"] and "did not finish within 1s (phase postfix" in r["errors"][0]


def test_the_deadline_stops_the_scan(fake_root):
    for i in range(200):
        fake_root.write("/etc/d%03d/x.conf" % i, "x\n")
    reader = _read.Reader(root=fake_root.path, limits={"timeout": 10})
    reader.deadline = _read.Deadline(0)
    from ansible_collections.mailfleet.outlook.plugins.module_utils._senders import _mentions
    found, summary = _mentions.discover(reader, ["/etc"], homes=False)
    assert summary["stopped_by"] == "timeout" and not summary["complete"]


def test_results_are_capped(fake_root):
    fake_root.write("/etc/msmtprc", "".join("account a%d\nhost smtp.office365.com\n" % i for i in range(30)))
    r = fake_root.discover(limits={"timeout": 10, "max_results": 5})
    assert len(r["senders"]) == 5 and r["dropped"]["senders"] == 25
