"""Canary password and client secret: never in -vvv --diff output, task results, or any file except the 0600 ones."""

import os
import stat
import subprocess

import pytest

pytestmark = [pytest.mark.timeout(400)]

CANARY_PW = "canary-pw-Zq81x"
CANARY_CS = "canary-cs-Wm47y"
APP = "11111111-1111-4111-8111-111111111111"
SEARCH = ["/etc", "/var/lib/mailfleet", "/var/cache/mailfleet", "/usr/local", "/var/log", "/root/.ansible",
          "/var/spool/postfix"]


def files_with(needle, roots):
    out = set()
    for root in roots:
        if not os.path.exists(root):
            continue
        p = subprocess.run(["grep", "-rlsF", "--binary-files=text", needle, root], capture_output=True, text=True,
                           timeout=120, check=False)
        out.update(line for line in p.stdout.splitlines() if line)
    return out


def test_canary_secrets_stay_in_the_secret_files(lab_factory, run_relay, rh, tmp_path):
    lab = lab_factory({"accounts": {"alice@contoso.test": {"password": CANARY_PW}},
                       "apps": {APP: {"secret": CANARY_CS}}})
    pw_vars = rh.relay_vars(lab, relay_auth_method="password", relay_username="alice@contoso.test",
                            relay_password=CANARY_PW)
    runs = [run_relay(pw_vars, diff=True, verbosity=3).assert_ok()]
    subject = rh.unique("secret-pw")
    rh.sendmail(subject)
    assert len(lab.wait_for_messages(1, timeout=60, subject=subject)) == 1  # the canary password works
    # change something so that the diff of the secret file is shown too (redacted)
    runs.append(run_relay(dict(pw_vars, relay_username="alice@contoso.test", relay_password=CANARY_PW + "2"),
                          diff=True, verbosity=3, check=True).assert_ok())
    oauth_vars = rh.relay_vars(lab, relay_auth_method="oauth2", relay_username="alice@contoso.test", relay_mta="msmtp",
                               relay_client_id=APP, relay_client_secret=CANARY_CS, relay_tenant="contoso.test")
    runs.append(run_relay(oauth_vars, diff=True, verbosity=3).assert_ok())
    subject = rh.unique("secret-oauth")
    rh.sendmail(subject, binary="/usr/bin/msmtp", args=["-t"])
    assert len(lab.wait_for_messages(1, timeout=60, subject=subject)) == 1

    for run in runs:
        out = run.all_output()
        assert CANARY_PW not in out and CANARY_CS not in out
        assert "<redacted: " in out or run is runs[2]
    # files: only the 0600 secret files hold the canaries (the .db of the map included)
    holders = files_with(CANARY_PW, SEARCH) | files_with(CANARY_CS, SEARCH) | files_with(CANARY_PW, [str(tmp_path)]) \
        | files_with(CANARY_CS, [str(tmp_path)])
    # not the host: the test's own input file and the lab (the "Microsoft" side) that knows the secrets
    holders = {h for h in holders if "extra-vars" not in h and not h.startswith(lab.state_dir)}
    allowed = {"/etc/postfix/sasl_passwd", "/etc/postfix/sasl_passwd.db", "/etc/mailfleet/relay/oauth2.json"}
    assert holders <= allowed, holders
    for h in holders:
        st = os.stat(h)
        assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == 0, h
