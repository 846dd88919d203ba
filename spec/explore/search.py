"""Breadth-first search over the states of a configuration, with canonical keys.

* :class:`SearchState` — what the search keeps per state: the world, the bounds
  left, the checks' history (:class:`~spec.model.invariants.CheckHistory`), the
  messages an adversary wrote (fault awareness, as the hunt's driver does) and
  the genuine messages a forger may replay.
* :class:`Expander` — :meth:`Expander.expand` takes one state to all its
  successors: every enabled move (:mod:`spec.explore.moves`), each transition
  checked by the model's invariants as the next step of a run
  (:class:`~spec.model.invariants.BranchChecker`), discounted for tampered
  messages (:func:`spec.hunt.driver.discount_tampered`) and observed for the
  hunt's situations (:class:`spec.hunt.coverage.Coverage`). It depends only on
  the state and the configuration (its caches change no result), so a parallel
  search can run it anywhere.
* :class:`Explorer` — the search: a FIFO frontier, a table from canonical key
  (:class:`~spec.model.fingerprint.Fingerprinter`, with the search state's own
  parts appended) to state number, parent pointers, and the edges of the state
  graph. States are numbered in the order found, so a state's depth is its
  shortest distance from the initial state and the first violation found of
  each id has a shortest counterexample.
"""

from __future__ import annotations

import contextlib
import os
import resource
import time
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from itertools import permutations
from operator import itemgetter
from typing import Any

from impl.effects import InstallSnapshot
from impl.messages import FetchDataResponse, SnapshotOffer, TakeSnapshot
from impl.records import evolve
from spec.explore.config import ExploreConfig, build_initial
from spec.explore.moves import (
    BUDGETED,
    Budget,
    HuntView,
    Move,
    enabled_moves,
    fair_class,
    take,
)
from spec.hunt.coverage import SITUATIONS, Coverage
from spec.hunt.driver import discount_tampered, tampered_mids
from spec.model.actions import ActionNotEnabled, Transition, memoised_steps
from spec.model.fingerprint import Fingerprinter, digest
from spec.model.invariants import INVARIANTS, BranchChecker, CheckHistory, Violation
from spec.model.liveness import converged
from spec.model.state import InFlight, World, WorldSetup
from spec.parallel import Pool, map_ordered
from spec.robust.stop import stop_point, stopping

__all__ = [
    "EXPLORED_SITUATIONS",
    "MIN_PARALLEL_LEVEL",
    "STEP_LIVENESS_IDS",
    "Edge",
    "Expander",
    "ExploreResult",
    "Explorer",
    "Part",
    "PartResult",
    "SearchState",
    "Successor",
    "edges_of",
    "expand_part",
    "snapshot_requests",
    "state_marks",
]

STEP_LIVENESS_IDS: frozenset[str] = frozenset({"L2", "L3", "L5"})
"""The model's per-step liveness checks (``--no-step-liveness`` leaves them out)."""

EXPLORED_SITUATIONS: tuple[str, ...] = tuple(
    s for s in SITUATIONS if s not in ("late_response_after_timeout", "clock_skew")
)
"""The hunt's situations the explorer reports ("sometimes" properties): all but the one
that needs a run's past (a response late for a fetch that timed out earlier) and clock
skew (not a move of the explorer)."""

_MAX_REPLAYABLE = 8


@dataclass(frozen=True, slots=True)
class SearchState:
    """One explored state (module docstring)."""

    world: World
    writes: int
    breaks: int
    faults: int
    restarts: int
    history: CheckHistory = field(default_factory=CheckHistory)
    tampered: frozenset[int] = frozenset()
    """Ids of queued messages an adversary forged or rewrote."""
    replayable: tuple[InFlight, ...] = ()
    """Genuine offers and responses sent so far (only while a forgery may still happen)."""

    def budget(self) -> Budget:
        """Return what this state may still spend."""
        return Budget(self.writes, self.breaks, self.faults, self.restarts)


