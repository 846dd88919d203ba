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

import resource
import time
from array import array
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import permutations
from typing import Any

from impl.effects import InstallSnapshot
from impl.messages import FetchDataResponse, SnapshotOffer, TakeSnapshot
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
from spec.model.fingerprint import Fingerprinter
from spec.model.invariants import INVARIANTS, BranchChecker, CheckHistory, Violation
from spec.model.liveness import converged
from spec.model.state import InFlight, World, WorldSetup

__all__ = [
    "EXPLORED_SITUATIONS",
    "STEP_LIVENESS_IDS",
    "Expander",
    "ExploreResult",
    "Explorer",
    "SearchState",
    "Successor",
    "snapshot_requests",
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

    @property
    def states(self) -> int:
        """Return the number of distinct states."""
        return len(self.keys)

    @property
    def max_depth(self) -> int:
        """Return the depth of the deepest state (the graph's depth from the initial state)."""
        return max(self.depth) if len(self.depth) else 0

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
        self._extra_ids: dict[tuple[Any, ...], int] = {(): 0}

    def key(self, state: SearchState) -> bytes:
        """Return the key of ``state``: the integers of the least key over the renamings,
        packed as 64-bit words (exact, and about a quarter of the tuple's memory)."""
        if len(self.renamings) == 1:
            best = self.fp.key(state.world) + self._extras(state, {})
        else:
            best = min(
                self.fp.key_under(state.world, k) + self._extras(state, r)
                for k, r in enumerate(self.renamings)
            )
        return array("q", best).tobytes()

    def _extras(self, state: SearchState, r: dict[str, str]) -> tuple[int, ...]:
        """The search state's own parts: the bounds left, then one number for the checks'
        history, the tampered messages and the replayable ones (interned)."""
        head = (state.writes, state.breaks, state.faults, state.restarts)
        if not (state.history.sessions or state.tampered or state.replayable):
            return (*head, 0)
        rest = self._rest(state, r)
        got = self._extra_ids.get(rest)
        if got is None:
            got = self._extra_ids[rest] = len(self._extra_ids)
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


class Explorer:
    """The breadth-first search of one configuration (module docstring)."""

    def __init__(
        self,
        config: ExploreConfig,
        *,
        progress: Callable[[ExploreResult, int], None] | None = None,
        progress_every: int = 2_000,
    ) -> None:
        self.config = config
        self.expander = Expander(config)
        self.progress = progress
        self.progress_every = progress_every
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
        """Explore (Ctrl-C ends the search early with what was found)."""
        result = ExploreResult(self.config)
        result.renamings = len(self.keys.renamings)
        result.base_rss_kb = _rss_kb()
        started = time.perf_counter()
        try:
            with memoised_steps():
                self._search(result)
        except KeyboardInterrupt:
            result.interrupted = True
            result.stopped = "interrupt"
        result.seconds = time.perf_counter() - started
        result.peak_rss_kb = _rss_kb()
        result.interned = self.keys.fp.interned
        result.complete = result.stopped is None and not any(f & OPEN for f in result.flags)
        return result

    def _search(self, result: ExploreResult) -> None:
        config = self.config
        key_of = self.keys.key
        expand = self.expander.expand
        index: dict[bytes, int] = {}
        fair_ids: dict[tuple[Any, ...], int] = {}
        set_ids: dict[frozenset[int], int] = {}
        state0 = self.initial_state()
        frontier: deque[tuple[int, SearchState]] = deque()

        def add(state: SearchState, key: bytes, parent: int, depth: int, flags: int) -> int:
            found = index.get(key)
            if found is not None:
                return found
            n = len(result.keys)
            index[key] = n
            result.keys.append(key)
            result.parent.append(parent)
            result.depth.append(depth)
            world = state.world
            if converged(world):
                flags |= GOAL
            if _anchored(world):
                flags |= ANCHORED
            result.flags.append(flags)
            result.enabled.append(-1)
            if snapshot_requests(world) > self.requests_allowed:
                result.flags[n] |= CUT
            elif config.max_depth is not None and depth >= config.max_depth:
                result.flags[n] |= OPEN
            else:
                frontier.append((n, state))
            return n

        add(state0, key_of(state0), 0, 0, 0)
        limit = config.max_states
        while frontier:
            n, state = frontier.popleft()
            depth = result.depth[n] + 1
            enabled: set[int] = set()
            for s in expand(state, result.keys[n]):
                result.transitions += 1
                if s.fair is not None and s.changed:
                    cls = fair_ids.get(s.fair)
                    if cls is None:
                        cls = fair_ids[s.fair] = len(result.fair_classes)
                        result.fair_classes.append(s.fair)
                    enabled.add(cls)
                else:
                    cls = -1
                if not s.changed and not s.violations:
                    continue
                flags = VIOLATING if s.violations else 0
                if any(
                    isinstance(e, InstallSnapshot) for o in s.transition.outcomes for e in o.effects
                ):
                    flags |= FINALIZED
                m = add(s.state, s.key, n, depth, flags)
                if flags:
                    result.flags[m] |= flags
                if s.changed:
                    result.src.append(n)
                    result.dst.append(m)
                    result.fair.append(cls)
                for v in s.violations:
                    got = result.violations.get(v.id)
                    if got is None:
                        result.violations[v.id] = Found(v, n, s.move, depth)
                    else:
                        got.edges += 1
                for name in s.situations:
                    seen = result.situations.get(name)
                    if seen is None:
                        result.situations[name] = (m, result.depth[m], 1)
                    else:
                        result.situations[name] = (seen[0], seen[1], seen[2] + 1)
            key = frozenset(enabled)
            sid = set_ids.get(key)
            if sid is None:
                sid = set_ids[key] = len(result.enabled_sets)
                result.enabled_sets.append(key)
            result.enabled[n] = sid
            if config.stop_on_first and result.violations:
                result.stopped = "first-violation"
                break
            if limit is not None and len(result.keys) >= limit:
                result.stopped = "max-states"
                break
            if self.progress is not None and n % self.progress_every == 0:
                self.progress(result, len(frontier))
        for n, _ in frontier:
            result.flags[n] |= OPEN

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


def _anchored(world: World) -> bool:
    for slot in world.nodes.values():
        session = slot.node.catchup
        if slot.up and session is not None and session.anchor is not None:
            return True
    return False


def _rss_kb() -> int:
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
