"""``snapsync simulate``: one seeded catch-up run, and ``snapsync bench simulate``.

``simulate`` runs the workload of :mod:`spec.sim.workload` once and prints what
happened (``--json`` for machines), with progress on stderr when it is a terminal.
Ctrl-C stops the run between two steps and prints the partial report (``"stopped":
"interrupt"``), the trace (if any) ending with the state reached; exit status 130.

``bench simulate`` times mosaik's ``frozen`` case (Map, 100,000 items, batch 100)
against its 3-second target, the growth from 1k to 1M items, and the message and
item counts against the lower bound.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from typing import Any

from rich.console import Console
from rich.progress import SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from impl.errors import InvalidInput
from impl.profile import PROFILES, get_profile
from spec.model.faults import Fault, parse_fault
from spec.render import results_console
from spec.robust.options import (
    MAX_BATCH,
    MAX_COUNT,
    MAX_ITEMS,
    MAX_NODES,
    add_behaviour_option,
    count,
    int_list,
    seed,
)
from spec.robust.options import probability as parse_probability
from spec.robust.output import writable_file
from spec.robust.progress import progress_bar, stderr_is_terminal
from spec.robust.stop import exit_status
from spec.sim.simulator import Simulator
from spec.sim.workload import (
    DEFAULT_FAULT_RATES,
    SYNC_MESSAGES,
    SimulationReport,
    SimulationSpec,
    simulate,
)

__all__ = ["parse_fault_option", "register", "register_bench"]

_COLLECTIONS = ("map", "vec", "set", "depq", "cell", "once")


def parse_fault_option(text: str) -> tuple[Fault, float]:
    """Parse ``NAME`` or ``NAME=RATE`` (``--fault``); the rate is a number in [0, 1]."""
    name, sep, rate_text = text.partition("=")
    fault = parse_fault(name)
    if fault is Fault.FORGE:
        raise InvalidInput("--fault forge has no rate: it is for scripted tests only")
    if not sep:
        return fault, DEFAULT_FAULT_RATES.get(fault, 0.05)
    try:
        rate = parse_probability(rate_text)
    except argparse.ArgumentTypeError as exc:
        raise InvalidInput(f"--fault {name}: rate {exc}") from None
    return fault, rate


def _fault_type(text: str) -> tuple[Fault, float]:
    try:
        return parse_fault_option(text)
    except InvalidInput as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--fault ")) from None


_fault_type.__name__ = "fault"


def register(sub: Any) -> None:
    """Add ``simulate`` to the CLI."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "simulate",
        help="run one seeded catch-up simulation",
        description=(
            "Populate a collection on a writer and its providers, let one more reader "
            "join late and catch up by snapshot, and report what the protocol did."
        ),
    )
    parser.add_argument("--collection", choices=_COLLECTIONS, default="map")
    parser.add_argument(
        "--items",
        type=count(0, MAX_ITEMS),
        default=10_000,
        help=f"items populated before the join (0..{MAX_ITEMS}; default 10000)",
    )
    parser.add_argument(
        "--batch",
        type=count(1, MAX_BATCH),
        default=2_000,
        help="fetch_batch_size (default 2000)",
    )
    parser.add_argument(
        "--providers",
        type=count(1, MAX_NODES),
        default=2,
        help=f"nodes holding the data: the writer and readers (1..{MAX_NODES}; default 2)",
    )
    parser.add_argument(
        "--writes-during-sync",
        type=count(0, MAX_ITEMS),
        default=0,
        help="single writes while the reader syncs (default 0)",
    )
    parser.add_argument(
        "--oneshot", action="store_true", help="populate with one extend entry, not one per item"
    )
    parser.add_argument("--seed", type=seed, default=0, help="seed of the run (default 0)")
    parser.add_argument("--profile", default="reference", choices=sorted(PROFILES))
    parser.add_argument("--hazard", action="append", default=[], metavar="Hx", help="repeatable")
    add_behaviour_option(parser)
    parser.add_argument(
        "--fault",
        action="append",
        type=_fault_type,
        default=[],
        metavar="NAME[=RATE]",
        help="adversarial fault: " + ", ".join(f.value for f in Fault if f is not Fault.FORGE),
    )
    parser.add_argument("--trace", metavar="FILE", help="write the run as a JSON-lines trace")
    parser.add_argument("--no-check", action="store_true", help="skip the invariant checks")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(handler=_run)


