"""smtp_check run by real ansible-playbook against the lab: one case per diagnosis code the lab produces.

All cases run as tasks of ONE playbook (fail_on_error: false), then each parametrized test asserts its case:
the code, the stage (last passed / failed), and for the tarpit and slow cases that the probe's total time
stays within the timeout plus a small margin.  Each case's row (code, lab case, stage, time) is written to
tests/output/smtp_check-diagnosis-table.json for the closing note.
"""

import json
import subprocess
import time
import uuid

import pytest

from mailfleet_testing import ansible_bin, default_inventory, run_command
from smtpcheck_itest import RATE_LIMIT, record_row

pytestmark = pytest.mark.timeout(300)

APP_ID = "11111111-1111-4111-8111-111111111111"
APP_SECRET = "lab-app-secret-value"
TIMEOUT = 3.0
MARGIN = 0.8  # the tarpit / slow margin on top of the timeout (a QUIT is not sent after a deadline)
SUBJECT = "smtp_check integration %s" % uuid.uuid4().hex[:8]


def _ep(lab, listener, security="starttls", protocol="smtp"):
    return [{"name": listener, "host": "localhost", "port": lab.ports[listener], "security": security,
             "protocol": protocol}]


def cases(lab, black_hole):
    """(case id, lab case, module args, expected code, expected last stage, expected failed stage, time bound)."""
    ca = lab.ca_file
    base = {"ca_path": ca, "timeout": TIMEOUT, "fail_on_error": False}
    alice = {"username": "alice@contoso.test", "password": "alice-lab-password"}

    def args(listener, security="starttls", **extra):
        return dict(base, endpoints=_ep(lab, listener, security), **extra)

    def login(user, password):
        return args("submission", auth={"username": user, "password": password})

    return [
        ("ok_submission", "submission, STARTTLS, no auth", args("submission"), "ok", "tls", None, None),
        ("ok_auth_login", "submission, alice AUTH LOGIN", args("submission", auth=alice), "ok", "auth", None, None),
        ("ok_auth_oauth2_client_credentials", "token endpoint + submission, XOAUTH2 app token for alice",
         args("submission", auth={"username": "alice@contoso.test", "oauth2": {
             "client_id": APP_ID, "client_secret": APP_SECRET, "token_url": lab.token_url}}), "ok", "auth", None, None),
        ("ok_send", "submission, alice sends to bob",
         args("submission", auth=alice, send={"recipients": ["bob@contoso.test"], "subject": SUBJECT}),
         "ok", "send", None, None),
        ("ok_implicit_tls", "implicit_tls (465-like), security tls", args("implicit_tls", "tls", auth=alice),
         "ok", "auth", None, None),
        ("ok_profile_incoming", "profile lab, include_incoming: submission + IMAP + POP",
         dict(base, profile="lab", include_incoming=True, profile_overrides={
             "smtp_port": lab.ports["submission"], "imap_port": lab.ports["imap"], "imap_security": "tls",
             "pop_port": lab.ports["pop"], "pop_security": "tls"}),
         "ok", "tls", None, None),
        ("dns_error", "host mailfleet-lab.invalid",
         dict(base, endpoints=[{"host": "mailfleet-lab.invalid", "port": 587}]), "dns_error", None, "dns",
         TIMEOUT + MARGIN),  # bounded: a resolver that never answers costs the timeout, not more
        ("connect_timeout", "loopback port with a full accept queue (SYNs dropped)",
         dict(base, endpoints=[{"host": "127.0.0.1", "port": black_hole}]), "connect_timeout", "dns", "connect",
         TIMEOUT + MARGIN),
        ("connect_refused", "a lab port after the lab stopped (filled in at run time)",
         None, "connect_refused", "dns", "connect", None),
        ("banner_timeout", "tarpit", args("tarpit"), "banner_timeout", "connect", "banner", TIMEOUT + MARGIN),
        ("banner_timeout_implicit_tls", "tarpit, security tls", args("tarpit", "tls"), "banner_timeout",
         "connect", "tls", TIMEOUT + MARGIN),
        ("bad_banner", "garbage_banner", args("garbage_banner"), "bad_banner", "connect", "banner", None),
        ("connection_closed", "close", args("close"), "connection_closed", "connect", "banner", None),
        ("starttls_not_offered", "no_starttls (with auth: nothing sent in plain text)",
         args("no_starttls", auth=alice), "starttls_not_offered", "ehlo", "starttls", None),
        ("tls_handshake_failed", "starttls_drop", args("starttls_drop"), "tls_handshake_failed", "starttls", "tls",
         None),
        ("tls_on_plain_port", "submission with security tls (the 465/SSL mistake)", args("submission", "tls"),
         "tls_on_plain_port", "connect", "tls", None),
        ("plain_on_tls_port", "implicit_tls with security starttls", args("implicit_tls"), "plain_on_tls_port",
         "connect", "banner", TIMEOUT + MARGIN),
        ("tls_version_too_old", "tls_old_only (TLS <= 1.1), min_tls_version 1.2", args("tls_old_only"),
         "tls_version_too_old", "starttls", "tls", None),
        ("legacy_tls_rejected", "legacy_tls, client capped at TLS 1.1 (min 1.0, max 1.1)",
         args("legacy_tls", min_tls_version="1.0", max_tls_version="1.1"), "legacy_tls_rejected", "starttls", "tls",
         None),
        ("cert_untrusted", "cert_self_signed", args("cert_self_signed"), "cert_untrusted", "starttls", "tls", None),
        ("cert_hostname_mismatch", "cert_wrong_host", args("cert_wrong_host"), "cert_hostname_mismatch", "starttls",
         "tls", None),
        ("cert_expired", "cert_expired", args("cert_expired"), "cert_expired", "starttls", "tls", None),
        ("auth_not_offered", "submission, mechanism plain (only LOGIN XOAUTH2 offered)",
         args("submission", auth=dict(alice, mechanism="plain")), "auth_not_offered", "tls", "auth", None),
        ("auth_failed", "submission, XOAUTH2 with a token the lab never issued",
         args("submission", auth={"username": "alice@contoso.test", "oauth2_token": "not-a-lab-token"}),
         "auth_failed", "tls", "auth", None),
        ("auth_failed_aadsts", "token endpoint, wrong client secret (AADSTS7000215)",
         args("submission", auth={"username": "alice@contoso.test", "oauth2": {
             "client_id": APP_ID, "client_secret": "wrong-secret-value", "token_url": lab.token_url}}),
         "auth_failed", "tls", "auth", None),
        ("smtp_auth_disabled", "smtpoff@ (SMTP AUTH disabled)", login("smtpoff@contoso.test", "smtpoff-lab-password"),
         "smtp_auth_disabled", "tls", "auth", None),
        ("basic_auth_disabled", "nobasic@ (Basic auth disabled)", login("nobasic@contoso.test", "nobasic-lab-password"),
         "basic_auth_disabled", "tls", "auth", None),
        ("basic_auth_removed", "basicremoved@ (550 5.7.30)",
         login("basicremoved@contoso.test", "basicremoved-lab-password"), "basic_auth_disabled", "tls", "auth", None),
        ("security_defaults", "secdefaults@", login("secdefaults@contoso.test", "secdefaults-lab-password"),
         "security_defaults", "tls", "auth", None),
        ("bad_credentials", "alice, wrong password", login("alice@contoso.test", "wrong-password"),
         "bad_credentials", "tls", "auth", None),
        ("policy_blocked", "policy@ (criteria text)", login("policy@contoso.test", "policy-lab-password"),
         "policy_blocked", "tls", "auth", None),
        ("send_as_denied", "alice sends as bob",
         args("submission", auth=alice, send={"sender": "bob@contoso.test", "recipients": ["carol@contoso.test"],
                                              "subject": SUBJECT}), "send_as_denied", "auth", "send", None),
        ("not_authenticated", "submission, MAIL FROM without AUTH",
         args("submission", send={"sender": "alice@contoso.test", "recipients": ["bob@contoso.test"]}),
         "not_authenticated", "tls", "send", None),
        ("relay_denied", "connector trusting no IP, external recipient",
         args("connector", send={"sender": "alice@contoso.test", "recipients": ["someone@example.org"],
                                 "subject": SUBJECT}), "relay_denied", "tls", "send", None),
        ("throttled", "ratelimited@ over its rate limit (%d per minute)" % RATE_LIMIT, None, "throttled", "auth",
         "send", None),
        ("timeout", "slow (1 byte per 100 ms)", args("slow"), "timeout", "connect", "banner", TIMEOUT + MARGIN),
    ]


