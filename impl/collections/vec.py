"""Vec: a replicated sequence (mosaik ``src/collections/vec.rs``; inventory §7).

State: a persistent sequence (:class:`~impl.collections.pseq.PSeq`; mosaik:
``im::Vector``, vec.rs:551-559). Snapshot items are the elements by position, which
is already deterministic in mosaik.

Commands (enum ``VecCommand``, vec.rs:734-746), each tagged ``"Vec.<Command>"``:
``Clear``, ``Swap`` (guarded), ``Insert`` (unguarded in mosaik, H23), ``PushBack``,
``PushFront``, ``PopBack``, ``PopFront``, ``Remove`` (guarded), ``Truncate`` (clamped),
``Extend`` and the shared ``TakeSnapshot``. Every command is counted in the S1
position (vec.rs:671-685).

Writer-side no-op (not state-machine behaviour): ``extend`` with no entries issues no
command; an empty ``Extend`` that reaches the log is a counted no-op.

>>> s = VEC.initial()
>>> for c in (VecPushBack(10), VecPushBack(20), VecPushFront(5), VecInsert(2, 15)):
...     s = VEC.apply_one(s, c)
>>> VEC.items(s)
(5, 10, 15, 20)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from impl.collections.apply import apply_s1
from impl.collections.base import ApplyContext, PendingRequest
from impl.collections.encoding import validated, validated_tuple, validated_u64
from impl.collections.pseq import PSeq
from impl.errors import HazardPanic, InvalidInput, InvalidMessage
from impl.messages import Command, Datum, Item, TakeSnapshot
from impl.profile import REFERENCE, Hazard, Profile
from impl.registry import tagged
from impl.types import ItemRange

__all__ = [
    "VEC",
    "VecClear",
    "VecCommand",
    "VecExtend",
    "VecInsert",
    "VecMachine",
    "VecPopBack",
    "VecPopFront",
    "VecPushBack",
    "VecPushFront",
    "VecRemove",
    "VecSnapshot",
    "VecState",
    "VecSwap",
    "VecTruncate",
]

H23_SITE = "vec.rs:618-620"
"""Where mosaik's ``im::Vector::insert`` panics on ``index > len`` (H23)."""


@tagged("Vec.Clear")
@dataclass(frozen=True, slots=True)
class VecClear:
    """Remove every element (``VecCommand::Clear``)."""


@tagged("Vec.Swap")
@dataclass(frozen=True, slots=True)
class VecSwap:
    """Exchange elements ``i`` and ``j``; a no-op unless both are ``< len`` (vec.rs:613-617)."""

    i: int
    j: int

    def __post_init__(self) -> None:
        validated_u64(self.i, "i")
        validated_u64(self.j, "j")


@tagged("Vec.Insert")
@dataclass(frozen=True, slots=True)
class VecInsert:
    """Insert ``value`` before position ``index`` (``index == len`` appends).

    ``index > len``: mosaik panics (vec.rs:618-620, H23), on every replica alike and
    again when the entry is replayed after a snapshot, so the group can never apply
    past it. Spec decision (H23 off, reference): a documented no-op, like the guarded
    ``Swap``/``Remove`` (still counted in the S1 position); the log stays applicable.
    """

    index: int
    value: Datum

    def __post_init__(self) -> None:
        validated_u64(self.index, "index")
        validated(self.value, "value")


@tagged("Vec.PushBack")
@dataclass(frozen=True, slots=True)
class VecPushBack:
    """Append ``value`` (``VecCommand::PushBack``)."""

    value: Datum

    def __post_init__(self) -> None:
        validated(self.value, "value")


@tagged("Vec.PushFront")
@dataclass(frozen=True, slots=True)
class VecPushFront:
    """Prepend ``value`` (``VecCommand::PushFront``)."""

    value: Datum

    def __post_init__(self) -> None:
        validated(self.value, "value")


@tagged("Vec.PopBack")
@dataclass(frozen=True, slots=True)
class VecPopBack:
    """Remove the last element; a no-op when empty (``im::Vector::pop_back`` → ``None``)."""


@tagged("Vec.PopFront")
@dataclass(frozen=True, slots=True)
class VecPopFront:
    """Remove the first element; a no-op when empty."""


@tagged("Vec.Remove")
@dataclass(frozen=True, slots=True)
class VecRemove:
    """Remove element ``index``; a no-op unless ``index < len`` (vec.rs:633-637)."""

    index: int

    def __post_init__(self) -> None:
        validated_u64(self.index, "index")


@tagged("Vec.Truncate")
@dataclass(frozen=True, slots=True)
class VecTruncate:
    """Keep the first ``min(len, current length)`` elements (vec.rs:638-642)."""

    len: int

    def __post_init__(self) -> None:
        validated_u64(self.len, "len")


@tagged("Vec.Extend")
@dataclass(frozen=True, slots=True)
class VecExtend:
    """Append each of ``entries`` in order (``VecCommand::Extend``)."""

    entries: tuple[Datum, ...]

    def __post_init__(self) -> None:
        validated_tuple(self.entries, "entries")


VecCommand: TypeAlias = (
    VecClear
    | VecSwap
    | VecInsert
    | VecPushBack
    | VecPushFront
    | VecPopBack
    | VecPopFront
    | VecRemove
    | VecTruncate
    | VecExtend
    | TakeSnapshot
)


