# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab as a process: state.json, ports, addresses, IMAP/POP greeters, logs without secrets."""

import imaplib
import json
import os
import poplib
import socket
import smtplib
import stat
import subprocess
import sys

import pytest

from mailfleet_lab.config import LAB_PORTS
from mailfleet_lab.pytest_plugin import LAB_DIR, LabError, LabHandle, xoauth2_string

pytestmark = pytest.mark.timeout(90)


def ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


def test_state_json_and_files(lab_factory):
    lab = lab_factory()
    state = lab.state
    assert state["pid"] == lab.proc.pid
    assert set(state["ports"]) == set(LAB_PORTS) | {"admin"}
    assert all(port > 0 for port in state["ports"].values())
    assert len(set(state["ports"].values())) == len(state["ports"])
    assert state["ca_file"] == lab.ca_file and os.path.exists(lab.ca_file)
    assert state["token_url"].endswith("/00000000-0000-4000-8000-000000000001/oauth2/v2.0/token")
    assert lab.admin("GET", "/state")["ports"] == state["ports"]
    for path in (os.path.join(lab.state_dir, "certs", "ca-key.pem"), os.path.join(lab.state_dir, "signing.key"),
                 lab.log_path):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path
    lab.stop()
    assert not os.path.exists(os.path.join(lab.state_dir, "state.json"))


def test_session_lab_uses_catalog_ports_when_free(lab):
    if lab.state_dir != "/var/tmp/mailfleet-lab":
        pytest.skip("catalog ports were busy: the session lab runs on free ports")
    assert {name: lab.ports[name] for name in LAB_PORTS} == LAB_PORTS


def test_two_labs_at_once_and_busy_port(lab_factory):
    first = lab_factory()
    second = lab_factory()
    assert first.ports["submission"] != second.ports["submission"]
    with pytest.raises(LabError, match="cannot listen for submission"):
        lab_factory({"ports": {"submission": first.ports["submission"]}})


def test_one_lab_per_state_dir(lab_factory):
    first = lab_factory()
    with pytest.raises(LabError, match="in use by another lab"):
        lab_factory(state_dir=first.state_dir)
    assert first.running()


def test_bad_config_exits_2(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"ports": {"submission": "x"}}))
    env = dict(os.environ, PYTHONPATH=LAB_DIR)
    proc = subprocess.run([sys.executable, "-m", "mailfleet_lab", "--config", str(path)], env=env,
                          capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 2
    assert "ports.submission" in proc.stderr


@pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback")
def test_bind_extra_ipv6(lab_factory):
    lab = lab_factory({"bind_extra": ["::1"]})
    for host in ("127.0.0.1", "::1"):
        client = smtplib.SMTP(host, lab.ports["submission"], timeout=10)
        try:
            client.starttls(context=lab.ssl_context())
            client.ehlo()
            assert client.login("alice@contoso.test", "alice-lab-password")[0] == 235
        finally:
            client.close()


def test_loopback_only_by_default(lab_factory):
    lab = lab_factory()
    out = subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True, timeout=10, check=False).stdout
    mine = [line for line in out.splitlines() if "pid=%d," % lab.proc.pid in line]
    assert mine
    assert all(" 127.0.0.1:" in line for line in mine), mine


def test_imap_greeter(lab):
    client = imaplib.IMAP4_SSL(lab.host, lab.ports["imap"], ssl_context=lab.ssl_context(), timeout=10)
    try:
        assert b"Microsoft Exchange IMAP4 service is ready" in client.welcome
        typ, caps = client.capability()
        assert typ == "OK" and b"AUTH=XOAUTH2" in caps[0]
        with pytest.raises(imaplib.IMAP4.error):
            client.login("alice@contoso.test", "wrong")
        token = lab.app_token()
        xoauth2 = ("user=alice@contoso.test\x01auth=Bearer %s\x01\x01" % token).encode()
        typ = client.authenticate("XOAUTH2", lambda challenge: xoauth2)[0]
        assert typ == "OK"
    finally:
        client.logout()


def test_pop_greeter(lab):
    client = poplib.POP3_SSL(lab.host, lab.ports["pop"], context=lab.ssl_context(), timeout=10)
    try:
        assert b"Microsoft Exchange POP3 service is ready" in client.getwelcome()
        assert "SASL" in client.capa()
        client.user("alice@contoso.test")
        assert client.pass_("alice-lab-password").startswith(b"+OK")
    finally:
        client.quit()


