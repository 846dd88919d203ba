"""The trace tamperer: replay is a verifier — a changed trace never "replays exactly".

Real traces — from the simulator (with every rate-driven fault), from mosaik's
scenarios, and from the hunt (the saved findings: corrupted responses, reordered
and forged messages, broken bonds) — are changed by Hypothesis: a field's value
changed (in type or in value), a field deleted or added, a line deleted,
duplicated or swapped with the next, a line's keys reordered or spaced out. For
each change, replay must report the first divergence at the changed line, or a
typed error (:class:`TraceError`) at that line — and, for a changed field, name that
field (or, for a changed input, whatever that input changed). Never "replayed
exactly", never any other exception. docs/formats/trace.md states the guarantee.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from impl.codec import canonical_json
from impl.profile import REFERENCE
from spec.model.faults import Fault
from spec.scenarios import SCENARIOS, run_case, select_cases
from spec.sim.replay import replay_lines
from spec.sim.trace import TraceError, TraceWriter
from spec.sim.workload import SimulationSpec, simulate

FINDINGS = Path(__file__).resolve().parent.parent / "docs" / "findings"
HUNT_TRACES = ("H10", "H27", "H9", "H3", "H1-bond-break", "H29-readers")
"""Saved hunt findings covering corrupt_response, reorder_message, forge_message and
restart_empty, break_bond / restore_bond; a bond that breaks after its receiver had
received a message, delivered afterwards (transport ``deliver_after_break``); a
header with a version behaviour (``readers-vote``) and a RAFT-LC violation."""

UNCHECKED_HEADER = ("seed", "meta")
"""Informative header fields replay documents as not checked."""


def _simulated(tmp: Path) -> list[str]:
    path = tmp / "sim.jsonl"
    spec = SimulationSpec(
        items=16,
        batch=4,
        providers=3,
        writes_during_sync=2,
        seed=5,
        faults={
            Fault.DUPLICATE: 0.1,
            Fault.REORDER: 0.3,
            Fault.SHORT_RESPONSE: 0.2,
            Fault.LONG_RESPONSE: 0.2,
            Fault.WRONG_OFFSET: 0.2,
        },
    )
    simulate(spec, trace_path=path)
    return path.read_text(encoding="utf-8").splitlines()


def _scenario(tmp: Path) -> list[str]:
    path = tmp / "scenario.jsonl"
    case = select_cases(SCENARIOS, "map/frozen*", 100)[0]
    run_case(case, REFERENCE, trace=TraceWriter.open(path))
    return path.read_text(encoding="utf-8").splitlines()


@pytest.fixture(scope="module")
def traces(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    tmp = tmp_path_factory.mktemp("tamper")
    out = {"simulate": _simulated(tmp), "scenario": _scenario(tmp)}
    for name in HUNT_TRACES:
        out[f"hunt-{name}"] = (FINDINGS / f"{name}.trace.jsonl").read_text("utf-8").splitlines()
    return out


def test_the_traces_are_real_and_cover_the_faults(traces: dict[str, list[str]]) -> None:
    actions = {json.loads(line).get("action") for lines in traces.values() for line in lines}
    assert {
        "corrupt_response",
        "duplicate_message",
        "reorder_message",
        "forge_message",
        "break_bond",
        "restore_bond",
        "restart_empty",
        "client_write",
    } <= actions
    for lines in traces.values():
        assert replay_lines(lines, keep_records=False).exact
    records = [json.loads(line) for lines in traces.values() for line in lines]
    assert any(r.get("args", {}).get("received_by_a") for r in records if "args" in r)
    assert any(r["setup"]["behaviours"] == ["readers-vote"] for r in records if "setup" in r)
    assert any(r["setup"]["transport"] == ["deliver_after_break"] for r in records if "setup" in r)
    steps = [r for r in records if r["type"] == "step"]
    assert any(v["id"] == "RAFT-LC" for r in steps for v in r["violations"])


def _bond_break(traces: dict[str, list[str]]) -> tuple[list[str], int, int]:
    """H1-bond-break's lines, the line of its break that keeps a message, and the line of
    that message's delivery on the broken bond."""
    lines = traces["hunt-H1-bond-break"]
    k = next(i for i, line in enumerate(lines) if '"received_by_a":1' in line)
    args = json.loads(lines[k])["args"]
    kept = f'"action":"deliver_message","args":{{"dst":"{args["a"]}","src":"{args["b"]}"}}'
    d = next(i for i in range(k + 1, len(lines)) if kept in lines[i])
    return lines, k, d


