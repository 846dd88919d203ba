"""The obligation registry and the runner behind ``snapsync prove``.

:func:`obligations` lists every obligation of the four families in a fixed order;
:func:`run` checks them under one profile. Each obligation knows the hazard switches
that must make it fail (:attr:`Obligation.hazards`), so a run is *as expected* when
every obligation is proved under ``reference`` and each one touched by a switched-on
hazard yields a counterexample.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any

from impl.profile import Hazard, Profile
from spec.proofs import buffer, chunking, fold, inductive
from spec.proofs.collections import ENCODINGS
from spec.proofs.core import Obligation, Outcome, Verdict
from spec.robust.stop import stop_point

__all__ = ["FAMILIES", "get_obligation", "obligations", "run"]

FAMILIES = ("fold", "chunk", "buffer", "inductive")
"""Obligation families, in the order they run."""


def _fold(kind: str, what: str) -> Callable[[Profile], Verdict]:
    checks: dict[str, Callable[..., Verdict]] = {
        "position": fold.check_position,
        "snapshot": fold.check_snapshot,
        "replay": fold.check_replay,
    }
    check = checks[what]
    return lambda profile: check(kind, profile)


def _consecution(invariant: str, step: str) -> Callable[[Profile], Verdict]:
    return lambda profile: inductive.check_consecution(invariant, step, profile)


def _initiation(invariant: str) -> Callable[[Profile], Verdict]:
    return lambda profile: inductive.check_initiation(invariant, profile)


def _buffer(name: str) -> Callable[[Profile], Verdict]:
    return lambda profile: buffer.check_buffer(name, profile)


_FOLD_TEXT = {
    "position": "the snapshot position is committed + |batch| for batches of any length (I15)",
    "snapshot": "the served snapshot equals the fold of entries 1..position (I1)",
    "replay": "snapshot + entries after the position = fold of the whole log (I9, I10)",
}


@functools.cache
def obligations() -> tuple[Obligation, ...]:
    """Return every obligation, in run order (fold, chunk, buffer, inductive)."""
    out: list[Obligation] = []
    for kind in ENCODINGS:
        touched = frozenset({Hazard.H4}) if kind == "depq" else frozenset()
        for what in ("position", "snapshot", "replay"):
            out.append(
                Obligation(
                    f"fold/{kind}/{what}",
                    "fold",
                    f"{kind}: {_FOLD_TEXT[what]}",
                    touched,
                    _fold(kind, what),
                )
            )
    chunks: list[tuple[str, str, frozenset[Hazard], Callable[[Profile], Verdict]]] = [
        (
            "cover",
            "chunks [c, min(c+B, n)) tile [0, n) exactly once (Q11, P4)",
            frozenset(),
            chunking.check_cover,
        ),
        (
            "walk",
            "the scheduler's cursor is the first unassigned position (Q11)",
            frozenset(),
            chunking.check_walk,
        ),
        (
            "schedule",
            "a scheduled chunk is disjoint from every assigned range (Q11, P4)",
            frozenset({Hazard.H2}),
            chunking.check_schedule,
        ),
        (
            "drain",
            "the drain reassembles the snapshot in order, any arrival order (Q4, Q8)",
            frozenset({Hazard.H1, Hazard.H10}),
            chunking.check_drain,
        ),
    ]
    for name, text, hazards, check in chunks:
        out.append(Obligation(f"chunk/{name}", "chunk", text, hazards, check))
    for name, spec in buffer.SPECS.items():
        out.append(
            Obligation(
                f"buffer/{name}", "buffer", spec.consequence_text, spec.hazards, _buffer(name)
            )
        )
    for invariant in inductive.INVARIANTS:
        out.append(
            Obligation(
                f"inductive/{invariant}/initiation",
                "inductive",
                f"{invariant} holds in Q0's initial state",
                frozenset(),
                _initiation(invariant),
            )
        )
        for step in inductive.STEPS:
            out.append(
                Obligation(
                    f"inductive/{invariant}/{step.name}",
                    "inductive",
                    f"{invariant} is preserved by {step.name} ({step.qid})",
                    inductive.step_hazards(invariant, step.name),
                    _consecution(invariant, step.name),
                )
            )
    return tuple(out)


def get_obligation(name: str) -> Obligation:
    """Return the obligation called ``name``; raise KeyError if there is none."""
    for obligation in obligations():
        if obligation.name == name:
            return obligation
    raise KeyError(name)


def run(
    profile: Profile,
    *,
    only: Iterable[str] | None = None,
    on_outcome: Callable[[Outcome], Any] | None = None,
) -> list[Outcome]:
    """Check the obligations (all, or those whose name starts with one of ``only``)."""
    prefixes = tuple(only) if only is not None else ("",)
    outcomes: list[Outcome] = []
    for obligation in obligations():
        if not obligation.name.startswith(prefixes):
            continue
        stop_point()  # Ctrl-C ends the run between two obligations (spec.robust.stop)
        outcome = Outcome.run(obligation, profile)
        outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)
    return outcomes
