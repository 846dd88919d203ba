"""A node of a collection's Raft group: its state, and the node-level composition of steps.

The state records (:class:`NodeState`, the three roles, the leader's
:class:`Committee`, the snapshot provider's :class:`ProviderState`) live here;
the steps that change them live in :mod:`impl.provider` (P1–P6) and
:mod:`impl.raft` (R1–R10 and elections). This module composes them the way
mosaik's per-group worker does (inventory §0):

* :func:`node_receive` — one bond message, in the dispatch order of §0.3
  (role.rs:108-229): unknown sender → stale term (Raft messages only) → the
  provider first for every StateSync message (shared.rs:135-153) → step-down
  (R10) → vote (``maybe_cast_vote``) → the role's handler.
* :func:`node_poll` — one tick, in the order of §0.2 (role.rs:69-103): the role's
  poll first (follower: R9 catch-up or the election timeout; candidate: quorum or
  the election timeout; leader: R1 then R2), then the provider's poll (P3, P5).
* :func:`node_client_write` — a client command at this node (R8).
* :func:`node_bond_terminated` — a bond to ``peer`` went down (the session's watchers).
* :func:`node_next_deadline` — when this node next needs a poll.

The step modules import the records defined here, so the composition functions
import the steps when they run (no import cycle). Every function is pure: it
returns ``(new_node, effects)``. Node-internal effects (``FeedCommand`` from the
provider; ``InstallSnapshot``, ``ResetLog``, ``SetCommitted``, ``AppendLog`` from
the session) are applied here *and* returned, so a trace shows them.
``ArmTimer``/``CancelTimer`` effects are trace records; :func:`node_next_deadline`
is the authoritative wake-up time.

Ghost state (the committed history used by the spec's invariants) is *not present
in an implementation* and so is not part of :class:`NodeState`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeAlias

from pyrsistent import PMap, pmap

from impl.collections.base import PendingRequest, StateMachine
from impl.config import Config
from impl.errors import InvalidInput
from impl.logstore import LogStore
from impl.messages import Command
from impl.profile import Profile
from impl.registry import tagged
from impl.session import SessionState
from impl.types import U64_MAX, Cursor, Index, PeerId, Term, check_u64

if TYPE_CHECKING:
    from impl.effects import Effect
    from impl.messages import Message

__all__ = [
    "HEARTBEAT_INTERVAL_MS",
    "MAX_COMMITTEE_SIZE",
    "AvailableSnapshot",
    "CandidateRole",
    "Committee",
    "FollowerRole",
    "LeaderRole",
    "NodeContext",
    "NodeState",
    "Preference",
    "ProviderState",
    "Role",
    "node_bond_terminated",
    "node_client_write",
    "node_new",
    "node_next_deadline",
    "node_poll",
    "node_receive",
]

HEARTBEAT_INTERVAL_MS = 500
"""mosaik's default Raft heartbeat interval (``ConsensusConfig``, builder.rs:218-288)."""

MAX_COMMITTEE_SIZE = 5
"""mosaik's hard-coded committee cap (leader.rs:578)."""


class Preference(StrEnum):
    """mosaik ``LeadershipPreference``: writers are ``NORMAL``, readers ``OBSERVER`` (§0.6).

    An observer replicates and applies and never stands for election. How it votes
    depends on the profile: in mosaik 0.3.13 (behaviour ``readers-vote``) it grants
    RequestVote and acknowledges AppendEntries like a writer, so it joins committees
    and counts in quorums; in the reference (and mosaik 0.3.14+) it abstains from
    every vote and never counts toward a quorum.
    """

    NORMAL = "normal"
    OBSERVER = "observer"


# -- provider state (P1–P6) -------------------------------------------------------------------


@tagged("AvailableSnapshot")
@dataclass(frozen=True, slots=True)
class AvailableSnapshot:
    """A snapshot this node can serve and the time its TTL runs out (provider.rs:312-339).

    mosaik keeps a tokio ``Sleep``; here it is its deadline. The snapshot is
    expired once ``now_ms >= deadline_ms``.
    """

    snapshot: Any
    """The served :class:`~impl.collections.base.Snapshot` (an O(1) persistent clone)."""
    deadline_ms: int
    """Monotonic time at which the TTL fires; reset to ``now + snapshot_ttl`` by a revive."""


