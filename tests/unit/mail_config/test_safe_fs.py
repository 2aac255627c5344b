"""The write path's descriptor walk and its work as the user who controls a directory (_safe_fs, _apply).

Run as root (skipped otherwise): directories are given to the system users ``nobody`` and ``daemon`` so
that the forked child really drops to another uid; the base directory is world-traversable so that the
child (and the "attacker" hooks) can reach it by path too.
"""

import errno
import grp
import os
import pwd
import signal
import stat
import subprocess

import pytest

from ansible_collections.mailfleet.outlook.plugins.module_utils._apply import ApplyError, apply_plan
from ansible_collections.mailfleet.outlook.plugins.module_utils import _as_user
from ansible_collections.mailfleet.outlook.plugins.module_utils._as_user import run_as
from ansible_collections.mailfleet.outlook.plugins.module_utils._refusal import Refused
from ansible_collections.mailfleet.outlook.plugins.module_utils._safe_fs import Identity, locate
from ansible_collections.mailfleet.outlook.plugins.module_utils._safe_fs_ops import op_look
from mailfleet_testing.local_users import scratch_dir

pytestmark = [pytest.mark.timeout(60), pytest.mark.core_independent,
              pytest.mark.skipif(os.geteuid() != 0, reason="drops privileges to other users: needs root")]

ROOT_SECRET = b"root-only-content\n"


def run(argv):
    p = subprocess.run(argv, capture_output=True, text=True, check=False)
    return p.returncode, p.stdout, p.stderr


def f(path, content, mode="0600", secret=False, **kw):
    d = {"path": str(path), "content": content, "mode": mode, "secret": secret, "owner": None, "group": None}
    d.update(kw)
    return d


@pytest.fixture
def users():
    return pwd.getpwnam("nobody"), pwd.getpwnam("daemon")


@pytest.fixture
def base():
    with scratch_dir("mfsw", 0o755) as path:
        yield path


@pytest.fixture
def home(base, users):
    """A directory of ``nobody`` (like a home), with a root-owned target beside it."""
    nobody = users[0]
    path = os.path.join(base, "home")
    os.mkdir(path, 0o755)
    os.chown(path, nobody.pw_uid, nobody.pw_gid)
    return path


@pytest.fixture
def target(base):
    """A root-only file and a root-owned directory the user must never reach."""
    os.mkdir(os.path.join(base, "rootdir"), 0o755)
    path = os.path.join(base, "rootdir", "target")
    with open(path, "wb") as handle:
        handle.write(ROOT_SECRET)
    os.chmod(path, 0o600)
    return path


def snapshot(path):
    st = os.lstat(path)
    out = (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_ino)
    if stat.S_ISREG(st.st_mode):
        with open(path, "rb") as handle:
            return out + (handle.read(),)
    if stat.S_ISDIR(st.st_mode):
        return out + (tuple(sorted(os.listdir(path))),)
    return out


def as_user(pw, *argv):
    """chown a path (created by root in the test) to ``pw`` without following links."""
    for p in argv:
        os.lchown(p, pw.pw_uid, pw.pw_gid)


# -- the walk -------------------------------------------------------------------------------------

def test_walk_stops_at_the_first_directory_of_another_user(home, users):
    place = locate(home + "/.config/msmtp/config")
    try:
        assert place.path == home and place.owner.uid == users[0].pw_uid
        assert place.rest == [".config", "msmtp", "config"]
    finally:
        place.close()
    root_place = locate(os.path.dirname(home) + "/plain")
    try:
        assert root_place.owner is None and root_place.rest == ["plain"]
    finally:
        root_place.close()


def test_root_placed_link_is_followed_but_a_users_link_in_tmp_is_not(base, users):
    real = os.path.join(base, "real.cf")
    with open(real, "w") as handle:
        handle.write("old\n")
    os.symlink(real, os.path.join(base, "link.cf"))  # base: root-owned, not writable by others
    apply_plan([f(os.path.join(base, "link.cf"), "new\n", mode="0644")], run)
    assert open(real).read() == "new\n" and os.path.islink(os.path.join(base, "link.cf"))

    sticky = os.path.join(base, "sticky")
    os.mkdir(sticky)
    os.chmod(sticky, 0o1777)
    os.symlink(real, os.path.join(sticky, "roots"))           # root's link in a sticky dir: root placed it
    os.symlink(real, os.path.join(sticky, "theirs"))
    as_user(users[0], os.path.join(sticky, "theirs"))          # the same link, but the user's
    apply_plan([f(os.path.join(sticky, "roots"), "via root link\n", mode="0644")], run)
    assert open(real).read() == "via root link\n"
    with pytest.raises(ApplyError) as e:
        apply_plan([f(os.path.join(sticky, "theirs"), "via user link\n", mode="0644")], run)
    assert "left alone: %s/theirs is a symbolic link" % sticky in e.value.msg
    assert open(real).read() == "via root link\n"


