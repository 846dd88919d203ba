"""Shared machinery of the proof layer: results, obligations and the z3 call.

Every obligation is checked the same way: the negation of what it states is handed
to z3. ``unsat`` means no counterexample exists (*proved*); ``sat`` gives a model,
rendered as a counterexample; ``unknown`` (a timeout, or a theory z3 gave up on) is
reported as such, never as a proof.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import z3

from impl.profile import Hazard, Profile

__all__ = [
    "DEFAULT_TIMEOUT_MS",
    "Obligation",
    "Outcome",
    "Query",
    "Result",
    "Verdict",
    "as_bool",
    "as_int",
    "run_queries",
    "solve",
]

DEFAULT_TIMEOUT_MS = 10_000
"""Per-query z3 timeout; every query of the suite takes milliseconds, this only stops a hang."""


class Result(StrEnum):
    """What a check found."""

    PROVED = "proved"
    COUNTEREXAMPLE = "counterexample"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of one obligation under one profile, before timing.

    ``counterexample`` is the human rendering; ``witness`` the same data as a typed
    value (a dataclass of :mod:`spec.proofs`) that :mod:`spec.proofs.replay` runs
    through the impl.
    """

    result: Result
    counterexample: str | None = None
    witness: Any = None
    note: str = ""

    @staticmethod
    def proved(note: str = "") -> Verdict:
        """Return a *proved* verdict."""
        return Verdict(Result.PROVED, note=note)

    @staticmethod
    def unknown(why: str) -> Verdict:
        """Return an *unknown* verdict carrying z3's reason."""
        return Verdict(Result.UNKNOWN, counterexample=None, note=why)


@dataclass(frozen=True, slots=True)
class Obligation:
    """One named proof obligation.

    ``hazards`` are the switches that make it fail: with any of them on, the expected
    result is a counterexample; with none, a proof.
    """

    name: str
    """``family/subject/property``, e.g. ``fold/depq/replay``."""
    family: str
    """``fold``, ``chunk``, ``buffer`` or ``inductive``."""
    statement: str
    """One line: what is proved."""
    hazards: frozenset[Hazard]
    check: Callable[[Profile], Verdict] = field(compare=False, repr=False)

    def expected(self, profile: Profile) -> Result:
        """Return the result this obligation must have under ``profile``."""
        return Result.COUNTEREXAMPLE if self.hazards & profile.hazards else Result.PROVED


@dataclass(frozen=True, slots=True)
class Outcome:
    """One row of ``snapsync prove``: an obligation run under a profile."""

    obligation: str
    profile: str
    result: Result
    expected: Result
    seconds: float
    counterexample: str | None
    witness: Any = field(default=None, compare=False, repr=False)
    note: str = ""

    @property
    def as_expected(self) -> bool:
        """Check if the result is the one the profile calls for."""
        return self.result == self.expected

    def as_json(self) -> dict[str, object]:
        """Return the JSON row (keys: obligation, profile, result, seconds, counterexample)."""
        return {
            "obligation": self.obligation,
            "profile": self.profile,
            "result": self.result.value,
            "seconds": round(self.seconds, 4),
            "counterexample": self.counterexample,
        }

    @staticmethod
    def run(obligation: Obligation, profile: Profile) -> Outcome:
        """Check ``obligation`` under ``profile`` and time it."""
        start = time.perf_counter()
        verdict = obligation.check(profile)
        seconds = time.perf_counter() - start
        return Outcome(
            obligation=obligation.name,
            profile=profile.name,
            result=verdict.result,
            expected=obligation.expected(profile),
            seconds=seconds,
            counterexample=verdict.counterexample,
            witness=verdict.witness,
            note=verdict.note,
        )


def solve(constraints: Iterable[Any], timeout_ms: int = DEFAULT_TIMEOUT_MS) -> tuple[Result, Any]:
    """Check the conjunction of ``constraints`` (the negated claim plus its context).

    Returns ``(PROVED, None)`` when unsatisfiable, ``(COUNTEREXAMPLE, model)`` when
    satisfiable and ``(UNKNOWN, reason)`` otherwise. A fresh solver per query keeps
    queries independent and deterministic.
    """
    solver = z3.Solver()
    solver.set("timeout", timeout_ms)
    # Ctrl-C belongs to snapsync (spec.robust.stop): Z3 must not swallow it and answer
    # "unknown"; the signal is handled when the query returns (each takes < 2 s).
    solver.set("ctrl_c", False)
    for c in constraints:
        solver.add(c)
    answer = solver.check()
    if answer == z3.unsat:
        return Result.PROVED, None
    if answer == z3.sat:
        return Result.COUNTEREXAMPLE, solver.model()
    return Result.UNKNOWN, solver.reason_unknown()


def as_int(model: Any, expr: Any) -> int:
    """Return the integer value of ``expr`` in ``model`` (0 if unconstrained)."""
    return int(model.eval(expr, model_completion=True).as_long())


def as_bool(model: Any, expr: Any) -> bool:
    """Return the truth value of ``expr`` in ``model`` (False if unconstrained)."""
    return bool(z3.is_true(model.eval(expr, model_completion=True)))


@dataclass(frozen=True, slots=True)
class Query:
    """One z3 query of an obligation: the negation of one claim, in its context.

    ``explain(model)`` renders a satisfying model as ``(text, witness)``. ``pretty``
    holds optional tiers of extra constraints, tried in order once a counterexample
    exists, to get a more readable one (small numbers, the canonical shape of the
    hazard); they never decide the result.
    """

    name: str
    constraints: tuple[Any, ...]
    explain: Callable[[Any], tuple[str, Any]]
    pretty: tuple[tuple[Any, ...], ...] = ()


def run_queries(queries: Iterable[Query], timeout_ms: int = DEFAULT_TIMEOUT_MS) -> Verdict:
    """Run ``queries`` in order; the first satisfiable one is the counterexample.

    All unsatisfiable: *proved*. A query z3 cannot decide makes the result *unknown*
    (the remaining queries still run, so a later counterexample is not hidden).
    """
    unknown: list[str] = []
    names: list[str] = []
    for query in queries:
        names.append(query.name)
        result, model = solve(query.constraints, timeout_ms)
        if result is Result.UNKNOWN:
            unknown.append(f"{query.name}: {model}")
            continue
        if result is Result.PROVED:
            continue
        for tier in query.pretty:
            better, better_model = solve((*query.constraints, *tier), timeout_ms)
            if better is Result.COUNTEREXAMPLE:
                model = better_model
                break
        text, witness = query.explain(model)
        return Verdict(Result.COUNTEREXAMPLE, f"[{query.name}] {text}", witness)
    if unknown:
        return Verdict.unknown("; ".join(unknown))
    return Verdict.proved(f"{len(names)} queries unsat")
