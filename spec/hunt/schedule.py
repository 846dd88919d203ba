"""The hunt's schedule: which campaign runs in which call with which seed, on any number of workers.

A hunt is a sequence of *rounds*. Every round lays out the same *slots*: the
campaigns aimed at the profile's hazards twice (their extra turns run coarse
walks), then every chosen campaign once (:meth:`Schedule.build`). Slot ``n``
(0-based, counted across rounds) is one call of its campaign — a batch of walks or
Hypothesis examples — with the seed ``seed_base + n + 1``. A campaign that failed
is not run again: its later slots are skipped, but the slots are never renumbered,
so **the seed of a call never depends on what happened before it**. Walk ``k`` of
a call is the walk ``k`` of its seed (:func:`spec.hunt.swarm.run_walks`) whichever
process runs it.

:func:`run_slots` runs the slots with ``jobs`` worker processes
(:class:`spec.parallel.Pool`), or in this process with ``jobs=1``. The parent hands
out slots in order, runs ahead (up to one slot per worker), and **accepts** a
finished slot exactly when a single process running the slots in order would have
run it: its campaign did not fail at an earlier slot, and (``stop_on_first``) no
slot before it failed. So the accepted slots, and everything merged from them in
slot order (findings, shrunk traces, counters), are the same for every ``jobs``; a
slot run ahead that turns out not to be needed is dropped and its result ignored.

What bounds a hunt: every campaign failed; ``rounds`` (a fixed amount of work,
the same on any machine); the time budget (which slots finish depends on speed);
``stop_on_first``; a Ctrl-C (the slots that finished, or returned partial results
when stopped, are kept: :class:`Slots`).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from spec.hunt.campaigns import Campaign
from spec.parallel.pool import Done, Pool, Workers
from spec.robust.stop import (
    StopReason,
    cooperative,
    deadline,
    request_stop,
    stop_point,
    stop_requested,
    stopping,
)

__all__ = ["FOUND", "Schedule", "Slot", "Slots", "run_slots"]

FOUND = "found"
"""The note a call sends (:func:`spec.parallel.pool.note`) when it has found a violation,
before shrinking it: the slot will fail, so the campaign's later slots are not needed."""

_TICK_S = 0.25
"""How often the parent wakes up while workers run (progress, budget)."""


@dataclass(frozen=True, slots=True)
class Slot:
    """One call of one campaign."""

    number: int
    """0-based, across rounds."""
    campaign: Campaign
    coarse: bool
    """An aimed campaign's extra turn: coarse walks (the campaign as written)."""
    seed: int


@dataclass(frozen=True, slots=True)
class Schedule:
    """The slots of every round (module docstring)."""

    layout: tuple[tuple[Campaign, bool], ...]
    """One round: (campaign, coarse) per slot."""
    seed_base: int = 0
    rounds: int | None = None
    """Rounds to run at most (None: until the budget ends the hunt)."""

    @classmethod
    def build(
        cls,
        chosen: Sequence[Campaign],
        aimed: Sequence[Campaign],
        *,
        seed_base: int = 0,
        rounds: int | None = None,
    ) -> Schedule:
        """Lay out a round: ``aimed`` twice (coarse), then ``chosen`` once."""
        extra = [(c, True) for c in aimed] * 2
        return cls(tuple(extra + [(c, False) for c in chosen]), seed_base, rounds)

    def slot(self, number: int) -> Slot:
        """Return slot ``number``.

        >>> from spec.hunt.campaigns import CAMPAIGNS
        >>> s = Schedule.build(CAMPAIGNS[:2], CAMPAIGNS[1:2], seed_base=10)
        >>> [(x.campaign == CAMPAIGNS[1], x.coarse, x.seed) for x in map(s.slot, range(3))]
        [(True, True, 11), (True, True, 12), (False, False, 13)]
        """
        campaign, coarse = self.layout[number % len(self.layout)]
        return Slot(number, campaign, coarse, self.seed_base + number + 1)

    @property
    def end(self) -> int | None:
        """The first slot past the last round (None: unbounded)."""
        return None if self.rounds is None else self.rounds * len(self.layout)


