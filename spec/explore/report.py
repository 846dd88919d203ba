"""The explorer's report: counts, violations, liveness, situations; traces and graphs.

* :func:`explore` — run a configuration and build its :class:`Report`.
* Counterexamples: for the first (shortest) violation of each id, the shallowest
  dead end and each stall (its shortest path in, then one cycle), the path of
  state numbers is re-executed from the initial state
  (:meth:`spec.explore.search.Explorer.replay_path`) through the hunt's
  :class:`~spec.hunt.driver.Driver`, which records the group's build and every
  move as a trace (docs/formats/trace.md); the trace is replayed once with
  ``snapsync replay``'s code (:func:`spec.sim.replay.replay_file`) — it must
  reproduce exactly and find the same violation — and rendered as a sequence
  diagram (:func:`spec.render.write_diagram`).
* :func:`write_state_graph` — the state graph as ``.dot`` (pydot), with the states
  of interest coloured; ``.svg`` too where graphviz is installed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx

from spec.explore.config import ExploreConfig, build_initial
from spec.explore.liveness import Liveness, analyse, state_graph
from spec.explore.moves import take
from spec.explore.search import (
    ANCHORED,
    CUT,
    EXPLORED_SITUATIONS,
    FINALIZED,
    GOAL,
    OPEN,
    VIOLATING,
    Explorer,
    ExploreResult,
    SearchState,
)
from spec.render import dot_available, write_diagram
from spec.robust.stop import shielded
from spec.sim.replay import replay_file

__all__ = [
    "REQUIRED_SITUATIONS",
    "Counterexample",
    "Report",
    "explore",
    "write_state_graph",
]

REQUIRED_SITUATIONS: tuple[str, ...] = (
    "anchor_upgrade",
    "retry_request",
    "fetch_timeout",
    "buffer_gap",
    "write_during_sync",
    "finalize_with_buffered",
    "empty_snapshot",
)
"""The "sometimes" properties every report lists first (a zero is a vacuity warning)."""

DOT_LIMIT = 5_000
"""Largest state graph :func:`write_state_graph` draws."""


@dataclass(slots=True)
class Counterexample:
    """A shortest path to a state of interest, written as a replayable trace."""

    kind: str
    """``violation``, ``dead-end`` or ``stall``."""
    id: str
    """The invariant id (or ``DEAD-END`` / ``STALL``)."""
    node: str | None
    detail: str
    length: int
    """Moves after the initial state (for a stall: into it, then around the cycle)."""
    trace: str | None = None
    diagram: str | None = None
    replay_exact: bool | None = None
    """The written trace replayed exactly (``snapsync replay``)."""
    replay_found: bool | None = None
    """Replaying it as one run finds the same violation id (violations only)."""
    moves: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """Return the JSON form."""
        return {
            "kind": self.kind,
            "id": self.id,
            "node": self.node,
            "detail": self.detail,
            "length": self.length,
            "trace": self.trace,
            "diagram": self.diagram,
            "replay_exact": self.replay_exact,
            "replay_found": self.replay_found,
            "moves": self.moves,
        }


@dataclass(slots=True)
class Report:
    """What an exploration found (built by :func:`explore`)."""

    config: ExploreConfig
    result: ExploreResult
    liveness: Liveness | None
    counterexamples: list[Counterexample] = field(default_factory=list)
    graph_files: dict[str, str | None] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Check that nothing was found: no violation, no dead end, no stall."""
        live = self.liveness
        dead = live is not None and (live.dead_ends > 0 or bool(live.stalls))
        return not self.result.violations and not dead

    def time_abstraction(self) -> dict[str, Any]:
        """Return whether jumping to the next deadline loses no order of events here
        (docs/explore.md §2.1): one writer (its heartbeat is never more than one interval
        away) and every timing constant a multiple of the heartbeat interval."""
        quantum = self.config.time_quantum()
        heartbeat = self.config.setup.heartbeat_interval_ms
        exact = quantum == heartbeat and self.config.writers == 1 and not self.config.grain_ms
        return {"quantum_ms": quantum, "heartbeat_ms": heartbeat, "jumps_exact": exact}

    def as_json(self) -> dict[str, Any]:
        """Return the JSON form (``snapsync explore --json``)."""
        r = self.result
        seconds = max(r.seconds, 1e-9)
        situations = {
            name: (
                None
                if name not in r.situations
                else {"depth": r.situations[name][1], "edges": r.situations[name][2]}
            )
            for name in EXPLORED_SITUATIONS
        }
        return {
            "config": self.config.as_json(),
            "complete": r.complete,
            "stopped": r.stopped,
            "states": r.states,
            "transitions": r.transitions,
            "edges": len(r.src),
            "depth": r.max_depth,
            "cut_by_bounds": r.count(CUT),
            "open": r.count(OPEN),
            "goal_states": r.count(GOAL),
            "symmetry": {"on": self.config.symmetry, "renamings": r.renamings},
            "time": self.time_abstraction(),
            "violations": {
                vid: {
                    "node": f.violation.node,
                    "detail": f.violation.detail,
                    "length": f.depth,
                    "edges": f.edges,
                }
                for vid, f in sorted(r.violations.items())
            },
            "liveness": None if self.liveness is None else self.liveness.as_json(r),
            "sometimes": situations,
            "vacuous": [s for s in REQUIRED_SITUATIONS if s not in r.situations],
            "counterexamples": [c.as_json() for c in self.counterexamples],
            "graph": self.graph_files or None,
            "seconds": round(r.seconds, 3),
            "states_per_s": round(r.states / seconds, 1),
            "transitions_per_s": round(r.transitions / seconds, 1),
            "peak_rss_mb": round(r.peak_rss_kb / 1024, 1),
            "jobs": r.jobs,
            "worker_states": r.worker_states,
            "digests": {"count": r.interned + r.states, "collision_bound": r.collision_bound},
            "ok": self.ok,
        }


