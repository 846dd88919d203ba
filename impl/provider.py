"""The snapshot provider: P1–P6 (inventory §1.3; mosaik ``SnapshotSyncProvider``, provider.rs).

Every node runs one provider, whatever its role. It turns a lagging follower's
``RequestSnapshot`` into a replicated ``TakeSnapshot`` marker (leader only, P2),
offers the snapshot each node took when that marker committed (P3), serves
chunks of it (P4) and forgets it after ``snapshot_ttl`` without fetches (P5).

TTL timers: mosaik keeps a tokio ``Sleep`` per snapshot; here each
:class:`~impl.provider_state.AvailableSnapshot` stores its deadline, and the steps emit
``ArmTimer``/``CancelTimer`` for ``TimerId(SNAPSHOT_TTL, anchor=...)`` as trace
records. A snapshot whose deadline has passed is expired: P4 does not serve it
even before P5 has removed it (spec decision, see :func:`on_fetch_data_request`).

The provider side of H7 (a copy's TTL is revived only by fetches *to that copy*,
so an idle copy can expire while a session still needs it) is mosaik's behaviour
in both profiles: whether a session survives it is the session's concern.
"""

from __future__ import annotations

from collections.abc import Iterable

from impl.collections.base import PendingRequest
from impl.effects import (
    ArmTimer,
    CancelTimer,
    Effect,
    FeedCommand,
    Ignored,
    IgnoreReason,
    Send,
    TimerId,
    TimerKind,
)
from impl.errors import InvalidInput
from impl.messages import (
    FetchDataRequest,
    FetchDataResponse,
    RequestSnapshot,
    SnapshotInfo,
    SnapshotOffer,
    SnapshotRequest,
    SyncMessage,
    TakeSnapshot,
)
from impl.node_state import LeaderRole, NodeContext, NodeState
from impl.profile import Hazard
from impl.provider_state import AvailableSnapshot, ProviderContext, ProviderState
from impl.records import evolve
from impl.types import Cursor, Index, ItemRange, PeerId

__all__ = [
    "ProviderContext",
    "on_fetch_data_request",
    "on_snapshot_request",
    "poll_pending_requests",
    "provider_context",
    "provider_enqueue",
    "provider_next_deadline",
    "provider_poll",
    "provider_receive",
    "prune_expired_snapshots",
    "safe_to_prune_prefix",
    "ttl_timer",
]


def provider_context(node: NodeState, ctx: NodeContext) -> ProviderContext:
    """Return the provider's view of ``node`` under ``ctx``."""
    return ProviderContext(
        local_id=node.id,
        is_leader=isinstance(node.role, LeaderRole),
        config=ctx.config,
        now_ms=ctx.now_ms,
        now_wall_ms=ctx.now_wall_ms,
        profile=ctx.profile,
    )


def ttl_timer(anchor: Cursor) -> TimerId:
    """Return the id of the TTL timer of the snapshot at ``anchor``."""
    return TimerId(TimerKind.SNAPSHOT_TTL, anchor=anchor)


def provider_receive(
    p: ProviderState, pctx: ProviderContext, sender: PeerId, message: SyncMessage
) -> tuple[ProviderState, tuple[Effect, ...], SnapshotOffer | FetchDataResponse | None]:
    """P1: offer a StateSync message to the provider first (provider.rs:91-119).

    * ``RequestSnapshot`` → P2 with ``SnapshotRequest(requested_by=sender,
      requested_at_ms=now_wall_ms)``: the stamp is *this* node's wall clock.
    * ``FetchDataRequest`` → P4.
    * Anything else is not the provider's: it is returned unconsumed (mosaik's
      ``Err(msg)``) for the role to hand to the session.

    Returns
    -------
    ``(state, effects, unconsumed)`` where ``unconsumed`` is ``message`` if the
    provider did not consume it, else ``None``.

    >>> from impl.config import Config
    >>> me, peer = PeerId.from_label("me"), PeerId.from_label("peer")
    >>> pctx = ProviderContext(me, is_leader=True, config=Config(), now_ms=0, now_wall_ms=7)
    >>> _, fx, rest = provider_receive(ProviderState(), pctx, peer, RequestSnapshot())
    >>> fx[0].command.request.requested_by == peer, fx[0].command.request.requested_at_ms, rest
    (True, 7, None)
    """
    if isinstance(message, RequestSnapshot):
        request = SnapshotRequest(requested_by=sender, requested_at_ms=pctx.now_wall_ms)
        p, effects = on_snapshot_request(p, pctx, request)
        return p, effects, None
    if isinstance(message, FetchDataRequest):
        p, effects = on_fetch_data_request(p, pctx, sender, message)
        return p, effects, None
    if isinstance(message, SnapshotOffer | FetchDataResponse):
        return p, (), message
    raise InvalidInput(f"provider_receive needs a StateSync message, got {type(message).__name__}")


