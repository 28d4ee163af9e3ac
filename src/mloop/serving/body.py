"""Reading a request body within the limits: its type checked first, its size while it arrives.

A body over ``max_body_bytes`` is refused as soon as the count passes the limit (or at once when
``Content-Length`` says so), before a byte of it is parsed, so a huge or endless upload costs at
most the limit in memory.
"""

from __future__ import annotations

from fastapi import Request

from mloop.serving.errors import ApiError

JSON = "application/json"
OCTETS = "application/octet-stream"


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def require_type(request: Request, accepted: tuple[str, ...]) -> str:
    """The request's media type when it is one of ``accepted`` (``+json`` counts as JSON); else 415.

    No Content-Type at all is read as the first accepted type: ``tritonclient`` sends none. A
    compressed body (``Content-Encoding: gzip``) is a 415 too (RFC 7694), not a JSON parse error.
    """
    encoding = request.headers.get("content-encoding", "").strip().lower()
    if encoding not in ("", "identity"):
        raise ApiError(
            415,
            "unsupported_media_type",
            f"Content-Encoding {encoding} is not accepted here; send the body uncompressed.",
            {"content_encoding": encoding, "accepted": ["identity"]},
        )
    kind = media_type(request)
    if not kind:
        return accepted[0]
    if kind in accepted or (JSON in accepted and kind.endswith("+json")):
        if kind == JSON or kind.endswith("+json"):
            _require_utf8(request)
        return kind
    shown = kind
    raise ApiError(
        415,
        "unsupported_media_type",
        f"Content-Type {shown} is not accepted here; send {' or '.join(accepted)}.",
        {"content_type": kind, "accepted": list(accepted)},
    )


UTF8_NAMES = ("utf-8", "utf8", "us-ascii", "ascii")


def _require_utf8(request: Request) -> None:
    """JSON travels as UTF-8 (RFC 8259 section 8.1): a body declared in another charset would
    otherwise fail as malformed JSON, or be read as the wrong characters, so it is a 415 that
    says what to send."""
    params = request.headers.get("content-type", "").split(";")[1:]
    for param in params:
        key, _, value = param.partition("=")
        charset = value.strip().strip('"').lower()
        if key.strip().lower() == "charset" and charset not in UTF8_NAMES:
            raise ApiError(
                415,
                "unsupported_media_type",
                f"JSON in charset {charset or '(empty)'} is not accepted; send it as UTF-8 "
                "(charset=utf-8, or no charset).",
                {"charset": charset, "accepted": ["utf-8"]},
            )


def too_large(limit: int) -> ApiError:
    return ApiError(
        413,
        "payload_too_large",
        f"The body is over the server's limit of {limit} bytes; send fewer rows per request "
        "or raise [serving] max_body_bytes.",
        {"max_body_bytes": limit},
    )


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise too_large(limit)
        except ValueError:
            raise ApiError(400, "bad_request", "Content-Length is not a number.") from None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)
