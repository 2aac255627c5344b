# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The diagnosis vocabulary of smtp_check, and the table of Microsoft's SMTP answers.

One home for both: the probe engine (``_probe.engine``) classifies every failure into one of ``CODES``,
and the fleet report reuses ``CODES`` / ``diagnosis()`` / ``classify_reply()`` to explain results.

- ``CODES``: code -> (message, hint).  The vocabulary is fixed; ``smtp_check``'s RETURN documents it.
- ``MICROSOFT_ANSWERS``: the answers Exchange Online sends (``shared/facts/microsoft-mail.md``,
  section 4), each matched by enhanced status code plus a text pattern, mapped to a code and to the
  cause/fix Microsoft documents.
- ``classify_reply(code, enhanced, text, stage)``: a server answer -> (code, hint) using the
  Microsoft table first, then generic SMTP rules, then a per-stage fallback.
- ``MAILBOX_ANSWERS`` / ``classify_mailbox_reply(protocol, step, text)``: the same for Exchange Online's IMAP
  and POP answers to a login (``login``, ``xoauth2``) or to opening the mailbox (``open``).

Standard library only: this file runs on targets.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

# Stages of a probe, in the order they can be passed (not every probe passes every stage).
STAGES = ("dns", "connect", "proxy", "banner", "ehlo", "starttls", "tls", "auth", "mailbox", "send")

_PORT25_HINT = (
    "A firewall, a security group or the ISP drops this port (packets get no answer). Port 25 is commonly "
    "blocked for outbound traffic by ISPs and cloud providers: submit on 587 with STARTTLS instead, or ask "
    "for the port to be opened."
)

