"""Unit tests of the Raft-side steps R1–R10 and elections (impl/raft.py; inventory §1.1).

The state machine here is :class:`RecordingMachine`: it appends every data command
to a tuple and records each ``apply_batch`` call with its ApplyContext, so R6's
batch splitting is visible. Guards are tested on the normal path, on rejected
input (``test_invalid_*``), and against deliberately broken variants.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pyrsistent import pmap

import impl.raft as raft
from impl.collections.base import ApplyContext, PendingRequest
from impl.config import Config
from impl.effects import ArmTimer, Broadcast, Effect, Ignored, IgnoreReason, Send, TimerKind
from impl.errors import InvalidState, NotLeader
from impl.logstore import LogStore
from impl.messages import (
    AppendEntries,
    AppendEntriesResponse,
    Command,
    LogEntry,
    RequestSnapshot,
    RequestVote,
    RequestVoteResponse,
    SnapshotRequest,
    TakeSnapshot,
    Vote,
)
from impl.node_state import (
    CandidateRole,
    Committee,
    FollowerRole,
    LeaderRole,
    NodeContext,
    NodeState,
    Preference,
)
from impl.profile import MOSAIK_0_3_13, REFERENCE, Behaviour, Hazard, Profile
from impl.raft import (
    commit_up_to,
    committee_record,
    follower_accept_in_sync,
    follower_election_timeout,
    follower_on_append_entries,
    follower_poll,
    highest_quorum_index,
    leader_heartbeat,
    leader_on_append_entries_response,
    leader_publish_batch,
    leader_record_no_vote,
    leader_record_vote,
    maybe_cast_vote,
    provider_feed_command,
    prune_safe_prefix,
    role_step_down,
    start_election,
)
from impl.types import Cursor, Index, PeerId, Term
from model_tests.test_provider import TupleSnapshot

L = PeerId.from_label("leader")
A = PeerId.from_label("writer-a")
B = PeerId.from_label("writer-b")
OBS = PeerId.from_label("observer")
F = PeerId.from_label("follower")
WALL = 1_700_000_000_000


# -- fixtures ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RecState:
    """State of :class:`RecordingMachine`: the applied data, and every apply_batch call."""

    items: tuple[Any, ...] = ()
    calls: tuple[tuple[tuple[Command, ...], ApplyContext], ...] = ()


class RecordingMachine:
    """A minimal S1 over a tuple that records each batch and its ApplyContext."""

    kind = "vec"

    def initial(self) -> RecState:
        return RecState()

    def apply_batch(
        self, state: RecState, commands: Sequence[Command], ctx: ApplyContext, profile: Profile
    ) -> tuple[RecState, tuple[PendingRequest, ...]]:
        items = list(state.items)
        requests: list[SnapshotRequest] = []
        for command in commands:
            if isinstance(command, TakeSnapshot):
                req = command.request
                if req.requested_by != ctx.local_id and not ctx.config.is_expired(
                    req, ctx.now_wall_ms
                ):
                    requests.append(req)
            else:
                items.append(command)
        new = RecState(tuple(items), (*state.calls, (tuple(commands), ctx)))
        position = Cursor(ctx.current_term, Index(ctx.committed.index + len(commands)))
        snapshot = TupleSnapshot(new.items)
        return new, tuple(PendingRequest(r, position, snapshot) for r in requests)

    def create_snapshot(self, state: RecState, profile: Profile = REFERENCE) -> TupleSnapshot:
        return TupleSnapshot(state.items)

    def install_snapshot(self, state: RecState, snapshot: Any) -> RecState:
        return RecState(tuple(snapshot.data), state.calls)

    def empty_snapshot(self, profile: Profile = REFERENCE) -> TupleSnapshot:
        return TupleSnapshot()

    def items(self, state: RecState) -> tuple[Any, ...]:
        return state.items


MACHINE = RecordingMachine()


def ctx(
    now: int = 10_000,
    bonds: Iterable[PeerId] = (L, A, B, OBS, F),
    profile: Profile = REFERENCE,
    election_timeout: int = 2_000,
    config: Config | None = None,
) -> NodeContext:
    return NodeContext(
        now_ms=now,
        now_wall_ms=WALL + now,
        bonds=frozenset(bonds),
        config=config or Config(fetch_batch_size=4),
        profile=profile,
        machine=MACHINE,
        election_timeout_ms=election_timeout,
    )


def make_log(terms: Sequence[int], start: int = 0) -> LogStore:
    """A log holding one int command per term in ``terms`` (command = its index)."""
    log = LogStore()
    for i, t in enumerate(terms, start=start + 1):
        log, _ = log.append(i, Term(t))
    return log


def leader(
    terms: Sequence[int] = (),
    voters: dict[PeerId, int] | None = None,
    term: int = 1,
    queued: tuple[Command, ...] = (),
    committed: Cursor | None = None,
    heartbeat_deadline: int = 10_500,
) -> NodeState:
    log = make_log(terms)
    voters = voters if voters is not None else {L: log.last().index}
    return NodeState(
        id=L,
        kind="vec",
        preference=Preference.NORMAL,
        term=Term(term),
        role=LeaderRole(
            committee=Committee(voters=pmap({p: Index(i) for p, i in voters.items()})),
            heartbeat_deadline_ms=heartbeat_deadline,
            client_commands=queued,
        ),
        log=log,
        committed=committed or Cursor.zero(),
        sm=RecState(),
        online=True,
    )


def follower(
    terms: Sequence[int] = (),
    term: int = 1,
    committed: Cursor | None = None,
    preference: Preference = Preference.NORMAL,
    leader_id: PeerId | None = L,
    node_id: PeerId = F,
    sm: RecState | None = None,
) -> NodeState:
    return NodeState(
        id=node_id,
        kind="vec",
        preference=preference,
        term=Term(term),
        role=FollowerRole(leader=leader_id, election_deadline_ms=12_000),
        log=make_log(terms),
        committed=committed or Cursor.zero(),
        sm=sm or RecState(),
    )


def ae(
    prev: Cursor,
    entries: Sequence[tuple[int, Command]] = (),
    leader_commit: int = 0,
    term: int = 1,
) -> AppendEntries:
    return AppendEntries(
        term=Term(term),
        leader=L,
        prev_log_position=prev,
        entries=tuple(LogEntry(Term(t), c) for t, c in entries),
        leader_commit=Index(leader_commit),
    )


def sends(effects: Iterable[Effect]) -> list[Send]:
    return [e for e in effects if isinstance(e, Send)]


def broadcasts(effects: Iterable[Effect]) -> list[Broadcast]:
    return [e for e in effects if isinstance(e, Broadcast)]


def c(term: int, index: int) -> Cursor:
    return Cursor(Term(term), Index(index))


# -- R1 leader_publish_batch ------------------------------------------------------------------


def test_leader_publish_batch_appends_broadcasts_then_records_its_vote() -> None:
    node = leader(terms=(1, 1), voters={L: 2, A: 2}, queued=(10, 11), committed=c(1, 2))
    node, effects = leader_publish_batch(node, ctx())
    assert node.log.get_range(3, 4) == ((1, 3, 10), (1, 4, 11))
    assert isinstance(node.role, LeaderRole)
    assert node.role.client_commands == ()
    (bc,) = broadcasts(effects)
    assert bc.message == AppendEntries(
        Term(1), L, c(1, 2), (LogEntry(Term(1), 10), LogEntry(Term(1), 11)), Index(2)
    )
    assert node.role.committee.voters[L] == 4
    assert node.committed == c(1, 2)
    assert node.role.heartbeat_deadline_ms == 10_000 + 500


def test_leader_publish_batch_with_a_single_voter_commits_and_heartbeats_now() -> None:
    node = leader(queued=(7, 8, 9))
    node, effects = leader_publish_batch(node, ctx())
    (bc,) = broadcasts(effects)
    assert isinstance(bc.message, AppendEntries)
    assert bc.message.leader_commit == 0
    assert node.committed == c(1, 3)
    assert node.sm.items == (7, 8, 9)
    assert isinstance(node.role, LeaderRole)
    assert node.role.heartbeat_deadline_ms == 10_000
    assert node.log.offset == 2, "R7 keeps only the last committed entry"


def test_leader_publish_batch_with_nothing_queued_is_a_no_op() -> None:
    node = leader()
    assert leader_publish_batch(node, ctx()) == (node, ())


def test_invalid_publish_at_a_follower_is_a_typed_error() -> None:
    with pytest.raises(InvalidState):
        leader_publish_batch(follower(), ctx())


# -- R2 leader_heartbeat ----------------------------------------------------------------------


def test_leader_heartbeat_carries_last_position_and_commit_when_due() -> None:
    node = leader(terms=(1, 1, 1), voters={L: 3}, committed=c(1, 3), heartbeat_deadline=10_000)
    node, effects = leader_heartbeat(node, ctx(now=10_000))
    assert effects == (
        Broadcast(AppendEntries(Term(1), L, c(1, 3), (), Index(3))),
        ArmTimer(raft.HEARTBEAT_TIMER, 10_500),
    )


def test_leader_heartbeat_before_its_deadline_is_a_no_op() -> None:
    node = leader(heartbeat_deadline=10_001)
    assert leader_heartbeat(node, ctx(now=10_000)) == (node, ())


def test_invalid_heartbeat_at_a_candidate_is_a_typed_error() -> None:
    node, _ = start_election(follower(), ctx(), Term(2))
    with pytest.raises(InvalidState):
        leader_heartbeat(node, ctx())


# -- R3 leader_record_vote, committee ---------------------------------------------------------


def test_record_vote_commits_at_the_quorum_index_then_prunes_and_heartbeats() -> None:
    node = leader(terms=(1,) * 6, voters={L: 6, A: 2, B: 1})
    node, effects = leader_record_vote(node, ctx(), A, Index(5))
    assert node.committed == c(1, 5)
    assert node.sm.items == (1, 2, 3, 4, 5)
    assert node.log.offset == 4
    assert node.log.term_at(5) == 1
    assert isinstance(node.role, LeaderRole)
    assert node.role.heartbeat_deadline_ms == 10_000
    assert effects == (ArmTimer(raft.HEARTBEAT_TIMER, 10_000),)


def test_record_vote_without_a_quorum_change_commits_nothing() -> None:
    node = leader(terms=(1,) * 6, voters={L: 6, A: 2, B: 1})
    node, effects = leader_record_vote(node, ctx(), B, Index(1))
    assert node.committed == c(1, 2)
    assert effects == (ArmTimer(raft.HEARTBEAT_TIMER, 10_000),)
    again, effects = leader_record_vote(node, ctx(), B, Index(2))
    assert again.committed == c(1, 2)
    assert effects == ()


def test_record_vote_removes_voters_without_a_bond() -> None:
    """leader.rs:613-630: B's bond is gone, so the quorum is over {L, A}."""
    node = leader(terms=(1,) * 6, voters={L: 6, A: 0, B: 0})
    node, _ = leader_record_vote(node, ctx(bonds=(A, OBS)), A, Index(4))
    assert isinstance(node.role, LeaderRole)
    assert set(node.role.committee.voters) == {L, A}
    assert node.committed == c(1, 4)


