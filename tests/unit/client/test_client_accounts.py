# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The client role's account model: validation errors name the account and the fix; derived values."""

from __future__ import annotations

import uuid

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.mailfleet.outlook.plugins.filter.client_accounts import client_accounts
from ansible_collections.mailfleet.outlook.plugins.plugin_utils._client import (
    UUID_NAMESPACE,
    ClientError,
    normalize_accounts,
)

pytestmark = pytest.mark.timeout(30)

CLIENT_ID = "11111111-2222-3333-4444-555555555555"


def alice(**kw):
    base = {"user": "alice", "address": "alice@contoso.com", "display_name": "Alice Example", "clients": ["msmtp"],
            "auth_method": "oauth2"}
    base.update(kw)
    return base


def error_of(accounts, **defaults):
    defaults.setdefault("client_id", CLIENT_ID)
    with pytest.raises(AnsibleFilterError) as info:
        client_accounts(accounts, **defaults)
    return str(info.value)


def test_unknown_client_is_named_with_the_valid_ones():
    msg = error_of([alice(), alice(user="bob", address="bob@contoso.com", clients=["msmtp", "outlook"])])
    assert msg.startswith("client_accounts[1] (user bob): clients='outlook': not a client this role configures")
    assert "evolution, msmtp, neomutt, thunderbird" in msg


def test_mutt_points_to_neomutt():
    assert "(mutt: use neomutt)" in error_of([alice(clients=["mutt"])])


@pytest.mark.parametrize("address", ["alice", "alice@", "@contoso.com", "alice@@contoso.com", "al ice@contoso.com", None])
def test_bad_address(address):
    msg = error_of([alice(address=address)])
    assert msg.startswith("client_accounts[0] (user alice): address=%r: not a valid email address" % (address,))
    assert "Fix: give the mailbox address" in msg


def test_oauth2_with_evolution_is_refused_with_the_reason():
    msg = error_of([alice(clients=["msmtp", "evolution"])])
    assert msg.startswith("client_accounts[0] (user alice): auth_method='oauth2': evolution cannot use oauth2 here:")
    assert "Fix: use password for evolution, or drop evolution from clients" in msg


def test_oauth2_with_thunderbird_needs_a_microsoft_host():
    msg = error_of([alice(clients=["thunderbird"], profile="lab", thunderbird_profile=".thunderbird/p")])
    assert "thunderbird finds OAuth2 endpoints only for Microsoft's own hosts" in msg


def test_oauth2_for_msmtp_needs_a_client_id():
    msg = error_of([alice()], client_id=None)
    assert msg.startswith("client_accounts[0] (user alice): client_client_id=None: the device-code sign-in")
    assert "Fix: set client_oauth2_client_id" in msg


def test_password_auth_needs_the_password_but_never_shows_it():
    msg = error_of([alice(auth_method="password")])
    assert "password='<not set>'" in msg
    ok = client_accounts([alice(auth_method="password", password="s3cret-canary")], client_id=CLIENT_ID)
    assert "s3cret-canary" not in repr(ok)


def test_settings_errors_carry_the_account_and_the_client_prefix():
    msg = error_of([alice(), alice(user="bob", address="bob@contoso.com", settings={"smtp_port": 465})])
    assert msg.startswith("client_accounts[1] (user bob): client_smtp_port=465: Microsoft 365 does not support 465")


def test_outlook_com_refuses_password():
    msg = error_of([alice(profile="outlook_com", auth_method="password", password="x")])
    assert "client_accounts[0] (user alice): client_auth_method='password': Outlook.com requires OAuth2" in msg


def test_one_account_per_user():
    msg = error_of([alice(), alice(address="alice2@contoso.com")])
    assert msg.startswith("client_accounts[1] (user alice): user='alice': already has an account (client_accounts[0])")


@pytest.mark.parametrize("user", ["Alice", "1abc", "a b", "", None, "x" * 40])
def test_bad_unix_user(user):
    msg = error_of([alice(user=user)])
    assert "user=%r: not a unix user name" % (user,) in msg


def test_unknown_account_key():
    assert "smtp_host=" in error_of([alice(smtp_host="x")]) and "not an account key" in error_of([alice(smtp_host="x")])


def test_thunderbird_profile_must_be_relative():
    msg = error_of([alice(clients=["thunderbird"], thunderbird_profile="/etc")])
    assert "thunderbird_profile='/etc': not a profile directory relative to the home directory" in msg
    msg = error_of([alice(clients=["thunderbird"], thunderbird_profile=".thunderbird/../../etc")])
    assert "not a profile directory" in msg


def test_published_domain_must_be_consistent():
    msg = error_of([alice(), alice(user="bob", address="bob@contoso.com", settings={"smtp_port": 25})])
    assert "client_accounts[1] (user bob): address='bob@contoso.com': the published files describe domain contoso.com once" in msg
    client_accounts([alice(), alice(user="bob", address="bob@contoso.com", settings={"smtp_port": 25}, publish=False)],
                    client_id=CLIENT_ID)


