"""Safety invariants I1–I16 (inventory §4.1) as named predicates over the global state.

Each invariant is a function ``check_iN_<name>(cx) -> list[Violation]`` over a
:class:`CheckContext`: the transition just taken (worlds before and after, what
was sent and delivered), the ghost history ``L`` and the oracle ``Apply(k)``.
Most are state predicates over the world *after* the step; a few are
predicates over the step itself (I7, I8, I10 at a finalize; I11, I12, I15 compare
the worlds before and after), which is how a history variable would state them.
The session-local ones (I4, I6, and I7's inductive form) reuse
:func:`impl.session.check_session_invariants`.

Every check looks only at what the step changed (the nodes whose state object
changed, the messages it sent or delivered) and memoises per snapshot object,
so a run of n items costs O(n) checking overall, not O(n) per step.

Ids beyond the inventory's: ``FRESH`` (the reference's inductive strengthening
of I7: an anchor is never below the session's trigger position or a gap in its
buffer); Raft's five safety properties (the Raft paper's Figure 3, raft.tla), stated
for logs that are pruned and reset by snapshots (docs/model.md, "Raft's safety"):
``RAFT-ES`` (election safety: one leader per term), ``RAFT-LAO`` (leader append-only:
a leader never overwrites or deletes an entry of its log), ``RAFT-LM`` (log matching:
two logs that hold an entry of the same index and term hold the same entries up to it),
``RAFT-LC`` (leader completeness: a new leader holds every committed entry),
``RAFT-SM`` (state machine safety: a leader never commits an entry other than ``L``'s
at an index; found by I9's divergence check at a leader); Raft's liveness assumptions
``RAFT-STABLE`` (a follower stands for election only when its leader went quiet and it
is not catching up) and ``RAFT-COMMITTEE`` (the leader is a voter of its own committee);
``PANIC`` (a step
raised mosaik's panic: H3's is reported as I7) and ``STEP`` (a step rejected the
state it was given with ``InvalidState``, or the model reached a state a step's
precondition excludes: a catch-up session whose node knows no leader, inventory H21).
The provider-lifetime checks ``PROV-SERVE``, ``PROV-TTL``, ``PROV-EXPIRY`` and
``PROV-OFFER`` (P3–P5 over a provider's life) live in :mod:`spec.model.lifetime`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from impl.effects import InstallSnapshot, SetCommitted
from impl.errors import InvalidInput
from impl.messages import AppendEntries, FetchDataResponse, SnapshotOffer
from impl.node_state import CandidateRole, FollowerRole, LeaderRole, NodeState, Preference
from impl.session import check_session_invariants
from impl.session_state import SessionState
from impl.types import Cursor, Index, ItemRange
from spec.model.actions import NodeOutcome, Transition, machine_for, next_deadline_of
from spec.model.ghost import Ghost, Oracle
from spec.model.host import HostedNode
from spec.model.lifetime import (
    check_prov_expiry,
    check_prov_offer,
    check_prov_serve,
    check_prov_ttl,
)
from spec.model.liveness import check_l2_dead_session
from spec.model.state import NodeSlot, World, WorldSetup

__all__ = [
    "INVARIANTS",
    "BranchChecker",
    "CheckContext",
    "CheckHistory",
    "Checker",
    "Invariant",
    "Violation",
]


@dataclass(frozen=True, slots=True)
class Violation:
    """One invariant violation: which invariant, where, what, and at which step."""

    id: str
    """Invariant id (``I1``–``I16``, ``L1``–``L5``, ``FRESH``, ``RAFT-ES``, ``RAFT-LAO``,
    ``RAFT-LM``, ``RAFT-LC``, ``RAFT-SM``, ``RAFT-STABLE``, ``RAFT-COMMITTEE``, ``PANIC``,
    ``STEP``)."""
    node: str | None
    """The node it concerns, if one."""
    detail: str
    """What is wrong, with the values involved."""
    step: int | None = None
    """The step after which it was found (set by the driver)."""

    def at(self, step: int) -> Violation:
        """Return a copy found after step ``step``."""
        return Violation(self.id, self.node, self.detail, step)

    def as_json(self) -> dict[str, Any]:
        """Return the JSON form (trace lines, CLI output)."""
        return {"id": self.id, "node": self.node, "detail": self.detail, "step": self.step}


@dataclass(slots=True)
class _Memo:
    """Per-run caches of the checker (what was already verified)."""

    snapshots: dict[int, Any] = field(default_factory=dict)
    """id → snapshot object, for snapshots checked by I1/I3 (kept alive so ids stay unique)."""
    verified_states: dict[int, tuple[Any, int]] = field(default_factory=dict)
    """id(state) → (state, index) for collection states known equal to Apply(index) (I9)."""
    prefix: dict[str, tuple[Cursor, int]] = field(default_factory=dict)
    """Per node: (anchor, items of ``accumulated`` already verified) (I5)."""
    run_ends: dict[str, set[int]] = field(default_factory=dict)
    """Per node: every index at which one of its apply runs ended (I15)."""
    sessions: dict[str, tuple[int, frozenset[Cursor]]] = field(default_factory=dict)
    """Per node: (upgrades, anchors ever offered) of its current session (L5)."""
    seen_offers: dict[int, Any] = field(default_factory=dict)
    """id → ``provider.available`` map whose snapshots are all in ``snapshots`` already
    (kept alive so ids stay unique): a step that left it unchanged has nothing new."""
    terms: dict[str, tuple[Any, int, bool]] = field(default_factory=dict)
    """Per node: (log, index, whether ``log.term_at(index)`` is defined) last seen (I16)."""
    logs: dict[str, Any] = field(default_factory=dict)
    """Per node: the last log whose every stored entry was checked (RAFT-LM)."""
    heard: dict[str, tuple[int, int, int, int]] = field(default_factory=dict)
    """Per node: (incarnation, term, time, shortest election timeout) of the last
    AppendEntries of its term it handled as a follower (RAFT-STABLE)."""


@dataclass(frozen=True, slots=True)
class _NewSnapshot:
    """A snapshot that appeared at a provider: where, at which anchor, and its items."""

    name: str
    anchor: Cursor
    snapshot: Any
    items: tuple[Any, ...] | None


@dataclass(slots=True)
class CheckContext:
    """What every invariant sees: one transition, the ghost oracle and the memo."""

    t: Transition
    oracle: Oracle
    memo: _Memo
    changed: tuple[str, ...]
    """Nodes whose impl state (or status) changed in this step, sorted."""
    new_snapshots: list[_NewSnapshot]
    """Snapshots on offer at changed nodes, not seen by any earlier step (I1, I3)."""
    before: World = field(init=False)
    """The world before the step (``t.before``)."""
    after: World = field(init=False)
    """The world after the step (``t.after``)."""
    _outcomes: dict[str, list[NodeOutcome]] | None = field(default=None, init=False)
    _finalized: dict[str, bool] = field(default_factory=dict, init=False)
    _session_list: list[tuple[str, SessionState]] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        # Every check reads these many times per step: plain fields, not properties.
        self.before = self.t.before
        self.after = self.t.after

    def node(self, name: str) -> NodeState:
        """Return node ``name``'s state after the step."""
        return self.after.nodes[name].node

    def old(self, name: str) -> NodeState | None:
        """Return node ``name``'s state before the step (None if it did not exist)."""
        slot = self.before.nodes.get(name)
        return None if slot is None else slot.node

    def same_life(self, name: str) -> bool:
        """Check if ``name`` existed before the step with the same incarnation."""
        old = self.before.nodes.get(name)
        return old is not None and old.incarnation == self.after.nodes[name].incarnation

    def outcomes(self, name: str) -> list[NodeOutcome]:
        """Return the impl steps this transition ran at ``name``."""
        by_name = self._outcomes
        if by_name is None:
            by_name = self._outcomes = {}
            for o in self.t.outcomes:
                by_name.setdefault(o.name, []).append(o)
        return list(by_name.get(name, ()))

    def finalized(self, name: str) -> bool:
        """Check if a session finalized (Q12) at ``name`` in this step."""
        done = self._finalized.get(name)
        if done is None:
            done = self._finalized[name] = any(
                isinstance(e, InstallSnapshot) for o in self.outcomes(name) for e in o.effects
            )
        return done

    def reference(self, index: int) -> tuple[Any, ...] | None:
        """Return the items of ``Apply(index)``, or None if ``L`` is shorter than ``index``."""
        ghost = self.after.ghost
        if index > ghost.committed_len():
            return None
        return self.oracle.items_at(ghost, index)