def test_observers_abstain_and_never_count_toward_the_quorum() -> None:
    node = leader(terms=(1,) * 6, voters={L: 6, A: 3})
    abstain = AppendEntriesResponse(Term(1), Index(6), Vote.ABSTAINED)
    node, _ = leader_on_append_entries_response(node, ctx(), OBS, abstain)
    assert isinstance(node.role, LeaderRole)
    assert OBS not in node.role.committee.voters
    assert OBS not in node.role.committee.non_voters
    assert node.committed == c(1, 3)
    obs = follower(terms=(1,) * 6, preference=Preference.OBSERVER, node_id=OBS)
    _, effects = follower_accept_in_sync(obs, ctx(), L, ae(c(1, 6), [(1, 7)], 0))
    assert sends(effects)[0].message == AppendEntriesResponse(Term(1), Index(7), Vote.ABSTAINED)


def test_readers_vote_in_0_3_13_observers_grant_and_join_the_quorum() -> None:
    """Behaviour readers-vote (mosaik 0.3.13, follower.rs:598-608, role.rs:379-385): an
    observer acknowledges with Granted and grants RequestVote, so it becomes a voter."""
    readers_vote = REFERENCE.with_behaviours([Behaviour.READERS_VOTE])
    obs = follower(terms=(1,) * 6, preference=Preference.OBSERVER, node_id=OBS)
    _, effects = follower_accept_in_sync(
        obs, ctx(profile=readers_vote), L, ae(c(1, 6), [(1, 7)], 0)
    )
    assert sends(effects)[0].message == AppendEntriesResponse(Term(1), Index(7), Vote.GRANTED)
    voted, effects = maybe_cast_vote(
        obs, ctx(profile=readers_vote), A, RequestVote(Term(2), A, c(1, 6))
    )
    assert sends(effects)[0] == Send(A, RequestVoteResponse(Term(2), Vote.GRANTED))
    assert voted.last_vote == (2, A)
    # A leader with one writer voter and two reader acknowledgements: both readers are
    # promoted (3 voters, odd), and from then on the quorum needs one of them.
    node = leader(terms=(1,) * 6, voters={L: 6})
    grant = AppendEntriesResponse(Term(1), Index(5), Vote.GRANTED)
    node, _ = leader_on_append_entries_response(node, ctx(profile=readers_vote), OBS, grant)
    node, _ = leader_on_append_entries_response(node, ctx(profile=readers_vote), A, grant)
    assert isinstance(node.role, LeaderRole)
    assert set(node.role.committee.voters) == {L, OBS, A}
    ahead = replace(node.role.committee, voters=node.role.committee.voters.set(L, Index(7)))
    assert highest_quorum_index(ahead) == 5


