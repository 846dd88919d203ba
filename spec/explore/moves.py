"""The moves of an exploration: every enabled model action with every argument.

A move is a hashable label — ``("deliver_message", "w0", "r8")``,
``("advance_time", "next")``, ``("client_write", 0)`` — that :func:`take`
turns into a call of the model's action (:data:`spec.model.actions.ACTIONS`) on a
given world. Labels are abstract where the concrete argument depends on the
world: time moves to *the next deadline*, a write goes to *the leader*, a
forgery replays *the k-th* earlier genuine message. So a path of labels can be
re-executed from any world with the same key, whatever its absolute time.

Which moves are enabled, and with which arguments, is decided by the hunt's own
guards (:data:`spec.hunt.machine.GUARDS` and the helper methods of
:class:`spec.hunt.machine.GroupMachine`: which bonds may break, which responses
may be corrupted, which messages may be replayed, which nodes may restart), run
on a :class:`HuntView` of the explored state; the explorer enumerates every
argument where the hunt draws one. Timers and polls follow the time abstraction
of docs/explore.md:

* a node whose deadline has come (``node_next_deadline <= now``) or that has a
  catch-up session (mosaik wakes a session's task on every message) may poll;
  a poll that changes nothing is not a move;
* time moves (``advance_time``) only when no node is due now (timers fire on
  time), to the earliest deadline of any up node, and only while every bond
  direction holds at most ``max_queue`` messages; with ``grain_ms`` it may also
  move by that much when the next deadline is further away.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from impl.messages import FetchDataResponse
from spec.explore.config import ExploreConfig
from spec.hunt.campaigns import Campaign
from spec.hunt.driver import Driver
from spec.hunt.machine import RULE_ARGS, GroupMachine, _live_directions
from spec.hunt.scenario import election_timeout
from spec.model.actions import (
    ACTIONS,
    Transition,
    next_deadline_of,
)
from spec.model.faults import CORRUPTIONS, Fault
from spec.model.state import InFlight, World
from spec.model.transport import Transport

__all__ = [
    "ADVERSARIAL",
    "BUDGETED",
    "HuntView",
    "Move",
    "enabled_moves",
    "fair_class",
    "take",
]

Move = tuple[Any, ...]
"""A move label: the action's name, then its abstract arguments."""

BUDGETED: dict[str, str] = {
    "client_write": "writes",
    "break_bond": "breaks",
    "restart_empty": "restarts",
    "duplicate_message": "faults",
    "reorder_message": "faults",
    "corrupt_response": "faults",
    "forge_message": "faults",
}
"""The moves that spend a bound, by the bound they spend."""

ADVERSARIAL: frozenset[str] = frozenset(BUDGETED)
"""Moves outside the fair suffix of a run: the environment's choices (writes, breaks,
faults, restarts), finitely many by their bounds."""

_FAULT_MOVES: dict[str, Fault] = {
    "duplicate_message": Fault.DUPLICATE,
    "reorder_message": Fault.REORDER,
    "forge_message": Fault.FORGE,
}


@dataclass(slots=True)
class Budget:
    """What a state may still spend."""

    writes: int
    breaks: int
    faults: int
    restarts: int


class HuntView:
    """The hunt's group machine, pointed at one explored state, to ask its guards.

    One :class:`~spec.hunt.machine.GroupMachine` of a campaign with the explorer's
    rules and faults, whose driver's ``world``, ``tampered`` and ``replayable`` are
    set to the state's before each question (the guards read nothing else).
    """

    def __init__(self, config: ExploreConfig) -> None:
        rules = {"deliver_message", "node_poll", "advance_time", "restore_bond"}
        if config.writes:
            rules.add("client_write")
        if config.breaks:
            rules.add("break_bond")
        if config.restarts:
            rules.add("restart_empty")
        if config.fault_budget:
            rules.update(m for m, f in _FAULT_MOVES.items() if f in config.faults)
            if any(f in config.faults for f in CORRUPTIONS):
                rules.add("corrupt_response")
        self.campaign = Campaign(
            name="explore",
            description="the explorer's moves (every enabled argument)",
            rules=frozenset(rules),
            faults=config.faults,
        )
        # A class of its own: the hunt caches its machine classes by campaign name, and
        # every configuration's campaign is called "explore".
        cls = type(
            "ExploreMachine",
            (GroupMachine,),
            {"campaign": self.campaign, "profile": config.profile},
        )
        self.machine: GroupMachine = cls()
        self.driver = Driver.__new__(Driver)
        self.driver.setup = config.setup
        self.driver.tampered = set()
        self.driver.replayable = []
        self.machine.d = self.driver

    def point(
        self, world: World, tampered: frozenset[int], replayable: tuple[InFlight, ...]
    ) -> None:
        """Point the view at a state."""
        d = self.driver
        d.world = world
        d.tampered = set(tampered)
        d.replayable = list(replayable)

    def enabled(self, rule: str) -> bool:
        """Return whether the hunt's rule may run in the state pointed at."""
        return self.machine.enabled(rule)


