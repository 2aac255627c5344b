# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Real proxies from Debian's packages, started by tests (never as system services), and a corporate network.

- ``Dante``: ``danted`` (dante-server) as a SOCKS5 proxy, with the ``none`` or the ``username`` method (RFC 1929,
  checked against the system password file: ``unix_user(password=...)`` makes the account) and ``socks block``
  rules for destination ports (SOCKS reply 0x02).
- ``Tinyproxy``: ``tinyproxy`` (tinyproxy-bin) as an HTTP proxy with CONNECT, ``BasicAuth`` and ``ConnectPort``
  (HTTP 403 for other ports).
- ``CorporateNetwork``: two network namespaces on a bridge (scripts/netns_fleet.py): ``proxy`` runs the proxies and
  resolves the lab's name; ``corp`` (the probing host) has nftables dropping every packet to the lab and does not know
  the lab's name, so a probe from ``corp`` succeeds only through a proxy that resolves the name.

Every process is started with Popen and stopped (then waited for) by ``stop()``; ``down()`` removes the namespaces,
links and /etc/netns entries. Nothing outlives a test.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def _load_netns_fleet():
    spec = importlib.util.spec_from_file_location("mailfleet_netns_fleet_proxies", REPO / "scripts" / "netns_fleet.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


netns_fleet = _load_netns_fleet()


@contextlib.contextmanager
def unix_user(password=None, prefix="mfpx", home=False):
    """A fresh unix user (no login shell; a home directory when ``home``), with ``password`` when given; removed
    (with its home) afterwards. Yields its ``pwd`` entry."""
    name = "%s%s" % (prefix, uuid.uuid4().hex[:8])
    subprocess.run(["useradd", "--create-home" if home else "--no-create-home", "--shell", "/usr/sbin/nologin", name],
                   check=True, capture_output=True, timeout=60)
    try:
        if password is not None:
            # chpasswd reads "user:password" on stdin: the password never appears in a process list
            subprocess.run(["chpasswd"], input="%s:%s\n" % (name, password), text=True, check=True,
                           capture_output=True, timeout=60)
        yield pwd.getpwnam(name)
    finally:
        subprocess.run(["userdel"] + (["--remove"] if home else []) + [name], capture_output=True, timeout=60,
                       check=False)


def wait_listening(host, port, timeout=10.0, netns=None):
    """Wait until ``host:port`` accepts TCP (inside ``netns`` when given)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if netns:
            probe = subprocess.run(["ip", "netns", "exec", netns, "python3", "-c",
                                    "import socket; socket.create_connection((%r, %d), 1).close()" % (host, port)],
                                   capture_output=True, timeout=10, check=False)
            if probe.returncode == 0:
                return
        else:
            try:
                socket.create_connection((host, port), 1).close()
                return
            except OSError:
                pass
        time.sleep(0.1)
    raise RuntimeError("nothing listens on %s:%d after %.0fs" % (host, port, timeout))


class _Daemon:
    """A proxy process in the foreground (Popen), in a network namespace or not."""

    program = None

    def __init__(self, workdir, listen, port, netns=None):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.listen = listen
        self.port = port
        self.netns = netns
        self.proc = None
        self.log = self.workdir / ("%s-%d.log" % (self.program, port))

    def argv(self):
        raise NotImplementedError

    def start(self):
        prefix = ["ip", "netns", "exec", self.netns] if self.netns else []
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(prefix + self.argv(), stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         start_new_session=True)
        try:
            wait_listening(self.listen, self.port, netns=self.netns)
        except RuntimeError:
            self.stop()
            raise RuntimeError("%s did not start: %s" % (self.program, self.log.read_text(errors="replace")[-2000:]))
        return self

    def stop(self):
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None

    @property
    def url_host(self):
        return "[%s]" % self.listen if ":" in self.listen else self.listen


class Dante(_Daemon):
    """danted: SOCKS5 on ``listen:port``, leaving through ``external`` (an address); ``username=True`` requires the
    RFC 1929 username method (system accounts); ``blocked``: (address, port) destinations refused by rule."""

    program = "danted"

    def __init__(self, workdir, listen, port, external, username=False, blocked=(), netns=None):
        _Daemon.__init__(self, workdir, listen, port, netns)
        self.external = external
        self.username = username
        self.blocked = list(blocked)
        self.config = self.workdir / ("danted-%d.conf" % port)

    def argv(self):
        method = "username" if self.username else "none"
        rules = ["socks block { from: 0.0.0.0/0 to: %s/32 port = %d log: error }" % (addr, port)
                 for addr, port in self.blocked]
        self.config.write_text("\n".join([
            "logoutput: %s" % self.log,
            "internal: %s port = %d" % (self.listen, self.port),
            "external: %s" % self.external,
            "socksmethod: %s" % method,
            "clientmethod: none",
            "user.privileged: root",
            "user.unprivileged: nobody",
            "timeout.connect: 30",
            "client pass { from: 0.0.0.0/0 to: 0.0.0.0/0 log: error }",
        ] + rules + ["socks pass { from: 0.0.0.0/0 to: 0.0.0.0/0 log: error }", ""]), encoding="utf-8")
        return ["/usr/sbin/danted", "-f", str(self.config), "-N", "1", "-p", str(self.workdir / ("danted-%d.pid" % self.port))]

    def url(self, scheme="socks5h", user=None):
        return "%s://%s%s:%d" % (scheme, user + "@" if user else "", self.url_host, self.port)


class Tinyproxy(_Daemon):
    """tinyproxy: HTTP CONNECT on ``listen:port``; ``credentials``: (user, password) for BasicAuth;
    ``connect_ports``: the only destination ports CONNECT may reach (others get 403)."""

    program = "tinyproxy"

    def __init__(self, workdir, listen, port, credentials=None, connect_ports=(), netns=None):
        _Daemon.__init__(self, workdir, listen, port, netns)
        self.credentials = credentials
        self.connect_ports = list(connect_ports)
        self.config = self.workdir / ("tinyproxy-%d.conf" % port)

    def argv(self):
        lines = ["User nobody", "Group nogroup", "Port %d" % self.port, "Listen %s" % self.listen, "Timeout 30",
                 "MaxClients 100", "LogLevel Info", "LogFile \"%s\"" % self.log]
        if self.credentials:
            lines.append("BasicAuth %s %s" % self.credentials)
        lines += ["ConnectPort %d" % port for port in self.connect_ports]
        self.config.write_text("\n".join(lines) + "\n", encoding="utf-8")
        os.chmod(self.config, 0o600)
        # tinyproxy appends to its log as the unprivileged user
        self.log.touch()
        shutil.chown(self.log, "nobody", "nogroup")
        return [shutil.which("tinyproxy") or "/usr/bin/tinyproxy", "-d", "-c", str(self.config)]

    def url(self, user=None):
        return "http://%s%s:%d" % (user + "@" if user else "", self.url_host, self.port)


class CorporateNetwork:
    """Namespaces ``proxy`` and ``corp`` on a bridge whose gateway address (in the root namespace) the lab binds.

    ``corp`` drops every packet to the gateway (the lab) and knows only the proxy's name (``proxy_name``); ``proxy``
    knows the lab's name (``lab_name``). ``drop_behind_proxy``: destination ports on the gateway the proxy namespace
    drops (a black hole behind the proxy). ``drop_to_proxy``: ports of the proxy address the corp namespace drops.
    """

    def __init__(self, workdir, lab_name="lab.corp.test", proxy_name="proxy.corp.test"):
        self.workdir = Path(workdir)
        self.lab_name = lab_name
        self.proxy_name = proxy_name
        self.fleet = netns_fleet.Fleet(str(self.workdir / "net"), [{"name": "proxy", "sshd": False},
                                                                   {"name": "corp", "sshd": False}], lab_name=lab_name)
        self.gateway = None

    def up_network(self):
        self.gateway = self.fleet.up_network()
        return self.gateway

    def up_hosts(self, drop_behind_proxy=(), drop_to_proxy=()):
        self.fleet.up_hosts()
        proxy, corp = self.address("proxy"), self.address("corp")
        # corp: no name for the lab (a network without outside DNS), a name for the proxy
        corp_hosts = Path("/etc/netns") / self.ns("corp") / "hosts"
        corp_hosts.write_text("127.0.0.1\tlocalhost\n%s\tcorp\n%s\t%s\n" % (corp, proxy, self.proxy_name))
        rules = ["    ip daddr %s drop" % self.gateway]
        rules += ["    ip daddr %s tcp dport %d drop" % (proxy, port) for port in drop_to_proxy]
        self.nft("corp", "mailfleet_corp", rules)
        if drop_behind_proxy:
            self.nft("proxy", "mailfleet_behind",
                     ["    ip daddr %s tcp dport %d drop" % (self.gateway, port) for port in drop_behind_proxy])

    def nft(self, host, table, rules):
        text = "table inet %s {\n  chain output {\n    type filter hook output priority 0; policy accept;\n%s\n  }\n}\n" % (
            table, "\n".join(rules))
        netns_fleet.run("ip", "netns", "exec", self.ns(host), "nft", "-f", "-", input_text=text)

    def ns(self, host):
        return self.fleet.ns({"name": host})

    def address(self, host):
        return [h for h in self.fleet.hosts if h["name"] == host][0]["address"]

    def exec_argv(self, host):
        return ["ip", "netns", "exec", self.ns(host)]

    def down(self):
        self.fleet.down()


class Site:
    """What ``corporate_site()`` set up: ``net``, ``lab``, ``gateway``, ``proxy_name``, the proxies (``socks``
    without authentication, ``socks_auth`` with the username method, ``web`` HTTP CONNECT with Basic auth), the
    proxy account (``proxy_user``, ``proxy_password``) and the ports used for the failure cases."""

    def __init__(self, **fields):
        self.__dict__.update(fields)

    def socks_url(self, scheme="socks5h", port=None, user=None):
        return "%s://%s%s:%d" % (scheme, user + "@" if user else "", self.proxy_name, port or self.socks.port)

    def web_url(self, user=None, port=None):
        return "http://%s%s:%d" % (user + "@" if user else "", self.proxy_name, port or self.web.port)


def _free_port(address):
    sock = socket.socket()
    sock.bind((address, 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


@contextlib.contextmanager
def corporate_site(workdir, proxy_password, lab_config=None, web_user="mailprobe"):
    """The corporate network, a lab on its gateway and the three proxies; everything removed on exit.

    - ``socks`` (Dante, :1080, no authentication) refuses the lab's connector port by rule (reply 0x02);
    - ``socks_auth`` (Dante, :1081, RFC 1929 username/password of a unix account made here);
    - ``web`` (tinyproxy, :3128, Basic auth ``web_user`` / ``proxy_password``) allows CONNECT only to the lab's
      submission, IMAP and POP ports and to ``closed_port``;
    - ``black_hole_port``: the proxy namespace drops packets to it (a destination black-holed behind the proxy);
    - ``dropped_proxy_port``: the corp namespace drops packets to it on the proxy (the proxy itself black-holed);
    - ``closed_port``: nothing listens there on the gateway (refused, seen from the proxy).
    """
    from mailfleet_lab.pytest_plugin import LabHandle  # pylint: disable=import-outside-toplevel

    workdir = Path(workdir)
    net = CorporateNetwork(workdir)
    with contextlib.ExitStack() as stack:
        stack.callback(net.down)
        gateway = net.up_network()
        config = {"bind_extra": [gateway], "extra_names": [net.lab_name]}
        config.update(lab_config or {})
        lab = LabHandle(config, state_dir=str(workdir / "lab"), any_ports=True).start()
        stack.callback(lab.stop)
        black_hole, dropped, closed = _free_port(gateway), 1099, _free_port(gateway)
        net.up_hosts(drop_behind_proxy=[black_hole], drop_to_proxy=[dropped])
        proxy_address = net.address("proxy")
        account = stack.enter_context(unix_user(password=proxy_password))
        ns = net.ns("proxy")
        socks = Dante(workdir / "proxies", proxy_address, 1080, proxy_address,
                      blocked=[(gateway, lab.ports["connector"])], netns=ns).start()
        stack.callback(socks.stop)
        socks_auth = Dante(workdir / "proxies", proxy_address, 1081, proxy_address, username=True, netns=ns).start()
        stack.callback(socks_auth.stop)
        web = Tinyproxy(workdir / "proxies", proxy_address, 3128, credentials=(web_user, proxy_password),
                        connect_ports=[lab.ports["submission"], lab.ports["imap"], lab.ports["pop"], closed],
                        netns=ns).start()
        stack.callback(web.stop)
        yield Site(net=net, lab=lab, gateway=gateway, lab_name=net.lab_name, proxy_name=net.proxy_name,
                   proxy_address=proxy_address, socks=socks, socks_auth=socks_auth, web=web,
                   proxy_user=account.pw_name, web_user=web_user, proxy_password=proxy_password,
                   black_hole_port=black_hole, dropped_proxy_port=dropped, closed_port=closed)


def namespaces_or_reason():
    """(True, "") when network namespaces and nftables can be used here, else (False, why)."""
    ok, why = netns_fleet.namespaces_supported()
    if ok and not shutil.which("nft"):
        return False, "nft (nftables) is not installed"
    return ok, why
