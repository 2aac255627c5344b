# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small fleet of Linux network namespaces, each running its own sshd, for real multi-host runs.

Used by the fleet integration test (tests/integration/fleet/) and by `make demo` (scripts/demo.sh).

Layout (all addresses are private to this machine; nothing is sent anywhere else):

    root namespace: bridge <prefix>br  10.77.N.1/24   <- the lab listens here (bind_extra)
    namespace <prefix>-<host>: eth0    10.77.N.(10+i)/24, lo up, sshd on :22,
                               /etc/netns/<ns>/hosts maps the lab's name to 10.77.N.1,
                               optional nftables rules in its own output chain (drop / reject)

Every namespace shares this machine's file system, so the target Python is /usr/bin/python3. A host may have
``mounts`` of its own (a private mount namespace for its sshd and everything Ansible runs there): an overlay whose
upper layer holds the host's own files (``{"type": "overlay", "target": "/etc", "upper": DIR, "work": DIR}``,
over this machine's /etc) or an empty tmpfs (``{"type": "tmpfs", "target": "/root"}``); nothing outside the
namespace sees them. With an /etc overlay the host's /etc/hosts is written into its upper layer too.

CLI (the demo uses it):
    netns_fleet.py up   --workdir DIR --host NAME[:drop=P,P|:reject=P,P|:nosshd] ... [--lab-name NAME]
    netns_fleet.py down --workdir DIR
`up` writes DIR/fleet.json (what to tear down) and DIR/inventory.json; `down` removes everything `up`
created (namespaces, veths, bridge, /etc/netns entries, sshd processes), also after a partial `up`.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

SSHD = "/usr/sbin/sshd"
TARGET_PYTHON = "/usr/bin/python3"


class FleetError(RuntimeError):
    pass


def run(*argv, check=True, input_text=None, timeout=30):
    proc = subprocess.run(list(argv), input=input_text, capture_output=True, text=True, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise FleetError("%s failed (%d): %s" % (" ".join(argv), proc.returncode, (proc.stderr or proc.stdout).strip()))
    return proc


def namespaces_supported():
    """(True, "") if this process can create a network namespace, else (False, why)."""
    if os.geteuid() != 0:
        return False, "network namespaces need root (ip netns add); this test runs as uid %d" % os.geteuid()
    if not shutil.which("ip"):
        return False, "iproute2 (ip) is not installed"
    probe = "mfprobe%d" % os.getpid()
    proc = run("ip", "netns", "add", probe, check=False)
    if proc.returncode != 0:
        return False, "ip netns add failed: %s" % proc.stderr.strip()
    run("ip", "netns", "del", probe, check=False)
    return True, ""


def missing_programs():
    """Programs the fleet needs besides iproute2 (an empty list when all are there)."""
    missing = [] if os.path.exists(SSHD) else ["%s (openssh-server)" % SSHD]
    missing += [] if shutil.which("ssh-keygen") else ["ssh-keygen (openssh-client)"]
    missing += [] if (shutil.which("nft") or shutil.which("iptables")) else ["nft (nftables) or iptables"]
    return missing


def private_mounts_argv(mounts, argv):
    """``argv`` in a private mount namespace with ``mounts`` (see the module docstring); ``argv`` as is without."""
    if not mounts:
        return list(argv)
    steps = []
    params = []
    for mount in mounts:
        n = len(params)
        if mount["type"] == "overlay":
            os.makedirs(mount["work"], exist_ok=True)
            steps.append('mount -t overlay overlay -o "lowerdir=$%d,upperdir=$%d,workdir=$%d" "$%d"' % (n + 1, n + 2, n + 3, n + 1))
            params += [mount["target"], mount["upper"], mount["work"]]
        elif mount["type"] == "tmpfs":
            steps.append('mount -t tmpfs -o mode=0700 tmpfs "$%d"' % (n + 1))
            params.append(mount["target"])
        else:
            raise FleetError("unknown mount type %r" % mount["type"])
    script = "set -e; %s; shift %d; exec \"$@\"" % ("; ".join(steps), len(params))
    return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script, "sh"] + params + list(argv)


def _used_subnets():
    out = run("ip", "-4", "-o", "addr", "show", check=False).stdout + run("ip", "-4", "route", "show", check=False).stdout
    return out


def pick_subnet():
    used = _used_subnets()
    for third in list(range(77, 256)) + list(range(0, 77)):
        net = "10.77.%d." % third
        if net not in used:
            return ipaddress.ip_network("10.77.%d.0/24" % third)
    raise FleetError("no free 10.77.x.0/24 subnet on this machine")


