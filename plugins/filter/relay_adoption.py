# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: relay_adoption
author: mailfleet engineers (@mailfleet)
version_added: 1.0.0
short_description: Turn what mail_senders_facts found on a host into the relay role's variables
description:
  - Picks, among the system-wide senders M(mailfleet.outlook.mail_senders_facts) found, the one that carries the host's
    mail (an MTA before msmtp; the worst verdict first) and proposes the
    R(relay role,ansible_collections.mailfleet.outlook.relay_role) variables that take the host over - the discovered
    upstream and account, with OAuth2 (XOAUTH2) instead of a password - as a YAML document to review.
  - A user's own msmtp files are not the relay's to take over; their findings name the client role instead.
  - What discovery cannot know (the OAuth2 application's client id and secret) is listed under C(to_fill).
  - Says whether a check-mode diff of the takeover may be shown (C(diff_safe)) - false when a file the relay role
    rewrites holds a password today (a hand-written C(/etc/msmtprc) with C(password)), since its old content would be
    printed.
options:
  _input:
    description: The facts C(ansible_facts.mail_senders).
    type: dict
    required: true
  host:
    description: The host name for the YAML header.
    type: str
"""

EXAMPLES = r"""
- name: Propose the relay variables for this host
  ansible.builtin.debug:
    msg: "{{ (ansible_facts.mail_senders | mailfleet.outlook.relay_adoption(host=inventory_hostname)).yaml }}"
"""

RETURN = r"""
_value:
  description:
    - C(adopt) (true when there is something to take over), C(vars) (relay_* variables), C(to_fill), C(notes),
      C(source) (program, file, line, verdict of the chosen sender), C(yaml) (the proposal as host_vars YAML),
      C(diff_safe), C(secret_files) (files that hold a password inline today).
  type: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.mailfleet.outlook.plugins.module_utils._senders._adopt import to_yaml
from ansible_collections.mailfleet.outlook.plugins.module_utils._senders._verdict import VERDICTS
from ansible_collections.mailfleet.outlook.plugins.plugin_utils._format_model import fill
from ansible_collections.mailfleet.outlook.plugins.plugin_utils._formats import FORMATS

SYSTEM_PROGRAMS = ("postfix", "exim4", "nullmailer", "dma", "opensmtpd", "msmtp")
RELAY_FORMATS = ("postfix_relay", "msmtp_relay")


def relay_rendered_public_files():
    """The files the relay role renders without redaction (their diffs are shown): from the formats registry."""
    out = set()
    for name in RELAY_FORMATS:
        fmt = FORMATS[name]
        for f in fmt.files:
            if not f.secret:
                try:
                    out.add(fill(f.path, fmt.variables))
                except KeyError:
                    continue
    return out


def _rank(finding):
    return (SYSTEM_PROGRAMS.index(finding["program"]) if finding.get("program") in SYSTEM_PROGRAMS else len(SYSTEM_PROGRAMS),
            VERDICTS.index(finding.get("verdict")) if finding.get("verdict") in VERDICTS else len(VERDICTS))


def relay_adoption(mail_senders, host=None):
    if not isinstance(mail_senders, dict) or "senders" not in mail_senders:
        raise AnsibleFilterError("relay_adoption: give ansible_facts.mail_senders (run mailfleet.outlook.mail_senders_facts first)")
    senders = [f for f in mail_senders.get("senders") or [] if isinstance(f, dict)]
    secret_files = sorted(set((f.get("secret") or {}).get("file") for f in senders + list(mail_senders.get("mentions") or [])
                              if (f.get("secret") or {}).get("source") == "inline" and (f.get("secret") or {}).get("file")))
    diff_safe = not (set(secret_files) & relay_rendered_public_files())
    candidates = sorted([f for f in senders if f.get("adopt") and not f.get("user")], key=_rank)
    if not candidates:
        ok = [f for f in senders if f.get("verdict") == "ok"]
        reason = ("already fine: %s" % ", ".join("%s %s:%s" % (f["program"], f["file"], f["line"]) for f in ok)) if ok \
            else "no sender to take over was found"
        return {"adopt": False, "vars": {}, "to_fill": {}, "notes": [reason], "source": None,
                "yaml": "---\n# %s\n" % reason, "diff_safe": diff_safe, "secret_files": secret_files}
    chosen = candidates[0]
    adopt = chosen["adopt"]
    source = {"program": chosen["program"], "file": chosen["file"], "line": chosen.get("line"),
              "verdict": chosen.get("verdict"), "upstream": chosen.get("upstream"), "account": chosen.get("account")}
    where = "%s %s:%s (%s)" % (chosen["program"], chosen["file"], chosen.get("line") or "-", chosen.get("verdict"))
    notes = list(adopt.get("notes") or [])
    others = candidates[1:]
    if others:
        notes.append("also found: " + ", ".join("%s %s:%s" % (f["program"], f["file"], f.get("line") or "-") for f in others))
    proposal = dict(adopt, notes=notes)
    return {"adopt": True, "vars": dict(adopt["vars"]), "to_fill": dict(adopt.get("to_fill") or {}), "notes": notes,
            "source": source, "yaml": to_yaml(proposal, host=host, source=where), "diff_safe": diff_safe,
            "secret_files": secret_files}


class FilterModule(object):
    def filters(self):
        return {"relay_adoption": relay_adoption}