def _empty_available() -> PMap[Cursor, AvailableSnapshot]:
    return pmap()


@tagged("ProviderState")
@dataclass(frozen=True, slots=True)
class ProviderState:
    """mosaik ``SnapshotSyncProvider`` (provider.rs:36-51), one per node, every role.

    ``requests`` is the FIFO channel of :class:`~impl.collections.base.PendingRequest`
    that ``apply_batch`` (S1, via R6) pushes and P3 drains.
    """

    available: PMap[Cursor, AvailableSnapshot] = field(default_factory=_empty_available)
    """Snapshots on offer, by anchor position."""
    requests: tuple[PendingRequest, ...] = ()
    """Undrained snapshot requests, oldest first (mosaik's unbounded channel)."""


# -- roles ------------------------------------------------------------------------------------


@tagged("FollowerRole")
@dataclass(frozen=True, slots=True)
class FollowerRole:
    """mosaik ``Follower`` (follower.rs:59-105), without the forwarding plumbing."""

    leader: PeerId | None
    """The leader this follower follows, if known."""
    election_deadline_ms: int
    """Monotonic time of the election timeout (ignored for observers and during catch-up)."""
    catchup: SessionState | None = None
    """The snapshot catch-up session, if this follower is lagging (R4 → Q0)."""


@tagged("CandidateRole")
@dataclass(frozen=True, slots=True)
class CandidateRole:
    """mosaik ``Candidate``: an election in progress at ``NodeState.term``."""

    requested_from: frozenset[PeerId]
    """The peers asked for a vote (the bonds at the start, plus self); abstainers leave it."""
    votes_granted: frozenset[PeerId]
    """The peers that granted their vote (self included)."""
    election_deadline_ms: int
    """Monotonic time at which this round gives up and a new one starts (term + 1)."""


@tagged("Committee")
@dataclass(frozen=True, slots=True)
class Committee:
    """The leader's voting committee (leader.rs:541-657): last acknowledged index per member.

    mosaik keeps ``HashMap``s; every iteration here is in ``PeerId`` order (the
    byte order of the ids) so that results never depend on hash order.
    """

    voters: PMap[PeerId, Index]
    """Voters and their last acknowledged log index; the quorum is taken over these."""
    non_voters: PMap[PeerId, Index] = field(default_factory=pmap)
    """Followers that granted but are not (yet) voters; promoted when there is room."""
    max_committee_size: int = MAX_COMMITTEE_SIZE
    """The cap on voters (mosaik: the constant 5)."""


@tagged("LeaderRole")
@dataclass(frozen=True, slots=True)
class LeaderRole:
    """mosaik ``Leader`` (leader.rs:49-74)."""

    committee: Committee
    """The voting committee; initially the peers that granted, at the leader's last index."""
    heartbeat_deadline_ms: int
    """Monotonic time of the next heartbeat (R2); ``now`` after a commit advance (R3)."""
    client_commands: tuple[Command, ...] = ()
    """Commands queued for the next R1 (from clients, forwards and P2)."""


Role: TypeAlias = FollowerRole | CandidateRole | LeaderRole


# -- the node ---------------------------------------------------------------------------------


@tagged("NodeState")
@dataclass(frozen=True, slots=True)
class NodeState:
    """Everything one node keeps for one collection group (mosaik ``Shared`` + ``Role``).

    ``committed`` is also the applied position: mosaik has no separate
    ``last_applied`` (shared.rs:32-69).
    """

    id: PeerId
    """This node's peer id."""
    kind: str
    """The collection kind (``map``, ``vec``, ...); must match ``NodeContext.machine.kind``."""
    preference: Preference
    """Writer (``NORMAL``) or reader (``OBSERVER``)."""
    term: Term
    """The current Raft term."""
    role: Role
    """Follower, candidate or leader, with the role's own state."""
    log: LogStore
    """The Raft log (pruned to the last committed entry, R7)."""
    committed: Cursor
    """Last committed and applied position."""
    sm: Any
    """The state machine's state (the collection's persistent value)."""
    provider: ProviderState = field(default_factory=ProviderState)
    """The snapshot provider (P1–P6)."""
    last_vote: tuple[Term, PeerId] | None = None
    """The last vote cast, ``(term, peer)`` (one vote per term)."""
    online: bool = False
    """mosaik's ``when().online()``: in sync with the leader (set by R4/R5, or by leading)."""

    @property
    def catchup(self) -> SessionState | None:
        """Return the catch-up session, if this node is a follower that has one."""
        return self.role.catchup if isinstance(self.role, FollowerRole) else None

    @property
    def leader(self) -> PeerId | None:
        """Return the leader as this node knows it (itself if it leads)."""
        if isinstance(self.role, LeaderRole):
            return self.id
        if isinstance(self.role, FollowerRole):
            return self.role.leader
        return None


