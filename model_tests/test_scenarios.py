"""mosaik's own sync scenarios (inventory §6) at CI sizes; the full sizes run through
``snapsync scenarios``."""

from __future__ import annotations

import json

import pytest

import spec.scenarios.findings as findings
from impl.profile import MOSAIK_0_3_13, REFERENCE
from spec.cli import main
from spec.scenarios import SCENARIOS, Case, run_case, select_cases

CI_MAX_SIZE = 1_000
"""Cases of at most this many items run in CI; the rest run through the CLI."""

_MIRRORED = {
    "frozen",
    "writes_during_sync",
    "empty",
    "reader_before_writer",
    "extreme_batch_sizes",
    "many_readers",
    "incremental_after_convergence",
    "concurrent_reads_during_sync",
    "extend_during_snapshot_sync",
    "clear_and_repopulate",
    "recreate_reader",
}
_EXPECTED = {
    "map": _MIRRORED
    | {
        "single_entry",
        "large_values",
        "mixed_mutations",
        "overwrite_keys",
        "extend_with_overlapping_keys",
        "remove_nonexistent_keys",
        "string_keys",
    },
    "vec": _MIRRORED | {"single_element", "large_elements", "mixed_mutations"},
    "set": _MIRRORED
    | {
        "single_element",
        "large_elements",
        "mixed_mutations",
        "insert_duplicates",
        "remove_nonexistent_values",
        "string_elements",
    },
    "depq": _MIRRORED
    | {
        "single_entry",
        "large_values",
        "mixed_mutations",
        "overwrite_keys",
        "remove_range_sync",
        "min_max_after_sync",
    },
    "cell": {
        "catchup_single_reader",
        "catchup_multiple_readers",
        "late_writer_catchup",
        "compare_exchange_catchup",
    },
    "once": {"catchup_single_reader", "late_writer_catchup"},
}


def test_every_test_of_the_inventory_is_a_scenario() -> None:
    names: dict[str, set[str]] = {}
    for sc in SCENARIOS:
        if not sc.name.startswith("catchup."):
            names.setdefault(sc.collection, set()).add(sc.name)
    assert names == _EXPECTED
    catchup = {sc.name for sc in SCENARIOS if sc.name.startswith("catchup.")}
    assert catchup == {
        "catchup.one_leader_one_follower_small",
        "catchup.one_leader_one_follower_large",
    }
    ids = [case.id for case in select_cases(SCENARIOS)]
    assert len(ids) == len(set(ids))
    frozen = list(select_cases(SCENARIOS, "map/frozen"))
    assert [c.label for c in frozen][-1] == "(100000, 100, true)"
    assert len(frozen) == 7
    assert len(select_cases(SCENARIOS, "depq/writes_during_sync")) == 6


def test_case_selection_by_pattern_and_size() -> None:
    small = select_cases(SCENARIOS, "map/frozen*", max_size=1000)
    assert [c.label for c in small] == ["(1, 100, false)", "(100, 30, false)", "(1000, 100, false)"]
    assert all(c.batch is not None for c in small)
    assert select_cases(SCENARIOS, "no-such-scenario") == []


_CI_CASES = select_cases(SCENARIOS, max_size=CI_MAX_SIZE)


@pytest.mark.parametrize("case", _CI_CASES, ids=[c.id for c in _CI_CASES])
def test_scenario_passes_under_reference(case: Case) -> None:
    result = run_case(case, REFERENCE)
    assert result.status == "ok", (result.message, [v.as_json() for v in result.violations][:3])
    assert result.outcome == "pass"
    assert result.clean


_MOSAIK_CASES = _CI_CASES


@pytest.mark.parametrize("case", _MOSAIK_CASES, ids=[c.id for c in _MOSAIK_CASES])
def test_scenario_under_mosaik_is_as_expected(case: Case) -> None:
    result = run_case(case, MOSAIK_0_3_13)
    assert result.status in ("ok", "finding"), result.message
    assert result.agrees


def test_h5_finding_is_reported_as_explained() -> None:
    case = select_cases(SCENARIOS, "cell/compare_exchange_catchup")[0]
    result = run_case(case, MOSAIK_0_3_13)
    assert (result.outcome, result.expected, result.status) == ("fail", "fail", "finding")
    assert result.finding is not None
    assert "H5" in result.finding
    assert "got 1, expected 3" in (result.message or "")


def test_an_unexplained_difference_is_flagged(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(findings, "FINDINGS", ())
    case = select_cases(SCENARIOS, "cell/compare_exchange_catchup")[0]
    assert run_case(case, MOSAIK_0_3_13).status == "UNEXPLAINED"


def test_cli_scenarios_json(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["scenarios", "--filter", "cell/*", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert status == 0
    assert out["passed"] is True
    assert out["summary"]["reference"]["ok"] == 4
    assert out["summary"]["mosaik-0.3.13"] == {"finding": 1, "ok": 3, "total": 4}
    first = out["results"][0]
    assert {"case", "profile", "outcome", "status", "violations", "sim_ms", "wall_s"} <= set(first)


def test_cli_scenarios_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scenarios", "--filter", "once/*", "--profile", "reference"]) == 0
    out = capsys.readouterr().out
    assert "once/late_writer_catchup" in out
    assert "all as expected" in out
