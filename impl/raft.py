"""The Raft-side steps snapshot sync depends on: R1–R10 (inventory §1.1) and elections.

mosaik: ``src/groups/raft/{role,follower,leader,candidate,shared}.rs`` and
``storage.rs``. Each step is a pure function ``(node, ctx, ...) -> (node, effects)``
over :class:`~impl.node_state.NodeState`; :mod:`impl.node` composes them into
``node_receive`` / ``node_poll`` (the dispatch and poll order of §0).

What this Raft is, and is not (mosaik 0.3.13/0.3.18):

* The leader never retransmits: every AppendEntries carries
  ``prev_log_position = leader.log.last()`` (no nextIndex/matchIndex). A follower
  that misses one is inconsistent at the next one and starts a snapshot catch-up
  session (R4 → Q0).
* The commit index is the quorum index of a *committee* of at most 5 voters
  (the peers that granted the leader's election, backfilled from followers that
  acknowledge). Readers (observers) grant and acknowledge like writers in mosaik
  0.3.13 (behaviour ``readers-vote``: they join committees and count in quorums);
  since 0.3.14, and in the reference, they abstain from every vote and never count.
* Membership is not fixed: a candidate counts the peers it could ask (its bonds)
  and a leader drops voters without a live bond, so a partition between writers
  can elect a leader that lacks committed entries (H29, a documented limitation).
* Logs are pruned to the last committed entry at every commit (R7, H18).

Iteration over peers is always in ``PeerId`` order (bytes), never hash order.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import groupby
from operator import itemgetter

from pyrsistent import PMap, pmap

from impl import session as _session
from impl.collections.base import ApplyContext
from impl.effects import (
    AppendLog,
    ArmTimer,
    Broadcast,
    CancelTimer,
    Effect,
    FeedCommand,
    Ignored,
    IgnoreReason,
    InstallSnapshot,
    ResetLog,
    Send,
    SetCommitted,
    TimerId,
    TimerKind,
)
from impl.errors import InvalidState, NotLeader
from impl.logstore import LogStore
from impl.messages import (
    AppendEntries,
    AppendEntriesResponse,
    Command,
    FetchDataResponse,
    LogEntry,
    Message,
    RequestVote,
    RequestVoteResponse,
    SnapshotOffer,
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
from impl.profile import Behaviour, Hazard
from impl.provider import (
    provider_context,
    provider_enqueue,
    provider_receive,
    safe_to_prune_prefix,
)
from impl.provider_state import ProviderState
from impl.records import evolve
from impl.session_state import SessionContext
from impl.types import U64_MAX, Cursor, Index, PeerId, Term, check_u64, saturating_next

__all__ = [
    "ELECTION_TIMER",
    "HEARTBEAT_TIMER",
    "candidate_become_leader",
    "candidate_election_timeout",
    "candidate_on_request_vote_response",
    "candidate_poll",
    "commit_up_to",
    "commits_by_counting",
    "committee_record",
    "committee_remove",
    "committee_remove_dead",
    "dispatch_message",
    "follower_accept_in_sync",
    "follower_bond_terminated",
    "follower_election_timeout",
    "follower_on_append_entries",
    "follower_poll",
    "follower_poll_catchup",
    "highest_quorum_index",
    "leader_heartbeat",
    "leader_on_append_entries_response",
    "leader_poll",
    "leader_publish_batch",
    "leader_record_no_vote",
    "leader_record_vote",
    "maybe_cast_vote",
    "new_committee",
    "provider_feed_command",
    "prune_safe_prefix",
    "role_next_deadline",
    "role_poll",
    "role_step_down",
    "session_context",
    "start_election",
    "target_committee_size",
    "with_provider",
]

ELECTION_TIMER = TimerId(TimerKind.ELECTION)
"""The election timer of a follower or candidate."""
HEARTBEAT_TIMER = TimerId(TimerKind.HEARTBEAT)
"""The leader's heartbeat timer."""

_Step = tuple[NodeState, tuple[Effect, ...]]


# -- small helpers ----------------------------------------------------------------------------


def with_provider(node: NodeState, provider: ProviderState) -> NodeState:
    """Return ``node`` with its provider replaced (unchanged object if it is the same)."""
    return node if provider is node.provider else evolve(node, provider=provider)


def session_context(node: NodeState, ctx: NodeContext) -> SessionContext:
    """Return what a catch-up session sees of ``node`` (mosaik ``SyncSessionContext``)."""
    return SessionContext(
        local_id=node.id,
        leader=node.leader,
        bonds=ctx.bonds,
        config=ctx.config,
        machine=ctx.machine,
        profile=ctx.profile,
    )


def _leader_role(node: NodeState, step: str) -> LeaderRole:
    if not isinstance(node.role, LeaderRole):
        raise InvalidState(f"{step} runs at a leader; {node.id} is a {type(node.role).__name__}")
    return node.role


def _follower_role(node: NodeState, step: str) -> FollowerRole:
    if not isinstance(node.role, FollowerRole):
        raise InvalidState(f"{step} runs at a follower; {node.id} is a {type(node.role).__name__}")
    return node.role


def _candidate_role(node: NodeState, step: str) -> CandidateRole:
    if not isinstance(node.role, CandidateRole):
        raise InvalidState(f"{step} runs at a candidate; {node.id} is a {type(node.role).__name__}")
    return node.role


def _election_timer(node: NodeState, deadline: int) -> tuple[Effect, ...]:
    """Return the ArmTimer record for an election deadline (observers never time out)."""
    if node.preference is Preference.OBSERVER:
        return ()
    return (ArmTimer(ELECTION_TIMER, deadline),)


def _abstains(node: NodeState, ctx: NodeContext) -> bool:
    """Check if ``node`` abstains where a writer would grant: an observer, unless readers
    vote (``readers-vote``, mosaik 0.3.13)."""
    return node.preference is Preference.OBSERVER and not ctx.profile.has(Behaviour.READERS_VOTE)


# -- committee (leader.rs:541-657) ------------------------------------------------------------


