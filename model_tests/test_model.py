"""The group model: global state, actions, transport, ghost history, faults, memo."""

from __future__ import annotations

import pytest

from impl.client import node_client_write_many
from impl.collections import COLLECTIONS
from impl.collections.map import MapInsert
from impl.config import Config
from impl.errors import InvalidInput, NotLeader
from impl.messages import (
    AppendEntries,
    FetchDataResponse,
    LogEntry,
    RequestSnapshot,
    SnapshotRequest,
    TakeSnapshot,
)
from impl.node import node_client_write, node_new
from impl.node_state import NodeContext, Preference
from impl.profile import REFERENCE
from impl.types import Cursor, Index, PeerId, Term
from spec.model.actions import (
    ActionNotEnabled,
    advance_time,
    break_bond,
    client_write,
    corrupt_response_action,
    deliver_message,
    duplicate_message,
    forge_message,
    initial_world,
    join_late,
    leave,
    node_poll_action,
    reorder_message,
    restart_empty,
    restore_bond,
    set_clock_skew,
    start_election_action,
)
from spec.model.faults import Fault, UnknownFault, corrupt_response, parse_fault, parse_faults
from spec.model.ghost import Ghost, items_digest
from spec.model.memo import MemoMachine
from spec.model.state import NodeStatus, World, WorldSetup, bond_key


def _world(*faults: Fault, kind: str = "map") -> World:
    return initial_world(WorldSetup(kind=kind, faults=frozenset(faults)))


def _elect(world: World) -> World:
    """w0 (writer) and r1 (reader) join; w0 times out, wins, r1 learns of it."""
    world = join_late(world, "w0", writer=True, election_timeout_ms=100).after
    world = join_late(world, "r1", writer=False, election_timeout_ms=100).after
    for _ in range(20):
        if world.leaders() and world.nodes["r1"].node.online and not world.in_flight():
            return world
        if world.directions():
            src, dst = world.directions()[0]
            world = deliver_message(world, src, dst).after
            world = node_poll_action(world, dst).after
        else:
            world = advance_time(world, world.now_ms + 100).after
    raise AssertionError("no leader elected")


def test_join_forms_bonds_with_every_up_node() -> None:
    world = _elect(_world())
    world = join_late(world, "r2", writer=False, election_timeout_ms=100).after
    assert world.bond_peers("r2") == ("r1", "w0")
    assert world.bonded("w0", "r2")
    assert world.bonded("r1", "r2")
    assert world.nodes["r2"].node.log.last() == Cursor.zero()
    assert world.name_of(world.nodes["r2"].peer) == "r2"


def test_election_and_heartbeat_bring_reader_online() -> None:
    world = _elect(_world())
    assert world.leaders() == ("w0",)
    assert world.nodes["r1"].node.leader == world.nodes["w0"].peer
    assert world.ghost.leaders[1] == "w0"


def test_client_write_publishes_in_one_append_entries() -> None:
    world = _elect(_world())
    t = client_write(world, "w0", tuple(MapInsert(i, i) for i in range(5)))
    assert [o.step for o in t.outcomes] == ["node_client_write_many"]
    t = node_poll_action(t.after, "w0")
    aes = [i.message for i in t.sent if isinstance(i.message, AppendEntries) and i.message.entries]
    assert len(aes) == 1
    assert len(aes[0].entries) == 5
    # The leader is the only voter: the batch commits at once and the ghost log has it.
    assert t.after.nodes["w0"].node.committed.index == 5
    assert t.after.ghost.committed_len() == 5


def test_send_without_bond_is_dropped_silently() -> None:
    world = _elect(_world())
    world = break_bond(world, "w0", "r1").after
    world = client_write(world, "w0", (MapInsert(1, 1),)).after
    t = node_poll_action(world, "w0")
    assert not t.sent
    assert not t.dropped
    assert t.after.in_flight() == 0


def test_break_bond_loses_queue_and_both_ends_see_termination() -> None:
    world = _elect(_world())
    world = client_write(world, "w0", (MapInsert(1, 1),)).after
    world = node_poll_action(world, "w0").after
    assert world.queue("w0", "r1")
    t = break_bond(world, "w0", "r1")
    assert [i.mid for i in t.lost] == [i.mid for i in world.queue("w0", "r1")]
    assert sorted(o.name for o in t.outcomes if o.step == "node_bond_terminated") == ["r1", "w0"]
    assert not t.after.bonded("w0", "r1")
    assert t.after.queue("w0", "r1") == ()
    again = restore_bond(t.after, "w0", "r1").after
    assert again.bonded("w0", "r1")
    assert again.queue("w0", "r1") == ()


def test_leave_and_rejoin_keeps_peer_id_and_counts_incarnations() -> None:
    world = _elect(_world())
    peer = world.nodes["r1"].peer
    world = leave(world, "r1").after
    assert world.nodes["r1"].status is NodeStatus.DOWN
    assert not world.bonded("w0", "r1")
    world = join_late(world, "r1", writer=False, election_timeout_ms=100).after
    assert world.nodes["r1"].peer == peer
    assert world.nodes["r1"].incarnation == 1
    world = restart_empty(world, "r1", election_timeout_ms=100).after
    assert world.nodes["r1"].incarnation == 2
    assert world.bonded("w0", "r1")