def test_no_secrets_in_logs(lab_factory):
    canary_password = "CANARY-pw-7f3a9c"
    canary_secret = "CANARY-secret-51b2e8"
    lab = lab_factory({
        "accounts": {"canary@contoso.test": {"password": canary_password}},
        "apps": {"33333333-3333-4333-8333-333333333333": {"secret": canary_secret, "send_as": ["canary@contoso.test"]}},
    })
    with lab.smtp() as client:
        assert client.login("canary@contoso.test", canary_password)[0] == 235
    with lab.smtp() as client:
        with pytest.raises(smtplib.SMTPAuthenticationError):
            client.login("alice@contoso.test", canary_password)
    status, body = lab.token_request({"grant_type": "client_credentials",
                                      "client_id": "33333333-3333-4333-8333-333333333333",
                                      "client_secret": canary_secret, "scope": "https://outlook.office365.com/.default"})
    assert status == 200
    token = body["access_token"]
    with lab.smtp() as client:
        assert client.docmd("AUTH", "XOAUTH2 " + xoauth2_string("canary@contoso.test", token))[0] == 235
        client.sendmail("canary@contoso.test", ["x@example.org"], "Subject: canary\r\n\r\nhello\r\n")
    with lab.smtp() as client:
        assert client.docmd("AUTH", "XOAUTH2 " + xoauth2_string("canary@contoso.test", token + "x"))[0] == 535
    status = lab.token_request({"grant_type": "client_credentials", "client_id": "33333333-3333-4333-8333-333333333333",
                                "client_secret": canary_secret + "-wrong",
                                "scope": "https://outlook.office365.com/.default"})[0]
    assert status == 401
    config_text = json.dumps(lab.admin("GET", "/config"))
    lab.stop()
    log = lab.log_text()
    with open(os.path.join(lab.state_dir, "stderr.log"), "r", encoding="utf-8") as handle:
        log += handle.read()
    assert "AUTH LOGIN <redacted>" in log
    assert "canary@contoso.test" in log            # the log does say who
    for secret in (canary_password, canary_secret, token, token.split(".")[2]):
        assert secret not in log
        assert secret not in config_text
    # nothing the lab or its fixture wrote to disk holds the canaries (the config goes through a pipe)
    for folder, dummy, files in os.walk(lab.state_dir):
        for name in files:
            with open(os.path.join(folder, name), "rb") as handle:
                content = handle.read()
            for secret in (canary_password, canary_secret):
                assert secret.encode() not in content, os.path.join(folder, name)


def test_handle_outside_pytest_fixture(tmp_path):
    with LabHandle({"disabled": ["tarpit", "slow"]}, state_dir=str(tmp_path / "ctx")) as lab:
        assert "tarpit" not in lab.ports
        with lab.smtp() as client:
            assert client.login("alice@contoso.test", "alice-lab-password")[0] == 235
    assert not lab.running()


def test_detach_and_stop(tmp_path):
    env = dict(os.environ, PYTHONPATH=LAB_DIR)
    command = [sys.executable, "-m", "mailfleet_lab", "--default", "--any-ports", "--state-dir", str(tmp_path)]
    started = subprocess.run(command + ["--detach"], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert started.returncode == 0, started.stderr
    state = json.loads(started.stdout)
    try:
        client = smtplib.SMTP("localhost", state["ports"]["submission"], timeout=10)
        assert client.ehlo()[0] == 250
        client.close()
    finally:
        stopped = subprocess.run(command + ["--stop"], env=env, capture_output=True, text=True, timeout=30, check=False)
    assert stopped.returncode == 0
    with pytest.raises(OSError):
        os.kill(state["pid"], 0)
    assert not os.path.exists(tmp_path / "state.json")


@pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback")
def test_bind_elsewhere_keeps_admin_on_loopback(lab_factory):
    lab = lab_factory({"bind": "::1"})
    assert lab.state["bind"] == ["::1"]
    assert lab.admin_url.startswith("http://127.0.0.1:")
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", lab.ports["submission"]), timeout=2).close()
    client = smtplib.SMTP("::1", lab.ports["submission"], timeout=10)
    try:
        assert client.ehlo()[0] == 250
    finally:
        client.close()
    assert lab.admin("GET", "/state")["pid"] == lab.proc.pid
