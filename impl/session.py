"""The catch-up session: Q0–Q13 (inventory §1.4, §2.3; mosaik ``SnapshotSyncSession``, session.rs).

A lagging follower creates one session when an AppendEntries does not match its
log (R4 → Q0). The session asks the leader for a snapshot (``RequestSnapshot``),
collects offers (Q1), selects an anchor (Q2/Q3), fetches the anchor's items in
chunks from the peers that offered it (Q11), drains contiguous chunks into the
accumulated snapshot (Q8) and, once nothing is missing, installs it and appends
the AppendEntries it buffered meanwhile (Q12, Q13).

Every step is a pure function over the frozen
:class:`~impl.session_state.SessionState` (the records live in
:mod:`impl.session_state`). Time (``now_ms``, monotonic), the leader and the live
bonds arrive as arguments in a :class:`~impl.session_state.SessionContext`. Timers
are deadlines in the state; a step that sets or clears one returns
``ArmTimer``/``CancelTimer`` for it
(``TimerId(SNAPSHOT_REQUEST_RETRY)``, ``TimerId(FETCH_TIMEOUT, peer=p)``).

Profiles (``ctx.profile``): with every switch on (``mosaik-0.3.13``) the steps do
what mosaik 0.3.13 does, hazards included; with every switch off (``reference``)
each hazard is fixed inside the protocol, without changing the wire messages.
The readable specification, with each spec decision, is ``docs/protocol/session.md``.

Deterministic rules where mosaik iterates hash maps (both profiles):

* idle peers are ordered non-leaders first, sorted by PeerId bytes, then the
  session-start leader (mosaik: HashSet order, leader last; session.rs:469-480);
* candidates are ordered by anchor index descending, then term descending
  (mosaik: index only, ties in HashMap order; H12);
* terminations are processed in arrival order; timer effects are listed retry
  timer first, then fetch timers by PeerId bytes.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace

from pyrsistent import pmap, pvector
from pyrsistent.typing import PVector

from impl.collections.base import Snapshot
from impl.effects import (
    AppendLog,
    ArmTimer,
    CancelTimer,
    Effect,
    Ignored,
    IgnoreReason,
    InstallSnapshot,
    ResetLog,
    Send,
    SetCommitted,
    TimerId,
    TimerKind,
)
from impl.errors import HazardPanic, InvalidInput, InvalidRange, InvalidState
from impl.messages import (
    FetchDataRequest,
    FetchDataResponse,
    LogEntry,
    RequestSnapshot,
    SnapshotInfo,
)
from impl.profile import Hazard
from impl.session_state import (
    BufferedEntry,
    PendingFetch,
    SessionContext,
    SessionState,
)
from impl.types import Cursor, Index, ItemRange, PeerId, check_u64

__all__ = [
    "buffer",
    "candidate_order",
    "check_session_invariants",
    "dead_state",
    "drain_fetched_items",
    "finalize_sync",
    "idle_peer_order",
    "is_served",
    "is_sync_complete",
    "kept_entries",
    "next_deadline",
    "on_bond_terminated",
    "on_fetch_data_response",
    "on_snapshot_offer",
    "poll_new_bonds",
    "poll_snapshot_request_timeout",
    "poll_terminations",
    "poll_timeouts",
    "schedule_fetches",
    "send_fetch_request",
    "session_new",
    "session_poll",
    "try_select_anchor",
    "try_upgrade_anchor",
]

RETRY_TIMER = TimerId(TimerKind.SNAPSHOT_REQUEST_RETRY)
"""The RequestSnapshot retry timer (Q0, Q7)."""


def _fetch_timer(peer: PeerId) -> TimerId:
    return TimerId(TimerKind.FETCH_TIMEOUT, peer=peer)


# ---------------------------------------------------------------------------------------------
# Small helpers


def _check_time(now_ms: object) -> int:
    if isinstance(now_ms, bool) or not isinstance(now_ms, int) or now_ms < 0:
        raise InvalidInput(f"now_ms must be a non-negative integer, got {now_ms!r}")
    return now_ms


def _has(ctx: SessionContext, hazard: Hazard) -> bool:
    return ctx.profile.has(hazard)


def _gap_empty(s: SessionState) -> bool:
    return s.gap_start is None or s.gap_end is None or s.gap_start >= s.gap_end


def _earliest_buffered(s: SessionState) -> int | None:
    return s.buffered[0][0] if s.buffered else None


def idle_peer_order(peers: Iterable[PeerId], leader: PeerId | None) -> list[PeerId]:
    """Return ``peers`` non-leaders first, sorted by PeerId bytes, then ``leader`` (Q11).

    mosaik puts the session-start leader last and leaves the rest in HashSet order
    (session.rs:469-480); the byte order is this spec's deterministic choice.

    >>> a, b, c = PeerId(bytes([1] * 32)), PeerId(bytes([2] * 32)), PeerId(bytes([3] * 32))
    >>> [p.raw[0] for p in idle_peer_order({c, a, b}, leader=a)]
    [2, 3, 1]
    """
    ordered = sorted(peers, key=lambda p: p.raw)
    return [p for p in ordered if p != leader] + [p for p in ordered if p == leader]


def candidate_order(cursors: Iterable[Cursor]) -> list[Cursor]:
    """Return anchors by index descending, then term descending (Q2/Q3, H12 tie-break).

    >>> from impl.types import Term, Index
    >>> [str(c) for c in candidate_order([Cursor(Term(1), Index(5)),
    ...     Cursor(Term(2), Index(5)), Cursor(Term(1), Index(9))])]
    ['(t:1,i:9)', '(t:2,i:5)', '(t:1,i:5)']
    """
    return sorted(cursors, key=lambda c: (-c.index, -c.term))


def _timers(s: SessionState) -> dict[TimerId, int]:
    timers: dict[TimerId, int] = {}
    if s.snapshot_request_deadline_ms is not None:
        timers[RETRY_TIMER] = s.snapshot_request_deadline_ms
    for peer in sorted(s.inflight.keys(), key=lambda p: p.raw):
        timers[_fetch_timer(peer)] = s.inflight[peer].deadline_ms
    return timers


def _timer_effects(before: SessionState | None, after: SessionState | None) -> tuple[Effect, ...]:
    """ArmTimer for each deadline set or moved, CancelTimer for each cleared (retry first)."""
    if before is after or (
        before is not None
        and after is not None
        and before.inflight is after.inflight
        and before.snapshot_request_deadline_ms == after.snapshot_request_deadline_ms
    ):
        return ()  # the same timers (they are read from these two fields only)
    old = _timers(before) if before is not None else {}
    new = _timers(after) if after is not None else {}
    keys = list(new) + [k for k in old if k not in new]
    keys.sort(
        key=lambda t: (t.kind != TimerKind.SNAPSHOT_REQUEST_RETRY, t.peer.raw if t.peer else b"")
    )
    effects: list[Effect] = []
    for key in keys:
        if key in new and old.get(key) != new[key]:
            effects.append(ArmTimer(key, new[key]))
        elif key not in new:
            effects.append(CancelTimer(key))
    return tuple(effects)


def is_sync_complete(s: SessionState) -> bool:
    """Check if an anchor is selected and nothing is missing (session.rs:671-673).

    An inverted gap (``gap_start > gap_end``, H10) counts as empty, as Rust's
    ``Range::is_empty`` does.
    """
    return s.anchor is not None and s.gap_start is not None and _gap_empty(s)


def is_served(s: SessionState) -> bool:
    """Check if the session has a source: complete, or an anchor with a usable peer.

    Reference (H6 fix): the retry timer runs exactly while this is false.
    """
    return s.anchor is not None and (_gap_empty(s) or bool(s.available_peers))


def _usable(s: SessionState, ctx: SessionContext, cursor: Cursor, peers: frozenset[PeerId]) -> bool:
    """Check if ``cursor`` may be selected: the selection rule of Q2/Q3 per profile."""
    earliest = _earliest_buffered(s)
    # Verify there is no hole between the snapshot and the buffer (mosaik's rule).
    if earliest is not None and cursor.index < earliest:
        return False
    # Verify the anchor is not below a gap in the buffer (reference, H3 fix).
    if not _has(ctx, Hazard.H3) and cursor.index < s.min_anchor:
        return False
    # Verify someone can serve it (reference, H6 fix: no selection of exhausted candidates).
    return _has(ctx, Hazard.H6) or bool(peers)


def _cleared_progress(s: SessionState, ctx: SessionContext) -> SessionState:
    return replace(
        s,
        downloaded=0,
        accumulated=ctx.machine.empty_snapshot(ctx.profile),
        inflight=pmap(),
        fetched=pmap(),
    )


def _drop_anchor(s: SessionState, ctx: SessionContext) -> SessionState:
    """Forget the selected anchor and its progress (reference only, H3 fix)."""
    s = _cleared_progress(s, ctx)
    return replace(
        s, anchor=None, snapshot_len=0, gap_start=None, gap_end=None, available_peers=frozenset()
    )


# ---------------------------------------------------------------------------------------------
# Q0


def session_new(
    ctx: SessionContext,
    position: Cursor,
    leader_commit: Index,
    entries: tuple[LogEntry, ...],
    now_ms: int,
) -> tuple[SessionState, tuple[Effect, ...]]:
    """Q0: start a catch-up session (session.rs:107-168).

    Parameters
    ----------
    position
        The inconsistent AppendEntries' ``prev_log_position``; kept as
        ``trigger_position``. The entries are buffered at ``position.index + 1 + i``.
    leader_commit
        Ignored, as in mosaik (session.rs:111); checked to be a u64.
    entries
        The AppendEntries' entries.

    Effects
    -------
    ``Send(ctx.leader, RequestSnapshot())`` and ``ArmTimer(retry, now +
    snapshot_request_timeout)``.

    Raises
    ------
    InvalidState
        ``ctx.leader`` is ``None`` (both profiles): a session needs a known leader
        (inventory H21; mosaik's ``cx.leader()`` would panic, shared.rs:436-442).
    InvalidInput
        A malformed argument.
    """
    # Verify the inputs
    if not isinstance(position, Cursor):
        raise InvalidInput(f"position must be a Cursor, got {type(position).__name__}")
    check_u64(leader_commit, "leader_commit")
    if not isinstance(entries, tuple) or not all(isinstance(e, LogEntry) for e in entries):
        raise InvalidInput("entries must be a tuple of LogEntry")
    _check_time(now_ms)
    leader = _known_leader(ctx, "Q0")
    first = position.index + 1
    state = SessionState(
        leader=leader,
        trigger_position=position.index,
        anchor=None,
        snapshot_len=0,
        gap_start=None,
        gap_end=None,
        anchor_candidates=pmap(),
        buffered=pvector(
            (Index(first + i), entry.term, entry.command) for i, entry in enumerate(entries)
        ),
        terminations=(),
        known_bonds=frozenset(),
        available_peers=frozenset(),
        inflight=pmap(),
        fetched=pmap(),
        accumulated=ctx.machine.empty_snapshot(ctx.profile),
        snapshot_request_deadline_ms=now_ms + ctx.config.snapshot_request_timeout_ms,
        watched=ctx.bonds,
    )
    return state, (Send(leader, RequestSnapshot()), *_timer_effects(None, state))


# ---------------------------------------------------------------------------------------------
# Q2 / Q3


def try_select_anchor(s: SessionState, ctx: SessionContext) -> SessionState:
    """Q2: select the best usable candidate; with an anchor already selected, run Q3.

    (session.rs:191-242.) Candidates are tried by index descending, then term
    descending (H12); the first usable one is selected: ``gap := [0, items_count)``,
    and its peers join ``available_peers``. Usable (both profiles): no buffered
    entry precedes it (``index >= earliest buffered``, or the buffer is empty).
    Reference adds: ``index >= min_anchor`` (H3 fix) and at least one peer holds
    it (H6 fix). No effects: scheduling happens in the poll.
    """
    if s.anchor is not None:
        return try_upgrade_anchor(s, ctx)
    for cursor in candidate_order(s.anchor_candidates.keys()):
        info, peers = s.anchor_candidates[cursor]
        if _usable(s, ctx, cursor, peers):
            return replace(
                s,
                anchor=cursor,
                snapshot_len=info.items_count,
                gap_start=0,
                gap_end=info.items_count,
                available_peers=s.available_peers | peers,
            )
    return s


def try_upgrade_anchor(s: SessionState, ctx: SessionContext) -> SessionState:
    """Q3: switch to a higher usable candidate, discarding all progress (session.rs:247-297).

    The best candidate is the highest-index usable one (term descending on ties)
    with ``index > anchor.index``. Progress (inflight, fetched, accumulated) is
    discarded and ``available_peers`` becomes the new anchor's peers. This is
    mosaik's behaviour in both profiles (H11: bounded by the number of distinct
    anchors offered, L5).
    """
    current = s.anchor
    if current is None:
        return s
    for cursor in candidate_order(s.anchor_candidates.keys()):
        if cursor.index <= current.index:
            break
        info, peers = s.anchor_candidates[cursor]
        if _usable(s, ctx, cursor, peers):
            s = _cleared_progress(s, ctx)
            return replace(
                s,
                anchor=cursor,
                snapshot_len=info.items_count,
                gap_start=0,
                gap_end=info.items_count,
                available_peers=peers,
            )
    return s


# ---------------------------------------------------------------------------------------------
# Reference retry rule (H6 / H7 fixes)


def _known_leader(ctx: SessionContext, site: str) -> PeerId:
    """Return ``ctx.leader``, or raise InvalidState if no leader is known (both profiles).

    The precondition of every step that addresses the leader (inventory H21: mosaik's
    ``cx.leader()`` panics, shared.rs:436-442). Not reachable through the node steps:
    R4 sets the leader before it starts a session, and every path that clears the
    leader replaces the role, dropping the session (role.rs:224-226, 269-277); the
    model checks this on every step (``STEP``, spec/model/invariants.py).
    """
    # Verify the context names a leader
    if ctx.leader is None:
        raise InvalidState(
            f"a session needs a known leader (inventory H21, shared.rs:436-442): "
            f"leader=None at {site} on {ctx.local_id.short()}"
        )
    return ctx.leader


def _send_request(s: SessionState, ctx: SessionContext, site: str) -> list[Effect]:
    """RequestSnapshot to the current leader; no known leader is an InvalidState (H21)."""
    return [Send(_known_leader(ctx, site), RequestSnapshot())]


def _normalize_retry(
    s: SessionState, ctx: SessionContext, now_ms: int
) -> tuple[SessionState, list[Effect]]:
    """Reference (H6 off): keep the retry timer armed exactly while the session is unserved.

    Served: stop the timer. Unserved with no timer: the session just lost its
    source; arm the timer, and with H7 off also ask the leader at once.
    """
    if is_served(s):
        if s.snapshot_request_deadline_ms is None and not s.retry_due:
            return s, []
        return replace(s, snapshot_request_deadline_ms=None, retry_due=False), []
    if s.snapshot_request_deadline_ms is not None:
        return (replace(s, retry_due=False) if s.retry_due else s), []
    msgs = [] if _has(ctx, Hazard.H7) else _send_request(s, ctx, "the retry rule")
    deadline = now_ms + ctx.config.snapshot_request_timeout_ms
    return replace(s, snapshot_request_deadline_ms=deadline, retry_due=False), msgs


# ---------------------------------------------------------------------------------------------
# Q1


def on_snapshot_offer(
    s: SessionState, ctx: SessionContext, peer: PeerId, info: SnapshotInfo, now_ms: int
) -> tuple[SessionState, tuple[Effect, ...]]:
    """Q1: a peer offers a snapshot at ``info.anchor`` (session.rs:301-345), then Q2/Q3.

    Guards
    ------
    * An offer from the node itself or from a peer without a live bond is ignored
      (``UNKNOWN_PEER``, both profiles: mosaik only receives on bonds; ``ctx.bonds`` is
      the bond table, which keeps a broken bond until its received messages are
      processed).
    * Reference (H9 off): an anchor below ``max(trigger_position, min_anchor)`` is
      ignored (``STALE_OFFER``): it was produced for an earlier session, or lies
      below a gap in the buffer; it never stops the retry timer.

    Effects
    -------
    * H6 on: any offer stops the retry timer (session.rs:317). Reference: the
      timer runs exactly while the session has no usable source (:func:`is_served`).
    * ``anchor_candidates[anchor]`` is created with the first info seen for that
      anchor; ``peer`` joins its peers, and ``available_peers`` if it is the
      selected anchor. Then Q2 (or Q3).
    """
    _check_time(now_ms)
    if not isinstance(info, SnapshotInfo):
        raise InvalidInput(f"info must be a SnapshotInfo, got {type(info).__name__}")
    # Verify the offer comes over a live bond from another peer
    if peer == ctx.local_id or peer not in ctx.bonds:
        return s, (Ignored(IgnoreReason.UNKNOWN_PEER, f"offer from {peer.short()}"),)
    # Verify the offer can serve this session (reference, H9 fix)
    floor = max(s.trigger_position, s.min_anchor)
    if not _has(ctx, Hazard.H9) and info.anchor.index < floor:
        return s, (Ignored(IgnoreReason.STALE_OFFER, f"anchor {info.anchor} below index {floor}"),)
    start = s
    if _has(ctx, Hazard.H6):
        s = replace(s, snapshot_request_deadline_ms=None)
    known, peers = s.anchor_candidates.get(info.anchor, (info, frozenset()))
    # The offering peer's bond gets a termination watcher (Q1 step 4).
    s = replace(
        s,
        anchor_candidates=s.anchor_candidates.set(info.anchor, (known, peers | {peer})),
        watched=s.watched | {peer},
    )
    if s.anchor == info.anchor:
        s = replace(s, available_peers=s.available_peers | {peer})
    s = try_select_anchor(s, ctx)
    msgs: list[Effect] = []
    if not _has(ctx, Hazard.H6):
        s, msgs = _normalize_retry(s, ctx, now_ms)
    return s, tuple(msgs) + _timer_effects(start, s)


# ---------------------------------------------------------------------------------------------
# Q4


def _check_response(
    s: SessionState, ctx: SessionContext, peer: PeerId, resp: FetchDataResponse
) -> Ignored | None:
    """Return why a response for the selected anchor is rejected, or None to accept it."""
    pending = s.inflight.get(peer)
    count = len(resp.items)
    if not _has(ctx, Hazard.H1):
        # Verify the peer was asked, and that this answers what it was asked (H1 fix)
        if pending is None:
            return Ignored(IgnoreReason.UNSOLICITED_RESPONSE, f"no request to {peer.short()}")
        if resp.offset != pending.range.start:
            return Ignored(
                IgnoreReason.MISMATCHED_RESPONSE,
                f"offset {resp.offset} but {pending.range} was asked",
            )
    if not _has(ctx, Hazard.H10):
        # Verify the shape: 1..asked items inside the snapshot (H10 fix)
        if pending is not None and pending.range.start == resp.offset:
            limit = len(pending.range)
        else:
            limit = min(ctx.config.fetch_batch_size, max(s.snapshot_len - resp.offset, 0))
        if count == 0 or count > limit:
            return Ignored(
                IgnoreReason.MISMATCHED_RESPONSE,
                f"{count} items at offset {resp.offset}, expected 1..{limit}",
            )
    return None


def on_fetch_data_response(
    s: SessionState, ctx: SessionContext, peer: PeerId, resp: FetchDataResponse, now_ms: int
) -> tuple[SessionState, tuple[Effect, ...]]:
    """Q4: store a chunk of the selected snapshot (session.rs:348-369).

    Guards
    ------
    * From the node itself or a peer not in the bond table (``ctx.bonds``): ``UNKNOWN_PEER``.
    * ``resp.anchor`` is not the selected anchor: ``WRONG_ANCHOR`` (mosaik ignores
      it too, leaving the in-flight entry).
    * Reference (H1 off): the peer must have a request in flight whose start is
      ``resp.offset`` (else ``UNSOLICITED_RESPONSE`` / ``MISMATCHED_RESPONSE``).
    * Reference (H10 off): 1 to ``len(asked range)`` items (an unasked response,
      possible only with H1 on: at most ``min(batch, snapshot_len - offset)``);
      else ``MISMATCHED_RESPONSE``. A rejected response leaves the request in
      flight: Q9 removes a peer that never answers correctly.

    Effects
    -------
    ``inflight[peer]`` is removed (H1 on: whatever it asked; CancelTimer) and
    ``fetched[offset] := (offset + len(items), items)`` (H1 on: overwriting). A
    short reference response is kept as a prefix; the rest is asked again (Q11).
    """
    _check_time(now_ms)
    if not isinstance(resp, FetchDataResponse):
        raise InvalidInput(f"resp must be a FetchDataResponse, got {type(resp).__name__}")
    # Verify the response comes over a live bond from another peer
    if peer == ctx.local_id or peer not in ctx.bonds:
        return s, (Ignored(IgnoreReason.UNKNOWN_PEER, f"response from {peer.short()}"),)
    # Verify it belongs to the selected anchor
    if s.anchor != resp.anchor:
        return s, (
            Ignored(IgnoreReason.WRONG_ANCHOR, f"{resp.anchor} is not the anchor {s.anchor}"),
        )
    rejected = _check_response(s, ctx, peer, resp)
    if rejected is not None:
        return s, (rejected,)
    start = s
    end = resp.offset + len(resp.items)
    s = replace(
        s,
        inflight=s.inflight.discard(peer),
        fetched=s.fetched.set(resp.offset, (end, resp.items)),
    )
    msgs: list[Effect] = []
    if not _has(ctx, Hazard.H6):
        s, msgs = _normalize_retry(s, ctx, now_ms)
    return s, tuple(msgs) + _timer_effects(start, s)


# ---------------------------------------------------------------------------------------------
# Q6 and its watcher


def on_bond_terminated(s: SessionState, peer: PeerId) -> SessionState:
    """The termination watchers (Q0 step 1, Q1 step 4): queue ``peer`` on ``terminations``
    if its bond is watched (``s.watched``); the watcher is consumed with the bond.

    mosaik watches the bonds present at session start and the bond of every
    offering peer (session.rs:118-124, 333-339); the termination of an unwatched
    bond reaches no session. This matters when a bond re-forms: a termination queued
    for it would otherwise strip a peer that has offered again over a newer bond by
    the time Q6 runs. Duplicate watchers of one bond are harmless (H24).
    """
    if not isinstance(peer, PeerId):
        raise InvalidInput(f"peer must be a PeerId, got {type(peer).__name__}")
    if peer not in s.watched:
        return s
    return replace(s, terminations=(*s.terminations, peer), watched=s.watched - {peer})


def poll_terminations(s: SessionState) -> SessionState:
    """Q6: forget every queued terminated peer (session.rs:372-395).

    Each is removed from ``available_peers``, ``inflight``, ``known_bonds`` and from
    every candidate's peers; it returns only through a new offer.
    """
    if not s.terminations:
        return s
    gone = frozenset(s.terminations)
    candidates = s.anchor_candidates
    for cursor, (info, peers) in s.anchor_candidates.items():
        if peers & gone:
            candidates = candidates.set(cursor, (info, peers - gone))
    inflight = s.inflight
    for peer in gone:
        inflight = inflight.discard(peer)
    return replace(
        s,
        terminations=(),
        available_peers=s.available_peers - gone,
        inflight=inflight,
        known_bonds=s.known_bonds - gone,
        anchor_candidates=candidates,
    )


# ---------------------------------------------------------------------------------------------
# Q7


def _q7(s: SessionState, ctx: SessionContext, now_ms: int) -> tuple[SessionState, list[Effect]]:
    deadline = s.snapshot_request_deadline_ms
    # Verify the retry timer is armed and has fired
    if deadline is None or deadline > now_ms:
        return s, []
    msgs = _send_request(s, ctx, "Q7")
    return replace(
        s, snapshot_request_deadline_ms=now_ms + ctx.config.snapshot_request_timeout_ms
    ), msgs


def poll_snapshot_request_timeout(
    s: SessionState, ctx: SessionContext, now_ms: int
) -> tuple[SessionState, tuple[Effect, ...]]:
    """Q7: if the retry timer fired, ask the current leader again (session.rs:428-456).

    Effects: ``Send(ctx.leader, RequestSnapshot())`` and the timer re-armed at
    ``now + snapshot_request_timeout``.

    Raises
    ------
    InvalidState
        The timer fired and ``ctx.leader`` is ``None`` (both profiles): a session
        needs a known leader (inventory H21, shared.rs:436-442).
    """
    _check_time(now_ms)
    s2, msgs = _q7(s, ctx, now_ms)
    return s2, tuple(msgs) + _timer_effects(s, s2)


# ---------------------------------------------------------------------------------------------
# Q8


def drain_fetched_items(s: SessionState) -> SessionState:
    """Q8: append the chunks contiguous with ``gap_start`` to ``accumulated`` (session.rs:575-624).

    Guard: the gap is non-empty. While the smallest fetched start equals the
    cursor, that chunk is appended and the cursor moves to its end; the first
    other start stops the drain (a start below the cursor stays forever: H1).
    Then ``gap_start := cursor``. A chunk ending past ``gap_end`` leaves an
    inverted gap, which counts as empty (H10).
    """
    if s.gap_start is None or s.gap_end is None or s.gap_start >= s.gap_end:
        return s
    cursor = s.gap_start
    fetched = s.fetched
    accumulated = s.accumulated
    downloaded = s.downloaded
    while fetched:
        first = min(fetched.keys())
        if first != cursor:
            break
        end, items = fetched[first]
        fetched = fetched.discard(first)
        downloaded += len(items)
        accumulated = accumulated.append(items)
        cursor = end
    if fetched is s.fetched:
        return s
    # A zero-item chunk at the cursor is consumed without moving it (H10's loop).
    return replace(
        s, fetched=fetched, accumulated=accumulated, downloaded=downloaded, gap_start=cursor
    )


# ---------------------------------------------------------------------------------------------
# Q9, Q10


def _q9(s: SessionState, now_ms: int) -> SessionState:
    expired = [p for p, pending in s.inflight.items() if pending.deadline_ms <= now_ms]
    if not expired:
        return s
    inflight = s.inflight
    for peer in expired:
        inflight = inflight.discard(peer)
    return replace(s, inflight=inflight, available_peers=s.available_peers - frozenset(expired))


def poll_timeouts(s: SessionState, now_ms: int) -> tuple[SessionState, tuple[Effect, ...]]:
    """Q9: a request past its deadline removes its peer from ``inflight`` and
    ``available_peers`` (session.rs:398-424).

    The peer stays in ``anchor_candidates``: an upgrade or a new offer brings it
    back. Effects: ``CancelTimer`` for each removed fetch timer.
    """
    _check_time(now_ms)
    s2 = _q9(s, now_ms)
    return s2, _timer_effects(s, s2)


def poll_new_bonds(s: SessionState, ctx: SessionContext) -> SessionState:
    """Q10: ``known_bonds := ctx.bonds`` (session.rs:459-466); no other effect."""
    if s.known_bonds == ctx.bonds:
        return s
    return replace(s, known_bonds=ctx.bonds)


# ---------------------------------------------------------------------------------------------
# Q11 / Q11a


def _assigned(s: SessionState) -> list[tuple[int, int]]:
    """In-flight and fetched ranges, sorted by (start, end) (mosaik: by start, stable)."""
    ranges = [(p.range.start, p.range.end) for p in s.inflight.values()]
    ranges += [(start, end) for start, (end, _) in s.fetched.items()]
    ranges.sort()
    return ranges


def _skip_assigned(cursor: int, assigned: list[tuple[int, int]]) -> int:
    for start, end in assigned:
        if start <= cursor < end:
            cursor = end
    return cursor


def _first_unassigned(s: SessionState) -> int:
    """Walk 1 of Q11: the first position of the gap no assigned range covers."""
    if s.gap_start is None or s.gap_end is None:
        raise InvalidState("the session has no gap (no anchor selected)")
    cursor = s.gap_start
    for start, end in _assigned(s):
        if cursor >= s.gap_end:
            break
        if start <= cursor < end:
            cursor = end
    return cursor


def _q11a(
    s: SessionState, ctx: SessionContext, peer: PeerId, anchor: Cursor, chunk: ItemRange, now: int
) -> tuple[SessionState, list[Effect]]:
    pending = PendingFetch(chunk, now + ctx.config.fetch_timeout_ms)
    message = Send(peer, FetchDataRequest(anchor, chunk))
    return replace(s, inflight=s.inflight.set(peer, pending)), [message]


def _q11(s: SessionState, ctx: SessionContext, now_ms: int) -> tuple[SessionState, list[Effect]]:
    anchor = s.anchor
    # Verify there is something to fetch and an anchor to fetch it from
    if anchor is None or s.gap_start is None or s.gap_end is None or s.gap_start >= s.gap_end:
        return s, []
    assigned = _assigned(s)
    cursor = _first_unassigned(s)
    idle = idle_peer_order((p for p in s.available_peers if p not in s.inflight), s.leader)
    clip = not _has(ctx, Hazard.H2)
    msgs: list[Effect] = []
    while cursor < s.gap_end and idle:
        end = min(cursor + ctx.config.fetch_batch_size, s.gap_end)
        if clip:
            # H2 fix: stop at the next assigned range instead of overlapping it.
            end = min([end] + [start for start, _ in assigned if start > cursor])
        peer = idle.pop(0)
        s, sent = _q11a(s, ctx, peer, anchor, ItemRange(cursor, end), now_ms)
        msgs += sent
        cursor = _skip_assigned(end, assigned)
    return s, msgs


def schedule_fetches(
    s: SessionState, ctx: SessionContext, now_ms: int
) -> tuple[SessionState, tuple[Effect, ...]]:
    """Q11: give each idle available peer the next unassigned chunk (session.rs:483-538).

    Guard: an anchor and a non-empty gap. ``cursor`` starts at the first gap
    position not covered by an in-flight or fetched range; idle peers are taken
    in :func:`idle_peer_order`. Each gets ``[cursor, min(cursor + batch, gap_end))``
    (reference, H2 off: also cut at the next assigned range's start), then the
    cursor skips the assigned ranges it lands in.

    Effects: Q11a's ``Send(p, FetchDataRequest(anchor, chunk))`` and
    ``ArmTimer(fetch timeout of p)`` per chunk.
    """
    _check_time(now_ms)
    s2, msgs = _q11(s, ctx, now_ms)
    return s2, tuple(msgs) + _timer_effects(s, s2)


def send_fetch_request(
    s: SessionState,
    ctx: SessionContext,
    peer: PeerId,
    anchor: Cursor,
    chunk: ItemRange,
    now_ms: int,
) -> tuple[SessionState, tuple[Effect, ...]]:
    """Q11a: ask ``peer`` for ``chunk`` of ``anchor`` (session.rs:540-570).

    Guards (mosaik's scheduler satisfies them by construction; a direct caller
    may not): ``anchor`` is the selected anchor, ``peer`` is available and idle,
    ``chunk`` is non-empty and inside the gap.

    Effects: ``Send(peer, FetchDataRequest(anchor, chunk))``; ``inflight[peer] :=
    PendingFetch(chunk, now + fetch_timeout)`` with its ``ArmTimer``.

    Raises
    ------
    InvalidState
        Wrong anchor, or the peer is not available or already has a request.
    InvalidRange
        The chunk is empty or outside ``[gap_start, gap_end)``.
    """
    _check_time(now_ms)
    if s.anchor is None or anchor != s.anchor:
        raise InvalidState(f"fetch for anchor {anchor}, but the selected anchor is {s.anchor}")
    if peer not in s.available_peers or peer in s.inflight:
        raise InvalidState(f"peer {peer.short()} is not an idle available peer")
    if not isinstance(chunk, ItemRange):
        raise InvalidInput(f"chunk must be an ItemRange, got {type(chunk).__name__}")
    if s.gap_start is None or s.gap_end is None:
        raise InvalidState("a selected anchor without a gap")
    if chunk.is_empty() or chunk.start < s.gap_start or chunk.end > s.gap_end:
        raise InvalidRange(
            chunk.start, chunk.end, f"not a chunk of gap [{s.gap_start}, {s.gap_end})"
        )
    s2, msgs = _q11a(s, ctx, peer, anchor, chunk, now_ms)
    return s2, tuple(msgs) + _timer_effects(s, s2)


# ---------------------------------------------------------------------------------------------
# Q12


def kept_entries(s: SessionState) -> list[BufferedEntry]:
    """Return the buffered entries finalize keeps: those after the anchor (session.rs:651)."""
    if s.anchor is None:
        return []
    anchor = s.anchor.index
    return [entry for entry in s.buffered if entry[0] > anchor]


def finalize_sync(
    s: SessionState, ctx: SessionContext
) -> tuple[SessionState | None, tuple[Effect, ...], Cursor]:
    """Q12: install the accumulated snapshot and resume the log after it (session.rs:630-667).

    Guard: :func:`is_sync_complete`. Returns ``(None, effects, ready)``: the
    session is over; ``ready`` is the log's last cursor afterwards (the last
    kept entry's, or the anchor).

    Effects, applied by the node in this order: ``InstallSnapshot(accumulated)``,
    ``ResetLog(anchor)``, ``SetCommitted(anchor)``, ``AppendLog(kept entries)``
    (possibly empty; appended, not applied), then ``CancelTimer`` for any armed
    timer.

    Raises
    ------
    HazardPanic
        ``H3`` on: the kept entries are not ``anchor+1, anchor+2, …``; mosaik's
        ``assert_eq!(index, pos)`` panics (session.rs:662). mosaik has by then
        installed the snapshot, reset the log, set (and announced) the committed
        cursor and appended the entries before the bad one; the step raises before
        any effect instead, since the panic kills the node's group worker anyway.
    InvalidState
        Not complete; or (reference, unreachable by I7) a non-contiguous buffer.
    """
    anchor = s.anchor
    if anchor is None or not is_sync_complete(s):
        raise InvalidState("finalize_sync needs a selected anchor and an empty gap")
    kept = kept_entries(s)
    expected = anchor.index + 1
    for index, _, _ in kept:
        # Verify the buffer resumes right after the anchor, without holes (I7)
        if index != expected:
            detail = f"buffered index {index} where {expected} was expected (anchor {anchor})"
            if _has(ctx, Hazard.H3):
                raise HazardPanic("H3", "session.rs:662", detail)
            raise InvalidState(f"I7 violated at finalize: {detail}")
        expected += 1
    entries = tuple(LogEntry(term, command) for _, term, command in kept)
    effects: tuple[Effect, ...] = (
        InstallSnapshot(s.accumulated),
        ResetLog(anchor),
        SetCommitted(anchor),
        AppendLog(entries),
    )
    ready = Cursor(kept[-1][1], kept[-1][0]) if kept else anchor
    return None, effects + _timer_effects(s, None), ready


# ---------------------------------------------------------------------------------------------
# Q13


def _raise_minimum(s: SessionState, ctx: SessionContext, minimum: int) -> SessionState:
    """Reference (H3 fix): no anchor below ``minimum`` can be used any more."""
    candidates = s.anchor_candidates
    for cursor in s.anchor_candidates:
        if cursor.index < minimum:
            candidates = candidates.discard(cursor)
    s = replace(s, min_anchor=max(s.min_anchor, minimum), anchor_candidates=candidates)
    if s.anchor is not None and s.anchor.index < s.min_anchor:
        s = _drop_anchor(s, ctx)
    return s


def _merge(buffered: PVector[BufferedEntry], new: list[BufferedEntry]) -> PVector[BufferedEntry]:
    """Merge entries that overlap or extend a contiguous non-empty buffer (Raft's rule)."""
    first = buffered[0][0]
    for entry in new:
        index, term, _ = entry
        last = first + len(buffered) - 1
        if index < first:
            continue  # before the buffer: the snapshot must cover it anyway
        if index <= last:
            if buffered[index - first][1] == term:
                continue  # already buffered
            buffered = buffered[: index - first]  # term conflict: truncate here
        buffered = buffered.append(entry)
    return buffered


def _q13(
    s: SessionState, ctx: SessionContext, position: Cursor, entries: tuple[LogEntry, ...]
) -> SessionState:
    new: list[BufferedEntry] = [
        (Index(position.index + 1 + i), e.term, e.command) for i, e in enumerate(entries)
    ]
    if _has(ctx, Hazard.H3):
        return replace(s, buffered=s.buffered.extend(new))
    if not new:
        return s
    if s.buffered:
        if position.index <= s.buffered[-1][0]:
            return replace(s, buffered=_merge(s.buffered, new))
        gap = True  # entries (last buffered, position] never arrived
    else:
        # With an empty buffer the log resumes after the selected anchor, if any.
        gap = s.anchor is not None and position.index > s.anchor.index
    s = replace(s, buffered=pvector(new))
    if gap:
        had_anchor = s.anchor is not None
        s = _raise_minimum(s, ctx, position.index)
        if had_anchor and s.anchor is None:
            s = try_select_anchor(s, ctx)
            if not _has(ctx, Hazard.H6) and not is_served(s):
                s = replace(s, retry_due=True)
    return s


def buffer(
    s: SessionState, ctx: SessionContext, position: Cursor, entries: tuple[LogEntry, ...]
) -> tuple[SessionState, tuple[Effect, ...]]:
    """Q13: keep an inconsistent AppendEntries' entries for after the snapshot (session.rs:749-762).

    The entries get indices ``position.index + 1 + i``.

    * H3 on (mosaik): appended as they come, without contiguity, overlap or term
      checks; Q12 then asserts (H3).
    * Reference: the buffer stays contiguous. An entry already buffered with the
      same term is skipped; a different term truncates the buffer there (Raft's
      rule); an entry before the buffer's start is skipped. A gap (``position.index``
      beyond the last buffered index, or beyond the selected anchor when the
      buffer is empty) replaces the buffer by the new entries, raises
      ``min_anchor`` to ``position.index``, forgets candidates below it and drops a
      selected anchor below it (with its progress), then re-selects (Q2).

    Effects: ``CancelTimer`` for the requests of a dropped anchor. An entry-less
    AppendEntries (heartbeat) changes nothing.
    """
    if not isinstance(position, Cursor):
        raise InvalidInput(f"position must be a Cursor, got {type(position).__name__}")
    if not isinstance(entries, tuple) or not all(isinstance(e, LogEntry) for e in entries):
        raise InvalidInput("entries must be a tuple of LogEntry")
    s2 = _q13(s, ctx, position, entries)
    return s2, _timer_effects(s, s2)


# ---------------------------------------------------------------------------------------------
# Q5


def session_poll(
    s: SessionState, ctx: SessionContext, now_ms: int
) -> tuple[SessionState, tuple[Effect, ...], Cursor | None]:
    """Q5: one poll of the session, in mosaik's normative order (session.rs:679-727).

    0. If :func:`is_sync_complete`: Q12, and return its effects with the ready
       cursor as third value (the returned state is the finished session; the
       node drops it).
    1. (Drive the watchers: :func:`on_bond_terminated` already queued them.)
    2. Q6 :func:`poll_terminations`.
    3. Q7 :func:`poll_snapshot_request_timeout`.
    4. Q2 :func:`try_select_anchor` (or Q3).
    5. Q8 :func:`drain_fetched_items`.
    6. Q9 :func:`poll_timeouts`.
    7. Q10 :func:`poll_new_bonds`.
    8. Q11 :func:`schedule_fetches`.
    9. Reference (H6 off): the retry rule of :func:`is_served` (arm, or stop, the
       retry timer; H7 off: ask the leader at once when the source was lost).

    Completion is detected only at step 0 of a later poll (:func:`next_deadline`
    is then 0).
    """
    _check_time(now_ms)
    if is_sync_complete(s):
        _, effects, ready = finalize_sync(s, ctx)
        return s, effects, ready
    start = s
    msgs: list[Effect] = []
    s = poll_terminations(s)
    s, sent = _q7(s, ctx, now_ms)
    msgs += sent
    s = try_select_anchor(s, ctx)
    s = drain_fetched_items(s)
    s = _q9(s, now_ms)
    s = poll_new_bonds(s, ctx)
    s, sent = _q11(s, ctx, now_ms)
    msgs += sent
    if not _has(ctx, Hazard.H6):
        s, sent = _normalize_retry(s, ctx, now_ms)
        msgs += sent
    return s, tuple(msgs) + _timer_effects(start, s), None


def next_deadline(s: SessionState) -> int | None:
    """Return the earliest armed deadline (retry timer, fetch timeouts), or ``None``.

    0 means "poll now": the session is complete (finalize waits for a poll), or a
    clock-less step left it without a source (reference ``retry_due``).
    """
    if is_sync_complete(s) or s.retry_due:
        return 0
    deadlines = list(_timers(s).values())
    return min(deadlines) if deadlines else None


# ---------------------------------------------------------------------------------------------
# Invariants (inventory §4.1 I4–I7, §4.2 L2) as predicates over one session state


def check_session_invariants(
    s: SessionState,
    snapshot_of: Callable[[Cursor], Snapshot | None] | Mapping[Cursor, Snapshot] | None = None,
) -> list[str]:
    """Return the violated session invariants, each as ``"<id>: <detail>"`` (empty: all hold).

    * I4 chunk disjointness: in-flight and fetched ranges are non-empty, pairwise
      disjoint and inside ``[gap_start, snapshot_len)``; nothing is assigned
      without an anchor.
    * I5 exactly-once prefix: ``accumulated`` equals the anchor's snapshot items
      ``[0, gap_start)`` (checked when ``snapshot_of`` knows the anchor's snapshot).
    * I6 peer bookkeeping: ``inflight ⊆ available_peers ⊆ candidates[anchor].peers``
      (one request per peer holds by construction: ``inflight`` is a map).
    * I7 (inductive form): while an anchor is selected, the buffered entries after
      it are ``anchor+1, anchor+2, …``, so Q12 cannot fail.
    * FRESH (reference, H9/H3 fix): the anchor is not below ``trigger_position``
      nor ``min_anchor``.

    ``snapshot_of`` maps an anchor to the true snapshot at it (a mapping or a
    function; ``None`` skips I5).
    """
    problems: list[str] = []
    anchor = s.anchor
    ranges = sorted(
        [(p.range.start, p.range.end, f"inflight {q.short()}") for q, p in s.inflight.items()]
        + [(start, end, f"fetched@{start}") for start, (end, _) in s.fetched.items()]
    )
    if anchor is None:
        if ranges:
            problems.append("I4: ranges assigned without an anchor")
        if s.available_peers or s.inflight:
            problems.append("I6: available or in-flight peers without an anchor")
        if len(s.accumulated) != 0:
            problems.append("I5: items accumulated without an anchor")
        return problems
    gap_start = s.gap_start if s.gap_start is not None else 0
    for (a_start, a_end, a_what), (b_start, _b_end, b_what) in itertools.pairwise(ranges):
        if b_start < a_end:
            problems.append(f"I4: {a_what} [{a_start},{a_end}) overlaps {b_what} from {b_start}")
    for start, end, what in ranges:
        if start >= end:
            problems.append(f"I4: {what} is the empty range [{start},{end})")
        if start < gap_start or end > s.snapshot_len:
            problems.append(f"I4: {what} [{start},{end}) outside [{gap_start},{s.snapshot_len})")
    truth: Snapshot | None = None
    if callable(snapshot_of):
        truth = snapshot_of(anchor)
    elif snapshot_of is not None:
        truth = snapshot_of.get(anchor)
    if truth is not None:
        want = truth.iter_range(ItemRange(0, gap_start)) if gap_start <= len(truth) else None
        have = s.accumulated.iter_range(ItemRange(0, len(s.accumulated)))
        if want is None or have != want:
            problems.append(
                f"I5: accumulated has {len(s.accumulated)} items, not the anchor's "
                f"first {gap_start}"
            )
    holders = s.anchor_candidates.get(anchor, (None, frozenset()))[1]
    if not frozenset(s.inflight.keys()) <= s.available_peers:
        problems.append("I6: a peer with a request in flight is not available")
    if not s.available_peers <= holders:
        problems.append("I6: an available peer did not offer the anchor")
    kept = kept_entries(s)
    for offset, (index, _, _) in enumerate(kept):
        if index != anchor.index + 1 + offset:
            problems.append(
                f"I7: buffered index {index} where {anchor.index + 1 + offset} was expected"
            )
            break
    if anchor.index < max(s.trigger_position, s.min_anchor):
        problems.append(
            f"FRESH: anchor {anchor} below index {max(s.trigger_position, s.min_anchor)}"
        )
    return problems


def dead_state(s: SessionState, ctx: SessionContext) -> str | None:
    """Return which L2 dead state ``s`` is in (``"L2(a)"``, ``"L2(b)"``, ``"L2(c)"``), or None.

    Meant for quiescent points (after a poll). (a) an anchor with data missing,
    nothing in flight, no available peer and no retry timer; (b) no anchor, no
    usable candidate and no retry timer; (c) a fetched chunk below ``gap_start``,
    or fetched chunks that can never drain while nothing is left to schedule.
    """
    if is_sync_complete(s):
        return None
    timer = s.snapshot_request_deadline_ms
    if s.anchor is None:
        usable = any(
            _usable(s, ctx, cursor, peers) for cursor, (_, peers) in s.anchor_candidates.items()
        )
        return "L2(b)" if timer is None and not usable else None
    if s.gap_start is None or s.gap_end is None:
        raise InvalidState("a selected anchor without a gap")
    if s.fetched and min(s.fetched.keys()) < s.gap_start:
        return "L2(c)"
    if (
        s.fetched
        and not s.inflight
        and min(s.fetched.keys()) != s.gap_start
        and _first_unassigned(s) >= s.gap_end
    ):
        return "L2(c)"
    if not s.inflight and not s.available_peers and timer is None:
        return "L2(a)"
    return None
