"""Tests of impl.logstore: mosaik's InMemoryLogStore as an immutable value (inventory §1.5)."""

from __future__ import annotations

from dataclasses import FrozenInstanceError
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pyrsistent import pvector

from impl.errors import InvalidInput, InvalidState
from impl.logstore import LogStore
from impl.messages import LogEntry
from impl.types import U64_MAX, Cursor, Index, Term


def cur(term: int, index: int) -> Cursor:
    return Cursor(Term(term), Index(index))


def build(*terms: int, start: LogStore | None = None) -> LogStore:
    """Append one entry per term; the command of the entry at index i is ``f"c{i}"``."""
    log = start if start is not None else LogStore()
    for t in terms:
        log, _ = log.append(f"c{log.end() + 1}", Term(t))
    return log


# A log with entries 1..5 (terms 1,1,2,2,3), pruned up to 2: offset 2, stored 3..5.
FIVE = build(1, 1, 2, 2, 3)
PRUNED = FIVE.prune_prefix(Index(2))


# -- construction and invariants ---------------------------------------------------------


def test_empty_log() -> None:
    log = LogStore()
    assert log.entry_count() == 0
    assert log.offset == 0
    assert log.last_pruned is None
    assert log.last() == Cursor.zero()
    assert log.available() == (0, 0)
    assert log.get(Index(0)) is None
    assert log.get(Index(1)) is None
    assert log.term_at(Index(0)) == 0
    assert log.term_at(Index(1)) is None
    assert log.get_range(Index(0), Index(10)) == ()


def test_constructor_accepts_what_operations_build() -> None:
    for log in (FIVE, PRUNED, PRUNED.truncate(Index(1)), FIVE.reset_to(cur(4, 9))):
        rebuilt = LogStore(log.entries, log.offset, log.last_pruned)
        assert rebuilt == log


def test_invalid_entries_not_a_pvector() -> None:
    with pytest.raises(InvalidInput, match="PVector"):
        LogStore([LogEntry(Term(1), "a")])  # type: ignore[arg-type]


def test_invalid_entry_element() -> None:
    with pytest.raises(InvalidInput, match=r"entries\[1\]"):
        LogStore(pvector([LogEntry(Term(1), "a"), ("b", 1)]))  # type: ignore[list-item]


def test_invalid_offset() -> None:
    with pytest.raises(InvalidInput, match="offset"):
        LogStore(pvector(), Index(-1), None)
    with pytest.raises(InvalidInput, match="offset"):
        LogStore(pvector(), "3", cur(1, 3))  # type: ignore[arg-type]


def test_invalid_last_pruned_type() -> None:
    with pytest.raises(InvalidInput, match="last_pruned"):
        LogStore(pvector(), Index(3), (1, 3))  # type: ignore[arg-type]


def test_invalid_offset_without_last_pruned() -> None:
    with pytest.raises(InvalidState, match="no last_pruned"):
        LogStore(pvector(), Index(3), None)


def test_invalid_last_pruned_not_at_offset() -> None:
    with pytest.raises(InvalidState, match="not at offset"):
        LogStore(pvector(), Index(3), cur(1, 2))


def test_invalid_indices_beyond_u64() -> None:
    with pytest.raises(InvalidState, match="u64"):
        LogStore(pvector([LogEntry(Term(1), "a")]), Index(U64_MAX), cur(1, U64_MAX))


def test_frozen() -> None:
    with pytest.raises(FrozenInstanceError):
        FIVE.offset = Index(9)  # type: ignore[misc]


# -- append ------------------------------------------------------------------------------


def test_append_returns_logical_index() -> None:
    log, i = LogStore().append("a", Term(1))
    assert i == 1
    log2, j = log.append("b", Term(2))
    assert j == 2
    assert log2.last() == cur(2, 2)
    assert log.entry_count() == 1  # the old value is unchanged


def test_append_after_prune_and_reset_continues_indices() -> None:
    assert PRUNED.append("x", Term(3))[1] == 6
    everything = FIVE.prune_prefix(Index(5))
    assert everything.append("x", Term(4))[1] == 6
    assert FIVE.reset_to(cur(7, 100)).append("x", Term(7))[1] == 101


