# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Options and endpoints of smtp_check: normalization, defaults, the test message, secrets (standard library only).

- Credentials are only sent after TLS is established (unless ``allow_plaintext`` is set explicitly);
  a STARTTLS endpoint never falls back to plain text.  Results are scrubbed of every secret - also
  case-changed, percent-, JSON- or HTML-encoded and in base64 (``_oauth2.secret_pattern``) - before they leave
  the engine, and the server's replies to AUTH are never shown verbatim: only their plain words, numbers and
  URLs (``auth_reply_text``); anything else in them is ``[withheld]``.
- With ``auth.oauth2`` (client credentials) the token is fetched inside the probe's deadline, at the ``auth``
  stage (``TokenSource``: once for all endpoints of a call), so the timeout covers DNS, connect, TLS, the token
  request and SMTP together.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import email.policy
import email.utils
import re
import socket
import threading
import time
from email.message import EmailMessage

from ansible_collections.mailfleet.outlook.plugins.module_utils._oauth2 import OAuth2Error, fetch_token, secret_pattern
from ansible_collections.mailfleet.outlook.plugins.module_utils._probe import proxy
from ansible_collections.mailfleet.outlook.plugins.module_utils._probe.channel import TLS_VERSIONS
from ansible_collections.mailfleet.outlook.plugins.module_utils._probe.sasl import b64 as _b64


def default_ehlo_name(hosts_file="/etc/hosts", hostname_file="/etc/hostname"):
    """This host's FQDN without any network lookup (socket.getfqdn() may block on DNS)."""
    name = ""
    try:
        name = socket.gethostname() or ""
    except OSError:
        pass
    if not name:
        try:
            with open(hostname_file) as handle:
                name = handle.read().strip()
        except (IOError, OSError):
            name = ""
    if "." in name and _valid_domain(name):
        return name
    if name:
        try:
            with open(hosts_file) as handle:
                for line in handle:
                    tokens = line.split("#", 1)[0].split()
                    if len(tokens) < 2 or name not in tokens[1:]:
                        continue
                    for token in tokens[1:]:
                        if "." in token and not token.startswith("localhost") and _valid_domain(token):
                            return token
        except (IOError, OSError):
            pass
    if name and _valid_domain(name):
        return name
    return "localhost.localdomain"


_DOMAIN_RE = re.compile(r"(?=.{1,253}\Z)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?")


def _valid_domain(name):
    return bool(_DOMAIN_RE.fullmatch(name))  # fullmatch: "$" would accept a trailing newline (EHLO injection)


def build_test_message(sender, recipients, subject, ehlo_name, endpoint_name):
    """The test message: Date, Message-ID, From, To, Subject, and a body saying what it is."""
    msg = EmailMessage(policy=email.policy.SMTP)
    domain = sender.rpartition("@")[2] if "@" in sender else ehlo_name
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Subject"] = subject
    msg["Date"] = email.utils.formatdate(localtime=True)
    msg["Message-ID"] = email.utils.make_msgid(idstring="mailfleet", domain=domain)
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Mailer"] = "mailfleet.outlook smtp_check"
    msg.set_content(
        "This is a mailfleet test message.\n\n"
        "It was sent by the Ansible module mailfleet.outlook.smtp_check\n"
        "from host: %s\n"
        "through endpoint: %s\n\n"
        "It proves that this host can submit mail. No action is needed;\n"
        "you may delete it.\n" % (ehlo_name, endpoint_name)
    )
    return msg["Message-ID"], msg.as_bytes()


def dot_stuff(data):
    """CRLF-normalise and dot-stuff a message for DATA, with the terminating '.' line."""
    lines = data.replace(b"\r\n", b"\n").split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    out = [b"." + line if line.startswith(b".") else line for line in lines]
    return b"\r\n".join(out) + b"\r\n.\r\n"


class Redactor:
    """Replaces every secret, and the base64 forms the probe sent, with '********' - in any letter case and
    percent-, JSON- or HTML-encoded too (a server may echo a secret back changed)."""

    def __init__(self, secrets=()):
        self.values = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)
        self.pattern = secret_pattern(self.values)

    def add(self, value):
        # copy-on-write: probes of other endpoints may be scrubbing with the old pattern right now
        if value and len(value) >= 4 and value not in self.values:
            values = sorted(set(self.values) | {value}, key=len, reverse=True)
            self.pattern, self.values = secret_pattern(values), values

    def text(self, value):
        pattern = self.pattern
        return pattern.sub("********", value) if pattern is not None and value else value

    def scrub(self, obj):
        if not self.values:
            return obj
        if isinstance(obj, str):
            return self.text(obj)
        if isinstance(obj, dict):
            return dict((k, self.scrub(v)) for k, v in obj.items())
        if isinstance(obj, (list, tuple)):
            return [self.scrub(v) for v in obj]
        return obj


