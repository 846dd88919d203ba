"""Tests of the six collection state machines (inventory §1.2 S1–S3, §7).

Per command: mosaik's semantics (map.rs, vec.rs, set.rs, depq.rs, cell.rs, once.rs,
and the scenarios of inventory §6). The Snapshot contract (I3). S1 position arithmetic
and its skip rules (I15). The hazards H4, H5, H23, H28 as exact differences between
the profiles. Rejected inputs (``test_invalid_*``). A Hypothesis property per
collection: a snapshot served at a position equals the fold of the log up to it, and
install + replay of the rest equals the full fold (I1, I9, I10) — and it fails for
DEPQ under H4.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st

import impl.collections.apply as collections_apply
from impl.collections import COLLECTIONS, get_collection
from impl.collections.apply import apply_s1
from impl.collections.base import ApplyContext, PendingRequest, Snapshot, StateMachine
from impl.collections.cell import (
    CELL,
    CellClear,
    CellCompareExchange,
    CellSnapshot,
    CellState,
    CellWrite,
)
from impl.collections.depq import (
    DEPQ,
    Bound,
    BoundKind,
    DepqClear,
    DepqCompareExchangeValue,
    DepqExtend,
    DepqInsert,
    DepqMachine,
    DepqRemoveKeys,
    DepqRemoveRange,
    DepqState,
    DepqUpdatePriority,
    DepqUpdateValue,
)
from impl.collections.encoding import (
    encode,
    encode_items,
    mosaik_wrapped,
    priority_key,
    state_digest,
)
from impl.collections.map import (
    MAP,
    MapClear,
    MapCompareExchange,
    MapExtend,
    MapInsert,
    MapRemoveMany,
    MapState,
)
from impl.collections.once import ONCE, OnceSnapshot, OnceWrite
from impl.collections.set import SET, SetClear, SetExtend, SetInsert, SetRemoveMany
from impl.collections.vec import (
    VEC,
    VecClear,
    VecExtend,
    VecInsert,
    VecPopBack,
    VecPopFront,
    VecPushBack,
    VecPushFront,
    VecRemove,
    VecSwap,
    VecTruncate,
)
from impl.config import Config
from impl.errors import HazardPanic, InvalidInput, InvalidMessage
from impl.messages import Command, Datum, SnapshotRequest, TakeSnapshot
from impl.profile import MOSAIK_0_3_13, REFERENCE, Profile
from impl.registry import TAGS
from impl.types import Cursor, Index, ItemRange, PeerId, Term

LOCAL = PeerId.from_label("local")
OTHER = PeerId.from_label("other")
NOW = 1_000_000
CONFIG = Config()
H4_ONLY = REFERENCE.with_hazards(["H4"])
DEPQ_CAP3 = DepqMachine(capacity=3)


def ctx(committed: int = 0, term: int = 1, *, now: int = NOW) -> ApplyContext:
    """Return an apply context at ``committed`` in ``term`` for the local peer."""
    return ApplyContext(
        committed=Cursor(Term(term), Index(committed)),
        log_position=Cursor(Term(term), Index(committed + 1000)),
        current_term=Term(term),
        local_id=LOCAL,
        now_wall_ms=now,
        config=CONFIG,
    )


def take(by: PeerId = OTHER, at: int = NOW) -> TakeSnapshot:
    """Return a TakeSnapshot marker requested by ``by`` at wall time ``at``."""
    return TakeSnapshot(SnapshotRequest(by, at))


def fold(machine: StateMachine, commands: Sequence[Command], profile: Profile = REFERENCE) -> Any:
    """Apply ``commands`` one by one from the initial state (TakeSnapshot is a no-op)."""
    return replay(machine, machine.initial(), commands, profile)


def replay(machine: Any, state: Any, commands: Sequence[Command], profile: Profile) -> Any:
    """Apply ``commands`` one by one to ``state``."""
    for command in commands:
        if not isinstance(command, TakeSnapshot):
            state = machine.apply_one(state, command, profile)
    return state


def items_after(
    machine: StateMachine, commands: Sequence[Command], profile: Profile = REFERENCE
) -> Any:
    """Return the canonical items of the fold of ``commands``."""
    return machine.items(fold(machine, commands, profile))


# -- registry ---------------------------------------------------------------------------


def test_registry_has_the_six_collections() -> None:
    assert sorted(COLLECTIONS) == ["cell", "depq", "map", "once", "set", "vec"]
    for kind, machine in COLLECTIONS.items():
        assert machine.kind == kind
        assert get_collection(kind) is machine


def test_command_tags_are_registered() -> None:
    expected = {
        "Map.Clear", "Map.Insert", "Map.CompareExchange", "Map.RemoveMany", "Map.Extend",
        "Vec.Clear", "Vec.Swap", "Vec.Insert", "Vec.PushBack", "Vec.PushFront", "Vec.PopBack",
        "Vec.PopFront", "Vec.Remove", "Vec.Truncate", "Vec.Extend",
        "Set.Clear", "Set.Insert", "Set.RemoveMany", "Set.Extend",
        "Depq.Clear", "Depq.Insert", "Depq.Extend", "Depq.UpdatePriority", "Depq.UpdateValue",
        "Depq.CompareExchangeValue", "Depq.RemoveKeys", "Depq.RemoveRange", "Depq.Bound",
        "Cell.Write", "Cell.CompareExchange", "Cell.Clear", "Once.Write",
    }  # fmt: skip
    assert expected <= set(TAGS)


def test_invalid_unknown_collection() -> None:
    with pytest.raises(InvalidInput, match="unknown collection 'queue'"):
        get_collection("queue")


# -- encoding and canonical order ---------------------------------------------------------


@pytest.mark.parametrize(
    ("datum", "hex_bytes"),
    [
        (0, "00"),
        (1, "01"),
        (127, "7f"),
        (128, "8001"),
        (16_383, "ff7f"),
        (16_384, "808001"),
        (2_097_151, "ffff7f"),
        (2_097_152, "80808001"),
        ((1 << 64) - 1, "ffffffffffffffffff01"),
        ("", "00"),
        ("é", "02c3a9"),
        ((1, "ab", (2,)), "0102616202"),
        ((), ""),
    ],
)
def test_encode_postcard_bytes(datum: Any, hex_bytes: str) -> None:
    assert encode(datum).hex() == hex_bytes


@given(st.integers(0, (1 << 64) - 1))
def test_encode_u64_roundtrips_leb128(value: int) -> None:
    raw = encode(value)
    decoded = sum((byte & 0x7F) << (7 * i) for i, byte in enumerate(raw))
    assert decoded == value
    assert all(byte & 0x80 for byte in raw[:-1])
    assert not raw[-1] & 0x80


def test_canonical_order_is_bytes_not_numbers() -> None:
    state = fold(MAP, [MapExtend(((129, 0), (256, 0), (1, 0), (2, 0)))])
    items: Any = MAP.items(state)
    assert [k for k, _ in items] == [1, 2, 256, 129]
    assert [k for k, _ in items] == sorted([1, 2, 256, 129], key=encode)


def test_priority_key_orders_like_rust_ord() -> None:
    values: list[Datum] = [300, 2, 10, "b", "a", (1, 2), (1,), (0, 9)]
    assert sorted(values, key=priority_key) == [2, 10, 300, "a", "b", (0, 9), (1,), (1, 2)]


def test_state_digest() -> None:
    a = fold(MAP, [MapInsert(1, 10), MapInsert(2, 20)])
    b = fold(MAP, [MapInsert(2, 20), MapInsert(1, 10)])
    c = fold(MAP, [MapInsert(1, 10), MapInsert(2, 21)])
    assert state_digest(MAP.items(a)) == state_digest(MAP.items(b))
    assert state_digest(MAP.items(a)) != state_digest(MAP.items(c))
    assert len(state_digest([])) == 64
    # Length prefixes keep item boundaries: ((1, 2),) and (1, 2) differ.
    assert encode_items([(1, 2)]) != encode_items([1, 2])
    assert state_digest([(1, 2)]) != state_digest([1, 2])


def test_mosaik_wrapped_encoding() -> None:
    assert mosaik_wrapped(encode("a")).hex() == "020161"


@pytest.mark.parametrize("bad", [-1, 1 << 64, True, 1.5, None, [1], b"x", "\ud800", (1, [2])])
def test_invalid_datum_encoding(bad: Any) -> None:
    with pytest.raises(InvalidInput):
        encode(bad)


# -- Map ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("commands", "expected"),
    [
        ([MapInsert(1, 10)], ((1, 10),)),
        ([MapInsert(1, 10), MapInsert(1, 11)], ((1, 11),)),
        ([MapExtend(((1, 1), (2, 2), (1, 3)))], ((1, 3), (2, 2))),
        ([MapExtend(((1, 1), (2, 2))), MapRemoveMany((2, 99))], ((1, 1),)),
        ([MapExtend(((1, 1), (2, 2))), MapClear(), MapInsert(3, 3)], ((3, 3),)),
        ([MapExtend(())], ()),
        ([MapRemoveMany(())], ()),
        # Compare-exchange with a None expectation: insert iff absent.
        ([MapCompareExchange(1, None, 5)], ((1, 5),)),
        ([MapCompareExchange(1, None, None)], ()),
        ([MapInsert(1, 10), MapCompareExchange(1, None, 5)], ((1, 10),)),
        # A Some expectation on an absent key, or a mismatch: no change.
        ([MapCompareExchange(1, 10, 5)], ()),
        ([MapInsert(1, 10), MapCompareExchange(1, 11, 5)], ((1, 10),)),
        # mixed_mutations (inventory §6.1).
        (
            [
                MapInsert(1, 1), MapInsert(2, 2), MapInsert(3, 3), MapInsert(1, 100),
                MapRemoveMany((2,)), MapExtend(((10, 100), (20, 200), (30, 300))),
                MapRemoveMany((3,)),
            ],
            ((1, 100), (10, 100), (20, 200), (30, 300)),
        ),
    ],
)  # fmt: skip
def test_map_commands(commands: list[Command], expected: tuple[Any, ...]) -> None:
    for profile in (REFERENCE, MOSAIK_0_3_13):
        assert items_after(MAP, commands, profile) == expected


def test_map_get_and_len() -> None:
    state = fold(MAP, [MapExtend(((1, "a"), ("k", (1, 2))))])
    assert isinstance(state, MapState)
    assert len(state) == 2
    assert state.get("k") == (1, 2)
    assert state.get(3) is None


def test_h5_map_compare_exchange_some_to_some_differs_exactly() -> None:
    """H5: with a Some expectation, the reference exchanges on equal values; mosaik
    compares value bytes with the length-prefixed Encoded<V> bytes and never matches."""
    seed: list[Command] = [MapInsert(1, 10), MapInsert(2, 20)]
    cas: list[Command] = [MapCompareExchange(1, 10, 11), MapCompareExchange(2, 20, None)]
    assert items_after(MAP, seed + cas, REFERENCE) == ((1, 11),)
    assert items_after(MAP, seed + cas, MOSAIK_0_3_13) == ((1, 10), (2, 20))
    # Only H5 matters: the reference with H5 switched on behaves as mosaik.
    assert items_after(MAP, seed + cas, REFERENCE.with_hazards(["H5"])) == ((1, 10), (2, 20))
    # None expectations work under both (inventory H5).
    none_cas = [MapCompareExchange(3, None, 30)]
    for profile in (REFERENCE, MOSAIK_0_3_13):
        assert items_after(MAP, none_cas, profile) == ((3, 30),)


def test_h5_mosaik_matches_only_when_bytes_collide() -> None:
    """The mosaik comparison is byte-exact: current "\\x01a" encodes as 02 01 61, which
    equals Encoded<"a"> = 02 || (01 61), so this one Some→Some exchange succeeds."""
    commands = [MapInsert(1, "\x01a"), MapCompareExchange(1, "a", "b")]
    assert items_after(MAP, commands, MOSAIK_0_3_13) == ((1, "b"),)
    assert items_after(MAP, commands, REFERENCE) == ((1, "\x01a"),)


# -- Vec ------------------------------------------------------------------------------------


def test_vec_mixed_mutations() -> None:
    """inventory §6.2 mixed_mutations: the late reader holds [10, 20, 100]."""
    commands: list[Command] = [
        VecPushBack(10), VecPushBack(20), VecPushBack(30), VecPushFront(5), VecInsert(2, 15),
        VecSwap(0, 4), VecPopBack(), VecPopFront(), VecRemove(1),
        VecExtend((100, 200, 300)), VecTruncate(3),
    ]  # fmt: skip
    for profile in (REFERENCE, MOSAIK_0_3_13):
        assert items_after(VEC, commands, profile) == (10, 20, 100)


@pytest.mark.parametrize(
    ("commands", "expected"),
    [
        ([VecPushBack(1), VecSwap(0, 1)], (1,)),  # guarded: j out of range
        ([VecPushBack(1), VecPushBack(2), VecSwap(1, 0)], (2, 1)),
        ([VecPushBack(1), VecRemove(1)], (1,)),  # guarded
        ([VecPushBack(1), VecTruncate(5)], (1,)),  # min with len
        ([VecPushBack(1), VecTruncate(0)], ()),
        ([VecPopBack(), VecPopFront()], ()),  # no-ops when empty
        ([VecPushBack(1), VecInsert(1, 2)], (1, 2)),  # index == len appends
        ([VecExtend((1, 2)), VecClear(), VecExtend(())], ()),
    ],
)
def test_vec_commands(commands: list[Command], expected: tuple[Any, ...]) -> None:
    for profile in (REFERENCE, MOSAIK_0_3_13):
        assert items_after(VEC, commands, profile) == expected


def test_h23_vec_insert_beyond_len() -> None:
    """H23: mosaik's im::Vector::insert panics on index > len (vec.rs:618-620); the
    reference ignores the command (still counted in the position)."""
    commands: list[Command] = [VecPushBack(1), VecInsert(3, 9)]
    with pytest.raises(HazardPanic) as info:
        fold(VEC, commands, MOSAIK_0_3_13)
    assert info.value.hazard == "H23"
    assert info.value.site == "vec.rs:618-620"
    assert items_after(VEC, commands, REFERENCE) == (1,)
    state, pending = VEC.apply_batch(VEC.initial(), [*commands, take()], ctx(7), REFERENCE)
    assert VEC.items(state) == (1,)
    assert pending[0].position == Cursor(Term(1), Index(10))
    with pytest.raises(HazardPanic):
        VEC.apply_batch(VEC.initial(), commands, ctx(7), REFERENCE.with_hazards(["H23"]))


# -- Set ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("commands", "expected"),
    [
        ([SetInsert(2), SetInsert(1), SetInsert(2)], (1, 2)),
        ([SetExtend((1, 2, 3)), SetRemoveMany((100, 999)), SetRemoveMany((2,))], (1, 3)),
        ([SetExtend(("b", "a")), SetClear(), SetInsert("c")], ("c",)),
        ([SetExtend(()), SetRemoveMany(())], ()),
    ],
)
def test_set_commands(commands: list[Command], expected: tuple[Any, ...]) -> None:
    assert items_after(SET, commands) == expected


def test_set_insert_duplicates_len() -> None:
    """inventory §6.3 insert_duplicates: 0..100 twice gives len 100."""
    commands: list[Command] = [SetInsert(i) for _ in range(2) for i in range(100)]
    state = fold(SET, commands)
    assert len(state) == 100
    assert state.contains(99)
    assert not state.contains(100)


# -- DEPQ -----------------------------------------------------------------------------------


def test_depq_mixed_mutations() -> None:
    """inventory §6.4 mixed_mutations."""
    state = fold(DEPQ, [DepqInsert(10, 1, 100), DepqInsert(20, 2, 200), DepqInsert(30, 3, 300)])
    assert state.get_min() == (10, 1, 100)
    assert state.get_max() == (30, 3, 300)
    state = replay(DEPQ, state, [DepqUpdatePriority(1, 50)], REFERENCE)
    assert state.get_max() == (50, 1, 100)
    state = replay(
        DEPQ,
        state,
        [
            DepqUpdateValue(2, 999),
            DepqRemoveKeys((3,)),
            DepqExtend(((5, 10, 500), (15, 20, 600), (25, 30, 700))),
        ],
        REFERENCE,
    )
    assert DEPQ.items(state) == (
        (50, 1, 100),
        (20, 2, 999),
        (5, 10, 500),
        (15, 20, 600),
        (25, 30, 700),
    )
    assert state.get_min() == (5, 10, 500)


def test_depq_min_max_and_overwrite() -> None:
    state = fold(
        DEPQ, [DepqExtend(((500, 0, 0), (100, 1, 10), (999, 2, 20), (1, 3, 30), (750, 4, 40)))]
    )
    assert (state.get_min(), state.get_max(), len(state)) == ((1, 3, 30), (999, 2, 20), 5)
    state = replay(DEPQ, state, [DepqInsert(2000, 3, 7)], REFERENCE)  # overwrite moves key 3
    assert state.get_min() == (100, 1, 10)
    assert state.get_max() == (2000, 3, 7)
    assert len(state) == 5
    assert DEPQ.initial().get_min() is None
    assert DEPQ.initial().get_max() is None


def test_depq_ties_break_by_canonical_key() -> None:
    state = fold(DEPQ, [DepqExtend(((5, 129, "x"), (5, 256, "y"), (1, 7, "z"), (1, 300, "w")))])
    # Canonical key order: 256 (80 02) < 129 (81 01); 7 (07) < 300 (ac 02).
    assert state.get_max() == (5, 256, "y")
    assert state.get_min() == (1, 7, "z")


def test_depq_remove_range_sync_scenario() -> None:
    """inventory §6.4 remove_range_sync: priorities 0..100, remove [20, 50): 70 left."""
    state = fold(
        DEPQ,
        [
            DepqExtend(tuple((i, i, 10 * i) for i in range(100))),
            DepqRemoveRange(Bound.included(20), Bound.excluded(50)),
        ],
    )
    assert len(state) == 70
    assert all(state.get(k) is None for k in range(20, 50))
    assert state.get(50) == (50, 50, 500)


BOUNDS = st.one_of(
    st.builds(Bound.included, st.integers(0, 12)),
    st.builds(Bound.excluded, st.integers(0, 12)),
    st.just(Bound.unbounded()),
)


def _contains(start: Bound, end: Bound, p: int) -> bool:
    """Rust ``RangeBounds::contains`` for (start, end) bounds."""
    if start.kind is BoundKind.INCLUDED and not start.value <= p:  # type: ignore[operator]
        return False
    if start.kind is BoundKind.EXCLUDED and not start.value < p:  # type: ignore[operator]
        return False
    if end.kind is BoundKind.INCLUDED and not p <= end.value:  # type: ignore[operator]
        return False
    return not (end.kind is BoundKind.EXCLUDED and not p < end.value)  # type: ignore[operator]


@given(
    st.dictionaries(st.integers(0, 30), st.integers(0, 12), max_size=25),
    BOUNDS,
    BOUNDS,
)
def test_depq_remove_range_matches_range_bounds_contains(
    priorities: dict[int, int], start: Bound, end: Bound
) -> None:
    entries = tuple((p, k, k) for k, p in priorities.items())
    state = fold(DEPQ, [DepqExtend(entries), DepqRemoveRange(start, end)])
    expected = sorted(
        ((p, k, v) for p, k, v in entries if not _contains(start, end, p)),
        key=lambda e: encode(e[1]),
    )
    assert DEPQ.items(state) == tuple(expected)


def test_depq_compare_exchange_value() -> None:
    seed: list[Command] = [DepqInsert(3, "k", 1)]
    assert items_after(DEPQ, [*seed, DepqCompareExchangeValue("k", 1, 2)]) == ((3, "k", 2),)
    assert items_after(DEPQ, [*seed, DepqCompareExchangeValue("k", 1, None)]) == ()
    assert items_after(DEPQ, [*seed, DepqCompareExchangeValue("k", 9, 2)]) == ((3, "k", 1),)
    assert items_after(DEPQ, [DepqCompareExchangeValue("k", 1, 2)]) == ()
    # DEPQ compares V with V in both profiles (depq.rs:878): no H5 here.
    mosaik = items_after(DEPQ, [*seed, DepqCompareExchangeValue("k", 1, 2)], MOSAIK_0_3_13)
    assert mosaik == ((3, "k", 2),)


def test_depq_update_absent_key_is_noop() -> None:
    assert items_after(DEPQ, [DepqUpdatePriority(1, 5), DepqUpdateValue(1, 5)]) == ()


def test_depq_capacity_evicts_minimum_priority() -> None:
    cap2 = DepqMachine(capacity=2)
    state = fold(cap2, [DepqInsert(5, "a", 0), DepqInsert(3, "b", 0), DepqInsert(4, "c", 0)])
    assert cap2.items(state) == ((5, "a", 0), (4, "c", 0))
    # A new entry with the lowest priority is itself evicted.
    assert cap2.items(replay(cap2, state, [DepqInsert(1, "d", 0)], REFERENCE)) == cap2.items(state)
    # Tie at the minimum: the smallest canonical key goes first ("b" = 01 62 < "c").
    tie = fold(cap2, [DepqExtend(((1, "c", 0), (1, "b", 0), (9, "z", 0)))])
    assert cap2.items(tie) == ((1, "c", 0), (9, "z", 0))
    zero = DepqMachine(capacity=0)
    assert zero.items(fold(zero, [DepqInsert(1, 1, 1)])) == ()


def test_depq_append_does_not_enforce_capacity() -> None:
    """depq.rs:1134-1146: append inserts into both indexes without eviction."""
    cap2 = DepqMachine(capacity=2)
    snap = cap2.empty_snapshot().append([(1, 1, 1), (2, 2, 2), (3, 3, 3)])
    assert len(snap) == 3
    assert cap2.items(cap2.install_snapshot(cap2.initial(), snap)) == (
        (1, 1, 1),
        (2, 2, 2),
        (3, 3, 3),
    )


def test_depq_state_rejects_inconsistent_indexes() -> None:
    state = fold(DEPQ, [DepqInsert(1, 1, 1)])
    with pytest.raises(InvalidInput, match="disagree"):
        DepqState(state.by_key, DEPQ.initial().by_priority)


# -- Cell and Once ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("commands", "expected"),
    [
        ([CellWrite(1), CellWrite(2)], (2,)),
        ([CellWrite(1), CellClear()], ()),
        ([CellCompareExchange(None, 5)], (5,)),
        ([CellCompareExchange(None, None)], ()),
        ([CellWrite(1), CellCompareExchange(None, 5)], (1,)),
        ([CellCompareExchange(1, 5)], ()),
        ([CellWrite(1), CellCompareExchange(2, 5)], (1,)),
    ],
)
def test_cell_commands(commands: list[Command], expected: tuple[Any, ...]) -> None:
    for profile in (REFERENCE, MOSAIK_0_3_13):
        assert items_after(CELL, commands, profile) == expected


def test_h5_cell_compare_exchange_catchup_scenario() -> None:
    """inventory §6.6 compare_exchange_catchup: None→1→2→3. The reference reaches 3;
    mosaik's Some→Some steps fail (H5), leaving 1."""
    commands: list[Command] = [
        CellCompareExchange(None, 1),
        CellCompareExchange(1, 2),
        CellCompareExchange(2, 3),
    ]
    assert items_after(CELL, commands, REFERENCE) == (3,)
    assert items_after(CELL, commands, MOSAIK_0_3_13) == (1,)
    assert items_after(CELL, [*commands[:2], CellCompareExchange(2, None)], REFERENCE) == ()