def test_append_does_not_check_term_order() -> None:
    # The store is a container; term monotonicity is Raft's job (R4/R5), as in mosaik.
    log, _ = FIVE.append("x", Term(1))
    assert log.last() == cur(1, 6)


def test_invalid_append_term() -> None:
    for bad in (-1, U64_MAX + 1, "1", 1.0, True, None):
        with pytest.raises(InvalidInput, match="term"):
            LogStore().append("a", bad)  # type: ignore[arg-type]


def test_invalid_append_beyond_u64() -> None:
    full = LogStore().reset_to(cur(1, U64_MAX))
    with pytest.raises(InvalidState, match="full"):
        full.append("a", Term(1))
    # One below the limit still fits.
    _, i = LogStore().reset_to(cur(1, U64_MAX - 1)).append("a", Term(1))
    assert i == U64_MAX


# -- get and available -------------------------------------------------------------------


def test_get_boundaries_unpruned() -> None:
    assert FIVE.get(Index(0)) is None
    assert FIVE.get(Index(1)) == LogEntry(Term(1), "c1")
    assert FIVE.get(Index(5)) == LogEntry(Term(3), "c5")
    assert FIVE.get(Index(6)) is None


def test_get_boundaries_pruned() -> None:
    # offset = 2: indices 0..2 are gone, 3 is the first stored one, 5 the end.
    assert [PRUNED.get(Index(i)) for i in (0, 1, 2)] == [None, None, None]
    assert PRUNED.get(Index(3)) == LogEntry(Term(2), "c3")
    assert PRUNED.get(Index(5)) == LogEntry(Term(3), "c5")
    assert PRUNED.get(Index(6)) is None
    assert PRUNED.get(Index(U64_MAX)) is None


def test_available() -> None:
    assert FIVE.available() == (0, 5)
    assert PRUNED.available() == (2, 5)
    assert FIVE.prune_prefix(Index(5)).available() == (5, 5)
    assert FIVE.reset_to(cur(9, 40)).available() == (40, 40)


def test_invalid_get_index() -> None:
    for bad in (-1, U64_MAX + 1, "1", 1.5, False, None):
        with pytest.raises(InvalidInput, match="index"):
            FIVE.get(bad)  # type: ignore[arg-type]


# -- get_range ---------------------------------------------------------------------------


def test_get_range_whole_and_clamped() -> None:
    expected = ((2, 3, "c3"), (2, 4, "c4"), (3, 5, "c5"))
    assert PRUNED.get_range(Index(3), Index(5)) == expected
    assert PRUNED.get_range(Index(0), Index(U64_MAX)) == expected
    assert PRUNED.get_range(Index(2), Index(6)) == expected


def test_get_range_boundaries() -> None:
    assert PRUNED.get_range(Index(2), Index(2)) == ()  # the offset itself is not stored
    assert PRUNED.get_range(Index(3), Index(3)) == ((2, 3, "c3"),)
    assert PRUNED.get_range(Index(5), Index(5)) == ((3, 5, "c5"),)
    assert PRUNED.get_range(Index(6), Index(9)) == ()
    assert PRUNED.get_range(Index(1), Index(2)) == ()
    assert PRUNED.get_range(Index(5), Index(4)) == ()  # inverted: empty, not an error


def test_get_range_returns_term_index_command() -> None:
    (entry,) = FIVE.get_range(Index(4), Index(4))
    term, index, command = entry
    assert (term, index, command) == (2, 4, "c4")


def test_invalid_get_range_bounds() -> None:
    with pytest.raises(InvalidInput, match="start"):
        FIVE.get_range(-1, Index(3))
    with pytest.raises(InvalidInput, match="end_inclusive"):
        FIVE.get_range(Index(1), "3")  # type: ignore[arg-type]


# -- last and term_at --------------------------------------------------------------------


def test_last() -> None:
    assert FIVE.last() == cur(3, 5)
    assert PRUNED.last() == cur(3, 5)  # pruning keeps the logical end
    assert FIVE.prune_prefix(Index(5)).last() == cur(3, 5)  # from last_pruned
    assert FIVE.reset_to(cur(4, 2)).last() == cur(4, 2)
    assert FIVE.truncate(Index(1)).last() == Cursor.zero()