def test_record_no_vote_denied_keeps_the_member_and_abstained_removes_it() -> None:
    node = leader(terms=(1,) * 4, voters={L: 4, A: 1, B: 4})
    denied, _ = leader_record_no_vote(node, ctx(), A, abstained=False)
    assert isinstance(denied.role, LeaderRole)
    assert A in denied.role.committee.voters
    abstained, _ = leader_record_no_vote(node, ctx(), A, abstained=True)
    assert isinstance(abstained.role, LeaderRole)
    assert A not in abstained.role.committee.voters


def test_a_new_acknowledging_follower_is_backfilled_keeping_the_count_odd() -> None:
    one = Committee(voters=pmap({L: Index(5)}))
    two = committee_record(one, A, Index(5))
    assert set(two.voters) == {L}, "1 + 1 voters would be even: A is not promoted"
    assert set(two.non_voters) == {A}
    three = committee_record(two, B, Index(4))
    assert set(three.voters) == {L, A, B}
    assert not three.non_voters


@given(st.lists(st.integers(0, 50), min_size=1, max_size=5))
def test_highest_quorum_index_is_the_largest_index_a_majority_has(indices: list[int]) -> None:
    voters = {PeerId(bytes([k]) * 32): Index(i) for k, i in enumerate(indices)}
    q = highest_quorum_index(Committee(voters=pmap(voters)))
    majority = len(indices) // 2 + 1
    assert sum(i >= q for i in indices) >= majority
    assert all(sum(i >= k for i in indices) < majority for k in range(q + 1, 52))