def test_once_first_write_wins() -> None:
    state, pending = ONCE.apply_batch(
        ONCE.initial(), [OnceWrite(42), OnceWrite(99), take()], ctx(5), REFERENCE
    )
    assert ONCE.items(state) == (42,)
    assert pending[0].position.index == 8


# -- the Snapshot contract (I3) --------------------------------------------------------------


def check_snapshot_contract(machine: StateMachine, state: Any, profile: Profile) -> None:
    """I3: len; iter_range returns exactly the items of the range, or None iff
    r.end > len; any partition concatenates to all items; install(empty.append(all))
    reproduces the state."""
    snap: Snapshot = machine.create_snapshot(state, profile)
    assert isinstance(snap, Snapshot)  # the runtime-checkable protocol of base.py
    expected = machine.items(state)
    n = len(expected)
    assert len(snap) == n
    for start in range(n + 2):
        for end in range(start, n + 3):
            got = snap.iter_range(ItemRange(start, end))
            if end > n:
                assert got is None, f"[{start},{end}) beyond len {n} must be None"
            else:
                assert got == expected[start:end], f"[{start},{end})"
    for step in (1, 2, 3, max(n, 1)):
        chunks = [snap.iter_range(ItemRange(a, min(a + step, n))) for a in range(0, n, step)]
        assert all(c is not None for c in chunks)
        assert tuple(x for c in chunks for x in c or ()) == expected
    rebuilt = machine.empty_snapshot()
    for a in range(0, n, 2):
        rebuilt = rebuilt.append(snap.iter_range(ItemRange(a, min(a + 2, n))) or ())
    assert machine.items(machine.install_snapshot(machine.initial(), rebuilt)) == expected
    assert machine.items(machine.install_snapshot(machine.initial(), snap)) == expected


