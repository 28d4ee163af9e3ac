"""Retraining policies: ``[policies.ENDPOINT]`` in mloop.toml, checked whole at load.

A policy says what starts a retraining of an endpoint (its triggers), how long to hold off after
one (``cooldown``), what to train on (``data``), how (``train``), which gate the candidate must
pass, and how it goes live (``[policies.ENDPOINT.rollout]``, parsed by ``mloop.rollouts``).
Every key is known: a typo or a bad value is refused here, naming the key and the fix, so a
policy never fails hours later in the middle of the night.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from mloop.data.refs import NAME_PATTERN
from mloop.errors import InvalidInput, MloopError
from mloop.loop.cron import parse_cron
from mloop.monitoring.monitor_config import METRICS, PERFORMANCE_METRICS, PREFIXES, metric_kind
from mloop.predlog.timespec import parse_duration
from mloop.rollouts import RolloutConfig, parse_rollout_config
from mloop.training.defaults import DEFAULTS

TriggerKind = Literal["manual", "schedule", "alert", "dataset"]
POLICY_KEYS = ("triggers", "cooldown", "data", "train", "gate", "rollout")
TRIGGER_KEYS: dict[str, tuple[str, ...]] = {
    "manual": (),
    "schedule": ("cron",),
    "alert": ("alert",),
    "dataset": ("dataset",),
}
TRAIN_KEYS = ("target", "model", "seed", "register", "params", "test_size", "drop", "experiment")
PIPELINE_KEYS = ("pipeline", "params", "register", "target")
PIPELINE_DATA_PARAM = "data"  # the pipeline parameter a policy's ``data`` is passed as
DEFAULT_COOLDOWN = "1h"
EXAMPLE = (
    'triggers = [{ kind = "manual" }, { kind = "schedule", cron = "0 3 * * 1" }, '
    '{ kind = "alert", alert = "drift" }, { kind = "dataset", dataset = "churn" }]'
)


@dataclass(frozen=True)
class Trigger:
    kind: TriggerKind
    cron: str | None = None
    alert: str | None = None  # an alert kind (drift, performance, …) or metric (drift_share)
    dataset: str | None = None

    def to_dict(self) -> dict[str, Any]:
        found = {"cron": self.cron, "alert": self.alert, "dataset": self.dataset}
        return {"kind": self.kind, **{k: v for k, v in found.items() if v is not None}}


@dataclass(frozen=True)
class DataSpec:
    """A dataset version (``latest`` resolved when the job runs), or a window of the log."""

    dataset: str | None
    version: str = "latest"
    log: str | None = None  # "7d": the log's inputs joined with their labels

    def to_dict(self) -> dict[str, Any]:
        if self.log is not None:
            return {"log": self.log, "dataset": self.dataset}
        return {"dataset": self.dataset, "version": self.version}


@dataclass(frozen=True)
class TrainSpec:
    register: str | None  # the model the candidate joins (a pipeline's own, when it registers)
    target: str | None = None
    model: str | None = None
    seed: int = 0
    params: Mapping[str, Any] = field(default_factory=dict)
    test_size: float = 0.2
    drop: tuple[str, ...] = ()
    experiment: str = "retrain"
    pipeline: str | None = None

    def to_dict(self) -> dict[str, Any]:
        if self.pipeline is not None:
            return {
                "pipeline": self.pipeline,
                "params": dict(self.params),
                "register": self.register,
                **({"target": self.target} if self.target is not None else {}),
            }
        return {
            "target": self.target,
            "model": self.model,
            "seed": self.seed,
            "register": self.register,
            "params": dict(self.params),
        }


@dataclass(frozen=True)
class Policy:
    endpoint: str
    triggers: tuple[Trigger, ...]
    cooldown: dt.timedelta
    data: DataSpec
    train: TrainSpec
    gate: str | None
    rollout: RolloutConfig | None = None  # None: a candidate that passed the gate takes the alias
    raw: Mapping[str, Any] = field(default_factory=dict)

    def triggered_by(self, kind: TriggerKind) -> list[Trigger]:
        return [trigger for trigger in self.triggers if trigger.kind == kind]

    def to_dict(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "triggers": [trigger.to_dict() for trigger in self.triggers],
            "cooldown_seconds": self.cooldown.total_seconds(),
            "data": self.data.to_dict(),
            "train": self.train.to_dict(),
            "gate": self.gate,
            "rollout": None if self.rollout is None else self.rollout.to_dict(),
        }


def _fail(endpoint: str, message: str) -> InvalidInput:
    return InvalidInput(f"[policies.{endpoint}] in mloop.toml: {message}")


def _unknown(endpoint: str, where: str, table: Mapping[str, Any], known: tuple[str, ...]) -> None:
    unknown = sorted(set(table) - set(known))
    if unknown:
        raise _fail(
            endpoint,
            f"unknown key(s) {', '.join(unknown)} in {where}; known: {', '.join(known)}.",
        )


def _name(endpoint: str, key: str, value: Any, what: str) -> str:
    if not isinstance(value, str) or not NAME_PATTERN.match(value):
        raise _fail(
            endpoint, f"{key} must be {what} in quotes (letters, digits, _ . -), not {value!r}."
        )
    return value


ALERT_KINDS = tuple(sorted(set(METRICS.values()) | set(PREFIXES.values())))


def _alert_can_fire(alert: str) -> bool:
    """A kind, or a metric a monitor's threshold may name (so an alert may carry it)."""
    if alert in ALERT_KINDS:
        return True
    prefix, _, rest = alert.partition(".")
    if prefix in ("estimated", "realised") and rest not in PERFORMANCE_METRICS:
        return False
    return metric_kind(alert) is not None


