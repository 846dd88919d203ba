"""Actions of the group model: each one atomic step of the whole system.

Every action is a pure function ``action(world, ...) -> Transition``: it checks
its guards (an action that is not enabled raises :class:`ActionNotEnabled`),
calls the impl steps of the nodes it touches, carries their network effects
over the bonds, and updates the ghost history. Names follow the impl steps they
drive (one name per protocol event across impl, spec and tests):

=====================  ==============================================================
action                 impl step(s)
=====================  ==============================================================
``join_late``          ``node_new`` (a node joins, or re-joins empty), bonds form
``leave``              the node's owner drops it: its bonds break
``restart_empty``      ``leave`` + ``join_late`` at once (mosaik keeps no disk state)
``client_write``       ``node_client_write`` (R8) at a writer, for each command
``node_poll``          ``node_poll``: R1 publish / R2 heartbeat, R9 (Q5), elections, P3/P5
``deliver_message``    ``node_receive`` of the head message of one bond direction
``advance_time``       the clock moves; every node whose timer is due runs ``node_poll``
``start_election``     a writer's election timer fires now: ``start_election`` (term + 1)
``break_bond``         queued messages lost (except what a receiver had already received:
                       transport ``deliver_after_break``); both ends run
                       ``node_bond_terminated``
``restore_bond``       the bond re-forms (empty queues)
``set_clock_skew``     a node's wall clock jumps (bounded skew, H8)
``duplicate_message``  fault ``duplicate``: deliver the head message and keep it queued
``reorder_message``    fault ``reorder``: move a queued message to the head of its queue
``corrupt_response``   faults ``short_response`` / ``long_response`` / ``wrong_offset``
``forge_message``      fault ``forge``: a peer puts an arbitrary message on its bond
=====================  ==============================================================

Network effects: ``Send(to, m)`` is queued on the bond to ``to`` if it is up and
silently dropped otherwise (inventory §0.4, bond/mod.rs:559-573); ``Broadcast(m)``
is queued on every bond of the sender that is up now, in name order. Every other
effect is node-internal, already applied by the impl step, and kept in the
transition for the trace. A step's ``NodeContext.bonds`` is the node's bond table:
its live bonds and the broken bonds whose received messages it has not processed
yet (:mod:`spec.model.transport`).

A step is atomic: if it raises, none of its effects happen. A step that raises
:class:`~impl.errors.HazardPanic` is mosaik panicking: the node is marked
``CRASHED`` (its group worker died) and takes no further part; the transition
records the panic, which the invariants report. A step that raises
:class:`~impl.errors.InvalidState` refused the state it was given: recorded the
same way (reported as ``STEP``). ``NotLeader`` (R8 at a non-leader) is a typed
rejection: recorded, the node carries on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from pyrsistent import pmap

from impl.client import node_client_write_many
from impl.collections import COLLECTIONS
from impl.collections.base import StateMachine
from impl.effects import ArmTimer, Broadcast, Effect, Send
from impl.errors import HazardPanic, InvalidInput, InvalidState, NotLeader
from impl.messages import (
    AppendEntries,
    Command,
    FetchDataRequest,
    FetchDataResponse,
    Message,
)
from impl.node import (
    node_bond_terminated,
    node_client_write,
    node_new,
    node_next_deadline,
    node_poll,
    node_receive,
)
from impl.node_state import LeaderRole, NodeContext, NodeState, Preference
from impl.raft import ELECTION_TIMER, start_election
from impl.records import constructor, evolve
from impl.types import ItemRange, PeerId, Term
from spec.model.faults import CORRUPTIONS, Fault, corrupt_response, reverse_order_chunk
from spec.model.ghost import Divergence, Ghost
from spec.model.host import HostedNode, HostError, NodeOp
from spec.model.memo import MemoMachine
from spec.model.state import (
    Bond,
    ElectionTiming,
    InFlight,
    NodeSlot,
    NodeStatus,
    World,
    WorldSetup,
    bond_key,
    election_timeout_of,
    empty_world,
)
from spec.model.transport import Transport

__all__ = [
    "ACTIONS",
    "ActionNotEnabled",
    "Dropped",
    "NodeOutcome",
    "Transition",
    "advance_time",
    "break_bond",
    "client_write",
    "corrupt_response_action",
    "deliver_message",
    "duplicate_message",
    "forge_message",
    "initial_world",
    "join_late",
    "leave",
    "machine_for",
    "memoised_steps",
    "next_deadline_of",
    "node_context",
    "node_poll_action",
    "reorder_message",
    "restart_empty",
    "restore_bond",
    "set_clock_skew",
    "start_election_action",
]


class ActionNotEnabled(InvalidInput):
    """An action's guard does not hold in this world (the action is not enabled)."""

    def __init__(self, action: str, reason: str) -> None:
        self.action = action
        self.reason = reason
        super().__init__(f"{action} is not enabled: {reason}")


@dataclass(frozen=True, slots=True)
class Dropped:
    """A send the transport dropped silently: no live bond to the receiver (§0.4)."""

    src: str
    dst: str
    message: Message