def _v(inv: str, node: str | None, detail: str) -> Violation:
    return Violation(inv, node, detail)


def _snapshot_items(snapshot: Any) -> tuple[Any, ...] | None:
    got = snapshot.iter_range(ItemRange(0, len(snapshot)))
    return None if got is None else tuple(got)


# -- I1–I3: provider snapshots ---------------------------------------------------------------


def _new_snapshots(world: World, changed: Iterable[str], memo: _Memo) -> list[_NewSnapshot]:
    """Return the snapshots on offer at changed nodes that no check has seen yet."""
    out: list[_NewSnapshot] = []
    for name in changed:
        available = world.nodes[name].node.provider.available
        if memo.seen_offers.get(id(available)) is available:
            continue  # every snapshot of this very map was seen (Checker.check marks it)
        for anchor, entry in sorted(available.items()):
            if id(entry.snapshot) in memo.snapshots:
                continue
            out.append(_NewSnapshot(name, anchor, entry.snapshot, _snapshot_items(entry.snapshot)))
    return out


def check_i1_snapshot_correctness(cx: CheckContext) -> list[Violation]:
    """I1: every snapshot on offer at ``(t, i)`` equals ``Apply(i)`` and ``L[i].term == t``.

    Violated by H4 (DEPQ: the position undercounts, the content does not).
    Checked once per snapshot object, when it first appears at a provider.
    """
    out: list[Violation] = []
    for new in cx.new_snapshots:
        name, anchor, snapshot, have = new.name, new.anchor, new.snapshot, new.items
        term = cx.after.ghost.term_at(int(anchor.index))
        if term is None:
            out.append(_v("I1", name, f"snapshot at {anchor} lies beyond the committed log"))
            continue
        if term != int(anchor.term):
            out.append(
                _v("I1", name, f"snapshot at {anchor} but L[{anchor.index}] has term {term}")
            )
        want = cx.reference(int(anchor.index))
        if have != want:
            out.append(
                _v(
                    "I1",
                    name,
                    f"snapshot at {anchor} ({len(snapshot)} items) differs from "
                    f"Apply({anchor.index}) ({len(want or ())} items)",
                )
            )
    return out


def _iter_range_contract(
    name: str, anchor: Cursor, snapshot: Any, full: tuple[Any, ...] | None, batch: int
) -> list[Violation]:
    """I3 on one snapshot: exact counts in bounds, None beyond, partitions concatenate."""
    out: list[Violation] = []
    n = len(snapshot)
    where = f"snapshot at {anchor} ({n} items)"
    if full is None or len(full) != n:
        out.append(_v("I3", name, f"{where}: iter_range[0,{n}) is not {n} items"))
        return out
    beyond = snapshot.iter_range(ItemRange(0, n + 1))
    if beyond is not None:
        out.append(_v("I3", name, f"{where}: iter_range[0,{n + 1}) is not None"))
    tail = snapshot.iter_range(ItemRange(n, n + 1))
    if tail is not None:
        out.append(_v("I3", name, f"{where}: iter_range[{n},{n + 1}) is not None"))
    empty = snapshot.iter_range(ItemRange(n, n))
    if empty is None or len(tuple(empty)) != 0:
        out.append(_v("I3", name, f"{where}: the empty range at the end is not ()"))
    joined: list[Any] = []
    for start in range(0, n, batch):
        chunk = snapshot.iter_range(ItemRange(start, min(start + batch, n)))
        if chunk is None:
            out.append(_v("I3", name, f"{where}: chunk at {start} is None"))
            return out
        joined.extend(chunk)
    if tuple(joined) != full:
        out.append(_v("I3", name, f"{where}: the chunks of {batch} do not concatenate to it"))
    return out


def check_i2_anchor_agreement(cx: CheckContext) -> list[Violation]:
    """I2: every chunk served for an anchor is that anchor's canonical sequence.

    Checked on the wire: each ``FetchDataResponse`` queued in this step must equal
    ``Seq(Apply(anchor.index))[offset : offset + len(items)]`` and each
    ``SnapshotOffer`` must carry ``len(Apply(anchor.index))``, so providers that
    hold the same anchor agree item for item (H13 breaks it).
    """
    out: list[Violation] = []
    for item in cx.t.sent:
        message = item.message
        if isinstance(message, FetchDataResponse):
            ref = cx.reference(int(message.anchor.index))
            if ref is None:
                continue  # an anchor beyond L: I14 reports it at delivery
            end = message.offset + len(message.items)
            if end > len(ref) or tuple(message.items) != ref[message.offset : end]:
                out.append(
                    _v(
                        "I2",
                        item.src,
                        f"chunk [{message.offset},{end}) of {message.anchor} sent to {item.dst} "
                        "differs from the anchor's canonical items",
                    )
                )
        elif isinstance(message, SnapshotOffer):
            ref = cx.reference(int(message.info.anchor.index))
            if ref is not None and message.info.items_count != len(ref):
                out.append(
                    _v(
                        "I2",
                        item.src,
                        f"offer of {message.info.anchor} says {message.info.items_count} items, "
                        f"the anchor has {len(ref)}",
                    )
                )
    return out


def check_i3_iter_range(cx: CheckContext) -> list[Violation]:
    """I3: ``iter_range(r)`` is None iff ``r.end > len``, else exactly ``len(r)`` items, and
    the chunks of a partition into ``fetch_batch_size`` pieces concatenate to the sequence.

    Checked once per snapshot object, when it first appears at a provider
    (Cell/Once under H28 return their item for ranges past the end).
    """
    out: list[Violation] = []
    batch = cx.after.setup.config.fetch_batch_size
    for new in cx.new_snapshots:
        out.extend(_iter_range_contract(new.name, new.anchor, new.snapshot, new.items, batch))
    return out


# -- I4–I7: the session -----------------------------------------------------------------------


def _sessions(cx: CheckContext) -> Iterable[tuple[str, SessionState]]:
    """Return ``(name, session)`` of the changed up nodes with a session (once per step)."""
    found = cx._session_list
    if found is None:
        found = cx._session_list = []
        for name in cx.changed:
            slot = cx.after.nodes[name]
            session = slot.node.catchup
            if session is not None and slot.up:
                found.append((name, session))
    return found


_SESSION_FIELDS = (
    "anchor",
    "snapshot_len",
    "gap_start",
    "gap_end",
    "anchor_candidates",
    "available_peers",
    "inflight",
    "fetched",
    "accumulated",
    "trigger_position",
    "min_anchor",
)
"""The session fields the session invariants read, besides ``buffered``."""


def _only_buffered_grew(old: SessionState, new: SessionState) -> bool:
    """Check if ``new`` is ``old`` with entries appended to ``buffered`` (nothing else the
    invariants read changed), so only the new entries need checking."""
    if any(getattr(old, f) is not getattr(new, f) for f in _SESSION_FIELDS):
        return False
    n = len(old.buffered)
    return len(new.buffered) >= n and (n == 0 or new.buffered[n - 1] is old.buffered[-1])


