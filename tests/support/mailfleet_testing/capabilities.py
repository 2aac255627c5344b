"""What the test suite needs from this machine's programs, and which Debian package gives each of it.

One home for this knowledge, used three ways:

* ``make deps`` (``scripts/deps_check.py capabilities``) proves, after installing ``scripts/apt-packages.txt``, that
  every capability works here (``swaks`` can STARTTLS, Postfix's SASL client has LOGIN, ...), and fails with a
  message naming the package when one does not;
* ``make deps-check`` (``scripts/deps_check.py contract``) proves that every package a capability relies on is
  listed in ``scripts/apt-packages.txt`` or pulled in by a listed package's *Depends* (never only by a
  *Recommends*, which the bootstrap does not install), so a package installed by hand on a developer machine
  cannot hide a missing line;
* tests call :func:`require` before they use a feature: a missing one fails with the same message, never with an
  unexplained tool error.

Standard library only: ``make deps`` runs it with the system Python before ``.venv`` exists.
"""

import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

APT_LIST = os.path.join(os.path.dirname(__file__), "..", "..", "..", "scripts", "apt-packages.txt")


class Capability:
    """A feature of a program that the tests use.

    ``argv`` is run (``{tmp}`` is a fresh temporary directory) and its output (stdout and stderr) must match
    ``expect``; ``stdin`` is its input. ``packages`` are the Debian packages that provide the feature. ``files``
    are paths, ``cmd:NAME`` (a program on PATH or in an sbin directory), ``perl:Module::Name`` or ``py:module``
    (for the system ``/usr/bin/python3``) whose owning packages must all be in ``packages``: so a wrong
    ``packages`` entry is caught too. ``root``: the check needs root (the tests that use it run as root).
    """

    def __init__(self, name, what, packages, argv, expect, files=(), stdin=None, root=False, used_by=""):
        self.name = name
        self.what = what
        self.packages = tuple(packages)
        self.argv = tuple(argv)
        self.expect = expect
        self.files = tuple(files)
        self.stdin = stdin
        self.root = root
        self.used_by = used_by

    def hint(self):
        return ("%s: %s. Fix: install %s (make deps installs scripts/apt-packages.txt, which must list %s)"
                % (self.name, self.what, " ".join(self.packages), ", ".join(self.packages)))


SYSTEM_PYTHON = "/usr/bin/python3"

