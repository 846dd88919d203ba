"""The group model's fast paths give exactly what the plain computations give.

* The checker skips a check when the step has none of the facts it reads
  (``Invariant.needs``): it must find what running every check after every step finds.
* Coverage counts live sessions incrementally: the same counts as recounting.
* ``World.bond_peers`` / ``bond_peer_ids`` come from peer tables shared by bond maps
  of the same live bonds: the same as computing them from the bonds.
* A session step's timer records are skipped when the timers cannot have changed.

Runs: the benchmark's workload (:func:`spec.benchmarks.model_actions.drive`) under
both profiles (mosaik's hazards make the checks report).
"""

from __future__ import annotations

import dataclasses
from itertools import pairwise
from typing import Any

import pytest

from impl.errors import InvalidInput
from impl.profile import MOSAIK_0_3_13, REFERENCE, Profile
from impl.records import evolve
from impl.session import _timer_effects, _timers
from impl.session_state import SessionState
from impl.types import Cursor, Index, PeerId
from spec.benchmarks.model_actions import Workload, drive
from spec.hunt.coverage import Coverage
from spec.hunt.driver import Driver
from spec.model.actions import Transition
from spec.model.invariants import (
    INVARIANTS,
    Checker,
    Invariant,
    Violation,
    check_i11_monotonic_commit,
)
from spec.model.state import World

_WORK = Workload(items=6, writes=3, rounds=2)


@pytest.fixture(scope="module", params=[("map", REFERENCE), ("cell", MOSAIK_0_3_13)])
def run(request: pytest.FixtureRequest) -> Driver:
    kind, profile = request.param
    assert isinstance(profile, Profile)
    return drive(kind, profile, _WORK)


def _every_step(invariants: tuple[Invariant, ...]) -> tuple[Invariant, ...]:
    return tuple(Invariant(i.ids, i.title, i.check) for i in invariants)


def _key(vs: list[Violation]) -> list[tuple[str, str | None, str]]:
    return [(v.id, v.node, v.detail) for v in vs]


def test_filtered_checker_finds_what_every_check_finds(run: Driver) -> None:
    filtered = Checker(run.setup)
    plain = Checker(run.setup, _every_step(INVARIANTS))
    found = 0
    for t, recorded in run.log:
        got = _key(filtered.check(t))
        assert got == _key(plain.check(t))
        assert got == _key(recorded)
        found += len(got)
    if run.setup.profile is MOSAIK_0_3_13:
        assert found > 0  # the hazards are visible: the comparison is not vacuous


def _regressed(world: World, name: str) -> Transition:
    node = world.nodes[name].node
    back = Cursor(node.committed.term, Index(node.committed.index - 1))
    return Transition("mutant", {}, world, world.with_node(name, evolve(node, committed=back)))


def test_wrong_needs_would_miss_a_violation(run: Driver) -> None:
    world = run.world
    name = next(n for n in world.up_names() if world.nodes[n].node.committed.index > 0)
    t = _regressed(world, name)
    right = Invariant(
        ("I11",), "monotonic commit", check_i11_monotonic_commit, frozenset({"moved"})
    )
    wrong = Invariant(("I11",), "monotonic commit", check_i11_monotonic_commit, frozenset({"sent"}))
    assert [v.id for v in Checker(run.setup, (right,)).check(t)] == ["I11"]
    assert Checker(run.setup, (wrong,)).check(t) == []  # the broken variant misses it


def test_invalid_needs_name_is_rejected(run: Driver) -> None:
    odd = Invariant(("I11",), "odd", check_i11_monotonic_commit, frozenset({"nope"}))
    t, _ = run.log[-1]
    with pytest.raises(InvalidInput, match="unknown step facts"):
        Checker(run.setup, (odd,)).check(t)


def test_incremental_session_count_equals_recount(run: Driver) -> None:
    incremental, recount = Coverage(), Coverage()
    for t, _ in run.log:
        incremental.observe(t)
        recount._alive = None  # forget the last count: count every node again
        recount.observe(t)
    assert incremental.counts == recount.counts == run.coverage.counts
    assert incremental.counts["concurrent_sessions"] > 0


def _plain_peers(world: World, name: str) -> tuple[str, ...]:
    out = []
    for (lo, hi), bond in world.bonds.items():
        if bond.up and name in (lo, hi):
            out.append(hi if lo == name else lo)
    return tuple(sorted(out))


def test_peer_tables_equal_the_bonds(run: Driver) -> None:
    checked = 0
    for t, _ in run.log[::3]:
        for world in (t.before, t.after):
            for name in world.names():
                peers = _plain_peers(world, name)
                assert world.bond_peers(name) == peers
                assert world.bond_peer_ids(name) == frozenset(world.nodes[p].peer for p in peers)
                checked += 1
    assert checked > 100


def test_peer_ids_follow_the_slots_peer_objects(run: Driver) -> None:
    world = run.world
    name = world.up_names()[0]
    peers = world.bond_peers(name)
    assert peers
    first = world.bond_peer_ids(name)
    # A world with the same bonds but another peer object for one peer gets the new id.
    other = PeerId(bytes(32))
    slot = world.nodes[peers[0]]
    moved = world.with_slot(dataclasses.replace(slot, peer=other))
    assert moved.bond_peer_ids(name) == (first - {slot.peer}) | {other}
    assert world.bond_peer_ids(name) == first


def _plain_timer_effects(before: SessionState | None, after: SessionState | None) -> Any:
    """``_timer_effects`` without its shortcut (the diff of the two timer maps)."""
    old = _timers(before) if before is not None else {}
    new = _timers(after) if after is not None else {}
    keys = sorted(
        [*new, *(k for k in old if k not in new)],
        key=lambda t: (t.kind.value != "snapshot_request_retry", t.peer.raw if t.peer else b""),
    )
    return tuple(
        ("arm", k, new[k]) if k in new else ("cancel", k)
        for k in keys
        if k not in new or old.get(k) != new[k]
    )


def _as_plain(effects: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(
        ("arm", e.timer, e.deadline_ms) if hasattr(e, "deadline_ms") else ("cancel", e.timer)
        for e in effects
    )


def test_timer_effects_shortcut_equals_the_diff(run: Driver) -> None:
    sessions = [
        s
        for t, _ in run.log
        for s in (slot.node.catchup for slot in t.after.nodes.values())
        if s is not None
    ]
    assert len(sessions) > 10
    pairs: list[tuple[SessionState | None, SessionState | None]] = list(pairwise(sessions))
    pairs += [(s, s) for s in sessions[:5]] + [(s, evolve(s, downloaded=7)) for s in sessions[:5]]
    pairs += [(None, sessions[0]), (sessions[0], None)]
    for before, after in pairs:
        assert _as_plain(_timer_effects(before, after)) == _plain_timer_effects(before, after)