@pytest.fixture(scope="module")
def lab_run(smtpcheck_lab, black_hole, module_runner, tmp_path_factory):
    """Run every case in one playbook; returns {case id: (case tuple, result dict)}."""
    lab = smtpcheck_lab
    table = cases(lab, black_hole)
    # connect_refused: a port where a lab listened and no longer does (the lab is down)
    from mailfleet_lab.pytest_plugin import LabHandle

    down = LabHandle({"disabled": [n for n in lab.ports if n not in ("submission", "admin")]},
                     state_dir=str(tmp_path_factory.mktemp("lab-down")), any_ports=True).start()
    down_port = down.ports["submission"]
    down.stop()
    tasks = []
    for case in table:
        case_id, _lab_case, args, *_rest = case
        if case_id == "connect_refused":
            args = {"endpoints": [{"host": "localhost", "port": down_port}], "timeout": TIMEOUT,
                    "fail_on_error": False}
        if case_id == "throttled":
            user = {"username": "ratelimited@contoso.test", "password": "ratelimited-lab-password"}
            send_args = {"endpoints": _ep(lab, "submission"), "ca_path": lab.ca_file, "timeout": TIMEOUT,
                         "auth": user, "send": {"recipients": ["bob@contoso.test"], "subject": SUBJECT}}
            for index in range(RATE_LIMIT):
                tasks.append({"name": "throttle warm-up %d" % index, "mailfleet.outlook.smtp_check": send_args})
            args = dict(send_args, fail_on_error=False)
        tasks.append({"name": case_id, "mailfleet.outlook.smtp_check": args})
    play = [{"name": "smtp_check against the lab", "hosts": "localhost", "gather_facts": False, "tasks": tasks}]
    run = module_runner.playbook(play, timeout=240)
    run.assert_ok()
    out = {}
    for case in table:
        out[case[0]] = (case, run.result(task=case[0]))
    out["_run"] = run
    return out


