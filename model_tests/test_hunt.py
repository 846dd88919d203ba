"""``snapsync hunt``, the hunt runner, its meta-tests, and the findings kept as regressions.

* Meta-test: with each hazard switch on (alone, on ``reference``) the stateful
  suite fails — every check that matters can fail. H21 is not a switch: "a
  catch-up session always knows its leader" is checked on every step (``STEP``),
  and a mutant R10 that breaks it is caught.
* The ``reference`` run passes; ``mosaik-0.3.13`` fails.
* Every finding under ``docs/findings/`` is re-driven and still found, and its
  trace replays exactly (``snapsync replay``).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

import impl.raft
from impl.collections.map import MapInsert
from impl.config import Config
from impl.effects import Effect
from impl.node_state import FollowerRole, NodeContext, NodeState
from impl.profile import MOSAIK_0_3_13, REFERENCE, Behaviour, Hazard
from impl.types import PeerId, Term
from spec.cli import main
from spec.hunt.campaigns import CAMPAIGNS, LIMITATION_CAMPAIGNS, order_for
from spec.hunt.findings import expected_finding, recheck
from spec.hunt.runner import ENGINES, hunt
from spec.model.actions import start_election_action
from spec.model.invariants import Violation
from spec.model.state import WorldSetup
from spec.sim.replay import replay_file
from spec.sim.simulator import SimOptions, Simulator

FINDINGS = Path(__file__).resolve().parent.parent / "docs" / "findings"


_OWN_SHAPE = frozenset({Hazard.H31})
"""Hazards only a campaign's own group shape reaches (see the test below)."""


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("hazard", list(Hazard), ids=lambda h: h.value)
def test_meta_each_hazard_switch_makes_the_suite_fail(hazard: Hazard, engine: str) -> None:
    # H31 needs two quorums of one term, so five writers: only figure-8 draws that group,
    # and among every campaign it gets too few walks in 30 s on a loaded machine (alone
    # it finds H31 in about 4 s). Every other hazard is found with every campaign.
    campaigns = (
        [c for c in CAMPAIGNS if hazard.value in c.aims]
        if hazard in _OWN_SHAPE
        else order_for([hazard])
    )
    report = hunt(
        REFERENCE.with_hazards([hazard]),
        budget_s=30,
        seed_base=1,
        stop_on_first=True,
        shrink=False,
        campaigns=campaigns,
        engine=engine,
    )
    assert report.violations, f"{hazard.value}: nothing found in {report.elapsed_s:.1f} s"
    assert report.engine == engine


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("behaviour", list(Behaviour), ids=lambda b: b.value)
def test_meta_each_behaviour_switch_makes_the_suite_fail(behaviour: Behaviour, engine: str) -> None:
    """readers-vote: readers become voters, so one reader that misses an AppendEntries
    deadlocks a one-writer group (H16 with readers: L4, not the writers-only limitation)."""
    report = hunt(
        REFERENCE.with_behaviours([behaviour]),
        budget_s=30,
        seed_base=1,
        stop_on_first=True,
        shrink=False,
        campaigns=order_for([behaviour]),
        engine=engine,
    )
    assert report.violations, f"{behaviour.value}: nothing found in {report.elapsed_s:.1f} s"
    # L4 when the reader voter is still catching up at the end of the drain; since the
    # provider campaigns' expire_ttl rule changed what the Hypothesis engine draws, its
    # first find under seed 1 is the same stall with the reader voter no longer in a
    # session (L1: "leader w0 has uncommitted entries"). Both are the behaviour's stall.
    first = report.violations[0]
    assert first.id in ("L4", "L1")
    if first.id == "L1":
        assert "uncommitted entries" in first.detail


def _election_during_catch_up() -> list[Violation]:
    """w0 leads, w1 follows; r2 joins late and starts a session, then w1 stands at a higher
    term: its RequestVote reaches r2 during catch-up (R10 with no leader named)."""
    setup = WorldSetup("map", Config().with_fetch_batch_size(1), REFERENCE, frozenset())
    sim = Simulator(setup, SimOptions(seed=3))
    sim.join("w0", writer=True)
    sim.join("w1", writer=True)
    assert sim.run_until(lambda w: w.nodes["w1"].node.online, limit_ms=20_000)
    sim.write("w0", tuple(MapInsert(i, i) for i in range(20)))
    assert sim.run_until(
        lambda w: w.nodes["w1"].node.committed.index >= 20, limit_ms=sim.world.now_ms + 5_000
    )
    sim.join("r2", writer=False)
    assert sim.run_until(
        lambda w: w.nodes["r2"].node.catchup is not None, limit_ms=sim.world.now_ms + 5_000
    )
    term = sim.world.nodes["r2"].node.term
    sim.act(start_election_action, "w1")
    assert sim.run_until(
        lambda w: w.nodes["r2"].node.term > term, limit_ms=sim.world.now_ms + 2_000
    )
    assert sim.world.nodes["r2"].node.leader is None  # a RequestVote names no leader
    return sim.violations