SAMPLE_LOGS: dict[str, list[Command]] = {
    "map": [MapExtend(tuple((i, i * i) for i in range(40))), MapRemoveMany((3, 4))],
    "vec": [VecExtend(tuple(range(30))), VecInsert(4, "x"), VecRemove(0)],
    "set": [SetExtend(tuple(f"item-{i}" for i in range(25)))],
    "depq": [DepqExtend(tuple((i % 7, i, i) for i in range(33)))],
    "cell": [CellWrite((1, "one"))],
    "once": [OnceWrite("first")],
}


@pytest.mark.parametrize("kind", sorted(SAMPLE_LOGS))
@pytest.mark.parametrize("prefix", [0, 1, None])
def test_snapshot_contract(kind: str, prefix: int | None) -> None:
    machine = COLLECTIONS[kind]
    log = SAMPLE_LOGS[kind][:prefix]
    for profile in (REFERENCE, MOSAIK_0_3_13.without_hazards(["H28"])):
        check_snapshot_contract(machine, fold(machine, log, profile), profile)


def test_snapshot_is_independent_of_later_commands() -> None:
    state = fold(MAP, [MapInsert(1, 1)])
    snap = MAP.create_snapshot(state)
    later = replay(MAP, state, [MapInsert(2, 2), MapClear()], REFERENCE)
    assert MAP.items(later) == ()
    assert snap.iter_range(ItemRange(0, 1)) == ((1, 1),)