def _spec(args: argparse.Namespace) -> SimulationSpec:
    faults = dict(args.fault)
    return SimulationSpec(
        collection=args.collection,
        items=args.items,
        batch=args.batch,
        providers=args.providers,
        writes_during_sync=args.writes_during_sync,
        oneshot=args.oneshot,
        seed=args.seed,
        profile=get_profile(args.profile, args.hazard, args.behaviour),
        faults=faults,
        check=not args.no_check,
    )


def _run(args: argparse.Namespace) -> int:
    spec = _spec(args)
    if args.trace:
        writable_file("--trace", args.trace)
    columns = (
        SpinnerColumn(),
        TextColumn("[bold]simulate[/] {task.description}"),
        TextColumn("{task.fields[steps]} steps, {task.fields[sim_ms]} ms simulated"),
        TimeElapsedColumn(),
    )
    with progress_bar(*columns) as bar:
        task = bar.add_task("join", total=None, steps=0, sim_ms=0)

        def progress(phase: str, sim: Simulator) -> None:
            bar.update(task, description=phase, steps=sim.steps, sim_ms=sim.world.now_ms)

        report = simulate(spec, trace_path=args.trace, progress=progress)
    if args.json:
        print(json.dumps(report.as_json(), indent=2, sort_keys=True))
    else:
        _print(report, args.trace)
    return exit_status(report.stopped, 0 if report.converged and not report.violations else 1)


def _print(report: SimulationReport, trace: str | None) -> None:
    console = results_console()
    p = report.as_json()["parameters"]
    console.print(
        f"[bold]{p['collection']}[/] {p['items']} items, batch {p['batch']}, "
        f"{p['providers']} providers, {p['writes_during_sync']} writes during sync, "
        f"profile {p['profile']}, seed {p['seed']}"
    )
    nodes = Table(title="nodes")
    for col in ("node", "status", "role", "committed", "items", "digest"):
        nodes.add_column(col)
    for name, n in report.nodes.items():
        c = n["committed"]
        nodes.add_row(
            name,
            n["status"],
            n["role"],
            f"({c['term']},{c['index']})",
            str(n["items"]),
            n["digest"][:16],
        )
    console.print(nodes)
    msgs = Table(title="snapshot-sync messages")
    for col in ("kind", "sent", "lower bound", "ratio"):
        msgs.add_column(col)
    bound, ratios = report.lower_bound(), report.ratios()
    for kind in SYNC_MESSAGES:
        lb = bound.get(kind)
        r = ratios.get(kind)
        msgs.add_row(
            kind,
            str(report.messages.get(kind, 0)),
            "" if lb is None else str(lb),
            "" if r is None else f"{r:.3f}",
        )
    msgs.add_row(
        "items transferred",
        str(report.items_transferred),
        str(bound["items"]),
        _fmt(ratios["items"]),
    )
    console.print(msgs)
    if report.stopped is not None:
        verdict = f"[yellow]stopped ({report.stopped}) before the end: partial report[/]"
    elif report.converged:
        verdict = "[green]converged[/]"
    else:
        verdict = "[red]did not converge[/]"
    console.print(
        f"{verdict}; {len(report.violations)} violations; simulated {report.sim_ms} ms; "
        f"wall {report.wall_s:.2f} s; {report.steps} steps"
    )
    for v in report.violations[:10]:
        console.print(f"  [red]{v.id}[/] {v.node or ''} step {v.step}: {v.detail}")
    if trace:
        console.print(f"trace: {trace}")


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


# -- snapsync bench simulate ------------------------------------------------------------------

TARGET_S = 3.0
"""The wall-time target of the frozen case (Map, 100,000 items, batch 100)."""


def register_bench(benches: Any) -> None:
    """Add ``simulate`` to ``snapsync bench``."""
    parser: argparse.ArgumentParser = benches.add_parser(
        "simulate",
        help="time the frozen case (Map 100k, batch 100) and the growth from 1k to 1M items",
    )
    parser.add_argument(
        "--sizes",
        type=int_list(0, MAX_ITEMS),
        default=[1000, 10000, 100000, 1000000],
        help="comma-separated item counts for the growth table (default 1000,10000,100000,1000000)",
    )
    parser.add_argument("--batch", type=count(1, MAX_BATCH), default=100, help="(default 100)")
    parser.add_argument(
        "--frozen-items",
        type=count(0, MAX_ITEMS),
        default=100_000,
        help="items of the timed case (mosaik: 100000)",
    )
    parser.add_argument(
        "--repeat",
        type=count(1, MAX_COUNT),
        default=3,
        help="runs of the frozen case (best taken; default 3)",
    )
    parser.add_argument(
        "--no-check", action="store_true", help="also time without invariant checks"
    )
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(handler=_bench)


