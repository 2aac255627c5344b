# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Mail senders configured the way their packages (and the admins following their documentation) do it, into a
directory that plays a host's / (the ``root`` of mail_senders_facts, or the upper layer of a namespace host's /etc
and /home): never by this collection.

- Postfix: the package's /usr/share/postfix/main.cf.debian and master.cf.dist, then ``postconf -c DIR -e`` and
  ``postmap`` (what Debian's postinst and the Postfix documentation do).
- Exim4: the exim4-config package's files, update-exim4.conf.conf written by the *package's own postinst code*
  (its write_header function and its awk program, taken from the .deb), then the package's update-exim4.conf run
  against it (in a private mount namespace whose /etc is an overlay of this directory: nothing on the machine
  changes), and the package's exim4 binary asked what its smarthost transport and router say (``-bP``).
- nullmailer: /etc/nullmailer/remotes written by the package postinst's own sed program from a debconf-shaped
  relayhost answer, mode 0600 like the postinst.
- dma: the package's /usr/share/dma/dma.conf with the postinst's own SMARTHOST sed, the documented keywords
  uncommented, and the package's auth.conf (0640 root:mail) with an entry.
- OpenSMTPD: the package's /etc/smtpd.conf with a relay action, checked by the package's ``smtpd -n``.
- msmtp: its documented files, checked with ``msmtp --pretend``.
"""

import os
import re
import shutil
import subprocess

from mailfleet_testing import debs

OPAQUE = "trusted.overlay.opaque"


def run(argv, env=None, timeout=60, input_text=None):
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout, check=False, input=input_text)
    if proc.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(argv), proc.returncode, (proc.stderr or proc.stdout).strip()[-1500:]))
    return proc


def write(root, path, text, mode=0o644, uid=0, gid=0):
    full = os.path.join(root, path.lstrip("/"))
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "w") as f:
        f.write(text)
    os.chmod(full, mode)
    os.chown(full, uid, gid)
    return full


def user_id(root, name, kind="passwd"):
    for line in open(os.path.join(root, "etc", kind)):
        fields = line.split(":")
        if fields[0] == name:
            return int(fields[2])
    raise KeyError(name)


def base_etc(root, users=(), groups=()):
    """root/etc/passwd and group: this machine's, plus ``users`` [(name, uid, home)] and ``groups`` [(name, gid)]."""
    os.makedirs(os.path.join(root, "etc"), exist_ok=True)
    passwd = open("/etc/passwd").read()
    group = open("/etc/group").read()
    for name, uid, home in users:
        passwd += "%s:x:%d:%d::%s:/bin/sh\n" % (name, uid, uid, home)
        group += "%s:x:%d:\n" % (name, uid)
        full = os.path.join(root, home.lstrip("/"))
        os.makedirs(full, exist_ok=True)
        os.chown(full, uid, uid)
        os.chmod(full, 0o750)
    for name, gid in groups:
        group += "%s:x:%d:\n" % (name, gid)
    write(root, "/etc/passwd", passwd)
    write(root, "/etc/group", group)


def age(path, seconds=120):
    """Postfix programs wait ~2 s after main.cf changed; date a freshly written configuration like a host's."""
    import time
    past = time.time() - seconds
    for dirpath, unused_dirs, files in os.walk(path):
        for name in files:
            os.utime(os.path.join(dirpath, name), (past, past), follow_symlinks=False)


def private_etc_argv(root, argv, work):
    """``argv`` in a private mount namespace where /etc is an overlay: this machine's /etc below, root/etc on top."""
    os.makedirs(work, exist_ok=True)
    script = ('set -e; mount -t overlay overlay -o "lowerdir=/etc,upperdir=$1,workdir=$2" /etc; shift 2; exec "$@"')
    return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script, "sh",
            os.path.join(root, "etc"), work] + list(argv)


# ----------------------------------------------------------------------------------------------- Postfix

