# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab's token endpoint answers like the Microsoft identity platform v2.0 token endpoint."""

import base64
import hashlib
import http.client
import smtplib
import time
import urllib.parse

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


def raw_https(lab, method, path, form=None):
    """One HTTPS request to the token listener without following redirects: (status, headers, body)."""
    conn = http.client.HTTPSConnection(lab.host, lab.ports["token"], context=lab.ssl_context(), timeout=10)
    try:
        body = urllib.parse.urlencode(form).encode() if form is not None else None
        headers = {"Content-Type": "application/x-www-form-urlencoded"} if body else {}
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read().decode("utf-8", "replace")
    finally:
        conn.close()


def test_authorization_code_flow_with_pkce(lab):
    verifier = "lab-verifier-" + "x" * 50
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    params = {"client_id": PUBLIC_CLIENT_ID, "response_type": "code", "redirect_uri": "http://localhost:8765/cb",
              "scope": "https://outlook.office.com/SMTP.Send offline_access", "state": "st-1",
              "code_challenge": challenge, "code_challenge_method": "S256", "login_hint": "alice@contoso.test"}
    path = "/contoso.test/oauth2/v2.0/authorize?" + urllib.parse.urlencode(params)
    status, _headers, page = raw_https(lab, "GET", path)
    assert status == 200 and "alice@contoso.test" in page and "<form" in page
    status, _headers, page = raw_https(lab, "POST", path, {"user": "alice@contoso.test", "password": "wrong"})
    assert status == 401
    status, headers, _page = raw_https(lab, "POST", path, {"user": "alice@contoso.test", "password": "alice-lab-password"})
    assert status == 302
    location = urllib.parse.urlsplit(headers["Location"])
    assert location.netloc == "localhost:8765" and location.path == "/cb"
    answer = dict(urllib.parse.parse_qsl(location.query))
    assert answer["state"] == "st-1"
    redeem = {"grant_type": "authorization_code", "client_id": PUBLIC_CLIENT_ID, "code": answer["code"],
              "redirect_uri": "http://localhost:8765/cb", "code_verifier": "wrong-verifier"}
    status, body = lab.token_request(redeem)
    assert (status, body["error_codes"]) == (400, [50148])
    # the code is single use, even after a failed attempt
    status, body = lab.token_request(dict(redeem, code_verifier=verifier))
    assert (status, body["error_codes"]) == (400, [70008])
    status, headers, _page = raw_https(lab, "POST", path, {"user": "alice@contoso.test", "password": "alice-lab-password"})
    code = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(headers["Location"]).query))["code"]
    status, body = lab.token_request(dict(redeem, code=code, code_verifier=verifier))
    assert status == 200 and body["refresh_token"]
    with lab.smtp() as client:
        assert client.docmd("AUTH", "XOAUTH2 " + xoauth2_string("alice@contoso.test", body["access_token"]))[0] == 235


def test_authorize_refuses_unknown_redirect(lab):
    params = {"client_id": PUBLIC_CLIENT_ID, "response_type": "code", "redirect_uri": "https://evil.example.test/cb",
              "scope": "https://outlook.office.com/SMTP.Send"}
    status, _headers, page = raw_https(lab, "GET", "/contoso.test/oauth2/v2.0/authorize?" + urllib.parse.urlencode(params))
    assert status == 400 and "AADSTS50011" in page