def test_advance_time_polls_due_nodes_only() -> None:
    world = join_late(_world(), "w0", writer=True, election_timeout_ms=100).after
    assert not advance_time(world, 50).outcomes
    t = advance_time(world, 100)
    assert [o.name for o in t.outcomes] == ["w0"]


def test_set_clock_skew_moves_only_that_wall_clock() -> None:
    world = _elect(_world())
    before = world.wall_ms("r1")
    world = set_clock_skew(world, "r1", 40_000).after
    assert world.wall_ms("r1") == before + 40_000
    assert world.wall_ms("w0") == world.setup.epoch_wall_ms + world.now_ms


def test_invalid_actions_are_not_enabled() -> None:
    world = _elect(_world())
    with pytest.raises(ActionNotEnabled):
        deliver_message(world, "w0", "r1")  # nothing queued
    with pytest.raises(ActionNotEnabled):
        join_late(world, "w0", writer=True, election_timeout_ms=1)  # already up
    with pytest.raises(ActionNotEnabled):
        client_write(world, "r1", (MapInsert(1, 1),))  # readers cannot write
    with pytest.raises(ActionNotEnabled):
        advance_time(world, world.now_ms - 1)  # time never goes back
    with pytest.raises(ActionNotEnabled):
        break_bond(world, "w0", "nobody")
    with pytest.raises(ActionNotEnabled):
        restore_bond(world, "w0", "r1")  # already up
    with pytest.raises(InvalidInput):
        bond_key("w0", "w0")


def test_invalid_fault_actions_need_their_switch() -> None:
    world = _elect(_world())
    world = client_write(world, "w0", (MapInsert(1, 1),)).after
    world = node_poll_action(world, "w0").after
    with pytest.raises(ActionNotEnabled, match="duplicate"):
        duplicate_message(world, "w0", "r1")
    with pytest.raises(ActionNotEnabled, match="reorder"):
        reorder_message(world, "w0", "r1", 1)
    with pytest.raises(ActionNotEnabled, match="forge"):
        forge_message(world, "r1", "w0", RequestSnapshot())
    with pytest.raises(ActionNotEnabled, match="short_response"):
        corrupt_response_action(world, "w0", "r1", 0, "short_response")


def test_duplicate_delivers_and_keeps_the_head() -> None:
    world = _elect(_world(Fault.DUPLICATE))
    world = client_write(world, "w0", (MapInsert(1, 1),)).after
    world = node_poll_action(world, "w0").after
    head = world.queue("w0", "r1")[0]
    t = duplicate_message(world, "w0", "r1")
    assert t.delivered == (head,)
    assert t.after.queue("w0", "r1")[0] == head


def test_reorder_moves_a_message_to_the_head() -> None:
    world = _elect(_world(Fault.REORDER))
    for i in range(2):
        world = client_write(world, "w0", (MapInsert(i, i),)).after
        world = node_poll_action(world, "w0").after
    queue = world.queue("w0", "r1")
    assert len(queue) == 4  # two batches, each followed by the immediate heartbeat
    moved = reorder_message(world, "w0", "r1", 2).after.queue("w0", "r1")
    assert [q.mid for q in moved] == [queue[2].mid, queue[0].mid, queue[1].mid, queue[3].mid]
    with pytest.raises(ActionNotEnabled):
        reorder_message(world, "w0", "r1", 0)


def test_corrupt_response_rewrites_only_fetch_responses() -> None:
    world = _elect(_world(Fault.SHORT_RESPONSE, Fault.FORGE))
    anchor = Cursor(Term(1), Index(1))
    world = forge_message(world, "w0", "r1", FetchDataResponse(anchor, 0, (1, 2))).after
    world = forge_message(world, "w0", "r1", RequestSnapshot()).after
    t = corrupt_response_action(world, "w0", "r1", 0, "short_response")
    assert t.after.queue("w0", "r1")[0].message.items == (1,)  # type: ignore[union-attr]
    with pytest.raises(ActionNotEnabled, match="RequestSnapshot"):
        corrupt_response_action(world, "w0", "r1", 1, "short_response")
    with pytest.raises(ActionNotEnabled, match="not a response corruption"):
        corrupt_response_action(world, "w0", "r1", 0, "duplicate")


def test_fault_names_and_corruptions() -> None:
    assert parse_fault("wrong-offset") is Fault.WRONG_OFFSET
    assert parse_faults(["duplicate", "reorder"]) == {Fault.DUPLICATE, Fault.REORDER}
    r = FetchDataResponse(Cursor(Term(1), Index(1)), 0, ())
    assert corrupt_response(r, Fault.SHORT_RESPONSE) is None
    assert corrupt_response(r, Fault.WRONG_OFFSET, delta=-1) is None
    assert all(f.description for f in Fault)


def test_invalid_fault_name_is_rejected() -> None:
    with pytest.raises(UnknownFault, match="nope"):
        parse_fault("nope")


