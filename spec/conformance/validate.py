"""``snapsync validate``: is a node's event log a behaviour of the spec?

The log (docs/formats/events.md) says what happened to one node and what it did.
The spec of one node is the reference's pure steps (``impl/``): ``node_new``, then
one step per input — a received message, a client write, a bond that breaks, a
poll. The validator replays the inputs through the steps and checks that every
output the log shows is one the step produced, and that every output the step
produced (of the kinds the log records) is in the log.

The spec leaves some choices open, and the validator searches them instead of
rejecting (TLA+ trace validation does the same with TLC, CCF and etcd-raft):

* **When a poll happens.** A node polls whenever its runtime wakes it; a log
  need not show every poll. Before each input the node may have polled silently
  (at the input's time, or when its earliest deadline fell due since the last
  event), and an output that no earlier step explains may come from a poll at its
  own time (at most ``max_hidden`` polls in a row). A log whose header lists
  ``poll`` shows every poll: no poll is searched.
* **When an election timer fires.** Election timeouts are random in the spec
  (base + jitter, redrawn at every re-arm), so the validator does not fix them: a
  follower or candidate starts an election when the log says so (a ``timer``
  ``election`` event, a logged ``poll`` whose outputs are an election's, or an
  unexplained ``RequestVote``), if the spec lets it stand (a writer, not leading,
  not catching up).
* **Which idle peer gets which chunk.** The reference asks idle peers in peer-id
  order (leader last); mosaik iterates a hash set. A ``FetchDataRequest`` of the
  scheduled range to another idle, available peer of the session is accepted, and
  the session's in-flight map is re-keyed to the peers the log shows (the leader
  still goes last).
* **Order within a step.** The outputs of one step may be logged in any order;
  the outputs of one step all come before the next step's.

The search keeps every surviving hypothesis (a spec state plus the outputs of
its current step not yet seen), deduplicates equal ones, and keeps at most
``max_hypotheses`` (a bound that is reported when it was hit: a rejection after
it is "not explained within the bound", never a proof). Verdict: accepted, or
the first line no hypothesis explains, what each hypothesis expected there, and
the line of the input whose step it was.

* **Which broken bonds are still in the bond table.** mosaik keeps a broken bond in
  the node's bond table until it has processed the messages it had received on it
  (transport ``deliver_after_break``): a ``recv`` from a peer after its ``bond_down``
  (and before a new ``bond_up``) is such a message. Its step sees the sender in the
  table, and the termination watchers it registers fire at once (the step runs
  ``node_bond_terminated`` for the sender after ``node_receive``). Whether the peer
  was in the table for the steps between the ``bond_down`` and that ``recv`` (and for
  how long after it) the log does not say: the search assumes it was not, and
  resumes from the ``bond_down`` (or the previous late ``recv``) with the peer in
  the table when a later ``recv`` shows that it was, or when no hypothesis explains
  an event (the peer's place in the table changed what a step did).

A log must be complete: when it ends, no step may still owe an output
(the validator reports the step that does).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from impl.codec import encode_tagged
from impl.collections.base import StateMachine
from impl.effects import Broadcast, Effect, Send, TimerKind
from impl.errors import HazardPanic, InvalidInput, InvalidState, NotLeader
from impl.messages import FetchDataRequest, Message, RequestVote
from impl.node import (
    node_bond_terminated,
    node_client_write,
    node_new,
    node_next_deadline,
    node_poll,
    node_receive,
)
from impl.node_state import (
    CandidateRole,
    FollowerRole,
    LeaderRole,
    NodeContext,
    NodeState,
    Preference,
)
from impl.observe import ObservedRole
from impl.profile import Profile
from impl.records import evolve
from impl.types import PeerId
from spec.conformance.events import (
    INPUTS,
    Event,
    EventKind,
    EventLog,
    EventLogError,
    LogHeader,
    WriteResult,
)
from spec.conformance.outputs import state_outputs
from spec.model.actions import machine_for

__all__ = [
    "DEFAULT_MAX_HIDDEN",
    "DEFAULT_MAX_HYPOTHESES",
    "FREE_ELECTION_TIMEOUT_MS",
    "Attribution",
    "LogValidator",
    "Trail",
    "TrailStep",
    "Verdict",
    "attribute",
    "validate_log",
]

DEFAULT_MAX_HYPOTHESES = 64
"""The search keeps at most this many hypotheses after each event."""

DEFAULT_MAX_HIDDEN = 2
"""At most this many unlogged polls in a row explain one output."""

MAX_RESUMES = 4
"""How many times one explanation may resume from a broken bond's fork inside another's."""

FREE_ELECTION_TIMEOUT_MS = 1 << 62
"""The election timeout the validator's steps arm: elections happen when the log says."""


# -- what a step expects to see logged ------------------------------------------------------------


_JSON: dict[int, tuple[Message, dict[str, Any]]] = {}
"""id(message) → (message, its tagged JSON form), for the messages of the last few steps."""


