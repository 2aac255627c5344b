# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures shared by every test area (unit and integration).

- ``repo_root``: the checkout (= collection root).
- ``collections_path``: the .build tree holding ansible_collections/mailfleet/outlook -> checkout.
- ``collection_env``: os.environ copy for ansible commands (collection path, no colour, no host key
  checking, no retry files, a per-test ANSIBLE_LOCAL_TEMP, the test JSON callback).
- ``ansible_runner``: a mailfleet_testing.AnsibleRunner bound to that env and the test's tmp_path.
- ``run_playbook(playbook, inventory=None, extra_vars=None, check=False, diff=False, verbosity=0, timeout=240, ...)``
  and ``run_ansible(module, module_args=None, pattern="localhost", ...)``: return an AnsibleRun with
  returncode, stdout, stderr, json ({"tasks": [...], "stats": {...}}), .result(task=...), .assert_ok().

Tests under tests/integration/ get the ``integration`` marker automatically.
The lab's pytest plugin (lab/mailfleet_lab/pytest_plugin.py) is registered here once it exists.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from mailfleet_testing import REPO_ROOT, AnsibleRunner, ensure_collection_link, init_collection_loader, make_env

# Tests import the collection's Python code as ansible_collections.mailfleet.outlook.* (like ansible does),
# through ansible's collection finder, so that in-process rendering finds the collection's filters too.
_COLLECTIONS_PATH = ensure_collection_link()
if str(_COLLECTIONS_PATH) not in sys.path:
    sys.path.insert(0, str(_COLLECTIONS_PATH))
init_collection_loader()

if importlib.util.find_spec("mailfleet_lab") is not None:
    pytest_plugins = ["mailfleet_lab.pytest_plugin"]

_INTEGRATION_DIR = REPO_ROOT / "tests" / "integration"


def pytest_collection_modifyitems(config, items):
    for item in items:
        if _INTEGRATION_DIR in item.path.parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def collections_path() -> Path:
    return _COLLECTIONS_PATH


@pytest.fixture
def collection_env(collections_path, tmp_path) -> dict:
    local_temp = tmp_path / "ansible-local-tmp"
    local_temp.mkdir()
    return make_env(local_temp)


@pytest.fixture
def ansible_runner(collection_env, tmp_path) -> AnsibleRunner:
    return AnsibleRunner(collection_env, tmp_path / "ansible")


@pytest.fixture
def run_playbook(ansible_runner):
    return ansible_runner.playbook


@pytest.fixture
def run_ansible(ansible_runner):
    return ansible_runner.adhoc
