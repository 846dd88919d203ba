"""Replay a trace: re-execute every recorded action and compare, line by line.

Replay needs no seed and no latency model: the trace records each action with
its arguments (deliveries name the bond, time moves by ``advance_time``,
a node's first election timeout and its redraw rule are arguments of
``join_late``), so the model's actions
reproduce the run exactly. Each step is re-encoded — including the invariant
violations found by re-checking every invariant — and must equal the recorded
line byte for byte; the end record's per-node summary must match too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from impl.codec import canonical_json
from impl.errors import CodecError, InvalidInput
from spec.model.actions import ACTIONS, initial_world
from spec.model.invariants import Checker, Violation
from spec.model.state import World
from spec.sim.simulator import cyclic_gc_paused, node_summaries
from spec.sim.trace import TraceError, TraceReader, decode_args, setup_from_header, step_record

__all__ = ["ReplayResult", "replay_file", "replay_lines"]


@dataclass(slots=True)
class ReplayResult:
    """What a replay found."""

    steps: int = 0
    """Steps re-executed."""
    world: World | None = None
    """The final world."""
    violations: list[Violation] = field(default_factory=list)
    """Every violation found while re-checking."""
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Final per-node summary (as in the end record)."""
    divergence: str | None = None
    """The first line whose re-execution differs from the recording, or None."""
    records: list[dict[str, Any]] = field(default_factory=list)
    """Every record of the trace (for rendering)."""

    @property
    def exact(self) -> bool:
        """Check if every step and the end record were reproduced exactly."""
        return self.divergence is None


def replay_lines(lines: list[str], *, keep_records: bool = True) -> ReplayResult:
    """Replay a trace given as its lines (raise :class:`TraceError` on malformed input)."""
    reader = TraceReader(lines)
    result = ReplayResult()
    world: World | None = None
    checker: Checker | None = None
    for line in reader.records():
        record = line.record
        if keep_records:
            result.records.append(record)
        kind = record["type"]
        if kind == "header":
            setup = setup_from_header(record, line.number)
            try:
                world = initial_world(setup)
            except InvalidInput as exc:
                raise TraceError(line.number, "setup.kind", str(exc)) from None
            checker = Checker(setup)
            continue
        if world is None or checker is None:
            raise TraceError(line.number, "type", "no header before this record")
        if kind == "step":
            world = _replay_step(line.number, line.text, record, world, checker, result)
            continue
        # the end record
        result.world = world
        result.nodes = node_summaries(world, checker)
        if result.divergence is None:
            recorded = record["nodes"]
            if canonical_json(recorded) != canonical_json(result.nodes):
                result.divergence = f"line {line.number}: the final node states differ"
            elif record["steps"] != result.steps:
                result.divergence = f"line {line.number}: {record['steps']} steps recorded"
    return result


def _replay_step(
    number: int,
    text: str,
    record: dict[str, Any],
    world: World,
    checker: Checker,
    result: ReplayResult,
) -> World:
    action = record["action"]
    fn = ACTIONS.get(action)
    if fn is None:
        raise TraceError(number, "action", f"unknown action {action!r}")
    try:
        args = decode_args(record["args"])
    except CodecError as exc:
        raise TraceError(number, exc.field, exc.reason) from None
    try:
        transition = fn(world, **args)
    except TypeError as exc:
        raise TraceError(number, "args", f"arguments do not fit {action}: {exc}") from None
    except InvalidInput as exc:
        raise TraceError(number, "args", str(exc)) from None
    found = checker.check(transition)
    result.steps += 1
    stamped = [v.at(result.steps) for v in found]
    result.violations.extend(stamped)
    again = canonical_json(step_record(result.steps, transition, [v.as_json() for v in stamped]))
    if result.divergence is None and again != text:
        result.divergence = f"line {number}: re-executing {action} gives a different step"
    return transition.after


def replay_file(path: str | Path, *, keep_records: bool = True) -> ReplayResult:
    """Replay the trace file at ``path``."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot read trace {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise TraceError(1, "", f"not UTF-8 text: {exc.reason}") from None
    with cyclic_gc_paused():
        return replay_lines(text.split("\n"), keep_records=keep_records)
