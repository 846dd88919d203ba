"""Implementation event logs: the format, trace conversion, snapsync validate, causality.

The validator must accept what the spec allows (every converted simulator trace
under reference, unlogged polls, free election timing, another order of fetch
targets) and reject what it does not, at the line where it stops being explained:
the findings runs of docs/findings under mosaik's hazards, and logs with one event
tampered.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

import impl.session as session_module
from impl.collections.map import MapInsert
from impl.profile import MOSAIK_0_3_13, REFERENCE, Behaviour, get_profile
from impl.types import PeerId
from spec.cli import main
from spec.conformance.causality import check_causality
from spec.conformance.convert import ConvertedLog, logs_from_trace, logs_from_trace_file
from spec.conformance.events import EventKind, EventLog, EventLogError, read_log_lines
from spec.conformance.sequences import ops_of
from spec.conformance.validate import LogValidator, Verdict, attribute, validate_log
from spec.hunt.driver import Driver
from spec.hunt.scenario import GroupShape, build_group, world_setup
from spec.model.actions import (
    ACTIONS,
    ActionNotEnabled,
    break_bond,
    client_write,
    deliver_message,
    node_poll_action,
)
from spec.sim.trace import TraceReader, decode_args, setup_from_header
from spec.sim.workload import SimulationSpec, simulate

ROOT = Path(__file__).resolve().parents[1]
FINDINGS = ROOT / "docs" / "findings"
SCHEMA = ROOT / "spec" / "schemas" / "events.schema.json"


def _read(log: ConvertedLog, lines: list[str] | None = None) -> EventLog:
    return read_log_lines(lines if lines is not None else log.lines(), f"{log.name}.events")


def _sim_logs(tmp_path: Path, name: str, **spec: Any) -> dict[str, ConvertedLog]:
    path = tmp_path / f"{name}.trace.jsonl"
    simulate(SimulationSpec(**spec), trace_path=path)
    return logs_from_trace_file(path)


def _finding_run(name: str, profile: Any = None) -> list[str]:
    """The docs/findings run ``name`` re-driven (under ``profile`` if given) and drained:
    the hunt's actions, then fair delivery to quiescence or the horizon."""
    reader = TraceReader.open(FINDINGS / f"{name}.trace.jsonl")
    driver: Driver | None = None
    for line in reader.records():
        record = line.record
        if record["type"] == "header":
            setup = setup_from_header(record)
            if profile is not None:
                from dataclasses import replace

                setup = replace(setup, profile=profile)
            driver = Driver(setup)
        elif record["type"] == "step":
            assert driver is not None
            try:
                driver.do(ACTIONS[record["action"]], **decode_args(record["args"]))
            except ActionNotEnabled:
                break  # under another profile the run went elsewhere: drain from here
    assert driver is not None
    driver.drain()
    path = Path(f"/tmp/snapsync-test-{name}-{profile.name if profile else 'own'}.jsonl")
    driver.write_trace(path, seed=None)
    return path.read_text(encoding="utf-8").split("\n")


# -- the format ---------------------------------------------------------------------------------


def test_every_converted_line_matches_the_schema(tmp_path: Path) -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    logs = logs_from_trace_file(FINDINGS / "H3.trace.jsonl")
    logs.update(_sim_logs(tmp_path, "s", collection="set", items=30, batch=4, providers=2))
    kinds = set()
    for log in logs.values():
        for line in log.lines():
            record = json.loads(line)
            validator.validate(record)
            kinds.add(record.get("event", "header"))
    assert {"start", "bond_up", "recv", "send", "append", "commit", "install", "session"} <= kinds
    with pytest.raises(jsonschema.ValidationError):
        validator.validate({"type": "event", "seq": 1, "time_ms": 0, "wall_ms": 0, "event": "x"})


def _lines() -> list[str]:
    return logs_from_trace_file(FINDINGS / "H1.trace.jsonl")["r8"].lines()