def postfix(root, relayhost, user=None, password=None, level="secure", ca_file=None, extra=()):
    etc = os.path.join(root, "etc", "postfix")
    os.makedirs(etc, exist_ok=True)
    shutil.copyfile("/usr/share/postfix/main.cf.debian", os.path.join(etc, "main.cf"))
    shutil.copyfile("/usr/share/postfix/master.cf.dist", os.path.join(etc, "master.cf"))
    settings = ["relayhost = %s" % relayhost, "smtp_tls_security_level = %s" % level]
    if ca_file:
        settings.append("smtp_tls_CAfile = %s" % ca_file)
    if user:
        settings += ["smtp_sasl_auth_enable = yes", "smtp_sasl_password_maps = hash:/etc/postfix/sasl_passwd",
                     "smtp_sasl_security_options = noanonymous"]
        write(root, "/etc/postfix/sasl_passwd", "%s %s:%s\n" % (relayhost, user, password), mode=0o600)
        run(["postmap", "-c", etc, "hash:%s" % os.path.join(etc, "sasl_passwd")])
    run(["postconf", "-c", etc, "-e"] + settings + list(extra))
    age(etc)
    return os.path.join(etc, "main.cf")


# ----------------------------------------------------------------------------------------------- Exim4

def exim4_ue4cc(root, answers, work):
    """update-exim4.conf.conf as exim4-config's postinst writes it from debconf answers (its own code, run with /etc
    being the private overlay, so that the file says /etc/exim4/update-exim4.conf.conf like on a host)."""
    pkg = debs.unpacked("exim4-config")
    postinst = open(os.path.join(pkg["control"], "postinst")).read()
    header = re.search(r"^write_header\(\) \{\n.*?^\}\n", postinst, re.S | re.M).group(0)
    awk = re.search(r"\tawk '\n(.*?)' < \$\{UE4CC\} > \$\{UE4CC\}\.tmp", postinst, re.S).group(1)
    directives = re.search(r'\tdc_directives="([^"]+)"', postinst).group(1).split()
    path = os.path.join(root, "etc", "exim4", "update-exim4.conf.conf")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    script = ("set -e\nUE4CC=\"$1\"\n%s\nwrite_header\nfor variable in ${dc_directives} ; do\n\techo \"${variable}=\"\n"
              "done >> $UE4CC\nawk '\n%s' < ${UE4CC} > ${UE4CC}.tmp\nmv ${UE4CC}.tmp $UE4CC\n" % (header, awk))
    env = dict(os.environ, dc_directives=" ".join(directives))
    for name in directives:
        env[name] = answers.get(name, "")
    run(private_etc_argv(root, ["sh", "-c", script, "sh", "/etc/exim4/update-exim4.conf.conf"], work), env=env)
    shutil.rmtree(work, ignore_errors=True)
    return path


