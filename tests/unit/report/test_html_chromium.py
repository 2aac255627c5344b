"""The HTML report in headless Chromium (Debian's `chromium`), driven over the DevTools protocol.

Checks: the page loads with no console error, no uncaught exception and no blocked request; the DOM has one
cell per host x endpoint with the expected status class; clicking a failing cell shows its hint; a PNG
screenshot is written to tests/output/report/. The DevTools client below is standard library only
(a minimal RFC 6455 websocket client).
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

import pytest

from ansible_collections.mailfleet.outlook.plugins.plugin_utils import _fleet_report as fr

pytestmark = pytest.mark.timeout(120)

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
OUTPUT = os.path.join(REPO, "tests", "output", "report")

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--hide-scrollbars", "--window-size=1400,1000"]


def chromium_binary():
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("chromium is not installed (Debian package 'chromium', listed in scripts/apt-packages.txt)")


class WebSocket:
    """Just enough of RFC 6455 for the DevTools protocol: text frames, client masking, fragmentation."""

    def __init__(self, url, timeout=30):
        assert url.startswith("ws://")
        hostport, _, path = url[5:].partition("/")
        host, _, port = hostport.partition(":")
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


@pytest.fixture
def chromium(tmp_path):
    binary = chromium_binary()
    profile = tmp_path / "profile"
    profile.mkdir()
    proc = subprocess.Popen([binary] + CHROMIUM_FLAGS + ["--user-data-dir=%s" % profile, "--remote-debugging-port=0",
                                                        "--remote-debugging-address=127.0.0.1", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.time() + 60
        while not (port_file.exists() and port_file.read_text().strip()):
            if proc.poll() is not None:
                raise RuntimeError("chromium exited: %s" % proc.stderr.read().decode(errors="replace")[-2000:])
            if time.time() > deadline:
                raise TimeoutError("chromium did not open its DevTools port")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        targets = json.loads(urllib.request.urlopen("http://127.0.0.1:%d/json/list" % port, timeout=10).read())
        page = [t for t in targets if t.get("type") == "page"][0]
        ws = WebSocket(page["webSocketDebuggerUrl"])
        yield DevTools(ws)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_report_in_headless_chromium(sample, chromium, tmp_path):
    hosts, results = sample
    report = fr.build_report(hosts, results, title="mailfleet fleet report (unit sample)")
    os.makedirs(OUTPUT, exist_ok=True)
    paths = fr.write_report(report, OUTPUT)
    expected = dict(((r["host"], c["name"]), "st-" + c["status"]) for r in report["hosts"] for c in r["endpoints"])

    dt = chromium
    dt.call("Runtime.enable")
    dt.call("Log.enable")
    dt.call("Page.enable")
    dt.call("Page.navigate", url="file://" + paths["html"])
    dt.wait_event("Page.loadEventFired")

    errors = [e for e in dt.events if e["method"] == "Runtime.exceptionThrown"
              or (e["method"] == "Runtime.consoleAPICalled" and e["params"]["type"] in ("error", "assert"))
              or (e["method"] == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")]
    assert errors == []

    assert dt.evaluate("document.body.getAttribute('data-report-ready')") == str(len(expected))
    cells = dt.evaluate("Array.from(document.querySelectorAll('#grid td.cell')).map("
                        "function(td){return [td.dataset.host, td.dataset.endpoint, td.className]})")
    got = dict(((h, e), [c for c in cls.split() if c.startswith("st-")][0]) for h, e, cls in cells)
    assert len(cells) == len(got) == len(expected)
    assert got == expected
    # colours really differ per status (computed style, not just class names)
    colours = dt.evaluate("['ok','fail','unreachable'].map(function(s){var td=document.querySelector('#grid td.st-'+s);"
                          "return getComputedStyle(td).backgroundColor})")
    assert len(set(colours)) == 3, colours
    # click shows the diagnosis and hint
    detail = dt.evaluate("(function(){var td=document.querySelector('#grid td[data-host=\"blocked\"][data-endpoint=\"smtp\"]');"
                         "td.click(); return document.getElementById('detail').textContent})()")
    assert "diagnosis: connect_timeout" in detail and "hint: a firewall or the ISP drops this port" in detail

    shot = dt.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
    png = base64.b64decode(shot["data"])
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10000
    with open(os.path.join(OUTPUT, "report-chromium.png"), "wb") as f:
        f.write(png)
    # and no console error appeared after the interaction either
    late = [e for e in dt.events if e["method"] in ("Runtime.exceptionThrown",) or
            (e["method"] == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")]
    assert late == []


def test_chromium_cli_screenshot(sample, tmp_path):
    """The plain command line (as a user would run it) renders the page to a PNG too."""
    binary = chromium_binary()
    hosts, results = sample
    paths = fr.write_report(fr.build_report(hosts, results), str(tmp_path))
    png = os.path.join(OUTPUT, "report-cli.png")
    os.makedirs(OUTPUT, exist_ok=True)
    if os.path.exists(png):
        os.unlink(png)
    subprocess.run([binary] + CHROMIUM_FLAGS + ["--user-data-dir=%s" % tempfile.mkdtemp(dir=str(tmp_path)),
                                                "--screenshot=%s" % png, "file://" + paths["html"]],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=90, check=True)
    with open(png, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
