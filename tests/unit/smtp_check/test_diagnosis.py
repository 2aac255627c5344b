"""The diagnosis vocabulary and the Microsoft answer table (facts section 4)."""

import os
import re

import pytest

from ansible_collections.mailfleet.outlook.plugins.module_utils import _diagnosis as d

pytestmark = pytest.mark.timeout(30)

FACTS = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "shared", "facts", "microsoft-mail.md")
MODULE = os.path.join(os.path.dirname(__file__), "..", "..", "..", "plugins", "modules", "smtp_check.py")

# The vocabulary the issue fixes, in its order.
ISSUE_CODES = (
    "ok dns_error connect_timeout connect_refused network_unreachable banner_timeout bad_banner "
    "starttls_not_offered tls_handshake_failed tls_on_plain_port plain_on_tls_port tls_version_too_old "
    "legacy_tls_rejected cert_untrusted cert_hostname_mismatch cert_expired auth_not_offered auth_failed "
    "smtp_auth_disabled basic_auth_disabled security_defaults bad_credentials policy_blocked send_as_denied "
    "not_authenticated relay_denied ip_blocked throttled timeout connection_closed protocol_error"
).split()

# Every answer of facts section 4 (and 5.7.68 of section 2), as Exchange Online sends it -> (code, stage).
MICROSOFT = [
    ("530 5.7.57 Client not authenticated to send mail", "not_authenticated", "send"),
    ("530 5.7.57 Client not authenticated to send anonymous mail during MAIL FROM", "not_authenticated", "send"),
    ("535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. "
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
]


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


def test_every_table_row_is_reachable():
    reached = set()
    for answer, _code, stage in MICROSOFT:
        text = answer[4:]
        row = d.match_microsoft(d.parse_enhanced_code(text), text)
        reached.add(id(row))
    # rows without an enhanced code are fallbacks for answers whose enhanced code is missing
    for text in ("SendAsDenied here", "TLS 1.0 and 1.1 are not supported", "Server busy. Please try again later",
                 "Authentication unsuccessful, something new"):
        row = d.match_microsoft(None, text) or d.match_microsoft("5.7.139", text)
        reached.add(id(row))
    assert reached >= {id(row) for row in d.MICROSOFT_ANSWERS}


def test_facts_file_answers_are_all_covered():
    """Each answer quoted in the first column of facts section 4 is in MICROSOFT and maps the same."""
    if not os.path.exists(FACTS):
        pytest.skip("shared/facts/microsoft-mail.md is not beside the checkout")
    with open(FACTS, encoding="utf-8") as handle:
        text = handle.read()
    section = text.split("## 4.", 1)[1].split("## 5.", 1)[0]
    quoted = []
    for line in section.splitlines():
        if line.startswith("| `"):
            quoted.extend(re.findall(r"`([^`]+)`", line.split("|")[1]))
    assert len(quoted) >= 17
    for answer in quoted:
        if not answer[:1].isdigit():
            continue  # a fragment such as "...anonymous mail during MAIL FROM" (covered in MICROSOFT)
        raw = answer
        answer = answer.replace("<user>", "alice@contoso.com").replace("<addr>", "b@contoso.com")
        match = re.match(r"^(\d{3}) (.*)$", answer)
        basic, rest = (int(match.group(1)), match.group(2)) if match else (550, answer)
        enhanced = d.parse_enhanced_code(rest) if match else d.parse_enhanced_code(answer)
        got, _hint = d.classify_reply(basic, enhanced, rest, "send" if basic != 535 else "auth")
        head = re.split(r"[<\[]", raw)[0][:70].strip() if match else raw.strip()
        expected = [code for a, code, _s in MICROSOFT if (a.startswith(head) if match else head in a)]
        assert expected, answer
        assert got == expected[0], answer


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