def _deadlines(world: World) -> tuple[list[str], int | None]:
    """Return the up nodes due now and the earliest deadline after now."""
    now = world.now_ms
    due: list[str] = []
    best: int | None = None
    for name in world.up_names():
        deadline = next_deadline_of(world.nodes[name].node)
        if deadline is None:
            continue
        if deadline <= now:
            due.append(name)
        elif best is None or deadline < best:
            best = deadline
    return due, best


def _queues_within(world: World, limit: int, slow: frozenset[str] | None) -> bool:
    """Check if time may move: every bond direction holds at most ``limit`` messages, and
    none at all between two nodes outside ``slow`` (None: every bond may be slow)."""
    for (lo, hi), bond in world.bonds.items():
        cap = limit if slow is None or lo in slow or hi in slow else 0
        if len(bond.lo_to_hi) > cap or len(bond.hi_to_lo) > cap:
            return False
    return True


def _may_write(world: World, config: ExploreConfig) -> bool:
    if config.write_when == "any":
        return True
    return any(s.up and s.node.catchup is not None for s in world.nodes.values())


def enabled_moves(
    world: World, budget: Budget, config: ExploreConfig, view: HuntView
) -> list[Move]:
    """Return every enabled move of a state, in a fixed order (module docstring).

    ``view`` must point at the state (:meth:`HuntView.point`). A poll listed here may
    still change nothing (:func:`take` tells).
    """
    moves: list[Move] = []
    for src, dst in world.directions():
        moves.append(("deliver_message", src, dst))
    due, nxt = _deadlines(world)
    for name in world.up_names():
        if name in due or world.nodes[name].node.catchup is not None:
            moves.append(("node_poll", name))
    if not due and nxt is not None and _queues_within(world, config.max_queue, config.slow_nodes()):
        grain = config.grain_ms
        if grain and world.now_ms + grain < nxt:
            moves.append(("advance_time", "grain"))
        moves.append(("advance_time", "next"))
    if budget.writes and view.enabled("client_write") and _may_write(world, config):
        moves.extend(("client_write", k) for k in range(len(config.write_set)))
    if view.enabled("restore_bond"):
        moves.extend(("restore_bond", a, b) for a, b in view.machine._restorable())
    if budget.breaks and view.enabled("break_bond"):
        for a, b in view.machine._breakable():
            moves.extend(("break_bond", a, b, ka, kb) for ka, kb in _kept(world, a, b))
    if budget.restarts and view.enabled("restart_empty"):
        moves.extend(("restart_empty", n) for n in view.machine._restartable())
    if budget.faults:
        moves.extend(_fault_moves(world, view))
    return moves


def _kept(world: World, a: str, b: str) -> list[tuple[int, int]]:
    """Return every ``(received_by_a, received_by_b)`` of a break of ``a``–``b``: how many
    of the messages queued towards each end its bond worker had already received (transport
    ``deliver_after_break``; the hunt's domain, at most what is queued). Only ``(0, 0)``
    without the switch."""
    if Transport.DELIVER_AFTER_BREAK not in world.setup.transport:
        return [(0, 0)]
    args = RULE_ARGS["break_bond"]
    to_a = sorted({min(k, len(world.queue(b, a))) for k in args["received_by_a"].members()})
    to_b = sorted({min(k, len(world.queue(a, b))) for k in args["received_by_b"].members()})
    return [(ka, kb) for ka in to_a for kb in to_b]