def check_i4_i6_session(cx: CheckContext) -> list[Violation]:
    """I4 (chunk disjointness), I6 (peer bookkeeping), I7's inductive form and FRESH,
    per session (:func:`impl.session.check_session_invariants`).

    When a step only appended buffered entries to a session that was checked
    before, only the appended entries are checked (I7: they continue the kept
    entries contiguously), which keeps the check O(1) per AppendEntries.
    """
    out: list[Violation] = []
    for name, session in _sessions(cx):
        old = cx.old(name)
        previous = old.catchup if old is not None and cx.same_life(name) else None
        if previous is session:
            continue
        if previous is not None and _only_buffered_grew(previous, session):
            out.extend(_buffered_tail(name, previous, session))
            continue
        for problem in check_session_invariants(session):
            inv, _, detail = problem.partition(":")
            out.append(_v(inv.strip(), name, detail.strip()))
    return out


def _buffered_tail(name: str, old: SessionState, new: SessionState) -> list[Violation]:
    """I7 on entries appended after the anchor: each continues the one before it."""
    anchor = new.anchor
    if anchor is None:
        return []
    expected = int(anchor.index) + 1
    kept_before = [e[0] for e in old.buffered[-1:] if e[0] > anchor.index]
    if kept_before:
        expected = int(kept_before[0]) + 1
    for index, _, _ in new.buffered[len(old.buffered) :]:
        if index <= anchor.index:
            continue
        if index != expected:
            return [_v("I7", name, f"buffered index {index} where {expected} was expected")]
        expected += 1
    return []


def check_i5_exactly_once_prefix(cx: CheckContext) -> list[Violation]:
    """I5: ``accumulated == Seq(snapshot@anchor)[0 : gap_start]`` (checked incrementally)."""
    out: list[Violation] = []
    for name, session in _sessions(cx):
        anchor, gap = session.anchor, session.gap_start
        if anchor is None or gap is None:
            cx.memo.prefix.pop(name, None)
            continue
        ref = cx.reference(int(anchor.index))
        if ref is None:
            continue  # an anchor beyond L: I14 reports it
        acc = session.accumulated
        have_len = len(acc)
        prev_anchor, done = cx.memo.prefix.get(name, (anchor, 0))
        if prev_anchor != anchor or done > have_len:
            done = 0
        want_len = min(gap, len(ref)) if gap <= len(ref) else gap
        if have_len != gap:
            out.append(_v("I5", name, f"accumulated has {have_len} items but gap starts at {gap}"))
            cx.memo.prefix[name] = (anchor, 0)
            continue
        if gap > len(ref):
            out.append(_v("I5", name, f"gap starts at {gap}, beyond the anchor's {len(ref)} items"))
            cx.memo.prefix[name] = (anchor, 0)
            continue
        if want_len > done:
            got = acc.iter_range(ItemRange(done, want_len))
            if got is None or tuple(got) != ref[done:want_len]:
                out.append(
                    _v("I5", name, f"accumulated [{done},{want_len}) differs from {anchor}'s items")
                )
                cx.memo.prefix[name] = (anchor, 0)
                continue
        cx.memo.prefix[name] = (anchor, want_len)
    return out


def check_i7_anchor_validity(cx: CheckContext) -> list[Violation]:
    """I7: at finalize, the buffered entries after the anchor are ``anchor+1, anchor+2, …``.

    Checked on the session as it was just before a Q12 (or a Q12 that panicked:
    mosaik's ``assert_eq!`` at session.rs:662, hazard H3).
    """
    out: list[Violation] = []
    for o in cx.t.outcomes:
        if o.panic is not None and o.panic.hazard == "H3":
            out.append(_v("I7", o.name, f"finalize panicked (H3): {o.panic.detail}"))
    for name in cx.changed:
        if not cx.finalized(name):
            continue
        old = cx.old(name)
        session = old.catchup if old is not None else None
        if session is None or session.anchor is None:
            continue
        expected = int(session.anchor.index) + 1
        for index, _, _ in session.buffered:
            if index <= session.anchor.index:
                continue
            if index != expected:
                out.append(_v("I7", name, f"kept buffered index {index}, expected {expected}"))
                break
            expected += 1
    return out


# -- I8–I12: nodes ----------------------------------------------------------------------------


def check_i8_post_finalize(cx: CheckContext) -> list[Violation]:
    """I8: right after Q12: state = Apply(anchor), committed = anchor, the log is reset to the
    anchor, and every appended buffered entry is the entry a leader appended there."""
    out: list[Violation] = []
    for name in cx.changed:
        if not cx.finalized(name):
            continue
        old = cx.old(name)
        session = old.catchup if old is not None else None
        if session is None or session.anchor is None:
            continue
        anchor = session.anchor
        node = cx.node(name)
        machine = machine_for(cx.after.setup.kind)
        ref = cx.reference(int(anchor.index))
        if ref is None:
            out.append(_v("I8", name, f"installed at {anchor}, beyond the committed log"))
        elif tuple(machine.items(node.sm)) != ref:
            out.append(_v("I8", name, f"installed state differs from Apply({anchor.index})"))
        if node.committed != anchor:
            out.append(_v("I8", name, f"committed {node.committed} after finalize at {anchor}"))
        if node.log.term_at(int(anchor.index)) != anchor.term:
            out.append(_v("I8", name, f"log term at {anchor.index} is not {anchor.term}"))
        for k, entry in enumerate(node.log.entries):
            index = int(node.log.offset) + 1 + k
            known = cx.after.ghost.appended_entry(Cursor(entry.term, Index(index)))
            if known is None or known.command != entry.command:
                out.append(_v("I8", name, f"appended entry {index} (t:{entry.term}) is unknown"))
                break
    return out


def _derived(cx: CheckContext, state: Any, k: int) -> bool:
    """Check if ``state`` was produced by applying exactly ``L[k0+1..k]`` to a state already
    verified equal to ``Apply(k0)`` (provenance of the memoised machine, :mod:`spec.model.memo`)."""
    machine = machine_for(cx.after.setup.kind)
    provenance = getattr(machine, "provenance", None)
    if provenance is None:
        return False
    batches: list[tuple[Any, ...]] = []
    current = state
    for _ in range(64):
        known = cx.memo.verified_states.get(id(current))
        if known is not None and known[0] is current:
            k0 = known[1]
            commands = [c for batch in reversed(batches) for c in batch]
            if k0 + len(commands) != k or k > cx.after.ghost.committed_len():
                return False
            log = cx.after.ghost.committed[k0:k]
            return all(entry.command is c for entry, c in zip(log, commands, strict=True))
        got = provenance(current)
        if got is None:
            return False
        current, batch = got
        batches.append(batch)
    return False


def _verified(cx: CheckContext, state: Any, k: int) -> None:
    cx.memo.verified_states[id(state)] = (state, k)
    cx.oracle.adopt(k, state)
    if len(cx.memo.verified_states) > 512:
        cx.memo.verified_states.pop(next(iter(cx.memo.verified_states)))


def check_i9_replication_equivalence(cx: CheckContext) -> list[Violation]:
    """I9: a node whose committed index is k holds Apply(k); committed cursors agree with L.

    A state derived from a verified one by applying exactly the next entries of
    ``L`` is verified by that derivation (``apply_batch`` is pure); any other state
    is compared item by item with the oracle's ``Apply(k)``.
    """
    out: list[Violation] = []
    for name, divergence in cx.t.divergences:
        node = cx.after.nodes[name].node
        # A leader's own commit that contradicts L: two entries committed at one index
        # (Raft's state machine safety). A follower only commits what its leader did.
        ident = "RAFT-SM" if node.leader == node.id else "I9"
        out.append(_v(ident, name, f"committed {divergence.cursor}: {divergence.reason}"))
    machine = machine_for(cx.after.setup.kind)
    for name in cx.changed:
        node = cx.after.nodes[name].node
        old = cx.old(name)
        if old is not None and old.sm is node.sm and old.committed == node.committed:
            continue
        k = int(node.committed.index)
        known = cx.memo.verified_states.get(id(node.sm))
        if known is not None and known[0] is node.sm and known[1] == k:
            continue
        if _derived(cx, node.sm, k):
            _verified(cx, node.sm, k)
            continue
        ref = cx.reference(k)
        if ref is None:
            continue  # reported as a divergence above
        if tuple(machine.items(node.sm)) != ref:
            out.append(
                _v("I9", name, f"state at committed {node.committed} differs from Apply({k})")
            )
            continue
        _verified(cx, node.sm, k)
    return out


