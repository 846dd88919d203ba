"""The ``snapsync`` command line.

Each subcommand lives in a module of :mod:`spec.commands` that defines
``register(subparsers)``; the module list below is the whole CLI. Every
subcommand prints human output by default and JSON with ``--json``. Bad input
is reported as one line on stderr with exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from impl.errors import SnapshotSyncError

__all__ = ["build_parser", "main"]

COMMAND_MODULES: tuple[str, ...] = (
    "spec.commands.bench",
    "spec.commands.simulate",
    "spec.commands.scenarios",
    "spec.commands.replay",
    "spec.commands.prove",
    "spec.commands.hunt",
    "spec.commands.check",
    "spec.commands.vectors",
    "spec.commands.adapter",
    "spec.commands.conform",
    "spec.commands.validate",
    "spec.commands.drive",
)


FAST_COMMANDS: dict[str, str] = {"adapter": "spec.commands.adapter"}
"""Subcommands started many times by a harness (``snapsync drive`` restarts the adapter per
run): ``main`` registers only that one, so a start does not import every other command."""


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """Return the top-level parser with every registered subcommand (or just ``only``)."""
    parser = argparse.ArgumentParser(
        prog="snapsync",
        description=(
            "Executable reference of mosaik's snapshot state-sync protocol: "
            "steps, model, checks and benchmarks."
        ),
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES if only is None else (only,):
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the process exit status."""
    words = sys.argv[1:] if argv is None else list(argv)
    fast = FAST_COMMANDS.get(words[0]) if words else None
    parser = build_parser(fast)
    args = parser.parse_args(words)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 0
    try:
        status: int = handler(args)
    except SnapshotSyncError as exc:
        print(f"snapsync: error: {exc}", file=sys.stderr)
        return 2
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
