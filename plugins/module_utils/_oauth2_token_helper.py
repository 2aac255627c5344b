# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Print an OAuth2 access token for XOAUTH2 (client credentials), cached and refreshed before expiry.

Used as msmtp's ``passwordeval`` and to keep sasl-xoauth2's token file fresh for Postfix. Standard
library only; the token request itself is the collection's OAuth2 client (mailfleet_oauth2.py, the same
code as plugins/module_utils/_oauth2.py), installed in the configuration's library_dir.
Installed verbatim by mailfleet.outlook.mail_config, format oauth2_token_helper (the shebang line is added).

The configuration (JSON, mode 0600) holds library_dir (where mailfleet_oauth2.py is), token_url, client_id,
client_secret, scope, ca_file (optional), cache (path of the 0600 token cache) and min_validity (seconds of validity left below which a new token
is fetched). Exit status: 0 and the token on stdout; 1 and a one-line reason on stderr (never a secret).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import argparse
import json
import os
import sys


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


def load_config(path):
    with open(path) as f:
        cfg = json.load(f)
    for key in ("token_url", "client_id", "client_secret", "scope", "cache"):
        if not cfg.get(key):
            raise ValueError("%s: %s is missing" % (path, key))
    return cfg


def get_token(cfg, force=False, timeout=20.0):
    """Return (access_token, expires_at, from_cache); one fetch at a time (the library's file-locked cache)."""
    mailfleet_oauth2 = load_library(cfg.get("library_dir"))
    os.makedirs(os.path.dirname(cfg["cache"]) or ".", mode=0o700, exist_ok=True)

    def fetch():
        return mailfleet_oauth2.fetch_token(cfg["token_url"], cfg["client_id"], cfg["client_secret"], cfg["scope"],
                                            ca_file=cfg.get("ca_file") or None, timeout=timeout)

    identity = {"client_id": cfg["client_id"], "scope": cfg["scope"], "token_url": cfg["token_url"]}
    token, fetched = mailfleet_oauth2.cached_token(cfg["cache"], fetch, identity, force=force,
                                                   min_validity=int(cfg.get("min_validity") or 300))
    return token["access_token"], token["expires_at"], not fetched


def main(argv=None):
    p = argparse.ArgumentParser(description="Print an OAuth2 access token for XOAUTH2 (client credentials), cached.")
    p.add_argument("--config", required=True, help="JSON configuration (mode 0600)")
    p.add_argument("--force", action="store_true", help="ignore the cache and fetch a new token")
    p.add_argument("--sasl-xoauth2", metavar="PATH",
                   help="also write the token as a sasl-xoauth2 token file (for Postfix)")
    p.add_argument("--quiet", action="store_true", help="do not print the token")
    p.add_argument("--timeout", type=float, default=20.0)
    a = p.parse_args(argv)
    try:
        cfg = load_config(a.config)
        token, expires_at, _cached = get_token(cfg, force=a.force, timeout=a.timeout)
        if a.sasl_xoauth2:
            os.makedirs(os.path.dirname(a.sasl_xoauth2) or ".", mode=0o700, exist_ok=True)
            load_library(cfg.get("library_dir")).write_private(a.sasl_xoauth2, json.dumps({
                "access_token": token, "refresh_token": "", "expiry": str(int(expires_at))}).encode())
    except Exception as e:  # one line, never the secret (OAuth2Error texts are secret-free)
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        sys.stderr.write("mailfleet-oauth2-token: %s\n" % reason)
        return 1
    if not a.quiet:
        sys.stdout.write(token + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
