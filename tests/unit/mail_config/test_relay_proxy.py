"""relay_proxy: Postfix cannot use a proxy (the error names the variable and the way out); msmtp gets a SOCKS5 proxy,
read back by msmtp itself."""

import os
import shutil
import subprocess

import pytest

from mailfleet_testing import format_planner

pytestmark = pytest.mark.timeout(60)

SETTINGS = {"username": "relay@contoso.com", "auth_method": "password"}


def plan(formats, proxy, tmp_path):
    args = {"format": list(formats), "profile": "microsoft365", "settings": SETTINGS,
            "vars": dict({"proxy": proxy, "secret_dir": str(tmp_path / "secret")},
                         **({"postfix_dir": str(tmp_path / "postfix")} if "postfix_relay" in formats
                            else {"config_path": str(tmp_path / "msmtprc")})),
            "secrets": {"password": "relay-canary-pw"}, "var_prefix": "relay_", "template_dir": None, "root": "/",
            "backup": False, "reload": False, "validate_only": False}
    return format_planner()._plan(args, {})  # pylint: disable=protected-access


def error(formats, proxy, tmp_path):
    with pytest.raises(Exception) as err:  # the planner's PlanError
        plan(formats, proxy, tmp_path)
    return str(err.value)


def test_postfix_refuses_a_proxy_and_points_to_a_connector_or_an_inside_relay(tmp_path):
    msg = error(["postfix_relay"], "socks5h://proxy.branch.example:1080", tmp_path)
    assert msg.startswith("relay_proxy: Postfix's SMTP client cannot go through a SOCKS or HTTP proxy")
    for words in ("relay_mode=connector", "relay_mode=custom", "relay_smtp_host", "relay_mta=msmtp"):
        assert words in msg


@pytest.mark.parametrize("proxy,words", [
    ("http://proxy:3128", "msmtp speaks SOCKS5 only"),
    ("socks5h://probe@proxy:1080", "cannot authenticate to a SOCKS proxy"),
    ("socks5h://probe:relay-canary-in-url@proxy:1080", "carries a password"),
])
def test_msmtp_relay_refusals(tmp_path, proxy, words):
    msg = error(["msmtp_relay"], proxy, tmp_path)
    assert msg.startswith("relay_proxy") and words in msg and "relay-canary-in-url" not in msg


@pytest.mark.skipif(not shutil.which("msmtp"), reason="msmtp is not installed (scripts/apt-packages.txt)")
def test_msmtp_relay_socks_proxy_read_back_by_msmtp(tmp_path):
    result = plan(["msmtp_relay"], "socks5h://10.20.30.40:1080", tmp_path)
    conf = str(tmp_path / "msmtprc")
    for entry in result["files"]:  # the config and its password file, as the apply step would write them
        if entry.get("state") == "absent":
            continue
        os.makedirs(os.path.dirname(entry["path"]), exist_ok=True)
        with open(entry["path"], "w", encoding="utf-8") as handle:
            handle.write(result["secret_contents"][entry["path"]] if entry["secret"] else entry["content"])
        os.chmod(entry["path"], 0o600)
    out = subprocess.run(["msmtp", "-C", conf, "--pretend", "bob@example.org"], capture_output=True, text=True,
                         timeout=20, env={"PATH": os.environ["PATH"], "HOME": "/nonexistent"}, check=False)
    assert "proxy host = 10.20.30.40" in out.stdout and "proxy port = 1080" in out.stdout, out.stdout + out.stderr
    assert "host = smtp.office365.com" in out.stdout


def test_no_proxy_renders_no_proxy_lines(tmp_path):
    result = plan(["msmtp_relay"], None, tmp_path)
    content = [f for f in result["files"] if f["path"] == str(tmp_path / "msmtprc")][0]["content"]
    assert "proxy_host" not in content