def _by_peer(members: PMap[PeerId, Index]) -> list[tuple[PeerId, Index]]:
    return sorted(members.items())


def new_committee(voters: Iterable[PeerId], last_index: Index) -> Committee:
    """Return the committee of a new leader: every granting peer at the leader's last index.

    (leader.rs:541-580.)
    """
    members: PMap[PeerId, Index] = pmap(dict.fromkeys(voters, last_index))
    return Committee(voters=members)


def target_committee_size(c: Committee) -> int:
    """Return how many voters the committee aims for (leader.rs:653-657).

    ``capped := min(max_committee_size, |voters| + |non_voters|)``; up to 2 it is
    taken as is, above that rounded up to odd (``capped | 1``).

    >>> from pyrsistent import pmap
    >>> target_committee_size(Committee(voters=pmap({PeerId(bytes(32)): 0})))
    1
    """
    capped = min(c.max_committee_size, len(c.voters) + len(c.non_voters))
    return capped if capped <= 2 else capped | 1


def _backfill(c: Committee) -> Committee:
    """Promote the most caught-up non-voters while below target, keeping the count odd.

    (leader.rs ``try_backfill_voters``.) Ties between equal indices are broken by
    ``PeerId`` (mosaik: hash order).
    """
    target = target_committee_size(c)
    if len(c.voters) >= target:
        return c
    deficit = target - len(c.voters)
    available = min(len(c.non_voters), deficit)
    promote = available if (len(c.voters) + available) % 2 else max(available - 1, 0)
    if promote == 0:
        return c
    ranked = sorted(c.non_voters.items(), key=lambda kv: (-kv[1], kv[0]))[:promote]
    voters, non_voters = c.voters, c.non_voters
    for peer, index in ranked:
        non_voters = non_voters.discard(peer)
        voters = voters.set(peer, index)
    return evolve(c, voters=voters, non_voters=non_voters)


def committee_remove_dead(c: Committee, alive: frozenset[PeerId]) -> Committee:
    """Drop voters and non-voters without a live bond, then backfill (leader.rs:613-630).

    ``alive`` is the bonded peers plus the leader itself.
    """
    if all(peer in alive for peer in c.voters) and all(peer in alive for peer in c.non_voters):
        return _backfill(c)  # nobody to drop (the usual case): skip the sorted sweeps
    voters = c.voters
    for peer, _ in _by_peer(c.voters):
        if peer not in alive:
            voters = voters.discard(peer)
    non_voters = c.non_voters
    for peer, _ in _by_peer(c.non_voters):
        if peer not in alive:
            non_voters = non_voters.discard(peer)
    return _backfill(evolve(c, voters=voters, non_voters=non_voters))


def committee_remove(c: Committee, peer: PeerId) -> Committee:
    """Remove ``peer`` (an abstainer) from voters and non-voters, then backfill."""
    return _backfill(
        evolve(c, voters=c.voters.discard(peer), non_voters=c.non_voters.discard(peer))
    )


def committee_record(c: Committee, follower: PeerId, log_index: Index) -> Committee:
    """Record ``follower``'s acknowledged index (leader.rs:591-606).

    A voter's index is overwritten; an unknown follower becomes a non-voter and
    the committee backfills; a known non-voter's index is overwritten.
    """
    if follower in c.voters:
        return evolve(c, voters=c.voters.set(follower, log_index))
    was_known = follower in c.non_voters
    c = evolve(c, non_voters=c.non_voters.set(follower, log_index))
    return c if was_known else _backfill(c)


def highest_quorum_index(c: Committee) -> Index:
    """Return the highest index acknowledged by a quorum of voters (leader.rs:642-648).

    Sort the voter indices ascending; ``quorum := |voters| // 2 + 1``; take
    ``indices[len - quorum]``. Raises :class:`InvalidState` on an empty committee
    (mosaik would index out of bounds; unreachable: the leader is always a voter).

    >>> from pyrsistent import pmap
    >>> a, b, c = (PeerId(bytes([i]) * 32) for i in (1, 2, 3))
    >>> highest_quorum_index(Committee(voters=pmap({a: 9, b: 4, c: 7})))
    7
    """
    # Verify there is a voter to take a quorum over.
    if not c.voters:
        raise InvalidState("highest_quorum_index over an empty committee")
    indices = sorted(c.voters.values())
    quorum = len(indices) // 2 + 1
    return Index(indices[len(indices) - quorum])


# -- R1–R3: the leader ------------------------------------------------------------------------


def leader_publish_batch(node: NodeState, ctx: NodeContext) -> _Step:
    """R1: append every queued command and broadcast them (leader.rs:400-484).

    Guard: the node leads (else :class:`InvalidState`); nothing queued → no-op.

    1. ``prev := log.last()``; append each command with the leader's term.
    2. ``Broadcast(AppendEntries(term, self, prev, entries, leader_commit=committed))``
       — to the bonds that exist now; there is no retransmission.
    3. Record the leader's own vote at ``prev.index + count`` (R3).
    4. Re-arm the heartbeat at ``now + heartbeat_interval`` — unless R3 just
       advanced the commit, which schedules an immediate heartbeat that carries the
       new commit index. (mosaik resets the timer and schedules the immediate
       heartbeat in the same step; the order inside that step is not confirmed
       [S]; the reference keeps the immediate heartbeat.)

    mosaik truncates and drops the batch if serialisation fails
    (leader.rs:448-463); commands here are data and always serialise.
    """
    role = _leader_role(node, "R1")
    # Verify there is something to publish.
    if not role.client_commands:
        return node, ()
    prev = node.log.last()
    # One LogEntry per command, shared by the log and the message (both immutable);
    # the term is checked once, as the first append would check it.
    term = Term(check_u64(node.term, "term"))
    entries = tuple([LogEntry(term, command) for command in role.client_commands])
    log = node.log.extend(entries)
    message = AppendEntries(
        term=node.term,
        leader=node.id,
        prev_log_position=prev,
        entries=entries,
        leader_commit=node.committed.index,
    )
    node = evolve(node, log=log, role=evolve(role, client_commands=()))
    before = node.committed
    node, vote_effects = leader_record_vote(node, ctx, node.id, Index(prev.index + len(entries)))
    effects: list[Effect] = [Broadcast(message), *vote_effects]
    if node.committed == before:
        role = _leader_role(node, "R1")
        deadline = ctx.now_ms + ctx.heartbeat_interval_ms
        node = evolve(node, role=evolve(role, heartbeat_deadline_ms=deadline))
        effects.append(ArmTimer(HEARTBEAT_TIMER, deadline))
    return node, tuple(effects)


