"""``snapsync bench mutants``: the mutation suite (:mod:`spec.mutants`).

Every mutant of the catalogue (or those ``--filter`` / ``--family`` choose) is applied
to a copy of the project and ``snapsync check --fail-fast`` run against the copy: a
mutant is killed when check fails. ``--tests`` runs the test suite on check's
survivors (the test files named after the mutated module first). Mutants shown
equivalent to the original are listed, not run, and not scored. Prints the kill rate
of check alone (and of check + tests), the time to kill of each mutant, the kill rate
per family, and the survivors with the mistake each one makes. ``--json`` for
machines; ``--out FILE`` also writes the JSON report.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from rich.table import Table

from spec.mutants.catalogue import MUTANT_FAMILIES
from spec.mutants.runner import KILLED, MutantResult, MutantsReport, run_suite, select
from spec.parallel import jobs_argument
from spec.render import results_console
from spec.robust.options import seconds
from spec.robust.output import writable_file

__all__ = ["register"]


def register(sub: Any) -> None:
    """Add ``bench mutants`` to the CLI."""
    from spec.commands.check import DEFAULT_HUNT_BUDGET_S

    parser: argparse.ArgumentParser = sub.add_parser(
        "mutants",
        help="the mutation suite: does snapsync check kill each deliberate bug of impl/?",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--filter", action="append", default=[], metavar="TEXT", help="mutant ids containing TEXT"
    )
    parser.add_argument(
        "--family", action="append", default=[], choices=MUTANT_FAMILIES, help="one family only"
    )
    parser.add_argument(
        "--hunt-budget",
        type=seconds(),
        default=DEFAULT_HUNT_BUDGET_S,
        metavar="SECONDS",
        help=f"check's --hunt-budget (default {DEFAULT_HUNT_BUDGET_S:g}, check's default)",
    )
    parser.add_argument("--jobs", **jobs_argument("each check"))
    parser.add_argument(
        "--tests", action="store_true", help="run the test suite on check's survivors"
    )
    parser.add_argument(
        "--timeout",
        type=seconds(),
        default=600.0,
        metavar="SECONDS",
        help="end a check still running after SECONDS (default 600)",
    )
    parser.add_argument("--out", metavar="FILE", help="also write the JSON report to FILE")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(handler=_main)


def _main(args: argparse.Namespace) -> int:
    mutants = select(args.filter, args.family)
    out = writable_file("--out", args.out) if args.out else None
    console = results_console()

    def shown(r: MutantResult) -> None:
        if not args.json:
            mark = "killed" if r.check.verdict == KILLED else r.check.verdict.upper()
            print(
                f"{r.mutant.id}: {mark} in {r.check.seconds:.1f} s {r.check.by}"[:200],
                file=sys.stderr,
                flush=True,
            )

    report = run_suite(
        mutants,
        hunt_budget=args.hunt_budget,
        jobs=args.jobs,
        tests=args.tests,
        timeout=args.timeout,
        on_result=shown,
    )
    doc = report.as_json()
    if out is not None:
        out.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    if args.json:
        print(json.dumps(doc, indent=2, sort_keys=True))
    else:
        _print(report, console)
    return 0


def _print(report: MutantsReport, console: Any) -> None:
    table = Table(title="snapsync bench mutants")
    for col in ("mutant", "family", "steps", "check", "seconds", "killed by"):
        table.add_column(col, justify="right" if col == "seconds" else "left")
    for r in report.results:
        by = r.check.by
        verdict = r.check.verdict
        if r.tests is not None:
            verdict += f"; tests: {r.tests.verdict}"
            by = by or r.tests.by
        table.add_row(
            r.mutant.id, r.mutant.family, r.mutant.steps, verdict, f"{r.check.seconds:.1f}", by
        )
    console.print(table)
    doc = report.as_json()
    n = doc["mutants"]
    console.print(
        f"check alone killed {report.check_kills} of {n} ({100 * report.check_kills / n:.1f}%); "
        f"time to kill: median {doc['time_to_kill_s']['median']} s, "
        f"max {doc['time_to_kill_s']['max']} s "
        f"(baseline check passed in {report.baseline.seconds:.1f} s)"
    )
    fams = ", ".join(f"{f} {k}/{t}" for f, (k, t) in report.by_family().items())
    console.print(f"by family: {fams}")
    if report.tests_run:
        console.print(f"check + tests killed {report.total_kills} of {n}")
    for r in report.survivors():
        tests = f" (tests: {r.tests.verdict} {r.tests.by})" if r.tests is not None else ""
        console.print(f"survivor {r.mutant.id} [{r.mutant.steps}]: {r.mutant.why}{tests}")
    for m in report.equivalent:
        console.print(f"equivalent (not run, not scored) {m.id}: {m.equivalent}")
