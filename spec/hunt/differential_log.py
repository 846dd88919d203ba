"""The log store's differential: :class:`impl.logstore.LogStore` against a naive log.

Random sequences of every public operation of the store (inventory §1.5; mosaik's
``InMemoryLogStore``, storage.rs:97-215) go to the implementation and to
:class:`NaiveLog`, a ``dict`` from logical index to ``(term, command)`` of the stored
entries plus an offset and the last pruned cursor, written for obviousness. The
indices every operation takes are drawn *at the boundaries* — ``0``, ``1``,
``offset - 1``, ``offset``, ``offset + 1``, ``end - 1``, ``end``, ``end + 1``, far past
the end and ``u64::MAX`` — which a group run never reaches: R6 reads only
``committed+1 ..= commit`` (never below the prune offset), R7 prunes only to
``committed - 1``, R4 truncates only above the committed prefix. The semantics each
operation must have there is docs/protocol.md §"Log store" (the inventory's table):

==================  ============================================================================
id                  what must agree
==================  ============================================================================
``D-LOG-APPEND``    ``append``/``extend`` return the next index and store the entry; appending
                    past ``u64::MAX`` raises ``InvalidState`` and changes nothing
``D-LOG-TRUNCATE``  ``truncate(at)`` keeps exactly the entries below ``at``; at or below the
                    offset it empties the store but keeps the offset and ``last_pruned`` (H18)
``D-LOG-PRUNE``     ``prune_prefix(u)`` drains the stored entries ``<= u``; ``last_pruned``
                    is the cursor of the last one drained, the offset its index; a no-op at or
                    below the offset or on an empty store
``D-LOG-RESET``     ``reset_to(c)`` empties the store, offset ``c.index``, ``last_pruned = c``
``D-LOG-GET``       ``get(i)`` is the stored entry or ``None`` (``0``, ``<= offset``, past the
                    end); ``term_at(i)``: ``0 ↦ 0``, ``offset ↦ last_pruned.term`` (0 if none),
                    a stored entry's term, else ``None``
``D-LOG-RANGE``     ``get_range(s, e)`` is exactly the stored entries with ``s <= i <= e`` as
                    ``(term, index, command)``, in order: never an index at or below the offset
                    or past the end, ``()`` when none
``D-LOG-LAST``      ``last()`` (the last stored entry's cursor, else ``last_pruned``, else
                    ``(0, 0)``), ``available()`` (``(offset, end)``), ``end()``, ``entry_count()``
==================  ============================================================================

After every update the store's fields (entries, offset, ``last_pruned``) are compared with
the model's under the update's id, and the store must still pass its own constructor's
invariants (``last_pruned.index == offset``). An operation that raises where the model
does not is a finding under its id. The store has no hazard switch: the machine runs the
same under every profile.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, rule

from impl.errors import InvalidState, SnapshotSyncError
from impl.logstore import LogStore
from impl.messages import LogEntry
from impl.profile import REFERENCE, Profile
from impl.types import U64_MAX, Cursor, Index, Term
from spec.hunt.campaigns import get_campaign
from spec.hunt.stepdiff import StepDifferential, profiled

__all__ = ["DIFF_IDS", "LogDifferential", "NaiveLog", "machine_class"]

DIFF_IDS: tuple[str, ...] = (
    "D-LOG-APPEND",
    "D-LOG-TRUNCATE",
    "D-LOG-PRUNE",
    "D-LOG-RESET",
    "D-LOG-GET",
    "D-LOG-RANGE",
    "D-LOG-LAST",
)
"""Every id the log store's differential checks."""

Pair = tuple[int, int]
"""A cursor as the model keeps it: ``(term, index)``."""


class NaiveLog:
    """The obvious log store (module docstring): stored entries by index, offset, last pruned."""

    def __init__(self) -> None:
        self.stored: dict[int, tuple[int, Any]] = {}
        """Logical index -> ``(term, command)``, for the entries the store still holds."""
        self.offset = 0
        self.last_pruned: Pair | None = None

    def end(self) -> int:
        return max(self.stored, default=self.offset)

    def append(self, command: Any, term: int) -> int | None:
        """Store the entry at ``end + 1`` and return its index; None if that exceeds u64."""
        index = self.end() + 1
        if index > U64_MAX:
            return None
        self.stored[index] = (term, command)
        return index

    def truncate(self, at: int) -> None:
        self.stored = {i: e for i, e in self.stored.items() if i < at}

    def prune_prefix(self, up_to: int) -> None:
        drained = [i for i in self.stored if i <= up_to]
        if not drained:
            return
        last = max(drained)
        self.last_pruned = (self.stored[last][0], last)
        self.offset = last
        for i in drained:
            del self.stored[i]

    def reset_to(self, term: int, index: int) -> None:
        self.stored = {}
        self.offset = index
        self.last_pruned = (term, index)

    def get(self, index: int) -> tuple[int, Any] | None:
        return self.stored.get(index)

    def term_at(self, index: int) -> int | None:
        if index == 0:
            return 0
        if index == self.offset:
            return 0 if self.last_pruned is None else self.last_pruned[0]
        entry = self.stored.get(index)
        return None if entry is None else entry[0]

    def get_range(self, start: int, end: int) -> list[tuple[int, int, Any]]:
        return [
            (self.stored[i][0], i, self.stored[i][1])
            for i in sorted(self.stored)
            if start <= i <= end
        ]

    def last(self) -> Pair:
        if self.stored:
            index = max(self.stored)
            return (self.stored[index][0], index)
        return self.last_pruned if self.last_pruned is not None else (0, 0)


