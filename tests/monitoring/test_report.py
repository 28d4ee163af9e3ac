"""HTML reports: one small self-contained file, user text escaped, written atomically.

The browser half (charts drawn, nothing executed) is tests/monitoring/test_report_browser.py.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from mloop.errors import InvalidInput
from mloop.monitoring.report import (
    CategoricalDistribution,
    ColumnComparison,
    NumericDistribution,
    ReportPage,
    Section,
    Series,
    Table,
    Threshold,
    TimeSeriesChart,
    column_comparisons,
    render_html,
    write_report,
)
from tests.monitoring.report_sample import (
    CELL,
    IMG_CATEGORY,
    SCRIPT_COLUMN,
    SERIES_NAME,
    START,
    sample_page,
)

SAFE_TAGS = {
    "html", "head", "meta", "title", "style", "body", "main", "header", "footer", "nav", "section",
    "article", "figure", "figcaption", "div", "span", "p", "ul", "li", "dl", "dt", "dd", "h1", "h2",
    "h3", "a", "table", "thead", "tbody", "tr", "th", "td", "b",
    "svg", "desc", "g", "rect", "line", "path", "circle", "text", "tspan",
}  # fmt: skip


class _Tags(HTMLParser):
    """Every element and attribute as a browser's tokenizer sees them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes.extend((name, value or "") for name, value in attrs)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(document: str) -> _Tags:
    parser = _Tags()
    parser.feed(document)
    parser.close()
    return parser


def test_a_25_column_report_is_one_small_file_that_fetches_and_runs_nothing() -> None:
    page = sample_page()
    document = render_html(page)
    size = len(document.encode())
    assert size < 400_000, f"a 25-column report should stay small; it is {size:,} bytes"
    parsed = _parse(document)
    assert set(parsed.tags) <= SAFE_TAGS, set(parsed.tags) - SAFE_TAGS
    assert not [name for name, _ in parsed.attributes if name.startswith("on")]
    assert {name for name, _ in parsed.attributes} & {
        "src",
        "srcset",
        "action",
        "formaction",
    } == set()
    links = [value for name, value in parsed.attributes if name in ("href", "xlink:href")]
    assert links and all(link.startswith("#") for link in links), links
    assert "url(" not in document and "@import" not in document
    assert '<meta http-equiv="Content-Security-Policy" content="default-src \'none\';' in document
    assert parsed.tags.count("svg") == 24 + 3  # one per column with a distribution, 3 series
    assert len(list(column_comparisons(page))) == 25


def test_user_text_is_escaped_in_html_svg_text_and_attributes() -> None:
    document = render_html(sample_page())
    for raw in (SCRIPT_COLUMN, IMG_CATEGORY, SERIES_NAME, CELL, "<b>last 30 days</b>"):
        assert raw not in document
    assert html.escape(SCRIPT_COLUMN) in document
    parsed = _parse(document)
    text = "".join(parsed.text)
    assert SCRIPT_COLUMN in text  # shown as text: heading, SVG axis label, tooltips, summary
    assert text.count(SCRIPT_COLUMN) >= 5
    assert "Monitor churn-api: <b>last 30 days</b>" in text
    assert CELL + ": failed after 5 attempts" in text
    assert SERIES_NAME in text
    assert any(IMG_CATEGORY in chunk for chunk in parsed.text)
    aria = [value for name, value in parsed.attributes if name == "aria-labelledby"]
    assert aria and all(re.fullmatch(r"[a-z]\d+-t [a-z]\d+-d", value) for value in aria)


def test_numeric_histograms_share_edges_and_label_open_ended_bins() -> None:
    edges = [-np.inf, 0.0, 1.0, 2.0, np.inf]
    column = ColumnComparison(
        column="tenure",
        kind="numeric",
        method="psi",
        score=0.31,
        threshold=0.2,
        drifted=True,
        explanation="tenure: median 29 → 18 months, PSI 0.31 > 0.2",
        distribution=NumericDistribution(edges, np.array([1, 5, 3, 1]), [10, 2, 2, 6]),
    )
    document = render_html(ReportPage("drift", "alert", sections=[Section("Columns", [column])]))
    assert "tenure &lt; 0: reference 10%, current 50%" in document
    assert "tenure ≥ 2: reference 10%, current 30%" in document
    assert "tenure [0, 1): reference 50%, current 10%" in document
    assert document.count('class="ref"') == 4 and document.count('class="cur"') == 4
    assert "PSI 0.31 &gt; 0.2" in document


