"""relay modes other than submission+password, each through real Postfix to the lab."""

import pytest

pytestmark = [pytest.mark.timeout(300)]

SENDER = "noreply@contoso.test"


def _one(lab, subject):
    got = lab.wait_for_messages(1, timeout=60, subject=subject)
    assert len(got) == 1, "message %s did not arrive (store: %d messages)" % (subject, len(lab.messages()))
    return got[0]


def test_connector_by_ip(lab, run_relay, rh):
    # the lab's connector accepts 127.0.0.1 by IP (an inbound connector matched by static IP)
    run_relay(rh.relay_vars(lab, relay_mode="connector", relay_mx_host="localhost", relay_sender=SENDER)).assert_ok()
    subject = rh.unique("conn-ip")
    rh.sendmail(subject, sender="nagios@vm.example", to="someone@fabrikam.example")
    m = _one(lab, subject)
    assert m["endpoint"] == "connector" and m["relay_via"] == "ip"
    assert m["user"] is None and m["auth_mechanism"] is None
    assert m["mail_from"] == SENDER and m["header_from"] == [SENDER]
    assert m["rcpt_tos"] == ["someone@fabrikam.example"]
    assert m["tls_version"] in ("TLSv1.2", "TLSv1.3")
    host_postconf = rh.sh("postconf", "-h", "smtp_sasl_auth_enable").stdout.strip()
    assert host_postconf == "no"
    assert rh.sh("test", "-e", "/etc/postfix/sasl_passwd", check=False).returncode != 0


def test_connector_by_certificate(lab_factory, run_relay, rh):
    # only certificate-matched connectors: no client IP is trusted
    lab2 = lab_factory({"connector": {"client_ips": []}})
    cert = lab2.client_certs["relay.contoso.test"]
    run_relay(rh.relay_vars(lab2, relay_mode="connector", relay_mx_host="localhost", relay_sender=SENDER,
                            relay_tls_cert_file=cert["cert"], relay_tls_key_file=cert["key"])).assert_ok()
    subject = rh.unique("conn-cert")
    rh.sendmail(subject, to="someone@fabrikam.example")
    m = _one(lab2, subject)
    assert m["relay_via"] == "certificate" and "relay.contoso.test" in m["client_cert_names"]
    assert m["mail_from"] == SENDER
    assert rh.sh("postconf", "-h", "smtp_tls_cert_file").stdout.strip() == cert["cert"]


def test_direct_send_internal_recipient(lab_factory, run_relay, rh):
    lab2 = lab_factory({"connector": {"client_ips": []}})
    run = run_relay(rh.relay_vars(lab2, relay_mode="direct_send", relay_mx_host="localhost",
                                  relay_sender=SENDER)).assert_ok()
    assert "relay_mode=direct_send" in run.all_output()  # the warning about internal recipients
    subject = rh.unique("direct")
    rh.sendmail(subject, to="bob@contoso.test")
    m = _one(lab2, subject)
    assert m["relay_via"] == "direct_send" and m["mail_from"] == SENDER and m["rcpt_tos"] == ["bob@contoso.test"]


def test_custom_relay_with_auth(lab, run_relay, rh):
    v = rh.relay_vars(lab, relay_profile="custom", relay_mode="custom", relay_smtp_host="localhost",
                      relay_smtp_port=lab.ports["submission"], relay_smtp_security="starttls",
                      relay_auth_method="password", relay_username="relay@contoso.test",
                      relay_password="relay-lab-password", relay_sender="noreply@contoso.test")
    v.pop("relay_token_url")
    run_relay(v).assert_ok()
    subject = rh.unique("custom")
    rh.sendmail(subject, sender="app@vm.example", to="carol@fabrikam.example")
    m = _one(lab, subject)
    # relay@ has SendAs on noreply@: the rewritten sender is accepted
    assert m["user"] == "relay@contoso.test" and m["mail_from"] == "noreply@contoso.test"
    assert m["header_from"] == ["noreply@contoso.test"]
    assert rh.sh("postconf", "-h", "smtp_destination_rate_delay").stdout.strip() == "0s"


def test_display_name_keeps_the_original_sender_visible(lab, run_relay, rh):
    v = rh.relay_vars(lab, relay_auth_method="password", relay_username="alice@contoso.test",
                      relay_password="alice-lab-password", relay_original_sender="display_name")
    run_relay(v).assert_ok()
    subject = rh.unique("dn")
    rh.sendmail(subject, sender='"Cron Daemon" <root@vm.example>')
    m = _one(lab, subject)
    assert m["header_from"] == ["alice@contoso.test"] and m["mail_from"] == "alice@contoso.test"
    assert 'From: "Cron Daemon (root@vm.example)" <alice@contoso.test>' in m["data"]


def test_reply_to_keeps_the_original_sender_reachable(lab, run_relay, rh):
    v = rh.relay_vars(lab, relay_auth_method="password", relay_username="alice@contoso.test",
                      relay_password="alice-lab-password", relay_original_sender="reply_to")
    run_relay(v).assert_ok()
    subject = rh.unique("rt")
    rh.sendmail(subject, sender="Backup Job <backup@vm.example>")
    m = _one(lab, subject)
    assert m["header_from"] == ["alice@contoso.test"] and m["mail_from"] == "alice@contoso.test"
    headers = m["data"].split("\n\n", 1)[0].replace("\r\n", "\n")
    assert "Reply-To: Backup Job <backup@vm.example>" in headers, headers
    assert headers.count("Reply-To:") == 1