@dataclass(frozen=True, slots=True)
class Successor:
    """One edge out of a state: the move, what it did, and where it leads."""

    move: Move
    transition: Transition
    state: SearchState
    violations: tuple[Violation, ...]
    situations: frozenset[str]
    fair: tuple[Any, ...] | None
    """The move's fairness class (``None``: an environment choice)."""
    key: bytes
    """The canonical key of :attr:`state`."""
    changed: bool
    """False for a poll whose state has the key of the state it left (a stutter:
    checked, not an edge)."""


def snapshot_requests(world: World) -> int:
    """Return how many TakeSnapshot entries leaders appended (the ghost's record)."""
    count = 0
    for runs in world.ghost.appended.values():
        for run in runs:
            for entry in run.entries:
                if type(entry.command) is TakeSnapshot:
                    count += 1
    return count


class Expander:
    """Takes a state to its successors (module docstring)."""

    def __init__(self, config: ExploreConfig) -> None:
        self.config = config
        invariants = INVARIANTS
        if not config.step_liveness:
            invariants = tuple(i for i in INVARIANTS if not set(i.ids) <= STEP_LIVENESS_IDS)
        self.checker = BranchChecker(config.setup, invariants)
        self.view = HuntView(config)
        self.forging = any(m == "forge_message" for m in self.view.campaign.rules)
        self.keys = Keys(config, config.setup)

    def initial(self, world: World) -> SearchState:
        """Return the search state of the configuration's initial world."""
        c = self.config
        return SearchState(world, c.writes, c.breaks, c.fault_budget, c.restarts)

    def moves(self, state: SearchState) -> list[Move]:
        """Return the enabled moves of ``state``."""
        self.view.point(state.world, state.tampered, state.replayable)
        return enabled_moves(state.world, state.budget(), self.config, self.view)

    def expand(self, state: SearchState, key: bytes | None = None) -> list[Successor]:
        """Return every successor of ``state`` (whose key is ``key``), in move order.

        Work at the current instant is urgent: time moves only if no node has any
        (no timer due — :func:`~spec.explore.moves.enabled_moves` — and no poll of a
        woken session that would change it).
        """
        if key is None:
            key = self.keys.key(state)
        out: list[Successor] = []
        busy = False
        for move in self.moves(state):
            if busy and move[0] == "advance_time":
                continue
            got = self.step(state, move, key)
            if got is None:
                continue
            if move[0] == "node_poll" and got.changed:
                busy = True
            out.append(got)
        return out

    def step(self, state: SearchState, move: Move, key: bytes) -> Successor | None:
        """Take ``move`` from ``state`` (whose key is ``key``); None if the model refuses
        it as not enabled."""
        world = state.world
        fn, kwargs = take(world, move, self.config, state.replayable)
        try:
            t = fn(world, **kwargs)
        except ActionNotEnabled:
            return None
        found, history = self.checker.check(t, state.history)
        tampered = state.tampered
        wrote = tampered_mids(t) if move[0] in ("forge_message", "corrupt_response") else ()
        if wrote:
            tampered = tampered | frozenset(wrote)
        if tampered:
            found = discount_tampered(t, found, tampered, self.checker.checker_for(t.after.ghost))
            tampered = _still_queued(t.after, tampered)
        spent = BUDGETED.get(move[0])
        after = t.after
        nxt = SearchState(
            after,
            state.writes - (spent == "writes"),
            state.breaks - (spent == "breaks"),
            state.faults - (spent == "faults"),
            state.restarts - (spent == "restarts"),
            history,
            tampered,
            self._replayable(state, t, spent),
        )
        coverage = Coverage()
        coverage.observe(t)
        counts = coverage.counts
        situations = frozenset(s for s in EXPLORED_SITUATIONS if counts.get(s))
        nkey = key if after is world and nxt.history is state.history else self.keys.key(nxt)
        changed = nkey != key or move[0] != "node_poll"
        return Successor(move, t, nxt, tuple(found), situations, fair_class(move), nkey, changed)

    def _replayable(
        self, state: SearchState, t: Transition, spent: str | None
    ) -> tuple[InFlight, ...]:
        faults = state.faults - (spent == "faults")
        if not self.forging or faults <= 0:
            return ()
        out = list(state.replayable)
        if t.action != "forge_message":
            for item in t.sent:
                if isinstance(item.message, SnapshotOffer | FetchDataResponse):
                    out.append(item)
        return tuple(out[-_MAX_REPLAYABLE:])