def leader_heartbeat(node: NodeState, ctx: NodeContext) -> _Step:
    """R2: broadcast an empty AppendEntries when the heartbeat is due (leader.rs:488-513).

    Guard: the node leads (else :class:`InvalidState`) and ``now >=
    heartbeat_deadline`` (else no-op). ``prev_log_position`` is the leader's own
    last position — a heartbeat repairs nothing, it only carries the commit index
    and keeps followers from timing out. Re-arms the timer at ``now + interval``.
    """
    role = _leader_role(node, "R2")
    # Verify the heartbeat timer fired.
    if ctx.now_ms < role.heartbeat_deadline_ms:
        return node, ()
    message = AppendEntries(
        term=node.term,
        leader=node.id,
        prev_log_position=node.log.last(),
        entries=(),
        leader_commit=node.committed.index,
    )
    deadline = ctx.now_ms + ctx.heartbeat_interval_ms
    node = evolve(node, role=evolve(role, heartbeat_deadline_ms=deadline))
    return node, (Broadcast(message), ArmTimer(HEARTBEAT_TIMER, deadline))


def commits_by_counting(node: NodeState, ctx: NodeContext, index: Index) -> bool:
    """Check if the leader may commit up to ``index`` by counting replicas (R3 step 4).

    mosaik (H30) commits any quorum index. The reference follows Raft's rule (§5.4.2,
    Figure 8): only an entry of the leader's own term — or of the term just before it,
    since no leader, and so no other entry at that index, can exist between two
    consecutive terms — commits by counting; earlier entries commit with it. An entry
    of an older term may be on a quorum and still be overwritten: a node holding a
    conflicting entry of a later term (the leader of a term between) wins an election
    in which the holders, whose logs are then behind, abstain
    (``model_tests/test_raft_safety.py``, Figure 8).
    """
    if ctx.profile.has(Hazard.H30):
        return True
    term = node.log.term_at(index)
    return term is not None and int(term) + 1 >= int(node.term)


def _leader_advance_commit(node: NodeState, ctx: NodeContext) -> _Step:
    """R3 step 4: commit up to the quorum index (if :func:`commits_by_counting` allows it);
    on an advance prune (R7) and heartbeat now."""
    role = _leader_role(node, "R3")
    quorum_index = highest_quorum_index(role.committee)
    if node.committed.index == quorum_index or not commits_by_counting(node, ctx, quorum_index):
        return node, ()
    before = node.committed
    node = commit_up_to(node, ctx, quorum_index)
    if node.committed == before:
        return node, ()
    node = prune_safe_prefix(node)
    node = evolve(node, role=evolve(role, heartbeat_deadline_ms=ctx.now_ms))
    return node, (ArmTimer(HEARTBEAT_TIMER, ctx.now_ms),)


def leader_record_vote(
    node: NodeState, ctx: NodeContext, follower: PeerId, log_index: Index
) -> _Step:
    """R3: record a granted acknowledgement and advance the commit (leader.rs:295-339).

    1. Remove voters and non-voters without a live bond (the bonds of ``ctx``;
       the leader itself always counts as alive), backfill.
    2. Record ``follower`` at ``log_index`` (voter: overwrite; else non-voter, backfill).
    3. ``q := highest_quorum_index()``.
    4. If ``committed.index != q`` and the entry at ``q`` may commit by counting
       (:func:`commits_by_counting`: any, under H30; in the reference one of the
       leader's term or the term before): ``commit_up_to(q)`` (R6); if that
       advanced, prune (R7) and schedule an immediate heartbeat.

    A lagging follower never acknowledges (R4 sends nothing on the inconsistent
    path), so a lagging *voter* keeps its stale index until its bond dies — H16.
    """
    role = _leader_role(node, "R3")
    committee = committee_remove_dead(role.committee, ctx.bonds | {node.id})
    committee = committee_record(committee, follower, log_index)
    node = evolve(node, role=evolve(role, committee=committee))
    return _leader_advance_commit(node, ctx)


def leader_record_no_vote(
    node: NodeState, ctx: NodeContext, follower: PeerId, abstained: bool
) -> _Step:
    """R3 (``record_no_vote``, leader.rs:343-393): an Abstained or Denied acknowledgement.

    An abstainer (an observer, or a node that cannot vote) leaves the committee;
    a denial changes nothing but the dead-voter sweep. Then as R3 step 3-4: a
    smaller committee may reach a quorum, and the commit may advance.
    """
    role = _leader_role(node, "R3")
    committee = committee_remove(role.committee, follower) if abstained else role.committee
    committee = committee_remove_dead(committee, ctx.bonds | {node.id})
    node = evolve(node, role=evolve(role, committee=committee))
    return _leader_advance_commit(node, ctx)


def leader_on_append_entries_response(
    node: NodeState, ctx: NodeContext, sender: PeerId, response: AppendEntriesResponse
) -> _Step:
    """Dispatch an AppendEntriesResponse to R3 by its vote (leader.rs receive_protocol_message).

    Granted → :func:`leader_record_vote` at ``last_log_index``; Abstained →
    :func:`leader_record_no_vote` (removed); Denied → :func:`leader_record_no_vote`.
    """
    if response.vote is Vote.GRANTED:
        return leader_record_vote(node, ctx, sender, response.last_log_index)
    return leader_record_no_vote(node, ctx, sender, abstained=response.vote is Vote.ABSTAINED)