@dataclass(frozen=True, slots=True)
class NodeOutcome:
    """One impl step run by an action: which node, which step, what it returned."""

    name: str
    """The node."""
    step: str
    """The impl function (``node_receive``, ``node_poll``, ``node_client_write``, ...)."""
    effects: tuple[Effect, ...] = ()
    """Its effects (network effects included, before the transport)."""
    error: str | None = None
    """A typed rejection (e.g. ``NotLeader``): the step did not happen."""
    panic: HazardPanic | None = None
    """mosaik would panic here: the node crashed."""


@dataclass(frozen=True, slots=True)
class Transition:
    """The result of one action: the worlds before and after and what happened between."""

    action: str
    """The action's name."""
    args: Mapping[str, Any]
    """Its arguments, JSON-able (the trace records them; replay passes them back)."""
    before: World
    after: World
    outcomes: tuple[NodeOutcome, ...] = ()
    """Every impl step the action ran, in order."""
    sent: tuple[InFlight, ...] = ()
    """Messages queued on bonds."""
    dropped: tuple[Dropped, ...] = ()
    """Sends the transport dropped (no live bond)."""
    delivered: tuple[InFlight, ...] = ()
    """Messages handed to their receiver (one, or none for non-delivery actions)."""
    lost: tuple[InFlight, ...] = ()
    """Queued messages lost because a bond broke."""
    divergences: tuple[tuple[str, Divergence], ...] = ()
    """Committed cursors that do not fit the ghost log ``L``, by node."""


_MACHINES: dict[str, MemoMachine] = {}

_STEP_MEMO: dict[tuple[Any, ...], tuple[Any, ...]] | None = None
"""Results of node steps by (step, node, inputs, context), while :func:`memoised_steps`
is active; ``None`` otherwise."""
_STEP_MEMO_LIMIT = 50_000


@contextmanager
def memoised_steps() -> Iterator[None]:
    """Within this block, a node step given the same node object, inputs and context as
    an earlier one returns that step's result instead of running again.

    Impl steps are pure functions of exactly these (module docstring of :mod:`impl.node`),
    so no outcome changes. A branching driver (the explorer) reaches the same node step
    from many global states — every interleaving of independent deliveries — and saves
    the work; a single run almost never repeats one, so drivers of one run leave it off.
    """
    global _STEP_MEMO
    saved = _STEP_MEMO
    _STEP_MEMO = {} if saved is None else saved
    try:
        yield
    finally:
        _STEP_MEMO = saved


def machine_for(kind: str) -> StateMachine:
    """Return the collection state machine of ``kind`` (memoised, :mod:`spec.model.memo`)."""
    machine = _MACHINES.get(kind)
    if machine is None:
        inner = COLLECTIONS.get(kind)
        if inner is None:
            known = ", ".join(sorted(COLLECTIONS))
            raise InvalidInput(f"unknown collection kind {kind!r}; known: {known}")
        machine = _MACHINES[kind] = MemoMachine(inner)
    return machine


def initial_world(setup: WorldSetup) -> World:
    """Return the world of ``setup`` with no nodes yet, at time 0."""
    machine_for(setup.kind)  # Verify the kind exists before anything runs.
    return empty_world(setup, Ghost())


def node_context(world: World, name: str) -> NodeContext:
    """Return the :class:`~impl.node_state.NodeContext` of node ``name`` in ``world``."""
    slot = world.nodes[name]
    setup = world.setup
    return _node_context(
        world.now_ms,
        world.wall_ms(name),
        world.table_peer_ids(name),
        setup.config,
        setup.profile,
        _MACHINES.get(setup.kind) or machine_for(setup.kind),
        election_timeout_of(slot),
        setup.heartbeat_interval_ms,
    )


# The records made at every step, built field by field (impl.records.constructor): a
# NodeContext still validates itself (``__post_init__``).
_node_context = constructor(NodeContext)
_transition = constructor(Transition)
_outcome = constructor(NodeOutcome)
_in_flight = constructor(InFlight)


# -- the effect carrier ---------------------------------------------------------------------


