"""Sequence vectors: a run of one node as node-level ops, with the answers the reference gives.

Every failure ``snapsync drive`` or ``snapsync validate`` finds can become a permanent
regression case (``snapsync vectors from-trace TRACE``): the node's inputs, in order,
as the node-level ops of the adapter protocol (``node_new``, ``receive``, ``poll``,
``client_write``, ``bond_terminated``), and after each op the answer the reference
gives — the messages sent (``Send`` / ``Broadcast``, in order) and the observation —
or its typed error. ``snapsync conform`` replays the ops through the run's adapter
process (after its step cases; ``node_new`` replaces the handle's node by a fresh one)
and reports the first op whose answer differs, with the first differing JSON path
(``answers[17].observation.digest``); :func:`run_sequence` replays one case through a
fresh process.

Where the ops come from: the node's event log (a drive trace carries its hosted
nodes' logs; a model trace is converted with every poll logged; an event log is
taken as it is), explained by the validator under ``reference``: the explanation
is the log's inputs plus the polls and elections the search found, up to the line
the validator rejected (the failing step is the last one kept). Times, wall
clocks and bonds are the log's (a broken bond whose received messages the node still
processes is in ``ctx.bonds``, and such a ``receive`` is followed by a
``bond_terminated`` of its sender: the watchers its step registered fire at once);
the election timeout of every op is chosen so that the node's election timer falls
due exactly where the explanation elects, and never elsewhere.

A case (docs/formats/vectors.md, "Sequence cases") has ``kind: "sequence"``,
``step: "node"``, ``pre: null``, ``context: {peer, writer, heartbeat_interval_ms}``,
``input: {ops: [...]}`` and ``expected: {result: {answers: [...]}}``; its id is
content-derived like a step case's (``node-<16 hex digits>``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from impl.codec import canonical_json, encode
from impl.errors import InvalidInput
from impl.messages import Command
from impl.profile import MOSAIK_0_3_13, REFERENCE, Profile, get_profile
from impl.types import PeerId
from spec.conformance.cases import FORMAT, FORMAT_VERSION, case_id
from spec.conformance.diff import Difference, first_difference
from spec.conformance.events import EventKind, EventLog, LogHeader, read_log_lines
from spec.conformance.nodeops import NodeOps
from spec.conformance.protocol import Answer
from spec.conformance.validate import FREE_ELECTION_TIMEOUT_MS, LogValidator, TrailStep
from spec.model.host import HostError

__all__ = [
    "KEPT",
    "SEQUENCE_OPS",
    "SEQUENCE_STEP",
    "SendOp",
    "SequenceResult",
    "answers_of",
    "cases_from_trace",
    "expected_answer",
    "keep",
    "kept_cases",
    "logs_of_trace",
    "ops_of",
    "replay_sequence",
    "run_sequence",
    "sequence_case",
]

SEQUENCE_STEP = "node"
"""The step id of sequence cases (their directory in a vector tree)."""

SEQUENCE_OPS = ("node_new", "receive", "poll", "client_write", "bond_terminated")
"""The ops a sequence case's ``input.ops`` holds (the first is always ``node_new``)."""

KEPT = Path(__file__).resolve().parent / "sequences"
"""Sequence cases kept in the repository: ``vectors generate`` includes them."""

_HANDLE = "n"
"""The node handle every op of a sequence names."""
_NETWORK = frozenset({"Send", "Broadcast"})


def _config_json(header: LogHeader) -> dict[str, int]:
    c = header.config
    return {
        "fetch_batch_size": c.fetch_batch_size,
        "fetch_timeout_ms": c.fetch_timeout_ms,
        "snapshot_request_timeout_ms": c.snapshot_request_timeout_ms,
        "snapshot_ttl_ms": c.snapshot_ttl_ms,
    }


