"""Canonical fingerprints of worlds (spec/model/fingerprint.py): what they merge, what not."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from impl.messages import SnapshotRequest, TakeSnapshot
from impl.node_state import FollowerRole, LeaderRole
from impl.records import evolve
from impl.types import PeerId
from spec.explore.config import ExploreConfig, build_initial
from spec.model.actions import advance_time, break_bond, deliver_message, node_poll_action
from spec.model.fingerprint import Fingerprinter, Key, UnclassifiedField, _Compiled
from spec.model.state import World


def _group(readers: int = 1) -> World:
    return build_initial(ExploreConfig(readers=readers)).world


def _with_leader_deadline(world: World, deadline: int) -> World:
    slot = world.nodes["w0"]
    role = slot.node.role
    assert isinstance(role, LeaderRole)
    node = evolve(slot.node, role=evolve(role, heartbeat_deadline_ms=deadline))
    return world.with_node("w0", node)


def test_equal_worlds_get_equal_keys_and_a_changed_one_does_not() -> None:
    fp = Fingerprinter(_group().setup)
    a, b = _group(), _group()
    assert a is not b
    assert fp.key(a) == fp.key(b)
    beat = advance_time(a, a.now_ms + 500).after  # the leader's heartbeat: queues change
    assert fp.key(beat) != fp.key(a)


def test_time_is_relative_a_heartbeat_round_comes_back_to_the_same_key() -> None:
    world = _group(readers=0)
    fp = Fingerprinter(world.setup)
    # Let r8's session and the leader settle for a while, then compare two instants one
    # heartbeat apart at which everything was delivered: only the clock differs.
    seen: dict[Key, int] = {}
    repeated = False
    for _ in range(60):
        while world.directions():
            src, dst = world.directions()[0]
            world = deliver_message(world, src, dst).after
            for name in world.up_names():
                if world.nodes[name].node.catchup is not None:
                    world = node_poll_action(world, name).after
        key = fp.key(world)
        if key in seen and seen[key] != world.now_ms:
            repeated = True
            break
        seen[key] = world.now_ms
        world = advance_time(world, world.now_ms + 500).after
    assert repeated, "no two instants of a converged group share a key"


def test_passed_deadlines_count_as_now_future_ones_do_not() -> None:
    world = _group()
    fp = Fingerprinter(world.setup)
    now = world.now_ms
    past = [fp.key(_with_leader_deadline(world, now - d)) for d in (0, 100, 700)]
    assert past[0] == past[1] == past[2]
    future = [fp.key(_with_leader_deadline(world, now + d)) for d in (100, 200)]
    assert future[0] != future[1]
    assert future[0] != past[0]


def _with_stamp(world: World, stamp: int) -> World:
    """Queue nothing, but put a TakeSnapshot with ``stamp`` in the leader's queued commands."""
    slot = world.nodes["w0"]
    role = slot.node.role
    assert isinstance(role, LeaderRole)
    command = TakeSnapshot(SnapshotRequest(PeerId.from_label("r8"), stamp))
    node = evolve(slot.node, role=evolve(role, client_commands=(command,)))
    return world.with_node("w0", node)


def test_wall_stamps_are_relative_and_stale_ones_merge() -> None:
    world = _group()
    fp = Fingerprinter(world.setup)
    ttl = world.setup.config.snapshot_ttl_ms
    wall = world.setup.epoch_wall_ms + world.now_ms
    fresh = [fp.key(_with_stamp(world, wall - d)) for d in (0, 10)]
    assert fresh[0] != fresh[1]
    stale = [fp.key(_with_stamp(world, wall - ttl - d)) for d in (2, 500, 10_000)]
    assert stale[0] == stale[1] == stale[2]
    assert fresh[0] != stale[0]


def test_an_observers_election_deadline_is_ignored_a_writers_is_not() -> None:
    world = _group()
    fp = Fingerprinter(world.setup)
    slot = world.nodes["r1"]
    role = slot.node.role
    assert isinstance(role, FollowerRole)
    later_role = evolve(role, election_deadline_ms=role.election_deadline_ms + 7)
    moved = world.with_node("r1", evolve(slot.node, role=later_role))
    assert fp.key(moved) == fp.key(world)
    two = build_initial(ExploreConfig(readers=0, writers=2)).world
    fp2 = Fingerprinter(two.setup)
    slot = two.nodes["w1"]
    role = slot.node.role
    assert isinstance(role, FollowerRole)
    later_role = evolve(role, election_deadline_ms=role.election_deadline_ms + 7)
    later = two.with_node("w1", evolve(slot.node, role=later_role))
    assert fp2.key(later) != fp2.key(two)


def test_message_ids_do_not_count() -> None:
    world = _group()
    fp = Fingerprinter(world.setup)
    beat = advance_time(world, world.now_ms + 500).after
    renumbered = evolve(beat, next_mid=beat.next_mid + 1000)
    bonds = {}
    for key, bond in beat.bonds.items():
        shifted = tuple(evolve(i, mid=i.mid + 1000, sent_ms=0) for i in bond.lo_to_hi)
        bonds[key] = evolve(bond, lo_to_hi=shifted)
    renumbered = renumbered.with_queued(bonds, renumbered.next_mid, renumbered.ghost)
    assert fp.key(renumbered) == fp.key(beat)


