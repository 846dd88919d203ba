"""Hand-written calls: every rejection and ignore reason of every step, and edge values.

Recorded calls cover what the model does; these cover what it never does on
purpose: malformed or hostile inputs, guards only a direct caller reaches, the
hazards' situations (so that each profile's vectors pin its behaviour there),
values above 2^53 (a reader that goes through doubles fails them) and u64
boundaries (H25). Each call names the guard or branch it exercises, what an
implementation failing it does wrong, and says what it is in one sentence.

States are built with the real steps (a session is started with Q0, offered with
Q1, scheduled with Q5, ...) and then changed where a case needs a state the steps
do not reach by themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from pyrsistent import pmap

from impl import session as q
from impl.codec import encode
from impl.collections import COLLECTIONS
from impl.collections.base import ApplyContext, PendingRequest
from impl.collections.cell import CellWrite
from impl.collections.depq import DEPQ, DepqCompareExchangeValue, DepqInsert
from impl.collections.map import MAP as MAP_MACHINE
from impl.collections.map import MapCompareExchange, MapInsert
from impl.collections.once import OnceWrite
from impl.collections.set import SetInsert
from impl.collections.vec import VecInsert, VecPushBack
from impl.config import Config
from impl.logstore import LogStore
from impl.messages import (
    AppendEntries,
    AppendEntriesResponse,
    FetchDataRequest,
    FetchDataResponse,
    Item,
    LogEntry,
    RequestSnapshot,
    SnapshotInfo,
    SnapshotOffer,
    SnapshotRequest,
    TakeSnapshot,
    Vote,
)
from impl.node_state import (
    CandidateRole,
    Committee,
    FollowerRole,
    LeaderRole,
    NodeContext,
    NodeState,
    Preference,
)
from impl.profile import MOSAIK_0_3_13, REFERENCE, Profile
from impl.provider_state import AvailableSnapshot, ProviderContext, ProviderState
from impl.session_state import PendingFetch, SessionContext, SessionState
from impl.types import U64_MAX, Cursor, Index, ItemRange, PeerId, Term
from spec.conformance.build import Call
from spec.conformance.conventions import encode_call

__all__ = ["BIG", "hand_calls"]

BIG = (1 << 53) + 1
"""The smallest positive integer a double cannot hold."""

L = PeerId(bytes([0x0F]) * 32)
"""The leader (asked last among idle peers)."""
A, B, C = (PeerId(bytes([b]) * 32) for b in (0x01, 0x02, 0x03))
ME = PeerId(bytes([0x09]) * 32)
STRANGER = PeerId(bytes([0x0A]) * 32)
PEERS = frozenset({L, A, B, C})
CONFIG = Config(
    fetch_batch_size=4,
    snapshot_ttl_ms=10_000,
    snapshot_request_timeout_ms=15_000,
    fetch_timeout_ms=5_000,
)
WALL = 1_700_000_000_000
T = Cursor(Term(1), Index(10))
"""The AppendEntries position that starts the hand-made sessions."""
X = Cursor(Term(1), Index(12))
"""The anchor the hand-made sessions select (6 items)."""


def cur(index: int, term: int = 1) -> Cursor:
    return Cursor(Term(term), Index(index))


class _Hand:
    """Collects hand-written calls, each encoded per its step's convention."""

    def __init__(self) -> None:
        self.calls: list[Call] = []

    def add(
        self,
        step: str,
        pre: Any,
        ctx: Any,
        inputs: dict[str, Any],
        name: str,
        branch: str,
        effect: str,
        description: str,
        *,
        collection: str = "map",
        config: Config = CONFIG,
        profiles: tuple[str, ...] | None = None,
    ) -> None:
        call = encode_call(step, collection, config, pre, ctx, inputs)
        self.calls.append(
            Call(
                step=step,
                collection=collection,
                config=call["config"],
                pre=call["pre"],
                context=call["context"],
                input=call["input"],
                source={"kind": "hand", "name": name},
                branch=branch,
                effect=effect,
                description=description,
                profiles=profiles,
            )
        )

    def raw(
        self,
        step: str,
        pre: Any,
        context: Any,
        inputs: dict[str, Any],
        name: str,
        branch: str,
        effect: str,
        description: str,
        *,
        collection: str = "map",
    ) -> None:
        """Add a call given directly in JSON form (for inputs no Python value can hold)."""
        self.calls.append(
            Call(
                step=step,
                collection=collection,
                config=encode(CONFIG),
                pre=pre,
                context=context,
                input=inputs,
                source={"kind": "hand", "name": name},
                branch=branch,
                effect=effect,
                description=description,
            )
        )


# -- builders ----------------------------------------------------------------------------------

MAP = MAP_MACHINE


def sctx(
    *, leader: PeerId | None = L, bonds: frozenset[PeerId] = PEERS, kind: str = "map"
) -> SessionContext:
    return SessionContext(ME, leader, bonds, CONFIG, COLLECTIONS[kind], REFERENCE)


def pctx(*, leader: bool = True, now: int = 1_000, wall: int = WALL) -> ProviderContext:
    return ProviderContext(ME, leader, CONFIG, now, wall, REFERENCE)


def nctx(*, now: int = 1_000, bonds: frozenset[PeerId] = PEERS, kind: str = "map") -> NodeContext:
    return NodeContext(now, WALL, bonds, CONFIG, REFERENCE, COLLECTIONS[kind], 2_000)


def content(anchor: Cursor, n: int) -> tuple[Item, ...]:
    """The items of the (Map) snapshot at ``anchor``, in canonical order."""
    pairs = [(anchor.index * 100 + i, i) for i in range(n)]
    snapshot = MAP.empty_snapshot(REFERENCE).append(pairs)
    items = snapshot.iter_range(ItemRange(0, n))
    assert items is not None
    return items


def snapshot(anchor: Cursor, n: int) -> Any:
    return MAP.empty_snapshot(REFERENCE).append(content(anchor, n))


def entries(*terms: int, start: int = 0) -> tuple[LogEntry, ...]:
    """Log entries of the given terms, each a Map insert (the hand-made groups are Maps)."""
    return tuple(LogEntry(Term(t), MapInsert(start + i, i)) for i, t in enumerate(terms))


def fresh(
    ctx: SessionContext | None = None, es: tuple[LogEntry, ...] = (), now: int = 0
) -> SessionState:
    s, _ = q.session_new(ctx or sctx(), T, Index(T.index), es, now)
    return s


def selected(es: tuple[LogEntry, ...] = entries(1, 1, start=11)) -> SessionState:
    """A session that selected X (6 items) offered by A and B; nothing fetched yet."""
    ctx = sctx()
    s = fresh(ctx, es)
    s, _ = q.on_snapshot_offer(s, ctx, A, SnapshotInfo(X, 6), 0)
    s, _ = q.on_snapshot_offer(s, ctx, B, SnapshotInfo(X, 6), 0)
    return s


def fetching() -> SessionState:
    """:func:`selected` after one poll: A asked [0,4), B asked [4,6)."""
    s, _, _ = q.session_poll(selected(), sctx(), 100)
    return s


def complete(es: tuple[LogEntry, ...] = entries(1, 1, start=11)) -> SessionState:
    """A session with every item of X drained (ready to finalize)."""
    ctx = sctx()
    s = selected(es)
    s, _, _ = q.session_poll(s, ctx, 100)
    items = content(X, 6)
    s, _ = q.on_fetch_data_response(s, ctx, A, FetchDataResponse(X, 0, items[0:4]), 200)
    s, _ = q.on_fetch_data_response(s, ctx, B, FetchDataResponse(X, 4, items[4:6]), 200)
    return q.drain_fetched_items(s)


def provider(n: int = 6, deadline: int = 5_000, anchor: Cursor = X) -> ProviderState:
    return ProviderState(available=pmap({anchor: AvailableSnapshot(snapshot(anchor, n), deadline)}))


def request(by: PeerId = A, at: int = WALL) -> SnapshotRequest:
    return SnapshotRequest(requested_by=by, requested_at_ms=at)


def log_of(*terms: int) -> LogStore:
    return LogStore().extend(entries(*terms))


def node(
    role: Any,
    *,
    term: int = 2,
    log: LogStore | None = None,
    committed: Cursor | None = None,
    sm: Any = None,
    kind: str = "map",
    preference: Preference = Preference.NORMAL,
    me: PeerId = ME,
) -> NodeState:
    machine = COLLECTIONS[kind]
    return NodeState(
        id=me,
        kind=kind,
        preference=preference,
        term=Term(term),
        role=role,
        log=log if log is not None else LogStore(),
        committed=Cursor(Term(0), Index(0)) if committed is None else committed,
        sm=machine.initial() if sm is None else sm,
    )


def leader(
    *, committee: Committee | None = None, queued: tuple[Any, ...] = (), **kwargs: Any
) -> NodeState:
    role = LeaderRole(
        committee=committee or Committee(voters=pmap({ME: Index(0), A: Index(0), B: Index(0)})),
        heartbeat_deadline_ms=1_500,
        client_commands=queued,
    )
    return node(role, me=ME, **kwargs)


def follower(catchup: SessionState | None = None, **kwargs: Any) -> NodeState:
    return node(FollowerRole(leader=L, election_deadline_ms=3_000, catchup=catchup), **kwargs)


def ae(prev: Cursor, es: tuple[LogEntry, ...], commit: int = 0, term: int = 2) -> AppendEntries:
    return AppendEntries(
        term=Term(term), leader=L, prev_log_position=prev, entries=es, leader_commit=Index(commit)
    )


# -- P1–P6 -------------------------------------------------------------------------------------


