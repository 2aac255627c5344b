# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How does this host send mail today? Run every sender's parser, then the mention scan, judge each finding, and
return one bounded result.

The work runs in a daemon thread; the caller waits for it at most ``timeout`` seconds (plus a short grace). Every
parser checks the deadline between files, and a read that hangs anyway (a dead network file system) cannot hold
the module: the result then says ``complete: false`` and which path was being read.

Standard library only: shipped to targets with mail_senders_facts.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import threading
import time

from ansible_collections.mailfleet.outlook.plugins.module_utils._catalog import BASIC_AUTH_RETIREMENT
from ansible_collections.mailfleet.outlook.plugins.module_utils._senders import (
    _dma,
    _exim4,
    _mentions,
    _msmtp,
    _nullmailer,
    _opensmtpd,
    _postfix,
)
from ansible_collections.mailfleet.outlook.plugins.module_utils._senders._read import Reader, Timeout
from ansible_collections.mailfleet.outlook.plugins.module_utils._senders._verdict import VERDICTS, judge

SCHEMA = "mailfleet.outlook/mail-senders/v1"
GRACE = 2.0

PARSERS = (
    ("postfix", lambda reader, opts: _postfix.discover(reader)),
    ("exim4", lambda reader, opts: _exim4.discover(reader)),
    ("nullmailer", lambda reader, opts: _nullmailer.discover(reader)),
    ("msmtp", lambda reader, opts: _msmtp.discover(reader, homes=opts["homes"])),
    ("dma", lambda reader, opts: _dma.discover(reader)),
    ("opensmtpd", lambda reader, opts: _opensmtpd.discover(reader)),
)


class _Run:
    def __init__(self, reader, options):
        self.reader = reader
        self.options = options
        self.lock = threading.Lock()
        self.findings = []
        self.mentions = []
        self.scan = None
        self.phase = "start"
        self.errors = []
        self.done = threading.Event()

    def __call__(self):
        try:
            for name, parse in PARSERS:
                if self.reader.deadline.expired():
                    self.errors.append("%s: not read (time limit)" % name)
                    continue
                self.phase = name
                try:
                    found = parse(self.reader, self.options)
                except Timeout:
                    self.errors.append("%s: stopped at the time limit" % name)
                    continue
                except Exception as err:  # one broken parser must not lose the others' findings
                    self.errors.append("%s: %s: %s" % (name, type(err).__name__, err))
                    continue
                for f in found:
                    judge(f, self.options["upstreams"])
                with self.lock:
                    self.findings.extend(found)
            if self.options["mentions"]:
                self.phase = "mentions"
                try:
                    found, summary = _mentions.discover(self.reader, self.options["mention_paths"], homes=self.options["homes"])
                except Exception as err:
                    found, summary = [], {"complete": False, "stopped_by": "error: %s" % type(err).__name__}
                for f in found:
                    judge(f, self.options["upstreams"])
                with self.lock:
                    self.mentions.extend(found)
                    self.scan = summary
            self.phase = "done"
        finally:
            self.done.set()


def discover(root="/", upstreams=(), homes=True, mentions=True, mention_paths=("/etc",), limits=None, exclude=()):
    """The host's mail senders (see mail_senders_facts RETURN)."""
    started = time.monotonic()
    reader = Reader(root=root, limits=limits, exclude=exclude)
    options = {"upstreams": list(upstreams or ()), "homes": homes, "mentions": mentions,
               "mention_paths": list(mention_paths or ())}
    run = _Run(reader, options)
    worker = threading.Thread(target=run, name="mail-senders-discovery")
    worker.daemon = True
    worker.start()
    finished = run.done.wait(reader.limits["timeout"] + GRACE)
    with run.lock:
        findings = list(run.findings)
        mentions_found = list(run.mentions)
        scan = dict(run.scan) if run.scan else None
    errors = list(run.errors)
    if not finished:
        errors.append("the discovery did not finish within %ss (phase %s%s)" % (
            reader.limits["timeout"], run.phase, ", reading %s" % reader.current if reader.current else ""))
    return result(reader, findings, mentions_found, scan, errors, finished and not errors_timeout(errors),
                  int((time.monotonic() - started) * 1000), options)


def errors_timeout(errors):
    return any("time limit" in e or "did not finish" in e for e in errors)


def result(reader, findings, mentions_found, scan, errors, complete, elapsed_ms, options):
    cap = reader.limits["max_results"]
    dropped = {"senders": max(0, len(findings) - cap), "mentions": max(0, len(mentions_found) - cap),
               "unreadable": reader.unreadable_dropped}
    findings = findings[:cap]
    mentions_found = mentions_found[:cap]
    every = findings + mentions_found
    by_verdict = dict((v, sum(1 for f in every if f["verdict"] == v)) for v in VERDICTS)
    basic = [{"program": f["program"], "kind": f["kind"], "file": f["file"], "line": f["line"],
              "account": f.get("account"), "user": f.get("user"), "managed": f.get("managed", False),
              "secret_file": (f.get("secret") or {}).get("file"),
              "upstream": "%s:%s" % (f["upstream"]["host"], f["upstream"]["port"]) if f.get("upstream") else None}
             for f in every if any(p["code"] == "basic_auth" for p in f.get("problems") or [])]
    if scan and not scan.get("complete", True) and scan.get("stopped_by") == "timeout":
        complete = False
    return {
        "schema": SCHEMA,
        "root": reader.root,
        "complete": bool(complete and (scan is None or scan.get("complete", True))),
        "elapsed_ms": elapsed_ms,
        "basic_auth_deadline": BASIC_AUTH_RETIREMENT["disabled_by_default_from"],
        "senders": findings,
        "mentions": mentions_found,
        "basic_auth": basic,
        "summary": {"senders": len(findings), "mentions": len(mentions_found), "by_verdict": by_verdict,
                    "basic_auth_files": sorted(set(b["file"] for b in basic)),
                    "programs": sorted(set(f["program"] for f in findings))},
        "unreadable": list(reader.unreadable),
        "links_skipped": list(reader.links),
        "scan": scan,
        "errors": errors,
        "dropped": dropped,
        "limits": dict(reader.limits),
        "upstreams": options["upstreams"],
        "excluded": list(reader.exclude),
    }
