# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every module's RETURN documents exactly the keys its code returns (a success run), no more, no fewer.

Action-plugin modules are run through their action plugin in-process, the module itself too (mail_config writes
under a temporary root); the other modules run in-process with a representative call on loopback / a temporary
root. Ansible's own keys (changed, failed, msg, warnings, diff, ...) need no documentation, but documented ones must
be returned.
"""

from __future__ import annotations

import ast
import contextlib
import io
import json
import socket
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from ansible.module_utils.common.text.converters import to_bytes

pytestmark = pytest.mark.timeout(60)

REPO = Path(__file__).resolve().parents[3]
ANSIBLE_KEYS = {"changed", "failed", "msg", "warnings", "deprecations", "diff", "invocation", "skipped",
                "_ansible_no_log"}


def return_keys(name):
    tree = ast.parse((REPO / "plugins" / "modules" / ("%s.py" % name)).read_text(encoding="utf-8"))
    text = next(node.value.value for node in tree.body if isinstance(node, ast.Assign)
                and [t.id for t in node.targets if isinstance(t, ast.Name)] == ["RETURN"])
    return set(yaml.safe_load(text) or {})


def run_module(main, args, check_mode=False):
    """The module's result, run in this process the way ansible-core runs it on a host."""
    from ansible.module_utils import basic  # pylint: disable=import-outside-toplevel

    payload = dict(args, _ansible_check_mode=check_mode, _ansible_diff=False, _ansible_tmpdir=None,
                   _ansible_remote_tmp="/tmp", _ansible_keep_remote_files=False)
    out = io.StringIO()
    try:
        from ansible.module_utils.testing import patch_module_args  # pylint: disable=import-outside-toplevel
    except ImportError:  # ansible-core < 2.19
        patch_module_args = None
    if patch_module_args is not None:
        context = patch_module_args(payload)
    else:
        basic._ANSIBLE_ARGS = to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": payload}))  # pylint: disable=protected-access
        context = contextlib.nullcontext()
    with context, contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        main()
    if patch_module_args is None:
        basic._ANSIBLE_ARGS = None  # pylint: disable=protected-access
    return json.loads(out.getvalue())


def run_action(action_class, args, task_vars=None, module_main=None, templar=True):
    """An action plugin's result for a task with ``args``; its module (``module_main``) runs in-process."""
    action = action_class.__new__(action_class)
    action._task = SimpleNamespace(args=dict(args), async_val=0, check_mode=False, action="test", diff=False)  # pylint: disable=protected-access
    action._connection = SimpleNamespace(_shell=SimpleNamespace(tmpdir="/nonexistent"))  # pylint: disable=protected-access
    if templar:
        from ansible.parsing.dataloader import DataLoader  # pylint: disable=import-outside-toplevel
        from ansible.template import Templar  # pylint: disable=import-outside-toplevel
        action._templar = Templar(loader=DataLoader())  # pylint: disable=protected-access
    if module_main is not None:
        action._execute_module = lambda module_name, module_args, task_vars: run_module(module_main, module_args)  # pylint: disable=protected-access
    return action.run(task_vars=task_vars or {})


def failure_keys(name):
    """The keys RETURN documents as returned only when the module fails (``returned: when the module fails ...``)."""
    tree = ast.parse((REPO / "plugins" / "modules" / ("%s.py" % name)).read_text(encoding="utf-8"))
    text = next(node.value.value for node in tree.body if isinstance(node, ast.Assign)
                and [t.id for t in node.targets if isinstance(t, ast.Name)] == ["RETURN"])
    return {key for key, doc in (yaml.safe_load(text) or {}).items() if "fails" in str(doc.get("returned", ""))}


def documented_equals_returned(name, *results):
    returned = set()
    for result in results:
        assert not result.get("failed"), result.get("msg")
        returned.update(result)
    documented = return_keys(name) - failure_keys(name)
    assert sorted(returned - ANSIBLE_KEYS - documented) == [], "%s returns keys its RETURN does not document" % name
    assert sorted(documented - returned) == [], "%s documents keys its code does not return" % name


def test_mail_config(tmp_path):
    from mailfleet_testing import init_collection_loader  # pylint: disable=import-outside-toplevel

    init_collection_loader()
    from ansible_collections.mailfleet.outlook.plugins.action.mail_config import ActionModule  # pylint: disable=import-outside-toplevel
    from ansible_collections.mailfleet.outlook.plugins.modules import mail_config  # pylint: disable=import-outside-toplevel

    args = {"format": ["postfix_relay"], "settings": {"auth_method": "password", "username": "alerts@contoso.com"},
            "secrets": {"password": "canary-return-keys"}, "root": str(tmp_path / "root")}
    applied = run_action(ActionModule, args, module_main=mail_config.main)
    assert applied["changed"] is True and applied["settings_warnings"]
    checked = run_action(ActionModule, dict(args, validate_only=True))
    documented_equals_returned("mail_config", applied, checked)


def test_mail_config_failure_keys(tmp_path):
    """A failing apply returns exactly the documented failure keys (besides Ansible's own)."""
    from mailfleet_testing import init_collection_loader  # pylint: disable=import-outside-toplevel

    init_collection_loader()
    from ansible_collections.mailfleet.outlook.plugins.modules import mail_config  # pylint: disable=import-outside-toplevel

    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "postfix").write_text("a file where the directory must be\n")
    result = run_module(mail_config.main, {"root": str(root), "format": ["postfix_relay"], "_files": [
        {"path": "/etc/postfix/main.cf", "content": "relayhost = [smtp.office365.com]:587\n", "mode": "0644"}]})
    assert result.get("failed") is True, result
    assert failure_keys("mail_config") == {"rolled_back", "validator_output"}
    assert sorted(set(result) - ANSIBLE_KEYS) == ["rolled_back", "validator_output"], result
    assert result["rolled_back"] is False and result["validator_output"] == ""


def test_fleet_report(tmp_path):
    from ansible_collections.mailfleet.outlook.plugins.action.fleet_report import ActionModule  # pylint: disable=import-outside-toplevel

    result = run_action(ActionModule, {"dest": str(tmp_path / "report"), "hosts": ["h1"]},
                        task_vars={"hostvars": {"h1": {"group_names": ["site_a"]}}}, templar=False)
    documented_equals_returned("fleet_report", result)


def test_smtp_check():
    from ansible_collections.mailfleet.outlook.plugins.modules import smtp_check  # pylint: disable=import-outside-toplevel

    with socket.socket() as sock:  # a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = run_module(smtp_check.main, {"host": "127.0.0.1", "port": port, "timeout": 2, "fail_on_error": False})
    assert result["ok"] is False
    documented_equals_returned("smtp_check", result)


def test_client_precheck():
    from ansible_collections.mailfleet.outlook.plugins.modules import client_precheck  # pylint: disable=import-outside-toplevel

    result = run_module(client_precheck.main, {"accounts": [{"user": "mailfleet-no-such-user", "clients": []}]},
                        check_mode=True)
    documented_equals_returned("client_precheck", result)


def test_mail_senders_facts(tmp_path):
    from ansible_collections.mailfleet.outlook.plugins.modules import mail_senders_facts  # pylint: disable=import-outside-toplevel

    result = run_module(mail_senders_facts.main, {"root": str(tmp_path), "homes": False, "mention_paths": []})
    documented_equals_returned("mail_senders_facts", result)
