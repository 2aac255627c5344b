"""IMAP and POP logins of the probe (_probe/mailbox.py) against in-test servers: every login form, every refusal."""

import base64

import pytest

import smtpcheck_fakes as fakes
from ansible_collections.mailfleet.outlook.plugins.module_utils._probe import engine as probe
from ansible_collections.mailfleet.outlook.plugins.module_utils._probe import sasl
from ansible_collections.mailfleet.outlook.plugins.module_utils._probe import mailbox

pytestmark = [pytest.mark.timeout(60), pytest.mark.core_independent]

CANARY_PASSWORD = 'Canary-Mbx-"q\\uo"te-9e1f'
CANARY_TOKEN = "eyJ0eXAiOiJKV1QiLCJtYngiOiJjYW5hcnkifQ.mailbox-canary-token"
USER = "scanner@contoso.test"


def run(server, protocol, auth, security="tls", **options):
    options.setdefault("timeout", 5)
    options.setdefault("ehlo_name", "probe.example.test")
    ep = {"name": "t", "host": "localhost", "port": server.port, "security": security, "protocol": protocol}
    return probe.probe_endpoints([ep], dict(options, auth=dict(auth, username=auth.get("username", USER))))[0]


def code(result):
    return result["diagnosis"]["code"]


def assert_clean(result):
    text = repr(result)
    for secret in (CANARY_PASSWORD, CANARY_TOKEN, sasl.xoauth2_string(USER, CANARY_TOKEN)):
        assert secret not in text


# ----------------------------------------------------------------------------- IMAP

def test_imap_login_then_examine(fake, certs):
    server = fake(fakes.imap_server(certs.good, answers={
        "LOGIN": "OK LOGIN completed.",
        "EXAMINE": ["* 3 EXISTS", "* 0 RECENT", "* OK [UIDVALIDITY 14] UIDVALIDITY value",
                    "OK [READ-ONLY] EXAMINE completed."]}))
    res = run(server, "imap", {"password": "plain-pass", "open_mailbox": True}, ca_path=certs.ca_file)
    assert res["ok"], res["diagnosis"]
    assert res["stage"] == "mailbox" and res["auth_mechanism"] == "LOGIN"
    assert res["mailbox"] == {"name": "INBOX", "messages": 3, "read_only": True}
    assert {"auth", "mailbox"} <= set(res["timings_ms"])
    assert 'L1 LOGIN "%s" "plain-pass"' % USER in server.log
    assert "L2 EXAMINE INBOX" in server.log


def test_imap_login_quotes_and_scrubs_the_escaped_password(fake, certs):
    server = fake(fakes.imap_server(certs.good, answers={"LOGIN": lambda args: "NO LOGIN failed. (you said %s)" % args}))
    res = run(server, "imap", {"password": CANARY_PASSWORD}, ca_path=certs.ca_file)
    escaped = '"%s"' % CANARY_PASSWORD.replace("\\", "\\\\").replace('"', '\\"')
    assert any(line.endswith(escaped) for line in server.log)
    assert code(res) == "mailbox_login_refused" and res["failed_stage"] == "auth"
    assert_clean(res)
    assert escaped not in repr(res)


def test_imap_login_sends_a_literal_for_non_ascii(fake, certs):
    server = fake(fakes.imap_server(certs.good, answers={"LOGIN": "OK LOGIN completed."}))
    res = run(server, "imap", {"password": "pässwörd"}, ca_path=certs.ca_file)
    assert res["ok"], res["diagnosis"]
    assert 'L1 LOGIN "%s" "<literal pässwörd>"' % USER in server.log


def test_imap_xoauth2_with_sasl_ir(fake, certs):
    server = fake(fakes.imap_server(certs.good, answers={"AUTHENTICATE": "OK AUTHENTICATE completed."}))
    res = run(server, "imap", {"oauth2_token": CANARY_TOKEN}, ca_path=certs.ca_file)
    assert res["ok"] and res["auth_mechanism"] == "XOAUTH2"
    assert "L1 AUTHENTICATE XOAUTH2 %s" % sasl.xoauth2_string(USER, CANARY_TOKEN) in server.log
    assert_clean(res)