class Expected:
    """One output a spec step produced that the log must show (matched by :meth:`matches`)."""

    __slots__ = ("_json", "fields", "kind", "message", "peer")

    def __init__(
        self,
        kind: EventKind,
        fields: dict[str, Any] | None = None,
        peer: PeerId | None = None,
        message: Message | None = None,
    ) -> None:
        self.kind = kind
        self.fields = fields or {}
        self.peer = peer
        self.message = message
        self._json: dict[str, Any] | None = None

    def message_json(self) -> dict[str, Any]:
        if self._json is None:
            message = self.message
            assert message is not None
            # A broadcast is one expected send per peer, all of one message: encode it once.
            hit = _JSON.get(id(message))
            if hit is None or hit[0] is not message:
                if len(_JSON) > 64:
                    _JSON.clear()
                hit = _JSON[id(message)] = (message, encode_tagged(message))
            self._json = hit[1]
        return self._json

    def matches(self, e: Event) -> bool:
        """Check if the logged event ``e`` is this output (same kind and fields)."""
        if e.kind is not self.kind:
            return False
        f = e.fields
        if self.kind is EventKind.SEND:
            if f["to"] != self.peer:
                return False
            if e._decoded is not None:  # already decoded (a drive log): compare the records
                return bool(e._decoded == self.message)
            return bool(f["message"] == self.message_json())
        if self.kind is EventKind.COMMIT:
            if f["committed"] != self.fields["committed"]:
                return False
            digest = f["digest"]
            return digest is None or digest == self.fields["digest"].value()
        if self.kind is EventKind.IGNORED:
            return bool(f["reason"] == self.fields["reason"])  # the detail is informative
        if self.kind is EventKind.PANIC:
            return bool(f["site"] == self.fields["site"])  # the detail is informative
        return all(f[name] == value for name, value in self.fields.items())

    def describe(self) -> str:
        """Return the output as text (verdicts)."""
        f = self.fields
        k = self.kind
        if k is EventKind.SEND:
            assert self.message is not None
            assert self.peer is not None
            return f"send {_message_text(self.message)} to {self.peer.short()}"
        if k is EventKind.COMMIT:
            return f"commit {f['committed']} (digest {f['digest'].value()[:8]})"
        if k is EventKind.APPEND:
            return f"append last {f['last']}"
        if k is EventKind.ROLE:
            leader = f["leader"]
            return (
                f"role {f['role'].value} t{f['term']} leader {leader.short() if leader else None}"
            )
        if k is EventKind.SESSION:
            anchor = f["anchor"]
            return f"session {f['phase'].value}" + ("" if anchor is None else f" {anchor}")
        if k is EventKind.INSTALL:
            return f"install {f['anchor']} ({f['items']} items, digest {f['digest'][:8]})"
        if k is EventKind.PANIC:
            return f"panic at {f['site']}"
        if k is EventKind.IGNORED:
            return f"ignored ({f['reason'].value})"
        return k.value


def _message_text(m: Message) -> str:
    name = type(m).__name__
    if isinstance(m, FetchDataRequest):
        return f"{name}({m.anchor}, [{m.range.start},{m.range.end}))"
    offset = getattr(m, "offset", None)
    if offset is not None:
        return f"{name}(offset {offset}, {len(getattr(m, 'items', ()))} items)"
    return name


# -- hypotheses ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TrailStep:
    """One step of an explanation: what ran, when, and the log event it answers (None for
    a poll or an election the log does not show)."""

    kind: str
    """``start``, ``bond_up``, ``bond_down``, ``recv``, ``client_write``, ``poll`` or
    ``election`` (a poll whose election timer fired)."""
    time_ms: int
    wall_ms: int
    event: Event | None
    table: frozenset[PeerId] = frozenset()
    """Broken bonds still in the node's bond table at this step (their peers are in the
    step's ``ctx.bonds`` besides the live bonds): a ``recv`` from one of them is a message
    received before the break, whose step also runs the termination watchers again."""


@dataclass(frozen=True, slots=True)
class Trail:
    """An explanation as a linked list (hypotheses share their common past)."""

    previous: Trail | None
    step: TrailStep

    def steps(self) -> list[TrailStep]:
        """Return the steps, oldest first."""
        out: list[TrailStep] = []
        link: Trail | None = self
        while link is not None:
            out.append(link.step)
            link = link.previous
        return out[::-1]


def _trail(h: _Hyp | None, kind: str, now: int, wall: int, e: Event | None) -> Trail:
    table = frozenset() if h is None else h.table
    return Trail(None if h is None else h.trail, TrailStep(kind, now, wall, e, table))


@dataclass(slots=True)
class _Hyp:
    """One way the spec may have run so far."""

    node: NodeState | None
    """The spec node (None before ``start``)."""
    bonds: frozenset[PeerId] = frozenset()
    pending: tuple[Expected, ...] = ()
    """Outputs of the current step the log has not shown yet."""
    time: int = 0
    """Time of the last step."""
    crashed: bool = False
    """The spec panicked: only a ``start`` may follow."""
    hidden: int = 0
    """Unlogged polls run since the last logged event."""
    hidden_total: int = 0
    """Unlogged polls in this explanation (reported)."""
    step_line: int = 0
    """Line of the event that started the current step (reports)."""
    step_text: str = ""
    """What the current step was (reports)."""
    relabel: dict[PeerId, PeerId] | None = None
    """This step's fetch targets re-assigned by the log: spec peer → logged peer."""
    eligible: frozenset[PeerId] = frozenset()
    """Peers that may receive a re-assigned fetch in this step."""
    targets: frozenset[PeerId] = frozenset()
    """The spec's fetch targets in this step."""
    trail: Trail | None = None
    """Every spec step of this explanation, newest first (:meth:`LogValidator.explanation`)."""
    table: frozenset[PeerId] = frozenset()
    """Peers of broken bonds still in the bond table (transport ``deliver_after_break``):
    the node has yet to process messages it received from them before the break."""
    forks: tuple[_Fork, ...] = ()
    """Where to resume if a later ``recv`` shows a peer was still in the table."""

    def key(self) -> tuple[Any, ...]:
        node = self.node
        head: tuple[Any, ...] = (
            (None,)
            if node is None
            else (node.term, node.committed, node.log.last(), type(node.role), node.online)
        )
        return (*head, self.crashed, len(self.pending), self.bonds, self.table)

    def carried(self, out: _Hyp) -> _Hyp:
        """Return ``out`` with this hypothesis' bond table and forks (a step keeps them)."""
        out.table, out.forks = self.table, self.forks
        return out


