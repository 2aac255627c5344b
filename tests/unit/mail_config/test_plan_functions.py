# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The steps of mail_config's plan, module-level functions of plugins/action/mail_config.py, one by one (the
whole plan with real templates is covered by test_relay_proxy.py, tests/unit/client and the integration tests)."""

from __future__ import annotations

import pytest

from ansible_collections.mailfleet.outlook.plugins.action import mail_config as mc
from ansible_collections.mailfleet.outlook.plugins.plugin_utils._format_model import File, Format
from ansible_collections.mailfleet.outlook.plugins.plugin_utils._formats import FORMATS

pytestmark = pytest.mark.timeout(30)


def var(name):
    return "relay_" + name


def test_var_namer_prefers_the_callers_own_names():
    namer = mc._var_namer({"var_prefix": "relay_", "var_names": {"map_type": "relay_postfix_map_type"}})  # pylint: disable=protected-access
    assert namer("mode") == "relay_mode" and namer("map_type") == "relay_postfix_map_type"
    assert mc._var_namer({"var_prefix": None})("mode") == "mode"  # pylint: disable=protected-access


def test_plan_formats_keeps_the_order_once_each_and_names_an_unknown_one():
    assert mc.plan_formats(["msmtp_relay", "postfix_relay", "msmtp_relay"], var) == [
        FORMATS["msmtp_relay"], FORMATS["postfix_relay"]]
    with pytest.raises(mc.PlanError, match=r"^relay_format='nope': not a known format\. Fix: use one of "):
        mc.plan_formats(["postfix_relay", "nope"], var)


def test_format_variables_are_defaults_overridden_by_the_formats_own_given_values():
    fmt = Format("t", "test", [], variables={"a": 1, "b": 2})
    assert mc.format_variables(fmt, {"a": 5, "b": None, "c": 3}) == {"a": 5, "b": 2}


def test_precheck_sees_non_empty_settings_and_its_errors_name_the_variable():
    seen = []

    def precheck(cfg, settings, name):
        seen.append((cfg, settings))
        return [("a", "too big", "give 1")]

    fmt = Format("t", "test", [], variables={"a": 1}, precheck=precheck)
    with pytest.raises(mc.PlanError, match=r"^relay_a: too big\. Fix: give 1$"):
        mc.precheck_formats([fmt], {"a": 9}, {"username": "u", "sender": "", "tenant": None}, var)
    assert seen == [({"a": 9}, {"username": "u"})]


def test_unknown_variables_are_named_with_the_known_ones():
    fmt = Format("t", "test", [], variables={"a": 1})
    mc.refuse_unknown_variables([fmt], {"a": 2}, var)
    with pytest.raises(mc.PlanError) as err:
        mc.refuse_unknown_variables([fmt], {"zz": 1, "a": 2}, var)
    assert str(err.value) == "relay_zz: not a variable of format(s) t. Fix: use one of relay_a"


def test_given_secrets_refuses_a_secret_no_format_takes():
    fmt = Format("t", "test", [], secrets=("password",))
    assert mc.given_secrets([fmt], {"password": "x"}, var) == {"password"}
    assert mc.given_secrets([fmt], {"password": ""}, var) == set()
    with pytest.raises(mc.PlanError) as err:
        mc.given_secrets([Format("u", "test", [])], {"password": "x"}, var)
    assert str(err.value) == "relay_password: not a secret of format(s) u. Fix: use no secrets"


def test_template_searchpath_puts_the_users_directory_first(tmp_path):
    assert mc.template_searchpath(None, var) == [mc.BUILTIN_TEMPLATES]
    assert mc.template_searchpath(str(tmp_path), var) == [str(tmp_path), mc.BUILTIN_TEMPLATES]
    with pytest.raises(mc.PlanError, match=r"^relay_template_dir=.*: not a directory on the controller\. Fix: "):
        mc.template_searchpath(str(tmp_path / "missing"), var)


def test_file_entry_fills_paths_and_commands():
    fmt = Format("t", "test", [])
    spec = File("t/a.j2", "{dir}/a", mode="0600", post=[["postmap", "{dir}/a"]], creates=["{dir}/a.db"],
                post_hint=lambda name: "run %s" % name("x"))
    entry = mc.file_entry(fmt, spec, {"dir": "/etc/t"}, {}, var)
    assert entry == {"path": "/etc/t/a", "mode": "0600", "owner": "root", "group": "root", "secret": False,
                     "dir_mode": "0755", "post": [["postmap", "/etc/t/a"]], "creates": ["/etc/t/a.db"],
                     "remove_with": [], "post_hint": "run relay_x"}
    skipped = File("t/a.j2", "{dir}/a", post=[["postmap", "{dir}/a"]], post_when=lambda ctx: False)
    assert mc.file_entry(fmt, skipped, {"dir": "/etc/t"}, {}, var)["post"] == []


def test_file_entry_names_a_missing_variable_and_a_relative_path():
    fmt = Format("t", "test", [])
    with pytest.raises(mc.PlanError) as err:
        mc.file_entry(fmt, File("t/a.j2", "{dir}/a"), {}, {}, var)
    assert str(err.value) == "format t, file {dir}/a: variable relay_dir is required. Fix: set relay_dir"
    with pytest.raises(mc.PlanError, match=r"^format t: 'etc/a' is not an absolute path\. Fix: give absolute paths$"):
        mc.file_entry(fmt, File("t/a.j2", "{dir}/a"), {"dir": "etc"}, {}, var)


def test_format_validators_fill_both_forms():
    fmt = Format("t", "test", [], validate=[["check", "{dir}"], {"argv": ["check", "-c", "{dir}"], "tty": True}])
    assert mc.format_validators(fmt, {"dir": "/etc/t"}) == [
        ["check", "/etc/t"], {"argv": ["check", "-c", "/etc/t"], "tty": True}]


def test_plan_renders_each_file_once_and_keeps_secrets_apart():
    calls = []

    def render(template, searchpath, ours, describe):
        calls.append(template)
        assert searchpath == [mc.BUILTIN_TEMPLATES] and ours["mailfleet_format"] == "postfix_relay"
        assert describe("password") == ("relay_password", True)
        return "rendered %s\n" % template

    args = {"format": ["postfix_relay"], "profile": "microsoft365", "vars": {}, "var_prefix": "relay_",
            "settings": {"auth_method": "password", "username": "alerts@contoso.com"},
            "secrets": {"password": "canary-plan"}, "template_dir": None}
    result = mc.plan(args, render)
    present = [f for f in result["files"] if f["state"] == "present"]
    assert len(calls) == len(present) and result["formats"] == ["postfix_relay"]
    for entry in present:
        if entry["secret"]:
            assert "content" not in entry and result["secret_contents"][entry["path"]].startswith("rendered ")
        else:
            assert entry["content"].startswith("rendered ")
    assert any(f["secret"] for f in present) and result["validate"] and result["services"]
    assert any("Basic auth" in w or "Basic authentication" in w for w in result["warnings"])
    assert "canary-plan" not in repr(result["settings"])


def test_plan_fails_before_rendering():
    def render(*_args):
        raise AssertionError("rendered despite bad input")

    args = {"format": ["postfix_relay"], "profile": "microsoft365", "vars": {"nonsense": 1}, "var_prefix": "relay_",
            "settings": {"auth_method": "password", "username": "alerts@contoso.com"},
            "secrets": {"password": "x"}, "template_dir": None}
    with pytest.raises(mc.PlanError, match="relay_nonsense: not a variable"):
        mc.plan(args, render)
