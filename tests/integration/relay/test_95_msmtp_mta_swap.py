"""Opt-in (MAILFLEET_TEST_SWAP_MTA=1): the role installs msmtp-mta itself (apt replaces Postfix), mail given to
/usr/sbin/sendmail arrives through XOAUTH2; then Postfix is reinstalled so the machine is left as it was.

Opt-in because it removes Postfix from the machine for about a minute (other sessions on a shared machine
may be using it); CI machines can set the variable.
"""

import os
import shutil

import pytest

pytestmark = [pytest.mark.timeout(600), pytest.mark.slow,
              pytest.mark.skipif(os.environ.get("MAILFLEET_TEST_SWAP_MTA") != "1",
                                 reason="set MAILFLEET_TEST_SWAP_MTA=1 to let the test replace Postfix with msmtp-mta")]

APP = "11111111-1111-4111-8111-111111111111"


def test_role_installs_msmtp_mta_and_sendmail_relays_with_xoauth2(lab, run_relay, rh):
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    try:
        v = rh.relay_vars(lab, relay_install_packages=True, relay_auth_method="oauth2", relay_mta="msmtp",
                          relay_username="alice@contoso.test", relay_client_id=APP,
                          relay_client_secret="lab-app-secret-value", relay_tenant="contoso.test")
        run_relay(v, env=env).assert_ok()
        assert os.path.realpath("/usr/sbin/sendmail").endswith("/msmtp")
        assert shutil.which("postfix") is None  # msmtp-mta replaced it (mail-transport-agent)
        subject = rh.unique("mta-swap")
        rh.sendmail(subject)  # /usr/sbin/sendmail -t -i, like cron
        got = lab.wait_for_messages(1, timeout=60, subject=subject)
        assert len(got) == 1 and got[0]["auth_mechanism"] == "XOAUTH2" and got[0]["mail_from"] == "alice@contoso.test"
    finally:
        rh.sh("apt-get", "install", "-y", "-q", "postfix", timeout=300, check=False)
        assert shutil.which("postfix") is not None, "could not reinstall postfix"
        # removing postfix emptied its chroot (/var/spool/postfix/etc): put the files back like a start does
        rh.sh("/usr/lib/postfix/configure-instance.sh", "-", check=False)
