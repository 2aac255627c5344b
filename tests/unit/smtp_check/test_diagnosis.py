"""The diagnosis vocabulary, the Microsoft answer table (facts section 4) and the IMAP/POP answer table.

Every answer row of the facts file is mapped to its documented code from the lab's own answer text (the lab's
ANSWERS are what the integration tests receive over the wire), and every row of both tables is exercised.
"""

import os
import re

import pytest

from mailfleet_lab.core import ANSWERS
from ansible_collections.mailfleet.outlook.plugins.module_utils import _diagnosis as d

pytestmark = [pytest.mark.timeout(30), pytest.mark.core_independent]

FACTS = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "shared", "facts", "microsoft-mail.md")
MODULE = os.path.join(os.path.dirname(__file__), "..", "..", "..", "plugins", "modules", "smtp_check.py")

# The vocabulary the issue fixes, in its order.
ISSUE_CODES = (
    "ok dns_error connect_timeout connect_refused network_unreachable banner_timeout bad_banner "
    "starttls_not_offered tls_handshake_failed tls_on_plain_port plain_on_tls_port tls_version_too_old "
    "legacy_tls_rejected cert_untrusted cert_hostname_mismatch cert_expired auth_not_offered auth_failed "
    "smtp_auth_disabled basic_auth_disabled security_defaults bad_credentials policy_blocked send_as_denied "
    "not_authenticated relay_denied ip_blocked throttled timeout connection_closed protocol_error "
    # issue 14: the tenant block, the IMAP/POP logins, the proxies
    "tenant_blocked mailbox_login_refused mailbox_not_connected proxy_unreachable proxy_refused proxy_timeout "
    "proxy_auth_required proxy_auth_failed proxy_denied proxy_target_failed proxy_protocol_error"
).split()

# Every answer of facts section 4 (and 5.7.68 of section 2), as Exchange Online sends it -> (code, stage).
MICROSOFT = [
    ("530 5.7.57 Client not authenticated to send mail", "not_authenticated", "send"),
    ("530 5.7.57 Client not authenticated to send anonymous mail during MAIL FROM", "not_authenticated", "send"),
    ("535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. "
     "Visit https://aka.ms/smtp_auth_disabled", "smtp_auth_disabled", "auth"),
    ("535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox. "
     "Visit https://aka.ms/smtp_auth_disabled", "smtp_auth_disabled", "auth"),
    ("535 5.7.139 Authentication unsuccessful, the request did not meet the criteria to be authenticated "
     "successfully. Contact your administrator.", "policy_blocked", "auth"),
    ("535 5.7.139 Authentication unsuccessful, user is locked by your organization's security defaults policy.",
     "security_defaults", "auth"),
    ("535 5.7.139 Authentication unsuccessful, basic authentication is disabled.", "basic_auth_disabled", "auth"),
    ("535 5.7.139 Authentication unsuccessful, the user credentials were incorrect.", "bad_credentials", "auth"),
    ("535 5.7.3 Authentication unsuccessful", "auth_failed", "auth"),
    ("550 5.7.30 Basic authentication is not supported for Client Submission.", "basic_auth_disabled", "auth"),
    ("550 5.7.60 SMTP; Client does not have permissions to send as this sender", "send_as_denied", "send"),
    ("554 5.2.252 SendAsDenied; alice@contoso.com not allowed to send as bob@contoso.com", "send_as_denied", "send"),
    ("554 5.2.0 STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied",
     "send_as_denied", "send"),
    ("550 5.7.64 TenantAttribution; Relay Access Denied", "relay_denied", "send"),
    ("550 5.7.68 TenantInboundAttribution; Direct Send not allowed for this organization from unauthorized sources",
     "relay_denied", "send"),
    ("550 5.7.708 Access denied, traffic not accepted from this IP", "ip_blocked", "send"),
    ("451 4.7.500 Server busy. Please try again later from [192.0.2.1]. (S77719)", "throttled", "send"),
    ("421 4.7.66 TLS 1.0 and 1.1 are not supported. Please upgrade/update your client to support TLS 1.2. "
     "Visit https://aka.ms/smtp_auth_tls", "legacy_tls_rejected", "tls"),
    ("550 5.1.8 Access denied, bad outbound sender", "policy_blocked", "send"),
    ("554 5.2.2 Submission quota exceeded", "throttled", "send"),
    ("550 5.2.251 Sender throttled due to continuous invalid recipients errors", "throttled", "send"),
    ("550 5.2.252 Sender throttled due to continuous send as denied errors", "throttled", "send"),
    ("550 5.2.253 Sender throttled due to continuous errors", "throttled", "send"),
    ("550 5.2.254 Sender throttled due to continuous errors", "throttled", "send"),
    ("550 5.2.255 Sender throttled due to continuous errors", "throttled", "send"),
    ("550 5.7.233 Message rejected: tenant external recipient rate limit exceeded", "throttled", "send"),
    ("550 5.7.705 Access denied, tenant has exceeded threshold", "tenant_blocked", "send"),
    ("550 5.7.750 Service unavailable. Client blocked from sending from unregistered domains", "tenant_blocked", "send"),
]

