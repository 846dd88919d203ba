"""``snapsync check``: the main job — every check of the project, one summary table.

Stages, each run for both profiles:

* ``prove`` — the Z3 obligations (:mod:`spec.proofs`): every one proved under
  ``reference``; under ``mosaik-0.3.13`` exactly the counterexamples its hazards call for.
* ``scenarios`` — mosaik's own sync tests on the model (:mod:`spec.scenarios`), at
  sizes up to ``--max-size`` (the full sizes run with ``snapsync scenarios``).
* ``hunt`` — the stateful search (:mod:`spec.hunt`), when installed: nothing found
  under ``reference``; a violation found under ``mosaik-0.3.13``. Under ``reference``
  the ``--hunt-budget`` seconds are shared out among the campaign families
  (:data:`HUNT_SHARES`: catch-up sessions, provider lifetimes, Raft, single steps
  against naive models), each family a
  task of its own, so that every part of the protocol gets its turn whatever the
  speed; the row says which campaigns ran and how many walks each family got.
* ``explore`` — a complete exploration of one small configuration
  (:mod:`spec.explore.stage`): no violation, dead end or stall under ``reference``;
  a violation under ``mosaik-0.3.13``. ``--no-explore`` skips it.

A row is "as expected" when the stage's outcome is the one the profile calls for;
the command exits 0 only when every row is. ``--fail-fast`` stops at the first row
that is not (the others are reported as ``skipped``): what the mutation suite
(:mod:`spec.mutants`) uses to time a kill.

A watchdog bounds every task (:data:`TASK_LIMITS_S`): a step or loop that never
returns — an infinite loop in a broken implementation — ends its task as ``hung``,
naming the innermost frame it was stuck in, instead of hanging the command.

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
import contextlib
import importlib.util
import json
import signal
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import FrameType
from typing import Any

from rich.progress import SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from impl.profile import MOSAIK_0_3_13, PROFILES, REFERENCE, Profile
from spec.hunt.campaigns import CAMPAIGNS, FAMILIES
from spec.parallel import jobs_argument, map_ordered
from spec.render import results_console
from spec.robust.options import MAX_ITEMS, count, seconds
from spec.robust.progress import progress_bar
from spec.robust.stop import StopReason, exit_status
from spec.scenarios import SCENARIOS, CaseResult, select_cases
from spec.scenarios.batch import CaseTask, run_task, tasks_for

__all__ = ["HUNT_SHARES", "TASK_LIMITS_S", "Row", "StageResult", "register", "run_check"]

DEFAULT_HUNT_BUDGET_S = 90.0
"""Seconds of hunting under ``reference`` in a default run (shared out by family):
with the other stages, about a minute on two cores."""

HUNT_SHARES: dict[str, float] = {"sync": 0.30, "provider": 0.20, "raft": 0.35, "steps": 0.15}
"""Each campaign family's share of the reference hunt's budget (:data:`FAMILIES`): the
group families by how much there is to reach (Raft most: its divergent-log shapes need
the most walks), the single steps (the differential campaigns, fast examples) the rest."""

SHRINK_BUDGET_S = 15.0
"""Seconds a hunt task of ``check`` may spend shrinking what it found (``snapsync hunt``
spends up to 60): the trace is saved either way."""

TASK_LIMITS_S: dict[str, float] = {"prove": 120.0, "scenarios": 60.0, "explore": 120.0}
"""The watchdog's limit for one task of each stage (a hunt task: its budget plus
:data:`SHRINK_BUDGET_S` plus a minute). Honest tasks take a small fraction: the proofs
about 2 s, the longest scenario case about 1 s, the explorer's stage about 3 s. Once a
task of a stage hung in a process, that process skips the stage's other tasks (they
would hang too: a broken step hangs every case that reaches it)."""


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
        default=DEFAULT_HUNT_BUDGET_S,
        metavar="SECONDS",
        help=f"seconds of stateful search under reference, shared out among the campaign "
        f"families (default {DEFAULT_HUNT_BUDGET_S:g}; 0 skips the hunt)",
    )
    parser.add_argument(
        "--fail-fast",
        action="store_true",
        help="stop at the first row that is not as expected (the others: skipped)",
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


def _scenarios_result(results: list[CaseResult | StageResult]) -> StageResult:
    """The row of the scenario cases (a case the watchdog ended is a :class:`StageResult`)."""
    counts: dict[str, int] = {}
    hung = [r.outcome for r in results if isinstance(r, StageResult)]
    for r in results:
        status = r.status if isinstance(r, CaseResult) else r.outcome.split(":", 1)[0]
        counts[status] = counts.get(status, 0) + 1
    outcome = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    ok = bool(results) and all(
        isinstance(r, CaseResult) and r.status in ("ok", "finding") for r in results
    )
    if hung:
        outcome += f"; {hung[0]}"
    return StageResult(
        f"{len(results)} cases: {outcome}",
        ok,
        {"cases": len(results), **dict(sorted(counts.items()))},
    )


def _stage_hunt(
    profile: Profile, budget: float, family: str | None = None, fail_fast: bool = False
) -> StageResult:
    """Hunt under ``profile`` for ``budget`` seconds: every campaign, or ``family``'s."""
    from spec.hunt.runner import hunt

    chosen = None if family is None else [c for c in CAMPAIGNS if c.family == family]
    # Under the mosaik profile the first violation is enough to answer the question.
    report = hunt(
        profile,
        budget_s=budget,
        campaigns=chosen,
        stop_on_first=bool(profile.hazards) or fail_fast,
        shrink_budget_s=SHRINK_BUDGET_S,
    )
    found = sorted({v.id for v in report.violations})
    text = f"violations: {', '.join(found)}" if found else "no violation"
    ran = sorted(name for name, s in report.campaigns.items() if s.calls)
    measures = {
        "rule_steps": report.rule_steps,
        "rule_steps_per_s": round(report.rule_steps_per_s, 1),
        "model_steps": report.model_steps,
        "examples": report.examples,
        "campaigns_run": ran,
        "campaigns_chosen": len(report.campaigns),
        "walks": {family or "all": report.examples},
    }
    traces = [v.trace for v in report.violations if v.trace]
    if traces:
        measures["traces"] = traces
    errors = [v for v in report.violations if v.id == "ERROR"]
    if errors:
        # Not a broken check but an exception in a step or the machine: say which, where.
        first = errors[0]
        measures["error"] = f"{first.campaign}: {first.detail}"
        measures["error_program"] = first.program
        text += f" ({measures['error']})"
    counts: dict[str, Any] = {"violations": found}
    if report.stopped is not None:
        text = f"stopped ({report.stopped}); {text}"
        return StageResult(text, False, counts, measures, interrupted=True)
    return StageResult(text, bool(found) == bool(profile.hazards), counts, measures)


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
    """One piece of a stage: a whole proof or explorer stage, one hunt (a profile's, or
    one family's share of it), or one scenario case."""

    stage: str
    profile: Profile
    case: CaseTask | None = None
    hunt_budget: float = 0.0
    family: str | None = None
    fail_fast: bool = False
    run: int = 0
    """Which run of :func:`run_check` the task belongs to (what :data:`_HUNG` is kept by)."""

    def cost(self) -> float:
        """A rough estimate of its seconds: the long tasks start first."""
        if self.stage == "hunt":
            return self.hunt_budget if not self.profile.hazards else 1.0
        if self.stage == "prove":
            return 8.0
        if self.stage == "explore":
            return 20.0 if not self.profile.hazards else 1.0
        return 0.05 + (self.case.size if self.case is not None else 0) / 5_000

    def limit(self) -> float:
        """The watchdog's limit for this task, in seconds (:data:`TASK_LIMITS_S`)."""
        if self.stage == "hunt":
            return self.hunt_budget + SHRINK_BUDGET_S + 60.0
        return TASK_LIMITS_S[self.stage]