def check_i10_no_gap_no_duplicate(cx: CheckContext) -> list[Violation]:
    """I10: a node's state reflects each of ``L[1..committed]`` exactly once.

    At an install the snapshot must reflect exactly ``[1..anchor]``: if it equals
    ``Apply(j)`` for a ``j > anchor``, entries ``(anchor, j]`` will be applied a
    second time (H4). Elsewhere ``committed`` may only move by applying entries:
    a ``SetCommitted`` without an install skips them.
    """
    out: list[Violation] = []
    machine = machine_for(cx.after.setup.kind)
    ghost = cx.after.ghost
    for name in cx.changed:
        effects = [e for o in cx.outcomes(name) for e in o.effects]
        installs = any(isinstance(e, InstallSnapshot) for e in effects)
        sets = [e for e in effects if isinstance(e, SetCommitted)]
        if sets and not installs:
            out.append(_v("I10", name, f"committed set to {sets[-1].cursor} without an install"))
        if not installs:
            continue
        node = cx.node(name)
        a = int(node.committed.index)
        have = tuple(machine.items(node.sm))
        if cx.reference(a) == have:
            continue
        for j in range(a + 1, min(a + 64, ghost.committed_len()) + 1):
            if cx.oracle.items_at(ghost, j) == have:
                out.append(
                    _v(
                        "I10",
                        name,
                        f"snapshot installed at {a} reflects entries up to {j}: "
                        f"({a}, {j}] will be applied twice",
                    )
                )
                break
        else:
            out.append(
                _v("I10", name, f"snapshot installed at {a} reflects no prefix of L near it")
            )
    return out


def check_i11_monotonic_commit(cx: CheckContext) -> list[Violation]:
    """I11: a node's committed index never decreases (finalize's ``set_committed`` included)."""
    out: list[Violation] = []
    for name in cx.changed:
        old = cx.old(name)
        if old is None or not cx.same_life(name):
            continue
        new = cx.node(name).committed
        if new.index < old.committed.index:
            out.append(_v("I11", name, f"committed went back from {old.committed} to {new}"))
    return out


def check_i12_no_apply_during_catchup(cx: CheckContext) -> list[Violation]:
    """I12: while a session exists, ``commit_up_to`` is not called on that node (only Q12
    may move ``committed`` or the state)."""
    out: list[Violation] = []
    for name in cx.changed:
        old = cx.old(name)
        if old is None or old.catchup is None or not cx.same_life(name):
            continue
        if cx.finalized(name):
            continue
        new = cx.node(name)
        if new.term != old.term:
            continue  # a step-down dropped the session first (R10)
        if new.committed != old.committed or new.sm is not old.sm:
            out.append(
                _v(
                    "I12",
                    name,
                    f"applied during catch-up: committed {old.committed} → {new.committed}",
                )
            )
    return out


# -- I13–I16: providers, positions, pruning ---------------------------------------------------


def check_i13_provider_hygiene(cx: CheckContext) -> list[Violation]:
    """I13: offers only to other peers' fresh requests; responses answer exactly their request.

    * a ``SnapshotOffer`` from p to q needs a TakeSnapshot by q in ``L[1..anchor]``
      that is fresh by p's wall clock now (``|now_w − requested_at| ≤ ttl``);
    * a delivered ``FetchDataResponse`` has ``offset == range.start`` of the request
      it answers and ``min(len(range), batch)`` items (unsolicited ones violate it).
    """
    out: list[Violation] = []
    setup = cx.after.setup
    ttl = setup.config.snapshot_ttl_ms
    for dropped in cx.t.dropped:
        if isinstance(dropped.message, SnapshotOffer) and dropped.src == dropped.dst:
            out.append(_v("I13", dropped.src, "offer to itself"))
    for item in cx.t.sent:
        if not isinstance(item.message, SnapshotOffer):
            continue
        anchor = item.message.info.anchor
        requester = cx.after.nodes[item.dst].peer
        wall = cx.after.wall_ms(item.src)
        requests = cx.after.ghost.requests_by(requester, int(anchor.index))
        if not any(abs(wall - r.requested_at_ms) <= ttl for _, r in requests):
            out.append(
                _v("I13", item.src, f"offer of {anchor} to {item.dst} without a fresh request")
            )
    batch = setup.config.fetch_batch_size
    for item in cx.t.delivered:
        message = item.message
        if not isinstance(message, FetchDataResponse):
            continue
        request = item.in_reply_to
        if request is None:
            out.append(
                _v("I13", item.src, f"unsolicited FetchDataResponse {item.mid} to {item.dst}")
            )
            continue
        want = min(len(request.range), batch)
        if message.offset != request.range.start or len(message.items) != want:
            out.append(
                _v(
                    "I13",
                    item.src,
                    f"response {item.mid} has offset {message.offset} and {len(message.items)} "
                    f"items for request {request.range} (want offset {request.range.start}, "
                    f"{want} items)",
                )
            )
    return out


def check_i14_anchor_term(cx: CheckContext) -> list[Violation]:
    """I14: every offered anchor ``(t, i)`` is a committed position with ``L[i].term == t``."""
    out: list[Violation] = []
    for item in cx.t.delivered:
        if not isinstance(item.message, SnapshotOffer):
            continue
        anchor = item.message.info.anchor
        term = cx.after.ghost.term_at(int(anchor.index))
        if term is None:
            out.append(_v("I14", item.src, f"offer of {anchor}: beyond the committed log"))
        elif term != int(anchor.term):
            out.append(_v("I14", item.src, f"offer of {anchor}: L[{anchor.index}] has term {term}"))
    return out


def _run_ends(ghost: Ghost, c0: int, c1: int) -> set[int]:
    """Return the indices in ``(c0, c1]`` where an apply run of equal term ends (R6)."""
    ends = {c1}
    entries = ghost.committed[c0:c1]
    previous = None
    for k, entry in enumerate(entries):
        if previous is not None and entry.term != previous:
            ends.add(c0 + k)  # the run before this entry ended at index c0 + k
        previous = entry.term
    return ends


def check_i15_position_arithmetic(cx: CheckContext) -> list[Violation]:
    """I15: a snapshot's position is the end of the apply run that took it
    (``committed before the run + |run|``); DEPQ's H4 undercounts it."""
    out: list[Violation] = []
    ghost = cx.after.ghost
    for name in cx.changed:
        old = cx.old(name)
        node = cx.node(name)
        ends = cx.memo.run_ends.setdefault(name, set())
        if old is None or not cx.same_life(name):
            ends.clear()
        advanced = old is not None and node.committed.index > old.committed.index
        if old is not None and advanced and cx.same_life(name) and not cx.finalized(name):
            ends.update(_run_ends(ghost, int(old.committed.index), int(node.committed.index)))
        positions = [p.position for p in node.provider.requests]
        if old is not None:
            if node.provider.available is not old.provider.available:
                available = old.provider.available
                positions += [a for a in node.provider.available if a not in available]
        else:
            positions += list(node.provider.available)
        for position in positions:
            if int(position.index) not in ends:
                out.append(
                    _v("I15", name, f"snapshot position {position} is not the end of an apply run")
                )
    return out


