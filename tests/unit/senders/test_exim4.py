# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Exim4 (Debian) parser: update-exim4.conf.conf, dc_smarthost's '::port' list syntax, passwd.client, macros."""

import pytest

from ansible_collections.mailfleet.outlook.plugins.module_utils._senders import _exim4
from mailfleet_testing.senders import CANARY, codes, only

pytestmark = [pytest.mark.timeout(60), pytest.mark.core_independent]

UE4CC = """# /etc/exim4/update-exim4.conf.conf
#
# This is a Debian specific file

dc_eximconfig_configtype='%s'
dc_other_hostnames='web01.example'
dc_local_interfaces='127.0.0.1 ; ::1'
dc_readhost=''
dc_relay_domains=''
dc_minimaldns='false'
dc_relay_nets=''
dc_smarthost='%s'
CFILEMODE='644'
dc_use_split_config='%s'
dc_hide_mailname=''
dc_mailname_in_oh='true'
dc_localdelivery='mail_spool'
"""


def _conf(fake_root, smarthost="smtp.office365.com::587", ctype="smarthost", split="false"):
    fake_root.write("/etc/exim4/update-exim4.conf.conf", UE4CC % (ctype, smarthost, split))


@pytest.mark.parametrize("value, expected", [
    ("smtp.office365.com::587", [("smtp.office365.com", 587)]),
    ("smtp.office365.com", [("smtp.office365.com", None)]),
    ("a.example::587 : b.example::25", [("a.example", 587), ("b.example", 25)]),
    ("a.example::587;b.example", [("a.example", 587), ("b.example", None)]),
    ("", []),
])
def test_smarthost_list(value, expected):
    assert _exim4.split_smarthosts(value) == expected


def test_ue4cc_quoting():
    conf = _exim4.parse_ue4cc("dc_a='x y'\ndc_b=\"z\"\ndc_c=plain\n# dc_d='no'\n")
    assert conf == {"dc_a": ("x y", 1), "dc_b": ("z", 2), "dc_c": ("plain", 3)}


@pytest.mark.parametrize("pattern, host, match", [
    ("smtp.office365.com", "smtp.office365.com", True), ("*", "smtp.office365.com", True),
    ("*.office365.com", "smtp.office365.com", True), ("*.office365.com", "office365.com", False),
    ("^smtp\\.office365\\.com$", "smtp.office365.com", True), ("smtp.example", "smtp.office365.com", False),
])
def test_passwd_client_patterns(pattern, host, match):
    assert _exim4.host_matches(pattern, host) is match


def test_smarthost_with_password_default_tls(fake_root):
    _conf(fake_root)
    fake_root.write("/etc/exim4/passwd.client", "# password file\n### target.mail.server.example:login:password\n"
                                                "*.office365.com:exim@contoso.com:%s\n" % CANARY, mode=0o640)
    f = only(fake_root.discover()["senders"], program="exim4")
    assert f["upstream"] == {"host": "smtp.office365.com", "port": 587}
    assert (f["file"], f["line"]) == ("/etc/exim4/update-exim4.conf.conf", 12)
    assert (f["security"], f["tls_required"], f["cert_check"]) == ("starttls", False, None)   # no template to tell
    assert (f["auth"], f["account"]) == ("password", "exim@contoso.com")
    assert f["secret"]["file"] == "/etc/exim4/passwd.client" and f["secret"]["line"] == 3 and f["secret"]["mode"] == "0640"
    assert codes(f) == ["basic_auth", "tls_optional"] and f["verdict"] == "stops"


TEMPLATE_DEFAULT = ".ifndef REMOTE_SMTP_SMARTHOST_TLS_VERIFY_HOSTS\n  REMOTE_SMTP_SMARTHOST_TLS_VERIFY_HOSTS = *\n.endif\n"


@pytest.mark.parametrize("split, macro, cert", [
    ("false", None, True), ("true", None, True), ("false", "REMOTE_SMTP_SMARTHOST_TLS_VERIFY_HOSTS =", False),
    ("false", "REMOTE_SMTP_SMARTHOST_TLS_VERIFY_HOSTS = other.example", False),
])
def test_certificate_check_default_comes_from_the_installed_template(fake_root, split, macro, cert):
    _conf(fake_root, split=split)
    fake_root.write("/etc/exim4/exim4.conf.template", "# ...\n" + TEMPLATE_DEFAULT)
    fake_root.write("/etc/exim4/conf.d/transport/10_exim4-config_transport-macros", TEMPLATE_DEFAULT)
    if macro:
        fake_root.write("/etc/exim4/exim4.conf.localmacros", macro + "\n")
    f = only(fake_root.discover()["senders"], program="exim4")
    assert f["cert_check"] is cert


def test_macros_require_tls_and_verify(fake_root):
    _conf(fake_root, split="true")
    fake_root.write("/etc/exim4/conf.d/main/000_localmacros", "REMOTE_SMTP_SMARTHOST_HOSTS_REQUIRE_TLS = *\n"
                                                              "REMOTE_SMTP_SMARTHOST_TLS_VERIFY_HOSTS = *\n")
    f = only(fake_root.discover()["senders"], program="exim4")
    assert (f["security"], f["tls_required"], f["cert_check"], f["auth"]) == ("starttls", True, True, "none")
    assert f["verdict"] == "wrong" and codes(f) == ["auth_none"]


def test_smtps_protocol(fake_root):
    _conf(fake_root, smarthost="smtp.office365.com::465")
    fake_root.write("/etc/exim4/exim4.conf.localmacros", "REMOTE_SMTP_SMARTHOST_PROTOCOL = smtps\n")
    fake_root.write("/etc/exim4/passwd.client", "smtp.office365.com:a@contoso.com:%s\n" % CANARY, mode=0o640)
    f = only(fake_root.discover()["senders"], program="exim4")
    assert (f["security"], f["upstream"]["port"], f["verdict"]) == ("tls", 465, "wrong")
    assert "port_465" in codes(f) and "basic_auth" in codes(f)


def test_internet_site_and_local(fake_root):
    _conf(fake_root, ctype="internet", smarthost="")
    f = only(fake_root.discover()["senders"], program="exim4")
    assert f["route"] == "direct" and f["verdict"] == "not_microsoft"
    _conf(fake_root, ctype="local", smarthost="")
    assert fake_root.discover()["senders"] == []


def test_hand_written_exim4_conf_is_reported(fake_root):
    _conf(fake_root)
    fake_root.write("/etc/exim4/exim4.conf", "# hand-written\n")
    r = fake_root.discover()
    assert any(u["path"] == "/etc/exim4/exim4.conf" and "not interpreted" in u["reason"] for u in r["unreadable"])