class Outcome(Protocol):
    """What :func:`run_slots` needs to know of a slot's result."""

    @property
    def failed(self) -> bool: ...


R = TypeVar("R", bound=Outcome)


@dataclass(slots=True)
class Slots(Generic[R]):
    """The accepted results of :func:`run_slots`, by slot number."""

    accepted: dict[int, R] = field(default_factory=dict)
    stopped: StopReason | None = None
    """Why the run ended early: ``interrupt`` (Ctrl-C), ``terminate`` (SIGTERM) or
    ``budget``; None when nothing more was wanted."""
    dropped: list[R] = field(default_factory=list)
    """Results of slots run ahead and not needed (their files are not kept)."""
    dispatched: dict[int, float] = field(default_factory=dict)
    """Slot number → seconds after the start at which it was handed to a worker."""

    def in_order(self) -> list[tuple[int, R]]:
        """Return the accepted results in slot order."""
        return sorted(self.accepted.items())


@dataclass(slots=True)
class _Book:
    """What the parent knows: which slots are still wanted (module docstring)."""

    schedule: Schedule
    stop_on_first: bool
    failed_at: dict[str, int] = field(default_factory=dict)
    """Campaign name → the earliest slot known to have failed."""
    first_failure: int | None = None
    next_slot: int = 0

    def wanted(self, number: int) -> bool:
        end = self.schedule.end
        if end is not None and number >= end:
            return False
        if self.stop_on_first and self.first_failure is not None and number > self.first_failure:
            return False
        name = self.schedule.slot(number).campaign.name
        failed = self.failed_at.get(name)
        return failed is None or number <= failed

    def record(self, number: int, *, failed: bool) -> None:
        if not failed:
            return
        name = self.schedule.slot(number).campaign.name
        self.failed_at[name] = min(number, self.failed_at.get(name, number))
        if self.first_failure is None or number < self.first_failure:
            self.first_failure = number

    def take(self) -> Slot | None:
        """Return the next wanted slot, or None if no slot is wanted any more."""
        names = {c.name for c, _ in self.schedule.layout}
        while True:
            end = self.schedule.end
            if end is not None and self.next_slot >= end:
                return None
            first = self.first_failure
            if self.stop_on_first and first is not None and self.next_slot > first:
                return None
            if names <= self.failed_at.keys():
                return None  # every campaign failed
            number = self.next_slot
            self.next_slot += 1
            if self.wanted(number):
                return self.schedule.slot(number)


def run_slots(
    schedule: Schedule,
    run: Callable[[Slot], R],
    *,
    jobs: int,
    budget_s: float,
    started: float,
    stop_on_first: bool = False,
    on_result: Callable[[Slot, R], None] | None = None,
    on_tick: Callable[[list[Slot]], None] | None = None,
    pool: Workers | None = None,
) -> Slots[R]:
    """Run the wanted slots of ``schedule`` until nothing is wanted or ``budget_s``
    seconds have passed since ``started`` (a ``time.perf_counter()`` value).

    ``run`` must be picklable (a module-level function or a ``functools.partial`` of
    one) when ``jobs > 1``. ``on_result`` sees every finished slot, accepted or not,
    in finishing order (progress); ``on_tick`` sees the slots running, about every
    quarter second while waiting for workers. ``pool``: run on these workers instead
    of a new :class:`~spec.parallel.pool.Pool` of ``jobs`` (the caller ends them).
    """
    book = _Book(schedule, stop_on_first)
    out: Slots[R] = Slots()
    if pool is not None:
        _run_pool(pool, book, run, budget_s, started, out, on_result, on_tick)
    elif jobs <= 1:
        _run_here(book, run, budget_s, started, out, on_result, on_tick)
    else:
        with Pool(jobs) as workers:
            _run_pool(workers, book, run, budget_s, started, out, on_result, on_tick)
    return out