@dataclass(slots=True)
class _Builder:
    """Accumulates one transition while an action runs (local to the action)."""

    world: World
    outcomes: list[NodeOutcome] = field(default_factory=list)
    sent: list[InFlight] = field(default_factory=list)
    dropped: list[Dropped] = field(default_factory=list)
    delivered: list[InFlight] = field(default_factory=list)
    lost: list[InFlight] = field(default_factory=list)
    divergences: list[tuple[str, Divergence]] = field(default_factory=list)

    def finish(self, action: str, args: Mapping[str, Any], before: World) -> Transition:
        return _transition(
            action,
            dict(args),
            before,
            self.world,
            tuple(self.outcomes),
            tuple(self.sent),
            tuple(self.dropped),
            tuple(self.delivered),
            tuple(self.lost),
            tuple(self.divergences),
        )

    # -- transport -----------------------------------------------------------------------

    def enqueue(
        self, src: str, dst: str, message: Message, in_reply_to: FetchDataRequest | None = None
    ) -> None:
        """Queue ``message`` on the bond ``src → dst``, or drop it (no live bond)."""
        queued: dict[tuple[str, str], Bond] = {}
        mid = self._queue(queued, self.world.next_mid, src, dst, message, in_reply_to)
        self._commit(queued, mid, self.world.ghost)

    def _queue(
        self,
        queued: dict[tuple[str, str], Bond],
        mid: int,
        src: str,
        dst: str,
        message: Message,
        in_reply_to: FetchDataRequest | None,
    ) -> int:
        """Queue one message as message ``mid`` on the bonds of :attr:`world` updated by
        ``queued`` (updated in place); return the next message id."""
        world = self.world
        # A node has no bond with itself: a send to itself goes nowhere.
        key = bond_key(src, dst) if src != dst else None
        bond = None if key is None else queued.get(key) or world.bonds.get(key)
        if key is None or bond is None or not bond.up:
            self.dropped.append(Dropped(src, dst, message))
            return mid
        if world.nodes[src].disorder:
            message = self._misbehave(src, message)
        item = _in_flight(mid, src, dst, message, world.now_ms, in_reply_to)
        queued[key] = bond.with_queue(src, dst, (*bond.queue(src, dst), item))
        self.sent.append(item)
        return mid + 1

    def _commit(self, queued: dict[tuple[str, str], Bond], mid: int, ghost: Ghost) -> None:
        """Store the queued bonds, the next message id and the ghost in :attr:`world`."""
        world = self.world
        if queued or mid != world.next_mid or ghost is not world.ghost:
            self.world = world.with_queued(queued, mid, ghost)

    def _misbehave(self, src: str, message: Message) -> Message:
        """Apply the sender's provider misbehaviour (fault ``disagree_order``)."""
        slot = self.world.nodes[src]
        if not slot.disorder or not isinstance(message, FetchDataResponse):
            return message
        entry = slot.node.provider.available.get(message.anchor)
        if entry is None:
            return message
        snapshot = entry.snapshot

        def items_at(start: int, end: int) -> tuple[Any, ...]:
            got = snapshot.iter_range(ItemRange(start, end))
            return tuple(got) if got is not None else ()

        size = len(snapshot)
        if message.offset + len(message.items) > size:
            return message
        items = reverse_order_chunk(size, message.offset, len(message.items), items_at)
        return FetchDataResponse(message.anchor, message.offset, items)

    def carry(
        self, name: str, effects: tuple[Effect, ...], in_reply_to: FetchDataRequest | None
    ) -> None:
        """Carry ``name``'s network effects over its bonds; record appended entries.

        The sends are queued in effect order; the world is updated once at the end
        (the bonds, the next message id and the ghost: nothing here reads them back).
        """
        world = self.world
        queued: dict[tuple[str, str], Bond] = {}
        mid = world.next_mid
        ghost = world.ghost
        for effect in effects:
            if isinstance(effect, Send):
                dst = world.peers.get(effect.to)
                if dst is None:
                    self.dropped.append(Dropped(name, effect.to.short(), effect.message))
                    continue
                reply = in_reply_to if isinstance(effect.message, FetchDataResponse) else None
                ghost = _recorded(ghost, effect.message)
                mid = self._queue(queued, mid, name, dst, effect.message, reply)
            elif isinstance(effect, Broadcast):
                ghost = _recorded(ghost, effect.message)
                for dst in world.bond_peers(name):
                    mid = self._queue(queued, mid, name, dst, effect.message, None)
        self._commit(queued, mid, ghost)

    # -- node steps ----------------------------------------------------------------------

    def run(
        self,
        name: str,
        step: str,
        fn: Callable[[NodeState, NodeContext], tuple[NodeState, tuple[Effect, ...]]],
        in_reply_to: FetchDataRequest | None = None,
        op: NodeOp | None = None,
    ) -> NodeOutcome:
        """Run one impl step at ``name``, carry its effects, observe its commit.

        A hosted node (:mod:`spec.model.host`) runs ``op`` at its host instead of ``fn``.
        ``op`` also names everything ``fn`` reads besides the node and its context: a step
        with an ``op`` is memoised under :func:`memoised_steps` (never a hosted one).
        """
        world = self.world
        slot = world.nodes[name]
        ctx = node_context(world, name)
        host = world.setup.host
        node: NodeState
        memo = _STEP_MEMO
        key: tuple[Any, ...] | None = None
        if memo is not None and op is not None and host is None:
            key = (step, id(slot.node), op, ctx, id(world.setup))
            hit = memo.get(key)
            if hit is not None and hit[0] is slot.node and hit[1] is world.setup:
                node, effects = hit[2], hit[3]
                return self._ran(name, step, slot, node, effects, in_reply_to)
        try:
            if host is not None and isinstance(slot.node, HostedNode):
                if op is None:
                    raise HostError("refused", f"{step} cannot run at a hosted node")
                node, effects = host.step(name, op, slot.node, ctx, world.bond_peer_ids(name))
            else:
                node, effects = fn(slot.node, ctx)
        except HazardPanic as panic:
            self.world = world.with_slot(evolve(slot, status=NodeStatus.CRASHED))
            outcome = NodeOutcome(name, step, panic=panic)
            self.outcomes.append(outcome)
            return outcome
        except NotLeader as exc:
            outcome = NodeOutcome(name, step, error=f"NotLeader: {exc}")
            self.outcomes.append(outcome)
            return outcome
        except InvalidState as exc:
            # The step refused the state it was given (its precondition does not hold):
            # the model reached a state the step excludes. Reported as STEP; the node stops.
            self.world = world.with_slot(evolve(slot, status=NodeStatus.CRASHED))
            outcome = NodeOutcome(name, step, error=f"InvalidState: {exc}")
            self.outcomes.append(outcome)
            return outcome
        if memo is not None and key is not None:
            if len(memo) >= _STEP_MEMO_LIMIT:
                memo.clear()
            memo[key] = (slot.node, world.setup, node, effects)
        return self._ran(name, step, slot, node, effects, in_reply_to)

    def _ran(
        self,
        name: str,
        step: str,
        slot: NodeSlot,
        node: NodeState,
        effects: tuple[Effect, ...],
        in_reply_to: FetchDataRequest | None,
    ) -> NodeOutcome:
        """Store the result of a step that returned (``node``, ``effects``) at ``name``."""
        world = self.world
        arms = slot.election_arms if slot.redraw is None else _arms_after(slot, node, effects)
        if arms != slot.election_arms:
            self.world = world.with_slot(evolve(slot, node=node, election_arms=arms))
        else:
            self.world = world.with_node(name, node)
        self.carry(name, effects, in_reply_to)  # records appended entries first
        self.observe(name, slot.node, node)
        outcome = _outcome(name, step, effects, None, None)
        self.outcomes.append(outcome)
        return outcome

    def observe(self, name: str, old: NodeState, new: NodeState) -> None:
        """Update the ghost from a node's new state: leaders, the committed log."""
        ghost = self.world.ghost
        leader = new.leader
        if leader is not None and leader == new.id:
            ghost = ghost.with_leader(int(new.term), name)
        committed = new.committed
        if committed is not old.committed and committed != old.committed and committed.index > 0:
            ghost, divergence = ghost.observe_commit(committed)
            if divergence is not None:
                self.divergences.append((name, divergence))
        if ghost is not self.world.ghost:
            self.world = evolve(self.world, ghost=ghost)

    def bond_down(self, a: str, b: str, received: Mapping[str, int] | None = None) -> None:
        """Break the bond ``a``–``b``: lose its queues, tell both (up) ends.

        ``received[n]`` messages at the head of the queue towards ``n`` were already
        received by ``n``'s bond worker: they stay, to be delivered after the
        termination (transport ``deliver_after_break``; the caller checked the switch).
        """
        key = bond_key(a, b)
        bond = self.world.bonds.get(key)
        if bond is None or not bond.up:
            return
        keep_hi = received.get(bond.hi, 0) if received else 0
        keep_lo = received.get(bond.lo, 0) if received else 0
        to_hi, to_lo = bond.lo_to_hi, bond.hi_to_lo
        self.lost.extend(to_hi[keep_hi:] + to_lo[keep_lo:])
        down = Bond(bond.lo, bond.hi, up=False, lo_to_hi=to_hi[:keep_hi], hi_to_lo=to_lo[:keep_lo])
        self.world = self.world.with_bond(down)
        if keep_hi or keep_lo:
            draining = set(self.world.draining)
            if keep_hi:
                draining.add((bond.lo, bond.hi))
            if keep_lo:
                draining.add((bond.hi, bond.lo))
            self.world = evolve(self.world, draining=frozenset(draining))
        for here, there in ((a, b), (b, a)):
            slot = self.world.nodes[here]
            if not slot.up:
                continue
            peer = self.world.nodes[there].peer
            self.run(
                here,
                "node_bond_terminated",
                _terminated(peer),
                op=NodeOp("bond_terminated", peer=peer),
            )

    def bond_up(self, a: str, b: str) -> None:
        """Form (or re-form) the bond ``a``–``b`` with empty queues.

        Not while an end still holds messages it received on the broken bond: mosaik
        forms no new bond to a peer still in its bond table (group/worker.rs:375-378).
        """
        lo, hi = bond_key(a, b)
        old = self.world.bonds.get((lo, hi))
        if old is not None and old.in_flight():
            return
        self.world = self.world.with_bond(Bond(lo, hi, up=True))

    def forget_received(self, name: str) -> None:
        """``name``'s group worker is gone: the messages it had received on broken bonds and
        not processed are lost (those it sent, which others received, stay)."""
        world = self.world
        for src, dst in sorted(world.draining):
            if dst != name:
                continue
            bond = world.bonds[bond_key(src, dst)]
            self.lost.extend(bond.queue(src, dst))
            world = world.with_bond(bond.with_queue(src, dst, ()))
            world = evolve(world, draining=world.draining - {(src, dst)})
        self.world = world


