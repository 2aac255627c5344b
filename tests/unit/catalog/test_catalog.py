"""The catalog against the facts file (shared/facts/microsoft-mail.md) and its own invariants."""

import os
import re

import pytest

from ansible_collections.mailfleet.outlook.plugins.module_utils import _catalog as catalog

pytestmark = pytest.mark.core_independent

FACTS = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "shared", "facts", "microsoft-mail.md")

# Expected values, written out from the facts file, section 1 (one row per profile).
EXPECTED = {
    "microsoft365": {
        "smtp": ("smtp.office365.com", 587, "starttls"),
        "imap": ("outlook.office365.com", 993, "tls"),
        "pop": ("outlook.office365.com", 995, "tls"),
        "authority": "https://login.microsoftonline.com",
        "tenant": None,
        "auth_methods": ("oauth2", "password"),
    },
    "outlook_com": {
        "smtp": ("smtp-mail.outlook.com", 587, "starttls"),
        "imap": ("outlook.office365.com", 993, "tls"),
        "pop": ("outlook.office365.com", 995, "tls"),
        "authority": "https://login.microsoftonline.com",
        "tenant": "consumers",
        "auth_methods": ("oauth2",),
    },
    "gcc_high": {
        "smtp": ("outlook.office365.us", 587, "starttls"),
        "imap": ("outlook.office365.us", 993, "tls"),
        "pop": ("outlook.office365.us", 995, "tls"),
        "authority": "https://login.microsoftonline.us",
        "tenant": None,
        "auth_methods": ("oauth2", "password"),
    },
    "dod": {
        "smtp": ("outlook-dod.office365.us", 587, "starttls"),
        "imap": ("outlook-dod.office365.us", 993, "tls"),
        "pop": ("outlook-dod.office365.us", 995, "tls"),
        "authority": "https://login.microsoftonline.us",
        "tenant": None,
        "auth_methods": ("oauth2", "password"),
    },
    "china": {
        "smtp": ("smtp.partner.outlook.cn", 587, "starttls"),
        "imap": ("partner.outlook.cn", 993, "tls"),
        "pop": ("partner.outlook.cn", 995, "tls"),
        "authority": "https://login.partner.microsoftonline.cn",
        "tenant": None,
        "auth_methods": ("oauth2", "password"),
    },
}

FACTS_ROWS = {  # first words of each row of the facts file's endpoint table -> profile
    "Microsoft 365 / Exchange Online, worldwide": "microsoft365",
    "Outlook.com consumer": "outlook_com",
    "GCC High": "gcc_high",
    "DoD": "dod",
    "21Vianet": "china",
}


def _endpoint(profile, kind):
    e = catalog.PROFILES[profile][kind]
    return (e["host"], e["port"], e["security"])


def test_profile_names():
    assert catalog.PROFILE_NAMES == ("china", "custom", "dod", "gcc_high", "lab", "microsoft365", "microsoft365_hve",
                                     "outlook_com")
    assert catalog.MICROSOFT_PROFILES == ("china", "dod", "gcc_high", "microsoft365", "microsoft365_hve", "outlook_com")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_microsoft_profile_fields(name):
    profile = catalog.PROFILES[name]
    want = EXPECTED[name]
    for kind in ("smtp", "imap", "pop"):
        assert _endpoint(name, kind) == want[kind]
        assert profile[kind]["source"], "every endpoint carries its source"
    assert profile["oauth2"]["authority_url"] == want["authority"]
    assert profile["oauth2"]["tenant"] == want["tenant"]
    assert profile["oauth2"]["token_path"] == "/{tenant}/oauth2/v2.0/token"
    assert tuple(profile["auth_methods"]) == want["auth_methods"]
    assert profile["microsoft"] is True
    assert profile["implicit_tls_supported"] is False
    assert profile["ip_host_allowed"] is False
    assert profile["tls_min_version"] == "1.2"


