"""Wire messages of snapshot sync, the replicated ``SnapshotRequest`` payload,
and the Raft messages the sync protocol rides on (inventory §3.1).

Snapshot-sync messages carry no term, no request id and no session id
(protocol.rs:28-75); Raft's ``Message::term()`` is ``None`` for them, so a
receiver never drops them for a stale term (inventory §0.3).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TypeAlias

from impl.errors import InvalidMessage
from impl.registry import tagged
from impl.types import Cursor, Index, ItemRange, PeerId, Term, check_u64

__all__ = [
    "AppendEntries",
    "AppendEntriesResponse",
    "Command",
    "Datum",
    "FetchDataRequest",
    "FetchDataResponse",
    "Item",
    "LogEntry",
    "Message",
    "RaftMessage",
    "RequestSnapshot",
    "RequestVote",
    "RequestVoteResponse",
    "SnapshotInfo",
    "SnapshotOffer",
    "SnapshotRequest",
    "SyncMessage",
    "TakeSnapshot",
    "Vote",
    "check_datum",
]

Datum: TypeAlias = "int | str | tuple[Datum, ...]"
"""A value stored in a collection: a u64, a string, or a tuple of data."""

Item: TypeAlias = Datum
"""One snapshot item (Map: ``(key, value)``; DEPQ: ``(priority, key, value)``; else the value)."""

Command: TypeAlias = object
"""A replicated state-machine command (each collection defines its own frozen dataclasses)."""


_U64_LIMIT = 1 << 64


def _is_plain_datum(value: object) -> bool:
    """Check, without allocating, if ``value`` is a datum built of exact ``int``/``str``/
    ``tuple`` values; ``False`` means "not certain" (subclasses, bad values), and the
    caller runs :func:`check_datum`, which names the offending part."""
    kind = type(value)
    if kind is int:
        return 0 <= value < _U64_LIMIT  # type: ignore[operator]
    if kind is str:
        return True
    if kind is tuple:
        for part in value:  # type: ignore[attr-defined]
            kind = type(part)
            if kind is int:
                if not 0 <= part < _U64_LIMIT:
                    return False
            elif kind is not str and not _is_plain_datum(part):
                return False
        return True
    return False


def check_datum(value: object, field: str) -> None:
    """Raise :class:`InvalidMessage` unless ``value`` is a :data:`Datum`."""
    try:
        if _is_plain_datum(value):
            return
    except RecursionError:
        pass  # the checks below decide (and raise what they always raised)
    if isinstance(value, bool):
        raise InvalidMessage(field, "booleans are not data")
    if isinstance(value, int):
        if not 0 <= value < (1 << 64):
            raise InvalidMessage(field, f"integer {value} is not a u64")
        return
    if isinstance(value, str):
        return
    if isinstance(value, tuple):
        for i, part in enumerate(value):
            check_datum(part, f"{field}[{i}]")
        return
    raise InvalidMessage(field, f"{type(value).__name__} is not a datum")


def _u64(value: object, field: str) -> None:
    # Fast path: an exact int in range (everything else takes the full check).
    if type(value) is int and 0 <= value < _U64_LIMIT:
        return
    try:
        check_u64(value, field)
    except ValueError as exc:
        raise InvalidMessage(field, str(exc)) from None


def _instance(value: object, cls: type, field: str) -> None:
    if not isinstance(value, cls):
        raise InvalidMessage(field, f"must be a {cls.__name__}, got {type(value).__name__}")


_I64_MIN, _I64_MAX = -(1 << 63), (1 << 63) - 1


@tagged("SnapshotRequest")
@dataclass(frozen=True, slots=True)
class SnapshotRequest:
    """The payload of ``TakeSnapshot``: who asked, and when by the leader's wall clock.

    ``requested_at_ms`` is milliseconds since the Unix epoch (mosaik: ``DateTime<Utc>``).
    """

    requested_by: PeerId
    requested_at_ms: int

    def __post_init__(self) -> None:
        if not isinstance(self.requested_by, PeerId):
            raise InvalidMessage("requested_by", "must be a PeerId")
        if isinstance(self.requested_at_ms, bool) or not isinstance(self.requested_at_ms, int):
            raise InvalidMessage("requested_at_ms", "must be an integer")
        # An i64 of milliseconds covers chrono's DateTime<Utc> range and every JSON consumer.
        if not _I64_MIN <= self.requested_at_ms <= _I64_MAX:
            raise InvalidMessage("requested_at_ms", f"{self.requested_at_ms} is not an i64")


@tagged("TakeSnapshot")
@dataclass(frozen=True, slots=True)
class TakeSnapshot:
    """The marker command every collection accepts: ``XCommand::TakeSnapshot(req)``."""

    request: SnapshotRequest

    def __post_init__(self) -> None:
        _instance(self.request, SnapshotRequest, "request")


@tagged("RequestSnapshot")
@dataclass(frozen=True, slots=True)
class RequestSnapshot:
    """Lagging follower → leader: please feed a TakeSnapshot marker."""


@tagged("SnapshotInfo")
@dataclass(frozen=True, slots=True)
class SnapshotInfo:
    """What an offer describes: the snapshot's log position and its item count."""

    anchor: Cursor
    items_count: int

    def __post_init__(self) -> None:
        if not isinstance(self.anchor, Cursor):
            raise InvalidMessage("anchor", "must be a Cursor")
        _u64(self.items_count, "items_count")


