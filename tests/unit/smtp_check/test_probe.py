"""The probe engine against in-test servers on loopback: every stage, every code they can produce."""

import base64
import socket
import subprocess
import sys
import time

import pytest

import smtpcheck_fakes as fakes
from mailfleet_testing import black_hole_port
from ansible_collections.mailfleet.outlook.plugins.module_utils import _diagnosis as diag
from ansible_collections.mailfleet.outlook.plugins.module_utils._probe import engine as probe
from ansible_collections.mailfleet.outlook.plugins.module_utils._probe import options as probe_options

pytestmark = [pytest.mark.timeout(60), pytest.mark.core_independent]

CANARY_PASSWORD = "Canary-Pa55word-7f3e9d"
CANARY_TOKEN = "eyJ0eXAiOiJKV1QiLCJjYW5hcnkiOiJ0b2tlbi0xYjJjM2Q0In0.canarytoken"


def run(server, security="starttls", protocol="smtp", host="127.0.0.1", **options):
    options.setdefault("timeout", 5)
    options.setdefault("ehlo_name", "probe.example.test")
    ep = {"name": "t", "host": host, "port": server.port if hasattr(server, "port") else server,
          "security": security, "protocol": protocol}
    start = time.monotonic()
    result = probe.probe_endpoints([ep], options)[0]
    result["_elapsed"] = time.monotonic() - start
    return result


def code(result):
    return result["diagnosis"]["code"]


def assert_schema(result):
    for key in ("name", "host", "port", "security", "ok", "address", "stage", "failed_stage", "diagnosis",
                "warnings", "timings_ms", "banner", "extensions", "auth_mechanisms", "tls", "reply"):
        assert key in result, key
    assert set(result["diagnosis"]) == {"code", "message", "hint"}
    assert "total" in result["timings_ms"]
    if result["ok"]:
        assert result["failed_stage"] is None and code(result) == "ok"
    else:
        assert result["failed_stage"] in diag.STAGES


# ----------------------------------------------------------------------------- the good path

def test_good_starttls_endpoint(fake, certs):
    server = fake(fakes.scripted_smtp(certs.good))
    res = run(server, ca_path=certs.ca_file)
    assert_schema(res)
    assert res["ok"] is True, res["diagnosis"]
    assert res["stage"] == "tls" and res["failed_stage"] is None
    assert res["address"] == "127.0.0.1"
    assert res["banner"].startswith("fake.test Microsoft ESMTP")
    assert res["tls"]["version"] in ("TLSv1.2", "TLSv1.3")
    assert res["tls"]["cipher"]
    assert res["tls"]["cert"]["san"] == ["localhost", "127.0.0.1", "::1"]
    assert res["tls"]["cert"]["days_left"] > 21
    assert res["tls"]["cert"]["not_after"].endswith("Z")
    assert res["auth_mechanisms"] == ["LOGIN", "XOAUTH2"]
    assert "AUTH" in res["extensions"] and "STARTTLS" not in res["extensions"]  # the post-TLS EHLO
    assert set(res["timings_ms"]) >= {"dns", "connect", "banner", "ehlo", "starttls", "tls", "ehlo_tls", "total"}
    assert res["warnings"] == []
    assert server.log[0] == "EHLO probe.example.test" and server.log[-1] == "QUIT"


def test_hostname_localhost_verifies(fake, certs):
    server = fake(fakes.scripted_smtp(certs.good))
    res = run(server, host="localhost", ca_path=certs.ca_file)
    assert res["ok"], res["diagnosis"]


def test_implicit_tls_endpoint(fake, certs):
    server = fake(fakes.scripted_smtp(certs.good, implicit_tls=True))
    res = run(server, security="tls", ca_path=certs.ca_file)
    assert res["ok"], res["diagnosis"]
    assert res["stage"] == "ehlo"
    assert list(k for k in res["timings_ms"] if k != "total") == ["dns", "connect", "tls", "banner", "ehlo"]


def test_plain_endpoint_warns(fake):
    server = fake(fakes.scripted_smtp(None, offer_starttls=False))
    res = run(server, security="none")
    assert res["ok"] and res["tls"] is None
    assert any("plain text" in w for w in res["warnings"])


