"""Self-contained HTML reports: one file that opens anywhere, offline, and runs nothing.

``render_html(page)`` turns a :class:`ReportPage` (see :mod:`mloop.monitoring.report_page`) into
one HTML document: CSS inline, charts as inline SVG, no JavaScript, no fonts, no images to fetch.
A Content-Security-Policy in the document forbids scripts and every network request, so the file
behaves the same on a laptop, in a CI artifact viewer or attached to a ticket, and user text that
somehow escaped escaping still could not run. ``write_report(page, path)`` writes it atomically
(temp file, fsync, rename), so a reader never sees half a report.

The drift report and the monitor report both come here: they build a page, this draws it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import numbers
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from mloop.errors import InvalidInput
from mloop.monitoring.report_charts import (
    categories_svg,
    empty_side,
    esc,
    histogram_svg,
    line_chart_svg,
    num,
)
from mloop.monitoring.report_page import (
    Block,
    CategoricalDistribution,
    Cell,
    ColumnComparison,
    KeyFigure,
    NumericDistribution,
    ReportPage,
    Section,
    Series,
    Table,
    Threshold,
    TimeSeriesChart,
    column_comparisons,
)

__all__ = [
    "CategoricalDistribution",
    "ColumnComparison",
    "KeyFigure",
    "NumericDistribution",
    "ReportPage",
    "Section",
    "Series",
    "Table",
    "Threshold",
    "TimeSeriesChart",
    "column_comparisons",
    "render_html",
    "write_report",
]

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


NUM = ' class="n"'
FLAG = ' class="flag"'


class _Ids:
    """Short element ids (``c1``, ``c2`` …): never derived from user text, so never colliding."""

    def __init__(self) -> None:
        self._next = 0

    def __call__(self, prefix: str) -> str:
        self._next += 1
        return f"{prefix}{self._next}"


def _when(value: dt.datetime) -> str:
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC)
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")


def _cell(value: Cell) -> tuple[str, bool]:
    """A table cell's text and whether it is a number (right-aligned)."""
    if value is None:
        return "–", False
    if isinstance(value, bool | np.bool_):
        return ("yes" if value else "no"), False
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}", True
    if isinstance(value, numbers.Real):
        return num(float(value)), True
    if isinstance(value, dt.datetime):
        return _when(value), False
    if isinstance(value, dt.date):
        return value.isoformat(), False
    return str(value), False


def _table(table: Table, ids: _Ids) -> str:
    table_id = ids("t")
    numeric = [
        bool(table.rows) and all(_cell(row[i])[1] or row[i] is None for row in table.rows)
        for i in range(len(table.header))
    ]
    head = "".join(
        f'<th scope="col"{NUM if numeric[i] else ""}>{esc(h)}</th>'
        for i, h in enumerate(table.header)
    )
    body = []
    for number, row in enumerate(table.rows):
        flag = table.flagged[number] if table.flagged else False
        cells = []
        for i, value in enumerate(row):
            text, is_number = _cell(value)
            cells.append(f"<td{NUM if is_number or numeric[i] else ''}>{esc(text)}</td>")
        body.append(f"<tr{FLAG if flag else ''}>{''.join(cells)}</tr>")
    if not table.rows:
        body.append(f'<tr><td colspan="{len(table.header)}" class="muted">None.</td></tr>')
    desc = f'<p class="desc">{esc(table.description)}</p>' if table.description else ""
    return (
        f'<figure class="tbl" id="{table_id}"><figcaption>{esc(table.title)}</figcaption>{desc}'
        f'<div class="tablewrap"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div></figure>"
    )


def _legend_items(series: Sequence[Series], threshold: Threshold | None) -> str:
    items = [
        f'<span><span class="sw line s{i % 8}{" dash" if s.dashed else ""}"></span>{esc(s.name)}</span>'
        for i, s in enumerate(series)
    ]
    if threshold is not None:
        label = f"{threshold.label + ' ' if threshold.label else ''}{threshold.direction} {num(threshold.value)}"
        items.append(f'<span><span class="sw limit"></span>threshold {esc(label)}</span>')
    return f'<div class="legend">{"".join(items)}</div>'


