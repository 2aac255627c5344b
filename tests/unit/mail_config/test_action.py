"""mail_config end to end through ansible-playbook, writing under a temporary root (no service touched).

Covers the controller half (settings validation, format registry, templating with the running
ansible-core, user template overrides) and the module half (check/diff, idempotency, secrets).
"""

import os
import stat

import pytest

pytestmark = pytest.mark.timeout(120)

CANARY_PW = "canary-PW-7f3a{{ 1 + 1 }}"
CANARY_CS = "canary-CS-91bd"


def task(root, **over):
    args = {
        "format": ["postfix_relay"],
        "profile": "microsoft365",
        "settings": {"auth_method": "password", "username": "alerts@contoso.com"},
        "secrets": {"password": CANARY_PW},
        "vars": {},
        "root": str(root),
        "var_prefix": "relay_",
    }
    args.update(over)
    return {"name": "apply", "mailfleet.outlook.mail_config": args, "register": "r"}


def play(*tasks):
    return [{"hosts": "localhost", "gather_facts": False, "tasks": list(tasks)}]


def files_under(root):
    out = {}
    for d, _dirs, names in os.walk(root):
        for n in names:
            p = os.path.join(d, n)
            out[os.path.relpath(p, root)] = open(p, "rb").read()
    return out


def test_renders_postfix_relay_and_is_idempotent(run_playbook, tmp_path):
    root = tmp_path / "root"
    # the password comes from a file (untrusted data): its "{{ ... }}" must reach the host verbatim
    pwfile = tmp_path / "pw"
    pwfile.write_text(CANARY_PW)
    t = task(root, secrets={"password": "{{ lookup('ansible.builtin.file', '%s') }}" % pwfile})
    run = run_playbook(play(t), diff=True).assert_ok()
    r = run.result(task="apply")
    assert r["changed"] is True
    assert r["changed_files"] == ["/etc/postfix/main.cf", "/etc/postfix/sasl_passwd",
                                  "/etc/postfix/sender_canonical", "/etc/postfix/smtp_header_checks",
                                  "/etc/postfix/defer_permanent"]
    main = (root / "etc/postfix/main.cf").read_text()
    assert "relayhost = [smtp.office365.com]:587" in main
    assert "smtp_sasl_security_options = noanonymous" in main
    assert "inet_interfaces = loopback-only" in main and "\nmydestination =\n" in main
    assert CANARY_PW not in main
    sasl = root / "etc/postfix/sasl_passwd"
    assert sasl.read_text() == "[smtp.office365.com]:587 alerts@contoso.com:%s\n" % CANARY_PW
    assert stat.S_IMODE(sasl.stat().st_mode) == 0o600
    assert (root / "etc/postfix/sasl_passwd.db").exists()  # postmap ran (postfix is installed here)
    assert any("Basic auth" in w or "Basic authentication" in w for w in r["settings_warnings"])
    again = run_playbook(play(t)).assert_ok()
    assert again.result(task="apply")["changed"] is False
    assert again.stats["localhost"]["changed"] == 0


def test_secrets_never_in_output_even_with_vvv_and_diff(run_playbook, tmp_path):
    root = tmp_path / "root"
    t = task(root, settings={"auth_method": "oauth2", "username": "alerts@contoso.com", "tenant": "contoso.com",
                             "client_id": "11111111-2222-3333-4444-555555555555"},
             format=["msmtp_relay", "oauth2_token_helper"], secrets={"client_secret": CANARY_CS})
    t["mailfleet.outlook.mail_config"]["vars"] = {"secret_dir": "/etc/mailfleet/relay"}
    run = run_playbook(play(t), diff=True, verbosity=3).assert_ok()
    out = run.all_output()
    assert CANARY_CS not in out
    assert "<redacted: " in out
    files = files_under(root)
    holders = sorted(p for p, data in files.items() if CANARY_CS.encode() in data)
    assert holders == ["etc/mailfleet/relay/oauth2.json"]
    assert stat.S_IMODE(os.stat(root / holders[0]).st_mode) == 0o600
    msmtprc = files["etc/msmtprc"].decode()
    assert "auth xoauth2" in msmtprc and "passwordeval" in msmtprc and "tls_starttls on" in msmtprc
    helper = root / "usr/local/libexec/mailfleet/mailfleet-oauth2-token"
    assert stat.S_IMODE(helper.stat().st_mode) == 0o755
    assert "{%" not in helper.read_text()
    # The helper is plain Python (module_utils/_oauth2_token_helper.py) installed behind its shebang line.
    assert helper.read_text().startswith("#!/usr/bin/python3\n# ")


