"""Map: a replicated key-value map (mosaik ``src/collections/map.rs``; inventory §7).

State: a persistent map sorted by the canonical encoding of the key
(:mod:`~impl.collections.encoding`), each entry holding the item ``(key, value)``.
mosaik keeps an ``im::HashMap`` (map.rs:46-47); the sorted map gives the canonical
snapshot order and O(log n + batch) chunks instead of the HAMT order and O(n) skips
(H13).

Commands (enum ``MapCommand``, map.rs:672-690), each tagged ``"Map.<Command>"``:
``Clear``, ``Insert``, ``CompareExchange``, ``RemoveMany``, ``Extend`` and the shared
``TakeSnapshot``. Every command is counted in the S1 position.

Writer-side no-ops (not state-machine behaviour): mosaik's ``extend`` and
``remove_many`` with an empty input return the current version without issuing a
command (map.rs:291-316); an empty ``Extend``/``RemoveMany`` that reaches the log
anyway is applied as a no-op and counted like any command.

>>> s = MAP.initial()
>>> s = MAP.apply_one(s, MapInsert(2, 20))
>>> s = MAP.apply_one(s, MapExtend(((129, 10), (256, 5))))
>>> MAP.items(s)  # canonical order: 02 < 80 02 < 81 01
((2, 20), (256, 5), (129, 10))
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from impl.collections.apply import apply_s1
from impl.collections.base import ApplyContext, PendingRequest
from impl.collections.encoding import (
    encode,
    is_plain_datum,
    mosaik_wrapped,
    validated,
    validated_entries,
    validated_optional,
    validated_tuple,
)
from impl.collections.pseq import PSortedMap
from impl.errors import InvalidInput, InvalidMessage
from impl.messages import Command, Datum, Item, TakeSnapshot
from impl.profile import REFERENCE, Hazard, Profile
from impl.registry import tagged
from impl.types import ItemRange

__all__ = [
    "MAP",
    "MapClear",
    "MapCommand",
    "MapCompareExchange",
    "MapExtend",
    "MapInsert",
    "MapMachine",
    "MapRemoveMany",
    "MapSnapshot",
    "MapState",
    "compare_matches",
]

_Entries: TypeAlias = PSortedMap[bytes, tuple[Datum, Datum]]


@tagged("Map.Clear")
@dataclass(frozen=True, slots=True)
class MapClear:
    """Remove every entry (map.rs ``MapCommand::Clear``)."""


@tagged("Map.Insert")
@dataclass(frozen=True, slots=True)
class MapInsert:
    """Insert ``key ↦ value``, replacing any previous value (``MapCommand::Insert``)."""

    key: Datum
    value: Datum

    def __post_init__(self) -> None:
        validated(self.key, "key")
        validated(self.value, "value")


@tagged("Map.CompareExchange")
@dataclass(frozen=True, slots=True)
class MapCompareExchange:
    """Set ``key`` to ``new`` (``None`` removes it) iff its current value is ``expected``
    (``None``: the key is absent) (``MapCommand::CompareExchange``, map.rs:571-573 and
    the arms after it): Some/Some exchanges iff :func:`compare_matches`; None/None
    (absent, expected absent) inserts ``new`` if it is ``Some``; any other pairing is
    a no-op. Counted in the position in every case."""

    key: Datum
    expected: Datum | None
    new: Datum | None

    def __post_init__(self) -> None:
        validated(self.key, "key")
        validated_optional(self.expected, "expected")
        validated_optional(self.new, "new")


@tagged("Map.RemoveMany")
@dataclass(frozen=True, slots=True)
class MapRemoveMany:
    """Remove each of ``keys`` that is present (``MapCommand::RemoveMany``)."""

    keys: tuple[Datum, ...]

    def __post_init__(self) -> None:
        validated_tuple(self.keys, "keys")


@tagged("Map.Extend")
@dataclass(frozen=True, slots=True)
class MapExtend:
    """Insert each ``(key, value)`` in order; later entries win (``MapCommand::Extend``)."""

    entries: tuple[tuple[Datum, Datum], ...]

    def __post_init__(self) -> None:
        validated_entries(self.entries, "entries", 2)


MapCommand: TypeAlias = (
    MapClear | MapInsert | MapCompareExchange | MapRemoveMany | MapExtend | TakeSnapshot
)


def compare_matches(current: Datum, expected: Datum, profile: Profile) -> bool:
    """Check if a ``Some(expected)`` compare-exchange matches the present ``current``.

    H5 on (mosaik, map.rs:571-573, cell.rs:427-429): mosaik compares ``current``'s
    bytes with the bytes of the ``Encoded<V>`` wrapper of ``expected``, which carry a
    length prefix, so the match almost never happens. This function reproduces that
    comparison byte for byte.

    Spec decision (H5 off, reference): the canonical encodings are equal, i.e. the
    values are equal. That is what mosaik's API documents ("update the value ... if
    and only if the current value matches ``expected``") and what DEPQ already does
    (depq.rs:878); it makes Some→Some compare-exchange work (inventory §6.6
    ``compare_exchange_catchup``). Not a sync hazard: both profiles stay deterministic.

    >>> compare_matches(10, 10, REFERENCE)
    True
    >>> from impl.profile import MOSAIK_0_3_13
    >>> compare_matches(10, 10, MOSAIK_0_3_13), compare_matches("\\x01a", "a", MOSAIK_0_3_13)
    (False, True)
    """
    if profile.has(Hazard.H5):
        return encode(current) == mosaik_wrapped(encode(expected))
    return encode(current) == encode(expected)


@tagged("Map.State")
@dataclass(frozen=True, slots=True)
class MapState:
    """The map's entries, sorted by the canonical encoding of the key."""

    entries: _Entries

    def __post_init__(self) -> None:
        if not isinstance(self.entries, PSortedMap):
            raise InvalidInput("MapState.entries must be a PSortedMap")

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, key: Datum) -> Datum | None:
        """Return the value of ``key``, or ``None`` if absent."""
        entry = self.entries.get(encode(key))
        return None if entry is None else entry[1]