CASE_IDS = [
    "ok_submission", "ok_auth_login", "ok_auth_oauth2_client_credentials", "ok_send", "ok_implicit_tls",
    "ok_profile_incoming", "dns_error", "connect_timeout", "connect_refused", "banner_timeout",
    "banner_timeout_implicit_tls", "bad_banner", "connection_closed", "starttls_not_offered", "tls_handshake_failed",
    "tls_on_plain_port", "plain_on_tls_port", "tls_version_too_old", "legacy_tls_rejected", "cert_untrusted",
    "cert_hostname_mismatch", "cert_expired", "auth_not_offered", "auth_failed", "auth_failed_aadsts",
    "smtp_auth_disabled", "basic_auth_disabled", "basic_auth_removed", "security_defaults", "bad_credentials",
    "policy_blocked", "send_as_denied", "not_authenticated", "relay_denied", "throttled", "timeout",
]


def test_case_table_is_complete(lab_run):
    assert sorted(k for k in lab_run if not k.startswith("_")) == sorted(CASE_IDS)


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_case(lab_run, case_id):
    case, result = lab_run[case_id]
    _cid, lab_case, _args, code, stage, failed_stage, bound = case
    assert result["changed"] is (case_id == "ok_send")
    assert result["ok"] is (code == "ok"), result
    entry = result["endpoints"][0]
    assert entry["diagnosis"]["code"] == code, entry
    assert entry["stage"] == stage, entry
    assert entry["failed_stage"] == failed_stage, entry
    assert entry["diagnosis"]["message"] and (code == "ok" or entry["diagnosis"]["hint"])
    total = entry["timings_ms"]["total"] / 1000.0
    if bound is not None and case_id == "dns_error":
        assert total <= bound, total
    elif bound is not None:
        assert TIMEOUT - 0.2 <= total <= bound or case_id == "plain_on_tls_port", total
    if case_id == "plain_on_tls_port":
        assert TIMEOUT / 2 - 0.1 <= total <= TIMEOUT / 2 + MARGIN, total
    if bound is None and code != "ok":
        assert total < TIMEOUT, total  # a clear failure does not wait for the deadline
    record_row({"code": code, "case": case_id, "lab_case": lab_case, "stage": entry["stage"],
                "failed_stage": entry["failed_stage"], "time_ms": entry["timings_ms"]["total"]})


