"""The catch-up session's records: its state and what one session step sees.

:class:`SessionState` (with its :class:`PendingFetch` requests, :data:`Candidate`
anchors and :data:`BufferedEntry` entries) is the state of one snapshot catch-up
session, held by a lagging follower's role; :class:`SessionContext` is the input
of a session step that is not state. The steps that change them, Q0–Q13, are in
:mod:`impl.session`; their JSON forms in :mod:`impl.forms`.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyrsistent.typing import PMap, PVector

from impl.collections.base import Snapshot, StateMachine
from impl.config import Config
from impl.errors import InvalidInput
from impl.messages import Command, Item, SnapshotInfo
from impl.profile import Profile
from impl.registry import tagged
from impl.types import Cursor, Index, ItemRange, PeerId, Term

__all__ = [
    "BufferedEntry",
    "Candidate",
    "PendingFetch",
    "SessionContext",
    "SessionState",
]

BufferedEntry = tuple[Index, Term, Command]
"""A buffered AppendEntries entry: ``(log index, term, command)`` (session.rs:72)."""

Candidate = tuple[SnapshotInfo, frozenset[PeerId]]
"""An offered anchor: the first :class:`SnapshotInfo` seen for it and the peers that offered it."""


@tagged("SessionContext")
@dataclass(frozen=True, slots=True)
class SessionContext:
    """What mosaik's ``SyncSessionContext`` gives a session step; all of it is input.

    ``leader`` is ``cx.leader()``, the current leader per ``When`` (``None`` if
    unknown); ``bonds`` the node's bond table (its live bonds, and broken bonds whose
    received messages it has not processed yet: ``NodeContext.bonds``). Every step that
    addresses the leader (Q0, Q7, the reference's immediate re-request) requires a
    known one and raises :class:`InvalidState` on ``None``: through the node steps a
    session's follower always knows its leader (inventory H21).
    """

    local_id: PeerId
    leader: PeerId | None
    bonds: frozenset[PeerId]
    config: Config
    machine: StateMachine
    profile: Profile

    def __post_init__(self) -> None:
        if not isinstance(self.local_id, PeerId):
            raise InvalidInput("SessionContext.local_id must be a PeerId")
        if self.leader is not None and not isinstance(self.leader, PeerId):
            raise InvalidInput("SessionContext.leader must be a PeerId or None")
        if not isinstance(self.bonds, frozenset) or not all(
            isinstance(p, PeerId) for p in self.bonds
        ):
            raise InvalidInput("SessionContext.bonds must be a frozenset of PeerId")


@tagged("PendingFetch")
@dataclass(frozen=True, slots=True)
class PendingFetch:
    """One in-flight FetchDataRequest: the range asked and its timeout deadline (session.rs:764)."""

    range: ItemRange
    deadline_ms: int


@tagged("SessionState")
@dataclass(frozen=True, slots=True)
class SessionState:
    """The session's variables (inventory §2.3); runtime plumbing (tasks, wakers) is omitted.

    ``gap_start``/``gap_end`` are mosaik's ``gap: Option<Range<u64>>`` as two ints
    (both ``None`` or both set); the range counts as empty when ``gap_start >=
    gap_end``, so an inverted gap (reachable under H10) is empty, as in Rust.
    """

    leader: PeerId
    """The leader at session start; only used to ask it last (session.rs:29)."""
    trigger_position: int
    """Index of the AppendEntries' ``prev_log_position`` that started the session."""
    anchor: Cursor | None
    """The selected snapshot's position."""
    snapshot_len: int
    """``items_count`` of the selected anchor."""
    gap_start: int | None
    """First item not yet drained into ``accumulated``."""
    gap_end: int | None
    """End of the missing range (= ``snapshot_len`` at selection)."""
    anchor_candidates: PMap[Cursor, Candidate]
    """Offered anchors: first info seen and the offering peers."""
    buffered: PVector[BufferedEntry]
    """AppendEntries entries received during the session."""
    terminations: tuple[PeerId, ...]
    """Peers whose bond terminated, queued by the watchers, drained by Q6."""
    known_bonds: frozenset[PeerId]
    """Bonds seen at the last poll (Q10); unused, as in mosaik."""
    available_peers: frozenset[PeerId]
    """Peers that offered the selected anchor and have not failed."""
    inflight: PMap[PeerId, PendingFetch]
    """At most one request per peer."""
    fetched: PMap[int, tuple[int, tuple[Item, ...]]]
    """Chunks received but not drained: start -> (end, items)."""
    accumulated: Snapshot
    """The drained prefix of the anchor's snapshot."""
    snapshot_request_deadline_ms: int | None
    """The retry timer's deadline, ``None`` when stopped."""
    downloaded: int = 0
    """Items drained since the anchor was selected (metrics, as in mosaik)."""
    min_anchor: int = 0
    """Reference (H3 fix): lowest usable anchor index, raised when the buffer has a gap."""
    retry_due: bool = False
    """Reference (H6 fix): a clock-less step (Q13) left the session without a source;
    the next poll arms the retry timer. Makes :func:`next_deadline` return 0."""
    watched: frozenset[PeerId] = frozenset()
    """Peers whose current bond has a termination watcher: the bonds present at
    session start (Q0 step 1) and the bond of every peer that offered over a live bond
    (Q1 step 4). A watcher belongs to one bond: it fires once, and a re-formed bond
    is unwatched until its peer offers again (session.rs:118-124, 333-339)."""
