# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The reachability role's logic on the controller, as plain functions (the filters plugins/filter/reachability_*.py,
each documented there).

- reachability_plan: the endpoints a host must reach, the form smtp_check takes, the refusal of an empty plan.
- reachability_basic_auth: what still uses password (Basic) auth against a profile with a Basic-auth deadline.
- reachability_result: the host's result that mailfleet.outlook.fleet_report reads (contract: docs/report.md).

Every function is pure: its inputs are the role's variables and registered results, given as arguments.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError
from ansible.plugins.filter.core import to_bool
from jinja2.filters import do_int

from ansible_collections.mailfleet.outlook.plugins.module_utils._settings import SettingsError, build_settings

EMPTY_PLAN = (
    "nothing to probe for this host: reachability_smtp is false (relay_mode connector or direct_send) and no "
    "tenant MX host is set; set relay_mx_host (the tenant's MX host), or reachability_extra_endpoints"
)
RELAY_FIX = ("set relay_auth_method: oauth2 (with the app registration's client id, tenant and a vaulted client secret), "
             "or relay_mode: connector")
CLIENT_FIX = "set auth_method: oauth2 for this account (device-code sign-in once)"
DEFAULT_FIX = "move to oauth2 or a connector"
_UNSET = object()


def _map(value):
    """A mapping as itself; anything else (None, a string) as an empty mapping (Jinja's undefined attributes)."""
    return value if isinstance(value, Mapping) else {}


def _required(entry, key, where, fix):
    if key not in entry:
        raise AnsibleFilterError("%s: %s is missing. Fix: %s" % (where, key, fix))
    return entry[key]


# --- the plan -----------------------------------------------------------------------------------------------


def _catalog_endpoint(name, endpoint, protocol=None):
    entry = {"name": name, "host": endpoint["host"], "port": do_int(endpoint["port"]), "security": endpoint["security"]}
    if protocol:
        entry["protocol"] = protocol
    entry["required"] = True
    return entry


def _extra_endpoint(index, ep):
    where = "reachability_extra_endpoints[%d]" % index
    if not isinstance(ep, Mapping):
        raise AnsibleFilterError("%s: %r is not a dictionary. Fix: give name, host and port (and optionally security, "
                                 "protocol, required, proxy)" % (where, ep))
    fix = "give every extra endpoint a name, a host and a port"
    entry = {"name": _required(ep, "name", where, fix), "host": _required(ep, "host", where, fix),
             "port": do_int(_required(ep, "port", where, fix)), "security": ep.get("security", "starttls"),
             "required": to_bool(ep.get("required", True))}
    for key in ("protocol", "proxy"):
        if ep.get(key):
            entry[key] = ep[key]
    return entry


def reachability_plan(settings, smtp=True, include_incoming=False, extra_endpoints=None, error=""):
    """The endpoints a host must reach: {plan, probe_endpoints, error}.

    ``settings`` is the host's validated settings (the mail_settings lookup; empty when they were invalid).
    ``plan`` entries are {name, host, port, security[, protocol][, proxy], required}; ``probe_endpoints`` is the
    same list without ``required`` (the form mailfleet.outlook.smtp_check takes); ``error`` is ``error`` when
    given, else the refusal of an empty plan (a host must need something), else empty.
    """
    s = _map(settings)
    plan = []
    if smtp and s.get("smtp"):
        plan.append(_catalog_endpoint("smtp", s["smtp"]))
    if include_incoming:
        plan += [_catalog_endpoint(proto, s[proto], protocol=proto) for proto in ("imap", "pop") if s.get(proto)]
    if s.get("mx_host") and s.get("connector"):
        connector = s["connector"]
        plan.append({"name": "mx", "host": s["mx_host"], "port": do_int(connector["port"]),
                     "security": connector["security"], "required": True})
    plan += [_extra_endpoint(i, ep) for i, ep in enumerate(extra_endpoints or [])]
    probe_endpoints = [dict((k, v) for k, v in entry.items() if k != "required") for entry in plan]
    if not error and not plan:
        error = EMPTY_PLAN
    return {"plan": plan, "probe_endpoints": probe_endpoints, "error": error or ""}


# --- Basic auth ---------------------------------------------------------------------------------------------


def basic_auth_deadline(profile):
    """The date from which Microsoft disables Basic auth for the profile (its settings say), or None.

    None too for a name that is not a profile, or a profile whose settings cannot be built without per-host values.
    """
    try:
        return build_settings(profile, {}).get("basic_auth_deadline")
    except SettingsError:
        return None


