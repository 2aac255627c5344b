"""Headless Chromium driven over the DevTools protocol, standard library only (test helper).

Used by tests/integration/report/test_html_chromium.py, tests/integration/fleet/ and bench/bench_report.py
(``from mailfleet_testing import chromium_cdp``). ``open_page(html_path, screenshot)`` loads a page in Debian's
``chromium`` and returns what the tests assert on: console errors, the grid cells, a screenshot.
"""
import base64
import json
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import time
import urllib.request


class ChromiumMissing(RuntimeError):
    pass


def chromium_binary():
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    raise ChromiumMissing("chromium is not installed (Debian package 'chromium', listed in scripts/apt-packages.txt)")


CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--hide-scrollbars", "--window-size=1400,1000"]


def chromium_binary():
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    raise ChromiumMissing("chromium is not installed (Debian package 'chromium', listed in scripts/apt-packages.txt)")


class WebSocket:
    """Just enough of RFC 6455 for the DevTools protocol: text frames, client masking, fragmentation."""

    def __init__(self, url, timeout=30):
        assert url.startswith("ws://")
        hostport, dummy, path = url[5:].partition("/")
        host, dummy, port = hostport.partition(":")
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        req = ("GET /%s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % (path, hostport, key))
        self.sock.sendall(req.encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            if not chunk:
                raise IOError("websocket handshake: connection closed")
            head += chunk
        assert head.split(b"\r\n")[0].split()[1] == b"101", head

    def _recv_exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise IOError("websocket closed")
            buf += chunk
        return buf

    def send(self, text):
        payload = text.encode()
        header = bytearray([0x81])
        n = len(payload)
        if n < 126:
            header.append(0x80 | n)
        elif n < 65536:
            header.append(0x80 | 126)
            header += struct.pack("!H", n)
        else:
            header.append(0x80 | 127)
            header += struct.pack("!Q", n)
        mask = os.urandom(4)
        header += mask
        self.sock.sendall(bytes(header) + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def recv(self):
        message = b""
        while True:
            b0, b1 = self._recv_exact(2)
            fin, opcode, n = b0 & 0x80, b0 & 0x0F, b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", self._recv_exact(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", self._recv_exact(8))[0]
            data = self._recv_exact(n)
            if opcode == 0x8:
                raise IOError("websocket closed by chromium")
            if opcode in (0x9, 0xA):
                continue
            message += data
            if fin:
                return message.decode()


class DevTools:
    def __init__(self, ws):
        self.ws = ws
        self.next_id = 0
        self.events = []

    def call(self, method, **params):
        self.next_id += 1
        my = self.next_id
        self.ws.send(json.dumps({"id": my, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == my:
                if "error" in msg:
                    raise RuntimeError("%s: %s" % (method, msg["error"]))
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)

    def wait_event(self, method, timeout=30):
        deadline = time.time() + timeout
        for ev in self.events:
            if ev["method"] == method:
                return ev
        while time.time() < deadline:
            msg = json.loads(self.ws.recv())
            if "method" in msg:
                self.events.append(msg)
                if msg["method"] == method:
                    return msg
        raise TimeoutError(method)

    def evaluate(self, expression):
        r = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        assert "exceptionDetails" not in r, r
        return r["result"].get("value")


class Chromium:
    """A headless chromium with a DevTools connection to its first page (context manager)."""

    def __init__(self, profile_dir=None):
        self.profile = profile_dir or tempfile.mkdtemp(prefix="mailfleet-chromium-")
        self.proc = None
        self.dt = None

    def __enter__(self):
        binary = chromium_binary()
        self.proc = subprocess.Popen([binary] + CHROMIUM_FLAGS + ["--user-data-dir=%s" % self.profile, "--remote-debugging-port=0",
                                                                  "--remote-debugging-address=127.0.0.1", "about:blank"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            port_file = os.path.join(self.profile, "DevToolsActivePort")
            deadline = time.time() + 60
            while not (os.path.exists(port_file) and open(port_file).read().strip()):
                if self.proc.poll() is not None:
                    raise RuntimeError("chromium exited: %s" % self.proc.stderr.read().decode(errors="replace")[-2000:])
                if time.time() > deadline:
                    raise TimeoutError("chromium did not open its DevTools port")
                time.sleep(0.1)
            port = int(open(port_file).read().split()[0])
            targets = json.loads(urllib.request.urlopen("http://127.0.0.1:%d/json/list" % port, timeout=10).read())
            page = [t for t in targets if t.get("type") == "page"][0]
            self.dt = DevTools(WebSocket(page["webSocketDebuggerUrl"]))
            return self
        except BaseException:
            self.__exit__()
            raise

    def __exit__(self, *exc):
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc.stderr.close()
        shutil.rmtree(self.profile, ignore_errors=True)

    def open(self, path):
        dt = self.dt
        dt.call("Runtime.enable")
        dt.call("Log.enable")
        dt.call("Page.enable")
        dt.call("Page.navigate", url="file://" + os.path.abspath(path))
        dt.wait_event("Page.loadEventFired")
        return dt

    def errors(self):
        return [e for e in self.dt.events if e["method"] == "Runtime.exceptionThrown"
                or (e["method"] == "Runtime.consoleAPICalled" and e["params"]["type"] in ("error", "assert"))
                or (e["method"] == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")]

    def cells(self):
        """{(host, endpoint): status class} of the report grid."""
        cells = self.dt.evaluate("Array.from(document.querySelectorAll('#grid td.cell')).map("
                                 "function(td){return [td.dataset.host, td.dataset.endpoint, td.className]})")
        got = dict(((h, e), [c for c in cls.split() if c.startswith("st-")][0]) for h, e, cls in cells)
        assert len(got) == len(cells), "duplicate cells"
        return got

    def screenshot(self, path):
        shot = self.dt.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        png = base64.b64decode(shot["data"])
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "wb") as f:
            f.write(png)
        return png
