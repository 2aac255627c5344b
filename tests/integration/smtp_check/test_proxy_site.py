"""The corporate network case: a site whose firewall drops every packet to the mail service, with real proxies.

A network namespace ``corp`` (the probing host) has nftables dropping all its traffic to the lab and no name for it;
``proxy`` runs Dante (SOCKS5 without and with username/password) and tinyproxy (HTTP CONNECT with Basic auth) and
resolves the lab's name (mailfleet_testing.proxies). Everything Ansible runs here runs inside ``corp``:

- smtp_check: the probe succeeds only through a proxy; every proxy failure gives its code within the timeout
  (one playbook; the proxy matrix goes to tests/output/smtp_check-proxy-matrix.json for the closing note);
- the client role: msmtp sends into the lab through the SOCKS proxy, Thunderbird's rendered prefs are read back;
- the reachability role with a per-site proxy (group variable) and the fleet report naming the proxy per endpoint.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import uuid

import pytest

from mailfleet_testing import REPO_ROOT, AnsibleRunner, ensure_collection_link, make_env, running_in_ci
from mailfleet_testing.capabilities import require
from mailfleet_testing.proxies import corporate_site, namespaces_or_reason, unix_user
from smtpcheck_itest import record_row

pytestmark = [pytest.mark.timeout(300), pytest.mark.netns]

PROXY_PASSWORD = "Canary-ProxyPw-77e1c0d4"
LAB_PASSWORD = "alice-lab-password"
TIMEOUT = 3.0
MARGIN = 0.8
MATRIX_FILE = REPO_ROOT / "tests" / "output" / "smtp_check-proxy-matrix.json"
SUBJECT = "through the proxy %s" % uuid.uuid4().hex[:8]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    ok, why = namespaces_or_reason()
    if not ok:
        if running_in_ci():
            pytest.fail("the proxy site test cannot run in CI: %s" % why)
        pytest.skip("the proxy site test needs network namespaces: %s" % why)
    # namespaces work here, so the test must run: a missing program fails with its package (make deps)
    for capability in ("netns-nftables", "dante-socks5", "tinyproxy-connect", "msmtp-tls-xoauth2"):
        require(capability)
    with corporate_site(tmp_path_factory.mktemp("corp-site"), PROXY_PASSWORD) as built:
        yield built


@pytest.fixture(scope="module")
def corp_runner(site, tmp_path_factory):
    ensure_collection_link()
    work = tmp_path_factory.mktemp("corp-ansible")
    (work / "local-tmp").mkdir()
    return AnsibleRunner(make_env(work / "local-tmp"), work / "runs")


def corp_playbook(site, runner, play, **kw):
    return runner.playbook(play, wrapper=site.net.exec_argv("corp"), **kw)


# ----------------------------------------------------------------------------- smtp_check through the proxies

def cases(site):
    """(case id, proxy kind, proxy auth, what, module args, code, last stage, failed stage, bounded by the timeout)."""
    lab = site.lab
    alice = {"username": "alice@contoso.test", "password": LAB_PASSWORD}

    def ep(port=None, host=None, **extra):
        return dict({"name": "lab", "host": host or site.lab_name, "port": port or lab.ports["submission"],
                     "security": "starttls"}, **extra)

    def args(proxy=None, password=None, endpoints=None, **extra):
        out = {"endpoints": endpoints or [ep()], "ca_path": lab.ca_file, "timeout": TIMEOUT, "fail_on_error": False}
        if proxy:
            out["proxy"] = proxy
        if password:
            out["proxy_password"] = password
        out.update(extra)
        return out

    socks, auth_port, user = site.socks_url(), site.socks_auth.port, site.proxy_user
    web = site.web_url(user=site.web_user)
    return [
        ("direct_dropped", "none", "-", "the lab's address, no proxy (nftables drops it)",
         args(endpoints=[ep(host=site.gateway)]), "connect_timeout", "dns", "connect", True),
        ("direct_no_name", "none", "-", "the lab's name, no proxy (this host has no DNS for it)",
         args(), "dns_error", None, "dns", False),
        ("socks_ok", "SOCKS5", "none", "Dante, socks5h (the proxy resolves the name), AUTH LOGIN",
         args(socks, auth=alice), "ok", "auth", None, False),
        ("socks_local_dns", "SOCKS5", "none", "Dante, socks5:// (this host would resolve the name)",
         args(site.socks_url("socks5")), "dns_error", None, "dns", False),
        ("socks_denied", "SOCKS5", "none", "Dante rule blocks the connector port (reply 0x02)",
         args(socks, endpoints=[ep(lab.ports["connector"])]), "proxy_denied", "connect", "proxy", False),
        ("socks_target_refused", "SOCKS5", "none", "nothing listens behind the proxy (reply 0x05)",
         args(socks, endpoints=[ep(site.closed_port)]), "proxy_target_failed", "connect", "proxy", False),
        ("socks_black_hole", "SOCKS5", "none", "destination black-holed behind the proxy",
         args(socks, endpoints=[ep(site.black_hole_port)]), "connect_timeout", "connect", "proxy", True),
        ("socks_imap", "SOCKS5", "none", "IMAP LOGIN + EXAMINE INBOX through Dante",
         args(socks, endpoints=[ep(lab.ports["imap"], security="tls", protocol="imap")],
              auth=dict(alice, open_mailbox=True)), "ok", "mailbox", None, False),
        ("socks_auth_ok", "SOCKS5", "username/password", "Dante username method, right password",
         args(site.socks_url(port=auth_port, user=user), PROXY_PASSWORD, auth=alice), "ok", "auth", None, False),
        ("socks_auth_required", "SOCKS5", "username/password", "Dante username method, no user given",
         args(site.socks_url(port=auth_port)), "proxy_auth_required", "connect", "proxy", False),
        ("socks_auth_failed", "SOCKS5", "username/password", "Dante username method, wrong password",
         args(site.socks_url(port=auth_port, user=user), "not-the-password"), "proxy_auth_failed", "connect",
         "proxy", False),
        ("http_ok", "HTTP CONNECT", "Basic", "tinyproxy, right password, AUTH LOGIN",
         args(web, PROXY_PASSWORD, auth=alice), "ok", "auth", None, False),
        ("http_auth_required", "HTTP CONNECT", "Basic", "tinyproxy, no user (407)",
         args(site.web_url()), "proxy_auth_required", "connect", "proxy", False),
        ("http_auth_failed", "HTTP CONNECT", "Basic", "tinyproxy, wrong password (401)",
         args(web, "not-the-password"), "proxy_auth_failed", "connect", "proxy", False),
        ("http_denied", "HTTP CONNECT", "Basic", "tinyproxy ConnectPort excludes the connector port (403)",
         args(web, PROXY_PASSWORD, endpoints=[ep(lab.ports["connector"])]), "proxy_denied", "connect", "proxy",
         False),
        ("http_target_refused", "HTTP CONNECT", "Basic", "nothing listens behind the proxy (500)",
         args(web, PROXY_PASSWORD, endpoints=[ep(site.closed_port)]), "proxy_target_failed", "connect", "proxy",
         False),
        ("http_at_socks", "HTTP CONNECT", "none", "an http:// URL pointing at Dante",
         args(site.web_url(port=site.socks.port)), "proxy_protocol_error", "connect", "proxy", False),
        ("proxy_unreachable", "SOCKS5", "none", "the proxy's name does not resolve",
         args("socks5h://no-such-proxy.corp.test:1080"), "proxy_unreachable", None, "dns", False),
        ("proxy_refused", "SOCKS5", "none", "nothing listens on the proxy's port",
         args(site.socks_url(port=1090)), "proxy_refused", "dns", "connect", False),
        ("proxy_timeout", "SOCKS5", "none", "the site's firewall drops the proxy's port",
         args(site.socks_url(port=site.dropped_proxy_port)), "proxy_timeout", "dns", "connect", True),
    ]


@pytest.fixture(scope="module")
def matrix(site, corp_runner):
    table = cases(site)
    tasks = [{"name": case[0], "mailfleet.outlook.smtp_check": case[4]} for case in table]
    # one call, three endpoints: the call's SOCKS proxy, an endpoint's own HTTP proxy, an endpoint forced direct
    tasks.append({"name": "per_endpoint", "mailfleet.outlook.smtp_check": {
        "endpoints": [{"name": "via-call", "host": site.lab_name, "port": site.lab.ports["submission"]},
                      {"name": "via-own", "host": site.lab_name, "port": site.lab.ports["pop"], "security": "tls",
                       "protocol": "pop", "proxy": site.web_url(user=site.web_user), "proxy_password": PROXY_PASSWORD},
                      {"name": "direct", "host": site.gateway, "port": site.lab.ports["submission"], "proxy": "direct"}],
        "proxy": site.socks_url(), "ca_path": site.lab.ca_file, "timeout": TIMEOUT, "fail_on_error": False}})
    play = [{"name": "smtp_check from the corporate network", "hosts": "localhost", "gather_facts": False,
             "tasks": tasks}]
    run = corp_playbook(site, corp_runner, play, timeout=240)
    run.assert_ok()
    return table, run


CASE_IDS = ["direct_dropped", "direct_no_name", "socks_ok", "socks_local_dns", "socks_denied", "socks_target_refused",
            "socks_black_hole", "socks_imap", "socks_auth_ok", "socks_auth_required", "socks_auth_failed", "http_ok",
            "http_auth_required", "http_auth_failed", "http_denied", "http_target_refused", "http_at_socks",
            "proxy_unreachable", "proxy_refused", "proxy_timeout"]


def test_case_list_is_complete(site, matrix):
    assert [case[0] for case in matrix[0]] == CASE_IDS


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_proxy_case(matrix, case_id):
    table, run = matrix
    case = [c for c in table if c[0] == case_id][0]
    _cid, kind, auth, what, args, code, stage, failed_stage, bounded = case
    entry = run.result(task=case_id)["endpoints"][0]
    assert entry["diagnosis"]["code"] == code, entry
    assert entry["stage"] == stage and entry["failed_stage"] == failed_stage, entry
    assert entry["proxy"] == (re.sub(r"//[^@/]*@", "//", args["proxy"]) if "proxy" in args else None)
    total = entry["timings_ms"]["total"] / 1000.0
    if bounded:
        assert TIMEOUT - 0.2 <= total <= TIMEOUT + MARGIN, total
    else:
        assert total < TIMEOUT, total  # a clear answer does not wait for the deadline
    if entry["proxy"] and failed_stage in (None, "proxy", "banner", "tls", "auth", "mailbox"):
        assert "proxy" in entry["timings_ms"]
    if code == "ok":
        assert entry["tls"]["verified"] is True and site_name_in_cert(entry)
    _record(kind, auth, case_id, what, entry)


def site_name_in_cert(entry):
    return any(name.endswith("corp.test") for name in entry["tls"]["cert"]["san"])


def _record(kind, auth, case_id, what, entry):
    MATRIX_FILE.parent.mkdir(parents=True, exist_ok=True)
    rows = json.loads(MATRIX_FILE.read_text()) if MATRIX_FILE.exists() else []
    rows = [r for r in rows if r["case"] != case_id] + [{
        "kind": kind, "auth": auth, "case": case_id, "what": what, "code": entry["diagnosis"]["code"],
        "stage": entry["stage"], "failed_stage": entry["failed_stage"], "time_ms": entry["timings_ms"]["total"],
        "proxy_ms": entry["timings_ms"].get("proxy")}]
    MATRIX_FILE.write_text(json.dumps(rows, indent=1))
    if entry["diagnosis"]["code"].startswith("proxy_"):
        record_row({"code": entry["diagnosis"]["code"], "case": "proxy: " + case_id, "lab_case": what,
                    "stage": entry["stage"], "failed_stage": entry["failed_stage"],
                    "time_ms": entry["timings_ms"]["total"]})


def test_per_endpoint_proxies(matrix, site):
    entries = matrix[1].result(task="per_endpoint")["endpoints"]
    assert [e["name"] for e in entries] == ["via-call", "via-own", "direct"]
    assert entries[0]["ok"] and entries[0]["proxy"] == site.socks_url()
    assert entries[1]["ok"] and entries[1]["proxy"] == site.web_url()
    assert entries[2]["proxy"] is None and entries[2]["diagnosis"]["code"] == "connect_timeout"


def test_proxy_password_never_in_output(matrix):
    out = matrix[1].all_output()
    assert PROXY_PASSWORD not in out
    assert base64.b64encode(PROXY_PASSWORD.encode()).decode() not in out
    basic = base64.b64encode(("mailprobe:" + PROXY_PASSWORD).encode()).decode()
    assert basic not in out


def test_remote_name_resolution_happened_at_the_proxy(matrix, site):
    entry = matrix[1].result(task="socks_ok")["endpoints"][0]
    assert entry["address"] == site.proxy_address  # connected to the proxy, never to the lab
    assert entry["host"] == site.lab_name


# ----------------------------------------------------------------------------- the client role through the proxy

def test_client_role_msmtp_sends_through_the_socks_proxy_and_thunderbird_prefs(site, corp_runner, tmp_path):
    lab = site.lab
    ca = "/tmp/mfpx-ca-%s.pem" % uuid.uuid4().hex[:8]
    shutil.copyfile(lab.ca_file, ca)
    os.chmod(ca, 0o644)
    try:
        with unix_user(prefix="mfpc", home=True) as pw:
            settings = {"smtp_host": site.lab_name, "smtp_port": lab.ports["submission"], "imap_host": site.lab_name,
                        "imap_port": lab.ports["imap"], "pop_host": site.lab_name, "pop_port": lab.ports["pop"],
                        "ca_file": ca}
            extra = {"client_profile": "lab", "client_settings": settings, "client_proxy": site.socks_url(),
                     "client_thunderbird_install_dir": str(tmp_path / "tb"), "client_thunderbird_isp": False,
                     "client_accounts": [{"user": pw.pw_name, "address": "alice@contoso.test",
                                          "auth_method": "password", "password": LAB_PASSWORD,
                                          "clients": ["msmtp", "thunderbird"],
                                          "thunderbird_profile": ".thunderbird/corp.default"}]}
            play = [{"hosts": "localhost", "gather_facts": False, "roles": [{"role": "mailfleet.outlook.client"}]}]
            run = corp_playbook(site, corp_runner, play, extra_vars=extra, timeout=240)
            run.assert_ok()
            assert LAB_PASSWORD not in run.all_output()
            config = open(os.path.join(pw.pw_dir, ".config/msmtp/config"), encoding="utf-8").read()
            assert "proxy_host %s\nproxy_port %d\n" % (site.proxy_name, site.socks.port) in config
            # msmtp, as the user, inside the corporate network: only the proxy gets the mail out
            text = "From: alice@contoso.test\nTo: bob@contoso.test\nSubject: %s\n\nvia SOCKS\n" % SUBJECT
            env = {"HOME": pw.pw_dir, "USER": pw.pw_name, "LOGNAME": pw.pw_name, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
            runuser = shutil.which("runuser", path=env["PATH"])
            sent = subprocess.run(site.net.exec_argv("corp") + [runuser, "-u", pw.pw_name, "--", "msmtp", "-t"],
                                  input=text, capture_output=True, text=True, timeout=60, env=env, check=False)
            assert sent.returncode == 0, sent.stderr
            stored = lab.wait_for_messages(1, timeout=20, subject=SUBJECT)
            assert stored[0]["user"] == "alice@contoso.test" and stored[0]["peer"][0] == site.proxy_address
            prefs = _prefs(os.path.join(pw.pw_dir, ".thunderbird/corp.default/user.js"))
            assert prefs["network.proxy.type"] == 1 and prefs["network.proxy.socks"] == site.proxy_name
            assert prefs["network.proxy.socks_port"] == site.socks.port
            assert prefs["network.proxy.socks_version"] == 5 and prefs["network.proxy.socks_remote_dns"] is True
    finally:
        os.unlink(ca)


def _prefs(path):
    """user.js read back with Thunderbird's grammar for it: user_pref("name", <JSON string|int|bool>);"""
    prefs = {}
    for line in open(path, encoding="utf-8").read().splitlines():
        if not line.strip() or line.startswith("//"):
            continue
        match = re.match(r'^user_pref\(("(?:[^"\\]|\\.)*"), (.*)\);$', line)
        assert match, line
        prefs[json.loads(match.group(1))] = json.loads(match.group(2))
    return prefs