def test_a_datetime_histogram_reads_as_dates_not_epoch_nanoseconds() -> None:
    days = [dt.datetime(2024, 1, d, tzinfo=dt.UTC) for d in (1, 11, 21, 31)]
    edges = [d.timestamp() * 1e9 for d in days]
    column = ColumnComparison(
        column="signup_date",
        kind="datetime",
        method="wasserstein",
        score=0.03,
        threshold=0.1,
        drifted=False,
        explanation="signup_date: median 2024-01-11 → 2024-01-16",
        distribution=NumericDistribution(edges, [3, 4, 3], [2, 4, 4], unit="datetime"),
    )
    document = render_html(ReportPage("drift", "ok", sections=[Section("Columns", [column])]))
    assert "signup_date [2024-01-01, 2024-01-11): reference 30%, current 20%" in document
    ticks = [t for t in re.findall(r'class="tl"[^>]*>([^<]+)<', document) if "%" not in t]
    assert len(ticks) >= 2 and all(re.fullmatch(r"2024-\d\d-\d\d", t) for t in ticks), ticks
    assert "e+18" not in document
    with pytest.raises(InvalidInput, match="unit"):
        NumericDistribution(edges, [1, 1, 1], [1, 1, 1], unit="seconds")  # type: ignore[arg-type]


def test_a_long_category_tail_folds_into_one_bar_and_new_categories_are_marked() -> None:
    names = [f"city {i}" for i in range(40)] + ["Atlantis"]
    column = ColumnComparison(
        column="city",
        kind="categorical",
        method="jensenshannon",
        score=0.2,
        threshold=0.1,
        drifted=True,
        distribution=CategoricalDistribution(names, [*range(40, 0, -1), 0], [*range(1, 41), 500]),
    )
    document = render_html(ReportPage("drift", "alert", sections=[Section("Columns", [column])]))
    assert document.count('class="cl"') == 12
    assert "30 other categories" in document
    assert "city = Atlantis: reference 0%, current 38% (new: not in the reference)" in document


def test_a_series_with_gaps_draws_separate_segments_and_marks_crossings() -> None:
    values = [0.8, 0.79, None, 0.7, 0.72, float("inf")]
    chart = TimeSeriesChart(
        "realised.roc_auc",
        [Series("realised", [(START + dt.timedelta(hours=i), v) for i, v in enumerate(values)])],
        threshold=Threshold(0.75, ">="),
    )
    document = render_html(ReportPage("monitor", "alert", sections=[Section("Over time", [chart])]))
    path = re.search(r'<path class="ln" d="([^"]*)"', document)
    assert path is not None and path.group(1).count("M") == 2
    assert document.count('class="pt cross"') == 2
    assert "realised · 2026-11-01 03:00 UTC · 0.7 (crosses &gt;= 0.75)" in document
    assert document.count("<circle") == 4


def test_table_cells_read_like_numbers_whatever_their_type() -> None:
    table = Table(
        "Latency",
        ["version", "requests", "p99 ms", "healthy", "since"],
        [
            ["churn@1", np.int64(120_000), np.float32(31.25), np.bool_(True), dt.date(2026, 1, 2)],
            ["churn@2", 1_200, float("nan"), False, None],
        ],
    )
    document = render_html(ReportPage("monitor", "ok", sections=[Section("Ops", [table])]))
    assert (
        '<td class="n">120,000</td><td class="n">31.25</td><td>yes</td><td>2026-01-02</td>'
        in document
    )
    assert '<td class="n">1,200</td><td class="n">–</td><td>no</td><td>–</td>' in document
    assert document.count('<th scope="col" class="n">') == 2


def test_empty_series_and_tables_say_so_instead_of_drawing_nothing() -> None:
    chart = TimeSeriesChart("kpi.revenue", [Series("revenue", [])])
    table = Table("Alerts", ["created", "message"], [])
    document = render_html(ReportPage("monitor", "ok", sections=[Section("All", [chart, table])]))
    assert "No values for kpi.revenue in this period." in document
    assert ">None.</td>" in document


