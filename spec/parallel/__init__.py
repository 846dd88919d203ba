"""Parallel execution: worker processes for ``--jobs N``, with results that do not depend on N.

Every command that runs many independent pieces of work spreads them over worker
processes (the model is pure Python: threads would share one core). The rule that
makes this safe is the same everywhere: **a task's result depends only on its
argument** — never on which worker ran it, what ran before it there, the start
method, ``PYTHONHASHSEED`` or the time — and the parent merges results in an order
fixed by the work, not by the finishing order. So ``--jobs 1`` and ``--jobs N`` give
the same findings, traces and verdicts; only timings and rates differ.

* :mod:`spec.parallel.jobs` — the ``--jobs`` option: its default (the cores this
  process may use) and its validation.
* :mod:`spec.parallel.pool` — :class:`~spec.parallel.pool.Pool`: the worker processes,
  one task at a time each, cancellation, notes from running tasks, interrupt (Ctrl-C:
  workers return their partial results within a grace period), cleanups at a
  worker's exit (:func:`~spec.parallel.pool.at_worker_exit`) and no orphaned process.
* :mod:`spec.parallel.ordered` — :func:`~spec.parallel.ordered.map_ordered`: independent
  tasks, results in the tasks' order, costliest started first.
* :mod:`spec.parallel.ahead` — :func:`~spec.parallel.ahead.run_ahead`: slots whose result
  depends on the keys the slots before them found, run ahead and accepted in order.

How each command uses it:

* ``snapsync scenarios`` — one task per (profile, case) through ``map_ordered``.
* ``snapsync check`` — its stages (and each scenario case) as tasks through
  ``map_ordered``; rows are assembled in the fixed stage order.
* ``snapsync hunt`` — the schedule of campaign calls is fixed by the seed
  (:mod:`spec.hunt.schedule`: call ``k`` has its own seed whatever ran before it); a
  :class:`~spec.parallel.pool.Pool` runs calls ahead, and the parent accepts them in
  call order exactly as a single process would have run them.
* ``snapsync conform`` — **shards of cases** (:mod:`spec.conformance.shards`): the
  selected cases cut into at most ``jobs`` contiguous stretches of inputs (each input
  with every profile's case of it), each run by ``run_conform`` with its own adapter
  process through ``map_ordered``; the outcomes are put back in the order one process
  reports them. The adapter is started and ended inside the task (``run_conform``
  closes it in a ``finally``, which also runs when the pool ends a worker by SIGTERM).
* ``snapsync drive`` — **walks as slots** (:func:`spec.parallel.ahead.run_ahead`): slot
  ``n`` is walk ``n // C`` of campaign ``n % C`` (seed ``drive:{seed}:{campaign}:{k}``)
  run by a worker that keeps one shared adapter process for all its walks (ended by
  :func:`~spec.parallel.pool.at_worker_exit`); a walk ignores the failure keys found
  before it, so the parent keeps a walk run ahead only if it met none of the keys
  found meanwhile, and runs it again otherwise. A new key is shrunk in the slot that
  found it (fresh adapter processes per attempt); findings are merged in slot order.

* ``snapsync explore`` (breadth-first search) — **parallel frontier expansion**, not
  partitioned fingerprints, with **states kept where they were found**
  (:mod:`spec.explore.search`): per BFS level, one part per worker through
  ``map_ordered(expand_part, parts, pool=pool)`` on one ``Pool`` (part ``i`` goes to
  worker ``i``: all are idle when a level is submitted); a worker expands the states
  it found in the level before, keeps every successor it finds and returns only edges
  (keys are content digests, the same in every process). The parent takes the edges in
  state-number order, alone numbers the states, and assigns each new state to the
  worker that found its first occurrence, so the state count, the graph and the
  shortest counterexamples are those of the sequential search. The pool starts when a
  level first holds 64 states, so forked workers inherit the warm caches and that
  level's states. (Chunks of pickled states, the first version, cost 2.2x the
  processor time: every unpickled state is a new object to identity-keyed caches.)
"""

from __future__ import annotations

from spec.parallel.jobs import MAX_JOBS, default_jobs, jobs_argument, parse_jobs
from spec.parallel.ordered import Mapped, map_ordered
from spec.parallel.pool import Done, Pool, WorkerError

__all__ = [
    "MAX_JOBS",
    "Done",
    "Mapped",
    "Pool",
    "WorkerError",
    "default_jobs",
    "jobs_argument",
    "map_ordered",
    "parse_jobs",
]