class Fleet:
    """hosts: [{"name": "good", "firewall": None | {"action": "drop"|"reject", "ports": [25, 587]}, "sshd": True}]"""

    def __init__(self, workdir, hosts, lab_name="lab.fleet.test", prefix=None):
        self.workdir = os.path.abspath(workdir)
        self.hosts = [dict(h) for h in hosts]
        self.lab_name = lab_name
        self.prefix = prefix or ("mf%04x" % (os.getpid() & 0xFFFF))
        self.bridge = self.prefix + "br"
        self.subnet = None
        self.gateway = None
        self.sshd_pids = {}
        self.created = {"netns": [], "links": [], "etc_netns": []}
        self.key = os.path.join(self.workdir, "id_ed25519")

    # ------------------------------------------------------------------ state
    @property
    def state_path(self):
        return os.path.join(self.workdir, "fleet.json")

    def save(self):
        state = {"prefix": self.prefix, "bridge": self.bridge, "subnet": str(self.subnet) if self.subnet else None,
                 "gateway": self.gateway, "lab_name": self.lab_name, "hosts": self.hosts, "sshd_pids": self.sshd_pids,
                 "created": self.created, "key": self.key}
        tmp = self.state_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(state, f, indent=1)
        os.replace(tmp, self.state_path)

    @classmethod
    def load(cls, workdir):
        with open(os.path.join(os.path.abspath(workdir), "fleet.json")) as f:
            st = json.load(f)
        fleet = cls(workdir, st["hosts"], st["lab_name"], st["prefix"])
        fleet.bridge, fleet.gateway, fleet.sshd_pids, fleet.created = st["bridge"], st["gateway"], st["sshd_pids"], st["created"]
        fleet.subnet = ipaddress.ip_network(st["subnet"]) if st["subnet"] else None
        return fleet

    def ns(self, host):
        return "%s-%s" % (self.prefix, host["name"])

    # ------------------------------------------------------------------ up
    def up_network(self):
        """Bridge + gateway address in the root namespace (the lab binds there); returns the gateway."""
        os.makedirs(self.workdir, exist_ok=True)
        self.subnet = pick_subnet()
        hosts_ = list(self.subnet.hosts())
        self.gateway = str(hosts_[0])
        self.save()
        run("ip", "link", "add", self.bridge, "type", "bridge")
        self.created["links"].append(self.bridge)
        self.save()
        run("ip", "addr", "add", "%s/%d" % (self.gateway, self.subnet.prefixlen), "dev", self.bridge)
        run("ip", "link", "set", self.bridge, "up")
        for i, host in enumerate(self.hosts):
            host["address"] = str(hosts_[9 + i])
        self.save()
        return self.gateway

    def up_hosts(self):
        self._ssh_material()
        for i, host in enumerate(self.hosts):
            self._up_host(i, host)
        for host in self.hosts:
            if host.get("sshd", True):
                self._wait_ssh(host)
        self.save()

    def up(self):
        try:
            self.up_network()
            self.up_hosts()
        except BaseException:
            self.down()
            raise
        return self

    def _ssh_material(self):
        if not os.path.exists(self.key):
            run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "mailfleet-fleet-controller", "-f", self.key)
        hostkey = os.path.join(self.workdir, "ssh_host_ed25519_key")
        if not os.path.exists(hostkey):
            run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "mailfleet-fleet-host", "-f", hostkey)
        shutil.copyfile(self.key + ".pub", os.path.join(self.workdir, "authorized_keys"))
        os.chmod(os.path.join(self.workdir, "authorized_keys"), 0o600)
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)

    def _up_host(self, i, host):
        ns = self.ns(host)
        veth_root, veth_ns = "%sv%d" % (self.prefix, i), "%sp%d" % (self.prefix, i)
        run("ip", "netns", "add", ns)
        self.created["netns"].append(ns)
        self.save()
        run("ip", "link", "add", veth_root, "type", "veth", "peer", "name", veth_ns)
        self.created["links"].append(veth_root)
        self.save()
        run("ip", "link", "set", veth_root, "master", self.bridge)
        run("ip", "link", "set", veth_root, "up")
        run("ip", "link", "set", veth_ns, "netns", ns)
        nse = ("ip", "netns", "exec", ns)
        run(*nse, "ip", "link", "set", "lo", "up")
        run(*nse, "ip", "link", "set", veth_ns, "name", "eth0")
        run(*nse, "ip", "addr", "add", "%s/%d" % (host["address"], self.subnet.prefixlen), "dev", "eth0")
        run(*nse, "ip", "link", "set", "eth0", "up")
        # per-namespace /etc/hosts (ip netns exec bind-mounts /etc/netns/<ns>/* over /etc/*)
        etc = os.path.join("/etc/netns", ns)
        os.makedirs(etc, exist_ok=True)
        self.created["etc_netns"].append(etc)
        self.save()
        hosts_text = ("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
                      "%s\t%s %s\n%s\t%s\n" % (host["address"], host["name"], ns, self.gateway, self.lab_name))
        with open(os.path.join(etc, "hosts"), "w") as f:
            f.write(hosts_text)
        for mount in host.get("mounts") or []:
            if mount["type"] == "overlay" and mount["target"] == "/etc":   # overlayfs shows the lower /etc/hosts
                with open(os.path.join(mount["upper"], "hosts"), "w") as f:
                    f.write(hosts_text)
        fw = host.get("firewall")
        if fw:
            self.firewall(host, fw["action"], fw["ports"])
        if host.get("sshd", True):
            self._start_sshd(host)

    def firewall(self, host, action, ports):
        """Drop (the probe sees a timeout) or reject with a TCP reset (the probe sees refused) outbound ports."""
        ns = self.ns(host)
        verdict = {"drop": "drop", "reject": "reject with tcp reset"}[action]
        ports = sorted(set(int(p) for p in ports))
        if shutil.which("nft"):
            rules = ("table inet mailfleet_isp {\n  chain output {\n    type filter hook output priority 0; policy accept;\n"
                     "    tcp dport { %s } %s\n  }\n}\n" % (", ".join(map(str, ports)), verdict))
            run("ip", "netns", "exec", ns, "nft", "-f", "-", input_text=rules)
        elif shutil.which("iptables"):
            target = ["-j", "DROP"] if action == "drop" else ["-j", "REJECT", "--reject-with", "tcp-reset"]
            for port in ports:
                run("ip", "netns", "exec", ns, "iptables", "-A", "OUTPUT", "-p", "tcp", "--dport", str(port), *target)
        else:
            raise FleetError("neither nft nor iptables is installed")
        host["firewall"] = {"action": action, "ports": ports}

    def _start_sshd(self, host):
        ns = self.ns(host)
        cfg = os.path.join(self.workdir, "sshd-%s.conf" % host["name"])
        with open(cfg, "w") as f:
            f.write("\n".join([
                "Port 22", "ListenAddress %s" % host["address"],
                "HostKey %s" % os.path.join(self.workdir, "ssh_host_ed25519_key"),
                "PidFile %s" % os.path.join(self.workdir, "sshd-%s.pid" % host["name"]),
                "AuthorizedKeysFile %s" % os.path.join(self.workdir, "authorized_keys"),
                "PermitRootLogin prohibit-password", "PubkeyAuthentication yes", "PasswordAuthentication no",
                "KbdInteractiveAuthentication no", "UsePAM no", "StrictModes no", "PrintMotd no", "UseDNS no",
                "MaxStartups 50:30:100", "MaxSessions 50", "LogLevel ERROR",
                "Subsystem sftp internal-sftp", ""]))
        log = open(os.path.join(self.workdir, "sshd-%s.log" % host["name"]), "ab")
        argv = private_mounts_argv(host.get("mounts") or [], [SSHD, "-D", "-e", "-f", cfg])
        proc = subprocess.Popen(["ip", "netns", "exec", ns] + argv,
                                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        log.close()
        self.sshd_pids[host["name"]] = proc.pid
        self.save()

    def _wait_ssh(self, host, timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((host["address"], 22), timeout=1) as s:
                    if s.recv(64).startswith(b"SSH-"):
                        return
            except OSError:
                pass
            time.sleep(0.1)
        log = os.path.join(self.workdir, "sshd-%s.log" % host["name"])
        raise FleetError("sshd in %s did not answer on %s:22: %s" % (self.ns(host), host["address"],
                                                                     open(log).read()[-1000:] if os.path.exists(log) else ""))

    # ------------------------------------------------------------------ inventory
    def inventory(self, group="fleet", host_vars=None, group_vars=None):
        hosts = {}
        for host in self.hosts:
            hv = {
                "ansible_host": host["address"], "ansible_user": "root", "ansible_port": 22,
                "ansible_connection": "ssh",
                "ansible_ssh_private_key_file": self.key,
                "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
                                           "-o ControlMaster=no -o ControlPath=none -o ConnectTimeout=5 -o LogLevel=ERROR",
                "ansible_python_interpreter": TARGET_PYTHON,
                "ansible_pipelining": True,
            }
            hv.update((host_vars or {}).get(host["name"], {}))
            hosts[host["name"]] = hv
        return {"all": {"children": {group: {"hosts": hosts, "vars": dict(group_vars or {})}}}}

    def write_inventory(self, **kw):
        path = os.path.join(self.workdir, "inventory.json")
        with open(path, "w") as f:
            json.dump(self.inventory(**kw), f, indent=1)
        return path

    # ------------------------------------------------------------------ down
    def down(self):
        """Remove everything up() created; safe to call twice and after a partial up()."""
        errors = []
        for name, pid in list(self.sshd_pids.items()):
            try:
                os.killpg(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            except OSError as e:
                errors.append("sshd %s: %s" % (name, e))
        for name, pid in list(self.sshd_pids.items()):
            for dummy in range(50):
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                try:
                    if os.waitpid(pid, os.WNOHANG)[0] == pid:
                        break
                except ChildProcessError:
                    pass
                time.sleep(0.05)
            else:
                try:
                    os.killpg(pid, signal.SIGKILL)
                except OSError:
                    pass
            self.sshd_pids.pop(name, None)
        for ns in reversed(self.created["netns"]):
            proc = run("ip", "netns", "del", ns, check=False)
            if proc.returncode != 0 and "No such file" not in proc.stderr:
                errors.append(proc.stderr.strip())
        self.created["netns"] = []
        for link in reversed(self.created["links"]):
            # veth peers vanish with their namespace; the bridge goes last
            if run("ip", "link", "show", link, check=False).returncode == 0:
                proc = run("ip", "link", "del", link, check=False)
                # a veth may vanish between show and del (its namespace is being removed): not an error
                if proc.returncode != 0 and "Cannot find device" not in proc.stderr:
                    errors.append(proc.stderr.strip())
        self.created["links"] = []
        for etc in self.created["etc_netns"]:
            shutil.rmtree(etc, ignore_errors=True)
        self.created["etc_netns"] = []
        if os.path.isdir(self.workdir):
            self.save()
        if errors:
            raise FleetError("teardown: " + "; ".join(errors))


def _parse_host(spec):
    name, *opts = spec.split(":")
    host = {"name": name, "sshd": True, "firewall": None}
    for opt in opts:
        if opt == "nosshd":
            host["sshd"] = False
        elif "=" in opt:
            action, ports = opt.split("=", 1)
            host["firewall"] = {"action": action, "ports": [int(p) for p in ports.split(",") if p]}
    return host


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up")
    up.add_argument("--workdir", required=True)
    up.add_argument("--host", action="append", required=True, help="NAME[:drop=P,P][:reject=P,P][:nosshd]")
    up.add_argument("--lab-name", default="lab.fleet.test")
    up.add_argument("--network-only", action="store_true", help="only the bridge (print the gateway); then `hosts`")
    hosts = sub.add_parser("hosts", help="after `up --network-only`: create the namespaces and sshd")
    hosts.add_argument("--workdir", required=True)
    down = sub.add_parser("down")
    down.add_argument("--workdir", required=True)
    check = sub.add_parser("check", help="exit 0 if namespaces can be created here")
    args = parser.parse_args(argv)
    if args.cmd == "check":
        ok, why = namespaces_supported()
        if ok and missing_programs():
            ok, why = False, "missing: " + ", ".join(missing_programs())
        print("ok" if ok else why)
        return 0 if ok else 1
    if args.cmd == "up":
        fleet = Fleet(args.workdir, [_parse_host(h) for h in args.host], args.lab_name)
        try:
            print(fleet.up_network())
            if not args.network_only:
                fleet.up_hosts()
                fleet.write_inventory()
        except BaseException:
            fleet.down()
            raise
        return 0
    if args.cmd == "hosts":
        fleet = Fleet.load(args.workdir)
        try:
            fleet.up_hosts()
        except BaseException:
            fleet.down()
            raise
        fleet.write_inventory()
        return 0
    if args.cmd == "down":
        if not os.path.exists(os.path.join(args.workdir, "fleet.json")):
            return 0
        Fleet.load(args.workdir).down()
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
