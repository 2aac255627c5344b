# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Values are data, generated over the whole format registry: every variable of every format (every string
nested in it too: accounts, domains, extra settings), every setting of the settings model and every secret gets
a newline followed by a directive. The mail_config planner (the action plugin's controller half, in this
process) must refuse each one before rendering anything, naming the variable as the caller wrote it (secrets:
named, value never shown). A format or variable added later is covered without touching this file; a new
format only needs a valid call in BASELINES.
"""

from __future__ import annotations

import pytest
import yaml

from mailfleet_testing import REPO_ROOT, format_planner

from ansible_collections.mailfleet.outlook.plugins.action.mail_config import PlanError
from ansible_collections.mailfleet.outlook.plugins.filter.client_accounts import client_accounts
from ansible_collections.mailfleet.outlook.plugins.module_utils._catalog import PROFILES
from ansible_collections.mailfleet.outlook.plugins.module_utils._settings import OVERRIDE_KEYS, SettingsError
from ansible_collections.mailfleet.outlook.plugins.plugin_utils._formats import FORMATS

pytestmark = pytest.mark.timeout(120)

DIRECTIVE = "\ninet_interfaces = all\nmynetworks = 0.0.0.0/0\nalways_bcc = spy@evil.example"
CLIENT_ID = "11111111-2222-3333-4444-555555555555"
# One of each kind: C0 (NUL, CR, ESC, TAB), DEL, C1 (NEL), the Unicode separators, a lone surrogate.
CONTROLS = ["\r", "\x00", "\x1b", "\t", "\x7f", "\x85", "\u2028", "\u2029", "\ud800"]


def _accounts():
    oauth = client_accounts([{"user": "alice", "address": "alice@contoso.com", "display_name": "Alice",
                              "clients": ["msmtp", "neomutt", "thunderbird"], "thunderbird_profile": ".thunderbird/x"}],
                            client_id=CLIENT_ID)
    password = client_accounts([{"user": "bob", "address": "bob@contoso.com", "auth_method": "password",
                                 "password": "pw", "clients": ["msmtp", "neomutt", "evolution"]}])
    return oauth, password


def baselines():
    """A valid call of every format: (profile, settings, vars, secrets, var_prefix)."""
    oauth, password = _accounts()
    o_acc, p_acc = oauth["accounts"][0], password["accounts"][0]

    def user(account):
        return {"user": account["user"], "group": account["user"], "home": "/home/" + account["user"], "account": account}

    relay = {"auth_method": "password", "username": "alerts@contoso.com"}
    return {
        "postfix_relay": ("microsoft365", relay, {}, {"password": "pw"}, "relay_"),
        "msmtp_relay": ("microsoft365", relay, {}, {"password": "pw"}, "relay_"),
        "oauth2_token_helper": ("microsoft365", {"auth_method": "oauth2", "tenant": "contoso.onmicrosoft.com",
                                                 "client_id": CLIENT_ID}, {}, {"client_secret": "cs"}, "relay_"),
        "postfix_xoauth2": ("microsoft365", {"auth_method": "oauth2", "tenant": "contoso.onmicrosoft.com",
                                             "client_id": CLIENT_ID, "username": "alerts@contoso.com"}, {},
                            {"client_secret": "cs"}, "relay_"),
        "client_msmtp": ("microsoft365", o_acc["overrides"], user(o_acc), {}, "client_"),
        "client_oauth2": ("microsoft365", o_acc["overrides"], user(o_acc), {}, "client_"),
        "client_neomutt": ("microsoft365", o_acc["overrides"], user(o_acc), {}, "client_"),
        "client_thunderbird": ("microsoft365", o_acc["overrides"], user(o_acc), {}, "client_"),
        "client_password": ("microsoft365", p_acc["overrides"], user(p_acc), {"password": "pw"}, "client_"),
        "client_evolution": ("microsoft365", p_acc["overrides"], user(p_acc), {}, "client_"),
        "client_autoconfig": ("microsoft365", {}, {"publish_dir": "/srv/p", "domain": oauth["domains"][0]}, {}, "client_"),
        "client_autodiscover": ("microsoft365", {}, {"publish_dir": "/srv/p", "domain": oauth["domains"][0]}, {}, "client_"),
        "client_apple": ("microsoft365", o_acc["overrides"], {"publish_dir": "/srv/p", "account": o_acc}, {}, "client_"),
        "client_thunderbird_isp": ("microsoft365", {}, {"domain": oauth["domains"][0]}, {}, "client_"),
        "client_msmtp_system": ("microsoft365", {}, {"profiles": oauth["profiles"]}, {}, "client_"),
        "client_token_command": ("microsoft365", {}, {}, {}, "client_"),
    }


@pytest.fixture(scope="module")
def planner():
    return format_planner()


def _plan(planner, fmt, profile, settings, variables, secrets, prefix):
    return planner._plan({"format": [fmt], "profile": profile, "settings": settings, "vars": variables,
                          "secrets": secrets, "var_prefix": prefix, "template_dir": None, "root": "/", "backup": False,
                          "reload": False, "validate_only": False}, {})


def _leaves(name, value):
    """(path, replace(new) -> a copy of value with that leaf replaced) for every string leaf (and scalar)."""
    if isinstance(value, (dict, list, tuple)) and not value:  # an empty default (extra settings): one entry
        yield ("%s.sample" % name, lambda new: {"sample": "x" + new}) if isinstance(value, dict) else (
            "%s[0]" % name, lambda new: ["x" + new])
    elif isinstance(value, dict):
        for key, item in value.items():
            for path, replace in _leaves("%s.%s" % (name, key), item):
                yield path, (lambda new, key=key, replace=replace: dict(value, **{key: replace(new)}))
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            for path, replace in _leaves("%s[%d]" % (name, index), item):
                yield path, (lambda new, index=index, replace=replace:
                             [replace(new) if i == index else v for i, v in enumerate(value)])
    else:  # a string, number, boolean or None: the injected text replaces it (or follows it)
        yield name, (lambda new: (value + new) if isinstance(value, str) else "x" + new)


def cases():
    table = baselines()
    for name in sorted(FORMATS):
        assert name in table, "format %s has no valid call in BASELINES: add one, so that it is tested too" % name
        fmt = FORMATS[name]
        profile, settings, variables, secrets, prefix = table[name]
        for var in sorted(fmt.variables):
            if var in fmt.multiline:
                continue
            value = variables.get(var, fmt.variables[var])
            for path, replace in _leaves(var, value):
                yield pytest.param(name, "vars", var, path, replace, id="%s-vars-%s" % (name, path))
        for key in OVERRIDE_KEYS:
            yield pytest.param(name, "settings", key, key, lambda new, key=key: "x" + new, id="%s-settings-%s" % (name, key))
        for secret in fmt.secrets:  # a multi-line secret (a PEM key) takes line breaks, never an escape character
            lead = "canary-secret\x1b[2J" if secret in fmt.multiline else "canary-secret"
            yield pytest.param(name, "secrets", secret, secret, lambda new, lead=lead: lead + new,
                               id="%s-secrets-%s" % (name, secret))


def test_every_baseline_is_valid(planner):
    for name, (profile, settings, variables, secrets, prefix) in baselines().items():
        result = _plan(planner, name, profile, settings, variables, secrets, prefix)
        assert result["files"], name


@pytest.mark.parametrize("fmt, where, key, path, replace", list(cases()))
def test_a_newline_in_any_value_is_refused_before_rendering(planner, fmt, where, key, path, replace):
    profile, settings, variables, secrets, prefix = baselines()[fmt]
    call = {"settings": dict(settings), "vars": dict(variables), "secrets": dict(secrets)}
    if where == "vars":  # the leaf ``path`` of the variable's value in this call (or of its default)
        base = call["vars"].get(key, FORMATS[fmt].variables.get(key))
        call["vars"][key] = dict(_leaves(key, base))[path](DIRECTIVE)
    else:
        call[where][key] = replace(DIRECTIVE)
    with pytest.raises((PlanError, SettingsError)) as info:
        _plan(planner, fmt, profile, call["settings"], call["vars"], call["secrets"], prefix)
    text = str(info.value)
    # the message names the variable as the caller wrote it, says what is wrong and how to fix it
    assert text.startswith(prefix + path + "="), text
    assert "control character" in text and "Fix:" in text
    if where == "secrets":
        assert "canary-secret" not in text and "<hidden>" in text


@pytest.mark.parametrize("control", CONTROLS, ids=[repr(c) for c in CONTROLS])
@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_every_kind_of_control_character_is_refused(planner, fmt, control):
    profile, settings, variables, secrets, prefix = baselines()[fmt]
    variables = dict(variables)
    name = sorted(v for v in FORMATS[fmt].variables if v not in FORMATS[fmt].multiline)[0]
    variables[name] = "value" + control + "x"
    with pytest.raises((PlanError, SettingsError), match=r"^%s%s=.*control character" % (prefix, name)):
        _plan(planner, fmt, profile, settings, variables, secrets, prefix)


def test_multiline_variables_take_newlines_but_no_other_control_character(planner):
    # the token command's library is a file of the collection now (File(source=...)), not a variable
    assert FORMATS["client_token_command"].multiline == ()
    profile, settings, variables, secrets, prefix = baselines()["postfix_xoauth2"]
    assert FORMATS["postfix_xoauth2"].multiline == ("client_certificate", "client_key")
    secrets = {"client_key": "-----BEGIN PRIVATE KEY-----\nk\n-----END PRIVATE KEY-----\n"}
    text = "-----BEGIN CERTIFICATE-----\nline 1\r\nline 2\n\tindented\n-----END CERTIFICATE-----"
    result = _plan(planner, "postfix_xoauth2", profile, settings, {"client_certificate": text}, secrets, prefix)
    assert any(text in (f.get("content") or "") for f in result["files"])
    for bad in ("\x00", "\x1b[2J", "a\rb", "\u2028"):
        with pytest.raises(SettingsError, match="^relay_client_certificate="):
            _plan(planner, "postfix_xoauth2", profile, settings, {"client_certificate": text + bad}, secrets, prefix)


@pytest.mark.parametrize("arg", ["root", "template_dir"])
def test_the_call_arguments_are_checked_too(planner, arg):
    profile, settings, variables, secrets, prefix = baselines()["postfix_relay"]
    args = {"format": ["postfix_relay"], "profile": profile, "settings": settings, "vars": variables, "secrets": secrets,
            "var_prefix": prefix, "template_dir": None, "root": "/", "backup": False, "reload": False,
            "validate_only": False}
    args[arg] = "/tmp/x" + DIRECTIVE
    with pytest.raises(SettingsError, match="^%s=.*control character" % arg):
        planner._plan(args, {})


@pytest.mark.parametrize("profile", sorted(name for name, profile in PROFILES.items() if (profile.get("smtp") or {}).get("host")))
def test_every_catalog_profile_renders_every_format_it_supports(planner, profile):
    """The catalog's own values (hosts, ports, scopes, notes of every profile, microsoft365_hve and lab too) go
    through the same quoting: under every profile, each format either renders or is refused for what the profile
    lacks (no IMAP, no OAuth2 there) - never because a catalog value cannot be written into a file. (``custom``
    has no values of its own: its settings are the OVERRIDE_KEYS cases above.)"""
    rendered = 0
    for name in sorted(FORMATS):
        _profile, settings, variables, secrets, prefix = baselines()[name]
        try:
            result = _plan(planner, name, profile, settings, variables, secrets, prefix)
        except (PlanError, SettingsError) as err:
            text = str(err)
            assert "control character" not in text and "cannot be written" not in text, (name, text)
            continue
        assert result["files"], name
        rendered += 1
    assert rendered >= 3, "profile %s rendered only %d formats" % (profile, rendered)


def _role_specs():
    for spec_file in sorted((REPO_ROOT / "roles").glob("*/meta/argument_specs.yml")):
        yield spec_file.parent.parent.name, yaml.safe_load(spec_file.read_text())["argument_specs"]


@pytest.mark.parametrize("role, entry_point", [(role, entry) for role, specs in _role_specs() for entry in sorted(specs)])
def test_every_role_entry_point_checks_its_variables(role, entry_point):
    """tests/integration/security/test_values_roles.py feeds a newline into every string variable of each role's
    main entry point. Every other entry point's text variables must be main's too (so they are covered there),
    and its task file must check them first (query('mailfleet.outlook.checked_role_vars')), unless it takes no
    text at all."""
    specs = dict(_role_specs())[role]
    options = specs[entry_point].get("options") or {}
    text_options = sorted(n for n, o in options.items() if (o or {}).get("type", "str") not in ("bool", "int", "float"))
    if entry_point != "main":
        assert all(options[n] == specs["main"]["options"].get(n) for n in text_options), (
            "%s: entry point %s has text variables main does not declare alike: %s" % (role, entry_point, text_options))
    if not text_options:
        return
    tasks = REPO_ROOT / "roles" / role / "tasks" / ("%s.yml" % entry_point)
    first_task = yaml.safe_load(tasks.read_text())[0]
    checks = "mailfleet.outlook.checked_role_vars" in str(first_task)
    includes = first_task.get("ansible.builtin.include_tasks")
    if not checks and includes:  # main.yml of reachability starts with probe.yml, whose first task checks
        checks = "mailfleet.outlook.checked_role_vars" in str(
            yaml.safe_load((tasks.parent / includes).read_text())[0])
    assert checks, "%s: the first task of %s does not check the variables (checked_role_vars)" % (role, tasks.name)
