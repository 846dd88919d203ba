"""Transport behaviour ``deliver_after_break``: messages a bond already received outlive it.

mosaik's bond worker queues every received Raft message for the group worker and
only then signals the termination the session's watchers wait on (bond/worker.rs:
219-226); the group worker may run the session (Q6, Q11) before it takes those
messages out (group/worker.rs:143-178). The model keeps them on the broken bond
(:mod:`spec.model.transport`). These tests pin the action semantics and show that
the switch matters: with it, H1's stall needs no fetch timeout (a bond break is
enough), and the reference's H1 fix still rejects the late response.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from impl.messages import FetchDataResponse
from impl.profile import MOSAIK_0_3_13, REFERENCE, Hazard, Profile
from impl.session import is_sync_complete
from spec.hunt.driver import Driver
from spec.hunt.scenario import GroupShape, build_group, world_setup
from spec.model.actions import (
    ActionNotEnabled,
    advance_time,
    break_bond,
    deliver_message,
    due_nodes,
    leave,
    node_context,
    node_poll_action,
    restore_bond,
)
from spec.model.transport import Transport, parse_transports

SHAPE = GroupShape(kind="map", items=3, batch=1, writers=1, readers=2, lagging=1)


def _fetching_from_everyone(profile: Profile, *, transport: bool = True) -> Driver:
    """r8 has asked w0, r1 and r2 for one chunk each and every answer is queued to it."""
    setup = world_setup(SHAPE, profile)
    if not transport:
        setup = replace(setup, transport=frozenset())
    d = Driver(setup)
    build_group(d, SHAPE)
    for _ in range(2_000):
        session = d.world.nodes["r8"].node.catchup
        if session is not None and len(session.inflight) == 3:
            break
        _step_holding_responses(d)
    else:  # pragma: no cover - the group always gets there
        raise AssertionError("r8 never fetched from three providers")
    for src in ("r1", "r2", "w0"):
        while d.world.queue("r8", src):
            d.do(deliver_message, "r8", src)
    return d


def _step_holding_responses(d: Driver) -> None:
    """Fair delivery, except that FetchDataResponses to r8 wait."""
    w = d.world
    for src, dst in w.directions():
        head = w.queue(src, dst)[0]
        if not (dst == "r8" and isinstance(head.message, FetchDataResponse)):
            d.do(deliver_message, src, dst)
            if dst == "r8" and d.world.nodes["r8"].node.catchup is not None:
                d.do(node_poll_action, "r8")  # the session wakes on every message
            return
    for name in due_nodes(w, w.now_ms):
        d.do(node_poll_action, name)
    if d.world is w:
        nxt = d._next_deadline(set())
        d.do(advance_time, max(nxt if nxt is not None else 0, w.now_ms + 1))


def _holder(d: Driver, start: int) -> str:
    session = d.world.nodes["r8"].node.catchup
    assert session is not None
    (peer,) = [p for p, req in session.inflight.items() if req.range.start == start]
    return d.world.name_of(peer)


def _break_then_reassign(d: Driver, received: int) -> tuple[str, str]:
    """The holder A of [0,1) answers; its bond breaks with that answer received (or lost);
    Q6 drops A and Q11 gives [0,1) to B once B has answered [1,2). Returns (A, B)."""
    a, b = _holder(d, 0), _holder(d, 1)
    d.do(break_bond, a, "r8", received_by_b=received)
    d.do(node_poll_action, "r8")  # Q6: A is gone
    while d.world.queue(b, "r8"):
        d.do(deliver_message, b, "r8")
    d.do(node_poll_action, "r8")  # Q11: [0,1) to B
    assert _holder(d, 0) == b
    return a, b


def test_received_messages_outlive_the_break_and_keep_the_sender_in_the_bond_table() -> None:
    d = _fetching_from_everyone(REFERENCE)
    a = _holder(d, 0)
    t = d.do(break_bond, a, "r8", received_by_b=1)
    assert t.args == {"a": a, "b": "r8", "received_by_a": 0, "received_by_b": 1}
    assert not d.world.bonded(a, "r8")
    assert d.world.draining == {(a, "r8")}
    assert [i.mid for i in t.lost] == []  # the only message queued towards r8 was received
    # r8 still lists a (its Terminated event is behind the message), a does not list r8.
    peer_a, peer_r8 = d.world.nodes[a].peer, d.world.nodes["r8"].peer
    assert peer_a in node_context(d.world, "r8").bonds
    assert peer_r8 not in node_context(d.world, a).bonds
    with pytest.raises(ActionNotEnabled, match="still holds received messages"):
        restore_bond(d.world, a, "r8")
    d.do(deliver_message, a, "r8")
    assert d.world.draining == frozenset()
    assert peer_a not in node_context(d.world, "r8").bonds
    d.do(restore_bond, a, "r8")
    assert d.world.bonded(a, "r8")


def test_invalid_received_counts_and_a_switched_off_transport_are_refused() -> None:
    d = _fetching_from_everyone(REFERENCE)
    a = _holder(d, 0)
    with pytest.raises(ActionNotEnabled, match="cannot have received 2"):
        break_bond(d.world, a, "r8", received_by_b=2)
    with pytest.raises(ActionNotEnabled, match="cannot have received -1"):
        break_bond(d.world, a, "r8", received_by_a=-1)
    off = _fetching_from_everyone(REFERENCE, transport=False)
    with pytest.raises(ActionNotEnabled, match="deliver_after_break is off"):
        break_bond(off.world, _holder(off, 0), "r8", received_by_b=1)
    assert parse_transports(["deliver-after-break"]) == {Transport.DELIVER_AFTER_BREAK}


def test_a_node_that_leaves_loses_what_it_had_received_but_not_what_it_sent() -> None:
    d = _fetching_from_everyone(REFERENCE)
    a = _holder(d, 0)
    d.do(break_bond, a, "r8", received_by_b=1)
    t = d.do(leave, "r8")
    assert d.world.draining == frozenset()
    assert t.lost
    assert all(i.dst == "r8" for i in t.lost)


@pytest.mark.parametrize(
    ("profile", "stalls"),
    [(MOSAIK_0_3_13, True), (REFERENCE.with_hazards([Hazard.H1]), True), (REFERENCE, False)],
    ids=lambda v: v.name if isinstance(v, Profile) else str(v),
)
def test_h1_stall_without_a_fetch_timeout(profile: Profile, stalls: bool) -> None:
    """The audit's B2 path: A's answer for [0,1) arrives after Q6 re-assigned [0,1) to B.
    Under H1 it is accepted and drained; B's copy then lands below the cursor (I4) and,
    delivered before C's [2,3), blocks the drain for ever (L2(c)). No timer fires."""
    d = _fetching_from_everyone(profile)
    start_ms = d.world.now_ms
    a, b = _break_then_reassign(d, received=1)
    c = _holder(d, 2)
    d.do(deliver_message, a, "r8")  # the answer r8's bond worker had received
    d.do(node_poll_action, "r8")
    for src in (b, c):  # B's duplicate first: the order that stalls
        while d.world.queue("r8", src):
            d.do(deliver_message, "r8", src)
        while d.world.queue(src, "r8"):
            d.do(deliver_message, src, "r8")
            d.do(node_poll_action, "r8")
    assert d.world.now_ms == start_ms  # no time passed: no fetch timed out
    assert d.coverage.counts["delivered_after_break"] == 1
    assert d.coverage.counts["late_answer_after_break"] == 1  # the coverage counter sees it
    ids = {f.id for f in d.findings}
    session = d.world.nodes["r8"].node.catchup
    if stalls:
        assert {"I4", "L2"} <= ids
        assert session is not None
        assert session.gap_start == 2
        assert 0 in session.fetched
    else:
        assert ids == set()
        # Every chunk is in: the late answer was ignored (UNSOLICITED_RESPONSE).
        assert session is not None
        assert is_sync_complete(session)


def test_without_the_transport_behaviour_the_break_loses_the_answer_and_h1_is_not_reached() -> None:
    """The switch matters: with the answer lost at the break, mosaik re-asks [0,1) and
    completes (this path needs a fetch timeout instead, the late-responses campaign)."""
    d = _fetching_from_everyone(MOSAIK_0_3_13, transport=False)
    _break_then_reassign(d, received=0)
    d.drain()
    assert [f.id for f in d.findings] == []
    assert d.world.nodes["r8"].node.catchup is None
