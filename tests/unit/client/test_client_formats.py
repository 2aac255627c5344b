# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every client format, rendered by the real mail_config engine, read back by the real program or parser:
msmtp --pretend, neomutt -Q, Thunderbird prefs (pref by pref), GLib's key-file parser (Evolution),
xmllint --xpath and ElementTree (autoconfig, autodiscover), plistlib (Apple profile)."""

from __future__ import annotations

import configparser
import functools
import json
import os
import plistlib
import re
import subprocess
import xml.etree.ElementTree as ET

import pytest
from mailfleet_testing.capabilities import require

from mailfleet_testing import readers

from ansible_collections.mailfleet.outlook.plugins.filter.client_accounts import client_accounts as account_for
from ansible_collections.mailfleet.outlook.plugins.module_utils import _oauth2

pytestmark = pytest.mark.timeout(60)

PLUGINS = os.path.dirname(os.path.dirname(os.path.abspath(_oauth2.__file__)))
CLIENT_ID = "11111111-2222-3333-4444-555555555555"
CANARY_PASSWORD = "canary-Pw$`\"'\\-0xC0FFEE"
CAPABILITY = {"msmtp": "msmtp-tls-xoauth2", "neomutt": "neomutt-query", "xmllint": "xmllint-xpath"}


def needs(prog):
    """The real program reads the files back: without it the test fails with the package to install."""
    def decorate(test):
        @functools.wraps(test)
        def wrapper(*args, **kwargs):
            require(CAPABILITY[prog])
            return test(*args, **kwargs)
        return wrapper
    return decorate


def model(auth="oauth2", profile="microsoft365", clients=("msmtp", "neomutt", "thunderbird"), **kw):
    acc = {"user": "alice", "address": "alice@contoso.com", "display_name": "Alice \"Al\" Example",
           "clients": list(clients), "auth_method": auth, "profile": profile,
           "thunderbird_profile": ".thunderbird/abcd.default-release"}
    if auth == "password":
        acc["password"] = CANARY_PASSWORD
    acc.update(kw)
    return account_for([acc], client_id=CLIENT_ID)


def user_vars(home, account):
    return {"user": "alice", "group": "alice", "home": str(home), "account": account,
            "token_command": fake_token_command(home)}


def fake_token_command(home):
    """Stands in for the token command: msmtp --pretend runs passwordeval."""
    path = os.path.join(str(home), "bin", "fake-token")
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write("#!/bin/sh\necho fake-access-token\n")
        os.chmod(path, 0o755)
    return path


def write(files, path, mode=0o600):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(files[path])
    os.chmod(path, mode)
    return path


# ---------------------------------------------------------------------------------------------- msmtp
def msmtp_pretend(config, account=None):
    argv = ["msmtp", "-C", config, "--pretend"] + (["-a", account] if account else []) + ["bob@example.org"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=20, env={"PATH": os.environ["PATH"], "HOME": "/nonexistent"}, check=False)
    assert out.returncode == 0, out.stderr
    values = {}
    for line in out.stdout.splitlines():
        key, sep, value = line.partition(" = ")
        if sep:
            values[key.strip()] = value.strip()
    return values


@needs("msmtp")
def test_msmtp_oauth2(render_client, tmp_path):
    a = model()["accounts"][0]
    files, _plan = render_client(["client_msmtp", "client_oauth2", "client_password"], user_vars(tmp_path, a))
    conf = write(files, str(tmp_path / ".config/msmtp/config"))
    v = msmtp_pretend(conf)
    assert (v["host"], v["port"], v["tls"], v["tls_starttls"], v["auth"]) == ("smtp.office365.com", "587", "on", "on", "XOAUTH2")
    assert v["user"] == "alice@contoso.com" and v["from"] == "alice@contoso.com"
    assert v["passwordeval"] == "%s/bin/fake-token token --config %s/.config/mailfleet/oauth2.json" % (tmp_path, tmp_path)
    assert v["password"] == "*"  # msmtp ran the command and got a token
    assert v["tls_trust_file"] == "/etc/ssl/certs/ca-certificates.crt" and v["tls_certcheck"] == "on"
    # the token command's settings: no secret, the account's delegated scopes and endpoints
    oauth = json.loads(files[str(tmp_path / ".config/mailfleet/oauth2.json")])
    assert oauth["client_id"] == CLIENT_ID and oauth["login"] == "alice@contoso.com"
    assert oauth["device_code_url"] == "https://login.microsoftonline.com/common/oauth2/v2.0/devicecode"
    assert "https://outlook.office.com/SMTP.Send" in oauth["scope"].split() and "offline_access" in oauth["scope"].split()
    assert str(tmp_path / ".config/mailfleet/password") not in files  # no password file with OAuth2


@needs("msmtp")
def test_msmtp_password_is_in_its_own_secret_file(render_client, tmp_path):
    a = model(auth="password", clients=["msmtp"])["accounts"][0]
    files, plan = render_client(["client_msmtp", "client_oauth2", "client_password"], user_vars(tmp_path, a),
                                secrets={"password": CANARY_PASSWORD})
    conf = write(files, str(tmp_path / ".config/msmtp/config"))
    pw = write(files, str(tmp_path / ".config/mailfleet/password"))
    v = msmtp_pretend(conf)
    assert v["auth"] == "LOGIN" and v["passwordeval"] == "cat %s" % pw
    assert CANARY_PASSWORD not in files[conf]
    evaluated = subprocess.run(["sh", "-c", v["passwordeval"]], capture_output=True, text=True, timeout=10, check=False).stdout
    assert evaluated.rstrip("\n") == CANARY_PASSWORD
    entries = {f["path"]: f for f in plan["files"]}
    assert entries[pw]["secret"] and entries[pw]["mode"] == "0600" and "content" not in entries[pw]
    assert entries[conf]["owner"] == "alice" and entries[conf]["mode"] == "0600"
    assert entries[str(tmp_path / ".config/mailfleet/oauth2.json")]["state"] == "absent"


@needs("msmtp")
def test_msmtp_lab_profile_trusts_the_lab_ca(render_client, tmp_path):
    a = model(profile="lab", clients=["msmtp"])["accounts"][0]
    files, _plan = render_client(["client_msmtp"], user_vars(tmp_path, a), profile="lab")
    v = msmtp_pretend(write(files, str(tmp_path / ".config/msmtp/config")))
    assert (v["host"], v["port"], v["tls_starttls"]) == ("localhost", "10587", "on")
    assert v["tls_trust_file"] == "/var/tmp/mailfleet-lab/ca.pem"


@needs("msmtp")
def test_msmtp_system_defaults(render_client, tmp_path):
    m = model(clients=["msmtp"])
    profiles = [{"profile": a["profile"], "smtp": a["smtp"], "ca_file": a["ca_file"]} for a in m["accounts"]]
    files, _plan = render_client(["client_msmtp_system"], {"profiles": profiles, "config_path": str(tmp_path / "msmtprc")})
    v = msmtp_pretend(write(files, str(tmp_path / "msmtprc"), 0o644), account="microsoft365")
    assert (v["host"], v["port"], v["tls"], v["tls_starttls"], v["syslog"]) == ("smtp.office365.com", "587", "on", "on", "LOG_MAIL")


# ---------------------------------------------------------------------------------------------- neomutt
def neomutt_query(rc, home, names):
    values = {}
    for name in names:
        out = subprocess.run(["neomutt", "-n", "-F", rc, "-Q", name], capture_output=True, text=True, timeout=20,
                             env={"PATH": os.environ["PATH"], "HOME": str(home), "TERM": "dumb"}, check=False)
        assert out.returncode == 0 and not out.stderr.strip(), (name, out.stdout, out.stderr)
        m = re.match(r'^set (\w+) = (?:"(.*)"|(\S+))$', out.stdout.strip())
        assert m, out.stdout
        values[name] = m.group(2) if m.group(2) is not None else m.group(3)
    return values


@needs("neomutt")
def test_neomutt_oauth2(render_client, tmp_path):
    a = model()["accounts"][0]
    files, _plan = render_client(["client_neomutt"], user_vars(tmp_path, a))
    rc = write(files, str(tmp_path / ".config/neomutt/neomuttrc"))
    v = neomutt_query(rc, tmp_path, ["folder", "smtp_url", "ssl_force_tls", "ssl_starttls", "smtp_authenticators",
                                     "imap_authenticators", "smtp_oauth_refresh_command", "imap_oauth_refresh_command",
                                     "imap_user", "from", "real_name", "spool_file", "record"])
    assert v["smtp_url"] == "smtp://alice%40contoso.com@smtp.office365.com:587/"
    assert v["folder"].startswith("imaps://") and v["folder"].endswith("@outlook.office365.com:993/")
    assert v["ssl_force_tls"] == "yes" and v["ssl_starttls"] == "yes"
    assert v["smtp_authenticators"] == v["imap_authenticators"] == "xoauth2"
    cmd = "%s/bin/fake-token token --config %s/.config/mailfleet/oauth2.json" % (tmp_path, tmp_path)
    assert v["smtp_oauth_refresh_command"] == v["imap_oauth_refresh_command"] == cmd
    assert v["imap_user"] == "alice@contoso.com" and v["from"] == "alice@contoso.com"
    assert v["real_name"] == 'Alice \\"Al\\" Example'  # neomutt -Q prints the value re-quoted
    assert v["spool_file"].endswith(":993/INBOX")


@needs("neomutt")
def test_neomutt_password_reads_the_secret_file_and_sources_local_rc(render_client, tmp_path):
    a = model(auth="password", clients=["neomutt"])["accounts"][0]
    files, _plan = render_client(["client_neomutt", "client_password"], user_vars(tmp_path, a), secrets={"password": CANARY_PASSWORD})
    rc = write(files, str(tmp_path / ".config/neomutt/neomuttrc"))
    write(files, str(tmp_path / ".config/mailfleet/password"))
    assert CANARY_PASSWORD not in files[rc]
    v = neomutt_query(rc, tmp_path, ["smtp_authenticators", "imap_pass", "smtp_pass"])
    assert v["smtp_authenticators"] == "login"
    # neomutt -Q prints the value re-quoted: backslash and double quote escaped
    assert v["imap_pass"] == v["smtp_pass"] == CANARY_PASSWORD.replace("\\", "\\\\").replace('"', '\\"')
    (tmp_path / ".config/neomutt/local.rc").write_text('set signature = "~/.sig-local"\n')
    assert neomutt_query(rc, tmp_path, ["signature"])["signature"].endswith(".sig-local")


# ---------------------------------------------------------------------------------------------- Thunderbird
_PREF = re.compile(r'^user_pref\(("(?:[^"\\]|\\.)*"), (.*)\);$')


def parse_prefs(text):
    """Thunderbird's user.js grammar for these prefs: user_pref("name", <string|int|bool>); comments //."""
    prefs = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("//"):
            continue
        m = _PREF.match(line)
        assert m, "line %d is not a user_pref() call: %r" % (number, line)
        name, value = json.loads(m.group(1)), json.loads(m.group(2))
        assert isinstance(value, (str, int, bool)), line
        assert name not in prefs, "pref %s set twice" % name
        prefs[name] = value
    return prefs


