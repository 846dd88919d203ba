"""Consequence runs: a finding's stated consequence itself, not only its first broken invariant.

A finding's minimal run ends at the first check that fails (I4 for H1, I15 for
H4, …). Its consequence — a stall, a dead end, a deadlock, a divergence, a
panic — may need more: one more legal delivery order (H1), more commands in one
batch (H4). A *consequence run* is the shortest run the hunt finds (or is given
and then shrinks) that reaches the consequence itself:

* the program's rules run as usual, but no per-step check fails it (the
  precursor violations are expected);
* then :func:`hold`: the bonds heal, then fair delivery of everything queued and
  every timer, with no new fault, until model time reaches the horizon
  (:data:`HORIZON_MS` after the program's end): the fairness assumption of L1;
* then :func:`judge` states whether the consequence holds at the horizon:

  ``stall``       a node is still catching up, or the leader still holds
                  entries it has not committed (a liveness failure held to the horizon);
  ``delay``       a session lost its last source and asked again only late (E1), and
                  still caught up by the horizon (a bounded stall: H7);
  ``deadlock``    the leader cannot commit because the voters it needs are catching
                  up (L4), and a write made after the program is still uncommitted;
  ``divergence``  two nodes (up, or crashed with the state they hold) that are not
                  catching up are at the same committed index with different state
                  digests (everything they committed is applied: they never agree);
  ``panic``       a step raised mosaik's panic (``HazardPanic``): the node is dead.

A consequence run is saved as the trace of its *program* (the hold is hundreds of
heartbeat rounds; it is a deterministic function of the world, so it is not
stored): the header's ``meta.consequence`` records the finding, the kind, the hold
(``hold_ms``), the horizon reached and the verdict. :func:`recheck_consequence`
replays the program, runs the same hold and judges again
(``model_tests/test_consequences.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from impl.errors import InvalidInput
from impl.node_state import LeaderRole
from spec.hunt.client_commands import seed_commands
from spec.hunt.driver import Driver, describe_session
from spec.model.actions import ACTIONS, client_write, machine_for, node_poll_action
from spec.model.ghost import items_digest
from spec.model.state import NodeStatus
from spec.sim.trace import TraceReader, decode_args, setup_from_header

__all__ = [
    "HORIZON_MS",
    "Consequence",
    "ConsequenceRecord",
    "hold",
    "judge",
    "probe_write",
    "recheck_consequence",
]

HORIZON_MS = 300_000
"""How long a consequence is held: 300 s of model time after the program (50 retry
periods, 150 fetch timeouts of the hunt's timing: docs/findings.md)."""


class Consequence(StrEnum):
    """The consequences a finding can state (module docstring)."""

    STALL = "stall"
    DELAY = "delay"
    DEADLOCK = "deadlock"
    DIVERGENCE = "divergence"
    PANIC = "panic"


@dataclass(frozen=True, slots=True)
class ConsequenceRecord:
    """What a consequence trace's header records (``meta.consequence``)."""

    finding: str
    """The finding it belongs to (``H1``, ``H16-readers``, …)."""
    kind: Consequence
    hold_ms: int
    """How long the group was held after the program."""
    horizon_ms: int
    """Model time at which the consequence was judged."""
    verdict: str
    """What :func:`judge` said."""
    probe_index: int | None = None
    """``deadlock``: the log index of the write made after the program."""


def hold(driver: Driver, until_ms: int) -> None:
    """Heal, then fair delivery and every timer until model time ``until_ms``; no fault.

    The fairness of L1: broken bonds between up nodes come back (after the messages
    their receivers had received are delivered), messages are delivered, timers fire.
    Every node with a catch-up session is polled first: mosaik wakes a session on every
    offer and response it accepts (session.rs:344, 368), and a program may end right
    after a single delivery that the model's drivers would have followed with that poll.
    """
    driver.heal()
    world = driver.world
    for name in world.up_names():
        if world.nodes[name].node.catchup is not None:
            driver.do(node_poll_action, name)
    driver.run_fair(until_ms, max_steps=500_000)


def probe_write(driver: Driver) -> str | None:
    """A client write at the leader, published at once (the ``deadlock`` probe); return the
    leader, or None if there is none."""
    leader = driver.leader()
    if leader is None:
        return None
    command = seed_commands(driver.setup.kind, 1_000)[-1]
    driver.do(client_write, leader, (command,))
    driver.do(node_poll_action, leader)
    return leader


def judge(driver: Driver, kind: Consequence, *, probe_index: int | None = None) -> str | None:
    """Return a description of ``kind`` if it holds in the driver's world now, else None.

    ``probe_index`` (``deadlock``): the log index of the probe write, which must still
    be uncommitted.
    """
    world = driver.world
    if kind is Consequence.PANIC:
        panics = [
            f"{o.name} ({o.panic.hazard} at {o.panic.site})"
            for t, _ in driver.log
            for o in t.outcomes
            if o.panic is not None
        ]
        return f"panicked: {', '.join(panics)}" if panics else None
    if kind is Consequence.DELAY:
        late = [f for f in driver.findings if f.id == "E1"]
        caught_up = all(world.nodes[n].node.catchup is None for n in world.up_names())
        if not late or not caught_up:
            return None
        return f"{late[0].node}: {late[0].detail}; caught up by {world.now_ms} ms"
    if kind is Consequence.DEADLOCK:
        deadlock = driver.quorum_deadlock()
        leader = driver.leader()
        if deadlock is None or leader is None or probe_index is None:
            return None
        lead = world.nodes[leader].node
        if lead.committed.index >= probe_index:
            return None
        return (
            f"at {world.now_ms} ms: {deadlock.detail}; the write at index {probe_index} "
            f"is still uncommitted"
        )
    if kind is Consequence.STALL:
        dead = dict(driver.dead_sessions())
        for name in world.up_names():
            node = world.nodes[name].node
            if node.catchup is not None:
                state = f", dead state {dead[name]}" if name in dead else ""
                return (
                    f"at {world.now_ms} ms {name} is still catching up (offline{state}): "
                    f"{describe_session(node.catchup)}"
                )
        leader = driver.leader()
        if leader is not None:
            lead = world.nodes[leader].node
            role = lead.role
            if isinstance(role, LeaderRole) and lead.log.last().index > lead.committed.index:
                return (
                    f"at {world.now_ms} ms leader {leader} still has entries up to "
                    f"{lead.log.last().index} uncommitted (committed {lead.committed.index})"
                )
        return None
    machine = machine_for(world.setup.kind)
    by_index: dict[int, list[tuple[str, str]]] = {}
    for name in world.names():
        slot = world.nodes[name]
        node = slot.node
        # A crashed node counts with the state it holds (the model stops a node whose
        # step mosaik would take silently, e.g. truncating a committed entry: H29).
        if slot.status is NodeStatus.DOWN or node.catchup is not None:
            continue
        digest = items_digest(tuple(machine.items(node.sm)))
        by_index.setdefault(int(node.committed.index), []).append((name, digest))
    for index, nodes in sorted(by_index.items()):
        digests = {d for _, d in nodes}
        if len(digests) > 1:
            names = ", ".join(f"{n} {d[:8]}" for n, d in nodes)
            return f"at {world.now_ms} ms, committed index {index}: digests differ ({names})"
    return None


def recheck_consequence(path: str | Path) -> tuple[ConsequenceRecord, str | None]:
    """Replay a consequence trace; return its header's record and :func:`judge`'s verdict
    on the replayed world (None: the consequence no longer holds)."""
    reader = TraceReader.open(path)
    driver: Driver | None = None
    record: ConsequenceRecord | None = None
    for line in reader.records():
        rec = line.record
        if rec["type"] == "header":
            driver = Driver(setup_from_header(rec, line.number))
            record = _record(rec.get("meta", {}), str(path))
        elif rec["type"] == "step":
            if driver is None:
                raise InvalidInput(f"{path}: a step before the header")
            action = ACTIONS[rec["action"]]
            driver.act(action(driver.world, **decode_args(rec["args"])))
    if driver is None or record is None:
        raise InvalidInput(f"{path}: no header")
    hold(driver, driver.world.now_ms + record.hold_ms)
    return record, judge(driver, record.kind, probe_index=record.probe_index)


def _record(meta: Mapping[str, Any], where: str) -> ConsequenceRecord:
    c = meta.get("consequence")
    if not isinstance(c, Mapping):
        raise InvalidInput(f"{where}: the header records no consequence")
    probe = c.get("probe_index")
    return ConsequenceRecord(
        finding=str(c["finding"]),
        kind=Consequence(c["kind"]),
        hold_ms=int(c["hold_ms"]),
        horizon_ms=int(c["horizon_ms"]),
        verdict=str(c["verdict"]),
        probe_index=None if probe is None else int(probe),
    )
