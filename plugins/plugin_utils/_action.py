# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one convention of the collection's action plugins (as community.crypto's action base classes do).

A subclass sets ``NAME`` (its fully qualified name, for messages), ``ARGUMENT_SPEC`` (the options a task gives,
the same spec as its module's documentation) and implements ``run_validated(args, task_vars, result)``. The base:

- refuses ``_``-prefixed options in the task: they are the plumbing an action plugin passes to its module
  (as ``ansible.builtin.copy`` does), never set by a task;
- validates the task's arguments against ``ARGUMENT_SPEC`` before anything else runs, so that bad input fails
  with the option, the value and the fix before anything is written;
- turns the errors of ``FAILURES`` into a failed result (``failed``, ``changed: false``, ``msg``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.errors import ArgumentTypeError, UnsupportedError
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase


class ActionError(Exception):
    """A failure whose message is meant for the user (it says what is wrong and the fix)."""


def internal_options(args):
    """The task's options that are plumbing (``_``-prefixed), sorted."""
    return sorted(to_text(k) for k in (args or {}) if to_text(k).startswith("_"))


_TYPE_ERROR = re.compile(r"^argument '([^']+)' is of type ")


def _problem(error, argument_spec, args):
    """The message of one validation error, naming the value where ansible-core does not.

    ansible-core's type errors name the value only when Python's conversion message does (2.16 says "<class 'str'>
    cannot be converted to an int"): the given value of a top-level option is added, or, for a ``no_log`` option,
    masked wherever the conversion message quoted it."""
    text = to_text(error)
    if isinstance(error, UnsupportedError):
        return "unsupported option(s) %s" % text
    match = _TYPE_ERROR.match(text) if isinstance(error, ArgumentTypeError) else None
    if match and " found in '" not in text and match.group(1) in args:
        name = match.group(1)
        given = to_text(args[name])
        if argument_spec.get(name, {}).get("no_log"):
            if given:
                text = text.replace(given, "********")
        elif given not in text:
            text += " (got: %s)" % to_text(repr(args[name]))
    return text


def validate_arguments(name, argument_spec, args):
    """(validated parameters, None) or (None, message): the message names each bad option and value and says
    the fix. ``_``-prefixed options are refused before the spec is looked at."""
    internal = internal_options(args)
    if internal:
        return None, ("%s: %s: set by the action plugin for its module, not by a task. Fix: remove %s from the "
                      "task" % (name, ", ".join(internal), "it" if len(internal) == 1 else "them"))
    args = dict(args or {})
    validation = ArgumentSpecValidator(argument_spec).validate(args)
    if validation.error_messages:
        problems = [_problem(e, argument_spec, args) for e in validation.errors]
        return None, ("%s: invalid arguments: %s. Fix: give only the documented options, each a value of its "
                      "type and choices (ansible-doc %s lists them)" % (name, "; ".join(problems), name))
    return validation.validated_parameters, None


class MailfleetActionBase(ActionBase):
    """Argument-spec validation and common result handling for the collection's action plugins."""

    NAME = None
    ARGUMENT_SPEC = None
    FAILURES = (ActionError,)

    def run(self, tmp=None, task_vars=None):
        if task_vars is None:
            task_vars = {}
        result = super(MailfleetActionBase, self).run(tmp, task_vars)
        del tmp
        args, error = validate_arguments(self.NAME, self.ARGUMENT_SPEC, self._task.args)
        if error is not None:
            result.update(failed=True, changed=False, msg=error)
            return result
        try:
            return self.run_validated(args, task_vars, result)
        except self.FAILURES as e:
            result.update(failed=True, changed=False, msg=to_text(e))
            return result

    def run_validated(self, args, task_vars, result):
        """The plugin's work on validated ``args``; returns ``result`` updated."""
        raise NotImplementedError
