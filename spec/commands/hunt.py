"""``snapsync hunt``: run the stateful suite against a profile and report what it finds.

    snapsync hunt [--profile P] [--hazard Hx ...] [--behaviour B ...] [--budget SECONDS]
                  [--rounds N] [--engine E] [--consequence KIND] [--jobs N] [--json]

Runs the state machines (:mod:`spec.hunt`) round-robin within the budget, with a
progress bar on stderr. The default engine, ``swarm``, drives the machines' own
rules, preconditions and invariants from a seeded generator and shrinks a failure
deterministically (:mod:`spec.hunt.swarm`); ``--engine hypothesis`` runs them under
Hypothesis's stateful engine (what the pytest suite does). Reports the steps run,
steps per second, the coverage of hazard-relevant situations, and each violation:
its invariant id, the time it took to find, the length of the shrunk run, and the
trace file that ``snapsync replay`` reproduces and renders. The hunt ends within
``--budget`` plus at most 5 s (saving the trace of a violation found at the end).
Ctrl-C stops it and prints the partial report of what ran and was found so far.
Exit status: 0 when nothing was found, 1 when a violation was found, 2 on bad
input, 130 when interrupted.

``--jobs N`` (default: the number of cores) runs the campaigns' calls on N worker
processes. Every call has its own seed, fixed by the schedule
(:mod:`spec.hunt.schedule`), so the findings, the shrunk traces and the counts are the
same for every N whenever the same calls run: with ``--rounds`` (a fixed amount of
work), or when every campaign has failed; a ``--budget`` decides how many calls run,
and that depends on the machine's speed. The budget and Ctrl-C work the same with
workers: each call stops at the end of the budget, and Ctrl-C stops every worker and
keeps what each call did.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from impl.profile import PROFILES, get_profile
from spec.hunt.campaigns import CAMPAIGNS, LIMITATION_CAMPAIGNS, get_campaign
from spec.hunt.consequences import Consequence
from spec.hunt.runner import ENGINES, HuntReport, hunt
from spec.hunt.swarm import SHRINK_RUNS
from spec.parallel import jobs_argument
from spec.robust.options import MAX_COUNT, add_behaviour_option, count, seconds, seed
from spec.robust.output import writable_dir
from spec.robust.stop import exit_status

__all__ = ["register"]


def register(sub: Any) -> None:
    """Add ``hunt`` to the CLI."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "hunt",
        help="hunt for invariant violations with the stateful suite",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--profile",
        default="reference",
        choices=sorted(PROFILES),
        help="profile to hunt in (default: reference)",
    )
    parser.add_argument(
        "--hazard",
        action="append",
        default=[],
        metavar="Hx",
        help="switch a hazard on in addition (repeatable)",
    )
    add_behaviour_option(parser)
    parser.add_argument(
        "--budget",
        type=seconds(positive=True),
        default=60.0,
        metavar="SECONDS",
        help="time budget, > 0 (default 60)",
    )
    parser.add_argument("--seed", type=seed, default=0, help="base seed (default 0)")
    parser.add_argument(
        "--campaign",
        action="append",
        default=[],
        metavar="NAME",
        help="run only these campaigns (repeatable; see --list)",
    )
    parser.add_argument(
        "--engine",
        default="swarm",
        choices=ENGINES,
        help="swarm: the machines' rules driven by a seeded generator with a deterministic "
        "shrinker (fast; default); hypothesis: Hypothesis's stateful engine",
    )
    parser.add_argument(
        "--examples",
        type=count(1, MAX_COUNT),
        default=25,
        help="Hypothesis examples per call (default 25)",
    )
    parser.add_argument(
        "--walks", type=count(1, MAX_COUNT), default=10, help="swarm walks per call (default 10)"
    )
    parser.add_argument(
        "--shrink-runs",
        type=count(1, MAX_COUNT),
        default=SHRINK_RUNS,
        metavar="N",
        help=f"swarm: candidate runs to shrink each violation (default {SHRINK_RUNS}; "
        "deterministic: the shrunk trace is the same on any machine and for any --jobs)",
    )
    parser.add_argument(
        "--shrink-budget",
        type=seconds(),
        default=60.0,
        metavar="SECONDS",
        help="swarm: at most this long to shrink each violation (default 60; a safety net: "
        "a shrink it cuts short is reported as such)",
    )
    parser.add_argument(
        "--rounds",
        type=count(1, MAX_COUNT),
        default=None,
        metavar="N",
        help="stop after N rounds of the campaigns: a fixed amount of work, the same on any "
        "machine and for any --jobs (default: until the budget is spent)",
    )
    parser.add_argument("--jobs", **jobs_argument("campaign calls"))
    parser.add_argument(
        "--traces",
        default="hunt-traces",
        metavar="DIR",
        help="where shrunk failing runs are saved (default ./hunt-traces)",
    )
    parser.add_argument(
        "--include-limitations",
        action="store_true",
        help="also run the campaigns that reach documented limitations (H16, H29)",
    )
    parser.add_argument(
        "--consequence",
        choices=[c.value for c in Consequence],
        help="hunt for a finding's consequence instead of a broken check: the group is held "
        "300 s of model time after each run and judged (docs/hunt.md)",
    )
    parser.add_argument("--stop-on-first", action="store_true", help="stop at the first violation")
    parser.add_argument("--list", action="store_true", help="list the campaigns and exit")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    if args.list:
        return _list(args.json)
    profile = get_profile(args.profile, args.hazard, args.behaviour)
    campaigns = [get_campaign(name) for name in args.campaign] or None
    # Checked before the hunt: a finding must never be lost to an unwritable directory.
    traces = writable_dir("--traces", args.traces, create=False)
    err = Console(stderr=True)
    columns = (
        TextColumn("[bold]hunt[/] {task.fields[profile]}"),
        BarColumn(),
        TextColumn("{task.fields[campaign]:<16}"),
        TextColumn("{task.fields[steps]} steps  {task.fields[rate]} /s"),
        TextColumn("[red]{task.fields[found]}[/] found"),
        TimeElapsedColumn(),
    )
    # Refreshed by the hunt's progress calls, not by rich's thread: workers fork fastest
    # from a single-threaded process (spec.parallel.pool).
    with Progress(
        *columns, console=err, transient=True, disable=not err.is_terminal, auto_refresh=False
    ) as bar:
        task = bar.add_task(
            "hunt",
            total=args.budget,
            profile=profile.name,
            campaign="",
            steps=0,
            rate="0",
            found=0,
        )

        def progress(report: HuntReport, campaign: str) -> None:
            elapsed = report.elapsed_s
            bar.update(
                task,
                completed=min(elapsed, args.budget),
                campaign=campaign,
                steps=report.rule_steps,
                rate=f"{report.rule_steps / elapsed:.0f}" if elapsed else "0",
                found=len(report.violations),
            )
            bar.refresh()

        report = hunt(
            profile,
            budget_s=args.budget,
            seed_base=args.seed,
            examples_per_call=args.examples,
            trace_dir=traces,
            campaigns=campaigns,
            include_limitations=args.include_limitations,
            stop_on_first=args.stop_on_first,
            progress=progress,
            engine=args.engine,
            walks_per_call=args.walks,
            shrink_budget_s=args.shrink_budget,
            consequence=args.consequence,
            shrink_runs=args.shrink_runs,
            rounds=args.rounds,
            jobs=args.jobs,
        )
    if args.json:
        print(json.dumps(report.as_json(), indent=2, sort_keys=True))
    else:
        _print(report)
    return exit_status(report.stopped, 1 if report.violations else 0)


