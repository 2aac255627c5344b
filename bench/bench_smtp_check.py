# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark: smtp_check probing 10 endpoints concurrently vs swaks run one after another.

Starts a lab of its own (free ports, temp state dir) and probes the same 10 SMTP endpoints, 2 of them
black-holed (the lab's tarpit: accepts TCP, never says a word):

- baseline: ``swaks --quit-after EHLO --timeout T`` once per endpoint, one after another (what a shell loop does);
- smtp_check, in process (the engine the module runs) and through ``ansible localhost -m mailfleet.outlook.smtp_check``
  (wall time including ansible's start-up, and the module's own total).

smtp_check does more per endpoint than the baseline (STARTTLS, TLS handshake, certificate checks, EHLO again).
Prints both times and the ratio; target: smtp_check's total <= T + 1 s.

Usage: python bench/bench_smtp_check.py [--timeout 5] [--runs 3]
(run from the repository root with the test venv: .venv/bin/python or /tmp/probe-venv/bin/python)
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / ".build"
sys.path[:0] = [str(ROOT / "lab"), str(BUILD), str(ROOT / "tests" / "support")]

from mailfleet_testing import AnsibleRunner, ensure_collection_link, make_env  # noqa: E402

ensure_collection_link()

from mailfleet_lab.pytest_plugin import LabHandle  # noqa: E402

from ansible_collections.mailfleet.outlook.plugins.module_utils._probe.engine import probe_endpoints  # noqa: E402

# 2 black holes + 8 answering endpoints of the lab
LISTENERS = ["submission", "tarpit", "connector", "no_starttls", "cert_expired", "tarpit", "cert_wrong_host",
             "cert_self_signed", "legacy_tls", "tls_old_only"]


def endpoints(lab):
    return [{"name": "%s-%d" % (name, i), "host": "localhost", "port": lab.ports[name], "security": "starttls"}
            for i, name in enumerate(LISTENERS)]


def run_swaks(eps, timeout):
    started = time.monotonic()
    codes = []
    for ep in eps:
        proc = subprocess.run(
            ["swaks", "--server", "%s:%d" % (ep["host"], ep["port"]), "--quit-after", "EHLO",
             "--timeout", "%d" % timeout, "--to", "bench@contoso.test", "--silent", "2"],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout * 3 + 10, check=False)
        codes.append(proc.returncode)
    return time.monotonic() - started, codes


def run_engine(eps, lab, timeout):
    started = time.monotonic()
    results = probe_endpoints(eps, {"timeout": timeout, "ca_path": lab.ca_file})
    return time.monotonic() - started, results


def run_module(eps, lab, timeout, workdir):
    local_temp = Path(workdir) / "local-tmp"
    local_temp.mkdir(exist_ok=True)
    runner = AnsibleRunner(make_env(local_temp), Path(workdir) / "ansible")
    args = {"endpoints": eps, "timeout": timeout, "ca_path": lab.ca_file, "fail_on_error": False}
    started = time.monotonic()
    run = runner.adhoc("mailfleet.outlook.smtp_check", args, timeout=120)
    wall = time.monotonic() - started
    run.assert_ok()
    return wall, run.result()["endpoints"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--timeout", type=int, default=5, help="per-endpoint timeout, seconds (both tools)")
    parser.add_argument("--runs", type=int, default=3, help="repetitions (medians are reported)")
    opts = parser.parse_args()
    timeout = opts.timeout

    with tempfile.TemporaryDirectory(prefix="bench-smtp-check-") as workdir:
        lab = LabHandle({}, state_dir=os.path.join(workdir, "lab"), any_ports=True).start()
        try:
            eps = endpoints(lab)
            swaks_times, engine_times, module_walls, module_totals = [], [], [], []
            for _run in range(opts.runs):
                swaks_time, swaks_codes = run_swaks(eps, timeout)
                engine_time, engine_results = run_engine(eps, lab, timeout)
                module_wall, module_results = run_module(eps, lab, timeout, workdir)
                swaks_times.append(swaks_time)
                engine_times.append(engine_time)
                module_walls.append(module_wall)
                module_totals.append(max(r["timings_ms"]["total"] for r in module_results) / 1000.0)
        finally:
            lab.stop()

    print("endpoints: %d (%d black-holed), timeout %ds, %d run(s), medians" % (
        len(eps), LISTENERS.count("tarpit"), timeout, opts.runs))
    print()
    print("%-26s %-24s %s" % ("endpoint", "smtp_check diagnosis", "swaks exit code"))
    for ep, res, code in zip(eps, engine_results, swaks_codes):
        print("%-26s %-24s %d" % (ep["name"], res["diagnosis"]["code"], code))
    swaks_m = statistics.median(swaks_times)
    engine_m = statistics.median(engine_times)
    wall_m = statistics.median(module_walls)
    total_m = statistics.median(module_totals)
    print()
    print("baseline  swaks --quit-after EHLO, one after another : %6.2f s" % swaks_m)
    print("smtp_check engine, concurrent (in process)          : %6.2f s   ratio %.1fx" % (engine_m, swaks_m / engine_m))
    print("smtp_check module, max endpoint total (inside)      : %6.2f s   ratio %.1fx" % (total_m, swaks_m / total_m))
    print("smtp_check via 'ansible -m' (wall, incl. start-up)  : %6.2f s   ratio %.1fx" % (wall_m, swaks_m / wall_m))
    target = timeout + 1.0
    met = engine_m <= target and total_m <= target
    print()
    print("target: smtp_check total <= timeout + 1 s = %.1f s -> %s" % (target, "met" if met else "MISSED"))
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
