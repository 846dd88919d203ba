"""Raft's liveness assumptions by name: RAFT-STABLE and RAFT-COMMITTEE (spec/model/invariants.py).

A follower of a live leader that stands for election, or a leader whose own log does not
count towards its quorum, leaves every log safe and the group converging: no safety
property sees it. Each broken variant below is a porter's one-line bug in impl/raft.py,
applied by monkeypatching the module (its functions call each other through it).
"""

from __future__ import annotations

import pytest

import impl.raft as raft
from impl.effects import Effect, Ignored, IgnoreReason
from impl.messages import AppendEntries
from impl.node_state import FollowerRole, NodeContext, NodeState
from impl.profile import REFERENCE
from impl.records import evolve
from impl.types import Index, PeerId, Term
from spec.hunt.client_commands import seed_commands
from spec.hunt.driver import Driver
from spec.hunt.scenario import ELECTION_TIMEOUT_MS, REDRAW, GroupShape, build_group, world_setup
from spec.model.actions import (
    advance_time,
    break_bond,
    client_write,
    deliver_message,
    join_late,
    node_poll_action,
)

Step = tuple[NodeState, tuple[Effect, ...]]

WRITERS = GroupShape(kind="map", items=2, batch=1, writers=2, readers=1, lagging=0)


def _findings(d: Driver) -> list[str]:
    return [f.id for f in d.findings]


def _two_writers() -> Driver:
    """Form a group of two writers and a reader, then let it run past every election
    timeout with the leader's heartbeats delivered."""
    d = Driver(world_setup(WRITERS, REFERENCE))
    build_group(d, WRITERS)
    d.settle(3 * ELECTION_TIMEOUT_MS)
    return d


def test_the_reference_keeps_its_leader_and_counts_itself() -> None:
    found = _findings(_two_writers())
    assert "RAFT-STABLE" not in found
    assert "RAFT-COMMITTEE" not in found


def test_a_follower_whose_deadline_an_append_does_not_push_stands(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """R4 without the re-arm: the follower stands at its first deadline, heartbeats or not."""
    correct = raft.follower_on_append_entries

    def broken(node: NodeState, ctx: NodeContext, sender: PeerId, ae: AppendEntries) -> Step:
        deadline = raft._follower_role(node, "R4").election_deadline_ms
        node, effects = correct(node, ctx, sender, ae)
        return evolve(node, role=evolve(node.role, election_deadline_ms=deadline)), effects

    monkeypatch.setattr(raft, "follower_on_append_entries", broken)
    assert "RAFT-STABLE" in _findings(_two_writers())


def test_a_leader_missing_from_its_committee_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """R3's dead-voter sweep over the bonds alone drops the leader from its committee."""

    def broken(node: NodeState, ctx: NodeContext, follower: PeerId, log_index: Index) -> Step:
        role = raft._leader_role(node, "R3")
        committee = raft.committee_remove_dead(role.committee, ctx.bonds)
        committee = raft.committee_record(committee, follower, log_index)
        return raft._leader_advance_commit(
            evolve(node, role=evolve(role, committee=committee)), ctx
        )

    monkeypatch.setattr(raft, "leader_record_vote", broken)
    assert "RAFT-COMMITTEE" in _findings(_two_writers())


def test_a_leader_that_records_itself_behind_its_log_is_caught(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """R1 records the leader's own acknowledgement one index short of its new last entry."""
    correct = raft.leader_record_vote

    def broken(node: NodeState, ctx: NodeContext, follower: PeerId, log_index: Index) -> Step:
        short = Index(log_index - 1) if follower == node.id else log_index
        return correct(node, ctx, follower, short)

    monkeypatch.setattr(raft, "leader_record_vote", broken)
    assert "RAFT-COMMITTEE" in _findings(_two_writers())


def _catching_up_writer() -> Driver:
    """A writer joins after the data is written, starts a catch-up session, and then
    nothing is delivered for longer than its election timeout."""
    shape = GroupShape(kind="map", items=4, batch=1, writers=1, readers=1, lagging=0)
    d = Driver(world_setup(shape, REFERENCE))
    build_group(d, shape)
    d.do(join_late, "w1", writer=True, election_timeout_ms=2 * ELECTION_TIMEOUT_MS, redraw=REDRAW)
    d.do(client_write, "w0", seed_commands(shape.kind, 1))
    d.settle(0, until="session")
    slot = d.world.nodes["w1"]
    assert isinstance(slot.node.role, FollowerRole)
    assert slot.node.role.catchup is not None
    d.do(advance_time, d.world.now_ms + 3 * ELECTION_TIMEOUT_MS)
    d.do(node_poll_action, "w1")  # past its election deadline, before the session's retry
    return d


def test_the_reference_does_not_stand_while_catching_up() -> None:
    assert "RAFT-STABLE" not in _findings(_catching_up_writer())


def test_a_writer_that_stands_while_catching_up_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """R9 without either guard: the poll does not stop at a pending session, and the
    election timeout does not check for one."""

    def poll(node: NodeState, ctx: NodeContext) -> Step:
        node, effects, _ = raft.follower_poll_catchup(node, ctx)
        role = raft._follower_role(node, "election timeout")
        if ctx.now_ms < role.election_deadline_ms:
            return node, effects
        node, election = raft.start_election(node, ctx, Term(node.term + 1))
        return node, effects + election

    monkeypatch.setattr(raft, "follower_poll", poll)
    assert "RAFT-STABLE" in _findings(_catching_up_writer())


def test_an_append_received_before_a_writer_bond_broke_is_handled_not_dropped() -> None:
    """Why ``node-unbonded-sender-accepted`` is an equivalent mutant (docs/model.md): the
    model delivers an AppendEntries a follower had received before its bond to the leader
    broke with the leader still in its bond table (mosaik queues the bond's Terminated
    behind it), so the dispatch's unbonded-sender guard never sees a delivery."""
    d = _two_writers()
    d.do(client_write, "w0", seed_commands(WRITERS.kind, 1))
    d.do(node_poll_action, "w0")  # R1: the AppendEntries is queued to w1
    end = d.world.nodes["w1"].node.log.end()
    d.do(break_bond, "w0", "w1", received_by_b=1)
    t = d.do(deliver_message, "w0", "w1")
    ignored = [e for o in t.outcomes for e in o.effects if isinstance(e, Ignored)]
    assert not [e for e in ignored if e.reason is IgnoreReason.UNKNOWN_PEER]
    assert d.world.nodes["w1"].node.log.end() == end + 1
