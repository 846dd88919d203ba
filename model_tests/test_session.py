"""The catch-up session Q0–Q13 (impl/session.py): steps, guards, invalid inputs, hazards.

Layout:

* per step: the normal path and each guard;
* ``test_invalid_*``: rejected inputs end in a documented ignore or a typed error;
* ``test_h*``: each hazard's interleaving from the inventory (§5) as a short
  sequence of step calls, with mosaik's outcome under ``mosaik-0.3.13`` and the
  intended one under ``reference``;
* a Hypothesis property: under ``reference`` the session invariants (I4–I7,
  FRESH), the L2 dead states and the H7 bound hold after every step of random
  interleavings with honest and adversarial providers; switching each hazard on
  makes the same property fail (searched with ``hypothesis.find``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import pytest
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st

from impl.collections import COLLECTIONS
from impl.collections.base import Snapshot
from impl.config import Config
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
    Item,
    LogEntry,
    RequestSnapshot,
    SnapshotInfo,
)
from impl.profile import MOSAIK_0_3_13, REFERENCE, Profile
from impl.session import (
    buffer,
    check_session_invariants,
    dead_state,
    drain_fetched_items,
    finalize_sync,
    is_served,
    is_sync_complete,
    next_deadline,
    on_bond_terminated,
    on_fetch_data_response,
    on_snapshot_offer,
    poll_new_bonds,
    poll_snapshot_request_timeout,
    poll_terminations,
    poll_timeouts,
    schedule_fetches,
    send_fetch_request,
    session_new,
    session_poll,
    try_select_anchor,
    try_upgrade_anchor,
)
from impl.session_state import PendingFetch, SessionContext, SessionState
from impl.types import Cursor, Index, ItemRange, PeerId, Term

# ---------------------------------------------------------------------------------------------
# Fixtures: a tuple-backed snapshot, peers, anchors


MACHINE = COLLECTIONS["map"]
"""The real Map: items are ``(key, value)`` in canonical (key-encoding) order."""


def snapshot_of(items: Sequence[Item]) -> Snapshot:
    """A Map snapshot holding ``items``."""
    return MACHINE.empty_snapshot(REFERENCE).append(items)


def items_of(snapshot: object) -> tuple[Item, ...]:
    """Every item of a snapshot, in its order."""
    assert isinstance(snapshot, Snapshot)
    items = snapshot.iter_range(ItemRange(0, len(snapshot)))
    assert items is not None
    return items


# Raw bytes fix the idle order: A < B < C by bytes; L is the leader (asked last).
A, B, C, L = (PeerId(bytes([b]) * 32) for b in (0x01, 0x02, 0x03, 0x0F))
LOCAL = PeerId(bytes([0x09]) * 32)
STRANGER = PeerId(bytes([0x0A]) * 32)
PEERS = (L, A, B, C)
T = Cursor(Term(1), Index(10))  # the AppendEntries position that starts the session
RETRY = TimerId(TimerKind.SNAPSHOT_REQUEST_RETRY)


def cur(index: int, term: int = 1) -> Cursor:
    return Cursor(Term(term), Index(index))


def content(anchor: Cursor, n: int) -> tuple[Item, ...]:
    """The true items of the snapshot at ``anchor`` (distinct keys per anchor), as the Map
    orders them."""
    pairs = [(anchor.index * 1_000 + anchor.term * 100 + i, i) for i in range(n)]
    return items_of(snapshot_of(pairs))


def truth(anchor: Cursor, n: int) -> Snapshot:
    """The true snapshot at ``anchor`` with ``n`` items."""
    return snapshot_of(content(anchor, n))


def entries(*terms: int) -> tuple[LogEntry, ...]:
    return tuple(LogEntry(Term(t), f"cmd{i}") for i, t in enumerate(terms))


def ctx_for(
    profile: Profile = REFERENCE,
    *,
    batch: int = 2,
    leader: PeerId | None = L,
    bonds: frozenset[PeerId] = frozenset(PEERS),
) -> SessionContext:
    config = Config(fetch_batch_size=batch, fetch_timeout_ms=5_000)
    return SessionContext(LOCAL, leader, bonds, config, MACHINE, profile)


def new(
    ctx: SessionContext, es: tuple[LogEntry, ...] = (), position: Cursor = T, now: int = 0
) -> SessionState:
    s, _ = session_new(ctx, position, Index(position.index), es, now)
    return s


def offer(
    s: SessionState, ctx: SessionContext, peer: PeerId, anchor: Cursor, n: int, now: int = 0
) -> tuple[SessionState, tuple[Effect, ...]]:
    return on_snapshot_offer(s, ctx, peer, SnapshotInfo(anchor, n), now)


def fetches(effects: Sequence[Effect]) -> list[tuple[PeerId, int, int]]:
    """The FetchDataRequests among ``effects`` as (peer, start, end)."""
    return [
        (e.to, e.message.range.start, e.message.range.end)
        for e in effects
        if isinstance(e, Send) and isinstance(e.message, FetchDataRequest)
    ]


def requests_to(effects: Sequence[Effect]) -> list[PeerId]:
    """The peers a RequestSnapshot was sent to."""
    return [e.to for e in effects if isinstance(e, Send) and isinstance(e.message, RequestSnapshot)]


def answer(
    s: SessionState,
    ctx: SessionContext,
    peer: PeerId,
    start: int,
    end: int,
    now: int = 0,
    anchor: Cursor | None = None,
) -> tuple[SessionState, tuple[Effect, ...]]:
    """Deliver ``peer``'s response carrying the true items [start, end) of the anchor."""
    a = anchor if anchor is not None else s.anchor
    assert a is not None
    full = content(a, max(end, s.snapshot_len))
    items = full[start:end]
    return on_fetch_data_response(s, ctx, peer, FetchDataResponse(a, start, items), now)


def ignored(effects: Sequence[Effect]) -> list[IgnoreReason]:
    return [e.reason for e in effects if isinstance(e, Ignored)]


def poll(s: SessionState, ctx: SessionContext, now: int) -> tuple[SessionState, tuple[Effect, ...]]:
    s2, effects, ready = session_poll(s, ctx, now)
    assert ready is None
    return s2, effects


def run_to_completion(
    s: SessionState, ctx: SessionContext, now: int, rounds: int = 20
) -> tuple[tuple[Effect, ...], Cursor] | None:
    """Answer every in-flight request honestly and poll until Ready (or give up)."""
    for _ in range(rounds):
        s2, effects, ready = session_poll(s, ctx, now)
        if ready is not None:
            return effects, ready
        s = s2
        for peer, pending in sorted(s.inflight.items(), key=lambda kv: kv[0].raw):
            s, _ = answer(s, ctx, peer, pending.range.start, pending.range.end, now)
    return None


# ---------------------------------------------------------------------------------------------
# Q0 session_new


def test_session_new_requests_a_snapshot_from_the_leader_and_arms_the_retry_timer() -> None:
    ctx = ctx_for()
    s, effects = session_new(ctx, T, Index(99), entries(1, 1), 1_000)
    assert effects == (Send(L, RequestSnapshot()), ArmTimer(RETRY, 16_000))
    assert [e[0] for e in s.buffered] == [11, 12]
    assert (s.leader, s.trigger_position, s.anchor, s.gap_start) == (L, 10, None, None)
    assert len(s.accumulated) == 0
    assert next_deadline(s) == 16_000


