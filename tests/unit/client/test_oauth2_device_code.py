# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The device-code flow and the refresh-token grant of the collection's one OAuth2 client (_oauth2.py),
against the lab's token endpoint on loopback."""

from __future__ import annotations

import pytest

from ansible_collections.mailfleet.outlook.plugins.module_utils._oauth2 import (
    OAuth2Error,
    poll_device_code,
    refresh_access_token,
    request_device_code,
)

pytestmark = [pytest.mark.timeout(120), pytest.mark.core_independent]

PUBLIC_CLIENT = "22222222-2222-4222-8222-222222222222"  # the lab's public client (lab/README.md)
SCOPE = "https://outlook.office.com/SMTP.Send offline_access"


def urls(lab):
    base = lab.token_url.rsplit("/", 1)[0]
    return base + "/devicecode", lab.token_url


def test_device_code_sign_in_then_refresh(lab_factory):
    lab = lab_factory({"token": {"device_auto_approve": "alice@contoso.test", "device_code_interval": 1}})
    device_url, token_url = urls(lab)
    grant = request_device_code(device_url, PUBLIC_CLIENT, SCOPE, ca_file=lab.ca_file)
    assert grant["user_code"] in grant["message"] and grant["verification_uri"].endswith("/devicelogin")
    token = poll_device_code(token_url, PUBLIC_CLIENT, grant["device_code"], interval=grant["interval"],
                             expires_in=grant["expires_in"], ca_file=lab.ca_file)
    assert token["access_token"] and token["refresh_token"] and token["expires_at"]
    again = refresh_access_token(token_url, PUBLIC_CLIENT, token["refresh_token"], SCOPE, ca_file=lab.ca_file)
    assert again["access_token"] and again["access_token"] != token["refresh_token"]
    # the access token is good for XOAUTH2 as alice (the lab checks it on submission)
    from mailfleet_lab.pytest_plugin import xoauth2_string

    with lab.smtp() as client:
        code, _reply = client.docmd("AUTH", "XOAUTH2 " + xoauth2_string("alice@contoso.test", again["access_token"]))
    assert code == 235


def test_pending_until_approved(lab_factory):
    lab = lab_factory({"token": {"device_code_interval": 1}})
    device_url, token_url = urls(lab)
    grant = request_device_code(device_url, PUBLIC_CLIENT, SCOPE, ca_file=lab.ca_file)
    waits = []

    def sleep(seconds):  # the person signs in while we wait
        waits.append(seconds)
        if len(waits) == 2:
            lab.admin("POST", "/device/approve", {"user_code": grant["user_code"], "user": "alice@contoso.test"})

    token = poll_device_code(token_url, PUBLIC_CLIENT, grant["device_code"], interval=1, expires_in=60,
                             ca_file=lab.ca_file, sleep=sleep)
    assert len(waits) == 2 and token["refresh_token"]


def test_declined_and_expired(lab_factory):
    lab = lab_factory({"token": {"device_code_interval": 1}})
    device_url, token_url = urls(lab)
    grant = request_device_code(device_url, PUBLIC_CLIENT, SCOPE, ca_file=lab.ca_file)
    lab.admin("POST", "/device/deny", {"user_code": grant["user_code"]})
    with pytest.raises(OAuth2Error, match="declined by the user") as info:
        poll_device_code(token_url, PUBLIC_CLIENT, grant["device_code"], interval=1, expires_in=60,
                         ca_file=lab.ca_file, sleep=lambda s: None)
    assert grant["device_code"] not in str(info.value)
    grant = request_device_code(device_url, PUBLIC_CLIENT, SCOPE, ca_file=lab.ca_file)
    now = [1000.0]

    def clock():
        return now[0]

    def sleep(seconds):
        now[0] += seconds

    with pytest.raises(OAuth2Error, match="expired before the sign-in was completed"):
        poll_device_code(token_url, PUBLIC_CLIENT, grant["device_code"], interval=5, expires_in=12,
                         ca_file=lab.ca_file, sleep=sleep, clock=clock)


def test_bad_refresh_token_is_never_echoed(lab_factory):
    lab = lab_factory()
    _device_url, token_url = urls(lab)
    canary = "canary-refresh-token-0123456789"
    with pytest.raises(OAuth2Error) as info:
        refresh_access_token(token_url, PUBLIC_CLIENT, canary, SCOPE, ca_file=lab.ca_file)
    assert canary not in str(info.value) and "HTTP 400" in str(info.value)


def test_https_only_and_required_fields():
    with pytest.raises(OAuth2Error, match="must use https"):
        request_device_code("http://localhost/devicecode", PUBLIC_CLIENT, SCOPE)
    with pytest.raises(OAuth2Error, match="needs client_id"):
        request_device_code("https://localhost/devicecode", "", SCOPE)
    with pytest.raises(OAuth2Error, match="needs refresh_token"):
        refresh_access_token("https://localhost/token", PUBLIC_CLIENT, "", SCOPE)
