# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet report page's building blocks and assets (plugin_utils/_fleet_report_html_parts.py, _assets.py)."""

from __future__ import annotations

import re

from ansible_collections.mailfleet.outlook.plugins.plugin_utils import _fleet_report_html as fh
from ansible_collections.mailfleet.outlook.plugins.plugin_utils import _fleet_report_html_assets as assets
from ansible_collections.mailfleet.outlook.plugins.plugin_utils import _fleet_report_html_parts as parts


def test_escape_and_numbers():
    assert parts.esc('<a href="x">&') == "&lt;a href=&quot;x&quot;&gt;&amp;"
    assert parts.esc(None) == ""
    assert parts.num(1234567) == "1,234,567"
    assert parts.ms_text("12.5") == 12.5 and parts.ms_text(None) == 0.0
    assert parts.pct(1, 4) == 25.0 and parts.pct(1, 0) == 0.0


def test_hosts_list_inline_folded_and_limited():
    assert parts.hosts_list([]) == ""
    assert parts.hosts_list(["a<b"]) == '<p class="hosts">a&lt;b</p>'
    folded = parts.hosts_list(["h%d" % i for i in range(8)], limit=3)
    assert folded.startswith("<details") and "8 hosts" in folded and "and 5 more (search the grid)" in folded


def test_message_shape_folds_what_varies_per_host():
    one = parts.message_shape("h1 cannot reach 10.0.0.7", host="h1")
    assert one == parts.message_shape("h2 cannot reach 10.0.0.9", host="h2") == "<host> cannot reach #"


def test_page_module_uses_these_parts():
    assert fh.Page is parts.Page and fh.esc is parts.esc and fh.hosts_list is parts.hosts_list


def test_assets_load_nothing_from_outside():
    for text in (assets.CSS, assets.JS):
        assert not re.search(r"https?://|@import|url\(", text)
    assert "data-report-ready" in assets.JS
