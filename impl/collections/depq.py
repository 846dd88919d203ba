"""DEPQ: a replicated double-ended priority queue (mosaik ``src/collections/depq.rs``;
inventory §7).

Entries are ``(priority, key, value)`` with unique keys. State: two persistent sorted
maps, as mosaik keeps two indexes (``PriorityQueueSnapshot{by_key, by_priority}``,
depq.rs:730-743):

* ``by_key``: canonical encoding of the key → the item ``(priority, key, value)``;
  the snapshot serves this one, so items are in canonical key order (mosaik: HAMT
  order of ``by_key``, depq.rs:1115-1131, H13).
* ``by_priority``: ``(priority_key(priority), encoded key)`` → ``None``; it orders
  entries by priority, ties by canonical key order, for min/max, eviction and
  ``RemoveRange``.

Commands (enum ``DepqCommand``, depq.rs:1021-1048), each tagged ``"Depq.<Command>"``:
``Clear``, ``Insert``, ``Extend``, ``UpdatePriority``, ``UpdateValue``,
``CompareExchangeValue``, ``RemoveKeys``, ``RemoveRange`` and the shared
``TakeSnapshot``.

Capacity (``CAP`` const, default ``u64::MAX``; it enters the signature): after every
insert, while there are more than ``CAP`` entries, the entry with the minimum priority
is evicted (depq.rs:777-827). mosaik breaks a tie between equal minimum priorities by
the first key of that bucket's ``HashMap`` iteration; the spec decision here is the
**smallest canonical key** (deterministic on every platform). ``append`` does not
enforce CAP, as in mosaik (depq.rs:1134-1146): a snapshot is a state that already
satisfies it.

Position (H4): a ``CompareExchangeValue`` whose key is present but whose value does
not match does ``continue`` in mosaik, skipping ``commands_len += 1`` (depq.rs:879,
937), so the snapshot position is short by the number of such commands while the
snapshot reflects the whole batch. The reference counts every command (I15), which
restores "snapshot at (t, i) equals the fold of the log up to i" (I1, I10).

Writer-side no-ops (not state-machine behaviour): ``extend`` and ``remove_keys`` with
an empty input issue no command; an empty one that reaches the log is a counted no-op.

>>> s = DEPQ.initial()
>>> s = DEPQ.apply_one(s, DepqExtend(((10, 1, 100), (20, 2, 200), (5, 3, 300))))
>>> s.get_min(), s.get_max()
((5, 3, 300), (20, 2, 200))
>>> s = DEPQ.apply_one(s, DepqRemoveRange(Bound.included(5), Bound.excluded(20)))
>>> DEPQ.items(s)
((20, 2, 200),)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeAlias

from impl.collections.apply import apply_s1
from impl.collections.base import ApplyContext, PendingRequest
from impl.collections.encoding import (
    encode,
    priority_key,
    validated,
    validated_entries,
    validated_optional,
    validated_tuple,
)
from impl.collections.pseq import TOP, PSortedMap
from impl.errors import InvalidInput, InvalidMessage
from impl.messages import Command, Datum, Item, TakeSnapshot
from impl.profile import REFERENCE, Hazard, Profile
from impl.registry import tagged
from impl.types import U64_MAX, ItemRange, check_u64

__all__ = [
    "DEPQ",
    "Bound",
    "BoundKind",
    "DepqClear",
    "DepqCommand",
    "DepqCompareExchangeValue",
    "DepqExtend",
    "DepqInsert",
    "DepqMachine",
    "DepqRemoveKeys",
    "DepqRemoveRange",
    "DepqSnapshot",
    "DepqState",
    "DepqUpdatePriority",
    "DepqUpdateValue",
]

_ByKey: TypeAlias = PSortedMap[bytes, tuple[Datum, Datum, Datum]]
_ByPriority: TypeAlias = PSortedMap[tuple[Any, bytes], None]


class BoundKind(StrEnum):
    """mosaik ``SerBound`` variants (a serialisable ``core::ops::Bound``)."""

    INCLUDED = "included"
    EXCLUDED = "excluded"
    UNBOUNDED = "unbounded"


@tagged("Depq.Bound")
@dataclass(frozen=True, slots=True)
class Bound:
    """One end of a priority range: ``Included(p)``, ``Excluded(p)`` or ``Unbounded``."""

    kind: BoundKind
    value: Datum | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.kind, BoundKind):
            raise InvalidMessage("kind", f"must be a BoundKind, got {self.kind!r}")
        if self.kind is BoundKind.UNBOUNDED:
            if self.value is not None:
                raise InvalidMessage("value", "an unbounded bound carries no value")
        else:
            validated(self.value, "value")

    @staticmethod
    def included(value: Datum) -> Bound:
        """Return ``Included(value)``."""
        return Bound(BoundKind.INCLUDED, value)

    @staticmethod
    def excluded(value: Datum) -> Bound:
        """Return ``Excluded(value)``."""
        return Bound(BoundKind.EXCLUDED, value)

    @staticmethod
    def unbounded() -> Bound:
        """Return ``Unbounded``."""
        return Bound(BoundKind.UNBOUNDED)


@tagged("Depq.Clear")
@dataclass(frozen=True, slots=True)
class DepqClear:
    """Remove every entry (``DepqCommand::Clear``)."""


@tagged("Depq.Insert")
@dataclass(frozen=True, slots=True)
class DepqInsert:
    """Insert or replace ``key`` with ``(priority, value)``, then evict down to CAP."""

    priority: Datum
    key: Datum
    value: Datum

    def __post_init__(self) -> None:
        validated(self.priority, "priority")
        validated(self.key, "key")
        validated(self.value, "value")


@tagged("Depq.Extend")
@dataclass(frozen=True, slots=True)
class DepqExtend:
    """Insert each ``(priority, key, value)`` in order, each followed by eviction."""

    entries: tuple[tuple[Datum, Datum, Datum], ...]

    def __post_init__(self) -> None:
        validated_entries(self.entries, "entries", 3)


@tagged("Depq.UpdatePriority")
@dataclass(frozen=True, slots=True)
class DepqUpdatePriority:
    """Move a present ``key`` to ``priority`` (value kept); a no-op if absent."""

    key: Datum
    priority: Datum

    def __post_init__(self) -> None:
        validated(self.key, "key")
        validated(self.priority, "priority")


@tagged("Depq.UpdateValue")
@dataclass(frozen=True, slots=True)
class DepqUpdateValue:
    """Replace a present ``key``'s value (priority kept); a no-op if absent."""

    key: Datum
    value: Datum

    def __post_init__(self) -> None:
        validated(self.key, "key")
        validated(self.value, "value")