def test_cert_expiring_soon_is_a_warning(fake, certs):
    server = fake(fakes.scripted_smtp(certs.soon))
    res = run(server, ca_path=certs.ca_file)
    assert res["ok"]
    assert 3 <= res["tls"]["cert"]["days_left"] <= 5
    assert any("expires in" in w for w in res["warnings"])
    res = run(server, ca_path=certs.ca_file, cert_expiry_warn_days=2)
    assert res["warnings"] == []


def test_auth_before_tls_is_warned(fake, certs):
    server = fake(fakes.scripted_smtp(certs.good, auth_before_tls=True))
    res = run(server, ca_path=certs.ca_file)
    assert res["ok"]
    assert any("AUTH before STARTTLS" in w for w in res["warnings"])


# ----------------------------------------------------------------------------- auth

def test_auth_login_success_and_secret_hygiene(fake, certs):
    server = fake(fakes.scripted_smtp(certs.good))
    res = run(server, ca_path=certs.ca_file, auth={"username": "alice@contoso.test", "password": CANARY_PASSWORD})
    assert res["ok"], res["diagnosis"]
    assert res["stage"] == "auth" and res["auth_mechanism"] == "LOGIN"
    assert CANARY_PASSWORD not in repr(res)
    assert base64.b64encode(CANARY_PASSWORD.encode()).decode() not in repr(res)
    # the password went only in the AUTH exchange, after TLS
    idx = server.log.index("AUTH LOGIN")
    assert fakes.b64d(server.log[idx + 2]) == CANARY_PASSWORD
    assert all(CANARY_PASSWORD not in fakes.b64d(line) if _is_b64(line) else CANARY_PASSWORD not in line
               for i, line in enumerate(server.log) if i != idx + 2)


def _is_b64(line):
    try:
        base64.b64decode(line.encode(), validate=True)
        return True
    except Exception:  # noqa: BLE001
        return False


def test_auth_xoauth2_string(fake, certs):
    server = fake(fakes.scripted_smtp(certs.good))
    res = run(server, ca_path=certs.ca_file, auth={"username": "alice@contoso.test", "oauth2_token": CANARY_TOKEN})
    assert res["ok"] and res["auth_mechanism"] == "XOAUTH2"
    line = [entry for entry in server.log if entry.startswith("AUTH XOAUTH2 ")][0]
    assert fakes.b64d(line.split(" ", 2)[2]) == "user=alice@contoso.test\x01auth=Bearer %s\x01\x01" % CANARY_TOKEN
    assert CANARY_TOKEN not in repr(res) and line.split(" ", 2)[2] not in repr(res)


def test_auth_plain_when_offered(fake, certs):
    server = fake(fakes.scripted_smtp(certs.good, mechanisms="PLAIN LOGIN"))
    res = run(server, ca_path=certs.ca_file, auth={"username": "u@x.test", "password": CANARY_PASSWORD})
    assert res["ok"] and res["auth_mechanism"] == "PLAIN"
    line = [entry for entry in server.log if entry.startswith("AUTH PLAIN ")][0]
    assert fakes.b64d(line[len("AUTH PLAIN "):]) == "\0u@x.test\0" + CANARY_PASSWORD


@pytest.mark.parametrize("answer,expected", [
    ("535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. "
     "Visit https://aka.ms/smtp_auth_disabled", "smtp_auth_disabled"),
    ("535 5.7.139 Authentication unsuccessful, basic authentication is disabled.", "basic_auth_disabled"),
    ("535 5.7.139 Authentication unsuccessful, user is locked by your organization's security defaults policy.",
     "security_defaults"),
    ("535 5.7.139 Authentication unsuccessful, the user credentials were incorrect.", "bad_credentials"),
    ("535 5.7.139 Authentication unsuccessful, the request did not meet the criteria to be authenticated "
     "successfully. Contact your administrator.", "policy_blocked"),
    ("535 5.7.3 Authentication unsuccessful", "auth_failed"),
])
def test_auth_failures(fake, certs, answer, expected):
    server = fake(fakes.scripted_smtp(certs.good, auth_reply=answer))
    res = run(server, ca_path=certs.ca_file, auth={"username": "alice@contoso.test", "password": CANARY_PASSWORD})
    assert not res["ok"]
    assert code(res) == expected and res["failed_stage"] == "auth" and res["stage"] == "tls"
    assert res["reply"]["code"] == int(answer[:3]) and res["reply"]["enhanced_code"] == answer.split()[1]
    assert res["reply"]["text"] == answer[4:]
    assert CANARY_PASSWORD not in repr(res)


