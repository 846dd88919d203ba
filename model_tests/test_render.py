"""Sequence diagrams: the red violation row, the lead-in and heartbeat bands, the marks.

The saved findings (docs/findings/*.trace.jsonl) are the inputs: their stories
are known (docs/findings.md). Each property is also shown to fail on a variant
of the trace that must not have it (a mutated record), so no check here holds
by construction.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from impl.errors import InvalidInput
from impl.profile import REFERENCE
from spec.cli import main
from spec.hunt.driver import Driver
from spec.hunt.findings import _main as findings_main
from spec.hunt.scenario import GroupShape, build_group, world_setup
from spec.model.actions import leave
from spec.render import dot_available, plan_diagram, render_trace, write_diagram
from spec.render.draw import VIOLATION_COLOUR
from spec.render.plan import Band, MarkKind, Plan, Row

FINDINGS = Path(__file__).resolve().parent.parent / "docs" / "findings"
Records = list[dict[str, Any]]


def _records(name: str) -> Records:
    path = FINDINGS / f"{name}.trace.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _row(plan: Plan, seq: int) -> Row:
    rows = [item for item in plan.items if isinstance(item, Row) and item.seq == seq]
    assert rows, f"step #{seq} is not drawn"
    return rows[0]


def _marks(plan: Plan, kind: MarkKind) -> list[tuple[int, str, str]]:
    return [
        (item.seq, m.node, m.text)
        for item in plan.items
        if isinstance(item, Row)
        for m in item.marks
        if m.kind is kind
    ]


def _red_nodes(dot: str) -> list[str]:
    """The step labels and lifeline marks drawn in the violation colour (not arrows, legend)."""
    return [
        line
        for line in dot.splitlines()
        if re.match(r"^(T|L\d+)_\d+ \[", line) and VIOLATION_COLOUR in line
    ]


def _step(records: Records, seq: int) -> dict[str, Any]:
    return next(r for r in records if r.get("type") == "step" and r["seq"] == seq)


@pytest.fixture(scope="module")
def timers(tmp_path_factory: pytest.TempPathFactory) -> Records:
    """A clean reference run: r8 catches up, the snapshots expire, w0 leaves, w1 stands."""
    shape = GroupShape(items=2, batch=1, writers=2, readers=1, lagging=1, joint_election=True)
    driver = Driver(world_setup(shape, REFERENCE))
    build_group(driver, shape)
    driver.settle(10_000)
    driver.do(leave, "w0")
    driver.settle(10_000)
    path = driver.write_trace(tmp_path_factory.mktemp("render") / "timers.jsonl", seed=None)
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


# -- the violating step --------------------------------------------------------------------------


def test_the_violating_step_is_red_and_labelled() -> None:
    plan = plan_diagram(_records("H1"))
    row = _row(plan, 65)
    assert row.finding
    # The detail as recorded, each short peer id glossed with its lifeline.
    assert row.violations[0] == "I4 at r8: fetched@0 [0,1) overlaps inflight 4ada4591 (r2) from 0"
    assert (65, "r8", "✗ I4") in _marks(plan, MarkKind.VIOLATION)
    red = _red_nodes(render_trace(_records("H1")).to_string())
    assert len(red) == 4  # #65 and #66: the step label and the mark on r8
    assert red[0].startswith("T_")
    assert "✗ I4 at r8: fetched@0 [0,1)" in red[0]


def test_a_hunt_check_recorded_only_in_the_header_is_red_too() -> None:
    # H6's E1 is a hunt check: no step record carries it, the header's meta.hunt does.
    records = _records("H6")
    assert not any(r.get("violations") for r in records if r.get("type") == "step")
    row = _row(plan_diagram(records), 41)
    assert row.finding
    assert row.violations[0].startswith("E1 at r8: session lost its last source at 5000 ms")


def test_a_trace_without_violations_renders_without_red(timers: Records) -> None:
    plan = plan_diagram(timers)
    assert not any(isinstance(i, Row) and (i.violations or i.finding) for i in plan.items)
    assert not _marks(plan, MarkKind.VIOLATION)
    assert not _red_nodes(render_trace(timers).to_string())
    # The check can fail: one recorded violation makes its step red.
    broken = copy.deepcopy(timers)
    step = _step(broken, 60)
    step["violations"] = [{"id": "I4", "node": "r8", "detail": "made up", "step": 60}]
    assert _row(plan_diagram(broken), 60).violations == ["I4 at r8: made up"]
    assert len(_red_nodes(render_trace(broken).to_string())) == 2


# -- the lead-in and heartbeat bands -------------------------------------------------------------


def test_the_lead_in_band_hides_everything_before_the_first_catch_up_start() -> None:
    records = _records("H6")
    plan = plan_diagram(records)
    band = plan.items[0]
    assert isinstance(band, Band)
    assert (band.kind, band.first, band.last) == ("lead-in", 1, 26)
    assert "joined: w0, r1, r8" in band.summary
    assert "leading: w0 (term 1)" in band.summary
    first = plan.items[1]
    assert isinstance(first, Row)
    assert first.seq == 27
    assert any(m.text.startswith("catch-up starts (Q0)") for m in first.marks)
    # Drawn in full, nothing before #27 is marked but w0's first election: formation only.
    full = plan_diagram(records, collapse=False)
    early = [(i.seq, m.node, m.text) for i in full.items if isinstance(i, Row) for m in i.marks]
    assert [m for m in early if m[0] < 27] == [(2, "w0", "election timeout:\nRequestVote")]
    assert not any(isinstance(i, Band) for i in full.items)


def test_the_lead_in_ends_at_the_first_fault() -> None:
    records = copy.deepcopy(_records("H6"))
    # A fault in the middle of group formation: the lead-in must stop before it.
    step = _step(records, 10)
    step.update(action="set_clock_skew", args={"name": "w0", "skew_ms": 50}, outcomes=[])
    plan = plan_diagram(records)
    band = plan.items[0]
    assert isinstance(band, Band)
    assert (band.first, band.last) == (1, 9)
    row = _row(plan, 10)
    assert [m.kind for m in row.marks] == [MarkKind.FAULT]


def _is_heartbeat(message: Mapping[str, Any]) -> bool:
    if message.get("type") == "AppendEntriesResponse":
        return True
    return message.get("type") == "AppendEntries" and not message.get("entries")


def test_heartbeat_bands_hold_only_heartbeat_traffic() -> None:
    records = _records("H16")
    plan = plan_diagram(records)
    assert plan.steps == 429
    assert len(plan.items) < 60, "a 429-step run must fit on a page"
    messages = {
        item["mid"]: item["message"]
        for r in records
        if r.get("type") == "step"
        for item in r["sent"]
    }
    bands = [i for i in plan.items if isinstance(i, Band) and i.kind == "heartbeats"]
    assert bands
    for band in bands:
        for seq in range(band.first, band.last + 1):
            step = _step(records, seq)
            assert step["action"] in ("node_poll", "advance_time", "deliver_message")
            assert step["lost"] == step["dropped"] == step["violations"] == []
            carried = [i["message"] for i in step["sent"]] + [
                messages[m] for m in step["delivered"]
            ]
            assert all(_is_heartbeat(m) for m in carried), seq
    # The retry cycles are drawn, not banded: the timers fire at w1 and r8 every 6 s.
    fired = [(s, n) for s, n, t in _marks(plan, MarkKind.TIMER) if t.startswith("retry timer")]
    assert {(112, "r8"), (112, "w1")} <= set(fired)
    assert len(fired) == 8  # at 8.5, 14.5, 20.5 and 26.5 s; the trace ends at 31.5 s


def test_the_row_limit_keeps_the_violation_rows() -> None:
    plan = plan_diagram(_records("H1"), max_rows=3)
    assert len(plan.items) == 6  # 3 items, the band of the rest, the two red rows after it
    limit = plan.items[3]
    assert isinstance(limit, Band)
    assert limit.kind == "not shown"
    assert [i.seq for i in plan.items[4:] if isinstance(i, Row)] == [65, 66]
    with pytest.raises(InvalidInput, match="max_rows"):
        plan_diagram(_records("H1"), max_rows=0)


# -- timer and catch-up marks --------------------------------------------------------------------


def test_a_fetch_timeout_is_marked_and_the_missing_retry_shows_at_the_end() -> None:
    plan = plan_diagram(_records("H6"))
    expiry = (41, "r8", "fetch timeout (Q9):\nrequest to w0 [0,1) (#39) expired")
    assert expiry in _marks(plan, MarkKind.TIMER)
    assert (38, "r8", "retry timer stopped") in _marks(plan, MarkKind.CATCH_UP)
    assert plan.end["r8"][-1] == "catch-up timers: none armed"
    # H7: the same run with the retry timer re-armed by the loss of the source.
    h7 = plan_diagram(_records("H7"))
    assert (41, "r8", "retry timer armed:\nfires at 11000 ms") in _marks(h7, MarkKind.CATCH_UP)
    assert h7.end["r8"][-1] == "catch-up timers: retry at 11000 ms"


def test_a_cancelled_timer_that_was_not_due_is_no_expiry() -> None:
    records = copy.deepcopy(_records("H6"))
    # Move the fetch timer's recorded deadline past step 41: its CancelTimer is no expiry.
    for outcome in _step(records, 39)["outcomes"]:
        for effect in outcome["effects"]:
            if effect.get("type") == "ArmTimer":
                effect["deadline_ms"] = 9_000
    assert not [m for m in _marks(plan_diagram(records), MarkKind.TIMER) if m[0] == 41]


def test_timer_marks_of_every_kind(timers: Records) -> None:
    plan = plan_diagram(timers)
    marks = _marks(plan, MarkKind.TIMER)
    ttl = {node for _, node, text in marks if text.startswith("snapshot (1,3) TTL expired")}
    assert ttl == {"w0", "w1", "r1"}
    assert any(n == "w1" and t == "election timeout:\nRequestVote t2" for _, n, t in marks)
    # w0's first election: its deadline is join_late's election_timeout_ms (no ArmTimer);
    # it fires at #4, the clock's first move (w0, w1 and r1 join first: readers may vote).
    full = _marks(plan_diagram(timers, collapse=False), MarkKind.TIMER)
    assert (4, "w0", "election timeout:\nRequestVote t1") in full
    catch_up = [text.split("\n")[0] for _, node, text in _marks(plan, MarkKind.CATCH_UP)]
    assert "catch-up starts (Q0):" in catch_up
    assert "anchor (1,3) selected" in catch_up
    assert "P2: TakeSnapshot queued for r8" in catch_up
    finalize = _marks(plan, MarkKind.FINALIZE)
    assert [(n, t.split("\n")[0]) for _, n, t in finalize] == [
        ("r8", "finalize (Q12): installs 2 items")
    ]
    assert (_marks(plan, MarkKind.FAULT)[0][1:]) == ("w0", "leaves (its bonds break)")


def test_buffered_entries_show_the_hole_of_h3() -> None:
    plan = plan_diagram(_records("H3"))
    buffered = [(s, n, t) for s, n, t in _marks(plan, MarkKind.CATCH_UP) if "buffers" in t]
    assert buffered == [
        (22, "r8", "buffers entry 2 (Q13),\nno answer"),
        (33, "r8", "buffers entry 3 (Q13),\nno answer"),
        (52, "r8", "buffers entry 5 (Q13),\nno answer"),  # 4 was lost at #44: I7
    ]
    h16 = plan_diagram(_records("H16"))
    assert (367, "w1", "buffers entries 13–14 (Q13),\nno answer") in _marks(h16, MarkKind.CATCH_UP)


def test_an_anchor_upgrade_is_marked() -> None:
    records = copy.deepcopy(_records("H1"))
    # Make r8's request at #52 ask for a newer anchor: the diagram must call it an upgrade.
    for item in _step(records, 52)["sent"]:
        item["message"]["anchor"] = {"term": 1, "index": 7}
    texts = [t for s, n, t in _marks(plan_diagram(records), MarkKind.CATCH_UP) if s == 52]
    assert texts == ["anchor upgraded (1,3) → (1,7)\n(first fetch)"]


# -- arrows --------------------------------------------------------------------------------------


def test_arrows_show_what_was_delivered_lost_and_left_queued() -> None:
    h6 = plan_diagram(_records("H6"))
    queued = [(a.src, a.dst, a.text) for a in h6.arrows if a.fate == "queued"]
    assert ("r8", "w0", "FetchDataRequest (1,4) [0,1)") in queued
    assert not any(
        a.text.startswith("AppendEntries t1 prev (1,4) +0") for a in h6.arrows if a.fate == "queued"
    )
    h3 = plan_diagram(_records("H3"))
    lost = [(a.src, a.dst, a.text) for a in h3.arrows if a.fate == "lost"]
    assert ("w0", "r8", "AppendEntries t1 prev (1,3) +1 commit 3") in lost
    notes = [(s, n, t) for s, n, t in _marks(h3, MarkKind.NOTE)]
    assert (44, "r8", "5 heartbeats from w0 lost") in notes
    # A response rewritten in its queue (H2's short response) is drawn as delivered, and says so.
    h2 = plan_diagram(_records("H2"))
    (corrupted,) = [a for a in h2.arrows if "corrupted" in a.text]
    assert corrupted.text == "FetchDataResponse (1,5) @0 n=1 (corrupted at #71: short_response)"
    assert (corrupted.sent_seq, corrupted.end_seq) == (64, 73)


# -- determinism, files, commands ----------------------------------------------------------------


def test_rendering_is_deterministic(tmp_path: Path) -> None:
    records = _records("H16")
    a, _ = write_diagram(records, tmp_path / "a.dot", name="H16")
    b, _ = write_diagram(copy.deepcopy(records), tmp_path / "b.dot", name="H16")
    assert a.read_bytes() == b.read_bytes()


@pytest.mark.parametrize(
    "trace", sorted(FINDINGS.glob("*.trace.jsonl")), ids=lambda p: p.name.split(".")[0]
)
def test_saved_diagrams_are_current(trace: Path) -> None:
    """Each docs/findings diagram is what the renderer draws from its trace today.

    If this fails, redraw them: ``python -m spec.hunt.findings --redraw docs/findings``.
    """
    name = trace.name.removesuffix(".trace.jsonl")
    records = [json.loads(line) for line in trace.read_text(encoding="utf-8").splitlines()]
    saved = trace.with_name(f"{name}.dot").read_text(encoding="utf-8")
    assert saved == render_trace(records, name=name).to_string()


def test_redraw_rewrites_diagrams_and_leaves_traces(tmp_path: Path) -> None:
    for name in ("H6", "H7"):
        shutil.copyfile(FINDINGS / f"{name}.trace.jsonl", tmp_path / f"{name}.trace.jsonl")
    (tmp_path / "H6.dot").write_text("stale", encoding="utf-8")
    before = {p.name: p.read_bytes() for p in tmp_path.glob("*.trace.jsonl")}
    assert findings_main(["--redraw", str(tmp_path)]) == 0
    assert {p.name: p.read_bytes() for p in tmp_path.glob("*.trace.jsonl")} == before
    for name in ("H6", "H7"):
        dot = (tmp_path / f"{name}.dot").read_text(encoding="utf-8")
        assert dot == (FINDINGS / f"{name}.dot").read_text(encoding="utf-8")
        assert (tmp_path / f"{name}.svg").exists() == dot_available()


def test_cli_replay_draws_bands_unless_every_step_is_asked_for(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trace = str(FINDINGS / "H6.trace.jsonl")
    assert main(["replay", trace, "--dot", str(tmp_path / "a.dot"), "--json"]) == 0
    assert main(["replay", trace, "--dot", str(tmp_path / "b.dot"), "--all-steps"]) == 0
    banded = (tmp_path / "a.dot").read_text(encoding="utf-8")
    full = (tmp_path / "b.dot").read_text(encoding="utf-8")
    assert "lead-in:" in banded
    assert "lead-in:" not in full
    assert banded.count("rank=same") < full.count("rank=same")
    capsys.readouterr()
    assert main(["replay", trace, "--dot", str(tmp_path / "c.dot"), "--max-rows", "0"]) == 2
    assert "--max-rows: must be in [1, " in capsys.readouterr().err
