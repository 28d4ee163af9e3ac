"""Endpoints: deploy, switch, roll back and delete, each one transaction and one new revision.

Every change appends an immutable revision (numbered per endpoint under a lock on the endpoint
row, so concurrent deploys on SQLite and PostgreSQL never share a number), moves the endpoint's
live or staged pointer, and writes an audit entry, together or not at all. Bad input is refused
before anything is written, in one sentence.

- ``deploy`` writes a live revision, or with ``stage=True`` a staged one beside the live one
  (blue/green). Staging needs a live revision to stand beside: a first deploy with ``stage`` is
  refused, since a staged revision gets no traffic and an endpoint with nothing live would
  serve nothing.
- ``switch`` makes the staged revision live: a new revision copying it, the staged slot cleared.
- ``rollback`` re-applies an earlier revision as a new one, *pinned* to the versions that revision
  served: the point of a rollback is to get back to models known to work, and following the
  alias again would move the endpoint off them at the next promotion (or straight back onto the
  version being rolled away from, when the alias still holds it). Deploy ``NAME@ALIAS`` again to
  resume following. Without ``to`` it walks back like a stack: the live revision's predecessor,
  where a rollback counts as the revision it re-applied, so rolling back twice goes two back.
  Only a revision that was live can be re-applied: a staged one never served traffic, so it
  is skipped by the walk and refused as ``to``.
- ``delete`` marks the endpoint deleted; deploying the name again starts it anew with the next
  revision number.
- ``follow_aliases`` (``endpoints.following``) writes a revision when a followed alias moved.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from typing import Any

import sqlalchemy as sa

from mloop import audit
from mloop.data import refs
from mloop.endpoints.following import follow_aliases
from mloop.endpoints.revisions import (
    RUNTIMES,
    EndpointState,
    ModelSlot,
    NewRevision,
    Revision,
    endpoint_states,
    read_revisions,
    revisions_by_id,
)
from mloop.endpoints.writing import (
    check_endpoint_name,
    locked_endpoint,
    unknown_endpoint,
    write_revision,
)
from mloop.errors import InvalidInput, NotFound
from mloop.ids import new_id
from mloop.registry.exports import exports_in
from mloop.registry.versions import ModelVersion, resolve_in
from mloop.store import Store
from mloop.store import tables as t
from mloop.store.inserts import insert_if_absent

__all__ = [
    "change_token",
    "check_listed_endpoint",
    "delete",
    "deploy",
    "follow_aliases",
    "get_endpoint",
    "history",
    "list_endpoints",
    "rollback",
    "serving_snapshot",
    "switch",
]


def check_traffic(canary: str | None, weight: int | None) -> None:
    """A canary comes with its share of requests, a whole percent from 1 to 99."""
    if weight is not None and canary is None:
        raise InvalidInput(
            f"--weight {weight} sets a canary's share of requests, but no --canary MODEL_REF was "
            "given; add one (e.g. --canary churn@challenger --weight 10) or drop --weight."
        )
    if canary is not None and weight is None:
        raise InvalidInput(
            f"--canary {canary} needs --weight PCT, the share of requests it answers "
            f"(1 to 99), e.g. --canary {canary} --weight 10."
        )
    if weight is not None and (isinstance(weight, bool) or not 1 <= weight <= 99):
        raise InvalidInput(
            f"--weight must be a whole percent from 1 to 99 (the canary's share of requests); "
            f"got {weight}. Deploy the canary as the model itself to send it every request."
        )


def check_runtime(runtime: str) -> str:
    if runtime not in RUNTIMES:
        raise InvalidInput(f"--runtime must be python or onnx; got {runtime!r}.")
    return runtime


def _resolve(conn: sa.Connection, text: str, role: str) -> tuple[ModelSlot, ModelVersion]:
    parsed = refs.parse_ref(text, what="Model name")
    if parsed.latest:
        raise InvalidInput(
            f"The {role} {text!r} names no version: an endpoint serves NAME@N (pinned) or "
            f"NAME@ALIAS (followed as the alias moves); write e.g. {parsed.name}@champion or "
            f"{parsed.name}@1 (`mloop models show {parsed.name}` lists versions)."
        )
    version = resolve_in(conn, text)
    alias = None if parsed.version is not None else parsed.selector
    slot = ModelSlot(version.id, version.name, version.version, alias, version.artifact_hash)
    return slot, version


def _check_roles(primary: ModelVersion, others: dict[str, tuple[str, ModelVersion | None]]) -> None:
    for role, (text, other) in others.items():
        if other is None:
            continue
        if other.id == primary.id:
            what = (
                "a canary must be another version"
                if role == "canary"
                else "a shadow compared with itself measures nothing; shadow another version"
            )
            raise InvalidInput(
                f"The {role} {text} is the primary model itself ({primary.ref}); {what}."
            )
        mine, theirs = primary.signature.target, other.signature.target
        if mine and theirs and mine != theirs:
            raise InvalidInput(
                f"The {role} {other.ref} predicts {theirs!r} but the primary {primary.ref} "
                f"predicts {mine!r}; a {role} must answer the same question (a model of "
                f"{mine!r})."
            )


def require_exports(conn: sa.Connection, slots: list[ModelSlot]) -> None:
    """``InvalidInput`` unless every slot's version has a checked ONNX export recorded."""
    found = exports_in(conn, [s.version_id for s in slots], "onnx")
    missing = [s.ref for s in slots if s.version_id not in found]
    if missing:
        raise InvalidInput(
            f"--runtime onnx needs a checked ONNX export of {', '.join(missing)}, and the "
            f"registry holds none; run `mloop models export {missing[0]} --onnx FILE` (which "
            "records it), or serve with --runtime python."
        )


