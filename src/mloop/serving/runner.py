"""One loaded model version, ready to validate and score plain columns per request.

``ModelRunner.from_loaded`` wraps a registry ``LoadedModel`` (the Python runtime: the scikit-learn
pipeline itself); ``ModelRunner.from_onnx`` wraps the version's checked ONNX export (the ONNX
runtime), given its bytes and the hash the registry recorded for them. Either way:

- ``validate(table)`` checks each row against the signature's rules with the compiled row
  validator (microseconds a row, no DataFrame) and returns every bad value as a ``FieldError``;
- ``score(columns, n_rows)`` answers each row in the target's own labels, with class
  probabilities for classifiers. A row whose prediction raises fails alone: when the batch call
  raises, the rows are scored one by one and only the rows that raise again carry an error.

The fast path builds the model's inputs once per batch from the plain columns
(``serving.inputs.coerce_columns``, the same values ``coerce`` gives) and asks the model once:
for the classifiers whose ``predict`` is by definition the most probable class, the labels are
read off ``predict_proba`` instead of running the pipeline a second time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from mloop.data.compiled import CompiledSchema
from mloop.data.schema import Schema
from mloop.data.violations import FieldError
from mloop.errors import IntegrityError
from mloop.flavors.onnx import OnnxFlavor, OnnxModel, labels_of, probabilities_of
from mloop.hashing import hash_bytes, strip
from mloop.registry.loading import LoadedModel
from mloop.registry.versions import ModelVersion
from mloop.serving.codec import Table
from mloop.serving.errors import ApiError, invalid_input
from mloop.serving.inputs import Column, coerce_columns, scored_numbers, slice_columns
from mloop.serving.scores import Scores
from mloop.signature import Signature

Runtime = Literal["python", "onnx"]
# Final estimators whose predict() is classes_[argmax(predict_proba())] by construction, so one
# predict_proba call answers both (logistic regression: up to a decision exactly at 0 ± 1e-16).
ARGMAX_CLASSIFIERS = frozenset(
    {
        "sklearn.linear_model._logistic.LogisticRegression",
        "sklearn.ensemble._forest.RandomForestClassifier",
        "sklearn.ensemble._forest.ExtraTreesClassifier",
        "sklearn.tree._classes.DecisionTreeClassifier",
        "sklearn.tree._classes.ExtraTreeClassifier",
        "sklearn.neural_network._multilayer_perceptron.MLPClassifier",
        "sklearn.calibration.CalibratedClassifierCV",
    }
)
MAX_ERROR_CHARS = 300


@dataclass(frozen=True)
class Checked:
    """What validation found in one request: errors fail it, warnings (outliers) do not."""

    errors: list[FieldError] = field(default_factory=list)
    warnings: list[FieldError] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)  # columns the model does not read

    @property
    def ok(self) -> bool:
        return not self.errors

    def raise_for_errors(self, *, rows: int) -> None:
        """422 ``invalid_input`` listing each bad value, when there is one."""
        if self.errors:
            raise invalid_input(self.errors, rows=rows)


def serving_rules(signature: Signature) -> Schema:
    """The signature's input rules as one request is judged by them.

    Rules about a whole column (``max_null_rate``, ``unique``, ``max_duplicate_rate``) describe a
    data set, not a request: two customers sending the same row, or one row with a null, are not
    errors. Monitoring checks them over windows of the prediction log.
    """
    schema = signature.rules(with_target=False)
    columns = [
        c.model_copy(update={"max_null_rate": None, "unique": False}) for c in schema.columns
    ]
    return Schema(columns=columns, checks=list(schema.checks), max_duplicate_rate=None)


def _final(model: Any) -> Any:
    return model.steps[-1][1] if hasattr(model, "steps") else model


def _name(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    message = f"{type(error).__name__}: {text[0] if text else ''}".rstrip(": ")
    return message[:MAX_ERROR_CHARS]


class ModelRunner:
    """Validates and scores requests for one model version (thread-safe for one scoring thread)."""

    def __init__(
        self,
        version: ModelVersion,
        model: Any,
        *,
        runtime: Runtime,
        profile: Mapping[str, Any] | None = None,
        root: Path | None = None,
    ) -> None:
        self.version = version
        self.model = model
        self.runtime: Runtime = runtime
        self.signature: Signature = version.signature
        self.features = self.signature.features
        self.inputs = self.signature.input_names
        self._known = set(self.inputs)
        self._integers = {c.name for c in self.signature.inputs if c.type == "integer"}
        self.rules: CompiledSchema | None = (
            serving_rules(self.signature).compile(profile, root=root)
            if self.signature.inputs
            else None
        )
        self.classes: list[Any] | None = self._classes()
        self._argmax = runtime == "python" and (
            f"{type(_final(model)).__module__}.{type(_final(model)).__qualname__}"
            in ARGMAX_CLASSIFIERS
        )
        self._proba = self.classes is not None and (
            hasattr(model, "predict_proba") if runtime == "python" else model.probabilities
        )

    # --- construction --------------------------------------------------------------------------

    @classmethod
    def from_loaded(
        cls,
        loaded: LoadedModel,
        *,
        profile: Mapping[str, Any] | None = None,
        root: Path | None = None,
    ) -> ModelRunner:
        """The Python runtime: the registered model itself (already hash-verified by loading)."""
        if loaded.flavor.name == "onnx":
            return cls(loaded.version, loaded.model, runtime="onnx", profile=profile, root=root)
        return cls(loaded.version, loaded.model, runtime="python", profile=profile, root=root)

    @classmethod
    def from_onnx(
        cls,
        version: ModelVersion,
        data: bytes,
        *,
        expected_hash: str,
        profile: Mapping[str, Any] | None = None,
        root: Path | None = None,
    ) -> ModelRunner:
        """The ONNX runtime, from the version's recorded export; ``IntegrityError`` when the bytes
        are not the ones the registry checked."""
        if hash_bytes(data) != strip(expected_hash):
            raise IntegrityError(
                f"The ONNX export of {version.ref} does not match its recorded hash "
                f"({strip(expected_hash)[:16]}…); export it again with `mloop models export --onnx`."
            )
        model = OnnxFlavor().load(data, expected_hash=expected_hash)
        return cls(version, model, runtime="onnx", profile=profile, root=root)

    def _classes(self) -> list[Any] | None:
        found: Any = None
        if self.runtime == "python":
            found = getattr(self.model, "classes_", None)
        elif isinstance(self.model, OnnxModel):
            found = self.model.classes
        if found is None:
            found = self.signature.output.classes
        return None if found is None else np.asarray(found).tolist()

    @property
    def outputs(self) -> list[str]:
        """The V2 outputs this model answers."""
        return ["predict", "predict_proba"] if self._proba else ["predict"]

    @property
    def has_probabilities(self) -> bool:
        return self._proba

    def __repr__(self) -> str:
        return f"ModelRunner({self.version.ref}, {self.runtime})"

    # --- validation ----------------------------------------------------------------------------

    def unknown_columns(self, table: Table) -> list[str]:
        return [name for name in table.columns if name not in self._known]

    def validate(self, table: Table) -> Checked:
        """Every bad value of the request's rows, against the rules the training data met."""
        unknown = self.unknown_columns(table)
        if self.rules is None or table.n_rows == 0:
            return Checked(unknown=unknown)
        found = self.rules.validate_records(table.records())
        return Checked(found.errors, found.warnings, unknown)

    def scored_inputs(self, table: Table) -> dict[str, list[Any]]:
        """The numeric feature columns the request sent as something other than numbers
        (``"72"``, ``true``), as the numbers this model scored: what the prediction log keeps,
        so a numeric column stays numeric in every segment. Empty for most requests."""
        if self.features is None:  # the model reads the values as sent
            return {}
        out: dict[str, list[Any]] = {}
        for name in self.features.numeric:
            values = table.columns.get(name)
            if values is None:
                continue
            found = scored_numbers(name, values, self.features, integer=name in self._integers)
            if found is not None:
                out[name] = found
        return out

    # --- scoring -------------------------------------------------------------------------------

    def _frame(
        self, columns: Mapping[str, Column], n_rows: int
    ) -> dict[str, np.ndarray] | pd.DataFrame:
        if self.features is not None:
            return coerce_columns(columns, n_rows, self.features)
        absent: list[Any] = [None] * n_rows
        return pd.DataFrame(
            {name: columns.get(name, absent) for name in self.inputs} or dict(columns)
        )

    def _predict(
        self, columns: Mapping[str, Column], n_rows: int
    ) -> tuple[np.ndarray, np.ndarray | None]:
        prepared = self._frame(columns, n_rows)
        if self.runtime == "onnx":
            outputs = (
                self.model.run(prepared)
                if isinstance(prepared, pd.DataFrame)
                else self._run_onnx(prepared)
            )
            proba = probabilities_of(self.model, outputs) if self._proba else None
            return labels_of(self.model, outputs), proba
        frame = (
            prepared if isinstance(prepared, pd.DataFrame) else pd.DataFrame(prepared, copy=False)
        )
        if not self._proba:
            return np.asarray(self.model.predict(frame)), None
        proba = np.asarray(self.model.predict_proba(frame), dtype=np.float64)
        if self._argmax:
            labels = np.asarray(self.model.classes_)[np.argmax(proba, axis=1)]
        else:
            labels = np.asarray(self.model.predict(frame))
        return labels, proba

    def _run_onnx(self, data: dict[str, np.ndarray]) -> list[np.ndarray]:
        """The ONNX session fed straight from the coerced columns (no DataFrame)."""
        model: OnnxModel = self.model
        feeds: dict[str, np.ndarray] = {}
        if model.columns is not None:  # one matrix holding every column, in order
            name, kind = model.inputs[0]
            matrix = np.column_stack([data[c] for c in model.columns])
            feeds[name] = matrix.astype(np.float64 if "double" in kind else np.float32)
        else:
            for name, kind in model.inputs:
                column = data[model.sources[name]]
                if "string" in kind:  # category strings already (coerce_columns)
                    feeds[name] = column.astype(object).reshape(-1, 1)
                else:
                    numbers = np.float64 if "double" in kind else np.float32
                    feeds[name] = column.astype(numbers).reshape(-1, 1)
        return list(model.session.run(None, feeds))

    def _scores(self, columns: Mapping[str, Column], n_rows: int) -> Scores:
        labels, proba = self._predict(columns, n_rows)
        if len(labels) != n_rows or (proba is not None and proba.shape[0] != n_rows):
            raise ValueError(f"the model answered {len(labels)} rows for {n_rows}")
        return Scores(labels.tolist(), [None] * n_rows, proba, self.classes)

    def _failed(self, n_rows: int, error: BaseException) -> Scores:
        proba = None
        if self._proba and self.classes is not None:
            proba = np.full((n_rows, len(self.classes)), np.nan)
        return Scores([None] * n_rows, [_name(error)] * n_rows, proba, self.classes)

    def score(self, columns: Mapping[str, Column], n_rows: int) -> Scores:
        """Answer each of ``n_rows`` rows; a row that cannot be scored carries its error instead."""
        if n_rows == 0:
            return self._failed(0, ValueError())
        try:
            return self._scores(columns, n_rows)
        except Exception as batch_error:
            if n_rows == 1:
                return self._failed(1, batch_error)
        parts = []
        for row in range(n_rows):
            one = slice_columns(columns, row, row + 1)
            try:
                parts.append(self._scores(one, 1))
            except Exception as error:
                parts.append(self._failed(1, error))
        return Scores.concat(parts)

    def score_table(self, table: Table) -> Scores:
        return self.score(table.columns, table.n_rows)

    def warm(self) -> Scores | None:
        """Score the signature's input example once, so the first request does not pay for
        lazy imports and first-call setup; None when the version has no example."""
        example = self.signature.input_example
        if not example:
            return None
        names = list(dict.fromkeys(k for row in example for k in row))
        columns = {n: [row.get(n) for row in example] for n in names}
        return self.score(columns, len(example))

    def check_ready(self) -> None:
        """Raise 503 ``not_ready`` when warming fails on every row (a model that cannot answer)."""
        scored = self.warm()
        if scored is not None and len(scored) and scored.failed == len(scored):
            raise ApiError(
                503,
                "not_ready",
                f"{self.version.ref} fails on its own input example ({scored.errors[0]}).",
            )
