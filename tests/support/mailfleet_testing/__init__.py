# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared test helpers: run ansible / ansible-playbook against the collection and read the results.

Used through the fixtures of tests/conftest.py (``collection_env``, ``run_playbook``, ``run_ansible``);
importable directly as ``mailfleet_testing`` (pytest.ini puts tests/support on sys.path).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Union

REPO_ROOT = Path(__file__).resolve().parents[3]
COLLECTIONS_PATH = REPO_ROOT / ".build"
COLLECTION_LINK = COLLECTIONS_PATH / "ansible_collections" / "mailfleet" / "outlook"
CALLBACK_DIR = Path(__file__).resolve().parent.parent / "callback_plugins"
CALLBACK_NAME = "mailfleet_test_json"
# Python used on "targets" that are this machine: the system one (stdlib only, like a real host).
TARGET_PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
DEFAULT_TIMEOUT = 240

PathLike = Union[str, os.PathLike]


def ensure_collection_link() -> Path:
    """Create .build/ansible_collections/mailfleet/outlook -> checkout (what `make collection` does)."""
    if COLLECTION_LINK.resolve() != REPO_ROOT:
        COLLECTION_LINK.parent.mkdir(parents=True, exist_ok=True)
        tmp = COLLECTION_LINK.with_name(".outlook.%d" % os.getpid())
        tmp.symlink_to(REPO_ROOT)
        os.replace(tmp, COLLECTION_LINK)
    return COLLECTIONS_PATH


