"""Fixtures for the relay role's integration tests.

These tests run the real role with ansible-playbook against this machine (a disposable CI machine) and
real Postfix / msmtp from Debian packages, relaying to the lab on loopback.  The machine's mail
configuration (/etc/postfix, /etc/msmtprc, /etc/mailfleet) is saved before the first test and put back
after the last one; Postfix is stopped again if it was not running before.
"""

import fcntl
import json
import os
import shutil
import subprocess
import tarfile
import time
import uuid

import pytest

from mailfleet_testing import AnsibleRunner, make_env, running_in_ci
from mailfleet_testing import postfix_queue as pq

SAVED = ["/etc/postfix", "/etc/msmtprc", "/etc/mailfleet", "/usr/local/libexec/mailfleet", "/var/cache/mailfleet",
         "/usr/local/lib/mailfleet", "/var/lib/mailfleet"]
# system users the role (OAuth2 with Postfix) or the tests create; removed at the end if they were not there before
CREATED_USERS = ["mailfleet-relay", "mailfleet-cron"]


def sh(*argv, check=True, timeout=60, input=None):
    p = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, input=input,
                       check=False)
    if check and p.returncode != 0:
        raise AssertionError("%s failed (%s): %s %s" % (" ".join(argv), p.returncode, p.stdout, p.stderr))
    return p


def postfix_running():
    return shutil.which("postfix") is not None and sh("postfix", "status", check=False).returncode == 0


LOCK_PATH = "/run/lock/mailfleet-relay-integration.lock"
LOCK_WAIT = 240


@pytest.fixture(scope="session", autouse=True)
def _keep_host_mail_config(tmp_path_factory):
    """Save the machine's mail configuration; restore it (and Postfix's state) at the end.

    The machine has one Postfix: two test sessions reconfiguring it at once would break each other, so
    a session holds a machine-wide lock while it runs (another session waits up to LOCK_WAIT seconds).
    """
    # In CI (CI=true) nothing may hide these tests: not running as root or a held lock is a failure there.
    give_up = pytest.fail if running_in_ci() else pytest.skip
    if os.geteuid() != 0:
        give_up("the relay integration tests configure this machine's MTA: run them as root")
    os.makedirs(os.path.dirname(LOCK_PATH), exist_ok=True)
    lock = open(LOCK_PATH, "a")  # noqa: SIM115 - held for the whole session
    deadline = time.monotonic() + LOCK_WAIT
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except OSError:
            if time.monotonic() > deadline:
                # a resource conflict, not a result: the other session runs these same tests
                give_up("another test session holds this machine's Postfix (%s) for more than %ds"
                        % (LOCK_PATH, LOCK_WAIT))
            time.sleep(1)
    archive = tmp_path_factory.mktemp("relay-saved") / "saved.tar"
    was_running = postfix_running()
    users_before = [u for u in CREATED_USERS if sh("id", "-u", u, check=False).returncode == 0]
    with tarfile.open(archive, "w") as tar:
        for path in SAVED:
            if os.path.lexists(path):
                tar.add(path)
    yield
    if postfix_running():
        sh("postfix", "stop", check=False)
    for path in SAVED:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        elif os.path.lexists(path):
            os.unlink(path)
    with tarfile.open(archive) as tar:
        tar.extractall("/")
    sh("postsuper", "-d", "ALL", check=False)
    for user in CREATED_USERS:
        if user not in users_before and sh("id", "-u", user, check=False).returncode == 0:
            sh("userdel", user, check=False)
            sh("groupdel", user, check=False)
    if was_running:
        if os.access("/etc/init.d/postfix", os.X_OK):
            sh("/etc/init.d/postfix", "start", check=False)  # also syncs the chroot files (Debian)
        else:
            sh("postfix", "start", check=False)
    lock.close()


@pytest.fixture(scope="module", autouse=True)
def _empty_queue_around_each_module():
    """Start and leave every module with an empty Postfix queue: mail a failed test left queued must not reach the
    lab during the next module (its rate limit, its message counts)."""
    pq.clear_queue()
    yield
    pq.clear_queue()


def relay_vars(lab, **extra):
    """Role variables pointing the relay at a lab (lab profile, the lab's ports and CA)."""
    v = {
        "relay_profile": "lab",
        "relay_smtp_port": lab.ports["submission"],
        "relay_mx_port": lab.ports["connector"],
        "relay_ca_file": lab.ca_file,
        "relay_token_url": lab.token_url,
        "relay_host_lookup": "native",
        "relay_extra_settings": {"maillog_file": "/var/log/postfix-mailfleet-test.log"},
        "relay_install_packages": False,
    }
    v.update(extra)
    return v


def relay_play(**kw):
    return [{"hosts": "localhost", "gather_facts": False,
             "roles": [{"role": "mailfleet.outlook.relay"}], **kw}]


@pytest.fixture
def run_relay(run_playbook):
    """run_relay(vars, check=False, diff=False, verbosity=0) -> AnsibleRun of the relay role on this host."""

    def run(variables, **kw):
        kw.setdefault("timeout", 180)
        return run_playbook(relay_play(), extra_vars=variables, **kw)

    return run


def unique(prefix="relay"):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:10])


def sendmail(subject, sender="cron@localhost", to="bob@contoso.test", binary="/usr/sbin/sendmail", args=None,
             extra_headers=""):
    msg = "From: %s\nTo: %s\nSubject: %s\n%s\nmailfleet relay integration test\n" % (sender, to, subject, extra_headers)
    argv = [binary] + (args if args is not None else ["-t", "-i"])
    return sh(*argv, input=msg, timeout=60)


def flush_queue():
    sh("postqueue", "-f", check=False)


def queue_ids():
    p = sh("postqueue", "-j", check=False)
    return [json.loads(line)["queue_id"] for line in p.stdout.splitlines() if line.strip()]


def wait_queue_empty(timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not queue_ids():
            return True
        time.sleep(0.5)
    return False


def snapshot(paths=("/etc/postfix", "/etc/msmtprc", "/etc/mailfleet")):
    """{path: (mode, uid, gid, content)} of every file under paths, to prove nothing changed."""
    out = {}
    for root in paths:
        if os.path.isfile(root):
            files = [root]
        else:
            files = [os.path.join(d, n) for d, _x, names in os.walk(root) for n in names]
        for f in files:
            st = os.lstat(f)
            with open(f, "rb") as h:
                out[f] = (st.st_mode, st.st_uid, st.st_gid, h.read())
    return out


class RelayHelpers:
    """The helpers above, for test modules (pytest's importlib mode cannot import conftest)."""

    relay_vars = staticmethod(relay_vars)
    relay_play = staticmethod(relay_play)
    unique = staticmethod(unique)
    sendmail = staticmethod(sendmail)
    flush_queue = staticmethod(flush_queue)
    queue_ids = staticmethod(queue_ids)
    wait_queue_empty = staticmethod(wait_queue_empty)
    snapshot = staticmethod(snapshot)
    sh = staticmethod(sh)
    postfix_running = staticmethod(postfix_running)


@pytest.fixture
def rh():
    return RelayHelpers


@pytest.fixture(scope="module")
def rh_module():
    return RelayHelpers


@pytest.fixture(scope="module")
def run_playbook_module(tmp_path_factory):
    """run_playbook for module-scoped fixtures (one relay configuration shared by a module's tests)."""
    base = tmp_path_factory.mktemp("ansible-module")
    (base / "ansible-local-tmp").mkdir()
    return AnsibleRunner(make_env(base / "ansible-local-tmp"), base / "ansible").playbook
