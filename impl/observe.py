"""The observable projection of a node: what any implementation can report about itself.

Step vectors need an implementation to expose its whole state in our shape; most
real implementations cannot (mosaik's session lives inside an async worker). The
node-level conformance check (``snapsync drive``) and the event-log validator
(``snapsync validate``) therefore judge a node by its messages and by this
projection, which any implementation can compute from its public state:

* ``role``, ``term``, ``leader`` — its Raft role, current term and the leader it
  follows (itself when it leads; ``None`` when it knows none);
* ``last_log`` — the cursor of the last entry of its log (``(0, 0)`` when empty);
* ``committed`` — its committed (and applied) cursor;
* ``catching_up`` — whether a snapshot catch-up session is alive;
* ``online`` — mosaik's ``when().online()``: in sync with the leader, or leading;
* ``items`` and ``digest`` — the number of items of its state machine and the
  :func:`items_digest` of their canonical encoding, so two states compare equal
  without either side knowing the other's layout;
* ``next_deadline_ms`` — when the node next needs a poll (``None``: only a message
  or a client write can give it work).

The digest, normatively: lowercase hex of BLAKE3 (32 bytes) over the UTF-8 bytes of
the canonical JSON text (docs/formats/json.md) of the array of the state's items
in canonical snapshot order (Map: ``[key, value]`` pairs ordered by the postcard
encoding of the key; Set: values ordered likewise; Vec: by position; DEPQ: as its
snapshot; Cell/Once: zero or one item). The empty state's digest is
``BLAKE3("[]")`` = ``d53d18c2…``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import blake3

from impl.errors import InvalidInput
from impl.node import node_next_deadline
from impl.node_state import CandidateRole, FollowerRole, LeaderRole, NodeState
from impl.types import U64_MAX, Cursor, PeerId, Term, check_u64

if TYPE_CHECKING:
    from impl.collections.base import StateMachine
    from impl.messages import Item

__all__ = [
    "EMPTY_DIGEST",
    "Observation",
    "ObservedRole",
    "items_digest",
    "observe",
    "state_digest",
]


def items_digest(items: tuple[Item, ...]) -> str:
    """Return the state digest: BLAKE3 of the canonical JSON array of ``items`` (hex).

    Items are data (u64, string, arrays of data), so Python's JSON encoder with
    these separators writes exactly the canonical text of
    :func:`impl.codec.canonical_json`.

    >>> items_digest(()) == blake3.blake3(b"[]").hexdigest()
    True
    >>> items_digest(((1, 10), (2, 20))) == blake3.blake3(b"[[1,10],[2,20]]").hexdigest()
    True
    """
    text = json.dumps(items, separators=(",", ":"), ensure_ascii=False)
    return blake3.blake3(text.encode("utf-8")).hexdigest()


EMPTY_DIGEST = items_digest(())
"""The digest of a state machine with no items."""

_HEX = frozenset("0123456789abcdef")


class ObservedRole(StrEnum):
    """The node's Raft role, as an implementation reports it."""

    FOLLOWER = "follower"
    CANDIDATE = "candidate"
    LEADER = "leader"


@dataclass(frozen=True, slots=True)
class Observation:
    """One node's observable projection (module docstring)."""

    role: ObservedRole
    term: Term
    leader: PeerId | None
    last_log: Cursor
    committed: Cursor
    catching_up: bool
    online: bool
    items: int
    digest: str
    next_deadline_ms: int | None

    def __post_init__(self) -> None:
        check_u64(self.term, "Observation.term")
        check_u64(self.items, "Observation.items")
        if self.next_deadline_ms is not None:
            check_u64(self.next_deadline_ms, "Observation.next_deadline_ms")
        digest = self.digest
        # Verify the digest is one text per value: 64 lowercase hex digits.
        if not isinstance(digest, str) or len(digest) != 64 or not set(digest) <= _HEX:
            raise InvalidInput(f"Observation.digest must be 64 lowercase hex digits: {digest!r}")
        for name in ("catching_up", "online"):
            if not isinstance(getattr(self, name), bool):
                raise InvalidInput(f"Observation.{name} must be a boolean")

    def summary(self) -> str:
        """Return a one-line description (reports).

        >>> o = Observation(ObservedRole.FOLLOWER, Term(1), None, Cursor.zero(), Cursor.zero(),
        ...                 False, False, 0, EMPTY_DIGEST, None)
        >>> o.summary()
        'follower t1 last (t:0,i:0) committed (t:0,i:0) items 0 digest d53d18c2'
        """
        extra = " catching up" if self.catching_up else ""
        return (
            f"{self.role.value} t{self.term} last {self.last_log} committed {self.committed} "
            f"items {self.items} digest {self.digest[:8]}{extra}"
        )


_DIGESTS: dict[int, tuple[Any, int, str]] = {}
"""id(state) → (state, items, digest): states are immutable, so the digest of one object
never changes (kept alive by the entry so ids stay unique)."""


def state_digest(machine: StateMachine, state: Any) -> tuple[int, str]:
    """Return the item count of ``state`` and its :func:`items_digest` (memoised by identity)."""
    hit = _DIGESTS.get(id(state))
    if hit is not None and hit[0] is state:
        return hit[1], hit[2]
    items = tuple(machine.items(state))
    digest = items_digest(items)
    if len(_DIGESTS) >= 64:
        _DIGESTS.clear()
    _DIGESTS[id(state)] = (state, len(items), digest)
    return len(items), digest


def observe(node: NodeState, machine: StateMachine) -> Observation:
    """Return the observable projection of the reference's ``node``.

    ``machine`` is the node's collection (its kind must match). Pure, and memoised
    per state-machine state: a step that did not change the state reuses its digest.
    """
    if machine.kind != node.kind:
        raise InvalidInput(f"observe: machine is {machine.kind!r} but the node is {node.kind!r}")
    role = node.role
    if isinstance(role, LeaderRole):
        observed = ObservedRole.LEADER
    elif isinstance(role, CandidateRole):
        observed = ObservedRole.CANDIDATE
    elif isinstance(role, FollowerRole):
        observed = ObservedRole.FOLLOWER
    else:  # pragma: no cover - the Role union is closed
        raise InvalidInput(f"unknown role {type(role).__name__}")
    items, digest = state_digest(machine, node.sm)
    deadline = node_next_deadline(node)
    return Observation(
        role=observed,
        term=node.term,
        leader=node.leader,
        last_log=node.log.last(),
        committed=node.committed,
        catching_up=node.catchup is not None,
        online=node.online,
        items=items,
        digest=digest,
        next_deadline_ms=None if deadline is None else min(max(deadline, 0), U64_MAX),
    )
