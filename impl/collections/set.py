"""Set: a replicated set of values (mosaik ``src/collections/set.rs``; inventory §7).

State: a persistent map from the canonical encoding of each value to the value
(:mod:`~impl.collections.encoding`); mosaik keeps an ``im::HashSet`` (set.rs:43) and
serves chunks in its HAMT order with an O(n) skip (set.rs:606-623, H13).

Commands (enum ``SetCommand``, set.rs:578-584), each tagged ``"Set.<Command>"``:
``Clear``, ``Insert``, ``RemoveMany``, ``Extend`` and the shared ``TakeSnapshot``.
Every command is counted in the S1 position (set.rs:515-529).

Writer-side no-ops (not state-machine behaviour): an empty ``extend``/``remove_many``
issues no command (as for Map, map.rs:291-316); an empty one that reaches the log is
applied as a no-op and counted.

>>> s = SET.apply_one(SET.initial(), SetExtend((3, 1, 3)))
>>> SET.items(SET.apply_one(s, SetRemoveMany((1, 99))))
(3,)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from impl.collections.apply import apply_s1
from impl.collections.base import ApplyContext, PendingRequest
from impl.collections.encoding import encode, validated, validated_tuple
from impl.collections.pseq import PSortedMap
from impl.errors import InvalidInput, InvalidMessage
from impl.messages import Command, Datum, Item, TakeSnapshot
from impl.profile import REFERENCE, Profile
from impl.registry import tagged
from impl.types import ItemRange

__all__ = [
    "SET",
    "SetClear",
    "SetCommand",
    "SetExtend",
    "SetInsert",
    "SetMachine",
    "SetRemoveMany",
    "SetSnapshot",
    "SetState",
]

_Members: TypeAlias = PSortedMap[bytes, Datum]


@tagged("Set.Clear")
@dataclass(frozen=True, slots=True)
class SetClear:
    """Remove every value (``SetCommand::Clear``)."""


@tagged("Set.Insert")
@dataclass(frozen=True, slots=True)
class SetInsert:
    """Add ``value`` (a no-op if present) (``SetCommand::Insert``)."""

    value: Datum

    def __post_init__(self) -> None:
        validated(self.value, "value")


@tagged("Set.RemoveMany")
@dataclass(frozen=True, slots=True)
class SetRemoveMany:
    """Remove each of ``values`` that is present (``SetCommand::RemoveMany``)."""

    values: tuple[Datum, ...]

    def __post_init__(self) -> None:
        validated_tuple(self.values, "values")


@tagged("Set.Extend")
@dataclass(frozen=True, slots=True)
class SetExtend:
    """Add each of ``entries`` (``SetCommand::Extend``)."""

    entries: tuple[Datum, ...]

    def __post_init__(self) -> None:
        validated_tuple(self.entries, "entries")


SetCommand: TypeAlias = SetClear | SetInsert | SetRemoveMany | SetExtend | TakeSnapshot


@tagged("Set.State")
@dataclass(frozen=True, slots=True)
class SetState:
    """The set's values, sorted by their canonical encoding."""

    members: _Members

    def __post_init__(self) -> None:
        if not isinstance(self.members, PSortedMap):
            raise InvalidInput("SetState.members must be a PSortedMap")

    def __len__(self) -> int:
        return len(self.members)

    def contains(self, value: Datum) -> bool:
        """Check if ``value`` is a member."""
        return encode(value) in self.members


@tagged("Set.Snapshot")
@dataclass(frozen=True, slots=True)
class SetSnapshot:
    """A Set snapshot (mosaik ``SetSnapshot``): the values in canonical order."""

    members: _Members

    def __len__(self) -> int:
        return len(self.members)

    def iter_range(self, r: ItemRange) -> tuple[Item, ...] | None:
        """Return the items of ``r``, or ``None`` if ``r.end > len`` (set.rs:606-623)."""
        if not isinstance(r, ItemRange):
            raise InvalidInput(f"iter_range needs an ItemRange, got {type(r).__name__}")
        if r.end > len(self.members):
            return None
        return self.members.slice_values(r.start, r.end)

    def append(self, items: Sequence[Item]) -> SetSnapshot:
        """Return a snapshot with ``items`` added; duplicates collapse (set.rs:625-627)."""
        pairs = []
        for i, item in enumerate(items):
            try:
                pairs.append((encode(item), item))
            except InvalidInput as exc:
                raise InvalidMessage(f"items[{i}]", str(exc)) from None
        return SetSnapshot(self.members.extend_sorted(pairs))


class SetMachine:
    """The Set state machine (mosaik ``SetStateMachine``)."""

    kind: str = "set"

    def initial(self) -> SetState:
        """Return the empty set."""
        return SetState(PSortedMap.empty())

    def apply_one(
        self, state: SetState, command: Command, profile: Profile = REFERENCE
    ) -> SetState:
        """Apply one data command (see :meth:`step`)."""
        return self.step(state, command, profile)[0]

    def step(
        self, state: SetState, command: Command, profile: Profile = REFERENCE
    ) -> tuple[SetState, bool]:
        """Apply one data command (one arm of set.rs's ``apply_batch``); S1 counts it
        (always)."""
        _check_state(state)
        members = state.members
        if isinstance(command, SetInsert):
            members = members.set(encode(command.value), command.value)
        elif isinstance(command, SetExtend):
            for value in command.entries:
                members = members.set(encode(value), value)
        elif isinstance(command, SetRemoveMany):
            for value in command.values:
                members = members.remove(encode(value))
        elif isinstance(command, SetClear):
            members = PSortedMap.empty()
        else:
            raise InvalidMessage("command", f"{type(command).__name__} is not a Set command")
        return SetState(members), True

    def apply_batch(
        self,
        state: SetState,
        commands: Sequence[Command],
        ctx: ApplyContext,
        profile: Profile,
    ) -> tuple[SetState, tuple[PendingRequest, ...]]:
        """S1 for Set (set.rs:515-529 for the position): every command counts."""
        _check_state(state)
        return apply_s1(state, commands, ctx, profile, self.step, self.create_snapshot)

    def create_snapshot(self, state: SetState, profile: Profile = REFERENCE) -> SetSnapshot:
        """S3: O(1), shares the state's persistent members."""
        _check_state(state)
        return SetSnapshot(state.members)

    def install_snapshot(self, state: SetState, snapshot: Any) -> SetState:
        """S2: the state becomes the snapshot's members."""
        _check_state(state)
        if not isinstance(snapshot, SetSnapshot):
            raise InvalidInput(f"not a Set snapshot: {type(snapshot).__name__}")
        return SetState(snapshot.members)

    def empty_snapshot(self, profile: Profile = REFERENCE) -> SetSnapshot:
        """Return ``SetSnapshot::default()``."""
        return SetSnapshot(PSortedMap.empty())

    def items(self, state: SetState) -> tuple[Item, ...]:
        """Return every value in canonical order."""
        _check_state(state)
        return tuple(state.members.values())


def _check_state(state: object) -> None:
    if not isinstance(state, SetState):
        raise InvalidInput(f"not a Set state: {type(state).__name__}")


SET = SetMachine()
"""The Set state machine (``COLLECTIONS["set"]``)."""
