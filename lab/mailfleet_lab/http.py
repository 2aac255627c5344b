# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""HTTP listeners of the lab: the token endpoint (HTTPS, like the Microsoft identity platform v2.0
endpoint) and the admin endpoint (plain HTTP on loopback, runtime control for tests).

One request per connection (``Connection: close``); enough for urllib, requests and MSAL.
"""

import asyncio
import base64
import datetime
import hashlib
import html
import json
import secrets
import string
import time
import urllib.parse
import uuid

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from .config import finish_config, merge_patch, redacted
from .core import LOG, _b64url, _b64url_decode

MAX_BODY = 1024 * 1024
REASONS = {200: "OK", 204: "No Content", 302: "Found", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
           405: "Method Not Allowed", 413: "Payload Too Large", 500: "Internal Server Error"}

GRANT_CLIENT_CREDENTIALS = "client_credentials"
GRANT_DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code"
GRANT_REFRESH_TOKEN = "refresh_token"
GRANT_AUTHORIZATION_CODE = "authorization_code"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


class Response:
    def __init__(self, status=200, body=b"", content_type="application/json; charset=utf-8", headers=None):
        self.status = status
        if isinstance(body, (dict, list)):
            body = json.dumps(body, indent=None, sort_keys=True).encode("utf-8")
        elif isinstance(body, str):
            body = body.encode("utf-8")
        self.body = body
        self.content_type = content_type
        self.headers = headers or {}


class Request:
    def __init__(self, method, target, headers, body, peer):
        self.method = method
        parsed = urllib.parse.urlsplit(target)
        self.path = parsed.path
        self.query = dict(urllib.parse.parse_qsl(parsed.query))
        self.headers = headers
        self.body = body
        self.peer = peer

    def form(self):
        return dict(urllib.parse.parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True))

    def json(self):
        if not self.body.strip():
            return {}
        return json.loads(self.body.decode("utf-8"))


async def serve_http(reader, writer, handler, name):
    """Read one HTTP/1.1 request, answer it with ``handler(request)``, close."""
    peer = writer.get_extra_info("peername")
    try:
        line = await asyncio.wait_for(reader.readline(), 30)
        parts = line.decode("latin-1").split()
        if len(parts) != 3:
            return
        headers = {}
        while True:
            header = await asyncio.wait_for(reader.readline(), 30)
            if header in (b"\r\n", b"\n", b""):
                break
            key, dummy, value = header.decode("latin-1").partition(":")
            headers[key.strip().lower()] = value.strip()
        length = int(headers.get("content-length") or 0)
        if length > MAX_BODY:
            response = Response(413, {"error": "request too large"})
        else:
            body = await asyncio.wait_for(reader.readexactly(length), 30) if length else b""
            try:
                response = await handler(Request(parts[0].upper(), parts[1], headers, body, peer))
            except Exception as error:  # pylint: disable=broad-exception-caught
                LOG.exception("%s: error answering %s %s", name, parts[0], urllib.parse.urlsplit(parts[1]).path)
                response = Response(500, {"error": "server_error", "error_description": error.__class__.__name__})
        head = ["HTTP/1.1 %d %s" % (response.status, REASONS.get(response.status, "Status")),
                "Content-Type: %s" % response.content_type,
                "Content-Length: %d" % len(response.body),
                "Cache-Control: no-store",
                "Connection: close"]
        head += ["%s: %s" % item for item in response.headers.items()]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + response.body)
        await writer.drain()
    except (asyncio.TimeoutError, asyncio.IncompleteReadError, ConnectionError, ValueError, OSError):
        pass
    finally:
        writer.close()


def _timestamp():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")


class TokenEndpoint:
    """``POST /{tenant}/oauth2/v2.0/token`` and ``/devicecode``, answering like the Microsoft identity platform."""

    def __init__(self, lab):
        self.lab = lab
        self.stats = {"requests": 0, "faults": 0, "issued": {}}

    def count_issued(self, grant):
        self.stats["issued"][grant] = self.stats["issued"].get(grant, 0) + 1

    async def fault(self):
        """The answer of the configured fault (``token.fault``), or None to answer normally."""
        conf = self.lab.config["token"]
        fault = conf.get("fault")
        if not fault:
            return None
        self.stats["faults"] += 1
        LOG.info("token: fault %s", fault)
        if fault == "slow":
            await asyncio.sleep(float(conf.get("fault_delay", 30)))
            return None
        if fault == "unavailable":
            return Response(503, "<html><head><title>Service Unavailable</title></head><body><h1>Service "
                                 "Unavailable</h1><p>HTTP Error 503. The service is unavailable.</p></body></html>",
                            content_type="text/html; charset=utf-8")
        if fault == "throttled":
            retry = int(conf.get("fault_retry_after", 10))
            return Response(429, {"error": "temporarily_unavailable",
                                  "error_description": "Too many requests: retry after %d seconds." % retry},
                            headers={"Retry-After": str(retry)})
        if fault == "AADSTS50196":
            return self.error(400, "invalid_request", 50196, "The server terminated an operation because it "
                                                             "encountered a client request loop. Please contact your "
                                                             "app vendor.")
        return self.error(503, "temporarily_unavailable", 90033, "A transient error has occurred. Please try again.")

    @property
    def base_url(self):
        return "https://%s:%d" % (self.lab.hostname, self.lab.ports.get("token", 0))

    def error(self, status, error, code, description):
        trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
        stamp = _timestamp()
        LOG.info("token: %s AADSTS%d", error, code)
        return Response(status, {
            "error": error,
            "error_description": "AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s" % (
                code, description, trace, correlation, stamp),
            "error_codes": [code],
            "timestamp": stamp,
            "trace_id": trace,
            "correlation_id": correlation,
            "error_uri": "%s/error?code=%d" % (self.base_url, code),
        })

    def missing(self, field):
        return self.error(400, "invalid_request", 900144,
                          "The request body must contain the following parameter: '%s'." % field)

    async def __call__(self, request):
        parts = [part for part in request.path.split("/") if part]
        if request.method == "GET" and parts == ["devicelogin"]:
            return self.device_login_page(request)
        if request.method == "POST" and parts == ["devicelogin"]:
            return self.device_login_submit(request)
        if len(parts) >= 4 and parts[1:3] == ["v2.0", ".well-known"] and request.method == "GET":
            return self.openid_configuration(parts[0])
        if len(parts) == 4 and parts[1:] == ["oauth2", "v2.0", "authorize"]:
            return self.authorize(parts[0], request)
        if len(parts) != 4 or parts[1:3] != ["oauth2", "v2.0"] or parts[3] not in ("token", "devicecode"):
            return Response(404, {"error": "not_found", "error_description": "no such endpoint in the lab"})
        if request.method != "POST":
            return self.error(405, "invalid_request", 900561,
                              "The endpoint only accepts POST requests. Received a %s request." % request.method)
        if parts[3] == "token":
            self.stats["requests"] += 1
            faulty = await self.fault()
            if faulty is not None:
                return faulty
        tenant = parts[0]
        if not self.lab.tenant_matches(tenant):
            return self.error(400, "invalid_tenant", 90002,
                              "Tenant '%s' not found. Check to make sure you have the correct tenant ID and are "
                              "signing into the correct cloud." % tenant)
        form = request.form()
        self._basic_auth(request, form)
        if parts[3] == "devicecode":
            return self.device_code(form)
        grant = form.get("grant_type")
        if not grant:
            return self.missing("grant_type")
        if grant == GRANT_CLIENT_CREDENTIALS:
            return self.client_credentials(form)
        if grant == GRANT_DEVICE_CODE:
            return self.device_code_token(form)
        if grant == GRANT_REFRESH_TOKEN:
            return self.refresh(form)
        if grant == GRANT_AUTHORIZATION_CODE:
            return self.authorization_code(form)
        return self.error(400, "unsupported_grant_type", 70003,
                          "The app requested an unsupported grant type '%s'." % grant)

    @staticmethod
    def _basic_auth(request, form):
        header = request.headers.get("authorization", "")
        if header.lower().startswith("basic "):
            try:
                user, dummy, password = base64.b64decode(header[6:]).decode("utf-8").partition(":")
            except ValueError:
                return
            form.setdefault("client_id", urllib.parse.unquote_plus(user))
            form.setdefault("client_secret", urllib.parse.unquote_plus(password))

    def _app(self, form):
        client_id = form.get("client_id")
        if not client_id:
            return None, self.missing("client_id")
        app = self.lab.config["apps"].get(client_id)
        if app is None:
            return None, self.error(400, "unauthorized_client", 700016,
                                    "Application with identifier '%s' was not found in the directory '%s'. This can "
                                    "happen if the application has not been installed by the administrator of the "
                                    "tenant or consented to by any user in the tenant. You may have sent your "
                                    "authentication request to the wrong tenant." % (client_id, self.lab.tenant()["name"]))
        return app, None

    def _app_certificate(self, client_id, app):
        where = app.get("certificate")
        if where == "lab":
            where = (self.lab.certs.app_certs.get(client_id) or {}).get("cert") if self.lab.certs else None
        if not where:
            return None
        with open(where, "rb") as handle:
            return x509.load_pem_x509_certificate(handle.read())

    def _check_assertion(self, app, form):
        """Certificate credential: a JWT signed with the app's registered certificate (RS256 / PS256)."""
        client_id = form.get("client_id")
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            return self.error(400, "invalid_request", 900144, "The request body must contain the following parameter: "
                                                              "'client_assertion_type'.")
        try:
            head_b64, body_b64, signature_b64 = form["client_assertion"].split(".")
            header = json.loads(_b64url_decode(head_b64))
            claims = json.loads(_b64url_decode(body_b64))
            signature = _b64url_decode(signature_b64)
        except (ValueError, TypeError, UnicodeError):
            return self.error(401, "invalid_client", 50027, "JWT token is invalid or malformed.")
        cert = self._app_certificate(client_id, app)
        thumbprints = {}
        if cert is not None:
            thumbprints = {"x5t": _b64url(cert.fingerprint(hashes.SHA1())),  # nosec - Microsoft's x5t is SHA-1
                           "x5t#S256": _b64url(cert.fingerprint(hashes.SHA256()))}
        used = [key for key in ("x5t#S256", "x5t") if header.get(key)]
        if cert is None or not used or header[used[0]] != thumbprints[used[0]]:
            return self.error(401, "invalid_client", 700027,
                              "Client assertion failed signature validation. [Reason - The key was not found., "
                              "Thumbprint of key used by client: '%s']" % (header.get(used[0]) if used else ""))
        algorithm = header.get("alg")
        schemes = {"RS256": padding.PKCS1v15(),
                   "PS256": padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO)}
        try:
            if algorithm not in schemes:
                raise InvalidSignature(algorithm)
            cert.public_key().verify(signature, (head_b64 + "." + body_b64).encode("ascii"), schemes[algorithm],
                                     hashes.SHA256())
        except (InvalidSignature, TypeError, ValueError):
            return self.error(401, "invalid_client", 700027, "Client assertion failed signature validation.")
        if claims.get("iss") != client_id or claims.get("sub") != client_id:
            return self.error(401, "invalid_client", 700021,
                              "Client assertion application identifier doesn't match 'client_id' parameter.")
        now = time.time()
        if not claims.get("exp") or claims["exp"] <= now or claims.get("nbf", 0) > now + 300:
            return self.error(401, "invalid_client", 700024, "Client assertion is not within its valid time range.")
        audience = urllib.parse.urlsplit(str(claims.get("aud", "")))
        parts = [part for part in audience.path.split("/") if part]
        if len(parts) != 4 or parts[1:] != ["oauth2", "v2.0", "token"] or not self.lab.tenant_matches(parts[0]):
            return self.error(401, "invalid_client", 50027, "JWT token is invalid or malformed. [Reason - The "
                                                            "audience claim is not valid.]")
        return None

    def _check_secret(self, app, form, required):
        if form.get("client_assertion"):
            return self._check_assertion(app, form)
        secret = form.get("client_secret")
        if not secret:
            if required or app.get("secret"):
                return self.error(401, "invalid_client", 7000218,
                                  "The request body must contain the following parameter: 'client_assertion' or "
                                  "'client_secret'.")
            return None
        if not app.get("secret") or not secrets.compare_digest(str(app["secret"]).encode(), secret.encode()):
            return self.error(401, "invalid_client", 7000215,
                              "Invalid client secret provided. Ensure the secret being sent in the request is the "
                              "client secret value, not the client secret ID, for a secret added to app '%s'."
                              % form.get("client_id"))
        return None

    def _resources(self):
        return [res.rstrip("/") for res in self.lab.config["token"].get("scope_resources", [])]

    def client_credentials(self, form):
        app, error = self._app(form)
        if error:
            return error
        error = self._check_secret(app, form, required=True)
        if error:
            return error
        scope = form.get("scope")
        if not scope:
            return self.missing("scope")
        scopes = scope.split()
        if len(scopes) != 1 or not scopes[0].endswith("/.default"):
            return self.error(400, "invalid_scope", 1002012,
                              "The provided value for scope %s is not valid. Client credential flows must have a scope "
                              "value with /.default suffixed to the resource identifier (application ID URI)." % scope)
        resource = scopes[0][:-len("/.default")].rstrip("/")
        if resource not in self._resources():
            return self.error(400, "invalid_resource", 500011,
                              "The resource principal named %s was not found in the tenant named %s. This can happen "
                              "if the application has not been installed by the administrator of the tenant or "
                              "consented to by any user in the tenant. You might have sent your authentication "
                              "request to the wrong tenant." % (resource, self.lab.tenant()["name"]))
        lifetime = int(self.lab.config["token"].get("lifetime", 3600))
        token = self.lab.make_token({
            "aud": resource, "idtyp": "app", "appid": form["client_id"], "app_displayname": app.get("name"),
            "roles": list(app.get("roles") or []), "oid": str(uuid.uuid5(uuid.NAMESPACE_URL, "app:" + form["client_id"])),
        }, lifetime)
        self.count_issued(GRANT_CLIENT_CREDENTIALS)
        LOG.info("token: client_credentials for client_id=%s (%s), lifetime %ds", form["client_id"],
                 "certificate" if form.get("client_assertion") else "secret", lifetime)
        return Response(200, {"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime,
                              "access_token": token})

    # ----- device code flow (delegated, a person signs in) -------------------------------------------------------
    def device_code(self, form):
        app, error = self._app(form)
        if error:
            return error
        scope = form.get("scope")
        if not scope:
            return self.missing("scope")
        token_conf = self.lab.config["token"]
        user_code = "".join(secrets.choice(string.ascii_uppercase + string.digits) for dummy in range(9))
        device_code = secrets.token_urlsafe(48)
        lifetime = int(token_conf.get("device_code_lifetime", 900))
        self.lab.device_codes[device_code] = {
            "user_code": user_code, "client_id": form["client_id"], "scope": scope,
            "expires": time.time() + lifetime, "user": token_conf.get("device_auto_approve") or None,
            "denied": False, "confidential": bool(app.get("secret")),
        }
        uri = self.base_url + "/devicelogin"
        LOG.info("token: device code issued for client_id=%s (user code %s)", form["client_id"], user_code)
        return Response(200, {
            "user_code": user_code, "device_code": device_code, "verification_uri": uri,
            "expires_in": lifetime, "interval": int(token_conf.get("device_code_interval", 5)),
            "message": "To sign in, use a web browser to open the page %s and enter the code %s to authenticate."
                       % (uri, user_code),
        })

    def approve_device(self, user_code, user, deny=False):
        """Approve (sign in ``user``) or deny a pending device code. Returns True if the code was found."""
        for entry in self.lab.device_codes.values():
            if entry["user_code"] == (user_code or "").strip().upper():
                entry["user"] = (user or "").lower() or None
                entry["denied"] = deny
                return True
        return False

    def _delegated_tokens(self, client_id, user, scope):
        token_conf = self.lab.config["token"]
        lifetime = int(token_conf.get("lifetime", 3600))
        scopes = scope.split()
        short = sorted({s.rsplit("/", 1)[-1] for s in scopes if s not in ("openid", "profile", "offline_access")})
        box_oid = str(uuid.uuid5(uuid.NAMESPACE_URL, "user:" + user))
        access = self.lab.make_token({
            "aud": "https://outlook.office.com", "idtyp": "user", "appid": client_id, "upn": user,
            "unique_name": user, "oid": box_oid, "scp": " ".join(short),
        }, lifetime)
        body = {"token_type": "Bearer", "scope": " ".join(s for s in scopes if s != "offline_access"),
                "expires_in": lifetime, "ext_expires_in": lifetime, "access_token": access}
        if "offline_access" in scopes:
            body["refresh_token"] = self.lab.make_token({
                "idtyp": "refresh", "appid": client_id, "upn": user, "scope": scope,
            }, int(token_conf.get("refresh_token_lifetime", 86400)))
        return Response(200, body)

    def device_code_token(self, form):
        app, error = self._app(form)
        if error:
            return error
        code = form.get("device_code")
        if not code:
            return self.missing("device_code")
        entry = self.lab.device_codes.get(code)
        if entry is None or entry["client_id"] != form["client_id"]:
            return self.error(400, "invalid_grant", 70000, "The provided value for the input parameter 'device_code' "
                                                           "is not valid.")
        if entry["confidential"]:
            error = self._check_secret(app, form, required=True)
            if error:
                return error
        if time.time() > entry["expires"]:
            self.lab.device_codes.pop(code, None)
            return self.error(400, "expired_token", 70020, "The provided value for the input parameter 'device_code' "
                                                           "is not valid. This device code has expired.")
        if entry["denied"]:
            self.lab.device_codes.pop(code, None)
            return self.error(400, "authorization_declined", 70019, "The user declined the authorization request.")
        if not entry["user"]:
            return self.error(400, "authorization_pending", 70016,
                              "OAuth 2.0 device flow error. Authorization is pending. Continue polling.")
        self.lab.device_codes.pop(code, None)
        LOG.info("token: device code redeemed for client_id=%s user=%s", form["client_id"], entry["user"])
        return self._delegated_tokens(form["client_id"], entry["user"], entry["scope"])

    def refresh(self, form):
        app, error = self._app(form)
        if error:
            return error
        if app.get("secret"):
            error = self._check_secret(app, form, required=True)
            if error:
                return error
        token = form.get("refresh_token")
        if not token:
            return self.missing("refresh_token")
        claims = self.lab.decode_token(token)
        if not claims or claims.get("idtyp") != "refresh" or claims.get("appid") != form["client_id"]:
            return self.error(400, "invalid_grant", 70008,
                              "The provided authorization code or refresh token has expired due to inactivity.")
        if self.lab.account(claims["upn"]) is None:
            return self.error(400, "invalid_grant", 50034, "The user account does not exist in the directory.")
        scope = form.get("scope") or claims.get("scope", "")
        if "offline_access" not in scope.split():
            scope += " offline_access"
        LOG.info("token: refresh for client_id=%s user=%s", form["client_id"], claims["upn"])
        return self._delegated_tokens(form["client_id"], claims["upn"], scope.strip())

    # ----- authorization code flow with PKCE (a person signs in through a browser) --------------------------------
    @staticmethod
    def _redirect_allowed(app, uri):
        allowed = app.get("redirect_uris") or []
        if uri in allowed:
            return True
        parsed = urllib.parse.urlsplit(uri)
        # like Microsoft for public clients: http://localhost with any port
        return parsed.scheme == "http" and parsed.hostname in ("localhost", "127.0.0.1") and any(
            urllib.parse.urlsplit(a).hostname == parsed.hostname and not urllib.parse.urlsplit(a).port
            and urllib.parse.urlsplit(a).scheme == "http" for a in allowed)

    def _html(self, status, text):
        return Response(status, "<!doctype html><title>mailfleet lab sign-in</title>%s" % text,
                        content_type="text/html; charset=utf-8")

    def authorize(self, tenant, request):
        """GET: the sign-in form; POST (form with mailbox and password): redirect with ``code`` and ``state``."""
        params = dict(request.query)
        if request.method == "POST":
            params.update(request.form())
        if not self.lab.tenant_matches(tenant):
            return self._html(400, "<p>AADSTS90002: Tenant '%s' not found.</p>" % html.escape(tenant))
        app = self.lab.config["apps"].get(params.get("client_id", ""))
        if app is None:
            return self._html(400, "<p>AADSTS700016: Application with identifier '%s' was not found in the directory "
                                   "'%s'.</p>" % (html.escape(params.get("client_id", "")), self.lab.tenant()["name"]))
        redirect = params.get("redirect_uri", "")
        if not self._redirect_allowed(app, redirect):
            return self._html(400, "<p>AADSTS50011: The redirect URI '%s' specified in the request does not match the "
                                   "redirect URIs configured for the application.</p>" % html.escape(redirect))
        if params.get("response_type") != "code":
            return self._redirect(redirect, {"error": "unsupported_response_type", "state": params.get("state")})
        if request.method != "POST":
            hidden = "".join('<input type=hidden name="%s" value="%s">' % (html.escape(k), html.escape(v))
                             for k, v in params.items())
            return self._html(200, "<h1>mailfleet lab: sign in</h1><form method=post>%s<label>Mailbox <input name=user "
                                   "value=\"%s\"></label> <label>Password <input type=password name=password></label> "
                                   "<button>Sign in</button></form>" % (hidden, html.escape(params.get("login_hint", ""))))
        user = (params.get("user") or "").lower()
        box = self.lab.account(user)
        if box is None or not box.get("password") or not secrets.compare_digest(
                str(box["password"]).encode(), (params.get("password") or "").encode()):
            return self._html(401, "<p>Sign-in failed: unknown mailbox or wrong password.</p>")
        code = secrets.token_urlsafe(32)
        self.lab.auth_codes[code] = {
            "client_id": params["client_id"], "redirect_uri": redirect, "scope": params.get("scope", ""),
            "user": user, "challenge": params.get("code_challenge"),
            "method": params.get("code_challenge_method", "plain"), "expires": time.time() + 600,
        }
        LOG.info("token: authorization code issued for client_id=%s user=%s", params["client_id"], user)
        return self._redirect(redirect, {"code": code, "state": params.get("state")})

    @staticmethod
    def _redirect(uri, values):
        query = urllib.parse.urlencode({k: v for k, v in values.items() if v is not None})
        return Response(302, b"", content_type="text/plain", headers={
            "Location": uri + ("&" if "?" in uri else "?") + query})

    def authorization_code(self, form):
        app, error = self._app(form)
        if error:
            return error
        if app.get("secret") or app.get("certificate"):
            error = self._check_secret(app, form, required=True)
            if error:
                return error
        if not form.get("code"):
            return self.missing("code")
        entry = self.lab.auth_codes.pop(form["code"], None)
        if entry is None or entry["client_id"] != form["client_id"] or time.time() > entry["expires"]:
            return self.error(400, "invalid_grant", 70008, "The provided authorization code or refresh token has "
                                                           "expired due to inactivity.")
        if form.get("redirect_uri") != entry["redirect_uri"]:
            return self.error(400, "invalid_grant", 50011, "The redirect URI specified in the request does not match "
                                                           "the redirect URI of the authorization request.")
        if entry["challenge"]:
            verifier = form.get("code_verifier") or ""
            if entry["method"] == "S256":
                computed = _b64url(hashlib.sha256(verifier.encode("ascii", "replace")).digest())
            else:
                computed = verifier
            if not secrets.compare_digest(computed, entry["challenge"]):
                return self.error(400, "invalid_grant", 50148, "The code_verifier does not match the code_challenge "
                                                               "supplied in the authorization request for PKCE.")
        LOG.info("token: authorization code redeemed for client_id=%s user=%s", form["client_id"], entry["user"])
        return self._delegated_tokens(form["client_id"], entry["user"], entry["scope"])

    def device_login_page(self, request):
        code = html.escape(request.query.get("user_code", ""))
        page = ("<!doctype html><title>mailfleet lab sign-in</title><h1>mailfleet lab: device sign-in</h1>"
                "<form method=post action=/devicelogin><label>Code <input name=user_code value=\"%s\"></label> "
                "<label>Mailbox <input name=user></label> <label>Password <input type=password name=password>"
                "</label> <button>Sign in</button></form>" % code)
        return Response(200, page, content_type="text/html; charset=utf-8")

    def device_login_submit(self, request):
        form = request.form()
        user = (form.get("user") or "").lower()
        box = self.lab.account(user)
        if box is None or not box.get("password") or not secrets.compare_digest(
                str(box["password"]).encode(), (form.get("password") or "").encode()):
            return Response(401, "<p>Sign-in failed: unknown mailbox or wrong password.</p>",
                            content_type="text/html; charset=utf-8")
        if not self.approve_device(form.get("user_code"), user):
            return Response(400, "<p>Unknown code.</p>", content_type="text/html; charset=utf-8")
        return Response(200, "<p>You have signed in. You may now close this window.</p>",
                        content_type="text/html; charset=utf-8")

    def openid_configuration(self, tenant):
        if not self.lab.tenant_matches(tenant):
            return self.error(400, "invalid_tenant", 90002, "Tenant '%s' not found." % tenant)
        base = "%s/%s" % (self.base_url, tenant)
        return Response(200, {
            "token_endpoint": base + "/oauth2/v2.0/token",
            "device_authorization_endpoint": base + "/oauth2/v2.0/devicecode",
            "authorization_endpoint": base + "/oauth2/v2.0/authorize",
            "issuer": "https://login.mailfleet-lab.test/%s/v2.0" % self.lab.tenant()["id"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "response_types_supported": ["code"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "tenant_region_scope": "WW",
        })


class AdminEndpoint:
    """Runtime control of a running lab (loopback, plain HTTP, JSON). See lab/README.md."""

    def __init__(self, lab, token_endpoint, state, listeners=None):
        self.lab = lab
        self.tokens = token_endpoint
        self.state = state
        self.listeners = listeners   # the LabServer: takes listeners down and up again

    async def __call__(self, request):
        path, method = request.path.rstrip("/") or "/", request.method
        try:
            data = request.json() if method in ("POST", "PUT", "PATCH") else {}
        except ValueError:
            return Response(400, {"error": "the body must be JSON"})
        if path == "/state" and method == "GET":
            return Response(200, self.state())
        if path == "/config" and method == "GET":
            return Response(200, redacted(self.lab.config))
        if path == "/config" and method in ("POST", "PATCH"):
            return self.patch_config(data)
        if path == "/messages" and method == "GET":
            return Response(200, self.lab.messages())
        if (path == "/messages" and method == "DELETE") or (path == "/messages/clear" and method == "POST"):
            self.lab.clear_store()
            LOG.info("admin: store and rate counters cleared")
            return Response(200, {"cleared": True})
        if path == "/rate_limit/reset" and method == "POST":
            self.lab.sent.clear()
            return Response(200, {"reset": True})
        if path == "/tokens/revoke" and method == "POST":
            self.lab.rotate_signing_key()
            LOG.info("admin: signing key rotated, every token issued so far is invalid")
            return Response(200, {"revoked": True})
        if path == "/tokens" and method == "POST":
            return self.mint(data)
        if path == "/stats" and method == "GET":
            return Response(200, self.tokens.stats)
        if path == "/stats/reset" and method == "POST":
            self.tokens.stats.update(requests=0, faults=0, issued={})
            return Response(200, self.tokens.stats)
        if path.startswith("/listeners/") and method == "POST" and self.listeners is not None:
            return await self.switch_listener(path)
        if path in ("/device/approve", "/device/deny") and method == "POST":
            found = self.tokens.approve_device(data.get("user_code"), data.get("user"), deny=path.endswith("deny"))
            return Response(200 if found else 404, {"found": found})
        return Response(404, {"error": "unknown admin request %s %s" % (method, path)})

    async def switch_listener(self, path):
        """``POST /listeners/<name>/down`` closes a listener (connections are refused), ``/up`` opens it again
        on the same port."""
        parts = path.split("/")
        if len(parts) != 4 or parts[3] not in ("down", "up"):
            return Response(404, {"error": "use /listeners/<name>/down or /listeners/<name>/up"})
        name, action = parts[2], parts[3]
        if name == "admin":
            return Response(400, {"error": "the admin endpoint cannot be taken down"})
        try:
            if action == "down":
                await self.listeners.listener_down(name)
            else:
                await self.listeners.listener_up(name)
        except KeyError:
            return Response(404, {"error": "no listener %s" % name})
        except OSError as error:
            return Response(409, {"error": "cannot listen for %s again: %s" % (name, error)})
        LOG.info("admin: listener %s %s", name, action)
        return Response(200, {"listener": name, "state": action})

    def patch_config(self, patch):
        if not isinstance(patch, dict):
            return Response(400, {"error": "a JSON merge patch object is required"})
        ignored = sorted(set(patch) & {"ports", "bind", "bind_extra", "admin_bind", "state_dir", "ca_file", "store_path", "log_path",
                                       "extra_names", "client_cert_names", "hostname", "disabled"})
        if ignored:
            return Response(400, {"error": "these keys need a restart, not a live patch: %s" % ", ".join(ignored)})
        merged = merge_patch(json.loads(json.dumps(self.lab.config)), patch)
        try:
            merged = finish_config(merged)
        except ValueError as error:
            return Response(400, {"error": str(error)})
        self.lab.config = merged
        LOG.info("admin: config patched (%s)", ", ".join(sorted(patch)))
        return Response(200, redacted(merged))

    def mint(self, data):
        """Mint a token without the OAuth dance (tests): app-only for ``client_id`` or delegated for ``user``."""
        lifetime = int(data.get("lifetime", self.lab.config["token"].get("lifetime", 3600)))
        if data.get("user"):
            claims = {"aud": "https://outlook.office.com", "idtyp": "user", "upn": data["user"].lower(),
                      "appid": data.get("client_id") or "", "scp": data.get("scp", "SMTP.Send")}
        else:
            claims = {"aud": "https://outlook.office365.com", "idtyp": "app", "appid": data.get("client_id"),
                      "roles": data.get("roles", ["SMTP.SendAsApp"])}
        token = self.lab.make_token(claims, lifetime)
        return Response(200, {"token_type": "Bearer", "expires_in": lifetime, "access_token": token})
