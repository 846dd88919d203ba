"""Scenarios, their cases, and running one case under one profile.

A :class:`Scenario` is one mosaik test function (``tests/collections/sync/map.rs::frozen``)
with its ``#[case(..)]`` parameters; its body drives a :class:`~spec.scenarios.harness.Harness`
and asserts what mosaik's test asserts. :func:`run_case` runs one case under one
profile and returns a :class:`CaseResult`: mosaik's asserts (pass, fail or
timeout), the invariant violations the model found, and the liveness report.

mosaik's own tests pass (their CI is green), so the expected outcome of every
scenario is "pass" under both profiles — except where this project predicts that
mosaik's test fails on mosaik as it is; such a prediction is a *finding*
(:mod:`spec.scenarios.findings`), stated with its explanation, and a result that
differs from the expectation without a finding is reported as unexplained.
"""

from __future__ import annotations

import fnmatch
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from impl.profile import Profile
from spec.model.invariants import Violation
from spec.scenarios.harness import Harness, ScenarioFailed
from spec.sim.simulator import cyclic_gc_paused
from spec.sim.trace import TraceWriter

__all__ = [
    "Case",
    "CaseResult",
    "Scenario",
    "run_case",
    "select_cases",
]

Body = Callable[[Harness, Mapping[str, Any]], None]


@dataclass(frozen=True, slots=True)
class Scenario:
    """One mosaik test function and its cases."""

    collection: str
    """The collection kind it runs on."""
    name: str
    """The test function's name."""
    source: str
    """Where mosaik keeps it (``file::function``)."""
    body: Body
    """Drives the harness and asserts mosaik's expectations."""
    cases: tuple[Mapping[str, Any], ...] = ({},)
    """The ``#[case(..)]`` parameters (one empty case for a plain test)."""
    expectation: str = ""
    """What mosaik's asserts require, in one sentence."""
    batch_param: str | None = None
    """The case parameter holding ``fetch_batch_size`` (else the default 2000)."""
    size_params: tuple[str, ...] = ()
    """Case parameters whose sum is the number of items involved (for ``--max-size``)."""
    base_size: int = 0
    """The number of items of a case-less test."""

    @property
    def id(self) -> str:
        """Return ``collection/name``."""
        return f"{self.collection}/{self.name}"

    def case_list(self) -> list[Case]:
        """Return every case of this scenario."""
        return [Case(self, dict(params)) for params in self.cases]


@dataclass(frozen=True, slots=True)
class Case:
    """One ``#[case(..)]`` of a scenario."""

    scenario: Scenario
    params: Mapping[str, Any]

    @property
    def label(self) -> str:
        """Return the case's parameters as mosaik writes them, e.g. ``(1000, 100, false)``."""
        if not self.params:
            return ""
        parts = []
        for value in self.params.values():
            parts.append(str(value).lower() if isinstance(value, bool) else f"{value}")
        return "(" + ", ".join(parts) + ")"

    @property
    def id(self) -> str:
        """Return ``collection/name(params)``."""
        return f"{self.scenario.id}{self.label}"

    @property
    def size(self) -> int:
        """Return the number of items the case involves."""
        if not self.scenario.size_params:
            return self.scenario.base_size
        return sum(int(self.params[p]) for p in self.scenario.size_params)

    @property
    def batch(self) -> int | None:
        """Return the case's ``fetch_batch_size`` (None: mosaik's default)."""
        if self.scenario.batch_param is None:
            return None
        return int(self.params[self.scenario.batch_param])


