"""The explorer's stage of ``snapsync check``: one configuration, explored completely.

:data:`CHECK_CONFIG` is a lagging reader, two providers (the leader and one in-sync
reader) and the compact timing, small enough to be explored completely in about
twenty seconds on the shared machine. Under ``reference`` the stage is as expected
when the exploration is complete and finds no violation, no dead end and no stall;
under ``mosaik-0.3.13`` when it finds a violation. Both stop at the first violation,
and at :data:`STATE_BOUND` states.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from impl.profile import Profile
from spec.explore.config import ExploreConfig
from spec.explore.report import explore

__all__ = ["CHECK_CONFIG", "STATE_BOUND", "StageOutcome", "run_stage"]

CHECK_CONFIG = ExploreConfig(
    kind="map", items=1, batch=1, readers=1, lagging=1, writes=0, retries=0
)
"""The configuration ``snapsync check`` explores (pinned as ``check`` in the table)."""


@dataclass(frozen=True, slots=True)
class StageOutcome:
    """The stage's row: deterministic text, verdict and counts; the speed apart."""

    outcome: str
    ok: bool
    """The outcome is the one the profile calls for."""
    counts: dict[str, Any] = field(default_factory=dict)
    """States, transitions, depth, what was found: the same on every machine."""
    measures: dict[str, Any] = field(default_factory=dict)
    """The search's seconds and distinct states per second."""
    interrupted: bool = False
    """A stop (Ctrl-C, SIGTERM) ended the search: the row covers what was explored."""


STATE_BOUND = 100_000
"""At most this many states (about ten times :data:`CHECK_CONFIG`'s): a broken
implementation can make the state space unbounded (a provider that offers again at every
tick makes a new state at every poll), and the stage must end with a verdict, not run
until a watchdog stops it."""


def run_stage(profile: Profile) -> StageOutcome:
    """Explore :data:`CHECK_CONFIG` under ``profile``; return the row.

    Both profiles stop at the first violation: under ``reference`` a violation already
    decides the row (not as expected), and exploring on through a broken implementation's
    state space can take without end. A search cut at :data:`STATE_BOUND` is not complete,
    so not as expected under ``reference``.
    """
    bound = CHECK_CONFIG.max_states if CHECK_CONFIG.max_states is not None else STATE_BOUND
    config = replace(CHECK_CONFIG, profile=profile, stop_on_first=True, max_states=bound)
    report = explore(config)
    r = report.result
    live = report.liveness
    found = sorted(r.violations)
    parts = [f"{r.states} states, {r.transitions} transitions, depth {r.max_depth}"]
    parts.append("complete" if r.complete else f"stopped ({r.stopped})")
    if found:
        parts.append("violations: " + ", ".join(found))
    else:
        parts.append("no violation")
    if live is not None:
        parts.append(f"{live.dead_ends} dead ends, {len(live.stalls)} stalls")
    counts: dict[str, Any] = {
        "states": r.states,
        "transitions": r.transitions,
        "depth": r.max_depth,
        "complete": r.complete,
        "violations": found,
        "dead_ends": None if live is None else live.dead_ends,
        "stalls": None if live is None else len(live.stalls),
    }
    measures = {
        "search_s": round(r.seconds, 3),
        "states_per_s": round(r.states / max(r.seconds, 1e-9), 1),
    }
    text = "; ".join(parts)
    if profile.hazards:
        ok = bool(found)
    else:
        clean = live is not None and live.dead_ends == 0 and not live.stalls
        ok = r.complete and not found and clean
    if r.interrupted:
        return StageOutcome(f"stopped ({r.stopped}); {text}", False, counts, measures, True)
    return StageOutcome(text, ok, counts, measures)
