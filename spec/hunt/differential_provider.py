"""The provider's differential: the pure provider steps against a naive provider.

The steps of :mod:`impl.provider` — ``provider_enqueue`` (S1's hand-over),
``provider_poll`` (P3, or P5 on a tick without requests), ``prune_expired_snapshots``
(P5), ``on_fetch_data_request`` (P4), ``provider_receive`` of a ``RequestSnapshot``
(P1, P2) and ``provider_next_deadline`` — get the same random inputs as
:class:`NaiveProvider`, a FIFO ``list`` of requests and a ``dict`` from anchor to
``(items, deadline)`` that spells out docs/protocol.md's provider rules (inventory
§1.3). The inputs are the ones honest group runs never produce: a fetch of an empty
range, of a range past the snapshot's end or of an unknown anchor (a buggy or
malicious peer); clocks set *exactly* at a TTL deadline or a request's expiry (and one
tick either side); several committed runs enqueued before one drain; requests for a
position already on offer (a re-offer), and with another snapshot than the one kept.

===================  ===========================================================================
id                   what must agree
===================  ===========================================================================
``D-PROV-ENQUEUE``   the channel after ``provider_enqueue``: every request of every run, oldest
                     first, none replaced (S1, P3)
``D-PROV-OFFER``     a drain (P3): the own and the expired requests are skipped — expired iff
                     ``|now_wall - requested_at| > snapshot_ttl``, strictly — every other
                     one is offered with the length of *its* snapshot, the snapshot already on
                     offer at the position is kept and its TTL revived to ``now + ttl`` (a new
                     one stored with that deadline); nothing is pruned on that tick
``D-PROV-PRUNE``     P5 (a tick without requests, or called alone): exactly the snapshots whose
                     deadline is ``<= now`` are forgotten, in anchor order
``D-PROV-FETCH``     P4: an unknown anchor, or (reference) a deadline ``<= now``, gets no reply
                     and no revive; the range is clamped to ``fetch_batch_size``; an empty
                     clamped range gets no reply and **no** revive; otherwise the TTL is revived
                     and the items are sent from ``range.start``, or nothing past the end
``D-PROV-REQUEST``   P1/P2: the leader feeds ``TakeSnapshot(sender, now_wall)``, a follower
                     ignores it; the state does not change
``D-PROV-DEADLINE``  ``provider_next_deadline``: 0 with undrained requests, else the earliest
                     TTL deadline, else none
===================  ===========================================================================

Each step's effects (timers, sends, feeds, the reasons of what it ignored) and the state
after it (requests, anchors on offer with their items and deadlines) are compared under
its id; a step that raises is a finding under its id too.

Profiles: the only provider switch is H7 (mosaik serves, and revives, a snapshot whose
deadline has passed until P5 has run); the naive model follows it, so under
``mosaik-0.3.13`` the machine checks mosaik's own rules and reports nothing for H7.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, rule

from impl.collections.base import PendingRequest, Snapshot
from impl.collections.vec import VecMachine
from impl.config import Config
from impl.effects import (
    ArmTimer,
    CancelTimer,
    Effect,
    FeedCommand,
    Ignored,
    IgnoreReason,
    Send,
    TimerId,
    TimerKind,
)
from impl.messages import (
    FetchDataRequest,
    FetchDataResponse,
    RequestSnapshot,
    SnapshotInfo,
    SnapshotOffer,
    SnapshotRequest,
    TakeSnapshot,
)
from impl.profile import REFERENCE, Hazard, Profile
from impl.provider import (
    on_fetch_data_request,
    provider_enqueue,
    provider_next_deadline,
    provider_poll,
    provider_receive,
    prune_expired_snapshots,
)
from impl.provider_state import ProviderContext, ProviderState
from impl.types import U64_MAX, Cursor, Index, ItemRange, PeerId, Term
from spec.hunt.campaigns import get_campaign
from spec.hunt.stepdiff import StepDifferential, profiled

__all__ = ["DIFF_IDS", "NaiveProvider", "ProviderDifferential", "machine_class"]

DIFF_IDS: tuple[str, ...] = (
    "D-PROV-ENQUEUE",
    "D-PROV-OFFER",
    "D-PROV-PRUNE",
    "D-PROV-FETCH",
    "D-PROV-REQUEST",
    "D-PROV-DEADLINE",
)
"""Every id the provider's differential checks."""

LOCAL = PeerId.from_label("prov-local")
PEERS = (PeerId.from_label("prov-a"), PeerId.from_label("prov-b"))
POSITIONS = (Cursor(Term(1), Index(3)), Cursor(Term(1), Index(5)), Cursor(Term(2), Index(8)))
"""The positions snapshots are taken at: few, so that requests meet a position on offer."""
UNKNOWN = Cursor(Term(9), Index(99))
"""An anchor no snapshot is ever taken at."""
START_MS = 1_000
WALL_MS = 1_767_225_600_000