def _provider(h: _Hand) -> None:
    h.add(
        "P1",
        ProviderState(),
        pctx(leader=False),
        {"sender": A, "message": RequestSnapshot()},
        "p1-request-at-follower",
        "P1 → P2 guard: only the leader feeds TakeSnapshot",
        "feeds a TakeSnapshot at a follower (or redirects) instead of ignoring it",
        "a RequestSnapshot reaches a follower's provider: ignored (not_leader), no reply",
    )
    h.add(
        "P1",
        ProviderState(),
        pctx(wall=BIG),
        {"sender": A, "message": RequestSnapshot()},
        "p1-request-at-leader",
        "P1 → P2: the stamp is this node's wall clock",
        "stamps the request with another clock, or loses precision above 2^53",
        "a RequestSnapshot at the leader becomes FeedCommand(TakeSnapshot) stamped 2^53+1",
    )
    h.add(
        "P1",
        provider(),
        pctx(),
        {"sender": A, "message": FetchDataRequest(cur(99), ItemRange(0, 4))},
        "p1-fetch-unknown-anchor",
        "P1 → P4 guard: a snapshot at the anchor",
        "answers a fetch for an anchor it does not hold",
        "a fetch for an anchor this provider never held: ignored (unknown_anchor)",
    )
    h.add(
        "P1",
        provider(),
        pctx(),
        {"sender": A, "message": FetchDataRequest(X, ItemRange(2, 2))},
        "p1-fetch-empty-range",
        "P1 → P4 guard: a non-empty clamped range",
        "answers (or revives the TTL for) an empty range",
        "a fetch of the empty range [2,2): ignored (empty_range), the TTL not revived",
    )
    h.add(
        "P1",
        provider(),
        pctx(),
        {"sender": A, "message": FetchDataRequest(X, ItemRange(7, 9))},
        "p1-fetch-out-of-bounds",
        "P1 → P4 guard: the range lies inside the snapshot",
        "answers with a short or empty chunk past the end",
        "a fetch past the end of a 6-item snapshot:"
        " the TTL is revived, then ignored (out_of_bounds)",
    )
    for message, name in (
        (SnapshotOffer(SnapshotInfo(X, 6)), "offer"),
        (FetchDataResponse(X, 0, content(X, 2)), "response"),
    ):
        h.add(
            "P1",
            ProviderState(),
            pctx(),
            {"sender": A, "message": message},
            f"p1-unconsumed-{name}",
            "P1 hands session messages back unconsumed",
            "consumes a session message in the provider, so the session never sees it",
            f"a {type(message).__name__} is not the provider's: returned as unconsumed",
        )
    h.add(
        "P1",
        ProviderState(),
        pctx(),
        {"sender": A, "message": ae(T, ())},
        "p1-raft-message",
        "P1 accepts only StateSync messages",
        "silently accepts a Raft message in the provider",
        "an AppendEntries handed to the provider is a typed error (InvalidInput)",
    )

    h.add(
        "P2",
        ProviderState(),
        pctx(leader=False),
        {"request": request()},
        "p2-at-follower",
        "P2 guard: the node leads",
        "feeds a TakeSnapshot at a follower",
        "P2 at a follower: ignored (not_leader)",
    )
    h.add(
        "P2",
        ProviderState(),
        pctx(),
        {"request": request(at=BIG)},
        "p2-at-leader",
        "P2 feeds TakeSnapshot(request)",
        "loses the requester or the stamp (above 2^53) of the request",
        "P2 at the leader: FeedCommand(TakeSnapshot) carrying the request unchanged",
    )

    pending = PendingRequest(request(), X, snapshot(X, 6))
    own = PendingRequest(request(by=ME), X, snapshot(X, 6))
    old = PendingRequest(request(at=WALL - 10_001), X, snapshot(X, 6))
    future = PendingRequest(request(at=WALL + 10_000), cur(13), snapshot(cur(13), 3))
    h.add(
        "P3",
        ProviderState(requests=(own,)),
        pctx(),
        {},
        "p3-own-request",
        "P3 guard: not our own request",
        "offers a snapshot to itself",
        "a request from this very node: ignored (own_request)",
    )
    h.add(
        "P3",
        ProviderState(requests=(old,)),
        pctx(),
        {},
        "p3-expired",
        "P3 guard: |now - requested_at| <= ttl (H8)",
        "serves a request its requester gave up on",
        "a request 10001 ms old with a 10000 ms TTL: ignored (expired_request)",
    )
    h.add(
        "P3",
        ProviderState(requests=(future, pending, own)),
        pctx(),
        {},
        "p3-mixed",
        "P3 offers each fresh request in order; a future stamp is judged by |Δ| (H8)",
        "rejects clock skew as staleness, reorders the offers or drops one",
        "three requests: a future-stamped one (offered), a fresh one (offered), our own (ignored)",
    )
    h.add(
        "P3",
        provider(deadline=900),
        pctx(),
        {},
        "p3-empty",
        "P3 with an empty channel: nothing received",
        "reports a received request when there was none (P5 would be skipped)",
        "an empty request channel: no effects, received is false",
    )
    h.add(
        "P3",
        ProviderState(requests=(pending,)).__class__(
            available=provider().available, requests=(pending,)
        ),
        pctx(),
        {},
        "p3-already-on-offer",
        "P3: a position already on offer keeps its snapshot and revives its TTL",
        "replaces the held snapshot or does not revive it",
        "a request for a position already on offer: the TTL is revived and the offer sent",
    )

    h.add(
        "P4",
        provider(),
        pctx(),
        {"sender": A, "request": FetchDataRequest(X, ItemRange(1, 9))},
        "p4-clamped",
        "P4 clamps the range to fetch_batch_size, then serves it",
        "serves more than a batch, or a different slice",
        "a fetch of [1,9) with batch 4: the TTL is revived and items [1,5) are sent",
    )
    h.add(
        "P4",
        provider(deadline=1_000),
        pctx(now=1_000),
        {"sender": A, "request": FetchDataRequest(X, ItemRange(0, 2))},
        "p4-past-deadline",
        "P4 expiry: timer first (reference) vs served until pruned (H7)",
        "serves (and revives) a snapshot whose TTL ran out",
        "a fetch at the very deadline of the snapshot's TTL",
    )
    h.add(
        "P4",
        provider(),
        pctx(),
        {"sender": A, "request": FetchDataRequest(X, ItemRange(3, 3))},
        "p4-empty-range",
        "P4 guard: a non-empty clamped range (an empty one does not even revive the TTL)",
        "answers, or revives the TTL for, an empty range",
        "a fetch of [3,3): ignored (empty_range), no ArmTimer",
    )
    top = U64_MAX - 1
    h.add(
        "P4",
        provider(),
        pctx(),
        {"sender": A, "request": FetchDataRequest(X, ItemRange(top, U64_MAX))},
        "p4-u64-edge",
        "P4 with start + batch beyond u64 (H25): exact arithmetic",
        "overflows or wraps start + batch and serves the wrong items",
        "a fetch of [2^64-2, 2^64-1): revived, then ignored (out_of_bounds), no wrap",
    )
    big = cur(BIG, 3)
    h.add(
        "P4",
        provider(anchor=big),
        pctx(),
        {"sender": A, "request": FetchDataRequest(big, ItemRange(0, 6))},
        "p4-big-anchor",
        "P4 serves an anchor whose index is above 2^53",
        "loses precision in the anchor and answers nothing or the wrong anchor",
        "a fetch for anchor index 2^53+1: served (first batch)",
    )
    h.add(
        "P4",
        provider(),
        pctx(),
        {"sender": A, "request": FetchDataRequest(cur(12, 2), ItemRange(0, 2))},
        "p4-other-term",
        "P4 looks the anchor up by (term, index)",
        "matches anchors by index only",
        "a fetch at index 12 of another term: unknown_anchor",
    )

    two = ProviderState(
        available=pmap(
            {
                X: AvailableSnapshot(snapshot(X, 6), 1_000),
                cur(11): AvailableSnapshot(snapshot(cur(11), 2), 999),
                cur(20): AvailableSnapshot(snapshot(cur(20), 1), 1_001),
            }
        )
    )
    h.add(
        "P5",
        two,
        None,
        {"now_ms": 1_000},
        "p5-prune",
        "P5 removes snapshots whose deadline <= now, in anchor order",
        "keeps an expired snapshot (deadline == now) or removes a live one",
        "three snapshots with deadlines 999, 1000, 1001 at now 1000: two removed",
    )
    h.add(
        "P5",
        provider(),
        None,
        {"now_ms": BIG},
        "p5-big-now",
        "P5 at a time above 2^53",
        "compares times through doubles",
        "now = 2^53+1: the snapshot (deadline 5000) is removed",
    )

    for name, cursor in (
        ("p6-zero", cur(0, 0)),
        ("p6-above-2^53", cur(BIG, 3)),
        ("p6-u64-max", Cursor(Term(U64_MAX), Index(U64_MAX))),
    ):
        h.add(
            "P6",
            None,
            None,
            {"committed": cursor},
            name,
            "P6 returns the committed index itself (provider.rs:124-129)",
            "prunes more or less than mosaik's provider allows, or loses precision",
            f"safe_to_prune_prefix at {cursor}",
        )


# -- Q0–Q13 ------------------------------------------------------------------------------------

_NOW_ERR = "accepts a negative monotonic time"


def _negative_time(h: _Hand, step: str, pre: Any, context: Any, inputs: dict[str, Any]) -> None:
    """The same call with ``now_ms: -1``: a typed error (InvalidInput)."""
    h.raw(
        step,
        pre,
        context,
        {**inputs, "now_ms": -1},
        f"{step.lower()}-negative-now",
        f"{step} guard: now_ms is a u64",
        _NOW_ERR,
        f"{step} with now_ms = -1 is a typed error (InvalidInput)",
    )


