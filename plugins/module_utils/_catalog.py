# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The settings catalog: the one home of Microsoft's mail endpoints and the facts that go with them.

No hostname or port of a Microsoft service (or of the bundled lab) is typed anywhere else in the
collection: modules, plugins, roles and tests read them from here.

Every fact carries its source (``source`` fields, quoted from ``shared/facts/microsoft-mail.md``).
Facts that are not fully confirmed carry ``confirmed: False``; the settings model treats every value
here as a default that per-host overrides may replace, never as law.

Standard library only: this file is shipped to targets with the modules that import it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

SECURITY_MODES = ("starttls", "tls", "none")
AUTH_METHODS = ("oauth2", "password", "none")
TLS_VERSIONS = ("1.0", "1.1", "1.2", "1.3")

# Microsoft's Basic auth retirement for SMTP AUTH (MC786329, updated 2026-01-27).
BASIC_AUTH_RETIREMENT = {
    "disabled_by_default_from": "2026-12-31",
    "text": (
        "Microsoft disables Basic authentication for SMTP AUTH by default for existing tenants at the end "
        "of December 2026 (admins can re-enable it until the final removal, to be announced in the second "
        "half of 2027); new tenants do not have it. Move to OAuth2 (XOAUTH2) or a connector relay."
    ),
    "answer_after_removal": "550 5.7.30 Basic authentication is not supported for Client Submission.",
    "source": "Microsoft 365 message center MC786329 (updated 2026-01-27)",
}

SOURCE_M365_SMTP = (
    'learn.microsoft.com "How to set up a multifunction device or application to send email using Microsoft 365"; '
    "Office 365 worldwide endpoints list (ID 2: TCP 587, 993, 995, 143)"
)
SOURCE_M365_IMAP = 'learn.microsoft.com "POP3 and IMAP4 in Exchange Online"'
SOURCE_465 = (
    'learn.microsoft.com "How to set up a multifunction device or application to send email using Microsoft 365": '
    "\"If your device recommends or defaults to port 465, it doesn't support SMTP AUTH client submission.\" "
    "The Office 365 endpoints list has no TCP 465."
)
SOURCE_OAUTH = (
    'learn.microsoft.com "Authenticate an IMAP, POP or SMTP connection using OAuth"; '
    'Microsoft Entra "national clouds" authentication endpoints'
)
SOURCE_LIMITS = ("Exchange Online limits: SMTP AUTH client submission 30 messages per minute, 10,000 recipients per day, "
                 "500 recipients per message (customisable 1-1000); message size limit 35 MB by default (MaxSendSize, "
                 "up to 150 MB when raised by the tenant)")
SOURCE_TERRL = 'Exchange Team blog "Introducing Exchange Online Tenant Outbound Email Limits"'
SOURCE_LEGACY_TLS = 'learn.microsoft.com "Opt in to the Exchange Online endpoint for legacy TLS clients using SMTP AUTH"'
LEGACY_TLS_OPT_IN = (
    "Works only after the tenant opts in: Set-TransportConfig -AllowLegacyTLSClients $true (EAC: \"Turn on use of "
    "legacy TLS clients\"); not in GCC, GCC High or DoD. A stopgap: devices that need TLS 1.0/1.1 usually cannot "
    "do OAuth2 either, so they lose Basic auth too.")

# Delegated scopes (a person signs in) and the app-only scope (client credentials), worldwide.
M365_DELEGATED_SCOPES = (
    "https://outlook.office.com/SMTP.Send",
    "https://outlook.office.com/IMAP.AccessAsUser.All",
    "https://outlook.office.com/POP.AccessAsUser.All",
    "offline_access",
)
M365_APP_SCOPE = "https://outlook.office365.com/.default"

M365_LIMITS = {
    "messages_per_minute": 30,
    "recipients_per_day": 10000,
    "recipients_per_message": 500,
    # The tenant outbound limit (TERRL) on external recipients; the per-mailbox external limit (ERR, 2,000 per day)
    # was cancelled indefinitely. Over it: 550 5.7.233.
    "tenant_external_recipients_per_day": "500 x licences^0.7 + 9,500 (trial tenants: 5,000)",
    "message_size": 35 * 1024 * 1024,
    "source": SOURCE_LIMITS + "; " + SOURCE_TERRL,
}