def _time_series(chart: TimeSeriesChart, ids: _Ids) -> str:
    unit = f' <span class="muted">({esc(chart.unit)})</span>' if chart.unit else ""
    desc = f'<p class="desc">{esc(chart.description)}</p>' if chart.description else ""
    return (
        f'<figure class="ts"><figcaption>{esc(chart.title)}'
        f"{unit}"
        f"</figcaption>{desc}{_legend_items(chart.series, chart.threshold)}"
        f"{line_chart_svg(ids('g'), chart)}</figure>"
    )


def _stats(column: ColumnComparison) -> str:
    parts = [f"method <b>{esc(column.method)}</b>"]
    if column.score is not None:
        parts.append(f"score <b>{esc(num(column.score, 3))}</b>")
    if column.threshold is not None:
        parts.append(f"threshold <b>{esc(num(column.threshold, 3))}</b>")
    if column.p_value is not None:
        parts.append(f"p-value <b>{esc(num(column.p_value, 3))}</b>")
    return f'<div class="stats">{esc(column.kind)} · {" · ".join(parts)}</div>'


def _column(column: ColumnComparison, anchor: str, ids: _Ids) -> str:
    state = "drifted" if column.drifted else "stable"
    badge = "alert" if column.drifted else "ok"
    notes = "".join(f"<li>{esc(note)}</li>" for note in column.notes)
    dist = column.distribution
    if isinstance(dist, NumericDistribution):
        chart = histogram_svg(ids("g"), column.column, dist)
    elif isinstance(dist, CategoricalDistribution):
        chart = categories_svg(ids("g"), column.column, dist)
    else:
        chart = '<p class="muted">No distribution to draw.</p>'
    side = empty_side(dist.reference, dist.current) if dist is not None else None
    if side in ("reference", "current"):
        chart = f'<p class="muted">No {side} values: only the other window is drawn.</p>' + chart
    return (
        f'<article class="col {state}" id="{anchor}"><header><h3>{esc(column.column)}</h3>'
        f'<span class="badge {badge}">{state}</span></header>{_stats(column)}'
        + (f'<p class="expl">{esc(column.explanation)}</p>' if column.explanation else "")
        + (f'<ul class="notes">{notes}</ul>' if notes else "")
        + f"<figure>{chart}</figure></article>"
    )