@pytest.mark.parametrize("auth,enum", [("oauth2", 10), ("password", 3)])
def test_thunderbird_prefs(render_client, tmp_path, auth, enum):
    a = model(auth=auth, clients=["thunderbird"])["accounts"][0]
    files, _plan = render_client(["client_thunderbird"], user_vars(tmp_path, a))
    path = str(tmp_path / ".thunderbird/abcd.default-release/user.js")
    prefs = parse_prefs(files[path])
    account = prefs["mail.accountmanager.accounts"]
    assert prefs["mail.accountmanager.defaultaccount"] == account
    server = prefs["mail.account.%s.server" % account]
    identity = prefs["mail.account.%s.identities" % account]
    smtp = prefs["mail.identity.%s.smtpServer" % identity]
    s, i, o = "mail.server.%s." % server, "mail.identity.%s." % identity, "mail.smtpserver.%s." % smtp
    assert prefs[s + "type"] == "imap" and prefs[s + "hostname"] == "outlook.office365.com"
    assert prefs[s + "port"] == 993 and prefs[s + "socketType"] == 3 and prefs[s + "authMethod"] == enum
    assert prefs[s + "userName"] == "alice@contoso.com"
    assert prefs[i + "useremail"] == "alice@contoso.com" and prefs[i + "fullName"] == 'Alice "Al" Example'
    assert prefs[i + "valid"] is True
    assert prefs["mail.smtpservers"] == smtp and prefs["mail.smtp.defaultserver"] == smtp
    assert prefs[o + "hostname"] == "smtp.office365.com" and prefs[o + "port"] == 587
    assert prefs[o + "try_ssl"] == 2 and prefs[o + "authMethod"] == enum and prefs[o + "username"] == "alice@contoso.com"
    # the keys are stable (derived from the account), so a re-run rewrites the same prefs
    again, _plan = render_client(["client_thunderbird"], user_vars(tmp_path, model(auth=auth, clients=["thunderbird"])["accounts"][0]))
    assert again[path] == files[path]


