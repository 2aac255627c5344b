# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""In-test SOCKS5 and HTTP CONNECT proxies on loopback, scriptable per failure, for the proxy unit tests.

Handlers for ``smtpcheck_fakes.FakeServer``: ``socks5(...)`` and ``http_connect(...)`` negotiate as told, record
what the client asked (``server.requests``), then relay bytes to the requested destination. The real proxies
(Dante, tinyproxy) are exercised by tests/integration/smtp_check/test_smtp_check_proxy.py.
"""

from __future__ import annotations

import base64
import socket
import struct
import threading
import time


def recv_exact(sock, count):
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def relay(left, right):
    """Copy bytes both ways until either side closes."""
    def pump(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for sock in (src, dst):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    threads = [threading.Thread(target=pump, args=pair, daemon=True) for pair in ((left, right), (right, left))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)


def _requests(conn):
    if not hasattr(conn.server, "requests"):
        conn.server.requests = []
    return conn.server.requests


def socks5(reply=0, method=None, credentials=None, stall=None, answer_http=False):
    """``reply``: the REP field to send (0 = connect and relay); ``method``: force the selected method;
    ``credentials``: (user, password) the username method accepts; ``stall``: "greeting" or "connect" (say
    nothing there); ``answer_http``: answer like an HTTP proxy."""
    def handler(conn):
        sock = conn.sock
        requests = _requests(conn)
        head = recv_exact(sock, 2)
        methods = recv_exact(sock, head[1])
        entry = {"methods": list(methods)}
        requests.append(entry)
        if answer_http:
            sock.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")
            return
        if stall == "greeting":
            time.sleep(30)
            return
        chosen = method
        if chosen is None:
            chosen = 2 if credentials and 2 in methods else (0 if 0 in methods and not credentials else 0xFF)
        sock.sendall(bytes([5, chosen]))
        if chosen == 0xFF:
            return
        if chosen == 2:
            recv_exact(sock, 1)
            user = recv_exact(sock, recv_exact(sock, 1)[0]).decode("utf-8")
            password = recv_exact(sock, recv_exact(sock, 1)[0]).decode("utf-8")
            entry["user"], entry["password"] = user, password
            good = (user, password) == tuple(credentials or ())
            sock.sendall(bytes([1, 0 if good else 1]))
            if not good:
                return
        _ver, _cmd, _rsv, atyp = recv_exact(sock, 4)
        if atyp == 1:
            address = socket.inet_ntoa(recv_exact(sock, 4))
        elif atyp == 4:
            address = socket.inet_ntop(socket.AF_INET6, recv_exact(sock, 16))
        else:
            address = recv_exact(sock, recv_exact(sock, 1)[0]).decode("ascii")
        port = struct.unpack(">H", recv_exact(sock, 2))[0]
        entry.update(atyp=atyp, address=address, port=port)
        if stall == "connect":
            time.sleep(30)
            return
        if reply:
            sock.sendall(bytes([5, reply, 0, 1, 0, 0, 0, 0, 0, 0]))
            return
        upstream = socket.create_connection(("127.0.0.1" if address == "localhost" else address, port), 5)
        # a domain-typed BND.ADDR, as some proxies answer
        sock.sendall(bytes([5, 0, 0, 3, 9]) + b"proxy.lan" + struct.pack(">H", 4242))
        relay(sock, upstream)

    return handler


def http_connect(status=200, reason="Connection established", credentials=None, stall=False, body=b"",
                 coalesce_banner=False, echo_headers=False):
    """``status``: the answer to CONNECT (200 = connect and relay); ``credentials``: (user, password) Basic auth
    demanded (407 without or with wrong ones); ``coalesce_banner``: send the 200 and the server's first bytes in one
    segment; ``echo_headers``: a hostile proxy that puts the request's headers into its reason phrase."""
    def handler(conn):
        sock = conn.sock
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(4096)
            if not chunk:
                return
            head += chunk
        lines = head.decode("utf-8").split("\r\n")
        target = lines[0].split(" ")[1]
        headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
        _requests(conn).append({"target": target, "headers": headers})
        if stall:
            time.sleep(30)
            return
        if credentials:
            expected = "Basic " + base64.b64encode(("%s:%s" % credentials).encode("utf-8")).decode("ascii")
            if headers.get("Proxy-Authorization") != expected:
                sock.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"t\"\r\n\r\n")
                return
        if status != 200:
            phrase = reason
            if echo_headers:
                phrase = "%s %s" % (reason, headers.get("Proxy-Authorization"))
            sock.sendall(("HTTP/1.1 %d %s\r\n\r\n" % (status, phrase)).encode("utf-8") + body)
            return
        host, _sep, port = target.rpartition(":")
        upstream = socket.create_connection(("127.0.0.1" if host == "localhost" else host.strip("[]"), int(port)), 5)
        answer = ("HTTP/1.1 200 %s\r\nProxy-Agent: fake\r\n\r\n" % reason).encode("utf-8")
        if coalesce_banner:
            upstream.settimeout(5)
            answer += upstream.recv(65536)
        sock.sendall(answer)
        relay(sock, upstream)

    return handler
