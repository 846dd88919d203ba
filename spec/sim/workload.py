"""One parameterised catch-up run: the workload behind ``snapsync simulate`` and its benchmark.

The run follows mosaik's ``frozen`` / ``writes_during_sync`` tests (inventory §6.1):

1. the writer ``w0`` and the providers ``r1 .. r{providers-1}`` join and come online;
2. ``w0`` populates ``items`` items — one log entry per item (submitted together,
   published by one R1) or one ``extend`` entry (``oneshot``);
3. once everyone has them, the lagging reader ``r{providers}`` joins;
4. ``w0`` writes ``writes_during_sync`` more items, one entry every millisecond;
5. the run is driven to quiescence under fair delivery (liveness, L1–L5).

The report carries what ``snapsync simulate --json`` prints (docs/formats/trace.md
describes the trace it can also write). A run stopped by Ctrl-C (or a budget)
returns the report of what ran, with ``stopped`` set, ``converged`` false and no
liveness verdict (it was not checked); its trace ends with the end record of the
state reached, and replays exactly.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from impl.collections.cell import CellWrite
from impl.collections.once import OnceWrite
from impl.config import Config
from impl.errors import InvalidInput
from impl.messages import Command
from impl.profile import Profile
from spec.model.faults import Fault
from spec.model.invariants import Violation
from spec.model.liveness import quiescent, settle_report
from spec.model.state import World, WorldSetup
from spec.robust.options import MAX_BATCH, MAX_ITEMS, MAX_NODES, U64_MAX, check_range
from spec.robust.stop import StopReason, stopping
from spec.scenarios.flavors import FLAVORS
from spec.sim.latency import LatencyModel
from spec.sim.simulator import SimOptions, Simulator, cyclic_gc_paused, node_summaries
from spec.sim.trace import TraceWriter

__all__ = ["DEFAULT_FAULT_RATES", "SYNC_MESSAGES", "SimulationReport", "SimulationSpec", "simulate"]

SYNC_MESSAGES = ("RequestSnapshot", "SnapshotOffer", "FetchDataRequest", "FetchDataResponse")
"""The four snapshot-sync message kinds, always present in a report."""

DEFAULT_FAULT_RATES: Mapping[Fault, float] = {
    Fault.DUPLICATE: 0.02,
    Fault.REORDER: 0.02,
    Fault.SHORT_RESPONSE: 0.05,
    Fault.LONG_RESPONSE: 0.05,
    Fault.WRONG_OFFSET: 0.05,
    Fault.DISAGREE_ORDER: 1.0,
}
"""Injection probability of each rate-driven fault when no rate is given."""


@dataclass(frozen=True, slots=True)
class SimulationSpec:
    """The parameters of one run."""

    collection: str = "map"
    items: int = 10_000
    batch: int = 2_000
    providers: int = 2
    writes_during_sync: int = 0
    oneshot: bool = False
    seed: int = 0
    profile: Profile | None = None
    faults: Mapping[Fault, float] = field(default_factory=dict)
    check: bool = True
    max_steps: int | None = None
    """Step budget of the run; ``None`` means ``50_000 + 20 * (items + writes)``, far
    above what an honest run takes (the 100k frozen case: ~5k steps)."""

    def __post_init__(self) -> None:
        if self.max_steps is not None:
            check_range("max_steps", self.max_steps, 1, U64_MAX)
        if self.collection not in ("map", "vec", "set", "depq", "cell", "once"):
            raise InvalidInput(f"unknown collection {self.collection!r}")
        check_range("items", self.items, 0, MAX_ITEMS)
        check_range("writes_during_sync", self.writes_during_sync, 0, MAX_ITEMS)
        check_range("batch", self.batch, 1, MAX_BATCH)
        check_range("seed", self.seed, 0, U64_MAX)
        if not isinstance(self.providers, int) or not 1 <= self.providers <= MAX_NODES:
            raise InvalidInput(
                f"providers must be in [1, {MAX_NODES}] (the writer is one), got {self.providers}"
            )
        if Fault.FORGE in self.faults:
            raise InvalidInput("fault 'forge' has no rate: it is for scripted tests only")
        for fault, rate in self.faults.items():
            check_range(f"rate of fault {fault.value}", rate, 0.0, 1.0)


@dataclass(slots=True)
class SimulationReport:
    """What one run did (the JSON of ``snapsync simulate``)."""

    spec: SimulationSpec
    converged: bool
    violations: list[Violation]
    nodes: dict[str, dict[str, Any]]
    messages: dict[str, int]
    items_transferred: int
    snapshot_items: int
    sim_ms: int
    wall_s: float
    steps: int
    lagging: str
    dropped: int = 0
    lost: int = 0
    stopped: StopReason | None = None
    """Why the run ended early (Ctrl-C, SIGTERM), or None: it ran to its end."""

    def lower_bound(self) -> dict[str, int]:
        """Return the fault-free minimum: ⌈n/B⌉ requests and responses, n items."""
        n = self.snapshot_items
        chunks = math.ceil(n / self.spec.batch) if n else 0
        return {"FetchDataRequest": chunks, "FetchDataResponse": chunks, "items": n}

    def ratios(self) -> dict[str, float | None]:
        """Return actual / lower bound for requests, responses and items."""
        bound = self.lower_bound()

        def ratio(actual: int, minimum: int) -> float | None:
            return round(actual / minimum, 4) if minimum else None

        return {
            "FetchDataRequest": ratio(
                self.messages.get("FetchDataRequest", 0), bound["FetchDataRequest"]
            ),
            "FetchDataResponse": ratio(
                self.messages.get("FetchDataResponse", 0), bound["FetchDataResponse"]
            ),
            "items": ratio(self.items_transferred, bound["items"]),
        }

    def as_json(self) -> dict[str, Any]:
        """Return the JSON form."""
        s = self.spec
        profile = s.profile
        return {
            "converged": self.converged,
            "stopped": self.stopped,
            "violations": [v.as_json() for v in self.violations],
            "nodes": self.nodes,
            "messages": self.messages,
            "items_transferred": self.items_transferred,
            "messages_dropped": self.dropped,
            "messages_lost": self.lost,
            "snapshot_items": self.snapshot_items,
            "lower_bound": self.lower_bound(),
            "ratio_to_lower_bound": self.ratios(),
            "sim_ms": self.sim_ms,
            "wall_s": round(self.wall_s, 3),
            "steps": self.steps,
            "lagging_node": self.lagging,
            "parameters": {
                "collection": s.collection,
                "items": s.items,
                "batch": s.batch,
                "providers": s.providers,
                "writes_during_sync": s.writes_during_sync,
                "oneshot": s.oneshot,
                "seed": s.seed,
                "profile": profile.name if profile else "reference",
                "hazards": sorted(h.value for h in profile.hazards) if profile else [],
                "behaviours": sorted(b.value for b in profile.behaviours) if profile else [],
                "faults": {f.value: r for f, r in sorted(s.faults.items())},
                "check_invariants": s.check,
            },
        }


def _commands(collection: str, start: int, count: int, oneshot: bool) -> tuple[Command, ...]:
    if collection == "cell":
        return tuple(CellWrite(i) for i in range(start, start + count))
    if collection == "once":
        return tuple(OnceWrite(i) for i in range(start, start + count))
    flavor = FLAVORS[collection]
    if oneshot:
        return (flavor.extend(range(start, start + count)),) if count else ()
    return tuple(flavor.item(i) for i in range(start, start + count))


Progress = Callable[[str, Simulator], None]
"""Called as the run goes: the phase (``join``, ``populate``, ``sync``) and the simulator."""


def simulate(
    spec: SimulationSpec,
    *,
    trace_path: str | Path | None = None,
    progress: Progress | None = None,
) -> SimulationReport:
    """Run the workload of the module docstring and return its report."""
    with cyclic_gc_paused():
        return _simulate(spec, trace_path, progress)


def _simulate(
    spec: SimulationSpec, trace_path: str | Path | None, progress: Progress | None
) -> SimulationReport:
    from impl.profile import REFERENCE

    profile = spec.profile or REFERENCE
    faults = frozenset(spec.faults)
    setup = WorldSetup(
        kind=spec.collection,
        config=Config().with_fetch_batch_size(spec.batch),
        profile=profile,
        faults=faults,
    )
    providers = [f"r{i}" for i in range(1, spec.providers)]
    lagging = f"r{spec.providers}"
    options = SimOptions(
        seed=spec.seed,
        latency=LatencyModel(),
        fault_rates=dict(spec.faults),
        check_invariants=spec.check,
        misbehaving=frozenset(providers),
        # Honest runs take a few steps per chunk; the bound only stops livelocks.
        max_steps=(
            spec.max_steps
            if spec.max_steps is not None
            else 50_000 + 20 * (spec.items + spec.writes_during_sync)
        ),
    )
    trace = TraceWriter.open(trace_path) if trace_path is not None else None
    meta = {"workload": "simulate", "parameters": {"items": spec.items, "batch": spec.batch}}
    started = time.perf_counter()
    sim = Simulator(setup, options, trace=trace, meta=meta)
    phase = ["join"]
    if progress is not None:
        report_progress = progress

        def observe(_w: World) -> None:
            if sim.steps % 256 == 0:
                report_progress(phase[0], sim)

        sim.observers.append(observe)
    liveness: list[Violation] = []
    with stopping() as stopped:
        _drive(sim, spec, providers, lagging, faults, phase)
        liveness = settle_report(sim.world, sim.checker)
        if sim.budget_exhausted:
            liveness = [
                Violation("L1", lagging, f"step budget of {sim.steps} exhausted (livelock)"),
                *liveness,
            ]
    converged = stopped.reason is None and quiescent(sim.world) and not liveness
    messages = {kind: sim.sent_counts.get(kind, 0) for kind in SYNC_MESSAGES}
    for kind, count in sorted(sim.sent_counts.items()):
        messages.setdefault(kind, count)
    nodes = node_summaries(sim.world, sim.checker)
    sim.finish()
    return SimulationReport(
        spec=spec,
        converged=converged,
        violations=[*sim.violations, *liveness],
        nodes=nodes,
        messages=messages,
        items_transferred=sim.items_transferred,
        snapshot_items=sim.installed_items,
        sim_ms=sim.world.now_ms,
        wall_s=time.perf_counter() - started,
        steps=sim.steps,
        lagging=lagging,
        dropped=sim.dropped,
        lost=sim.lost,
        stopped=stopped.reason,
    )


def _drive(
    sim: Simulator,
    spec: SimulationSpec,
    providers: list[str],
    lagging: str,
    faults: frozenset[Fault],
    phase: list[str],
) -> None:
    """Steps 1–5 of the module docstring (``phase[0]`` names the step in progress)."""
    sim.join("w0", writer=True)
    disorder = Fault.DISAGREE_ORDER in faults
    for i, name in enumerate(providers):
        sim.join(name, writer=False, disorder=disorder and i == 0)
    everyone = ["w0", *providers]

    def online(w: World) -> bool:
        return all(w.nodes[n].node.online for n in everyone)

    sim.run_until(online, limit_ms=30_000)
    phase[0] = "populate"
    commands = _commands(spec.collection, 0, spec.items, spec.oneshot)
    version = 0
    if commands:
        sim.write("w0", commands)
        version = int(sim.world.nodes["w0"].node.log.last().index) + len(commands)

        def populated(w: World) -> bool:
            return all(w.nodes[n].node.committed.index >= version for n in everyone)

        sim.run_until(populated, limit_ms=sim.world.now_ms + 60_000 + 10 * spec.items)
    phase[0] = "sync"
    sim.join(lagging, writer=False)
    for i in range(spec.writes_during_sync):
        extra = _commands(spec.collection, spec.items + i, 1, False)
        leader = sim.world.leaders()
        if leader:
            sim.write(leader[0], extra)
        sim.run_for(1)
    total = spec.items + spec.writes_during_sync
    sim.run_until(quiescent, limit_ms=sim.world.now_ms + 60_000 + 10 * total)
