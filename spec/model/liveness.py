"""Liveness L1–L5 (inventory §4.2): quiescence under fair delivery, and dead session states.

Liveness is checked two ways:

* **Drive to quiescence.** A driver keeps delivering every queued message and
  firing every due timer (fair delivery, no new faults) until :func:`quiescent`
  holds or a time bound passes; :func:`settle_report` then states what did not
  happen: L1 (every session finished and every node reached the leader's state),
  L4 (every entry the leader appended, TakeSnapshot included, committed).
* **Dead states.** :func:`check_l2_dead_session` runs after every step: a session
  that was just polled, with no message in flight towards it, in one of the dead
  states of L2 (:func:`impl.session.dead_state`) can never finish without a term
  change. L3 (retry while no offer) and L5 (bounded upgrades) are per-step
  predicates in :mod:`spec.model.invariants`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from impl.node_state import LeaderRole
from impl.raft import session_context
from impl.session import dead_state
from spec.model.actions import machine_for, node_context

if TYPE_CHECKING:
    from spec.model.invariants import CheckContext, Checker, Violation
    from spec.model.state import World

__all__ = ["check_l2_dead_session", "converged", "in_flight_to", "quiescent", "settle_report"]


def in_flight_to(world: World, name: str) -> int:
    """Return the number of messages queued towards ``name``."""
    total = 0
    for (lo, hi), bond in world.bonds.items():
        if lo == name:
            total += len(bond.hi_to_lo)
        elif hi == name:
            total += len(bond.lo_to_hi)
    return total


def quiescent(world: World) -> bool:
    """Check the end state of fair delivery: nothing in flight, no session, no queued
    work, one leader, and every up node online and committed exactly as far as the leader."""
    if world.in_flight():
        return False
    return converged(world)


def converged(world: World) -> bool:
    """Check that every catch-up is over: no session, no queued work, one leader with
    everything committed, and every up node online and committed exactly as far as the
    leader — whatever is still in flight (:func:`quiescent` adds: nothing is).

    The explorer's progress goal: with heartbeats as late as one interval, a group can
    have a message in flight at every instant and still have converged for good.
    """
    leaders = world.leaders()
    if len(leaders) != 1:
        return False
    leader = world.nodes[leaders[0]].node
    role = leader.role
    if isinstance(role, LeaderRole) and role.client_commands:
        return False
    if leader.committed != leader.log.last():
        return False
    for name in world.up_names():
        node = world.nodes[name].node
        if node.catchup is not None or node.provider.requests:
            return False
        if node.committed != leader.committed or not node.online:
            return False
    return True


def settle_report(world: World, checker: Checker | None) -> list[Violation]:
    """Return the liveness violations of a run that was driven towards quiescence.

    * L1: a node still in catch-up, or not at the leader's committed cursor, or
      holding a state different from the leader's.
    * L4: the leader holds appended entries that never committed.
    """
    from spec.model.invariants import Violation

    out: list[Violation] = []
    leaders = world.leaders()
    if len(leaders) != 1:
        out.append(Violation("L1", None, f"{len(leaders)} leaders at the end: {list(leaders)}"))
        return out
    lname = leaders[0]
    leader = world.nodes[lname].node
    if leader.committed != leader.log.last():
        out.append(
            Violation(
                "L4",
                lname,
                f"entries up to {leader.log.last()} appended but committed only {leader.committed}",
            )
        )
    machine = machine_for(world.setup.kind)
    digest = checker.oracle.digest_of if checker is not None else None
    want = digest(leader.sm) if digest is not None else tuple(machine.items(leader.sm))
    for name in world.up_names():
        if name == lname:
            continue
        node = world.nodes[name].node
        if node.catchup is not None:
            out.append(
                Violation("L1", name, f"catch-up session never finished: {_why(world, name)}")
            )
            continue
        if node.committed != leader.committed:
            out.append(
                Violation("L1", name, f"committed {node.committed}, leader at {leader.committed}")
            )
            continue
        have = digest(node.sm) if digest is not None else tuple(machine.items(node.sm))
        if have != want:
            out.append(Violation("L1", name, "state differs from the leader's at the same index"))
    for name in sorted(world.nodes):
        slot = world.nodes[name]
        if slot.status.value == "crashed":
            out.append(Violation("L1", name, "crashed (a step panicked)"))
    return out


def _why(world: World, name: str) -> str:
    node = world.nodes[name].node
    session = node.catchup
    if session is None:
        return "no session"
    state = dead_state(session, session_context(node, node_context(world, name)))
    anchor = session.anchor
    gap = f"[{session.gap_start},{session.gap_end})"
    return f"anchor {anchor}, gap {gap}, dead state {state or 'none'}"


def check_l2_dead_session(cx: CheckContext) -> list[Violation]:
    """L2: no session that was just polled, with nothing in flight towards it, is dead."""
    from spec.model.invariants import Violation

    out: list[Violation] = []
    polled = {o.name for o in cx.t.outcomes if o.step == "node_poll"}
    for name in sorted(polled):
        slot = cx.after.nodes[name]
        session = slot.node.catchup
        if session is None or not slot.up or in_flight_to(cx.after, name):
            continue
        state = dead_state(session, session_context(slot.node, node_context(cx.after, name)))
        if state is not None:
            out.append(
                Violation("L2", name, f"dead session state {state} (anchor {session.anchor})")
            )
    return out