def leader_poll(node: NodeState, ctx: NodeContext) -> _Step:
    """The leader's tick: publish queued commands (R1), then heartbeat if due (R2).

    mosaik spends one tick on either and re-polls at once (``Poll::Ready``); doing
    both here is the same sequence without the intermediate wake-up.
    """
    node, published = leader_publish_batch(node, ctx)
    node, heartbeat = leader_heartbeat(node, ctx)
    return node, published + heartbeat


# -- R4–R7: follower replication, commit, prune -----------------------------------------------


def follower_on_append_entries(
    node: NodeState, ctx: NodeContext, sender: PeerId, ae: AppendEntries
) -> _Step:
    """R4: an AppendEntries of the current term at a follower (follower.rs:416-501).

    Guard: the node is a follower and ``ae.term == node.term`` (the dispatch drops
    lower terms and steps down on higher ones); else :class:`InvalidState`.

    1. Follow ``ae.leader`` and re-arm the election timeout — also during catch-up.
    2. Consistency from ``t := log.term_at(ae.prev_log_position.index)``:

       * ``t == prev.term``: consistent; if the first new entry conflicts with a
         stored one (different term at ``prev + 1``), truncate from ``prev + 1``.
       * ``t`` is another term: truncate from ``prev.index``; inconsistent.
       * ``t is None`` (beyond the end, or below the pruned/reset offset):
         inconsistent.

    3. Consistent → ``online``, R5.
    4. Inconsistent → offline; with a session the entries go to its buffer (Q13),
       else a session starts (Q0) at ``prev`` with these entries. Nothing is sent.
       ``prev`` may lie below the reset offset, inside the committed prefix: a stale
       AppendEntries (duplicated, or overtaken by a snapshot from another peer)
       starts a session too. H9 off (reference): the session's ``min_anchor`` starts
       at the node's committed index, so it never installs an older snapshot (I11).

    H27 (switch): mosaik runs this consistency check even while a session exists,
    so an older AppendEntries delivered late (only possible if AppendEntries could
    be reordered) is consistent and R5 commits and applies entries while the
    session is alive, breaking I12. Reference: while a session exists, *every*
    AppendEntries goes to the session's buffer untouched (the log is about to be
    reset at finalize anyway), and the node stays offline.

    Truncating a committed entry would mean two different entries committed at
    one index (a Raft safety violation, H18): it raises :class:`InvalidState`.
    """
    role = _follower_role(node, "R4")
    # Verify the message is of our term (the dispatch's job; a direct call may get it wrong).
    if ae.term != node.term:
        raise InvalidState(f"R4 needs an AppendEntries of term {node.term}, got {ae.term}")
    deadline = ctx.now_ms + ctx.election_timeout_ms
    role = evolve(role, leader=ae.leader, election_deadline_ms=deadline)
    node = evolve(node, role=role)
    effects: list[Effect] = list(_election_timer(node, deadline))
    prev = ae.prev_log_position

    if role.catchup is not None and not ctx.profile.has(Hazard.H27):
        node, buffered = _session_buffer(evolve(node, online=False), ctx, ae)
        return node, (*effects, *buffered)

    log = node.log
    local_term = log.term_at(prev.index)
    if local_term == prev.term:
        consistent = True
        if ae.entries:
            next_index = saturating_next(prev.index)
            existing = log.term_at(next_index)
            if existing is not None and existing != ae.entries[0].term:
                log = _truncate(node, log, next_index)
    elif local_term is not None:
        consistent = False
        log = _truncate(node, log, prev.index)
    else:
        consistent = False

    if consistent:
        node, accepted = follower_accept_in_sync(
            evolve(node, log=log, online=True), ctx, sender, ae
        )
        return node, (*effects, *accepted)
    node = evolve(node, log=log, online=False)
    if role.catchup is not None:
        node, buffered = _session_buffer(node, ctx, ae)
        return node, (*effects, *buffered)
    session, started = _session.session_new(
        session_context(node, ctx), prev, ae.leader_commit, ae.entries, ctx.now_ms
    )
    if not ctx.profile.has(Hazard.H9) and node.committed.index > session.min_anchor:
        # H9 fix: no anchor below what this node has already committed can serve it.
        # A stale AppendEntries (prev below the reset offset) starts a session too.
        session = evolve(session, min_anchor=node.committed.index)
    node = evolve(node, role=evolve(role, catchup=session))
    return node, (*effects, *started)


def _truncate(node: NodeState, log: LogStore, at: int) -> LogStore:
    """Truncate from ``at``, refusing to cut a committed entry (H18: unreachable under Raft)."""
    # Verify no committed entry is cut: that would be two commits at one index.
    if max(at, 1) <= node.committed.index:
        raise InvalidState(
            f"R4 would truncate from {at} at or below the committed index "
            f"{node.committed.index} (Raft safety violation)"
        )
    return log.truncate(at)


def _session_buffer(node: NodeState, ctx: NodeContext, ae: AppendEntries) -> _Step:
    """Q13 via the node: buffer ``ae``'s entries in the follower's session."""
    role = _follower_role(node, "Q13")
    if role.catchup is None:
        raise InvalidState("Q13 needs a catch-up session")
    session, effects = _session.buffer(
        role.catchup, session_context(node, ctx), ae.prev_log_position, ae.entries
    )
    return evolve(node, role=evolve(role, catchup=session)), tuple(effects)