@tagged("Depq.CompareExchangeValue")
@dataclass(frozen=True, slots=True)
class DepqCompareExchangeValue:
    """If ``key`` is present with value ``expected``: set it to ``new`` (priority kept) or
    remove it (``new is None``). Absent key: a no-op. Present with another value: a
    no-op that mosaik does not count (H4, depq.rs:879). Values compare by their
    canonical encodings in both profiles (depq.rs:878 compares ``V`` with ``V``)."""

    key: Datum
    expected: Datum
    new: Datum | None

    def __post_init__(self) -> None:
        validated(self.key, "key")
        validated(self.expected, "expected")
        validated_optional(self.new, "new")


@tagged("Depq.RemoveKeys")
@dataclass(frozen=True, slots=True)
class DepqRemoveKeys:
    """Remove each of ``keys`` that is present (``DepqCommand::RemoveKeys``)."""

    keys: tuple[Datum, ...]

    def __post_init__(self) -> None:
        validated_tuple(self.keys, "keys")


@tagged("Depq.RemoveRange")
@dataclass(frozen=True, slots=True)
class DepqRemoveRange:
    """Remove every entry whose priority lies within ``(start, end)`` as Rust's
    ``RangeBounds::contains`` decides: an inverted range removes nothing."""

    start: Bound
    end: Bound

    def __post_init__(self) -> None:
        if not isinstance(self.start, Bound):
            raise InvalidMessage("start", "must be a Bound")
        if not isinstance(self.end, Bound):
            raise InvalidMessage("end", "must be a Bound")


DepqCommand: TypeAlias = (
    DepqClear
    | DepqInsert
    | DepqExtend
    | DepqUpdatePriority
    | DepqUpdateValue
    | DepqCompareExchangeValue
    | DepqRemoveKeys
    | DepqRemoveRange
    | TakeSnapshot
)