def _recorded(ghost: Ghost, message: Message) -> Ghost:
    """Return ``ghost`` with the entries of a leader's AppendEntries recorded."""
    if isinstance(message, AppendEntries) and message.entries:
        return ghost.record_append(message)
    return ghost


def _election_deadline(node: NodeState) -> int | None:
    deadline = getattr(node.role, "election_deadline_ms", None)
    return deadline if isinstance(deadline, int) else None


def _arms_after(slot: NodeSlot, node: NodeState, effects: tuple[Effect, ...]) -> int:
    """Return the slot's re-arm count after a step that took it from ``slot.node`` to ``node``.

    A new term starts the count at 0 (the draw that armed the timer on the way in
    was keyed by the old term). Otherwise a step that armed the election timer
    (an ``ArmTimer`` record, or a moved deadline: observers emit no record) used
    the draw of the current count, so the next re-arm gets the next one.
    """
    if node.term != slot.node.term:
        return 0
    for e in effects:
        if isinstance(e, ArmTimer) and e.timer == ELECTION_TIMER:
            return slot.election_arms + 1
    old = slot.node
    if node.role is not old.role and _election_deadline(node) != _election_deadline(old):
        return slot.election_arms + 1
    return slot.election_arms


def _terminated(
    peer: PeerId,
) -> Callable[[NodeState, NodeContext], tuple[NodeState, tuple[Effect, ...]]]:
    """Return the step "the bond to ``peer`` terminated" (``node_bond_terminated``)."""

    def step(node: NodeState, ctx: NodeContext) -> tuple[NodeState, tuple[Effect, ...]]:
        del ctx
        return node_bond_terminated(node, peer)

    return step


