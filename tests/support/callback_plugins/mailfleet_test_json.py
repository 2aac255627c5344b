# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test-only callback: writes every task result of a run as JSON to $MAILFLEET_TEST_RESULTS.

ansible-core ships no JSON callback (that one lives in ansible.posix), so the test helpers in
tests/support/mailfleet_testing load this one as an extra (aggregate) callback: stdout keeps the
default human-readable output for failure messages, and the results land in a file.
"""

from __future__ import annotations

DOCUMENTATION = r"""
name: mailfleet_test_json
type: aggregate
short_description: write task results as JSON to a file (tests only)
description:
  - Writes the results of every task, per host, and the play recap to the file named by the
    E(MAILFLEET_TEST_RESULTS) environment variable, when the run ends.
requirements:
  - enabled in C(callbacks_enabled)
"""

import json
import os

from ansible.plugins.callback import CallbackBase
from ansible.vars.clean import strip_internal_keys

try:
    from ansible.vars.clean import module_response_deepcopy
except ImportError:  # pragma: no cover - very old ansible-core
    from copy import deepcopy as module_response_deepcopy


def _attr(result, name):
    """result.<name> on ansible-core 2.19+ (CallbackTaskResult), result._<name> before."""
    value = getattr(result, name, None)
    return getattr(result, "_" + name) if value is None else value


def _raw(result):
    return _attr(result, "result")


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "mailfleet_test_json"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._path = os.environ.get("MAILFLEET_TEST_RESULTS")
        self._play = None
        self._plays = []
        self._tasks = []

    # --- collecting -------------------------------------------------------------------------
    def v2_playbook_on_play_start(self, play):
        self._play = play.get_name()
        self._plays.append({"name": self._play, "strategy": play.strategy})

    def _record(self, result, status):
        data = strip_internal_keys(module_response_deepcopy(_raw(result)))
        task = _attr(result, "task")
        self._tasks.append({
            "play": self._play,
            "task": task.get_name(),
            "action": task.action,
            "host": _attr(result, "host").get_name(),
            "status": status,
            "result": data,
        })

    def v2_runner_on_ok(self, result):
        self._record(result, "changed" if _raw(result).get("changed") else "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, "ignored" if ignore_errors else "failed")

    def v2_runner_on_skipped(self, result):
        self._record(result, "skipped")

    def v2_runner_on_unreachable(self, result):
        self._record(result, "unreachable")

    # --- writing ----------------------------------------------------------------------------
    def v2_playbook_on_stats(self, stats):
        if not self._path:
            return
        recap = {host: stats.summarize(host) for host in sorted(stats.processed)}
        document = {"plays": self._plays, "tasks": self._tasks, "stats": recap}
        tmp = self._path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(document, handle, indent=1, sort_keys=True, default=str)
        os.replace(tmp, self._path)
