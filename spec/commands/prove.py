"""``snapsync prove``: check every Z3 proof obligation under a profile.

Human output: a progress bar (stderr), then one table row per obligation
(obligation, profile, result, seconds, whether it is the expected result) and every
counterexample in full. ``--json``: a list of rows with the keys ``obligation``,
``profile``, ``result`` (``proved`` / ``counterexample`` / ``unknown``), ``seconds`` and
``counterexample`` (``null`` or the text). Exit status 0 when every result is the one
the profile calls for (proved, or a counterexample where a switched-on hazard touches
the obligation), 1 otherwise; a bad profile, hazard or ``--only`` prefix is a one-line
error with status 2. Ctrl-C stops between two obligations and prints the rows done
(status 130).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from rich.console import Console
from rich.table import Table

from impl.errors import InvalidInput
from impl.profile import PROFILES, get_profile
from spec.proofs.core import Outcome, Result
from spec.proofs.runner import obligations, run
from spec.robust.progress import progress_bar
from spec.robust.stop import exit_status, stopping

__all__ = ["register"]

_STYLE = {
    Result.PROVED: "green",
    Result.COUNTEREXAMPLE: "red",
    Result.UNKNOWN: "yellow",
}


def register(sub: Any) -> None:
    """Add ``prove`` to the CLI."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "prove",
        help="check the Z3 proof obligations",
        description=(
            "Check every proof obligation (snapshot = fold of the log prefix for the six "
            "collections, chunk schedule partition and drain, buffer contiguity and "
            "commit monotonicity, inductive session invariants I4-I6) under a profile. "
            "Exit 0 when each result is the expected one for the profile."
        ),
    )
    parser.add_argument(
        "--profile",
        default="reference",
        choices=sorted(PROFILES),
        help="reference (default) or mosaik-0.3.13",
    )
    parser.add_argument(
        "--hazard",
        action="extend",
        nargs="+",
        default=[],
        metavar="Hx",
        help="switch hazards on in addition to the profile's (H1, H2, ...); repeatable",
    )
    parser.add_argument(
        "--only",
        action="append",
        default=None,
        metavar="PREFIX",
        help="check only obligations whose name starts with PREFIX (e.g. fold/depq); repeatable",
    )
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    parser.set_defaults(handler=_prove)


def _prove(args: argparse.Namespace) -> int:
    profile = get_profile(args.profile, args.hazard)
    only: list[str] | None = args.only
    selected = [o for o in obligations() if only is None or o.name.startswith(tuple(only))]
    if not selected:
        raise InvalidInput(f"no obligation starts with {', '.join(only or [])!r}")
    outcomes: list[Outcome] = []
    with progress_bar(enabled=not args.json) as bar:
        task = bar.add_task(f"prove {profile.name}", total=len(selected))

        def advance(outcome: Outcome) -> None:
            outcomes.append(outcome)
            bar.update(task, advance=1, description=f"prove {outcome.obligation}")

        with stopping() as stopped:
            run(profile, only=only, on_outcome=advance)
    if args.json:
        json.dump([o.as_json() for o in outcomes], sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif outcomes:
        _print_human(outcomes, profile.name)
    if stopped.reason is not None and not args.json:
        Console().print(
            f"[yellow]stopped ({stopped.reason}) after {len(outcomes)} of {len(selected)} "
            "obligations: the others were not checked[/]"
        )
    return exit_status(stopped.reason, 0 if all(o.as_expected for o in outcomes) else 1)


def _print_human(outcomes: list[Outcome], profile_name: str) -> None:
    console = Console()
    table = Table(title=f"snapsync prove — profile {profile_name}")
    table.add_column("obligation", no_wrap=True, min_width=max(len(o.obligation) for o in outcomes))
    table.add_column("profile")
    table.add_column("result")
    table.add_column("seconds", justify="right")
    table.add_column("expected")
    for o in outcomes:
        mark = "yes" if o.as_expected else f"[bold red]no ({o.expected.value})[/bold red]"
        table.add_row(
            o.obligation,
            o.profile,
            f"[{_STYLE[o.result]}]{o.result.value}[/{_STYLE[o.result]}]",
            f"{o.seconds:.3f}",
            mark,
        )
    console.print(table)
    for o in outcomes:
        if o.counterexample is not None:
            console.rule(f"{o.obligation}: counterexample")
            console.print(o.counterexample, markup=False, highlight=False, soft_wrap=True)
        elif o.result is Result.UNKNOWN:
            console.rule(f"{o.obligation}: unknown")
            console.print(o.note, markup=False, highlight=False, soft_wrap=True)
    counts = {r: sum(1 for o in outcomes if o.result is r) for r in Result}
    unexpected = [o.obligation for o in outcomes if not o.as_expected]
    total = sum(o.seconds for o in outcomes)
    summary = (
        f"{len(outcomes)} obligations in {total:.1f} s: {counts[Result.PROVED]} proved, "
        f"{counts[Result.COUNTEREXAMPLE]} counterexamples, {counts[Result.UNKNOWN]} unknown"
    )
    if unexpected:
        text = f"{summary}; NOT as expected: {', '.join(unexpected)}"
    else:
        text = f"{summary}; all as expected for {profile_name}"
    console.print(text, markup=False, highlight=False, soft_wrap=True)