def test_absolute_links_inside_an_image_root_stay_inside_it(base):
    image = os.path.join(base, "image")
    os.makedirs(image + "/etc/real")
    os.symlink("/etc/real", image + "/etc/postfix")  # absolute: means <image>/etc/real, not the live /etc/real
    apply_plan([f("/etc/postfix/main.cf", "x = 1\n", mode="0644")], run, root=image)
    assert open(image + "/etc/real/main.cf").read() == "x = 1\n"
    assert not os.path.exists("/etc/real")


# -- section 1 of issue 10, one case each ---------------------------------------------------------

@pytest.mark.parametrize("case", ["file_link", "dangling_link", "linked_parent", "parent_is_file", "other_users_dir"])
def test_planted_ways_are_refused_and_root_files_stay(case, home, target, users, base):
    nobody, daemon = users
    cfg = home + "/.config"
    dangling = os.path.join(base, "rootdir", "created-through-link")
    before = snapshot(target), snapshot(os.path.dirname(target))
    os.mkdir(cfg)
    as_user(nobody, cfg)
    expected = None
    if case == "file_link":
        os.mkdir(cfg + "/msmtp")
        as_user(nobody, cfg + "/msmtp")
        os.symlink(target, cfg + "/msmtp/config")
        as_user(nobody, cfg + "/msmtp/config")
        expected = "~/.config/msmtp/config is a symbolic link"
    elif case == "dangling_link":
        os.mkdir(cfg + "/msmtp")
        as_user(nobody, cfg + "/msmtp")
        os.symlink(dangling, cfg + "/msmtp/config")
        as_user(nobody, cfg + "/msmtp/config")
        expected = "~/.config/msmtp/config is a symbolic link"
    elif case == "linked_parent":
        os.symlink(os.path.dirname(target), cfg + "/msmtp")
        as_user(nobody, cfg + "/msmtp")
        expected = "~/.config/msmtp is a symbolic link"
    elif case == "parent_is_file":
        with open(cfg + "/msmtp", "w") as handle:
            handle.write("a file\n")
        as_user(nobody, cfg + "/msmtp")
        expected = "~/.config/msmtp is not a directory"
    else:
        os.mkdir(cfg + "/msmtp")
        as_user(daemon, cfg + "/msmtp")
        expected = "~/.config/msmtp belongs to daemon, not nobody"
    plan = [f(cfg + "/msmtp/config", "account default\n", owner="nobody", group=grp.getgrgid(nobody.pw_gid).gr_name),
            f(cfg + "/mailfleet/password", "pw\n", secret=True, owner="nobody"),
            f(os.path.join(base, "system.cf"), "system\n", mode="0644")]
    # check mode and diff: nothing read through the link, the refusal is named
    r = apply_plan(plan, run, check_mode=True, on_refusal="skip")
    assert ROOT_SECRET.decode() not in repr(r)
    assert r["changed_files"] == [os.path.join(base, "system.cf")]
    # fail (the default): nothing at all is written, the message names the problem
    with pytest.raises(ApplyError) as e:
        apply_plan(plan, run)
    assert "user nobody: " in e.value.msg and "Nothing was written" in e.value.msg
    assert not os.path.exists(os.path.join(base, "system.cf"))
    # skip: this user's files are left alone, the others are written
    r = apply_plan(plan, run, on_refusal="skip")
    # nobody's passwd home is not this directory: the reason shows the full path ("~" is tested below)
    assert [x["reason"] for x in r["refused"]] == ["left alone: " + expected.replace("~", home)], r["refused"]
    assert all(x["user"] == "nobody" for x in r["refused"])
    assert r["changed_files"] == [os.path.join(base, "system.cf")]
    assert [x.get("left_alone") is not None for x in r["files"]] == [True, True, False]
    assert not os.path.exists(cfg + "/mailfleet")
    assert (snapshot(target), snapshot(os.path.dirname(target))) == before
    assert not os.path.lexists(dangling)