def _still_queued(world: World, mids: frozenset[int]) -> frozenset[int]:
    queued = set()
    for bond in world.bonds.values():
        for item in bond.lo_to_hi + bond.hi_to_lo:
            if item.mid in mids:
                queued.add(item.mid)
    return frozenset(queued)


@dataclass(slots=True)
class Found:
    """The first (shortest) edge that violated one invariant id."""

    violation: Violation
    src: int
    """The state the violating edge leaves."""
    move: Move
    """The violating move."""
    depth: int
    """The counterexample's length in moves (the source's depth + 1)."""
    edges: int = 1
    """How many explored edges violated this id."""


# State flags.
GOAL = 1
"""Converged: every catch-up over (:func:`spec.model.liveness.converged`)."""
CUT = 2
"""Reached and checked but not expanded: a bound (``retries``) cut it."""
OPEN = 4
"""Not expanded: ``--depth``, ``--max-states``, a stop or an interrupt left it."""
VIOLATING = 8
"""An edge into it violated an invariant."""
ANCHORED = 16
"""Some session has selected an anchor."""
FINALIZED = 32
"""An edge into it installed a snapshot (Q12)."""


@dataclass(slots=True)
class ExploreResult:
    """What a search found (the report is built from it: :mod:`spec.explore.report`)."""

    config: ExploreConfig
    keys: list[bytes] = field(default_factory=list)
    parent: array[int] = field(default_factory=lambda: array("i"))
    depth: array[int] = field(default_factory=lambda: array("i"))
    flags: bytearray = field(default_factory=bytearray)
    enabled: array[int] = field(default_factory=lambda: array("i"))
    """Per state: index into :attr:`enabled_sets` of the fairness classes enabled there."""
    enabled_sets: list[frozenset[int]] = field(default_factory=list)
    src: array[int] = field(default_factory=lambda: array("i"))
    dst: array[int] = field(default_factory=lambda: array("i"))
    fair: array[int] = field(default_factory=lambda: array("i"))
    fair_classes: list[tuple[Any, ...]] = field(default_factory=list)
    transitions: int = 0
    """Edges explored (stutters included: every one was checked)."""
    violations: dict[str, Found] = field(default_factory=dict)
    situations: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    """Per situation reached: (first state reached by it, its depth, edges that reached it)."""
    complete: bool = False
    """Every state was expanded or cut by a bound (no depth/state limit, stop or interrupt)."""
    interrupted: bool = False
    stopped: str | None = None
    """Why the search stopped early: ``max-states``, ``first-violation`` or ``interrupt``."""
    seconds: float = 0.0
    peak_rss_kb: int = 0
    base_rss_kb: int = 0
    renamings: int = 1
    interned: int = 0
    jobs: int = 1
    """Processes the search ran on (``--jobs``): nothing else depends on it."""
    worker_states: int = 0
    """States expanded by worker processes (the rest by this one)."""

    @property
    def states(self) -> int:
        """Return the number of distinct states."""
        return len(self.keys)

    @property
    def max_depth(self) -> int:
        """Return the depth of the deepest state (the graph's depth from the initial state)."""
        return max(self.depth) if len(self.depth) else 0

    @property
    def collision_bound(self) -> float:
        """Return a bound on the probability that two different encodings of this search
        share a 128-bit digest (components, search parts and state keys alike): n² / 2¹²⁹
        for n digests (the birthday bound)."""
        n = self.interned + self.states
        return float(n * n) / 2.0**129

    def count(self, flag: int) -> int:
        """Return how many states carry ``flag``."""
        return sum(1 for f in self.flags if f & flag)

    def path_to(self, index: int) -> list[int]:
        """Return the state numbers from the initial state to ``index`` (shortest)."""
        out = [index]
        while out[-1] != 0:
            out.append(self.parent[out[-1]])
        out.reverse()
        return out


