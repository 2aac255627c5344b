# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""``python -m mailfleet_lab --default`` or ``--config cfg.json``: run the lab until SIGTERM / SIGINT."""

import argparse
import json
import sys

from .config import ConfigError, load_config, redacted


def main(argv=None):
    parser = argparse.ArgumentParser(prog="mailfleet_lab", description="Exchange Online look-alike on loopback.")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--config", help="JSON merge patch over the default config (see lab/README.md)")
    source.add_argument("--default", action="store_true", help="run with the default config")
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
