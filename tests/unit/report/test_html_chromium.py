"""The HTML report in headless Chromium (Debian's `chromium`), driven over the DevTools protocol.

Checks: the page loads with no console error, no uncaught exception and no blocked request; the DOM has one
cell per host x endpoint with the expected status class; clicking a failing cell shows its hint; a PNG
screenshot is written to tests/output/report/. The DevTools client (chromium_cdp.py) is standard library only.
"""
import importlib.util
import os
import subprocess
import tempfile

import pytest
from mailfleet_testing.capabilities import require

from ansible_collections.mailfleet.outlook.plugins.plugin_utils import _fleet_report as fr

pytestmark = pytest.mark.timeout(120)

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
OUTPUT = os.path.join(REPO, "tests", "output", "report")

_spec = importlib.util.spec_from_file_location("mailfleet_chromium_cdp", os.path.join(HERE, "chromium_cdp.py"))
cdp = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cdp)


@pytest.fixture
def chromium(tmp_path):
    require("chromium-headless")
    with cdp.Chromium(str(tmp_path / "profile")) as c:
        yield c


def test_report_in_headless_chromium(sample, chromium):
    hosts, results = sample
    report = fr.build_report(hosts, results, title="mailfleet fleet report (unit sample)")
    os.makedirs(OUTPUT, exist_ok=True)
    paths = fr.write_report(report, OUTPUT)
    expected = dict(((r["host"], c["name"]), "st-" + c["status"]) for r in report["hosts"] for c in r["endpoints"])

    dt = chromium.open(paths["html"])
    assert chromium.errors() == []
    assert dt.evaluate("document.body.getAttribute('data-report-ready')") == str(len(expected))
    assert chromium.cells() == expected
    # colours really differ per status (computed style, not just class names)
    colours = dt.evaluate("['ok','fail','unreachable'].map(function(s){var td=document.querySelector('#grid td.st-'+s);"
                          "return getComputedStyle(td).backgroundColor})")
    assert len(set(colours)) == 3, colours
    # click shows the diagnosis and hint
    detail = dt.evaluate("(function(){var td=document.querySelector('#grid td[data-host=\"blocked\"][data-endpoint=\"smtp\"]');"
                         "td.click(); return document.getElementById('detail').textContent})()")
    assert "diagnosis: connect_timeout" in detail and "hint: a firewall or the ISP drops this port" in detail
    png = chromium.screenshot(os.path.join(OUTPUT, "report-chromium.png"))
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10000
    assert chromium.errors() == []


def test_chromium_cli_screenshot(sample, tmp_path):
    """The plain command line (as a user would run it) renders the page to a PNG too."""
    require("chromium-headless")
    binary = cdp.chromium_binary()
    hosts, results = sample
    paths = fr.write_report(fr.build_report(hosts, results), str(tmp_path))
    png = os.path.join(OUTPUT, "report-cli.png")
    os.makedirs(OUTPUT, exist_ok=True)
    if os.path.exists(png):
        os.unlink(png)
    subprocess.run([binary] + cdp.CHROMIUM_FLAGS + ["--user-data-dir=%s" % tempfile.mkdtemp(dir=str(tmp_path)),
                                                    "--screenshot=%s" % png, "file://" + paths["html"]],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=90, check=True)
    with open(png, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