_VEC = VecMachine()


def snapshot_of(items: tuple[int, ...]) -> Snapshot:
    """A Vec snapshot holding ``items`` (any collection serves P4 the same way)."""
    return _VEC.empty_snapshot().append(items)


def _effect_form(effect: Effect) -> Any:
    """An effect as compared: an ``Ignored`` by its reason only (its detail is prose)."""
    return ("ignored", effect.reason) if isinstance(effect, Ignored) else effect


def _ttl(anchor: Cursor) -> TimerId:
    return TimerId(TimerKind.SNAPSHOT_TTL, anchor=anchor)


class NaiveProvider:
    """The obvious provider (module docstring): a request list and a dict of offers."""

    def __init__(self, config: Config, h7: bool) -> None:
        self.ttl = config.snapshot_ttl_ms
        self.batch = config.fetch_batch_size
        self.h7 = h7
        """mosaik: P4 serves a snapshot past its deadline until P5 removed it."""
        self.requests: list[PendingRequest] = []
        self.available: dict[Cursor, tuple[tuple[Any, ...], int]] = {}
        """Anchor -> (items of the snapshot kept there, TTL deadline)."""

    def enqueue(self, requests: list[PendingRequest]) -> None:
        self.requests.extend(requests)

    def poll(self, now: int, wall: int) -> list[Any]:
        """A tick: drain the requests (P3) if there are any, else prune (P5)."""
        if not self.requests:
            return self.prune(now)
        out: list[Any] = []
        for pending in self.requests:
            asked = pending.request
            if asked.requested_by == LOCAL:
                out.append(("ignored", IgnoreReason.OWN_REQUEST))
                continue
            if abs(wall - asked.requested_at_ms) > self.ttl:
                out.append(("ignored", IgnoreReason.EXPIRED_REQUEST))
                continue
            deadline = now + self.ttl
            kept = self.available.get(pending.position)
            items = kept[0] if kept is not None else _items(pending.snapshot)
            self.available[pending.position] = (items, deadline)
            out.append(ArmTimer(_ttl(pending.position), deadline))
            info = SnapshotInfo(pending.position, len(pending.snapshot))
            out.append(Send(asked.requested_by, SnapshotOffer(info)))
        self.requests = []
        return out

    def prune(self, now: int) -> list[Any]:
        gone = sorted(a for a, (_, deadline) in self.available.items() if deadline <= now)
        for anchor in gone:
            del self.available[anchor]
        return [CancelTimer(_ttl(a)) for a in gone]

    def fetch(self, sender: PeerId, anchor: Cursor, start: int, end: int, now: int) -> list[Any]:
        kept = self.available.get(anchor)
        if kept is None or (kept[1] <= now and not self.h7):
            return [("ignored", IgnoreReason.UNKNOWN_ANCHOR)]
        items = kept[0]
        end = min(end, start + self.batch)
        if end <= start:
            return [("ignored", IgnoreReason.EMPTY_RANGE)]
        self.available[anchor] = (items, now + self.ttl)
        revive = ArmTimer(_ttl(anchor), now + self.ttl)
        if end > len(items):
            return [revive, ("ignored", IgnoreReason.OUT_OF_BOUNDS)]
        return [revive, Send(sender, FetchDataResponse(anchor, start, tuple(items[start:end])))]

    def next_deadline(self) -> int | None:
        if self.requests:
            return 0
        return min((deadline for _, deadline in self.available.values()), default=None)


def _items(snapshot: Snapshot) -> tuple[Any, ...]:
    return tuple(snapshot.iter_range(ItemRange(0, len(snapshot))) or ())