def ops_of(header: LogHeader, steps: Sequence[TrailStep], profile: str) -> list[dict[str, Any]]:
    """Return the node-level ops (requests without ``id``) of an explanation (module doc)."""
    elections = [s.time_ms for s in steps if s.kind == "election"]
    ops: list[dict[str, Any]] = []
    bonds: set[PeerId] = set()
    for step in steps:
        upcoming = [t for t in elections if t >= step.time_ms]
        timeout = upcoming[0] - step.time_ms if upcoming else FREE_ELECTION_TIMEOUT_MS
        e = step.event
        if step.kind == "start":
            bonds = set()
            ops.append(
                {
                    "op": "node_new",
                    "node": _HANDLE,
                    "peer": header.peer.hex(),
                    "writer": header.writer,
                    "collection": header.kind,
                    "config": _config_json(header),
                    "heartbeat_interval_ms": header.heartbeat_interval_ms,
                    "profile": profile,
                    "now_ms": step.time_ms,
                    "election_timeout_ms": timeout,
                }
            )
            continue
        if step.kind == "bond_up":
            assert e is not None
            bonds.add(e.fields["peer"])
            continue
        if step.kind == "bond_down":
            assert e is not None
            bonds.discard(e.fields["peer"])
        ctx = {
            # The bond table: the live bonds and the broken ones still holding messages.
            "bonds": sorted(p.hex() for p in bonds | step.table),
            "election_timeout_ms": timeout,
            "now_ms": step.time_ms,
            "now_wall_ms": step.wall_ms,
        }
        op: dict[str, Any] = {"node": _HANDLE, "ctx": ctx}
        if step.kind == "bond_down":
            assert e is not None
            op.update(op="bond_terminated", peer=e.fields["peer"].hex())
        elif step.kind == "recv":
            assert e is not None
            op.update(op="receive", message=e.fields["message"])
            sender = e.fields["from"]
            op["from"] = sender.hex()
            if sender not in bonds and sender in step.table:
                # Received before its bond broke: the watchers fire again in that step.
                ops.append(op)
                op = {"node": _HANDLE, "ctx": ctx, "op": "bond_terminated", "peer": sender.hex()}
        elif step.kind == "client_write":
            assert e is not None
            op.update(op="client_write", command=encode(e.fields["command"], Command))
        else:  # a poll, or a poll whose election timer fires now
            op["op"] = "poll"
        ops.append(op)
    return ops


def expected_answer(body: dict[str, Any]) -> dict[str, Any]:
    """Return what a sequence compares of one answer: the network effects and the
    observation of a result; the kind (and hazard) of an error; ``unsupported`` as is."""
    if "result" in body:
        result = body["result"]
        out: dict[str, Any] = {"observation": result.get("observation")}
        if "effects" in result:
            effects = result["effects"]
            if not isinstance(effects, list):
                return {"result": {"effects": effects, **out}}
            out["effects"] = [
                e for e in effects if not isinstance(e, dict) or e.get("type") in _NETWORK
            ]
        return {"result": out}
    if "error" in body:
        error = body["error"]
        if not isinstance(error, dict):
            return {"error": error}
        kept = {"kind": error.get("kind")}
        if error.get("kind") == "HazardPanic":
            kept["hazard"] = error.get("hazard")
        return {"error": kept}
    return dict(body)


def answers_of(ops: Sequence[dict[str, Any]], profile: Profile) -> list[dict[str, Any]]:
    """Return the reference's answers (as compared) to ``ops`` under ``profile``."""
    server = NodeOps(profile)
    out = []
    for i, op in enumerate(ops):
        request = json.loads(canonical_json({"id": i + 1, **op}))
        out.append(expected_answer(server.handlers[op["op"]](request)))
    return out


def sequence_case(
    header: LogHeader,
    steps: Sequence[TrailStep],
    profile: Profile,
    *,
    source: str,
    description: str,
    other: Profile | None = None,
) -> dict[str, Any]:
    """Return the sequence case of an explanation under ``profile`` (module docstring)."""
    ops = ops_of(header, steps, profile.name)
    if not ops or ops[0]["op"] != "node_new":
        raise InvalidInput("a sequence starts with the node's start (the log has none)")
    context = {
        "peer": header.peer.hex(),
        "writer": header.writer,
        "heartbeat_interval_ms": header.heartbeat_interval_ms,
    }
    config = _config_json(header)
    inputs = {"ops": [{k: v for k, v in op.items() if k != "profile"} for op in ops]}
    answers = answers_of(ops, profile)
    agree = other is None or answers == answers_of(ops_of(header, steps, other.name), other)
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": "sequence",
        "id": case_id(SEQUENCE_STEP, header.kind, config, None, context, inputs),
        "step": SEQUENCE_STEP,
        "profile": profile.name,
        "collection": header.kind,
        "config": config,
        "pre": None,
        "context": context,
        "input": {"ops": ops},
        "expected": {"result": {"answers": answers}},
        "why": {
            "kind": "valid",
            "branch": f"a node's run: {len(ops)} node-level ops",
            "hazards": [],
            "behaviours": [],
            "effect": "the node's messages or observable state differ from the reference's "
            "at some op of a run that once exposed a failure",
            "source": {"kind": "from-trace", "name": source},
            "profiles_agree": agree,
            "reachable_in": [],
            "description": description,
        },
    }


