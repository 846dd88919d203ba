"""The mutation catalogue is well formed: every mutant applies to ``impl/`` as written.

For each :class:`~spec.mutants.catalogue.Mutant`: its file exists under ``impl/``, its
``before`` text occurs exactly once there, ``after`` differs from it and the mutated
file still compiles. Ids are unique and every family is present. Whether the test
suite or ``snapsync check`` kills a mutant is measured by the runner, not here.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from impl.node_state import CandidateRole, FollowerRole
from impl.raft import follower_election_timeout, follower_on_append_entries, follower_poll_catchup
from model_tests.test_raft import L, ae, c, ctx, follower
from spec.mutants.catalogue import CATALOGUE, EQUIVALENT, MUTANT_FAMILIES, Mutant

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


def test_equivalent_mutants_are_named_in_the_catalogue() -> None:
    assert set(EQUIVALENT) <= {m.id for m in CATALOGUE}
    assert all(m.equivalent == EQUIVALENT.get(m.id, "") for m in CATALOGUE)


def test_election_during_catchup_is_equivalent_the_second_r9_guard_holds() -> None:
    """The argument of ``node-election-during-catchup`` (EQUIVALENT): a pending session
    implies a session, and with a session the election timeout does nothing, however late
    — so loosening follower_poll's guard changes no step. Without the session, the same
    late poll stands for election: the guard is what holds."""
    node = follower(terms=(1, 1))
    node, _ = follower_on_append_entries(node, ctx(), L, ae(c(1, 9), [(1, 10)], 9))
    for now in (12_000, 50_000, 10**6):
        late = ctx(now=now)
        polled, _, pending = follower_poll_catchup(node, late)
        assert pending
        assert polled.catchup is not None
        assert follower_election_timeout(polled, late) == (polled, ())
    assert isinstance(node.role, FollowerRole)
    alone = replace(node, role=replace(node.role, catchup=None))
    stood, _ = follower_election_timeout(alone, ctx(now=10**6))
    assert isinstance(stood.role, CandidateRole)
