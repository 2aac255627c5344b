"""IMAP and POP logins against the lab through real ansible-playbook: password and XOAUTH2 (delegated and app-only)
succeed and open the mailbox; every failure answer of Exchange Online comes back as its code."""

from __future__ import annotations

import uuid

import pytest

from smtpcheck_itest import lab_patch_task, own_lab, record_row

pytestmark = pytest.mark.timeout(300)

APP_ID = "11111111-1111-4111-8111-111111111111"
APP_SECRET = "lab-app-secret-value"
TIMEOUT = 3.0
SUBJECT = "mailbox %s" % uuid.uuid4().hex[:8]


@pytest.fixture(scope="module")
def mailbox_lab(tmp_path_factory):
    config = {"accounts": {"imapoff@contoso.test": {"password": "imapoff-lab-password", "imap_disabled": True},
                           "popoff@contoso.test": {"password": "popoff-lab-password", "pop_disabled": True}}}
    with own_lab(tmp_path_factory, "mailbox-lab", config) as handle:
        yield handle


def cases(lab):
    """(case id, lab case, patch, module args, code, stage, failed stage)."""
    base = {"ca_path": lab.ca_file, "timeout": TIMEOUT, "fail_on_error": False}
    token = lab.token_url

    def ep(protocol):
        return [{"name": protocol, "host": "localhost", "port": lab.ports[protocol], "security": "tls",
                 "protocol": protocol}]

    def args(protocol, user, open_mailbox=True, **auth):
        return dict(base, endpoints=ep(protocol), auth=dict(auth, username=user, open_mailbox=open_mailbox))

    def delegated(user, scp):
        return lab.mint_token(user=user, scp=scp)

    app = {"client_id": APP_ID, "client_secret": APP_SECRET, "token_url": token}
    alice, bob = "alice@contoso.test", "bob@contoso.test"
    return [
        ("imap_password", "alice LOGIN + EXAMINE INBOX", None, args("imap", alice, password="alice-lab-password"),
         "ok", "mailbox", None),
        ("imap_delegated", "alice XOAUTH2, delegated IMAP.AccessAsUser.All", None,
         args("imap", alice, oauth2_token=delegated(alice, "IMAP.AccessAsUser.All")), "ok", "mailbox", None),
        ("imap_app_only", "alice XOAUTH2, client credentials (IMAP.AccessAsApp)", None,
         args("imap", alice, oauth2=app), "ok", "mailbox", None),
        ("pop_password", "alice USER/PASS + STAT", None, args("pop", alice, password="alice-lab-password"),
         "ok", "mailbox", None),
        ("pop_delegated", "alice AUTH XOAUTH2, delegated POP.AccessAsUser.All", None,
         args("pop", alice, oauth2_token=delegated(alice, "POP.AccessAsUser.All")), "ok", "mailbox", None),
        ("pop_app_only", "alice AUTH XOAUTH2, client credentials (POP.AccessAsApp)", None,
         args("pop", alice, oauth2=app), "ok", "mailbox", None),
        ("imap_wrong_password", "alice LOGIN, wrong password (NO LOGIN failed.)", None,
         args("imap", alice, password="wrong-password"), "mailbox_login_refused", "ehlo", "auth"),
        ("pop_wrong_password", "alice PASS, wrong password (-ERR Logon failure)", None,
         args("pop", alice, password="wrong-password"), "mailbox_login_refused", "ehlo", "auth"),
        ("imap_wrong_scope", "XOAUTH2 with an SMTP.Send token (NO AUTHENTICATE failed.)", None,
         args("imap", alice, oauth2_token=delegated(alice, "SMTP.Send")), "auth_failed", "ehlo", "auth"),
        ("pop_wrong_scope", "AUTH XOAUTH2 with an IMAP token (-ERR Authentication failure)", None,
         args("pop", alice, oauth2_token=delegated(alice, "IMAP.AccessAsUser.All")), "auth_failed", "ehlo", "auth"),
        ("imap_not_connected", "bob XOAUTH2 app-only, no mailbox permission (BAD ... not connected)", None,
         args("imap", bob, oauth2=app), "mailbox_not_connected", "auth", "mailbox"),
        ("pop_app_without_permission", "bob AUTH XOAUTH2 app-only, no mailbox permission", None,
         args("pop", bob, oauth2=app), "auth_failed", "ehlo", "auth"),
        ("imap_disabled_token", "imapoff@ (ImapEnabled false), XOAUTH2", None,
         args("imap", "imapoff@contoso.test", oauth2_token=delegated("imapoff@contoso.test", "IMAP.AccessAsUser.All")),
         "auth_failed", "ehlo", "auth"),
        ("imap_disabled_password", "imapoff@ (ImapEnabled false), LOGIN", None,
         args("imap", "imapoff@contoso.test", password="imapoff-lab-password"), "mailbox_login_refused", "ehlo", "auth"),
        ("pop_disabled_token", "popoff@ (PopEnabled false), AUTH XOAUTH2", None,
         args("pop", "popoff@contoso.test", oauth2_token=delegated("popoff@contoso.test", "POP.AccessAsUser.All")),
         "auth_failed", "ehlo", "auth"),
        ("imap_basic_retired", "tenant.imap_pop_basic_auth_retired, alice LOGIN with the right password",
         {"tenant": {"imap_pop_basic_auth_retired": True}}, args("imap", alice, password="alice-lab-password"),
         "mailbox_login_refused", "ehlo", "auth"),
        ("pop_basic_retired", "same, POP USER/PASS", None, args("pop", alice, password="alice-lab-password"),
         "mailbox_login_refused", "ehlo", "auth"),
    ]