def _session(h: _Hand) -> None:
    ctx = sctx()
    es = entries(1, 1, start=11)
    h.add(
        "Q0",
        None,
        ctx,
        {"position": T, "leader_commit": Index(BIG), "entries": es, "now_ms": 0},
        "q0-start",
        "Q0: buffer the entries after the position, ask the leader, arm the retry",
        "buffers at the wrong indices, asks another peer or forgets the retry timer",
        "a session starts at (1,10) with two entries and a leader_commit above 2^53 (ignored)",
    )
    h.add(
        "Q0",
        None,
        sctx(leader=None),
        {"position": T, "leader_commit": Index(0), "entries": (), "now_ms": 0},
        "q0-no-leader",
        "Q0 guard: a known leader (H21)",
        "starts a session that asks nobody",
        "no known leader: a typed error (InvalidState)",
    )
    big = Cursor(Term(BIG), Index(BIG))
    h.add(
        "Q0",
        None,
        ctx,
        {"position": big, "leader_commit": Index(0), "entries": entries(BIG), "now_ms": BIG},
        "q0-big",
        "Q0 with a position, term and time above 2^53",
        "loses precision in the trigger position, the buffered indices or the deadline",
        "a session started at (2^53+1, 2^53+1) at now 2^53+1",
    )
    enc = encode_call(
        "Q0",
        "map",
        CONFIG,
        None,
        ctx,
        {"position": T, "leader_commit": Index(0), "entries": (), "now_ms": 0},
    )
    _negative_time(h, "Q0", None, enc["context"], enc["input"])

    s = fresh(ctx, es)
    h.add(
        "Q1",
        s,
        ctx,
        {"peer": ME, "info": SnapshotInfo(X, 6), "now_ms": 1},
        "q1-from-self",
        "Q1 guard: not from the node itself",
        "takes its own offer as a source",
        "an offer from the node itself: ignored (unknown_peer)",
    )
    h.add(
        "Q1",
        s,
        ctx,
        {"peer": STRANGER, "info": SnapshotInfo(X, 6), "now_ms": 1},
        "q1-unbonded",
        "Q1 guard: from a live bond",
        "fetches from a peer it has no bond with",
        "an offer from a peer without a live bond: ignored (unknown_peer)",
    )
    h.add(
        "Q1",
        s,
        ctx,
        {"peer": A, "info": SnapshotInfo(cur(9), 6), "now_ms": 1},
        "q1-stale",
        "Q1 guard (reference, H9): anchor >= max(trigger, min_anchor)",
        "selects a snapshot older than the position it must catch up to",
        "an offer at (1,9) for a session triggered at (1,10):"
        " stale_offer (reference), a candidate (mosaik)",
    )
    h.add(
        "Q1",
        s,
        ctx,
        {"peer": A, "info": SnapshotInfo(X, 6), "now_ms": 1},
        "q1-select",
        "Q1 → Q2: the first usable offer is selected",
        "does not select, or stops the retry timer at the wrong time (H6)",
        "the first offer at (1,12) is selected: gap [0,6)",
    )
    s1 = selected()
    h.add(
        "Q1",
        s1,
        ctx,
        {"peer": C, "info": SnapshotInfo(X, 7), "now_ms": 1},
        "q1-same-anchor",
        "Q1: a later offer for the selected anchor adds its peer; the first count stays",
        "replaces the first items_count or forgets the new peer",
        "C offers the selected anchor with another count: C becomes available, length stays 6",
    )
    h.add(
        "Q1",
        fetching(),
        ctx,
        {"peer": C, "info": SnapshotInfo(cur(14), 3), "now_ms": 150},
        "q1-upgrade",
        "Q1 → Q3: a higher usable offer discards all progress (H11)",
        "keeps chunks of the old anchor or ignores the higher one",
        "while fetching (1,12), C offers (1,14): the session switches and drops its requests",
    )
    h.add(
        "Q1",
        s,
        ctx,
        {"peer": A, "info": SnapshotInfo(cur(BIG), 1), "now_ms": 1},
        "q1-big",
        "Q1 with an anchor index above 2^53",
        "loses precision in the anchor",
        "an offer at index 2^53+1 is selected",
    )
    enc = encode_call(
        "Q1", "map", CONFIG, s, ctx, {"peer": A, "info": SnapshotInfo(X, 6), "now_ms": 1}
    )
    _negative_time(h, "Q1", enc["pre"], enc["context"], enc["input"])

    # Q2 / Q3 on states with candidates but no selection.
    gone = replace(
        s,
        anchor_candidates=pmap(
            {
                X: (SnapshotInfo(X, 6), frozenset()),
                cur(11): (SnapshotInfo(cur(11), 2), frozenset({A})),
            }
        ),
    )
    h.add(
        "Q2",
        gone,
        ctx,
        {},
        "q2-exhausted",
        "Q2 (reference, H6): a candidate nobody holds any more is skipped",
        "selects an anchor no peer can serve and waits forever",
        "the best candidate has no peers left: reference selects (1,11), mosaik (1,12)",
    )
    ties = replace(
        s,
        anchor_candidates=pmap(
            {
                cur(12, 1): (SnapshotInfo(cur(12, 1), 2), frozenset({A})),
                cur(12, 2): (SnapshotInfo(cur(12, 2), 3), frozenset({B})),
            }
        ),
    )
    h.add(
        "Q2",
        ties,
        ctx,
        {},
        "q2-ties",
        "Q2: equal indices order by term descending (H12)",
        "breaks the tie by arrival or hash order",
        "two candidates at index 12: term 2 wins",
    )
    below = replace(
        fresh(ctx, entries(1, start=13)),
        anchor_candidates=pmap(
            {
                X: (SnapshotInfo(X, 6), frozenset({A})),
            }
        ),
    )
    h.add(
        "Q2",
        below,
        ctx,
        {},
        "q2-below-buffer",
        "Q2 guard: no buffered entry precedes the anchor",
        "selects an anchor that leaves a hole before the buffer",
        "buffer starts at 14 (entries from position 13) and the only candidate is (1,12):"
        " nothing selected",
    )
    up = replace(
        fetching(),
        anchor_candidates=fetching().anchor_candidates.set(
            cur(15), (SnapshotInfo(cur(15), 2), frozenset({C}))
        ),
    )
    h.add(
        "Q3",
        up,
        ctx,
        {},
        "q3-upgrade",
        "Q3: a higher usable candidate replaces the anchor (H11)",
        "keeps the old anchor's chunks",
        "a candidate at (1,15) while fetching (1,12): upgrade",
    )
    h.add(
        "Q3",
        fetching(),
        ctx,
        {},
        "q3-none",
        "Q3: no higher candidate, nothing changes",
        "drops progress without a better anchor",
        "no candidate above (1,12): unchanged",
    )

    f = fetching()
    items = content(X, 6)
    h.add(
        "Q4",
        f,
        ctx,
        {"peer": A, "response": FetchDataResponse(X, 0, items[0:4]), "now_ms": 200},
        "q4-accept",
        "Q4: a response that answers the request is stored",
        "drops or mis-files an honest chunk",
        "A answers [0,4) exactly: stored, its timer cancelled",
    )
    h.add(
        "Q4",
        f,
        ctx,
        {"peer": A, "response": FetchDataResponse(X, 0, items[0:2]), "now_ms": 200},
        "q4-short",
        "Q4 (reference, H10): a short answer is kept as a prefix",
        "rejects a short honest chunk or keeps the missing part as received",
        "A answers 2 of the 4 items asked: kept as [0,2)",
    )
    h.add(
        "Q4",
        f,
        ctx,
        {"peer": ME, "response": FetchDataResponse(X, 0, items[0:4]), "now_ms": 200},
        "q4-from-self",
        "Q4 guard: not from the node itself",
        "accepts its own chunk",
        "a response from the node itself: ignored (unknown_peer)",
    )
    h.add(
        "Q4",
        f,
        ctx,
        {"peer": STRANGER, "response": FetchDataResponse(X, 0, items[0:4]), "now_ms": 200},
        "q4-unbonded",
        "Q4 guard: from a live bond",
        "accepts a chunk from an unbonded peer",
        "a response from a peer without a bond: ignored (unknown_peer)",
    )
    h.add(
        "Q4",
        f,
        ctx,
        {"peer": A, "response": FetchDataResponse(cur(11), 0, items[0:4]), "now_ms": 200},
        "q4-wrong-anchor",
        "Q4 guard: the selected anchor",
        "mixes items of two snapshots",
        "a response for another anchor: ignored (wrong_anchor)",
    )
    h.add(
        "Q4",
        fresh(ctx, es),
        ctx,
        {"peer": A, "response": FetchDataResponse(X, 0, items[0:4]), "now_ms": 200},
        "q4-no-anchor",
        "Q4 guard: an anchor is selected",
        "stores a chunk before any anchor is selected",
        "a response while no anchor is selected: ignored (wrong_anchor)",
    )
    h.add(
        "Q4",
        f,
        ctx,
        {"peer": C, "response": FetchDataResponse(X, 0, items[0:4]), "now_ms": 200},
        "q4-unsolicited",
        "Q4 guard (reference, H1): the peer has a request in flight",
        "accepts a late or unsolicited chunk (H1)",
        "C was never asked: unsolicited_response (reference), stored (mosaik)",
    )
    h.add(
        "Q4",
        f,
        ctx,
        {"peer": A, "response": FetchDataResponse(X, 2, items[2:4]), "now_ms": 200},
        "q4-wrong-offset",
        "Q4 guard (reference, H1): the offset is the asked range's start",
        "accepts a chunk at another offset than asked",
        "A asked [0,4) and answers at offset 2: mismatched_response (reference)",
    )
    h.add(
        "Q4",
        f,
        ctx,
        {"peer": A, "response": FetchDataResponse(X, 0, ()), "now_ms": 200},
        "q4-empty",
        "Q4 guard (reference, H10): at least one item",
        "accepts an empty chunk and re-asks forever (H10)",
        "A answers zero items: mismatched_response (reference), stored (mosaik)",
    )
    h.add(
        "Q4",
        f,
        ctx,
        {"peer": B, "response": FetchDataResponse(X, 4, items[4:6] + items[0:1]), "now_ms": 200},
        "q4-too-long",
        "Q4 guard (reference, H10): at most the asked length",
        "accepts an over-long chunk that overruns the gap (H10)",
        "B asked [4,6) and answers 3 items: mismatched_response (reference), stored (mosaik)",
    )
    enc = encode_call(
        "Q4",
        "map",
        CONFIG,
        f,
        ctx,
        {"peer": A, "response": FetchDataResponse(X, 0, items[0:4]), "now_ms": 200},
    )
    _negative_time(h, "Q4", enc["pre"], enc["context"], enc["input"])

    done = complete()
    h.add(
        "Q5",
        done,
        ctx,
        {"now_ms": 300},
        "q5-finalize",
        "Q5 step 0: a complete session finalizes (Q12)",
        "polls on instead of finalizing, or finalizes in another effect order",
        "a complete session: InstallSnapshot, ResetLog, SetCommitted, AppendLog, ready",
    )
    fired = replace(fresh(ctx, es), snapshot_request_deadline_ms=500)
    h.add(
        "Q5",
        fired,
        ctx,
        {"now_ms": 500},
        "q5-retry",
        "Q5 → Q7: the retry timer fired (deadline == now)",
        "does not ask again, or asks at the wrong time",
        "retry deadline 500 at now 500: RequestSnapshot to the leader, re-armed",
    )
    h.add(
        "Q5",
        fired,
        sctx(leader=None),
        {"now_ms": 500},
        "q5-no-leader",
        "Q5 → Q7 guard: a known leader (H21)",
        "asks nobody and carries on",
        "the retry fires with no known leader: InvalidState",
    )
    gap = replace(
        complete(entries(1, 1, start=11)),
        buffered=complete().buffered.append((Index(15), Term(1), (9, 9))),
    )
    h.add(
        "Q5",
        gap,
        ctx,
        {"now_ms": 300},
        "q5-finalize-gap",
        "Q5 → Q12 guard: the kept entries are contiguous after the anchor (H3)",
        "installs a log with a hole (mosaik panics, H3)",
        "a complete session whose buffer jumps from 14 to 16:"
        " InvalidState (reference), HazardPanic H3 (mosaik)",
    )
    h.add(
        "Q5",
        f,
        ctx,
        {"now_ms": 5_100},
        "q5-timeouts",
        "Q5 → Q9: requests past their deadline remove their peers",
        "keeps waiting for a peer that timed out",
        "both requests time out at 5100: peers removed, the session lost its source",
    )
    enc = encode_call("Q5", "map", CONFIG, f, ctx, {"now_ms": 100})
    _negative_time(h, "Q5", enc["pre"], enc["context"], enc["input"])

    term = q.on_bond_terminated(q.on_bond_terminated(f, A), C)
    h.add(
        "Q6",
        term,
        None,
        {},
        "q6-terminations",
        "Q6: each terminated peer leaves available, inflight, known bonds and candidates",
        "keeps asking a peer whose bond is gone",
        "A's and C's bonds terminated: A is forgotten everywhere (C was not watched)",
    )
    h.add(
        "Q7",
        fired,
        ctx,
        {"now_ms": 499},
        "q7-not-yet",
        "Q7 guard: the timer fired (deadline <= now)",
        "asks again before the retry period",
        "one ms before the retry deadline: nothing",
    )
    h.add(
        "Q7",
        fired,
        ctx,
        {"now_ms": 500},
        "q7-fire",
        "Q7: ask the current leader again and re-arm",
        "asks the session-start leader instead of the current one, or does not re-arm",
        "the retry fires at its deadline: RequestSnapshot, re-armed at now + timeout",
    )
    h.add(
        "Q7",
        fired,
        sctx(leader=None),
        {"now_ms": 500},
        "q7-no-leader",
        "Q7 guard: a known leader (H21)",
        "asks nobody",
        "no known leader when the retry fires: InvalidState",
    )
    enc = encode_call("Q7", "map", CONFIG, fired, ctx, {"now_ms": 500})
    _negative_time(h, "Q7", enc["pre"], enc["context"], enc["input"])

    s2, _ = q.on_fetch_data_response(f, ctx, B, FetchDataResponse(X, 4, items[4:6]), 200)
    h.add(
        "Q8",
        s2,
        None,
        {},
        "q8-not-contiguous",
        "Q8: only a chunk starting at gap_start drains",
        "appends a chunk that is not contiguous",
        "only [4,6) arrived: nothing drains",
    )
    s3, _ = q.on_fetch_data_response(s2, ctx, A, FetchDataResponse(X, 0, items[0:4]), 200)
    h.add(
        "Q8",
        s3,
        None,
        {},
        "q8-drain",
        "Q8: contiguous chunks drain in order",
        "drains out of order or leaves gap_start behind",
        "[0,4) and [4,6) drain: gap empty",
    )
    below_cursor = replace(s2, gap_start=5)
    h.add(
        "Q8",
        below_cursor,
        None,
        {},
        "q8-chunk-below-cursor",
        "Q8: a chunk below the cursor never drains (H1's stall)",
        "drains a chunk below gap_start twice",
        "a fetched chunk at 4 with gap_start 5: stuck",
    )

    h.add(
        "Q9",
        f,
        None,
        {"now_ms": 5_099},
        "q9-not-yet",
        "Q9 guard: deadline <= now",
        "times out a request early",
        "one ms before the fetch deadline: nothing",
    )
    h.add(
        "Q9",
        f,
        None,
        {"now_ms": 5_100},
        "q9-expire",
        "Q9: a request at its deadline times out",
        "keeps a timed-out peer available",
        "both requests expire at their deadline",
    )
    enc = encode_call("Q9", "map", CONFIG, f, None, {"now_ms": 5_100})
    _negative_time(h, "Q9", enc["pre"], None, enc["input"])

    h.add(
        "Q10",
        f,
        sctx(bonds=frozenset({A, L})),
        {},
        "q10-bonds",
        "Q10: known_bonds := ctx.bonds",
        "keeps stale bonds",
        "the bonds shrank to {A, L}",
    )

    s4 = replace(
        selected(),
        available_peers=frozenset({A, B, C, L}),
        anchor_candidates=selected().anchor_candidates.set(
            X, (SnapshotInfo(X, 6), frozenset({A, B, C, L}))
        ),
    )
    h.add(
        "Q11",
        s4,
        ctx,
        {"now_ms": 100},
        "q11-idle-order",
        "Q11: idle peers in PeerId order, the session's leader last",
        "asks the leader first or in hash order",
        "four idle peers, a 6-item gap, batch 4",
    )
    clip = replace(selected(), inflight=pmap({B: PendingFetch(ItemRange(2, 4), 5_000)}))
    h.add(
        "Q11",
        clip,
        ctx,
        {"now_ms": 100},
        "q11-clip",
        "Q11 (reference, H2): a chunk stops at the next assigned range",
        "asks for items already in flight (overlapping chunks, H2)",
        "[2,4) is in flight: A gets [0,2) (reference) or [0,4) (mosaik)",
    )
    h.add(
        "Q11",
        fresh(ctx, es),
        ctx,
        {"now_ms": 100},
        "q11-no-anchor",
        "Q11 guard: an anchor and a non-empty gap",
        "fetches without an anchor",
        "no anchor: nothing to schedule",
    )
    enc = encode_call("Q11", "map", CONFIG, s4, ctx, {"now_ms": 100})
    _negative_time(h, "Q11", enc["pre"], enc["context"], enc["input"])

    sel = selected()
    h.add(
        "Q11a",
        sel,
        ctx,
        {"peer": A, "anchor": X, "chunk": ItemRange(0, 4), "now_ms": 100},
        "q11a-send",
        "Q11a: send the request and arm its timeout",
        "forgets the timeout",
        "A asked [0,4): Send and ArmTimer(fetch_timeout, 5100)",
    )
    h.add(
        "Q11a",
        sel,
        ctx,
        {"peer": A, "anchor": cur(11), "chunk": ItemRange(0, 4), "now_ms": 100},
        "q11a-wrong-anchor",
        "Q11a guard: the selected anchor",
        "asks for another snapshot",
        "a request for another anchor: InvalidState",
    )
    h.add(
        "Q11a",
        sel,
        ctx,
        {"peer": C, "anchor": X, "chunk": ItemRange(0, 4), "now_ms": 100},
        "q11a-unavailable",
        "Q11a guard: the peer is available",
        "asks a peer that never offered",
        "C never offered: InvalidState",
    )
    h.add(
        "Q11a",
        f,
        ctx,
        {"peer": A, "anchor": X, "chunk": ItemRange(4, 6), "now_ms": 100},
        "q11a-busy",
        "Q11a guard: the peer is idle",
        "sends a second request to a busy peer",
        "A already has a request in flight: InvalidState",
    )
    h.add(
        "Q11a",
        sel,
        ctx,
        {"peer": A, "anchor": X, "chunk": ItemRange(2, 2), "now_ms": 100},
        "q11a-empty",
        "Q11a guard: a non-empty chunk",
        "asks for nothing",
        "the empty chunk [2,2): InvalidRange",
    )
    h.add(
        "Q11a",
        sel,
        ctx,
        {"peer": A, "anchor": X, "chunk": ItemRange(4, 8), "now_ms": 100},
        "q11a-outside",
        "Q11a guard: the chunk lies inside the gap",
        "asks past the snapshot's end",
        "[4,8) of a 6-item gap: InvalidRange",
    )
    enc = encode_call(
        "Q11a",
        "map",
        CONFIG,
        sel,
        ctx,
        {"peer": A, "anchor": X, "chunk": ItemRange(0, 4), "now_ms": 100},
    )
    _negative_time(h, "Q11a", enc["pre"], enc["context"], enc["input"])

    h.add(
        "Q12",
        done,
        ctx,
        {},
        "q12-finalize",
        "Q12: install, reset to the anchor, commit it, append the kept entries, cancel timers",
        "applies the buffered entries, or emits the effects in another order",
        "a complete session with entries 13 and 14 buffered after the anchor (1,12)",
    )
    h.add(
        "Q12",
        f,
        ctx,
        {},
        "q12-not-complete",
        "Q12 guard: complete (anchor, empty gap)",
        "finalizes with items missing",
        "finalize while fetching: InvalidState",
    )
    h.add(
        "Q12",
        gap,
        ctx,
        {},
        "q12-gap",
        "Q12 guard: kept entries contiguous after the anchor (H3, I7)",
        "installs a log with a hole (mosaik panics at session.rs:662)",
        "the kept entries are 13, 14, 16: InvalidState (reference), HazardPanic H3 (mosaik)",
    )

    h.add(
        "Q13",
        f,
        ctx,
        {"position": cur(14), "entries": ()},
        "q13-heartbeat",
        "Q13: an entry-less AppendEntries changes nothing",
        "treats a heartbeat as a gap",
        "a heartbeat during catch-up: unchanged",
    )
    h.add(
        "Q13",
        f,
        ctx,
        {"position": cur(12), "entries": entries(1, 2, start=20)},
        "q13-overlap",
        "Q13 (reference, H3): overlap is merged; a term conflict truncates",
        "appends duplicates or keeps conflicting entries (H3)",
        "entries 13 (same term) and 14 (term 2, conflicting): merged and truncated",
    )
    h.add(
        "Q13",
        f,
        ctx,
        {"position": cur(16), "entries": entries(1, start=30)},
        "q13-gap",
        "Q13 (reference, H3): a gap restarts the buffer and raises min_anchor",
        "keeps a buffer with a hole, or an anchor below it (H3)",
        "entries jump from 14 to 17: the buffer restarts, anchor (1,12) is dropped (reference)",
    )


