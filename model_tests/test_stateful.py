"""Hypothesis stateful tests: the group machines of every campaign under ``reference``.

Each campaign's :class:`~spec.hunt.machine.GroupMachine` runs with the active
settings profile (``ci`` by default: derandomized), scaled down to a quarter of
its examples so the whole file stays within its CI budget (``thorough`` runs
500 per campaign). The reference must pass every one; the checks' power is
shown by ``test_hunt.py``'s meta-tests (each hazard switch makes them fail).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test

from impl.profile import REFERENCE
from spec.hunt.campaigns import CAMPAIGNS, Campaign, get_campaign
from spec.hunt.coverage import SITUATIONS, Coverage
from spec.hunt.driver import Driver
from spec.hunt.machine import (
    SAFETY_IDS,
    SCHEDULER_RULES,
    SESSION,
    GroupMachine,
    machine_class,
    run_prelude,
)
from spec.hunt.scenario import GroupShape, build_group, world_setup
from spec.model.actions import ACTIONS


def _default_examples() -> int:
    """``max_examples`` of the active settings profile (model_tests/conftest.py)."""
    active = settings.default
    return active.max_examples if active is not None else 50


GROUP_CAMPAIGNS = [c for c in CAMPAIGNS if not c.differential]


def _settings(campaign: Campaign) -> settings:
    return settings(
        settings.default,
        max_examples=max(4, _default_examples() // 4),
        stateful_step_count=campaign.steps,
        suppress_health_check=list(HealthCheck),
        database=None,
    )


@pytest.mark.parametrize("campaign", GROUP_CAMPAIGNS, ids=lambda c: c.name)
def test_reference_passes_campaign(campaign: Campaign) -> None:
    SESSION.__init__()  # type: ignore[misc]
    run_state_machine_as_test(machine_class(campaign, REFERENCE), settings=_settings(campaign))
    assert SESSION.failures == []
    assert SESSION.rule_steps > 0
    assert SESSION.model_steps > 0


def test_rules_are_model_actions() -> None:
    # Every rule that is not a driver is named after a model action (``expire_ttl`` is
    # ``advance_time`` to a snapshot's TTL deadline: a targeted time, one action).
    rules = {r.function.__name__ for r in GroupMachine.setup_state().rules}
    composite = {"settle", "settle_until", "drain_to_quiescence", "expire_ttl"}
    assert rules - composite - SCHEDULER_RULES <= set(ACTIONS)
    assert rules & set(ACTIONS) >= {"deliver_message", "advance_time", "client_write"}


def test_one_invariant_per_safety_id() -> None:
    names = {i.function.__name__ for i in GroupMachine.setup_state().invariants}
    for ident in SAFETY_IDS:
        prefix = ident.lower()
        assert any(n.startswith((prefix, prefix.replace("-", "_"))) for n in names) or (
            ident in ("PANIC", "STEP", "FRESH")
        ), ident
    assert {"no_panic", "no_refused_step", "raft_es_election_safety", "fresh_anchor"} <= names


def test_campaign_rules_exist() -> None:
    for campaign in GROUP_CAMPAIGNS:
        rules = {r.function.__name__ for r in machine_class(campaign).setup_state().rules}
        assert campaign.rules <= rules, campaign.name


def test_invalid_campaign_name() -> None:
    from impl.errors import InvalidInput

    with pytest.raises(InvalidInput, match="unknown campaign"):
        get_campaign("no-such-campaign")


def test_invalid_prelude_step() -> None:
    shape = GroupShape(kind="map", items=1, readers=1, lagging=1)
    d = Driver(world_setup(shape, REFERENCE))
    build_group(d, shape)
    with pytest.raises(ValueError, match="unknown prelude step"):
        run_prelude(d, ("teleport",))


@pytest.mark.parametrize(
    ("campaign", "situations"),
    [
        ("late-responses", {"fetch_timeout", "late_response_after_timeout"}),
        ("lost-sources", {"source_lost", "fetch_timeout"}),
        ("buffer-gaps", {"bond_break_during_catchup", "buffer_gap"}),
        ("stale-offers", {"stale_offer"}),
        ("positions", {"write_during_sync", "session_finalize"}),
        ("broken-bond-responses", {"delivered_after_break"}),
        ("writer-partition", {"writer_partition", "election"}),
    ],
)
def test_targeted_campaign_reaches_its_deep_states(campaign: str, situations: set[str]) -> None:
    c = get_campaign(campaign)
    SESSION.__init__()  # type: ignore[misc]
    run_state_machine_as_test(
        machine_class(c, REFERENCE),
        settings=settings(
            settings.default,
            max_examples=max(10, _default_examples() // 2),
            stateful_step_count=c.steps,
            suppress_health_check=list(HealthCheck),
            database=None,
        ),
    )
    reached = {k for k, v in SESSION.coverage.items() if v > 0}
    assert situations <= reached, sorted(situations - reached)


def test_coverage_counts_a_catch_up() -> None:
    shape = GroupShape(kind="map", items=4, batch=1, readers=2, lagging=2)
    d = Driver(world_setup(shape, REFERENCE))
    build_group(d, shape)
    result = d.drain()
    assert result.converged
    counts = d.coverage.as_dict()
    assert counts["session_start"] == 2
    assert counts["session_finalize"] == 2
    assert counts["multi_chunk_anchor"] == 2
    assert set(SITUATIONS) <= set(counts)
    merged = Coverage()
    merged.merge(d.coverage)
    merged.merge(d.coverage)
    assert merged.counts["session_start"] == 4
    assert "session_start" in merged.reached()
