"""``snapsync replay TRACE [--dot FILE] [--adapter CMD]``: re-execute a trace exactly, render it.

Every recorded action is executed again on the model, every invariant is
re-checked, and each step must reproduce its recorded line byte for byte (see
:mod:`spec.sim.replay`). A malformed trace is rejected with its line number and
field (exit status 2); a trace that replays but diverges exits with status 1.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from rich.table import Table

from spec.render import results_console, write_diagram
from spec.sim.replay import ReplayResult, replay_file

__all__ = ["register"]


def register(sub: Any) -> None:
    """Add ``replay`` to the CLI."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "replay",
        help="re-execute a trace, re-check every invariant, render a sequence diagram",
    )
    parser.add_argument("trace", metavar="TRACE", help="a JSON-lines trace (docs/formats/trace.md)")
    parser.add_argument("--dot", metavar="FILE", help="write the sequence diagram (.dot, and .svg)")
    parser.add_argument(
        "--max-rows", type=int, default=400, help="rows of the diagram (default 400)"
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
    result = replay_file(args.trace, keep_records=bool(args.dot))
    files: dict[str, str | None] = {}
    if args.dot:
        dot, svg = write_diagram(result.records, args.dot, max_rows=args.max_rows)
        files = {"dot": str(dot), "svg": None if svg is None else str(svg)}
    if args.json:
        print(json.dumps(_json(result, files), indent=2, sort_keys=True))
    else:
        _print(result, files)
    return 0 if result.exact else 1


def _json(result: ReplayResult, files: dict[str, str | None]) -> dict[str, Any]:
    return {
        "exact": result.exact,
        "divergence": result.divergence,
        "steps": result.steps,
        "violations": [v.as_json() for v in result.violations],
        "nodes": result.nodes,
        "diagram": files or None,
    }


def _print(result: ReplayResult, files: dict[str, str | None]) -> None:
    console = results_console()
    if result.exact:
        console.print(f"[green]replayed exactly[/]: {result.steps} steps")
    else:
        console.print(f"[red]diverged[/] at {result.divergence}")
    table = Table(title="final state")
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
        console.print(f"  [red]{v.id}[/] {v.node or ''} step {v.step}: {v.detail}")
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