UNDO = {"pop_basic_retired": {"tenant": {"imap_pop_basic_auth_retired": False}}}


@pytest.fixture(scope="module")
def mailbox_run(mailbox_lab, module_runner):
    lab = mailbox_lab
    table = cases(lab)

    # one message for alice first, so that EXAMINE / STAT count it
    tasks = [{"name": "a message for alice", "mailfleet.outlook.smtp_check": {
        "endpoints": [{"host": "localhost", "port": lab.ports["submission"]}], "ca_path": lab.ca_file,
        "auth": {"username": "bob@contoso.test", "password": "bob-lab-password"},
        "send": {"recipients": ["alice@contoso.test"], "subject": SUBJECT}}}]
    for case_id, _what, body, args, *_rest in table:
        if body:
            tasks.append(lab_patch_task(lab, "patch " + case_id, body))
        tasks.append({"name": case_id, "mailfleet.outlook.smtp_check": args})
        if case_id in UNDO:
            tasks.append(lab_patch_task(lab, "undo " + case_id, UNDO[case_id]))
    # one token (client credentials) for SMTP, IMAP and POP of the lab profile at once
    tasks.append({"name": "one_token_three_protocols", "mailfleet.outlook.smtp_check": {
        "profile": "lab", "include_incoming": True, "timeout": TIMEOUT, "fail_on_error": False,
        "profile_overrides": {"smtp_port": lab.ports["submission"], "imap_port": lab.ports["imap"],
                              "pop_port": lab.ports["pop"], "ca_file": lab.ca_file},
        "auth": {"username": "alice@contoso.test", "open_mailbox": True,
                 "oauth2": {"client_id": APP_ID, "client_secret": APP_SECRET, "token_url": lab.token_url}}}})
    play = [{"name": "IMAP and POP logins against the lab", "hosts": "localhost", "gather_facts": False,
             "tasks": tasks}]
    run = module_runner.playbook(play, timeout=240)
    run.assert_ok()
    return table, run


CASE_IDS = ["imap_password", "imap_delegated", "imap_app_only", "pop_password", "pop_delegated", "pop_app_only",
            "imap_wrong_password", "pop_wrong_password", "imap_wrong_scope", "pop_wrong_scope", "imap_not_connected",
            "pop_app_without_permission", "imap_disabled_token", "imap_disabled_password", "pop_disabled_token",
            "imap_basic_retired", "pop_basic_retired"]


def test_case_list(mailbox_run):
    assert [case[0] for case in mailbox_run[0]] == CASE_IDS


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_mailbox_case(mailbox_run, case_id):
    table, run = mailbox_run
    _cid, what, _patch, _args, code, stage, failed_stage = [c for c in table if c[0] == case_id][0]
    entry = run.result(task=case_id)["endpoints"][0]
    assert entry["diagnosis"]["code"] == code, entry
    assert (entry["stage"], entry["failed_stage"]) == (stage, failed_stage), entry
    assert entry["timings_ms"]["total"] < TIMEOUT * 1000
    if code == "ok":
        assert entry["mailbox"]["messages"] >= 1, entry  # the message sent to alice first
        assert entry["auth_mechanism"] in ("LOGIN", "USER", "XOAUTH2")
    else:
        assert entry["reply"]["text"] and entry["diagnosis"]["hint"]
        record_row({"code": code, "case": "mailbox: " + case_id, "lab_case": what, "stage": entry["stage"],
                    "failed_stage": entry["failed_stage"], "time_ms": entry["timings_ms"]["total"]})


def test_hints_name_the_protocol_switch(mailbox_run):
    run = mailbox_run[1]
    assert "-ImapEnabled" in run.result(task="imap_disabled_token")["endpoints"][0]["diagnosis"]["hint"]
    assert "-PopEnabled" in run.result(task="pop_disabled_token")["endpoints"][0]["diagnosis"]["hint"]
    assert "retired Basic auth" in run.result(task="imap_basic_retired")["endpoints"][0]["diagnosis"]["hint"]
    assert "Add-MailboxPermission" in run.result(task="imap_not_connected")["endpoints"][0]["diagnosis"]["hint"]


def test_one_token_serves_smtp_imap_and_pop(mailbox_run):
    entries = mailbox_run[1].result(task="one_token_three_protocols")["endpoints"]
    assert [(e["protocol"], e["ok"], e["stage"]) for e in entries] == [
        ("smtp", True, "auth"), ("imap", True, "mailbox"), ("pop", True, "mailbox")], entries
    assert all(e["auth_mechanism"] == "XOAUTH2" for e in entries)


def test_no_secret_in_the_output(mailbox_run):
    out = mailbox_run[1].all_output()
    for secret in ("alice-lab-password", APP_SECRET, "imapoff-lab-password"):
        assert secret not in out