# ---------------------------------------------------------------------------------------------- Evolution
def glib_read(paths):
    """GLib's own key-file parser (python3-gi, the system Python), the parser Evolution uses."""
    return readers.glib_keyfile(*paths)


def test_evolution_sources(render_client, tmp_path):
    a = model(auth="password", clients=["evolution"])["accounts"][0]
    files, _plan = render_client(["client_evolution"], user_vars(tmp_path, a))
    paths = [write(files, p) for p in files]
    assert all(p.startswith(str(tmp_path / ".config/evolution/sources/mailfleet-")) for p in paths)
    require("glib-keyfile")
    parsed = glib_read(paths)
    for path in paths:  # configparser (strict, no interpolation, case kept) agrees with GLib
        cp = configparser.ConfigParser(strict=True, interpolation=None)
        cp.optionxform = str
        cp.read(path)
        assert {g: dict(cp[g]) for g in cp.sections()} == parsed[path]
    by_uid = {os.path.basename(p)[:-len(".source")]: parsed[p] for p in paths}
    acc = by_uid[a["uuid"]["evolution_account"]]
    ident = by_uid[acc["Mail Account"]["IdentityUid"]]
    trans = by_uid[ident["Mail Submission"]["TransportUid"]]
    assert acc["Mail Account"]["BackendName"] == "imapx"
    assert acc["Authentication"]["Host"] == "outlook.office365.com" and acc["Authentication"]["Port"] == "993"
    assert acc["Security"]["Method"] == "ssl-on-alternate-port"
    assert ident["Data Source"]["Parent"] == trans["Data Source"]["Parent"] == a["uuid"]["evolution_account"]
    assert ident["Mail Identity"]["Address"] == "alice@contoso.com" and ident["Mail Identity"]["Name"] == 'Alice "Al" Example'
    assert trans["Mail Transport"]["BackendName"] == "smtp"
    assert trans["Authentication"]["Host"] == "smtp.office365.com" and trans["Authentication"]["Port"] == "587"
    assert trans["Security"]["Method"] == "starttls-on-standard-port"
    assert trans["Authentication"]["User"] == acc["Authentication"]["User"] == "alice@contoso.com"


