# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Each fault port of the lab fails the way it promises (and only that way)."""

import smtplib
import socket
import ssl
import time
import warnings

import pytest

pytestmark = pytest.mark.timeout(60)


def tls_client(lab, minimum=None, maximum=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(lab.ca_file)
    if minimum is not None and minimum < ssl.TLSVersion.TLSv1_2:
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        if minimum is not None:
            ctx.minimum_version = minimum
        if maximum is not None:
            ctx.maximum_version = maximum
    return ctx


def test_tarpit_accepts_but_never_speaks(lab):
    with socket.create_connection(lab.address("tarpit"), timeout=5) as sock:
        sock.settimeout(1.0)
        with pytest.raises(socket.timeout):
            sock.recv(1)


def test_close_right_after_connect(lab):
    with socket.create_connection(lab.address("close"), timeout=5) as sock:
        sock.settimeout(5)
        try:
            assert sock.recv(10) == b""
        except ConnectionResetError:
            pass


def test_garbage_banner(lab):
    with socket.create_connection(lab.address("garbage_banner"), timeout=5) as sock:
        sock.settimeout(5)
        banner = sock.recv(100)
    assert banner and not banner.startswith(b"220")
    with pytest.raises((smtplib.SMTPConnectError, smtplib.SMTPServerDisconnected)):
        smtplib.SMTP(lab.host, lab.ports["garbage_banner"], timeout=5)


def test_no_starttls(lab):
    client = smtplib.SMTP(lab.host, lab.ports["no_starttls"], timeout=10)
    try:
        assert client.ehlo()[0] == 250
        assert not client.has_extn("starttls")
        assert not client.has_extn("auth")
        with pytest.raises(smtplib.SMTPNotSupportedError):
            client.starttls(context=lab.ssl_context())
        code, text = client.docmd("MAIL", "FROM:<alice@contoso.test>")
        assert (code, text.startswith(b"5.7.57")) == (530, True)
    finally:
        client.close()


def test_starttls_accepted_then_handshake_dropped(lab):
    client = smtplib.SMTP(lab.host, lab.ports["starttls_drop"], timeout=10)
    try:
        client.ehlo()
        assert client.has_extn("starttls")
        with pytest.raises((ssl.SSLError, ConnectionError, smtplib.SMTPServerDisconnected, OSError)) as raised:
            client.starttls(context=lab.ssl_context())
        assert not isinstance(raised.value, ssl.SSLCertVerificationError)
    finally:
        client.close()


@pytest.mark.parametrize("port, reason", [
    ("cert_expired", "certificate has expired"),
    ("cert_wrong_host", "Hostname mismatch"),
    ("cert_self_signed", "self-signed certificate"),
])
def test_bad_certificates(lab, port, reason):
    client = smtplib.SMTP(lab.host, lab.ports[port], timeout=10)
    try:
        client.ehlo()
        with pytest.raises(ssl.SSLCertVerificationError) as raised:
            client.starttls(context=lab.ssl_context())
        assert reason in str(raised.value)
    finally:
        client.close()


@pytest.mark.parametrize("port", ["cert_expired", "cert_wrong_host", "cert_self_signed"])
def test_bad_certificate_ports_work_without_verification(lab, port):
    """Only the certificate is wrong: a client that skips verification gets the normal submission server."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    client = smtplib.SMTP(lab.host, lab.ports[port], timeout=10)
    try:
        client.starttls(context=ctx)
        client.ehlo()
        assert client.login("alice@contoso.test", "alice-lab-password")[0] == 235
    finally:
        client.close()


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1])
def test_legacy_tls_answers_421_to_old_clients(lab, version):
    client = smtplib.SMTP(lab.host, lab.ports["legacy_tls"], timeout=10)
    try:
        client.ehlo()
        client.starttls(context=tls_client(lab, version, version))
        assert client.sock.version() in ("TLSv1", "TLSv1.1")
        code, text = client.docmd("EHLO", "client.test")
        assert code == 421
        assert text.decode().startswith(
            "4.7.66 TLS 1.0 and 1.1 are not supported. Please upgrade/update your client to support TLS 1.2. "
            "Visit https://aka.ms/smtp_auth_tls")
        with pytest.raises((smtplib.SMTPServerDisconnected, ConnectionError)):
            client.docmd("NOOP")
            client.docmd("NOOP")
    finally:
        client.close()


def test_legacy_tls_port_serves_modern_clients(lab):
    with lab.smtp("legacy_tls") as client:
        assert client.sock.version() in ("TLSv1.2", "TLSv1.3")
        assert client.login("alice@contoso.test", "alice-lab-password")[0] == 235


def test_tls_old_only_fails_clients_requiring_1_2(lab):
    client = smtplib.SMTP(lab.host, lab.ports["tls_old_only"], timeout=10)
    try:
        client.ehlo()
        with pytest.raises((ssl.SSLError, ConnectionError, smtplib.SMTPServerDisconnected)) as raised:
            client.starttls(context=lab.ssl_context())
        assert not isinstance(raised.value, ssl.SSLCertVerificationError)
    finally:
        client.close()


def test_tls_old_only_talks_tls_1_1(lab):
    client = smtplib.SMTP(lab.host, lab.ports["tls_old_only"], timeout=10)
    try:
        client.ehlo()
        client.starttls(context=tls_client(lab, ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1))
        assert client.sock.version() == "TLSv1.1"
        client.ehlo()
        assert client.has_extn("auth")
    finally:
        client.close()


def test_implicit_tls(lab):
    client = smtplib.SMTP_SSL(lab.host, lab.ports["implicit_tls"], timeout=10, context=lab.ssl_context())
    try:
        client.ehlo()
        assert not client.has_extn("starttls")
        assert client.esmtp_features["auth"].split() == ["LOGIN", "XOAUTH2"]
        assert client.login("alice@contoso.test", "alice-lab-password")[0] == 235
    finally:
        client.close()


def test_implicit_tls_port_does_not_speak_plain_smtp(lab):
    with socket.create_connection(lab.address("implicit_tls"), timeout=5) as sock:
        sock.settimeout(1.0)
        with pytest.raises(socket.timeout):
            sock.recv(1)


def test_starttls_on_submission_is_not_implicit_tls(lab):
    """Like 587 at Microsoft: a TLS ClientHello first gets no TLS answer (the server speaks SMTP)."""
    with pytest.raises((ssl.SSLError, ConnectionError, smtplib.SMTPServerDisconnected, OSError)):
        smtplib.SMTP_SSL(lab.host, lab.ports["submission"], timeout=5, context=lab.ssl_context())


def test_slow_server(lab):
    with socket.create_connection(lab.address("slow"), timeout=10) as sock:
        sock.settimeout(10)
        started = time.monotonic()
        received = b""
        while len(received) < 8:
            chunk = sock.recv(100)
            assert chunk
            received += chunk
        elapsed = time.monotonic() - started
    assert received.startswith(b"220 loca")
    assert elapsed >= 0.6, elapsed