@pytest.mark.parametrize("machine", [CELL, ONCE])
def test_h28_iter_range_ignores_range_end(machine: StateMachine) -> None:
    """H28 (cell.rs:554-563, once.rs:490-499): mosaik returns the item for any range
    containing 0; the reference follows I3 (None iff end > len)."""
    state = machine.apply_one(machine.initial(), CellWrite(7) if machine is CELL else OnceWrite(7))  # type: ignore[attr-defined]
    mosaik = machine.create_snapshot(state, MOSAIK_0_3_13)
    ref = machine.create_snapshot(state, REFERENCE)
    assert mosaik.iter_range(ItemRange(0, 5)) == (7,)
    assert ref.iter_range(ItemRange(0, 5)) is None
    assert mosaik.iter_range(ItemRange(1, 1)) is None
    assert ref.iter_range(ItemRange(1, 1)) == ()
    empty_mosaik = machine.create_snapshot(machine.initial(), MOSAIK_0_3_13)
    assert empty_mosaik.iter_range(ItemRange(0, 1)) == ()  # zero items, not None: H10 loops
    # The contract check catches the hazard.
    with pytest.raises(AssertionError, match=r"\[0,0\)"):  # mosaik: None for an empty range
        check_snapshot_contract(machine, state, MOSAIK_0_3_13)
    check_snapshot_contract(machine, state, REFERENCE)
    # The flag travels through append, and S1 snapshots carry the batch's profile.
    assert isinstance(mosaik, CellSnapshot | OnceSnapshot)
    assert mosaik.append([8]).range_end_ignored
    _, pending = machine.apply_batch(machine.initial(), [take()], ctx(), MOSAIK_0_3_13)
    served = pending[0].snapshot
    assert isinstance(served, CellSnapshot | OnceSnapshot)
    assert served.range_end_ignored


