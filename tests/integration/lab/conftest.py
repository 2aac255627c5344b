# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab's own tests use its pytest plugin (tests/conftest.py registers it for everybody once it exists)."""

import os
import sys

LAB_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "lab")
if os.path.abspath(LAB_DIR) not in [os.path.abspath(p) for p in sys.path]:
    sys.path.insert(0, os.path.abspath(LAB_DIR))

from mailfleet_lab.pytest_plugin import lab, lab_factory  # noqa: E402,F401  pylint: disable=wrong-import-position,unused-import
