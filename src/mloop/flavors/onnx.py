"""ONNX export of scikit-learn pipelines, and an ONNX Runtime flavor to serve them.

Inputs are one tensor per feature column (numbers: float32, or float64 for tree ensembles, which
``onnx_convert`` builds in double; categories: strings), so the
exported graph takes the same ``coerce``-d frame as the pipeline. ONNX input names must be
identifiers, so skl2onnx renames columns such as ``x-1`` or ``sepal length (cm)``; the file stores
which column feeds each input (``mloop.inputs``) and every run reads it, never the names.
"""

from __future__ import annotations

import json
import warnings
from typing import Any

import numpy as np
import pandas as pd

from mloop.errors import InvalidInput, UntrustedArtifact

TARGET_OPSET = 17


def _require() -> tuple[Any, Any]:
    try:
        import onnxruntime
        import skl2onnx
    except ImportError as exc:
        raise InvalidInput(
            "ONNX needs skl2onnx and onnxruntime; install them with `pip install 'mloop[onnx]'`."
        ) from exc
    return skl2onnx, onnxruntime


def _input_types(model: Any, sample: pd.DataFrame, number: Any) -> list[tuple[str, Any]]:
    """One skl2onnx input per column (``number`` tensors for numbers), or one matrix ``X``."""
    from skl2onnx.common.data_types import StringTensorType

    bare = not hasattr(model, "steps") and not hasattr(model, "transformers")
    columns = [str(c) for c in getattr(model, "feature_names_in_", sample.columns)]
    if bare:  # an estimator fitted on a numeric matrix: one input holding every column, in order
        text = [
            c for c in columns if c not in sample or not pd.api.types.is_numeric_dtype(sample[c])
        ]
        if text:
            raise InvalidInput(
                f"This estimator has no preprocessing and non-numeric or missing input(s) "
                f"{', '.join(text)}; export a Pipeline that encodes them."
            )
        return [("X", number([None, len(columns)]))]
    return [
        (
            str(c),
            number([None, 1])
            if pd.api.types.is_numeric_dtype(sample[c])
            else StringTensorType([None, 1]),
        )
        for c in sample.columns
    ]


def _convert_float(model: Any, types: list[tuple[str, Any]]) -> Any:
    skl2onnx, _ = _require()
    final = model.steps[-1][1] if hasattr(model, "steps") else model
    options = {id(final): {"zipmap": False}} if hasattr(final, "predict_proba") else None
    try:
        with warnings.catch_warnings():  # skl2onnx reads attributes scikit-learn deprecates
            warnings.simplefilter("ignore", FutureWarning)
            return skl2onnx.convert_sklearn(
                model, initial_types=types, options=options, target_opset=TARGET_OPSET
            )
    except Exception as exc:
        raise InvalidInput(
            f"skl2onnx cannot convert this model ({type(exc).__name__}: {str(exc).splitlines()[0]})."
        ) from exc


def export_onnx(model: Any, sample: pd.DataFrame) -> bytes:
    """Convert a fitted pipeline; ``sample`` gives the input columns and their kinds.

    Tree ensembles are converted in double precision (``onnx_convert``), so their splits fall as
    scikit-learn's do; everything else goes through skl2onnx in float32.
    """
    _require()
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType

    from mloop.flavors.onnx_convert import convert_trees

    bare = not hasattr(model, "steps") and not hasattr(model, "transformers")
    columns = [str(c) for c in getattr(model, "feature_names_in_", sample.columns)]
    types = _input_types(model, sample, DoubleTensorType)
    try:
        graph = convert_trees(model, types)
    except Exception:  # preprocessing skl2onnx cannot convert in double: the float32 path decides
        graph = None
    if graph is None:
        types = _input_types(model, sample, FloatTensorType)
        graph = _convert_float(model, types)
    final = model.steps[-1][1] if hasattr(model, "steps") else model
    if bare:
        entry = graph.metadata_props.add()
        entry.key, entry.value = COLUMNS_KEY, json.dumps(columns)
    else:
        entry = graph.metadata_props.add()
        entry.key, entry.value = INPUTS_KEY, json.dumps(_input_columns(graph, types))
    classes = getattr(final, "classes_", None)
    if classes is not None:
        entry = graph.metadata_props.add()
        entry.key, entry.value = CLASSES_KEY, json.dumps(np.asarray(classes).tolist())
        entry = graph.metadata_props.add()
        entry.key, entry.value = PROBA_KEY, json.dumps(hasattr(final, "predict_proba"))
    return bytes(graph.SerializeToString())


def _input_columns(graph: Any, types: list[tuple[str, Any]]) -> dict[str, str]:
    """ONNX input name -> column: skl2onnx keeps the inputs in the order it was given them."""
    names = [i.name for i in graph.graph.input]
    if len(names) != len(types):  # a converter that drops or adds inputs: nothing to line up
        raise InvalidInput(
            f"skl2onnx made {len(names)} inputs for {len(types)} columns; export a Pipeline whose "
            "preprocessing uses every input column."
        )
    return {name: column for name, (column, _) in zip(names, types, strict=True)}


