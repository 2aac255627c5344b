"""Cross-check with real peer clients: swaks and openssl s_client agree with smtp_check's verdict on the lab's
good endpoint and its bad-certificate endpoints (and on implicit TLS against a STARTTLS port).

swaks 20201014 (Debian 12) verifies the certificate chain (--tls-verify) but not the host name: for the
wrong-host endpoint the test checks that swaks accepts the chain and reports a peer CN that is not the host
connected to, which is the mismatch smtp_check and openssl report.
"""

import re
import subprocess

import pytest
from mailfleet_testing.capabilities import require

pytestmark = pytest.mark.timeout(300)

CASES = {
    # listener: (smtp_check code, openssl verify error number or None, swaks chain ok)
    "submission": ("ok", None, True),
    "cert_expired": ("cert_expired", 10, False),
    "cert_wrong_host": ("cert_hostname_mismatch", 62, True),
    "cert_self_signed": ("cert_untrusted", 18, False),
}


@pytest.fixture(scope="module")
def verdicts(smtpcheck_lab, module_runner):
    lab = smtpcheck_lab
    endpoints = [{"name": name, "host": "localhost", "port": lab.ports[name]} for name in CASES]
    endpoints.append({"name": "tls_on_plain", "host": "localhost", "port": lab.ports["submission"], "security": "tls"})
    run = module_runner.adhoc("mailfleet.outlook.smtp_check", {
        "endpoints": endpoints, "ca_path": lab.ca_file, "timeout": 5, "fail_on_error": False})
    run.assert_ok()
    return {entry["name"]: entry for entry in run.result()["endpoints"]}


def _need(tool):
    """The peer's feature these tests use (TLS for both), or a failure that names the missing package."""
    require({"openssl": "openssl-s_client", "swaks": "swaks-tls"}[tool])


@pytest.mark.parametrize("listener", sorted(CASES))
def test_openssl_agrees(smtpcheck_lab, verdicts, listener):
    _need("openssl")
    lab = smtpcheck_lab
    code, verify_error, _swaks_ok = CASES[listener]
    proc = subprocess.run(
        ["openssl", "s_client", "-starttls", "smtp", "-connect", "localhost:%d" % lab.ports[listener],
         "-CAfile", lab.ca_file, "-verify_return_error", "-verify_hostname", "localhost", "-brief"],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30, check=False)
    output = proc.stdout + proc.stderr
    assert verdicts[listener]["diagnosis"]["code"] == code
    if verify_error is None:
        assert proc.returncode == 0, output
        assert verdicts[listener]["ok"] is True
        # both negotiated the same protocol version
        match = re.search(r"Protocol version: (\S+)", output)
        assert match and match.group(1) == verdicts[listener]["tls"]["version"]
    else:
        assert proc.returncode != 0, output
        assert "verify error:num=%d:" % verify_error in output, output
        assert verdicts[listener]["ok"] is False


@pytest.mark.parametrize("listener", sorted(CASES))
def test_swaks_agrees(smtpcheck_lab, verdicts, listener):
    _need("swaks")
    lab = smtpcheck_lab
    code, _verify_error, chain_ok = CASES[listener]
    proc = subprocess.run(
        ["swaks", "--server", "localhost:%d" % lab.ports[listener], "--tls", "--tls-verify",
         "--tls-ca-path", lab.ca_file, "--quit-after", "TLS", "--to", "bob@contoso.test", "--timeout", "10"],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60, check=False)
    output = proc.stdout + proc.stderr
    assert verdicts[listener]["diagnosis"]["code"] == code
    if chain_ok:
        assert proc.returncode == 0, output
        peer = re.search(r'TLS peer DN="([^"]*)"', output)
        assert peer, output
        common_name = re.search(r"/CN=([^/]+)", peer.group(1)).group(1)
        san = verdicts[listener]["tls"]["cert"]["san"]
        assert common_name in san  # both saw the same certificate
        if code == "ok":
            assert common_name == "localhost"
        else:  # swaks does not check names; the CN it shows is not the host connected to
            assert common_name != "localhost" and "localhost" not in san
    else:
        assert proc.returncode != 0, output
        assert "certificate verify failed" in output, output


def test_implicit_tls_against_starttls_port_agrees(smtpcheck_lab, verdicts):
    """openssl s_client without -starttls (and swaks --tls-on-connect) fail where smtp_check says tls_on_plain_port."""
    _need("openssl")
    _need("swaks")
    lab = smtpcheck_lab
    assert verdicts["tls_on_plain"]["diagnosis"]["code"] == "tls_on_plain_port"
    proc = subprocess.run(["openssl", "s_client", "-connect", "localhost:%d" % lab.ports["submission"],
                           "-CAfile", lab.ca_file, "-brief"], stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=30, check=False)
    assert proc.returncode != 0
    assert re.search(r"wrong version number|record layer failure|packet length too long",
                     proc.stdout + proc.stderr, re.IGNORECASE), proc.stdout + proc.stderr
    proc = subprocess.run(["swaks", "--server", "localhost:%d" % lab.ports["submission"], "--tls-on-connect",
                           "--quit-after", "TLS", "--to", "bob@contoso.test", "--timeout", "10"],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60, check=False)
    output = proc.stdout + proc.stderr
    # 29: swaks's "TLS startup failed" (not 1 or 2, the exits of a swaks without TLS support or bad options)
    assert proc.returncode == 29 and "TLS startup failed" in output, output
    assert re.search(r"wrong version number|record layer failure|packet length too long", output, re.I), output


@pytest.mark.parametrize("password,code,swaks_rc",
                         [("alice-lab-password", "ok", 0), ("not-alices-password", "bad_credentials", 28)])
def test_swaks_auth_agrees(smtpcheck_lab, module_runner, password, code, swaks_rc):
    """AUTH LOGIN after STARTTLS: swaks and smtp_check agree on a good and a wrong password."""
    require("swaks-tls")
    require("swaks-auth")
    lab = smtpcheck_lab
    run = module_runner.adhoc("mailfleet.outlook.smtp_check", {
        "endpoints": [{"name": "submission", "host": "localhost", "port": lab.ports["submission"]}],
        "ca_path": lab.ca_file, "timeout": 5, "fail_on_error": False,
        "auth": {"username": "alice@contoso.test", "password": password}})
    run.assert_ok()
    verdict = run.result()["endpoints"][0]
    assert verdict["diagnosis"]["code"] == code, verdict
    proc = subprocess.run(
        ["swaks", "--server", "localhost:%d" % lab.ports["submission"], "--tls", "--tls-verify",
         "--tls-ca-path", lab.ca_file, "--auth", "LOGIN", "--auth-user", "alice@contoso.test",
         "--auth-password", password, "--quit-after", "AUTH", "--to", "bob@contoso.test", "--timeout", "10"],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode == swaks_rc, output
    if code == "ok":
        assert "235 2.7.0 Authentication successful" in output, output
    else:
        assert "535 5.7.139 Authentication unsuccessful, the user credentials were incorrect." in output, output