def test_term_at_boundaries() -> None:
    # offset 2 (last_pruned (1, 2)), stored 3..5 with terms 2, 2, 3.
    assert PRUNED.term_at(Index(0)) == 0
    assert PRUNED.term_at(Index(1)) is None  # below the offset
    assert PRUNED.term_at(Index(2)) == 1  # the offset: last_pruned.term
    assert PRUNED.term_at(Index(3)) == 2
    assert PRUNED.term_at(Index(5)) == 3
    assert PRUNED.term_at(Index(6)) is None


def test_term_at_offset_zero_without_prune() -> None:
    assert FIVE.term_at(Index(0)) == 0
    assert FIVE.term_at(Index(1)) == 1


def test_term_at_zero_wins_over_reset_anchor() -> None:
    # reset_to((5, 0)) sets last_pruned = (5, 0), but index 0 always has term 0.
    log = LogStore().reset_to(cur(5, 0))
    assert log.term_at(Index(0)) == 0
    assert log.last() == cur(5, 0)


def test_invalid_term_at_index() -> None:
    with pytest.raises(InvalidInput, match="index"):
        FIVE.term_at(-3)


# -- truncate ----------------------------------------------------------------------------


def test_truncate_keeps_entries_below() -> None:
    log = FIVE.truncate(Index(4))
    assert log.available() == (0, 3)
    assert log.last() == cur(2, 3)
    assert log.get(Index(4)) is None
    assert FIVE.last() == cur(3, 5)  # unchanged


def test_truncate_boundaries_pruned() -> None:
    assert PRUNED.truncate(Index(6)) is PRUNED  # end + 1: nothing to drop
    assert PRUNED.truncate(Index(9)) is PRUNED
    assert PRUNED.truncate(Index(5)).last() == cur(2, 4)  # end: drops the last entry
    first = PRUNED.truncate(Index(3))  # offset + 1: drops every stored entry
    assert first.entry_count() == 0
    assert first.last() == cur(1, 2)
    assert first.term_at(Index(2)) == 1


def test_truncate_at_or_below_offset_keeps_pruned_end_h18() -> None:
    # H18: truncate(at <= offset) clears every entry but cannot undo the prune, so
    # last() reports last_pruned, whose index (the offset, 2) is still >= at.
    for at in (0, 1, 2):
        log = PRUNED.truncate(Index(at))
        assert log.entry_count() == 0
        assert log.offset == 2
        assert log.last() == cur(1, 2)
        assert log.last().index >= at
        assert log.last().index >= log.offset


def test_truncate_empty_is_identity() -> None:
    empty = FIVE.prune_prefix(Index(5))
    assert empty.truncate(Index(0)) is empty


def test_invalid_truncate_at() -> None:
    with pytest.raises(InvalidInput, match="at"):
        FIVE.truncate(None)  # type: ignore[arg-type]


# -- prune_prefix ------------------------------------------------------------------------


def test_prune_prefix_sets_offset_and_last_pruned() -> None:
    assert PRUNED.offset == 2
    assert PRUNED.last_pruned == cur(1, 2)
    assert PRUNED.entry_count() == 3
    assert FIVE.offset == 0  # the original is unchanged


def test_prune_prefix_noop_at_or_below_offset() -> None:
    assert PRUNED.prune_prefix(Index(2)) is PRUNED
    assert PRUNED.prune_prefix(Index(1)) is PRUNED
    assert FIVE.prune_prefix(Index(0)) is FIVE


def test_prune_prefix_beyond_end_drains_only_stored() -> None:
    log = PRUNED.prune_prefix(Index(99))
    assert log.offset == 5
    assert log.last_pruned == cur(3, 5)
    assert log.entry_count() == 0
    assert log.last() == cur(3, 5)
    assert log.term_at(Index(5)) == 3


def test_prune_prefix_of_empty_store_changes_nothing() -> None:
    empty_after_reset = LogStore().reset_to(cur(2, 10))
    assert empty_after_reset.prune_prefix(Index(20)) is empty_after_reset
    assert LogStore().prune_prefix(Index(3)) == LogStore()


