"""The adapter as a host of model nodes: :class:`AdapterHost` and the hosted nodes' event logs.

``snapsync drive`` runs the group model with some nodes played by an adapter
process (:mod:`spec.model.host`). :class:`AdapterHost` turns each step the model
asks of a hosted node into a node-level op (:mod:`spec.conformance.nodeops`),
reads the answer strictly, and gives the model the node's effects and a view
rebuilt from its observation.

It also writes, for each hosted node, the event log (docs/formats/events.md) of
what the node was given and what it did — every poll logged, the state changes
taken from its observations (``role``, ``append``, ``commit`` with the digest) —
and, when asked, validates that log against the spec as it grows
(:class:`~spec.conformance.validate.LogValidator`): a node whose behaviour no
behaviour of the spec explains is reported as a ``CONFORM`` deviation at the step
that shows it, with what the spec would have done. The logs are kept with a
failing run's trace, ready for ``snapsync validate`` and ``snapsync vectors
from-trace``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from impl.codec import encode, encode_tagged
from impl.config import Config
from impl.effects import Broadcast, Effect, Send
from impl.errors import CodecError, HazardPanic, NotLeader
from impl.messages import Command
from impl.node_state import NodeContext, Preference
from impl.observe import Observation
from impl.profile import Profile
from impl.types import PeerId
from spec.conformance.events import (
    Event,
    EventKind,
    LogHeader,
    WriteResult,
    event_record,
    header_record,
)
from spec.conformance.nodeclient import NodeProcess
from spec.conformance.nodeops import StepContext, ctx_json, read_effects, read_observation
from spec.conformance.protocol import Answer
from spec.conformance.validate import LogValidator, Verdict
from spec.model.actions import machine_for
from spec.model.host import HostedNode, HostError, NodeOp, hosted_node

__all__ = ["DRIVE_LOGGED", "AdapterHost", "Deviation", "HostedLog"]

DRIVE_LOGGED: frozenset[EventKind] = frozenset(
    {EventKind.POLL, EventKind.APPEND, EventKind.COMMIT, EventKind.ROLE, EventKind.PANIC}
)
"""The optional kinds a drive log records: every poll, and the observed state changes."""


@dataclass(frozen=True, slots=True)
class Deviation:
    """A hosted node did what no behaviour of the spec does (the online validation)."""

    node: str
    verdict: Verdict


@dataclass(slots=True)
class HostedLog:
    """One hosted node's event log, kept as records and fed to a validator."""

    header: LogHeader
    validator: LogValidator | None
    records: list[dict[str, Any]] = field(default_factory=list)
    bonds: frozenset[PeerId] = frozenset()
    observation: Observation | None = None
    deviated: bool = False

    def add(self, time_ms: int, wall_ms: int, kind: EventKind, **fields: Any) -> Event:
        """Append one event; return it as the validator reads it."""
        seq = len(self.records) + 1
        decoded = fields.pop("_decoded", None)
        record = event_record(seq, time_ms, wall_ms, kind, **fields)
        self.records.append(record)
        values = dict(fields)
        if "message" in values:
            values["message"] = record["message"]
        event = Event(seq + 1, seq, time_ms, wall_ms, kind, values, self.header.label)
        if decoded is not None:
            event._decoded = decoded
        return event

    def lines(self) -> list[dict[str, Any]]:
        """Return the log's records, header first (JSON forms)."""
        return [header_record(self.header), *self.records]


