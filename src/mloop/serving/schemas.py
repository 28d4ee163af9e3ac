"""The bodies the HTTP API reads and writes, as pydantic models: they are the OpenAPI document.

Request bodies are parsed by the codec (orjson, bounded, never pickle), not by these models: the
models only describe them, so /openapi.json tells clients (and a schemathesis fuzz pass) exactly
what is accepted and what comes back, errors included.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

Scalar = str | float | int | bool | None


class ErrorInfo(BaseModel):
    code: str = Field(description="A stable, machine-readable name such as not_found.")
    message: str = Field(description="One sentence: what is wrong and what to do.")
    detail: Any = Field(
        default=None,
        description="More about the error: for invalid rows, a list of "
        "{row, column, rule, value, message}.",
    )


class ErrorBody(BaseModel):
    """Every 4xx and 5xx answer has this shape."""

    error: ErrorInfo


class DataframeSplit(BaseModel):
    columns: list[str | int | float] = Field(
        description="Column names; numbers are read as their text, as pandas writes unnamed columns."
    )
    data: list[list[Scalar]]
    index: list[Scalar] | None = None


class SplitRequest(BaseModel):
    model_config = ConfigDict(title="dataframe_split")
    dataframe_split: DataframeSplit


class RecordsRequest(BaseModel):
    model_config = ConfigDict(title="dataframe_records")
    dataframe_records: list[dict[str, Scalar]]


class InstancesRequest(BaseModel):
    model_config = ConfigDict(title="instances")
    instances: list[dict[str, Scalar]]


class InputsRequest(BaseModel):
    model_config = ConfigDict(title="inputs")
    inputs: dict[str, list[Scalar]]


PredictRequest = SplitRequest | RecordsRequest | InstancesRequest | InputsRequest


class PredictResponse(BaseModel):
    predictions: list[Scalar] = Field(description="One per row, in the target's own labels.")
    probabilities: list[dict[str, float]] | None = Field(
        default=None, description="Classifiers: one object of class to probability per row."
    )
    ids: list[str] = Field(
        description="One prediction id per row: the request id for a one-row request, "
        "REQUEST_ID:ROW otherwise. Labels sent later join on it."
    )
    model: str
    version: int
    revision: int
    request_id: str
    timestamp: str = Field(description="When the answer was made, ISO 8601 in UTC.")


class EndpointHealth(BaseModel):
    ready: bool
    revision: int | None = None
    reason: str | None = None


class HealthResponse(BaseModel):
    status: str
    endpoints: dict[str, EndpointHealth] = Field(default_factory=dict)


class V2Tensor(BaseModel):
    name: str
    datatype: str
    shape: list[int]
    parameters: dict[str, Any] | None = None
    data: list[Any] | None = None


class V2RequestedOutput(BaseModel):
    name: str
    parameters: dict[str, Any] | None = None


class V2InferRequest(BaseModel):
    id: str | None = None
    parameters: dict[str, Any] | None = None
    inputs: list[V2Tensor]
    outputs: list[V2RequestedOutput] | None = None


class V2InferResponse(BaseModel):
    model_name: str
    model_version: str | None = None
    id: str | None = None
    parameters: dict[str, Any] | None = None
    outputs: list[V2Tensor]


class V2TensorMetadata(BaseModel):
    name: str
    datatype: str
    shape: list[int]


class V2ModelMetadata(BaseModel):
    name: str
    versions: list[str] = Field(default_factory=list)
    platform: str
    inputs: list[V2TensorMetadata]
    outputs: list[V2TensorMetadata]


class V2Live(BaseModel):
    live: bool


class V2Ready(BaseModel):
    name: str | None = None
    ready: bool


class V2ErrorBody(BaseModel):
    """Errors on the /v2 routes: the Open Inference Protocol's ``error`` string, code beside it."""

    error: str = Field(description="One sentence: what is wrong and what to do.")
    code: str
    detail: Any = None


def error_responses(*statuses: int, v2: bool = False) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a route: each status it can answer, with the error body."""
    model = V2ErrorBody if v2 else ErrorBody
    return {status: {"model": model, "description": DESCRIPTIONS[status]} for status in statuses}


# Bodies the routes read themselves (they are parsed by the codec, not by FastAPI): listed here so
# the OpenAPI document holds their schemas for the routes' ``requestBody`` references.
REQUEST_MODELS: tuple[type[BaseModel], ...] = (
    SplitRequest,
    RecordsRequest,
    InstancesRequest,
    InputsRequest,
    V2InferRequest,
)


DESCRIPTIONS = {
    400: "Malformed body (not JSON, too deeply nested, or not one of the accepted shapes).",
    404: "No such endpoint or route.",
    405: "Method not allowed.",
    413: "The body or the number of rows is over the server's limit.",
    415: "Unsupported Content-Type or Content-Encoding.",
    422: "A row breaks the model's rules; detail lists each {row, column, rule, value, message}.",
    429: "The endpoint's queue is full; retry after Retry-After seconds.",
    500: "Unexpected error (the server log has it; the body never holds a stack trace).",
    503: "The endpoint has no loaded model (detail says why).",
    504: "The request was not answered within timeout_s.",
}
