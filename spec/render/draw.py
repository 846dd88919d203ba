"""Lay a :class:`~spec.render.plan.Plan` out as a graphviz sequence diagram (pydot).

One column per lifeline (plus the step column on the left), one rank per drawn
row or band, time flowing down, the nodes' final state in the last row and the
legend below it. Marks are HTML-like table cells coloured by their kind; the
violation rows are red. The ``.dot`` text depends only on the plan, so the same
trace gives the same bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from itertools import pairwise

import pydot

from spec.render.plan import Arrow, Band, Mark, MarkKind, Plan, Row, wrap_text

__all__ = ["AFTER_BREAK_COLOUR", "KIND_COLOURS", "VIOLATION_COLOUR", "render_plan"]

VIOLATION_COLOUR = "#d32f2f"
"""The colour of a violation row and mark."""
AFTER_BREAK_COLOUR = "#e65100"
"""The colour of a message delivered after its bond broke (received before the break)."""

KIND_COLOURS: dict[MarkKind, str] = {
    MarkKind.CATCH_UP: "#bbdefb",
    MarkKind.TIMER: "#ffcc80",
    MarkKind.FINALIZE: "#c8e6c9",
    MarkKind.FAULT: "#e1bee7",
    MarkKind.NOTE: "#fff59d",
    MarkKind.VIOLATION: VIOLATION_COLOUR,
}
"""The fill colour of each kind of mark (the legend shows them)."""

_KIND_WORDS: dict[MarkKind, str] = {
    MarkKind.CATCH_UP: "catch-up: session start (Q0), entries buffered (Q13), anchor selected "
    "/ upgraded, retry timer stopped / armed; providers: TakeSnapshot queued (P2), "
    "snapshot taken (P3)",
    MarkKind.TIMER: "a timer expired: fetch timeout (Q9), retry timer (Q7), "
    "snapshot TTL (P5), election timeout",
    MarkKind.FINALIZE: "finalize (Q12): the snapshot is installed, "
    "the log resumes after the anchor",
    MarkKind.FAULT: "the node leaves, restarts empty, or its wall clock jumps",
    MarkKind.NOTE: "ignored message, rejected step, send dropped for want of a bond, "
    "a message delivered after its bond broke",
    MarkKind.VIOLATION: "violated at this node after this step (or mosaik panics)",
}
_BAND_FILL = "#eeeeee"
_BAR_FILL = "#bdbdbd"
_FONT = "Helvetica"


def _quote(text: str, *, left: bool = False) -> str:
    """A double-quoted dot string; newlines become line breaks (left-justified if asked)."""
    body = text.replace("\\", "\\\\").replace('"', '\\"')
    if left:
        return '"' + body.replace("\n", "\\l") + '\\l"'
    return '"' + body.replace("\n", "\\n") + '"'


def _html(text: str) -> str:
    """Escaped HTML-like label text, every line left-aligned."""
    return "".join(escape(line) + '<br align="left"/>' for line in text.split("\n"))


def _marks_label(marks: Sequence[Mark]) -> str:
    cells = []
    for mark in marks:
        colour = KIND_COLOURS[mark.kind]
        text = _html(mark.text)
        if mark.kind is MarkKind.VIOLATION:
            text = f'<font color="white"><b>{text}</b></font>'
        cells.append(f'<tr><td bgcolor="{colour}" align="left">{text}</td></tr>')
    table = '<table border="0" cellborder="1" cellspacing="0" cellpadding="3">'
    return f"<{table}{''.join(cells)}</table>>"


def render_plan(plan: Plan) -> pydot.Dot:
    """Return the graphviz graph of ``plan``."""
    graph = pydot.Dot(
        "trace",
        graph_type="digraph",
        rankdir="TB",
        nodesep="0.5",
        ranksep="0.3",
        splines="line",
        forcelabels="true",
        fontname=_FONT,
        fontsize="13",
        labelloc="t",
        labeljust="l",
        label=_quote("\n".join(plan.title), left=True),
    )
    graph.set_node_defaults(fontname=_FONT, fontsize="10")
    graph.set_edge_defaults(fontname=_FONT, fontsize="8")
    columns = [f"L{i}" for i in range(len(plan.lifelines))]
    column_of = dict(zip(plan.lifelines, columns, strict=True))

    head = pydot.Subgraph("head", rank="same")
    head.add_node(pydot.Node("T_h", label=_quote("step · time · action"), shape="plaintext"))
    for name, col in column_of.items():
        role = plan.roles.get(name, "")
        label = f"{name}\n{role} · {plan.peers[name]}" if role else name
        head.add_node(pydot.Node(f"{col}_h", label=_quote(label), shape="box", style="bold"))
    graph.add_subgraph(head)
    for a, b in pairwise(["T_h", *[f"{c}_h" for c in columns]]):
        graph.add_edge(pydot.Edge(a, b, style="invis"))

    previous = {col: f"{col}_h" for col in columns}
    previous["T"] = "T_h"
    for index, item in enumerate(plan.items):
        rank = pydot.Subgraph(f"row{index}", rank="same")
        if isinstance(item, Band):
            _band_row(rank, item, index, columns)
        else:
            _step_row(rank, item, index, column_of)
        graph.add_subgraph(rank)
        _advance(graph, previous, index, columns)
        if isinstance(item, Row):
            _bond_edges(graph, item, index, column_of)

    end = pydot.Subgraph("end", rank="same")
    end_label = "end" if plan.end_ms is None else f"end · {plan.end_ms} ms\nfinal state"
    end.add_node(pydot.Node("T_end", label=_quote(end_label), shape="plaintext"))
    for name, col in column_of.items():
        lines = plan.end.get(name, [])
        end.add_node(
            pydot.Node(
                f"{col}_end",
                label=_quote("\n".join(lines), left=True),
                shape="box",
                style="rounded",
                fontsize="9",
            )
        )
    graph.add_subgraph(end)
    _advance(graph, previous, "end", columns)

    for arrow in plan.arrows:
        _arrow_edge(graph, arrow, column_of, plan.items)

    graph.add_node(pydot.Node("legend", label=_legend(plan), shape="plain", fontsize="9"))
    graph.add_edge(pydot.Edge("T_end", "legend", style="invis"))
    return graph


def _step_row(rank: pydot.Subgraph, row: Row, index: int, column_of: dict[str, str]) -> None:
    caption = f"#{row.seq} · {row.now_ms} ms\n{row.label}"
    if row.violations:
        lines = [caption]
        for text in row.violations:
            lines.extend(
                "✗ " + line if i == 0 else "   " + line for i, line in enumerate(wrap_text(text))
            )
        rank.add_node(
            pydot.Node(
                f"T_{index}",
                label=_quote("\n".join(lines), left=True),
                shape="box",
                color=VIOLATION_COLOUR,
                fontcolor=VIOLATION_COLOUR,
                penwidth="3" if row.finding else "2",
            )
        )
    else:
        rank.add_node(pydot.Node(f"T_{index}", label=_quote(caption, left=True), shape="plaintext"))
    by_node: dict[str, list[Mark]] = {}
    for mark in row.marks:
        by_node.setdefault(mark.node, []).append(mark)
    for name, col in column_of.items():
        marks = by_node.get(name)
        if marks:
            rank.add_node(pydot.Node(f"{col}_{index}", label=_marks_label(marks), shape="plain"))
        else:
            rank.add_node(pydot.Node(f"{col}_{index}", label="", shape="point", width="0.05"))


def _band_row(rank: pydot.Subgraph, band: Band, index: int, columns: list[str]) -> None:
    steps = band.last - band.first + 1
    head = (
        f"#{band.first}–#{band.last} · {band.t_first}–{band.t_last} ms · {steps} steps in one band"
    )
    rank.add_node(
        pydot.Node(
            f"T_{index}",
            label=_quote("\n".join([head, *band.summary]), left=True),
            shape="box",
            style="filled",
            fillcolor=_BAND_FILL,
            color=_BAR_FILL,
        )
    )
    for col in columns:
        rank.add_node(
            pydot.Node(
                f"{col}_{index}",
                label="",
                shape="box",
                style="filled",
                fillcolor=_BAR_FILL,
                color=_BAR_FILL,
                width="0.12",
                height="0.6",
            )
        )


def _advance(
    graph: pydot.Dot, previous: dict[str, str], index: int | str, columns: list[str]
) -> None:
    """Continue the step column and every lifeline down to row ``index``."""
    graph.add_edge(pydot.Edge(previous["T"], f"T_{index}", style="invis", weight="100"))
    previous["T"] = f"T_{index}"
    for col in columns:
        node = f"{col}_{index}"
        graph.add_edge(
            pydot.Edge(
                previous[col],
                node,
                arrowhead="none",
                style="dashed",
                color="#9e9e9e",
                weight="100",
            )
        )
        previous[col] = node


def _bond_edges(graph: pydot.Dot, row: Row, index: int, column_of: dict[str, str]) -> None:
    for change in row.bonds:
        a, b = column_of.get(change.a), column_of.get(change.b)
        if a is None or b is None:
            continue
        graph.add_edge(
            pydot.Edge(
                f"{a}_{index}",
                f"{b}_{index}",
                dir="none",
                constraint="false",
                color="#2e7d32" if change.up else VIOLATION_COLOUR,
                style="bold" if change.up else "bold,dashed",
                xlabel=_quote("bond re-formed" if change.up else "bond broken"),
                fontcolor="#2e7d32" if change.up else VIOLATION_COLOUR,
            )
        )


def _arrow_edge(
    graph: pydot.Dot, arrow: Arrow, column_of: dict[str, str], items: Sequence[Row | Band]
) -> None:
    src, dst = column_of.get(arrow.src), column_of.get(arrow.dst)
    if src is None or dst is None:
        return
    text = arrow.text
    if isinstance(items[arrow.start], Band):
        text += f" (sent #{arrow.sent_seq})"
    end = "end" if arrow.end is None else str(arrow.end)
    attrs: dict[str, str] = {"constraint": "false"}
    if arrow.fate == "lost":
        attrs.update(
            color=VIOLATION_COLOUR, style="dashed", arrowhead="tee", fontcolor=VIOLATION_COLOUR
        )
        text = f"lost: {text}"
    elif arrow.fate == "after-break":
        # Received before its bond broke, processed after the termination: not a live bond.
        attrs.update(color=AFTER_BREAK_COLOUR, style="bold", fontcolor=AFTER_BREAK_COLOUR)
        text = f"after the break: {text}"
        if arrow.end is not None and isinstance(items[arrow.end], Band):
            text += f" (delivered #{arrow.end_seq})"
    elif arrow.fate == "queued":
        attrs.update(color="#757575", style="dotted", fontcolor="#616161")
        text = f"still queued: {text}"
    else:
        attrs.update(color="navy")
        if arrow.end is not None and isinstance(items[arrow.end], Band):
            text += f" (delivered #{arrow.end_seq})"
    edge = pydot.Edge(f"{src}_{arrow.start}", f"{dst}_{end}", xlabel=_quote(text))
    for key, value in attrs.items():
        edge.set(key, value)
    graph.add_edge(edge)


def _legend(plan: Plan) -> str:
    rows: list[str] = []

    def row(sample: str, words: str) -> None:
        rows.append(f'<tr>{sample}<td align="left">{escape(words)}</td></tr>')

    rows.append('<tr><td colspan="2" align="left"><b>How to read this diagram</b></td></tr>')
    for kind in MarkKind:
        colour = KIND_COLOURS[kind]
        row(f'<td bgcolor="{colour}" width="40"> </td>', _KIND_WORDS[kind])
    row(
        f'<td bgcolor="{_BAR_FILL}"> </td>',
        "lead-in band: every step before the first catch-up start (Q0), fault or violation",
    )
    row(
        f'<td bgcolor="{_BAR_FILL}"> </td>',
        "heartbeat band: 3+ steps whose only messages are AppendEntries without entries "
        "and their responses, with no mark",
    )
    row(
        f'<td><font color="{VIOLATION_COLOUR}"><b>red row</b></font></td>',
        "the step after which an invariant or hunt check is first found violated: "
        "id at node: detail (boxed thick: the finding the hunt recorded)",
    )
    row(
        '<td><font color="navy">→</font></td>',
        "a message, from the step that queued it to the step that delivered it",
    )
    row(f'<td><font color="{VIOLATION_COLOUR}">⊣</font></td>', "a message lost when its bond broke")
    row(
        f'<td><font color="{AFTER_BREAK_COLOUR}"><b>→</b></font></td>',
        "a message its receiver had received before the bond broke, delivered after the "
        "break (mosaik's transport: deliver_after_break)",
    )
    row(
        '<td><font color="#757575">⋯→</font></td>',
        "a message still queued when the trace ends (heartbeats not drawn)",
    )
    row(
        "<td>anchor</td>",
        "anchor marks sit at the first FetchDataRequest for the anchor "
        "(the trace does not record the selection itself)",
    )
    ids = ", ".join(f"{n} = {p}" for n, p in plan.peers.items())
    row("<td>peers</td>", f"peer ids in details: {ids}")
    table = '<table border="0" cellborder="0" cellspacing="2" cellpadding="2">'
    return f"<{table}{''.join(rows)}</table>>"
