"""Independent tasks in parallel, results in the tasks' order: :func:`map_ordered`.

For work that splits into tasks that do not depend on each other (scenario cases,
conformance vectors, the stages of ``snapsync check``): each task's result depends
only on its argument, so returning them in the order of the arguments gives the
same list whatever ``jobs`` is and whichever worker ran what. With ``jobs == 1``
(or a single task) no process is started: the tasks run here, one after the other.

``cost`` (an estimate per task, e.g. its number of items) only changes the order
tasks *start* in — the costliest first, so that a long task does not start last and
keep one core busy while the others idle (longest processing time first) — never
the order of the results.

A stop (:mod:`spec.robust.stop`: Ctrl-C, SIGTERM, a :func:`~spec.robust.stop.deadline`)
ends the run early: the workers are asked to stop and return what they finished
(:class:`~spec.parallel.pool.Pool`), and :class:`Mapped` holds the finished results
with ``stopped`` set to the reason, so the caller can print its partial report. A
task stops at its own stop points; what it returns when stopped is kept like any
result.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from spec.parallel.pool import Pool
from spec.robust.stop import (
    StopReason,
    cooperative,
    request_stop,
    stop_point,
    stop_requested,
    stopping,
)

__all__ = ["Mapped", "map_ordered"]

A = TypeVar("A")
R = TypeVar("R")

_TICK_S = 0.25
"""How often ``on_tick`` runs while waiting for workers (progress displays)."""


@dataclass(slots=True)
class Mapped(Generic[R]):
    """The results of :func:`map_ordered`: by task index, the finished ones only."""

    total: int
    results: dict[int, R] = field(default_factory=dict)
    stopped: StopReason | None = None
    """Why the run ended before every task finished (``interrupt``, ``terminate``,
    ``budget``), or None."""

    def in_order(self) -> list[R]:
        """Return the finished results in the tasks' order."""
        return [self.results[i] for i in sorted(self.results)]

    @property
    def complete(self) -> bool:
        """Check if every task finished."""
        return len(self.results) == self.total


def map_ordered(
    fn: Callable[[A], R],
    args: Sequence[A],
    *,
    jobs: int,
    cost: Callable[[A], float] | None = None,
    on_done: Callable[[int, R], None] | None = None,
    on_tick: Callable[[], None] | None = None,
    pool: Pool | None = None,
) -> Mapped[R]:
    """Return ``fn(arg)`` for every ``arg``, computed by ``jobs`` processes (module docstring).

    ``fn`` must be a module-level function and ``args`` and the results picklable
    when ``jobs > 1``. ``on_done(index, result)`` runs in this process as each task
    finishes (in finishing order: for progress), ``on_tick()`` about every quarter
    second while waiting. A task that raises ends the run with
    :class:`~spec.parallel.pool.WorkerError` (a bug: tasks return their findings).
    ``pool``: run on these workers (kept running afterwards, e.g. for the next level
    of a breadth-first search) instead of a new pool of ``jobs``.
    """
    out: Mapped[R] = Mapped(len(args))
    if pool is None and (jobs <= 1 or len(args) <= 1):
        with stopping() as stopped:
            for index, arg in enumerate(args):
                stop_point()
                result = fn(arg)
                out.results[index] = result
                if on_done is not None:
                    on_done(index, result)
        out.stopped = stopped.reason
        return out
    order = list(range(len(args)))
    if cost is not None:
        weights = [cost(a) for a in args]
        order.sort(key=lambda i: (-weights[i], i))
    with contextlib.ExitStack() as stack:
        if pool is None:
            pool = stack.enter_context(Pool(min(jobs, len(args))))
        index_of: dict[int, int] = {}
        for i in order:
            index_of[pool.submit(fn, args[i])] = i
        with cooperative():
            _collect(pool, index_of, out, on_done, on_tick)
    return out


def _collect(
    pool: Pool,
    index_of: dict[int, int],
    out: Mapped[R],
    on_done: Callable[[int, R], None] | None,
    on_tick: Callable[[], None] | None,
) -> None:
    last_tick = time.monotonic()
    while pool.outstanding:
        reason = stop_requested()
        if reason is not None and not pool.interrupted:
            out.stopped = reason
            pool.interrupt()
        try:
            done = pool.next_done(timeout=_TICK_S)
        except KeyboardInterrupt:
            if pool.interrupted:
                raise  # a second Ctrl-C: leave at once (the pool's exit ends the workers)
            request_stop()  # no handler installed (a library call): the same as the first
            continue
        if done is not None and not done.stopped:
            index = index_of[done.task]
            out.results[index] = done.value
            if on_done is not None:
                on_done(index, done.value)
        if on_tick is not None and time.monotonic() - last_tick >= _TICK_S:
            last_tick = time.monotonic()
            on_tick()
