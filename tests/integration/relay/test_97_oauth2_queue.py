"""OAuth2 through Postfix's queue (mailfleet-xoauth2 behind the LMTP client), client secret credential.

One lab and one relay configuration for the module; the module starts with the migration the deadline forces
(password -> oauth2 with mail in the queue). Every scenario prints its figures (FIGURES lines, also appended to
tests/output/relay-oauth2-figures.txt): messages sent / delivered / bounced, token requests, time.
"""

import os
import time
import uuid

import pytest
import testinfra

from mailfleet_lab.config import APP_CLIENT_ID
from mailfleet_testing import postfix_queue as pq
from mailfleet_testing.capabilities import require

# every test's own bound; the first one also carries the module's setup (three role runs and the migration)
pytestmark = [pytest.mark.slow, pytest.mark.timeout(150)]

MAILBOX = "relay@contoso.test"       # the app may send as it; it has SendAs on noreply@
SENDER = "noreply@contoso.test"
SECRET = "Canary-Relay-Secret-%s" % uuid.uuid4().hex[:12]
LOCAL_USER = "mailfleet-cron"
STATE = "/var/lib/mailfleet/relay"
CONFIG = "/etc/mailfleet/relay/xoauth2.json"
TOKEN_CACHE = STATE + "/token.json"
BOUND = 12


def oauth2_vars(rh, lab, **extra):
    variables = rh.relay_vars(
        lab, relay_auth_method="oauth2", relay_username=MAILBOX, relay_sender=SENDER, relay_client_id=APP_CLIENT_ID,
        relay_client_secret=SECRET, relay_tenant="contoso.test", relay_rate_delay="0s",
        relay_extra_settings=dict(pq.FAST_RETRY), relay_original_sender="display_name",
        relay_auth_failure_defer="%ds" % BOUND, relay_token_timeout=4,
        relay_token_failure_memory=2)   # the endpoint is asked again 2 s after a failure (10 s by default)
    variables.update(extra)
    return variables


@pytest.fixture(scope="module")
def setup(request, run_playbook_module, rh_module):
    """password relay with 5 messages queued (submission down) -> switch to oauth2 -> the 5 leave with XOAUTH2."""
    rh = rh_module
    lab = pq.readable_lab({"apps": {APP_CLIENT_ID: {"secret": SECRET}}})
    request.addfinalizer(lambda: pq.remove_lab(lab))
    password = oauth2_vars(rh, lab, relay_auth_method="password", relay_password="relay-lab-password")
    del password["relay_client_secret"]
    run_playbook_module(rh.relay_play(), extra_vars=password, timeout=240).assert_ok()
    header_checks = open("/etc/postfix/smtp_header_checks").read()
    canonical = open("/etc/postfix/sender_canonical").read()
    pq.clear_queue()
    lab.listener_down("submission")
    tag = rh.unique("migrate")
    subjects = ["%s-%d" % (tag, i) for i in range(5)]
    started = time.monotonic()
    for subject in subjects:
        pq.send(subject)
    pq.wait_deferred(5, 30)
    switch = run_playbook_module(rh.relay_play(), extra_vars=oauth2_vars(rh, lab, relay_verify=False), timeout=240)
    switch.assert_ok()
    lab.listener_up("submission")
    lab.reset_stats()
    pq.flush()
    got = pq.wait_delivered(lab, tag, 5, 90)
    once, counts = pq.exactly_once(got, subjects)
    figures = pq.record("migration password->oauth2 (secret)", queued=5, delivered=len(got),
                        xoauth2=sum(m["auth_mechanism"] == "XOAUTH2" for m in got), bounced=0,
                        token_requests=lab.stats()["issued"].get("client_credentials", 0),
                        seconds=time.monotonic() - started)
    again = run_playbook_module(rh.relay_play(), extra_vars=oauth2_vars(rh, lab), timeout=240).assert_ok()
    return {"lab": lab, "migrated": got, "once": once, "counts": counts, "switch": switch, "again": again,
            "password_header_checks": header_checks, "password_canonical": canonical, "figures": figures}


@pytest.fixture
def lab(setup):
    lab = setup["lab"]
    assert lab.running(), "the module's lab is down (a restart failed?): %s" % lab.stderr_tail()
    lab.patch_config({"token": {"fault": None}, "refuse_subjects": None, "apps": {APP_CLIENT_ID: {"secret": SECRET}},
                      "rate_limit": {"messages": 30, "window_seconds": 60}})
    lab.listener_up("token")
    lab.listener_up("submission")
    lab.admin("POST", "/rate_limit/reset")
    pq.clear_queue()
    lab.reset_stats()
    return lab


