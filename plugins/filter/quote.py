# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: quote
author: mailfleet engineers (@mailfleet)
version_added: 0.2.0
short_description: Write a value for one configuration file syntax, so that it stays one value
description:
  - Returns O(_input) written for the syntax O(syntax), so that the program that reads the file gets back exactly
    that value and never an extra directive. The collection's templates use it for every value they write; use
    it in your own templates (O(mailfleet.outlook.mail_config#module:template_dir)) too.
  - Refuses a value that holds a control character (newline, carriage return, NUL, the other C0 and C1 characters,
    U+2028, U+2029), and a value the syntax cannot represent (for Postfix, blanks at either end of a value; a
    comma or blank in a table path). In the mail_config render step the error names the variable O(variable).
  - See docs/security.md (section "Values are data") for each syntax's rule.
options:
  _input:
    description: The value (a string; numbers and booleans are converted; V(shell) also takes a list of words).
    type: raw
    required: true
  syntax:
    description:
      - V(postfix) - a main.cf value or a regexp table result (C($) written C($$)).
      - V(postfix_expression) - a main.cf value in which C($name) is expanded by Postfix (extra settings).
      - V(postfix_map) - the path of a lookup table inside a list parameter (no blanks, commas, braces).
      - V(postfix_regexp) - literal text inside a C(/.../) pattern of a regexp table.
      - V(postfix_table_value) - the value of a postmap source line (no trailing blanks).
      - V(msmtp) - a msmtp configuration argument (double quotes when needed; nothing inside is an escape).
      - V(shell) - one word, or a list of words, for C(sh -c) (shlex.quote).
      - V(neomutt) - a neomutt string in double quotes.
      - V(neomutt_command_output) - a neomutt string holding a backtick command (a list of words).
      - V(keyfile) - a GLib key-file value (Evolution).
      - V(xml) / V(xml_comment) - XML 1.0 text or attribute value / comment text (also Apple plists).
      - V(userjs) - a Thunderbird C(user_pref) value.
      - V(json) - a JSON document of the value.
    type: str
    required: true
    choices: [postfix, postfix_expression, postfix_map, postfix_regexp, postfix_table_value, msmtp, shell, neomutt,
              neomutt_command_output, keyfile, xml, xml_comment, userjs, json]
  variable:
    description: The variable the value comes from, for the error text.
    type: str
"""

EXAMPLES = r"""
- name: A main.cf line in a template
  ansible.builtin.debug:
    msg: "myhostname = {{ relay_myhostname | mailfleet.outlook.quote('postfix', 'myhostname') }}"
"""

RETURN = r"""
_value:
  description: The value as the syntax writes it.
  type: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.mailfleet.outlook.plugins.module_utils._settings import is_secret_name
from ansible_collections.mailfleet.outlook.plugins.plugin_utils._quote import Unrepresentable, quote as _quote


def quote(value, syntax, variable=None):
    try:
        return _quote(value, syntax, variable)
    except Unrepresentable as err:
        # the original error stays attached (__cause__): the mail_config render step names the variable from it.
        # The value is shown only when the variable is named and is not a secret.
        shown = "%s=%r" % (variable, err.value) if variable and not is_secret_name(variable) else (
            "%s=<hidden>" % variable if variable else "a value")
        raise AnsibleFilterError("%s cannot be written for %s: %s. Fix: %s" % (shown, err.syntax, err.problem, err.fix)) from err
    except ValueError as err:
        raise AnsibleFilterError(str(err)) from err


class FilterModule(object):
    def filters(self):
        return {"quote": quote}
