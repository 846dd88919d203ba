"""``snapsync bench actions``: model actions per second through the hunt's driver.

``snapsync hunt`` spends its time in the group model: every action
(:mod:`spec.model.actions`) runs impl steps, then :class:`~spec.hunt.driver.Driver`
runs the invariant :class:`~spec.model.invariants.Checker`, the coverage counters
and the E1 bookkeeping on the transition. This benchmark times that loop on a
fixed, deterministic workload, for every collection kind under both profiles
(``reference`` and ``mosaik-0.3.13``, whose hazards make the checks report):

1. form a group as the hunt does (:func:`spec.hunt.scenario.build_group`: two
   writers in a joint election, two in-sync readers, ``items`` entries written one
   per log entry);
2. ``rounds`` times: the lagging readers (``r8``, ``r9``) join (or restart empty
   if they are up) and start fetching; their bonds to the providers ``r1`` and
   ``r2`` break mid-sync; clients write ``writes`` commands at the leader while
   provider ``r2`` is slow; every second round the leader restarts empty; then
   the group is drained (:meth:`~spec.hunt.driver.Driver.drain`: heal, fair
   delivery to quiescence).

It prints the model actions run and the seconds they took, as wall time and as
the process's CPU time (which leaves out the time it waited for a core), each the
best of ``--repeat`` runs, with actions per second of each, and a **digest** of
the outcome: the trace lines of every transition (what ``snapsync replay``
reproduces: actions, arguments, effects, messages, each step's raw violations),
the findings, the coverage counters and the final world of every run (every
node's whole state, every bond's queues, the ghost history), in a canonical
form. Two versions of the model that behave the same give the same digest; every
repeat must, else :class:`DigestMismatch` (exit status 2).
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import blake3

from impl.codec import canonical_json
from impl.errors import SnapshotSyncError
from impl.profile import MOSAIK_0_3_13, REFERENCE, Profile
from spec.hunt.client_commands import KINDS, seed_commands
from spec.hunt.driver import Driver
from spec.hunt.scenario import (
    HEARTBEAT_MS,
    LAGGING,
    REDRAW,
    GroupShape,
    build_group,
    election_timeout,
    world_setup,
)
from spec.model.actions import break_bond, client_write, join_late, restart_empty
from spec.model.state import NodeStatus, World
from spec.robust.options import MAX_COUNT, MAX_ITEMS, count
from spec.sim.simulator import node_summaries
from spec.sim.trace import end_record, step_record

__all__ = [
    "ActionsResult",
    "DigestMismatch",
    "Workload",
    "canonical",
    "drive",
    "outcome_digest",
    "register",
    "run",
    "run_once",
    "world_digest",
]

DEFAULT_ITEMS = 12
DEFAULT_WRITES = 6
DEFAULT_ROUNDS = 3
DEFAULT_REPEAT = 3

PROFILES: tuple[Profile, ...] = (REFERENCE, MOSAIK_0_3_13)
"""The profiles every kind runs under."""


class DigestMismatch(SnapshotSyncError):
    """Two runs of the same workload behaved differently (the model is not deterministic)."""


@dataclass(frozen=True, slots=True)
class Workload:
    """The fixed workload (module docstring); one run per kind and profile."""

    items: int = DEFAULT_ITEMS
    """Entries written before anyone lags."""
    writes: int = DEFAULT_WRITES
    """Client writes per round while the lagging readers catch up."""
    rounds: int = DEFAULT_ROUNDS
    """Join, write, break, drain rounds."""
    kinds: tuple[str, ...] = KINDS
    """Collection kinds, each run under every profile of :data:`PROFILES`."""


@dataclass(frozen=True, slots=True)
class ActionsResult:
    """The benchmark's result (the ``--json`` form, field for field)."""

    runs: int
    """Driver runs in one repeat (kinds × profiles)."""
    actions: int
    """Model actions in one repeat."""
    findings: int
    """Findings the runs reported (violations under mosaik's hazards, liveness)."""
    seconds: float
    """Wall time of the best repeat (digests excluded)."""
    actions_per_s: float
    cpu_seconds: float
    """CPU time of this process in the best repeat by CPU time."""
    actions_per_cpu_s: float
    repeats: list[float]
    """Wall time of every repeat."""
    cpu_repeats: list[float]
    """CPU time of every repeat."""
    digest: str
    """blake3 of the canonical outcome (module docstring); equal for every repeat."""


# -- a canonical form of model values ---------------------------------------------------------


