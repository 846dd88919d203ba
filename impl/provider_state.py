"""The snapshot provider's records: its state and what one provider step sees.

:class:`ProviderState` (with its :class:`AvailableSnapshot` entries) is the
provider part of every node's state; :class:`ProviderContext` is the input of a
provider step that is not state. The steps that change them, P1–P6, are in
:mod:`impl.provider`; their JSON forms in :mod:`impl.forms`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pyrsistent import PMap, pmap

from impl.collections.base import PendingRequest, Snapshot
from impl.config import Config
from impl.profile import REFERENCE, Profile
from impl.registry import tagged
from impl.types import Cursor, PeerId, check_u64

__all__ = ["AvailableSnapshot", "ProviderContext", "ProviderState"]


@tagged("AvailableSnapshot")
@dataclass(frozen=True, slots=True)
class AvailableSnapshot:
    """A snapshot this node can serve and the time its TTL runs out (provider.rs:312-339).

    mosaik keeps a tokio ``Sleep``; here it is its deadline. The snapshot is
    expired once ``now_ms >= deadline_ms``.
    """

    snapshot: Snapshot
    """The served :class:`~impl.collections.base.Snapshot` (an O(1) persistent clone)."""
    deadline_ms: int
    """Monotonic time at which the TTL fires; reset to ``now + snapshot_ttl`` by a revive."""


def _empty_available() -> PMap[Cursor, AvailableSnapshot]:
    return pmap()


@tagged("ProviderState")
@dataclass(frozen=True, slots=True)
class ProviderState:
    """mosaik ``SnapshotSyncProvider`` (provider.rs:36-51), one per node, every role.

    ``requests`` is the FIFO channel of :class:`~impl.collections.base.PendingRequest`
    that ``apply_batch`` (S1, via R6) pushes and P3 drains.
    """

    available: PMap[Cursor, AvailableSnapshot] = field(default_factory=_empty_available)
    """Snapshots on offer, by anchor position."""
    requests: tuple[PendingRequest, ...] = ()
    """Undrained snapshot requests, oldest first (mosaik's unbounded channel)."""


@tagged("ProviderContext")
@dataclass(frozen=True, slots=True)
class ProviderContext:
    """What the provider sees of its node (mosaik ``SyncProviderContext``) plus the clocks."""

    local_id: PeerId
    """This node's id (P3 skips its own requests)."""
    is_leader: bool
    """mosaik ``cx.is_leader()``: the node currently leads (P2)."""
    config: Config
    """Snapshot-sync parameters: ``fetch_batch_size`` (P4) and ``snapshot_ttl_ms``."""
    now_ms: int
    """Monotonic time (TTL deadlines)."""
    now_wall_ms: int
    """This node's wall clock (``requested_at`` in P1, ``is_expired`` in P3)."""
    profile: Profile = REFERENCE
    """Which hazard switches are on (P4's expiry rule depends on H7)."""

    def __post_init__(self) -> None:
        check_u64(self.now_ms, "ProviderContext.now_ms")
