# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: checked_role_vars
author: mailfleet engineers (@mailfleet)
version_added: 0.2.0
short_description: Refuse control characters in every variable of the calling role
description:
  - Reads the calling role's C(meta/argument_specs.yml) (entry point O(entry_point)), takes the value of every
    variable it declares, and fails with the collection's usual error (variable, value, problem, fix) when a
    string in it - nested in lists and dictionaries too - holds a control character (newline, carriage return,
    NUL, the other C0 and C1 characters, U+2028, U+2029).
  - Secrets (options with C(no_log), and keys such as C(password), C(client_secret), C(oauth2_token)) are named but
    never shown.
  - The collection's roles call it in their first task, so that a value can never add a line to a file they
    write, and the run stops before any host is touched. Variables a new version adds to the argument spec are
    covered without a change here.
  - Returns the names of the variables that were checked.
options:
  _terms:
    description: Not used.
    required: false
  entry_point:
    description: The entry point of the argument spec.
    type: str
    default: main
  multiline:
    description:
      - Variables that take multi-line text (PEM certificates and keys). Line feeds, CR LF and tabs are allowed in
        them, every other control character is still refused.
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: Refuse control characters in the role's variables (before any host change)
  ansible.builtin.set_fact:
    __myrole_checked: "{{ query('mailfleet.outlook.checked_role_vars') }}"
"""

RETURN = r"""
_value:
  description: The names of the variables that were checked.
  type: list
  elements: str
"""

import os

import yaml

from ansible.errors import AnsibleLookupError
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.loader import lookup_loader
from ansible.plugins.lookup import LookupBase

from ansible_collections.mailfleet.outlook.plugins.module_utils._settings import SettingsError, refuse_control_characters


_SPECS = {}  # (path, mtime) -> options: a play over many hosts reads each role's spec once


def _options(spec_file, entry_point):
    key = (spec_file, os.stat(spec_file).st_mtime_ns, entry_point)
    if key not in _SPECS:
        with open(spec_file, "rb") as handle:
            spec = yaml.safe_load(handle)
        _SPECS[key] = spec["argument_specs"][entry_point]["options"] or {}
    return _SPECS[key]


class LookupModule(LookupBase):

    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        variables = variables or {}
        role_path = variables.get("role_path")
        if not role_path:
            raise AnsibleLookupError("mailfleet.outlook.checked_role_vars: call it from a task of a role (role_path is not set)")
        spec_file = os.path.join(to_text(role_path), "meta", "argument_specs.yml")
        try:
            options = _options(spec_file, self.get_option("entry_point"))
        except (OSError, KeyError, TypeError, yaml.YAMLError) as err:
            raise AnsibleLookupError("mailfleet.outlook.checked_role_vars: cannot read the options of %s: %s" % (spec_file, err))
        names = sorted(options)
        multiline = set(self.get_option("multiline") or [])
        values = lookup_loader.get("ansible.builtin.vars", loader=self._loader, templar=self._templar).run(
            names, variables=variables, default="")
        for name, value in zip(names, values):
            try:
                refuse_control_characters(name, value, secret=True if (options[name] or {}).get("no_log") else None,
                                          multiline=name in multiline)
            except SettingsError as err:
                raise AnsibleLookupError(to_text(err))
        return [names]
