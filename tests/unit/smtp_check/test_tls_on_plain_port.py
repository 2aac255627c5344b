"""Both ways the probe meets text instead of TLS on an implicit-TLS endpoint give the same tls_on_plain_port verdict.

The server's text either arrives before OpenSSL gives up (an SSLError: "wrong version number") or the server closes
the connection after it (the handshake ends without an SSLError): one helper, ``EndpointProbe._text_instead_of_tls``,
produces the verdict for both, and keeps the text as the banner only when it starts with a reply code."""

import socket
import threading

import pytest

from ansible_collections.mailfleet.outlook.plugins.module_utils._probe import engine

pytestmark = [pytest.mark.timeout(30), pytest.mark.core_independent]


def _server(greeting, close):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def serve():
        conn, _addr = listener.accept()
        try:
            conn.sendall(greeting)
            if close:
                conn.shutdown(socket.SHUT_WR)
            conn.recv(65536)
            if not close:
                conn.recv(65536)
        except OSError:
            pass
        finally:
            conn.close()
            listener.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return listener.getsockname()[1], thread


def _probe(greeting, close):
    port, thread = _server(greeting, close)
    res = engine.probe_endpoints([dict(host="127.0.0.1", port=port, security="tls")],
                                 dict(timeout=5, ehlo_name="probe.example.test"))[0]
    thread.join(5)
    return res


@pytest.mark.parametrize("close", [False, True], ids=["ssl-error", "closed"])
def test_text_with_a_reply_code_is_the_banner(close):
    res = _probe(b"220 plain.example.test ESMTP ready\r\n", close)
    assert res["diagnosis"]["code"] == "tls_on_plain_port" and res["failed_stage"] == "tls"
    assert res["banner"] == "220 plain.example.test ESMTP ready"


@pytest.mark.parametrize("close", [False, True], ids=["ssl-error", "closed"])
def test_text_without_a_reply_code_is_not_a_banner(close):
    res = _probe(b"* OK IMAP4 ready\r\n", close)
    assert res["diagnosis"]["code"] == "tls_on_plain_port" and res["failed_stage"] == "tls"
    assert not res.get("banner")