def follower_accept_in_sync(
    node: NodeState, ctx: NodeContext, sender: PeerId, ae: AppendEntries
) -> _Step:
    """R5: append and commit the entries of a consistent AppendEntries (follower.rs:571-645).

    1. If ``entries`` is non-empty: for entry ``i`` at ``idx = prev + 1 + i``, skip
       it if ``term_at(idx)`` equals its term (redelivery), else append it. Then
       ``Send(sender, AppendEntriesResponse(term, last_log_index, vote))`` with
       ``vote = Granted`` (follower.rs:598-608 at 697e37c), or ``Abstained`` for an
       observer unless ``readers-vote`` is on (the reference; mosaik 0.3.14+). No
       response for an empty (heartbeat) AppendEntries.
    2. ``lc := min(leader_commit, log.last().index)``; if ``committed < lc``:
       ``commit_up_to(lc)`` (R6) and, if it advanced, prune (R7).
    """
    _follower_role(node, "R5")
    effects: list[Effect] = []
    log = node.log
    if ae.entries:
        log = _append_new_entries(log, ae.prev_log_position.index + 1, ae.entries)
        vote = Vote.ABSTAINED if _abstains(node, ctx) else Vote.GRANTED
        response = AppendEntriesResponse(term=node.term, last_log_index=log.last().index, vote=vote)
        effects.append(Send(sender, response))
        node = evolve(node, log=log)
    leader_commit = min(ae.leader_commit, log.last().index)
    if node.committed.index < leader_commit:
        before = node.committed
        node = commit_up_to(node, ctx, Index(leader_commit))
        if before < node.committed:
            node = prune_safe_prefix(node)
    return node, tuple(effects)


def _append_new_entries(log: LogStore, start: int, entries: tuple[LogEntry, ...]) -> LogStore:
    """R5 step 1 in one pass: the log of ``for i, e in enumerate(entries): if
    log.term_at(start + i) != e.term: log = log.append(e.command, e.term)``.

    The entries to append are collected and added with one :meth:`LogStore.extend`;
    ``term_at`` of an index past the stored end is read from the collected entries,
    as the growing log would answer it. Errors are raised at the same entry as the
    loop raises them (``term_at`` of an index past u64, a full log).
    """
    end = log.end()
    pending: list[LogEntry] = []
    term: Term | None
    for i, entry in enumerate(entries):
        index = start + i
        if pending and index > end:
            # Past the stored end: the log so far is ``stored + pending``.
            k = index - end - 1
            if k < len(pending):
                term = pending[k].term
            elif index > U64_MAX:
                term = log.term_at(index)  # raises InvalidInput, as the loop does
            else:
                term = None
        else:
            term = log.term_at(index)
        if term == entry.term:
            continue
        if end + len(pending) == U64_MAX:
            log.extend(pending).append(entry.command, entry.term)  # raises: the log is full
        pending.append(entry)
    return log.extend(pending)


_TERM_OF = itemgetter(0)
_COMMAND_OF = itemgetter(2)


def commit_up_to(node: NodeState, ctx: NodeContext, index: Index) -> NodeState:
    """R6: apply the log entries ``committed+1 ..= index`` (shared.rs:288-327).

    The entries (clamped to what the log holds) are split into maximal runs of
    equal term; each run is one ``apply_batch`` (S1) with an
    :class:`~impl.collections.base.ApplyContext` whose ``committed`` is the cursor
    *before* the run, ``log_position`` the log's last cursor (the same for every
    run), ``current_term`` the run's term. The snapshot requests a run returns are
    pushed onto the provider's channel (P3 drains them), and ``committed``
    advances to ``(run term, committed + |run|)`` after each run. Splitting by term
    is what makes a snapshot position's term exact (H20, I14).

    Guard: ``committed.index >= log offset`` (the pruned prefix never passes the
    committed index, R7); otherwise the clamped range would shift indices, so
    :class:`InvalidState` is raised instead.
    """
    # Verify the next entry to apply is still stored (pruning keeps committed).
    if node.committed.index < node.log.offset:
        raise InvalidState(
            f"R6: committed {node.committed} is below the log offset {node.log.offset}"
        )
    entries = node.log.get_range(node.committed.index + 1, index)
    if not entries:
        return node
    log_position = node.log.last()
    committed = node.committed
    sm = node.sm
    provider = node.provider
    for term, group in groupby(entries, key=_TERM_OF):
        run = tuple(map(_COMMAND_OF, group))
        apply_ctx = ApplyContext(
            committed=committed,
            log_position=log_position,
            current_term=Term(term),
            local_id=node.id,
            now_wall_ms=ctx.now_wall_ms,
            config=ctx.config,
        )
        sm, requests = ctx.machine.apply_batch(sm, run, apply_ctx, ctx.profile)
        provider = provider_enqueue(provider, requests)
        committed = Cursor(Term(term), Index(committed.index + len(run)))
    return evolve(node, sm=sm, committed=committed, provider=provider)


def prune_safe_prefix(node: NodeState) -> NodeState:
    """R7: prune the log up to ``min(P6, committed.index - 1)`` (shared.rs:178-195).

    Guard: ``committed.index != 0``. With P6 = ``committed.index`` every node keeps
    only its last committed entry and the uncommitted tail (I16: afterwards
    ``offset <= committed.index - 1`` and ``term_at(committed.index)`` is defined).
    """
    # Verify something is committed: there is no prefix to give up otherwise.
    if node.committed.index == 0:
        return node
    up_to = min(safe_to_prune_prefix(node.committed), node.committed.index - 1)
    log = node.log.prune_prefix(up_to)
    return node if log is node.log else evolve(node, log=log)


# -- R8: feeding a command --------------------------------------------------------------------


def provider_feed_command(node: NodeState, command: Command) -> _Step:
    """R8: queue ``command`` at the leader for its next R1 (shared.rs:459-484).

    Guard: the node leads; otherwise :class:`~impl.errors.NotLeader` carrying the
    command (mosaik's ``Err(cmd)``).

    mosaik hops through the worker's command channel, so leadership can change
    between the call and the enqueue (H19a: the command is then forwarded or
    dropped). A node step here is atomic, so the hop is empty; commands still
    queued when the leader steps down are lost with its role, as in mosaik.
    """
    if not isinstance(node.role, LeaderRole):
        raise NotLeader(command, node.leader)
    role = evolve(node.role, client_commands=(*node.role.client_commands, command))
    return evolve(node, role=role), ()


# -- R9: catch-up poll ------------------------------------------------------------------------