# -- from a trace --------------------------------------------------------------------------------


def logs_of_trace(path: str | Path) -> list[EventLog]:
    """Return the event logs a file holds: a drive trace's hosted nodes' logs, every node's
    log of a model trace (every poll logged), or the file itself if it is an event log."""
    from spec.conformance.convert import logs_from_trace

    target = Path(path)
    try:
        text = target.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}") from None
    lines = text.split("\n")
    try:
        header = json.loads(lines[0])
    except ValueError:
        raise InvalidInput(f"{target.name} line 1: not JSON") from None
    if not isinstance(header, dict):
        raise InvalidInput(f"{target.name} line 1: expected an object")
    if header.get("format") == "snapsync-events":
        return [read_log_lines(lines, target.name)]
    if header.get("format") != "snapsync-trace":
        raise InvalidInput(f"{target.name}: neither a trace nor an event log")
    drive = header.get("meta", {}).get("drive") if isinstance(header.get("meta"), dict) else None
    if isinstance(drive, dict) and isinstance(drive.get("logs"), dict):
        return [
            read_log_lines([canonical_json(r) for r in records], f"{target.name}:{name}")
            for name, records in sorted(drive["logs"].items())
        ]
    converted = logs_from_trace(lines, explicit_polls=True)
    return [read_log_lines(log.lines(), f"{target.name}:{n}") for n, log in converted.items()]


def cases_from_trace(
    path: str | Path,
    *,
    node: str | None = None,
    profiles: Iterable[str] = ("reference", "mosaik-0.3.13"),
) -> list[dict[str, Any]]:
    """Return the sequence cases of the nodes in a trace (module docstring)."""
    wanted = [get_profile(p) for p in profiles]
    if not wanted:
        raise InvalidInput("no profile to write cases for")
    out = []
    logs = logs_of_trace(path)
    chosen = [
        log
        for log in logs
        if node is None or node in (log.header.name, log.header.peer.hex(), log.header.peer.short())
    ]
    if not chosen:
        known = ", ".join(log.header.label for log in logs)
        raise InvalidInput(f"no log of node {node!r} in {path}; it has: {known}")
    for log in chosen:
        validator = LogValidator(log.header, REFERENCE)
        line = None
        for e in log.events:
            if not validator.feed(e):
                line = e.line
                break
        steps = validator.explanation()
        if not any(s.kind == "start" for s in steps):
            continue
        if line is not None:
            # Past the rejection the log's own inputs go on (its polls as logged): the case
            # keeps the steps where the failure shows, not only the one that started it.
            last = max((s.event.line for s in steps if s.event is not None), default=0)
            steps = [*steps, *_tail(log, last)]
        where = f"the reference rejects its line {line}" if line else "accepted as a whole"
        description = f"{log.header.label}'s run from {Path(path).name} ({where})"
        for profile in wanted:
            other = MOSAIK_0_3_13 if profile.name == "reference" else REFERENCE
            out.append(
                sequence_case(
                    log.header,
                    steps,
                    profile,
                    source=Path(path).name,
                    description=description,
                    other=other,
                )
            )
    return out


def kept_cases() -> list[dict[str, Any]]:
    """Return the sequence cases kept in the repository (:data:`KEPT`), verified."""
    from spec.conformance.cases import check_case
    from spec.conformance.jsonio import strict_loads

    out = []
    for path in sorted(KEPT.glob("*/*.json")):
        data = strict_loads(path.read_bytes())
        out.append(check_case(data, str(path), profile=path.parent.name, stem=path.stem))
    return out


def keep(case: dict[str, Any], directory: Path = KEPT) -> Path:
    """Write ``case`` into the repository's kept cases (canonical JSON); return its path."""
    target: Path = directory / str(case["profile"]) / f"{case['id']}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(canonical_json(case) + "\n", encoding="utf-8")
    return target


