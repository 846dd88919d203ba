"""The hunt's driver: one run of the group model, its checks, its fair scheduler, its trace.

A :class:`Driver` owns one :class:`~spec.model.state.World` and advances it only
through the model's actions (:mod:`spec.model.actions`). After every action it

* runs the model's :class:`~spec.model.invariants.Checker` (safety I1–I16, Raft's
  RAFT-ES, RAFT-LAO, RAFT-LM, RAFT-LC, RAFT-SM, PANIC/STEP, L3, L5): its raw result
  is what the trace records, so that ``snapsync replay`` re-checks and reproduces every
  line byte for byte;
* discounts what an injected fault did by design (:meth:`Driver._fault_aware`):
  a message the adversary forged or rewrote is not evidence against the
  protocol's provider hygiene (I2, I13, I14) — the adversary is not the protocol;
* checks the efficiency bound E1 (:meth:`Driver._check_e1`);
* counts the hazard-relevant situations (:class:`~spec.hunt.coverage.Coverage`).

Two composite drivers sit on top of single actions:

* :meth:`Driver.settle` — fair delivery for a bounded window of model time: every
  queued message is delivered (one per bond direction per round, FIFO), a node
  with a catch-up session is polled after each message it receives (mosaik's
  session wakes on every offer and response), due nodes are polled, and time
  moves to the next deadline. One provider may be *slow*: its FetchDataResponses
  stay queued (and, FIFO, whatever is behind them on that bond). Links may be slow
  (:meth:`Driver.hold`): their messages stay queued, on bonds that stay up, until
  released; the drain releases them all.
* :meth:`Driver.drain` — the liveness check: heal every bond, then fair delivery
  until the group is quiescent (:meth:`Driver.quiescence_problem`), a session is
  in a dead state (L2), or the horizon passes (L1); a quorum that cannot commit
  because its writer voters are themselves catching up is classified as the
  documented limitation H16 (L4), not as a protocol violation (a lagging *reader*
  voter is not: readers vote only under ``readers-vote``, which the reference
  turns off); a group at rest but for a leader's tail of a term older than the one
  before its own, which only its next write commits, is the documented limitation
  H30-tail (L1: :meth:`Driver.older_tail_stall`).

Limitations end what a run can judge: after a finding that is a documented
limitation (H29, once a bond between two writers broke in the run
(:attr:`Driver.partitioned`): ``RAFT-LC``, a leader without a committed entry;
``RAFT-SM``, a leader committing an entry other than one already committed at that
index; or ``RAFT-ES``, two leaders of one term that could not ask each other), everything
that follows — divergent commits, a truncated committed entry, no convergence —
is its consequence, so the run records no further finding (:attr:`Driver.limited`)
and its drain is skipped.

Ids produced here, beyond the model's: ``LIVELOCK`` (fair delivery polls a node more
than :data:`SPIN_LIMIT` times at one instant with nothing delivered to it in between,
each poll changing it: an implementation that never comes to rest, e.g. a provider
re-offering at every tick; reported instead of spinning), ``L1`` (a
session does not finish / the group does not converge under fair delivery), ``L2``
(a dead session state at a quiescent point), ``L4`` (H16's quorum deadlock: a limitation), ``E1`` (a
session that lost its last source waits longer than ``fetch_timeout`` before
asking the leader again: H6, H7).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Set
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from impl.effects import Send
from impl.messages import FetchDataResponse, RequestSnapshot, SnapshotOffer, TakeSnapshot
from impl.node_state import CandidateRole, LeaderRole
from impl.profile import Behaviour, Hazard
from impl.raft import session_context
from impl.session import dead_state, is_served, is_sync_complete
from spec.hunt.coverage import Coverage
from spec.model.actions import (
    Transition,
    advance_time,
    deliver_message,
    due_nodes,
    initial_world,
    next_deadline_of,
    node_context,
    node_poll_action,
    restore_bond,
)
from spec.model.host import catching_up
from spec.model.invariants import (
    CheckContext,
    Checker,
    Violation,
    check_i2_anchor_agreement,
    check_i13_provider_hygiene,
    check_i14_anchor_term,
)
from spec.model.state import InFlight, World, WorldSetup, bond_key
from spec.robust.stop import stop_point
from spec.sim.simulator import node_summaries
from spec.sim.trace import TraceWriter, end_record, header_record, step_record

__all__ = [
    "LIMITATION_IDS",
    "LIVENESS_IDS",
    "SPIN_LIMIT",
    "UNTIL",
    "DrainResult",
    "Driver",
    "Finding",
    "abstainer_granted_again",
    "attributed",
    "describe_session",
    "discount_tampered",
    "limitation_of",
    "tampered_mids",
]

SPIN_LIMIT = 64
"""Polls of one node at one instant, with no message delivered to it in between and each
changing it, after which :meth:`Driver.run_fair` reports ``LIVELOCK``: a correct node
comes to rest after two or three such polls (a leader's immediate heartbeat after a
commit); a long catch-up at one instant is many polls, but each after a delivery."""

LIVENESS_IDS: frozenset[str] = frozenset({"L1", "L2", "L4", "E1"})
"""Ids this driver adds to the model's (see the module docstring)."""

