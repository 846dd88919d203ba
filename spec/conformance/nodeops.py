"""The node-level ops of the adapter protocol, and the reference serving them.

At the node level the adapter *is* one or more nodes of a group; the harness
(``snapsync drive``) plays the rest of the group, the network, the clocks and the
faults (docs/formats/adapter.md, "Node-level ops"). Seven ops, each on the node
named by the harness's handle ``node``:

===================  ==============================================================
op                   request fields (besides ``id``, ``op``) → result fields
===================  ==============================================================
``node_new``         ``node``, ``peer``, ``writer``, ``collection``, ``config``,
                     ``heartbeat_interval_ms``, ``profile``, ``now_ms``,
                     ``election_timeout_ms`` → ``observation``
``receive``          ``node``, ``ctx``, ``from``, ``message`` → ``effects``, ``observation``
``poll``             ``node``, ``ctx`` → ``effects``, ``observation``
``client_write``     ``node``, ``ctx``, ``command`` → ``effects``, ``observation``
``bond_terminated``  ``node``, ``ctx``, ``peer`` → ``effects``, ``observation``
``next_deadline``    ``node`` → ``deadline_ms``
``observe``          ``node`` → ``observation``
===================  ==============================================================

``ctx`` is what a step sees besides the node: ``now_ms`` (monotonic), ``now_wall_ms``
(its wall clock), ``bonds`` (peer ids with a live bond, sorted) and
``election_timeout_ms`` (the timeout to arm if the step re-arms the election timer:
the harness draws mosaik's base + jitter so that a run replays). Effects are the
canonical tagged forms (docs/formats/json.md); ``Send`` and ``Broadcast`` are
required (the harness carries them), the node-internal ones are informative.
The ``observation`` is :class:`impl.observe.Observation`.

:class:`NodeOps` is the reference's implementation (``snapsync adapter`` serves it
next to ``step``); :func:`read_observation` and :func:`read_effects` read an
implementation's answers strictly (a malformed answer names its field).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, get_args

from impl.codec import canonical_json, decode, decode_tagged, encode, encode_tagged
from impl.collections import COLLECTIONS
from impl.collections.base import StateMachine
from impl.config import Config
from impl.effects import Broadcast, Effect, InstallSnapshot, Send
from impl.errors import CodecError, HazardPanic, InvalidInput, NotLeader, SnapshotSyncError
from impl.messages import Command, Message
from impl.node import (
    node_bond_terminated,
    node_client_write,
    node_new,
    node_next_deadline,
    node_poll,
    node_receive,
)
from impl.node_state import NodeContext, NodeState, Preference
from impl.observe import Observation, observe
from impl.profile import PROFILES, Profile, get_profile
from impl.types import U64_MAX, PeerId

__all__ = [
    "NODE_OPS",
    "NODE_OP_FIELDS",
    "STEP_OPS",
    "NodeOps",
    "StepContext",
    "ctx_json",
    "effects_json",
    "read_effects",
    "read_observation",
]

NODE_OP_FIELDS: dict[str, tuple[str, ...]] = {
    "node_new": (
        "collection",
        "config",
        "election_timeout_ms",
        "heartbeat_interval_ms",
        "node",
        "now_ms",
        "peer",
        "profile",
        "writer",
    ),
    "receive": ("ctx", "from", "message", "node"),
    "poll": ("ctx", "node"),
    "client_write": ("command", "ctx", "node"),
    "bond_terminated": ("ctx", "node", "peer"),
    "next_deadline": ("node",),
    "observe": ("node",),
}
"""Every node-level op and the request fields it carries besides ``id`` and ``op``."""

NODE_OPS: tuple[str, ...] = tuple(NODE_OP_FIELDS)
"""The node-level op names (in the order of the table above)."""

STEP_OPS: frozenset[str] = frozenset({"receive", "poll", "client_write", "bond_terminated"})
"""The ops that run one step and answer its effects and the observation after it."""

_CTX_FIELDS = ("bonds", "election_timeout_ms", "now_ms", "now_wall_ms")
_MESSAGES: tuple[type, ...] = get_args(Message)


@dataclass(frozen=True, slots=True)
class StepContext:
    """The ``ctx`` of a step op: time, wall clock, live bonds, the election timeout to arm."""

    now_ms: int
    now_wall_ms: int
    bonds: frozenset[PeerId]
    election_timeout_ms: int


def ctx_json(ctx: StepContext) -> dict[str, Any]:
    """Return the JSON form of ``ctx`` (bonds sorted by their hex text)."""
    return {
        "bonds": sorted(p.hex() for p in ctx.bonds),
        "election_timeout_ms": ctx.election_timeout_ms,
        "now_ms": ctx.now_ms,
        "now_wall_ms": ctx.now_wall_ms,
    }


def effects_json(effects: tuple[Effect, ...]) -> list[dict[str, Any]]:
    """Return the tagged forms of ``effects``; an effect whose value has no JSON form yet
    (an installed snapshot of a collection whose snapshot form is not registered) is left
    out: node-internal effects are informative in node ops."""
    out = []
    for e in effects:
        try:
            out.append(encode_tagged(e))
        except CodecError:
            if isinstance(e, Send | Broadcast):
                raise
    return out


class _Bad(Exception):
    """A malformed field: its path and why."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