# code -> (message, hint).  Keep messages short and factual; hints say what to do.
CODES = {
    "ok": (
        "The endpoint answered every stage of the probe as expected.",
        "",
    ),
    "dns_error": (
        "The host name could not be resolved.",
        "Check the spelling of the host name, the resolver configuration (/etc/resolv.conf) and the "
        "address_family option; a split-horizon or offline resolver may not know the name.",
    ),
    "connect_timeout": (
        "The TCP connection got no answer within the timeout.",
        _PORT25_HINT,
    ),
    "connect_refused": (
        "The TCP connection was refused: nothing listens on this port, or a firewall rejects it.",
        "Check the port number and that the service runs; a local firewall with a reject rule gives the same answer.",
    ),
    "network_unreachable": (
        "There is no route to the address (network or host unreachable).",
        "The host has no route for this address family: check the default route and IPv6 connectivity, or "
        "set address_family to ipv4.",
    ),
    "banner_timeout": (
        "The connection was accepted but the server sent no greeting within the timeout.",
        "A tarpit, an overloaded server or a middlebox that accepts connections and never forwards them. "
        "If the port expects implicit TLS, set security to tls.",
    ),
    "bad_banner": (
        "The server's greeting is not a valid SMTP/IMAP/POP greeting, or refuses the session.",
        "Something other than a mail server listens on this port, or the server refuses clients from this "
        "address; read the banner in the result.",
    ),
    "starttls_not_offered": (
        "The server did not offer STARTTLS; the probe never falls back to plain text.",
        "The server does not support TLS on this port, or a middlebox strips STARTTLS from the EHLO answer "
        "(a downgrade attack or a broken 'SMTP inspection' firewall feature). Fix the path; do not disable TLS.",
    ),
    "tls_handshake_failed": (
        "The TLS handshake failed.",
        "Read the detail: a server that closes the connection during the handshake, an incompatible cipher "
        "list, or a TLS-intercepting middlebox.",
    ),
    "tls_on_plain_port": (
        "Implicit TLS was attempted against a port that speaks plain SMTP first (STARTTLS port).",
        "Use security: starttls on this port. Microsoft 365 submission is port 587 with STARTTLS; guides that "
        "say '465' or 'SSL' for Microsoft 365 are wrong (Microsoft: a device that only supports 465 cannot use "
        "SMTP AUTH client submission).",
    ),
    "plain_on_tls_port": (
        "Plain text or STARTTLS was attempted against a port that expects implicit TLS from the first byte.",
        "Use security: tls on this port (implicit TLS, e.g. 465 'SMTPS', 993 IMAPS, 995 POP3S), or use the "
        "STARTTLS port of the service.",
    ),
    "tls_version_too_old": (
        "The server offers only TLS versions older than tls_min_version.",
        "The server needs an upgrade. Microsoft 365 requires TLS 1.2 or later for SMTP AUTH; lower "
        "tls_min_version only to confirm the diagnosis, never for production.",
    ),
    "legacy_tls_rejected": (
        "The server rejected the session because the negotiated TLS version is too old (TLS 1.0/1.1).",
        "Upgrade the client's TLS library or settings to TLS 1.2+ (Microsoft: https://aka.ms/smtp_auth_tls); "
        "Microsoft's opt-in legacy endpoint exists only for the worldwide cloud and only as a stopgap.",
    ),
    "cert_untrusted": (
        "The server certificate does not chain to a trusted CA (self-signed or unknown issuer).",
        "Install the issuing CA into the system trust store or point ca_file at the right bundle; a "
        "TLS-intercepting proxy presents its own certificate. Never turn validate_certs off in production.",
    ),
    "cert_hostname_mismatch": (
        "The server certificate is not valid for the host name that was connected to.",
        "Connect with the name the certificate carries (see tls.cert.san), not an IP address or an alias.",
    ),
    "cert_expired": (
        "The server certificate has expired (or is not valid yet).",
        "The server operator must renew the certificate; check this host's clock too.",
    ),
    "auth_not_offered": (
        "The server does not offer AUTH (or not the requested mechanism) on this connection.",
        "AUTH is usually offered only after STARTTLS and only on the submission port; Microsoft 365 offers "
        "AUTH LOGIN XOAUTH2 after STARTTLS on 587 (no PLAIN).",
    ),
    "auth_failed": (
        "Authentication failed.",
        "For XOAUTH2 check the token's audience, scopes (SMTP.Send / SMTP.SendAsApp) and the mailbox "
        "permission of the application; for passwords check the credentials and MFA.",
    ),
    "smtp_auth_disabled": (
        "SMTP AUTH (client submission) is disabled for the tenant or the mailbox.",
        "Enable it for the mailbox (Set-CASMailbox -SmtpClientAuthenticationDisabled $false) or the tenant "
        "(Set-TransportConfig), or relay through a connector instead (https://aka.ms/smtp_auth_disabled).",
    ),
    "basic_auth_disabled": (
        "Basic (password) authentication is disabled or no longer supported for SMTP AUTH.",
        "Switch to OAuth2 (XOAUTH2). Microsoft disables Basic auth for SMTP AUTH by default at the end of "
        "December 2026 (MC786329).",
    ),
    "security_defaults": (
        "The account is blocked by the tenant's security defaults policy.",
        "Security defaults block legacy authentication: use OAuth2 (XOAUTH2) or a connector relay.",
    ),
    "bad_credentials": (
        "The user name or password is incorrect.",
        "Fix the credentials (the user name is the full mailbox address).",
    ),
    "policy_blocked": (
        "The server's policy refused the request (Conditional Access, mailbox setting, or a blocked account).",
        "Check Conditional Access policies and the mailbox's SMTP AUTH setting; a sender blocked for spam "
        "must be released in the Restricted users portal.",
    ),
    "send_as_denied": (
        "The authenticated mailbox may not send as this sender address.",
        "Use the login mailbox as envelope sender and From (Postfix: sender_canonical_maps), or grant SendAs "
        "on the address.",
    ),
    "not_authenticated": (
        "The server refused to accept mail without authentication.",
        "Authenticate after STARTTLS before MAIL FROM, or relay through a connector / direct send to the "
        "tenant's MX host.",
    ),
    "relay_denied": (
        "The server refused to relay for this client.",
        "For a Microsoft 365 connector the client's public IP or TLS certificate must match the inbound "
        "connector; direct send must not be blocked by the tenant and only reaches internal recipients.",
    ),
    "ip_blocked": (
        "The server refuses traffic from this client's IP address.",
        "The sending IP has a low reputation or is listed; contact the provider's support (Microsoft: "
        "delist through support) or send from another address.",
    ),
    "throttled": (
        "The server is throttling this client (busy, rate or quota limit).",
        "Back off and retry later; spread sending below the provider's limits (Microsoft 365: 30 messages "
        "per minute, 10,000 recipients per day per mailbox).",
    ),
    "timeout": (
        "The server stopped answering (or answered too slowly) before the probe's timeout.",
        "A slow or overloaded server, or a middlebox that stalls the connection; raise timeout to confirm.",
    ),
    "connection_closed": (
        "The server closed the connection unexpectedly.",
        "A server that drops clients it does not like (rate limits, IP policy) or a middlebox that resets "
        "the connection; read reply/banner for the last thing it said.",
    ),
    "protocol_error": (
        "The server's answer violates the protocol or is unexpected at this point.",
        "Something other than a standard mail server, or a broken proxy; read reply in the result.",
    ),
    "tenant_blocked": (
        "The tenant is blocked from sending (Microsoft 5.7.705 / 5.7.750).",
        "The whole tenant, not this mailbox: its outbound mail exceeded Microsoft's thresholds (spam, a compromised "
        "account) or it sends from domains it has not registered. Register and verify every sending domain in the "
        "tenant, secure the accounts, then ask Microsoft support to lift the block.",
    ),
    "mailbox_login_refused": (
        "The IMAP/POP server refused the password login (IMAP LOGIN, POP USER/PASS).",
        "Check the user name (the full mailbox address) and the password. Exchange Online retired Basic auth for IMAP "
        "and POP in 2022 and gives a correct password the same answer: use XOAUTH2 (delegated IMAP.AccessAsUser.All / "
        "POP.AccessAsUser.All, or app-only IMAP.AccessAsApp / POP.AccessAsApp). IMAP or POP disabled for the mailbox "
        "(Set-CASMailbox -ImapEnabled / -PopEnabled) looks the same.",
    ),
    "mailbox_not_connected": (
        "The login succeeded but the server could not open the mailbox.",
        "App-only token: the application's Exchange service principal needs access to this mailbox "
        "(Add-MailboxPermission -User <service principal id> -AccessRights FullAccess). Delegated token: it must "
        "belong to this mailbox's user (or one with FullAccess on it). Also check that IMAP/POP is enabled for the "
        "mailbox.",
    ),
    "proxy_unreachable": (
        "The proxy could not be reached: its name does not resolve, or there is no route to it.",
        "Check the host of the proxy URL and this host's resolver and routes: the proxy is the one hop the network "
        "must let this host reach directly.",
    ),
    "proxy_refused": (
        "The TCP connection to the proxy was refused.",
        "Check the proxy URL's port (SOCKS proxies usually listen on 1080, HTTP proxies on 3128 or 8080) and that "
        "the proxy runs.",
    ),
    "proxy_timeout": (
        "The proxy did not answer within the timeout.",
        "A firewall drops this host's traffic to the proxy, or the proxy is overloaded; check the proxy URL's host "
        "and port, then raise timeout to confirm.",
    ),
    "proxy_auth_required": (
        "The proxy requires authentication that was not offered.",
        "Give the proxy user in the URL (socks5h://USER@proxy:1080 or http://USER@proxy:3128) and its password in "
        "proxy_password; a SOCKS proxy that wants GSSAPI (Kerberos) is not supported.",
    ),
    "proxy_auth_failed": (
        "The proxy rejected the proxy user name or password.",
        "Fix the user in the proxy URL or proxy_password (the proxy's own account, not the mailbox's).",
    ),
    "proxy_denied": (
        "The proxy refused this connection: its rules do not allow this host or this destination.",
        "Ask the proxy's administrators to allow this host and the destination host and port of the result "
        "(the mail submission, IMAP and POP ports are often not in a web proxy's allowed CONNECT ports).",
    ),
    "proxy_target_failed": (
        "The proxy could not connect to the destination.",
        "Read the detail: refused (nothing listens there, or a firewall behind the proxy rejects), unreachable or "
        "not resolvable from the proxy. Check the endpoint's host and port; with socks5h:// the proxy resolves the "
        "name.",
    ),
    "proxy_protocol_error": (
        "The proxy's answer is not the protocol of the proxy URL's scheme.",
        "Check the scheme: socks5h:// or socks5:// for a SOCKS5 proxy, http:// for an HTTP proxy with CONNECT "
        "(not an HTTPS-only or a transparent proxy).",
    ),
}