def _renamings(config: ExploreConfig) -> list[dict[str, str]]:
    """Return every renaming of the interchangeable readers (the identity first)."""
    groups = config.interchangeable() if config.symmetry else ()
    maps: list[dict[str, str]] = [{}]
    for group in groups:
        grown = []
        for base in maps:
            for perm in permutations(group):
                m = dict(base)
                m.update({a: b for a, b in zip(group, perm, strict=True) if a != b})
                grown.append(m)
        maps = grown
    return maps


class Keys:
    """Canonical keys of search states: the world's key and the search state's own parts,
    the least over the renamings (symmetry) of both together."""

    def __init__(self, config: ExploreConfig, setup: WorldSetup) -> None:
        self.config = config
        self.renamings = _renamings(config)
        self.fp = Fingerprinter(setup, self.renamings[1:])
        self._extra_ids: dict[tuple[Any, ...], bytes] = {}

    def key(self, state: SearchState) -> bytes:
        """Return the key of ``state``: the digest (:func:`~spec.model.fingerprint.digest`,
        128 bits) of the least key over the renamings — the same in every process."""
        if len(self.renamings) == 1:
            best = self.fp.key(state.world) + self._extras(state, {})
        else:
            best = min(
                self.fp.key_under(state.world, k) + self._extras(state, r)
                for k, r in enumerate(self.renamings)
            )
        return digest(best)

    @property
    def interned(self) -> int:
        """Return how many distinct encodings were digested (the fingerprint's and the
        search state's own parts)."""
        return self.fp.interned + len(self._extra_ids)

    def _extras(self, state: SearchState, r: dict[str, str]) -> tuple[int | bytes, ...]:
        """The search state's own parts: the bounds left, then the digest of the checks'
        history, the tampered messages and the replayable ones (0 when all are empty)."""
        head = (state.writes, state.breaks, state.faults, state.restarts)
        if not (state.history.sessions or state.tampered or state.replayable):
            return (*head, 0)
        rest = self._rest(state, r)
        got = self._extra_ids.get(rest)
        if got is None:
            got = self._extra_ids[rest] = digest(rest)
        return (*head, got)

    def _rest(self, state: SearchState, r: dict[str, str]) -> tuple[Any, ...]:
        out: list[Any] = []
        if state.history.sessions:
            out.append(
                tuple(
                    sorted(
                        (r.get(n, n), up, tuple(sorted((int(a.term), int(a.index)) for a in seen)))
                        for n, up, seen in state.history.sessions
                    )
                )
            )
        else:
            out.append(())
        if state.tampered:
            marks = []
            for bond in state.world.bonds.values():
                for src, dst, queue in (
                    (bond.lo, bond.hi, bond.lo_to_hi),
                    (bond.hi, bond.lo, bond.hi_to_lo),
                ):
                    for k, item in enumerate(queue):
                        if item.mid in state.tampered:
                            marks.append((r.get(src, src), r.get(dst, dst), k))
            out.append(tuple(sorted(marks)))
        else:
            out.append(())
        if state.replayable:
            out.append(
                tuple(
                    sorted(
                        (r.get(i.src, i.src), r.get(i.dst, i.dst), repr(i.message))
                        for i in state.replayable
                    )
                )
            )
        else:
            out.append(())
        return tuple(out)


@dataclass(frozen=True, slots=True)
class Edge:
    """One edge out of an expanded state, as the search records it (what a worker process
    sends back for each successor: no transition, no world)."""

    move: Move
    key: bytes
    fair: tuple[Any, ...] | None
    changed: bool
    violations: tuple[Violation, ...]
    situations: frozenset[str]
    finalized: bool
    """The move installed a snapshot (Q12)."""
    marks: int
    """The successor's own flags (:data:`GOAL`, :data:`ANCHORED`, :data:`CUT` when it asked
    for more snapshots than allowed), or -1: not computed (the state is given instead)."""
    state: SearchState | None
    """The successor, when expanded in this process (a worker keeps its own)."""