def test_check_mode_predicts_exactly_what_the_real_run_changes(run_playbook, tmp_path):
    root = tmp_path / "root"
    run_playbook(play(task(root))).assert_ok()
    before = files_under(root)
    changed = task(root, vars={"rate_delay": "5s", "ipv4_only": True})
    chk = run_playbook(play(changed), check=True, diff=True).assert_ok().result(task="apply")
    assert files_under(root) == before
    assert chk["changed_files"] == ["/etc/postfix/main.cf"]
    real = run_playbook(play(changed)).assert_ok().result(task="apply")
    assert real["changed_files"] == chk["changed_files"]
    after = files_under(root)
    assert sorted(k for k in after if after[k] != before.get(k)) == ["etc/postfix/main.cf"]


def test_removing_an_option_removes_its_file(run_playbook, tmp_path):
    root = tmp_path / "root"
    run_playbook(play(task(root, vars={"forward_local_to": "ops@contoso.com"}))).assert_ok()
    assert (root / "etc/postfix/recipient_canonical").exists()
    r = run_playbook(play(task(root))).assert_ok().result(task="apply")
    assert "/etc/postfix/recipient_canonical" in r["changed_files"]
    assert not (root / "etc/postfix/recipient_canonical").exists()
    assert "recipient_canonical" not in (root / "etc/postfix/main.cf").read_text()


def test_user_template_dir_overrides_by_name(run_playbook, tmp_path):
    root = tmp_path / "root"
    tdir = tmp_path / "mytemplates" / "postfix_relay"
    tdir.mkdir(parents=True)
    (tdir / "main.cf.j2").write_text("# mine\nrelayhost = [{{ cfg.upstream_host }}]:{{ cfg.upstream_port }}\n")
    run_playbook(play(task(root, template_dir=str(tmp_path / "mytemplates")))).assert_ok()
    assert (root / "etc/postfix/main.cf").read_text() == "# mine\nrelayhost = [smtp.office365.com]:587\n"
    # the files the user did not override still come from the collection
    assert "REPLACE From:" in (root / "etc/postfix/smtp_header_checks").read_text()


@pytest.mark.parametrize("over, needle", [
    ({"format": ["postfix_relay", "nope"]}, "relay_format='nope': not a known format"),
    ({"secrets": {}}, "relay_password: required"),
    ({"vars": {"mode": "connector"}}, "relay_mx_host"),
    ({"vars": {"nonsense": 1}}, "relay_nonsense: not a variable"),
    ({"settings": {"auth_method": "password", "username": "alerts@contoso.com", "smtp_port": 465}}, "relay_smtp_port=465"),
    ({"settings": {"auth_method": "oauth2", "username": "alerts@contoso.com", "tenant": "contoso.com"},
      "secrets": {"client_secret": "x"}}, "relay_client_id"),
    ({"vars": {"mode": "custom"}}, "relay_mode"),
    ({"vars": {"rate_delay": "fast"}}, "relay_rate_delay"),
])
def test_bad_input_fails_before_any_file_is_written(run_playbook, tmp_path, over, needle):
    root = tmp_path / "root"
    run = run_playbook(play(task(root, **over))).assert_failed()
    assert needle in run.result(task="apply")["msg"]
    assert not root.exists()


def test_unwritable_path_fails_before_any_write(run_playbook, tmp_path):
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "postfix").write_text("a file where a directory should be")
    run = run_playbook(play(task(root))).assert_failed()
    assert "not a directory" in run.result(task="apply")["msg"].lower()
    assert sorted(files_under(root)) == ["etc/postfix"]


def test_validate_only_touches_nothing(run_playbook, tmp_path):
    root = tmp_path / "root"
    r = run_playbook(play(task(root, validate_only=True))).assert_ok().result(task="apply")
    assert r["changed"] is False and "/etc/postfix/main.cf" in [f["path"] for f in r["files"]]
    assert not root.exists()


def test_extra_settings_replace_the_roles_own_lines(run_playbook, tmp_path):
    root = tmp_path / "root"
    run_playbook(play(task(root, vars={"extra_settings": {"smtp_destination_rate_delay": "7s",
                                                          "smtp_helo_name": "relay.contoso.test"}}))).assert_ok()
    main = (root / "etc/postfix/main.cf").read_text()
    assert main.count("smtp_destination_rate_delay =") == 1 and "smtp_destination_rate_delay = 7s" in main
    assert "smtp_helo_name = relay.contoso.test" in main


def test_direct_send_warns_about_internal_recipients_only(run_playbook, tmp_path):
    root = tmp_path / "root"
    t = task(root, settings={"auth_method": "none", "mx_host": "contoso-com.mail.protection.outlook.com",
                             "sender": "alerts@contoso.com"}, secrets={}, vars={"mode": "direct_send"})
    r = run_playbook(play(t)).assert_ok().result(task="apply")
    assert any("relay_mode=direct_send" in w and "550 5.7.64" in w for w in r["settings_warnings"])
    main = (root / "etc/postfix/main.cf").read_text()
    assert "relayhost = [contoso-com.mail.protection.outlook.com]:25" in main
    assert "smtp_sasl_auth_enable = no" in main and not (root / "etc/postfix/sasl_passwd").exists()