# Codes that mean "the proxy (the one hop out of this network) is the problem", for reports.
PROXY_CODES = frozenset(code for code in CODES if code.startswith("proxy_"))


def diagnosis(code, detail=None, hint=None):
    """The ``diagnosis`` dict of a result: {code, message, hint}; ``detail`` is appended to the message."""
    if code not in CODES:
        raise KeyError("unknown diagnosis code %r" % (code,))
    message, default_hint = CODES[code]
    if detail:
        message = "%s %s" % (message, detail)
    return {"code": code, "message": message, "hint": hint if hint is not None else default_hint}


def _row(codes, pattern, code, cause, fix, basic=None):
    return {
        "enhanced": tuple(codes) if codes else None,
        "basic": basic,
        "pattern": re.compile(pattern, re.IGNORECASE) if pattern else None,
        "code": code,
        "cause": cause,
        "fix": fix,
    }


# Exchange Online answers (facts section 4, plus 5.7.68 from section 2), most specific first.
# Each row: enhanced status codes it applies to (None = any), a text pattern (None = any), the code, and the
# cause / fix of the facts file. Every row is exercised by a lab answer (tests/unit/smtp_check/test_diagnosis.py).
_SEND_AS_FIX = "Use the login mailbox as envelope sender and From (Postfix: sender_canonical_maps), or grant SendAs."
_THROTTLE_FIX = ("Fix the error the sender kept repeating (often SendAs or authentication: read the earlier "
                 "failures), then wait; Microsoft lifts the throttle by itself (continuous error throttling for SMTP "
                 "AUTH submissions).")