def deploy(
    store: Store,
    endpoint: str,
    model_ref: str,
    *,
    canary: str | None = None,
    weight: int | None = None,
    shadow: str | None = None,
    stage: bool = False,
    runtime: str = "python",
    reason: str | None = None,
    actor: str,
) -> Revision:
    """Serve ``model_ref`` (``NAME@N`` or ``NAME@ALIAS``) at ``endpoint`` as a new revision.

    Raises ``NotFound`` for a ref that does not resolve, ``InvalidInput`` for a bad name, weight,
    runtime or role (a canary of another target, a shadow equal to the primary, ``onnx`` without
    a recorded export, ``stage`` with nothing live); nothing is written then.
    """
    check_endpoint_name(endpoint)
    check_traffic(canary, weight)
    check_runtime(runtime)
    now = dt.datetime.now(dt.UTC)
    with store.transaction() as conn:
        primary, primary_version = _resolve(conn, model_ref, "model")
        canary_slot, canary_version = _resolve(conn, canary, "canary") if canary else (None, None)
        shadow_slot, shadow_version = _resolve(conn, shadow, "shadow") if shadow else (None, None)
        _check_roles(
            primary_version,
            {"canary": (canary or "", canary_version), "shadow": (shadow or "", shadow_version)},
        )
        slots = [s for s in (primary, canary_slot, shadow_slot) if s is not None]
        if runtime == "onnx":
            require_exports(conn, slots)
        insert_if_absent(
            conn,
            t.endpoints,
            {
                "id": new_id(),
                "name": endpoint,
                "live_revision_id": None,
                "staged_revision_id": None,
                "created_at": now,
                "created_by": actor,
                "updated_at": now,
            },
            unique=["name"],
        )
        row = locked_endpoint(conn, endpoint, deleted_ok=True)
        live_id = None if row.deleted_at is not None else row.live_revision_id
        if stage and live_id is None:
            raise InvalidInput(
                f"Endpoint {endpoint!r} has no live revision to stage beside; deploy it without "
                "--stage first (a staged revision gets no traffic until `mloop endpoints switch`)."
            )
        previous = revisions_by_id(conn, [live_id]).get(live_id) if live_id else None
        new = NewRevision(
            primary=primary,
            canary=canary_slot,
            canary_weight=weight,
            shadow=shadow_slot,
            runtime=runtime,
            staged=stage,
            action="stage" if stage else "deploy",
            reason=reason,
        )
        return write_revision(conn, row, new, actor=actor, previous=previous)


def _copy(
    source: Revision, *, action: str, staged: bool, reason: str | None, pin: bool
) -> NewRevision:
    def pinned(slot: ModelSlot | None) -> ModelSlot | None:
        if slot is None or not pin:
            return slot
        return ModelSlot(slot.version_id, slot.model, slot.version, None, slot.artifact_hash)

    primary = pinned(source.primary)
    assert primary is not None
    return NewRevision(
        primary=primary,
        canary=pinned(source.canary),
        canary_weight=source.canary_weight,
        shadow=pinned(source.shadow),
        runtime=source.runtime,
        staged=staged,
        action=action,
        reason=reason,
        source_revision=source.number,
    )