@pytest.mark.parametrize(
    ("where", "path", "value"),
    [
        ("break", ["args", "received_by_a"], 0),
        ("break", ["args", "received_by_b"], 1),
        ("break", ["args", "received_by_a"], -1),
        ("break", ["args", "received_by_a"], "1"),
        ("deliver", ["args", "src"], "r2"),
        ("header", ["setup", "transport"], []),
        ("header", ["setup", "transport"], ["deliver-after-break"]),
        ("header", ["setup", "behaviours"], ["readers-vote"]),
    ],
)
def test_the_new_inputs_are_checked(
    traces: dict[str, list[str]], where: str, path: Path_, value: Any
) -> None:
    """A break that keeps received messages, their delivery after the break and the setup's
    behaviours and transport are inputs: each change is caught at its own line."""
    lines, k, d = _bond_break(traces)
    at = {"break": k, "deliver": d, "header": 0}[where]
    record = json.loads(lines[at])
    _set(record, path, value)
    changed = [*lines[:at], canonical_json(record), *lines[at + 1 :]]
    assert _check(Change("set", changed, at + 1, _render(path), True)) in ("error", "divergence")


def test_a_deleted_break_count_or_setup_field_is_refused(traces: dict[str, list[str]]) -> None:
    """Format 2 records the counts (0 included) and both setup lists: none is optional."""
    lines, k, _ = _bond_break(traces)
    deletions: list[tuple[int, Path_]] = [
        (k, ["args", "received_by_b"]),
        (0, ["setup", "behaviours"]),
    ]
    for at, path in deletions:
        record = json.loads(lines[at])
        del _get(record, path[:-1])[path[-1]]
        changed = [*lines[:at], canonical_json(record), *lines[at + 1 :]]
        verdict, line, field = _outcome(Change("delete", changed, at + 1, None))
        assert (verdict, line, field) == ("error", at + 1, _render(path))
    lines = traces["hunt-H29-readers"]
    k = next(i for i, line in enumerate(lines) if i and '"id":"RAFT-LC"' in line)
    record = json.loads(lines[k])
    record["violations"][0]["id"] = "RAFT-SM"
    changed = [*lines[:k], canonical_json(record), *lines[k + 1 :]]
    assert _outcome(Change("set", changed, k + 1, None)) == (
        "divergence",
        k + 1,
        "violations[0].id",
    )


