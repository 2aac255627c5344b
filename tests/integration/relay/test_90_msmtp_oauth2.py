"""relay, mode submission + oauth2 through real msmtp (Debian package) with app-only tokens from the lab.

msmtp-mta conflicts with postfix (both provide mail-transport-agent), so this test keeps Postfix installed
and runs the role with relay_install_packages=false: it writes /etc/msmtprc, the token helper and its 0600
configuration, and the message is given to /usr/bin/msmtp -t, which is exactly what msmtp-mta's
/usr/sbin/sendmail symlink runs. (The role itself installs msmtp-mta when it manages packages.)
"""

import os
import stat

import pytest

pytestmark = [pytest.mark.timeout(300)]

APP = "11111111-1111-4111-8111-111111111111"
SECRET = "lab-app-secret-value"


def oauth2_vars(rh, lab, **extra):
    return rh.relay_vars(lab, relay_auth_method="oauth2", relay_username="alice@contoso.test", relay_mta="msmtp",
                         relay_client_id=APP, relay_client_secret=SECRET, relay_tenant="contoso.test", **extra)


def test_oauth2_with_msmtp_relays_as_the_mailbox(lab, run_relay, rh):
    run = run_relay(oauth2_vars(rh, lab)).assert_ok()
    chosen = [t for t in run.tasks if t["task"].endswith("Choose the MTA and the formats")][0]["result"]
    assert chosen["ansible_facts"]["__relay_mta"] == "msmtp"
    # msmtp has no queue: the role says so when it applies it
    warnings = [w for r in run.results(action="mailfleet.outlook.mail_config") for w in r.get("warnings") or []]
    assert any("msmtp has no queue" in w for w in warnings), warnings
    rc = open("/etc/msmtprc").read()
    assert "auth xoauth2" in rc and "tls_starttls on" in rc and "set_from_header on" in rc
    assert SECRET not in rc
    for path in ("/etc/mailfleet/relay/oauth2.json",):
        st = os.stat(path)
        assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == 0
    subject = rh.unique("msmtp-oauth2")
    rh.sendmail(subject, sender="backup@vm.example", binary="/usr/bin/msmtp", args=["-t"])
    got = lab.wait_for_messages(1, timeout=60, subject=subject)
    assert len(got) == 1
    m = got[0]
    assert m["auth_mechanism"] == "XOAUTH2" and m["user"] == "alice@contoso.test" and m["app"] == APP
    assert m["mail_from"] == "alice@contoso.test" and m["header_from"] == ["alice@contoso.test"]
    assert m["tls_version"] in ("TLSv1.2", "TLSv1.3")
    # the token is cached in a 0600 file and reused by the next message
    cache = "/var/cache/mailfleet/relay-token.json"
    assert stat.S_IMODE(os.stat(cache).st_mode) == 0o600
    issued = lab.log_text().count("token: client_credentials")
    subject2 = rh.unique("msmtp-oauth2-b")
    rh.sendmail(subject2, binary="/usr/bin/msmtp", args=["-t"])
    assert len(lab.wait_for_messages(1, timeout=60, subject=subject2)) == 1
    assert lab.log_text().count("token: client_credentials") == issued
    again = run_relay(oauth2_vars(rh, lab)).assert_ok()
    assert again.stats["localhost"]["changed"] == 0, again.describe()
