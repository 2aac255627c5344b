# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Secrets and the probe (issue 10, section 3), against servers this test starts on loopback:

- the OAuth2 client never follows a redirect (a token endpoint answering 302/301/307/308 to a loopback
  "metadata" URL: that URL is never fetched, its body never becomes a token);
- the token request is inside the probe's one deadline (a token endpoint that drips one byte per 0.5 s, or never
  finishes its TLS handshake, cannot stretch a ``timeout: 2`` probe - measured);
- a hostile server reply cannot make the fleet report's report.xml unparseable (the real reachability role
  writes it; xmllint with the JUnit schema and ElementTree read it);
- a secret the server echoes back changed (case, percent-encoding, JSON, base64) appears in no output of a real
  ansible-playbook -vvv run, and the replies to AUTH are never shown verbatim.
"""

from __future__ import annotations

import base64
import json
import socket
import ssl
import sys
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET

import pytest

from mailfleet_testing import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "tests" / "unit" / "smtp_check"))
import smtpcheck_fakes as fakes  # noqa: E402  (shared fake servers of the smtp_check tests)

from ansible_collections.mailfleet.outlook.plugins.module_utils import _oauth2 as oauth2  # noqa: E402
from ansible_collections.mailfleet.outlook.plugins.module_utils._probe.engine import probe_endpoints  # noqa: E402
from ansible_collections.mailfleet.outlook.plugins.module_utils._probe.options import TokenSource  # noqa: E402

pytestmark = pytest.mark.timeout(120)

CLIENT_SECRET = "Canary-Client-Secret-4f2a9c"
LETTERS_PASSWORD = "CanaryLetterPasswordQwerty"   # a plain word: only redaction (not withholding) can hide its echo
MIXED_PASSWORD = "Canary-Pw/42+x=y&z"
XSD = str(REPO_ROOT / "tests" / "unit" / "report" / "junit.xsd")


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return fakes.Certs(tmp_path_factory.mktemp("security-ca"))


class RawTLSServer:
    """Accepts TCP on 127.0.0.1, then runs ``handler(sock)`` in a thread per connection (``tls``: a server
    context to wrap the socket first). ``hits`` counts connections."""

    def __init__(self, handler, tls=None):
        self.handler, self.tls, self.hits = handler, tls, 0
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.lsock.settimeout(0.2)
        self.port = self.lsock.getsockname()[1]
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self._stop.is_set():
            try:
                sock, _addr = self.lsock.accept()
            except OSError:
                continue
            self.hits += 1
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock):
        sock.settimeout(30)
        try:
            if self.tls is not None:
                sock = self.tls.wrap_socket(sock, server_side=True)
            self.handler(sock)
        except (OSError, ssl.SSLError):
            pass
        finally:
            sock.close()

    def close(self):
        self._stop.set()
        self.lsock.close()


@pytest.fixture
def servers():
    started = []

    def start(handler, tls=None):
        server = RawTLSServer(handler, tls)
        started.append(server)
        return server

    yield start
    for server in started:
        server.close()


def read_request(sock):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            return data
        data += chunk
    head, _sep, body = data.partition(b"\r\n\r\n")
    length = int(([line.split(b":", 1)[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")]
                  or [b"0"])[0])
    while len(body) < length:
        body += sock.recv(4096)
    return head + b"\r\n\r\n" + body


def http_answer(status, body, headers=()):
    data = json.dumps(body).encode() if not isinstance(body, bytes) else body
    head = ["HTTP/1.1 %s" % status, "Content-Type: application/json", "Content-Length: %d" % len(data),
            "Connection: close"] + list(headers)
    return ("\r\n".join(head) + "\r\n\r\n").encode() + data


# ------------------------------------------------------------------------------------------------ redirects

@pytest.mark.parametrize("status", ["302 Found", "301 Moved Permanently", "307 Temporary Redirect", "308 Permanent Redirect"])
def test_the_token_client_never_follows_a_redirect(servers, certs, status):
    metadata = servers(lambda sock: (read_request(sock), sock.sendall(http_answer(
        "200 OK", {"access_token": "stolen-metadata-credential", "expires_in": 3600}))))
    target = "http://127.0.0.1:%d/latest/meta-data/iam/security-credentials/role" % metadata.port

    def redirect(sock):
        read_request(sock)
        sock.sendall(http_answer(status, b"", ["Location: " + target]))

    token = servers(redirect, tls=certs.good)
    url = "https://localhost:%d/contoso.test/oauth2/v2.0/token" % token.port
    with pytest.raises(oauth2.OAuth2Error) as info:
        oauth2.fetch_token(url, "app", CLIENT_SECRET, "https://outlook.office365.com/.default", ca_file=certs.ca_file,
                           timeout=5)
    text = str(info.value)
    assert status.split()[0] in text and "redirect" in text and "never follows" in text and target in text
    assert "stolen" not in text and CLIENT_SECRET not in text
    assert token.hits == 1 and metadata.hits == 0  # the loopback URL was never fetched


def test_the_probe_does_not_authenticate_with_a_redirected_token(servers, certs):
    metadata = servers(lambda sock: (read_request(sock), sock.sendall(http_answer("200 OK", {"access_token": "stolen"}))))
    token = servers(lambda sock: (read_request(sock), sock.sendall(http_answer(
        "302 Found", b"", ["Location: http://127.0.0.1:%d/latest/meta-data/" % metadata.port]))), tls=certs.good)
    smtp = fakes.FakeServer(fakes.scripted_smtp(certs.good))
    try:
        source = TokenSource("https://localhost:%d/t/oauth2/v2.0/token" % token.port, "app", CLIENT_SECRET, "s",
                             ca_file=certs.ca_file)
        [result] = probe_endpoints([{"host": "127.0.0.1", "port": smtp.port}], {
            "timeout": 5, "ca_path": certs.ca_file, "auth": {"username": "a@contoso.test", "token_source": source}})
    finally:
        smtp.close()
    assert result["diagnosis"]["code"] == "auth_failed" and "redirect" in result["diagnosis"]["message"]
    assert metadata.hits == 0 and not any(line.startswith("AUTH") for line in smtp.log)


# ------------------------------------------------------------------------------------------------ one deadline

def drip(sock):
    """Read the request, then send a valid token answer one byte every half second (about 90 s in all)."""
    read_request(sock)
    for byte in http_answer("200 OK", {"access_token": "x" * 100, "expires_in": 3600, "token_type": "Bearer"}):
        sock.sendall(bytes([byte]))
        time.sleep(0.5)


def stall_handshake(sock):
    """Accept TCP, never answer the TLS ClientHello."""
    time.sleep(20)


@pytest.mark.parametrize("behaviour", ["drip", "stall_handshake"])
def test_a_slow_token_endpoint_cannot_stretch_the_token_request(servers, certs, behaviour):
    server = servers(drip, tls=certs.good) if behaviour == "drip" else servers(stall_handshake)
    started = time.monotonic()
    with pytest.raises(oauth2.OAuth2Error) as info:
        oauth2.fetch_token("https://localhost:%d/t/oauth2/v2.0/token" % server.port, "app", CLIENT_SECRET, "s",
                           ca_file=certs.ca_file, timeout=2)
    elapsed = time.monotonic() - started
    print("fetch_token(timeout=2) against a %s endpoint: %.2fs" % (behaviour, elapsed))
    assert info.value.timed_out and "within 2s" in str(info.value)
    assert 1.9 <= elapsed < 2.9     # the TLS context and handshake are inside it: the unit tests' CI margin


def test_the_token_request_is_inside_the_probe_deadline(run_playbook, servers, certs):
    """Real smtp_check (ansible-playbook) with timeout 2: DNS + connect + TLS + token + SMTP all end by 2 s."""
    token = servers(drip, tls=certs.good)
    smtp = fakes.FakeServer(fakes.scripted_smtp(certs.good))
    try:
        started = time.monotonic()
        run = run_playbook([{"hosts": "localhost", "gather_facts": False, "tasks": [
            {"name": "probe", "mailfleet.outlook.smtp_check": {
                "endpoints": [{"name": "fake", "host": "127.0.0.1", "port": smtp.port}], "timeout": 2,
                "ca_path": certs.ca_file, "fail_on_error": False,
                "auth": {"username": "a@contoso.test", "oauth2": {
                    "client_id": "app", "client_secret": CLIENT_SECRET, "scope": "s",
                    "token_url": "https://localhost:%d/t/oauth2/v2.0/token" % token.port}}}}]}], timeout=120)
        wall = time.monotonic() - started
    finally:
        smtp.close()
    run.assert_ok()
    [endpoint] = run.result(task="probe")["endpoints"]
    print("smtp_check timeout=2 with a dripping token endpoint: probe %d ms (token %d ms), ansible-playbook %.1f s"
          % (endpoint["timings_ms"]["total"], endpoint["timings_ms"]["token"], wall))
    assert endpoint["failed_stage"] == "auth" and endpoint["diagnosis"]["code"] == "timeout"
    assert "No access token" in endpoint["diagnosis"]["message"]
    assert endpoint["timings_ms"]["total"] <= 2000 + 1000 + 300   # the deadline, the polite QUIT, scheduling
    assert endpoint["timings_ms"]["tls"] >= 0 and endpoint["timings_ms"]["token"] < 2000
    assert wall < 30  # (unbounded, the drip alone takes about 90 s)


# ------------------------------------------------------------------------------------------------ report.xml

HOSTILE_TEXT = "hostile \ufffe\uffff ]]> <b>&amp; \x01\x07\x1b[31m end"


def hostile_smtp(conn):
    conn.send(("220 mx.evil.test %s\r\n" % HOSTILE_TEXT).encode("utf-8"))
    conn.line()
    conn.send(("554 5.7.1 %s go away\r\n" % HOSTILE_TEXT).encode("utf-8"))


def test_a_hostile_reply_still_gives_a_valid_junit_report(run_playbook, tmp_path):
    lxml_etree = pytest.importorskip("lxml.etree", reason="lxml (requirements/dev.txt) validates the JUnit schema")
    server = fakes.FakeServer(hostile_smtp)
    report_dir = tmp_path / "report"
    try:
        run = run_playbook([{"hosts": "localhost", "gather_facts": False, "roles": [{
            "role": "mailfleet.outlook.reachability", "reachability_report_dir": str(report_dir),
            "reachability_smtp": False, "reachability_fail": False, "reachability_timeout": 3,
            "reachability_extra_endpoints": [{"name": "hostile", "host": "127.0.0.1", "port": server.port,
                                              "security": "none", "required": True}]}]}], timeout=120)
    finally:
        server.close()
    run.assert_ok()
    raw = (report_dir / "report.xml").read_bytes()
    text = raw.decode("utf-8")
    assert "\ufffd" in text and "\ufffe" not in text and "\uffff" not in text  # replaced, not dropped silently
    assert "mx.evil.test" in text or "go away" in text  # the server's text did reach the report
    ET.fromstring(raw)  # a strict XML 1.0 parser
    schema = lxml_etree.XMLSchema(lxml_etree.parse(XSD))
    doc = lxml_etree.fromstring(raw, parser=lxml_etree.XMLParser(recover=False))
    assert schema.validate(doc), schema.error_log
    assert doc.find(".//failure") is not None


def test_junit_replaces_every_character_xml_forbids():
    from ansible_collections.mailfleet.outlook.plugins.plugin_utils import _fleet_report as fr

    bad = "".join(chr(c) for c in range(0x20) if chr(c) not in "\t\n\r") + "\ud800\udfff\ufffe\uffff\U0010ffff ok"
    endpoint = {"name": bad, "host": bad, "port": 25, "security": "none", "ok": False, "stage": "banner",
                "failed_stage": "ehlo", "diagnosis": {"code": "protocol_error", "message": bad, "hint": bad},
                "warnings": [bad], "timings_ms": {"total": 5}, "banner": bad, "tls": None}
    report = fr.build_report(["h"], {"h": {"profile": "lab", "required": [bad], "planned": [{"name": bad}],
                                           "endpoints": [endpoint], "unreachable": False, "msg": bad,
                                           "drift": {"checked": True, "changed": True, "files": [bad], "msg": bad},
                                           "basic_auth": []}})
    xml_text = fr.render_junit(report)
    ET.fromstring(xml_text.encode("utf-8"))
    assert "\U0010ffff ok" in xml_text  # allowed characters are kept


# ------------------------------------------------------------------------------------------------ echoed secrets

def _forms(secret):
    """Every changed form a server might echo, and what the probe itself sent."""
    quote = urllib.parse.quote
    return sorted({secret, secret.lower(), secret.upper(), secret.swapcase(), quote(secret, safe=""),
                   urllib.parse.quote_plus(secret), quote(secret[:6], safe="") + secret[6:],
                   secret[:3] + "".join("%%%02X" % ord(c) for c in secret[3:8]) + secret[8:],
                   base64.b64encode(secret.encode()).decode(), json.dumps(secret)[1:-1]})


def echoing_smtp(certs):
    """STARTTLS, then AUTH LOGIN / XOAUTH2 answered with 535 texts that echo the password changed."""
    def handler(conn):
        conn.reply("220 echo.test ESMTP")
        while True:
            line = conn.line()
            verb = line.split(" ", 1)[0].upper()
            if verb == "EHLO":
                conn.send("250-echo.test\r\n" + ("250-AUTH LOGIN PLAIN XOAUTH2\r\n" if conn.tls else "250-STARTTLS\r\n")
                          + "250 8BITMIME\r\n")
            elif verb == "STARTTLS":
                conn.reply("220 2.0.0 go ahead")
                conn.start_tls(certs.good)
            elif verb == "AUTH":
                conn.reply("334 VXNlcm5hbWU6")
                conn.line()
                conn.reply("334 UGFzc3dvcmQ6")
                password = base64.b64decode(conn.line()).decode()
                forms = " ".join(_forms(password))
                conn.reply("535-5.7.8 Authentication failed for %s\r\n535 5.7.8 retry with %s"
                           % (password.swapcase(), forms))
            elif verb == "QUIT":
                conn.reply("221 bye")
                return
            else:
                conn.reply("250 ok")
    return handler


def echoing_token_endpoint(sock):
    body = urllib.parse.parse_qs(read_request(sock).split(b"\r\n\r\n", 1)[1].decode())
    secret = body["client_secret"][0]
    sock.sendall(http_answer("401 Unauthorized", {
        "error": "invalid_client",
        # short enough for the client to quote it ("Server said: ..."), so the redaction is what protects it
        "error_description": "AADSTS7000215: Invalid client secret provided: %s (you sent %s, %s)." % (
            secret.swapcase(), urllib.parse.quote(secret, safe=""), secret[:4] + urllib.parse.quote(secret[4:9]) + secret[9:]),
        "error_codes": [7000215], "trace_id": " ".join(_forms(secret))}))


def test_an_echoed_secret_is_redacted_in_every_output_of_a_real_run(run_playbook, servers, certs):
    smtp = fakes.FakeServer(echoing_smtp(certs))
    token = servers(echoing_token_endpoint, tls=certs.good)
    common = {"endpoints": [{"name": "echo", "host": "127.0.0.1", "port": smtp.port}], "timeout": 10,
              "ca_path": certs.ca_file, "fail_on_error": False}
    secrets = {"letters_password": LETTERS_PASSWORD, "mixed_password": MIXED_PASSWORD, "client_secret": CLIENT_SECRET}
    try:
        run = run_playbook([{"hosts": "localhost", "gather_facts": False, "tasks": [
            {"name": "letters", "mailfleet.outlook.smtp_check": dict(common, auth={
                "username": "a@contoso.test", "password": "{{ letters_password }}", "mechanism": "login"})},
            {"name": "mixed", "mailfleet.outlook.smtp_check": dict(common, auth={
                "username": "a@contoso.test", "password": "{{ mixed_password }}", "mechanism": "login"})},
            {"name": "client secret", "mailfleet.outlook.smtp_check": dict(common, auth={
                "username": "a@contoso.test", "oauth2": {
                    "client_id": "app", "client_secret": "{{ client_secret }}", "scope": "s",
                    "token_url": "https://localhost:%d/t/oauth2/v2.0/token" % token.port}})},
        ]}], verbosity=3, timeout=120, extra_vars=secrets)
    finally:
        smtp.close()
    run.assert_ok()
    assert "<localhost> EXEC" in run.stdout or "ESTABLISH LOCAL CONNECTION" in run.stdout  # really -vvv
    # the servers did echo (so the redaction had something to do) ...
    letters = run.result(task="letters")["endpoints"][0]
    assert letters["diagnosis"]["code"] == "bad_credentials" and "********" in letters["reply"]["text"]
    assert "[withheld]" in run.result(task="mixed")["endpoints"][0]["reply"]["text"]
    secret_result = run.result(task="client secret")["endpoints"][0]
    assert "AADSTS7000215" in secret_result["diagnosis"]["message"] and "********" in secret_result["diagnosis"]["message"]
    # ... and no form of any secret is anywhere: stdout (-vvv), stderr, every task result
    everything = run.all_output()
    for secret in (LETTERS_PASSWORD, MIXED_PASSWORD, CLIENT_SECRET):
        for form in _forms(secret):
            assert form not in everything, "%r (a form of a secret) is in the output" % form


ECHO = "%s is wrong, you sent %s and tok_9f8e7d6c5b4a3f2e1d0c" % (
    LETTERS_PASSWORD.swapcase(), urllib.parse.quote(MIXED_PASSWORD, safe=""))


def imap_bye_at_login(tls_context, answers=None):
    """An IMAP server that ends the session at LOGIN with an untagged BYE that echoes the password."""
    del answers

    def handler(conn):
        conn.start_tls(tls_context)
        conn.reply("* OK The Microsoft Exchange IMAP4 service is ready.")
        while True:
            tag, _sp, rest = conn.line().partition(" ")
            if rest.upper().startswith("CAPABILITY"):
                conn.reply("* CAPABILITY IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2")
                conn.reply(tag + " OK CAPABILITY completed.")
                continue
            conn.reply("* BYE [AUTHENTICATIONFAILED] " + ECHO)
            return

    return handler


LOGIN_ECHOES = {
    "imap-refused": ("imap", fakes.imap_server, {"LOGIN": "NO [AUTHENTICATIONFAILED] " + ECHO}),
    "imap-bye": ("imap", imap_bye_at_login, None),
    "pop-refused": ("pop", fakes.pop_server, {"USER": "+OK", "PASS": "-ERR [AUTHENTICATIONFAILED] " + ECHO}),
    "pop-not-a-status": ("pop", fakes.pop_server, {"USER": "+OK", "PASS": "AUTHENTICATIONFAILED " + ECHO}),
}


@pytest.mark.parametrize("case", sorted(LOGIN_ECHOES))
def test_imap_and_pop_login_answers_are_never_shown_verbatim(certs, case):
    """The IMAP and POP logins follow the SMTP AUTH rule: what the server answers to LOGIN / USER-PASS (a refusal,
    a closing line, a line that is no status) is filtered and redacted, in the result and in its error text."""
    protocol, server_of, answers = LOGIN_ECHOES[case]
    server = fakes.FakeServer(server_of(certs.good, answers=answers))
    try:
        [result] = probe_endpoints([{"host": "localhost", "port": server.port, "protocol": protocol,
                                     "security": "tls"}], {
            "timeout": 5, "ca_path": certs.ca_file, "auth": {"username": "a@contoso.test", "password": LETTERS_PASSWORD}})
    finally:
        server.close()
    text = repr(result)
    assert result["failed_stage"] == "auth", result
    assert "AUTHENTICATIONFAILED" in text and "[withheld]" in text, result  # the plain words are still shown
    assert "tok_9f8e7d6c5b4a3f2e1d0c" not in text
    for form in _forms(LETTERS_PASSWORD) + _forms(MIXED_PASSWORD):
        assert form not in text, form
