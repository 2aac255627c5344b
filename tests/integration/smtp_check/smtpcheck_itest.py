# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Constants and helpers shared by the smtp_check integration tests (imported by name: this directory is on
sys.path through the area's conftest)."""

from __future__ import annotations

import contextlib
import json

from mailfleet_lab.pytest_plugin import LabHandle
from mailfleet_testing import REPO_ROOT

CANARY_PASSWORD = "Canary-Pa55-4b1d9e77c0"
CANARY_SECRET = "Canary-ClientSecret-93ae10f2"
CANARY_APP_ID = "33333333-3333-4333-8333-333333333333"
RATE_LIMIT = 2
TABLE_FILE = REPO_ROOT / "tests" / "output" / "smtp_check-diagnosis-table.json"


@contextlib.contextmanager
def own_lab(tmp_path_factory, name, config):
    """A lab of a test module's own (free ports, own state dir) with ``config`` over the defaults; stopped after."""
    handle = LabHandle(config, state_dir=str(tmp_path_factory.mktemp(name)), any_ports=True)
    handle.start()
    try:
        yield handle
    finally:
        handle.stop()


def lab_patch_task(lab, name, patch):
    """A playbook task that patches the running lab's config (ansible.builtin.uri to its admin endpoint)."""
    return {"name": name, "ansible.builtin.uri": {"url": lab.admin_url + "/config", "method": "POST",
                                                  "body_format": "json", "body": patch, "status_code": 200}}


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
