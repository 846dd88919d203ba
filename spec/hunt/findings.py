"""Findings as fixed regressions: regenerate them, and re-check a saved one.

Every hazard the hunt reproduces is kept under ``docs/findings/`` as the shrunk
run's trace (``Hx.trace.jsonl``), its sequence diagram (``Hx.dot``, and
``Hx.svg`` where graphviz is installed) and, for the differential machine, the
shrunk program (``Hx.program.json``). :func:`recheck` re-drives a saved trace
through a :class:`~spec.hunt.driver.Driver`, so the hunt's own checks (E1, and
the liveness verdicts L1/L2/L4 on the final state) are re-evaluated as well as
the model's; the tests assert that each saved finding is still found, without
depending on the random search finding it again.

Besides one finding per hazard switch, :data:`EXTRA_FINDINGS` names the findings
that are not one switch on ``reference``: H16, H29 and H30-tail (limitations), H16 with reader
voters (behaviour ``readers-vote``), H1 through a broken bond (transport
``deliver_after_break``, no fetch timeout). :data:`CONSEQUENCES` names, per finding
whose consequence is a stall, a deadlock, a divergence or a panic, how its
*consequence run* is hunted (:mod:`spec.hunt.consequences`); those are saved as
``NAME.consequence.trace.jsonl`` and listed in ``consequences.json``.

``python -m spec.hunt.findings OUT_DIR [NAME ...]`` re-hunts and regenerates the minimal
runs; ``python -m spec.hunt.findings --consequences OUT_DIR [NAME ...]`` the consequence
runs; ``python -m spec.hunt.findings --redraw OUT_DIR`` only redraws the diagram of every
saved trace (:func:`redraw`), leaving the traces untouched.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from impl.collections.depq import (
    Bound,
    DepqCompareExchangeValue,
    DepqRemoveRange,
    DepqUpdatePriority,
)
from impl.collections.map import MapCompareExchange, MapInsert, MapRemoveMany
from impl.profile import REFERENCE, Behaviour, Hazard, Profile
from spec.hunt.campaigns import (
    LIMITATION_CAMPAIGNS,
    Campaign,
    consequence_campaign,
    get_campaign,
    order_for,
)
from spec.hunt.consequences import Consequence
from spec.hunt.driver import Driver, Finding
from spec.hunt.machine import SESSION
from spec.hunt.runner import ViolationReport, hunt
from spec.hunt.swarm import Call, Program, run_program, shrink
from spec.model.actions import ACTIONS
from spec.render import dot_available, write_diagram
from spec.sim.replay import replay_file
from spec.sim.trace import TraceReader, decode_args, setup_from_header

__all__ = [
    "CONSEQUENCES",
    "EXTRA_FINDINGS",
    "FindingSpec",
    "Redrawn",
    "expected_finding",
    "generate",
    "generate_consequences",
    "recheck",
    "redraw",
]


def expected_finding(path: str | Path) -> dict[str, Any]:
    """Return the finding recorded in a saved trace's header (``meta.hunt``)."""
    lines = Path(path).read_text(encoding="utf-8").split("\n")
    header = json.loads(lines[0])
    hunt_meta = header.get("meta", {}).get("hunt", {})
    finding = hunt_meta.get("finding") or hunt_meta.get("limitation")
    if not isinstance(finding, dict):
        raise ValueError(f"{path}: the header records no hunt finding")
    return finding


def recheck(path: str | Path) -> list[Finding]:
    """Re-drive a saved trace through a Driver; return every finding (drain verdicts included).

    The final state is judged as the drain judged it: a dead session (L2), a quorum
    that cannot commit because its voters are catching up (L4, H16), an older tail
    only a write commits (L1, H30-tail), or no quiescence (L1).
    """
    reader = TraceReader.open(path)
    driver: Driver | None = None
    for line in reader.records():
        record = line.record
        if record["type"] == "header":
            driver = Driver(setup_from_header(record, line.number))
        elif record["type"] == "step":
            assert driver is not None
            action = ACTIONS[record["action"]]
            driver.act(action(driver.world, **decode_args(record["args"])))
    assert driver is not None
    found = list(driver.findings)
    for name, case in driver.dead_sessions():
        found.append(Finding("L2", name, f"dead session state {case}", driver.steps))
    deadlock = driver.quorum_deadlock()
    if deadlock is not None:
        found.append(deadlock)
    tail = driver.older_tail_stall()
    problem = driver.quiescence_problem()
    if tail is not None:
        found.append(tail)
    elif problem is not None:
        found.append(Finding("L1", None, problem, driver.steps))
    return found


