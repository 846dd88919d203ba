"""Sequence diagrams of traces (pydot / graphviz).

One lifeline per node, one row per step that sends, delivers, loses or breaks
something (or violates an invariant), time flowing down. A message is an arrow
from the row where it was queued on the sender's lifeline to the row where it
was delivered on the receiver's; messages lost to a bond break end in a red
cross. Violations are printed in red next to their step.

The ``.dot`` text is always written; an ``.svg`` is rendered only when the
graphviz ``dot`` binary is installed (:func:`dot_available`).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Mapping, Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any

import pydot
from rich.console import Console

__all__ = ["describe_message", "dot_available", "render_trace", "results_console", "write_diagram"]

_QUIET_ACTIONS = frozenset({"node_poll", "advance_time"})


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


def _cursor(c: Mapping[str, Any] | None) -> str:
    if not isinstance(c, Mapping):
        return "?"
    return f"({c.get('term')},{c.get('index')})"


def describe_message(message: Mapping[str, Any]) -> str:
    """Return a short label for a tagged message record.

    >>> describe_message({"type": "FetchDataRequest", "anchor": {"term": 1, "index": 9},
    ...                   "range": {"start": 0, "end": 100}})
    'FetchDataRequest (1,9) [0,100)'
    """
    kind = str(message.get("type", "?"))
    if kind == "AppendEntries":
        entries = message.get("entries", [])
        n = len(entries) if isinstance(entries, list) else 0
        prev = _cursor(message.get("prev_log_position"))
        commit = message.get("leader_commit")
        return f"AppendEntries t{message.get('term')} prev {prev} +{n} commit {commit}"
    if kind == "AppendEntriesResponse":
        return f"AppendEntriesResponse last {message.get('last_log_index')} {message.get('vote')}"
    if kind == "SnapshotOffer":
        info = message.get("info", {})
        if isinstance(info, Mapping):
            return f"SnapshotOffer {_cursor(info.get('anchor'))} n={info.get('items_count')}"
    if kind == "FetchDataRequest":
        r = message.get("range", {})
        if isinstance(r, Mapping):
            anchor = _cursor(message.get("anchor"))
            return f"FetchDataRequest {anchor} [{r.get('start')},{r.get('end')})"
    if kind == "FetchDataResponse":
        items = message.get("items", [])
        n = len(items) if isinstance(items, list) else 0
        return f"FetchDataResponse {_cursor(message.get('anchor'))} @{message.get('offset')} n={n}"
    if kind == "RequestVote":
        return f"RequestVote t{message.get('term')}"
    if kind == "RequestVoteResponse":
        return f"RequestVoteResponse t{message.get('term')} {message.get('vote')}"
    return kind


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _action_label(step: Mapping[str, Any]) -> str:
    args = step.get("args", {})
    action = str(step.get("action", "?"))
    if not isinstance(args, Mapping):
        return action
    if action == "client_write":
        commands = args.get("commands", [])
        n = len(commands) if isinstance(commands, list) else 0
        return f"client_write {args.get('name')} ×{n}"
    shown = {k: v for k, v in args.items() if k not in ("mid", "message", "commands")}
    inner = ", ".join(f"{k}={v}" for k, v in sorted(shown.items()) if v is not None)
    return f"{action}({inner})"


def _lifelines(steps: Iterable[Mapping[str, Any]]) -> list[str]:
    names: list[str] = []
    for step in steps:
        args = step.get("args", {})
        if step.get("action") == "join_late" and isinstance(args, Mapping):
            name = args.get("name")
            if isinstance(name, str) and name not in names:
                names.append(name)
    return names


def _interesting(step: Mapping[str, Any]) -> bool:
    return bool(
        step.get("action") not in _QUIET_ACTIONS
        or step.get("sent")
        or step.get("lost")
        or step.get("violations")
    )


def render_trace(records: Sequence[Mapping[str, Any]], *, max_rows: int = 400) -> pydot.Dot:
    """Return the sequence diagram of a trace's records (header, steps, end)."""
    steps = [r for r in records if r.get("type") == "step"]
    names = _lifelines(steps)
    graph = pydot.Dot("trace", graph_type="digraph", rankdir="TB", nodesep="0.6", ranksep="0.25")
    graph.set_node_defaults(fontname="Helvetica", fontsize="10")
    graph.set_edge_defaults(fontname="Helvetica", fontsize="9")

    rows = [s for s in steps if _interesting(s)]
    truncated = len(rows) > max_rows
    rows = rows[:max_rows]

    head = pydot.Subgraph("head", rank="same")
    head.add_node(pydot.Node("time_h", label=_quote("step"), shape="plaintext"))
    for name in names:
        head.add_node(pydot.Node(f"{name}_h", label=_quote(name), shape="box", style="bold"))
    graph.add_subgraph(head)
    order = ["time_h", *[f"{n}_h" for n in names]]
    for a, b in pairwise(order):
        graph.add_edge(pydot.Edge(a, b, style="invis"))

    sent_at: dict[int, tuple[str, str, str]] = {}
    previous = {name: f"{name}_h" for name in names}
    previous_time = "time_h"
    for row, step in enumerate(rows):
        seq = step.get("seq")
        rank = pydot.Subgraph(f"row{row}", rank="same")
        label = f"#{seq} t={step.get('now_ms')} {_action_label(step)}"
        violations = step.get("violations") or []
        color = "red" if violations else "black"
        if violations:
            ids = ", ".join(
                sorted({str(v.get("id")) for v in violations if isinstance(v, Mapping)})
            )
            label += f"\\n✗ {ids}"
        time_node = f"time_{row}"
        rank.add_node(
            pydot.Node(time_node, label=_quote(label), shape="plaintext", fontcolor=color)
        )
        for name in names:
            rank.add_node(pydot.Node(f"{name}_{row}", label="", shape="point", width="0.05"))
        graph.add_subgraph(rank)
        graph.add_edge(pydot.Edge(previous_time, time_node, style="invis", weight="100"))
        previous_time = time_node
        for name in names:
            graph.add_edge(
                pydot.Edge(
                    previous[name], f"{name}_{row}", arrowhead="none", style="dashed", weight="100"
                )
            )
            previous[name] = f"{name}_{row}"
        _row_edges(graph, step, row, names, sent_at)
    if truncated:
        graph.add_node(
            pydot.Node("truncated", label=_quote(f"… {max_rows} rows shown"), shape="plaintext")
        )
        graph.add_edge(pydot.Edge(previous_time, "truncated", style="invis"))
    return graph


