"""The implementation event log: one node's own account of what it did, as JSON lines.

An implementation that cannot expose its state (mosaik's session lives in an
async worker) can still log what it receives, sends and changes; ``snapsync
validate`` decides whether such a log is a behaviour of the spec. The format
(docs/formats/events.md, schema ``spec/schemas/events.schema.json``):

* line 1 is the ``header``: the node (peer id, name, writer or reader), its
  collection kind and configuration, and which optional event kinds it logs;
* every other line is one ``event``: a per-node sequence number ``seq`` (1, 2, …),
  the node's local monotonic time ``time_ms`` and wall clock ``wall_ms``, the
  event kind and its fields.

Inputs (``start``, ``bond_up``, ``bond_down``, ``recv``, ``client_write``, ``poll``,
``timer``) say what happened to the node; outputs (``send``, ``append``,
``commit``, ``install``, ``session``, ``role``, ``panic``, ``ignored``) what it did.
A ``send`` is identified by the sender's peer and the event's ``seq``; a ``recv``
names that pair as its ``cause``, so logs of several processes can be ordered
without clocks.

Reading is strict (readers are verifiers): every field present, of its type,
nothing else; a malformed line raises :class:`EventLogError` naming the line and
the field (``events.jsonl line 7: field message.entries[0].term: ...``).
Messages are decoded on demand (:meth:`Event.message`), with a cache: a log
repeats the same heartbeat many times.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import IO, Any, get_args

from impl.codec import canonical_json, decode, decode_tagged, encode, encode_tagged
from impl.config import Config
from impl.effects import IgnoreReason, TimerKind
from impl.errors import CodecError, InvalidInput
from impl.messages import Command, Message
from impl.observe import ObservedRole
from impl.types import U64_MAX, Cursor, Index, PeerId, Term
from spec.conformance.jsonio import json_type

__all__ = [
    "ALWAYS_LOGGED",
    "FORMAT",
    "INPUTS",
    "OPTIONAL",
    "OUTPUTS",
    "VERSION",
    "Cause",
    "Event",
    "EventKind",
    "EventLog",
    "EventLogError",
    "EventWriter",
    "LogHeader",
    "SessionPhase",
    "WriteResult",
    "event_record",
    "header_record",
    "read_log",
    "read_log_lines",
]

FORMAT = "snapsync-events"
VERSION = 1


class EventKind(StrEnum):
    """Every event kind (docs/formats/events.md has the fields of each)."""

    START = "start"
    BOND_UP = "bond_up"
    BOND_DOWN = "bond_down"
    RECV = "recv"
    CLIENT_WRITE = "client_write"
    POLL = "poll"
    TIMER = "timer"
    SEND = "send"
    APPEND = "append"
    COMMIT = "commit"
    INSTALL = "install"
    SESSION = "session"
    ROLE = "role"
    PANIC = "panic"
    IGNORED = "ignored"


INPUTS: frozenset[EventKind] = frozenset(
    {
        EventKind.START,
        EventKind.BOND_UP,
        EventKind.BOND_DOWN,
        EventKind.RECV,
        EventKind.CLIENT_WRITE,
        EventKind.POLL,
        EventKind.TIMER,
    }
)
"""What happens to the node: each one is (or starts) one step of the spec."""

OUTPUTS: frozenset[EventKind] = frozenset(EventKind) - INPUTS
"""What the node does in a step: matched against the spec's step."""

ALWAYS_LOGGED: frozenset[EventKind] = frozenset(
    {
        EventKind.START,
        EventKind.BOND_UP,
        EventKind.BOND_DOWN,
        EventKind.RECV,
        EventKind.CLIENT_WRITE,
        EventKind.SEND,
    }
)
"""Kinds every log records in full (the inputs the spec needs, and the messages sent)."""

OPTIONAL: frozenset[EventKind] = frozenset(EventKind) - ALWAYS_LOGGED
"""Kinds a log may record; the header's ``logged`` lists those it records in full."""


