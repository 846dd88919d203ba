"""Unit tests of the snapshot provider, P1–P6 (impl/provider.py; inventory §1.3).

Every guard is tested on its normal path, on the input it rejects (``test_invalid_*``:
a documented ignore with the state unchanged, or a typed error), and against a
deliberately broken variant of the step that the same check must catch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pyrsistent import pmap

from impl.collections.base import PendingRequest
from impl.config import Config
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
from impl.errors import InvalidInput, InvalidRange
from impl.messages import (
    AppendEntries,
    FetchDataRequest,
    FetchDataResponse,
    Item,
    RequestSnapshot,
    SnapshotInfo,
    SnapshotOffer,
    SnapshotRequest,
    TakeSnapshot,
)
from impl.profile import MOSAIK_0_3_13
from impl.provider import (
    on_fetch_data_request,
    on_snapshot_request,
    poll_pending_requests,
    provider_enqueue,
    provider_next_deadline,
    provider_poll,
    provider_receive,
    prune_expired_snapshots,
    safe_to_prune_prefix,
)
from impl.provider_state import AvailableSnapshot, ProviderContext, ProviderState
from impl.types import Cursor, Index, ItemRange, PeerId, Term

ME = PeerId.from_label("provider")
PEER = PeerId.from_label("lagging")
OTHER = PeerId.from_label("other")
ANCHOR = Cursor(Term(2), Index(40))
TTL = 10_000


@dataclass(frozen=True, slots=True)
class TupleSnapshot:
    """A snapshot over a tuple: the Snapshot contract with exact ``iter_range`` (I3)."""

    data: tuple[Item, ...] = ()

    def __len__(self) -> int:
        return len(self.data)

    def iter_range(self, r: ItemRange) -> tuple[Item, ...] | None:
        if r.end > len(self.data):
            return None
        return self.data[r.start : r.end]

    def append(self, items: Sequence[Item]) -> TupleSnapshot:
        return TupleSnapshot(self.data + tuple(items))


def snap(n: int) -> TupleSnapshot:
    return TupleSnapshot(tuple(range(n)))


def pctx(
    *, now_ms: int = 1_000, now_wall_ms: int = 50_000, leader: bool = True, batch: int = 10
) -> ProviderContext:
    config = Config(fetch_batch_size=batch, snapshot_ttl_ms=TTL)
    return ProviderContext(ME, leader, config, now_ms, now_wall_ms)


def holding(n: int = 25, deadline: int = 5_000, anchor: Cursor = ANCHOR) -> ProviderState:
    return ProviderState(available=pmap({anchor: AvailableSnapshot(snap(n), deadline)}))


def request(by: PeerId = PEER, at: int = 50_000) -> SnapshotRequest:
    return SnapshotRequest(requested_by=by, requested_at_ms=at)


def pending(
    by: PeerId = PEER, at: int = 50_000, position: Cursor = ANCHOR, n: int = 25
) -> PendingRequest:
    return PendingRequest(request(by, at), position, snap(n))


def fetch(start: int, end: int, anchor: Cursor = ANCHOR) -> FetchDataRequest:
    return FetchDataRequest(anchor, ItemRange(start, end))


def sends(effects: Sequence[Effect]) -> list[Send]:
    return [e for e in effects if isinstance(e, Send)]


def ignored(effects: Sequence[Effect]) -> list[IgnoreReason]:
    return [e.reason for e in effects if isinstance(e, Ignored)]


# -- P1 provider_receive ----------------------------------------------------------------------


def test_provider_receive_request_snapshot_goes_to_p2_with_this_nodes_wall_clock() -> None:
    p, effects, rest = provider_receive(
        ProviderState(), pctx(now_wall_ms=123), PEER, RequestSnapshot()
    )
    assert rest is None
    assert p == ProviderState()
    assert effects == (FeedCommand(TakeSnapshot(request(PEER, 123))),)


def test_provider_receive_fetch_goes_to_p4() -> None:
    p, effects, rest = provider_receive(holding(), pctx(), PEER, fetch(0, 5))
    assert rest is None
    assert sends(effects) == [Send(PEER, FetchDataResponse(ANCHOR, 0, (0, 1, 2, 3, 4)))]
    assert p.available[ANCHOR].deadline_ms == 1_000 + TTL


@pytest.mark.parametrize(
    "message",
    [
        SnapshotOffer(SnapshotInfo(ANCHOR, 3)),
        FetchDataResponse(ANCHOR, 0, (1, 2)),
    ],
)
def test_provider_receive_hands_session_messages_back_unconsumed(
    message: SnapshotOffer | FetchDataResponse,
) -> None:
    state = holding()
    p, effects, rest = provider_receive(state, pctx(), PEER, message)
    assert rest is message
    assert effects == ()
    assert p is state


def test_invalid_provider_receive_of_a_raft_message_is_a_typed_error() -> None:
    ae = AppendEntries(Term(1), PEER, Cursor.zero(), (), Index(0))
    with pytest.raises(InvalidInput):
        provider_receive(ProviderState(), pctx(), PEER, ae)  # type: ignore[arg-type]


# -- P2 on_snapshot_request -------------------------------------------------------------------


def check_p2(step: Callable[..., tuple[ProviderState, tuple[Effect, ...]]]) -> None:
    """P2's guard: the leader feeds TakeSnapshot; a non-leader ignores, state unchanged."""
    state = holding()
    p, effects = step(state, pctx(leader=True), request())
    assert effects == (FeedCommand(TakeSnapshot(request())),)
    assert p is state
    p, effects = step(state, pctx(leader=False), request())
    assert p is state
    assert ignored(effects) == [IgnoreReason.NOT_LEADER]
    assert not any(isinstance(e, FeedCommand | Send) for e in effects)


