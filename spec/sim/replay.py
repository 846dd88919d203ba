"""Replay a trace as a strict verifier: re-execute every line, stop at the first divergence.

Replay needs no seed and no latency model: the trace records each action with
its arguments (deliveries name the bond, time moves by ``advance_time``,
a node's first election timeout and its redraw rule are arguments of
``join_late``), so the model's actions reproduce the run exactly.

For each line, in order (docs/formats/trace.md, "What replay guarantees"):

1. the line is read and validated (:class:`~spec.sim.trace.TraceReader`: JSON,
   schema, place, typed values, canonical form) — a refusal is a
   :class:`~spec.sim.trace.TraceError` naming the line and the field;
2. the header builds the initial world, whose digests must equal the header's;
   a step's action runs on the re-executed world with the recorded arguments (an
   action that is not enabled there is a ``TraceError`` at that line), every
   invariant is re-checked, and the step is re-encoded; the end record is
   re-computed from the final world;
3. the recorded line must equal its re-encoding; the first field that differs
   (in the order of :data:`~spec.sim.trace.STEP_FIELDS`) is the
   :class:`Divergence`, with the recorded and the re-executed values, and replay
   stops there.

Only the header's ``seed`` and ``meta`` are not checked: they say where the trace
came from, and re-execution does not depend on them (:data:`UNCHECKED`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from impl.codec import canonical_json
from impl.errors import InvalidInput
from spec.model.actions import ACTIONS, ActionNotEnabled, initial_world
from spec.model.invariants import Checker, Violation
from spec.model.state import World
from spec.robust.stop import StopReason, stop_point, stopping
from spec.sim.digest import world_digests
from spec.sim.simulator import cyclic_gc_paused, node_summaries
from spec.sim.trace import (
    END_FIELDS,
    STEP_FIELDS,
    TraceError,
    TraceLine,
    TraceReader,
    decode_args,
    end_record,
    setup_from_header,
    step_record,
)

__all__ = [
    "UNCHECKED",
    "Divergence",
    "ReplayResult",
    "first_difference",
    "replay_file",
    "replay_lines",
]

UNCHECKED: tuple[str, ...] = ("seed", "meta")
"""Header fields replay reads but cannot check (informative: where the trace came from)."""

ABSENT: Any = type("Absent", (), {"__repr__": lambda self: "(absent)"})()
"""Stands for a field one side lacks."""

Progress = Callable[[int, int], None]
"""Called as replay goes: lines checked so far, lines in the trace."""


@dataclass(frozen=True, slots=True)
class Divergence:
    """The first field whose recorded value differs from what re-execution produced."""

    line: int
    field: str
    recorded: Any
    replayed: Any

    def __str__(self) -> str:
        return (
            f"line {self.line}: field {self.field or '<line>'}: recorded "
            f"{_show(self.recorded)}, re-executed {_show(self.replayed)}{self.hint}"
        )

    @property
    def hint(self) -> str:
        """What a differing world digest means (the digests are not self-explanatory)."""
        if self.field == "world.setup":
            return " (the setup is not the one the trace was recorded with)"
        if self.field.startswith("world."):
            part = self.field.removeprefix("world.")
            what = "the network" if part == "net" else part.replace("nodes.", "node ")
            return (
                f" ({what} differs after this line although every earlier line agreed: "
                "an input of this line is not the one recorded)"
            )
        return ""

    def as_json(self) -> dict[str, Any]:
        """Return the JSON form (``snapsync replay --json``)."""
        return {
            "line": self.line,
            "field": self.field,
            "hint": self.hint.strip(" ()") or None,
            "recorded": None if self.recorded is ABSENT else self.recorded,
            "recorded_absent": self.recorded is ABSENT,
            "replayed": None if self.replayed is ABSENT else self.replayed,
            "replayed_absent": self.replayed is ABSENT,
        }


def _show(value: Any, limit: int = 160) -> str:
    if value is ABSENT:
        return "(absent)"
    text = canonical_json(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(slots=True)
class ReplayResult:
    """What a replay found."""

    steps: int = 0
    """Steps re-executed."""
    lines: int = 0
    """Lines checked (a divergent line included)."""
    total_lines: int = 0
    """Lines in the trace."""
    world: World | None = None
    """The last re-executed world."""
    violations: list[Violation] = field(default_factory=list)
    """Every violation found while re-checking."""
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per-node summary of the last re-executed world (as in the end record)."""
    divergence: Divergence | None = None
    """The first line and field whose re-execution differs from the recording, or None."""
    complete: bool = False
    """Every line, the end record included, was checked."""
    stopped: StopReason | None = None
    """Why replay stopped before the end (Ctrl-C, SIGTERM), or None."""
    records: list[dict[str, Any]] = field(default_factory=list)
    """Every record checked (for rendering)."""

    @property
    def exact(self) -> bool:
        """Check if every line was checked and reproduced exactly (never true for a replay
        that stopped early or diverged)."""
        return self.complete and self.divergence is None and self.stopped is None


