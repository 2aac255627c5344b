"""Property test: a server answering random, truncated or stalled lines never crashes or hangs the probe;
it always returns a diagnosis from the vocabulary within the timeout (plus a small margin)."""

import socket
import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import smtpcheck_fakes as fakes
from ansible_collections.mailfleet.outlook.plugins.module_utils import _diagnosis as diag
from ansible_collections.mailfleet.outlook.plugins.module_utils._probe import engine as probe

pytestmark = [pytest.mark.timeout(600), pytest.mark.core_independent]

TIMEOUT = 0.8
MARGIN = 0.5  # thread start-up and a loaded 2-core CI machine

VALID = [
    b"220 fuzz.test ESMTP\r\n", b"220-fuzz.test\r\n220 ready\r\n", b"250-fuzz.test\r\n250-STARTTLS\r\n250 AUTH LOGIN\r\n",
    b"250 fuzz.test\r\n", b"220 2.0.0 SMTP server ready\r\n", b"334 VXNlcm5hbWU6\r\n", b"235 2.7.0 ok\r\n",
    b"250 2.1.0 ok\r\n", b"354 go\r\n", b"221 bye\r\n", b"421 4.7.66 TLS 1.0 and 1.1 are not supported.\r\n",
    b"535 5.7.139 Authentication unsuccessful, the user credentials were incorrect.\r\n",
    b"* OK IMAP ready\r\n", b"+OK POP ready\r\n", b"A1 OK done\r\n", b".\r\n",
]


def _reply_like():
    return st.builds(
        lambda code, sep, text, end: str(code).encode() + sep + text + end,
        st.integers(0, 1200), st.sampled_from([b" ", b"-", b"", b"x", b"\t"]),
        st.binary(max_size=80), st.sampled_from([b"\r\n", b"\n", b"", b"\r", b"\r\n\r\n"]))


CHUNK = st.one_of(st.sampled_from(VALID), _reply_like(), st.binary(max_size=200),
                  st.binary(min_size=5000, max_size=9000),
                  st.lists(st.sampled_from(VALID), min_size=2, max_size=5).map(b"".join))
ACTION = st.sampled_from(["continue", "continue", "continue", "close", "stall", "truncate", "half-close"])

# A well-behaved session per protocol (security none); the fuzzer keeps a prefix of it, then goes wild,
# so that every stage gets random answers, not only the greeting.
GOOD = {
    "smtp": [b"220 fuzz.test ESMTP\r\n", b"250-fuzz.test\r\n250-SIZE 1000\r\n250 AUTH LOGIN\r\n",
             b"334 VXNlcm5hbWU6\r\n", b"334 UGFzc3dvcmQ6\r\n", b"235 2.7.0 ok\r\n", b"250 2.1.0 ok\r\n",
             b"250 2.1.5 ok\r\n", b"354 go\r\n", b"250 2.0.0 queued\r\n", b"221 bye\r\n"],
    "imap": [b"* OK ready\r\n", b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\nA1 OK done\r\n", b"* BYE\r\nZ OK\r\n"],
    "pop": [b"+OK ready\r\n", b"+OK\r\nSASL PLAIN\r\nUSER\r\n.\r\n", b"+OK bye\r\n"],
}
TAIL = st.lists(st.tuples(CHUNK, ACTION), min_size=0, max_size=4)


@st.composite
def sessions(draw):
    protocol = draw(st.sampled_from(["smtp", "smtp", "smtp", "imap", "pop"]))
    security = draw(st.sampled_from(["none", "none", "starttls", "tls"]))
    good = GOOD[protocol]
    keep = draw(st.integers(0, len(good)))
    prefix = [(chunk, "continue") for chunk in good[:keep]]
    if prefix and draw(st.booleans()):
        index = draw(st.integers(0, len(prefix) - 1))
        chunk = prefix[index][0]
        prefix[index] = (chunk[: draw(st.integers(0, len(chunk)))], draw(ACTION))
    return protocol, security, prefix + draw(TAIL)


class ScriptedServer:
    """One listener; each connection plays the current script: chunk i answers the i-th client line."""

    def __init__(self):
        self.script = []
        self.server = fakes.FakeServer(self.handle, timeout=5)

    def handle(self, conn):
        script = list(self.script)
        sock = conn.sock
        for index, (chunk, action) in enumerate(script):
            if index:
                try:
                    conn.line()
                except (EOFError, OSError):
                    return
            if action == "truncate":
                sock.sendall(chunk[: max(1, len(chunk) // 2)])
                return
            if chunk:
                sock.sendall(chunk)
            if action == "close":
                return
            if action == "half-close":
                sock.shutdown(socket.SHUT_WR)
            if action == "stall":
                time.sleep(TIMEOUT + 1)
                return
        time.sleep(TIMEOUT + 1)  # script exhausted: say nothing more (a tarpit after the script)


@pytest.fixture(scope="module")
def scripted():
    server = ScriptedServer()
    yield server
    server.server.close()


def _check(result, started, margin=MARGIN):
    elapsed = time.monotonic() - started
    assert elapsed <= TIMEOUT + margin, (elapsed, result)
    assert result["diagnosis"]["code"] in diag.CODES
    assert result["stage"] in diag.STAGES + (None,)
    assert result["failed_stage"] in diag.STAGES + (None,)
    assert result["ok"] is (result["diagnosis"]["code"] == "ok")
    assert result["timings_ms"]["total"] <= (TIMEOUT + margin) * 1000
    if result["reply"] is not None:
        assert isinstance(result["reply"]["code"], int)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow],
          derandomize=True, database=None)
@given(session=sessions(), with_auth=st.booleans())
def test_random_server_never_hangs_or_crashes(scripted, session, with_auth):
    protocol, security, script = session
    scripted.script = script
    options = {"timeout": TIMEOUT, "ehlo_name": "fuzz.test", "validate_certs": False}
    if with_auth:
        options["auth"] = {"username": "a@b.test", "password": "fuzz-password", "allow_plaintext": True}
        options["send"] = {"recipients": ["c@d.test"]}
    started = time.monotonic()
    result = probe.probe_endpoints([{"host": "127.0.0.1", "port": scripted.server.port, "security": security,
                                     "protocol": protocol}], options)[0]
    _check(result, started)
    assert "fuzz-password" not in repr(result)


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(data=st.binary(max_size=600))
def test_reply_reader_on_random_bytes(data):
    """The line parser either returns replies or raises its own _BadReply/_Closed: nothing else escapes."""
    left, right = socket.socketpair()
    try:
        right.sendall(data)
        right.shutdown(socket.SHUT_WR)
        channel = probe.Channel(left, probe.Deadline(1.0))
        for _unused in range(50):
            try:
                reply = channel.read_reply()
            except (probe._BadReply, probe._Closed, probe._Timeout):  # pylint: disable=protected-access
                break
            assert 200 <= reply.code <= 599 and reply.lines
    finally:
        left.close()
        right.close()


def test_many_random_servers_concurrently(scripted):
    """Probing 20 endpoints at once against the same misbehaving server still ends within one timeout."""
    scripted.script = [(b"220 x\r\n", "continue"), (b"\x00\xff garbage", "stall")]
    started = time.monotonic()
    results = probe.probe_endpoints([{"host": "127.0.0.1", "port": scripted.server.port}] * 20,
                                    {"timeout": TIMEOUT, "ehlo_name": "fuzz.test"})
    for result in results:
        _check(result, started, margin=1.0)  # 20 threads at once; sequential probes would need 20 x timeout
    assert threading.active_count() < 100  # probe threads do not pile up