def reachability_basic_auth(sources, profile="microsoft365", relay_auth_method=None, relay_profile=_UNSET,
                            client_accounts=None, client_profile=_UNSET, client_auth_method="oauth2", deadlines=None):
    """What still uses password (Basic) auth against a profile with a deadline: [{component, profile, variable, fix, deadline}].

    ``sources`` are the role's own entries ({component, profile, auth_method, variable, fix}); the relay (when
    ``relay_auth_method`` is set) and every entry of ``client_accounts`` (``user``, ``address``, ``profile``,
    ``auth_method``) are added. ``deadlines`` maps a profile to its Basic-auth deadline (or None); unset, each
    profile's deadline comes from the collection's settings model (basic_auth_deadline()).
    """
    if relay_profile is _UNSET:
        relay_profile = profile
    if client_profile is _UNSET:
        client_profile = profile
    entries = [("reachability_basic_auth_sources[%d]" % i, _map(src)) for i, src in enumerate(sources or [])]
    if relay_auth_method:
        entries.append(("relay", {"component": "relay", "profile": relay_profile, "auth_method": relay_auth_method,
                                  "variable": "relay_auth_method", "fix": RELAY_FIX}))
    for index, acct in enumerate(client_accounts or []):
        acct = _map(acct)
        entries.append(("client_accounts[%d]" % index, {
            "component": "client %s <%s>" % (acct.get("user", "?"), acct.get("address", "?")),
            "profile": acct.get("profile", client_profile),
            "auth_method": acct.get("auth_method", client_auth_method),
            "variable": "client_accounts[%d].auth_method" % index,
            "fix": CLIENT_FIX,
        }))
    items = []
    for where, src in entries:
        if src.get("auth_method", "") != "password":
            continue
        src_profile = src.get("profile", profile)
        if deadlines is None:
            deadline = basic_auth_deadline(src_profile)
        else:
            deadline = deadlines.get(src_profile) if isinstance(src_profile, str) else None
        if not deadline:
            continue
        fix = "give it a component and the variable that moves it to oauth2"
        items.append({"component": _required(src, "component", where, fix), "profile": src_profile,
                      "variable": _required(src, "variable", where, fix), "fix": src.get("fix", DEFAULT_FIX),
                      "deadline": deadline})
    return items


# --- the host's result --------------------------------------------------------------------------------------


def _drift(drift, relay_drift):
    files, errors, checked = [], [], False
    for r in _map(drift).get("results") or []:
        r = _map(r)
        if r.get("skipped", False):
            continue
        checked = True
        files += r.get("changed_files") or []
        if r.get("failed", False):
            item = _map(r.get("item"))
            errors.append("%s: %s" % (item.get("name", item.get("format", "?")), r.get("msg", "failed")))
    if relay_drift:
        relay_drift = _map(relay_drift)
        checked = True
        files += relay_drift.get("files") or []
        if relay_drift.get("msg", ""):
            errors.append(relay_drift["msg"])
    unique = []
    for name in files:
        if name not in unique:
            unique.append(name)
    return {"checked": checked, "changed": len(files) > 0, "files": unique, "msg": "; ".join(str(e) for e in errors)}


def reachability_result(probe, profile, settings=None, plan=None, probe_endpoints=None, plan_error="", ping=None,
                        drift=None, relay_drift=None, basic_auth=None, senders=None):
    """The host's reachability result (the contract of docs/report.md), from the role's registered results.

    ``probe`` is smtp_check's result (the connection check); ``ping`` the ping that ran only when there was
    nothing to probe; ``drift`` the loop result of the check-mode mail_config calls; ``relay_drift`` the relay's
    {checked, files, msg}; ``senders`` mail_senders_facts' result, None when it did not run.
    """
    probe = _map(probe)
    plan = plan or []
    connection = probe if probe.get("unreachable", False) else _map(ping)
    unreachable = to_bool(connection.get("unreachable", False))
    probe_error = plan_error or ""
    if not probe_error and not unreachable and len(plan) > 0 and (probe.get("failed", False) or "endpoints" not in probe):
        probe_error = "mailfleet.outlook.smtp_check failed: %s" % probe.get("msg", "no result")
    senders_ran = senders is not None and not _map(senders).get("skipped", False)
    senders = _map(senders)
    return {
        "profile": profile,
        "microsoft": _map(settings).get("microsoft", False),
        "planned": probe_endpoints if probe_endpoints is not None else [],
        "required": [_map(entry).get("name") for entry in plan if _map(entry).get("required")],
        "endpoints": probe.get("endpoints", []),
        "unreachable": unreachable,
        "msg": connection.get("msg", "") if unreachable else "",
        "probe_error": probe_error or None,
        "drift": _drift(drift, relay_drift),
        "basic_auth": basic_auth if basic_auth is not None else [],
        "senders": _map(senders.get("ansible_facts")).get("mail_senders") if senders_ran else None,
        "senders_error": senders.get("msg", "mail_senders_facts failed") if senders.get("failed", False) else None,
    }