@pytest.mark.parametrize("profile", [REFERENCE, MOSAIK_0_3_13], ids=lambda p: p.name)
def test_invalid_session_new_with_no_known_leader_is_refused_h21(profile: Profile) -> None:
    # Both profiles: a session needs a known leader (inventory H21, shared.rs:436-442).
    with pytest.raises(InvalidState, match=r"known leader .*H21, shared\.rs:436-442.*leader=None"):
        session_new(ctx_for(profile, leader=None), T, Index(0), (), 0)
    # The same call with a leader starts the session and asks that leader.
    s, effects = session_new(ctx_for(profile, leader=B), T, Index(0), (), 0)
    assert s.leader == B
    assert effects[0] == Send(B, RequestSnapshot())


def test_invalid_session_new_arguments_raise_typed_errors() -> None:
    ctx = ctx_for()
    with pytest.raises(InvalidInput):
        session_new(ctx, 10, Index(0), (), 0)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        session_new(ctx, T, Index(-1), (), 0)
    with pytest.raises(InvalidInput):
        session_new(ctx, T, Index(0), ("not an entry",), 0)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        session_new(ctx, T, Index(0), (), -5)


def test_invalid_session_context_is_rejected() -> None:
    with pytest.raises(InvalidInput):
        SessionContext(LOCAL, L, {A}, Config(), MACHINE, REFERENCE)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        SessionContext("me", L, frozenset(), Config(), MACHINE, REFERENCE)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Q1 on_snapshot_offer, Q2 try_select_anchor, Q3 try_upgrade_anchor


def test_offer_records_the_candidate_and_selects_it() -> None:
    ctx = ctx_for()
    s = new(ctx, entries(1))
    x = cur(12)
    s, effects = offer(s, ctx, A, x, 5)
    assert s.anchor == x
    assert (s.gap_start, s.gap_end, s.snapshot_len) == (0, 5, 5)
    assert s.available_peers == {A}
    assert s.anchor_candidates[x] == (SnapshotInfo(x, 5), frozenset({A}))
    assert effects == (CancelTimer(RETRY),)  # served: the retry timer stops
    s, effects = offer(s, ctx, B, x, 7)  # same anchor: first info kept, B available
    assert s.anchor_candidates[x] == (SnapshotInfo(x, 5), frozenset({A, B}))
    assert s.available_peers == {A, B}
    assert effects == ()


def test_selection_takes_the_highest_anchor_not_below_the_earliest_buffered_entry() -> None:
    ctx = ctx_for()
    s = new(ctx, entries(1, 1, 1))  # buffered 11..13
    s, _ = offer(s, ctx, A, cur(10), 3)  # below 11: not usable
    assert s.anchor is None
    s, _ = offer(s, ctx, B, cur(13), 3)
    assert s.anchor == cur(13)


def test_selection_breaks_equal_index_ties_by_term_descending_h12() -> None:
    ctx = ctx_for()
    s = new(ctx)
    s = replace(
        s,
        anchor_candidates=s.anchor_candidates.set(
            cur(12, 1), (SnapshotInfo(cur(12, 1), 1), frozenset({A}))
        )
        .set(cur(12, 3), (SnapshotInfo(cur(12, 3), 1), frozenset({B})))
        .set(cur(12, 2), (SnapshotInfo(cur(12, 2), 1), frozenset({C}))),
    )
    assert try_select_anchor(s, ctx).anchor == cur(12, 3)


def test_selection_of_an_empty_snapshot_completes_at_the_next_poll_h14() -> None:
    ctx = ctx_for()
    s = new(ctx)
    s, _ = offer(s, ctx, A, cur(12), 0)
    assert is_sync_complete(s)
    assert next_deadline(s) == 0
    _s2, effects, ready = session_poll(s, ctx, 1)
    assert ready == cur(12)
    assert isinstance(effects[0], InstallSnapshot)
    assert items_of(effects[0].snapshot) == ()
    assert effects[1:4] == (
        ResetLog(cur(12)),
        SetCommitted(cur(12)),
        AppendLog(()),
    )


def test_upgrade_discards_progress_and_takes_the_new_anchors_peers_h11() -> None:
    ctx = ctx_for()
    s = new(ctx)
    s, _ = offer(s, ctx, A, cur(12), 4)
    s, _ = poll(s, ctx, 0)
    s, _ = answer(s, ctx, A, 0, 2)
    s = drain_fetched_items(s)
    assert s.gap_start == 2
    assert len(s.accumulated) == 2
    s, _effects = offer(s, ctx, B, cur(14), 6)
    assert s.anchor == cur(14)
    assert (s.gap_start, s.gap_end) == (0, 6)
    assert s.available_peers == {B}
    assert len(s.accumulated) == 0
    assert s.downloaded == 0
    assert not s.inflight
    assert not s.fetched
    # A lower or equal anchor never upgrades.
    s2, _ = offer(s, ctx, C, cur(13), 9)
    assert s2.anchor == cur(14)
    assert try_upgrade_anchor(replace(s2, anchor=None), ctx).anchor is None


def test_reference_never_selects_or_upgrades_to_a_candidate_nobody_holds_h6() -> None:
    for profile, selected in ((REFERENCE, None), (MOSAIK_0_3_13, cur(12))):
        ctx = ctx_for(profile)
        s = new(ctx)
        s = replace(
            s,
            anchor_candidates=s.anchor_candidates.set(
                cur(12), (SnapshotInfo(cur(12), 4), frozenset())
            ),
        )
        assert try_select_anchor(s, ctx).anchor == selected


def test_offer_from_the_node_itself_or_without_a_bond_is_ignored() -> None:
    ctx = ctx_for()
    s = new(ctx)
    for peer in (LOCAL, STRANGER):
        s2, effects = offer(s, ctx, peer, cur(12), 3)
        assert s2 is s
        assert ignored(effects) == [IgnoreReason.UNKNOWN_PEER]


def test_invalid_offer_info_type_is_rejected() -> None:
    ctx = ctx_for()
    with pytest.raises(InvalidInput):
        on_snapshot_offer(new(ctx), ctx, A, (cur(12), 3), 0)  # type: ignore[arg-type]


def test_invalid_offer_for_a_stale_anchor_is_ignored_and_keeps_the_timer_reference_h9() -> None:
    ctx = ctx_for()
    s = new(ctx)
    s2, effects = offer(s, ctx, A, cur(7), 3)
    assert s2 is s
    assert ignored(effects) == [IgnoreReason.STALE_OFFER]
    assert s2.snapshot_request_deadline_ms == 15_000


def test_offer_at_the_trigger_position_is_not_stale() -> None:
    ctx = ctx_for()
    s, effects = offer(new(ctx), ctx, A, cur(10), 3)
    assert s.anchor == cur(10)
    assert not ignored(effects)


# ---------------------------------------------------------------------------------------------
# Q4 on_fetch_data_response


def started(
    profile: Profile = REFERENCE, n: int = 6, batch: int = 2, peers: Sequence[PeerId] = (A, B, C)
) -> tuple[SessionState, SessionContext]:
    """A session with anchor (1,12) of ``n`` items offered by ``peers``, after one poll."""
    ctx = ctx_for(profile, batch=batch)
    s = new(ctx)
    for p in peers:
        s, _ = offer(s, ctx, p, cur(12), n)
    s, _ = poll(s, ctx, 0)
    return s, ctx


def test_response_stores_the_chunk_and_frees_the_peer() -> None:
    s, ctx = started()
    assert {p: (f.range.start, f.range.end) for p, f in s.inflight.items()} == {
        A: (0, 2),
        B: (2, 4),
        C: (4, 6),
    }
    s, effects = answer(s, ctx, B, 2, 4, now=10)
    assert B not in s.inflight
    assert s.fetched[2] == (4, content(cur(12), 4)[2:4])
    assert effects == (CancelTimer(TimerId(TimerKind.FETCH_TIMEOUT, peer=B)),)


