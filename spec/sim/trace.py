"""JSON-lines traces of model runs: writer, strict reader and the record encoders.

A trace is the exact input of a run plus what each step did (docs/formats/trace.md,
spec/schemas/trace.schema.json). Line 1 is the ``header`` (the world's setup),
then one ``step`` line per action, then an ``end`` line (final per-node summary).
Every line is canonical JSON (:func:`impl.codec.canonical_json`), so two runs of
the same seed give byte-identical traces and a replay can compare its own
re-encoding of each step with the recorded line.

Each step line records the action and its arguments (everything needed to
re-execute it: commands and forged messages in the codec's tagged form), then
its observable outcome: the messages queued (with their ids), delivered, dropped
and lost, the effects of every impl step, the messages a fault rewrote in place
(``rewritten``), the invariant violations found after it, and the digests of the
world after it (``world``, :mod:`spec.sim.digest`). The header and the end record
carry the digests of the initial and the final world.

:class:`TraceReader` is strict: each line is read by the shared JSON-lines reader
(:mod:`spec.robust.jsonlines`), validated against the JSON Schema of its record
type, its values decoded with their types (commands, messages, effects, the
setup, each action's arguments), and it must be canonical. Every refusal is a
:class:`TraceError` naming the line and the field.
"""

from __future__ import annotations

import functools
import json
import typing
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import IO, Any

import jsonschema

from impl.codec import canonical_json, decode, decode_tagged, encode, encode_tagged
from impl.config import Config
from impl.effects import Broadcast, Effect, InstallSnapshot, Send
from impl.errors import CodecError, InvalidInput
from impl.messages import Message
from impl.profile import PROFILES, Behaviour, Hazard, Profile, parse_behaviour, parse_hazard
from spec.model.actions import ACTIONS, NodeOutcome, Transition
from spec.model.faults import parse_faults
from spec.model.state import ElectionTiming, InFlight, World, WorldSetup, describe_setup
from spec.model.transport import parse_transports
from spec.robust.jsonlines import LineError, parse_lines, read_text
from spec.sim.digest import world_digests

__all__ = [
    "FORMAT",
    "VERSION",
    "TraceError",
    "TraceLine",
    "TraceReader",
    "TraceWriter",
    "decode_args",
    "encode_args",
    "end_record",
    "header_record",
    "setup_from_header",
    "step_record",
]

FORMAT = "snapsync-trace"
VERSION = 2
"""Version 2 added ``world`` (every line) and ``rewritten`` (steps)."""


class TraceError(LineError):
    """A trace line is malformed: ``line`` is 1-based, ``field`` a dotted path in it."""

    def __init__(self, line: int, field: str, reason: str) -> None:
        super().__init__(line, field, reason, "trace")


# -- encoding --------------------------------------------------------------------------------

_COMMAND_ARGS = {"commands"}
_MESSAGE_ARGS = {"message"}
_MESSAGE_TYPES: tuple[type, ...] = typing.get_args(Message)
_EFFECT_TYPES: tuple[type, ...] = typing.get_args(Effect)


def encode_args(action: str, args: Mapping[str, Any]) -> dict[str, Any]:
    """Return the JSON form of an action's arguments (commands and messages tagged)."""
    del action
    out: dict[str, Any] = {}
    for key, value in args.items():
        if key in _COMMAND_ARGS:
            out[key] = [encode(c, Any) for c in value]
        elif key in _MESSAGE_ARGS:
            out[key] = encode_tagged(value)
        else:
            out[key] = value
    return out


def _nested(path: str, exc: CodecError) -> CodecError:
    return CodecError(f"{path}.{exc.field}".rstrip(".") if exc.field else path, exc.reason)


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def decode_args(args: Mapping[str, Any], path: str = "args") -> dict[str, Any]:
    """Return the Python arguments of an action from their JSON form (inverse of
    :func:`encode_args`); raise :class:`CodecError` naming the field of a value that
    does not decode. The arguments' names and JSON types are the schema's concern."""
    out: dict[str, Any] = {}
    for key, value in args.items():
        where = _join(path, key)
        if key in _COMMAND_ARGS:
            if not isinstance(value, list):
                raise CodecError(where, "expected an array of commands")
            commands = []
            for i, c in enumerate(value):
                try:
                    commands.append(decode(c, Any))
                except CodecError as exc:
                    raise _nested(_join(where, i), exc) from None
            out[key] = tuple(commands)
        elif key in _MESSAGE_ARGS:
            try:
                out[key] = decode_tagged(value, _MESSAGE_TYPES)
            except CodecError as exc:
                raise _nested(where, exc) from None
        elif key == "bond_to" and isinstance(value, list):
            out[key] = tuple(value)
        elif key == "redraw" and value is not None:
            try:
                out[key] = ElectionTiming.from_json(value)
            except InvalidInput as exc:
                raise CodecError(where, str(exc)) from None
        else:
            out[key] = value
    return out


