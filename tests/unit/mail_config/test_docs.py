"""mail_config's DOCUMENTATION/EXAMPLES/RETURN parse, and document every option of the argument spec."""

import ast
import pathlib

import pytest
import yaml

from ansible_collections.mailfleet.outlook.plugins.module_utils._apply import USER_ARGUMENT_SPEC as ARGUMENT_SPEC

pytestmark = [pytest.mark.timeout(30), pytest.mark.core_independent]

MODULE = pathlib.Path(__file__).resolve().parents[3] / "plugins" / "modules" / "mail_config.py"


def _blocks():
    tree = ast.parse(MODULE.read_text())
    out = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            out[node.targets[0].id] = node.value.value
    return out


def test_documentation_parses_and_covers_the_action_options():
    b = _blocks()
    doc = yaml.safe_load(b["DOCUMENTATION"])
    yaml.safe_load(b["EXAMPLES"])
    yaml.safe_load(b["RETURN"])
    assert doc["module"] == "mail_config"
    for name in ARGUMENT_SPEC:
        assert name in doc["options"], name
    assert doc["options"]["secrets"]["type"] == "dict"
