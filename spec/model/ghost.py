"""Ghost state: the history of the committed log, used only by the invariants.

*A history variable used in the checks. This would not be present in an
implementation.* No impl step reads it; the model's actions update it from what
the network shows (every ``AppendEntries`` a leader broadcasts) and from the
committed cursors the nodes report.

* ``appended`` — every entry any leader ever appended (R1), as runs keyed by
  term. An entry is identified by ``(term, index)``: one leader per term appends
  one entry per index, so the runs of a term never disagree (election safety is
  itself checked, through ``leaders``).
* ``committed`` — the reference committed log ``L`` of the inventory (§4):
  ``committed[k-1]`` is ``L[k]``. It grows when a node's committed cursor moves
  past its end: the entries are recovered by walking back from that cursor
  through ``appended`` (Raft's log-matching property: the entry at ``(t, i)``
  determines the whole prefix). A committed cursor that disagrees with ``L`` is a
  divergence, reported by the invariants.
* ``take_snapshots`` — the TakeSnapshot entries of ``L``, ``(index, request)``
  (I13's wall-clock check).

:class:`Oracle` computes ``Apply(k) = fold(apply, L[1..k], init)`` on demand,
with cached checkpoints; it is a cache next to the world, not part of it.
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from pyrsistent import PMap, PVector, pmap, pvector

from impl.collections.base import ApplyContext, StateMachine
from impl.config import Config
from impl.messages import AppendEntries, Item, LogEntry, SnapshotRequest, TakeSnapshot
from impl.observe import items_digest
from impl.profile import Profile
from impl.records import evolve
from impl.types import Cursor, Index, PeerId, Term

__all__ = [
    "GHOST_PEER",
    "AppendedRun",
    "Divergence",
    "Ghost",
    "Oracle",
    "items_digest",
]

GHOST_PEER = PeerId.from_label("snapsync-ghost")
"""The local id the oracle applies as: never a requester, so every TakeSnapshot is 'foreign'."""


@dataclass(frozen=True, slots=True)
class AppendedRun:
    """Entries one leader appended in one R1, as its AppendEntries broadcast shows them."""

    term: int
    """The leader's term (every entry of the run has it)."""
    first_index: int
    """Log index of ``entries[0]``."""
    prev_term: int
    """Term of the entry at ``first_index - 1`` in that leader's log."""
    entries: tuple[LogEntry, ...]
    """The appended entries, in order."""

    @property
    def last_index(self) -> int:
        """Return the index of the run's last entry."""
        return self.first_index + len(self.entries) - 1


class _Firsts:
    """A read-only sequence view of the runs' first indices (for ``bisect``)."""

    __slots__ = ("_runs",)

    def __init__(self, runs: PVector[AppendedRun]) -> None:
        self._runs = runs

    def __len__(self) -> int:
        return len(self._runs)

    def __getitem__(self, k: int) -> int:
        run: AppendedRun = self._runs[k]
        return run.first_index


@dataclass(frozen=True, slots=True)
class Divergence:
    """A committed cursor that does not fit the reference committed log."""

    cursor: Cursor
    """The cursor a node reported as committed."""
    reason: str
    """Why it does not fit."""


def _empty_runs() -> PMap[int, PVector[AppendedRun]]:
    return pmap()


def _empty_log() -> PVector[LogEntry]:
    return pvector()


def _empty_takes() -> PVector[tuple[int, SnapshotRequest]]:
    return pvector()


