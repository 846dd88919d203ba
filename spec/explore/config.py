"""An exploration's configuration: the group, its profile and faults, its bounds, its start.

The group is the hunt's (:class:`spec.hunt.scenario.GroupShape`, built by
:func:`spec.hunt.scenario.build_group` with the model's actions): writer ``w0``
leads, ``readers`` in-sync readers ``r1``.. hold ``items`` entries and serve
snapshots, and ``lagging`` readers (``r8``, ``r9``) have just joined empty. That
formed group is the initial state; its build is the start of every trace the
explorer writes. Election timeouts are fixed per node (no redraw): a redrawn
timeout depends on a re-arm count that grows with every heartbeat, which no
finite state space can hold (docs/explore.md).

Bounds (TLC's ``CONSTRAINT``s, named so that a report can say which one cut):

* ``writes`` — client writes at the leader, each one command of :data:`WRITE_SETS`;
* ``breaks`` — bond breaks (the hunt's discipline: never between two writers);
  restoring a broken bond is always possible and costs nothing;
* ``fault_budget`` — injected faults (duplicate, reorder, corrupt, forge);
* ``restarts`` — readers restarting empty;
* ``retries`` — snapshot requests beyond one per lagging or restarted reader: a
  state whose leaders appended more TakeSnapshot entries is reached and checked
  but not expanded;
* ``max_queue`` — time moves only while every bond direction holds at most this
  many messages (a bounded-latency assumption: a message is not overtaken by
  unboundedly many heartbeats).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

from impl.collections.cell import CellWrite
from impl.collections.depq import DepqCompareExchangeValue
from impl.collections.map import MapInsert
from impl.collections.once import OnceWrite
from impl.collections.set import SetInsert
from impl.collections.vec import VecPushBack
from impl.config import Config
from impl.errors import InvalidInput
from impl.messages import Command
from impl.profile import REFERENCE, Profile
from spec.hunt.client_commands import KINDS
from spec.hunt.driver import Driver
from spec.hunt.scenario import GroupShape, build_group, world_setup
from spec.model.faults import Fault
from spec.model.state import World, WorldSetup

__all__ = ["TIMINGS", "WRITE_SETS", "ExploreConfig", "build_initial"]

WRITE_SETS: dict[str, tuple[Command, ...]] = {
    "map": (MapInsert(0, 1),),
    "vec": (VecPushBack(90),),
    "set": (SetInsert(90),),
    # A mismatching compare-exchange (the seed item 0 holds value 0): H4's trigger.
    "depq": (DepqCompareExchangeValue(0, 1, None),),
    "cell": (CellWrite(9),),
    "once": (OnceWrite(9),),
}
"""The commands a ``client_write`` move may submit, per collection: one each, chosen so
that the write changes the state the lagging reader must reach (map: overwrite the
seed key 0; DEPQ: the mismatching compare-exchange of H4)."""

TIMINGS: dict[str, tuple[int, int, int, int]] = {
    "compact": (500, 1_000, 2_000, 2_500),
    "hunt": (500, 2_000, 4_000, 6_000),
}
"""Timing presets: (heartbeat, fetch timeout, snapshot TTL, request retry) in ms. ``hunt``
is the hunt's (:data:`spec.hunt.scenario.FAST_CONFIG`); ``compact`` keeps its order
(heartbeat < fetch timeout < TTL < retry) and mosaik's TTL = 2 × fetch timeout with fewer
heartbeats per window, so that fewer distinct countdowns exist."""

_LIMIT = 1_000_000_000


def _count(name: str, value: Any, lo: int, hi: int = _LIMIT) -> None:
    # Verify each bound is a plain integer in range (bool and floats are not counts).
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise InvalidInput(f"{name} must be an integer in [{lo}, {hi}], got {value!r}")


@dataclass(frozen=True, slots=True)
class ExploreConfig:
    """One configuration to explore (module docstring)."""

    kind: str = "map"
    """The collection kind."""
    items: int = 1
    """Entries written before the lagging readers join (one item each)."""
    batch: int = 1
    """``fetch_batch_size``."""
    readers: int = 1
    """In-sync readers (providers, with the leader)."""
    lagging: int = 1
    """Readers that join empty and catch up by snapshot (at most 2)."""
    writers: int = 1
    """Writers (``w0`` leads; the others are non-voting followers)."""
    profile: Profile = REFERENCE
    faults: frozenset[Fault] = frozenset()
    writes: int = 1
    breaks: int = 0
    fault_budget: int = 1
    restarts: int = 0
    retries: int = 0
    max_queue: int = 1
    write_when: str = "sync"
    """When a write may happen: ``sync`` (while some node has a catch-up session: the writes
    the catch-up must carry over) or ``any``."""
    slow: str = "lagging"
    """Which bonds may hold messages while time moves: ``lagging`` (only the bonds of the
    lagging readers: the in-sync group exchanges its messages within one instant) or
    ``all``."""
    timing: str = "compact"
    """A preset of :data:`TIMINGS`."""
    grain_ms: int = 0
    """0: time jumps to the next deadline only; ``g > 0``: also by ``g`` ms when the next
    deadline is further away (a finer clock, for checking the abstraction)."""
    symmetry: bool = False
    """Merge states that differ by a renaming of interchangeable readers."""
    max_states: int | None = None
    """Stop generating states after this many (the exploration is then incomplete)."""
    max_depth: int | None = None
    """Do not expand states at this depth (the exploration is then incomplete)."""
    step_liveness: bool = True
    """Run the model's per-step liveness checks (L2, L3, L5) with the safety invariants;
    off, liveness comes from the state graph alone."""
    stop_on_first: bool = False
    """Stop at the first violation (its counterexample is still the shortest)."""
    graph: bool = True
    """Keep the state graph and check liveness on it."""
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    """Free-form notes carried into the report (e.g. the name of a pinned configuration)."""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise InvalidInput(f"unknown collection kind {self.kind!r}; known: {', '.join(KINDS)}")
        _count("--items", self.items, 0, 64)
        _count("--batch", self.batch, 1, 1_000)
        _count("--readers", self.readers, 0, 5)
        _count("--lagging", self.lagging, 1, 2)
        _count("--writers", self.writers, 1, 3)
        for name in ("writes", "breaks", "fault_budget", "restarts", "retries"):
            _count(f"--{name.replace('_', '-')}", getattr(self, name), 0, 16)
        _count("--max-queue", self.max_queue, 1, 16)
        if self.write_when not in ("sync", "any"):
            raise InvalidInput(f"--write-when must be 'sync' or 'any', got {self.write_when!r}")
        if self.slow not in ("lagging", "all"):
            raise InvalidInput(f"--slow must be 'lagging' or 'all', got {self.slow!r}")
        if self.timing not in TIMINGS:
            raise InvalidInput(f"unknown timing {self.timing!r}; known: {', '.join(TIMINGS)}")
        _count("--grain", self.grain_ms, 0, 1_000_000)
        if self.max_states is not None:
            _count("--max-states", self.max_states, 1)
        if self.max_depth is not None:
            _count("--depth", self.max_depth, 0)
        if not isinstance(self.profile, Profile):
            raise InvalidInput(f"profile must be a Profile, got {self.profile!r}")
        if not all(isinstance(f, Fault) for f in self.faults):
            raise InvalidInput(
                f"faults must be Fault switches, got {sorted(map(str, self.faults))}"
            )
        if Fault.DISAGREE_ORDER in self.faults:
            raise InvalidInput("fault disagree_order is a node's setup, not a move: not explored")

    @property
    def shape(self) -> GroupShape:
        """Return the hunt's group shape of this configuration."""
        return GroupShape(
            kind=self.kind,
            items=self.items,
            batch=self.batch,
            writers=self.writers,
            readers=self.readers,
            lagging=self.lagging,
        )

    @property
    def setup(self) -> WorldSetup:
        """Return the model setup: the hunt's (:func:`spec.hunt.scenario.world_setup`) with
        the timing preset's heartbeat and timeouts."""
        base = world_setup(self.shape, self.profile, self.faults)
        heartbeat, fetch, ttl, retry = TIMINGS[self.timing]
        config = Config(
            fetch_batch_size=self.batch,
            snapshot_ttl_ms=ttl,
            snapshot_request_timeout_ms=retry,
            fetch_timeout_ms=fetch,
        )
        return replace(base, config=config, heartbeat_interval_ms=heartbeat)

    @property
    def write_set(self) -> tuple[Command, ...]:
        """Return the commands a write may submit."""
        return WRITE_SETS[self.kind]

    def slow_nodes(self) -> frozenset[str] | None:
        """Return the nodes whose bonds may hold messages while time moves (None: all)."""
        if self.slow == "all":
            return None
        return frozenset(n for n in self.shape.names() if n.startswith("r") and int(n[1:]) >= 8)

    def interchangeable(self) -> tuple[tuple[str, ...], ...]:
        """Return the groups of interchangeable readers (each group's members start in the
        same state up to their names): the in-sync readers, and the lagging ones."""
        shape = self.shape
        names = shape.names()
        providers = tuple(n for n in names if n.startswith("r") and int(n[1:]) < 8)
        lagging = tuple(n for n in names if n.startswith("r") and int(n[1:]) >= 8)
        return tuple(g for g in (providers, lagging) if len(g) > 1)

    def as_json(self) -> dict[str, Any]:
        """Return the JSON form (reports, pinned tables)."""
        return {
            "kind": self.kind,
            "items": self.items,
            "batch": self.batch,
            "readers": self.readers,
            "lagging": self.lagging,
            "writers": self.writers,
            "profile": self.profile.name,
            "hazards": sorted(h.value for h in self.profile.hazards),
            "faults": sorted(f.value for f in self.faults),
            "writes": self.writes,
            "breaks": self.breaks,
            "fault_budget": self.fault_budget,
            "restarts": self.restarts,
            "retries": self.retries,
            "max_queue": self.max_queue,
            "write_when": self.write_when,
            "timing": self.timing,
            "slow": self.slow,
            "grain_ms": self.grain_ms,
            "symmetry": self.symmetry,
            "max_states": self.max_states,
            "max_depth": self.max_depth,
            "step_liveness": self.step_liveness,
        }

    def time_quantum(self) -> int:
        """Return the greatest common divisor of every timing constant of the setup: the
        heartbeat, the three sync timeouts and every node's first election timeout."""
        setup = self.setup
        c = setup.config
        values = [
            setup.heartbeat_interval_ms,
            c.snapshot_ttl_ms,
            c.snapshot_request_timeout_ms,
            c.fetch_timeout_ms,
        ]
        from spec.hunt.scenario import election_timeout

        values += [election_timeout(n) for n in self.shape.names()]
        return math.gcd(*values)


def build_initial(config: ExploreConfig, *, record: bool = False) -> Driver:
    """Return a driver holding the configuration's initial state: the formed group with the
    lagging readers just joined (module docstring); ``record`` keeps the build for a trace."""
    driver = Driver(config.setup, record=record)
    build_group(driver, config.shape, redraw=None)
    return driver


def initial_world(config: ExploreConfig) -> World:
    """Return the configuration's initial world."""
    return build_initial(config).world
