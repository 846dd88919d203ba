"""``snapsync bench conform``: step vectors per second through the stdio adapter.

Runs the whole vector tree through ``snapsync adapter`` (a real process, the real
protocol, the runner's pipelining and comparison) and reports the cases per second
of the run itself (after the adapter's start and hello). For comparison it also
times the same cases through the reference in this process (decode → step →
encode, no pipe, no comparison): the gap is the cost of the process boundary and
the runner. Goal: at least 2,000 cases/s through the adapter on this machine.

On a shared machine the wall-clock rate depends on the load, so the benchmark also
reports the CPU each side spends per case (the adapter's start and hello
subtracted): the pipeline keeps both processes busy at once, so with a core each it
sustains ``1 / max(adapter, runner)`` cases per second.

``--jobs N`` (N > 1) also runs the tree as ``conform --jobs N`` does (N shards, each
with its own worker and adapter process: :mod:`spec.conformance.shards`), the two
sides in turn (1, N, 1, N, …), and reports for each the best rate after the adapters'
start, the best whole run (pool and adapter starts included), the CPU of every
process per case, and the cores the side actually got (CPU seconds per wall second):
a ratio measured while other work held the cores says so.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from spec.parallel.jobs import default_jobs, parse_jobs

__all__ = ["GOAL_CASES_PER_S", "ConformBench", "JobsSide", "compare_jobs", "register", "run"]

GOAL_CASES_PER_S = 2_000.0


@dataclass(frozen=True, slots=True)
class ConformBench:
    """The benchmark's result (the ``--json`` form)."""

    cases: int
    repeats: int
    adapter_seconds: float
    adapter_cases_per_s: float
    in_process_cases_per_s: float
    passed: int
    goal_cases_per_s: float
    adapter_cpu_ms_per_case: float
    """CPU of the adapter process per case (its start and hello subtracted)."""
    runner_cpu_ms_per_case: float
    """CPU of the runner per case."""
    cpu_bound_cases_per_s: float
    """What the pipeline sustains when each side has a core: 1 / max(adapter, runner)."""
    load_average: float
    jobs: list[JobsSide]
    """``--jobs``: each side's figures (empty without ``--jobs N`` > 1)."""


@dataclass(frozen=True, slots=True)
class JobsSide:
    """One side of the ``--jobs`` comparison: the whole tree with ``jobs`` adapter processes."""

    jobs: int
    shards: int
    cases_per_s: float
    """Best rate after the adapters' start (the slowest shard's run)."""
    whole_seconds: float
    """Best whole run: workers, adapters' start and hello, cases, merge."""
    whole_cases_per_s: float
    cpu_ms_per_case: float
    """CPU of every process (runner, workers, adapters) per case, in the best whole run."""
    cores: float
    """CPU seconds per wall second of that run: the cores the side got."""
    passed: int


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def _side(
    argv: list[str], cases: list[dict[str, Any]], command: str, directory: Path, jobs: int
) -> tuple[float, float, float, int, int]:
    """Run the tree once with ``jobs``: (run s, whole s, CPU s of every process, passed,
    shards)."""
    from spec.conformance.shards import run_conform_jobs

    child, mine = _cpu(resource.RUSAGE_CHILDREN), _cpu(resource.RUSAGE_SELF)
    started = time.perf_counter()
    report = run_conform_jobs(argv, cases, jobs=jobs, adapter=command, vectors=str(directory))
    whole = time.perf_counter() - started
    cpu = _cpu(resource.RUSAGE_CHILDREN) - child + _cpu(resource.RUSAGE_SELF) - mine
    return report.run_seconds, whole, cpu, report.count("passed"), report.jobs


def compare_jobs(
    argv: list[str],
    cases: list[dict[str, Any]],
    command: str,
    directory: Path,
    jobs: int,
    repeats: int,
) -> list[JobsSide]:
    """Run the tree with 1 and ``jobs`` adapter processes in turn; return both sides."""
    runs: dict[int, list[tuple[float, float, float, int, int]]] = {1: [], jobs: []}
    for _ in range(repeats):
        for n in (1, jobs):
            runs[n].append(_side(argv, cases, command, directory, n))
    out = []
    for n, results in runs.items():
        best_run = min(r[0] for r in results)
        _, whole, cpu, passed, shards = min(results, key=lambda r: r[1])
        out.append(
            JobsSide(
                jobs=n,
                shards=shards,
                cases_per_s=round(len(cases) / best_run, 1) if best_run else 0.0,
                whole_seconds=round(whole, 4),
                whole_cases_per_s=round(len(cases) / whole, 1) if whole else 0.0,
                cpu_ms_per_case=round(1000 * cpu / max(len(cases), 1), 4),
                cores=round(cpu / whole, 2) if whole else 0.0,
                passed=passed,
            )
        )
    return out