def test_invalid_response_for_another_anchor_is_ignored_in_both_profiles() -> None:
    for profile in (REFERENCE, MOSAIK_0_3_13):
        s, ctx = started(profile)
        s2, effects = answer(s, ctx, A, 0, 2, anchor=cur(14))
        assert s2 is s
        assert ignored(effects) == [IgnoreReason.WRONG_ANCHOR]


def test_invalid_response_from_a_peer_never_asked_reference_vs_mosaik_h1() -> None:
    s, ctx = started(peers=(A,))
    s2, effects = answer(s, ctx, B, 2, 4)
    assert s2 is s
    assert ignored(effects) == [IgnoreReason.UNSOLICITED_RESPONSE]
    s, ctx = started(MOSAIK_0_3_13, peers=(A,))
    s2, effects = answer(s, ctx, B, 2, 4)
    assert s2.fetched[2][0] == 4  # mosaik stores whatever arrives


def test_invalid_response_with_a_wrong_offset_is_ignored_and_the_request_stays() -> None:
    s, ctx = started()
    s2, effects = answer(s, ctx, A, 1, 3)
    assert s2 is s
    assert ignored(effects) == [IgnoreReason.MISMATCHED_RESPONSE]
    assert A in s2.inflight


def test_invalid_over_long_and_empty_responses_are_ignored_reference_h10() -> None:
    s, ctx = started()
    for start, end in ((0, 3), (0, 0)):
        s2, effects = answer(s, ctx, A, start, end)
        assert s2 is s
        assert ignored(effects) == [IgnoreReason.MISMATCHED_RESPONSE]


def test_invalid_response_from_unbonded_peer_or_self_is_ignored() -> None:
    s, ctx = started()
    for peer in (STRANGER, LOCAL):
        s2, effects = answer(s, ctx, peer, 0, 2)
        assert s2 is s
        assert ignored(effects) == [IgnoreReason.UNKNOWN_PEER]
    with pytest.raises(InvalidInput):
        on_fetch_data_response(s, ctx, A, "items", 0)  # type: ignore[arg-type]


def test_short_response_is_kept_as_a_prefix_and_the_rest_is_asked_again() -> None:
    s, ctx = started()
    s, _ = answer(s, ctx, B, 2, 3)
    assert s.fetched[2][0] == 3
    assert B not in s.inflight
    s, effects = poll(s, ctx, 1)
    assert fetches(effects) == [(B, 3, 4)]  # clipped at C's [4, 6) (H2 fix)


def test_invalid_unsolicited_response_past_the_snapshot_end_is_ignored_even_with_h1() -> None:
    s, ctx = started(REFERENCE.with_hazards(["H1"]), peers=(A,))
    s2, effects = on_fetch_data_response(
        s, ctx, B, FetchDataResponse(cur(12), 5, content(cur(12), 8)[5:8]), 0
    )
    assert s2 is s
    assert ignored(effects) == [IgnoreReason.MISMATCHED_RESPONSE]


# ---------------------------------------------------------------------------------------------
# Q5 session_poll, Q6 poll_terminations, Q7, Q8, Q9, Q10


def test_poll_order_terminations_before_scheduling() -> None:
    ctx = ctx_for()
    s = new(ctx)
    s, _ = offer(s, ctx, A, cur(12), 4)
    s, _ = offer(s, ctx, B, cur(12), 4)
    s = on_bond_terminated(s, A)
    s, effects = poll(s, ctx, 0)
    assert fetches(effects) == [(B, 0, 2)]  # A was forgotten (Q6) before Q11


def test_completion_is_detected_only_at_step_0_of_a_later_poll() -> None:
    s, ctx = started(n=2, peers=(A,))
    s, _ = answer(s, ctx, A, 0, 2)
    s, effects = poll(s, ctx, 1)  # drains (Q8), but returns Pending
    assert is_sync_complete(s)
    assert effects == ()
    _, effects, ready = session_poll(s, ctx, 2)
    assert ready == cur(12)
    assert isinstance(effects[0], InstallSnapshot)


def test_termination_of_an_unwatched_re_formed_bond_reaches_no_session() -> None:
    # A's first bond is watched (present at session start); it breaks and Q6 forgets A.
    ctx = ctx_for()
    s = new(ctx)
    s, _ = offer(s, ctx, A, cur(12), 4)
    s = poll_terminations(on_bond_terminated(s, A))
    assert A not in s.anchor_candidates[cur(12)][1]
    # A's bond re-forms and breaks again before A offers: no watcher, nothing queued.
    s = on_bond_terminated(s, A)
    assert s.terminations == ()
    # A offers over a third bond; the next poll keeps it (mosaik session.rs:118-124, 333-339).
    s, _ = offer(s, ctx, A, cur(12), 4)
    s, effects = poll(s, ctx, 0)
    assert A in s.available_peers
    assert (A, 0, 2) in fetches(effects)
    # The offer watched the new bond: its termination is queued again.
    assert on_bond_terminated(s, A).terminations == (A,)


def test_queueing_every_termination_would_strip_a_peer_that_offered_again() -> None:
    # The broken variant (no watcher bookkeeping): a stale termination strips A.
    ctx = ctx_for()
    s = new(ctx)
    s, _ = offer(s, ctx, A, cur(12), 4)
    s = poll_terminations(on_bond_terminated(s, A))
    s = replace(s, terminations=(A,))  # what queueing every termination would do
    s, _ = offer(s, ctx, A, cur(12), 4)
    s, _ = poll(s, ctx, 0)
    assert A not in s.available_peers


def test_poll_terminations_forgets_the_peer_everywhere() -> None:
    s, ctx = started()
    s = poll_new_bonds(s, ctx)
    assert s.known_bonds == frozenset(PEERS)
    s = on_bond_terminated(on_bond_terminated(s, A), A)  # duplicate watchers (H24)
    s = poll_terminations(s)
    assert A not in s.available_peers
    assert A not in s.inflight
    assert A not in s.known_bonds
    assert A not in s.anchor_candidates[cur(12)][1]
    assert s.terminations == ()
    assert poll_terminations(s) is s
    with pytest.raises(InvalidInput):
        on_bond_terminated(s, "A")  # type: ignore[arg-type]


def test_retry_timer_fires_resends_to_the_current_leader_and_rearms() -> None:
    ctx = ctx_for()
    s = new(ctx)
    s2, effects = poll_snapshot_request_timeout(s, ctx, 14_999)
    assert s2 is s
    assert effects == ()
    s2, effects = poll_snapshot_request_timeout(s, replace(ctx, leader=B), 15_000)
    assert effects == (Send(B, RequestSnapshot()), ArmTimer(RETRY, 30_000))


@pytest.mark.parametrize("profile", [REFERENCE, MOSAIK_0_3_13], ids=lambda p: p.name)
def test_invalid_retry_with_no_known_leader_is_refused_h21(profile: Profile) -> None:
    s = new(ctx_for(profile))
    leaderless = ctx_for(profile, leader=None)
    # Before the timer fires nothing reads the leader.
    assert poll_snapshot_request_timeout(s, leaderless, 14_999) == (s, ())
    with pytest.raises(InvalidState, match=r"known leader .*H21.*leader=None at Q7"):
        poll_snapshot_request_timeout(s, leaderless, 15_000)
    # The reference's immediate re-request (the retry rule, H7 off) needs it too: the
    # only source times out, the session is unserved and asks the leader at once.
    if profile is REFERENCE:
        served, _ = started(profile, peers=(A,))
        assert served.snapshot_request_deadline_ms is None
        with pytest.raises(InvalidState, match=r"leader=None at the retry rule"):
            session_poll(served, leaderless, 5_000)


