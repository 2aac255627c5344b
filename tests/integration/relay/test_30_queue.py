"""No mail lost: upstream down (queue, then deliver exactly once) and upstream throttling (retry, never bounce)."""

import collections
import time

import pytest

pytestmark = [pytest.mark.timeout(420), pytest.mark.slow]

FAST_RETRY = {  # keep the tests short: Postfix retries deferred mail within seconds instead of minutes
    "queue_run_delay": "2s", "minimal_backoff_time": "2s", "maximal_backoff_time": "4s",
    "maillog_file": "/var/log/postfix-mailfleet-test.log",
}


def base_vars(rh, lab, **extra):
    return rh.relay_vars(lab, relay_auth_method="password", relay_username="alice@contoso.test",
                         relay_password="alice-lab-password", relay_extra_settings=dict(FAST_RETRY), **extra)


def test_lab_down_twenty_queued_then_all_arrive_exactly_once(lab_factory, run_relay, rh):
    lab = lab_factory()
    run_relay(base_vars(rh, lab)).assert_ok()
    rh.sh("postsuper", "-d", "ALL", check=False)
    lab.stop()
    tag = rh.unique("queue")
    subjects = ["%s-%02d" % (tag, i) for i in range(20)]
    for s in subjects:
        rh.sendmail(s)
    # all 20 wait in the queue (deferred, not bounced)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(rh.queue_ids()) < 20:
        time.sleep(0.5)
    assert len(rh.queue_ids()) == 20
    time.sleep(3)
    assert len(rh.queue_ids()) == 20, "mail left the queue while the upstream was down"
    lab.start()
    rh.flush_queue()
    started = time.monotonic()
    got = []
    while time.monotonic() - started < 150:
        got = [m for m in lab.messages() if m["subject"].startswith(tag)]
        if len(got) >= 20 and not rh.queue_ids():
            break
        time.sleep(1)
    counts = collections.Counter(m["subject"] for m in got)
    assert sorted(counts) == subjects and set(counts.values()) == {1}, counts
    assert not rh.queue_ids()
    print("queue test: 20 queued while down, all delivered exactly once %.1fs after the lab returned"
          % (time.monotonic() - started))


def test_throttled_upstream_thirty_messages_all_arrive_none_bounced(lab_factory, run_relay, rh):
    lab = lab_factory({"rate_limit": {"messages": 5, "window_seconds": 10}})
    # no pacing on our side, so the lab's limit is what the relay runs into (451 4.7.500, retried)
    run_relay(base_vars(rh, lab, relay_rate_delay="0s")).assert_ok()
    rh.sh("postsuper", "-d", "ALL", check=False)
    lab.clear_messages()
    tag = rh.unique("rate")
    subjects = ["%s-%02d" % (tag, i) for i in range(30)]
    started = time.monotonic()
    for s in subjects:
        rh.sendmail(s)
    got = []
    while time.monotonic() - started < 300:
        got = [m for m in lab.messages() if m["subject"].startswith(tag)]
        if len(got) >= 30 and not rh.queue_ids():
            break
        time.sleep(1)
    counts = collections.Counter(m["subject"] for m in got)
    assert sorted(counts) == subjects and set(counts.values()) == {1}, counts
    assert "451 4.7.500" in lab.log_text() or "throttl" in lab.log_text().lower(), "the lab never throttled"
    bounces = [m for m in lab.messages() if m["mail_from"] in ("", None) or "Undelivered" in (m["subject"] or "")]
    assert bounces == []
    log = open("/var/log/postfix-mailfleet-test.log").read()
    assert "status=bounced" not in log.split(tag)[0][-1:] and not [l for l in log.splitlines() if "status=bounced" in l and tag in l]
    print("rate test: 30 messages through a 5/10s limit in %.1fs, none bounced" % (time.monotonic() - started))