def run(
    directory: Path, repeats: int = 3, adapter: str | None = None, jobs: int = 1
) -> ConformBench:
    """Run the tree through the adapter ``repeats`` times; keep the best run (and, with
    ``jobs`` > 1, compare 1 and ``jobs`` adapter processes)."""
    from spec.conformance.conventions import run_step
    from spec.conformance.process import split_command
    from spec.conformance.runner import load_selected, run_conform

    cases = load_selected(directory)
    command = adapter or f"{sys.executable} -m spec.cli adapter"
    argv = split_command(command)
    cpu = _cpu

    best = None
    passed = 0
    child, mine = cpu(resource.RUSAGE_CHILDREN), cpu(resource.RUSAGE_SELF)
    run_conform(argv, [], adapter=command, vectors=None)  # start and hello only
    start_cpu = cpu(resource.RUSAGE_CHILDREN) - child
    adapter_cpu: list[float] = []
    runner_cpu: list[float] = []
    for _ in range(repeats):
        child, mine = cpu(resource.RUSAGE_CHILDREN), cpu(resource.RUSAGE_SELF)
        report = run_conform(argv, cases, adapter=command, vectors=str(directory))
        adapter_cpu.append(cpu(resource.RUSAGE_CHILDREN) - child - start_cpu)
        runner_cpu.append(cpu(resource.RUSAGE_SELF) - mine)
        passed = report.count("passed")
        if best is None or report.run_seconds < best:
            best = report.run_seconds
    assert best is not None
    sides = compare_jobs(argv, cases, command, directory, jobs, repeats) if jobs > 1 else []
    adapter_ms = 1000 * min(adapter_cpu) / max(len(cases), 1)
    runner_ms = 1000 * min(runner_cpu) / max(len(cases), 1)
    started = time.perf_counter()
    for case in cases:
        if case["kind"] != "step":
            continue  # a sequence case (issue #11) replays a node's run, not one step
        run_step(case["step"], case["collection"], case["pre"], case["context"], case["input"])
    in_process = time.perf_counter() - started
    return ConformBench(
        cases=len(cases),
        repeats=repeats,
        adapter_seconds=round(best, 4),
        adapter_cases_per_s=round(len(cases) / best, 1) if best else 0.0,
        in_process_cases_per_s=round(len(cases) / in_process, 1) if in_process else 0.0,
        passed=passed,
        goal_cases_per_s=GOAL_CASES_PER_S,
        adapter_cpu_ms_per_case=round(adapter_ms, 4),
        runner_cpu_ms_per_case=round(runner_ms, 4),
        cpu_bound_cases_per_s=round(1000 / max(adapter_ms, runner_ms, 1e-9), 1),
        load_average=round(os.getloadavg()[0], 2),
        jobs=sides,
    )


def register(sub: Any) -> None:
    """Add ``bench conform``."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "conform",
        help="step vectors per second through the reference adapter (goal >= 2,000/s)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--vectors", metavar="DIR", help="the vector tree (default: generate one for the run)"
    )
    parser.add_argument("--repeat", type=int, default=3, metavar="N", help="runs; the best counts")
    parser.add_argument(
        "--jobs",
        type=parse_jobs,
        default=1,
        metavar="N",
        help=f"also compare 1 and N adapter processes (conform --jobs N; this machine has "
        f"{default_jobs()} cores; default 1: no comparison)",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from spec.conformance.generate import generate

    cleanup = None
    if args.vectors is None:
        cleanup = Path(tempfile.mkdtemp(prefix="snapsync-bench-"))
        directory = cleanup / "vectors"
        generate(directory)
    else:
        directory = Path(args.vectors)
    try:
        result = run(directory, max(args.repeat, 1), jobs=args.jobs)
    finally:
        if cleanup is not None:
            shutil.rmtree(cleanup, ignore_errors=True)
    if args.json:
        print(json.dumps(asdict(result), indent=2, sort_keys=True))
    else:
        verdict = "met" if result.adapter_cases_per_s >= GOAL_CASES_PER_S else "MISSED"
        print(
            f"{result.cases} cases through the stdio adapter: best of {result.repeats} runs "
            f"{result.adapter_seconds:.3f} s = {result.adapter_cases_per_s:,.0f} cases/s "
            f"(goal {GOAL_CASES_PER_S:,.0f}: {verdict}); {result.passed} passed"
        )
        print(
            f"CPU per case: adapter {result.adapter_cpu_ms_per_case:.3f} ms, runner "
            f"{result.runner_cpu_ms_per_case:.3f} ms: with a core each the pipeline sustains "
            f"{result.cpu_bound_cases_per_s:,.0f} cases/s (load average now "
            f"{result.load_average}); in process, no pipe, no comparison: "
            f"{result.in_process_cases_per_s:,.0f} cases/s"
        )
        for side in result.jobs:
            print(
                f"--jobs {side.jobs} ({side.shards} adapter process"
                f"{'es' if side.shards > 1 else ''}): {side.cases_per_s:,.0f} cases/s after the "
                f"adapters' start; whole run {side.whole_seconds:.3f} s = "
                f"{side.whole_cases_per_s:,.0f} cases/s; CPU {side.cpu_ms_per_case:.3f} ms per "
                f"case; got {side.cores:.2f} cores"
            )
        if len(result.jobs) == 2:
            one, many = result.jobs
            print(
                f"ratio --jobs {many.jobs} / --jobs 1: {many.cases_per_s / one.cases_per_s:.2f}x "
                f"after the start, {one.whole_seconds / many.whole_seconds:.2f}x whole run "
                f"(load average now {result.load_average})"
            )
    return 0