def test_drain_appends_contiguous_chunks_and_stops_at_a_hole() -> None:
    s, ctx = started()
    s, _ = answer(s, ctx, B, 2, 4)
    assert drain_fetched_items(s) is s  # [0, 2) missing: nothing drains
    s, _ = answer(s, ctx, A, 0, 2)
    s = drain_fetched_items(s)
    assert (s.gap_start, s.downloaded, dict(s.fetched)) == (4, 4, {})
    assert items_of(s.accumulated) == content(cur(12), 4)


def test_poll_timeouts_removes_the_peer_but_keeps_it_as_a_candidate() -> None:
    s, _ctx = started()
    s2, effects = poll_timeouts(s, 4_999)
    assert s2 is s
    assert effects == ()
    s2, effects = poll_timeouts(s, 5_000)
    assert not s2.inflight
    assert not s2.available_peers
    assert s2.anchor_candidates[cur(12)][1] == {A, B, C}
    assert len(effects) == 3
    assert all(isinstance(e, CancelTimer) for e in effects)


# ---------------------------------------------------------------------------------------------
# Q11 schedule_fetches, Q11a send_fetch_request


def test_schedule_orders_idle_peers_by_bytes_with_the_leader_last() -> None:
    ctx = ctx_for(batch=2)
    s = new(ctx)
    for p in (L, C, A, B):
        s, _ = offer(s, ctx, p, cur(12), 7)
    s, effects = schedule_fetches(s, ctx, 100)
    assert fetches(effects) == [(A, 0, 2), (B, 2, 4), (C, 4, 6), (L, 6, 7)]
    assert ArmTimer(TimerId(TimerKind.FETCH_TIMEOUT, peer=L), 5_100) in effects
    s2, effects = schedule_fetches(s, ctx, 100)  # nobody idle
    assert s2 is s
    assert effects == ()


def test_schedule_skips_assigned_ranges() -> None:
    s, ctx = started(n=8, peers=(A, B, C))  # A [0,2) B [2,4) C [4,6)
    s, _ = answer(s, ctx, B, 2, 4)
    s, _ = poll_timeouts(s, 5_000)  # everyone out...
    s, _ = offer(s, ctx, A, cur(12), 8)  # ...A and C come back
    s, _ = offer(s, ctx, C, cur(12), 8)
    s, effects = schedule_fetches(s, ctx, 5_000)
    assert fetches(effects) == [(A, 0, 2), (B, 4, 6), (C, 6, 8)]  # [2, 4) is fetched


def test_schedule_without_anchor_or_with_an_empty_gap_does_nothing() -> None:
    ctx = ctx_for()
    s = new(ctx)
    assert schedule_fetches(s, ctx, 0) == (s, ())
    s, _ = offer(s, ctx, A, cur(12), 0)
    assert schedule_fetches(s, ctx, 0) == (s, ())


def test_send_fetch_request_records_the_request() -> None:
    ctx = ctx_for()
    s, _ = offer(new(ctx), ctx, A, cur(12), 5)
    s, effects = send_fetch_request(s, ctx, A, cur(12), ItemRange(1, 3), 7)
    assert s.inflight[A] == PendingFetch(ItemRange(1, 3), 5_007)
    assert effects == (
        Send(A, FetchDataRequest(cur(12), ItemRange(1, 3))),
        ArmTimer(TimerId(TimerKind.FETCH_TIMEOUT, peer=A), 5_007),
    )


def test_invalid_send_fetch_request_arguments_raise() -> None:
    ctx = ctx_for()
    s, _ = offer(new(ctx), ctx, A, cur(12), 5)
    with pytest.raises(InvalidState):
        send_fetch_request(s, ctx, A, cur(14), ItemRange(0, 2), 0)  # wrong anchor
    with pytest.raises(InvalidState):
        send_fetch_request(s, ctx, B, cur(12), ItemRange(0, 2), 0)  # not available
    busy, _ = send_fetch_request(s, ctx, A, cur(12), ItemRange(0, 2), 0)
    with pytest.raises(InvalidState):
        send_fetch_request(busy, ctx, A, cur(12), ItemRange(2, 4), 0)  # already asked
    for bad in (ItemRange(2, 2), ItemRange(3, 6)):
        with pytest.raises(InvalidRange):
            send_fetch_request(s, ctx, A, cur(12), bad, 0)  # empty, out of bounds
    with pytest.raises(InvalidRange):
        send_fetch_request(s, ctx, A, cur(12), ItemRange(4, 2), 0)  # inverted
    with pytest.raises(InvalidInput):
        send_fetch_request(s, ctx, A, cur(12), (0, 2), 0)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Q12 finalize_sync, Q13 buffer


def test_finalize_installs_resets_commits_and_appends_the_entries_after_the_anchor() -> None:
    ctx = ctx_for()
    s = new(ctx, entries(1, 1, 1, 2))  # 11..14
    s, _ = offer(s, ctx, A, cur(12), 2)
    s, _ = poll(s, ctx, 0)
    s, _ = answer(s, ctx, A, 0, 2)
    s = drain_fetched_items(s)
    state, effects, ready = finalize_sync(s, ctx)
    assert state is None
    assert ready == Cursor(Term(2), Index(14))
    assert isinstance(effects[0], InstallSnapshot)
    assert items_of(effects[0].snapshot) == content(cur(12), 2)
    assert effects[1:] == (
        ResetLog(cur(12)),
        SetCommitted(cur(12)),
        AppendLog((LogEntry(Term(1), "cmd2"), LogEntry(Term(2), "cmd3"))),
    )


def test_invalid_finalize_before_completion_raises() -> None:
    ctx = ctx_for()
    s = new(ctx)
    with pytest.raises(InvalidState):
        finalize_sync(s, ctx)
    s, _ = offer(s, ctx, A, cur(12), 2)
    with pytest.raises(InvalidState):
        finalize_sync(s, ctx)


def test_buffer_appends_contiguous_entries_and_ignores_heartbeats() -> None:
    ctx = ctx_for()
    s = new(ctx, entries(1))
    s, effects = buffer(s, ctx, cur(11), entries(1, 1))
    assert [e[0] for e in s.buffered] == [11, 12, 13]
    assert effects == ()
    assert buffer(s, ctx, cur(20), ())[0] is s


def test_buffer_reference_skips_duplicates_and_truncates_on_a_term_conflict() -> None:
    ctx = ctx_for()
    s = new(ctx, entries(1, 1, 1))  # 11..13
    s2, _ = buffer(s, ctx, cur(10), entries(1, 1, 1, 1))  # 11..13 again, plus 14
    assert [(e[0], e[1]) for e in s2.buffered] == [(11, 1), (12, 1), (13, 1), (14, 1)]
    s3, _ = buffer(s, ctx, cur(11), entries(2, 2))  # 12 conflicts: truncate, then 12..13
    assert [(e[0], e[1]) for e in s3.buffered] == [(11, 1), (12, 2), (13, 2)]
    s4, _ = buffer(s, ctx, cur(8), entries(1, 1, 1))  # 9, 10 skipped, 11 matches
    assert s4.buffered == s.buffered
    # mosaik appends everything as it comes
    m = new(ctx_for(MOSAIK_0_3_13), entries(1, 1, 1))
    m, _ = buffer(m, ctx_for(MOSAIK_0_3_13), cur(10), entries(1))
    assert [e[0] for e in m.buffered] == [11, 12, 13, 11]