# Words of a reply to AUTH that a result may show: plain words, numbers and status codes, and http(s) URLs
# without user, query or fragment (Microsoft's answers point to aka.ms pages), each maybe as ``name=value``. Anything else - a token, a
# base64 blob, a server id - could be a credential echoed back in a form we cannot recognise.
_SHOWN_WORD = re.compile(
    r"[(\[\"']*(?:[A-Za-z_]{1,40}=)?"
    r"(?:[A-Za-z]+(?:['-][A-Za-z]+)*|\d+(?:[.:/-]\d+)*|https?://[A-Za-z0-9.-]+(?:/[A-Za-z0-9._~/-]*)?)"
    r"[)\]\"'.,;:!?]*")
WITHHELD = "[withheld]"


def auth_reply_text(text):
    """A reply to AUTH as a result shows it: each word that is not a plain word, number or URL (see
    _SHOWN_WORD) becomes [withheld]; line breaks of a multi-line reply are kept."""
    if not text:
        return text
    lines = []
    for line in text.split("\n"):
        words = [w if _SHOWN_WORD.fullmatch(w) else WITHHELD for w in line.split()]
        lines.append(" ".join(words))
    return "\n".join(lines)


class TokenSource:
    """The client-credentials token of ``auth.oauth2``, fetched once for every endpoint of a call, inside the
    deadline of the probe that needs it first (others wait for it within their own deadlines). A timeout is
    not kept: the next probe that needs the token tries with its own time."""

    def __init__(self, token_url, client_id, client_secret, scope, ca_file=None, validate_certs=True,
                 client_certificate=None, client_key=None):
        self.request = dict(token_url=token_url, client_id=client_id, client_secret=client_secret, scope=scope,
                            client_certificate=client_certificate, client_key=client_key,
                            ca_file=ca_file, validate_certs=validate_certs)
        self.secret = client_secret
        self.token = None
        self.error = None
        self.elapsed_ms = None
        self._lock = threading.Lock()

    def get(self, deadline):
        """The access token, or raises OAuth2Error (``timed_out`` when the deadline ended the wait)."""
        if not self._lock.acquire(timeout=max(0.0, deadline.remaining())):
            raise OAuth2Error("No access token: another probe's token request did not finish within the deadline.",
                              timed_out=True)
        try:
            if self.token is None and self.error is None:
                started = time.monotonic()
                try:
                    self.token = fetch_token(deadline=deadline.end, **self.request)["access_token"]
                except OAuth2Error as err:
                    if not err.timed_out:
                        self.error = err
                    raise
                finally:
                    self.elapsed_ms = int(round((time.monotonic() - started) * 1000))
            if self.error is not None:
                raise self.error
            return self.token
        finally:
            self._lock.release()


# --------------------------------------------------------------------------- options

DEFAULTS = {
    "timeout": 10.0,
    "validate_certs": True,
    "ca_path": None,
    "min_tls_version": "1.2",
    "max_tls_version": None,
    "ehlo_name": None,
    "address_family": "any",
    "auth": None,
    "send": None,
    "cert_expiry_warn_days": 21,
    "check_mode": False,
    "proxy": None,            # a proxy URL for every endpoint (an endpoint's own ``proxy`` wins); see _probe/proxy.py
    "proxy_password": None,
}


