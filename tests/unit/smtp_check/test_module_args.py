# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""smtp_check's arguments (plugins/module_utils/_probe/module_args.py): which endpoints a task names, the profile's settings."""

import pytest

from ansible_collections.mailfleet.outlook.plugins.module_utils._probe.module_args import (
    ENGINE_OPTIONS, argument_spec, endpoints_to_probe, profile_settings)

pytestmark = [pytest.mark.timeout(30), pytest.mark.core_independent]


def params(**kw):
    out = dict((name, spec.get("default")) for name, spec in argument_spec().items())
    out.update(kw)
    return out


def test_explicit_endpoints_lose_their_unset_keys():
    got = endpoints_to_probe(params(endpoints=[{"host": "a.example", "port": 587, "security": "starttls", "proxy": None}]), None)
    assert got == [{"host": "a.example", "port": 587, "security": "starttls"}]


def test_one_host_and_port():
    assert endpoints_to_probe(params(host="a.example", port=25, security="none"), None) == [
        {"name": "a.example:25", "host": "a.example", "port": 25, "security": "none", "protocol": "smtp"}]


def test_profile_endpoints_with_and_without_incoming():
    settings = profile_settings(params(profile="microsoft365"))
    smtp_only = endpoints_to_probe(params(profile="microsoft365"), settings)
    assert [(e["name"], e["host"], e["port"], e["security"]) for e in smtp_only] == [
        ("microsoft365 submission", "smtp.office365.com", 587, "starttls")]
    both = endpoints_to_probe(params(profile="microsoft365", include_incoming=True), settings)
    assert [e["protocol"] for e in both] == ["smtp", "imap", "pop"]


def test_a_profile_without_smtp_host_says_what_to_give():
    with pytest.raises(ValueError, match="profile onprem has no SMTP host: give profile_overrides.smtp_host"):
        endpoints_to_probe(params(profile="onprem"), {"smtp": {"host": None}})


def test_a_bad_profile_is_a_value_error_naming_it():
    with pytest.raises(ValueError, match="^profile nosuchcloud: "):
        profile_settings(params(profile="nosuchcloud"))


def test_oauth2_tenant_and_client_id_reach_the_settings():
    settings = profile_settings(params(profile="microsoft365", auth={"oauth2": {
        "tenant": "contoso.onmicrosoft.com", "client_id": "11111111-2222-3333-4444-555555555555"}}))
    assert "contoso.onmicrosoft.com" in settings["oauth2"]["token_url"]


def test_every_engine_option_is_a_parameter():
    assert set(ENGINE_OPTIONS.values()) <= set(argument_spec())