# -- the changes -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """A change to a trace: the lines after it, the line replay must stop at, and the
    field it must name (None: any field of that line)."""

    kind: str
    lines: list[str]
    line: int
    field: str | None
    is_input: bool = False


Path_ = list[str | int]


def _leaves(value: Any, path: Path_) -> list[Path_]:
    """Every path of a JSON value (containers included, the root excluded)."""
    out: list[Path_] = []
    if isinstance(value, dict):
        for key, item in value.items():
            out.append([*path, key])
            out += _leaves(item, [*path, key])
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out.append([*path, i])
            out += _leaves(item, [*path, i])
    return out


def _get(value: Any, path: Path_) -> Any:
    for part in path:
        value = value[part]
    return value


def _set(value: Any, path: Path_, new: Any) -> None:
    _get(value, path[:-1])[path[-1]] = new


def _render(path: Path_) -> str:
    out = ""
    for part in path:
        out = f"{out}[{part}]" if isinstance(part, int) else (f"{out}.{part}" if out else part)
    return out


def _variants(value: Any) -> list[Any]:
    """Other values for a field: the same type changed, and other types."""
    if isinstance(value, bool):
        out: list[Any] = [not value, "true", 0]
    elif isinstance(value, int):
        out = [value + 1, value - 1, -1, 2**64, str(value), True, None, 1.5]
    elif isinstance(value, str):
        out = [value + "x", "", value[:-1], 1, None, "é" + value]
    elif value is None:
        out = [0, "", False, {}]
    elif isinstance(value, list):
        out = [[], "[]", {}]
        if value:
            out += [value[:-1], [*value, value[-1]], [value[-1], *value[:-1]]]
    else:
        out = [{}, [], None]
    return [v for v in out if canonical_json(v) != canonical_json(value)]


def _unchecked(number: int, path: Path_) -> bool:
    return number == 1 and bool(path) and path[0] in UNCHECKED_HEADER


def _is_input(record: dict[str, Any], path: Path_) -> bool:
    """Inputs are a step's action and arguments and the header's setup: a change to one
    shows in whatever it changes (the world digests at least), not necessarily in itself."""
    head = path[0] if path else None
    return head in ("action", "args") or (record.get("type") == "header" and head == "setup")


class Lines(list[str]):
    """A trace's lines with a short repr (Hypothesis prints strategy arguments)."""

    def __repr__(self) -> str:
        return f"<{len(self)} trace lines>"


@st.composite
def changes(draw: st.DrawFn, lines: Lines) -> Change:
    kind = draw(
        st.sampled_from(
            ["set", "set", "set", "delete", "add", "dup", "drop", "swap", "keys", "spaces"]
        )
    )
    k = draw(st.integers(0, len(lines) - 1))
    out = list(lines)
    record = json.loads(lines[k])
    if kind in ("set", "delete", "add"):
        paths = [p for p in _leaves(record, []) if not _unchecked(k + 1, p)]
        if kind == "delete":
            paths = [p for p in paths if isinstance(p[-1], str)]
        elif kind == "add":
            paths = [[]] + [p for p in paths if isinstance(_get(record, p), dict)]
        assume(paths)
        path = draw(st.sampled_from(paths))
        if kind == "set":
            _set(record, path, draw(st.sampled_from(_variants(_get(record, path)))))
        elif kind == "delete":
            del _get(record, path[:-1])[path[-1]]
        else:
            _get(record, path)["zz_extra"] = 1
            path = [*path, "zz_extra"]
        out[k] = canonical_json(record)
        return Change(kind, out, k + 1, _render(path), _is_input(json.loads(lines[k]), path))
    if kind == "dup":
        out.insert(k, lines[k])
        return Change(kind, out, k + 2, None)
    if kind == "drop":
        del out[k]
        return Change(kind, out, k + 1, None)
    if kind == "swap":
        assume(k + 1 < len(lines) and lines[k] != lines[k + 1])
        out[k], out[k + 1] = lines[k + 1], lines[k]
        return Change(kind, out, k + 1, None)
    if kind == "keys":
        assume(len(record) > 1)
        out[k] = json.dumps(dict(reversed(list(record.items()))), separators=(",", ":"))
        return Change(kind, out, k + 1, "")
    out[k] = json.dumps(record, sort_keys=True)
    assume(out[k] != lines[k])
    return Change(kind, out, k + 1, "")


def _related(reported: str, changed: str) -> bool:
    """The reported field is the changed one, contains it, or lies inside it."""
    if reported == changed or not changed:
        return True
    for a, b in ((changed, reported), (reported, changed)):
        if a.startswith(b) and (not b or a[len(b)] in ".["):
            return True
    return False


def _outcome(change: Change) -> tuple[str, int, str]:
    """What replay says of a changed trace: (verdict, line, field)."""
    try:
        result = replay_lines(change.lines, keep_records=False)
    except TraceError as err:
        return "error", err.line, err.field
    if result.exact:
        return "exact", 0, ""
    divergence = result.divergence
    assert divergence is not None, (change.kind, change.line, result.stopped)
    return "divergence", divergence.line, divergence.field