MICROSOFT_ANSWERS = (
    _row(("5.7.139",), r"SmtpClientAuthentication is disabled for the Mailbox", "smtp_auth_disabled",
         "SMTP AUTH is turned off for this mailbox (the mailbox setting wins over the tenant's).",
         "Set-CASMailbox -Identity <mailbox> -SmtpClientAuthenticationDisabled $false (or $null to follow the "
         "tenant's setting); see https://aka.ms/smtp_auth_disabled."),
    _row(("5.7.139",), r"SmtpClientAuthentication is disabled for the Tenant", "smtp_auth_disabled",
         "SMTP AUTH is turned off for the whole tenant.",
         "Enable it for the mailboxes that need it (Set-CASMailbox -SmtpClientAuthenticationDisabled $false) or for "
         "the tenant (Set-TransportConfig -SmtpClientAuthenticationDisabled $false), or relay through a connector "
         "(https://aka.ms/smtp_auth_disabled)."),
    _row(("5.7.139",), r"SmtpClientAuthentication is disabled", "smtp_auth_disabled",
         "SMTP AUTH is turned off for the tenant or the mailbox.",
         "Enable SMTP AUTH for the mailbox or the tenant (https://aka.ms/smtp_auth_disabled), or relay through a "
         "connector."),
    _row(("5.7.139",), r"did not meet the criteria", "policy_blocked",
         "Conditional Access, or an authentication policy that blocks legacy (Basic) authentication.",
         "Check the Conditional Access policies (Entra sign-in logs) and the authentication policies "
         "(Get-AuthenticationPolicy, AllowBasicAuthSmtp) that apply to this user; it is not the mailbox's SMTP AUTH "
         "switch."),
    _row(("5.7.139",), r"security defaults", "security_defaults",
         "The tenant's security defaults block legacy authentication for this user.",
         "Use OAuth2 (XOAUTH2) or a connector relay."),
    _row(("5.7.139",), r"basic authentication is disabled", "basic_auth_disabled",
         "Basic authentication is blocked.",
         "Switch to OAuth2 (XOAUTH2)."),
    _row(("5.7.139",), r"credentials were incorrect", "bad_credentials",
         "Wrong password (or user name).",
         "Fix the credentials."),
    _row(("5.7.139",), None, "auth_failed",
         "Authentication refused by Exchange Online.",
         "Read the reply text; check the mailbox's SMTP AUTH setting and policies."),
    _row(("5.7.30",), r"basic authentication is not supported", "basic_auth_disabled",
         "Basic authentication has been removed for client submission.",
         "Switch to OAuth2 (XOAUTH2)."),
    _row(("5.7.3",), None, "auth_failed",
         "Generic authentication failure: a bad or expired XOAUTH2 token, missing app permission, or MFA.",
         "Check the token (audience https://outlook.office365.com, SMTP.Send or SMTP.SendAsApp), the "
         "Exchange service principal and the mailbox permission."),
    _row(("5.7.57",), None, "not_authenticated",
         "MAIL FROM before AUTH, or no TLS.",
         "Authenticate after STARTTLS, or use a connector / direct send to the tenant's MX host."),
    _row(("5.7.60",), None, "send_as_denied",
         "The From address is not the login mailbox.",
         _SEND_AS_FIX),
    _row(("5.2.251", "5.2.252", "5.2.253", "5.2.254", "5.2.255"), r"throttl", "throttled",
         "Continuous error throttling: the sender kept failing (SMTP AUTH submissions), so Exchange Online throttles it.",
         _THROTTLE_FIX),
    _row(("5.2.251", "5.2.253", "5.2.254", "5.2.255"), None, "throttled",
         "Continuous error throttling: the sender kept failing (SMTP AUTH submissions), so Exchange Online throttles it.",
         _THROTTLE_FIX),
    _row(("5.2.252",), None, "send_as_denied",
         "The mailbox is not allowed to send as this address.",
         _SEND_AS_FIX),
    _row(("5.2.0",), r"SendAsDenied", "send_as_denied",
         "The mailbox is not allowed to send as this address.",
         _SEND_AS_FIX),
    _row(("5.7.64",), None, "relay_denied",
         "The connector's IP or certificate does not match (TenantAttribution; Relay Access Denied).",
         "Fix the inbound connector: the client's public IP or certificate name must match it."),
    _row(("5.7.68",), None, "relay_denied",
         "The tenant rejects direct send from unauthorized sources (RejectDirectSend).",
         "Use SMTP AUTH submission or a connector, or allow direct send for the tenant."),
    _row(("5.7.708",), None, "ip_blocked",
         "The sending IP has a low reputation.",
         "Contact Microsoft support to delist, or send from another address."),
    _row(("5.7.233",), None, "throttled",
         "The tenant's outbound limit for external recipients (TERRL: 500 x licences^0.7 + 9,500 per day; trial "
         "tenants 5,000) is reached.",
         "Spread the sending over time, add licences, or send bulk mail through a dedicated service (Exchange Team "
         "blog \"Introducing Exchange Online Tenant Outbound Email Limits\")."),
    _row(("5.7.705", "5.7.750"), None, "tenant_blocked",
         "The tenant is blocked for sending: it exceeded Microsoft's thresholds (5.7.705) or sends from unregistered "
         "domains (5.7.750).",
         "Register and verify the sending domains in the tenant, then contact Microsoft support (NDR page \"Fix email "
         "delivery issues for error codes 5.7.700 through 5.7.750\")."),
    _row(("4.7.500",), None, "throttled",
         "Throttling or a new sending pattern.",
         "Back off and retry later."),
    _row(("4.7.66",), None, "legacy_tls_rejected",
         "TLS 1.0 and 1.1 are not supported.",
         "Use TLS 1.2 or later (https://aka.ms/smtp_auth_tls)."),
    _row(("5.1.8",), r"bad outbound sender", "policy_blocked",
         "The account is blocked for sending spam.",
         "Release the user in the Restricted users portal and secure the account."),
    _row(("5.2.2",), r"quota", "throttled",
         "Over the recipient limit (10,000 recipients per day) or the message rate limit.",
         "Spread sending over time or over several mailboxes."),
    # Without enhanced code, the same texts are still recognisable.
    _row(None, r"SendAsDenied", "send_as_denied",
         "The mailbox is not allowed to send as this address.",
         _SEND_AS_FIX),
    _row(None, r"TLS 1\.0 and 1\.1 are not supported", "legacy_tls_rejected",
         "TLS 1.0 and 1.1 are not supported.",
         "Use TLS 1.2 or later (https://aka.ms/smtp_auth_tls)."),
    _row(None, r"Server busy\. Please try again later", "throttled",
         "Throttling or a new sending pattern.",
         "Back off and retry later."),
)