CAPABILITIES = [
    Capability(
        # Debian's swaks only *Recommends* libnet-ssleay-perl: without it, "*** TLS not available"
        "swaks-tls", "swaks speaks STARTTLS and implicit TLS (Perl's Net::SSLeay)",
        ["swaks", "libnet-ssleay-perl"],
        ["swaks", "--support"], r"^=== TLS supported",
        files=["cmd:swaks", "perl:Net::SSLeay"],
        used_by="tests/integration/smtp_check/test_smtp_check_peers.py, bench/bench_smtp_check.py"),
    Capability(
        # LOGIN and PLAIN are swaks's own ("Basic AUTH"; MIME::Base64 is in perl-base); Authen::SASL would only add
        # DIGEST-MD5 and NTLM, which Exchange Online does not offer (AUTH LOGIN XOAUTH2) and no test uses
        "swaks-auth", "swaks authenticates with AUTH LOGIN and PLAIN", ["swaks"],
        ["swaks", "--support"], r"^=== Basic AUTH supported", files=["cmd:swaks"],
        used_by="tests/integration/smtp_check/test_smtp_check_peers.py"),
    Capability(
        "openssl-s_client", "openssl s_client speaks SMTP STARTTLS", ["openssl"],
        ["openssl", "s_client", "-help"], r"-starttls", files=["cmd:openssl"],
        used_by="tests/integration/smtp_check/test_smtp_check_peers.py"),
    Capability(
        "postfix-maps", "Postfix and its hash and texthash maps", ["postfix"],
        ["sh", "-c", 'touch "$1/main.cf" && postconf -c "$1" -m', "postconf", "{tmp}"],
        r"(?ms)^hash$.*^texthash$",
        files=["cmd:postconf", "cmd:postmap", "cmd:postfix", "cmd:postqueue", "cmd:postsuper"],
        used_by="tests/integration/relay/"),
    Capability(
        "postfix-sasl-client", "Postfix's SMTP client has Cyrus SASL with the LOGIN and PLAIN mechanisms",
        ["postfix", "libsasl2-modules", "sasl2-bin"],
        ["sh", "-c", 'touch "$1/main.cf" && postconf -c "$1" -A && saslpluginviewer -c', "sasl", "{tmp}"],
        r"(?s)^cyrus\n.*mechanisms are:\n[^\n]*\bPLAIN\b[^\n]*\bLOGIN\b",
        files=["cmd:saslpluginviewer", "/usr/lib/x86_64-linux-gnu/sasl2/liblogin.so",
               "/usr/lib/x86_64-linux-gnu/sasl2/libplain.so"],
        used_by="tests/integration/relay/ (AUTH LOGIN to the lab)"),
    Capability(
        "msmtp-tls-xoauth2", "msmtp with TLS and the xoauth2 and login methods", ["msmtp"],
        ["msmtp", "--version"], r"(?s)TLS/SSL library: GnuTLS.*Supported authentication methods:\n[^\n]*\blogin\b.*\bxoauth2\b",
        files=["cmd:msmtp"], used_by="tests/integration/relay/, tests/integration/client/, tests/unit/client/"),
    Capability(
        # the relay tests send with mail(1) as a non-root user: it must hand the message to the sendmail program
        # (MAILRC's "set sendmail=" points it at a recorder here, /usr/sbin/sendmail in the tests)
        "mailx-sendmail", "mail(1) (bsd-mailx) hands a message with its Subject to the sendmail program",
        ["bsd-mailx"],
        ["sh", "-c", 'printf "#!/bin/sh\\ncat > %s/out\\n" "$1" > "$1/rec" && chmod +x "$1/rec" '
         '&& echo "set sendmail=$1/rec" > "$1/rc" && echo body | MAILRC="$1/rc" mail -s mf-capability bob@example.test '
         '&& cat "$1/out"', "mailx", "{tmp}"],
        r"^Subject: mf-capability$", files=["cmd:mail", "cmd:bsd-mailx"],
        used_by="tests/integration/relay/test_97_oauth2_queue.py"),
    Capability(
        "neomutt-query", "neomutt reads a config file and prints variables (-Q)", ["neomutt"],
        ["neomutt", "-n", "-F", "/dev/null", "-Q", "ssl_force_tls"], r"ssl_force_tls = (yes|no)", files=["cmd:neomutt"],
        used_by="tests/unit/client/test_client_formats.py"),
    Capability(
        "xmllint-xpath", "xmllint evaluates XPath", ["libxml2-utils"],
        ["xmllint", "--xpath", "string(/a)", "-"], r"^ok$", stdin="<a>ok</a>", files=["cmd:xmllint"],
        used_by="tests/unit/client/test_client_formats.py"),
    Capability(
        "glib-keyfile", "the system Python has GLib.KeyFile (Evolution's .source files)",
        ["python3-gi", "gir1.2-glib-2.0"],
        [SYSTEM_PYTHON, "-c", "import gi; gi.require_version('GLib', '2.0'); from gi.repository import GLib; "
         "k = GLib.KeyFile(); s = '[a]\\nb=c\\n'; k.load_from_data(s, len(s), 0); print(k.get_string('a', 'b'))"], r"^c$",
        files=["py:gi", "/usr/lib/x86_64-linux-gnu/girepository-1.0/GLib-2.0.typelib"],
        used_by="tests/unit/client/test_client_formats.py"),
    Capability(
        "chromium-headless", "headless Chromium renders a page (the report tests)", ["chromium"],
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--user-data-dir={tmp}", "--dump-dom",
         "data:text/html,<p id=mf>mailfleet</p>"], r'<p id="mf">mailfleet</p>', files=["cmd:chromium"],
        used_by="tests/unit/report/, tests/integration/fleet/"),
    Capability(
        "openssh-server", "sshd and ssh-keygen for the namespace fleet (sftp-server for Ansible's file transfer)",
        ["openssh-server", "openssh-client", "openssh-sftp-server"],
        # in its own mount namespace with an empty /run: sshd wants /run/sshd, which only a service start creates
        ["unshare", "--mount", "--propagation", "private", "sh", "-c",
         'mount -t tmpfs none /run && mkdir /run/sshd && ssh-keygen -q -t ed25519 -N "" -f "$1/k" '
         '&& /usr/sbin/sshd -t -f /dev/null -h "$1/k" && test -x /usr/lib/openssh/sftp-server && echo sshd-ok',
         "sshd", "{tmp}"], r"sshd-ok",
        files=["cmd:sshd", "cmd:ssh", "cmd:ssh-keygen", "/usr/lib/openssh/sftp-server"], root=True,
        used_by="tests/integration/fleet/, make demo"),
    Capability(
        "netns-nftables", "network namespaces with nftables rules in them", ["iproute2", "nftables"],
        ["unshare", "--net", "sh", "-c", "ip link set lo up && nft add table inet mailfleet && nft list tables"],
        r"table inet mailfleet", files=["cmd:ip", "cmd:nft", "cmd:ss"], root=True,
        used_by="tests/integration/fleet/, tests/integration/smtp_check/, make demo"),
    Capability(
        # danted -V checks a configuration and exits: the one the proxy tests write (methods none and username,
        # the RFC 1929 username/password method against the system accounts, and a "socks block" rule)
        "dante-socks5", "Dante's danted serves SOCKS5 with the none and username methods and block rules",
        ["dante-server"],
        ["sh", "-c", 'printf "%s\\n" "logoutput: stderr" "internal: 127.0.0.1 port = 1080" "external: lo" '
         '"socksmethod: username none" "clientmethod: none" "user.privileged: root" "user.unprivileged: nobody" '
         '"client pass { from: 0.0.0.0/0 to: 0.0.0.0/0 }" "socks block { from: 0.0.0.0/0 to: 127.0.0.1/32 port = 9 }" '
         '"socks pass { from: 0.0.0.0/0 to: 0.0.0.0/0 }" > "$1/danted.conf" && danted -V -f "$1/danted.conf" '
         '&& echo danted-ok', "danted", "{tmp}"], r"danted-ok", files=["cmd:danted"], root=True,
        used_by="tests/integration/smtp_check/test_proxy_site.py, bench/bench_smtp_check_proxy.py"),
    Capability(
        # BasicAuth (proxy authentication) came with tinyproxy 1.10; ConnectPort restricts CONNECT (403 otherwise)
        "tinyproxy-connect", "tinyproxy (1.10 or later: BasicAuth) for HTTP CONNECT with ConnectPort",
        ["tinyproxy-bin"], ["tinyproxy", "-v"], r"tinyproxy 1\.(1\d|[2-9]\d)\.", files=["cmd:tinyproxy"],
        used_by="tests/integration/smtp_check/test_proxy_site.py"),
    Capability(
        # the discovery tests run the packages' own tools (update-exim4.conf, postinst code) with /etc an overlay of a
        # scratch directory in a private mount namespace, and give each namespace fleet host its own /etc and /home
        "overlay-private-etc", "a private mount namespace (unshare) with an overlayfs over /etc",
        ["util-linux", "mount"],
        ["unshare", "--mount", "--propagation", "private", "sh", "-c",
         'mkdir "$1/u" "$1/w" && echo mine > "$1/u/mailfleet-cap" && mount -t overlay overlay '
         '-o "lowerdir=/etc,upperdir=$1/u,workdir=$1/w" /etc && test -s /etc/passwd && cat /etc/mailfleet-cap',
         "overlay", "{tmp}"], r"^mine$", files=["cmd:unshare", "cmd:mount"], root=True,
        used_by="tests/integration/senders/, tests/integration/fleet/test_senders_fleet.py"),
    Capability(
        # foreign MTAs cannot be installed beside Postfix (they provide mail-transport-agent): the discovery tests
        # take their files from the .deb (apt-get download + dpkg-deb -x into .build/debs), never installing them
        "apt-download-mtas", "apt-get can download exim4, nullmailer, dma and OpenSMTPD (not installed) and dpkg-deb unpack them",
        ["apt", "dpkg"],
        ["sh", "-c", 'cd "$1" && apt-get download -q --print-uris exim4-config exim4-daemon-light nullmailer dma opensmtpd '
         '&& dpkg-deb --version', "apt", "{tmp}"],
        r"(?s)(?=.*exim4-config_)(?=.*exim4-daemon-light_)(?=.*nullmailer_)(?=.*\bdma_)(?=.*opensmtpd_).*Debian 'dpkg-deb'",
        files=["cmd:apt-get", "cmd:dpkg-deb"],
        used_by="tests/integration/senders/, tests/integration/fleet/test_senders_fleet.py (mailfleet_testing.debs)"),
    Capability(
        # ansible.builtin.apt needs python3-apt on the target, in check mode too (adopt.yml --check runs the relay role)
        "python-apt", "the system Python has apt_pkg (ansible.builtin.apt)", ["python3-apt"],
        [SYSTEM_PYTHON, "-c", "import apt_pkg; apt_pkg.init(); print('apt-ok')"], r"^apt-ok$", files=["py:apt_pkg"],
        used_by="tests/integration/fleet/test_senders_fleet.py (adopt.yml --check)"),
    Capability(
        "iptables", "iptables, the namespace fleet's fallback where nft is missing", ["iptables"],
        ["iptables", "--version"], r"iptables v\d", files=["cmd:iptables"], used_by="scripts/netns_fleet.py"),
    Capability(
        "procps", "ps, pgrep and kill for the lab and the demo's process handling", ["procps"],
        ["sh", "-c", "ps -p $$ -o pid= && pgrep --version"], r"pgrep from procps", files=["cmd:ps", "cmd:pgrep", "cmd:kill"],
        used_by="scripts/demo.sh, tests"),
    Capability(
        "python-venv", "the system Python can create virtual environments with pip", ["python3-venv", "python3-pip"],
        [SYSTEM_PYTHON, "-c", "import ensurepip, venv; print('venv-ok')"], r"venv-ok",
        files=["py:ensurepip"], used_by="make venv"),
    Capability(
        "shellcheck", "shellcheck for the scripts (make lint)", ["shellcheck"],
        ["shellcheck", "--version"], r"version: \d", files=["cmd:shellcheck"], used_by="make lint"),
    Capability(
        "ca-bundle", "the system CA bundle", ["ca-certificates"],
        ["sh", "-c", "test -s /etc/ssl/certs/ca-certificates.crt && echo bundle-ok"], r"bundle-ok",
        files=["/usr/sbin/update-ca-certificates"], used_by="the relay role's system_ca_file"),
    Capability(
        "git-rsync", "git and rsync (sanity copies the tracked files)", ["git", "rsync"],
        ["sh", "-c", "git --version && rsync --version"], r"(?s)git version.*rsync\s+version",
        files=["cmd:git", "cmd:rsync"], used_by="make sanity, make build"),
]

