# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Verdicts come from the catalog and the settings validator; fixes and adoption proposals follow from them."""

import json

import pytest

from ansible_collections.mailfleet.outlook.plugins.module_utils._catalog import BASIC_AUTH_RETIREMENT
from ansible_collections.mailfleet.outlook.plugins.module_utils._senders import _adopt, _finding, _verdict
from mailfleet_testing.senders import codes

pytestmark = pytest.mark.timeout(60)


def judged(host, port, security="starttls", auth="password", required=True, cert=True, account="a@contoso.com",
           upstreams=(), **kw):
    f = _finding.new_finding("postfix", "/etc/postfix/main.cf", 3, host=host, port=port, security=security,
                             tls_required=required, cert_check=cert, auth=auth, account=account, **kw)
    return _verdict.judge(f, upstreams)


@pytest.mark.parametrize("host, expected", [
    ("smtp.office365.com", ("microsoft365", "submission", True)), ("[SMTP.Office365.com.]", ("microsoft365", "submission", True)),
    ("smtp-legacy.office365.com", ("microsoft365", "submission", True)), ("outlook.office365.com", ("microsoft365", "mailbox", True)),
    ("smtp-mail.outlook.com", ("outlook_com", "submission", True)), ("outlook.office365.us", ("gcc_high", "submission", True)),
    ("contoso-com.mail.protection.outlook.com", ("microsoft365", "mx", True)), ("contoso.mx.microsoft", ("microsoft365", "mx", True)),
    ("mail.protection.outlook.com", (None, None, False)), ("smtp.office365.com.evil.example", (None, None, False)),
    ("relay.example", (None, None, False)),
])
def test_classify(host, expected):
    c = _verdict.classify(host)
    assert (c["profile"], c["service"], c["microsoft"]) == expected


def test_declared_upstream_wins_with_its_port():
    ups = [{"host": "lab.fleet.test", "port": 10587, "profile": "lab"}]
    assert _verdict.classify("lab.fleet.test", 10587, ups)["profile"] == "lab"
    assert _verdict.classify("lab.fleet.test", 25, ups)["profile"] is None


@pytest.mark.parametrize("kw, verdict, problem_codes", [
    ({"host": "smtp.office365.com", "port": 587}, "stops", ["basic_auth"]),
    ({"host": "smtp.office365.com", "port": 587, "auth": "oauth2"}, "ok", []),
    ({"host": "smtp.office365.com", "port": 465, "security": "tls"}, "wrong", ["port_465", "basic_auth"]),
    ({"host": "smtp.office365.com", "port": 587, "security": "tls"}, "wrong", ["implicit_tls", "basic_auth"]),
    ({"host": "smtp.office365.com", "port": 587, "security": "none", "cert": None}, "wrong", ["no_tls", "basic_auth"]),
    ({"host": "smtp.office365.com", "port": 587, "auth": "none"}, "wrong", ["auth_none"]),
    ({"host": "smtp.office365.com", "port": 25, "auth": "oauth2"}, "blocked", ["port_25"]),
    ({"host": "smtp.office365.com", "port": 587, "required": False, "cert": False}, "stops", ["basic_auth", "tls_optional", "no_cert_check"]),
    ({"host": "smtp-mail.outlook.com", "port": 587}, "wrong", ["auth_password", "basic_auth"]),
    ({"host": "contoso-com.mail.protection.outlook.com", "port": 25, "auth": "none"}, "ok", []),
    ({"host": "contoso-com.mail.protection.outlook.com", "port": 25, "auth": "certificate"}, "ok", []),
    ({"host": "contoso-com.mail.protection.outlook.com", "port": 25, "auth": "password"}, "wrong", ["auth_mx"]),
    ({"host": "relay.example", "port": 587}, "not_microsoft", []),
    ({"host": "relay.example", "port": 25, "security": "none", "cert": None}, "unsafe", ["no_tls"]),
    ({"host": "relay.example", "port": 587, "cert": False}, "unsafe", ["no_cert_check"]),
    ({"host": "lab.fleet.test", "port": 10587, "upstreams": [{"host": "lab.fleet.test", "port": 10587, "profile": "lab"}]},
     "stops", ["basic_auth"]),
    ({"host": "smtp.office365.com", "port": 587, "auth": "unknown"}, "review", []),
])
def test_verdicts(kw, verdict, problem_codes):
    f = judged(**kw)
    assert (f["verdict"], codes(f)) == (verdict, problem_codes)


