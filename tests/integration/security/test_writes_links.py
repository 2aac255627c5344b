# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 10, section 1: what a local user plants in their home never makes root write elsewhere.

Real users (created here, removed after), real ansible-playbook on this machine.  One user per case,
plus a control user who must be configured all the same:

- ``file_link``: ``~/.config/msmtp/config`` -> a root-only file;
- ``dangling_link``: ``~/.config/msmtp/config`` -> a file that does not exist under /etc/profile.d;
- ``linked_parent``: ``~/.config`` -> a root-owned directory;
- ``parent_is_file``: ``~/.config`` is a regular file;
- ``other_users_dir``: ``~/.config/msmtp`` belongs to another user;
- ``backup_spray``: the user's own (role-written) config, and links at every backup name of the old
  ``<name>.<pid>.<stamp>~`` scheme for the next seconds, with backups on.

Each case runs twice: through the client role (its look at the homes sees most of it first), and
straight through mail_config with no look before (the write itself must refuse).  Both in check+diff mode
first.  Afterwards the root-owned files are identical (content, owner, mode, inode, mtime), nothing exists
where a link pointed, each user got a refusal that names the problem, and the control user is configured.
(The temporary-file swap race is in test_writes_race.py; backups under a reader in test_writes_backups.py.)
"""

from __future__ import annotations

import os
import shutil
import time
import uuid

import pytest

from mailfleet_testing.local_users import LocalUsers, give, owners_below, snapshot

pytestmark = [pytest.mark.timeout(300),
              pytest.mark.skipif(os.geteuid() != 0, reason="creates users and root-owned targets: needs root")]

CASES = ("file_link", "dangling_link", "linked_parent", "parent_is_file", "other_users_dir", "backup_spray")
MARKER_CONFIG = "# Managed by Ansible (mailfleet.outlook.mail_config, format client_msmtp): the user's old one\n"
ROLE_PLAY = [{"hosts": "localhost", "gather_facts": False, "roles": [{"role": "mailfleet.outlook.client"}]}]
DIRECT_TASK = "Write each user's msmtp files straight through mail_config (no look before)"
DIRECT_PLAY = [{"hosts": "localhost", "gather_facts": False, "tasks": [{
    "name": DIRECT_TASK,
    "mailfleet.outlook.mail_config": {
        "format": ["client_msmtp", "client_password"],
        "profile": "{{ item.profile }}",
        "settings": "{{ item.overrides }}",
        "var_prefix": "client_",
        "vars": {"user": "{{ item.user }}", "group": "{{ mfsec_users[item.user].gid | string }}",
                 "home": "{{ mfsec_users[item.user].home }}", "account": "{{ item }}"},
        "secrets": {"password": "{{ client_accounts[item.index].password }}"},
        "backup": True,
        "reload": False,
        "on_refusal": "skip",
    },
    "loop": "{{ (client_accounts | mailfleet.outlook.client_accounts(profile='microsoft365')).accounts }}",
    "loop_control": {"label": "{{ item.user }}"},
}]}]


class Scene:
    """The users, what each planted, and the root-owned things they aim at."""

    def __init__(self, users):
        tag = uuid.uuid4().hex[:10]
        self.pw = dict(zip(CASES + ("control",), users.create(len(CASES) + 1)))
        self.root_dir = "/etc/mfsec-%s" % tag
        self.root_file = self.root_dir + "/target"
        self.root_canary = "ROOT-ONLY-%s" % tag
        self.dangling = "/etc/profile.d/mfsec-%s.sh" % tag
        os.mkdir(self.root_dir, 0o755)
        os.mkdir(self.root_dir + "/dir", 0o755)
        with open(self.root_dir + "/dir/keep", "w", encoding="utf-8") as handle:
            handle.write("root's\n")
        with open(self.root_file, "w", encoding="utf-8") as handle:
            handle.write(self.root_canary + "\n")
        os.chmod(self.root_file, 0o600)
        self.passwords = dict((case, "pw-%s-%s" % (case, uuid.uuid4().hex)) for case in self.pw)
        self.spray = []
        self.plant()
        self.root_before = snapshot(self.root_dir)

    def home(self, case):
        return self.pw[case].pw_dir

    def plant(self):
        for case in CASES:
            pw, home = self.pw[case], self.home(case)
            cfg = home + "/.config"
            if case == "parent_is_file":
                with open(cfg, "w", encoding="utf-8") as handle:
                    handle.write("not a directory\n")
                give(pw, cfg)
                continue
            if case == "linked_parent":
                os.symlink(self.root_dir + "/dir", cfg)
                give(pw, cfg)
                continue
            os.mkdir(cfg, 0o755)
            os.mkdir(cfg + "/msmtp", 0o700)
            give(pw, cfg)
            give(self.pw["control"] if case == "other_users_dir" else pw, cfg + "/msmtp")
            config = cfg + "/msmtp/config"
            if case == "file_link":
                os.symlink(self.root_file, config)
                give(pw, config)
            elif case == "dangling_link":
                os.symlink(self.dangling, config)
                give(pw, config)
            elif case == "backup_spray":
                with open(config, "w", encoding="utf-8") as handle:
                    handle.write(MARKER_CONFIG)
                os.chmod(config, 0o600)
                give(pw, config)
                self.spray_links(pw, config)

    def spray_links(self, pw, config):
        """Links at every name the old backup scheme (<name>.<pid>.<%Y-%m-%d@%H:%M:%S>~) would use soon."""
        with open("/proc/sys/kernel/ns_last_pid", encoding="ascii") as handle:
            last = int(handle.read())
        now = time.time()
        for pid in range(last, last + 150):
            for second in range(0, 240, 12):  # every 12th second of the next 4 minutes
                stamp = time.strftime("%Y-%m-%d@%H:%M:%S", time.localtime(now + second))
                name = "%s.%d.%s~" % (config, pid, stamp)
                os.symlink(self.root_file, name)
                give(pw, name)
                self.spray.append(name)

    def extra_vars(self, **kw):
        accounts = [{"user": self.pw[case].pw_name, "address": "%s@contoso.com" % case.replace("_", "-"),
                     "auth_method": "password", "password": self.passwords[case], "clients": ["msmtp"]}
                    for case in CASES + ("control",)]
        data = {"client_accounts": accounts, "client_backup": True,
                "mfsec_users": dict((pw.pw_name, {"home": pw.pw_dir, "gid": pw.pw_gid}) for pw in self.pw.values())}
        data.update(kw)
        return data

    def refusal(self, case, tilde=True):
        """What the user is told (mail_config's wording with ~; the role's look names the full path)."""
        where = {"file_link": "~/.config/msmtp/config is a symbolic link",
                 "dangling_link": "~/.config/msmtp/config is a symbolic link",
                 "linked_parent": "~/.config is a symbolic link",
                 "parent_is_file": "~/.config is not a directory",
                 "other_users_dir": "~/.config/msmtp belongs to %s, not %s" % (
                     self.pw["control"].pw_name, self.pw[case].pw_name)}[case]
        return where if tilde else where.replace("~", self.home(case))

    def assert_root_untouched(self):
        assert snapshot(self.root_dir) == self.root_before
        assert not os.path.lexists(self.dangling)

    def assert_nothing_of_roots_in_homes(self):
        """Root created nothing in any victim's home: every entry there is the user's (or what the test planted)."""
        for case in CASES:
            for rel, uid in owners_below(self.home(case)):
                if case == "other_users_dir" and rel == ".config/msmtp":
                    assert uid == self.pw["control"].pw_uid
                else:
                    assert uid == self.pw[case].pw_uid, (case, rel, uid)

    def assert_configured(self, case):
        pw, home = self.pw[case], self.home(case)
        for path, mode in ((home + "/.config", None), (home + "/.config/msmtp", None),
                           (home + "/.config/mailfleet", 0o700), (home + "/.config/msmtp/config", 0o600),
                           (home + "/.config/mailfleet/password", 0o600)):
            st = os.lstat(path)
            assert (st.st_uid, st.st_gid) == (pw.pw_uid, pw.pw_gid), path
            assert mode is None or st.st_mode & 0o777 == mode, path
        with open(home + "/.config/mailfleet/password", encoding="utf-8") as handle:
            assert handle.read().strip() == self.passwords[case]

    def assert_spray_held(self):
        """The backup is a new private file with a fresh name; every sprayed link is still the same link."""
        pw, home = self.pw["backup_spray"], self.home("backup_spray")
        msmtp = home + "/.config/msmtp"
        backups = [os.path.join(msmtp, n) for n in os.listdir(msmtp)
                   if n.startswith("config.") and n.endswith("~") and not os.path.islink(os.path.join(msmtp, n))]
        assert len(backups) == 1, backups
        st = os.lstat(backups[0])
        assert (st.st_uid, st.st_mode & 0o777) == (pw.pw_uid, 0o600)
        with open(backups[0], encoding="utf-8") as handle:
            assert handle.read() == MARKER_CONFIG
        assert all(os.readlink(link) == self.root_file for link in self.spray)
        with open(msmtp + "/config", encoding="utf-8") as handle:
            assert "host smtp.office365.com" in handle.read()

    def cleanup(self):
        shutil.rmtree(self.root_dir, ignore_errors=True)  # does not follow links
        if os.path.lexists(self.dangling):  # only if a test failed: never leave it in /etc/profile.d
            os.unlink(self.dangling)


@pytest.fixture
def scene():
    users = LocalUsers(prefix="mfw")
    built = None
    try:
        built = Scene(users)
        yield built
    finally:
        if built is not None:
            built.cleanup()
        users.remove()  # after the scene: its cleanup never follows what the users planted


def test_client_role_leaves_each_planted_way_alone_and_configures_the_others(run_playbook, scene):
    homes_before = dict((case, snapshot(scene.home(case))) for case in CASES)
    check = run_playbook(ROLE_PLAY, extra_vars=scene.extra_vars(), check=True, diff=True)
    check.assert_ok()
    assert scene.root_canary not in check.all_output()
    assert dict((case, snapshot(scene.home(case))) for case in CASES) == homes_before  # check mode wrote nothing

    run = run_playbook(ROLE_PLAY, extra_vars=scene.extra_vars(), diff=True)
    run.assert_ok()
    assert scene.root_canary not in run.all_output()
    for case in CASES[:-1]:
        assert "user %s: skipped" % scene.pw[case].pw_name in run.stdout
        assert scene.refusal(case, tilde=False) in run.stdout, (case, run.stdout[-3000:])
        assert not os.path.exists(scene.home(case) + "/.config/mailfleet/password")
    scene.assert_root_untouched()
    scene.assert_nothing_of_roots_in_homes()
    scene.assert_configured("control")
    scene.assert_spray_held()


def test_mail_config_refuses_at_the_write_when_no_look_ran_before(run_playbook, scene):
    check = run_playbook(DIRECT_PLAY, extra_vars=scene.extra_vars(), check=True, diff=True)
    check.assert_ok()
    assert scene.root_canary not in check.all_output()
    run = run_playbook(DIRECT_PLAY, extra_vars=scene.extra_vars(), diff=True)
    run.assert_ok()
    assert scene.root_canary not in run.all_output()
    for outcome in (check, run):
        items = dict((r["item"]["user"], r) for r in outcome.result(task=DIRECT_TASK)["results"])
        for case in CASES[:-1]:
            result = items[scene.pw[case].pw_name]
            reasons = sorted(set(r["reason"] for r in result["refused"]))
            assert reasons == ["left alone: " + scene.refusal(case)], (case, result["refused"])
            assert not result["changed"] and result["changed_files"] == []
            assert all(r["user"] == scene.pw[case].pw_name for r in result["refused"])
            # the task warns with the same words (the module's warnings)
            assert "user %s: left alone: %s" % (scene.pw[case].pw_name, scene.refusal(case)) in outcome.all_output()
        for case in ("control", "backup_spray"):
            assert items[scene.pw[case].pw_name]["refused"] == []
            assert items[scene.pw[case].pw_name]["changed"]
    scene.assert_root_untouched()
    scene.assert_nothing_of_roots_in_homes()
    scene.assert_configured("control")
    scene.assert_spray_held()
