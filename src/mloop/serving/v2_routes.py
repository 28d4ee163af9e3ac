"""The Open Inference Protocol (KServe V2) routes; the V2 model name is the endpoint name.

``infer`` reads JSON or the binary tensor data extension (what ``tritonclient.http`` sends by
default) through the codec into the same table ``/v1`` scores, with the same validation, routing,
logging and bounds, and answers in the form asked for (binary outputs when requested).
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from mloop.serving import codec, schemas, v2
from mloop.serving.body import JSON, OCTETS, read_body, require_type
from mloop.serving.scoring import admitted, endpoint_of, not_ready, score_request
from mloop.serving.state import Served, ServingState

INFER_REQUEST_BODY = {
    "required": True,
    "content": {
        JSON: {"schema": {"$ref": "#/components/schemas/V2InferRequest"}},
        OCTETS: {"schema": {"type": "string", "format": "binary"}},
    },
}


def _json(data: Any, status: int = 200) -> Response:
    return Response(codec.dumps(data), status_code=status, media_type=JSON)


def model_metadata(served: Served) -> dict[str, Any]:
    deployment = served.live
    if deployment is None:
        raise not_ready(served)
    signature = deployment.primary.signature
    by_name = {column.name: column for column in signature.inputs}
    inputs = []
    for name in signature.input_names:
        column = by_name.get(name)
        kind = "string" if column is None else str(column.type)
        inputs.append((name, kind, True if column is None else column.nullable))
    return v2.metadata(
        served.name,
        inputs=inputs,
        classes=signature.classes,
        probabilities=signature.output.proba,
        # The model versions that may answer (primary, then canary), as infer's model_version says.
        versions=[
            str(slot.version)
            for slot in (deployment.revision.primary, deployment.revision.canary)
            if slot is not None
        ],
    )


def add_v2_routes(app: FastAPI, state: ServingState) -> None:
    @app.get("/v2/health/live", response_model=schemas.V2Live, tags=["v2"])
    async def live() -> Response:
        return _json({"live": True})

    @app.get(
        "/v2/health/ready",
        response_model=schemas.V2Ready,
        responses=schemas.error_responses(503, v2=True),
        tags=["v2"],
    )
    async def ready() -> Response:
        ok = all(served.ready for served in state.endpoints.values())
        return _json({"ready": ok}, 200 if ok else 503)

    @app.get(
        "/v2/models/{name}",
        response_model=schemas.V2ModelMetadata,
        responses=schemas.error_responses(404, 503, v2=True),
        tags=["v2"],
    )
    async def metadata(name: str) -> Response:
        """Inputs (one tensor per column, from the model's signature) and outputs."""
        return _json(model_metadata(endpoint_of(state, name)))

    @app.get(
        "/v2/models/{name}/ready",
        response_model=schemas.V2Ready,
        responses=schemas.error_responses(404, 503, v2=True),
        tags=["v2"],
    )
    async def model_ready(name: str) -> Response:
        served = endpoint_of(state, name)
        return _json({"name": name, "ready": served.ready}, 200 if served.ready else 503)

    @app.post(
        "/v2/models/{name}/infer",
        response_model=schemas.V2InferResponse,
        responses=schemas.error_responses(400, 404, 413, 415, 422, 429, 503, 504, v2=True),
        openapi_extra={"requestBody": INFER_REQUEST_BODY},
        tags=["v2"],
    )
    async def infer(name: str, request: Request) -> Response:
        """One named tensor per column; outputs ``predict`` and, for classifiers, ``predict_proba``."""
        started = time.perf_counter()
        served = endpoint_of(state, name)
        require_type(request, (JSON, OCTETS))
        length = v2.header_length(request.headers.get(v2.HEADER))
        with admitted(state, served):
            body = await read_body(request, state.settings.max_body_bytes)
            parsed = v2.parse_infer(body, header_length=length, max_rows=served.settings.max_rows)
            del body
            answer = await score_request(
                state,
                served,
                parsed.table,
                request_id=str(request.state.request_id),
                routing_key=request.headers.get("x-routing-key") or None,
                started=started,
            )
        content, head = v2.encode_infer(
            answer.scores,
            model_name=name,
            model_version=str(answer.version),
            request=parsed,
        )
        if head is None:
            return Response(content, media_type=JSON, headers=answer.headers)
        headers = {**answer.headers, v2.HEADER: str(head)}
        return Response(content, media_type=OCTETS, headers=headers)
