"""Domain types: terms, log indices, cursors, peer ids and half-open item ranges.

Mirrors mosaik ``src/groups/cursor.rs``: ``Term`` and ``Index`` are u64 counters
whose ``next``/``prev`` saturate, and ``Cursor(term, index)`` orders
lexicographically by ``(term, index)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NewType

from impl.errors import InvalidInput, InvalidRange
from impl.ids import UniqueId

__all__ = [
    "U64_MAX",
    "Cursor",
    "Index",
    "ItemRange",
    "PeerId",
    "Term",
    "check_u64",
    "saturating_next",
    "saturating_prev",
]

U64_MAX = (1 << 64) - 1

_HEX = frozenset("0123456789abcdefABCDEF")

Term = NewType("Term", int)
"""Raft term (u64); increases with every election."""

Index = NewType("Index", int)
"""Raft log index (u64); index 0 is the empty prefix, the first entry is 1."""


def check_u64(value: object, what: str) -> int:
    """Return ``value`` if it is an int in ``[0, 2**64)``, else raise :class:`InvalidInput`.

    >>> check_u64(7, "x")
    7
    """
    # Fast path: an exact int in range (bool and other int subclasses take the checks below).
    if type(value) is int and 0 <= value <= U64_MAX:
        return value
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{what} must be an integer, got {type(value).__name__}")
    if not 0 <= value <= U64_MAX:
        raise InvalidInput(f"{what} must be a u64, got {value}")
    return value


def saturating_next(value: int) -> int:
    """Return ``value + 1``, saturating at ``u64::MAX`` (mosaik ``Index::next``).

    >>> saturating_next(3), saturating_next(U64_MAX) == U64_MAX
    (4, True)
    """
    return value + 1 if value < U64_MAX else U64_MAX


def saturating_prev(value: int) -> int:
    """Return ``value - 1``, saturating at 0 (mosaik ``Index::prev``).

    >>> saturating_prev(3), saturating_prev(0)
    (2, 0)
    """
    return value - 1 if value > 0 else 0


@dataclass(frozen=True, slots=True, order=True)
class Cursor:
    """A log position ``(term, index)``, ordered by term first, then index.

    >>> Cursor(Term(1), Index(9)) < Cursor(Term(2), Index(1))
    True
    >>> str(Cursor(Term(2), Index(5)))
    '(t:2,i:5)'
    """

    term: Term
    """Term of the entry at ``index`` (0 for the empty prefix)."""
    index: Index
    """Log index; 0 is the position before the first entry."""

    def __post_init__(self) -> None:
        term, index = self.term, self.index
        # Fast path (cursors are built in every step): two exact ints in range.
        if (
            type(term) is int
            and type(index) is int
            and 0 <= term <= U64_MAX
            and 0 <= index <= U64_MAX
        ):
            return
        check_u64(term, "Cursor.term")
        check_u64(index, "Cursor.index")

    @staticmethod
    def zero() -> Cursor:
        """Return the cursor of the empty log, ``(0, 0)``."""
        return Cursor(Term(0), Index(0))

    def is_zero(self) -> bool:
        """Check if this is the cursor of the empty log."""
        return self.term == 0 and self.index == 0

    def is_behind(self, other: Cursor) -> bool:
        """Check if this cursor orders strictly before ``other``."""
        return self < other

    def __str__(self) -> str:
        return f"(t:{self.term},i:{self.index})"


@dataclass(frozen=True, slots=True, order=True)
class PeerId:
    """A peer's 32-byte identity; ``short()`` is its printable 8-hex-digit prefix.

    >>> p = PeerId.from_label("n0")
    >>> len(p.raw), p.short() == p.raw.hex()[:8]
    (32, True)
    """

    raw: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.raw, bytes) or len(self.raw) != 32:
            got = len(self.raw) if isinstance(self.raw, bytes) else type(self.raw).__name__
            raise InvalidInput(f"PeerId must be 32 bytes, got {got}")

    @staticmethod
    def from_label(label: str) -> PeerId:
        """Derive a deterministic test identity from a label (blake3 of the label)."""
        return PeerId(UniqueId.from_str(label).raw)

    @staticmethod
    def from_hex(text: str) -> PeerId:
        """Parse exactly 64 hex digits (either case; no whitespace, unlike ``bytes.fromhex``)."""
        if not isinstance(text, str) or len(text) != 64 or not all(c in _HEX for c in text):
            raise InvalidInput(f"PeerId hex must be 64 hex digits, got {text!r}")
        return PeerId(bytes.fromhex(text))

    def hex(self) -> str:
        """Return the 64-hex-digit form."""
        return self.raw.hex()

    def short(self) -> str:
        """Return the first 8 hex digits, as mosaik's logs print peers."""
        return self.raw.hex()[:8]

    def __str__(self) -> str:
        return self.short()

    def __repr__(self) -> str:
        return f"PeerId({self.short()})"


@dataclass(frozen=True, slots=True, order=True)
class ItemRange:
    """A half-open range ``[start, end)`` of snapshot item positions (u64).

    An empty range (``start == end``) is valid; inverted or negative bounds are not.

    >>> len(ItemRange(2, 5)), ItemRange(3, 3).is_empty()
    (3, True)
    >>> ItemRange(5, 2)
    Traceback (most recent call last):
    ...
    impl.errors.InvalidRange: invalid item range [5, 2): end is before start
    """

    start: int
    end: int

    def __post_init__(self) -> None:
        for bound in (self.start, self.end):
            if isinstance(bound, bool) or not isinstance(bound, int):
                raise InvalidRange(self.start, self.end, "bounds must be integers")
        if self.start < 0 or self.end < 0:
            raise InvalidRange(self.start, self.end, "negative bound")
        if self.start > U64_MAX or self.end > U64_MAX:
            raise InvalidRange(self.start, self.end, "bound exceeds u64")
        if self.end < self.start:
            raise InvalidRange(self.start, self.end, "end is before start")

    def __len__(self) -> int:
        return self.end - self.start

    def is_empty(self) -> bool:
        """Check if the range holds no position."""
        return self.start == self.end

    def contains(self, position: int) -> bool:
        """Check if ``position`` lies in ``[start, end)``."""
        return self.start <= position < self.end

    def overlaps(self, other: ItemRange) -> bool:
        """Check if the two ranges share a position (an empty range shares none)."""
        return max(self.start, other.start) < min(self.end, other.end)

    def __str__(self) -> str:
        return f"[{self.start},{self.end})"