def _enabled(action: str, condition: bool, reason: str) -> None:
    if not condition:
        raise ActionNotEnabled(action, reason)


def _require_up(world: World, action: str, name: str) -> NodeSlot:
    slot = world.nodes.get(name)
    if slot is None:
        raise ActionNotEnabled(action, f"no node called {name!r}")
    _enabled(action, slot.up, f"{name} is {slot.status.value}")
    return slot


def _require_fault(world: World, action: str, fault: Fault) -> None:
    _enabled(action, fault in world.setup.faults, f"fault {fault.value} is not enabled")


# -- membership -------------------------------------------------------------------------------


def join_late(
    world: World,
    name: str,
    *,
    writer: bool,
    election_timeout_ms: int,
    redraw: ElectionTiming | None = None,
    skew_ms: int = 0,
    disorder: bool = False,
    bond_to: tuple[str, ...] | None = None,
) -> Transition:
    """A node joins the group empty (mosaik keeps no disk state): ``node_new``.

    ``election_timeout_ms`` is the timeout ``node_new`` arms (mosaik's term-0
    timeout, which includes ``bootstrap_delay``). With ``redraw`` every later
    re-arm gets a fresh draw (:func:`~spec.model.state.election_timeout_of`);
    without it the timeout is fixed for the node's life (and ``redraw`` is not
    recorded in the arguments, so traces of fixed timeouts read as before).

    Guards: ``name`` is new, or belongs to a node that left (it re-joins with the
    same peer id, as mosaik's ``recreate_reader`` does). ``disorder`` needs the
    fault ``disagree_order``. Bonds form with every up node (or those of
    ``bond_to``) except a node still processing messages it received from
    ``name`` on a broken bond (``restore_bond`` forms it later); nothing is sent:
    the node learns of the group from the leader's next AppendEntries (R4).
    """
    action = "join_late"
    old = world.nodes.get(name)
    _enabled(action, old is None or old.status is NodeStatus.DOWN, f"{name} is already up")
    if disorder:
        _require_fault(world, action, Fault.DISAGREE_ORDER)
    # Verify the redraw rule is a timing value (a trace's JSON object is decoded first).
    if redraw is not None and not isinstance(redraw, ElectionTiming):
        raise InvalidInput(f"join_late needs redraw as an ElectionTiming, got {redraw!r}")
    peer = PeerId.from_label(name)
    node, failed = _new_node(world, name, peer, writer, election_timeout_ms)
    slot = NodeSlot(
        name=name,
        peer=peer,
        writer=writer,
        node=node,
        skew_ms=skew_ms,
        election_timeout_ms=election_timeout_ms,
        redraw=redraw,
        incarnation=0 if old is None else old.incarnation + 1,
        disorder=disorder,
        status=NodeStatus.UP if failed is None else NodeStatus.CRASHED,
    )
    b = _Builder(world.with_slot(slot))
    everyone = tuple(n for n in world.up_names() if n != name)
    targets = bond_to if bond_to is not None else everyone
    for other in sorted(targets):
        _require_up(world, action, other)
        b.bond_up(name, other)
    # Recorded in one canonical form (null: every up node), so that a trace spells
    # each input one way only and replay can tell a changed input from the original.
    chosen = sorted(set(targets))
    args: dict[str, Any] = {
        "name": name,
        "writer": writer,
        "election_timeout_ms": election_timeout_ms,
        "skew_ms": skew_ms,
        "disorder": disorder,
        "bond_to": None if chosen == sorted(everyone) else chosen,
    }
    if redraw is not None:
        args["redraw"] = redraw.as_json()
    b.outcomes.append(NodeOutcome(name, "node_new", error=failed))
    return b.finish(action, args, world)


def _new_node(
    world: World, name: str, peer: PeerId, writer: bool, election_timeout_ms: int
) -> tuple[NodeState, str | None]:
    """``node_new`` of node ``name`` (at its host, if it is hosted); the error if that failed.

    A host that cannot create the node leaves it crashed (the impl's fresh node stands in).
    """
    machine = machine_for(world.setup.kind)
    preference = Preference.NORMAL if writer else Preference.OBSERVER
    host = world.setup.host
    if host is not None and host.hosts(name):
        try:
            return host.node_new(name, peer, writer, world.now_ms, election_timeout_ms), None
        except HostError as exc:
            node = node_new(peer, machine, preference, world.now_ms, election_timeout_ms)
            return node, f"InvalidState: {exc}"
    return node_new(peer, machine, preference, world.now_ms, election_timeout_ms), None


