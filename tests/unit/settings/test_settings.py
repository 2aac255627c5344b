"""Every validation rule of the settings model, with its exact error text."""

import pytest

from ansible_collections.mailfleet.outlook.plugins.module_utils._catalog import LAB_PORTS, PROFILE_NAMES
from ansible_collections.mailfleet.outlook.plugins.module_utils._settings import SettingsError, build_settings

pytestmark = pytest.mark.core_independent

SOURCE_465 = (
    'learn.microsoft.com "How to set up a multifunction device or application to send email using Microsoft 365": '
    "\"If your device recommends or defaults to port 465, it doesn't support SMTP AUTH client submission.\" "
    "The Office 365 endpoints list has no TCP 465."
)


def error(profile, overrides=None, prefix=""):
    with pytest.raises(SettingsError) as info:
        build_settings(profile, overrides, var_prefix=prefix)
    return str(info.value)


# --- the effective settings ------------------------------------------------------------------------------


def test_worldwide_defaults():
    s = build_settings("microsoft365")
    assert s["smtp"] == {"host": "smtp.office365.com", "port": 587, "security": "starttls"}
    assert s["imap"] == {"host": "outlook.office365.com", "port": 993, "security": "tls"}
    assert s["pop"] == {"host": "outlook.office365.com", "port": 995, "security": "tls"}
    assert s["auth_method"] == "oauth2"
    assert s["limits"] == {"messages_per_minute": 30, "recipients_per_day": 10000, "recipients_per_message": 500,
                           "tenant_external_recipients_per_day": "500 x licences^0.7 + 9,500 (trial tenants: 5,000)",
                           "message_size": 35 * 1024 * 1024}
    assert s["recipients"] == "internal and external"
    assert s["oauth2"]["token_url"] is None  # no tenant given
    assert s["warnings"] == []
    assert s["basic_auth_deadline"] == "2026-12-31"


def test_tenant_builds_token_urls():
    s = build_settings("microsoft365", {"tenant": "contoso.onmicrosoft.com", "client_id": "11111111-2222-3333-4444-555555555555"})
    assert s["oauth2"]["token_url"] == "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
    assert s["oauth2"]["device_code_url"] == "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/devicecode"
    assert s["oauth2"]["client_id"] == "11111111-2222-3333-4444-555555555555"
    gcc = build_settings("gcc_high", {"tenant": "00000000-0000-4000-8000-000000000001"})
    assert gcc["oauth2"]["token_url"].startswith("https://login.microsoftonline.us/00000000-")


def test_outlook_com_uses_consumers_tenant():
    s = build_settings("outlook_com")
    assert s["smtp"]["host"] == "smtp-mail.outlook.com"
    assert s["oauth2"]["token_url"] == "https://login.microsoftonline.com/consumers/oauth2/v2.0/token"


def test_lab_profile():
    s = build_settings("lab", {"auth_method": "password", "username": "alice@contoso.test"})
    assert s["smtp"] == {"host": "localhost", "port": LAB_PORTS["submission"], "security": "starttls"}
    assert s["sender"] == "alice@contoso.test"
    assert s["ca_file"] == "/var/tmp/mailfleet-lab/ca.pem"
    assert s["oauth2"]["token_url"] == "https://localhost:%d/contoso.test/oauth2/v2.0/token" % LAB_PORTS["token"]
    assert any("December 2026" in w for w in s["warnings"]), "the lab rehearses the Basic auth timeline"


def test_custom_profile_infers_port_and_security():
    assert build_settings("custom", {"smtp_host": "relay.corp.example"})["smtp"] == {
        "host": "relay.corp.example", "port": 587, "security": "starttls"}
    assert build_settings("custom", {"smtp_host": "relay.corp.example", "smtp_port": 465})["smtp"]["security"] == "tls"
    assert build_settings("custom", {"smtp_host": "relay.corp.example", "smtp_security": "tls"})["smtp"]["port"] == 465
    s = build_settings("custom", {"smtp_host": "10.0.0.5", "smtp_port": "25", "auth_method": "none"})
    assert s["smtp"] == {"host": "10.0.0.5", "port": 25, "security": "starttls"}
    assert s["imap"] is None and s["oauth2"] is None