def check_i16_pruning(cx: CheckContext) -> list[Violation]:
    """I16: after R7, ``offset <= committed.index - 1`` and ``term_at(committed.index)`` is
    defined; after a finalize (no R7, H22) the offset may equal ``committed``."""
    out: list[Violation] = []
    terms = cx.memo.terms
    for name in cx.changed:
        node = cx.node(name)
        c = int(node.committed.index)
        known = terms.get(name)
        if known is not None and known[0] is node.log and known[1] == c:
            defined = known[2]  # the same (immutable) log and index as last time
        else:
            defined = node.log.term_at(c) is not None
            terms[name] = (node.log, c, defined)
        if not defined:
            out.append(_v("I16", name, f"term_at(committed {c}) is undefined"))
        old = cx.old(name)
        advanced = old is not None and cx.same_life(name) and c > old.committed.index
        if advanced and not cx.finalized(name) and c > 0 and node.log.offset > c - 1:
            out.append(_v("I16", name, f"log offset {node.log.offset} > committed − 1 = {c - 1}"))
    return out


# -- extras: Raft, panics, refused steps --------------------------------------------------------


def check_raft_election_safety(cx: CheckContext) -> list[Violation]:
    """RAFT-ES (election safety): at most one leader per term (the ghost records the first
    one seen leading each term)."""
    out: list[Violation] = []
    for name in cx.changed:
        node = cx.node(name)
        if node.leader == node.id and cx.after.nodes[name].up:
            first = cx.after.ghost.leaders.get(int(node.term))
            if first is not None and first != name:
                detail = f"second leader of term {node.term} (first: {first})"
                out.append(_v("RAFT-ES", name, detail))
    return out


def check_raft_leader_append_only(cx: CheckContext) -> list[Violation]:
    """RAFT-LAO (leader append-only): while a node leads a term, its log only grows.

    Judged at every step that changes the log of a node that led the same term in the
    same life before the step and still leads it: the new log ends at or after the old
    end, and every old entry it still stores (pruning R7 gives up the committed prefix,
    which is not a deletion) is the same entry. A :class:`~impl.logstore.LogStore` changes
    an entry only by truncating, which drops the old last entry, so comparing the entry
    at the old end is exact.
    """
    out: list[Violation] = []
    for name in cx.changed:
        node = cx.node(name)
        old = cx.old(name)
        if old is None or old.log is node.log or not cx.same_life(name):
            continue
        if old.leader != old.id or node.leader != node.id or old.term != node.term:
            continue
        if not cx.after.nodes[name].up:
            continue
        end = int(old.log.end())
        if node.log.end() < end:
            detail = f"leads term {node.term}: its log ended at {end}, now at {node.log.end()}"
            out.append(_v("RAFT-LAO", name, detail))
            continue
        was, now = old.log.get(end), node.log.get(end)
        if was is not None and now is not None and now is not was and now != was:
            detail = (
                f"leads term {node.term}: entry {end} of term {was.term} was replaced by "
                f"one of term {now.term}"
            )
            out.append(_v("RAFT-LAO", name, detail))
    return out


def check_raft_log_matching(cx: CheckContext) -> list[Violation]:
    """RAFT-LM (log matching): two logs holding an entry of the same index and term hold
    the same entries up to that index.

    Logs are pruned (R7) and reset to a snapshot's anchor (Q12), so two logs alive at one
    instant share few entries; the check compares each log with the ghost's record of
    what every leader appended (:meth:`~spec.model.ghost.Ghost.appended_with_prev`),
    which stands for every log that ever held an entry. Every entry ``(t, i)`` a node
    stores must be the entry the leader of term ``t`` appended at ``i``, and the term the
    node holds at ``i - 1`` (if it holds one: stored, or the anchor or last pruned entry
    at its offset) must be the term that leader's log had there. By induction down the
    log, two logs that hold ``(t, i)`` then agree on every index both hold below it —
    Raft's property restricted to the entries both hold. Entries below a node's offset
    are gone: a snapshot stands for them (I8, I9 judge it). Each stored entry is checked
    once: a log that keeps its last checked entry is checked from there on.
    """
    out: list[Violation] = []
    ghost = cx.after.ghost
    checked = cx.memo.logs
    for name in cx.changed:
        node = cx.node(name)
        log = node.log
        known = checked.get(name)
        if known is log:
            continue
        start = int(log.offset) + 1
        if known is not None and cx.same_life(name):
            k = int(known.end())
            entry = known.get(k)
            if entry is not None and log.offset < k <= log.end() and log.get(k) is entry:
                start = k + 1
        for i in range(start, int(log.end()) + 1):
            have = log.get(i)
            if have is None:  # pragma: no cover - i lies in (offset, end]
                break
            found = ghost.appended_with_prev(Cursor(have.term, Index(i)))
            problem: str | None = None
            if found is None:
                problem = (
                    f"holds (t:{have.term},i:{i}), which no leader of term {have.term} appended"
                )
            elif found[0] is not have and found[0] != have:
                problem = (
                    f"holds at (t:{have.term},i:{i}) another entry than the leader of term "
                    f"{have.term} appended there"
                )
            else:
                before = log.term_at(i - 1)
                if before is not None and int(before) != found[1]:
                    problem = (
                        f"holds (t:{have.term},i:{i}) after an entry of term {before}; the "
                        f"leader of term {have.term} had term {found[1]} at {i - 1}"
                    )
            if problem is not None:
                out.append(_v("RAFT-LM", name, problem))
                break
        checked[name] = log
    return out


def check_raft_leader_completeness(cx: CheckContext) -> list[Violation]:
    """RAFT-LC: a node that becomes leader holds every committed entry (Raft §5.4.1).

    At the step a node starts leading, its log (or its committed state) as it was
    when it won must reach the end of the ghost's committed log ``L`` as it was:
    ``committed >= len(L)``, or the entry at ``len(L)`` has ``L``'s term (log
    matching gives the prefix). Judged on the state before the step, because a new
    leader may commit in that same step (H30 off). mosaik's
    committee breaks it: a candidate counts only the peers it can ask and a leader
    drops voters without a live bond, so a writer cut off from the leader can win
    alone while the leader commits alone (H29, a documented limitation: both
    profiles keep mosaik's committee).
    """
    out: list[Violation] = []
    ghost = cx.before.ghost
    n = ghost.committed_len()
    if n == 0:
        return out
    for name in cx.changed:
        node = cx.node(name)
        if node.leader != node.id or not cx.after.nodes[name].up:
            continue
        old = cx.old(name)
        if old is None or not cx.same_life(name) or old.leader == old.id:
            continue  # it already led (checked when it started), or it is new
        if old.committed.index >= n:
            continue
        want = ghost.term_at(n)
        have = old.log.term_at(n)
        if have != want:
            out.append(
                _v(
                    "RAFT-LC",
                    name,
                    f"leads term {node.term} without committed entry {n} (term {want}): "
                    f"its log ends at {old.log.last()}, committed {old.committed}",
                )
            )
    return out


def _shortest_timeout(slot: NodeSlot) -> int:
    """Return the shortest election timeout ``slot`` can arm (a redraw's base, or its fixed
    one): a deadline armed at ``t`` is never before ``t`` plus this."""
    redraw = slot.redraw
    return int(slot.election_timeout_ms if redraw is None else redraw.base_ms)