class TaskHung(BaseException):
    """Raised in a task that outlived its watchdog limit (a ``BaseException``, so that no
    ``except Exception`` on the way, such as the hunt's report of a panicking step, can
    take it for a finding of its own)."""


_ROOT = Path(__file__).resolve().parents[2]
"""The project's root: frames under it are the project's code."""


def _stuck_in(exc: BaseException) -> str:
    """The innermost frame of the project's own code that ``exc`` interrupted, as
    ``path:line (function)`` relative to the project's root, or ``?``."""
    root = str(_ROOT) + "/"
    for f in reversed(traceback.extract_tb(exc.__traceback__)):
        if f.filename.startswith(root) and "/commands/check.py" not in f.filename:
            return f"{f.filename[len(root) :]}:{f.lineno} ({f.name})"
    return "?"


@contextlib.contextmanager
def _watchdog(seconds: float) -> Iterator[None]:
    """Raise :class:`TaskHung` in the block once ``seconds`` have passed (wall clock).

    Works where signals can be handled (the main thread of this process or of a worker,
    which is where tasks run); elsewhere the block runs unguarded."""
    if threading.current_thread() is not threading.main_thread() or seconds <= 0:
        yield
        return

    def fire(signum: int, frame: FrameType | None) -> None:
        raise TaskHung(f"no result within {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


_HUNG: dict[tuple[int, str, str], str] = {}
"""Per run and (stage, profile), what hung in this process (:data:`TASK_LIMITS_S`)."""


def _run_task(task: _Task) -> tuple[Any, float]:
    """Run one task (in a worker, or here) under its watchdog; return its value and its
    seconds. A task the watchdog ended returns a failing result that says where it hung."""
    started = time.perf_counter()
    value: Any
    key = (task.run, task.stage, task.profile.name)
    if key in _HUNG:
        return StageResult(f"skipped: {_HUNG[key]}", False, {"hung": task.stage}), 0.0
    try:
        with _watchdog(task.limit()):
            if task.stage == "prove":
                value = _as_result(_stage_prove(task.profile))
            elif task.stage == "hunt":
                value = _stage_hunt(task.profile, task.hunt_budget, task.family, task.fail_fast)
            elif task.stage == "explore":
                value = _stage_explore(task.profile)
            else:
                assert task.case is not None
                value = run_task(task.case)
    except TaskHung as exc:
        what = f"{task.stage} {task.case.case if task.case is not None else task.family or ''}"
        text = f"hung: {what.strip()}: {exc} (stuck in {_stuck_in(exc)})"
        _HUNG[key] = text
        value = StageResult(text, False, {"hung": what.strip()})
    return value, time.perf_counter() - started


STAGES: tuple[str, ...] = ("prove", "scenarios", "hunt", "explore")
"""The stages, in the order of the summary's rows (each for both profiles)."""


class _FailedFast(Exception):
    """A row was not as expected and ``fail_fast`` was asked for: stop the run."""


def hunt_tasks(profile: Profile, budget: float, fail_fast: bool = False) -> list[_Task]:
    """The hunt's tasks under ``profile``: one per campaign family with its share of
    ``budget`` under a profile without hazards, one over every campaign otherwise (its
    first violation answers the question)."""
    if profile.hazards:
        return [_Task("hunt", profile, hunt_budget=budget, fail_fast=fail_fast)]
    return [
        _Task("hunt", profile, hunt_budget=budget * HUNT_SHARES[f], family=f, fail_fast=fail_fast)
        for f in FAMILIES
        if any(c.family == f for c in CAMPAIGNS)
    ]


def run_check(
    max_size: int,
    hunt_budget: float,
    on_row: Callable[[Row], None] | None = None,
    on_tick: Callable[[], None] | None = None,
    jobs: int = 1,
    *,
    explore: bool = True,
    fail_fast: bool = False,
) -> tuple[list[Row], StopReason | None]:
    """Run every stage for both profiles; return the summary rows, in stage order, and why
    the run stopped early (Ctrl-C), if it did.

    With ``jobs`` workers the stages run side by side, and so do the scenario cases
    (:func:`spec.parallel.map_ordered`); the rows are the same for every ``jobs``,
    timings aside. ``on_row`` sees each row as its last task finishes. A stopped run
    still has a row for every stage: those not finished are ``interrupted``. ``explore``
    False leaves the explorer's stage out. ``fail_fast`` ends the run at the first row
    that is not as expected; the rows not finished then are ``skipped``.
    """
    profiles = (REFERENCE, MOSAIK_0_3_13)
    cases = select_cases(SCENARIOS, None, max_size)
    tasks: list[_Task] = [_Task("prove", p) for p in profiles]
    for p in profiles:
        tasks += [_Task("scenarios", p, case=c) for c in tasks_for(cases, [p])]
    if hunt_budget > 0 and _hunt_available():
        for p in profiles:
            tasks += hunt_tasks(p, hunt_budget, fail_fast)
    if explore:
        tasks += [_Task("explore", p) for p in profiles]
    run = time.monotonic_ns()
    tasks = [replace(t, run=run) for t in tasks]
    keys = [(t.stage, t.profile.name) for t in tasks]
    total = Counter(keys)
    finished: dict[tuple[str, str], list[tuple[Any, float]]] = {k: [] for k in total}

    def done(index: int, value: tuple[Any, float]) -> None:
        key = keys[index]
        finished[key].append(value)
        if len(finished[key]) == total[key]:
            row = _row(key, finished[key], total[key])
            if on_row is not None:
                on_row(row)
            if fail_fast and not row.as_expected:
                raise _FailedFast

    try:
        mapped = map_ordered(
            _run_task, tasks, jobs=jobs, cost=_Task.cost, on_done=done, on_tick=on_tick
        )
    except _FailedFast:
        return _rows(profiles, total, finished, skipped=True), None
    parts: dict[tuple[str, str], list[tuple[Any, float]]] = {k: [] for k in total}
    for index, value in sorted(mapped.results.items()):
        parts[keys[index]].append(value)
    return _rows(profiles, total, parts), mapped.stopped


def _rows(
    profiles: tuple[Profile, ...],
    total: Counter[tuple[str, str]],
    parts: dict[tuple[str, str], list[tuple[Any, float]]],
    skipped: bool = False,
) -> list[Row]:
    return [
        _row((stage, p.name), parts[(stage, p.name)], total[(stage, p.name)], skipped)
        for stage in STAGES
        for p in profiles
        if (stage, p.name) in total
    ]


def _row(
    key: tuple[str, str], parts: list[tuple[Any, float]], total: int, skipped: bool = False
) -> Row:
    """The row of a stage from its finished tasks (in task order): ``interrupted`` (or
    ``skipped``, after a fail-fast stop) unless all ``total`` finished, or if the stage
    itself returned stopped (the hunt)."""
    stage, profile = key
    seconds = sum(s for _, s in parts)
    if len(parts) < total:
        what = "cases" if stage == "scenarios" else "tasks"
        text = f"{'skipped' if skipped else 'interrupted'}: {len(parts)} of {total} {what} done"
        return Row(stage, profile, text, False, seconds, interrupted=not skipped)
    if stage == "scenarios":
        result = _scenarios_result([v for v, _ in parts])
    elif stage == "hunt" and len(parts) > 1:
        result = _hunt_result([v for v, _ in parts])
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


def _hunt_result(results: list[StageResult]) -> StageResult:
    """One hunt row from the families' tasks (in :data:`FAMILIES` order)."""
    found = sorted({v for r in results for v in r.counts.get("violations", ())})
    hung = [r.outcome for r in results if "hung" in r.counts]
    text = f"violations: {', '.join(found)}" if found else "no violation"
    errors = [r.measures["error"] for r in results if "error" in r.measures]
    if errors:
        text += f" ({errors[0]})"  # which campaign raised what (the families' first)
    if hung:
        text = "; ".join(hung + ([text] if found else []))
    ran = sorted({c for r in results for c in r.measures.get("campaigns_run", ())})
    chosen = sum(int(r.measures.get("campaigns_chosen", 0)) for r in results)
    walks: dict[str, int] = {}
    for r in results:
        walks.update(r.measures.get("walks", {}))
    measures: dict[str, Any] = {
        key: sum(r.measures.get(key, 0) for r in results)
        for key in ("rule_steps", "model_steps", "examples")
    }
    # Steps per second of one process: the families ran one task each.
    busy = sum(
        r.measures["rule_steps"] / r.measures["rule_steps_per_s"]
        for r in results
        if r.measures.get("rule_steps_per_s")
    )
    measures["rule_steps_per_s"] = round(measures["rule_steps"] / busy, 1) if busy else 0.0
    measures["campaigns_run"] = ran
    measures["campaigns_chosen"] = chosen
    measures["walks"] = walks
    traces = [t for r in results for t in r.measures.get("traces", ())]
    if traces:
        measures["traces"] = traces
    programs = [r.measures["error_program"] for r in results if "error_program" in r.measures]
    if programs:
        measures["error_program"] = programs[0]
    interrupted = any(r.interrupted for r in results)
    if interrupted:
        text = f"stopped; {text}"
    ok = all(r.ok for r in results)
    counts: dict[str, Any] = {"violations": found}
    if hung:
        counts["hung"] = [r.counts["hung"] for r in results if "hung" in r.counts]
    return StageResult(text, ok, counts, measures, interrupted)


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
            fail_fast=args.fail_fast,
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
        if "campaigns_run" in r.measures:
            walks = ", ".join(f"{f} {n}" for f, n in r.measures["walks"].items())
            outcome += (
                f"; {len(r.measures['campaigns_run'])} of {r.measures['campaigns_chosen']} "
                f"campaigns run, walks: {walks}"
            )
        for trace in r.measures.get("traces", ()):
            outcome += f"\ntrace: {trace}"
        table.add_row(r.stage, r.profile, outcome, mark, f"{r.seconds:.1f}")
    console.print(table)
    workers = "1 process" if args.jobs == 1 else f"{args.jobs} workers"
    console.print(f"{wall:.1f} s with {workers} (a row's seconds add up its tasks' time)")
    if stopped is not None:
        console.print(f"[yellow]stopped ({stopped}): a partial report[/]")
    else:
        console.print("[green]all as expected[/]" if passed else "[red]unexpected results[/]")
    return status