@dataclass(frozen=True, slots=True)
class Ghost:
    """History variables (module docstring). *Not present in an implementation.*"""

    appended: PMap[int, PVector[AppendedRun]] = field(default_factory=_empty_runs)
    """Runs of appended entries by term, in index order."""
    committed: PVector[LogEntry] = field(default_factory=_empty_log)
    """The reference committed log ``L``; ``committed[k-1]`` is ``L[k]``."""
    leaders: PMap[int, str] = field(default_factory=pmap)
    """The node that led each term (the first one seen leading it)."""
    take_snapshots: PVector[tuple[int, SnapshotRequest]] = field(default_factory=_empty_takes)
    """``(index, request)`` of every TakeSnapshot entry of ``L``, in index order."""

    # -- appended entries -----------------------------------------------------------------

    def record_append(self, ae: AppendEntries) -> Ghost:
        """Record the entries of an AppendEntries a leader broadcast after its R1."""
        if not ae.entries:
            return self
        run = AppendedRun(
            term=int(ae.term),
            first_index=int(ae.prev_log_position.index) + 1,
            prev_term=int(ae.prev_log_position.term),
            entries=ae.entries,
        )
        runs = self.appended.get(run.term, pvector())
        if runs and runs[-1].last_index >= run.first_index:
            # A leader re-sent entries it already announced (not R1's behaviour, but a
            # duplicate on the wire must not corrupt the history): keep the first record.
            if runs[-1].last_index >= run.last_index:
                return self
            skip = runs[-1].last_index + 1 - run.first_index
            run = AppendedRun(run.term, runs[-1].last_index + 1, run.term, run.entries[skip:])
        return evolve(self, appended=self.appended.set(run.term, runs.append(run)))

    def _run_at(self, term: int, index: int) -> AppendedRun | None:
        runs = self.appended.get(term)
        if not runs:
            return None
        if runs[-1].first_index <= index:
            k = len(runs) - 1  # the common case: the latest run
        else:
            k = bisect.bisect_right(_Firsts(runs), index) - 1
        if k < 0:
            return None
        run: AppendedRun = runs[k]
        return run if index <= run.last_index else None

    def appended_entry(self, cursor: Cursor) -> LogEntry | None:
        """Return the entry a leader appended at ``cursor``, if any."""
        run = self._run_at(int(cursor.term), int(cursor.index))
        if run is None:
            return None
        entry: LogEntry = run.entries[int(cursor.index) - run.first_index]
        return entry

    def appended_with_prev(self, cursor: Cursor) -> tuple[LogEntry, int] | None:
        """Return the entry a leader appended at ``cursor`` and the term its own log had at
        ``cursor.index - 1`` when it appended it, if a leader appended one there (RAFT-LM)."""
        index = int(cursor.index)
        run = self._run_at(int(cursor.term), index)
        if run is None:
            return None
        entry: LogEntry = run.entries[index - run.first_index]
        return entry, (run.prev_term if index == run.first_index else run.term)

    # -- the committed log ------------------------------------------------------------------

    def committed_len(self) -> int:
        """Return ``len(L)``."""
        return len(self.committed)

    def term_at(self, index: int) -> int | None:
        """Return ``L[index].term`` (0 for index 0), or ``None`` beyond ``L``."""
        if index == 0:
            return 0
        if index > len(self.committed):
            return None
        entry: LogEntry = self.committed[index - 1]
        return int(entry.term)

    def observe_commit(self, cursor: Cursor) -> tuple[Ghost, Divergence | None]:
        """Extend ``L`` up to a node's committed ``cursor``; report a divergence.

        Entries up to ``cursor`` are recovered by walking back through ``appended``
        until the walk reaches the known end of ``L``, whose term must match.
        """
        index, term = int(cursor.index), int(cursor.term)
        n = len(self.committed)
        if index <= n:
            known = self.term_at(index)
            if known != term:
                return self, Divergence(cursor, f"L[{index}] has term {known}, not {term}")
            return self, None
        pieces: list[tuple[LogEntry, ...]] = []
        t, i = term, index
        while i > n:
            run = self._run_at(t, i)
            if run is None:
                return self, Divergence(cursor, f"no leader appended an entry at (t:{t},i:{i})")
            lo = max(run.first_index, n + 1)
            pieces.append(run.entries[lo - run.first_index : i - run.first_index + 1])
            if lo > run.first_index:
                t, i = run.term, n  # the end of L lies inside this run
            else:
                t, i = run.prev_term, run.first_index - 1
        # The walk stopped at index n with term t: it must be L[n]'s term.
        if self.term_at(n) != t:
            return self, Divergence(
                cursor,
                f"the log up to {cursor} does not extend L (L[{n}] has term "
                f"{self.term_at(n)}, the walk reached term {t})",
            )
        new_entries: list[LogEntry] = []
        for piece in reversed(pieces):
            new_entries.extend(piece)
        committed = self.committed.extend(new_entries)
        takes = self.take_snapshots
        found = [
            (n + 1 + k, e.command.request)
            for k, e in enumerate(new_entries)
            if isinstance(e.command, TakeSnapshot)
        ]
        if found:
            takes = takes.extend(found)
        return evolve(self, committed=committed, take_snapshots=takes), None

    def requests_by(self, peer: PeerId, up_to: int) -> tuple[tuple[int, SnapshotRequest], ...]:
        """Return the TakeSnapshot entries of ``L[1..up_to]`` requested by ``peer``."""
        return tuple(
            (i, r) for i, r in self.take_snapshots if i <= up_to and r.requested_by == peer
        )

    # -- per-node history -------------------------------------------------------------------

    def with_leader(self, term: int, name: str) -> Ghost:
        """Return a copy recording that ``name`` led ``term`` (first leader wins)."""
        if term in self.leaders:
            return self
        return evolve(self, leaders=self.leaders.set(term, name))