def test_invalid_quorum_of_an_empty_committee_is_a_typed_error() -> None:
    with pytest.raises(InvalidState):
        highest_quorum_index(Committee(voters=pmap()))


def test_quorum_check_catches_a_leader_that_commits_on_any_single_ack(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def check() -> None:
        node = leader(terms=(1,) * 6, voters={L: 6, A: 2, B: 1})
        node, _ = leader_record_vote(node, ctx(), A, Index(5))
        assert node.committed == c(1, 5)
        node, _ = leader_record_vote(
            leader(terms=(1,) * 6, voters={L: 6, A: 1, B: 1}), ctx(), A, Index(1)
        )
        assert node.committed == c(1, 1)

    check()
    monkeypatch.setattr(raft, "highest_quorum_index", lambda cm: max(cm.voters.values()))
    with pytest.raises(AssertionError):
        check()


# -- R4 follower_on_append_entries ------------------------------------------------------------


def test_r4_consistent_prev_appends_and_responds() -> None:
    node = follower(terms=(1, 1))
    node, effects = follower_on_append_entries(node, ctx(), L, ae(c(1, 2), [(1, 3)], 1))
    assert node.online
    assert node.log.last() == c(1, 3)
    assert node.committed == c(1, 1)
    assert Send(L, AppendEntriesResponse(Term(1), Index(3), Vote.GRANTED)) in effects
    assert isinstance(node.role, FollowerRole)
    assert node.role.catchup is None


def test_r4_resets_the_election_timeout_and_follows_the_sender_leader() -> None:
    node = follower(terms=(1,), leader_id=None)
    node, effects = follower_on_append_entries(node, ctx(now=11_000), L, ae(c(1, 1)))
    assert isinstance(node.role, FollowerRole)
    assert node.role.leader == L
    assert node.role.election_deadline_ms == 13_000
    assert ArmTimer(raft.ELECTION_TIMER, 13_000) in effects


def test_r4_consistent_prev_with_a_conflicting_next_entry_truncates_first() -> None:
    node = follower(terms=(1, 1, 1), term=2, committed=c(1, 1))
    node, _ = follower_on_append_entries(node, ctx(), L, ae(c(1, 2), [(2, 30)], term=2))
    assert node.log.get_range(1, 9) == ((1, 1, 1), (1, 2, 2), (2, 3, 30))


def test_r4_term_conflict_at_prev_truncates_and_starts_a_session() -> None:
    node = follower(terms=(1, 1, 1), term=2, committed=c(1, 1))
    node, effects = follower_on_append_entries(node, ctx(), L, ae(c(2, 3), [(2, 4)], 3, term=2))
    assert node.log.last() == c(1, 2)
    assert not node.online
    assert isinstance(node.role, FollowerRole)
    assert node.role.catchup is not None
    assert Send(L, RequestSnapshot()) in effects
    assert not any(isinstance(s.message, AppendEntriesResponse) for s in sends(effects))


def test_r4_prev_beyond_the_log_starts_a_session_without_touching_the_log() -> None:
    node = follower(terms=(1, 1))
    before = node.log
    node, effects = follower_on_append_entries(node, ctx(), L, ae(c(1, 9), [(1, 10)], 9))
    assert node.log is before
    assert node.committed == Cursor.zero()
    assert isinstance(node.role, FollowerRole)
    assert node.role.catchup is not None
    assert sends(effects) == [Send(L, RequestSnapshot())]


def test_r4_prev_below_the_pruned_offset_is_inconsistent() -> None:
    node = follower(terms=(1,) * 5, committed=c(1, 4))
    node = replace(node, log=node.log.prune_prefix(3))
    node, _ = follower_on_append_entries(node, ctx(), L, ae(c(1, 2), [(1, 3)], 3))
    assert isinstance(node.role, FollowerRole)
    assert node.role.catchup is not None


def test_r4_while_a_session_exists_buffers_instead_of_starting_another() -> None:
    node = follower(terms=(1, 1))
    node, _ = follower_on_append_entries(node, ctx(), L, ae(c(1, 9), [(1, 10)], 9))
    assert isinstance(node.role, FollowerRole)
    first = node.role.catchup
    node, effects = follower_on_append_entries(node, ctx(), L, ae(c(1, 10), [(1, 11)], 9))
    assert isinstance(node.role, FollowerRole)
    assert node.role.catchup is not first
    assert RequestSnapshot() not in [s.message for s in sends(effects)]


def test_invalid_r4_of_another_term_is_a_typed_error() -> None:
    with pytest.raises(InvalidState):
        follower_on_append_entries(follower(term=2), ctx(), L, ae(c(1, 0), term=1))


def test_invalid_r4_that_would_truncate_a_committed_entry_is_a_typed_error() -> None:
    node = follower(terms=(1, 1, 1), term=2, committed=c(1, 3))
    with pytest.raises(InvalidState):
        follower_on_append_entries(node, ctx(), L, ae(c(2, 2), term=2))


@pytest.mark.parametrize("profile", [REFERENCE, MOSAIK_0_3_13])
def test_h27_a_late_consistent_append_entries_during_catch_up(profile: Profile) -> None:
    """H27: under mosaik a consistent AE during catch-up commits and applies (I12 broken).

    The follower holds 1..5 (committed 3); an AE with prev 9 starts a session; then
    an older AE (prev 5, entry 6, commit 6) arrives late.
    """
    node = follower(terms=(1,) * 5, committed=c(1, 3), sm=RecState((1, 2, 3)))
    node, _ = follower_on_append_entries(node, ctx(profile=profile), L, ae(c(1, 9), [(1, 10)], 9))
    assert node.catchup is not None
    node, effects = follower_on_append_entries(
        node, ctx(profile=profile), L, ae(c(1, 5), [(1, 6)], 6)
    )
    assert node.catchup is not None
    applied_during_catch_up = node.committed != c(1, 3)
    assert applied_during_catch_up == profile.has(Hazard.H27)
    if profile.has(Hazard.H27):
        assert node.committed == c(1, 6)
        assert node.sm.items == (1, 2, 3, 4, 5, 6)
        assert node.online
    else:
        assert node.log.last() == c(1, 5)
        assert node.sm.items == (1, 2, 3)
        assert not node.online
        assert sends(effects) == []


# -- R5 follower_accept_in_sync ---------------------------------------------------------------


def test_r5_skips_entries_already_present_and_still_responds() -> None:
    node = follower(terms=(1, 1, 1))
    node, effects = follower_accept_in_sync(node, ctx(), L, ae(c(1, 1), [(1, 2), (1, 3)], 0))
    assert node.log.get_range(1, 9) == ((1, 1, 1), (1, 2, 2), (1, 3, 3))
    assert sends(effects) == [Send(L, AppendEntriesResponse(Term(1), Index(3), Vote.GRANTED))]


def test_r5_heartbeat_commits_to_min_of_leader_commit_and_last_without_responding() -> None:
    node = follower(terms=(1, 1, 1))
    node, effects = follower_accept_in_sync(node, ctx(), L, ae(c(1, 3), [], 9))
    assert effects == ()
    assert node.committed == c(1, 3)
    assert node.sm.items == (1, 2, 3)
    assert node.log.offset == 2


def test_r5_never_moves_commit_backwards() -> None:
    node = follower(terms=(1, 1, 1), committed=c(1, 3), sm=RecState((1, 2, 3)))
    same, _ = follower_accept_in_sync(node, ctx(), L, ae(c(1, 3), [], 1))
    assert same.committed == c(1, 3)
    assert same.sm == node.sm


# -- R6 commit_up_to --------------------------------------------------------------------------


def check_r6_runs(step: Any) -> None:
    """R6: one apply_batch per maximal run of equal term, with that run's ApplyContext."""
    node = follower(terms=(1, 1, 2, 2, 2, 3))
    node = step(node, ctx(now=5), Index(6))
    cfg = Config(fetch_batch_size=4)
    expected = [
        ((1, 2), ApplyContext(c(0, 0), c(3, 6), Term(1), F, WALL + 5, cfg)),
        ((3, 4, 5), ApplyContext(c(1, 2), c(3, 6), Term(2), F, WALL + 5, cfg)),
        ((6,), ApplyContext(c(2, 5), c(3, 6), Term(3), F, WALL + 5, cfg)),
    ]
    assert list(node.sm.calls) == expected
    assert node.committed == c(3, 6)


def test_r6_splits_the_batch_by_term_with_the_right_apply_context() -> None:
    check_r6_runs(commit_up_to)


def test_r6_check_catches_a_commit_that_does_not_split_by_term() -> None:
    def mutant(node: NodeState, context: NodeContext, index: Index) -> NodeState:
        entries = node.log.get_range(node.committed.index + 1, index)
        last_term = Term(entries[-1][0])
        actx = ApplyContext(
            node.committed, node.log.last(), last_term, node.id, context.now_wall_ms, context.config
        )
        sm, _ = MACHINE.apply_batch(node.sm, [e[2] for e in entries], actx, context.profile)
        return replace(node, sm=sm, committed=Cursor(last_term, Index(index)))

    with pytest.raises(AssertionError):
        check_r6_runs(mutant)


def test_r6_commits_a_prefix_and_clamps_to_the_log() -> None:
    node = follower(terms=(1, 1, 2))
    part = commit_up_to(node, ctx(), Index(1))
    assert part.committed == c(1, 1)
    assert part.sm.items == (1,)
    beyond = commit_up_to(part, ctx(), Index(99))
    assert beyond.committed == c(2, 3)
    assert beyond.sm.items == (1, 2, 3)
    assert commit_up_to(beyond, ctx(), Index(99)) is beyond


def test_r6_pushes_take_snapshot_requests_at_the_end_of_their_run() -> None:
    req = SnapshotRequest(A, WALL)
    node = NodeState(
        id=F,
        kind="vec",
        preference=Preference.NORMAL,
        term=Term(2),
        role=FollowerRole(leader=L, election_deadline_ms=0),
        log=LogStore()
        .append(1, Term(1))[0]
        .append(TakeSnapshot(req), Term(2))[0]
        .append(3, Term(2))[0],
        committed=Cursor.zero(),
        sm=RecState(),
    )
    node = commit_up_to(node, ctx(now=0), Index(3))
    (pending,) = node.provider.requests
    assert pending.request == req
    assert pending.position == c(2, 3)
    assert pending.snapshot == TupleSnapshot((1, 3))


def test_invalid_r6_with_committed_below_the_log_offset_is_a_typed_error() -> None:
    node = follower(terms=(1,) * 4, committed=c(1, 1))
    node = replace(node, log=node.log.prune_prefix(3))
    with pytest.raises(InvalidState):
        commit_up_to(node, ctx(), Index(4))


# -- R7 prune_safe_prefix ---------------------------------------------------------------------


def check_i16(node: NodeState) -> None:
    """I16: after R7 the offset is at most committed - 1 and term_at(committed) is defined."""
    if node.committed.index:
        assert node.log.offset <= node.committed.index - 1
    assert node.log.term_at(node.committed.index) == node.committed.term


@given(n=st.integers(0, 30), k=st.integers(0, 30))
def test_r7_prunes_to_committed_minus_one(n: int, k: int) -> None:
    k = min(k, n)
    node = follower(terms=(1,) * n, committed=c(1 if k else 0, k))
    pruned = prune_safe_prefix(node)
    check_i16(pruned)
    assert pruned.log.offset == max(k - 1, 0)
    assert pruned.log.last() == node.log.last()


def test_r7_check_catches_a_prune_up_to_committed() -> None:
    node = follower(terms=(1,) * 5, committed=c(1, 3))
    with pytest.raises(AssertionError):
        check_i16(replace(node, log=node.log.prune_prefix(3)))


def test_r7_with_nothing_committed_is_a_no_op() -> None:
    node = follower(terms=(1, 1))
    assert prune_safe_prefix(node) is node


# -- R8 provider_feed_command -----------------------------------------------------------------


def test_r8_queues_at_the_leader() -> None:
    node, effects = provider_feed_command(leader(queued=(1,)), 2)
    assert isinstance(node.role, LeaderRole)
    assert node.role.client_commands == (1, 2)
    assert effects == ()


def test_invalid_r8_at_a_follower_or_candidate_is_not_leader() -> None:
    with pytest.raises(NotLeader) as err:
        provider_feed_command(follower(), 5)
    assert err.value.command == 5
    assert err.value.leader == L
    candidate, _ = start_election(follower(), ctx(), Term(2))
    with pytest.raises(NotLeader):
        provider_feed_command(candidate, 5)


# -- R9 follower_poll_catchup (the finalize side; session internals: test_session.py) ---------


def test_r9_pending_session_suppresses_the_election_timeout() -> None:
    node = follower(terms=(1, 1))
    node, _ = follower_on_append_entries(node, ctx(), L, ae(c(1, 9), [(1, 10)], 9))
    late = ctx(now=10**6)
    assert isinstance(node.role, FollowerRole)
    polled, _ = follower_poll(node, late)
    assert isinstance(polled.role, FollowerRole)
    assert polled.catchup is not None
    without, _ = follower_poll(replace(node, role=replace(node.role, catchup=None)), late)
    assert isinstance(without.role, CandidateRole)


# -- R10 role_step_down -----------------------------------------------------------------------


def test_r10_higher_term_drops_the_session() -> None:
    node = follower(terms=(1, 1))
    node, _ = follower_on_append_entries(node, ctx(), L, ae(c(1, 9), [(1, 10)], 9))
    assert node.catchup is not None
    node, effects = role_step_down(node, ctx(), Term(2), None)
    assert node.term == 2
    assert node.catchup is None
    assert node.leader is None
    assert not node.online
    assert ArmTimer(raft.ELECTION_TIMER, 12_000) in effects


def test_r10_leader_steps_down_and_loses_its_queue() -> None:
    node, _ = role_step_down(leader(queued=(1, 2)), ctx(), Term(3), A)
    assert isinstance(node.role, FollowerRole)
    assert node.role.leader == A
    assert node.term == 3


def test_r10_same_or_lower_term_is_a_no_op() -> None:
    node = follower(term=2)
    assert role_step_down(node, ctx(), Term(2), A) == (node, ())
    assert role_step_down(node, ctx(), Term(1), A) == (node, ())


# -- elections --------------------------------------------------------------------------------


def test_follower_election_timeout_starts_an_election() -> None:
    node = follower(terms=(1, 1))
    node, effects = follower_election_timeout(node, ctx(now=12_000, bonds=(A, B)))
    assert isinstance(node.role, CandidateRole)
    assert node.term == 2
    assert node.last_vote == (2, F)
    assert node.role.requested_from == {A, B, F}
    assert node.role.votes_granted == {F}
    assert Broadcast(RequestVote(Term(2), F, c(1, 2))) in effects


def test_follower_election_timeout_guards() -> None:
    node = follower()
    assert follower_election_timeout(node, ctx(now=11_999)) == (node, ())
    observer = follower(preference=Preference.OBSERVER)
    assert follower_election_timeout(observer, ctx(now=10**6)) == (observer, ())


@pytest.mark.parametrize(
    ("local", "candidate", "last_vote", "preference", "vote"),
    [
        ((1, 1), (1, 2), None, Preference.NORMAL, Vote.GRANTED),
        ((1, 1), (1, 2), (2, A), Preference.NORMAL, Vote.GRANTED),
        ((1, 1), (1, 2), (2, B), Preference.NORMAL, Vote.DENIED),
        ((1, 1), (1, 2), (1, B), Preference.NORMAL, Vote.GRANTED),
        ((1, 1, 1), (1, 2), None, Preference.NORMAL, Vote.DENIED),
        # Up-to-date compares the last term first: a longer log of an older term is behind.
        ((1, 2), (1, 3), None, Preference.NORMAL, Vote.DENIED),
        ((1, 1, 1), (2, 2), None, Preference.NORMAL, Vote.ABSTAINED),
        ((1,), (1, 2), None, Preference.NORMAL, Vote.ABSTAINED),
        ((1, 1), (1, 2), None, Preference.OBSERVER, Vote.ABSTAINED),
    ],
)
def test_maybe_cast_vote(
    local: tuple[int, ...],
    candidate: tuple[int, int],
    last_vote: tuple[int, PeerId] | None,
    preference: Preference,
    vote: Vote,
) -> None:
    node = follower(terms=local, preference=preference)
    node = replace(
        node, last_vote=None if last_vote is None else (Term(last_vote[0]), last_vote[1])
    )
    voted, effects = maybe_cast_vote(
        node, ctx(now=11_000), A, RequestVote(Term(2), A, c(*candidate))
    )
    assert sends(effects)[0] == Send(A, RequestVoteResponse(Term(2), vote))
    # A grant binds the voter for the term, and so (H31 off) does an abstention for a
    # log behind the candidate's; a reader's abstention binds nothing.
    binds = vote is Vote.GRANTED or (vote is Vote.ABSTAINED and preference is Preference.NORMAL)
    assert voted.last_vote == ((2, A) if binds else node.last_vote)
    assert isinstance(voted.role, FollowerRole)
    assert (voted.role.election_deadline_ms == 13_000) == (vote is not Vote.DENIED)


def test_h31_an_abstention_binds_the_voter_only_in_the_reference() -> None:
    behind = follower(terms=(1,))
    rv = RequestVote(Term(2), A, c(1, 2))
    bound, _ = maybe_cast_vote(behind, ctx(now=11_000), A, rv)
    assert bound.last_vote == (2, A)
    # The same voter then denies another candidate of term 2, at any log.
    _, effects = maybe_cast_vote(bound, ctx(now=11_000), B, RequestVote(Term(2), B, c(1, 1)))
    assert sends(effects)[0] == Send(B, RequestVoteResponse(Term(2), Vote.DENIED))
    # mosaik (H31 on): nothing recorded, so it grants B, whose log equals its own.
    mosaik = ctx(now=11_000, profile=REFERENCE.with_hazards([Hazard.H31]))
    free, _ = maybe_cast_vote(behind, mosaik, A, rv)
    assert free.last_vote is None
    _, effects = maybe_cast_vote(free, mosaik, B, RequestVote(Term(2), B, c(1, 1)))
    assert sends(effects)[0] == Send(B, RequestVoteResponse(Term(2), Vote.GRANTED))


@pytest.mark.parametrize("h30", [False, True], ids=["reference", "H30"])
def test_candidate_tally_quorum_and_becoming_leader(h30: bool) -> None:
    profile = REFERENCE.with_hazards([Hazard.H30]) if h30 else REFERENCE
    node, _ = start_election(follower(terms=(1, 1)), ctx(bonds=(A, B, OBS)), Term(2))
    yes = RequestVoteResponse(Term(2), Vote.GRANTED)
    node, _ = raft.candidate_on_request_vote_response(
        node, ctx(), OBS, RequestVoteResponse(Term(2), Vote.ABSTAINED)
    )
    assert isinstance(node.role, CandidateRole)
    assert OBS not in node.role.requested_from
    node, effects = raft.candidate_poll(node, ctx(profile=profile))
    assert isinstance(node.role, CandidateRole), "1 of 3: no quorum yet"
    node, _ = raft.candidate_on_request_vote_response(node, ctx(), A, yes)
    node, effects = raft.candidate_poll(node, ctx(now=10_100, profile=profile))
    assert isinstance(node.role, LeaderRole)
    assert node.online
    assert dict(node.role.committee.voters) == {F: 2, A: 2}
    # The granting voters hold the leader's log (index 2): the reference commits that
    # inherited tail at once; mosaik (H30) waits for its next R3.
    committed = 0 if h30 else 2
    assert node.committed.index == committed
    assert Broadcast(AppendEntries(Term(2), F, c(1, 2), (), Index(committed))) in effects


@pytest.mark.parametrize("term", [2, 3])
def test_a_new_leader_commits_its_tail_only_if_it_is_of_the_term_before(term: int) -> None:
    """Raft §5.4.2 (Figure 8): a tail of term 1 commits by counting at the election of term 2
    (no leader, so no other entry at its index, can exist between two consecutive terms),
    not at that of term 3: a leader of term 2 may hold another entry there."""
    node, _ = start_election(follower(terms=(1, 1)), ctx(bonds=(A,)), Term(term))
    node, _ = raft.candidate_on_request_vote_response(
        node, ctx(), A, RequestVoteResponse(Term(term), Vote.GRANTED)
    )
    node, _ = raft.candidate_poll(node, ctx(now=10_100))
    assert isinstance(node.role, LeaderRole)
    assert dict(node.role.committee.voters) == {F: 2, A: 2}
    assert node.committed.index == (2 if term == 2 else 0)
    assert raft.commits_by_counting(node, ctx(), Index(2)) is (term == 2)
    assert raft.commits_by_counting(node, ctx(profile=REFERENCE.with_hazards(["H30"])), Index(2))


def test_invalid_vote_from_a_peer_not_asked_is_ignored_unchanged() -> None:
    node, _ = start_election(follower(), ctx(bonds=(A,)), Term(2))
    same, effects = raft.candidate_on_request_vote_response(
        node, ctx(), B, RequestVoteResponse(Term(2), Vote.GRANTED)
    )
    assert same is node
    assert [e.reason for e in effects if isinstance(e, Ignored)] == [IgnoreReason.UNEXPECTED]


def test_candidate_timeout_starts_a_new_round() -> None:
    node, _ = start_election(follower(), ctx(bonds=(A, B)), Term(2))
    assert isinstance(node.role, CandidateRole)
    deadline = node.role.election_deadline_ms
    same, _ = raft.candidate_poll(node, ctx(now=deadline - 1))
    assert same is node
    node, effects = raft.candidate_poll(node, ctx(now=deadline))
    assert node.term == 3
    assert any(isinstance(e, ArmTimer) and e.timer.kind is TimerKind.ELECTION for e in effects)


def test_invalid_election_at_term_zero_is_a_typed_error() -> None:
    with pytest.raises(InvalidState):
        start_election(follower(term=0), ctx(), Term(0))


# -- the checks above, run against broken variants of the steps -------------------------------


def check_r4_branches(step: Any) -> None:
    """R4: consistent → appended and acknowledged; conflict or gap → session, no reply."""
    node, effects = step(follower(terms=(1, 1)), ctx(), L, ae(c(1, 2), [(1, 3)], 1))
    assert node.catchup is None
    assert node.log.last() == c(1, 3)
    for start, message in (
        (follower(terms=(1, 1, 1), term=2, committed=c(1, 1)), ae(c(2, 3), [(2, 4)], 3, term=2)),
        (follower(terms=(1, 1)), ae(c(1, 9), [(1, 10)], 9)),
    ):
        node, effects = step(start, ctx(), L, message)
        assert node.catchup is not None
        assert not node.online
        assert not any(isinstance(s.message, AppendEntriesResponse) for s in sends(effects))


def test_r4_check_holds_for_r4() -> None:
    check_r4_branches(follower_on_append_entries)


def test_r4_check_catches_a_follower_that_skips_the_consistency_check() -> None:
    def mutant(node: NodeState, context: NodeContext, sender: PeerId, m: AppendEntries) -> Any:
        return follower_accept_in_sync(replace(node, online=True), context, sender, m)

    with pytest.raises(AssertionError):
        check_r4_branches(mutant)


def check_r5_redelivery(step: Any) -> None:
    """R5: entries already stored with the same term are skipped, not appended again."""
    node, _ = step(follower(terms=(1, 1, 1)), ctx(), L, ae(c(1, 1), [(1, 2), (1, 3)], 0))
    assert node.log.last() == c(1, 3)


def test_r5_check_catches_a_follower_that_appends_duplicates() -> None:
    check_r5_redelivery(follower_accept_in_sync)

    def mutant(node: NodeState, context: NodeContext, sender: PeerId, m: AppendEntries) -> Any:
        log = node.log
        for entry in m.entries:
            log, _ = log.append(entry.command, entry.term)
        return replace(node, log=log), ()

    with pytest.raises(AssertionError):
        check_r5_redelivery(mutant)


def check_r10_drops_session(step: Any) -> None:
    node = follower(terms=(1, 1))
    node, _ = follower_on_append_entries(node, ctx(), L, ae(c(1, 9), [(1, 10)], 9))
    node, _ = step(node, ctx(), Term(2), None)
    assert node.catchup is None


def test_r10_check_catches_a_step_down_that_keeps_the_session() -> None:
    check_r10_drops_session(role_step_down)

    def mutant(node: NodeState, context: NodeContext, term: Term, lead: PeerId | None) -> Any:
        new, effects = role_step_down(node, context, term, lead)
        assert isinstance(new.role, FollowerRole)
        return replace(new, role=replace(new.role, catchup=node.catchup)), effects

    with pytest.raises(AssertionError):
        check_r10_drops_session(mutant)
