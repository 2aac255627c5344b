"""mailfleet-xoauth2 (plugins/module_utils/_xoauth2_relay.py) against the lab: Postfix's side is a socketpair
driven with LMTP by hand, the upstream is the lab's submission listener and token endpoint on loopback.

Each test shows one row of the failure table: what Postfix gets (a 421 greeting = deferred, a 5xx = bounced, the
upstream's reply passed through) and what it means for the mail.
"""

import json
import os
import socket
import threading
import time

import pytest

from ansible_collections.mailfleet.outlook.plugins.module_utils import _xoauth2_relay as relay
from mailfleet_lab.config import APP_CLIENT_ID, APP_SECRET

pytestmark = [pytest.mark.timeout(60), pytest.mark.core_independent]

SCOPE = "https://outlook.office365.com/.default"


@pytest.fixture(scope="module")
def relay_lab(tmp_path_factory):
    from mailfleet_lab.pytest_plugin import LabHandle  # pylint: disable=import-outside-toplevel
    handle = LabHandle(state_dir=str(tmp_path_factory.mktemp("relay-lab")), any_ports=True).start()
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture
def lab(relay_lab):
    relay_lab.patch_config({"token": {"fault": None, "lifetime": 3600},
                            "rate_limit": {"messages": 30, "window_seconds": 60, "recipients_per_day": 10000}})
    relay_lab.listener_up("token")
    relay_lab.listener_up("submission")
    relay_lab.clear_messages()
    relay_lab.reset_stats()
    return relay_lab


def make_cfg(lab, tmp_path, **extra):
    cfg = {"host": lab.host, "port": lab.ports["submission"], "security": "starttls", "ca_file": lab.ca_file,
           "username": "alice@contoso.test", "token_url": lab.token_url, "client_id": APP_CLIENT_ID,
           "client_secret": APP_SECRET, "scope": SCOPE, "cache": str(tmp_path / "token.json"),
           "state": str(tmp_path / "refused.json"), "auth_failure_defer": 3600, "token_timeout": 3,
           "connect_timeout": 5, "helo": "relay.test"}
    cfg.update(extra)
    path = tmp_path / "xoauth2.json"
    path.write_text(json.dumps(cfg))
    return relay.load_config(str(path))


class Postfix:
    """The LMTP client side: talks to one relay Session running in a thread."""

    def __init__(self, cfg, clock=time.time):
        ours, theirs = socket.socketpair()
        ours.settimeout(30)
        self.sock = ours
        self.r = ours.makefile("rb")
        self.thread = threading.Thread(target=self._serve, args=(cfg, theirs, clock), daemon=True)
        self.thread.start()
        self.greeting = self.reply()

    @staticmethod
    def _serve(cfg, sock, clock):
        try:
            relay.Session(cfg, sock.makefile("rb"), sock.makefile("wb"), clock=clock).run()
        finally:
            sock.close()

    def reply(self):
        lines = []
        while True:
            line = self.r.readline().decode("utf-8")
            assert line, "the relay closed the connection"
            lines.append(line.rstrip("\r\n"))
            if line[3:4] != "-":
                return int(line[:3]), "\n".join(item[4:] for item in lines)

    def cmd(self, line):
        self.sock.sendall(line.encode("utf-8") + b"\r\n")
        return self.reply()

    def data(self, payload, recipients):
        code, text = self.cmd("DATA")
        assert code == 354, text
        self.sock.sendall(payload + b".\r\n")
        return [self.reply() for dummy in range(recipients)]

    def close(self):
        try:
            self.cmd("QUIT")
        except (AssertionError, OSError):
            pass
        self.sock.close()
        self.thread.join(10)


def stuffed(text):
    """What Postfix sends for a message: CRLF lines, a leading dot doubled."""
    out = []
    for line in text.split("\n"):
        out.append(("." + line) if line.startswith(".") else line)
    return ("\r\n".join(out) + "\r\n").encode("utf-8")


def test_delivers_with_xoauth2_per_recipient_replies_and_exact_bytes(lab, tmp_path):
    cfg = make_cfg(lab, tmp_path)
    body = ("From: alice@contoso.test\nTo: bob@contoso.test\nSubject: relay-exact\nMIME-Version: 1.0\n"
            "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
            "Grüße aus Köln ✓\n.\n..two dots\n. one dot and space\nlast line")
    pf = Postfix(cfg)
    assert pf.greeting[0] == 220
    code, caps = pf.cmd("LHLO postfix.test")
    assert code == 250
    for cap in ("ENHANCEDSTATUSCODES", "8BITMIME", "SMTPUTF8", "SIZE 37748736"):
        assert cap in caps.split("\n"), caps
    assert "PIPELINING" not in caps and "AUTH" not in caps
    assert pf.cmd("MAIL FROM:<alice@contoso.test> BODY=8BITMIME")[0] == 250
    assert pf.cmd("RCPT TO:<bob@contoso.test>")[0] == 250
    assert pf.cmd("RCPT TO:<carol@example.test>")[0] == 250
    replies = pf.data(stuffed(body), 2)
    assert [r[0] for r in replies] == [250, 250] and replies[0][1].startswith("2.0.0 OK")
    pf.close()
    (msg,) = lab.wait_for_messages(1, subject="relay-exact")
    assert msg["auth_mechanism"] == "XOAUTH2" and msg["user"] == "alice@contoso.test" and msg["app"] == APP_CLIENT_ID
    assert msg["rcpt_tos"] == ["bob@contoso.test", "carol@example.test"]
    assert msg["data"].replace("\r\n", "\n").rstrip("\n") == body  # unstuffed by the lab: byte for byte
    assert msg["tls_version"] in ("TLSv1.2", "TLSv1.3")


