"""The OAuth2 client-credentials client: request shape, AADSTS explanations, no secret in any message."""

import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from ansible_collections.mailfleet.outlook.plugins.module_utils import _oauth2 as oauth2

pytestmark = [pytest.mark.timeout(60), pytest.mark.core_independent]

SECRET = "Canary-Secret-0f9e8d7c"


class TokenServer:
    """A tiny HTTPS token endpoint; ``answer(form) -> (status, body dict or bytes)``."""

    def __init__(self, certs, answer):
        self.forms = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server API)
                length = int(self.headers.get("Content-Length", 0))
                form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
                outer.forms.append((self.path, form, dict(self.headers)))
                status, body = answer(form)
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = HTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.socket = certs.good.wrap_socket(self.httpd.socket, server_side=True)
        self.url = "https://localhost:%d/contoso.test/oauth2/v2.0/token" % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def token_server(certs):
    servers = []

    def start(answer):
        server = TokenServer(certs, answer)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def _aad_error(status, error, code, text):
    return status, {"error": error, "error_description": "AADSTS%d: %s\r\nTrace ID: x\r\nTimestamp: y" % (code, text),
                    "error_codes": [code], "timestamp": "2026-11-26 10:00:00Z", "trace_id": "t", "correlation_id": "c"}


def test_success_and_request_shape(token_server, certs):
    server = token_server(lambda form: (200, {"token_type": "Bearer", "expires_in": 3599, "access_token": "tok-123"}))
    token = oauth2.fetch_token(server.url, "app-id", SECRET, "https://outlook.office365.com/.default",
                               ca_file=certs.ca_file, timeout=5)
    assert token["access_token"] == "tok-123" and token["expires_in"] == 3599 and token["expires_at"]
    path, form, headers = server.forms[0]
    assert path == "/contoso.test/oauth2/v2.0/token"
    assert form == {"client_id": "app-id", "client_secret": SECRET, "scope": "https://outlook.office365.com/.default",
                    "grant_type": "client_credentials"}
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"


@pytest.mark.parametrize("status,error,code,text,meaning", [
    (401, "invalid_client", 7000215, "Invalid client secret provided.", "Invalid client secret"),
    (401, "invalid_client", 7000222, "The provided client secret keys are expired.", "expired"),
    (400, "unauthorized_client", 700016, "Application with identifier 'x' was not found", "Application not found"),
    (400, "invalid_tenant", 90002, "Tenant 'x' not found.", "Tenant not found"),
    (400, "invalid_scope", 1002012, "The provided value for scope x is not valid.", "/.default"),
    (400, "invalid_resource", 500011, "The resource principal named x was not found", "resource"),
    (400, "invalid_grant", 53003, "Access has been blocked by Conditional Access policies.", "Conditional Access"),
    (400, "weird", 9999999, "Something new.", "login.microsoftonline.com/error?code=9999999"),
])
def test_aadsts_errors_are_explained(token_server, certs, status, error, code, text, meaning):
    server = token_server(lambda form: _aad_error(status, error, code, text))
    with pytest.raises(oauth2.OAuth2Error) as info:
        oauth2.fetch_token(server.url, "app-id", SECRET, "scope/.default", ca_file=certs.ca_file, timeout=5)
    err = info.value
    message = str(err)
    assert err.aadsts == "AADSTS%d" % code and err.status == status and err.error == error
    assert "AADSTS%d" % code in message and meaning in message and "HTTP %d" % status in message
    assert SECRET not in message


def test_secret_echoed_by_the_server_is_scrubbed(token_server, certs):
    server = token_server(lambda form: _aad_error(401, "invalid_client", 7000215, "bad secret %s" % form["client_secret"]))
    with pytest.raises(oauth2.OAuth2Error) as info:
        oauth2.fetch_token(server.url, "app-id", SECRET, "s/.default", ca_file=certs.ca_file, timeout=5)
    assert SECRET not in str(info.value) and "********" in str(info.value)


def test_non_json_and_missing_token(token_server, certs):
    server = token_server(lambda form: (502, b"<html>Bad gateway</html>"))
    with pytest.raises(oauth2.OAuth2Error, match="HTTP 502 without an OAuth2 error body"):
        oauth2.fetch_token(server.url, "a", SECRET, "s", ca_file=certs.ca_file, timeout=5)
    server = token_server(lambda form: (200, {"token_type": "Bearer"}))
    with pytest.raises(oauth2.OAuth2Error, match="HTTP 200"):
        oauth2.fetch_token(server.url, "a", SECRET, "s", ca_file=certs.ca_file, timeout=5)


def test_tls_is_verified(token_server):
    server = token_server(lambda form: (200, {"access_token": "x"}))
    with pytest.raises(oauth2.OAuth2Error, match="certificate verification failed"):
        oauth2.fetch_token(server.url, "a", SECRET, "s", timeout=5)  # system CAs do not know the test CA


def test_unreachable_and_bad_inputs():
    with pytest.raises(oauth2.OAuth2Error, match="must use https"):
        oauth2.fetch_token("http://localhost/token", "a", SECRET, "s")
    with pytest.raises(oauth2.OAuth2Error, match="needs client_secret"):
        oauth2.fetch_token("https://localhost/token", "a", "", "s")
    with pytest.raises(oauth2.OAuth2Error, match="No token URL"):
        oauth2.fetch_token(None, "a", SECRET, "s")
    with pytest.raises(oauth2.OAuth2Error, match="Cannot reach the token endpoint") as info:
        oauth2.fetch_token("https://127.0.0.1:1/token", "a", SECRET, "s", timeout=3)
    assert SECRET not in str(info.value)


def test_every_known_code_has_a_meaning():
    for code, meaning in oauth2.AADSTS_CODES.items():
        assert code.startswith("AADSTS") and code[6:].isdigit() and meaning.endswith(".")
