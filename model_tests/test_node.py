"""Node-level composition (impl/node.py): §0.3 dispatch order, §0.2 poll order.

Each rule of the dispatch is tested on its normal path and on the input it drops
(``test_invalid_*``: a documented ignore with the node unchanged); the ordering
rules are also run against broken compositions that the same checks must catch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace

import pytest
from pyrsistent import pmap

from impl.effects import Broadcast, Effect, FeedCommand, Ignored, IgnoreReason, Send
from impl.errors import InvalidInput, NotLeader
from impl.messages import (
    AppendEntries,
    AppendEntriesResponse,
    FetchDataRequest,
    FetchDataResponse,
    Message,
    RequestSnapshot,
    RequestVote,
    RequestVoteResponse,
    SnapshotInfo,
    SnapshotOffer,
    SnapshotRequest,
    TakeSnapshot,
    Vote,
)
from impl.node import (
    node_bond_terminated,
    node_client_write,
    node_new,
    node_next_deadline,
    node_poll,
    node_receive,
)
from impl.node_state import (
    CandidateRole,
    FollowerRole,
    LeaderRole,
    NodeContext,
    NodeState,
    Preference,
)
from impl.profile import MOSAIK_0_3_13, REFERENCE, Profile
from impl.provider import provider_context, provider_poll
from impl.provider_state import AvailableSnapshot, ProviderState
from impl.raft import role_poll, start_election, with_provider
from impl.types import Cursor, Index, ItemRange, PeerId, Term
from model_tests.test_provider import TupleSnapshot
from model_tests.test_raft import (
    MACHINE,
    OBS,
    WALL,
    A,
    B,
    F,
    L,
    RecState,
    ae,
    c,
    ctx,
    follower,
    leader,
)

Step = tuple[NodeState, tuple[Effect, ...]]


def reasons(effects: Iterable[Effect]) -> list[IgnoreReason]:
    return [e.reason for e in effects if isinstance(e, Ignored)]


def sends(effects: Iterable[Effect]) -> list[Send]:
    return [e for e in effects if isinstance(e, Send)]


def lagging(**kw: object) -> NodeState:
    """A follower of L with a catch-up session started by an AE it cannot match."""
    node = follower(terms=(1, 1), **kw)  # type: ignore[arg-type]
    node, _ = node_receive(node, ctx(), L, ae(c(1, 9), [(1, 10)], 9))
    assert node.catchup is not None
    return node


def serving(node: NodeState, anchor: Cursor, n: int) -> NodeState:
    available = pmap({anchor: AvailableSnapshot(TupleSnapshot(tuple(range(n))), 10**9)})
    return replace(node, provider=ProviderState(available=available))


RAFT_MESSAGES: list[Message] = [
    ae(c(0, 0), term=1),
    AppendEntriesResponse(Term(1), Index(0), Vote.GRANTED),
    RequestVote(Term(1), A, c(1, 0)),
    RequestVoteResponse(Term(1), Vote.GRANTED),
]


# -- rule 1: unknown senders ------------------------------------------------------------------


@pytest.mark.parametrize("message", [*RAFT_MESSAGES, RequestSnapshot()])
def test_invalid_message_from_a_peer_without_a_bond_is_ignored_unchanged(message: Message) -> None:
    node = leader()
    for sender in (PeerId.from_label("stranger"), L):
        same, effects = node_receive(node, ctx(), sender, message)
        assert same is node
        assert reasons(effects) == [IgnoreReason.UNKNOWN_PEER]


# -- rule 2: stale terms (Raft messages only) -------------------------------------------------


@pytest.mark.parametrize("message", RAFT_MESSAGES)
def test_invalid_raft_message_of_an_older_term_is_dropped_unchanged(message: Message) -> None:
    for node in (follower(term=2), leader(term=2)):
        same, effects = node_receive(node, ctx(), A, message)
        assert same is node
        assert reasons(effects) == [IgnoreReason.STALE_TERM]


def test_state_sync_messages_carry_no_term_and_are_never_dropped_for_it() -> None:
    node = serving(follower(term=7), c(1, 4), 5)
    _, effects = node_receive(node, ctx(), A, FetchDataRequest(c(1, 4), ItemRange(0, 2)))
    assert sends(effects) == [Send(A, FetchDataResponse(c(1, 4), 0, (0, 1)))]


# -- rule 3: the provider first ---------------------------------------------------------------


def test_request_snapshot_at_the_leader_queues_take_snapshot_stamped_by_its_wall_clock() -> None:
    node, effects = node_receive(leader(), ctx(now=500), F, RequestSnapshot())
    marker = TakeSnapshot(SnapshotRequest(F, WALL + 500))
    assert effects == (FeedCommand(marker),)
    assert isinstance(node.role, LeaderRole)
    assert node.role.client_commands == (marker,)


def test_invalid_request_snapshot_at_a_follower_is_ignored_unchanged() -> None:
    for node in (follower(), lagging()):
        same, effects = node_receive(node, ctx(), F if node.id != F else A, RequestSnapshot())
        assert same is node
        assert reasons(effects) == [IgnoreReason.NOT_LEADER]


def test_a_fetch_request_is_served_by_the_provider_even_during_catch_up() -> None:
    """The provider consumes FetchDataRequest before any role handler (shared.rs:135-153)."""
    node = serving(lagging(), c(1, 4), 3)
    after, effects = node_receive(node, ctx(), A, FetchDataRequest(c(1, 4), ItemRange(1, 3)))
    assert sends(effects) == [Send(A, FetchDataResponse(c(1, 4), 1, (1, 2)))]
    assert after.catchup is node.catchup


# -- rules 4-6: step-down, vote, role handlers ------------------------------------------------


def test_a_higher_term_request_vote_steps_the_leader_down_then_votes() -> None:
    node, effects = node_receive(leader(term=1), ctx(), A, RequestVote(Term(3), A, c(0, 0)))
    assert isinstance(node.role, FollowerRole)
    assert node.term == 3
    assert node.role.leader is None
    assert sends(effects) == [Send(A, RequestVoteResponse(Term(3), Vote.GRANTED))]
    assert node.last_vote == (3, A)


def test_a_higher_term_append_entries_drops_the_session_and_is_handled_by_r4() -> None:
    node = lagging()
    node, effects = node_receive(node, ctx(), A, AppendEntries(Term(2), A, c(1, 2), (), Index(2)))
    assert node.term == 2
    assert node.leader == A
    assert node.catchup is None
    assert node.online
    assert node.committed == c(1, 2)
    assert sends(effects) == [], "a heartbeat gets no response"


def test_a_candidate_follows_a_leader_of_its_own_term() -> None:
    node, _ = start_election(follower(terms=(1,)), ctx(), Term(2))
    node, _ = node_receive(node, ctx(), A, AppendEntries(Term(2), A, c(1, 1), (), Index(1)))
    assert isinstance(node.role, FollowerRole)
    assert node.role.leader == A
    assert node.committed == c(1, 1)


def test_a_leader_meeting_a_rival_of_its_term_starts_a_new_election() -> None:
    node, effects = node_receive(leader(term=4), ctx(), A, ae(c(0, 0), term=4))
    assert isinstance(node.role, CandidateRole)
    assert node.term == 5
    assert Broadcast(RequestVote(Term(5), L, c(0, 0))) in effects


def test_session_messages_go_to_the_session_when_one_exists() -> None:
    node = lagging()
    offer = SnapshotOffer(SnapshotInfo(c(1, 12), 3))
    after, _ = node_receive(node, ctx(), A, offer)
    assert after.catchup is not None
    assert after.catchup != node.catchup
    assert after.catchup.anchor == c(1, 12)


@pytest.mark.parametrize(
    "message",
    [SnapshotOffer(SnapshotInfo(c(1, 12), 3)), FetchDataResponse(c(1, 12), 0, (1,))],
)
def test_invalid_session_message_without_a_session_is_ignored_unchanged(message: Message) -> None:
    node = follower()
    same, effects = node_receive(node, ctx(), A, message)
    assert same is node
    assert reasons(effects) == [IgnoreReason.NO_SESSION]
    candidate, _ = start_election(follower(), ctx(), Term(2))
    for other in (leader(), candidate):
        same, effects = node_receive(other, ctx(), A, message)
        assert same is other
        assert reasons(effects) == [IgnoreReason.UNEXPECTED]


@pytest.mark.parametrize(
    "message",
    [
        AppendEntriesResponse(Term(1), Index(0), Vote.GRANTED),
        RequestVoteResponse(Term(1), Vote.GRANTED),
    ],
)
def test_invalid_response_at_a_follower_is_unexpected_and_unchanged(message: Message) -> None:
    node = follower()
    same, effects = node_receive(node, ctx(), A, message)
    assert same is node
    assert reasons(effects) == [IgnoreReason.UNEXPECTED]


def test_invalid_context_for_another_collection_kind_is_a_typed_error() -> None:
    node = replace(follower(), kind="map")
    with pytest.raises(InvalidInput):
        node_receive(node, ctx(), A, RequestSnapshot())
    with pytest.raises(InvalidInput):
        node_poll(node, ctx())


# -- node_poll: the role first, then the provider ---------------------------------------------


def check_poll_order(poll: Callable[[NodeState, NodeContext], Step]) -> None:
    """A TakeSnapshot committed by this tick's R1 is offered by the same tick's P3."""
    marker = TakeSnapshot(SnapshotRequest(F, WALL))
    node = leader(queued=(marker,))
    node, effects = poll(node, ctx(now=0, bonds=(F,)))
    assert node.committed == c(1, 1)
    offers = [s for s in sends(effects) if isinstance(s.message, SnapshotOffer)]
    assert offers == [Send(F, SnapshotOffer(SnapshotInfo(c(1, 1), 0)))]


def test_node_poll_runs_the_role_then_the_provider() -> None:
    check_poll_order(node_poll)


def test_poll_order_check_catches_a_provider_first_composition() -> None:
    def provider_first(node: NodeState, context: NodeContext) -> Step:
        provider, provided = provider_poll(node.provider, provider_context(node, context))
        node, role_effects = role_poll(with_provider(node, provider), context)
        return node, provided + role_effects

    with pytest.raises(AssertionError):
        check_poll_order(provider_first)


def test_node_poll_prunes_expired_snapshots() -> None:
    node = replace(
        follower(),
        provider=ProviderState(available=pmap({c(1, 1): AvailableSnapshot(TupleSnapshot(), 50)})),
    )
    polled, _ = node_poll(node, ctx(now=50))
    assert polled.provider.available == pmap()


def test_node_poll_suppresses_elections_during_catch_up_and_for_observers() -> None:
    late = ctx(now=10**7)
    node, _ = node_poll(lagging(), late)
    assert isinstance(node.role, FollowerRole)
    observer, _ = node_poll(follower(preference=Preference.OBSERVER), late)
    assert isinstance(observer.role, FollowerRole)
    writer, _ = node_poll(follower(), late)
    assert isinstance(writer.role, CandidateRole)


# -- R9 through the node: a catch-up that finishes --------------------------------------------


def test_catch_up_finishes_through_node_steps_and_installs_the_snapshot() -> None:
    node = lagging(sm=RecState((1, 2)))
    anchor = c(1, 10)
    node, _ = node_receive(node, ctx(), A, SnapshotOffer(SnapshotInfo(anchor, 6)))
    node, effects = node_poll(node, ctx())
    asked = [s.message for s in sends(effects) if isinstance(s.message, FetchDataRequest)]
    assert [m.range for m in asked] == [ItemRange(0, 4)]
    node, _ = node_receive(node, ctx(), A, FetchDataResponse(anchor, 0, (0, 1, 2, 3)))
    node, effects = node_poll(node, ctx())
    node, _ = node_receive(node, ctx(), A, FetchDataResponse(anchor, 4, (4, 5)))
    node, _ = node_poll(node, ctx())
    assert node.catchup is not None, "completion is seen at the next poll (Q5 step 0)"
    node, effects = node_poll(node, ctx())
    assert node.catchup is None
    assert node.sm.items == (0, 1, 2, 3, 4, 5)
    assert node.committed == anchor
    assert node.log.last() == anchor
    assert node.log.term_at(10) == 1
    assert not node.online, "online only at the next consistent AppendEntries (H22)"
    node, effects = node_receive(node, ctx(), L, ae(c(1, 10), [(1, 11)], 11))
    assert node.online
    assert node.committed == c(1, 11)
    assert node.sm.items == (0, 1, 2, 3, 4, 5, 11)


# -- client writes, bond terminations, deadlines, node_new ------------------------------------


def test_node_client_write_queues_at_the_leader() -> None:
    node, effects = node_client_write(leader(), ctx(), 42)
    assert isinstance(node.role, LeaderRole)
    assert node.role.client_commands == (42,)
    assert effects == ()


def test_invalid_client_write_at_a_follower_raises_not_leader() -> None:
    with pytest.raises(NotLeader) as err:
        node_client_write(follower(), ctx(), 42)
    assert err.value.command == 42


def test_node_bond_terminated_reaches_the_session_watchers() -> None:
    node = lagging()
    after, effects = node_bond_terminated(node, A)
    assert after.catchup is not None
    assert after.catchup.terminations == (A,)
    assert effects == ()
    plain = follower()
    assert node_bond_terminated(plain, A) == (plain, ())


def test_node_next_deadline() -> None:
    assert node_next_deadline(follower()) == 12_000
    assert node_next_deadline(follower(preference=Preference.OBSERVER)) is None
    assert node_next_deadline(leader(heartbeat_deadline=10_500)) == 10_500
    assert node_next_deadline(leader(queued=(1,))) == 0
    held = replace(
        follower(preference=Preference.OBSERVER),
        provider=ProviderState(available=pmap({c(1, 1): AvailableSnapshot(TupleSnapshot(), 77)})),
    )
    assert node_next_deadline(held) == 77
    node, _ = start_election(follower(), ctx(bonds=()), Term(2))
    assert node_next_deadline(node) == 0, "a lone candidate already has its quorum"


def test_node_new_starts_as_a_leaderless_follower() -> None:
    node = node_new(B, MACHINE, Preference.OBSERVER, 100, 5_000)
    assert node.term == 0
    assert node.leader is None
    assert node.committed == Cursor.zero()
    assert node.sm == RecState()
    assert isinstance(node.role, FollowerRole)
    assert node.role.election_deadline_ms == 5_100
    assert node.preference is Preference.OBSERVER
    assert OBS != B


def test_invalid_node_new_with_a_bad_id_is_a_typed_error() -> None:
    with pytest.raises(InvalidInput):
        node_new("n0", MACHINE, Preference.NORMAL, 0, 1)  # type: ignore[arg-type]


# -- H16: a documented limitation, reproduced -------------------------------------------------


@pytest.mark.parametrize("profile", [REFERENCE, MOSAIK_0_3_13], ids=lambda p: p.name)
def test_h16_a_lagging_voter_blocks_the_commit_of_its_own_take_snapshot(profile: Profile) -> None:
    """docs/protocol/raft.md, H16: voters {L, A}; A lags, so nothing commits, for a minute."""
    nodes = {
        L: leader(terms=(1, 1), voters={L: 2, A: 2}, committed=c(1, 2)),
        A: follower(terms=(1,), node_id=A, committed=c(1, 1), sm=RecState((1,))),
    }
    queues: dict[PeerId, list[Message]] = {L: [], A: []}

    def carry(src: PeerId, effects: tuple[Effect, ...]) -> None:
        dst = A if src == L else L
        for e in effects:
            if isinstance(e, Broadcast) or (isinstance(e, Send) and e.to == dst):
                queues[dst].append(e.message)

    def context(peer: PeerId, now: int) -> NodeContext:
        return ctx(now=now, bonds=(A if peer == L else L,), profile=profile)

    for now in range(10_000, 70_000, 250):
        for peer in (L, A):
            nodes[peer], effects = node_poll(nodes[peer], context(peer, now))
            carry(peer, effects)
        while queues[L] or queues[A]:
            for dst in (L, A):
                while queues[dst]:
                    src = A if dst == L else L
                    nodes[dst], effects = node_receive(
                        nodes[dst], context(dst, now), src, queues[dst].pop(0)
                    )
                    carry(dst, effects)

    assert nodes[A].catchup is not None, "A is still catching up"
    assert nodes[L].committed == c(1, 2), "nothing committed: A's vote is needed"
    markers = [e for e in nodes[L].log.get_range(3, 100) if isinstance(e[2], TakeSnapshot)]
    assert len(markers) >= 4, "A retried every snapshot_request_timeout; each added a marker"
    assert nodes[L].provider.available == pmap(), "no snapshot was ever taken"


# -- the dispatch checks, run against broken compositions -------------------------------------


def check_drops(receive: Callable[[NodeState, NodeContext, PeerId, Message], Step]) -> None:
    """Rules 1-2: an unbonded sender and an older term leave the node unchanged."""
    node = follower(term=2)
    for sender, message in (
        (PeerId.from_label("stranger"), ae(c(0, 0), term=2)),
        (A, ae(c(0, 0), term=1)),
    ):
        same, _ = receive(node, ctx(), sender, message)
        assert same is node


def test_drop_check_holds_for_node_receive() -> None:
    check_drops(node_receive)


def test_drop_check_catches_a_dispatch_without_the_stale_term_rule() -> None:
    def mutant(node: NodeState, context: NodeContext, sender: PeerId, message: Message) -> Step:
        return node_receive(replace(node, term=Term(0)), context, sender, message)

    with pytest.raises(AssertionError):
        check_drops(mutant)


def test_drop_check_catches_a_dispatch_without_the_bond_rule() -> None:
    def mutant(node: NodeState, context: NodeContext, sender: PeerId, message: Message) -> Step:
        return node_receive(node, replace(context, bonds=context.bonds | {sender}), sender, message)

    with pytest.raises(AssertionError):
        check_drops(mutant)


def check_no_election_during_catch_up(poll: Callable[[NodeState, NodeContext], Step]) -> None:
    node, _ = poll(lagging(), ctx(now=10**7))
    assert isinstance(node.role, FollowerRole)


def test_catch_up_check_catches_a_poll_that_ignores_the_session() -> None:
    check_no_election_during_catch_up(node_poll)

    def mutant(node: NodeState, context: NodeContext) -> Step:
        assert isinstance(node.role, FollowerRole)
        bare = replace(node, role=replace(node.role, catchup=None))
        return node_poll(bare, context)

    with pytest.raises(AssertionError):
        check_no_election_during_catch_up(mutant)
