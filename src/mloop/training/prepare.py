"""The first stage of ``mloop train``: everything that can be checked before a run exists.

The dataset version is read from its snapshot, the target and the task settled (inferred, or
``--task``), the model checked against the task, the feature columns chosen, and the rows checked
against the rules in force (the dataset's current schema, as the model's signature will carry
them). A bad target, task, model or split is refused here, so no run is left behind for it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mloop.artifacts import ArtifactStore
from mloop.data.datasets import (
    DatasetVersion,
    current_schema_revision,
    get_version,
    load_frame,
)
from mloop.data.io import EmptyRows
from mloop.data.refs import did_you_mean
from mloop.data.schema import ColumnType, Schema
from mloop.data.validation import ValidationReport, validate_frame
from mloop.errors import InvalidInput
from mloop.plural import plural
from mloop.scoring.features import FeatureSpec, feature_spec, named_id
from mloop.scoring.targets import Task, labelled, target_values
from mloop.signature import Signature
from mloop.store import Store
from mloop.training.estimators import BUILTIN, DEFAULT_MODEL, models_for

MAX_CLASSES_FOR_INTEGER_TARGET = 20
MAX_COLUMNS_LISTED = 20
TEXT_TYPES = {"boolean", "categorical", "string"}


@dataclass(frozen=True)
class Prepared:
    """A dataset version made ready to train on, with the rules its rows were checked against."""

    version: DatasetVersion
    frame: pd.DataFrame  # the rows with a target value
    target: str
    target_type: ColumnType
    task: Task
    model: str
    spec: FeatureSpec
    y: np.ndarray
    rules: Schema  # the dataset's current schema
    revision: int
    # The rows against the signature's rules; filled in by ``prepare`` once the rules are known.
    validation: ValidationReport = field(default_factory=lambda: ValidationReport(0, []))

    def signature(self, classes: Any = None, example: pd.DataFrame | None = None) -> Signature:
        return Signature.build(
            schema=self.rules,
            schema_revision=self.revision,
            inferred=self.version.schema,
            target=self.target,
            task=self.task,
            target_type=self.target_type,
            classes=classes,
            features=self.spec,
            dataset=self.version.ref,
            dataset_hash=self.version.content_hash,
            example=example,
        )


def infer_task(schema: Schema, target: str, values: pd.Series) -> Task:
    kind = schema.column(target).type
    if kind in TEXT_TYPES:
        return Task.CLASSIFICATION
    if kind == "integer" and values.nunique() <= MAX_CLASSES_FOR_INTEGER_TARGET:
        return Task.CLASSIFICATION
    return Task.REGRESSION


def prepare(
    store: Store,
    artifacts: ArtifactStore,
    *,
    data: str,
    target: str,
    model: str | None,
    task: Task | str | None,
    test_size: float,
    drop: Sequence[str],
    root: Path,
    say: Callable[[str], None],
) -> Prepared:
    """Raises ``NotFound`` for an unknown dataset, ``InvalidInput`` for a bad target, task, model
    or split, or a custom check that cannot run."""
    version = get_version(store, data)
    schema = version.schema
    _check_target(schema, target)
    if not 0.0 < test_size < 1.0:
        raise InvalidInput(f"--test-size must be between 0 and 1 (exclusive); got {test_size}.")
    if model is not None and model not in BUILTIN and ":" not in model:
        raise InvalidInput(
            f"Unknown --model {model!r}; use one of {', '.join(BUILTIN)} or MODULE:CALLABLE."
        )
    kind = schema.column(target).type
    chosen = _check_task(task, kind, target)
    say(f"reading {version.ref}")
    empty = EmptyRows()
    frame = load_frame(store, artifacts, version, empty=empty)
    known = labelled(frame[target]).to_numpy(dtype=bool)
    frame = frame[known].reset_index(drop=True)
    if len(frame) < 2:
        raise InvalidInput(
            f"{version.ref} has {plural(len(frame), 'row')} with a value in {target!r}; at least 2 are needed."
        )
    chosen = chosen or infer_task(schema, target, frame[target])
    if kind == "integer" and named_id(target, version.profile.get("columns", {})):
        # as a feature it is left out; as a target there is nothing to learn, whatever r2 says
        raise InvalidInput(
            f"Target {target!r} is an id (named as one, a distinct integer in every row); "
            "choose the column you mean to predict."
        )
    model = model or DEFAULT_MODEL[chosen]
    _check_model(model, chosen, target, overridden=task is not None)
    spec = feature_spec(
        schema, target=target, profile=version.profile.get("columns", {}), drop=drop
    )
    y = target_values(frame[target], kind, chosen)
    if chosen == Task.CLASSIFICATION:
        _check_classes(y, target, version.ref)
    rules, revision = current_schema_revision(store, version.name)
    prepared = Prepared(version, frame, target, kind, chosen, model, spec, y, rules, revision)
    say(f"checking {version.ref} against schema revision {revision}")
    report = validate_frame(prepared.signature().rules(), frame, root=root)
    # rows named as in the file added: past the rows left out for no label, and the empty ones
    in_file = empty.in_file(np.flatnonzero(known) + 1)
    report = replace(report.renumbered(lambda rows: in_file[rows - 1]), empty_rows=empty.count)
    return replace(prepared, validation=report)


def _check_target(schema: Schema, target: str) -> None:
    names = schema.names()
    if target not in names:
        raise InvalidInput(
            f"Target column {target!r} is not in the dataset; {_columns_hint(target, names)}"
        )
    if schema.column(target).type == "datetime":
        raise InvalidInput(
            f"Target {target!r} is a datetime column, and mloop train predicts classes or numbers; "
            "choose another --target (or add a numeric column derived from the date)."
        )


def _check_task(task: Task | str | None, kind: str, target: str) -> Task | None:
    """``--task`` overrides inference, but text cannot be regressed on."""
    if task is None:
        return None
    try:
        chosen = Task(task)
    except ValueError:
        raise InvalidInput(
            f"--task must be {' or '.join(t.value for t in Task)}; got {task!r}."
        ) from None
    if chosen == Task.REGRESSION and kind in TEXT_TYPES:
        raise InvalidInput(
            f"Target {target!r} is a {kind} column, so it cannot be predicted as a number; "
            "use --task classification (or leave --task out)."
        )
    return chosen


def _check_model(model: str, task: Task, target: str, *, overridden: bool) -> None:
    """A built-in model made for the other task is refused, naming the ones that fit."""
    if model not in BUILTIN or task in BUILTIN[model]:
        return
    how = "" if overridden else ", as inferred from its values (--task overrides)"
    raise InvalidInput(
        f"--model {model} does not fit {target!r}, a {task.value} target{how}; "
        f"use one of {', '.join(models_for(task))}, or MODULE:CALLABLE."
    )


def _columns_hint(target: str, names: list[str]) -> str:
    """The closest column names, or all of them when there are few: a wide table's 1,500 names
    in an error message bury the one that matters."""
    close = did_you_mean(target, names)
    if close:
        return close
    if len(names) <= MAX_COLUMNS_LISTED:
        return f"columns are: {', '.join(names)}."
    shown = ", ".join(names[:MAX_COLUMNS_LISTED])
    return f"columns are: {shown}, … ({len(names)} in all; `mloop data show` lists them)."


def _check_classes(y: np.ndarray, target: str, ref: str) -> None:
    classes = len(np.unique(y.astype(str)))
    if classes < 2:
        raise InvalidInput(
            f"Target {target!r} has a single class in {ref}; a classifier needs at least two."
        )
    # An ID or free-text column: most classes would have one row, so nothing can be learned (and
    # scikit-learn only warns). Two classes pass, so a tiny binary table still trains.
    if classes > 2 and classes > len(y) / 2:
        raise InvalidInput(
            f"Target {target!r} has {classes} distinct values in {len(y)} rows, so most classes "
            "have a single row (an ID or free text?); choose a column whose values repeat."
        )
