# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the lab's config and tenant model (no sockets)."""

import time

import pytest

from mailfleet_lab import config as lab_config
from mailfleet_lab.core import ANSWERS, Lab

pytestmark = [pytest.mark.timeout(30), pytest.mark.core_independent]

# Section 4 of the facts file: the lab's answers start with these exact texts.
FACT_TEXTS = {
    "not_authenticated": "530 5.7.57 Client not authenticated to send mail",
    "tenant_smtp_auth_disabled": ("535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for "
                                  "the Tenant. Visit https://aka.ms/smtp_auth_disabled"),
    "mailbox_smtp_auth_disabled": ("535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled "
                                   "for the Mailbox. Visit https://aka.ms/smtp_auth_disabled"),
    "not_authenticated_anonymous": "530 5.7.57 Client not authenticated to send anonymous mail during MAIL FROM",
    "send_as_denied_storedrv": "554 5.2.0 STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied",
    "tenant_threshold": "550 5.7.705 Access denied, tenant has exceeded threshold",
    "imap_authenticate_failed": "NO AUTHENTICATE failed.",
    "imap_login_failed": "NO LOGIN failed.",
    "imap_not_connected": "BAD User is authenticated but not connected.",
    "pop_auth_failure": "-ERR Authentication failure: unknown user name or bad password.",
    "pop_logon_failure": "-ERR Logon failure: unknown user name or bad password.",
    "policy": ("535 5.7.139 Authentication unsuccessful, the request did not meet the criteria to be authenticated "
               "successfully. Contact your administrator."),
    "security_defaults": ("535 5.7.139 Authentication unsuccessful, user is locked by your organization's security "
                          "defaults policy."),
    "basic_auth_disabled": "535 5.7.139 Authentication unsuccessful, basic authentication is disabled.",
    "bad_credentials": "535 5.7.139 Authentication unsuccessful, the user credentials were incorrect.",
    "bad_token": "535 5.7.3 Authentication unsuccessful",
    "basic_auth_removed": "550 5.7.30 Basic authentication is not supported for Client Submission.",
    "relay_denied": "550 5.7.64 TenantAttribution; Relay Access Denied",
    "direct_send_rejected": ("550 5.7.68 TenantInboundAttribution; Direct Send not allowed for this organization "
                             "from unauthorized sources"),
    "legacy_tls": ("421 4.7.66 TLS 1.0 and 1.1 are not supported. Please upgrade/update your client to support TLS "
                   "1.2. Visit https://aka.ms/smtp_auth_tls"),
    "auth_ok": "235 2.7.0 Authentication successful",
}


@pytest.fixture
def model(tmp_path):
    return Lab(lab_config.load_config(None, {"state_dir": str(tmp_path)}))


@pytest.mark.parametrize("key", sorted(FACT_TEXTS))
def test_answers_are_the_facts_texts(model, key):
    assert model.answer(key).startswith(FACT_TEXTS[key])


def test_send_as_and_rate_answers(model):
    assert model.answer("send_as_denied", login="a@x.test", address="b@x.test").startswith(
        "554 5.2.252 SendAsDenied; a@x.test not allowed to send as b@x.test")
    assert model.answer("rate_limited", ip="127.0.0.1").startswith(
        "451 4.7.500 Server busy. Please try again later from [127.0.0.1]. (S77719)")
    assert set(ANSWERS) >= set(FACT_TEXTS)


def test_merge_patch():
    target = {"a": {"b": 1, "c": 2}, "d": [1]}
    assert lab_config.merge_patch(target, {"a": {"b": None, "e": 3}, "d": [2]}) == {"a": {"c": 2, "e": 3}, "d": [2]}


def test_config_paths_follow_state_dir(tmp_path):
    config = lab_config.load_config(None, {"state_dir": str(tmp_path)})
    assert config["ca_file"] == str(tmp_path / "ca.pem")
    assert config["store_path"] == str(tmp_path / "messages.jsonl")
    assert config["ports"]["submission"] == lab_config.LAB_PORTS["submission"]


def test_default_paths_match_the_lab_profile():
    config = lab_config.load_config()
    assert config["ca_file"] == "/var/tmp/mailfleet-lab/ca.pem"


@pytest.mark.parametrize("patch, message", [
    ({"ports": {"submission": 70000}}, "ports.submission"),
    ({"ports": {"nonsense": 1}}, "unknown listener"),
    ({"rate_limit": {"window_seconds": 0}}, "rate_limit"),
    ({"bind_extra": "::1"}, "bind_extra"),
])
def test_config_errors(patch, message):
    with pytest.raises(lab_config.ConfigError, match=message):
        lab_config.load_config(None, patch)


def test_redacted_has_no_secrets():
    text = repr(lab_config.redacted(lab_config.load_config()))
    assert "alice-lab-password" not in text
    assert lab_config.APP_SECRET not in text


def test_addresses_are_case_insensitive(model):
    identity, answer = model.check_password("Alice@Contoso.TEST", "alice-lab-password")
    assert answer is None and identity.user == "alice@contoso.test"


def test_tenant_switch_wins_over_wrong_password(model):
    model.config["tenant"]["smtp_auth_disabled"] = True
    assert model.check_password("alice@contoso.test", "wrong")[1] == model.answer("tenant_smtp_auth_disabled")


def test_mailbox_switch_needs_the_right_password(model):
    assert model.check_password("policy@contoso.test", "wrong")[1] == model.answer("bad_credentials")


