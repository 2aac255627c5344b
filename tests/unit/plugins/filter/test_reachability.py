# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The reachability role's filters (plugins/plugin_utils/_reachability.py): plan, Basic-auth list, host result.

The expected values are what the role's former templates (plan.json.j2, basic_auth.json.j2, result.json.j2)
rendered for the same inputs (compared with ansible's Templar on 548 input combinations before they were deleted).
"""

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.mailfleet.outlook.plugins.plugin_utils import _reachability as R
from ansible_collections.mailfleet.outlook.plugins.module_utils._settings import build_settings

M365 = build_settings("microsoft365", {})
LAB = build_settings("lab", {})
SMTP = {"name": "smtp", "host": "smtp.office365.com", "port": 587, "security": "starttls", "required": True}


@pytest.mark.parametrize("name", ["reachability_basic_auth", "reachability_plan", "reachability_result"])
def test_filters_are_registered(name):
    """Each filter has its own plugin file (its documentation inline, as galaxy-importer and ansible-doc read it)
    that registers exactly it, the function of plugin_utils/_reachability.py."""
    import importlib  # pylint: disable=import-outside-toplevel
    plugin = importlib.import_module("ansible_collections.mailfleet.outlook.plugins.filter.%s" % name)
    assert plugin.FilterModule().filters() == {name: getattr(R, name)}
    assert yaml.safe_load(plugin.DOCUMENTATION)["name"] == name


# --- plan ---


def test_plan_smtp_only():
    out = R.reachability_plan(M365)
    assert out["plan"] == [SMTP]
    assert out["probe_endpoints"] == [{"name": "smtp", "host": "smtp.office365.com", "port": 587, "security": "starttls"}]
    assert out["error"] == ""


def test_plan_incoming_mx_and_key_order():
    settings = dict(LAB, connector={"port": "10025", "security": "starttls"}, mx_host="mx.test")
    out = R.reachability_plan(settings, smtp=True, include_incoming=True)
    assert [list(e) for e in out["plan"]] == [
        ["name", "host", "port", "security", "required"],
        ["name", "host", "port", "security", "protocol", "required"],
        ["name", "host", "port", "security", "protocol", "required"],
        ["name", "host", "port", "security", "required"]]
    assert out["plan"][1] == {"name": "imap", "host": "localhost", "port": 10993, "security": "tls", "protocol": "imap",
                              "required": True}
    assert out["plan"][2]["name"] == "pop"
    assert out["plan"][3] == {"name": "mx", "host": "mx.test", "port": 10025, "security": "starttls", "required": True}
    assert all("required" not in e for e in out["probe_endpoints"])


def test_plan_mx_needs_both_host_and_connector():
    assert R.reachability_plan(dict(M365, mx_host="mx.test", connector=None), smtp=False)["plan"] == []
    assert R.reachability_plan(dict(M365, mx_host=None, connector={"port": 25, "security": "starttls"}),
                               smtp=False)["plan"] == []


def test_plan_smtp_false_and_no_incoming():
    out = R.reachability_plan(M365, smtp=False, include_incoming=False)
    assert out["plan"] == [] and out["probe_endpoints"] == []
    assert out["error"] == R.EMPTY_PLAN
    assert out["error"].startswith("nothing to probe for this host: reachability_smtp is false")


def test_plan_keeps_an_earlier_error():
    out = R.reachability_plan({}, smtp=True, error="invalid settings: x")
    assert out == {"plan": [], "probe_endpoints": [], "error": "invalid settings: x"}
    assert R.reachability_plan(M365, error="e")["error"] == "e"


@pytest.mark.parametrize("settings", [{}, None])
def test_plan_of_invalid_settings_with_incoming(settings):
    # the former template read s['pop'] as dict.pop here and failed
    out = R.reachability_plan(settings, smtp=True, include_incoming=True)
    assert out["plan"] == [] and out["error"] == R.EMPTY_PLAN


def test_plan_extra_endpoints_defaults_and_optional_keys():
    extra = [{"name": "onprem", "host": "relay.corp", "port": "2525"},
             {"name": "i", "host": "h", "port": 993, "security": "tls", "protocol": "imap", "required": "no",
              "proxy": "socks5h://p:1080"},
             {"name": "n", "host": "h", "port": 25, "security": None, "required": False, "protocol": "", "proxy": None}]
    out = R.reachability_plan(M365, smtp=False, extra_endpoints=extra)
    assert out["plan"] == [
        {"name": "onprem", "host": "relay.corp", "port": 2525, "security": "starttls", "required": True},
        {"name": "i", "host": "h", "port": 993, "security": "tls", "required": False, "protocol": "imap",
         "proxy": "socks5h://p:1080"},
        {"name": "n", "host": "h", "port": 25, "security": None, "required": False}]
    assert list(out["plan"][1]) == ["name", "host", "port", "security", "required", "protocol", "proxy"]
    assert out["probe_endpoints"][1] == {"name": "i", "host": "h", "port": 993, "security": "tls", "protocol": "imap",
                                         "proxy": "socks5h://p:1080"}
    assert out["error"] == ""


def test_plan_extra_endpoint_errors_name_the_entry():
    with pytest.raises(AnsibleFilterError, match=r"reachability_extra_endpoints\[0\]: host is missing\. Fix: "):
        R.reachability_plan(M365, extra_endpoints=[{"name": "x", "port": 25}])
    with pytest.raises(AnsibleFilterError, match=r"reachability_extra_endpoints\[1\]: 'x' is not a dictionary"):
        R.reachability_plan(M365, extra_endpoints=[{"name": "a", "host": "h", "port": 1}, "x"])


# --- Basic auth ---


def test_deadline_comes_from_the_settings_model():
    assert R.basic_auth_deadline("microsoft365") == M365["basic_auth_deadline"] == "2026-12-31"
    assert R.basic_auth_deadline("lab") == "2026-12-31"  # the lab rehearses Microsoft's rules
    assert R.basic_auth_deadline("custom") is None
    assert R.basic_auth_deadline("microsoft365_hve") is None
    assert R.basic_auth_deadline("nope") is None
    assert R.basic_auth_deadline(None) is None


def test_basic_auth_nothing():
    assert R.reachability_basic_auth([]) == []
    assert R.reachability_basic_auth(None, relay_auth_method="oauth2", client_accounts=[{"user": "a"}]) == []


def test_basic_auth_relay():
    assert R.reachability_basic_auth([], profile="microsoft365", relay_auth_method="password") == [
        {"component": "relay", "profile": "microsoft365", "variable": "relay_auth_method", "fix": R.RELAY_FIX,
         "deadline": "2026-12-31"}]
    assert R.RELAY_FIX.startswith("set relay_auth_method: oauth2 (with the app registration's client id")
    # relay_profile wins; custom has no deadline
    assert R.reachability_basic_auth([], relay_auth_method="password", relay_profile="custom") == []
    assert R.reachability_basic_auth([], profile="custom", relay_auth_method="password") == []
    assert R.reachability_basic_auth([], profile="custom", relay_auth_method="password",
                                     relay_profile="lab")[0]["profile"] == "lab"


def test_basic_auth_clients_and_their_defaults():
    accounts = [{"user": "bob", "address": "bob@contoso.com", "auth_method": "password"},
                {"address": "c@x"},
                {"user": "d", "address": "d@x", "profile": "custom", "auth_method": "password"},
                {"user": "e", "address": "e@x", "profile": "outlook_com", "auth_method": "password"},
                {"user": "g", "address": "g@x", "profile": "nope", "auth_method": "password"},
                {"user": "h", "address": "h@x", "auth_method": "oauth2"}]
    out = R.reachability_basic_auth([], profile="microsoft365", client_accounts=accounts)
    assert out == [
        {"component": "client bob <bob@contoso.com>", "profile": "microsoft365",
         "variable": "client_accounts[0].auth_method", "fix": R.CLIENT_FIX, "deadline": "2026-12-31"},
        {"component": "client e <e@x>", "profile": "outlook_com", "variable": "client_accounts[3].auth_method",
         "fix": R.CLIENT_FIX, "deadline": "2026-12-31"}]
    out = R.reachability_basic_auth([], profile="custom", client_accounts=accounts, client_profile="lab",
                                    client_auth_method="password")
    assert [i["component"] for i in out] == ["client bob <bob@contoso.com>", "client ? <c@x>", "client e <e@x>"]
    assert [i["profile"] for i in out] == ["lab", "lab", "outlook_com"]


def test_basic_auth_reads_address_never_email():
    out = R.reachability_basic_auth([], client_accounts=[{"user": "al", "email": "al@x", "auth_method": "password"}])
    assert out[0]["component"] == "client al <?>"
    out = R.reachability_basic_auth([], client_accounts=[{"user": "al", "email": "no@x", "address": "al@x",
                                                          "auth_method": "password"}])
    assert out[0]["component"] == "client al <al@x>"


def test_basic_auth_sources():
    sources = [{"component": "app", "auth_method": "password", "variable": "app_auth"},
               {"component": "app2", "auth_method": "password", "variable": "v", "fix": "do x", "profile": "gcc_high"},
               {"component": "app3", "auth_method": "oauth2", "variable": "v"},
               {"component": "app4", "auth_method": "password", "variable": "v", "profile": "custom"},
               {"component": "app5", "variable": "v"},
               "not a dict"]
    out = R.reachability_basic_auth(sources, profile="lab", relay_auth_method="password")
    assert out == [
        {"component": "app", "profile": "lab", "variable": "app_auth", "fix": R.DEFAULT_FIX, "deadline": "2026-12-31"},
        {"component": "app2", "profile": "gcc_high", "variable": "v", "fix": "do x", "deadline": "2026-12-31"},
        {"component": "relay", "profile": "lab", "variable": "relay_auth_method", "fix": R.RELAY_FIX,
         "deadline": "2026-12-31"}]
    assert R.DEFAULT_FIX == "move to oauth2 or a connector"


def test_basic_auth_source_without_variable_is_a_clear_error():
    with pytest.raises(AnsibleFilterError, match=r"reachability_basic_auth_sources\[0\]: variable is missing\. Fix: "):
        R.reachability_basic_auth([{"component": "a", "auth_method": "password"}])


def test_basic_auth_deadlines_as_data():
    accounts = [{"user": "a", "address": "a@x", "auth_method": "password", "profile": "custom"}]
    assert R.reachability_basic_auth([], client_accounts=accounts, deadlines={"custom": "2030-01-01"})[0]["deadline"] \
        == "2030-01-01"
    assert R.reachability_basic_auth([], relay_auth_method="password", deadlines={}) == []
    assert R.reachability_basic_auth([], relay_auth_method="password", relay_profile=None,
                                     deadlines={"x": "1"}) == []


# --- result ---

PLAN = R.reachability_plan(M365, extra_endpoints=[{"name": "opt", "host": "h", "port": 25, "required": False}])
PROBE_OK = {"changed": False, "failed": False, "endpoints": [{"name": "smtp", "ok": True}]}
SKIPPED = {"skipped": True, "changed": False}
UNREACHABLE = {"unreachable": True, "msg": "ssh down", "changed": False}


def result(probe, **kw):
    args = dict(settings=M365, plan=PLAN["plan"], probe_endpoints=PLAN["probe_endpoints"], plan_error="", ping={},
                drift={}, relay_drift=None, basic_auth=[], senders=None)
    args.update(kw)
    return R.reachability_result(probe, "microsoft365", **args)


def test_result_ok_and_key_order():
    out = result(PROBE_OK)
    assert list(out) == ["profile", "microsoft", "planned", "required", "endpoints", "unreachable", "msg", "probe_error",
                         "drift", "basic_auth", "senders", "senders_error"]
    assert out == {"profile": "microsoft365", "microsoft": True, "planned": PLAN["probe_endpoints"], "required": ["smtp"],
                   "endpoints": PROBE_OK["endpoints"], "unreachable": False, "msg": "", "probe_error": None,
                   "drift": {"checked": False, "changed": False, "files": [], "msg": ""}, "basic_auth": [],
                   "senders": None, "senders_error": None}


def test_result_defaults():
    out = R.reachability_result({}, "lab")
    assert out["microsoft"] is False and out["planned"] == [] and out["required"] == [] and out["endpoints"] == []
    assert out["probe_error"] is None and out["basic_auth"] == []


def test_result_unreachable_by_probe_or_ping():
    out = result(UNREACHABLE, ping=SKIPPED)
    assert (out["unreachable"], out["msg"], out["probe_error"]) == (True, "ssh down", None)
    out = result(SKIPPED, ping=UNREACHABLE, plan=[], plan_error="invalid settings: x")
    assert (out["unreachable"], out["msg"], out["probe_error"]) == (True, "ssh down", "invalid settings: x")
    out = result(SKIPPED, ping={"ping": "pong", "msg": "not shown"}, plan=[], plan_error=R.EMPTY_PLAN)
    assert (out["unreachable"], out["msg"], out["probe_error"]) == (False, "", R.EMPTY_PLAN)


def test_result_probe_error():
    assert result({"failed": True, "msg": "bad args", "endpoints": []})["probe_error"] == \
        "mailfleet.outlook.smtp_check failed: bad args"
    assert result({"changed": False})["probe_error"] == "mailfleet.outlook.smtp_check failed: no result"
    assert result({"changed": False}, plan=[])["probe_error"] is None  # nothing planned: no probe expected
    assert result({"failed": True}, plan_error="invalid settings: x")["probe_error"] == "invalid settings: x"


def test_result_drift():
    drift = {"results": [{"skipped": True, "changed_files": ["/skipped"]},
                         {"changed_files": ["/a", "/b"], "item": {"name": "x", "format": "f"}},
                         {"failed": True, "msg": "boom", "item": {"format": "fmt"}, "changed_files": ["/a"]},
                         {"failed": True, "item": {}}]}
    out = result(PROBE_OK, drift=drift)
    assert out["drift"] == {"checked": True, "changed": True, "files": ["/a", "/b"], "msg": "fmt: boom; ?: failed"}
    out = result(PROBE_OK, drift=drift, relay_drift={"checked": True, "files": ["/b", "/c"], "msg": ""})
    assert out["drift"]["files"] == ["/a", "/b", "/c"]
    out = result(PROBE_OK, drift={"results": [{"skipped": True}]},
                 relay_drift={"checked": True, "files": [], "msg": "relay: failed"})
    assert out["drift"] == {"checked": True, "changed": False, "files": [], "msg": "relay: failed"}
    assert result(PROBE_OK, drift={"results": [{"skipped": True}]})["drift"]["checked"] is False


def test_result_senders():
    facts = {"ansible_facts": {"mail_senders": {"senders": []}}, "changed": False}
    assert (result(PROBE_OK, senders=facts)["senders"], result(PROBE_OK, senders=facts)["senders_error"]) == \
        ({"senders": []}, None)
    assert result(PROBE_OK, senders=SKIPPED)["senders"] is None
    assert result(PROBE_OK, senders={"changed": False})["senders"] is None
    out = result(PROBE_OK, senders={"failed": True, "msg": "oops"})
    assert (out["senders"], out["senders_error"]) == (None, "oops")
    assert result(PROBE_OK, senders={"failed": True})["senders_error"] == "mail_senders_facts failed"


def test_result_passes_the_basic_auth_list():
    items = R.reachability_basic_auth([], relay_auth_method="password")
    assert result(PROBE_OK, basic_auth=items)["basic_auth"] == items
