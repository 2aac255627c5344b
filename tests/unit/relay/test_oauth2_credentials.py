"""_oauth2 for the relay: certificate credentials signed by the openssl command, the token cache shared by
concurrent processes, and which token endpoint failures are temporary (defer) or refusals (bounded)."""

import base64
import datetime
import json
import multiprocessing
import os
import subprocess
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from ansible_collections.mailfleet.outlook.plugins.module_utils import _oauth2 as oauth2

pytestmark = [pytest.mark.timeout(60), pytest.mark.core_independent]


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@pytest.fixture(scope="module")
def credential(tmp_path_factory):
    """A self-signed certificate and its key, as an app registration's certificate credential."""
    directory = tmp_path_factory.mktemp("cred")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mailfleet relay test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "client.crt", directory / "client.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    os.chmod(key_path, 0o600)
    return cert, str(cert_path), str(key_path)


def test_client_assertion_is_an_rs256_jwt_microsoft_accepts(credential):
    cert, cert_path, key_path = credential
    url = "https://login.example.test/contoso.test/oauth2/v2.0/token"
    jwt = oauth2.client_assertion(url, "client-1", cert_path, key_path, now=1000000)
    head_b64, body_b64, sig_b64 = jwt.split(".")
    header, claims = json.loads(b64url_decode(head_b64)), json.loads(b64url_decode(body_b64))
    assert header == {"alg": "RS256", "typ": "JWT",
                      "x5t": base64.urlsafe_b64encode(cert.fingerprint(hashes.SHA1())).rstrip(b"=").decode()}
    assert claims["aud"] == url and claims["iss"] == claims["sub"] == "client-1"
    assert claims["nbf"] == 1000000 and claims["exp"] == 1000000 + oauth2.ASSERTION_LIFETIME and claims["jti"]
    cert.public_key().verify(b64url_decode(sig_b64), (head_b64 + "." + body_b64).encode(), padding.PKCS1v15(),
                             hashes.SHA256())


def test_the_key_never_appears_in_a_process_argument(credential, monkeypatch):
    dummy_cert, cert_path, key_path = credential
    seen = []
    real_run = subprocess.run

    def spy(argv, **kwargs):
        seen.append((list(argv), kwargs.get("input")))
        kwargs.pop("check", None)
        return real_run(argv, check=False, **kwargs)

    monkeypatch.setattr(oauth2.subprocess, "run", spy)
    oauth2.client_assertion("https://x.test/t/oauth2/v2.0/token", "c", cert_path, key_path)
    key_text = open(key_path).read()
    body = key_text.split("-----")[2].strip().splitlines()[1]
    ((argv, stdin),) = seen
    assert argv[-1] == key_path and not any(body in arg for arg in argv)
    assert body.encode() not in stdin


def test_signing_problems_are_explained(credential, tmp_path):
    dummy_cert, cert_path, key_path = credential
    with pytest.raises(oauth2.OAuth2Error, match="openssl command"):
        oauth2.openssl_sign(b"x", key_path, openssl=str(tmp_path / "no-openssl"))
    bad = tmp_path / "bad.key"
    bad.write_text("not a key\n")
    with pytest.raises(oauth2.OAuth2Error, match="could not sign"):
        oauth2.openssl_sign(b"x", str(bad))
    not_pem = tmp_path / "x.crt"
    not_pem.write_text("hello")
    with pytest.raises(oauth2.OAuth2Error, match="not a PEM certificate") as err:
        oauth2.client_assertion("https://x.test/t", "c", str(not_pem), key_path)
    assert err.value.temporary is False


@pytest.mark.parametrize("kwargs, temporary", [
    ({"status": None}, True),                                   # network: refused, timeout, DNS
    ({"status": 503}, True),
    ({"status": 429}, True),
    ({"status": 400, "aadsts": "AADSTS50196"}, True),          # request loop: throttled
    ({"status": 503, "aadsts": "AADSTS90033"}, True),
    ({"status": 400, "error": "temporarily_unavailable"}, True),
    ({"status": 401, "aadsts": "AADSTS7000215", "error": "invalid_client"}, False),   # wrong secret
    ({"status": 401, "aadsts": "AADSTS700027", "error": "invalid_client"}, False),    # unknown certificate
    ({"status": 400, "aadsts": "AADSTS700016", "error": "unauthorized_client"}, False),
])
def test_which_failures_are_temporary(kwargs, temporary):
    assert oauth2.OAuth2Error("x", **kwargs).temporary is temporary