@dataclass(frozen=True, slots=True)
class _Fork:
    """The hypothesis after the event at ``index`` in which ``peer`` was still in the bond
    table: :meth:`LogValidator.advance` resumes from it when a later ``recv`` from
    ``peer`` shows that it was."""

    peer: PeerId
    hypothesis: _Hyp
    index: int


def _without_fork(forks: tuple[_Fork, ...], peer: PeerId) -> tuple[_Fork, ...]:
    return tuple(f for f in forks if f.peer != peer)


def _same(a: _Hyp, b: _Hyp) -> bool:
    if a.crashed != b.crashed or a.bonds != b.bonds or a.relabel != b.relabel:
        return False
    if a.table != b.table:
        return False
    if len(a.pending) != len(b.pending):
        return False
    for x, y in zip(a.pending, b.pending, strict=True):
        if x.kind is not y.kind or x.peer != y.peer or x.message != y.message:
            return False
        if x.kind is not EventKind.COMMIT and x.fields != y.fields:
            return False
    return a.node is b.node or a.node == b.node


# -- the verdict -----------------------------------------------------------------------------------


@dataclass(slots=True)
class Verdict:
    """What :func:`validate_log` decided."""

    accepted: bool
    node: str
    profile: str
    events: int
    """Events in the log."""
    explained: int
    """Events explained before the first unexplained one (all of them when accepted)."""
    line: int | None = None
    """The first line no hypothesis explains."""
    event: str | None = None
    """That line's event, described."""
    reason: str | None = None
    """Why no hypothesis explains it."""
    allowed: list[str] = field(default_factory=list)
    """What the spec would allow there, per surviving hypothesis (at most three)."""
    step_line: int | None = None
    """The input whose step the failure belongs to (when it owed outputs)."""
    max_hypotheses: int = 0
    """The most hypotheses alive at once."""
    truncated: bool = False
    """The hypothesis bound was hit: a rejection is 'not explained within the bound'."""
    hidden_polls: int = 0
    """Unlogged polls in the accepted explanation."""
    seconds: float = 0.0

    def as_json(self) -> dict[str, Any]:
        """Return the JSON form (``snapsync validate --json``)."""
        return {
            "accepted": self.accepted,
            "node": self.node,
            "profile": self.profile,
            "events": self.events,
            "explained": self.explained,
            "line": self.line,
            "event": self.event,
            "reason": self.reason,
            "allowed": self.allowed,
            "step_line": self.step_line,
            "max_hypotheses": self.max_hypotheses,
            "truncated": self.truncated,
            "hidden_polls": self.hidden_polls,
            "seconds": round(self.seconds, 4),
            "events_per_s": round(self.events / self.seconds, 1) if self.seconds > 0 else None,
        }