def normalize_options(options):
    """Fill defaults and check what the module's argument spec cannot express; raises ValueError with a readable
    message.

    ``options`` are the module's parameters as its argument spec (``module_args.argument_spec``) validated them:
    types, choices (TLS versions, address family, mechanism) and mutually exclusive secrets are not checked again
    here. What is checked: a positive timeout, max TLS version not below min, a syntactically valid EHLO name, a
    username without spaces or control characters, a secret that fits the mechanism, plain send addresses and a
    one-line subject."""
    opts = dict(DEFAULTS)
    opts.update(dict((k, v) for k, v in (options or {}).items() if v is not None))
    opts["proxy"] = proxy.parse_proxy(opts["proxy"], opts.pop("proxy_password"))
    opts["timeout"] = float(opts["timeout"])
    if not opts["timeout"] > 0:  # pylint: disable=unnecessary-negation  # "not >" also rejects NaN
        raise ValueError("timeout must be a positive number of seconds, got %r" % (options.get("timeout"),))
    if opts["max_tls_version"] is not None and \
            TLS_VERSIONS.index(opts["max_tls_version"]) < TLS_VERSIONS.index(opts["min_tls_version"]):
        raise ValueError("max_tls_version %s is below min_tls_version %s" % (opts["max_tls_version"], opts["min_tls_version"]))
    if not opts["ehlo_name"]:
        opts["ehlo_name"] = default_ehlo_name()
    elif not (_valid_domain(opts["ehlo_name"]) or re.fullmatch(r"\[[0-9A-Fa-f:.Iv]+\]", opts["ehlo_name"])):
        raise ValueError("ehlo_name must be a domain name or an address literal like [192.0.2.1], got %r" % (opts["ehlo_name"],))
    auth = opts.get("auth")
    if auth:
        auth = dict(auth)
        auth["mechanism"] = auth.get("mechanism") or "auto"
        if not auth.get("username"):
            raise ValueError("auth.username is required for AUTH (the full mailbox address)")
        if any(ord(ch) < 32 or ord(ch) == 127 or ch == " " for ch in auth["username"]):
            raise ValueError("auth.username %r contains spaces or control characters: give the mailbox address"
                             % (auth["username"],))
        has_secret = any((auth.get("password"), auth.get("oauth2_token"), auth.get("token_error"),
                          auth.get("token_source") is not None))
        if not has_secret:
            raise ValueError("auth needs password, oauth2_token or oauth2 (client credentials)")
        if auth["mechanism"] == "xoauth2" and auth.get("password"):
            raise ValueError("auth.mechanism xoauth2 needs oauth2_token or oauth2, not password")
        if auth["mechanism"] in ("login", "plain") and not auth.get("password"):
            raise ValueError("auth.mechanism %s needs auth.password" % auth["mechanism"])
        auth["allow_plaintext"] = bool(auth.get("allow_plaintext"))
        auth["open_mailbox"] = bool(auth.get("open_mailbox"))
        opts["auth"] = auth
    send = opts.get("send")
    if send:
        send = dict(send)
        if not send.get("sender"):
            send["sender"] = (auth or {}).get("username")
        if not send.get("sender"):
            raise ValueError("send.sender is required when auth.username is not given")
        send["recipients"] = list(send.get("recipients") or [send["sender"]])
        for address in [send["sender"]] + send["recipients"]:
            if any(ch in address for ch in "<>\r\n ") or "@" not in address:
                raise ValueError("send: %r is not a plain mail address (user@domain)" % (address,))
        send["subject"] = send.get("subject") or "mailfleet test message"
        if "\r" in send["subject"] or "\n" in send["subject"]:
            raise ValueError("send.subject must be a single line")
        opts["send"] = send
    return opts


def normalize_endpoint(endpoint, index=0, opts=None):
    """Check one endpoint dict; fill name, protocol and security defaults, its proxy and whether it logs in.

    Its protocol and security are the argument spec's choices (or the catalog's), not checked again here.

    ``proxy``: the endpoint's own proxy URL (with its ``proxy_password``), ``direct`` for none, or absent for the
    call's (``opts["proxy"]``, already parsed). ``auth``: false skips the login on this endpoint.
    """
    ep = dict(endpoint or {})
    if not ep.get("host"):
        raise ValueError("endpoint %d: host is required" % (index + 1))
    try:
        ep["port"] = int(ep.get("port"))
    except (TypeError, ValueError):
        raise ValueError("endpoint %s: port must be a number, got %r" % (ep.get("host"), ep.get("port")))
    if not 0 < ep["port"] < 65536:
        raise ValueError("endpoint %s: port %d is out of range" % (ep["host"], ep["port"]))
    ep["protocol"] = ep.get("protocol") or "smtp"
    if not ep.get("security"):
        ep["security"] = "starttls" if ep["protocol"] == "smtp" else "tls"
    if not ep.get("name"):
        ep["name"] = "%s:%d" % (ep["host"], ep["port"])
    password = ep.pop("proxy_password", None)
    if ep.get("proxy") is None:
        if password:
            raise ValueError("endpoint %s: proxy_password is set without the endpoint's own proxy (the call's proxy "
                             "takes the call's proxy_password)" % ep["name"])
        ep["proxy"] = (opts or {}).get("proxy")
    else:
        ep["proxy"] = proxy.parse_proxy(ep["proxy"], password, variable="endpoint %s: proxy" % ep["name"],
                                        password_variable="endpoint %s: proxy_password" % ep["name"])
    ep["auth"] = ep.get("auth") is not False
    return ep


def check_plaintext_auth(endpoints, opts):
    """Refuse (before connecting) AUTH on a security=none SMTP endpoint unless allow_plaintext is set."""
    auth = opts.get("auth")
    if not auth or auth.get("allow_plaintext"):
        return
    for ep in endpoints:
        if ep["security"] == "none" and ep.get("auth", True):
            raise ValueError(
                "endpoint %s has security none: auth would send the credentials in plain text. Use starttls or "
                "tls, or set auth.allow_plaintext: true if you really mean it." % ep["name"])


# --------------------------------------------------------------------------- the probe


def secrets_of(opts, endpoints=()):
    """Every secret of the options (and of the endpoints' own proxies), with the encoded forms the probe sends."""
    auth = opts.get("auth") or {}
    values = []
    for key in ("password", "oauth2_token"):
        if auth.get(key):
            values.append(auth[key])
            values.append(_b64(auth[key]))
    for spec in [opts.get("proxy")] + [ep.get("proxy") for ep in endpoints]:
        values.extend(proxy.proxy_secrets(spec))
    source = auth.get("token_source")
    if source is not None and source.secret:
        values.append(source.secret)
    return values
