# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One name per concept: profile lists equal the catalog's, the doc fragments cover the settings keys, and the
old option names still work as aliases. Reads the catalog and the documentation as shipped, never a copy."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.mailfleet.outlook.plugins.module_utils import _catalog, _settings
from ansible_collections.mailfleet.outlook.plugins.modules import smtp_check

pytestmark = pytest.mark.timeout(120)

PROFILES = sorted(_catalog.PROFILE_NAMES)


def _is_profile_list(values):
    return isinstance(values, list) and "microsoft365" in values


def _choices(options, where):
    for name, spec in (options or {}).items():
        spec = spec or {}
        if _is_profile_list(spec.get("choices")):
            yield "%s %s" % (where, name), spec["choices"]
        yield from _choices(spec.get("options") or spec.get("suboptions"), "%s %s." % (where, name))


@pytest.fixture(scope="module")
def plugin_docs(collections_path, tmp_path_factory):
    """ansible-doc --json of every plugin, with doc fragments applied (what users and Galaxy see)."""
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(collections_path), ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCAL_TEMP=str(tmp_path_factory.mktemp("ansible-doc")))
    docs = {}
    ansible_doc = str(Path(sys.executable).parent / "ansible-doc")
    for kind, names in (("module", ["smtp_check", "mail_config", "fleet_report"]), ("lookup", ["mail_settings"])):
        out = subprocess.run([ansible_doc, "-t", kind, "--json"] + ["mailfleet.outlook." + n for n in names],
                             env=env, capture_output=True, text=True, timeout=90, check=True).stdout
        for fqcn, entry in json.loads(out).items():
            docs[fqcn] = entry["doc"]
    return docs


def test_every_profile_list_is_the_catalogs(repo_root, plugin_docs):
    found = {}
    for fqcn, doc in plugin_docs.items():
        found.update(_choices(doc.get("options"), fqcn))
    for spec_file in sorted(repo_root.glob("roles/*/meta/argument_specs.yml")):
        for entry, spec in yaml.safe_load(spec_file.read_text(encoding="utf-8"))["argument_specs"].items():
            found.update(_choices(spec.get("options"), "%s:%s" % (spec_file.parts[-3], entry)))
    assert "mailfleet.outlook.mail_settings _terms" in found and "relay:main relay_profile" in found
    assert {where: sorted(values) for where, values in found.items()} == {where: PROFILES for where in found}


def test_docs_name_every_profile_of_the_catalog(repo_root):
    settings_md = (repo_root / "docs" / "settings.md").read_text(encoding="utf-8")
    table = re.search(r"(?ms)^## Profiles\n\n\|.*?\n\n", settings_md).group(0)
    assert sorted(re.findall(r"^\| `([a-z0-9_]+)`", table, re.M)) == PROFILES
    listed = re.search(r"not a known profile\. Fix: use one of ([a-z0-9_, ]+)`", settings_md).group(1)
    assert listed.split(", ") == PROFILES
    with pytest.raises(_settings.SettingsError, match="use one of " + ", ".join(PROFILES)):
        _settings.build_settings("exchange", {})


def test_fragments_cover_exactly_the_settings_keys(plugin_docs, repo_root):
    names = set()
    for fragment in ("settings", "tls", "oauth2"):
        source = (repo_root / "plugins" / "doc_fragments" / ("%s.py" % fragment)).read_text(encoding="utf-8")
        names |= set(yaml.safe_load(source.split('r"""', 1)[1].split('"""', 1)[0])["options"])
    assert names == set(_settings.OVERRIDE_KEYS)
    lookup = plugin_docs["mailfleet.outlook.mail_settings"]["options"]
    assert set(_settings.OVERRIDE_KEYS) <= set(lookup)


def test_one_tls_name_across_lookup_module_and_roles(plugin_docs, repo_root):
    lookup = plugin_docs["mailfleet.outlook.mail_settings"]["options"]
    probe = plugin_docs["mailfleet.outlook.smtp_check"]["options"]
    for name, old in (("ca_file", "ca_path"), ("tls_min_version", "min_tls_version")):
        assert lookup[name]["aliases"] == [old] and old in probe[name]["aliases"], name
        assert lookup[name]["description"] == probe[name]["description"], "%s: one fragment, one text" % name
    assert probe["tls_max_version"]["aliases"] == ["max_tls_version"]
    assert probe["auth"]["suboptions"]["oauth2"]["suboptions"]["ca_file"]["aliases"] == ["ca_path"]
    role_options = set()
    for spec_file in repo_root.glob("roles/*/meta/argument_specs.yml"):
        for spec in yaml.safe_load(spec_file.read_text(encoding="utf-8"))["argument_specs"].values():
            role_options |= set(spec.get("options", {}))
    assert {"relay_ca_file", "relay_tls_min_version", "reachability_ca_file", "reachability_tls_min_version"} <= role_options


def test_old_smtp_check_names_are_aliases():
    endpoint = [{"host": "localhost", "port": 587}]
    old = ArgumentSpecValidator(smtp_check.argument_spec()).validate({
        "endpoints": endpoint, "ca_path": "/etc/ca.pem", "min_tls_version": "1.3", "max_tls_version": "1.3",
        "auth": {"oauth2": {"client_id": "x", "client_secret": "y", "ca_path": "/etc/token-ca.pem"}}})
    assert old.error_messages == []
    params = old.validated_parameters
    assert (params["ca_file"], params["tls_min_version"], params["tls_max_version"]) == ("/etc/ca.pem", "1.3", "1.3")
    assert params["auth"]["oauth2"]["ca_file"] == "/etc/token-ca.pem"
    assert sorted(smtp_check.ENGINE_OPTIONS.values()) == sorted(
        set(smtp_check.ENGINE_OPTIONS.values()) & set(smtp_check.argument_spec()))


def test_old_lookup_names_are_aliases(run_playbook):
    run = run_playbook([{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "old", "ansible.builtin.debug": {"msg": "{{ lookup('mailfleet.outlook.mail_settings', 'custom', "
                                                         "smtp_host='relay.example.org', ca_path='/etc/ssl/relay.pem', "
                                                         "min_tls_version='1.3') }}"}},
    ]}], timeout=60).assert_ok()
    settings = run.result(task="old")["msg"]
    assert (settings["ca_file"], settings["tls_min_version"]) == ("/etc/ssl/relay.pem", "1.3")
