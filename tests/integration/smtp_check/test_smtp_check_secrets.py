"""Canary secrets: a password, a client secret and a (real, lab-issued) token never appear in the module's
result, in ansible-playbook -vvv output, in the message that arrived, or in the lab's log."""

import base64
import uuid

import pytest

from smtpcheck_itest import CANARY_APP_ID, CANARY_PASSWORD, CANARY_SECRET

pytestmark = pytest.mark.timeout(300)


def _forms(secret, user):
    """The secret and every encoding of it the probe puts on the wire."""
    b64 = base64.b64encode
    return [
        secret,
        b64(secret.encode()).decode(),
        b64(("\0%s\0%s" % (user, secret)).encode()).decode(),
        b64(("user=%s\x01auth=Bearer %s\x01\x01" % (user, secret)).encode()).decode(),
    ]


def test_canaries_never_leak(smtpcheck_lab, module_runner):
    lab = smtpcheck_lab
    token = lab.app_token(client_id=CANARY_APP_ID, client_secret=CANARY_SECRET)
    subject = "canary %s" % uuid.uuid4().hex[:8]
    endpoint = [{"name": "submission", "host": "localhost", "port": lab.ports["submission"]}]
    common = {"endpoints": endpoint, "ca_path": lab.ca_file, "timeout": 5}
    tasks = [
        {"name": "password", "mailfleet.outlook.smtp_check": dict(common, auth={
            "username": "canary@contoso.test", "password": "{{ canary_password }}"},
            send={"recipients": ["bob@contoso.test"], "subject": subject + " password"})},
        {"name": "wrong password", "mailfleet.outlook.smtp_check": dict(common, fail_on_error=False, auth={
            "username": "alice@contoso.test", "password": "{{ canary_password }}"})},
        {"name": "token", "mailfleet.outlook.smtp_check": dict(common, auth={
            "username": "canary@contoso.test", "oauth2_token": "{{ canary_token }}"},
            send={"recipients": ["bob@contoso.test"], "subject": subject + " token"})},
        {"name": "client credentials", "mailfleet.outlook.smtp_check": dict(common, auth={
            "username": "canary@contoso.test", "oauth2": {
                "client_id": CANARY_APP_ID, "client_secret": "{{ canary_secret }}", "token_url": lab.token_url}})},
        {"name": "wrong token", "mailfleet.outlook.smtp_check": dict(common, fail_on_error=False, auth={
            "username": "bob@contoso.test", "oauth2_token": "{{ canary_token }}"})},
    ]
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": tasks}]
    run = module_runner.playbook(play, verbosity=3, timeout=180, extra_vars={
        "canary_password": CANARY_PASSWORD, "canary_token": token, "canary_secret": CANARY_SECRET})
    run.assert_ok()
    # the runs did what they should (so the canaries really went over the wire)
    assert run.result(task="password")["endpoints"][0]["stage"] == "send"
    assert run.result(task="wrong password")["endpoints"][0]["diagnosis"]["code"] == "bad_credentials"
    assert run.result(task="token")["endpoints"][0]["auth_mechanism"] == "XOAUTH2"
    assert run.result(task="client credentials")["endpoints"][0]["stage"] == "auth"
    assert run.result(task="wrong token")["endpoints"][0]["diagnosis"]["code"] == "auth_failed"
    assert "<localhost> EXEC" in run.stdout or "ESTABLISH LOCAL CONNECTION" in run.stdout  # really -vvv

    messages = lab.wait_for_messages(2, timeout=10)
    arrived = [m for m in messages if m.get("subject", "").startswith(subject)]
    assert len(arrived) == 2
    haystacks = {
        "ansible output and results": run.all_output(),
        "stored messages": repr(arrived),
        "lab log": lab.log_text(),
    }
    users = ("canary@contoso.test", "alice@contoso.test", "bob@contoso.test")
    for name, secret in (("password", CANARY_PASSWORD), ("token", token), ("client secret", CANARY_SECRET)):
        forms = [form for user in users for form in _forms(secret, user)]
        for where, text in haystacks.items():
            for form in forms:
                assert form not in text, "%s (%s...) found in %s" % (name, form[:12], where)