# Facts section 4, row by row (keyed by the row's first quoted answer): the documented code, the lab's answers
# for the row (core.ANSWERS keys), and words the hint must carry (the row's fix, not another row's).
FACTS_ROWS = {
    "530 5.7.57 Client not authenticated to send mail": ("not_authenticated", ["not_authenticated",
                                                                               "not_authenticated_anonymous"],
                                                         ["STARTTLS"]),
    "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit "
    "https://aka.ms/smtp_auth_disabled": ("smtp_auth_disabled", ["tenant_smtp_auth_disabled"], ["Set-TransportConfig"]),
    "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox. Visit "
    "https://aka.ms/smtp_auth_disabled": ("smtp_auth_disabled", ["mailbox_smtp_auth_disabled"],
                                          ["Set-CASMailbox", "$null", "mailbox setting wins"]),
    "535 5.7.139 Authentication unsuccessful, the request did not meet the criteria to be authenticated successfully. "
    "Contact your administrator.": ("policy_blocked", ["policy"],
                                    ["Conditional Access", "authentication polic", "not the mailbox's SMTP AUTH"]),
    "535 5.7.139 Authentication unsuccessful, user is locked by your organization's security defaults policy.": (
        "security_defaults", ["security_defaults"], ["OAuth2"]),
    "535 5.7.139 Authentication unsuccessful, basic authentication is disabled.": (
        "basic_auth_disabled", ["basic_auth_disabled"], ["OAuth2"]),
    "535 5.7.139 Authentication unsuccessful, the user credentials were incorrect.": (
        "bad_credentials", ["bad_credentials"], ["credentials"]),
    "535 5.7.3 Authentication unsuccessful": ("auth_failed", ["bad_token"], ["token"]),
    "550 5.7.30 Basic authentication is not supported for Client Submission.": (
        "basic_auth_disabled", ["basic_auth_removed"], ["OAuth2"]),
    "5.7.60 SMTP; Client does not have permissions to send as this sender": (
        "send_as_denied", ["send_as_denied_mail"], ["SendAs"]),
    "554 5.2.252 SendAsDenied; <user> not allowed to send as <addr>": (
        "send_as_denied", ["send_as_denied", "send_as_denied_storedrv"], ["SendAs"]),
    "550 5.7.64 TenantAttribution; Relay Access Denied": ("relay_denied", ["relay_denied"], ["connector"]),
    "550 5.7.708 Access denied, traffic not accepted from this IP": ("ip_blocked", ["ip_blocked"], ["support"]),
    "451 4.7.500 Server busy. Please try again later from [IP]. (S77719)": ("throttled", ["rate_limited"], ["retry"]),
    "550 5.2.251": ("throttled", ["continuous_error_throttled"], ["kept repeating", "wait"]),
    "550 5.7.233 … tenant external recipient rate limit …": ("throttled", ["tenant_outbound_limit"],
                                                             ["TERRL", "licences"]),
    "5.7.705": ("tenant_blocked", ["tenant_threshold", "unregistered_domains"], ["register", "support"]),
    "421 4.7.66 TLS 1.0 and 1.1 are not supported. Please upgrade/update your client to support TLS 1.2. Visit "
    "https://aka.ms/smtp_auth_tls": ("legacy_tls_rejected", ["legacy_tls"], ["TLS 1.2"]),
    "550 5.1.8 Access denied, bad outbound sender": ("policy_blocked", ["bad_outbound_sender"], ["Restricted users"]),
    "5.2.2 Submission quota exceeded": ("throttled", ["quota_exceeded"], ["Spread"]),
}
THROTTLE_CODES = ("5.2.251", "5.2.252", "5.2.253", "5.2.254", "5.2.255")


def test_vocabulary_is_exactly_the_issue_list():
    assert list(d.CODES) == ISSUE_CODES


@pytest.mark.parametrize("code", ISSUE_CODES)
def test_every_code_has_message_and_hint(code):
    message, hint = d.CODES[code]
    assert message.strip().endswith(".")
    if code != "ok":
        assert len(hint) > 20, code
    diag = d.diagnosis(code, "detail")
    assert diag == {"code": code, "message": message + " detail", "hint": hint}


def test_unknown_code_is_refused():
    with pytest.raises(KeyError):
        d.diagnosis("nope")