def check_raft_stable(cx: CheckContext) -> list[Violation]:
    """RAFT-STABLE: a follower stands for election only when its leader went quiet.

    Raft's liveness rests on ``broadcastTime << electionTimeout`` (§5.6): while a leader
    is alive, bonded to a follower and its AppendEntries (heartbeats, R2) reach it in
    time, the follower never stands. Stated per follower, on what it received: every
    AppendEntries of its term pushes its election deadline to at least its receipt plus
    the shortest election timeout the node can arm (R4, follower.rs:416-501), and a
    follower with a catch-up session does not stand at all (R9, follower.rs:186-212).
    So a follower that becomes a candidate by its own timer (a poll) violates it if it
    holds a catch-up session, or if an AppendEntries of its term reached it less than
    that timeout ago. A driver that holds heartbeats back (a time jump with nothing
    delivered, a slow or broken bond) lets the timer fire legitimately: the check
    judges what was received, not what was sent. The ``start_election`` action is not
    judged: it is the driver choosing an early expiry (a randomised timeout).

    The time of the last AppendEntries is the run's history (:attr:`_Memo.heard`): a
    :class:`BranchChecker` starts every step without it, so there only the R9 half
    is judged.
    """
    out: list[Violation] = []
    heard = cx.memo.heard
    now = cx.after.now_ms
    if cx.t.action != "start_election":
        for name in cx.changed:
            old = cx.old(name)
            node = cx.node(name)
            if (
                old is None
                or not isinstance(old.role, FollowerRole)
                or not isinstance(node.role, CandidateRole)
                or not cx.same_life(name)
            ):
                continue
            if old.role.catchup is not None:
                detail = f"stood for term {node.term} with a catch-up session (R9 suppresses it)"
                out.append(_v("RAFT-STABLE", name, detail))
                continue
            last = heard.get(name)
            slot = cx.after.nodes[name]
            if last is None or last[0] != slot.incarnation or last[1] != int(old.term):
                continue
            _, term, at, timeout = last
            if now < at + timeout:
                leader = old.role.leader.short() if old.role.leader is not None else "?"
                detail = (
                    f"stood for term {node.term} at {now} ms: an AppendEntries of term {term} "
                    f"from {leader} reached it at {at} ms, less than its election timeout "
                    f"({timeout} ms) before"
                )
                out.append(_v("RAFT-STABLE", name, detail))
    for item in cx.t.delivered:
        if not isinstance(item.message, AppendEntries):
            continue
        slot = cx.after.nodes[item.dst]
        node = slot.node
        if (
            slot.up
            and not isinstance(node, HostedNode)
            and isinstance(node.role, FollowerRole)
            and node.term == item.message.term
        ):
            heard[item.dst] = (slot.incarnation, int(node.term), now, _shortest_timeout(slot))
    return out


def check_raft_committee(cx: CheckContext) -> list[Violation]:
    """RAFT-COMMITTEE: a leader is a voter of its own committee, at its last index.

    The leader's own log counts towards every quorum: ``Committee::new`` takes the
    peers that granted, the leader among them, at its last index (leader.rs:541-580);
    the dead-voter sweep keeps the leader, alive by definition (its bonds plus itself,
    leader.rs:613-630); R1 records the leader's own acknowledgement at its new last
    index (leader.rs:455). A committee without the leader counts a quorum over the
    followers alone: a commit then waits for more followers than a majority needs, and
    the stall looks like a lagging voter's (H16) where none is to blame.
    """
    out: list[Violation] = []
    for name in cx.changed:
        node = cx.node(name)
        role = node.role
        if not isinstance(role, LeaderRole) or not cx.after.nodes[name].up:
            continue
        at = role.committee.voters.get(node.id)
        last = node.log.last().index
        if at is None:
            out.append(
                _v(
                    "RAFT-COMMITTEE",
                    name,
                    f"leads term {node.term} but is not a voter of its own committee",
                )
            )
        elif at != last:
            detail = (
                f"leads term {node.term}: its committee records it at {at}, its log ends at {last}"
            )
            out.append(_v("RAFT-COMMITTEE", name, detail))
    return out


def check_panics(cx: CheckContext) -> list[Violation]:
    """PANIC / STEP: a step raised mosaik's panic (other than H3's, see I7) or refused."""
    out: list[Violation] = []
    for o in cx.t.outcomes:
        if o.panic is not None and o.panic.hazard != "H3":
            out.append(_v("PANIC", o.name, f"{o.panic.hazard} at {o.panic.site}: {o.panic.detail}"))
        if o.error is not None and o.error.startswith("InvalidState"):
            out.append(_v("STEP", o.name, f"{o.step} refused: {o.error}"))
    return out


def check_session_leader(cx: CheckContext) -> list[Violation]:
    """STEP: every up node with a catch-up session knows its leader.

    The precondition of Q0 and Q7 (``impl.session`` refuses a leaderless context
    with ``InvalidState``; inventory H21, mosaik panics at shared.rs:436-442),
    checked on the state so that it holds on every step, not only at the steps
    that happen to read the leader.
    """
    out: list[Violation] = []
    for name, session in _sessions(cx):
        if cx.node(name).leader is None:
            started = session.leader.short()
            detail = f"a catch-up session with no known leader (started under {started})"
            out.append(_v("STEP", name, f"{detail}: Q0/Q7 need one (H21)"))
    return out


# -- liveness checks that are state predicates -------------------------------------------------


def check_l3_retry_armed(cx: CheckContext) -> list[Violation]:
    """L3: while a session has received no offer, its RequestSnapshot retry timer is armed."""
    out: list[Violation] = []
    for name, session in _sessions(cx):
        waiting = session.anchor is None and not session.anchor_candidates
        armed = session.snapshot_request_deadline_ms is not None or session.retry_due
        if waiting and not armed:
            out.append(_v("L3", name, "no offer yet and no retry timer armed"))
    return out


def check_l5_bounded_restarts(cx: CheckContext) -> list[Violation]:
    """L5: a session upgrades its anchor at most once per distinct anchor offered to it."""
    out: list[Violation] = []
    for name in cx.changed:
        old = cx.old(name)
        new = cx.node(name).catchup
        if new is None:
            cx.memo.sessions.pop(name, None)
            continue
        prev = old.catchup if old is not None and cx.same_life(name) else None
        upgrades, seen = cx.memo.sessions.get(name, (0, frozenset()))
        if prev is None or old is None or old.term != cx.node(name).term:
            upgrades, seen = 0, frozenset()
        seen = seen | frozenset(new.anchor_candidates)
        anchors = (prev.anchor if prev is not None else None, new.anchor)
        if (
            anchors[0] is not None
            and anchors[1] is not None
            and anchors[1].index > anchors[0].index
        ):
            upgrades += 1
        if upgrades > len(seen):
            out.append(_v("L5", name, f"{upgrades} upgrades with {len(seen)} anchors offered"))
        cx.memo.sessions[name] = (upgrades, seen)
    return out


def _held_deadlines(node: NodeState, now_ms: int) -> list[tuple[int, str]]:
    """Every deadline ``node`` holds, with what it is for: work due now counts as ``now_ms``."""
    held: list[tuple[int, str]] = []
    role = node.role
    if isinstance(role, LeaderRole):
        held.append((role.heartbeat_deadline_ms, "the heartbeat"))
        if role.client_commands:
            held.append((now_ms, "queued client commands"))
    elif isinstance(role, CandidateRole):
        held.append((role.election_deadline_ms, "the election timeout"))
    elif isinstance(role, FollowerRole):
        session = role.catchup
        if session is not None:  # R9: the election timeout is suppressed during catch-up
            if session.snapshot_request_deadline_ms is not None:
                held.append((session.snapshot_request_deadline_ms, "the snapshot request retry"))
            for peer, pending in session.inflight.items():
                held.append((pending.deadline_ms, f"the fetch timeout of {peer.short()}"))
        elif node.preference is not Preference.OBSERVER:
            held.append((role.election_deadline_ms, "the election timeout"))
    provider = node.provider
    if provider.requests:
        held.append((now_ms, "undrained snapshot requests"))
    for anchor, entry in provider.available.items():
        held.append((entry.deadline_ms, f"the TTL of the snapshot at {anchor}"))
    return held


