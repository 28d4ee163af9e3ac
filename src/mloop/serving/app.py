"""The FastAPI app: routes, the one error shape, request ids, health and metrics.

``create_app(state)`` builds the app over a ``ServingState`` (the endpoints being served, the
prediction log, the metrics); the server process makes one and hands it to uvicorn, and nothing
here opens a workspace. Every 4xx/5xx, FastAPI's own 404/405/422 and any unexpected exception
included, is ``{"error": {"code", "message", "detail"}}``; a stack trace goes to the server's log,
never into a body.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mloop.errors import MloopError
from mloop.ids import new_id
from mloop.serving import codec, schemas
from mloop.serving.errors import ApiError, from_mloop
from mloop.serving.feedback_routes import add_feedback_routes
from mloop.serving.metrics import CONTENT_TYPE
from mloop.serving.predict_routes import add_predict_routes
from mloop.serving.state import ServingState
from mloop.serving.v2_routes import add_v2_routes

log = logging.getLogger("mloop.serving")

REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    429: "overloaded",
    500: "internal",
    503: "not_ready",
    504: "timeout",
}


def json_response(data: Any, status: int = 200) -> Response:
    return Response(codec.dumps(data), status_code=status, media_type="application/json")


def error_response(error: ApiError, path: str = "") -> Response:
    """The one error shape; on the V2 routes, the Open Inference Protocol's own.

    V2 clients (``tritonclient``) read ``error`` as a string, so there it is the message, with
    ``code`` and ``detail`` beside it: ``{"error": "...", "code": "...", "detail": ...}``.
    """
    if path.startswith("/v2/"):
        body: dict[str, Any] = {"error": error.message, "code": error.code, "detail": error.detail}
    else:
        body = error.to_dict()
    return Response(
        codec.dumps(body),
        status_code=error.status,
        media_type="application/json",
        headers=error.headers,
    )


class RequestIdMiddleware:
    """Gives every request an id (the caller's ``X-Request-ID`` when well formed) and echoes it.

    Pure ASGI, not ``BaseHTTPMiddleware``: no extra task or body copy per request.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = None
        for key, value in scope.get("headers", ()):
            if key == b"x-request-id":
                given = value.decode("latin-1")
                break
        request_id = given if given is not None and REQUEST_ID.fullmatch(given) else new_id()
        scope.setdefault("state", {})["request_id"] = request_id
        header = (b"x-request-id", request_id.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), header]
            await send(message)

        if given is not None and given != request_id:
            # a replaced id would silently break the join of the labels the caller sends later
            shown = given if len(given) <= 40 else given[:40] + "…"
            error = ApiError(
                400,
                "bad_request",
                f"X-Request-ID {shown!r} is not a usable request id; send 1 to 128 letters, "
                "digits, '.', '_', ':' or '-', or leave the header out and one is made.",
            )
            await error_response(error, scope.get("path", ""))(scope, receive, send_with_id)
            return
        await self.app(scope, receive, send_with_id)


def create_app(state: ServingState) -> FastAPI:
    app = FastAPI(
        title="mloop serving",
        version="1",
        description="Predictions from the workspace's endpoints: MLflow scoring bodies on "
        "/v1/endpoints/{name}/predict and the Open Inference Protocol (KServe V2) on /v2. "
        "Every error is {error: {code, message, detail}}.",
        docs_url="/docs",
        redoc_url=None,
        lifespan=state.lifespan,
    )
    app.state.serving = state
    app.add_middleware(RequestIdMiddleware)
    _add_error_handlers(app)
    _add_health_routes(app, state)
    add_predict_routes(app, state)
    add_feedback_routes(app, state)
    add_v2_routes(app, state)
    _publish_request_schemas(app)
    return app


def _publish_request_schemas(app: FastAPI) -> None:
    """Add the request-body models to the OpenAPI components (see ``schemas.REQUEST_MODELS``)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            components = document.setdefault("components", {}).setdefault("schemas", {})
            template = "#/components/schemas/{model}"
            for model in schemas.REQUEST_MODELS:
                found = model.model_json_schema(ref_template=template)
                for name, definition in found.pop("$defs", {}).items():
                    components.setdefault(name, definition)
                components.setdefault(model.__name__, found)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _add_error_handlers(app: FastAPI) -> None:
    async def api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return error_response(exc, request.url.path)

    async def mloop_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, MloopError)
        return error_response(from_mloop(exc), request.url.path)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        status = exc.status_code
        message = {
            404: "No such route; the API is described at /openapi.json.",
            405: "This route does not take that method; the API is described at /openapi.json.",
        }.get(status, str(exc.detail))
        error = ApiError(status, HTTP_CODES.get(status, "http_error"), message, None)
        response = error_response(error, request.url.path)
        for key, value in (exc.headers or {}).items():
            response.headers[key] = value
        return response

    async def invalid_request(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        detail = [
            {"location": ".".join(str(p) for p in e.get("loc", ())), "message": e.get("msg")}
            for e in exc.errors()
        ]
        return error_response(
            ApiError(
                422,
                "invalid_input",
                "The request does not match the API; see detail and /openapi.json.",
                detail,
            ),
            request.url.path,
        )

    async def unexpected(request: Request, exc: Exception) -> Response:
        request_id = getattr(request.state, "request_id", "")
        log.error("request %s failed", request_id, exc_info=exc)
        return error_response(
            ApiError(
                500,
                "internal",
                f"The server failed on this request (id {request_id}); its log has the details.",
                None,
            ),
            request.url.path,
        )

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(MloopError, mloop_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(Exception, unexpected)


def _add_health_routes(app: FastAPI, state: ServingState) -> None:
    @app.get("/health/live", response_model=schemas.HealthResponse, tags=["health"])
    async def live() -> Response:
        """The process is up and answering."""
        return json_response({"status": "live", "endpoints": {}})

    @app.get(
        "/health/ready",
        response_model=schemas.HealthResponse,
        responses=schemas.error_responses(503),
        tags=["health"],
    )
    async def ready() -> Response:
        """Every endpoint has a loaded model; else 503 naming the unready ones and why."""
        health = state.health()
        unready = {name: h for name, h in health.items() if not h["ready"]}
        if unready:
            raise ApiError(
                503,
                "not_ready",
                f"{len(unready)} endpoint(s) not ready: "
                + "; ".join(f"{name}: {h['reason']}" for name, h in sorted(unready.items())),
                unready,
            )
        return json_response({"status": "ready", "endpoints": health})

    @app.get("/metrics", tags=["health"], response_class=Response)
    async def metrics() -> Response:
        """Prometheus text format."""
        return Response(state.metrics.render(), media_type=CONTENT_TYPE)
