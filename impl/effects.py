"""Effects as data: what a pure step asks its environment to do (or reports doing).

A step returns ``(new_state, effects)``. Network effects (:class:`Send`,
:class:`Broadcast`) and timer effects (:class:`ArmTimer`, :class:`CancelTimer`)
are carried out by the driver (simulator, model, or a real runtime).
Node-internal effects (:class:`FeedCommand`, :class:`InstallSnapshot`,
:class:`ResetLog`, :class:`SetCommitted`, :class:`AppendLog`) are produced by a
component step (provider, session) and applied by the enclosing node step; the
node step still returns them so that traces and conformance vectors show them.
:class:`Ignored` records a documented ignore with a language-neutral reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TypeAlias

from impl.collections.base import Snapshot
from impl.messages import Command, LogEntry, Message
from impl.registry import tagged
from impl.types import Cursor, PeerId

__all__ = [
    "AppendLog",
    "ArmTimer",
    "Broadcast",
    "CancelTimer",
    "Effect",
    "FeedCommand",
    "IgnoreReason",
    "Ignored",
    "InstallSnapshot",
    "ResetLog",
    "Send",
    "SetCommitted",
    "TimerId",
    "TimerKind",
]


class TimerKind(StrEnum):
    """The monotonic timers of a node (inventory §0.5)."""

    ELECTION = "election"
    HEARTBEAT = "heartbeat"
    SNAPSHOT_REQUEST_RETRY = "snapshot_request_retry"
    FETCH_TIMEOUT = "fetch_timeout"
    SNAPSHOT_TTL = "snapshot_ttl"


@tagged("TimerId")
@dataclass(frozen=True, slots=True)
class TimerId:
    """Identifies one timer: its kind plus the peer (fetch timeout) or anchor (TTL) it guards."""

    kind: TimerKind
    peer: PeerId | None = None
    anchor: Cursor | None = None


@tagged("Send")
@dataclass(frozen=True, slots=True)
class Send:
    """Send ``message`` to ``to`` (silently dropped by the transport if no bond exists)."""

    to: PeerId
    message: Message


@tagged("Broadcast")
@dataclass(frozen=True, slots=True)
class Broadcast:
    """Send ``message`` to every peer bonded at this moment."""

    message: Message


@tagged("FeedCommand")
@dataclass(frozen=True, slots=True)
class FeedCommand:
    """Feed ``command`` into the local leader's queue (R8); only emitted by a leader."""

    command: Command


@tagged("InstallSnapshot")
@dataclass(frozen=True, slots=True)
class InstallSnapshot:
    """Replace the state machine's state with ``snapshot`` (S2)."""

    snapshot: Snapshot


@tagged("ResetLog")
@dataclass(frozen=True, slots=True)
class ResetLog:
    """``log.reset_to(cursor)``: drop every entry; the log now ends at ``cursor``."""

    cursor: Cursor


@tagged("SetCommitted")
@dataclass(frozen=True, slots=True)
class SetCommitted:
    """Set the committed cursor to ``cursor`` without applying anything (Q12 step 4)."""

    cursor: Cursor


@tagged("AppendLog")
@dataclass(frozen=True, slots=True)
class AppendLog:
    """Append ``entries`` to the log, in order, without applying them (Q12 step 6)."""

    entries: tuple[LogEntry, ...]


@tagged("ArmTimer")
@dataclass(frozen=True, slots=True)
class ArmTimer:
    """(Re)arm ``timer`` to fire at monotonic time ``deadline_ms``."""

    timer: TimerId
    deadline_ms: int


@tagged("CancelTimer")
@dataclass(frozen=True, slots=True)
class CancelTimer:
    """Disarm ``timer`` (no effect if it is not armed)."""

    timer: TimerId


class IgnoreReason(StrEnum):
    """Why a step dropped its input without changing state (language-neutral codes)."""

    NOT_LEADER = "not_leader"
    """RequestSnapshot at a non-leader (P2)."""
    OWN_REQUEST = "own_request"
    """A snapshot request from the local peer (P3; S1 skips it silently)."""
    EXPIRED_REQUEST = "expired_request"
    """A snapshot request older than the TTL by this node's clock (P3; S1 skips it silently)."""
    UNKNOWN_ANCHOR = "unknown_anchor"
    """A fetch for an anchor this provider does not hold (unknown or expired) (P4)."""
    EMPTY_RANGE = "empty_range"
    """A fetch whose clamped range is empty (P4)."""
    OUT_OF_BOUNDS = "out_of_bounds"
    """A fetch beyond the snapshot's length (P4)."""
    NO_SESSION = "no_session"
    """A session message at a node without a catch-up session (§0.3)."""
    WRONG_ANCHOR = "wrong_anchor"
    """A fetch response for an anchor other than the selected one (Q4)."""
    UNSOLICITED_RESPONSE = "unsolicited_response"
    """A fetch response from a peer with no request in flight (Q4, reference)."""
    MISMATCHED_RESPONSE = "mismatched_response"
    """A fetch response whose offset or length differs from the request (Q4, reference)."""
    STALE_OFFER = "stale_offer"
    """An offer whose anchor cannot serve this session (Q1, reference)."""
    UNKNOWN_PEER = "unknown_peer"
    """A message from a peer without a live bond, or from the node itself (§0.3; Q1)."""
    STALE_TERM = "stale_term"
    """A Raft message with a term below the node's (§0.3)."""
    UNEXPECTED = "unexpected"
    """A message the current role does not handle (§0.3)."""


@tagged("Ignored")
@dataclass(frozen=True, slots=True)
class Ignored:
    """The step dropped its input on purpose; ``reason`` says why."""

    reason: IgnoreReason
    detail: str = ""


Effect: TypeAlias = (
    Send
    | Broadcast
    | FeedCommand
    | InstallSnapshot
    | ResetLog
    | SetCommitted
    | AppendLog
    | ArmTimer
    | CancelTimer
    | Ignored
)
