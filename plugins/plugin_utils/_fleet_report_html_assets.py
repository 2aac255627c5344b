# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet report page's style sheet and its grid script (inline: the page loads no external asset; its
Content-Security-Policy forbids any). ``_fleet_report_html.render_page`` puts them into the page."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

_CSS = """
:root{--ok:#1e8e3e;--warn:#c98a00;--fail:#c5221f;--opt:#e8710a;--unr:#5f6368;--norun:#9aa0a6;--na:#f1f3f4}
body{font:14px/1.4 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1.5em;color:#202124}
h1{font-size:1.4em;margin:0 0 .3em} h2{font-size:1.1em;margin:1.4em 0 .4em}
.summary{font-size:1.05em;padding:.6em .8em;background:#f8f9fa;border-left:4px solid var(--unr)}
.summary.all-ok{border-color:var(--ok)} .summary.has-fail{border-color:var(--fail)}
table{border-collapse:collapse;margin:.3em 0} th,td{border:1px solid #dadce0;padding:.3em .6em;text-align:left;vertical-align:top}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.st-ok{background:var(--ok)} .st-warn{background:var(--warn)} .st-fail,.st-failing{background:var(--fail)}
.st-optional_fail{background:var(--opt)} .st-unreachable{background:var(--unr)} .st-not_run{background:var(--norun)}
svg .st-ok{fill:var(--ok)} svg .st-failing{fill:var(--fail)} svg .st-unreachable{fill:var(--unr)} svg .st-not_run{fill:var(--norun)}
.badge{display:inline-block;padding:0 .4em;border-radius:3px;color:#fff;font-size:.85em;margin-left:.4em}
.badge.h-ok{background:var(--ok)} .badge.h-failing{background:var(--fail)} .badge.h-unreachable{background:var(--unr)}
.badge.h-not_run{background:var(--norun)}
.legend span{display:inline-block;padding:0 .5em;margin-right:.3em;color:#fff}
.mini{display:inline-flex;width:12em;height:10px;background:#f1f3f4;vertical-align:middle} .mini span{display:block;height:100%}
.hbar{display:inline-block;height:10px;background:var(--fail);vertical-align:middle}
details{margin:.25em 0} details>summary{cursor:pointer} details.group{border-left:3px solid #dadce0;padding-left:.6em}
details.group[open]{border-color:var(--fail)} .fold{margin:.3em 0 .3em 1em} .count{font-weight:600}
p.hosts{font-family:ui-monospace,monospace;font-size:.85em;margin:.2em 0 .2em 1em;word-break:break-word}
.js-only{display:none} html.js .js-only{display:block} html.js button.js-only{display:inline-block}
.controls{margin:.4em 0} .controls input,.controls select{font:inherit;margin-right:.4em} #q{width:22em}
#grid-wrap{max-height:70vh;overflow:auto;border:1px solid #dadce0} #grid{margin:0}
#grid th,#grid td{height:1.5em;white-space:nowrap;overflow:hidden;text-overflow:ellipsis;max-width:16em;padding:.15em .5em}
#grid thead th{position:sticky;top:0;background:#fff;z-index:1} #grid tr.spacer td{border:0;padding:0}
#grid td.cell{min-width:9em;cursor:pointer;color:#fff;font-weight:600} #grid td.selected{outline:3px solid #1a73e8}
#grid td.st-na{background:var(--na);color:#5f6368;cursor:default;font-weight:400}
#detail{white-space:pre-wrap;font-family:ui-monospace,monospace;background:#f8f9fa;padding:.6em;border:1px solid #dadce0;min-height:2em}
.bars .row{display:flex;align-items:center;margin:2px 0} .bars .label{width:22em;font-family:ui-monospace,monospace;font-size:.85em}
.bar{display:flex;height:14px;background:#f1f3f4;width:40em} .bar span{display:block;height:100%}
.seg-dns{background:#8ab4f8}.seg-connect{background:#1a73e8}.seg-banner{background:#a142f4}.seg-ehlo{background:#f439a0}
.seg-starttls{background:#fa7b17}.seg-tls{background:#fbbc04}.seg-auth{background:#34a853}.seg-send{background:#24c1e0}
.seg-proxy{background:#795548}.seg-mailbox{background:#0d652d}
.seg-other{background:#9aa0a6} .ms{margin-left:.5em;font-size:.85em;color:#5f6368}
.days-low{color:var(--fail);font-weight:600} .hint{color:#3c4043} code{font-size:.95em}
"""

