"""Raft's safety under mosaik's committee: H29, a partition between writers (a limitation).

mosaik has no fixed membership: a candidate needs a majority of the peers it
could ask (its bonds, minus abstainers: candidate.rs:110-116, 326-332) and a
leader drops voters without a live bond (leader.rs:600-617). So both sides of a
partition between writers can lead and commit. The model checks Raft's safety
properties and the hunt records their failure under such a partition as the
documented limitation H29 of both profiles:

* ``RAFT-LC`` — leader completeness: a node that becomes leader holds every
  committed entry;
* ``RAFT-SM`` — state machine safety: a leader never commits an entry other than
  the one already committed at that index;
* ``RAFT`` — election safety: one leader per term; a second leader that could not
  ask the first (a partition) is H29, one that asked it is a real failure.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

import spec.hunt.driver as driver_module
from impl.collections.map import MapInsert
from impl.node_state import CandidateRole
from impl.profile import MOSAIK_0_3_13, REFERENCE, Profile
from spec.hunt.driver import Driver, limitation_of
from spec.hunt.scenario import GroupShape, build_group, world_setup
from spec.model.actions import (
    Transition,
    advance_time,
    break_bond,
    client_write,
    deliver_message,
    node_poll_action,
    restore_bond,
)
from spec.model.invariants import Violation

PARTITION = GroupShape(kind="map", items=1, batch=1, writers=2, readers=1, lagging=0,
                       joint_election=True)  # fmt: skip


def _isolated_w0(profile: Profile) -> Driver:
    """w0 leads a committee {w0, w1} (and r1 under readers-vote); then w0 is cut off."""
    d = Driver(world_setup(PARTITION, profile))
    build_group(d, PARTITION)
    assert d.world.leaders() == ("w0",)
    d.do(break_bond, "w0", "w1")
    d.do(break_bond, "r1", "w0")
    return d


def _write(d: Driver, name: str, key: int) -> None:
    d.do(client_write, name, (MapInsert(key, key),))
    d.do(node_poll_action, name)


def test_h29_a_writer_cut_off_from_the_leader_leads_without_a_committed_entry() -> None:
    d = _isolated_w0(REFERENCE)
    _write(d, "w0", 10)  # w0's next R3 drops the voters it lost: it commits alone
    assert d.world.nodes["w0"].node.committed.index == 2
    d.settle(4_001)  # w1 times out and wins with r1 abstaining
    limited = d.limited
    assert limited is not None
    assert (limited.id, limited.node, limited.limitation) == ("RAFT-LC", "w1", "H29")
    assert "without committed entry 2" in limited.detail
    # What follows is the limitation's consequence: nothing more is judged.
    _write(d, "w1", 11)
    assert d.drain().findings == ()
    assert [f.id for f in d.findings] == ["RAFT-LC"]


def test_under_readers_vote_the_same_failure_is_a_violation_not_the_limitation() -> None:
    """mosaik 0.3.13: r1 grants w1's vote. Readers' votes make these failures reachable
    without a partition (H29-readers), so they are reported, and judging goes on."""
    d = _isolated_w0(MOSAIK_0_3_13)
    _write(d, "w0", 10)
    d.settle(4_001)
    assert d.limited is None
    first = d.findings[0]
    assert (first.id, first.node, first.limitation) == ("RAFT-LC", "w1", None)
    _write(d, "w1", 11)
    d.settle(0)  # r1, a voter of w1's committee, acknowledges: w1 commits its entry 2
    assert "RAFT-SM" in {f.id for f in d.findings}


def test_h29_the_deposed_leader_keeps_committing_and_the_new_one_commits_over_it() -> None:
    d = _isolated_w0(REFERENCE)
    d.settle(4_001)  # w1 leads term 2 with every committed entry: nothing to report yet
    assert set(d.world.leaders()) == {"w0", "w1"}
    assert d.findings == []
    _write(d, "w0", 10)  # term 1, committed alone at index 2
    _write(d, "w1", 11)  # term 2, committed at index 2 too
    limited = d.limited
    assert limited is not None
    assert (limited.id, limited.node, limited.limitation) == ("RAFT-SM", "w1", "H29")
    assert "L[2] has term 1, not 2" in limited.detail


def _two_leaders_of_term_3() -> Driver:
    """Found by the hunt (writer-partition): w0 grants w1's term-2 vote but the grant is lost
    with their bond; both time out into term 3 on either side and both win it."""
    d = Driver(world_setup(PARTITION, REFERENCE))
    build_group(d, PARTITION)
    for a, b in (("r1", "w0"), ("r1", "w1"), ("w0", "w1")):
        d.do(break_bond, a, b)
    d.do(advance_time, d.world.now_ms + 500)
    d.do(restore_bond, "r1", "w1")
    d.do(advance_time, d.world.now_ms + 1_000)
    d.do(restore_bond, "w0", "w1")
    d.do(advance_time, d.world.now_ms + 1_000)  # w1 stands for term 2
    d.do(deliver_message, "w0", "w1")
    d.do(deliver_message, "w1", "w0")  # w0 steps down and grants
    d.do(advance_time, d.world.now_ms + 500)
    d.do(break_bond, "w0", "w1")  # ... and the grant is lost
    d.settle(2_001)
    return d


def test_h29_two_leaders_of_one_term_that_could_not_ask_each_other() -> None:
    d = _two_leaders_of_term_3()
    limited = d.limited
    assert limited is not None
    assert (limited.id, limited.limitation) == ("RAFT", "H29")
    assert "second leader of term 3" in limited.detail


def test_a_second_leader_that_asked_the_first_is_not_excused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same transition, but the winner's election had asked the first leader: a real
    election-safety failure, reported as RAFT with no limitation."""
    captured: list[tuple[Violation, Transition]] = []

    def spy(v: Violation, t: Transition) -> str | None:
        if v.id == "RAFT":
            captured.append((v, t))
        return limitation_of(v, t)

    monkeypatch.setattr(driver_module, "limitation_of", spy)
    _two_leaders_of_term_3()
    v, t = captured[0]
    assert limitation_of(v, t) == "H29"
    second = v.node
    assert second is not None
    slot = t.before.nodes[second]
    role = slot.node.role
    assert isinstance(role, CandidateRole)
    first = t.after.ghost.leaders[int(slot.node.term)]
    asked = replace(role, requested_from=role.requested_from | {t.before.nodes[first].peer})
    before = t.before.with_slot(replace(slot, node=replace(slot.node, role=asked)))
    assert limitation_of(v, replace(t, before=before)) is None
