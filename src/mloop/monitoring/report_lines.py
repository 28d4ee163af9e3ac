"""Time-series charts for HTML reports: a metric over time as inline SVG, with its threshold.

A series is drawn as a line broken at gaps, with a marker and tooltip per point while it is
short; a long one is thinned to what each pixel column can show (its first, last, lowest and
highest point) and marks only its threshold crossings, so a month of hourly windows stays small.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable

import numpy as np

from mloop.monitoring.report_charts import coord, esc, nice_ticks, num, svg_open, y_axis
from mloop.monitoring.report_page import Series, TimeSeriesChart

MAX_MARKERS = 120
SERIES_CLASSES = 8


_TIME_STEPS = (
    [60 * m for m in (1, 5, 15, 30)]
    + [3600 * h for h in (1, 3, 6, 12)]
    + [86400 * d for d in (1, 2, 7, 14, 30, 91, 365)]
)


def time_ticks(start: dt.datetime, end: dt.datetime, count: int = 6) -> list[dt.datetime]:
    """Round times (whole minutes, hours, days) covering [start, end], at most ``count``."""
    span = (end - start).total_seconds()
    step = next((s for s in _TIME_STEPS if span / s <= count - 1), _TIME_STEPS[-1])
    epoch = start.timestamp()
    if step >= 86400:
        day = dt.datetime(start.year, start.month, start.day, tzinfo=dt.UTC)
        first = day.timestamp() + math.ceil((epoch - day.timestamp()) / step) * step
    else:
        first = math.ceil(epoch / step) * step
    ticks, value = [], first
    while value <= end.timestamp() + 1e-6:
        ticks.append(dt.datetime.fromtimestamp(value, dt.UTC))
        value += step
    return ticks


def _time_label(when: dt.datetime, span_s: float) -> str:
    if span_s >= 400 * 86400:
        return when.strftime("%Y-%m-%d")
    if span_s >= 2 * 86400:
        return when.strftime("%b %d")
    return when.strftime("%b %d %H:%M")


def line_chart_svg(chart_id: str, chart: TimeSeriesChart) -> str:
    """Series over time with their points, a threshold line and the wrong side shaded."""
    width, height, left, right, top, bottom = 560, 220, 50, 14, 14, 32
    plot_w, plot_h = width - left - right, height - top - bottom
    points = [(t, v) for s in chart.series for t, v in s.points]
    values = [v for _, v in points if v is not None and math.isfinite(v)]
    title = chart.title + (f" ({chart.unit})" if chart.unit else "")
    if not values:
        desc = f"{title}: no values in this period."
        return (
            svg_open(chart_id, width, 60, title, desc, "line empty")
            + f'<text class="al" x="{width / 2}" y="34" text-anchor="middle">'
            f"No values for {esc(chart.title)} in this period.</text></svg>"
        )
    times = [t for t, _ in points]
    t0, t1 = min(times), max(times)
    if t1 <= t0:
        t0, t1 = t0 - dt.timedelta(hours=1), t1 + dt.timedelta(hours=1)
    low, high = min(values), max(values)
    if chart.threshold is not None:
        low, high = min(low, chart.threshold.value), max(high, chart.threshold.value)
    pad = (high - low) * 0.08 or (abs(high) * 0.1 or 1.0)
    ticks = nice_ticks(low - pad if low < 0 or low - pad >= 0 else 0.0, high + pad, 5, cover=True)
    y0, y1 = min(ticks[0], low), max(ticks[-1], high)
    span_s = (t1 - t0).total_seconds()

    def x(when: dt.datetime) -> float:
        return left + (when - t0).total_seconds() / span_s * plot_w

    def y(value: float) -> float:
        return top + plot_h - (value - y0) / (y1 - y0) * plot_h

    desc = (
        f"{title} over time, {len(chart.series)} series"
        + (
            f", threshold {chart.threshold.direction} {num(chart.threshold.value)}"
            if chart.threshold
            else ""
        )
        + "."
    )
    parts = [svg_open(chart_id, width, height, title, desc, "line")]
    if chart.threshold is not None:
        ty = y(chart.threshold.value)
        bad_top = chart.threshold.direction in ("<=", "<")
        zy, zh = (top, ty - top) if bad_top else (ty, top + plot_h - ty)
        parts.append(
            f'<rect class="bad" x="{left}" y="{coord(zy)}" width="{plot_w}" height="{coord(max(zh, 0))}"/>'
        )
    parts.append(y_axis(ticks, y, left, plot_w, num))
    base = top + plot_h
    parts.append(f'<line class="axis" x1="{left}" y1="{base}" x2="{left + plot_w}" y2="{base}"/>')
    for tick in time_ticks(t0, t1):
        tx = x(tick)
        parts.append(
            f'<line class="tick" x1="{coord(tx)}" y1="{base}" x2="{coord(tx)}" y2="{base + 4}"/>'
            f'<text class="tl" x="{coord(tx)}" y="{base + 16}" text-anchor="middle">'
            f"{esc(_time_label(tick, span_s))}</text>"
        )
    for index, series in enumerate(chart.series):
        parts.append(_series(series, index, x, y, chart))
    if chart.threshold is not None:
        threshold = chart.threshold
        ty = y(threshold.value)
        label = f"{threshold.label + ' ' if threshold.label else ''}{threshold.direction} {num(threshold.value)}"
        parts.append(
            f"<g><title>{esc('threshold: ' + label)}</title>"
            f'<line class="limit" x1="{left}" y1="{coord(ty)}" x2="{left + plot_w}" y2="{coord(ty)}"/>'
            f'<text class="ll" x="{left + 6}" y="{coord(ty - 5)}">'
            f"{esc(label)}</text></g>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _thin(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Indices of the points worth drawing: per pixel column its first, last, lowest and
    highest (the line looks the same, the file does not grow with the number of windows)."""
    if len(xs) <= 1_000:
        return np.arange(len(xs))
    column = np.floor(xs).astype(np.int64)
    starts = np.flatnonzero(np.r_[True, column[1:] != column[:-1]])
    ends = np.r_[starts[1:], len(xs)] - 1
    by_height = np.lexsort((ys, column))
    return np.unique(np.concatenate([starts, ends, by_height[starts], by_height[ends]]))


