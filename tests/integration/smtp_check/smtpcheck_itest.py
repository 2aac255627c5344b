# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Constants and helpers shared by the smtp_check integration tests (imported by name: this directory is on
sys.path through the area's conftest)."""

from __future__ import annotations

import json

from mailfleet_testing import REPO_ROOT

CANARY_PASSWORD = "Canary-Pa55-4b1d9e77c0"
CANARY_SECRET = "Canary-ClientSecret-93ae10f2"
CANARY_APP_ID = "33333333-3333-4333-8333-333333333333"
RATE_LIMIT = 2
TABLE_FILE = REPO_ROOT / "tests" / "output" / "smtp_check-diagnosis-table.json"


def record_row(row):
    """Add a row of the diagnosis table (code, case, stage, time) for the closing note."""
    TABLE_FILE.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    if TABLE_FILE.exists():
        try:
            rows = json.loads(TABLE_FILE.read_text())
        except ValueError:
            rows = []
    rows = [r for r in rows if r["case"] != row["case"]] + [row]
    TABLE_FILE.write_text(json.dumps(rows, indent=1))
