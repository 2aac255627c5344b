# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The example inventory (inventories/example) is a working layout: vault secrets decrypt, every site's
variables validate, and the reachability plan and the Basic auth list come out as its comments say.
Only the controller-side planning runs (no connection to the example hosts, which do not exist)."""

import os

import pytest

from mailfleet_testing import AnsibleRunner, make_env

pytestmark = pytest.mark.timeout(180)

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
INVENTORY = os.path.join(REPO, "inventories", "example")
VAULT_PASSWORD = "example-vault-password-change-me"   # documented in the vault file's header


def test_example_inventory_plans(tmp_path):
    (tmp_path / "local").mkdir()
    pw = tmp_path / "vault-pass"
    pw.write_text(VAULT_PASSWORD + "\n")
    runner = AnsibleRunner(make_env(tmp_path / "local"), tmp_path)
    play = [{
        "name": "plan only", "hosts": "all", "gather_facts": False,
        "tasks": [
            {"name": "plan", "ansible.builtin.include_role": {"name": "mailfleet.outlook.reachability", "tasks_from": "plan"}},
            {"name": "show", "ansible.builtin.debug": {"msg": {
                "plan": "{{ _reachability_plan }}", "error": "{{ _reachability_plan_error }}",
                "basic": "{{ _reachability_basic_auth }}",
                "secret_resolves": "{{ (relay_password | default(relay_client_secret | default(''))) | length > 0 }}"}}},
        ],
    }]
    run = runner.playbook(play, inventory=INVENTORY, args=["--vault-password-file", str(pw)]).assert_ok()
    out = dict((t["host"], t["result"]["msg"]) for t in run.tasks if t["task"] == "show")
    assert len(out) == 7 and all(v["error"] == "" for v in out.values()), out

    hq = out["hq-app01.contoso.com"]
    assert [(p["name"], p["host"], p["port"], p["security"]) for p in hq["plan"]] == [("smtp", "smtp.office365.com", 587, "starttls")]
    assert hq["basic"] == [] and hq["secret_resolves"] is True

    branch = out["br1-pos01.contoso.com"]
    assert [(p["name"], p["host"], p["port"]) for p in branch["plan"]] == [("mx", "contoso-com.mail.protection.outlook.com", 25)]

    onprem = out["fab-scada01.contoso.com"]
    assert [(p["name"], p["required"]) for p in onprem["plan"]] == [("smtp", True), ("m365-submission", False)]
    assert onprem["plan"][0]["host"] == "smtp.fab.contoso.local"
    assert onprem["basic"] == []          # custom profile: no Microsoft deadline

    gov = out["gov-app01.contoso-gov.com"]
    assert gov["plan"][0]["host"] == "outlook.office365.us"
    assert [(b["component"], b["variable"], b["deadline"]) for b in gov["basic"]] == [("relay", "relay_auth_method", "2026-12-31")]
    # the vaulted secret is never printed by the role's planning
    assert "replace-with-the-gcc-high-mailbox-password" not in run.stdout.replace('"secret_resolves": true', "")


def test_client_accounts_on_password_are_listed(tmp_path):
    """client_accounts entries with auth_method: password against a Microsoft profile are listed too."""
    (tmp_path / "local").mkdir()
    pw = tmp_path / "vault-pass"
    pw.write_text(VAULT_PASSWORD + "\n")
    runner = AnsibleRunner(make_env(tmp_path / "local"), tmp_path)
    play = [{
        "name": "plan only", "hosts": "hq-ws01.contoso.com,fab-scada01.contoso.com", "gather_facts": False,
        "tasks": [
            {"name": "plan", "ansible.builtin.include_role": {"name": "mailfleet.outlook.reachability", "tasks_from": "plan"}},
            {"name": "show", "ansible.builtin.debug": {"var": "_reachability_basic_auth"}},
        ],
    }]
    accounts = [{"user": "alice", "address": "alice@contoso.com", "profile": "microsoft365", "auth_method": "oauth2"},
                {"user": "carol", "address": "carol@contoso.com", "profile": "microsoft365", "auth_method": "password"},
                {"user": "dave", "address": "dave@fab.contoso.local", "profile": "custom", "auth_method": "password"}]
    run = runner.playbook(play, inventory=INVENTORY, extra_vars={"client_accounts": accounts},
                          args=["--vault-password-file", str(pw)]).assert_ok()
    out = dict((t["host"], t["result"]["_reachability_basic_auth"]) for t in run.tasks if t["task"] == "show")
    assert [(b["component"], b["variable"]) for b in out["hq-ws01.contoso.com"]] == [
        ("client carol <carol@contoso.com>", "client_accounts[1].auth_method")]
    assert [b["component"] for b in out["fab-scada01.contoso.com"]] == ["client carol <carol@contoso.com>"]