# The three ways a host sends through Microsoft 365 (facts section 2). The tenant MX host is an input:
# it was <domain-with-dashes>.mail.protection.outlook.com, domains added from about July 2026 get hosts under
# *.mx.microsoft (MC1048624), so it is never built from a pattern.
M365_CONNECTOR = {
    "port": 25,
    "security": "starttls",
    "mx_host": None,
    "recipients": "internal and external",
    "auth": "inbound connector matched by static public IP or by TLS client certificate (CN/SAN in an accepted domain)",
    "note": "Resolve the domain's MX record or take the MX host as input; never build it from a pattern (MC1048624).",
    "source": "learn.microsoft.com, option 3: SMTP relay with a connector; MC1048624",
}
M365_DIRECT_SEND = {
    "port": 25,
    "security": "starttls",
    "mx_host": None,
    "recipients": "internal only",
    "note": (
        "Direct send accepts only recipients inside the tenant and can be blocked by the tenant "
        "(Set-OrganizationConfig -RejectDirectSend $true: 550 5.7.68 TenantInboundAttribution)."
    ),
    "source": "learn.microsoft.com, option 2: direct send",
}


def _endpoint(host, port, security, source, confirmed=True, note=None):
    entry = {"host": host, "port": port, "security": security, "source": source, "confirmed": confirmed}
    if note:
        entry["note"] = note
    return entry


def _oauth2(authority_host, app_scope, delegated_scopes, tenant=None, confirmed=True, source=SOURCE_OAUTH, scheme="https",
            app_only_note=None):
    return {
        "authority_url": "%s://%s" % (scheme, authority_host),
        "tenant": tenant,
        "token_path": "/{tenant}/oauth2/v2.0/token",
        "device_code_path": "/{tenant}/oauth2/v2.0/devicecode",
        "authorize_path": "/{tenant}/oauth2/v2.0/authorize",
        "scope_app": app_scope,
        "scopes_delegated": list(delegated_scopes),
        # app_scope None: no app-only (client credentials) route; app_only_note says why.
        "app_only_note": app_only_note,
        "confirmed": confirmed,
        "source": source,
    }


def _microsoft_auth(password_note):
    return {
        "oauth2": {
            "mechanism": "XOAUTH2",
            "note": "XOAUTH2 with delegated (SMTP.Send) or app-only (SMTP.SendAsApp) tokens.",
        },
        "password": {
            "mechanism": "LOGIN",
            "note": password_note,
        },
    }


def _sovereign_scopes(resource_host):
    """Delegated scopes on a national cloud's Exchange resource host."""
    return tuple("https://%s/%s" % (resource_host, scope) for scope in ("SMTP.Send", "IMAP.AccessAsUser.All", "POP.AccessAsUser.All")) \
        + ("offline_access",)


def _tenant_profile(title, smtp, mailbox_host, mailbox_source, oauth2):
    """A Microsoft 365 tenant cloud: submission with STARTTLS, IMAP 993 and POP 995 with implicit TLS,
    OAuth2 or (until its retirement) Basic auth, Microsoft's sending limits, connector relay and direct send."""
    return {
        "title": title,
        "microsoft": True,
        "smtp": smtp,
        "imap": _endpoint(mailbox_host, 993, "tls", mailbox_source),
        "pop": _endpoint(mailbox_host, 995, "tls", mailbox_source),
        "auth_methods": ("oauth2", "password"),
        "auth_notes": _microsoft_auth(BASIC_AUTH_RETIREMENT["text"]),
        "oauth2": oauth2,
        "limits": M365_LIMITS,
        "connector": M365_CONNECTOR,
        "direct_send": M365_DIRECT_SEND,
        "tls_min_version": "1.2",
        "implicit_tls_supported": False,
        "ip_host_allowed": False,
        "ca_file": None,
    }


