"""``snapsync bench explore``: what it measures is the exploration it claims to measure."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest

from spec.benchmarks.explore import BENCH_CONFIGS, attribute, measure
from spec.cli import main
from spec.explore.search import Explorer


def test_each_jobs_value_measures_the_same_exploration(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "explore", "--config", "smallest", "--json"]) == 0
    (one,) = json.loads(capsys.readouterr().out)["configs"]
    two = asdict(measure("smallest", 2))  # in this process (the CLI runs a fresh one each)
    expected = Explorer(BENCH_CONFIGS["smallest"]).run()
    for r in (one, two):
        assert r["name"] == "smallest"
        assert (r["states"], r["transitions"], r["depth"]) == (
            expected.states,
            expected.transitions,
            expected.max_depth,
        )
        assert r["states_per_s"] > 0
        assert r["cores"] > 0
        assert r["mb_per_million_states"] >= 0
    assert (one["jobs"], two["jobs"]) == (1, 2)


def test_the_profile_attributes_the_search_time_to_its_parts() -> None:
    total, parts = attribute("smallest")
    assert total > 0
    names = [p for p, _ in parts]
    assert names[:2] == ["model actions (impl steps)", "fingerprints"]
    assert all(seconds >= 0 for _, seconds in parts)
    assert sum(s for p, s in parts if p != "search loop and edge records") <= total * 1.05
