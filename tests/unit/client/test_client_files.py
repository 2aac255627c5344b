# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one registry of the clients' per-user files (module_utils/_client_files.py): the formats render exactly the
paths that the precheck protects, and no other file types one of those paths again."""

from __future__ import annotations

import re

import pytest

from mailfleet_testing import REPO_ROOT

from ansible_collections.mailfleet.outlook.plugins.filter.client_accounts import client_accounts as account_for
from ansible_collections.mailfleet.outlook.plugins.module_utils import _client_files as registry
from ansible_collections.mailfleet.outlook.plugins.module_utils._senders import _msmtp
from ansible_collections.mailfleet.outlook.plugins.modules import client_precheck
from ansible_collections.mailfleet.outlook.plugins.plugin_utils import _client
from ansible_collections.mailfleet.outlook.plugins.plugin_utils._format_model import fill
from ansible_collections.mailfleet.outlook.plugins.plugin_utils._formats import FORMATS

PLACEHOLDERS = {"thunderbird_profile": ".thunderbird/abcd.default-release", "evolution_account_uid": "a",
                "evolution_identity_uid": "i", "evolution_transport_uid": "t"}


def test_every_client_of_the_model_has_its_files_in_the_registry():
    assert sorted(registry.CLIENT_FILES) == sorted(_client.CLIENTS)
    for name, entry in registry.CLIENT_FILES.items():
        assert entry["files"] and isinstance(entry["role_files"], bool), name
        assert all(not rel.startswith("/") and ".." not in rel.split("/") for rel in entry["files"]), name


@pytest.mark.parametrize("client", sorted(registry.CLIENT_FILES))
def test_a_clients_rendered_paths_are_its_protected_paths(client):
    home = "/home/alice"
    values = dict(PLACEHOLDERS, home=home)
    rendered = [fill(f.path, values) for f in FORMATS["client_" + client].files]
    protected = [home + "/" + rel for rel in registry.user_files(client, PLACEHOLDERS)]
    assert rendered == protected
    formats = _client.CLIENT_USER_FORMATS[client]
    assert formats[0] == "client_" + client
    assert ("client_password" in formats and "client_oauth2" in formats) == registry.uses_role_files(client)


def test_the_role_files_are_rendered_under_the_role_directory():
    home = "/home/alice"
    cfg = {"home": home, "mailfleet_dir": home + "/" + registry.ROLE_DIR}
    rendered = [fill(f.path, cfg) for name in ("client_password", "client_oauth2") for f in FORMATS[name].files]
    assert rendered == [home + "/" + rel for rel in registry.ROLE_FILES]
    assert all(rel.startswith(registry.ROLE_DIR + "/") for rel in registry.ROLE_FILES)
    # the precheck treats everything under that directory as the role's own
    assert client_precheck.ROLE_DIR == registry.ROLE_DIR


def test_user_files_without_a_value_for_a_placeholder_is_no_file():
    assert registry.user_files("thunderbird") == []
    assert registry.user_files("thunderbird", {"thunderbird_profile": None}) == []
    assert registry.user_files("thunderbird", {"thunderbird_profile": "p"}) == ["p/user.js"]


@pytest.mark.parametrize("profile", [".thunderbird/abcd.default-release", ".thunderbird/abcd.default-release/"])
def test_model_paths_are_the_paths_the_formats_render(profile):
    """account['paths'] (what the precheck protects) filled the way the formats' prepare fills their paths."""
    acc = {"user": "alice", "address": "alice@contoso.com", "clients": ["msmtp", "neomutt", "thunderbird", "evolution"],
           "auth_method": "password", "password": "x", "thunderbird_profile": profile}
    a = account_for([acc], client_id="00000000-0000-0000-0000-000000000001")["accounts"][0]
    cfg = {"home": "/home/alice", "account": a}
    cfg.update(FORMATS["client_msmtp"].prepare({"cfg": cfg}))
    for client in a["clients"]:
        rendered = [fill(f.path, cfg) for f in FORMATS["client_" + client].files]
        assert rendered == ["/home/alice/" + rel for rel in a["paths"][client]], client
    assert a["paths"]["mailfleet"] == list(registry.ROLE_FILES)


def test_msmtp_discovery_reads_the_file_the_client_role_writes():
    assert _msmtp.USER_FILES[0] == registry.CLIENT_FILES["msmtp"]["files"][0]
    assert ".msmtprc" in _msmtp.USER_FILES


def _literal_paths():
    fixed = [rel.split("{")[0] for entry in registry.CLIENT_FILES.values() for rel in entry["files"]]
    return sorted(set(p for p in fixed + list(registry.ROLE_FILES) if p.count("/") >= 1 and not p.endswith("{")))


def _allowed(rel, line):
    """The token command runs on its own on the host (no collection to import): its default --config is the copy,
    held equal to the registry here."""
    return rel == "plugins/module_utils/_oauth2_command.py" and '"~/%s"' % registry.OAUTH2_FILE in line


def test_no_other_file_types_a_registry_path():
    """A second copy of a path in code (a quoted literal) could drift from the registry; prose may mention them."""
    mine = REPO_ROOT / "plugins/module_utils/_client_files.py"
    paths = _literal_paths()
    assert ".config/msmtp/config" in paths and ".config/mailfleet/password" in paths
    pattern = re.compile(r"""["'](?:~/|\{home\}/)?(%s)""" % "|".join(re.escape(p) for p in paths))
    found = []
    for top in ("plugins", "roles"):
        for path in sorted((REPO_ROOT / top).rglob("*")):
            if path == mine or not path.is_file() or path.suffix not in (".py", ".yml", ".yaml", ".j2"):
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
                rel = str(path.relative_to(REPO_ROOT))
                if pattern.search(line) and not line.lstrip().startswith("#") and not _allowed(rel, line):
                    found.append("%s:%d: %s" % (rel, number, line.strip()))
    assert found == []
