# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A fleet of inventory hosts on this machine (local connection) probing the session lab, for the scale and
ansible-runner tests of check.yml. Each host's outcome follows from its number (``expected``):

    ok          reaches the lab's submission port
    refused     its SMTP port is a closed loopback port: connect_refused
    badcert     the lab's self-signed port: cert_untrusted
    unreachable SSH to a closed loopback port: Ansible cannot reach it
    invalid     invalid settings (smtp_security: bogus): probe_error, nothing probed

Every third host's relay still uses password auth against the lab profile (Basic auth exposure). Sites are the
groups site_a .. site_d.
"""

from mailfleet_testing import TARGET_PYTHON

SITES = ("site_a", "site_b", "site_c", "site_d")


def kind(i):
    if i % 40 == 7:
        return "unreachable"
    if i % 50 == 9:
        return "invalid"
    if i % 20 == 0:
        return "refused"
    if i % 25 == 3:
        return "badcert"
    return "ok"


EXPECTED = {  # kind -> (host status, smtp diagnosis code)
    "ok": ("ok", "ok"),
    "refused": ("failing", "connect_refused"),
    "badcert": ("failing", "cert_untrusted"),
    "unreachable": ("unreachable", "host_unreachable"),
    "invalid": ("failing", "probe_error"),
}


def host_name(i):
    return "ws%03d" % i


def local_fleet(lab, n, closed_port):
    """(inventory dict, {host: kind}) for n hosts."""
    base = {"smtp_host": lab.host, "smtp_port": lab.ports["submission"], "ca_file": lab.ca_file}
    groups = dict((site, {"hosts": {}}) for site in SITES)
    kinds = {}
    for i in range(1, n + 1):
        name = host_name(i)
        k = kinds[name] = kind(i)
        hv = {"ansible_connection": "local", "ansible_python_interpreter": TARGET_PYTHON}
        if k == "refused":
            hv["reachability_settings"] = dict(base, smtp_port=closed_port)
        elif k == "badcert":
            hv["reachability_settings"] = dict(base, smtp_port=lab.ports["cert_self_signed"])
        elif k == "unreachable":
            hv.update({"ansible_connection": "ssh", "ansible_host": "127.0.0.1", "ansible_port": closed_port,
                       "ansible_user": "nobody", "ansible_ssh_common_args": "-o ConnectTimeout=3 -o BatchMode=yes"})
        elif k == "invalid":
            hv["reachability_settings"] = dict(base, smtp_security="bogus")
        if i % 3 == 0:
            hv["relay_auth_method"] = "password"
        groups[SITES[i % len(SITES)]]["hosts"][name] = hv
    inventory = {"all": {"vars": {"reachability_profile": "lab", "reachability_settings": base, "reachability_timeout": 3,
                                  "relay_profile": "lab"},
                         "children": groups}}
    return inventory, kinds


def assert_report_matches(report, kinds):
    hosts = dict((r["host"], r) for r in report["hosts"])
    assert sorted(hosts) == sorted(kinds)
    for name, k in kinds.items():
        status, code = EXPECTED[k]
        row = hosts[name]
        assert row["status"] == status, (name, k, row)
        smtp = [c for c in row["endpoints"] if c["name"] == "smtp"]
        assert smtp and smtp[0]["diagnosis"]["code"] == code, (name, k, row["endpoints"])
        i = int(name[2:])
        assert row["site"] == SITES[i % len(SITES)]
        assert bool(row["basic_auth"]) == (i % 3 == 0), (name, row["basic_auth"])
    s = report["summary"]
    assert s["hosts"] == len(kinds)
    assert s["ok"] == sum(1 for k in kinds.values() if k == "ok")
    assert s["unreachable"] == sum(1 for k in kinds.values() if k == "unreachable")


def essence(report):
    """A report without what differs between two runs of the same fleet (times, addresses, timestamps)."""
    rows = []
    for r in report["hosts"]:
        rows.append((r["host"], r["site"], r["status"], tuple(r["failing_codes"]), len(r["basic_auth"]),
                     tuple((c["name"], c["status"], c["diagnosis"]["code"]) for c in r["endpoints"])))
    summary = dict((k, v) for k, v in report["summary"].items() if k != "days_to_basic_auth_deadline")
    return {"columns": report["columns"], "hosts": rows, "summary": summary}
