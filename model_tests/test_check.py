"""``snapsync check``: the main job's summary rows and exit status."""

from __future__ import annotations

import json
from typing import Any

import pytest

from impl.profile import Profile
from spec.cli import main
from spec.commands import check


def test_check_json_rows_all_as_expected(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["check", "--max-size", "10", "--hunt-budget", "0", "--no-explore", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert status == 0
    assert out["passed"] is True
    stages = {(r["stage"], r["profile"]) for r in out["rows"]}
    assert stages == {
        (s, p) for s in ("prove", "scenarios") for p in ("reference", "mosaik-0.3.13")
    }
    prove_mosaik = next(
        r for r in out["rows"] if r["stage"] == "prove" and r["profile"] == "mosaik-0.3.13"
    )
    assert "counterexample" in prove_mosaik["outcome"]


def test_check_fails_when_a_stage_is_not_as_expected(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A broken variant: the proof stage reports an unexpected outcome for one profile.
    def broken(profile: Profile) -> tuple[str, bool]:
        return "broken", profile.name != "reference"

    monkeypatch.setattr(check, "_stage_prove", broken)
    status = main(["check", "--max-size", "1", "--hunt-budget", "0", "--no-explore"])
    out = capsys.readouterr().out
    assert status == 1
    assert "unexpected results" in out


def _fake_prove(profile: Profile) -> tuple[str, bool]:
    return f"proved for {profile.name}", True


def test_check_rows_are_the_same_for_every_jobs(monkeypatch: pytest.MonkeyPatch) -> None:
    # The proofs are stubbed and the explorer's configuration is the smallest (forked
    # workers inherit both): this is about running stages and cases side by side and
    # assembling the rows in stage order.
    from spec.explore import stage
    from spec.explore.config import ExploreConfig

    monkeypatch.setattr(check, "_stage_prove", _fake_prove)
    monkeypatch.setattr(stage, "CHECK_CONFIG", ExploreConfig(readers=0, writes=0))
    seen: list[tuple[str, str]] = []
    one, stopped_one = check.run_check(60, 0.0, jobs=1)
    two, stopped_two = check.run_check(
        60, 0.0, on_row=lambda r: seen.append((r.stage, r.profile)), jobs=2
    )
    assert stopped_one is None
    assert stopped_two is None
    key = [(r.stage, r.profile, r.outcome, r.as_expected) for r in one]
    assert [(r.stage, r.profile, r.outcome, r.as_expected) for r in two] == key
    assert [k[:2] for k in key] == [
        (s, p) for s in ("prove", "scenarios", "explore") for p in ("reference", "mosaik-0.3.13")
    ]
    assert all(r.counts["states"] > 0 for r in one if r.stage == "explore")
    assert [r.counts for r in two] == [r.counts for r in one]
    assert sorted(seen) == sorted(k[:2] for k in key)  # each row reported once, when done
    assert "cases" in key[2][2]


def test_a_hunt_error_row_names_the_campaign_and_the_exception(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An exception in a step is no broken check: the row says which campaign raised what,
    and keeps the program that led there."""
    from impl.profile import REFERENCE
    from spec.hunt import runner

    def erring(profile: Any, **_: Any) -> runner.HuntReport:
        report = runner.HuntReport(profile.name, [], 1.0)
        report.violations.append(
            runner.ViolationReport(
                "ERROR", "two-writers", None, "KeyError: 'w3'", 0.1, 2, 0, None, 0, ["a()", "b()"]
            )
        )
        return report

    monkeypatch.setattr(runner, "hunt", erring)
    got = check._stage_hunt(REFERENCE, 1.0, "raft")
    assert not got.ok
    assert "violations: ERROR (two-writers: KeyError: 'w3')" in got.outcome
    assert got.measures["error_program"] == ["a()", "b()"]
    row = check._hunt_result([got])  # the families' tasks merged into the row
    assert "violations: ERROR (two-writers: KeyError: 'w3')" in row.outcome
    assert row.measures["error_program"] == ["a()", "b()"]