def _trigger(endpoint: str, position: int, raw: Any) -> Trigger:
    where = f"triggers[{position}]"
    if not isinstance(raw, Mapping):
        raise _fail(
            endpoint, f'{where} must be an inline table like {{ kind = "manual" }}, not {raw!r}.'
        )
    kind = raw.get("kind")
    if kind not in TRIGGER_KEYS:
        raise _fail(
            endpoint,
            f"{where}.kind must be one of {', '.join(TRIGGER_KEYS)}, not {kind!r}.",
        )
    _unknown(endpoint, where, raw, ("kind", *TRIGGER_KEYS[kind]))
    for key in TRIGGER_KEYS[kind]:
        if key not in raw:
            example = {"cron": '"0 3 * * 1"', "alert": '"drift"', "dataset": '"churn"'}[key]
            raise _fail(endpoint, f"{where} ({kind}) needs {key} = {example}.")
    if kind == "schedule":
        cron = raw["cron"]
        parse_cron(cron, where=f"[policies.{endpoint}] in mloop.toml: {where}.cron")
        return Trigger("schedule", cron=cron)
    if kind == "alert":
        alert = raw["alert"]
        if not isinstance(alert, str) or not alert.strip():
            raise _fail(
                endpoint,
                f"{where}.alert must name an alert kind or metric in quotes "
                f"(drift, performance, latency, operations, drift_share, …), not {alert!r}.",
            )
        if not _alert_can_fire(alert):
            raise _fail(
                endpoint,
                f"{where}.alert {alert!r} is neither an alert kind ({', '.join(ALERT_KINDS)}) "
                "nor a metric a monitor measures (drift_share, estimated.roc_auc, kpi.NAME, …), "
                "so it would never fire; name one of them.",
            )
        return Trigger("alert", alert=alert)
    if kind == "dataset":
        return Trigger(
            "dataset", dataset=_name(endpoint, f"{where}.dataset", raw["dataset"], "a dataset name")
        )
    return Trigger("manual")


def _data(endpoint: str, raw: Any) -> DataSpec:
    fix = 'data = { dataset = "churn", version = "latest" } or data = { log = "7d" }'
    if not isinstance(raw, Mapping):
        raise _fail(endpoint, f"data must be an inline table: {fix}; got {raw!r}.")
    if "log" in raw:
        _unknown(endpoint, "data", raw, ("log", "dataset"))
        log = raw["log"]
        try:
            parse_duration(log, option="data.log")
        except InvalidInput as exc:
            raise _fail(endpoint, exc.message) from None
        dataset = raw.get("dataset", f"{endpoint}-log")
        return DataSpec(_name(endpoint, "data.dataset", dataset, "a dataset name"), log=log)
    _unknown(endpoint, "data", raw, ("dataset", "version"))
    if "dataset" not in raw:
        raise _fail(endpoint, f"data needs a dataset or a log window: {fix}.")
    dataset = _name(endpoint, "data.dataset", raw["dataset"], "a dataset name")
    version = raw.get("version", "latest")
    if isinstance(version, int) and not isinstance(version, bool) and version >= 1:
        version = str(version)
    if not isinstance(version, str) or not (version == "latest" or version.isdigit()):
        raise _fail(
            endpoint, f'data.version must be "latest" or a version number, not {version!r}.'
        )
    return DataSpec(dataset, version=version)


