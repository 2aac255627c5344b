# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pytest fixtures for the lab: ``lab`` (one per session) and ``lab_factory`` (extra labs per test).

Register with ``pytest_plugins = ["mailfleet_lab.pytest_plugin"]`` in the top-level conftest (``lab/`` on
``sys.path``). Each lab is a subprocess (``sys.executable -m mailfleet_lab``) that is ready once its
``state.json`` names its pid; every wait is bounded and teardown kills what it started.
"""

import base64
import contextlib
import json
import os
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from .config import APP_CLIENT_ID, APP_SECRET, DEFAULT_STATE_DIR, LAB_PORTS, load_config

LAB_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


class LabError(RuntimeError):
    """The lab process did not start (its stderr tail is in the message)."""


def ports_free(ports, host="127.0.0.1"):
    """True if every port in ``ports`` can be bound on ``host`` now."""
    for port in ports:
        if not port:
            continue
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
        except OSError:
            return False
        finally:
            sock.close()
    return True


def xoauth2_string(user, token):
    """The base64 XOAUTH2 initial response for ``AUTH XOAUTH2``."""
    return base64.b64encode(("user=%s\x01auth=Bearer %s\x01\x01" % (user, token)).encode("utf-8")).decode("ascii")


def make_client_assertion(cert_path, key_path, client_id, audience, algorithm="RS256", lifetime=600, **claims):
    """A JWT client assertion (certificate credential) as the Microsoft identity platform expects it."""
    # pylint: disable=import-outside-toplevel
    import uuid
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding

    def b64url(data):
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")

    with open(cert_path, "rb") as handle:
        cert = x509.load_pem_x509_certificate(handle.read())
    with open(key_path, "rb") as handle:
        key = serialization.load_pem_private_key(handle.read(), password=None)
    now = int(time.time())
    header = {"alg": algorithm, "typ": "JWT", "x5t": b64url(cert.fingerprint(hashes.SHA1()))}  # nosec
    body = {"aud": audience, "iss": client_id, "sub": client_id, "jti": str(uuid.uuid4()), "nbf": now,
            "iat": now, "exp": now + lifetime}
    body.update(claims)
    signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(body).encode())
    scheme = padding.PKCS1v15() if algorithm == "RS256" else padding.PSS(
        mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)
    signature = key.sign(signing_input.encode("ascii"), scheme, hashes.SHA256())
    return signing_input + "." + b64url(signature)


class LabHandle:
    """One lab process: start, stop, restart on the same ports, read what arrived, change it live."""

    def __init__(self, config=None, state_dir=None, any_ports=True):
        self.patch = json.loads(json.dumps(config or {}))
        self.state_dir = os.path.abspath(state_dir or self.patch.get("state_dir") or tempfile.mkdtemp(prefix="mailfleet-lab-"))
        self.patch["state_dir"] = self.state_dir
        if any_ports:
            ports = {name: 0 for name in list(LAB_PORTS) + ["admin"]}
            ports.update(self.patch.get("ports") or {})
            self.patch["ports"] = ports
        self.config = load_config(None, self.patch)
        self.proc = None
        self.state = None
        self._stderr = None

    # ----- process -----------------------------------------------------------------------------------------------
    def start(self, timeout=START_TIMEOUT):
        """Start the lab (again on the ports of the previous run, if any) and wait until it listens."""
        if self.running():
            return self
        if self.state:
            self.patch["ports"] = dict(self.state["ports"])
        os.makedirs(self.state_dir, exist_ok=True)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([LAB_DIR] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
        stderr_path = os.path.join(self.state_dir, "stderr.log")
        self._stderr = open(stderr_path, "ab")  # pylint: disable=consider-using-with
        self.proc = subprocess.Popen(  # pylint: disable=consider-using-with
            [sys.executable, "-m", "mailfleet_lab", "--config", "-"],
            stdin=subprocess.PIPE, stdout=self._stderr, stderr=self._stderr, env=env, start_new_session=True)
        # the config (test passwords and secrets included) goes through a pipe, never into a file
        self.proc.stdin.write(json.dumps(self.patch).encode("utf-8"))
        self.proc.stdin.close()
        state_path = os.path.join(self.state_dir, "state.json")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._close_stderr()
                raise LabError("lab exited with %s: %s" % (self.proc.returncode, self._stderr_tail(stderr_path)))
            try:
                with open(state_path, "r", encoding="utf-8") as handle:
                    state = json.load(handle)
                if state.get("pid") == self.proc.pid:
                    self.state = state
                    return self
            except (OSError, ValueError):
                pass
            time.sleep(0.05)
        self.stop()
        raise LabError("lab did not get ready within %.0fs: %s" % (timeout, self._stderr_tail(stderr_path)))

    def stderr_tail(self):
        """The end of the lab process's output (its log), to name why it stopped or did not start."""
        return self._stderr_tail(os.path.join(self.state_dir, "stderr.log"))

    @staticmethod
    def _stderr_tail(path):
        try:
            with open(path, "rb") as handle:
                return handle.read()[-2000:].decode("utf-8", "replace")
        except OSError:
            return "(no stderr)"

    def _close_stderr(self):
        if self._stderr:
            self._stderr.close()
            self._stderr = None

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=STOP_TIMEOUT):
        """Stop the lab (SIGTERM, then SIGKILL after ``timeout``). The ports stay known for ``start()``."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)
        self._close_stderr()

    def restart(self):
        self.stop()
        return self.start()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ----- facts -------------------------------------------------------------------------------------------------
    @property
    def ports(self):
        return dict(self.state["ports"]) if self.state else {}

    @property
    def host(self):
        return self.state["host"] if self.state else self.config["hostname"]

    @property
    def ca_file(self):
        return self.config["ca_file"]

    @property
    def store_path(self):
        return self.config["store_path"]

    @property
    def log_path(self):
        return self.config["log_path"]

    @property
    def admin_url(self):
        return self.state["admin_url"]

    @property
    def token_url(self):
        return self.state["token_url"]

    @property
    def client_certs(self):
        return self.state["client_certs"] if self.state else {}

    @property
    def app_certs(self):
        """client_id -> {"cert", "key"}: certificate credentials the lab made for its apps."""
        return self.state.get("app_certs", {}) if self.state else {}

    def client_assertion(self, client_id=APP_CLIENT_ID, algorithm="RS256", lifetime=600, **claims):
        """A client assertion JWT signed with the app's lab certificate (``claims`` override the defaults)."""
        return make_client_assertion(self.app_certs[client_id]["cert"], self.app_certs[client_id]["key"], client_id,
                                     self.token_url, algorithm=algorithm, lifetime=lifetime, **claims)

    def address(self, name):
        """(host, port) of a listener, for smtplib / socket."""
        return self.host, self.ports[name]

    def ssl_context(self, **kwargs):
        """A client SSLContext that trusts the lab CA (like the lab profile's ``ca_file``)."""
        ctx = ssl.create_default_context(cafile=self.ca_file)
        for key, value in kwargs.items():
            setattr(ctx, key, value)
        return ctx

    def log_text(self):
        try:
            with open(self.log_path, "r", encoding="utf-8") as handle:
                return handle.read()
        except FileNotFoundError:
            return ""

    # ----- store -------------------------------------------------------------------------------------------------
    def messages(self, **match):
        """Stored messages (dicts, see lab/README.md), optionally only those whose fields equal ``match``."""
        try:
            with open(self.store_path, "r", encoding="utf-8") as handle:
                # a last line without its newline is a record the lab is still writing: not there yet
                records = [json.loads(line) for line in handle if line.endswith("\n") and line.strip()]
        except FileNotFoundError:
            records = []
        return [rec for rec in records if all(rec.get(key) == value for key, value in match.items())]

    def wait_for_messages(self, count=1, timeout=10.0, **match):
        deadline = time.monotonic() + timeout
        while True:
            found = self.messages(**match)
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.1)

    def clear_messages(self):
        """Empty the store and the rate-limit counters."""
        return self.admin("POST", "/messages/clear")

    # ----- admin / tokens ------------------------------------------------------------------------------------------
    def admin(self, method, path, data=None, timeout=10):
        body = json.dumps(data).encode("utf-8") if data is not None else None
        request = urllib.request.Request(self.admin_url + path, data=body, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return json.load(response)
        except urllib.error.HTTPError as error:
            raise LabError("admin %s %s: %s %s" % (method, path, error.code, error.read().decode("utf-8", "replace")))

    def patch_config(self, patch):
        """Change the running lab (JSON merge patch of accounts, tenant, apps, token, rate_limit, connector)."""
        return self.admin("POST", "/config", patch)

    def stats(self):
        """Token endpoint counters: ``requests`` (POSTs to /token), ``faults`` (answered by a fault) and
        ``issued`` (tokens per grant type, e.g. ``issued["client_credentials"]``)."""
        return self.admin("GET", "/stats")

    def reset_stats(self):
        return self.admin("POST", "/stats/reset")

    def token_fault(self, fault=None, **settings):
        """Make every token request fail with ``fault`` (see ``config.TOKEN_FAULTS``; None clears it), e.g.
        ``token_fault("slow", fault_delay=30)``."""
        return self.patch_config({"token": dict(settings, fault=fault)})

    def listener_down(self, name):
        """Close listener ``name`` (its port refuses connections) until ``listener_up(name)``."""
        return self.admin("POST", "/listeners/%s/down" % name)

    def listener_up(self, name):
        return self.admin("POST", "/listeners/%s/up" % name)

    def mint_token(self, **claims):
        """A token without the OAuth dance: ``client_id=...`` (app-only) or ``user=...`` (delegated), ``lifetime``."""
        return self.admin("POST", "/tokens", claims)["access_token"]

    def token_request(self, form, tenant=None, endpoint="token", timeout=10):
        """POST ``form`` to the token (or ``endpoint="devicecode"``) endpoint; returns (HTTP status, JSON body)."""
        tenant = tenant or self.state["tenant_id"]
        url = "https://%s:%d/%s/oauth2/v2.0/%s" % (self.host, self.ports["token"], tenant, endpoint)
        request = urllib.request.Request(url, data=urllib.parse.urlencode(form).encode("ascii"), method="POST")
        try:
            with urllib.request.urlopen(request, context=self.ssl_context(), timeout=timeout) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read().decode("utf-8"))

    def app_token(self, client_id=APP_CLIENT_ID, client_secret=APP_SECRET,
                  scope="https://outlook.office365.com/.default"):
        status, body = self.token_request({"grant_type": "client_credentials", "client_id": client_id,
                                           "client_secret": client_secret, "scope": scope})
        if status != 200:
            raise LabError("token request failed: %s %s" % (status, body.get("error_description")))
        return body["access_token"]

    @contextlib.contextmanager
    def smtp(self, name="submission", starttls=True, timeout=10):
        """An smtplib.SMTP connected to a listener (after EHLO and, if asked, STARTTLS with the lab CA)."""
        client = smtplib.SMTP(self.host, self.ports[name], timeout=timeout)
        try:
            client.ehlo()
            if starttls:
                client.starttls(context=self.ssl_context())
                client.ehlo()
            yield client
        finally:
            try:
                client.quit()
            except (smtplib.SMTPException, OSError):
                client.close()


