# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""`make deps` / `make deps-check`: prove the capabilities the tests use, and that the package list gives them.

    python3 scripts/deps_check.py capabilities   # each capability works on this machine (after make deps)
    python3 scripts/deps_check.py contract       # each package behind them is listed or a Depends of a listed one

The capabilities and their packages live in tests/support/mailfleet_testing/capabilities.py (one home: the
tests call the same checks through mailfleet_testing.capabilities.require). Standard library only.
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "support"))

from mailfleet_testing.capabilities import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
