"""A drift report as an HTML report page (mloop.monitoring.report renders it)."""

from __future__ import annotations

from mloop.monitoring.columns import ColumnDrift
from mloop.monitoring.drift import DriftReport
from mloop.monitoring.report_page import (
    CategoricalDistribution,
    ColumnComparison,
    Distribution,
    KeyFigure,
    NumericDistribution,
    ReportPage,
    Section,
    Table,
)


def summary_lines(report: DriftReport) -> list[str]:
    """The plain-language lines shown above the table and on top of the page."""
    compared, drifted = len(report.columns), report.drifted_columns
    verdict = "dataset drift" if report.dataset_drift else "no dataset drift"
    lines = [
        f"{len(drifted)} of {compared} columns drifted (share {report.drift_share:.2f}, "
        f"threshold {report.drift_share_threshold:g}): {verdict}."
    ]
    lines += [c.explanation for c in report.columns if c.drifted][:5]
    for column in report.columns:
        lines += notes(column)
    for skipped in report.skipped:
        if skipped.null_rate_jump:
            lines.append(
                f"{skipped.column}: missing values {skipped.null_rate['reference']:.1%} → "
                f"{skipped.null_rate['current']:.1%}."
            )
    return lines


def notes(column: ColumnDrift) -> list[str]:
    """What is reported beside the verdict: a null-rate jump, categories never seen."""
    found = []
    if column.null_rate_jump:
        found.append(
            f"{column.column}: missing values {column.null_rate['reference']:.1%} → "
            f"{column.null_rate['current']:.1%}."
        )
    if column.new_categories:
        shown = ", ".join(repr(n["value"]) for n in column.new_categories[:3])
        found.append(
            f"{column.column}: {column.new_category_rows} rows in categories the reference "
            f"never had ({shown})."
        )
    return found


def _distribution(picture: object, kind: str) -> Distribution | None:
    if not isinstance(picture, tuple):
        return None
    shape, labels, reference, current = picture
    if shape == "bins":
        if kind == "datetime":
            return NumericDistribution(labels, reference, current, unit="datetime")
        return NumericDistribution(labels, reference, current)
    return CategoricalDistribution(labels, reference, current)


def drift_page(report: DriftReport, *, title: str | None = None) -> ReportPage:
    comparisons = [
        ColumnComparison(
            column=c.column,
            kind=c.kind,
            method=c.method,
            score=c.score,
            threshold=c.threshold,
            drifted=c.drifted,
            explanation=c.explanation,
            distribution=_distribution(c.distribution, c.kind),
            p_value=c.p_value,
            notes=notes(c),
        )
        for c in report.columns
    ]
    sections = [Section("Columns", comparisons)]
    if report.skipped:
        sections.append(
            Section(
                "Not compared",
                [
                    Table(
                        "Skipped columns",
                        ["column", "why"],
                        [(s.column, s.reason) for s in report.skipped],
                    )
                ],
            )
        )
    return ReportPage(
        title=title or f"Drift: {report.current} against {report.reference}",
        verdict="alert" if report.dataset_drift else "ok",
        summary=summary_lines(report),
        sections=sections,
        figures=[
            KeyFigure(
                "Drifted columns",
                f"{len(report.drifted_columns)} of {len(report.columns)}",
                alert=report.dataset_drift,
            ),
            KeyFigure("Drift share", f"{report.drift_share:.2f}", alert=report.dataset_drift),
        ],
        context=[
            ("Reference", f"{report.reference}, {report.rows['reference']:,} rows"),
            ("Current", f"{report.current}, {report.rows['current']:,} rows"),
        ],
    )
