"""Replay: exact re-execution, invariants re-checked, malformed traces rejected, diagrams."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from impl.codec import canonical_json
from impl.profile import get_profile
from spec.cli import main
from spec.model.faults import Fault
from spec.render import describe_message, dot_available, render_trace, write_diagram
from spec.sim.replay import replay_file, replay_lines
from spec.sim.trace import TraceError
from spec.sim.workload import SimulationSpec, simulate


@pytest.fixture(scope="module")
def trace(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, dict[str, object]]]:
    path = tmp_path_factory.mktemp("replay") / "run.jsonl"
    report = simulate(SimulationSpec(items=250, batch=40, writes_during_sync=10), trace_path=path)
    return path, report.nodes


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def test_replay_reproduces_every_step_and_the_final_state(
    trace: tuple[Path, dict[str, dict[str, object]]],
) -> None:
    path, nodes = trace
    result = replay_file(path)
    assert result.exact, result.divergence
    assert result.nodes == nodes
    assert result.steps == len(_lines(path)) - 2
    assert not result.violations


def test_replay_rechecks_invariants_of_a_hazardous_run(tmp_path: Path) -> None:
    path = tmp_path / "h27.jsonl"
    spec = SimulationSpec(
        items=200,
        batch=50,
        seed=1,
        profile=get_profile("reference", ["H27"]),
        faults={Fault.REORDER: 0.5},
    )
    report = simulate(spec, trace_path=path)
    assert any(v.id == "I12" for v in report.violations)
    result = replay_file(path)
    assert result.exact
    safety = [v for v in report.violations if v.id not in ("L1", "L4")]
    assert [v.as_json() for v in result.violations] == [v.as_json() for v in safety]


def test_a_tampered_step_is_a_divergence(trace: tuple[Path, dict[str, dict[str, object]]]) -> None:
    path, _ = trace
    lines = _lines(path)
    k = next(i for i, line in enumerate(lines) if '"action":"deliver_message"' in line)
    record = json.loads(lines[k])
    record["violations"] = [{"id": "I5", "node": "r2", "detail": "invented", "step": record["seq"]}]
    lines[k] = json.dumps(record, sort_keys=True, separators=(",", ":"))
    result = replay_lines(lines)
    assert not result.exact
    assert result.divergence is not None
    assert (result.divergence.line, result.divergence.field) == (k + 1, "violations")
    assert str(result.divergence).startswith(f"line {k + 1}: field violations: recorded [")


def _reject(lines: list[str]) -> TraceError:
    with pytest.raises(TraceError) as info:
        replay_lines(lines)
    return info.value


def test_invalid_line_that_is_not_json(trace: tuple[Path, dict[str, dict[str, object]]]) -> None:
    lines = _lines(trace[0])
    lines[3] = lines[3][:-5]
    err = _reject(lines)
    assert err.line == 4
    assert err.field == ""
    assert "invalid JSON" in err.reason


def test_invalid_step_missing_a_field(trace: tuple[Path, dict[str, dict[str, object]]]) -> None:
    lines = _lines(trace[0])
    record = json.loads(lines[2])
    del record["action"]
    lines[2] = json.dumps(record)
    err = _reject(lines)
    assert (err.line, err.field) == (3, "action")


def test_invalid_step_field_type(trace: tuple[Path, dict[str, dict[str, object]]]) -> None:
    lines = _lines(trace[0])
    record = json.loads(lines[4])
    record["now_ms"] = "soon"
    lines[4] = json.dumps(record)
    err = _reject(lines)
    assert (err.line, err.field) == (5, "now_ms")
    assert "integer" in err.reason


def test_invalid_step_sequence_number(trace: tuple[Path, dict[str, dict[str, object]]]) -> None:
    lines = _lines(trace[0])
    record = json.loads(lines[5])
    record["seq"] = 99
    lines[5] = json.dumps(record)
    assert (_reject(lines).line, _reject(lines).field) == (6, "seq")


def test_invalid_unknown_action(trace: tuple[Path, dict[str, dict[str, object]]]) -> None:
    lines = _lines(trace[0])
    record = json.loads(lines[1])
    record["action"] = "teleport"
    lines[1] = json.dumps(record)
    err = _reject(lines)
    assert (err.line, err.field) == (2, "action")


def test_invalid_command_names_the_nested_field(
    trace: tuple[Path, dict[str, dict[str, object]]],
) -> None:
    lines = _lines(trace[0])
    k = next(i for i, line in enumerate(lines) if '"action":"client_write"' in line)
    record = json.loads(lines[k])
    record["args"]["commands"][0]["key"] = -1
    lines[k] = json.dumps(record)
    err = _reject(lines)
    assert err.line == k + 1
    assert err.field == "args.commands[0].key"


def test_invalid_action_arguments(trace: tuple[Path, dict[str, dict[str, object]]]) -> None:
    lines = _lines(trace[0])
    k = next(i for i, line in enumerate(lines) if '"action":"deliver_message"' in line)
    record = json.loads(lines[k])
    record["args"]["dst"] = "nobody"
    lines[k] = canonical_json(record)
    err = _reject(lines)
    assert (err.line, err.field) == (k + 1, "args")


def test_invalid_header(trace: tuple[Path, dict[str, dict[str, object]]]) -> None:
    lines = _lines(trace[0])
    header = json.loads(lines[0])
    header["setup"]["hazards"] = ["H99"]
    err = _reject([json.dumps(header), *lines[1:]])
    assert (err.line, err.field) == (1, "setup.hazards[0]")
    header = json.loads(lines[0])
    header["format"] = "other"
    assert _reject([json.dumps(header), *lines[1:]]).field == "format"
    header = json.loads(lines[0])
    header["setup"]["config"]["fetch_batch_size"] = 0
    assert _reject([json.dumps(header), *lines[1:]]).field == "setup.config.fetch_batch_size"
    assert _reject([lines[1], *lines]).field == "type"  # a step first


def test_invalid_structure(trace: tuple[Path, dict[str, dict[str, object]]]) -> None:
    lines = _lines(trace[0])
    assert _reject(lines[:-1]).reason.startswith("the end record is missing")
    assert _reject(lines[:-1]).line == len(lines)
    assert _reject([*lines, lines[-1]]).line == len(lines) + 1
    assert _reject([lines[0], lines[0], *lines[1:]]).line == 2
    assert _reject([]).line == 1
    record = json.loads(lines[1])
    record["extra"] = 1
    assert _reject([lines[0], json.dumps(record), *lines[2:]]).field == "extra"


def test_cli_replay_renders_and_reports(
    trace: tuple[Path, dict[str, dict[str, object]]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    dot = tmp_path / "run.dot"
    assert main(["replay", str(trace[0]), "--dot", str(dot), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["exact"] is True
    assert out["diagram"]["dot"] == str(dot)
    text = dot.read_text()
    assert text.startswith("digraph trace")
    assert "FetchDataRequest" in text
    assert (out["diagram"]["svg"] is not None) == dot_available()
    assert main(["replay", str(trace[0])]) == 0
    assert "replayed exactly" in capsys.readouterr().out


def test_cli_replay_rejects_a_malformed_trace(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"type":"header"}\n', encoding="utf-8")
    assert main(["replay", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "line 1" in err
    assert "format" in err
    assert main(["replay", str(tmp_path / "missing.jsonl")]) == 2


def test_render_labels_and_truncation(
    trace: tuple[Path, dict[str, dict[str, object]]], tmp_path: Path
) -> None:
    records = [json.loads(line) for line in _lines(trace[0])]
    graph = render_trace(records, max_rows=5)
    text = graph.to_string()
    assert "not shown: beyond the diagram's row limit" in text
    assert 'L0_h [label="w0\\nwriter' in text
    dot, svg = write_diagram(records, tmp_path / "d.dot", max_rows=20)
    assert dot.exists()
    assert (svg is not None) == dot_available()
    offer = {"type": "SnapshotOffer", "info": {"anchor": {"term": 1, "index": 5}, "items_count": 3}}
    assert describe_message(offer) == "SnapshotOffer (1,5) n=3"
    assert describe_message({"type": "RequestSnapshot"}) == "RequestSnapshot"


def test_a_version_1_trace_is_upgraded_by_re_verifying_it() -> None:
    """``python -m spec.sim.upgrade``: a version-1 trace (no world digests, no rewritten
    messages, corrupt_response's delta as drawn) is re-executed and re-recorded; a line
    the model does not reproduce is refused."""
    from spec.sim.upgrade import upgrade_v1

    v2 = (Path(__file__).resolve().parent.parent / "docs/findings/H10.trace.jsonl").read_text(
        encoding="utf-8"
    )
    lines = v2.splitlines()
    v1 = []
    for line in lines:
        record = json.loads(line)
        record.pop("world", None)
        record.pop("rewritten", None)
        if record["type"] == "header":
            record["version"] = 1
        if record.get("action") == "corrupt_response":
            record["args"]["delta"] = -1  # version 1 recorded the drawn delta
        v1.append(canonical_json(record))
    assert upgrade_v1(v1) == lines
    with pytest.raises(TraceError, match="version 1"):
        replay_lines(v1)
    broken = list(v1)
    step = json.loads(broken[5])
    step["now_ms"] += 1
    broken[5] = canonical_json(step)
    with pytest.raises(TraceError) as info:
        upgrade_v1(broken)
    assert info.value.line == 6


def _older(lines: list[str], version: int) -> list[str]:
    """``lines`` as an older writer recorded them: no ``behaviours``/``transport`` in the
    setup (which re-records with both empty), ``break_bond``'s counts only when not 0, and
    for version 1 no world digests and no rewritten messages."""
    out = []
    for line in lines:
        record = json.loads(line)
        if record["type"] == "header":
            record["version"] = version
            for key in ("behaviours", "transport"):
                assert record["setup"].pop(key) == []
        if version == 1:
            record.pop("world", None)
            record.pop("rewritten", None)
        if record.get("action") == "break_bond":
            record["args"] = {k: v for k, v in record["args"].items() if v != 0}
        out.append(canonical_json(record))
    return out


@pytest.mark.parametrize("version", [1, 2])
def test_a_trace_from_before_behaviours_and_transport_is_upgraded(version: int) -> None:
    """A version-1 trace, or an early version-2 one (written before the setup listed
    ``behaviours`` and ``transport``), is re-executed with both off and re-recorded; the
    strict reader refuses it until then, naming the missing field."""
    from spec.sim.upgrade import upgrade

    path = Path(__file__).resolve().parent.parent / "docs/findings/H3.trace.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines()
    assert any('"action":"break_bond"' in line for line in lines)
    old = _older(lines, version)
    assert upgrade(old) == lines
    with pytest.raises(TraceError) as info:
        replay_lines(old)
    assert info.value.field == ("version" if version == 1 else "setup.behaviours")
    broken = list(old)
    step = json.loads(broken[3])
    step["outcomes"] = []
    broken[3] = canonical_json(step)
    with pytest.raises(TraceError) as info:
        upgrade(broken)
    assert info.value.line == 4