# -- R1–R10 ------------------------------------------------------------------------------------


def _raft(h: _Hand) -> None:
    ctx = nctx()
    cmd = (7, 70)
    f = follower(
        log=log_of(1, 1), committed=cur(2), term=1, sm=MAP.apply_one(MAP.initial(), MapInsert(0, 0))
    )
    for step in ("R1", "R2", "R3"):
        inputs: dict[str, Any] = {}
        if step == "R3":
            inputs = {"follower": A, "last_log_index": Index(0), "vote": Vote.GRANTED}
        h.add(
            step,
            f,
            ctx,
            inputs,
            f"{step.lower()}-not-leader",
            f"{step} guard: the node leads",
            "acts as a leader at a follower",
            f"{step} at a follower: InvalidState",
        )
    h.add(
        "R1",
        leader(),
        ctx,
        {},
        "r1-empty",
        "R1 guard: something queued",
        "broadcasts an empty AppendEntries on every poll",
        "nothing queued: no effects",
    )
    h.add(
        "R1",
        leader(queued=(cmd, TakeSnapshot(request(at=BIG)))),
        ctx,
        {},
        "r1-publish",
        "R1: append, broadcast, record the leader's own vote",
        "numbers the entries wrongly or skips the heartbeat re-arm",
        "two queued commands are published at (2,1) and (2,2)",
    )
    h.add(
        "R2",
        leader(),
        nctx(now=1_499),
        {},
        "r2-not-due",
        "R2 guard: now >= heartbeat deadline",
        "heartbeats early",
        "one ms before the heartbeat: nothing",
    )
    h.add(
        "R2",
        leader(),
        nctx(now=1_500),
        {},
        "r2-due",
        "R2: broadcast the commit index, re-arm",
        "misses a heartbeat",
        "the heartbeat is due: Broadcast and ArmTimer",
    )
    lead = leader(log=log_of(2, 2, 2))
    for vote, idx in ((Vote.GRANTED, 3), (Vote.DENIED, 0), (Vote.ABSTAINED, 0)):
        h.add(
            "R3",
            lead,
            ctx,
            {"follower": A, "last_log_index": Index(idx), "vote": vote},
            f"r3-{vote.value}",
            f"R3: a {vote.value} acknowledgement",
            "commits without a quorum, or keeps an abstainer in the committee",
            f"A answers {vote.value} at index {idx}",
        )
    h.add(
        "R4",
        leader(),
        ctx,
        {"sender": L, "message": ae(cur(0, 0), ())},
        "r4-not-follower",
        "R4 guard: a follower",
        "runs the follower's check at a leader",
        "R4 at a leader: InvalidState",
    )
    h.add(
        "R4",
        f,
        ctx,
        {"sender": L, "message": ae(cur(2), (), term=3)},
        "r4-wrong-term",
        "R4 guard: the message's term is the node's",
        "appends entries of another term",
        "an AppendEntries of term 3 at a term-1 follower: InvalidState",
    )
    h.add(
        "R4",
        f,
        ctx,
        {"sender": L, "message": ae(cur(1, 0), entries(1), term=1)},
        "r4-cut-committed",
        "R4 guard: never truncate a committed entry (H18)",
        "truncates a committed entry (two commits at one index)",
        "a conflicting prev at index 1 of a follower committed at 2: InvalidState",
    )
    h.add(
        "R4",
        f,
        ctx,
        {"sender": L, "message": ae(cur(2), entries(1, start=3), commit=3, term=1)},
        "r4-consistent",
        "R4: consistent → online, R5",
        "starts a session on a consistent message",
        "prev (1,2) matches: the entry is appended, answered and committed",
    )
    h.add(
        "R4",
        f,
        ctx,
        {"sender": L, "message": ae(cur(9), entries(1, start=10), commit=9, term=1)},
        "r4-start-session",
        "R4: beyond the end → Q0 (min_anchor = committed, H9)",
        "appends across a hole, or starts the session with no floor",
        "prev (1,9) beyond a log ending at 2: a catch-up session starts",
    )
    sess = follower(fetching(), log=log_of(1, 1), committed=cur(2), term=1)
    h.add(
        "R4",
        sess,
        ctx,
        {"sender": L, "message": ae(cur(2), entries(1, start=3), commit=3, term=1)},
        "r4-during-catchup",
        "R4 (reference, H27): during catch-up every AppendEntries is buffered",
        "applies a consistent AppendEntries while the session is alive (H27)",
        "a consistent AppendEntries at a catching-up follower:"
        " buffered (reference), applied (mosaik)",
    )
    h.add(
        "R5",
        leader(),
        ctx,
        {"sender": L, "message": ae(cur(0, 0), ())},
        "r5-not-follower",
        "R5 guard: a follower",
        "appends at a leader",
        "R5 at a leader: InvalidState",
    )
    h.add(
        "R5",
        f,
        ctx,
        {"sender": L, "message": ae(cur(2), (), commit=2, term=1)},
        "r5-heartbeat",
        "R5: no response to an empty AppendEntries",
        "answers heartbeats",
        "a heartbeat: no answer, nothing to commit",
    )
    h.add(
        "R5",
        f,
        ctx,
        {"sender": L, "message": ae(cur(2), entries(1, 1, start=3), commit=BIG, term=1)},
        "r5-append",
        "R5: append, answer, commit min(leader_commit, last)",
        "commits beyond its log (leader_commit above 2^53)",
        "two entries and leader_commit 2^53+1: commits up to 4",
    )
    pruned = follower(
        log=LogStore().extend(entries(1, 1, 1)).prune_prefix(2), committed=cur(1), term=1
    )
    h.add(
        "R6",
        pruned,
        ctx,
        {"index": Index(3)},
        "r6-below-offset",
        "R6 guard: committed >= the log offset",
        "applies from a pruned log",
        "committed 1 below a log pruned to 2: InvalidState",
    )
    mixed = follower(log=log_of(1, 1, 2, 2), committed=cur(0, 0), term=2, sm=MAP.initial())
    h.add(
        "R6",
        mixed,
        ctx,
        {"index": Index(4)},
        "r6-split-terms",
        "R6: one apply_batch per run of equal terms (H20)",
        "applies across a term boundary in one batch",
        "four entries of terms 1,1,2,2 committed: two batches",
    )
    h.add(
        "R7",
        follower(log=log_of(1, 1, 1), committed=cur(3), term=1),
        None,
        {},
        "r7-prune",
        "R7: keep only the last committed entry",
        "prunes the last committed entry",
        "committed 3: the log is pruned up to 2",
    )
    h.add(
        "R7",
        follower(log=log_of(1), term=1),
        None,
        {},
        "r7-nothing",
        "R7 guard: something committed",
        "prunes an uncommitted log",
        "committed 0: unchanged",
    )
    h.add(
        "R8",
        f,
        None,
        {"command": cmd},
        "r8-not-leader",
        "R8 guard: the node leads",
        "queues a command at a follower",
        "a command at a follower: NotLeader",
    )
    h.add(
        "R8",
        leader(),
        None,
        {"command": (U64_MAX, "x")},
        "r8-queue",
        "R8: queue at the leader",
        "loses the command or its u64 value",
        "a command with 2^64-1 is queued",
    )
    h.add(
        "R9",
        leader(),
        ctx,
        {},
        "r9-not-follower",
        "R9 guard: a follower",
        "polls a session at a leader",
        "R9 at a leader: InvalidState",
    )
    h.add(
        "R9",
        f,
        ctx,
        {},
        "r9-no-session",
        "R9: no session, not pending",
        "suppresses elections without a session",
        "no session: nothing, not pending",
    )
    h.add(
        "R9",
        follower(complete(), log=log_of(1, 1), committed=cur(2), term=1),
        nctx(now=300),
        {},
        "r9-finish",
        "R9: the session finalizes; the node installs and resets",
        "keeps the session, or applies the buffered entries",
        "a complete session: installed, log reset to (1,12) + entries 13, 14; not pending",
    )
    gapped = complete()
    gapped = replace(gapped, buffered=gapped.buffered.append((Index(15), Term(1), MapInsert(9, 9))))
    h.add(
        "R9",
        follower(gapped, log=log_of(1, 1), committed=cur(2), term=1),
        nctx(now=300),
        {},
        "r9-finish-gap",
        "R9 → Q5 → Q12 guard: the kept entries are contiguous after the anchor (H3)",
        "installs a log with a hole (mosaik panics at session.rs:662)",
        "a complete session whose buffer jumps from 14 to 16: InvalidState (reference), "
        "HazardPanic H3 (mosaik)",
    )
    h.add(
        "R10",
        f,
        ctx,
        {"term": Term(1), "leader": None},
        "r10-same-term",
        "R10 guard: only a higher term",
        "steps down on an equal term",
        "term 1 at term 1: unchanged",
    )
    h.add(
        "R10",
        sess,
        ctx,
        {"term": Term(BIG), "leader": A},
        "r10-drop-session",
        "R10: a higher term drops the session (H17)",
        "keeps a session across terms",
        "term 2^53+1 at a catching-up follower: a follower of A, no session",
    )
    h.add(
        "R10",
        leader(),
        ctx,
        {"term": Term(3), "leader": None},
        "r10-leader",
        "R10: a leader steps down, cancelling its heartbeat",
        "keeps heartbeating",
        "a leader sees term 3: CancelTimer(heartbeat), follower with no leader",
    )
    cand = node(CandidateRole(frozenset({ME, A}), frozenset({ME}), 4_000), term=2)
    h.add(
        "R10",
        cand,
        ctx,
        {"term": Term(3), "leader": L},
        "r10-candidate",
        "R10: a candidate steps down",
        "keeps campaigning",
        "a candidate sees term 3 from L",
    )