BY_NAME = {c.name: c for c in CAPABILITIES}


def _resolve(argv, tmp):
    return [a.replace("{tmp}", tmp) for a in argv]


def probe(cap, timeout=60):
    """Run a capability's check; returns (ok, detail)."""
    if cap.root and os.geteuid() != 0:
        return False, "needs root to check"
    tmp = tempfile.mkdtemp(prefix="mailfleet-cap-")
    try:
        argv = _resolve(cap.argv, tmp)
        env = dict(os.environ, LC_ALL="C", PATH=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
        try:
            p = subprocess.run(argv, input=cap.stdin, capture_output=True, text=True, timeout=timeout, env=env,
                               check=False)
        except FileNotFoundError:
            return False, "%s is not installed" % argv[0]
        except subprocess.TimeoutExpired:
            return False, "%s did not finish within %ds" % (" ".join(argv[:3]), timeout)
        out = (p.stdout or "") + (p.stderr or "")
        if re.search(cap.expect, out, re.M):
            return True, ""
        last = [line for line in out.strip().splitlines() if line.strip()][-3:]
        return False, "%s (exit %d): %s" % (" ".join(argv[:3]), p.returncode, " | ".join(last) or "no output")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


_REQUIRED = {}


def require(name):
    """Fail the calling test with the capability's fix when this machine lacks it (checked once per process)."""
    cap = BY_NAME[name]
    if name not in _REQUIRED:
        _REQUIRED[name] = probe(cap)
    ok, detail = _REQUIRED[name]
    if not ok:
        import pytest
        pytest.fail("missing capability %s (%s)" % (cap.hint(), detail), pytrace=False)


# -- the contract: every package a capability relies on comes from the list ---------------------------------

def listed_packages(path=APT_LIST):
    names = []
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                names.append(line)
    return names


def _dpkg_status():
    """{package: (depends-field, pre-depends, provides, essential, priority)} of the installed packages."""
    out = subprocess.run(["dpkg-query", "-W", "-f",
                          "${db:Status-Abbrev}\t${Package}\t${Depends}\t${Pre-Depends}\t${Provides}\t${Essential}\t"
                          "${Priority}\n"], capture_output=True, text=True, check=True).stdout
    pkgs = {}
    for line in out.splitlines():
        fields = line.split("\t")
        if len(fields) < 7 or not fields[0].startswith("ii"):
            continue
        pkgs[fields[1]] = fields[2:]
    return pkgs


def _names(field):
    """A Depends field as a list of alternatives, each a list of package names (versions and arch dropped)."""
    groups = []
    for group in filter(None, (g.strip() for g in field.split(","))):
        groups.append([re.sub(r"[\s(:].*", "", alt.strip()) for alt in group.split("|")])
    return groups


def depends_closure(roots, pkgs):
    """Installed packages reachable from ``roots`` through Depends and Pre-Depends (never Recommends), plus the
    base system every Debian has (Essential or Priority required)."""
    providers = {}
    for name, (_dep, _pre, provides, _ess, _prio) in pkgs.items():
        for group in _names(provides):
            for virtual in group:
                providers.setdefault(virtual, set()).add(name)
    todo = [p for p in roots if p in pkgs]
    todo += [n for n, f in pkgs.items() if f[3] == "yes" or f[4] == "required"]
    seen = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        dep, pre = pkgs[name][0], pkgs[name][1]
        for group in _names(dep) + _names(pre):
            for alt in group:
                for real in ([alt] if alt in pkgs else []) + sorted(providers.get(alt, ())):
                    if real not in seen:
                        todo.append(real)
    return seen


def _locate(spec):
    """The file behind a ``files`` entry, or None when it is not there."""
    kind, rest = spec.split(":", 1) if not spec.startswith("/") else ("", spec)
    if kind == "cmd":
        return shutil.which(rest, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
    if kind == "perl":
        p = subprocess.run(["perl", "-M" + rest, "-e", 'print $INC{"%s.pm"}' % rest.replace("::", "/")],
                           capture_output=True, text=True, check=False)
        return p.stdout.strip() or None if p.returncode == 0 else None
    if kind == "py":
        p = subprocess.run([SYSTEM_PYTHON, "-c", "import %s, os; print(os.path.dirname(%s.__file__) "
                            "if %s.__file__.endswith('__init__.py') else %s.__file__)" % ((rest,) * 4)],
                           capture_output=True, text=True, check=False)
        return p.stdout.strip() or None if p.returncode == 0 else None
    return spec if glob.glob(spec) else None


def owners(path):
    """The packages that own ``path`` (dpkg -S; a symlinked program is followed to its real file too)."""
    found = set()
    candidates = {path, os.path.realpath(path)}
    for c in list(candidates):  # merged /usr: dpkg may know /bin/ip as /bin/ip while PATH finds /usr/sbin/ip
        m = re.match(r"^/usr(/(?:s?bin|lib)/.*)$", c)
        candidates.add(m.group(1) if m else "/usr" + c)
        if m and "/sbin/" in c:
            candidates.add(m.group(1).replace("/sbin/", "/bin/"))
    for candidate in candidates:
        p = subprocess.run(["dpkg-query", "-S", candidate], capture_output=True, text=True, check=False)
        for line in p.stdout.splitlines():
            if ": " in line and not line.startswith("diversion"):
                for name in line.split(": ", 1)[0].split(", "):
                    found.add(name.split(":")[0])
    return found


def contract_problems(apt_list=APT_LIST):
    """Every way the package list fails to give the capabilities (empty when the contract holds)."""
    listed = listed_packages(apt_list)
    pkgs = _dpkg_status()
    closure = depends_closure(listed, pkgs)
    problems = []
    for cap in CAPABILITIES:
        provided = depends_closure(cap.packages, pkgs)
        for pkg in cap.packages:
            if pkg not in pkgs:
                problems.append("%s: package %s is not installed here (run make deps)" % (cap.name, pkg))
            elif pkg not in closure:
                problems.append("%s: package %s is installed here, but %s neither lists it nor pulls it in "
                                "through Depends (a Recommends is not installed on a fresh machine). Fix: add %s "
                                "to %s" % (cap.name, pkg, os.path.relpath(apt_list), pkg, os.path.relpath(apt_list)))
        for spec in cap.files:
            path = _locate(spec)
            if path is None:
                problems.append("%s: %s is not on this machine (run make deps)" % (cap.name, spec))
                continue
            got = owners(path)
            if not got:
                problems.append("%s: %s (%s) belongs to no Debian package: installed by hand?" % (cap.name, spec, path))
            elif not got & provided:
                problems.append("%s: %s (%s) comes from %s, which neither the capability's packages nor their "
                                "Depends give. Fix: add it to the capability's packages "
                                "(tests/support/mailfleet_testing/capabilities.py) and, if needed, to the list"
                                % (cap.name, spec, path, ", ".join(sorted(got))))
            elif not got & closure:
                problems.append("%s: %s comes from %s, which the list does not give" % (cap.name, spec, ", ".join(sorted(got))))
    return problems


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    what = argv[0] if argv else "capabilities"
    if what == "capabilities":
        failed = 0
        for cap in CAPABILITIES:
            ok, detail = probe(cap)
            if ok:
                print("deps: ok      %-20s %s (%s)" % (cap.name, cap.what, ", ".join(cap.packages)))
            else:
                failed += 1
                print("deps: MISSING %s -- %s" % (cap.hint(), detail))
        print("deps: %d of %d capabilities verified" % (len(CAPABILITIES) - failed, len(CAPABILITIES)))
        return 1 if failed else 0
    if what == "contract":
        problems = contract_problems()
        for p in problems:
            print("deps-check: %s" % p)
        if problems:
            print("deps-check: FAILED: %d problem(s); the fresh-machine contract of make test is broken" % len(problems))
            return 1
        print("deps-check: every package behind the %d capabilities is listed in scripts/apt-packages.txt or pulled "
              "in by a listed package's Depends" % len(CAPABILITIES))
        return 0
    print("usage: deps_check.py capabilities|contract", file=sys.stderr)
    return 2
