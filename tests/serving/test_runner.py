"""ModelRunner on real trained models: same answers as the registry's model, per-row failures,
validation of JSON rows against the training rules, and the ONNX runtime."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
import tritonclient.http as triton

from mloop.errors import IntegrityError
from mloop.scoring.features import FeatureSpec, coerce
from mloop.serving.codec import Table, parse_predict
from mloop.serving.errors import ApiError
from mloop.serving.inputs import coerce_columns
from mloop.serving.runner import ModelRunner
from mloop.serving.v2 import encode_infer, parse_infer
from tests.serving.trained import Trained, trained

__all__ = ["trained"]


def records_body(frame: pd.DataFrame) -> bytes:
    return (
        b'{"dataframe_records": '
        + frame.to_json(orient="records", date_format="iso").encode()
        + b"}"
    )


@pytest.mark.parametrize("which", ["classifier", "boosted", "regressor"])
def test_scores_match_the_registered_model(trained: Trained, which: str) -> None:
    loaded = getattr(trained, which)
    runner = ModelRunner.from_loaded(loaded)
    rows = trained.rows
    if which == "regressor":
        rows = rows.drop(columns=["monthly_charges"]).assign(churned=True)
    table = parse_predict(records_body(rows))
    scores = runner.score_table(table)
    assert scores.failed == 0 and len(scores) == len(rows)
    assert scores.predictions == loaded.predict(rows).tolist()
    expected = loaded.predict_proba(rows)
    if which == "regressor":
        assert scores.probabilities is None and scores.classes is None
        assert runner.outputs == ["predict"]
    else:
        assert scores.classes == [False, True]
        np.testing.assert_array_equal(scores.probabilities, expected)
        first = scores.probability_dicts()[0]  # type: ignore[index]
        assert first == {"False": expected[0, 0], "True": expected[0, 1]}


def test_split_body_with_nan_tokens_scores_like_the_frame(trained: Trained) -> None:
    rows = trained.rows.head(20).copy()
    rows.loc[rows.index[:3], "total_charges"] = np.nan
    rows["support_calls"] = rows["support_calls"].astype("float64")
    body = json.dumps({"dataframe_split": rows.to_dict(orient="split")}, default=str).encode()
    assert b"NaN" in body
    runner = ModelRunner.from_loaded(trained.classifier)
    scores = runner.score_table(parse_predict(body))
    np.testing.assert_array_equal(scores.probabilities, trained.classifier.predict_proba(rows))


class Picky:
    """A user's model that refuses some rows (as models with preconditions do)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.classes_ = inner.classes_
        self.calls = 0

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        self.calls += 1
        if (frame["tenure_months"] > 500).any():
            raise ValueError("tenure_months above 500 is not a customer")
        return np.asarray(self.inner.predict_proba(frame))

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.classes_)[np.argmax(self.predict_proba(frame), axis=1)]


def test_a_row_that_raises_fails_alone(trained: Trained) -> None:
    rows = trained.rows.head(5).copy()
    rows.loc[rows.index[2], "tenure_months"] = 900
    model = Picky(trained.classifier.model)
    runner = ModelRunner(trained.classifier.version, model, runtime="python")
    scores = runner.score_table(parse_predict(records_body(rows)))
    assert scores.errors == [
        None,
        None,
        "ValueError: tenure_months above 500 is not a customer",
        None,
        None,
    ]
    assert scores.predictions[2] is None and np.isnan(scores.probabilities[2]).all()  # type: ignore[index]
    good = rows.drop(index=rows.index[2])
    expected = trained.classifier.predict_proba(good)
    # a batch of 4 and one of 5 may differ in the last bit (BLAS blocking), never more
    np.testing.assert_allclose(scores.probabilities[[0, 1, 3, 4]], expected, rtol=1e-12)  # type: ignore[index]
    assert scores.probability_dicts()[2] is None  # type: ignore[index]


