"""``snapsync check``: the main job — every check of the project, one summary table.

Stages, each run for both profiles:

* ``prove`` — the Z3 obligations (:mod:`spec.proofs`): every one proved under
  ``reference``; under ``mosaik-0.3.13`` exactly the counterexamples its hazards call for.
* ``scenarios`` — mosaik's own sync tests on the model (:mod:`spec.scenarios`), at
  sizes up to ``--max-size`` (the full sizes run with ``snapsync scenarios``).
* ``hunt`` — the Hypothesis stateful search (:mod:`spec.hunt`), when installed, for
  ``--hunt-budget`` seconds: nothing found under ``reference``; a violation found
  under ``mosaik-0.3.13``.
* ``explore`` — a complete exploration of one small configuration
  (:mod:`spec.explore.stage`): no violation, dead end or stall under ``reference``;
  a violation under ``mosaik-0.3.13``. ``--no-explore`` skips it.

A row is "as expected" when the stage's outcome is the one the profile calls for;
the command exits 0 only when every row is.

``--json`` keeps what is deterministic apart from what depends on the machine's
speed, so two runs can be diffed: ``rows`` hold the verdicts and the counts that do
not depend on speed (obligations, cases, violations found, explored states);
``timings`` hold the seconds, the hunt's rule steps and the rates. Progress is shown
on stderr when it is a terminal. Ctrl-C stops at once and prints every row: the
stages that finished, and those that did not, marked ``interrupted`` with how much of
them was done (exit status 130); a run that was stopped never passes.

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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rich.progress import SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from impl.profile import MOSAIK_0_3_13, PROFILES, REFERENCE, Profile
from spec.parallel import jobs_argument, map_ordered
from spec.render import results_console
from spec.robust.options import MAX_ITEMS, count, seconds
from spec.robust.progress import progress_bar
from spec.robust.stop import StopReason, exit_status
from spec.scenarios import SCENARIOS, CaseResult, select_cases
from spec.scenarios.batch import CaseTask, run_task, tasks_for

__all__ = ["Row", "StageResult", "register", "run_check"]


@dataclass(frozen=True, slots=True)
class StageResult:
    """What a stage returns: a deterministic outcome and verdict, and what depends on speed."""

    outcome: str
    """Deterministic text (no timings, no rates)."""
    ok: bool
    """The outcome is the one the profile calls for."""
    counts: Mapping[str, Any] = field(default_factory=dict)
    """Deterministic counts."""
    measures: Mapping[str, Any] = field(default_factory=dict)
    """Counts and rates that depend on the machine's speed (the hunt's steps)."""
    interrupted: bool = False
    """The stage was stopped (Ctrl-C) and returned what it had done."""


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the summary: a stage run under a profile."""

    stage: str
    profile: str
    outcome: str
    as_expected: bool
    seconds: float
    counts: Mapping[str, Any] = field(default_factory=dict)
    measures: Mapping[str, Any] = field(default_factory=dict)
    interrupted: bool = False

    def as_json(self) -> dict[str, object]:
        """Return the deterministic JSON form of the row (``rows`` of ``--json``)."""
        return {
            "stage": self.stage,
            "profile": self.profile,
            "outcome": self.outcome,
            "as_expected": self.as_expected,
            "counts": dict(self.counts),
            "interrupted": self.interrupted,
        }

    def timing_json(self) -> dict[str, object]:
        """Return what depends on speed (``timings`` of ``--json``)."""
        return {
            "stage": self.stage,
            "profile": self.profile,
            "seconds": round(self.seconds, 3),
            **dict(self.measures),
        }


