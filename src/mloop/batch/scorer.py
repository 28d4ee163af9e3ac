"""One table of rows in, predictions and rejects out: what both batch scoring and
``mloop.predict`` do to each chunk.

The rules are the model's signature (``Signature.rules(with_target=False)``: a file to score
need not hold the answer), compiled once with the training data's profile for outlier fences and
checked per chunk by the Arrow batch validator. Only the rules about a single row reject it:
type, missing, bounds, allowed values, outliers set to ``error``, custom checks. The rules about
a whole data set (``unique``, ``max_null_rate``, repeated rows) say nothing about whether one row
can be scored, and would judge a row by the chunk it happened to land in, so they are left out.

A row the model itself raises on (a value the pipeline cannot handle) is found by splitting the
chunk in halves until the failing rows stand alone, and is rejected with rule ``model``; the rest
of its chunk is scored. A model that fails on many rows fails the job instead.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from mloop.artifacts import ArtifactStore
from mloop.data.chunks import typed_columns
from mloop.data.compiled import CompiledSchema
from mloop.data.io import to_pandas
from mloop.data.schema import Schema, category_text
from mloop.data.violations import FieldError
from mloop.errors import InvalidInput, NotFound
from mloop.registry.loading import LoadedModel, load_version
from mloop.registry.versions import resolve
from mloop.signature import Signature
from mloop.store import Store

PREDICTION = "prediction"
PROBA_PREFIX = "proba_"
MODEL_RULE = "model"
# Past this many rows of one chunk that the model raises on, the model is broken, not the rows.
MAX_MODEL_FAILURES = 100
MAX_NAMES_SHOWN = 20  # of a file that has none of the columns a model reads
REJECT_SCHEMA = pa.schema(
    [
        ("row", pa.int64()),
        ("column", pa.string()),
        ("rule", pa.string()),
        ("value", pa.string()),
        ("message", pa.string()),
    ]
)


def _model_frame(table: pa.Table) -> pd.DataFrame:
    """The frame the model reads: ``io.to_pandas``'s values (text as Python ``str``/``None``,
    numbers with NaN), built column by column without its detour through pandas' Arrow strings."""
    columns: dict[str, Any] = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            # object, as to_pandas makes it: pandas would otherwise re-box it as Arrow strings
            columns[name] = pd.Series(column.to_numpy(zero_copy_only=False), dtype=object)
        else:
            columns[name] = to_pandas(pa.table({name: column}))[name]
    return pd.DataFrame(columns)


def scoring_rules(signature: Signature) -> Schema:
    """The signature's rules that judge one row: its inputs' and its custom checks."""
    columns = [
        column.model_copy(update={"unique": False, "max_null_rate": None})
        for column in signature.inputs
    ]
    return Schema(columns=columns, checks=list(signature.checks))


@dataclass(frozen=True)
class Scored:
    """One chunk's outcome: ``kept`` (0-based rows of the chunk that were scored, in order),
    their ``predictions`` (a table of prediction columns), the ``rejects`` (rows 1-based within
    the chunk) and warnings counted per (column, rule)."""

    kept: np.ndarray
    predictions: pa.Table
    rejects: list[FieldError]
    warnings: Counter[tuple[str, str]]


class _TooManyFailures(Exception):
    pass


class ModelFailures(InvalidInput):
    """The model raised on more than ``MAX_MODEL_FAILURES`` rows of one chunk. ``row`` is the
    first (1-based within the chunk): only the caller knows where the chunk began in its file,
    so it names the row as the user would find it (``at``). ``cause`` may be its text alone,
    as a Ray worker hands it back."""

    def __init__(
        self, ref: str, row: int, cause: Exception | str, where: str | None = None
    ) -> None:
        self.ref, self.row = ref, row
        self.cause = cause if isinstance(cause, Exception) else None
        self.described = cause if isinstance(cause, str) else f"{type(cause).__name__}: {cause}"
        super().__init__(
            f"{ref} raised on more than {MAX_MODEL_FAILURES} rows of one chunk (first, "
            f"{where or f'row {row} of the chunk'}: {self.described}); check "
            "that the input matches the data the model was trained on."
        )

    def at(self, where: str) -> ModelFailures:
        """The same failure, its first row named by ``where`` (``"row 5,123 of in.csv"``)."""
        return ModelFailures(self.ref, self.row, self.cause or self.described, where)