def _message_summary(message: Message) -> str:
    return type(message).__name__


def _encode_effect(effect: Effect, world: World) -> Any:
    """Effects as trace records; messages appear in ``sent`` and snapshots by length."""
    if isinstance(effect, Send):
        to = world.peers.get(effect.to, effect.to.hex())
        return {"type": "Send", "to": to, "kind": _message_summary(effect.message)}
    if isinstance(effect, Broadcast):
        return {"type": "Broadcast", "kind": _message_summary(effect.message)}
    if isinstance(effect, InstallSnapshot):
        return {"type": "InstallSnapshot", "items": len(effect.snapshot)}
    return encode_tagged(effect)


_SUMMARISED_EFFECTS = frozenset({"Send", "Broadcast", "InstallSnapshot"})


def _encode_outcome(outcome: NodeOutcome, world: World) -> dict[str, Any]:
    return {
        "node": outcome.name,
        "step": outcome.step,
        "effects": [_encode_effect(e, world) for e in outcome.effects],
        "error": outcome.error,
        "panic": (
            None
            if outcome.panic is None
            else {
                "hazard": outcome.panic.hazard,
                "site": outcome.panic.site,
                "detail": outcome.panic.detail,
            }
        ),
    }


def _encode_inflight(item: InFlight) -> dict[str, Any]:
    return {
        "mid": item.mid,
        "src": item.src,
        "dst": item.dst,
        "message": encode_tagged(item.message),
    }


def _rewritten(transition: Transition) -> list[dict[str, Any]]:
    """The queued messages a fault rewrote in place (``corrupt_response``): their new form."""
    if transition.action != "corrupt_response":
        return []
    args = transition.args
    queue = transition.after.queue(args["src"], args["dst"])
    return [_encode_inflight(queue[args["position"]])]


def header_record(world: World, *, seed: int | None, meta: Mapping[str, Any]) -> dict[str, Any]:
    """Return the header line: format, version, setup, seed, metadata, initial world digests."""
    return {
        "type": "header",
        "format": FORMAT,
        "version": VERSION,
        "setup": describe_setup(world.setup),
        "seed": seed,
        "meta": dict(meta),
        "world": world_digests(world),
    }