def test_imap_xoauth2_after_a_continuation_without_sasl_ir(fake, certs):
    server = fake(fakes.imap_server(certs.good, sasl_ir=False, answers={"AUTHENTICATE": "OK AUTHENTICATE completed."}))
    res = run(server, "imap", {"oauth2_token": CANARY_TOKEN}, ca_path=certs.ca_file)
    assert res["ok"], res["diagnosis"]
    assert "L1 AUTHENTICATE XOAUTH2" in server.log
    assert sasl.xoauth2_string(USER, CANARY_TOKEN) in server.log


def test_imap_xoauth2_refused_with_an_error_challenge(fake, certs):
    challenge = base64.b64encode(b'{"status":"401","schemes":"bearer"}').decode()
    server = fake(fakes.imap_server(certs.good, answers={"AUTHENTICATE": ["+ " + challenge, "NO AUTHENTICATE failed."]}))
    res = run(server, "imap", {"oauth2_token": CANARY_TOKEN}, ca_path=certs.ca_file)
    assert code(res) == "auth_failed"
    assert "status=401" in res["diagnosis"]["message"]
    assert "IMAP.AccessAsApp" in res["diagnosis"]["hint"] and "-ImapEnabled" in res["diagnosis"]["hint"]
    assert res["reply"]["text"] == "NO AUTHENTICATE failed."
    assert "" in server.log  # the client answered the error challenge with an empty line


def test_imap_examine_not_connected(fake, certs):
    server = fake(fakes.imap_server(certs.good, answers={
        "AUTHENTICATE": "OK AUTHENTICATE completed.", "EXAMINE": "BAD User is authenticated but not connected."}))
    res = run(server, "imap", {"oauth2_token": CANARY_TOKEN, "open_mailbox": True}, ca_path=certs.ca_file)
    assert code(res) == "mailbox_not_connected"
    assert res["stage"] == "auth" and res["failed_stage"] == "mailbox"
    assert "Add-MailboxPermission" in res["diagnosis"]["hint"]


def test_imap_xoauth2_not_offered(fake, certs):
    def handler(conn):
        conn.start_tls(certs.good)
        conn.reply("* OK IMAP4rev1 ready")
        while True:
            tag, _sp, rest = conn.line().partition(" ")
            if rest.upper() == "CAPABILITY":
                conn.reply("* CAPABILITY IMAP4rev1 AUTH=PLAIN")
                conn.reply(tag + " OK done")
            else:
                conn.reply(tag + " OK bye")
                return

    res = run(fake(handler), "imap", {"oauth2_token": CANARY_TOKEN}, ca_path=certs.ca_file)
    assert code(res) == "auth_not_offered" and "PLAIN" in res["diagnosis"]["message"]


def test_imap_logindisabled_refuses_the_password(fake, certs):
    server = fake(fakes.imap_server(certs.good, implicit_tls=False, starttls=True))
    res = run(server, "imap", {"password": "x-password", "allow_plaintext": True}, security="none")
    assert code(res) == "auth_not_offered" and "LOGINDISABLED" in res["diagnosis"]["message"]
    assert not any("LOGIN" in line and "x-password" in line for line in server.log)


def test_imap_bye_during_login_is_connection_closed(fake, certs):
    server = fake(fakes.imap_server(certs.good, answers={"LOGIN": "OK"}))
    server.handler = lambda conn: (conn.start_tls(certs.good), conn.reply("* OK ready"), conn.line(),
                                   conn.reply("* CAPABILITY IMAP4rev1 AUTH=XOAUTH2"), conn.reply("A1 OK done"),
                                   conn.line(), conn.reply("* BYE Connection closed. 14"))
    res = run(server, "imap", {"password": "x-password"}, ca_path=certs.ca_file)
    assert code(res) == "connection_closed"


# ----------------------------------------------------------------------------- POP

def test_pop_user_pass_then_stat(fake, certs):
    answers = {"USER": "+OK", "PASS": "+OK User successfully authenticated.", "STAT": "+OK 2 2048"}
    server = fake(fakes.pop_server(certs.good, answers=answers))
    res = run(server, "pop", {"password": CANARY_PASSWORD, "open_mailbox": True}, ca_path=certs.ca_file)
    assert res["ok"], res["diagnosis"]
    assert res["auth_mechanism"] == "USER" and res["mailbox"] == {"messages": 2, "octets": 2048}
    assert "USER %s" % USER in server.log and "STAT" in server.log
    assert_clean(res)


