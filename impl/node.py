"""The node-level composition of the steps of a collection's Raft group.

The records a node keeps (:class:`~impl.node_state.NodeState`, the roles, the
leader's committee, :class:`~impl.node_state.NodeContext`) live in
:mod:`impl.node_state`; the steps that change them live in :mod:`impl.provider`
(P1–P6), :mod:`impl.raft` (R1–R10 and elections) and :mod:`impl.session`
(Q0–Q13). This module composes them the way mosaik's per-group worker does
(inventory §0):

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

Every function is pure: it returns ``(new_node, effects)``. Node-internal effects
(``FeedCommand`` from the provider; ``InstallSnapshot``, ``ResetLog``,
``SetCommitted``, ``AppendLog`` from the session) are applied here *and* returned,
so a trace shows them. ``ArmTimer``/``CancelTimer`` effects are trace records;
:func:`node_next_deadline` is the authoritative wake-up time.
"""

from __future__ import annotations

from impl.collections.base import StateMachine
from impl.effects import Effect
from impl.errors import InvalidInput
from impl.logstore import LogStore
from impl.messages import Command, Message
from impl.node_state import FollowerRole, NodeContext, NodeState, Preference
from impl.provider import provider_context, provider_next_deadline, provider_poll
from impl.raft import (
    dispatch_message,
    follower_bond_terminated,
    provider_feed_command,
    role_next_deadline,
    role_poll,
    with_provider,
)
from impl.types import Cursor, PeerId, Term, check_u64

__all__ = [
    "node_bond_terminated",
    "node_client_write",
    "node_new",
    "node_next_deadline",
    "node_poll",
    "node_receive",
]


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
    _check_context(node, ctx)
    node, role_effects = role_poll(node, ctx)
    provider, provider_effects = provider_poll(node.provider, provider_context(node, ctx))
    return with_provider(node, provider), role_effects + provider_effects


def node_client_write(
    node: NodeState, ctx: NodeContext, command: Command
) -> tuple[NodeState, tuple[Effect, ...]]:
    """Queue a client ``command`` at the leader (R8); at any other node raise ``NotLeader``."""
    _check_context(node, ctx)
    return provider_feed_command(node, command)


def node_bond_terminated(node: NodeState, peer: PeerId) -> tuple[NodeState, tuple[Effect, ...]]:
    """Report that the bond to ``peer`` terminated: the session's watchers fire (Q0/Q1 → Q6).

    Nothing else reacts at once: the leader drops dead voters lazily at its next
    R3, using the bonds of that step's context.
    """
    return follower_bond_terminated(node, peer)


def node_next_deadline(node: NodeState) -> int | None:
    """Return the earliest monotonic time at which :func:`node_poll` has work, or ``None``.

    A value of 0 (or anything ``<= now``) means "poll now": the leader has queued
    commands, the candidate already has its quorum, or the provider has undrained
    requests. During catch-up the election timeout is suppressed, so only the
    session's own deadlines count; observers never time out elections.
    """
    deadlines = [
        d
        for d in (role_next_deadline(node), provider_next_deadline(node.provider))
        if d is not None
    ]
    return min(deadlines) if deadlines else None