def _save(report: ViolationReport | dict[str, Any], out: Path, name: str) -> dict[str, Any]:
    trace = report.trace if isinstance(report, ViolationReport) else report.get("trace")
    entry: dict[str, Any] = {"name": name}
    if isinstance(report, ViolationReport):
        entry.update(report.as_json())
    else:
        entry.update(report)
    if trace is None:
        return entry
    src = Path(trace)
    if src.name.endswith(".program.json"):
        dst = out / f"{name}.program.json"
        shutil.copyfile(src, dst)
        entry["trace"] = str(dst)
        return entry
    dst = out / f"{name}.trace.jsonl"
    shutil.copyfile(src, dst)
    entry["trace"] = str(dst)
    result = replay_file(dst)
    dot, svg = write_diagram(result.records, out / f"{name}.dot", name=name)
    entry["dot"] = str(dot)
    entry["svg"] = None if svg is None else str(svg)
    entry["replay_exact"] = result.exact
    return entry


@dataclass(frozen=True, slots=True)
class FindingSpec:
    """How one finding (or its consequence run) is hunted."""

    name: str
    """The finding's name (``H1``, ``H16-readers``, …): its files are ``NAME.*``."""
    profile: Profile
    campaigns: tuple[str, ...] = ()
    """The campaigns to hunt in (empty: those aimed at the profile's switches first)."""
    limitation: bool = False
    """A documented limitation: hunt with the limitation campaigns, the limitation fatal
    (so that the run is shrunk like a violation)."""
    consequence: Consequence | None = None
    seed: Callable[[], Program] | None = None
    """A program known to reach the consequence, shrunk instead of searched for (H4: two
    mismatching compare-exchanges and a non-idempotent suffix in one batch)."""
    why: str = ""
    """Why this profile and campaign (documentation)."""
    shrink_s: float = 20.0
    """Time to shrink the run found."""


EXTRA_FINDINGS: tuple[FindingSpec, ...] = (
    FindingSpec(
        "H16",
        REFERENCE,
        ("lagging-voter",),
        limitation=True,
        why="two writers elected together; a writer restarts empty and lags",
    ),
    FindingSpec(
        "H16-readers",
        REFERENCE.with_behaviours([Behaviour.READERS_VOTE]),
        ("reader-voters",),
        why="one writer and one reader elected together; readers vote in 0.3.13",
    ),
    FindingSpec(
        "H1-bond-break",
        REFERENCE.with_hazards([Hazard.H1]),
        ("broken-bond-responses",),
        seed=lambda: _h1_bond_break(),
        why="no time passes: the late answer comes from a broken bond, not a fetch timeout",
    ),
    FindingSpec(
        "H29",
        REFERENCE,
        ("writer-partition",),
        limitation=True,
        seed=lambda: _h29_partition(),
        why="two writers and a reader elected together; the leader is cut off from both",
    ),
    FindingSpec(
        "H30-tail",
        REFERENCE,
        ("competing-elections",),
        limitation=True,
        seed=lambda: _h30_tail(),
        why="three writers; w1 stands twice in a row, so the tail it leads with (w0's last "
        "write, term 1) is older than the term before its own (3)",
    ),
    FindingSpec(
        "H29-readers",
        REFERENCE.with_behaviours([Behaviour.READERS_VOTE]),
        ("stale-majority",),
        shrink_s=60.0,
        why="no partition: a stale writer and a voting reader outvote the writer that holds "
        "a committed entry",
    ),
)
"""Findings that are not one hazard switch on ``reference`` (module docstring)."""


def _break(which: int) -> Call:
    return Call("break_bond", (("which", which), ("received_by_a", 0), ("received_by_b", 0)))


