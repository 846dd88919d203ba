"""``snapsync bench``: benchmarks (never timed unit tests)."""

from __future__ import annotations

import argparse
from typing import Any

from spec.benchmarks import (
    chunks,
    conform,
    drive,
    explore,
    forms,
    hunt,
    jobs,
    model_actions,
    mutants,
)
from spec.commands import simulate

__all__ = ["register"]


def register(sub: Any) -> None:
    """Add ``bench`` and its sub-benchmarks to the CLI."""
    parser: argparse.ArgumentParser = sub.add_parser("bench", help="run a benchmark")
    benches = parser.add_subparsers(dest="bench", metavar="BENCH")

    def _help(_args: argparse.Namespace) -> int:
        parser.print_help()
        return 0

    parser.set_defaults(handler=_help)
    # Sub-benchmarks register here (chunks, simulate, actions, hunt, explore, forms, conform,
    # drive, validate, jobs, mutants).
    chunks.register(benches)
    simulate.register_bench(benches)
    model_actions.register(benches)
    hunt.register(benches)
    explore.register(benches)
    forms.register(benches)
    conform.register(benches)
    drive.register(benches)  # drive and validate
    jobs.register(benches)
    mutants.register(benches)
