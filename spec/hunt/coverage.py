"""Coverage of hazard-relevant situations: how often a run reaches each deep state.

Random interleavings are only worth something if they reach the states where
the hazards live. :class:`Coverage` watches every transition of a run and counts
the situations below (each name is stable: the CLI and the tests use it).

=================================  ============================================================
situation                          counted when
=================================  ============================================================
``session_start``                  a node starts a catch-up session (R4 → Q0)
``session_finalize``               a session installs its snapshot (Q12)
``finalize_with_buffered``         ... and appends buffered entries after the anchor
``concurrent_sessions``            a step ends with two or more sessions alive
``anchor_select``                  a session selects its first anchor (Q2)
``anchor_upgrade``                 a session switches to a higher anchor (Q3, H11)
``multi_chunk_anchor``             the selected snapshot needs more than one fetch
``empty_snapshot``                 the selected snapshot has no item (H14)
``write_during_sync``              a client write while a session is alive
``leader_change_during_catchup``   a term change drops a session (R10, H17)
``bond_break_during_catchup``      a bond of a node with a session breaks
``writer_partition``               a bond between two writers breaks
``delivered_after_break``          a message its receiver had received on a broken bond
                                   is delivered after the termination (deliver_after_break)
``late_answer_after_break``        ... and it is a FetchDataResponse to a session that had
                                   dropped the sender (H1 without a timeout)
``fetch_timeout``                  an in-flight fetch passes its deadline (Q9)
``late_response_after_timeout``    a response arrives from a peer whose fetch timed out (H1)
``unsolicited_response``           a response arrives from a peer with nothing in flight
``stale_offer``                    an offer below the session's trigger position (H9)
``ttl_expiry_mid_fetch``           a provider drops the snapshot a session is fetching (H7)
``fetch_unanswered``               a fetch reaches a provider without that anchor (P4)
``provider_expiry``                a provider drops a snapshot whose TTL ran out (P5)
``provider_second_snapshot``       a provider stores a snapshot at an anchor after holding
                                   another one earlier in the same life (P3)
``provider_holds_several``         a provider holds two or more snapshots at once
``provider_reoffer``               a provider offers an anchor it already holds (P3.2)
``provider_refetch_dropped``       a fetch reaches a provider for an anchor it dropped
``provider_serve_expired``         a fetch reaches a provider at or past the snapshot's
                                   deadline before P5 dropped it (P4's expiry rule, H7)
``provider_shared``                a provider serves while two or more sessions fetch
                                   from it
``provider_log_moved``             a provider serves a snapshot below its own commit index
``buffer_gap``                     buffered entries have a hole (H3)
``retry_request``                  a session asks for a snapshot again (Q7 / reference rule)
``source_lost``                    a session loses its last usable peer (H6 / H7)
``election``                       a node's term increases
``clock_skew``                     a node's wall clock jumps
``fault_duplicate`` ...            an adversarial fault is injected (one counter per fault)
``ignored:<reason>``               a step ignores its input (one counter per IgnoreReason)
=================================  ============================================================
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from impl.effects import Ignored, InstallSnapshot, Send
from impl.messages import (
    FetchDataRequest,
    FetchDataResponse,
    RequestSnapshot,
    SnapshotOffer,
)
from impl.session import is_served, is_sync_complete
from impl.session_state import SessionState
from impl.types import Cursor
from spec.model.actions import Transition
from spec.model.state import NodeSlot

__all__ = ["SITUATIONS", "Coverage"]

SITUATIONS: tuple[str, ...] = (
    "session_start",
    "session_finalize",
    "finalize_with_buffered",
    "concurrent_sessions",
    "anchor_select",
    "anchor_upgrade",
    "multi_chunk_anchor",
    "empty_snapshot",
    "write_during_sync",
    "leader_change_during_catchup",
    "bond_break_during_catchup",
    "writer_partition",
    "delivered_after_break",
    "late_answer_after_break",
    "fetch_timeout",
    "late_response_after_timeout",
    "unsolicited_response",
    "stale_offer",
    "ttl_expiry_mid_fetch",
    "fetch_unanswered",
    "provider_expiry",
    "provider_second_snapshot",
    "provider_holds_several",
    "provider_reoffer",
    "provider_refetch_dropped",
    "provider_serve_expired",
    "provider_shared",
    "provider_log_moved",
    "buffer_gap",
    "retry_request",
    "source_lost",
    "election",
    "clock_skew",
)
"""The named situations (``fault_*`` and ``ignored:*`` counters come on top)."""

_Sessions = tuple[SessionState | None, SessionState | None]
"""A node's catch-up session before and after a step."""

