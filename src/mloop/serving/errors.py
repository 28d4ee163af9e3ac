"""The one error a client ever sees: ``{"error": {"code", "message", "detail"}}``.

Every 4xx/5xx the server answers has this body, whatever raised it: a malformed body, a row that
breaks a rule, a full queue, a model that is not loaded. ``code`` is stable and machine-readable
(clients branch on it, never on the sentence), ``message`` is one sentence saying what is wrong
and what to do, ``detail`` is structured data or ``null`` (for ``invalid_input``: a list of
``{row, column, rule, value, message}``). No traceback ever goes into a body.

``ApiError`` is raised by the codec, the runner and the batcher; the server maps it (and the
``mloop.errors`` tree, through ``from_mloop``) to a response with ``body()`` and ``status``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from mloop.data.violations import FieldError, plain
from mloop.errors import MloopError

# code -> the HTTP status it is answered with
STATUS: dict[str, int] = {
    "bad_request": 400,
    "malformed_json": 400,
    "invalid_body": 400,
    "not_found": 404,
    "method_not_allowed": 405,
    "unsupported_media_type": 415,
    "payload_too_large": 413,
    "too_many_rows": 413,
    "invalid_input": 422,
    "conflict": 409,
    "overloaded": 429,
    "internal": 500,
    "not_ready": 503,
    "timeout": 504,
}


class ApiError(Exception):
    """An HTTP error with the stable ``code`` clients read; ``status`` defaults from ``STATUS``."""

    def __init__(
        self,
        status: int | None,
        code: str,
        message: str,
        detail: Any = None,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = STATUS.get(code, 500) if status is None else status
        self.code = code
        self.message = message
        self.detail = detail
        self.headers = dict(headers or {})

    def to_dict(self) -> dict[str, Any]:
        return error_dict(self.code, self.message, self.detail)

    def body(self) -> bytes:
        return error_body(self.code, self.message, self.detail)

    def __repr__(self) -> str:
        return f"ApiError({self.status}, {self.code!r}, {self.message!r})"


def error_dict(code: str, message: str, detail: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "detail": detail}}


def error_body(code: str, message: str, detail: Any = None) -> bytes:
    """The JSON bytes of the one error shape (NaN and numpy values made JSON-safe)."""
    return orjson.dumps(
        error_dict(code, message, detail),
        option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS,
        default=str,
    )


def field_detail(errors: Iterable[FieldError]) -> list[dict[str, Any]]:
    """``FieldError``s as the 422 ``detail`` list; rows stay 1-based as the validators count them."""
    return [
        {
            "row": e.row,
            "column": e.column,
            "rule": e.rule,
            "value": plain(e.value),
            "message": e.message,
        }
        for e in errors
    ]


def invalid_input(errors: list[FieldError], *, rows: int) -> ApiError:
    """The 422 for rows that break the model's rules: one sentence, every bad value in ``detail``.

    ``detail`` follows the body's row order (a missing column, which has no row, first; within a
    row, the schema's column order), so a client reads it beside what it sent.
    """
    errors = sorted(errors, key=lambda e: -1 if e.row is None else e.row)
    first = errors[0]
    where = "" if first.row is None else f"row {first.row}, "
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    bad = rows if first.row is None else len({e.row for e in errors})
    in_rows = f"{rows} row(s)" if bad >= rows else f"{bad} of {rows} rows"
    message = (
        f"{len(errors)} value(s) in {in_rows} break the model's input rules: "
        f"{where}column {first.column!r}: {first.message}{more}; fix them and resend, "
        "`detail` lists each one."
    )
    return ApiError(422, "invalid_input", message, field_detail(errors))


MLOOP_CODES: dict[str, str] = {
    "NotFound": "not_found",
    "AlreadyExists": "conflict",
    "InvalidInput": "invalid_input",
    "IntegrityError": "not_ready",
    "UntrustedArtifact": "not_ready",
    "ValidationFailed": "invalid_input",
    "GateFailed": "conflict",
}


def from_mloop(error: MloopError) -> ApiError:
    """An ``MloopError`` from a service as the one error shape, with the same sentence."""
    for kind in type(error).__mro__:
        code = MLOOP_CODES.get(kind.__name__)
        if code is not None:
            return ApiError(STATUS[code], code, error.message)
    return ApiError(error.http_status, "bad_request", error.message)
