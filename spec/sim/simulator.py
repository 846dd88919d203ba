"""The seeded, deterministic discrete-event driver of the group model.

The simulator owns one :class:`~spec.model.state.World` and advances it only
through the model's actions (:mod:`spec.model.actions`); after each action it
checks the invariants (:class:`~spec.model.invariants.Checker`), writes the step
to the trace (if any), and schedules what the action set in motion:

* every message queued on a bond gets a delivery time from the latency model
  (FIFO per direction: never before the message queued ahead of it);
* nodes are polled when ``node_next_deadline`` says so: "now" (``<= now``:
  queued client commands, undrained provider requests, a finished session) right
  away, later deadlines (elections, heartbeats, retries, fetch timeouts, TTLs)
  by ``advance_time``;
* a node with a catch-up session is polled right after each message it receives
  (mosaik's session wakes its task on every offer and response, session.rs Q1/Q4).

Randomness: one ``random.Random(seed)`` draws latencies, each node's first
election timeout and fault injections, always in the same order, so a seed
fixes the run and its trace byte for byte. Every later election timeout is
redrawn by the model from the seed (:class:`~spec.model.state.ElectionTiming`,
recorded in ``join_late``'s arguments), as mosaik redraws it at every re-arm.
Events at the same time run in a fixed order: due polls, then scheduled calls
(the scenario's script), then deliveries, each in scheduling order.

Every step is a stop point (:func:`spec.robust.stop.stop_point`): Ctrl-C or a time
budget ends a run between two steps, so the world and the trace stay consistent
(:meth:`Simulator.finish` still writes the end record of what ran).
"""

from __future__ import annotations

import gc
import heapq
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from impl.effects import InstallSnapshot
from impl.messages import Command, FetchDataResponse
from spec.model.actions import (
    Transition,
    advance_time,
    break_bond,
    client_write,
    corrupt_response_action,
    deliver_message,
    due_nodes,
    duplicate_message,
    initial_world,
    join_late,
    leave,
    next_deadline_of,
    node_poll_action,
    reorder_message,
    restart_empty,
    restore_bond,
)
from spec.model.faults import CORRUPTIONS, Fault
from spec.model.host import HostedNode, catching_up
from spec.model.invariants import Checker, Violation
from spec.model.state import ElectionTiming, World, WorldSetup, bond_key
from spec.robust.stop import stop_point
from spec.sim.latency import LatencyModel
from spec.sim.trace import TraceWriter, end_record, header_record, step_record

__all__ = ["SimOptions", "Simulator", "cyclic_gc_paused"]

