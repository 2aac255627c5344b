"""Every Exchange Online answer of facts section 4, sent by the lab over the wire, comes back as its documented code.

One ansible-playbook: for each case an optional admin patch of the lab (ansible.builtin.uri to the lab's admin
endpoint: tenant switches, rate limits), the smtp_check task, and the patch undone. Each row of the facts table has
at least one case (a test checks it against the file), and each case's row (code, lab case, stage, time) goes to
tests/output/smtp_check-diagnosis-table.json for the closing note.
"""

from __future__ import annotations

import os
import re
import uuid

import pytest

from smtpcheck_itest import lab_patch_task, own_lab, record_row

pytestmark = pytest.mark.timeout(300)

FACTS = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "shared", "facts", "microsoft-mail.md")
TIMEOUT = 3.0
PW = "answers-lab-password"
SUBJECT = "answers %s" % uuid.uuid4().hex[:8]
THROTTLE = ("5.2.251", "5.2.252", "5.2.253", "5.2.254", "5.2.255")


@pytest.fixture(scope="module")
def answers_lab(tmp_path_factory):
    accounts = {"throttled%s@contoso.test" % code[-3:]: {"password": PW, "continuous_error_throttled": code}
                for code in THROTTLE}
    accounts["spammer@contoso.test"] = {"password": PW, "blocked_sender": True}
    accounts["burst@contoso.test"] = {"password": PW}
    config = {"accounts": accounts, "connector": {"client_ips": [], "cert_names": []},
              "tenant": {"external_recipient_limit": 1}}
    with own_lab(tmp_path_factory, "answers-lab", config) as handle:
        yield handle