def test_invalid_buffer_arguments_raise() -> None:
    ctx = ctx_for()
    s = new(ctx)
    with pytest.raises(InvalidInput):
        buffer(s, ctx, 10, ())  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        buffer(s, ctx, cur(10), [LogEntry(Term(1), "x")])  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Hazards: the inventory's interleavings (§5), mosaik's outcome vs the reference's


def h1_late_response(profile: Profile) -> tuple[SessionState, SessionContext]:
    """H1: gap [0,4), batch 2. A gets [0,2); A times out, C gets [0,2); A's late answer
    arrives and is drained, then C's [0,2), then B's [2,4)."""
    ctx = ctx_for(profile)
    s = new(ctx)
    s, _ = offer(s, ctx, A, cur(12), 4)
    s, effects = poll(s, ctx, 0)
    assert fetches(effects) == [(A, 0, 2)]
    s, _ = offer(s, ctx, B, cur(12), 4, now=2_000)
    s, effects = poll(s, ctx, 2_000)
    assert fetches(effects) == [(B, 2, 4)]
    s, _ = offer(s, ctx, C, cur(12), 4, now=5_000)
    s, effects = poll(s, ctx, 5_000)  # Q9: A out; Q11 in the same poll: C gets [0,2)
    assert fetches(effects) == [(C, 0, 2)]
    s, _ = answer(s, ctx, A, 0, 2, now=5_001)  # the late answer
    s, _ = poll(s, ctx, 5_001)
    s, _ = answer(s, ctx, C, 0, 2, now=5_002)
    s, _ = answer(s, ctx, B, 2, 4, now=5_003)
    return s, ctx


def test_h1_late_response_stalls_mosaik_forever() -> None:
    s, ctx = h1_late_response(MOSAIK_0_3_13)
    assert s.gap_start == 2
    assert sorted(s.fetched) == [0, 2]
    assert any(p.startswith("I4") for p in check_session_invariants(s))
    for now in (5_004, 60_000, 600_000):
        s, effects = poll(s, ctx, now)
        assert effects == ()
        assert s.gap_start == 2
    assert dead_state(s, ctx) == "L2(c)"


def test_h1_reference_ignores_the_late_response_and_completes() -> None:
    s, ctx = h1_late_response(REFERENCE)
    assert check_session_invariants(s) == []
    s, _ = poll(s, ctx, 5_004)
    _, effects, ready = session_poll(s, ctx, 5_005)
    assert ready == cur(12)
    assert isinstance(effects[0], InstallSnapshot)
    assert items_of(effects[0].snapshot) == content(cur(12), 4)


def h2_short_response(profile: Profile) -> tuple[SessionState, SessionContext, tuple[Effect, ...]]:
    """H2: [0,2) A, [2,4) B, [4,6) C; B answers 1 item; the next schedule re-assigns B."""
    s, ctx = started(profile)
    s, _ = answer(s, ctx, B, 2, 3)
    s, effects = poll(s, ctx, 1)
    return s, ctx, effects


def test_h2_overlapping_assignment_stalls_mosaik() -> None:
    s, ctx, effects = h2_short_response(MOSAIK_0_3_13)
    assert fetches(effects) == [(B, 3, 5)]  # overlaps C's [4, 6)
    assert any(p.startswith("I4") for p in check_session_invariants(s))
    for peer, (start, end) in ((A, (0, 2)), (B, (3, 5)), (C, (4, 6))):
        s, _ = answer(s, ctx, peer, start, end, now=2)
    s, _ = poll(s, ctx, 3)
    assert s.gap_start == 5
    assert sorted(s.fetched) == [4]
    assert not is_sync_complete(s)
    assert dead_state(s, ctx) == "L2(c)"


def test_h2_reference_clips_the_chunk_and_completes() -> None:
    s, ctx, effects = h2_short_response(REFERENCE)
    assert fetches(effects) == [(B, 3, 4)]
    assert check_session_invariants(s) == []
    done = run_to_completion(s, ctx, 2)
    assert done is not None
    assert done[1] == cur(12)


def test_h3a_lost_append_entries_panics_mosaik_at_finalize() -> None:
    """H3(a): buffered 101..105, 106..110 lost, 111..115 buffered, anchor 103."""
    ctx = ctx_for(MOSAIK_0_3_13)
    s = new(ctx, entries(1, 1, 1, 1, 1), position=cur(100))
    s, _ = offer(s, ctx, A, cur(103), 2)
    s, _ = buffer(s, ctx, cur(110), entries(1, 1, 1, 1, 1))
    assert [e[0] for e in s.buffered][4:6] == [105, 111]
    with pytest.raises(HazardPanic) as info:
        run_to_completion(s, ctx, 0)
    assert (info.value.hazard, info.value.site) == ("H3", "session.rs:662")
    assert "111" in info.value.detail
    assert "106" in info.value.detail


def test_h3a_reference_drops_the_anchor_below_the_gap_and_asks_again() -> None:
    ctx = ctx_for()
    s = new(ctx, entries(1, 1, 1, 1, 1), position=cur(100))
    s, _ = offer(s, ctx, A, cur(103), 2)
    s, _ = poll(s, ctx, 0)
    assert A in s.inflight
    s, effects = buffer(s, ctx, cur(110), entries(1, 1, 1, 1, 1))
    assert [e[0] for e in s.buffered] == [111, 112, 113, 114, 115]
    assert s.anchor is None
    assert s.min_anchor == 110
    assert cur(103) not in s.anchor_candidates
    assert effects == (CancelTimer(TimerId(TimerKind.FETCH_TIMEOUT, peer=A)),)
    assert next_deadline(s) == 0  # poll now: the session lost its source
    s, effects = poll(s, ctx, 1)
    assert requests_to(effects) == [L]  # H7 fix: ask at once
    s, effects = offer(s, ctx, A, cur(108), 2, now=2)
    assert ignored(effects) == [IgnoreReason.STALE_OFFER]  # below the raised minimum
    s, _ = offer(s, ctx, B, cur(112), 2, now=3)
    done = run_to_completion(s, ctx, 4)
    assert done is not None
    assert done[1] == cur(115)
    kept = tuple(LogEntry(Term(1), f"cmd{i}") for i in (2, 3, 4))  # 113..115
    assert done[0][3] == AppendLog(kept)


def h3b_stale_anchor(profile: Profile) -> tuple[SessionState, SessionContext]:
    """H3(b): a heartbeat at (2,60) starts the session; an earlier session's offer for
    (1,50) arrives; then the AppendEntries carrying 61.. is buffered."""
    ctx = ctx_for(profile)
    s = new(ctx, position=cur(60, 2))
    s, _ = offer(s, ctx, A, cur(50), 2)
    s, _ = buffer(s, ctx, cur(60, 2), entries(2, 2))
    return s, ctx


def test_h3b_h9_stale_anchor_is_selected_and_mosaik_panics() -> None:
    s, ctx = h3b_stale_anchor(MOSAIK_0_3_13)
    assert s.anchor == cur(50)
    assert s.snapshot_request_deadline_ms is None
    assert {"I7", "FRESH"} <= {p.split(":")[0] for p in check_session_invariants(s)}
    with pytest.raises(HazardPanic) as info:
        run_to_completion(s, ctx, 0)
    assert info.value.hazard == "H3"


def test_h3b_reference_ignores_the_stale_offer_and_keeps_the_timer() -> None:
    s, _ = h3b_stale_anchor(REFERENCE)
    assert s.anchor is None
    assert not s.anchor_candidates
    assert s.snapshot_request_deadline_ms == 15_000