def _ae(term: int, prev: tuple[int, int], n: int) -> AppendEntries:
    entries = tuple(LogEntry(Term(term), MapInsert(i, i)) for i in range(n))
    return AppendEntries(
        Term(term),
        PeerId.from_label("w0"),
        Cursor(Term(prev[0]), Index(prev[1])),
        entries,
        Index(0),
    )


def test_ghost_walks_back_through_terms() -> None:
    ghost = Ghost().record_append(_ae(1, (0, 0), 3)).record_append(_ae(2, (1, 3), 2))
    ghost, bad = ghost.observe_commit(Cursor(Term(2), Index(5)))
    assert bad is None
    assert ghost.committed_len() == 5
    assert [ghost.term_at(i) for i in range(6)] == [0, 1, 1, 1, 2, 2]
    # A commit that does not match L is a divergence, not an extension.
    _, bad = ghost.observe_commit(Cursor(Term(1), Index(5)))
    assert bad is not None
    assert "term 2" in bad.reason
    _, bad = ghost.observe_commit(Cursor(Term(3), Index(9)))
    assert bad is not None
    assert "no leader appended" in bad.reason


def test_ghost_ignores_a_repeated_append_and_indexes_take_snapshots() -> None:
    request = SnapshotRequest(PeerId.from_label("r2"), 7)
    ae = AppendEntries(
        Term(1),
        PeerId.from_label("w0"),
        Cursor.zero(),
        (LogEntry(Term(1), MapInsert(1, 1)), LogEntry(Term(1), TakeSnapshot(request))),
        Index(0),
    )
    ghost = Ghost().record_append(ae).record_append(ae)
    assert len(ghost.appended[1]) == 1
    ghost, _ = ghost.observe_commit(Cursor(Term(1), Index(2)))
    assert ghost.requests_by(PeerId.from_label("r2"), 2) == ((2, request),)
    assert ghost.requests_by(PeerId.from_label("r2"), 1) == ()


def test_items_digest_is_canonical_json() -> None:
    assert items_digest((1, "a", (2, 3))) == items_digest((1, "a", (2, 3)))
    assert items_digest((1,)) != items_digest((2,))


def test_memo_machine_shares_identical_applies_only() -> None:
    from impl.collections.base import ApplyContext

    memo = MemoMachine(COLLECTIONS["map"])
    ctx = ApplyContext(Cursor.zero(), Cursor.zero(), Term(1), PeerId.from_label("a"), 0, Config())
    batch = tuple(MapInsert(i, i) for i in range(10))
    a, _ = memo.apply_batch(memo.initial(), batch, ctx, REFERENCE)
    b, _ = memo.apply_batch(memo.initial(), list(batch), ctx, REFERENCE)
    assert a is b
    assert memo.hits == 1
    # Equal but not identical commands are computed again (and give an equal state).
    c, _ = memo.apply_batch(
        memo.initial(), tuple(MapInsert(i, i) for i in range(10)), ctx, REFERENCE
    )
    assert c is not a
    assert memo.items(c) == memo.items(a)
    # A batch with TakeSnapshot is never memoised: its requests depend on the context.
    take = (TakeSnapshot(SnapshotRequest(PeerId.from_label("b"), 0)),)
    _, requests = memo.apply_batch(a, batch + take, ctx, REFERENCE)
    assert len(requests) == 1
    assert memo.hits == 1


def test_client_write_many_equals_one_write_per_command() -> None:
    machine = COLLECTIONS["map"]
    world = _elect(_world())
    node = world.nodes["w0"].node
    ctx = NodeContext(0, 0, frozenset(), Config(), REFERENCE, machine, 100)
    commands = tuple(MapInsert(i, i) for i in range(4))
    one_by_one = node
    for c in commands:
        one_by_one, _ = node_client_write(one_by_one, ctx, c)
    together, effects = node_client_write_many(node, ctx, commands)
    assert together == one_by_one
    assert effects == ()
    follower = node_new(PeerId.from_label("x"), machine, Preference.NORMAL, 0, 10)
    with pytest.raises(NotLeader):
        node_client_write_many(follower, ctx, commands)


def test_start_election_changes_the_leader() -> None:
    world = join_late(_world(), "w0", writer=True, election_timeout_ms=100).after
    world = join_late(world, "w1", writer=True, election_timeout_ms=5_000).after
    world = join_late(world, "r1", writer=False, election_timeout_ms=5_000).after
    world = advance_time(world, 100).after
    for _ in range(30):
        if not world.directions():
            break
        src, dst = world.directions()[0]
        world = node_poll_action(deliver_message(world, src, dst).after, dst).after
    assert world.leaders() == ("w0",)
    with pytest.raises(ActionNotEnabled, match="observer"):
        start_election_action(world, "r1")
    with pytest.raises(ActionNotEnabled, match="leads"):
        start_election_action(world, "w0")
    t = start_election_action(world, "w1")
    assert t.after.nodes["w1"].node.term == 2
    world = t.after
    for _ in range(30):
        if not world.directions():
            break
        src, dst = world.directions()[0]
        world = node_poll_action(deliver_message(world, src, dst).after, dst).after
    assert world.leaders() == ("w1",)
    assert world.ghost.leaders[2] == "w1"
