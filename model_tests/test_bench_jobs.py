"""``snapsync bench jobs`` through the CLI at a small size (not a timed test)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from spec.benchmarks import jobs
from spec.cli import main


def test_bench_jobs_json_sides_ratios_and_identical_results(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["bench", "jobs", "--seconds", "1", "--max-size", "10", "--jobs", "2", "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert [h["jobs"] for h in out["hunt"]] == [1, 2]
    assert [s["jobs"] for s in out["scenarios"]] == [1, 2]
    for h in out["hunt"]:
        assert h["rule_steps"] > 0
        assert h["rule_steps_per_s"] > 0
        assert h["cpu_ms_per_1000_steps"] > 0
        assert h["cores_used"] > 0
    assert out["hunt_ratio"] == pytest.approx(
        out["hunt"][1]["rule_steps_per_s"] / out["hunt"][0]["rule_steps_per_s"], rel=1e-2
    )
    assert out["scenarios_identical"] is True
    assert out["scenarios"][0]["results"] > 0
    assert out["check"] == []


def _fake(results: dict[int, list[str]]) -> Any:
    """A stand-in for running snapsync: canned reports (the scenario results by --jobs)."""

    def cli(*args: str) -> tuple[float, dict[str, Any], float]:
        n = int(args[args.index("--jobs") + 1])
        if args[0] == "hunt":
            report = {"steps": 1000 * n, "elapsed_s": 1.0, "steps_per_s": 1000.0 * n, "cpu_s": n}
            return 1.0, report, float(n)
        rows = [{"case": c, "status": "ok", "wall_s": 0.1 * n} for c in results[n]]
        return 2.0 / n, {"results": rows}, 2.0

    return cli


def test_bench_jobs_ratios_and_the_check_that_results_are_identical() -> None:
    same = jobs.run(2, 1.0, 10, repeat=2, cli=_fake({1: ["a", "b"], 2: ["a", "b"]}))
    assert (same.hunt_ratio, same.hunt_cpu_ratio, same.scenarios_ratio) == (2.0, 1.0, 2.0)
    assert same.scenarios_identical
    assert same.scenarios[0].results == 2
    # A parallel side that returned other results (or in another order) is caught.
    other = jobs.run(2, 1.0, 10, cli=_fake({1: ["a", "b"], 2: ["b", "a"]}))
    assert not other.scenarios_identical