def exim4(root, smarthost, user=None, password=None, macros=(), work=None):
    """The exim4-config package's /etc/exim4, debconf answers for a smarthost, passwd.client, local macros; then
    update-exim4.conf generates Exim's configuration and exim4 -bP reports its smarthost transport and router."""
    pkg = debs.unpacked("exim4-config")
    exim = debs.unpacked("exim4-daemon-light")
    shutil.copytree(os.path.join(pkg["root"], "etc", "exim4"), os.path.join(root, "etc", "exim4"), dirs_exist_ok=True)
    exim_gid = 199
    for kind, line in (("group", "Debian-exim:x:%d:\n" % exim_gid),
                       ("passwd", "Debian-exim:x:%d:%d::/var/spool/exim4:/usr/sbin/nologin\n" % (exim_gid, exim_gid))):
        path = os.path.join(root, "etc", kind)
        if "Debian-exim:" not in open(path).read():
            with open(path, "a") as f:
                f.write(line)
    if not os.path.exists(os.path.join(root, "etc", "mailname")):
        write(root, "/etc/mailname", "host.example\n")
    work = work or os.path.join(os.path.dirname(root.rstrip("/")), os.path.basename(root.rstrip("/")) + ".overlay-work")
    path = exim4_ue4cc(root, {"dc_eximconfig_configtype": "smarthost", "dc_smarthost": smarthost,
                              "dc_local_interfaces": "127.0.0.1 ; ::1", "dc_minimaldns": "false", "dc_use_split_config": "false",
                              "CFILEMODE": "644", "dc_mailname_in_oh": "true", "dc_localdelivery": "mail_spool"}, work)
    if user:
        # the package's passwd.client (its comments) plus one line; 0640 root:Debian-exim like the package
        target = os.path.join(root, "etc", "exim4", "passwd.client")
        with open(target, "a") as f:
            f.write("%s:%s:%s\n" % (smarthost.split("::")[0], user, password))
        os.chmod(target, 0o640)
        os.chown(target, 0, exim_gid)
    if macros:
        write(root, "/etc/exim4/exim4.conf.localmacros", "".join("%s\n" % m for m in macros))
    out_dir = os.path.join(root, "var", "lib", "exim4")
    os.makedirs(out_dir, exist_ok=True)
    out = os.path.join(out_dir, "config.autogenerated")
    sbin = os.path.join(pkg["root"], "usr", "sbin")
    env = dict(os.environ, PATH=sbin + ":" + os.environ.get("PATH", ""))
    run(private_etc_argv(root, ["sh", os.path.join(sbin, "update-exim4.conf"), "-o", out], work), env=env)
    shutil.rmtree(work, ignore_errors=True)
    binary = os.path.join(exim["root"], "usr", "sbin", "exim4")
    transport = run(private_etc_argv(root, [binary, "-C", out, "-bP", "transport", "remote_smtp_smarthost"], work)).stdout
    shutil.rmtree(work, ignore_errors=True)
    router = run(private_etc_argv(root, [binary, "-C", out, "-bP", "router", "smarthost"], work)).stdout
    shutil.rmtree(work, ignore_errors=True)
    options = dict(re.findall(r"^\s*(\w+) = (.*)$", transport + router, re.M))
    return {"file": path, "exim_options": options}


# ----------------------------------------------------------------------------------------------- nullmailer

def nullmailer(root, relayhost_answer):
    """/etc/nullmailer/remotes from the debconf answer ``host smtp --port=...`` (':' separates remotes), with the
    package postinst's own sed program, 0600 mail:mail."""
    pkg = debs.unpacked("nullmailer")
    postinst = open(os.path.join(pkg["control"], "postinst")).read()
    sed = re.search(r'echo "\$RET" \| (sed -r .*?) > /etc/nullmailer/remotes', postinst, re.S).group(1)
    out = run(["sh", "-c", 'echo "$RET" | ' + sed], env=dict(os.environ, RET=relayhost_answer)).stdout
    mail_uid, mail_gid = user_id(root, "mail"), user_id(root, "mail", "group")
    return write(root, "/etc/nullmailer/remotes", out, mode=0o600, uid=mail_uid, gid=mail_gid)


# ----------------------------------------------------------------------------------------------- dma

def dma(root, smarthost, port=None, securetransfer=False, starttls=False, user=None, password=None):
    pkg = debs.unpacked("dma")
    postinst = open(os.path.join(pkg["control"], "postinst")).read()
    sed = re.search(r"sed -i -re '(s@\^\[\[:space:\]\]\*\(#\+\[\[:space:\]\]\*\)\?SMARTHOST.*?@SMARTHOST )'\"\$RET@\"", postinst).group(1)
    text = open(os.path.join(pkg["root"], "usr", "share", "dma", "dma.conf")).read()
    path = write(root, "/etc/dma/dma.conf", text, mode=0o640, gid=user_id(root, "mail", "group"))
    run(["sed", "-i", "-re", sed + smarthost + "@", path])
    edits = []
    if port:
        edits.append("s@^#PORT 25$@PORT %d@" % port)
    if securetransfer:
        edits.append("s@^#SECURETRANSFER$@SECURETRANSFER@")
    if starttls:
        edits.append("s@^#STARTTLS$@STARTTLS@")
    if user:
        edits.append("s@^#AUTHPATH /etc/dma/auth.conf$@AUTHPATH /etc/dma/auth.conf@")
        auth = os.path.join(root, "etc", "dma", "auth.conf")
        shutil.copyfile(os.path.join(pkg["root"], "etc", "dma", "auth.conf"), auth)
        with open(auth, "a") as f:
            f.write("%s|%s:%s\n" % (user, smarthost, password))
        os.chmod(auth, 0o640)
        os.chown(auth, 0, user_id(root, "mail", "group"))
    for edit in edits:
        run(["sed", "-i", "-e", edit, path])
    return path