def first_difference(
    recorded: Any, replayed: Any, path: str = "", order: tuple[str, ...] = ()
) -> tuple[str, Any, Any] | None:
    """Return the first differing field (path, recorded, re-executed) of two JSON values,
    or None if their canonical texts are equal.

    Objects are compared key by key (``order`` first, then sorted keys), arrays element by
    element; arrays of different lengths whose common prefix agrees differ as a whole.

    >>> first_difference({"a": 1, "b": [1, 2]}, {"a": 1, "b": [1, 3]})
    ('b[1]', 2, 3)
    >>> first_difference({"x": True}, {"x": 1})
    ('x', True, 1)
    """
    if canonical_json(recorded) == canonical_json(replayed):
        return None
    if isinstance(recorded, dict) and isinstance(replayed, dict):
        keys = [k for k in order if k in recorded or k in replayed]
        keys += sorted((set(recorded) | set(replayed)) - set(keys))
        for key in keys:
            where = f"{path}.{key}" if path else key
            if key not in recorded:
                return where, ABSENT, replayed[key]
            if key not in replayed:
                return where, recorded[key], ABSENT
            found = first_difference(recorded[key], replayed[key], where)
            if found is not None:
                return found
    if isinstance(recorded, list) and isinstance(replayed, list):
        for i, (a, b) in enumerate(zip(recorded, replayed, strict=False)):
            found = first_difference(a, b, f"{path}[{i}]")
            if found is not None:
                return found
    return path, recorded, replayed


class _Replayer:
    """The state of one replay (see the module docstring)."""

    def __init__(self, result: ReplayResult, keep_records: bool) -> None:
        self.result = result
        self.keep_records = keep_records
        self.world: World | None = None
        self.checker: Checker | None = None
        self.found = 0

    def diverged(
        self, line: int, record: dict[str, Any], again: dict[str, Any], order: Any
    ) -> bool:
        found = first_difference(record, again, "", order)
        if found is None:
            return False
        path, recorded, replayed = found
        self.result.divergence = Divergence(line, path, recorded, replayed)
        return True

    def header(self, line: TraceLine) -> bool:
        setup = setup_from_header(line.record, line.number)
        try:
            self.world = initial_world(setup)
        except InvalidInput as exc:
            raise TraceError(line.number, "setup.kind", str(exc)) from None
        self.checker = Checker(setup)
        self.result.world = self.world
        recorded = {"world": line.record["world"]}
        return self.diverged(line.number, recorded, {"world": world_digests(self.world)}, ())

    def step(self, line: TraceLine) -> bool:
        assert self.world is not None
        assert self.checker is not None
        record, number = line.record, line.number
        action = record["action"]
        fn = ACTIONS[action]
        args = line.args if line.args is not None else decode_args(record["args"])
        try:
            transition = fn(self.world, **args)
        except ActionNotEnabled as exc:
            raise TraceError(number, _arg_field(record), str(exc)) from None
        except (InvalidInput, TypeError) as exc:
            raise TraceError(number, "args", f"arguments do not fit {action}: {exc}") from None
        found = self.checker.check(transition)
        result = self.result
        result.steps += 1
        stamped = [v.at(result.steps) for v in found]
        result.violations.extend(stamped)
        self.found += len(stamped)
        self.world = transition.after
        result.world = self.world
        again = step_record(result.steps, transition, [v.as_json() for v in stamped])
        if canonical_json(again) == line.text:
            return False
        # The line differs: a malformed output is a TraceError, anything else a divergence.
        TraceReader.validate_step(line)
        return self.diverged(number, record, again, STEP_FIELDS)

    def end(self, line: TraceLine) -> bool:
        assert self.world is not None
        result = self.result
        again = end_record(result.steps, self.world, result.nodes, self.found)
        if canonical_json(again) == line.text:
            return False
        return self.diverged(line.number, line.record, again, END_FIELDS)


def _arg_field(record: dict[str, Any]) -> str:
    """The argument an action that is not enabled most likely refers to."""
    args = record.get("args")
    if isinstance(args, dict) and len(args) == 1:
        return f"args.{next(iter(args))}"
    return "args"


def replay_reader(
    reader: TraceReader, *, keep_records: bool = True, progress: Progress | None = None
) -> ReplayResult:
    """Replay the lines of ``reader`` (module docstring). Raises :class:`TraceError` at the
    first malformed line; a divergence ends the replay with ``result.divergence`` set; a
    stop (Ctrl-C) ends it with ``result.stopped`` set."""
    result = ReplayResult(total_lines=reader.count)
    replayer = _Replayer(result, keep_records)
    with stopping() as stopped:
        for line in _lines(reader):
            stop_point()
            result.lines = line.number
            if keep_records:
                result.records.append(line.record)
            kind = line.record["type"]
            if kind == "header":
                diverged = replayer.header(line)
            elif kind == "step":
                diverged = replayer.step(line)
            else:
                assert replayer.world is not None
                result.nodes = node_summaries(replayer.world, replayer.checker)
                diverged = replayer.end(line)
                result.complete = not diverged
            if progress is not None and (line.number % 64 == 0 or diverged):
                progress(line.number, reader.count)
            if diverged:
                break
    result.stopped = stopped.reason
    if result.world is not None and not result.nodes:
        result.nodes = node_summaries(result.world, replayer.checker)
    return result


def _lines(reader: TraceReader) -> Iterator[TraceLine]:
    yield from reader.records()


def replay_lines(
    lines: list[str], *, keep_records: bool = True, progress: Progress | None = None
) -> ReplayResult:
    """Replay a trace given as its lines, without their ``\\n`` (see :func:`replay_reader`)."""
    with cyclic_gc_paused():
        reader = TraceReader(lines, deferred=True)
        return replay_reader(reader, keep_records=keep_records, progress=progress)


def replay_file(
    path: str | Path, *, keep_records: bool = True, progress: Progress | None = None
) -> ReplayResult:
    """Replay the trace file at ``path`` (see :func:`replay_reader`)."""
    reader = TraceReader.open(path, deferred=True)
    with cyclic_gc_paused():
        return replay_reader(reader, keep_records=keep_records, progress=progress)