def leave(world: World, name: str) -> Transition:
    """The node's owner drops it: every bond of ``name`` breaks, the node is down."""
    action = "leave"
    _require_up(world, action, name)
    b = _Builder(world)
    for other in world.bond_peers(name):
        b.bond_down(name, other)
    b.forget_received(name)
    b.world = b.world.with_slot(evolve(b.world.nodes[name], status=NodeStatus.DOWN))
    return b.finish(action, {"name": name}, world)


def restart_empty(world: World, name: str, *, election_timeout_ms: int) -> Transition:
    """``name`` restarts with no state (mosaik keeps none on disk); bonds break and re-form.

    ``election_timeout_ms`` is the timeout ``node_new`` arms; the node keeps its
    ``redraw`` (if any), and its new incarnation gives it fresh draws.
    """
    action = "restart_empty"
    slot = _require_up(world, action, name)
    peers = world.bond_peers(name)
    b = _Builder(world)
    for other in peers:
        b.bond_down(name, other)
    b.forget_received(name)
    node, failed = _new_node(world, name, slot.peer, slot.writer, election_timeout_ms)
    fresh = evolve(
        slot,
        node=node,
        election_timeout_ms=election_timeout_ms,
        incarnation=slot.incarnation + 1,
        election_arms=0,
        status=NodeStatus.UP if failed is None else NodeStatus.CRASHED,
    )
    b.world = b.world.with_slot(fresh)
    b.outcomes.append(NodeOutcome(name, "node_new", error=failed))
    for other in peers:
        if b.world.nodes[other].up:
            b.bond_up(name, other)
    args = {"name": name, "election_timeout_ms": election_timeout_ms}
    return b.finish(action, args, world)


# -- client, poll, time ---------------------------------------------------------------------


def client_write(world: World, name: str, commands: tuple[Command, ...]) -> Transition:
    """Clients submit ``commands`` at writer ``name``: R8 for each, in order.

    Guards: ``name`` is up and a writer (readers are observers with a read-only
    API). At a writer that does not lead, R8 rejects the command with
    ``NotLeader`` (mosaik's ``Err(cmd)``): recorded, nothing changes, and the
    remaining commands are rejected too. Several commands are fed in one step
    (:func:`impl.client.node_client_write_many`, the same as one R8 per command).
    """
    action = "client_write"
    slot = _require_up(world, action, name)
    _enabled(action, slot.writer, f"{name} is a reader (observer)")
    _enabled(action, len(commands) > 0, "no command")
    b = _Builder(world)
    op = NodeOp("client_write", commands=tuple(commands))
    if len(commands) == 1:
        command = commands[0]
        b.run(
            name,
            "node_client_write",
            lambda node, ctx: node_client_write(node, ctx, command),
            op=op,
        )
    else:
        b.run(
            name,
            "node_client_write_many",
            lambda node, ctx: node_client_write_many(node, ctx, commands),
            op=op,
        )
    return b.finish(action, {"name": name, "commands": list(commands)}, world)


def node_poll_action(world: World, name: str) -> Transition:
    """``node_poll`` at ``name``: the role's poll (R1/R2, R9/Q5, elections), then P3/P5."""
    action = "node_poll"
    _require_up(world, action, name)
    b = _Builder(world)
    b.run(name, "node_poll", node_poll, op=_POLL)
    return b.finish(action, {"name": name}, world)


_DEADLINES: dict[int, tuple[NodeState, int | None]] = {}


_POLL = NodeOp("poll")


def next_deadline_of(node: NodeState) -> int | None:
    """Return ``node_next_deadline(node)``, memoised by the (immutable) node's identity.

    A hosted node's deadline is the one it reported (:mod:`spec.model.host`).
    """
    if isinstance(node, HostedNode):
        seen = node.observation
        return None if seen is None else seen.next_deadline_ms
    hit = _DEADLINES.get(id(node))
    if hit is not None and hit[0] is node:
        return hit[1]
    deadline = node_next_deadline(node)
    if len(_DEADLINES) > 256:
        _DEADLINES.clear()
    _DEADLINES[id(node)] = (node, deadline)
    return deadline


def due_nodes(world: World, at_ms: int) -> tuple[str, ...]:
    """Return the up nodes whose next deadline is ``<= at_ms``, sorted by name."""
    out = []
    for name in world.up_names():
        deadline = next_deadline_of(world.nodes[name].node)
        if deadline is not None and deadline <= at_ms:
            out.append(name)
    return tuple(out)


def advance_time(world: World, to_ms: int) -> Transition:
    """The monotonic clock moves to ``to_ms``; every node whose timer is due polls.

    Guard: time never goes back (``to_ms >= now``). Due nodes (``node_next_deadline
    <= to_ms``: election, heartbeat, retry, fetch timeout, TTL, or "poll now") run
    ``node_poll`` in name order.
    """
    action = "advance_time"
    _enabled(action, isinstance(to_ms, int) and to_ms >= world.now_ms, f"{to_ms} < {world.now_ms}")
    b = _Builder(evolve(world, now_ms=to_ms))
    for name in due_nodes(b.world, to_ms):
        if b.world.nodes[name].up:
            b.run(name, "node_poll", node_poll, op=_POLL)
    return b.finish(action, {"to_ms": to_ms}, world)