def test_h3b_with_h9_on_the_reference_buffer_rule_still_drops_the_stale_anchor() -> None:
    profile = REFERENCE.with_hazards(["H9"])
    ctx = ctx_for(profile)
    s = new(ctx, position=cur(60, 2))
    s, _ = offer(s, ctx, A, cur(50), 2)
    assert s.anchor == cur(50)
    assert [p.split(":")[0] for p in check_session_invariants(s)] == ["FRESH"]
    s, _ = buffer(s, ctx, cur(60, 2), entries(2, 2))
    assert s.anchor is None
    assert s.min_anchor == 60


def test_h3_with_only_h3_on_the_stale_offer_is_refused_but_a_lost_entry_still_panics() -> None:
    profile = REFERENCE.with_hazards(["H3"])
    s, _ = h3b_stale_anchor(profile)
    assert s.anchor is None  # H9's fix alone prevents H3(b)...
    ctx = ctx_for(profile)
    s = new(ctx, entries(1, 1), position=cur(100))
    s, _ = offer(s, ctx, A, cur(101), 1)
    s, _ = buffer(s, ctx, cur(103), entries(1))  # ...but not H3(a)
    with pytest.raises(HazardPanic):
        run_to_completion(s, ctx, 0)


def h6_all_peers_time_out(profile: Profile) -> tuple[SessionState, SessionContext, list[PeerId]]:
    """H6: the only provider is selected, then times out; poll long afterwards."""
    ctx = ctx_for(profile)
    s = new(ctx)
    s, _ = offer(s, ctx, A, cur(12), 4)
    s, _ = poll(s, ctx, 0)
    asked: list[PeerId] = []
    for now in (5_000, 20_000, 35_000, 50_000):
        s, effects = poll(s, ctx, now)
        asked += requests_to(effects)
    return s, ctx, asked


def test_h6_mosaik_stays_dead_after_every_peer_timed_out() -> None:
    s, ctx, asked = h6_all_peers_time_out(MOSAIK_0_3_13)
    assert asked == []
    assert dead_state(s, ctx) == "L2(a)"
    assert next_deadline(s) is None


def test_h6_reference_rearms_the_timer_and_keeps_asking() -> None:
    s, ctx, asked = h6_all_peers_time_out(REFERENCE)
    # at 5000 at once (H7 fix), then each retry period
    assert asked == [L, L, L, L]
    assert dead_state(s, ctx) is None
    assert next_deadline(s) == 65_000


def test_h6_an_unusable_offer_kills_the_timer_in_mosaik_but_not_in_reference() -> None:
    for profile, deadline, dead in ((MOSAIK_0_3_13, None, "L2(b)"), (REFERENCE, 15_000, None)):
        ctx = ctx_for(profile)
        s = new(ctx, entries(1, 1, 1))  # buffered 11..13
        s, _ = offer(s, ctx, A, cur(10), 3)  # not stale, but below the earliest buffered 11
        assert s.anchor is None
        assert cur(10) in s.anchor_candidates
        s, _ = poll(s, ctx, 1)
        assert s.snapshot_request_deadline_ms == deadline
        assert dead_state(s, ctx) == dead


def h7_last_source_lost(profile: Profile) -> tuple[list[tuple[int, list[PeerId]]], SessionState]:
    """H7: A serves [0,2) then departs; the leader's copy expired, so it never answers;
    the leader's request times out at 5000."""
    ctx = ctx_for(profile)
    s = new(ctx)
    s, _ = offer(s, ctx, A, cur(12), 4)
    s, _ = offer(s, ctx, L, cur(12), 4)
    s, effects = poll(s, ctx, 0)
    assert fetches(effects) == [(A, 0, 2), (L, 2, 4)]
    s, _ = answer(s, ctx, A, 0, 2, now=10)
    s = on_bond_terminated(s, A)
    timeline = []
    for now in (100, 5_000, 10_000, 20_000):
        s, effects = poll(s, ctx, now)
        timeline.append((now, requests_to(effects)))
    return timeline, s


def test_h7_mosaik_never_asks_again_once_the_copies_are_gone() -> None:
    timeline, s = h7_last_source_lost(MOSAIK_0_3_13)
    assert all(asked == [] for _, asked in timeline)
    assert not is_served(s)


def test_h7_reference_asks_in_the_poll_that_loses_the_last_source() -> None:
    timeline, _ = h7_last_source_lost(REFERENCE)
    assert timeline == [(100, []), (5_000, [L]), (10_000, []), (20_000, [L])]


def test_h7_on_in_reference_waits_a_full_retry_period() -> None:
    timeline, _ = h7_last_source_lost(REFERENCE.with_hazards(["H7"]))
    assert timeline == [(100, []), (5_000, []), (10_000, []), (20_000, [L])]


def test_h9_mosaik_accepts_a_stale_offer_and_it_stops_the_retry_timer() -> None:
    for profile, anchor, deadline in ((MOSAIK_0_3_13, cur(7), None), (REFERENCE, None, 15_000)):
        ctx = ctx_for(profile)
        s, _ = offer(new(ctx, entries(1)), ctx, A, cur(7), 3)
        assert s.snapshot_request_deadline_ms == deadline
        assert s.anchor is None  # below the earliest buffered entry: never selectable
        s, _effects = offer(new(ctx), ctx, A, cur(7), 3)  # empty buffer
        assert s.anchor == anchor


def test_h10_over_long_response_stalls_mosaik() -> None:
    s, ctx = started(MOSAIK_0_3_13, n=4, peers=(A, B))
    s, _ = answer(s, ctx, A, 0, 3)  # 3 items for [0, 2)
    s, _ = answer(s, ctx, B, 2, 4)
    s, _ = poll(s, ctx, 1)
    assert s.gap_start == 3
    assert sorted(s.fetched) == [2]
    assert dead_state(s, ctx) == "L2(c)"


def test_h10_over_long_last_chunk_installs_an_over_long_snapshot_in_mosaik() -> None:
    s, ctx = started(MOSAIK_0_3_13, n=2, peers=(A,))
    s, _ = answer(s, ctx, A, 0, 3)
    s, _ = poll(s, ctx, 1)
    assert (s.gap_start, s.gap_end) == (3, 2)
    assert is_sync_complete(s)
    assert any(
        p.startswith("I5") for p in check_session_invariants(s, {cur(12): truth(cur(12), 2)})
    )
    _, effects, _ = session_poll(s, ctx, 2)
    assert isinstance(effects[0], InstallSnapshot)
    assert items_of(effects[0].snapshot) == content(cur(12), 3)


def test_h10_zero_item_responses_loop_in_mosaik_and_time_out_in_reference() -> None:
    for profile in (MOSAIK_0_3_13, REFERENCE):
        s, ctx = started(profile, n=2, peers=(A,))
        asked = 1
        for now in range(1, 6):
            s, _ = answer(s, ctx, A, 0, 0, now=now)
            s, effects = poll(s, ctx, now)
            asked += len(fetches(effects))
        if profile is MOSAIK_0_3_13:
            assert asked == 6
            assert s.gap_start == 0
        else:
            assert asked == 1
            assert A in s.inflight
            s, _ = poll(s, ctx, 5_000)
            assert not s.available_peers


# ---------------------------------------------------------------------------------------------
# The invariant predicates can fail (each on a deliberately broken state)