_ENHANCED_RE = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})(?=\s|$|[^\w.])")


def parse_enhanced_code(text):
    """The RFC 3463 enhanced status code at the start of a reply text ('5.7.139'), or None."""
    if not text:
        return None
    match = _ENHANCED_RE.match(text)
    if not match:
        return None
    return "%s.%s.%s" % match.groups()


def match_microsoft(enhanced, text):
    """The row of MICROSOFT_ANSWERS matching an answer, or None."""
    text = text or ""
    for row in MICROSOFT_ANSWERS:
        if row["enhanced"] is not None and enhanced not in row["enhanced"]:
            continue
        if row["pattern"] is not None and not row["pattern"].search(text):
            continue
        return row
    return None


_BUSY_RE = re.compile(r"busy|try again|too many|rate limit|throttl|temporar", re.IGNORECASE)
_RELAY_RE = re.compile(r"relay", re.IGNORECASE)
_STAGE_FALLBACK = {
    "banner": "bad_banner",
    "auth": "auth_failed",
    "starttls": "tls_handshake_failed",
}


def classify_reply(code, enhanced, text, stage):
    """Map a server answer at a stage to (diagnosis code, hint or None).

    ``code``: the 3-digit reply code (int); ``enhanced``: '5.7.139' or None; ``text``: the reply text
    (may include the enhanced code); ``stage``: the stage being attempted when the answer came.
    """
    if enhanced is None:
        enhanced = parse_enhanced_code(text)
    row = match_microsoft(enhanced, text)
    if row is not None:
        return row["code"], "%s %s" % (row["cause"], row["fix"])
    text = text or ""
    # Generic SMTP (RFC 4954 / 3463) rules.
    if enhanced == "5.7.8" or (code == 535 and re.search(r"credentials|password", text, re.IGNORECASE)):
        return "bad_credentials", None
    if code in (534, 538) or enhanced == "5.7.9":
        return "policy_blocked", None
    if code == 535:
        return "auth_failed", None
    if code == 530 or (enhanced == "5.7.0" and re.search(r"authenticat", text, re.IGNORECASE)):
        return "not_authenticated", None
    if code == 421:
        if _BUSY_RE.search(text):
            return "throttled", None
        return "connection_closed", None
    if code in (450, 451, 452) and (stage == "send" or _BUSY_RE.search(text)):
        return "throttled", None
    if code in (550, 551, 553, 554) and _RELAY_RE.search(text):
        return "relay_denied", None
    if stage == "auth" and code == 504:
        return "auth_not_offered", None
    return _STAGE_FALLBACK.get(stage, "protocol_error"), None


