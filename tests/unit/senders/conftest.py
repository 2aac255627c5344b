# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures of the discovery unit tests (helpers in mailfleet_testing.senders)."""

import pytest

from mailfleet_testing.senders import FakeRoot


@pytest.fixture
def fake_root(tmp_path):
    return FakeRoot(tmp_path / "root")