def test_on_snapshot_request_feeds_take_snapshot_only_at_the_leader() -> None:
    check_p2(on_snapshot_request)


def test_invalid_request_snapshot_at_a_non_leader_is_ignored_unchanged() -> None:
    state = holding()
    p, effects, _ = provider_receive(state, pctx(leader=False), PEER, RequestSnapshot())
    assert p is state
    assert ignored(effects) == [IgnoreReason.NOT_LEADER]


def test_p2_check_catches_a_provider_that_feeds_at_followers() -> None:
    def mutant(
        p: ProviderState, c: ProviderContext, r: SnapshotRequest
    ) -> tuple[ProviderState, tuple[Effect, ...]]:
        return on_snapshot_request(p, replace(c, is_leader=True), r)

    with pytest.raises(AssertionError):
        check_p2(mutant)


# -- P3 poll_pending_requests -----------------------------------------------------------------


def test_poll_pending_requests_offers_a_new_snapshot_and_arms_its_ttl() -> None:
    state = provider_enqueue(ProviderState(), [pending(n=7)])
    p, effects, received = poll_pending_requests(state, pctx(now_ms=200))
    assert received
    assert p.requests == ()
    assert p.available[ANCHOR] == AvailableSnapshot(snap(7), 200 + TTL)
    assert effects == (
        ArmTimer(TimerId(TimerKind.SNAPSHOT_TTL, anchor=ANCHOR), 200 + TTL),
        Send(PEER, SnapshotOffer(SnapshotInfo(ANCHOR, 7))),
    )


def check_p3_skips(step: Callable[..., tuple[ProviderState, tuple[Effect, ...], bool]]) -> None:
    """P3's guards: own and expired requests are skipped, nothing is stored or offered."""
    for req, reason in (
        (pending(by=ME), IgnoreReason.OWN_REQUEST),
        (pending(at=50_000 - TTL - 1), IgnoreReason.EXPIRED_REQUEST),
        (pending(at=50_000 + TTL + 1), IgnoreReason.EXPIRED_REQUEST),
    ):
        p, effects, received = step(provider_enqueue(ProviderState(), [req]), pctx())
        assert received, "a skipped request still counts as received"
        assert p == ProviderState()
        assert ignored(effects) == [reason]
        assert sends(effects) == []


def test_invalid_own_and_expired_requests_are_skipped() -> None:
    check_p3_skips(poll_pending_requests)


def test_p3_expiry_edge_is_inclusive_of_the_ttl() -> None:
    state = provider_enqueue(ProviderState(), [pending(at=50_000 - TTL)])
    p, effects, _ = poll_pending_requests(state, pctx())
    assert ANCHOR in p.available
    assert len(sends(effects)) == 1


