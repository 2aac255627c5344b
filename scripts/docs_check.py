# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""`make docs-check`: ansible-doc must print every plugin and role of mailfleet.outlook without a warning,
and every relative link in README.md and docs/*.md must point at a file of the checkout.

Usage: python scripts/docs_check.py COLLECTIONS_PATH [COLLECTION_DIR]
COLLECTIONS_PATH holds ansible_collections/mailfleet/outlook (the .build link, or an installed tarball);
the plugin and role files are enumerated in COLLECTION_DIR (default: that collection), so a plugin that
exists but that ansible-doc cannot find or parse is an error, not a silent gap.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

FQCN = "mailfleet.outlook"
# plugins/<dir> -> ansible-doc type, for plugins that are one file per plugin.
FILE_PLUGINS = {
    "modules": "module", "lookup": "lookup", "callback": "callback", "connection": "connection",
    "inventory": "inventory", "become": "become", "cache": "cache", "vars": "vars", "strategy": "strategy",
    "shell": "shell", "cliconf": "cliconf", "httpapi": "httpapi", "netconf": "netconf",
}
# Directories without ansible-doc pages of their own (action plugins are documented by their module).
NO_DOCS = {"action", "module_utils", "doc_fragments", "plugin_utils", "templates", "__pycache__"}
# plugins/<dir> -> type for files holding several plugins (documented in <name>.yml beside them).
MULTI_PLUGINS = {"filter": "filter", "test": "test"}


ANSIBLE_DOC = os.path.join(os.path.dirname(sys.executable), "ansible-doc")


def run_doc(env, *args):
    command = ANSIBLE_DOC if os.path.exists(ANSIBLE_DOC) else "ansible-doc"
    proc = subprocess.run([command, *args], env=env, capture_output=True, text=True, timeout=120,
                          check=False)
    problems = [line for line in proc.stderr.splitlines() if "WARNING" in line or "ERROR" in line]
    return proc, problems


MD_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def markdown_link_failures(root):
    """Relative links of README.md and docs/*.md whose target file does not exist."""
    failures = []
    for doc in [root / "README.md"] + sorted((root / "docs").glob("*.md")):
        if not doc.exists():
            continue
        text = re.sub(r"(?ms)^\s*```.*?^\s*```", "", doc.read_text(encoding="utf-8"))  # fenced code
        text = re.sub(r"`[^`\n]*`", "", text)  # inline code
        for target in MD_LINK.findall(text):
            path = target.split("#", 1)[0]
            if not path or re.match(r"^[a-z][a-z0-9+.-]*:", path):  # anchors, http:, mailto:, ...
                continue
            if not (doc.parent / path).exists():
                failures.append("%s: broken link %s" % (doc.relative_to(root), target))
    return failures


def main():
    collections_path = Path(sys.argv[1]).resolve()
    coll_dir = Path(sys.argv[2] if len(sys.argv) > 2 else collections_path / "ansible_collections" / "mailfleet" / "outlook")
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(collections_path), ANSIBLE_NOCOLOR="1")

    wanted = []  # (type, fqcn)
    failures = []
    plugins = coll_dir / "plugins"
    for sub in sorted(p for p in plugins.iterdir() if p.is_dir()) if plugins.is_dir() else []:
        if sub.name in FILE_PLUGINS:
            wanted += [(FILE_PLUGINS[sub.name], "%s.%s" % (FQCN, f.stem))
                       for f in sorted(sub.glob("*.py")) if f.name != "__init__.py"]
        elif sub.name in MULTI_PLUGINS:
            kind = MULTI_PLUGINS[sub.name]
            proc, problems = run_doc(env, "-t", kind, "--list", "--json", FQCN)
            listed = sorted(json.loads(proc.stdout or "{}")) if proc.returncode == 0 else []
            if proc.returncode or problems:
                failures.append("ansible-doc -t %s --list %s: rc=%s %s" % (kind, FQCN, proc.returncode, problems))
            wanted += [(kind, name) for name in listed]
        elif sub.name not in NO_DOCS:
            failures.append("plugins/%s: unknown plugin directory (teach scripts/docs_check.py its type)" % sub.name)
    roles = coll_dir / "roles"
    for role in sorted(p for p in roles.iterdir() if p.is_dir()) if roles.is_dir() else []:
        if not any((role / "meta" / name).exists() for name in ("argument_specs.yml", "argument_specs.yaml")):
            failures.append("roles/%s: no meta/argument_specs.yml (roles document their variables there)" % role.name)
            continue
        wanted.append(("role", "%s.%s" % (FQCN, role.name)))

    for kind, name in wanted:
        proc, problems = run_doc(env, "-t", kind, name)
        if proc.returncode != 0 or problems or name not in proc.stdout:
            failures.append("ansible-doc -t %s %s: rc=%s\n%s\n%s" % (kind, name, proc.returncode,
                                                                     proc.stderr.strip(), proc.stdout[:2000]))
        else:
            print("docs-check: ok  ansible-doc -t %-7s %s" % (kind, name))

    failures += markdown_link_failures(coll_dir)
    if failures:
        print("docs-check: FAILED\n" + "\n".join(failures), file=sys.stderr)
        return 1
    print("docs-check: %d plugin/role pages from %s" % (len(wanted), collections_path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
