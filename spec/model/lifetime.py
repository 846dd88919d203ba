"""Provider lifetime checks: what must hold of a snapshot provider over its whole life.

I1, I2, I13 and I14 (:mod:`spec.model.invariants`) judge *what* a provider holds
and sends against the agreed log. These checks judge *when* and *to whom*: the
provider's own bookkeeping of offers and TTLs (inventory §1.3, P3–P5; §2.2),
step by step, from the provider's state before and after each step and the
effects its steps returned (what a provider emits, not what the transport did
with it, so an offer the transport dropped is judged too).

=================  ===================================================================
id                 what must hold (inventory step)
=================  ===================================================================
``PROV-SERVE``     a ``FetchDataResponse`` answers a ``FetchDataRequest`` delivered to
                   the provider in the same step, goes back to its sender, for its
                   anchor, at ``offset == range.start`` with ``min(len, batch)`` items,
                   from a snapshot the provider held before the step — and, in the
                   reference ("timer first"), whose TTL had not run out (P4, I13)
``PROV-TTL``       a deadline is only ever set to ``now + ttl``, and only by an offer
                   at that anchor (P3.2) or a non-empty fetch at it (P4.4); every
                   offer and every served chunk leaves the TTL at ``now + ttl``
                   (a fetch refreshes it); nothing is held longer than one TTL ahead
``PROV-EXPIRY``    a snapshot leaves only once its deadline has passed (P5); a tick
                   without new requests leaves nothing expired behind (P5 runs when
                   P3 received nothing: provider.rs:77-82); a node holding snapshots
                   asks to be woken no later than the first TTL (mosaik's ``Sleep``)
``PROV-OFFER``     every request P3 drains is answered or skipped as P3 says: a foreign
                   fresh one gets ``SnapshotOffer`` to its requester for the request's
                   position with the length of the snapshot held there, and the
                   snapshot is held after the step; nothing else is offered (P3)
=================  ===================================================================

The hosted nodes of :mod:`spec.model.host` are skipped: their internals are not known.
Messages an adversary forged or rewrote never come out of a provider's step, so the
checks never see them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from impl.effects import Send
from impl.messages import FetchDataRequest, FetchDataResponse, SnapshotOffer
from impl.node_state import NodeState
from impl.profile import Hazard
from impl.provider_state import AvailableSnapshot
from impl.types import Cursor, ItemRange
from spec.model.actions import next_deadline_of
from spec.model.host import HostedNode

if TYPE_CHECKING:
    from spec.model.invariants import CheckContext, Violation

__all__ = [
    "PROVIDER_IDS",
    "check_prov_expiry",
    "check_prov_offer",
    "check_prov_serve",
    "check_prov_ttl",
]

PROVIDER_IDS: tuple[str, ...] = ("PROV-SERVE", "PROV-TTL", "PROV-EXPIRY", "PROV-OFFER")
"""The ids of this module's checks (module docstring)."""


def _violation(ident: str, node: str, detail: str) -> Violation:
    from spec.model.invariants import Violation

    return Violation(ident, node, detail)


def _providers(
    cx: CheckContext, names: Iterable[str] | None = None
) -> Iterable[tuple[str, NodeState, NodeState]]:
    """Return ``(name, before, after)`` of every node in ``names`` (default: those the step
    changed) that lived before the step in the same life (a restart forgets everything by
    design) and is not hosted."""
    for name in cx.changed if names is None else names:
        if name not in cx.after.nodes or not cx.same_life(name):
            continue
        old = cx.old(name)
        if old is None or isinstance(old, HostedNode):
            continue
        yield name, old, cx.node(name)


def _sends(cx: CheckContext, name: str) -> list[tuple[str | None, object]]:
    """Return ``(destination name, message)`` of every ``Send`` node ``name``'s steps emitted."""
    out: list[tuple[str | None, object]] = []
    peers = cx.after.peers
    for o in cx.outcomes(name):
        for e in o.effects:
            if isinstance(e, Send):
                out.append((peers.get(e.to), e.message))
    return out


def _served_anchors(cx: CheckContext, name: str) -> set[Cursor]:
    """Anchors node ``name`` offered or served in this step."""
    out: set[Cursor] = set()
    for _, message in _sends(cx, name):
        if isinstance(message, SnapshotOffer):
            out.add(message.info.anchor)
        elif isinstance(message, FetchDataResponse):
            out.add(message.anchor)
    return out


def _asked(cx: CheckContext, name: str) -> list[tuple[str, FetchDataRequest]]:
    """Return ``(sender, request)`` of the FetchDataRequests delivered to ``name``."""
    return [
        (item.src, item.message)
        for item in cx.t.delivered
        if item.dst == name and isinstance(item.message, FetchDataRequest)
    ]