def test_basic_auth_text_carries_the_catalog_deadline():
    f = judged("smtp.office365.com", 587)
    assert BASIC_AUTH_RETIREMENT["disabled_by_default_from"] in f["problems"][0]["text"]
    assert f["verdict"] in _verdict.VERDICT_TITLES and BASIC_AUTH_RETIREMENT["disabled_by_default_from"] in _verdict.VERDICT_TITLES["stops"]


def test_validator_texts_are_used():
    f = judged("smtp.office365.com", 465, security="tls")
    assert "Microsoft 365 does not support 465" in f["problems"][0]["text"]


def test_world_readable_secret():
    f = judged("relay.example", 587, secret={"set": True, "file": "/etc/x", "mode": "0644", "world_readable": True})
    assert f["verdict"] == "unsafe" and f["fix"] == "chmod 0600 /etc/x (only its owner may read it)"


def test_fix_managed_versus_adoption():
    unmanaged = judged("smtp.office365.com", 587)
    assert unmanaged["fix"].startswith("adopt the host with mailfleet.outlook.relay")
    assert unmanaged["adopt"]["vars"] == {"relay_profile": "microsoft365", "relay_mode": "submission", "relay_auth_method": "oauth2",
                                          "relay_username": "a@contoso.com", "relay_tenant": "contoso.com"}
    assert sorted(unmanaged["adopt"]["to_fill"]) == ["relay_client_id", "relay_client_secret"]
    managed = judged("smtp.office365.com", 587, managed=True)
    assert managed["fix"] == _verdict.MANAGED_FIX["basic_auth"]


def test_adoption_of_a_lab_upstream_keeps_host_and_port():
    f = judged("lab.fleet.test", 10587, upstreams=[{"host": "lab.fleet.test", "port": 10587, "profile": "lab"}])
    assert f["adopt"]["vars"]["relay_smtp_host"] == "lab.fleet.test" and f["adopt"]["vars"]["relay_smtp_port"] == 10587


def test_adoption_of_465_moves_to_587_and_of_a_connector():
    f = judged("smtp.office365.com", 465, security="tls")
    assert "relay_smtp_port" not in f["adopt"]["vars"] and "port 465 becomes 587 with STARTTLS" in f["adopt"]["notes"]
    mx = judged("contoso-com.mail.protection.outlook.com", 25, auth="password")
    assert mx["adopt"]["vars"] == {"relay_profile": "microsoft365", "relay_mode": "connector",
                                   "relay_mx_host": "contoso-com.mail.protection.outlook.com"}


def test_yaml_proposal_is_data_even_for_hostile_values():
    f = judged("smtp.office365.com", 587, account="evil\nrelay_mode: custom")
    text = _adopt.to_yaml(f["adopt"], host="web01", source="postfix /etc/postfix/main.cf:3")
    yaml = pytest.importorskip("yaml")
    doc = yaml.safe_load(text)
    assert doc["relay_mode"] == "submission" and "relay_username" not in doc
    good = judged("smtp.office365.com", 587, account='a"b@contoso.com')
    doc = yaml.safe_load(_adopt.to_yaml(good["adopt"]))
    assert doc["relay_profile"] == "microsoft365"
    assert json.loads(json.dumps(doc)) == doc


def test_managed_mark_matches_mail_config():
    from ansible_collections.mailfleet.outlook.plugins.action.mail_config import MANAGED
    assert (MANAGED % ("postfix_relay", "x")).startswith(_finding.MANAGED_MARK)


def test_high_volume_email_is_not_on_the_december_deadline():
    """The catalog's HVE profile has its own Basic auth entry without a date: a password to smtp-hve is not 'stops'."""
    f = judged("smtp-hve.office365.com", 587)
    assert (f["profile"], f["microsoft"]) == ("microsoft365_hve", True)
    assert "basic_auth" not in codes(f) and f["verdict"] == "review"
    assert judged("smtp.office365.com", 587)["verdict"] == "stops"