@dataclass(frozen=True, slots=True)
class NodeContext:
    """The inputs of one node step that are not node state: time, bonds and parameters.

    Randomness never enters a step: the election timeout (base + jitter) is chosen
    by the caller for each step and arrives as ``election_timeout_ms``; it is used
    whenever that step re-arms the election timer. mosaik draws a fresh jitter at
    every re-arm; the group model derives one per (node, term, re-arm) from the
    run's seed (docs/model.md).
    """

    now_ms: int
    """Monotonic time (timers: TTL, fetch and retry timeouts, election, heartbeat)."""
    now_wall_ms: int
    """This node's wall clock (``requested_at`` stamps and ``is_expired`` only)."""
    bonds: frozenset[PeerId]
    """The peers in this node's bond table right now: its live bonds, and any broken bond
    whose already received messages it has not processed yet (mosaik removes a bond from
    its table only when it processes the bond's ``Terminated`` event)."""
    config: Config
    """The snapshot-sync configuration (uniform within a group)."""
    profile: Profile
    """Which hazard switches are on (``reference`` or ``mosaik-0.3.13``)."""
    machine: StateMachine
    """The collection's state-machine operations (kind must match the node's)."""
    election_timeout_ms: int
    """The election timeout to arm if this step re-arms the timer (base + jitter)."""
    heartbeat_interval_ms: int = HEARTBEAT_INTERVAL_MS
    """The leader's heartbeat interval."""

    def __post_init__(self) -> None:
        # Each u64 check inlines check_u64's fast path (a context is built for every step).
        now, timeout, beat = self.now_ms, self.election_timeout_ms, self.heartbeat_interval_ms
        if not (type(now) is int and 0 <= now <= U64_MAX):
            check_u64(now, "NodeContext.now_ms")
        if isinstance(self.now_wall_ms, bool) or not isinstance(self.now_wall_ms, int):
            raise InvalidInput("NodeContext.now_wall_ms must be an integer")
        if not (type(timeout) is int and 0 <= timeout <= U64_MAX):
            check_u64(timeout, "NodeContext.election_timeout_ms")
        if not (type(beat) is int and 0 <= beat <= U64_MAX):
            check_u64(beat, "NodeContext.heartbeat_interval_ms")
        if not isinstance(self.bonds, frozenset):
            raise InvalidInput("NodeContext.bonds must be a frozenset of PeerId")


def node_new(
    node_id: PeerId,
    machine: StateMachine,
    preference: Preference,
    now_ms: int,
    election_timeout_ms: int,
) -> NodeState:
    """Return a fresh node: follower at term 0 with no leader, an empty log and state.

    mosaik ``Role::new`` → ``Follower::new(Term::zero(), None)`` (role.rs; follower.rs:108-140).
    At term 0 mosaik adds ``bootstrap_delay`` to the first election timeout; the
    driver includes it in ``election_timeout_ms``.

    >>> class M:
    ...     kind = "cell"
    ...     def initial(self): return None
    >>> n = node_new(PeerId.from_label("n0"), M(), Preference.NORMAL, 0, 5_000)
    >>> n.term, n.role.election_deadline_ms, n.log.last(), n.online
    (0, 5000, Cursor(term=0, index=0), False)
    """
    check_u64(now_ms, "now_ms")
    check_u64(election_timeout_ms, "election_timeout_ms")
    if not isinstance(node_id, PeerId):
        raise InvalidInput(f"node_new needs a PeerId, got {node_id!r}")
    return NodeState(
        id=node_id,
        kind=machine.kind,
        preference=Preference(preference),
        term=Term(0),
        role=FollowerRole(leader=None, election_deadline_ms=now_ms + election_timeout_ms),
        log=LogStore(),
        committed=Cursor.zero(),
        sm=machine.initial(),
    )