def state_marks(world: World, requests_allowed: int) -> int:
    """Return a state's own flags: converged, some session anchored, cut by ``retries``."""
    marks = GOAL if converged(world) else 0
    if _anchored(world):
        marks |= ANCHORED
    if snapshot_requests(world) > requests_allowed:
        marks |= CUT
    return marks


def _finalized(s: Successor) -> bool:
    return any(isinstance(e, InstallSnapshot) for o in s.transition.outcomes for e in o.effects)


def edges_of(expander: Expander, state: SearchState, key: bytes) -> list[Edge]:
    """Return the edges out of ``state`` (whose key is ``key``), in move order, with their
    successors (their flags are computed when they turn out to be new)."""
    return [
        Edge(
            s.move,
            s.key,
            s.fair,
            s.changed,
            s.violations,
            s.situations,
            _finalized(s),
            -1,
            s.state,
        )
        for s in expander.expand(state, key)
    ]


MIN_PARALLEL_LEVEL = 64
"""With ``--jobs``, the first levels are expanded here until one holds this many states;
from then on every level is expanded by the workers."""


@dataclass(frozen=True, slots=True)
class Part:
    """A worker's share of one breadth-first level (``--jobs``): the states it found in the
    level before (by number and key: it kept them), and states it is given whole (those
    this process found, once, when the search moves to the workers)."""

    config: ExploreConfig
    worker: int
    """The pool's worker this part is for (the pool hands part ``i`` of a level to its
    worker ``i``: they are all idle when the level is submitted)."""
    level: int
    held: tuple[tuple[int, bytes], ...]
    given: tuple[tuple[int, bytes, SearchState], ...]
    requests_allowed: int
    inherited: tuple[tuple[int, bytes], ...] = ()
    """States a forked worker finds in its copy of this process's memory (the level at
    which the workers started), by number and key."""


@dataclass(frozen=True, slots=True)
class PartResult:
    """A worker's edges of its part, by state number; or the states it did not hold."""

    pid: int
    edges: dict[int, list[Edge]]
    missing: tuple[int, ...] = ()


@dataclass(slots=True)
class _Inheritance:
    """What forked workers find in their copy of the parent's memory: its expander (with
    its warm caches: fingerprint tables, memoised steps) and the level at which they start,
    the same objects (identity-keyed caches keep hitting). Set only while the pool forks."""

    expander: Expander | None = None
    states: dict[int, SearchState] = field(default_factory=dict)


_INHERITED = _Inheritance()


class _Worker:
    """A worker's side of the search, kept across levels with its caches (fingerprints,
    memoised steps): it expands its part and keeps every successor it found (the first
    of each key, in its states' order), so that it can expand the ones that turn out new
    in the next level without their being sent anywhere."""

    def __init__(self, config: ExploreConfig) -> None:
        self.config = config
        inherited = _INHERITED.expander
        same = inherited is not None and inherited.config == config
        self.expander = inherited if same and inherited is not None else Expander(config)
        self._memo = memoised_steps()
        self._memo.__enter__()  # for the worker's life: results do not depend on it
        self.setup: WorldSetup | None = None
        self.store: dict[bytes, SearchState] = {}

    def expand(self, part: Part) -> PartResult:
        held, self.store = self.store, {}
        todo = [(n, key, held.get(key)) for n, key in part.held]
        todo += [(n, key, self._same_setup(state)) for n, key, state in part.given]
        todo += [(n, key, _INHERITED.states.get(n)) for n, key in part.inherited]
        _INHERITED.states = {}  # needed once: the worker keeps what it finds from now on
        missing = tuple(n for n, _, state in todo if state is None)
        if missing:
            return PartResult(os.getpid(), {}, missing)
        todo.sort(key=itemgetter(0))
        store = self.store
        marks: dict[bytes, int] = {}
        out: dict[int, list[Edge]] = {}
        for n, key, state in todo:
            stop_point()
            assert state is not None
            edges = []
            for s in self.expander.expand(state, key):
                got = marks.get(s.key)
                if got is None:
                    store[s.key] = s.state
                    got = marks[s.key] = state_marks(s.state.world, part.requests_allowed)
                edges.append(
                    Edge(
                        s.move,
                        s.key,
                        s.fair,
                        s.changed,
                        s.violations,
                        s.situations,
                        _finalized(s),
                        got,
                        None,
                    )
                )
            out[n] = edges
        return PartResult(os.getpid(), out)

    def _same_setup(self, state: SearchState) -> SearchState:
        # A given state unpickles its own copy of the setup; one object keeps the memos hitting.
        setup = state.world.setup
        if self.setup is None:
            self.setup = setup
        elif setup is not self.setup:
            if setup != self.setup:
                raise ValueError("a state of another configuration's setup")
            state = replace(state, world=evolve(state.world, setup=self.setup))
        return state


