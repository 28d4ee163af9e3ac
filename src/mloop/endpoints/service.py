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
  is skipped by the walk and refused as ``to``. A guarded rollout counts as one change: the
  walk from its verdict (or from a revision it is still watched on) lands on the revision live
  before it began, and its steps (the candidate beside the champion, safe to serve only while
  its guardrails watched) are skipped by the walk and refused as ``to``: re-applied, they
  would serve the candidate, often a rejected one, with nothing watching it.
- ``delete`` marks the endpoint deleted; deploying the name again starts it anew with the next
  revision number.
- ``follow_aliases`` (``endpoints.following``) writes a revision when a followed alias moved.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass
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
    "rollout_steps",
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


@dataclass(frozen=True)
class RolloutSteps:
    """The revisions one guarded rollout of an endpoint wrote or kept live while it was watched.

    ``steps`` are the rollout's start (the candidate beside the champion) and the revisions that
    followed it while the candidate stayed beside (an alias the champion follows moving writes
    one), up to its verdict; ``decided`` is the revision the verdict wrote (``promote`` or
    ``revert``), None while it is watched or when it ended on a change made by hand.
    """

    rollout: str
    candidate: str  # the candidate's version id
    started: int
    decided: int | None
    steps: tuple[int, ...]

    def candidate_in(self, revision: Revision) -> str:
        """The candidate's ``NAME@N`` as ``revision`` (one of the steps) serves it."""
        slot = revision.beside_primary(self.candidate)
        return "the candidate" if slot is None else slot.ref


def _rollout_steps(
    conn: sa.Connection, name: str, everything: dict[int, Revision]
) -> list[RolloutSteps]:
    """Every rollout of ``name`` with the revisions it was watched on (see ``RolloutSteps``).

    Read from the ``rollouts`` rows and the revisions themselves: a step is a live revision from
    the rollout's start on that still serves its candidate beside the primary, so a change made
    by hand mid-watch (which ends the rollout without a verdict revision) ends the steps too.
    """
    ro = t.rollouts
    rows = conn.execute(
        sa.select(
            ro.c.id, ro.c.candidate_version_id, ro.c.started_revision, ro.c.decided_revision
        ).where(ro.c.endpoint == name, ro.c.started_revision.is_not(None))
    ).all()
    numbers = sorted(everything)
    found = []
    for row in rows:
        started, decided = int(row.started_revision), row.decided_revision
        steps: list[int] = []
        for number in numbers[bisect.bisect_left(numbers, started) :]:
            if decided is not None and number >= decided:
                break
            revision = everything[number]
            if revision.staged:
                continue  # written beside the rollout, never live: not one of its steps
            if revision.beside_primary(str(row.candidate_version_id)) is None:
                break
            steps.append(number)
        found.append(
            RolloutSteps(
                rollout=str(row.id),
                candidate=str(row.candidate_version_id),
                started=started,
                decided=None if decided is None else int(decided),
                steps=tuple(steps),
            )
        )
    return found


def rollout_steps(store: Store, name: str) -> dict[int, str]:
    """Revision number → rollout id, for each revision of ``name`` that is a rollout's step.

    Those revisions were only safe to serve while the rollout's guardrails watched them, so
    ``rollback`` walks past them and refuses them as ``to``; ``endpoints history`` marks them.
    """
    check_endpoint_name(name)
    with store.read() as conn:
        everything = _everything(conn, _endpoint_id(conn, name))
        return {n: s.rollout for s in _rollout_steps(conn, name, everything) for n in s.steps}


def _endpoint_id(conn: sa.Connection, name: str) -> str:
    """The id of the endpoint called ``name``, deleted or not; ``NotFound`` naming the others."""
    endpoint_id = conn.execute(
        sa.select(t.endpoints.c.id).where(t.endpoints.c.name == name)
    ).scalar()
    if endpoint_id is None:
        raise unknown_endpoint(conn, name)
    return str(endpoint_id)


def _everything(conn: sa.Connection, endpoint_id: str) -> dict[int, Revision]:
    r = t.endpoint_revisions
    return {rev.number: rev for rev in read_revisions(conn, r.c.endpoint_id == endpoint_id)}


def _live_before(
    everything: dict[int, Revision], steps: dict[int, RolloutSteps], position: int
) -> Revision | None:
    """The newest revision before ``position`` that can be rolled back to: one that was live,
    not a rollout's step."""
    earlier = [
        n for n, rev in everything.items() if n < position and not rev.staged and n not in steps
    ]
    return everything[max(earlier)] if earlier else None


def _previous(
    name: str,
    everything: dict[int, Revision],
    rollouts: list[RolloutSteps],
    live: Revision,
) -> Revision:
    """The revision live before the change that made ``live``.

    A rollback stands for the revision it re-applied, and a rollout, from its start to its
    verdict, is one change: the walk lands on the revision live before the rollout began
    (the champion alone), never on a step of it, which would put the candidate back at its
    share with nothing watching it.
    """
    steps = {n: rollout for rollout in rollouts for n in rollout.steps}
    ends = {rollout.decided: rollout for rollout in rollouts if rollout.decided is not None}
    position = live.number
    seen: set[int] = set()
    while position not in seen:
        seen.add(position)
        current = everything.get(position)
        rollout = steps.get(position) or ends.get(position)
        if current is not None and current.action == "rollback" and current.source_revision:
            position = current.source_revision
        elif rollout is not None:
            position = rollout.started
    found = _live_before(everything, steps, position)
    if found is None:
        raise InvalidInput(
            f"Endpoint {name!r} has no live revision before r{position} to roll back to; "
            f"`mloop endpoints history {name}` lists its revisions (pick one with --to N)."
        )
    return found


