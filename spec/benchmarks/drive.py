"""``snapsync bench drive`` and ``snapsync bench validate``: the node and log levels' speed.

``bench drive`` drives the reference adapter (``snapsync adapter``, a real process)
through the hunt's campaigns for a few seconds per role and reports model steps
per second through the process boundary (goal: at least 1,000/s for the lagging
role), node ops per second, and the CPU each side spent per model step: the
harness (the model, its checks, the online validation of the hosted nodes' logs)
and the adapter (decode, step, observe, encode). Walks share one process, as
``snapsync drive`` does, so the rate is the steady one.

``bench validate`` validates fault-free logs and reports events per CPU second
(reading and validating; goal: at least 20,000 on the steady group): a hunt group
(a writer, three readers) taking single writes with heartbeats between them while
a late reader catches up by snapshot, converted to every node's event log, with
commits carrying no digest (a log that cannot afford one) and with every commit's
digest checked; and a population burst (2,000 Map writes published in big
batches, three providers), whose events each carry many entries to apply. CPU time
is the figure because the machine is shared; the wall-clock rate is shown too.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "GOAL_EVENTS_PER_S",
    "GOAL_STEPS_PER_S",
    "DriveBench",
    "ValidateBench",
    "register",
    "run_drive",
    "run_validate",
]

GOAL_STEPS_PER_S = 1_000.0
GOAL_EVENTS_PER_S = 20_000.0


@dataclass(frozen=True, slots=True)
class DriveBench:
    """One role's run (the ``--json`` form)."""

    role: str
    seconds: float
    walks: int
    model_steps: int
    model_steps_per_s: float
    node_ops: int
    node_ops_per_s: float
    harness_cpu_us_per_step: float
    adapter_cpu_us_per_step: float
    findings: int
    load_average: float


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def run_drive(role: str, seconds: float, adapter: str | None = None) -> DriveBench:
    """Drive the reference adapter as ``role`` for ``seconds``."""
    from impl.profile import REFERENCE
    from spec.conformance.drive import DriveSettings, drive

    command = adapter or f"{sys.executable} -m spec.cli adapter"
    child, mine = _cpu(resource.RUSAGE_CHILDREN), _cpu(resource.RUSAGE_SELF)
    with tempfile.TemporaryDirectory(prefix="snapsync-bench-drive-") as traces:
        report = drive(
            DriveSettings(command, role), REFERENCE, budget_s=seconds, trace_dir=Path(traces)
        )
    steps = max(report.model_steps, 1)
    # The children's CPU is counted when they are reaped: drive() closes its processes.
    adapter_cpu = _cpu(resource.RUSAGE_CHILDREN) - child
    harness_cpu = _cpu(resource.RUSAGE_SELF) - mine
    return DriveBench(
        role=role,
        seconds=round(report.elapsed_s, 3),
        walks=report.walks,
        model_steps=report.model_steps,
        model_steps_per_s=round(report.model_steps_per_s, 1),
        node_ops=report.requests,
        node_ops_per_s=round(report.requests / report.elapsed_s, 1) if report.elapsed_s else 0.0,
        harness_cpu_us_per_step=round(1e6 * harness_cpu / steps, 1),
        adapter_cpu_us_per_step=round(1e6 * adapter_cpu / steps, 1),
        findings=len(report.findings),
        load_average=round(os.getloadavg()[0], 2),
    )


@dataclass(frozen=True, slots=True)
class ValidateBench:
    """The validation benchmark's result (the ``--json`` form)."""

    logs: int
    events: int
    events_per_cpu_s: float
    """The steady group's logs, read and validated, per CPU second (the goal's figure)."""
    events_per_s: float
    """The same, per wall-clock second (depends on the machine's load)."""
    populate_events: int
    populate_events_per_cpu_s: float
    """A population burst: every event carries many entries to apply."""
    digests_events_per_cpu_s: float
    """The steady logs with every commit's state digest checked."""
    accepted: bool
    load_average: float


def _timed(lines_by_log: list[tuple[str, list[str]]], repeats: int) -> tuple[float, float, bool]:
    """Return the best (CPU, wall) seconds of reading and validating every log."""
    from impl.profile import REFERENCE
    from spec.conformance.events import read_log_lines
    from spec.conformance.validate import validate_log

    best_cpu = best_wall = float("inf")
    accepted = True
    for _ in range(repeats):
        cpu, wall = time.process_time(), time.perf_counter()
        for name, lines in lines_by_log:
            accepted &= validate_log(read_log_lines(lines, name), REFERENCE).accepted
        best_cpu = min(best_cpu, time.process_time() - cpu)
        best_wall = min(best_wall, time.perf_counter() - wall)
    return best_cpu, best_wall, accepted


def _steady_logs(writes: int, digests: bool) -> dict[str, Any]:
    """A hunt group (a writer, three readers, a lagging reader): ``writes`` single writes,
    a heartbeat window after each, and the lagging reader's catch-up, as event logs."""
    from impl.profile import REFERENCE
    from spec.conformance.convert import logs_from_trace_file
    from spec.hunt.client_commands import seed_commands
    from spec.hunt.driver import Driver
    from spec.hunt.scenario import GroupShape, build_group, world_setup
    from spec.model.actions import client_write

    shape = GroupShape(kind="map", items=50, batch=4, readers=3, lagging=1)
    driver = Driver(world_setup(shape, REFERENCE))
    build_group(driver, shape)
    for command in seed_commands("map", 50 + writes)[50:]:
        driver.do(client_write, "w0", (command,))
        driver.settle(250)
    with tempfile.TemporaryDirectory(prefix="snapsync-bench-validate-") as tmp:
        trace = driver.write_trace(Path(tmp) / "steady.trace.jsonl", seed=None)
        return logs_from_trace_file(trace, digests=digests)


