"""A model's signature: what it reads, under which rules, and what it answers.

One typed, immutable object, built in one place (``Signature.build``) and stored with the model
version. Its rules are the dataset's *current* schema (what ``data schema --import`` made them,
with its revision number), not the types inferred when the version was added, so the ``max`` or
custom check a user imported is the one training validates against, gates check the holdout with,
and serving and monitoring will check requests with. ``Signature.from_stored`` reads the untyped
dicts stored with model versions before it existed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mloop.data.schema import ColumnSchema, ColumnType, CustomCheck, Scalar, Schema
from mloop.scoring.features import FeatureSpec
from mloop.scoring.targets import Task

FORMAT = 2  # 1: the untyped dicts stored before this module
EXAMPLE_ROWS = 3
log = logging.getLogger(__name__)


class Output(BaseModel):
    """What the model answers: a class (with the labels it knows) or a number."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    type: Literal["class", "number", "unknown"] = "unknown"
    classes: list[Scalar] | None = None
    proba: bool = False


class Signature(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")
    format: int = FORMAT
    target: str | None = None
    target_type: ColumnType | None = None
    task: Task | None = None
    # How the inputs feed the model (numeric, categorical, boolean, dropped); None when the
    # model was logged from Python and reads its columns as given.
    features: FeatureSpec | None = None
    inputs: list[ColumnSchema] = Field(default_factory=list)  # each input's type and rules
    target_rules: ColumnSchema | None = None
    checks: list[CustomCheck] = Field(default_factory=list)  # table-wide custom checks
    output: Output = Field(default_factory=Output)
    dataset: str | None = None  # NAME@N the model was trained on
    dataset_hash: str | None = None
    schema_revision: int | None = None  # the revision of the dataset's schema the rules are from
    input_example: list[dict[str, Any]] | None = None

    @property
    def classes(self) -> list[Scalar] | None:
        return self.output.classes

    @property
    def input_names(self) -> list[str]:
        """The columns the model reads."""
        if self.features is not None:
            return list(self.features.columns)
        return [c.name for c in self.inputs]

    @property
    def has_rules(self) -> bool:
        return bool(self.inputs or self.target_rules or self.checks)

    def rules(self, *, with_target: bool = True) -> Schema:
        """The rules in force as a ``Schema``: inputs, the target (rows to score carry it) and checks."""
        columns = list(self.inputs)
        if with_target and self.target_rules is not None:
            columns.append(self.target_rules)
        return Schema(columns=columns, checks=list(self.checks))

    def to_stored(self) -> dict[str, Any]:
        """The JSON document stored with the model version (and shown by ``--json``)."""
        return self.model_dump(mode="json")

    @classmethod
    def from_stored(cls, data: Mapping[str, Any] | None) -> Signature:
        """Read a stored signature, including the untyped dicts of format 1.

        Those kept the classes at the top level, an empty ``features`` for Python-logged models,
        and input rules as then inferred; a rule that no longer parses is left out (and logged)
        rather than making the model version unreadable.
        """
        raw = dict(data or {})
        stored_format = int(raw.get("format", 1))
        task = raw.get("task") if raw.get("task") in {t.value for t in Task} else None
        output = dict(raw.get("output") or {})
        output.setdefault("classes", raw.get("classes"))
        output.setdefault(
            "type",
            "class"
            if task == Task.CLASSIFICATION
            else "number"
            if task == Task.REGRESSION
            else "unknown",
        )
        output.setdefault("proba", task == Task.CLASSIFICATION)
        inputs = []
        for entry in raw.get("inputs") or []:
            try:
                inputs.append(ColumnSchema.model_validate(entry))
            except ValidationError as exc:
                log.warning("stored signature input %r left out: %s", entry, exc.errors()[0]["msg"])
        features = raw.get("features") or None
        return cls.model_validate(
            {
                **raw,
                "format": stored_format,
                "task": task,
                "features": None if not features else FeatureSpec.from_dict(features),
                "inputs": inputs,
                "output": output,
            }
        )

    @classmethod
    def build(
        cls,
        *,
        schema: Schema,
        schema_revision: int | None,
        target: str | None,
        task: Task | str | None,
        target_type: ColumnType | None = None,
        classes: Sequence[Any] | None = None,
        features: FeatureSpec | None = None,
        inferred: Schema | None = None,
        dataset: str | None = None,
        dataset_hash: str | None = None,
        example: pd.DataFrame | None = None,
    ) -> Signature:
        """The one place a signature is made.

        ``schema`` is the dataset's current schema (the rules in force) at ``schema_revision``;
        ``inferred`` (the dataset version's own schema) fills in a column the current schema
        does not describe. The inputs are the feature columns, else the example's columns, else
        every column but the target.
        """
        if features is not None:
            names = list(features.columns)
        elif example is not None:
            names = [str(c) for c in example.columns if str(c) != target]
        else:
            names = [n for n in schema.names() if n != target]

        def rules_of(name: str) -> ColumnSchema | None:
            for source in (schema, inferred):
                if source is not None and name in source.names():
                    return source.column(name)
            return None

        inputs = [rule for rule in map(rules_of, names) if rule is not None]
        target_rules = None if target is None else rules_of(target)
        kind = Task(task) if task is not None else None
        plain = None if classes is None else [_plain(c) for c in classes]
        shown = None
        if example is not None:
            picked = example[[c for c in names if c in example.columns]].head(EXAMPLE_ROWS)
            shown = json.loads(picked.to_json(orient="records", date_format="iso"))
        return cls(
            target=target,
            target_type=target_type or (None if target_rules is None else target_rules.type),
            task=kind,
            features=features,
            inputs=inputs,
            target_rules=target_rules,
            checks=list(schema.checks),
            output=Output(
                type="class"
                if kind == Task.CLASSIFICATION
                else "number"
                if kind == Task.REGRESSION
                else "unknown",
                classes=plain,
                proba=kind == Task.CLASSIFICATION,
            ),
            dataset=dataset,
            dataset_hash=dataset_hash,
            schema_revision=schema_revision,
            input_example=shown,
        )


def _plain(value: Any) -> Any:
    """numpy scalars as Python ones, so the stored JSON holds ``true``, not ``"True"``."""
    return value.item() if hasattr(value, "item") else value
