"""``snapsync validate``: decide whether implementation event logs are behaviours of the spec.

    snapsync validate LOG [LOG ...] [--profile P] [--hazard Hx] [--behaviour B] [--node N] [--json]
    snapsync validate --from-trace TRACE [--save DIR] [--explicit-polls] [...]

Each LOG is one node's event log (docs/formats/events.md). For each, the
validator replays its inputs through the spec's steps and checks every output,
searching the choices the spec leaves open (unlogged polls, election timing,
which idle peer gets which chunk), within ``--max-hypotheses`` hypotheses and
``--max-hidden`` unlogged polls in a row. It prints "accepted", or the first
line no allowed behaviour explains, why, and what the spec would allow there;
``--attribute`` then names the single switches (hazards and version behaviours)
that explain the log further (a diagnosis: "this node behaves like H1 here"). Several logs are also
checked against each other (every receive has its send; per-bond FIFO; no
happens-before cycle).

``--from-trace TRACE`` converts a simulator trace (docs/formats/trace.md) into
the log every node would have written (``--save DIR`` keeps them) and validates
those. Exit status: 0 all accepted, 1 a log was rejected, 2 bad input.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rich.console import Console

from impl.errors import InvalidInput
from impl.profile import PROFILES, get_profile
from spec.conformance.causality import TRANSPORTS, CausalityProblem, check_causality
from spec.conformance.convert import logs_from_trace_file
from spec.conformance.events import EventLog, read_log, read_log_lines
from spec.conformance.validate import (
    DEFAULT_MAX_HIDDEN,
    DEFAULT_MAX_HYPOTHESES,
    Attribution,
    Verdict,
    attribute,
    validate_log,
)
from spec.render import results_console
from spec.robust.options import add_behaviour_option

__all__ = ["register"]


def register(sub: Any) -> None:
    """Add ``validate`` to the CLI."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "validate",
        help="decide whether implementation event logs are behaviours of the spec",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("logs", nargs="*", metavar="LOG", help="event logs (JSON lines)")
    parser.add_argument(
        "--from-trace",
        metavar="TRACE",
        help="validate the logs every node of this simulator trace would have written",
    )
    parser.add_argument("--save", metavar="DIR", help="with --from-trace: write the logs here")
    parser.add_argument(
        "--explicit-polls",
        action="store_true",
        help="with --from-trace: log every poll (no hidden polls to search)",
    )
    parser.add_argument(
        "--profile",
        default="reference",
        choices=sorted(PROFILES),
        help="the spec to validate against (default: reference)",
    )
    parser.add_argument(
        "--hazard",
        action="append",
        default=[],
        metavar="Hx",
        help="switch a hazard on in addition (repeatable)",
    )
    add_behaviour_option(parser)
    parser.add_argument("--node", metavar="N", help="validate only this node (name or peer id)")
    parser.add_argument(
        "--max-hypotheses",
        type=int,
        default=DEFAULT_MAX_HYPOTHESES,
        metavar="K",
        help=f"search bound: hypotheses kept per event (default {DEFAULT_MAX_HYPOTHESES})",
    )
    parser.add_argument(
        "--max-hidden",
        type=int,
        default=DEFAULT_MAX_HIDDEN,
        metavar="N",
        help=f"search bound: unlogged polls in a row (default {DEFAULT_MAX_HIDDEN})",
    )
    parser.add_argument(
        "--transport",
        choices=TRANSPORTS,
        default=None,
        help="cross-node checks: fifo (mosaik's bonds; default) or any (faulty network; "
        "the default with --from-trace of a run with transport faults)",
    )
    parser.add_argument(
        "--attribute",
        action="store_true",
        help="for a rejected log, name the switches (hazards, behaviours) that explain it further",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(handler=_run)


def _load(args: argparse.Namespace) -> tuple[list[EventLog], str]:
    if args.from_trace and args.logs:
        raise InvalidInput("give LOG files or --from-trace TRACE, not both")
    if not args.from_trace and not args.logs:
        raise InvalidInput("nothing to validate: give LOG files or --from-trace TRACE")
    if args.save and not args.from_trace:
        raise InvalidInput("--save needs --from-trace")
    if not args.from_trace:
        return [read_log(path) for path in args.logs], args.transport or "fifo"
    converted = logs_from_trace_file(args.from_trace, explicit_polls=args.explicit_polls)
    logs = []
    target = Path(args.save) if args.save else None
    for name, log in converted.items():
        where = f"{name}.events.jsonl"
        if target is not None:
            log.write(target / where)
        logs.append(read_log_lines(log.lines(), where))
    header = json.loads(Path(args.from_trace).read_text(encoding="utf-8").split("\n", 1)[0])
    faulty = set(header.get("setup", {}).get("faults", [])) & {
        "duplicate",
        "reorder",
        "short_response",
        "long_response",
        "wrong_offset",
        "forge",
        "disagree_order",
    }
    return logs, args.transport or ("any" if faulty else "fifo")


def _selected(logs: list[EventLog], node: str | None) -> list[EventLog]:
    if node is None:
        return logs
    chosen = [
        log
        for log in logs
        if node in (log.header.name, log.header.peer.hex(), log.header.peer.short())
    ]
    if not chosen:
        known = ", ".join(log.header.label for log in logs)
        raise InvalidInput(f"no log of node {node!r}; the logs are of: {known}")
    return chosen


def _run(args: argparse.Namespace) -> int:
    if args.max_hypotheses < 1:
        raise InvalidInput(f"--max-hypotheses must be at least 1, got {args.max_hypotheses}")
    if args.max_hidden < 0:
        raise InvalidInput(f"--max-hidden must not be negative, got {args.max_hidden}")
    profile = get_profile(args.profile, args.hazard, args.behaviour)
    logs, transport = _load(args)
    chosen = _selected(logs, args.node)
    results: list[tuple[EventLog, Verdict, list[Attribution]]] = []
    for log in chosen:
        verdict = validate_log(
            log, profile, max_hypotheses=args.max_hypotheses, max_hidden=args.max_hidden
        )
        blame = attribute(log, profile, verdict) if args.attribute else []
        results.append((log, verdict, blame))
    problems = check_causality(logs, transport) if len(logs) > 1 else []
    ok = all(v.accepted for _, v, _ in results) and not problems
    if args.json:
        out = {
            "accepted": ok,
            "profile": profile.name,
            "transport": transport,
            "logs": [
                {"file": log.where, **v.as_json(), "attribution": [a.as_json() for a in blame]}
                for log, v, blame in results
            ],
            "causality": [p.as_json() for p in problems],
        }
        print(json.dumps(out, indent=2, sort_keys=True))
    else:
        _print(results_console(), results, problems, profile.name)
    return 0 if ok else 1


def _print(
    console: Console,
    results: list[tuple[EventLog, Verdict, list[Attribution]]],
    problems: list[CausalityProblem],
    profile: str,
) -> None:
    for log, v, blame in results:
        rate = f"{v.events / v.seconds:,.0f} events/s" if v.seconds > 0 else ""
        bound = " [yellow](hypothesis bound hit)[/]" if v.truncated else ""
        if v.accepted:
            console.print(
                f"[green]accepted[/] {log.where} ({v.node}) under {profile}: {v.events} events, "
                f"{v.hidden_polls} unlogged polls found, at most {v.max_hypotheses} hypotheses, "
                f"{rate}{bound}"
            )
            continue
        console.print(
            f"[red]rejected[/] {log.where} ({v.node}) under {profile} at line {v.line}: "
            f"{v.event}{bound}"
        )
        console.print(f"  why: {v.reason}")
        if v.step_line is not None and v.step_line != v.line:
            console.print(f"  the step started at line {v.step_line}")
        for allowed in v.allowed:
            console.print(f"  the spec allows: {allowed}")
        for a in blame[:5]:
            how = "the whole log" if a.accepted else f"{a.explained} of {v.events} events"
            console.print(f"  explained by {profile}+{a.switch}: {how}")
    for p in problems:
        console.print(f"[red]causality[/] {p}")
    if problems or len(results) > 1:
        rejected = sum(not v.accepted for _, v, _ in results)
        console.print(
            f"{len(results)} logs, {rejected} rejected, {len(problems)} cross-node problems"
        )