def test_broken_canonical_order_is_detected() -> None:
    """A snapshot serving items in another order fails the contract check (mutant)."""

    class Reversed:
        kind = "map"

        def __getattr__(self, name: str) -> Any:
            return getattr(MAP, name)

        def items(self, state: Any) -> tuple[Any, ...]:
            return tuple(reversed(MAP.items(state)))

    state = fold(MAP, SAMPLE_LOGS["map"])
    with pytest.raises(AssertionError):
        check_snapshot_contract(Reversed(), state, REFERENCE)


# -- S1: position arithmetic and skip rules (I15) ---------------------------------------------


@pytest.mark.parametrize("kind", sorted(COLLECTIONS))
def test_s1_position_is_end_of_batch(kind: str) -> None:
    machine = COLLECTIONS[kind]
    data = {
        "map": MapInsert(1, 1),
        "vec": VecPushBack(1),
        "set": SetInsert(1),
        "depq": DepqInsert(1, 1, 1),
        "cell": CellWrite(1),
        "once": OnceWrite(1),
    }[kind]
    batch: list[Command] = [take(), data, data]
    state, pending = machine.apply_batch(machine.initial(), batch, ctx(10, term=4), REFERENCE)
    assert len(pending) == 1
    (req,) = pending
    assert isinstance(req, PendingRequest)
    assert req.position == Cursor(Term(4), Index(13))
    assert req.request == batch[0].request  # type: ignore[attr-defined]
    # The snapshot reflects the whole batch, including the commands after the marker.
    assert machine.items(
        machine.install_snapshot(machine.initial(), req.snapshot)
    ) == machine.items(state)
    assert machine.items(state) != ()


