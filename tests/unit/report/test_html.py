"""The HTML report is one self-contained page: structure checked with the standard library parser.

The summary, the trend, the groups by cause and by site are rendered on the server (readable without
JavaScript); the grid's data is embedded once as JSON and rendered by the page's script (see
tests/integration/report/test_html_chromium.py for the page in a browser)."""
import html.parser
import json
import re

import pytest

from ansible_collections.mailfleet.outlook.plugins.plugin_utils import _fleet_report as fr
from ansible_collections.mailfleet.outlook.plugins.plugin_utils import _fleet_report_html as fh

pytestmark = [pytest.mark.timeout(30), pytest.mark.core_independent]


class Page(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags = []
        self.attrs_seen = []
        self.scripts = {}
        self._script = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append(tag)
        self.attrs_seen.append((tag, a))
        if tag == "script":
            self._script = a.get("id") or "inline"
            self.scripts[self._script] = ""

    def handle_endtag(self, tag):
        if tag == "script":
            self._script = None

    def handle_data(self, data):
        if self._script:
            self.scripts[self._script] += data


def parse(sample, **kw):
    hosts, results = sample
    report = fr.build_report(hosts, results, **kw)
    text = fr.render_html(report)
    p = Page()
    p.feed(text)
    return text, p, report


def grid_cells(p):
    """{(host, endpoint): status} from the grid data embedded in the page, decoded as the page's script does."""
    data = json.loads(p.scripts["report-data"])
    s, cols = data["s"], data["cols"]
    return dict(((h[0], cols[c[0]]), s[c[1]]) for h in data["h"] for c in h[5]), data


def test_one_cell_per_host_and_endpoint_with_status(sample):
    text, p, report = parse(sample)
    got, data = grid_cells(p)
    assert len(got) == sum(len(h[5]) for h in data["h"]) == 10
    assert got[("good", "smtp")] == "ok"
    assert got[("good", "imap")] == "warn"
    assert got[("blocked", "smtp")] == "fail"
    assert got[("refused", "imap")] == "optional_fail"
    assert got[("gone", "smtp")] == "unreachable"
    assert got[("never", "imap")] == "not_run"
    # every string once: the diagnosis message of the timeout is stored one time however many cells use it
    assert data["s"].count("no answer from 10.77.0.1:10587 within 5 s") == 1


def test_diagnosis_and_hint_in_failure_groups(sample):
    text, p, report = parse(sample)
    assert "Hint: install the issuing CA or fix the server&#x27;s chain &lt;&amp;&gt;" in text
    m = re.search(r'<details class="group cause" data-code="connect_timeout">(.*?)</details>', text)
    assert m and "no answer from 10.77.0.1:10587 within 5 s" in m.group(1) and "Hint: a firewall or the ISP" in m.group(1)


def test_summary_basic_auth_latency_certificates(sample):
    text, p, report = parse(sample)
    assert re.search(r'<p id="summary" class="summary has-fail" data-hosts="6" data-ok="1" data-failing="3"', text)
    assert "cert_untrusted: 1, connect_refused: 1, connect_timeout: 1" in text
    assert 'id="basic-auth"' in text and "<code>relay_auth_method</code>" in text and "2026-12-31" in text
    assert 'id="status-chart"' in text and text.count("<rect class=\"st-") == 4   # ok, failing, unreachable, not run
    # latency: one median bar per endpoint column, then the slowest endpoints (all 6 timed ones here)
    assert text.count('class="row" data-endpoint=') == 2
    assert text.count('class="row" data-host=') == 6
    assert '<td class="days days-low">9</td>' in text
    assert 'id="unreachable"' in text and "Connection refused" in text


def test_no_external_assets(sample):
    text, p, report = parse(sample)
    for tag, a in p.attrs_seen:
        assert tag not in ("link", "img", "iframe", "object", "embed"), tag
        assert "src" not in a and "href" not in a, (tag, a)
    assert "url(" not in text and "@import" not in text
    assert "default-src 'none'" in text


def test_hostile_host_names_are_escaped():
    evil = '<script>alert(1)</script>'
    res = {"required": ["smtp"], "endpoints": [{"name": evil, "ok": False, "diagnosis": {"code": "x", "message": evil, "hint": evil}}]}
    text = fr.render_html(fr.build_report([evil], {evil: res}, inventory={evil: {"site": evil}}))
    assert evil not in text
    embedded = text.split('<script type="application/json" id="report-data">', 1)[1].split("</script>", 1)[0]
    assert "\\u003cscript\\u003ealert(1)\\u003c/script\\u003e" in embedded
    p = Page()
    p.feed(text)
    got, data = grid_cells(p)
    assert got == {(evil, evil): "optional_fail"} and data["s"][data["h"][0][2]] == evil   # intact after the round trip


def test_same_failure_folds_into_one_line():
    """100 hosts with the same timeout (each message names its own address): one line, with the count."""
    def res(i):
        return {"required": ["smtp"], "endpoints": [
            {"name": "smtp", "host": "smtp.office365.com", "port": 587, "security": "starttls", "ok": False,
             "diagnosis": {"code": "connect_timeout", "message": "no answer from 10.0.0.%d:587 within 10 s" % i, "hint": "open 587"}}]}
    hosts = ["ws%03d" % i for i in range(100)]
    report = fr.build_report(hosts, dict((h, res(i)) for i, h in enumerate(hosts)),
                             inventory=dict((h, {"groups": ["site_a" if i < 60 else "site_b"]}) for i, h in enumerate(hosts)))
    text = fr.render_html(report)
    folds = re.findall(r'<div class="fold" data-code="connect_timeout" data-endpoint="smtp" data-hosts="(\d+)">', text)
    assert folds == ["100"]
    assert "by site: site_a 60, site_b 40" in text
    assert "and 97 more messages" in text
    by_site = re.findall(r'<details class="group site" data-site="(site_\w)">', text)
    assert by_site == ["site_a", "site_b"]


def test_sections_plug_in(sample):
    hosts, results = sample
    report = fr.build_report(hosts, results)
    saved = list(fh.SECTIONS)
    try:
        fh.register_section("senders", lambda rep, page: "<h2 id=\"senders\">How each host sends today</h2>", before="grid")
        text = fr.render_html(report)
        assert text.index('id="section-senders"') < text.index('id="section-grid"')
        assert text.index('id="section-by-site"') < text.index('id="section-senders"')
        fh.register_section("senders", lambda rep, page: "")   # replaced; empty: left out
        assert 'id="section-senders"' not in fr.render_html(report)
    finally:
        fh.SECTIONS[:] = saved


def test_summary_is_readable_without_javascript(sample):
    """Everything above the grid is server-rendered text: strip the scripts and the facts are still there."""
    text, p, report = parse(sample)
    static = re.sub(r"<script.*?</script>", "", text, flags=re.S)
    for fact in ("6 hosts: 1 ok, 3 failing", "connect_timeout", "blocked", "badcert", "relay_auth_method",
                 "Failures by cause", "Hosts without a probe result"):
        assert fact in static, fact


def _detail_pairs(data, host, endpoint):
    row = [h for h in data["h"] if h[0] == host][0]
    cell = [c for c in row[5] if data["cols"][c[0]] == endpoint][0]
    return [[data["s"][k], data["s"][v]] for k, v in cell[16]]


def test_cells_say_which_proxy_each_probe_went_through(sample):
    hosts, results = sample
    results["good"]["endpoints"][0]["proxy"] = "socks5h://proxy.branch.example:1080"
    text, p, report = parse((hosts, results))
    cells = dict(((r["host"], c["name"]), c) for r in report["hosts"] for c in r["endpoints"])
    assert cells[("good", "smtp")]["proxy"] == "socks5h://proxy.branch.example:1080"  # the JSON field
    data = json.loads(p.scripts["report-data"])
    assert _detail_pairs(data, "good", "smtp") == [["through", "socks5h://proxy.branch.example:1080"]]
    assert _detail_pairs(data, "good", "imap") == [["through", "direct"]]
    assert _detail_pairs(data, "gone", "smtp") == []   # never probed: no claim about the path


def test_extra_endpoint_fields_reach_the_cell_details(sample):
    hosts, results = sample
    saved = list(fh.EXTRA_CELL_FIELDS)
    try:
        fh.EXTRA_CELL_FIELDS.append("gateway_path")
        results["good"]["endpoints"][0]["gateway_path"] = {"via": "gw1", "hops": 3}
        text, p, report = parse((hosts, results))
    finally:
        fh.EXTRA_CELL_FIELDS[:] = saved
    data = json.loads(p.scripts["report-data"])
    assert _detail_pairs(data, "good", "smtp") == [["through", "direct"], ["gateway_path", '{"via": "gw1", "hops": 3}']]