class Oracle:
    """``Apply(k)``: the reference state after the committed entries ``L[1..k]``.

    Applies with the collection's own ``apply_batch`` in runs of equal term (as
    R6 does), as a peer that never requested a snapshot; the snapshot requests it
    would serve are discarded. Checkpoints are kept at every index asked for, so
    a run costs one fold of ``L`` plus the distance back to the nearest checkpoint
    per query. A cache, not state: it depends only on ``L``, which only grows.
    """

    def __init__(self, machine: StateMachine, profile: Profile, config: Config) -> None:
        self.machine = machine
        self.profile = profile
        self.config = config
        self._keys: list[int] = [0]
        self._states: dict[int, Any] = {0: machine.initial()}
        self._items: OrderedDict[int, tuple[Item, ...]] = OrderedDict()
        self._digests: OrderedDict[int, tuple[Any, str]] = OrderedDict()

    def state_at(self, ghost: Ghost, k: int) -> Any:
        """Return ``Apply(k)``; ``k`` must be ``<= len(L)``."""
        cached = self._states.get(k)
        if cached is not None:
            return cached
        if k > len(ghost.committed):
            raise ValueError(
                f"Apply({k}) asked beyond the committed log (len {len(ghost.committed)})"
            )
        j = self._keys[bisect.bisect_right(self._keys, k) - 1]
        state = self._states[j]
        i = j
        while i < k:
            first: LogEntry = ghost.committed[i]
            term = first.term
            end = i + 1
            while end < k and ghost.committed[end].term == term:
                end += 1
            commands = [e.command for e in ghost.committed[i:end]]
            prev_term = ghost.term_at(i) or 0
            ctx = ApplyContext(
                committed=Cursor(Term(prev_term), Index(i)),
                log_position=Cursor(Term(int(term)), Index(k)),
                current_term=Term(int(term)),
                local_id=GHOST_PEER,
                now_wall_ms=0,
                config=self.config,
            )
            state, _ = self.machine.apply_batch(state, commands, ctx, self.profile)
            i = end
        bisect.insort(self._keys, k)
        self._states[k] = state
        return state

    def adopt(self, k: int, state: Any) -> None:
        """Use ``state`` as the checkpoint of ``Apply(k)``: the caller verified that it
        equals ``Apply(k)`` (the invariant checker does, for node states)."""
        if k in self._states:
            return
        bisect.insort(self._keys, k)
        self._states[k] = state

    def items_at(self, ghost: Ghost, k: int) -> tuple[Item, ...]:
        """Return the canonical items of ``Apply(k)`` (a few are cached)."""
        got = self._items.get(k)
        if got is not None:
            self._items.move_to_end(k)
            return got
        items = tuple(self.machine.items(self.state_at(ghost, k)))
        self._items[k] = items
        if len(self._items) > 4:
            self._items.popitem(last=False)
        return items

    def digest_of(self, state: Any) -> str:
        """Return :func:`items_digest` of a collection state (memoised by identity)."""
        key = id(state)
        got = self._digests.get(key)
        if got is not None and got[0] is state:
            return got[1]
        digest = items_digest(tuple(self.machine.items(state)))
        self._digests[key] = (state, digest)
        if len(self._digests) > 16:
            self._digests.popitem(last=False)
        return digest