# ----------------------------------------------------------------------------------------------- OpenSMTPD

def opensmtpd(root, url, secrets=None, options="", work=None):
    """The package's /etc/smtpd.conf with ``action "relay" relay host URL [auth <secrets>]``; smtpd -n checks it."""
    pkg = debs.unpacked("opensmtpd")
    text = open(os.path.join(pkg["root"], "etc", "smtpd.conf")).read()
    action = 'action "relay" relay host %s' % url
    if secrets:
        text = text.replace("table aliases file:/etc/aliases\n", "table aliases file:/etc/aliases\ntable secrets file:/etc/smtpd/secrets\n")
        action += " auth <secrets>"
        write(root, "/etc/smtpd/secrets", "".join("%s %s:%s\n" % s for s in secrets), mode=0o640,
              gid=user_id(root, "mail", "group"))
    if options:
        action += " " + options
    assert 'action "relay" relay\n' in text
    text = text.replace('action "relay" relay\n', action + "\n")
    path = write(root, "/etc/smtpd.conf", text)
    if not os.path.exists(os.path.join(root, "etc", "aliases")):
        write(root, "/etc/aliases", "postmaster: root\n")
    work = work or os.path.join(os.path.dirname(root.rstrip("/")), os.path.basename(root.rstrip("/")) + ".overlay-work")
    check = run(private_etc_argv(root, [os.path.join(pkg["root"], "usr", "sbin", "smtpd"), "-n", "-f", "/etc/smtpd.conf"], work))
    shutil.rmtree(work, ignore_errors=True)
    assert "configuration OK" in check.stdout + check.stderr
    return path


# ----------------------------------------------------------------------------------------------- msmtp

def msmtp(root, path, text, mode=0o600, uid=0, gid=0, work=None, account=None):
    """An msmtp file (system or a user's), checked with msmtp --pretend (in the private /etc overlay)."""
    full = write(root, path, text, mode=mode, uid=uid, gid=gid)
    if account:
        work = work or os.path.join(os.path.dirname(root.rstrip("/")), os.path.basename(root.rstrip("/")) + ".overlay-work")
        out = run(private_etc_argv(root, ["msmtp", "--pretend", "-C", full, "-a", account], work))
        shutil.rmtree(work, ignore_errors=True)
        return full, dict(re.findall(r"^(\w[\w ]*?) = (.*)$", out.stdout, re.M))
    return full, None


# ----------------------------------------------------------------------------------------------- test guards

def require_private_etc():
    """The package tools run in a private mount namespace with an overlay /etc (root, unshare, overlayfs): a
    missing capability fails the test with its fix (mailfleet_testing.capabilities)."""
    from mailfleet_testing.capabilities import require
    require("overlay-private-etc")


def package_files():
    """The Debian packages' files (mailfleet_testing.debs); without apt-get download the test fails with the fix."""
    import pytest
    from mailfleet_testing.capabilities import require
    require("apt-download-mtas")
    try:
        return debs.all_unpacked()
    except debs.DebUnavailable as err:
        pytest.fail("cannot take files from Debian packages: %s" % err, pytrace=False)