COLUMNS_KEY = "mloop.columns"  # input column order of a single-matrix model
# ONNX input name -> the column that feeds it (input names are sanitised column names).
INPUTS_KEY = "mloop.inputs"
# The classifier's labels as scikit-learn returns them: ONNX turns True/False classes into 1/0.
CLASSES_KEY = "mloop.classes"
# Whether the second output is probabilities (else decision scores: SVC, ridge classifiers).
PROBA_KEY = "mloop.probabilities"


def _numbers(kind: str) -> type[np.floating[Any]]:
    """The array type an input of ONNX type ``kind`` takes (tree exports take doubles)."""
    return np.float64 if "double" in kind else np.float32


class OnnxModel:
    def __init__(self, session: Any) -> None:
        self.session = session
        self.inputs = [(i.name, i.type) for i in session.get_inputs()]
        self.outputs = [o.name for o in session.get_outputs()]
        meta = session.get_modelmeta().custom_metadata_map
        packed = meta.get(COLUMNS_KEY)
        self.columns: list[str] | None = None if packed is None else json.loads(packed)
        # Files written before the mapping was stored named their inputs after the columns.
        fed_by: dict[str, str] = json.loads(meta.get(INPUTS_KEY, "{}"))
        self.sources = {name: fed_by.get(name, name) for name, _ in self.inputs}
        labels = meta.get(CLASSES_KEY)
        self.classes: np.ndarray | None = None if labels is None else np.asarray(json.loads(labels))
        self.probabilities: bool = json.loads(meta.get(PROBA_KEY, "true"))

    def feeds(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        if self.columns is not None:
            absent = [c for c in self.columns if c not in frame.columns]
            if absent:
                raise InvalidInput(
                    f"Missing input column(s) {', '.join(absent)} for the ONNX model."
                )
            name, kind = self.inputs[0]
            matrix = frame[self.columns].to_numpy(dtype=_numbers(kind), na_value=np.nan)
            return {name: matrix}
        missing = [c for c in self.sources.values() if c not in frame.columns]
        if missing:
            raise InvalidInput(f"Missing input column(s) {', '.join(missing)} for the ONNX model.")
        result = {}
        for name, kind in self.inputs:
            column = frame[self.sources[name]]
            if "string" in kind:
                result[name] = column.astype(str).to_numpy().reshape(-1, 1)
            else:
                numbers = column.to_numpy(dtype=_numbers(kind), na_value=np.nan)
                result[name] = numbers.reshape(-1, 1)
        return result

    def run(self, frame: pd.DataFrame) -> list[np.ndarray]:
        return list(self.session.run(None, self.feeds(frame)))


class OnnxFlavor:
    name = "onnx"

    def accepts(self, model: object) -> bool:
        return isinstance(model, OnnxModel)

    def save(self, model: object) -> bytes:
        raise InvalidInput(
            "Register ONNX files through `mloop models export`; an ONNX session cannot be re-saved."
        )

    def load(self, data: bytes, *, expected_hash: str | None = None) -> object:
        _, ort = _require()
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only: shape notes on score outputs are noise
        try:
            session = ort.InferenceSession(
                data, sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:
            raise UntrustedArtifact(
                f"This is not a loadable ONNX model ({str(exc).splitlines()[0]})."
            ) from exc
        return OnnxModel(session)

    def predict(self, model: Any, frame: pd.DataFrame) -> np.ndarray:
        return labels_of(model, model.run(frame))

    def predict_proba(self, model: Any, frame: pd.DataFrame) -> np.ndarray | None:
        return probabilities_of(model, model.run(frame))


def labels_of(model: OnnxModel, outputs: list[np.ndarray]) -> np.ndarray:
    """The labels from one run's outputs, in the classifier's own labels."""
    labels: np.ndarray = np.asarray(outputs[0]).reshape(-1)
    classes = model.classes
    # ONNX has no boolean tensors: True/False classes come back as their indexes 1/0.
    if (
        classes is not None
        and classes.dtype.kind not in "iu"
        and labels.dtype.kind in "iu"
        and (len(labels) == 0 or 0 <= labels.min() <= labels.max() < len(classes))
    ):
        mapped: np.ndarray = classes[labels]
        return mapped
    return labels


def probabilities_of(model: OnnxModel, outputs: list[np.ndarray]) -> np.ndarray | None:
    """One column per class from one run's outputs; None for decision scores (SVC, ridge)."""
    if len(outputs) < 2 or not model.probabilities:
        return None
    scores = np.asarray(outputs[1])
    wanted = None if model.classes is None else len(model.classes)
    if scores.ndim != 2 or (wanted is not None and scores.shape[1] != wanted):
        return None
    return scores
