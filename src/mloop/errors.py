"""The error tree: every failure a user can cause is an ``MloopError``.

```
MloopError
├── NotFound (LookupError)          404, exit 2
├── AlreadyExists                   409, exit 2
├── InvalidInput (ValueError)       422, exit 2
├── IntegrityError                  409, exit 2   (tampered or missing blob)
│   └── UntrustedArtifact                          (a model file with types we refuse to load)
├── ValidationFailed                422, exit 1   (a data check failed)
└── GateFailed                      409, exit 1   (a promotion gate said no)
```

Each error carries one sentence: what is wrong, then what to do. The CLI prints it and exits with
``exit_code``; the HTTP layer returns ``http_status`` with the same sentence.
"""

from __future__ import annotations

from typing import Any, ClassVar


class MloopError(Exception):
    headline: ClassVar[str] = "mloop error"
    exit_code: ClassVar[int] = 2
    http_status: ClassVar[int] = 400

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def __str__(self) -> str:
        return self.message


class NotFound(MloopError, LookupError):
    headline = "not found"
    http_status = 404


class AlreadyExists(MloopError):
    headline = "already exists"
    http_status = 409


class InvalidInput(MloopError, ValueError):
    headline = "invalid input"
    http_status = 422


class IntegrityError(MloopError):
    headline = "integrity error"
    http_status = 409


class UntrustedArtifact(IntegrityError):
    headline = "untrusted artifact"


class ValidationFailed(MloopError):
    headline = "validation failed"
    exit_code = 1
    http_status = 422


class GateFailed(MloopError):
    headline = "gate failed"
    exit_code = 1
    http_status = 409


__all__ = [
    "AlreadyExists",
    "GateFailed",
    "IntegrityError",
    "InvalidInput",
    "MloopError",
    "NotFound",
    "UntrustedArtifact",
    "ValidationFailed",
]
