"""Progress on a terminal, none on a pipe.

Every command that can run longer than a few seconds shows progress on stderr —
but only when stderr is a terminal, so a pipe, a file or a CI log receives the
results and nothing else (and ``--json`` output is never interleaved with it)::

    with progress_bar("replay", total=lines) as bar:
        task = bar.add_task("replay", total=lines)
        ...
        bar.advance(task)

:func:`progress_bar` returns a :class:`rich.progress.Progress` (disabled when stderr
is not a terminal) with a description, a bar, ``done/total`` and the elapsed time;
pass your own columns for more. :func:`stderr_is_terminal` is the one test.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)

__all__ = ["progress_bar", "progress_console", "stderr_is_terminal"]


def progress_console() -> Console:
    """Return the console progress is drawn on (stderr)."""
    return Console(stderr=True)


def stderr_is_terminal() -> bool:
    """Check if stderr is a terminal (progress is shown only then)."""
    return progress_console().is_terminal


def progress_bar(*columns: ProgressColumn | str, enabled: bool = True, **kwargs: Any) -> Progress:
    """Return a transient progress display on stderr, disabled unless stderr is a
    terminal (and ``enabled``: pass ``not args.json`` to keep JSON runs silent too)."""
    console = progress_console()
    cols: tuple[ProgressColumn | str, ...] = columns or (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    return Progress(
        *cols,
        console=console,
        transient=True,
        disable=not (enabled and console.is_terminal),
        **kwargs,
    )