def _spread(indices: np.ndarray, limit: int) -> np.ndarray:
    if len(indices) <= limit:
        return indices
    return indices[np.linspace(0, len(indices) - 1, limit).round().astype(np.int64)]


def _series(
    series: Series,
    index: int,
    x: Callable[[dt.datetime], float],
    y: Callable[[float], float],
    chart: TimeSeriesChart,
) -> str:
    """One series: its line (broken at gaps) and points with tooltips.

    A point gets a marker when the series is short; a long one marks only its threshold
    crossings (at most ``MAX_MARKERS``, evenly spread) and its last point.
    """
    css = f"s{index % SERIES_CLASSES}"
    times = [t for t, _ in series.points]
    values = np.array([np.nan if v is None else v for _, v in series.points], dtype=float)
    xs = np.array([x(t) for t in times], dtype=float)
    ys = np.array([y(v) if not np.isnan(v) else np.nan for v in values], dtype=float)
    gap = np.isnan(values)
    run = np.cumsum(gap)  # points between two gaps share a run number
    path = []
    for number in np.unique(run[~gap]):
        members = np.flatnonzero((run == number) & ~gap)
        keep = members[_thin(xs[members], ys[members])]
        path.append("M" + " L".join(f"{coord(xs[i])} {coord(ys[i])}" for i in keep))
    dash = " dash" if series.dashed else ""
    parts = [f'<g class="series {css}{dash}"><path class="ln" d="{" ".join(path)}"/>']
    present = np.flatnonzero(~gap)
    threshold = chart.threshold
    crossed = np.zeros(len(values), dtype=bool)
    if threshold is not None and present.size:
        crossed[present] = [not threshold.allows(v) for v in values[present]]
    if len(present) <= MAX_MARKERS:
        marked = present
    else:
        marked = np.union1d(_spread(np.flatnonzero(crossed), MAX_MARKERS), present[-1:])
    for i in marked:
        when, value = times[i], float(values[i])
        tip = f"{series.name} · {when.strftime('%Y-%m-%d %H:%M')} UTC · {num(value)}"
        if crossed[i] and threshold is not None:
            tip += f" (crosses {threshold.direction} {num(threshold.value)})"
        parts.append(
            f'<circle class="pt{" cross" if crossed[i] else ""}" cx="{coord(xs[i])}" '
            f'cy="{coord(ys[i])}" r="{3.5 if crossed[i] else 2.5}"><title>{esc(tip)}</title></circle>'
        )
    parts.append("</g>")
    return "".join(parts)
