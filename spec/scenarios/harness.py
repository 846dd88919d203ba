"""The common harness of mosaik's sync tests, on top of the simulator (inventory §6).

mosaik's tests drive real nodes with ``when().online()``, ``when().reaches(v)``
and timeouts; a :class:`Harness` offers the same verbs over the model, with the
same timeouts in *simulated* milliseconds:

* ``writer(name)`` / ``reader(name)`` — a node joins (``join_late``): writers are
  ``Normal`` (vote, may lead), readers ``Observer``.
* ``online(name, timeout_ms)``, ``reaches(name, version, timeout_ms)`` — run the
  simulation until the condition holds, or fail the scenario with a timeout.
* ``write(name, *commands)`` — mosaik's ``w.insert(..).await``: the commands go
  to the leader (a follower writer's commands are forwarded to the leader it
  follows, as mosaik's ``forward_commands`` does; forwarding itself is not
  modelled), are published by its next R1, and the call returns the version
  (log index) of the last one once the leader has appended them.
* ``expect(condition, message)`` — mosaik's ``assert!``: a false condition ends
  the scenario as failed.

After the scripted part, :meth:`Harness.settle` drives the run to quiescence
under fair delivery and checks liveness (:mod:`spec.model.liveness`).

A run has a step budget (``max_steps``), and the simulator stops a run that polls
round after round at one instant with nothing delivered between
(:data:`spec.sim.simulator.POLL_SPIN_LIMIT`): a livelock — steps without end, while
simulated time barely moves — ends the scenario as a ``livelock`` outcome (during
the script) or an L1 violation (during the settle), never as a hang.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from impl.config import Config
from impl.messages import Command
from impl.profile import Profile
from spec.model.actions import machine_for
from spec.model.invariants import Violation
from spec.model.liveness import quiescent, settle_report
from spec.model.state import World, WorldSetup
from spec.scenarios.flavors import FLAVORS, Flavor, Reads
from spec.sim.latency import LatencyModel
from spec.sim.simulator import SimOptions, Simulator
from spec.sim.trace import TraceWriter

__all__ = ["Harness", "ScenarioFailed"]


class ScenarioFailed(Exception):
    """A mosaik assertion or timeout failed in a scenario (its outcome, not a crash)."""

    def __init__(self, kind: str, message: str) -> None:
        self.kind = kind
        self.message = message
        super().__init__(f"{kind}: {message}")


@dataclass(slots=True)
class _Watch:
    """A condition checked after every step (mosaik's concurrent reader tasks)."""

    check: Callable[[World], str | None]
    failure: str | None = None


@dataclass(slots=True)
class Harness:
    """mosaik's test harness over the model (see the module docstring)."""

    kind: str
    profile: Profile
    batch: int | None = None
    seed: int = 0
    trace: TraceWriter | None = None
    check: bool = True
    latency: LatencyModel | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    max_steps: int | None = None
    """Step budget of the run (None: no bound)."""
    sim: Simulator = field(init=False)
    _watches: list[_Watch] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        config = Config() if self.batch is None else Config().with_fetch_batch_size(self.batch)
        setup = WorldSetup(kind=self.kind, config=config, profile=self.profile)
        options = SimOptions(
            seed=self.seed,
            latency=self.latency or LatencyModel(),
            check_invariants=self.check,
            max_steps=self.max_steps,
        )
        self.sim = Simulator(setup, options, trace=self.trace, meta=self.meta)
        self.sim.observers.append(self._observe)

    # -- nodes ------------------------------------------------------------------------------

    @property
    def flavor(self) -> Flavor:
        """The mirrored-test pieces of this collection (Map, Vec, Set, DEPQ)."""
        return FLAVORS[self.kind]

    def writer(self, name: str) -> None:
        """A writer (mosaik ``Normal``) joins."""
        self.sim.join(name, writer=True)

    def reader(self, name: str) -> None:
        """A reader (mosaik ``Observer``) joins."""
        self.sim.join(name, writer=False)

    def drop(self, name: str) -> None:
        """The node is dropped (its bonds break)."""
        self.sim.leave(name)

    # -- waiting ----------------------------------------------------------------------------

    def _wait(self, predicate: Callable[[World], bool], timeout_ms: int, what: str) -> None:
        self._raise_watch()
        ok = self.sim.run_until(predicate, limit_ms=self.sim.world.now_ms + timeout_ms)
        self._raise_watch()
        if not ok and self.sim.budget_exhausted:
            spent = self.sim.livelock or f"step budget of {self.sim.steps} exhausted"
            raise ScenarioFailed("livelock", f"{spent} waiting for {what}")
        if not ok:
            raise ScenarioFailed("timeout", f"{what} within {timeout_ms} ms")

    def online(self, name: str, timeout_ms: int) -> None:
        """mosaik ``when().online()``: in sync with a leader (or leading)."""

        def up(w: World) -> bool:
            slot = w.nodes[name]
            return slot.up and slot.node.online

        self._wait(up, timeout_ms, f"{name} online")

    def reaches(self, name: str, version: int, timeout_ms: int) -> None:
        """mosaik ``when().reaches(version)``: the committed index is at least ``version``."""

        def reached(w: World) -> bool:
            slot = w.nodes[name]
            return slot.up and slot.node.committed.index >= version

        self._wait(reached, timeout_ms, f"{name} reaches {version}")

    def leader(self) -> str:
        """Return the current leader's name (fails the scenario if there is none)."""
        leaders = self.sim.world.leaders()
        if not leaders:
            raise ScenarioFailed("fail", "no leader")
        return leaders[0]

    # -- writing ----------------------------------------------------------------------------

    def write(self, name: str, *commands: Command, timeout_ms: int = 2_000) -> int:
        """Submit ``commands`` at writer ``name`` (forwarded to the leader) and return the
        version of the last one once the leader has appended them all."""
        target = self._leader_for(name)
        node = self.sim.world.nodes[target].node
        queued = len(getattr(node.role, "client_commands", ()))
        version = int(node.log.last().index) + queued + len(commands)
        self.sim.write(target, tuple(commands))

        def appended(w: World) -> bool:
            return int(w.nodes[target].node.log.last().index) >= version

        self._wait(appended, timeout_ms, f"{target} appends version {version}")
        return version

    def write_each(self, name: str, commands: list[Command], timeout_ms: int = 2_000) -> int:
        """mosaik's ``for .. { w.op(..).await }``: one command at a time; last version."""
        version = 0
        for command in commands:
            version = self.write(name, command, timeout_ms=timeout_ms)
        return version

    def _leader_for(self, name: str) -> str:
        slot = self.sim.world.nodes[name]
        if not slot.writer:
            raise ScenarioFailed("fail", f"{name} is a reader: it cannot write")
        leader = slot.node.leader
        if leader is None:
            raise ScenarioFailed("fail", f"{name} knows no leader to forward to")
        return self.sim.world.name_of(leader)

    # -- reading ----------------------------------------------------------------------------

    def read(self, name: str) -> Reads:
        """Return what a reader of node ``name`` observes now."""
        node = self.sim.world.nodes[name].node
        return Reads(self.kind, tuple(machine_for(self.kind).items(node.sm)))

    def expect(self, condition: bool, message: str) -> None:
        """mosaik's ``assert!``: fail the scenario unless ``condition``."""
        if not condition:
            raise ScenarioFailed("fail", message)

    def expect_eq(self, actual: Any, expected: Any, what: str) -> None:
        """mosaik's ``assert_eq!``."""
        if actual != expected:
            raise ScenarioFailed("fail", f"{what}: got {actual!r}, expected {expected!r}")

    def watch(self, check: Callable[[World], str | None]) -> None:
        """Check ``check(world)`` after every step from now on (a concurrent reader task)."""
        self._watches.append(_Watch(check))

    def _observe(self, world: World) -> None:
        for w in self._watches:
            if w.failure is None:
                w.failure = w.check(world)

    def _raise_watch(self) -> None:
        for w in self._watches:
            if w.failure is not None:
                raise ScenarioFailed("fail", w.failure)

    # -- the end ----------------------------------------------------------------------------

    def settle(self, limit_ms: int = 60_000) -> list[Violation]:
        """Drive to quiescence under fair delivery; return the liveness violations (L1–L4)."""
        self._raise_watch()
        self.sim.run_until(quiescent, limit_ms=self.sim.world.now_ms + limit_ms)
        self._raise_watch()
        found = settle_report(self.sim.world, self.sim.checker)
        if self.sim.budget_exhausted:
            detail = (
                f"{self.sim.livelock or f'step budget of {self.sim.steps} exhausted'} (livelock)"
            )
            found = [Violation("L1", None, detail), *found]
        return found

    @property
    def violations(self) -> list[Violation]:
        """Every safety violation found so far."""
        return self.sim.violations