def _check(change: Change) -> str:
    """Assert that replay caught ``change`` at its line (and field); return how."""
    verdict, line, field = _outcome(change)
    where = (change.kind, change.line, change.field, verdict, line, field)
    assert verdict != "exact", where
    assert line == change.line, where
    if change.field is not None and not change.is_input:
        assert _related(field, change.field), where
    return verdict


TamperTest = Callable[[dict[str, list[str]], st.DataObject], None]


@pytest.mark.parametrize("name", ["simulate", "scenario", *(f"hunt-{n}" for n in HUNT_TRACES)])
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_a_changed_trace_is_caught_at_the_changed_line(
    traces: dict[str, list[str]], name: str, data: st.DataObject
) -> None:
    lines = Lines(traces[name])
    change = data.draw(changes(lines))
    assume(change.lines != lines)
    _check(change)


def test_the_tamperer_can_tell_a_blind_verifier(
    traces: dict[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The oracle is not vacuous: a replay that ignores the world digests (as version 1
    did) lets a changed input through, and the tamperer's check fails."""
    from spec.sim import trace as trace_module

    lines = traces["hunt-H10"]
    k = next(i for i, line in enumerate(lines) if '"action":"corrupt_response"' in line)
    record = json.loads(lines[k])
    record["args"]["position"] += 1  # another queued message (if any) is corrupted
    changed = [*lines[:k], canonical_json(record), *lines[k + 1 :]]
    assert _check(Change("set", changed, k + 1, "args.position", True)) in ("error", "divergence")

    # A "blind" replay: the recorded world digests and rewritten messages copied over.
    original = trace_module.step_record

    def blind(seq: int, transition: Any, violations: Any) -> dict[str, Any]:
        again = original(seq, transition, violations)
        recorded = json.loads(lines[seq])
        again["world"], again["rewritten"] = recorded["world"], recorded["rewritten"]
        return again

    monkeypatch.setattr("spec.sim.replay.step_record", blind)
    record = json.loads(lines[k])
    record["args"]["mode"] = (
        "long_response" if record["args"]["mode"] != "long_response" else "short_response"
    )
    with pytest.raises(AssertionError):
        _check(
            Change(
                "set",
                [*lines[:k], canonical_json(record), *lines[k + 1 :]],
                k + 1,
                "args.mode",
                True,
            )
        )


def test_the_end_record_is_checked(traces: dict[str, list[str]]) -> None:
    """Issue #14's example: changing the end record's violation count used to replay exactly."""
    lines = list(traces["hunt-H10"])
    end = json.loads(lines[-1])
    end["violations"] += 1
    lines[-1] = canonical_json(end)
    result = replay_lines(lines, keep_records=False)
    assert not result.exact
    assert result.divergence is not None
    assert (result.divergence.line, result.divergence.field) == (len(lines), "violations")
    assert result.divergence.recorded == end["violations"]
    assert result.divergence.replayed == end["violations"] - 1


def test_a_corrupted_response_is_recorded_and_checked(traces: dict[str, list[str]]) -> None:
    """The trace records the rewritten response, so a changed corruption is caught at once."""
    lines = list(traces["hunt-H10"])
    k = next(i for i, line in enumerate(lines) if '"action":"corrupt_response"' in line)
    record = json.loads(lines[k])
    assert record["rewritten"]
    assert record["rewritten"][0]["message"]["type"] == "FetchDataResponse"
    record["rewritten"][0]["message"]["offset"] += 1
    lines[k] = canonical_json(record)
    result = replay_lines(lines, keep_records=False)
    assert result.divergence is not None
    assert result.divergence.line == k + 1
    assert result.divergence.field == "rewritten[0].message.offset"
    assert "recorded" in str(result.divergence)
    assert "re-executed" in str(result.divergence)
