# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures for the smtp_check unit tests: fake servers on loopback and a trustme CA."""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import smtpcheck_fakes  # noqa: E402  (needs the path above)


@pytest.fixture(scope="session")
def certs(tmp_path_factory):
    return smtpcheck_fakes.Certs(tmp_path_factory.mktemp("smtpcheck-ca"))


@pytest.fixture
def fake():
    """fake(handler) -> a started FakeServer; all are closed at teardown."""
    servers = []

    def start(handler, host="127.0.0.1"):
        server = smtpcheck_fakes.FakeServer(handler, host=host)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()