def test_prune_prefix_committed_minus_one_keeps_committed_entry() -> None:
    # R7: prune to committed - 1, so term_at(committed) stays defined (I16).
    committed = Index(4)
    log = FIVE.prune_prefix(Index(committed - 1))
    assert log.offset <= committed - 1
    assert log.term_at(committed) == 2
    assert log.get(committed) == LogEntry(Term(2), "c4")


def test_invalid_prune_prefix() -> None:
    with pytest.raises(InvalidInput, match="up_to"):
        FIVE.prune_prefix(1.0)  # type: ignore[arg-type]


# -- reset_to ----------------------------------------------------------------------------


def test_reset_to_forward_and_backward() -> None:
    ahead = PRUNED.reset_to(cur(4, 50))
    assert (ahead.entry_count(), ahead.offset, ahead.last_pruned) == (0, 50, cur(4, 50))
    assert ahead.last() == cur(4, 50)
    assert ahead.term_at(Index(50)) == 4
    assert ahead.term_at(Index(49)) is None
    behind = PRUNED.reset_to(cur(1, 1))
    assert behind.available() == (1, 1)
    assert behind.get(Index(3)) is None


def test_invalid_reset_to() -> None:
    with pytest.raises(InvalidInput, match="Cursor"):
        FIVE.reset_to((1, 2))  # type: ignore[arg-type]


# -- property test against a simple model ------------------------------------------------


class DictModel:
    """An independent, obviously-correct model: a dict of stored index -> (term, command)."""

    def __init__(self) -> None:
        self.stored: dict[int, tuple[int, object]] = {}
        self.offset = 0
        self.last_pruned: tuple[int, int] | None = None

    def end(self) -> int:
        return max(self.stored, default=self.offset)

    def apply(self, op: tuple[Any, ...]) -> None:
        kind = op[0]
        if kind == "append":
            self.stored[self.end() + 1] = (op[2], op[1])
        elif kind == "truncate":
            self.stored = {i: e for i, e in self.stored.items() if i < op[1]}
        elif kind == "prune":
            gone = [i for i in self.stored if i <= op[1]]
            if gone:
                top = max(gone)
                self.last_pruned = (self.stored[top][0], top)
                self.offset = top
                for i in gone:
                    del self.stored[i]
        elif kind == "reset":
            self.stored = {}
            self.offset = op[2]
            self.last_pruned = (op[1], op[2])

    def get(self, i: int) -> tuple[int, object] | None:
        return self.stored.get(i)

    def term_at(self, i: int) -> int | None:
        if i == 0:
            return 0
        if i == self.offset:
            return self.last_pruned[0] if self.last_pruned else 0
        entry = self.stored.get(i)
        return entry[0] if entry else None

    def last(self) -> tuple[int, int]:
        if self.stored:
            top = max(self.stored)
            return (self.stored[top][0], top)
        return self.last_pruned or (0, 0)

    def get_range(self, s: int, e: int) -> list[tuple[int, int, object]]:
        return [
            (self.stored[i][0], i, self.stored[i][1]) for i in sorted(self.stored) if s <= i <= e
        ]


def apply_op(log: LogStore, op: tuple[Any, ...]) -> LogStore:
    kind = op[0]
    if kind == "append":
        return log.append(op[1], Term(op[2]))[0]
    if kind == "truncate":
        return log.truncate(Index(op[1]))
    if kind == "prune":
        return log.prune_prefix(Index(op[1]))
    return log.reset_to(cur(op[1], op[2]))


def divergence(log: LogStore, model: DictModel) -> str | None:
    """Return the first observation where ``log`` and ``model`` differ, or None."""
    end = model.end()
    if (log.offset, log.end()) != (model.offset, end):
        return f"available {log.available()} != {(model.offset, end)}"
    if (log.last().term, log.last().index) != model.last():
        return f"last {log.last()} != {model.last()}"
    if not log.offset <= log.last().index:
        return "offset > last().index"
    for i in range(end + 3):
        got = log.get(Index(i))
        if (None if got is None else (got.term, got.command)) != model.get(i):
            return f"get({i}) {got} != {model.get(i)}"
        if log.term_at(Index(i)) != model.term_at(i):
            return f"term_at({i}) {log.term_at(Index(i))} != {model.term_at(i)}"
    points = sorted({0, model.offset, model.offset + 1, max(end - 1, 0), end, end + 1})
    for s in points:
        for e in points:
            if list(log.get_range(Index(s), Index(e))) != model.get_range(s, e):
                return f"get_range({s}, {e})"
    return None