def _apply_internal(node: NodeState, ctx: NodeContext, effects: Iterable[Effect]) -> NodeState:
    """Apply the node-internal effects of a component step, in order.

    InstallSnapshot (S2), ResetLog, SetCommitted (no apply, no prune, H22) and
    AppendLog (no apply) come from the session's finalize (Q12); FeedCommand from
    the provider (P2 → R8).
    """
    for effect in effects:
        if isinstance(effect, InstallSnapshot):
            node = evolve(node, sm=ctx.machine.install_snapshot(node.sm, effect.snapshot))
        elif isinstance(effect, ResetLog):
            node = evolve(node, log=node.log.reset_to(effect.cursor))
        elif isinstance(effect, SetCommitted):
            node = evolve(node, committed=effect.cursor)
        elif isinstance(effect, AppendLog):
            node = evolve(node, log=node.log.extend(effect.entries))
        elif isinstance(effect, FeedCommand):
            node, _ = provider_feed_command(node, effect.command)
    return node


def follower_poll_catchup(
    node: NodeState, ctx: NodeContext
) -> tuple[NodeState, tuple[Effect, ...], bool]:
    """R9: poll the catch-up session (Q5) and finish it when it is ready (follower.rs:179-214).

    Without a session: nothing, not pending. With one: ``session_poll``; its
    node-internal effects (the finalize: install the snapshot, reset the log to the
    anchor, set ``committed`` to the anchor, append the kept buffered entries —
    none of them applied) are applied here. If it returns a cursor, that cursor
    must equal ``log.last()`` (mosaik's ``assert_eq!`` at follower.rs:193; a
    mismatch raises :class:`InvalidState`), the session is dropped, and the node
    stays offline until the next consistent AppendEntries (H22).

    Returns ``(node, effects, pending)``; while ``pending`` the caller must not
    check the election timeout — elections are suppressed during catch-up
    (follower.rs:186-191,212).
    """
    role = _follower_role(node, "R9")
    if role.catchup is None:
        return node, (), False
    session, effects, ready = _session.session_poll(
        role.catchup, session_context(node, ctx), ctx.now_ms
    )
    effects = tuple(effects)
    node = _apply_internal(evolve(node, role=evolve(role, catchup=session)), ctx, effects)
    if ready is None:
        return node, effects, True
    # Verify the session ended where the log now ends (follower.rs:193).
    if ready != node.log.last():
        raise InvalidState(
            f"R9: the session finished at {ready} but the log ends at {node.log.last()}"
        )
    role = _follower_role(node, "R9")
    return evolve(node, role=evolve(role, catchup=None)), effects, False


def follower_bond_terminated(node: NodeState, peer: PeerId) -> _Step:
    """Forward a bond termination to the catch-up session's watcher (Q6's input), if any."""
    if not isinstance(node.role, FollowerRole) or node.role.catchup is None:
        return node, ()
    session = _session.on_bond_terminated(node.role.catchup, peer)
    return evolve(node, role=evolve(node.role, catchup=session)), ()


# -- R10 and elections ------------------------------------------------------------------------


def _become_follower(node: NodeState, ctx: NodeContext, term: Term, leader: PeerId | None) -> _Step:
    """mosaik ``Follower::new(term, leader)``: offline, fresh election timeout, no session."""
    deadline = ctx.now_ms + ctx.election_timeout_ms
    effects: list[Effect] = []
    if isinstance(node.role, LeaderRole):
        effects.append(CancelTimer(HEARTBEAT_TIMER))
    node = evolve(
        node,
        term=term,
        role=FollowerRole(leader=leader, election_deadline_ms=deadline, catchup=None),
        online=False,
    )
    effects.extend(_election_timer(node, deadline))
    return node, tuple(effects)


def role_step_down(node: NodeState, ctx: NodeContext, term: Term, leader: PeerId | None) -> _Step:
    """R10: a higher ``term`` makes any role a follower of ``leader`` (role.rs:234-279).

    Guard: ``term > node.term`` (else no-op). The new follower role has no leader if
    the message named none (a RequestVote), and **no session**: the session, its
    buffered entries and every fetched chunk are discarded (H17). Queued client
    commands of a leader are lost with its role. The node is offline.
    """
    # Verify the term is higher: only a newer term replaces the role.
    if term <= node.term:
        return node, ()
    return _become_follower(node, ctx, term, leader)


def start_election(node: NodeState, ctx: NodeContext, term: Term) -> _Step:
    """mosaik ``Candidate::new(term)`` (candidate.rs): ask every bonded peer for a vote.

    The node goes offline, votes for itself (``last_vote := (term, self)``), asks
    ``ctx.bonds`` (``requested_from`` = those plus itself) with
    ``Broadcast(RequestVote(term, self, log.last()))`` and arms its election timeout.
    """
    # Verify the term is a real election term (mosaik asserts term != 0).
    if term == 0:
        raise InvalidState("an election needs a term of at least 1")
    deadline = ctx.now_ms + ctx.election_timeout_ms
    effects: list[Effect] = []
    if isinstance(node.role, LeaderRole):
        effects.append(CancelTimer(HEARTBEAT_TIMER))
    role = CandidateRole(
        requested_from=ctx.bonds | {node.id},
        votes_granted=frozenset({node.id}),
        election_deadline_ms=deadline,
    )
    node = evolve(node, term=term, role=role, last_vote=(term, node.id), online=False)
    request = RequestVote(term=term, candidate=node.id, log_position=node.log.last())
    effects.extend((Broadcast(request), ArmTimer(ELECTION_TIMER, deadline)))
    return node, tuple(effects)


def follower_election_timeout(node: NodeState, ctx: NodeContext) -> _Step:
    """A follower's election timeout fired: become a candidate at ``term + 1`` (follower.rs:212).

    Guards (else no-op): a ``NORMAL`` node (observers never stand), no catch-up
    session (elections are suppressed during catch-up), ``now >= deadline``.
    """
    role = _follower_role(node, "election timeout")
    # Verify this node may stand, is not catching up, and its timer fired.
    if node.preference is Preference.OBSERVER or role.catchup is not None:
        return node, ()
    if ctx.now_ms < role.election_deadline_ms:
        return node, ()
    return start_election(node, ctx, Term(node.term + 1))