def test_check_session_invariants_flags_each_broken_invariant() -> None:
    s, ctx = started()
    known = {cur(12): truth(cur(12), 6)}
    assert check_session_invariants(s, known) == []
    broken_i4 = replace(s, fetched=s.fetched.set(1, (3, content(cur(12), 3)[1:3])))
    broken_i5 = replace(s, accumulated=snapshot_of([(99_999, 0)]), gap_start=1)
    broken_i6 = replace(s, available_peers=s.available_peers - {A})
    broken_i6b = replace(s, available_peers=s.available_peers | {L})
    broken_i7 = replace(s, buffered=s.buffered.append((Index(14), Term(1), "x")))
    broken_fresh = replace(s, trigger_position=13)
    for state, name in (
        (broken_i4, "I4"),
        (broken_i5, "I5"),
        (broken_i6, "I6"),
        (broken_i6b, "I6"),
        (broken_i7, "I7"),
        (broken_fresh, "FRESH"),
    ):
        assert name in [p.split(":")[0] for p in check_session_invariants(state, known)]
    no_anchor = replace(new(ctx), inflight=s.inflight, accumulated=snapshot_of([(1, 1)]))
    assert {p.split(":")[0] for p in check_session_invariants(no_anchor, known.get)} == {
        "I4",
        "I5",
        "I6",
    }


# ---------------------------------------------------------------------------------------------
# Property: random interleavings with honest and adversarial providers

STALE, A1, A2 = cur(7), cur(12), cur(14)
BAD_KINDS = ("short", "short", "long", "zero", "offset", "unsolicited", "wrong_anchor", "replay")
ACTIONS = (
    ("offer",) * 3
    + ("serve",) * 2
    + ("deliver",) * 2
    + ("roundtrip",) * 3
    + ("poll",) * 4
    + ("advance",) * 2
    + ("terminate", "rebond", "append", "expire", "new_anchor")
    + ("bad",) * 3
)


@dataclass
class World:
    """A session, its providers and the bonds between them (one test run)."""

    profile: Profile
    batch: int
    s: SessionState
    now: int = 0
    contents: dict[Cursor, Snapshot] = field(default_factory=dict)
    holders: dict[PeerId, set[Cursor]] = field(default_factory=dict)
    bonded: set[PeerId] = field(default_factory=lambda: set(PEERS))
    to_provider: dict[PeerId, list[FetchDataRequest]] = field(default_factory=dict)
    to_session: dict[PeerId, list[FetchDataResponse]] = field(default_factory=dict)
    last_response: dict[PeerId, FetchDataResponse] = field(default_factory=dict)
    leader_last: int = 10
    last_ae: tuple[int, int] = (10, 0)
    next_anchor: int = 16
    done: bool = False
    check_polls: bool = True
    """Check L2 and the H7 bound after each poll (off: only L1 and the invariants)."""

    def ctx(self) -> SessionContext:
        config = Config(fetch_batch_size=self.batch, fetch_timeout_ms=5_000)
        return SessionContext(LOCAL, L, frozenset(self.bonded), config, MACHINE, self.profile)

    def send_all(self, effects: Sequence[Effect]) -> None:
        for e in effects:
            if (
                isinstance(e, Send)
                and isinstance(e.message, FetchDataRequest)
                and e.to in self.bonded
            ):
                self.to_provider.setdefault(e.to, []).append(e.message)


Setup = tuple[int, tuple[int, int, int], bool, tuple[int, int, int, int]]
Action = tuple[str, int, int]

setups: st.SearchStrategy[Setup] = st.tuples(
    st.integers(1, 3),
    st.tuples(st.integers(0, 8), st.integers(0, 8), st.integers(0, 8)),
    st.booleans(),
    st.tuples(*(st.integers(0, 7) for _ in PEERS)),
)
actions: st.SearchStrategy[Action] = st.tuples(
    st.sampled_from(ACTIONS), st.integers(0, 15), st.integers(0, 15)
)
programs = st.tuples(setups, st.lists(actions, min_size=20, max_size=50))


def _respond(w: World, peer: PeerId, resp: FetchDataResponse) -> None:
    w.last_response[peer] = resp
    w.s, _ = on_fetch_data_response(w.s, w.ctx(), peer, resp, w.now)


def _bad_response(w: World, peer: PeerId, kind: str, k: int) -> FetchDataResponse | None:
    """A misbehaving provider's answer: true items, wrong shape (or a replayed answer)."""
    anchor = w.s.anchor
    if anchor is None:
        return None
    true_items = items_of(w.contents[anchor])
    pending = w.s.inflight.get(peer)
    start, end = (pending.range.start, pending.range.end) if pending else (k % 6, k % 6 + 1)
    junk = tuple((900_000 + i, 0) for i in range(8))  # items beyond the snapshot's end
    padded = true_items + junk
    if kind == "short" and pending and end - start > 1:
        return FetchDataResponse(anchor, start, true_items[start : end - 1])
    if kind == "long":
        return FetchDataResponse(anchor, start, padded[start : end + 1 + k % 3])
    if kind == "zero":
        return FetchDataResponse(anchor, start, ())
    if kind == "offset":
        return FetchDataResponse(anchor, start + 1, padded[start + 1 : end + 1])
    if kind == "unsolicited":
        off = k % max(len(true_items), 1)
        return FetchDataResponse(anchor, off, true_items[off : off + w.batch])
    if kind == "wrong_anchor":
        other = STALE if anchor != STALE else A1
        return FetchDataResponse(other, start, items_of(w.contents[other])[start:end])
    if kind == "replay" and peer in w.last_response:
        return w.last_response[peer]
    return None


def _pick(peers: Sequence[PeerId], a: int) -> PeerId | None:
    return peers[a % len(peers)] if peers else None


def _serve(w: World, peer: PeerId) -> None:
    """An honest provider answers its oldest request (P4: clamp, no reply if unknown/out of
    bounds)."""
    req = w.to_provider[peer].pop(0)
    if req.anchor in w.holders[peer]:
        end = min(req.range.end, req.range.start + w.batch)
        items = w.contents[req.anchor].iter_range(ItemRange(req.range.start, end))
        if items is not None and end > req.range.start:
            w.to_session.setdefault(peer, []).append(
                FetchDataResponse(req.anchor, req.range.start, items)
            )


def _poll(w: World, problems: list[str]) -> tuple[Effect, ...]:
    """Q5 at the session; check the installed snapshot (I5 at finalize), L2 and the H7 bound."""
    ctx = w.ctx()
    before = w.s
    w.s, effects, ready = session_poll(w.s, ctx, w.now)
    if ready is not None:
        w.done = True
        installed = effects[0]
        assert isinstance(installed, InstallSnapshot)
        anchor = before.anchor
        assert anchor is not None
        if items_of(installed.snapshot) != items_of(w.contents[anchor]):
            problems.append(f"I5: installed {len(installed.snapshot)} items, not {anchor}'s")
        return effects
    w.send_all(effects)
    if not w.check_polls:
        return effects
    dead = dead_state(w.s, ctx)
    if dead is not None:
        problems.append(dead)
    if (
        not is_served(w.s)
        and before.snapshot_request_deadline_ms is None
        and L not in requests_to(effects)
    ):
        problems.append("H7-bound: the session lost its source and did not ask the leader")
    return effects


