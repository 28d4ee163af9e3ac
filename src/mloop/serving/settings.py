"""``[serving]`` of mloop.toml: the server's bounds and policies, with defaults, each also a flag.

```toml
[serving]
host = "127.0.0.1"          # loopback unless told otherwise
port = 8000
max_body_bytes = 10485760   # 10 MiB; checked while the body is read, before it is parsed
max_rows = 10000            # rows in one request
timeout_s = 30.0            # a request not answered by then is a 504
queue = 256                 # requests in flight per endpoint; one more is a 429
batch_max_rows = 64         # micro-batching: rows in one predict call
batch_max_wait_ms = 2.0     #   and how long a request may wait for others to join
log_durability = "everysec" # prediction log: always (fsync before answering), everysec, off
on_invalid = "reject"       # a row breaking the model's rules: reject (422) or warn (score, count)

[serving.endpoints.churn]   # per endpoint: any of the settings from max_rows down
on_invalid = "warn"
```

Flags given to ``mloop serve`` replace the ``[serving]`` values; a ``[serving.endpoints.NAME]``
table still wins for its endpoint, since it is the more specific choice. Every wrong value is
refused in one sentence (``InvalidInput``, exit 2) before anything starts.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from mloop.errors import InvalidInput

MIB = 1024 * 1024
DURABILITY = ("always", "everysec", "off")
ON_INVALID = ("reject", "warn")


@dataclass(frozen=True)
class EndpointSettings:
    """The settings one endpoint can override."""

    max_rows: int = 10_000
    timeout_s: float = 30.0
    queue: int = 256
    batch_max_rows: int = 64
    batch_max_wait_ms: float = 2.0
    log_durability: str = "everysec"
    on_invalid: str = "reject"


@dataclass(frozen=True)
class ServingSettings:
    host: str = "127.0.0.1"
    port: int = 8000
    max_body_bytes: int = 10 * MIB
    defaults: EndpointSettings = field(default_factory=EndpointSettings)
    endpoints: Mapping[str, EndpointSettings] = field(default_factory=dict)

    def for_endpoint(self, name: str) -> EndpointSettings:
        return self.endpoints.get(name, self.defaults)


SERVER_KEYS = ("host", "port", "max_body_bytes")
ENDPOINT_KEYS = tuple(f.name for f in fields(EndpointSettings))

# What each setting means, for the flags' help and the docs.
HELP: dict[str, str] = {
    "host": "Address to bind (loopback unless told otherwise; 0.0.0.0 for every interface).",
    "port": "Port to listen on (0 picks a free one).",
    "max_body_bytes": "Largest request body in bytes (413 beyond it), checked while reading.",
    "max_rows": "Most rows in one request (413 beyond it).",
    "timeout_s": "Seconds a request may take before it is answered 504.",
    "queue": "Requests in flight per endpoint; one more is answered 429 with Retry-After.",
    "batch_max_rows": "Micro-batching: most rows scored in one predict call.",
    "batch_max_wait_ms": "Micro-batching: longest wait, in ms, for other requests to join a batch.",
    "log_durability": "Prediction log: always (fsync before the answer), everysec or off.",
    "on_invalid": "A row that breaks the model's rules: reject (422) or warn (score, log, count).",
}


def _integer(low: int, high: int) -> Callable[[str, Any], int]:
    def check(where: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise InvalidInput(
                f"{where} must be a whole number from {low} to {high}, not {value!r}."
            )
        return value

    return check


def _number(low: float, high: float) -> Callable[[str, Any], float]:
    def check(where: str, value: Any) -> float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not ok or not math.isfinite(value) or not low < value <= high:
            raise InvalidInput(
                f"{where} must be a number above {low:g} and at most {high:g}, not {value!r}."
            )
        return float(value)

    return check


def _zero_or_more(high: float) -> Callable[[str, Any], float]:
    def check(where: str, value: Any) -> float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not ok or not math.isfinite(value) or not 0 <= value <= high:
            raise InvalidInput(f"{where} must be a number from 0 to {high:g}, not {value!r}.")
        return float(value)

    return check


def _choice(options: tuple[str, ...]) -> Callable[[str, Any], str]:
    def check(where: str, value: Any) -> str:
        if value not in options:
            raise InvalidInput(f"{where} must be one of {', '.join(options)}, not {value!r}.")
        return str(value)

    return check


def _host(where: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or any(c.isspace() for c in value):
        raise InvalidInput(
            f"{where} must be a host name or address such as 127.0.0.1, not {value!r}."
        )
    return value


CHECKS: dict[str, Callable[[str, Any], Any]] = {
    "host": _host,
    "port": _integer(0, 65535),
    "max_body_bytes": _integer(1024, 2**31),
    "max_rows": _integer(1, 10_000_000),
    "timeout_s": _number(0, 3600),
    "queue": _integer(1, 1_000_000),
    "batch_max_rows": _integer(1, 1_000_000),
    "batch_max_wait_ms": _zero_or_more(10_000),
    "log_durability": _choice(DURABILITY),
    "on_invalid": _choice(ON_INVALID),
}


def _checked(table: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> dict[str, Any]:
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise InvalidInput(
            f"{where} has no setting {unknown[0]!r}; the settings are {', '.join(allowed)}."
        )
    return {key: CHECKS[key](f"{where} {key}", value) for key, value in table.items()}


def load_serving_settings(
    raw: Mapping[str, Any], overrides: Mapping[str, Any] | None = None
) -> ServingSettings:
    """``raw`` is the whole parsed mloop.toml (``Settings.raw``); ``overrides`` the flags given
    (None values are flags left out). Raises ``InvalidInput`` naming the first wrong value."""
    section = raw.get("serving", {})
    if not isinstance(section, Mapping):
        raise InvalidInput("[serving] in mloop.toml must be a table; see docs/serving.md.")
    per_endpoint = section.get("endpoints", {})
    if not isinstance(per_endpoint, Mapping):
        raise InvalidInput(
            "[serving.endpoints] in mloop.toml must hold one table per endpoint, "
            "such as [serving.endpoints.churn]."
        )
    top = {k: v for k, v in section.items() if k != "endpoints"}
    values = _checked(top, SERVER_KEYS + ENDPOINT_KEYS, "[serving]")
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    values.update({k: CHECKS[k]("--" + k.replace("_", "-"), v) for k, v in given.items()})
    defaults = EndpointSettings(**{k: v for k, v in values.items() if k in ENDPOINT_KEYS})
    endpoints: dict[str, EndpointSettings] = {}
    for name, table in per_endpoint.items():
        where = f"[serving.endpoints.{name}]"
        if not isinstance(table, Mapping):
            raise InvalidInput(f"{where} in mloop.toml must be a table of settings.")
        endpoints[str(name)] = replace(defaults, **_checked(table, ENDPOINT_KEYS, where))
    return ServingSettings(
        **{k: v for k, v in values.items() if k in SERVER_KEYS},
        defaults=defaults,
        endpoints=endpoints,
    )
