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
from mloop.monitoring.report_charts import categories_svg, empty_side, esc, histogram_svg, num
from mloop.monitoring.report_lines import line_chart_svg
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
from mloop.monitoring.report_style import CSP, CSS

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