@pytest.mark.parametrize(
    ("kind", "edit", "field"),
    [
        ("header", lambda r: r.pop("logged"), "logged"),
        ("header", lambda r: r.update(kind="tree"), "kind"),
        ("header", lambda r: r.update(logged=["send"]), "logged[0]"),
        ("start", lambda r: r.update(seq=7), "seq"),
        ("start", lambda r: r.update(extra=1), "extra"),
        ("start", lambda r: r.update(time_ms=-1), "time_ms"),
        ("bond_up", lambda r: r.update(peer="AB" * 32), "peer"),
        ("recv", lambda r: r["message"].update(leader_commit="1"), "message.leader_commit"),
        ("recv", lambda r: r.update(cause={"peer": r["from"]}), "cause.seq"),
        ("send", lambda r: r.update(to=None), "to"),
    ],
)
def test_malformed_lines_name_the_line_and_the_field(kind: str, edit: Any, field: str) -> None:
    lines = _lines()
    line = next(
        i + 1
        for i, text in enumerate(lines)
        if json.loads(text).get("event", json.loads(text)["type"]) == kind
    )
    record = json.loads(lines[line - 1])
    edit(record)
    lines[line - 1] = json.dumps(record)

    def read_and_validate() -> None:
        # A message is decoded when the validator reads it.
        validate_log(read_log_lines(lines, "x.jsonl"), REFERENCE)

    with pytest.raises(EventLogError) as err:
        read_and_validate()
    assert err.value.line == line
    assert err.value.field == field
    assert str(err.value).startswith(f"x.jsonl line {line}: field {field}")