def ansible_bin(name: str) -> str:
    """Path of an ansible CLI next to the running Python (the .venv), else from PATH."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if not found:
        raise FileNotFoundError("%s not found next to %s nor on PATH" % (name, sys.executable))
    return found


def make_env(local_temp: PathLike, base: Optional[Mapping[str, str]] = None) -> dict:
    """Environment for ansible commands: the collection from .build/, no colour, no host key prompts,
    no retry files, a private local temp dir, the test JSON callback available."""
    env = dict(os.environ if base is None else base)
    env.update({
        "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS_PATH),
        "ANSIBLE_HOST_KEY_CHECKING": "False",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "NO_COLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
        "ANSIBLE_LOCAL_TEMP": str(local_temp),
        "ANSIBLE_CALLBACK_PLUGINS": str(CALLBACK_DIR),
        "ANSIBLE_CALLBACKS_ENABLED": CALLBACK_NAME,
        "ANSIBLE_PYTHON_INTERPRETER": "auto_silent",
        "ANSIBLE_DEPRECATION_WARNINGS": "True",
        "PYTHONDONTWRITEBYTECODE": "1",
    })
    env.pop("ANSIBLE_CONFIG", None)
    # ansible / ansible-playbook of .venv first on PATH, for commands tests spawn themselves.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", os.defpath)])
    return env


@dataclass
class AnsibleRun:
    """Outcome of one ansible / ansible-playbook command."""

    cmd: list
    returncode: int
    stdout: str
    stderr: str
    # {"tasks": [{"play", "task", "action", "host", "status", "result"}, ...], "stats": {host: {...}}}
    # or None when the run ended before the play recap (syntax error, timeout, ...).
    json: Optional[dict] = None
    timed_out: bool = False
    extra: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    @property
    def tasks(self) -> list:
        return (self.json or {}).get("tasks", [])

    @property
    def stats(self) -> dict:
        return (self.json or {}).get("stats", {})

    def results(self, task: Optional[str] = None, host: Optional[str] = None, action: Optional[str] = None) -> list:
        """Result dicts of matching tasks (exact task name / host / action), in run order."""
        return [
            entry["result"] for entry in self.tasks
            if (task is None or entry["task"] == task)
            and (host is None or entry["host"] == host)
            and (action is None or entry["action"] == action)
        ]

    def result(self, task: Optional[str] = None, host: Optional[str] = None, action: Optional[str] = None) -> dict:
        """The single result of a task; AssertionError (with the output) unless exactly one matches."""
        found = self.results(task=task, host=host, action=action)
        if len(found) != 1:
            raise AssertionError("expected one result for task=%r host=%r action=%r, found %d\n%s"
                                 % (task, host, action, len(found), self.describe()))
        return found[0]

    def describe(self) -> str:
        return "command: %s\nreturncode: %s%s\n--- stdout ---\n%s\n--- stderr ---\n%s" % (
            " ".join(self.cmd), self.returncode, " (timed out)" if self.timed_out else "",
            self.stdout[-20000:], self.stderr[-20000:])

    def assert_ok(self) -> "AnsibleRun":
        if not self.ok:
            raise AssertionError("ansible run failed\n" + self.describe())
        return self

    def assert_failed(self) -> "AnsibleRun":
        if self.ok:
            raise AssertionError("ansible run succeeded but was expected to fail\n" + self.describe())
        return self

    def all_output(self) -> str:
        """stdout + stderr + the JSON results file, e.g. to assert a secret appears nowhere."""
        return "\n".join([self.stdout, self.stderr, json.dumps(self.json, default=str) if self.json else ""])


def default_inventory() -> dict:
    return {"all": {"hosts": {"localhost": {
        "ansible_connection": "local",
        "ansible_python_interpreter": TARGET_PYTHON,
    }}}}


def _write_json(path: Path, data: Any) -> Path:
    # JSON is valid YAML: ansible reads it as inventory, playbook or extra-vars file alike.
    path.write_text(json.dumps(data, indent=1, default=str), encoding="utf-8")
    return path


def run_command(cmd: Sequence[str], env: Mapping[str, str], results_file: Path, timeout: float,
                cwd: Optional[PathLike] = None) -> AnsibleRun:
    """Run an ansible CLI in its own process group; on timeout kill the group and return what it printed."""
    env = dict(env)
    env["MAILFLEET_TEST_RESULTS"] = str(results_file)
    if results_file.exists():
        results_file.unlink()
    proc = subprocess.Popen(list(cmd), env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, errors="replace", start_new_session=True)
    timed_out = False
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        stderr += "\n[mailfleet_testing] killed after %ss timeout" % timeout
    except BaseException:
        # pytest-timeout (or ^C) interrupted the wait: the playbook must not go on changing the machine while the
        # next tests and the session's restore run
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    data = None
    if results_file.exists():
        data = json.loads(results_file.read_text(encoding="utf-8"))
    return AnsibleRun(cmd=list(cmd), returncode=proc.returncode, stdout=stdout, stderr=stderr,
                      json=data, timed_out=timed_out)


class AnsibleRunner:
    """Runs ansible-playbook / ansible with one environment and one scratch directory (a test's tmp_path)."""

    def __init__(self, env: Mapping[str, str], workdir: PathLike):
        self.env = dict(env)
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._count = 0

    def _scratch(self, stem: str, suffix: str) -> Path:
        self._count += 1
        return self.workdir / ("%s-%d%s" % (stem, self._count, suffix))

    def _inventory_args(self, inventory: Any) -> list:
        if inventory is None:
            inventory = default_inventory()
        if isinstance(inventory, (str, os.PathLike)):
            return ["-i", str(inventory)]
        return ["-i", str(_write_json(self._scratch("inventory", ".json"), inventory))]

    def _common_args(self, inventory, extra_vars, check, diff, verbosity, limit) -> list:
        args = self._inventory_args(inventory)
        if extra_vars:
            # From a file, not the command line: values (secrets too) stay out of the process list.
            args += ["-e", "@" + str(_write_json(self._scratch("extra-vars", ".json"), extra_vars))]
        if check:
            args.append("--check")
        if diff:
            args.append("--diff")
        if verbosity:
            args.append("-" + "v" * verbosity)
        if limit:
            args += ["--limit", limit]
        return args

    def playbook(self, playbook: Any, inventory: Any = None, extra_vars: Optional[Mapping] = None,
                 check: bool = False, diff: bool = False, verbosity: int = 0,
                 timeout: float = DEFAULT_TIMEOUT, limit: Optional[str] = None, tags: Optional[str] = None,
                 args: Sequence[str] = (), env: Optional[Mapping[str, str]] = None,
                 cwd: Optional[PathLike] = None, wrapper: Sequence[str] = ()) -> AnsibleRun:
        """ansible-playbook. ``playbook``: a path, or a list of plays (Python data, written to a file).
        ``inventory``: a path, a YAML-inventory-shaped dict, or None for localhost (local connection).
        ``wrapper``: argv put in front of the command (e.g. ``unshare -m ...`` to run it in its own mounts, or
        ``ip netns exec <ns>`` to run it inside a network namespace)."""
        if not isinstance(playbook, (str, os.PathLike)):
            playbook = _write_json(self._scratch("playbook", ".yml"), playbook)
        cmd = list(wrapper) + [ansible_bin("ansible-playbook")] + self._common_args(inventory, extra_vars, check, diff, verbosity, limit)
        if tags:
            cmd += ["--tags", tags]
        cmd += list(args) + [str(playbook)]
        return run_command(cmd, {**self.env, **(env or {})}, self._scratch("results", ".json"), timeout,
                           cwd=cwd or self.workdir)

    def adhoc(self, module: str, module_args: Any = None, pattern: str = "localhost", inventory: Any = None,
              extra_vars: Optional[Mapping] = None, check: bool = False, diff: bool = False, verbosity: int = 0,
              timeout: float = DEFAULT_TIMEOUT, limit: Optional[str] = None, args: Sequence[str] = (),
              env: Optional[Mapping[str, str]] = None, cwd: Optional[PathLike] = None) -> AnsibleRun:
        """ansible <pattern> -m <module> -a <module_args>; a dict module_args is passed as JSON."""
        cmd = [ansible_bin("ansible"), pattern, "-m", module]
        if module_args is not None:
            cmd += ["-a", module_args if isinstance(module_args, str) else json.dumps(module_args)]
        cmd += self._common_args(inventory, extra_vars, check, diff, verbosity, limit) + list(args)
        run_env = {**self.env, "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1", **(env or {})}
        return run_command(cmd, run_env, self._scratch("results", ".json"), timeout, cwd=cwd or self.workdir)


@contextlib.contextmanager
def black_hole_port():
    """A loopback port whose accept queue is full: the kernel drops further SYNs, so a connect times out.

    The closest thing to a firewall that drops packets that a test can make without a network namespace.
    """
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _unused in range(4):
        filler = socket.socket()
        filler.settimeout(0.3)
        try:
            filler.connect(("127.0.0.1", port))
        except OSError:
            pass
        fillers.append(filler)
    try:
        yield port
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


def format_planner():
    """The mail_config action plugin's planner with the controller's templar, without a host: ``planner._plan(args,
    {})`` validates and renders formats like a task would (unit tests of templates and format checks), with the
    collection's filters."""
    from ansible.parsing.dataloader import DataLoader  # pylint: disable=import-outside-toplevel
    from ansible.template import Templar  # pylint: disable=import-outside-toplevel

    init_collection_loader()  # the templates use the collection's filters (mailfleet.outlook.quote)
    from ansible_collections.mailfleet.outlook.plugins.action.mail_config import (  # pylint: disable=import-outside-toplevel
        ActionModule,
    )

    action = ActionModule.__new__(ActionModule)
    action._templar = Templar(loader=DataLoader())  # pylint: disable=protected-access
    return action


def running_in_ci() -> bool:
    """True under CI (CI=true): there, tests that would skip for a missing capability must fail instead."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def init_collection_loader():
    """Point ansible's plugin loader (and its collection finder) at .build, once per process. Call it before
    anything imports ansible_collections.* (tests/conftest.py does, at import time): the collection finder
    must load the collection package itself, or it refuses it later."""
    if any(type(finder).__name__ == "_AnsibleCollectionFinder" for finder in sys.meta_path):
        return
    from ansible.plugins.loader import init_plugin_loader

    init_plugin_loader([str(ensure_collection_link())])
