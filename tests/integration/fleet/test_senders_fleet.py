# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A fleet configured by hand: eight network-namespace hosts, each with its own /etc and /home (an overlay in a
private mount namespace of its sshd), where the mail senders were set up the way their packages do it - not by this
collection - some with password (Basic) auth to the lab's submission endpoint, one to smtp.office365.com:465, one
application's own settings. check.yml (over SSH) must list exactly those hosts and files as the Basic-auth exposure,
in report.json, report.xml and report.html (headless Chromium); adopt.yml --check --diff shows the takeover of two
of them by the relay role (OAuth2 behind Postfix's queue) and changes nothing; no secret appears in any output.

    pfx     Postfix (postconf -e): relayhost = lab submission, sasl_passwd            -> stops
    exim    Exim4 (debconf answers + update-exim4.conf): smarthost = lab, passwd.client -> stops
    nullm   nullmailer (postinst's sed): lab --starttls --user --pass                  -> stops
    msmtp   /etc/msmtprc XOAUTH2 to the lab (ok); user mfs-alice's ~/.msmtprc password -> stops (the user's file)
    dma     dma.conf (postinst's sed): smtp.office365.com 465 SECURETRANSFER, auth.conf -> wrong (465) and Basic auth
    app     no MTA; /etc/myapp/mail.ini names smtp.office365.com:587 with a password   -> stops (a mention)
    osmtpd  OpenSMTPD relays to the lab's connector (tenant MX stand-in), no password   -> ok
    clean   nothing configured
"""

import hashlib
import importlib.util
import json
import os
import stat

import pytest

from mailfleet_testing import AnsibleRunner, make_env, running_in_ci, sender_configs as sc
from mailfleet_testing.capabilities import require
from mailfleet_testing.senders import CANARY

pytestmark = [pytest.mark.netns, pytest.mark.timeout(600)]

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
LAB_NAME = "lab.fleet.test"
OUTPUT = os.path.join(REPO, "tests", "output", "fleet-senders")
CLIENT_SECRET = "Canary-Client-Secret-51d0"
ALICE = ("mfs-alice", 24301, "/home/mfs-alice")
HOSTS = ["pfx", "exim", "nullm", "msmtp", "dma", "app", "osmtpd", "clean"]
SENDER_DIRS = ("postfix", "exim4", "nullmailer", "dma", "msmtprc", "smtpd.conf", "smtpd", "mailname", "myapp")

EXPOSURE = sorted([("app", "/etc/myapp/mail.ini"), ("dma", "/etc/dma/dma.conf"), ("exim", "/etc/exim4/update-exim4.conf.conf"),
                   ("msmtp", "/home/mfs-alice/.msmtprc"), ("nullm", "/etc/nullmailer/remotes"), ("pfx", "/etc/postfix/main.cf")])
VERDICTS = sorted([("app", "mention", "stops"), ("dma", "dma", "wrong"), ("exim", "exim4", "stops"), ("msmtp", "msmtp", "ok"),
                   ("msmtp", "msmtp", "stops"), ("nullm", "nullmailer", "stops"), ("osmtpd", "opensmtpd", "ok"),
                   ("pfx", "postfix", "stops")])


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


netns_fleet = _load("mailfleet_netns_fleet_senders", os.path.join(REPO, "scripts", "netns_fleet.py"))
from mailfleet_testing import chromium_cdp as cdp  # noqa: E402


def _isolate(etc):
    """The host sees only its own mail senders: every sender path it does not configure is hidden (an overlay
    whiteout), every one it does is opaque (none of this machine's files show through)."""
    for name in SENDER_DIRS:
        path = os.path.join(etc, name)
        if os.path.isdir(path):
            os.setxattr(path, "trusted.overlay.opaque", b"y")
        elif not os.path.lexists(path):
            os.mknod(path, 0o600 | stat.S_IFCHR, os.makedev(0, 0))


def _configure(name, root, lab):
    ports = lab.ports
    sub = ports["submission"]
    sc.base_etc(root, users=[ALICE] if name == "msmtp" else [])
    if name == "pfx":
        sc.postfix(root, "[%s]:%d" % (LAB_NAME, sub), "pfx@contoso.test", CANARY, ca_file=lab.ca_file)
    elif name == "exim":
        sc.exim4(root, "%s::%d" % (LAB_NAME, sub), "exim@contoso.test", CANARY, macros=["REMOTE_SMTP_SMARTHOST_HOSTS_REQUIRE_TLS = *"])
    elif name == "nullm":
        sc.nullmailer(root, "%s smtp --port=%d --starttls --x509cafile=%s --user=nm@contoso.test --pass=%s" % (
            LAB_NAME, sub, lab.ca_file, CANARY))
    elif name == "msmtp":
        sc.write(root, "/etc/mail/lab-token", "#!/bin/sh\necho not-a-real-token\n", mode=0o755)
        sc.msmtp(root, "/etc/msmtprc", "defaults\ntls on\ntls_trust_file %s\n\naccount lab\nhost %s\nport %d\nauth xoauth2\n"
                                       "user sys@contoso.test\npasswordeval \"/etc/mail/lab-token\"\n\naccount default : lab\n"
                 % (lab.ca_file, LAB_NAME, sub), mode=0o644, account="lab")
        sc.msmtp(root, ALICE[2] + "/.msmtprc", "account work\nhost %s\nport %d\ntls on\ntls_trust_file %s\nauth login\n"
                                               "user alice@contoso.test\npassword %s\n" % (LAB_NAME, sub, lab.ca_file, CANARY),
                 uid=ALICE[1], gid=ALICE[1], account="work")
    elif name == "dma":
        sc.dma(root, "smtp.office365.com", port=465, securetransfer=True, user="dma@contoso.com", password=CANARY)
    elif name == "app":
        sc.write(root, "/etc/myapp/mail.ini", "[mail]\nserver = smtp.office365.com\nport = 587\nstarttls = yes\n"
                                              "user = app@contoso.com\npassword = %s\n" % CANARY, mode=0o640)
    elif name == "osmtpd":
        sc.opensmtpd(root, "smtp+tls://%s:%d" % (LAB_NAME, ports["connector"]))
    _isolate(os.path.join(root, "etc"))
    os.makedirs(os.path.join(root, "home"), exist_ok=True)
    os.setxattr(os.path.join(root, "home"), "trusted.overlay.opaque", b"y")


def _tree_digest(root):
    h = hashlib.sha256()
    for dirpath, dirs, files in sorted(os.walk(root)):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            h.update(("%s %o %d %d\n" % (path, st.st_mode, st.st_uid, st.st_size)).encode())
            if os.path.isfile(path) and not os.path.islink(path):
                h.update(open(path, "rb").read())
    return h.hexdigest()


@pytest.fixture(scope="module")
def senders_fleet(tmp_path_factory):
    ok, why = netns_fleet.namespaces_supported()
    if not ok:
        if running_in_ci():
            pytest.fail("namespace fleet test cannot run in CI: %s" % why)
        pytest.skip("namespace fleet test skipped: %s" % why)
    missing = netns_fleet.missing_programs()
    if missing:
        pytest.fail("namespace fleet test cannot run: missing %s" % ", ".join(missing))
    sc.require_private_etc()
    sc.package_files()
    from mailfleet_lab.pytest_plugin import LabHandle

    work = tmp_path_factory.mktemp("fleet-senders")
    os.chmod(str(work), 0o755)
    hosts = [{"name": n} for n in HOSTS]
    f = netns_fleet.Fleet(str(work / "net"), hosts, lab_name=LAB_NAME, prefix="ms%04x" % (os.getpid() & 0xFFFF))
    lab = None
    try:
        gateway = f.up_network()
        lab = LabHandle({"bind_extra": [gateway], "extra_names": [LAB_NAME],
                         "connector": {"client_ips": ["127.0.0.1"] + [h["address"] for h in f.hosts]}},
                        state_dir=str(work / "lab"), any_ports=True).start()
        roots = {}
        for host in f.hosts:
            root = str(work / "hosts" / host["name"] / "root")
            roots[host["name"]] = root
            _configure(host["name"], root, lab)
            host["mounts"] = [
                {"type": "overlay", "target": "/etc", "upper": os.path.join(root, "etc"), "work": str(work / "hosts" / host["name"] / "w-etc")},
                {"type": "overlay", "target": "/home", "upper": os.path.join(root, "home"), "work": str(work / "hosts" / host["name"] / "w-home")},
                {"type": "tmpfs", "target": "/root"},
            ]
        f.up_hosts()
        yield {"fleet": f, "lab": lab, "work": work, "roots": roots}
    finally:
        try:
            if lab is not None:
                lab.stop()
        finally:
            f.down()


@pytest.fixture(scope="module")
def inventory(senders_fleet):
    lab = senders_fleet["lab"]
    ports = lab.ports
    group_vars = {
        "reachability_profile": "lab",
        "reachability_settings": {"smtp_host": LAB_NAME, "smtp_port": ports["submission"], "ca_file": lab.ca_file},
        "reachability_timeout": 4,
        "reachability_senders_upstreams": [{"host": LAB_NAME, "port": ports["connector"], "profile": "lab", "service": "mx"}],
        # what adopt.yml needs besides the proposal: one app registration for the fleet (group_vars, Vault in real life)
        "relay_client_id": "00000000-1111-2222-3333-444444444444",
        "relay_client_secret": CLIENT_SECRET,
        "relay_ca_file": lab.ca_file,
        "relay_token_url": "https://%s:%d/contoso.test/oauth2/v2.0/token" % (LAB_NAME, ports["token"]),
        "mailfleet_adopt_upstreams": [{"host": LAB_NAME, "port": ports["submission"], "profile": "lab"}],
    }
    return senders_fleet["fleet"].inventory(group="fleet", group_vars=group_vars)


def _runner(tmp_path_factory, name):
    work = tmp_path_factory.mktemp(name)
    local_tmp = work / "ansible-local"
    local_tmp.mkdir()
    return work, AnsibleRunner(make_env(local_tmp), work)


@pytest.fixture(scope="module")
def check_run(senders_fleet, inventory, tmp_path_factory):
    work, runner = _runner(tmp_path_factory, "check")
    before = dict((n, _tree_digest(r)) for n, r in senders_fleet["roots"].items())
    run = runner.playbook(os.path.join(REPO, "playbooks", "check.yml"), inventory=inventory, verbosity=3, timeout=420,
                          extra_vars={"reachability_fail": False}, env={"MAILFLEET_REPORT_DIR": str(work / "report")})
    after = dict((n, _tree_digest(r)) for n, r in senders_fleet["roots"].items())
    return {"run": run, "report_dir": work / "report", "unchanged": before == after}


def _report(check_run):
    with open(os.path.join(str(check_run["report_dir"]), "report.json")) as f:
        return json.load(f)


def _findings(report):
    """Every host's findings (they travel in the host rows of report.json), each with its host."""
    return [dict(f, host=row["host"]) for row in report["hosts"] for f in (row.get("senders") or {}).get("findings") or []]


def test_exposure_is_exactly_the_hand_configured_basic_auth(check_run):
    run = check_run["run"]
    assert run.returncode == 0, run.describe()
    report = _report(check_run)
    e = report["senders"]["exposure"]
    assert sorted((f["host"], f["file"]) for f in e["files"]) == EXPOSURE
    assert e["hosts"] == sorted(set(h for h, unused in EXPOSURE)) and e["managed_hosts"] == []
    s = report["summary"]["basic_auth_exposure"]
    assert (s["hosts"], s["files"], s["hosts_scanned"]) == (6, 6, 8)
    assert "Basic-auth exposure: 6 hosts, 6 files" in run.stdout


def test_how_each_host_sends(senders_fleet, check_run):
    rows = _findings(_report(check_run))
    assert sorted((r["host"], r["program"], r["verdict"]) for r in rows) == VERDICTS
    by = dict(((r["host"], r["program"], r["file"]), r) for r in rows)
    pfx = by[("pfx", "postfix", "/etc/postfix/main.cf")]
    assert (pfx["upstream"], pfx["auth"], pfx["account"]) == (
        "%s:%d" % (LAB_NAME, senders_fleet["lab"].ports["submission"]), "password", "pfx@contoso.test")
    assert pfx["fix"].startswith("adopt the host with mailfleet.outlook.relay") and "relay_smtp_host=%s" % LAB_NAME in pfx["fix"]
    assert pfx["secret"].startswith("/etc/postfix/sasl_passwd:1 (0600 root:root)")
    dma = by[("dma", "dma", "/etc/dma/dma.conf")]
    assert dma["codes"][0] == "port_465" and "basic_auth" in dma["codes"]
    alice = by[("msmtp", "msmtp", "/home/mfs-alice/.msmtprc")]
    assert "mailfleet.outlook.client" in alice["fix"] and alice["user"] == "mfs-alice"
    osmtpd = by[("osmtpd", "opensmtpd", "/etc/smtpd.conf")]
    assert osmtpd["verdict"] == "ok" and osmtpd["auth"] == "none"


def test_junit_lists_the_exposure(check_run):
    lxml_etree = pytest.importorskip("lxml.etree", reason="lxml (requirements/dev.txt) validates the JUnit XML")
    schema = lxml_etree.XMLSchema(lxml_etree.parse(os.path.join(REPO, "tests", "unit", "report", "junit.xsd")))
    doc = lxml_etree.parse(os.path.join(str(check_run["report_dir"]), "report.xml"))
    assert schema.validate(doc), schema.error_log
    suite = doc.find("testsuite[@name='mailfleet.outlook.senders']")
    failed = sorted((c.get("classname").split(".", 1)[1], c.find("failure").get("type"))
                    for c in suite.findall("testcase") if c.find("failure") is not None)
    assert failed == sorted([(h, v) for h, p, v in VERDICTS if v not in ("ok",)])
    prop = suite.find("properties/property[@name='basic_auth_exposure']").get("value")
    assert prop.startswith("Basic-auth exposure: 6 hosts, 6 files")


def test_html_shows_the_exposure_in_chromium(check_run, tmp_path):
    try:
        cdp.chromium_binary()
    except cdp.ChromiumMissing as e:
        pytest.fail(str(e))
    os.makedirs(OUTPUT, exist_ok=True)
    page = os.path.join(str(check_run["report_dir"]), "report.html")
    with cdp.Chromium(str(tmp_path / "chromium")) as chromium:
        dt = chromium.open(page)
        assert chromium.errors() == []
        figure = dt.evaluate("(function(){var p=document.getElementById('basic-auth-exposure');"
                             "return [p.dataset.hosts, p.dataset.files, p.textContent]})()")
        assert figure[:2] == ["6", "6"] and figure[2].startswith("Basic-auth exposure: 6 hosts, 6 files")
        rows = dt.evaluate("Array.from(document.querySelectorAll('#exposure-files tr.exposure-row'))"
                           ".map(function(tr){return [tr.dataset.host, tr.dataset.file]})")
        assert sorted(tuple(r) for r in rows) == EXPOSURE
        groups = dt.evaluate("Array.from(document.querySelectorAll('.senders-group')).map(function(g){"
                             "return [g.dataset.verdict, g.querySelectorAll('tr.sender-row').length]})")
        assert groups == [["wrong", 1], ["stops", 5], ["ok", 2]]
        visible = dt.evaluate("document.getElementById('section-senders').getBoundingClientRect().height")
        assert visible > 100
        chromium.screenshot(os.path.join(OUTPUT, "fleet-senders-report.png"))
        assert chromium.errors() == []
    for name in ("report.json", "report.xml", "report.html"):
        with open(os.path.join(str(check_run["report_dir"]), name), "rb") as src, open(os.path.join(OUTPUT, name), "wb") as dst:
            dst.write(src.read())


def test_check_changes_nothing_and_leaks_nothing(check_run):
    assert check_run["unchanged"]
    run = check_run["run"]
    assert [t for t in run.tasks if (t.get("result") or {}).get("changed")] == []
    out = run.all_output()
    for name in ("report.json", "report.xml", "report.html"):
        out += open(os.path.join(str(check_run["report_dir"]), name)).read()
    assert CANARY not in out and CLIENT_SECRET not in out


def test_adopt_dry_run_shows_the_takeover(senders_fleet, inventory, tmp_path_factory):
    require("python-apt")     # the relay role's ansible.builtin.apt, in check mode too
    work, runner = _runner(tmp_path_factory, "adopt")
    before = dict((n, _tree_digest(r)) for n, r in senders_fleet["roots"].items())
    run = runner.playbook(os.path.join(REPO, "playbooks", "adopt.yml"), inventory=inventory, check=True, diff=True, verbosity=3,
                          timeout=420, extra_vars={"mailfleet_adopt_hosts": "pfx,nullm"},
                          env={"MAILFLEET_ADOPT_DIR": str(work / "adopt")})
    assert run.returncode == 0, run.describe()
    assert dict((n, _tree_digest(r)) for n, r in senders_fleet["roots"].items()) == before
    import yaml
    pfx = yaml.safe_load(open(str(work / "adopt" / "host_vars" / "pfx.yml")))
    assert pfx == {"relay_profile": "lab", "relay_mode": "submission", "relay_auth_method": "oauth2",
                   "relay_username": "pfx@contoso.test", "relay_tenant": "contoso.test", "relay_smtp_host": LAB_NAME,
                   "relay_smtp_port": senders_fleet["lab"].ports["submission"]}
    nullm = yaml.safe_load(open(str(work / "adopt" / "host_vars" / "nullm.yml")))
    assert nullm["relay_username"] == "nm@contoso.test"
    writes = [t for t in run.tasks if t["action"] == "mailfleet.outlook.mail_config" and t["task"].split(" : ")[-1].startswith("Write")]
    assert sorted(t["host"] for t in writes) == ["nullm", "pfx"], run.describe()
    for t in writes:
        assert t["status"] == "changed", t
        files = t["result"]["changed_files"]
        assert "/etc/postfix/main.cf" in files, files
    # the diff of main.cf, printed: Postfix keeps the queue and hands mail to mailfleet-xoauth2 over LMTP instead of
    # logging in to the lab with the hand-configured password
    sub = senders_fleet["lab"].ports["submission"]
    assert "+default_transport = lmtp:unix:private/" in run.stdout and "-relayhost = [%s]:%d" % (LAB_NAME, sub) in run.stdout
    out = run.all_output()
    assert CANARY not in out and CLIENT_SECRET not in out
