# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures for the smtp_check integration tests.

- ``smtpcheck_lab`` (module scope): a lab of our own (free ports, own state dir) whose config adds what
  the cases need: a canary account, a connector that trusts no IP (relay_denied), a rate limit of 2
  messages per minute (throttled).
- ``module_runner``: an AnsibleRunner (real ansible / ansible-playbook) usable from module-scoped fixtures.
- ``black_hole``: a loopback port whose accept queue is full, so SYNs are dropped (connect_timeout).
"""

from __future__ import annotations

import os
import sys

import pytest

from mailfleet_testing import AnsibleRunner, black_hole_port, ensure_collection_link, make_env

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)
sys.path.insert(1, os.path.join(_HERE, "..", "..", "unit", "smtp_check"))  # smtpcheck_fakes (fuzz servers)

from smtpcheck_itest import CANARY_APP_ID, CANARY_PASSWORD, CANARY_SECRET, RATE_LIMIT, own_lab  # noqa: E402


@pytest.fixture(scope="module")
def smtpcheck_lab(tmp_path_factory):
    config = {
        "accounts": {"canary@contoso.test": {"password": CANARY_PASSWORD, "send_as": []},
                     "ratelimited@contoso.test": {"password": "ratelimited-lab-password", "send_as": []}},
        "connector": {"client_ips": [], "cert_names": ["relay.contoso.test"]},
        "rate_limit": {"messages": RATE_LIMIT, "window_seconds": 60},
        "apps": {CANARY_APP_ID: {
            "name": "canary-app", "secret": CANARY_SECRET, "public_client": False,
            "send_as": ["canary@contoso.test", "alice@contoso.test"]}},
    }
    with own_lab(tmp_path_factory, "smtpcheck-lab", config) as handle:
        yield handle


@pytest.fixture(scope="module")
def module_runner(tmp_path_factory):
    ensure_collection_link()
    work = tmp_path_factory.mktemp("smtpcheck-ansible")
    local_temp = work / "local-tmp"
    local_temp.mkdir()
    return AnsibleRunner(make_env(local_temp), work / "runs")


@pytest.fixture(scope="module")
def black_hole():
    with black_hole_port() as port:
        yield port