def test_the_cli_reports_a_malformed_log_in_one_line(tmp_path: Path, capsys: Any) -> None:
    lines = _lines()
    lines[3] = lines[3].replace('"seq":3', '"seq":"3"')
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert main(["validate", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["snapsync: error: bad.jsonl line 4: field seq: expected an integer, got string"]
    (tmp_path / "dup.jsonl").write_text('{"type":"header","type":"header"}\n', encoding="utf-8")
    assert main(["validate", str(tmp_path / "dup.jsonl")]) == 2
    assert "duplicate key" in capsys.readouterr().err


# -- what the spec allows is accepted ----------------------------------------------------------


@pytest.mark.parametrize(
    "spec",
    [
        {"collection": "map", "items": 60, "batch": 7, "providers": 3, "writes_during_sync": 5},
        {"collection": "vec", "items": 30, "batch": 3, "seed": 3},
        {"collection": "set", "items": 40, "batch": 10, "providers": 2, "writes_during_sync": 8},
        {"collection": "depq", "items": 20, "batch": 4, "seed": 7},
        {"collection": "cell", "items": 3, "seed": 2},
        {"collection": "once", "items": 1, "seed": 9},
    ],
)
def test_converted_simulator_traces_are_accepted(tmp_path: Path, spec: dict[str, Any]) -> None:
    logs = _sim_logs(tmp_path, "run", **spec)
    assert len(logs) >= 3
    hidden = 0
    for log in logs.values():
        verdict = validate_log(_read(log), REFERENCE)
        assert verdict.accepted, (log.name, verdict)
        assert not verdict.truncated
        hidden += verdict.hidden_polls
    assert hidden > 0  # the logs leave polls out: the search found them
    assert check_causality([_read(log) for log in logs.values()]) == []


def test_hunt_traces_with_faults_and_elections_are_accepted() -> None:
    # Findings traces are hunt runs under one hazard; their other nodes behave as the
    # reference does, with elections, bond breaks, restarts and transport faults.
    for name in ("H16", "H27", "H9", "H10"):
        lines = (FINDINGS / f"{name}.trace.jsonl").read_text(encoding="utf-8").split("\n")
        header = json.loads(lines[0])
        profile = get_profile("reference", header["setup"]["hazards"])
        for log in logs_from_trace(lines).values():
            verdict = validate_log(_read(log), profile)
            assert verdict.accepted, (name, log.name, verdict)


def test_unlogged_polls_are_searched_and_the_search_is_needed(tmp_path: Path) -> None:
    logs = _sim_logs(tmp_path, "m", collection="map", items=20, batch=3, providers=2)
    lagging = max(logs.values(), key=lambda log: validate_log(_read(log), REFERENCE).hidden_polls)
    assert validate_log(_read(lagging), REFERENCE).hidden_polls >= 2
    refused = validate_log(_read(lagging), REFERENCE, max_hidden=0)
    assert not refused.accepted
    assert "no step explains this output" in (refused.reason or "")
    # With every poll logged there is nothing to search.
    explicit = logs_from_trace_file(tmp_path / "m.trace.jsonl", explicit_polls=True)
    verdict = validate_log(_read(explicit[lagging.name]), REFERENCE, max_hidden=0)
    assert verdict.accepted
    assert verdict.hidden_polls == 0


def test_fetches_to_other_idle_peers_are_accepted(tmp_path: Path, monkeypatch: Any) -> None:
    """mosaik asks idle peers in hash-set order; the spec leaves that order open."""
    original = session_module.idle_peer_order

    def reversed_order(peers: Any, leader: Any) -> list[Any]:
        ordered = original(peers, leader)
        others = [p for p in ordered if p != leader]
        return others[::-1] + [p for p in ordered if p == leader]

    monkeypatch.setattr(session_module, "idle_peer_order", reversed_order)
    logs = _sim_logs(tmp_path, "p", collection="map", items=40, batch=4, providers=4)
    monkeypatch.setattr(session_module, "idle_peer_order", original)
    reordered = 0
    for log in logs.values():
        verdict = validate_log(_read(log), REFERENCE)
        assert verdict.accepted, (log.name, verdict)
    # The lagging node really asked in another order than the reference would:
    lagging = logs["r4"] if "r4" in logs else max(logs.values(), key=lambda x: len(x.records))
    for record in lagging.records:
        if record["event"] == "send" and record["message"]["type"] == "FetchDataRequest":
            reordered += 1
    assert reordered > 0


def test_an_election_is_accepted_only_where_a_node_may_stand() -> None:
    logs = logs_from_trace_file(FINDINGS / "H16.trace.jsonl")
    w0 = logs["w0"].lines()
    timers = [i for i, t in enumerate(w0) if '"timer":"election"' in t]
    assert timers, "w0's election timer fires in every hunt run"
    assert validate_log(read_log_lines(w0, "w0"), REFERENCE).accepted
    reader = logs["r1"].lines()
    forged = json.loads(w0[timers[0]])
    # An observer's log with an election timer in it: nothing explains it.
    forged["seq"] = len(reader)
    forged["time_ms"] = json.loads(reader[-1])["time_ms"]
    forged["wall_ms"] = json.loads(reader[-1])["wall_ms"]
    bad = validate_log(read_log_lines([*reader, json.dumps(forged)], "r1"), REFERENCE)
    assert not bad.accepted
    assert bad.line == len(reader) + 1
    assert "observer never stands" in (bad.reason or "")


# -- the findings runs are rejected at the right line ------------------------------------------

# Each hazard's run under its own profile (reference + Hx), drained: the line where the
# reference stops explaining it, described by what must be there.
EXPECTED_REJECTIONS: dict[str, tuple[str, str, str]] = {
    "H1": ("r8", "recv FetchDataResponse", "unsolicited_response"),
    "H2": ("r8", "send FetchDataRequest", "FetchDataRequest"),
    "H4": ("w0", "send SnapshotOffer", "SnapshotOffer"),
    "H6": ("r8", "", "RequestSnapshot"),
    "H7": ("r8", "", "RequestSnapshot"),
    "H9": ("r8", "session anchor", "stale_offer"),
    "H10": ("r8", "", "mismatched_response"),
    "H23": ("w0", "panic at vec.rs", "AppendEntries"),
    "H27": ("r1", "commit", ""),
}


@pytest.mark.parametrize("hazard", sorted(EXPECTED_REJECTIONS, key=lambda h: int(str(h)[1:])))
def test_findings_runs_are_rejected_where_the_hazard_acts(hazard: str) -> None:
    node, event, owed = EXPECTED_REJECTIONS[hazard]
    logs = logs_from_trace(_finding_run(hazard))
    log = _read(logs[node])
    verdict = validate_log(log, REFERENCE)
    assert not verdict.accepted
    assert event in (verdict.event or ""), verdict
    assert owed in (verdict.reason or "") + " ".join(verdict.allowed), verdict
    # Every other node's log is explained: the deviation is this node's.
    for other, converted in logs.items():
        if other != node and hazard not in ("H4", "H23"):
            assert validate_log(_read(converted), REFERENCE).accepted, other
    # The hazard's switch is what explains the node past that line: a diagnosis.
    blame = attribute(log, REFERENCE, verdict)
    assert hazard in [a.switch for a in blame if a.explained == blame[0].explained], blame
    assert validate_log(log, REFERENCE.with_hazards([hazard])).accepted


def test_findings_runs_under_mosaik_are_rejected_and_mosaik_explains_them() -> None:
    # The runs were recorded with readers abstaining: with readers-vote the readers'
    # acknowledgements change the prelude's traffic and the run goes elsewhere before r8
    # joins. These are session hazards, so mosaik's hazards without that behaviour.
    mosaik = MOSAIK_0_3_13.without_behaviours([Behaviour.READERS_VOTE])
    for hazard, node in (("H1", "r8"), ("H2", "r8"), ("H9", "r8"), ("H6", "r8")):
        logs = logs_from_trace(_finding_run(hazard, mosaik))
        log = _read(logs[node])
        verdict = validate_log(log, REFERENCE)
        assert not verdict.accepted, hazard
        assert verdict.line is not None
        assert verdict.line <= len(log.events) + 1
        assert validate_log(log, mosaik).accepted, hazard


# -- tampered logs are rejected at the tampered line -------------------------------------------


def _reference_run(tmp_path: Path) -> dict[str, ConvertedLog]:
    return _sim_logs(
        tmp_path, "t", collection="map", items=24, batch=3, providers=2, writes_during_sync=4
    )


def _find(lines: list[str], predicate: Any) -> Iterator[int]:
    for i, text in enumerate(lines):
        if i and predicate(json.loads(text)):
            yield i


def _is_response(r: dict[str, Any]) -> bool:
    return bool(r["event"] == "send" and r["message"]["type"] == "FetchDataResponse")


def _tamper(logs: dict[str, ConvertedLog], predicate: Any, edit: Any) -> tuple[Verdict, int]:
    for log in logs.values():
        lines = log.lines()
        hits = list(_find(lines, predicate))
        if not hits:
            continue
        at = hits[len(hits) // 2]
        record = json.loads(lines[at])
        edit(record)
        lines[at] = json.dumps(record)
        return validate_log(read_log_lines(lines, log.name), REFERENCE), at + 1
    raise AssertionError("nothing to tamper with")


def test_a_wrong_offset_is_rejected_at_its_line(tmp_path: Path) -> None:
    verdict, line = _tamper(
        _reference_run(tmp_path), _is_response, lambda r: r["message"].update(offset=99)
    )
    assert not verdict.accepted
    assert verdict.line == line
    assert "message.offset" in (verdict.reason or "")


def test_a_skipped_item_is_rejected_at_its_line(tmp_path: Path) -> None:
    def skip(r: dict[str, Any]) -> None:
        r["message"]["items"] = r["message"]["items"][1:]

    verdict, line = _tamper(
        _reference_run(tmp_path), lambda r: _is_response(r) and len(r["message"]["items"]) > 1, skip
    )
    assert not verdict.accepted
    assert verdict.line == line
    assert "message.items" in (verdict.reason or "")


def test_a_commit_going_backwards_is_rejected_at_its_line(tmp_path: Path) -> None:
    def back(r: dict[str, Any]) -> None:
        r["committed"]["index"] -= 2

    verdict, line = _tamper(
        _reference_run(tmp_path),
        lambda r: r["event"] == "commit" and r["committed"]["index"] > 3,
        back,
    )
    assert not verdict.accepted
    assert verdict.line == line
    assert "committed" in (verdict.reason or "")


def test_a_log_that_ends_mid_step_is_rejected(tmp_path: Path) -> None:
    logs = _reference_run(tmp_path)
    for log in logs.values():
        lines = log.lines()
        sends = list(_find(lines, lambda r: r["event"] == "send"))
        if sends:
            cut = lines[: sends[-1]]
            verdict = validate_log(read_log_lines(cut, log.name), REFERENCE)
            assert not verdict.accepted
            assert "the log ends" in (verdict.reason or "")
            return
    raise AssertionError("no send to cut")


def test_the_incremental_validator_agrees_with_the_batch_one() -> None:
    log = _read(logs_from_trace_file(FINDINGS / "H1.trace.jsonl")["r8"])
    v = LogValidator(log.header, REFERENCE)
    fed = [v.feed(e) for e in log.events]
    assert fed[-1] is True
    assert all(fed)
    assert not v.finish().accepted  # it owes the ignore at the end, as the batch says
    assert validate_log(log, REFERENCE).line == v.finish().line


# -- several logs together: causality ------------------------------------------------------------


def test_causality_problems_are_found(tmp_path: Path) -> None:
    logs = [_read(log) for log in _reference_run(tmp_path).values()]
    assert check_causality(logs) == []
    recv = next(
        (log, e) for log in logs for e in log.events if e.kind.value == "recv" and e.fields["cause"]
    )
    log, event = recv
    from dataclasses import replace

    cause = event.fields["cause"]
    # C1: a cause that names no send to this node.
    event.fields["cause"] = replace(cause, seq=cause.seq + 100_000)
    assert {p.id for p in check_causality(logs)} == {"C1"}
    # C2: the content changed in transit.
    event.fields["cause"] = cause
    original = dict(event.fields["message"])
    event.fields["message"] = {**original, "term": 99}
    assert {p.id for p in check_causality(logs)} == {"C2"}
    assert check_causality(logs, transport="any") == []
    event.fields["message"] = original
    # C4: received twice.
    twin = replace(event, seq=event.seq)
    log.events.append(twin)
    assert "C4" in {p.id for p in check_causality(logs)}
    log.events.pop()
    assert check_causality(logs) == []


def test_a_receive_before_its_send_is_a_cycle() -> None:
    logs = {n: _read(x) for n, x in logs_from_trace_file(FINDINGS / "H1.trace.jsonl").items()}
    r8, w0 = logs["r8"], logs["w0"]
    # r8's first receive from w0 moved before anything w0 did is fine; make w0's send of it
    # depend on a later r8 event instead: w0 receives (as its first event) r8's last send.
    last_send = next(
        e
        for e in reversed(r8.events)
        if e.kind.value == "send" and e.fields["to"] == w0.header.peer
    )
    first_recv = next(
        e for e in w0.events if e.kind.value == "recv" and e.fields["cause"] is not None
    )
    from spec.conformance.events import Cause

    first_recv.fields["cause"] = Cause(r8.header.peer, last_send.seq)
    first_recv.fields["from"] = r8.header.peer
    first_recv.fields["message"] = last_send.fields["message"]
    problems = check_causality(list(logs.values()), transport="any")
    assert "C3" in {p.id for p in problems}


def test_validate_cli_from_trace_and_attribution(tmp_path: Path, capsys: Any) -> None:
    trace = str(FINDINGS / "H1.trace.jsonl")
    assert main(["validate", "--from-trace", trace, "--save", str(tmp_path), "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    rejected = [log for log in out["logs"] if not log["accepted"]]
    assert [log["node"] for log in rejected] == ["r8"]
    assert (tmp_path / "r8.events.jsonl").exists()
    assert main(["validate", str(tmp_path / "r8.events.jsonl"), "--attribute"]) == 1
    text = capsys.readouterr().out
    assert "rejected" in text
    assert "reference+H1: the whole log" in text
    assert main(["validate", str(tmp_path / "r8.events.jsonl"), "--hazard", "H1"]) == 0
    assert main(["validate", "--from-trace", trace, "--node", "w0"]) == 0
    capsys.readouterr()
    assert main(["validate", "--from-trace", trace, "--node", "zz"]) == 2
    assert "no log of node" in capsys.readouterr().err


# -- mosaik's transport (deliver_after_break) and version behaviours ---------------------------


def _lines_of(d: Driver, tmp_path: Path, name: str) -> list[str]:
    return d.write_trace(tmp_path / f"{name}.trace.jsonl", seed=None).read_text("utf-8").split("\n")


def test_a_message_received_before_its_bond_broke_is_a_recv_after_the_bond_down() -> None:
    """H1-bond-break: r8 had received w0's answer when their bond broke; its log shows the
    recv after the bond_down, its step sees w0 in the bond table and re-runs the watchers,
    and the sequence ops say so (w0 in ctx.bonds, then bond_terminated w0)."""
    lines = (FINDINGS / "H1-bond-break.trace.jsonl").read_text(encoding="utf-8").split("\n")
    profile = setup_from_header(json.loads(lines[0])).profile
    logs = logs_from_trace(lines)
    for log in logs.values():
        assert validate_log(_read(log), profile).accepted, log.name
    r8 = _read(logs["r8"])
    w0 = PeerId.from_label("w0")
    down = next(e for e in r8.events if e.kind is EventKind.BOND_DOWN and e.fields["peer"] == w0)
    late = next(e for e in r8.events if e.kind is EventKind.RECV and e.seq > down.seq)
    assert late.fields["from"] == w0
    assert not any(e.kind is EventKind.BOND_UP and down.seq < e.seq < late.seq for e in r8.events)
    validator = LogValidator(r8.header, profile)
    for e in r8.events:
        assert validator.feed(e)
    steps = validator.explanation()
    assert any(s.kind == "recv" and w0 in s.table for s in steps)
    ops = ops_of(r8.header, steps, profile.name)
    i = next(
        k
        for k, op in enumerate(ops)
        if op["op"] == "receive"
        and op["from"] == w0.hex()
        and w0.hex() in op["ctx"]["bonds"]
        and k + 1 < len(ops)
        and ops[k + 1]["op"] == "bond_terminated"
    )
    assert ops[i + 1]["peer"] == w0.hex()


def test_a_broken_bond_still_in_the_bond_table_is_found_by_backtracking(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """w0 had received w1's acknowledgement when their bond broke: w1 stays in w0's bond
    table, so w0's next write does not drop w1 from its committee and commits nothing. The
    log shows no commit there, and w1's answer only later: the validator first assumes w1
    left the table at the bond_down, fails, and resumes from it with w1 in the table."""
    shape = GroupShape(kind="map", items=1, batch=1, writers=2, readers=1, lagging=0,
                       joint_election=True)  # fmt: skip
    d = Driver(world_setup(shape, REFERENCE))
    build_group(d, shape)
    d.do(client_write, "w0", (MapInsert(10, 10),))
    d.do(node_poll_action, "w0")
    d.do(deliver_message, "w0", "w1")  # w1 acknowledges; w0 receives it, unprocessed
    d.do(break_bond, "w0", "w1", received_by_a=1)
    d.do(client_write, "w0", (MapInsert(11, 11),))
    d.do(node_poll_action, "w0")
    assert d.world.nodes["w0"].node.committed.index == 1  # w1 is still a voter
    d.do(deliver_message, "w1", "w0")  # the acknowledgement, after the break
    assert d.world.nodes["w0"].node.committed.index == 2
    w0 = _read(logs_from_trace(_lines_of(d, tmp_path, "kept"))["w0"])
    assert validate_log(w0, REFERENCE).accepted
    monkeypatch.setattr(LogValidator, "_backtracked", lambda self, dying, stop, depth=0: [])
    monkeypatch.setattr(LogValidator, "_late", lambda self, h, e: [])
    refused = validate_log(w0, REFERENCE)
    assert not refused.accepted
    assert "commit" in (refused.reason or "")


def test_readers_vote_is_a_behaviour_the_validator_checks() -> None:
    """H16-readers runs under readers-vote: a reader grants and acknowledges. Its logs are
    accepted with the behaviour, and a reader's log is rejected without it, which
    --attribute names."""
    lines = (FINDINGS / "H16-readers.trace.jsonl").read_text(encoding="utf-8").split("\n")
    profile = setup_from_header(json.loads(lines[0])).profile
    assert profile.has(Behaviour.READERS_VOTE)
    logs = logs_from_trace(lines)
    readers = [n for n in logs if n.startswith("r")]
    for name in logs:
        assert validate_log(_read(logs[name]), profile).accepted, name
    without = {n: validate_log(_read(logs[n]), REFERENCE) for n in readers}
    rejected = [n for n, v in without.items() if not v.accepted]
    assert rejected
    log = _read(logs[rejected[0]])
    blame = attribute(log, REFERENCE, without[rejected[0]])
    assert blame[0].switch == "readers-vote"
    assert blame[0].accepted
