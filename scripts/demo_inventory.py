# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helper of scripts/demo.sh: writes the demo inventory, then prints the summary and checks the outcome.

    demo_inventory.py --out hosts.json --lab-state state.json [--fleet fleet-inventory.json]
    demo_inventory.py --summary report.json --expect hosts.json --playbook-rc N

The demo fleet (each host says what the demo expects of it in `demo_expect`):
    controller    this machine (local connection) -> the lab on loopback: ok
    hq-mail01     HQ relay, reaches everything: ok
    branch-ws01   branch office whose ISP drops outbound 25 and 587: connect_timeout
    branch-ws02   branch office behind a firewall that rejects 587: connect_refused
    branch-ws03   a branch machine that is switched off (no sshd): unreachable by Ansible
    legacy-app01  legacy site pointed at a relay with a self-signed certificate: cert_untrusted
"""

import argparse
import json
import os
import sys

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))

EXPECT = {
    "controller": ("ok", "ok"),
    "hq-mail01": ("ok", "ok"),
    "branch-ws01": ("failing", "connect_timeout"),
    "branch-ws02": ("failing", "connect_refused"),
    "branch-ws03": ("unreachable", "host_unreachable"),
    "legacy-app01": ("failing", "cert_untrusted"),
}
SITES = {"site_hq": ["controller", "hq-mail01"], "site_branch": ["branch-ws01", "branch-ws02", "branch-ws03"],
         "site_legacy": ["legacy-app01"]}


def write_inventory(args):
    with open(args.lab_state) as f:
        lab = json.load(f)
    fleet_hosts = {}
    if args.fleet:
        with open(args.fleet) as f:
            fleet_hosts = json.load(f)["all"]["children"]["fleet"]["hosts"]
    hostvars = {"controller": {"ansible_connection": "local", "ansible_python_interpreter": "/usr/bin/python3",
                               "demo_lab_host": "localhost"}}
    hostvars.update(fleet_hosts)
    children = {}
    for site, names in SITES.items():
        hosts = {}
        for name in names:
            if name in hostvars:
                hv = dict(hostvars[name])
                hv["demo_expect"] = {"status": EXPECT[name][0], "smtp": EXPECT[name][1]}
                hosts[name] = hv
        children[site] = {"hosts": hosts}
    # every site's hosts relay their local mail (rendered under demo_root/<host>, not the live system)
    children["mail_relays"] = {"children": dict((site, {}) for site in SITES)}
    inventory = {"all": {
        "vars": {"demo_lab_host": "lab.fleet.test", "demo_lab_ports": lab["ports"], "demo_lab_ca": lab["ca_file"],
                 "demo_lab_tenant": lab.get("tenant_id"), "demo_root": args.root},
        "children": children,
    }}
    with open(args.out, "w") as f:
        json.dump(inventory, f, indent=1)


def summary(args):
    if not os.path.exists(args.summary):
        print("demo: no report was written (%s); see site.log" % args.summary)
        return 1
    sys.path.insert(0, os.path.join(REPO, ".build"))
    from ansible_collections.mailfleet.outlook.plugins.plugin_utils._fleet_report import summary_line, summary_table

    with open(args.summary) as f:
        report = json.load(f)
    print(summary_line(report))
    print()
    print(summary_table(report))
    if report.get("basic_auth"):
        print()
        print("Still on password (Basic) auth against Microsoft - change before %s:" % report["summary"]["basic_auth_deadline"])
        for b in report["basic_auth"]:
            print("  %-13s %-6s %s" % (b["host"], b["component"], b["fix"]))
    with open(args.expect) as f:
        inventory = json.load(f)
    expected = {}
    for site in inventory["all"]["children"].values():
        for name, hv in site.get("hosts", {}).items():
            expected[name] = hv["demo_expect"]
    got = {}
    for row in report["hosts"]:
        smtp = [c for c in row["endpoints"] if c.get("name") == "smtp"]
        got[row["host"]] = {"status": row["status"], "smtp": smtp[0]["diagnosis"]["code"] if smtp else None}
    wrong = ["%s: expected %s, got %s" % (h, expected[h], got.get(h)) for h in sorted(expected) if got.get(h) != expected[h]]
    drift = sorted(report["summary"]["drift_hosts"])
    if drift:
        print()
        print("Configuration drift (would be rewritten by the relay role):")
        for row in report["hosts"]:
            if (row.get("drift") or {}).get("changed"):
                print("  %-13s %s" % (row["host"], ", ".join(row["drift"]["files"])))
    if drift != sorted(args.drift):
        wrong.append("drift: expected %s, got %s" % (sorted(args.drift), drift))
    print()
    if wrong:
        print("demo: NOT as intended:\n  " + "\n  ".join(wrong))
        return 1
    n_ok = sum(1 for v in expected.values() if v["status"] == "ok")
    if n_ok == len(expected):
        print("demo: every host ended as intended (%d ok; check.yml exited %s)" % (n_ok, args.playbook_rc))
    else:
        print("demo: every host ended as intended (%d ok; the failures above are on purpose; check.yml exited %s "
              "because reachability fails the hosts that cannot reach what they need)" % (n_ok, args.playbook_rc))
    return 0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out")
    p.add_argument("--lab-state")
    p.add_argument("--fleet")
    p.add_argument("--root", help="directory under which each host's relay configuration is rendered")
    p.add_argument("--summary")
    p.add_argument("--expect")
    p.add_argument("--playbook-rc", default="?")
    p.add_argument("--drift", action="append", default=[], help="hosts expected to show configuration drift")
    args = p.parse_args()
    if args.summary:
        return summary(args)
    write_inventory(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