def check_s1_skip_rules(machine: StateMachine) -> None:
    """Own and expired requests are not served, but are counted; two fresh requests
    share one snapshot and one position; no request, no PendingRequest."""
    own, stale, fresh_a, fresh_b = (
        take(by=LOCAL),
        take(at=NOW - CONFIG.snapshot_ttl_ms - 1),
        take(at=NOW - CONFIG.snapshot_ttl_ms),
        take(at=NOW + 5),
    )
    _, pending = machine.apply_batch(machine.initial(), [own, stale], ctx(20), REFERENCE)
    assert pending == ()
    _, pending = machine.apply_batch(
        machine.initial(), [own, fresh_a, stale, fresh_b], ctx(20), REFERENCE
    )
    assert [p.request for p in pending] == [fresh_a.request, fresh_b.request]
    assert {p.position for p in pending} == {Cursor(Term(1), Index(24))}
    assert pending[0].snapshot is pending[1].snapshot
    _, pending = machine.apply_batch(machine.initial(), [], ctx(20), REFERENCE)
    assert pending == ()


@pytest.mark.parametrize("kind", sorted(COLLECTIONS))
def test_s1_skip_rules(kind: str) -> None:
    check_s1_skip_rules(COLLECTIONS[kind])


def test_s1_skip_rules_check_catches_a_mutant(monkeypatch: pytest.MonkeyPatch) -> None:
    """Mutant: a node that serves every request (even its own and expired ones)."""
    monkeypatch.setattr(collections_apply, "snapshot_wanted", lambda request, context: True)
    with pytest.raises(AssertionError):
        check_s1_skip_rules(MAP)


def test_s1_expiry_uses_the_nodes_wall_clock() -> None:
    """H8: the same committed marker is served or not depending on the node's clock."""
    batch: list[Command] = [take(at=NOW)]
    ttl = CONFIG.snapshot_ttl_ms
    assert MAP.apply_batch(MAP.initial(), batch, ctx(now=NOW + ttl), REFERENCE)[1]
    assert not MAP.apply_batch(MAP.initial(), batch, ctx(now=NOW + ttl + 1), REFERENCE)[1]


def test_h4_concrete_divergence() -> None:
    """inventory §5 H4: key k at priority 3; one batch [CASV(k1, mismatch), CASV(k2,
    mismatch), TakeSnapshot, RemoveRange(5..10), UpdatePriority(k, 7)]. The serving
    peer has k@7 at anchor c+3 under mosaik (c+5 under the reference); replaying the
    entries after the anchor on the installed snapshot loses k under mosaik."""
    setup: list[Command] = [DepqInsert(3, "k", 0), DepqInsert(1, "k1", 10), DepqInsert(1, "k2", 20)]
    batch: list[Command] = [
        DepqCompareExchangeValue("k1", 99, 1),
        DepqCompareExchangeValue("k2", 99, 2),
        take(),
        DepqRemoveRange(Bound.included(5), Bound.excluded(10)),
        DepqUpdatePriority("k", 7),
    ]
    log = setup + batch
    c = len(setup)
    for profile, anchor, k_survives in ((MOSAIK_0_3_13, c + 3, False), (REFERENCE, c + 5, True)):
        before, _ = DEPQ.apply_batch(DEPQ.initial(), setup, ctx(0), profile)
        serving, (req,) = DEPQ.apply_batch(before, batch, ctx(c), profile)
        assert serving.get("k") == (7, "k", 0)
        assert req.position == Cursor(Term(1), Index(anchor))
        follower = DEPQ.install_snapshot(DEPQ.initial(), req.snapshot)
        follower = replay(DEPQ, follower, log[anchor:], profile)
        assert (follower.get("k") is not None) is k_survives
        assert (DEPQ.items(follower) == DEPQ.items(serving)) is k_survives


def test_h4_counts_only_mismatching_present_keys() -> None:
    seed: list[Command] = [DepqInsert(1, "a", 1)]
    state = fold(DEPQ, seed)
    batch: list[Command] = [
        DepqCompareExchangeValue("a", 2, 3),  # present, mismatch: not counted (H4)
        DepqCompareExchangeValue("zz", 2, 3),  # absent: counted
        DepqCompareExchangeValue("a", 1, 4),  # match: counted
        take(),
    ]
    _, (mosaik,) = DEPQ.apply_batch(state, batch, ctx(1), H4_ONLY)
    _, (ref,) = DEPQ.apply_batch(state, batch, ctx(1), REFERENCE)
    assert (mosaik.position.index, ref.position.index) == (4, 5)


# -- the S1 property: snapshot at position == fold; install + replay == full fold -----------

SMALL = st.integers(0, 4)
OPT = st.none() | SMALL