class _Dead(Exception):
    """A hypothesis cannot explain the event (``reason`` says why)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


# -- the validator ---------------------------------------------------------------------------------


class LogValidator:
    """The validator of one node's log, fed one event at a time (:func:`validate_log` feeds a
    whole log; ``snapsync drive`` feeds its hosted node's events as they happen)."""

    def __init__(
        self,
        header: LogHeader,
        profile: Profile,
        max_hypotheses: int = DEFAULT_MAX_HYPOTHESES,
        max_hidden: int = DEFAULT_MAX_HIDDEN,
    ) -> None:
        if max_hypotheses < 1:
            raise InvalidInput(f"max_hypotheses must be at least 1, got {max_hypotheses}")
        if max_hidden < 0:
            raise InvalidInput(f"max_hidden must not be negative, got {max_hidden}")
        h = header
        self.header = header
        self.profile = profile
        self.machine: StateMachine = machine_for(h.kind)
        self.preference = Preference.NORMAL if h.writer else Preference.OBSERVER
        self.logged = h.logged
        self.hidden_allowed = EventKind.POLL not in h.logged and max_hidden > 0
        self.max_hidden = max_hidden
        self.max_hypotheses = max_hypotheses
        self.reasons: list[str] = []
        self.events: list[Event] = []
        self.frontier = [_Hyp(None)]
        self._at = 0
        """The index in :attr:`events` of the event being explained."""
        self.verdict = Verdict(True, h.label, profile.name, 0, 0)
        self.seconds = 0.0

    # -- running one spec step ------------------------------------------------------------------

    def ctx(self, h: _Hyp, now: int, wall: int) -> NodeContext:
        return NodeContext(
            now_ms=now,
            now_wall_ms=wall,
            bonds=h.bonds | h.table,
            config=self.header.config,
            profile=self.profile,
            machine=self.machine,
            election_timeout_ms=FREE_ELECTION_TIMEOUT_MS,
            heartbeat_interval_ms=self.header.heartbeat_interval_ms,
        )

    def expected(
        self, old: NodeState, new: NodeState, effects: tuple[Effect, ...], bonds: frozenset[PeerId]
    ) -> tuple[Expected, ...]:
        out: list[Expected] = []
        for e in effects:
            if isinstance(e, Send):
                out.append(Expected(EventKind.SEND, peer=e.to, message=e.message))
            elif isinstance(e, Broadcast):
                for peer in sorted(bonds, key=lambda p: p.raw):
                    out.append(Expected(EventKind.SEND, peer=peer, message=e.message))
        logged = self.logged
        for o in state_outputs(old, new, effects, self.machine):
            if o.kind in logged:
                out.append(Expected(o.kind, o.fields))
        return tuple(out)

    def run(
        self,
        h: _Hyp,
        kind: str,
        now: int,
        wall: int,
        e: Event,
        *,
        hidden: bool = False,
        arg: Any = None,
    ) -> _Hyp:
        """Run one spec step on ``h``; return the hypothesis with the step's outputs pending."""
        node = h.node
        if node is None:
            raise _Dead("the node has not started (no start event yet)")
        if h.crashed:
            raise _Dead("the spec panicked earlier: only a start (restart) may follow")
        ctx = self.ctx(h, now, wall)
        try:
            if kind == "recv":
                new, effects = node_receive(node, ctx, arg[0], arg[1])
                if arg[0] in h.table and arg[0] not in h.bonds:
                    # A message received before the bond broke: the watchers its step
                    # registered on the dead bond fire at once.
                    new, more = node_bond_terminated(new, arg[0])
                    effects += more
            elif kind in ("poll", "election"):
                if kind == "election":
                    node = self._election_due(node, now)
                new, effects = node_poll(node, ctx)
            elif kind == "bond_down":
                new, effects = node_bond_terminated(node, arg)
            elif kind == "client_write":
                command, result = arg
                try:
                    new, effects = node_client_write(node, ctx, command)
                except NotLeader:
                    if result is not WriteResult.NOT_LEADER:
                        raise _Dead("the spec rejects this write (NotLeader)") from None
                    return self._next(h, node, (), now, wall, e, kind, hidden)
                if result is not WriteResult.ACCEPTED:
                    raise _Dead("the spec accepts this write (the node leads)")
            else:  # pragma: no cover - the callers pass the kinds above
                raise InvalidInput(f"unknown step {kind}")
        except HazardPanic as panic:
            pending: tuple[Expected, ...] = ()
            if EventKind.PANIC in self.logged:
                pending = (Expected(EventKind.PANIC, {"site": panic.site}),)
            return h.carried(
                _Hyp(
                    node,
                    h.bonds,
                    pending,
                    now,
                    True,
                    h.hidden + hidden,
                    h.hidden_total + hidden,
                    e.line,
                    f"{kind} (panics: {panic.hazard} at {panic.site})",
                    trail=_trail(h, kind, now, wall, None if hidden else e),
                )
            )
        except InvalidState as exc:
            raise _Dead(f"the spec refuses this step: {exc}") from None
        expected = self.expected(node, new, effects, h.bonds)
        out = self._next(h, new, expected, now, wall, e, kind, hidden)
        if kind in ("poll", "election") and new.catchup is not None:
            self._fetch_choice(out, node, new)
        return out

    def _next(
        self,
        h: _Hyp,
        new: NodeState,
        pending: tuple[Expected, ...],
        now: int,
        wall: int,
        e: Event,
        kind: str,
        hidden: bool,
    ) -> _Hyp:
        return h.carried(
            _Hyp(
                new,
                h.bonds,
                pending,
                now,
                False,
                h.hidden + hidden,
                h.hidden_total + hidden,
                e.line,
                ("hidden " if hidden else "") + kind,
                trail=_trail(h, kind, now, wall, None if hidden else e),
            )
        )

    def _election_due(self, node: NodeState, now: int) -> NodeState:
        """Return ``node`` with its election timer due at ``now`` (the log says it fired)."""
        role = node.role
        if node.preference is Preference.OBSERVER:
            raise _Dead("an observer never stands for election")
        if isinstance(role, LeaderRole):
            raise _Dead("a leader has no election timer")
        if isinstance(role, FollowerRole):
            if role.catchup is not None:
                raise _Dead("elections are suppressed during catch-up")
            return evolve(node, role=evolve(role, election_deadline_ms=now))
        if isinstance(role, CandidateRole):
            return evolve(node, role=evolve(role, election_deadline_ms=now))
        raise _Dead(f"no election timer in role {type(role).__name__}")  # pragma: no cover

    def _fetch_choice(self, h: _Hyp, old: NodeState, new: NodeState) -> None:
        """Record which peers the log may ask instead of the spec's choice (Q11's order)."""
        session = new.catchup
        assert session is not None
        targets = frozenset(
            x.peer
            for x in h.pending
            if x.peer is not None
            and x.kind is EventKind.SEND
            and isinstance(x.message, FetchDataRequest)
        )
        if not targets:
            return
        busy = frozenset(session.inflight.keys()) - targets
        idle = session.available_peers - busy
        leader = session.leader
        eligible = {p for p in idle if p != leader}
        if leader in targets:
            eligible.add(leader)  # the leader is asked only once every other idle peer is
        h.targets = targets
        h.eligible = frozenset(eligible)

    # -- matching an output ---------------------------------------------------------------------

    def match(self, h: _Hyp, e: Event) -> _Hyp | None:
        pending = h.pending
        for i, x in enumerate(pending):
            if x.matches(e):
                return self._matched(h, i, h.relabel)
        if e.kind is EventKind.SEND and h.targets:
            message = e.message()
            if isinstance(message, FetchDataRequest):
                return self._reassigned(h, e.fields["to"], message)
        return None

    def _reassigned(self, h: _Hyp, to: PeerId, message: FetchDataRequest) -> _Hyp | None:
        relabel = dict(h.relabel or {})
        if to not in h.eligible or to in relabel.values():
            return None
        for i, x in enumerate(h.pending):
            if (
                x.kind is EventKind.SEND
                and x.message == message
                and x.peer is not None
                and x.peer != to
                and x.peer not in relabel
            ):
                relabel[x.peer] = to
                return self._matched(h, i, relabel)
        return None

    def _matched(self, h: _Hyp, i: int, relabel: dict[PeerId, PeerId] | None) -> _Hyp:
        pending = h.pending[:i] + h.pending[i + 1 :]
        out = _Hyp(
            h.node,
            h.bonds,
            pending,
            h.time,
            h.crashed,
            0,
            h.hidden_total,
            h.step_line,
            h.step_text,
            relabel,
            h.eligible,
            h.targets,
            h.trail,
            h.table,
            h.forks,
        )
        if not pending and relabel:
            out.node = self._apply_relabel(out, relabel)
            out.relabel = None
        return out

    def _apply_relabel(self, h: _Hyp, relabel: dict[PeerId, PeerId]) -> NodeState:
        node = h.node
        assert node is not None
        assert isinstance(node.role, FollowerRole)
        session = node.role.catchup
        assert session is not None
        final = [relabel.get(p, p) for p in h.targets]
        if len(set(final)) != len(final):
            raise _Dead("the log asks one peer for two chunks in one step")
        moved = {p: session.inflight[p] for p in relabel}
        inflight = session.inflight
        for p in relabel:
            inflight = inflight.discard(p)
        for p, pending_fetch in moved.items():
            inflight = inflight.set(relabel[p], pending_fetch)
        session = evolve(session, inflight=inflight)
        return evolve(node, role=evolve(node.role, catchup=session))

    # -- one event ------------------------------------------------------------------------------

    def advance(self, h: _Hyp, e: Event) -> Iterator[_Hyp]:
        """Yield every hypothesis that explains ``e`` after ``h``."""
        kind = e.kind
        if kind not in INPUTS:
            found = self.match(h, e)
            if found is not None:
                yield found
                return
            if h.pending:
                near = _nearest(h.pending, e)
                self.reasons.append(
                    f"the step of line {h.step_line} ({h.step_text}) still owes "
                    + "; ".join(x.describe() for x in h.pending[:4])
                    + (f", not this ({near})" if near else ", not this")
                )
                return
            if not self.hidden_allowed or h.node is None or h.crashed:
                self.reasons.append("no step explains this output here")
                return
            yield from self._hidden_then(h, e)
            return
        if h.pending:
            self.reasons.append(
                f"the step of line {h.step_line} ({h.step_text}) still owes "
                + "; ".join(x.describe() for x in h.pending[:4])
            )
            return
        try:
            yield self.apply(h, e)
        except _Dead as dead:
            self.reasons.append(dead.reason)
        if kind is EventKind.RECV and h.node is not None:
            sender = e.fields["from"]
            if sender not in h.bonds and sender not in h.table:
                for g in self._late(h, e):
                    yield from self.advance(g, e)
        if kind is EventKind.POLL and not h.crashed and _may_stand(h.node):
            # Election timeouts are free: a logged poll may be the one whose timer fired.
            try:
                yield self.run(h, "election", e.time_ms, e.wall_ms, e)
            except _Dead as dead:
                self.reasons.append(dead.reason)
        if self.hidden_allowed and kind is not EventKind.START and h.node is not None:
            for silent in self._silent_polls(h, e):
                try:
                    yield self.apply(silent, e)
                except _Dead as dead:
                    self.reasons.append(dead.reason)

    def apply(self, h: _Hyp, e: Event) -> _Hyp:
        """Run the step of input event ``e`` on ``h``."""
        kind = e.kind
        f = e.fields
        now, wall = e.time_ms, e.wall_ms
        if kind is EventKind.START:
            node = node_new(
                self.header.peer, self.machine, self.preference, now, FREE_ELECTION_TIMEOUT_MS
            )
            trail = _trail(h, "start", now, wall, e)
            return _Hyp(
                node, frozenset(), (), now, step_line=e.line, step_text="start", trail=trail
            )
        if h.node is None:
            raise _Dead("the node has not started (no start event yet)")
        if kind is EventKind.BOND_UP:
            peer = f["peer"]
            if peer in h.bonds:
                raise _Dead(f"a bond to {peer.short()} is already up")
            if peer in h.table:
                # mosaik forms no bond to a peer still in its table (group/worker.rs:375-378).
                raise _Dead(f"the broken bond to {peer.short()} still holds received messages")
            out = _Hyp(h.node, h.bonds | {peer}, (), now, h.crashed, 0, h.hidden_total)
            out.trail = _trail(h, "bond_up", now, wall, e)
            out.step_line, out.step_text = e.line, "bond_up"
            out.table, out.forks = h.table, _without_fork(h.forks, peer)
            return out
        if kind is EventKind.BOND_DOWN:
            peer = f["peer"]
            if peer not in h.bonds:
                raise _Dead(f"no bond to {peer.short()} is up")
            if h.crashed:
                out = _Hyp(h.node, h.bonds - {peer}, (), now, True, 0, h.hidden_total)
                out.trail = _trail(h, "bond_down", now, wall, e)
                return h.carried(out)
            stepped = self.run(h, "bond_down", now, wall, e, arg=peer)
            stepped.bonds = h.bonds - {peer}
            return self._forked(stepped, peer)
        if kind is EventKind.RECV:
            peer = f["from"]
            stepped = self.run(h, "recv", now, wall, e, arg=(peer, e.message()))
            if peer in h.table and peer not in h.bonds:
                # Was it the last message received on that bond? Assume so; a later recv
                # from the peer resumes from here with the peer still in the table.
                stepped.table = h.table - {peer}
                return self._forked(stepped, peer, table=h.table)
            return stepped
        if kind is EventKind.CLIENT_WRITE:
            return self.run(h, "client_write", now, wall, e, arg=(f["command"], f["result"]))
        if kind is EventKind.POLL:
            return self.run(h, "poll", now, wall, e)
        if kind is EventKind.TIMER:
            timer = f["timer"]
            if timer is TimerKind.ELECTION:
                return self.run(h, "election", now, wall, e)
            deadline = node_next_deadline(h.node) if h.node is not None else None
            if deadline is None or deadline > now:
                raise _Dead(f"a {timer.value} timer fired, but the spec has nothing due at {now}")
            return self.run(h, "poll", now, wall, e)
        raise InvalidInput(f"not an input: {kind.value}")  # pragma: no cover

    def _forked(self, h: _Hyp, peer: PeerId, table: frozenset[PeerId] | None = None) -> _Hyp:
        """Return ``h`` with a fork in which ``peer`` is (still) in the bond table after the
        current event (``table``: the table it then has, else ``h``'s plus ``peer``)."""
        kept = _Hyp(
            h.node,
            h.bonds,
            h.pending,
            h.time,
            h.crashed,
            h.hidden,
            h.hidden_total,
            h.step_line,
            h.step_text,
            h.relabel,
            h.eligible,
            h.targets,
            h.trail,
            (h.table | {peer}) if table is None else table,
            _without_fork(h.forks, peer),
        )
        h.forks = (*_without_fork(h.forks, peer), _Fork(peer, kept, self._at))
        return h

    def _late(self, h: _Hyp, e: Event) -> list[_Hyp]:
        """Hypotheses in which the ``recv`` ``e``, from a peer whose bond is down and not in
        ``h``'s table, is a message received before the break: resumed from ``h``'s fork
        for that peer, with the peer in the table ever since, up to (not through) ``e``."""
        peer = e.fields["from"]
        fork = next((f for f in h.forks if f.peer == peer), None)
        return [] if fork is None else self._resumed(fork, self._at)

    def _resumed(self, fork: _Fork, stop: int, depth: int = 0) -> list[_Hyp]:
        """The hypotheses that explain ``events[fork.index + 1 : stop]`` from ``fork`` (its
        peer still in the bond table). Where they all die, the forks of the dying ones are
        tried in turn (at most :data:`MAX_RESUMES` deep)."""
        at, reasons = self._at, self.reasons
        self.reasons = []  # the resumed search's dead ends are not this event's
        frontier = [fork.hypothesis]
        try:
            for index in range(fork.index + 1, stop):
                self._at = index
                nxt: list[_Hyp] = []
                for g in frontier:
                    nxt.extend(self._advance_one(g, self.events[index]))
                if not nxt and depth < MAX_RESUMES:
                    nxt = self._backtracked(frontier, index + 1, depth + 1)
                frontier = _dedup(nxt)[: self.max_hypotheses]
                if not frontier:
                    break
        finally:
            self._at, self.reasons = at, reasons
        return frontier

    def _backtracked(self, dying: list[_Hyp], stop: int, depth: int = 0) -> list[_Hyp]:
        """The hypotheses that explain ``events[:stop]`` from a fork of ``dying``, newest
        fork first: a broken bond was still in the bond table where the search assumed it
        was not (module docstring)."""
        forks = {id(f): f for h in dying for f in h.forks}
        out: list[_Hyp] = []
        for fork in sorted(forks.values(), key=lambda f: -f.index):
            out.extend(self._resumed(fork, stop, depth))
            if out:
                break
        return out

    def _silent_polls(self, h: _Hyp, e: Event) -> Iterator[_Hyp]:
        """Hypotheses in which the node polled without logging anything before ``e``."""
        node = h.node
        if node is None or h.crashed or self._surely_logs(h, node):
            return
        deadline = node_next_deadline(node)
        times: list[int] = []
        if deadline is not None and h.time < deadline < e.time_ms:
            times.append(deadline)
        if node.catchup is not None or (deadline is not None and deadline <= e.time_ms):
            times.append(e.time_ms)
        offset = e.wall_ms - e.time_ms
        for t in times:
            try:
                polled = self.run(h, "poll", t, t + offset, e, hidden=True)
            except _Dead:
                continue
            if polled.pending or polled.node is node or polled.node == node:
                continue  # it logged something (so it was not silent), or changed nothing
            polled.hidden = 0
            yield polled

    def _surely_logs(self, h: _Hyp, node: NodeState) -> bool:
        """Check if a poll of ``node`` now would log something (so it cannot be silent).

        A leader with queued commands publishes them (R1): it appends, and sends to
        every bond. Checked without running the poll: a burst of logged client writes
        would otherwise cost one publish of the whole queue per write.
        """
        role = node.role
        return (
            isinstance(role, LeaderRole)
            and bool(role.client_commands)
            and (EventKind.APPEND in self.logged or bool(h.bonds))
        )

    def _hidden_then(self, h: _Hyp, e: Event) -> Iterator[_Hyp]:
        """Hypotheses in which unlogged polls (or an election) at ``e``'s time produce ``e``."""
        offset = e.wall_ms - e.time_ms
        frontier = [h]
        for _ in range(self.max_hidden):
            nxt: list[_Hyp] = []
            for g in frontier:
                kinds = ["poll"]
                if _looks_like_election(e) and _may_stand(g.node):
                    kinds.append("election")
                for kind in kinds:
                    try:
                        polled = self.run(g, kind, e.time_ms, e.time_ms + offset, e, hidden=True)
                    except _Dead as dead:
                        self.reasons.append(dead.reason)
                        continue
                    found = self.match(polled, e)
                    if found is not None:
                        yield found
                    elif not polled.pending and polled.node is not g.node:
                        nxt.append(polled)  # a silent poll that changed something: go on
                    elif polled.pending:
                        self.reasons.append(
                            f"a poll at {e.time_ms} would log "
                            + "; ".join(x.describe() for x in polled.pending[:4])
                        )
            frontier = nxt
            if not frontier:
                return
        self.reasons.append(f"no {self.max_hidden} unlogged polls produce this")

    # -- the whole log --------------------------------------------------------------------------

    def feed(self, e: Event) -> bool:
        """Explain one more event; return False once the log is rejected (see :attr:`verdict`)."""
        verdict = self.verdict
        if not verdict.accepted:
            return False
        started = time.perf_counter()
        index = len(self.events)
        self.events.append(e)
        self._at = index
        verdict.events = len(self.events)
        frontier = self.frontier
        self.reasons = []
        survivors: list[_Hyp] = []
        if len(frontier) == 1:
            survivors.extend(self._advance_one(frontier[0], e))
        else:
            for h in frontier:
                survivors.extend(self._advance_one(h, e))
            survivors = _dedup(survivors)
        if not survivors:
            reasons = self.reasons
            survivors = _dedup(self._backtracked(frontier, index + 1))
            self.reasons = reasons
        if len(survivors) > self.max_hypotheses:
            verdict.truncated = True
            survivors = survivors[: self.max_hypotheses]
        if not survivors:
            self._reject(verdict, frontier, e, index)
            self.seconds += time.perf_counter() - started
            verdict.seconds = self.seconds
            return False
        verdict.max_hypotheses = max(verdict.max_hypotheses, len(survivors))
        verdict.explained = len(self.events)
        self.frontier = survivors
        self.seconds += time.perf_counter() - started
        return True

    def explanation(self) -> list[TrailStep]:
        """Return the spec steps of the first surviving hypothesis, oldest first: the log's
        inputs, and the polls and elections the search found for it (``vectors from-trace``
        turns them into node-level ops). After a rejection: up to the rejected line."""
        trail = self.frontier[0].trail if self.frontier else None
        return [] if trail is None else trail.steps()

    def owed(self) -> list[str]:
        """Return what the current step still owes (the first hypothesis'), if anything."""
        if not self.verdict.accepted or any(not h.pending for h in self.frontier):
            return []
        return [x.describe() for x in self.frontier[0].pending]

    def finish(self) -> Verdict:
        """Return the verdict of the log fed so far, judged as complete (no step owes)."""
        verdict = self.verdict
        verdict.seconds = self.seconds
        if not verdict.accepted:
            return verdict
        events = self.events
        frontier = self.frontier
        done = [h for h in frontier if not h.pending]
        if not done:
            h = frontier[0]
            verdict.accepted = False
            last = events[-1] if events else None
            verdict.line = h.step_line or (last.line if last is not None else 1)
            verdict.event = _describe_line(events, verdict.line)
            verdict.step_line = h.step_line
            verdict.reason = "the log ends, but the spec's last step also logs " + "; ".join(
                x.describe() for x in h.pending[:6]
            )
            verdict.allowed = [_allowed(g) for g in frontier[:3]]
            return verdict
        verdict.explained = len(events)
        verdict.hidden_polls = done[0].hidden_total
        return verdict

    def _advance_one(self, h: _Hyp, e: Event) -> Iterable[_Hyp]:
        try:
            return list(self.advance(h, e))
        except _Dead as dead:
            self.reasons.append(dead.reason)
            return []
        except EventLogError:
            raise
        except InvalidInput as exc:
            self.reasons.append(f"the spec refuses this input: {exc}")
            return []

    def _reject(self, verdict: Verdict, frontier: list[_Hyp], e: Event, index: int) -> None:
        verdict.accepted = False
        verdict.explained = index
        verdict.line = e.line
        verdict.event = e.describe()
        reasons = list(dict.fromkeys(self.reasons))
        verdict.reason = "; ".join(reasons[:3]) if reasons else "no step of the spec explains it"
        verdict.allowed = [self._preview(h, e) for h in frontier[:3]]
        owed = [h.step_line for h in frontier if h.pending]
        verdict.step_line = owed[0] if owed else None

    def _preview(self, h: _Hyp, e: Event) -> str:
        """Describe what the spec allows after ``h`` (its owed outputs, or a poll's)."""
        if h.pending:
            return _allowed(h)
        text = "an input event"
        if h.node is not None and not h.crashed and self.hidden_allowed:
            try:
                polled = self.run(h, "poll", e.time_ms, e.wall_ms, e, hidden=True)
            except _Dead:
                return text
            if polled.pending:
                outs = "; ".join(x.describe() for x in polled.pending[:4])
                return f"{text}, or a poll at {e.time_ms} ms that logs {outs}"
            return f"{text} (a poll at {e.time_ms} ms would log nothing)"
        return text


