"""Simulator traces to implementation event logs: what each node would have logged.

A model trace (docs/formats/trace.md) records the whole group; an implementation
logs one node. :func:`logs_from_trace` re-executes the trace (the model's actions
with the recorded arguments) and writes, for every node, the event log
(docs/formats/events.md) a conforming implementation would have written in that
run, as a real one would: from its own point of view, with its own sequence
numbers and causality ids.

Inputs of a node, by model action: ``join_late`` / ``restart_empty`` → ``start``
and a ``bond_up`` per bond; ``restore_bond`` → ``bond_up``; ``break_bond`` /
``leave`` → ``bond_down``; a delivery → ``recv`` (its ``cause`` names the
sender's ``send``; a forged message has none; one on a broken bond — transport
``deliver_after_break`` — is a ``recv`` from a peer whose bond is down, and the
watchers its step fires again are part of that step); ``client_write`` → one
``client_write`` per command; a poll whose timer was due → ``timer`` (the kind of
the earliest due deadline); ``start_election`` → ``timer`` ``election``. Other
polls (a node woken by work it has to do, the hunt's random polls) are not logged
by default, as a real implementation's worker wakes are not: the validator has to
find them. ``explicit_polls`` logs them as ``poll``.

Outputs: one ``send`` per message the node put on the wire (a ``Broadcast`` is
one per bonded peer; a send with no bond is logged too: the node did send it),
``ignored`` per documented ignore, and the state changes of the step:
``role``, ``session``, ``append``, ``commit`` (with the state digest),
``install``, ``panic``.

A fault that rewrites a queued message (``corrupt_response``) shows as a ``recv``
whose content differs from the ``send`` it names; ``disagree_order`` rewrites at
the sender, so the sender's ``send`` carries what went on the wire.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from impl.codec import canonical_json
from impl.effects import TimerKind
from impl.errors import CodecError, InvalidInput
from impl.messages import Command
from impl.node_state import CandidateRole, FollowerRole, LeaderRole, NodeState, Preference
from impl.types import PeerId
from spec.conformance.events import (
    OPTIONAL,
    Cause,
    EventKind,
    LogHeader,
    WriteResult,
    event_record,
    header_record,
)
from spec.conformance.outputs import LazyDigest, state_outputs
from spec.model.actions import ACTIONS, NodeOutcome, Transition, initial_world, machine_for
from spec.model.state import World
from spec.sim.trace import TraceError, TraceReader, decode_args, setup_from_header, step_record

__all__ = ["ConvertedLog", "due_timer", "logs_from_trace", "logs_from_trace_file"]


@dataclass(slots=True)
class ConvertedLog:
    """One node's event log, built while a trace is re-executed."""

    name: str
    header: LogHeader
    records: list[dict[str, Any]] = field(default_factory=list)

    def add(self, now: int, wall: int, kind: EventKind, **fields: Any) -> int:
        """Append one event; return its ``seq``."""
        seq = len(self.records) + 1
        self.records.append(event_record(seq, now, wall, kind, **fields))
        return seq

    def lines(self) -> list[str]:
        """Return the log as canonical JSON lines (header first)."""
        out = [canonical_json(header_record(self.header))]
        out.extend(canonical_json(r) for r in self.records)
        return out

    def write(self, path: str | Path) -> Path:
        """Write the log to ``path``."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("\n".join(self.lines()) + "\n", encoding="utf-8")
        return target


def due_timer(node: NodeState, now_ms: int) -> TimerKind | None:
    """Return the kind of ``node``'s earliest timer whose deadline is ``<= now_ms``, if any.

    Work that is due without a timer (a leader's queued commands, a won election,
    undrained snapshot requests, a session's ``retry_due``) is not a timer.
    """
    due: list[tuple[int, TimerKind]] = []
    role = node.role
    if isinstance(role, FollowerRole):
        session = role.catchup
        if session is None:
            if node.preference is Preference.NORMAL:
                due.append((role.election_deadline_ms, TimerKind.ELECTION))
        else:
            if session.snapshot_request_deadline_ms is not None:
                due.append((session.snapshot_request_deadline_ms, TimerKind.SNAPSHOT_REQUEST_RETRY))
            due.extend((p.deadline_ms, TimerKind.FETCH_TIMEOUT) for p in session.inflight.values())
    elif isinstance(role, CandidateRole):
        due.append((role.election_deadline_ms, TimerKind.ELECTION))
    elif isinstance(role, LeaderRole):
        due.append((role.heartbeat_deadline_ms, TimerKind.HEARTBEAT))
    due.extend((a.deadline_ms, TimerKind.SNAPSHOT_TTL) for a in node.provider.available.values())
    hits = sorted((d, k.value) for d, k in due if d <= now_ms)
    return TimerKind(hits[0][1]) if hits else None


class _Converter:
    """Re-executes a trace and builds every node's log (module docstring)."""

    def __init__(
        self, world: World, explicit_polls: bool, implementation: str, digests: bool
    ) -> None:
        self.world = world
        self.explicit_polls = explicit_polls
        self.digests = digests
        self.implementation = implementation
        self.logs: dict[str, ConvertedLog] = {}
        self.sends: dict[int, tuple[PeerId, int]] = {}
        """mid → (sender peer, its send event's seq): the causality ids."""

    # -- per node ---------------------------------------------------------------------------

    def log(self, world: World, name: str) -> ConvertedLog:
        log = self.logs.get(name)
        if log is None:
            slot = world.nodes[name]
            setup = world.setup
            logged = set(OPTIONAL) - ({EventKind.POLL} if not self.explicit_polls else set())
            header = LogHeader(
                peer=slot.peer,
                name=name,
                writer=slot.writer,
                kind=setup.kind,
                config=setup.config,
                heartbeat_interval_ms=setup.heartbeat_interval_ms,
                logged=frozenset(logged),
                implementation=self.implementation,
                meta={"profile": setup.profile.name},
            )
            log = self.logs[name] = ConvertedLog(name, header)
        return log

    def add(self, world: World, name: str, kind: EventKind, **fields: Any) -> int:
        return self.log(world, name).add(world.now_ms, world.wall_ms(name), kind, **fields)

    # -- a transition -----------------------------------------------------------------------

    def convert(self, t: Transition) -> None:
        action = t.action
        args = t.args
        after = t.after
        outcomes = list(t.outcomes)
        if action in ("join_late", "restart_empty"):
            name = str(args["name"])
            if action == "restart_empty":
                self._bond_downs(t)  # the old incarnation's bonds break first
            self.add(after, name, EventKind.START)
            for (lo, hi), bond in sorted(after.bonds.items()):
                if bond.up and name in (lo, hi):
                    before = t.before.bonds.get((lo, hi))
                    if action == "join_late" and before is not None and before.up:
                        continue
                    other = hi if lo == name else lo
                    self.add(after, name, EventKind.BOND_UP, peer=after.nodes[other].peer)
                    self.add(after, other, EventKind.BOND_UP, peer=after.nodes[name].peer)
            return
        if action == "restore_bond":
            a, b = str(args["a"]), str(args["b"])
            self.add(after, a, EventKind.BOND_UP, peer=after.nodes[b].peer)
            self.add(after, b, EventKind.BOND_UP, peer=after.nodes[a].peer)
            return
        if action in ("break_bond", "leave"):
            self._bond_downs(t)
            return
        if action in ("reorder_message", "corrupt_response", "set_clock_skew"):
            return  # the network or the clock changed; no node did anything
        delivered = {i.dst: i for i in t.delivered}
        outcomes = _merged_late_deliveries(t, outcomes)
        for o in outcomes:
            node_before = t.before.nodes[o.name].node if o.name in t.before.nodes else None
            if o.step == "node_receive":
                item = delivered[o.name]
                cause = self.sends.get(item.mid)
                self.add(
                    after,
                    o.name,
                    EventKind.RECV,
                    **{
                        "from": after.nodes[item.src].peer,
                        "message": item.message,
                        "cause": None if cause is None else Cause(*cause),
                    },
                )
            elif o.step in ("node_client_write", "node_client_write_many"):
                commands: Sequence[Command] = args["commands"]
                result = WriteResult.NOT_LEADER if o.error else WriteResult.ACCEPTED
                for command in commands:
                    self.add(after, o.name, EventKind.CLIENT_WRITE, command=command, result=result)
            elif o.step == "start_election":
                self.add(after, o.name, EventKind.TIMER, timer=TimerKind.ELECTION)
            elif o.step == "node_poll":
                kind = None if node_before is None else due_timer(node_before, after.now_ms)
                if kind is not None:
                    self.add(after, o.name, EventKind.TIMER, timer=kind)
                elif self.explicit_polls:
                    self.add(after, o.name, EventKind.POLL)
            else:  # pragma: no cover - every step the model runs is listed above
                raise InvalidInput(f"cannot convert step {o.step}")
            self._outputs(t, o, node_before)

    def _terminations(self, t: Transition) -> list[tuple[str, str]]:
        """Return ``(node, peer)`` per bond termination of ``t``, in the order the model ran
        them (``actions._Builder.bond_down``: per bond in name order, each up end)."""
        args = t.args
        if t.action == "break_bond":
            pairs = [(str(args["a"]), str(args["b"]))]
        else:  # leave / restart_empty: every bond of the node breaks
            name = str(args["name"])
            pairs = [(name, other) for other in t.before.bond_peers(name)]
        out: list[tuple[str, str]] = []
        for a, b in pairs:
            out.extend((here, there) for here, there in ((a, b), (b, a)) if t.before.nodes[here].up)
        return out

    def _bond_downs(self, t: Transition) -> None:
        ends = self._terminations(t)
        steps = [o for o in t.outcomes if o.step == "node_bond_terminated"]
        if [o.name for o in steps] != [here for here, _ in ends]:  # pragma: no cover
            raise InvalidInput(f"unexpected bond terminations in {t.action}")
        for here, there in ends:
            self.add(t.after, here, EventKind.BOND_DOWN, peer=t.before.nodes[there].peer)

    def _outputs(self, t: Transition, o: NodeOutcome, before: NodeState | None) -> None:
        world = t.after
        name = o.name
        if o.panic is not None:
            self.add(world, name, EventKind.PANIC, site=o.panic.site, detail=o.panic.detail)
            return
        if o.error is not None:
            return  # a typed rejection (NotLeader): nothing happened
        peer = world.nodes[name].peer
        for item in [i for i in t.sent if i.src == name]:
            seq = self.add(
                world, name, EventKind.SEND, to=world.nodes[item.dst].peer, message=item.message
            )
            self.sends[item.mid] = (peer, seq)
        for dropped in [d for d in t.dropped if d.src == name]:
            to = world.nodes[dropped.dst].peer if dropped.dst in world.nodes else None
            if to is None:
                continue  # a send to an unknown peer id: the transport has no one to name
            self.add(world, name, EventKind.SEND, to=to, message=dropped.message)
        after = world.nodes[name].node
        if before is None:
            return
        for out in state_outputs(before, after, o.effects, machine_for(world.setup.kind)):
            fields = dict(out.fields)
            digest = fields.get("digest")
            if isinstance(digest, LazyDigest):
                fields["digest"] = digest.value() if self.digests else None
            self.add(world, name, out.kind, **fields)


def _merged_late_deliveries(t: Transition, outcomes: list[NodeOutcome]) -> list[NodeOutcome]:
    """A delivery on a broken bond (transport ``deliver_after_break``) runs ``node_receive``
    and then the termination watchers again (``node_bond_terminated``): one step of the
    receiver, logged as one ``recv`` with the outputs of both (docs/formats/events.md)."""
    if t.action != "deliver_message" or len(outcomes) != 2:
        return outcomes
    first, second = outcomes
    if (first.step, second.step) != ("node_receive", "node_bond_terminated"):
        return outcomes
    if first.name != second.name:  # pragma: no cover - the model runs both at the receiver
        raise InvalidInput("a late delivery's two steps ran at different nodes")
    return [replace(first, effects=first.effects + second.effects, panic=second.panic)]


def logs_from_trace(
    lines: Sequence[str],
    *,
    explicit_polls: bool = False,
    implementation: str = "snapsync model (converted trace)",
    digests: bool = True,
) -> dict[str, ConvertedLog]:
    """Return every node's event log of the trace given as ``lines``, by node name.

    ``digests=False`` leaves the commits' state digests out (null): each costs a pass
    over the state. The trace is re-executed; a step whose re-execution differs from its recorded
    line (a trace that does not replay exactly) is rejected with :class:`TraceError`,
    since its logs would describe another run.
    """
    reader = TraceReader(lines)
    conv: _Converter | None = None
    world: World | None = None
    for line in reader.records():
        record = line.record
        if record["type"] == "header":
            setup = setup_from_header(record, line.number)
            try:
                world = initial_world(setup)
            except InvalidInput as exc:
                raise TraceError(line.number, "setup.kind", str(exc)) from None
            conv = _Converter(world, explicit_polls, implementation, digests)
            continue
        if world is None or conv is None:
            raise TraceError(line.number, "type", "no header before this record")
        if record["type"] == "end":
            break
        fn = ACTIONS.get(record["action"])
        if fn is None:
            raise TraceError(line.number, "action", f"unknown action {record['action']!r}")
        try:
            t = fn(world, **decode_args(record["args"]))
        except CodecError as exc:
            raise TraceError(line.number, exc.field, exc.reason) from None
        except (TypeError, InvalidInput) as exc:
            raise TraceError(line.number, "args", str(exc)) from None
        again = step_record(record["seq"], t, record["violations"])
        if canonical_json(again) != line.text:
            raise TraceError(
                line.number, "", f"re-executing {record['action']} gives a different step"
            )
        conv.convert(t)
        world = t.after
    return {} if conv is None else dict(sorted(conv.logs.items()))


def logs_from_trace_file(path: str | Path, **options: Any) -> dict[str, ConvertedLog]:
    """Return every node's event log of the trace file at ``path``."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot read trace {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise TraceError(1, "", f"not UTF-8 text: {exc.reason}") from None
    return logs_from_trace(text.split("\n"), **options)