# -- S1–S3 -------------------------------------------------------------------------------------


def _apply() -> ApplyContext:
    return ApplyContext(cur(4, 2), cur(9, 2), Term(2), ME, WALL, CONFIG)


def _collections(h: _Hand) -> None:
    from spec.conformance.conventions import ApplyStepContext, ProfileContext

    take = TakeSnapshot(request(by=A))
    own = TakeSnapshot(request(by=ME))
    old = TakeSnapshot(request(by=A, at=WALL - 10_001))
    samples: dict[str, tuple[Any, ...]] = {
        "map": (MapInsert(U64_MAX, BIG), MapCompareExchange(U64_MAX, BIG, 1)),
        "vec": (VecPushBack(BIG), VecInsert(5, 1)),
        "set": (SetInsert((U64_MAX, "k")),),
        "depq": (DepqInsert(5, 1, 10), DepqCompareExchangeValue(1, 99, 11), DepqInsert(BIG, 2, 20)),
        "cell": (CellWrite(BIG),),
        "once": (OnceWrite(U64_MAX), OnceWrite(1)),
    }
    foreign: dict[str, Any] = {
        "map": VecPushBack(1),
        "vec": MapInsert(1, 1),
        "set": CellWrite(1),
        "depq": SetInsert(1),
        "cell": OnceWrite(1),
        "once": CellWrite(1),
    }
    for kind, commands in samples.items():
        machine = COLLECTIONS[kind]
        state = machine.initial()
        apply = ApplyStepContext(_apply(), REFERENCE)
        h.add(
            "S1",
            state,
            apply,
            {"commands": (*commands, take, own, old)},
            f"s1-{kind}-batch",
            "S1: apply the batch; serve the fresh TakeSnapshot at the end-of-batch position",
            "serves at the marker's index, serves its own or an expired request, or "
            "miscounts the position (H4)",
            f"{kind}: data commands with values at u64/2^53 edges, then three TakeSnapshots "
            "(A's fresh, our own, an expired one)",
            collection=kind,
        )
        h.add(
            "S1",
            state,
            apply,
            {"commands": (foreign[kind],)},
            f"s1-{kind}-foreign",
            "S1 guard: a command of this collection",
            "applies another collection's command",
            f"{kind} given a {type(foreign[kind]).__name__}: InvalidMessage",
            collection=kind,
        )
        full = machine.apply_batch(state, commands, _apply(), REFERENCE)[0]
        snap = machine.create_snapshot(full, REFERENCE)
        h.add(
            "S2",
            state,
            ProfileContext(REFERENCE),
            {"snapshot": snap},
            f"s2-{kind}-install",
            "S2: the state becomes the snapshot's",
            "keeps items that are not in the snapshot",
            f"{kind}: install a snapshot of the sample state",
            collection=kind,
        )
        other = "vec" if kind != "vec" else "map"
        wrong = COLLECTIONS[other].empty_snapshot(REFERENCE)
        h.add(
            "S2",
            state,
            ProfileContext(REFERENCE),
            {"snapshot": wrong},
            f"s2-{kind}-wrong-kind",
            "S2 guard: a snapshot of this collection",
            "installs another collection's snapshot",
            f"{kind} given a {other} snapshot: InvalidInput",
            collection=kind,
        )
        h.add(
            "S3",
            full,
            ProfileContext(REFERENCE),
            {},
            f"s3-{kind}",
            "S3: the snapshot holds the state's items in canonical order (Cell/Once: H28 flag)",
            "orders items differently (H13) or loses the H28 behaviour",
            f"{kind}: snapshot of the sample state",
            collection=kind,
        )
    state = DEPQ.apply_one(DEPQ.initial(), DepqInsert(5, 1, 10))
    h.add(
        "S1",
        state,
        ApplyStepContext(_apply(), REFERENCE),
        {"commands": (DepqCompareExchangeValue(1, 99, 11), take)},
        "s1-depq-h4",
        "S1 DEPQ (reference, H4): a mismatching CompareExchangeValue is counted",
        "serves the snapshot at a position one short per mismatch (H4)",
        "a mismatching compare-exchange then a TakeSnapshot: position 6 (reference), 5 (mosaik)",
        collection="depq",
    )
    vec = COLLECTIONS["vec"]
    h.add(
        "S1",
        vec.initial(),
        ApplyStepContext(_apply(), REFERENCE),
        {"commands": (VecInsert(3, 1),)},
        "s1-vec-h23",
        "S1 Vec Insert beyond len (H23)",
        "panics on every replica (mosaik), or inserts",
        "Insert at index 3 of an empty Vec: a counted no-op (reference), HazardPanic H23 (mosaik)",
        collection="vec",
    )


