"""The OAuth2 token helper (client credentials, cache, refresh before expiry) against the lab's token endpoint."""

import json
import os
import stat
import subprocess

import pytest

pytestmark = [pytest.mark.timeout(180)]

APP = "11111111-1111-4111-8111-111111111111"
SECRET = "lab-app-secret-value"


@pytest.fixture
def helper(run_playbook, tmp_path, lab_factory):
    lab = lab_factory({"token": {"lifetime": 600}})
    root = tmp_path / "root"

    def install(secret=SECRET, min_validity=None):
        play = [{"hosts": "localhost", "gather_facts": False, "tasks": [{"name": "helper", "mailfleet.outlook.mail_config": {
            "format": ["oauth2_token_helper"], "profile": "lab", "root": str(root), "var_prefix": "relay_",
            "settings": {"auth_method": "oauth2", "username": "alice@contoso.test", "client_id": APP,
                         "ca_file": lab.ca_file},
            "secrets": {"client_secret": secret},
            "vars": {"token_url": lab.token_url, "token_cache": str(tmp_path / "cache" / "token.json")}}}]}]
        run_playbook(play).assert_ok()
        cfg = root / "etc/mailfleet/relay/oauth2.json"
        if min_validity is not None:
            data = json.loads(cfg.read_text())
            data["min_validity"] = min_validity
            cfg.write_text(json.dumps(data))
        return cfg

    def run(cfg, *args):
        return subprocess.run(["/usr/bin/python3", str(root / "usr/local/libexec/mailfleet/mailfleet-oauth2-token"),
                               "--config", str(cfg)] + list(args), capture_output=True, text=True, timeout=60, check=False,
                              # the files were written under a root: find the installed client library there
                              env=dict(os.environ, PYTHONPATH=str(root / "usr/local/lib/mailfleet")))

    return lab, install, run, tmp_path / "cache" / "token.json"


def issued(lab):
    return lab.log_text().count("token: client_credentials for client_id")


def test_prints_a_token_the_lab_accepts_and_caches_it(helper):
    lab, install, run, cache = helper
    cfg = install()
    first = run(cfg)
    assert first.returncode == 0, first.stderr
    token = first.stdout.strip()
    assert token.count(".") == 2  # JWT-shaped
    assert stat.S_IMODE(os.stat(cache).st_mode) == 0o600
    n = issued(lab)
    second = run(cfg)
    assert second.stdout.strip() == token and issued(lab) == n  # served from the cache
    forced = run(cfg, "--force")
    assert forced.returncode == 0 and forced.stdout.strip() != token
    # XOAUTH2 with that token against the lab's submission port
    import base64
    import smtplib
    with smtplib.SMTP(lab.host, lab.ports["submission"], timeout=20) as s:
        s.starttls(context=lab.ssl_context())
        s.ehlo()
        code, _answer = s.docmd("AUTH", "XOAUTH2 " + base64.b64encode(
            ("user=alice@contoso.test\x01auth=Bearer %s\x01\x01" % forced.stdout.strip()).encode()).decode())
        assert code == 235


def test_refreshes_before_expiry(helper):
    lab, install, run, _cache = helper
    cfg = install(min_validity=900)  # lab tokens live 600 s: always "about to expire"
    a = run(cfg)
    b = run(cfg)
    assert a.returncode == 0 and b.returncode == 0 and a.stdout != b.stdout


def test_wrong_secret_fails_with_a_reason_and_no_secret(helper):
    _lab, install, run, _cache = helper
    cfg = install(secret="canary-wrong-secret-4711")
    r = run(cfg)
    assert r.returncode == 1 and r.stdout == ""
    assert "AADSTS7000215" in r.stderr and "canary-wrong-secret-4711" not in r.stderr


def test_sasl_xoauth2_token_file(helper, tmp_path):
    _lab, install, run, _cache = helper
    cfg = install()
    out = tmp_path / "sasl" / "token.json"
    r = run(cfg, "--sasl-xoauth2", str(out), "--quiet")
    assert r.returncode == 0 and r.stdout == ""
    data = json.loads(out.read_text())
    assert data["access_token"] and int(data["expiry"]) > 0 and stat.S_IMODE(os.stat(out).st_mode) == 0o600