# ----------------------------------------------------------------------------- reachability role + fleet report

def test_reachability_per_site_proxy_and_the_report(site, corp_runner, tmp_path):
    lab = site.lab
    inventory = {"all": {"children": {"branch_office": {
        "hosts": {"localhost": {"ansible_connection": "local", "ansible_python_interpreter": "/usr/bin/python3"}},
        "vars": {"reachability_proxy": site.socks_url(port=site.socks_auth.port, user=site.proxy_user),
                 "reachability_proxy_password": PROXY_PASSWORD}}}}}
    extra = {"reachability_profile": "lab", "reachability_timeout": TIMEOUT, "reachability_include_incoming": True,
             "reachability_settings": {"smtp_host": site.lab_name, "smtp_port": lab.ports["submission"],
                                       "imap_host": site.lab_name, "imap_port": lab.ports["imap"],
                                       "pop_host": site.lab_name, "pop_port": lab.ports["pop"],
                                       "ca_file": lab.ca_file},
             "reachability_extra_endpoints": [{"name": "lab-direct", "host": site.gateway,
                                               "port": lab.ports["submission"], "proxy": "direct", "required": False}],
             "reachability_report_dir": str(tmp_path / "report"), "reachability_drift_relay": False}
    play = [{"hosts": "all", "gather_facts": False, "roles": [{"role": "mailfleet.outlook.reachability"}]}]
    run = corp_playbook(site, corp_runner, play, inventory=inventory, extra_vars=extra, timeout=240)
    run.assert_ok()
    assert PROXY_PASSWORD not in run.all_output()
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert PROXY_PASSWORD not in json.dumps(report)
    cells = dict((c["name"], c) for c in report["hosts"][0]["endpoints"])
    via = site.socks_url(port=site.socks_auth.port)  # the user is not part of what the report shows
    for name in ("smtp", "imap", "pop"):
        assert cells[name]["status"] in ("ok", "warn") and cells[name]["proxy"] == via, cells[name]
    assert cells["lab-direct"]["proxy"] is None and cells["lab-direct"]["diagnosis"]["code"] == "connect_timeout"
    html = (tmp_path / "report" / "report.html").read_text()
    # the page's cell details (drawn by its script from the embedded grid data): "through: <proxy or direct>"
    data = json.loads(re.search(r'<script type="application/json" id="report-data">(.*?)</script>', html, re.S).group(1))
    through = dict((data["cols"][c[0]], dict((data["s"][k], data["s"][v]) for k, v in c[16])["through"])
                   for c in data["h"][0][5])
    assert through == {"smtp": via, "imap": via, "pop": via, "lab-direct": "direct"}, through