def _list(as_json: bool) -> int:
    rows: list[dict[str, Any]] = [
        {
            "name": c.name,
            "description": c.description,
            "aims": list(c.aims),
            "limitation": c in LIMITATION_CAMPAIGNS,
        }
        for c in CAMPAIGNS + LIMITATION_CAMPAIGNS
    ]
    if as_json:
        print(json.dumps(rows, indent=2))
        return 0
    table = Table(title="campaigns")
    for col in ("name", "aims", "description"):
        table.add_column(col)
    for row in rows:
        name = row["name"] + (" (limitation)" if row["limitation"] else "")
        table.add_row(str(name), ", ".join(row["aims"]), str(row["description"]))
    Console().print(table)
    return 0


def _print(report: HuntReport) -> None:
    out = Console(file=sys.stdout)
    workers = "1 process" if report.jobs == 1 else f"{report.jobs} workers"
    out.print(
        f"hunt [bold]{report.profile}[/] ({report.engine}, {workers}): "
        f"{report.rule_steps} rule steps "
        f"({report.rule_steps_per_s:.0f}/s), {report.model_steps} model steps "
        f"({report.model_steps_per_s:.0f}/s), {report.examples} examples in "
        f"{report.elapsed_s:.1f} s"
    )
    if report.stopped is not None:
        out.print(
            f"[yellow]stopped ({report.stopped}) after {report.elapsed_s:.1f} s of the "
            f"{report.budget_s:g} s budget: a partial report[/]"
        )
    if report.violations:
        table = Table(title="violations")
        for col in ("id", "campaign", "found after", "shrunk steps", "trace", "detail"):
            table.add_column(col)
        for v in report.violations:
            table.add_row(
                v.id,
                v.campaign,
                f"{v.time_to_find_s:.2f} s",
                str(v.shrunk_steps),
                v.trace or (f"not saved: {v.trace_error}" if v.trace_error else "-"),
                v.detail[:80],
            )
        out.print(table)
        for v in report.violations:
            if v.shrink == "time":
                out.print(
                    f"[yellow]{v.id} ({v.campaign})[/]: shrinking was cut by --shrink-budget; "
                    "its trace may differ between runs (raise --shrink-budget)"
                )
    elif report.stopped is not None:
        out.print("[yellow]no violation found before the stop[/]")
    else:
        out.print("[green]no violation found[/]")
    for lim in report.limitations:
        out.print(
            f"[yellow]limitation {lim['limitation']}[/] ({lim['id']}): {lim['detail'][:100]} "
            f"trace {lim['trace']}"
        )
    for ex in report.excluded:
        out.print(
            f"[yellow]excluded[/]: limitation {ex['limitation']} ({ex['title']}) — "
            f"run with {ex['switch']}; counterexample {ex['counterexample']}"
        )
    reached = {k: v for k, v in report.coverage.items() if not k.startswith("ignored:")}
    if reached:
        table = Table(title="situations reached")
        table.add_column("situation")
        table.add_column("count", justify="right")
        for name, count in sorted(reached.items()):
            table.add_row(name, str(count))
        out.print(table)