def test_xoauth2_failure_reads_the_error_challenge(fake, certs):
    server = fake(fakes.scripted_smtp(certs.good, auth_reply="535 5.7.3 Authentication unsuccessful"))
    res = run(server, ca_path=certs.ca_file, auth={"username": "a@b.test", "oauth2_token": CANARY_TOKEN})
    assert code(res) == "auth_failed"
    assert "status=401" in res["diagnosis"]["message"]
    assert CANARY_TOKEN not in repr(res)


def test_auth_mechanism_not_offered(fake, certs):
    server = fake(fakes.scripted_smtp(certs.good))
    res = run(server, ca_path=certs.ca_file,
              auth={"username": "a@b.test", "password": CANARY_PASSWORD, "mechanism": "plain"})
    assert code(res) == "auth_not_offered" and res["failed_stage"] == "auth"
    assert not any("AUTH" in line for line in server.log)


def test_auth_not_advertised(fake, certs):
    server = fake(fakes.scripted_smtp(certs.good, mechanisms=""))
    res = run(server, ca_path=certs.ca_file, auth={"username": "a@b.test", "password": CANARY_PASSWORD})
    assert code(res) == "auth_not_offered"


def test_plaintext_auth_refused_before_connecting(fake):
    server = fake(fakes.scripted_smtp(None, offer_starttls=False, auth_before_tls=True))
    with pytest.raises(ValueError, match="allow_plaintext"):
        run(server, security="none", auth={"username": "a@b.test", "password": CANARY_PASSWORD})
    assert server.connections == 0
    res = run(server, security="none",
              auth={"username": "a@b.test", "password": CANARY_PASSWORD, "allow_plaintext": True})
    assert res["ok"], res["diagnosis"]


def test_token_error_is_reported_at_auth_without_sending(fake, certs):
    server = fake(fakes.scripted_smtp(certs.good))
    res = run(server, ca_path=certs.ca_file,
              auth={"username": "a@b.test", "token_error": "AADSTS7000215: Invalid client secret provided."})
    assert code(res) == "auth_failed" and "AADSTS7000215" in res["diagnosis"]["message"]
    assert not any(line.startswith("AUTH") for line in server.log)


# ----------------------------------------------------------------------------- send

def test_send_message(fake, certs):
    messages = []
    server = fake(fakes.scripted_smtp(certs.good, messages=messages))
    res = run(server, ca_path=certs.ca_file, auth={"username": "alice@contoso.test", "password": CANARY_PASSWORD},
              send={"recipients": ["bob@contoso.test", "carol@contoso.test"], "subject": "Probe ü"})
    assert res["ok"], res["diagnosis"]
    assert res["stage"] == "send" and res["sent"] is True and res["message_id"].startswith("<")
    assert "MAIL FROM:<alice@contoso.test>" in server.log
    assert "RCPT TO:<carol@contoso.test>" in server.log
    (message,) = messages
    head, _sep, body = message.partition("\r\n\r\n")
    for header in ("Date:", "Message-ID:", "From: alice@contoso.test", "To: bob@contoso.test, carol@contoso.test",
                   "Subject: Probe =?utf-8?q?=C3=BC?=", "Auto-Submitted: auto-generated"):
        assert header in head, header
    assert "This is a mailfleet test message." in body and "from host: probe.example.test" in body
    assert CANARY_PASSWORD not in message


def test_send_skipped_in_check_mode(fake, certs):
    server = fake(fakes.scripted_smtp(certs.good))
    res = run(server, ca_path=certs.ca_file, auth={"username": "alice@contoso.test", "password": CANARY_PASSWORD},
              send={"recipients": ["bob@contoso.test"]}, check_mode=True)
    assert res["ok"] and res["stage"] == "auth"
    assert not any(line.startswith("MAIL") for line in server.log)
    assert any("check mode" in w for w in res["warnings"])


