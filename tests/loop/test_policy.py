"""[policies.ENDPOINT]: the documented example loads; every bad key or value is refused at
load with the key and the fix (exit 2), before any job starts."""

from __future__ import annotations

import datetime as dt
import json
import tomllib
from typing import Any

import pytest

from mloop.config import DEFAULT_TOML
from mloop.errors import InvalidInput
from mloop.loop.policy import load_policies
from mloop.loop.settings import agent_settings
from mloop.training.defaults import DEFAULTS
from mloop.training.estimators import BUILTIN
from mloop.workspace import Workspace
from tests.loop.conftest import write_policy

EXAMPLE = """
[policies.churn]
triggers = [{ kind = "manual" }, { kind = "schedule", cron = "0 3 * * 1" }, { kind = "alert", alert = "drift" }, { kind = "dataset", dataset = "churn" }]
cooldown = "1h"
data = { dataset = "churn", version = "latest" }   # or { log = "7d" }: the log's inputs joined with their labels
train = { target = "churned", model = "logistic", seed = 3, register = "churn", params = { C = 1.0 } }   # or { pipeline = "NAME" }
gate = "production"

[policies.churn.rollout]
strategy = "canary"        # or "shadow"
weight = 20
min_sample = 200           # requests answered by the candidate before any verdict
watch = "10m"              # the verdict is due by then; a window that ends short of min_sample ends rejected
guardrails = ["error_rate <= 0.01", "rejection_rate <= 0.05", "latency_p99_ms <= 50", "prediction_drift <= 0.2", "realised.roc_auc >= 0.75"]
"""


def _load(text: str) -> Any:
    return load_policies(tomllib.loads(DEFAULT_TOML + text))


def test_the_documented_example_loads() -> None:
    policy = _load(EXAMPLE)["churn"]
    assert [t.kind for t in policy.triggers] == ["manual", "schedule", "alert", "dataset"]
    assert policy.triggers[1].cron == "0 3 * * 1"
    assert policy.cooldown == dt.timedelta(hours=1)
    assert policy.data.dataset == "churn" and policy.data.version == "latest"
    assert policy.train.register == "churn" and policy.train.params == {"C": 1.0}
    assert policy.gate == "production"
    assert policy.rollout is not None and policy.rollout.strategy == "canary"
    assert policy.rollout.weight == 20 and policy.rollout.min_sample == 200
    assert policy.rollout.watch_seconds == 600 and len(policy.rollout.guardrails) == 5


def test_a_bad_rollout_value_is_refused_by_the_rollouts_own_rules() -> None:
    with pytest.raises(InvalidInput) as refused:
        _load(EXAMPLE.replace("weight = 20", "weight = 120"))
    assert "policies.churn.rollout.weight" in refused.value.message


@pytest.mark.parametrize(
    "alert", ["performance", "drift_share", "estimated.roc_auc", "kpi.revenue"]
)
def test_an_alert_trigger_takes_a_kind_or_a_metric(alert: str) -> None:
    policy = _load(EXAMPLE.replace('alert = "drift"', f'alert = "{alert}"'))["churn"]
    assert policy.triggers[2].alert == alert