def test_write_report_replaces_the_file_atomically_and_leaves_nothing_else(tmp_path: Path) -> None:
    target = tmp_path / "report.html"
    target.write_text("old")
    assert write_report(sample_page(), target) == target
    assert target.read_text().startswith("<!DOCTYPE html>")
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]
    assert target.stat().st_mode & 0o777 == 0o644


def test_write_report_refuses_a_missing_folder_or_a_folder_as_target(tmp_path: Path) -> None:
    page = ReportPage("drift", "ok")
    with pytest.raises(InvalidInput, match=r"folder .*missing does not exist; create it"):
        write_report(page, tmp_path / "missing" / "report.html")
    with pytest.raises(InvalidInput, match="it is a folder; name a file"):
        write_report(page, tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: NumericDistribution([0, 1, 2], [1, 2, 3], [1, 2]), "one more edge than counts"),
        (lambda: NumericDistribution([0, 2, 1], [1, 2], [1, 2]), "edges must be increasing"),
        (lambda: NumericDistribution([0, 1], [-1], [1]), "non-negative"),
        (
            lambda: NumericDistribution([0, np.inf, np.inf], [1, 1], [1, 1]),
            "Only the outermost histogram edges may be infinite",
        ),
        (lambda: CategoricalDistribution(["a", "b"], [1], [1, 2]), "one count per category"),
        (lambda: ReportPage("x", "maybe"), "'ok' or 'alert'"),  # type: ignore[arg-type]
        (lambda: Threshold(1.0, "=="), "direction is one of"),  # type: ignore[arg-type]
        (lambda: Table("Alerts", ["a", "b"], [["x"]]), "row 1 has 1 cells for 2 columns"),
        (lambda: Series("s", [("yesterday", 1.0)]), "must be a datetime"),  # type: ignore[list-item]
    ],
)
def test_the_page_model_refuses_shapes_it_cannot_draw(build: object, message: str) -> None:
    assert callable(build)
    with pytest.raises(InvalidInput, match=message):
        build()


def test_naive_times_are_utc_and_the_verdict_shows_on_top() -> None:
    page = ReportPage(
        "drift",
        "alert",
        summary=["3 of 18 features drifted"],
        generated_at=dt.datetime(2026, 1, 2, 3, 4),
    )
    document = render_html(page)
    assert "Generated 2026-01-02 03:04:00 UTC" in document
    assert '<body class="alert">' in document
    assert document.index('role="status">Alert<') < document.index("3 of 18 features drifted")


def test_the_docs_example_writes_a_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    docs = (Path(__file__).parents[2] / "docs" / "monitoring.md").read_text()
    section = docs.split("\n## Reports\n", 1)[1].split("\n## ", 1)[0]
    example = section.split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(tmp_path)
    exec(compile(example, "docs/monitoring.md", "exec"), {})
    document = (tmp_path / "nightly.html").read_text()
    assert "tenure: median 29 → 18 months, normalised Wasserstein 0.41 &gt; 0.1" in document
    assert document.count("<svg") == 2


def test_a_long_series_is_thinned_to_what_a_pixel_can_show() -> None:
    hours = np.arange(20_000)
    values = 0.75 + 0.1 * np.sin(hours / 20)
    chart = TimeSeriesChart(
        "roc_auc",
        [
            Series(
                "realised",
                [
                    (START + dt.timedelta(hours=int(h)), v)
                    for h, v in zip(hours, values, strict=True)
                ],
            )
        ],
        threshold=Threshold(0.75, ">="),
    )
    document = render_html(ReportPage("monitor", "alert", sections=[Section("Over time", [chart])]))
    assert len(document.encode()) < 80_000
    assert document.count("<circle") <= 121 and document.count('class="pt cross"') >= 100
    path = re.search(r'<path class="ln" d="([^"]*)"', document)
    assert path is not None and path.group(1).count("M") == 1
    assert '<text class="tl" x="' in document and ">2026-11-01<" in document  # years apart: dates