def _allowed(h: _Hyp) -> str:
    if h.pending:
        return f"the outputs of line {h.step_line} ({h.step_text}): " + "; ".join(
            x.describe() for x in h.pending[:6]
        )
    return "an input event"


def _describe_line(events: Sequence[Event], line: int) -> str | None:
    for e in events:
        if e.line == line:
            return e.describe()
    return None


def _nearest(pending: tuple[Expected, ...], e: Event) -> str | None:
    """Name the first field in which ``e`` differs from the owed output most like it."""
    for x in pending:
        if x.kind is not e.kind:
            continue
        f = e.fields
        if x.kind is EventKind.SEND:
            if f["to"] != x.peer:
                continue
            got, want = f["message"], x.message_json()
            path = _first_difference(want, got, "message")
            if path is not None:
                return f"{path}: the spec has {_at(want, path)}, the log {_at(got, path)}"
        elif x.kind is EventKind.COMMIT:
            if f["committed"] != x.fields["committed"]:
                return f"committed: the spec has {x.fields['committed']}, the log {f['committed']}"
            want_digest = x.fields["digest"].value()
            return f"digest: the spec has {want_digest[:16]}, the log {f['digest'][:16]}"
        else:
            for name, value in x.fields.items():
                if f.get(name) != value:
                    return f"{name}: the spec has {value}, the log {f.get(name)}"
    return None


