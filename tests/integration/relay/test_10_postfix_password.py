"""relay, mode submission + password, through real Postfix to the lab (AUTH LOGIN after STARTTLS).

Also the host state (testinfra), idempotency and check-mode prediction.
"""

import pytest
import testinfra

pytestmark = [pytest.mark.timeout(400)]

ALICE = "alice@contoso.test"


@pytest.fixture
def password_vars(rh):
    def make(lab, **extra):
        return rh.relay_vars(lab, relay_auth_method="password", relay_username=ALICE,
                             relay_password="alice-lab-password", **extra)
    return make


def apply_result(run):
    found = [r for r in run.results(action="mailfleet.outlook.mail_config") if "changed_files" in r]
    assert len(found) == 1, run.describe()
    return found[0]


def test_password_mode_relays_as_the_mailbox_over_tls(lab, run_relay, rh, password_vars):
    run = run_relay(password_vars(lab)).assert_ok()
    warnings = apply_result(run).get("settings_warnings") or []
    assert any("relay_auth_method=password" in w and "2026" in w for w in warnings), warnings
    subject = rh.unique("pw")
    rh.sendmail(subject, sender="cron@vm.example", extra_headers="X-Test: 1\n")
    got = lab.wait_for_messages(1, timeout=60, subject=subject)
    assert len(got) == 1, "message did not arrive"
    m = got[0]
    assert m["endpoint"] == "submission"
    assert m["user"] == ALICE and m["auth_mechanism"] == "LOGIN"
    assert m["mail_from"] == ALICE and m["header_from"] == [ALICE]
    assert m["tls_version"] in ("TLSv1.2", "TLSv1.3")
    assert m["rcpt_tos"] == ["bob@contoso.test"]


def test_host_state(lab, run_relay, password_vars):
    run_relay(password_vars(lab)).assert_ok()
    host = testinfra.get_host("local://")
    assert host.process.filter(comm="master"), "Postfix master not running"
    listening = [s for s in host.socket.get_listening_sockets() if s.endswith(":25")]
    assert sorted(listening) == ["tcp://127.0.0.1:25", "tcp://::1:25"], listening

    def postconf(name):
        return host.check_output("postconf -h %s" % name)

    assert postconf("inet_interfaces") == "loopback-only"
    assert postconf("mydestination") == ""
    assert postconf("relayhost") == "[localhost]:%d" % lab.ports["submission"]
    assert postconf("smtp_tls_security_level") == "secure"
    assert postconf("smtp_tls_CAfile") == lab.ca_file
    assert postconf("smtp_tls_mandatory_protocols") == ">=TLSv1.2"
    assert postconf("smtp_tls_protocols") == ">=TLSv1.2"
    assert postconf("smtp_sasl_security_options") == "noanonymous"
    assert postconf("smtp_sasl_auth_enable") == "yes"
    assert postconf("smtp_destination_rate_delay") == "2s"
    assert postconf("sender_canonical_maps") == "regexp:/etc/postfix/sender_canonical"
    assert postconf("local_transport").startswith("error:")
    for name in ("/etc/postfix/sasl_passwd", "/etc/postfix/sasl_passwd.db"):
        f = host.file(name)
        assert f.exists and f.user == "root" and f.group == "root" and f.mode == 0o600, name
    main = host.file("/etc/postfix/main.cf")
    assert main.mode == 0o644 and not main.contains("alice-lab-password")
    assert host.run("postmap -q '[localhost]:%d' hash:/etc/postfix/sasl_passwd" % lab.ports["submission"]).rc == 0
    assert host.package("libsasl2-modules").is_installed


def test_second_run_changes_nothing(lab, run_relay, password_vars):
    import time
    t0 = time.monotonic()
    first = run_relay(password_vars(lab)).assert_ok()
    t1 = time.monotonic()
    again = run_relay(password_vars(lab)).assert_ok()
    t2 = time.monotonic()
    assert again.stats["localhost"]["changed"] == 0, again.describe()
    assert apply_result(again)["changed"] is False
    print("idempotency: run 1 ok=%(ok)s changed=%(changed)s" % first.stats["localhost"],
          "in %.1fs; run 2 ok=%s changed=%s in %.1fs" % (t1 - t0, again.stats["localhost"]["ok"],
                                                         again.stats["localhost"]["changed"], t2 - t1))


def test_check_mode_predicts_exactly_what_the_real_run_changes(lab, run_relay, password_vars):
    run_relay(password_vars(lab)).assert_ok()
    changed = password_vars(lab, relay_rate_delay="3s", relay_forward_local_to="ops@contoso.test")
    predicted = apply_result(run_relay(changed, check=True, diff=True).assert_ok())
    assert predicted["changed_files"] == ["/etc/postfix/main.cf", "/etc/postfix/recipient_canonical"]
    real = apply_result(run_relay(changed).assert_ok())
    assert real["changed_files"] == predicted["changed_files"]
    # and back: the option's file goes away again
    back = apply_result(run_relay(password_vars(lab)).assert_ok())
    assert back["changed_files"] == ["/etc/postfix/main.cf", "/etc/postfix/recipient_canonical"]
    assert not testinfra.get_host("local://").file("/etc/postfix/recipient_canonical").exists


def test_ipv4_only_restarts_postfix_on_loopback_v4(lab, run_relay, password_vars):
    run_relay(password_vars(lab)).assert_ok()
    run = run_relay(password_vars(lab, relay_ipv4_only=True)).assert_ok()
    host = testinfra.get_host("local://")
    assert host.check_output("postconf -h inet_protocols") == "ipv4"
    listening = [s for s in host.socket.get_listening_sockets() if s.endswith(":25")]
    assert listening == ["tcp://127.0.0.1:25"], listening
    assert "RUNNING HANDLER [mailfleet.outlook.relay : Restart Postfix for new listening addresses (no service " \
        "manager)] ***\nchanged: [localhost]" in run.stdout, run.describe()
    run_relay(password_vars(lab)).assert_ok()
    listening = [s for s in host.socket.get_listening_sockets() if s.endswith(":25")]
    assert sorted(listening) == ["tcp://127.0.0.1:25", "tcp://::1:25"], listening


def test_image_root_writes_files_only(lab, run_relay, rh, password_vars, tmp_path):
    before = rh.snapshot()
    root = tmp_path / "image"
    run_relay(password_vars(lab, relay_root=str(root), relay_postfix_map_type="hash")).assert_ok()
    assert rh.snapshot() == before
    assert "relayhost = [localhost]" in (root / "etc/postfix/main.cf").read_text()
    assert (root / "etc/postfix/sasl_passwd.db").exists()  # postmap is installed here (see test_15_image_root)


def test_role_repairs_postfix_chroot_files(lab, run_relay, rh, password_vars):
    """A Postfix left running with an empty chroot (e.g. after a package reinstall) cannot resolve the
    upstream; the role syncs the chroot files like the init script does, and mail flows again."""
    import os
    import shutil
    chroot_etc = "/var/spool/postfix/etc"
    if not os.path.exists("/usr/lib/postfix/configure-instance.sh"):
        pytest.skip("not a Debian Postfix")
    run_relay(password_vars(lab)).assert_ok()
    for name in os.listdir(chroot_etc):
        path = os.path.join(chroot_etc, name)
        shutil.rmtree(path) if os.path.isdir(path) else os.unlink(path)
    run_relay(password_vars(lab)).assert_ok()
    assert os.path.exists(os.path.join(chroot_etc, "hosts"))
    subject = rh.unique("chroot")
    rh.sendmail(subject)
    assert len(lab.wait_for_messages(1, timeout=60, subject=subject)) == 1