def _catalog(h: _Hand) -> None:
    """Every command of every collection on a small state, edge cases included, and the
    structural paths of larger states (more items than one leaf of the persistent trees)."""
    from impl.collections import cell as cell_
    from impl.collections import depq as depq_
    from impl.collections import map as map_
    from impl.collections import once as once_
    from impl.collections import set as set_
    from impl.collections import vec as vec_
    from spec.conformance.conventions import ApplyStepContext, ProfileContext

    bound = depq_.Bound
    catalog: dict[str, tuple[tuple[Any, ...], list[tuple[str, Any]]]] = {
        "map": (
            (map_.MapExtend(tuple((k, k * 10) for k in range(5))),),
            [
                ("insert-new", map_.MapInsert("k", 1)),
                ("insert-replace", map_.MapInsert(2, 99)),
                ("cas-match", map_.MapCompareExchange(2, 20, 21)),
                ("cas-match-remove", map_.MapCompareExchange(2, 20, None)),
                ("cas-mismatch", map_.MapCompareExchange(2, 7, 8)),
                ("cas-absent-insert", map_.MapCompareExchange(9, None, 90)),
                ("cas-absent-expected-some", map_.MapCompareExchange(9, 1, 2)),
                ("cas-present-expected-none", map_.MapCompareExchange(2, None, 2)),
                ("remove-many", map_.MapRemoveMany((1, 3, 77))),
                ("remove-none", map_.MapRemoveMany(())),
                ("extend-overlap", map_.MapExtend(((1, 5), (1, 6), ((2, "t"), "v")))),
                ("clear", map_.MapClear()),
            ],
        ),
        "vec": (
            (vec_.VecExtend(tuple(range(5))),),
            [
                ("swap", vec_.VecSwap(0, 4)),
                ("swap-out-of-range", vec_.VecSwap(1, 5)),
                ("insert-front", vec_.VecInsert(0, "a")),
                ("insert-end", vec_.VecInsert(5, "z")),
                ("insert-beyond", vec_.VecInsert(6, "x")),
                ("push-back", vec_.VecPushBack(U64_MAX)),
                ("push-front", vec_.VecPushFront((1, "t"))),
                ("pop-back", vec_.VecPopBack()),
                ("pop-front", vec_.VecPopFront()),
                ("remove", vec_.VecRemove(2)),
                ("remove-out-of-range", vec_.VecRemove(5)),
                ("truncate", vec_.VecTruncate(2)),
                ("truncate-longer", vec_.VecTruncate(9)),
                ("extend", vec_.VecExtend((7, 8))),
                ("clear", vec_.VecClear()),
            ],
        ),
        "set": (
            (set_.SetExtend(tuple(range(5))),),
            [
                ("insert-new", set_.SetInsert("s")),
                ("insert-duplicate", set_.SetInsert(3)),
                ("remove-many", set_.SetRemoveMany((0, 4, 99))),
                ("extend", set_.SetExtend((3, 300, 128))),
                ("clear", set_.SetClear()),
            ],
        ),
        "depq": (
            (depq_.DepqExtend(tuple((p, k, k * 10) for k, p in enumerate((5, 1, 9, 1, 3)))),),
            [
                ("insert-new", depq_.DepqInsert(4, 7, 70)),
                ("insert-replace", depq_.DepqInsert(0, 2, 21)),
                ("update-priority", depq_.DepqUpdatePriority(1, 8)),
                ("update-priority-absent", depq_.DepqUpdatePriority(42, 8)),
                ("update-value", depq_.DepqUpdateValue(1, 11)),
                ("update-value-absent", depq_.DepqUpdateValue(42, 11)),
                ("cas-match", depq_.DepqCompareExchangeValue(1, 10, 12)),
                ("cas-match-remove", depq_.DepqCompareExchangeValue(1, 10, None)),
                ("cas-mismatch", depq_.DepqCompareExchangeValue(1, 99, 12)),
                ("cas-absent", depq_.DepqCompareExchangeValue(42, 1, 2)),
                ("remove-keys", depq_.DepqRemoveKeys((0, 3, 42))),
                (
                    "remove-range-incl-excl",
                    depq_.DepqRemoveRange(bound.included(1), bound.excluded(5)),
                ),
                (
                    "remove-range-excl-incl",
                    depq_.DepqRemoveRange(bound.excluded(1), bound.included(5)),
                ),
                (
                    "remove-range-unbounded-start",
                    depq_.DepqRemoveRange(bound.unbounded(), bound.included(3)),
                ),
                (
                    "remove-range-unbounded-end",
                    depq_.DepqRemoveRange(bound.included(3), bound.unbounded()),
                ),
                ("remove-range-all", depq_.DepqRemoveRange(bound.unbounded(), bound.unbounded())),
                (
                    "remove-range-inverted",
                    depq_.DepqRemoveRange(bound.included(9), bound.included(1)),
                ),
                (
                    "remove-range-empty-excluded",
                    depq_.DepqRemoveRange(bound.excluded(3), bound.excluded(3)),
                ),
                ("clear", depq_.DepqClear()),
            ],
        ),
        "cell": (
            (cell_.CellWrite(5),),
            [
                ("write", cell_.CellWrite("v")),
                ("cas-match", cell_.CellCompareExchange(5, 6)),
                ("cas-match-clear", cell_.CellCompareExchange(5, None)),
                ("cas-mismatch", cell_.CellCompareExchange(4, 6)),
                ("cas-expect-empty", cell_.CellCompareExchange(None, 6)),
                ("clear", cell_.CellClear()),
            ],
        ),
        "once": ((), [("write", once_.OnceWrite(1)), ("write-again", once_.OnceWrite(2))]),
    }
    for kind, (setup, commands) in catalog.items():
        machine = COLLECTIONS[kind]
        base = machine.apply_batch(machine.initial(), setup, _apply(), REFERENCE)[0]
        for name, command in commands:
            h.add(
                "S1",
                base,
                ApplyStepContext(_apply(), REFERENCE),
                {"commands": (command,)},
                f"s1-{kind}-{name}",
                f"S1 {kind}: {type(command).__name__} ({name})",
                "leaves a different state than every other replica (divergence)",
                f"{kind}: {name} on a small state",
                collection=kind,
            )
        if kind == "cell":
            empty = machine.initial()
            h.add(
                "S1",
                empty,
                ApplyStepContext(_apply(), REFERENCE),
                {"commands": (cell_.CellCompareExchange(None, 6),)},
                "s1-cell-cas-empty",
                "S1 cell: CompareExchange(None, 6) on an empty cell",
                "does not fill an empty cell",
                "cell: compare-exchange of an empty cell",
                collection=kind,
            )
    # Larger states: more items than one leaf (64) of the persistent trees.
    big: dict[str, tuple[Any, list[Any]]] = {
        "map": (
            map_.MapExtend(tuple((k, k) for k in range(150))),
            [
                map_.MapRemoveMany(tuple(range(0, 150, 2))),
                map_.MapExtend(tuple((k, 0) for k in range(140, 300))),
                map_.MapInsert(75, "mid"),
            ],
        ),
        "vec": (
            vec_.VecExtend(tuple(range(150))),
            [
                vec_.VecRemove(70),
                vec_.VecInsert(65, "x"),
                vec_.VecTruncate(70),
                vec_.VecPushFront(-0 + 1),
                vec_.VecSwap(3, 140),
                vec_.VecPopFront(),
            ],
        ),
        "set": (
            set_.SetExtend(tuple(range(150))),
            [set_.SetRemoveMany(tuple(range(10, 140))), set_.SetExtend(tuple(range(100, 260)))],
        ),
        "depq": (
            depq_.DepqExtend(tuple((k % 7, k, k) for k in range(150))),
            [
                depq_.DepqRemoveRange(bound.included(2), bound.excluded(5)),
                depq_.DepqRemoveKeys(tuple(range(0, 150, 3))),
                depq_.DepqUpdatePriority(149, 100),
            ],
        ),
    }
    for kind, (setup, commands) in big.items():
        machine = COLLECTIONS[kind]
        base = machine.apply_batch(machine.initial(), (setup,), _apply(), REFERENCE)[0]
        for i, command in enumerate(commands):
            h.add(
                "S1",
                base,
                ApplyStepContext(_apply(), REFERENCE),
                {"commands": (command,)},
                f"s1-{kind}-large-{i}",
                f"S1 {kind}: {type(command).__name__} across tree leaves",
                "diverges on states larger than one node of its structure",
                f"{kind}: {type(command).__name__} on 150 items",
                collection=kind,
            )
        snap = machine.create_snapshot(base, REFERENCE)
        h.add(
            "S3",
            base,
            ProfileContext(REFERENCE),
            {},
            f"s3-{kind}-large",
            "S3 on 150 items: canonical order across leaves",
            "orders items differently (H13)",
            f"{kind}: snapshot of 150 items",
            collection=kind,
        )
        h.add(
            "S2",
            machine.initial(),
            ProfileContext(REFERENCE),
            {"snapshot": snap},
            f"s2-{kind}-large",
            "S2 of 150 items",
            "loses items when installing",
            f"{kind}: install a 150-item snapshot",
            collection=kind,
        )
        anchor = cur(30, 2)
        held = ProviderState(available=pmap({anchor: AvailableSnapshot(snap, 5_000)}))
        for start, end in ((60, 70), (140, 160), (150, 151), (0, 2)):
            h.add(
                "P4",
                held,
                pctx(),
                {"sender": A, "request": FetchDataRequest(anchor, ItemRange(start, end))},
                f"p4-{kind}-{start}-{end}",
                "P4 slices the snapshot by rank in canonical order",
                "serves items of the wrong ranks, or past the end",
                f"{kind}: fetch [{start},{end}) of 150 items (batch 4)",
                collection=kind,
            )
    for kind in ("cell", "once"):
        machine = COLLECTIONS[kind]
        full = machine.apply_batch(
            machine.initial(),
            (OnceWrite(7) if kind == "once" else CellWrite(7),),
            _apply(),
            REFERENCE,
        )[0]
        for label, profile in (("reference", REFERENCE), ("mosaik", MOSAIK_0_3_13)):
            snap = machine.create_snapshot(full, profile)
            held = ProviderState(available=pmap({X: AvailableSnapshot(snap, 5_000)}))
            for start, end in ((0, 1), (0, 3), (1, 2)):
                h.add(
                    "P4",
                    held,
                    pctx(),
                    {"sender": A, "request": FetchDataRequest(X, ItemRange(start, end))},
                    f"p4-{kind}-{label}-{start}-{end}",
                    "P4 on a 0-or-1-item snapshot: iter_range honours the end (H28)",
                    "serves the item for a range past the end (H28)",
                    f"{kind}: fetch [{start},{end}) of a 1-item snapshot made under {label}",
                    collection=kind,
                )


