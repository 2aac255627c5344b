"""The fuzz property through real ansible: 16 servers answering seeded random / truncated / stalled lines, probed
in one smtp_check task; the module never crashes, every endpoint gets a diagnosis from the vocabulary, and the
task's probes end within the timeout."""

import random
import time

import pytest

import smtpcheck_fakes as fakes
from ansible_collections.mailfleet.outlook.plugins.module_utils import _diagnosis as diag

pytestmark = pytest.mark.timeout(300)

TIMEOUT = 2.0


def _random_handler(seed):
    rng = random.Random(seed)
    valid = [b"220 fuzz ESMTP\r\n", b"250-fuzz\r\n250-STARTTLS\r\n250 AUTH LOGIN\r\n", b"220 2.0.0 go\r\n",
             b"250 ok\r\n", b"334 VXNlcm5hbWU6\r\n", b"235 ok\r\n"]
    script = []
    for _unused in range(rng.randint(1, 5)):
        kind = rng.random()
        if kind < 0.4:
            chunk = rng.choice(valid)
        elif kind < 0.7:
            chunk = bytes(rng.getrandbits(8) for _unused in range(rng.randint(0, 120)))
        else:
            chunk = rng.choice(valid)[: rng.randint(0, 12)]
        script.append((chunk, rng.choice(["continue", "continue", "close", "stall"])))

    def handler(conn):
        for index, (chunk, action) in enumerate(script):
            if index:
                conn.line()
            conn.send(chunk)
            if action == "close":
                return
            if action == "stall":
                break
        time.sleep(TIMEOUT + 2)

    return handler


def test_fuzz_servers_through_ansible(module_runner):
    servers = [fakes.FakeServer(_random_handler(seed), timeout=10) for seed in range(16)]
    try:
        endpoints = [{"name": "fuzz%d" % i, "host": "127.0.0.1", "port": s.port,
                      "security": ["starttls", "none", "tls"][i % 3]} for i, s in enumerate(servers)]
        run = module_runner.adhoc("mailfleet.outlook.smtp_check", {
            "endpoints": endpoints, "timeout": TIMEOUT, "validate_certs": False, "fail_on_error": False,
            "auth": {"username": "a@b.test", "password": "fuzz-secret-123", "allow_plaintext": True}})
        run.assert_ok()
        result = run.result()
        assert len(result["endpoints"]) == 16
        for entry in result["endpoints"]:
            assert entry["diagnosis"]["code"] in diag.CODES
            # 16 probes in one module process reach the deadline together on 2 cores: the unit tests' margin (1 s)
            assert entry["timings_ms"]["total"] <= (TIMEOUT + 1.0) * 1000, entry
        assert "fuzz-secret-123" not in run.all_output()
    finally:
        for server in servers:
            server.close()
