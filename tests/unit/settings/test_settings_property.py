"""Property test: whatever a user puts in the variables, the validator answers with settings or its own error."""

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from ansible_collections.mailfleet.outlook.plugins.module_utils._catalog import PROFILE_NAMES
from ansible_collections.mailfleet.outlook.plugins.module_utils._settings import OVERRIDE_KEYS, SettingsError, build_settings

pytestmark = pytest.mark.core_independent

anything = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2 ** 70), max_value=2 ** 70), st.floats(allow_nan=True),
    st.text(max_size=40), st.binary(max_size=10), st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)
ports = st.one_of(st.integers(min_value=-10, max_value=70000), st.sampled_from([25, 465, 587, 993, 995, "587", "465", " 25 "]), anything)
securities = st.one_of(st.sampled_from(["starttls", "tls", "none", "ssl", "STARTTLS", ""]), anything)
hosts = st.one_of(
    st.sampled_from(["smtp.office365.com", "relay.corp.example", "127.0.0.1", "::1", "smtp.office365.com:587",
                     "smtp://x", "-bad-.example", "a" * 300, "localhost"]),
    st.from_regex(r"\A[a-z0-9.:-]{0,30}\Z"), anything)
auths = st.one_of(st.sampled_from(["oauth2", "password", "none", "basic"]), anything)
addresses = st.one_of(st.emails(), st.sampled_from(["alice@contoso.com", "alice", "a@b@c"]), anything)

overrides = st.fixed_dictionaries({}, optional={
    "smtp_host": hosts, "smtp_port": ports, "smtp_security": securities,
    "imap_host": hosts, "imap_port": ports, "imap_security": securities,
    "pop_port": ports, "pop_security": securities,
    "auth_method": auths, "username": addresses, "sender": addresses,
    "tenant": st.one_of(st.sampled_from(["contoso.onmicrosoft.com", "00000000-0000-4000-8000-000000000001"]), anything),
    "client_id": anything, "mx_host": hosts, "tls_min_version": st.one_of(st.sampled_from(["1.0", "1.2", "1.3"]), anything),
    "ca_file": st.one_of(st.just("/etc/ssl/certs/ca-certificates.crt"), anything),
    "allow_plaintext_auth": st.one_of(st.booleans(), st.sampled_from(["yes", "no", "maybe"]), anything),
})


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(profile=st.one_of(st.sampled_from(PROFILE_NAMES), anything), values=overrides, prefix=st.sampled_from(["", "relay_"]))
def test_validator_only_raises_its_own_clear_error(profile, values, prefix):
    try:
        result = build_settings(profile, values, var_prefix=prefix)
    except SettingsError as exc:
        text = str(exc)
        assert text.startswith(prefix), text
        assert "=" in text and ". Fix: " in text, text
        assert exc.variable.startswith(prefix)
        return
    # Whatever was accepted is consistent.
    smtp = result["smtp"]
    assert 1 <= smtp["port"] <= 65535
    assert smtp["security"] in ("starttls", "tls", "none")
    if result["microsoft"]:
        assert smtp["port"] != 465 and smtp["security"] == "starttls"
        assert result["tls_min_version"] in ("1.2", "1.3") or smtp["host"] == "smtp-legacy.office365.com"
    if smtp["port"] == 587:
        assert smtp["security"] != "tls"
    if smtp["port"] == 465:
        assert smtp["security"] != "starttls"
    if result["auth_method"] != "none" and smtp["security"] == "none":
        assert result["allow_plaintext_auth"] is True
    if result["auth_method"] == "password" and result["basic_auth_deadline"]:
        assert any("December 2026" in w for w in result["warnings"])


@settings(max_examples=300, deadline=None)
@given(key=st.text(min_size=1, max_size=20).filter(lambda k: k not in OVERRIDE_KEYS), value=anything)
def test_unknown_keys_are_named(key, value):
    try:
        build_settings("microsoft365", {key: value})
    except SettingsError as exc:
        assert exc.variable == key
    else:
        raise AssertionError("unknown key %r accepted" % key)
