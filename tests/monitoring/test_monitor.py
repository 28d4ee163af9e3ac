"""`mloop monitor` end to end on SQLite and PostgreSQL: figures stored as points, a crossing
stored as an alert and delivered to a real receiver, not re-alerted within its window."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from mloop.monitoring.monitor import evaluate
from mloop.store import tables as t
from mloop.workspace import Workspace
from tests.monitoring.conftest import HOUR, configure
from tests.monitoring.receiver import receiver

KPIS = """
def revenue(window):
    kept = window["prediction"] == "no"
    return float(window.loc[kept, "input.monthly_charges"].sum())
"""


def _monitor(hook: str, thresholds: list[str]) -> str:
    listed = ", ".join(json.dumps(t) for t in thresholds)
    return (
        "[monitors.churn]\n"
        'window = "1h"\n'
        f"thresholds = [{listed}]\n"
        'segments = ["contract"]\n'
        'kpis = { revenue = "kpis:revenue" }\n'
        f'webhooks = ["{hook}"]\n'
        "webhook_backoff_s = 0.01\n"
    )


def test_a_crossed_threshold_is_stored_alerted_delivered_and_not_realerted(
    cli: Any, workspace: Workspace, logged: Path
) -> None:
    (workspace.root / "kpis.py").write_text(KPIS)
    with receiver(fail_first=2) as hook:
        configure(
            workspace,
            _monitor(hook.url, ["latency_p99_ms <= 10", "error_rate <= 0.05", "kpi.revenue >= 1"]),
        ).close()
        first = cli("monitor", "churn", "--window", HOUR, "--json")
        assert first.exit_code == 1, first.stderr
        again = cli("monitor", "churn", "--window", HOUR)
        assert hook.attempts == 3  # two 503s, then delivered; the second run sent nothing

    result = json.loads(first.stdout)
    checks = {c["metric"]: c for c in result["checks"]}
    assert checks["latency_p99_ms"]["status"] == "crossed"
    assert checks["latency_p99_ms"]["worst_segment"] == "contract=two-year"
    assert checks["error_rate"]["status"] == "ok"
    assert checks["kpi.revenue"]["status"] == "ok"
    assert result["records"] == 2000
    assert result["summary"].startswith("Latency p99 ") and "above 10 ms" in result["summary"]
    assert "worst in contract=two-year" in result["summary"]

    [alert] = result["alerts"]
    assert alert["kind"] == "latency" and alert["threshold"] == "latency_p99_ms <= 10"
    assert alert["deliveries"] == [{"url": hook.url, "attempts": 3, "status": "delivered"}]
    [body] = hook.bodies
    listed = json.loads(cli("alerts", "ls", "--endpoint", "churn", "--json").stdout)
    assert listed == [alert]
    # the webhook body is the same document, sent before its delivery finished
    assert {k: v for k, v in body.items() if k != "deliveries"} == {
        k: v for k, v in alert.items() if k != "deliveries"
    }
    assert body["deliveries"] == [{"url": hook.url, "attempts": 0, "status": "pending"}]
    assert set(alert) == {
        "id", "endpoint", "monitor", "kind", "metric", "value", "threshold", "window",
        "message", "created_at", "deliveries",
    }  # fmt: skip

    assert again.exit_code == 1
    assert "CROSSED (alerted before)" in again.stdout
    with workspace.store.read() as conn:
        alerts = conn.execute(sa.select(sa.func.count()).select_from(t.alerts)).scalar_one()
        runs = conn.execute(sa.select(sa.func.count()).select_from(t.monitor_runs)).scalar_one()
        segment_kpis = conn.execute(
            sa.select(t.monitor_points.c.segment, t.monitor_points.c.value).where(
                t.monitor_points.c.metric == "kpi.revenue"
            )
        ).all()
    assert (alerts, runs) == (1, 2)
    assert {s for s, _ in segment_kpis} >= {None, "contract=two-year", "contract=one-year"}


def test_a_healthy_window_exits_0_and_says_so(cli: Any, workspace: Workspace, logged: Path) -> None:
    configure(
        workspace,
        '[monitors.churn]\nthresholds = ["error_rate <= 0.05", "rejection_rate <= 0.1"]\n',
    ).close()
    result = cli("monitor", "churn", "--window", HOUR)
    assert result.exit_code == 0, result.stderr
    assert "2 of 2 checks passed over 2,000 predictions." in result.stdout
    assert "churn@2" in result.stdout and "shadow" in result.stdout  # the per-version table
    assert "No alerts for churn" in cli("alerts", "ls", "--endpoint", "churn").stdout


def test_the_python_api_returns_the_figures_and_stores_them_as_time_series(
    workspace: Workspace, logged: Path
) -> None:
    ws = configure(workspace, '[monitors.churn]\nthresholds = ["rejection_rate <= 0.01"]\n')
    try:
        result = evaluate(ws, "churn", window=HOUR)
    finally:
        ws.close()
    assert not result.passed
    assert result.point("rejection_rate") == 0.05
    assert result.point("shadow_disagreement_rate", version="churn@2") is not None
    assert [a.metric for a in result.alerts] == ["rejection_rate"]
    assert result.alerts[0].kind == "operations"
    with workspace.store.read() as conn:
        stored = conn.execute(
            sa.select(t.monitor_points.c.value).where(
                t.monitor_points.c.run_id == result.id,
                t.monitor_points.c.metric == "rejection_rate",
                t.monitor_points.c.segment.is_(None),
                t.monitor_points.c.role.is_(None),
            )
        ).scalar_one()
    assert stored == 0.05


def test_bad_input_is_exit_2_with_one_sentence(cli: Any, logged: Path) -> None:
    result = cli("monitor", "churn", "--window", "2026-03-02T01:00/2026-03-02T00:00")
    assert result.exit_code == 2 and "ends before it starts" in result.stderr
    result = cli("monitor", "nobody", "--window", "1h")
    assert result.exit_code == 2 and "No prediction log for endpoint 'nobody'" in result.stderr


def test_report_is_written_beside_the_verdict_and_a_bad_path_stores_nothing(
    cli: Any, workspace: Workspace, logged: Path
) -> None:
    configure(
        workspace,
        '[monitors.churn]\nthresholds = ["latency_p99_ms <= 10"]\nsegments = ["contract"]\n',
    ).close()
    missing = workspace.root / "nowhere" / "r.html"
    refused = cli("monitor", "churn", "--window", HOUR, "--report", missing)
    assert refused.exit_code == 2 and "folder" in refused.stderr
    with workspace.store.read() as conn:
        assert (
            conn.execute(sa.select(sa.func.count()).select_from(t.monitor_runs)).scalar_one() == 0
        )

    for _ in range(2):  # two runs: the report charts the stored points over time
        result = cli("monitor", "churn", "--window", HOUR, "--report", workspace.root / "r.html")
        assert result.exit_code == 1
    html = (workspace.root / "r.html").read_text()
    assert "Monitor: churn" in html
    assert "worst in contract=two-year" in html
    assert "By segment" in html and "contract=two-year" in html
    assert "latency p99" in html and "Recent alerts" in html
    assert "<script src=" not in html  # self-contained: nothing to fetch


def test_a_failing_kpi_is_exit_2_naming_it_and_nothing_is_stored(
    cli: Any, workspace: Workspace, logged: Path
) -> None:
    (workspace.root / "badkpis.py").write_text(
        "def boom(window):\n    raise KeyError('label')\n\ndef text(window):\n    return 'lots'\n"
    )
    configure(workspace, '[monitors.churn]\nkpis = { boom = "badkpis:boom" }\n').close()
    result = cli("monitor", "churn", "--window", HOUR)
    assert result.exit_code == 2
    assert "KPI 'boom' raised KeyError: 'label'; fix the function" in result.stderr
    assert "Traceback" not in result.stderr
    config = workspace.root / "mloop.toml"
    config.write_text(config.read_text().replace("badkpis:boom", "badkpis:text"))
    result = cli("monitor", "churn", "--window", HOUR)
    assert (
        result.exit_code == 2 and "returned str 'lots'; a KPI returns one number" in result.stderr
    )
    with workspace.store.read() as conn:
        assert (
            conn.execute(sa.select(sa.func.count()).select_from(t.monitor_runs)).scalar_one() == 0
        )


def test_alerts_ls_shows_each_alert_and_its_deliveries(
    cli: Any, workspace: Workspace, logged: Path
) -> None:
    with receiver() as hook:
        configure(workspace, _monitor(hook.url, ["error_rate <= 0.001"])).close()
        (workspace.root / "kpis.py").write_text(KPIS)
        assert cli("monitor", "churn", "--window", HOUR).exit_code == 1
    listed = cli("alerts", "ls")
    assert listed.exit_code == 0
    assert "error_rate <= 0.001" in listed.stdout and "delivered (1)" in listed.stdout
    assert "operations" in listed.stdout


def test_a_field_the_model_does_not_read_has_no_null_rate(tmp_path: Path) -> None:
    """A client that once sent an extra field (ignored, named in X-Ignored-Fields) made
    ``null_rate`` (the worst input column's) near 1, so ``null_rate <= 0.1`` alerted."""
    from tests.serving.server_harness import build_workspace, churn_rows, running

    root = build_workspace(tmp_path / "ws")
    rows = churn_rows(40)
    with running(root) as server, server.client() as client:
        for body in ({"instances": rows}, {"instances": [dict(rows[0], note="vip")]}):
            answer = client.post("/v1/endpoints/churn/predict", json=body)
            assert answer.status_code == 200, answer.text
    with Workspace.open(root, environ={"MLOOP_USER": "tester"}) as ws:
        result = evaluate(ws, "churn", window="24h")
    assert result.point("predictions") == 41
    assert result.point("null_rate.note") is None
    per_column = [
        p.value
        for p in result.points
        if p.metric.startswith("null_rate.") and p.segment is None and p.model is None
    ]
    assert len(per_column) == 10  # the model's features only
    assert result.point("null_rate") == max(per_column) < 0.5


def test_drift_compares_only_the_columns_the_model_reads(tmp_path: Path) -> None:
    """Clients send the whole row, dates and ids included; the model reads neither. A later
    month's dates always differ from the training data's, so counting them made
    ``drift_share`` cross on every window for a column that cannot change a prediction."""
    from tests.serving.server_harness import build_workspace, churn_rows, running

    root = build_workspace(tmp_path / "ws")
    rows = [dict(row, signup_date="2031-06-01T00:00:00.000") for row in churn_rows(60)]
    with running(root) as server, server.client() as client:
        answer = client.post("/v1/endpoints/churn/predict", json={"instances": rows})
        assert answer.status_code == 200, answer.text
    with Workspace.open(root, environ={"MLOOP_USER": "tester"}) as ws:
        result = evaluate(ws, "churn", window="24h")
    assert result.drift is not None
    compared = {c.column for c in result.drift.columns}
    assert "signup_date" not in compared and "customer_id" not in compared
    assert len(compared) == 10  # the model's features
    assert result.point("drift.signup_date") is None