def test_port_alone_keeps_the_services_security():
    s = build_settings("lab", {"imap_port": 20993, "pop_port": 20995, "smtp_port": 20587})
    assert (s["imap"]["security"], s["pop"]["security"], s["smtp"]["security"]) == ("tls", "tls", "starttls")
    s = build_settings("microsoft365", {"imap_port": 143, "smtp_port": 25})
    assert (s["imap"]["security"], s["smtp"]["security"]) == ("starttls", "starttls")
    custom = build_settings("custom", {"smtp_host": "relay.example", "smtp_port": 2525, "imap_host": "imap.example", "imap_port": 1993})
    assert (custom["smtp"]["security"], custom["imap"]["security"]) == ("starttls", "tls")


def test_port_as_string_is_accepted():
    assert build_settings("microsoft365", {"smtp_port": "25"})["smtp"]["port"] == 25


def test_none_values_are_ignored():
    assert build_settings("microsoft365", {"smtp_port": None, "username": None})["smtp"]["port"] == 587


def test_connector_settings_with_mx_host():
    s = build_settings("microsoft365", {"auth_method": "none", "mx_host": "contoso-com.mail.protection.outlook.com"})
    assert s["auth_method"] == "none"
    assert s["mx_host"] == "contoso-com.mail.protection.outlook.com"
    assert s["connector"] == {"port": 25, "security": "starttls"}


# --- the rules, each with its exact text ---------------------------------------------------------------


def test_unknown_profile():
    assert error("exchange") == (
        "profile='exchange': not a known profile. Fix: use one of china, custom, dod, gcc_high, lab, microsoft365, "
        "microsoft365_hve, outlook_com")


def test_unknown_setting_names_the_variable_with_prefix():
    assert error("microsoft365", {"smtp_server": "x"}, prefix="relay_").startswith(
        "relay_smtp_server='x': not a setting. Fix: use one of smtp_host, smtp_port,")


@pytest.mark.parametrize("value", ["abc", "5 87", 58.7, True, [587], "-1"])
def test_port_not_an_integer(value):
    assert error("microsoft365", {"smtp_port": value}, "relay_") == (
        "relay_smtp_port=%r: not a port number. Fix: give an integer from 1 to 65535, e.g. 587 for SMTP submission" % (value,))


@pytest.mark.parametrize("value", [0, 65536, "70000"])
def test_port_out_of_range(value):
    assert error("custom", {"smtp_host": "relay.example", "smtp_port": value}) == (
        "smtp_port=%r: port outside 1-65535. Fix: give an integer from 1 to 65535, e.g. 587 for SMTP submission" % (value,))


def test_implicit_tls_on_587():
    assert error("custom", {"smtp_host": "relay.example", "smtp_port": 587, "smtp_security": "tls"}) == (
        "smtp_security='tls': 587 uses STARTTLS; 465 is implicit TLS (an implicit-TLS connect to 587 fails: 'first record "
        "does not look like a TLS handshake'). Fix: set smtp_security=starttls; guides that say 'use SSL, not STARTTLS' "
        "on 587 are wrong")


def test_implicit_tls_on_587_microsoft():
    assert error("microsoft365", {"smtp_security": "tls"}).startswith("smtp_security='tls': 587 uses STARTTLS; 465 is implicit TLS")


def test_starttls_on_465():
    assert error("custom", {"smtp_host": "relay.example", "smtp_port": 465, "smtp_security": "starttls"}) == (
        "smtp_security='starttls': 587 uses STARTTLS; 465 is implicit TLS (port 465 is SMTP submission over implicit TLS). "
        "Fix: set smtp_security=tls for port 465, or use the STARTTLS port with starttls")


@pytest.mark.parametrize("profile", ["microsoft365", "outlook_com", "gcc_high", "dod", "china"])
@pytest.mark.parametrize("security", [None, "tls", "starttls"])
def test_465_refused_for_every_microsoft_profile(profile, security):
    msg = error(profile, {"smtp_port": 465, "smtp_security": security}, "relay_")
    assert msg == ("relay_smtp_port=465: Microsoft 365 does not support 465; use 587 with STARTTLS (source: %s). "
                   "Fix: set relay_smtp_port=587 and relay_smtp_security=starttls" % SOURCE_465)


def test_ssl_is_explained():
    assert error("microsoft365", {"smtp_security": "SSL"}) == (
        "smtp_security='SSL': not one of starttls, tls, none. Fix: use starttls (port 587), tls (implicit TLS: 465, 993, 995) "
        "or none (guides say 'SSL' for implicit TLS: that is tls)")


