"""Cell: a replicated single value (mosaik ``src/collections/cell.rs``; inventory §7).

State: ``Option<T>`` (cell.rs:363-371). The snapshot holds 0 or 1 item.

Commands (enum ``CellCommand``, cell.rs:524-534), each tagged ``"Cell.<Command>"``:
``Write``, ``CompareExchange`` (H5), ``Clear`` and the shared ``TakeSnapshot``. Every
command is counted in the S1 position (cell.rs:461-475).

``iter_range`` (H28): mosaik returns the 0 or 1 item for any range that contains
position 0 and ``None`` otherwise, ignoring the range end (cell.rs:554-563). The
reference follows the Snapshot contract (I3): ``None`` iff ``r.end > len``, else
exactly the items of ``r``. Snapshots made through a profile carry that choice.

>>> s = CELL.apply_one(CELL.initial(), CellWrite(1))
>>> s = CELL.apply_one(s, CellCompareExchange(1, 2))
>>> s.value
2
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Self, TypeAlias

from impl.collections.apply import apply_s1
from impl.collections.base import ApplyContext, PendingRequest
from impl.collections.encoding import validated, validated_optional
from impl.collections.map import compare_matches
from impl.errors import InvalidInput, InvalidMessage
from impl.messages import Command, Datum, Item, TakeSnapshot
from impl.profile import REFERENCE, Hazard, Profile
from impl.registry import tagged
from impl.types import ItemRange

__all__ = [
    "CELL",
    "CellClear",
    "CellCommand",
    "CellCompareExchange",
    "CellMachine",
    "CellSnapshot",
    "CellState",
    "CellWrite",
    "option_append",
    "option_iter_range",
]


@tagged("Cell.Write")
@dataclass(frozen=True, slots=True)
class CellWrite:
    """Set the value (``CellCommand::Write``)."""

    value: Datum

    def __post_init__(self) -> None:
        validated(self.value, "value")


@tagged("Cell.CompareExchange")
@dataclass(frozen=True, slots=True)
class CellCompareExchange:
    """Set the value to ``new`` (``None`` clears) iff it currently is ``current``
    (``None``: empty) (cell.rs:427-429). Both ``None`` match; a ``Some`` expectation
    matches per :func:`~impl.collections.map.compare_matches` (H5: never, in effect,
    under mosaik)."""

    current: Datum | None
    new: Datum | None

    def __post_init__(self) -> None:
        validated_optional(self.current, "current")
        validated_optional(self.new, "new")


@tagged("Cell.Clear")
@dataclass(frozen=True, slots=True)
class CellClear:
    """Empty the cell (``CellCommand::Clear``)."""


CellCommand: TypeAlias = CellWrite | CellCompareExchange | CellClear | TakeSnapshot


def option_iter_range(
    value: Datum | None, r: ItemRange, range_end_ignored: bool
) -> tuple[Item, ...] | None:
    """``iter_range`` of a 0-or-1-item snapshot (Cell and Once).

    ``range_end_ignored`` (H28, cell.rs:554-563 / once.rs:490-499): the item(s) iff
    ``0`` lies in ``r``, else ``None``. Otherwise (reference, I3): ``None`` iff
    ``r.end > len``, else exactly the items of ``r``.

    >>> option_iter_range(7, ItemRange(0, 5), True), option_iter_range(7, ItemRange(0, 5), False)
    ((7,), None)
    >>> option_iter_range(7, ItemRange(1, 1), True), option_iter_range(7, ItemRange(1, 1), False)
    (None, ())
    """
    if not isinstance(r, ItemRange):
        raise InvalidInput(f"iter_range needs an ItemRange, got {type(r).__name__}")
    items: tuple[Item, ...] = () if value is None else (value,)
    if range_end_ignored:
        return items if r.contains(0) else None
    if r.end > len(items):
        return None
    return items[r.start : r.end]


def option_append(value: Datum | None, items: Sequence[Item]) -> Datum | None:
    """``append`` of a 0-or-1-item snapshot: the last item wins (cell.rs:565-570)."""
    for i, item in enumerate(items):
        value = validated(item, f"items[{i}]")
    return value


@dataclass(frozen=True, slots=True)
class OptionState:
    """A 0-or-1-value state, shared by Cell and Once (``None``: empty)."""

    value: Datum | None

    def __post_init__(self) -> None:
        validated_optional(self.value, "value")

    def __len__(self) -> int:
        return 0 if self.value is None else 1


@dataclass(frozen=True, slots=True)
class OptionSnapshot:
    """A 0-or-1-item snapshot, shared by Cell and Once: the value, and whether
    ``iter_range`` behaves as mosaik's (H28)."""

    value: Datum | None
    range_end_ignored: bool = False

    def __len__(self) -> int:
        return 0 if self.value is None else 1

    def iter_range(self, r: ItemRange) -> tuple[Item, ...] | None:
        """See :func:`option_iter_range` (cell.rs:554-563, once.rs:490-499)."""
        return option_iter_range(self.value, r, self.range_end_ignored)

    def append(self, items: Sequence[Item]) -> Self:
        """See :func:`option_append`: the last item wins (cell.rs:565-570, once.rs:501-505)."""
        return type(self)(option_append(self.value, items), self.range_end_ignored)