def maybe_cast_vote(node: NodeState, ctx: NodeContext, sender: PeerId, rv: RequestVote) -> _Step:
    """Answer a RequestVote (mosaik ``maybe_cast_vote``, role.rs:290-418), any role.

    Guard: ``rv.term >= node.term`` (the dispatch dropped lower terms and stepped
    down on higher ones).

    * Already voted for someone else in ``rv.term`` (``last_vote``) → Denied.
    * The candidate's log is behind ours (``rv.log_position < log.last()``,
      lexicographic) → Denied.
    * Ours is behind the candidate's → Abstained (do not inflate the committee
      with a lagging node, do not object either). H31 (switch): mosaik records
      nothing for it (role.rs:358-373 at 697e37c; ``save_vote`` is only in the grant
      branch, role.rs:379), while the candidate drops the abstainer from its
      denominator (candidate.rs:249-255, 324-331): the voter can then grant a second
      candidate of the same term, and both lead it. The reference binds the
      abstention like a vote: it records ``(rv.term, sender)``, so the voter denies
      every other candidate of that term.
    * Equal: a ``NORMAL`` node records the vote ``(rv.term, sender)`` and grants it
      (role.rs:374-385 at 697e37c). An observer does the same under
      ``readers-vote`` (mosaik 0.3.13); otherwise it abstains (the reference, and
      mosaik 0.3.14+: role.rs:383-393 at 84d02c9).

    A follower that abstained or granted re-arms its election timeout; a denial
    does not (mosaik returns early).
    """
    if rv.term < node.term:
        raise InvalidState(f"maybe_cast_vote needs a term >= {node.term}, got {rv.term}")
    local = node.log.last()
    last_vote = node.last_vote
    can_vote = (
        last_vote is None
        or last_vote[0] < rv.term
        or (last_vote[0] == rv.term and last_vote[1] == rv.candidate)
    )
    if not can_vote or rv.log_position < local:
        return node, (Send(sender, RequestVoteResponse(term=rv.term, vote=Vote.DENIED)),)
    if local < rv.log_position or _abstains(node, ctx):
        vote = Vote.ABSTAINED
        if local < rv.log_position and not ctx.profile.has(Hazard.H31):
            # A reader's abstention (its role, not its log) binds nothing: it never
            # grants, so it never counts for a second candidate either.
            node = evolve(node, last_vote=(rv.term, sender))
    else:
        vote = Vote.GRANTED
        node = evolve(node, last_vote=(rv.term, sender))
    effects: list[Effect] = [Send(sender, RequestVoteResponse(term=rv.term, vote=vote))]
    if isinstance(node.role, FollowerRole):
        deadline = ctx.now_ms + ctx.election_timeout_ms
        node = evolve(node, role=evolve(node.role, election_deadline_ms=deadline))
        effects.extend(_election_timer(node, deadline))
    return node, tuple(effects)


def candidate_on_request_vote_response(
    node: NodeState, ctx: NodeContext, sender: PeerId, response: RequestVoteResponse
) -> _Step:
    """Tally a vote (candidate.rs ``receive_protocol_message``).

    A response from a peer not asked is ignored (``UNEXPECTED``). Granted adds the
    sender to ``votes_granted``; Abstained removes it from ``requested_from`` (a
    smaller denominator); Denied changes nothing. The quorum is checked at the
    next poll (:func:`candidate_poll`), as in mosaik.
    """
    role = _candidate_role(node, "vote tally")
    # Verify we asked this peer for a vote.
    if sender not in role.requested_from:
        return node, (Ignored(IgnoreReason.UNEXPECTED, f"vote from {sender}, who was not asked"),)
    if response.vote is Vote.GRANTED:
        role = evolve(role, votes_granted=role.votes_granted | {sender})
    elif response.vote is Vote.ABSTAINED:
        role = evolve(role, requested_from=role.requested_from - {sender})
    return evolve(node, role=role), ()


def _quorum_reached(role: CandidateRole) -> bool:
    return len(role.votes_granted) >= len(role.requested_from) // 2 + 1


def candidate_become_leader(node: NodeState, ctx: NodeContext) -> _Step:
    """A candidate with a quorum of granted votes leads (``Leader::new``, leader.rs:75-100).

    The committee's voters are the peers that granted (self included), each at the
    leader's last index; the node is online and the first heartbeat is due now.
    Guard: the node is a candidate whose votes reach a quorum (else :class:`InvalidState`).

    H30 (switch): mosaik commits nothing here; its commit index moves only in R3,
    which runs on an acknowledgement of a non-empty AppendEntries or on the
    leader's own write (leader.rs:155-173, 455). The previous term's entries the
    new leader holds but has not committed therefore wait for the next client
    write, for ever if none comes — and that write's R3 then commits them by
    counting the election's records, whatever their term (Raft's Figure 8).
    Reference: the new leader runs R3's commit advance at once, under Raft's
    commitment rule (:func:`commits_by_counting`). Every granting voter holds the
    leader's log (it granted because its log equals the leader's, which is why
    ``Committee::new`` records it at the leader's last index), so the quorum index
    is the last index; a tail whose last entry is of the term just before commits
    now, an older one with the first entry of this term.
    """
    role = _candidate_role(node, "become leader")
    # Verify the election is won.
    if not _quorum_reached(role):
        raise InvalidState(f"{node.id} has {len(role.votes_granted)} votes, no quorum")
    committee = new_committee(role.votes_granted, node.log.last().index)
    leader = LeaderRole(committee=committee, heartbeat_deadline_ms=ctx.now_ms)
    node = evolve(node, role=leader, online=True)
    if not ctx.profile.has(Hazard.H30):
        # Its only effect is the immediate heartbeat, already armed below.
        node, _ = _leader_advance_commit(node, ctx)
    return node, (CancelTimer(ELECTION_TIMER), ArmTimer(HEARTBEAT_TIMER, ctx.now_ms))


