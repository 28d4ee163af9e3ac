"""``POST /v1/endpoints/{name}/feedback``: true labels for logged predictions, by id or routing key.

The body is ``{"labels": [{"id": PREDICTION_ID, "label": VALUE}, {"key": ROUTING_KEY, "label":
VALUE}, ...]}``; the answer counts what matched, what replaced an earlier label and what matched
no logged prediction (see ``mloop.monitoring.feedback``). The server's log is flushed first, so a
label sent right after its prediction's answer finds it. A malformed body is a 400, a label the
model could not predict or a known class spelt otherwise (``"Benign"`` for ``"benign"``) a 422;
nothing is stored then. A label that is none of the classes of the models behind the endpoint is
a new outcome: stored, and listed in ``new_classes``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from mloop.data.schema import Scalar
from mloop.errors import NotFound
from mloop.serving import codec, schemas
from mloop.serving.body import JSON, read_body, require_type
from mloop.serving.errors import ApiError
from mloop.serving.scoring import endpoint_of
from mloop.serving.state import ServingState

EXAMPLE = '{"labels": [{"id": "01JD…:0", "label": "yes"}]}'
SHOWN_PROBLEMS = 20
FLUSH_TIMEOUT_S = 10.0


class LabelById(BaseModel):
    model_config = ConfigDict(extra="forbid", title="label by prediction id")
    id: str = Field(description="A prediction id from a predict answer's ids.")
    label: Scalar


class LabelByKey(BaseModel):
    model_config = ConfigDict(extra="forbid", title="label by routing key")
    key: str = Field(description="A routing key: every prediction logged with it gets the label.")
    label: Scalar


class FeedbackRequest(BaseModel):
    labels: list[LabelById | LabelByKey]


class FeedbackResponse(BaseModel):
    endpoint: str
    received: int
    matched: int = Field(description="Labels whose id or key matched a logged prediction.")
    unmatched: int = Field(description="Labels matching no logged prediction; not stored.")
    replaced: int = Field(description="Labels that replaced an earlier label of their id or key.")
    stored: int
    unmatched_ids: list[str] = Field(description="The first unmatched ids (keys as 'key K').")
    new_classes: list[str | int | float] = Field(
        default_factory=list,
        description="Stored labels that are none of the classes of the endpoint's models "
        "(a new outcome), once each; they count as wrong predictions.",
    )


def _problem(index: int, message: str) -> dict[str, Any]:
    return {"index": index, "message": message}


def _ident(value: Any) -> str | None:
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def parse_labels(doc: Any) -> tuple[list[str | None], list[str | None], list[Any]]:
    """Ids, keys and labels of a feedback body; raises ``ApiError`` 400 naming the bad items."""
    if not isinstance(doc, dict) or not isinstance(doc.get("labels"), list):
        raise ApiError(
            400, "invalid_body", f"The body must be an object with a labels list, e.g. {EXAMPLE}."
        )
    if set(doc) != {"labels"}:
        extra = ", ".join(sorted(repr(k) for k in doc if k != "labels"))
        raise ApiError(
            400,
            "invalid_body",
            f"The body has unknown fields {extra}; send only labels, e.g. {EXAMPLE}.",
        )
    items = doc["labels"]
    if not items:
        raise ApiError(
            400, "invalid_body", f"The labels list is empty; send at least one, e.g. {EXAMPLE}."
        )
    ids: list[str | None] = []
    keys: list[str | None] = []
    labels: list[Any] = []
    problems: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            problems.append(_problem(index, "must be an object with id (or key) and label"))
            continue
        unknown = sorted(set(item) - {"id", "key", "label"})
        label = item.get("label")
        named = [k for k in ("id", "key") if k in item]
        if unknown:
            problems.append(_problem(index, f"has unknown fields {', '.join(map(repr, unknown))}"))
        elif len(named) != 1:
            problems.append(_problem(index, "needs exactly one of id and key"))
        elif _ident(item[named[0]]) is None:
            problems.append(_problem(index, f"{named[0]} must be a non-empty string"))
        elif label is None or not isinstance(label, str | int | float | bool):
            problems.append(_problem(index, "label must be a string, number or boolean"))
        else:
            ident = _ident(item[named[0]])
            ids.append(ident if named[0] == "id" else None)
            keys.append(ident if named[0] == "key" else None)
            labels.append(label)
    if problems:
        first = problems[0]
        raise ApiError(
            400,
            "invalid_body",
            f"{len(problems)} of {len(items)} labels are malformed; labels[{first['index']}] "
            f"{first['message']}, e.g. {EXAMPLE}.",
            problems[:SHOWN_PROBLEMS],
        )
    return ids, keys, labels


def add_feedback_routes(app: FastAPI, state: ServingState) -> None:
    @app.post(
        "/v1/endpoints/{name}/feedback",
        response_model=FeedbackResponse,
        responses=schemas.error_responses(400, 404, 413, 415, 422, 503),
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {JSON: {"schema": FeedbackRequest.model_json_schema()}},
            }
        },
        tags=["feedback"],
    )
    async def feedback(name: str, request: Request) -> Response:
        """Record true labels for logged predictions, by prediction id or routing key.

        A label sent again replaces the earlier one; labels matching no logged prediction are
        counted (``unmatched``, the first few in ``unmatched_ids``) and not stored.
        """
        import pyarrow as pa

        from mloop.monitoring.feedback import FeedbackResult, record_labels
        from mloop.monitoring.labels import as_array

        served = endpoint_of(state, name)
        require_type(request, (JSON,))
        body = await read_body(request, state.settings.max_body_bytes)
        ids, keys, labels = parse_labels(codec.loads(body, example=EXAMPLE))
        log = state.log
        if log is None:
            raise ApiError(
                503, "not_ready", "This server keeps no prediction log yet; retry shortly."
            )
        live, staged = served.live, served.staged
        output = live.primary.signature.output if live is not None else None
        others = [s for d in (live, staged) if d is not None for s in d.scorers()]
        table = pa.table(
            {
                "id": pa.array(ids, pa.string()),
                "key": pa.array(keys, pa.string()),
                "label": as_array(labels),
            }
        )
        await asyncio.to_thread(log.flush, FLUSH_TIMEOUT_S)
        try:
            result = await asyncio.to_thread(
                record_labels,
                log.folder,
                name,
                table,
                output=output,
                served=[s.signature.output for s in others],
                output_of=state.output_of,
                where="in the body ",
            )
        except NotFound:  # nothing logged for the endpoint yet: every label is unmatched
            shown = [i if i is not None else f"key {k}" for i, k in zip(ids, keys, strict=True)]
            result = FeedbackResult(name, len(ids), 0, len(ids), 0, 0, shown[:10])
        return Response(codec.dumps(result.to_json()), media_type=JSON)