def test_p3_skip_check_catches_a_provider_that_serves_itself() -> None:
    def mutant(
        p: ProviderState, c: ProviderContext
    ) -> tuple[ProviderState, tuple[Effect, ...], bool]:
        return poll_pending_requests(p, replace(c, local_id=OTHER))

    with pytest.raises(AssertionError):
        check_p3_skips(mutant)


def test_p3_skip_check_catches_a_provider_without_the_wall_clock_check() -> None:
    def mutant(
        p: ProviderState, c: ProviderContext
    ) -> tuple[ProviderState, tuple[Effect, ...], bool]:
        forever = replace(c, config=c.config.with_snapshot_ttl(10**12))
        return poll_pending_requests(p, forever)

    with pytest.raises(AssertionError):
        check_p3_skips(mutant)


def check_p3_keeps_first(
    step: Callable[..., tuple[ProviderState, tuple[Effect, ...], bool]],
) -> None:
    """A second request at a held position keeps the first snapshot, revives it, re-offers."""
    first = TupleSnapshot((1, 2, 3))
    state = ProviderState(available=pmap({ANCHOR: AvailableSnapshot(first, 900)}))
    state = provider_enqueue(state, [pending(by=OTHER, n=3)])
    p, effects, _ = step(state, pctx(now_ms=800))
    assert p.available[ANCHOR].snapshot is first
    assert p.available[ANCHOR].deadline_ms == 800 + TTL
    assert sends(effects) == [Send(OTHER, SnapshotOffer(SnapshotInfo(ANCHOR, 3)))]


def test_p3_keeps_the_first_snapshot_per_position_and_revives_it() -> None:
    check_p3_keeps_first(poll_pending_requests)


def test_p3_keep_first_check_catches_a_provider_that_replaces() -> None:
    def mutant(
        p: ProviderState, c: ProviderContext
    ) -> tuple[ProviderState, tuple[Effect, ...], bool]:
        return poll_pending_requests(ProviderState(requests=p.requests), c)

    with pytest.raises(AssertionError):
        check_p3_keeps_first(mutant)


def test_p3_offers_in_channel_order_and_to_each_requester() -> None:
    a = Cursor(Term(1), Index(5))
    state = provider_enqueue(ProviderState(), [pending(by=PEER, position=a, n=1)])
    state = provider_enqueue(state, [pending(by=OTHER, n=2), pending(by=PEER, n=2)])
    _, effects, _ = poll_pending_requests(state, pctx())
    assert [(s.to, s.message) for s in sends(effects)] == [
        (PEER, SnapshotOffer(SnapshotInfo(a, 1))),
        (OTHER, SnapshotOffer(SnapshotInfo(ANCHOR, 2))),
        (PEER, SnapshotOffer(SnapshotInfo(ANCHOR, 2))),
    ]


def test_p3_with_an_empty_channel_receives_nothing() -> None:
    state = holding()
    assert poll_pending_requests(state, pctx()) == (state, (), False)


# -- P4 on_fetch_data_request -----------------------------------------------------------------


def test_on_fetch_data_request_serves_the_exact_chunk_and_revives() -> None:
    p, effects = on_fetch_data_request(holding(), pctx(now_ms=1_500), PEER, fetch(10, 20))
    assert effects == (
        ArmTimer(TimerId(TimerKind.SNAPSHOT_TTL, anchor=ANCHOR), 1_500 + TTL),
        Send(PEER, FetchDataResponse(ANCHOR, 10, tuple(range(10, 20)))),
    )
    assert p.available[ANCHOR].deadline_ms == 1_500 + TTL


def check_p4_clamp(step: Callable[..., tuple[ProviderState, tuple[Effect, ...]]]) -> None:
    """The clamp: at most ``fetch_batch_size`` items from ``range.start``."""
    _, effects = step(holding(n=100), pctx(batch=10), PEER, fetch(30, 95))
    (send,) = sends(effects)
    assert isinstance(send.message, FetchDataResponse)
    assert send.message.offset == 30
    assert send.message.items == tuple(range(30, 40))


def test_p4_clamps_the_range_to_the_batch_size() -> None:
    check_p4_clamp(on_fetch_data_request)


def test_p4_clamp_check_catches_a_provider_without_the_clamp() -> None:
    def mutant(
        p: ProviderState, c: ProviderContext, s: PeerId, r: FetchDataRequest
    ) -> tuple[ProviderState, tuple[Effect, ...]]:
        return on_fetch_data_request(
            p, replace(c, config=c.config.with_fetch_batch_size(10**6)), s, r
        )

    with pytest.raises(AssertionError):
        check_p4_clamp(mutant)


