"""``POST /v1/endpoints/{name}/predict``: MLflow scoring bodies in, predictions with ids out."""

from __future__ import annotations

import time
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import Response

from mloop.serving import codec, schemas
from mloop.serving.body import JSON, read_body, require_type
from mloop.serving.scoring import admitted, endpoint_of, prediction_ids, score_request
from mloop.serving.state import ServingState

IGNORED_HEADER = "X-Ignored-Fields"
MAX_HEADER_CHARS = 2000
PREDICT_REQUEST_BODY = {
    "required": True,
    "content": {
        JSON: {
            "schema": {
                "oneOf": [
                    {"$ref": f"#/components/schemas/{model.__name__}"}
                    for model in (
                        schemas.SplitRequest,
                        schemas.RecordsRequest,
                        schemas.InstancesRequest,
                        schemas.InputsRequest,
                    )
                ]
            }
        }
    },
}


def header_text(text: str, limit: int = MAX_HEADER_CHARS) -> str:
    """``text`` as a header value: printable ASCII kept, anything else percent-encoded (a field
    name may be any Unicode, a header only Latin-1 without control characters), cut to ``limit``.
    Spaces at either end are percent-encoded too: a header value cannot start or end with one."""
    quoted = quote(text, safe=" !\"#$&'()*+,-./:;<=>?@[\\]^_`{|}~")
    quoted = quoted if len(quoted) <= limit else quoted[: limit - 3] + "..."
    core = quoted.strip(" ")
    if core == quoted:
        return quoted
    lead = len(quoted) - len(quoted.lstrip(" "))
    trail = len(quoted) - len(quoted.rstrip(" ")) if core else 0
    return "%20" * lead + core + "%20" * trail


def request_id_of(request: Request) -> str:
    return str(request.state.request_id)


def routing_key_of(request: Request) -> str | None:
    key = request.headers.get("x-routing-key")
    return key if key else None


def add_predict_routes(app: FastAPI, state: ServingState) -> None:
    @app.post(
        "/v1/endpoints/{name}/predict",
        response_model=schemas.PredictResponse,
        responses=schemas.error_responses(400, 404, 413, 415, 422, 429, 503, 504),
        openapi_extra={"requestBody": PREDICT_REQUEST_BODY},
        tags=["predict"],
    )
    async def predict(name: str, request: Request) -> Response:
        """Score the rows of one table body (dataframe_split, dataframe_records, instances or
        inputs, as MLflow's scoring server takes them).

        ``X-Request-ID`` names the request (else one is made, and echoed either way);
        ``X-Routing-Key`` keeps one key on one side of a canary split.
        """
        started = time.perf_counter()
        served = endpoint_of(state, name)
        require_type(request, (JSON,))
        request_id = request_id_of(request)
        with admitted(state, served):
            body = await read_body(request, state.settings.max_body_bytes)
            table = codec.parse_predict(body, max_rows=served.settings.max_rows)
            del body  # only the parsed table is kept while the request waits to be scored
            answer = await score_request(
                state,
                served,
                table,
                request_id=request_id,
                routing_key=routing_key_of(request),
                started=started,
            )
        scores = answer.scores
        content: dict[str, object] = {
            "predictions": scores.predictions,
            "probabilities": scores.probability_dicts(),
            "ids": prediction_ids(request_id, table.n_rows),
            "model": answer.model,
            "version": answer.version,
            "revision": answer.deployment.revision.number,
            "request_id": request_id,
            "timestamp": answer.timestamp.isoformat().replace("+00:00", "Z"),
        }
        if scores.failed:
            content["errors"] = scores.errors
        headers = answer.headers
        if table.ignored or answer.unknown:
            headers[IGNORED_HEADER] = header_text(
                codec.ignored_header([*table.ignored, *answer.unknown])
            )
        return Response(codec.dumps(content), media_type=JSON, headers=headers)