def test_ok_details(lab_run):
    entry = lab_run["ok_submission"][1]["endpoints"][0]
    assert entry["tls"]["version"] in ("TLSv1.2", "TLSv1.3") and entry["tls"]["verified"] is True
    assert "localhost" in entry["tls"]["cert"]["san"]
    assert entry["auth_mechanisms"] == ["LOGIN", "XOAUTH2"]
    assert entry["banner"].startswith("localhost")
    assert entry["address"] == "127.0.0.1"
    incoming = lab_run["ok_profile_incoming"][1]["endpoints"]
    assert [e["protocol"] for e in incoming] == ["smtp", "imap", "pop"]
    assert all(e["ok"] for e in incoming)
    assert incoming[1]["banner"].startswith("* OK The Microsoft Exchange IMAP4")
    assert lab_run["ok_auth_oauth2_client_credentials"][1]["endpoints"][0]["auth_mechanism"] == "XOAUTH2"


def test_send_arrived_with_headers(lab_run, smtpcheck_lab):
    result = lab_run["ok_send"][1]
    entry = result["endpoints"][0]
    assert entry["sent"] is True
    messages = smtpcheck_lab.messages(subject=SUBJECT, user="alice@contoso.test")
    assert len(messages) == 1
    message = messages[0]
    assert message["message_id"] == entry["message_id"]
    for header in ("Date:", "Message-ID:", "From: alice@contoso.test", "To: bob@contoso.test", "Subject: " + SUBJECT):
        assert header in message["data"], header
    assert "This is a mailfleet test message." in message["data"]


def test_failure_details(lab_run):
    def entry(case_id):
        return lab_run[case_id][1]["endpoints"][0]

    assert entry("tls_on_plain_port")["banner"].startswith("220 localhost")
    assert "465" in entry("tls_on_plain_port")["diagnosis"]["hint"]
    assert entry("cert_hostname_mismatch")["tls"]["cert"]["san"] == ["wrong.example.test"]
    assert entry("cert_expired")["tls"]["cert"]["days_left"] < 0
    assert entry("legacy_tls_rejected")["reply"]["enhanced_code"] == "4.7.66"
    assert entry("smtp_auth_disabled")["reply"]["code"] == 535
    assert entry("basic_auth_removed")["reply"]["enhanced_code"] == "5.7.30"
    assert entry("send_as_denied")["reply"]["enhanced_code"] == "5.2.252"
    assert entry("throttled")["reply"]["enhanced_code"] == "4.7.500"
    assert entry("relay_denied")["reply"]["enhanced_code"] == "5.7.64"
    assert "AADSTS7000215" in entry("auth_failed_aadsts")["diagnosis"]["message"]
    assert "wrong-secret-value" not in repr(lab_run["auth_failed_aadsts"][1])
    assert entry("starttls_not_offered")["auth_mechanisms"] == []