LIMITATION_IDS: Mapping[str, str] = {
    "L4": "H16",
    "RAFT-LC": "H29",
    "RAFT-SM": "H29",
    "RAFT-ES": "H29",
    "L1": "H30-tail",  # see Driver.older_tail_stall
}
"""Finding ids that may be a documented limitation of the reference, by limitation (L4:
see :meth:`Driver.quorum_deadlock`; L1: :meth:`Driver.older_tail_stall`; the Raft ids:
see :func:`limitation_of`)."""


def _snapshot_requested(world: World) -> bool:
    """A leader has a TakeSnapshot queued for its next R1 (commands written now join it)."""
    for name in world.leaders():
        role = world.nodes[name].node.role
        if isinstance(role, LeaderRole) and any(
            isinstance(c, TakeSnapshot) for c in role.client_commands
        ):
            return True
    return False


def _fetching(world: World) -> bool:
    """Some session has a fetch in flight."""
    return any(
        slot.up and slot.node.catchup is not None and bool(slot.node.catchup.inflight)
        for slot in world.nodes.values()
    )


def _queued(kind: type) -> Callable[[World], bool]:
    def predicate(world: World) -> bool:
        for src, dst in world.directions():
            if any(isinstance(i.message, kind) for i in world.queue(src, dst)):
                return True
        return False

    return predicate


def _parallel_fetch(world: World) -> bool:
    """A session fetches from two or more providers and a response to it is queued."""
    for name, slot in world.nodes.items():
        session = slot.node.catchup
        if not slot.up or session is None or len(session.inflight) < 2:
            continue
        for src in world.bond_peers(name):
            if any(isinstance(i.message, FetchDataResponse) for i in world.queue(src, name)):
                return True
    return False


def _snapshot_buffered(world: World) -> bool:
    """A session has buffered the TakeSnapshot entry its own request became."""
    for slot in world.nodes.values():
        session = slot.node.catchup
        if not slot.up or session is None:
            continue
        for _, _, command in session.buffered:
            if isinstance(command, TakeSnapshot) and command.request.requested_by == slot.peer:
                return True
    return False


def _catching_up(world: World) -> bool:
    """Some node has a catch-up session (a hosted node: as it reports)."""
    return any(slot.up and catching_up(slot.node) for slot in world.nodes.values())


UNTIL: Mapping[str, Callable[[World], bool]] = {
    "session": _catching_up,
    "snapshot_requested": _snapshot_requested,
    "offer_queued": _queued(SnapshotOffer),
    "fetching": _fetching,
    "response_queued": _queued(FetchDataResponse),
    "parallel_fetch": _parallel_fetch,
    "snapshot_buffered": _snapshot_buffered,
}
"""Deep states a ``settle`` may stop at (the group machine's ``until`` argument)."""

_FAULT_CHECKED = frozenset({"I2", "I13", "I14"})
_TAMPERING = frozenset({"forge_message", "corrupt_response"})
_MAX_REPLAYABLE = 64


def tampered_mids(t: Transition) -> tuple[int, ...]:
    """Return the ids of the messages an adversary wrote in transition ``t``: what
    ``forge_message`` queued, or the response ``corrupt_response`` rewrote."""
    if t.action == "forge_message":
        return tuple(item.mid for item in t.sent)
    if t.action == "corrupt_response":
        src, dst, position = t.args["src"], t.args["dst"], t.args["position"]
        queue = t.before.queue(src, dst)
        if 0 <= position < len(queue):
            return (queue[position].mid,)
    return ()


def discount_tampered(
    t: Transition, raw: list[Violation], tampered: Set[int], checker: Checker
) -> list[Violation]:
    """Drop provider-hygiene findings (I2, I13, I14) about tampered messages.

    The adversary is not the protocol: a message it forged or rewrote is not
    evidence against provider hygiene. The three checks are re-run on the
    transition without the tampered messages (with ``checker``'s oracle), so a
    genuine message in the same step is still judged.
    """
    if not tampered:
        return raw
    touched = [i for i in (*t.sent, *t.delivered) if i.mid in tampered]
    if not touched:
        return raw
    clean = replace(
        t,
        sent=tuple(i for i in t.sent if i.mid not in tampered),
        delivered=tuple(i for i in t.delivered if i.mid not in tampered),
    )
    cx = CheckContext(clean, checker.oracle, checker.memo, (), [])
    kept = [v for v in raw if v.id not in _FAULT_CHECKED]
    for check in (check_i2_anchor_agreement, check_i13_provider_hygiene, check_i14_anchor_term):
        kept.extend(check(cx))
    return kept


@dataclass(frozen=True, slots=True)
class Finding:
    """A violation found by the hunt: the model's :class:`Violation` or one of the ids above."""

    id: str
    node: str | None
    detail: str
    step: int
    limitation: str | None = None
    """The documented limitation this finding is an instance of (H16, H29, H30-tail), if any."""

    def as_json(self) -> dict[str, Any]:
        """Return the JSON form."""
        out: dict[str, Any] = {
            "id": self.id,
            "node": self.node,
            "detail": self.detail,
            "step": self.step,
        }
        if self.limitation is not None:
            out["limitation"] = self.limitation
        return out