def _pair(cursor: Cursor | None) -> Pair | None:
    return None if cursor is None else (int(cursor.term), int(cursor.index))


class LogDifferential(StepDifferential):
    """:class:`LogStore` against :class:`NaiveLog` (module docstring)."""

    campaign = get_campaign("log-steps")

    def __init__(self) -> None:
        super().__init__()
        self.log = LogStore()
        self.model = NaiveLog()
        self.made = 0

    # -- inputs ---------------------------------------------------------------------------

    def _index(self, data: st.DataObject, label: str) -> int:
        """An index at one of the store's boundaries (module docstring), give or take one."""
        m = self.model
        end = m.end()
        anchors = (0, 1, m.offset, m.offset + 1, end, end + 1, end + 7, U64_MAX)
        base = data.draw(st.sampled_from(anchors), label=f"{label} near")
        return min(max(base + data.draw(st.integers(-1, 1), label=f"{label} by"), 0), U64_MAX)

    def _command(self) -> str:
        self.made += 1
        return f"c{self.made}"

    # -- the comparison after an update -----------------------------------------------------

    def _compare(self, ident: str, what: str) -> None:
        log, m = self.log, self.model
        have = {
            "offset": int(log.offset),
            "last_pruned": _pair(log.last_pruned),
            "entries": [(int(e.term), e.command) for e in log.entries],
        }
        want = {
            "offset": m.offset,
            "last_pruned": m.last_pruned,
            "entries": [m.stored[i] for i in sorted(m.stored)],
        }
        if have != want:
            self._find(ident, f"after {what}: the store has {have!r}, the model {want!r}")
            return
        try:  # the store's own invariants, which its operations build around (_make)
            LogStore(log.entries, log.offset, log.last_pruned)
        except SnapshotSyncError as error:
            self._find(ident, f"after {what}: the store breaks its invariants: {error}")

    def _update(self, ident: str, what: str, op: Any) -> LogStore | None:
        self._count(what)
        try:
            new: LogStore = op()
        except Exception as error:  # a boundary the store does not handle
            self._find(ident, f"{what} raised {type(error).__name__}: {error}")
            return None
        return new

    # -- rules ----------------------------------------------------------------------------

    @initialize(entries=st.integers(0, 5), prune=st.integers(0, 5))
    def setup_log(self, entries: int, prune: int) -> None:
        """Start from ``entries`` appended entries of rising terms, pruned up to ``prune``."""
        self._count(f"setup_log(entries={entries}, prune={prune})")
        for k in range(entries):
            self.append(term=1 + k // 2)
        if prune:
            self.prune_prefix_to(prune)

    @rule(term=st.integers(0, 4))
    def append(self, term: int) -> None:
        """``append(c, term)`` (terms drawn freely: the store does not order them)."""
        command = self._command()
        what = f"append({command!r}, {term})"
        self._count(what)
        want = self.model.append(command, term)
        try:
            log, index = self.log.append(command, Term(term))
        except InvalidState as error:
            if want is not None:
                self._find("D-LOG-APPEND", f"{what} raised {error}")
            return
        except Exception as error:
            self._find("D-LOG-APPEND", f"{what} raised {type(error).__name__}: {error}")
            return
        if want is None:
            self._find("D-LOG-APPEND", f"{what} stored index {index} past u64::MAX")
            return
        self.log = log
        if int(index) != want:
            self._find("D-LOG-APPEND", f"{what} returned {index}, the model {want}")
        self._compare("D-LOG-APPEND", what)

    @rule(terms=st.lists(st.integers(0, 4), min_size=0, max_size=3))
    def extend(self, terms: list[int]) -> None:
        """``extend`` several entries at once: as appending them in turn."""
        batch = [LogEntry(Term(t), self._command()) for t in terms]
        what = f"extend({batch!r})"
        if self.model.end() + len(batch) > U64_MAX:
            return  # the error path is append's (D-LOG-APPEND above)
        new = self._update("D-LOG-APPEND", what, lambda: self.log.extend(batch))
        if new is None:
            return
        for entry in batch:
            self.model.append(entry.command, int(entry.term))
        self.log = new
        self._compare("D-LOG-APPEND", what)

    @rule(data=st.data())
    def truncate(self, data: st.DataObject) -> None:
        """``truncate(at)`` anywhere: above, at and below the offset (H18), past the end."""
        at = self._index(data, "at")
        what = f"truncate({at})"
        new = self._update("D-LOG-TRUNCATE", what, lambda: self.log.truncate(Index(at)))
        if new is None:
            return
        self.log = new
        self.model.truncate(at)
        self._compare("D-LOG-TRUNCATE", what)

    @rule(data=st.data())
    def prune_prefix(self, data: st.DataObject) -> None:
        """``prune_prefix(up_to)`` anywhere: below, at and above the offset, past the end."""
        self.prune_prefix_to(self._index(data, "up_to"))

    def prune_prefix_to(self, up_to: int) -> None:
        what = f"prune_prefix({up_to})"
        new = self._update("D-LOG-PRUNE", what, lambda: self.log.prune_prefix(Index(up_to)))
        if new is None:
            return
        self.log = new
        self.model.prune_prefix(up_to)
        self._compare("D-LOG-PRUNE", what)

    @rule(data=st.data(), term=st.integers(0, 4))
    def reset_to(self, data: st.DataObject, term: int) -> None:
        """``reset_to(cursor)``: forwards, backwards, to ``u64::MAX`` (then append is full)."""
        index = self._index(data, "index")
        what = f"reset_to(Cursor({term}, {index}))"
        cursor = Cursor(Term(term), Index(index))
        new = self._update("D-LOG-RESET", what, lambda: self.log.reset_to(cursor))
        if new is None:
            return
        self.log = new
        self.model.reset_to(term, index)
        self._compare("D-LOG-RESET", what)

    @rule(data=st.data())
    def get(self, data: st.DataObject) -> None:
        """``get(i)`` and ``term_at(i)`` at a boundary index."""
        i = self._index(data, "i")
        self._count(f"get({i}); term_at({i})")
        try:
            entry, term = self.log.get(Index(i)), self.log.term_at(Index(i))
        except Exception as error:
            self._find("D-LOG-GET", f"get/term_at({i}) raised {type(error).__name__}: {error}")
            return
        have = None if entry is None else (int(entry.term), entry.command)
        if have != self.model.get(i):
            self._find("D-LOG-GET", f"get({i}) is {have!r}, the model {self.model.get(i)!r}")
        want = self.model.term_at(i)
        if (None if term is None else int(term)) != want:
            self._find("D-LOG-GET", f"term_at({i}) is {term!r}, the model {want!r}")

    @rule(data=st.data())
    def get_range(self, data: st.DataObject) -> None:
        """``get_range(s, e)`` (inclusive) with both ends at boundaries, inverted ones too."""
        s, e = self._index(data, "start"), self._index(data, "end")
        what = f"get_range({s}, {e})"
        self._count(what)
        try:
            got = self.log.get_range(Index(s), Index(e))
        except Exception as error:
            self._find("D-LOG-RANGE", f"{what} raised {type(error).__name__}: {error}")
            return
        have = [(int(t), int(i), c) for t, i, c in got]
        want = self.model.get_range(s, e)
        if have != want:
            self._find("D-LOG-RANGE", f"{what} is {have!r}, the model {want!r}")

    @rule()
    def observe(self) -> None:
        """``last()``, ``available()``, ``end()`` and ``entry_count()``."""
        self._count("observe()")
        m = self.model
        try:
            have = (
                _pair(self.log.last()),
                tuple(int(x) for x in self.log.available()),
                int(self.log.end()),
                self.log.entry_count(),
            )
        except Exception as error:
            self._find("D-LOG-LAST", f"observe raised {type(error).__name__}: {error}")
            return
        want = (m.last(), (m.offset, m.end()), m.end(), len(m.stored))
        if have != want:
            self._find("D-LOG-LAST", f"(last, available, end, count) {have!r}, model {want!r}")

    # -- invariants -------------------------------------------------------------------------

    @invariant()
    def d_log_append(self) -> None:
        """D-LOG-APPEND: appends agree."""
        self._check("D-LOG-APPEND")

    @invariant()
    def d_log_truncate(self) -> None:
        """D-LOG-TRUNCATE: truncations agree."""
        self._check("D-LOG-TRUNCATE")

    @invariant()
    def d_log_prune(self) -> None:
        """D-LOG-PRUNE: prunes agree, ``last_pruned`` included."""
        self._check("D-LOG-PRUNE")

    @invariant()
    def d_log_reset(self) -> None:
        """D-LOG-RESET: resets agree."""
        self._check("D-LOG-RESET")

    @invariant()
    def d_log_get(self) -> None:
        """D-LOG-GET: ``get`` and ``term_at`` agree."""
        self._check("D-LOG-GET")

    @invariant()
    def d_log_range(self) -> None:
        """D-LOG-RANGE: ``get_range`` agrees."""
        self._check("D-LOG-RANGE")

    @invariant()
    def d_log_last(self) -> None:
        """D-LOG-LAST: ``last``/``available``/``end``/``entry_count`` agree."""
        self._check("D-LOG-LAST")


def machine_class(profile: Profile = REFERENCE) -> type[LogDifferential]:
    """Return the log store's differential under ``profile`` (the store has no switch)."""
    return profiled(LogDifferential, profile)