def test_meta_a_session_without_a_leader_is_caught_on_a_mutant_r10(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # H21 is not a switch: a session always knows its leader, checked on every step.
    assert _election_during_catch_up() == []
    real = impl.raft.role_step_down

    def keep_the_session(
        node: NodeState, ctx: NodeContext, term: Term, leader: PeerId | None
    ) -> tuple[NodeState, tuple[Effect, ...]]:
        # Mutant R10: clears the leader but keeps the follower's session.
        stepped, effects = real(node, ctx, term, leader)
        session = node.catchup
        if session is None or stepped is node or not isinstance(stepped.role, FollowerRole):
            return stepped, effects
        role = replace(stepped.role, leader=None, catchup=session)
        return replace(stepped, role=role), effects

    monkeypatch.setattr(impl.raft, "role_step_down", keep_the_session)
    found = _election_during_catch_up()
    assert [(v.id, v.node) for v in found] == [("STEP", "r2")]
    assert "no known leader" in found[0].detail


@pytest.mark.parametrize("engine", ENGINES)
def test_reference_hunt_finds_nothing(engine: str) -> None:
    report = hunt(
        REFERENCE, budget_s=8, seed_base=1000, examples_per_call=6, walks_per_call=3, engine=engine
    )
    assert report.violations == [], [v.as_json() for v in report.violations]
    assert report.rule_steps > 0
    assert report.model_steps > report.rule_steps
    assert {e["limitation"] for e in report.excluded} == {"H16", "H29"}
    assert report.coverage.get("session_finalize", 0) > 0


@pytest.mark.parametrize("engine", ENGINES)
def test_mosaik_hunt_finds_a_violation(engine: str) -> None:
    report = hunt(
        MOSAIK_0_3_13, budget_s=20, seed_base=1, stop_on_first=True, shrink=False, engine=engine
    )
    assert report.violations


def test_swarm_hunt_shrinks_and_saves_a_replayable_trace(tmp_path: Path) -> None:
    report = hunt(
        REFERENCE.with_hazards([Hazard.H4]),
        budget_s=30,
        seed_base=1,
        stop_on_first=True,
        campaigns=order_for([Hazard.H4]),
        trace_dir=tmp_path,
        shrink_budget_s=10,
    )
    (v,) = report.violations
    assert v.shrunk_steps <= 12, v.program
    assert v.trace is not None
    result = replay_file(v.trace)
    assert result.exact, result.divergence
    assert v.id in {f.id for f in recheck(v.trace)}


@pytest.mark.parametrize("engine", ENGINES)
def test_limitations_are_reported_not_counted(engine: str) -> None:
    report = hunt(
        REFERENCE,
        budget_s=2,
        seed_base=1,
        campaigns=LIMITATION_CAMPAIGNS,
        include_limitations=True,
        examples_per_call=3,
        walks_per_call=3,
        engine=engine,
    )
    assert report.violations == []
    found = {lim["limitation"] for lim in report.limitations}
    # Hypothesis's short examples reach the writer partition (H29) less often in 2 s.
    assert found == {"H16", "H29"} if engine == "swarm" else "H16" in found <= {"H16", "H29"}
    assert report.excluded == []


def test_campaign_order_puts_aimed_first() -> None:
    assert order_for(["H9"])[0].name == "stale-offers"
    assert len(order_for([])) == len(CAMPAIGNS)


# -- the CLI ----------------------------------------------------------------------------------


def test_cli_hunt_json_reports_a_violation_with_a_replayable_trace(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(
        [
            "hunt",
            "--profile",
            "reference",
            "--hazard",
            "H9",
            "--budget",
            "30",
            "--seed",
            "1",
            "--stop-on-first",
            "--traces",
            str(tmp_path),
            "--json",
        ]
    )
    out = json.loads(capsys.readouterr().out)
    assert status == 1
    assert out["profile"] == "reference+H9"
    assert out["steps"] > 0
    assert out["steps_per_s"] > 0
    (v,) = out["violations"]
    assert v["id"] == "FRESH"
    assert v["time_to_find_s"] >= 0
    assert v["shrunk_steps"] >= 1
    result = replay_file(v["trace"])
    assert result.exact, result.divergence
    assert "FRESH" in {f.id for f in recheck(v["trace"])}


def test_cli_hunt_reference_human_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["hunt", "--budget", "2", "--campaign", "positions", "--examples", "3"]
    status = main([*argv, "--traces", str(tmp_path)])
    out = capsys.readouterr().out
    assert status == 0
    assert "no violation found" in out
    assert "excluded" in out
    assert "H16" in out


def test_cli_hunt_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["hunt", "--list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    every = CAMPAIGNS + LIMITATION_CAMPAIGNS
    assert {r["name"] for r in rows} == {c.name for c in every}
    assert {r["name"] for r in rows if r["limitation"]} == {c.name for c in LIMITATION_CAMPAIGNS}


@pytest.mark.parametrize(
    "argv",
    [
        ["hunt", "--budget", "0"],
        ["hunt", "--hazard", "H99", "--budget", "1"],
        ["hunt", "--campaign", "nope", "--budget", "1"],
        ["hunt", "--examples", "0"],
        ["hunt", "--walks", "0"],
        ["hunt", "--shrink-budget", "-1"],
        ["hunt", "--engine", "nope"],
    ],
)
def test_invalid_hunt_arguments(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("snapsync")
    assert "error:" in err
    assert len(err.strip().splitlines()) == 1


# -- the findings, kept as regressions ----------------------------------------------------------

TRACES = sorted(
    p for p in FINDINGS.glob("*.trace.jsonl") if not p.name.endswith(".consequence.trace.jsonl")
)
"""The minimal runs (the consequence runs are checked in test_consequences.py)."""


def test_findings_exist() -> None:
    names = {p.name.split(".")[0] for p in TRACES}
    assert {"H1", "H3", "H4", "H6", "H1-bond-break", "H16-readers", "H29", "H30"} <= names
    for trace in TRACES:
        assert trace.with_name(trace.name.replace(".trace.jsonl", ".dot")).exists()


@pytest.mark.parametrize("trace", TRACES, ids=lambda p: p.name.split(".")[0])
def test_finding_replays_exactly_and_is_still_found(trace: Path) -> None:
    result = replay_file(trace, keep_records=False)
    assert result.exact, result.divergence
    want = expected_finding(trace)["id"]
    assert want in {f.id for f in recheck(trace)}