@pytest.mark.parametrize("where,answer,expected", [
    ("mail_reply", "530 5.7.57 Client not authenticated to send mail", "not_authenticated"),
    ("mail_reply", "451 4.7.500 Server busy. Please try again later from [127.0.0.1]. (S77719)", "throttled"),
    ("rcpt_reply", "550 5.7.64 TenantAttribution; Relay Access Denied", "relay_denied"),
    ("mail_reply", "550 5.7.708 Access denied, traffic not accepted from this IP", "ip_blocked"),
    ("data_end_reply", "554 5.2.252 SendAsDenied; alice@contoso.test not allowed to send as boss@contoso.test",
     "send_as_denied"),
    ("mail_reply", "550 5.7.30 Basic authentication is not supported for Client Submission.", "basic_auth_disabled"),
])
def test_send_failures(fake, certs, where, answer, expected):
    server = fake(fakes.scripted_smtp(certs.good, **{where: answer}))
    res = run(server, ca_path=certs.ca_file, send={"sender": "alice@contoso.test", "recipients": ["b@contoso.test"]})
    assert code(res) == expected and res["failed_stage"] == "send"
    assert res["reply"]["text"] == answer[4:]


# ----------------------------------------------------------------------------- STARTTLS and TLS failures

def test_starttls_not_offered(fake, certs):
    server = fake(fakes.scripted_smtp(certs.good, offer_starttls=False, auth_before_tls=True))
    res = run(server, ca_path=certs.ca_file, auth={"username": "a@b.test", "password": CANARY_PASSWORD})
    assert code(res) == "starttls_not_offered" and res["failed_stage"] == "starttls" and res["stage"] == "ehlo"
    assert not any(line.startswith("AUTH") for line in server.log)  # never falls back to plain text
    assert "AUTH" in res["extensions"]


def test_starttls_refused(fake, certs):
    server = fake(fakes.scripted_smtp(certs.good, starttls_reply="454 4.7.0 TLS not available due to local problem"))
    res = run(server, ca_path=certs.ca_file)
    assert code(res) == "tls_handshake_failed" and res["failed_stage"] == "starttls"
    assert res["reply"]["code"] == 454


def test_starttls_then_drop(fake, certs):
    server = fake(fakes.scripted_smtp(certs.good, drop_after_starttls=True))
    res = run(server, ca_path=certs.ca_file)
    assert code(res) == "tls_handshake_failed" and res["failed_stage"] == "tls" and res["stage"] == "starttls"
    assert res["_elapsed"] < 2


def test_starttls_injection_is_refused(fake, certs):
    server = fake(fakes.scripted_smtp(certs.good, inject_after_starttls="250 injected\r\n"))
    res = run(server, ca_path=certs.ca_file, auth={"username": "a@b.test", "password": CANARY_PASSWORD})
    assert code(res) == "protocol_error" and res["failed_stage"] == "tls"
    assert "injection" in res["diagnosis"]["message"]


@pytest.mark.parametrize("which,expected", [
    ("expired", "cert_expired"),
    ("wrong_host", "cert_hostname_mismatch"),
    ("untrusted", "cert_untrusted"),
])
def test_certificate_failures(fake, certs, which, expected):
    server = fake(fakes.scripted_smtp(getattr(certs, which)))
    res = run(server, ca_path=certs.ca_file, auth={"username": "a@b.test", "password": CANARY_PASSWORD})
    assert code(res) == expected and res["failed_stage"] == "tls" and res["stage"] == "starttls"
    # the second look filled in the certificate for the report
    cert = res["tls"]["cert"]
    assert res["tls"]["verified"] is False
    if which == "expired":
        assert cert["days_left"] < 0
    if which == "wrong_host":
        assert cert["san"] == ["mail.other.test"]
    assert not any(line.startswith("AUTH") for line in server.log)
    # and verification off turns the failure into warnings
    res = run(server, ca_path=certs.ca_file, validate_certs=False)
    assert res["ok"] and any("NOT verified" in w for w in res["warnings"])


def test_system_store_does_not_trust_the_test_ca(fake, certs):
    server = fake(fakes.scripted_smtp(certs.good))
    assert code(run(server)) == "cert_untrusted"


def test_tls_on_plain_port(fake):
    server = fake(fakes.scripted_smtp(None))
    res = run(server, security="tls")
    assert code(res) == "tls_on_plain_port" and res["failed_stage"] == "tls"
    assert res["banner"].startswith("220 fake.test")
    assert "465" in res["diagnosis"]["hint"]
    assert res["_elapsed"] < 2