def start_election_action(world: World, name: str) -> Transition:
    """An election: writer ``name``'s election timer fires now (``impl.raft.start_election``
    at ``term + 1``).

    Guards: an up writer (observers never stand) that does not lead and has no
    catch-up session (elections are suppressed during catch-up, follower.rs:186-212).
    Election timeouts are randomised, so any instant is a possible expiry: this
    action lets a driver choose it instead of waiting for the drawn deadline.
    """
    action = "start_election"
    slot = _require_up(world, action, name)
    node = slot.node
    _enabled(action, slot.writer, f"{name} is an observer")
    _enabled(action, not isinstance(node, HostedNode), f"{name} is hosted outside the model")
    _enabled(action, not isinstance(node.role, LeaderRole), f"{name} leads")
    _enabled(action, node.catchup is None, f"{name} is catching up")
    b = _Builder(world)
    b.run(name, "start_election", lambda n, ctx: start_election(n, ctx, Term(n.term + 1)))
    return b.finish(action, {"name": name}, world)


def set_clock_skew(world: World, name: str, skew_ms: int) -> Transition:
    """Node ``name``'s wall clock jumps: its skew becomes ``skew_ms`` (inventory §0.5, H8)."""
    action = "set_clock_skew"
    slot = _require_up(world, action, name)
    after = world.with_slot(evolve(slot, skew_ms=skew_ms))
    return Transition(action, {"name": name, "skew_ms": skew_ms}, world, after)


# -- the network ----------------------------------------------------------------------------


def _head(world: World, action: str, src: str, dst: str) -> tuple[Bond, InFlight]:
    bond = world.bonds.get(bond_key(src, dst))
    if bond is None or not bond.up:
        raise ActionNotEnabled(action, f"no live bond {src}–{dst}")
    queue = bond.queue(src, dst)
    _enabled(action, len(queue) > 0, f"nothing queued on {src}→{dst}")
    return bond, queue[0]


def _deliver(b: _Builder, item: InFlight, *, broken: bool = False) -> None:
    dst = item.dst
    slot = b.world.nodes[dst]
    b.delivered.append(item)
    if not slot.up:
        return  # a crashed node's worker is gone: the message is consumed unread
    request = item.message if isinstance(item.message, FetchDataRequest) else None
    sender = b.world.nodes[item.src].peer
    b.run(
        dst,
        "node_receive",
        lambda node, ctx: node_receive(node, ctx, sender, item.message),
        in_reply_to=request,
        op=NodeOp("receive", peer=sender, message=item.message),
    )
    if broken and b.world.nodes[dst].up:
        # A termination watcher registered on an already terminated bond (Q0 or Q1 in
        # this very step) fires at once; for a peer nobody watches this is a no-op.
        b.run(
            dst,
            "node_bond_terminated",
            _terminated(sender),
            op=NodeOp("bond_terminated", peer=sender, again=True),
        )


def deliver_message(world: World, src: str, dst: str) -> Transition:
    """The bond delivers the head message of ``src → dst``: ``node_receive`` at ``dst``.

    Guard: the direction has a queued message and the bond is up (FIFO, §0.4) — or
    it broke after ``dst`` had received the message (transport
    ``deliver_after_break``): then ``src`` is still in ``dst``'s bond table for
    this step, and a watcher the step registers on the dead bond fires at once.
    """
    action = "deliver_message"
    bond = world.bonds.get(bond_key(src, dst))
    if bond is not None and not bond.up and bond.queue(src, dst):
        queue = bond.queue(src, dst)
        # The step's context still lists src: its Terminated event is behind this message.
        after = world.with_bond(bond.with_queue(src, dst, queue[1:]))
        b = _Builder(_with_draining(after, src, dst))
        _deliver(b, queue[0], broken=True)
        if len(queue) == 1:
            b.world = evolve(b.world, draining=b.world.draining - {(src, dst)})
        return b.finish(action, {"src": src, "dst": dst}, world)
    bond, item = _head(world, action, src, dst)
    b = _Builder(world.with_bond(bond.with_queue(src, dst, bond.queue(src, dst)[1:])))
    _deliver(b, item)
    return b.finish(action, {"src": src, "dst": dst}, world)


def _with_draining(world: World, src: str, dst: str) -> World:
    """Return ``world`` with ``src → dst`` listed as draining (``src`` in ``dst``'s table)."""
    if (src, dst) in world.draining:
        return world
    return evolve(world, draining=world.draining | {(src, dst)})


def duplicate_message(world: World, src: str, dst: str) -> Transition:
    """Fault ``duplicate``: deliver the head of ``src → dst`` and keep it queued."""
    action = "duplicate_message"
    _require_fault(world, action, Fault.DUPLICATE)
    _, item = _head(world, action, src, dst)
    b = _Builder(world)
    _deliver(b, item)
    return b.finish(action, {"src": src, "dst": dst}, world)


def reorder_message(world: World, src: str, dst: str, position: int) -> Transition:
    """Fault ``reorder``: the message at ``position`` of ``src → dst`` moves to the head."""
    action = "reorder_message"
    _require_fault(world, action, Fault.REORDER)
    bond, _ = _head(world, action, src, dst)
    queue = bond.queue(src, dst)
    _enabled(action, 0 < position < len(queue), f"position {position} of {len(queue)}")
    moved = queue[position]
    new_queue = (moved, *queue[:position], *queue[position + 1 :])
    after = world.with_bond(bond.with_queue(src, dst, new_queue))
    return Transition(action, {"src": src, "dst": dst, "position": position}, world, after)