_WORKER: list[_Worker] = []


def expand_part(part: Part) -> PartResult:
    """Expand a part in a worker process (:class:`_Worker`)."""
    if not _WORKER or _WORKER[0].config != part.config:
        _WORKER[:] = [_Worker(part.config)]
    return _WORKER[0].expand(part)


class Explorer:
    """The breadth-first search of one configuration (module docstring).

    ``jobs > 1`` expands the levels on that many worker processes (:mod:`spec.parallel`)
    once one holds :data:`MIN_PARALLEL_LEVEL` states: each worker expands the states it
    found itself in the level before (it kept them: no world crosses a process boundary
    after the first parallel level) and sends back their edges; this process takes every
    state's edges in number order, numbering new states exactly as the single-process
    search does, and assigns each new state to the worker that found its first
    occurrence (the same representative world the single-process search keeps). States,
    edges, depths and counterexamples are the same for every ``jobs``.
    """

    def __init__(
        self,
        config: ExploreConfig,
        *,
        progress: Callable[[ExploreResult, int], None] | None = None,
        progress_every: int = 2_000,
        jobs: int = 1,
    ) -> None:
        self.config = config
        self.expander = Expander(config)
        self.progress = progress
        self.progress_every = progress_every
        self.jobs = jobs
        self.initial_world = build_initial(config).world
        self.keys = self.expander.keys
        self.requests_allowed = (
            snapshot_requests(self.initial_world)
            + config.lagging
            + config.restarts
            + config.retries
        )

    def initial_state(self) -> SearchState:
        """Return the initial search state."""
        return self.expander.initial(self.initial_world)

    def run(self) -> ExploreResult:
        """Explore; a stop (:mod:`spec.robust.stop`: Ctrl-C, SIGTERM, a time budget) ends
        the search early with what was found, ``stopped`` saying why."""
        result = ExploreResult(self.config)
        result.renamings = len(self.keys.renamings)
        result.jobs = self.jobs
        result.base_rss_kb = _rss_kb()
        started = time.perf_counter()
        search = _Search(self, result)
        with stopping() as stopped, memoised_steps(), contextlib.ExitStack() as stack:

            def start() -> Pool:
                # Started when the first level goes to the workers: forked workers then
                # inherit the expander's warm caches and that level's states.
                return stack.enter_context(Pool(self.jobs))

            search.run(start if self.jobs > 1 else None)
        search.leave_open()
        if stopped.reason is not None:
            result.stopped = stopped.reason
        result.interrupted = result.stopped in _INTERRUPTS
        result.seconds = time.perf_counter() - started
        result.peak_rss_kb = _rss_kb()
        result.interned = self.keys.interned
        result.complete = result.stopped is None and not any(f & OPEN for f in result.flags)
        return result

    # -- re-execution (counterexamples) ------------------------------------------------------

    def replay_path(
        self, result: ExploreResult, path: list[int], last: Move | None = None
    ) -> Iterator[Successor]:
        """Re-execute a path of state numbers from the initial state — at each step, the
        successor whose key is the next state's (robust to symmetry and to absolute time) —
        then, if given, the move ``last``."""
        state = self.initial_state()
        if self.keys.key(state) != result.keys[path[0]]:
            raise ValueError("the path does not start at the initial state")
        for target in path[1:]:
            want = result.keys[target]
            for s in self.expander.expand(state):
                if s.changed and s.key == want:
                    yield s
                    state = s.state
                    break
            else:
                raise ValueError(f"no move reaches state {target}")
        if last is not None:
            got = self.expander.step(state, last, self.keys.key(state))
            if got is None:
                raise ValueError(f"the move {last!r} is not enabled at the end of the path")
            yield got