@tagged("Cell.State")
@dataclass(frozen=True, slots=True)
class CellState(OptionState):
    """The cell's value (``None``: empty)."""


@tagged("Cell.Snapshot")
@dataclass(frozen=True, slots=True)
class CellSnapshot(OptionSnapshot):
    """A Cell snapshot (see :class:`OptionSnapshot`)."""


class CellMachine:
    """The Cell state machine (mosaik ``CellStateMachine``)."""

    kind: str = "cell"

    def initial(self) -> CellState:
        """Return the empty cell."""
        return CellState(None)

    def apply_one(
        self, state: CellState, command: Command, profile: Profile = REFERENCE
    ) -> CellState:
        """Apply one data command (see :meth:`step`)."""
        return self.step(state, command, profile)[0]

    def step(
        self, state: CellState, command: Command, profile: Profile = REFERENCE
    ) -> tuple[CellState, bool]:
        """Apply one data command (one arm of cell.rs's ``apply_batch``); S1 counts it
        (always)."""
        _check_state(state)
        if isinstance(command, CellWrite):
            return CellState(command.value), True
        if isinstance(command, CellCompareExchange):
            current, expected = state.value, command.current
            if current is None and expected is None:
                matches = True
            elif current is None or expected is None:
                matches = False
            else:
                matches = compare_matches(current, expected, profile)
            return CellState(command.new) if matches else state, True
        if isinstance(command, CellClear):
            return CellState(None), True
        raise InvalidMessage("command", f"{type(command).__name__} is not a Cell command")

    def apply_batch(
        self,
        state: CellState,
        commands: Sequence[Command],
        ctx: ApplyContext,
        profile: Profile,
    ) -> tuple[CellState, tuple[PendingRequest, ...]]:
        """S1 for Cell (cell.rs:461-475 for the position): every command counts."""
        _check_state(state)
        return apply_s1(state, commands, ctx, profile, self.step, self.create_snapshot)

    def create_snapshot(self, state: CellState, profile: Profile = REFERENCE) -> CellSnapshot:
        """S3: the value, with ``iter_range`` per ``profile`` (H28)."""
        _check_state(state)
        return CellSnapshot(state.value, profile.has(Hazard.H28))

    def install_snapshot(self, state: CellState, snapshot: Any) -> CellState:
        """S2: the state becomes the snapshot's value."""
        _check_state(state)
        if not isinstance(snapshot, CellSnapshot):
            raise InvalidInput(f"not a Cell snapshot: {type(snapshot).__name__}")
        return CellState(snapshot.value)

    def empty_snapshot(self, profile: Profile = REFERENCE) -> CellSnapshot:
        """Return ``CellSnapshot::default()``."""
        return CellSnapshot(None, profile.has(Hazard.H28))

    def items(self, state: CellState) -> tuple[Item, ...]:
        """Return ``()`` or ``(value,)``."""
        _check_state(state)
        return () if state.value is None else (state.value,)


def _check_state(state: object) -> None:
    if not isinstance(state, CellState):
        raise InvalidInput(f"not a Cell state: {type(state).__name__}")


CELL = CellMachine()
"""The Cell state machine (``COLLECTIONS["cell"]``)."""