def test_reason_uses_tilde_for_the_users_home(home, target):
    assert Refused(home + "/.config", "is a symbolic link").describe(home) == "left alone: ~/.config is a symbolic link"
    assert Refused("/etc/x", "is a symbolic link").describe(home) == "left alone: /etc/x is a symbolic link"


def test_swapped_temporary_file_is_caught_and_root_file_untouched(home, target, users, monkeypatch):
    """The user renames the temporary file away and puts a link to a root file in its place, between the
    write and the rename: nothing follows the link, the rename is detected, the user's files are restored."""
    nobody = users[0]
    cfg = home + "/cfg"
    os.mkdir(cfg)
    as_user(nobody, cfg)
    before = snapshot(target)
    real_fsync = os.fsync

    def swap_then_fsync(fd):
        real_fsync(fd)
        for name in os.listdir(cfg):  # runs in the child, as nobody: what a racing process of the user does
            if name.endswith(".mailfleet"):
                os.rename(os.path.join(cfg, name), os.path.join(cfg, "stolen"))
                os.symlink(target, os.path.join(cfg, name))

    monkeypatch.setattr(os, "fsync", swap_then_fsync)
    r = apply_plan([f(cfg + "/config", "new\n", owner="nobody")], run, on_refusal="skip")
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert [x["reason"] for x in r["refused"]] == ["left alone: %s/config was replaced while it was being written" % cfg]
    assert r["changed_files"] == []
    assert snapshot(target) == before
    assert not os.path.lexists(cfg + "/config")  # the user's link was taken back out, not followed
    st = os.lstat(cfg + "/stolen")
    assert st.st_uid == nobody.pw_uid and stat.S_IMODE(st.st_mode) == 0o600  # our file: the user's, private


def test_child_has_the_users_powers_only(home, target, users):
    """Even if the walk had a bug, the kernel stops the child: it cannot read or write root's file."""
    nobody = users[0]
    ident = Identity(nobody.pw_uid, nobody.pw_gid)

    def try_root_file():
        out = {"uid": os.getuid(), "euid": os.geteuid(), "groups": os.getgroups()}
        for flags in (os.O_RDONLY, os.O_WRONLY):
            try:
                os.close(os.open(target, flags))
                out[str(flags)] = "opened"
            except OSError as e:
                out[str(flags)] = e.errno
        return out

    out = run_as(ident, try_root_file)
    assert out["uid"] == out["euid"] == nobody.pw_uid and 0 not in out["groups"]
    assert out[str(os.O_RDONLY)] == errno.EACCES and out[str(os.O_WRONLY)] == errno.EACCES


def test_child_that_does_not_answer_is_a_refusal(home, users, monkeypatch):
    monkeypatch.setattr(_as_user, "CHILD_TIMEOUT", 1)
    ident = Identity(users[0].pw_uid, users[0].pw_gid)
    with pytest.raises(Refused) as e:
        run_as(ident, lambda: os.kill(os.getpid(), signal.SIGSTOP))  # stopped, as the user can do to it
    assert "did not finish within 1 s" in e.value.problem


def test_owner_and_group_the_user_cannot_give_are_refused(home, users):
    with pytest.raises(ApplyError) as e:
        apply_plan([f(home + "/x", "1\n", owner="root")], run)
    assert "belongs to nobody: a file there can only be written as nobody, not with owner root" in e.value.msg
    with pytest.raises(ApplyError) as e:
        apply_plan([f(home + "/x", "1\n", owner="nobody", group="root")], run)
    assert "who is not a member of group root" in e.value.msg
    assert not os.path.exists(home + "/x")


def test_files_and_directories_are_created_by_the_user(home, users):
    nobody = users[0]
    r = apply_plan([f(home + "/.config/mailfleet/password", "pw\n", secret=True, owner="nobody", dir_mode="0700")], run)
    assert r["files"][0]["written_as"] == "nobody"
    for path, mode in ((home + "/.config", 0o700), (home + "/.config/mailfleet", 0o700),
                       (home + "/.config/mailfleet/password", 0o600)):
        st = os.lstat(path)
        assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (nobody.pw_uid, nobody.pw_gid, mode), path
    # mode-only change, through the opened file
    os.chmod(home + "/.config/mailfleet/password", 0o644)
    r = apply_plan([f(home + "/.config/mailfleet/password", "pw\n", secret=True, owner="nobody")], run)
    assert r["files"][0]["attributes_changed"] and stat.S_IMODE(os.stat(home + "/.config/mailfleet/password").st_mode) == 0o600
    # and the second run changes nothing
    assert not apply_plan([f(home + "/.config/mailfleet/password", "pw\n", secret=True, owner="nobody")], run)["changed"]