@dataclass(frozen=True, slots=True)
class DrainResult:
    """How a drain ended."""

    converged: bool
    """The group reached quiescence (every session finished, every node converged)."""
    findings: tuple[Finding, ...]
    """The liveness findings (empty when converged)."""
    steps: int
    """Actions the drain ran."""


class Driver:
    """One run of the group model (module docstring)."""

    def __init__(self, setup: WorldSetup, *, record: bool = True) -> None:
        self.setup = setup
        self.world: World = initial_world(setup)
        self.initial: World = self.world
        self.checker = Checker(setup)
        self.record = record
        self.log: list[tuple[Transition, list[Violation]]] = []
        self.steps = 0
        self.findings: list[Finding] = []
        self.coverage = Coverage()
        self.tampered: set[int] = set()
        self.replayable: list[InFlight] = []
        self._lost_at: dict[str, int] = {}
        self._e1_reported: set[str] = set()
        self.limited: Finding | None = None
        """The documented limitation this run reached, if any: nothing after it is judged."""
        self.partitioned = False
        """Whether a bond between two writers broke in this run (``break_bond``): only then
        can a Raft safety failure be H29 (:func:`limitation_of`)."""
        self.held: frozenset[tuple[str, str]] = frozenset()
        """Slow links: bond directions whose messages fair delivery leaves queued
        (:meth:`hold`). The bond stays up and FIFO; nothing is lost, so holding a link
        between writers never makes the run ``partitioned``."""

    def fork(self) -> Driver:
        """Return an independent copy: same world and history, its own checker and counters.

        Worlds are immutable values, so the copy shares them. The checker's caches
        are copied (its ``Apply`` oracle is not: forks may extend ``L`` differently);
        if the checker's layout is not the one expected, the copy re-checks the
        recorded transitions instead (slower, same result).
        """
        other = Driver.__new__(Driver)
        other.setup = self.setup
        other.world = self.world
        other.initial = self.initial
        other.record = self.record
        other.log = list(self.log)
        other.steps = self.steps
        other.findings = list(self.findings)
        other.coverage = Coverage()
        other.coverage.merge(self.coverage)
        other.tampered = set(self.tampered)
        other.replayable = list(self.replayable)
        other._lost_at = dict(self._lost_at)
        other._e1_reported = set(self._e1_reported)
        other.limited = self.limited
        other.partitioned = self.partitioned
        other.held = self.held
        other.checker = Checker(self.setup)
        try:
            memo = self.checker.memo
            copy = other.checker.memo
            for name in memo.__slots__:
                value = getattr(memo, name)
                if not isinstance(value, dict):
                    raise TypeError(name)
                setattr(
                    copy,
                    name,
                    {k: set(v) if isinstance(v, set) else v for k, v in value.items()},
                )
        except (AttributeError, TypeError):
            other.checker = Checker(self.setup)
            for t, _ in self.log:
                other.checker.check(t)
        return other

    # -- one action -------------------------------------------------------------------------

    def act(self, t: Transition) -> Transition:
        """Commit transition ``t`` (computed from :attr:`world`): check, count, record it.

        A stop point first (:mod:`spec.robust.stop`): Ctrl-C or the hunt's budget
        discards ``t`` uncommitted and unwinds the run.
        """
        stop_point()
        raw = self.checker.check(t)
        self.steps += 1
        if self.record:
            self.log.append((t, [v.at(self.steps) for v in raw] if raw else []))
        if t.action in _TAMPERING:
            self._note_tampering(t)
        found = self._fault_aware(t, raw) if self.tampered else raw
        if t.action == "break_bond" and _between_writers(t):
            self.partitioned = True
        self.world = t.after
        self.coverage.observe(t)
        partitioned = self.partitioned
        limits = [(v, lim) for v in found if (lim := limitation_of(v, t, partitioned)) is not None]
        if self.limited is None and limits:
            # A limitation: what else this step shows is its consequence (module docstring).
            v, lim = limits[0]
            self.limited = Finding(v.id, v.node, v.detail, self.steps, lim)
            self.findings.append(self.limited)
        elif self.limited is None:
            for v in found:
                self.findings.append(Finding(v.id, v.node, attributed(v, t), self.steps))
            for name, detail in self._check_e1(t):
                self.findings.append(Finding("E1", name, detail, self.steps))
        for item in t.sent:
            # What a misbehaving peer may replay later: session messages it really sent.
            if t.action != "forge_message" and isinstance(
                item.message, SnapshotOffer | FetchDataResponse
            ):
                self.replayable.append(item)
        if len(self.replayable) > _MAX_REPLAYABLE:
            del self.replayable[: len(self.replayable) - _MAX_REPLAYABLE]
        return t

    def do(self, action: Callable[..., Transition], *args: Any, **kwargs: Any) -> Transition:
        """Run ``action(world, *args, **kwargs)`` and commit it."""
        return self.act(action(self.world, *args, **kwargs))

    # -- fault awareness ----------------------------------------------------------------------

    def _note_tampering(self, t: Transition) -> None:
        self.tampered.update(tampered_mids(t))

    def _fault_aware(self, t: Transition, raw: list[Violation]) -> list[Violation]:
        """Drop provider-hygiene findings (I2, I13, I14) about tampered messages
        (:func:`discount_tampered`)."""
        return discount_tampered(t, raw, self.tampered, self.checker)

    # -- E1: prompt re-request after losing the last source ---------------------------------

    def _check_e1(self, t: Transition) -> list[tuple[str, str]]:
        """E1: a session that lost its last usable source asks the leader again at once.

        Bound: the next RequestSnapshot is sent in the step of the loss, or is due at
        the next poll (``retry_due``), or its retry timer fires within
        ``fetch_timeout`` of the loss. mosaik waits for the 15 s retry timer (H7) or
        for nothing at all (H6: the first offer stopped the timer).
        """
        out: list[tuple[str, str]] = []
        world = t.after
        nodes, old_nodes = world.nodes, t.before.nodes
        if nodes is old_nodes and not self._lost_at:
            return out  # no node changed and no session is waiting
        bound = world.setup.config.fetch_timeout_ms
        lost = self._lost_at
        for name in sorted(nodes):  # the up nodes in name order (World.up_names)
            slot = nodes[name]
            old_slot = old_nodes.get(name)
            if old_slot is slot and name not in lost:
                continue  # unchanged and not waiting: nothing to do, up or not
            if not slot.up:
                continue
            if old_slot is slot:
                if name in self._lost_at:
                    out.extend(self._e1_state(name, world, bound))
                continue
            new = slot.node.catchup
            if new is None or old_slot is None or old_slot.incarnation != slot.incarnation:
                self._lost_at.pop(name, None)
                self._e1_reported.discard(name)
                continue
            old = old_slot.node.catchup
            if (
                old is not None
                and is_served(old)
                and not is_served(new)
                and not is_sync_complete(new)
            ):
                self._lost_at.setdefault(name, world.now_ms)
            if is_served(new):
                self._lost_at.pop(name, None)
                self._e1_reported.discard(name)
            asked = any(
                isinstance(e, Send) and isinstance(e.message, RequestSnapshot)
                for o in t.outcomes
                if o.name == name
                for e in o.effects
            )
            if asked:
                self._lost_at.pop(name, None)
                self._e1_reported.discard(name)
            if name in self._lost_at:
                out.extend(self._e1_state(name, world, bound))
        return out

    def _e1_state(self, name: str, world: World, bound: int) -> list[tuple[str, str]]:
        if name in self._e1_reported:
            return []
        session = world.nodes[name].node.catchup
        if session is None:
            self._lost_at.pop(name, None)
            return []
        lost = self._lost_at[name]
        if session.retry_due:
            return []
        deadline = session.snapshot_request_deadline_ms
        if deadline is not None and deadline <= lost + bound:
            return []
        self._e1_reported.add(name)
        when = "never" if deadline is None else f"at {deadline} ms"
        return [
            (
                name,
                f"session lost its last source at {lost} ms and asks again {when} "
                f"(bound: fetch_timeout = {bound} ms)",
            )
        ]

    # -- fair scheduling ----------------------------------------------------------------------

    def _deliverable(self, slow: str | None) -> list[tuple[str, str]]:
        out = []
        world = self.world
        for src, dst in world.directions():
            if (src, dst) in self.held:
                continue
            if slow is not None and src == slow:
                head = world.queue(src, dst)[0]
                if isinstance(head.message, FetchDataResponse):
                    continue
            out.append((src, dst))
        return out

    def _wake(self, name: str) -> None:
        slot = self.world.nodes.get(name)
        if slot is not None and slot.up and catching_up(slot.node):
            self.do(node_poll_action, name)

    def _next_deadline(self, stuck: set[str]) -> int | None:
        best: int | None = None
        now = self.world.now_ms
        for name in self.world.up_names():
            d = next_deadline_of(self.world.nodes[name].node)
            if d is None or (d <= now and name in stuck):
                continue
            d = max(d, now)
            best = d if best is None else min(best, d)
        return best

    def run_fair(
        self,
        until_ms: int,
        *,
        slow: str | None = None,
        stop: Callable[[], bool] | None = None,
        at_rest: Callable[[], bool] | None = None,
        max_steps: int = 20_000,
    ) -> bool:
        """Fair delivery until ``stop()`` holds (True) or time would pass ``until_ms`` (False).

        ``at_rest()`` is called whenever nothing can be delivered or polled at the
        current instant; returning True ends the run (True). Time ends at
        ``until_ms`` (one ``advance_time`` to it if later than now).

        No progress: a node polled more than :data:`SPIN_LIMIT` times at one instant,
        with no message delivered to it in between and each poll changing it, is a
        livelock of the implementation (a node that is always due and always changes): a
        ``LIVELOCK`` finding ends the run instead of spinning until ``max_steps``.
        """
        limit = self.steps + max_steps
        stuck: set[str] = set()
        instant = self.world.now_ms
        spins: dict[str, int] = {}
        while self.steps < limit:
            if stop is not None and stop():
                return True
            if self.world.now_ms != instant:
                instant = self.world.now_ms
                spins.clear()
            dirs = self._deliverable(slow)
            if dirs:
                for src, dst in dirs:
                    # Still queued (an earlier delivery may have changed it); on a broken
                    # bond, what its receiver had already received (deliver_after_break).
                    bond = self.world.bonds.get(bond_key(src, dst))
                    if bond is not None and bond.queue(src, dst):
                        self.do(deliver_message, src, dst)
                        spins.pop(dst, None)
                        self._wake(dst)
                stuck.clear()
                continue
            now = self.world.now_ms
            due = [n for n in due_nodes(self.world, now) if n not in stuck]
            if due:
                for name in due:
                    before = self.world.nodes[name]
                    if not before.up:
                        continue
                    self.do(node_poll_action, name)
                    if self.world.nodes[name] is before:
                        stuck.add(name)
                        continue
                    spins[name] = spins.get(name, 0) + 1
                    if spins[name] > SPIN_LIMIT:
                        self._livelock(name, spins[name])
                        return stop() if stop is not None else False
                continue
            if at_rest is not None and at_rest():
                return True
            nxt = self._next_deadline(stuck)
            if nxt is None or nxt > until_ms:
                if until_ms > now:
                    self.do(advance_time, until_ms)
                return stop() if stop is not None else False
            if nxt > now:
                stuck.clear()
                self.do(advance_time, nxt)
            else:
                return stop() if stop is not None else False
        return stop() if stop is not None else False

    def _livelock(self, name: str, polls: int) -> None:
        """Record a ``LIVELOCK`` finding: ``name`` was polled ``polls`` times at this instant
        with nothing delivered to it, each poll changing it (:data:`SPIN_LIMIT`)."""
        if self.limited is not None:
            return  # a limitation's consequences are not judged
        detail = (
            f"fair delivery polled {name} {polls} times at {self.world.now_ms} ms with no "
            "message delivered to it in between, each poll changing it: it never comes to rest"
        )
        self.findings.append(Finding("LIVELOCK", name, detail, self.steps))

    def settle(self, window_ms: int, slow: str | None = None, until: str | None = None) -> None:
        """Fair delivery for ``window_ms`` of model time (``slow``: a slow provider).

        ``until`` names a deep state of :data:`UNTIL`; the settle stops as soon as
        it holds (the window still bounds it).
        """
        stop = None
        if until is not None:
            predicate = self.until(until)
            stop = lambda: predicate(self.world)  # noqa: E731
        self.run_fair(self.world.now_ms + window_ms, slow=slow, stop=stop)

    def until(self, name: str) -> Callable[[World], bool]:
        """Return the predicate of deep state ``name`` (:data:`UNTIL`; a subclass that hosts
        nodes outside the model judges them from what it observes)."""
        return UNTIL[name]

    # -- slow links ------------------------------------------------------------------------------

    def hold(self, src: str, dst: str | None = None) -> None:
        """Make a link slow: fair delivery leaves the messages from ``src`` to ``dst`` queued
        (``dst`` None: every link to and from node ``src``: a slow node).

        A delay, not a loss: the bond stays up, its stream FIFO, and the messages are
        delivered once the link is released (:meth:`release`, or the drain's
        :meth:`heal`), however long model time ran meanwhile — longer than an election
        timeout too. mosaik's bonds are reliable streams that may be slow for that long
        without breaking; so a Raft failure reached this way is never H29
        (:attr:`partitioned` stays as it is). Not a model action: a scheduling choice
        of the adversary (a trace records the deliveries that did happen).
        """
        if dst is not None:
            self.held = self.held | {(src, dst)}
            return
        others = [n for n in self.world.names() if n != src]
        self.held = self.held | {(src, n) for n in others} | {(n, src) for n in others}

    def release(self, name: str | None = None) -> None:
        """Release the slow links to and from node ``name`` (None: every slow link)."""
        if name is None:
            self.held = frozenset()
        else:
            self.held = frozenset(d for d in self.held if name not in d)

    def held_nodes(self) -> list[str]:
        """Return the nodes with a slow link, in name order."""
        return sorted({n for d in self.held for n in d})

    def unheld_directions(self) -> list[tuple[str, str]]:
        """Return the directions with a queued message whose link is not slow."""
        return [d for d in self.world.directions() if d not in self.held]

    # -- liveness -------------------------------------------------------------------------------

    def heal(self) -> None:
        """Restore every broken bond between two up nodes (fairness: links come back).

        A broken bond that still holds messages its receiver had received is drained
        first (they are delivered: mosaik processes them before the bond can re-form).
        Every slow link is released (:meth:`release`): a delay ends.
        """
        self.held = frozenset()
        for src, dst in sorted(self.world.draining):
            while self.world.queue(src, dst):
                self.do(deliver_message, src, dst)
                self._wake(dst)
        world = self.world
        for (lo, hi), bond in sorted(world.bonds.items()):
            if not bond.up and world.nodes[lo].up and world.nodes[hi].up and not bond.in_flight():
                self.do(restore_bond, lo, hi)

    def leader(self) -> str | None:
        """Return the up leader with the highest term, if any."""
        best: tuple[int, str] | None = None
        for name in self.world.leaders():
            key = (int(self.world.nodes[name].node.term), name)
            if best is None or key > best:
                best = key
        return None if best is None else best[1]

    def quiescence_problem(self) -> str | None:
        """Return why the group is not quiescent and converged, or None if it is.

        Converged: one leader with nothing queued or uncommitted, no message in
        flight, and every up node without a session, online, at the leader's
        committed cursor.
        """
        world = self.world
        leaders = world.leaders()
        if not leaders:
            return "no leader"
        if len(leaders) > 1:
            return f"several leaders: {', '.join(leaders)}"
        name = leaders[0]
        lead = world.nodes[name].node
        role = lead.role
        if isinstance(role, LeaderRole) and role.client_commands:
            return f"leader {name} has {len(role.client_commands)} queued commands"
        if lead.log.last().index > lead.committed.index:
            return (
                f"leader {name} has uncommitted entries up to {lead.log.last().index} "
                f"(committed {lead.committed.index})"
            )
        if world.in_flight():
            return f"{world.in_flight()} messages in flight"
        for other in world.up_names():
            node = world.nodes[other].node
            if catching_up(node):
                return f"{other} is still catching up"
            if node.committed != lead.committed:
                return f"{other} committed {node.committed}, leader {lead.committed}"
            if other != name and not node.online:
                return f"{other} is offline"
        return None

    def dead_sessions(self) -> list[tuple[str, str]]:
        """Return ``(node, L2 case)`` for every session in a dead state (L2)."""
        out = []
        for name in self.world.up_names():
            node = self.world.nodes[name].node
            session = node.catchup  # None for a hosted node: its internals are not known
            if session is None:
                continue
            ctx = session_context(node, node_context(self.world, name))
            case = dead_state(session, ctx)
            if case is not None:
                out.append((name, case))
        return out

    def quorum_deadlock(self) -> Finding | None:
        """H16: the leader cannot commit because the voters it needs are catching up.

        Returns an ``L4`` finding, or None. L4's assumption — a quorum of voters other
        than the lagging nodes is reachable — does not hold. With writer voters only
        that is the documented limitation H16; a lagging *reader* voter exists only
        under ``readers-vote`` (mosaik 0.3.13), which the reference turns off, so then
        the finding is not a limitation.
        """
        name = self.leader()
        if name is None:
            return None
        lead = self.world.nodes[name].node
        role = lead.role
        if not isinstance(role, LeaderRole) or lead.log.last().index <= lead.committed.index:
            return None
        voters = sorted(role.committee.voters.keys(), key=lambda p: p.raw)
        lagging = []
        for peer in voters:
            other = self.world.peers.get(peer)
            if other is None:
                continue
            node = self.world.nodes[other].node
            if catching_up(node):
                lagging.append(other)
        quorum = len(voters) // 2 + 1
        if lagging and len(voters) - len(lagging) < quorum:
            readers = [n for n in lagging if not self.world.nodes[n].writer]
            detail = (
                f"leader {name} cannot commit index {lead.log.last().index}: "
                f"{len(voters)} voters, quorum {quorum}, catching up: {', '.join(lagging)}"
                + (f" (reader voters: {', '.join(readers)})" if readers else "")
            )
            return Finding("L4", None, detail, self.steps, None if readers else "H16")
        return None

    def older_tail_stall(self) -> Finding | None:
        """H30-tail: the group is at rest but for a leader's tail of an older term.

        Returns an ``L1`` finding recorded as the documented limitation ``H30-tail``, or
        None. The reference's commitment rule (H30's fix, Raft §5.4.2) commits by
        counting only up to an entry of the leader's own term or of the term just before
        it; the election commits the latter at once. So exactly this stall is the rule's,
        not a bug: one leader with no queued command and no entry of its own term, whose
        uncommitted tail ends with an entry of a term older than the one before its own,
        and every other part of the group quiescent (no message in flight; every up node
        online, without a session, its commit at the leader's cursor or further into
        the leader's tail: a deposed leader may have committed that tail itself). The next client
        write commits the tail with the write's entry; Raft would append a no-op entry at
        the start of each term instead, which mosaik does not have (it would move every
        collection's log positions). Any other stall stays an L1 violation.
        """
        world = self.world
        leaders = world.leaders()
        if len(leaders) != 1 or world.setup.profile.has(Hazard.H30):
            return None  # under H30 every inherited tail waits: the hazard, an L1 violation
        name = leaders[0]
        lead = world.nodes[name].node
        role = lead.role
        last = lead.log.last()
        if (
            not isinstance(role, LeaderRole)
            or role.client_commands
            or last.index <= lead.committed.index
            or int(last.term) + 1 >= int(lead.term)
            or world.in_flight()
        ):
            return None
        for other in world.up_names():
            node = world.nodes[other].node
            if catching_up(node) or (other != name and not node.online):
                return None
            # At the leader's cursor, or further into its tail: a deposed leader knows
            # the tail it committed itself (leader completeness: the new one holds it).
            at = node.committed.index
            if at < lead.committed.index or at > last.index:
                return None
            if at > 0 and lead.log.term_at(at) != node.committed.term:
                return None
        detail = (
            f"leader {name} of term {lead.term} holds an uncommitted tail up to {last} "
            f"(committed {lead.committed}) and no entry of its own term: only its next "
            "client write commits it"
        )
        return Finding("L1", name, detail, self.steps, "H30-tail")

    def election_window_ms(self) -> int:
        """Return the extra time a drain gives elections when its horizon finds no leader.

        A round of elections elects a writer whose log is at least as up to date as
        every other's; when only one is, it wins a round only if its timer, redrawn at
        every step-down, fires first: odds about 1/W for W writers. The horizon sized
        for sync recoveries holds about a dozen rounds, so with five writers one run in
        twenty ended without a leader (``figure-8``, L1 "no leader"). ``10 * W`` rounds
        of the longest timeout bring that below e^-10 (fixed timeouts that never
        redraw can livelock for ever; the window is bounded, and L1 is reported then).
        """
        writers = [self.world.nodes[n] for n in self.world.up_names()]
        writers = [slot for slot in writers if slot.writer]
        longest = max(
            (
                slot.election_timeout_ms
                if slot.redraw is None
                else slot.redraw.base_ms + slot.redraw.jitter_ms
                for slot in writers
            ),
            default=0,
        )
        return 10 * len(writers) * longest

    def default_horizon_ms(self) -> int:
        """Return the drain horizon: long enough for two full recovery cycles."""
        c = self.setup.config
        cycle = c.snapshot_request_timeout_ms + c.fetch_timeout_ms + c.snapshot_ttl_ms
        return 2 * cycle + 10 * self.setup.heartbeat_interval_ms

    def drain(self, horizon_ms: int | None = None) -> DrainResult:
        """Heal, then deliver fairly until quiescent (L1), a dead state (L2) or the horizon."""
        start = self.steps
        if self.limited is not None:
            return DrainResult(False, (), 0)  # a limitation's consequences are not judged
        self.heal()
        horizon = self.world.now_ms + (horizon_ms or self.default_horizon_ms())
        dead: list[tuple[str, str]] = []

        def at_rest() -> bool:
            dead.extend(self.dead_sessions())
            return bool(dead)

        known = len(self.findings)

        def stop() -> bool:
            # A safety finding ends the drain: it is the one to report. An older tail
            # that only a write would commit (H30-tail) is at rest too: nothing changes.
            return (
                len(self.findings) > known
                or self.quiescence_problem() is None
                or self.older_tail_stall() is not None
            )

        self.run_fair(horizon, stop=stop, at_rest=at_rest)
        if not dead and len(self.findings) == known and not self.world.leaders():
            # Elections still running: give them the rounds they need (election_window).
            self.run_fair(self.world.now_ms + self.election_window_ms(), stop=stop, at_rest=at_rest)
        if len(self.findings) > known:
            return DrainResult(False, (), self.steps - start)
        converged = not dead and self.quiescence_problem() is None
        findings: list[Finding] = []
        if not converged:
            deadlock = self.quorum_deadlock()
            tail = self.older_tail_stall()
            if dead:
                for name, case in dead:
                    session = self.world.nodes[name].node.catchup
                    detail = f"dead session state {case}: {describe_session(session)}"
                    findings.append(Finding("L2", name, detail, self.steps))
            elif deadlock is not None:
                findings.append(replace(deadlock, detail=f"quorum deadlock: {deadlock.detail}"))
            elif tail is not None:
                findings.append(tail)
            else:
                problem = self.quiescence_problem() or "did not converge"
                findings.append(
                    Finding("L1", None, f"not quiescent at {horizon} ms: {problem}", self.steps)
                )
        self.findings.extend(findings)
        return DrainResult(converged, tuple(findings), self.steps - start)

    # -- traces ---------------------------------------------------------------------------------

    def write_trace(
        self,
        path: str | Path,
        *,
        seed: int | None,
        meta: Mapping[str, Any] | None = None,
        upto: int | None = None,
    ) -> Path:
        """Write the run as a trace that ``snapsync replay`` reproduces (needs ``record``);
        ``upto``: only its first ``upto`` steps (a consequence run's program, without the
        deterministic hold that follows it)."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        log = self.log if upto is None else self.log[:upto]
        world = log[-1][0].after if log else self.initial
        writer = TraceWriter.open(target)
        writer.write(header_record(self.initial, seed=seed, meta=meta or {}))
        total = 0
        for seq, (t, raw) in enumerate(log, start=1):
            writer.write(step_record(seq, t, [v.as_json() for v in raw]))
            total += len(raw)
        nodes = node_summaries(world, self.checker)
        writer.write(end_record(len(log), world, nodes, total))
        writer.close()
        return target


def _between_writers(t: Transition) -> bool:
    """Check if transition ``t`` (a ``break_bond``) broke a bond between two writers."""
    ends = [t.before.nodes.get(str(t.args.get(k))) for k in ("a", "b")]
    return all(slot is not None and slot.writer for slot in ends)


def limitation_of(v: Violation, t: Transition, partitioned: bool = True) -> str | None:
    """Return the documented limitation a per-step violation is an instance of, if any.

    H29 is a partition between writers: without one in the run (``partitioned``: a bond
    between two writers broke at this step or before) no Raft safety failure is excused.
    With every bond between writers up, a committed entry can still be lost when three
    writers or more delay each other for a whole term (H32, open: behind writers abstain
    and shrink the quorum; docs/findings.md); that is reported, never excused.
    Under ``readers-vote`` none is either: readers that vote make them reachable without
    a partition, which the reference removes by making readers abstain. Otherwise
    ``RAFT-LC`` and ``RAFT-SM`` are H29: with one leader per term (RAFT-ES) and leader
    completeness, Raft's state machine safety follows, so only a quorum of reachable
    peers breaks them. ``RAFT-ES`` (a second leader of one term) is H29 when the
    second leader's election did not ask the first one: under mosaik's committee each
    side of a partition can win the same term with the peers it can reach. A second
    leader that asked the first one is a real election-safety failure, never excused.
    ``RAFT-LAO`` and ``RAFT-LM`` are never excused: no partition lets a leader rewrite
    its log or a follower append past a mismatch.

    H31 (:func:`abstainer_granted_again`: two leaders of one term because a voter
    abstained for the first, recording no vote, and then granted the second) needs no
    partition and is a hazard, not a limitation: the reference binds an abstention to
    its term, so there it cannot happen, and under the switch it is a violation
    (:func:`attributed`).
    """
    if v.id == "RAFT-ES" and abstainer_granted_again(v, t):
        return None
    if v.id not in ("RAFT-LC", "RAFT-SM", "RAFT-ES") or not partitioned:
        return None
    if t.after.setup.profile.has(Behaviour.READERS_VOTE):
        # Readers' votes make these failures reachable without any partition (a stale
        # writer and the readers outvote the writer that holds a committed entry): the
        # behaviour's consequence, which the reference removes, not the limitation.
        return None
    if v.id in ("RAFT-LC", "RAFT-SM"):
        return "H29"
    if v.node is None:
        return None
    first = t.after.ghost.leaders.get(int(t.after.nodes[v.node].node.term))
    before = t.before.nodes.get(v.node)
    if first is None or before is None or not isinstance(before.node.role, CandidateRole):
        return None
    asked = before.node.role.requested_from
    return None if t.after.nodes[first].peer in asked else "H29"


def attributed(v: Violation, t: Transition) -> str:
    """Return ``v``'s detail, naming the hazard switch that explains it when the step
    shows which (a RAFT-ES of H31: :func:`abstainer_granted_again`)."""
    if v.id == "RAFT-ES" and abstainer_granted_again(v, t):
        return f"{v.detail} (H31: a voter that abstained for the first leader granted this one)"
    return v.detail


def abstainer_granted_again(v: Violation, t: Transition) -> bool:
    """Check if a RAFT-ES violation is H31: the second leader won with the grant of a voter
    whose log is behind the first leader's.

    mosaik's voter abstains for a candidate whose log is ahead of its own and records no
    vote (role.rs ``maybe_cast_vote``), and the candidate drops abstainers from its
    denominator (candidate.rs): so the first leader's quorum shrank by that voter, which
    was then free to grant a second candidate of the same term whose log equals its own.
    Both win with every bond up (``model_tests/test_raft_properties.py``); the reference
    binds the abstention (H31 off). A voter that
    granted twice in one term holds a log equal to both candidates', never behind.
    """
    if v.node is None:
        return False
    term = int(t.after.nodes[v.node].node.term)
    first = t.after.ghost.leaders.get(term)
    before = t.before.nodes.get(v.node)
    if first is None or first == v.node or before is None:
        return False
    role = before.node.role
    if not isinstance(role, CandidateRole):
        return False
    lead = t.before.nodes[first].node.log.last()
    by_peer = {slot.peer: slot for slot in t.before.nodes.values()}
    for peer in role.votes_granted:
        slot = by_peer.get(peer)
        if slot is not None and slot.peer != before.peer and slot.node.log.last() < lead:
            return True
    return False


def describe_session(session: Any) -> str:
    """Return a one-line summary of a catch-up session (anchor, gap, peers, chunks, timer)."""
    if session is None:
        return "no session"
    return (
        f"anchor {session.anchor}, gap [{session.gap_start},{session.gap_end}), "
        f"inflight {len(session.inflight)}, available {len(session.available_peers)}, "
        f"fetched {sorted(session.fetched.keys())}, retry timer "
        f"{session.snapshot_request_deadline_ms}"
    )