def _h1_bond_break(*, then_stall: bool = False) -> Program:
    """The hunt's run, without the two breaks the shrinker could not drop (its arguments pick
    a bond by position among the live ones): r8's bond to w0 breaks after r8 received w0's
    answer for [0,1); r8's poll (Q6, Q11) re-asks [0,1) (from r2) before it processes that
    answer. ``then_stall``: w0's answer is drained, then r2's copy of [0,1) arrives while
    [1,2) (r1) is still out — the order that stalls for ever."""
    shape = (("kind", "map"), ("items", 2), ("batch", 1), ("writers", 1), ("readers", 3),
             ("lagging", 1))  # fmt: skip
    # Bonds sorted: r1–r2, r1–r3, r1–r8, r1–w0, r2–r3, r2–r8, r2–w0, r3–r8, r3–w0, r8–w0.
    calls: tuple[Call, ...] = (
        Call("break_bond", (("which", 9), ("received_by_a", 1), ("received_by_b", 0))),
        Call("node_poll", (("who", 3),)),  # up nodes sorted: r1, r2, r3, r8, w0
    )
    if then_stall:
        # Queued then: r8→r1 (ask [1,2)), r8→r2 (ask [0,1)), w0→r8 (the received answer).
        calls += (
            Call("deliver_message", (("which", 2),)),  # w0→r8
            Call("node_poll", (("who", 3),)),
            Call("deliver_message", (("which", 1),)),  # r8→r2
            Call("deliver_message", (("which", 0),)),  # r2→r8
            Call("node_poll", (("who", 3),)),
        )
    return Program(get_campaign("broken-bond-responses"), shape, calls)


def _h29_partition(*, then_write: bool = False) -> Program:
    """The leader w0 is cut off from w1 and r1 (bonds sorted: r1–w0, r1–w1, w0–w1), writes
    and commits alone; w1 times out and wins without that entry (``then_write``: and
    commits another entry 2)."""
    shape = (("kind", "map"), ("items", 1), ("batch", 1), ("writers", 2), ("readers", 1),
             ("lagging", 0))  # fmt: skip
    calls: tuple[Call, ...] = (
        _break(2),
        _break(0),
        Call("client_write", (("commands", (MapInsert(0, 1),)),)),
        Call("settle", (("window", 4_001), ("slow", None))),
    )
    if then_write:
        calls += (Call("client_write", (("commands", (MapInsert(0, 2),)),)),)
    return Program(get_campaign("writer-partition"), shape, calls)


def _h29_readers() -> Program:
    """The shrunk H29-readers run (no partition), then time for the election it leads to and
    a write at the new leader w1, which lacks the entry w0 committed alone at that index."""
    shape = (("kind", "map"), ("items", 1), ("batch", 1), ("writers", 2), ("readers", 1),
             ("lagging", 0))  # fmt: skip

    def write(*commands: Any) -> Call:
        return Call("client_write", (("commands", commands),))

    def wait(delta: int) -> Call:
        return Call("advance_time", (("delta", delta),))

    def settle(window: int) -> Call:
        return Call("settle", (("window", window), ("slow", None)))

    calls = (
        write(MapCompareExchange(4, None, None)),
        wait(1),
        write(MapRemoveMany((5,))),
        *(wait(d) for d in (1_000, 500, 500, 500)),
        settle(4_001),
        wait(500),
        write(MapInsert(0, 4)),
        wait(1_499),
        settle(500),  # the election the hunt's drain ran
        write(MapInsert(0, 9)),
    )
    return Program(get_campaign("stale-majority"), shape, calls)


def _h30_tail() -> Program:
    """w0's last write reached w1 only (the campaign's prelude); w1's timer fires twice
    (terms 2 and 3) and it wins term 3 with w0's vote, w2 abstaining: its log ends with
    that entry of term 1, which no entry of term 3 follows."""
    shape = (("kind", "map"), ("items", 1), ("batch", 1), ("writers", 3), ("readers", 0),
             ("lagging", 0))  # fmt: skip
    w1 = Call("start_election", (("who", 0),))  # those that may stand: w1, w2 (w0 leads)
    return Program(get_campaign("competing-elections"), shape, (w1, w1))