def register(sub: Any) -> None:
    """Add ``check`` to the CLI."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "check",
        help="run proofs, mosaik's scenarios, the hunt and the explorer for both profiles "
        "(the main job)",
        description="Run every check of snapsync for both profiles and print one summary table.",
    )
    parser.add_argument(
        "--max-size",
        type=count(1, MAX_ITEMS),
        default=1000,
        metavar="N",
        help="run scenario cases of at most N items (default 1000)",
    )
    parser.add_argument(
        "--hunt-budget",
        type=seconds(),
        default=20.0,
        metavar="SECONDS",
        help="seconds of stateful search per profile (default 20; 0 skips the hunt)",
    )
    parser.add_argument(
        "--no-explore", action="store_true", help="skip the exhaustive exploration stage"
    )
    parser.add_argument("--jobs", **jobs_argument("the stages and scenario cases"))
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(handler=_run)


def _stage_prove(profile: Profile) -> StageResult:
    from spec.proofs.runner import run

    outcomes = run(profile)
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o.result.value] = counts.get(o.result.value, 0) + 1
    outcome = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    return StageResult(
        f"{len(outcomes)} obligations: {outcome}",
        all(o.as_expected for o in outcomes),
        {"obligations": len(outcomes), **dict(sorted(counts.items()))},
    )


def _scenarios_result(results: list[CaseResult]) -> StageResult:
    counts: dict[str, int] = {}
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
    outcome = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    ok = bool(results) and all(r.status in ("ok", "finding") for r in results)
    return StageResult(
        f"{len(results)} cases: {outcome}",
        ok,
        {"cases": len(results), **dict(sorted(counts.items()))},
    )


def _stage_hunt(profile: Profile, budget: float) -> StageResult:
    from spec.hunt.runner import hunt

    # Under the mosaik profile the first violation is enough to answer the question.
    report = hunt(profile, budget_s=budget, stop_on_first=bool(profile.hazards))
    found = sorted({v.id for v in report.violations})
    text = f"violations: {', '.join(found)}" if found else "no violation"
    measures = {
        "rule_steps": report.rule_steps,
        "rule_steps_per_s": round(report.rule_steps_per_s, 1),
        "model_steps": report.model_steps,
        "examples": report.examples,
    }
    if report.stopped is not None:
        text = f"stopped ({report.stopped}); {text}"
        return StageResult(text, False, {"violations": found}, measures, interrupted=True)
    return StageResult(text, bool(found) == bool(profile.hazards), {"violations": found}, measures)


def _stage_explore(profile: Profile) -> StageResult:
    from spec.explore.stage import run_stage

    got = run_stage(profile)
    return StageResult(got.outcome, got.ok, got.counts, got.measures, got.interrupted)


Stage = Callable[[Profile], "StageResult | tuple[str, bool]"]


def _as_result(value: StageResult | tuple[str, bool]) -> StageResult:
    """A stage may also return ``(outcome, ok)`` (deterministic text and verdict)."""
    if isinstance(value, StageResult):
        return value
    outcome, ok = value
    return StageResult(outcome, ok)


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
        if self.stage == "explore":
            return 20.0 if not self.profile.hazards else 1.0
        return 0.05 + (self.case.size if self.case is not None else 0) / 5_000


def _run_task(task: _Task) -> tuple[Any, float]:
    """Run one task (in a worker, or here); return its value and its seconds."""
    started = time.perf_counter()
    value: Any
    if task.stage == "prove":
        value = _as_result(_stage_prove(task.profile))
    elif task.stage == "hunt":
        value = _as_result(_stage_hunt(task.profile, task.hunt_budget))
    elif task.stage == "explore":
        value = _stage_explore(task.profile)
    else:
        assert task.case is not None
        value = run_task(task.case)
    return value, time.perf_counter() - started


STAGES: tuple[str, ...] = ("prove", "scenarios", "hunt", "explore")
"""The stages, in the order of the summary's rows (each for both profiles)."""