def test_plain_on_tls_port(fake, certs):
    server = fake(fakes.scripted_smtp(certs.good, implicit_tls=True))
    res = run(server, security="starttls", timeout=4)
    assert code(res) == "plain_on_tls_port" and res["failed_stage"] == "banner" and res["stage"] == "connect"
    assert 1.8 <= res["_elapsed"] < 3.3  # half the timeout, then one handshake (not the full 4 s)


def test_tls_version_too_old(fake, certs):
    server = fake(fakes.scripted_smtp(certs.old_only()))
    res = run(server, ca_path=certs.ca_file)
    assert code(res) == "tls_version_too_old" and res["failed_stage"] == "tls"
    assert "TLSV1_ALERT_PROTOCOL_VERSION" in res["diagnosis"]["message"] or res["tls"]["version"] in ("TLSv1", "TLSv1.1")


def test_tls_version_too_old_when_the_server_just_closes(fake, certs):
    """Servers that close without a protocol_version alert: a second look with any version tells why."""
    old = certs.old_only()

    def handler(conn):
        conn.reply("220 old.test ESMTP")
        while True:
            line = conn.line().upper()
            if line.startswith("EHLO"):
                conn.send("250-old.test\r\n250 STARTTLS\r\n")
            elif line == "STARTTLS":
                conn.reply("220 go ahead")
                hello = conn.sock.recv(4096)
                if b"\x03\x03" in hello[9:11] and len(conn.server.log) < 4:
                    return  # the first client asks for TLS 1.2+: close without a word
                conn.start_tls(old)

    res = run(fake(handler), ca_path=certs.ca_file)
    assert code(res) in ("tls_version_too_old", "tls_handshake_failed")


def test_max_tls_version(fake, certs):
    server = fake(fakes.scripted_smtp(certs.good))
    res = run(server, ca_path=certs.ca_file, max_tls_version="1.2")
    assert res["ok"] and res["tls"]["version"] == "TLSv1.2"
    with pytest.raises(ValueError, match="below"):
        run(server, min_tls_version="1.3", max_tls_version="1.2")


def test_legacy_tls_rejected(fake, certs):
    answer = ("421 4.7.66 TLS 1.0 and 1.1 are not supported. Please upgrade/update your client to support TLS 1.2. "
              "Visit https://aka.ms/smtp_auth_tls")
    server = fake(fakes.scripted_smtp(certs.old_only(), ehlo_tls_reply=answer))
    res = run(server, ca_path=certs.ca_file, min_tls_version="1.0", max_tls_version="1.1")
    assert code(res) == "legacy_tls_rejected" and res["failed_stage"] == "tls"
    assert res["tls"]["version"] in ("TLSv1", "TLSv1.1")
    assert res["reply"]["enhanced_code"] == "4.7.66"
    assert any("TLS 1.2" in w for w in res["warnings"])


# ----------------------------------------------------------------------------- connection faults, deadlines

def test_tarpit_costs_the_timeout_once(fake):
    server = fake(fakes.tarpit)
    res = run(server, timeout=2)
    assert code(res) == "banner_timeout" and res["failed_stage"] == "banner" and res["stage"] == "connect"
    assert 1.9 <= res["_elapsed"] <= 2.9  # one timeout (a per-stage timeout would cost 4 s or more)
    assert res["timings_ms"]["total"] <= 2800
    assert server.connections == 2  # the greeting wait, then the implicit-TLS look


def test_tarpit_implicit_tls(fake):
    server = fake(fakes.tarpit)
    res = run(server, security="tls", timeout=2)
    assert code(res) == "banner_timeout" and res["failed_stage"] == "tls"
    assert 1.9 <= res["_elapsed"] <= 2.9


def test_close_at_once(fake):
    res = run(fake(fakes.close_at_once))
    assert code(res) == "connection_closed" and res["failed_stage"] == "banner"


@pytest.mark.parametrize("garbage", [b"\x00\x01\x02garbage\r\n", b"HTTP/1.1 400 Bad Request\r\n", b"22\r\n",
                                     b"999 nope\r\n", b"220" + b"x" * 9000,
                                     b"\x16\x03\x01\x00\xff looks like a TLS record\r\n"])
def test_garbage_banner(fake, garbage):
    def handler(conn):
        conn.send(garbage)
        time.sleep(3)

    res = run(fake(handler), timeout=2)
    assert code(res) == "bad_banner" and res["failed_stage"] == "banner"
    assert res["_elapsed"] < 1.5


