"""``snapsync replay TRACE [--dot FILE] [--adapter CMD]``: verify a trace by re-running it.

Replay is a strict verifier (:mod:`spec.sim.replay`, docs/formats/trace.md):
every line is validated, every recorded action is executed again on the model,
every invariant is re-checked, and each line must equal its re-execution byte for
byte. It stops at the first divergence and names its line and field with the
recorded and the re-executed values (exit status 1). A malformed trace is
rejected with its line number and field (exit status 2). "replayed exactly"
(exit status 0) means every line, the end record included, was checked; the
header's ``seed`` and ``meta`` are informative and not checked. Ctrl-C stops
between two lines: the partial report says how far it got (exit status 130).
Progress is shown on stderr when it is a terminal.

The diagram (``--dot``) collapses the lead-in and heartbeat-only stretches into
bands unless ``--all-steps`` is given; docs/findings.md says how to read it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.table import Table

from spec.render import results_console, write_diagram
from spec.robust.options import MAX_COUNT, count
from spec.robust.output import io_errors, writable_file
from spec.robust.progress import progress_bar
from spec.robust.stop import exit_status, shielded
from spec.sim.replay import UNCHECKED, ReplayResult, replay_file

__all__ = ["register"]


def register(sub: Any) -> None:
    """Add ``replay`` to the CLI."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "replay",
        help="verify a trace: re-execute it, re-check every invariant, render a diagram",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("trace", metavar="TRACE", help="a JSON-lines trace (docs/formats/trace.md)")
    parser.add_argument("--dot", metavar="FILE", help="write the sequence diagram (.dot, and .svg)")
    parser.add_argument(
        "--max-rows",
        type=count(1, MAX_COUNT),
        default=400,
        metavar="N",
        help="rows and bands of the diagram; violation rows are always drawn (default 400)",
    )
    parser.add_argument(
        "--all-steps",
        action="store_true",
        help="draw every step: no lead-in band, no heartbeat bands",
    )
    parser.add_argument(
        "--adapter",
        metavar="CMD",
        help="a snapsync drive trace: re-run it with its hosted nodes played by this adapter "
        "(a fresh process), re-judge them, and say whether its failure is found again",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    if args.adapter is not None:
        return _run_adapter(args)
    if args.dot:
        writable_file("--dot", args.dot)
    with progress_bar() as bar:
        task = bar.add_task("replay", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        result = replay_file(args.trace, keep_records=bool(args.dot), progress=progress)
    files: dict[str, str | None] = {}
    if args.dot:
        with shielded(), io_errors("--dot", args.dot):
            dot, svg = write_diagram(
                result.records,
                args.dot,
                max_rows=args.max_rows,
                collapse=not args.all_steps,
                name=Path(args.trace).name.split(".")[0],
            )
        files = {"dot": str(dot), "svg": None if svg is None else str(svg)}
    if args.json:
        print(json.dumps(_json(result, files), indent=2, sort_keys=True))
    else:
        _print(result, files)
    return exit_status(result.stopped, 0 if result.exact else 1)


def _json(result: ReplayResult, files: dict[str, str | None]) -> dict[str, Any]:
    return {
        "exact": result.exact,
        "complete": result.complete,
        "stopped": result.stopped,
        "divergence": None if result.divergence is None else result.divergence.as_json(),
        "lines": result.lines,
        "total_lines": result.total_lines,
        "steps": result.steps,
        "unchecked": [f"header.{f}" for f in UNCHECKED],
        "violations": [v.as_json() for v in result.violations],
        "nodes": result.nodes,
        "diagram": files or None,
    }


def _print(result: ReplayResult, files: dict[str, str | None]) -> None:
    console = results_console()
    if result.exact:
        console.print(
            f"[green]replayed exactly[/]: {result.lines} lines, {result.steps} steps "
            f"(header {' and '.join(UNCHECKED)} are informative: not checked)"
        )
    elif result.divergence is not None:
        console.print(f"[red]diverged[/] at {escape(str(result.divergence))}")
    else:
        console.print(
            f"[yellow]stopped ({result.stopped})[/] after {result.lines} of "
            f"{result.total_lines} lines: the rest was not checked"
        )
    table = Table(title="final state" if result.exact else "state at the last line replayed")
    for col in ("node", "status", "role", "committed", "items", "digest"):
        table.add_column(col)
    for name, n in result.nodes.items():
        c = n["committed"]
        table.add_row(
            name,
            n["status"],
            n["role"],
            f"({c['term']},{c['index']})",
            str(n["items"]),
            n["digest"][:16],
        )
    console.print(table)
    console.print(f"{len(result.violations)} violations")
    for v in result.violations[:20]:
        console.print(f"  [red]{v.id}[/] {v.node or ''} step {v.step}: {escape(v.detail)}")
    if files:
        console.print(
            f"diagram: {files['dot']}"
            + (f", {files['svg']}" if files.get("svg") else " (no graphviz: .svg skipped)")
        )


def _run_adapter(args: argparse.Namespace) -> int:
    """Re-run a drive trace against an adapter (exit 0: exact and its failure found again)."""
    from spec.conformance.drive import replay_with_adapter

    if args.dot:
        result = replay_file(args.trace, keep_records=True)
        write_diagram(result.records, args.dot, max_rows=args.max_rows)
    report = replay_with_adapter(args.trace, args.adapter)
    if args.json:
        print(json.dumps(report.as_json(), indent=2, sort_keys=True))
    else:
        console = results_console()
        if report.divergence is None:
            console.print(
                f"[green]replayed exactly[/] against {args.adapter}: {report.steps} steps"
            )
        else:
            console.print(f"[red]diverged[/] at {report.divergence}")
        expected = report.expected or {}
        if expected:
            status = "[green]found again[/]" if report.reproduced else "[red]not found[/]"
            console.print(f"recorded failure {expected.get('id')}: {status}")
        for f in report.findings[:20]:
            console.print(f"  [red]{f.id}[/] {f.node or ''} step {f.step}: {f.detail}")
    ok = report.divergence is None and (report.reproduced or not report.expected)
    return 0 if ok else 1
