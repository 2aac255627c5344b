# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Values are data, generated over the roles: every string variable of every role - enumerated from
roles/*/meta/argument_specs.yml, with every string nested in it (client_accounts keys, settings keys, the
suboptions of reachability's lists and dicts) - gets a newline followed by directives, and the real role runs
with real ansible-playbook. Each case must fail before any change (no task reports a change, nothing is written
under the case's own directories), with a message that names the variable (and never shows a secret's value).

One ansible-playbook process per role: each case is one block that includes the role, whose rescue records
where and why it failed. A control case per role - the same variables without the newline - must write files,
so "nothing was written" is not true by accident. A variable added to an argument spec is covered without a
change here.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import yaml

from mailfleet_testing import REPO_ROOT

from ansible_collections.mailfleet.outlook.plugins.module_utils._settings import OVERRIDE_KEYS
from ansible_collections.mailfleet.outlook.plugins.plugin_utils._client import ACCOUNT_KEYS

pytestmark = pytest.mark.timeout(300)

DIRECTIVE = "\ninet_interfaces = all\nmynetworks = 0.0.0.0/0\nset ssl_force_tls = no"
CANARY = "canary-secret-7c1e"
# plausible values to put the newline after (the exact value does not matter: the newline must be found first);
# paths point into the test's directory, so that anything created through one would be seen
SAMPLE = {"str": "x", "raw": "x"}
DICT_KEYS = {  # dictionaries whose keys the argument spec does not list
    "relay_extra_settings": ["smtp_helo_name"],
    "client_settings": list(OVERRIDE_KEYS),
    "reachability_settings": list(OVERRIDE_KEYS),
    "reachability_auth": ["username", "password", "oauth2_token", "mechanism"],
}
LIST_OF_DICT_KEYS = {"client_accounts": list(ACCOUNT_KEYS)}
SECRET_KEYS = ("password", "client_secret", "oauth2_token", "secrets")


def _options(role):
    spec = yaml.safe_load((REPO_ROOT / "roles" / role / "meta" / "argument_specs.yml").read_text())
    return spec["argument_specs"]["main"]["options"]


def _multiline(role):
    """The variables a role's check takes as multi-line text (checked_role_vars' multiline=[...] in its tasks)."""
    names = set()
    for tasks in (REPO_ROOT / "roles" / role / "tasks").glob("*.yml"):
        for listed in re.findall(r"checked_role_vars'[^)]*multiline=\[([^\]]*)\]", tasks.read_text()):
            names.update(re.findall(r"'([a-z0-9_]+)'", listed))
    return names


def role_cases(role, path_base):
    """(case id, variable name, {variables}, is a secret) for every string place of every role variable. A
    multi-line variable (PEM text) gets an escape character as well: only line breaks are allowed in it."""
    multiline = _multiline(role)

    def _hostile(opt, name=None):
        if opt.get("choices"):
            base = opt["choices"][0]
        else:
            base = str(path_base / "hostile") if opt.get("type") == "path" else SAMPLE.get(opt.get("type", "str"), "x")
        return "%s%s%s" % (base, "\x1b[2J" if name in multiline else "", DIRECTIVE)

    for name, opt in sorted(_options(role).items()):
        kind, secret = opt.get("type", "str"), bool(opt.get("no_log"))
        if kind in ("str", "path", "raw"):
            yield name, name, {name: _hostile(opt, name)}, secret
        elif kind == "list" and opt.get("elements", "str") in ("str", "path"):
            yield name, name, {name: [_hostile({"type": opt.get("elements", "str")})]}, secret
        elif kind in ("list", "dict"):
            subs = opt.get("options") or {}
            keys = sorted(subs) or DICT_KEYS.get(name) or LIST_OF_DICT_KEYS.get(name)
            assert keys, "%s: a %s without suboptions: add its keys to DICT_KEYS / LIST_OF_DICT_KEYS" % (name, kind)
            for key in keys:
                sub = subs.get(key, {})
                if sub.get("type") in ("int", "bool"):
                    continue
                value = {"k": _hostile({})} if sub.get("type") == "dict" else _hostile(sub)
                if key in SECRET_KEYS or "secret" in key or "password" in key:
                    value = {"password": CANARY + DIRECTIVE} if key == "secrets" else CANARY + DIRECTIVE
                entry = dict(_required(subs), **{key: value})
                yield "%s.%s" % (name, key), name, {name: [entry] if kind == "list" else entry}, \
                    secret or key in SECRET_KEYS or "password" in key
        # int and bool variables hold no text


def _required(subs):
    """Valid values for the required suboptions, so that the argument spec lets the case through to the check."""
    out = {}
    for key, sub in subs.items():
        if sub.get("required"):
            kind = sub.get("type", "str")
            out[key] = sub["choices"][0] if sub.get("choices") else {"int": 25, "bool": False, "dict": {}}.get(kind, "x")
    return out


def _control(tmp, role):
    """Valid variables of a role whose run writes files only under tmp (the control case)."""
    if role == "relay":
        return {"relay_root": str(tmp / "root"), "relay_install_packages": False, "relay_manage_service": False,
                "relay_verify": False, "relay_auth_method": "password", "relay_username": "alerts@contoso.com",
                "relay_password": CANARY, "relay_mta": "postfix"}
    if role == "client":
        return {"client_accounts": [{"user": "mfsec-nobody", "address": "nobody@contoso.com", "clients": ["msmtp"],
                                     "auth_method": "password", "password": CANARY}],
                "client_missing_users": "skip", "client_publish_dir": str(tmp / "publish"),
                "client_thunderbird_isp": False}
    return {"reachability_report_dir": str(tmp / "report"), "reachability_smtp": False, "reachability_fail": False,
            "reachability_timeout": 2, "reachability_drift_relay": False,
            "reachability_extra_endpoints": [{"name": "closed", "host": "127.0.0.1", "port": 9, "security": "none",
                                              "required": False}]}


def _block(case_id, role, variables):
    return {"name": "case %s" % case_id, "block": [
        {"name": "run %s" % case_id, "ansible.builtin.include_role": {"name": "mailfleet.outlook.%s" % role},
         "vars": variables},
        {"name": "record %s" % case_id, "ansible.builtin.set_fact": {
            "mf_outcome": "{{ mf_outcome | combine({%r: {'failed': false}}) }}" % case_id}},
    ], "rescue": [
        {"name": "record failure %s" % case_id, "ansible.builtin.set_fact": {
            "mf_outcome": "{{ mf_outcome | combine({%r: {'failed': true, 'task': ansible_failed_task.name, "
                          "'msg': ansible_failed_result.msg | default('')}}) }}" % case_id}},
    ]}


def _files_under(path):
    return sorted(str(Path(d, f).relative_to(path)) for d, _dirs, files in os.walk(path) for f in files)


@pytest.mark.parametrize("role", ["relay", "client", "reachability"])
def test_a_newline_in_any_role_variable_stops_the_run_before_any_change(run_playbook, tmp_path, role):
    work = tmp_path / "work"
    cases = list(role_cases(role, work))
    assert len(cases) >= 10
    tasks = [{"name": "start", "ansible.builtin.set_fact": {"mf_outcome": {}}}]
    tasks.append(_block("control", role, _control(work / "control", role)))
    for index, (case_id, _name, variables, _secret) in enumerate(cases):
        tasks.append(_block(case_id, role, dict(_control(work / ("case%d" % index), role), **variables)))
    tasks.append({"name": "outcome", "ansible.builtin.debug": {"var": "mf_outcome"}})
    run = run_playbook([{"hosts": "localhost", "gather_facts": False, "tasks": tasks}], timeout=280)
    assert not run.timed_out, run.describe()
    outcome = run.result(task="outcome")["mf_outcome"]

    # the control case ran the role to the end and wrote its files
    assert outcome["control"] == {"failed": False}, outcome["control"]
    assert _files_under(work / "control"), "the control case wrote nothing: the harness would prove nothing"

    problems = []
    for index, (case_id, name, _variables, secret) in enumerate(cases):
        got = outcome.get(case_id, {})
        msg = got.get("msg", "")
        if not got.get("failed"):
            problems.append("%s: the run did not fail" % case_id)
            continue
        if name not in msg or ("control character" not in msg and "must be one of" not in msg):
            problems.append("%s: failed at %r without naming the variable: %s" % (case_id, got.get("task"), msg[:300]))
        if secret and CANARY in msg:
            problems.append("%s: the secret's value is in the message" % case_id)
    assert not problems, "\n".join(problems)
    # nothing was written by any case: not under its own directories, not through a path variable
    assert sorted(p.name for p in work.iterdir()) == ["control"], sorted(p.name for p in work.iterdir())
    # and no task after the control case reported a change
    changed = _changed_after_control(run.json["tasks"])
    assert not changed, changed


def test_relay_unsafe_extra_settings_need_their_names_and_are_warned(run_playbook, tmp_path):
    base = _control(tmp_path / "refused", "relay")
    allowed = dict(_control(tmp_path / "allowed", "relay"), relay_allow_unsafe_settings=["inet_interfaces", "mynetworks"])
    unsafe = {"relay_extra_settings": {"inet_interfaces": "all", "mynetworks": "0.0.0.0/0"}}
    run = run_playbook([{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "start", "ansible.builtin.set_fact": {"mf_outcome": {}}},
        _block("refused", "relay", dict(base, **unsafe)),
        _block("allowed", "relay", dict(allowed, **unsafe)),
        {"name": "outcome", "ansible.builtin.debug": {"var": "mf_outcome"}},
    ]}], timeout=200)
    outcome = run.result(task="outcome")["mf_outcome"]
    refused = outcome["refused"]
    assert refused["failed"] and refused["msg"].startswith("relay_extra_settings: inet_interfaces='all' listens beyond")
    assert "relay_allow_unsafe_settings" in refused["msg"] and not (tmp_path / "refused").exists()
    assert outcome["allowed"] == {"failed": False}
    main_cf = (tmp_path / "allowed/root/etc/postfix/main.cf").read_text()
    assert "\ninet_interfaces = all\n" in main_cf and "\nmynetworks = 0.0.0.0/0\n" in main_cf
    assert "loopback-only" not in main_cf
    # the warning is shown on the run that applies them
    assert "applying unsafe main.cf settings because relay_allow_unsafe_settings lists them" in run.stdout + run.stderr


def _changed_after_control(tasks):
    """Tasks reported as changed after the control block (the cases come after it, in order)."""
    after = False
    changed = []
    for task in tasks:
        if task["task"] == "record control":
            after = True
        elif after and task["status"] == "changed":
            changed.append(task["task"])
    return changed
