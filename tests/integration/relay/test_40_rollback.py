"""A setting that makes `postfix check` fail: previous configuration stays, Postfix keeps relaying."""

import pytest

pytestmark = [pytest.mark.timeout(300)]


def test_failed_postfix_check_rolls_back_and_names_the_setting(lab, run_relay, rh):
    good = rh.relay_vars(lab, relay_auth_method="password", relay_username="alice@contoso.test",
                         relay_password="alice-lab-password")
    run_relay(good).assert_ok()
    before = rh.snapshot()
    bad = dict(good, relay_extra_settings=dict(good["relay_extra_settings"], default_process_limit="lots"),
               relay_rate_delay="4s")
    run = run_relay(bad).assert_failed()
    failed = [t for t in run.tasks if t["status"] == "failed"]
    assert len(failed) == 1 and failed[0]["action"] == "mailfleet.outlook.mail_config", run.describe()
    msg = failed[0]["result"]["msg"]
    assert "postfix check" in msg and "restored" in msg
    assert "default_process_limit = lots" in msg, msg
    assert rh.snapshot() == before
    # still relaying with the previous configuration
    subject = rh.unique("after-rollback")
    rh.sendmail(subject)
    assert len(lab.wait_for_messages(1, timeout=60, subject=subject)) == 1
