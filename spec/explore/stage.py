"""The explorer's stage of ``snapsync check``: one configuration, explored completely.

:data:`CHECK_CONFIG` is a lagging reader, two providers (the leader and one in-sync
reader) and the compact timing, small enough to be explored completely in about
twenty seconds on the shared machine. Under ``reference`` the stage is as expected
when the exploration is complete and finds no violation, no dead end and no stall;
under ``mosaik-0.3.13`` when it finds a violation (it stops at the first one).
"""

from __future__ import annotations

from dataclasses import replace

from impl.profile import Profile
from spec.explore.config import ExploreConfig
from spec.explore.report import explore

__all__ = ["CHECK_CONFIG", "run_stage"]

CHECK_CONFIG = ExploreConfig(
    kind="map", items=1, batch=1, readers=1, lagging=1, writes=0, retries=0
)
"""The configuration ``snapsync check`` explores (pinned as ``check`` in the table)."""


def run_stage(profile: Profile) -> tuple[str, bool]:
    """Explore :data:`CHECK_CONFIG` under ``profile``; return the outcome line and whether
    it is the one the profile calls for."""
    config = replace(CHECK_CONFIG, profile=profile, stop_on_first=bool(profile.hazards))
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
    text = "; ".join(parts)
    if profile.hazards:
        return text, bool(found)
    clean = live is not None and live.dead_ends == 0 and not live.stalls
    return text, r.complete and not found and clean