def test_pop_logon_failure(fake, certs):
    server = fake(fakes.pop_server(certs.good, answers={
        "USER": "+OK", "PASS": "-ERR Logon failure: unknown user name or bad password."}))
    res = run(server, "pop", {"password": CANARY_PASSWORD}, ca_path=certs.ca_file)
    assert code(res) == "mailbox_login_refused"
    assert "retired Basic auth" in res["diagnosis"]["hint"]
    assert res["reply"]["text"] == "Logon failure: unknown user name or bad password."
    assert_clean(res)


def test_pop_password_with_a_line_break_is_never_sent(fake, certs):
    server = fake(fakes.pop_server(certs.good, answers={"USER": "+OK", "PASS": "+OK"}))
    res = run(server, "pop", {"password": "line\r\nDELE 1"}, ca_path=certs.ca_file)
    assert code(res) == "auth_failed" and "control characters" in res["diagnosis"]["message"]
    assert not any(line.startswith(("PASS", "DELE")) for line in server.log)


def test_pop_xoauth2_two_steps(fake, certs):
    answers = {"AUTH": "+OK User successfully authenticated.", "STAT": "+OK 0 0"}
    server = fake(fakes.pop_server(certs.good, answers=answers))
    res = run(server, "pop", {"oauth2_token": CANARY_TOKEN, "open_mailbox": True}, ca_path=certs.ca_file)
    assert res["ok"] and res["auth_mechanism"] == "XOAUTH2" and res["mailbox"]["messages"] == 0
    assert "AUTH XOAUTH2" in server.log and sasl.xoauth2_string(USER, CANARY_TOKEN) in server.log
    assert_clean(res)


def test_pop_xoauth2_refused(fake, certs):
    server = fake(fakes.pop_server(certs.good, answers={
        "AUTH": "-ERR Authentication failure: unknown user name or bad password."}))
    res = run(server, "pop", {"oauth2_token": CANARY_TOKEN}, ca_path=certs.ca_file)
    assert code(res) == "auth_failed" and "POP.AccessAsApp" in res["diagnosis"]["hint"]
    assert "-PopEnabled" in res["diagnosis"]["hint"]


def test_pop_stat_refused(fake, certs):
    server = fake(fakes.pop_server(certs.good, answers={"AUTH": "+OK", "STAT": "-ERR Mailbox is locked."}))
    res = run(server, "pop", {"oauth2_token": CANARY_TOKEN, "open_mailbox": True}, ca_path=certs.ca_file)
    assert code(res) == "mailbox_not_connected" and res["failed_stage"] == "mailbox"


def test_pop_without_capa_still_logs_in(fake, certs):
    server = fake(fakes.pop_server(certs.good, capa=False, answers={"USER": "+OK", "PASS": "+OK"}))
    res = run(server, "pop", {"password": "p-password"}, ca_path=certs.ca_file)
    assert res["ok"], res["diagnosis"]


# ----------------------------------------------------------------------------- rules shared with SMTP

def test_no_credentials_without_tls(fake, certs):
    server = fake(fakes.pop_server(None, implicit_tls=False, answers={"USER": "+OK", "PASS": "+OK"}))
    with pytest.raises(ValueError, match="plain text"):
        run(server, "pop", {"password": CANARY_PASSWORD}, security="none")
    res = probe.probe_endpoints([{"host": "localhost", "port": server.port, "security": "none", "protocol": "pop",
                                  "auth": False}], {"timeout": 5, "auth": {"username": USER, "password": "x-pw"}})[0]
    assert res["ok"] and res["stage"] == "ehlo" and "auth_mechanism" not in res
    assert not any(line.startswith(("USER", "PASS")) for line in server.log)


def test_token_error_is_reported_without_a_login(fake, certs):
    server = fake(fakes.imap_server(certs.good, answers={"AUTHENTICATE": "OK"}))
    res = run(server, "imap", {"token_error": "AADSTS7000215: Invalid client secret provided."}, ca_path=certs.ca_file)
    assert code(res) == "auth_failed" and "AADSTS7000215" in res["diagnosis"]["message"]
    assert not any("AUTHENTICATE" in line for line in server.log)


def test_imap_string_forms():
    assert mailbox._imap_string('a"b\\c') == ('"a\\"b\\\\c"', None)  # pylint: disable=protected-access
    assert mailbox._imap_string("é") == ("{2}", "é".encode("utf-8"))  # pylint: disable=protected-access
    assert mailbox._imap_string("tab\there")[1] == b"tab\there"  # pylint: disable=protected-access