def test_token_is_cached_and_shared_by_sessions(lab, tmp_path):
    cfg = make_cfg(lab, tmp_path)
    for index in range(3):
        pf = Postfix(cfg)
        assert pf.greeting[0] == 220
        pf.cmd("LHLO postfix.test")
        pf.cmd("MAIL FROM:<alice@contoso.test>")
        pf.cmd("RCPT TO:<bob@contoso.test>")
        assert pf.data(stuffed("Subject: cached-%d\n\nhi" % index), 1)[0][0] == 250
        pf.close()
    assert lab.stats()["issued"]["client_credentials"] == 1
    assert oct(os.stat(cfg["cache"]).st_mode & 0o777) == "0o600"
    assert APP_SECRET not in open(cfg["cache"]).read()


@pytest.mark.parametrize("fault, reason", [
    ("unavailable", "HTTP 503"),
    ("throttled", "HTTP 429"),
    ("AADSTS50196", "AADSTS50196"),
    ("AADSTS90033", "AADSTS90033"),
    ("slow", "no answer within 3s"),
])
def test_token_endpoint_faults_defer_with_the_reason(lab, tmp_path, fault, reason):
    lab.token_fault(fault, fault_delay=6)
    cfg = make_cfg(lab, tmp_path)
    pf = Postfix(cfg)
    code, text = pf.greeting
    assert code == 421 and text.startswith("4.7.0 mailfleet-xoauth2: no OAuth2 token") and reason in text, text
    assert not os.path.exists(cfg["state"]), "a temporary failure must not start the credential bound"
    assert APP_SECRET not in text


def test_token_endpoint_refusing_connections_defers(lab, tmp_path):
    lab.listener_down("token")
    pf = Postfix(make_cfg(lab, tmp_path))
    assert pf.greeting[0] == 421 and "Cannot reach the token endpoint" in pf.greeting[1], pf.greeting


@pytest.mark.parametrize("memory", [0, 10])
def test_a_temporary_token_failure_is_remembered_for_token_failure_memory(lab, tmp_path, memory):
    lab.token_fault("unavailable")
    now = [1000000.0]
    cfg = make_cfg(lab, tmp_path, token_failure_memory=memory)
    greetings = []
    for step in (0, 5, 6):   # at 0 s, 5 s and 11 s after the first failure
        now[0] += step
        pf = Postfix(cfg, clock=lambda: now[0])
        greetings.append(pf.greeting)
        pf.close()
    asked = lab.stats()["requests"]
    assert all(code == 421 and "no OAuth2 token" in text for code, text in greetings), greetings
    if memory:
        assert asked == 2, "asked at 0 s and after the %d s memory (11 s), not at 5 s: %d" % (memory, asked)
        assert "the same answer 5s ago" in greetings[1][1], greetings[1]
    else:
        assert asked == 3, "token_failure_memory 0 asks every time: %d" % asked
        assert not any("the same answer" in text for dummy, text in greetings), greetings


def test_submission_host_down_defers(lab, tmp_path):
    lab.listener_down("submission")
    pf = Postfix(make_cfg(lab, tmp_path))
    assert pf.greeting[0] == 421 and pf.greeting[1].startswith("4.4.1 mailfleet-xoauth2: cannot connect"), pf.greeting


def test_wrong_secret_defers_for_the_bound_then_bounces_with_microsofts_text(lab, tmp_path):
    cfg = make_cfg(lab, tmp_path, client_secret="Canary-Wrong-Secret-77", auth_failure_defer=600)
    pf = Postfix(cfg)
    code, text = pf.greeting
    assert code == 421 and "credentials refused since" in text and "AADSTS7000215" in text, text
    assert "Canary-Wrong-Secret-77" not in text
    since = json.load(open(cfg["state"]))["since"]
    # later, still refused: still deferred while within the bound
    assert Postfix(cfg, clock=lambda: since + 300).greeting[0] == 421
    # past the bound: the session opens and the mail is refused (5xx = Postfix bounces) with Microsoft's answer
    late = Postfix(cfg, clock=lambda: since + 601)
    assert late.greeting[0] == 220
    late.cmd("LHLO postfix.test")
    code, text = late.cmd("MAIL FROM:<alice@contoso.test>")
    assert 500 <= code < 600 and "longer than auth_failure_defer" in text and "AADSTS7000215" in text, text
    late.close()
    # fixed credentials: the next session (after the 10 s a failed token request is remembered) works and
    # forgets the refusal
    good = Postfix(make_cfg(lab, tmp_path), clock=lambda: time.time() + 11)
    assert good.greeting[0] == 220 and not os.path.exists(cfg["state"])
    good.close()


