"""``snapsync check``: the main job's summary rows and exit status."""

from __future__ import annotations

import json

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
