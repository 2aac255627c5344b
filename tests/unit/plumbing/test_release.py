# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The release process (scripts/release.sh, antsibull-changelog) and the changelog fragments' names."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys

import pytest
import yaml

pytestmark = pytest.mark.core_independent

BIN = pathlib.Path(sys.executable).parent


def _fragments(repo_root):
    return sorted((repo_root / "changelogs" / "fragments").glob("*"))


@pytest.mark.timeout(60)
def test_no_tool_mistakes_a_fragment_for_a_playbook(repo_root):
    """ansible-lint (ours and the Galaxy importer's) classifies files by name: a fragment must stay plain YAML."""
    file_utils = pytest.importorskip("ansiblelint.file_utils", reason="ansible-lint is in .venv only")
    fragments = _fragments(repo_root)
    assert fragments
    for fragment in fragments:
        relative = pathlib.Path("changelogs/fragments") / fragment.name
        assert fragment.suffix == ".yml", fragment.name
        assert file_utils.kind_from_path(relative) == "yaml", "%s looks like an ansible-lint %r: rename it" % (
            fragment.name, file_utils.kind_from_path(relative))
    assert file_utils.kind_from_path(pathlib.Path("changelogs/fragments/fleet-playbooks-demo.yml")) == "playbook"


@pytest.mark.timeout(60)
def test_galaxy_version_is_released_and_changelog_current(repo_root):
    version = yaml.safe_load((repo_root / "galaxy.yml").read_text(encoding="utf-8"))["version"]
    changes = yaml.safe_load((repo_root / "changelogs" / "changelog.yaml").read_text(encoding="utf-8"))
    assert version in changes["releases"], "galaxy.yml version %s has no release: make release VERSION=%s" % (version, version)
    assert "v%s\n" % version in (repo_root / "CHANGELOG.rst").read_text(encoding="utf-8")
    config = yaml.safe_load((repo_root / "changelogs" / "config.yaml").read_text(encoding="utf-8"))
    assert config["keep_fragments"] is True, "re-running the release for the same version needs the fragments"


def _tree(repo_root, tmp_path):
    """A copy of what the release reads and writes, under ansible_collections/ (antsibull-changelog runs ansible-doc)."""
    tree = tmp_path / "ansible_collections" / "mailfleet" / "outlook"
    tree.mkdir(parents=True)
    for name in ("galaxy.yml", "CHANGELOG.rst", "meta", "plugins", "roles", "changelogs", "scripts"):
        src = repo_root / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, tree / name, **(
            {"ignore": shutil.ignore_patterns("__pycache__", ".plugin-cache.yaml")} if src.is_dir() else {}))
    return tree


def _release(tree, version, tmp_path):
    env = dict(os.environ, PATH=os.pathsep.join([str(BIN), os.environ.get("PATH", os.defpath)]),
               ANSIBLE_COLLECTIONS_PATH=str(tmp_path), ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"))
    # scripts/release.sh puts the checkout's .venv on PATH: point it at this interpreter's tools instead.
    (tree / ".venv").symlink_to(BIN.parent)
    try:
        return subprocess.run(["bash", "scripts/release.sh", version], cwd=tree, env=env, capture_output=True, text=True,
                              timeout=120, check=False)
    finally:
        (tree / ".venv").unlink()


@pytest.mark.timeout(300)
def test_release_is_rerunnable_for_the_same_version(repo_root, tmp_path):
    if not (BIN / "antsibull-changelog").exists():
        pytest.skip("antsibull-changelog is in .venv only")
    tree = _tree(repo_root, tmp_path)
    version = yaml.safe_load((tree / "galaxy.yml").read_text(encoding="utf-8"))["version"]
    before = {p: (tree / p).read_text(encoding="utf-8") for p in ("CHANGELOG.rst", "changelogs/changelog.yaml")}

    run = _release(tree, version, tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    for path, text in before.items():
        assert (tree / path).read_text(encoding="utf-8") == text, "%s: re-running the release changed it" % path

    # A fragment merged after the release lands in the same release, then an edit of it replaces its text.
    late = tree / "changelogs" / "fragments" / "late-merge.yml"
    late.write_text("bugfixes:\n  - smtp_check - a fix merged after the first cut.\n", encoding="utf-8")
    assert _release(tree, version, tmp_path).returncode == 0
    changes = yaml.safe_load((tree / "changelogs" / "changelog.yaml").read_text(encoding="utf-8"))
    assert "late-merge.yml" in changes["releases"][version]["fragments"]
    assert "- smtp_check - a fix merged after the first cut." in (tree / "CHANGELOG.rst").read_text(encoding="utf-8")
    late.write_text("bugfixes:\n  - smtp_check - the fix, reworded.\n", encoding="utf-8")
    assert _release(tree, version, tmp_path).returncode == 0
    text = (tree / "CHANGELOG.rst").read_text(encoding="utf-8")
    assert "the fix, reworded." in text and "merged after the first cut" not in text
    assert late.exists(), "keep_fragments: the fragment stays for the next re-run"