def test_banner_refusal_is_classified(fake):
    def handler(conn):
        conn.reply("554 5.7.1 No SMTP service here")

    res = run(fake(handler))
    assert code(res) == "bad_banner" and res["reply"]["code"] == 554


def test_slow_server_is_bounded(fake):
    res = run(fake(fakes.slow_banner), timeout=2)
    assert code(res) == "timeout" and res["failed_stage"] == "banner"
    assert 1.9 <= res["_elapsed"] <= 2.9


def test_connect_refused():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    res = run(port)
    assert code(res) == "connect_refused" and res["failed_stage"] == "connect" and res["stage"] == "dns"


def test_connect_timeout_full_backlog():
    """A listener whose accept queue is full drops SYNs: the closest loopback thing to a black hole."""
    with black_hole_port() as port:
        res = run(port, timeout=1.5)
        assert code(res) == "connect_timeout" and res["failed_stage"] == "connect"
        assert 1.4 <= res["_elapsed"] <= 2.4
        assert "587" in res["diagnosis"]["hint"]


def test_dns_error():
    res = run(25, host="no-such-host.invalid")
    assert code(res) == "dns_error" and res["failed_stage"] == "dns" and res["stage"] is None


def test_ipv6_address_family(fake, certs):
    try:
        server = fake(fakes.scripted_smtp(certs.good), host="::1")
    except OSError:
        pytest.skip("no IPv6 loopback")
    res = run(server, host="::1", ca_path=certs.ca_file, address_family="ipv6")
    assert res["ok"] and res["address"] == "::1"
    res = run(server, host="::1", address_family="ipv4")
    assert code(res) == "dns_error"


