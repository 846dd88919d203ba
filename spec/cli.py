"""The ``snapsync`` command line.

Each subcommand lives in a module of :mod:`spec.commands` that defines
``register(subparsers)``; the module list below is the whole CLI. Every
subcommand prints human output by default and JSON with ``--json``.

Nothing the CLI is given ends in a traceback (docs/cli.md). Exit statuses:

* 0 — done, nothing found; 1 — a finding, a failed check or a divergence;
* 2 — bad input: a bad option value, an unreadable or malformed file, an
  unwritable output path — one line on stderr (``snapsync: error: ...``);
* 130 — interrupted by Ctrl-C (143: SIGTERM), after the command printed (or wrote,
  with ``--json``) the partial report of what it did and found
  (:mod:`spec.robust.stop`); a second Ctrl-C exits at once with one line;
* 141 — stdout was closed early (a pipe into ``head``): nothing more is printed;
* 70 — an internal error (a bug): one line; ``SNAPSYNC_TRACEBACK=1`` shows the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import IO, NoReturn

from impl.errors import SnapshotSyncError
from spec.robust.stop import INTERRUPTED, Stop, exit_status, signals_handled, stop_requested

__all__ = ["build_parser", "main"]

COMMAND_MODULES: tuple[str, ...] = (
    "spec.commands.bench",
    "spec.commands.simulate",
    "spec.commands.scenarios",
    "spec.commands.replay",
    "spec.commands.prove",
    "spec.commands.hunt",
    "spec.commands.explore",
    "spec.commands.check",
    "spec.commands.vectors",
    "spec.commands.adapter",
    "spec.commands.conform",
    "spec.commands.validate",
    "spec.commands.drive",
)


BAD_INPUT = 2
BROKEN_PIPE = 141
INTERNAL_ERROR = 70


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr (exit 2), naming the option."""

    def error(self, message: str) -> NoReturn:
        self.exit(BAD_INPUT, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


FAST_COMMANDS: dict[str, str] = {"adapter": "spec.commands.adapter"}
"""Subcommands started many times by a harness (``snapsync drive`` restarts the adapter per
run): ``main`` registers only that one, so a start does not import every other command."""


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """Return the top-level parser with every registered subcommand (or just ``only``)."""
    parser = Parser(
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


def _say(text: str, stream: IO[str] | None = None) -> None:
    """Write one line to stderr; text that is not Unicode (a lone surrogate quoted from
    bad input) is escaped rather than crash the report of the error."""
    out = stream or sys.stderr
    line = text.replace("\n", " ").encode("utf-8", "backslashreplace").decode("utf-8")
    try:
        out.write(line + "\n")
        out.flush()
    except (OSError, ValueError):  # stderr itself is gone: nothing left to tell
        pass


def _silence_stdout() -> None:
    """After a broken pipe: send what Python flushes at exit to /dev/null, quietly."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the process exit status (see the module docstring)."""
    with signals_handled():
        try:
            status = _dispatch(argv)
            sys.stdout.flush()
        except SnapshotSyncError as exc:
            _say(f"snapsync: error: {exc}")
            return BAD_INPUT
        except BrokenPipeError:
            _silence_stdout()
            return BROKEN_PIPE
        except (KeyboardInterrupt, Stop) as exc:
            # A second Ctrl-C, or one outside any command's partial-report handling.
            reason = exc.reason if isinstance(exc, Stop) else stop_requested() or "interrupt"
            if reason == "budget":  # a caller's deadline (main() called from code)
                _say("snapsync: stopped: the time budget ran out")
                return 1
            _say("snapsync: interrupted")
            return exit_status(reason, INTERRUPTED)
        except OSError as exc:
            where = f" {exc.filename}" if exc.filename else ""
            _say(f"snapsync: error:{where} {exc.strerror or exc}")
            return BAD_INPUT
        except MemoryError:
            _say("snapsync: error: out of memory (reduce the sizes given)")
            return BAD_INPUT
        except Exception as exc:
            if os.environ.get("SNAPSYNC_TRACEBACK"):
                raise
            _say(
                f"snapsync: internal error: {type(exc).__name__}: {exc} "
                "(a bug; SNAPSYNC_TRACEBACK=1 shows the traceback)"
            )
            return INTERNAL_ERROR
        return status


def _dispatch(argv: Sequence[str] | None) -> int:
    words = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(FAST_COMMANDS.get(words[0]) if words else None)
    try:
        args = parser.parse_args(words)
    except SystemExit as exc:  # --help, or a bad option (already reported in one line)
        return exc.code if isinstance(exc.code, int) else BAD_INPUT
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 0
    status: int = handler(args)
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
