"""[monitors.ENDPOINT] in mloop.toml: the documented example loads; every mistake is refused at
load with the key and the fix."""

from __future__ import annotations

import datetime as dt
import tomllib
from typing import Any

import pytest

from mloop.errors import InvalidInput
from mloop.monitoring.monitor_config import monitor_config, parse_monitor

EXAMPLE = """
[monitors.churn]
window = "24h"
reference = "churn-train@1"
thresholds = ["drift_share <= 0.3", "estimated.roc_auc >= 0.75", "realised.roc_auc >= 0.75",
              "latency_p99_ms <= 50", "null_rate <= 0.1", "kpi.revenue >= 1000"]
segments = ["contract"]
kpis = { revenue = "kpis:revenue" }
webhooks = ["http://127.0.0.1:9/hook", "https://hooks.example.com/mloop"]
"""


def test_the_documented_example_loads() -> None:
    config = monitor_config(tomllib.loads(EXAMPLE), "churn")
    assert config.window == dt.timedelta(hours=24)
    assert config.reference == "churn-train@1"
    assert [str(t) for t in config.thresholds][:2] == [
        "drift_share <= 0.3",
        "estimated.roc_auc >= 0.75",
    ]
    assert config.segments == ("contract",)
    assert config.kpis == {"revenue": "kpis:revenue"}
    assert len(config.webhooks) == 2
    assert config.declared


def test_an_endpoint_without_a_table_gets_the_defaults() -> None:
    config = monitor_config(tomllib.loads(EXAMPLE), "other")
    assert config.window == dt.timedelta(hours=24)
    assert [str(t) for t in config.thresholds] == ["drift_share <= 0.5"]
    assert not config.webhooks and not config.declared


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ({"windw": "1h"}, "unknown key(s) windw; known:"),
        ({"window": "yesterday"}, "window 'yesterday' is not a positive duration"),
        ({"window": 24}, 'window must be a duration in quotes like "24h"'),
        ({"thresholds": "drift_share <= 0.3"}, "thresholds must be a list of strings"),
        ({"thresholds": ["drift_share = 0.3"]}, "is not 'METRIC OP NUMBER'"),
        ({"thresholds": ["latency_p42_ms <= 3"]}, "names no metric a monitor measures"),
        ({"thresholds": ["estimated.auc >= 0.7"]}, "'auc' is not a performance metric"),
        ({"thresholds": ["estimated.r2 >= 0.5"]}, "'r2' is not estimated without labels"),
        ({"thresholds": ["kpi.revenue >= 1"]}, "names KPI 'revenue', which kpis does not declare"),
        ({"kpis": {"revenue": "kpis.revenue"}}, 'kpis.revenue must be "MODULE:FUNCTION"'),
        ({"reference": "churn-train"}, 'reference must be a dataset version "NAME@VERSION"'),
        ({"segments": "contract"}, "segments must be a list of strings"),
        ({"webhooks": ["ftp://example.com/x"]}, "is not an http:// or https:// URL"),
        ({"webhooks": ["http://169.254.169.254/latest"]}, "cloud metadata address"),
        ({"webhooks": ["http://[fd00:ec2::254]/"]}, "cloud metadata address"),
        ({"webhooks": ["http://metadata.google.internal/"]}, "cloud metadata service"),
        ({"webhooks": ["http://169.254.3.4/"]}, "link-local address"),
        ({"webhook_attempts": 0}, "webhook_attempts must be a whole number >= 1"),
        ({"allow_link_local_webhooks": "yes"}, "must be true or false"),
    ],
)
def test_a_mistake_is_refused_naming_the_key_and_the_fix(raw: dict[str, Any], says: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_monitor("churn", raw)
    assert caught.value.message.startswith("[monitors.churn] in mloop.toml: ")
    assert says in caught.value.message


def test_link_local_webhooks_are_allowed_only_when_said() -> None:
    config = parse_monitor(
        "churn", {"webhooks": ["http://169.254.169.254/"], "allow_link_local_webhooks": True}
    )
    assert config.webhooks == ("http://169.254.169.254/",)


def test_a_typo_in_another_endpoints_monitor_is_caught_too() -> None:
    raw = tomllib.loads(EXAMPLE + '\n[monitors.fraud]\nwindow = "soon"\n')
    with pytest.raises(InvalidInput, match=r"\[monitors.fraud\]"):
        monitor_config(raw, "churn")


def test_a_bad_setting_is_exit_2_from_the_cli(cli: Any) -> None:
    from mloop.workspace import Workspace

    ws = Workspace.open(".")
    (ws.root / "mloop.toml").write_text(
        (ws.root / "mloop.toml").read_text() + '\n[monitors.churn]\nthresholds = ["p99 < 3"]\n'
    )
    ws.close()
    result = cli("monitor", "churn")
    assert result.exit_code == 2
    assert "threshold 'p99 < 3' names no metric a monitor measures" in result.stderr
    assert "Traceback" not in result.stderr