def test_a_model_that_always_raises_answers_every_row_with_its_error(trained: Trained) -> None:
    class Broken(Picky):
        def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
            raise RuntimeError("out of memory\nsecond line")

    runner = ModelRunner(
        trained.classifier.version, Broken(trained.classifier.model), runtime="python"
    )
    scores = runner.score_table(parse_predict(records_body(trained.rows.head(3))))
    assert scores.errors == ["RuntimeError: out of memory"] * 3
    with pytest.raises(ApiError) as caught:
        runner.check_ready()
    assert caught.value.status == 503 and caught.value.code == "not_ready"


def test_zero_rows_score_to_nothing(trained: Trained) -> None:
    scores = ModelRunner.from_loaded(trained.classifier).score({}, 0)
    assert (
        len(scores) == 0
        and scores.probabilities is not None
        and scores.probabilities.shape == (0, 2)
    )


def test_warm_scores_the_input_example(trained: Trained) -> None:
    runner = ModelRunner.from_loaded(trained.classifier)
    warmed = runner.warm()
    assert warmed is not None and warmed.failed == 0 and len(warmed) == 3
    runner.check_ready()


# --- the fast input path agrees with coerce --------------------------------------------------------

ODD_COLUMNS: dict[str, Any] = {
    "ints": [1, 2, None, 4],
    "floats": [1.5, math.nan, math.inf, -math.inf],
    "bools": [True, False, True, False],
    "bools_missing": [True, None, False, None],
    "number_text": ["3.5", " 2 ", "x", None],
    "mixed": [1, "a", 2.0, None],
    "truth_text": ["yes", " TRUE ", "n", "maybe"],
    "truth_numbers": [1, 0, 1.0, 2],
    "big": [2**62, 2**70, -1, 0],
    "np_f32": np.array([0.5, np.nan, np.inf, 2.0], dtype=np.float32),
    "np_i64": np.array([1, 2, 3, 4], dtype=np.int64),
    "np_bool": np.array([True, False, False, True]),
    "np_text": np.array(["a", "b", "", "d"], dtype=object),
    "np_unicode": np.array(["a", "b", "c", "d"]),
}


@pytest.mark.parametrize("name", list(ODD_COLUMNS))
@pytest.mark.parametrize("kind", ["numeric", "categorical", "boolean"])
def test_fast_inputs_equal_coerce(name: str, kind: str) -> None:
    values = ODD_COLUMNS[name]
    spec = FeatureSpec(
        numeric=(name,) if kind == "numeric" else (),
        categorical=(name,) if kind != "numeric" else (),
        dropped=(),
        boolean=(name,) if kind == "boolean" else (),
    )
    fast = coerce_columns({name: values}, 4, spec)[name]
    slow = coerce(pd.DataFrame({name: pd.Series(values)}), spec)[name].to_numpy()
    if kind == "numeric":
        np.testing.assert_array_equal(fast, slow)
        assert fast.dtype == np.float64
    else:
        assert fast.tolist() == slow.tolist()


def test_a_missing_feature_column_is_all_missing(trained: Trained) -> None:
    spec = trained.classifier.features
    assert spec is not None
    rows = trained.rows.head(2).drop(columns=["region"])
    prepared = coerce_columns(parse_predict(records_body(rows)).columns, 2, spec)
    assert prepared["region"].tolist() == ["__missing__", "__missing__"]


# --- validation ------------------------------------------------------------------------------------


def one_row(trained: Trained, **changes: Any) -> dict[str, Any]:
    example = dict(trained.classifier.version.signature.input_example[0])  # type: ignore[index]
    example.update(changes)
    return example


def check(trained: Trained, *rows: dict[str, Any]) -> list[tuple[Any, ...]]:
    runner = ModelRunner.from_loaded(trained.classifier)
    table = parse_predict(json.dumps({"dataframe_records": list(rows)}).encode())
    found = runner.validate(table)
    return [(e.row, e.column, e.rule, e.value) for e in found.errors]


def test_valid_rows_pass_and_integral_floats_are_integers(trained: Trained) -> None:
    assert check(trained, one_row(trained)) == []
    assert check(trained, one_row(trained, tenure_months=181.0)) == []
    assert check(trained, one_row(trained, total_charges=math.nan)) == []  # nullable