# ---------------------------------------------------------------------------------------------- published files
def xpath(path, expr):
    out = subprocess.run(["xmllint", "--xpath", expr, path], capture_output=True, text=True, timeout=20, check=False)
    assert out.returncode == 0, (expr, out.stderr)
    return out.stdout.strip()


def published(render_client, tmp_path, auth="oauth2", profile="microsoft365"):
    m = model(auth=auth, profile=profile, clients=["msmtp"])
    pub = str(tmp_path / "www")
    files, _plan = render_client(["client_autoconfig", "client_autodiscover"], {"publish_dir": pub, "domain": m["domains"][0]})
    apple, _plan = render_client(["client_apple"], {"publish_dir": pub, "account": m["accounts"][0]})
    files.update(apple)
    for p in files:
        write(files, p, 0o644)
    return pub, files, m


@needs("xmllint")
def test_autoconfig_microsoft365(render_client, tmp_path):
    pub, files, _plan = published(render_client, tmp_path)
    path = pub + "/contoso.com/mail/config-v1.1.xml"
    assert xpath(path, "string(/clientConfig/@version)") == "1.1"
    assert xpath(path, "string(//emailProvider/@id)") == "contoso.com"
    assert xpath(path, "string(//incomingServer[@type='imap']/hostname)") == "outlook.office365.com"
    assert xpath(path, "string(//incomingServer[@type='imap']/port)") == "993"
    assert xpath(path, "string(//incomingServer[@type='imap']/socketType)") == "SSL"
    assert xpath(path, "string(//outgoingServer[@type='smtp']/socketType)") == "STARTTLS"
    assert xpath(path, "string(//outgoingServer[@type='smtp']/port)") == "587"
    assert xpath(path, "string(//outgoingServer/authentication)") == "OAuth2"
    assert xpath(path, "count(//username[text()='%EMAILADDRESS%'])") == "3"
    assert xpath(path, "string(/clientConfig/oAuth2/issuer)") == "login.microsoftonline.com"
    assert xpath(path, "string(/clientConfig/oAuth2/tokenURL)") == "https://login.microsoftonline.com/common/oauth2/v2.0/token"
    assert "https://outlook.office.com/IMAP.AccessAsUser.All" in xpath(path, "string(/clientConfig/oAuth2/scope)").split()


