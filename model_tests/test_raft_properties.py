"""Raft's safety properties by name (RAFT-ES, RAFT-LAO, RAFT-LM, RAFT-LC, RAFT-SM), each
found by the hunt's raft campaigns on a deliberately broken Raft rule, with a shrunk trace
that replays; and H31, two leaders of one term with every bond up.

Each broken rule is a one-line change of an ``impl.raft`` step, monkeypatched: the hunt,
restricted to the ``raft`` family and two rounds of its schedule (under 15 s on an idle
machine), must report the property.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import impl.raft
from impl.collections.map import MapInsert
from impl.profile import REFERENCE, Hazard, Profile
from impl.records import evolve
from impl.types import Cursor
from model_tests.test_raft_safety import FIVE, drain
from spec.hunt import machine
from spec.hunt.campaigns import CAMPAIGNS
from spec.hunt.driver import Driver
from spec.hunt.runner import hunt
from spec.hunt.scenario import GroupShape, build_group, world_setup
from spec.model.actions import (
    client_write,
    deliver_message,
    node_poll_action,
    start_election_action,
)
from spec.sim.replay import replay_file

RAFT = [c for c in CAMPAIGNS if c.family == "raft"]


def _two_votes() -> Callable[..., Any]:
    real = impl.raft.maybe_cast_vote
    # RAFT-ES: the voter forgets the vote it cast in this term (grants twice).
    return lambda node, ctx, sender, rv: real(evolve(node, last_vote=None), ctx, sender, rv)


def _no_up_to_date_check() -> Callable[..., Any]:
    real = impl.raft.maybe_cast_vote

    def vote(node: Any, ctx: Any, sender: Any, rv: Any) -> Any:
        # RAFT-LC: a candidate whose log is behind is taken as equal (granted).
        last = node.log.last()
        return real(
            node, ctx, sender, rv if last <= rv.log_position else evolve(rv, log_position=last)
        )

    return vote


def _leader_drops_its_tail() -> Callable[..., Any]:
    real = impl.raft.leader_publish_batch

    def publish(node: Any, ctx: Any) -> Any:
        # RAFT-LAO: the leader truncates its uncommitted tail before appending a batch.
        if node.role.client_commands and node.log.end() > node.committed.index:
            node = evolve(node, log=node.log.truncate(node.committed.index + 1))
        return real(node, ctx)

    return publish


def _no_truncation() -> Callable[..., Any]:
    # RAFT-LM: R4 never truncates a conflicting suffix (appends past the mismatch).
    return lambda node, log, at: log


def _commit_cursor_of_the_current_term() -> Callable[..., Any]:
    real = impl.raft.commit_up_to

    def commit(node: Any, ctx: Any, index: Any) -> Any:
        # RAFT-SM: a leader records its commit with its current term, not the entry's.
        new = real(node, ctx, index)
        if new.committed != node.committed and new.leader == new.id:
            new = evolve(new, committed=Cursor(new.term, new.committed.index))
        return new

    return commit


BROKEN = {
    "RAFT-SM": ("commit_up_to", _commit_cursor_of_the_current_term),
    "RAFT-ES": ("maybe_cast_vote", _two_votes),
    "RAFT-LC": ("maybe_cast_vote", _no_up_to_date_check),
    "RAFT-LAO": ("leader_publish_batch", _leader_drops_its_tail),
    "RAFT-LM": ("_truncate", _no_truncation),
}


@pytest.mark.parametrize("ident", sorted(BROKEN))
def test_the_raft_campaigns_find_each_property_on_a_broken_rule(
    ident: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    name, make = BROKEN[ident]
    monkeypatch.setattr(impl.raft, name, make())
    monkeypatch.setattr(machine, "_GROUPS", {})  # groups built by the reference rules
    # Two rounds of the schedule (ten calls, seeds 1-10): the same work at any speed, as
    # the machine is shared; on an idle one each is found within 9 s (docs/hunt.md §10).
    report = hunt(
        REFERENCE,
        budget_s=120,
        rounds=2,
        campaigns=RAFT,
        stop_on_first=True,
        trace_dir=tmp_path,
    )
    found = [v for v in report.violations if v.id == ident]
    assert found, [(v.id, v.campaign, v.detail) for v in report.violations]
    v = found[0]
    assert v.trace is not None
    replayed = replay_file(v.trace)
    assert replayed.complete
    assert replayed.divergence is None
    assert any(r.get("violations") for r in replayed.records if r.get("type") == "step")


def test_each_property_holds_on_the_reference_rules() -> None:
    report = hunt(REFERENCE, budget_s=6, campaigns=RAFT, seed_base=7)
    assert report.violations == [], [v.as_json() for v in report.violations]


# -- H31: an abstainer grants a second candidate of the same term ----------------------------


def _two_leaders_of_term_3(profile: Profile) -> Driver:
    """w0 writes X (reaching w1 only); w2 stands for term 2 (w3, w4 grant it, X's
    AppendEntries is then stale there); w0 and w2 both stand for term 3: w1 grants w0,
    w3 and w4 abstain for w0 (behind it) and grant w2 (equal to it). Every bond is up."""
    d = Driver(world_setup(FIVE, profile))
    build_group(d, FIVE)
    d.settle(0)
    d.do(client_write, "w0", (MapInsert(100, 1),))
    d.do(node_poll_action, "w0")
    d.do(deliver_message, "w0", "w1")
    d.do(start_election_action, "w2")
    for other in ("w3", "w4", "w0", "w1"):
        drain(d, "w2", other)
    for other in ("w3", "w4"):
        drain(d, "w0", other)
    d.do(start_election_action, "w0")
    d.do(start_election_action, "w2")
    for other in ("w1", "w3", "w4", "w2"):
        drain(d, "w0", other)
    for other in ("w1", "w3", "w4", "w0"):
        drain(d, "w2", other)
    for other in ("w1", "w2", "w3", "w4"):
        drain(d, other, "w0")
    for other in ("w0", "w1", "w3", "w4"):
        drain(d, other, "w2")
    d.do(node_poll_action, "w0")
    d.do(node_poll_action, "w2")
    return d


def test_h31_an_abstainer_grants_a_second_candidate_of_the_same_term() -> None:
    # mosaik (H31 on): the abstentions of w3 and w4 bind nothing, both lead term 3.
    d = _two_leaders_of_term_3(REFERENCE.with_hazards([Hazard.H31]))
    assert d.world.leaders() == ("w0", "w2")
    assert not d.partitioned
    assert [(f.id, f.node, f.limitation) for f in d.findings] == [("RAFT-ES", "w2", None)]
    assert "(H31:" in d.findings[0].detail
    # The reference: an abstention binds the voter for the term, as a grant does.
    fixed = _two_leaders_of_term_3(REFERENCE)
    assert fixed.world.leaders() == ("w0",)
    assert fixed.findings == []
    assert fixed.world.nodes["w3"].node.last_vote == (3, fixed.world.nodes["w0"].peer)


def test_a_double_grant_is_not_h31(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same two leaders because a voter granted twice (equal logs) is a violation."""
    monkeypatch.setattr(impl.raft, "maybe_cast_vote", _two_votes())
    d = Driver(world_setup(FIVE, REFERENCE))
    build_group(d, FIVE)
    d.settle(0)
    d.do(start_election_action, "w1")
    d.do(start_election_action, "w2")
    for src in ("w1", "w2"):
        for other in ("w0", "w3", "w4"):
            drain(d, src, other)
    for other in ("w0", "w3", "w4"):
        drain(d, other, "w1")
        drain(d, other, "w2")
    d.do(node_poll_action, "w1")
    d.do(node_poll_action, "w2")
    assert ("RAFT-ES", None) in [(f.id, f.limitation) for f in d.findings]