def explore(
    config: ExploreConfig,
    *,
    trace_dir: str | Path | None = None,
    dot: str | Path | None = None,
    progress: Callable[[ExploreResult, int], None] | None = None,
    jobs: int = 1,
) -> Report:
    """Explore ``config`` (on ``jobs`` processes: the same result); check liveness on its
    graph; write counterexamples under ``trace_dir`` (none if ``None``) and the state graph
    to ``dot`` (if given). After a stop (Ctrl-C, a budget) the report covers what was
    explored; the counterexamples found are still written (shielded, as the hunt's are)."""
    explorer = Explorer(config, progress=progress, jobs=jobs)
    result = explorer.run()
    graph = None
    liveness = None
    if config.graph and not result.interrupted:
        graph = state_graph(result)
        liveness = analyse(result, graph)
    report = Report(config, result, liveness)
    if trace_dir is not None:
        with shielded():
            report.counterexamples = _counterexamples(explorer, result, liveness, Path(trace_dir))
    if dot is not None:
        if graph is None:
            graph = state_graph(result)
        report.graph_files = write_state_graph(result, liveness, graph, Path(dot))
    return report


# -- counterexamples ---------------------------------------------------------------------------


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")


def _counterexamples(
    explorer: Explorer, result: ExploreResult, liveness: Liveness | None, out: Path
) -> list[Counterexample]:
    out.mkdir(parents=True, exist_ok=True)
    stem = _slug(f"explore-{explorer.config.profile.name}-{explorer.config.kind}")
    found: list[Counterexample] = []
    for vid, f in sorted(result.violations.items(), key=lambda kv: (kv[1].depth, kv[0])):
        v = f.violation
        c = Counterexample("violation", vid, v.node, v.detail, f.depth)
        path = result.path_to(f.src)
        _write(explorer, result, path, c, out / f"{stem}-{_slug(vid)}", last=f.move)
        found.append(c)
    if liveness is not None and liveness.dead_end is not None:
        d = liveness.dead_end
        c = Counterexample(
            "dead-end",
            "DEAD-END",
            None,
            f"no converged state is reachable from here ({liveness.dead_ends} such states)",
            result.depth[d],
        )
        _write(explorer, result, result.path_to(d), c, out / f"{stem}-dead-end")
        found.append(c)
    if liveness is not None:
        for k, s in enumerate(liveness.stalls[:3]):
            path = result.path_to(s.entry) + list(s.cycle[1:])
            kind = "bottom " if s.bottom else ""
            c = Counterexample(
                "stall",
                "STALL",
                None,
                f"a fair {kind}cycle of {s.states} states never converges "
                f"(cycle of {len(s.cycle) - 1} moves after {result.depth[s.entry]})",
                len(path) - 1,
            )
            _write(explorer, result, path, c, out / f"{stem}-stall-{k}")
            found.append(c)
    return found


