"""The report's stylesheet, inlined in the page: light and dark schemes from the reader's
setting (`prefers-color-scheme`), a fluid layout that fits a 360 px phone without scrolling
sideways, and the system's own fonts (no font is fetched)."""

STYLE = """
:root{color-scheme:light dark;--bg:#f6f7f9;--card:#fff;--fg:#1c2330;--muted:#5d6878;
--line:#dde1e7;--op:#2f9e5b;--deg:#e0b000;--part:#ef8a17;--maj:#d83a3a;--maint:#3a7ec6;
--none:#d3d7de;--p50:#3a7ec6;--p95:#ef8a17;--p99:#c2185b}
@media (prefers-color-scheme:dark){:root{--bg:#111418;--card:#1a1f26;--fg:#e4e8ee;
--muted:#9aa5b4;--line:#2d3540;--op:#3fb872;--deg:#e8c22c;--part:#f59a3c;--maj:#ef5350;
--maint:#5c9ee0;--none:#363d48;--p50:#64a8f0;--p95:#f5a54f;--p99:#f06292}}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0 auto;max-width:1120px;padding:16px;background:var(--bg);color:var(--fg);
font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
overflow-wrap:anywhere}
h1{font-size:1.6rem;margin:.2em 0}
h2{font-size:1.25rem;margin:0 0 .6rem}
h3{font-size:.95rem;margin:.2rem 0 .5rem;color:var(--muted);font-weight:600}
.muted{color:var(--muted);font-weight:normal}
a{color:inherit}
code{font-size:.9em}
.legend,.overview ul{list-style:none;padding:0;margin:.6rem 0;display:flex;flex-wrap:wrap;
gap:.3rem 1rem}
.legend li{display:flex;align-items:center;font-size:.85rem;color:var(--muted)}
.overview li{background:var(--card);border:1px solid var(--line);border-radius:6px;
padding:.25rem .6rem}
.swatch{display:inline-block;width:.8em;height:.8em;border-radius:2px;margin-right:.35em;
vertical-align:-.05em}
.s-operational{background:var(--op)}.s-degraded_performance{background:var(--deg)}
.s-partial_outage{background:var(--part)}.s-major_outage{background:var(--maj)}
.s-under_maintenance{background:var(--maint)}.s-none{background:var(--none)}
.component{background:var(--card);border:1px solid var(--line);border-radius:10px;
padding:16px;margin:16px 0}
.figures{display:grid;grid-template-columns:repeat(auto-fill,minmax(130px,1fr));gap:8px;
margin:0 0 14px}
.figures div{border-left:3px solid var(--line);padding-left:8px}
.figures dt{font-size:.78rem;color:var(--muted)}
.figures dd{margin:0;font-size:1.05rem;font-weight:600;font-variant-numeric:tabular-nums}
.bar{display:flex;gap:1px;height:36px}
.bar.dense{gap:0}
.day{flex:1 1 0;min-width:0;border-radius:1px}
.day:hover{outline:2px solid var(--fg);outline-offset:1px}
.axis{display:flex;justify-content:space-between;font-size:.78rem;margin:.2rem 0 .8rem}
.panels{display:grid;grid-template-columns:minmax(0,1fr);gap:16px}
@media (min-width:900px){.panels{grid-template-columns:minmax(0,5fr) minmax(0,7fr)}}
.panel{min-width:0}
.chart{width:100%;height:auto;display:block;font-size:12px}
.chart text{fill:var(--muted)}
.chart .ylabel{text-anchor:end}
.chart .grid{stroke:var(--line);stroke-width:1}
.chart .axisline{stroke:var(--muted);stroke-width:1}
.chart path,.chart line.key{fill:none;stroke-width:2;stroke-linejoin:round}
.chart .p50{stroke:var(--p50)}.chart .p95{stroke:var(--p95)}.chart .p99{stroke:var(--p99)}
.chart circle.p50{fill:var(--p50)}.chart circle.p95{fill:var(--p95)}
.chart circle.p99{fill:var(--p99)}
.chart .col{fill:transparent}
.chart .col:hover{fill:var(--line);fill-opacity:.5}
.incidents{width:100%;border-collapse:collapse;font-size:.86rem}
.incidents th,.incidents .when{white-space:nowrap;overflow-wrap:normal}
.incidents th{text-align:left;color:var(--muted);font-weight:600;border-bottom:1px solid
var(--line);padding:.3rem .4rem}
.incidents td{border-bottom:1px solid var(--line);padding:.3rem .4rem;vertical-align:top;
font-variant-numeric:tabular-nums}
.empty{margin:.4rem 0}
footer{font-size:.8rem;margin:24px 0 8px}
@media (max-width:640px){body{padding:10px;font-size:14px}.component{padding:12px}
.figures{grid-template-columns:repeat(2,minmax(0,1fr))}
.incidents thead{display:none}
.incidents,.incidents tbody,.incidents tr,.incidents td{display:block;width:100%}
.incidents tr{border-bottom:1px solid var(--line);padding:.3rem 0}
.incidents td{border:0;padding:.05rem 0}
.incidents td:empty{display:none}
.incidents td::before{content:attr(data-label) ": ";color:var(--muted)}}
"""