def test_connect_timeout_hint_names_port_25_and_587():
    hint = d.CODES["connect_timeout"][1]
    assert "25" in hint and "587" in hint and "firewall" in hint.lower()


def test_tls_on_plain_port_hint_names_the_465_mistake():
    hint = d.CODES["tls_on_plain_port"][1]
    assert "465" in hint and "STARTTLS" in hint and "Microsoft 365" in hint


def test_starttls_not_offered_mentions_downgrade():
    assert "downgrade" in d.CODES["starttls_not_offered"][1]


@pytest.mark.parametrize("answer,code,stage", MICROSOFT, ids=[m[0][:40] for m in MICROSOFT])
def test_microsoft_answer_maps_to_code(answer, code, stage):
    basic = int(answer[:3])
    text = answer[4:]
    got, hint = d.classify_reply(basic, None, text, stage)
    assert got == code
    assert hint  # the row's cause and fix
    assert d.match_microsoft(d.parse_enhanced_code(text), text)["code"] == code


def _facts_rows():
    if not os.path.exists(FACTS):
        pytest.skip("shared/facts/microsoft-mail.md is not beside the checkout")
    with open(FACTS, encoding="utf-8") as handle:
        section = handle.read().split("## 4.", 1)[1].split("## 5.", 1)[0]
    rows = []
    for line in section.splitlines():
        if line.startswith("| `"):
            cells = line.split("|")
            rows.append((re.findall(r"`([^`]+)`", cells[1]), cells[2].strip(), cells[3].strip()))
    return rows


def _lab_texts(key):
    """The lab's answer(s) for an ANSWERS key, filled in like the lab does (the throttling one per code)."""
    values = {"host": "lab.example.test", "ip": "192.0.2.1", "login": "alice@contoso.test",
              "address": "bob@contoso.test", "message_id": "id@lab"}
    if key == "continuous_error_throttled":
        return [ANSWERS[key].format(code=c, **values) for c in THROTTLE_CODES]
    return [ANSWERS[key].format(**values)]


def _classify(answer, stage):
    match = re.match(r"^(\d{3}) (.*)$", answer)
    basic, text = (int(match.group(1)), match.group(2)) if match else (550, answer)
    return d.classify_reply(basic, None, text, stage)


def test_every_facts_row_has_a_lab_answer_that_maps_to_its_code():
    rows = _facts_rows()
    assert len(rows) >= 20
    keys = [answers[0] for answers, _cause, _fix in rows]
    assert sorted(keys) == sorted(FACTS_ROWS), "a facts row without an expectation here, or a stale one"
    for answers, cause, fix in rows:
        code, lab_keys, hint_words = FACTS_ROWS[answers[0]]
        lab = [text for key in lab_keys for text in _lab_texts(key)]
        joined = " ".join(lab).lower()
        for fragment in answers:
            # every quoted piece of the row is in the lab's answers (placeholders and ellipses aside)
            for piece in re.split(r"<[^>]+>|\[IP\]|…|\.\.\.", fragment):
                piece = piece.strip(" ;,.")
                if piece:
                    assert piece.lower() in joined, (piece, lab)
        for text in lab:
            stage = "tls" if text.startswith("421") else ("auth" if text.startswith("535") else "send")
            got, hint = _classify(text, stage)
            assert got == code, (text, got, cause)
            for word in hint_words:
                assert word.lower() in hint.lower(), (text, word, hint)


def test_mailbox_and_tenant_fixes_are_not_swapped():
    mailbox_hint = _classify(_lab_texts("mailbox_smtp_auth_disabled")[0], "auth")[1]
    tenant_hint = _classify(_lab_texts("tenant_smtp_auth_disabled")[0], "auth")[1]
    assert "Set-CASMailbox" in mailbox_hint and "Set-TransportConfig" not in mailbox_hint
    assert "Set-TransportConfig" in tenant_hint
    criteria = _classify(_lab_texts("policy")[0], "auth")[1]
    assert "SmtpClientAuthenticationDisabled" not in criteria and "Conditional Access" in criteria


# synthetic answers for the rows that have no lab answer of their own: the fallbacks without enhanced code
FALLBACK_TEXTS = [
    (None, "SendAsDenied here"), (None, "TLS 1.0 and 1.1 are not supported"),
    (None, "Server busy. Please try again later"), ("5.7.139", "Authentication unsuccessful, something new"),
    ("5.7.139", "SmtpClientAuthentication is disabled for the Organization"),
    ("5.2.253", "Message rejected"),  # a continuous-error code without the "throttled" words
]


