"""Provider lifetimes: the PROV-* checks, the provider campaigns, and the LIVELOCK bound.

Every check is shown failing on a one-line provider bug (model_tests/provider_mutants.py)
and passing on the reference; the hunt restricted to the provider campaigns finds
every bug of the catalogue within its budget, with a shrunk trace that replays.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from impl.profile import MOSAIK_0_3_13, REFERENCE
from model_tests.provider_mutants import MUTANTS, ProviderMutant, applied
from spec.hunt.campaigns import CAMPAIGNS, Campaign
from spec.hunt.driver import SPIN_LIMIT, Driver
from spec.hunt.findings import recheck
from spec.hunt.machine import run_prelude
from spec.hunt.runner import hunt
from spec.hunt.scenario import HEARTBEAT_MS, GroupShape, build_group, world_setup
from spec.hunt.swarm import run_walks
from spec.model.actions import advance_time
from spec.model.invariants import INVARIANTS, Checker
from spec.model.lifetime import PROVIDER_IDS
from spec.scenarios import SCENARIOS, select_cases
from spec.scenarios.registry import run_case
from spec.sim.replay import replay_file
from spec.sim.simulator import POLL_SPIN_LIMIT

PROVIDER_CAMPAIGNS = [c for c in CAMPAIGNS if c.family == "provider"]
BY_NAME = {m.name: m for m in MUTANTS}

# A provider's life in a few steps: r8 catches up, a write, r8 restarts and asks again
# (the providers take a second snapshot), then the first snapshots expire.
_LIFE = ("drain", "write", "restart:r8", "drain")


def _life(shape: GroupShape | None = None, checker_ids: tuple[str, ...] | None = None) -> Driver:
    shape = shape or GroupShape(kind="map", items=3, batch=1, readers=1, lagging=1)
    d = Driver(world_setup(shape, REFERENCE))
    if checker_ids is not None:
        d.checker = Checker(d.setup, tuple(i for i in INVARIANTS if set(i.ids) & set(checker_ids)))
    build_group(d, shape)
    # Time passes between the offer and the fetches (a fetch must refresh the TTL).
    run_prelude(d, ("until:fetching",))
    d.do(advance_time, d.world.now_ms + HEARTBEAT_MS)
    run_prelude(d, _LIFE)
    d.settle(3 * d.setup.config.snapshot_ttl_ms)
    return d


def _ids(d: Driver) -> set[str]:
    return {f.id for f in d.findings}


def test_a_provider_lifetime_is_clean_in_the_reference() -> None:
    d = _life()
    assert not _ids(d), d.findings
    assert d.coverage.counts["provider_second_snapshot"] > 0
    assert d.coverage.counts["provider_expiry"] > 0


@pytest.mark.parametrize(
    ("mutant", "ident"),
    [
        ("answer-to-self", "PROV-SERVE"),
        ("fetch-no-refresh", "PROV-TTL"),
        ("fetch-refresh-wrong-timeout", "PROV-TTL"),
        ("prune-inverted", "PROV-EXPIRY"),
        ("prune-off-by-one", "PROV-EXPIRY"),
        ("wake-at-last-ttl", "PROV-EXPIRY"),
        ("offer-counts-snapshots", "PROV-OFFER"),
        ("channel-not-drained", "PROV-OFFER"),
    ],
)
def test_each_provider_check_fails_on_a_broken_rule(mutant: str, ident: str) -> None:
    """The check alone (no other invariant) sees the bug in a provider's life."""
    with applied(BY_NAME[mutant]):
        d = _life(checker_ids=(ident,))
    assert ident in _ids(d), d.findings