@pytest.mark.timeout(360)
def test_migration_delivers_the_queued_mail_with_xoauth2_and_removes_the_password(setup):
    assert setup["once"], setup["counts"]
    assert all(m["auth_mechanism"] == "XOAUTH2" and m["user"] == MAILBOX for m in setup["migrated"])
    for gone in ("/etc/postfix/sasl_passwd", "/etc/postfix/sasl_passwd.db", "/etc/mailfleet/relay/password"):
        assert not os.path.exists(gone), gone
    # sender rewriting is the password mode's, file for file
    assert open("/etc/postfix/smtp_header_checks").read() == setup["password_header_checks"]
    assert open("/etc/postfix/sender_canonical").read() == setup["password_canonical"]
    assert setup["again"].stats["localhost"]["changed"] == 0, setup["again"].describe()
    assert SECRET not in setup["switch"].all_output() + setup["again"].all_output()


def test_auto_picks_postfix_host_state(setup):
    chosen = pq.task_result(setup["again"], "Choose the MTA and the formats")
    assert chosen["ansible_facts"]["__relay_mta"] == "postfix"
    host = testinfra.get_host("local://")

    def postconf(*args):
        return host.check_output("postconf %s" % " ".join(args))

    assert postconf("-h", "default_transport") == "lmtp:unix:private/mailfleet-xoauth2"
    assert postconf("-h", "relayhost") == ""
    assert postconf("-h", "smtp_sasl_auth_enable") == "no"
    assert postconf("-h", "lmtp_header_checks") == "regexp:/etc/postfix/smtp_header_checks"
    assert postconf("-h", "message_size_limit") == str(35 * 1024 * 1024)
    service = postconf("-M", "mailfleet-xoauth2/unix").split()
    assert service[:8] == ["mailfleet-xoauth2", "unix", "-", "n", "n", "-", "-", "spawn"], service
    assert "user=mailfleet-relay" in service and CONFIG in service
    assert host.file("/var/spool/postfix/private/mailfleet-xoauth2").is_socket
    user = host.user("mailfleet-relay")
    assert user.exists and user.uid < 1000 and user.shell == "/usr/sbin/nologin"
    assert set(user.groups) == {"mailfleet-relay"}
    for path, mode, owner in ((CONFIG, 0o600, "mailfleet-relay"), (STATE, 0o700, "mailfleet-relay"),
                              (TOKEN_CACHE, 0o600, "mailfleet-relay"),
                              ("/usr/local/lib/mailfleet/mailfleet_xoauth2_relay.py", 0o644, "root"),
                              ("/usr/local/lib/mailfleet/mailfleet_oauth2.py", 0o644, "root"),
                              ("/etc/postfix/main.cf", 0o644, "root")):
        f = host.file(path)
        assert f.exists and f.mode == mode and f.user == owner, (path, oct(f.mode), f.user)
    assert not host.file("/etc/postfix/sasl_passwd").exists
    assert not host.file("/etc/mailfleet/relay/oauth2.json").exists
    for path in ("/etc/postfix/main.cf", "/etc/postfix/master.cf", pq.MAILLOG):
        assert SECRET not in open(path).read(), path