def test_every_microsoft_table_row_is_exercised():
    """The table has no row the tests do not reach: every row is the first match of a lab answer (or, for the
    rows that are fallbacks, of a synthetic answer without its enhanced code)."""
    reached = {}
    for key in ANSWERS:
        for text in _lab_texts(key):
            body = text[4:] if re.match(r"^\d{3} ", text) else text
            row = d.match_microsoft(d.parse_enhanced_code(body), body)
            if row is not None:
                reached.setdefault(id(row), []).append(key)
    for enhanced, text in FALLBACK_TEXTS:
        row = d.match_microsoft(enhanced, text)
        reached.setdefault(id(row), []).append(text)
    missing = [(row["enhanced"], row["pattern"] and row["pattern"].pattern) for row in d.MICROSOFT_ANSWERS
               if id(row) not in reached]
    assert not missing, missing


@pytest.mark.parametrize("protocol,step,key,code", [
    ("imap", "xoauth2", "imap_authenticate_failed", "auth_failed"),
    ("imap", "login", "imap_login_failed", "mailbox_login_refused"),
    ("imap", "open", "imap_not_connected", "mailbox_not_connected"),
    ("pop", "xoauth2", "pop_auth_failure", "auth_failed"),
    ("pop", "login", "pop_logon_failure", "mailbox_login_refused"),
])
def test_mailbox_answers(protocol, step, key, code):
    text = ANSWERS[key]
    text = text[4:].strip() if text.startswith("-ERR") else text
    got, hint = d.classify_mailbox_reply(protocol, step, text)
    assert got == code and hint
    assert d.match_mailbox(protocol, step, text) is not None


def test_every_mailbox_table_row_is_exercised():
    reached = set()
    for key in ("imap_authenticate_failed", "imap_login_failed", "imap_not_connected", "pop_auth_failure",
                "pop_logon_failure"):
        text = ANSWERS[key]
        text = text[4:].strip() if text.startswith("-ERR") else text
        for protocol in ("imap", "pop"):
            for step in ("login", "xoauth2", "open"):
                row = d.match_mailbox(protocol, step, text)
                if row is not None:
                    reached.add(id(row))
    assert reached == {id(row) for row in d.MAILBOX_ANSWERS}


@pytest.mark.parametrize("step,expected", [("login", "mailbox_login_refused"), ("xoauth2", "auth_failed"),
                                           ("open", "mailbox_not_connected"), ("other", "protocol_error")])
def test_mailbox_fallbacks(step, expected):
    assert d.classify_mailbox_reply("imap", step, "NO something else") == (expected, None)


@pytest.mark.parametrize("text,enhanced", [
    ("5.7.139 Authentication unsuccessful", "5.7.139"),
    ("4.7.500 Server busy", "4.7.500"),
    ("2.0.0 OK", "2.0.0"),
    ("Hello 5.7.1 not at start", None),
    ("5.7 incomplete", None),
    ("", None),
    (None, None),
    ("6.1.1 bad class", None),
    ("5.7.3", "5.7.3"),
])
def test_parse_enhanced_code(text, enhanced):
    assert d.parse_enhanced_code(text) == enhanced


@pytest.mark.parametrize("code,text,stage,expected", [
    (535, "5.7.8 Error: authentication failed: authentication failure", "auth", "bad_credentials"),
    (535, "Authentication failed", "auth", "auth_failed"),
    (534, "5.7.9 Please log in with your web browser", "auth", "policy_blocked"),
    (530, "5.7.0 Must issue a STARTTLS command first", "send", "not_authenticated"),
    (554, "5.7.1 <x@example.test>: Relay access denied", "send", "relay_denied"),
    (421, "4.3.2 Service not available, closing transmission channel", "banner", "connection_closed"),
    (421, "4.7.0 Too many connections, try again later", "banner", "throttled"),
    (451, "4.3.0 Temporary lookup failure", "send", "throttled"),
    (554, "5.7.1 No SMTP service here", "banner", "bad_banner"),
    (504, "5.7.4 Unrecognized authentication type", "auth", "auth_not_offered"),
    (454, "4.7.0 TLS not available due to local problem", "starttls", "tls_handshake_failed"),
    (500, "5.5.2 Syntax error", "ehlo", "protocol_error"),
    (550, "5.1.1 User unknown", "send", "protocol_error"),
])
def test_generic_rules(code, text, stage, expected):
    assert d.classify_reply(code, None, text, stage)[0] == expected


def test_module_return_documents_every_code():
    if not os.path.exists(MODULE):
        pytest.skip("module not present")
    with open(MODULE, encoding="utf-8") as handle:
        source = handle.read()
    ret = source.split("RETURN = ", 1)[1]
    for code in ISSUE_CODES:
        assert re.search(r"\b%s\b" % code, ret), code