def _committee(h: _Hand) -> None:
    """R3's committee bookkeeping: dead voters swept, non-voters backfilled, abstainers out."""
    ctx = nctx(bonds=frozenset({A, B, L}))
    voters = pmap({ME: Index(3), A: Index(3), B: Index(1), C: Index(3)})
    lead = leader(
        log=log_of(2, 2, 2),
        committee=Committee(voters=voters, non_voters=pmap({STRANGER: Index(2), L: Index(1)})),
    )
    h.add(
        "R3",
        lead,
        ctx,
        {"follower": B, "last_log_index": Index(3), "vote": Vote.GRANTED},
        "r3-dead-voter",
        "R3 step 1: voters without a live bond are dropped, then backfill",
        "keeps counting a voter whose bond is gone (or commits without a quorum)",
        "C (voter) and a non-voter have no bond: dropped; L stays; B's ack at 3 gives the quorum",
    )
    backup = Committee(voters=pmap({ME: Index(3)}), non_voters=pmap({A: Index(2), B: Index(3)}))
    lead2 = leader(log=log_of(2, 2, 2), committee=backup)
    h.add(
        "R3",
        lead2,
        ctx,
        {"follower": C, "last_log_index": Index(1), "vote": Vote.GRANTED},
        "r3-backfill",
        "R3: non-voters are promoted by index, ties by PeerId, to an odd count",
        "promotes in hash order or to an even committee",
        "one voter and three non-voters: the two most caught up become voters",
    )
    h.add(
        "R3",
        lead2,
        ctx,
        {"follower": A, "last_log_index": Index(0), "vote": Vote.ABSTAINED},
        "r3-abstain-non-voter",
        "R3: an abstainer leaves voters and non-voters",
        "keeps an abstainer in the committee",
        "non-voter A abstains: removed",
    )
    h.add(
        "R3",
        lead2,
        ctx,
        {"follower": C, "last_log_index": Index(3), "vote": Vote.DENIED},
        "r3-denied-unknown",
        "R3: a denial changes nothing but the dead-voter sweep",
        "counts a denial as an acknowledgement",
        "C denies: committee unchanged",
    )
    # The commitment rule (H30): which quorum index commits by counting.
    ctx3 = nctx(bonds=frozenset({A, B}))
    for term, terms, acked, name, description in (
        (3, (1, 1, 3), 2, "r3-older-term", "leader of term 3, quorum at an entry of term 1"),
        (2, (1, 1, 2), 2, "r3-term-before", "leader of term 2, quorum at an entry of term 1"),
        (3, (1, 1, 3), 3, "r3-own-term", "leader of term 3, quorum at its own entry"),
    ):
        committee = Committee(voters=pmap({ME: Index(3), A: Index(1), B: Index(0)}))
        lead3 = leader(term=term, log=log_of(*terms), committed=cur(1), committee=committee)
        h.add(
            "R3",
            lead3,
            ctx3,
            {"follower": A, "last_log_index": Index(acked), "vote": Vote.GRANTED},
            name,
            "R3 step 4: commits by counting only an entry of the leader's term or the term "
            "before it (reference; Raft §5.4.2); mosaik counts any term (H30)",
            "commits an older term's entry by counting, which a leader of a term between "
            "can overwrite (Raft's Figure 8), or does not commit an entry of its own term",
            f"{description}: A acknowledges {acked}",
        )