@needs("xmllint")
def test_autoconfig_password_has_no_oauth2_block(render_client, tmp_path):
    pub, _files, _model = published(render_client, tmp_path, auth="password")
    path = pub + "/contoso.com/mail/config-v1.1.xml"
    assert xpath(path, "count(/clientConfig/oAuth2)") == "0"
    assert xpath(path, "string(//outgoingServer/authentication)") == "password-cleartext"


@needs("xmllint")
def test_autodiscover_pox(render_client, tmp_path):
    pub, files, _plan = published(render_client, tmp_path)
    path = pub + "/contoso.com/autodiscover/autodiscover.xml"
    root = ET.fromstring(files[path].encode())
    assert root.tag == "{http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006}Autodiscover"
    ns = "[namespace-uri()='http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a']"
    proto = "//*[local-name()='Protocol']%s" % ns
    assert xpath(path, "count(//*[local-name()='Response']%s)" % ns) == "1"
    assert xpath(path, "string(%s[*[local-name()='Type']='IMAP']/*[local-name()='Server'])" % proto) == "outlook.office365.com"
    assert xpath(path, "string(%s[*[local-name()='Type']='IMAP']/*[local-name()='Encryption'])" % proto) == "SSL"
    assert xpath(path, "string(%s[*[local-name()='Type']='SMTP']/*[local-name()='Port'])" % proto) == "587"
    assert xpath(path, "string(%s[*[local-name()='Type']='SMTP']/*[local-name()='Encryption'])" % proto) == "TLS"


def test_apple_profile_microsoft365_is_eas_with_oauth(render_client, tmp_path):
    pub, files, m = published(render_client, tmp_path)
    path = pub + "/contoso.com/apple/alice@contoso.com.mobileconfig"
    profile = plistlib.loads(files[path].encode())
    assert profile["PayloadType"] == "Configuration" and profile["PayloadVersion"] == 1
    (payload,) = profile["PayloadContent"]
    assert payload["PayloadType"] == "com.apple.eas.account" and payload["OAuth"] is True
    assert payload["EmailAddress"] == "alice@contoso.com" and payload["Host"] == "outlook.office365.com"
    assert payload["SSL"] is True
    a = m["accounts"][0]
    assert profile["PayloadUUID"] == a["uuid"]["apple_profile"] and payload["PayloadUUID"] == a["uuid"]["apple_payload"]
    # re-rendering gives byte-identical files (stable UUIDs)
    _pub2, again, _model = published(render_client, tmp_path / "again")
    assert again[path.replace(str(tmp_path), str(tmp_path / "again"))] == files[path]


def test_apple_profile_other_profiles_use_mail_managed(render_client, tmp_path):
    pub, files, _plan = published(render_client, tmp_path, auth="password", profile="lab")
    payload = plistlib.loads(files[pub + "/contoso.com/apple/alice@contoso.com.mobileconfig"].encode())["PayloadContent"][0]
    assert payload["PayloadType"] == "com.apple.mail.managed" and "OAuth" not in payload
    assert payload["EmailAccountType"] == "EmailTypeIMAP"
    assert payload["IncomingMailServerHostName"] == "localhost" and payload["IncomingMailServerPortNumber"] == 10993
    assert payload["IncomingMailServerUseSSL"] is True and payload["OutgoingMailServerPortNumber"] == 10587


def test_thunderbird_isp_file_is_the_autoconfig_document(render_client, tmp_path):
    m = model()
    files, _plan = render_client(["client_thunderbird_isp"], {"domain": m["domains"][0], "thunderbird_install_dir": str(tmp_path)})
    isp = files[str(tmp_path / "isp/contoso.com.xml")]
    root = ET.fromstring(isp.encode())
    assert root.tag == "clientConfig" and root.find("emailProvider/domain").text == "contoso.com"


