# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the lab does so that a relay can be shown never to lose mail: token endpoint faults, listeners taken
down and up again, short-lived tokens, token counters and Microsoft's answers on demand."""

import hashlib
import smtplib
import socket
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from mailfleet_lab.config import APP_CLIENT_ID, APP_SECRET, ConfigError, load_config
from mailfleet_lab.pytest_plugin import LabError

pytestmark = pytest.mark.timeout(60)

FORM = {"grant_type": "client_credentials", "client_id": APP_CLIENT_ID, "client_secret": APP_SECRET,
        "scope": "https://outlook.office365.com/.default"}


def raw_token_request(lab, timeout=10):
    """(status, headers, body text) of a client-credentials request, whatever the body is."""
    url = lab.token_url
    data = urllib.parse.urlencode(FORM).encode("ascii")
    request = urllib.request.Request(url, data=data, method="POST")
    try:
        with urllib.request.urlopen(request, context=lab.ssl_context(), timeout=timeout) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


@pytest.fixture(scope="module")
def faulty_lab(tmp_path_factory):
    from mailfleet_lab.pytest_plugin import LabHandle  # pylint: disable=import-outside-toplevel
    handle = LabHandle(state_dir=str(tmp_path_factory.mktemp("lab-faults")), any_ports=True).start()
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture
def flab(faulty_lab):
    faulty_lab.token_fault(None)
    faulty_lab.listener_up("token")
    faulty_lab.listener_up("submission")
    faulty_lab.reset_stats()
    return faulty_lab


@pytest.mark.parametrize("fault, status, needle", [
    ("unavailable", 503, "Service Unavailable"),
    ("throttled", 429, "temporarily_unavailable"),
    ("AADSTS50196", 400, "AADSTS50196: The server terminated an operation because it encountered a client request loop"),
    ("AADSTS90033", 503, "AADSTS90033: A transient error has occurred"),
])
def test_token_faults_answer_like_a_failing_identity_platform(flab, fault, status, needle):
    flab.token_fault(fault, fault_retry_after=7)
    got, headers, body = raw_token_request(flab)
    assert got == status and needle in body, (got, body)
    if fault == "throttled":
        assert headers.get("Retry-After") == "7"
    if fault == "unavailable":
        assert headers.get("Content-Type", "").startswith("text/html")
    flab.token_fault(None)
    assert raw_token_request(flab)[0] == 200
    stats = flab.stats()
    assert stats["requests"] == 2 and stats["faults"] == 1 and stats["issued"] == {"client_credentials": 1}


def test_slow_token_endpoint_answers_after_the_delay(flab):
    flab.token_fault("slow", fault_delay=2)
    started = time.monotonic()
    assert raw_token_request(flab)[0] == 200
    assert time.monotonic() - started >= 2
    flab.token_fault("slow", fault_delay=5)
    with pytest.raises((socket.timeout, urllib.error.URLError, TimeoutError)):
        raw_token_request(flab, timeout=1)


def test_a_listener_goes_down_and_comes_back_on_its_port(flab):
    port = flab.ports["token"]
    flab.listener_down("token")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    flab.listener_down("token")          # already down: no error
    flab.listener_up("token")
    assert flab.ports["token"] == port and raw_token_request(flab)[0] == 200
    flab.listener_down("submission")
    with pytest.raises(ConnectionRefusedError):
        smtplib.SMTP(flab.host, flab.ports["submission"], timeout=5)
    flab.listener_up("submission")
    with flab.smtp() as client:
        assert client.noop()[0] == 250
    with pytest.raises(LabError, match="cannot be taken down"):
        flab.listener_down("admin")
    with pytest.raises(LabError, match="no listener"):
        flab.listener_down("nonesuch")


def test_short_lived_tokens_expire(flab):
    flab.patch_config({"token": {"lifetime": 2}})
    try:
        status, body = flab.token_request(FORM)
        assert status == 200 and body["expires_in"] == 2
        token = body["access_token"]
        with flab.smtp() as client:
            assert client.docmd("AUTH", "XOAUTH2 " + _xoauth2("alice@contoso.test", token))[0] == 235
        time.sleep(2.5)
        with flab.smtp() as client:
            code, text = client.docmd("AUTH", "XOAUTH2 " + _xoauth2("alice@contoso.test", token))
            assert code == 535 and b"5.7.3" in text
    finally:
        flab.patch_config({"token": {"lifetime": 3600}})


def _xoauth2(user, token):
    from mailfleet_lab.pytest_plugin import xoauth2_string  # pylint: disable=import-outside-toplevel
    return xoauth2_string(user, token)


def test_refuse_subjects_gives_microsofts_answer_on_demand_and_the_store_has_a_digest(flab):
    flab.patch_config({"refuse_subjects": {"please-refuse": "send_as_denied"}})
    try:
        with flab.smtp() as client:
            client.docmd("AUTH", "XOAUTH2 " + _xoauth2("alice@contoso.test", flab.app_token()))
            with pytest.raises(smtplib.SMTPDataError) as err:
                client.sendmail("alice@contoso.test", ["bob@contoso.test"],
                                b"Subject: x please-refuse y\r\n\r\nbody\r\n")
            assert err.value.smtp_code == 554 and err.value.smtp_error.startswith(
                b"5.2.252 SendAsDenied; alice@contoso.test not allowed to send as alice@contoso.test")
            raw = b"Subject: digest-me\r\n\r\nbody\r\n"
            client.sendmail("alice@contoso.test", ["bob@contoso.test"], raw)
    finally:
        flab.patch_config({"refuse_subjects": None})
    (msg,) = flab.wait_for_messages(1, subject="digest-me")
    assert msg["sha256"] == hashlib.sha256(msg["data"].encode()).hexdigest()
    assert not flab.messages(subject="x please-refuse y")


def test_bad_fault_and_refusal_configs_are_refused():
    with pytest.raises(ConfigError, match="token.fault"):
        load_config(None, {"token": {"fault": "sometimes"}})
    with pytest.raises(ConfigError, match="refuse_subjects"):
        load_config(None, {"refuse_subjects": {"x": "no_such_answer"}})
