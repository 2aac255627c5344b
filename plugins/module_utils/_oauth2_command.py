# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""mailfleet-oauth2: OAuth2 access tokens for msmtp (passwordeval) and neomutt (*_oauth_refresh_command).

  mailfleet-oauth2 login --config ~/.config/mailfleet/oauth2.json
      Once per user: runs the OAuth2 device-code flow against the account's authority (open the URL it
      prints, enter the code, sign in) and stores the refresh token in the token store (mode 0600).
  mailfleet-oauth2 token --config ~/.config/mailfleet/oauth2.json
      Prints a fresh access token (from the store while valid, else from the refresh token; the new
      refresh token Microsoft returns is stored). Exit 1 with one line on stderr when it cannot.

The configuration file (written by the mailfleet.outlook client role) holds no secret: login, client_id,
token_url, device_code_url, scope, ca_file, token_store and library_dir. The OAuth2 protocol code is the
collection's one OAuth2 client (plugins/module_utils/_oauth2.py), installed as mailfleet_oauth2.py in the
configuration's library_dir. Installed verbatim by format client_token_command (the shebang line is added).
Standard library only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import argparse
import json
import os
import sys
import tempfile
import time


def load_library(library_dir=None):
    """The collection's OAuth2 client: ``mailfleet_oauth2.py`` in ``library_dir`` (from the JSON configuration,
    where the format installed it), else the collection's own ``_oauth2`` (tests, a controller)."""
    if library_dir and library_dir not in sys.path:
        sys.path.insert(0, library_dir)
    try:
        import mailfleet_oauth2 as library  # pylint: disable=import-error,import-outside-toplevel
    except ImportError:
        try:
            from ansible_collections.mailfleet.outlook.plugins.module_utils import _oauth2 as library  # pylint: disable=import-outside-toplevel
        except ImportError:
            raise ValueError("mailfleet_oauth2.py not found in %s. Fix: run the role again (it installs the library "
                             "there) or set library_dir in the configuration" % (library_dir or "the configuration",))
    return library


MIN_VALIDITY = 120  # seconds an access token must still be valid to be printed from the store


def load_config(path):
    with open(os.path.expanduser(path)) as f:
        cfg = json.load(f)
    for key in ("login", "client_id", "token_url", "device_code_url", "scope", "token_store"):
        if not cfg.get(key):
            raise ValueError("%s: %s is missing" % (path, key))
    return cfg


def read_store(cfg):
    try:
        with open(cfg["token_store"]) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def write_store(cfg, data):
    """Write the token store atomically, mode 0600, in a 0700 directory."""
    path = cfg["token_store"]
    directory = os.path.dirname(path) or "."
    if not os.path.isdir(directory):
        os.makedirs(directory, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".oauth2-token.")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(data, f)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def remember(cfg, token, previous_refresh=None):
    data = {
        "login": cfg["login"], "client_id": cfg["client_id"], "scope": cfg["scope"],
        "access_token": token["access_token"], "expires_at": token.get("expires_at") or 0,
        # Microsoft may rotate the refresh token: keep the newest one.
        "refresh_token": token.get("refresh_token") or previous_refresh,
    }
    write_store(cfg, data)
    return data


def cmd_login(oauth2, cfg, args):
    grant = oauth2.request_device_code(cfg["device_code_url"], cfg["client_id"], cfg["scope"],
                                       ca_file=cfg.get("ca_file"), timeout=args.timeout)
    sys.stderr.write((grant.get("message") or "Open %s and enter the code %s" % (
        grant["verification_uri"], grant["user_code"])) + "\n")
    sys.stderr.flush()
    token = oauth2.poll_device_code(cfg["token_url"], cfg["client_id"], grant["device_code"],
                                    interval=grant.get("interval") or 5, expires_in=grant.get("expires_in") or 900,
                                    ca_file=cfg.get("ca_file"), timeout=args.timeout)
    if not token.get("refresh_token"):
        raise oauth2.OAuth2Error("The sign-in gave no refresh token: the scope must include offline_access.")
    remember(cfg, token)
    sys.stderr.write("Signed in as %s; tokens stored in %s (mode 0600).\n" % (cfg["login"], cfg["token_store"]))
    return 0


def cmd_token(oauth2, cfg, args):
    store = read_store(cfg)
    if not store or not store.get("refresh_token") or store.get("client_id") != cfg["client_id"] \
            or store.get("login") != cfg["login"]:
        raise oauth2.OAuth2Error("No sign-in stored for %s: run '%s login --config %s' once."
                                 % (cfg["login"], os.path.basename(sys.argv[0]), args.config))
    if not args.force and store.get("access_token") and store.get("expires_at", 0) - time.time() > MIN_VALIDITY:
        sys.stdout.write(store["access_token"] + "\n")
        return 0
    token = oauth2.refresh_access_token(cfg["token_url"], cfg["client_id"], store["refresh_token"], cfg["scope"],
                                        ca_file=cfg.get("ca_file"), timeout=args.timeout)
    data = remember(cfg, token, previous_refresh=store["refresh_token"])
    sys.stdout.write(data["access_token"] + "\n")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="mailfleet-oauth2", description=__doc__.strip().splitlines()[0])
    parser.add_argument("command", choices=("login", "token"))
    parser.add_argument("--config", default="~/.config/mailfleet/oauth2.json")
    parser.add_argument("--force", action="store_true", help="token: refresh even if the stored token is valid")
    parser.add_argument("--timeout", type=float, default=20.0)
    args = parser.parse_args(argv)
    os.umask(0o077)
    try:
        cfg = load_config(args.config)
        oauth2 = load_library(cfg.get("library_dir"))
    except (OSError, ValueError) as e:
        sys.stderr.write("mailfleet-oauth2: %s\n" % e)
        return 1
    try:
        return cmd_login(oauth2, cfg, args) if args.command == "login" else cmd_token(oauth2, cfg, args)
    except (oauth2.OAuth2Error, OSError, ValueError) as e:
        sys.stderr.write("mailfleet-oauth2: %s\n" % e)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
