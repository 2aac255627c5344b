# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The connector port relays like a tenant MX host with an inbound connector (by IP or by certificate)."""

import smtplib
import uuid

import pytest

pytestmark = pytest.mark.timeout(60)

OUTSIDER = ("127.0.0.2", 0)   # loopback, but not in connector.client_ips


def message(subject):
    return "From: app@contoso.test\r\nSubject: %s\r\n\r\nconnector body\r\n" % subject


def connect(lab, source=None):
    client = smtplib.SMTP(lab.host, lab.ports["connector"], timeout=10, source_address=source)
    client.ehlo()
    return client


def test_connector_offers_starttls_not_auth(lab):
    client = connect(lab)
    try:
        assert client.has_extn("starttls")
        assert not client.has_extn("auth")
        client.starttls(context=lab.ssl_context())
        client.ehlo()
        assert not client.has_extn("auth")
    finally:
        client.close()


def test_relay_by_ip(lab):
    subject = "connector-ip-%s" % uuid.uuid4()
    client = connect(lab)
    try:
        client.starttls(context=lab.ssl_context())
        client.sendmail("app@contoso.test", ["someone@example.org"], message(subject))
    finally:
        client.quit()
    (stored,) = lab.wait_for_messages(subject=subject)
    assert stored["endpoint"] == "connector"
    assert stored["relay_via"] == "ip"
    assert stored["user"] is None


def test_relay_denied_for_other_ip(lab):
    client = connect(lab, OUTSIDER)
    try:
        client.starttls(context=lab.ssl_context())
        client.ehlo()
        client.mail("app@contoso.test")
        code, text = client.rcpt("someone@example.org")
        assert code == 550
        assert text.decode().startswith("5.7.64 TenantAttribution; Relay Access Denied")
    finally:
        client.close()


def test_direct_send_to_tenant_domain_from_anywhere(lab):
    subject = "connector-direct-%s" % uuid.uuid4()
    client = connect(lab, OUTSIDER)
    try:
        client.sendmail("app@contoso.test", ["alice@contoso.test"], message(subject))
    finally:
        client.quit()
    (stored,) = lab.wait_for_messages(subject=subject)
    assert stored["relay_via"] == "direct_send"
    assert stored["tls_version"] is None


def test_relay_by_client_certificate(lab):
    subject = "connector-cert-%s" % uuid.uuid4()
    ctx = lab.ssl_context()
    cert = lab.client_certs["relay.contoso.test"]
    ctx.load_cert_chain(cert["cert"], cert["key"])
    client = connect(lab, OUTSIDER)
    try:
        client.starttls(context=ctx)
        client.sendmail("app@contoso.test", ["someone@example.org"], message(subject))
    finally:
        client.quit()
    (stored,) = lab.wait_for_messages(subject=subject)
    assert stored["relay_via"] == "certificate"
    assert "relay.contoso.test" in stored["client_cert_names"]


def test_unknown_client_certificate_denied(lab):
    ctx = lab.ssl_context()
    cert = lab.client_certs["stranger.example.test"]
    ctx.load_cert_chain(cert["cert"], cert["key"])
    client = connect(lab, OUTSIDER)
    try:
        client.starttls(context=ctx)
        client.ehlo()
        client.mail("app@contoso.test")
        assert client.rcpt("someone@example.org")[0] == 550
    finally:
        client.close()


def test_direct_send_rejected(lab_factory):
    lab = lab_factory({"tenant": {"direct_send_rejected": True}})
    client = connect(lab, OUTSIDER)
    try:
        client.mail("app@contoso.test")
        code, text = client.rcpt("alice@contoso.test")
        assert code == 550
        assert text.decode().startswith("5.7.68 TenantInboundAttribution; Direct Send not allowed for this "
                                        "organization from unauthorized sources")
    finally:
        client.close()


def test_connector_require_tls(lab_factory):
    lab = lab_factory({"connector": {"require_tls": True}})
    client = connect(lab)
    try:
        assert client.docmd("MAIL", "FROM:<app@contoso.test>")[0] == 451
        client.starttls(context=lab.ssl_context())
        client.ehlo()
        assert client.docmd("MAIL", "FROM:<app@contoso.test>")[0] == 250
    finally:
        client.close()


def test_connector_require_accepted_sender(lab_factory):
    lab = lab_factory({"connector": {"require_accepted_sender": True}})
    client = connect(lab)
    try:
        client.mail("root@host.example.net")
        code, text = client.rcpt("someone@example.org")
        assert (code, text.decode().startswith("5.7.64 TenantAttribution")) == (550, True)
        assert client.rcpt("alice@contoso.test")[0] == 250      # internal recipients are fine
        client.rset()
        client.mail("app@contoso.test")
        assert client.rcpt("someone@example.org")[0] == 250
    finally:
        client.close()