@dataclass(slots=True)
class CaseResult:
    """The outcome of one case under one profile."""

    case: str
    scenario: str
    profile: str
    outcome: str
    """``pass`` (mosaik's asserts hold), ``fail`` (an assert failed), ``timeout``, or
    ``livelock`` (the step budget ran out: steps without end)."""
    message: str | None
    violations: list[Violation] = field(default_factory=list)
    liveness: list[Violation] = field(default_factory=list)
    steps: int = 0
    sim_ms: int = 0
    wall_s: float = 0.0
    expected: str = "pass"
    finding: str | None = None

    @property
    def violation_ids(self) -> dict[str, int]:
        """Return how often each invariant was violated (safety and liveness)."""
        return dict(sorted(Counter(v.id for v in self.violations + self.liveness).items()))

    @property
    def clean(self) -> bool:
        """Check if the asserts held and the model found no violation at all."""
        return self.outcome == "pass" and not self.violations and not self.liveness

    @property
    def agrees(self) -> bool:
        """Check if the asserts' outcome is the one expected of mosaik's test."""
        return (self.outcome == "pass") == (self.expected == "pass")

    @property
    def status(self) -> str:
        """``ok`` (as expected, and clean under the reference), ``finding`` (differs from
        mosaik's green test, explained), ``UNEXPLAINED`` or ``VIOLATIONS`` (reference only)."""
        if not self.agrees:
            return "finding" if self.finding else "UNEXPLAINED"
        if self.profile == "reference" and not self.clean:
            return "VIOLATIONS"
        if self.expected != "pass":
            return "finding"
        return "ok"

    def as_json(self) -> dict[str, Any]:
        """Return the JSON form."""
        return {
            "case": self.case,
            "scenario": self.scenario,
            "profile": self.profile,
            "outcome": self.outcome,
            "message": self.message,
            "expected": self.expected,
            "status": self.status,
            "finding": self.finding,
            "violations": self.violation_ids,
            "first_violations": [v.as_json() for v in (self.violations + self.liveness)[:5]],
            "steps": self.steps,
            "sim_ms": self.sim_ms,
            "wall_s": round(self.wall_s, 3),
        }


STEP_BUDGET_BASE = 20_000
STEP_BUDGET_PER_ITEM = 10
"""A case's step budget is ``STEP_BUDGET_BASE + STEP_BUDGET_PER_ITEM × size``: four
times or more what any honest case takes (measured over every case of both profiles:
at most 2,800 + 2 × size steps, batch 1 included), so only a livelock exhausts it."""


def run_case(
    case: Case,
    profile: Profile,
    *,
    seed: int = 0,
    trace: TraceWriter | None = None,
    check: bool = True,
) -> CaseResult:
    """Run one case under ``profile``: the body, then drive to quiescence (liveness)."""
    from spec.scenarios.findings import expected_outcome

    started = time.perf_counter()
    meta = {"scenario": case.scenario.id, "case": case.id, "source": case.scenario.source}
    h = Harness(
        case.scenario.collection,
        profile,
        batch=case.batch,
        seed=seed,
        trace=trace,
        check=check,
        meta=meta,
        max_steps=STEP_BUDGET_BASE + STEP_BUDGET_PER_ITEM * case.size,
    )
    outcome, message = "pass", None
    liveness: list[Violation] = []
    with cyclic_gc_paused():
        try:
            case.scenario.body(h, case.params)
            liveness = h.settle()
        except ScenarioFailed as failed:
            outcome, message = failed.kind, failed.message
        finally:
            h.sim.finish()  # also when stopped (Ctrl-C): the trace ends with its end record
    expected, finding = expected_outcome(case, profile)
    return CaseResult(
        case=case.id,
        scenario=case.scenario.id,
        profile=profile.name,
        outcome=outcome,
        message=message,
        violations=list(h.violations),
        liveness=liveness,
        steps=h.sim.steps,
        sim_ms=h.sim.world.now_ms,
        wall_s=time.perf_counter() - started,
        expected=expected,
        finding=finding,
    )


def select_cases(
    scenarios: Iterable[Scenario], pattern: str | None = None, max_size: int | None = None
) -> list[Case]:
    """Return the cases whose id matches ``pattern`` (glob or substring) and whose size
    is at most ``max_size``."""
    out: list[Case] = []
    for scenario in scenarios:
        for case in scenario.case_list():
            if pattern and not (fnmatch.fnmatch(case.id, pattern) or pattern in case.id):
                continue
            if max_size is not None and case.size > max_size:
                continue
            out.append(case)
    return out
