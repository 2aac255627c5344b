# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""plugin_utils/_action.py, the base of the collection's action plugins, and the bad input it refuses for
fleet_report and mail_config: the option, the value and the fix, before anything is written."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from ansible_collections.mailfleet.outlook.plugins.plugin_utils._action import (
    ActionError,
    MailfleetActionBase,
    internal_options,
    validate_arguments,
)

pytestmark = pytest.mark.timeout(30)

SPEC = dict(dest=dict(type="path", required=True), count=dict(type="int", default=3),
            kind=dict(type="str", choices=["a", "b"], default="a"), pin=dict(type="int", no_log=True))


class Sample(MailfleetActionBase):
    NAME = "mailfleet.outlook.sample"
    ARGUMENT_SPEC = SPEC

    def run_validated(self, args, task_vars, result):
        if args["dest"] == "/boom":
            raise ActionError("dest='/boom': goes boom. Fix: another dest")
        self.seen = args  # pylint: disable=attribute-defined-outside-init
        result.update(changed=False, ok=True)
        return result


def run(action_class, args, task_vars=None):
    action = action_class.__new__(action_class)
    action._task = SimpleNamespace(args=dict(args), async_val=0, check_mode=False, action="test")  # pylint: disable=protected-access
    action._connection = SimpleNamespace(_shell=SimpleNamespace(tmpdir="/nonexistent"))  # pylint: disable=protected-access
    return action, action.run(task_vars=task_vars or {})


def test_valid_arguments_get_their_defaults_and_types():
    action, result = run(Sample, {"dest": "/tmp/x", "count": "5"})
    assert result == {"changed": False, "ok": True}
    assert action.seen == {"dest": "/tmp/x", "count": 5, "kind": "a", "pin": None}


@pytest.mark.parametrize("args, words", [
    ({}, ["missing required arguments: dest"]),
    ({"dest": "/x", "kind": "c"}, ["kind", "a, b", "got: c"]),
    ({"dest": "/x", "count": "many"}, ["count", "many", "int"]),
    ({"dest": "/x", "colour": "red"}, ["unsupported option(s) colour"]),
    ({"dest": "/x", "count": ["x"]}, ["count", "['x']", "int"]),
])
def test_bad_arguments_name_option_value_and_fix(args, words):
    _action, result = run(Sample, args)
    assert result["failed"] is True and result["changed"] is False
    msg = result["msg"]
    assert msg.startswith("mailfleet.outlook.sample: invalid arguments: ")
    assert "Fix: " in msg and "ansible-doc mailfleet.outlook.sample" in msg
    for word in words:
        assert word in msg, msg


def test_a_no_log_value_is_never_quoted_back():
    _action, result = run(Sample, {"dest": "/x", "pin": "canary-7f3a"})
    assert result["failed"] is True
    assert "pin" in result["msg"] and "int" in result["msg"]
    assert "canary-7f3a" not in result["msg"], result["msg"]


def test_internal_options_are_refused_before_the_spec():
    assert internal_options({"_files": [], "dest": "/x", "_b": 1}) == ["_b", "_files"]
    params, msg = validate_arguments("mailfleet.outlook.sample", SPEC, {"dest": "/x", "_files": []})
    assert params is None
    assert msg == ("mailfleet.outlook.sample: _files: set by the action plugin for its module, not by a task. "
                   "Fix: remove it from the task")


def test_the_plugins_failures_become_a_failed_result():
    _action, result = run(Sample, {"dest": "/boom"})
    assert result == {"failed": True, "changed": False, "msg": "dest='/boom': goes boom. Fix: another dest"}


def test_other_errors_are_not_swallowed():
    class Broken(Sample):
        def run_validated(self, args, task_vars, result):
            raise KeyError("bug")

    with pytest.raises(KeyError):
        run(Broken, {"dest": "/x"})


def test_both_action_plugins_use_the_base():
    from ansible_collections.mailfleet.outlook.plugins.action import fleet_report, mail_config  # pylint: disable=import-outside-toplevel
    from ansible_collections.mailfleet.outlook.plugins.module_utils._apply import USER_ARGUMENT_SPEC  # pylint: disable=import-outside-toplevel
    from ansible_collections.mailfleet.outlook.plugins.modules import fleet_report as fleet_report_module  # pylint: disable=import-outside-toplevel

    assert issubclass(fleet_report.ActionModule, MailfleetActionBase)
    assert issubclass(mail_config.ActionModule, MailfleetActionBase)
    assert fleet_report.ActionModule.ARGUMENT_SPEC is fleet_report_module.ARGUMENT_SPEC
    assert mail_config.ActionModule.ARGUMENT_SPEC is USER_ARGUMENT_SPEC


@pytest.mark.parametrize("args, words", [
    ({}, ["missing required arguments: dest"]),
    ({"formats": ["json", "pdf"]}, ["formats", "json, junit, html", "pdf"]),
    ({"fail_on_failure": "sometimes"}, ["fail_on_failure", "sometimes", "bool"]),
    ({"hosts": {"a": 1}}, ["hosts", "list"]),
    ({"colour": "red"}, ["unsupported option(s) colour"]),
    ({"_paths": {}}, ["_paths: set by the action plugin"]),
])
def test_fleet_report_bad_input_fails_before_anything_is_written(tmp_path, args, words):
    from ansible_collections.mailfleet.outlook.plugins.action.fleet_report import ActionModule  # pylint: disable=import-outside-toplevel

    dest = tmp_path / "report"
    task = dict({"dest": str(dest)}, **args) if args else {}
    _action, result = run(ActionModule, task, task_vars={"ansible_play_hosts_all": ["h1"], "hostvars": {"h1": {}}})
    assert result["failed"] is True and result["changed"] is False
    assert result["msg"].startswith("mailfleet.outlook.fleet_report: ")
    assert "Fix: " in result["msg"]
    for word in words:
        assert word in result["msg"], result["msg"]
    assert not dest.exists()


@pytest.mark.parametrize("option", ["_files", "_secret_contents", "_validate", "_services", "_programs"])
def test_mail_config_refuses_its_internal_options_in_a_task(tmp_path, option):
    from ansible_collections.mailfleet.outlook.plugins.action import mail_config  # pylint: disable=import-outside-toplevel

    assert option[1:] in mail_config.INTERNAL_OPTIONS
    root = tmp_path / "root"
    _action, result = run(mail_config.ActionModule, {"format": ["postfix_relay"], "root": str(root), option: []})
    assert result["failed"] is True and result["changed"] is False
    assert result["msg"] == ("mailfleet.outlook.mail_config: %s: set by the action plugin for its module, not by a "
                             "task. Fix: remove it from the task" % option)
    assert not root.exists()


@pytest.mark.parametrize("option", ["files", "secret_contents", "validate", "services", "programs"])
def test_mail_config_plumbing_is_internal(option):
    from ansible_collections.mailfleet.outlook.plugins.modules import mail_config  # pylint: disable=import-outside-toplevel
    import yaml  # pylint: disable=import-outside-toplevel

    options = yaml.safe_load(mail_config.DOCUMENTATION)["options"]
    # only the _-prefixed name exists; validate-modules wants it documented (no ignore file), as internal
    assert option not in options
    description = options["_" + option]["description"]
    text = " ".join(description) if isinstance(description, list) else description
    assert text.startswith("Internal, set by the action plugin (a task that gives it fails).")