def test_microsoft_implicit_tls_on_other_port():
    assert error("microsoft365", {"smtp_port": 25, "smtp_security": "tls"}) == (
        "smtp_security='tls': Microsoft 365 SMTP submission offers no implicit TLS, only STARTTLS on 587. "
        "Fix: set smtp_port=587 and smtp_security=starttls")


def test_microsoft_without_tls():
    assert error("microsoft365", {"smtp_port": 25, "smtp_security": "none"}) == (
        "smtp_security='none': Microsoft 365 requires TLS 1.2 or later. Fix: set smtp_security=starttls")


def test_plaintext_credentials_refused():
    assert error("custom", {"smtp_host": "relay.example", "smtp_port": 25, "smtp_security": "none",
                            "auth_method": "password", "username": "svc"}) == (
        "smtp_security='none': with auth_method=password the credentials would cross the network in clear text. "
        "Fix: use starttls or tls, or set allow_plaintext_auth=true for a trusted relay")
    assert "auth_method=oauth2" in error("custom", {"smtp_host": "relay.example", "smtp_security": "none", "auth_method": "oauth2"})


def test_plaintext_credentials_explicitly_allowed_with_warning():
    s = build_settings("custom", {"smtp_host": "relay.example", "smtp_port": 25, "smtp_security": "none",
                                  "auth_method": "password", "username": "svc", "allow_plaintext_auth": "yes"})
    assert s["allow_plaintext_auth"] is True
    assert s["warnings"] == ["smtp_security=none with authentication: credentials cross the network in clear text "
                             "(allowed by allow_plaintext_auth)."]


def test_plaintext_without_credentials_is_fine():
    s = build_settings("custom", {"smtp_host": "relay.example", "smtp_port": 25, "smtp_security": "none", "auth_method": "none"})
    assert s["warnings"] == []


def test_ip_address_refused_for_microsoft_smtp_auth():
    assert error("microsoft365", {"smtp_host": "52.96.0.1"}) == (
        "smtp_host='52.96.0.1': IP addresses are not supported for Microsoft 365 SMTP AUTH (the certificate names the DNS name). "
        "Fix: use the DNS name smtp.office365.com")
    assert "IP addresses are not supported" in error("gcc_high", {"smtp_host": "2001:db8::1", "auth_method": "password"})


@pytest.mark.parametrize("value", ["alice", "alice@", "@contoso.com", "alice@@contoso.com", "al ice@contoso.com",
                                   "alice@contoso", "alice@-contoso.com", "alice@contoso..com", 42])
def test_malformed_addresses(value):
    assert error("microsoft365", {"username": value}, "relay_") == (
        "relay_username=%r: not a valid email address. Fix: give the mailbox address (UPN) as user@domain, "
        "e.g. alice@contoso.com" % (value,))
    assert error("microsoft365", {"sender": value}) == (
        "sender=%r: not a valid email address. Fix: give the sender address as user@domain, e.g. alice@contoso.com" % (value,))


def test_password_refused_for_outlook_com():
    assert error("outlook_com", {"auth_method": "password", "username": "alice@outlook.com"}) == (
        "auth_method='password': Outlook.com requires OAuth2 (Modern Auth) for IMAP, POP and SMTP since September 2024. "
        "Fix: set auth_method=oauth2")


@pytest.mark.parametrize("profile", ["microsoft365", "gcc_high", "dod", "china"])
def test_password_on_microsoft_warns_with_timeline(profile):
    s = build_settings(profile, {"auth_method": "password", "username": "alice@contoso.com"}, var_prefix="relay_")
    assert len(s["warnings"]) == 1
    warning = s["warnings"][0]
    assert warning.startswith("relay_auth_method=password against ")
    assert "disables Basic authentication for SMTP AUTH by default for existing tenants at the end of December 2026" in warning
    assert "Deadline: 2026-12-31 (Microsoft 365 message center MC786329 (updated 2026-01-27))" in warning
    assert warning.endswith("Fix: set relay_auth_method=oauth2, or relay through a connector.")


def test_unknown_auth_method():
    assert error("microsoft365", {"auth_method": "basic"}) == (
        "auth_method='basic': not one of oauth2, password, none. "
        "Fix: use oauth2 (XOAUTH2 tokens), password (AUTH LOGIN) or none (connector / direct send)")


