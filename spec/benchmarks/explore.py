"""``snapsync bench explore``: the explorer's throughput and memory, and where its time goes.

For each configuration of :data:`BENCH_CONFIGS`, in a fresh process (so that its
peak memory is its own): the search alone (no liveness, no traces), timed by wall
clock and CPU clock; distinct states, transitions and their rates; the process's
peak resident memory, and that growth per million distinct states.

``--jobs 1 --jobs 2`` measures each configuration once per value (``explore --jobs``):
the processor time then includes the workers', ``cores`` is processor seconds per
wall second (what the run got from the machine), and ``vs 1`` the wall-clock speed-up
over ``--jobs 1``. With workers the memory columns are the parent's only (the workers
hold the states).

``--profile`` runs the smallest configuration once under :mod:`cProfile` and
attributes the search's time to its parts by the cumulative time of their entry
points: the model's actions (impl steps included), the fingerprints, the
invariant checks, the hunt's situation counting, the enumeration of moves (the
hunt's guards), and the rest (the search loop, the records of each edge).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import resource
import subprocess
import sys
from dataclasses import asdict, dataclass
from typing import Any

from impl.errors import InvalidInput
from spec.explore.config import ExploreConfig
from spec.explore.search import Explorer, _Search
from spec.parallel import parse_jobs

__all__ = ["BENCH_CONFIGS", "DEFAULT_CONFIGS", "ConfigResult", "attribute", "register", "run"]

BENCH_CONFIGS: dict[str, ExploreConfig] = {
    "smallest": ExploreConfig(kind="map", items=1, batch=1, readers=0, writes=0),
    "check": ExploreConfig(kind="map", items=1, batch=1, readers=1, writes=0),
    "write": ExploreConfig(kind="map", items=1, batch=1, readers=0, writes=1),
    "large": ExploreConfig(kind="map", items=1, batch=1, readers=1, writes=1),
}
"""The measured configurations: the smallest (one provider), ``snapsync check``'s (two
providers), one with a write during sync, and ``large`` (two providers and a write:
about 100,000 states, minutes; for memory per million states, by ``--config large``)."""

DEFAULT_CONFIGS: tuple[str, ...] = ("smallest", "check", "write")
"""What ``bench explore`` measures without ``--config``."""


def _parts() -> tuple[tuple[str, tuple[Any, ...]], ...]:
    """The parts of a search and the functions through which it enters each."""
    from spec.explore.search import Expander, Keys
    from spec.hunt.coverage import Coverage
    from spec.hunt.driver import discount_tampered
    from spec.model.actions import ACTIONS
    from spec.model.invariants import BranchChecker

    return (
        ("model actions (impl steps)", tuple(ACTIONS.values())),
        ("fingerprints", (Keys.key,)),
        ("invariant checks", (BranchChecker.check, discount_tampered)),
        ("situations (coverage)", (Coverage.observe,)),
        ("moves (hunt guards)", (Expander.moves,)),
    )


def _code_key(fn: Any) -> tuple[str, int, str]:
    code = fn.__code__
    return (code.co_filename, code.co_firstlineno, code.co_name)


@dataclass(frozen=True, slots=True)
class ConfigResult:
    """One configuration's measurement."""

    name: str
    jobs: int
    states: int
    transitions: int
    depth: int
    wall_s: float
    cpu_s: float
    """This process's processor time and, with ``jobs > 1``, its workers'."""
    cores: float
    """Processor seconds per wall second: how much of the machine the run got."""
    states_per_s: float
    transitions_per_s: float
    peak_rss_mb: float
    """The largest resident size seen during the search (sampled every 200 states)."""
    rss_growth_mb: float
    """That, less the resident size before the search (imports, the group's build)."""
    mb_per_million_states: float


def _rss_mb() -> float:
    with open("/proc/self/statm", encoding="ascii") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _cpu_s() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)  # workers, once reaped
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def measure(name: str, jobs: int = 1) -> ConfigResult:
    """Measure configuration ``name`` in this process (with ``jobs`` processes)."""
    config = BENCH_CONFIGS[name]
    top = [0.0]

    def sample(*_: Any) -> None:
        top[0] = max(top[0], _rss_mb())

    explorer = Explorer(config, progress=sample, progress_every=200, jobs=jobs)
    base = _rss_mb()
    cpu = _cpu_s()
    result = explorer.run()
    cpu = _cpu_s() - cpu
    sample()
    peak = top[0]
    growth = max(peak - base, 0.0)
    wall = max(result.seconds, 1e-9)
    return ConfigResult(
        name=name,
        jobs=jobs,
        states=result.states,
        transitions=result.transitions,
        depth=result.max_depth,
        wall_s=round(result.seconds, 3),
        cpu_s=round(cpu, 3),
        cores=round(cpu / wall, 2),
        states_per_s=round(result.states / wall, 1),
        transitions_per_s=round(result.transitions / wall, 1),
        peak_rss_mb=round(peak, 1),
        rss_growth_mb=round(growth, 1),
        mb_per_million_states=round(growth / result.states * 1e6, 1),
    )


