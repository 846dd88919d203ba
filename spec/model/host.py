"""Hosted nodes: nodes of the group model whose steps run outside it.

``snapsync drive`` plays a group in which some nodes are an external process (an
implementation under test behind the adapter protocol). The model keeps driving
every action the same way; only the impl steps of a hosted node are delegated:

* :class:`NodeHost` — what the model asks of the outside: whether it hosts a node
  name, to create it (``node_new``), and to run one step on it (:class:`NodeOp`:
  a received message, a poll, a client write, a bond termination). A host's step
  raises what an impl step raises: :class:`~impl.errors.HazardPanic` (the node
  panicked), :class:`~impl.errors.NotLeader` (a typed rejection), or
  :class:`HostError` (the process crashed, timed out, or answered malformed; an
  :class:`~impl.errors.InvalidState`, so the model marks the node crashed).
* :class:`HostedNode` — what the world keeps for a hosted node: a
  :class:`~impl.node_state.NodeState` rebuilt from the node's
  :class:`~impl.observe.Observation` (role, term, leader, last log and committed
  cursors, online), carrying the observation itself. Its internals (the session,
  the provider, the state machine's state) are *not known*: ``sm`` is the empty
  state and ``catchup`` is None. Code that reads a node's internals must ask
  :func:`catching_up` and skip hosted nodes (the hunt's driver and the invariant
  checker do); their checks on a hosted node are the observation's and the wire's.

A world with a hosted node is no longer a pure value for that node (the process
keeps its state): such runs are linear — no fork, no resumption from a copy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from pyrsistent import pmap

from impl.collections.base import StateMachine
from impl.effects import Effect
from impl.errors import InvalidState
from impl.logstore import LogStore
from impl.messages import Command, Message
from impl.node_state import (
    CandidateRole,
    Committee,
    FollowerRole,
    LeaderRole,
    NodeContext,
    NodeState,
    Preference,
    Role,
)
from impl.observe import Observation, ObservedRole
from impl.types import U64_MAX, PeerId, Term

__all__ = [
    "HostError",
    "HostedNode",
    "NodeHost",
    "NodeOp",
    "catching_up",
    "hosted_node",
]


class HostError(InvalidState):
    """A hosted node gave no usable answer: ``kind`` is crash, timeout, malformed or refused."""

    def __init__(self, kind: str, detail: str) -> None:
        self.kind = kind
        self.detail = detail
        super().__init__(f"{kind}: {detail}")


@dataclass(frozen=True, slots=True)
class NodeOp:
    """One step the model asks a host to run (the node-level ops of the adapter protocol)."""

    kind: str
    """``receive``, ``poll``, ``client_write`` or ``bond_terminated``."""
    peer: PeerId | None = None
    """The sender (``receive``) or the peer whose bond terminated."""
    message: Message | None = None
    """The received message (``receive``)."""
    commands: tuple[Command, ...] = ()
    """The client's commands, R8 for each in order (``client_write``)."""
    again: bool = False
    """``bond_terminated`` only: the bond had already terminated; the node just processed a
    message it had received on it (transport ``deliver_after_break``), and the termination
    watchers that step registered fire at once. Part of that delivery's step, not a new
    input: a node's event log shows the ``recv`` only."""


@dataclass(frozen=True, slots=True)
class HostedNode(NodeState):
    """The model's view of a hosted node: rebuilt from its :attr:`observation`."""

    observation: Observation | None = None
    """What the node last reported (None only before its first answer)."""


class NodeHost(Protocol):
    """Runs the steps of the nodes it hosts (module docstring)."""

    @property
    def hosted(self) -> frozenset[str]:
        """The names of the nodes it hosts (traces record them)."""
        ...

    def hosts(self, name: str) -> bool:
        """Check if node ``name`` is hosted here."""
        ...

    def node_new(
        self, name: str, peer: PeerId, writer: bool, now_ms: int, election_timeout_ms: int
    ) -> HostedNode:
        """Create (or re-create, empty) hosted node ``name``; return its view."""
        ...

    def step(
        self, name: str, op: NodeOp, node: HostedNode, ctx: NodeContext, live: frozenset[PeerId]
    ) -> tuple[HostedNode, tuple[Effect, ...]]:
        """Run ``op`` on hosted node ``name``; return its new view and its effects.

        ``ctx.bonds`` is the node's bond table, ``live`` the peers it has a live bond with
        (the table also holds a broken bond whose received messages the node has not
        processed yet, transport ``deliver_after_break``).
        """
        ...


def hosted_node(
    peer: PeerId, machine: StateMachine, writer: bool, observation: Observation
) -> HostedNode:
    """Return the model's view of a hosted node that reported ``observation``."""
    deadline = U64_MAX if observation.next_deadline_ms is None else observation.next_deadline_ms
    role: Role
    if observation.role is ObservedRole.LEADER:
        role = LeaderRole(committee=Committee(voters=pmap()), heartbeat_deadline_ms=deadline)
    elif observation.role is ObservedRole.CANDIDATE:
        role = CandidateRole(frozenset(), frozenset(), deadline)
    else:
        role = FollowerRole(leader=observation.leader, election_deadline_ms=deadline)
    return HostedNode(
        id=peer,
        kind=machine.kind,
        preference=Preference.NORMAL if writer else Preference.OBSERVER,
        term=Term(observation.term),
        role=role,
        log=LogStore().reset_to(observation.last_log),
        committed=observation.committed,
        sm=machine.initial(),
        online=observation.online,
        observation=observation,
    )


def catching_up(node: NodeState) -> bool:
    """Check if ``node`` has a catch-up session (a hosted node: as it reports)."""
    if isinstance(node, HostedNode):
        return node.observation is not None and node.observation.catching_up
    return node.catchup is not None