@tagged("Map.Snapshot")
@dataclass(frozen=True, slots=True)
class MapSnapshot:
    """A Map snapshot (mosaik ``MapSnapshot``): items ``(key, value)`` in canonical order."""

    entries: _Entries

    def __len__(self) -> int:
        return len(self.entries)

    def iter_range(self, r: ItemRange) -> tuple[Item, ...] | None:
        """Return the items of ``r``, or ``None`` if ``r.end > len`` (map.rs:712-729).

        O(log n + len(r)) by rank, where mosaik skips ``r.start`` items of its HAMT.
        """
        if not isinstance(r, ItemRange):
            raise InvalidInput(f"iter_range needs an ItemRange, got {type(r).__name__}")
        if r.end > len(self.entries):
            return None
        return self.entries.slice_values(r.start, r.end)

    def append(self, items: Sequence[Item]) -> MapSnapshot:
        """Return a snapshot with ``items`` inserted; a duplicate key keeps the later
        value, as mosaik's ``data.extend`` does (map.rs:731-733)."""
        pairs = []
        for i, item in enumerate(items):
            if type(item) is not tuple or len(item) != 2:
                raise InvalidMessage(f"items[{i}]", "a Map item is a (key, value) tuple")
            key, value = item
            if not is_plain_datum(value):  # the field name is built only when needed
                validated(value, f"items[{i}][1]")
            try:
                pairs.append((encode(key), item))
            except InvalidInput as exc:
                raise InvalidMessage(f"items[{i}][0]", str(exc)) from None
        return MapSnapshot(self.entries.extend_sorted(pairs))


