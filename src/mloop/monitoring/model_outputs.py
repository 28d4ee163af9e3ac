"""The signature outputs of the models behind an endpoint: what its predictions are, for labels.

Feedback converts labels to the type of the primary model's predictions and judges them against
the classes of every model the endpoint serves (champion, canary, shadow, staged) or served for
the labelled predictions (any version the log names), so during a rollout a class only the
candidate knows is a known class, not a new one.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import cache
from pathlib import Path

from mloop.endpoints.service import get_endpoint
from mloop.errors import NotFound
from mloop.monitoring.feedback import ATTEMPTS, RETRY_PAUSE_S
from mloop.predlog.reader import connect, retried
from mloop.registry.versions import resolve, version_by_id
from mloop.signature import Output
from mloop.store import Store

OutputOf = Callable[[str, int], Output | None]  # a logged model version's signature output


def logged_model(log_root: str | os.PathLike[str], endpoint: str) -> tuple[str, int] | None:
    """The model and version that answered the endpoint's newest primary prediction."""

    def newest() -> tuple[str, int] | None:
        con = connect(Path(log_root), endpoint)
        try:
            row = con.execute(
                "SELECT model, version FROM log WHERE role = 'primary' AND model IS NOT NULL "
                "ORDER BY timestamp DESC LIMIT 1"
            ).fetchone()
        finally:
            con.close()
        return None if row is None else (str(row[0]), int(row[1]))

    return retried(newest, attempts=ATTEMPTS, pause_s=RETRY_PAUSE_S)


def endpoint_output(store: Store, log_root: str | os.PathLike[str], endpoint: str) -> Output | None:
    """What the endpoint's primary model predicts (its signature's output), for converting labels;
    None when the log names no model the registry still holds."""
    logged = logged_model(log_root, endpoint)
    if logged is None:
        return None
    try:
        return resolve(store, f"{logged[0]}@{logged[1]}").signature.output
    except NotFound:
        return None


def registry_output_of(store: Store) -> OutputOf:
    """A logged model version's output, read from the registry once per version (a version's
    signature never changes); None for one the registry no longer holds."""

    @cache
    def output_of(model: str, version: int) -> Output | None:
        try:
            return resolve(store, f"{model}@{version}").signature.output
        except NotFound:
            return None

    return output_of


def served_outputs(store: Store, endpoint: str) -> list[Output]:
    """The outputs of every model the endpoint's live and staged revisions serve (primary,
    canary, shadow): during a rollout the candidate's classes are known classes too. Empty for
    an endpoint the store does not hold (a log written elsewhere)."""
    try:
        state = get_endpoint(store, endpoint)
    except NotFound:
        return []
    slots = [s for r in (state.live, state.staged) if r is not None for s in r.slots().values()]
    with store.read() as conn:
        return [version_by_id(conn, slot.version_id).signature.output for slot in slots]