def _first_difference(want: Any, got: Any, path: str) -> str | None:
    """Return the codec path of the first difference between two JSON values."""
    if isinstance(want, dict) and isinstance(got, dict):
        for key in sorted(set(want) | set(got)):
            if want.get(key) != got.get(key):
                return _first_difference(want.get(key), got.get(key), f"{path}.{key}")
        return None
    if isinstance(want, list) and isinstance(got, list):
        for i, (a, b) in enumerate(zip(want, got, strict=False)):
            if a != b:
                return _first_difference(a, b, f"{path}[{i}]")
        return None if len(want) == len(got) else f"{path} (length)"
    return None if want == got else path


def _at(value: Any, path: str) -> str:
    """Return the JSON text of ``value`` at the codec ``path`` (its leading name dropped)."""
    import re

    for part in re.findall(r"\.([^.\[]+)|\[(\d+)\]", path.removeprefix("message")):
        key, index = part
        if key == " (length)":
            break
        try:
            value = value[int(index)] if index else value[key]
        except (KeyError, IndexError, TypeError):
            return "nothing"
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return text if len(text) <= 80 else text[:77] + "..."


def _looks_like_election(e: Event) -> bool:
    if e.kind is EventKind.ROLE:
        return bool(e.fields["role"] is ObservedRole.CANDIDATE)
    return e.kind is EventKind.SEND and e.fields["message"].get("type") == RequestVote.__name__


