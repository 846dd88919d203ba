"""Pinned state counts: a table of configurations and their exact exploration figures.

The table (``model_tests/explore_pins.json``) gives, per configuration, the number of
distinct states, of transitions (every checked edge) and the depth of the graph,
whether the exploration is complete, and what it found (violation ids, dead ends,
stalls). A change to the model that changes a state space changes these numbers:
``model_tests/test_explore_pins.py`` fails with a table of the differences, and the
commit that changes the model re-pins them and says why:

    python -m spec.explore.pins            # measure, print the differences
    python -m spec.explore.pins --update   # ... and rewrite the table
    python -m spec.explore.pins --slow     # include the configurations marked slow
    python -m spec.explore.pins --jobs 2   # on two processes (the same figures)

Entries marked ``slow`` (a minute or more) run only with ``--slow`` here and with
``SNAPSYNC_SLOW=1`` in the tests.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from impl.profile import get_profile
from spec.explore.config import ExploreConfig
from spec.explore.liveness import analyse
from spec.explore.report import REQUIRED_SITUATIONS
from spec.explore.search import Explorer
from spec.model.faults import parse_faults
from spec.parallel import jobs_argument

__all__ = ["FIELDS", "PINS_FILE", "Pin", "config_of", "differences", "load", "main", "measure"]

PINS_FILE = Path(__file__).resolve().parents[2] / "model_tests" / "explore_pins.json"
"""Where the table lives (next to the tests that check it)."""

FIELDS: tuple[str, ...] = (
    "states",
    "transitions",
    "depth",
    "complete",
    "violations",
    "dead_ends",
    "stalls",
    "reached",
)
"""The pinned figures of one configuration (``reached``: which of the situations every
catch-up configuration should reach were reached,
:data:`~spec.explore.report.REQUIRED_SITUATIONS`)."""


@dataclass(frozen=True, slots=True)
class Pin:
    """One row of the table: a named configuration, whether it is slow, its figures."""

    name: str
    config: dict[str, Any]
    """Keyword arguments of :class:`ExploreConfig` (``profile``/``hazards``/``faults`` by name)."""
    slow: bool
    figures: dict[str, Any]


def config_of(spec: dict[str, Any]) -> ExploreConfig:
    """Return the configuration of a table entry's ``config`` object."""
    kw = dict(spec)
    profile = get_profile(
        kw.pop("profile", "reference"), kw.pop("hazards", []), kw.pop("behaviours", [])
    )
    faults = parse_faults(kw.pop("faults", []))
    return ExploreConfig(profile=profile, faults=faults, **kw)


def load(path: Path = PINS_FILE) -> list[Pin]:
    """Return the table's rows."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return [
        Pin(row["name"], row["config"], bool(row.get("slow", False)), row["figures"])
        for row in data["pins"]
    ]


def measure(config: ExploreConfig, jobs: int = 1) -> dict[str, Any]:
    """Explore ``config`` (on ``jobs`` processes: the same figures) and return its figures
    (:data:`FIELDS`)."""
    result = Explorer(config, jobs=jobs).run()
    live = analyse(result)
    return {
        "states": result.states,
        "transitions": result.transitions,
        "depth": result.max_depth,
        "complete": result.complete,
        "violations": sorted(result.violations),
        "dead_ends": live.dead_ends,
        "stalls": len(live.stalls),
        "reached": [s for s in REQUIRED_SITUATIONS if s in result.situations],
    }


def differences(pin: Pin, figures: dict[str, Any]) -> list[tuple[str, str, Any, Any]]:
    """Return ``(configuration, figure, pinned, measured)`` for every figure that changed."""
    return [
        (pin.name, f, pin.figures.get(f), figures.get(f))
        for f in FIELDS
        if pin.figures.get(f) != figures.get(f)
    ]


def format_differences(rows: Iterable[tuple[str, str, Any, Any]]) -> str:
    """Return the differences as an aligned text table.

    >>> print(format_differences([("tiny", "states", 10, 12)]))
    configuration  figure  pinned  measured
    tiny           states  10      12
    """
    table = [("configuration", "figure", "pinned", "measured")]
    table += [(a, b, json.dumps(c), json.dumps(d)) for a, b, c, d in rows]
    widths = [max(len(r[k]) for r in table) for k in range(4)]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in table
    )


def _write(pins: Sequence[Pin], measured: dict[str, dict[str, Any]], path: Path) -> None:
    rows = []
    for pin in pins:
        row: dict[str, Any] = {"name": pin.name, "config": pin.config}
        if pin.slow:
            row["slow"] = True
        row["figures"] = measured.get(pin.name, pin.figures)
        rows.append(row)
    text = json.dumps({"pins": rows}, indent=2) + "\n"
    path.write_text(text, encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    """Measure the table's configurations; print (and with ``--update`` write) changes."""
    parser = argparse.ArgumentParser(prog="python -m spec.explore.pins", description=__doc__)
    parser.add_argument("--update", action="store_true", help="rewrite the table")
    parser.add_argument("--slow", action="store_true", help="include the slow configurations")
    parser.add_argument("--only", action="append", default=[], help="only these names")
    parser.add_argument("--file", default=str(PINS_FILE), help="the table (JSON)")
    parser.add_argument("--jobs", **jobs_argument("the explorations"))
    args = parser.parse_args(argv)
    path = Path(args.file)
    pins = load(path)
    measured: dict[str, dict[str, Any]] = {}
    changed: list[tuple[str, str, Any, Any]] = []
    for pin in pins:
        if (pin.slow and not args.slow) or (args.only and pin.name not in args.only):
            continue
        figures = measure(config_of(pin.config), args.jobs)
        measured[pin.name] = figures
        rows = differences(pin, figures)
        changed += rows
        print(
            f"{pin.name}: {figures['states']} states, {figures['transitions']} transitions, "
            f"depth {figures['depth']}" + ("" if not rows else "  (changed)"),
            flush=True,
        )
    if changed:
        print(format_differences(changed))
    if args.update:
        _write(pins, measured, path)
        print(f"wrote {path}")
        return 0
    return 1 if changed else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