def step_record(
    seq: int, transition: Transition, violations: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """Return the line of one step (see the module docstring)."""
    world = transition.after
    return {
        "type": "step",
        "seq": seq,
        "now_ms": world.now_ms,
        "action": transition.action,
        "args": encode_args(transition.action, transition.args),
        "outcomes": [_encode_outcome(o, world) for o in transition.outcomes],
        "sent": [_encode_inflight(i) for i in transition.sent],
        "delivered": [i.mid for i in transition.delivered],
        "dropped": [
            {"src": d.src, "dst": d.dst, "kind": _message_summary(d.message)}
            for d in transition.dropped
        ],
        "lost": [i.mid for i in transition.lost],
        "rewritten": _rewritten(transition),
        "violations": [dict(v) for v in violations],
        "world": world_digests(world),
    }


def end_record(
    steps: int, world: World, nodes: Mapping[str, Mapping[str, Any]], violations: int
) -> dict[str, Any]:
    """Return the last line: step count, final time, per-node summary, violation count
    (every violation of every step) and the final world's digests."""
    return {
        "type": "end",
        "steps": steps,
        "now_ms": world.now_ms,
        "nodes": {name: dict(summary) for name, summary in sorted(nodes.items())},
        "violations": violations,
        "world": world_digests(world),
    }


STEP_FIELDS: tuple[str, ...] = (
    "type",
    "seq",
    "now_ms",
    "action",
    "args",
    "outcomes",
    "sent",
    "delivered",
    "dropped",
    "lost",
    "rewritten",
    "violations",
    "world",
)
"""A step's fields in the order replay compares them (inputs first, then outcomes)."""
END_FIELDS: tuple[str, ...] = ("type", "steps", "now_ms", "violations", "nodes", "world")
"""The end record's fields in the order replay compares them."""


# -- the header's setup ---------------------------------------------------------------------


_SWITCH_NAMES: tuple[str, ...] = tuple(
    sorted([h.value for h in Hazard] + [b.value for b in Behaviour], key=len, reverse=True)
)
"""Every switch name, longest first (``H10`` before ``H1``; ``readers-vote`` holds a ``-``)."""


def _profile_from_name(name: str) -> Profile | None:
    """The switches a profile name describes (``reference+H4``, ``mosaik-0.3.13-H3``,
    ``reference+readers-vote``): a preset, then ``+S`` / ``-S`` per switch ``S`` added or
    removed, as :meth:`Profile.with_hazards` and :meth:`Profile.with_behaviours` name
    them; or None if it is not such a name."""
    for base_name in sorted(PROFILES, key=len, reverse=True):
        if not name.startswith(base_name):
            continue
        profile = PROFILES[base_name]
        hazards, behaviours = set(profile.hazards), set(profile.behaviours)
        rest = name[len(base_name) :]
        while rest:
            sign, rest = rest[0], rest[1:]
            if sign not in "+-":
                return None
            for switch in _SWITCH_NAMES:
                after = rest[len(switch) : len(switch) + 1]
                if rest.startswith(switch) and after in ("", "+", "-"):
                    break
            else:
                return None
            rest = rest[len(switch) :]
            target: set[Any] = behaviours if switch in _BEHAVIOUR_NAMES else hazards
            value = parse_behaviour(switch) if switch in _BEHAVIOUR_NAMES else parse_hazard(switch)
            (target.add if sign == "+" else target.discard)(value)
        return Profile(name, frozenset(hazards), frozenset(behaviours))
    return None


_BEHAVIOUR_NAMES = frozenset(b.value for b in Behaviour)


def setup_from_header(header: Mapping[str, Any], line: int = 1) -> WorldSetup:
    """Return the :class:`WorldSetup` a header describes (raise :class:`TraceError`).

    Beyond the schema: hazards, behaviours, faults and transport behaviours are known,
    sorted and unique; the profile name describes exactly the hazards and behaviours
    that are on; the config is valid; and the setup re-encodes to exactly what the
    header holds.
    """
    setup = _field(header, "setup", dict, line, "")
    kind = _field(setup, "kind", str, line, "setup")
    profile_name = _field(setup, "profile", str, line, "setup")
    hazards = _field(setup, "hazards", list, line, "setup")
    behaviours = _field(setup, "behaviours", list, line, "setup")
    faults = _field(setup, "faults", list, line, "setup")
    transport = _field(setup, "transport", list, line, "setup")
    cfg = _field(setup, "config", dict, line, "setup")
    switches = []
    for i, name in enumerate(hazards):
        try:
            switches.append(parse_hazard(name if isinstance(name, str) else repr(name)))
        except InvalidInput as exc:
            raise TraceError(line, f"setup.hazards[{i}]", str(exc)) from None
    versions = []
    for i, name in enumerate(behaviours):
        try:
            versions.append(parse_behaviour(name if isinstance(name, str) else repr(name)))
        except InvalidInput as exc:
            raise TraceError(line, f"setup.behaviours[{i}]", str(exc)) from None
    described = _profile_from_name(profile_name)
    if described is None:
        raise TraceError(
            line,
            "setup.profile",
            f"{profile_name!r} is not a profile name ({', '.join(PROFILES)}, "
            "optionally with +S / -S for a hazard or behaviour switch S)",
        )
    named = Profile(profile_name, frozenset(switches), frozenset(versions))
    for field, have, want in (
        ("hazards", named.hazards, described.hazards),
        ("behaviours", named.behaviours, described.behaviours),
    ):
        if have != want:
            raise TraceError(
                line,
                "setup.profile",
                f"{profile_name!r} names {field} {sorted(x.value for x in want)}, "
                f"but setup.{field} lists {sorted(x.value for x in have)}",
            )
    profile = named
    try:
        fault_set = parse_faults(faults)
    except InvalidInput as exc:
        raise TraceError(line, "setup.faults", str(exc)) from None
    try:
        transport_set = parse_transports(transport)
    except InvalidInput as exc:
        raise TraceError(line, "setup.transport", str(exc)) from None
    try:
        config = Config(
            fetch_batch_size=_field(cfg, "fetch_batch_size", int, line, "setup.config"),
            snapshot_ttl_ms=_field(cfg, "snapshot_ttl_ms", int, line, "setup.config"),
            snapshot_request_timeout_ms=_field(
                cfg, "snapshot_request_timeout_ms", int, line, "setup.config"
            ),
            fetch_timeout_ms=_field(cfg, "fetch_timeout_ms", int, line, "setup.config"),
        )
    except InvalidInput as exc:
        raise TraceError(line, "setup.config", str(exc)) from None
    try:
        result = WorldSetup(
            kind=kind,
            config=config,
            profile=profile,
            faults=fault_set,
            transport=transport_set,
            heartbeat_interval_ms=_field(setup, "heartbeat_interval_ms", int, line, "setup"),
            epoch_wall_ms=_field(setup, "epoch_wall_ms", int, line, "setup"),
        )
    except InvalidInput as exc:
        raise TraceError(line, "setup", str(exc)) from None
    again = describe_setup(result)
    for key in sorted(again):
        if canonical_json(again[key]) != canonical_json(setup.get(key)):
            raise TraceError(
                line,
                f"setup.{key}",
                f"not in canonical form (sorted, no duplicates): expected "
                f"{canonical_json(again[key])}",
            )
    return result


# -- writing ---------------------------------------------------------------------------------


class TraceWriter:
    """Writes canonical JSON lines to a text stream (one record per line)."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self.lines = 0

    @classmethod
    def open(cls, path: str | Path) -> TraceWriter:
        """Return a writer to a new file at ``path`` (UTF-8, ``\\n`` line ends)."""
        return cls(Path(path).open("w", encoding="utf-8", newline="\n"))

    def write(self, record: Mapping[str, Any]) -> None:
        """Write one record as a canonical JSON line."""
        self._stream.write(canonical_json(dict(record)))
        self._stream.write("\n")
        self.lines += 1

    def close(self) -> None:
        """Flush and close the stream."""
        self._stream.close()


# -- reading ---------------------------------------------------------------------------------


def _field(record: Mapping[str, Any], name: str, kind: type, line: int, path: str) -> Any:
    where = f"{path}.{name}" if path else name
    if name not in record:
        raise TraceError(line, where, "missing")
    value = record[name]
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise TraceError(line, where, f"expected an integer, got {_jtype(value)}")
    if kind is not int and not isinstance(value, kind):
        raise TraceError(line, where, f"expected {kind.__name__}, got {_jtype(value)}")
    return value


def _jtype(value: object) -> str:
    return {
        type(None): "null",
        bool: "boolean",
        int: "integer",
        float: "number",
        str: "string",
        list: "array",
        dict: "object",
    }.get(type(value), type(value).__name__)


@functools.cache
def _schema() -> dict[str, Any]:
    text = resources.files("spec").joinpath("schemas/trace.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    """``node`` with every ``{"$ref": "#/$defs/x"}`` replaced by ``x`` (the trace schema has
    no recursive definitions): ``$ref`` lookups dominate validation time otherwise."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/") and len(node) == 1:
            return _inline(defs[ref.removeprefix("#/$defs/")], defs)
        return {k: _inline(v, defs) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline(v, defs) for v in node]
    return node


