"""``snapsync vectors generate``: the whole vector tree, deterministically.

1. **Recorded calls** (:mod:`spec.conformance.recording`): the model runs mosaik's
   scenarios, seeded simulations and hunt walks under both profiles while every step
   function of :data:`impl.steps.STEP_IDS` is wrapped to record its real inputs
   (``impl/`` stays pure: the wrappers live in ``spec/`` and are removed afterwards).
   The calls are deduplicated by *which branches of ``impl/`` they take* under each
   profile (the arcs a line tracer sees), keeping the first call of each.
2. **Hand-written calls** (:mod:`spec.conformance.handwritten`): every rejection and
   ignore reason of every step, boundary values, values above 2^53.
3. Each call becomes one case per profile (:func:`spec.conformance.build.cases_of`),
   and the tree is written with its manifest (:func:`spec.conformance.tree.write_tree`).

The same code gives the same bytes: every source is seeded, every order fixed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from spec.conformance.build import Call, cases_of
from spec.conformance.tree import write_tree

__all__ = ["all_calls", "generate"]


def all_calls(quick: bool = False) -> list[Call]:
    """Return every call of the tree: hand-written ones, then the recorded ones."""
    from spec.conformance.handwritten import hand_calls
    from spec.conformance.recording import recorded_calls

    return [*hand_calls(), *recorded_calls(quick=quick)]


def generate(
    directory: Path,
    *,
    profiles: Sequence[str] | None = None,
    quick: bool = False,
    calls: Iterable[Call] | None = None,
) -> dict[str, Any]:
    """Write the vector tree of ``calls`` (default: :func:`all_calls`) under ``directory``.

    ``profiles`` keeps only those profiles' cases. Returns the manifest.
    """
    cases = []
    seen: set[str] = set()
    if calls is None and not quick:
        # The sequence cases kept in the repository (``vectors from-trace --keep``, issue #11):
        # part of the published tree; a quick tree (tests) has step cases only.
        from spec.conformance.sequences import kept_cases

        for case in kept_cases():
            if not profiles or case["profile"] in profiles:
                seen.add(f"{case['profile']}/{case['id']}")
                cases.append(case)
    for call in all_calls(quick) if calls is None else calls:
        for case in cases_of(call):
            if profiles and case["profile"] not in profiles:
                continue
            key = f"{case['profile']}/{case['id']}"
            if key in seen:
                continue
            seen.add(key)
            cases.append(case)
    return write_tree(Path(directory), cases)