def test_p4_serves_a_short_last_chunk_exactly() -> None:
    _, effects = on_fetch_data_request(holding(n=25), pctx(batch=10), PEER, fetch(20, 25))
    assert sends(effects)[0].message == FetchDataResponse(ANCHOR, 20, (20, 21, 22, 23, 24))


def check_p4_unknown_or_expired(
    step: Callable[..., tuple[ProviderState, tuple[Effect, ...]]],
) -> None:
    """No reply and no change for an unknown anchor or one whose deadline has passed."""
    cases = (
        (holding(), pctx(), fetch(0, 5, anchor=Cursor(Term(2), Index(41)))),
        (holding(deadline=1_000), pctx(now_ms=1_000), fetch(0, 5)),
        (holding(deadline=1_000), pctx(now_ms=7_000), fetch(0, 5)),
    )
    for state, c, r in cases:
        p, effects = step(state, c, PEER, r)
        assert p is state
        assert effects == (effects[0],)
        assert ignored(effects) == [IgnoreReason.UNKNOWN_ANCHOR]


def test_invalid_fetch_for_unknown_or_expired_anchor_gets_no_reply() -> None:
    check_p4_unknown_or_expired(on_fetch_data_request)


def test_p4_serves_one_tick_before_the_deadline() -> None:
    p, effects = on_fetch_data_request(
        holding(deadline=1_001), pctx(now_ms=1_000), PEER, fetch(0, 1)
    )
    assert len(sends(effects)) == 1
    assert p.available[ANCHOR].deadline_ms == 1_000 + TTL


def test_p4_expiry_check_catches_a_provider_that_serves_past_the_deadline() -> None:
    def mutant(
        p: ProviderState, c: ProviderContext, s: PeerId, r: FetchDataRequest
    ) -> tuple[ProviderState, tuple[Effect, ...]]:
        return on_fetch_data_request(p, replace(c, now_ms=0), s, r)

    with pytest.raises(AssertionError):
        check_p4_unknown_or_expired(mutant)


def test_p4_past_deadline_before_pruning_is_served_under_mosaik_h7() -> None:
    # mosaik only looks the anchor up; P5 has not pruned it yet, so it serves and revives.
    state = holding(deadline=1_000)
    c = replace(pctx(now_ms=1_000), profile=MOSAIK_0_3_13)
    p, effects = on_fetch_data_request(state, c, PEER, fetch(0, 5))
    assert sends(effects)[0].message == FetchDataResponse(ANCHOR, 0, (0, 1, 2, 3, 4))
    assert p.available[ANCHOR].deadline_ms == 1_000 + TTL
    # The reference's timer-first rule refuses the same fetch.
    _, ref = on_fetch_data_request(state, pctx(now_ms=1_000), PEER, fetch(0, 5))
    assert ignored(ref) == [IgnoreReason.UNKNOWN_ANCHOR]


def test_invalid_empty_fetch_range_gets_no_reply_and_no_revive() -> None:
    state = holding(deadline=5_000)
    p, effects = on_fetch_data_request(state, pctx(), PEER, fetch(7, 7))
    assert p is state
    assert ignored(effects) == [IgnoreReason.EMPTY_RANGE]
    assert sends(effects) == []


def test_invalid_out_of_bounds_fetch_gets_no_reply_but_is_revived() -> None:
    """mosaik revives before the bounds check (provider.rs:286 before :288)."""
    for start, end in ((20, 26), (25, 26), (90, 95)):
        p, effects = on_fetch_data_request(
            holding(n=25), pctx(now_ms=2_000), PEER, fetch(start, end)
        )
        assert ignored(effects) == [IgnoreReason.OUT_OF_BOUNDS]
        assert sends(effects) == []
        assert p.available[ANCHOR].deadline_ms == 2_000 + TTL
        assert isinstance(effects[0], ArmTimer)


def test_invalid_inverted_fetch_range_is_rejected_when_built() -> None:
    with pytest.raises(InvalidRange) as err:
        fetch(9, 3)
    assert (err.value.start, err.value.end) == (9, 3)