def _compiled(ref: str) -> Any:
    schema = _schema()
    sub = _inline({"$ref": ref}, schema["$defs"])
    return jsonschema.Draft202012Validator({"$schema": schema["$schema"], **sub})


@functools.cache
def _validator(kind: str) -> Any:
    """The JSON Schema validator of one record type (``header``, ``step``, ``end``)."""
    return _compiled(f"#/$defs/{kind}")


def _schema_error(line: int, record: Any, kind: str) -> TraceError | None:
    """The first schema violation of ``record`` as a TraceError naming its field, or None."""
    errors = list(_validator(kind).iter_errors(record))
    if not errors:
        return None
    error = jsonschema.exceptions.best_match(errors)
    # best_match prefers shallow errors; a deeper error names the culprit more precisely.
    deepest = max(errors, key=lambda e: len(e.absolute_path))
    if len(deepest.absolute_path) > len(error.absolute_path) and error.validator in (
        "oneOf",
        "anyOf",
        "allOf",
    ):
        error = deepest
    path = ""
    for part in error.absolute_path:
        path = _join(path, part)
    reason = error.message
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [r for r in error.validator_value if r not in error.instance]
        if missing:
            return TraceError(line, _join(path, missing[0]), "missing")
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(error.schema.get("properties", {}))
        extra = sorted(k for k in error.instance if k not in allowed)
        if extra:
            return TraceError(line, _join(path, extra[0]), "unexpected field")
    if len(reason) > 300:
        reason = reason[:300] + "…"
    return TraceError(line, path, reason)


