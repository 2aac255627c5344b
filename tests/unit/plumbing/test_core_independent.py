"""The ``core_independent`` marker stays honest.

`make unit-matrix` runs tests/unit once more on every older ansible-core (scripts/unit-core.sh), and there it
deselects the tests marked ``core_independent``: with the same interpreter, code that imports nothing from
ansible-core gives the same result whatever core is installed, so running it four times proves nothing new (it cost
about 130 s per core). This test reads every marked file's imports, follows those of the collection and of the test
helpers (tests/support, lab/, the test's own directory) transitively, and fails when any of them reaches
``ansible`` — a file that starts to depend on the core must lose the marker and run on every core again.

Tests of the project's own tooling, which runs from the development venv whatever core is being tested, are
listed in TOOLING with the reason.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = [pytest.mark.timeout(60), pytest.mark.core_independent]

REPO = Path(__file__).resolve().parents[3]
COLLECTION = "ansible_collections.mailfleet.outlook"
HELPER_DIRS = [REPO / "tests" / "support", REPO / "lab"]
MARKER = "pytest.mark.core_independent"
# programs and files that run ansible-core in a subprocess
# (and mailfleet_testing's helpers that import ansible-core when called)
RUNS_CORE = ("ansible-playbook", "ansible-doc", "ansible-galaxy", "ansible-test", "ansible-inventory", "run_playbook",
             "run_ansible", "plugins/modules/", "AnsibleRunner", "format_planner", "init_collection_loader")
TOOLING = {
    "tests/unit/plumbing/test_release.py":
        "scripts/release.sh is run by maintainers from .venv (ansible-core 2.19) only; the test points it at the "
        "interpreter's own tools",
    "tests/unit/deps/test_capabilities.py":
        "the fresh-machine contract (scripts/apt-packages.txt, the capabilities make deps proves) is the same whatever "
        "core the venv holds; it names ansible-playbook as a program the suite calls, it does not run it",
}


def _module_file(name, here):
    """The file of module ``name`` if it belongs to this repository (the collection or a test helper), else None.
    ``file:x.py`` is a file loaded by path: looked up next to the test, in scripts/ and at the top."""
    if name.startswith("file:"):
        found = [d / name[5:] for d in (here, REPO / "scripts", REPO) if (d / name[5:]).is_file()]
        return found[0] if found else None
    if name == COLLECTION or name.startswith(COLLECTION + "."):
        parts = name[len(COLLECTION):].lstrip(".").split(".") if name != COLLECTION else []
        base = REPO.joinpath(*parts) if parts else REPO
    else:
        base = None
        for folder in [here] + HELPER_DIRS:
            candidate = folder.joinpath(*name.split("."))
            if candidate.with_suffix(".py").is_file() or (candidate / "__init__.py").is_file():
                base = candidate
                break
        if base is None:
            return None
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    return None


def _package_name(folder):
    """The dotted name under which ``folder`` is imported (the collection's, or a helper package's)."""
    for root, prefix in [(d, "") for d in HELPER_DIRS] + [(REPO, COLLECTION)]:
        if folder == root or root in folder.parents:
            return ".".join(p for p in [prefix] + list(folder.relative_to(root).parts) if p)
    return ""


def _imports(path, top_level_only=False):
    """Absolute module names imported in ``path`` (``from a import b`` yields ``a`` and ``a.b``); relative imports
    are resolved against the file's package. ``top_level_only``: only the imports that run when the module is
    imported (a helper's imports inside a function run when a test calls it: those functions are in RUNS_CORE)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names = []
    nodes = list(ast.iter_child_nodes(tree)) if top_level_only else list(ast.walk(tree))
    if top_level_only:  # also what sits under a module-level try/if (optional imports)
        nodes += [n for top in list(nodes) if isinstance(top, (ast.Try, ast.If)) for n in ast.walk(top)]
    for node in nodes:
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = path.parent
                for dummy in range(node.level - 1):
                    package = package.parent
                module = ".".join(p for p in (_package_name(package), node.module) if p)
            else:
                module = node.module or ""
            names.append(module)
            names.extend("%s.%s" % (module, alias.name) for alias in node.names)
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "spec_from_file_location":
            # a file loaded by path (a script, a helper): followed as "file:<its name>"
            files = [c.value for c in ast.walk(node) if isinstance(c, ast.Constant) and isinstance(c.value, str)
                     and c.value.endswith(".py")]
            names.extend("file:" + name for name in files[-1:])
    return names


def _label(path):
    return str(path.relative_to(REPO)) if REPO in path.parents else path.name


def _is_helper(path):
    return any(folder in path.parents for folder in HELPER_DIRS) or path.name in ("conftest.py",) or (
        not path.name.startswith("test_") and REPO / "tests" in path.parents)


def core_imports(path):
    """Chains ``file -> ... -> ansible.x`` by which the code ``path`` tests reaches ansible-core (empty: it does
    not). The code under test is the test file and the collection's modules it reaches, directly or through the
    test helpers; a helper's own use of ansible (mailfleet_testing's playbook runner) is test infrastructure and
    does not count, its imports of the collection do."""
    found, seen, todo = [], set(), [(path, [_label(path)])]
    while todo:
        current, chain = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        for name in _imports(current, top_level_only=_is_helper(current)):
            if name == "ansible" or name.startswith("ansible."):
                if not _is_helper(current):
                    found.append(" -> ".join(chain + [name]))
                continue
            target = _module_file(name, path.parent)
            if target is not None and target not in seen:
                todo.append((target, chain + [_label(target)]))
    return sorted(set(found))


def marked_files():
    return sorted(p for p in (REPO / "tests" / "unit").rglob("test_*.py") if MARKER in p.read_text(encoding="utf-8"))


def test_the_marker_is_used_and_registered():
    marked = [str(p.relative_to(REPO)) for p in marked_files()]
    assert len(marked) >= 5, marked
    assert "core_independent:" in (REPO / "pytest.ini").read_text(encoding="utf-8")
    assert '-m "not core_independent"' in (REPO / "scripts" / "unit-core.sh").read_text(encoding="utf-8")
    for listed in TOOLING:
        assert listed in marked, "%s is in TOOLING but not marked" % listed


@pytest.mark.parametrize("path", marked_files(), ids=lambda p: str(p.relative_to(REPO / "tests" / "unit")))
def test_marked_files_reach_nothing_of_ansible_core(path):
    relative = str(path.relative_to(REPO))
    if relative in TOOLING:
        pytest.skip("tooling: " + TOOLING[relative])
    assert core_imports(path) == [], "marked core_independent, but imports ansible-core: remove the marker"
    text = path.read_text(encoding="utf-8") if path != Path(__file__).resolve() else ""  # this file names them
    runs = [word for word in RUNS_CORE if word in text]
    assert not runs, "marked core_independent, but runs %s: remove the marker" % runs


def test_the_check_finds_a_chain_through_the_collection(tmp_path):
    # the mail_config action plugin imports ansible.plugins.action (through its base, plugin_utils/_action.py): a test
    # importing it is caught, with the chain
    probe = tmp_path / "test_probe_imports.py"
    probe.write_text("import os\nfrom %s.plugins.action import mail_config\n" % COLLECTION, encoding="utf-8")
    chains = core_imports(probe)
    assert ("test_probe_imports.py -> plugins/action/mail_config.py -> plugins/plugin_utils/_action.py -> "
            "ansible.plugins.action") in chains, chains
    # and a file that imports only the standard library and core-free collection code passes
    probe.write_text("import os\nfrom %s.plugins.module_utils import _oauth2\n" % COLLECTION, encoding="utf-8")
    assert core_imports(probe) == []
