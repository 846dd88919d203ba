"""``snapsync explore``: every state of a small group, every invariant, liveness on the graph.

    snapsync explore [--collection K] [--items N] [--batch B] [--readers R] [--lagging L]
                     [--writers W] [--profile P] [--hazard Hx ...] [--behaviour B ...]
                     [--fault NAME ...] [--writes N] [--breaks N] [--restarts N]
                     [--retries N] ... [--max-states M] [--depth D] [--symmetry]
                     [--dot FILE] [--jobs N] [--json]

Breadth-first search over the group model (:mod:`spec.explore`) from the formed
group with its lagging readers just joined: every enabled action with every
argument, time moving to the next deadline, states merged by canonical
fingerprint. Every model invariant is checked on every transition; the first
violation of each id is reported with a shortest counterexample, written as a
trace that ``snapsync replay`` reproduces, and its sequence diagram. Liveness is
checked on the state graph: dead ends (no converged state reachable) and fair
cycles that never converge. The "sometimes" table lists which situations were
reached, so that a configuration that cannot reach one is visible.

``--jobs N`` (default: the number of cores) expands each breadth-first level on N
worker processes, in chunks, and numbers the states here in the order one process
would: the states, transitions, graph and counterexamples are the same for every N.

Exit status: 0 when nothing was found, 1 when a violation, a dead end or a
stall was found, 2 on bad input, 130 when interrupted (143 on SIGTERM; the report
then covers what was explored). docs/explore.md describes the abstractions and
bounds.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, cast

from rich.console import Console
from rich.progress import TextColumn, TimeElapsedColumn
from rich.table import Table

from impl.profile import PROFILES, get_profile
from spec.explore.config import TIMINGS, ExploreConfig
from spec.explore.report import REQUIRED_SITUATIONS, Report, explore
from spec.explore.search import EXPLORED_SITUATIONS, ExploreResult
from spec.hunt.client_commands import KINDS
from spec.model.faults import parse_faults
from spec.parallel import jobs_argument
from spec.render import results_console
from spec.robust.options import MAX_COUNT, add_behaviour_option, count
from spec.robust.output import writable_dir, writable_file
from spec.robust.progress import progress_bar
from spec.robust.stop import StopReason, exit_status

__all__ = ["config_from_args", "register"]

_COUNTS: tuple[tuple[str, int, int, int, str], ...] = (
    ("items", 1, 0, 64, "entries written before the lagging readers join"),
    ("batch", 1, 1, 1_000, "fetch_batch_size"),
    ("readers", 1, 0, 5, "in-sync readers (providers besides the leader)"),
    ("lagging", 1, 1, 2, "readers that join empty and catch up"),
    ("writers", 1, 1, 3, "writers (w0 leads)"),
    ("writes", 1, 0, 16, "client writes at the leader (bound)"),
    ("breaks", 0, 0, 16, "bond breaks (bound; never between two writers)"),
    ("fault-budget", 1, 0, 16, "injected faults of the --fault switches (bound)"),
    ("restarts", 0, 0, 16, "readers restarting empty (bound)"),
    ("retries", 0, 0, 16, "snapshot requests beyond one per catch-up (bound)"),
    ("max-queue", 1, 1, 16, "time moves only while every bond direction holds at most this"),
    ("grain", 0, 0, 1_000_000, "ms: time may also move by this much (0: next deadline only)"),
)
"""The numeric options: name, default, least and largest value, help (the bounds are
:class:`~spec.explore.config.ExploreConfig`'s)."""

MAX_STATES = 1_000_000_000
"""``--max-states``: at most a billion (far past what fits in memory)."""


def register(sub: Any) -> None:
    """Add ``explore`` to the CLI."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "explore",
        help="explore every state of a small group: invariants, dead ends, stalls",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--collection", default="map", metavar="KIND", help=f"one of {', '.join(KINDS)}"
    )
    for name, default, lo, hi, text in _COUNTS:
        parser.add_argument(
            f"--{name}",
            type=count(lo, hi),
            default=default,
            metavar="N",
            help=f"{text} (default {default}; {lo} … {hi})",
        )
    parser.add_argument(
        "--profile", default="reference", choices=sorted(PROFILES), help="default: reference"
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
        "--fault",
        action="append",
        default=[],
        metavar="NAME",
        help="enable a fault move: duplicate, reorder, short_response, long_response, "
        "wrong_offset, forge (repeatable)",
    )
    parser.add_argument(
        "--write-when",
        default="sync",
        choices=("sync", "any"),
        help="writes only while a catch-up session exists (default) or any time",
    )
    parser.add_argument(
        "--slow",
        default="lagging",
        choices=("lagging", "all"),
        help="bonds that may hold messages while time moves: the lagging readers' (default)",
    )
    parser.add_argument(
        "--timing",
        default="compact",
        choices=sorted(TIMINGS),
        help="timeouts: compact (default; heartbeat 0.5 s, fetch 1 s, TTL 2 s, retry 2.5 s) "
        "or hunt (0.5 / 2 / 4 / 6 s)",
    )
    parser.add_argument("--symmetry", action="store_true", help="merge renamed readers' states")
    parser.add_argument(
        "--no-step-liveness",
        action="store_true",
        help="leave the per-step liveness checks (L2, L3, L5) out: liveness from the graph only",
    )
    parser.add_argument(
        "--no-graph", action="store_true", help="do not keep the graph (no liveness check)"
    )
    parser.add_argument("--stop-on-first", action="store_true", help="stop at the first violation")
    parser.add_argument(
        "--max-states",
        type=count(1, MAX_STATES),
        default=None,
        metavar="M",
        help="stop after M states",
    )
    parser.add_argument(
        "--depth",
        type=count(0, MAX_COUNT),
        default=None,
        metavar="D",
        help="do not expand states at depth D",
    )
    parser.add_argument(
        "--traces",
        default="explore-traces",
        metavar="DIR",
        help="where counterexample traces and diagrams go (default ./explore-traces)",
    )
    parser.add_argument("--dot", metavar="FILE", help="write the state graph (.dot, .svg)")
    parser.add_argument("--jobs", **jobs_argument("the expansion of each level's states"))
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(handler=_run)


def config_from_args(args: argparse.Namespace) -> ExploreConfig:
    """Return the configuration the command line asks for (raise
    :class:`~impl.errors.InvalidInput`)."""
    counts = {name.replace("-", "_"): getattr(args, name.replace("-", "_")) for name, *_ in _COUNTS}
    return ExploreConfig(
        kind=args.collection,
        items=counts["items"],
        batch=counts["batch"],
        readers=counts["readers"],
        lagging=counts["lagging"],
        writers=counts["writers"],
        profile=get_profile(args.profile, args.hazard, args.behaviour),
        faults=parse_faults(args.fault),
        writes=counts["writes"],
        breaks=counts["breaks"],
        fault_budget=counts["fault_budget"],
        restarts=counts["restarts"],
        retries=counts["retries"],
        max_queue=counts["max_queue"],
        grain_ms=counts["grain"],
        write_when=args.write_when,
        slow=args.slow,
        timing=args.timing,
        symmetry=args.symmetry,
        max_states=args.max_states,
        max_depth=args.depth,
        step_liveness=not args.no_step_liveness,
        graph=not args.no_graph,
        stop_on_first=args.stop_on_first,
    )


def _run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    # Checked before the search: an unwritable path is one line now, not after minutes.
    out_dir = writable_dir("--traces", args.traces, create=False)
    if args.dot:
        writable_file("--dot", args.dot)
    columns = (
        TextColumn("[bold]explore[/] {task.fields[profile]}"),
        TextColumn("{task.fields[states]} states  {task.fields[frontier]} queued"),
        TextColumn("depth {task.fields[depth]}  {task.fields[rate]} states/s"),
        TextColumn("[red]{task.fields[found]}[/] violated"),
        TimeElapsedColumn(),
    )
    # Refreshed by hand, not by rich's thread: workers fork fastest from a single thread.
    with progress_bar(*columns, enabled=not args.json, auto_refresh=False) as bar:
        task = bar.add_task(
            "explore", profile=config.profile.name, states=0, frontier=0, depth=0, rate="0", found=0
        )

        def progress(result: ExploreResult, frontier: int) -> None:
            bar.update(
                task,
                states=result.states,
                frontier=frontier,
                depth=result.max_depth,
                found=len(result.violations),
            )
            bar.refresh()

        report = explore(config, trace_dir=out_dir, dot=args.dot, progress=progress, jobs=args.jobs)
    if args.json:
        print(json.dumps(report.as_json(), indent=2, sort_keys=True))
    else:
        print_report(report)
    stopped = report.result.stopped
    reason = cast(StopReason, stopped) if report.result.interrupted else None
    return exit_status(reason, 0 if report.ok else 1)


def print_report(report: Report) -> None:
    """Print the human-readable report."""
    out = results_console() if sys.stdout.isatty() else Console(file=sys.stdout, width=160)
    r = report.result
    c = report.config
    state = "complete" if r.complete else f"INCOMPLETE ({r.stopped or 'depth bound'})"
    out.print(
        f"explore [bold]{c.profile.name}[/] {c.kind}: items={c.items} batch={c.batch} "
        f"readers={c.readers} lagging={c.lagging} writers={c.writers} writes={c.writes} "
        f"breaks={c.breaks} restarts={c.restarts} retries={c.retries} "
        f"faults={','.join(sorted(f.value for f in c.faults)) or '-'}"
    )
    seconds = max(r.seconds, 1e-9)
    out.print(
        f"{state}: {r.states} distinct states, {r.transitions} transitions, depth {r.max_depth}; "
        f"{r.count(4)} open, {r.count(2)} cut by bounds; {r.seconds:.1f} s "
        f"({r.states / seconds:.0f} states/s); symmetry "
        f"{'on (' + str(r.renamings) + ' renamings)' if c.symmetry else 'off'}"
    )
    time = report.time_abstraction()
    out.print(
        f"time: jumps to the next deadline; quantum {time['quantum_ms']} ms, heartbeat "
        f"{time['heartbeat_ms']} ms: "
        + ("no order of events lost" if time["jumps_exact"] else "[yellow]not exact[/] (§2.1)")
    )
    if r.violations:
        table = Table(title="violations (shortest counterexample each)")
        for col in ("id", "node", "length", "edges", "detail"):
            table.add_column(col)
        for vid, f in sorted(r.violations.items(), key=lambda kv: (kv[1].depth, kv[0])):
            v = f.violation
            table.add_row(vid, v.node or "-", str(f.depth), str(f.edges), v.detail[:90])
        out.print(table)
    else:
        out.print("[green]no invariant violated[/]")
    live = report.liveness
    if live is None:
        out.print("liveness: not checked")
    else:
        out.print(
            f"liveness: {live.goals} converged states; {live.dead_ends} dead ends; "
            f"{len(live.stalls)} fair stalls ({sum(s.bottom for s in live.stalls)} bottom); "
            f"{live.unknown} states not expanded (counted as able to converge)"
        )
    table = Table(title="sometimes (situations reached; depth of the first)")
    table.add_column("situation")
    table.add_column("first at depth", justify="right")
    table.add_column("edges", justify="right")
    names = list(REQUIRED_SITUATIONS) + [
        s for s in EXPLORED_SITUATIONS if s not in REQUIRED_SITUATIONS
    ]
    for name in names:
        got = r.situations.get(name)
        if got is None:
            mark = "[yellow]never[/]" if name in REQUIRED_SITUATIONS else "never"
            table.add_row(name, mark, "0")
        else:
            table.add_row(name, str(got[1]), str(got[2]))
    out.print(table)
    for ce in report.counterexamples:
        status = "replays exactly" if ce.replay_exact else "[red]replay differs[/]"
        out.print(
            f"{ce.kind} {ce.id} ({ce.length} moves): {ce.trace} — {status}; diagram {ce.diagram}"
        )
    files = report.graph_files
    if files.get("skipped"):
        out.print(f"[yellow]state graph not written[/]: {files['skipped']}")
    elif files:
        svg = files.get("svg")
        out.print(f"state graph: {files['dot']}" + (f", {svg}" if svg else ""))