def candidate_election_timeout(node: NodeState, ctx: NodeContext) -> _Step:
    """No quorum before the deadline: a new round at ``term + 1`` (candidate.rs). Else no-op."""
    role = _candidate_role(node, "election timeout")
    # Verify the round's timer fired.
    if ctx.now_ms < role.election_deadline_ms:
        return node, ()
    return start_election(node, ctx, Term(node.term + 1))


def candidate_poll(node: NodeState, ctx: NodeContext) -> _Step:
    """The candidate's tick: win (and heartbeat at once), or time out into a new round."""
    role = _candidate_role(node, "candidate poll")
    if _quorum_reached(role):
        node, became = candidate_become_leader(node, ctx)
        node, heartbeat = leader_poll(node, ctx)
        return node, became + heartbeat
    return candidate_election_timeout(node, ctx)


def follower_poll(node: NodeState, ctx: NodeContext) -> _Step:
    """The follower's tick: R9; unless the session is still pending, the election timeout."""
    node, effects, pending = follower_poll_catchup(node, ctx)
    if pending:
        return node, effects
    node, election = follower_election_timeout(node, ctx)
    return node, effects + election


def role_poll(node: NodeState, ctx: NodeContext) -> _Step:
    """Run the role-specific poll (role.rs:69-103 step 1)."""
    if isinstance(node.role, FollowerRole):
        return follower_poll(node, ctx)
    if isinstance(node.role, CandidateRole):
        return candidate_poll(node, ctx)
    return leader_poll(node, ctx)


def role_next_deadline(node: NodeState) -> int | None:
    """Return when the role next needs a poll (0 = now), or ``None``."""
    role = node.role
    if isinstance(role, FollowerRole):
        if role.catchup is not None:
            return _session.next_deadline(role.catchup)
        return None if node.preference is Preference.OBSERVER else role.election_deadline_ms
    if isinstance(role, CandidateRole):
        return 0 if _quorum_reached(role) else role.election_deadline_ms
    return 0 if role.client_commands else role.heartbeat_deadline_ms


# -- dispatch (§0.3) --------------------------------------------------------------------------


_RAFT_MESSAGES = (AppendEntries, AppendEntriesResponse, RequestVote, RequestVoteResponse)


def _session_message(
    node: NodeState, ctx: NodeContext, sender: PeerId, message: SnapshotOffer | FetchDataResponse
) -> _Step:
    """Role handler for the StateSync messages the provider did not consume (§0.3 step 5)."""
    if not isinstance(node.role, FollowerRole):
        detail = f"{type(message).__name__} at a {type(node.role).__name__}"
        return node, (Ignored(IgnoreReason.UNEXPECTED, detail),)
    role = node.role
    if role.catchup is None:
        return node, (Ignored(IgnoreReason.NO_SESSION, type(message).__name__),)
    sctx = session_context(node, ctx)
    if isinstance(message, SnapshotOffer):
        session, effects = _session.on_snapshot_offer(
            role.catchup, sctx, sender, message.info, ctx.now_ms
        )
    else:
        session, effects = _session.on_fetch_data_response(
            role.catchup, sctx, sender, message, ctx.now_ms
        )
    return evolve(node, role=evolve(role, catchup=session)), tuple(effects)


def dispatch_message(node: NodeState, ctx: NodeContext, sender: PeerId, message: Message) -> _Step:
    """Route one message through §0.3's order; see :func:`impl.node.node_receive`."""
    # Verify the sender is a bonded peer other than ourselves.
    if sender == node.id or sender not in ctx.bonds:
        return node, (
            Ignored(IgnoreReason.UNKNOWN_PEER, f"{type(message).__name__} from {sender}"),
        )

    if not isinstance(message, _RAFT_MESSAGES):
        provider, effects, rest = provider_receive(
            node.provider, provider_context(node, ctx), sender, message
        )
        node = _apply_internal(with_provider(node, provider), ctx, effects)
        if rest is None:
            return node, effects
        node, session_effects = _session_message(node, ctx, sender, rest)
        return node, effects + session_effects

    # Verify the message is not from an older term (StateSync messages have none).
    if message.term < node.term:
        detail = f"{type(message).__name__} of term {message.term} < {node.term}"
        return node, (Ignored(IgnoreReason.STALE_TERM, detail),)

    effects_: tuple[Effect, ...] = ()
    if message.term > node.term:
        leader = message.leader if isinstance(message, AppendEntries) else None
        node, effects_ = role_step_down(node, ctx, message.term, leader)

    if isinstance(message, RequestVote):
        node, voted = maybe_cast_vote(node, ctx, sender, message)
        return node, effects_ + voted

    role = node.role
    handled: tuple[Effect, ...]
    if isinstance(role, FollowerRole):
        if isinstance(message, AppendEntries):
            node, handled = follower_on_append_entries(node, ctx, sender, message)
        else:
            handled = (Ignored(IgnoreReason.UNEXPECTED, f"{type(message).__name__} at a follower"),)
    elif isinstance(role, CandidateRole):
        if isinstance(message, RequestVoteResponse):
            node, handled = candidate_on_request_vote_response(node, ctx, sender, message)
        elif isinstance(message, AppendEntries):
            # A leader of our term exists: follow it and handle the message as a follower.
            node, stepped = _become_follower(node, ctx, message.term, message.leader)
            node, appended = follower_on_append_entries(node, ctx, sender, message)
            handled = stepped + appended
        else:
            handled = (
                Ignored(IgnoreReason.UNEXPECTED, f"{type(message).__name__} at a candidate"),
            )
    else:
        if isinstance(message, AppendEntriesResponse):
            node, handled = leader_on_append_entries_response(node, ctx, sender, message)
        elif isinstance(message, AppendEntries):
            # A rival leader of our own term: a partition healed; elect anew (role.rs RivalLeader).
            node, handled = start_election(node, ctx, Term(node.term + 1))
        else:
            handled = (Ignored(IgnoreReason.UNEXPECTED, f"{type(message).__name__} at a leader"),)
    return node, effects_ + handled