def _may_stand(node: NodeState | None) -> bool:
    if node is None or node.preference is Preference.OBSERVER:
        return False
    role = node.role
    if isinstance(role, LeaderRole):
        return False
    return not (isinstance(role, FollowerRole) and role.catchup is not None)


def _dedup(hyps: list[_Hyp]) -> list[_Hyp]:
    out: list[_Hyp] = []
    by_key: dict[tuple[Any, ...], list[_Hyp]] = {}
    for h in hyps:
        bucket = by_key.setdefault(h.key(), [])
        if any(_same(h, other) for other in bucket):
            continue
        bucket.append(h)
        out.append(h)
    return out


def validate_log(
    log: EventLog,
    profile: Profile,
    *,
    max_hypotheses: int = DEFAULT_MAX_HYPOTHESES,
    max_hidden: int = DEFAULT_MAX_HIDDEN,
) -> Verdict:
    """Decide whether ``log`` is a behaviour of the spec under ``profile`` (module doc).

    Raises :class:`~spec.conformance.events.EventLogError` if a message in the log
    is malformed (a verifier's answer: the line and the field).
    """
    validator = LogValidator(log.header, profile, max_hypotheses, max_hidden)
    for e in log.events:
        if not validator.feed(e):
            break
    verdict = validator.finish()
    verdict.events = len(log.events)
    return verdict