def step(w: World, action: Action, problems: list[str]) -> None:
    """Apply one action to the world; append what it violates to ``problems``.

    Actions that need a peer with something to do pick among those peers (``a``
    indexes them), so that short programs reach deep states.
    """
    name, a, b = action
    ctx = w.ctx()
    peer: PeerId | None
    offering = [p for p in PEERS if p in w.bonded and w.holders[p]]
    serving = [p for p in PEERS if w.to_provider.get(p)]
    delivering = [p for p in PEERS if w.to_session.get(p)]
    if name == "offer" and offering:
        # The holders of one anchor offer it (bits of ``a`` choose which; at least one).
        anchors = sorted({c for p in offering for c in w.holders[p]}, key=lambda c: c.index)
        anchor = anchors[b % len(anchors)]
        holders = [p for p in offering if anchor in w.holders[p]]
        chosen = [p for i, p in enumerate(holders) if a >> i & 1] or holders[:1]
        info = SnapshotInfo(anchor, len(w.contents[anchor]))
        for offerer in chosen:
            w.s, _ = on_snapshot_offer(w.s, ctx, offerer, info, w.now)
    elif name == "serve" and (peer := _pick(serving, a)) is not None:
        _serve(w, peer)
    elif name == "deliver" and (peer := _pick(delivering, a)) is not None:
        _respond(w, peer, w.to_session[peer].pop(0))
    elif name == "roundtrip" and (peer := _pick(serving, a)) is not None:
        _serve(w, peer)
        if w.to_session.get(peer):
            _respond(w, peer, w.to_session[peer].pop(0))
    elif name == "poll":
        _poll(w, problems)
    elif name == "advance":
        w.now += (200, 500, 1_000, 5_000, 15_000)[a % 5]
    elif name == "terminate" and (peer := _pick(sorted(w.bonded, key=lambda p: p.raw), a)):
        w.bonded.discard(peer)
        w.to_provider.pop(peer, None)
        w.to_session.pop(peer, None)
        w.s = on_bond_terminated(w.s, peer)
    elif name == "rebond":
        w.bonded.add(PEERS[a % len(PEERS)])
    elif name == "append":
        mode = a % 3
        if mode == 1 and w.last_ae[1]:  # the transport duplicates the last AppendEntries
            prev, n = w.last_ae
        else:
            if mode == 2:  # an AppendEntries is lost
                w.leader_last += 2
            prev, n = w.leader_last, 1 + b % 2
            w.leader_last += n
            w.last_ae = (prev, n)
        w.s, _ = buffer(w.s, ctx, cur(prev), entries(*([1] * n)))
    elif name == "expire" and (peer := _pick(offering, a)) is not None:
        held = sorted(w.holders[peer], key=lambda c: c.index)
        w.holders[peer].discard(held[b % len(held)])
    elif name == "new_anchor" and w.next_anchor < 30:
        anchor = cur(w.next_anchor)
        w.next_anchor += 2
        w.contents[anchor] = truth(anchor, b % 7)
        for i, p in enumerate(PEERS):
            if a >> i & 1 or i == 0:
                w.holders[p].add(anchor)
    elif name == "bad":
        kind = BAD_KINDS[b % len(BAD_KINDS)]
        if kind == "replay":
            suspects = [p for p in PEERS if p in w.last_response]
        elif kind in ("unsolicited", "wrong_anchor"):
            suspects = list(PEERS)
        else:
            suspects = [p for p in PEERS if p in w.s.inflight]
        peer = _pick([p for p in suspects if p in w.bonded], a)
        resp = _bad_response(w, peer, kind, a) if peer is not None else None
        if peer is not None and resp is not None:
            _respond(w, peer, resp)


def fair_tail(w: World, problems: list[str], rounds: int = 60) -> bool:
    """Drive the session under L1's assumptions; return whether it finishes.

    From now on every bond is up, every provider answers every request at once,
    and the leader answers each RequestSnapshot with a fresh snapshot above the
    log that every peer offers. One round: poll, serve, deliver, one second.
    """
    w.bonded = set(PEERS)
    for _ in range(rounds):
        effects = _poll(w, problems)
        if w.done or problems:
            return w.done
        if L in requests_to(effects):
            fresh = cur(max(w.leader_last, w.next_anchor) + 1)
            w.next_anchor = fresh.index + 1
            w.contents[fresh] = truth(fresh, 3)
            for p in PEERS:
                w.holders[p].add(fresh)
                w.s, _ = on_snapshot_offer(w.s, w.ctx(), p, SnapshotInfo(fresh, 3), w.now)
        for p in PEERS:
            while w.to_provider.get(p):
                _serve(w, p)
            while w.to_session.get(p):
                _respond(w, p, w.to_session[p].pop(0))
        problems += check_session_invariants(w.s, w.contents)
        w.now += 1_000
    return w.done


def run_program(
    profile: Profile, program: tuple[Setup, list[Action]], *, check_polls: bool = True
) -> list[str]:
    """Run one interleaving, then a fair tail; return the first violations found, else [].

    Violations: an invariant of :func:`check_session_invariants` after any step, an
    L2 dead state or the H7 bound after a poll, a HazardPanic, or (L1) a session
    that does not finish within the fair tail.
    """
    (batch, lens, with_entries, masks), acts = program
    ctx = ctx_for(profile, batch=batch)
    s = new(ctx, entries(1, 1) if with_entries else ())
    w = World(profile, batch, s, leader_last=12 if with_entries else 10, check_polls=check_polls)
    w.last_ae = (10, 2) if with_entries else (10, 0)
    for anchor, n in zip((STALE, A1, A2), lens, strict=True):
        w.contents[anchor] = truth(anchor, n)
    for p, mask in zip(PEERS, masks, strict=True):
        w.holders[p] = {c for i, c in enumerate((STALE, A1, A2)) if mask >> i & 1}
    problems: list[str] = []
    try:
        for act in acts:
            if w.done:
                break
            step(w, act, problems)
            problems += check_session_invariants(w.s, w.contents)
            if problems:
                return problems
        if not fair_tail(w, problems) and not problems:
            problems.append("L1: the session did not finish under fair conditions")
    except HazardPanic as panic:
        return [f"panic {panic.hazard}"]
    return problems


@given(programs)
def test_reference_session_invariants_and_l1_hold_under_random_interleavings(
    program: tuple[Setup, list[Action]],
) -> None:
    assert run_program(REFERENCE, program) == []


def _search(profile: Profile, *, check_polls: bool = True) -> list[str]:
    """Find an interleaving that breaks the property under ``profile``; return its violations."""
    found = find(
        programs,
        lambda p: bool(run_program(profile, p, check_polls=check_polls)),
        settings=settings(
            max_examples=3_000,
            derandomize=True,
            database=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        ),
    )
    return run_program(profile, found, check_polls=check_polls)


@pytest.mark.parametrize(
    ("hazard", "expected"),
    [
        ("H1", {"I4", "L2(c)"}),
        ("H2", {"I4", "L2(c)"}),
        ("H3", {"I7", "panic H3"}),
        ("H6", {"L2(a)", "L2(b)", "H7-bound", "L1"}),
        ("H7", {"H7-bound"}),
        ("H9", {"FRESH"}),
        ("H10", {"I4", "I5", "L2(c)"}),
    ],
)
def test_each_hazard_switch_breaks_the_property(hazard: str, expected: set[str]) -> None:
    violations = _search(REFERENCE.with_hazards([hazard]))
    assert {v.split(":")[0] for v in violations} & expected, violations


def test_mosaik_profile_breaks_the_property() -> None:
    assert _search(MOSAIK_0_3_13) != []


def test_l1_alone_catches_the_h6_dead_session() -> None:
    # Without the L2/H7 checks after each poll, the fair tail (L1) still finds H6.
    violations = _search(REFERENCE.with_hazards(["H6"]), check_polls=False)
    assert [v.split(":")[0] for v in violations] == ["L1"]