def test_a_local_users_sendmail_and_mail_leave_as_the_relay_mailbox(lab, rh):
    require("mailx-sendmail")
    if rh.sh("id", "-u", LOCAL_USER, check=False).returncode != 0:
        rh.sh("useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/bin/sh", LOCAL_USER)
    tag = rh.unique("localuser")
    started = time.monotonic()
    pq.send(tag + "-sendmail", sender="%s@localhost" % LOCAL_USER, user=LOCAL_USER)
    rh.sh("runuser", "-u", LOCAL_USER, "--", "/usr/bin/mail", "-s", tag + "-mail", "bob@contoso.test",
          input="sent with mail(1) by a non-root user\n")
    got = pq.wait_delivered(lab, tag, 2, 60)
    assert sorted(m["subject"] for m in got) == [tag + "-mail", tag + "-sendmail"]
    uid = rh.sh("id", "-u", LOCAL_USER).stdout.strip()
    for m in got:
        assert m["user"] == MAILBOX and m["auth_mechanism"] == "XOAUTH2" and m["mail_from"] == SENDER
        assert m["header_from"] == [SENDER]
        head = m["data"].split("\r\n\r\n", 1)[0]
        assert "from userid %s" % uid in head                   # Postfix's pickup: the local user who sent it
    # relay_original_sender=display_name keeps the address the user gave in From: (mail(1) gives none, so
    # Postfix adds one from the rewritten envelope sender, as in password mode)
    sent_by_sendmail = [m for m in got if m["subject"].endswith("-sendmail")][0]
    assert '"%s@localhost" <%s>' % (LOCAL_USER, SENDER) in sent_by_sendmail["data"]
    # that user can read none of the credentials
    for path in (CONFIG, TOKEN_CACHE, STATE + "/credentials-refused.json"):
        denied = rh.sh("runuser", "-u", LOCAL_USER, "--", "cat", path, check=False)
        assert denied.returncode != 0 and SECRET not in denied.stdout, path
    assert rh.sh("runuser", "-u", LOCAL_USER, "--", "ls", STATE, check=False).returncode != 0
    pq.record("local user sendmail+mail (secret)", sent=2, delivered=len(got), bounced=0,
              token_requests=lab.stats()["issued"].get("client_credentials", 0), seconds=time.monotonic() - started)


def test_twenty_queued_while_the_lab_is_down_arrive_exactly_once(lab, rh):
    tag = rh.unique("down20")
    subjects = ["%s-%02d" % (tag, i) for i in range(20)]
    lab.stop()
    try:
        offset = pq.log_offset()
        for subject in subjects:
            pq.send(subject)
        reasons = pq.wait_deferred(20, 40, matching="mailfleet-xoauth2")
        time.sleep(3)
        assert len(pq.queue()) == 20, "mail left the queue while the lab was down"
        assert not pq.status_lines(offset, "bounced")
    finally:
        lab.start()
    lab.reset_stats()
    started = time.monotonic()
    pq.flush()
    got = pq.wait_delivered(lab, tag, 20, 120)
    once, counts = pq.exactly_once(got, subjects)
    assert once, counts
    assert not pq.status_lines(offset, "bounced")
    pq.record("lab down, 20 queued (secret)", sent=20, deferred_reason=pq.short(reasons[0]), delivered=len(got),
              bounced=0, token_requests=lab.stats()["issued"].get("client_credentials", 0),
              seconds_after_return=time.monotonic() - started)


@pytest.mark.parametrize("fault", pq.TOKEN_FAULTS)
def test_token_endpoint_down_ten_deferred_none_bounced_then_delivered(lab, rh, fault):
    pq.token_endpoint_scenario(lab, rh.unique("tok-" + fault), fault, "secret", TOKEN_CACHE)


def test_throttling_defers_then_delivers(lab, rh):
    lab.patch_config({"rate_limit": {"messages": 4, "window_seconds": 8}})
    tag = rh.unique("throttle")
    subjects = ["%s-%d" % (tag, i) for i in range(8)]
    offset = pq.log_offset()
    started = time.monotonic()
    for subject in subjects:
        pq.send(subject)
    got = pq.wait_delivered(lab, tag, 8, 120)
    once, counts = pq.exactly_once(got, subjects)
    assert once, counts
    deferred = [line for line in pq.status_lines(offset, "deferred") if "4.7.500" in line]
    assert deferred, "the lab never throttled"
    assert "451 4.7.500 Server busy" in deferred[0]
    assert not pq.status_lines(offset, "bounced")
    pq.record("throttling 451 4.7.500 (secret)", sent=8, deferred_attempts=len(deferred), delivered=len(got),
              bounced=0, seconds=time.monotonic() - started)


def test_send_as_denied_bounces_once_with_microsofts_text(lab, rh):
    tag = rh.unique("sendas")
    lab.patch_config({"refuse_subjects": {tag: "send_as_denied"}})
    offset = pq.log_offset()
    started = time.monotonic()
    pq.send(tag)
    bounced = pq.wait(lambda: pq.status_lines(offset, "bounced"), 60)
    assert len(bounced) == 1 and "554 5.2.252 SendAsDenied" in bounced[0], bounced
    dsn = pq.wait(lambda: [m for m in lab.messages() if "Undelivered" in (m["subject"] or "") and tag in m["data"]], 60)
    assert len(dsn) == 1, "no bounce reached the sender"
    assert dsn[0]["rcpt_tos"] == [SENDER] and dsn[0]["mail_from"] == SENDER   # a bounce leaves as the mailbox
    assert "554 5.2.252 SendAsDenied; %s not allowed to send as %s" % (MAILBOX, SENDER) in " ".join(dsn[0]["data"].split())
    assert not pq.arrived(lab, tag)
    pq.record("SendAsDenied (secret)", sent=1, delivered=0, bounced=len(bounced), dsn_to_sender=len(dsn),
              seconds=time.monotonic() - started)


