# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Drift: relay.yml renders two hosts' Postfix configuration (under relay_root, not the live system), one is
edited by hand, then check.yml reports exactly that host and file as drift - in normal and in check mode -
and writes nothing: every file under the roots is byte-identical before and after check.yml."""

import hashlib
import json
import os

import pytest

from mailfleet_testing import TARGET_PYTHON, AnsibleRunner, make_env

pytestmark = pytest.mark.timeout(600)

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))


def snapshot(root):
    out = {}
    for base, dummy, files in os.walk(str(root)):
        for name in files:
            path = os.path.join(base, name)
            st = os.stat(path)
            with open(path, "rb") as f:
                out[os.path.relpath(path, str(root))] = (hashlib.sha256(f.read()).hexdigest(), st.st_mtime_ns, st.st_mode)
    return out


@pytest.fixture
def relay_fleet(lab, tmp_path):
    roots = tmp_path / "roots"
    common = {
        "ansible_connection": "local", "ansible_python_interpreter": TARGET_PYTHON,
        "relay_profile": "lab", "relay_mode": "submission", "relay_mta": "postfix", "relay_auth_method": "password",
        "relay_username": "relay@contoso.test", "relay_password": "relay-lab-password",
        "relay_smtp_host": "localhost", "relay_smtp_port": lab.ports["submission"], "relay_ca_file": lab.ca_file,
        "relay_host_lookup": "native",
        "reachability_timeout": 5, "reachability_fail": False,
    }
    hosts = {}
    for name in ("relay-a", "relay-b"):
        hosts[name] = dict(common, relay_root=str(roots / name))
    inventory = {"all": {"children": {"mail_relays": {"hosts": hosts}}}}
    (tmp_path / "local").mkdir()
    runner = AnsibleRunner(make_env(tmp_path / "local"), tmp_path)
    run = runner.playbook(os.path.join(REPO, "playbooks", "relay.yml"), inventory=inventory, timeout=300)
    run.assert_ok()
    return runner, inventory, roots


def test_check_reports_drift_and_writes_nothing(relay_fleet, tmp_path):
    runner, inventory, roots = relay_fleet
    main_cf = roots / "relay-b" / "etc" / "postfix" / "main.cf"
    assert main_cf.exists()
    with open(str(main_cf), "a") as f:
        f.write("relayhost = [old-smarthost.contoso.test]:25\n")
    before = snapshot(roots)

    for check in (False, True):
        report_dir = tmp_path / ("report-check" if check else "report-normal")
        run = runner.playbook(os.path.join(REPO, "playbooks", "check.yml"), inventory=inventory, check=check,
                              timeout=300, env={"MAILFLEET_REPORT_DIR": str(report_dir)})
        run.assert_ok()
        assert snapshot(roots) == before, "check.yml wrote a file (check=%s)" % check
        with open(str(report_dir / "report.json")) as f:
            report = json.load(f)
        drift = dict((h["host"], h["drift"]) for h in report["hosts"])
        assert drift["relay-a"]["checked"] and not drift["relay-a"]["changed"], drift
        assert drift["relay-b"]["changed"] and drift["relay-b"]["files"] == ["/etc/postfix/main.cf"], drift
        assert report["summary"]["drift_hosts"] == ["relay-b"]
        assert sorted(b["host"] for b in report["basic_auth"]) == ["relay-a", "relay-b"]
        assert all(h["status"] == "ok" for h in report["hosts"]), report["hosts"]
        xml = (report_dir / "report.xml").read_text()
        assert 'message="configuration drift: /etc/postfix/main.cf"' in xml
        assert "relay-lab-password" not in run.all_output() + (report_dir / "report.json").read_text()