class AdapterHost:
    """Hosts model nodes in an adapter process (module docstring)."""

    def __init__(
        self,
        process: NodeProcess,
        hosted: frozenset[str],
        *,
        kind: str,
        config: Config,
        heartbeat_interval_ms: int,
        profile: Profile,
        epoch_wall_ms: int,
        validate: bool = True,
        handle_suffix: str = "",
        owns_process: bool = True,
    ) -> None:
        self.process = process
        self.handle_suffix = handle_suffix
        """Appended to node names to make the handles (a process shared by several runs
        keeps each run's nodes apart)."""
        self.owns_process = owns_process
        self._hosted = hosted
        self.kind = kind
        self.machine = machine_for(kind)
        self.config = config
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.profile = profile
        self.epoch_wall_ms = epoch_wall_ms
        self.validate = validate
        self.logs: dict[str, HostedLog] = {}
        self.deviations: list[Deviation] = []
        self.panics: dict[str, HazardPanic] = {}
        self.steps = 0

    @property
    def hosted(self) -> frozenset[str]:
        """The names of the nodes played by the adapter."""
        return self._hosted

    def hosts(self, name: str) -> bool:
        """Check if ``name`` is played by the adapter."""
        return name in self._hosted

    def close(self) -> None:
        """End the adapter process (unless it is shared with later runs)."""
        if self.owns_process:
            self.process.close()

    # -- node_new -------------------------------------------------------------------------------

    def node_new(
        self, name: str, peer: PeerId, writer: bool, now_ms: int, election_timeout_ms: int
    ) -> HostedNode:
        """Create hosted node ``name`` (again, empty: a restart) at the adapter."""
        c = self.config
        fields = {
            "node": name + self.handle_suffix,
            "peer": peer.hex(),
            "writer": writer,
            "collection": self.kind,
            "config": {
                "fetch_batch_size": c.fetch_batch_size,
                "fetch_timeout_ms": c.fetch_timeout_ms,
                "snapshot_request_timeout_ms": c.snapshot_request_timeout_ms,
                "snapshot_ttl_ms": c.snapshot_ttl_ms,
            },
            "heartbeat_interval_ms": self.heartbeat_interval_ms,
            "profile": self.profile.name,
            "now_ms": now_ms,
            "election_timeout_ms": election_timeout_ms,
        }
        answer = self._result(self.process.call("node_new", fields), "node_new")
        observation = _observation(answer)
        log = self.logs.get(name)
        if log is None:
            header = LogHeader(
                peer=peer,
                name=name,
                writer=writer,
                kind=self.kind,
                config=self.config,
                heartbeat_interval_ms=self.heartbeat_interval_ms,
                logged=DRIVE_LOGGED,
                implementation=self._implementation(),
                meta={"written_by": "snapsync drive"},
            )
            validator = LogValidator(header, self.profile) if self.validate else None
            log = self.logs[name] = HostedLog(header, validator)
        log.bonds = frozenset()
        log.observation = observation
        self._feed(name, log, log.add(now_ms, self.epoch_wall_ms + now_ms, EventKind.START))
        return hosted_node(peer, self.machine, writer, observation)

    def _implementation(self) -> str:
        hello = self.process.hello
        return "unknown" if hello is None else hello.implementation

    # -- steps ----------------------------------------------------------------------------------

    def step(
        self, name: str, op: NodeOp, node: HostedNode, ctx: NodeContext, live: frozenset[PeerId]
    ) -> tuple[HostedNode, tuple[Effect, ...]]:
        """Run ``op`` on hosted node ``name`` at the adapter (module docstring)."""
        log = self.logs[name]
        self.steps += 1
        now, wall = ctx.now_ms, ctx.now_wall_ms
        # Bonds formed since its last step (a broken one is logged by bond_terminated); a
        # broken bond still in the bond table (ctx.bonds) did not form again.
        ups = live - log.bonds
        for peer in sorted(ups, key=lambda p: p.raw):
            self._feed(name, log, log.add(now, wall, EventKind.BOND_UP, peer=peer))
        log.bonds = log.bonds | ups
        sctx = ctx_json(StepContext(now, wall, ctx.bonds, ctx.election_timeout_ms))
        effects: tuple[Effect, ...]
        if op.kind == "client_write":
            effects, observation = self._client_writes(name, log, op.commands, sctx, now, wall)
        else:
            fields: dict[str, Any] = {"node": name + self.handle_suffix, "ctx": sctx}
            if op.kind == "receive":
                assert op.peer is not None
                assert op.message is not None
                message = encode_tagged(op.message)
                fields["from"] = op.peer.hex()
                fields["message"] = message
                event = log.add(
                    now,
                    wall,
                    EventKind.RECV,
                    **{"from": op.peer, "message": message, "cause": None},
                    _decoded=op.message,
                )
            elif op.kind == "bond_terminated" and op.again:
                # The watchers of a delivery after the break: part of the recv's step.
                assert op.peer is not None
                fields["peer"] = op.peer.hex()
                event = None
            elif op.kind == "bond_terminated":
                assert op.peer is not None
                fields["peer"] = op.peer.hex()
                if op.peer not in log.bonds:  # formed and broken with no step between
                    self._feed(name, log, log.add(now, wall, EventKind.BOND_UP, peer=op.peer))
                event = log.add(now, wall, EventKind.BOND_DOWN, peer=op.peer)
                log.bonds = log.bonds - {op.peer}
            elif op.kind == "poll":
                event = log.add(now, wall, EventKind.POLL)
            else:
                raise HostError("refused", f"no node op for {op.kind}")
            if event is not None:
                self._feed(name, log, event)
            answer = self.process.call(op.kind, fields)
            effects, observation = self._step_result(name, log, answer, op.kind, now, wall)
        self._outputs(name, log, effects, observation, ctx, live)
        log.observation = observation
        writer = node.preference is Preference.NORMAL
        return hosted_node(node.id, self.machine, writer, observation), effects

    def _client_writes(
        self,
        name: str,
        log: HostedLog,
        commands: tuple[Command, ...],
        sctx: dict[str, Any],
        now: int,
        wall: int,
    ) -> tuple[tuple[Effect, ...], Observation]:
        effects: tuple[Effect, ...] = ()
        observation = log.observation
        for command in commands:
            fields: dict[str, Any] = {"node": name + self.handle_suffix, "ctx": sctx}
            fields["command"] = encode(command, Command)
            answer = self.process.call("client_write", fields)
            if answer.kind == "error" and answer.value.get("kind") == "NotLeader":
                event = log.add(
                    now,
                    wall,
                    EventKind.CLIENT_WRITE,
                    command=command,
                    result=WriteResult.NOT_LEADER,
                )
                self._feed(name, log, event)
                raise NotLeader(command, None)
            event = log.add(
                now, wall, EventKind.CLIENT_WRITE, command=command, result=WriteResult.ACCEPTED
            )
            self._feed(name, log, event)
            more, observation = self._step_result(name, log, answer, "client_write", now, wall)
            effects += more
        assert observation is not None
        return effects, observation

    def _step_result(
        self, name: str, log: HostedLog, answer: Answer, op: str, now: int, wall: int
    ) -> tuple[tuple[Effect, ...], Observation]:
        if answer.kind == "error":
            error = answer.value
            kind = str(error.get("kind"))
            if kind == "HazardPanic":
                hazard = str(error.get("hazard", "?"))
                site = str(error.get("site", "?"))
                detail = str(error.get("message", ""))
                self._feed(name, log, log.add(now, wall, EventKind.PANIC, site=site, detail=detail))
                panic = HazardPanic(hazard, site, detail)
                self.panics[name] = panic
                raise panic
            if kind == "NotLeader":
                raise HostError("refused", f"{op} answered NotLeader (only client_write may)")
            raise HostError("refused", f"{op} answered error {kind}: {error.get('message', '')}")
        value = self._result(answer, op)
        try:
            effects = read_effects(value.get("effects"))
        except CodecError as exc:
            raise HostError("malformed", f"answer to {op}: {exc}") from None
        return effects, _observation(value)

    def _result(self, answer: Answer, op: str) -> dict[str, Any]:
        if answer.kind == "unsupported":
            raise HostError("unsupported", f"{op}: {answer.value}")
        if answer.kind == "error":
            error = answer.value
            raise HostError("refused", f"{op} answered error {error.get('kind')}: {error}")
        value: dict[str, Any] = answer.value
        return value

    def _outputs(
        self,
        name: str,
        log: HostedLog,
        effects: tuple[Effect, ...],
        seen: Observation,
        ctx: NodeContext,
        live: frozenset[PeerId],
    ) -> None:
        now, wall = ctx.now_ms, ctx.now_wall_ms
        add: Callable[..., Event] = log.add
        for e in effects:
            if isinstance(e, Send):
                message = encode_tagged(e.message)
                event = add(now, wall, EventKind.SEND, to=e.to, message=message, _decoded=e.message)
                self._feed(name, log, event)
            elif isinstance(e, Broadcast):
                message = encode_tagged(e.message)
                # The model carries a broadcast over the live bonds (as the converter logs).
                for peer in sorted(live, key=lambda p: p.raw):
                    event = add(
                        now, wall, EventKind.SEND, to=peer, message=message, _decoded=e.message
                    )
                    self._feed(name, log, event)
        old = log.observation
        if old is not None:
            if (old.role, old.term, old.leader) != (seen.role, seen.term, seen.leader):
                event = add(
                    now,
                    wall,
                    EventKind.ROLE,
                    role=seen.role,
                    term=int(seen.term),
                    leader=seen.leader,
                )
                self._feed(name, log, event)
            if old.last_log != seen.last_log:
                self._feed(name, log, add(now, wall, EventKind.APPEND, last=seen.last_log))
            if old.committed != seen.committed or old.digest != seen.digest:
                event = add(
                    now, wall, EventKind.COMMIT, committed=seen.committed, digest=seen.digest
                )
                self._feed(name, log, event)
        self._check_owed(name, log)

    # -- validation -----------------------------------------------------------------------------

    def _feed(self, name: str, log: HostedLog, event: Event) -> None:
        v = log.validator
        if v is None or log.deviated:
            return
        if not v.feed(event):
            log.deviated = True
            self.deviations.append(Deviation(name, v.verdict))

    def _check_owed(self, name: str, log: HostedLog) -> None:
        """The node's step is complete (its whole answer is logged): the spec's must be too."""
        v = log.validator
        if v is None or log.deviated:
            return
        owed = v.owed()
        if owed:
            log.deviated = True
            verdict = v.finish()
            self.deviations.append(Deviation(name, verdict))

    def take_deviations(self) -> list[Deviation]:
        """Return (and forget) the deviations found since the last call."""
        out, self.deviations = self.deviations, []
        return out


def _observation(value: dict[str, Any]) -> Observation:
    try:
        return read_observation(value.get("observation"))
    except CodecError as exc:
        raise HostError("malformed", str(exc)) from None
