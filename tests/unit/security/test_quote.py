# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""plugin_utils/_quote.py, one function per syntax (the round trips through the real programs are in
tests/integration/security/test_values_roundtrip.py), the control-character rule of the settings model, and
relay_extra_settings' unsafe parameters."""

from __future__ import annotations

import pytest

from mailfleet_testing import format_planner

from ansible_collections.mailfleet.outlook.plugins.action.mail_config import PlanError
from ansible_collections.mailfleet.outlook.plugins.module_utils import _settings
from ansible_collections.mailfleet.outlook.plugins.plugin_utils import _formats
from ansible_collections.mailfleet.outlook.plugins.plugin_utils import _quote as q

pytestmark = pytest.mark.timeout(60)

CONTROLS = [chr(c) for c in list(range(0x00, 0x20)) + list(range(0x7f, 0xa0))] + ["\u2028", "\u2029", "\ud800", "\udfff"]


@pytest.mark.parametrize("syntax", sorted(q.SYNTAXES))
def test_every_syntax_refuses_every_control_character(syntax):
    for ch in CONTROLS:
        with pytest.raises(q.Unrepresentable, match="control character"):
            q.quote(["a%sb" % ch] if syntax in ("shell", "neomutt_command_output") else "a%sb" % ch, syntax, "v")


def test_control_character_finder():
    assert _settings.control_character("plain é 日本 😀 \u200b\ufeff") is None  # format characters are not controls
    assert _settings.control_character("a\nb") == (1, "U+000A (LF, a newline)")
    assert _settings.control_character("\u2028")[1] == "U+2028 (LINE SEPARATOR)"
    assert _settings.control_character("x\x85")[1] == "U+0085 (NEL, a next-line)"
    assert _settings.control_character("a\r\nb\tc\n", multiline=True) is None
    assert _settings.control_character("a\rb", multiline=True)[0] == 1  # a lone CR is not a line break here
    with pytest.raises(_settings.SettingsError, match=r"^relay_password=<hidden>: contains a control character"):
        _settings.refuse_control_characters("relay_password", "pw\n")
    with pytest.raises(_settings.SettingsError, match=r"^x\.y\[1\]\.password=<hidden>"):
        _settings.refuse_control_characters("x", {"y": ["ok", {"password": "a\x00"}]})
    with pytest.raises(_settings.SettingsError, match=r"^x='k\\n': a key contains"):
        _settings.refuse_control_characters("x", {"k\n": "v"})


def test_validating_regexes_do_not_accept_a_trailing_newline():
    assert not _settings.is_hostname("mail.contoso.com\n") and not _settings.is_email("a@contoso.com\n")
    with pytest.raises(_settings.SettingsError, match="control character"):
        _settings.build_settings("microsoft365", {"tenant": "contoso.onmicrosoft.com\n"})


def test_postfix():
    assert q.postfix("a $b $$c #;`\\\"'{} ,é") == "a $$b $$$$c #;`\\\"'{} ,é"
    for bad in (" lead", "trail ", "\ttab"):
        with pytest.raises(q.Unrepresentable):
            q.postfix(bad)
    assert q.postfix_expression("$myhostname x") == "$myhostname x"
    assert q.postfix_map("/etc/postfix/x$y") == "/etc/postfix/x$$y"
    for bad in ("/a b", "/a,b", "/a{b}", ""):
        with pytest.raises(q.Unrepresentable):
            q.postfix_map(bad)
    assert q.postfix_regexp("mail-01.x.example") == "mail-01\\.x\\.example"
    assert q.postfix_regexp("a/b(c)|d*e+f?[g]^$\\") == "a\\/b\\(c\\)\\|d\\*e\\+f\\?\\[g\\]\\^\\$\\\\"
    assert q.postfix_table_value(" user:pw$ #") == " user:pw$ #"
    with pytest.raises(q.Unrepresentable, match="ends with a blank"):
        q.postfix_table_value("user:pw ")


def test_msmtp_shell_neomutt_keyfile():
    assert q.msmtp("smtp.example.com") == "smtp.example.com"
    assert q.msmtp("a b") == '"a b"' and q.msmtp("") == '""' and q.msmtp('"x"') == '""x""' and q.msmtp(" x ") == '" x "'
    assert q.shell(["cat", "/a b/'c'"]) == "cat '/a b/'\"'\"'c'\"'\"''"
    assert q.neomutt('a"b\\c$d`e') == '"a\\"b\\\\c\\$d\\`e"'
    assert q.neomutt_command_output(["cat", "/x`y"]) == '"`cat \'/x\\`y\'`"'
    assert q.keyfile("  a\\b  ") == "\\s\\sa\\\\b\\s\\s" and q.keyfile("a  b") == "a  b" and q.keyfile("   ") == "\\s\\s\\s"