@dataclass(frozen=True, slots=True)
class TraceLine:
    """One validated line: its number, its record, its exact text and, for a step, its
    decoded arguments."""

    number: int
    record: dict[str, Any]
    text: str
    args: dict[str, Any] | None = None


_STEP_INPUTS: dict[str, type] = {"seq": int, "action": str, "args": dict}


@functools.cache
def _args_validators() -> dict[str, Any]:
    """The JSON Schema validator of each action's ``args`` (from the step's ``allOf``)."""
    schema = _schema()
    out: dict[str, Any] = {}
    for rule in schema["$defs"]["step"]["allOf"]:
        action = rule["if"]["properties"]["action"]["const"]
        out[action] = _compiled(rule["then"]["properties"]["args"]["$ref"])
    return out


class TraceReader:
    """Reads and validates a trace; every error names the line and the field.

    The checks of one line, in order: JSON (the shared strict reader), the record's
    schema, its place (header first, ``seq`` = line − 1, end last), the typed decoding
    of its values, and its canonical form. :meth:`records` yields each line once it
    has passed, so a caller (replay) handles line *n* before line *n + 1* is read: the
    first problem in the file is the one reported.

    With ``deferred=True`` (replay) a step line is checked only as far as its inputs
    (``seq``, ``action``, ``args``: schema and typed decoding) before it is yielded;
    the caller re-encodes the step and, only if the line differs from its
    re-encoding, calls :meth:`validate_step` before reporting a divergence. A line
    equal to the canonical re-encoding of a step is valid by construction, so nothing
    is left unchecked — and long traces replay at about the speed of re-execution.
    """

    def __init__(self, lines: Sequence[str], *, deferred: bool = False) -> None:
        self._lines = lines
        self._deferred = deferred

    @classmethod
    def open(cls, path: str | Path, *, deferred: bool = False) -> TraceReader:
        """Return a reader of the trace file at ``path``."""
        try:
            return cls(read_text(path, "trace"), deferred=deferred)
        except LineError as exc:
            raise TraceError(exc.line, exc.field, exc.reason) from None

    @property
    def count(self) -> int:
        """Return the number of lines."""
        return len(self._lines)

    def records(self) -> Iterator[TraceLine]:
        """Yield every line after validating it (see the class docstring)."""
        lines = self._lines
        if not lines:
            raise TraceError(1, "", "empty trace (no header)")
        ended = False
        for parsed in parse_lines(lines, what="trace", error=TraceError):
            number, record, text = parsed.number, parsed.value, parsed.text
            if ended:
                raise TraceError(number, "type", "a line after the end record")
            kind = record.get("type")
            args: dict[str, Any] | None = None
            if number == 1:
                if kind != "header":
                    raise TraceError(number, "type", "the first line must be the header")
                self._check_header(number, record)
            elif kind == "step":
                args = _step_inputs(number, record)
                if not self._deferred:
                    self.validate_step(TraceLine(number, record, text, args))
                yield TraceLine(number, record, text, args)
                continue
            elif kind == "end":
                self._check(number, record, "end")
                ended = True
            elif kind == "header":
                raise TraceError(number, "type", "a second header")
            elif "type" not in record:
                raise TraceError(number, "type", "missing")
            else:
                raise TraceError(number, "type", f"unknown record type {kind!r}")
            _check_canonical(number, record, text)
            yield TraceLine(number, record, text, args)
        if not ended:
            raise TraceError(len(lines) + 1, "type", "the end record is missing (truncated?)")

    @staticmethod
    def validate_step(line: TraceLine) -> None:
        """Check a step line fully: schema, typed outputs, canonical form."""
        TraceReader._check(line.number, line.record, "step")
        _check_step_outputs(line.number, line.record)
        _check_canonical(line.number, line.record, line.text)

    @staticmethod
    def _check(number: int, record: dict[str, Any], kind: str) -> None:
        error = _schema_error(number, record, kind)
        if error is not None:
            raise error

    @staticmethod
    def _check_header(number: int, record: dict[str, Any]) -> None:
        if _field(record, "format", str, number, "") != FORMAT:
            raise TraceError(number, "format", f"expected {FORMAT!r}, got {record['format']!r}")
        version = _field(record, "version", int, number, "")
        if version != VERSION:
            hint = (
                " (python -m spec.sim.upgrade re-records a version-1 trace)" if version == 1 else ""
            )
            raise TraceError(number, "version", f"unsupported version {version}{hint}")
        setup = record.get("setup")
        if isinstance(setup, dict) and not all(k in setup for k in ("behaviours", "transport")):
            missing = "behaviours" if "behaviours" not in setup else "transport"
            raise TraceError(
                number,
                f"setup.{missing}",
                "missing (an early version-2 trace: python -m spec.sim.upgrade re-records it)",
            )
        TraceReader._check(number, record, "header")
        setup_from_header(record, number)


