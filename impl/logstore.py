"""The Raft log store: mosaik's ``InMemoryLogStore`` as an immutable value (inventory §1.5).

mosaik keeps ``entries: Vec<(C, Term)>`` for the logical indices
``offset+1 ..= offset+len``, an ``offset`` (how many entries were pruned or
skipped by a snapshot reset) and ``last_pruned: Option<Cursor>``, the cursor of
the entry just below the first stored one (storage.rs:97-215). Here the same
three fields form a frozen :class:`LogStore`; every operation returns a new value
and shares structure with the old one (a pyrsistent ``PVector``), so a step can
keep the "before" log for free.

Invariants (checked by the constructor, preserved by every operation; pruning
and resetting happen only through :meth:`LogStore.prune_prefix` and
:meth:`LogStore.reset_to`):

* ``last_pruned is None`` implies ``offset == 0``;
  otherwise ``last_pruned.index == offset``.
* hence ``offset <= last().index``, and ``term_at(offset)`` is always defined.
* ``offset + len(entries) <= u64::MAX``.

Hazard H18 is modelled as mosaik has it: ``truncate(at)`` with ``at <= offset``
drops every stored entry but cannot undo the prune, so ``last()`` still reports
``last_pruned`` (index ``offset >= at``). Under Raft safety a follower never
truncates below its committed (and hence pruned) prefix; the enclosing steps
check that, not the store.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from operator import attrgetter
from typing import TypeAlias, cast

from pyrsistent import PVector, pvector

from impl.errors import InvalidInput, InvalidState
from impl.messages import Command, LogEntry
from impl.registry import tagged
from impl.types import U64_MAX, Cursor, Index, Term, check_u64

__all__ = ["LogStore", "RangeEntry"]

RangeEntry: TypeAlias = tuple[Term, Index, Command]
"""One element of :meth:`LogStore.get_range`: ``(term, index, command)`` as mosaik returns it."""


_NO_OFFSET = Index(0)

_FULL = "LogStore is full: the next index would exceed u64::MAX"

_TERM = attrgetter("term")
_COMMAND = attrgetter("command")


def _empty_entries() -> PVector[LogEntry]:
    return pvector()


def _index(value: object, what: str) -> int:
    """Return ``value`` as a u64 log index, or raise :class:`InvalidInput` naming ``what``."""
    return check_u64(value, what)


@tagged("LogStore")
@dataclass(frozen=True, slots=True)
class LogStore:
    """An immutable Raft log with a pruned prefix (mosaik ``InMemoryLogStore``).

    The entry at logical index ``i`` (``offset < i <= offset + len(entries)``)
    is ``entries[i - offset - 1]``.

    >>> log, i = LogStore().append("a", Term(1))
    >>> log, j = log.append("b", Term(2))
    >>> (i, j), log.last(), log.available()
    ((1, 2), Cursor(term=2, index=2), (0, 2))
    >>> pruned = log.prune_prefix(Index(1))
    >>> pruned.get(Index(1)) is None, pruned.term_at(Index(1)), pruned.last_pruned
    (True, 1, Cursor(term=1, index=1))
    """

    entries: PVector[LogEntry] = field(default_factory=_empty_entries)
    """The stored entries; ``entries[k]`` has logical index ``offset + 1 + k``."""
    offset: Index = _NO_OFFSET
    """Number of logical indices below the first stored entry (pruned or reset away)."""
    last_pruned: Cursor | None = None
    """Cursor of the entry at ``offset`` (the last one pruned, or the reset anchor)."""

    def __post_init__(self) -> None:
        # Verify the field types; the elements are checked once, here, because the
        # operations below build new values through _make and never break them.
        if not isinstance(self.entries, PVector):
            raise InvalidInput(
                f"LogStore.entries must be a pyrsistent PVector, got {type(self.entries).__name__}"
            )
        for k, entry in enumerate(self.entries):
            if not isinstance(entry, LogEntry):
                raise InvalidInput(
                    f"LogStore.entries[{k}] must be a LogEntry, got {type(entry).__name__}"
                )
        check_u64(self.offset, "LogStore.offset")
        if self.last_pruned is not None and not isinstance(self.last_pruned, Cursor):
            raise InvalidInput(
                f"LogStore.last_pruned must be a Cursor or None, got {self.last_pruned!r}"
            )
        # Verify the prune bookkeeping is consistent (module docstring, invariants).
        if self.last_pruned is None and self.offset != 0:
            raise InvalidState(f"LogStore has offset {self.offset} but no last_pruned cursor")
        if self.last_pruned is not None and self.last_pruned.index != self.offset:
            raise InvalidState(
                f"LogStore.last_pruned {self.last_pruned} is not at offset {self.offset}"
            )
        if self.offset + len(self.entries) > U64_MAX:
            raise InvalidState("LogStore indices exceed u64::MAX")

    def _make(
        self, entries: PVector[LogEntry], offset: int, last_pruned: Cursor | None
    ) -> LogStore:
        """Return a new store of the same class without re-validating every entry."""
        new = object.__new__(type(self))
        object.__setattr__(new, "entries", entries)
        object.__setattr__(new, "offset", Index(offset))
        object.__setattr__(new, "last_pruned", last_pruned)
        return new

    # -- queries ---------------------------------------------------------------------------

    def entry_count(self) -> int:
        """Return the number of stored (unpruned) entries."""
        return len(self.entries)

    def end(self) -> Index:
        """Return the logical index of the last stored entry, or ``offset`` if none."""
        return Index(self.offset + len(self.entries))

    def get(self, index: int) -> LogEntry | None:
        """Return the entry at logical ``index`` (storage.rs:122-128).

        ``None`` if ``index == 0``, if ``index <= offset`` (pruned) or beyond the end.

        >>> log = LogStore().append("a", Term(1))[0]
        >>> log.get(Index(0)), log.get(Index(1)), log.get(Index(2))
        (None, LogEntry(term=1, command='a'), None)
        """
        i = _index(index, "index")
        if i == 0 or i <= self.offset:
            return None
        k = i - self.offset - 1
        if k >= len(self.entries):
            return None
        entry: LogEntry = self.entries[k]
        return entry

    def available(self) -> tuple[Index, Index]:
        """Return ``(offset, offset + len)``: ``offset ..= offset+len`` (storage.rs:130-132).

        The lower bound is the offset itself (its term is known through
        ``last_pruned``), not the first stored entry.
        """
        return self.offset, self.end()

    def get_range(self, start: int, end_inclusive: int) -> tuple[RangeEntry, ...]:
        """Return ``(term, index, command)`` for ``start ..= end_inclusive`` (storage.rs:134-160).

        The range is clamped to the stored entries ``[offset+1, offset+len]``;
        indices outside it are skipped, and an empty or inverted range gives ``()``.

        >>> log = LogStore()
        >>> for c in "abc":
        ...     log = log.append(c, Term(1))[0]
        >>> log.prune_prefix(Index(1)).get_range(Index(0), Index(9))
        ((1, 2, 'b'), (1, 3, 'c'))
        """
        s = max(_index(start, "start"), self.offset + 1)
        e = min(_index(end_inclusive, "end_inclusive"), self.end())
        if s > e:
            return ()
        base = self.offset + 1
        stored = self.entries[s - base : e - base + 1]
        # Built in C (R6 reads whole committed runs through here): the indices are s ..= e.
        indices = cast("Iterable[Index]", range(s, e + 1))  # Index is an int at run time
        return tuple(zip(map(_TERM, stored), indices, map(_COMMAND, stored), strict=True))

    def last(self) -> Cursor:
        """Return the cursor of the last entry (storage.rs:173-181).

        With no stored entry: ``last_pruned``, else ``(0, 0)``. After pruning
        everything, the log still ends at the last pruned entry.
        """
        if self.entries:
            last: LogEntry = self.entries[-1]
            return Cursor(last.term, self.end())
        if self.last_pruned is not None:
            return self.last_pruned
        return Cursor.zero()

    def term_at(self, index: int) -> Term | None:
        """Return the term of the entry at ``index`` (storage.rs:183-192).

        ``0 ↦ 0``; ``offset ↦ last_pruned.term`` (0 if nothing was pruned);
        below the offset or beyond the end ``None``; else the stored entry's term.
        R4 uses this for its consistency check: ``None`` makes an AppendEntries
        inconsistent and so starts a catch-up session.

        >>> log = LogStore().reset_to(Cursor(Term(3), Index(7)))
        >>> log.term_at(Index(0)), log.term_at(Index(6)), log.term_at(Index(7)), log.term_at(8)
        (0, None, 3, None)
        """
        i = _index(index, "index")
        if i == 0:
            return Term(0)
        if i == self.offset:
            return self.last_pruned.term if self.last_pruned is not None else Term(0)
        entry = self.get(i)
        return entry.term if entry is not None else None

    # -- updates ---------------------------------------------------------------------------

    def append(self, command: Command, term: int) -> tuple[LogStore, Index]:
        """Append ``(command, term)``; return the new log and its index (storage.rs:117-120).

        Raises :class:`InvalidState` if the new index would exceed ``u64::MAX``.
        """
        t = Term(check_u64(term, "term"))
        end = self.offset + len(self.entries)
        # Verify the next index is representable (only reachable after reset_to(u64::MAX)).
        if end == U64_MAX:
            raise InvalidState(_FULL)
        entries = self.entries.append(LogEntry(t, command))
        return self._make(entries, self.offset, self.last_pruned), Index(end + 1)

    def extend(self, entries: Iterable[LogEntry]) -> LogStore:
        """Append every entry in order: the same log (and the same error) as
        ``append(e.command, e.term)`` for each ``e`` in turn, in one structural step.

        The stored entries are the given :class:`~impl.messages.LogEntry` values
        themselves (they are immutable); anything else — a subclass, or an object with
        ``command``/``term`` attributes — goes through :meth:`append` one by one, so it
        is checked and rebuilt exactly as there. The new indices are
        ``end()+1 ..= end()+len(entries)``.

        >>> log = LogStore().extend([LogEntry(Term(1), "a"), LogEntry(Term(2), "b")])
        >>> log.last(), log.get(Index(1))
        (Cursor(term=2, index=2), LogEntry(term=1, command='a'))
        """
        items = list(entries)
        if not items:
            return self
        for item in items:
            if type(item) is not LogEntry:
                # Slow path: exactly the checks and conversions of repeated append.
                log = self
                for entry in items:
                    log, _ = log.append(entry.command, entry.term)
                return log
        # Verify every new index is representable (append raises at the first that is not).
        if self.offset + len(self.entries) + len(items) > U64_MAX:
            raise InvalidState(_FULL)
        return self._make(self.entries.extend(items), self.offset, self.last_pruned)

    def truncate(self, at: int) -> LogStore:
        """Drop every entry with index ``>= at`` (storage.rs:162-171).

        If ``at <= offset`` every stored entry is dropped, but the pruned prefix
        stays: ``last()`` then still reports ``last_pruned``, whose index
        (``offset``) is ``>= at`` (H18). ``at`` beyond the end is a no-op.

        >>> log = LogStore().append("a", Term(1))[0].append("b", Term(1))[0]
        >>> log.truncate(Index(2)).last(), log.truncate(Index(9)) is log
        (Cursor(term=1, index=1), True)
        >>> p = log.prune_prefix(Index(1)).truncate(Index(0))
        >>> p.entry_count(), p.last()
        (0, Cursor(term=1, index=1))
        """
        a = _index(at, "at")
        if a <= self.offset:
            if not self.entries:
                return self
            return self._make(_empty_entries(), self.offset, self.last_pruned)
        keep = a - self.offset - 1
        if keep >= len(self.entries):
            return self
        return self._make(self.entries[:keep], self.offset, self.last_pruned)

    def prune_prefix(self, up_to: int) -> LogStore:
        """Drop the entries with index ``<= up_to`` (storage.rs:194-208).

        A no-op if ``up_to <= offset``. Otherwise ``n = min(up_to - offset, len)``
        entries are drained, ``last_pruned`` becomes the cursor of the last drained
        entry and ``offset += n``. Draining zero entries (an empty store) changes
        nothing. Indices of the remaining entries do not change. R7 calls this with
        ``committed - 1``, so the last committed entry stays stored.
        """
        u = _index(up_to, "up_to")
        if u <= self.offset:
            return self
        n = min(u - self.offset, len(self.entries))
        if n == 0:
            return self
        last_drained: LogEntry = self.entries[n - 1]
        new_offset = self.offset + n
        return self._make(
            self.entries[n:], new_offset, Cursor(last_drained.term, Index(new_offset))
        )

    def reset_to(self, cursor: Cursor) -> LogStore:
        """Drop everything; the log now ends at ``cursor`` (storage.rs:210-214, Q12 step 3).

        ``entries := []``, ``offset := cursor.index``, ``last_pruned := cursor``.
        The index may move backwards or forwards: the caller (finalize) decides.
        """
        if not isinstance(cursor, Cursor):
            raise InvalidInput(f"reset_to needs a Cursor, got {cursor!r}")
        return self._make(_empty_entries(), cursor.index, cursor)
