# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab's token endpoint answers like the Microsoft identity platform v2.0 token endpoint."""

import smtplib
import time

import pytest

from mailfleet_lab.certs import LabCerts
from mailfleet_lab.config import APP_CLIENT_ID, APP_SECRET, PUBLIC_CLIENT_ID, TENANT_ID, load_config
from mailfleet_lab.pytest_plugin import make_client_assertion, xoauth2_string

pytestmark = pytest.mark.timeout(60)

SCOPE = "https://outlook.office365.com/.default"


def form(**changes):
    base = {"grant_type": "client_credentials", "client_id": APP_CLIENT_ID, "client_secret": APP_SECRET,
            "scope": SCOPE}
    base.update(changes)
    return {key: value for key, value in base.items() if value is not None}


@pytest.mark.parametrize("tenant", [TENANT_ID, "contoso.test"])
def test_client_credentials_ok(lab, tenant):
    status, body = lab.token_request(form(), tenant=tenant)
    assert status == 200
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["ext_expires_in"] == 3600
    assert body["access_token"].count(".") == 2


@pytest.mark.parametrize("changes, tenant, status, error, code", [
    ({"client_secret": "wrong"}, None, 401, "invalid_client", 7000215),
    ({"client_secret": None}, None, 401, "invalid_client", 7000218),
    ({"client_id": "99999999-9999-4999-8999-999999999999"}, None, 400, "unauthorized_client", 700016),
    ({"scope": "https://outlook.office.com/SMTP.Send"}, None, 400, "invalid_scope", 1002012),
    ({"scope": "https://graph.example.test/.default"}, None, 400, "invalid_resource", 500011),
    ({}, "fabrikam.test", 400, "invalid_tenant", 90002),
    ({"grant_type": None}, None, 400, "invalid_request", 900144),
    ({"grant_type": "password"}, None, 400, "unsupported_grant_type", 70003),
])
def test_client_credentials_errors(lab, changes, tenant, status, error, code):
    got_status, body = lab.token_request(form(**changes), tenant=tenant)
    assert got_status == status
    assert body["error"] == error
    assert body["error_codes"] == [code]
    assert body["error_description"].startswith("AADSTS%d: " % code)
    assert {"timestamp", "trace_id", "correlation_id", "error_uri"} <= set(body)


def test_device_code_flow_and_refresh(lab):
    scope = "https://outlook.office.com/SMTP.Send offline_access"
    status, code = lab.token_request({"client_id": PUBLIC_CLIENT_ID, "scope": scope}, endpoint="devicecode")
    assert status == 200
    assert code["verification_uri"].endswith("/devicelogin")
    assert code["user_code"] in code["message"]
    poll = {"grant_type": "urn:ietf:params:oauth:grant-type:device_code", "client_id": PUBLIC_CLIENT_ID,
            "device_code": code["device_code"]}
    status, body = lab.token_request(poll)
    assert (status, body["error"], body["error_codes"]) == (400, "authorization_pending", [70016])
    assert lab.admin("POST", "/device/approve", {"user_code": code["user_code"], "user": "bob@contoso.test"})["found"]
    status, body = lab.token_request(poll)
    assert status == 200
    assert "refresh_token" in body
    with lab.smtp() as client:
        assert client.docmd("AUTH", "XOAUTH2 " + xoauth2_string("bob@contoso.test", body["access_token"]))[0] == 235
    with lab.smtp() as client:
        # a delegated token is only good for its own user
        assert client.docmd("AUTH", "XOAUTH2 " + xoauth2_string("alice@contoso.test", body["access_token"]))[0] == 535
    status, again = lab.token_request(poll)
    assert (status, again["error"]) == (400, "invalid_grant")
    status, refreshed = lab.token_request({"grant_type": "refresh_token", "client_id": PUBLIC_CLIENT_ID,
                                           "refresh_token": body["refresh_token"]})
    assert status == 200
    assert refreshed["access_token"] != body["access_token"] or refreshed["refresh_token"]


