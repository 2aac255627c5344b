# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The smtp_check module's arguments: its argument spec, how its parameters map to the probe engine's options, and
which endpoints a task names (its own list, one host and port, or a profile's). Pure functions over the parameters;
errors are ``ValueError`` with the text the module fails with.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.mailfleet.outlook.plugins.module_utils._probe.channel import (
    ADDRESS_FAMILIES,
    MECHANISMS,
    PROTOCOLS,
    SECURITY_MODES,
    TLS_VERSIONS,
)
from ansible_collections.mailfleet.outlook.plugins.module_utils._settings import SettingsError, build_settings

# The probe engine's option name -> this module's parameter (the collection's one name per concept, doc fragment
# mailfleet.outlook.tls; the engine keeps its own names).
ENGINE_OPTIONS = {"timeout": "timeout", "validate_certs": "validate_certs", "ca_path": "ca_file",
                  "min_tls_version": "tls_min_version", "max_tls_version": "tls_max_version", "ehlo_name": "ehlo_name",
                  "address_family": "address_family", "cert_expiry_warn_days": "cert_expiry_warn_days",
                  "proxy": "proxy", "proxy_password": "proxy_password"}


def argument_spec():
    """The smtp_check module's argument spec (its DOCUMENTATION describes each option).

    It enforces what it can express (types, choices from the probe's constants in ``_probe/channel``, required and
    mutually exclusive options); the engine's ``normalize_options``/``normalize_endpoint`` check only the rest."""
    return dict(
        endpoints=dict(type="list", elements="dict", options=dict(
            name=dict(type="str"),
            host=dict(type="str", required=True),
            port=dict(type="int", required=True),
            security=dict(type="str", choices=list(SECURITY_MODES)),
            protocol=dict(type="str", choices=list(PROTOCOLS), default="smtp"),
            proxy=dict(type="str"),
            proxy_password=dict(type="str", no_log=True),
            auth=dict(type="bool", default=True),
        )),
        host=dict(type="str"),
        port=dict(type="int"),
        security=dict(type="str", choices=list(SECURITY_MODES), default="starttls"),
        profile=dict(type="str"),
        profile_overrides=dict(type="dict"),
        include_incoming=dict(type="bool", default=False),
        timeout=dict(type="float", default=10),
        validate_certs=dict(type="bool", default=True),
        ca_file=dict(type="path", aliases=["ca_path"]),
        tls_min_version=dict(type="str", choices=list(TLS_VERSIONS), aliases=["min_tls_version"]),
        tls_max_version=dict(type="str", choices=list(TLS_VERSIONS), aliases=["max_tls_version"]),
        ehlo_name=dict(type="str"),
        address_family=dict(type="str", choices=sorted(ADDRESS_FAMILIES), default="any"),
        proxy=dict(type="str"),
        proxy_password=dict(type="str", no_log=True),
        auth=dict(type="dict", options=dict(
            username=dict(type="str"),
            password=dict(type="str", no_log=True),
            oauth2_token=dict(type="str", no_log=True),
            oauth2=dict(type="dict", options=dict(
                tenant=dict(type="str"),
                client_id=dict(type="str", required=True),
                client_secret=dict(type="str", no_log=True),
                client_certificate=dict(type="path"),
                client_key=dict(type="path", no_log=False),
                token_url=dict(type="str", no_log=False),
                scope=dict(type="str"),
                ca_file=dict(type="path", aliases=["ca_path"]),
            ), required_one_of=[["client_secret", "client_certificate"]],
                mutually_exclusive=[["client_secret", "client_certificate"]],
                required_together=[["client_certificate", "client_key"]]),
            mechanism=dict(type="str", choices=list(MECHANISMS), default="auto"),
            allow_plaintext=dict(type="bool", default=False),
            open_mailbox=dict(type="bool", default=False),
        ), mutually_exclusive=[["password", "oauth2_token", "oauth2"]]),
        send=dict(type="dict", options=dict(
            sender=dict(type="str"),
            recipients=dict(type="list", elements="str"),
            subject=dict(type="str", default="mailfleet test message"),
        )),
        cert_expiry_warn_days=dict(type="int", default=21),
        fail_on_error=dict(type="bool", default=True),
    )


def profile_settings(params):
    """build_settings for the profile (or microsoft365 for token URLs); ValueError with the settings error text."""
    overrides = dict(params.get("profile_overrides") or {})
    auth = params.get("auth") or {}
    oauth2 = auth.get("oauth2") or {}
    if oauth2.get("tenant") and "tenant" not in overrides:
        overrides["tenant"] = oauth2["tenant"]
    if oauth2.get("client_id") and "client_id" not in overrides:
        overrides["client_id"] = oauth2["client_id"]
    try:
        return build_settings(params.get("profile") or "microsoft365", overrides)
    except SettingsError as err:
        raise ValueError("profile %s: %s" % (params.get("profile") or "microsoft365", err))


def endpoints_to_probe(params, settings):
    """The endpoints the task names: ``endpoints``, or ``host``/``port``, or the profile's (ValueError when it has none)."""
    if params.get("endpoints"):
        return [dict((k, v) for k, v in ep.items() if v is not None) for ep in params["endpoints"]]
    if params.get("host"):
        return [{"name": "%s:%s" % (params["host"], params["port"]), "host": params["host"], "port": params["port"],
                 "security": params["security"], "protocol": "smtp"}]
    eps = []
    profile = params["profile"]
    kinds = ("smtp", "imap", "pop") if params["include_incoming"] else ("smtp",)
    for kind in kinds:
        endpoint = settings.get(kind)
        if not endpoint or not endpoint.get("host"):
            if kind == "smtp":
                raise ValueError("profile %s has no SMTP host: give profile_overrides.smtp_host" % profile)
            continue
        eps.append({"name": "%s %s" % (profile, "submission" if kind == "smtp" else kind), "host": endpoint["host"],
                    "port": endpoint["port"], "security": endpoint["security"], "protocol": kind})
    return eps