def test_refused_credentials_defer_for_the_bound_then_bounce(lab, rh):
    # within the bound: the admin fixes the secret, the mail leaves
    lab.patch_config({"apps": {APP_CLIENT_ID: {"secret": "rotated-" + SECRET}}})
    lab.admin("POST", "/tokens/revoke")
    tag = rh.unique("cred")
    offset = pq.log_offset()
    started = time.monotonic()
    pq.send(tag + "-fixed")
    reason = pq.wait_reason("credentials refused since", 60)
    assert "AADSTS7000215" in reason and SECRET not in reason
    lab.patch_config({"apps": {APP_CLIENT_ID: {"secret": SECRET}}})
    pq.flush()
    assert len(pq.wait_delivered(lab, tag + "-fixed", 1, 60)) == 1
    assert not os.path.exists(STATE + "/credentials-refused.json")
    # never fixed: deferred until the bound, then bounced with the token endpoint's answer
    lab.patch_config({"apps": {APP_CLIENT_ID: {"secret": "rotated-" + SECRET}}})
    lab.admin("POST", "/tokens/revoke")
    first = time.monotonic()
    pq.send(tag + "-never")
    bounced = pq.wait(lambda: [line for line in pq.status_lines(offset, "bounced") if "to=<bob@" in line],
                      BOUND + 40, step=1)
    waited = time.monotonic() - first
    assert len(bounced) == 1 and "AADSTS7000215" in bounced[0] and SECRET not in bounced[0], bounced
    # its bounce report cannot leave either (same credentials): Postfix never bounces a bounce, no loop
    time.sleep(3)
    assert len(pq.status_lines(offset, "bounced")) <= 3, pq.status_lines(offset, "bounced")
    assert waited >= BOUND - 3, "bounced after %.1fs, before the %ds bound" % (waited, BOUND)
    deferred = [line for line in pq.status_lines(offset, "deferred") if "credentials refused" in line]
    assert deferred
    pq.record("credentials refused (secret)", sent=2, delivered_after_fix=1, deferred_attempts=len(deferred),
              bounced=len(bounced), bounced_after_seconds=waited, bound_seconds=BOUND,
              seconds=time.monotonic() - started)


def test_recipients_8bit_smtputf8_and_a_message_near_the_size_limit_arrive_intact(lab, rh):
    tag = rh.unique("intact")
    started = time.monotonic()
    utf8_body = "Grüße, 日本語, emoji ✓\n.\n..two dots\n. dot space\nend\n"
    pq.send(tag + "-utf8", to="bob@contoso.test, jürgen@contoso.test, carol@example.test", body=utf8_body,
            extra_headers="MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n"
                          "Content-Transfer-Encoding: 8bit\n")
    line = "".join(chr(65 + (i % 26)) for i in range(75))
    lines = [(".%s" % line) if i % 1000 == 0 else line for i in range(int(34.5 * 1024 * 1024 / 76))]
    big_body = "\n".join(lines) + "\n"
    pq.send(tag + "-big", body=big_body)
    got = {m["subject"]: m for m in pq.wait_delivered(lab, tag, 2, 180)}
    small, big = got[tag + "-utf8"], got[tag + "-big"]
    assert sorted(small["rcpt_tos"]) == ["bob@contoso.test", "carol@example.test", "jürgen@contoso.test"]
    assert small["data"].split("\r\n\r\n", 1)[1].replace("\r\n", "\n") == utf8_body
    assert big["data"].split("\r\n\r\n", 1)[1].replace("\r\n", "\n") == big_body
    assert big["size"] > 34 * 1024 * 1024
    pq.record("multi-recipient 8BITMIME/SMTPUTF8 + large message (secret)", sent=2, delivered=len(got),
              recipients=len(small["rcpt_tos"]), large_bytes=big["size"], seconds=time.monotonic() - started)
    lab.clear_messages()
