"""The HTML report is one self-contained page: structure checked with the standard library parser."""
import html.parser
import re

import pytest

from ansible_collections.mailfleet.outlook.plugins.plugin_utils import _fleet_report as fr

pytestmark = pytest.mark.timeout(30)


class Cells(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.cells = []
        self.tags = []
        self.attrs_seen = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append(tag)
        self.attrs_seen.append((tag, a))
        if tag == "td" and "cell" in (a.get("class") or "").split():
            self.cells.append(a)


def parse(sample):
    hosts, results = sample
    text = fr.render_html(fr.build_report(hosts, results))
    p = Cells()
    p.feed(text)
    return text, p


def test_one_cell_per_host_and_endpoint_with_status_class(sample):
    text, p = parse(sample)
    got = dict(((c["data-host"], c["data-endpoint"]), c["class"]) for c in p.cells)
    assert len(p.cells) == len(got) == 10
    assert got[("good", "smtp")] == "cell st-ok"
    assert got[("good", "imap")] == "cell st-warn"
    assert got[("blocked", "smtp")] == "cell st-fail"
    assert got[("refused", "imap")] == "cell st-optional_fail"
    assert got[("gone", "smtp")] == "cell st-unreachable"
    assert got[("never", "imap")] == "cell st-not_run"


def test_diagnosis_and_hint_on_hover_and_in_failure_list(sample):
    text, p = parse(sample)
    blocked = [c for c in p.cells if c["data-host"] == "blocked"][0]
    assert blocked["title"].startswith("connect_timeout: no answer from 10.77.0.1:10587 within 5 s Hint: a firewall")
    assert "hint: a firewall or the ISP drops this port" in blocked["data-detail"]
    assert "Hint: install the issuing CA or fix the server&#x27;s chain &lt;&amp;&gt;" in text


def test_summary_basic_auth_latency_certificates(sample):
    text, p = parse(sample)
    assert re.search(r'<p id="summary" class="summary has-fail" data-hosts="6" data-ok="1" data-failing="3"', text)
    assert "cert_untrusted: 1, connect_refused: 1, connect_timeout: 1" in text
    assert 'id="basic-auth"' in text and "<code>relay_auth_method</code>" in text and "2026-12-31" in text
    assert text.count('class="row" data-host=') == 6   # every probed endpoint (good 2, blocked 1, refused 2, badcert 1)
    assert '<td class="days days-low">9</td>' in text
    assert 'id="unreachable"' in text and "Connection refused" in text


def test_no_external_assets(sample):
    text, p = parse(sample)
    for tag, a in p.attrs_seen:
        assert tag not in ("link", "img", "iframe", "object", "embed"), tag
        assert "src" not in a and "href" not in a, (tag, a)
    assert "url(" not in text and "@import" not in text
    assert "default-src 'none'" in text


def test_hostile_host_names_are_escaped():
    evil = '<script>alert(1)</script>'
    res = {"required": ["smtp"], "endpoints": [{"name": evil, "ok": False, "diagnosis": {"code": "x", "message": evil, "hint": evil}}]}
    text = fr.render_html(fr.build_report([evil], {evil: res}))
    assert evil not in text


def test_cells_say_which_proxy_each_probe_went_through(sample):
    hosts, results = sample
    good = results["good"]
    good["endpoints"][0]["proxy"] = "socks5h://proxy.branch.example:1080"
    report = fr.build_report(hosts, results)
    cells = dict(((r["host"], c["name"]), c) for r in report["hosts"] for c in r["endpoints"])
    assert cells[("good", "smtp")]["proxy"] == "socks5h://proxy.branch.example:1080"  # the JSON field
    text = fr.render_html(report)
    p = Cells()
    p.feed(text)
    detail = dict(((c["data-host"], c["data-endpoint"]), c["data-detail"]) for c in p.cells)
    assert "through: socks5h://proxy.branch.example:1080" in detail[("good", "smtp")]
    assert "through: direct" in detail[("good", "imap")]
    assert "through:" not in detail[("gone", "smtp")]  # never probed: no claim about the path