def test_fail_on_error_fails_the_task(smtpcheck_lab, module_runner):
    run = module_runner.adhoc("mailfleet.outlook.smtp_check", {
        "endpoints": _ep(smtpcheck_lab, "cert_self_signed"), "ca_path": smtpcheck_lab.ca_file, "timeout": 3})
    run.assert_failed()
    result = run.result()
    assert result["ok"] is False
    assert "cert_untrusted" in result["msg"]
    assert result["endpoints"][0]["diagnosis"]["code"] == "cert_untrusted"


def test_check_mode_skips_send(smtpcheck_lab, module_runner):
    subject = "check mode %s" % uuid.uuid4().hex[:8]
    run = module_runner.adhoc("mailfleet.outlook.smtp_check", {
        "endpoints": _ep(smtpcheck_lab, "submission"), "ca_path": smtpcheck_lab.ca_file, "timeout": 3,
        "auth": {"username": "bob@contoso.test", "password": "bob-lab-password"},
        "send": {"recipients": ["alice@contoso.test"], "subject": subject}}, check=True)
    run.assert_ok()
    result = run.result()
    assert result["changed"] is False and result["ok"] is True
    assert result["endpoints"][0]["stage"] == "auth"
    assert any("check mode" in w for w in result["endpoints"][0]["warnings"])
    time.sleep(0.5)
    assert smtpcheck_lab.messages(subject=subject) == []


def test_concurrency_through_ansible(smtpcheck_lab, module_runner):
    """Two tarpits and three good endpoints in one task: the task costs one timeout, not two."""
    lab = smtpcheck_lab
    endpoints = _ep(lab, "tarpit") * 2 + _ep(lab, "submission") * 3
    for index, ep in enumerate(endpoints):
        ep["name"] = "%s-%d" % (ep["name"], index)
    start = time.monotonic()
    run = module_runner.adhoc("mailfleet.outlook.smtp_check", {
        "endpoints": endpoints, "ca_path": lab.ca_file, "timeout": TIMEOUT, "fail_on_error": False})
    elapsed = time.monotonic() - start
    run.assert_ok()
    result = run.result()
    codes = [e["diagnosis"]["code"] for e in result["endpoints"]]
    assert codes == ["banner_timeout"] * 2 + ["ok"] * 3
    assert max(e["timings_ms"]["total"] for e in result["endpoints"]) <= (TIMEOUT + MARGIN) * 1000
    assert elapsed < 2 * TIMEOUT + 8  # ansible start-up included; sequential probes would need 2 x timeout


def test_network_unreachable_in_an_empty_network_namespace(module_runner):
    """unshare -n: a namespace with only a down loopback; connect() gives ENETUNREACH."""
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True, text=True, timeout=30, check=False)
    if probe.returncode != 0:
        pytest.skip("cannot create a network namespace here: %s" % probe.stderr.strip())
    inventory = module_runner.workdir / "netns-inventory.json"
    inventory.write_text(json.dumps(default_inventory()))
    args = {"endpoints": [{"host": "127.0.0.1", "port": 587}], "timeout": TIMEOUT, "fail_on_error": False}
    cmd = ["unshare", "-n", ansible_bin("ansible"), "localhost", "-m", "mailfleet.outlook.smtp_check",
           "-a", json.dumps(args), "-i", str(inventory)]
    env = dict(module_runner.env, ANSIBLE_LOAD_CALLBACK_PLUGINS="1")
    inside = run_command(cmd, env, module_runner.workdir / "netns-results.json", 120)
    inside.assert_ok()
    entry = inside.result()["endpoints"][0]
    assert entry["diagnosis"]["code"] == "network_unreachable"
    assert entry["stage"] == "dns" and entry["failed_stage"] == "connect"
    record_row({"code": "network_unreachable", "case": "network_unreachable",
                "lab_case": "unshare -n (no route, loopback down)", "stage": entry["stage"],
                "failed_stage": entry["failed_stage"], "time_ms": entry["timings_ms"]["total"]})