class MapMachine:
    """The Map state machine (mosaik ``MapStateMachine``)."""

    kind: str = "map"

    def initial(self) -> MapState:
        """Return the empty map."""
        return MapState(PSortedMap.empty())

    def apply_one(
        self, state: MapState, command: Command, profile: Profile = REFERENCE
    ) -> MapState:
        """Apply one data command (see :meth:`step`)."""
        return self.step(state, command, profile)[0]

    def step(
        self, state: MapState, command: Command, profile: Profile = REFERENCE
    ) -> tuple[MapState, bool]:
        """Apply one data command (one arm of map.rs:554-638; see the command classes);
        S1 counts it (always).

        Raises :class:`~impl.errors.InvalidMessage` for an object that is not a Map
        data command.
        """
        _check_state(state)
        return self._step(state, command, profile)

    def _step(self, state: MapState, command: Command, profile: Profile) -> tuple[MapState, bool]:
        """:meth:`step` for a state already known to be a :class:`MapState` (S1's loop)."""
        entries = state.entries
        if type(command) is MapInsert:  # the common command first, by exact type
            return MapState(entries.set(encode(command.key), (command.key, command.value))), True
        if isinstance(command, MapInsert):
            entries = entries.set(encode(command.key), (command.key, command.value))
        elif isinstance(command, MapExtend):
            for key, value in command.entries:
                entries = entries.set(encode(key), (key, value))
        elif isinstance(command, MapRemoveMany):
            for key in command.keys:
                entries = entries.remove(encode(key))
        elif isinstance(command, MapCompareExchange):
            key_bytes = encode(command.key)
            present = entries.get(key_bytes)
            if present is not None and command.expected is not None:
                # Some/Some: exchange iff the values match (H5 decides how they compare).
                if not compare_matches(present[1], command.expected, profile):
                    return state, True
            elif present is not None or command.expected is not None:
                # Some/None or None/Some: the expectation is wrong; no change.
                return state, True
            if command.new is None:
                entries = entries.remove(key_bytes)
            else:
                entries = entries.set(key_bytes, (command.key, command.new))
        elif isinstance(command, MapClear):
            entries = PSortedMap.empty()
        else:
            raise InvalidMessage("command", f"{type(command).__name__} is not a Map command")
        return MapState(entries), True

    def apply_batch(
        self,
        state: MapState,
        commands: Sequence[Command],
        ctx: ApplyContext,
        profile: Profile,
    ) -> tuple[MapState, tuple[PendingRequest, ...]]:
        """S1 for Map (map.rs:554-638): every command counts; see
        :func:`impl.collections.apply.apply_s1`."""
        _check_state(state)
        return apply_s1(state, commands, ctx, profile, self._step, self.create_snapshot)

    def create_snapshot(self, state: MapState, profile: Profile = REFERENCE) -> MapSnapshot:
        """S3: O(1): the snapshot shares the state's persistent entries (map.rs:458-462)."""
        _check_state(state)
        return MapSnapshot(state.entries)

    def install_snapshot(self, state: MapState, snapshot: Any) -> MapState:
        """S2: the state becomes the snapshot's entries (map.rs:464-467)."""
        _check_state(state)
        if not isinstance(snapshot, MapSnapshot):
            raise InvalidInput(f"not a Map snapshot: {type(snapshot).__name__}")
        return MapState(snapshot.entries)

    def empty_snapshot(self, profile: Profile = REFERENCE) -> MapSnapshot:
        """Return ``MapSnapshot::default()``."""
        return MapSnapshot(PSortedMap.empty())

    def items(self, state: MapState) -> tuple[Item, ...]:
        """Return every ``(key, value)`` in canonical order."""
        _check_state(state)
        return tuple(state.entries.values())


def _check_state(state: object) -> None:
    if not isinstance(state, MapState):
        raise InvalidInput(f"not a Map state: {type(state).__name__}")


MAP = MapMachine()
"""The Map state machine (``COLLECTIONS["map"]``)."""