def cases(lab):
    """(case id, facts row (its first quoted answer, prefix), lab case, patch, module args, code, stage, failed)."""
    base = {"ca_path": lab.ca_file, "timeout": TIMEOUT, "fail_on_error": False}

    def ep(listener="submission", security="starttls"):
        return [{"name": listener, "host": "localhost", "port": lab.ports[listener], "security": security}]

    def login(user, password=PW, **extra):
        return dict(base, endpoints=ep(), auth={"username": user, "password": password}, **extra)

    def send(user, recipients=("bob@contoso.test",), sender=None, password=PW, listener="submission", auth=True):
        args = dict(base, endpoints=ep(listener),
                    send={"recipients": list(recipients), "subject": SUBJECT, "sender": sender or user})
        if auth:
            args["auth"] = {"username": user, "password": password}
        return args

    alice = "alice@contoso.test"
    rows = [
        ("not_authenticated_plain", "530 5.7.57", "MAIL FROM before STARTTLS (security none, no auth)", None,
         dict(base, endpoints=ep(security="none"), send={"sender": alice, "recipients": ["bob@contoso.test"]}),
         "not_authenticated", "ehlo", "send"),
        ("not_authenticated_anonymous", "530 5.7.57", "MAIL FROM after STARTTLS without AUTH", None,
         send(alice, auth=False), "not_authenticated", "tls", "send"),
        ("smtp_auth_disabled_tenant", "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled "
         "for the Tenant", "tenant.smtp_auth_disabled, alice AUTH LOGIN", {"tenant": {"smtp_auth_disabled": True}},
         login(alice, "alice-lab-password"), "smtp_auth_disabled", "tls", "auth"),
        ("smtp_auth_disabled_mailbox", "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled "
         "for the Mailbox", "smtpoff@ (mailbox switch)", None, login("smtpoff@contoso.test", "smtpoff-lab-password"),
         "smtp_auth_disabled", "tls", "auth"),
        ("policy_criteria", "535 5.7.139 Authentication unsuccessful, the request did not meet the criteria",
         "policy@", None, login("policy@contoso.test", "policy-lab-password"), "policy_blocked", "tls", "auth"),
        ("security_defaults", "535 5.7.139 Authentication unsuccessful, user is locked", "secdefaults@", None,
         login("secdefaults@contoso.test", "secdefaults-lab-password"), "security_defaults", "tls", "auth"),
        ("basic_auth_disabled", "535 5.7.139 Authentication unsuccessful, basic authentication is disabled",
         "nobasic@", None, login("nobasic@contoso.test", "nobasic-lab-password"), "basic_auth_disabled", "tls",
         "auth"),
        ("bad_credentials", "535 5.7.139 Authentication unsuccessful, the user credentials were incorrect",
         "alice, wrong password", None, login(alice, "wrong-password"), "bad_credentials", "tls", "auth"),
        ("bad_token", "535 5.7.3", "XOAUTH2 with a token the lab never issued", None,
         dict(base, endpoints=ep(), auth={"username": alice, "oauth2_token": "not-a-lab-token"}), "auth_failed",
         "tls", "auth"),
        ("basic_auth_removed", "550 5.7.30", "basicremoved@", None,
         login("basicremoved@contoso.test", "basicremoved-lab-password"), "basic_auth_disabled", "tls", "auth"),
        ("send_as_mail_from", "5.7.60", "tenant.send_as_check mail, alice sends as bob",
         {"tenant": {"send_as_check": "mail"}}, send(alice, sender="bob@contoso.test", password="alice-lab-password"),
         "send_as_denied", "auth", "send"),
        ("send_as_data", "554 5.2.252 SendAsDenied", "alice sends as bob (checked after DATA)", None,
         send(alice, sender="bob@contoso.test", password="alice-lab-password"), "send_as_denied", "auth", "send"),
        ("send_as_storedrv", "554 5.2.252 SendAsDenied", "tenant.send_as_check storedrv (554 5.2.0 ...)",
         {"tenant": {"send_as_check": "storedrv"}}, send(alice, sender="bob@contoso.test",
                                                         password="alice-lab-password"), "send_as_denied", "auth",
         "send"),
        ("relay_denied", "550 5.7.64", "connector trusting no IP, external recipient", None,
         send(alice, ["someone@example.org"], listener="connector", auth=False), "relay_denied", "tls", "send"),
        ("direct_send_rejected", None, "tenant.direct_send_rejected, connector, internal recipient (5.7.68)",
         {"tenant": {"direct_send_rejected": True}}, send(alice, listener="connector", auth=False), "relay_denied",
         "tls", "send"),
        ("ip_blocked", "550 5.7.708", "blocked_client_ips 127.0.0.1", {"blocked_client_ips": ["127.0.0.1"]},
         send(alice, password="alice-lab-password"), "ip_blocked", "auth", "send"),
        ("rate_limited_warmup", None, "burst@ sends once with rate_limit 1/minute", {"rate_limit": {"messages": 1}},
         send("burst@contoso.test"), "ok", "send", None),
        ("rate_limited", "451 4.7.500", "burst@ again within the minute", None, send("burst@contoso.test"),
         "throttled", "auth", "send"),
    ]
    rows += [("continuous_%s" % code[-3:], "550 5.2.251", "throttled%s@ (continuous error throttling %s)"
              % (code[-3:], code), None, send("throttled%s@contoso.test" % code[-3:]), "throttled", "auth", "send")
             for code in THROTTLE]
    rows += [
        ("tenant_outbound_limit", "550 5.7.233", "tenant.external_recipient_limit 1, two external recipients", None,
         send(alice, ["one@example.org", "two@example.org"], password="alice-lab-password"), "throttled", "auth",
         "send"),
        ("tenant_threshold", "5.7.705", "tenant.sending_blocked threshold", {"tenant": {"sending_blocked": "threshold"}},
         send(alice, password="alice-lab-password"), "tenant_blocked", "auth", "send"),
        ("unregistered_domains", "5.7.705", "tenant.sending_blocked unregistered_domains (5.7.750)",
         {"tenant": {"sending_blocked": "unregistered_domains"}}, send(alice, password="alice-lab-password"),
         "tenant_blocked", "auth", "send"),
        ("legacy_tls", "421 4.7.66", "legacy_tls, client capped at TLS 1.1", None,
         dict(base, endpoints=ep("legacy_tls"), min_tls_version="1.0", max_tls_version="1.1"), "legacy_tls_rejected",
         "starttls", "tls"),
        ("bad_outbound_sender", "550 5.1.8", "spammer@ (blocked_sender)", None, send("spammer@contoso.test"),
         "policy_blocked", "auth", "send"),
        ("quota", "5.2.2", "rate_limit.recipients_per_day 1, two recipients", {"rate_limit": {"recipients_per_day": 1}},
         send(alice, ["bob@contoso.test", "relay@contoso.test"], password="alice-lab-password"), "throttled", "auth",
         "send"),
    ]
    return rows


# Each patch is undone after its case (merge patch back to the default values).
UNDO = {
    "smtp_auth_disabled_tenant": {"tenant": {"smtp_auth_disabled": False}},
    "send_as_mail_from": {"tenant": {"send_as_check": "data"}},
    "send_as_storedrv": {"tenant": {"send_as_check": "data"}},
    "direct_send_rejected": {"tenant": {"direct_send_rejected": False}},
    "ip_blocked": {"blocked_client_ips": []},
    "rate_limited": {"rate_limit": {"messages": 30}},
    "tenant_threshold": {"tenant": {"sending_blocked": None}},
    "unregistered_domains": {"tenant": {"sending_blocked": None}},
    "quota": {"rate_limit": {"recipients_per_day": 10000}},
}


