"""OAuth2 through Postfix's queue with a certificate credential (client assertion, RS256 signed by openssl on the
host), and the long scenario: 60 s tokens, 100 messages paced by Postfix (30/minute), over 3+ token lifetimes.

Runs after test_97 (which leaves the host on OAuth2 with a secret): the module's first role run switches the
credential. Every scenario prints its figures (FIGURES lines, also in tests/output/relay-oauth2-figures.txt).
"""

import math
import os
import time

import pytest
import testinfra

from mailfleet_lab.config import APP_CLIENT_ID
from mailfleet_testing import postfix_queue as pq

pytestmark = [pytest.mark.slow, pytest.mark.timeout(150)]

MAILBOX = "alice@contoso.test"
LOCAL_USER = "mailfleet-cron"
KEY = "/etc/mailfleet/relay/client.key"
CERT = "/etc/mailfleet/relay/client.crt"
CONFIG = "/etc/mailfleet/relay/xoauth2.json"
TOKEN_CACHE = "/var/lib/mailfleet/relay/token.json"
BOUND = 10
LIFETIME = 60


def cert_vars(rh, lab, **extra):
    cert = lab.app_certs[APP_CLIENT_ID]
    variables = rh.relay_vars(
        lab, relay_auth_method="oauth2", relay_username=MAILBOX, relay_client_id=APP_CLIENT_ID,
        relay_client_certificate=open(cert["cert"]).read(), relay_client_key=open(cert["key"]).read(),
        relay_tenant="contoso.test", relay_extra_settings=dict(pq.FAST_RETRY),
        relay_auth_failure_defer="%ds" % BOUND, relay_token_timeout=4,
        relay_token_failure_memory=2)   # the endpoint is asked again 2 s after a failure (10 s by default)
    variables.update(extra)
    return variables


@pytest.fixture(scope="module")
def setup(request, run_playbook_module, rh_module):
    lab = pq.readable_lab({"apps": {APP_CLIENT_ID: {"secret": None}}})   # certificate only, like Microsoft recommends
    request.addfinalizer(lambda: pq.remove_lab(lab))
    pq.clear_queue()
    # no pacing for the fault scenarios (quick redelivery); the long scenario runs with the role's default pacing
    run = run_playbook_module(rh_module.relay_play(), extra_vars=cert_vars(rh_module, lab, relay_rate_delay="0s"),
                              timeout=240).assert_ok()
    # one line of the key's base64 (a canary that must appear nowhere but in the key file)
    return {"lab": lab, "run": run, "key_line": open(lab.app_certs[APP_CLIENT_ID]["key"]).read().splitlines()[1]}


@pytest.fixture(scope="module")
def paced(setup, run_playbook_module, rh_module):
    """The role again with its default pacing (lmtp_destination_rate_delay 2s: Microsoft's 30/minute)."""
    return run_playbook_module(rh_module.relay_play(), extra_vars=cert_vars(rh_module, setup["lab"]),
                               timeout=240).assert_ok()


@pytest.fixture
def lab(setup):
    lab = setup["lab"]
    lab.patch_config({"token": {"fault": None, "lifetime": 3600}, "refuse_subjects": None})
    lab.listener_up("token")
    lab.admin("POST", "/rate_limit/reset")
    pq.clear_queue()
    lab.reset_stats()
    return lab


@pytest.mark.timeout(300)
def test_certificate_credential_host_state_and_verification(setup):
    run = setup["run"]
    probe = pq.task_result(run, "Check the upstream from this host with smtp_check")
    (endpoint,) = probe["endpoints"]
    assert probe["ok"] is True and endpoint["stage"] == "auth" and endpoint["auth_mechanism"] == "XOAUTH2", endpoint
    host = testinfra.get_host("local://")
    key, cert = host.file(KEY), host.file(CERT)
    assert key.mode == 0o600 and key.user == "mailfleet-relay" and key.group == "mailfleet-relay"
    assert cert.user == "mailfleet-relay" and cert.contains("BEGIN CERTIFICATE")
    config = host.file(CONFIG)
    assert config.mode == 0o600 and not config.contains("client_secret\": \"")
    assert "PRIVATE KEY" not in run.all_output() and setup["key_line"] not in run.all_output()
    assert setup["key_line"] not in open(pq.MAILLOG).read()


