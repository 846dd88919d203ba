"""Tests of the hot-path fast paths: each must give exactly what the plain code gives.

R5's one-pass append (:func:`impl.raft._append_new_entries`) against the per-entry
loop it replaces, and the allocation-free datum checks (``check_datum``,
:func:`impl.collections.encoding.is_plain_datum`, the u64 checks) against the full
checks, including the errors and the field names they report.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from impl.collections.encoding import encode, is_plain_datum, validated
from impl.collections.map import MAP, MapSnapshot
from impl.errors import InvalidInput, InvalidMessage, InvalidState
from impl.logstore import LogStore
from impl.messages import AppendEntries, FetchDataResponse, LogEntry, check_datum
from impl.raft import _append_new_entries
from impl.types import U64_MAX, Cursor, Index, PeerId, Term, check_u64

# -- R5: one-pass append -------------------------------------------------------------------


def accept_loop(log: LogStore, start: int, entries: tuple[LogEntry, ...]) -> LogStore:
    """R5 step 1 as written in the inventory: skip an entry whose term is stored, else append."""
    for i, entry in enumerate(entries):
        if log.term_at(start + i) == entry.term:
            continue
        log, _ = log.append(entry.command, entry.term)
    return log


def outcome(fn: Any, *args: Any) -> tuple[str, Any]:
    try:
        log = fn(*args)
    except (InvalidInput, InvalidState) as exc:
        return "raised", (type(exc), str(exc))
    return "log", (list(log.entries), log.offset, log.last_pruned)


def log_of(terms: list[int], prune: int, reset: Cursor | None) -> LogStore:
    log = LogStore() if reset is None else LogStore().reset_to(reset)
    return log.extend(LogEntry(Term(t), f"s{k}") for k, t in enumerate(terms)).prune_prefix(
        log.offset + prune
    )


logs = st.builds(
    log_of,
    st.lists(st.integers(1, 3), max_size=6),
    st.integers(0, 3),
    st.sampled_from([None, Cursor(Term(1), Index(4)), Cursor(Term(2), Index(U64_MAX - 8))]),
)
entry_lists = st.lists(
    st.builds(LogEntry, st.integers(0, 3).map(Term), st.sampled_from(["a", "b"])), max_size=7
).map(tuple)


@given(logs, st.integers(-3, 8), entry_lists)
def test_one_pass_append_equals_the_loop(
    log: LogStore, shift: int, entries: tuple[LogEntry, ...]
) -> None:
    # The start index ranges over pruned, stored, end+1 and beyond-the-end positions
    # (and past u64::MAX near a full log: then both raise the same error).
    start = max(1, log.end() + 1 + shift)
    assert outcome(_append_new_entries, log, start, entries) == outcome(
        accept_loop, log, start, entries
    )


def test_one_pass_append_reads_its_own_appended_entries() -> None:
    # Conflicts inside the stored part append at the end, and later entries then land on
    # those appended entries: term_at must see them (a redelivery is skipped).
    log = log_of([1, 1, 1], 0, None)
    entries = tuple(LogEntry(Term(2), c) for c in "wxyz")
    got = _append_new_entries(log, 2, entries)
    assert got == accept_loop(log, 2, entries)
    assert [e.term for e in got.entries] == [1, 1, 1, 2, 2]


def test_one_pass_append_detects_a_mutant_that_ignores_pending_entries() -> None:
    # A variant that answers "nothing there" past the stored end appends all four: the
    # comparison with the loop catches it.
    def mutant(log: LogStore, start: int, entries: tuple[LogEntry, ...]) -> LogStore:
        end = log.end()
        keep = [
            e for i, e in enumerate(entries) if start + i > end or log.term_at(start + i) != e.term
        ]
        return log.extend(keep)

    log = log_of([1, 1, 1], 0, None)
    entries = tuple(LogEntry(Term(2), c) for c in "wxyz")
    assert outcome(mutant, log, 2, entries) != outcome(accept_loop, log, 2, entries)


def test_invalid_one_pass_append_beyond_u64() -> None:
    # One free index left: the second new entry overflows (full log), or — past the end
    # — its index 2**64 is not a u64 (term_at raises first), exactly as in the loop.
    near = LogStore().reset_to(Cursor(Term(1), Index(U64_MAX - 1)))
    conflicting = (LogEntry(Term(2), "a"), LogEntry(Term(3), "b"))
    for start, error, match in (
        (U64_MAX - 1, InvalidState, "full"),
        (U64_MAX, InvalidInput, "u64"),
    ):
        with pytest.raises(error, match=match):
            _append_new_entries(near, start, conflicting)
        with pytest.raises(error, match=match):
            accept_loop(near, start, conflicting)


# -- datum and u64 checks ------------------------------------------------------------------


class IntSub(int):
    pass


class StrSub(str):
    pass


class TupleSub(tuple):  # type: ignore[type-arg]
    pass


atoms = st.one_of(
    st.integers(-2, 3),
    st.sampled_from([U64_MAX, U64_MAX + 1, -(1 << 70), True, False, None, 1.5, b"x"]),
    st.text(max_size=3),
    st.sampled_from(["\ud800", "é", IntSub(3), IntSub(-1), StrSub("s")]),
)
data = st.recursive(
    atoms,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(tuple),
        st.lists(inner, max_size=3).map(TupleSub),
        st.lists(inner, max_size=3),
    ),
    max_leaves=8,
)


def slow_check_datum(value: object, field: str) -> None:
    """check_datum without its fast path (the code as it was)."""
    if isinstance(value, bool):
        raise InvalidMessage(field, "booleans are not data")
    if isinstance(value, int):
        if not 0 <= value < (1 << 64):
            raise InvalidMessage(field, f"integer {value} is not a u64")
        return
    if isinstance(value, str):
        return
    if isinstance(value, tuple):
        for i, part in enumerate(value):
            slow_check_datum(part, f"{field}[{i}]")
        return
    raise InvalidMessage(field, f"{type(value).__name__} is not a datum")


def result(fn: Any, *args: Any) -> tuple[str, Any]:
    try:
        return "ok", fn(*args)
    except InvalidInput as exc:
        return "raised", (type(exc), str(exc))


@given(data)
def test_check_datum_equals_the_full_check(value: object) -> None:
    assert result(check_datum, value, "f") == result(slow_check_datum, value, "f")


def test_check_datum_comparison_detects_a_mutant() -> None:
    # A check that accepted any int would pass a negative one: the comparison catches it.
    def mutant(value: object, field: str) -> None:
        if type(value) is int:
            return
        slow_check_datum(value, field)

    assert result(mutant, -1, "f") != result(slow_check_datum, -1, "f")


@given(data)
def test_is_plain_datum_only_for_data_that_encode(value: object) -> None:
    if is_plain_datum(value):
        assert result(encode, value)[0] == "ok"
        assert validated(value, "f") is value


@given(data)
def test_validated_equals_encoding(value: object) -> None:
    # validated raises iff encode does, with encode's message under the field's name.
    enc = result(encode, value)
    got = result(validated, value, "f")
    if enc[0] == "ok":
        assert got == ("ok", value)
    else:
        assert got == ("raised", (InvalidMessage, str(InvalidMessage("f", enc[1][1]))))


def test_invalid_fetch_data_response_names_the_first_bad_item() -> None:
    anchor = Cursor(Term(1), Index(1))
    with pytest.raises(InvalidMessage, match=r"items\[2\]\[1\]"):
        FetchDataResponse(anchor, 0, ((1, 2), (3, 4), (5, -6), (7, True)))
    assert FetchDataResponse(anchor, 0, ((1, "a"), StrSub("b"), IntSub(3))).items[2] == 3


def test_invalid_append_entries_names_the_first_non_entry() -> None:
    class Sub(LogEntry):
        __slots__ = ()

    peer = PeerId.from_label("n0")
    prev = Cursor(Term(1), Index(1))
    ok = AppendEntries(Term(1), peer, prev, (LogEntry(Term(1), "a"), Sub(Term(1), "b")), Index(0))
    assert len(ok.entries) == 2
    with pytest.raises(InvalidMessage, match=r"entries\[1\]"):
        AppendEntries(Term(1), peer, prev, (LogEntry(Term(1), "a"), "b"), Index(0))  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [True, IntSub(5), -1, U64_MAX + 1, 1.0, "1"])
def test_invalid_u64_fast_paths_keep_the_full_checks(value: object) -> None:
    ok = isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= U64_MAX
    if ok:
        assert check_u64(value, "x") == value
        assert Cursor(value, value).index == value  # type: ignore[arg-type]
        assert LogEntry(value, "c").term == value  # type: ignore[arg-type]
        return
    with pytest.raises(InvalidInput):
        check_u64(value, "x")
    with pytest.raises(InvalidInput, match=r"Cursor\.index"):
        Cursor(Term(0), value)  # type: ignore[arg-type]
    with pytest.raises(InvalidMessage, match="term"):
        LogEntry(value, "c")  # type: ignore[arg-type]


def test_map_snapshot_append_fast_path_keeps_errors_and_items() -> None:
    snap = MAP.empty_snapshot().append([(1, "a"), (2, ("b", 3))])
    assert snap.iter_range(snap_range(2)) == ((1, "a"), (2, ("b", 3)))
    with pytest.raises(InvalidMessage, match=r"items\[1\]\[1\]"):
        MapSnapshot.append(snap, [(3, "c"), (4, -1)])
    with pytest.raises(InvalidMessage, match=r"items\[0\]\[0\]"):
        MapSnapshot.append(snap, [("\ud800", 1)])


def snap_range(n: int) -> Any:
    from impl.types import ItemRange

    return ItemRange(0, n)
