"""Each hazard switched on alone, found by exploration in the smallest configuration.

:data:`LADDERS` lists, per hazard, candidate configurations from the smallest up
(fewer readers, items, writes, breaks, faults first); :func:`find` explores them
in that order and returns the first that exhibits the hazard: an invariant
violated (the search stops at the first one, whose counterexample is then a
shortest one in that configuration), or — for the liveness hazards, explored
completely with the per-step liveness checks left out — a dead end or a stall
found on the graph alone.

``python -m spec.explore.hazards DIR`` runs every ladder, writes each
counterexample (trace, diagram) under ``DIR`` and prints the table of
docs/explore.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spec.explore.pins import config_of
from spec.explore.report import Report, explore

__all__ = ["LADDERS", "LIVENESS", "Found", "find", "liveness", "main", "spec_of"]

LADDERS: dict[str, tuple[dict[str, Any], ...]] = {
    "H1": (
        {"readers": 0, "items": 1},
        {"readers": 1, "items": 1},
    ),
    "H2": (
        {"readers": 0, "items": 3, "batch": 2, "faults": ["short_response"]},
        {"readers": 1, "items": 3, "batch": 2, "faults": ["short_response"]},
    ),
    "H3": (
        {"readers": 0, "items": 1, "writes": 1, "breaks": 1},
        {"readers": 0, "items": 1, "writes": 2, "breaks": 1},
    ),
    "H4": ({"kind": "depq", "readers": 0, "items": 1, "writes": 1},),
    "H6": ({"readers": 0, "items": 1, "writes": 0},),
    "H9": (
        {
            "readers": 0,
            "items": 1,
            "writes": 1,
            "write_when": "any",
            "restarts": 1,
            "faults": ["forge"],
        },
        {"readers": 1, "items": 1, "writes": 1, "write_when": "any", "breaks": 1},
    ),
    "H10": (
        {"readers": 0, "items": 2, "batch": 1, "faults": ["long_response"]},
        {"readers": 1, "items": 2, "batch": 1, "faults": ["long_response"]},
    ),
}
"""Candidate configurations per hazard, smallest first (profile ``reference`` + the hazard;
map, batch 1 and one lagging reader unless given)."""

LIVENESS: dict[str, dict[str, Any]] = {
    "H6": {"readers": 0, "items": 1, "writes": 0},
    "H1": {"readers": 1, "items": 3, "batch": 1, "writes": 0},
}
"""The liveness hazards, explored completely without the per-step liveness checks: their
dead ends and stalls are found on the state graph alone."""


@dataclass(slots=True)
class Found:
    """What one hazard's ladder found."""

    hazard: str
    config: dict[str, Any]
    """The smallest configuration that exhibits it."""
    report: Report

    def as_json(self) -> dict[str, Any]:
        """Return the table row."""
        r = self.report.result
        live = self.report.liveness
        first = min(r.violations.values(), key=lambda f: (f.depth, f.violation.id), default=None)
        return {
            "hazard": self.hazard,
            "config": self.config,
            "states": r.states,
            "complete": r.complete,
            "violation": None if first is None else first.violation.id,
            "length": None if first is None else first.depth,
            "dead_ends": None if live is None else live.dead_ends,
            "dead_end_length": None
            if live is None or live.dead_end is None
            else r.depth[live.dead_end],
            "stalls": None if live is None else len(live.stalls),
            "traces": [c.trace for c in self.report.counterexamples],
        }


def spec_of(hazard: str, base: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """Return the table entry of a rung: ``reference`` with ``hazard`` alone, ``base``,
    ``extra``."""
    return {"profile": "reference", "hazards": [hazard], **base, **extra}


def find(hazard: str, trace_dir: Path | None = None) -> Found | None:
    """Explore ``hazard``'s ladder; return the first configuration that exhibits it."""
    for base in LADDERS[hazard]:
        spec = spec_of(hazard, base, stop_on_first=True)
        report = explore(config_of(spec), trace_dir=trace_dir)
        live = report.liveness
        if report.result.violations or (live is not None and (live.dead_ends or live.stalls)):
            return Found(hazard, spec, report)
    return None


def liveness(hazard: str, trace_dir: Path | None = None) -> Found:
    """Explore ``hazard``'s liveness configuration completely, graph liveness only."""
    spec = spec_of(hazard, LIVENESS[hazard], step_liveness=False)
    return Found(hazard, spec, explore(config_of(spec), trace_dir=trace_dir))


def main(argv: Sequence[str] | None = None) -> int:
    """Run every ladder (and the liveness explorations); print the rows as JSON lines."""
    parser = argparse.ArgumentParser(prog="python -m spec.explore.hazards", description=__doc__)
    parser.add_argument("dir", nargs="?", default=None, help="where counterexamples go")
    parser.add_argument("--hazard", action="append", default=[], help="only these")
    args = parser.parse_args(argv)
    out = Path(args.dir) if args.dir else None
    for hazard in args.hazard or list(LADDERS):
        found = find(hazard, out)
        row = found.as_json() if found is not None else {"hazard": hazard, "found": False}
        print(json.dumps(row, sort_keys=True), flush=True)
        if hazard in LIVENESS:
            print(json.dumps({"liveness": liveness(hazard, out).as_json()}), flush=True)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
