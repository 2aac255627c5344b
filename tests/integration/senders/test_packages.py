# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every sender configured the way its package writes it (Postfix: postconf -e; Exim4: debconf answers written by
exim4-config's postinst code and rendered by its update-exim4.conf; nullmailer and dma: their postinsts' own sed
programs; OpenSMTPD: its shipped smtpd.conf, checked by its smtpd -n; msmtp: its documented files, checked by msmtp
--pretend), into three scratch roots, read back by mail_senders_facts in one real ansible-playbook run (-vvv):
the right file, upstream, security, auth, account and verdict for each, and the canary password of every secret
file nowhere in the output."""

import json
import os

import pytest

from mailfleet_testing import AnsibleRunner, make_env, sender_configs as sc
from mailfleet_testing.senders import CANARY, codes, only

pytestmark = [pytest.mark.timeout(240)]

ALICE = ("mfs-alice", 24101, "/home/mfs-alice")
MX = "contoso-com.mail.protection.outlook.com"
O365 = "smtp.office365.com"


def _basic(root):
    """Each sender with password (Basic) auth to smtp.office365.com:587, STARTTLS, as an admin would set it up."""
    sc.base_etc(root, users=[ALICE])
    out = {"postfix": sc.postfix(root, "[%s]:587" % O365, "pfx@contoso.com", CANARY, ca_file="/etc/ssl/certs/ca-certificates.crt"),
           "exim4": sc.exim4(root, "%s::587" % O365, "exim@contoso.com", CANARY,
                             macros=["REMOTE_SMTP_SMARTHOST_HOSTS_REQUIRE_TLS = *"]),
           "nullmailer": sc.nullmailer(root, "%s smtp --port=587 --starttls --user=nm@contoso.com --pass=%s" % (O365, CANARY)),
           "dma": sc.dma(root, O365, port=587, securetransfer=True, starttls=True, user="dma@contoso.com", password=CANARY),
           "opensmtpd": sc.opensmtpd(root, "smtp+tls://bob@%s:587" % O365, secrets=[("bob", "osmtpd@contoso.com", CANARY)])}
    sc.write(root, "/etc/mail/msmtp-password", CANARY + "\n", mode=0o640)
    out["msmtp_system"] = sc.msmtp(root, "/etc/msmtprc",
                                   "# system-wide msmtp\ndefaults\ntls on\ntls_trust_file /etc/ssl/certs/ca-certificates.crt\n\n"
                                   "account relay\nhost %s\nport 587\nauth login\nuser sys@contoso.com\n"
                                   "passwordeval \"cat /etc/mail/msmtp-password\"\n\naccount default : relay\n" % O365,
                                   mode=0o644, account="relay")
    out["msmtp_user"] = sc.msmtp(root, ALICE[2] + "/.msmtprc",
                                 "account work\nhost %s\nport 587\ntls on\ntls_starttls on\nauth on\nuser alice@contoso.com\n"
                                 "password %s\n" % (O365, CANARY), uid=ALICE[1], gid=ALICE[1], account="work")
    sc.write(root, "/etc/myapp/mail.env", "MAIL_HOST=%s\nMAIL_PORT=587\nMAIL_ENCRYPTION=starttls\nMAIL_PASSWORD=%s\n"
             % (O365, CANARY), mode=0o640)
    sc.write(root, ALICE[2] + "/.gitconfig", "[sendemail]\n\tsmtpserver = %s\n\tsmtpserverport = 587\n" % O365,
             uid=ALICE[1], gid=ALICE[1])
    return out


def _broken(root):
    """Each sender misconfigured the ways guides get it wrong: 465/implicit TLS, optional TLS, no certificate
    check, port 25, a secret everyone can read."""
    sc.base_etc(root)
    out = {"postfix": sc.postfix(root, "[%s]:465" % O365, "pfx@contoso.com", CANARY, level="encrypt",
                                 extra=["smtp_tls_wrappermode = yes"]),
           "exim4": sc.exim4(root, "%s::587" % O365, "exim@contoso.com", CANARY),
           "nullmailer": sc.nullmailer(root, "%s smtp --port=587 --starttls --insecure --user=nm@contoso.com --pass=%s" % (O365, CANARY)),
           "dma": sc.dma(root, O365, port=465, securetransfer=True, user="dma@contoso.com", password=CANARY),
           "opensmtpd": sc.opensmtpd(root, "smtp://bob@%s:25" % O365, secrets=[("bob", "osmtpd@contoso.com", CANARY)])}
    out["msmtp_system"] = sc.msmtp(root, "/etc/msmtprc", "account smtps\nhost %s\ntls on\ntls_starttls off\nauth on\n"
                                                         "user sys@contoso.com\npassword %s\n" % (O365, CANARY), mode=0o644)
    return out


def _good(root):
    """What passes: OAuth2 (msmtp) and connectors to the tenant MX host with TLS required (dma cannot check
    certificates, so it stays unsafe)."""
    sc.base_etc(root)
    out = {"postfix": sc.postfix(root, "[%s]:25" % MX),
           "exim4": sc.exim4(root, "%s::25" % MX, macros=["REMOTE_SMTP_SMARTHOST_HOSTS_REQUIRE_TLS = *"]),
           "nullmailer": sc.nullmailer(root, "%s smtp --port=25 --starttls" % MX),
           "dma": sc.dma(root, MX, port=25, securetransfer=True, starttls=True),
           "opensmtpd": sc.opensmtpd(root, "smtp+tls://%s:25" % MX)}
    sc.write(root, "/usr/local/bin/m365-token", "#!/bin/sh\necho token\n", mode=0o755)
    out["msmtp_system"] = sc.msmtp(root, "/etc/msmtprc", "account oauth\nhost %s\nport 587\ntls on\nauth xoauth2\n"
                                                         "user sys@contoso.com\npasswordeval \"/usr/local/bin/m365-token\"\n" % O365)
    return out


@pytest.fixture(scope="module")
def discovered(tmp_path_factory):
    sc.require_private_etc()
    sc.package_files()
    work = tmp_path_factory.mktemp("senders")
    roots, written = {}, {}
    for name, build in (("basic", _basic), ("broken", _broken), ("good", _good)):
        roots[name] = str(work / name)
        written[name] = build(roots[name])
    local_tmp = work / "ansible-local"
    local_tmp.mkdir()
    runner = AnsibleRunner(make_env(local_tmp), work)
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "discover %s" % name, "mailfleet.outlook.mail_senders_facts": {"root": roots[name], "timeout": 30},
         "register": "found_%s" % name} for name in roots]}]
    run = runner.playbook(play, verbosity=3, timeout=180).assert_ok()
    facts = dict((name, run.result(task="discover %s" % name)["ansible_facts"]["mail_senders"]) for name in roots)
    return {"run": run, "facts": facts, "written": written, "roots": roots}


def _one(facts, program, **match):
    return only(facts["senders"] + facts["mentions"], program=program, **match)


# sender -> root -> (file, upstream, (security, tls_required, cert_check), (auth, account), verdict, problem codes)
EXPECTED = {
    "basic": {
        "postfix": ("/etc/postfix/main.cf", (O365, 587), ("starttls", True, True), ("password", "pfx@contoso.com"), "stops", ["basic_auth"]),
        "exim4": ("/etc/exim4/update-exim4.conf.conf", (O365, 587), ("starttls", True, True), ("password", "exim@contoso.com"), "stops",
                  ["basic_auth"]),
        "nullmailer": ("/etc/nullmailer/remotes", (O365, 587), ("starttls", True, True), ("password", "nm@contoso.com"), "stops", ["basic_auth"]),
        "dma": ("/etc/dma/dma.conf", (O365, 587), ("starttls", True, False), ("password", "dma@contoso.com"), "stops",
                ["basic_auth", "no_cert_check"]),
        "opensmtpd": ("/etc/smtpd.conf", (O365, 587), ("starttls", True, True), ("password", "osmtpd@contoso.com"), "stops", ["basic_auth"]),
        "msmtp": ("/etc/msmtprc", (O365, 587), ("starttls", True, True), ("password", "sys@contoso.com"), "stops", ["basic_auth"]),
        "msmtp user": ("/home/mfs-alice/.msmtprc", (O365, 587), ("starttls", True, True), ("password", "alice@contoso.com"), "stops",
                       ["basic_auth"]),
        "mention": ("/etc/myapp/mail.env", (O365, 587), ("starttls", None, None), ("password", None), "stops", ["basic_auth"]),
        "mention user": ("/home/mfs-alice/.gitconfig", (O365, 587), ("starttls", None, None), ("unknown", None), "review", []),
    },
    "broken": {
        "postfix": ("/etc/postfix/main.cf", (O365, 465), ("tls", True, False), ("password", "pfx@contoso.com"), "wrong",
                    ["port_465", "basic_auth", "no_cert_check"]),
        "exim4": ("/etc/exim4/update-exim4.conf.conf", (O365, 587), ("starttls", False, True), ("password", "exim@contoso.com"), "stops",
                  ["basic_auth", "tls_optional"]),
        "nullmailer": ("/etc/nullmailer/remotes", (O365, 587), ("starttls", True, False), ("password", "nm@contoso.com"), "stops",
                       ["basic_auth", "no_cert_check"]),
        "dma": ("/etc/dma/dma.conf", (O365, 465), ("tls", True, False), ("password", "dma@contoso.com"), "wrong",
                ["port_465", "basic_auth", "no_cert_check"]),
        "opensmtpd": ("/etc/smtpd.conf", (O365, 25), ("starttls", False, False), ("password", "osmtpd@contoso.com"), "stops",
                      ["basic_auth", "port_25", "tls_optional", "no_cert_check"]),
        "msmtp": ("/etc/msmtprc", (O365, 465), ("tls", True, True), ("password", "sys@contoso.com"), "wrong",
                  ["port_465", "basic_auth", "secret_world_readable"]),
    },
    "good": {
        "postfix": ("/etc/postfix/main.cf", (MX, 25), ("starttls", True, True), ("none", None), "ok", []),
        "exim4": ("/etc/exim4/update-exim4.conf.conf", (MX, 25), ("starttls", True, True), ("none", None), "ok", []),
        "nullmailer": ("/etc/nullmailer/remotes", (MX, 25), ("starttls", True, True), ("none", None), "ok", []),
        "dma": ("/etc/dma/dma.conf", (MX, 25), ("starttls", True, False), ("none", None), "unsafe", ["no_cert_check"]),
        "opensmtpd": ("/etc/smtpd.conf", (MX, 25), ("starttls", True, True), ("none", None), "ok", []),
        "msmtp": ("/etc/msmtprc", (O365, 587), ("starttls", True, True), ("oauth2", "sys@contoso.com"), "ok", []),
    },
}
CASES = [(root, sender) for root in sorted(EXPECTED) for sender in sorted(EXPECTED[root])]


@pytest.mark.parametrize("root, sender", CASES, ids=["%s-%s" % c for c in CASES])
def test_each_sender_read_back(discovered, root, sender):
    facts = discovered["facts"][root]
    file, upstream, security, auth, verdict, problem_codes = EXPECTED[root][sender]
    program = sender.split()[0]
    f = _one(facts, program, file=file)
    assert (f["upstream"]["host"], f["upstream"]["port"]) == upstream
    assert (f["security"], f["tls_required"], f["cert_check"]) == security
    assert (f["auth"], f["account"]) == auth
    assert (f["verdict"], sorted(codes(f))) == (verdict, sorted(problem_codes)), f["problems"]
    if auth[0] == "password":
        assert f["secret"]["set"] and f["secret"]["mode"] and f["secret"]["owner"]
    if verdict not in ("ok", "not_microsoft", "review"):
        assert f["fix"]


def test_counts_and_exposure(discovered):
    facts = discovered["facts"]
    assert sorted(b["file"] for b in facts["basic"]["basic_auth"]) == sorted([
        "/etc/dma/dma.conf", "/etc/exim4/update-exim4.conf.conf", "/etc/msmtprc", "/etc/myapp/mail.env",
        "/etc/nullmailer/remotes", "/etc/postfix/main.cf", "/etc/smtpd.conf", "/home/mfs-alice/.msmtprc"])
    assert facts["good"]["basic_auth"] == []
    for name in ("basic", "broken", "good"):
        assert facts[name]["complete"] and facts[name]["errors"] == []
        assert facts[name]["summary"]["programs"] == sorted(["dma", "exim4", "msmtp", "nullmailer", "opensmtpd", "postfix"])


def test_secret_files_mode_and_owner(discovered):
    basic = discovered["facts"]["basic"]
    secrets = dict((f["program"] + (" user" if f.get("user") else ""), f["secret"]) for f in basic["senders"])
    assert (secrets["postfix"]["file"], secrets["postfix"]["mode"], secrets["postfix"]["owner"]) == ("/etc/postfix/sasl_passwd", "0600", "root")
    assert (secrets["exim4"]["file"], secrets["exim4"]["mode"], secrets["exim4"]["group"]) == ("/etc/exim4/passwd.client", "0640", "Debian-exim")
    assert (secrets["nullmailer"]["file"], secrets["nullmailer"]["mode"], secrets["nullmailer"]["owner"]) == ("/etc/nullmailer/remotes", "0600", "mail")
    assert (secrets["dma"]["file"], secrets["dma"]["mode"], secrets["dma"]["group"]) == ("/etc/dma/auth.conf", "0640", "mail")
    assert (secrets["opensmtpd"]["file"], secrets["opensmtpd"]["mode"]) == ("/etc/smtpd/secrets", "0640")
    assert (secrets["msmtp"]["source"], secrets["msmtp"]["file"], secrets["msmtp"]["program"]) == ("command", "/etc/mail/msmtp-password", "cat")
    assert (secrets["msmtp user"]["file"], secrets["msmtp user"]["owner"]) == ("/home/mfs-alice/.msmtprc", "mfs-alice")


def test_agrees_with_the_programs_own_parsers(discovered):
    """exim4 -bP (transport and router of the generated configuration), msmtp --pretend, postconf -h."""
    for name in ("basic", "broken", "good"):
        facts = discovered["facts"][name]
        exim = discovered["written"][name]["exim4"]["exim_options"]
        f = _one(facts, "exim4")
        assert exim["route_list"] == "* %s::%d byname" % (f["upstream"]["host"], f["upstream"]["port"])
        assert f["tls_required"] == (exim["hosts_require_tls"] == "*")
        assert f["cert_check"] == (exim["tls_verify_hosts"] == "*")
        assert (f["security"] == "tls") == (exim["protocol"] == "smtps")
        ref = discovered["written"][name]["msmtp_system"][1]
        if ref:
            m = _one(facts, "msmtp", file="/etc/msmtprc")
            assert (m["upstream"]["host"], m["upstream"]["port"]) == (ref["host"], int(ref["port"]))
            assert (m["security"] != "none") == (ref["tls"] == "on") and (m["security"] == "starttls") == (ref["tls_starttls"] == "on")
        import subprocess
        relayhost = subprocess.run(["postconf", "-c", os.path.join(discovered["roots"][name], "etc", "postfix"), "-h", "relayhost"],
                                   capture_output=True, text=True, timeout=30, check=True).stdout.strip()
        p = _one(facts, "postfix")
        assert relayhost == "[%s]:%d" % (p["upstream"]["host"], p["upstream"]["port"])


def test_the_canary_is_nowhere(discovered):
    run = discovered["run"]
    assert CANARY not in run.all_output()
    assert CANARY not in json.dumps(discovered["facts"])
    # it is in every secret file (so the test would see a leak)
    for name in ("basic", "broken"):
        for rel in ("etc/postfix/sasl_passwd", "etc/exim4/passwd.client", "etc/nullmailer/remotes", "etc/dma/auth.conf",
                    "etc/smtpd/secrets"):
            assert CANARY in open(os.path.join(discovered["roots"][name], rel)).read()