def on_snapshot_request(
    p: ProviderState, pctx: ProviderContext, request: SnapshotRequest
) -> tuple[ProviderState, tuple[Effect, ...]]:
    """P2: the leader feeds ``TakeSnapshot(request)`` into the log (provider.rs:212-249).

    Guard: this node is the leader. A non-leader ignores the request with no reply
    and no redirect (``NOT_LEADER``); the requester's retry timer (Q7) recovers.

    Effects: ``FeedCommand(TakeSnapshot(request))``, which the node applies as R8
    (queued for the next R1). No message is sent.
    """
    # Verify this node leads: only the leader may order the marker into the log.
    if not pctx.is_leader:
        return p, (
            Ignored(IgnoreReason.NOT_LEADER, f"RequestSnapshot from {request.requested_by}"),
        )
    return p, (FeedCommand(TakeSnapshot(request)),)


def poll_pending_requests(
    p: ProviderState, pctx: ProviderContext
) -> tuple[ProviderState, tuple[Effect, ...], bool]:
    """P3: drain the request channel and offer each snapshot (provider.rs:135-192).

    For each ``PendingRequest(request, position, snapshot)``, oldest first:

    1. Skip it if ``request.requested_by`` is this node (``OWN_REQUEST``) or it is
       expired by this node's wall clock (``EXPIRED_REQUEST``; the second of the two
       wall-clock checks, H8).
    2. If a snapshot is already on offer at ``position``, keep *that* one and revive
       its TTL; else store this one with a fresh TTL. Either way
       ``ArmTimer(SNAPSHOT_TTL)`` at ``now + snapshot_ttl``.
    3. ``Send(requested_by, SnapshotOffer(SnapshotInfo(position, len)))`` — also
       when the position was already on offer. ``len`` is the length of the
       snapshot that came with this request (identical for one position under I2).

    Returns ``(state, effects, received)``; ``received`` is true if the channel
    held anything, skipped requests included (mosaik's ``Poll::Ready``), which
    makes :func:`provider_poll` skip P5 on this tick.
    """
    if not p.requests:
        return p, (), False
    available = p.available
    effects: list[Effect] = []
    ttl = pctx.config.snapshot_ttl_ms
    for pending in p.requests:
        request = pending.request
        # Verify the request is not our own: we hold the state already.
        if request.requested_by == pctx.local_id:
            effects.append(Ignored(IgnoreReason.OWN_REQUEST, f"snapshot at {pending.position}"))
            continue
        # Verify the request is still fresh by this node's wall clock.
        if pctx.config.is_expired(request, pctx.now_wall_ms):
            effects.append(
                Ignored(IgnoreReason.EXPIRED_REQUEST, f"requested at {request.requested_at_ms}")
            )
            continue
        deadline = pctx.now_ms + ttl
        existing = available.get(pending.position)
        if existing is not None:
            available = available.set(pending.position, evolve(existing, deadline_ms=deadline))
        else:
            available = available.set(
                pending.position, AvailableSnapshot(pending.snapshot, deadline)
            )
        effects.append(ArmTimer(ttl_timer(pending.position), deadline))
        info = SnapshotInfo(anchor=pending.position, items_count=len(pending.snapshot))
        effects.append(Send(request.requested_by, SnapshotOffer(info)))
    return ProviderState(available=available, requests=()), tuple(effects), True