@pytest.fixture(scope="module")
def answers_run(answers_lab, module_runner):
    lab = answers_lab
    table = cases(lab)
    tasks = []
    for case_id, _row, _what, patch, args, *_rest in table:
        if patch:
            tasks.append(lab_patch_task(lab, "patch " + case_id, patch))
        tasks.append({"name": case_id, "mailfleet.outlook.smtp_check": args})
        if case_id in UNDO:
            tasks.append(lab_patch_task(lab, "undo " + case_id, UNDO[case_id]))
    play = [{"name": "Exchange Online's answers from the lab", "hosts": "localhost", "gather_facts": False,
             "tasks": tasks}]
    run = module_runner.playbook(play, timeout=240)
    run.assert_ok()
    return table, run


CASE_IDS = ["not_authenticated_plain", "not_authenticated_anonymous", "smtp_auth_disabled_tenant",
            "smtp_auth_disabled_mailbox", "policy_criteria", "security_defaults", "basic_auth_disabled",
            "bad_credentials", "bad_token", "basic_auth_removed", "send_as_mail_from", "send_as_data", "send_as_storedrv",
            "relay_denied", "direct_send_rejected", "ip_blocked", "rate_limited_warmup", "rate_limited",
            "continuous_251", "continuous_252", "continuous_253", "continuous_254", "continuous_255",
            "tenant_outbound_limit", "tenant_threshold", "unregistered_domains", "legacy_tls", "bad_outbound_sender",
            "quota"]


def test_case_list(answers_run):
    assert [case[0] for case in answers_run[0]] == CASE_IDS


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_answer(answers_run, case_id):
    table, run = answers_run
    case = [c for c in table if c[0] == case_id][0]
    _cid, row, what, _patch, _args, code, stage, failed_stage = case
    entry = run.result(task=case_id)["endpoints"][0]
    assert entry["diagnosis"]["code"] == code, entry
    assert (entry["stage"], entry["failed_stage"]) == (stage, failed_stage), entry
    assert entry["timings_ms"]["total"] < TIMEOUT * 1000  # an answer, never the deadline
    if code != "ok":
        assert entry["diagnosis"]["hint"] and entry["reply"]["text"]
        record_row({"code": code, "case": "answer: " + case_id, "lab_case": what, "stage": entry["stage"],
                    "failed_stage": entry["failed_stage"], "time_ms": entry["timings_ms"]["total"],
                    "answer": entry["reply"]["text"].split(" [")[0]})


def test_details_the_table_promises(answers_run):
    run = answers_run[1]

    def entry(case_id):
        return run.result(task=case_id)["endpoints"][0]

    assert "Set-TransportConfig" in entry("smtp_auth_disabled_tenant")["diagnosis"]["hint"]
    mailbox = entry("smtp_auth_disabled_mailbox")["diagnosis"]["hint"]
    assert "Set-CASMailbox" in mailbox and "Set-TransportConfig" not in mailbox
    assert "Conditional Access" in entry("policy_criteria")["diagnosis"]["hint"]
    assert entry("not_authenticated_anonymous")["reply"]["text"].startswith(
        "5.7.57 Client not authenticated to send anonymous mail during MAIL FROM")
    assert entry("send_as_storedrv")["reply"]["enhanced_code"] == "5.2.0"
    assert entry("direct_send_rejected")["reply"]["enhanced_code"] == "5.7.68"
    assert entry("unregistered_domains")["reply"]["enhanced_code"] == "5.7.750"
    assert [entry("continuous_%s" % c[-3:])["reply"]["enhanced_code"] for c in THROTTLE] == list(THROTTLE)
    assert "TERRL" in entry("tenant_outbound_limit")["diagnosis"]["hint"]


def test_every_facts_row_has_a_case(answers_run):
    """A row added to facts section 4 fails here until the lab answers it and a case maps it."""
    if not os.path.exists(FACTS):
        pytest.skip("shared/facts/microsoft-mail.md is not beside the checkout")
    with open(FACTS, encoding="utf-8") as handle:
        section = handle.read().split("## 4.", 1)[1].split("## 5.", 1)[0]
    firsts = [re.findall(r"`([^`]+)`", line.split("|")[1])[0] for line in section.splitlines() if line.startswith("| `")]
    covered = [case[1] for case in answers_run[0] if case[1]]
    missing = [first for first in firsts if not any(first.startswith(prefix) for prefix in covered)]
    assert not missing, missing
