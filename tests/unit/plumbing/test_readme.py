# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""README.md is for a collection user first (Galaxy shows it) and keeps the team's contract: it states
`make demo` and `make test` in their own section near the top. Its links are absolute (Galaxy resolves no relative
link) and every link into the repository (galaxy.yml `repository`) names a file or directory that exists."""

from __future__ import annotations

import re

import pytest
import yaml

pytestmark = pytest.mark.timeout(60)

SECTIONS = ("Requirements", "Installation", "Use cases", "Testing", "Support", "Release notes", "Related information",
            "License")


@pytest.fixture(scope="module")
def readme(repo_root):
    return (repo_root / "README.md").read_text(encoding="utf-8")


def test_sections_users_expect_and_the_two_commands_near_the_top(readme):
    headings = re.findall(r"^## (.+)$", readme, re.M)
    for section in SECTIONS:
        assert section in headings, section
    dev = next(i for i, h in enumerate(headings) if "`make demo`" in h and "`make test`" in h)
    assert dev <= 3, "the make demo / make test section must stay near the top: %s" % headings
    body = readme.split("## " + headings[dev], 1)[1].split("\n## ", 1)[0]
    assert re.search(r"^make demo\b", body, re.M) and re.search(r"^make test\b", body, re.M)
    assert "ansible-galaxy collection install mailfleet.outlook" in readme
    assert headings.index("Installation") < dev


def _repo_links(text, repo_url):
    return re.findall(re.escape(repo_url) + r"/(?:blob|tree)/main/([^)#\s]+)", text)


@pytest.mark.parametrize("doc", ["README.md", "roles/relay/README.md", "roles/client/README.md",
                                 "roles/reachability/README.md"])
def test_links_are_absolute_and_resolve(repo_root, doc):
    repo_url = yaml.safe_load((repo_root / "galaxy.yml").read_text(encoding="utf-8"))["repository"].rstrip("/")
    text = (repo_root / doc).read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)\s]+)\)", text)
    relative = [t for t in targets if not re.match(r"^(https?:|#)", t)]
    assert relative == [], "%s: Galaxy does not resolve relative links" % doc
    foreign = [t for t in targets if "github.com/" in t and not t.startswith(repo_url)]
    assert foreign == [], "%s: repository links must use galaxy.yml's repository %s" % (doc, repo_url)
    for path in _repo_links(text, repo_url):
        assert (repo_root / path).exists(), "%s links to %s, which is not in the repository" % (doc, path)
    if doc == "README.md":
        assert len(_repo_links(text, repo_url)) >= 10