def run_check(
    max_size: int,
    hunt_budget: float,
    on_row: Callable[[Row], None] | None = None,
    on_tick: Callable[[], None] | None = None,
    jobs: int = 1,
    *,
    explore: bool = True,
) -> tuple[list[Row], StopReason | None]:
    """Run every stage for both profiles; return the summary rows, in stage order, and why
    the run stopped early (Ctrl-C), if it did.

    With ``jobs`` workers the stages run side by side, and so do the scenario cases
    (:func:`spec.parallel.map_ordered`); the rows are the same for every ``jobs``,
    timings aside. ``on_row`` sees each row as its last task finishes. A stopped run
    still has a row for every stage: those not finished are ``interrupted``. ``explore``
    False leaves the explorer's stage out.
    """
    profiles = (REFERENCE, MOSAIK_0_3_13)
    cases = select_cases(SCENARIOS, None, max_size)
    tasks: list[_Task] = [_Task("prove", p) for p in profiles]
    for p in profiles:
        tasks += [_Task("scenarios", p, case=c) for c in tasks_for(cases, [p])]
    if hunt_budget > 0 and _hunt_available():
        tasks += [_Task("hunt", p, hunt_budget=hunt_budget) for p in profiles]
    if explore:
        tasks += [_Task("explore", p) for p in profiles]
    keys = [(t.stage, t.profile.name) for t in tasks]
    total = Counter(keys)
    finished: dict[tuple[str, str], list[tuple[Any, float]]] = {k: [] for k in total}

    def done(index: int, value: tuple[Any, float]) -> None:
        key = keys[index]
        finished[key].append(value)
        if len(finished[key]) == total[key] and on_row is not None:
            on_row(_row(key, finished[key], total[key]))

    mapped = map_ordered(
        _run_task, tasks, jobs=jobs, cost=_Task.cost, on_done=done, on_tick=on_tick
    )
    parts: dict[tuple[str, str], list[tuple[Any, float]]] = {k: [] for k in total}
    for index, value in sorted(mapped.results.items()):
        parts[keys[index]].append(value)
    rows = [
        _row((stage, p.name), parts[(stage, p.name)], total[(stage, p.name)])
        for stage in STAGES
        for p in profiles
        if (stage, p.name) in total
    ]
    return rows, mapped.stopped


def _row(key: tuple[str, str], parts: list[tuple[Any, float]], total: int) -> Row:
    """The row of a stage from its finished tasks (in task order): ``interrupted`` unless
    all ``total`` finished, or if the stage itself returned stopped (the hunt)."""
    stage, profile = key
    seconds = sum(s for _, s in parts)
    if len(parts) < total:
        what = "cases" if stage == "scenarios" else "tasks"
        text = f"interrupted: {len(parts)} of {total} {what} done"
        return Row(stage, profile, text, False, seconds, interrupted=True)
    if stage == "scenarios":
        result = _scenarios_result([v for v, _ in parts])
    else:
        ((result, _),) = parts
    return Row(
        stage,
        profile,
        result.outcome,
        result.ok and not result.interrupted,
        seconds,
        result.counts,
        result.measures,
        result.interrupted,
    )


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
    with progress_bar(*columns, auto_refresh=False) as bar:
        task = bar.add_task(f"running on {args.jobs} worker(s)", total=None)
        done: list[str] = []

        def row_done(row: Row) -> None:
            done.append(f"{row.stage} ({row.profile})")
            bar.update(task, description=f"done: {', '.join(done)}")
            bar.refresh()

        rows, stopped = run_check(
            args.max_size,
            args.hunt_budget,
            on_row=row_done,
            on_tick=bar.refresh,
            jobs=args.jobs,
            explore=not args.no_explore,
        )
    wall = time.perf_counter() - started
    passed = stopped is None and all(r.as_expected for r in rows)
    status = exit_status(stopped, 0 if passed else 1)
    if args.json:
        out = {
            "passed": passed,
            "stopped": stopped,
            "profiles": list(PROFILES),
            "rows": [r.as_json() for r in rows],
            "timings": [r.timing_json() for r in rows],
            "jobs": args.jobs,
            "wall_s": round(wall, 3),
        }
        print(json.dumps(out, indent=2, sort_keys=True))
        return status
    table = Table(title="snapsync check")
    for col in ("stage", "profile", "outcome", "as expected", "seconds"):
        table.add_column(col, justify="right" if col == "seconds" else "left")
    for r in rows:
        mark = "[green]yes[/]" if r.as_expected else "[red]NO[/]"
        outcome = r.outcome
        if "rule_steps_per_s" in r.measures:
            outcome += (
                f" ({r.measures['rule_steps']} rule steps, {r.measures['rule_steps_per_s']:.0f}/s)"
            )
        if "states_per_s" in r.measures:
            outcome += f" ({r.measures['states_per_s']:.0f} states/s)"
        table.add_row(r.stage, r.profile, outcome, mark, f"{r.seconds:.1f}")
    console.print(table)
    workers = "1 process" if args.jobs == 1 else f"{args.jobs} workers"
    console.print(f"{wall:.1f} s with {workers} (a row's seconds add up its tasks' time)")
    if stopped is not None:
        console.print(f"[yellow]stopped ({stopped}): a partial report[/]")
    else:
        console.print("[green]all as expected[/]" if passed else "[red]unexpected results[/]")
    return status
