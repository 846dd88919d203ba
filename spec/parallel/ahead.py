"""Slots whose result depends on what the slots before them found: run ahead, accepted in order.

``snapsync drive`` walks slot after slot (slot ``n`` is walk ``n // C`` of campaign
``n % C``), and each walk ignores the failures found before it (their *keys*), so it
goes past them to what lies behind. Slot ``n``'s result therefore depends on its
argument **and** on the keys the accepted slots ``0 … n-1`` found. :func:`run_ahead`
runs slots on ``jobs`` workers anyway:

* a slot is handed out with the keys accepted so far (``task_of(n, known)``); its
  result says which new keys it found (``found``) and whether it is what a run with
  other keys would have given (``valid_for(keys)``: a walk that never met a key it
  was not given would have run the same with it);
* results are **accepted** in slot order, and slot ``n``'s only if it is valid for the
  keys the slots before it found; otherwise it is run again with them. New keys are
  rare (a campaign's failures are found once), and a walk rarely meets another
  campaign's, so little work is run twice;
* the accepted results are those one process running the slots in order would have
  produced, whatever ``jobs`` is and whatever order the workers finish in.

Bounds, as one process: ``end`` slots at most; no slot is started after ``budget_s``
(the slots started run to their end, and the ones accepted in order are kept);
a stop (Ctrl-C, SIGTERM) interrupts the workers and keeps the slots accepted so far
(:class:`Ahead`). With ``jobs == 1`` the slots run in this process, one after the
other.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from spec.parallel.pool import Pool, Workers
from spec.robust.stop import (
    StopReason,
    cooperative,
    request_stop,
    stop_point,
    stop_requested,
    stopping,
)

__all__ = ["Ahead", "Keyed", "run_ahead"]

_TICK_S = 0.25
"""How often the parent wakes up while workers run (progress, budget, stops)."""


class Keyed(Protocol):
    """What :func:`run_ahead` needs of a slot's result."""

    @property
    def found(self) -> frozenset[str]:
        """The new keys it found (not among the keys it was given)."""
        ...

    def valid_for(self, known: frozenset[str]) -> bool:
        """Check if a run given ``known`` (a superset of the keys this one was given) would
        have returned this result."""
        ...


A = TypeVar("A")
R = TypeVar("R", bound=Keyed)


@dataclass(slots=True)
class Ahead(Generic[R]):
    """The accepted results of :func:`run_ahead`, in slot order."""

    accepted: list[R] = field(default_factory=list)
    stopped: StopReason | None = None
    """Why the run ended early (``interrupt``, ``terminate``), or None."""
    dispatched: dict[int, float] = field(default_factory=dict)
    """Slot number → seconds after the start at which its accepted run was handed out."""
    reruns: int = 0
    """Slots run again because they had run without a key found before them."""


def run_ahead(
    task_of: Callable[[int, frozenset[str]], A],
    run: Callable[[A], R],
    *,
    jobs: int,
    end: int | None,
    budget_s: float,
    started: float,
    on_accept: Callable[[int, R, float], None] | None = None,
    pool: Workers | None = None,
) -> Ahead[R]:
    """Run slots ``0, 1, …`` (module docstring); ``run`` must be a module-level function
    and its argument and result picklable when ``jobs > 1``. ``on_accept(n, result, at)``
    sees each accepted result, in slot order, with when its run was handed out (seconds
    after ``started``); it may raise to end the run (the pool ends the workers).
    ``pool``: run on these workers (tests pass a fake) instead of a new
    :class:`~spec.parallel.pool.Pool` of ``jobs``."""
    out: Ahead[R] = Ahead()
    if pool is not None:
        _run_pool(pool, task_of, run, end, budget_s, started, out, on_accept)
    elif jobs <= 1:
        _run_here(task_of, run, end, budget_s, started, out, on_accept)
    else:
        with Pool(jobs) as workers:
            _run_pool(workers, task_of, run, end, budget_s, started, out, on_accept)
    return out