def run(ops: list[tuple[Any, ...]], start: LogStore | None = None) -> str | None:
    log = start if start is not None else LogStore()
    model = DictModel()
    for k, op in enumerate(ops):
        before = log
        seen = (list(before.entries), before.offset, before.last_pruned)
        log = apply_op(log, op)
        model.apply(op)
        problem = divergence(log, model)
        if problem is not None:
            return f"after op {k} {op}: {problem}"
        # Every operation keeps the constructor's invariants ...
        type(log)(log.entries, log.offset, log.last_pruned)
        # ... and leaves its input as it was.
        assert (list(before.entries), before.offset, before.last_pruned) == seen
    return None


small = st.integers(0, 12)
ops_strategy = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.integers(0, 99), st.integers(0, 3)),
        st.tuples(st.just("truncate"), small),
        st.tuples(st.just("prune"), small),
        st.tuples(st.just("reset"), st.integers(0, 3), small),
    ),
    max_size=25,
)


@given(ops_strategy)
def test_matches_dict_model(ops: list[tuple[Any, ...]]) -> None:
    assert run(ops) is None


# Hand-picked sequences that hit every boundary; the mutants below must each fail one.
SCENARIOS: list[list[tuple[Any, ...]]] = [
    [("append", 1, 1), ("append", 2, 1), ("append", 3, 2), ("prune", 2), ("truncate", 3)],
    [("append", 1, 1), ("append", 2, 2), ("prune", 9), ("append", 3, 3), ("truncate", 0)],
    [("append", 1, 1), ("append", 2, 2), ("append", 3, 2), ("prune", 1), ("truncate", 3)],
    [("reset", 2, 5), ("append", 1, 2), ("prune", 5), ("prune", 6), ("truncate", 7)],
    [("append", 1, 1), ("append", 2, 1), ("truncate", 2), ("append", 3, 4), ("prune", 2)],
]


def test_scenarios_pass_on_the_store() -> None:
    for ops in SCENARIOS:
        assert run(ops) is None


class TermAtIgnoresOffset(LogStore):
    """Mutant: forgets that the offset's term is known (mosaik's trait default)."""

    def term_at(self, index: int) -> Term | None:
        entry = self.get(index)
        return Term(0) if index == 0 else (entry.term if entry else None)


class PruneKeepsOldLastPruned(LogStore):
    """Mutant: drains entries but records the first drained entry instead of the last."""

    def prune_prefix(self, up_to: int) -> LogStore:
        if up_to <= self.offset or not self.entries:
            return self
        n = min(up_to - self.offset, len(self.entries))
        first = self.entries[0]
        return self._make(self.entries[n:], self.offset + n, Cursor(first.term, Index(n)))


class TruncateOffByOne(LogStore):
    """Mutant: keeps the entry at ``at``."""

    def truncate(self, at: int) -> LogStore:
        return super().truncate(at + 1)


class GetRangeUnclamped(LogStore):
    """Mutant: does not clamp the start to ``offset + 1``."""

    def get_range(self, start: int, end_inclusive: int) -> tuple[Any, ...]:
        if start <= self.offset:
            return ((Term(0), Index(start), None), *super().get_range(start, end_inclusive))
        return super().get_range(start, end_inclusive)


@pytest.mark.parametrize(
    "mutant", [TermAtIgnoresOffset, PruneKeepsOldLastPruned, TruncateOffByOne, GetRangeUnclamped]
)
def test_model_check_catches_mutant(mutant: type[LogStore]) -> None:
    problems = [run(ops, start=mutant()) for ops in SCENARIOS]
    assert any(p is not None for p in problems), f"{mutant.__name__} was not detected"