def _u64(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= U64_MAX:
        raise _Bad(field, "expected an integer in [0, 2^64)")
    return value


def _i64(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not -(1 << 63) <= value < 1 << 63:
        raise _Bad(field, "expected an integer in [-2^63, 2^63)")
    return value


def _peer(value: Any, field: str) -> PeerId:
    try:
        peer: PeerId = decode(value, PeerId)
    except CodecError as exc:
        raise _Bad(field, exc.reason) from None
    return peer


def _exact(record: Any, names: tuple[str, ...], field: str) -> dict[str, Any]:
    if not isinstance(record, dict):
        raise _Bad(field, "expected an object")
    for name in sorted(names):
        if name not in record:
            raise _Bad(f"{field}.{name}" if field else name, "missing")
    for name in sorted(record):
        if name not in names:
            raise _Bad(f"{field}.{name}" if field else name, "unexpected field")
    return record


def _read_ctx(value: Any) -> StepContext:
    record = _exact(value, _CTX_FIELDS, "ctx")
    bonds = record["bonds"]
    if not isinstance(bonds, list):
        raise _Bad("ctx.bonds", "expected an array of peer ids")
    return StepContext(
        now_ms=_u64(record["now_ms"], "ctx.now_ms"),
        now_wall_ms=_i64(record["now_wall_ms"], "ctx.now_wall_ms"),
        bonds=frozenset(_peer(b, f"ctx.bonds[{i}]") for i, b in enumerate(bonds)),
        election_timeout_ms=_u64(record["election_timeout_ms"], "ctx.election_timeout_ms"),
    )


@dataclass(slots=True)
class _Hosted:
    """One node served by :class:`NodeOps`: its state and what its steps need."""

    state: NodeState
    machine: StateMachine
    config: Config
    profile: Profile
    heartbeat_interval_ms: int
    dead: str | None = None
    """Why the node is gone (it panicked): every later op on it is an error."""


class NodeOps:
    """The reference's node-level ops (module docstring), on any number of nodes.

    ``profile`` forces every node to behave as that profile (``snapsync adapter
    --profile mosaik-0.3.13`` is a mosaik-like node in a reference group); without
    it a node runs the profile its ``node_new`` names.
    """

    def __init__(self, profile: Profile | None = None) -> None:
        self.profile = profile
        self.nodes: dict[str, _Hosted] = {}
        self.handlers: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "node_new": self._guarded(self._node_new),
            "receive": self._guarded(self._receive),
            "poll": self._guarded(self._poll),
            "client_write": self._guarded(self._client_write),
            "bond_terminated": self._guarded(self._bond_terminated),
            "next_deadline": self._guarded(self._next_deadline),
            "observe": self._guarded(self._observe),
        }

    # -- plumbing -------------------------------------------------------------------------------

    def _guarded(
        self, fn: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> Callable[[dict[str, Any]], dict[str, Any]]:
        def handler(request: dict[str, Any]) -> dict[str, Any]:
            op = request.get("op")
            fields = NODE_OP_FIELDS[str(op)]
            try:
                _exact({k: v for k, v in request.items() if k not in ("id", "op")}, fields, "")
                return fn(request)
            except _Bad as bad:
                return _malformed(bad.field, bad.reason)

        return handler

    def _hosted(self, request: dict[str, Any]) -> _Hosted:
        handle = request["node"]
        if not isinstance(handle, str):
            raise _Bad("node", "expected a string (the node's handle)")
        hosted = self.nodes.get(handle)
        if hosted is None:
            raise _Bad("node", f"no node {handle!r} (node_new first)")
        return hosted

    def _context(self, hosted: _Hosted, ctx: StepContext) -> NodeContext:
        return NodeContext(
            now_ms=ctx.now_ms,
            now_wall_ms=ctx.now_wall_ms,
            bonds=ctx.bonds,
            config=hosted.config,
            profile=hosted.profile,
            machine=hosted.machine,
            election_timeout_ms=ctx.election_timeout_ms,
            heartbeat_interval_ms=hosted.heartbeat_interval_ms,
        )

    def _step(
        self, request: dict[str, Any], run: Callable[[NodeState, NodeContext], Any]
    ) -> dict[str, Any]:
        hosted = self._hosted(request)
        if hosted.dead is not None:
            return {"error": {"kind": "InvalidState", "message": hosted.dead}}
        ctx = self._context(hosted, _read_ctx(request["ctx"]))
        try:
            state, effects = run(hosted.state, ctx)
        except HazardPanic as panic:
            hosted.dead = f"the node panicked earlier ({panic.hazard} at {panic.site})"
            return {
                "error": {
                    "kind": "HazardPanic",
                    "hazard": panic.hazard,
                    "site": panic.site,
                    "message": panic.detail,
                }
            }
        except SnapshotSyncError as exc:
            return {"error": {"kind": type(exc).__name__, "message": str(exc)}}
        hosted.state = state
        return {
            "result": {
                "effects": effects_json(effects),
                "observation": encode(observe(state, hosted.machine), Observation),
            }
        }

    # -- the ops --------------------------------------------------------------------------------

    def _node_new(self, request: dict[str, Any]) -> dict[str, Any]:
        handle = request["node"]
        if not isinstance(handle, str) or not handle:
            raise _Bad("node", "expected a non-empty string")
        kind = request["collection"]
        machine = COLLECTIONS.get(kind) if isinstance(kind, str) else None
        if machine is None:
            return {"unsupported": f"collection {kind!r} is not implemented"}
        try:
            config: Config = decode(request["config"], Config)
        except CodecError as exc:
            raise _Bad(f"config.{exc.field}" if exc.field else "config", exc.reason) from None
        name = request["profile"]
        if not isinstance(name, str):
            raise _Bad("profile", "expected a string")
        if self.profile is not None:
            profile = self.profile
        elif name in PROFILES:
            profile = get_profile(name)
        else:
            return {"unsupported": f"profile {name!r} is not implemented"}
        writer = request["writer"]
        if not isinstance(writer, bool):
            raise _Bad("writer", "expected a boolean")
        now = _u64(request["now_ms"], "now_ms")
        timeout = _u64(request["election_timeout_ms"], "election_timeout_ms")
        preference = Preference.NORMAL if writer else Preference.OBSERVER
        try:
            state = node_new(_peer(request["peer"], "peer"), machine, preference, now, timeout)
        except InvalidInput as exc:
            return {"error": {"kind": "InvalidInput", "message": str(exc)}}
        self.nodes[handle] = _Hosted(
            state,
            machine,
            config,
            profile,
            _u64(request["heartbeat_interval_ms"], "heartbeat_interval_ms"),
        )
        return {"result": {"observation": encode(observe(state, machine), Observation)}}

    def _receive(self, request: dict[str, Any]) -> dict[str, Any]:
        sender = _peer(request["from"], "from")
        try:
            message = decode_tagged(request["message"], _MESSAGES)
        except CodecError as exc:
            raise _Bad(f"message.{exc.field}" if exc.field else "message", exc.reason) from None
        return self._step(request, lambda n, c: node_receive(n, c, sender, message))

    def _poll(self, request: dict[str, Any]) -> dict[str, Any]:
        return self._step(request, node_poll)

    def _client_write(self, request: dict[str, Any]) -> dict[str, Any]:
        try:
            command = decode(request["command"], Command)
        except CodecError as exc:
            raise _Bad(f"command.{exc.field}" if exc.field else "command", exc.reason) from None
        answer = self._step(request, lambda n, c: node_client_write(n, c, command))
        error = answer.get("error")
        if isinstance(error, dict) and error.get("kind") == NotLeader.__name__:
            return {"error": {"kind": "NotLeader", "message": error.get("message", "")}}
        return answer

    def _bond_terminated(self, request: dict[str, Any]) -> dict[str, Any]:
        peer = _peer(request["peer"], "peer")
        return self._step(request, lambda n, c: node_bond_terminated(n, peer))

    def _next_deadline(self, request: dict[str, Any]) -> dict[str, Any]:
        hosted = self._hosted(request)
        deadline = node_next_deadline(hosted.state)
        value = None if deadline is None else min(max(deadline, 0), U64_MAX)
        return {"result": {"deadline_ms": value}}

    def _observe(self, request: dict[str, Any]) -> dict[str, Any]:
        hosted = self._hosted(request)
        return {
            "result": {"observation": encode(observe(hosted.state, hosted.machine), Observation)}
        }


def _malformed(field: str, message: str) -> dict[str, Any]:
    return {"error": {"kind": "MalformedRequest", "field": field, "message": message}}


# -- reading an implementation's answers ---------------------------------------------------------


def read_observation(value: Any, field: str = "result.observation") -> Observation:
    """Return the observation of an answer; raise :class:`CodecError` naming the field."""
    try:
        observation: Observation = decode(value, Observation)
    except CodecError as exc:
        raise CodecError(f"{field}.{exc.field}" if exc.field else field, exc.reason) from None
    except InvalidInput as exc:
        raise CodecError(field, str(exc)) from None
    return observation


def read_effects(value: Any, field: str = "result.effects") -> tuple[Effect, ...]:
    """Return the effects of an answer; raise :class:`CodecError` naming the field.

    Tags outside the ``Effect`` union are errors; an ``InstallSnapshot`` is kept with its
    snapshot as sent (informative).
    """
    if not isinstance(value, list):
        raise CodecError(field, "expected an array of tagged effects")
    out: list[Effect] = []
    for i, item in enumerate(value):
        path = f"{field}[{i}]"
        if isinstance(item, dict) and item.get("type") == "InstallSnapshot":
            if set(item) != {"type", "snapshot"}:
                raise CodecError(path, "an InstallSnapshot has exactly the field snapshot")
            out.append(InstallSnapshot(item["snapshot"]))
            continue
        try:
            out.append(decode_tagged(item, get_args(Effect)))
        except CodecError as exc:
            raise CodecError(f"{path}.{exc.field}" if exc.field else path, exc.reason) from None
    return tuple(out)


def request_line(request_id: int, op: str, fields: Mapping[str, Any]) -> str:
    """Return the canonical request line of node op ``op`` (checks the field set)."""
    expected = NODE_OP_FIELDS[op]
    if tuple(sorted(fields)) != tuple(sorted(expected)):
        raise InvalidInput(f"{op} needs the fields {sorted(expected)}, got {sorted(fields)}")
    return canonical_json({"id": request_id, "op": op, **fields})