def test_p4_does_not_check_the_sender() -> None:
    """Anyone may fetch: there is no per-requester state (provider.rs:257-309)."""
    _, effects = on_fetch_data_request(holding(), pctx(), OTHER, fetch(0, 2))
    assert sends(effects) == [Send(OTHER, FetchDataResponse(ANCHOR, 0, (0, 1)))]


@given(
    n=st.integers(min_value=0, max_value=60),
    batch=st.integers(min_value=1, max_value=25),
    start=st.integers(min_value=0, max_value=70),
    length=st.integers(min_value=0, max_value=70),
)
def test_p4_response_is_exactly_the_clamped_slice_or_nothing(
    n: int, batch: int, start: int, length: int
) -> None:
    """I13 (provider part): offset == start, |items| == min(len, batch), in bounds."""
    end = min(start + length, 2**64 - 1)
    _, effects = on_fetch_data_request(holding(n=n), pctx(batch=batch), PEER, fetch(start, end))
    clamped_end = min(end, start + batch)
    if clamped_end == start or clamped_end > n:
        assert sends(effects) == []
    else:
        (send,) = sends(effects)
        assert send.message == FetchDataResponse(ANCHOR, start, tuple(range(start, clamped_end)))


@given(n=st.integers(min_value=0, max_value=80), batch=st.integers(min_value=1, max_value=30))
def test_p4_chunks_fetched_batch_by_batch_concatenate_to_the_snapshot(n: int, batch: int) -> None:
    state, start = holding(n=n), 0
    got: list[Item] = []
    while start < n:
        state, effects = on_fetch_data_request(state, pctx(batch=batch), PEER, fetch(start, n))
        (send,) = sends(effects)
        assert isinstance(send.message, FetchDataResponse)
        got.extend(send.message.items)
        start += len(send.message.items)
    assert tuple(got) == snap(n).data


# -- P5 prune_expired_snapshots, provider_poll ------------------------------------------------


def test_prune_expired_snapshots_removes_deadline_at_or_before_now() -> None:
    a, b, c = Cursor(Term(1), Index(1)), Cursor(Term(1), Index(2)), Cursor(Term(1), Index(3))
    state = ProviderState(
        available=pmap(
            {
                a: AvailableSnapshot(snap(1), 99),
                b: AvailableSnapshot(snap(1), 100),
                c: AvailableSnapshot(snap(1), 101),
            }
        )
    )
    p, effects = prune_expired_snapshots(state, 100)
    assert set(p.available) == {c}
    assert effects == tuple(CancelTimer(TimerId(TimerKind.SNAPSHOT_TTL, anchor=x)) for x in (a, b))
    assert prune_expired_snapshots(p, 100) == (p, ())


def test_provider_poll_skips_p5_on_a_tick_that_received_a_request() -> None:
    """provider.rs:77-82: even a skipped (own) request makes the tick skip the prune."""
    stale = holding(deadline=500)
    with_request = provider_enqueue(stale, [pending(by=ME)])
    p, effects = provider_poll(with_request, pctx(now_ms=1_000))
    assert ANCHOR in p.available
    assert ignored(effects) == [IgnoreReason.OWN_REQUEST]
    p, effects = provider_poll(p, pctx(now_ms=1_000))
    assert ANCHOR not in p.available
    assert effects == (CancelTimer(TimerId(TimerKind.SNAPSHOT_TTL, anchor=ANCHOR)),)


def test_provider_next_deadline() -> None:
    assert provider_next_deadline(ProviderState()) is None
    assert provider_next_deadline(holding(deadline=777)) == 777
    assert provider_next_deadline(provider_enqueue(holding(), [pending()])) == 0


def test_provider_enqueue_keeps_fifo_order_and_ignores_nothing() -> None:
    a, b = pending(n=1), pending(n=2)
    state = provider_enqueue(provider_enqueue(ProviderState(), [a]), [b])
    assert state.requests == (a, b)
    assert provider_enqueue(state, []) is state


# -- P6 safe_to_prune_prefix ------------------------------------------------------------------


@given(term=st.integers(0, 2**64 - 1), index=st.integers(0, 2**64 - 1))
def test_safe_to_prune_prefix_is_the_committed_index(term: int, index: int) -> None:
    assert safe_to_prune_prefix(Cursor(Term(term), Index(index))) == index
