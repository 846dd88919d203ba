"""``snapsync drive``: the group model with some nodes played by an external process.

    snapsync drive --adapter "CMD" [--role lagging|reader|writer|all] [--budget S]
                   [--rounds N] [--seed N] [--profile P] [--campaign NAME]
                   [--max-shrinks N] [--jobs N] [--no-conform] [--json]

The adapter (docs/formats/adapter.md, node-level ops) plays the nodes of the role;
the model plays the rest of the group, the network, the clocks and the faults,
with the hunt's campaigns and swarm walks (docs/hunt.md). After every model step
the hosted nodes are judged from their observations and the messages on the wire
(I4, I5, I6, I9, I11, I12, FRESH, RAFT-ES), the wire by the model's own checks (I2,
I13, I14), each hosted node's event log against the spec (CONFORM; the failure
names the switches that explain it), a panic or a failed answer (PANIC:Hx,
CRASH:kind), and liveness by the drain (L1). Each distinct failure is shrunk (a
fresh adapter process per attempt) and saved as a trace; ``snapsync replay
--adapter CMD TRACE`` re-runs it against the process, ``snapsync validate`` and
``snapsync vectors from-trace`` read the event logs it carries. Exit status: 0
clean, 1 a failure was found, 2 bad input or an unusable adapter, 130 after Ctrl-C
(the partial report printed).

With --jobs N the walks run on N worker processes, each with its own adapter process
(docs/parallel.md): walk k of a campaign is the same walk on any worker, it ignores the
failures the walks before it found (a walk run ahead without one is run again), and
the walks are accepted in their order. So for a fixed --seed the findings and shrunk
traces are those of --jobs 1 whenever the same walks run (--rounds, not only
--budget) and each shrink ends by --max-shrinks, not by --shrink-budget (each
finding's "shrink" says which).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from impl.errors import InvalidInput
from impl.profile import PROFILES, get_profile
from spec.conformance.drive import ROLES, DriveReport, DriveSettings, drive
from spec.hunt.campaigns import CAMPAIGNS, get_campaign
from spec.parallel import jobs_argument
from spec.render import results_console
from spec.robust.options import MAX_COUNT, add_behaviour_option, count
from spec.robust.stop import exit_status

__all__ = ["register"]

DEFAULT_BUDGET_S = 300.0
"""Long enough, on a 2-core machine, to find and shrink mosaik's H1, H3 and H6 with
``--adapter "snapsync adapter --profile mosaik-0.3.13" --role lagging``."""


def register(sub: Any) -> None:
    """Add ``drive`` to the CLI."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "drive",
        help="drive an external node (an adapter process) through the group model",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--adapter",
        required=True,
        metavar="CMD",
        help='the adapter command, e.g. "snapsync adapter" (POSIX shell words, no shell)',
    )
    parser.add_argument(
        "--role",
        choices=ROLES,
        default="lagging",
        help="which nodes the adapter plays: the late joiners that catch up (default), "
        "the in-sync readers, the writers, or every node",
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=DEFAULT_BUDGET_S,
        metavar="S",
        help=f"seconds to drive (default {DEFAULT_BUDGET_S:g})",
    )
    parser.add_argument(
        "--rounds",
        type=count(1, MAX_COUNT),
        default=None,
        metavar="N",
        help="run each campaign at most N times (a fixed amount of work, the same for every "
        "--jobs; default: until the budget ends)",
    )
    parser.add_argument("--seed", type=int, default=0, help="base seed (default 0)")
    parser.add_argument(
        "--profile",
        default="reference",
        choices=sorted(PROFILES),
        help="the profile of the model's nodes and of the checks (default: reference)",
    )
    parser.add_argument(
        "--hazard",
        action="append",
        default=[],
        metavar="Hx",
        help="switch a hazard on in the model in addition (repeatable)",
    )
    add_behaviour_option(parser, where=" in the model")
    parser.add_argument(
        "--campaign",
        action="append",
        default=[],
        metavar="NAME",
        help="run only these campaigns (repeatable; snapsync hunt --list lists them)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        metavar="S",
        help="seconds to wait for one answer (default 10)",
    )
    parser.add_argument(
        "--shrink-budget",
        type=float,
        default=10.0,
        metavar="S",
        help="seconds to shrink each failure (default 10; a fresh process per attempt)",
    )
    parser.add_argument(
        "--max-shrinks",
        type=count(1, MAX_COUNT),
        default=40,
        metavar="N",
        help="shrink attempts per failure at most (default 40; within --shrink-budget)",
    )
    parser.add_argument("--jobs", **jobs_argument("the walks, each with its own adapter"))
    parser.add_argument(
        "--no-conform",
        action="store_true",
        help="judge the nodes by the invariants and liveness only, not by the spec's steps",
    )
    parser.add_argument(
        "--traces",
        default="drive-traces",
        metavar="DIR",
        help="where the shrunk failing runs are saved (default ./drive-traces)",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    if args.budget <= 0:
        raise InvalidInput(f"--budget must be positive, got {args.budget}")
    if args.timeout <= 0:
        raise InvalidInput(f"--timeout must be positive, got {args.timeout}")
    if args.shrink_budget < 0:
        raise InvalidInput(f"--shrink-budget must not be negative, got {args.shrink_budget}")
    campaigns = [get_campaign(name) for name in args.campaign] or None
    if campaigns is not None:
        for c in campaigns:
            if c.differential or c not in CAMPAIGNS:
                raise InvalidInput(f"campaign {c.name!r} does not drive a group")
    settings = DriveSettings(
        command=args.adapter, role=args.role, timeout_s=args.timeout, conform=not args.no_conform
    )
    profile = get_profile(args.profile, args.hazard, args.behaviour)
    err = Console(stderr=True)

    def progress(report: DriveReport, campaign: str) -> None:
        if args.json or not sys.stderr.isatty():
            return
        err.print(
            f"[dim]drive {report.role}: {report.walks} walks, {report.model_steps} model steps, "
            f"{len(report.findings)} failures; next: {campaign}[/]",
            end="\r",
        )

    report = drive(
        settings,
        profile,
        budget_s=args.budget,
        seed=args.seed,
        trace_dir=Path(args.traces),
        campaigns=campaigns,
        shrink_budget_s=args.shrink_budget,
        max_shrinks=args.max_shrinks,
        rounds=args.rounds,
        jobs=args.jobs,
        progress=progress,
    )
    if args.json:
        print(json.dumps(report.as_json(), indent=2, sort_keys=True))
    else:
        _print(results_console(), report)
    return exit_status(report.stopped, 0 if not report.findings else 1)


def _print(console: Console, report: DriveReport) -> None:
    verdict = (
        "[green]clean[/]" if not report.findings else f"[red]{len(report.findings)} failures[/]"
    )
    console.print(
        f"drive {report.implementation} ({report.adapter}) as {report.role} in a "
        f"{report.profile} group: {verdict}"
    )
    stopped = f"; stopped ({report.stopped}): the walks so far" if report.stopped else ""
    workers = f" on {report.jobs} workers" if report.jobs > 1 else ""
    console.print(
        f"{report.elapsed_s:.0f} s{workers}, {report.walks} walks, {report.model_steps} model "
        f"steps ({report.model_steps_per_s:,.0f}/s), {report.requests} node ops{stopped}"
    )
    for limitation, walks in sorted(report.limitations.items()):
        console.print(
            f"[yellow]{limitation}[/] (a documented limitation, not judged past it) reached "
            f"in {walks} walks: docs/findings.md"
        )
    if not report.findings:
        return
    table = Table(title="failures (each shrunk; replay with snapsync replay --adapter)")
    for col in ("failure", "campaign", "node", "found at", "calls", "detail"):
        table.add_column(col)
    for f in report.findings:
        table.add_row(
            f.key,
            f.campaign,
            f.node or "",
            f"{f.seconds_to_find:.0f} s",
            str(f.shrunk_calls),
            f.detail[:160],
        )
    console.print(table)
    for f in report.findings:
        console.print(f"  {f.key}: {f.trace}")