def _numbers(numbers: list[int]) -> str:
    """``r1, r3-r5, r7`` for sorted revision numbers: short however long the history."""
    runs: list[list[int]] = []
    for number in numbers:
        if runs and number == runs[-1][-1] + 1:
            runs[-1].append(number)
        else:
            runs.append([number])
    return ", ".join(f"r{run[0]}" if len(run) == 1 else f"r{run[0]}-r{run[-1]}" for run in runs)


def _can_roll_back_to(
    everything: dict[int, Revision], steps: Collection[int], live: Revision
) -> str:
    """The revisions that can be rolled back to, for a refusal: those that were live, but the
    live one and the steps of rollouts."""
    listed = sorted(
        n for n, rev in everything.items() if not rev.staged and n != live.number and n not in steps
    )
    if not listed:
        return f"no revision but the live r{live.number} was ever live"
    if len(listed) == 1:
        return f"the one that can be rolled back to is {_numbers(listed)}"
    return f"the ones that can be rolled back to (they were live) are {_numbers(listed)}"


def _never_served(row: Any, target: Revision, live: Revision, options: str) -> InvalidInput:
    """The refusal of a rollback to a staged revision, naming the revisions that were live.

    A staged revision got no traffic, so nothing about it is known to work: re-applying it would
    put untested models live under the name of a rollback (and leave the staged slot pointing
    at a revision that is live too). Only revisions that were live can be rolled back to.
    """
    name = str(row.name)
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


def _mid_rollout(
    name: str,
    target: Revision,
    rollout: RolloutSteps,
    everything: dict[int, Revision],
    steps: dict[int, RolloutSteps],
) -> InvalidInput:
    """The refusal of a rollback to a rollout's step, naming the revision live before it began.

    A step served the candidate beside the champion only because the rollout's guardrails
    watched it and would pull it at the first failure; re-applied by a rollback, it would serve
    the candidate (often one its guardrails rejected) at its share, pinned, with nothing
    watching. Serving the candidate again is a new rollout, or a deploy that says so.
    """
    candidate = rollout.candidate_in(target)
    before = _live_before(everything, steps, rollout.started)
    back = (
        ""
        if before is None
        else f"r{before.number} was live before that rollout began "
        f"(`mloop endpoints rollback {name} --to {before.number}`), and "
    )
    return InvalidInput(
        f"Revision {target.number} of {name!r} ({target.describe()}) served {candidate} only "
        f"while rollout {rollout.rollout} watched it, so it cannot be rolled back to (nothing "
        f"would watch it now); {back}`mloop rollouts start {name} {candidate}` watches the "
        "candidate again."
    )


def rollback(
    store: Store, name: str, *, to: int | None = None, reason: str | None = None, actor: str
) -> Revision:
    """Re-apply revision ``to`` (default: the one before the live one) as a new live revision.

    The new revision is pinned to the versions that revision served (see the module docstring).
    Without ``to``, a rollout counts as one change: the walk lands on the revision live before
    it began. Raises ``NotFound`` for an unknown endpoint or revision, ``InvalidInput`` when
    there is nothing to go back to, ``to`` is already live, ``to`` is a staged revision (it
    never served traffic; the message names the revisions that were live), or ``to`` is a
    rollout's step (it served its candidate only while watched; the message names the revision
    live before that rollout).
    """
    with store.transaction() as conn:
        row = locked_endpoint(conn, name)
        endpoint_id, live_id = str(row.id), row.live_revision_id
        live = revisions_by_id(conn, [live_id]).get(live_id) if live_id else None
        if live is None:
            raise InvalidInput(f"Endpoint {name!r} has nothing live to roll back.")
        everything = _everything(conn, endpoint_id)
        rollouts = _rollout_steps(conn, name, everything)
        steps = {n: rollout for rollout in rollouts for n in rollout.steps}
        if to is None:
            target = _previous(name, everything, rollouts, live)
        else:
            if to not in everything:
                raise NotFound(
                    f"Endpoint {name!r} has no revision {to}; its revisions are numbered 1 to "
                    f"{max(everything)} (`mloop endpoints history {name}` lists them)."
                )
            target = everything[to]
            if target.staged:
                raise _never_served(row, target, live, _can_roll_back_to(everything, steps, live))
            if target.id != live.id and to in steps:
                raise _mid_rollout(name, target, steps[to], everything, steps)
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


def endpoint_names(store: Store) -> list[str]:
    """The names of the endpoints not deleted: one small query, cheap enough for every tick."""
    with store.read() as conn:
        rows = conn.execute(
            sa.select(t.endpoints.c.name)
            .where(t.endpoints.c.deleted_at.is_(None))
            .order_by(t.endpoints.c.name)
        )
        return [str(row.name) for row in rows]


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
        _endpoint_id(conn, name)


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
        endpoint_id = _endpoint_id(conn, name)
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
