"""``snapsync conform``: validate an implementation's adapter against the step vectors."""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from impl.profile import PROFILES
from spec.parallel import jobs_argument

__all__ = ["register"]


def register(sub: Any) -> None:
    """Add ``conform`` to the CLI."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "conform",
        help="run the step vectors through an implementation's adapter and report differences",
        description=(
            "Start the adapter command, run every selected step vector through it "
            "(docs/formats/adapter.md) and print a table per step, every failure with its "
            "case id, why it matters, the first differing JSON path and the command that "
            "reruns it, and 'attempted N of M cases'. Sequence cases (step 'node', from "
            "'vectors from-trace') replay a node's run through the node-level ops of the "
            "same adapter process, after the step cases. With --jobs N the cases are cut "
            "into N contiguous shards (at least 250 cases each), each run by its own adapter "
            "process; the report is the one --jobs 1 gives (docs/parallel.md). Ctrl-C "
            "prints the partial report (exit 130). Exit 0 only if every supported case "
            "passed or is an expected failure with a reason."
        ),
    )
    parser.add_argument(
        "--adapter",
        required=True,
        metavar="CMD",
        help='the adapter command, split by shell rules (e.g. "snapsync adapter")',
    )
    parser.add_argument(
        "--vectors",
        metavar="DIR",
        help="a vector tree or a packed .tar.gz (default: generate one for this run)",
    )
    parser.add_argument(
        "--steps",
        action="append",
        default=[],
        metavar="GLOB",
        help="only these steps, e.g. 'Q*', 'S1.depq', 'P4,P6' (repeatable)",
    )
    parser.add_argument(
        "--profile",
        choices=sorted(PROFILES),
        action="append",
        default=[],
        help="only this profile's vectors (repeatable; default: both)",
    )
    parser.add_argument(
        "--case", action="append", default=[], metavar="ID", help="only this case (repeatable)"
    )
    parser.add_argument(
        "--expect-fail",
        metavar="FILE",
        help="expected failures, each with its reason (docs/conformance.md)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="seconds to wait for one answer before the case fails and the adapter restarts "
        "(default 10)",
    )
    parser.add_argument(
        "--max-failures",
        type=int,
        default=0,
        metavar="N",
        help="show at most N failures per step (default 0: all)",
    )
    parser.add_argument(
        "--jobs", **jobs_argument("contiguous shards of the cases, each with its own adapter")
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(handler=_run)


def _patterns(values: list[str]) -> list[str]:
    return [p.strip() for value in values for p in value.split(",") if p.strip()]


def _run(args: argparse.Namespace) -> int:
    from spec.conformance.expectations import load_expectations
    from spec.conformance.process import split_command
    from spec.conformance.report import print_report, report_json
    from spec.conformance.runner import load_selected
    from spec.conformance.shards import run_conform_jobs
    from spec.conformance.tree import unpack
    from spec.render import results_console
    from spec.robust.stop import exit_status

    argv = split_command(args.adapter)
    if args.timeout <= 0:
        from impl.errors import InvalidInput

        raise InvalidInput("--timeout must be positive")
    expectations = load_expectations(Path(args.expect_fail)) if args.expect_fail else []
    cleanup: Path | None = None
    try:
        if args.vectors is None:
            from spec.conformance.generate import generate

            cleanup = Path(tempfile.mkdtemp(prefix="snapsync-vectors-"))
            directory = cleanup / "vectors"
            generate(directory, profiles=args.profile or None)
        elif Path(args.vectors).is_file():
            directory = unpack(Path(args.vectors))
            cleanup = directory.parent
        else:
            directory = Path(args.vectors)
        cases = load_selected(
            directory,
            steps=_patterns(args.steps),
            profiles=args.profile,
            case_ids=_patterns(args.case),
        )
        report = run_conform_jobs(
            argv,
            cases,
            jobs=args.jobs,
            adapter=args.adapter,
            vectors=args.vectors,
            expectations=expectations,
            timeout=args.timeout,
        )
    finally:
        if cleanup is not None:
            shutil.rmtree(cleanup, ignore_errors=True)
    if args.json:
        print(json.dumps(report_json(report), indent=2, sort_keys=True))
    else:
        print_report(report, results_console(), args.max_failures)
    return exit_status(report.interrupted, 0 if report.ok else 1)
