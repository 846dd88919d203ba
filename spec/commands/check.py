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
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.table import Table

from impl.profile import MOSAIK_0_3_13, PROFILES, REFERENCE, Profile
from spec.render import results_console

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
    parser.add_argument(
        "--no-explore", action="store_true", help="skip the exhaustive exploration stage"
    )
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


def _stage_scenarios(profile: Profile, max_size: int) -> tuple[str, bool]:
    from spec.commands.scenarios import run_scenarios

    results = run_scenarios(None, [profile.name], [], max_size=max_size, progress=False)
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


def _stage_explore(profile: Profile) -> tuple[str, bool]:
    from spec.explore.stage import run_stage

    return run_stage(profile)


def run_check(
    max_size: int,
    hunt_budget: float,
    on_row: Callable[[Row], None] | None = None,
    *,
    explore: bool = True,
) -> list[Row]:
    """Run every stage for both profiles; return the summary rows."""
    stages: list[tuple[str, Callable[[Profile], tuple[str, bool]]]] = [
        ("prove", _stage_prove),
        ("scenarios", lambda p: _stage_scenarios(p, max_size)),
    ]
    if hunt_budget > 0 and _hunt_available():
        stages.append(("hunt", lambda p: _stage_hunt(p, hunt_budget)))
    if explore:
        stages.append(("explore", _stage_explore))
    rows: list[Row] = []
    for name, stage in stages:
        for profile in (REFERENCE, MOSAIK_0_3_13):
            started = time.perf_counter()
            outcome, ok = stage(profile)
            row = Row(name, profile.name, outcome, ok, time.perf_counter() - started)
            rows.append(row)
            if on_row is not None:
                on_row(row)
    return rows


def _hunt_available() -> bool:
    return importlib.util.find_spec("spec.hunt.runner") is not None


def _run(args: argparse.Namespace) -> int:
    console = results_console()
    status = console.status("running checks") if not args.json else None
    if status is not None:
        status.start()
    try:

        def progress(row: Row) -> None:
            if status is not None:
                status.update(f"done: {row.stage} ({row.profile})")

        rows = run_check(args.max_size, args.hunt_budget, progress, explore=not args.no_explore)
    finally:
        if status is not None:
            status.stop()
    passed = all(r.as_expected for r in rows)
    if args.json:
        print(
            json.dumps(
                {"passed": passed, "profiles": list(PROFILES), "rows": [r.as_json() for r in rows]},
                indent=2,
                sort_keys=True,
            )
        )
        return 0 if passed else 1
    table = Table(title="snapsync check")
    for col in ("stage", "profile", "outcome", "as expected", "seconds"):
        table.add_column(col, justify="right" if col == "seconds" else "left")
    for r in rows:
        mark = "[green]yes[/]" if r.as_expected else "[red]NO[/]"
        table.add_row(r.stage, r.profile, r.outcome, mark, f"{r.seconds:.1f}")
    console.print(table)
    console.print("[green]all as expected[/]" if passed else "[red]unexpected results[/]")
    return 0 if passed else 1