def _columns(columns: Sequence[ColumnComparison], ids: _Ids) -> str:
    """A drift table linking to one card per column, then the cards."""
    anchors = [ids("c") for _ in columns]
    rows = []
    for anchor, c in zip(anchors, columns, strict=True):
        rows.append(
            f'<tr{FLAG if c.drifted else ""}><td><a href="#{anchor}">{esc(c.column)}</a></td>'
            f"<td>{esc(c.kind)}</td><td>{esc(c.method)}</td>"
            f'<td class="n">{esc(num(c.score, 3))}</td><td class="n">{esc(num(c.threshold, 3))}</td>'
            f'<td class="n">{esc(num(c.p_value, 3))}</td>'
            f'<td><span class="badge {"alert" if c.drifted else "ok"}">'
            f"{'drifted' if c.drifted else 'stable'}</span></td><td>{esc(c.explanation)}</td></tr>"
        )
    drifted = sum(c.drifted for c in columns)
    table = (
        f'<p class="desc">{drifted} of {len(columns)} columns drifted.</p>'
        '<div class="tablewrap"><table class="drift"><thead><tr><th scope="col">column</th>'
        '<th scope="col">kind</th><th scope="col">method</th><th scope="col" class="n">score</th>'
        '<th scope="col" class="n">threshold</th><th scope="col" class="n">p-value</th>'
        '<th scope="col">verdict</th><th scope="col">explanation</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )
    legend = (
        '<div class="legend"><span><span class="sw ref"></span>reference</span>'
        '<span><span class="sw cur"></span>current</span><span>share of rows; '
        "hover a bar for its figures</span></div>"
    )
    # Drifted columns' cards first (each group in the caller's order): the table keeps the
    # caller's order and links to every card.
    paired = sorted(zip(columns, anchors, strict=True), key=lambda pair: not pair[0].drifted)
    cards = "".join(_column(c, a, ids) for c, a in paired)
    heading = (
        "Distributions, drifted columns first" if 0 < drifted < len(columns) else "Distributions"
    )
    return f'{table}<h3 class="sub">{heading}</h3>{legend}<div class="grid-cols">{cards}</div>'


def _runs(blocks: Sequence[Block]) -> Iterator[list[Block]]:
    """Consecutive blocks of one kind grouped: column comparisons share a table and a grid,
    time series a grid (two a row on a wide screen); tables stand alone."""
    run: list[Block] = []
    for block in blocks:
        if run and (isinstance(block, Table) or type(block) is not type(run[0])):
            yield run
            run = []
        run.append(block)
    if run:
        yield run


def _section(section: Section, anchor: str, ids: _Ids) -> str:
    parts = [f'<section id="{anchor}"><h2>{esc(section.title)}</h2>']
    if section.intro:
        parts.append(f'<p class="desc">{esc(section.intro)}</p>')
    for run in _runs(section.blocks):
        columns = [b for b in run if isinstance(b, ColumnComparison)]
        charts = [b for b in run if isinstance(b, TimeSeriesChart)]
        tables = [b for b in run if isinstance(b, Table)]
        if columns:
            parts.append(_columns(columns, ids))
        elif charts:
            inner = "".join(_time_series(chart, ids) for chart in charts)
            parts.append(f'<div class="grid-ts">{inner}</div>')
        parts.extend(_table(table, ids) for table in tables)
    if not section.blocks:
        parts.append('<p class="muted">Nothing to show.</p>')
    parts.append("</section>")
    return "".join(parts)


def _figure(figure: KeyFigure) -> str:
    return (
        f'<div class="figure{" alert" if figure.alert else ""}"><div class="v">{esc(figure.value)}</div>'
        f'<div class="l">{esc(figure.label)}</div></div>'
    )


def render_html(page: ReportPage) -> str:
    """The page as one self-contained HTML document (no scripts, no network, CSS inline)."""
    from mloop import __version__

    ids = _Ids()
    anchors = [ids("s") for _ in page.sections]
    verdict = "Alert" if page.verdict == "alert" else "OK"
    context = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in page.context)
    summary = "".join(f"<li>{esc(line)}</li>" for line in page.summary)
    toc = "".join(
        f'<a href="#{a}">{esc(s.title)}</a>' for a, s in zip(anchors, page.sections, strict=True)
    )
    body = [
        f'<header><span class="badge verdict {page.verdict}" role="status">{verdict}</span>'
        f'<div><h1>{esc(page.title)}</h1><p class="meta">Generated {_when(page.generated_at)} '
        f"by mloop {esc(__version__)}</p>"
        + (f'<dl class="context">{context}</dl>' if context else "")
        + "</div></header>",
        f'<section class="summary" aria-label="Summary"><ul>{summary}</ul></section>'
        if summary
        else "",
        f'<div class="figures">{"".join(_figure(f) for f in page.figures)}</div>'
        if page.figures
        else "",
        f'<nav class="toc" aria-label="Contents">{toc}</nav>' if len(page.sections) > 1 else "",
    ]
    body.extend(_section(s, a, ids) for s, a in zip(page.sections, anchors, strict=True))
    body.append(
        "<footer>A self-contained mloop report: it fetches nothing and runs no scripts, "
        "so it opens the same offline.</footer>"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f'<meta name="generator" content="mloop {esc(__version__)}">'
        f"<title>{esc(page.title)}</title><style>{CSS}</style></head>"
        f'<body class="{page.verdict}"><main>{"".join(body)}</main></body></html>\n'
    )


def write_report(page: ReportPage, path: str | os.PathLike[str]) -> Path:
    """Render ``page`` and write it to ``path`` atomically; returns the path written.

    Raises :class:`~mloop.errors.InvalidInput` when the folder does not exist or the path is a
    folder; nothing is left behind when writing fails.
    """
    target = Path(path)
    if target.is_dir():
        raise InvalidInput(
            f"Cannot write the report to {target}: it is a folder; name a file, e.g. {target / 'report.html'}."
        )
    folder = target.parent
    if not folder.is_dir():
        raise InvalidInput(
            f"Cannot write the report to {target}: folder {folder} does not exist; create it or choose another path."
        )
    data = render_html(page).encode("utf-8")
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise InvalidInput(
            f"Cannot write the report to {target}: {exc.strerror}; choose a writable path."
        ) from exc
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, 0o644)
        os.replace(temp, target)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        if isinstance(exc, OSError):
            raise InvalidInput(
                f"Cannot write the report to {target}: {exc.strerror}; choose a writable path."
            ) from exc
        raise
    return target