def _fault_moves(world: World, view: HuntView) -> list[Move]:
    # The faults act on the wire: directions of live bonds only (the hunt's discipline).
    out: list[Move] = []
    live = _live_directions(world)
    if view.enabled("duplicate_message"):
        out.extend(("duplicate_message", s, d) for s, d in live)
    if view.enabled("reorder_message"):
        for s, d in live:
            n = len(world.queue(s, d))
            out.extend(("reorder_message", s, d, k) for k in range(1, n))
    if view.enabled("corrupt_response"):
        args = RULE_ARGS["corrupt_response"]
        modes = [m for m in args["mode"].members() if Fault(m) in view.campaign.faults]
        for s, d, k in view.machine._responses():
            message = world.queue(s, d)[k].message
            assert isinstance(message, FetchDataResponse)
            for mode in modes:
                if mode == Fault.WRONG_OFFSET.value:
                    for delta in args["delta"].members():
                        if message.offset + delta >= 0:
                            out.append(("corrupt_response", s, d, k, mode, delta))
                elif message.items:
                    out.append(("corrupt_response", s, d, k, mode, 1))
    if view.enabled("forge_message"):
        out.extend(("forge_message", k) for k in view.machine._replayable())
    return out


def fair_class(move: Move) -> tuple[Any, ...] | None:
    """Return the fairness class of a move (docs/explore.md §5), or ``None`` for the
    environment's bounded choices: each delivery direction, each node's poll, time, and
    each bond's restoration is weakly fair."""
    name = move[0]
    if name == "deliver_message":
        return ("deliver", move[1], move[2])
    if name == "node_poll":
        return ("poll", move[1])
    if name == "advance_time":
        return ("time",)
    if name == "restore_bond":
        return ("restore", move[1], move[2])
    return None


def leader_of(world: World) -> str | None:
    """Return the up leader with the highest term (where a write goes), if any."""
    best: tuple[int, str] | None = None
    for name in world.leaders():
        key = (int(world.nodes[name].node.term), name)
        if best is None or key > best:
            best = key
    return None if best is None else best[1]


def take(
    world: World,
    move: Move,
    config: ExploreConfig,
    replayable: tuple[InFlight, ...] = (),
) -> tuple[Callable[..., Transition], dict[str, Any]]:
    """Return the model action of ``move`` in ``world`` and its keyword arguments."""
    name = move[0]
    fn = ACTIONS[name]
    if name == "deliver_message" or name == "duplicate_message":
        return fn, {"src": move[1], "dst": move[2]}
    if name == "node_poll":
        return fn, {"name": move[1]}
    if name == "advance_time":
        _, nxt = _deadlines(world)
        if move[1] == "grain":
            return fn, {"to_ms": world.now_ms + config.grain_ms}
        if nxt is None:
            raise ValueError("advance_time to the next deadline: no deadline")
        return fn, {"to_ms": nxt}
    if name == "client_write":
        leader = leader_of(world)
        if leader is None:
            raise ValueError("client_write: no leader")
        return fn, {"name": leader, "commands": (config.write_set[move[1]],)}
    if name == "break_bond":
        a, b, ka, kb = move[1:]
        return fn, {"a": a, "b": b, "received_by_a": ka, "received_by_b": kb}
    if name == "restore_bond":
        return fn, {"a": move[1], "b": move[2]}
    if name == "restart_empty":
        return fn, {"name": move[1], "election_timeout_ms": election_timeout(move[1])}
    if name == "reorder_message":
        return fn, {"src": move[1], "dst": move[2], "position": move[3]}
    if name == "corrupt_response":
        s, d, k, mode, delta = move[1:]
        return fn, {"src": s, "dst": d, "position": k, "mode": mode, "delta": delta}
    if name == "forge_message":
        item = replayable[move[1]]
        return fn, {"src": item.src, "dst": item.dst, "message": item.message}
    raise ValueError(f"unknown move {move!r}")
