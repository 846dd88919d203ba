"""Many cases under many profiles, on worker processes: what ``snapsync scenarios`` runs.

Every (profile, case) pair is an independent task: :func:`run_batch` hands them to
:func:`spec.parallel.map_ordered` (the largest cases start first, so that one big
case does not start last) and returns the results in the pairs' order — profile by
profile, cases in mosaik's file order — whatever ``jobs`` is. A case's result
depends only on the case, the profile and the seed; a worker writes the case's
trace itself when a trace directory is given.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from impl.profile import Profile
from spec.parallel import Mapped, map_ordered
from spec.robust.output import io_errors
from spec.scenarios import SCENARIOS
from spec.scenarios.registry import Case, CaseResult, run_case
from spec.sim.trace import TraceWriter

__all__ = ["CaseTask", "run_batch", "run_task", "tasks_for", "trace_path"]


@dataclass(frozen=True, slots=True)
class CaseTask:
    """One case under one profile, named by position (a case's body is not picklable)."""

    profile: Profile
    scenario: int
    """Index in :data:`spec.scenarios.SCENARIOS`."""
    case: int
    """Index in the scenario's :meth:`~spec.scenarios.registry.Scenario.case_list`."""
    size: int
    seed: int
    trace: str | None
    """Where to write the case's trace (None: no trace)."""

    def resolve(self) -> Case:
        """Return the case."""
        return SCENARIOS[self.scenario].case_list()[self.case]


def trace_path(trace_dir: str | Path, profile: Profile, case: Case) -> Path:
    """Return where ``snapsync scenarios --trace-dir`` writes the trace of ``case``."""
    safe = case.id.replace("/", "_").replace(" ", "")
    return Path(trace_dir) / f"{profile.name}_{safe}.jsonl"


def run_task(task: CaseTask) -> CaseResult:
    """Run one case (in a worker process, or in this one)."""
    case = task.resolve()
    trace = None
    if task.trace is not None:
        with io_errors("--trace-dir", task.trace):
            trace = TraceWriter.open(task.trace)
    return run_case(case, task.profile, seed=task.seed, trace=trace)


def _index(case: Case) -> tuple[int, int]:
    for s, scenario in enumerate(SCENARIOS):
        if scenario is case.scenario:
            return s, scenario.cases.index(case.params)
    raise ValueError(f"{case.id} is not one of SCENARIOS")


def tasks_for(
    cases: Sequence[Case],
    profiles: Sequence[Profile],
    *,
    seed: int = 0,
    trace_dir: str | Path | None = None,
) -> list[CaseTask]:
    """Return the tasks of every case under every profile (profile by profile)."""
    out: list[CaseTask] = []
    for profile in profiles:
        for case in cases:
            s, c = _index(case)
            trace = None if trace_dir is None else str(trace_path(trace_dir, profile, case))
            out.append(CaseTask(profile, s, c, case.size, seed, trace))
    return out


def run_batch(
    tasks: Sequence[CaseTask],
    *,
    jobs: int,
    on_done: Callable[[int, CaseResult], None] | None = None,
    on_tick: Callable[[], None] | None = None,
) -> Mapped[CaseResult]:
    """Run ``tasks`` with ``jobs`` processes; results by task index (module docstring)."""
    return map_ordered(
        run_task,
        tasks,
        jobs=jobs,
        cost=lambda t: t.size,
        on_done=on_done,
        on_tick=on_tick,
    )