def _run_here(
    task_of: Callable[[int, frozenset[str]], A],
    run: Callable[[A], R],
    end: int | None,
    budget_s: float,
    started: float,
    out: Ahead[R],
    on_accept: Callable[[int, R, float], None] | None,
) -> None:
    known: frozenset[str] = frozenset()
    n = 0
    with stopping() as stopped:
        while (end is None or n < end) and time.perf_counter() - started < budget_s:
            stop_point()
            out.dispatched[n] = time.perf_counter() - started
            result = run(task_of(n, known))
            known |= result.found
            out.accepted.append(result)
            if on_accept is not None:
                on_accept(n, result, out.dispatched[n])
            n += 1
    out.stopped = stopped.reason if stopped.reason != "budget" else None


@dataclass(slots=True)
class _Book:
    """The parent's view: what is accepted, running, finished, and still to hand out."""

    end: int | None
    known: frozenset[str] = frozenset()
    """Keys found by the accepted slots."""
    accepted: int = 0
    """Slots accepted (the next one to accept)."""
    next_new: int = 0
    """The next slot never handed out."""
    redo: set[int] = field(default_factory=set)
    """Slots to hand out again (they ran without a key accepted before them)."""
    running: dict[int, tuple[int, float]] = field(default_factory=dict)
    """Task → (slot, when it was handed out)."""
    finished: dict[int, tuple[Any, float]] = field(default_factory=dict)
    """Slot → (result, when it was handed out), waiting for the slots before it."""

    def take(self, may_start_new: bool) -> int | None:
        if self.redo:
            n = min(self.redo)
            self.redo.discard(n)
            return n
        if may_start_new and (self.end is None or self.next_new < self.end):
            self.next_new += 1
            return self.next_new - 1
        return None


def _run_pool(
    pool: Workers,
    task_of: Callable[[int, frozenset[str]], A],
    run: Callable[[A], R],
    end: int | None,
    budget_s: float,
    started: float,
    out: Ahead[R],
    on_accept: Callable[[int, R, float], None] | None,
) -> None:
    book = _Book(end)
    with cooperative():
        while True:
            reason = stop_requested()
            if reason is not None and not pool.interrupted:
                out.stopped = reason
                pool.interrupt()
            in_budget = time.perf_counter() - started < budget_s
            # Hand out slots while a worker is idle: first the ones to run again (the
            # oldest first: they hold up acceptance), then new ones within the budget.
            while not pool.interrupted and pool.idle > 0:
                n = book.take(in_budget)
                if n is None:
                    break
                task = pool.submit(run, task_of(n, book.known))
                book.running[task] = (n, time.perf_counter() - started)
            if not book.running:
                return
            try:
                done = pool.next_done(timeout=_TICK_S)
            except KeyboardInterrupt:
                if pool.interrupted:
                    raise  # a second Ctrl-C: leave now (the pool ends the workers)
                request_stop()  # no handler installed (a library call): the same as the first
                continue
            pool.notes()  # slots send none; keep the queue empty
            if done is None or done.task not in book.running:
                continue
            n, when = book.running.pop(done.task)
            if done.stopped or done.value is None:
                continue  # interrupted before it returned anything
            book.finished[n] = (done.value, when)
            _accept(book, pool, out, on_accept, in_budget and not pool.interrupted)


def _accept(
    book: _Book,
    pool: Workers,
    out: Ahead[R],
    on_accept: Callable[[int, R, float], None] | None,
    may_redo: bool,
) -> None:
    """Accept the finished slots that come next in order and ran with the right keys."""
    while book.accepted in book.finished:
        n = book.accepted
        result, when = book.finished.pop(n)
        if not result.valid_for(book.known):
            # It ran without a key a slot before it found: run it again with the keys.
            out.reruns += 1
            if may_redo:
                book.redo.add(n)
            return
        book.known |= result.found
        out.accepted.append(result)
        out.dispatched[n] = when
        book.accepted += 1
        if on_accept is not None:
            on_accept(n, result, when)
        if result.found:
            _invalidate(book, pool, out, may_redo)


def _invalidate(book: _Book, pool: Workers, out: Ahead[R], may_redo: bool) -> None:
    """A new key was accepted: the later slots that finished without it and would have run
    otherwise go again (the running ones are judged when they finish)."""
    del pool
    for n in [n for n, (r, _) in book.finished.items() if not r.valid_for(book.known)]:
        del book.finished[n]
        out.reruns += 1
        if may_redo:
            book.redo.add(n)