def _edges(h: _Hand) -> None:
    """Branches the model's runs rarely take: data shapes, structure edges, guard edges."""
    from impl.collections import depq as depq_
    from impl.collections import map as map_
    from impl.collections import vec as vec_
    from spec.conformance.conventions import ApplyStepContext

    bound = depq_.Bound
    apply = ApplyStepContext(_apply(), REFERENCE)
    depq = COLLECTIONS["depq"]
    shapes = depq.apply_batch(
        depq.initial(),
        (depq_.DepqExtend((("b", 1, 1), ((1, "x"), 2, 2), (5, 3, 3), ("a", 4, 4))),),
        _apply(),
        REFERENCE,
    )[0]
    for name, command in (
        ("remove-range-shapes", depq_.DepqRemoveRange(bound.included("a"), bound.excluded((2,)))),
        ("remove-range-below-all", depq_.DepqRemoveRange(bound.unbounded(), bound.included(0))),
        ("insert-tuple-priority", depq_.DepqInsert((0, "y"), 9, 9)),
    ):
        h.add(
            "S1",
            shapes,
            apply,
            {"commands": (command,)},
            f"s1-depq-{name}",
            "S1 DEPQ: priorities of every shape order int < str < tuple",
            "orders priorities of different shapes otherwise (not Rust's Ord)",
            f"depq: {name} with int, str and tuple priorities",
            collection="depq",
        )
    keys = (5, 200, 20_000, 3_000_000, 1 << 40, U64_MAX)
    h.add(
        "S1",
        MAP.initial(),
        apply,
        {"commands": (map_.MapExtend(tuple((k, "é") for k in keys)),)},
        "s1-map-varints",
        "S1 Map: keys of every varint length, a non-ASCII value",
        "orders keys by number instead of by their postcard bytes (H13)",
        "map: keys of 1 to 10 varint bytes, canonical order by bytes",
    )
    m150 = MAP.apply_batch(
        MAP.initial(), (map_.MapExtend(tuple((k, k) for k in range(150))),), _apply(), REFERENCE
    )[0]
    h.add(
        "S1",
        m150,
        apply,
        {"commands": (map_.MapRemoveMany(tuple(range(100))),)},
        "s1-map-remove-most",
        "S1 Map: removing most keys merges the tree's leaves",
        "loses or keeps keys when its structure shrinks",
        "map: remove 100 of 150 keys",
    )
    h.add(
        "S1",
        MAP.initial(),
        apply,
        {"commands": (map_.MapRemoveMany((1,)),)},
        "s1-map-remove-from-empty",
        "S1 Map: RemoveMany on an empty map",
        "fails on an empty map",
        "map: remove from the empty map",
    )
    m5 = MAP.apply_batch(
        MAP.initial(), (map_.MapExtend(tuple((k, k) for k in range(5, 10))),), _apply(), REFERENCE
    )[0]
    h.add(
        "S1",
        m5,
        apply,
        {"commands": (map_.MapRemoveMany((1,)), map_.MapCompareExchange(2, 1, 3))},
        "s1-map-below-all",
        "S1 Map: keys below every present key (absent)",
        "finds a key that is not there",
        "map {5..9}: remove 1, compare-exchange 2: no-ops",
    )
    h.add(
        "S1",
        m150,
        apply,
        {"commands": (map_.MapInsert("zz", 1), map_.MapInsert("zy", 2))},
        "s1-map-split-leaf",
        "S1 Map: an insert into a full leaf splits it",
        "loses or misplaces keys when its structure grows",
        "map: two string keys into a full leaf",
    )
    vec = COLLECTIONS["vec"]
    v150 = vec.apply_batch(
        vec.initial(), (vec_.VecExtend(tuple(range(150))),), _apply(), REFERENCE
    )[0]
    h.add(
        "S1",
        v150,
        apply,
        {"commands": tuple(vec_.VecRemove(0) for _ in range(60))},
        "s1-vec-remove-leaf",
        "S1 Vec: sixty removals at the front merge leaves",
        "shifts elements wrongly when its structure shrinks",
        "vec: remove index 0 sixty times",
        collection="vec",
    )
    h.add(
        "S1",
        v150,
        apply,
        {"commands": (vec_.VecTruncate(0),)},
        "s1-vec-truncate-zero",
        "S1 Vec: Truncate(0)",
        "keeps elements",
        "vec: truncate 150 elements to none",
        collection="vec",
    )
    h.add(
        "S1",
        v150,
        apply,
        {"commands": (vec_.VecTruncate(10), vec_.VecPopBack(), vec_.VecPopFront())},
        "s1-vec-truncate-first-leaf",
        "S1 Vec: Truncate inside the first leaf, then pops",
        "keeps elements past the new length",
        "vec: truncate to 10, pop both ends",
        collection="vec",
    )
    h.add(
        "S1",
        v150,
        apply,
        {"commands": (vec_.VecExtend(()),)},
        "s1-vec-extend-nothing",
        "S1 Vec: an empty Extend is a counted no-op",
        "changes the Vec",
        "vec: extend by nothing",
        collection="vec",
    )
    big_vec = vec.apply_batch(
        vec.initial(), (vec_.VecExtend(tuple(range(4200))),), _apply(), REFERENCE
    )[0]
    h.add(
        "S1",
        big_vec,
        apply,
        {
            "commands": (
                vec_.VecTruncate(4096),
                *(vec_.VecRemove(4000) for _ in range(60)),
                *(vec_.VecInsert(10, i) for i in range(70)),
                vec_.VecTruncate(64),
            )
        },
        "s1-vec-4200",
        "S1 Vec beyond one node of the structure (4096 elements)",
        "shifts elements wrongly in a large Vec",
        "vec of 4200: truncate, remove and insert across nodes, truncate to one leaf",
        collection="vec",
    )
    h.add(
        "S1",
        vec.initial(),
        apply,
        {"commands": (vec_.VecPopBack(), vec_.VecPopFront(), vec_.VecSwap(0, 0))},
        "s1-vec-empty-pops",
        "S1 Vec: pops and swaps on an empty Vec are counted no-ops",
        "fails or changes an empty Vec",
        "vec: pop and swap on the empty Vec",
        collection="vec",
    )

    # Q8: chunks that do not extend the accumulated snapshot in order (H1, H10 states).
    ctx = sctx()
    f = fetching()
    items = content(X, 6)
    s_empty = replace(f, fetched=pmap({0: (0, ())}))
    h.add(
        "Q8",
        s_empty,
        None,
        {},
        "q8-empty-chunk",
        "Q8: a zero-item chunk at the cursor is consumed without moving it (H10's loop)",
        "moves the cursor on an empty chunk, or keeps the chunk",
        "an empty chunk at 0",
    )
    acc = replace(
        f,
        accumulated=MAP.empty_snapshot(REFERENCE).append(items[3:5]),
        gap_start=0,
        fetched=pmap({0: (2, ((1200, "é"), (1201, (1, "t"))))}),
    )
    h.add(
        "Q8",
        acc,
        None,
        {},
        "q8-append-out-of-order",
        "Q8: appending keys below the accumulated ones (an H1 state) keeps canonical order",
        "appends blindly, breaking the snapshot's order",
        "accumulated holds later keys",
    )

    # Q2/Q3/Q6/Q13 guard edges.
    floor = replace(
        fresh(ctx), min_anchor=13, anchor_candidates=pmap({X: (SnapshotInfo(X, 6), frozenset({A}))})
    )
    h.add(
        "Q2",
        floor,
        ctx,
        {},
        "q2-below-min-anchor",
        "Q2 guard (reference, H3): no anchor below min_anchor",
        "selects an anchor below a gap in the buffer (H3)",
        "the only candidate (1,12) lies below min_anchor 13: nothing selected (reference)",
    )
    h.add(
        "Q3",
        fresh(ctx),
        ctx,
        {},
        "q3-no-anchor",
        "Q3 guard: an anchor is selected",
        "upgrades without an anchor",
        "Q3 with nothing selected: unchanged",
    )
    higher = replace(
        fetching(),
        anchor_candidates=fetching().anchor_candidates.set(
            cur(15), (SnapshotInfo(cur(15), 2), frozenset())
        ),
    )
    h.add(
        "Q3",
        higher,
        ctx,
        {},
        "q3-unusable-higher",
        "Q3 (reference, H6): a higher candidate nobody holds is not usable",
        "switches to an anchor no peer can serve",
        "(1,15) has no peers: unchanged (reference)",
    )
    others = replace(
        q.on_bond_terminated(f, A),
        anchor_candidates=f.anchor_candidates.set(
            cur(11), (SnapshotInfo(cur(11), 1), frozenset({C}))
        ),
    )
    h.add(
        "Q6",
        others,
        None,
        {},
        "q6-untouched-candidate",
        "Q6: candidates of other peers keep their peers",
        "strips peers that did not terminate",
        "A terminated; the candidate held by C is unchanged",
    )
    h.add(
        "Q13",
        f,
        ctx,
        {"position": cur(10), "entries": entries(2, start=40)},
        "q13-term-conflict",
        "Q13 (reference): a different term at a buffered index truncates there",
        "keeps the conflicting entry (H3)",
        "index 11 arrives again with term 2",
    )
    with_candidate = replace(
        f,
        anchor_candidates=f.anchor_candidates.set(
            cur(20), (SnapshotInfo(cur(20), 3), frozenset({C}))
        ),
    )
    h.add(
        "Q13",
        with_candidate,
        ctx,
        {"position": cur(16), "entries": entries(1, start=50)},
        "q13-gap-reselect",
        "Q13 (reference): a gap drops the anchor below it and re-selects a higher candidate",
        "keeps an anchor below the gap, or stays unserved with a usable candidate",
        "entries jump to 17: (1,12) dropped, (1,20) selected",
    )
    ahead_of_gap = selected()
    ahead_of_gap, _ = q.on_snapshot_offer(ahead_of_gap, ctx, C, SnapshotInfo(cur(20), 3), 0)
    h.add(
        "Q13",
        ahead_of_gap,
        ctx,
        {"position": cur(15), "entries": entries(1, start=55)},
        "q13-gap-below-anchor",
        "Q13 (reference): a gap below the selected anchor keeps the anchor",
        "drops a usable anchor that lies above the gap",
        "anchor (1,20); entries jump to 16",
    )
    high = replace(fetching(), anchor=cur(12), min_anchor=0)
    h.add(
        "Q13",
        replace(high, buffered=pvector_of(())),
        ctx,
        {"position": cur(12), "entries": entries(1, start=60)},
        "q13-empty-buffer-at-anchor",
        "Q13: with an empty buffer, entries right after the anchor are no gap",
        "treats the entry after the anchor as a gap",
        "the buffer is empty and (1,13) arrives",
    )

    # R-side edges.
    nctx_ = nctx()
    f3 = follower(log=log_of(1, 1, 1), committed=cur(1), term=2)
    h.add(
        "R4",
        f3,
        nctx_,
        {"sender": L, "message": ae(cur(2), entries(2, start=70), commit=1)},
        "r4-conflict-truncate",
        "R4: a consistent prev whose next entry conflicts truncates the uncommitted tail",
        "keeps the conflicting entry, or truncates a committed one",
        "prev (1,2) matches; index 3 holds term 1, the message term 2: truncated and replaced",
    )
    h.add(
        "R6",
        f3,
        nctx_,
        {"index": Index(1)},
        "r6-nothing-new",
        "R6: nothing between committed and index",
        "re-applies committed entries",
        "R6 up to the committed index: unchanged",
    )
    ahead = leader(
        log=log_of(2),
        committed=cur(1, 2),
        committee=Committee(voters=pmap({ME: Index(5), A: Index(5), B: Index(0)})),
    )
    h.add(
        "R3",
        ahead,
        nctx_,
        {"follower": B, "last_log_index": Index(5), "vote": Vote.GRANTED},
        "r3-quorum-beyond-log",
        "R3 step 4: a quorum index beyond the log commits what exists",
        "commits entries it does not have",
        "acks at 5, the 1-entry log already committed: nothing to commit, no heartbeat",
    )
    top = Index(U64_MAX - 1)
    edge_log = LogStore().reset_to(Cursor(Term(1), top))
    edge = follower(log=edge_log, committed=Cursor(Term(1), top), term=1)
    h.add(
        "R5",
        edge,
        nctx_,
        {"sender": L, "message": ae(Cursor(Term(1), top), entries(1, 1, start=80), term=1)},
        "r5-u64-log-end",
        "R5: a log that would pass index 2^64-1 is a typed error",
        "wraps the log index around 2^64",
        "two entries after index 2^64-2",
    )


def pvector_of(values: Sequence[Any]) -> Any:
    from pyrsistent import pvector

    return pvector(values)


def hand_calls() -> list[Call]:
    """Return every hand-written call, in a fixed order."""
    h = _Hand()
    for build in (_provider, _session, _raft, _committee, _collections, _catalog, _edges):
        build(h)
    return h.calls


_UNUSED: tuple[Any, ...] = (MOSAIK_0_3_13, Profile, AppendEntriesResponse, Callable, Sequence)