def run_validate(writes: int = 1_000, repeats: int = 3) -> ValidateBench:
    """Validate the logs of fault-free runs (module docstring)."""
    from spec.conformance.convert import logs_from_trace_file
    from spec.sim.workload import SimulationSpec, simulate

    steady = [(f"{n}.events", log.lines()) for n, log in _steady_logs(writes, False).items()]
    events = sum(len(x) - 1 for _, x in steady)
    cpu, wall, accepted = _timed(steady, repeats)
    full = [(f"{n}.events", log.lines()) for n, log in _steady_logs(writes, True).items()]
    digest_cpu, _, accepted_full = _timed(full, 1)
    with tempfile.TemporaryDirectory(prefix="snapsync-bench-validate-") as tmp:
        trace = Path(tmp) / "populate.trace.jsonl"
        spec = SimulationSpec(items=2_000, batch=50, providers=3, writes_during_sync=100, seed=1)
        simulate(spec, trace_path=trace)
        burst = logs_from_trace_file(trace, digests=False)
    populate = [(f"{n}.events", log.lines()) for n, log in burst.items()]
    populate_events = sum(len(x) - 1 for _, x in populate)
    populate_cpu, _, accepted_burst = _timed(populate, repeats)
    return ValidateBench(
        logs=len(steady),
        events=events,
        events_per_cpu_s=round(events / cpu, 1) if cpu else 0.0,
        events_per_s=round(events / wall, 1) if wall else 0.0,
        populate_events=populate_events,
        populate_events_per_cpu_s=round(populate_events / populate_cpu, 1) if populate_cpu else 0.0,
        digests_events_per_cpu_s=round(events / digest_cpu, 1) if digest_cpu else 0.0,
        accepted=accepted and accepted_full and accepted_burst,
        load_average=round(os.getloadavg()[0], 2),
    )


def register(sub: Any) -> None:
    """Add ``bench drive`` and ``bench validate``."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "drive",
        help="model steps per second driving the reference adapter (goal >= 1,000/s)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--role",
        action="append",
        choices=("lagging", "reader", "writer", "all"),
        help="roles to measure (repeatable; default lagging, reader, writer, all)",
    )
    parser.add_argument("--seconds", type=float, default=15.0, help="seconds per role (default 15)")
    parser.add_argument("--adapter", metavar="CMD", help="another adapter than the reference")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(handler=_run_drive)
    vparser: argparse.ArgumentParser = sub.add_parser(
        "validate",
        help="events per second validating a fault-free log (goal >= 20,000/s)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    vparser.add_argument(
        "--writes", type=int, default=1_000, help="single writes of the steady run (default 1000)"
    )
    vparser.add_argument("--repeat", type=int, default=3, metavar="N", help="runs; the best counts")
    vparser.add_argument("--json", action="store_true", help="machine-readable output")
    vparser.set_defaults(handler=_run_validate)


def _run_drive(args: argparse.Namespace) -> int:
    from impl.errors import InvalidInput

    if args.seconds <= 0:
        raise InvalidInput(f"--seconds must be positive, got {args.seconds}")
    roles = args.role or ["lagging", "reader", "writer", "all"]
    results = [run_drive(role, args.seconds, args.adapter) for role in roles]
    if args.json:
        print(json.dumps([asdict(r) for r in results], indent=2, sort_keys=True))
        return 0
    for r in results:
        verdict = "met" if r.model_steps_per_s >= GOAL_STEPS_PER_S else "missed"
        print(
            f"{r.role:8} {r.model_steps_per_s:8,.0f} model steps/s ({r.model_steps:,} in "
            f"{r.seconds:.1f} s, {r.walks} walks, {r.node_ops_per_s:,.0f} node ops/s; goal "
            f"{GOAL_STEPS_PER_S:,.0f}: {verdict}); CPU per step: harness "
            f"{r.harness_cpu_us_per_step:.0f} us, adapter {r.adapter_cpu_us_per_step:.0f} us; "
            f"{r.findings} findings; load average {r.load_average}"
        )
    return 0


def _run_validate(args: argparse.Namespace) -> int:
    from impl.errors import InvalidInput

    if args.writes < 10:
        raise InvalidInput(f"--writes must be at least 10, got {args.writes}")
    r = run_validate(args.writes, max(args.repeat, 1))
    if args.json:
        print(json.dumps(asdict(r), indent=2, sort_keys=True))
        return 0
    verdict = "met" if r.events_per_cpu_s >= GOAL_EVENTS_PER_S else "missed"
    print(
        f"steady group, {r.events:,} events in {r.logs} logs: {r.events_per_cpu_s:,.0f} events "
        f"per CPU second read and validated (goal {GOAL_EVENTS_PER_S:,.0f}: {verdict}; "
        f"{r.events_per_s:,.0f}/s by the wall clock, load average {r.load_average}); with "
        f"every commit's digest checked {r.digests_events_per_cpu_s:,.0f}/CPU s"
    )
    print(
        f"population burst, {r.populate_events:,} events carrying many entries each: "
        f"{r.populate_events_per_cpu_s:,.0f} events/CPU s; "
        + ("all accepted" if r.accepted else "SOME LOG REJECTED")
    )
    return 0