@tagged("SnapshotOffer")
@dataclass(frozen=True, slots=True)
class SnapshotOffer:
    """Provider → requester: a snapshot at ``info.anchor`` is available."""

    info: SnapshotInfo

    def __post_init__(self) -> None:
        _instance(self.info, SnapshotInfo, "info")


@tagged("FetchDataRequest")
@dataclass(frozen=True, slots=True)
class FetchDataRequest:
    """Session → provider: send the items of ``range`` of the snapshot at ``anchor``."""

    anchor: Cursor
    range: ItemRange

    def __post_init__(self) -> None:
        if not isinstance(self.anchor, Cursor):
            raise InvalidMessage("anchor", "must be a Cursor")
        if not isinstance(self.range, ItemRange):
            raise InvalidMessage("range", "must be an ItemRange")


@tagged("FetchDataResponse")
@dataclass(frozen=True, slots=True)
class FetchDataResponse:
    """Provider → requester: ``items`` of the snapshot at ``anchor``, starting at ``offset``."""

    anchor: Cursor
    offset: int
    items: tuple[Item, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.anchor, Cursor):
            raise InvalidMessage("anchor", "must be a Cursor")
        _u64(self.offset, "offset")
        if not isinstance(self.items, tuple):
            raise InvalidMessage("items", "must be a tuple")
        # Fast path: one allocation-free pass; the per-item check (with the field name
        # of the first bad item) runs only if some item is not certainly a datum.
        try:
            if all(map(_is_plain_datum, self.items)):
                return
        except RecursionError:
            pass
        for i, item in enumerate(self.items):
            check_datum(item, f"items[{i}]")


SyncMessage: TypeAlias = RequestSnapshot | SnapshotOffer | FetchDataRequest | FetchDataResponse


class Vote(StrEnum):
    """A follower's answer to AppendEntries or RequestVote."""

    GRANTED = "granted"
    DENIED = "denied"
    ABSTAINED = "abstained"


@tagged("LogEntry")
@dataclass(frozen=True, slots=True)
class LogEntry:
    """One replicated entry: the command and the term it was appended in."""

    term: Term
    command: Command

    def __post_init__(self) -> None:
        _u64(self.term, "term")


@tagged("AppendEntries")
@dataclass(frozen=True, slots=True)
class AppendEntries:
    """Leader → all: entries after ``prev_log_position`` (= the leader's last), and its commit."""

    term: Term
    leader: PeerId
    prev_log_position: Cursor
    entries: tuple[LogEntry, ...]
    leader_commit: Index

    def __post_init__(self) -> None:
        _u64(self.term, "term")
        _instance(self.leader, PeerId, "leader")
        _instance(self.prev_log_position, Cursor, "prev_log_position")
        _instance(self.entries, tuple, "entries")
        for entry in self.entries:
            if type(entry) is not LogEntry:
                # Slow path: name the first entry that is not a LogEntry (subclasses pass).
                for i, item in enumerate(self.entries):
                    _instance(item, LogEntry, f"entries[{i}]")
                break
        _u64(self.leader_commit, "leader_commit")


@tagged("AppendEntriesResponse")
@dataclass(frozen=True, slots=True)
class AppendEntriesResponse:
    """Follower → leader: its vote and last log index (only sent for non-empty AE)."""

    term: Term
    last_log_index: Index
    vote: Vote

    def __post_init__(self) -> None:
        _u64(self.term, "term")
        _u64(self.last_log_index, "last_log_index")
        _instance(self.vote, Vote, "vote")


@tagged("RequestVote")
@dataclass(frozen=True, slots=True)
class RequestVote:
    """Candidate → all: vote for me at ``term``; my log ends at ``log_position``."""

    term: Term
    candidate: PeerId
    log_position: Cursor

    def __post_init__(self) -> None:
        _u64(self.term, "term")
        _instance(self.candidate, PeerId, "candidate")
        _instance(self.log_position, Cursor, "log_position")


@tagged("RequestVoteResponse")
@dataclass(frozen=True, slots=True)
class RequestVoteResponse:
    """Voter → candidate."""

    term: Term
    vote: Vote

    def __post_init__(self) -> None:
        _u64(self.term, "term")
        _instance(self.vote, Vote, "vote")


RaftMessage: TypeAlias = AppendEntries | AppendEntriesResponse | RequestVote | RequestVoteResponse
Message: TypeAlias = SyncMessage | RaftMessage