def test_network_unreachable_in_an_empty_netns():
    """In a fresh network namespace even loopback is down: connect gives ENETUNREACH."""
    script = (
        "import json,sys;"
        "from ansible_collections.mailfleet.outlook.plugins.module_utils._probe import engine as p;"
        "r=p.probe_endpoints([dict(host='127.0.0.1',port=25)],dict(timeout=3,ehlo_name='x.test'))[0];"
        "print(json.dumps(r))"
    )
    env_path = ":".join(p for p in sys.path if p)
    proc = subprocess.run(["unshare", "-n", sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=30, check=False, env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"})
    if proc.returncode != 0 and "unshare" in proc.stderr:
        pytest.skip("cannot create a network namespace: %s" % proc.stderr.strip())
    import json
    res = json.loads(proc.stdout)
    assert res["diagnosis"]["code"] == "network_unreachable" and res["failed_stage"] == "connect"


# ----------------------------------------------------------------------------- IMAP / POP

def test_imap_implicit_tls(fake, certs):
    server = fake(fakes.imap_server(certs.good))
    res = run(server, security="tls", protocol="imap", ca_path=certs.ca_file)
    assert res["ok"], res["diagnosis"]
    assert res["banner"].startswith("* OK The Microsoft Exchange IMAP4")
    assert res["auth_mechanisms"] == ["PLAIN", "XOAUTH2"]
    assert res["stage"] == "ehlo" and res["tls"]["cert"]["san"][0] == "localhost"


def test_imap_starttls(fake, certs):
    server = fake(fakes.imap_server(certs.good, implicit_tls=False, starttls=True))
    res = run(server, security="starttls", protocol="imap", ca_path=certs.ca_file)
    assert res["ok"], res["diagnosis"]
    assert res["auth_mechanisms"] == ["PLAIN", "XOAUTH2"]


def test_pop_implicit_tls(fake, certs):
    server = fake(fakes.pop_server(certs.good))
    res = run(server, security="tls", protocol="pop", ca_path=certs.ca_file)
    assert res["ok"], res["diagnosis"]
    assert res["auth_mechanisms"] == ["PLAIN", "XOAUTH2"]
    assert "TOP" in res["extensions"]


def test_imap_cert_untrusted(fake, certs):
    server = fake(fakes.imap_server(certs.untrusted))
    res = run(server, security="tls", protocol="imap", ca_path=certs.ca_file)
    assert code(res) == "cert_untrusted"


def test_imap_against_smtp_port(fake, certs):
    server = fake(fakes.scripted_smtp(certs.good, implicit_tls=True))
    res = run(server, security="tls", protocol="imap", ca_path=certs.ca_file)
    assert code(res) == "bad_banner"


# ----------------------------------------------------------------------------- concurrency, options

def test_concurrent_probes_cost_the_max_not_the_sum(fake, certs):
    good = fake(fakes.scripted_smtp(certs.good))
    pits = [fake(fakes.tarpit) for _i in range(4)]
    eps = [{"name": "good", "host": "127.0.0.1", "port": good.port}] + [
        {"name": "pit%d" % i, "host": "127.0.0.1", "port": pit.port} for i, pit in enumerate(pits)]
    start = time.monotonic()
    results = probe.probe_endpoints(eps, {"timeout": 2, "ca_path": certs.ca_file, "ehlo_name": "x.test"})
    elapsed = time.monotonic() - start
    assert [r["name"] for r in results] == ["good", "pit0", "pit1", "pit2", "pit3"]
    assert results[0]["ok"] and all(code(r) == "banner_timeout" for r in results[1:])
    assert elapsed < 3.2  # one timeout; one after another would take 8 s


@pytest.mark.parametrize("options,message", [
    ({"timeout": 0}, "timeout"),
    ({"ehlo_name": "bad name"}, "ehlo_name"),
    ({"max_tls_version": "1.1"}, "below min_tls_version"),
    ({"auth": {"username": "a@b"}}, "password, oauth2_token"),
    ({"auth": {"password": "x"}}, "username"),
    ({"auth": {"username": "a@b", "password": "x", "mechanism": "xoauth2"}}, "xoauth2"),
    ({"auth": {"username": "a@b", "oauth2_token": "x", "mechanism": "login"}}, "login"),
    ({"send": {"recipients": ["b@c"]}}, "sender"),
    ({"send": {"sender": "a@b", "recipients": ["x>\r\nRCPT TO:<y@z"]}}, "plain mail address"),
    ({"send": {"sender": "a@b", "subject": "x\r\nBcc: y@z"}}, "single line"),
])
def test_option_errors(options, message):
    with pytest.raises(ValueError, match=message):
        probe.normalize_options(options)


@pytest.mark.parametrize("endpoint,message", [
    ({"port": 25}, "host is required"),
    ({"host": "h", "port": "x"}, "port must be a number"),
    ({"host": "h", "port": 70000}, "out of range"),
])
def test_endpoint_errors(endpoint, message):
    with pytest.raises(ValueError, match=message):
        probe.normalize_endpoint(endpoint)


def test_endpoint_defaults():
    assert probe.normalize_endpoint({"host": "h", "port": 25})["security"] == "starttls"
    assert probe.normalize_endpoint({"host": "h", "port": 25, "protocol": "imap"})["security"] == "tls"
    assert probe.normalize_endpoint({"host": "h", "port": 25})["name"] == "h:25"


def test_default_ehlo_name_from_hosts_file(tmp_path, monkeypatch):
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n127.0.1.1 web1.example.test web1  # comment\n")
    monkeypatch.setattr(socket, "gethostname", lambda: "web1")
    assert probe_options.default_ehlo_name(str(hosts), str(tmp_path / "none")) == "web1.example.test"
    monkeypatch.setattr(socket, "gethostname", lambda: "db.example.test")
    assert probe_options.default_ehlo_name(str(hosts)) == "db.example.test"
    monkeypatch.setattr(socket, "gethostname", lambda: "")
    assert probe_options.default_ehlo_name(str(hosts), str(tmp_path / "none")) == "localhost.localdomain"


def test_default_ehlo_name_does_not_use_getfqdn(monkeypatch):
    def boom(*_a):
        raise AssertionError("getfqdn may block on DNS")

    monkeypatch.setattr(socket, "getfqdn", boom)
    monkeypatch.setattr(socket, "gethostbyaddr", boom)
    assert probe_options.default_ehlo_name()


def test_dot_stuffing():
    assert probe_options.dot_stuff(b"a\r\n.b\r\n..c\r\n") == b"a\r\n..b\r\n...c\r\n.\r\n"
    assert probe_options.dot_stuff(b"a\nb") == b"a\r\nb\r\n.\r\n"


def test_redactor_scrubs_nested_values():
    red = probe.Redactor(["secret123"])
    red.add(base64.b64encode(b"secret123").decode())
    out = red.scrub({"a": ["x secret123 y", {"b": "c2VjcmV0MTIz"}], "n": 5})
    assert out == {"a": ["x ******** y", {"b": "********"}], "n": 5}