@tagged("Depq.State")
@dataclass(frozen=True, slots=True)
class DepqState:
    """The queue's two indexes (see the module docstring)."""

    by_key: _ByKey
    by_priority: _ByPriority

    def __post_init__(self) -> None:
        if not isinstance(self.by_key, PSortedMap) or not isinstance(self.by_priority, PSortedMap):
            raise InvalidInput("DepqState indexes must be PSortedMaps")
        if len(self.by_key) != len(self.by_priority):
            raise InvalidInput("DepqState indexes disagree in length")

    def __len__(self) -> int:
        return len(self.by_key)

    def get(self, key: Datum) -> tuple[Datum, Datum, Datum] | None:
        """Return the entry ``(priority, key, value)`` of ``key``, or ``None``."""
        return self.by_key.get(encode(key))

    def get_min(self) -> tuple[Datum, Datum, Datum] | None:
        """Return the entry with the minimum priority (ties: smallest canonical key)."""
        first = self.by_priority.min_item()
        return None if first is None else self.by_key.get(first[0][1])

    def get_max(self) -> tuple[Datum, Datum, Datum] | None:
        """Return the entry with the maximum priority (ties: smallest canonical key,
        i.e. the first key of the top bucket, as mosaik takes the bucket's first key)."""
        last = self.by_priority.max_item()
        if last is None:
            return None
        rank = self.by_priority.bisect_left((last[0][0],))
        return self.by_key.get(self.by_priority.at(rank)[0][1])


def _insert(state: DepqState, priority: Datum, key: Datum, value: Datum, cap: int) -> DepqState:
    """``apply_insert`` (depq.rs:777-827): drop the key's old priority entry, insert into
    both indexes, then evict minimum-priority entries while above ``cap``."""
    key_bytes = encode(key)
    by_key, by_priority = state.by_key, state.by_priority
    old = by_key.get(key_bytes)
    if old is not None:
        by_priority = by_priority.remove((priority_key(old[0]), key_bytes))
    by_key = by_key.set(key_bytes, (priority, key, value))
    by_priority = by_priority.set((priority_key(priority), key_bytes), None)
    while len(by_key) > cap:
        lowest = by_priority.min_item()
        if lowest is None:  # unreachable: len(by_key) > cap >= 0 entries
            break
        by_priority = by_priority.remove(lowest[0])
        by_key = by_key.remove(lowest[0][1])
    return DepqState(by_key, by_priority)


def _remove(state: DepqState, key_bytes: bytes) -> DepqState:
    """``apply_remove``: drop the key from both indexes (no-op if absent)."""
    old = state.by_key.get(key_bytes)
    if old is None:
        return state
    return DepqState(
        state.by_key.remove(key_bytes),
        state.by_priority.remove((priority_key(old[0]), key_bytes)),
    )


def _range_ranks(by_priority: _ByPriority, start: Bound, end: Bound) -> tuple[int, int]:
    """Return the ranks ``[lo, hi)`` of ``by_priority`` whose priority lies in the range.

    Keys are ``(pk, key_bytes)``: ``(pk,)`` sorts before every key of priority ``pk``
    and ``(pk, TOP)`` after all of them.
    """
    if start.kind is BoundKind.UNBOUNDED:
        lo = 0
    else:
        pk = priority_key(start.value)  # type: ignore[arg-type]
        probe = (pk,) if start.kind is BoundKind.INCLUDED else (pk, TOP)
        lo = by_priority.bisect_left(probe)
    if end.kind is BoundKind.UNBOUNDED:
        hi = len(by_priority)
    else:
        pk = priority_key(end.value)  # type: ignore[arg-type]
        probe = (pk, TOP) if end.kind is BoundKind.INCLUDED else (pk,)
        hi = by_priority.bisect_left(probe)
    return lo, hi


@tagged("Depq.Snapshot")
@dataclass(frozen=True, slots=True)
class DepqSnapshot:
    """A DEPQ snapshot: items ``(priority, key, value)`` in canonical key order."""

    state: DepqState

    def __len__(self) -> int:
        return len(self.state.by_key)

    def iter_range(self, r: ItemRange) -> tuple[Item, ...] | None:
        """Return the items of ``r``, or ``None`` if ``r.end > len`` (depq.rs:1115-1131)."""
        if not isinstance(r, ItemRange):
            raise InvalidInput(f"iter_range needs an ItemRange, got {type(r).__name__}")
        if r.end > len(self.state.by_key):
            return None
        return self.state.by_key.slice_values(r.start, r.end)

    def append(self, items: Sequence[Item]) -> DepqSnapshot:
        """Return a snapshot with ``items`` inserted into both indexes; CAP is not
        enforced (depq.rs:1134-1146). A repeated key replaces its entry (mosaik would
        leave the old priority bucket entry behind; honest snapshots have unique keys)."""
        state = self.state
        for i, item in enumerate(items):
            if type(item) is not tuple or len(item) != 3:
                raise InvalidMessage(f"items[{i}]", "a DEPQ item is a (priority, key, value) tuple")
            for j, part in enumerate(item):
                validated(part, f"items[{i}][{j}]")
            priority, key, value = item
            state = _insert(state, priority, key, value, U64_MAX)
        return DepqSnapshot(state)


