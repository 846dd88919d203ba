"""A committed entry lost with every bond up: behind voters abstain and shrink the quorum.

Found by a hunt walk of ``reference`` (three writers and a reader; only client writes,
deliveries, polls and clock advances: long delays, no bond broken). Its mechanism, shown
here with three writers in the fewest steps found:

* a voter whose log is behind the candidate's abstains (mosaik role.rs:358-373), and the
  candidate drops abstainers from its denominator (candidate.rs:249-265, 326-332): a
  writer whose log is ahead of both others leads with a quorum of one (itself);
* its committee is the granters alone (``Committee::new``, leader.rs:552-567), so it
  commits by its own acknowledgement (leader.rs:629-635) — an entry held by one writer
  of three;
* the two others, equal and behind, then elect one of them: the holder denies, but a
  denial is one vote of three against two grants.

The failure is ``RAFT-LC`` (and ``RAFT-SM`` once the new leader commits over the entry),
on ``reference`` as on ``mosaik-0.3.13``, with no partition: not the limitation H29
(:func:`spec.hunt.driver.limitation_of` excuses nothing here). It is H32 in
docs/findings.md: an open finding of both profiles, reported as a violation, not excused.
No local rule change fixes it (a behind writer that denies makes two unequal writers
unable to elect; one that grants needs its real index in the committee and deadlocks
catch-up as H16 does); the fix is H29's, quorums over a fixed set of writers. This module
pins the finding as it stands, so that the fix shows as this test failing.
"""

from __future__ import annotations

import pytest

from impl.collections.map import MapInsert
from impl.node_state import LeaderRole
from impl.profile import MOSAIK_0_3_13, REFERENCE, Profile
from model_tests.test_raft_safety import elect
from spec.hunt.driver import Driver
from spec.hunt.scenario import GroupShape, build_group, world_setup
from spec.model.actions import (
    client_write,
    deliver_message,
    node_poll_action,
    start_election_action,
)

THREE = GroupShape(kind="map", items=1, batch=1, writers=3, readers=0, lagging=0,
                   joint_election=True)  # fmt: skip


def _committed_by_one_writer(profile: Profile) -> Driver:
    """w0 leads term 3 alone (w1, w2 behind: abstain) and commits entry 3 alone."""
    d = Driver(world_setup(THREE, profile))
    build_group(d, THREE)
    d.settle(0)
    assert d.world.leaders() == ("w0",)
    # w0 writes X (index 2, term 1); its AppendEntries stays in flight.
    d.do(client_write, "w0", (MapInsert(100, 1),))
    d.do(node_poll_action, "w0")
    # w1 stands for term 2; w0 (its log ahead) steps down and denies, w2 steps up. X's
    # AppendEntries, of term 1, now reaches nobody: w1 and w2 stay at index 1.
    d.do(start_election_action, "w1")
    d.do(deliver_message, "w1", "w0")
    d.do(deliver_message, "w1", "w2")
    # w0 stands for term 3 with the longest log: w1 and w2, behind, abstain.
    elect(d, "w0", ("w1", "w2"))
    role = d.world.nodes["w0"].node.role
    assert isinstance(role, LeaderRole)
    assert list(role.committee.voters) == [d.world.nodes["w0"].peer]
    # Y (index 3, term 3) commits on w0's own acknowledgement, and X with it.
    d.do(client_write, "w0", (MapInsert(200, 2),))
    d.do(node_poll_action, "w0")
    assert d.world.nodes["w0"].node.committed.index == 3
    assert [d.world.nodes[n].node.log.last().index for n in ("w1", "w2")] == [1, 1]
    return d


@pytest.mark.parametrize("profile", [REFERENCE, MOSAIK_0_3_13], ids=lambda p: p.name)
def test_a_leader_elected_by_abstentions_commits_alone_and_the_entry_is_lost(
    profile: Profile,
) -> None:
    d = _committed_by_one_writer(profile)
    assert d.findings == []
    # w1 stands for term 4: w2 (equal) grants, w0 (ahead) denies: 2 of 3, w1 leads.
    elect(d, "w1", ("w0", "w2"))
    assert d.world.leaders() == ("w1",)
    assert all(d.world.bonded(a, b) for a in THREE.names() for b in THREE.names() if a < b)
    assert d.limited is None  # no partition: not the limitation H29
    found = [(f.id, f.node, f.limitation) for f in d.findings]
    assert found == [("RAFT-LC", "w1", None)]
    assert "without committed entry 3 (term 3)" in d.findings[0].detail