def check_wake(cx: CheckContext) -> list[Violation]:
    """WAKE: a node is never left asleep past a deadline it holds.

    The host polls a node at the time :func:`impl.node.node_next_deadline` returns
    (inventory §0.2); every timer the node holds — heartbeat, election timeout (not
    during catch-up, R9), the session's retry and fetch timeouts (Q7, Q9), each
    snapshot's TTL (P5) — and every piece of work already due (queued client commands,
    R1; undrained snapshot requests, P3) must be at or after that time, or it would
    fire late or never. Hosted nodes report their own deadline and are judged by the wire.
    """
    out: list[Violation] = []
    now = cx.after.now_ms
    for name in cx.changed:
        slot = cx.after.nodes[name]
        node = slot.node
        if not slot.up or isinstance(node, HostedNode):
            continue
        held = _held_deadlines(node, now)
        if not held:
            continue
        wake = next_deadline_of(node)
        due, what = min(held, key=lambda h: h[0])
        if wake is None or wake > max(due, now):
            when = "never" if wake is None else f"at {wake}"
            out.append(_v("WAKE", name, f"wakes {when}, after {what} at {due} (now {now})"))
    return out


@dataclass(frozen=True, slots=True)
class Invariant:
    """A named check: its id(s), a title, and the predicate."""

    ids: tuple[str, ...]
    title: str
    check: Callable[[CheckContext], list[Violation]]
    needs: frozenset[str] | None = None
    """Step facts (:data:`_FACT_BITS`) without any of which the check finds nothing and
    changes no cache, so :class:`Checker` skips it; ``None``: run it after every step."""


# What each check reads (see its docstring): with none of these, it has nothing to look at.
_CHANGED = frozenset({"changed"})
_MOVED = frozenset({"moved"})
_POSITIONS = frozenset({"moved", "offers"})
_LEADS = frozenset({"leads"})
_CATCHUP = frozenset({"catchup"})
_SESSIONS = frozenset({"sessions"})
_SNAPSHOTS = frozenset({"snapshots"})
_SENT = frozenset({"sent"})
_DELIVERED = frozenset({"delivered"})
_WIRE = frozenset({"sent", "delivered", "dropped"})
_STATES = frozenset({"moved", "divergences"})
_INSTALLS = frozenset({"installs"})
_FINALIZE = frozenset({"installs", "panics"})
_COMMITS = frozenset({"installs", "commits"})
_FAILURES = frozenset({"panics", "errors"})
_POLLS = frozenset({"polls"})
_LOGS = frozenset({"logs"})
_PSENDS = frozenset({"sent", "dropped"})
_PSTATE = frozenset({"changed", "sent", "dropped"})
_PTICK = frozenset({"changed", "polls"})
_STABLE = frozenset({"delivered", "polls"})


_FACT_BITS: dict[str, int] = {
    name: 1 << bit
    for bit, name in enumerate(
        (
            "changed",
            "sessions",
            "snapshots",
            "sent",
            "delivered",
            "dropped",
            "divergences",
            "installs",
            "commits",
            "panics",
            "errors",
            "polls",
            "moved",
            "offers",
            "leads",
            "catchup",
            "logs",
        )
    )
}
"""The step facts, as bits of :func:`_step_facts`'s mask."""


def _step_facts(cx: CheckContext) -> int:
    """Return what the step did, coarsely, as a mask of :data:`_FACT_BITS`.

    ``changed`` (a node's slot changed), ``sessions`` (a changed up node has a
    session), ``snapshots`` (a snapshot no step saw before is on offer), ``sent``,
    ``delivered``, ``dropped``, ``divergences`` (the transition's lists are not empty),
    ``installs`` / ``commits`` (an ``InstallSnapshot`` / ``SetCommitted`` effect),
    ``panics`` / ``errors`` (a step panicked / was refused), ``polls`` (a
    ``node_poll`` ran), and of the changed nodes: ``moved`` (one is new, in a new life,
    or has another state machine state or committed cursor), ``offers`` (one is new, in
    a new life, has snapshot requests or another map of snapshots on offer), ``leads``
    (an up one leads), ``catchup`` (one has a session, or L5 still tracks one) and
    ``logs`` (one is new, in a new life, or has another log).
    """
    bits = _FACT_BITS
    t = cx.t
    facts = 0
    if cx.changed:
        facts |= bits["changed"]
        if _sessions(cx):
            facts |= bits["sessions"]
        before, after = cx.before.nodes, cx.after.nodes
        for name in cx.changed:
            slot = after[name]
            node = slot.node
            old_slot = before.get(name)
            if old_slot is None or old_slot.incarnation != slot.incarnation:
                facts |= bits["moved"] | bits["offers"] | bits["logs"]
            else:
                old = old_slot.node
                committed = node.committed
                if old.sm is not node.sm or (
                    committed is not old.committed and committed != old.committed
                ):
                    facts |= bits["moved"]
                provider = node.provider
                if provider.requests or provider.available is not old.provider.available:
                    facts |= bits["offers"]
                if node.log is not old.log:
                    facts |= bits["logs"]
            if node.leader == node.id and slot.up:
                facts |= bits["leads"]
            if node.catchup is not None or name in cx.memo.sessions:
                facts |= bits["catchup"]
    if cx.new_snapshots:
        facts |= bits["snapshots"]
    if t.sent:
        facts |= bits["sent"]
    if t.delivered:
        facts |= bits["delivered"]
    if t.dropped:
        facts |= bits["dropped"]
    if t.divergences:
        facts |= bits["divergences"]
    for o in t.outcomes:
        if o.panic is not None:
            facts |= bits["panics"]
        if o.error is not None:
            facts |= bits["errors"]
        if o.step == "node_poll":
            facts |= bits["polls"]
        for e in o.effects:
            if isinstance(e, InstallSnapshot):
                facts |= bits["installs"]
            elif isinstance(e, SetCommitted):
                facts |= bits["commits"]
    return facts


def _needs_mask(inv: Invariant) -> int:
    """Return ``inv.needs`` as a mask of :data:`_FACT_BITS` (-1, every bit: always run)."""
    if inv.needs is None:
        return -1
    unknown = sorted(inv.needs - _FACT_BITS.keys())
    if unknown:
        raise InvalidInput(f"invariant {inv.title!r} needs unknown step facts {unknown}")
    mask = 0
    for name in inv.needs:
        mask |= _FACT_BITS[name]
    return mask


INVARIANTS: tuple[Invariant, ...] = (
    Invariant(("I1",), "snapshot correctness", check_i1_snapshot_correctness, _SNAPSHOTS),
    Invariant(("I2",), "anchor agreement", check_i2_anchor_agreement, _SENT),
    Invariant(("I3",), "iter_range contract", check_i3_iter_range, _SNAPSHOTS),
    Invariant(("I4", "I6", "I7", "FRESH"), "session bookkeeping", check_i4_i6_session, _SESSIONS),
    Invariant(("I5",), "exactly-once prefix", check_i5_exactly_once_prefix, _SESSIONS),
    Invariant(("I7",), "anchor validity at finalize", check_i7_anchor_validity, _FINALIZE),
    Invariant(("I8",), "post-finalize equivalence", check_i8_post_finalize, _INSTALLS),
    Invariant(
        ("I9", "RAFT-SM"), "replication equivalence", check_i9_replication_equivalence, _STATES
    ),
    Invariant(("I10",), "no gap, no duplicate", check_i10_no_gap_no_duplicate, _COMMITS),
    Invariant(("I11",), "monotonic commit", check_i11_monotonic_commit, _MOVED),
    Invariant(("I12",), "no apply during catch-up", check_i12_no_apply_during_catchup, _MOVED),
    Invariant(("I13",), "provider hygiene", check_i13_provider_hygiene, _WIRE),
    Invariant(("I14",), "anchor term", check_i14_anchor_term, _DELIVERED),
    Invariant(("I15",), "position arithmetic", check_i15_position_arithmetic, _POSITIONS),
    Invariant(("I16",), "pruning", check_i16_pruning, _CHANGED),
    # Raft's safety properties (Figure 3); RAFT-SM is I9's divergence at a leader, above.
    Invariant(("RAFT-ES",), "election safety", check_raft_election_safety, _LEADS),
    Invariant(("RAFT-LAO",), "leader append-only", check_raft_leader_append_only, _LOGS),
    Invariant(("RAFT-LM",), "log matching", check_raft_log_matching, _LOGS),
    Invariant(("RAFT-LC",), "leader completeness", check_raft_leader_completeness, _LEADS),
    # Raft's liveness assumptions: stable leadership, the leader counting itself.
    Invariant(("RAFT-STABLE",), "stable leadership", check_raft_stable, _STABLE),
    Invariant(("RAFT-COMMITTEE",), "the leader is its own voter", check_raft_committee, _LEADS),
    Invariant(("PANIC", "STEP"), "panics and refused steps", check_panics, _FAILURES),
    Invariant(("STEP",), "a session knows its leader", check_session_leader),
    Invariant(("L2",), "no dead session state", check_l2_dead_session, _POLLS),
    Invariant(("L3",), "retry while no offer", check_l3_retry_armed, _SESSIONS),
    Invariant(("WAKE",), "no deadline overslept", check_wake, _CHANGED),
    Invariant(("L5",), "bounded anchor upgrades", check_l5_bounded_restarts, _CATCHUP),
    # -- provider lifetime (spec.model.lifetime): offers and TTLs over a provider's life --
    Invariant(("PROV-SERVE",), "serves what it holds, to who asked", check_prov_serve, _PSENDS),
    Invariant(("PROV-TTL",), "TTL set and refreshed as P3/P4 say", check_prov_ttl, _PSTATE),
    Invariant(("PROV-EXPIRY",), "released after the TTL, not before", check_prov_expiry, _PTICK),
    Invariant(("PROV-OFFER",), "every fresh foreign request offered", check_prov_offer, _PSTATE),
)
"""Every per-step check, in the order they run."""