def test_unreachable_endpoint_is_temporary():
    with pytest.raises(oauth2.OAuth2Error) as err:
        oauth2.fetch_token("https://127.0.0.1:9/t/oauth2/v2.0/token", "c", "s", "scope", timeout=2)
    assert err.value.temporary


def _fetch_in_process(cache, counter, barrier):
    barrier.wait()

    def fetch():
        with counter.get_lock():
            counter.value += 1
        time.sleep(0.5)
        return {"access_token": "tok-%d" % os.getpid(), "expires_in": 3600, "expires_at": int(time.time()) + 3600}

    token, dummy = oauth2.cached_token(cache, fetch, {"client_id": "c"})
    return token["access_token"]


def test_concurrent_processes_share_one_token(tmp_path):
    cache = str(tmp_path / "token.json")
    counter = multiprocessing.Value("i", 0)
    barrier = multiprocessing.Barrier(4)
    procs = [multiprocessing.Process(target=_fetch_in_process, args=(cache, counter, barrier)) for dummy in range(4)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(20)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    assert counter.value == 1
    assert oct(os.stat(cache).st_mode & 0o777) == "0o600"


def test_cache_renews_before_expiry_and_per_identity(tmp_path):
    cache = str(tmp_path / "token.json")
    calls = []
    now = [1000.0]

    def fetch():
        calls.append(now[0])
        return {"access_token": "t%d" % len(calls), "expires_in": 60, "expires_at": int(now[0]) + 60}

    def get(identity=None, **kw):
        return oauth2.cached_token(cache, fetch, identity or {"id": 1}, clock=lambda: now[0], **kw)[0]["access_token"]

    assert get() == "t1"
    now[0] += 44          # 16 s left of 60: more than a quarter, reused
    assert get() == "t1"
    now[0] += 2           # 14 s left: renewed before it expires
    assert get() == "t2"
    assert get({"id": 2}) == "t3"      # another client id or scope never reuses the token
    assert get({"id": 2}, force=True) == "t4"
    assert len(calls) == 4


def test_a_failed_request_is_not_repeated_by_every_waiting_process(tmp_path):
    cache = str(tmp_path / "token.json")
    now = [1000.0]
    calls = []

    def failing():
        calls.append(now[0])
        raise oauth2.OAuth2Error("Cannot reach the token endpoint: refused")

    def get(fetch=failing, **kw):
        return oauth2.cached_token(cache, fetch, {"id": 1}, clock=lambda: now[0], **kw)

    for dummy in range(3):
        with pytest.raises(oauth2.OAuth2Error, match="refused") as err:
            get()
        assert err.value.temporary
    assert len(calls) == 1                     # the two others got the remembered answer
    now[0] += 11                               # after failure_ttl (10 s) the endpoint is asked again
    with pytest.raises(oauth2.OAuth2Error):
        get()
    assert len(calls) == 2
    with pytest.raises(oauth2.OAuth2Error):
        get(force=True)                        # a forced refresh always asks
    assert len(calls) == 3
    token, fetched = get(fetch=lambda: {"access_token": "t", "expires_in": 60, "expires_at": 2000}, force=True)
    assert fetched and not os.path.exists(cache + ".failed")


def test_a_refusal_is_never_answered_from_memory(tmp_path):
    cache = str(tmp_path / "token.json")
    calls = []

    def refused():
        calls.append(1)
        raise oauth2.OAuth2Error("AADSTS7000215: invalid secret", aadsts="AADSTS7000215", status=401)

    for dummy in range(2):
        with pytest.raises(oauth2.OAuth2Error) as err:
            oauth2.cached_token(cache, refused, {"id": 1})
        assert not err.value.temporary
    assert len(calls) == 2 and not os.path.exists(cache + ".failed")
