"""The HTML report in headless Chromium (Debian's `chromium`), driven over the DevTools protocol.

Checks: the page loads with no console error, no uncaught exception and no blocked request; the DOM has one
cell per host x endpoint with the expected status class; clicking a failing cell shows its hint; a PNG
screenshot is written to tests/output/report/. The DevTools client (mailfleet_testing.chromium_cdp) is standard library
only. An integration test: it starts a browser.
"""
import os
import subprocess
import tempfile

import pytest
from mailfleet_testing import chromium_cdp as cdp
from mailfleet_testing import report_samples
from mailfleet_testing.capabilities import require

from ansible_collections.mailfleet.outlook.plugins.plugin_utils import _fleet_report as fr

pytestmark = [pytest.mark.timeout(120), pytest.mark.core_independent]

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))  # tests/integration/report -> the checkout
OUTPUT = os.path.join(REPO, "tests", "output", "report")


@pytest.fixture
def sample():
    """Six hosts: ok, ISP block (timeout), refused, bad certificate, unreachable by Ansible, never ran."""
    return report_samples.sample()


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


def test_5000_host_page_lazy_grid_search_and_filters(chromium, tmp_path):
    """At 5,000 hosts: the summary is there at once, only the rows in view exist in the DOM, scrolling draws the
    last host, a search finds exactly one host, the filters and the "show" buttons work, no console error."""
    from mailfleet_testing.fleet_results import fleet
    hosts, results, inventory = fleet(5000)
    report = fr.build_report(hosts, results, inventory=inventory)
    paths = fr.write_report(report, str(tmp_path), formats=["html"])
    assert os.path.getsize(paths["html"]) < 5e6
    dt = chromium.open(paths["html"])
    assert chromium.errors() == []
    assert dt.evaluate("document.getElementById('summary').textContent").startswith("5000 hosts: %d ok" % report["summary"]["ok"])
    assert dt.evaluate("document.getElementById('summary').getBoundingClientRect().top < innerHeight")
    assert dt.evaluate("document.body.getAttribute('data-report-ready')") == str(sum(len(r["endpoints"]) for r in report["hosts"]))
    body = "document.getElementById('grid-body')"
    assert dt.evaluate(body + ".getAttribute('data-rows')") == "5000"
    rendered = dt.evaluate("document.querySelectorAll('#grid-body tr[data-host]').length")
    assert 0 < rendered < 200, rendered
    # scroll the grid to its end: the last host is drawn, the first is gone
    last = dt.evaluate("(function(){var w=document.getElementById('grid-wrap'); w.scrollTop=w.scrollHeight;"
                       "return new Promise(function(ok){requestAnimationFrame(function(){requestAnimationFrame(function(){"
                       "var rows=document.querySelectorAll('#grid-body tr[data-host]');"
                       "ok([rows[0].dataset.host, rows[rows.length-1].dataset.host])})})})})()")
    assert last[1] == "host-05000" and last[0] != "host-00001", last

    def search(text, field="q"):
        return dt.evaluate("(function(){var q=document.getElementById(%r); q.value=%r; q.dispatchEvent(new Event('input'));"
                           "return [%s.getAttribute('data-rows'), Array.from(document.querySelectorAll('#grid-body tr[data-host]'))"
                           ".map(function(r){return r.dataset.host})]})()" % (field, text, body))

    rows, found = search("host-04217")
    assert (rows, found) == ("1", ["host-04217"])
    cell = dt.evaluate("(function(){var td=document.querySelector('#grid-body td.cell[data-endpoint=\"smtp\"]'); td.click();"
                       "return document.getElementById('detail').textContent})()")
    expected = [r for r in report["hosts"] if r["host"] == "host-04217"][0]
    assert cell.startswith("host-04217 -> smtp  (site %s)" % expected["site"])
    assert "diagnosis: %s" % expected["endpoints"][0]["diagnosis"]["code"] in cell
    search("")
    timeouts = sum(1 for r in report["hosts"] if any(c["diagnosis"]["code"] == "connect_timeout" for c in r["endpoints"]))
    assert search("connect_timeout", field="f-code")[0] == str(timeouts)
    # a "show" button of the summary sets the site filter
    site_rows = dt.evaluate("(function(){document.getElementById('f-code').value='';"
                            "document.querySelector('#by-site button[data-value=\"site_03\"]').click();"
                            "return [document.getElementById('f-site').value, %s.getAttribute('data-rows')]})()" % body)
    assert site_rows == ["site_03", str(report["summary"]["by_site"]["site_03"]["hosts"])]
    assert chromium.errors() == []