_INPUT_KIND = {
    EventKind.START: "start",
    EventKind.BOND_UP: "bond_up",
    EventKind.BOND_DOWN: "bond_down",
    EventKind.RECV: "recv",
    EventKind.CLIENT_WRITE: "client_write",
    EventKind.POLL: "poll",
    EventKind.TIMER: "poll",
}


def _tail(log: EventLog, after_line: int) -> list[TrailStep]:
    """The log's input events after ``after_line`` as explanation steps (a poll or timer
    followed, before the next input, by a RequestVote or a candidate role is an election)."""
    events = log.events
    out = []
    for i, e in enumerate(events):
        if e.line <= after_line or e.kind not in _INPUT_KIND:
            continue
        kind = _INPUT_KIND[e.kind]
        if kind == "poll":
            if e.kind is EventKind.TIMER and e.fields["timer"].value == "election":
                kind = "election"
            for later in events[i + 1 :]:
                if later.kind in _INPUT_KIND:
                    break
                if (
                    later.kind is EventKind.SEND
                    and later.fields["message"].get("type") == "RequestVote"
                ) or (later.kind is EventKind.ROLE and later.fields["role"].value == "candidate"):
                    kind = "election"
        out.append(TrailStep(kind, e.time_ms, e.wall_ms, e))
    return out


# -- replaying a case through an adapter ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SequenceResult:
    """How one sequence case ended (:func:`replay_sequence`)."""

    status: str
    """``passed``, ``failed``, ``unsupported`` or ``not-attempted`` (the run stopped)."""
    kind: str | None = None
    """For a failure: ``mismatch``, or the ``crash`` / ``timeout`` / ``malformed`` answer."""
    detail: str = ""
    difference: Difference | None = None


SendOp = Callable[[str, dict[str, Any]], Answer | None]
"""Sends one node-level op (name, fields) and returns its answer; raises
:class:`~spec.model.host.HostError` when it got none (crash, timeout, malformed), and
returns ``None`` when it was not sent (the run stopped)."""


def replay_sequence(case: dict[str, Any], send: SendOp) -> SequenceResult:
    """Send ``case``'s ops in order through ``send`` and compare each answer with the
    reference's; stop at the first op that differs, fails or is ``unsupported``.

    ``send`` decides the process: :func:`run_sequence` a fresh one, ``snapsync conform``
    the run's adapter process (``node_new`` replaces a handle's node by a fresh one,
    docs/formats/adapter.md, so a case never sees an earlier case's node).
    """
    expected = case["expected"]["result"]["answers"]
    for i, op in enumerate(case["input"]["ops"]):
        fields = {k: v for k, v in op.items() if k != "op"}
        try:
            answer = send(op["op"], fields)
        except HostError as exc:
            return SequenceResult("failed", exc.kind, f"op {i} ({op['op']}): {exc}")
        if answer is None:
            return SequenceResult("not-attempted")
        if answer.kind == "unsupported":
            return SequenceResult("unsupported", "answer", f"op {i} ({op['op']}): {answer.value}")
        got = expected_answer({answer.kind: answer.value})
        difference = first_difference(expected[i], got, f"answers[{i}]")
        if difference is not None:
            return SequenceResult(
                "failed", "mismatch", f"op {i} ({op['op']} at {_when(op)})", difference
            )
    return SequenceResult("passed")


def run_sequence(
    command: str, case: dict[str, Any], *, timeout: float = 10.0
) -> tuple[str, str, Any]:
    """Replay ``case``'s ops through a fresh process of the adapter ``command``.

    Returns ``(status, detail, difference)``: ``passed``; ``unsupported`` (the hello lacks
    the node-level ops, or an op is answered ``unsupported``); ``failed`` with what went
    wrong and the first differing path (:class:`~spec.conformance.diff.Difference`), or a
    crash / timeout / malformed answer.
    """
    from spec.conformance.nodeclient import NodeProcess
    from spec.conformance.process import AdapterError

    process = NodeProcess(command, timeout=timeout)
    try:
        try:
            process.start()
        except AdapterError as exc:
            return "unsupported", str(exc), None
        result = replay_sequence(case, process.call)
        return result.status, result.detail, result.difference
    finally:
        process.close()


def _when(op: dict[str, Any]) -> str:
    ctx = op.get("ctx")
    now = ctx.get("now_ms") if isinstance(ctx, dict) else op.get("now_ms")
    return f"{now} ms"