def _h4_divergence() -> Program:
    """[TakeSnapshot, CAS miss, CAS miss, RemoveRange(5..=10), UpdatePriority(0, 7)] in one
    batch: the position undercounts by two, so a follower re-applies the last two entries
    to a snapshot that already reflects them; key 0 (priority 0 → 7) is then removed by the
    re-applied RemoveRange on the follower only (the inventory's example, H4)."""
    miss = DepqCompareExchangeValue(key=0, expected=1, new=None)
    shape = (("kind", "depq"), ("items", 1), ("batch", 1), ("writers", 1), ("readers", 1),
             ("lagging", 1))  # fmt: skip
    writes = (
        (miss, miss, DepqRemoveRange(Bound.included(5), Bound.included(10))),
        (DepqUpdatePriority(key=0, priority=7),),
    )
    calls = tuple(Call("client_write", (("commands", w),)) for w in writes)
    return Program(get_campaign("positions"), shape, calls)


_STALL, _DEADLOCK = Consequence.STALL, Consequence.DEADLOCK
_DIVERGENCE, _PANIC, _DELAY = Consequence.DIVERGENCE, Consequence.PANIC, Consequence.DELAY


def _ref(*hazards: Hazard) -> Profile:
    return REFERENCE.with_hazards(hazards)


CONSEQUENCES: tuple[FindingSpec, ...] = (
    FindingSpec("H1", _ref(Hazard.H1), ("late-responses",), consequence=_STALL),
    FindingSpec(
        "H1-bond-break",
        _ref(Hazard.H1),
        ("broken-bond-responses",),
        consequence=_STALL,
        seed=lambda: _h1_bond_break(then_stall=True),
        why="the minimal run, then the one delivery order that stalls: the late answer is "
        "drained, the re-asked copy lands below the cursor before [1,2) arrives",
    ),
    FindingSpec("H2", _ref(Hazard.H2), ("bad-responses",), consequence=_STALL),
    FindingSpec("H3", _ref(Hazard.H3), ("buffer-gaps",), consequence=_PANIC),
    FindingSpec(
        "H4", _ref(Hazard.H4), ("positions",), consequence=_DIVERGENCE, seed=_h4_divergence
    ),
    FindingSpec("H6", _ref(Hazard.H6), ("lost-sources",), consequence=_STALL),
    FindingSpec("H7", _ref(Hazard.H7), ("lost-sources",), consequence=_DELAY),
    FindingSpec(
        "H9",
        _ref(Hazard.H9, Hazard.H3),
        ("stale-offers",),
        consequence=_PANIC,
        why="H9's stale anchor panics at finalize only with mosaik's unchecked buffer (H3)",
    ),
    FindingSpec("H10", _ref(Hazard.H10), ("bad-responses",), consequence=_STALL),
    FindingSpec("H16", REFERENCE, ("lagging-voter",), consequence=_DEADLOCK),
    FindingSpec(
        "H16-readers",
        REFERENCE.with_behaviours([Behaviour.READERS_VOTE]),
        ("reader-voters",),
        consequence=_DEADLOCK,
    ),
    FindingSpec("H23", _ref(Hazard.H23), ("positions",), consequence=_PANIC),
    FindingSpec(
        "H29",
        REFERENCE,
        ("writer-partition",),
        consequence=_DIVERGENCE,
        seed=lambda: _h29_partition(then_write=True),
        why="both sides of the partition commit a different entry 2 (held without healing: "
        "on healing, mosaik would truncate a committed entry, follower.rs:455-457)",
    ),
    FindingSpec(
        "H29-readers",
        REFERENCE.with_behaviours([Behaviour.READERS_VOTE]),
        ("stale-majority",),
        consequence=_DIVERGENCE,
        seed=lambda: _h29_readers(),
        why="the minimal run, then the new leader writes: the deposed one had committed "
        "another entry at that index (on the next AppendEntries mosaik truncates it, "
        "follower.rs:455-457; the model stops the node there, and it counts as it is)",
    ),
    FindingSpec("H30", _ref(Hazard.H30), ("leader-change",), consequence=_STALL),
)
"""Per finding whose consequence is a stall, a deadlock, a divergence or a panic: how its
consequence run is found (docs/findings.md, column "consequence run")."""


