"""``snapsync check``: the main job — every check of the project, one summary table.

Stages, each run for both profiles:

* ``prove`` — the Z3 obligations (:mod:`spec.proofs`): every one proved under
  ``reference``; under ``mosaik-0.3.13`` exactly the counterexamples its hazards call for.
* ``scenarios`` — mosaik's own sync tests on the model (:mod:`spec.scenarios`), at
  sizes up to ``--max-size`` (the full sizes run with ``snapsync scenarios``).
* ``hunt`` — the Hypothesis stateful search (:mod:`spec.hunt`), when installed, for
  ``--hunt-budget`` seconds: nothing found under ``reference``; a violation found
  under ``mosaik-0.3.13``.

A row is "as expected" when the stage's outcome is the one the profile calls for;
the command exits 0 only when every row is.

``--jobs N`` (default: the number of cores) runs the stages side by side on N
worker processes, and each scenario case as a task of its own, the longest tasks
first (:mod:`spec.parallel`); the rows are the same for every N, timings aside.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.progress import SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from impl.profile import MOSAIK_0_3_13, PROFILES, REFERENCE, Profile
from spec.parallel import jobs_argument, map_ordered
from spec.render import results_console
from spec.robust.progress import progress_bar
from spec.scenarios import SCENARIOS, CaseResult, select_cases
from spec.scenarios.batch import CaseTask, run_task, tasks_for

__all__ = ["Row", "register", "run_check"]


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the summary: a stage run under a profile."""

    stage: str
    profile: str
    outcome: str
    as_expected: bool
    seconds: float

    def as_json(self) -> dict[str, object]:
        """Return the JSON form of the row."""
        return {
            "stage": self.stage,
            "profile": self.profile,
            "outcome": self.outcome,
            "as_expected": self.as_expected,
            "seconds": round(self.seconds, 3),
        }


def register(sub: Any) -> None:
    """Add ``check`` to the CLI."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "check",
        help="run proofs, mosaik's scenarios and the hunt for both profiles (the main job)",
        description="Run every check of snapsync for both profiles and print one summary table.",
    )
    parser.add_argument(
        "--max-size",
        type=int,
        default=1000,
        metavar="N",
        help="run scenario cases of at most N items (default 1000)",
    )
    parser.add_argument(
        "--hunt-budget",
        type=float,
        default=20.0,
        metavar="SECONDS",
        help="seconds of stateful search per profile (default 20; 0 skips the hunt)",
    )
    parser.add_argument("--jobs", **jobs_argument("the stages and scenario cases"))
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(handler=_run)


def _stage_prove(profile: Profile) -> tuple[str, bool]:
    from spec.proofs.runner import run

    outcomes = run(profile)
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o.result.value] = counts.get(o.result.value, 0) + 1
    outcome = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    return f"{len(outcomes)} obligations: {outcome}", all(o.as_expected for o in outcomes)


def _scenario_outcome(results: list[CaseResult]) -> tuple[str, bool]:
    counts: dict[str, int] = {}
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
    outcome = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    ok = bool(results) and all(r.status in ("ok", "finding") for r in results)
    return f"{len(results)} cases: {outcome}", ok


def _stage_hunt(profile: Profile, budget: float) -> tuple[str, bool]:
    from spec.hunt.runner import hunt

    # Under the mosaik profile the first violation is enough to answer the question.
    report = hunt(profile, budget_s=budget, stop_on_first=bool(profile.hazards))
    found = sorted({v.id for v in report.violations})
    text = f"{report.rule_steps} rule steps, {report.rule_steps_per_s:.0f}/s; " + (
        f"violations: {', '.join(found)}" if found else "no violation"
    )
    return text, bool(found) == bool(profile.hazards)


@dataclass(frozen=True, slots=True)
class _Task:
    """One piece of a stage: a whole proof or hunt stage, or one scenario case."""

    stage: str
    profile: Profile
    case: CaseTask | None = None
    hunt_budget: float = 0.0

    def cost(self) -> float:
        """A rough estimate of its seconds: the long tasks start first."""
        if self.stage == "hunt":
            return self.hunt_budget if not self.profile.hazards else 1.0
        if self.stage == "prove":
            return 8.0
        return 0.05 + (self.case.size if self.case is not None else 0) / 5_000


def _run_task(task: _Task) -> tuple[Any, float]:
    """Run one task (in a worker, or here); return its value and its seconds."""
    started = time.perf_counter()
    value: Any
    if task.stage == "prove":
        value = _stage_prove(task.profile)
    elif task.stage == "hunt":
        value = _stage_hunt(task.profile, task.hunt_budget)
    else:
        assert task.case is not None
        value = run_task(task.case)
    return value, time.perf_counter() - started


STAGES: tuple[str, ...] = ("prove", "scenarios", "hunt")
"""The stages, in the order of the summary's rows (each for both profiles)."""


