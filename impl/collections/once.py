"""Once: a replicated write-once value (mosaik ``src/collections/once.rs``; inventory §7).

State: ``Option<T>`` (once.rs:323-331). Commands (enum ``OnceCommand``, once.rs:467-470):
``Write`` (tagged ``"Once.Write"``), effective only while empty (the first write wins;
later writes are counted no-ops), and the shared ``TakeSnapshot``. Every command is
counted in the S1 position (once.rs:412-426).

``iter_range`` has Cell's H28 behaviour under mosaik (once.rs:490-499); see
:func:`impl.collections.cell.option_iter_range`.

>>> s = ONCE.apply_one(ONCE.initial(), OnceWrite(1))
>>> ONCE.apply_one(s, OnceWrite(2)).value
1
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from impl.collections.apply import apply_s1
from impl.collections.base import ApplyContext, PendingRequest
from impl.collections.cell import OptionSnapshot, OptionState
from impl.collections.encoding import validated
from impl.errors import InvalidInput, InvalidMessage
from impl.messages import Command, Datum, Item, TakeSnapshot
from impl.profile import REFERENCE, Hazard, Profile
from impl.registry import tagged

__all__ = ["ONCE", "OnceCommand", "OnceMachine", "OnceSnapshot", "OnceState", "OnceWrite"]


@tagged("Once.Write")
@dataclass(frozen=True, slots=True)
class OnceWrite:
    """Set the value if the cell is still empty (once.rs: "Only accept the first write")."""

    value: Datum

    def __post_init__(self) -> None:
        validated(self.value, "value")


OnceCommand: TypeAlias = OnceWrite | TakeSnapshot


@tagged("Once.State")
@dataclass(frozen=True, slots=True)
class OnceState(OptionState):
    """The value once written (``None``: not yet written)."""


@tagged("Once.Snapshot")
@dataclass(frozen=True, slots=True)
class OnceSnapshot(OptionSnapshot):
    """A Once snapshot (see :class:`~impl.collections.cell.OptionSnapshot`)."""


class OnceMachine:
    """The Once state machine (mosaik ``OnceStateMachine``)."""

    kind: str = "once"

    def initial(self) -> OnceState:
        """Return the unwritten value."""
        return OnceState(None)

    def apply_one(
        self, state: OnceState, command: Command, profile: Profile = REFERENCE
    ) -> OnceState:
        """Apply one data command (see :meth:`step`)."""
        return self.step(state, command, profile)[0]

    def step(
        self, state: OnceState, command: Command, profile: Profile = REFERENCE
    ) -> tuple[OnceState, bool]:
        """Apply one data command: ``Write`` only while empty; S1 counts it (always)."""
        _check_state(state)
        if isinstance(command, OnceWrite):
            # Verify nothing was written yet (the first write wins)
            if state.value is not None:
                return state, True
            return OnceState(command.value), True
        raise InvalidMessage("command", f"{type(command).__name__} is not a Once command")

    def apply_batch(
        self,
        state: OnceState,
        commands: Sequence[Command],
        ctx: ApplyContext,
        profile: Profile,
    ) -> tuple[OnceState, tuple[PendingRequest, ...]]:
        """S1 for Once (once.rs:412-426 for the position): every command counts."""
        _check_state(state)
        return apply_s1(state, commands, ctx, profile, self.step, self.create_snapshot)

    def create_snapshot(self, state: OnceState, profile: Profile = REFERENCE) -> OnceSnapshot:
        """S3: the value, with ``iter_range`` per ``profile`` (H28)."""
        _check_state(state)
        return OnceSnapshot(state.value, profile.has(Hazard.H28))

    def install_snapshot(self, state: OnceState, snapshot: Any) -> OnceState:
        """S2: the state becomes the snapshot's value."""
        _check_state(state)
        if not isinstance(snapshot, OnceSnapshot):
            raise InvalidInput(f"not a Once snapshot: {type(snapshot).__name__}")
        return OnceState(snapshot.value)

    def empty_snapshot(self, profile: Profile = REFERENCE) -> OnceSnapshot:
        """Return ``OnceSnapshot::default()``."""
        return OnceSnapshot(None, profile.has(Hazard.H28))

    def items(self, state: OnceState) -> tuple[Item, ...]:
        """Return ``()`` or ``(value,)``."""
        _check_state(state)
        return () if state.value is None else (state.value,)


def _check_state(state: object) -> None:
    if not isinstance(state, OnceState):
        raise InvalidInput(f"not a Once state: {type(state).__name__}")


ONCE = OnceMachine()
"""The Once state machine (``COLLECTIONS["once"]``)."""
