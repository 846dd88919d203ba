"""Cross-node checks of several event logs: every receive has its send, and time is consistent.

Timestamps of different processes cannot order their events; causality ids can.
Each ``recv`` names its ``cause`` (the sender's peer and the ``seq`` of its
``send``). Over the logs given together:

* the cause exists: the sender's log (when given) has a ``send`` at that ``seq``,
  addressed to the receiver (``C1``);
* the content arrived unchanged (``C2``; a fault that rewrites messages in transit
  breaks it);
* happens-before is acyclic: each log's order plus send → receive edges has a
  topological order (``C3``: a receive before its own send, directly or through
  other nodes, is impossible);
* per bond direction, messages are received at most once and in the order they
  were sent (``C4``, mosaik's transport: reliable FIFO while a bond is up; lost
  messages at a break are allowed, duplicates and overtaking are not).

``transport="any"`` checks C1 and C3 only (for runs with the model's duplicate /
reorder / corrupt faults). A ``recv`` whose cause is null is unchecked (an
implementation that cannot carry ids on the wire, or a forged message).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from impl.types import PeerId
from spec.conformance.events import Event, EventKind, EventLog

__all__ = ["TRANSPORTS", "CausalityProblem", "check_causality"]

TRANSPORTS: tuple[str, ...] = ("fifo", "any")
"""What the transport promises: ``fifo`` (mosaik's bonds) or ``any`` (faults)."""


@dataclass(frozen=True, slots=True)
class CausalityProblem:
    """One cross-node inconsistency: which check, where, what."""

    id: str
    where: str
    line: int
    detail: str

    def as_json(self) -> dict[str, Any]:
        """Return the JSON form."""
        return {"id": self.id, "where": self.where, "line": self.line, "detail": self.detail}

    def __str__(self) -> str:
        return f"{self.id} {self.where} line {self.line}: {self.detail}"


def check_causality(logs: Sequence[EventLog], transport: str = "fifo") -> list[CausalityProblem]:
    """Return every cross-node problem of ``logs`` (module docstring), first ones first."""
    if transport not in TRANSPORTS:
        raise ValueError(f"unknown transport {transport!r}; known: {', '.join(TRANSPORTS)}")
    problems: list[CausalityProblem] = []
    by_peer: dict[PeerId, EventLog] = {}
    for log in logs:
        if log.header.peer in by_peer:
            other = by_peer[log.header.peer]
            problems.append(
                CausalityProblem(
                    "C0", log.where, 1, f"the same node as {other.where} (one log per node)"
                )
            )
            continue
        by_peer[log.header.peer] = log
    sends: dict[tuple[PeerId, int], Event] = {}
    for log in by_peer.values():
        for e in log.events:
            if e.kind is EventKind.SEND:
                sends[(log.header.peer, e.seq)] = e
    received: dict[tuple[PeerId, int], Event] = {}
    last_on_bond: dict[tuple[PeerId, PeerId], int] = {}
    edges: dict[tuple[str, int], list[tuple[str, int]]] = {}
    for log in by_peer.values():
        me = log.header.peer
        for e in log.events:
            if e.kind is EventKind.BOND_UP:
                last_on_bond.pop((e.fields["peer"], me), None)  # a new bond: a new FIFO
                continue
            if e.kind is not EventKind.RECV or e.fields["cause"] is None:
                continue
            cause = e.fields["cause"]
            sender_log = by_peer.get(cause.peer)
            if sender_log is None:
                continue  # the sender's log is not among these: nothing to check against
            if cause.peer != e.fields["from"]:
                problems.append(
                    CausalityProblem(
                        "C1", log.where, e.line, "the cause names another peer than the sender"
                    )
                )
                continue
            send = sends.get((cause.peer, cause.seq))
            if send is None or send.fields["to"] != me:
                problems.append(
                    CausalityProblem(
                        "C1",
                        log.where,
                        e.line,
                        f"no send #{cause.seq} to this node in {sender_log.where}",
                    )
                )
                continue
            edges.setdefault((sender_log.where, send.seq), []).append((log.where, e.seq))
            if transport == "any":
                continue
            if send.fields["message"] != e.fields["message"]:
                problems.append(
                    CausalityProblem(
                        "C2",
                        log.where,
                        e.line,
                        f"received content differs from {sender_log.where} #{send.seq}",
                    )
                )
            key = (cause.peer, cause.seq)
            if key in received:
                problems.append(
                    CausalityProblem(
                        "C4", log.where, e.line, f"{sender_log.where} #{cause.seq} received twice"
                    )
                )
            received[key] = e
            bond = (cause.peer, me)
            previous = last_on_bond.get(bond)
            if previous is not None and cause.seq < previous:
                problems.append(
                    CausalityProblem(
                        "C4",
                        log.where,
                        e.line,
                        f"{sender_log.where} #{cause.seq} overtook #{previous} on the same bond",
                    )
                )
            last_on_bond[bond] = max(cause.seq, previous or 0)
    problems.extend(_cycles(by_peer.values(), edges))
    return sorted(problems, key=lambda p: (p.where, p.line, p.id))


def _cycles(
    logs: Any, edges: dict[tuple[str, int], list[tuple[str, int]]]
) -> list[CausalityProblem]:
    """C3: Kahn's algorithm over every event; what is left over lies on a cycle."""
    indegree: dict[tuple[str, int], int] = {}
    succ: dict[tuple[str, int], list[tuple[str, int]]] = {}
    lines: dict[tuple[str, int], int] = {}
    for log in logs:
        previous: tuple[str, int] | None = None
        for e in log.events:
            key = (log.where, e.seq)
            lines[key] = e.line
            indegree.setdefault(key, 0)
            if previous is not None:
                succ.setdefault(previous, []).append(key)
                indegree[key] += 1
            previous = key
    for src, dsts in edges.items():
        for dst in dsts:
            succ.setdefault(src, []).append(dst)
            indegree[dst] = indegree.get(dst, 0) + 1
    ready = deque(k for k, d in indegree.items() if d == 0)
    seen = 0
    while ready:
        key = ready.popleft()
        seen += 1
        for nxt in succ.get(key, ()):
            indegree[nxt] -= 1
            if indegree[nxt] == 0:
                ready.append(nxt)
    if seen == len(indegree):
        return []
    stuck = sorted(k for k, d in indegree.items() if d > 0)
    where, seq = stuck[0]
    return [
        CausalityProblem(
            "C3",
            where,
            lines[(where, seq)],
            f"event #{seq} lies on a happens-before cycle ({len(stuck)} events): "
            "a message received before it was sent",
        )
    ]
