"""The report in a real browser: every chart drawn with visible shapes, hostile names shown as
text, nothing executed and nothing fetched.

Runs Debian's headless ``chromium`` over the DevTools protocol (tests/monitoring/chromium.py).
``make test`` installs it when missing (``make browser``: apt-get as root); where it cannot be
installed these tests skip and say so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mloop.monitoring.report import render_html, write_report
from tests.conftest import CliResult
from tests.monitoring.chromium import Chromium, find_browser, png_pixels
from tests.monitoring.report_sample import IMG_CATEGORY, SCRIPT_COLUMN, SERIES_NAME, sample_page

MEASURE = """(() => {
  const area = s => { const b = s.getBBox(); return b.width > 0 && b.height > 0; };
  return [...document.querySelectorAll('svg.chart')].map(svg => {
    const r = svg.getBoundingClientRect();
    const ref = svg.querySelector('rect.ref');
    return {
      kind: ['hist', 'cats', 'line'].find(k => svg.classList.contains(k)),
      width: r.width, height: r.height,
      title: svg.querySelector('title').textContent,
      bars: [...svg.querySelectorAll('rect.ref, rect.cur')].filter(area).length,
      lines: [...svg.querySelectorAll('path.ln')].filter(p => p.getBBox().width > 0).length,
      points: [...svg.querySelectorAll('circle.pt')].filter(area).length,
      limits: [...svg.querySelectorAll('line.limit')].filter(l => l.getBBox().width > 0).length,
      ticks: svg.querySelectorAll('text.tl').length,
      refFill: ref ? getComputedStyle(ref).fill : null,
    };
  });
})()"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Chromium]:
    executable = find_browser()
    if executable is None:
        pytest.skip(
            "chromium is not installed, so the report's rendering is unchecked here; "
            "`make browser` installs Debian's chromium (needs root and apt-get)"
        )
    chromium = Chromium(executable)
    try:
        yield chromium
    finally:
        chromium.close()


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_report(sample_page(), tmp_path_factory.mktemp("report") / "report.html")


def _events(browser: Chromium, method: str) -> list[dict[str, Any]]:
    browser.evaluate("1")  # drain events the page caused so far
    return [e["params"] for e in browser.events if e["method"] == method]


def test_every_chart_renders_with_visible_shapes(browser: Chromium, report: Path) -> None:
    browser.open(report)
    charts = browser.evaluate(MEASURE)
    kinds = [c["kind"] for c in charts]
    assert (kinds.count("hist"), kinds.count("cats"), kinds.count("line")) == (20, 4, 3)
    for chart in charts:
        assert chart["width"] > 250 and chart["height"] > 60, chart
        assert chart["ticks"] >= 3, chart
    for chart in (c for c in charts if c["kind"] == "hist"):
        assert chart["bars"] >= 30, chart  # 21 bins a side, minus empty tails
        assert chart["refFill"] not in (None, "none", "rgba(0, 0, 0, 0)"), chart
    for chart in (c for c in charts if c["kind"] == "cats"):
        assert chart["bars"] >= 3, chart
    lines = {c["title"]: c for c in charts if c["kind"] == "line"}
    assert lines["roc_auc"]["lines"] == 2 and lines["roc_auc"]["points"] == 30 + 25
    assert lines["latency_p99 (ms)"]["lines"] == 2
    assert all(c["limits"] == 1 for c in lines.values())


def test_user_markup_shows_as_text_and_nothing_runs_or_loads(
    browser: Chromium, report: Path
) -> None:
    browser.open(report)
    page = browser.evaluate(
        """({
        title: document.title,
        scripts: document.scripts.length,
        images: document.images.length,
        headings: [...document.querySelectorAll('article.col h3')].map(h => h.textContent),
        axis: [...document.querySelectorAll('svg text.al')].map(t => t.textContent),
        tips: [...document.querySelectorAll('svg g > title')].map(t => t.textContent),
        legend: [...document.querySelectorAll('.legend span')].map(s => s.textContent),
        h1: document.querySelector('h1').textContent,
    })"""
    )
    assert page["title"] == "Monitor churn-api: <b>last 30 days</b>" == page["h1"]
    assert (page["scripts"], page["images"]) == (0, 0)
    assert page["headings"][0] == SCRIPT_COLUMN
    assert SCRIPT_COLUMN in page["axis"]
    assert any(tip.startswith(f"contract = {IMG_CATEGORY}: ") for tip in page["tips"])
    assert SERIES_NAME in page["legend"]
    assert _events(browser, "Page.javascriptDialogOpening") == []
    assert [r["request"]["url"] for r in _events(browser, "Network.requestWillBeSent")] == [
        report.as_uri()
    ]
    assert _events(browser, "Log.entryAdded") == []  # not even a blocked attempt


