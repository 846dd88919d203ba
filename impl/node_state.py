"""A node's records: its state (:class:`NodeState`, the roles, the leader's committee) and context.

:class:`NodeState` is everything one node keeps for one collection group; its
``role`` is a :class:`FollowerRole` (possibly with a catch-up session, see
:mod:`impl.session_state`), a :class:`CandidateRole` or a :class:`LeaderRole`
(with its :class:`Committee`); its ``provider`` is a
:class:`~impl.provider_state.ProviderState`. :class:`NodeContext` is the input of
one node step that is not state (time, bonds, parameters).

The steps that change these records live elsewhere: R1–R10 and elections in
:mod:`impl.raft`, P1–P6 in :mod:`impl.provider`, Q0–Q13 in :mod:`impl.session`,
and their node-level composition in :mod:`impl.node`. The JSON forms are in
:mod:`impl.forms`.

Ghost state (the committed history used by the spec's invariants) is *not present
in an implementation* and so is not part of :class:`NodeState`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeAlias

from pyrsistent import PMap, pmap

from impl.collections.base import StateMachine
from impl.config import Config
from impl.errors import InvalidInput
from impl.logstore import LogStore
from impl.messages import Command
from impl.profile import Profile
from impl.provider_state import ProviderState
from impl.registry import tagged
from impl.session_state import SessionState
from impl.types import U64_MAX, Cursor, Index, PeerId, Term, check_u64

__all__ = [
    "HEARTBEAT_INTERVAL_MS",
    "MAX_COMMITTEE_SIZE",
    "CandidateRole",
    "Committee",
    "FollowerRole",
    "LeaderRole",
    "NodeContext",
    "NodeState",
    "Preference",
    "Role",
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


@tagged("NodeContext")
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
    """Which hazard and behaviour switches are on (``reference`` or ``mosaik-0.3.13``)."""
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