def _column(name: str, distribution: object) -> ColumnComparison:
    assert isinstance(distribution, NumericDistribution | CategoricalDistribution)
    return ColumnComparison(name, "numeric", "ks", None, None, False, distribution=distribution)


def _at(hours: float, offset: int = 0) -> dt.datetime:
    zone = dt.timezone(dt.timedelta(hours=offset))
    return (START + dt.timedelta(hours=hours)).astimezone(zone)


ODD_BLOCKS = {
    "constant column": _column("c", NumericDistribution([5.0, 5.0], [10], [3])),
    "no values at all": _column("e", NumericDistribution([0, 1, 2], [0, 0], [0, 0])),
    "no current values": _column("n", NumericDistribution([-np.inf, 0, np.inf], [3, 4], [0, 0])),
    "huge and tiny": _column("h", NumericDistribution([-1e300, 1e-300, 1e300], [1, 2], [2, 1])),
    "no categories": _column("z", CategoricalDistribution([], [], [])),
    "odd category names": _column(
        "k",
        CategoricalDistribution(
            ["", "x" * 200, "עברית", "a\x00b", "😀"], [1, 2, 3, 4, 5], [5, 4, 3, 2, 1]
        ),
    ),
    "one point": TimeSeriesChart("p", [Series("s", [(_at(0), 0.5)])], Threshold(0.7, ">=")),
    "flat line, far threshold": TimeSeriesChart(
        "f", [Series("s", [(_at(h), 3.0) for h in range(5)])], Threshold(1e6, "<")
    ),
    "negative values, mixed offsets": TimeSeriesChart(
        "m", [Series("s", [(_at(h, offset=h - 3), -h * 1e-9) for h in range(6)])]
    ),
    "only gaps": TimeSeriesChart("g", [Series("s", [(_at(0), None), (_at(1), float("nan"))])]),
}
NUMBER = re.compile(r'\s(?:x|y|x1|x2|y1|y2|cx|cy|r|width|height)="([^"]*)"')


@pytest.mark.parametrize("name", list(ODD_BLOCKS))
def test_odd_data_draws_with_finite_coordinates(name: str) -> None:
    page = ReportPage(name, "ok", sections=[Section(name, [ODD_BLOCKS[name]])])
    document = render_html(page)
    svg = "".join(re.findall(r"<svg.*?</svg>", document, flags=re.S))
    assert svg, "every odd block still draws something"
    for value in NUMBER.findall(svg):
        number = float(value)
        assert np.isfinite(number), (name, value)
    for value in re.findall(r'\s(?:width|height|r)="([^"]*)"', svg):
        assert float(value) >= 0, (name, value)
    for path in re.findall(r' d="([^"]*)"', svg):
        assert all(np.isfinite(float(n)) for n in re.findall(r"-?[\d.]+(?:e-?\d+)?", path)), path
    assert set(_parse(document).tags) <= SAFE_TAGS


def test_drifted_columns_cards_come_first_and_the_table_keeps_the_given_order() -> None:
    document = render_html(sample_page())
    table = re.findall(r'<td><a href="#c\d+">([^<]*)</a></td>', document)
    cards = re.findall(r'<article class="col (\w+)" id="c\d+"><header><h3>([^<]*)</h3>', document)
    assert table[:3] == [html.escape(SCRIPT_COLUMN), "feature_01", "feature_02"]
    states = [state for state, _ in cards]
    assert states == sorted(states)  # "drifted" < "stable"
    assert [name for _, name in cards][:3] == [
        html.escape(SCRIPT_COLUMN),
        "feature_04",
        "feature_08",
    ]
    assert "Distributions, drifted columns first" in document


def test_a_long_column_name_is_clipped_on_the_axis_and_whole_elsewhere() -> None:
    name = "customer_" + "x" * 200
    column = _column(name, NumericDistribution([0, 1, 2], [1, 2], [2, 1]))
    document = render_html(ReportPage("drift", "ok", sections=[Section("Columns", [column])]))
    axis = re.search(r'<text class="al"[^>]*>([^<]*)</text>', document)
    assert axis is not None and len(axis.group(1)) == 56 and axis.group(1).endswith("…")
    assert f"<h3>{name}</h3>" in document
