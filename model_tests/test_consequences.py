"""Consequence runs: each finding's stated consequence, reached and held (docs/findings.md).

* Every ``docs/findings/*.consequence.trace.jsonl`` replays exactly and still shows
  its consequence when re-judged (:func:`spec.hunt.consequences.recheck_consequence`).
* Each judgement can fail: on a converged group none of them holds, and a
  consequence hunt under ``reference`` finds nothing where ``reference+Hx`` does.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from impl.profile import REFERENCE, Hazard
from spec.hunt.campaigns import consequence_campaign, get_campaign
from spec.hunt.consequences import Consequence, judge, recheck_consequence
from spec.hunt.driver import Driver
from spec.hunt.findings import CONSEQUENCES, _h4_divergence
from spec.hunt.runner import hunt
from spec.hunt.scenario import GroupShape, build_group, world_setup
from spec.hunt.swarm import Program, run_program
from spec.sim.replay import replay_file

FINDINGS = Path(__file__).resolve().parent.parent / "docs" / "findings"
TRACES = sorted(FINDINGS.glob("*.consequence.trace.jsonl"))


def test_every_consequence_spec_has_its_run() -> None:
    names = {p.name.removesuffix(".consequence.trace.jsonl") for p in TRACES}
    assert names == {spec.name for spec in CONSEQUENCES}
    index = json.loads((FINDINGS / "consequences.json").read_text("utf-8"))
    assert {e["name"] for e in index} == names
    for trace in TRACES:
        assert trace.with_name(trace.name.replace(".trace.jsonl", ".dot")).exists()


@pytest.mark.parametrize("trace", TRACES, ids=lambda p: p.name.split(".")[0])
def test_consequence_run_replays_exactly_and_still_reaches_its_consequence(trace: Path) -> None:
    result = replay_file(trace, keep_records=False)
    assert result.exact, result.divergence
    record, verdict = recheck_consequence(trace)
    assert verdict is not None, f"{record.finding}: {record.kind.value} no longer holds"
    assert verdict == record.verdict  # the hold is deterministic: the same verdict, same time
    assert record.finding == trace.name.split(".")[0]
    assert record.hold_ms == 300_000


@pytest.mark.parametrize("kind", list(Consequence), ids=lambda k: k.value)
def test_no_consequence_holds_on_a_converged_group(kind: Consequence) -> None:
    shape = GroupShape(kind="map", items=2, batch=1, writers=2, readers=1, lagging=1)
    d = Driver(world_setup(shape, REFERENCE))
    build_group(d, shape)
    d.drain()
    assert d.quiescence_problem() is None
    assert judge(d, kind, probe_index=0) is None


def test_h4_divergence_needs_the_switch() -> None:
    """The seed of H4's consequence run diverges only with H4 on."""
    seed = _h4_divergence()
    program = Program(
        consequence_campaign(seed.campaign, Consequence.DIVERGENCE), seed.shape, seed.calls
    )
    assert run_program(program, REFERENCE.with_hazards([Hazard.H4])).failure is not None
    assert run_program(program, REFERENCE).failure is None


def test_a_consequence_hunt_finds_the_h23_panic_only_with_the_switch() -> None:
    campaigns = [get_campaign("positions")]
    found = hunt(
        REFERENCE.with_hazards([Hazard.H23]),
        budget_s=20,
        seed_base=1,
        stop_on_first=True,
        shrink=False,
        campaigns=campaigns,
        consequence=Consequence.PANIC,
    )
    assert [v.id for v in found.violations] == ["C-PANIC"]
    clean = hunt(
        REFERENCE,
        budget_s=2,
        seed_base=1,
        campaigns=campaigns,
        consequence=Consequence.PANIC,
        walks_per_call=2,
    )
    assert clean.violations == []
    assert clean.rule_steps > 0
