"""The contract every collection state machine satisfies (inventory §1.2, §7).

A collection is a :class:`StateMachine` object (one per kind, registered in
:data:`impl.collections.COLLECTIONS`) whose methods are pure functions over an
immutable state value. Snapshots are immutable values too: ``create_snapshot``
is O(1) because the state *is* a persistent structure, and ``append`` returns a
new snapshot instead of mutating one.

Canonical order (DESIGN.md): Map/Set/DEPQ snapshot items are ordered by the
postcard encoding of the key (Set: of the value), compared as bytes; Vec by
position; Cell/Once hold 0 or 1 item. The bytes are those of the key itself, not
of mosaik's length-prefixed ``Encoded<K>`` wire form (docs/protocol/collections.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from impl.config import Config
from impl.messages import Command, Item, SnapshotRequest
from impl.profile import Profile
from impl.registry import tagged
from impl.types import Cursor, ItemRange, PeerId, Term

__all__ = ["ApplyContext", "PendingRequest", "Snapshot", "StateMachine"]


@runtime_checkable
class Snapshot(Protocol):
    """The snapshot contract of mosaik's ``StateSnapshot`` trait, as pure operations."""

    def __len__(self) -> int:
        """Return the number of items."""
        ...

    def iter_range(self, r: ItemRange) -> tuple[Item, ...] | None:
        """Return exactly the items of ``r`` in canonical order, or ``None`` if ``r`` is out
        of bounds (``r.end > len``). Costs O(log n + len(r))."""
        ...

    def append(self, items: Sequence[Item]) -> Snapshot:
        """Return a new snapshot with ``items`` added (mosaik ``append``)."""
        ...


@tagged("ApplyContext")
@dataclass(frozen=True, slots=True)
class ApplyContext:
    """What ``apply_batch`` sees (mosaik ``LocalApplyContext`` plus the node-local inputs).

    ``committed`` is the cursor *before* this run of equal-term commands (R6 step 3.1);
    ``log_position`` is the log's last cursor at the time of ``commit_up_to``;
    ``current_term`` is the run's term. ``local_id`` and ``now_wall_ms`` are inputs,
    never read from the environment: S1 skips TakeSnapshot requests from the local
    peer and expired ones (``config.is_expired``).
    """

    committed: Cursor
    log_position: Cursor
    current_term: Term
    local_id: PeerId
    now_wall_ms: int
    config: Config


@tagged("PendingRequest")
@dataclass(frozen=True, slots=True)
class PendingRequest:
    """A snapshot to serve: mosaik ``PendingRequest{request, position, snapshot}`` (mod.rs:336-340).

    Pushed by ``apply_batch`` (S1) onto the provider's request channel (P3).
    """

    request: SnapshotRequest
    position: Cursor
    snapshot: Snapshot
    """The snapshot of the collection after the whole batch, shared by the batch's requests."""


class StateMachine(Protocol):
    """One collection kind: its commands' semantics and its snapshot operations."""

    kind: str
    """``map``, ``vec``, ``set``, ``depq``, ``cell`` or ``once``."""

    def initial(self) -> Any:
        """Return the empty state."""
        ...

    def apply_batch(
        self, state: Any, commands: Sequence[Command], ctx: ApplyContext, profile: Profile
    ) -> tuple[Any, tuple[PendingRequest, ...]]:
        """S1: apply ``commands`` in order; return the new state and the snapshot
        requests to serve at the end-of-batch position
        ``Cursor(ctx.current_term, ctx.committed.index + n)`` where ``n`` counts the
        commands (``len(commands)``, except DEPQ under H4, which skips mismatching
        CompareExchangeValue commands)."""
        ...

    def create_snapshot(self, state: Any, profile: Profile = ...) -> Snapshot:
        """S3: O(1) snapshot of ``state``; ``profile`` selects snapshot-level hazards (H28)."""
        ...

    def install_snapshot(self, state: Any, snapshot: Snapshot) -> Any:
        """S2: return the state that ``snapshot`` describes (replaces ``state``)."""
        ...

    def empty_snapshot(self, profile: Profile = ...) -> Snapshot:
        """Return ``Snapshot::default()``, the session's initial ``accumulated``."""
        ...

    def items(self, state: Any) -> tuple[Item, ...]:
        """Return every item of ``state`` in canonical order (for digests and comparison)."""
        ...
