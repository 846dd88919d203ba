"""Liveness on the state graph (networkx): dead ends, and fair cycles that never converge.

The goal states are the converged ones (:func:`spec.model.liveness.converged`):
one leader with everything committed, no catch-up session, every up node online
and committed as far as the leader, whatever is still in flight. Two questions are
asked of the graph an exploration built:

* **Dead ends.** A state from which no goal state is reachable, by any moves
  (the environment's choices included), is a dead end: no schedule, however
  kind, lets the group converge again. States the search did not expand (cut by
  a bound, or left open) are counted as able to reach a goal, so a dead end is
  never an artefact of where the search stopped. Reported: how many, and the
  shallowest one with its shortest path.
* **Stalls.** A run's environment makes finitely many choices (writes, breaks,
  faults, restarts are bounded), so every infinite run ends in the *fair
  suffix*: deliveries, polls, time and bond restorations only. Under weak
  fairness of each of those classes — a delivery direction, a node's poll, time,
  a bond's restoration: continuously enabled means eventually taken — a run
  fails to converge iff it can stay forever in a strongly connected component of
  the fair-suffix graph without goal states in which every class that is enabled
  in all its states is also taken inside it (Emerson–Lei's condition for weak
  fairness; exact per component). Each such component is a stall; it is
  *bottom* if no fair move leaves it. Reported with the shortest path into it
  and one cycle inside it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from spec.explore.search import CUT, GOAL, OPEN, ExploreResult

__all__ = ["Liveness", "Stall", "analyse", "state_graph"]


@dataclass(frozen=True, slots=True)
class Stall:
    """A fair cycle that never reaches a goal state (module docstring)."""

    states: int
    """Size of the strongly connected component."""
    bottom: bool
    """No fair move leaves it."""
    entry: int
    """Its shallowest state."""
    cycle: tuple[int, ...]
    """A cycle inside it through ``entry`` (``entry`` first and last)."""


@dataclass(slots=True)
class Liveness:
    """What the graph says (module docstring)."""

    goals: int = 0
    """Goal (converged) states."""
    unknown: int = 0
    """States not expanded (counted as able to reach a goal)."""
    dead_ends: int = 0
    dead_end: int | None = None
    """The shallowest dead end."""
    dead: frozenset[int] = frozenset()
    """Every dead end."""
    stalls: list[Stall] = field(default_factory=list)
    fair_components: int = 0
    """Strongly connected components of the fair-suffix graph without goal states that
    have a cycle (fair or not)."""

    def as_json(self, result: ExploreResult) -> dict[str, Any]:
        """Return the JSON form (depths from ``result``)."""
        return {
            "goals": self.goals,
            "unknown": self.unknown,
            "dead_ends": self.dead_ends,
            "dead_end_depth": None if self.dead_end is None else result.depth[self.dead_end],
            "stalls": [
                {
                    "states": s.states,
                    "bottom": s.bottom,
                    "entry_depth": result.depth[s.entry],
                    "cycle_length": len(s.cycle) - 1,
                }
                for s in self.stalls
            ],
            "cyclic_components": self.fair_components,
        }


def state_graph(result: ExploreResult, *, fair_only: bool = False) -> nx.DiGraph:
    """Return the explored state graph: one node per state, one edge per distinct move
    between two states (``fair_only``: the fair-suffix moves only), each edge carrying
    its fairness classes as the attribute ``fair`` (a set of indices)."""
    g = nx.DiGraph()
    g.add_nodes_from(range(result.states))
    for a, b, c in zip(result.src, result.dst, result.fair, strict=True):
        if fair_only and c < 0:
            continue
        data = g.get_edge_data(a, b)
        if data is None:
            g.add_edge(a, b, fair={c})
        else:
            data["fair"].add(c)
    return g


def analyse(result: ExploreResult, graph: nx.DiGraph | None = None) -> Liveness:
    """Return the dead ends and stalls of an exploration's graph (module docstring)."""
    out = Liveness()
    flags = result.flags
    n = result.states
    g = graph if graph is not None else state_graph(result)
    targets = [v for v in range(n) if flags[v] & (GOAL | CUT | OPEN)]
    out.goals = sum(1 for v in range(n) if flags[v] & GOAL)
    out.unknown = sum(1 for v in range(n) if flags[v] & (CUT | OPEN))
    alive = _reaching(g, targets)
    dead = [v for v in range(n) if v not in alive]
    out.dead = frozenset(dead)
    out.dead_ends = len(dead)
    if dead:
        out.dead_end = min(dead, key=lambda v: (result.depth[v], v))
    out.stalls, out.fair_components = _stalls(result, g)
    out.stalls.sort(key=lambda s: (result.depth[s.entry], s.entry))
    return out


def _reaching(g: nx.DiGraph, targets: list[int]) -> set[int]:
    """Return every node with a path to one of ``targets`` (themselves included)."""
    seen = set(targets)
    queue = deque(targets)
    pred = g.pred
    while queue:
        v = queue.popleft()
        for u in pred[v]:
            if u not in seen:
                seen.add(u)
                queue.append(u)
    return seen


def _stalls(result: ExploreResult, g: nx.DiGraph) -> tuple[list[Stall], int]:
    flags = result.flags
    keep = [v for v in range(result.states) if not flags[v] & (GOAL | CUT | OPEN)]
    fair = nx.DiGraph()
    fair.add_nodes_from(keep)
    kept = set(keep)
    for a, b, data in g.edges(data=True):
        classes = {c for c in data["fair"] if c >= 0}
        if classes and a in kept and b in kept:
            fair.add_edge(a, b, fair=classes)
    stalls: list[Stall] = []
    cyclic = 0
    for component in nx.strongly_connected_components(fair):
        if len(component) == 1:
            (v,) = component
            if not fair.has_edge(v, v):
                continue
        cyclic += 1
        if not _weakly_fair(result, fair, component):
            continue
        entry = min(component, key=lambda v: (result.depth[v], v))
        stalls.append(
            Stall(
                states=len(component),
                bottom=_bottom(result, g, component),
                entry=entry,
                cycle=_cycle(fair.subgraph(component), entry),
            )
        )
    return stalls, cyclic


def _weakly_fair(result: ExploreResult, fair: nx.DiGraph, component: set[int]) -> bool:
    """Check Emerson–Lei's condition: every class enabled in all of ``component``'s states
    is taken by an edge inside it."""
    always: set[int] | None = None
    for v in component:
        sid = result.enabled[v]
        enabled = result.enabled_sets[sid] if sid >= 0 else frozenset()
        always = set(enabled) if always is None else always & enabled
        if not always:
            return True
    taken: set[int] = set()
    for _, _, data in fair.subgraph(component).edges(data=True):
        taken |= data["fair"]
    return not (always or set()) - taken


def _bottom(result: ExploreResult, g: nx.DiGraph, component: set[int]) -> bool:
    """Check that no fair move leaves ``component`` (goal states included as targets)."""
    for v in component:
        for w, data in g.succ[v].items():
            if w not in component and any(c >= 0 for c in data["fair"]):
                return False
    return True


def _cycle(sub: nx.DiGraph, entry: int) -> tuple[int, ...]:
    """Return a shortest cycle of ``sub`` through ``entry``."""
    if sub.has_edge(entry, entry):
        return (entry, entry)
    best: list[int] | None = None
    for succ in sub.successors(entry):
        try:
            path = nx.shortest_path(sub, succ, entry)
        except nx.NetworkXNoPath:
            continue
        if best is None or len(path) < len(best):
            best = path
    return (entry, *best) if best is not None else (entry,)