def switch(store: Store, name: str, *, reason: str | None = None, actor: str) -> Revision:
    """Make the staged revision live at once (a new revision copying it); clears the staged slot.

    Raises ``NotFound`` for an unknown endpoint, ``InvalidInput`` when nothing is staged.
    """
    with store.transaction() as conn:
        row = locked_endpoint(conn, name)
        staged_id, live_id = row.staged_revision_id, row.live_revision_id
        if staged_id is None:
            raise InvalidInput(
                f"Endpoint {name!r} has no staged revision to switch to; "
                f"`mloop deploy {name} MODEL_REF --stage` prepares one."
            )
        found = revisions_by_id(conn, [staged_id, live_id])
        new = _copy(found[staged_id], action="switch", staged=False, reason=reason, pin=False)
        return write_revision(conn, row, new, actor=actor, previous=found.get(live_id))


def _previous(conn: sa.Connection, name: str, endpoint_id: str, live: Revision) -> Revision:
    """The revision before ``live``; a rollback stands for the revision it re-applied."""
    r = t.endpoint_revisions
    everything = {rev.number: rev for rev in read_revisions(conn, r.c.endpoint_id == endpoint_id)}
    position = live.number
    seen: set[int] = set()
    while (
        (current := everything.get(position)) is not None
        and current.action == "rollback"
        and current.source_revision is not None
        and position not in seen
    ):
        seen.add(position)
        position = current.source_revision
    earlier = [n for n, rev in everything.items() if n < position and not rev.staged]
    if not earlier:
        raise InvalidInput(
            f"Endpoint {name!r} has no live revision before r{position} to roll back to; "
            f"`mloop endpoints history {name}` lists its revisions (pick one with --to N)."
        )
    return everything[max(earlier)]


def _numbers(numbers: list[int]) -> str:
    """``r1, r3-r5, r7`` for sorted revision numbers: short however long the history."""
    runs: list[list[int]] = []
    for number in numbers:
        if runs and number == runs[-1][-1] + 1:
            runs[-1].append(number)
        else:
            runs.append([number])
    return ", ".join(f"r{run[0]}" if len(run) == 1 else f"r{run[0]}-r{run[-1]}" for run in runs)


def _never_served(conn: sa.Connection, row: Any, target: Revision, live: Revision) -> InvalidInput:
    """The refusal of a rollback to a staged revision, naming the revisions that were live.

    A staged revision got no traffic, so nothing about it is known to work: re-applying it would
    put untested models live under the name of a rollback (and leave the staged slot pointing
    at a revision that is live too). Only revisions that were live can be rolled back to.
    """
    r = t.endpoint_revisions
    listed = list(
        conn.execute(
            sa.select(r.c.number)
            .where(r.c.endpoint_id == str(row.id), r.c.staged.is_(False), r.c.number != live.number)
            .order_by(r.c.number)
        ).scalars()
    )
    name = str(row.name)
    if not listed:
        options = f"no revision but the live r{live.number} was ever live"
    elif len(listed) == 1:
        options = f"the one that can be rolled back to is {_numbers(listed)}"
    else:
        options = f"the ones that can be rolled back to (they were live) are {_numbers(listed)}"
    if target.id == row.staged_revision_id:
        return InvalidInput(
            f"Revision {target.number} of {name!r} is staged and has never served traffic, so "
            f"it cannot be rolled back to; `mloop endpoints switch {name}` makes it live, and "
            f"{options}."
        )
    return InvalidInput(
        f"Revision {target.number} of {name!r} was staged and never served traffic, so it "
        f"cannot be rolled back to; {options} (`mloop endpoints history {name}`)."
    )


def rollback(
    store: Store, name: str, *, to: int | None = None, reason: str | None = None, actor: str
) -> Revision:
    """Re-apply revision ``to`` (default: the one before the live one) as a new live revision.

    The new revision is pinned to the versions that revision served (see the module docstring).
    Raises ``NotFound`` for an unknown endpoint or revision, ``InvalidInput`` when there is
    nothing to go back to, ``to`` is already live, or ``to`` is a staged revision (it never
    served traffic; the message names the revisions that were live).
    """
    r = t.endpoint_revisions
    with store.transaction() as conn:
        row = locked_endpoint(conn, name)
        endpoint_id, live_id = str(row.id), row.live_revision_id
        live = revisions_by_id(conn, [live_id]).get(live_id) if live_id else None
        if live is None:
            raise InvalidInput(f"Endpoint {name!r} has nothing live to roll back.")
        if to is None:
            target = _previous(conn, name, endpoint_id, live)
        else:
            found = read_revisions(conn, r.c.endpoint_id == endpoint_id, r.c.number == to)
            if not found:
                highest = conn.execute(
                    sa.select(sa.func.max(r.c.number)).where(r.c.endpoint_id == endpoint_id)
                ).scalar_one()
                raise NotFound(
                    f"Endpoint {name!r} has no revision {to}; its revisions are numbered 1 to "
                    f"{highest} (`mloop endpoints history {name}` lists them)."
                )
            target = found[0]
            if target.staged:
                raise _never_served(conn, row, target, live)
        if target.id == live.id:
            raise InvalidInput(f"Revision {to} of {name!r} is the live one already; nothing to do.")
        new = _copy(target, action="rollback", staged=False, reason=reason, pin=True)
        return write_revision(conn, row, new, actor=actor, previous=live)


