"""Tests of impl.types: terms, indices, cursors, peer ids and item ranges (mosaik cursor.rs)."""

from __future__ import annotations

from dataclasses import FrozenInstanceError

import blake3
import pytest
from hypothesis import given
from hypothesis import strategies as st

from impl.errors import InvalidInput, InvalidRange
from impl.types import (
    U64_MAX,
    Cursor,
    Index,
    ItemRange,
    PeerId,
    Term,
    check_u64,
    saturating_next,
    saturating_prev,
)

u64 = st.integers(0, U64_MAX)

# -- u64 helpers --------------------------------------------------------------------------


def test_check_u64_bounds() -> None:
    assert check_u64(0, "x") == 0
    assert check_u64(U64_MAX, "x") == U64_MAX


@pytest.mark.parametrize("bad", [-1, U64_MAX + 1, True, 1.0, "1", None])
def test_invalid_check_u64(bad: object) -> None:
    with pytest.raises(InvalidInput, match="what"):
        check_u64(bad, "what")


def test_saturating_next_and_prev() -> None:
    assert saturating_next(0) == 1
    assert saturating_next(U64_MAX - 1) == U64_MAX
    assert saturating_next(U64_MAX) == U64_MAX
    assert saturating_prev(1) == 0
    assert saturating_prev(0) == 0
    assert saturating_prev(U64_MAX) == U64_MAX - 1


@given(u64)
def test_saturating_next_prev_stay_in_u64(value: int) -> None:
    assert 0 <= saturating_next(value) <= U64_MAX
    assert 0 <= saturating_prev(value) <= U64_MAX
    if 0 < value < U64_MAX:
        assert saturating_prev(saturating_next(value)) == value


# -- Cursor -------------------------------------------------------------------------------


def c(term: int, index: int) -> Cursor:
    return Cursor(Term(term), Index(index))


def test_cursor_orders_by_term_then_index() -> None:
    assert c(1, 9) < c(2, 1)  # a higher term wins over a higher index
    assert c(2, 1) < c(2, 2)
    assert c(2, 2) == c(2, 2)
    assert not c(2, 2) < c(2, 2)
    assert c(3, 0) > c(2, U64_MAX)
    assert c(1, 9).is_behind(c(2, 1))
    assert not c(2, 1).is_behind(c(1, 9))


def test_cursor_order_is_not_index_first() -> None:
    # The check above would fail for an index-first order (a plausible mistake).
    cursors = [c(2, 1), c(1, 9), c(1, 3), c(2, 0)]
    lexicographic = sorted(cursors)
    assert lexicographic == [c(1, 3), c(1, 9), c(2, 0), c(2, 1)]
    assert lexicographic != sorted(cursors, key=lambda x: (x.index, x.term))


@given(u64, u64, u64, u64)
def test_cursor_order_matches_tuple_order(t1: int, i1: int, t2: int, i2: int) -> None:
    assert (c(t1, i1) < c(t2, i2)) == ((t1, i1) < (t2, i2))


def test_cursor_zero_str_and_hash() -> None:
    assert Cursor.zero() == c(0, 0)
    assert Cursor.zero().is_zero()
    assert not c(0, 1).is_zero()
    assert not c(1, 0).is_zero()
    assert str(c(2, 5)) == "(t:2,i:5)"
    assert len({c(1, 1), c(1, 1), c(1, 2)}) == 2


def test_cursor_is_frozen() -> None:
    with pytest.raises(FrozenInstanceError):
        c(1, 1).index = Index(2)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("term", "index", "field"),
    [
        (-1, 0, "Cursor.term"),
        (0, -1, "Cursor.index"),
        (U64_MAX + 1, 0, "Cursor.term"),
        (0, U64_MAX + 1, "Cursor.index"),
        ("1", 0, "Cursor.term"),
        (0, 1.0, "Cursor.index"),
        (True, 0, "Cursor.term"),
    ],
)
def test_invalid_cursor(term: object, index: object, field: str) -> None:
    with pytest.raises(InvalidInput, match=field):
        Cursor(term, index)  # type: ignore[arg-type]


# -- PeerId -------------------------------------------------------------------------------

RAW = bytes(range(32))


def test_peer_id_forms() -> None:
    p = PeerId(RAW)
    assert p.hex() == RAW.hex()
    assert len(p.hex()) == 64
    assert p.short() == RAW.hex()[:8] == "00010203"
    assert str(p) == "00010203"
    assert repr(p) == "PeerId(00010203)"


def test_peer_id_from_hex_round_trip_either_case() -> None:
    assert PeerId.from_hex(RAW.hex()) == PeerId(RAW)
    assert PeerId.from_hex(RAW.hex().upper()) == PeerId(RAW)


def test_peer_id_from_label_is_blake3_of_label() -> None:
    assert PeerId.from_label("n0").raw == blake3.blake3(b"n0").digest()
    assert PeerId.from_label("n0") == PeerId.from_label("n0")
    assert PeerId.from_label("n0") != PeerId.from_label("n1")


def test_peer_ids_order_by_bytes() -> None:
    low, high = PeerId(bytes(32)), PeerId(b"\x01" + bytes(31))
    assert low < high
    assert sorted([high, low]) == [low, high]


@pytest.mark.parametrize("bad", [b"", bytes(31), bytes(33), bytearray(32), "00" * 32, None])
def test_invalid_peer_id_length_or_type(bad: object) -> None:
    with pytest.raises(InvalidInput, match="32 bytes"):
        PeerId(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "bad",
    [
        "00" * 31,  # 62 digits
        "00" * 33,
        "zz" * 32,
        " " + "0" * 63,  # bytes.fromhex would skip the space
        "00 " * 21 + "0",
        "",
    ],
)
def test_invalid_peer_id_hex(bad: str) -> None:
    with pytest.raises(InvalidInput, match="64 hex digits"):
        PeerId.from_hex(bad)


# -- ItemRange ----------------------------------------------------------------------------


def test_item_range_basics() -> None:
    r = ItemRange(2, 5)
    assert len(r) == 3
    assert not r.is_empty()
    assert ItemRange(3, 3).is_empty()
    assert len(ItemRange(0, 0)) == 0
    assert str(r) == "[2,5)"
    assert ItemRange(0, U64_MAX).end == U64_MAX


def test_item_range_contains_is_half_open() -> None:
    r = ItemRange(2, 5)
    assert [p for p in range(7) if r.contains(p)] == [2, 3, 4]
    assert not ItemRange(3, 3).contains(3)


def test_item_range_overlaps() -> None:
    assert ItemRange(0, 3).overlaps(ItemRange(2, 5))
    assert not ItemRange(0, 2).overlaps(ItemRange(2, 5))  # adjacent
    assert not ItemRange(2, 2).overlaps(ItemRange(0, 5))  # empty
    assert ItemRange(1, 4).overlaps(ItemRange(0, 9))


@pytest.mark.parametrize(
    ("start", "end", "reason"),
    [
        (5, 2, "end is before start"),
        (-1, 2, "negative bound"),
        (0, -2, "negative bound"),
        (0, U64_MAX + 1, "bound exceeds u64"),
        (0.0, 2, "bounds must be integers"),
        (0, "2", "bounds must be integers"),
        (None, 2, "bounds must be integers"),
        (False, 2, "bounds must be integers"),
    ],
)
def test_invalid_item_range(start: object, end: object, reason: str) -> None:
    with pytest.raises(InvalidRange, match=reason) as exc:
        ItemRange(start, end)  # type: ignore[arg-type]
    assert (exc.value.start, exc.value.end, exc.value.reason) == (start, end, reason)
    assert isinstance(exc.value, InvalidInput)