# -- extend: bulk append ----------------------------------------------------------------


def append_each(log: LogStore, entries: list[Any]) -> LogStore:
    """The definition of extend: repeated append, in order."""
    for entry in entries:
        log, _ = log.append(entry.command, entry.term)
    return log


def outcome(fn: Any, *args: Any) -> tuple[str, Any]:
    """The value of ``fn(*args)``, or the type and message of what it raised."""
    try:
        log = fn(*args)
    except (InvalidInput, InvalidState) as exc:
        return "raised", (type(exc), str(exc))
    return "log", (list(log.entries), log.offset, log.last_pruned, type(log.entries[0:0]))


start_logs = st.sampled_from(
    [
        LogStore(),
        FIVE,
        PRUNED,
        PRUNED.truncate(Index(1)),
        FIVE.reset_to(cur(4, 9)),
        LogStore().reset_to(cur(2, U64_MAX - 2)),
        LogStore().reset_to(cur(2, U64_MAX)),
    ]
)
new_entries = st.lists(
    st.builds(LogEntry, st.integers(0, 5).map(Term), st.sampled_from(["x", "y", 7, None])),
    max_size=6,
)


@given(start_logs, new_entries)
def test_extend_equals_repeated_append(log: LogStore, entries: list[LogEntry]) -> None:
    # Same entries, offset and anchor, or the same error (near u64::MAX: the log is full).
    assert outcome(LogStore.extend, log, entries) == outcome(append_each, log, entries)


def test_extend_equals_repeated_append_detects_a_broken_extend() -> None:
    # The comparison above fails for a mutant that drops the last entry.
    def broken(log: LogStore, entries: list[LogEntry]) -> LogStore:
        return log.extend(entries[:-1])

    entries = [LogEntry(Term(1), "a"), LogEntry(Term(2), "b")]
    assert outcome(broken, FIVE, entries) != outcome(append_each, FIVE, entries)


def test_extend_keeps_indices_and_shares_the_old_log() -> None:
    entries = [LogEntry(Term(3), "p"), LogEntry(Term(4), "q")]
    log = PRUNED.extend(entries)
    assert log.available() == (2, 7)
    assert log.get(Index(6)) is entries[0]
    assert log.last() == cur(4, 7)
    assert PRUNED.end() == 5  # the input is unchanged


def test_extend_nothing_is_identity() -> None:
    assert FIVE.extend([]) is FIVE
    assert FIVE.extend(iter(())) is FIVE


def test_extend_takes_any_iterable() -> None:
    log = FIVE.extend(LogEntry(Term(1), c) for c in "ab")
    assert log == append_each(FIVE, [LogEntry(Term(1), "a"), LogEntry(Term(1), "b")])
    assert log.last() == cur(1, 7)


class _Entry:
    """Not a LogEntry: extend must treat it exactly as repeated append does."""

    def __init__(self, term: object, command: object) -> None:
        self.term = term
        self.command = command


def test_extend_duck_typed_entries_are_rebuilt_like_append() -> None:
    log = FIVE.extend([LogEntry(Term(1), "a"), _Entry(Term(2), "b")])  # type: ignore[list-item]
    assert type(log.entries[-1]) is LogEntry
    assert log == append_each(FIVE, [LogEntry(Term(1), "a"), _Entry(Term(2), "b")])


def test_invalid_extend_term() -> None:
    # The same error as append: the term is checked, with the same message.
    bad = [LogEntry(Term(1), "a"), _Entry(-1, "b")]
    assert outcome(LogStore.extend, FIVE, bad) == outcome(append_each, FIVE, bad)
    with pytest.raises(InvalidInput, match="term must be"):
        FIVE.extend(bad)  # type: ignore[arg-type]


def test_invalid_extend_beyond_u64() -> None:
    near_full = LogStore().reset_to(cur(1, U64_MAX - 1))
    assert near_full.extend([LogEntry(Term(1), "a")]).last() == cur(1, U64_MAX)
    with pytest.raises(InvalidState, match="full"):
        near_full.extend([LogEntry(Term(1), "a"), LogEntry(Term(1), "b")])
