"""The simulator: determinism, latency and FIFO, the simulate workload, traces and the CLI."""

from __future__ import annotations

import json
import random
from pathlib import Path

import jsonschema
import pytest

from impl.errors import InvalidInput
from impl.profile import MOSAIK_0_3_13
from spec.cli import main
from spec.model.faults import Fault
from spec.sim.latency import BondLatency, LatencyModel
from spec.sim.workload import SimulationSpec, simulate

SCHEMA = Path(__file__).resolve().parents[1] / "spec" / "schemas" / "trace.schema.json"


def test_same_seed_gives_identical_trace_bytes(tmp_path: Path) -> None:
    spec = SimulationSpec(items=300, batch=40, writes_during_sync=20, seed=7)
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    simulate(spec, trace_path=a)
    simulate(spec, trace_path=b)
    assert a.read_bytes() == b.read_bytes()
    c = tmp_path / "c.jsonl"
    simulate(SimulationSpec(items=300, batch=40, writes_during_sync=20, seed=8), trace_path=c)
    assert c.read_bytes() != a.read_bytes()


def test_same_seed_with_faults_is_deterministic(tmp_path: Path) -> None:
    spec = SimulationSpec(
        items=200, batch=30, providers=3, seed=1, faults={Fault.DUPLICATE: 0.2, Fault.REORDER: 0.2}
    )
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    ra = simulate(spec, trace_path=a)
    rb = simulate(spec, trace_path=b)
    assert a.read_bytes() == b.read_bytes()
    assert ra.as_json()["messages"] == rb.as_json()["messages"]


def test_fault_free_run_meets_the_lower_bound() -> None:
    report = simulate(SimulationSpec(items=1000, batch=100))
    assert report.converged
    assert not report.violations
    assert report.messages["FetchDataRequest"] == 10 == report.messages["FetchDataResponse"]
    assert report.items_transferred == 1000 == report.snapshot_items
    assert report.ratios() == {"FetchDataRequest": 1.0, "FetchDataResponse": 1.0, "items": 1.0}
    digests = {n["digest"] for n in report.nodes.values()}
    assert len(digests) == 1
    assert {n["committed"]["index"] for n in report.nodes.values()} == {1001}


@pytest.mark.parametrize("kind", ["vec", "set", "depq", "cell", "once"])
def test_every_collection_converges(kind: str) -> None:
    report = simulate(SimulationSpec(collection=kind, items=120, batch=25, oneshot=kind == "vec"))
    assert report.converged
    assert not report.violations


def test_writes_during_sync_converge_under_both_profiles() -> None:
    for profile in (None, MOSAIK_0_3_13):
        spec = SimulationSpec(
            items=500, batch=50, writes_during_sync=60, providers=3, profile=profile
        )
        report = simulate(spec)
        assert report.converged, profile
        assert not [v for v in report.violations if v.id != "I3"]


def test_invalid_simulation_parameters_are_rejected() -> None:
    with pytest.raises(InvalidInput, match="collection"):
        SimulationSpec(collection="tree")
    with pytest.raises(InvalidInput, match="provider"):
        SimulationSpec(providers=0)
    with pytest.raises(InvalidInput, match="forge"):
        SimulationSpec(faults={Fault.FORGE: 0.1})
    with pytest.raises(InvalidInput, match=r"\[0, 1\]"):
        SimulationSpec(faults={Fault.DUPLICATE: 2.0})


def test_latency_is_fifo_per_direction() -> None:
    model = LatencyModel(BondLatency(1, 50), {("a", "b"): BondLatency(100, 0)})
    rng = random.Random(0)
    last = None
    for now in range(0, 50, 5):
        at = model.delivery_time(rng, "x", "y", now_ms=now, last_queued_ms=last)
        assert last is None or at >= last
        last = at
    assert model.delivery_time(rng, "a", "b", now_ms=0, last_queued_ms=None) == 100
    assert model.describe()["overrides"] == [
        {"src": "a", "dst": "b", "base_ms": 100, "jitter_ms": 0}
    ]