def test_mailbox_the_app_may_not_use_retries_a_new_token_then_defers(lab, tmp_path):
    cfg = make_cfg(lab, tmp_path, username="bob@contoso.test", auth_failure_defer=60)
    pf = Postfix(cfg)
    code, text = pf.greeting
    assert code == 421 and "535 5.7.3 Authentication unsuccessful" in text, text
    assert lab.stats()["issued"]["client_credentials"] == 1  # the fresh token was not retried again
    since = json.load(open(cfg["state"]))["since"]
    late = Postfix(cfg, clock=lambda: since + 61)
    late.cmd("LHLO postfix.test")
    code, text = late.cmd("MAIL FROM:<bob@contoso.test>")
    assert code == 535 and "5.7.3 Authentication unsuccessful" in text.rsplit("\n", 1)[-1], text
    late.close()


def test_revoked_cached_token_is_replaced_once(lab, tmp_path):
    cfg = make_cfg(lab, tmp_path)
    Postfix(cfg).close()
    lab.admin("POST", "/tokens/revoke")
    pf = Postfix(cfg)
    assert pf.greeting[0] == 220, pf.greeting
    pf.close()
    assert lab.stats()["issued"]["client_credentials"] == 2


def test_send_as_denied_and_throttling_pass_through(lab, tmp_path):
    lab.patch_config({"rate_limit": {"messages": 1, "window_seconds": 60}})
    pf = Postfix(make_cfg(lab, tmp_path))
    pf.cmd("LHLO postfix.test")
    pf.cmd("MAIL FROM:<bob@contoso.test>")
    pf.cmd("RCPT TO:<carol@example.test>")
    (reply,) = pf.data(stuffed("From: bob@contoso.test\nSubject: sendas\n\nx"), 1)
    assert reply[0] == 554 and reply[1].startswith("5.2.252 SendAsDenied; alice@contoso.test not allowed"), reply
    assert pf.cmd("RSET")[0] == 250
    pf.cmd("MAIL FROM:<alice@contoso.test>")
    pf.cmd("RCPT TO:<carol@example.test>")
    assert pf.data(stuffed("Subject: first\n\nx"), 1)[0][0] == 250
    code, text = pf.cmd("MAIL FROM:<alice@contoso.test>")
    assert code == 451 and text.startswith("4.7.500 Server busy"), text
    pf.close()


def test_each_recipient_keeps_its_own_status(lab, tmp_path):
    lab.patch_config({"rate_limit": {"recipients_per_day": 1}})
    pf = Postfix(make_cfg(lab, tmp_path))
    pf.cmd("LHLO postfix.test")
    pf.cmd("MAIL FROM:<alice@contoso.test>")
    assert pf.cmd("RCPT TO:<bob@contoso.test>")[0] == 250
    code, text = pf.cmd("RCPT TO:<carol@example.test>")
    assert code == 554 and "5.2.2 Submission quota exceeded" in text
    replies = pf.data(stuffed("Subject: one-of-two\n\nx"), 1)
    assert replies[0][0] == 250
    assert pf.cmd("NOOP")[0] == 250  # exactly one reply after DATA: the next line answers NOOP
    pf.close()


def test_certificate_credential(lab, tmp_path):
    cert = lab.app_certs[APP_CLIENT_ID]
    cfg = make_cfg(lab, tmp_path, client_secret=None, client_certificate=cert["cert"], client_key=cert["key"])
    pf = Postfix(cfg)
    assert pf.greeting[0] == 220, pf.greeting
    pf.close()
    assert "client_credentials for client_id=%s (certificate)" % APP_CLIENT_ID in lab.log_text()


def test_bad_configuration_defers(tmp_path):
    path = tmp_path / "xoauth2.json"
    path.write_text("{}")
    with pytest.raises(ValueError, match="host is missing"):
        relay.load_config(str(path))


def test_upstream_lost_during_the_session_defers(lab, tmp_path):
    pf = Postfix(make_cfg(lab, tmp_path))
    pf.cmd("LHLO postfix.test")
    lab.stop()
    try:
        code, text = pf.cmd("MAIL FROM:<alice@contoso.test>")
    finally:
        lab.start()
    assert code == 421 and "lost the connection" in text, (code, text)


def test_bounces_leave_as_the_relay_mailbox(lab, tmp_path):
    pf = Postfix(make_cfg(lab, tmp_path, null_sender="alice@contoso.test"))
    pf.cmd("LHLO postfix.test")
    assert pf.cmd("MAIL FROM:<> BODY=8BITMIME")[0] == 250
    pf.cmd("RCPT TO:<alice@contoso.test>")
    assert pf.data(stuffed("From: alice@contoso.test\nSubject: a-bounce\n\nundeliverable"), 1)[0][0] == 250
    pf.close()
    (msg,) = lab.wait_for_messages(1, subject="a-bounce")
    assert msg["mail_from"] == "alice@contoso.test"