def test_a_log_window_names_its_dataset() -> None:
    policy = _load(EXAMPLE.replace('{ dataset = "churn", version = "latest" }', '{ log = "7d" }'))
    assert policy["churn"].data.log == "7d"
    assert policy["churn"].data.dataset == "churn-log"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (('cooldown = "1h"', 'cooldwn = "1h"'), "unknown key(s) cooldwn"),
        (('cooldown = "1h"', 'cooldown = "soon"'), "cooldown 'soon' is not a positive duration"),
        (('cron = "0 3 * * 1"', 'cron = "0 3 * *"'), "is not a cron expression"),
        (('cron = "0 3 * * 1"', 'cron = "61 3 * * 1"'), "is not a cron expression"),
        (
            ('kind = "manual"', 'kind = "hourly"'),
            "triggers[0].kind must be one of manual, schedule, alert, dataset",
        ),
        (('alert = "drift"', 'alrt = "drift"'), "unknown key(s) alrt in triggers[2]"),
        (
            ('alert = "drift"', 'alert = "drfit"'),
            "triggers[2].alert 'drfit' is neither an alert kind (drift, kpi, latency, null_rate, "
            "operations, performance) nor a metric a monitor measures",
        ),
        (('alert = "drift"', 'alert = "estimated.auc"'), "triggers[2].alert 'estimated.auc'"),
        (('gate = "production"', 'gate = "strict"'), "gate 'strict' is not a gate in [gates]"),
        (("seed = 3", "seed = -1"), "train.seed must be a whole number"),
        (
            ('model = "logistic"', 'model = "logistc"'),
            "train.model 'logistc' is not a model; use one of logistic, ridge",
        ),
        (('register = "churn"', 'registr = "churn"'), "unknown key(s) registr in train"),
        (
            ('version = "latest"', 'version = "newest"'),
            'data.version must be "latest" or a version number',
        ),
        (("data = {", 'data = { log = "a week", '), "unknown key(s) version in data"),
    ],
)
def test_a_bad_key_or_value_is_refused_naming_it(change: tuple[str, str], expected: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        _load(EXAMPLE.replace(*change))
    assert refused.value.message.startswith("[policies.churn] in mloop.toml")
    assert expected in refused.value.message


PIPELINE_TRAIN = 'train = { target = "churned", model = "logistic", seed = 3, register = "churn", params = { C = 1.0 } }'


def test_a_pipeline_policy_takes_its_data_once_and_a_log_needs_a_target() -> None:
    with_data = EXAMPLE.replace(PIPELINE_TRAIN, 'train = { pipeline = "churn" }')
    assert _load(with_data)["churn"].data.dataset == "churn"
    twice = EXAMPLE.replace(
        PIPELINE_TRAIN, 'train = { pipeline = "churn", params = { data = "churn@1" } }'
    )
    with pytest.raises(InvalidInput) as refused:
        _load(twice)
    assert "given twice, as data and as train.params.data" in refused.value.message
    from_log = with_data.replace('{ dataset = "churn", version = "latest" }', '{ log = "7d" }')
    with pytest.raises(InvalidInput, match='add target = "churned"'):
        _load(from_log)
    policy = _load(from_log.replace('pipeline = "churn"', 'pipeline = "churn", target = "churned"'))
    assert policy["churn"].train.target == "churned" and policy["churn"].data.log == "7d"


def test_agent_settings_refuse_a_heartbeat_as_long_as_the_lease() -> None:
    assert agent_settings({}).lease == 30.0  # lapses within a minute by default
    with pytest.raises(InvalidInput, match="heartbeat"):
        agent_settings({"agent": {"lease": "10s", "heartbeat": "10s"}})
    with pytest.raises(InvalidInput, match="unknown key"):
        agent_settings({"agent": {"tik": "1s"}})


def test_mloop_retrain_refuses_a_bad_policy_with_exit_2(cli: Any, workspace: Workspace) -> None:
    write_policy(workspace, EXAMPLE.replace('model = "logistic"', 'modle = "logistic"'))
    result = cli("retrain", "churn")
    assert result.exit_code == 2
    assert "[policies.churn] in mloop.toml: unknown key(s) modle in train" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unknown_model_is_refused_before_any_job_is_recorded(
    cli: Any, workspace: Workspace
) -> None:
    write_policy(workspace, EXAMPLE.replace('model = "logistic"', 'model = "logistc"'))
    result = cli("retrain", "churn")
    assert result.exit_code == 2, result.stderr
    assert "train.model 'logistc' is not a model" in result.stderr
    assert json.loads(cli("jobs", "ls", "--json").stdout) == []
    # the policy checks names against the defaults' table (no scikit-learn import at load)
    assert list(DEFAULTS) == list(BUILTIN)


def test_mloop_retrain_without_a_policy_says_how_to_declare_one(cli: Any) -> None:
    result = cli("retrain", "churn")
    assert result.exit_code == 2
    assert "No retraining policy for endpoint 'churn'" in result.stderr


def test_the_docs_show_the_example_that_loads() -> None:
    import re
    from pathlib import Path

    docs = (Path(__file__).resolve().parents[2] / "docs" / "loop.md").read_text()
    blocks = re.findall(r"```toml\n(.*?)```", docs, flags=re.S)
    assert EXAMPLE.strip() in [block.strip() for block in blocks]
    assert "[docs/rollouts.md](rollouts.md)" in docs
    for block in blocks:  # every toml block in the docs is a valid configuration
        load_policies(tomllib.loads(DEFAULT_TOML + block))
        agent_settings(tomllib.loads(block))


def test_listing_the_jobs_or_rollouts_of_an_unknown_endpoint_is_refused(
    cli: Any, workspace: Workspace
) -> None:
    write_policy(workspace, EXAMPLE)
    for command in (("jobs", "ls"), ("rollouts", "ls")):
        typo = cli(*command, "--endpoint", "chrun")
        assert typo.exit_code == 2, typo.stdout
        assert "No endpoint named 'chrun'" in typo.stderr
        assert "Traceback" not in typo.stderr
        # an endpoint with a policy but no job (nor deploy) yet is an empty listing
        assert json.loads(cli(*command, "--endpoint", "churn", "--json").stdout) == []
    # and its empty table has the retraining columns, not the batch ones
    assert "trigger" in cli("jobs", "ls", "--endpoint", "churn").stdout
    assert "trigger" in cli("jobs", "ls", "--kind", "retrain").stdout


def test_a_retrain_whose_rollout_has_no_endpoint_is_refused_before_any_job(
    cli: Any, workspace: Workspace
) -> None:
    """Otherwise the job trains, registers and gates a candidate, then fails at the rollout."""
    write_policy(workspace, EXAMPLE)
    result = cli("retrain", "churn")
    assert result.exit_code == 2, result.stdout
    assert (
        "[policies.churn] in mloop.toml retrains endpoint 'churn', which is not deployed (this "
        "workspace has no endpoints yet); deploy it first (`mloop deploy churn MODEL_REF`)."
        in " ".join(result.stderr.split())
    )
    assert "Traceback" not in result.stderr
    assert json.loads(cli("jobs", "ls", "--json").stdout) == []
