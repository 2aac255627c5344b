"""relay_root (image builds) on a build host without Postfix, and a live host without Postfix.

The role runs with ansible-playbook inside a mount namespace whose /usr/sbin is an empty tmpfs (Debian 12 has a
merged /usr: /sbin is /usr/sbin), so neither postmap nor postfix exists for it, as on a build host where Postfix
is not installed. The image is then checked with this machine's real Postfix (`postfix -c <root>/etc/postfix
check`, and a lookup through the map the image's Postfix will read).
"""

import os
import shutil
import subprocess

import pytest

pytestmark = [pytest.mark.timeout(300)]

ALICE = "alice@contoso.test"
PASSWORD = "alice-lab-password"
# /usr/sbin empty for the command that follows (its own mount namespace; the machine's mounts are untouched)
NO_SBIN = ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
           'mount -t tmpfs -o size=1m,mode=0755 mailfleet-no-sbin /usr/sbin && exec "$@"', "no-sbin"]


@pytest.fixture(autouse=True)
def _needs_unshare():
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.fail("these tests need root and unshare (util-linux) to hide /usr/sbin in a mount namespace")
    probe = subprocess.run(NO_SBIN + ["sh", "-c", "! command -v postmap && ! test -e /usr/sbin/postfix"],
                           capture_output=True, text=True, timeout=30, check=False)
    assert probe.returncode == 0, "could not hide /usr/sbin: %s" % (probe.stderr or probe.stdout)


def image_vars(rh, lab, root, **extra):
    return rh.relay_vars(lab, relay_auth_method="password", relay_username=ALICE, relay_password=PASSWORD,
                         relay_root=str(root), relay_manage_service=False, relay_verify=False, **extra)


def image_root(tmp_path):
    """An image directory that has Postfix's own files (master.cf), as an image with the package installed."""
    root = tmp_path / "image"
    (root / "etc/postfix").mkdir(parents=True)
    shutil.copy2("/etc/postfix/master.cf", root / "etc/postfix/master.cf")
    return root


def postfix_check(root):
    """`postfix -c <root>/etc/postfix check` with stderr on a terminal (Postfix prints errors only there)."""
    from ansible_collections.mailfleet.outlook.plugins.module_utils._apply_programs import run_with_tty
    return run_with_tty(["postfix", "-c", str(root / "etc/postfix"), "check"], timeout=60)


def mail_config_result(run):
    found = [r for r in run.results(action="mailfleet.outlook.mail_config") if "changed_files" in r]
    assert len(found) == 1, run.describe()
    return found[0]


def test_image_build_without_postfix_uses_texthash(lab, run_relay, rh, tmp_path):
    before = rh.snapshot()
    root = image_root(tmp_path)
    run = run_relay(image_vars(rh, lab, root), wrapper=NO_SBIN).assert_ok()
    assert rh.snapshot() == before, "the live system changed"
    result = mail_config_result(run)
    assert not [w for w in result.get("warnings") or [] if "not installed" in w], result.get("warnings")
    assert result["post_steps"] == [] and result["skipped_steps"] == [
        "validator postfix check (root is %s)" % root], result["skipped_steps"]
    pf = root / "etc/postfix"
    assert "smtp_sasl_password_maps = texthash:/etc/postfix/sasl_passwd\n" in (pf / "main.cf").read_text()
    assert oct((pf / "sasl_passwd").stat().st_mode & 0o777) == "0o600"
    assert not list(pf.glob("sasl_passwd.*")), "nothing is compiled for a texthash map"
    # the image's Postfix accepts the configuration and finds the credentials in the map as written
    rc, out = postfix_check(root)
    assert rc == 0, out
    upstream = "[localhost]:%d" % lab.ports["submission"]
    q = subprocess.run(["postmap", "-c", str(pf), "-q", upstream, "texthash:%s" % (pf / "sasl_passwd")],
                       capture_output=True, text=True, timeout=30, check=False)
    assert q.returncode == 0 and q.stdout.strip() == "%s:%s" % (ALICE, PASSWORD), (q.returncode, q.stderr)
    # a second build is a no-change run
    again = mail_config_result(run_relay(image_vars(rh, lab, root), wrapper=NO_SBIN).assert_ok())
    assert again["changed_files"] == [] and not again["changed"]


def test_image_build_with_a_compiled_map_and_no_postmap_warns(lab, run_relay, rh, tmp_path):
    root = image_root(tmp_path)
    run = run_relay(image_vars(rh, lab, root, relay_postfix_map_type="hash"), wrapper=NO_SBIN).assert_ok()
    result = mail_config_result(run)
    pf = root / "etc/postfix"
    assert (pf / "sasl_passwd").exists() and not (pf / "sasl_passwd.db").exists()
    assert "smtp_sasl_password_maps = hash:/etc/postfix/sasl_passwd\n" in (pf / "main.cf").read_text()
    assert "post step postmap -c %s hash:%s (postmap is not installed on this host)" % (pf, pf / "sasl_passwd") \
        in result["skipped_steps"], result["skipped_steps"]
    warnings = run.stdout + "\n".join(result.get("warnings") or [])
    for needle in ("postmap is not installed on this build host (package postfix)",
                   "/etc/postfix/sasl_passwd.db missing", "at first boot",
                   "set relay_postfix_map_type to texthash"):
        assert needle in warnings, (needle, run.describe())
    assert PASSWORD not in run.all_output()
    # what the warning tells the image to do makes the image valid
    compile_step = subprocess.run(["postmap", "-c", str(pf), "hash:%s" % (pf / "sasl_passwd")],
                                  capture_output=True, text=True, timeout=30, check=False)
    assert compile_step.returncode == 0, compile_step.stderr
    rc, out = postfix_check(root)
    assert rc == 0, out


def test_image_build_with_postmap_compiles_a_hash_map(lab, run_relay, rh, tmp_path):
    root = image_root(tmp_path)
    result = mail_config_result(run_relay(image_vars(rh, lab, root, relay_postfix_map_type="hash")).assert_ok())
    assert not [w for w in result.get("warnings") or [] if "not installed" in w], result.get("warnings")
    assert (root / "etc/postfix/sasl_passwd.db").exists()
    rc, out = postfix_check(root)
    assert rc == 0, out


def test_bad_map_type_names_the_role_variable(lab, run_relay, rh, tmp_path):
    run = run_relay(image_vars(rh, lab, tmp_path / "image", relay_postfix_map_type="dbm")).assert_failed()
    assert "relay_postfix_map_type: 'dbm' is not a map type for sasl_passwd" in run.stdout, run.describe()
    assert not (tmp_path / "image").exists()


def test_live_host_without_postfix_fails_before_writing(lab, run_relay, rh):
    before = rh.snapshot()
    # a new password: sasl_passwd changes, so both its postmap and `postfix check` would have to run
    variables = rh.relay_vars(lab, relay_auth_method="password", relay_username=ALICE,
                              relay_password=rh.unique("new-password"),
                              relay_myhostname="%s.example" % rh.unique("no-postfix"),
                              relay_manage_service=False, relay_verify=False)
    run = run_relay(variables, wrapper=NO_SBIN).assert_failed()
    failed = [t for t in run.tasks if t["status"] == "failed"]
    assert [t["action"] for t in failed] == ["mailfleet.outlook.mail_config"], run.describe()
    msg = failed[0]["result"]["msg"]
    assert "postmap (package postfix), postfix (package postfix) are not installed on this host" in msg, msg
    assert "nothing was written" in msg and "relay_install_packages" in msg and "relay_root" in msg, msg
    assert "Error executing command" not in msg
    assert rh.snapshot() == before, "a file changed although the apply step failed"
