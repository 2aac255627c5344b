# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The two token programs as the plain Python files the formats install verbatim: module_utils/_oauth2_token_helper.py
(mailfleet-oauth2-token, client credentials) and module_utils/_oauth2_command.py (mailfleet-oauth2, device code).
Each finds the collection's OAuth2 client in the library_dir of its JSON configuration."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from ansible_collections.mailfleet.outlook.plugins.module_utils import _oauth2, _oauth2_command, _oauth2_token_helper
from mailfleet_lab.pytest_plugin import APP_CLIENT_ID, APP_SECRET

pytestmark = [pytest.mark.timeout(120), pytest.mark.core_independent]

PUBLIC_CLIENT = "22222222-2222-4222-8222-222222222222"  # the lab's public client (lab/README.md)
PROGRAMS = {"helper": _oauth2_token_helper.__file__, "command": _oauth2_command.__file__}


@pytest.fixture
def library_dir(tmp_path):
    """The library as a format installs it: _oauth2.py copied as <library_dir>/mailfleet_oauth2.py."""
    lib = tmp_path / "lib"
    lib.mkdir()
    with open(_oauth2.__file__) as f:
        (lib / "mailfleet_oauth2.py").write_text(f.read())
    return lib


def run(program, *args):
    """The program run as on a host: a bare python3, no collection on its path (only the library_dir it reads)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([sys.executable, "-I", PROGRAMS[program]] + list(args), capture_output=True, text=True,
                          timeout=60, check=False, env=env)


def test_the_helper_imports_the_library_from_its_configuration(lab_factory, library_dir, tmp_path):
    lab = lab_factory({"token": {"lifetime": 600}})
    cfg = tmp_path / "oauth2.json"
    cfg.write_text(json.dumps({"token_url": lab.token_url, "client_id": APP_CLIENT_ID, "client_secret": APP_SECRET,
                               "scope": "https://outlook.office365.com/.default", "ca_file": lab.ca_file,
                               "cache": str(tmp_path / "cache/token.json"), "library_dir": str(library_dir)}))
    first = run("helper", "--config", str(cfg))
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip().count(".") == 2 and APP_SECRET not in first.stdout + first.stderr
    # without library_dir (and without the collection on the path) it says what is missing, in one line
    data = json.loads(cfg.read_text())
    data["library_dir"] = str(tmp_path / "nowhere")
    cfg.write_text(json.dumps(data))
    missing = run("helper", "--config", str(cfg))
    assert missing.returncode == 1 and missing.stdout == ""
    assert missing.stderr.startswith("mailfleet-oauth2-token: mailfleet_oauth2.py not found in ") and "Fix:" in missing.stderr
    assert len(missing.stderr.splitlines()) == 1 and APP_SECRET not in missing.stderr


def test_the_command_signs_in_and_prints_tokens(lab_factory, library_dir, tmp_path):
    lab = lab_factory({"token": {"device_auto_approve": "alice@contoso.test", "device_code_interval": 1}})
    base = lab.token_url.rsplit("/", 1)[0]
    cfg = tmp_path / "oauth2.json"
    cfg.write_text(json.dumps({"login": "alice@contoso.test", "client_id": PUBLIC_CLIENT, "token_url": lab.token_url,
                               "device_code_url": base + "/devicecode", "ca_file": lab.ca_file,
                               "scope": "https://outlook.office.com/SMTP.Send offline_access",
                               "token_store": str(tmp_path / "store/oauth2-token.json"), "library_dir": str(library_dir)}))
    before = run("command", "token", "--config", str(cfg))
    assert before.returncode == 1 and "No sign-in stored for alice@contoso.test" in before.stderr
    login = run("command", "login", "--config", str(cfg))
    assert login.returncode == 0, login.stderr
    assert "Signed in as alice@contoso.test" in login.stderr
    token = run("command", "token", "--config", str(cfg))
    assert token.returncode == 0 and token.stdout.strip().count(".") == 2, token.stderr
    assert oct(os.stat(tmp_path / "store/oauth2-token.json").st_mode & 0o777) == "0o600"


def test_the_command_reports_a_missing_library_in_one_line(tmp_path):
    cfg = tmp_path / "oauth2.json"
    cfg.write_text(json.dumps({"login": "a@b.test", "client_id": "x", "token_url": "https://t", "device_code_url": "https://d",
                               "scope": "s", "token_store": str(tmp_path / "s.json"), "library_dir": str(tmp_path / "nowhere")}))
    r = run("command", "token", "--config", str(cfg))
    assert r.returncode == 1 and r.stderr.startswith("mailfleet-oauth2: mailfleet_oauth2.py not found in ")
    assert len(r.stderr.splitlines()) == 1


def test_in_process_the_collection_copy_is_the_fallback():
    assert _oauth2_token_helper.load_library(None) in (_oauth2, sys.modules.get("mailfleet_oauth2"))
    assert _oauth2_command.load_library(None).fetch_token is not None