def _check_canonical(number: int, record: dict[str, Any], text: str) -> None:
    if canonical_json(record) != text:
        raise TraceError(
            number, "", "not in canonical form (sorted keys, no whitespace; docs/formats/json.md)"
        )


def _step_inputs(number: int, record: dict[str, Any]) -> dict[str, Any]:
    """Check a step's inputs (``seq``, ``action``, ``args``); return the decoded arguments."""
    for name, kind in _STEP_INPUTS.items():
        _field(record, name, kind, number, "")
    if record["seq"] != number - 1:
        raise TraceError(number, "seq", f"expected {number - 1}, got {record['seq']}")
    action = record["action"]
    validator = _args_validators().get(action)
    if validator is None or action not in ACTIONS:
        raise TraceError(number, "action", f"unknown action {action!r}")
    errors = list(validator.iter_errors(record["args"]))
    if errors:
        raise _first_args_error(number, errors)
    try:
        return decode_args(record["args"])
    except CodecError as exc:
        raise TraceError(number, exc.field, exc.reason) from None


def _first_args_error(number: int, errors: list[Any]) -> TraceError:
    error = jsonschema.exceptions.best_match(errors)
    path = "args"
    for part in error.absolute_path:
        path = _join(path, part)
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [r for r in error.validator_value if r not in error.instance]
        if missing:
            return TraceError(number, _join(path, missing[0]), "missing")
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(error.schema.get("properties", {}))
        extra = sorted(k for k in error.instance if k not in allowed)
        if extra:
            return TraceError(number, _join(path, extra[0]), "unexpected argument")
    return TraceError(number, path, error.message[:300])


def _check_step_outputs(number: int, record: dict[str, Any]) -> None:
    """Decode a step's typed outputs: queued and rewritten messages, effects."""
    for key in ("sent", "rewritten"):
        for i, item in enumerate(record[key]):
            try:
                decode_tagged(item["message"], _MESSAGE_TYPES)
            except CodecError as exc:
                where = _nested(f"{key}[{i}].message", exc).field
                raise TraceError(number, where, exc.reason) from None
    for i, outcome in enumerate(record["outcomes"]):
        for j, effect in enumerate(outcome["effects"]):
            if effect.get("type") in _SUMMARISED_EFFECTS:
                continue
            try:
                decode_tagged(effect, _EFFECT_TYPES)
            except CodecError as exc:
                where = f"outcomes[{i}].effects[{j}]"
                raise TraceError(number, _nested(where, exc).field, exc.reason) from None
