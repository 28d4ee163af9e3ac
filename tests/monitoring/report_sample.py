"""A realistic report page for the report tests: 25 columns, 3 time series, an alerts table.

User text is hostile on purpose: a column, a category, a series, a table cell and the summary
carry markup that would run (or fetch) if the renderer did not escape it.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from mloop.monitoring.report import (
    CategoricalDistribution,
    ColumnComparison,
    KeyFigure,
    NumericDistribution,
    ReportPage,
    Section,
    Series,
    Table,
    Threshold,
    TimeSeriesChart,
)

SCRIPT_COLUMN = "<script>document.title='pwned'</script>"
IMG_CATEGORY = '"><img src=x onerror="document.title=\'pwned\'">'
SERIES_NAME = "v2 </svg><script>document.title='pwned'</script>"
CELL = "http://127.0.0.1:9/hook?a=1&b=<b>"
START = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


def numeric_column(name: str, rng: np.random.Generator, shift: float) -> ColumnComparison:
    reference = rng.normal(0, 1, 5_000)
    current = rng.normal(shift, 1, 5_000)
    edges = np.concatenate([[-np.inf], np.linspace(-3, 3, 19), [np.inf]])
    drifted = shift > 0.2
    return ColumnComparison(
        column=name,
        kind="numeric",
        method="wasserstein",
        score=round(shift / 2, 3),
        threshold=0.1,
        drifted=drifted,
        explanation=f"{name}: median 0.0 → {shift:.1f}, normalised Wasserstein {shift / 2:.2f}"
        + (" > 0.1" if drifted else " ≤ 0.1"),
        distribution=NumericDistribution(
            edges=edges,
            reference=np.histogram(reference, edges)[0],
            current=np.histogram(current, edges)[0],
        ),
    )


def categorical_column(
    name: str, categories: list[str], ref: list[int], cur: list[int]
) -> ColumnComparison:
    return ColumnComparison(
        column=name,
        kind="categorical",
        method="chisquare",
        score=12.5,
        threshold=0.05,
        p_value=0.0004,
        drifted=True,
        explanation=f"{name}: share of {categories[0]!s} 50% → 30%",
        notes=[f"new category: {categories[-1]}"],
        distribution=CategoricalDistribution(categories=categories, reference=ref, current=cur),
    )


def series(name: str, values: list[float | None], *, dashed: bool = False) -> Series:
    return Series(
        name=name,
        points=[(START + dt.timedelta(days=i), v) for i, v in enumerate(values)],
        dashed=dashed,
    )


def sample_page() -> ReportPage:
    rng = np.random.default_rng(7)
    columns: list[ColumnComparison] = [
        numeric_column(
            SCRIPT_COLUMN if i == 0 else f"feature_{i:02d}", rng, 0.6 if i % 4 == 0 else 0.0
        )
        for i in range(20)
    ]
    columns.append(
        categorical_column(
            "contract",
            ["month-to-month", "one year", "two year", IMG_CATEGORY],
            [500, 300, 200, 0],
            [300, 300, 250, 150],
        )
    )
    columns.append(categorical_column("senior", ["true", "false"], [160, 840], [300, 700]))
    columns.append(
        categorical_column(
            "city", [f"city {i}" for i in range(40)], list(range(40, 0, -1)), list(range(1, 41))
        )
    )
    columns.append(categorical_column("plan", ["basic", "pro"], [50, 50], [50, 50]))
    columns.append(
        ColumnComparison(
            column="empty",
            kind="numeric",
            method="ks",
            score=None,
            threshold=0.05,
            drifted=False,
            explanation="empty: no values in either window",
        )
    )
    days = 30
    estimated = [0.82 - 0.004 * i for i in range(days)]
    realised: list[float | None] = [0.81 - 0.005 * i if i < days - 5 else None for i in range(days)]
    charts = [
        TimeSeriesChart(
            title="drift_share",
            series=[series("drift share", [0.05 + 0.01 * i for i in range(days)])],
            threshold=Threshold(0.3, "<=", "drift_share"),
            description="Share of drifted columns per daily window.",
        ),
        TimeSeriesChart(
            title="roc_auc",
            series=[series("estimated", estimated, dashed=True), series("realised", realised)],
            threshold=Threshold(0.75, ">="),
        ),
        TimeSeriesChart(
            title="latency_p99",
            unit="ms",
            series=[
                series("v1 primary", [30 + (i % 5) for i in range(days)]),
                series(SERIES_NAME, [40 + (i % 7) * 3 for i in range(days)]),
            ],
            threshold=Threshold(50, "<=", "latency_p99_ms"),
        ),
    ]
    alerts = Table(
        title="Alerts",
        header=["created", "kind", "metric", "value", "threshold", "message", "deliveries"],
        rows=[
            [
                START + dt.timedelta(days=26),
                "performance",
                "estimated.roc_auc",
                0.716,
                ">= 0.75",
                "estimated roc_auc 0.716, below 0.75",
                f"{CELL}: delivered after 3 attempts",
            ],
            [
                START + dt.timedelta(days=27),
                "drift",
                "drift_share",
                0.32,
                "<= 0.3",
                "8 of 25 columns drifted",
                f"{CELL}: failed after 5 attempts",
            ],
        ],
        flagged=[False, True],
    )
    latency = Table(
        title="Latency per model version",
        header=["version", "role", "requests", "p50 ms", "p95 ms", "p99 ms", "error rate"],
        rows=[
            ["churn@1", "primary", 120_000, 4.1, 9.8, 31.0, 0.001],
            ["churn@2", "canary", 12_000, 4.4, 11.2, 47.5, None],
        ],
    )
    return ReportPage(
        title="Monitor churn-api: <b>last 30 days</b>",
        verdict="alert",
        summary=[
            f"8 of 25 columns drifted; {SCRIPT_COLUMN} shifted up by 0.6 standard deviations.",
            "estimated roc_auc 0.71, below 0.75.",
        ],
        figures=[
            KeyFigure("drifted columns", "8 of 25", alert=True),
            KeyFigure("requests", "132,000"),
        ],
        context=[
            ("Reference", "churn@3 (10,000 rows)"),
            ("Current", "churn-api: 2026-11-01 → 2026-12-01"),
        ],
        sections=[
            Section(
                "Data drift",
                columns,
                intro="Each column of the current window against the reference.",
            ),
            Section("Over time", charts),
            Section("Operations", [latency]),
            Section("Alerts", [alerts]),
        ],
        generated_at=dt.datetime(2026, 12, 1, 9, 30),
    )
