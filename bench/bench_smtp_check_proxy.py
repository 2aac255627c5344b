# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark: 10 endpoints probed through ONE SOCKS5 proxy (Dante), 2 of them black-holed behind it.

Starts a lab of its own (free ports, temp state dir) and a real Dante (dante-server, no authentication) on loopback;
the two black holes are loopback ports whose accept queue is full, so the proxy's own connect never completes and
the proxy never answers the CONNECT request (the probe reports connect_timeout at the proxy stage).

- baseline: the same 10 probes through the same proxy, one after another (what a loop over endpoints does);
- smtp_check's engine, concurrent (in process), and the module through ``ansible localhost -m`` (wall time with
  ansible's start-up, and the module's own max endpoint total).

Prints both times and the ratio; target: the concurrent total <= timeout + 1 s.

Usage (root: Dante runs as root; the lab's ports and processes go through the machine-wide test lock):
    bash scripts/test-lock.sh .venv/bin/python bench/bench_smtp_check_proxy.py [--timeout 5] [--runs 3]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "lab"), str(ROOT / ".build"), str(ROOT / "tests" / "support")]

from mailfleet_testing import AnsibleRunner, black_hole_port, ensure_collection_link, make_env  # noqa: E402
from mailfleet_testing.proxies import Dante  # noqa: E402

ensure_collection_link()

from mailfleet_lab.pytest_plugin import LabHandle  # noqa: E402

from ansible_collections.mailfleet.outlook.plugins.module_utils._probe.engine import (  # noqa: E402
    normalize_endpoint,
    normalize_options,
    probe_endpoint,
    probe_endpoints,
)

# 8 answering endpoints of the lab (security per listener) + 2 black holes behind the proxy
LISTENERS = [("submission", "starttls"), ("connector", "starttls"), ("implicit_tls", "tls"),
             ("cert_expired", "starttls"), ("cert_wrong_host", "starttls"), ("cert_self_signed", "starttls"),
             ("legacy_tls", "starttls"), ("tls_old_only", "starttls")]


def endpoints(lab, holes):
    eps = [{"name": "%s-%d" % (name, i), "host": "localhost", "port": lab.ports[name], "security": security}
           for i, (name, security) in enumerate(LISTENERS)]
    eps.insert(1, {"name": "black-hole-1", "host": "127.0.0.1", "port": holes[0], "security": "starttls"})
    eps.insert(5, {"name": "black-hole-2", "host": "127.0.0.1", "port": holes[1], "security": "starttls"})
    return eps


def free_port():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def run_sequential(eps, options):
    opts = normalize_options(options)
    started = time.monotonic()
    results = [probe_endpoint(normalize_endpoint(ep, i, opts), opts) for i, ep in enumerate(eps)]
    return time.monotonic() - started, results


def run_concurrent(eps, options):
    started = time.monotonic()
    results = probe_endpoints(eps, options)
    return time.monotonic() - started, results


def run_module(eps, options, workdir):
    local_temp = Path(workdir) / "local-tmp"
    local_temp.mkdir(exist_ok=True)
    runner = AnsibleRunner(make_env(local_temp), Path(workdir) / "ansible")
    started = time.monotonic()
    run = runner.adhoc("mailfleet.outlook.smtp_check", dict(options, endpoints=eps, fail_on_error=False), timeout=120)
    wall = time.monotonic() - started
    run.assert_ok()
    return wall, run.result()["endpoints"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--timeout", type=float, default=5.0, help="per-endpoint timeout, seconds")
    parser.add_argument("--runs", type=int, default=3, help="repetitions (medians are reported)")
    opts = parser.parse_args()
    if os.geteuid() != 0:
        print("run as root (Dante runs as root here)", file=sys.stderr)
        return 2

    with tempfile.TemporaryDirectory(prefix="bench-smtp-check-proxy-") as workdir, contextlib.ExitStack() as stack:
        lab = LabHandle({}, state_dir=os.path.join(workdir, "lab"), any_ports=True).start()
        stack.callback(lab.stop)
        socks = Dante(os.path.join(workdir, "dante"), "127.0.0.1", free_port(), "127.0.0.1").start()
        stack.callback(socks.stop)
        holes = [stack.enter_context(black_hole_port()) for _hole in range(2)]
        eps = endpoints(lab, holes)
        options = {"timeout": opts.timeout, "ca_path": lab.ca_file, "proxy": socks.url()}
        sequential, concurrent, walls, totals = [], [], [], []
        for _run in range(opts.runs):
            seq_time, seq_results = run_sequential(eps, options)
            con_time, con_results = run_concurrent(eps, options)
            wall, module_results = run_module(eps, options, workdir)
            sequential.append(seq_time)
            concurrent.append(con_time)
            walls.append(wall)
            totals.append(max(r["timings_ms"]["total"] for r in module_results) / 1000.0)

    print("endpoints: %d through one SOCKS5 proxy (Dante), 2 black-holed behind it; timeout %gs; %d run(s), medians"
          % (len(eps), opts.timeout, opts.runs))
    print()
    print("%-22s %-22s %-8s %8s %8s" % ("endpoint", "diagnosis", "failed", "proxy ms", "total ms"))
    for res in con_results:
        row = (res["name"], res["diagnosis"]["code"], res["failed_stage"] or "-", res["timings_ms"].get("proxy", "-"),
               res["timings_ms"]["total"])
        print("%-22s %-22s %-8s %8s %8s" % row)
    assert [r["diagnosis"]["code"] for r in seq_results] == [r["diagnosis"]["code"] for r in con_results]
    seq_m, con_m = statistics.median(sequential), statistics.median(concurrent)
    wall_m, total_m = statistics.median(walls), statistics.median(totals)
    print()
    print("baseline  the same probes through the proxy, one after another : %6.2f s" % seq_m)
    print("smtp_check engine, concurrent (in process)                    : %6.2f s   ratio %.1fx" % (con_m, seq_m / con_m))
    print("smtp_check module, max endpoint total (inside)                : %6.2f s   ratio %.1fx" % (total_m, seq_m / total_m))
    print("smtp_check via 'ansible -m' (wall, incl. start-up)            : %6.2f s   ratio %.1fx" % (wall_m, seq_m / wall_m))
    target = opts.timeout + 1.0
    met = con_m <= target and total_m <= target
    print()
    print("target: total <= timeout + 1 s = %.1f s -> %s" % (target, "met" if met else "MISSED"))
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