def canonical(value: Any) -> Any:
    """Return ``value`` as JSON-able data that does not depend on hash order or object ids.

    Records become ``[type name, fields...]``, mappings lists of ``[key, value]``
    pairs sorted by the key's JSON, sets sorted lists, other iterables lists (the
    model's persistent sequences iterate in their own order), snapshots their
    items (``iter_range`` over the whole sequence).

    >>> from impl.types import Cursor, Index, Term
    >>> canonical({"b": frozenset({2, 1}), "a": Cursor(Term(1), Index(3))})
    [['a', ['Cursor', 1, 3]], ['b', [1, 2]]]
    """
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, enum.Enum):
        return canonical(value.value)
    if isinstance(value, bytes):
        return value.hex()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = [canonical(getattr(value, f.name)) for f in dataclasses.fields(value)]
        return [type(value).__name__, *fields]
    if isinstance(value, Mapping) or callable(getattr(value, "items", None)):
        pairs = [[canonical(k), canonical(v)] for k, v in value.items()]
        return sorted(pairs, key=lambda p: canonical_json(p[0]))
    if isinstance(value, set | frozenset):
        return sorted((canonical(v) for v in value), key=canonical_json)
    if callable(getattr(value, "iter_range", None)):
        from impl.types import ItemRange

        items = value.iter_range(ItemRange(0, len(value)))
        return ["snapshot", canonical(list(items) if items is not None else None)]
    if isinstance(value, Iterable):
        return [canonical(v) for v in value]
    raise TypeError(f"no canonical form for {type(value).__name__}")


def world_digest(world: World) -> str:
    """Return the blake3 hex digest of ``world``'s canonical form (setup excluded)."""
    data = canonical([world.now_ms, world.nodes, world.bonds, world.next_mid, world.ghost])
    return blake3.blake3(canonical_json(data).encode("utf-8")).hexdigest()


# -- the workload -------------------------------------------------------------------------------


def _rejoin(d: Driver, name: str) -> None:
    """``name`` joins (first time, or after it left) or restarts empty (if it is up)."""
    slot = d.world.nodes.get(name)
    if slot is None or slot.status is NodeStatus.DOWN:
        d.do(
            join_late,
            name,
            writer=False,
            election_timeout_ms=election_timeout(name),
            redraw=REDRAW,
        )
    elif slot.up:
        d.do(restart_empty, name, election_timeout_ms=election_timeout(name))


