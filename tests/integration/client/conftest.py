# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures of the client role's integration tests: unix test users (created, removed after)."""

from __future__ import annotations

import os
import pwd
import subprocess
import uuid

import pytest


def _run(argv):
    subprocess.run(argv, check=True, capture_output=True, timeout=60)


@pytest.fixture
def unix_users():
    """``unix_users(n)`` -> n fresh users (mfc-<random>) with home directories; removed at teardown."""
    if os.geteuid() != 0:
        pytest.skip("creating unix users needs root")
    created = []

    def make(count=1):
        names = []
        for _number in range(count):
            name = "mfc%s" % uuid.uuid4().hex[:8]
            _run(["useradd", "--create-home", "--shell", "/bin/sh", name])
            created.append(name)
            names.append(name)
        return [pwd.getpwnam(n) for n in names]

    yield make
    for name in created:
        subprocess.run(["userdel", "--remove", name], capture_output=True, timeout=60, check=False)