def test_each_bad_value_is_named_by_row_column_and_rule(trained: Trained) -> None:
    good = one_row(trained)
    bad = one_row(
        trained,
        tenure_months=18.5,
        monthly_charges=math.nan,
        payment_method="Crypto wallet",
        total_charges=-math.inf,
    )
    del bad["contract"]
    found = check(trained, good, bad)
    assert (2, "tenure_months", "type", 18.5) in found
    assert (2, "monthly_charges", "nullable", None) in found
    assert (2, "payment_method", "allowed", "Crypto wallet") in found
    assert (2, "total_charges", "min", -math.inf) in found
    assert (2, "contract", "nullable", None) in found  # a records row without a required key
    assert all(row == 2 for row, *_ in found)


def test_a_json_boolean_for_a_number_is_a_type_error(trained: Trained) -> None:
    found = check(trained, one_row(trained, tenure_months=True, monthly_charges=False))
    assert found == [(1, "tenure_months", "type", True), (1, "monthly_charges", "type", False)]


def test_the_log_gets_numbers_sent_as_text_as_the_numbers_the_model_scored(
    trained: Trained,
) -> None:
    runner = ModelRunner.from_loaded(trained.classifier)
    rows = [
        one_row(trained, tenure_months="12", monthly_charges=" 70.5"),
        one_row(trained, tenure_months=3, monthly_charges=None),
        one_row(trained, tenure_months=True, monthly_charges="x"),  # as on_invalid = "warn" scores
    ]
    logged = runner.scored_inputs(parse_predict(orjson.dumps({"dataframe_records": rows})))
    assert logged["tenure_months"] == [12, 3, 1]  # an integer column keeps integers
    assert all(type(v) is int for v in logged["tenure_months"])
    assert logged["monthly_charges"][:2] == [70.5, None]  # missing stays null
    assert math.isnan(logged["monthly_charges"][2])  # what the model saw
    plain = parse_predict(orjson.dumps({"dataframe_records": [one_row(trained)]}))
    assert runner.scored_inputs(plain) == {}, "numbers as sent are logged as sent"


def test_a_422_lists_the_bad_values(trained: Trained) -> None:
    runner = ModelRunner.from_loaded(trained.classifier)
    table = parse_predict(orjson.dumps({"dataframe_records": [one_row(trained, tenure_months=-3)]}))
    with pytest.raises(ApiError) as caught:
        runner.validate(table).raise_for_errors(rows=table.n_rows)
    error = caught.value
    assert (error.status, error.code) == (422, "invalid_input")
    assert error.detail == [
        {
            "row": 1,
            "column": "tenure_months",
            "rule": "min",
            "value": -3,
            "message": "values below the minimum 0",
        }
    ]
    assert "tenure_months" in error.message


def test_rules_about_whole_columns_do_not_judge_a_request(trained: Trained) -> None:
    rows = [one_row(trained, region=None, total_charges=None) for _ in range(4)]
    assert check(trained, *rows) == []  # four identical rows, all without a region


def test_unknown_columns_are_reported_not_refused(trained: Trained) -> None:
    runner = ModelRunner.from_loaded(trained.classifier)
    table = parse_predict(
        orjson.dumps({"dataframe_records": [one_row(trained, customer_id="C1", colour="red")]})
    )
    found = runner.validate(table)
    assert found.ok and found.unknown == ["customer_id", "colour"]


# --- V2 end to end and the ONNX runtime -------------------------------------------------------------


def v2_body(rows: pd.DataFrame) -> tuple[bytes, int | None]:
    inputs = []
    for name in rows.columns:
        column = rows[name]
        if column.dtype == bool:
            array, kind = column.to_numpy(), "BOOL"
        elif pd.api.types.is_numeric_dtype(column):
            array, kind = column.astype("float64").to_numpy(na_value=np.nan), "FP64"
        else:
            array, kind = column.astype(object).where(column.notna(), "").to_numpy(), "BYTES"
        tensor = triton.InferInput(name, [len(rows), 1], kind)
        tensor.set_data_from_numpy(array.reshape(-1, 1), binary_data=True)
        inputs.append(tensor)
    body, size = triton.InferenceServerClient.generate_request_body(inputs)
    return body, size