def drive(kind: str, profile: Profile, work: Workload) -> Driver:
    """Run the workload (module docstring) of one kind under one profile; return its driver."""
    shape = GroupShape(
        kind=kind, items=work.items, writers=2, readers=2, lagging=2, joint_election=True
    )
    d = Driver(world_setup(shape, profile))
    build_group(d, shape, join_lagging=False)
    extra = seed_commands(kind, work.items + work.rounds * work.writes)[work.items :]
    for r in range(work.rounds):
        for name in LAGGING:
            _rejoin(d, name)
        d.settle(2 * HEARTBEAT_MS, until="fetching")
        # Bonds of the lagging readers to providers break mid-sync.
        for a, b in (("r1", "r8"), ("r2", "r9")):
            if d.world.bonded(a, b):
                d.do(break_bond, a, b)
        for command in extra[r * work.writes : (r + 1) * work.writes]:
            leader = d.leader()
            if leader is not None:
                d.do(client_write, leader, (command,))
            d.settle(HEARTBEAT_MS // 2, slow="r2")
        if r % 2 == 1:
            # A leader change while the group works: the leader restarts empty.
            leader = d.leader()
            if leader is not None:
                d.do(restart_empty, leader, election_timeout_ms=election_timeout(leader))
        d.drain()
    return d


def outcome_digest(drivers: Iterable[Driver]) -> str:
    """Return the digest of the runs' transitions, findings, coverage and final worlds."""
    h = blake3.blake3()
    for d in drivers:
        for seq, (t, raw) in enumerate(d.log, start=1):
            line = step_record(seq, t, [v.as_json() for v in raw])
            h.update(canonical_json(line).encode("utf-8"))
        total = sum(len(raw) for _, raw in d.log)
        end = end_record(len(d.log), d.world, node_summaries(d.world, d.checker), total)
        h.update(canonical_json(end).encode("utf-8"))
        h.update(canonical_json([f.as_json() for f in d.findings]).encode("utf-8"))
        h.update(canonical_json(d.coverage.as_dict()).encode("utf-8"))
        h.update(world_digest(d.world).encode("utf-8"))
    return h.hexdigest()


def run_once(work: Workload) -> tuple[list[Driver], float, float]:
    """Run every kind under every profile; return the drivers, wall and CPU seconds."""
    started, cpu = time.perf_counter(), time.process_time()
    drivers = [drive(kind, profile, work) for kind in work.kinds for profile in PROFILES]
    return drivers, time.perf_counter() - started, time.process_time() - cpu


def run(work: Workload = Workload(), repeat: int = DEFAULT_REPEAT) -> ActionsResult:
    """Run the workload ``repeat`` times; return the best time and the outcome's digest.

    Raises :class:`DigestMismatch` if two repeats behave differently.
    """
    times: list[float] = []
    cpu_times: list[float] = []
    digest = ""
    actions = findings = runs = 0
    for i in range(repeat):
        drivers, seconds, cpu = run_once(work)
        times.append(seconds)
        cpu_times.append(cpu)
        got = outcome_digest(drivers)
        if i and got != digest:
            raise DigestMismatch(f"repeat {i + 1} has digest {got}, repeat 1 had {digest}")
        digest = got
        actions = sum(d.steps for d in drivers)
        findings = sum(len(d.findings) for d in drivers)
        runs = len(drivers)
    best, best_cpu = min(times), min(cpu_times)
    return ActionsResult(
        runs=runs,
        actions=actions,
        findings=findings,
        seconds=best,
        actions_per_s=actions / best if best > 0 else 0.0,
        cpu_seconds=best_cpu,
        actions_per_cpu_s=actions / best_cpu if best_cpu > 0 else 0.0,
        repeats=times,
        cpu_repeats=cpu_times,
        digest=digest,
    )


# -- the command --------------------------------------------------------------------------------


def _kinds(text: str) -> tuple[str, ...]:
    kinds = tuple(k.strip() for k in text.split(",") if k.strip())
    unknown = [k for k in kinds if k not in KINDS]
    if not kinds or unknown:
        raise argparse.ArgumentTypeError(f"kinds must be among {', '.join(KINDS)}, got {text!r}")
    return kinds


def _print_table(result: ActionsResult, work: Workload) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=(
            f"Model actions through the hunt's driver: {result.runs} runs "
            f"({', '.join(work.kinds)} × {', '.join(p.name for p in PROFILES)})"
        )
    )
    table.add_column("actions", justify="right")
    table.add_column("findings", justify="right")
    table.add_column("seconds (best)", justify="right")
    table.add_column("actions/s", justify="right")
    table.add_column("CPU seconds (best)", justify="right")
    table.add_column("actions/CPU s", justify="right")
    table.add_row(
        f"{result.actions:,}",
        f"{result.findings:,}",
        f"{result.seconds:.3f}",
        f"{result.actions_per_s:,.0f}",
        f"{result.cpu_seconds:.3f}",
        f"{result.actions_per_cpu_s:,.0f}",
    )
    console = Console()
    console.print(table)
    console.print(f"repeats (wall s): {', '.join(f'{s:.3f}' for s in result.repeats)}")
    console.print(f"digest {result.digest}")


def _handle(args: argparse.Namespace) -> int:
    work = Workload(items=args.items, writes=args.writes, rounds=args.rounds, kinds=args.kinds)
    result = run(work, args.repeat)
    if args.json:
        print(json.dumps(asdict(result), sort_keys=True))
    else:
        _print_table(result, work)
    return 0


def register(benches: Any) -> None:
    """Add ``actions`` to the ``bench`` subparsers."""
    parser: argparse.ArgumentParser = benches.add_parser(
        "actions",
        help="model actions per second through the hunt's driver (with a behaviour digest)",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    parser.add_argument(
        "--items",
        type=count(1, MAX_ITEMS),
        default=DEFAULT_ITEMS,
        help="entries before anyone lags",
    )
    parser.add_argument(
        "--writes", type=count(0, MAX_ITEMS), default=DEFAULT_WRITES, help="client writes per round"
    )
    parser.add_argument("--rounds", type=count(1, MAX_COUNT), default=DEFAULT_ROUNDS, help="rounds")
    parser.add_argument(
        "--kinds", type=_kinds, default=KINDS, help="comma-separated collection kinds"
    )
    parser.add_argument(
        "--repeat", type=count(1, MAX_COUNT), default=DEFAULT_REPEAT, help="runs (best time taken)"
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(handler=_handle)