_FAULT_ACTIONS = {
    "duplicate_message": "fault_duplicate",
    "reorder_message": "fault_reorder",
    "corrupt_response": "fault_corrupt",
    "forge_message": "fault_forge",
}


class Coverage:
    """Counts the situations of one run (or, merged, of many)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        # Per node: peers whose fetch timed out in the current session (for H1's "late").
        self._timed_out: dict[str, set[bytes]] = {}
        # The last node map observed after a step and its number of live sessions.
        self._alive: tuple[Mapping[str, NodeSlot], int] | None = None
        # Per (node, incarnation): the anchors it has held and those it dropped.
        self._held: dict[tuple[str, int], set[Cursor]] = {}
        self._dropped: dict[tuple[str, int], set[Cursor]] = {}

    def merge(self, other: Coverage) -> None:
        """Add ``other``'s counts to these."""
        self.counts.update(other.counts)

    def as_dict(self) -> dict[str, int]:
        """Return every named situation (zeros included) and the extra counters, sorted."""
        out = {name: self.counts.get(name, 0) for name in SITUATIONS}
        for name, value in sorted(self.counts.items()):
            out.setdefault(name, value)
        return out

    def reached(self) -> frozenset[str]:
        """Return the named situations counted at least once."""
        return frozenset(n for n in SITUATIONS if self.counts.get(n, 0) > 0)

    def observe(self, t: Transition) -> None:
        """Count what transition ``t`` reached."""
        c = self.counts
        before, after = t.before, t.after
        fault = _FAULT_ACTIONS.get(t.action)
        if fault is not None:
            c[fault] += 1
        if t.action == "set_clock_skew":
            c["clock_skew"] += 1
        finalized: set[str] = set()  # nodes whose session installed its snapshot (Q12)
        for outcome in t.outcomes:
            for effect in outcome.effects:
                if isinstance(effect, Ignored):
                    c[f"ignored:{effect.reason.value}"] += 1
                elif isinstance(effect, InstallSnapshot):
                    finalized.add(outcome.name)
        # The nodes the step changed, and the live sessions after it: counted anew, or from
        # the count of the node map before the step (the last one seen) and the changes.
        changed: list[tuple[str, NodeSlot, NodeSlot, _Sessions]] = []
        old_nodes = before.nodes
        delta, matched = 0, 0
        for name, new_slot in after.nodes.items():
            old_slot = old_nodes.get(name)
            if old_slot is new_slot:
                matched += 1
                continue
            new_session = new_slot.node.catchup
            if new_session is not None and new_slot.up:
                delta += 1
            if old_slot is not None:
                matched += 1
                old_session = old_slot.node.catchup
                if old_session is not None and old_slot.up:
                    delta -= 1
                changed.append((name, old_slot, new_slot, (old_session, new_session)))
        last = self._alive
        if last is not None and last[0] is old_nodes and matched == len(old_nodes):
            sessions_alive = last[1] + delta
        else:
            sessions_alive = sum(_alive(slot) for slot in after.nodes.values())
        self._alive = (after.nodes, sessions_alive)
        if sessions_alive >= 2:
            c["concurrent_sessions"] += 1
        if t.action == "client_write" and any(
            slot.up and slot.node.catchup is not None for slot in before.nodes.values()
        ):
            c["write_during_sync"] += 1
        if t.action in ("break_bond", "leave", "restart_empty"):
            for item_name in _endpoints(t):
                slot = before.nodes.get(item_name)
                if slot is not None and slot.node.catchup is not None:
                    c["bond_break_during_catchup"] += 1
                    break
        if t.action == "break_bond":
            a, b = before.nodes.get(t.args["a"]), before.nodes.get(t.args["b"])
            if a is not None and b is not None and a.writer and b.writer:
                c["writer_partition"] += 1
        if t.action == "deliver_message" and t.delivered:
            item = t.delivered[0]
            if not before.bonded(item.src, item.dst):
                c["delivered_after_break"] += 1
                session = before.nodes[item.dst].node.catchup
                sender = before.nodes[item.src].peer
                if (
                    isinstance(item.message, FetchDataResponse)
                    and session is not None
                    and sender not in session.inflight
                ):
                    c["late_answer_after_break"] += 1
        self._deliveries(t)
        for name, old_slot, new_slot, (old_session, new_session) in changed:
            old, new = old_slot.node, new_slot.node
            if new.term > old.term:
                c["election"] += 1
            self._sessions(
                t, name, old_session, new_session, old.term != new.term, name in finalized
            )
            if new.provider.available is not old.provider.available:
                self._provider(t, name, old.provider.available, new.provider.available)

    # -- helpers ---------------------------------------------------------------------------

    def _sessions(
        self,
        t: Transition,
        name: str,
        old: SessionState | None,
        new: SessionState | None,
        term_changed: bool,
        finalized: bool,
    ) -> None:
        c = self.counts
        if finalized:
            c["session_finalize"] += 1
            if (
                old is not None
                and old.anchor is not None
                and any(index > old.anchor.index for index, _, _ in old.buffered)
            ):
                c["finalize_with_buffered"] += 1
        if old is new:  # no session, or the same one: nothing below can count
            if new is None:
                self._timed_out.pop(name, None)
            return
        if old is None and new is not None:
            c["session_start"] += 1
            self._timed_out[name] = set()
        if old is not None and new is None and not finalized and term_changed:
            c["leader_change_during_catchup"] += 1
        if new is None:
            self._timed_out.pop(name, None)
            return
        if old is None:
            return
        if old.anchor is None and new.anchor is not None:
            c["anchor_select"] += 1
            self._anchor_shape(t, new)
        elif (
            old.anchor is not None
            and new.anchor is not None
            and new.anchor.index > old.anchor.index
        ):
            c["anchor_upgrade"] += 1
            self._anchor_shape(t, new)
        new_hole = (
            new.buffered is not old.buffered
            and _has_hole(new.buffered)
            and not _has_hole(old.buffered)
        )
        if new.min_anchor > old.min_anchor or new_hole:
            c["buffer_gap"] += 1
        now = t.after.now_ms
        gone = [p for p in old.inflight if p not in new.inflight]
        responders = {
            item.src for item in t.delivered if isinstance(item.message, FetchDataResponse)
        }
        for peer in gone:
            if old.inflight[peer].deadline_ms <= now and t.after.name_of(peer) not in responders:
                c["fetch_timeout"] += 1
                self._timed_out.setdefault(name, set()).add(peer.raw)
        if is_served(old) and not is_served(new) and not is_sync_complete(new):
            c["source_lost"] += 1

    def _anchor_shape(self, t: Transition, s: SessionState) -> None:
        if s.snapshot_len == 0:
            self.counts["empty_snapshot"] += 1
        if s.snapshot_len > t.after.setup.config.fetch_batch_size:
            self.counts["multi_chunk_anchor"] += 1

    def _deliveries(self, t: Transition) -> None:
        c = self.counts
        before = t.before
        for item in t.delivered:
            dst = before.nodes.get(item.dst)
            if dst is None:
                continue
            session = dst.node.catchup
            message = item.message
            if isinstance(message, FetchDataResponse) and session is not None:
                peer = before.nodes[item.src].peer
                if peer not in session.inflight:
                    c["unsolicited_response"] += 1
                    if peer.raw in self._timed_out.get(item.dst, set()):
                        c["late_response_after_timeout"] += 1
            elif isinstance(message, SnapshotOffer) and session is not None:
                if message.info.anchor.index < session.trigger_position:
                    c["stale_offer"] += 1
            elif isinstance(message, FetchDataRequest):
                entry = dst.node.provider.available.get(message.anchor)
                if entry is None:
                    c["fetch_unanswered"] += 1
                    if message.anchor in self._dropped.get((item.dst, dst.incarnation), ()):
                        c["provider_refetch_dropped"] += 1
                elif entry.deadline_ms <= t.after.now_ms:
                    c["provider_serve_expired"] += 1
        for outcome in t.outcomes:
            node = before.nodes.get(outcome.name)
            if node is None or node.node.catchup is None:
                continue
            for effect in outcome.effects:
                if isinstance(effect, Send) and isinstance(effect.message, RequestSnapshot):
                    c["retry_request"] += 1
        for outcome in t.outcomes:
            slot = before.nodes.get(outcome.name)
            if slot is None:
                continue
            offered: set[Cursor] = set()
            for effect in outcome.effects:
                if not isinstance(effect, Send):
                    continue
                message = effect.message
                if isinstance(message, SnapshotOffer):
                    anchor = message.info.anchor
                    if anchor in offered or anchor in slot.node.provider.available:
                        c["provider_reoffer"] += 1
                    offered.add(anchor)
                elif isinstance(message, FetchDataResponse):
                    if slot.node.committed.index > message.anchor.index:
                        c["provider_log_moved"] += 1
                    fetching = sum(
                        1
                        for other in before.nodes.values()
                        if other.up
                        and other.node.catchup is not None
                        and slot.peer in other.node.catchup.inflight
                    )
                    if fetching >= 2:
                        c["provider_shared"] += 1

    def _provider(
        self, t: Transition, name: str, old: Mapping[Cursor, Any], new: Mapping[Cursor, Any]
    ) -> None:
        c = self.counts
        slot = t.after.nodes[name]
        life = (name, slot.incarnation)
        old_slot = t.before.nodes.get(name)
        if old_slot is None or old_slot.incarnation != slot.incarnation:
            old = {}
        held = self._held.setdefault(life, set())
        for anchor in new:
            if anchor not in old:
                if held:
                    c["provider_second_snapshot"] += 1
                held.add(anchor)
        if len(new) >= 2 > len(old):
            c["provider_holds_several"] += 1
        dropped = [a for a in old if a not in new]
        if not dropped:
            return
        c["provider_expiry"] += len(dropped)
        self._dropped.setdefault(life, set()).update(dropped)
        for other in t.after.up_names():
            s = t.after.nodes[other].node.catchup
            if s is None or s.anchor is None or is_sync_complete(s):
                continue
            if s.anchor in dropped:
                self.counts["ttl_expiry_mid_fetch"] += 1
                return


def _alive(slot: NodeSlot) -> int:
    """Return 1 if ``slot`` is an up node with a catch-up session, else 0."""
    return 1 if slot.up and slot.node.catchup is not None else 0


def _endpoints(t: Transition) -> Iterable[str]:
    args = t.args
    for key in ("a", "b", "name"):
        value = args.get(key)
        if isinstance(value, str):
            yield value
    if t.action == "leave" or t.action == "restart_empty":
        name = args.get("name")
        if isinstance(name, str):
            yield from t.before.bond_peers(name)


def _has_hole(buffered: Iterable[tuple[int, object, object]]) -> bool:
    previous: int | None = None
    for index, _, _ in buffered:
        if previous is not None and index != previous + 1:
            return True
        previous = index
    return False
