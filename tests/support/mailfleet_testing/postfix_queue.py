"""Helpers for the relay's queue scenarios: send batches through the live Postfix, watch its queue and log,
count what reached the lab, and print (and keep) each scenario's figures.

Used by tests/integration/relay/test_97_oauth2_*.py and test_98_*.py (root, the relay conftest's lock held).
"""

import collections
import json
import os
import shutil
import subprocess
import tempfile
import time

MAILLOG = "/var/log/postfix-mailfleet-test.log"
FIGURES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                       "output", "relay-oauth2-figures.txt")

# Postfix retries deferred mail within seconds instead of minutes (tests only).
FAST_RETRY = {
    "queue_run_delay": "2s", "minimal_backoff_time": "2s", "maximal_backoff_time": "4s",
    "maillog_file": MAILLOG,
}


def sh(*argv, timeout=60, input=None, check=True):
    proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, input=input, check=False)
    if check and proc.returncode != 0:
        raise AssertionError("%s failed (%s): %s %s" % (" ".join(argv), proc.returncode, proc.stdout, proc.stderr))
    return proc


def queue():
    """Postfix's queue (``postqueue -j``): one dict per message (queue_id, queue_name, recipients...)."""
    out = sh("postqueue", "-j", check=False).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def deferred_reasons():
    return [r.get("delay_reason", "") for m in queue() for r in m.get("recipients", [])]


def wait_deferred(count, timeout, matching=""):
    """Wait until the queue holds ``count`` messages and each recipient of them has been seen in the deferred queue
    with a reason that contains ``matching``; return those reasons.

    A reason is kept once seen, because the queue moves under the test: with FAST_RETRY a deferred message is back
    in the active queue (where ``postqueue -j`` shows no reason) within seconds, so a reason read a moment later
    may be gone, and all messages need not be deferred at the same instant. Raises AssertionError with the last
    snapshot when the state never came."""
    seen, last = {}, []

    def ready():
        messages = queue()
        last[:] = [messages]
        for m in messages:
            for r in m.get("recipients", []):
                if m.get("queue_name") == "deferred" and matching in r.get("delay_reason", ""):
                    seen.setdefault((m.get("queue_id"), r.get("address")), r["delay_reason"])
        wanted = [(m.get("queue_id"), r.get("address")) for m in messages for r in m.get("recipients", [])]
        return len(messages) == count and wanted and all(key in seen for key in wanted)

    if not wait(ready, timeout):
        raise AssertionError("not %d messages deferred with %r within %ss; the queue: %r"
                             % (count, matching, timeout, last[0] if last else None))
    return list(seen.values())


def wait_reason(matching, timeout):
    """Wait until a deferred recipient's reason contains ``matching``; returns that reason (read in the same snapshot)."""
    def found():
        return next((r for r in deferred_reasons() if matching in r), None)

    reason = wait(found, timeout)
    if reason is None:
        raise AssertionError("no deferral reason with %r within %ss; the queue: %r" % (matching, timeout, queue()))
    return reason


def flush():
    sh("postqueue", "-f", check=False)


def clear_queue():
    """Delete every message of Postfix's queue (nothing to do where Postfix is not installed)."""
    if shutil.which("postsuper"):
        sh("postsuper", "-d", "ALL", check=False)


def log_offset():
    try:
        return os.path.getsize(MAILLOG)
    except OSError:
        return 0


def log_since(offset):
    try:
        with open(MAILLOG, "r", encoding="utf-8", errors="replace") as handle:
            handle.seek(offset)
            return handle.read()
    except OSError:
        return ""


def status_lines(offset, status):
    return [line for line in log_since(offset).splitlines() if "status=%s" % status in line]


def send(subject, sender="cron@localhost", to="bob@contoso.test", body="mailfleet relay oauth2 test\n", user=None,
         extra_headers="", args=("-t", "-i")):
    """Give one message to /usr/sbin/sendmail (as ``user`` when given, like a non-root cron job)."""
    msg = "From: %s\nTo: %s\nSubject: %s\n%s\n%s" % (sender, to, subject, extra_headers, body)
    argv = ["/usr/sbin/sendmail"] + list(args)
    if user:
        argv = ["runuser", "-u", user, "--"] + argv
    return sh(*argv, input=msg, timeout=120)