def run(names: list[str], jobs: list[int] | None = None) -> list[ConfigResult]:
    """Measure each configuration, once per ``jobs`` value, each in a fresh process (its own
    peak memory)."""
    out = []
    for name in names:
        if name not in BENCH_CONFIGS:
            raise InvalidInput(f"unknown configuration {name!r}; known: {', '.join(BENCH_CONFIGS)}")
        for n in jobs or [1]:
            done = subprocess.run(
                [sys.executable, "-m", "spec.benchmarks.explore", name, str(n)],
                check=True,
                capture_output=True,
                text=True,
            )
            out.append(ConfigResult(**json.loads(done.stdout)))
    return out


def attribute(name: str = "smallest") -> tuple[float, list[tuple[str, float]]]:
    """Profile one search of ``name``; return its total time and each part's share of it
    (seconds, by the cumulative time of the part's entry points)."""
    explorer = Explorer(BENCH_CONFIGS[name])
    profiler = cProfile.Profile()
    profiler.enable()
    explorer.run()
    profiler.disable()
    stats = pstats.Stats(profiler)
    raw: dict[tuple[str, int, str], Any] = stats.stats  # type: ignore[attr-defined]
    cumulative = {where: row[3] for where, row in raw.items()}
    total = cumulative.get(_code_key(_Search.run), 0.0)
    parts = []
    counted = 0.0
    for part, entries in _parts():
        seconds = sum(cumulative.get(_code_key(e), 0.0) for e in entries)
        counted += seconds
        parts.append((part, seconds))
    parts.append(("search loop and edge records", max(total - counted, 0.0)))
    return total, parts


def register(sub: Any) -> None:
    """Add ``bench explore`` to the CLI."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "explore",
        help="explorer throughput (distinct states/s), memory per million states, profile",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--config",
        action="append",
        default=[],
        metavar="NAME",
        help=f"measure these ({', '.join(BENCH_CONFIGS)}; default: {', '.join(DEFAULT_CONFIGS)})",
    )
    parser.add_argument(
        "--jobs",
        action="append",
        type=parse_jobs,
        default=[],
        metavar="N",
        help="measure with N processes (repeatable: --jobs 1 --jobs 2; default 1)",
    )
    parser.add_argument(
        "--profile", action="store_true", help="also attribute the smallest search's time"
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(handler=_main)


def _main(args: argparse.Namespace) -> int:
    results = run(args.config or list(DEFAULT_CONFIGS), args.jobs or [1])
    profile = attribute() if args.profile else None
    if args.json:
        body: dict[str, Any] = {"configs": [asdict(r) for r in results]}
        if profile is not None:
            total, parts = profile
            body["profile"] = {
                "seconds": round(total, 3),
                "parts": {p: round(s, 3) for p, s in parts},
            }
        print(json.dumps(body, indent=2, sort_keys=True))
        return 0
    print(
        f"{'config':<10}{'jobs':>5}{'states':>9}{'transitions':>13}{'depth':>7}{'wall s':>9}"
        f"{'cpu s':>8}{'cores':>7}{'states/s':>10}{'trans/s':>10}{'vs 1':>7}{'peak MB':>9}"
        f"{'MB/M states':>13}"
    )
    single = {r.name: r.wall_s for r in results if r.jobs == 1}
    for r in results:
        ratio = f"{single[r.name] / max(r.wall_s, 1e-9):.2f}x" if r.name in single else "-"
        print(
            f"{r.name:<10}{r.jobs:>5}{r.states:>9}{r.transitions:>13}{r.depth:>7}"
            f"{r.wall_s:>9.2f}{r.cpu_s:>8.2f}{r.cores:>7.2f}{r.states_per_s:>10.0f}"
            f"{r.transitions_per_s:>10.0f}{ratio:>7}{r.peak_rss_mb:>9.0f}"
            f"{r.mb_per_million_states:>13.0f}"
        )
    if profile is not None:
        total, parts = profile
        print(f"where the smallest search's {total:.2f} s go (cProfile, cumulative):")
        for part, seconds in parts:
            print(f"  {part:<32}{seconds:>7.2f} s  {100 * seconds / max(total, 1e-9):5.1f} %")
    return 0


if __name__ == "__main__":  # the worker of :func:`run`: one configuration, JSON on stdout
    print(json.dumps(asdict(measure(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 1))))