def _row_edges(
    graph: pydot.Dot,
    step: Mapping[str, Any],
    row: int,
    names: list[str],
    sent_at: dict[int, tuple[str, str, str]],
) -> None:
    for item in step.get("sent") or []:
        if not isinstance(item, Mapping):
            continue
        src, dst, mid = item.get("src"), item.get("dst"), item.get("mid")
        message = item.get("message", {})
        if isinstance(src, str) and isinstance(mid, int) and src in names:
            text = describe_message(message if isinstance(message, Mapping) else {})
            sent_at[mid] = (f"{src}_{row}", str(dst), text)
    for mid in step.get("delivered") or []:
        origin = sent_at.get(mid) if isinstance(mid, int) else None
        if origin is None:
            continue
        start, dst, text = origin
        if dst in names:
            graph.add_edge(
                pydot.Edge(
                    start, f"{dst}_{row}", label=_quote(text), constraint="false", color="navy"
                )
            )
    for mid in step.get("lost") or []:
        origin = sent_at.pop(mid, None) if isinstance(mid, int) else None
        if origin is None:
            continue
        start, dst, text = origin
        if dst in names:
            graph.add_edge(
                pydot.Edge(
                    start,
                    f"{dst}_{row}",
                    label=_quote(f"lost: {text}"),
                    constraint="false",
                    color="red",
                    style="dashed",
                    arrowhead="tee",
                )
            )


def write_diagram(
    records: Sequence[Mapping[str, Any]], dot_path: str | Path, *, max_rows: int = 400
) -> tuple[Path, Path | None]:
    """Write ``dot_path`` (always) and ``dot_path`` with ``.svg`` (if ``dot`` is installed)."""
    graph = render_trace(records, max_rows=max_rows)
    dot_file = Path(dot_path)
    dot_file.write_text(graph.to_string(), encoding="utf-8")
    if not dot_available():
        return dot_file, None
    svg_file = dot_file.with_suffix(".svg")
    graph.write(str(svg_file), format="svg")
    return dot_file, svg_file
