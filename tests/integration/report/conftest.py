# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures of the check.yml scale and ansible-runner tests (the fleet itself: mailfleet_testing.local_fleet)."""

import socket

import pytest
from mailfleet_testing.capabilities import require


@pytest.fixture(scope="module")
def closed_port():
    require("openssh-server")   # the fleet's unreachable hosts are reached (not) with the ssh client
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()   # nothing listens there now: connections are refused at once
    return port