COMMANDS: dict[str, st.SearchStrategy[Command]] = {
    "map": st.one_of(
        st.builds(MapInsert, SMALL, SMALL),
        st.builds(MapCompareExchange, SMALL, OPT, OPT),
        st.builds(MapRemoveMany, st.lists(SMALL, max_size=3).map(tuple)),
        st.builds(MapExtend, st.lists(st.tuples(SMALL, SMALL), max_size=3).map(tuple)),
        st.just(MapClear()),
    ),
    "vec": st.one_of(
        st.builds(VecPushBack, SMALL),
        st.builds(VecPushFront, SMALL),
        st.builds(VecInsert, st.integers(0, 6), SMALL),
        st.builds(VecSwap, st.integers(0, 6), st.integers(0, 6)),
        st.builds(VecRemove, st.integers(0, 6)),
        st.builds(VecTruncate, st.integers(0, 6)),
        st.builds(VecExtend, st.lists(SMALL, max_size=3).map(tuple)),
        st.sampled_from([VecPopBack(), VecPopFront(), VecClear()]),
    ),
    "set": st.one_of(
        st.builds(SetInsert, SMALL),
        st.builds(SetRemoveMany, st.lists(SMALL, max_size=3).map(tuple)),
        st.builds(SetExtend, st.lists(SMALL, max_size=3).map(tuple)),
        st.just(SetClear()),
    ),
    "depq": st.one_of(
        st.builds(DepqInsert, st.integers(0, 12), SMALL, SMALL),
        st.builds(
            DepqExtend, st.lists(st.tuples(st.integers(0, 12), SMALL, SMALL), max_size=3).map(tuple)
        ),
        st.builds(DepqUpdatePriority, SMALL, st.integers(0, 12)),
        st.builds(DepqUpdateValue, SMALL, SMALL),
        st.builds(DepqCompareExchangeValue, SMALL, SMALL, OPT),
        st.builds(DepqRemoveKeys, st.lists(SMALL, max_size=3).map(tuple)),
        st.builds(DepqRemoveRange, BOUNDS, BOUNDS),
        st.just(DepqClear()),
    ),
    "cell": st.one_of(
        st.builds(CellWrite, SMALL),
        st.builds(CellCompareExchange, OPT, OPT),
        st.just(CellClear()),
    ),
    "once": st.builds(OnceWrite, SMALL),
}
COMMANDS["depq-cap3"] = COMMANDS["depq"]
MACHINES: dict[str, StateMachine] = {**COLLECTIONS, "depq-cap3": DEPQ_CAP3}


def log_strategy(kind: str) -> st.SearchStrategy[tuple[list[Command], list[int], int]]:
    """A log of data commands and TakeSnapshot markers, batch cut points, a chunk size."""
    entry = st.one_of(COMMANDS[kind], st.just(take()))
    return st.tuples(
        st.lists(entry, min_size=1, max_size=30),
        st.lists(st.integers(1, 30), max_size=6),
        st.integers(1, 4),
    )


def check_snapshot_positions(
    machine: StateMachine, profile: Profile, log: list[Command], cuts: list[int], chunk: int
) -> None:
    """Run ``log`` through apply_batch in batches cut at ``cuts``; for every served
    snapshot: it equals the fold of the log up to its position (I1), and a follower that
    fetches it in ``chunk``-item chunks, installs it and replays the entries after the
    position ends in the serving peer's final state (I9, I10)."""
    bounds = sorted({c for c in cuts if 0 < c < len(log)} | {0, len(log)})
    state = machine.initial()
    served: list[PendingRequest] = []
    for a, b in pairwise(bounds):
        state, pending = machine.apply_batch(state, log[a:b], ctx(a), profile)
        for req in pending:
            assert a < req.position.index <= b
        served.extend(pending)
    final = machine.items(state)
    assert final == machine.items(fold(machine, log, profile))
    for req in served:
        anchor = req.position.index
        snap = req.snapshot
        assert machine.items(machine.install_snapshot(machine.initial(), snap)) == machine.items(
            fold(machine, log[:anchor], profile)
        ), f"snapshot at {anchor} is not the fold of the log up to {anchor}"
        fetched = machine.empty_snapshot()
        for start in range(0, len(snap), chunk):
            items = snap.iter_range(ItemRange(start, min(start + chunk, len(snap))))
            assert items is not None
            fetched = fetched.append(items)
        follower = machine.install_snapshot(machine.initial(), fetched)
        follower = replay(machine, follower, log[anchor:], profile)
        assert machine.items(follower) == final, f"install at {anchor} + replay diverges"


@pytest.mark.parametrize("kind", sorted(COMMANDS))
def test_snapshot_equals_fold_and_replay_converges(kind: str) -> None:
    machine = MACHINES[kind]

    @settings(suppress_health_check=[HealthCheck.too_slow])
    @given(log_strategy(kind))
    def prop(example: tuple[list[Command], list[int], int]) -> None:
        check_snapshot_positions(machine, REFERENCE, *example)

    prop()


def _fails(
    machine: StateMachine, profile: Profile, example: tuple[list[Command], list[int], int]
) -> bool:
    try:
        check_snapshot_positions(machine, profile, *example)
    except AssertionError:
        return True
    return False


@pytest.mark.parametrize("profile", [H4_ONLY, MOSAIK_0_3_13])
def test_snapshot_property_fails_for_depq_under_h4(profile: Profile) -> None:
    """Hypothesis finds a log on which DEPQ's H4 miscount breaks the property; the same
    log passes under the reference."""
    example = find(
        log_strategy("depq"),
        lambda ex: _fails(DEPQ, profile, ex),
        # No shrinking: any failing log shows the hazard; the search stops at the first.
        settings=settings(
            max_examples=3000, derandomize=True, database=None, phases=[Phase.generate]
        ),
    )
    assert not _fails(DEPQ, REFERENCE, example)
    assert any(isinstance(c, DepqCompareExchangeValue) for c in example[0])


def test_snapshot_property_holds_for_map_under_mosaik() -> None:
    """Only DEPQ miscounts: Map under the full mosaik profile keeps the property."""

    @given(log_strategy("map"))
    def prop(example: tuple[list[Command], list[int], int]) -> None:
        check_snapshot_positions(MAP, MOSAIK_0_3_13, *example)

    prop()


