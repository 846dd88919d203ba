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
* ``RAFT-ES`` — election safety: one leader per term; a second leader that could not
  ask the first (a partition) is H29, one that asked it is a real failure.

And Raft's commitment rule (§5.4.2, Figure 8), which the reference follows and mosaik
does not (H30): an entry of an older term that is on a quorum may still be overwritten,
because a node holding a conflicting entry of a later term wins an election in which
the holders, their logs now behind, abstain. Five writers, no partition.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

import impl.raft
import spec.hunt.driver as driver_module
from impl.collections.map import MapInsert
from impl.node_state import CandidateRole
from impl.profile import MOSAIK_0_3_13, REFERENCE, Hazard, Profile
from spec.hunt.driver import Driver, limitation_of
from spec.hunt.scenario import GroupShape, build_group, world_setup
from spec.model.actions import (
    Transition,
    advance_time,
    break_bond,
    client_write,
    deliver_message,
    leave,
    node_poll_action,
    restore_bond,
    start_election_action,
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
    assert (limited.id, limited.limitation) == ("RAFT-ES", "H29")
    assert "second leader of term 3" in limited.detail


def test_a_second_leader_that_asked_the_first_is_not_excused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same transition, but the winner's election had asked the first leader: a real
    election-safety failure, reported as RAFT-ES with no limitation."""
    captured: list[tuple[Violation, Transition]] = []

    def spy(v: Violation, t: Transition, partitioned: bool = True) -> str | None:
        if v.id == "RAFT-ES":
            captured.append((v, t))
        return limitation_of(v, t, partitioned)

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


# -- Raft's commitment rule (Figure 8) ----------------------------------------------------------

FIVE = GroupShape(kind="map", items=1, batch=1, writers=5, readers=0, lagging=0,
                  joint_election=True)  # fmt: skip


def drain(d: Driver, src: str, dst: str) -> None:
    while d.world.queue(src, dst):
        d.do(deliver_message, src, dst)


def _figure_8(profile: Profile) -> Driver:
    """Raft's Figure 8 in mosaik's voting: w0 (term 1) writes X at index 2, which reaches w1
    only; w2 wins term 2 with w3 and w4 and writes Y at index 2 alone; w0 wins term 3 with
    w1 (w3, w4 abstain: behind; w2 denies: ahead). Every bond stays up."""
    d = Driver(world_setup(FIVE, profile))
    build_group(d, FIVE)
    d.settle(0)
    d.do(client_write, "w0", (MapInsert(100, 1),))
    d.do(node_poll_action, "w0")
    d.do(deliver_message, "w0", "w1")
    d.do(start_election_action, "w2")
    for other in ("w1", "w3", "w4", "w0"):
        d.do(deliver_message, "w2", other)
    for other in ("w3", "w4"):
        drain(d, other, "w2")
    d.do(node_poll_action, "w2")
    d.do(client_write, "w2", (MapInsert(200, 2),))
    d.do(node_poll_action, "w2")
    d.do(start_election_action, "w0")
    for other in ("w1", "w2", "w3", "w4"):
        drain(d, "w0", other)
    for other in ("w1", "w3", "w4", "w2"):
        drain(d, other, "w0")
    d.do(node_poll_action, "w0")
    assert d.world.leaders() == ("w0",)
    assert d.world.nodes["w0"].node.term == 3
    return d


def elect(d: Driver, name: str, others: tuple[str, ...]) -> None:
    """``name`` stands: every RequestVote and every answer is delivered, then it polls."""
    d.do(start_election_action, name)
    for other in others:
        drain(d, name, other)
    for other in others:
        drain(d, other, name)
    d.do(node_poll_action, name)


def _w2_stands_again(d: Driver, voters: tuple[str, ...] = ("w0", "w1", "w3", "w4")) -> None:
    """w2 (log ending at (2,2)) stands for term 4: every other log is behind: all abstain."""
    elect(d, "w2", voters)


def test_a_new_leader_does_not_commit_an_older_terms_tail_at_election() -> None:
    """The reference (H30 off): w0 leads term 3 holding X (term 1) on a quorum of its
    committee {w0, w1}, and does not commit it: w2 then wins term 4 alone and X, never
    committed, is replaced. Nothing is violated."""
    d = _figure_8(REFERENCE)
    assert d.world.nodes["w0"].node.committed.index == 1
    _w2_stands_again(d)
    assert d.world.leaders() == ("w2",)
    assert d.findings == []


def test_committing_an_older_terms_tail_at_election_loses_a_committed_entry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The mutant that commits by counting whatever the term (the fix this project first
    had for H30): X is committed at w0's election, then w2 wins term 4 and commits Y at
    index 2 — Raft's state machine safety is broken with every bond up."""
    monkeypatch.setattr(impl.raft, "commits_by_counting", lambda node, ctx, index: True)
    d = _figure_8(REFERENCE)
    assert d.world.nodes["w0"].node.committed.index == 2
    _w2_stands_again(d)
    assert d.world.leaders() == ("w2",)
    found = {f.id for f in d.findings}
    assert found & {"RAFT-LC", "RAFT-SM"}
    assert all(d.world.bonded(a, b) for a in FIVE.names() for b in FIVE.names() if a < b)


@pytest.mark.parametrize("h30", [False, True], ids=["reference", "H30"])
def test_mosaiks_first_write_commits_an_older_term_by_counting(h30: bool) -> None:
    """mosaik (H30): w0's own write runs R3, whose quorum index is w1's election record at
    X (term 1): X commits on w0 and w1 alone. w0 crashes; w2 wins term 4 with everyone
    abstaining, without X: RAFT-LC. The reference waits until w1 acknowledges the entry of
    term 3, so w0's crash loses nothing committed."""
    profile = REFERENCE.with_hazards([Hazard.H30]) if h30 else REFERENCE
    d = _figure_8(profile)
    d.do(client_write, "w0", (MapInsert(300, 3),))
    d.do(node_poll_action, "w0")
    assert d.world.nodes["w0"].node.committed.index == (2 if h30 else 1)
    d.do(leave, "w0")
    _w2_stands_again(d, ("w1", "w3", "w4"))
    assert d.world.leaders() == ("w2",)
    assert [f.id for f in d.findings] == (["RAFT-LC"] if h30 else [])
