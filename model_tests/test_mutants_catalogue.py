"""The mutation catalogue is well formed: every mutant applies to ``impl/`` as written.

For each :class:`~spec.mutants.catalogue.Mutant`: its file exists under ``impl/``, its
``before`` text occurs exactly once there, ``after`` differs from it and the mutated
file still compiles. Ids are unique and every family is present. Whether the test
suite or ``snapsync check`` kills a mutant is measured by the runner, not here.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from spec.mutants.catalogue import CATALOGUE, MUTANT_FAMILIES, Mutant

ROOT = Path(__file__).resolve().parent.parent


def _source(mutant: Mutant) -> str:
    return (ROOT / mutant.path).read_text(encoding="utf-8")


def _mutated(mutant: Mutant) -> str:
    """Return the mutated file; fail unless ``before`` occurs exactly once."""
    source = _source(mutant)
    assert source.count(mutant.before) == 1, f"{mutant.id}: before must occur exactly once"
    assert mutant.after != mutant.before, f"{mutant.id}: after equals before"
    return source.replace(mutant.before, mutant.after)


@pytest.mark.parametrize("mutant", CATALOGUE, ids=[m.id for m in CATALOGUE])
def test_mutant_applies_once_and_compiles(mutant: Mutant) -> None:
    path = (ROOT / mutant.path).resolve()
    assert path.is_file(), f"{mutant.id}: {mutant.path} does not exist"
    assert path.is_relative_to(ROOT / "impl"), f"{mutant.id}: {mutant.path} is not under impl/"
    assert mutant.path.endswith(".py")
    compile(_mutated(mutant), mutant.path, "exec")  # SyntaxError if the mutant breaks the file


@pytest.mark.parametrize("mutant", CATALOGUE, ids=[m.id for m in CATALOGUE])
def test_mutant_record_is_complete(mutant: Mutant) -> None:
    assert mutant.family in MUTANT_FAMILIES
    assert mutant.id.startswith(f"{mutant.family}-")
    assert len(mutant.id) > len(mutant.family) + 1
    assert mutant.steps.strip()
    assert mutant.why.strip()


def test_ids_are_unique() -> None:
    repeated = [i for i, n in Counter(m.id for m in CATALOGUE).items() if n > 1]
    assert not repeated


def test_every_family_has_mutants() -> None:
    present = {m.family for m in CATALOGUE}
    assert present == set(MUTANT_FAMILIES)


def test_checks_fail_on_broken_mutants() -> None:
    """The checks above can fail: ``before`` absent or repeated, or a mutant that breaks
    the syntax."""
    absent = Mutant("raft-x", "raft", "R3", "impl/raft.py", "no such text", "x", "w")
    repeated = Mutant("raft-y", "raft", "R3", "impl/raft.py", "return node, ()", "x", "w")
    for bad in (absent, repeated):
        with pytest.raises(AssertionError, match="exactly once"):
            _mutated(bad)
    first = CATALOGUE[0]
    broken = Mutant("raft-z", "raft", "R3", first.path, first.before, first.before + " +", "w")
    with pytest.raises(SyntaxError):
        compile(_mutated(broken), broken.path, "exec")