def _default_lab(tmp_factory):
    """The session lab: the catalog ports and the default state dir if free, else any ports in a temp dir."""
    if os.environ.get("MAILFLEET_LAB_ANY_PORTS") != "1" and ports_free(LAB_PORTS.values()):
        handle = LabHandle(state_dir=DEFAULT_STATE_DIR, any_ports=False)
        handle.patch["ports"] = {"admin": 0}
        try:
            handle.start()
            handle.clear_messages()   # the default state dir outlives sessions: start with an empty store
            return handle
        except LabError:
            handle.stop()
    handle = LabHandle(state_dir=str(tmp_factory.mktemp("mailfleet-lab")), any_ports=True)
    return handle.start()


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    """One lab for the whole session (default config). Tests share it: filter messages by a unique subject."""
    handle = _default_lab(tmp_path_factory)
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture
def lab_factory(tmp_path):
    """``lab_factory(config_patch=None, **kwargs)`` starts an extra lab (any free ports, own state dir)."""
    handles = []

    def make(config=None, start=True, any_ports=True, state_dir=None):
        index = len(handles)
        handle = LabHandle(config, state_dir=state_dir or str(tmp_path / ("lab%d" % index)), any_ports=any_ports)
        handles.append(handle)
        return handle.start() if start else handle

    try:
        yield make
    finally:
        for handle in handles:
            handle.stop()