def check_prov_serve(cx: CheckContext) -> list[Violation]:
    """PROV-SERVE: every chunk a provider sends answers a request it just got, from a snapshot
    it held (and, in the reference, whose TTL had not run out) — P4, I13.

    Catches a provider that answers the wrong peer, shifts or resizes a chunk, serves an
    anchor it dropped, or (reference) serves past the snapshot's deadline.
    """
    out: list[Violation] = []
    now = cx.after.now_ms
    batch = cx.after.setup.config.fetch_batch_size
    timer_first = not cx.after.setup.profile.has(Hazard.H7)
    for t_name in sorted({o.name for o in cx.t.outcomes}):
        old = cx.old(t_name)
        if old is None or isinstance(old, HostedNode) or not cx.same_life(t_name):
            continue
        asked = _asked(cx, t_name)
        for dst, message in _sends(cx, t_name):
            if not isinstance(message, FetchDataResponse):
                continue
            anchor = message.anchor
            match = [
                r
                for src, r in asked
                if src == dst and r.anchor == anchor and r.range.start == message.offset
            ]
            if not match:
                out.append(
                    _violation(
                        "PROV-SERVE",
                        t_name,
                        f"chunk at {message.offset} of {anchor} sent to {dst}: no request from "
                        f"{dst} for it was delivered",
                    )
                )
                continue
            request = match[0]
            want = min(len(request.range), batch)
            if len(message.items) != want:
                out.append(
                    _violation(
                        "PROV-SERVE",
                        t_name,
                        f"chunk at {message.offset} of {anchor} to {dst} has "
                        f"{len(message.items)} items for {request.range} (want {want})",
                    )
                )
            held: AvailableSnapshot | None = old.provider.available.get(anchor)
            if held is None:
                out.append(
                    _violation(
                        "PROV-SERVE",
                        t_name,
                        f"served {anchor} to {dst} without holding a snapshot there",
                    )
                )
                continue
            if timer_first and held.deadline_ms <= now:
                out.append(
                    _violation(
                        "PROV-SERVE",
                        t_name,
                        f"served {anchor} to {dst} at {now} ms, its TTL ran out at "
                        f"{held.deadline_ms} ms",
                    )
                )
            end = message.offset + len(message.items)
            items = held.snapshot.iter_range(ItemRange(message.offset, end))
            if items is None or tuple(items) != tuple(message.items):
                out.append(
                    _violation(
                        "PROV-SERVE",
                        t_name,
                        f"chunk [{message.offset},{end}) of {anchor} to {dst} is not what the "
                        "provider holds there",
                    )
                )
    return out


def check_prov_ttl(cx: CheckContext) -> list[Violation]:
    """PROV-TTL: deadlines are ``now + ttl``, set only by an offer (P3.2) or a non-empty fetch
    (P4.4) at that anchor; every offer and served chunk refreshes the TTL; no deadline lies
    more than one TTL ahead (what a provider holds is released within a TTL of its last use).
    """
    out: list[Violation] = []
    now = cx.after.now_ms
    ttl = cx.after.setup.config.snapshot_ttl_ms
    batch = cx.after.setup.config.fetch_batch_size
    for name, old, new in _providers(cx):
        before, after = old.provider, new.provider
        if after.available is before.available:
            served = _served_anchors(cx, name)
            if not served:
                continue
        else:
            served = _served_anchors(cx, name)
        fetched = {
            r.anchor
            for _, r in _asked(cx, name)
            if min(r.range.end, r.range.start + batch) > r.range.start
        }
        for anchor in sorted(served):
            entry = after.available.get(anchor)
            if entry is None or entry.deadline_ms != now + ttl:
                got = "nothing held" if entry is None else f"deadline {entry.deadline_ms} ms"
                out.append(
                    _violation(
                        "PROV-TTL",
                        name,
                        f"offered or served {anchor} at {now} ms, then {got} "
                        f"(want deadline {now + ttl} ms)",
                    )
                )
        if after.available is before.available:
            continue
        for anchor, entry in sorted(after.available.items()):
            prior = before.available.get(anchor)
            if prior is not None and prior.deadline_ms == entry.deadline_ms:
                if entry.deadline_ms > now + ttl:
                    out.append(
                        _violation(
                            "PROV-TTL",
                            name,
                            f"{anchor} held until {entry.deadline_ms} ms, more than a TTL "
                            f"after {now} ms",
                        )
                    )
                continue
            why = "taken" if prior is None else "revived"
            if entry.deadline_ms != now + ttl:
                out.append(
                    _violation(
                        "PROV-TTL",
                        name,
                        f"{anchor} {why} at {now} ms with deadline {entry.deadline_ms} ms "
                        f"(want {now + ttl} ms)",
                    )
                )
            offered = any(
                isinstance(m, SnapshotOffer) and m.info.anchor == anchor
                for _, m in _sends(cx, name)
            )
            if prior is None and not offered:
                # P3 is the only step that stores a snapshot, and it always offers it.
                out.append(
                    _violation("PROV-TTL", name, f"{anchor} {why} at {now} ms without an offer")
                )
            elif prior is not None and not offered and anchor not in fetched:
                out.append(
                    _violation(
                        "PROV-TTL",
                        name,
                        f"{anchor} {why} at {now} ms with neither an offer nor a fetch for it",
                    )
                )
    return out