# Exchange Online's IMAP and POP answers (facts section 6: OAuth2 is the only login Exchange Online keeps for them).
# Microsoft does not document these texts; they are what Exchange Online sends as quoted in public client issue
# threads (MailKit, imapsync, email-oauth2-proxy). Exchange gives ONE refusal for every cause of a failed
# AUTHENTICATE (bad token, missing scope or role, no service principal, the protocol disabled for the mailbox),
# so the fix lists the causes in the order to check them.
# Each row: protocol, step ("login": LOGIN or USER/PASS, "xoauth2", "open": EXAMINE / STAT), pattern, code, cause, fix.
_IMAP_TOKEN_FIX = (
    "Check, in this order: the token's audience (https://outlook.office365.com) and scope - delegated "
    "IMAP.AccessAsUser.All, app-only the IMAP.AccessAsApp role with the app's service principal registered in Exchange "
    "(New-ServicePrincipal) and given the mailbox (Add-MailboxPermission); that the token is not expired; that IMAP is "
    "enabled for the mailbox (Set-CASMailbox -ImapEnabled $true; Outlook.com: POP and IMAP are off until the user "
    "turns them on in Outlook.com settings).")
_POP_TOKEN_FIX = _IMAP_TOKEN_FIX.replace("IMAP.AccessAsUser.All", "POP.AccessAsUser.All").replace(
    "IMAP.AccessAsApp", "POP.AccessAsApp").replace("IMAP is", "POP is").replace("-ImapEnabled", "-PopEnabled")