def test_unknown_variable_and_missing_account_fail_before_rendering(render_client, tmp_path):
    from ansible_collections.mailfleet.outlook.plugins.action.mail_config import PlanError

    with pytest.raises(PlanError, match=r"client_colour: not a variable"):
        render_client(["client_msmtp"], dict(user_vars(tmp_path, {}), colour="red"))
    with pytest.raises(PlanError, match=r"client_account: required by format client_msmtp"):
        render_client(["client_msmtp"], {"user": "alice", "group": "alice", "home": str(tmp_path)})


def test_precheck_paths_are_the_rendered_paths(render_client, tmp_path):
    """The role's read-only precheck looks at account['paths']: they must be exactly the files the formats write."""
    for auth in ("oauth2", "password"):
        clients = ["msmtp", "neomutt", "thunderbird"] + (["evolution"] if auth == "password" else [])
        a = model(auth=auth, clients=clients)["accounts"][0]
        _files, plan = render_client(a["formats"], user_vars(tmp_path, a),
                                     secrets={"password": CANARY_PASSWORD} if auth == "password" else None)
        rendered = sorted(f["path"] for f in plan["files"])
        listed = sorted(str(tmp_path / rel) for rels in a["paths"].values() for rel in rels)
        assert rendered == listed


# ---------------------------------------------------------------------------------------------- proxies (issue 14)
@needs("msmtp")
def test_msmtp_socks_proxy_read_back_by_msmtp(render_client, tmp_path):
    a = account_for([{"user": "alice", "address": "alice@contoso.com", "clients": ["msmtp"], "auth_method": "oauth2"}],
                    client_id=CLIENT_ID, proxy="socks5h://[2001:db8::10]:1081")["accounts"][0]
    files, _plan = render_client(["client_msmtp"], user_vars(tmp_path, a))
    v = msmtp_pretend(write(files, str(tmp_path / ".config/msmtp/config")))
    assert v["proxy host"] == "2001:db8::10" and v["proxy port"] == "1081"
    assert v["host"] == "smtp.office365.com"  # the server's name: msmtp lets the proxy resolve it


@pytest.mark.parametrize("url,remote_dns", [("socks5h://proxy.branch.example:1080", True),
                                            ("socks5://10.1.2.3:1080", False)])
def test_thunderbird_socks_proxy_prefs(render_client, tmp_path, url, remote_dns):
    a = model(auth="oauth2", clients=["thunderbird"], proxy=url)["accounts"][0]
    files, _plan = render_client(["client_thunderbird"], user_vars(tmp_path, a))
    prefs = parse_prefs(files[str(tmp_path / ".thunderbird/abcd.default-release/user.js")])
    host = url.split("//", 1)[1].rsplit(":", 1)[0]
    assert prefs["network.proxy.type"] == 1 and prefs["network.proxy.socks"] == host
    assert prefs["network.proxy.socks_port"] == 1080 and prefs["network.proxy.socks_version"] == 5
    assert prefs["network.proxy.socks_remote_dns"] is remote_dns


def test_no_proxy_prefs_without_a_proxy(render_client, tmp_path):
    a = model(auth="oauth2", clients=["thunderbird"])["accounts"][0]
    files, _plan = render_client(["client_thunderbird"], user_vars(tmp_path, a))
    assert "network.proxy" not in files[str(tmp_path / ".thunderbird/abcd.default-release/user.js")]


def test_token_command_shebang_is_the_configured_python(render_client):
    """The command is plain Python (module_utils/_oauth2_command.py) installed verbatim behind the configured shebang."""
    files, _plan = render_client(["client_token_command"], {"python": "/opt/py/bin/python3"})
    command = files["/usr/local/bin/mailfleet-oauth2"]
    assert command.startswith("#!/opt/py/bin/python3\n# "), command[:80]
    with open(os.path.join(PLUGINS, "module_utils/_oauth2_command.py")) as f:
        assert command.endswith(f.read())
    with open(os.path.join(PLUGINS, "module_utils/_oauth2.py")) as f:
        assert files["/usr/local/lib/mailfleet-outlook/mailfleet_oauth2.py"] == f.read()