def test_a_renaming_merges_symmetric_worlds_only_when_asked() -> None:
    world = _group(readers=2)
    beat = advance_time(world, world.now_ms + 500).after
    to_r1 = deliver_message(beat, "w0", "r1").after
    to_r2 = deliver_message(beat, "w0", "r2").after
    plain = Fingerprinter(world.setup)
    assert plain.key(to_r1) != plain.key(to_r2)
    sym = Fingerprinter(world.setup, [{"r1": "r2", "r2": "r1"}])
    assert sym.key(to_r1) == sym.key(to_r2)
    assert sym.key(to_r1) != sym.key(beat)


def test_a_time_field_nobody_classified_is_refused() -> None:
    @dataclass(frozen=True)
    class Mystery:
        expires_ms: int

    with pytest.raises(UnclassifiedField, match=r"Mystery\.expires_ms"):
        _Compiled(Mystery)


@pytest.mark.parametrize(
    "config",
    [
        ExploreConfig(readers=0, writes=1),
        ExploreConfig(readers=1, writes=0, breaks=1, max_states=3_000),
    ],
    ids=["one-provider-write", "two-providers-break"],
)
def test_equal_keys_have_equal_futures(config: ExploreConfig) -> None:
    """The abstraction is a bisimulation on what was explored: whenever two different worlds
    got the same key, every move takes them to states with equal keys again."""
    from spec.explore.search import Explorer, SearchState, Successor

    explorer = Explorer(config)
    expander = explorer.expander
    first: dict[bytes, SearchState] = {}
    pairs: list[tuple[SearchState, SearchState]] = []
    step = expander.step

    def recording(state: SearchState, move: tuple[Any, ...], key: bytes) -> Successor | None:
        got = step(state, move, key)
        if got is not None:
            seen = first.setdefault(got.key, got.state)
            if seen.world is not got.state.world and len(pairs) < 150:
                pairs.append((seen, got.state))
        return got

    expander.step = recording  # type: ignore[method-assign]
    explorer.run()
    expander.step = step  # type: ignore[method-assign]
    assert len(pairs) >= 50, "too few merged pairs to say anything"
    differing_clocks = 0
    for a, b in pairs:
        differing_clocks += a.world.now_ms != b.world.now_ms
        moves_a = {s.move: s.key for s in expander.expand(a)}
        moves_b = {s.move: s.key for s in expander.expand(b)}
        assert moves_a == moves_b
    assert differing_clocks > 0, "no merged pair at different instants: time was not tested"


def _broken_with_kept(received_by_r8: int) -> World:
    """The formed group one heartbeat on, with w0's messages to r8 queued, then w0–r8 broken
    after r8's bond worker had received ``received_by_r8`` of them (deliver_after_break)."""
    world = _group(readers=0)
    beat = advance_time(world, world.now_ms + 500).after
    assert beat.queue("w0", "r8")
    return break_bond(beat, "r8", "w0", received_by_a=received_by_r8).after


def _kept_messages_count(fp: Fingerprinter) -> bool:
    lost, kept = _broken_with_kept(0), _broken_with_kept(1)
    assert kept.queue("w0", "r8")
    assert not lost.queue("w0", "r8")
    assert kept.draining == {("w0", "r8")}
    assert not lost.draining
    # Only the kept message and 'draining' tell the two apart; both must count alone.
    undrained = evolve(kept, draining=frozenset())
    return fp.key(kept) != fp.key(lost) and fp.key(kept) != fp.key(undrained)


def test_messages_kept_after_a_break_and_draining_are_in_the_key() -> None:
    assert _kept_messages_count(Fingerprinter(_group(readers=0).setup))


def test_a_key_that_drops_kept_messages_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """A deliberate mutant: a fingerprint that encodes a broken bond without its queues (and
    ignores ``draining``) merges the states above, and the check says so."""
    from spec.model import fingerprint

    encode = fingerprint._Walk.bond

    def without_kept(walk: Any, bond: Any) -> tuple[Any, ...]:
        if not bond.up:
            bond = evolve(bond, lo_to_hi=(), hi_to_lo=())
        return encode(walk, bond)

    monkeypatch.setattr(fingerprint._Walk, "bond", without_kept)
    original = fingerprint.Fingerprinter._key_under

    def no_draining(self: Any, world: World, k: int, timed: bool) -> Key:
        return original(self, evolve(world, draining=frozenset()), k, timed)

    monkeypatch.setattr(fingerprint.Fingerprinter, "_key_under", no_draining)
    assert not _kept_messages_count(Fingerprinter(_group(readers=0).setup))


def test_draining_is_renamed_with_the_nodes() -> None:
    """Under symmetry, r8 and r9 swapped: a kept message towards r8 and one towards r9 are
    the same state up to the renaming."""
    world = build_initial(ExploreConfig(readers=0, lagging=2)).world
    beat = advance_time(world, world.now_ms + 500).after
    to_r8 = break_bond(beat, "r8", "w0", received_by_a=1).after
    to_r9 = break_bond(beat, "r9", "w0", received_by_a=1).after
    plain = Fingerprinter(world.setup)
    assert plain.key(to_r8) != plain.key(to_r9)
    sym = Fingerprinter(world.setup, [{"r8": "r9", "r9": "r8"}])
    assert sym.key(to_r8) == sym.key(to_r9)


def test_worlds_of_another_setup_are_refused() -> None:
    """The profile (hazards and behaviours), faults and transport are not in the key: one
    fingerprinter compares worlds of one setup only."""
    from impl.errors import InvalidInput
    from impl.profile import REFERENCE

    voting = ExploreConfig(readers=0, profile=REFERENCE.with_behaviours(["readers-vote"]))
    fp = Fingerprinter(_group(readers=0).setup)
    with pytest.raises(InvalidInput, match="one setup"):
        fp.key(build_initial(voting).world)