@pytest.mark.parametrize("name", ["microsoft365", "gcc_high", "dod", "china"])
def test_tenant_profiles_limits_and_connector(name):
    profile = catalog.PROFILES[name]
    assert profile["limits"]["messages_per_minute"] == 30
    assert profile["limits"]["recipients_per_day"] == 10000
    assert profile["connector"]["port"] == 25
    assert profile["connector"]["security"] == "starttls"
    # The MX host is an input, never built from a pattern.
    assert profile["connector"]["mx_host"] is None
    assert profile["direct_send"]["mx_host"] is None
    assert profile["direct_send"]["recipients"] == "internal only"
    assert "password" in profile["auth_notes"] and "December 2026" in profile["auth_notes"]["password"]["note"]


def test_worldwide_scopes_and_legacy_endpoint():
    m365 = catalog.PROFILES["microsoft365"]
    assert m365["oauth2"]["scope_app"] == "https://outlook.office365.com/.default"
    assert m365["oauth2"]["scopes_delegated"] == [
        "https://outlook.office.com/SMTP.Send",
        "https://outlook.office.com/IMAP.AccessAsUser.All",
        "https://outlook.office.com/POP.AccessAsUser.All",
        "offline_access",
    ]
    assert m365["smtp_legacy_tls_host"]["host"] == "smtp-legacy.office365.com"


def test_sovereign_cloud_scopes():
    assert catalog.PROFILES["gcc_high"]["oauth2"]["scope_app"] == "https://outlook.office365.us/.default"
    assert catalog.PROFILES["dod"]["oauth2"]["scopes_delegated"] == [
        "https://outlook-dod.office365.us/SMTP.Send",
        "https://outlook-dod.office365.us/IMAP.AccessAsUser.All",
        "https://outlook-dod.office365.us/POP.AccessAsUser.All",
        "offline_access",
    ]
    assert catalog.PROFILES["china"]["oauth2"]["scopes_delegated"][0] == "https://partner.outlook.cn/SMTP.Send"


def test_unconfirmed_facts_are_marked():
    assert catalog.PROFILES["china"]["smtp"]["confirmed"] is False
    assert "unconfirmed" in catalog.PROFILES["gcc_high"]["smtp"]["note"]
    for name in ("gcc_high", "dod", "china"):
        assert catalog.PROFILES[name]["oauth2"]["confirmed"] is False
    assert catalog.PROFILES["microsoft365"]["oauth2"]["confirmed"] is True


def test_basic_auth_timeline():
    assert catalog.BASIC_AUTH_RETIREMENT["disabled_by_default_from"] == "2026-12-31"
    assert "MC786329" in catalog.BASIC_AUTH_RETIREMENT["source"]
    assert catalog.BASIC_AUTH_RETIREMENT["answer_after_removal"].startswith("550 5.7.30 ")


def test_custom_profile_has_no_defaults():
    custom = catalog.PROFILES["custom"]
    assert custom["smtp"]["host"] is None and custom["smtp"]["port"] is None
    assert custom["microsoft"] is False
    assert set(custom["auth_methods"]) == {"password", "oauth2", "none"}


def test_lab_profile_points_at_lab_ports():
    lab = catalog.PROFILES["lab"]
    assert _endpoint("lab", "smtp") == ("localhost", catalog.LAB_PORTS["submission"], "starttls")
    assert _endpoint("lab", "imap") == ("localhost", catalog.LAB_PORTS["imap"], "tls")
    assert lab["connector"]["port"] == catalog.LAB_PORTS["connector"]
    assert lab["oauth2"]["authority_url"] == "https://localhost:%d" % catalog.LAB_PORTS["token"]
    assert lab["ca_file"] == catalog.LAB_CA_FILE
    assert lab["emulates_microsoft"] is True
    assert len(set(catalog.LAB_PORTS.values())) == len(catalog.LAB_PORTS), "one port per lab behaviour"
    assert all(1024 < port < 65536 for port in catalog.LAB_PORTS.values())


def test_get_profile_is_a_copy():
    p = catalog.get_profile("microsoft365")
    p["smtp"]["port"] = 1
    assert catalog.PROFILES["microsoft365"]["smtp"]["port"] == 587
    with pytest.raises(KeyError):
        catalog.get_profile("nope")


