"""S1's shared part: the TakeSnapshot guard and the end-of-batch position (inventory §1.2).

mosaik repeats this part of ``apply_batch`` in every collection (e.g.
map.rs:554-638). Each collection's ``apply_batch`` runs :func:`apply_s1` with its
own per-command step and snapshot function.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from impl.collections.base import ApplyContext, PendingRequest, Snapshot
from impl.errors import InvalidInput, InvalidMessage
from impl.messages import Command, SnapshotRequest, TakeSnapshot
from impl.profile import Profile
from impl.types import Cursor, Index

__all__ = ["apply_s1", "serve_requests", "snapshot_wanted"]

S = TypeVar("S")


def snapshot_wanted(request: SnapshotRequest, ctx: ApplyContext) -> bool:
    """S1 guard: collect a TakeSnapshot request iff it is not from the local peer and
    has not expired by this node's wall clock (map.rs:599-607, H8).

    The local peer never serves itself; an expired request is not served because its
    requester has given up on it (its session retries with a new request).
    """
    # Verify the request comes from another peer
    if request.requested_by == ctx.local_id:
        return False
    # Verify the request is still fresh by this node's wall clock
    return not ctx.config.is_expired(request, ctx.now_wall_ms)


def serve_requests(
    requests: Sequence[SnapshotRequest], snapshot: Snapshot, ctx: ApplyContext, count: int
) -> tuple[PendingRequest, ...]:
    """S1 step 4: one :class:`PendingRequest` per collected request, all sharing one
    snapshot taken after the whole batch, at ``Cursor(current_term, committed + count)``
    (map.rs:623-637). ``count`` is the number of commands the batch counted."""
    position = Cursor(ctx.current_term, Index(ctx.committed.index + count))
    return tuple(PendingRequest(request, position, snapshot) for request in requests)


def apply_s1(
    state: S,
    commands: Sequence[Command],
    ctx: ApplyContext,
    profile: Profile,
    step: Callable[[S, Command, Profile], tuple[S, bool]],
    snapshot: Callable[[S, Profile], Snapshot],
) -> tuple[S, tuple[PendingRequest, ...]]:
    """S1 ``apply_batch``: apply ``commands`` in order and serve the snapshot requests.

    Implements inventory §1.2 S1 (map.rs:554-638 and its siblings):

    1. ``n := 0``, ``reqs := []``.
    2. For each command: a data command is applied by ``step``, which returns the new
       state and whether the command is counted (always, except DEPQ's mismatching
       CompareExchangeValue under H4, depq.rs:879/937); ``TakeSnapshot(req)`` adds
       ``req`` iff :func:`snapshot_wanted`; a TakeSnapshot is always counted.
    3. If any request was collected: ``snapshot(final state, profile)`` once, and one
       :class:`PendingRequest` per request at ``Cursor(ctx.current_term,
       ctx.committed.index + n)`` — the end of the batch, not the marker's index; the
       snapshot reflects every command of the batch.

    The function is pure: on a rejected command it raises and no state is returned.

    Raises
    ------
    InvalidInput
        ``ctx`` is not an :class:`ApplyContext` or ``commands`` is not a sequence.
    InvalidMessage
        A TakeSnapshot does not carry a :class:`SnapshotRequest`, or ``step`` rejects a
        command.
    """
    # Verify the inputs have the right shape (exact-type fast paths: this runs per batch)
    if type(ctx) is not ApplyContext and not isinstance(ctx, ApplyContext):
        raise InvalidInput(f"apply_batch needs an ApplyContext, got {type(ctx).__name__}")
    kind = type(commands)
    if (
        kind is not list
        and kind is not tuple
        and (isinstance(commands, str | bytes) or not isinstance(commands, Sequence))
    ):
        raise InvalidInput(f"commands must be a sequence, got {kind.__name__}")
    count = 0
    requests: list[SnapshotRequest] = []
    for command in commands:
        if isinstance(command, TakeSnapshot):
            if not isinstance(command.request, SnapshotRequest):
                raise InvalidMessage("TakeSnapshot.request", "must be a SnapshotRequest")
            if snapshot_wanted(command.request, ctx):
                requests.append(command.request)
            count += 1
            continue
        state, counted = step(state, command, profile)
        if counted:
            count += 1
    if not requests:
        return state, ()
    return state, serve_requests(requests, snapshot(state, profile), ctx, count)
