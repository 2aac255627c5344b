# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection's main paths with whichever ansible-core runs this pytest: `make compat-2.16` runs it with the
oldest supported one (.venvs/ansible-core-2.16), `make integration` with .venv's. One playbook: the mail_settings
lookup, mail_config applying the Postfix relay files into a root directory (then again: no change), and smtp_check
authenticating against the lab with a password and with an XOAUTH2 app token."""

from __future__ import annotations

import os
import stat

import pytest

pytestmark = pytest.mark.timeout(240)

APP_ID = "11111111-1111-4111-8111-111111111111"
APP_SECRET = "lab-app-secret-value"
CANARY = "compat-canary-pw-51e0"


def test_lookup_apply_and_probe_on_this_core(run_playbook, lab, tmp_path):
    root = tmp_path / "root"
    settings = {"smtp_host": "localhost", "smtp_port": lab.ports["submission"], "auth_method": "password",
                "username": "alice@contoso.test", "ca_file": lab.ca_file}
    apply = {"format": ["postfix_relay"], "profile": "lab", "settings": settings, "secrets": {"password": CANARY},
             "vars": {}, "root": str(root), "var_prefix": "relay_"}
    probe = {"endpoints": [{"name": "submission", "host": "localhost", "port": lab.ports["submission"],
                            "security": "starttls"}], "ca_path": lab.ca_file, "timeout": 5}
    run = run_playbook([{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "core", "ansible.builtin.debug": {"msg": "{{ ansible_version.full }}"}},
        {"name": "settings", "ansible.builtin.set_fact": {
            "compat_settings": "{{ lookup('mailfleet.outlook.mail_settings', 'lab', **compat_overrides) }}"},
         "vars": {"compat_overrides": settings}},
        {"name": "apply", "mailfleet.outlook.mail_config": apply},
        {"name": "apply again", "mailfleet.outlook.mail_config": apply},
        {"name": "probe password", "mailfleet.outlook.smtp_check": dict(probe, auth={
            "username": "alice@contoso.test", "password": "alice-lab-password"})},
        {"name": "probe xoauth2", "mailfleet.outlook.smtp_check": dict(probe, auth={
            "username": "alice@contoso.test",
            "oauth2": {"client_id": APP_ID, "client_secret": APP_SECRET, "token_url": lab.token_url}})},
    ]}], timeout=200).assert_ok()

    core = run.result(task="core")["msg"]
    wanted = os.environ.get("MAILFLEET_EXPECT_CORE")
    assert not wanted or core.startswith(wanted + "."), "ran with ansible-core %s, expected %s" % (core, wanted)

    smtp = run.result(task="settings")["ansible_facts"]["compat_settings"]["smtp"]
    assert (smtp["host"], smtp["port"], smtp["security"]) == ("localhost", lab.ports["submission"], "starttls")

    assert run.result(task="apply")["changed"] is True
    assert run.result(task="apply again")["changed"] is False
    main_cf = (root / "etc/postfix/main.cf").read_text(encoding="utf-8")
    assert "relayhost = [localhost]:%d" % lab.ports["submission"] in main_cf
    sasl = root / "etc/postfix/sasl_passwd"
    assert CANARY in sasl.read_text(encoding="utf-8") and stat.S_IMODE(sasl.stat().st_mode) == 0o600
    assert CANARY not in run.all_output()

    for task in ("probe password", "probe xoauth2"):
        (endpoint,) = run.result(task=task)["endpoints"]
        assert endpoint["ok"] is True and endpoint["stage"] == "auth", (task, endpoint)


@pytest.mark.parametrize("variable", [None, "reachability_ca_file", "reachability_ca_path"])
def test_reachability_reads_the_ca_under_its_new_and_its_old_name(run_playbook, lab, tmp_path, variable):
    """The lab's certificate verifies with the settings' CA; a CA bundle given under the new or the old variable name
    replaces it (Debian's system bundle does not know the lab CA), so the probe then fails with cert_untrusted."""
    extra = {"reachability_profile": "lab", "reachability_fail": False, "reachability_timeout": 5,
             "reachability_report_dir": str(tmp_path / "report"),
             "reachability_settings": {"smtp_host": "localhost", "smtp_port": lab.ports["submission"],
                                       "ca_file": lab.ca_file}}
    if variable:
        extra[variable] = "/etc/ssl/certs/ca-certificates.crt"
    run = run_playbook([{"hosts": "localhost", "gather_facts": False, "roles": ["mailfleet.outlook.reachability"],
                         "tasks": [{"name": "result", "ansible.builtin.debug": {"var": "reachability_result"}}]}],
                       extra_vars=extra, timeout=200).assert_ok()
    (endpoint,) = [e for e in run.result(task="result")["reachability_result"]["endpoints"] if e["name"] == "smtp"]
    assert endpoint["diagnosis"]["code"] == ("ok" if variable is None else "cert_untrusted"), endpoint