def test_token_roundtrip_and_expiry(model):
    app = lab_config.APP_CLIENT_ID
    token = model.make_token({"idtyp": "app", "appid": app, "roles": ["SMTP.SendAsApp"]}, 60)
    assert model.decode_token(token)["appid"] == app
    assert model.check_xoauth2("alice@contoso.test", token)[0].app == app
    expired = model.make_token({"idtyp": "app", "appid": app, "roles": ["SMTP.SendAsApp"]}, -1)
    assert model.decode_token(expired) is None
    no_role = model.make_token({"idtyp": "app", "appid": app, "roles": []}, 60)
    assert model.check_xoauth2("alice@contoso.test", no_role)[1] == model.answer("bad_token")
    refresh = model.make_token({"idtyp": "refresh", "appid": app, "upn": "alice@contoso.test"}, 60)
    assert model.check_xoauth2("alice@contoso.test", refresh)[1] == model.answer("bad_token")


def test_token_from_other_key_refused(model, tmp_path):
    other = Lab(lab_config.load_config(None, {"state_dir": str(tmp_path / "other")}))
    token = other.make_token({"idtyp": "app", "appid": lab_config.APP_CLIENT_ID, "roles": ["SMTP.SendAsApp"]}, 60)
    assert model.decode_token(token) is None


def test_rate_limit_window(model):
    model.config["rate_limit"] = {"messages": 2, "window_seconds": 0.2}
    model.count_sent("alice@contoso.test")
    assert not model.rate_limited("alice@contoso.test")
    model.count_sent("alice@contoso.test")
    assert model.rate_limited("alice@contoso.test")
    assert not model.rate_limited("bob@contoso.test")
    time.sleep(0.25)
    assert not model.rate_limited("alice@contoso.test")


def test_store_roundtrip(model):
    model.store({"subject": "one"})
    model.store({"subject": "two"})
    assert [m["subject"] for m in model.messages()] == ["one", "two"]
    model.clear_store()
    assert model.messages() == []


# ----- IMAP / POP logins and the new tenant answers (issue 14) ---------------------------------------------------

def _app_token(model, roles):
    return model.make_token({"aud": "https://outlook.office365.com", "idtyp": "app", "appid": lab_config.APP_CLIENT_ID,
                             "roles": roles}, 600)


def _user_token(model, user, scp):
    return model.make_token({"aud": "https://outlook.office.com", "idtyp": "user", "upn": user, "scp": scp}, 600)


def test_mailbox_password_logins(model):
    assert model.check_mailbox_password("imap", "alice@contoso.test", "alice-lab-password").user == "alice@contoso.test"
    assert model.check_mailbox_password("pop", "alice@contoso.test", "wrong") is None
    model.config["accounts"]["alice@contoso.test"]["imap_disabled"] = True
    assert model.check_mailbox_password("imap", "alice@contoso.test", "alice-lab-password") is None
    assert model.check_mailbox_password("pop", "alice@contoso.test", "alice-lab-password") is not None
    model.config["tenant"]["imap_pop_basic_auth_retired"] = True
    assert model.check_mailbox_password("pop", "alice@contoso.test", "alice-lab-password") is None


def test_mailbox_tokens_need_the_protocol_scope_or_role(model):
    alice = "alice@contoso.test"
    assert model.check_mailbox_token("imap", alice, _user_token(model, alice, "IMAP.AccessAsUser.All")) is not None
    assert model.check_mailbox_token("imap", alice, _user_token(model, alice, "SMTP.Send")) is None
    assert model.check_mailbox_token("pop", alice, _user_token(model, alice, "IMAP.AccessAsUser.All")) is None
    assert model.check_mailbox_token("imap", "bob@contoso.test", _user_token(model, alice, "IMAP.AccessAsUser.All")) is None
    app = model.check_mailbox_token("imap", alice, _app_token(model, ["IMAP.AccessAsApp"]))
    assert app is not None and model.mailbox_connected(app)
    assert model.check_mailbox_token("imap", alice, _app_token(model, ["SMTP.SendAsApp"])) is None
    # without the mailbox permission: IMAP authenticates, then cannot connect; POP refuses the login
    bob = model.check_mailbox_token("imap", "bob@contoso.test", _app_token(model, ["IMAP.AccessAsApp"]))
    assert bob is not None and not model.mailbox_connected(bob)
    assert model.check_mailbox_token("pop", "bob@contoso.test", _app_token(model, ["POP.AccessAsApp"])) is None


def test_smtp_auth_switch_texts_tell_tenant_from_mailbox(model):
    assert model.check_password("smtpoff@contoso.test", "smtpoff-lab-password")[1] == model.answer(
        "mailbox_smtp_auth_disabled")
    model.config["tenant"]["smtp_auth_disabled"] = True
    assert model.check_password("smtpoff@contoso.test", "smtpoff-lab-password")[1] == model.answer(
        "tenant_smtp_auth_disabled")


def test_tenant_outbound_limit_counts_external_recipients_only(model):
    model.config["tenant"]["external_recipient_limit"] = 2
    assert not model.over_tenant_outbound_limit("x@example.org")
    model.count_external(["x@example.org", "bob@contoso.test"])
    assert not model.over_tenant_outbound_limit("y@example.org")
    model.count_external(["y@example.org"])
    assert model.over_tenant_outbound_limit("z@example.org")
    assert not model.over_tenant_outbound_limit("bob@contoso.test")


@pytest.mark.parametrize("patch,message", [
    ({"tenant": {"sending_blocked": "yes"}}, "tenant.sending_blocked"),
    ({"tenant": {"send_as_check": "header"}}, "tenant.send_as_check"),
    ({"accounts": {"alice@contoso.test": {"continuous_error_throttled": "5.2.9"}}}, "continuous_error_throttled"),
])
def test_new_switches_are_validated(tmp_path, patch, message):
    with pytest.raises(lab_config.ConfigError, match=message):
        lab_config.load_config(None, dict(patch, state_dir=str(tmp_path)))