class Checker:
    """Runs :data:`INVARIANTS` after each transition of one run (holds the run's caches)."""

    def __init__(self, setup: WorldSetup, invariants: tuple[Invariant, ...] = INVARIANTS) -> None:
        self.setup = setup
        self.oracle = Oracle(machine_for(setup.kind), setup.profile, setup.config)
        self.memo = _Memo()
        self.invariants = invariants
        self._reported: set[tuple[str, str | None, str]] = set()
        # The checks to run for each step-facts mask, for the invariants they were made from.
        self._plans: dict[int, list[Callable[[CheckContext], list[Violation]]]] = {}
        self._planned: tuple[Invariant, ...] = ()
        self._masks: list[int] = []

    def _plan(self, facts: int) -> list[Callable[[CheckContext], list[Violation]]]:
        """Return the checks of :attr:`invariants` that a step with ``facts`` needs, in order."""
        if self._planned is not self.invariants:
            self._plans.clear()
            self._masks = [_needs_mask(inv) for inv in self.invariants]
            self._planned = self.invariants
        plan = self._plans.get(facts)
        if plan is None:
            plan = self._plans[facts] = [
                inv.check
                for inv, mask in zip(self.invariants, self._masks, strict=True)
                if mask & facts
            ]
        return plan

    def check(self, t: Transition) -> list[Violation]:
        """Return the violations first found after transition ``t`` (each distinct
        violation is reported once per run)."""
        before, after = t.before, t.after
        old_nodes, nodes = before.nodes, after.nodes
        # A hosted node's internals are not known (spec.model.host): the checks that read a
        # node's state skip it; its messages are judged on the wire like everyone's.
        changed = (
            ()
            if old_nodes is nodes
            else tuple(
                [
                    name
                    for name in sorted(nodes)
                    if old_nodes.get(name) is not nodes[name]
                    and not isinstance(nodes[name].node, HostedNode)
                ]
            )
        )
        new = _new_snapshots(after, changed, self.memo)
        cx = CheckContext(t, self.oracle, self.memo, changed, new)
        out: list[Violation] = []
        for check in self._plan(_step_facts(cx)):
            out.extend(check(cx))
        for snap in new:
            self.memo.snapshots[id(snap.snapshot)] = snap.snapshot
        seen = self.memo.seen_offers
        if len(seen) > 256:
            seen.clear()
        for name in changed:
            # Every snapshot on offer at a changed node is in ``memo.snapshots`` now.
            available = after.nodes[name].node.provider.available
            seen[id(available)] = available
        # A violated state predicate stays violated while the state lasts: report each
        # distinct violation once, at the step that first reached it.
        fresh = []
        for v in out:
            key = (v.id, v.node, v.detail)
            if key not in self._reported:
                self._reported.add(key)
                fresh.append(v)
        return fresh


# -- branching drivers -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CheckHistory:
    """What the checks of one run carry from step to step that its current world does not
    hold: per node with a session, L5's anchor upgrades and the anchors offered to it.

    A driver that explores many runs at once (:class:`BranchChecker`) keeps one per
    explored state; two states with different histories are different states.
    """

    sessions: tuple[tuple[str, int, frozenset[Cursor]], ...] = ()
    """``(node, upgrades, anchors offered)`` of each live session, by node name."""


_BRANCH_SNAPSHOTS = 2_048
"""How many checked snapshot objects a :class:`BranchChecker`'s checker remembers."""


class BranchChecker:
    """Runs :data:`INVARIANTS` on the transitions of a branching exploration.

    A :class:`Checker` judges one run: its caches assume one committed log ``L``
    that only grows, and a few checks remember the run's past. Here each
    transition is judged as the next step of *a* run that reached its world with
    a given :class:`CheckHistory`:

    * one :class:`Checker` (oracle ``Apply(k)`` and identity caches) per distinct
      ``L`` — the caches are facts about objects relative to one ``L``;
    * L5's per-session counts come from the history and go into the returned one;
    * I15's record of the indices where a node's apply runs ended is seeded with
      the positions that are pending or on offer before the step (each was checked
      when it appeared, so only positions new in this step need this step's runs);
    * I5's record of the prefix already verified starts empty (checked in full);
    * every violation is reported (no run-wide "first time only").

    Replaying the same steps in one run with a :class:`Checker` finds the same
    violations at the same steps (``model_tests/test_explore.py`` checks it on the
    counterexamples the explorer writes).
    """

    def __init__(
        self, setup: WorldSetup, invariants: tuple[Invariant, ...] = INVARIANTS, *, keep: int = 64
    ) -> None:
        self.setup = setup
        self.invariants = invariants
        self._keep = keep
        self._checkers: dict[Any, Checker] = {}

    def checker_for(self, ghost: Ghost) -> Checker:
        """Return the checker of the committed log of ``ghost`` (a cache, least recent dropped)."""
        log = ghost.committed
        found = self._checkers.pop(log, None)
        if found is None:
            found = Checker(self.setup, self.invariants)
            if len(self._checkers) >= self._keep:
                self._checkers.pop(next(iter(self._checkers)))
        self._checkers[log] = found  # most recent last
        return found

    def check(self, t: Transition, history: CheckHistory) -> tuple[list[Violation], CheckHistory]:
        """Return every violation of ``t`` (as the next step after ``history``) and the
        history after it."""
        checker = self.checker_for(t.after.ghost)
        memo = checker.memo
        if len(memo.snapshots) > _BRANCH_SNAPSHOTS:
            # Caches of what was checked (each snapshot object once): forgetting them only
            # means checking again; they would otherwise keep every snapshot alive.
            memo.snapshots.clear()
            memo.seen_offers.clear()
        memo.sessions = {name: (up, seen) for name, up, seen in history.sessions}
        memo.prefix = {}
        memo.heard = {}  # RAFT-STABLE's history: a branch does not know its run's past
        ends: dict[str, set[int]] = {}
        for name, slot in t.before.nodes.items():
            provider = slot.node.provider
            seeds = {int(p.position.index) for p in provider.requests}
            seeds.update(int(a.index) for a in provider.available)
            ends[name] = seeds
        memo.run_ends = ends
        checker._reported.clear()
        found = checker.check(t)
        sessions = tuple(sorted((n, up, seen) for n, (up, seen) in memo.sessions.items()))
        after = history if sessions == history.sessions else CheckHistory(sessions)
        return found, after