class SessionPhase(StrEnum):
    """The observable moments of a catch-up session."""

    STARTED = "started"
    """A session was created (R4 → Q0)."""
    ANCHOR = "anchor"
    """The session selected (or upgraded to) an anchor."""
    FINALIZED = "finalized"
    """The session installed its snapshot and ended (Q12)."""
    DROPPED = "dropped"
    """The session ended without installing (a step-down discarded it, R10)."""


class WriteResult(StrEnum):
    """The outcome of a client write at this node (R8)."""

    ACCEPTED = "accepted"
    NOT_LEADER = "not_leader"


class EventLogError(InvalidInput):
    """A malformed event log: ``where`` (file name), 1-based ``line``, the ``field`` path."""

    def __init__(self, where: str, line: int, field: str, reason: str) -> None:
        self.where = where
        self.line = line
        self.field = field
        self.reason = reason
        super().__init__(f"{where} line {line}: field {field or '<line>'}: {reason}")


@dataclass(frozen=True, slots=True)
class Cause:
    """The send a received message came from: the sender's peer and its event's ``seq``."""

    peer: PeerId
    seq: int

    def as_json(self) -> dict[str, Any]:
        """Return the JSON form."""
        return {"peer": self.peer.hex(), "seq": self.seq}


@dataclass(frozen=True, slots=True)
class LogHeader:
    """Line 1 of a log: who the node is and what the log records."""

    peer: PeerId
    """The node's peer id."""
    name: str | None
    """A human name for reports (``r8``), or null."""
    writer: bool
    """A writer (mosaik ``Normal``) or a reader (``Observer``)."""
    kind: str
    """The collection kind."""
    config: Config
    """The snapshot-sync configuration."""
    heartbeat_interval_ms: int
    """The Raft heartbeat interval (a leader's R2 timer)."""
    logged: frozenset[EventKind]
    """The optional kinds this log records in full (:data:`OPTIONAL`)."""
    implementation: str
    """Free text: what wrote the log."""
    meta: Mapping[str, Any] = field(default_factory=dict)
    """Free-form metadata."""

    @property
    def label(self) -> str:
        """Return the node's name, or its short peer id."""
        return self.name or self.peer.short()


_MESSAGES: dict[str, Message] = {}


@dataclass(slots=True)
class Event:
    """One event line, its fields read and checked (messages decoded on demand)."""

    line: int
    """Line number in the file (1-based)."""
    seq: int
    time_ms: int
    wall_ms: int
    kind: EventKind
    fields: dict[str, Any]
    """The kind's own fields, as values: :class:`PeerId`, :class:`Cursor`, enums, ints,
    strings; ``message`` stays a JSON object until :meth:`message` decodes it."""
    where: str = "events"
    _decoded: Message | None = None

    def get(self, name: str) -> Any:
        """Return field ``name``."""
        return self.fields[name]

    def message(self) -> Message:
        """Return the decoded ``message`` (raise :class:`EventLogError` if malformed)."""
        if self._decoded is not None:
            return self._decoded
        data = self.fields["message"]
        # Small messages repeat (heartbeats, acknowledgements): decode each once (keyed by
        # the repr of the parsed value: injective on JSON values, and cheap). One that carries
        # entries or items is rarely seen twice: no key is worth its cost.
        key = None if data.get("entries") or data.get("items") else repr(data)
        hit = None if key is None else _MESSAGES.get(key)
        if hit is None:
            try:
                hit = _decode_message(data)
            except CodecError as exc:
                raise EventLogError(
                    self.where, self.line, _sub("message", exc.field), exc.reason
                ) from None
            if key is not None:
                if len(_MESSAGES) > 4096:
                    _MESSAGES.clear()
                _MESSAGES[key] = hit
        self._decoded = hit
        return hit

    def describe(self) -> str:
        """Return a one-line human description of the event."""
        f = self.fields
        k = self.kind
        if k is EventKind.RECV:
            text = f"recv {_kind_of(f['message'])} from {f['from'].short()}"
        elif k is EventKind.SEND:
            text = f"send {_kind_of(f['message'])} to {f['to'].short()}"
        elif k in (EventKind.BOND_UP, EventKind.BOND_DOWN):
            text = f"{k.value} {f['peer'].short()}"
        elif k is EventKind.TIMER:
            text = f"timer {f['timer'].value}"
        elif k is EventKind.APPEND:
            text = f"append last {f['last']}"
        elif k is EventKind.COMMIT:
            text = f"commit {f['committed']}"
        elif k is EventKind.INSTALL:
            text = f"install {f['anchor']} ({f['items']} items)"
        elif k is EventKind.SESSION:
            anchor = f["anchor"]
            text = f"session {f['phase'].value}" + ("" if anchor is None else f" {anchor}")
        elif k is EventKind.ROLE:
            text = f"role {f['role'].value} t{f['term']}"
        elif k is EventKind.CLIENT_WRITE:
            text = f"client_write ({f['result'].value})"
        elif k is EventKind.PANIC:
            text = f"panic at {f['site']}"
        elif k is EventKind.IGNORED:
            text = f"ignored ({f['reason'].value})"
        else:
            text = k.value
        return f"#{self.seq} @{self.time_ms}ms {text}"