def _params(endpoint: str, raw: Any) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise _fail(endpoint, f"train.params must be a table like {{ C = 1.0 }}, not {raw!r}.")
    return dict(raw)


def _train(endpoint: str, raw: Any) -> TrainSpec:
    fix = (
        'train = { target = "churned", model = "logistic", seed = 3, register = "churn" } '
        'or train = { pipeline = "NAME", register = "churn" }'
    )
    if not isinstance(raw, Mapping):
        raise _fail(endpoint, f"train must be an inline table: {fix}; got {raw!r}.")
    _unknown(endpoint, "train", raw, PIPELINE_KEYS if "pipeline" in raw else TRAIN_KEYS)
    register = raw.get("register")
    if register is None and "pipeline" not in raw:
        raise _fail(
            endpoint, f'train needs register = "MODEL", the model the candidate joins: {fix}.'
        )
    if register is not None:
        register = _name(endpoint, "train.register", register, "a model name")
    params = _params(endpoint, raw.get("params", {}))
    if "pipeline" in raw:
        _unknown(endpoint, "train", raw, PIPELINE_KEYS)
        pipeline = raw["pipeline"]
        if not isinstance(pipeline, str) or not pipeline.strip():
            raise _fail(
                endpoint, f"train.pipeline must name a pipeline in quotes, not {pipeline!r}."
            )
        target = raw.get("target")
        if target is not None and (not isinstance(target, str) or not target):
            raise _fail(endpoint, f"train.target must name the label column, in quotes: {fix}.")
        return TrainSpec(register, params=params, pipeline=pipeline, target=target)
    _unknown(endpoint, "train", raw, TRAIN_KEYS)
    target = raw.get("target")
    if not isinstance(target, str) or not target:
        raise _fail(endpoint, f"train.target must name the column to predict, in quotes: {fix}.")
    model = raw.get("model")
    if model is not None and (not isinstance(model, str) or not model):
        raise _fail(endpoint, f'train.model must be a model name like "logistic", not {model!r}.')
    if model is not None and model not in DEFAULTS and ":" not in model:
        raise _fail(
            endpoint,
            f"train.model {model!r} is not a model; use one of {', '.join(DEFAULTS)} "
            "or MODULE:CALLABLE.",
        )
    seed = raw.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**32:
        raise _fail(
            endpoint, f"train.seed must be a whole number from 0 to 4294967295, not {seed!r}."
        )
    test_size = raw.get("test_size", 0.2)
    if (
        not isinstance(test_size, int | float)
        or isinstance(test_size, bool)
        or not 0 < test_size < 1
    ):
        raise _fail(
            endpoint, f"train.test_size must be a fraction between 0 and 1, not {test_size!r}."
        )
    drop = raw.get("drop", [])
    if not isinstance(drop, list) or not all(isinstance(d, str) for d in drop):
        raise _fail(
            endpoint, f'train.drop must be a list of column names like ["id"], not {drop!r}.'
        )
    experiment = raw.get("experiment", "retrain")
    if not isinstance(experiment, str) or not experiment:
        raise _fail(endpoint, f"train.experiment must be a name in quotes, not {experiment!r}.")
    return TrainSpec(
        register,
        target=target,
        model=model,
        seed=seed,
        params=params,
        test_size=float(test_size),
        drop=tuple(drop),
        experiment=experiment,
    )


def _gate(endpoint: str, raw: Any, gates: Mapping[str, Any]) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str) or raw not in gates:
        known = ", ".join(sorted(gates)) or "none are configured"
        raise _fail(endpoint, f"gate {raw!r} is not a gate in [gates]; gates are: {known}.")
    from mloop.registry.gate_config import get_gate

    get_gate(gates, raw)  # a broken gate is refused now, not when the first candidate waits
    return raw


def _rollout(endpoint: str, raw: Any) -> RolloutConfig | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise _fail(
            endpoint, f"rollout must be a table ([policies.{endpoint}.rollout]), not {raw!r}."
        )
    return parse_rollout_config(raw, where=f"policies.{endpoint}.rollout")