def on_fetch_data_request(
    p: ProviderState, pctx: ProviderContext, sender: PeerId, request: FetchDataRequest
) -> tuple[ProviderState, tuple[Effect, ...]]:
    """P4: serve one chunk of the snapshot at ``request.anchor`` (provider.rs:257-309).

    1. No snapshot at the anchor, or its TTL has run out → no reply
       (``UNKNOWN_ANCHOR``).
    2. Clamp: ``end := min(range.end, range.start + fetch_batch_size)``.
    3. The clamped range is empty → no reply (``EMPTY_RANGE``) and **no** revive.
    4. Revive the TTL (``ArmTimer``) — before the bounds check, as mosaik does.
    5. ``iter_range`` is ``None`` (beyond the snapshot) → no reply
       (``OUT_OF_BOUNDS``), the revive stands.
    6. ``Send(sender, FetchDataResponse(anchor, offset=range.start, items))``.

    Nothing about the sender is checked (no request id, no per-requester state).
    An inverted range cannot reach this step: :class:`~impl.types.ItemRange`
    rejects it when the message is built (``InvalidRange``).

    Expiry: mosaik only looks the anchor up; the entry leaves ``available`` at P5,
    which is skipped on every tick where P3 received a request (provider.rs:77-82),
    so a fetch handled before the next pruning tick is served, and revives the TTL,
    past the deadline (kept under H7). Spec decision (reference): "timer first" — a
    snapshot whose deadline is ``<= now`` counts as expired here even if P5 has not
    run yet, which makes the TTL a hard bound: a provider never serves (or revives)
    a snapshot past its deadline.
    """
    entry = p.available.get(request.anchor)
    # Verify we hold a live snapshot at the anchor.
    if entry is None:
        return p, (Ignored(IgnoreReason.UNKNOWN_ANCHOR, f"no snapshot at {request.anchor}"),)
    if entry.deadline_ms <= pctx.now_ms and not pctx.profile.has(Hazard.H7):
        return p, (Ignored(IgnoreReason.UNKNOWN_ANCHOR, f"snapshot at {request.anchor} expired"),)
    start = request.range.start
    end = min(request.range.end, start + pctx.config.fetch_batch_size)
    # Verify the clamped range asks for something (an empty one does not even revive).
    if end <= start:
        return p, (Ignored(IgnoreReason.EMPTY_RANGE, f"range {request.range}"),)
    deadline = pctx.now_ms + pctx.config.snapshot_ttl_ms
    p = evolve(p, available=p.available.set(request.anchor, evolve(entry, deadline_ms=deadline)))
    revive = ArmTimer(ttl_timer(request.anchor), deadline)
    items = entry.snapshot.iter_range(ItemRange(start, end))
    # Verify the range lies inside the snapshot.
    if items is None:
        detail = f"range {ItemRange(start, end)} beyond {len(entry.snapshot)} items"
        return p, (revive, Ignored(IgnoreReason.OUT_OF_BOUNDS, detail))
    response = FetchDataResponse(anchor=request.anchor, offset=start, items=tuple(items))
    return p, (revive, Send(sender, response))


def prune_expired_snapshots(
    p: ProviderState, now_ms: int
) -> tuple[ProviderState, tuple[Effect, ...]]:
    """P5: forget every snapshot whose TTL deadline is ``<= now_ms`` (provider.rs:196-207).

    Each removal emits ``CancelTimer`` for its (already fired) TTL timer, so a
    driver's timer bookkeeping stays exact. Removal is in anchor order.
    """
    expired = sorted(c for c, a in p.available.items() if a.deadline_ms <= now_ms)
    if not expired:
        return p, ()
    available = p.available
    for anchor in expired:
        available = available.discard(anchor)
    return evolve(p, available=available), tuple(CancelTimer(ttl_timer(a)) for a in expired)


def safe_to_prune_prefix(committed: Cursor) -> Index:
    """P6: the log prefix a snapshot provider no longer needs: all of it, ``committed.index``.

    (provider.rs:124-129.) Lagging followers catch up from snapshots, never by log
    replay, so R7 may prune everything but the last committed entry (H18).

    >>> safe_to_prune_prefix(Cursor(1, 9))
    9
    """
    return committed.index


def provider_poll(
    p: ProviderState, pctx: ProviderContext
) -> tuple[ProviderState, tuple[Effect, ...]]:
    """The provider's tick: P3, then P5 only if P3 received nothing (provider.rs:77-82).

    So expiry happens at the first tick *without* new requests at or after the
    deadline (H7: "≥ deadline", not "= deadline"); P4 already treats a passed
    deadline as expired.
    """
    p, effects, received = poll_pending_requests(p, pctx)
    if received:
        return p, effects
    p, pruned = prune_expired_snapshots(p, pctx.now_ms)
    return p, effects + pruned


def provider_enqueue(p: ProviderState, requests: Iterable[PendingRequest]) -> ProviderState:
    """Push the requests ``apply_batch`` returned (S1) onto the channel (mod.rs:367-378)."""
    added = tuple(requests)
    if not added:
        return p
    return evolve(p, requests=p.requests + added)


def provider_next_deadline(p: ProviderState) -> int | None:
    """Return when the provider next has work: 0 with undrained requests, else the earliest TTL."""
    if p.requests:
        return 0
    if not p.available:
        return None
    return min(a.deadline_ms for a in p.available.values())
