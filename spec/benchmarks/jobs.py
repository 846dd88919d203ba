"""``snapsync bench jobs``: the same work with ``--jobs 1`` and ``--jobs N``, side by side.

Each measurement runs the command itself in a fresh process (``python -m spec.cli``),
so both sides pay the same start-up and neither inherits the other's caches:

* **hunt** — ``snapsync hunt --profile reference --budget S --seed 0`` with
  ``--jobs 1`` and ``--jobs N``: rule steps per second of each (the hunt's own
  count over its own elapsed time) and their ratio. Also the processor time per
  thousand rule steps (``cpu_s`` of the report: the hunt's process and its
  workers), which does not depend on how busy the machine is: the ratio of the two
  is what running in workers costs, and ``N`` divided by it is the speed-up an idle
  machine with ``N`` free cores would show.
* **scenarios** — ``snapsync scenarios --max-size M`` (both profiles) with
  ``--jobs 1`` and ``--jobs N``: wall seconds of each, their ratio, and whether the
  two gave the same results (they must).
* **check** (``--check``) — ``snapsync check`` with ``--jobs 1`` and the default
  ``--jobs``: wall seconds side by side.

``--repeat R`` runs the pairs R times, alternating, and reports medians. On a shared
machine the wall-clock ratios depend on what else runs; the processor-time figures
do not. Each side also reports the cores it got (processor seconds per wall second):
when the parallel side got much less than N cores, the machine was busy and its
wall-clock ratio says little about the workers.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from impl.errors import InvalidInput
from spec.parallel import default_jobs, parse_jobs

__all__ = ["CheckSide", "HuntSide", "JobsBench", "ScenarioSide", "register", "run"]


@dataclass(frozen=True, slots=True)
class HuntSide:
    """One hunt: ``jobs`` workers, medians over the repeats."""

    jobs: int
    rule_steps: int
    elapsed_s: float
    rule_steps_per_s: float
    cpu_ms_per_1000_steps: float
    cores_used: float
    """Processor seconds per wall second: how much of the machine the hunt got."""


@dataclass(frozen=True, slots=True)
class ScenarioSide:
    """One scenarios run: ``jobs`` workers, median wall seconds."""

    jobs: int
    wall_s: float
    cpu_s: float
    """Processor seconds of the command and its workers."""
    results: int


@dataclass(frozen=True, slots=True)
class CheckSide:
    """One ``snapsync check``: ``jobs`` workers, median wall seconds."""

    jobs: int
    wall_s: float
    passed: bool


@dataclass(frozen=True, slots=True)
class JobsBench:
    """The benchmark's result (the ``--json`` form)."""

    cores: int
    repeat: int
    hunt_budget_s: float
    hunt: list[HuntSide]
    hunt_ratio: float
    """Rule steps per second with ``--jobs N`` over ``--jobs 1``."""
    hunt_cpu_ratio: float
    """Processor time per step with ``--jobs N`` over ``--jobs 1`` (1.0: no overhead)."""
    scenarios_max_size: int
    scenarios: list[ScenarioSide]
    scenarios_ratio: float
    """Wall seconds with ``--jobs 1`` over ``--jobs N``."""
    scenarios_identical: bool
    check: list[CheckSide]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _cli(*args: str) -> tuple[float, dict[str, Any], float]:
    """Run ``snapsync ARGS --json`` in a fresh process; return its wall seconds, its JSON
    and its processor seconds (its workers' included: they are waited for)."""
    started = time.perf_counter()
    cpu = _children_cpu()
    out = subprocess.run(
        [sys.executable, "-m", "spec.cli", *args, "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    cpu = _children_cpu() - cpu
    if out.returncode not in (0, 1):
        raise RuntimeError(f"snapsync {' '.join(args)} failed: {out.stderr.strip()[-500:]}")
    result: dict[str, Any] = json.loads(out.stdout)
    return wall, result, cpu


def _hunt_side(jobs: int, reports: list[dict[str, Any]]) -> HuntSide:
    return HuntSide(
        jobs=jobs,
        rule_steps=int(statistics.median(r["steps"] for r in reports)),
        elapsed_s=round(statistics.median(r["elapsed_s"] for r in reports), 3),
        rule_steps_per_s=round(statistics.median(r["steps_per_s"] for r in reports), 1),
        cpu_ms_per_1000_steps=round(
            statistics.median(1e6 * r["cpu_s"] / max(r["steps"], 1) for r in reports), 1
        ),
        cores_used=round(statistics.median(r["cpu_s"] / r["elapsed_s"] for r in reports), 2),
    )


def _speedless(report: dict[str, Any]) -> list[Any]:
    return [{k: v for k, v in r.items() if k != "wall_s"} for r in report["results"]]


Cli = Callable[..., tuple[float, dict[str, Any], float]]
"""Runs ``snapsync ARGS --json``: (wall seconds, its JSON, processor seconds)."""


def run(
    jobs: int,
    budget: float,
    max_size: int,
    repeat: int = 1,
    check: bool = False,
    cli: Cli = _cli,
) -> JobsBench:
    """Run the measurements (module docstring); ``cli`` runs one command (tests pass a fake)."""
    if budget <= 0:
        raise InvalidInput(f"--seconds must be positive, got {budget}")
    if repeat < 1:
        raise InvalidInput(f"--repeat must be positive, got {repeat}")
    sides = (1, jobs)
    hunts: dict[int, list[dict[str, Any]]] = {j: [] for j in sides}
    walls: dict[int, list[float]] = {j: [] for j in sides}
    cpus: dict[int, list[float]] = {j: [] for j in sides}
    outputs: list[list[Any]] = []
    with tempfile.TemporaryDirectory(prefix="snapsync-bench-jobs-") as tmp:
        for _ in range(repeat):
            for j in sides:
                traces = str(Path(tmp) / f"hunt-{j}")
                args = ("hunt", "--profile", "reference", "--budget", str(budget), "--seed", "0")
                _, report, _ = cli(*args, "--jobs", str(j), "--traces", traces)
                hunts[j].append(report)
            for j in sides:
                wall, report, cpu = cli("scenarios", "--max-size", str(max_size), "--jobs", str(j))
                walls[j].append(wall)
                cpus[j].append(cpu)
                outputs.append(_speedless(report))
    hunt = [_hunt_side(j, hunts[j]) for j in sides]
    scenarios = [
        ScenarioSide(
            j,
            round(statistics.median(walls[j]), 3),
            round(statistics.median(cpus[j]), 3),
            len(outputs[0]),
        )
        for j in sides
    ]
    checks: list[CheckSide] = []
    if check:
        for j in (1, default_jobs()):
            wall, report, _ = cli("check", "--jobs", str(j))
            checks.append(CheckSide(j, round(wall, 3), bool(report["passed"])))
    one, many = hunt
    return JobsBench(
        cores=default_jobs(),
        repeat=repeat,
        hunt_budget_s=budget,
        hunt=hunt,
        hunt_ratio=round(many.rule_steps_per_s / max(one.rule_steps_per_s, 1e-9), 3),
        hunt_cpu_ratio=round(many.cpu_ms_per_1000_steps / max(one.cpu_ms_per_1000_steps, 1e-9), 3),
        scenarios_max_size=max_size,
        scenarios=scenarios,
        scenarios_ratio=round(scenarios[0].wall_s / max(scenarios[1].wall_s, 1e-9), 3),
        scenarios_identical=all(o == outputs[0] for o in outputs),
        check=checks,
    )


def register(sub: Any) -> None:
    """Add ``bench jobs`` to the CLI."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "jobs",
        help="the same hunt and scenarios with --jobs 1 and --jobs N, side by side",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--jobs",
        type=parse_jobs,
        default=max(2, default_jobs()),
        metavar="N",
        help="workers of the parallel side (default: the number of cores, at least 2)",
    )
    parser.add_argument(
        "--seconds", type=float, default=20.0, help="budget of each hunt (default 20)"
    )
    parser.add_argument(
        "--max-size",
        type=int,
        default=1000,
        metavar="N",
        help="scenario cases of at most N items (default 1000, as snapsync check)",
    )
    parser.add_argument("--repeat", type=int, default=1, help="pairs to run (medians; default 1)")
    parser.add_argument(
        "--check",
        action="store_true",
        help="also time snapsync check with --jobs 1 and with the default (about 2 minutes)",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(handler=_main)


def _main(args: argparse.Namespace) -> int:
    result = run(args.jobs, args.seconds, args.max_size, args.repeat, args.check)
    if args.json:
        print(json.dumps(asdict(result), indent=2, sort_keys=True))
        return 0
    n = result.hunt[1].jobs
    print(
        f"hunt (reference, {result.hunt_budget_s:g} s budget, seed 0; "
        f"{result.cores} cores; median of {result.repeat}):"
    )
    for h in result.hunt:
        print(
            f"  --jobs {h.jobs}: {h.rule_steps_per_s:9.0f} rule steps/s "
            f"({h.rule_steps} in {h.elapsed_s:.1f} s), "
            f"{h.cpu_ms_per_1000_steps:.0f} ms of processor time per 1000 steps, "
            f"{h.cores_used:.2f} cores used"
        )
    print(
        f"  ratio --jobs {n} / --jobs 1: {result.hunt_ratio:.2f}x rule steps per second "
        f"(processor time per step: {result.hunt_cpu_ratio:.2f}x)"
    )
    print(
        f"scenarios (both profiles, cases up to {result.scenarios_max_size} items, "
        f"{result.scenarios[0].results} results):"
    )
    for s in result.scenarios:
        print(
            f"  --jobs {s.jobs}: {s.wall_s:6.1f} s, {s.cpu_s:.1f} s of processor time "
            f"({s.cpu_s / max(s.wall_s, 1e-9):.2f} cores used)"
        )
    same = "identical" if result.scenarios_identical else "DIFFERENT"
    print(f"  ratio --jobs 1 / --jobs {n}: {result.scenarios_ratio:.2f}x wall time; results {same}")
    if result.check:
        print("check:")
        for c in result.check:
            print(f"  --jobs {c.jobs}: {c.wall_s:6.1f} s ({'passed' if c.passed else 'FAILED'})")
    if result.hunt[1].cores_used < 0.8 * min(n, result.cores):
        print(
            f"note: the parallel hunt got {result.hunt[1].cores_used:.2f} of {n} cores: the "
            "machine was busy, so the wall-clock ratios understate what the workers do"
        )
    return 0 if result.scenarios_identical else 1
