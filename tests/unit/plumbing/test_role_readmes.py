# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Role READMEs are generated from meta/argument_specs.yml (scripts/role_readmes.py) and must be up to date."""

from __future__ import annotations

import importlib.util
import shutil

import pytest
import yaml

pytestmark = pytest.mark.core_independent


@pytest.fixture(scope="module")
def role_readmes(repo_root):
    spec = importlib.util.spec_from_file_location("role_readmes", repo_root / "scripts" / "role_readmes.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.timeout(60)
def test_every_role_readme_is_generated_and_current(role_readmes, repo_root):
    roles = sorted(p.name for p in (repo_root / "roles").iterdir() if (p / "meta" / "argument_specs.yml").is_file())
    assert roles, "no role with meta/argument_specs.yml"
    assert role_readmes.stale(repo_root) == [], "run `make role-readmes` and commit the READMEs"
    for role in roles:
        text = (repo_root / "roles" / role / "README.md").read_text(encoding="utf-8")
        specs = yaml.safe_load((repo_root / "roles" / role / "meta" / "argument_specs.yml").read_text(encoding="utf-8"))
        for entry, spec in specs["argument_specs"].items():
            for option in spec.get("options", {}):
                assert "| `%s` |" % option in text, (role, entry, option)
        assert "](" not in text.replace("](https://", ""), "%s README: Galaxy needs absolute links" % role


@pytest.mark.timeout(60)
def test_a_new_variable_makes_the_readme_stale(role_readmes, repo_root, tmp_path):
    shutil.copy(repo_root / "galaxy.yml", tmp_path / "galaxy.yml")
    shutil.copytree(repo_root / "roles" / "relay" / "meta", tmp_path / "roles" / "relay" / "meta")
    (tmp_path / "docs").mkdir()
    assert role_readmes.stale(tmp_path) == ["roles/relay/README.md"]  # no README yet
    ((want, _have),) = role_readmes.readmes(tmp_path).values()
    (tmp_path / "roles" / "relay" / "README.md").write_text(want, encoding="utf-8")
    assert role_readmes.stale(tmp_path) == []
    spec_file = tmp_path / "roles" / "relay" / "meta" / "argument_specs.yml"
    specs = yaml.safe_load(spec_file.read_text(encoding="utf-8"))
    specs["argument_specs"]["main"]["options"]["relay_new_thing"] = {"type": "bool", "default": False,
                                                                     "description": "Added by V(another) O(branch)."}
    spec_file.write_text(yaml.safe_dump(specs), encoding="utf-8")
    assert role_readmes.stale(tmp_path) == ["roles/relay/README.md"]
    ((want, _have),) = role_readmes.readmes(tmp_path).values()
    assert "| `relay_new_thing` | bool | default `false` | Added by `another` `branch`. |" in want