def _check_context(node: NodeState, ctx: NodeContext) -> None:
    """Raise :class:`InvalidInput` if ``ctx`` does not belong to ``node``."""
    if ctx.machine.kind != node.kind:
        raise InvalidInput(f"context machine is {ctx.machine.kind!r} but the node is {node.kind!r}")


def node_receive(
    node: NodeState, ctx: NodeContext, sender: PeerId, message: Message
) -> tuple[NodeState, tuple[Effect, ...]]:
    """Handle one message from ``sender`` in mosaik's dispatch order (§0.3, role.rs:108-229).

    1. A sender that is not in ``ctx.bonds`` (or the node itself) is ignored
       (``UNKNOWN_PEER``): it keeps a driver's mistake from reaching the steps.
       ``ctx.bonds`` must be the node's bond table as mosaik keeps it — the live
       bonds and the broken ones whose received messages are not processed yet
       (group/worker.rs:245-264) — or the guard would drop messages mosaik handles.
    2. A Raft message whose term is below the node's is dropped (``STALE_TERM``).
       StateSync messages carry no term and are never dropped here.
    3. Every StateSync message goes to the provider first (P1): RequestSnapshot
       (P2) and FetchDataRequest (P4) are consumed there.
    4. A higher term steps down (R10), dropping any catch-up session.
    5. RequestVote is answered by ``maybe_cast_vote`` and goes no further.
    6. The role's handler: a follower runs R4 on AppendEntries and hands
       SnapshotOffer/FetchDataResponse to its session (Q1/Q4), or ignores them
       (``NO_SESSION``); a candidate tallies RequestVoteResponse and steps down on an
       AppendEntries of its term; a leader runs R3 on AppendEntriesResponse and
       starts a new election on a rival leader's AppendEntries of its own term.
       Anything else is ignored as ``UNEXPECTED``.
    """
    from impl.raft import dispatch_message  # deferred: the step modules import this one

    _check_context(node, ctx)
    return dispatch_message(node, ctx, sender, message)


def node_poll(node: NodeState, ctx: NodeContext) -> tuple[NodeState, tuple[Effect, ...]]:
    """Run one tick: the role's poll, then the provider's (§0.2, role.rs:69-103).

    * Follower: with a session, R9 (Q5); while it is pending the election timeout
      is not checked. Without one (or once it finishes), a ``NORMAL`` follower whose
      election deadline has passed starts an election.
    * Candidate: a quorum of granted votes makes it leader (with an immediate
      heartbeat); else, past its deadline, a new round at term + 1.
    * Leader: R1 if commands are queued, then R2 if the heartbeat is due.
    * Then the provider: P3, and P5 only if P3 received nothing (provider.rs:77-82).
    """
    from impl.provider import provider_context, provider_poll
    from impl.raft import role_poll, with_provider

    _check_context(node, ctx)
    node, role_effects = role_poll(node, ctx)
    provider, provider_effects = provider_poll(node.provider, provider_context(node, ctx))
    return with_provider(node, provider), role_effects + provider_effects


def node_client_write(
    node: NodeState, ctx: NodeContext, command: Command
) -> tuple[NodeState, tuple[Effect, ...]]:
    """Queue a client ``command`` at the leader (R8); at any other node raise ``NotLeader``."""
    from impl.raft import provider_feed_command

    _check_context(node, ctx)
    return provider_feed_command(node, command)


def node_bond_terminated(node: NodeState, peer: PeerId) -> tuple[NodeState, tuple[Effect, ...]]:
    """Report that the bond to ``peer`` terminated: the session's watchers fire (Q0/Q1 → Q6).

    Nothing else reacts at once: the leader drops dead voters lazily at its next
    R3, using the bonds of that step's context.
    """
    from impl.raft import follower_bond_terminated

    return follower_bond_terminated(node, peer)


def node_next_deadline(node: NodeState) -> int | None:
    """Return the earliest monotonic time at which :func:`node_poll` has work, or ``None``.

    A value of 0 (or anything ``<= now``) means "poll now": the leader has queued
    commands, the candidate already has its quorum, or the provider has undrained
    requests. During catch-up the election timeout is suppressed, so only the
    session's own deadlines count; observers never time out elections.
    """
    from impl.provider import provider_next_deadline
    from impl.raft import role_next_deadline

    deadlines = [
        d
        for d in (role_next_deadline(node), provider_next_deadline(node.provider))
        if d is not None
    ]
    return min(deadlines) if deadlines else None