def test_a_provider_that_never_rests_is_a_livelock_not_a_hang() -> None:
    """P3 that never drains its channel offers again at every tick, at one instant: fair
    delivery stops after SPIN_LIMIT polls of that node with a LIVELOCK finding naming it."""
    shape = GroupShape(kind="map", items=2, batch=1, readers=1, lagging=1)
    with applied(BY_NAME["channel-not-drained"]):
        d = Driver(world_setup(shape, REFERENCE))
        d.checker = Checker(d.setup, ())  # no per-step check: only the bound can stop it
        build_group(d, shape)
        start = d.steps
        result = d.drain()
    livelock = [f for f in d.findings if f.id == "LIVELOCK"]
    assert livelock, d.findings
    assert livelock[0].node is not None
    assert f"polled {livelock[0].node}" in livelock[0].detail
    assert d.steps - start <= 20 * SPIN_LIMIT
    assert not result.converged


def test_a_reference_drain_never_spins() -> None:
    """The bound is far above what a reference instant needs."""
    d = _life(GroupShape(kind="vec", items=6, batch=1, readers=2, lagging=2))
    assert "LIVELOCK" not in _ids(d)


@pytest.mark.parametrize("campaign", PROVIDER_CAMPAIGNS, ids=lambda c: c.name)
def test_provider_campaigns_are_clean_in_both_profiles(campaign: Campaign) -> None:
    assert run_walks(campaign, REFERENCE, walks=3, run_seed=3) is None
    failure = run_walks(campaign, MOSAIK_0_3_13, walks=3, run_seed=3, shrink_failures=False)
    if failure is not None:  # a known hazard of mosaik, never a provider-lifetime check
        assert not any(i in str(failure) for i in PROVIDER_IDS), failure


def test_provider_campaigns_reach_the_provider_lifetime_situations() -> None:
    report = hunt(REFERENCE, budget_s=60, campaigns=PROVIDER_CAMPAIGNS, rounds=1, walks_per_call=5)
    assert not report.violations
    for situation in (
        "provider_expiry",
        "provider_second_snapshot",
        "provider_holds_several",
        "provider_reoffer",
        "provider_refetch_dropped",
        "provider_shared",
        "provider_log_moved",
        "ttl_expiry_mid_fetch",
    ):
        assert report.coverage.get(situation, 0) > 0, situation


# The bugs the provider hunt finds within a second or two run by default; the rest
# (found in 3–13 s: they need a full catch-up to fail L1, or the rarer moments) are slow.
_FAST = {
    "fetch-refresh-wrong-timeout",
    "prune-inverted",
    "prune-off-by-one",
    "wake-at-last-ttl",
    "offer-counts-snapshots",
    "answer-to-self",
}


@pytest.mark.parametrize(
    "mutant",
    [m if m.name in _FAST else pytest.param(m, marks=pytest.mark.slow) for m in MUTANTS],
    ids=lambda m: m.name,
)
def test_the_provider_hunt_finds_each_bug_with_a_replayable_trace(
    mutant: ProviderMutant, tmp_path: Path
) -> None:
    with applied(mutant):
        report = hunt(
            REFERENCE,
            budget_s=15,
            campaigns=PROVIDER_CAMPAIGNS,
            stop_on_first=True,
            trace_dir=tmp_path,
            shrink_budget_s=10,
        )
        assert report.violations, f"{mutant.name}: nothing found in 15 s"
        v = report.violations[0]
        assert v.time_to_find_s < 15
        assert v.trace is not None
        replayed = replay_file(v.trace)
        assert replayed.exact, replayed.divergence
        assert v.id in {f.id for f in recheck(v.trace)}


def test_a_scenario_on_a_provider_that_never_rests_ends_as_a_livelock() -> None:
    """mosaik's scenarios on the simulator: the same bug ends a case at once as a
    ``livelock`` naming the node that is always due, not after its whole step budget."""
    (case,) = select_cases(SCENARIOS, "map/single_entry")
    with applied(BY_NAME["channel-not-drained"]):
        result = run_case(case, REFERENCE)
    assert result.outcome == "livelock", result
    assert result.message is not None
    assert "rounds of polls" in result.message
    assert result.steps <= POLL_SPIN_LIMIT + 100
    assert run_case(case, REFERENCE).outcome == "pass"