_INF = float("inf")
_BOND_ACTIONS = frozenset({"break_bond", "restore_bond", "leave", "restart_empty", "join_late"})


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """Pause CPython's cyclic garbage collector for the duration of a run.

    A run allocates millions of small immutable objects (log entries, states,
    messages) and creates no reference cycles, so reference counting frees
    everything; the cyclic collector only re-scans the growing heap again and
    again (its full collections cost O(heap), so their total cost grows faster
    than the run). Pausing it changes no result. Measured on the frozen case:
    docs/model.md §9.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@dataclass(frozen=True, slots=True)
class SimOptions:
    """How a run is driven (everything but the world's setup)."""

    seed: int = 0
    """Seed of the run's only source of randomness."""
    latency: LatencyModel = field(default_factory=LatencyModel)
    """One-way delay per bond direction."""
    fault_rates: Mapping[Fault, float] = field(default_factory=dict)
    """Probability of injecting each enabled fault at each opportunity."""
    election_timeout_ms: int = 2_000
    """Base election timeout (mosaik's default)."""
    election_jitter_ms: int = 500
    """Upper bound of the uniform jitter added to each node's election timeout."""
    redraw_election_timeouts: bool = True
    """Redraw the timeout at every re-arm (mosaik); False fixes each node's first draw."""
    check_invariants: bool = True
    """Check every invariant after every step."""
    misbehaving: frozenset[str] = frozenset()
    """Nodes whose FetchDataResponses the response-corruption faults may rewrite."""
    max_steps: int | None = None
    """Stop driving after this many model steps (``None``: no bound). A livelock (e.g.
    H10's endless re-fetch of a zero-item range under message duplication) would
    otherwise run until the time limit, millions of steps; the workload reports an
    exhausted budget as an L1 violation."""


POLL_SPIN_LIMIT = 256
"""Rounds of polls at one instant, with no delivery between them, after which
:meth:`Simulator.run_until` stops as a livelock (``budget_exhausted``, :attr:`Simulator.livelock`):
after a round, a node is due again at the same instant only if its poll keeps changing it
and keeps asking to be polled now (e.g. a provider that never empties its request channel);
a correct run needs a handful of rounds per instant."""


class Simulator:
    """Drives one run (see the module docstring)."""

    def __init__(
        self,
        setup: WorldSetup,
        options: SimOptions | None = None,
        *,
        trace: TraceWriter | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> None:
        self.options = options or SimOptions()
        self.rng = random.Random(self.options.seed)
        self.world: World = initial_world(setup)
        self.checker: Checker | None = Checker(setup) if self.options.check_invariants else None
        self.trace = trace
        self.steps = 0
        self.budget_exhausted = False
        self.livelock: str | None = None
        """Why the run was stopped as a livelock at one instant (:data:`POLL_SPIN_LIMIT`)."""
        self.violations: list[Violation] = []
        self.sent_counts: Counter[str] = Counter()
        self.items_transferred = 0
        self.dropped = 0
        self.lost = 0
        self.installed_items = 0
        """Items of every snapshot installed by a finalize (Q12), summed."""
        self.wall_started = time.perf_counter()
        self._events: list[tuple[int, int, int, str, Any]] = []
        self._seq = 0
        self._epoch: dict[tuple[str, str], int] = {}
        self._last_delivery: dict[tuple[str, str], int] = {}
        self._stuck: set[tuple[int, str]] = set()
        self.observers: list[Callable[[World], None]] = []
        """Called with the new world after every step (scenario watches)."""
        if trace is not None:
            trace.write(header_record(self.world, seed=self.options.seed, meta=meta or {}))

    # -- stepping -------------------------------------------------------------------------

    def apply(self, transition: Transition) -> Transition:
        """Commit ``transition``: check invariants, trace it, schedule what it sent.

        A stop point first: a stop discards ``transition`` uncommitted.
        """
        stop_point()
        self.steps += 1
        found: list[Violation] = []
        if self.checker is not None:
            found = [v.at(self.steps) for v in self.checker.check(transition)]
            self.violations.extend(found)
        if self.trace is not None:
            self.trace.write(step_record(self.steps, transition, [v.as_json() for v in found]))
        self.world = transition.after
        for item in transition.sent:
            kind = type(item.message).__name__
            self.sent_counts[kind] += 1
            if isinstance(item.message, FetchDataResponse):
                self.items_transferred += len(item.message.items)
            self._schedule_delivery(item.src, item.dst)
        self.dropped += len(transition.dropped)
        for outcome in transition.outcomes:
            for effect in outcome.effects:
                if isinstance(effect, InstallSnapshot):
                    self.installed_items += len(effect.snapshot)
        self.lost += len(transition.lost)
        if transition.action in _BOND_ACTIONS:
            self._reset_bonds(transition)
        for observe in self.observers:
            observe(self.world)
        if transition.sent:
            self._maybe_corrupt(transition)
        return transition

    def act(self, action: Callable[..., Transition], *args: Any, **kwargs: Any) -> Transition:
        """Run ``action(world, *args, **kwargs)`` and commit it."""
        return self.apply(action(self.world, *args, **kwargs))

    def _schedule_delivery(self, src: str, dst: str) -> None:
        key = (src, dst)
        at = self.options.latency.delivery_time(
            self.rng,
            src,
            dst,
            now_ms=self.world.now_ms,
            last_queued_ms=self._last_delivery.get(key),
        )
        self._last_delivery[key] = at
        self._push(at, 2, "deliver", (src, dst, self._epoch.get(bond_key(src, dst), 0)))

    def _reset_bonds(self, transition: Transition) -> None:
        """Bonds that broke lose their scheduled deliveries (epoch bump)."""
        before, after = transition.before, transition.after
        for key, bond in after.bonds.items():
            old = before.bonds.get(key)
            if old is not None and old.up and not bond.up:
                self._epoch[key] = self._epoch.get(key, 0) + 1
                self._last_delivery.pop((bond.lo, bond.hi), None)
                self._last_delivery.pop((bond.hi, bond.lo), None)
            elif old is not None and not old.up and bond.up:
                self._epoch[key] = self._epoch.get(key, 0) + 1

    def _push(self, at: int, cls: int, kind: str, data: Any) -> None:
        self._seq += 1
        heapq.heappush(self._events, (at, cls, self._seq, kind, data))

    def _rate(self, fault: Fault) -> float:
        if fault not in self.world.setup.faults:
            return 0.0
        return float(self.options.fault_rates.get(fault, 0.0))

    def _maybe_corrupt(self, transition: Transition) -> None:
        """Let a misbehaving provider rewrite the responses it just queued."""
        modes = [f for f in CORRUPTIONS if self._rate(f) > 0]
        if not modes:
            return
        for item in transition.sent:
            if item.src not in self.options.misbehaving:
                continue
            if not isinstance(item.message, FetchDataResponse):
                continue
            for mode in modes:
                if self.rng.random() >= self._rate(mode):
                    continue
                queue = self.world.queue(item.src, item.dst)
                positions = [k for k, q in enumerate(queue) if q.mid == item.mid]
                if not positions:
                    break
                delta = self.rng.choice((-1, 1))
                message = queue[positions[0]].message
                if not isinstance(message, FetchDataResponse):
                    break
                if mode is Fault.WRONG_OFFSET and message.offset + delta < 0:
                    delta = 1
                if mode is not Fault.WRONG_OFFSET and not message.items:
                    continue
                self.act(
                    corrupt_response_action, item.src, item.dst, positions[0], mode.value, delta
                )
                break

    # -- the scheduler --------------------------------------------------------------------

    def call_at(self, at_ms: int, fn: Callable[[], None]) -> None:
        """Run ``fn()`` (a script step that calls actions) at monotonic time ``at_ms``."""
        self._push(max(at_ms, self.world.now_ms), 1, "call", fn)

    def _next_deadline(self) -> float:
        best: float = _INF
        for name in self.world.up_names():
            d = next_deadline_of(self.world.nodes[name].node)
            if d is None:
                continue
            if d <= self.world.now_ms and (self.world.now_ms, name) in self._stuck:
                continue
            best = min(best, max(d, self.world.now_ms))
        return best

    def _poll_due(self) -> bool:
        """Poll every node due now (once per node and instant if polling changes nothing)."""
        now = self.world.now_ms
        due = [n for n in due_nodes(self.world, now) if (now, n) not in self._stuck]
        for name in due:
            if not self.world.nodes[name].up:
                continue
            before = self.world.nodes[name].node
            self.act(node_poll_action, name)
            after = self.world.nodes.get(name)
            if after is not None and after.node is before:
                self._stuck.add((now, name))
        return bool(due)

    def run_until(self, predicate: Callable[[World], bool], *, limit_ms: int) -> bool:
        """Run events until ``predicate(world)`` holds (True) or time passes ``limit_ms`` (False).

        Also returns (with the predicate's value) when nothing can ever happen again.
        """
        streak_at, streak = self.world.now_ms, 0
        while True:
            if predicate(self.world):
                return True
            if self.options.max_steps is not None and self.steps >= self.options.max_steps:
                self.budget_exhausted = True
                return False
            if self._poll_due():
                # Rounds of polls at one instant with no delivery between them: a node that
                # is always due and always changes (a livelock) would spin here for ever.
                if self.world.now_ms != streak_at:
                    streak_at, streak = self.world.now_ms, 0
                streak += 1
                if streak > POLL_SPIN_LIMIT:
                    self.budget_exhausted = True
                    self.livelock = (
                        f"{streak - 1} rounds of polls at {streak_at} ms with no delivery "
                        f"between them (due: {', '.join(due_nodes(self.world, streak_at))})"
                    )
                    return False
                continue
            streak = 0
            t_event = self._events[0][0] if self._events else _INF
            t = min(t_event, self._next_deadline())
            if t == _INF:
                return predicate(self.world)
            if t > limit_ms:
                if limit_ms > self.world.now_ms:
                    self.act(advance_time, limit_ms)
                return predicate(self.world)
            at = int(t)
            if at > self.world.now_ms:
                self._stuck.clear()
                self.act(advance_time, at)
                continue
            _, _, _, kind, data = heapq.heappop(self._events)
            if kind == "call":
                data()
            else:
                self._deliver(*data)

    def run_for(self, duration_ms: int) -> None:
        """Run every event up to ``now + duration_ms``."""
        self.run_until(lambda _w: False, limit_ms=self.world.now_ms + duration_ms)

    def _deliver(self, src: str, dst: str, epoch: int) -> None:
        if self._epoch.get(bond_key(src, dst), 0) != epoch:
            return  # the bond broke (and maybe re-formed) since this was scheduled
        queue = self.world.queue(src, dst)
        if not queue:
            return
        if len(queue) > 1 and self.rng.random() < self._rate(Fault.REORDER):
            self.act(reorder_message, src, dst, self.rng.randrange(1, len(queue)))
        if self.rng.random() < self._rate(Fault.DUPLICATE):
            self.act(duplicate_message, src, dst)
            self._schedule_delivery(src, dst)
            self._wake(dst)
            return
        self.act(deliver_message, src, dst)
        self._wake(dst)

    def _wake(self, name: str) -> None:
        slot = self.world.nodes.get(name)
        if slot is not None and slot.up and catching_up(slot.node):
            self.act(node_poll_action, name)

    # -- conveniences for scripts ----------------------------------------------------------

    def draw_election_timeout(self) -> int:
        """Draw one election timeout: base + U[0, jitter]."""
        o = self.options
        return o.election_timeout_ms + (
            self.rng.randint(0, o.election_jitter_ms) if o.election_jitter_ms else 0
        )

    def election_timing(self) -> ElectionTiming | None:
        """Return the redraw rule of the nodes this run creates (None: fixed timeouts)."""
        o = self.options
        if not o.redraw_election_timeouts:
            return None
        return ElectionTiming(o.election_timeout_ms, o.election_jitter_ms, o.seed)

    def join(
        self, name: str, *, writer: bool, skew_ms: int = 0, disorder: bool = False
    ) -> Transition:
        """``join_late`` with a freshly drawn election timeout and the run's redraw rule."""
        return self.act(
            join_late,
            name,
            writer=writer,
            election_timeout_ms=self.draw_election_timeout(),
            redraw=self.election_timing(),
            skew_ms=skew_ms,
            disorder=disorder,
        )

    def leave(self, name: str) -> Transition:
        """``leave``."""
        return self.act(leave, name)

    def restart(self, name: str) -> Transition:
        """``restart_empty`` with a freshly drawn election timeout."""
        return self.act(restart_empty, name, election_timeout_ms=self.draw_election_timeout())

    def write(self, name: str, commands: tuple[Command, ...]) -> Transition:
        """``client_write`` of ``commands`` at ``name`` (one R1 publishes them together)."""
        return self.act(client_write, name, commands)

    def break_bond(self, a: str, b: str) -> Transition:
        """``break_bond``."""
        return self.act(break_bond, a, b)

    def restore_bond(self, a: str, b: str) -> Transition:
        """``restore_bond``."""
        return self.act(restore_bond, a, b)

    # -- results ----------------------------------------------------------------------------

    def wall_seconds(self) -> float:
        """Return the wall time since the simulator was created."""
        return time.perf_counter() - self.wall_started

    def finish(self) -> None:
        """Write the trace's end record and close it."""
        if self.trace is None:
            return
        nodes = node_summaries(self.world, self.checker)
        self.trace.write(end_record(self.steps, self.world, nodes, len(self.violations)))
        self.trace.close()
        self.trace = None


def node_summaries(world: World, checker: Checker | None) -> dict[str, dict[str, Any]]:
    """Return per node: status, role, term, committed cursor, item count and state digest."""
    from spec.model.actions import machine_for  # local: avoid a cycle at import time
    from spec.model.ghost import items_digest

    machine = machine_for(world.setup.kind)
    out: dict[str, dict[str, Any]] = {}
    for name in world.names():
        slot = world.nodes[name]
        node = slot.node
        seen = node.observation if isinstance(node, HostedNode) else None
        if seen is not None:
            digest, items = seen.digest, seen.items  # a hosted node: as it reports
        else:
            if checker is not None:
                digest = checker.oracle.digest_of(node.sm)
            else:
                digest = items_digest(tuple(machine.items(node.sm)))
            items = len(machine.create_snapshot(node.sm))
        out[name] = {
            "status": slot.status.value,
            "role": type(node.role).__name__.removesuffix("Role").lower(),
            "term": int(node.term),
            "committed": {"term": int(node.committed.term), "index": int(node.committed.index)},
            "items": items,
            "digest": digest,
            "online": node.online,
        }
    return out
