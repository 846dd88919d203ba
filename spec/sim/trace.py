"""JSON-lines traces of model runs: writer, reader and the record encoders.

A trace is the exact input of a run plus what each step did (docs/formats/trace.md,
spec/schemas/trace.schema.json). Line 1 is the ``header`` (the world's setup),
then one ``step`` line per action, then an ``end`` line (final per-node summary).
Every line is canonical JSON (:func:`impl.codec.canonical_json`), so two runs of
the same seed give byte-identical traces and a replay can compare its own
re-encoding of each step with the recorded line.

Each step line records the action and its arguments (everything needed to
re-execute it: commands and forged messages in the codec's tagged form), then
its observable outcome: the messages queued (with their ids), delivered, dropped
and lost, the effects of every impl step, and the invariant violations found
after it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from impl.codec import canonical_json, decode, decode_tagged, encode, encode_tagged
from impl.config import Config
from impl.effects import Broadcast, Effect, InstallSnapshot, Send
from impl.errors import CodecError, InvalidInput
from impl.messages import Message
from impl.profile import Profile, parse_behaviour, parse_hazard
from spec.model.actions import NodeOutcome, Transition
from spec.model.faults import parse_faults
from spec.model.state import ElectionTiming, InFlight, World, WorldSetup, describe_setup
from spec.model.transport import parse_transports

__all__ = [
    "FORMAT",
    "VERSION",
    "TraceError",
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
VERSION = 1


class TraceError(InvalidInput):
    """A trace line is malformed: ``line`` is 1-based, ``field`` a dotted path in it."""

    def __init__(self, line: int, field: str, reason: str) -> None:
        self.line = line
        self.field = field
        self.reason = reason
        super().__init__(f"trace line {line}: field {field or '<line>'}: {reason}")


# -- encoding --------------------------------------------------------------------------------

_COMMAND_ARGS = {"commands"}
_MESSAGE_ARGS = {"message"}


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


def decode_args(args: Mapping[str, Any], path: str = "args") -> dict[str, Any]:
    """Return the Python arguments of an action from their JSON form (inverse of encode)."""
    out: dict[str, Any] = {}
    for key, value in args.items():
        if key in _COMMAND_ARGS:
            if not isinstance(value, list):
                raise CodecError(f"{path}.{key}", "expected an array of commands")
            commands = []
            for i, c in enumerate(value):
                try:
                    commands.append(decode(c, Any))
                except CodecError as exc:
                    raise CodecError(
                        f"{path}.{key}[{i}].{exc.field}".rstrip("."), exc.reason
                    ) from None
            out[key] = tuple(commands)
        elif key in _MESSAGE_ARGS:
            try:
                out[key] = decode_tagged(value)
            except CodecError as exc:
                raise CodecError(f"{path}.{key}.{exc.field}".rstrip("."), exc.reason) from None
        elif key == "bond_to" and isinstance(value, list):
            out[key] = tuple(value)
        elif key == "redraw" and value is not None:
            try:
                out[key] = ElectionTiming.from_json(value)
            except InvalidInput as exc:
                raise CodecError(f"{path}.{key}", str(exc)) from None
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


def header_record(world: World, *, seed: int | None, meta: Mapping[str, Any]) -> dict[str, Any]:
    """Return the header line: format, version, setup, seed and free-form metadata."""
    return {
        "type": "header",
        "format": FORMAT,
        "version": VERSION,
        "setup": describe_setup(world.setup),
        "seed": seed,
        "meta": dict(meta),
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
        "violations": [dict(v) for v in violations],
    }


def end_record(
    steps: int, world: World, nodes: Mapping[str, Mapping[str, Any]], violations: int
) -> dict[str, Any]:
    """Return the last line: step count, final time, per-node summary, violation count."""
    return {
        "type": "end",
        "steps": steps,
        "now_ms": world.now_ms,
        "nodes": {name: dict(summary) for name, summary in sorted(nodes.items())},
        "violations": violations,
    }


def setup_from_header(header: Mapping[str, Any], line: int = 1) -> WorldSetup:
    """Return the :class:`WorldSetup` a header describes (raise :class:`TraceError`)."""
    setup = _field(header, "setup", dict, line, "")
    kind = _field(setup, "kind", str, line, "setup")
    profile_name = _field(setup, "profile", str, line, "setup")
    hazards = _field(setup, "hazards", list, line, "setup")
    faults = _field(setup, "faults", list, line, "setup")
    cfg = _field(setup, "config", dict, line, "setup")
    switches = []
    for i, name in enumerate(hazards):
        try:
            switches.append(parse_hazard(name if isinstance(name, str) else repr(name)))
        except InvalidInput as exc:
            raise TraceError(line, f"setup.hazards[{i}]", str(exc)) from None
    # Optional (older traces predate them): absent means none on.
    behaviours = _optional_list(setup, "behaviours", line)
    transport = _optional_list(setup, "transport", line)
    versions = []
    for i, name in enumerate(behaviours):
        try:
            versions.append(parse_behaviour(name if isinstance(name, str) else repr(name)))
        except InvalidInput as exc:
            raise TraceError(line, f"setup.behaviours[{i}]", str(exc)) from None
    profile = Profile(profile_name, frozenset(switches), frozenset(versions))
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
    return WorldSetup(
        kind=kind,
        config=config,
        profile=profile,
        faults=fault_set,
        transport=transport_set,
        heartbeat_interval_ms=_field(setup, "heartbeat_interval_ms", int, line, "setup"),
        epoch_wall_ms=_field(setup, "epoch_wall_ms", int, line, "setup"),
    )


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


def _optional_list(setup: Mapping[str, Any], name: str, line: int) -> list[Any]:
    """Return ``setup[name]`` (a list), or an empty list if the header predates the field."""
    if name not in setup:
        return []
    return list(_field(setup, name, list, line, "setup"))


def _field(record: Mapping[str, Any], name: str, kind: type, line: int, path: str) -> Any:
    where = f"{path}.{name}" if path else name
    if name not in record:
        raise TraceError(line, where, "missing")
    value = record[name]
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise TraceError(line, where, f"expected an integer, got {type(value).__name__}")
    if kind is not int and not isinstance(value, kind):
        raise TraceError(line, where, f"expected {kind.__name__}, got {type(value).__name__}")
    return value


_STEP_FIELDS: dict[str, type] = {
    "seq": int,
    "now_ms": int,
    "action": str,
    "args": dict,
    "outcomes": list,
    "sent": list,
    "delivered": list,
    "dropped": list,
    "lost": list,
    "violations": list,
}
_END_FIELDS: dict[str, type] = {"steps": int, "now_ms": int, "nodes": dict, "violations": int}


@dataclass(frozen=True, slots=True)
class TraceLine:
    """One parsed line: its number, its record, and its exact text."""

    number: int
    record: dict[str, Any]
    text: str


class TraceReader:
    """Reads and validates a trace; every error names the line and the field."""

    def __init__(self, lines: Sequence[str]) -> None:
        self._lines = lines

    @classmethod
    def open(cls, path: str | Path) -> TraceReader:
        """Return a reader of the trace file at ``path``."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidInput(f"cannot read trace {path}: {exc.strerror}") from None
        except UnicodeDecodeError as exc:
            raise TraceError(1, "", f"not UTF-8 text: {exc.reason}") from None
        return cls(text.split("\n"))

    def records(self) -> Iterator[TraceLine]:
        """Yield every line after validating its envelope (header first, end last)."""
        lines = list(self._lines)
        if lines and lines[-1] == "":
            lines.pop()
        if not lines:
            raise TraceError(1, "", "empty trace")
        ended = False
        for number, text in enumerate(lines, start=1):
            if ended:
                raise TraceError(number, "type", "line after the end record")
            record = self._parse(number, text)
            kind = record.get("type")
            if number == 1:
                self._check_header(number, record)
            elif kind == "step":
                self._check_fields(number, record, _STEP_FIELDS)
                if record["seq"] != number - 1:
                    raise TraceError(number, "seq", f"expected {number - 1}, got {record['seq']}")
            elif kind == "end":
                self._check_fields(number, record, _END_FIELDS)
                ended = True
            elif kind == "header":
                raise TraceError(number, "type", "a second header")
            else:
                raise TraceError(number, "type", f"unknown record type {kind!r}")
            yield TraceLine(number, record, text)
        if not ended:
            raise TraceError(len(lines), "type", "the trace has no end record (truncated?)")

    @staticmethod
    def _parse(number: int, text: str) -> dict[str, Any]:
        try:
            record = json.loads(text, object_pairs_hook=_no_duplicates)
        except ValueError as exc:
            raise TraceError(number, "", f"not JSON: {exc}") from None
        if not isinstance(record, dict):
            raise TraceError(number, "", f"expected an object, got {type(record).__name__}")
        if "type" not in record:
            raise TraceError(number, "type", "missing")
        return record

    @staticmethod
    def _check_header(number: int, record: dict[str, Any]) -> None:
        if record.get("type") != "header":
            raise TraceError(number, "type", "the first line must be the header")
        if _field(record, "format", str, number, "") != FORMAT:
            raise TraceError(number, "format", f"expected {FORMAT!r}, got {record['format']!r}")
        if _field(record, "version", int, number, "") != VERSION:
            raise TraceError(number, "version", f"unsupported version {record['version']}")
        setup_from_header(record, number)

    @staticmethod
    def _check_fields(number: int, record: dict[str, Any], fields: Mapping[str, type]) -> None:
        for name, kind in fields.items():
            _field(record, name, kind, number, "")
        extra = sorted(set(record) - set(fields) - {"type"})
        if extra:
            raise TraceError(number, extra[0], "unexpected field")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out
