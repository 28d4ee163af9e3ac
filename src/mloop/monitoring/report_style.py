"""The report's stylesheet and Content-Security-Policy, inlined into every report.

Colours are CSS variables, so SVG shapes (styled by class) follow the light or dark scheme; the
policy forbids scripts and every fetch, which is what makes a report safe to open offline.
"""

# No script, no fetch: 'none' for everything but the inline stylesheet (and data: images, unused
# today, so a later inline PNG needs no policy change).
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"

CSS = (
    """
:root{--bg:#fff;--fg:#1f2933;--muted:#616e7c;--line:#d9dee4;--card:#f7f8fa;--ref:#9aa5b1;
--cur:#2563eb;--bad:#c0262d;--ok:#1d7a46;--badbg:#fdecec;--okbg:#e8f5ee;--warnzone:#c0262d14;
--s0:#2563eb;--s1:#d97706;--s2:#7c3aed;--s3:#0f766e;--s4:#db2777;--s5:#4b5563;--s6:#65a30d;--s7:#0891b2}
@media (prefers-color-scheme:dark){:root{--bg:#111418;--fg:#e4e7eb;--muted:#9aa5b1;--line:#323a44;
--card:#1a1f26;--ref:#7b8794;--cur:#60a5fa;--bad:#f87171;--ok:#4ade80;--badbg:#3a1a1c;--okbg:#15301f;
--warnzone:#f8717120;--s0:#60a5fa;--s1:#fbbf24;--s2:#a78bfa;--s3:#2dd4bf;--s4:#f472b6;--s5:#cbd2d9;
--s6:#a3e635;--s7:#22d3ee}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:14px/1.45 system-ui,-apple-system,"Segoe UI",
Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1180px;margin:0 auto;padding:24px 20px 48px}
header{display:flex;gap:16px;align-items:flex-start;flex-wrap:wrap;border-bottom:1px solid var(--line);
padding-bottom:14px}
h1{font-size:22px;margin:0 0 4px;overflow-wrap:anywhere}h2{font-size:18px;margin:32px 0 8px}
h3{font-size:15px;margin:0;overflow-wrap:anywhere}
.meta,.muted{color:var(--muted)}.meta{margin:0;font-size:13px}
.badge{display:inline-block;border-radius:4px;padding:2px 8px;font-weight:600;font-size:12px;
text-transform:uppercase;letter-spacing:.04em;white-space:nowrap}
.badge.alert{background:var(--badbg);color:var(--bad)}.badge.ok{background:var(--okbg);color:var(--ok)}
.verdict{font-size:15px;padding:6px 12px}
dl.context{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:10px 0 0;font-size:13px}
dl.context dt{color:var(--muted)}dl.context dd{margin:0;overflow-wrap:anywhere}
.summary{margin:16px 0;padding:12px 16px;border-left:4px solid var(--ok);background:var(--card)}
body.alert .summary{border-left-color:var(--bad)}
.summary ul{margin:0;padding-left:18px}.summary li{margin:2px 0;overflow-wrap:anywhere}
.figures{display:flex;flex-wrap:wrap;gap:10px;margin:12px 0}
.figure{background:var(--card);border:1px solid var(--line);border-radius:6px;padding:8px 12px;min-width:140px}
.figure .v{font-size:20px;font-weight:600}.figure.alert .v{color:var(--bad)}
.figure .l{font-size:12px;color:var(--muted);overflow-wrap:anywhere}
nav.toc{font-size:13px;margin:8px 0}nav.toc a{margin-right:14px}
a{color:var(--cur)}
.legend{font-size:12px;color:var(--muted);display:flex;gap:14px;flex-wrap:wrap;margin:4px 0 8px}
.sw{display:inline-block;width:12px;height:10px;border-radius:2px;margin-right:4px;vertical-align:-1px}
.sw.ref{background:var(--ref)}.sw.cur{background:transparent;border:2px solid var(--cur)}
.sw.line{height:3px;vertical-align:3px}.sw.dash{background:none;border-top:3px dashed;height:0}
.sw.limit{background:none;border-top:2px dashed var(--bad);height:0;vertical-align:3px}
.grid-cols{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(340px,100%),1fr));gap:12px}
.grid-ts{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(520px,100%),1fr));gap:4px 28px}
.grid-ts figure.ts{margin:8px 0 14px;min-width:0}
article.col{background:var(--card);border:1px solid var(--line);border-radius:6px;padding:10px 12px;
min-width:0}
article.col.drifted{border-color:var(--bad);box-shadow:inset 3px 0 0 var(--bad)}
article.col header{border:0;padding:0;gap:8px;align-items:center;justify-content:space-between;flex-wrap:nowrap}
.stats{font-size:12px;color:var(--muted);margin:4px 0}.stats b{color:var(--fg);font-weight:600}
.expl{margin:4px 0 6px}.notes{margin:0 0 6px;padding-left:18px;font-size:13px}
h3.sub{margin:22px 0 4px}figure{margin:0}figure.ts,figure.tbl{margin:14px 0 22px}
figure.ts figcaption,figure.tbl figcaption{font-weight:600;font-size:15px}
.desc{font-size:13px;color:var(--muted);margin:2px 0 6px}
svg.chart{display:block;width:100%;height:auto;overflow:visible}

svg text{font:10.5px system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;fill:var(--muted)}
svg text.cl{fill:var(--fg);font-size:11.5px}svg text.al{font-size:11px}svg tspan.new{fill:var(--bad);font-weight:600}
svg text.ll{fill:var(--bad);font-weight:600;paint-order:stroke;stroke:var(--bg);stroke-width:3px;stroke-linejoin:round}
svg .hit{fill:transparent}svg g:hover>.hit{fill:var(--line);fill-opacity:.45}
svg .ref{fill:var(--ref)}svg .cur{fill:var(--cur);fill-opacity:.18;stroke:var(--cur);stroke-width:1.2}
svg .axis{stroke:var(--muted);stroke-width:1}svg .tick{stroke:var(--muted)}
svg .grid{stroke:var(--line);stroke-width:1}
svg .limit{stroke:var(--bad);stroke-width:1.5;stroke-dasharray:5 4}svg .bad{fill:var(--warnzone)}
svg .ln{fill:none;stroke-width:2;stroke-linejoin:round}svg .dash .ln{stroke-dasharray:6 4}
svg .pt{stroke:var(--bg);stroke-width:1}svg g .pt.cross{fill:var(--bad);stroke:var(--bad)}
"""
    + "".join(
        f"svg .s{i} .ln{{stroke:var(--s{i})}}svg .s{i} .pt{{fill:var(--s{i})}}.sw.s{i}{{background:var(--s{i});"
        f"border-color:var(--s{i})}}"
        for i in range(8)
    )
    + """
table{border-collapse:collapse;width:100%;font-size:13px;margin-top:6px}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid var(--line);vertical-align:top;
overflow-wrap:break-word}
th{color:var(--muted);font-weight:600;background:var(--card)}td.n,th.n{text-align:right;
font-variant-numeric:tabular-nums;white-space:nowrap}
tr.flag td{background:var(--badbg)}tr.flag td:first-child{box-shadow:inset 3px 0 0 var(--bad)}
.tablewrap{overflow-x:auto}
footer{margin-top:40px;font-size:12px;color:var(--muted);border-top:1px solid var(--line);padding-top:10px}
@media print{body{font-size:11px}article.col,figure{break-inside:avoid}nav.toc{display:none}
svg .hit{display:none}}
"""
)