_MESSAGE_TYPES: tuple[type, ...] = get_args(Message)


def _decode_message(data: Any) -> Message:
    value: Message = decode_tagged(data, _MESSAGE_TYPES)
    return value


def _kind_of(message: Any) -> str:
    return str(message.get("type", "?")) if isinstance(message, dict) else "?"


def _sub(path: str, name: str) -> str:
    if not name:
        return path
    if not path:
        return name
    return f"{path}{name}" if name.startswith("[") else f"{path}.{name}"


@dataclass(slots=True)
class EventLog:
    """One node's log: its header and its events, in file order."""

    header: LogHeader
    events: list[Event]
    where: str = "events"
    """The file it was read from (error messages)."""


# -- reading ------------------------------------------------------------------------------------


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"duplicate key {key!r}")
            seen.add(key)
    return out


def _constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"number {text} overflows a double")
    return value


_PEERS: dict[str, PeerId] = {}
"""Peer ids already read, by their text (a log names the same few peers on every line)."""


class _Line:
    """Field readers for one line; every error names the line and the field path."""

    __slots__ = ("line", "where")

    def __init__(self, where: str, line: int) -> None:
        self.where = where
        self.line = line

    def fail(self, path: str, reason: str) -> EventLogError:
        return EventLogError(self.where, self.line, path, reason)

    def exact(self, record: Mapping[str, Any], names: Iterable[str], path: str = "") -> None:
        wanted = set(names)
        for name in sorted(wanted):
            if name not in record:
                raise self.fail(_sub(path, name), "missing")
        extra = sorted(set(record) - wanted)
        if extra:
            raise self.fail(_sub(path, extra[0]), "unexpected field")

    def u64(self, value: Any, path: str) -> int:
        if type(value) is int and 0 <= value <= U64_MAX:
            return value
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(path, f"expected an integer, got {json_type(value)}")
        raise self.fail(path, f"integer {value} is out of u64 range")

    def i64(self, value: Any, path: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(path, f"expected an integer, got {json_type(value)}")
        if not -(1 << 63) <= value < (1 << 63):
            raise self.fail(path, f"integer {value} is out of i64 range")
        return value

    def text(self, value: Any, path: str) -> str:
        if not isinstance(value, str):
            raise self.fail(path, f"expected a string, got {json_type(value)}")
        return value

    def boolean(self, value: Any, path: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(path, f"expected a boolean, got {json_type(value)}")
        return value

    def obj(self, value: Any, path: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(path, f"expected an object, got {json_type(value)}")
        return value

    def peer(self, value: Any, path: str) -> PeerId:
        known = _PEERS.get(value) if type(value) is str else None
        if known is not None:
            return known
        text = self.text(value, path)
        if len(text) != 64 or text.lower() != text:
            raise self.fail(path, "expected 64 lowercase hex digits")
        try:
            peer = PeerId.from_hex(text)
        except InvalidInput as exc:
            raise self.fail(path, str(exc)) from None
        if len(_PEERS) < 4096:
            _PEERS[text] = peer
        return peer

    def maybe_peer(self, value: Any, path: str) -> PeerId | None:
        return None if value is None else self.peer(value, path)

    def cursor(self, value: Any, path: str) -> Cursor:
        record = self.obj(value, path)
        self.exact(record, ("index", "term"), path)
        return Cursor(
            Term(self.u64(record["term"], _sub(path, "term"))),
            Index(self.u64(record["index"], _sub(path, "index"))),
        )

    def maybe_cursor(self, value: Any, path: str) -> Cursor | None:
        return None if value is None else self.cursor(value, path)

    def digest(self, value: Any, path: str) -> str:
        text = self.text(value, path)
        if len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
            raise self.fail(path, "expected 64 lowercase hex digits")
        return text

    def enum(self, cls: type[StrEnum], value: Any, path: str) -> Any:
        text = self.text(value, path)
        try:
            return cls(text)
        except ValueError:
            known = ", ".join(m.value for m in cls)
            raise self.fail(path, f"unknown value {text!r}; known: {known}") from None

    def message(self, value: Any, path: str) -> dict[str, Any]:
        record = self.obj(value, path)
        kind = record.get("type")
        if kind not in _MESSAGE_TAGS:
            raise self.fail(_sub(path, "type"), f"not a message tag: {kind!r}")
        return record


_MESSAGE_TAGS = frozenset(
    {
        "RequestSnapshot",
        "SnapshotOffer",
        "FetchDataRequest",
        "FetchDataResponse",
        "AppendEntries",
        "AppendEntriesResponse",
        "RequestVote",
        "RequestVoteResponse",
    }
)

_COMMON = ("type", "seq", "time_ms", "wall_ms", "event")

_KIND_FIELDS: dict[EventKind, tuple[str, ...]] = {
    EventKind.START: (),
    EventKind.BOND_UP: ("peer",),
    EventKind.BOND_DOWN: ("peer",),
    EventKind.RECV: ("from", "message", "cause"),
    EventKind.CLIENT_WRITE: ("command", "result"),
    EventKind.POLL: (),
    EventKind.TIMER: ("timer",),
    EventKind.SEND: ("to", "message"),
    EventKind.APPEND: ("last",),
    EventKind.COMMIT: ("committed", "digest"),
    EventKind.INSTALL: ("anchor", "items", "digest"),
    EventKind.SESSION: ("phase", "anchor"),
    EventKind.ROLE: ("role", "term", "leader"),
    EventKind.PANIC: ("site", "detail"),
    EventKind.IGNORED: ("reason", "detail"),
}
_KIND_NAMES: dict[EventKind, frozenset[str]] = {
    kind: frozenset(_COMMON + names) for kind, names in _KIND_FIELDS.items()
}


def _read_fields(r: _Line, kind: EventKind, record: dict[str, Any]) -> dict[str, Any]:
    """Return the kind's own fields of ``record``, read and checked."""
    f: dict[str, Any] = {}
    if kind is EventKind.BOND_UP or kind is EventKind.BOND_DOWN:
        f["peer"] = r.peer(record["peer"], "peer")
    elif kind is EventKind.RECV:
        f["from"] = r.peer(record["from"], "from")
        f["message"] = r.message(record["message"], "message")
        cause = record["cause"]
        if cause is None:
            f["cause"] = None
        else:
            c = r.obj(cause, "cause")
            r.exact(c, ("peer", "seq"), "cause")
            f["cause"] = Cause(r.peer(c["peer"], "cause.peer"), r.u64(c["seq"], "cause.seq"))
    elif kind is EventKind.SEND:
        f["to"] = r.peer(record["to"], "to")
        f["message"] = r.message(record["message"], "message")
    elif kind is EventKind.CLIENT_WRITE:
        try:
            f["command"] = decode(record["command"], Command)
        except CodecError as exc:
            raise r.fail(_sub("command", exc.field), exc.reason) from None
        f["result"] = r.enum(WriteResult, record["result"], "result")
    elif kind is EventKind.TIMER:
        f["timer"] = r.enum(TimerKind, record["timer"], "timer")
    elif kind is EventKind.APPEND:
        f["last"] = r.cursor(record["last"], "last")
    elif kind is EventKind.COMMIT:
        f["committed"] = r.cursor(record["committed"], "committed")
        digest = record["digest"]
        f["digest"] = None if digest is None else r.digest(digest, "digest")
    elif kind is EventKind.INSTALL:
        f["anchor"] = r.cursor(record["anchor"], "anchor")
        f["items"] = r.u64(record["items"], "items")
        f["digest"] = r.digest(record["digest"], "digest")
    elif kind is EventKind.SESSION:
        f["phase"] = r.enum(SessionPhase, record["phase"], "phase")
        f["anchor"] = r.maybe_cursor(record["anchor"], "anchor")
    elif kind is EventKind.ROLE:
        f["role"] = r.enum(ObservedRole, record["role"], "role")
        f["term"] = r.u64(record["term"], "term")
        f["leader"] = r.maybe_peer(record["leader"], "leader")
    elif kind is EventKind.PANIC:
        f["site"] = r.text(record["site"], "site")
        f["detail"] = r.text(record["detail"], "detail")
    elif kind is EventKind.IGNORED:
        f["reason"] = r.enum(IgnoreReason, record["reason"], "reason")
        f["detail"] = r.text(record["detail"], "detail")
    return f


_HEADER_FIELDS = (
    "type",
    "format",
    "version",
    "node",
    "writer",
    "kind",
    "config",
    "heartbeat_interval_ms",
    "logged",
    "implementation",
    "meta",
)
_CONFIG_FIELDS = (
    "fetch_batch_size",
    "snapshot_ttl_ms",
    "snapshot_request_timeout_ms",
    "fetch_timeout_ms",
)


def _read_header(r: _Line, record: dict[str, Any]) -> LogHeader:
    if record.get("type") != "header":
        raise r.fail("type", "the first line must be the header")
    r.exact(record, _HEADER_FIELDS)
    if record["format"] != FORMAT:
        raise r.fail("format", f"expected {FORMAT!r}, got {record['format']!r}")
    if r.u64(record["version"], "version") != VERSION:
        raise r.fail("version", f"unsupported version {record['version']} (this reader: 1)")
    node = r.obj(record["node"], "node")
    r.exact(node, ("peer", "name"), "node")
    name = node["name"]
    if name is not None:
        r.text(name, "node.name")
    cfg = r.obj(record["config"], "config")
    r.exact(cfg, _CONFIG_FIELDS, "config")
    values = {k: r.u64(cfg[k], f"config.{k}") for k in _CONFIG_FIELDS}
    try:
        config = Config(**values)
    except InvalidInput as exc:
        raise r.fail("config", str(exc)) from None
    logged = record["logged"]
    if not isinstance(logged, list):
        raise r.fail("logged", f"expected an array, got {json_type(logged)}")
    kinds: set[EventKind] = set()
    for i, item in enumerate(logged):
        kind = r.enum(EventKind, item, f"logged[{i}]")
        if kind not in OPTIONAL:
            raise r.fail(f"logged[{i}]", f"{kind.value} is always logged; list optional kinds only")
        if kind in kinds:
            raise r.fail(f"logged[{i}]", f"{kind.value} is listed twice")
        kinds.add(kind)
    kind_name = r.text(record["kind"], "kind")
    from impl.collections import COLLECTIONS

    if kind_name not in COLLECTIONS:
        known = ", ".join(sorted(COLLECTIONS))
        raise r.fail("kind", f"unknown collection kind {kind_name!r}; known: {known}")
    return LogHeader(
        peer=r.peer(node["peer"], "node.peer"),
        name=name,
        writer=r.boolean(record["writer"], "writer"),
        kind=kind_name,
        config=config,
        heartbeat_interval_ms=r.u64(record["heartbeat_interval_ms"], "heartbeat_interval_ms"),
        logged=frozenset(kinds),
        implementation=r.text(record["implementation"], "implementation"),
        meta=r.obj(record["meta"], "meta"),
    )


_FAST = json.JSONDecoder(parse_constant=_constant, parse_float=_finite)
_STRICT = json.JSONDecoder(
    object_pairs_hook=_no_duplicates, parse_constant=_constant, parse_float=_finite
)


def _keys(record: dict[str, Any]) -> int:
    """Return the number of object keys in a parsed JSON object (nested ones included)."""
    n = len(record)
    for value in record.values():
        kind = type(value)
        if kind is dict:
            n += _keys(value)
        elif kind is list:
            n += _list_keys(value)
    return n


def _list_keys(values: list[Any]) -> int:
    n = 0
    for value in values:
        kind = type(value)
        if kind is dict:
            n += _keys(value)
        elif kind is list:
            n += _list_keys(value)
    return n


def _parse(r: _Line, text: str) -> dict[str, Any]:
    # Fast path: the C parser (NaN, Infinity and overflowing numbers still refused), then
    # duplicate keys ruled out by counting: every key of the text is followed by '":' (a
    # string value may hold more), so as many '":' as parsed keys means none was repeated.
    # Otherwise the strict parser decides (and names the duplicate).
    try:
        record = _FAST.decode(text)
        if isinstance(record, dict) and text.count('":') == _keys(record):
            return record
    except (ValueError, RecursionError):
        pass
    try:
        record = _STRICT.decode(text)
    except ValueError as exc:
        raise r.fail("", f"not JSON: {exc}") from None
    except RecursionError:
        raise r.fail("", "not JSON: nested too deeply") from None
    if not isinstance(record, dict):
        raise r.fail("", f"expected an object, got {json_type(record)}")
    return record


def _read_event(r: _Line, record: dict[str, Any], expected_seq: int) -> Event:
    if record.get("type") != "event":
        if "type" not in record:
            raise r.fail("type", "missing")
        raise r.fail("type", f"expected 'event', got {record['type']!r}")
    if "event" not in record:
        raise r.fail("event", "missing")
    kind = r.enum(EventKind, record["event"], "event")
    names = _KIND_NAMES[kind]
    if len(record) != len(names) or record.keys() != names:
        r.exact(record, names)
    seq = r.u64(record["seq"], "seq")
    if seq != expected_seq:
        raise r.fail("seq", f"expected {expected_seq} (events are numbered 1, 2, …), got {seq}")
    return Event(
        line=r.line,
        seq=seq,
        time_ms=r.u64(record["time_ms"], "time_ms"),
        wall_ms=r.i64(record["wall_ms"], "wall_ms"),
        kind=kind,
        fields=_read_fields(r, kind, record),
        where=r.where,
    )


def read_log_lines(lines: Sequence[str], where: str = "events") -> EventLog:
    """Read a log given as its lines (raise :class:`EventLogError` on the first bad line)."""
    rows = list(lines)
    if rows and rows[-1] == "":
        rows.pop()
    if not rows:
        raise EventLogError(where, 1, "", "empty log (no header)")
    header = _read_header(_Line(where, 1), _parse(_Line(where, 1), rows[0]))
    events: list[Event] = []
    for number, text in enumerate(rows[1:], start=2):
        r = _Line(where, number)
        events.append(_read_event(r, _parse(r, text), len(events) + 1))
    previous = 0
    for e in events:
        if e.time_ms < previous:
            raise EventLogError(
                where, e.line, "time_ms", f"{e.time_ms} is before the previous event's {previous}"
            )
        previous = e.time_ms
    return EventLog(header, events, where)


def read_log(path: str | Path) -> EventLog:
    """Read the log file at ``path`` (UTF-8 JSON lines)."""
    where = Path(path).name
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot read event log {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise EventLogError(where, 1, "", f"not UTF-8 text: {exc.reason}") from None
    return read_log_lines(text.split("\n"), where)


# -- writing ------------------------------------------------------------------------------------


def header_record(header: LogHeader) -> dict[str, Any]:
    """Return the JSON form of ``header`` (line 1)."""
    c = header.config
    return {
        "type": "header",
        "format": FORMAT,
        "version": VERSION,
        "node": {"peer": header.peer.hex(), "name": header.name},
        "writer": header.writer,
        "kind": header.kind,
        "config": {
            "fetch_batch_size": c.fetch_batch_size,
            "snapshot_ttl_ms": c.snapshot_ttl_ms,
            "snapshot_request_timeout_ms": c.snapshot_request_timeout_ms,
            "fetch_timeout_ms": c.fetch_timeout_ms,
        },
        "heartbeat_interval_ms": header.heartbeat_interval_ms,
        "logged": sorted(k.value for k in header.logged),
        "implementation": header.implementation,
        "meta": dict(header.meta),
    }


def _field_json(value: Any) -> Any:
    if isinstance(value, PeerId):
        return value.hex()
    if isinstance(value, Cursor):
        return {"index": value.index, "term": value.term}
    if isinstance(value, Cause):
        return value.as_json()
    if isinstance(value, StrEnum):
        return value.value
    return value


def event_record(
    seq: int, time_ms: int, wall_ms: int, kind: EventKind, **fields: Any
) -> dict[str, Any]:
    """Return the JSON form of one event; ``fields`` are values (peers, cursors, enums,
    messages and commands as records) or already JSON."""
    record: dict[str, Any] = {
        "type": "event",
        "seq": seq,
        "time_ms": time_ms,
        "wall_ms": wall_ms,
        "event": kind.value,
    }
    for name, value in fields.items():
        if name == "message" and not isinstance(value, dict):
            record[name] = encode_tagged(value)
        elif name == "command" and not isinstance(value, dict | list | int | str):
            record[name] = encode(value, Command)
        else:
            record[name] = _field_json(value)
    expected = _KIND_NAMES[kind]
    if set(record) != expected:
        raise InvalidInput(f"{kind.value} needs the fields {sorted(expected - set(_COMMON))}")
    return record


class EventWriter:
    """Writes a log as canonical JSON lines, numbering events."""

    def __init__(self, stream: IO[str], header: LogHeader) -> None:
        self._stream = stream
        self.header = header
        self.seq = 0
        stream.write(canonical_json(header_record(header)) + "\n")

    @classmethod
    def open(cls, path: str | Path, header: LogHeader) -> EventWriter:
        """Return a writer of a new file at ``path``."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        return cls(target.open("w", encoding="utf-8", newline="\n"), header)

    def write(self, time_ms: int, wall_ms: int, kind: EventKind, **fields: Any) -> int:
        """Write one event; return its ``seq``."""
        self.seq += 1
        record = event_record(self.seq, time_ms, wall_ms, kind, **fields)
        self._stream.write(canonical_json(record) + "\n")
        return self.seq

    def close(self) -> None:
        """Flush and close the stream."""
        self._stream.close()


def iter_lines(log_header: LogHeader, records: Iterable[Mapping[str, Any]]) -> Iterator[str]:
    """Yield the canonical lines of a log: the header, then ``records``."""
    yield canonical_json(header_record(log_header))
    for record in records:
        yield canonical_json(dict(record))