PROFILES = {
    "microsoft365": dict(
        _tenant_profile(
            "Microsoft 365 / Exchange Online, worldwide (also GCC)",
            _endpoint("smtp.office365.com", 587, "starttls", SOURCE_M365_SMTP,
                      note="Port 25 with STARTTLS is also accepted; 465 is not supported."),
            "outlook.office365.com", SOURCE_M365_IMAP,
            _oauth2("login.microsoftonline.com", M365_APP_SCOPE, M365_DELEGATED_SCOPES)),
        smtp_legacy_tls_host=_endpoint("smtp-legacy.office365.com", 587, "starttls", SOURCE_LEGACY_TLS,
                                       note=LEGACY_TLS_OPT_IN),
    ),
    "outlook_com": {
        "title": "Outlook.com consumer accounts (outlook.com, hotmail.com, live.com, msn.com)",
        "microsoft": True,
        "smtp": _endpoint("smtp-mail.outlook.com", 587, "starttls",
                          'support.microsoft.com "POP, IMAP, and SMTP settings for Outlook.com"; '
                          "thunderbird/autoconfig ispdb/hotmail.com.xml"),
        "imap": _endpoint("outlook.office365.com", 993, "tls", 'support.microsoft.com "POP, IMAP, and SMTP settings for Outlook.com"'),
        "pop": _endpoint("outlook.office365.com", 995, "tls", 'support.microsoft.com "POP, IMAP, and SMTP settings for Outlook.com"'),
        "auth_methods": ("oauth2",),
        "auth_notes": {
            "oauth2": {"mechanism": "XOAUTH2", "note": "Delegated tokens from the 'consumers' tenant."},
            "password": {
                "mechanism": None,
                "note": "Outlook.com requires OAuth2 (Modern Auth) for IMAP, POP and SMTP since September 2024.",
            },
        },
        "oauth2": _oauth2("login.microsoftonline.com", None, M365_DELEGATED_SCOPES, tenant="consumers",
                          app_only_note=("personal (Outlook.com) accounts have no app-only route: client credentials "
                                         "need an Exchange service principal and a mailbox permission in a tenant; "
                                         "use delegated tokens (a person signs in once, e.g. the device-code flow)")),
        "limits": {"messages_per_minute": None, "recipients_per_day": None, "recipients_per_message": None,
                   "tenant_external_recipients_per_day": None, "source": "not published for consumer accounts"},
        "connector": None,
        "direct_send": None,
        "tls_min_version": "1.2",
        "implicit_tls_supported": False,
        "ip_host_allowed": False,
        "ca_file": None,
    },
    # National clouds: the authorities are confirmed (Entra national clouds); their Exchange resource hosts
    # for the scopes are not, so their OAuth2 entries are marked unconfirmed.
    "gcc_high": _tenant_profile(
        "Microsoft 365 GCC High (US Government)",
        _endpoint("outlook.office365.us", 587, "starttls", "GCC High endpoints list (ID 5)",
                  note="smtp.office365.us is also mentioned in some documents (unconfirmed)."),
        "outlook.office365.us", "GCC High endpoints list (ID 5)",
        _oauth2("login.microsoftonline.us", "https://outlook.office365.us/.default",
                _sovereign_scopes("outlook.office365.us"), confirmed=False)),
    "dod": _tenant_profile(
        "Microsoft 365 DoD (US Department of Defense)",
        _endpoint("outlook-dod.office365.us", 587, "starttls", "DoD endpoints list"),
        "outlook-dod.office365.us", "DoD endpoints list",
        _oauth2("login.microsoftonline.us", "https://outlook-dod.office365.us/.default",
                _sovereign_scopes("outlook-dod.office365.us"), confirmed=False)),
    "china": dict(
        _tenant_profile(
            "Microsoft 365 operated by 21Vianet (China)",
            _endpoint("smtp.partner.outlook.cn", 587, "starttls",
                      "widely used in third-party code; not in the stored 21Vianet endpoint list", confirmed=False,
                      note="Unconfirmed: the stored 21Vianet endpoint list (v2021032900) names *.partner.outlook.cn on "
                           "TCP 443/80 only, not on 587/993/995; override smtp_host/smtp_port if your tenant's "
                           "documentation says otherwise."),
            "partner.outlook.cn", "21Vianet endpoints list",
            _oauth2("login.partner.microsoftonline.cn", "https://partner.outlook.cn/.default",
                    _sovereign_scopes("partner.outlook.cn"), confirmed=False)),
        smtp_legacy_tls_host=_endpoint("smtp-legacy.partner.outlook.cn", 587, "starttls", SOURCE_LEGACY_TLS,
                                       confirmed=False, note=LEGACY_TLS_OPT_IN),
    ),
    "custom": {
        "title": "On-premises or hybrid relay (host, port and security given by the user)",
        "microsoft": False,
        "smtp": {"host": None, "port": None, "security": None, "source": "user input", "confirmed": True},
        "imap": None,
        "pop": None,
        "auth_methods": ("password", "oauth2", "none"),
        "auth_notes": {},
        "oauth2": None,
        "limits": {"messages_per_minute": None, "recipients_per_day": None, "recipients_per_message": None,
                   "tenant_external_recipients_per_day": None, "source": "the relay's own policy"},
        "connector": None,
        "direct_send": None,
        "tls_min_version": "1.2",
        "implicit_tls_supported": True,
        "ip_host_allowed": True,
        "ca_file": None,
    },
}