class ProviderDifferential(StepDifferential):
    """The provider steps against :class:`NaiveProvider` (module docstring)."""

    campaign = get_campaign("provider-steps")

    def __init__(self) -> None:
        super().__init__()
        self.config = Config()
        self.p = ProviderState()
        self.model = NaiveProvider(self.config, False)
        self.now = START_MS
        self.wall = WALL_MS
        self.snapshots: dict[Cursor, tuple[int, ...]] = {}

    def _ctx(self, leader: bool = False) -> ProviderContext:
        return ProviderContext(LOCAL, leader, self.config, self.now, self.wall, self.profile)

    def _anchors(self, every: tuple[Cursor, ...]) -> list[Cursor]:
        """``every``, with the anchors on offer listed twice more: re-offers and fetches of
        a live snapshot are the cases that need them, and a uniform draw seldom meets one."""
        on_offer = sorted(self.model.available)
        return [*on_offer, *on_offer, *every]

    # -- the comparison after a step ----------------------------------------------------------

    def _compare(self, ident: str, what: str, effects: tuple[Effect, ...], want: list[Any]) -> None:
        have = [_effect_form(e) for e in effects]
        if have != want:
            self._find(ident, f"{what}: effects {have!r}, the model's {want!r}")
            return
        got = {a: (_items(s.snapshot), s.deadline_ms) for a, s in self.p.available.items()}
        if got != self.model.available:
            self._find(ident, f"{what}: on offer {got!r}, the model's {self.model.available!r}")
        elif list(self.p.requests) != self.model.requests:
            self._find(
                ident,
                f"{what}: {len(self.p.requests)} requests undrained, the model's "
                f"{len(self.model.requests)}",
            )

    def _raised(self, ident: str, what: str, error: Exception) -> None:
        self._find(ident, f"{what} raised {type(error).__name__}: {error}")

    # -- rules ----------------------------------------------------------------------------------

    @initialize(
        ttl=st.sampled_from((0, 1, 3, 10)),
        batch=st.integers(1, 3),
        lengths=st.tuples(*(st.integers(0, 5) for _ in POSITIONS)),
    )
    def setup_provider(self, ttl: int, batch: int, lengths: tuple[int, ...]) -> None:
        """A provider with TTL ``ttl`` and batch ``batch``; the snapshot length per position."""
        self._count(f"setup_provider(ttl={ttl}, batch={batch}, lengths={lengths})")
        self.config = Config(fetch_batch_size=batch, snapshot_ttl_ms=ttl)
        self.model = NaiveProvider(self.config, self.profile.has(Hazard.H7))
        self.snapshots = {
            pos: tuple(100 * k + j for j in range(n))
            for k, (pos, n) in enumerate(zip(POSITIONS, lengths, strict=True))
        }

    @rule(data=st.data(), count=st.integers(0, 3))
    def enqueue(self, data: st.DataObject, count: int) -> None:
        """S1 hands over one committed run's requests (several runs may come before a drain).

        A request's stamp is drawn at the expiry boundaries of the wall clock now (it may
        be skewed later); its position may already be on offer; its snapshot is, rarely,
        another one than the position's (a run that broke I2)."""
        ttl = self.config.snapshot_ttl_ms
        run: list[PendingRequest] = []
        for _ in range(count):
            by = data.draw(st.sampled_from((*PEERS, *PEERS, LOCAL)), label="requested_by")
            ages = (0, 0, ttl - 1, ttl, ttl + 1, -ttl, -ttl - 1)
            age = data.draw(st.sampled_from(ages), label="age")
            pos = data.draw(st.sampled_from(self._anchors(POSITIONS)), label="position")
            items = self.snapshots[pos]
            if data.draw(st.integers(0, 7), label="other snapshot") == 0:
                items = items[:-1] if items else (7,)
            request = SnapshotRequest(by, self.wall - age)
            run.append(PendingRequest(request, pos, snapshot_of(items)))
        what = f"enqueue({[(r.request.requested_by, r.position, len(r.snapshot)) for r in run]!r})"
        self._count(what)
        try:
            self.p = provider_enqueue(self.p, run)
        except Exception as error:
            self._raised("D-PROV-ENQUEUE", what, error)
            return
        self.model.enqueue(run)
        self._compare("D-PROV-ENQUEUE", what, (), [])

    @rule()
    def poll(self) -> None:
        """The provider's tick: P3 when requests wait (no P5 then), else P5."""
        draining = bool(self.model.requests)
        ident = "D-PROV-OFFER" if draining else "D-PROV-PRUNE"
        what = f"poll(now={self.now}, wall={self.wall})"
        self._count(what)
        try:
            self.p, effects = provider_poll(self.p, self._ctx())
        except Exception as error:
            self._raised(ident, what, error)
            return
        want = self.model.poll(self.now, self.wall)
        self._compare(ident, what, effects, want)

    @rule(data=st.data(), count=st.integers(1, 2))
    def commit_and_poll(self, data: st.DataObject, count: int) -> None:
        """One committed run's requests, drained at once: what a group's tick does (R6, P3)."""
        self.enqueue(data, count)
        self.poll()

    @rule()
    def prune(self) -> None:
        """P5 alone, at the current time (requests may be waiting)."""
        what = f"prune(now={self.now})"
        self._count(what)
        try:
            self.p, effects = prune_expired_snapshots(self.p, self.now)
        except Exception as error:
            self._raised("D-PROV-PRUNE", what, error)
            return
        self._compare("D-PROV-PRUNE", what, effects, self.model.prune(self.now))

    @rule(data=st.data())
    def advance_time(self, data: st.DataObject) -> None:
        """Move both clocks on, to a TTL deadline give or take one tick, or a little."""
        targets = {self.now + 1, self.now + self.config.snapshot_ttl_ms}
        for _, deadline in self.model.available.values():
            targets.update((deadline - 1, deadline, deadline + 1))
        to = data.draw(st.sampled_from(sorted(t for t in targets if t > self.now) or [self.now]))
        self._count(f"advance_time(to={to})")
        self.wall += to - self.now
        self.now = to

    @rule(data=st.data())
    def set_wall_clock(self, data: st.DataObject) -> None:
        """Skew the wall clock to a waiting request's expiry boundary, on either side."""
        ttl = self.config.snapshot_ttl_ms
        stamps = sorted({r.request.requested_at_ms for r in self.model.requests}) or [self.wall]
        at = data.draw(st.sampled_from(stamps), label="stamp")
        self.wall = at + data.draw(st.sampled_from((ttl - 1, ttl, ttl + 1, -ttl, -ttl - 1)))
        self._count(f"set_wall_clock({self.wall})")

    @rule(data=st.data())
    def fetch(self, data: st.DataObject) -> None:
        """P4 with any range a peer could send: empty, clamped, past the end, unknown anchor."""
        anchor = data.draw(st.sampled_from(self._anchors((*POSITIONS, UNKNOWN))), label="anchor")
        kept = self.model.available.get(anchor)
        n = len(kept[0]) if kept is not None else 2
        batch = self.config.fetch_batch_size
        start = data.draw(st.sampled_from((0, 1, n - 1, n, n + 1, U64_MAX)), label="start")
        start = max(start, 0)
        length = data.draw(st.sampled_from((0, 1, batch, batch + 1, n - start, n - start + 1)))
        end = min(max(start + length, start), U64_MAX)
        sender = data.draw(st.sampled_from((*PEERS, LOCAL)), label="sender")
        request = FetchDataRequest(anchor, ItemRange(start, end))
        what = f"fetch({anchor}, [{start}, {end}), from={sender}, now={self.now})"
        self._count(what)
        try:
            self.p, effects = on_fetch_data_request(self.p, self._ctx(), sender, request)
        except Exception as error:
            self._raised("D-PROV-FETCH", what, error)
            return
        want = self.model.fetch(sender, anchor, start, end, self.now)
        self._compare("D-PROV-FETCH", what, effects, want)

    @rule(sender=st.sampled_from((*PEERS, LOCAL)), leader=st.booleans())
    def request_snapshot(self, sender: PeerId, leader: bool) -> None:
        """P1/P2: a RequestSnapshot arrives at a leader or a follower."""
        what = f"request_snapshot(from={sender}, leader={leader})"
        self._count(what)
        try:
            self.p, effects, rest = provider_receive(
                self.p, self._ctx(leader), sender, RequestSnapshot()
            )
        except Exception as error:
            self._raised("D-PROV-REQUEST", what, error)
            return
        want: list[Any] = (
            [FeedCommand(TakeSnapshot(SnapshotRequest(sender, self.wall)))]
            if leader
            else [("ignored", IgnoreReason.NOT_LEADER)]
        )
        if rest is not None:
            self._find("D-PROV-REQUEST", f"{what}: returned unconsumed")
        self._compare("D-PROV-REQUEST", what, effects, want)

    @rule()
    def next_deadline(self) -> None:
        """When the provider next has work."""
        self._count("next_deadline()")
        have, want = provider_next_deadline(self.p), self.model.next_deadline()
        if have != want:
            self._find("D-PROV-DEADLINE", f"next deadline {have!r}, the model's {want!r}")

    # -- invariants -------------------------------------------------------------------------------

    @invariant()
    def d_prov_enqueue(self) -> None:
        """D-PROV-ENQUEUE: the request channel agrees."""
        self._check("D-PROV-ENQUEUE")

    @invariant()
    def d_prov_offer(self) -> None:
        """D-PROV-OFFER: drains agree (offers, skips, kept snapshots, revived TTLs)."""
        self._check("D-PROV-OFFER")

    @invariant()
    def d_prov_prune(self) -> None:
        """D-PROV-PRUNE: expiry agrees."""
        self._check("D-PROV-PRUNE")

    @invariant()
    def d_prov_fetch(self) -> None:
        """D-PROV-FETCH: fetches agree (replies, refusals, revives)."""
        self._check("D-PROV-FETCH")

    @invariant()
    def d_prov_request(self) -> None:
        """D-PROV-REQUEST: snapshot requests agree."""
        self._check("D-PROV-REQUEST")

    @invariant()
    def d_prov_deadline(self) -> None:
        """D-PROV-DEADLINE: the next deadline agrees."""
        self._check("D-PROV-DEADLINE")


def machine_class(profile: Profile = REFERENCE) -> type[ProviderDifferential]:
    """Return the provider's differential under ``profile`` (its model follows H7)."""
    return profiled(ProviderDifferential, profile)
