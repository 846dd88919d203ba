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

``--json`` keeps what is deterministic apart from what depends on the machine's
speed, so two runs can be diffed: ``rows`` hold the verdicts and the counts that do
not depend on speed (obligations, cases, violations found); ``timings`` hold the
seconds, the hunt's rule steps and its rates. Progress is shown on stderr when it is
a terminal. Ctrl-C stops at once and prints the rows done so far, the stage in
progress marked ``interrupted`` (exit status 130); a run that was stopped never
passes.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rich.progress import SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from impl.profile import MOSAIK_0_3_13, PROFILES, REFERENCE, Profile
from spec.render import results_console
from spec.robust.options import MAX_ITEMS, count, seconds
from spec.robust.progress import progress_bar
from spec.robust.stop import Stop, StopReason, exit_status, stop_point, stopping

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
        help="run proofs, mosaik's scenarios and the hunt for both profiles (the main job)",
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


def _stage_scenarios(profile: Profile, max_size: int) -> StageResult:
    from spec.commands.scenarios import run_scenarios

    results = run_scenarios(None, [profile.name], [], max_size=max_size, progress=False)
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


Stage = Callable[[Profile], "StageResult | tuple[str, bool]"]


def _as_result(value: StageResult | tuple[str, bool]) -> StageResult:
    """A stage may also return ``(outcome, ok)`` (deterministic text and verdict)."""
    if isinstance(value, StageResult):
        return value
    outcome, ok = value
    return StageResult(outcome, ok)


def run_check(
    max_size: int,
    hunt_budget: float,
    on_row: Callable[[Row], None] | None = None,
    on_stage: Callable[[str, str], None] | None = None,
) -> tuple[list[Row], StopReason | None]:
    """Run every stage for both profiles; return the summary rows and why the run stopped
    early (Ctrl-C), if it did — the stage in progress is then the last row, interrupted."""
    stages: list[tuple[str, Stage]] = [
        ("prove", _stage_prove),
        ("scenarios", lambda p: _stage_scenarios(p, max_size)),
    ]
    if hunt_budget > 0 and _hunt_available():
        stages.append(("hunt", lambda p: _stage_hunt(p, hunt_budget)))
    rows: list[Row] = []
    with stopping() as stopped:
        for name, stage in stages:
            for profile in (REFERENCE, MOSAIK_0_3_13):
                stop_point()
                if on_stage is not None:
                    on_stage(name, profile.name)
                started = time.perf_counter()
                try:
                    result = _as_result(stage(profile))
                except (Stop, KeyboardInterrupt):
                    seconds_spent = time.perf_counter() - started
                    rows.append(
                        Row(
                            name,
                            profile.name,
                            "interrupted",
                            False,
                            seconds_spent,
                            interrupted=True,
                        )
                    )
                    raise
                interrupted = result.interrupted
                row = Row(
                    name,
                    profile.name,
                    result.outcome,
                    result.ok and not interrupted,
                    time.perf_counter() - started,
                    result.counts,
                    result.measures,
                    interrupted,
                )
                rows.append(row)
                if on_row is not None:
                    on_row(row)
                if interrupted:
                    stop_point()
    return rows, stopped.reason


def _hunt_available() -> bool:
    return importlib.util.find_spec("spec.hunt.runner") is not None


def _run(args: argparse.Namespace) -> int:
    console = results_console()
    columns = (
        SpinnerColumn(),
        TextColumn("[bold]check[/] {task.description}"),
        TimeElapsedColumn(),
    )
    with progress_bar(*columns) as bar:
        task = bar.add_task("starting", total=None)

        def stage(name: str, profile: str) -> None:
            bar.update(task, description=f"{name} ({profile})")

        rows, stopped = run_check(args.max_size, args.hunt_budget, on_stage=stage)
    passed = stopped is None and all(r.as_expected for r in rows)
    status = exit_status(stopped, 0 if passed else 1)
    if args.json:
        out = {
            "passed": passed,
            "stopped": stopped,
            "profiles": list(PROFILES),
            "rows": [r.as_json() for r in rows],
            "timings": [r.timing_json() for r in rows],
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
        table.add_row(r.stage, r.profile, outcome, mark, f"{r.seconds:.1f}")
    console.print(table)
    if stopped is not None:
        console.print(f"[yellow]stopped ({stopped}): the stages after the last row did not run[/]")
    else:
        console.print("[green]all as expected[/]" if passed else "[red]unexpected results[/]")
    return status