def test_derived_values():
    model = client_accounts([alice(username="alice+x@contoso.com", clients=["neomutt"])], client_id=CLIENT_ID)
    a = model["accounts"][0]
    assert a["smtp_url"] == "smtp://alice%2Bx%40contoso.com@smtp.office365.com:587/"
    assert a["imap_url"] == "imaps://alice%2Bx%40contoso.com@outlook.office365.com:993/"
    assert a["smtp"]["thunderbird_socket"] == 2 and a["imap"]["thunderbird_socket"] == 3
    assert a["smtp"]["evolution_security"] == "starttls-on-standard-port"
    assert a["imap"]["evolution_security"] == "ssl-on-alternate-port"
    assert a["thunderbird_auth"] == 10 and a["autoconfig_auth"] == "OAuth2"
    assert a["oauth2"]["tenant"] == "common"
    assert a["oauth2"]["device_code_url"] == "https://login.microsoftonline.com/common/oauth2/v2.0/devicecode"
    assert a["token_command"] is True and a["password_file"] is False
    assert model["domains"][0]["domain"] == "contoso.com" and model["domains"][0]["accounts"] == ["alice@contoso.com"]


def test_password_profile_has_basic_auth_warning():
    model = client_accounts([alice(auth_method="password", password="x")], client_id=CLIENT_ID)
    assert model["accounts"][0]["thunderbird_auth"] == 3
    assert model["warnings"] and model["warnings"][0].startswith("client_accounts[0] (user alice): client_auth_method=password")


def test_uuids_are_stable_and_distinct():
    first = normalize_accounts([alice(), alice(user="bob", address="bob@contoso.com")], {"client_id": CLIENT_ID})
    again = normalize_accounts([alice(user="bob", address="bob@contoso.com"), alice()], {"client_id": CLIENT_ID})
    assert first[0]["uuid"] == again[1]["uuid"] and first[1]["uuid"] == again[0]["uuid"]
    assert first[0]["uuid"]["apple_payload"] != first[1]["uuid"]["apple_payload"]
    assert len(set(first[0]["uuid"].values())) == len(first[0]["uuid"])
    # a known value: a change of the derivation would change every deployed profile
    expected = str(uuid.uuid5(UUID_NAMESPACE, "apple-payload\x1falice@contoso.com\x1fmicrosoft365")).upper()
    assert first[0]["uuid"]["apple_payload"] == expected
    # another profile is another account on the device
    lab = normalize_accounts([alice(profile="lab")], {"client_id": CLIENT_ID})
    assert lab[0]["uuid"]["apple_payload"] != first[0]["uuid"]["apple_payload"]


def test_not_a_list():
    with pytest.raises(ClientError, match=r"client_accounts=.*not a list"):
        normalize_accounts({"user": "alice"})


# ----- proxies (issue 14) ---------------------------------------------------------------------------------------

def test_proxy_for_msmtp_and_thunderbird():
    model = client_accounts([alice(clients=["msmtp", "thunderbird"], auth_method="password", password="pw",
                                   thunderbird_profile=".thunderbird/x.default")],
                            client_id=CLIENT_ID, proxy="socks5h://proxy.branch.example:1080")
    assert model["accounts"][0]["proxy"] == {"scheme": "socks5h", "host": "proxy.branch.example", "port": 1080,
                                             "remote_dns": True, "url": "socks5h://proxy.branch.example:1080"}
    own = client_accounts([alice(proxy="direct")], client_id=CLIENT_ID, proxy="socks5h://proxy:1080")
    assert own["accounts"][0]["proxy"] is None


@pytest.mark.parametrize("clients,proxy,variable,words", [
    (["neomutt"], "socks5h://proxy:1080", "client_proxy", ["neomutt cannot use it", "$tunnel", "drop neomutt"]),
    (["evolution"], "socks5h://proxy:1080", "client_proxy", ["evolution cannot use it", "GNOME"]),
    (["msmtp"], "http://proxy:3128", "client_proxy", ["msmtp cannot use it", "SOCKS5 only", "socks5h://host:port"]),
    (["thunderbird"], "http://proxy:3128", "client_proxy", ["thunderbird cannot use it", "SOCKS proxy only"]),
    (["msmtp"], "socks5h://probe@proxy:1080", "client_proxy", ["can authenticate to a proxy"]),
    (["msmtp"], "socks5h://probe:secret-in-url@proxy:1080", "client_proxy", ["carries a password"]),
    (["msmtp"], "gopher://proxy", "client_proxy", ["not a proxy this module speaks"]),
])
def test_proxy_refusals_name_account_variable_client_and_why(clients, proxy, variable, words):
    auth = "password" if "evolution" in clients else "oauth2"
    extra = {"thunderbird_profile": ".thunderbird/x.default"} if "thunderbird" in clients else {}
    msg = error_of([alice(clients=clients, auth_method=auth, password="pw", **extra)], proxy=proxy)
    assert msg.startswith("client_accounts[0] (user alice): %s=" % variable), msg
    for word in words:
        assert word in msg, (word, msg)
    assert "secret-in-url" not in msg and "Fix:" in msg


def test_account_proxy_wins_and_is_named():
    msg = error_of([alice(clients=["neomutt"], proxy="socks5h://proxy:1080")])
    assert msg.startswith("client_accounts[0] (user alice): proxy='socks5h://proxy:1080': neomutt cannot use it")