# High Volume Email (facts section 6): its own endpoint and accounts, internal recipients only; MC786329 names it
# (with Azure Communication Services Email) as the alternative for applications. GA date and the Basic auth
# timeline are unconfirmed, so the whole profile is.
SOURCE_HVE = ('learn.microsoft.com "High Volume Email for Microsoft 365" (smtp-hve.office365.com:587 STARTTLS); '
              "Microsoft 365 message center MC786329")
HVE_BASIC_AUTH = {
    "disabled_by_default_from": None,
    "text": ("High Volume Email is not covered by the December 2026 SMTP AUTH Basic auth switch; third-party sites say "
             "HVE keeps Basic auth until September 2028 (unconfirmed)."),
    "source": "third-party sites (unconfirmed)",
}
PROFILES["microsoft365_hve"] = dict(
    _tenant_profile(
        "Microsoft 365 High Volume Email (HVE; internal recipients only; unconfirmed)",
        _endpoint("smtp-hve.office365.com", 587, "starttls", SOURCE_HVE, confirmed=False,
                  note="HVE accounts are their own (not user mailboxes) and reach only recipients inside the tenant."),
        None, SOURCE_HVE,
        _oauth2("login.microsoftonline.com", M365_APP_SCOPE, M365_DELEGATED_SCOPES, confirmed=False, source=SOURCE_HVE)),
    imap=None,
    pop=None,
    auth_methods=("password", "oauth2"),
    auth_notes=_microsoft_auth(HVE_BASIC_AUTH["text"]),
    limits={"messages_per_minute": None, "recipients_per_day": None, "recipients_per_message": None,
            "tenant_external_recipients_per_day": None, "source": "HVE limits are not in the facts file"},
    connector=None,
    direct_send=None,
    recipients="internal only",
    basic_auth=HVE_BASIC_AUTH,
    confirmed=False,
)

# The bundled lab: an Exchange Online look-alike on loopback (lab/mailfleet_lab). One port per behaviour.
LAB_HOST = "localhost"
LAB_STATE_DIR = "/var/tmp/mailfleet-lab"
LAB_CA_FILE = LAB_STATE_DIR + "/ca.pem"
LAB_PORTS = {
    "submission": 10587,       # like smtp.office365.com:587
    "connector": 10025,        # like the tenant MX host on port 25
    "token": 10443,            # like login.microsoftonline.com (HTTPS)
    "imap": 10993,
    "pop": 10995,
    "tarpit": 10601,           # accepts TCP, never sends a banner
    "close": 10602,            # closes right after connect
    "garbage_banner": 10603,
    "no_starttls": 10604,
    "starttls_drop": 10605,    # STARTTLS accepted, then the handshake is dropped
    "cert_expired": 10606,
    "cert_wrong_host": 10607,
    "cert_self_signed": 10608,
    "legacy_tls": 10609,       # answers 421 4.7.66 to clients that negotiated TLS 1.0/1.1
    "implicit_tls": 10465,     # implicit TLS only, like 465 elsewhere
    "slow": 10610,             # 1 byte per 100 ms
    "tls_old_only": 10611,     # TLS 1.0/1.1 only
}