def run_check(
    max_size: int,
    hunt_budget: float,
    on_row: Callable[[Row], None] | None = None,
    jobs: int = 1,
    on_tick: Callable[[], None] | None = None,
) -> list[Row]:
    """Run every stage for both profiles; return the summary rows in stage order.

    With ``jobs`` workers the stages run side by side, and so do the scenario cases
    (:func:`spec.parallel.map_ordered`); the rows are the same for every ``jobs``
    (timings aside). A row's ``seconds`` add up the time its tasks ran.
    """
    profiles = (REFERENCE, MOSAIK_0_3_13)
    cases = select_cases(SCENARIOS, None, max_size)
    tasks: list[_Task] = [_Task("prove", p) for p in profiles]
    for p in profiles:
        tasks += [_Task("scenarios", p, case=c) for c in tasks_for(cases, [p])]
    if hunt_budget > 0 and _hunt_available():
        tasks += [_Task("hunt", p, hunt_budget=hunt_budget) for p in profiles]
    keys = [(t.stage, t.profile.name) for t in tasks]
    left = Counter(keys)
    values: dict[tuple[str, str], list[tuple[Any, float]]] = {k: [] for k in left}

    def done(index: int, value: tuple[Any, float]) -> None:
        key = keys[index]
        values[key].append(value)
        left[key] -= 1
        if not left[key] and on_row is not None:
            on_row(_row(key, values[key]))

    mapped = map_ordered(
        _run_task, tasks, jobs=jobs, cost=_Task.cost, on_done=done, on_tick=on_tick
    )
    ordered: dict[tuple[str, str], list[tuple[Any, float]]] = {k: [] for k in left}
    for index, value in sorted(mapped.results.items()):
        ordered[keys[index]].append(value)
    return [
        _row((stage, p.name), ordered[(stage, p.name)])
        for stage in STAGES
        for p in profiles
        if (stage, p.name) in ordered and not left[(stage, p.name)]
    ]


def _row(key: tuple[str, str], parts: list[tuple[Any, float]]) -> Row:
    stage, profile = key
    seconds = sum(s for _, s in parts)
    if stage == "scenarios":
        outcome, ok = _scenario_outcome([v for v, _ in parts])
    else:
        ((outcome, ok),) = [v for v, _ in parts]
    return Row(stage, profile, outcome, ok, seconds)


def _hunt_available() -> bool:
    return importlib.util.find_spec("spec.hunt.runner") is not None


def _run(args: argparse.Namespace) -> int:
    console = results_console()
    columns = (
        SpinnerColumn(),
        TextColumn("[bold]check[/] {task.description}"),
        TimeElapsedColumn(),
    )
    started = time.perf_counter()
    # Refreshed by hand, not by rich's thread: workers fork fastest from a single thread.
    with progress_bar(*columns, enabled=not args.json, auto_refresh=False) as bar:
        task = bar.add_task(f"running with {args.jobs} worker(s)", total=None)
        done: list[str] = []

        def progress(row: Row) -> None:
            done.append(f"{row.stage} ({row.profile})")
            bar.update(task, description=f"done: {', '.join(done)}")
            bar.refresh()

        rows = run_check(args.max_size, args.hunt_budget, progress, args.jobs, bar.refresh)
    wall = time.perf_counter() - started
    passed = all(r.as_expected for r in rows)
    if args.json:
        out = {
            "passed": passed,
            "profiles": list(PROFILES),
            "rows": [r.as_json() for r in rows],
            "jobs": args.jobs,
            "wall_s": round(wall, 3),
        }
        print(json.dumps(out, indent=2, sort_keys=True))
        return 0 if passed else 1
    table = Table(title="snapsync check")
    for col in ("stage", "profile", "outcome", "as expected", "seconds"):
        table.add_column(col, justify="right" if col == "seconds" else "left")
    for r in rows:
        mark = "[green]yes[/]" if r.as_expected else "[red]NO[/]"
        table.add_row(r.stage, r.profile, r.outcome, mark, f"{r.seconds:.1f}")
    console.print(table)
    workers = "1 process" if args.jobs == 1 else f"{args.jobs} workers"
    console.print(f"{wall:.1f} s with {workers} (a row's seconds add up its tasks' time)")
    console.print("[green]all as expected[/]" if passed else "[red]unexpected results[/]")
    return 0 if passed else 1