# -- rejected inputs ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "args"),
    [
        (MapInsert, (-1, 0)),
        (MapInsert, (True, 0)),
        (MapInsert, (1.5, 0)),
        (MapInsert, ([1], 0)),
        (MapInsert, ("\ud800", 0)),
        (MapInsert, (1, None)),
        (MapCompareExchange, (1, 1 << 64, None)),
        (MapRemoveMany, ([1, 2],)),
        (MapExtend, (((1,),),)),
        (MapExtend, (((1, 2, 3),),)),
        (VecInsert, (1 << 64, 0)),
        (VecInsert, (-1, 0)),
        (VecSwap, (0, True)),
        (VecTruncate, (-1,)),
        (VecExtend, ([1],)),
        (SetInsert, (None,)),
        (SetExtend, ((1, object()),)),
        (DepqInsert, (1, 2, -3)),
        (DepqExtend, (((1, 2),),)),
        (DepqRemoveRange, ("start", Bound.unbounded())),
        (DepqRemoveRange, (Bound.unbounded(), 5)),
        (DepqCompareExchangeValue, ("k", None, 1)),
        (Bound, (BoundKind.UNBOUNDED, 5)),
        (Bound, (BoundKind.INCLUDED, None)),
        (Bound, ("included", 1)),
        (CellWrite, (None,)),
        (CellCompareExchange, (-5, None)),
        (OnceWrite, ((1, -1),)),
    ],
)
def test_invalid_command_fields(cls: Any, args: tuple[Any, ...]) -> None:
    with pytest.raises(InvalidMessage):
        cls(*args)


@pytest.mark.parametrize("kind", sorted(COLLECTIONS))
def test_invalid_foreign_or_unknown_command(kind: str) -> None:
    machine = COLLECTIONS[kind]
    foreign: Command = OnceWrite(1) if kind != "once" else CellWrite(1)
    for command in (foreign, object(), "Insert"):
        with pytest.raises(InvalidMessage, match="is not a"):
            machine.apply_batch(machine.initial(), [take(), command], ctx(), REFERENCE)


def test_invalid_command_mid_batch_leaves_input_unchanged() -> None:
    state = fold(MAP, [MapInsert(1, 1)])
    with pytest.raises(InvalidMessage):
        MAP.apply_batch(state, [MapInsert(2, 2), object()], ctx(), REFERENCE)
    assert MAP.items(state) == ((1, 1),)


@pytest.mark.parametrize("kind", sorted(COLLECTIONS))
def test_invalid_state_snapshot_and_context(kind: str) -> None:
    machine = COLLECTIONS[kind]
    other = COLLECTIONS["vec" if kind != "vec" else "map"]
    with pytest.raises(InvalidInput, match="state"):
        machine.apply_batch(other.initial(), [], ctx(), REFERENCE)
    with pytest.raises(InvalidInput, match="snapshot"):
        machine.install_snapshot(machine.initial(), other.empty_snapshot())
    with pytest.raises(InvalidInput, match="snapshot"):
        machine.install_snapshot(machine.initial(), machine.items(machine.initial()))  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="ApplyContext"):
        machine.apply_batch(machine.initial(), [], "ctx", REFERENCE)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="sequence"):
        machine.apply_batch(machine.initial(), "abc", ctx(), REFERENCE)
    with pytest.raises(InvalidInput, match="ItemRange"):
        machine.empty_snapshot().iter_range((0, 1))  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="state"):
        machine.items(other.initial())


def test_invalid_take_snapshot_payload() -> None:
    with pytest.raises(InvalidMessage, match="request"):
        TakeSnapshot("me")  # type: ignore[arg-type]
    # apply_batch re-checks a marker built around its constructor.
    forged = object.__new__(TakeSnapshot)
    object.__setattr__(forged, "request", "me")
    with pytest.raises(InvalidMessage, match=r"TakeSnapshot\.request"):
        MAP.apply_batch(MAP.initial(), [forged], ctx(), REFERENCE)


def test_commands_roundtrip_through_the_json_codec() -> None:
    from impl.codec import dumps, loads

    commands: list[Command] = [
        MapClear(), MapInsert(1, "a"), MapCompareExchange((1, "k"), None, 3),
        MapRemoveMany((1, 2)), MapExtend(((1, 2),)),
        VecClear(), VecSwap(0, 1), VecInsert(0, 1), VecPushBack(1), VecPushFront(1),
        VecPopBack(), VecPopFront(), VecRemove(0), VecTruncate(2), VecExtend((1, "x")),
        SetClear(), SetInsert(1), SetRemoveMany((1,)), SetExtend((1, 2)),
        DepqClear(), DepqInsert(1, 2, 3), DepqExtend(((1, 2, 3),)), DepqUpdatePriority(1, 2),
        DepqUpdateValue(1, 2), DepqCompareExchangeValue(1, 2, None), DepqRemoveKeys((1,)),
        DepqRemoveRange(Bound.excluded(1), Bound.unbounded()),
        CellWrite(1), CellCompareExchange(None, 1), CellClear(), OnceWrite("once"),
    ]  # fmt: skip
    for command in commands:
        assert loads(dumps(command)) == command


@pytest.mark.parametrize(
    ("machine", "bad_items"),
    [
        (MAP, [(1, 2, 3)]),
        (MAP, [5]),
        (MAP, [(-1, 2)]),
        (MAP, [(1, None)]),
        (SET, [1.0]),
        (VEC, [None]),
        (DEPQ, [(1, 2)]),
        (DEPQ, [(1, 2, True)]),
        (CELL, [None]),
        (ONCE, [-1]),
    ],
)
def test_invalid_snapshot_items(machine: StateMachine, bad_items: list[Any]) -> None:
    with pytest.raises(InvalidMessage, match="items"):
        machine.empty_snapshot().append(bad_items)


def test_invalid_depq_capacity() -> None:
    with pytest.raises(InvalidInput):
        DepqMachine(capacity=-1)
    with pytest.raises(InvalidInput):
        DepqMachine(capacity=1 << 64)


def test_invalid_state_values() -> None:
    with pytest.raises(InvalidMessage):
        CellState(1.5)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        MapState({})  # type: ignore[arg-type]


def test_apply_s1_is_shared() -> None:
    """Every collection's apply_batch goes through the one S1 implementation."""
    seen: list[int] = []

    def step(state: int, command: Command, profile: Profile) -> tuple[int, bool]:
        seen.append(state)
        return state + 1, command != "uncounted"

    state, pending = apply_s1(
        0,
        ["a", take(), "b", "uncounted"],
        ctx(3),
        REFERENCE,
        step,
        lambda current, profile: MAP.empty_snapshot(),
    )
    assert (state, seen) == (3, [0, 1, 2])
    assert pending[0].position.index == 6