def test_removing_a_link_removes_the_link_only(home, target, users):
    os.symlink(target, home + "/old")
    as_user(users[0], home + "/old")
    before = snapshot(target)
    r = apply_plan([{"path": home + "/old", "state": "absent"}], run, on_refusal="skip")
    assert r["refused"] and "is a symbolic link" in r["refused"][0]["reason"]
    assert os.path.islink(home + "/old") and snapshot(target) == before


def test_rollback_restores_the_users_file_as_the_user(home, users):
    nobody = users[0]
    path = home + "/config"
    apply_plan([f(path, "old\n", owner="nobody")], run)
    with pytest.raises(ApplyError) as e:
        apply_plan([f(path, "new\n", owner="nobody")], run, validate=[["false"]])
    assert e.value.rolled_back and open(path).read() == "old\n"
    st = os.stat(path)
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (nobody.pw_uid, 0o600)
    assert sorted(os.listdir(home)) == ["config"]


def test_hard_link_in_a_directory_others_can_write_is_refused(base, target):
    shared = os.path.join(base, "shared")
    os.mkdir(shared)
    os.chmod(shared, 0o777)
    os.link(target, os.path.join(shared, "config"))
    before = snapshot(target)
    with pytest.raises(ApplyError) as e:
        apply_plan([f(os.path.join(shared, "config"), "new\n")], run, check_mode=True)
    assert "has other hard links" in e.value.msg and ROOT_SECRET.decode() not in e.value.msg
    assert snapshot(target) == before


def test_fifo_is_not_opened_for_reading(home, users):
    os.mkfifo(home + "/config")
    as_user(users[0], home + "/config")
    with pytest.raises(ApplyError) as e:
        apply_plan([f(home + "/config", "x\n", owner="nobody")], run)
    assert "is not a regular file" in e.value.msg


# -- backups ---------------------------------------------------------------------------------------

def test_backups_are_private_unpredictable_and_never_through_a_link(home, target, users):
    nobody = users[0]
    path = home + "/password"
    apply_plan([f(path, "old-secret\n", secret=True, owner="nobody")], run)
    # the old name scheme <dest>.<pid>.<stamp>~ for this process and the next seconds: a link spray
    import time
    now = time.time()
    spray = []
    for pid in range(os.getpid(), os.getpid() + 50):
        for second in range(0, 5):
            name = "%s.%d.%s~" % (path, pid, time.strftime("%Y-%m-%d@%H:%M:%S", time.localtime(now + second)))
            os.symlink(target, name)
            as_user(nobody, name)
            spray.append(name)
    before = snapshot(target)
    backups = []
    for i in range(3):
        r = apply_plan([f(path, "secret-%d\n" % i, secret=True, owner="nobody")], run, backup=True)
        backups.append(r["files"][0]["backup_file"])
    assert len(set(backups)) == 3  # three backups in the same second: three names
    for b in backups:
        st = os.lstat(b)
        assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == nobody.pw_uid
        assert os.path.basename(b).startswith("password.") and b.endswith("~") and b not in spray
    assert open(backups[0]).read() == "old-secret\n" and open(backups[2]).read() == "secret-1\n"
    assert snapshot(target) == before
    assert all(os.readlink(s) == target for s in spray)


def test_backup_of_a_stricter_file_keeps_its_mode(base):
    path = os.path.join(base, "ro")
    with open(path, "w") as handle:
        handle.write("old\n")
    os.chmod(path, 0o400)
    r = apply_plan([f(path, "new\n", mode="0400")], run, backup=True)
    assert stat.S_IMODE(os.stat(r["files"][0]["backup_file"]).st_mode) == 0o400
    os.chmod(path, 0o644)
    r = apply_plan([f(path, "newer\n", mode="0644")], run, backup=True)
    assert stat.S_IMODE(os.stat(r["files"][0]["backup_file"]).st_mode) == 0o600


def test_look_reads_through_descriptors_as_the_user(home, users):
    with open(home + "/mine", "w") as handle:
        handle.write("mine\n")
    as_user(users[0], home + "/mine")
    place = locate(home + "/mine")
    try:
        info = place.run(op_look)
    finally:
        place.close()
    assert info["exists"] and info["content"] == b"mine\n" and info["uid"] == users[0].pw_uid