def test_the_charts_are_painted(browser: Chromium, report: Path) -> None:
    browser.open(report)
    clip = browser.evaluate(
        """(() => { const r = document.querySelector('article.drifted svg.hist')
            .getBoundingClientRect();
          return {x: r.x + scrollX, y: r.y + scrollY, width: r.width, height: r.height}; })()"""
    )
    width, height, pixels = png_pixels(browser.screenshot(clip))
    assert width > 250 and height > 100

    def near(colour: tuple[int, int, int]) -> int:
        return sum(
            1 for p in pixels if sum(abs(a - b) for a, b in zip(p, colour, strict=True)) < 40
        )

    assert near((154, 165, 177)) > 1_000  # reference bars, grey
    assert near((37, 99, 235)) > 200  # current bars' outline, blue


def test_the_policy_blocks_a_script_that_slipped_past_escaping(
    browser: Chromium, tmp_path: Path
) -> None:
    document = render_html(sample_page()).replace(
        "<main>",
        '<main><script>document.title="pwned"</script>'
        '<img src="http://127.0.0.1:9/x" onerror="document.title=\'pwned\'">',
        1,
    )
    path = tmp_path / "tampered.html"
    path.write_text(document)
    browser.open(path)
    assert browser.evaluate("document.title") == "Monitor churn-api: <b>last 30 days</b>"
    blocked = [e["blockedReason"] for e in _events(browser, "Network.loadingFailed")]
    assert blocked == ["csp"]
    refused = [e["entry"]["text"] for e in _events(browser, "Log.entryAdded")]
    assert len(refused) == 3 and all("Content Security Policy" in text for text in refused)


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_mloop_drift_report_renders_hostile_names_as_text(
    browser: Chromium, cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    rng = np.random.default_rng(3)
    rows = 2_000
    plans = ["basic", "pro"]

    def frame(shift: float, extra: list[str]) -> pd.DataFrame:
        return pd.DataFrame(
            {
                SCRIPT_COLUMN: rng.normal(shift, 1, rows),
                "plan": rng.choice(plans + extra, rows),
                "senior": rng.random(rows) < 0.2 + shift / 4,
            }
        )

    frame(0.0, []).to_csv(tmp_path / "reference.csv", index=False)
    frame(0.8, [IMG_CATEGORY]).to_csv(tmp_path / "current.csv", index=False)
    target = tmp_path / "drift.html"
    result = cli(
        "drift",
        str(tmp_path / "reference.csv"),
        str(tmp_path / "current.csv"),
        "--report",
        str(target),
    )
    assert result.exit_code == 1, result.stdout + result.stderr

    browser.open(target)
    charts = browser.evaluate(MEASURE)
    assert sorted(c["kind"] for c in charts) == ["cats", "cats", "hist"]
    assert all(c["width"] > 250 and c["bars"] >= 3 for c in charts), charts
    page = browser.evaluate(
        """({title: document.title, scripts: document.scripts.length,
            headings: [...document.querySelectorAll('article.col h3')].map(h => h.textContent),
            tips: [...document.querySelectorAll('svg g > title')].map(t => t.textContent)})"""
    )
    expected = f"Drift: {tmp_path / 'current.csv'} against {tmp_path / 'reference.csv'}"
    assert page["title"] == expected and page["scripts"] == 0
    assert SCRIPT_COLUMN in page["headings"]
    assert any(tip.startswith(f"plan = {IMG_CATEGORY}: reference 0%") for tip in page["tips"])
    assert _events(browser, "Page.javascriptDialogOpening") == []
    assert [r["request"]["url"] for r in _events(browser, "Network.requestWillBeSent")] == [
        target.as_uri()
    ]