@pytest.mark.timeout(120)
def test_a_local_user_cannot_read_the_key_and_its_mail_leaves(lab, rh):
    if rh.sh("id", "-u", LOCAL_USER, check=False).returncode != 0:
        rh.sh("useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/bin/sh", LOCAL_USER)
    for path in (KEY, CONFIG, TOKEN_CACHE):
        assert rh.sh("runuser", "-u", LOCAL_USER, "--", "cat", path, check=False).returncode != 0, path
    tag = rh.unique("certuser")
    started = time.monotonic()
    pq.send(tag, sender="%s@localhost" % LOCAL_USER, user=LOCAL_USER)
    (msg,) = pq.wait_delivered(lab, tag, 1, 60)
    assert msg["user"] == MAILBOX and msg["auth_mechanism"] == "XOAUTH2" and msg["header_from"] == [MAILBOX]
    pq.record("local user sendmail (certificate)", sent=1, delivered=1, bounced=0, seconds=time.monotonic() - started)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("fault", ["refused", "unavailable", "AADSTS90033"])
def test_token_endpoint_down_with_a_certificate(lab, rh, fault):
    pq.token_endpoint_scenario(lab, rh.unique("certtok-" + fault), fault, "certificate", TOKEN_CACHE)


@pytest.mark.timeout(200)
def test_unknown_certificate_defers_for_the_bound_then_bounces(lab, rh):
    lab.patch_config({"apps": {APP_CLIENT_ID: {"certificate": None}}})   # the credential was removed from the app
    lab.admin("POST", "/tokens/revoke")
    try:
        tag = rh.unique("certgone")
        offset = pq.log_offset()
        first = time.monotonic()
        pq.send(tag)
        assert "AADSTS700027" in pq.wait_reason("credentials refused", 60)
        bounced = pq.wait(lambda: [line for line in pq.status_lines(offset, "bounced") if "to=<bob@" in line],
                          BOUND + 40, step=1)
        waited = time.monotonic() - first
        # its bounce report cannot leave either (same credentials): Postfix never bounces a bounce, no loop
        time.sleep(3)
        all_bounced = pq.status_lines(offset, "bounced")
    finally:
        lab.patch_config({"apps": {APP_CLIENT_ID: {"certificate": "lab"}}})
    assert len(bounced) == 1 and "AADSTS700027" in bounced[0], bounced
    assert len(all_bounced) <= 2, all_bounced
    assert waited >= BOUND - 3
    pq.record("certificate refused (certificate)", sent=1, delivered=0, bounced=1, bounced_after_seconds=waited,
              bound_seconds=BOUND)


@pytest.mark.timeout(400)
def test_hundred_messages_over_three_token_lifetimes_paced_by_postfix(paced, lab, rh):
    """60 s tokens; Postfix paces the 100 messages (lmtp_destination_rate_delay 2s, the role's default for
    Microsoft's 30/minute), so they take 3+ lifetimes: the cached token is renewed before it expires, a few
    times, never per message; the lab's own 30/minute limit never has to throttle."""
    assert testinfra.get_host("local://").check_output("postconf -h lmtp_destination_rate_delay") == "2s"
    lab.patch_config({"token": {"lifetime": LIFETIME}})
    if os.path.exists(TOKEN_CACHE):
        os.unlink(TOKEN_CACHE)
    tag = rh.unique("life")
    subjects = ["%s-%03d" % (tag, i) for i in range(100)]
    offset = pq.log_offset()
    started = time.monotonic()
    for subject in subjects:
        pq.send(subject)
    got = pq.wait_delivered(lab, tag, 100, 330)
    elapsed = time.monotonic() - started
    once, counts = pq.exactly_once(got, subjects)
    assert once, (len(got), [s for s in subjects if counts.get(s) != 1][:5])
    issued = lab.stats()["issued"].get("client_credentials", 0)
    lifetimes = math.ceil(elapsed / LIFETIME)
    throttled = [line for line in pq.status_lines(offset, "deferred") if "4.7.500" in line]
    bounced = pq.status_lines(offset, "bounced")
    arrival = [m["subject"] for m in sorted(got, key=lambda m: m["time"])]
    figures = pq.record("60 s tokens, 100 messages (certificate)", sent=100, delivered=len(got), bounced=len(bounced),
                        token_requests=issued, lifetimes=lifetimes, throttled=len(throttled),
                        in_order=arrival == subjects, seconds=elapsed,
                        per_minute=len(got) / (elapsed / 60.0))
    assert not bounced, bounced
    assert elapsed >= 3 * LIFETIME, figures
    assert 2 <= issued <= lifetimes + 2, figures
    assert len(got) / (elapsed / 60.0) <= 30.5, figures
