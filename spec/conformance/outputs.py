"""What one step of the reference shows in an event log, besides the messages it sends.

The converter (:mod:`spec.conformance.convert`) writes these events for the model's
nodes; the validator (:mod:`spec.conformance.validate`) expects them from the
spec's steps. One derivation serves both, so a converted log and the validator
cannot disagree about what a step logs:

* ``ignored`` — one per :class:`~impl.effects.Ignored` effect;
* ``role`` — the role, term or leader changed;
* ``session`` — a session ended (``finalized`` with an install, else ``dropped``;
  a term change always ends the old one), started, or selected a new anchor;
* ``install`` — the snapshot installed (its anchor, item count and digest);
* ``append`` — the log's last cursor changed (entries appended, truncated or reset);
* ``commit`` — the committed cursor changed, with the state digest after the step.

A digest costs a pass over the state, so it is computed when first asked for
(:class:`LazyDigest`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from impl.collections.base import StateMachine
from impl.effects import Effect, Ignored, InstallSnapshot, SetCommitted
from impl.node_state import CandidateRole, FollowerRole, LeaderRole, NodeState
from impl.observe import ObservedRole, state_digest
from spec.conformance.events import EventKind, SessionPhase

__all__ = ["ROLE_OF", "LazyDigest", "Output", "state_outputs"]

ROLE_OF: dict[type, ObservedRole] = {
    FollowerRole: ObservedRole.FOLLOWER,
    CandidateRole: ObservedRole.CANDIDATE,
    LeaderRole: ObservedRole.LEADER,
}
"""The observed role of each role record."""


class LazyDigest:
    """The digest of one state-machine state, computed on first use."""

    __slots__ = ("_machine", "_state", "_value")

    def __init__(self, machine: StateMachine, state: Any) -> None:
        self._machine = machine
        self._state = state
        self._value: str | None = None

    def value(self) -> str:
        """Return the digest (:func:`impl.observe.items_digest` of the state's items)."""
        if self._value is None:
            self._value = state_digest(self._machine, self._state)[1]
        return self._value


@dataclass(frozen=True, slots=True)
class Output:
    """One event a step logs: its kind and its fields (values; a commit's digest is lazy)."""

    kind: EventKind
    fields: dict[str, Any]


def state_outputs(
    old: NodeState, new: NodeState, effects: Iterable[Effect], machine: StateMachine
) -> list[Output]:
    """Return the events of one step from ``old`` to ``new`` with ``effects`` (module doc).

    ``old`` and ``new`` are the same incarnation of the node (a restart is a ``start``).
    """
    out: list[Output] = []
    installed = False
    anchor_set = None
    for e in effects:
        if isinstance(e, Ignored):
            out.append(Output(EventKind.IGNORED, {"reason": e.reason, "detail": e.detail}))
        elif isinstance(e, InstallSnapshot):
            installed = True
        elif isinstance(e, SetCommitted):
            anchor_set = e.cursor
    if (type(old.role), old.term, old.leader) != (type(new.role), new.term, new.leader):
        out.append(
            Output(
                EventKind.ROLE,
                {"role": ROLE_OF[type(new.role)], "term": int(new.term), "leader": new.leader},
            )
        )
    s0, s1 = old.catchup, new.catchup
    if s0 is not None and (s1 is None or new.term != old.term):
        phase = SessionPhase.FINALIZED if installed else SessionPhase.DROPPED
        out.append(Output(EventKind.SESSION, {"phase": phase, "anchor": s0.anchor}))
        s0 = None
    if s1 is not None:
        if s0 is None:
            out.append(Output(EventKind.SESSION, {"phase": SessionPhase.STARTED, "anchor": None}))
        if s1.anchor is not None and (s0 is None or s0.anchor != s1.anchor):
            out.append(
                Output(EventKind.SESSION, {"phase": SessionPhase.ANCHOR, "anchor": s1.anchor})
            )
    if installed:
        items, digest = state_digest(machine, new.sm)
        at = anchor_set if anchor_set is not None else new.committed
        out.append(Output(EventKind.INSTALL, {"anchor": at, "items": items, "digest": digest}))
    if old.log.last() != new.log.last():
        out.append(Output(EventKind.APPEND, {"last": new.log.last()}))
    if old.committed != new.committed:
        out.append(
            Output(
                EventKind.COMMIT,
                {"committed": new.committed, "digest": LazyDigest(machine, new.sm)},
            )
        )
    return out