def parse_policy(endpoint: str, raw: Mapping[str, Any], *, gates: Mapping[str, Any]) -> Policy:
    """``[policies.ENDPOINT]`` as a ``Policy``; raises ``InvalidInput`` naming the key and the fix."""
    _unknown(endpoint, f"[policies.{endpoint}]", raw, POLICY_KEYS)
    triggers_raw = raw.get("triggers", [{"kind": "manual"}])
    if not isinstance(triggers_raw, list) or not triggers_raw:
        raise _fail(endpoint, f"triggers must be a non-empty list, like {EXAMPLE}.")
    triggers = tuple(_trigger(endpoint, i, item) for i, item in enumerate(triggers_raw))
    cooldown_text = raw.get("cooldown", DEFAULT_COOLDOWN)
    try:
        cooldown = parse_duration(cooldown_text, option="cooldown")
    except InvalidInput as exc:
        if cooldown_text in ("0", "0s", 0):
            cooldown = dt.timedelta(0)
        else:
            raise _fail(endpoint, exc.message + ' Use "0s" for none.') from None
    if "data" not in raw and not ("train" in raw and "pipeline" in (raw.get("train") or {})):
        raise _fail(endpoint, 'data is missing: data = { dataset = "churn", version = "latest" }.')
    if "train" not in raw:
        raise _fail(
            endpoint, 'train is missing: train = { target = "churned", register = "churn" }.'
        )
    train = _train(endpoint, raw["train"])
    data = _data(endpoint, raw["data"]) if "data" in raw else DataSpec(None)
    if train.pipeline is not None and "data" in raw:
        _check_pipeline_data(endpoint, train, data)
    return Policy(
        endpoint=endpoint,
        triggers=triggers,
        cooldown=cooldown,
        data=data,
        train=train,
        gate=_gate(endpoint, raw.get("gate"), gates),
        rollout=_rollout(endpoint, raw.get("rollout")),
        raw=dict(raw),
    )


def _check_pipeline_data(endpoint: str, train: TrainSpec, data: DataSpec) -> None:
    """``data`` beside a pipeline is passed as its ``data`` parameter, so it is given once, and a
    log window needs the name its labels take in the snapshot."""
    if PIPELINE_DATA_PARAM in train.params:
        raise _fail(
            endpoint,
            "the dataset is given twice, as data and as train.params.data; keep one of them "
            "(data is passed to the pipeline as its data parameter).",
        )
    if data.log is not None and train.target is None:
        raise _fail(
            endpoint,
            f'data = {{ log = "{data.log}" }} snapshots the labelled log for the pipeline, and '
            'the label column needs a name: add target = "churned" (your target) to train.',
        )


def load_policies(raw_settings: Mapping[str, Any]) -> dict[str, Policy]:
    """Every ``[policies.*]`` of the whole mloop.toml (``Settings.raw``); one bad key refuses all."""
    tables = raw_settings.get("policies", {})
    if not isinstance(tables, Mapping):
        raise InvalidInput(
            "[policies] in mloop.toml must hold one table per endpoint, like [policies.churn]."
        )
    gates = raw_settings.get("gates", {})
    gates = gates if isinstance(gates, Mapping) else {}
    policies = {}
    for endpoint, table in tables.items():
        if not isinstance(table, Mapping):
            raise InvalidInput(
                f"policies.{endpoint} in mloop.toml must be a table ([policies.{endpoint}]), not {table!r}."
            )
        try:
            policies[endpoint] = parse_policy(endpoint, table, gates=gates)
        except InvalidInput:
            raise
        except MloopError as exc:  # a gate that is not there, a rollout that cannot be
            raise _fail(endpoint, exc.message) from None
    return policies


def policy_for(raw_settings: Mapping[str, Any], endpoint: str) -> Policy:
    """The policy of ``endpoint``; raises ``NotFound`` when mloop.toml declares none."""
    from mloop.errors import NotFound

    policies = load_policies(raw_settings)
    if endpoint not in policies:
        known = ", ".join(sorted(policies)) or "none are declared"
        raise NotFound(
            f"No retraining policy for endpoint {endpoint!r}; declare [policies.{endpoint}] in "
            f"mloop.toml (see docs/loop.md). Policies: {known}."
        )
    return policies[endpoint]
