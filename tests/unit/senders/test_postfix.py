# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Postfix parser: main.cf rules, $parameter expansion, maps, TLS levels, master.cf overrides, SASL, with and
without postconf (the integration tests write the same configurations with postconf -e)."""

import pytest

from ansible_collections.mailfleet.outlook.plugins.module_utils._senders import _postfix
from mailfleet_testing.senders import CANARY, codes, only

pytestmark = [pytest.mark.timeout(60), pytest.mark.core_independent]


def test_main_cf_logical_lines_comments_and_last_wins():
    text = ("# comment\nrelayhost = [a.example]:25\nsmtp_tls_security_level =\n    encrypt\n  # indented comment\n"
            "\nmynetworks = 127.0.0.0/8,\n  [::1]/128\nrelayhost=[smtp.office365.com]:587\nnot a parameter line\n")
    params = _postfix.parse_main_cf(text)
    assert params["relayhost"] == ("[smtp.office365.com]:587", 9)
    assert params["smtp_tls_security_level"] == ("encrypt", 3)
    assert params["mynetworks"][0] == "127.0.0.0/8, [::1]/128"


@pytest.mark.parametrize("raw, expected", [
    ("$relay", "[smtp.office365.com]:587"), ("${relay}", "[smtp.office365.com]:587"), ("$(relay)", "[smtp.office365.com]:587"),
    ("${relay?yes}", "yes"), ("${empty?yes}", ""), ("${empty:fallback}", "fallback"), ("${relay:fallback}", ""),
    ("[$host]:$port", "[smtp.office365.com]:587"), ("$unknown", ""),
])
def test_expansion(raw, expected):
    values = {"relay": "[$host]:$port", "host": "smtp.office365.com", "port": "587", "empty": ""}
    assert _postfix.expand(raw, values.get) == expected


def test_expansion_loop_is_refused():
    with pytest.raises(_postfix.ExpansionLoop):
        _postfix.expand("$a", {"a": "$b", "b": "$a"}.get)


@pytest.mark.parametrize("text, expected", [
    ("[smtp.office365.com]:587", ("smtp.office365.com", 587, True)), ("smtp.office365.com:submission", ("smtp.office365.com", 587, False)),
    ("[smtp.office365.com]", ("smtp.office365.com", None, True)), ("relay.example", ("relay.example", None, False)),
    ("[2001:db8::1]:25", ("2001:db8::1", 25, True)), ("", (None, None, False)), ("[broken", (None, None, False)),
])
def test_nexthop(text, expected):
    assert _postfix.parse_nexthop(text) == expected


def test_map_specs():
    assert _postfix.parse_map_spec("hash:/etc/postfix/sasl_passwd") == ("hash", "/etc/postfix/sasl_passwd")
    assert _postfix.parse_map_spec("proxy:lmdb:/etc/postfix/sasl_passwd.lmdb") == ("lmdb", "/etc/postfix/sasl_passwd")
    assert _postfix.parse_map_spec("texthash:sasl") == ("texthash", "/etc/postfix/sasl")
    assert _postfix.parse_map_spec("static:{u:p}") == ("static", None)
    assert _postfix.split_list("hash:/a, inline:{ x=1, y=2 } regexp:/b") == ["hash:/a", "inline:{ x=1, y=2 }", "regexp:/b"]


def test_map_source_continuation_and_regexp():
    assert _postfix.parse_map_source("# c\nk1 v1\n  more\nk2\tv2\n", "hash") == [("k1", "v1 more", 2), ("k2", "v2", 4)]
    assert _postfix.parse_map_source("/^x@/ smtp:[h]:587\n", "regexp") == [("/^x@/", "smtp:[h]:587", 1)]


@pytest.fixture(params=["postconf", "parsed"])
def postfix_mode(request, monkeypatch):
    if request.param == "parsed":
        monkeypatch.setattr(_postfix, "POSTCONF_CANDIDATES", ())
        monkeypatch.setattr(_postfix.shutil, "which", lambda name: None)
    elif not _postfix._postconf_binary(None):
        pytest.skip("postconf is not installed (scripts/apt-packages.txt: postfix)")
    return request.param


def _main(fake_root, *lines):
    fake_root.write("/etc/postfix/main.cf", "\n".join(lines) + "\n")


def test_relayhost_with_password_map(fake_root, postfix_mode):
    _main(fake_root, "myhostname = web01.example", "relay_name = smtp.office365.com", "relayhost = [$relay_name]:587",
          "smtp_sasl_auth_enable = yes", "smtp_sasl_password_maps = hash:/etc/postfix/sasl_passwd",
          "smtp_sasl_security_options = noanonymous", "smtp_tls_security_level = secure")
    fake_root.write("/etc/postfix/sasl_passwd", "# map\n[smtp.office365.com]:587 alerts@contoso.com:%s\n" % CANARY, mode=0o600)
    r = fake_root.discover()
    f = only(r["senders"], program="postfix")
    assert f["upstream"] == {"host": "smtp.office365.com", "port": 587}
    assert (f["file"], f["line"], f["route"]) == ("/etc/postfix/main.cf", 3, "relayhost")
    assert (f["security"], f["tls_required"], f["cert_check"]) == ("starttls", True, True)
    assert (f["auth"], f["account"]) == ("password", "alerts@contoso.com")
    assert f["secret"]["file"] == "/etc/postfix/sasl_passwd" and f["secret"]["mode"] == "0600" and f["secret"]["line"] == 2
    assert not f["secret"]["world_readable"]
    assert f["verdict"] == "stops" and codes(f) == ["basic_auth"]
    assert f["microsoft"] and f["profile"] == "microsoft365" and f["service"] == "submission"
    assert "relay_username=alerts@contoso.com" in f["fix"] and "relay_auth_method=oauth2" in f["fix"]
    assert r["basic_auth"][0]["file"] == "/etc/postfix/main.cf"
    assert ("read from main.cf (postconf not available)" in f["notes"]) == (postfix_mode == "parsed")


@pytest.mark.parametrize("level, expected, verdict_codes", [
    ("may", ("starttls", False, False), ["basic_auth", "tls_optional", "no_cert_check"]),
    ("encrypt", ("starttls", True, False), ["basic_auth", "no_cert_check"]),
    ("verify", ("starttls", True, True), ["basic_auth"]),
    ("none", ("none", False, None), ["no_tls", "basic_auth"]),
])
def test_tls_levels(fake_root, postfix_mode, level, expected, verdict_codes):
    _main(fake_root, "relayhost = [smtp.office365.com]:587", "smtp_sasl_auth_enable = yes",
          "smtp_sasl_password_maps = texthash:/etc/postfix/sasl_passwd", "smtp_tls_security_level = %s" % level)
    fake_root.write("/etc/postfix/sasl_passwd", "[smtp.office365.com]:587 a@contoso.com:%s\n" % CANARY, mode=0o600)
    f = only(fake_root.discover()["senders"], program="postfix")
    assert (f["security"], f["tls_required"], f["cert_check"]) == expected
    assert sorted(codes(f)) == sorted(verdict_codes)
    assert f["verdict"] == ("wrong" if level == "none" else "stops")


def test_port_465_wrappermode_in_master_cf(fake_root, postfix_mode):
    _main(fake_root, "relayhost = [smtp.office365.com]:465", "default_transport = smtps", "smtp_tls_security_level = encrypt")
    fake_root.write("/etc/postfix/master.cf",
                    "smtp      unix  -       -       y       -       -       smtp\n"
                    "smtps     unix  -       -       y       -       -       smtp\n"
                    "  -o smtp_tls_wrappermode=yes -o smtp_tls_security_level=secure\n")
    f = only(fake_root.discover()["senders"], program="postfix")
    assert f["upstream"]["port"] == 465 and f["security"] == "tls" and f["cert_check"] is True
    assert f["verdict"] == "wrong" and codes(f)[0] == "port_465"


def test_transport_and_sender_dependent_maps(fake_root, postfix_mode):
    _main(fake_root, "transport_maps = hash:/etc/postfix/transport",
          "sender_dependent_relayhost_maps = regexp:/etc/postfix/sender_relay", "smtp_tls_security_level = secure")
    fake_root.write("/etc/postfix/transport", "contoso.com   smtp:[contoso-com.mail.protection.outlook.com]:25\n"
                                              "local.example local:\nbad.example error:no\n")
    fake_root.write("/etc/postfix/sender_relay", "/@fabrikam\\.com$/ [smtp.office365.com]:25\n")
    r = fake_root.discover()
    mx = only(r["senders"], route="transport_maps")
    assert mx["upstream"] == {"host": "contoso-com.mail.protection.outlook.com", "port": 25}
    assert (mx["file"], mx["line"], mx["service"], mx["auth"], mx["verdict"]) == ("/etc/postfix/transport", 1, "mx", "none", "ok")
    sd = only(r["senders"], route="sender_dependent_relayhost_maps")
    assert sd["verdict"] == "wrong" and "auth_none" in codes(sd) and "port_25" in codes(sd)


def test_static_map_secret_stays_out(fake_root, postfix_mode):
    _main(fake_root, "relayhost = [smtp.office365.com]:587", "smtp_sasl_auth_enable = yes",
          "smtp_sasl_password_maps = static:{alerts@contoso.com:%s}" % CANARY, "smtp_tls_security_level = secure")
    f = only(fake_root.discover()["senders"], program="postfix")
    assert f["auth"] == "password" and f["account"] == "alerts@contoso.com"
    assert f["secret"]["source"] == "inline" and f["secret"]["file"] == "/etc/postfix/main.cf" and f["secret"]["line"] == 3
    assert f["secret"]["world_readable"] and "secret_world_readable" in codes(f)


def test_sasl_xoauth2(fake_root, postfix_mode):
    _main(fake_root, "relayhost = [smtp.office365.com]:587", "smtp_sasl_auth_enable = yes",
          "smtp_sasl_password_maps = hash:/etc/postfix/sasl_passwd", "smtp_sasl_mechanism_filter = xoauth2",
          "smtp_tls_security_level = secure")
    fake_root.write("/etc/postfix/sasl_passwd", "[smtp.office365.com]:587 alerts@contoso.com:/etc/tokens/alerts.json\n", mode=0o600)
    fake_root.write("/etc/tokens/alerts.json", '{"refresh_token": "%s"}' % CANARY, mode=0o600)
    f = only(fake_root.discover()["senders"], program="postfix")
    assert (f["auth"], f["mechanism"], f["verdict"]) == ("oauth2", "XOAUTH2", "ok")
    assert f["secret"]["file"] == "/etc/tokens/alerts.json" and f["secret"]["program"] == "sasl-xoauth2"
    assert f["fix"] is None and f["adopt"] is None


def test_only_the_compiled_map(fake_root, postfix_mode):
    _main(fake_root, "relayhost = [smtp.office365.com]:587", "smtp_sasl_auth_enable = yes",
          "smtp_sasl_password_maps = hash:/etc/postfix/sasl_passwd", "smtp_tls_security_level = secure")
    fake_root.write("/etc/postfix/sasl_passwd.db", "binary-ish", mode=0o600)
    r = fake_root.discover()
    f = only(r["senders"], program="postfix")
    assert f["auth"] == "password" and f["account"] is None and f["secret"]["file"] == "/etc/postfix/sasl_passwd.db"
    assert any("only /etc/postfix/sasl_passwd.db exists" in u["reason"] for u in r["unreadable"])


def test_direct_delivery_and_no_postfix(fake_root, postfix_mode):
    assert fake_root.discover()["senders"] == []
    _main(fake_root, "myhostname = web01.example", "inet_interfaces = loopback-only")
    f = only(fake_root.discover()["senders"], program="postfix")
    assert f["route"] == "direct" and f["upstream"] is None and f["verdict"] == "not_microsoft"


def test_expansion_loop_is_reported(fake_root):
    _main(fake_root, "a = $b", "b = $a", "relayhost = [$a]:587")
    r = fake_root.discover()
    assert any("refers to itself" in u["reason"] or "expand" in u["reason"] for u in r["unreadable"]), r["unreadable"]


def test_managed_file_gets_the_variable_fix(fake_root, postfix_mode):
    from ansible_collections.mailfleet.outlook.plugins.module_utils._senders._finding import MANAGED_MARK
    _main(fake_root, "# %spostfix_relay): local changes are overwritten." % MANAGED_MARK,
          "relayhost = [smtp.office365.com]:587", "smtp_sasl_auth_enable = yes",
          "smtp_sasl_password_maps = hash:/etc/postfix/sasl_passwd", "smtp_tls_security_level = secure")
    fake_root.write("/etc/postfix/sasl_passwd", "[smtp.office365.com]:587 a@contoso.com:%s\n" % CANARY, mode=0o600)
    f = only(fake_root.discover()["senders"], program="postfix")
    assert f["managed"] and f["fix"].startswith("set relay_auth_method: oauth2")