PROFILES["lab"] = {
    "title": "mailfleet lab (Exchange Online look-alike on loopback)",
    "microsoft": False,
    # The lab answers like Exchange Online, so the Basic auth timeline applies to what it rehearses.
    "emulates_microsoft": True,
    "smtp": _endpoint(LAB_HOST, LAB_PORTS["submission"], "starttls", "lab/mailfleet_lab (bundled)"),
    "imap": _endpoint(LAB_HOST, LAB_PORTS["imap"], "tls", "lab/mailfleet_lab (bundled)"),
    "pop": _endpoint(LAB_HOST, LAB_PORTS["pop"], "tls", "lab/mailfleet_lab (bundled)"),
    "auth_methods": ("oauth2", "password"),
    "auth_notes": _microsoft_auth("The lab emulates Basic auth (AUTH LOGIN) and its Microsoft refusals."),
    "oauth2": _oauth2("%s:%d" % (LAB_HOST, LAB_PORTS["token"]), M365_APP_SCOPE, M365_DELEGATED_SCOPES,
                      tenant="contoso.test", source="lab token endpoint"),
    "limits": dict(M365_LIMITS, source="the lab applies Microsoft's limits by default"),
    "connector": dict(M365_CONNECTOR, port=LAB_PORTS["connector"], mx_host=LAB_HOST),
    "direct_send": dict(M365_DIRECT_SEND, port=LAB_PORTS["connector"], mx_host=LAB_HOST),
    "tls_min_version": "1.2",
    "implicit_tls_supported": True,
    "ip_host_allowed": True,
    "ca_file": LAB_CA_FILE,
    "lab_ports": dict(LAB_PORTS),
}

MICROSOFT_PROFILES = tuple(sorted(name for name, profile in PROFILES.items() if profile["microsoft"]))
PROFILE_NAMES = tuple(sorted(PROFILES))


def get_profile(name):
    """Return a deep copy of the named profile, or raise KeyError."""
    return copy.deepcopy(PROFILES[name])


# Tenant MX hosts (connector relay and direct send, facts section 2): recognised by these name suffixes only, never
# built from them (see M365_CONNECTOR["note"]). Discovery (mail_senders_facts) uses them to tell a host that
# relays to a tenant's MX from one that sends somewhere else.
MX_HOST_SUFFIXES = {
    "suffixes": (".mail.protection.outlook.com", ".mx.microsoft"),
    "profile": "microsoft365",
    "source": "tenant MX hosts <domain-with-dashes>.mail.protection.outlook.com; *.mx.microsoft for domains added "
              "from about July 2026 (MC1048624)",
}


def microsoft_hosts():
    """Every Microsoft host name of the catalog, lower case -> (profile, service): ``submission`` (the SMTP
    submission host, also the opt-in legacy TLS one) or ``mailbox`` (the IMAP/POP host, which some guides also give
    for SMTP). The first profile in PROFILE_NAMES order wins for a host shared by two profiles (outlook_com and
    microsoft365 share the mailbox host)."""
    hosts = {}
    for name in PROFILE_NAMES:
        profile = PROFILES[name]
        if not profile["microsoft"]:
            continue
        for key, service in (("smtp", "submission"), ("smtp_legacy_tls_host", "submission"), ("imap", "mailbox"), ("pop", "mailbox")):
            endpoint = profile.get(key)
            if endpoint and endpoint.get("host"):
                hosts.setdefault(endpoint["host"].lower(), (name, service))
    return hosts
