"""``snapsync conform --jobs N``: the selected cases in contiguous shards, one adapter process each.

A shard is a contiguous stretch of the vector tree's *inputs* (a case id of a step)
with every selected profile's case of each: the tree holds each input once per
profile, at the same place (``DIR/<profile>/<step>/<id>.json``), and the two
profiles' cases of one input share their state, which an adapter decodes once
(the reference's cache: a third of its work). With one profile selected a shard is
simply a contiguous run of cases. The inputs are cut into at most ``jobs`` stretches
of nearly equal size, and never into shards of fewer than ``min_shard`` cases (a
shard costs an adapter's start: a small selection stays in one process).

Each shard runs through :func:`~spec.conformance.runner.run_conform` in a worker
process (:func:`spec.parallel.map_ordered`) with its own adapter process, window,
timeouts and restarts; the parent puts the outcomes back in the order one process
reports them (the step cases in vector order, then the sequence cases in vector
order). A case's outcome depends only on the case and the adapter's answer to it
(steps are pure; a sequence case starts with a fresh node), so the report — every
status, first difference, expected failure, "attempted N of M" — is the one
``--jobs 1`` gives. What differs: the timings, ``jobs``, and two things that were
never deterministic: the ``events`` of a timeout (how many requests were in flight)
and, for an adapter that keeps failing, where the limit of restarts stops the run
(each shard's process has its own limit of ``max_restarts``).

Stopping: a worker stops at its next answer (SIGINT only sets its flag) and returns
the cases done so far, its adapter closed (:func:`run_conform`'s ``finally``, which
also runs when the pool ends a worker with SIGTERM); the parent collects them and
reports the rest ``not-attempted`` (``interrupted`` says why). No worker and no
adapter outlives the command (:class:`spec.parallel.pool.Pool`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from spec.conformance.conventions import suite_of
from spec.conformance.expectations import Expectation
from spec.conformance.runner import (
    CaseOutcome,
    ConformReport,
    Job,
    make_jobs,
    run_conform,
    sequence_job,
)
from spec.robust.stop import Stop

__all__ = ["MIN_SHARD_CASES", "ShardTask", "run_conform_jobs", "run_shard", "shards_of"]

MIN_SHARD_CASES = 250
"""The fewest cases a shard gets: a shard costs an adapter's start (0.2-0.4 s of CPU for
the reference, which runs about 3,000 cases a second)."""


def _input_of(case: dict[str, Any]) -> tuple[str, str]:
    """The input a case runs (the same for each profile's case of it)."""
    return suite_of(case["step"], case["collection"]), case["id"]


def shards_of(
    cases: Sequence[dict[str, Any]], jobs: int, min_shard: int = MIN_SHARD_CASES
) -> list[list[int]]:
    """Return the shards of ``cases`` (module docstring) as ascending lists of indices.

    >>> cases = [{"step": "P6", "collection": "map", "id": i} for i in "abc"]
    >>> two = [{**c, "profile": p} for p in ("m", "r") for c in cases]
    >>> shards_of(two, 2, min_shard=1)
    [[0, 1, 3, 4], [2, 5]]
    >>> shards_of(two, 2, min_shard=4), shards_of([], 2)
    ([[0, 1, 2, 3, 4, 5]], [[]])
    """
    inputs: dict[tuple[str, str], list[int]] = {}
    for i, case in enumerate(cases):
        inputs.setdefault(_input_of(case), []).append(i)
    groups = list(inputs.values())
    n = max(1, min(jobs, len(groups), len(cases) // max(min_shard, 1)))
    size, extra = divmod(len(groups), n)
    out, start = [], 0
    for k in range(n):
        stop = start + size + (1 if k < extra else 0)
        out.append(sorted(i for group in groups[start:stop] for i in group))
        start = stop
    return out


@dataclass(frozen=True, slots=True)
class ShardTask:
    """One shard's run: what :func:`run_conform` needs (picklable, for a worker)."""

    argv: tuple[str, ...]
    indices: tuple[int, ...]
    """The shard's cases: their places in the selection."""
    cases: tuple[dict[str, Any], ...] | None
    """The shard's cases; None when the worker is forked after the selection was put in
    :data:`_FORKED` (then it takes them from its copy: no pickling of megabytes)."""
    adapter: str
    vectors: str | None
    expectations: tuple[Expectation, ...]
    timeout: float
    window: int
    max_restarts: int


_FORKED: list[Sequence[dict[str, Any]]] = []
"""The selected cases while forked workers start: each worker has its own copy."""


def run_shard(task: ShardTask) -> ConformReport:
    """Run one shard through its own adapter process (in a worker); the outcomes come back
    without their cases (the parent has them: sending them back would double the cost)."""
    if task.cases is not None:
        cases: Sequence[dict[str, Any]] = task.cases
    else:
        selection = _FORKED[-1]
        cases = [selection[i] for i in task.indices]
    report = run_conform(
        task.argv,
        cases,
        adapter=task.adapter,
        vectors=task.vectors,
        expectations=task.expectations,
        timeout=task.timeout,
        window=task.window,
        max_restarts=task.max_restarts,
    )
    for outcome in report.outcomes:
        outcome.job = _bare(outcome.job.suite, {})
    return report


def _bare(suite: str, case: dict[str, Any]) -> Job:
    """A case's job as a report needs it (the case and its row), without the request."""
    return Job(case, suite, "", "", {}, "", b"")


def _is_sequence(case: dict[str, Any]) -> bool:
    return case.get("kind") == "sequence"


def _report_order(cases: Sequence[dict[str, Any]], indices: Sequence[int]) -> list[int]:
    """The order in which one process reports ``cases[indices]``: steps, then sequences."""
    steps = [i for i in indices if not _is_sequence(cases[i])]
    return steps + [i for i in indices if _is_sequence(cases[i])]


def run_conform_jobs(
    argv: Sequence[str],
    cases: Sequence[dict[str, Any]],
    *,
    jobs: int,
    adapter: str,
    vectors: str | None,
    expectations: Sequence[Expectation] = (),
    timeout: float = 10.0,
    window: int = 32,
    max_restarts: int = 50,
    min_shard: int = MIN_SHARD_CASES,
) -> ConformReport:
    """Run ``cases`` through ``jobs`` adapter processes; return the report one process
    would give (module docstring)."""
    from spec.parallel import Pool, map_ordered

    shards = shards_of(cases, jobs, min_shard)
    if len(shards) == 1:
        return run_conform(
            argv,
            cases,
            adapter=adapter,
            vectors=vectors,
            expectations=expectations,
            timeout=timeout,
            window=window,
            max_restarts=max_restarts,
        )
    started = time.perf_counter()
    pool = Pool(len(shards))
    forked = pool.method == "fork"
    tasks = [
        ShardTask(
            tuple(argv),
            tuple(shard),
            None if forked else tuple(cases[i] for i in shard),
            adapter,
            vectors,
            tuple(expectations),
            timeout,
            window,
            max_restarts,
        )
        for shard in shards
    ]
    _FORKED.append(cases)  # before the workers fork (when the pool starts): they keep it
    try:
        with pool:
            mapped = map_ordered(run_shard, tasks, jobs=len(tasks), pool=pool)
    finally:
        _FORKED.pop()
    reports = mapped.results
    if not reports:  # stopped before any shard returned: nothing to report
        raise Stop(mapped.stopped or "interrupt")
    outcomes: dict[int, CaseOutcome] = {}
    for k, shard in enumerate(shards):
        order = _report_order(cases, shard)
        done = reports.get(k)
        if done is not None:
            for i, outcome in zip(order, done.outcomes, strict=True):
                outcome.job = _bare(outcome.job.suite, cases[i])
                outcomes[i] = outcome
            continue
        # A worker ended before it returned (a stop past the grace): its cases were not run.
        made = iter(make_jobs([cases[i] for i in order if not _is_sequence(cases[i])]))
        for i in order:
            job = sequence_job(cases[i]) if _is_sequence(cases[i]) else next(made)
            outcomes[i] = CaseOutcome(job, "not-attempted", detail=f"stopped ({mapped.stopped})")
    returned = [reports[k] for k in sorted(reports)]
    first = returned[0]
    events = [e for rep in returned for e in rep.events]
    if any(rep.hello != first.hello for rep in returned):
        events.append("the adapter processes' hellos differ; keeping the first")
    return ConformReport(
        hello=first.hello,
        adapter=adapter,
        vectors=vectors,
        outcomes=[outcomes[i] for i in _report_order(cases, range(len(cases)))],
        expectations=list(expectations),
        stopped=next((rep.stopped for rep in returned if rep.stopped), None),
        restarts=sum(rep.restarts for rep in returned),
        seconds=time.perf_counter() - started,
        events=events,
        run_seconds=max(rep.run_seconds for rep in returned),
        interrupted=mapped.stopped
        or next((rep.interrupted for rep in returned if rep.interrupted), None),
        jobs=len(shards),
    )