def corrupt_response_action(
    world: World, src: str, dst: str, position: int, mode: str, delta: int = 1
) -> Transition:
    """Faults ``short_response`` / ``long_response`` / ``wrong_offset``: a misbehaving
    provider's queued ``FetchDataResponse`` at ``position`` of ``src → dst`` is rewritten."""
    action = "corrupt_response"
    fault = Fault(mode)
    _enabled(action, fault in CORRUPTIONS, f"{mode} is not a response corruption")
    _require_fault(world, action, fault)
    bond, _ = _head(world, action, src, dst)
    queue = bond.queue(src, dst)
    _enabled(action, 0 <= position < len(queue), f"position {position} of {len(queue)}")
    item = queue[position]
    if not isinstance(item.message, FetchDataResponse):
        kind = type(item.message).__name__
        raise ActionNotEnabled(action, f"message {item.mid} is a {kind}")
    bad = corrupt_response(item.message, fault, delta)
    if bad is None:
        raise ActionNotEnabled(action, f"{mode} does not apply to message {item.mid}")
    new_queue = (*queue[:position], evolve(item, message=bad), *queue[position + 1 :])
    after = world.with_bond(bond.with_queue(src, dst, new_queue))
    # Only a shifted offset uses delta: the others record 0 (one spelling per input).
    recorded = delta if fault is Fault.WRONG_OFFSET else 0
    args = {"src": src, "dst": dst, "position": position, "mode": fault.value, "delta": recorded}
    return Transition(action, args, world, after)


def forge_message(world: World, src: str, dst: str, message: Message) -> Transition:
    """Fault ``forge``: ``src`` (misbehaving) queues an arbitrary ``message`` to ``dst``."""
    action = "forge_message"
    _require_fault(world, action, Fault.FORGE)
    _require_up(world, action, src)
    _enabled(action, world.bonded(src, dst), f"no live bond {src}–{dst}")
    b = _Builder(world)
    b.enqueue(src, dst, message)
    return b.finish(action, {"src": src, "dst": dst, "message": message}, world)


def break_bond(
    world: World, a: str, b: str, *, received_by_a: int = 0, received_by_b: int = 0
) -> Transition:
    """The bond ``a``–``b`` breaks: queued messages are lost; both ends see the termination.

    Transport ``deliver_after_break`` (:mod:`spec.model.transport`): the first
    ``received_by_a`` messages queued towards ``a`` (``received_by_b`` towards
    ``b``) had already been received by that end's bond worker. They are kept on
    the broken bond and ``deliver_message`` delivers them after the termination.
    Guards: the bond is up; ``0 <= received_by_x <=`` the queue's length; a
    non-zero count needs the switch.
    """
    action = "break_bond"
    _enabled(action, world.bonded(a, b), f"no live bond {a}–{b}")
    counts = {a: received_by_a, b: received_by_b}
    for end, k in counts.items():
        other = b if end == a else a
        queued = len(world.queue(other, end))
        _enabled(
            action,
            type(k) is int and 0 <= k <= queued,
            f"{end} cannot have received {k!r} of the {queued} messages queued to it",
        )
    if received_by_a or received_by_b:
        _enabled(
            action,
            Transport.DELIVER_AFTER_BREAK in world.setup.transport,
            "transport deliver_after_break is off",
        )
    builder = _Builder(world)
    builder.bond_down(a, b, counts)
    args = {"a": a, "b": b, "received_by_a": received_by_a, "received_by_b": received_by_b}
    return builder.finish(action, args, world)


def restore_bond(world: World, a: str, b: str) -> Transition:
    """The bond ``a``–``b`` re-forms (both nodes up, bond currently down).

    Guard also: every message an end had received on the broken bond is delivered
    (mosaik forms no new bond to a peer still in the bond table, group/worker.rs:375-378).
    """
    action = "restore_bond"
    _require_up(world, action, a)
    _require_up(world, action, b)
    _enabled(action, not world.bonded(a, b), f"{a}–{b} is already up")
    bond = world.bonds.get(bond_key(a, b))
    _enabled(
        action,
        bond is None or not bond.in_flight(),
        f"{a}–{b} still holds received messages",
    )
    builder = _Builder(world)
    builder.bond_up(a, b)
    return builder.finish(action, {"a": a, "b": b}, world)


_ACTION_TABLE: dict[str, Callable[..., Transition]] = {
    "join_late": join_late,
    "leave": leave,
    "restart_empty": restart_empty,
    "client_write": client_write,
    "node_poll": node_poll_action,
    "start_election": start_election_action,
    "advance_time": advance_time,
    "set_clock_skew": set_clock_skew,
    "deliver_message": deliver_message,
    "duplicate_message": duplicate_message,
    "reorder_message": reorder_message,
    "corrupt_response": corrupt_response_action,
    "forge_message": forge_message,
    "break_bond": break_bond,
    "restore_bond": restore_bond,
}
ACTIONS: Mapping[str, Callable[..., Transition]] = pmap(_ACTION_TABLE)
"""Every action by its trace name."""
