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
  one task at a time each, cancellation of queued tasks, interrupt (Ctrl-C: workers
  return their partial results within a grace period) and no orphaned process.
* :mod:`spec.parallel.ordered` — :func:`~spec.parallel.ordered.map_ordered`: independent
  tasks, results in the tasks' order, costliest started first.

How each command uses it:

* ``snapsync scenarios`` — one task per (profile, case) through ``map_ordered``.
* ``snapsync check`` — its stages (and each scenario case) as tasks through
  ``map_ordered``; rows are assembled in the fixed stage order.
* ``snapsync hunt`` — the schedule of campaign calls is fixed by the seed
  (:mod:`spec.hunt.schedule`: call ``k`` has its own seed whatever ran before it); a
  :class:`~spec.parallel.pool.Pool` runs calls ahead, and the parent accepts them in
  call order exactly as a single process would have run them.

How the commands still to come should use it:

* ``explore`` (breadth-first search) — **parallel frontier expansion**: per BFS level,
  split the frontier (in its deterministic order) into contiguous chunks, expand each
  chunk in a worker with ``map_ordered`` (a chunk's result: its successors with their
  canonical fingerprints and any violation, in expansion order), then concatenate the
  chunks' results in chunk order and deduplicate against the seen set in the parent.
  The parent alone assigns state numbers and owns the seen set, so the state count,
  the graph and the shortest counterexample are those of the sequential search; one
  pool serves every level (``with Pool(jobs)`` around the search, ``submit`` per chunk).
* ``conform`` (step vectors) — one task per vector (or per vector file) through
  ``map_ordered``; each worker starts its own adapter process once (a module-level
  cache in the worker) and the report lists the cases in vector order.
* ``drive`` (node adapters) — one task per seeded drive run through ``map_ordered``:
  each task starts its own adapter process and ends it before returning (the pool
  ends the worker, and with it any adapter it started, on Ctrl-C); shrinking a
  failure runs in the parent, after the merge, so it is deterministic.
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