def test_xml_userjs_json():
    assert q.xml("<a href=\"x\">&'</a>") == "&lt;a href=&quot;x&quot;&gt;&amp;&apos;&lt;/a&gt;"
    with pytest.raises(q.Unrepresentable, match="U\\+FFFE"):
        q.xml("a\ufffeb")
    assert q.xml_comment("xn--a---b-") == "xn- -a- - -b- "
    assert "--" not in q.xml_comment("----") and not q.xml_comment("a-").endswith("-")
    assert q.xml_scrub("a\ufffe\x01b\ud800c\ufffd") == "a\ufffd\ufffdb\ufffdc\ufffd"
    assert q.userjs(True) == "true" and q.userjs(993) == "993" and q.userjs('a"\\é😀') == '"a\\"\\\\\\u00e9\\ud83d\\ude00"'
    assert q.json_value({"b": [1, "é"], "a": None}) == '{\n  "a": null,\n  "b": [\n    1,\n    "\\u00e9"\n  ]\n}'
    with pytest.raises(q.Unrepresentable):
        q.json_value({"a": ["ok", "x\ny"]})


def test_unknown_syntax_is_an_error():
    with pytest.raises(ValueError, match="unknown syntax"):
        q.quote("x", "yaml")


# ------------------------------------------------------------------------------------------------ unsafe settings

UNSAFE = [("inet_interfaces", "all"), ("mynetworks", "0.0.0.0/0"), ("mynetworks_style", "subnet"),
          ("smtpd_relay_restrictions", "permit"), ("smtpd_client_restrictions", "permit"), ("relay_domains", "$mydestination"),
          ("always_bcc", "spy@evil.example"), ("relayhost", "[evil.example]:25"), ("transport_maps", "hash:/x"),
          ("smtp_tls_policy_maps", "static:none"), ("smtp_tls_security_level", "none"), ("smtp_tls_security_level", "may"),
          ("smtp_tls_security_level", "dane"), ("smtp_tls_security_level", "$x"), ("smtp_tls_CAfile", "/tmp/evil.pem"),
          ("smtp_tls_mandatory_protocols", ">=TLSv1"), ("smtp_tls_ciphers", "export"), ("smtp_sasl_security_options", "noanonymous"),
          ("smtp_tls_loglevel", "4"), ("debug_peer_list", "0.0.0.0/0"), ("smtpd_sasl_auth_enable", "yes")]
SAFE = [("smtp_helo_name", "mail.contoso.com"), ("smtp_tls_security_level", "encrypt"),
        ("smtp_tls_security_level", "secure"), ("smtp_sasl_security_options", "noplaintext, noanonymous"),
        ("smtp_tls_loglevel", "2"), ("message_size_limit", 52428800), ("smtp_connect_timeout", "30s")]


@pytest.mark.parametrize("name, value", UNSAFE)
def test_unsafe_postfix_settings(name, value):
    assert _formats.unsafe_postfix_setting(name, value)


@pytest.mark.parametrize("name, value", SAFE)
def test_safe_postfix_settings(name, value):
    assert _formats.unsafe_postfix_setting(name, value) is None


def _relay(planner, extra, allowed=None):
    variables = {"extra_settings": extra}
    if allowed is not None:
        variables["allow_unsafe_settings"] = allowed
    return planner._plan({"format": ["postfix_relay"], "profile": "microsoft365",
                          "settings": {"auth_method": "password", "username": "alerts@contoso.com"},
                          "vars": variables, "secrets": {"password": "pw"}, "var_prefix": "relay_", "template_dir": None,
                          "root": "/", "backup": False, "reload": False, "validate_only": False}, {})


def test_relay_extra_settings_refuses_an_open_relay_unless_allowed():
    planner = format_planner()
    with pytest.raises(PlanError) as info:
        _relay(planner, {"inet_interfaces": "all", "mynetworks": "0.0.0.0/0"})
    text = str(info.value)
    assert text.startswith("relay_extra_settings: inet_interfaces='all' listens beyond loopback")
    assert "mynetworks='0.0.0.0/0'" in text and "relay_allow_unsafe_settings" in text
    # allowed: applied, and the warning says so on every run
    plan = _relay(planner, {"inet_interfaces": "all", "mynetworks": "0.0.0.0/0"}, ["inet_interfaces", "mynetworks"])
    main = [f["content"] for f in plan["files"] if f["path"].endswith("main.cf")][0]
    assert "\ninet_interfaces = all\n" in main and "loopback-only" not in main and "\nmynetworks = 0.0.0.0/0\n" in main
    assert any("applying unsafe main.cf settings" in w and "inet_interfaces=all" in w for w in plan["warnings"])
    # a name that is not unsafe (a typo) is an error, not a silent permission
    with pytest.raises(PlanError, match="relay_allow_unsafe_settings: 'mynetwork' is not one of the parameters"):
        _relay(planner, {}, ["mynetwork"])
    # safe settings need nothing and give no warning
    plan = _relay(planner, {"smtp_helo_name": "mail.contoso.com", "smtp_tls_security_level": "encrypt"})
    assert not any("unsafe" in w for w in plan["warnings"])
    with pytest.raises(PlanError, match="is not one value"):
        _relay(planner, {"smtp_helo_name": ["a", "b"]})