def _campaigns(spec: FindingSpec) -> list[Campaign]:
    pool = {c.name: c for c in (*order_for([]), *LIMITATION_CAMPAIGNS)}
    if spec.campaigns:
        return [pool[name] for name in spec.campaigns]
    return list(order_for([h.value for h in spec.profile.hazards]))


def _sort_key(entry: dict[str, Any]) -> tuple[int, str]:
    match = re.match(r"H(\d+)", str(entry["name"]))
    return (int(match.group(1)) if match else 10**6, str(entry["name"]))


def _merge_index(path: Path, entries: list[dict[str, Any]]) -> None:
    kept: list[dict[str, Any]] = []
    if path.exists():
        fresh = {e["name"] for e in entries}
        kept = [e for e in json.loads(path.read_text(encoding="utf-8")) if e["name"] not in fresh]
    merged = sorted(kept + entries, key=_sort_key)
    path.write_text(json.dumps(merged, indent=2) + "\n", encoding="utf-8")


def generate(out: Path, names: Sequence[str] = (), budget_s: float = 120.0) -> list[dict[str, Any]]:
    """Hunt each finding (a hazard switch on ``reference``, or one of
    :data:`EXTRA_FINDINGS`) and save its shrunk run in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    work = out / ".work"
    extra = {spec.name: spec for spec in EXTRA_FINDINGS}
    names = list(names) or [h.value for h in Hazard] + list(extra)
    entries: list[dict[str, Any]] = []
    for name in names:
        spec = extra.get(name) or FindingSpec(name, REFERENCE.with_hazards([name]))
        started = time.perf_counter()
        found: ViolationReport | None
        if spec.seed is not None:
            found = _shrink_seed(spec, work, spec.shrink_s)
        else:
            report = hunt(
                spec.profile,
                budget_s=budget_s,
                stop_on_first=True,
                trace_dir=work,
                campaigns=_campaigns(spec),
                include_limitations=spec.limitation,
                fatal_limitations=spec.limitation,
                shrink_budget_s=spec.shrink_s,
            )
            found = report.violations[0] if report.violations else None
        if found is not None:
            entry = _save(found, out, name)
            if spec.seed is not None:
                # Shrunk from a given program (the time is the shrink's, not a search's).
                entry["time_to_find_s"] = round(time.perf_counter() - started, 3)
                entry["seeded"] = True
            entries.append(entry)
        else:
            entries.append({"name": name, "not_found_within_s": budget_s})
    shutil.rmtree(work, ignore_errors=True)
    _merge_index(out / "index.json", entries)
    return entries


def generate_consequences(
    out: Path, names: Sequence[str] = (), budget_s: float = 120.0
) -> list[dict[str, Any]]:
    """Find (or shrink from a seed) each finding's consequence run and save it in ``out``
    as ``NAME.consequence.trace.jsonl`` (+ diagram); ``consequences.json`` lists them."""
    out.mkdir(parents=True, exist_ok=True)
    work = out / ".work"
    wanted = set(names)
    entries: list[dict[str, Any]] = []
    for spec in CONSEQUENCES:
        if wanted and spec.name not in wanted:
            continue
        if spec.consequence is None:
            continue
        started = time.perf_counter()
        if spec.seed is not None:
            report: ViolationReport | None = _shrink_seed(spec, work, budget_s)
        else:
            found = hunt(
                spec.profile,
                budget_s=budget_s,
                stop_on_first=True,
                trace_dir=work,
                campaigns=_campaigns(spec),
                consequence=spec.consequence,
            )
            report = found.violations[0] if found.violations else None
        if report is None or report.trace is None:
            entries.append({"name": spec.name, "not_found_within_s": budget_s})
            continue
        report.time_to_find_s = time.perf_counter() - started
        _label(Path(report.trace), spec.name)
        entry = _save(report, out, f"{spec.name}.consequence")
        entry["name"] = spec.name
        entry["consequence"] = spec.consequence.value
        entry["profile"] = spec.profile.name
        if spec.seed is not None:
            entry["seeded"] = True
        entries.append(entry)
    shutil.rmtree(work, ignore_errors=True)
    _merge_index(out / "consequences.json", entries)
    return entries


def _shrink_seed(spec: FindingSpec, work: Path, budget_s: float) -> ViolationReport | None:
    """Run a seed program (in consequence mode for a consequence), shrink it, replay it with
    trace saving on."""
    if spec.seed is None:
        return None
    seed_program = spec.seed()
    campaign = seed_program.campaign
    if spec.consequence is not None:
        campaign = consequence_campaign(campaign, spec.consequence)
    program = Program(campaign, seed_program.shape, seed_program.calls)
    SESSION.__init__()  # type: ignore[misc]
    SESSION.trace_dir = work
    SESSION.fatal_limitations = spec.limitation
    run = run_program(program, spec.profile)
    if run.failure is None:
        return None
    best = shrink(run, spec.profile, deadline=time.perf_counter() + budget_s).program
    final = run_program(best, spec.profile, final=True)
    record = SESSION.failures[-1] if SESSION.failures else None
    if final.failure is None or record is None:
        return None
    return ViolationReport(
        id=record.finding.id,
        campaign=campaign.name,
        node=record.finding.node,
        detail=record.finding.detail,
        time_to_find_s=0.0,
        shrunk_steps=record.rule_steps,
        model_steps=record.model_steps,
        trace=record.trace,
        seed=0,
        program=record.program,
    )


def _label(trace: Path, name: str) -> None:
    """Record the finding's name in a consequence trace's header (``meta.consequence``)."""
    lines = trace.read_text(encoding="utf-8").split("\n")
    header = json.loads(lines[0])
    header["meta"]["consequence"]["finding"] = name
    lines[0] = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    trace.write_text("\n".join(lines), encoding="utf-8")


@dataclass(frozen=True, slots=True)
class Redrawn:
    """One redrawn diagram: its trace, the files written, and whether the trace replayed."""

    trace: Path
    dot: Path
    svg: Path | None
    exact: bool


def redraw(out: Path) -> list[Redrawn]:
    """Redraw ``Hx.dot`` (and ``Hx.svg`` where graphviz is installed) for every
    ``Hx.trace.jsonl`` in ``out``, in name order; the traces are not changed.

    Each trace is replayed first, so a trace the model no longer reproduces is
    reported (``exact`` false); its diagram is still drawn from the recorded lines.
    """
    drawn: list[Redrawn] = []
    for trace in sorted(out.glob("*.trace.jsonl")):
        name = trace.name.removesuffix(".trace.jsonl")
        result = replay_file(trace)
        dot, svg = write_diagram(result.records, out / f"{name}.dot", name=name)
        drawn.append(Redrawn(trace, dot, svg, result.exact))
    return drawn


def _main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m spec.hunt.findings",
        description="Regenerate the findings under OUT_DIR (default docs/findings).",
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument(
        "--redraw",
        action="store_true",
        help="only redraw the diagrams (.dot, and .svg with graphviz) of the saved traces",
    )
    which.add_argument(
        "--consequences",
        action="store_true",
        help="regenerate the consequence runs (NAME.consequence.trace.jsonl) instead",
    )
    parser.add_argument("out", nargs="?", default="docs/findings", metavar="OUT_DIR")
    parser.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help="findings to re-hunt, e.g. H1 H16-readers (default all)",
    )
    args = parser.parse_args(argv)
    target = Path(args.out)
    if not args.redraw:
        make = generate_consequences if args.consequences else generate
        for entry in make(target, args.names):
            print(json.dumps({k: v for k, v in entry.items() if k != "program"}))
        return 0
    if args.names:
        parser.error("--redraw takes no names: it redraws every saved trace")
    status = 0
    for item in redraw(target):
        print(
            json.dumps(
                {
                    "trace": str(item.trace),
                    "dot": str(item.dot),
                    "svg": None if item.svg is None else str(item.svg),
                    "replay_exact": item.exact,
                }
            )
        )
        if not item.exact:
            print(f"{item.trace}: the model no longer replays this trace exactly", file=sys.stderr)
            status = 1
    if not dot_available() and any(target.glob("*.svg")):
        print(
            "graphviz `dot` is not installed: the .svg files were not redrawn and are now stale",
            file=sys.stderr,
        )
        status = 1
    return status


if __name__ == "__main__":  # pragma: no cover - a maintenance tool
    sys.exit(_main(sys.argv[1:]))
