"""Invalid variables fail at the start of the role, naming the variable; no file on the host changes."""

import pytest

pytestmark = [pytest.mark.timeout(300)]

OAUTH2 = {"relay_auth_method": "oauth2", "relay_username": "alice@contoso.test", "relay_tenant": "contoso.test",
          "relay_client_id": "11111111-1111-4111-8111-111111111111"}
PEM_CERT = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
PEM_KEY = "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n"

CASES = [
    ("connector_with_password", {"relay_mode": "connector", "relay_mx_host": "localhost", "relay_sender": "a@contoso.test",
                                 "relay_auth_method": "password"}, "relay_auth_method"),
    ("port_465_microsoft", {"relay_profile": "microsoft365", "relay_smtp_port": 465, "relay_auth_method": "password",
                            "relay_username": "a@contoso.com", "relay_password": "x"}, "relay_smtp_port=465"),
    ("connector_without_mx_host", {"relay_mode": "connector", "relay_sender": "a@contoso.test"}, "relay_mx_host"),
    ("oauth2_without_client_id", {"relay_auth_method": "oauth2", "relay_username": "alice@contoso.test",
                                  "relay_client_secret": "x"}, "relay_client_id"),
    ("password_without_password", {"relay_auth_method": "password", "relay_username": "alice@contoso.test"},
     "relay_password"),
    ("submission_without_username", {"relay_auth_method": "password", "relay_password": "x"}, "relay_username"),
    ("unknown_mode", {"relay_mode": "carrier_pigeon"}, "relay_mode"),
    ("bad_rate_delay", {"relay_auth_method": "password", "relay_username": "alice@contoso.test",
                        "relay_password": "x", "relay_rate_delay": "quickly"}, "relay_rate_delay"),
    ("oauth2_without_secret_or_certificate", dict(OAUTH2), "relay_client_secret"),
    ("certificate_without_key", dict(OAUTH2, relay_client_certificate=PEM_CERT), "relay_client_key"),
    ("certificate_not_pem", dict(OAUTH2, relay_client_certificate="MIIB...", relay_client_key=PEM_KEY),
     "relay_client_certificate"),
    ("secret_and_certificate", dict(OAUTH2, relay_client_secret="x", relay_client_certificate=PEM_CERT,
                                    relay_client_key=PEM_KEY), "relay_client_secret"),
    ("bad_auth_failure_defer", dict(OAUTH2, relay_client_secret="x", relay_auth_failure_defer="a day"),
     "relay_auth_failure_defer"),
    ("msmtp_with_certificate", dict(OAUTH2, relay_mta="msmtp", relay_client_certificate=PEM_CERT,
                                    relay_client_key=PEM_KEY), "relay_client_certificate"),
]


@pytest.mark.parametrize("name, bad, needle", CASES, ids=[c[0] for c in CASES])
def test_bad_variable_fails_first_and_changes_nothing(lab, run_relay, rh, name, bad, needle):
    before = rh.snapshot()
    v = rh.relay_vars(lab, relay_install_packages=True)
    v.update(bad)
    run = run_relay(v).assert_failed()
    failed = [t for t in run.tasks if t["status"] == "failed"]
    assert len(failed) == 1, run.describe()
    assert needle in failed[0]["result"]["msg"], failed[0]["result"]["msg"]
    # it failed before anything that can change the host: no task reported a change
    assert not [t for t in run.tasks if t["result"].get("changed")], run.describe()
    done = [t["action"] for t in run.tasks if t["status"] == "ok"]
    assert "ansible.builtin.package" not in done and "mailfleet.outlook.mail_config" not in [
        t["action"] for t in run.tasks if t["status"] == "ok" and "changed_files" in t["result"]]
    assert rh.snapshot() == before
