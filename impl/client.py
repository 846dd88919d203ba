"""Batch client writes: R8 for several commands in one step.

mosaik's worker takes ``WorkerCommand::Raft(Feed(cmds))`` with a list of
commands (worker.rs:347-362); every client call feeds one, so a burst of
``insert`` calls reaches the leader as a burst of feeds that the next R1
publishes together. :func:`node_client_write_many` is that burst as one pure
step, with exactly the outcome of calling :func:`impl.node.node_client_write`
for each command in order — without re-copying the queue per command, which
makes a population of n commands cost O(n) instead of O(n²).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from impl.effects import Effect
from impl.errors import InvalidInput, NotLeader
from impl.messages import Command
from impl.node_state import LeaderRole, NodeContext, NodeState

__all__ = ["node_client_write_many", "provider_feed_commands"]


def provider_feed_commands(
    node: NodeState, commands: Sequence[Command]
) -> tuple[NodeState, tuple[Effect, ...]]:
    """R8 for each of ``commands``, in order: queue them at the leader for its next R1.

    Guard: the node leads; otherwise :class:`~impl.errors.NotLeader` carrying the
    first command (nothing is queued: the first rejection rejects the rest, as
    successive calls would). No effects.
    """
    batch = tuple(commands)
    if not batch:
        return node, ()
    # Verify this node leads (R8's guard, shared.rs:459-484).
    if not isinstance(node.role, LeaderRole):
        raise NotLeader(batch[0], node.leader)
    role = replace(node.role, client_commands=node.role.client_commands + batch)
    return replace(node, role=role), ()


def node_client_write_many(
    node: NodeState, ctx: NodeContext, commands: Sequence[Command]
) -> tuple[NodeState, tuple[Effect, ...]]:
    """Queue client ``commands`` at the leader (R8, once per command, in order).

    Same result as ``node_client_write`` for each command in turn; raises
    ``NotLeader`` at any other node.

    >>> from impl.collections import COLLECTIONS
    >>> from impl.config import Config
    >>> from impl.node import node_new
    >>> from impl.node_state import Preference
    >>> from impl.profile import REFERENCE
    >>> from impl.types import PeerId
    >>> n = node_new(PeerId.from_label("w"), COLLECTIONS["cell"], Preference.NORMAL, 0, 10)
    >>> ctx = NodeContext(0, 0, frozenset(), Config(), REFERENCE, COLLECTIONS["cell"], 10)
    >>> node_client_write_many(n, ctx, ())[0] is n
    True
    """
    if ctx.machine.kind != node.kind:
        raise InvalidInput(f"context machine is {ctx.machine.kind!r} but the node is {node.kind!r}")
    return provider_feed_commands(node, commands)