_BASIC_RETIRED = ("Exchange Online retired Basic auth for IMAP and POP in 2022: a correct password gets this answer "
                  "too. Use XOAUTH2; on another server, check the user name and password.")


def _mrow(protocol, step, pattern, code, cause, fix):
    return {"protocol": protocol, "step": step, "pattern": re.compile(pattern, re.IGNORECASE), "code": code,
            "cause": cause, "fix": fix}


MAILBOX_ANSWERS = (
    _mrow("imap", "xoauth2", r"AUTHENTICATE failed", "auth_failed",
          "Exchange Online refused the XOAUTH2 token for IMAP (one answer for every cause).", _IMAP_TOKEN_FIX),
    _mrow("imap", "login", r"LOGIN failed", "mailbox_login_refused",
          "The IMAP password login was refused.", _BASIC_RETIRED),
    _mrow("imap", "open", r"User is authenticated but not connected", "mailbox_not_connected",
          "The token was accepted but Exchange could not connect it to the mailbox.",
          "App-only: give the application's service principal the mailbox (Add-MailboxPermission -Identity <mailbox> "
          "-User <service principal object id> -AccessRights FullAccess); delegated: sign in as the mailbox's user. "
          "Check that IMAP is enabled for the mailbox (Set-CASMailbox -ImapEnabled $true)."),
    _mrow("pop", "xoauth2", r"Authentication failure", "auth_failed",
          "Exchange Online refused the XOAUTH2 token for POP (one answer for every cause).", _POP_TOKEN_FIX),
    _mrow("pop", "login", r"Logon failure", "mailbox_login_refused",
          "The POP password login (USER/PASS) was refused.", _BASIC_RETIRED),
)

# A refusal no row matches: what the step means.
_MAILBOX_FALLBACK = {"login": "mailbox_login_refused", "xoauth2": "auth_failed", "open": "mailbox_not_connected"}


def match_mailbox(protocol, step, text):
    """The row of MAILBOX_ANSWERS matching an IMAP/POP refusal, or None."""
    for row in MAILBOX_ANSWERS:
        if row["protocol"] == protocol and row["step"] == step and row["pattern"].search(text or ""):
            return row
    return None


def classify_mailbox_reply(protocol, step, text):
    """An IMAP status (after the tag) or POP -ERR text at ``step`` -> (diagnosis code, hint or None)."""
    row = match_mailbox(protocol, step, text)
    if row is not None:
        return row["code"], "%s %s" % (row["cause"], row["fix"])
    return _MAILBOX_FALLBACK.get(step, "protocol_error"), None