def _write(
    explorer: Explorer,
    result: ExploreResult,
    path: list[int],
    c: Counterexample,
    base: Path,
    last: tuple[Any, ...] | None = None,
) -> None:
    """Re-execute ``path`` (then ``last``) through a recording driver; write, replay and
    draw its trace."""
    config = explorer.config
    driver = build_initial(config, record=True)
    state: SearchState = explorer.initial_state()
    for s in explorer.replay_path(result, path, last):
        fn, kwargs = take(driver.world, s.move, config, state.replayable)
        driver.do(fn, **kwargs)
        c.moves.append(_describe(s.move))
        state = s.state
    trace = base.with_name(base.name + ".trace.jsonl")
    meta = {
        "explore": {
            "config": config.as_json(),
            "kind": c.kind,
            "id": c.id,
            "detail": c.detail,
            "length": c.length,
            "moves": c.moves,
        }
    }
    driver.write_trace(trace, seed=None, meta=meta)
    c.trace = str(trace)
    replayed = replay_file(trace)
    c.replay_exact = replayed.exact
    if c.kind == "violation":
        build_steps = len(driver.log) - len(c.moves)
        c.replay_found = any(
            v.id == c.id and (v.step or 0) > build_steps for v in replayed.violations
        )
    dot_file, svg = write_diagram(replayed.records, base.with_name(base.name + ".dot"))
    c.diagram = str(svg or dot_file)


def _describe(move: tuple[Any, ...]) -> str:
    name, *args = move
    return f"{name}({', '.join(repr(a) for a in args)})"


# -- the state graph -----------------------------------------------------------------------------


def write_state_graph(
    result: ExploreResult,
    liveness: Liveness | None,
    graph: nx.DiGraph,
    path: Path,
    *,
    limit: int | None = None,
) -> dict[str, str | None]:
    """Write the state graph as ``.dot`` (and ``.svg`` where graphviz is installed).

    Colours: the initial state bold; anchored (a session selected an anchor) light blue;
    finalized (reached by an install) green; converged (goal) pale green; violating red;
    dead ends orange; not expanded (cut or open) grey, dashed.
    """
    limit = DOT_LIMIT if limit is None else limit
    if result.states > limit:
        return {
            "dot": None,
            "svg": None,
            "skipped": f"{result.states} states: --dot draws at most {limit} "
            "(explore a smaller configuration or lower --max-states)",
        }
    import pydot

    dead = liveness.dead if liveness is not None else frozenset()
    stall_states = {v for s in (liveness.stalls if liveness else []) for v in s.cycle}
    dot = pydot.Dot("explore", graph_type="digraph", rankdir="TB")
    dot.set_node_defaults(shape="circle", style="filled", fillcolor="white", fontsize="9")
    for v in range(result.states):
        f = result.flags[v]
        attrs: dict[str, Any] = {"label": str(v)}
        if f & VIOLATING:
            attrs["fillcolor"] = "#ff6b6b"
        elif v in dead:
            attrs["fillcolor"] = "#ffa94d"
        elif f & FINALIZED:
            attrs["fillcolor"] = "#51cf66"
        elif f & GOAL:
            attrs["fillcolor"] = "#d3f9d8"
        elif f & ANCHORED:
            attrs["fillcolor"] = "#a5d8ff"
        if f & (CUT | OPEN):
            attrs["style"] = "filled,dashed"
            attrs.setdefault("fillcolor", "#dee2e6")
        if v == 0:
            attrs["penwidth"] = "3"
        if v in stall_states:
            attrs["color"] = "#862e9c"
            attrs["penwidth"] = "2"
        dot.add_node(pydot.Node(str(v), **attrs))
    for a, b in graph.edges():
        dot.add_edge(pydot.Edge(str(a), str(b), arrowsize="0.5"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dot.to_string(), encoding="utf-8")
    files: dict[str, str | None] = {"dot": str(path), "svg": None}
    if dot_available():
        svg = path.with_suffix(".svg")
        dot.write(str(svg), format="svg")
        files["svg"] = str(svg)
    return files
