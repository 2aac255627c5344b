"""The mail_settings lookup through real ansible: the documented one-liner, errors and warnings."""

import json
import os
import subprocess
import sys

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
BIN = os.path.dirname(sys.executable)


def _env(tmp_path):
    build = tmp_path / "collections" / "ansible_collections" / "mailfleet"
    build.mkdir(parents=True)
    (build / "outlook").symlink_to(REPO)
    env = dict(os.environ)
    env.update({
        "ANSIBLE_COLLECTIONS_PATH": str(tmp_path / "collections"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / "tmp"),
        "ANSIBLE_LOCALHOST_WARNING": "False",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "False",
        "PATH": BIN + os.pathsep + env.get("PATH", ""),
    })
    return env


def _ansible(tmp_path, expr):
    return subprocess.run(
        [os.path.join(BIN, "ansible"), "localhost", "-m", "ansible.builtin.debug", "-a", "msg={{ %s }}" % expr],
        env=_env(tmp_path), capture_output=True, text=True, timeout=120, check=False)


def _msg(stdout):
    return json.loads(stdout[stdout.index("{"):])["msg"]


@pytest.mark.timeout(150)
def test_worldwide_settings_one_liner(tmp_path):
    proc = _ansible(tmp_path, "lookup('mailfleet.outlook.mail_settings', 'microsoft365')")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    msg = _msg(proc.stdout)
    assert msg["smtp"] == {"host": "smtp.office365.com", "port": 587, "security": "starttls"}
    assert msg["imap"]["host"] == "outlook.office365.com" and msg["pop"]["port"] == 995


@pytest.mark.timeout(150)
def test_overrides_and_basic_auth_warning(tmp_path):
    proc = _ansible(tmp_path, "lookup('mailfleet.outlook.mail_settings', 'gcc_high', auth_method='password', "
                              "username='alice@contoso.us', smtp_port='587')")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert _msg(proc.stdout)["smtp"]["host"] == "outlook.office365.us"
    assert "[WARNING]" in proc.stderr and "December 2026" in proc.stderr


@pytest.mark.timeout(150)
def test_465_fails_with_the_reason(tmp_path):
    proc = _ansible(tmp_path, "lookup('mailfleet.outlook.mail_settings', 'microsoft365', smtp_port=465)")
    assert proc.returncode != 0
    assert "smtp_port=465: Microsoft 365 does not support 465; use 587 with STARTTLS" in proc.stdout + proc.stderr


@pytest.mark.timeout(150)
def test_ansible_doc_shows_the_lookup(tmp_path):
    proc = subprocess.run([os.path.join(BIN, "ansible-doc"), "-t", "lookup", "mailfleet.outlook.mail_settings"],
                          env=_env(tmp_path), capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "Returns the effective mail settings" in proc.stdout
    assert "smtp_port" in proc.stdout and "EXAMPLES" in proc.stdout
