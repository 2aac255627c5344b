# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab's submission endpoint behaves like smtp.office365.com:587 (tested with smtplib)."""

import smtplib
import ssl
import time
import uuid
import warnings

import pytest

from mailfleet_lab.pytest_plugin import xoauth2_string

pytestmark = pytest.mark.timeout(60)

TEXT_TENANT_OFF = ("535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. "
                   "Visit https://aka.ms/smtp_auth_disabled")
TEXT_MAILBOX_OFF = ("535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox. "
                    "Visit https://aka.ms/smtp_auth_disabled")
TEXT_POLICY = ("535 5.7.139 Authentication unsuccessful, the request did not meet the criteria to be authenticated "
               "successfully. Contact your administrator.")
TEXT_SECDEF = "535 5.7.139 Authentication unsuccessful, user is locked by your organization's security defaults policy."
TEXT_NOBASIC = "535 5.7.139 Authentication unsuccessful, basic authentication is disabled."
TEXT_BADPASS = "535 5.7.139 Authentication unsuccessful, the user credentials were incorrect."
TEXT_REMOVED = "550 5.7.30 Basic authentication is not supported for Client Submission."
TEXT_BADTOKEN = "535 5.7.3 Authentication unsuccessful"


def legacy_client_context(lab):
    """A client that speaks only TLS 1.0 / 1.1 (SECLEVEL=0, as OpenSSL 3 needs)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(lab.ca_file)
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    return ctx


def reply(code, text):
    return "%d %s" % (code, text.decode("utf-8"))


def message(sender, subject, to="someone@example.org"):
    return "From: %s\r\nTo: %s\r\nSubject: %s\r\n\r\nlab test body\r\n" % (sender, to, subject)


def test_before_starttls_no_auth_and_mail_refused(lab):
    client = smtplib.SMTP(lab.host, lab.ports["submission"], timeout=10)
    try:
        code = client.ehlo()[0]
        assert code == 250
        assert client.has_extn("starttls")
        assert not client.has_extn("auth")
        assert reply(*client.docmd("AUTH", "LOGIN")).startswith("504 5.7.4 ")
        assert reply(*client.docmd("MAIL", "FROM:<alice@contoso.test>")).startswith(
            "530 5.7.57 Client not authenticated to send mail")
    finally:
        client.close()


def test_after_starttls_auth_login_xoauth2_and_mail_before_auth_refused(lab):
    with lab.smtp() as client:
        assert client.esmtp_features["auth"].split() == ["LOGIN", "XOAUTH2"]
        assert not client.has_extn("starttls")
        assert client.sock.version() in ("TLSv1.2", "TLSv1.3")
        assert reply(*client.docmd("MAIL", "FROM:<alice@contoso.test>")).startswith(
            "530 5.7.57 Client not authenticated to send anonymous mail during MAIL FROM")


def test_tls_below_1_2_refused_on_submission(lab):
    ctx = legacy_client_context(lab)
    client = smtplib.SMTP(lab.host, lab.ports["submission"], timeout=10)
    try:
        client.ehlo()
        with pytest.raises((ssl.SSLError, smtplib.SMTPServerDisconnected, ConnectionError)):
            client.starttls(context=ctx)
    finally:
        client.close()


def test_login_ok_and_message_stored(lab):
    subject = "lab-ok-%s" % uuid.uuid4()
    with lab.smtp() as client:
        code, text = client.login("alice@contoso.test", "alice-lab-password")
        assert (code, text) == (235, b"2.7.0 Authentication successful")
        refused = client.sendmail("alice@contoso.test", ["someone@example.org", "bob@contoso.test"],
                                  message("Alice <alice@contoso.test>", subject))
        assert refused == {}
    (stored,) = lab.wait_for_messages(subject=subject)
    assert stored["endpoint"] == "submission"
    assert stored["user"] == "alice@contoso.test"
    assert stored["auth_mechanism"] == "LOGIN"
    assert stored["app"] is None
    assert stored["mail_from"] == "alice@contoso.test"
    assert stored["rcpt_tos"] == ["someone@example.org", "bob@contoso.test"]
    assert stored["header_from"] == ["alice@contoso.test"]
    assert stored["tls_version"] in ("TLSv1.2", "TLSv1.3")
    assert stored["peer"][0] == "127.0.0.1"
    assert "lab test body" in stored["data"]


@pytest.mark.parametrize("user, password, expected", [
    ("alice@contoso.test", "not-the-password", TEXT_BADPASS),
    ("nobody@contoso.test", "whatever", TEXT_BADPASS),
    ("smtpoff@contoso.test", "smtpoff-lab-password", TEXT_MAILBOX_OFF),
    ("policy@contoso.test", "policy-lab-password", TEXT_POLICY),
    ("secdefaults@contoso.test", "secdefaults-lab-password", TEXT_SECDEF),
    ("nobasic@contoso.test", "nobasic-lab-password", TEXT_NOBASIC),
    ("basicremoved@contoso.test", "basicremoved-lab-password", TEXT_REMOVED),
])
def test_mailbox_switches_answer_microsoft_texts(lab, user, password, expected):
    with lab.smtp() as client:
        with pytest.raises(smtplib.SMTPAuthenticationError) as raised:
            client.login(user, password)
        assert reply(raised.value.smtp_code, raised.value.smtp_error).startswith(expected)


@pytest.mark.parametrize("envelope, header_from, bad", [
    ("bob@contoso.test", "alice@contoso.test", "bob@contoso.test"),
    ("alice@contoso.test", "Bob <bob@contoso.test>", "bob@contoso.test"),
])
def test_send_as_denied(lab, envelope, header_from, bad):
    subject = "lab-sendas-%s" % uuid.uuid4()
    with lab.smtp() as client:
        client.login("alice@contoso.test", "alice-lab-password")
        with pytest.raises(smtplib.SMTPDataError) as raised:
            client.sendmail(envelope, ["someone@example.org"], message(header_from, subject))
        assert reply(raised.value.smtp_code, raised.value.smtp_error).startswith(
            "554 5.2.252 SendAsDenied; alice@contoso.test not allowed to send as %s" % bad)
    assert not lab.messages(subject=subject)


def test_send_as_granted(lab):
    subject = "lab-sendas-ok-%s" % uuid.uuid4()
    with lab.smtp() as client:
        client.login("relay@contoso.test", "relay-lab-password")
        client.sendmail("noreply@contoso.test", ["someone@example.org"], message("noreply@contoso.test", subject))
    (stored,) = lab.wait_for_messages(subject=subject)
    assert stored["user"] == "relay@contoso.test"
    assert stored["mail_from"] == "noreply@contoso.test"


def test_xoauth2_app_token(lab):
    token = lab.app_token()
    subject = "lab-xoauth2-%s" % uuid.uuid4()
    with lab.smtp() as client:
        assert reply(*client.docmd("AUTH", "XOAUTH2 " + xoauth2_string("relay@contoso.test", token))) == (
            "235 2.7.0 Authentication successful")
        client.sendmail("noreply@contoso.test", ["someone@example.org"], message("noreply@contoso.test", subject))
    (stored,) = lab.wait_for_messages(subject=subject)
    assert stored["auth_mechanism"] == "XOAUTH2"
    assert stored["app"] == "11111111-1111-4111-8111-111111111111"


def test_xoauth2_without_initial_response(lab):
    token = lab.app_token()
    with lab.smtp() as client:
        code = client.docmd("AUTH", "XOAUTH2")[0]
        assert code == 334
        assert reply(*client.docmd(xoauth2_string("alice@contoso.test", token))).startswith("235 2.7.0")


@pytest.mark.parametrize("user, token_kind", [
    ("alice@contoso.test", "garbage"),
    ("alice@contoso.test", "tampered"),
    ("bob@contoso.test", "good"),           # the app may not send as bob
    ("policy@contoso.test", "good"),
])
def test_xoauth2_refused(lab, user, token_kind):
    token = {"garbage": "not-a-token", "good": lab.app_token()}.get(token_kind)
    if token_kind == "tampered":
        token = lab.app_token()[:-3] + "AAA"
    with lab.smtp() as client:
        assert reply(*client.docmd("AUTH", "XOAUTH2 " + xoauth2_string(user, token))).startswith(TEXT_BADTOKEN)


def test_xoauth2_smtp_auth_disabled_mailbox(lab):
    with lab.smtp() as client:
        text = reply(*client.docmd("AUTH", "XOAUTH2 " + xoauth2_string("smtpoff@contoso.test", lab.app_token())))
        assert text.startswith(TEXT_MAILBOX_OFF)


def test_xoauth2_expired_token(lab_factory):
    lab = lab_factory({"token": {"lifetime": 1}})
    token = lab.app_token()
    time.sleep(1.5)
    with lab.smtp() as client:
        assert reply(*client.docmd("AUTH", "XOAUTH2 " + xoauth2_string("alice@contoso.test", token))).startswith(
            TEXT_BADTOKEN)


@pytest.mark.parametrize("switch, expected", [
    ("smtp_auth_disabled", TEXT_TENANT_OFF),
    ("security_defaults", TEXT_SECDEF),
    ("basic_auth_removed", TEXT_REMOVED),
])
def test_tenant_switches(lab_factory, switch, expected):
    lab = lab_factory({"tenant": {switch: True}})
    with lab.smtp() as client:
        with pytest.raises(smtplib.SMTPAuthenticationError) as raised:
            client.login("alice@contoso.test", "alice-lab-password")
        assert reply(raised.value.smtp_code, raised.value.smtp_error).startswith(expected)


def test_tenant_smtp_auth_disabled_blocks_xoauth2_too(lab_factory):
    lab = lab_factory({"tenant": {"smtp_auth_disabled": True}})
    with lab.smtp() as client:
        text = reply(*client.docmd("AUTH", "XOAUTH2 " + xoauth2_string("alice@contoso.test", lab.app_token())))
        assert text.startswith(TEXT_TENANT_OFF)


def test_rate_limit_and_live_change(lab_factory):
    lab = lab_factory({"rate_limit": {"messages": 3, "window_seconds": 60}})
    with lab.smtp() as client:
        client.login("alice@contoso.test", "alice-lab-password")
        for index in range(3):
            client.sendmail("alice@contoso.test", ["x@example.org"], message("alice@contoso.test", "rate-%d" % index))
        with pytest.raises(smtplib.SMTPSenderRefused) as raised:
            client.sendmail("alice@contoso.test", ["x@example.org"], message("alice@contoso.test", "rate-3"))
        assert reply(raised.value.smtp_code, raised.value.smtp_error).startswith(
            "451 4.7.500 Server busy. Please try again later from [127.0.0.1]. (S77719)")
        client.rset()
        lab.patch_config({"rate_limit": {"messages": 5}})
        client.sendmail("alice@contoso.test", ["x@example.org"], message("alice@contoso.test", "rate-4"))
    assert len(lab.messages(user="alice@contoso.test")) == 4
    lab.clear_messages()
    assert lab.messages() == []


def test_rate_limit_window_slides(lab_factory):
    lab = lab_factory({"rate_limit": {"messages": 1, "window_seconds": 1}})
    with lab.smtp() as client:
        client.login("alice@contoso.test", "alice-lab-password")
        client.sendmail("alice@contoso.test", ["x@example.org"], message("alice@contoso.test", "w1"))
        with pytest.raises(smtplib.SMTPSenderRefused):
            client.sendmail("alice@contoso.test", ["x@example.org"], message("alice@contoso.test", "w2"))
        client.rset()
        time.sleep(1.2)
        client.sendmail("alice@contoso.test", ["x@example.org"], message("alice@contoso.test", "w3"))
    assert [m["subject"] for m in lab.messages()] == ["w1", "w3"]


def test_live_account_switch(lab_factory):
    lab = lab_factory()
    lab.patch_config({"accounts": {"alice@contoso.test": {"policy": True}}})
    with lab.smtp() as client:
        with pytest.raises(smtplib.SMTPAuthenticationError) as raised:
            client.login("alice@contoso.test", "alice-lab-password")
        assert reply(raised.value.smtp_code, raised.value.smtp_error).startswith(TEXT_POLICY)
    lab.patch_config({"accounts": {"alice@contoso.test": {"policy": False}}})
    with lab.smtp() as client:
        assert client.login("alice@contoso.test", "alice-lab-password")[0] == 235


def test_mail_parameters_like_postfix_and_msmtp(lab):
    subject = "lab-params-%s" % uuid.uuid4()
    with lab.smtp() as client:
        client.login("alice@contoso.test", "alice-lab-password")
        assert client.docmd("MAIL", "FROM:<alice@contoso.test> SIZE=120 BODY=8BITMIME AUTH=<>")[0] == 250
        assert client.docmd("RCPT", "TO:<someone@example.org>")[0] == 250
        code, text = client.data(message("alice@contoso.test", subject))
        assert code == 250 and text.startswith(b"2.0.0 OK <")
    assert lab.wait_for_messages(subject=subject)


def test_auth_login_dialogue_like_exchange(lab):
    with lab.smtp() as client:
        assert client.docmd("AUTH", "LOGIN") == (334, b"VXNlcm5hbWU6")
        assert client.docmd("YWxpY2VAY29udG9zby50ZXN0") == (334, b"UGFzc3dvcmQ6")
        assert reply(*client.docmd("YWxpY2UtbGFiLXBhc3N3b3Jk")) == "235 2.7.0 Authentication successful"


def test_send_as_checked_at_mail_from(lab_factory):
    lab = lab_factory({"tenant": {"send_as_check": "mail"}})
    with lab.smtp() as client:
        client.login("alice@contoso.test", "alice-lab-password")
        with pytest.raises(smtplib.SMTPSenderRefused) as raised:
            client.sendmail("bob@contoso.test", ["x@example.org"], message("bob@contoso.test", "mail-check"))
        assert reply(raised.value.smtp_code, raised.value.smtp_error).startswith(
            "550 5.7.60 SMTP; Client does not have permissions to send as this sender")
        client.rset()
        with pytest.raises(smtplib.SMTPDataError) as raised:
            client.sendmail("alice@contoso.test", ["x@example.org"], message("bob@contoso.test", "header-check"))
        assert raised.value.smtp_code == 554


def test_blocked_ip_blocked_sender_and_recipient_quota(lab_factory):
    lab = lab_factory({"blocked_client_ips": ["127.0.0.3"], "rate_limit": {"recipients_per_day": 3},
                       "accounts": {"bob@contoso.test": {"blocked_sender": True}}})
    client = smtplib.SMTP(lab.host, lab.ports["submission"], timeout=10, source_address=("127.0.0.3", 0))
    try:
        client.starttls(context=lab.ssl_context())
        client.ehlo()
        client.login("alice@contoso.test", "alice-lab-password")
        assert reply(*client.docmd("MAIL", "FROM:<alice@contoso.test>")).startswith(
            "550 5.7.708 Access denied, traffic not accepted from this IP")
    finally:
        client.close()
    with lab.smtp() as client:
        client.login("bob@contoso.test", "bob-lab-password")
        assert reply(*client.docmd("MAIL", "FROM:<bob@contoso.test>")).startswith(
            "550 5.1.8 Access denied, bad outbound sender")
    with lab.smtp() as client:
        client.login("alice@contoso.test", "alice-lab-password")
        client.sendmail("alice@contoso.test", ["a@example.org", "b@example.org"], message("alice@contoso.test", "q1"))
        client.mail("alice@contoso.test")
        assert client.rcpt("c@example.org")[0] == 250
        code, text = client.rcpt("d@example.org")
        assert reply(code, text).startswith("554 5.2.2 Submission quota exceeded")
