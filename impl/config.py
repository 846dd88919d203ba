"""Snapshot-sync configuration (mosaik ``collections::SyncConfig`` = ``sync::Config``).

Every duration is in milliseconds. The four parameters enter the group id through
:meth:`Config.signature`, so all members of a group share them (inventory §3.2–3.3).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from impl.errors import InvalidInput
from impl.ids import UniqueId
from impl.messages import SnapshotRequest
from impl.registry import tagged
from impl.types import U64_MAX

__all__ = ["Config"]

_U128_MAX = (1 << 128) - 1


def _check(value: int, what: str, *, minimum: int, maximum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"Config.{what} must be an integer, got {type(value).__name__}")
    if not minimum <= value <= maximum:
        raise InvalidInput(f"Config.{what} must be in [{minimum}, {maximum}], got {value}")


@tagged("Config")
@tagged("Config")
@dataclass(frozen=True, slots=True)
class Config:
    """The four snapshot-sync parameters with mosaik's defaults (mod.rs:163-184, 254-263).

    >>> c = Config().with_fetch_batch_size(100)
    >>> c.fetch_batch_size, c.snapshot_ttl_ms
    (100, 10000)
    """

    fetch_batch_size: int = 2000
    """Provider clamp (P4) and session chunk length (Q11)."""
    snapshot_ttl_ms: int = 10_000
    """Provider snapshot inactivity TTL and the wall-clock request age limit."""
    snapshot_request_timeout_ms: int = 15_000
    """RequestSnapshot retry period (Q7)."""
    fetch_timeout_ms: int = 5_000
    """Deadline of one in-flight FetchDataRequest (Q9)."""

    def __post_init__(self) -> None:
        # A zero batch would make every chunk empty and the session could never progress.
        _check(self.fetch_batch_size, "fetch_batch_size", minimum=1, maximum=U64_MAX)
        _check(self.snapshot_ttl_ms, "snapshot_ttl_ms", minimum=0, maximum=_U128_MAX)
        _check(
            self.snapshot_request_timeout_ms,
            "snapshot_request_timeout_ms",
            minimum=0,
            maximum=_U128_MAX,
        )
        _check(self.fetch_timeout_ms, "fetch_timeout_ms", minimum=0, maximum=_U128_MAX)

    def with_fetch_batch_size(self, value: int) -> Config:
        """Return a copy with ``fetch_batch_size`` replaced."""
        return replace(self, fetch_batch_size=value)

    def with_snapshot_ttl(self, ms: int) -> Config:
        """Return a copy with ``snapshot_ttl_ms`` replaced."""
        return replace(self, snapshot_ttl_ms=ms)

    def with_snapshot_request_timeout(self, ms: int) -> Config:
        """Return a copy with ``snapshot_request_timeout_ms`` replaced."""
        return replace(self, snapshot_request_timeout_ms=ms)

    def with_fetch_timeout(self, ms: int) -> Config:
        """Return a copy with ``fetch_timeout_ms`` replaced."""
        return replace(self, fetch_timeout_ms=ms)

    def is_expired(self, request: SnapshotRequest, now_wall_ms: int) -> bool:
        """Check if a snapshot request is too old to serve (mod.rs:239-251).

        Expired iff ``|now_wall_ms - requested_at_ms| > snapshot_ttl_ms``.

        Spec decision (both profiles): a ``requested_at`` in the future is judged by
        the size of the difference, exactly as mosaik's code does (its comment says
        "future ⇒ expired", but ``.abs()`` runs first, so that branch is dead). The
        stamp comes from the leader's wall clock and is checked on every peer's own
        clock, so a future stamp means clock skew, not staleness; rejecting it would
        make every peer whose clock runs behind the leader's refuse to serve, and
        the symmetric rule tolerates skew up to the TTL in either direction (H8).

        >>> from impl.messages import SnapshotRequest
        >>> from impl.types import PeerId
        >>> r = SnapshotRequest(PeerId(bytes(32)), requested_at_ms=1_000)
        >>> Config().is_expired(r, 11_000), Config().is_expired(r, 11_001)
        (False, True)
        >>> Config().is_expired(r, 0)
        False
        """
        return abs(now_wall_ms - request.requested_at_ms) > self.snapshot_ttl_ms

    def signature(self, machine_type_name: str) -> bytes:
        """Return ``SnapshotSync::signature()`` for a state machine type (mod.rs:383-396).

        ``from("mosaik_collections_snapshot_sync")``, then derive the Rust
        ``type_name`` of the state machine, ``fetch_batch_size`` as u64 LE and the
        three durations in milliseconds as u128 LE.
        """
        return self.signature_id(machine_type_name).raw

    def signature_id(self, machine_type_name: str) -> UniqueId:
        """Return :meth:`signature` as a :class:`UniqueId`."""
        return (
            UniqueId.from_str("mosaik_collections_snapshot_sync")
            .derive(machine_type_name)
            .derive(self.fetch_batch_size.to_bytes(8, "little"))
            .derive(self.snapshot_ttl_ms.to_bytes(16, "little"))
            .derive(self.snapshot_request_timeout_ms.to_bytes(16, "little"))
            .derive(self.fetch_timeout_ms.to_bytes(16, "little"))
        )