@dataclass(frozen=True, slots=True)
class Attribution:
    """How far one switch on top of the profile explains a rejected log."""

    switch: str
    """A hazard id (``H1``) or a version-behaviour name (``readers-vote``)."""
    explained: int
    """Events explained (all of them when ``accepted``)."""
    accepted: bool

    def as_json(self) -> dict[str, Any]:
        """Return the JSON form."""
        return {"switch": self.switch, "explained": self.explained, "accepted": self.accepted}


def attribute(log: EventLog, profile: Profile, verdict: Verdict) -> list[Attribution]:
    """Return the switches that explain ``log`` further than ``profile`` did.

    For a rejected ``verdict``: each hazard and each version behaviour not in
    ``profile`` is switched on alone and the log validated again; the ones that
    explain more events come first (a whole-log explanation first). This names the
    mosaik behaviour a node shows at its first deviation ("behaves like H1 here",
    "like readers-vote"); it is a diagnosis, not a proof.
    """
    from impl.profile import Behaviour, Hazard

    if verdict.accepted:
        return []
    out = []
    flips: list[tuple[str, Profile]] = [
        (h.value, profile.with_hazards([h])) for h in Hazard if not profile.has(h)
    ]
    flips += [(b.value, profile.with_behaviours([b])) for b in Behaviour if not profile.has(b)]
    for order, (name, flipped) in enumerate(flips):
        v = validate_log(log, flipped)
        if v.explained > verdict.explained or v.accepted:
            out.append((order, Attribution(name, v.explained, v.accepted)))
    out.sort(key=lambda x: (not x[1].accepted, -x[1].explained, x[0]))
    return [a for _, a in out]