_INTERRUPTS = frozenset({"interrupt", "terminate", "budget"})
"""Stop reasons that come from outside the search (:mod:`spec.robust.stop`)."""

_HERE = -1
"""The holder of a state this process found (it has the state itself)."""


class _Search:
    """One run of :class:`Explorer`: the table from key to state number and the levels.

    :meth:`take` records one expanded state's edges; it is the only place states are
    numbered, and it sees the states in breadth-first order whoever expanded them.
    """

    def __init__(self, explorer: Explorer, result: ExploreResult) -> None:
        self.explorer = explorer
        self.config = explorer.config
        self.result = result
        self.index: dict[bytes, int] = {}
        self.fair_ids: dict[tuple[Any, ...], int] = {}
        self.set_ids: dict[frozenset[int], int] = {}
        self.level: list[tuple[int, SearchState | None, int]] = []
        """The level being expanded, in number order: (number, state if here, holder)."""
        self.done = 0
        """How many of :attr:`level` were taken."""
        self.next: list[tuple[int, SearchState | None, int]] = []
        """The next level's states found so far."""
        self.stopped = False
        self.in_workers = False

    def add(
        self,
        state: SearchState | None,
        key: bytes,
        parent: int,
        depth: int,
        marks: int = -1,
        holder: int = _HERE,
    ) -> int:
        """Return the number of the state with ``key``, numbering it if it is new (its own
        flags are ``marks``, or computed from ``state``; ``holder`` keeps it)."""
        found = self.index.get(key)
        if found is not None:
            return found
        if marks < 0:
            if state is None:
                raise RuntimeError("a new state came without its flags (a bug in the search)")
            marks = state_marks(state.world, self.explorer.requests_allowed)
        r = self.result
        n = len(r.keys)
        self.index[key] = n
        r.keys.append(key)
        r.parent.append(parent)
        r.depth.append(depth)
        r.enabled.append(-1)
        max_depth = self.config.max_depth
        flags = marks
        if marks & CUT:
            pass
        elif max_depth is not None and depth >= max_depth:
            flags |= OPEN
        else:
            self.next.append((n, state, holder))
        r.flags.append(flags)
        return n

    def take(self, n: int, edges: list[Edge], holder: int = _HERE) -> bool:
        """Record the edges out of state ``n`` (expanded by ``holder``); return False when the
        search must stop."""
        r = self.result
        depth = r.depth[n] + 1
        enabled: set[int] = set()
        for e in edges:
            r.transitions += 1
            if e.fair is not None and e.changed:
                cls = self.fair_ids.get(e.fair)
                if cls is None:
                    cls = self.fair_ids[e.fair] = len(r.fair_classes)
                    r.fair_classes.append(e.fair)
                enabled.add(cls)
            else:
                cls = -1
            if not e.changed and not e.violations:
                continue
            flags = (VIOLATING if e.violations else 0) | (FINALIZED if e.finalized else 0)
            m = self.add(e.state, e.key, n, depth, e.marks, holder)
            if flags:
                r.flags[m] |= flags
            if e.changed:
                r.src.append(n)
                r.dst.append(m)
                r.fair.append(cls)
            for v in e.violations:
                got = r.violations.get(v.id)
                if got is None:
                    r.violations[v.id] = Found(v, n, e.move, depth)
                else:
                    got.edges += 1
            for name in e.situations:
                seen = r.situations.get(name)
                if seen is None:
                    r.situations[name] = (m, r.depth[m], 1)
                else:
                    r.situations[name] = (seen[0], seen[1], seen[2] + 1)
        key = frozenset(enabled)
        sid = self.set_ids.get(key)
        if sid is None:
            sid = self.set_ids[key] = len(r.enabled_sets)
            r.enabled_sets.append(key)
        r.enabled[n] = sid
        self.done += 1
        progress = self.explorer.progress
        if progress is not None and n % self.explorer.progress_every == 0:
            progress(r, len(self.level) - self.done + len(self.next))
        if self.config.stop_on_first and r.violations:
            r.stopped = "first-violation"
            return False
        limit = self.config.max_states
        if limit is not None and len(r.keys) >= limit:
            r.stopped = "max-states"
            return False
        return True

    def run(self, start: Callable[[], Pool] | None) -> None:
        """Expand level after level until none is left or the search stops: here, and with
        workers (``start`` makes the pool) from the first level of
        :data:`MIN_PARALLEL_LEVEL` states on."""
        explorer = self.explorer
        state0 = explorer.initial_state()
        self.add(state0, explorer.keys.key(state0), 0, 0)
        depth = 0
        pool: Pool | None = None
        while self.next and not self.stopped:
            self.level, self.next, self.done = self.next, [], 0
            inherit = False
            if pool is None and start is not None and len(self.level) >= MIN_PARALLEL_LEVEL:
                _INHERITED.expander = explorer.expander
                _INHERITED.states = {n: st for n, st, _ in self.level if st is not None}
                try:
                    pool = start()
                finally:
                    _INHERITED.expander, _INHERITED.states = None, {}
                inherit = pool.method == "fork"
            if pool is not None:
                self._in_workers(pool, depth, inherit)
            else:
                self._here()
            depth += 1

    def _here(self) -> None:
        expander = self.explorer.expander
        keys = self.result.keys
        for n, state, _ in self.level:
            stop_point()
            assert state is not None
            if not self.take(n, edges_of(expander, state, keys[n])):
                self.stopped = True
                return

    def _in_workers(self, pool: Pool, depth: int, inherit: bool) -> None:
        """Hand each worker its part of the level (the states it holds, and an even share
        of those this process holds: by number if the worker was forked with them, else
        whole), then take every state's edges in number order."""
        jobs = pool.jobs
        keys = self.result.keys
        held: list[list[tuple[int, bytes]]] = [[] for _ in range(jobs)]
        given: list[list[tuple[int, bytes, SearchState]]] = [[] for _ in range(jobs)]
        inherited: list[list[tuple[int, bytes]]] = [[] for _ in range(jobs)]
        for n, state, holder in self.level:
            if holder != _HERE:
                held[holder].append((n, keys[n]))
            elif inherit:
                inherited[n % jobs].append((n, keys[n]))
            else:
                assert state is not None
                given[n % jobs].append((n, keys[n], state))
        allowed = self.explorer.requests_allowed
        parts = [
            Part(
                self.config,
                i,
                depth,
                tuple(held[i]),
                tuple(given[i]),
                allowed,
                tuple(inherited[i]),
            )
            for i in range(jobs)
        ]
        mapped = map_ordered(expand_part, parts, jobs=jobs, pool=pool)
        pids = pool.pids()
        edges: dict[int, list[Edge]] = {}
        by: dict[int, int] = {}
        for i, got in mapped.results.items():
            if got.missing:
                raise RuntimeError(
                    f"worker {i} (pid {got.pid}, expected {pids[i]}) did not hold "
                    f"{len(got.missing)} of its states (a bug in the parallel search)"
                )
            edges.update(got.edges)
            for n in got.edges:
                by[n] = i
        self.result.worker_states += len(edges)
        for n, _, _ in self.level:
            out = edges.get(n)
            if out is None:  # its part was stopped: the search ends here
                break
            if not self.take(n, out, by[n]):
                self.stopped = True
                return
        if mapped.stopped is not None:
            self.result.stopped = mapped.stopped
            self.stopped = True

    def leave_open(self) -> None:
        """Mark every state found but not expanded as open (a stop or a limit)."""
        flags = self.result.flags
        for n, _, _ in self.level[self.done :]:
            flags[n] |= OPEN
        for n, _, _ in self.next:
            flags[n] |= OPEN
        self.level, self.next, self.done = [], [], 0


def _anchored(world: World) -> bool:
    for slot in world.nodes.values():
        session = slot.node.catchup
        if slot.up and session is not None and session.anchor is not None:
            return True
    return False


def _rss_kb() -> int:
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