def wait(predicate, timeout, step=0.5):
    """Poll ``predicate()`` until it is truthy or ``timeout`` seconds passed; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(step)


def arrived(lab, prefix):
    return [m for m in lab.messages() if (m.get("subject") or "").startswith(prefix)]


def wait_delivered(lab, prefix, count, timeout):
    """Wait until ``count`` messages whose subject starts with ``prefix`` arrived and the queue is empty."""
    wait(lambda: len(arrived(lab, prefix)) >= count and not queue(), timeout, step=1)
    return arrived(lab, prefix)


def exactly_once(messages, subjects):
    counts = collections.Counter(m["subject"] for m in messages)
    return sorted(counts) == sorted(subjects) and set(counts.values()) == {1}, counts


def short(reason, width=150):
    """A deferral reason from its SMTP code on (``421 4.7.0 mailfleet-xoauth2: ...``), shortened."""
    for code in ("421 ", "451 ", "454 ", "4.7.0 "):
        if code in reason:
            reason = reason[reason.index(code):]
            break
    return reason[:width]


def record(name, **figures):
    """Print one scenario's figures and append them to tests/output/relay-oauth2-figures.txt."""
    parts = ["%s=%s" % (k, ("%.1f" % v) if isinstance(v, float) else v) for k, v in figures.items()]
    line = "%s: %s" % (name, ", ".join(parts))
    print("FIGURES " + line)
    os.makedirs(os.path.dirname(FIGURES), exist_ok=True)
    with open(FIGURES, "a", encoding="utf-8") as handle:
        handle.write(time.strftime("%Y-%m-%d %H:%M:%S ") + line + "\n")
    return line


def readable_lab(config=None):
    """A lab (any free ports) whose CA file the relay's system user can read (pytest's tmp dirs are 0700)."""
    from mailfleet_lab.pytest_plugin import LabHandle  # pylint: disable=import-outside-toplevel
    state_dir = tempfile.mkdtemp(prefix="mailfleet-oauth2-lab-", dir="/var/tmp")
    os.chmod(state_dir, 0o755)
    lab = LabHandle(config or {}, state_dir=state_dir, any_ports=True).start()
    os.chmod(lab.ca_file, 0o644)
    return lab


def remove_lab(lab):
    lab.stop()
    shutil.rmtree(lab.state_dir, ignore_errors=True)


# token endpoint failures the relay must turn into deferrals: "refused" takes the listener down, the others are
# the lab's token.fault values ("slow" answers after 8 s, beyond the relay's relay_token_timeout of 4 s)
TOKEN_FAULTS = ("refused", "unavailable", "slow", "AADSTS50196", "AADSTS90033", "throttled")


def token_endpoint_scenario(lab, tag, fault, credential, token_cache, count=10):
    """Token endpoint down while ``count`` messages are sent: all deferred with the reason, none bounced, all
    delivered once it recovers. Returns the figures line."""
    if os.path.exists(token_cache):
        os.unlink(token_cache)          # no valid token left: every delivery needs the token endpoint
    if fault == "refused":
        lab.listener_down("token")
    else:
        lab.token_fault(fault, fault_delay=8)
    subjects = ["%s-%02d" % (tag, i) for i in range(count)]
    offset = log_offset()
    started = time.monotonic()
    try:
        for subject in subjects:
            send(subject)
        # every message deferred for the token (a reason left from an earlier outage does not count)
        reasons = wait_deferred(count, 60, matching="no OAuth2 token")
        assert not arrived(lab, tag)
        down = lab.stats()
    finally:
        lab.token_fault(None)
        lab.listener_up("token")
    flush()
    got = wait_delivered(lab, tag, count, 120)
    once, counts = exactly_once(got, subjects)
    assert once, counts
    bounced = status_lines(offset, "bounced")
    assert not bounced, bounced
    return record("token endpoint %s (%s)" % (fault, credential), sent=count, delivered=len(got),
                  bounced=len(bounced), token_requests_while_down=down["requests"],
                  reason=short(reasons[0]), seconds=time.monotonic() - started)


def task_result(run, suffix):
    """The one result of the task whose name ends with ``suffix`` (role tasks are named "role : task")."""
    found = [t["result"] for t in run.tasks if t["task"].endswith(suffix) and t["status"] != "skipped"]
    assert len(found) == 1, (suffix, [t["task"] for t in run.tasks])
    return found[0]