def check_prov_expiry(cx: CheckContext) -> list[Violation]:
    """PROV-EXPIRY: a snapshot is dropped only past its deadline (P5), and a tick whose P3
    received nothing leaves no expired snapshot behind (P5: provider.rs:77-82).

    Catches a provider that releases a snapshot early, forgets to release one, or
    compares the deadline the wrong way.
    """
    out: list[Violation] = []
    now = cx.after.now_ms
    for name, old, new in _providers(cx):
        before, after = old.provider, new.provider
        if after.available is not before.available:
            for anchor, entry in sorted(before.available.items()):
                if anchor not in after.available and entry.deadline_ms > now:
                    out.append(
                        _violation(
                            "PROV-EXPIRY",
                            name,
                            f"dropped {anchor} at {now} ms, before its deadline "
                            f"{entry.deadline_ms} ms",
                        )
                    )
    for name, _, new in _providers(cx):
        # The node must ask to be woken by its earliest TTL, or P5 runs late (or never).
        available = new.provider.available
        if not available:
            continue
        first = min(a.deadline_ms for a in available.values())
        wake = next_deadline_of(new)
        if wake is None or wake > first:
            out.append(
                _violation(
                    "PROV-EXPIRY",
                    name,
                    f"asks to be woken at {wake} ms, its first TTL runs out at {first} ms",
                )
            )
    polled = sorted({o.name for o in cx.t.outcomes if o.step == "node_poll"})
    for name, old, new in _providers(cx, polled):
        # Only a tick whose P3 had nothing to drain: nothing queued before it, nothing
        # applied during it (a leader's R1 may commit and enqueue in the same poll).
        steps = cx.outcomes(name)
        if old.provider.requests or old.committed != new.committed:
            continue
        if any(o.step != "node_poll" or o.error is not None or o.panic is not None for o in steps):
            continue
        for anchor, entry in sorted(new.provider.available.items()):
            if entry.deadline_ms <= now:
                out.append(
                    _violation(
                        "PROV-EXPIRY",
                        name,
                        f"still holds {anchor} after a tick at {now} ms without requests; its "
                        f"deadline was {entry.deadline_ms} ms",
                    )
                )
    return out


def check_prov_offer(cx: CheckContext) -> list[Violation]:
    """PROV-OFFER: P3 answers exactly the foreign, fresh requests it drains, each with an
    offer to its requester for its position and the length of the snapshot held there.

    Catches an offer to the wrong peer, for the wrong position or length, a request
    dropped without a reason, or an offer of a snapshot the provider does not keep.
    """
    out: list[Violation] = []
    config = cx.after.setup.config
    for name, old, new in _providers(cx):
        before, after = old.provider, new.provider
        offers = [(dst, m) for dst, m in _sends(cx, name) if isinstance(m, SnapshotOffer)]
        drained = bool(before.requests) and not after.requests
        if not offers and not drained:
            continue
        me = cx.after.nodes[name].peer
        wall = cx.after.wall_ms(name)
        expected: list[tuple[str | None, Cursor]] = []
        if drained:
            for pending in before.requests:
                request = pending.request
                if request.requested_by == me or config.is_expired(request, wall):
                    continue
                expected.append((cx.after.peers.get(request.requested_by), pending.position))
        got = [(dst, m.info.anchor) for dst, m in offers]
        # A step that applied entries may have queued and drained requests the state
        # before it does not show (a leader's R1 commits at once in a committee of one):
        # then only what is offered is judged, below.
        applied = old.committed != new.committed
        if not applied and sorted(got, key=repr) != sorted(expected, key=repr):
            out.append(
                _violation(
                    "PROV-OFFER",
                    name,
                    f"offers {sorted(got, key=repr)} for the drained requests, "
                    f"want {sorted(expected, key=repr)}",
                )
            )
        for dst, m in offers:
            entry = after.available.get(m.info.anchor)
            if entry is None or len(entry.snapshot) != m.info.items_count:
                held = "nothing" if entry is None else f"{len(entry.snapshot)} items"
                out.append(
                    _violation(
                        "PROV-OFFER",
                        name,
                        f"offer of {m.info.anchor} ({m.info.items_count} items) to {dst}, "
                        f"holds {held} there",
                    )
                )
    return out
