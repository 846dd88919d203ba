"""The mutation suite's machinery (spec/mutants/) and what check does for it: applying a
mutant to a copy, telling killed from survived, --fail-fast, the watchdog, the hunt's
shares by family."""

from __future__ import annotations

from pathlib import Path

import pytest

from impl.profile import MOSAIK_0_3_13, REFERENCE, Profile
from spec.commands import check
from spec.hunt.campaigns import CAMPAIGNS, FAMILIES
from spec.mutants.apply import MutantError, apply_mutant, copy_project, mutated_text, project_root
from spec.mutants.catalogue import Mutant
from spec.mutants.runner import KILLED, SURVIVED, nearest_tests, run_suite

# A mutant check must kill: the provider serves every chunk without its first item.
DROPS_AN_ITEM = Mutant(
    "provider-drops-first-item",
    "provider",
    "P4",
    "impl/provider.py",
    "items=tuple(items))",
    "items=tuple(items)[1:])",
    "serves a chunk without its first item",
)
# An equivalent mutant: it changes a comment only, so nothing can kill it.
EQUIVALENT = Mutant(
    "provider-comment",
    "provider",
    "P4",
    "impl/provider.py",
    "# Verify we hold a live snapshot at the anchor.",
    "# Verify we hold a snapshot at the anchor.",
    "changes a comment",
)


def test_a_mutant_applies_to_a_copy_and_only_there(tmp_path: Path) -> None:
    copy = copy_project(project_root(), tmp_path / "copy")
    apply_mutant(DROPS_AN_ITEM, copy)
    assert "items=tuple(items)[1:])" in (copy / "impl/provider.py").read_text()
    assert "items=tuple(items)[1:])" not in (project_root() / "impl/provider.py").read_text()


@pytest.mark.parametrize(
    ("before", "after", "says"),
    [
        ("no such text anywhere", "x", "occurs 0 times"),
        ("return", "yield", "occurs"),  # many times
        ("items=tuple(items))", "items=tuple(items)))", "does not compile"),
        ("items=tuple(items))", "items=tuple(items))", "changes nothing"),
    ],
)
def test_a_mutant_that_cannot_apply_is_refused(before: str, after: str, says: str) -> None:
    text = (project_root() / "impl/provider.py").read_text()
    bad = Mutant("x", "provider", "P4", "impl/provider.py", before, after, "")
    with pytest.raises(MutantError, match=says):
        mutated_text(bad, text)


def test_the_runner_tells_a_killed_mutant_from_a_survivor() -> None:
    # A small check (no hunt, no explorer, the smallest scenarios) keeps this fast.
    report = run_suite(
        [DROPS_AN_ITEM, EQUIVALENT],
        hunt_budget=0,
        jobs=1,
        check_options=("--no-explore", "--max-size", "10"),
    )
    assert report.baseline.verdict == SURVIVED
    killed, survived = report.results
    assert killed.check.verdict == KILLED
    assert "scenarios" in killed.check.by or "prove" in killed.check.by
    assert survived.check.verdict == SURVIVED
    assert [r.mutant.id for r in report.survivors()] == ["provider-comment"]
    assert report.as_json()["check_kill_rate"] == 0.5


def _loops_forever(profile: Profile) -> tuple[str, bool]:
    while True:
        pass


def test_the_watchdog_ends_a_task_that_never_returns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(check, "_stage_prove", _loops_forever)
    monkeypatch.setitem(check.TASK_LIMITS_S, "prove", 0.5)
    rows, stopped = check.run_check(1, 0.0, jobs=1, explore=False)
    assert stopped is None
    prove = [r for r in rows if r.stage == "prove"]
    assert len(prove) == 2
    for row in prove:
        assert not row.as_expected
        assert row.outcome.startswith("hung: prove")
        assert "model_tests/test_mutants.py" in row.outcome  # where it was stuck
    assert all(r.as_expected for r in rows if r.stage != "prove")


def _unexpected_under_reference(profile: Profile) -> tuple[str, bool]:
    return "broken", profile.name != "reference"


def test_fail_fast_stops_at_the_first_row_not_as_expected(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(check, "_stage_prove", _unexpected_under_reference)
    seen: list[str] = []
    rows, stopped = check.run_check(
        1, 0.0, jobs=1, explore=True, fail_fast=True, on_row=lambda r: seen.append(r.stage)
    )
    assert stopped is None
    assert seen == ["prove"]  # the first task's row, and nothing ran after it
    first = rows[0]
    assert (first.stage, first.profile, first.as_expected) == ("prove", "reference", False)
    assert all(r.outcome.startswith("skipped") for r in rows[1:])
    assert not any(r.as_expected for r in rows[1:])


def test_the_reference_hunt_is_shared_by_family() -> None:
    tasks = check.hunt_tasks(REFERENCE, 90.0)
    present = [f for f in FAMILIES if any(c.family == f for c in CAMPAIGNS)]
    assert [t.family for t in tasks] == present
    assert sum(t.hunt_budget for t in tasks) == pytest.approx(
        90.0 * sum(check.HUNT_SHARES[f] for f in present)
    )
    (mosaik,) = check.hunt_tasks(MOSAIK_0_3_13, 90.0)
    assert mosaik.family is None
    assert mosaik.hunt_budget == 90.0


def test_after_one_case_hangs_its_stage_skips_the_rest_in_that_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def hangs(task: object) -> object:
        while True:
            pass

    monkeypatch.setattr(check, "run_task", hangs)
    monkeypatch.setitem(check.TASK_LIMITS_S, "scenarios", 0.3)
    rows, _ = check.run_check(3, 0.0, jobs=1, explore=False)
    scenarios = [r for r in rows if r.stage == "scenarios"]
    for row in scenarios:
        assert not row.as_expected
        assert "1 hung" in row.outcome
        assert "skipped" in row.outcome
    # One limit per profile, not one per case.
    assert sum(r.seconds for r in scenarios) < 3.0


def test_an_exploration_that_does_not_close_fails_the_stage(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from spec.explore import stage

    monkeypatch.setattr(stage, "STATE_BOUND", 200)
    got = stage.run_stage(REFERENCE)
    assert not got.ok
    assert got.counts["complete"] is False
    assert "stopped" in got.outcome


def test_the_tests_nearest_a_mutated_module_run_first() -> None:
    root = Path(__file__).resolve().parent.parent
    first = nearest_tests(root, "impl/raft.py")
    assert "model_tests/test_raft.py" in first
    assert all(Path(f).name.startswith("test_raft") for f in first)
    assert nearest_tests(root, "impl/no_such_module.py") == []