def delete(store: Store, name: str, *, reason: str | None = None, actor: str) -> EndpointState:
    """Mark the endpoint deleted: a server stops serving it; its revisions stay as history.

    Raises ``NotFound`` for an unknown (or already deleted) endpoint.
    """
    e = t.endpoints
    with store.transaction() as conn:
        row = locked_endpoint(conn, name)
        now = dt.datetime.now(dt.UTC)
        live_id = row.live_revision_id
        live = revisions_by_id(conn, [live_id]).get(live_id) if live_id else None
        conn.execute(
            e.update()
            .where(e.c.id == row.id)
            .values(live_revision_id=None, staged_revision_id=None, deleted_at=now, updated_at=now)
        )
        audit.record(
            conn,
            actor=actor,
            action="endpoint_delete",
            model=None if live is None else live.primary.model,
            subject=f"endpoint {name}",
            from_value=None if live is None else f"r{live.number} {live.describe()}",
            reason=reason,
        )
        (state,) = endpoint_states(conn, e.c.id == row.id)
        return state


def list_endpoints(store: Store) -> list[EndpointState]:
    """Every endpoint not deleted, by name, with its live and staged revisions."""
    with store.read() as conn:
        return endpoint_states(conn, t.endpoints.c.deleted_at.is_(None))


def check_listed_endpoint(store: Store, name: str, policies: Collection[str] = ()) -> None:
    """``NotFound`` when ``name`` was never an endpoint of this store nor has a policy.

    A listing filtered by an endpoint (``jobs ls --endpoint``, ``rollouts ls --endpoint``) that
    matches nothing is ambiguous: a typo must not read as "nothing happened there yet".
    Deleted endpoints count, as their history is still listed.
    """
    check_endpoint_name(name)
    if name in policies:
        return
    with store.read() as conn:
        found = conn.execute(sa.select(t.endpoints.c.id).where(t.endpoints.c.name == name)).scalar()
        if found is None:
            raise unknown_endpoint(conn, name)


def get_endpoint(store: Store, name: str) -> EndpointState:
    """One endpoint now; raises ``NotFound`` when there is none or it was deleted."""
    check_endpoint_name(name)
    with store.read() as conn:
        found = endpoint_states(conn, t.endpoints.c.name == name)
        if not found:
            raise unknown_endpoint(conn, name)
    state = found[0]
    if state.deleted_at is not None:
        raise NotFound(
            f"Endpoint {name!r} was deleted on {state.deleted_at:%Y-%m-%d %H:%M}; "
            f"`mloop deploy {name} MODEL_REF` starts it again (`mloop endpoints history {name}` "
            "shows what it served)."
        )
    return state


def history(store: Store, name: str) -> list[Revision]:
    """Every revision of ``name``, oldest first (a deleted endpoint's too)."""
    check_endpoint_name(name)
    with store.read() as conn:
        endpoint_id = conn.execute(
            sa.select(t.endpoints.c.id).where(t.endpoints.c.name == name)
        ).scalar()
        if endpoint_id is None:
            raise unknown_endpoint(conn, name)
        return read_revisions(conn, t.endpoint_revisions.c.endpoint_id == endpoint_id)


def _token(conn: sa.Connection) -> str:
    e, r = t.endpoints, t.endpoint_revisions
    count, updated = conn.execute(
        sa.select(
            sa.select(sa.func.count()).select_from(r).scalar_subquery(),
            sa.select(sa.func.max(e.c.updated_at)).scalar_subquery(),
        )
    ).one()
    stamp = (
        "" if updated is None else (updated if isinstance(updated, str) else updated.isoformat())
    )
    return f"{count}/{stamp}"


def change_token(store: Store) -> str:
    """A short text that changes whenever any endpoint changes (one cheap query)."""
    with store.read() as conn:
        return _token(conn)


def serving_snapshot(store: Store) -> tuple[str, list[EndpointState]]:
    """The change token and every endpoint a server should serve, read in one transaction.

    A server polling twice a second compares ``change_token`` first and reads this only when it
    moved; the token here is the one matching the states returned.
    """
    with store.read() as conn:
        return _token(conn), endpoint_states(conn, t.endpoints.c.deleted_at.is_(None))
