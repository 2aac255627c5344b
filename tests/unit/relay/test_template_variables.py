# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every ``cfg.<name>`` a format's template reads is defined once: a variable of the format (with its default) or a
value its ``prepare`` computes. (``sasl_passwd.j2`` read ``cfg.xoauth2_token_file``, which neither defined.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ansible_collections.mailfleet.outlook.plugins.plugin_utils._formats import FORMATS

pytestmark = [pytest.mark.timeout(30), pytest.mark.core_independent]

PLUGINS = Path(__file__).resolve().parents[3] / "plugins"
CFG_READ = re.compile(r"\bcfg\.([A-Za-z_][A-Za-z0-9_]*)")
# the names a prepare function returns: string keys of the registry's Python files
# ({"name": ...} or out["name"] = ...)
COMPUTED = set(re.findall(r'"([A-Za-z_][A-Za-z0-9_]*)"(?:\s*:|\]\s*=[^=])', "".join(
    p.read_text(encoding="utf-8") for p in (PLUGINS / "plugin_utils").glob("*formats.py"))))


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_templates_read_only_defined_values(name):
    fmt = FORMATS[name]
    unknown = []
    for spec in fmt.files:
        if spec.template is None:
            continue
        text = (PLUGINS / "templates" / spec.template).read_text(encoding="utf-8")
        unknown += ["%s: cfg.%s" % (spec.template, n) for n in CFG_READ.findall(text)
                    if n not in fmt.variables and n not in COMPUTED]
    assert unknown == []


def test_the_token_programs_are_files_of_the_collection_not_templates():
    sources = {s.source for f in FORMATS.values() for s in f.files if s.source}
    assert {"module_utils/_oauth2_command.py", "module_utils/_oauth2_token_helper.py", "module_utils/_oauth2.py"} <= sources
    assert not [p for p in (PLUGINS / "templates").rglob("*") if p.is_file() and "{% raw" in p.read_text(encoding="utf-8")]
