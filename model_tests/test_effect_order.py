"""The precision statements of docs/protocol/foundation.md and session.md, pinned.

Effect order and timer-effect rules (foundation.md, "Timer effects" and "The order of
effects") and the answers to a port's questions (session.md, "Questions from a
port") that no other test states: each is checked on the reference, and each check
is shown to fail on a variant that breaks the statement.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pyrsistent import pmap

from impl import session as session_mod
from impl.effects import ArmTimer, CancelTimer, Effect, Send, TimerId, TimerKind
from impl.messages import FetchDataRequest
from impl.provider import on_fetch_data_request
from impl.provider_state import AvailableSnapshot, ProviderContext, ProviderState
from impl.session import poll_timeouts, schedule_fetches
from impl.session_state import PendingFetch, SessionContext, SessionState
from impl.types import ItemRange, PeerId
from model_tests.test_session import A, B, C, L, ctx_for, cur, new, offer, poll, snapshot_of

# -- Q11: Sends in idle-peer order, ArmTimers by PeerId bytes ---------------------------------


def selected(leader_first: bool) -> tuple[SessionState, SessionContext]:
    """A session whose anchor A, B, C and the leader offered, before any fetch."""
    ctx = ctx_for(leader=A if leader_first else L)
    s = new(ctx)
    for peer in (A, B, C, L):
        s, _ = offer(s, ctx, peer, cur(12), 8)
    return s, ctx


def test_q11_sends_in_idle_order_then_arms_timers_by_peer_bytes() -> None:
    # The session-start leader is A, the smallest PeerId: asked last, timed first.
    s, ctx = selected(leader_first=True)
    _, effects = schedule_fetches(s, ctx, 100)
    sends = [e.to for e in effects if isinstance(e, Send)]
    timers = [e.timer.peer for e in effects if isinstance(e, ArmTimer)]
    assert sends == [B, C, L, A]
    assert timers == [A, B, C, L]
    first_timer = next(i for i, e in enumerate(effects) if isinstance(e, ArmTimer))
    assert all(isinstance(e, Send) for e in effects[:first_timer])
    assert all(isinstance(e, ArmTimer) for e in effects[first_timer:])


def effect_order_holds(effects: tuple[Effect, ...]) -> bool:
    """The documented order of a standalone Q11: every Send, then ArmTimers by bytes."""
    kinds = [isinstance(e, Send) for e in effects]
    timers = [e.timer.peer.raw for e in effects if isinstance(e, ArmTimer) and e.timer.peer]
    return kinds == sorted(kinds, reverse=True) and timers == sorted(timers)


def test_q11_order_check_catches_interleaved_effects() -> None:
    s, ctx = selected(leader_first=True)
    _, effects = schedule_fetches(s, ctx, 100)
    assert effect_order_holds(effects)
    # Variant: each Send followed by its own ArmTimer (Q11a's order, repeated).
    interleaved: list[Effect] = []
    for e in effects:
        if isinstance(e, Send) and isinstance(e.message, FetchDataRequest):
            deadline = 100 + ctx.config.fetch_timeout_ms
            interleaved += [e, ArmTimer(TimerId(TimerKind.FETCH_TIMEOUT, peer=e.to), deadline)]
    assert not effect_order_holds(tuple(interleaved))


# -- Q9: CancelTimers by PeerId bytes, no retry rule ---------------------------------------------


def test_q9_alone_cancels_expired_fetch_timers_by_peer_bytes() -> None:
    s, ctx = selected(leader_first=False)
    s, _ = poll(s, ctx, 0)
    assert set(s.inflight) == {A, B, C, L}
    s2, effects = poll_timeouts(s, 10**9)
    assert effects == tuple(
        CancelTimer(TimerId(TimerKind.FETCH_TIMEOUT, peer=p)) for p in (A, B, C, L)
    )
    # Unserved now, but Q9 leaves the retry timer alone: the retry rule is Q5's.
    assert not s2.available_peers
    assert s2.snapshot_request_deadline_ms == s.snapshot_request_deadline_ms


# -- timer effects: the session's difference, the provider's every revive ------------------------


def test_session_emits_only_changed_deadlines() -> None:
    s, ctx = selected(leader_first=False)
    s, _ = poll(s, ctx, 0)
    _, effects = poll(s, ctx, 1)
    assert effects == ()  # nothing moved, nothing emitted


def test_provider_emits_an_arm_timer_on_every_revive() -> None:
    anchor = cur(12)
    p = ProviderState(available=pmap({anchor: AvailableSnapshot(snapshot_of([(1, 1)]), 9_000)}))
    pctx = ProviderContext(A, False, ctx_for().config, now_ms=500, now_wall_ms=0)
    request = FetchDataRequest(anchor, ItemRange(0, 1))
    p, first = on_fetch_data_request(p, pctx, B, request)
    _, second = on_fetch_data_request(p, pctx, B, request)
    ttl = TimerId(TimerKind.SNAPSHOT_TTL, anchor=anchor)
    deadline = 500 + pctx.config.snapshot_ttl_ms
    assert first[0] == second[0] == ArmTimer(ttl, deadline)  # the same deadline, again


# -- Q11 walk 1: one pass over sorted ranges equals the fixpoint ----------------------------------

ranges = st.lists(
    st.tuples(st.integers(0, 30), st.integers(0, 12)).map(lambda se: (se[0], se[0] + se[1])),
    max_size=8,
)
gaps = st.tuples(st.integers(0, 20), st.integers(0, 45)).map(lambda g: (min(g), max(g)))


def fixpoint(cursor: int, assigned: list[tuple[int, int]], stop: int) -> int:
    """Walk 1 read as "repeat until the cursor stops moving" (a port's choice)."""
    moved = True
    while moved:
        moved = False
        for start, end in assigned:
            if cursor >= stop:
                return cursor
            if start <= cursor < end:
                cursor, moved = end, True
    return cursor


def walk(assigned: list[tuple[int, int]], gap: tuple[int, int]) -> int:
    """The reference's walk 1 over ``assigned`` as in-flight ranges (overlaps allowed)."""
    s, _ = selected(leader_first=False)
    inflight = {
        PeerId(bytes([i + 1]) * 32): PendingFetch(ItemRange(start, end), 0)
        for i, (start, end) in enumerate(assigned)
    }
    s = replace(s, gap_start=gap[0], gap_end=gap[1], inflight=pmap(inflight), fetched=pmap())
    return session_mod._first_unassigned(s)


@given(ranges, gaps)
def test_walk_1_single_pass_equals_the_fixpoint(
    assigned: list[tuple[int, int]], gap: tuple[int, int]
) -> None:
    assert walk(assigned, gap) == fixpoint(gap[0], assigned, gap[1])


def test_walk_1_check_fails_for_a_single_pass_in_another_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Mutant: the pass goes through the ranges by descending start; then it is not
    the fixpoint, and the comparison sees it."""
    assigned, gap = [(0, 5), (2, 8)], (0, 10)
    assert walk(assigned, gap) == fixpoint(0, assigned, 10) == 8
    original = session_mod._assigned
    monkeypatch.setattr(session_mod, "_assigned", lambda s: original(s)[::-1])
    assert walk(assigned, gap) == 5  # [2, 8) was passed before the cursor reached it