def test_microsoft_submission_needs_auth_or_mx_host():
    assert error("microsoft365", {"auth_method": "none"}) == (
        "auth_method='none': Microsoft 365 SMTP submission requires authentication (530 5.7.57 otherwise). "
        "Fix: use oauth2 or password, or relay through a connector / direct send by setting mx_host to the tenant's MX host")


@pytest.mark.parametrize("host,problem", [
    ("smtp.office365.com:587", "contains a port. Fix: put the host name here and the port in smtp_port"),
    ("smtp://smtp.office365.com", "a URL, not a host name"),
    ("smtp office365.com", "not a valid DNS name or IP address"),
    ("", "not a host name"),
])
def test_bad_hosts(host, problem):
    assert error("microsoft365", {"smtp_host": host}).startswith("smtp_host=%r: %s" % (host, problem))


def test_custom_needs_host():
    assert error("custom", {}, "relay_") == (
        "relay_smtp_host=None: required for profile custom. Fix: set relay_smtp_host to the server's DNS name")


def test_legacy_tls_only_on_the_legacy_endpoint():
    assert error("microsoft365", {"tls_min_version": "1.0"}) == (
        "tls_min_version='1.0': Microsoft 365 requires TLS 1.2 or later for SMTP AUTH (421 4.7.66 otherwise). "
        "Fix: use 1.2; only the opt-in endpoint smtp-legacy.office365.com accepts TLS 1.0/1.1 (Works only after the "
        "tenant opts in: Set-TransportConfig -AllowLegacyTLSClients $true (EAC: \"Turn on use of legacy TLS clients\"); "
        "not in GCC, GCC High or DoD. A stopgap: devices that need TLS 1.0/1.1 usually cannot do OAuth2 either, so they "
        "lose Basic auth too.)")
    s = build_settings("microsoft365", {"smtp_host": "smtp-legacy.office365.com", "tls_min_version": "1.1"})
    assert s["tls_min_version"] == "1.1"


def test_bad_tenant_client_id_ca_file_and_boolean():
    assert error("microsoft365", {"tenant": "not a tenant"}).startswith("tenant='not a tenant': not a tenant id (GUID) or domain")
    assert error("microsoft365", {"client_id": "a b"}).startswith("client_id='a b': not an application (client) ID")
    assert error("microsoft365", {"ca_file": "ca.pem"}).startswith("ca_file='ca.pem': not an absolute path")
    assert error("microsoft365", {"allow_plaintext_auth": "maybe"}) == (
        "allow_plaintext_auth='maybe': not a boolean. Fix: use true or false")


def test_imap_rules_follow_the_same_model():
    assert error("microsoft365", {"imap_port": 993, "imap_security": "starttls"}).startswith(
        "imap_security='starttls': 587 uses STARTTLS; 465 is implicit TLS (port 993 is IMAPS)")
    assert error("microsoft365", {"pop_security": "none"}) == (
        "pop_security='none': Microsoft 365 requires TLS 1.2 or later. Fix: set pop_security=tls")


def test_every_profile_builds_with_defaults():
    for name in PROFILE_NAMES:
        if name == "custom":
            continue
        assert build_settings(name)["profile"] == name


def test_hve_profile_has_no_december_2026_deadline():
    s = build_settings("microsoft365_hve", {"username": "app@contoso.com", "auth_method": "password"})
    assert s["basic_auth_deadline"] is None and s["recipients"] == "internal only"
    assert not any("December 2026" in w for w in s["warnings"])
    assert s["imap"] is None and s["smtp"]["host"] == "smtp-hve.office365.com"


@pytest.mark.parametrize("profile,legacy", [("microsoft365", "smtp-legacy.office365.com"),
                                            ("china", "smtp-legacy.partner.outlook.cn")])
def test_old_tls_error_names_the_profile_s_legacy_endpoint_and_the_opt_in(profile, legacy):
    with pytest.raises(SettingsError) as err:
        build_settings(profile, {"tls_min_version": "1.1"})
    assert legacy in str(err.value) and "AllowLegacyTLSClients" in str(err.value)
    assert build_settings(profile, {"tls_min_version": "1.1", "smtp_host": legacy})["tls_min_version"] == "1.1"


def test_old_tls_error_for_a_cloud_without_a_legacy_endpoint():
    with pytest.raises(SettingsError, match="profile gcc_high has no legacy TLS endpoint"):
        build_settings("gcc_high", {"tls_min_version": "1.0"})