def _measure(items: int, batch: int, check: bool) -> dict[str, Any]:
    cpu0 = time.process_time()
    report = simulate(SimulationSpec(items=items, batch=batch, check=check))
    cpu = time.process_time() - cpu0
    bound = report.lower_bound()
    return {
        "items": items,
        "batch": batch,
        "check_invariants": check,
        "wall_s": round(report.wall_s, 3),
        "cpu_s": round(cpu, 3),
        "us_per_item": round(1e6 * report.wall_s / max(items, 1), 2),
        "converged": report.converged,
        "violations": len(report.violations),
        "fetch_requests": report.messages.get("FetchDataRequest", 0),
        "fetch_responses": report.messages.get("FetchDataResponse", 0),
        "items_transferred": report.items_transferred,
        "lower_bound": bound,
        "ratio": report.ratios(),
        "steps": report.steps,
        "sim_ms": report.sim_ms,
    }


def _bench(args: argparse.Namespace) -> int:
    sizes: list[int] = args.sizes
    # Progress lines on stderr only when it is a terminal (spec.robust.progress).
    console = Console(stderr=True, quiet=not stderr_is_terminal())
    frozen = []
    frozen_items = args.frozen_items
    for i in range(args.repeat):
        console.print(
            f"frozen case run {i + 1}/{args.repeat}: Map {frozen_items} items, batch {args.batch}"
        )
        frozen.append(_measure(frozen_items, args.batch, True))
    best = min(frozen, key=lambda r: r["wall_s"])
    growth = []
    for n in sizes:
        console.print(f"growth: {n} items")
        growth.append(_measure(n, args.batch, True))
        if args.no_check:
            growth.append(_measure(n, args.batch, False))
    checked = [g for g in growth if g["check_invariants"]]
    slopes = [g["us_per_item"] for g in checked if g["items"] >= 10_000]
    linear = bool(slopes) and max(slopes) <= 2.0 * min(slopes)
    exact = all(
        g["fetch_requests"] == math.ceil(g["items"] / g["batch"])
        and g["items_transferred"] == g["items"]
        for g in checked
    )
    result = {
        "frozen_case": {
            "runs": frozen,
            "best_wall_s": best["wall_s"],
            "target_s": TARGET_S,
            "within_target": best["wall_s"] <= TARGET_S,
        },
        "growth": growth,
        "linear": linear,
        "at_lower_bound": exact,
    }
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True))
    else:
        _print_bench(result)
    return 0


def _print_bench(result: dict[str, Any]) -> None:
    console = results_console()
    f = result["frozen_case"]
    mark = "[green]within[/]" if f["within_target"] else "[red]over[/]"
    console.print(
        f"frozen case (Map {f['runs'][0]['items']}, batch {f['runs'][0]['batch']}): "
        f"best {f['best_wall_s']:.2f} s of "
        f"{[r['wall_s'] for r in f['runs']]} — {mark} the {f['target_s']:.1f} s target"
    )
    table = Table(title="growth (one run each)")
    for col in (
        "items",
        "checks",
        "wall s",
        "cpu s",
        "µs/item",
        "fetch req",
        "⌈n/B⌉",
        "items sent",
        "ratio",
    ):
        table.add_column(col, justify="right")
    for g in result["growth"]:
        table.add_row(
            str(g["items"]),
            "on" if g["check_invariants"] else "off",
            f"{g['wall_s']:.2f}",
            f"{g['cpu_s']:.2f}",
            f"{g['us_per_item']:.1f}",
            str(g["fetch_requests"]),
            str(g["lower_bound"]["FetchDataRequest"]),
            str(g["items_transferred"]),
            _fmt(g["ratio"]["FetchDataRequest"]),
        )
    console.print(table)
    console.print(
        f"linear growth (µs/item within 2× from 10k up): {result['linear']}; "
        f"message and item counts at the lower bound: {result['at_lower_bound']}"
    )
    sys.stdout.flush()
