# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The namespace fleet: five hosts, each a network namespace with its own sshd, reached by ansible-playbook
over SSH with a key generated here, and a lab listening on the bridge address the namespaces route to.

    good     reaches everything
    blocked  outbound 25 and 587 dropped (and the lab's stand-ins for them): the probe sees a timeout
    refused  outbound 587 (and the lab's submission port) rejected with a TCP reset: the probe sees refused
    badcert  its SMTP endpoint is the lab's self-signed port: the probe sees an untrusted certificate
    offline  a namespace with no sshd: Ansible itself cannot reach it

Skipped, with the reason, only where network namespaces cannot be created (not root, no iproute2/sshd).
Everything created (namespaces, veths, bridge, /etc/netns entries, sshd and lab processes) is removed at
teardown, also when a test fails.
"""

import importlib.util
import os

import pytest

from mailfleet_testing import running_in_ci

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
LAB_NAME = "lab.fleet.test"


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


netns_fleet = _load("mailfleet_netns_fleet", os.path.join(REPO, "scripts", "netns_fleet.py"))

HOSTS = [
    {"name": "good"},
    {"name": "blocked"},
    {"name": "refused"},
    {"name": "badcert"},
    {"name": "offline", "sshd": False},
]


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    ok, why = netns_fleet.namespaces_supported()
    if not ok:
        if running_in_ci():  # on the CI machine it must run
            pytest.fail("namespace fleet test cannot run in CI: %s" % why)
        pytest.skip("namespace fleet test skipped: %s" % why)
    missing = netns_fleet.missing_programs()
    if missing:   # namespaces work here, so the test must run: install scripts/apt-packages.txt (make deps)
        pytest.fail("namespace fleet test cannot run: missing %s" % ", ".join(missing))
    from mailfleet_lab.pytest_plugin import LabHandle  # the lab's own fixture code (lab/ is on sys.path)

    work = tmp_path_factory.mktemp("fleet")
    f = netns_fleet.Fleet(str(work / "net"), HOSTS, lab_name=LAB_NAME)
    lab = None
    try:
        gateway = f.up_network()
        lab = LabHandle({"bind_extra": [gateway], "extra_names": [LAB_NAME],
                         "connector": {"client_ips": ["127.0.0.1"] + [h["address"] for h in f.hosts]}},
                        state_dir=str(work / "lab"), any_ports=True).start()
        ports = lab.ports
        # The lab's stand-ins for 587 and 25 are its submission and connector ports: block both the real
        # port numbers and the lab's.
        by_name = dict((h["name"], h) for h in f.hosts)
        by_name["blocked"]["firewall"] = {"action": "drop", "ports": [25, 587, ports["submission"], ports["connector"]]}
        by_name["refused"]["firewall"] = {"action": "reject", "ports": [587, ports["submission"]]}
        f.up_hosts()
        yield {"fleet": f, "lab": lab, "work": work, "gateway": gateway}
    finally:
        try:
            if lab is not None:
                lab.stop()
        finally:
            f.down()


@pytest.fixture(scope="module")
def fleet_inventory(fleet):
    lab = fleet["lab"]
    ports = lab.ports
    submission = {"smtp_host": LAB_NAME, "smtp_port": ports["submission"], "ca_file": lab.ca_file,
                  "imap_host": LAB_NAME, "imap_port": ports["imap"], "imap_security": "tls",
                  "pop_host": LAB_NAME, "pop_port": ports["pop"], "pop_security": "tls"}
    group_vars = {
        "reachability_profile": "lab",
        "reachability_settings": submission,
        "reachability_timeout": 4,
        "reachability_include_incoming": True,
        "reachability_extra_endpoints": [
            {"name": "connector", "host": LAB_NAME, "port": ports["connector"], "security": "starttls", "required": False},
        ],
        # a relay that still uses password auth against the lab profile (which emulates Microsoft 365)
        "relay_profile": "lab",
        "relay_auth_method": "oauth2",
    }
    host_vars = {
        "badcert": {"reachability_settings": dict(submission, smtp_port=ports["cert_self_signed"])},
        "refused": {"relay_auth_method": "password"},
    }
    return fleet["fleet"].inventory(group="fleet", host_vars=host_vars, group_vars=group_vars)
