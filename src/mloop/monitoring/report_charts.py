"""Charts for HTML reports, drawn as inline SVG in Python: the distribution charts and the
pieces every chart shares (escaping, number formats, ticks, the SVG frame).

Why SVG from Python rather than an inlined charting library: plotly.min.js alone is 4.8 MB, a
25-column drift report in SVG is ~200 kB; the file needs no JavaScript at all, so it renders
where scripts are off (mail previews, CI artifact viewers) and can forbid scripts outright with
a Content-Security-Policy, which makes escaping mistakes inert. Tooltips are SVG ``<title>``
elements, each chart has a ``<title>``/``<desc>`` for screen readers, and colours come from
classes styled by the page's CSS (so a dark scheme or print needs no second drawing).

Every piece of user text goes through :func:`esc` (HTML escaping, quotes included); SVG embedded
in HTML is parsed by the HTML parser, so the same escaping covers text and attribute values.
"""

from __future__ import annotations

import datetime as dt
import html
import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from mloop.monitoring.report_page import CategoricalDistribution, NumericDistribution

MAX_CATEGORIES = 12


def esc(value: object) -> str:
    """User text made safe for HTML text and quoted attribute values."""
    return html.escape(str(value), quote=True)


def num(value: float | None, digits: int = 4) -> str:
    """A value as a person reads it: a few significant digits, thousands separated."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    if value != 0 and abs(value) >= 10**digits and abs(value) < 1e15:
        return f"{value:,.0f}"
    text = f"{value:.{digits}g}"
    return text.replace("-", "−") if text.startswith("-") else text


def pct(share: float) -> str:
    """A share in 0..1 as a percentage with sensible precision."""
    value = share * 100
    if value == 0:
        return "0%"
    if value < 0.1:
        return "<0.1%"
    return f"{value:.1f}%" if value < 10 else f"{value:.0f}%"


def coord(value: float) -> str:
    """An SVG coordinate: one decimal, no trailing zero, so files stay small."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def nice_ticks(low: float, high: float, count: int = 5, *, cover: bool = False) -> list[float]:
    """Round tick values within [low, high] (Heckbert's nice numbers); with ``cover`` the first
    and last ticks reach past the ends, so an axis drawn from them holds every value."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return []
    if high <= low:
        return [low]
    raw = (high - low) / max(count - 1, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = (math.floor if cover else math.ceil)(low / step + (1e-9 if cover else -1e-9)) * step
    last = math.ceil(high / step - 1e-9) * step if cover else high
    ticks = []
    value = first
    while value <= last + step * 1e-9:
        ticks.append(0.0 if abs(value) < step * 1e-9 else round(value, 12))
        value += step
    return ticks


def _shares(counts: npt.ArrayLike) -> np.ndarray:
    array = np.asarray(counts, dtype=float)
    total = array.sum()
    return array / total if total > 0 else np.zeros_like(array)


def svg_open(chart_id: str, width: int, height: int, title: str, desc: str, css: str) -> str:
    return (
        f'<svg class="chart {css}" id="{chart_id}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-labelledby="{chart_id}-t {chart_id}-d" '
        f'preserveAspectRatio="xMidYMid meet">'
        f'<title id="{chart_id}-t">{esc(title)}</title><desc id="{chart_id}-d">{esc(desc)}</desc>'
    )


def when_text(nanoseconds: float, span: float) -> str:
    """Epoch nanoseconds as a UTC date, with the time of day when the axis spans under 3 days."""
    when = dt.datetime.fromtimestamp(nanoseconds / 1e9, dt.UTC)
    if span < 3 * 86_400 * 1e9:
        return when.strftime("%Y-%m-%d %H:%M")
    return when.strftime("%Y-%m-%d")


def _display_edges(
    array: np.ndarray, label: Callable[[float], str] = num
) -> tuple[np.ndarray, list[str]]:
    """Finite positions for every edge (open outer bins drawn one bin wide) and bin labels."""
    finite = array[np.isfinite(array)]
    if finite.size == 0:
        finite = np.array([0.0, 1.0])
    span = float(finite.max() - finite.min())
    widths = np.diff(finite)
    typical = float(np.median(widths[widths > 0])) if (widths > 0).any() else (span or 1.0)
    shown = array.copy()
    if not math.isfinite(shown[0]):
        shown[0] = finite.min() - typical
    if not math.isfinite(shown[-1]):
        shown[-1] = finite.max() + typical
    if shown[-1] <= shown[0]:
        shown[0], shown[-1] = shown[0] - 0.5, shown[-1] + 0.5
    labels = []
    last = len(array) - 2
    for i in range(len(array) - 1):
        low, high = array[i], array[i + 1]
        if not math.isfinite(low):
            labels.append(f"< {label(high)}")
        elif not math.isfinite(high):
            labels.append(f"≥ {label(low)}")
        else:
            labels.append(f"[{label(low)}, {label(high)}{']' if i == last else ')'}")
    return shown, labels


def empty_side(reference: npt.ArrayLike, current: npt.ArrayLike) -> str | None:
    """Which side has no values at all ("both", "reference", "current"), or None."""
    ref_empty = float(np.sum(np.asarray(reference, dtype=float))) == 0
    cur_empty = float(np.sum(np.asarray(current, dtype=float))) == 0
    if ref_empty and cur_empty:
        return "both"
    return "reference" if ref_empty else "current" if cur_empty else None


def _no_values(chart_id: str, column: str, css: str) -> str:
    desc = f"Neither the reference nor the current window has values of {column}."
    return svg_open(chart_id, 340, 50, f"{column}: no values", desc, css) + (
        '<text class="al" x="170" y="30" text-anchor="middle">'
        "No values in either window.</text></svg>"
    )


def histogram_svg(chart_id: str, column: str, dist: NumericDistribution) -> str:
    """Reference (grey, filled) and current (outlined) shares per bin on shared edges."""
    if empty_side(dist.reference, dist.current) == "both":
        return _no_values(chart_id, column, "hist")
    width, height, left, right, top, bottom = 340, 180, 44, 10, 10, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    raw_edges = np.asarray(dist.edges, dtype=float)
    finite = raw_edges[np.isfinite(raw_edges)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if dist.unit == "datetime":

        def tick_text(value: float) -> str:
            return when_text(value, hi - lo)

    else:
        tick_text = num
    edges, labels = _display_edges(raw_edges, tick_text)
    ref, cur = _shares(dist.reference), _shares(dist.current)
    peak = float(max(ref.max(initial=0.0), cur.max(initial=0.0)))
    y_ticks = nice_ticks(0.0, peak if peak > 0 else 1.0, 4, cover=True)
    y_max = max(y_ticks[-1], peak) if y_ticks else 1.0
    x0, x1 = float(edges[0]), float(edges[-1])

    def x(value: float) -> float:
        return left + (value - x0) / (x1 - x0) * plot_w

    def y(share: float) -> float:
        return top + plot_h - share / y_max * plot_h

    desc = (
        f"Histogram of {column}: reference and current share of rows in each of "
        f"{len(labels)} bins from {labels[0]} to {labels[-1]}."
    )
    parts = [svg_open(chart_id, width, height, f"{column}: reference vs current", desc, "hist")]
    parts.append(y_axis(y_ticks, y, left, plot_w, pct))
    for i, label in enumerate(labels):
        bx, bw = x(float(edges[i])), max(x(float(edges[i + 1])) - x(float(edges[i])), 0.5)
        tip = f"{column} {label}: reference {pct(ref[i])}, current {pct(cur[i])}"
        parts.append(
            f"<g><title>{esc(tip)}</title>"
            f'<rect class="hit" x="{coord(bx)}" y="{top}" width="{coord(bw)}" height="{plot_h}"/>'
            f'<rect class="ref" x="{coord(bx)}" y="{coord(y(ref[i]))}" width="{coord(bw)}" '
            f'height="{coord(plot_h + top - y(ref[i]))}"/>'
            f'<rect class="cur" x="{coord(bx + 0.5)}" y="{coord(y(cur[i]))}" '
            f'width="{coord(max(bw - 1, 0.5))}" height="{coord(plot_h + top - y(cur[i]))}"/></g>'
        )
    base = top + plot_h
    parts.append(f'<line class="axis" x1="{left}" y1="{base}" x2="{left + plot_w}" y2="{base}"/>')
    if not finite.size:
        lo, hi = x0, x1
    for tick in nice_ticks(lo, hi, 4 if dist.unit == "datetime" else 5) if hi > lo else [lo]:
        tx = x(tick)
        parts.append(
            f'<line class="tick" x1="{coord(tx)}" y1="{base}" x2="{coord(tx)}" y2="{base + 4}"/>'
            f'<text class="tl" x="{coord(tx)}" y="{base + 16}" text-anchor="middle">{esc(tick_text(tick))}</text>'
        )
    parts.append(
        f'<text class="al" x="{left + plot_w / 2}" y="{height - 2}" text-anchor="middle">'
        f"{esc(_clip(column, 56))}</text></svg>"
    )
    return "".join(parts)


def y_axis(
    ticks: list[float],
    y: Callable[[float], float],
    left: int,
    plot_w: int,
    fmt: Callable[[float], str],
) -> str:
    parts = []
    for tick in ticks:
        ty = y(tick)
        parts.append(
            f'<line class="grid" x1="{left}" y1="{coord(ty)}" x2="{left + plot_w}" y2="{coord(ty)}"/>'
            f'<text class="tl" x="{left - 5}" y="{coord(ty + 3.5)}" text-anchor="end">'
            f"{esc(fmt(tick))}</text>"
        )
    return "".join(parts)


def _fold(dist: CategoricalDistribution) -> tuple[list[str], np.ndarray, np.ndarray, list[bool]]:
    """Categories to draw: all of them, or the largest few and one "other" bar."""
    names = list(dist.categories)
    ref, cur = _shares(dist.reference), _shares(dist.current)
    new = [bool(r == 0 and c > 0) for r, c in zip(ref, cur, strict=True)]
    if len(names) <= MAX_CATEGORIES:
        return names, ref, cur, new
    keep = np.argsort(-np.maximum(ref, cur), kind="stable")[: MAX_CATEGORIES - 1]
    keep.sort()
    rest = np.setdiff1d(np.arange(len(names)), keep)
    names = [names[i] for i in keep] + [f"{len(rest)} other categories"]
    return (
        names,
        np.append(ref[keep], ref[rest].sum()),
        np.append(cur[keep], cur[rest].sum()),
        [new[i] for i in keep] + [False],
    )


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def categories_svg(chart_id: str, column: str, dist: CategoricalDistribution) -> str:
    """Reference and current share per category as paired horizontal bars."""
    if empty_side(dist.reference, dist.current) == "both":
        return _no_values(chart_id, column, "cats")
    names, ref, cur, new = _fold(dist)
    row, label_w, width, right, top = 24, 104, 340, 56, 6
    plot_w = width - label_w - right
    height = top + row * max(len(names), 1) + 22
    peak = float(max(ref.max(initial=0.0), cur.max(initial=0.0))) or 1.0
    ticks = nice_ticks(0.0, peak, 3, cover=True)
    x_max = max(ticks[-1], peak)

    def w(share: float) -> float:
        return share / x_max * plot_w

    desc = (
        f"Share of rows per category of {column}, reference and current, "
        f"{len(dist.categories)} categories."
    )
    parts = [svg_open(chart_id, width, height, f"{column}: reference vs current", desc, "cats")]
    base = top + row * len(names)
    for tick in ticks:
        tx = label_w + w(tick)
        parts.append(
            f'<line class="grid" x1="{coord(tx)}" y1="{top}" x2="{coord(tx)}" y2="{base}"/>'
            f'<text class="tl" x="{coord(tx)}" y="{base + 14}" text-anchor="middle">{pct(tick)}</text>'
        )
    for i, name in enumerate(names):
        ry = top + i * row
        tip = f"{column} = {name}: reference {pct(ref[i])}, current {pct(cur[i])}"
        if new[i]:
            tip += " (new: not in the reference)"
        label = _clip(name, 14)
        marker = '<tspan class="new"> new</tspan>' if new[i] else ""
        parts.append(
            f"<g><title>{esc(tip)}</title>"
            f'<rect class="hit" x="0" y="{ry}" width="{width}" height="{row}"/>'
            f'<text class="cl" x="{label_w - 6}" y="{ry + 15}" text-anchor="end">'
            f"{esc(label)}</text>"
            f'<rect class="ref" x="{label_w}" y="{ry + 3}" width="{coord(w(ref[i]))}" height="8"/>'
            f'<rect class="cur" x="{label_w}" y="{ry + 12}" width="{coord(w(cur[i]))}" height="8"/>'
            f'<text class="vl" x="{coord(label_w + max(w(ref[i]), w(cur[i])) + 4)}" y="{ry + 15}">'
            f"{pct(cur[i])}{marker}</text></g>"
        )
    parts.append(f'<line class="axis" x1="{label_w}" y1="{top}" x2="{label_w}" y2="{base}"/></svg>')
    return "".join(parts)
