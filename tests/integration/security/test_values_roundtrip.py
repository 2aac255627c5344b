# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Values are data: hostile but legal values (quotes, #, ;, backslashes, $, backticks, braces, commas, unicode,
blanks at the ends where the syntax keeps them) are rendered by the real mail_config planner (the controller's
templar, the collection's mailfleet.outlook.quote filter) and read back by the real program's parser, which must
return exactly the value given - never a second directive. Values a syntax cannot represent are refused with an
error that names the variable (and never shows a secret).

Postfix: postconf -c DIR -xh, postmap -q (hash and regexp tables). msmtp: msmtp --pretend, passwordeval run by
sh. neomutt: neomutt -n -F FILE -Q (backtick commands run). Evolution: GLib.KeyFile. Thunderbird: a strict
parser of Gecko's pref grammar. XML: ElementTree and xmllint. Apple: plistlib. JSON: json.
"""

from __future__ import annotations

import json
import os
import plistlib
import subprocess
import xml.etree.ElementTree as ET

import pytest

from mailfleet_testing import format_planner
from mailfleet_testing import readers
from mailfleet_testing.capabilities import require

from ansible_collections.mailfleet.outlook.plugins.action.mail_config import PlanError
from ansible_collections.mailfleet.outlook.plugins.filter.client_accounts import client_accounts

pytestmark = pytest.mark.timeout(120)

# Everything the issue lists, plus braces and commas (Postfix lists), a tilde, and non-ASCII (one astral).
HOSTILE = "q\"uo'te # ; \\ $HOME $$ `id` {x} , ~ é ü 日本 – 😀"
HOSTILE_WORD = "w\"o'r#d;\\$HOME`id`{x},~é日本"           # the same without blanks (logins)
HOSTILE_EMAIL = "a$b#c'd`e{f}~g&h@contoso.com"             # what RFC 5322 allows in a local part
PASSWORD = " lead q\"uo'te # ; \\ $HOME `id` é 😀"          # a leading blank is fine in a password
HOSTILE_DIR_PART = "d q\"u'o $HOME `id` é"                   # a directory name (no comma: Postfix lists)


# the program a round trip reads back with -> the capability (tests/support/mailfleet_testing/capabilities.py)
_CAPABILITY = {"postconf": "postfix-maps", "msmtp": "msmtp-tls-xoauth2", "neomutt": "neomutt-query",
               "xmllint": "xmllint-xpath"}


def _need(program):
    require(_CAPABILITY[program])  # fails (never skips) with the fix when the machine lacks it


@pytest.fixture(scope="module")
def planner():
    return format_planner()


def plan(planner, formats, variables=None, settings=None, secrets=None, profile="custom", prefix=""):
    args = {"format": list(formats), "profile": profile, "settings": settings or {}, "vars": variables or {},
            "secrets": secrets or {}, "var_prefix": prefix, "template_dir": None, "root": "/", "backup": False,
            "reload": False, "validate_only": False}
    result = planner._plan(args, {})
    files = {}
    for entry in result["files"]:
        if entry.get("state") == "absent":
            continue
        files[entry["path"]] = result["secret_contents"][entry["path"]] if entry["secret"] else entry["content"]
    return files


def write_all(files):
    for path, content in files.items():
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(content)
        os.chmod(path, 0o600)


# ------------------------------------------------------------------------------------------------ Postfix

def _postfix_case(tmp_path, **over):
    pdir = tmp_path / "postfix"
    variables = {"postfix_dir": str(pdir), "mode": "custom", "myhostname": "mail-01.x.example",
                 "forward_local_to": HOSTILE_EMAIL, "tls_cert_file": "/c/" + HOSTILE, "tls_key_file": "/k/" + HOSTILE,
                 "extra_settings": {"smtp_helo_name": "helo.example", "smtpd_banner": "b q\"'#;\\`{x},é $myhostname"},
                 "map_type": "hash"}
    variables.update(over.pop("variables", {}))
    settings = {"smtp_host": "relay.example.net", "auth_method": "password", "username": HOSTILE_WORD.replace(":", ""),
                "sender": HOSTILE_EMAIL, "ca_file": "/tmp/" + HOSTILE}
    settings.update(over.pop("settings", {}))
    return pdir, variables, settings


def test_postfix_main_cf_and_maps_read_back_exactly(planner, tmp_path):
    _need("postconf")
    pdir, variables, settings = _postfix_case(tmp_path)
    files = plan(planner, ["postfix_relay"], variables, settings, {"password": PASSWORD})
    write_all(files)
    got = readers.postconf_values(pdir, ["smtp_tls_CAfile", "smtp_tls_cert_file", "smtp_tls_key_file", "myhostname",
                                         "smtp_helo_name", "smtpd_banner", "relayhost", "inet_interfaces",
                                         "smtp_tls_security_level", "mynetworks"])
    assert got["smtp_tls_CAfile"] == "/tmp/" + HOSTILE  # $HOME and $$ stay literal: written as $$
    assert got["smtp_tls_cert_file"] == "/c/" + HOSTILE and got["smtp_tls_key_file"] == "/k/" + HOSTILE
    assert got["myhostname"] == "mail-01.x.example" and got["smtp_helo_name"] == "helo.example"
    # extra settings are Postfix expressions: $myhostname expands, everything else is literal
    assert got["smtpd_banner"] == "b q\"'#;\\`{x},é mail-01.x.example"
    # and no value added a directive: the role's own lines are what they were
    assert got["relayhost"] == "[relay.example.net]:587" and got["inet_interfaces"] == "loopback-only"
    assert got["smtp_tls_security_level"] == "secure" and got["mynetworks"] == "127.0.0.0/8 [::1]/128"

    # sasl_passwd (hash): the value is taken verbatim, the leading blank of the password included
    subprocess.run(["postmap", "-c", str(pdir), "hash:%s/sasl_passwd" % pdir], check=True, timeout=20)
    assert readers.postmap_query(pdir, "hash:%s/sasl_passwd" % pdir, "[relay.example.net]:587") == \
        settings["username"] + ":" + PASSWORD
    # regexp tables: results are literal ($ written $$), the host name is matched literally (dots escaped)
    canonical = "regexp:%s/recipient_canonical" % pdir
    assert readers.postmap_query(pdir, canonical, "root") == HOSTILE_EMAIL
    assert readers.postmap_query(pdir, canonical, "cron@mail-01.x.example") == HOSTILE_EMAIL
    assert readers.postmap_query(pdir, canonical, "cron@mail-01-x.example") is None  # "." is not "any character"
    assert readers.postmap_query(pdir, "regexp:%s/sender_canonical" % pdir, "anyone@else.example") == HOSTILE_EMAIL
    assert readers.postmap_query(pdir, "regexp:%s/smtp_header_checks" % pdir, "From: x@y.example") == \
        "REPLACE From: " + HOSTILE_EMAIL


@pytest.mark.parametrize("case, variable, shown", [
    ({"settings": {"ca_file": "/tmp/ends-with-a-blank "}}, "relay_ca_file", "'/tmp/ends-with-a-blank '"),
    ({"variables": {"tls_cert_file": "/c/x\t"}}, "relay_tls_cert_file", None),  # a tab is a control character
    ({"variables": {"postfix_dir": "/etc/a,b"}}, "relay_postfix_dir", "'/etc/a,b'"),
    ({"variables": {"extra_settings": {"smtp_helo_name": " helo"}}}, "relay_extra_settings.smtp_helo_name", "' helo'"),
    ({"secrets": "password with a trailing blank "}, "relay_password", "<hidden>"),
])
def test_postfix_refuses_what_it_cannot_represent(planner, tmp_path, case, variable, shown):
    pdir, variables, settings = _postfix_case(tmp_path, variables=case.get("variables", {}), settings=case.get("settings", {}))
    password = case.get("secrets", PASSWORD)
    with pytest.raises(Exception) as info:
        plan(planner, ["postfix_relay"], variables, settings, {"password": password}, prefix="relay_")
    text = str(info.value)
    assert text.startswith(variable), text
    assert "Fix:" in text
    if shown:
        assert shown in text
    assert "password with a trailing" not in text


# ------------------------------------------------------------------------------------------------ msmtp

def test_msmtp_relay_reads_back_exactly_and_passwordeval_runs_the_right_file(planner, tmp_path):
    _need("msmtp")
    secret_dir = tmp_path / HOSTILE_DIR_PART
    secret_dir.mkdir()
    (secret_dir / "password").write_text(PASSWORD)
    trust = "/tmp/" + HOSTILE + " "  # a trailing blank: msmtp keeps it inside quotes
    files = plan(planner, ["msmtp_relay"], {"config_path": str(tmp_path / "msmtprc"), "secret_dir": str(secret_dir),
                                            "mode": "custom", "log": "/var/log/" + HOSTILE,
                                            "tls_cert_file": "/c/" + HOSTILE, "tls_key_file": "/k/" + HOSTILE},
                 {"smtp_host": "relay.example.net", "auth_method": "password", "username": HOSTILE_WORD,
                  "sender": HOSTILE_EMAIL, "ca_file": trust}, {"password": PASSWORD})
    del files[str(secret_dir / "password")]
    write_all(files)
    got = readers.msmtp_pretend(tmp_path / "msmtprc")
    assert got["tls_trust_file"] == trust
    assert got["tls_cert_file"] == "/c/" + HOSTILE and got["tls_key_file"] == "/k/" + HOSTILE
    assert got["user"] == HOSTILE_WORD and got["from"] == HOSTILE_EMAIL and got["logfile"] == "/var/log/" + HOSTILE
    assert got["host"] == "relay.example.net" and got["tls"] == "on" and got["tls_certcheck"] == "on"
    evaluated = subprocess.run(["sh", "-c", got["passwordeval"]], capture_output=True, text=True, timeout=10, check=False)
    assert evaluated.stdout == PASSWORD, evaluated.stderr


def test_msmtp_user_config_with_a_hostile_home(planner, tmp_path):
    _need("msmtp")
    home = tmp_path / HOSTILE_DIR_PART
    model = client_accounts([{"user": "alice", "address": HOSTILE_EMAIL, "profile": "custom", "auth_method": "password",
                              "username": HOSTILE_WORD, "password": "x", "clients": ["msmtp"],
                              "settings": {"smtp_host": "relay.example.net", "ca_file": "/tmp/" + HOSTILE}}])
    account = model["accounts"][0]
    variables = {"user": "alice", "group": "alice", "home": str(home), "account": account}
    files = plan(planner, ["client_msmtp", "client_password"], variables, secrets={"password": PASSWORD},
                 profile="custom", settings=account["overrides"])
    write_all(files)
    got = readers.msmtp_pretend(home / ".config/msmtp/config")
    assert got["tls_trust_file"] == "/tmp/" + HOSTILE and got["user"] == HOSTILE_WORD and got["from"] == HOSTILE_EMAIL
    evaluated = subprocess.run(["sh", "-c", got["passwordeval"]], capture_output=True, text=True, timeout=10, check=False)
    assert evaluated.stdout.rstrip("\n") == PASSWORD, evaluated.stderr


# ------------------------------------------------------------------------------------------------ neomutt

def test_neomutt_reads_back_exactly_and_its_commands_read_the_right_file(planner, tmp_path):
    _need("neomutt")
    home = tmp_path / HOSTILE_DIR_PART
    display = "  " + HOSTILE + "  "
    model = client_accounts([{"user": "alice", "address": HOSTILE_EMAIL, "display_name": display, "profile": "custom",
                              "auth_method": "password", "username": HOSTILE_WORD, "password": "x", "clients": ["neomutt"],
                              "settings": {"smtp_host": "relay.example.net", "imap_host": "imap.example.net",
                                           "ca_file": "/tmp/" + HOSTILE}}])
    account = model["accounts"][0]
    variables = {"user": "alice", "group": "alice", "home": str(home), "account": account}
    files = plan(planner, ["client_neomutt", "client_password"], variables, secrets={"password": PASSWORD},
                 settings=account["overrides"])
    write_all(files)
    rc = home / ".config/neomutt/neomuttrc"
    assert readers.neomutt_query(rc, "real_name", home) == display
    assert readers.neomutt_query(rc, "from", home) == HOSTILE_EMAIL
    assert readers.neomutt_query(rc, "imap_user", home) == HOSTILE_WORD
    assert readers.neomutt_query(rc, "ssl_ca_certificates_file", home) == "/tmp/" + HOSTILE
    # the backtick command is quoted for neomutt and for the shell: it reads the file in the hostile directory
    assert readers.neomutt_query(rc, "imap_pass", home) == PASSWORD
    assert readers.neomutt_query(rc, "smtp_pass", home) == PASSWORD


def test_neomutt_oauth2_refresh_command_is_one_shell_command(planner, tmp_path):
    _need("neomutt")
    home = tmp_path / HOSTILE_DIR_PART
    token_command = str(tmp_path / ("tok " + HOSTILE_DIR_PART))
    with open(token_command, "w") as handle:
        handle.write("#!/bin/sh\nprintf '%s|' \"$@\"\n")
    os.chmod(token_command, 0o755)
    model = client_accounts([{"user": "alice", "address": "alice@contoso.com", "clients": ["neomutt"]}],
                            client_id="11111111-2222-3333-4444-555555555555")
    account = model["accounts"][0]
    files = plan(planner, ["client_neomutt"], {"user": "alice", "group": "alice", "home": str(home), "account": account,
                                               "token_command": token_command},
                 profile="microsoft365", settings=account["overrides"])
    write_all(files)
    command = readers.neomutt_query(home / ".config/neomutt/neomuttrc", "imap_oauth_refresh_command", home)
    ran = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=10, check=False)
    assert ran.stdout == "token|--config|%s/.config/mailfleet/oauth2.json|" % home, ran.stderr


# ------------------------------------------------------------------------------------------------ GKeyFile

def test_evolution_key_files_read_back_exactly(planner, tmp_path):
    require("glib-keyfile")
    display = "  [g] k=v " + HOSTILE + "\\s  "
    model = client_accounts([{"user": "alice", "address": HOSTILE_EMAIL, "display_name": display, "profile": "custom",
                              "auth_method": "password", "username": HOSTILE_WORD, "password": "x", "clients": ["evolution"],
                              "settings": {"smtp_host": "relay.example.net", "imap_host": "imap.example.net"}}])
    account = model["accounts"][0]
    files = plan(planner, ["client_evolution"], {"user": "alice", "group": "alice", "home": str(tmp_path),
                                                 "account": account}, settings=account["overrides"])
    write_all(files)
    read = readers.glib_keyfile(*files)
    by_group = {}
    for content in read.values():
        for group, keys in content.items():
            by_group.setdefault(group, []).append(keys)
    assert by_group["Mail Identity"][0] == {"Address": HOSTILE_EMAIL, "Name": display}
    assert all(keys["User"] == HOSTILE_WORD for keys in by_group["Authentication"])
    assert all(keys["DisplayName"] == HOSTILE_EMAIL for keys in by_group["Data Source"])


# ------------------------------------------------------------------------------------------------ user.js

def test_thunderbird_user_js_reads_back_exactly(planner, tmp_path):
    display = "  " + HOSTILE + " \u2060\ufeff "
    model = client_accounts([{"user": "alice", "address": HOSTILE_EMAIL, "display_name": display, "profile": "custom",
                              "auth_method": "password", "username": HOSTILE_WORD, "clients": ["thunderbird"],
                              "thunderbird_profile": ".thunderbird/x.default",
                              "settings": {"smtp_host": "relay.example.net", "imap_host": "imap.example.net"}}])
    account = model["accounts"][0]
    files = plan(planner, ["client_thunderbird"], {"user": "alice", "group": "alice", "home": str(tmp_path),
                                                   "account": account}, settings=account["overrides"])
    prefs = readers.parse_user_js(files[str(tmp_path / ".thunderbird/x.default/user.js")])
    key = "mf_" + account["uuid"]["account"].replace("-", "")[:12].lower()
    assert prefs["mail.identity.id_%s.fullName" % key] == display
    assert prefs["mail.identity.id_%s.useremail" % key] == HOSTILE_EMAIL
    assert prefs["mail.server.server_%s.userName" % key] == HOSTILE_WORD
    assert prefs["mail.smtpserver.smtp_%s.username" % key] == HOSTILE_WORD
    assert prefs["mail.server.server_%s.port" % key] == 993 and prefs["mail.server.server_%s.login_at_startup" % key] is True
    assert len(prefs) == 24  # one pref per line of the template, no more


def test_the_strict_user_js_parser_refuses_what_gecko_refuses():
    for bad in ['user_pref("a", "x\\ty");', 'user_pref("a", "x\\u0000");', 'user_pref("a", "\\ud800");',
                'user_pref("a", "x")', 'user_pref("a", "x"); user_pref("b"', 'user_pref("a", "x\ny");']:
        with pytest.raises(readers.PrefSyntaxError):
            readers.parse_user_js(bad)
    assert readers.parse_user_js('# c\nuser_pref("a", "\\ud83d\\ude00\\x41\\\'"); /* x */ pref(\'b\', -3);') == {
        "a": "\U0001F600A'", "b": -3}


# ------------------------------------------------------------------------------------------------ XML, plist

def test_published_xml_and_plist_read_back_exactly(planner, tmp_path):
    _need("xmllint")
    publish = tmp_path / "publish"
    display = "  <x>&amp; " + HOSTILE + " ]]> -- "
    model = client_accounts([{"user": "alice", "address": "alice@xn--bcher-kva.example", "display_name": display,
                              "profile": "custom", "auth_method": "password", "username": "a&b<c>\"d'e--f",
                              "clients": ["thunderbird"], "thunderbird_profile": ".thunderbird/x.default",
                              "settings": {"smtp_host": "relay.xn--bcher-kva.example", "imap_host": "imap.example.net"}}])
    account = model["accounts"][0]
    files = plan(planner, ["client_autoconfig", "client_autodiscover"], {"publish_dir": str(publish),
                                                                         "domain": model["domains"][0]},
                 settings=account["overrides"])
    files.update(plan(planner, ["client_apple"], {"publish_dir": str(publish), "account": account},
                      settings=account["overrides"]))
    write_all(files)
    for path, content in files.items():
        lint = subprocess.run(["xmllint", "--noout", "--nonet", path], capture_output=True, text=True, timeout=20, check=False)
        assert lint.returncode == 0, (path, lint.stderr)  # the IDN domain's "--" never lands in a comment as is
        ET.fromstring(content.encode("utf-8"))
    autoconfig = ET.fromstring(files[str(publish / "xn--bcher-kva.example/mail/config-v1.1.xml")].encode())
    assert autoconfig.find("emailProvider").get("id") == "xn--bcher-kva.example"
    assert autoconfig.find("emailProvider/outgoingServer/hostname").text == "relay.xn--bcher-kva.example"
    profile = plistlib.loads(files[str(publish / "xn--bcher-kva.example/apple/alice@xn--bcher-kva.example.mobileconfig")]
                             .encode("utf-8"))
    payload = profile["PayloadContent"][0]
    assert payload["EmailAccountName"] == display
    assert payload["IncomingMailServerUsername"] == "a&b<c>\"d'e--f" == payload["OutgoingMailServerUsername"]


def test_xml_refuses_characters_xml_cannot_hold(planner, tmp_path):
    model = client_accounts([{"user": "alice", "address": "alice@example.net", "display_name": "x\ufffey",
                              "profile": "custom", "auth_method": "password", "clients": ["thunderbird"],
                              "thunderbird_profile": ".t/x",
                              "settings": {"smtp_host": "relay.example.net", "imap_host": "imap.example.net"}}])
    with pytest.raises(PlanError, match=r"^client_account\.display_name='x\\ufffey': cannot be written .*xml"):
        plan(planner, ["client_apple"], {"publish_dir": str(tmp_path), "account": model["accounts"][0]},
             settings=model["accounts"][0]["overrides"], prefix="client_")


# ------------------------------------------------------------------------------------------------ JSON

def test_json_files_read_back_exactly(planner, tmp_path):
    model = client_accounts([{"user": "alice", "address": "alice@contoso.com", "clients": ["msmtp"],
                              "settings": {"ca_file": "/tmp/" + HOSTILE}}],
                            client_id="11111111-2222-3333-4444-555555555555")
    account = model["accounts"][0]
    home = tmp_path / HOSTILE_DIR_PART
    files = plan(planner, ["client_oauth2"], {"user": "alice", "group": "alice", "home": str(home), "account": account},
                 profile="microsoft365", settings=account["overrides"])
    data = json.loads(files[str(home / ".config/mailfleet/oauth2.json")])
    assert data["ca_file"] == "/tmp/" + HOSTILE and data["token_store"] == str(home) + "/.config/mailfleet/oauth2-token.json"
    helper = plan(planner, ["oauth2_token_helper"], {"secret_dir": str(tmp_path / "s")},
                  {"auth_method": "oauth2", "tenant": "contoso.onmicrosoft.com", "client_id": "app",
                   "ca_file": "/tmp/" + HOSTILE}, {"client_secret": PASSWORD}, profile="microsoft365")
    data = json.loads(helper[str(tmp_path / "s/oauth2.json")])
    assert data["client_secret"] == PASSWORD and data["ca_file"] == "/tmp/" + HOSTILE
