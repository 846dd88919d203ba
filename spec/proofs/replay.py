"""Run proof counterexamples through the impl, to confirm they are real.

Every counterexample of :mod:`spec.proofs` carries a typed witness; the functions here
rebuild it with impl values (commands, session states, messages), run the impl's steps
under a profile and report what the impl did. A proof layer whose counterexamples do
not reproduce in the impl is wrong; model_tests/test_proofs.py asserts that they do,
under the hazard's profile, and that the reference profile does not fail.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pyrsistent import pmap, pvector

from impl.collections import get_collection
from impl.collections.base import ApplyContext, PendingRequest, StateMachine
from impl.collections.cell import CellClear, CellCompareExchange, CellWrite
from impl.collections.depq import (
    Bound,
    DepqClear,
    DepqCompareExchangeValue,
    DepqExtend,
    DepqInsert,
    DepqRemoveKeys,
    DepqRemoveRange,
    DepqUpdatePriority,
    DepqUpdateValue,
)
from impl.collections.map import MapClear, MapCompareExchange, MapExtend, MapInsert, MapRemoveMany
from impl.collections.once import OnceWrite
from impl.collections.set import SetClear, SetExtend, SetInsert, SetRemoveMany
from impl.collections.vec import (
    VEC,
    VecClear,
    VecExtend,
    VecInsert,
    VecPopBack,
    VecPopFront,
    VecPushBack,
    VecPushFront,
    VecRemove,
    VecSwap,
    VecTruncate,
)
from impl.config import Config
from impl.effects import Effect, Ignored, SetCommitted
from impl.errors import HazardPanic
from impl.messages import (
    Command,
    FetchDataResponse,
    LogEntry,
    SnapshotInfo,
    SnapshotRequest,
    TakeSnapshot,
)
from impl.profile import Profile
from impl.session import (
    buffer,
    check_session_invariants,
    dead_state,
    finalize_sync,
    is_sync_complete,
    on_fetch_data_response,
    on_snapshot_offer,
    schedule_fetches,
    session_new,
    session_poll,
    try_select_anchor,
)
from impl.session_state import PendingFetch, SessionContext, SessionState
from impl.types import Cursor, Index, ItemRange, PeerId, Term
from spec.proofs.buffer import BufferWitness
from spec.proofs.chunking import ChunkWitness
from spec.proofs.collections import SymCommand
from spec.proofs.fold import FoldWitness
from spec.proofs.inductive import InductiveWitness, SessionFacts

__all__ = [
    "BufferReplay",
    "FoldReplay",
    "SessionReplay",
    "impl_command",
    "replay_buffer",
    "replay_chunk",
    "replay_fold",
    "replay_inductive",
    "run_to_completion",
]

LEADER = PeerId.from_label("replay-leader")
"""The serving peer (and the session's leader) of replays."""
FOLLOWER = PeerId.from_label("replay-follower")
"""The lagging node of replays."""
TERM = Term(1)


# ---------------------------------------------------------------------------------------------
# Fold


def _opt(present: int | bool, value: int | bool) -> int | None:
    return int(value) if present else None


def _bound(kind: int | bool, value: int | bool) -> Bound:
    if kind == 0:
        return Bound.included(int(value))
    if kind == 1:
        return Bound.excluded(int(value))
    return Bound.unbounded()


def impl_command(kind: str, cmd: SymCommand, request: SnapshotRequest) -> Command:
    """Return the impl command a symbolic command stands for (TakeSnapshot gets ``request``)."""
    a = dict(cmd.args)
    i = {k: int(v) for k, v in cmd.args}
    name = cmd.name
    if name == "TakeSnapshot":
        return TakeSnapshot(request)
    table: dict[tuple[str, str], Any] = {
        ("map", "Clear"): lambda: MapClear(),
        ("map", "Insert"): lambda: MapInsert(i["key"], i["value"]),
        ("map", "CompareExchange"): lambda: MapCompareExchange(
            i["key"], _opt(a["has_expected"], a["expected"]), _opt(a["has_new"], a["new"])
        ),
        ("map", "RemoveMany"): lambda: MapRemoveMany((i["key1"], i["key2"])),
        ("map", "Extend"): lambda: MapExtend(((i["key1"], i["value1"]), (i["key2"], i["value2"]))),
        ("set", "Clear"): lambda: SetClear(),
        ("set", "Insert"): lambda: SetInsert(i["value"]),
        ("set", "RemoveMany"): lambda: SetRemoveMany((i["value1"], i["value2"])),
        ("set", "Extend"): lambda: SetExtend((i["value1"], i["value2"])),
        ("depq", "Clear"): lambda: DepqClear(),
        ("depq", "Insert"): lambda: DepqInsert(i["priority"], i["key"], i["value"]),
        ("depq", "Extend"): lambda: DepqExtend(
            (
                (i["priority1"], i["key1"], i["value1"]),
                (i["priority2"], i["key2"], i["value2"]),
            )
        ),
        ("depq", "UpdatePriority"): lambda: DepqUpdatePriority(i["key"], i["priority"]),
        ("depq", "UpdateValue"): lambda: DepqUpdateValue(i["key"], i["value"]),
        ("depq", "CompareExchangeValue"): lambda: DepqCompareExchangeValue(
            i["key"], i["expected"], _opt(a["has_new"], a["new"])
        ),
        ("depq", "RemoveKeys"): lambda: DepqRemoveKeys((i["key1"], i["key2"])),
        ("depq", "RemoveRange"): lambda: DepqRemoveRange(
            _bound(a["start_kind"], a["start"]), _bound(a["end_kind"], a["end"])
        ),
        ("vec", "Clear"): lambda: VecClear(),
        ("vec", "Swap"): lambda: VecSwap(i["i"], i["j"]),
        ("vec", "Insert"): lambda: VecInsert(i["index"], i["value"]),
        ("vec", "PushBack"): lambda: VecPushBack(i["value"]),
        ("vec", "PushFront"): lambda: VecPushFront(i["value"]),
        ("vec", "PopBack"): lambda: VecPopBack(),
        ("vec", "PopFront"): lambda: VecPopFront(),
        ("vec", "Remove"): lambda: VecRemove(i["index"]),
        ("vec", "Truncate"): lambda: VecTruncate(i["len"]),
        ("vec", "Extend"): lambda: VecExtend((i["value1"], i["value2"])),
        ("cell", "Write"): lambda: CellWrite(i["value"]),
        ("cell", "CompareExchange"): lambda: CellCompareExchange(
            _opt(a["has_current"], a["current"]), _opt(a["has_new"], a["new"])
        ),
        ("cell", "Clear"): lambda: CellClear(),
        ("once", "Write"): lambda: OnceWrite(i["value"]),
    }
    build = table[(kind, name)]
    command: Command = build()
    return command


@dataclass(frozen=True, slots=True)
class FoldReplay:
    """What the impl did with a fold counterexample's log."""

    position: int
    """Index of the snapshot position the impl's apply_batch served."""
    batch_end: int
    snapshot_items: tuple[Any, ...]
    prefix_items: tuple[Any, ...]
    """The impl's fold of entries ``1..position``."""
    leader_items: tuple[Any, ...]
    follower_items: tuple[Any, ...]

    @property
    def diverged(self) -> bool:
        """Check if the follower ends with other items than the leader."""
        return self.leader_items != self.follower_items

    @property
    def snapshot_is_prefix(self) -> bool:
        """Check if the served snapshot equals the fold up to its position."""
        return self.snapshot_items == self.prefix_items


def _ctx(committed: Cursor, last: Cursor, term: Term, local: PeerId) -> ApplyContext:
    return ApplyContext(
        committed=committed,
        log_position=last,
        current_term=term,
        local_id=local,
        now_wall_ms=0,
        config=Config(),
    )


def replay_fold(witness: FoldWitness, profile: Profile) -> FoldReplay:
    """Commit the witness's log batch by batch on a serving peer (R6 → S1), install the
    snapshot served at the marked TakeSnapshot on a follower and apply the entries
    after its position; report positions and items.

    Only the marked TakeSnapshot asks on behalf of the follower; the others are the
    serving peer's own requests, which S1 never serves.
    """
    machine = get_collection(witness.kind)
    ask = SnapshotRequest(FOLLOWER, 0)
    own = SnapshotRequest(LEADER, 0)
    entries = [
        LogEntry(
            Term(term),
            impl_command(witness.kind, cmd, ask if i == witness.snapshot_entry else own),
        )
        for i, (term, cmd) in enumerate(witness.entries, start=1)
    ]
    n = len(entries)
    last = Cursor(entries[-1].term, Index(n))
    state = machine.initial()
    committed = Cursor.zero()
    served: PendingRequest | None = None
    batch_end = 0
    for first, end in witness.batches:
        batch = entries[first - 1 : end]
        ctx = _ctx(committed, last, batch[0].term, LEADER)
        state, pending = machine.apply_batch(state, [e.command for e in batch], ctx, profile)
        if first <= witness.snapshot_entry <= end:
            served = pending[0]
            batch_end = end
        committed = Cursor(batch[-1].term, Index(end))
    if served is None:
        raise AssertionError("the marked TakeSnapshot was not served")  # pragma: no cover
    position = served.position.index
    leader_items = machine.items(state)
    prefix = _fold(machine, entries[:position], profile)
    follower = machine.install_snapshot(machine.initial(), served.snapshot)
    for index in range(position + 1, n + 1):
        entry = entries[index - 1]
        ctx = _ctx(Cursor(TERM, Index(index - 1)), last, entry.term, FOLLOWER)
        follower, _ = machine.apply_batch(follower, [entry.command], ctx, profile)
    snapshot_items = machine.items(machine.install_snapshot(machine.initial(), served.snapshot))
    return FoldReplay(
        position=position,
        batch_end=batch_end,
        snapshot_items=snapshot_items,
        prefix_items=prefix,
        leader_items=leader_items,
        follower_items=machine.items(follower),
    )


def _fold(machine: StateMachine, entries: Sequence[LogEntry], profile: Profile) -> tuple[Any, ...]:
    state = machine.initial()
    for i, entry in enumerate(entries):
        ctx = _ctx(Cursor(TERM, Index(i)), Cursor(TERM, Index(len(entries))), entry.term, LEADER)
        state, _ = machine.apply_batch(state, [entry.command], ctx, profile)
    return machine.items(state)


# ---------------------------------------------------------------------------------------------
# Sessions (chunk and inductive counterexamples)


def _item(i: int) -> int:
    return 1000 + i


def _vec_snapshot(n: int) -> Any:
    return VEC.create_snapshot(VEC.apply_one(VEC.initial(), VecExtend(tuple(map(_item, range(n))))))


@dataclass(frozen=True, slots=True)
class SessionReplay:
    """A session state rebuilt from a counterexample, the impl step run on it, and what
    :func:`impl.session.check_session_invariants` says before and after."""

    before: SessionState
    after: SessionState
    effects: tuple[Effect, ...]
    problems_before: tuple[str, ...]
    problems_after: tuple[str, ...]
    ctx: SessionContext
    snapshot: Any

    @property
    def ignored(self) -> bool:
        """Check if the step dropped its input (an ``Ignored`` effect)."""
        return any(isinstance(e, Ignored) for e in self.effects)

    def violates(self, invariant: str) -> bool:
        """Check if the impl's post-state violates ``invariant`` (e.g. ``"I4"``)."""
        return any(p.startswith(f"{invariant}:") for p in self.problems_after)


def _session_ctx(profile: Profile, batch: int, peers: Sequence[PeerId]) -> SessionContext:
    return SessionContext(
        local_id=FOLLOWER,
        leader=LEADER,
        bonds=frozenset([LEADER, *peers]),
        config=Config(fetch_batch_size=max(batch, 1)),
        machine=get_collection("vec"),
        profile=profile,
    )


def _session(
    ctx: SessionContext,
    anchor: Cursor,
    snapshot_len: int,
    gap_start: int,
    available: Sequence[PeerId],
    holders: Sequence[PeerId],
    inflight: dict[PeerId, tuple[int, int]],
    fetched: Sequence[tuple[int, int]],
    snapshot: Any,
) -> SessionState:
    def items(lo: int, hi: int) -> tuple[Any, ...]:
        return tuple(_item(i) for i in range(lo, hi))

    return SessionState(
        leader=LEADER,
        trigger_position=0,
        anchor=anchor,
        snapshot_len=snapshot_len,
        gap_start=gap_start,
        gap_end=snapshot_len,
        anchor_candidates=pmap({anchor: (SnapshotInfo(anchor, snapshot_len), frozenset(holders))}),
        buffered=pvector(),
        terminations=(),
        known_bonds=ctx.bonds,
        available_peers=frozenset(available),
        inflight=pmap({p: PendingFetch(ItemRange(s, e), 10_000) for p, (s, e) in inflight.items()}),
        fetched=pmap({s: (e, items(s, e)) for s, e in fetched}),
        accumulated=ctx.machine.empty_snapshot().append(items(0, gap_start)),
        snapshot_request_deadline_ms=None,
    )


def _replay(ctx: SessionContext, before: SessionState, step: Any, snapshot: Any) -> SessionReplay:
    after, effects = step(before)

    def truth(anchor: Cursor) -> Any:
        return snapshot

    return SessionReplay(
        before=before,
        after=after,
        effects=tuple(effects),
        problems_before=tuple(check_session_invariants(before, truth)),
        problems_after=tuple(check_session_invariants(after, truth)),
        ctx=ctx,
        snapshot=snapshot,
    )


def replay_chunk(witness: ChunkWitness, profile: Profile) -> SessionReplay:
    """Rebuild a ``chunk/schedule`` or ``chunk/drain`` counterexample as an impl session
    (a Vec snapshot of ``snapshot_len`` items) and run Q11 or Q4 on it."""
    anchor = Cursor(TERM, Index(1))
    snapshot = _vec_snapshot(witness.snapshot_len)
    idle, busy, late = (PeerId.from_label(x) for x in ("replay-idle", "replay-busy", "replay-late"))
    ctx = _session_ctx(profile, witness.batch, [idle, busy, late])
    if witness.obligation == "schedule":
        inflight = {busy: witness.inflight[0]}
        before = _session(
            ctx,
            anchor,
            witness.snapshot_len,
            witness.gap_start,
            [idle, busy],
            [idle, busy],
            inflight,
            witness.fetched,
            snapshot,
        )
        return _replay(ctx, before, lambda s: schedule_fetches(s, ctx, 0), snapshot)
    if witness.response is None:
        raise ValueError("a drain witness carries a response")
    offset, count, solicited = witness.response
    inflight = {late: witness.inflight[0]} if solicited else {}
    # An idle provider keeps the rebuilt session able to finish (run_to_completion).
    available = [idle, late] if solicited else [idle]
    before = _session(
        ctx,
        anchor,
        witness.snapshot_len,
        witness.gap_start,
        available,
        available,
        inflight,
        witness.fetched,
        snapshot,
    )
    items = tuple(_item(i) for i in range(offset, offset + count))
    resp = FetchDataResponse(anchor, offset, items)
    return _replay(ctx, before, lambda s: on_fetch_data_response(s, ctx, late, resp, 0), snapshot)


def replay_inductive(witness: InductiveWitness, profile: Profile) -> SessionReplay:
    """Rebuild a counterexample to consecution (its pre-state restricted to the peers and
    ranges it names) as an impl session and run the impl's step with its arguments.

    Supported steps: ``on_fetch_data_response`` and ``schedule_fetches`` (the ones a
    hazard switch breaks).
    """
    pre = witness.pre
    if pre is None or not pre.anchored:
        raise ValueError("replay needs a pre-state with a selected anchor")
    peers = {f.label: PeerId.from_label(f"replay-{f.label}") for f in pre.peers}
    ctx = _session_ctx(profile, pre.batch, list(peers.values()))
    anchor = Cursor(TERM, Index(pre.anchor))
    snapshot = _vec_snapshot(pre.snapshot_len)
    before = _facts_session(ctx, pre, peers, anchor, snapshot)
    params = dict(witness.params)
    if witness.step == "on_fetch_data_response":
        peer = peers[str(params["peer"])]
        offset, count = int(params["offset"]), int(params["count"])
        resp = FetchDataResponse(
            anchor, offset, tuple(_item(i) for i in range(offset, offset + count))
        )
        return _replay(
            ctx, before, lambda s: on_fetch_data_response(s, ctx, peer, resp, 0), snapshot
        )
    if witness.step == "schedule_fetches":
        return _replay(ctx, before, lambda s: schedule_fetches(s, ctx, 0), snapshot)
    raise ValueError(f"no replay for step {witness.step}")


def _facts_session(
    ctx: SessionContext,
    pre: SessionFacts,
    peers: dict[str, PeerId],
    anchor: Cursor,
    snapshot: Any,
) -> SessionState:
    return _session(
        ctx,
        anchor,
        pre.snapshot_len,
        pre.gap_start,
        [peers[f.label] for f in pre.peers if f.available],
        [peers[f.label] for f in pre.peers if f.holds_anchor],
        {peers[f.label]: f.inflight for f in pre.peers if f.inflight is not None},
        pre.fetched,
        snapshot,
    )


def run_to_completion(replay: SessionReplay, *, max_polls: int = 64) -> tuple[bool, str | None]:
    """Continue a replayed session with honest peers: answer every request in flight with
    the snapshot's items and poll, until it completes or stops changing.

    Returns ``(completed, dead state)``: whether Q12 ran, and impl's L2 verdict
    (:func:`impl.session.dead_state`) where it stopped, if it stalled.
    """
    ctx, s = replay.ctx, replay.after
    now = 1
    for _ in range(max_polls):
        s, _, ready = session_poll(s, ctx, now)
        if ready is not None:
            return True, None
        progressed = False
        for peer, pending in sorted(s.inflight.items(), key=lambda kv: kv[0].raw):
            r = pending.range
            items = replay.snapshot.iter_range(ItemRange(r.start, min(r.end, len(replay.snapshot))))
            if s.anchor is None or items is None:
                continue
            resp = FetchDataResponse(s.anchor, r.start, items)
            s, _ = on_fetch_data_response(s, ctx, peer, resp, now)
            progressed = True
        if not progressed and not is_sync_complete(s):
            return False, dead_state(s, ctx)
        now += 1
    return is_sync_complete(s), dead_state(s, ctx)


# ---------------------------------------------------------------------------------------------
# Buffer


@dataclass(frozen=True, slots=True)
class BufferReplay:
    """What the impl did with a buffer counterexample's run."""

    anchor: Cursor | None
    """The impl's selected anchor after the run."""
    complete: bool
    panic: HazardPanic | None
    """The HazardPanic finalize raised (H3)."""
    committed: Cursor | None
    """The SetCommitted finalize emitted."""
    kept: tuple[int, ...]
    ignored: tuple[Ignored, ...]
    """Offers and other inputs the impl ignored on the way."""


def replay_buffer(witness: BufferWitness, profile: Profile) -> BufferReplay:
    """Run the witness's events through impl.session (offers carry empty snapshots, so a
    selected anchor is complete at once) and finalize if the session is complete."""
    offerer = PeerId.from_label("replay-provider")
    ctx = SessionContext(
        local_id=FOLLOWER,
        leader=LEADER,
        bonds=frozenset([LEADER, offerer]),
        config=Config(),
        machine=get_collection("vec"),
        profile=profile,
    )

    def entries(count: int) -> tuple[LogEntry, ...]:
        return tuple(LogEntry(TERM, VecPushBack(i)) for i in range(count))

    s, effects = session_new(
        ctx, Cursor(TERM, Index(witness.trigger)), Index(0), entries(witness.initial_entries), 0
    )
    seen: list[Effect] = list(effects)
    for step, args in witness.events:
        if step == "buffer":
            s, effects = buffer(s, ctx, Cursor(TERM, Index(args[0])), entries(args[1]))
        elif step == "on_snapshot_offer":
            info = SnapshotInfo(Cursor(TERM, Index(args[0])), 0)
            s, effects = on_snapshot_offer(s, ctx, offerer, info, 0)
        else:
            s, effects = try_select_anchor(s, ctx), ()
        seen += effects
    ignored = tuple(e for e in seen if isinstance(e, Ignored))
    kept = tuple(int(i) for i, _, _ in s.buffered if s.anchor is not None and i > s.anchor.index)
    if not is_sync_complete(s):
        return BufferReplay(s.anchor, False, None, None, kept, ignored)
    try:
        _, effects, _ = finalize_sync(s, ctx)
    except HazardPanic as panic:
        return BufferReplay(s.anchor, True, panic, None, kept, ignored)
    committed = next((e.cursor for e in effects if isinstance(e, SetCommitted)), None)
    return BufferReplay(s.anchor, True, None, committed, kept, ignored)