def test_tritonclient_request_scores_like_the_model(trained: Trained) -> None:
    rows = (
        trained.rows.head(30).drop(columns=["customer_id", "signup_date"]).dropna(subset=["region"])
    )
    body, size = v2_body(rows)
    request = parse_infer(body, header_length=size)
    runner = ModelRunner.from_loaded(trained.classifier)
    request.check_outputs(runner.outputs)
    assert runner.validate(request.table).ok
    answer, length = encode_infer(
        runner.score_table(request.table), model_name="churn", request=request
    )
    result = triton.InferenceServerClient.parse_response_body(answer, header_length=length)
    assert result.as_numpy("predict").tolist() == trained.classifier.predict(rows).tolist()
    np.testing.assert_array_equal(
        result.as_numpy("predict_proba"), trained.classifier.predict_proba(rows)
    )


def test_onnx_runtime_agrees_with_the_model(trained: Trained) -> None:
    runner = ModelRunner.from_onnx(
        trained.classifier.version, trained.onnx, expected_hash=trained.onnx_hash
    )
    assert runner.runtime == "onnx" and runner.outputs == ["predict", "predict_proba"]
    table = parse_predict(records_body(trained.rows))
    scores = runner.score_table(table)
    assert scores.failed == 0 and scores.classes == [False, True]
    expected = trained.classifier.predict_proba(trained.rows)
    assert np.max(np.abs(scores.probabilities - expected)) < 1e-4  # type: ignore[operator]
    assert scores.predictions == trained.classifier.predict(trained.rows).tolist()
    assert runner.warm() is not None


def test_onnx_bytes_that_do_not_match_the_record_are_refused(trained: Trained) -> None:
    with pytest.raises(IntegrityError, match="does not match its recorded hash"):
        ModelRunner.from_onnx(
            trained.classifier.version, trained.onnx + b"x", expected_hash=trained.onnx_hash
        )


def test_columns_given_as_numpy_arrays_score_the_same(trained: Trained) -> None:
    rows = trained.rows.head(10)
    table = parse_predict(records_body(rows))
    arrays = Table(
        {
            name: np.asarray(
                values, dtype=np.float64 if name in ("tenure_months", "monthly_charges") else object
            )
            for name, values in table.columns.items()
        },
        table.n_rows,
    )
    runner = ModelRunner.from_loaded(trained.classifier)
    np.testing.assert_array_equal(
        runner.score_table(arrays).probabilities, runner.score_table(table).probabilities
    )


ODD_VALUES: list[Any] = [None, math.nan, math.inf, -math.inf, "", "x", "1e400", 1e308, -0.0]
ODD_VALUES += [True, False, 2**63, -(2**70), "  3 ", "✓", 181.0, 0, "yes", "Month-to-month"]


@pytest.mark.parametrize("runtime", ["python", "onnx"])
def test_any_json_values_are_judged_and_scored_without_raising(
    trained: Trained, runtime: str
) -> None:
    rng = np.random.default_rng(3)
    names = list(trained.classifier.version.signature.input_names)
    rows = [
        {n: ODD_VALUES[int(rng.integers(len(ODD_VALUES)))] for n in names if rng.random() > 0.1}
        for _ in range(200)
    ]
    body = json.dumps({"dataframe_records": rows}).encode()
    runner = (
        ModelRunner.from_loaded(trained.classifier)
        if runtime == "python"
        else ModelRunner.from_onnx(
            trained.classifier.version, trained.onnx, expected_hash=trained.onnx_hash
        )
    )
    table = parse_predict(body)
    found = runner.validate(table)
    assert not found.ok and {e.row for e in found.errors} <= set(range(1, 201))
    scores = runner.score_table(table)  # on_invalid = "warn" scores rows like these anyway
    assert len(scores) == 200
    assert all(
        (p is None) == (e is not None)
        for p, e in zip(scores.predictions, scores.errors, strict=True)
    )
