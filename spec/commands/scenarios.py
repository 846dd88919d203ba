"""``snapsync scenarios``: run mosaik's own sync tests on the model, for both profiles.

Each scenario is one mosaik test with its cases (inventory §6; the list is
:data:`spec.scenarios.SCENARIOS`). A result is ``ok`` when mosaik's asserts give
the expected outcome (and, under ``reference``, the model found no violation),
``finding`` when it differs from mosaik's green test for an explained reason
(:mod:`spec.scenarios.findings`), and ``UNEXPLAINED`` / ``VIOLATIONS`` otherwise.
The command fails (status 1) unless every result is ``ok`` or ``finding``. A
``--filter`` (or ``--max-size``) that selects no case is an error (status 2), never
an empty success. Progress is shown on stderr when it is a terminal; Ctrl-C stops
and prints the results so far (status 130).
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from typing import Any

from rich.table import Table

from impl.errors import InvalidInput
from impl.profile import PROFILES, get_profile
from spec.parallel import jobs_argument
from spec.render import results_console
from spec.robust.options import MAX_ITEMS, add_behaviour_option, count, seed
from spec.robust.output import writable_dir
from spec.robust.progress import progress_bar
from spec.robust.stop import Stop, StopReason, exit_status, stopping
from spec.scenarios import SCENARIOS, CaseResult, select_cases
from spec.scenarios.batch import run_batch, tasks_for

__all__ = ["register", "run_scenarios"]


def register(sub: Any) -> None:
    """Add ``scenarios`` to the CLI."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "scenarios",
        help="run mosaik's own sync tests on the model (both profiles)",
        description="Run every test of mosaik's tests/collections/sync, the Cell/Once late "
        "joiners and tests/groups/catchup.rs on the model, with mosaik's assertions.",
    )
    parser.add_argument("--filter", metavar="PATTERN", help="glob or substring of case ids")
    parser.add_argument(
        "--profile",
        action="append",
        choices=sorted(PROFILES),
        help="reference, mosaik-0.3.13 (default: both)",
    )
    parser.add_argument("--hazard", action="append", default=[], metavar="Hx")
    add_behaviour_option(parser)
    parser.add_argument(
        "--max-size",
        type=count(0, MAX_ITEMS),
        metavar="N",
        help="skip cases of more than N items",
    )
    parser.add_argument("--seed", type=seed, default=0, help="seed of every case (default 0)")
    parser.add_argument("--trace-dir", metavar="DIR", help="write one trace per case into DIR")
    parser.add_argument("--jobs", **jobs_argument("cases"))
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(handler=_run)


def run_scenarios(
    pattern: str | None,
    profiles: list[str],
    hazards: list[str],
    *,
    behaviours: list[str] | None = None,
    max_size: int | None = None,
    seed: int = 0,
    trace_dir: str | None = None,
    progress: bool = True,
    jobs: int = 1,
    results: list[CaseResult] | None = None,
) -> list[CaseResult]:
    """Run the selected cases under each profile with ``jobs`` worker processes
    (:mod:`spec.scenarios.batch`); return every result, profile by profile, cases in
    mosaik's order.

    Raises :class:`InvalidInput` when the selection is empty. The results are also
    appended to ``results`` (if given), so a caller that is stopped (Ctrl-C: the
    :class:`~spec.robust.stop.Stop` is raised again after the workers returned what
    they finished) keeps the cases that finished.
    """
    cases = select_cases(SCENARIOS, pattern, max_size)
    if not cases:
        what = f"--filter {pattern!r}" if pattern else "the selection"
        size = f" with --max-size {max_size}" if max_size is not None else ""
        example = "case ids look like map/frozen(1000, 100)"
        raise InvalidInput(f"{what}{size} matches no case ({example})")
    chosen = [get_profile(p, hazards, behaviours or ()) for p in profiles]
    tasks = tasks_for(cases, chosen, seed=seed, trace_dir=trace_dir)
    out: list[CaseResult] = results if results is not None else []
    # Refreshed by hand, not by rich's thread: workers fork fastest from a single thread.
    with progress_bar(enabled=progress, auto_refresh=False) as bar:
        task = bar.add_task("scenarios", total=len(tasks))

        def done(index: int, result: CaseResult) -> None:
            bar.update(task, description=f"{result.profile} {result.case}", advance=1)
            bar.refresh()

        mapped = run_batch(tasks, jobs=jobs, on_done=done, on_tick=bar.refresh)
    out.extend(mapped.in_order())
    if mapped.stopped is not None:
        raise Stop(mapped.stopped)
    return out


def _run(args: argparse.Namespace) -> int:
    profiles = args.profile or list(PROFILES)
    if args.trace_dir:
        writable_dir("--trace-dir", args.trace_dir)
    results: list[CaseResult] = []
    with stopping() as stopped:
        run_scenarios(
            args.filter,
            profiles,
            args.hazard,
            behaviours=args.behaviour,
            max_size=args.max_size,
            seed=args.seed,
            trace_dir=args.trace_dir,
            progress=True,
            jobs=args.jobs,
            results=results,
        )
    summary = _summary(results)
    passed = stopped.reason is None and all(r.status in ("ok", "finding") for r in results)
    if args.json:
        out = {
            "passed": passed,
            "stopped": stopped.reason,
            "summary": summary,
            "results": [r.as_json() for r in results],
        }
        print(json.dumps(out, indent=2, sort_keys=True))
    else:
        _print(results, summary, passed, stopped.reason)
    return exit_status(stopped.reason, 0 if passed else 1)


def _summary(results: list[CaseResult]) -> dict[str, dict[str, int]]:
    out: dict[str, Counter[str]] = {}
    for r in results:
        out.setdefault(r.profile, Counter())[r.status] += 1
        out[r.profile]["total"] += 1
    return {p: dict(sorted(c.items())) for p, c in out.items()}


def _print(
    results: list[CaseResult],
    summary: dict[str, dict[str, int]],
    passed: bool,
    stopped: StopReason | None,
) -> None:
    console = results_console()
    table = Table(title="mosaik's sync scenarios on the model")
    for col in (
        "case",
        "profile",
        "asserts",
        "expected",
        "status",
        "violations",
        "sim ms",
        "wall s",
    ):
        table.add_column(col, justify="right" if col in ("sim ms", "wall s") else "left")
    style = {"ok": "green", "finding": "yellow", "UNEXPLAINED": "red", "VIOLATIONS": "red"}
    for r in results:
        viol = ", ".join(f"{k}×{n}" for k, n in r.violation_ids.items())
        table.add_row(
            r.case,
            r.profile,
            r.outcome,
            r.expected,
            f"[{style[r.status]}]{r.status}[/]",
            viol,
            str(r.sim_ms),
            f"{r.wall_s:.2f}",
        )
    console.print(table)
    for r in results:
        if r.status != "ok":
            console.print(f"[bold]{r.case}[/] ({r.profile}): {r.message or ''}")
            if r.finding:
                console.print(f"  finding: {r.finding}")
    for profile, counts in summary.items():
        parts = ", ".join(f"{k} {v}" for k, v in counts.items())
        console.print(f"{profile}: {parts}")
    if stopped is not None:
        console.print(f"[yellow]stopped ({stopped}) after {len(results)} results: a partial run[/]")
    else:
        console.print("[green]all as expected[/]" if passed else "[red]unexpected results[/]")