# The grid: rows materialised for the visible window only (plus a margin), from the embedded data.
_JS = r"""
(function(){
  document.documentElement.classList.add('js');
  var D = JSON.parse(document.getElementById('report-data').textContent);
  var S = D.s, cols = D.cols, H = D.h, STAGES = D.stages;
  var wrap = document.getElementById('grid-wrap'), body = document.getElementById('grid-body');
  var detail = document.getElementById('detail'), count = document.getElementById('grid-count');
  var q = document.getElementById('q'), fStatus = document.getElementById('f-status');
  var fSite = document.getElementById('f-site'), fCode = document.getElementById('f-code');
  function esc(t){ return String(t).replace(/[&<>"']/g, function(c){
    return {'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;',"'":'&#39;'}[c]; }); }
  var total = 0, shown = [], rowH = 0, sel = null;
  for (var i = 0; i < H.length; i++) { total += H[i][5].length; }
  function matches(h){
    if (fStatus.value && S[h[1]] !== fStatus.value && !(fStatus.value === 'problem' && S[h[1]] !== 'ok')) return false;
    if (fSite.value && S[h[2]] !== fSite.value) return false;
    var cells = h[5], k;
    if (fCode.value) { for (k = 0; k < cells.length; k++) { if (S[cells[k][2]] === fCode.value) break; }
                       if (k === cells.length) return false; }
    var t = q.value.trim().toLowerCase();
    if (!t) return true;
    if (h[0].toLowerCase().indexOf(t) >= 0 || S[h[2]].toLowerCase() === t) return true;
    for (k = 0; k < cells.length; k++) { if (S[cells[k][2]].toLowerCase() === t) return true; }
    return false;
  }
  function filter(){
    shown = [];
    for (var i = 0; i < H.length; i++) { if (matches(H[i])) shown.push(i); }
    count.textContent = shown.length + ' of ' + H.length + ' hosts';
    body.setAttribute('data-rows', String(shown.length));
    wrap.scrollTop = 0; draw();
  }
  function rowHtml(i){
    var h = H[i], st = S[h[1]], by = {}, out, c, k;
    for (k = 0; k < h[5].length; k++) { by[h[5][k][0]] = h[5][k]; }
    out = '<tr data-host="' + esc(h[0]) + '" data-status="' + esc(st) + '"><th>' + esc(h[0]) +
          '<span class="badge h-' + esc(st) + '">' + esc(st.replace('_', ' ')) + '</span>' +
          (h[3] ? '<span class="badge h-failing drift" title="' + esc('configuration differs: ' + S[h[3]]) + '">drift</span>' : '') +
          '</th><td>' + esc(S[h[2]]) + '</td>';
    for (k = 0; k < cols.length; k++) {
      c = by[k];
      if (!c) { out += '<td class="cell-na st-na" data-host="' + esc(h[0]) + '" data-endpoint="' + esc(cols[k]) + '">&ndash;</td>'; continue; }
      var cst = S[c[1]], code = S[c[2]], title = code + ': ' + S[c[3]] + (S[c[4]] && cst !== 'ok' ? ' Hint: ' + S[c[4]] : '');
      out += '<td class="cell st-' + esc(cst) + '" tabindex="0" data-r="' + i + '" data-c="' + k + '" data-host="' + esc(h[0]) +
             '" data-endpoint="' + esc(cols[k]) + '" data-status="' + esc(cst) + '" data-code="' + esc(code) +
             '" title="' + esc(title) + '">' + esc(code) + '</td>';
    }
    return out + '</tr>';
  }
  function spacer(px){ return px > 0 ? '<tr class="spacer"><td colspan="' + (cols.length + 2) + '" style="height:' + px + 'px"></td></tr>' : ''; }
  function draw(){
    if (!rowH) {
      body.innerHTML = shown.length ? rowHtml(shown[0]) : '';
      rowH = shown.length ? body.firstChild.getBoundingClientRect().height || 24 : 0;
    }
    var view = wrap.clientHeight || 600, top = wrap.scrollTop, hgt = rowH || 24;
    var start = Math.max(0, Math.floor(top / hgt) - 20), end = Math.min(shown.length, Math.ceil((top + view) / hgt) + 20);
    var parts = [spacer(start * hgt)];
    for (var j = start; j < end; j++) { parts.push(rowHtml(shown[j])); }
    parts.push(spacer((shown.length - end) * hgt));
    body.innerHTML = parts.join('');
    body.setAttribute('data-rendered', String(end - start));
  }
  function cellDetail(i, k){
    var h = H[i], c = null, j, t, lines;
    for (j = 0; j < h[5].length; j++) { if (h[5][j][0] === k) c = h[5][j]; }
    lines = [h[0] + ' -> ' + cols[k] + '  (site ' + S[h[2]] + ')'];
    if (S[c[5]]) lines.push('endpoint: ' + S[c[5]]);
    lines.push('status: ' + S[c[1]] + (c[15] ? '' : ' (not required by this host)'));
    lines.push('diagnosis: ' + S[c[2]]);
    if (S[c[3]]) lines.push('message: ' + S[c[3]]);
    if (S[c[4]]) lines.push('hint: ' + S[c[4]]);
    if (S[c[6]] || S[c[7]]) lines.push('last stage passed: ' + (S[c[6]] || 'none') + '; failed stage: ' + (S[c[7]] || 'none'));
    if (S[c[8]]) lines.push('address: ' + S[c[8]]);
    if (S[c[9]]) lines.push('server said: ' + S[c[9]]);
    if (S[c[10]]) lines.push('tls: ' + S[c[10]]);
    if (S[c[11]]) lines.push('certificate: ' + S[c[11]] + (c[12] !== null ? ' (' + c[12] + ' days left)' : ''));
    if (S[c[13]]) lines.push('warning: ' + S[c[13]]);
    for (j = 0; j < c[16].length; j++) { lines.push(S[c[16][j][0]] + ': ' + S[c[16][j][1]]); }
    t = c[14];
    if (t) { var parts = [];
      for (j = 0; j < STAGES.length; j++) { if (t[j] !== null) parts.push(STAGES[j] + '=' + t[j]); }
      if (t[STAGES.length] !== null) parts.push('total=' + t[STAGES.length]);
      lines.push('timings (ms): ' + parts.join(', ')); }
    if (h[3]) lines.push('drift: ' + S[h[3]]);
    return lines.join('\n');
  }
  function show(td){
    if (!td.classList.contains('cell')) return;
    detail.textContent = cellDetail(+td.getAttribute('data-r'), +td.getAttribute('data-c'));
    if (sel) sel.classList.remove('selected');
    td.classList.add('selected'); sel = td;
  }
  body.addEventListener('click', function(e){ var td = e.target.closest('td'); if (td) show(td); });
  body.addEventListener('keydown', function(e){ if (e.key === 'Enter' && e.target.closest) { var td = e.target.closest('td'); if (td) show(td); } });
  var ticking = false;
  wrap.addEventListener('scroll', function(){ if (!ticking) { ticking = true;
    requestAnimationFrame(function(){ ticking = false; draw(); }); } });
  [q, fStatus, fSite, fCode].forEach(function(el){ el.addEventListener('input', filter); el.addEventListener('change', filter); });
  var pick = document.querySelectorAll('button[data-filter]');
  for (var b = 0; b < pick.length; b++) { pick[b].addEventListener('click', function(){
    var kind = this.getAttribute('data-filter'), val = this.getAttribute('data-value');
    q.value = ''; fStatus.value = ''; fSite.value = ''; fCode.value = '';
    ({site: fSite, code: fCode, status: fStatus, host: q})[kind].value = val;
    filter(); document.getElementById('hosts').scrollIntoView(); }); }
  filter();
  document.body.setAttribute('data-report-ready', String(total));
})();
"""