def _run_here(
    book: _Book,
    run: Callable[[Slot], R],
    budget_s: float,
    started: float,
    out: Slots[R],
    on_result: Callable[[Slot, R], None] | None,
    on_tick: Callable[[list[Slot]], None] | None,
) -> None:
    """``jobs=1``: the slots one after the other, in this process."""
    with stopping() as stopped:
        while time.perf_counter() - started < budget_s:
            stop_point()
            slot = book.take()
            if slot is None:
                break
            if on_tick is not None:
                on_tick([slot])
            out.dispatched[slot.number] = time.perf_counter() - started
            result = run(slot)
            _finish(book, out, slot, result, on_result)
    out.stopped = stopped.reason


def _timed(run: Callable[[Slot], R], job: tuple[Slot, float]) -> R:
    """Run a slot in a worker within what is left of the hunt's budget."""
    slot, left = job
    with deadline(left):
        return run(slot)


def _run_pool(
    pool: Workers,
    book: _Book,
    run: Callable[[Slot], R],
    budget_s: float,
    started: float,
    out: Slots[R],
    on_result: Callable[[Slot, R], None] | None,
    on_tick: Callable[[list[Slot]], None] | None,
) -> None:
    timed = functools.partial(_timed, run)
    running: dict[int, Slot] = {}  # task number → slot
    exhausted = False
    with cooperative():
        while True:
            elapsed = time.perf_counter() - started
            reason = stop_requested() or ("budget" if elapsed >= budget_s else None)
            if reason is not None and not pool.interrupted:
                # Ctrl-C, SIGTERM or the budget: the running calls return what they did.
                out.stopped = reason
                pool.interrupt()
            # Hand out slots while a worker is idle and no stop was asked.
            while not exhausted and not pool.interrupted and pool.idle > 0:
                slot = book.take()
                if slot is None:
                    exhausted = True
                    break
                out.dispatched[slot.number] = time.perf_counter() - started
                left = budget_s - out.dispatched[slot.number]
                running[pool.submit(timed, (slot, left))] = slot
            # Forget slots run ahead that an accepted failure made unnecessary.
            for task, slot in list(running.items()):
                if not book.wanted(slot.number):
                    pool.cancel(task)
                    del running[task]
            if not running:
                return
            try:
                done = pool.next_done(timeout=_TICK_S)
            except KeyboardInterrupt:
                if pool.interrupted:
                    raise  # a second Ctrl-C: leave now (the pool ends the workers)
                request_stop()  # no handler installed (a library call): the same as the first
                continue
            for task, payload in pool.notes():
                if payload == FOUND and task in running:
                    book.record(running[task].number, failed=True)
                    _prune(book, out)
            if done is not None:
                slot = running.pop(done.task)
                _finish_done(book, out, slot, done, on_result)
            elif on_tick is not None:
                on_tick(sorted(running.values(), key=lambda s: s.number))


def _finish_done(
    book: _Book,
    out: Slots[R],
    slot: Slot,
    done: Done,
    on_result: Callable[[Slot, R], None] | None,
) -> None:
    if done.stopped or done.value is None:
        return  # interrupted before it returned anything
    _finish(book, out, slot, done.value, on_result)


def _prune(book: _Book, out: Slots[R]) -> None:
    """A failure can make slots accepted earlier (run ahead, later numbers) unnecessary."""
    for number in [n for n in out.accepted if not book.wanted(n)]:
        out.dropped.append(out.accepted.pop(number))


def _finish(
    book: _Book,
    out: Slots[R],
    slot: Slot,
    result: R,
    on_result: Callable[[Slot, R], None] | None,
) -> None:
    if book.wanted(slot.number):
        book.record(slot.number, failed=result.failed)
        out.accepted[slot.number] = result
        _prune(book, out)
    else:
        out.dropped.append(result)
    if on_result is not None:
        on_result(slot, result)
