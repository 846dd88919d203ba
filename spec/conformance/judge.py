"""The invariants of a hosted node that can be judged from outside: its observations and the wire.

A hosted node (``snapsync drive``) shows the harness only what it sends and its
observable projection (:mod:`impl.observe`). From those, after every model step,
:class:`Judge` checks the invariants of the inventory that do not need the node's
internals, under the same ids as the model's own checks:

* ``I9`` — the state digest equals the digest of ``Apply(committed)``, the fold of
  the group's committed log up to the node's committed index (and a committed
  cursor that does not fit the log is a divergence, reported by the model's I9);
* ``I11`` — committed never decreases (within one incarnation);
* ``I12`` — nothing is applied while catching up: committed and digest do not
  change while the node reports a session, except when the session ends;
* ``I4`` — the chunk requests it has outstanding (sent, not answered as asked by that
  peer, neither timed out nor dropped for a broken bond by one of its polls — the
  session processes a termination when polled, so an answer received before the
  break still counts until then —, same session and anchor) are
  non-empty, inside the offered snapshot, pairwise disjoint, one per peer;
* ``I6`` — it fetches only from peers that offered that anchor in this session;
* ``FRESH`` — it fetches no anchor below what it had committed when the session
  started, nor below the position of the AppendEntries that started it;
* ``I5`` — when a session ends in an install, the responses it accepted for the
  anchor (answers to its requests: the asked offset, 1 to the asked length of
  items) cover the whole snapshot;
* ``RAFT-ES`` — it leads a term only if no other node led it.

What the node sends as a provider or a leader is judged on the wire by the model's
own checks (I2, I13, I14), which look at every message whoever sent it.
Liveness (L1: it finishes catching up when the model says it must) is judged by the
hunt's drain, from the same observations.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from impl.messages import (
    AppendEntries,
    FetchDataRequest,
    FetchDataResponse,
    SnapshotOffer,
    TakeSnapshot,
)
from impl.observe import Observation, ObservedRole, items_digest
from impl.types import Cursor, ItemRange, PeerId
from spec.hunt.driver import Finding
from spec.model.actions import Transition
from spec.model.ghost import Oracle
from spec.model.host import HostedNode
from spec.model.state import World

__all__ = ["Judge", "NodeView"]

_Fail = Callable[[str, str], None]


@dataclass(slots=True)
class NodeView:
    """What the harness knows of one hosted node (module docstring)."""

    incarnation: int
    observation: Observation | None = None
    session: bool = False
    floor: int = 0
    """The lowest anchor index the current session may fetch (FRESH)."""
    offers: dict[Cursor, tuple[int, frozenset[PeerId]]] = field(default_factory=dict)
    """Per anchor offered in this session: its item count and the peers that offered it."""
    outstanding: dict[PeerId, tuple[Cursor, ItemRange, int]] = field(default_factory=dict)
    """Per peer: the chunk request it has not answered (anchor, range, time sent)."""
    terminated: set[PeerId] = field(default_factory=set)
    """Peers whose bond broke (or who left) since the node's last poll: their requests
    stay answerable until that poll, where the session processes the termination (Q6);
    a response received before the break may be delivered after it."""
    answered: dict[Cursor, list[tuple[int, int]]] = field(default_factory=dict)
    """Per anchor: the ranges of accepted answers (I5)."""
    own_snapshot: bool = False
    """Its own TakeSnapshot reached it in an AppendEntries during this session."""

    def start_session(self, floor: int) -> None:
        self.session = True
        self.floor = floor
        self.offers = {}
        self.outstanding = {}
        self.terminated = set()
        self.answered = {}
        self.own_snapshot = False

    def end_session(self) -> None:
        self.session = False
        self.offers = {}
        self.outstanding = {}
        self.terminated = set()
        self.answered = {}
        self.own_snapshot = False


def _covered(ranges: list[tuple[int, int]], length: int) -> int:
    """Return the first position of ``[0, length)`` the ranges miss (``length``: none)."""
    at = 0
    for start, end in sorted(ranges):
        if start > at:
            break
        at = max(at, end)
    return min(at, length)


class Judge:
    """Checks the hosted nodes after every model step (module docstring)."""

    def __init__(self, hosted: frozenset[str], oracle: Oracle) -> None:
        self.hosted = hosted
        self.oracle = oracle
        self.views: dict[str, NodeView] = {}
        self._digests: dict[int, str] = {}

    def view(self, name: str) -> NodeView | None:
        """Return what is known of hosted node ``name`` (None before it exists)."""
        return self.views.get(name)

    def _expected_digest(self, world: World, k: int) -> str | None:
        if k > world.ghost.committed_len():
            return None  # L does not reach k: the model reports the divergence (I9)
        digest = self._digests.get(k)
        if digest is None:
            digest = self._digests[k] = items_digest(self.oracle.items_at(world.ghost, k))
        return digest

    def check(self, t: Transition, step: int) -> list[Finding]:
        """Return the findings of transition ``t`` about the hosted nodes."""
        out: list[Finding] = []
        after = t.after
        for name in sorted(self.hosted):
            slot = after.nodes.get(name)
            if slot is None or not isinstance(slot.node, HostedNode):
                continue
            old_slot = t.before.nodes.get(name)
            if old_slot is slot and not any(i.dst == name for i in t.delivered):
                continue
            out.extend(self._check_node(t, name, step))
        return out

    def _check_node(self, t: Transition, name: str, step: int) -> list[Finding]:
        out: list[Finding] = []
        after = t.after
        slot = after.nodes[name]
        node = slot.node
        assert isinstance(node, HostedNode)
        seen = node.observation
        view = self.views.get(name)
        if view is None or view.incarnation != slot.incarnation:
            view = self.views[name] = NodeView(slot.incarnation)
        old = view.observation
        if seen is None or not slot.up:
            view.observation = seen
            return out

        def fail(ident: str, detail: str) -> None:
            out.append(Finding(ident, name, detail, step))

        config = after.setup.config
        trigger = 0
        for item in t.delivered:
            if item.dst != name:
                continue
            message = item.message
            src = after.nodes[item.src].peer
            if isinstance(message, SnapshotOffer):
                anchor = message.info.anchor
                count, peers = view.offers.get(anchor, (message.info.items_count, frozenset()))
                view.offers[anchor] = (count, peers | {src})
            elif isinstance(message, FetchDataResponse):
                # The reference accepts only the answer to the request in flight (Q4): the
                # asked anchor and offset, 1 to the asked length of items; else it ignores it
                # and the request stays in flight.
                pending = view.outstanding.get(src)
                if pending is not None:
                    anchor, asked, _ = pending
                    n = len(message.items)
                    if (
                        message.anchor == anchor
                        and message.offset == asked.start
                        and 1 <= n <= len(asked)
                    ):
                        del view.outstanding[src]
                        view.answered.setdefault(anchor, []).append(
                            (message.offset, message.offset + n)
                        )
            elif isinstance(message, AppendEntries):
                trigger = int(message.prev_log_position.index)
                if view.session and any(
                    isinstance(e.command, TakeSnapshot)
                    and e.command.request.requested_by == node.id
                    for e in message.entries
                ):
                    view.own_snapshot = True
        # The session, as the node reports it.
        if old is not None:
            new_term = seen.term != old.term
            if view.session and (not seen.catching_up or new_term):
                if not new_term and seen.committed != old.committed:
                    self._coverage(view, seen, fail)
                view.end_session()
            if seen.catching_up and not view.session:
                view.start_session(max(trigger, int(old.committed.index)))
        elif seen.catching_up:
            view.start_session(trigger)
        # Requests that can no longer be answered: its poll saw the timeout, or its poll
        # processed the termination of the peer's bond. Until that poll the node may still
        # accept an answer it had received before the break (transport
        # deliver_after_break): the session runs Q6 only when polled (watched set).
        for peer in view.outstanding:
            other = after.peers.get(peer)
            if other is None or not after.bonded(name, other):
                view.terminated.add(peer)
        polled = any(o.name == name and o.step == "node_poll" for o in t.outcomes)
        if polled:
            now = after.now_ms
            for peer, (_, _, sent) in list(view.outstanding.items()):
                if sent + config.fetch_timeout_ms <= now or peer in view.terminated:
                    del view.outstanding[peer]
            view.terminated.clear()
        # The requests it sent in this step.
        sends = [(i.dst, i.message) for i in t.sent if i.src == name]
        sends += [(d.dst, d.message) for d in t.dropped if d.src == name]
        for dst, message in sends:
            if not isinstance(message, FetchDataRequest):
                continue
            to = after.nodes[dst].peer if dst in after.nodes else None
            self._request(view, name, dst, to, message, after.now_ms, fail)
        # The projection itself.
        if old is not None:
            if seen.committed.index < old.committed.index:
                fail("I11", f"committed went back from {old.committed} to {seen.committed}")
            if (
                old.catching_up
                and seen.catching_up
                and seen.term == old.term
                and (seen.committed != old.committed or seen.digest != old.digest)
            ):
                fail(
                    "I12",
                    f"applied during catch-up: committed {old.committed} → {seen.committed}, "
                    f"digest {old.digest[:8]} → {seen.digest[:8]}",
                )
        if old is None or seen.committed != old.committed or seen.digest != old.digest:
            k = int(seen.committed.index)
            want = self._expected_digest(after, k)
            if want is not None and want != seen.digest:
                fail(
                    "I9",
                    f"state at committed {seen.committed} has digest {seen.digest[:16]}, "
                    f"Apply({k}) has {want[:16]} ({seen.items} items)",
                )
        if seen.role is ObservedRole.LEADER:
            first = after.ghost.leaders.get(int(seen.term))
            if first is not None and first != name:
                fail("RAFT-ES", f"leads term {seen.term}, which {first} led first")
        view.observation = seen
        return out

    def _coverage(self, view: NodeView, seen: Observation, fail: _Fail) -> None:
        anchor = seen.committed
        offered = view.offers.get(anchor)
        if offered is None:
            fail("I5", f"installed a snapshot at {anchor} that no peer offered in this session")
            return
        count = offered[0]
        missing = _covered(view.answered.get(anchor, []), count)
        if missing < count:
            fail(
                "I5",
                f"installed the snapshot at {anchor} ({count} items) without an accepted "
                f"answer for item {missing}",
            )

    def _request(
        self,
        view: NodeView,
        name: str,
        dst: str,
        peer: PeerId | None,
        message: FetchDataRequest,
        now: int,
        fail: _Fail,
    ) -> None:
        anchor, asked = message.anchor, message.range
        if not view.session:
            fail("I4", f"a FetchDataRequest to {dst} outside a session")
            return
        # A request for another anchor: the session moved on (an upgrade drops the old
        # anchor's progress and requests).
        for other, (a, _, _) in list(view.outstanding.items()):
            if a != anchor:
                del view.outstanding[other]
        if anchor.index < view.floor:
            fail("FRESH", f"fetches anchor {anchor}, below {view.floor} (its session's floor)")
        offered = view.offers.get(anchor)
        if offered is None or peer not in offered[1]:
            fail("I6", f"asks {dst} for anchor {anchor}, which {dst} did not offer it")
        if asked.is_empty():
            fail("I4", f"asks {dst} for the empty range [{asked.start},{asked.end})")
        if offered is not None and asked.end > offered[0]:
            fail("I4", f"asks {dst} for [{asked.start},{asked.end}) of {offered[0]} items")
        if peer is not None and peer in view.outstanding:
            fail("I4", f"a second request to {dst} while one is outstanding")
        for other, (a, r, _) in view.outstanding.items():
            if other != peer and a == anchor and r.start < asked.end and asked.start < r.end:
                fail(
                    "I4",
                    f"asks {dst} for [{asked.start},{asked.end}), overlapping [{r.start},{r.end}) "
                    f"outstanding at {other.short()}",
                )
        if peer is not None:
            view.outstanding[peer] = (anchor, asked, now)