def test_revoke_tokens(lab_factory):
    lab = lab_factory()
    token = lab.app_token()
    lab.admin("POST", "/tokens/revoke")
    with lab.smtp() as client:
        assert client.docmd("AUTH", "XOAUTH2 " + xoauth2_string("alice@contoso.test", token))[0] == 535


def test_tokens_survive_restart_on_same_ports(lab_factory):
    lab = lab_factory()
    token = lab.app_token()
    ports = lab.ports
    with open(lab.ca_file, "rb") as handle:
        ca_before = handle.read()
    lab.stop()
    with pytest.raises(OSError):
        smtplib.SMTP(lab.host, ports["submission"], timeout=2)
    lab.start()
    assert lab.ports == ports
    with open(lab.ca_file, "rb") as handle:
        assert handle.read() == ca_before
    with lab.smtp() as client:
        assert client.docmd("AUTH", "XOAUTH2 " + xoauth2_string("alice@contoso.test", token))[0] == 235


def test_short_token_lifetime(lab_factory):
    lab = lab_factory({"token": {"lifetime": 2}})
    status, body = lab.token_request(form())
    assert status == 200 and body["expires_in"] == 2
    time.sleep(2.5)
    with lab.smtp() as client:
        assert client.docmd("AUTH", "XOAUTH2 " + xoauth2_string("alice@contoso.test", body["access_token"]))[0] == 535


ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def assertion_form(assertion, client_id=APP_CLIENT_ID):
    return {"grant_type": "client_credentials", "client_id": client_id, "scope": SCOPE,
            "client_assertion_type": ASSERTION, "client_assertion": assertion}


@pytest.mark.parametrize("algorithm", ["RS256", "PS256"])
def test_certificate_credential(lab, algorithm):
    status, body = lab.token_request(assertion_form(lab.client_assertion(algorithm=algorithm)))
    assert status == 200, body
    with lab.smtp() as client:
        assert client.docmd("AUTH", "XOAUTH2 " + xoauth2_string("alice@contoso.test", body["access_token"]))[0] == 235


@pytest.mark.parametrize("claims, code", [
    ({"exp": 1000}, 700024),
    ({"iss": "someone-else"}, 700021),
    ({"aud": "https://localhost/fabrikam.test/oauth2/v2.0/token"}, 50027),
])
def test_certificate_credential_refused(lab, claims, code):
    status, body = lab.token_request(assertion_form(lab.client_assertion(**claims)))
    assert (status, body["error"], body["error_codes"]) == (401, "invalid_client", [code])


def test_certificate_credential_bad_signature_and_unknown_key(lab, tmp_path):
    assertion = lab.client_assertion()
    head, body, signature = assertion.split(".")
    forged = head + "." + body + "." + ("A" if signature[0] != "A" else "B") + signature[1:]
    status, answer = lab.token_request(assertion_form(forged))
    assert (status, answer["error_codes"]) == (401, [700027])
    # a certificate the app never registered: "the key was not found"
    other_lab = LabCerts(load_config(None, {"state_dir": str(tmp_path)}))
    other = other_lab.app_certs[APP_CLIENT_ID]
    with open(other["cert"], "rb") as mine, open(lab.app_certs[APP_CLIENT_ID]["cert"], "rb") as registered:
        assert mine.read() != registered.read()
    unknown = make_client_assertion(other["cert"], other["key"], APP_CLIENT_ID, lab.token_url)
    status, answer = lab.token_request(assertion_form(unknown))
    assert (status, answer["error_codes"]) == (401, [700027])
    assert "The key was not found" in answer["error_description"]
    # an app without a certificate
    status, answer = lab.token_request(assertion_form(lab.client_assertion(), client_id=PUBLIC_CLIENT_ID))
    assert (status, answer["error_codes"]) == (401, [700027])
