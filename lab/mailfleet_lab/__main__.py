# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""``python -m mailfleet_lab --default`` or ``--config cfg.json``: run the lab until SIGTERM / SIGINT."""

import argparse
import json
import os
import signal
import subprocess
import sys
import time

from .config import ConfigError, load_config, redacted

READY_TIMEOUT = 30.0


def _read_state(state_dir):
    try:
        with open(os.path.join(state_dir, "state.json"), "r", encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def detach(argv, config):
    """Start the lab in the background, wait until it listens, print its state.json (exit 0), or fail."""
    args = [a for a in argv if a != "--detach"]
    log = open(os.path.join(config["state_dir"], "stderr.log"), "ab")  # pylint: disable=consider-using-with
    proc = subprocess.Popen([sys.executable, "-m", "mailfleet_lab"] + args,  # pylint: disable=consider-using-with
                            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    log.close()
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            print("mailfleet_lab: the lab exited with %d, see %s" % (
                proc.returncode, os.path.join(config["state_dir"], "stderr.log")), file=sys.stderr)
            return proc.returncode or 1
        state = _read_state(config["state_dir"])
        if state and state.get("pid") == proc.pid:
            print(json.dumps(state, indent=2, sort_keys=True))
            return 0
        time.sleep(0.05)
    proc.kill()
    print("mailfleet_lab: not ready within %.0fs" % READY_TIMEOUT, file=sys.stderr)
    return 1


def stop(config, timeout=10.0):
    """Stop the lab whose state.json is in the state dir (SIGTERM, then SIGKILL)."""
    state = _read_state(config["state_dir"])
    if not state or not _alive(state["pid"]):
        print("mailfleet_lab: no running lab in %s" % config["state_dir"], file=sys.stderr)
        return 0
    os.kill(state["pid"], signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _alive(state["pid"]):
        time.sleep(0.05)
    if _alive(state["pid"]):
        os.kill(state["pid"], signal.SIGKILL)
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="mailfleet_lab", description="Exchange Online look-alike on loopback.")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--config", help="JSON merge patch over the default config (see lab/README.md); - = stdin")
    source.add_argument("--default", action="store_true", help="run with the default config")
    parser.add_argument("--detach", action="store_true",
                        help="run in the background; return once it listens and print state.json")
    parser.add_argument("--stop", action="store_true", help="stop the lab running on this config's state dir")
    parser.add_argument("--state-dir", help="override state_dir (ca.pem, state.json, messages.jsonl, lab.log)")
    parser.add_argument("--any-ports", action="store_true", help="port 0 (a free port) for every listener")
    parser.add_argument("--print-config", action="store_true", help="print the config (secrets redacted) and exit")
    parser.add_argument("-v", "--verbose", action="store_true", help="log events to stderr too")
    args = parser.parse_args(argv)
    overrides = {}
    if args.state_dir:
        overrides["state_dir"] = args.state_dir
    try:
        config = load_config(args.config, overrides)
    except (ConfigError, OSError) as error:
        print("mailfleet_lab: %s" % error, file=sys.stderr)
        return 2
    if args.any_ports:
        config["ports"] = {name: 0 for name in config["ports"]}
    if args.print_config:
        print(json.dumps(redacted(config), indent=2, sort_keys=True))
        return 0
    if args.stop:
        return stop(config)
    if args.detach:
        if args.config == "-":
            print("mailfleet_lab: --detach needs the config in a file, not on standard input", file=sys.stderr)
            return 2
        os.makedirs(config["state_dir"], exist_ok=True)
        return detach(list(sys.argv[1:] if argv is None else argv), config)
    # pylint: disable-next=import-outside-toplevel
    from .server import run
    try:
        run(config, verbose=args.verbose)
    except OSError as error:
        print("mailfleet_lab: %s" % error, file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
