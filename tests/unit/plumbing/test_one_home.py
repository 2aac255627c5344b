"""Copies that must exist stay equal to their one definition, and every plugin says whose it is.

- The fleet report's default title is ``_fleet_report.DEFAULT_TITLE``; the module's documentation and argument spec
  and the reachability role's defaults and argument spec must repeat it (Ansible reads those without our code).
- Every Python file under plugins/ (but the empty package ``__init__.py`` files ansible-core 2.16's sanity wants
  empty) starts with the copyright and licence lines.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

from ansible_collections.mailfleet.outlook.plugins.plugin_utils import _fleet_report

pytestmark = pytest.mark.timeout(30)

REPO = Path(__file__).resolve().parents[3]
COPYRIGHT = "# Copyright (c) mailfleet engineers"
LICENCE = "# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)"


def _module_documentation(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    doc = next(node.value.value for node in tree.body if isinstance(node, ast.Assign)
               and [t.id for t in node.targets if isinstance(t, ast.Name)] == ["DOCUMENTATION"])
    return yaml.safe_load(doc)


def test_the_report_title_has_one_definition():
    title = _fleet_report.DEFAULT_TITLE
    doc = _module_documentation(REPO / "plugins" / "modules" / "fleet_report.py")
    assert doc["options"]["title"]["default"] == title
    module_source = (REPO / "plugins" / "modules" / "fleet_report.py").read_text(encoding="utf-8")
    assert 'title=dict(type="str", default="%s")' % title in module_source
    defaults = yaml.safe_load((REPO / "roles" / "reachability" / "defaults" / "main.yml").read_text(encoding="utf-8"))
    assert defaults["reachability_report_title"] == title
    specs = yaml.safe_load((REPO / "roles" / "reachability" / "meta" / "argument_specs.yml").read_text(encoding="utf-8"))
    for name, entry in specs["argument_specs"].items():
        option = entry.get("options", {}).get("reachability_report_title")
        if option is not None:
            assert option.get("default") == title, name


def test_every_plugin_file_carries_the_copyright_and_licence():
    missing = []
    for path in sorted((REPO / "plugins").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if path.name == "__init__.py" and not text.strip():
            continue
        head = text.splitlines()[:5]
        if COPYRIGHT not in head or LICENCE not in head:
            missing.append(str(path.relative_to(REPO)))
    assert missing == [], "add the two header lines (see plugins/modules/smtp_check.py) to: %s" % missing