class DepqMachine:
    """The DEPQ state machine (mosaik ``DepqStateMachine``) with capacity ``capacity``.

    >>> DepqMachine(capacity=2).capacity
    2
    """

    kind: str = "depq"

    def __init__(self, capacity: int = U64_MAX) -> None:
        """Build a DEPQ machine whose ``CAP`` is ``capacity`` (a u64)."""
        self.capacity = check_u64(capacity, "DEPQ capacity")

    def initial(self) -> DepqState:
        """Return the empty queue."""
        return DepqState(PSortedMap.empty(), PSortedMap.empty())

    def apply_one(
        self, state: DepqState, command: Command, profile: Profile = REFERENCE
    ) -> DepqState:
        """Apply one data command; see :meth:`step` (which also reports the count)."""
        return self.step(state, command, profile)[0]

    def step(self, state: DepqState, command: Command, profile: Profile) -> tuple[DepqState, bool]:
        """Apply one data command (one arm of depq.rs's ``apply_batch``) and return
        whether S1 counts it: always, except a mismatching ``CompareExchangeValue``
        under H4 (depq.rs:879 ``continue`` skips depq.rs:937)."""
        _check_state(state)
        cap = self.capacity
        if isinstance(command, DepqInsert):
            return _insert(state, command.priority, command.key, command.value, cap), True
        if isinstance(command, DepqExtend):
            for priority, key, value in command.entries:
                state = _insert(state, priority, key, value, cap)
            return state, True
        if isinstance(command, DepqUpdatePriority):
            old = state.get(command.key)
            if old is None:
                return state, True
            return _insert(state, command.priority, command.key, old[2], cap), True
        if isinstance(command, DepqUpdateValue):
            old = state.get(command.key)
            if old is None:
                return state, True
            return _insert(state, old[0], command.key, command.value, cap), True
        if isinstance(command, DepqCompareExchangeValue):
            old = state.get(command.key)
            if old is None:
                return state, True
            # Verify the current value is the expected one
            if encode(old[2]) != encode(command.expected):
                return state, not profile.has(Hazard.H4)
            if command.new is None:
                return _remove(state, encode(command.key)), True
            return _insert(state, old[0], command.key, command.new, cap), True
        if isinstance(command, DepqRemoveKeys):
            for key in command.keys:
                state = _remove(state, encode(key))
            return state, True
        if isinstance(command, DepqRemoveRange):
            lo, hi = _range_ranks(state.by_priority, command.start, command.end)
            for _, key_bytes in state.by_priority.slice_keys(lo, hi):
                state = _remove(state, key_bytes)
            return state, True
        if isinstance(command, DepqClear):
            return self.initial(), True
        raise InvalidMessage("command", f"{type(command).__name__} is not a DEPQ command")

    def apply_batch(
        self,
        state: DepqState,
        commands: Sequence[Command],
        ctx: ApplyContext,
        profile: Profile,
    ) -> tuple[DepqState, tuple[PendingRequest, ...]]:
        """S1 for DEPQ (depq.rs:951-965 for the position): under H4 a mismatching
        ``CompareExchangeValue`` is not counted, so the position is short by their
        number; the reference counts every command."""
        _check_state(state)
        return apply_s1(state, commands, ctx, profile, self.step, self.create_snapshot)

    def create_snapshot(self, state: DepqState, profile: Profile = REFERENCE) -> DepqSnapshot:
        """S3: O(1), shares both persistent indexes."""
        _check_state(state)
        return DepqSnapshot(state)

    def install_snapshot(self, state: DepqState, snapshot: Any) -> DepqState:
        """S2: the state becomes the snapshot's indexes."""
        _check_state(state)
        if not isinstance(snapshot, DepqSnapshot):
            raise InvalidInput(f"not a DEPQ snapshot: {type(snapshot).__name__}")
        return snapshot.state

    def empty_snapshot(self, profile: Profile = REFERENCE) -> DepqSnapshot:
        """Return ``PriorityQueueSnapshot::default()``."""
        return DepqSnapshot(self.initial())

    def items(self, state: DepqState) -> tuple[Item, ...]:
        """Return every ``(priority, key, value)`` in canonical key order."""
        _check_state(state)
        return tuple(state.by_key.values())


def _check_state(state: object) -> None:
    if not isinstance(state, DepqState):
        raise InvalidInput(f"not a DEPQ state: {type(state).__name__}")


DEPQ = DepqMachine()
"""The DEPQ state machine with ``CAP = u64::MAX`` (``COLLECTIONS["depq"]``)."""