def test_invalid_latency_is_rejected() -> None:
    with pytest.raises(InvalidInput):
        BondLatency(-1, 0)


def test_every_trace_line_matches_the_schema(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    simulate(
        SimulationSpec(items=100, batch=30, writes_during_sync=5, faults={Fault.DUPLICATE: 0.3}),
        trace_path=path,
    )
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text()))
    lines = path.read_text().splitlines()
    kinds = [json.loads(line)["type"] for line in lines]
    assert kinds[0] == "header"
    assert kinds[-1] == "end"
    assert set(kinds[1:-1]) == {"step"}
    for line in lines:
        validator.validate(json.loads(line))


def test_cli_simulate_json_has_the_documented_fields(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trace = tmp_path / "s.jsonl"
    status = main(["simulate", "--items", "200", "--batch", "50", "--json", "--trace", str(trace)])
    out = json.loads(capsys.readouterr().out)
    assert status == 0
    assert trace.exists()
    assert out["converged"] is True
    assert out["violations"] == []
    for kind in ("RequestSnapshot", "SnapshotOffer", "FetchDataRequest", "FetchDataResponse"):
        assert kind in out["messages"]
    assert out["messages"]["FetchDataRequest"] == 4
    assert out["items_transferred"] == 200
    for node in out["nodes"].values():
        assert {"committed", "digest"} <= set(node)
    assert {"sim_ms", "wall_s"} <= set(out)


def test_cli_simulate_human_output_and_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--items", "50", "--batch", "20", "--fault", "duplicate=0.1"]) == 0
    assert "converged" in capsys.readouterr().out
    assert main(["simulate", "--fault", "nope"]) == 2
    assert "unknown fault" in capsys.readouterr().err
    assert main(["simulate", "--hazard", "H99"]) == 2


def test_cli_bench_simulate_small(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(
        [
            "bench",
            "simulate",
            "--sizes",
            "500,2000",
            "--repeat",
            "1",
            "--json",
            "--frozen-items",
            "2000",
        ]
    )
    out = json.loads(capsys.readouterr().out)
    assert status == 0
    assert out["at_lower_bound"] is True
    assert [g["items"] for g in out["growth"]] == [500, 2000]
    assert out["frozen_case"]["runs"][0]["items"] == 2000


def test_trace_bytes_do_not_depend_on_hash_seeds(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    args = ["simulate", "--items", "150", "--batch", "40", "--providers", "3"]
    args += ["--fault", "duplicate=0.2", "--seed", "5", "--json"]
    digests = []
    for hash_seed in ("1", "2"):
        path = tmp_path / f"h{hash_seed}.jsonl"
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        cmd = [sys.executable, "-m", "spec.cli", *args, "--trace", str(path)]
        subprocess.run(cmd, env=env, check=True, capture_output=True)
        digests.append(path.read_bytes())
    assert digests[0] == digests[1]


def test_cyclic_gc_is_paused_during_a_run_and_restored() -> None:
    import gc

    from spec.sim.simulator import cyclic_gc_paused

    seen: list[bool] = []

    def failing_run() -> None:
        with cyclic_gc_paused():
            seen.append(gc.isenabled())
            raise RuntimeError("the run failed")

    assert gc.isenabled()
    with pytest.raises(RuntimeError):
        failing_run()
    assert seen == [False]
    assert gc.isenabled()


def test_step_budget_stops_a_run_and_reports_l1() -> None:
    # An honest run cut short by a tiny budget: the budget, not the run, decides.
    report = simulate(SimulationSpec(collection="map", items=50, batch=5, max_steps=40))
    assert report.converged is False
    budget = [v for v in report.violations if v.id == "L1" and "budget" in v.detail]
    assert budget, report.violations
    # The same run without the cut converges: the bound is what failed it.
    assert simulate(SimulationSpec(collection="map", items=50, batch=5)).converged


def test_invalid_max_steps() -> None:
    with pytest.raises(InvalidInput):
        SimulationSpec(max_steps=0)