class Scorer:
    """A loaded model and its compiled rules, applied chunk after chunk."""

    def __init__(self, model: LoadedModel, rules: CompiledSchema) -> None:
        self.model = model
        self.rules = rules
        signature = model.version.signature
        self.inputs = signature.input_names
        # The columns the model reads: its feature spec, else what the fitted pipeline was
        # given (a model logged from Python may read fewer columns than the signature has
        # rules for), else the signature's inputs.
        fitted = getattr(model.model, "feature_names_in_", None)
        if signature.features is None and fitted is not None:
            self.reads = [str(c) for c in fitted]
        else:
            self.reads = list(self.inputs)
        ruled = {c.name: c for c in signature.inputs}
        self.optional = {n for n in self.reads if n in ruled and not ruled[n].required}
        self.is_classifier = signature.output.type == "class" or signature.output.proba
        classes = getattr(model.model, "classes_", None)
        self.classes: list[Any] | None = (
            [c.item() if hasattr(c, "item") else c for c in classes]
            if classes is not None
            else signature.classes
        )

    @property
    def output_names(self) -> list[str]:
        names = [PREDICTION]
        if self.is_classifier and self.classes:
            names += [PROBA_PREFIX + category_text(c) for c in self.classes]
        return names

    def output_schema(self) -> pa.Schema | None:
        """The prediction columns' types when the signature says them; None to learn them
        from the first chunk scored."""
        if self.is_classifier and self.classes:
            label = pa.array(self.classes).type
            return pa.schema(
                [(PREDICTION, label), *((n, pa.float64()) for n in self.output_names[1:])]
            )
        if self.model.version.signature.output.type == "number":
            return pa.schema([(PREDICTION, pa.float64())])
        return None

    def check_columns(self, names: list[str], *, where: str) -> None:
        """Refuse a table lacking a column the model reads, or one with an output column's name."""
        missing = [n for n in self.reads if n not in names and n not in self.optional]
        if missing and len(missing) == len(self.reads) > 1:
            # none at all: another file than meant; its own columns say which
            shown = ", ".join(names[:MAX_NAMES_SHOWN]) + (
                f", … ({len(names)} in all)" if len(names) > MAX_NAMES_SHOWN else ""
            )
            raise InvalidInput(
                f"{where} has none of the {len(self.reads)} columns {self.model.version.ref} "
                f"reads ({', '.join(self.reads)}); its columns are: {shown}."
            )
        if missing:
            raise InvalidInput(
                f"{where} has no column {', '.join(repr(n) for n in missing)}, which "
                f"{self.model.version.ref} reads; it needs {', '.join(self.reads)}."
            )
        clash = [n for n in self.output_names if n in names]
        if clash:
            raise InvalidInput(
                f"{where} already has a column named {clash[0]!r}, where the predictions go; "
                "rename or drop that column first."
            )

    def score(
        self,
        table: pa.Table,
        *,
        infer_types: bool = False,
        frame: pd.DataFrame | None = None,
        delimiter: str = ",",
    ) -> Scored:
        """Validate and score one chunk. ``infer_types`` for CSV text (``typed_columns``, with
        the file's ``delimiter``); ``frame``, the pandas frame ``table`` was made from, is what
        the model then reads."""
        # Custom checks read every column; otherwise only the model's columns need their types.
        names = None if self.rules.checks else {*self.inputs, *self.reads}
        formats = self.rules.schema.date_formats()
        typed = (
            typed_columns(table, names, delimiter=delimiter, formats=formats)
            if infer_types
            else table
        )
        found = self.rules.table_errors(typed, duplicates=False)
        rejects = [e for e in found.errors if e.row is not None]
        bad = np.unique(np.array([e.row for e in rejects], dtype=np.int64)) - 1
        keep = np.ones(table.num_rows, dtype=bool)
        keep[bad] = False
        kept = np.flatnonzero(keep)
        predictions, failed = self._predict(typed, kept, frame, delimiter)
        if failed:
            rejects += failed
            keep[[e.row - 1 for e in failed if e.row is not None]] = False
            kept = np.flatnonzero(keep)
        warnings = Counter((w.column, w.rule) for w in found.warnings)
        return Scored(kept, predictions, rejects, warnings)

    def _frame(
        self, typed: pa.Table, rows: np.ndarray, given: pd.DataFrame | None, delimiter: str
    ) -> pd.DataFrame:
        present = [n for n in self.reads if n in typed.column_names]
        if given is not None:
            frame = given.iloc[rows][present]
        else:
            picked = typed.select(present)
            if len(rows) < picked.num_rows:
                # valid rows only: a text column whose bad values were rejected reads as numbers
                picked = typed_columns(
                    picked.take(pa.array(rows)),
                    delimiter=delimiter,
                    formats=self.rules.schema.date_formats(),
                )
            frame = _model_frame(picked)
        absent = [name for name in self.reads if name not in frame.columns]
        # an optional input the file lacks: all missing
        return frame.assign(**dict.fromkeys(absent)) if absent else frame

    def _raw_predict(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        model = self.model
        prepared = model.prepare(frame)
        both = getattr(model.flavor, "predict_with_proba", None)  # one pass, where a flavor can
        proba: np.ndarray | None = None
        if not (self.is_classifier and self.classes):
            labels = model.flavor.predict(model.model, prepared)
        elif both is not None:
            labels, proba = both(model.model, prepared)
        else:
            labels = model.flavor.predict(model.model, prepared)
            proba = model.flavor.predict_proba(model.model, prepared)
        out = {PREDICTION: labels}
        if proba is not None:
            for index, name in enumerate(self.output_names[1:]):
                out[name] = proba[:, index]
        return out

    def _predict(
        self, typed: pa.Table, kept: np.ndarray, given: pd.DataFrame | None, delimiter: str = ","
    ) -> tuple[pa.Table, list[FieldError]]:
        frame = self._frame(typed, kept, given, delimiter)
        failures: list[tuple[int, Exception]] = []
        parts: list[tuple[np.ndarray, dict[str, np.ndarray]]] = []
        try:
            self._isolate(frame, np.arange(len(frame)), parts, failures)
        except _TooManyFailures:
            position, exc = failures[0]
            raise ModelFailures(self.model.version.ref, int(kept[position]) + 1, exc) from exc
        failed = [
            FieldError(
                int(kept[position]) + 1,
                "*",
                MODEL_RULE,
                None,
                f"the model could not score this row ({type(exc).__name__}: {exc})",
            )
            for position, exc in failures
        ]
        return self._assemble(parts), failed

    def _isolate(
        self,
        frame: pd.DataFrame,
        positions: np.ndarray,
        parts: list[tuple[np.ndarray, dict[str, np.ndarray]]],
        failures: list[tuple[int, Exception]],
    ) -> None:
        if not len(positions):
            return
        try:
            parts.append((positions, self._raw_predict(frame.iloc[positions])))
            return
        except Exception as exc:
            if len(positions) == 1:
                failures.append((int(positions[0]), exc))
                if len(failures) > MAX_MODEL_FAILURES:
                    raise _TooManyFailures from exc
                return
        half = len(positions) // 2
        self._isolate(frame, positions[:half], parts, failures)
        self._isolate(frame, positions[half:], parts, failures)

    def _assemble(self, parts: list[tuple[np.ndarray, dict[str, np.ndarray]]]) -> pa.Table:
        names = self.output_names
        if not parts:
            schema = self.output_schema()
            return (schema or pa.schema([(PREDICTION, pa.null())])).empty_table()
        columns = {
            name: np.concatenate([p[1][name] for p in parts])
            if len(parts) > 1
            else parts[0][1][name]
            for name in names
            if name in parts[0][1]
        }
        return pa.table({name: pa.array(values) for name, values in columns.items()})


def reference_profile(store: Store, dataset_ref: str | None) -> dict[str, Any] | None:
    """The profile of the dataset version the model was trained on (outlier fences), if any."""
    if dataset_ref is None:
        return None
    from mloop.data.datasets import get_version

    try:
        return get_version(store, dataset_ref).profile
    except (NotFound, InvalidInput):
        return None


def scorer_for(
    store: Store, artifacts: ArtifactStore, model_ref: str, *, root: Path | None
) -> Scorer:
    """The model (hash-verified) and its row rules, compiled once for every chunk."""
    loaded: LoadedModel = load_version(artifacts, resolve(store, model_ref))
    signature = loaded.version.signature
    rules = scoring_rules(signature).compile(reference_profile(store, signature.dataset), root=root)
    return Scorer(loaded, rules)


def reject_table(rejects: list[FieldError], offset: int) -> pa.Table:
    """Rejects as rows of the rejects file; ``offset`` turns chunk rows into file rows."""
    rejects = sorted(rejects, key=lambda e: e.row or 0)
    return pa.table(
        {
            "row": pa.array([(e.row or 0) + offset for e in rejects], pa.int64()),
            "column": pa.array([e.column for e in rejects], pa.string()),
            "rule": pa.array([e.rule for e in rejects], pa.string()),
            "value": pa.array(
                [None if e.value is None else str(e.value) for e in rejects], pa.string()
            ),
            "message": pa.array([e.message for e in rejects], pa.string()),
        },
        schema=REJECT_SCHEMA,
    )
