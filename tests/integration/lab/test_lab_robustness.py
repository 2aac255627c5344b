# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab survives rude clients and serves many at once."""

import concurrent.futures
import random
import smtplib
import socket
import ssl

import pytest

pytestmark = pytest.mark.timeout(120)

PLAIN = ["submission", "connector", "no_starttls", "legacy_tls", "tls_old_only", "admin", "starttls_drop"]
TLS = ["token", "imap", "pop", "implicit_tls"]


def rude_session(lab, name, rng):
    payloads = [
        bytes(rng.getrandbits(8) for dummy in range(rng.randint(1, 3000))),
        b"EHLO x\r\nSTARTTLS\r\n" + bytes(rng.getrandbits(8) for dummy in range(200)),
        b"EHLO x\r\nAUTH XOAUTH2 " + b"A" * 20000 + b"\r\n",
        b"EHLO x\r\nAUTH LOGIN\r\n*\r\nMAIL FROM:<>\r\nDATA\r\n",
        b"GET / HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n",
        b"POST /x/oauth2/v2.0/token HTTP/1.1\r\nContent-Length: 5\r\n\r\n\xff\xfe\x00",
        b"a1 LOGIN \"unterminated\r\n",
        b"\r\n" * 50,
    ]
    sock = socket.create_connection(lab.address(name), timeout=3)
    try:
        if name in TLS:
            ctx = ssl.create_default_context(cafile=lab.ca_file)
            sock = ctx.wrap_socket(sock, server_hostname="localhost")
        sock.sendall(rng.choice(payloads))
        sock.settimeout(0.3)
        try:
            sock.recv(4096)
        except (socket.timeout, OSError):
            pass
    except OSError:
        pass
    finally:
        sock.close()


def test_garbage_does_not_break_the_lab(lab_factory):
    lab = lab_factory()
    rng = random.Random(20261126)
    for round_number in range(60):
        rude_session(lab, (PLAIN + TLS)[round_number % len(PLAIN + TLS)], rng)
    assert lab.running()
    with lab.smtp() as client:
        assert client.login("alice@contoso.test", "alice-lab-password")[0] == 235
    assert lab.app_token()
    assert lab.admin("GET", "/state")["pid"] == lab.proc.pid
    lab.stop()
    with open(lab.state_dir + "/stderr.log", "r", encoding="utf-8") as handle:
        text = lab.log_text() + handle.read()
    assert "Traceback" not in text and "error answering" not in text


def test_client_vanishes_mid_data(lab_factory):
    lab = lab_factory()
    client = smtplib.SMTP(lab.host, lab.ports["submission"], timeout=10)
    client.starttls(context=lab.ssl_context())
    client.login("alice@contoso.test", "alice-lab-password")
    client.mail("alice@contoso.test")
    client.rcpt("x@example.org")
    client.putcmd("DATA")
    client.getreply()
    client.send(b"Subject: half\r\n\r\nhalf a mess")
    client.close()
    with lab.smtp() as again:
        assert again.login("alice@contoso.test", "alice-lab-password")[0] == 235
    assert lab.messages(subject="half") == []


def test_many_clients_at_once(lab_factory):
    lab = lab_factory({"rate_limit": {"messages": 0}})

    def send(index):
        with lab.smtp() as client:
            client.login("alice@contoso.test", "alice-lab-password")
            client.sendmail("alice@contoso.test", ["x@example.org"],
                            "From: alice@contoso.test\r\nSubject: par-%d\r\n\r\nbody\r\n" % index)
        return index

    with concurrent.futures.ThreadPoolExecutor(max_workers=20) as pool:
        done = sorted(pool.map(send, range(40)))
    assert done == list(range(40))
    assert sorted(m["subject"] for m in lab.messages()) == sorted("par-%d" % i for i in range(40))