@tagged("Vec.State")
@dataclass(frozen=True, slots=True)
class VecState:
    """The vector's elements in order."""

    elements: PSeq[Datum]

    def __post_init__(self) -> None:
        if not isinstance(self.elements, PSeq):
            raise InvalidInput("VecState.elements must be a PSeq")

    def __len__(self) -> int:
        return len(self.elements)


@tagged("Vec.Snapshot")
@dataclass(frozen=True, slots=True)
class VecSnapshot:
    """A Vec snapshot (mosaik ``VecSnapshot``): the elements by position."""

    elements: PSeq[Datum]

    def __len__(self) -> int:
        return len(self.elements)

    def iter_range(self, r: ItemRange) -> tuple[Item, ...] | None:
        """Return the elements of ``r``, or ``None`` if ``r.end > len``.

        mosaik checks ``skip + take > len`` (vec.rs:760-772), the same bound; it can
        overflow for huge ranges (H25), which :class:`ItemRange` rules out here.
        """
        if not isinstance(r, ItemRange):
            raise InvalidInput(f"iter_range needs an ItemRange, got {type(r).__name__}")
        if r.end > len(self.elements):
            return None
        return self.elements.slice(r.start, r.end)

    def append(self, items: Sequence[Item]) -> VecSnapshot:
        """Return a snapshot with ``items`` appended (vec.rs:774-776)."""
        for i, item in enumerate(items):
            validated(item, f"items[{i}]")
        return VecSnapshot(self.elements.extend(items))


class VecMachine:
    """The Vec state machine (mosaik ``VecStateMachine``)."""

    kind: str = "vec"

    def initial(self) -> VecState:
        """Return the empty vector."""
        return VecState(PSeq.empty())

    def apply_one(
        self, state: VecState, command: Command, profile: Profile = REFERENCE
    ) -> VecState:
        """Apply one data command (see :meth:`step`)."""
        return self.step(state, command, profile)[0]

    def step(
        self, state: VecState, command: Command, profile: Profile = REFERENCE
    ) -> tuple[VecState, bool]:
        """Apply one data command (one arm of vec.rs's ``apply_batch``, vec.rs:613-642);
        S1 counts it (always).

        Raises
        ------
        HazardPanic
            ``Insert`` with ``index > len`` under H23 (mosaik panics, vec.rs:618-620).
        InvalidMessage
            ``command`` is not a Vec data command.
        """
        _check_state(state)
        elements = state.elements
        size = len(elements)
        if isinstance(command, VecPushBack):
            elements = elements.push_back(command.value)
        elif isinstance(command, VecPushFront):
            elements = elements.push_front(command.value)
        elif isinstance(command, VecInsert):
            # Verify the index is in [0, len] (mosaik does not: H23)
            if command.index > size:
                if profile.has(Hazard.H23):
                    raise HazardPanic(
                        "H23", H23_SITE, f"Vec insert index {command.index} > len {size}"
                    )
                # Reference: ignored like the guarded Swap/Remove, on every replica alike.
                return state, True
            elements = elements.insert(command.index, command.value)
        elif isinstance(command, VecSwap):
            # Verify both indices are in range (vec.rs guard)
            if command.i >= size or command.j >= size:
                return state, True
            elements = elements.swap(command.i, command.j)
        elif isinstance(command, VecRemove):
            # Verify the index is in range (vec.rs guard)
            if command.index >= size:
                return state, True
            elements = elements.delete(command.index)
        elif isinstance(command, VecPopBack):
            elements = elements.pop_back()
        elif isinstance(command, VecPopFront):
            elements = elements.pop_front()
        elif isinstance(command, VecTruncate):
            elements = elements.truncate(min(command.len, size))
        elif isinstance(command, VecExtend):
            elements = elements.extend(command.entries)
        elif isinstance(command, VecClear):
            elements = PSeq.empty()
        else:
            raise InvalidMessage("command", f"{type(command).__name__} is not a Vec command")
        return VecState(elements), True

    def apply_batch(
        self,
        state: VecState,
        commands: Sequence[Command],
        ctx: ApplyContext,
        profile: Profile,
    ) -> tuple[VecState, tuple[PendingRequest, ...]]:
        """S1 for Vec (vec.rs:671-685 for the position): every command counts."""
        _check_state(state)
        return apply_s1(state, commands, ctx, profile, self.step, self.create_snapshot)

    def create_snapshot(self, state: VecState, profile: Profile = REFERENCE) -> VecSnapshot:
        """S3: O(1), shares the state's persistent sequence."""
        _check_state(state)
        return VecSnapshot(state.elements)

    def install_snapshot(self, state: VecState, snapshot: Any) -> VecState:
        """S2: the state becomes the snapshot's elements."""
        _check_state(state)
        if not isinstance(snapshot, VecSnapshot):
            raise InvalidInput(f"not a Vec snapshot: {type(snapshot).__name__}")
        return VecState(snapshot.elements)

    def empty_snapshot(self, profile: Profile = REFERENCE) -> VecSnapshot:
        """Return ``VecSnapshot::default()``."""
        return VecSnapshot(PSeq.empty())

    def items(self, state: VecState) -> tuple[Item, ...]:
        """Return every element in order."""
        _check_state(state)
        return state.elements.to_tuple()


def _check_state(state: object) -> None:
    if not isinstance(state, VecState):
        raise InvalidInput(f"not a Vec state: {type(state).__name__}")


VEC = VecMachine()
"""The Vec state machine (``COLLECTIONS["vec"]``)."""