def _facts_table():
    if not os.path.exists(FACTS):
        pytest.skip("shared/facts/microsoft-mail.md is not beside the checkout")
    with open(FACTS, encoding="utf-8") as handle:
        text = handle.read()
    section = text.split("## 1. Endpoints", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        if not line.startswith("| ") or line.startswith("| service") or line.startswith("|---"):
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        for prefix, profile in FACTS_ROWS.items():
            if cells[0].startswith(prefix):
                rows[profile] = cells
    return rows


def _host_port(cell):
    host = re.search(r"`([^`]+)`", cell)
    port = re.search(r"(?:`[^`]+`|same host)\s+(\d+)", cell)
    return host.group(1) if host else None, int(port.group(1)) if port else None


def test_catalog_matches_facts_file_table():
    rows = _facts_table()
    assert sorted(rows) == sorted(EXPECTED), "every Microsoft profile has its row in the facts file"
    for profile, cells in rows.items():
        smtp_host, smtp_port = _host_port(cells[1])
        assert (smtp_host, smtp_port) == _endpoint(profile, "smtp")[:2]
        assert "STARTTLS" in cells[1]
        imap_host, imap_port = _host_port(cells[2])
        assert imap_port == 993
        # "same host 993" (DoD) means the SMTP host.
        assert (imap_host if "same host" not in cells[2] else smtp_host) == catalog.PROFILES[profile]["imap"]["host"]
        assert "`%s`" % catalog.PROFILES[profile]["oauth2"]["authority_url"].split("//")[1] in cells[4]


# ----- the 2026-12 audit (facts section 6; issue 14) ----------------------------------------------------------------

def test_outlook_com_has_no_app_only_route():
    oauth2 = catalog.PROFILES["outlook_com"]["oauth2"]
    assert oauth2["scope_app"] is None
    assert "client credentials" in oauth2["app_only_note"] and "tenant" in oauth2["app_only_note"]
    assert catalog.PROFILES["microsoft365"]["oauth2"]["scope_app"] == catalog.M365_APP_SCOPE


@pytest.mark.parametrize("profile,host", [("microsoft365", "smtp-legacy.office365.com"),
                                          ("china", "smtp-legacy.partner.outlook.cn")])
def test_legacy_tls_endpoints_name_the_opt_in(profile, host):
    legacy = catalog.PROFILES[profile]["smtp_legacy_tls_host"]
    assert (legacy["host"], legacy["port"], legacy["security"]) == (host, 587, "starttls")
    assert "AllowLegacyTLSClients" in legacy["note"] and "not in GCC, GCC High or DoD" in legacy["note"]
    for name in ("gcc_high", "dod"):
        assert "smtp_legacy_tls_host" not in catalog.PROFILES[name]


def test_china_submission_port_is_unconfirmed():
    smtp = catalog.PROFILES["china"]["smtp"]
    assert smtp["confirmed"] is False
    assert "443/80 only" in smtp["note"] and "587/993/995" not in smtp["source"]


@pytest.mark.parametrize("name", ["microsoft365", "gcc_high", "dod", "china"])
def test_limits_include_recipients_per_message_and_the_tenant_outbound_limit(name):
    limits = catalog.PROFILES[name]["limits"]
    assert limits["recipients_per_message"] == 500
    assert "9,500" in limits["tenant_external_recipients_per_day"]
    assert "Tenant Outbound Email Limits" in limits["source"]


def test_high_volume_email_profile():
    hve = catalog.PROFILES["microsoft365_hve"]
    assert _endpoint("microsoft365_hve", "smtp") == ("smtp-hve.office365.com", 587, "starttls")
    assert hve["confirmed"] is False and hve["smtp"]["confirmed"] is False
    assert hve["recipients"] == "internal only" and hve["imap"] is None and hve["pop"] is None
    assert hve["connector"] is None and hve["direct_send"] is None
    assert hve["basic_auth"]["disabled_by_default_from"] is None and "unconfirmed" in hve["basic_auth"]["text"]