# -- H30-tail: an older term's tail commits only with the leader's next write ----------------

THREE = GroupShape(kind="map", items=1, batch=1, writers=3, readers=0, lagging=0,
                   joint_election=True)  # fmt: skip


def _w1_leads_with_w0s_tail(elections: int, profile: Profile = REFERENCE) -> Driver:
    """w0 writes X (term 1), which reaches w1 only; w1 stands ``elections`` times in a row
    (terms 2, 3, ...) and wins the last with w0's vote: a leader whose log ends with X."""
    d = Driver(world_setup(THREE, profile))
    build_group(d, THREE)
    d.settle(0)
    d.do(client_write, "w0", (MapInsert(100, 1),))
    d.do(node_poll_action, "w0")
    d.do(deliver_message, "w0", "w1")
    for _ in range(elections):
        d.do(start_election_action, "w1")
    return d


def test_h30_tail_an_older_terms_tail_waits_for_the_next_write() -> None:
    # Term 2: X is of the term just before, so the election commits it (H30's fix).
    d = _w1_leads_with_w0s_tail(1)
    assert d.drain().converged
    # Term 3: X is older; only an entry of term 3 commits it — the documented limitation.
    d = _w1_leads_with_w0s_tail(2)
    result = d.drain()
    assert d.world.leaders() == ("w1",)
    assert [(f.id, f.node, f.limitation) for f in result.findings] == [("L1", "w1", "H30-tail")]
    assert "no entry of its own term" in result.findings[0].detail
    # The next client write commits it, with the write's own entry.
    d = _w1_leads_with_w0s_tail(2)
    d.drain()
    d.do(client_write, "w1", (MapInsert(101, 2),))
    d.limited = None
    d.findings.clear()
    assert d.drain().converged
    # Under H30 (mosaik) every inherited tail waits, whatever its term: the hazard, L1.
    d = _w1_leads_with_w0s_tail(2, REFERENCE.with_hazards([Hazard.H30]))
    assert [(f.id, f.limitation) for f in d.drain().findings] == [("L1", None)]


def test_a_stall_of_another_shape_is_l1(monkeypatch: pytest.MonkeyPatch) -> None:
    """A broken rule that stalls a tail of the term just before (Raft's §5.4.2 without the
    consecutive-term case: only the leader's own term commits) is a violation."""
    monkeypatch.setattr(
        impl.raft,
        "commits_by_counting",
        lambda node, ctx, index: node.log.term_at(index) == node.term,
    )
    d = _w1_leads_with_w0s_tail(1)
    result = d.drain()
    assert d.world.leaders() == ("w1",)
    assert [(f.id, f.limitation) for f in result.findings] == [("L1", None)]
    assert "uncommitted entries up to 2" in result.findings[0].detail
