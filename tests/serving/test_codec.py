"""Request bodies as real clients write them: pandas' JSON, Python's json, tritonclient's encoder."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
import tritonclient.http as triton

from mloop.serving.codec import Table, parse_predict
from mloop.serving.errors import ApiError, error_body
from mloop.serving.scores import Scores
from mloop.serving.v2 import encode_infer, header_length, metadata, parse_infer

FRAME = pd.DataFrame(
    {
        "tenure_months": [22, 17, 64],
        "monthly_charges": [52.44, np.nan, 76.87],
        "contract": ["Month-to-month", "One year", None],
        "senior_citizen": [True, False, True],
    }
)


def rejected(call: Any, *args: Any, **kwargs: Any) -> ApiError:
    with pytest.raises(ApiError) as caught:
        call(*args, **kwargs)
    return caught.value


def values(table: Table, column: str) -> list[Any]:
    found = table.columns[column]
    return found.tolist() if isinstance(found, np.ndarray) else list(found)


# --- MLflow's formats ----------------------------------------------------------------------------


def test_pandas_split_body_with_nan_is_read_column_by_column() -> None:
    body = b'{"dataframe_split": ' + FRAME.to_json(orient="split").encode() + b"}"
    table = parse_predict(body)
    assert table.n_rows == 3 and table.source == "dataframe_split"
    assert list(table.columns) == list(FRAME.columns)
    assert values(table, "monthly_charges") == [52.44, None, 76.87]  # pandas writes NaN as null
    assert table.records()[2] == {
        "tenure_months": 64,
        "monthly_charges": 76.87,
        "contract": None,
        "senior_citizen": True,
    }
    assert table.ignored == []  # "index" is part of the split format


def test_python_json_nan_and_infinity_tokens_become_floats() -> None:
    split = FRAME.to_dict(orient="split")
    split["data"][0][1] = math.inf
    split["data"][2][1] = -math.inf
    body = json.dumps({"dataframe_split": split}).encode()
    assert b"NaN" in body and b"Infinity" in body
    charges = values(parse_predict(body), "monthly_charges")
    assert charges[0] == math.inf and math.isnan(charges[1]) and charges[2] == -math.inf


def test_records_instances_and_inputs_give_one_table() -> None:
    records = json.loads(FRAME.to_json(orient="records"))
    tables = [
        parse_predict(orjson.dumps({"dataframe_records": records})),
        parse_predict(orjson.dumps({"instances": records})),
        parse_predict(orjson.dumps({"inputs": records})),
        parse_predict(
            orjson.dumps(
                {
                    "inputs": {
                        k: list(v.values())
                        for k, v in json.loads(FRAME.to_json(orient="columns")).items()
                    }
                }
            )
        ),
    ]
    for table in tables:
        assert table.n_rows == 3
        assert values(table, "contract") == ["Month-to-month", "One year", None]
        assert table.records()[1]["senior_citizen"] is False


def test_a_record_without_a_key_stays_without_it_for_validation() -> None:
    table = parse_predict(b'{"dataframe_records": [{"a": 1, "b": 2}, {"a": 3}]}')
    assert table.records()[1] == {"a": 3}  # missing, not null: the validator says "required"
    assert values(table, "b") == [2, None]


def test_single_values_under_inputs_are_one_row() -> None:
    table = parse_predict(b'{"inputs": {"a": 1, "b": "x"}}')
    assert table.n_rows == 1 and table.records() == [{"a": 1, "b": "x"}]


def test_unknown_fields_are_ignored_and_named() -> None:
    body = b'{"dataframe_split": {"columns": ["a"], "data": [[1]], "dtypes": {}}, "params": {"k": 1}, "x": 2}'
    assert parse_predict(body).ignored == ["params", "x", "dataframe_split.dtypes"]


def test_empty_tables_are_zero_rows() -> None:
    assert parse_predict(b'{"dataframe_records": []}').n_rows == 0
    assert parse_predict(b'{"dataframe_split": {"columns": ["a"], "data": []}}').n_rows == 0


@pytest.mark.parametrize(
    ("body", "status", "code", "words"),
    [
        (b"", 400, "malformed_json", "not valid JSON"),
        (b'{"dataframe_records": [{"a": 1}', 400, "malformed_json", "not valid JSON"),
        (b"\xff\xfe", 400, "malformed_json", "not valid JSON"),
        (b'{"a": NaN, ', 400, "malformed_json", "not valid JSON"),
        (b"[" * 5000 + b"]" * 5000, 400, "malformed_json", "nested too deeply"),
        (
            b'{"params": ' + b"[" * 100 + b"]" * 100 + b', "instances": []}',
            400,
            "malformed_json",
            "nested deeper",
        ),
        (b"[]", 400, "invalid_body", "must be a JSON object"),
        (b'"text"', 400, "invalid_body", "must be a JSON object"),
        (b'{"columns": ["a"], "data": [[1]]}', 400, "invalid_body", "dataframe_split"),
        (b'{"instances": [], "inputs": {}}', 400, "invalid_body", "exactly one"),
        (b'{"dataframe_split": [[1]]}', 400, "invalid_body", "must be an object"),
        (b'{"dataframe_split": {"columns": ["a"]}}', 400, "invalid_body", "no 'data'"),
        (
            b'{"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2], [3]]}}',
            400,
            "invalid_body",
            "Row 2",
        ),
        (
            b'{"dataframe_split": {"columns": ["a", "a"], "data": [[1, 2]]}}',
            400,
            "invalid_body",
            "more than once",
        ),
        (b'{"dataframe_records": [{"a": 1}, 2]}', 400, "invalid_body", "Row 2"),
        (b'{"instances": {"a": 1}}', 400, "invalid_body", "list of objects"),
        (b'{"inputs": {"a": [1, 2], "b": [1]}}', 400, "invalid_body", "differ in length"),
        (b'{"inputs": {"a": [1, 2], "b": 1}}', 400, "invalid_body", "single value"),
    ],
)
def test_unreadable_bodies_are_one_clear_4xx(
    body: bytes, status: int, code: str, words: str
) -> None:
    error = rejected(parse_predict, body)
    assert (error.status, error.code) == (status, code)
    assert words in error.message


def test_a_list_in_a_cell_is_a_422_naming_row_and_column() -> None:
    error = rejected(
        parse_predict, b'{"dataframe_records": [{"a": 1}, {"a": [[[[1]]]]}, {"a": {"b": 2}}]}'
    )
    assert (error.status, error.code) == (422, "invalid_input")
    assert error.detail == [
        {
            "row": 2,
            "column": "a",
            "rule": "type",
            "value": None,
            "message": "a list where a single value belongs",
        },
        {
            "row": 3,
            "column": "a",
            "rule": "type",
            "value": None,
            "message": "an object where a single value belongs",
        },
    ]


def test_a_422_lists_bad_values_in_the_bodys_row_order_and_counts_the_bad_rows() -> None:
    from mloop.data.violations import FieldError
    from mloop.serving.errors import invalid_input

    found = [  # as a validator reports them: column by column
        FieldError(3, "tenure_months", "min", -3, "values below the minimum 0"),
        FieldError(1, "payment_method", "allowed", "Crypto wallet", "values outside ..."),
        FieldError(3, "payment_method", "allowed", "Cash", "values outside ..."),
    ]
    error = invalid_input(found, rows=4)
    assert [(d["row"], d["column"]) for d in error.detail] == [
        (1, "payment_method"),
        (3, "tenure_months"),
        (3, "payment_method"),
    ]
    assert error.message.startswith(
        "3 value(s) in 2 of 4 rows break the model's input rules: row 1, column 'payment_method'"
    )
    missing = FieldError(None, "region", "required", None, "the column is missing")
    error = invalid_input([*found, missing], rows=4)
    assert error.detail[0]["column"] == "region"
    assert error.message.startswith("4 value(s) in 4 row(s) break the model's input rules: column")
    assert invalid_input(found[:1], rows=1).message.startswith("1 value(s) in 1 row(s) break")


def test_more_rows_than_the_limit_is_413_before_reading_them() -> None:
    body = orjson.dumps({"dataframe_records": [{"a": i} for i in range(11)]})
    error = rejected(parse_predict, body, max_rows=10)
    assert (error.status, error.code) == (413, "too_many_rows")
    assert "limit of 10" in error.message


def test_the_one_error_shape() -> None:
    error = rejected(parse_predict, b"{")
    assert orjson.loads(error.body()) == {
        "error": {"code": "malformed_json", "message": error.message, "detail": None}
    }
    assert orjson.loads(error_body("invalid_input", "m", [{"value": math.nan}])) == {
        "error": {"code": "invalid_input", "message": "m", "detail": [{"value": None}]}
    }


# --- the Open Inference Protocol ------------------------------------------------------------------


def triton_inputs(binary: bool, *, rows: int = 3, two_d: bool = False) -> list[Any]:
    shape = (lambda n: [n, 1]) if two_d else (lambda n: [n])
    columns = {
        "contract": np.array(["Month-to-month", "One year", "Two year ✓"][:rows], dtype=object),
        "monthly_charges": np.array([52.44, np.nan, 76.87][:rows], dtype=np.float64),
        "ratio": np.array([0.5, 1.5, 2.5][:rows], dtype=np.float32),
        "tenure_months": np.array([22, 17, 64][:rows], dtype=np.int64),
        "calls": np.array([1, 0, 3][:rows], dtype=np.int32),
        "senior_citizen": np.array([True, False, True][:rows]),
    }
    inputs = []
    for name, array in columns.items():
        kind = "BYTES" if array.dtype == object else triton.np_to_triton_dtype(array.dtype)  # type: ignore[attr-defined]
        tensor = triton.InferInput(name, shape(len(array)), kind)
        tensor.set_data_from_numpy(array.reshape(shape(len(array))), binary_data=binary)
        inputs.append(tensor)
    return inputs


def check_v2_table(table: Table) -> None:
    assert table.n_rows == 3 and table.source == "v2"
    assert values(table, "contract") == ["Month-to-month", "One year", "Two year ✓"]
    charges = values(table, "monthly_charges")
    assert charges[0] == 52.44 and (charges[1] is None or math.isnan(charges[1]))
    assert values(table, "ratio") == [0.5, 1.5, 2.5]
    assert values(table, "tenure_months") == [22, 17, 64]
    assert values(table, "calls") == [1, 0, 3]
    assert values(table, "senior_citizen") == [True, False, True]
    assert table.records()[0]["tenure_months"] == 22


@pytest.mark.parametrize("two_d", [False, True])
def test_tritonclient_binary_body_is_decoded(two_d: bool) -> None:
    body, json_size = triton.InferenceServerClient.generate_request_body(
        triton_inputs(True, two_d=two_d), request_id="r-1"
    )
    assert json_size is not None
    request = parse_infer(body, header_length=header_length(str(json_size)))
    check_v2_table(request.table)
    assert request.id == "r-1"
    assert request.binary_output is True  # tritonclient asks for binary outputs by default
    assert request.outputs is None


@pytest.mark.parametrize("two_d", [False, True])
def test_tritonclient_json_body_is_decoded(two_d: bool) -> None:
    outputs = [triton.InferRequestedOutput("predict", binary_data=False)]
    body, json_size = triton.InferenceServerClient.generate_request_body(
        triton_inputs(False, two_d=two_d), outputs=outputs
    )
    assert json_size is None and b"NaN" in body  # Python's json writes the NaN token
    request = parse_infer(body)
    check_v2_table(request.table)
    assert [(o.name, o.binary) for o in request.outputs or []] == [("predict", False)]
    assert request.binary_output is False


def binary_body(**overrides: Any) -> tuple[bytes, int]:
    header = {
        "inputs": [
            {
                "name": "a",
                "shape": [2],
                "datatype": "INT64",
                "parameters": {"binary_data_size": 16},
            },
            {
                "name": "b",
                "shape": [2],
                "datatype": "BYTES",
                "parameters": {"binary_data_size": 11},
            },
        ]
    } | overrides
    head = orjson.dumps(header)
    data = np.array([1, 2], dtype="<i8").tobytes() + b"\x02\x00\x00\x00hi\x01\x00\x00\x00x"
    return head + data, len(head)


def test_a_handwritten_binary_body_decodes() -> None:
    body, length = binary_body()
    table = parse_infer(body, header_length=length).table
    assert values(table, "a") == [1, 2] and values(table, "b") == ["hi", "x"]


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"length": 10_000}, "longer than"),
        ({"length": 5}, "not valid JSON"),
        ({"cut": 1}, "does not fit"),
        ({"extra": b"zz"}, "belong to no input"),
        (
            {"inputs": [{"name": "a", "shape": [2, 2], "datatype": "INT64", "data": [1, 2, 3, 4]}]},
            "shape [n] or [n, 1]",
        ),
        (
            {"inputs": [{"name": "a", "shape": [2], "datatype": "COMPLEX", "data": [1, 2]}]},
            "datatype 'COMPLEX'",
        ),
        (
            {"inputs": [{"name": "a", "shape": [2], "datatype": "INT64", "data": [1, 2.5]}]},
            "does not match its datatype",
        ),
        (
            {"inputs": [{"name": "a", "shape": [3], "datatype": "FP64", "data": [1, 2]}]},
            "shape says 3",
        ),
        ({"inputs": [{"name": "a", "shape": [1], "datatype": "FP64"}]}, "neither"),
        ({"inputs": []}, '"inputs"'),
        (
            {
                "inputs": [
                    {"name": "a", "shape": [1], "datatype": "FP64", "data": [1]},
                    {"name": "b", "shape": [2], "datatype": "FP64", "data": [1, 2]},
                ]
            },
            "other inputs 1",
        ),
        (
            {
                "inputs": [
                    {
                        "name": "b",
                        "shape": [2],
                        "datatype": "BYTES",
                        "parameters": {"binary_data_size": 11},
                    }
                ]
            },
            "BYTES element",
        ),
        (
            {
                "inputs": [
                    {
                        "name": "a",
                        "shape": [2],
                        "datatype": "FP32",
                        "parameters": {"binary_data_size": 27},
                    }
                ]
            },
            "take 8 bytes",
        ),
        (
            {
                "inputs": [
                    {
                        "name": "b",
                        "shape": [3],
                        "datatype": "BYTES",
                        "parameters": {"binary_data_size": 27},
                    }
                ]
            },
            "runs past",
        ),
    ],
)
def test_broken_v2_bodies_are_400(change: dict[str, Any], words: str) -> None:
    length = change.pop("length", None)
    cut, extra = change.pop("cut", 0), change.pop("extra", b"")
    body, head = binary_body(**change)
    body = body[: len(body) - cut] + extra
    error = rejected(parse_infer, body, header_length=head if length is None else length)
    assert (error.status, error.code) in {(400, "invalid_body"), (400, "malformed_json")}
    assert words in error.message


def test_a_bad_header_length_is_400() -> None:
    assert rejected(header_length, "ten").status == 400
    assert rejected(header_length, "-1").status == 400
    assert header_length(None) is None


def classifier_scores() -> Scores:
    return Scores(
        predictions=[True, None, False],
        errors=[None, "ValueError: boom", None],
        probabilities=np.array([[0.2, 0.8], [np.nan, np.nan], [0.9, 0.1]]),
        classes=[False, True],
    )


@pytest.mark.parametrize("binary", [True, False])
def test_v2_responses_decode_with_tritonclient(binary: bool) -> None:
    inputs = triton_inputs(True)
    outputs = [
        triton.InferRequestedOutput("predict", binary_data=binary),
        triton.InferRequestedOutput("predict_proba", binary_data=binary),
    ]
    body, size = triton.InferenceServerClient.generate_request_body(
        inputs, outputs=outputs, request_id="abc"
    )
    request = parse_infer(body, header_length=size)
    answer, length = encode_infer(
        classifier_scores(), model_name="churn", model_version="3", request=request
    )
    assert (length is not None) is binary
    result = triton.InferenceServerClient.parse_response_body(answer, header_length=length)
    assert result.as_numpy("predict").tolist() == [True, False, False]  # failed row: false
    proba = result.as_numpy("predict_proba")
    assert proba.shape == (3, 2) and proba[0].tolist() == [0.2, 0.8] and np.isnan(proba[1]).all()
    assert [
        e.decode() if isinstance(e, bytes) else e for e in result.as_numpy("error").tolist()
    ] == [
        "",
        "ValueError: boom",
        "",
    ]
    response = result.get_response()
    assert (response["model_name"], response["model_version"], response["id"]) == (
        "churn",
        "3",
        "abc",
    )


def test_v2_default_outputs_follow_binary_data_output() -> None:
    body, size = triton.InferenceServerClient.generate_request_body(triton_inputs(True))
    request = parse_infer(body, header_length=size)
    scores = Scores(predictions=[1.5, 2.5, 3.5], errors=[None] * 3)
    answer, length = encode_infer(scores, model_name="price", request=request)
    assert length is not None
    result = triton.InferenceServerClient.parse_response_body(answer, header_length=length)
    assert result.as_numpy("predict").tolist() == [1.5, 2.5, 3.5]
    assert result.as_numpy("predict_proba") is None and result.as_numpy("error") is None


@pytest.mark.parametrize(
    ("classes", "datatype", "expected"),
    [(["no", "yes"], "BYTES", [b"yes", b"no"]), ([1, 2], "INT64", [2, 1])],
)
def test_v2_labels_keep_their_type(classes: list[Any], datatype: str, expected: list[Any]) -> None:
    scores = Scores(predictions=[classes[1], classes[0]], errors=[None, None], classes=classes)
    answer, length = encode_infer(
        scores,
        model_name="m",
        request=parse_infer(
            orjson.dumps(
                {
                    "inputs": [{"name": "a", "shape": [2], "datatype": "FP64", "data": [1, 2]}],
                    "parameters": {"binary_data_output": True},
                }
            )
        ),
    )
    result = triton.InferenceServerClient.parse_response_body(answer, header_length=length)
    assert result.get_output("predict")["datatype"] == datatype
    assert result.as_numpy("predict").tolist() == expected


def test_asking_for_an_output_the_model_lacks_is_400() -> None:
    request = parse_infer(
        orjson.dumps(
            {
                "inputs": [{"name": "a", "shape": [1], "datatype": "FP64", "data": [1]}],
                "outputs": [{"name": "predict_proba"}],
            }
        )
    )
    error = rejected(request.check_outputs, ["predict"])
    assert error.status == 400 and "predict_proba" in error.message


def test_metadata_names_inputs_and_outputs() -> None:
    found = metadata(
        "churn",
        inputs=[
            ("tenure", "integer", False),
            ("calls", "integer", True),
            ("contract", "categorical", False),
        ],
        classes=[False, True],
        probabilities=True,
        versions=["3"],
    )
    assert [(i["name"], i["datatype"]) for i in found["inputs"]] == [
        ("tenure", "INT64"),
        ("calls", "FP64"),
        ("contract", "BYTES"),
    ]
    assert found["outputs"] == [
        {"name": "predict", "datatype": "BOOL", "shape": [-1]},
        {"name": "predict_proba", "datatype": "FP64", "shape": [-1, 2]},
    ]


def test_huge_numbers_are_read_as_infinity_for_the_rules_to_judge() -> None:
    table = parse_predict(b'{"inputs": {"a": [1e400, -1e400, 1]}}')
    assert values(table, "a") == [math.inf, -math.inf, 1]


def test_mangled_bodies_only_ever_raise_api_errors() -> None:
    """Random truncations and byte flips of real bodies: a Table or a 4xx ApiError, nothing else."""
    rng = np.random.default_rng(7)
    split = json.dumps({"dataframe_split": FRAME.to_dict(orient="split")}).encode()
    binary, size = triton.InferenceServerClient.generate_request_body(triton_inputs(True))
    seeds = [(split, None), (binary, size)]
    for _ in range(1500):
        body, length = seeds[int(rng.integers(2))]
        mangled = bytearray(body)
        for _ in range(int(rng.integers(1, 4))):
            mangled[int(rng.integers(len(mangled)))] = int(rng.integers(256))
        mangled = mangled[: int(rng.integers(1, len(mangled) + 1))]
        try:
            if length is None:
                parse_predict(bytes(mangled))
            else:
                parse_infer(bytes(mangled), header_length=min(length, len(mangled)))
        except ApiError as error:
            assert 400 <= error.status < 500


@pytest.mark.parametrize(
    ("datatype", "value"),
    [("INT8", 1000), ("UINT8", -1), ("UINT16", 70000), ("INT32", -(2**31) - 1), ("FP16", 1e10)],
)
def test_a_json_value_its_v2_datatype_cannot_hold_is_a_400(datatype: str, value: Any) -> None:
    """Before, 1000 declared INT8 (or 1e10 as FP16) was scored as if it fitted: 200."""
    tensor = {"name": "tenure_months", "shape": [2], "datatype": datatype, "data": [1, value]}
    error = rejected(parse_infer, orjson.dumps({"inputs": [tensor]}))
    assert (error.status, error.code) == (400, "invalid_body")
    assert f"does not fit its datatype {datatype}" in error.message
    assert error.message.endswith(".")


def test_the_edges_of_a_v2_datatype_are_accepted() -> None:
    tensors = [
        {"name": "a", "shape": [2], "datatype": "INT8", "data": [-128, 127]},
        {"name": "b", "shape": [2], "datatype": "UINT64", "data": [0, 2**64 - 1]},
        {"name": "c", "shape": [2], "datatype": "FP16", "data": [65504.0, math.inf]},
    ]
    table = parse_infer(orjson.dumps({"inputs": tensors})).table
    assert values(table, "a") == [-128, 127]
