"""Sequence diagrams of traces (pydot / graphviz), and the console the commands print on.

A diagram is planned from the trace's records alone (:mod:`spec.render.plan`:
which steps are drawn, which are collapsed into the lead-in band or a heartbeat
band, which marks go on which lifeline, which rows are red) and then laid out
(:mod:`spec.render.draw`). docs/findings.md says how to read one.

The ``.dot`` text is always written, and is byte-identical for the same trace;
an ``.svg`` is rendered only when the graphviz ``dot`` binary is installed
(:func:`dot_available`).
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pydot
from rich.console import Console

from spec.render.draw import render_plan
from spec.render.plan import describe_message, plan_diagram

__all__ = [
    "describe_message",
    "dot_available",
    "plan_diagram",
    "render_trace",
    "results_console",
    "write_diagram",
]


def results_console() -> Console:
    """Return the console the commands print results on: when the output is not a
    terminal (a pipe, a file), wide enough that case ids and tables are not cut."""
    console = Console()
    if not console.is_terminal:
        console.width = max(console.width, 160)
    return console


def dot_available() -> bool:
    """Check if the graphviz ``dot`` binary is on the PATH."""
    return shutil.which("dot") is not None


def render_trace(
    records: Sequence[Mapping[str, Any]],
    *,
    max_rows: int = 400,
    collapse: bool = True,
    name: str | None = None,
) -> pydot.Dot:
    """Return the sequence diagram of a trace's records (header, steps, end).

    See :func:`spec.render.plan.plan_diagram` for ``max_rows``, ``collapse`` and ``name``.
    """
    return render_plan(plan_diagram(records, max_rows=max_rows, collapse=collapse, name=name))


def write_diagram(
    records: Sequence[Mapping[str, Any]],
    dot_path: str | Path,
    *,
    max_rows: int = 400,
    collapse: bool = True,
    name: str | None = None,
) -> tuple[Path, Path | None]:
    """Write ``dot_path`` (always) and ``dot_path`` with ``.svg`` (if ``dot`` is installed)."""
    graph = render_trace(records, max_rows=max_rows, collapse=collapse, name=name)
    dot_file = Path(dot_path)
    dot_file.write_text(graph.to_string(), encoding="utf-8")
    if not dot_available():
        return dot_file, None
    svg_file = dot_file.with_suffix(".svg")
    graph.write(str(svg_file), format="svg")
    return dot_file, svg_file
