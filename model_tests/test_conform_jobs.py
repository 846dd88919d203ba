"""``snapsync conform --jobs N`` (issue #15): shards of cases, each with its own adapter process.

What must hold: the report — statuses, first differences, expected failures,
"attempted N of M" — is the one ``--jobs 1`` gives (the number of restarts is not
compared: a crash with other requests unanswered costs one more restart, and how many
were unanswered depends on the timing), for a passing adapter, a
differing one and a crashing one; each input stays with every profile's case of it
(one adapter decodes their shared state once); Ctrl-C prints the partial report, exits
130 and leaves no worker and no adapter running; a stop inside one process gives the
partial report too.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from model_tests.interrupt import alive, ctrl_c
from spec.cli import main
from spec.conformance.expectations import load_expectations
from spec.conformance.process import split_command
from spec.conformance.report import report_json
from spec.conformance.runner import ConformReport, load_selected, run_conform
from spec.conformance.sequences import kept_cases
from spec.conformance.shards import run_conform_jobs, shards_of
from spec.robust.stop import deadline, reset

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
REFERENCE_ADAPTER = f"{PY} -m spec.cli adapter"
MOSAIK_ADAPTER = f"{PY} -m spec.cli adapter --profile mosaik-0.3.13"
ADAPTERS = f"{PY} -m model_tests.conformance_adapters"


@pytest.fixture(scope="module")
def tree(quick_tree: Path) -> Path:
    return quick_tree


@pytest.fixture(scope="module")
def cases(tree: Path) -> list[dict[str, Any]]:
    """Both profiles' cases of some steps, and the kept sequence cases where a full tree has
    them (after each profile's step cases: one process reports them after every step)."""
    out = []
    for profile in ("mosaik-0.3.13", "reference"):
        out += [
            c
            for c in load_selected(tree, profiles=[profile])
            if c["step"] in ("Q4", "Q11", "Q12", "S1", "P4")
        ]
        out += [c for c in kept_cases() if c["profile"] == profile]
    return out


def _comparable(report: ConformReport) -> dict[str, Any]:
    """The report's JSON without what depends on the speed or the number of processes
    (restarts: a crash with requests unanswered costs one more, depending on the timing)."""
    data = report_json(report)
    for key in ("seconds", "jobs", "restarts"):
        data.pop(key)
    data["summary"] = data["summary"].rsplit(" restarts; ", 1)[0].rsplit("; ", 1)[0]
    for row in data["steps"]:
        row.pop("seconds")
    return data


def _both(command: str, cases: list[dict[str, Any]], **kwargs: Any) -> tuple[Any, Any, int]:
    argv = split_command(command)
    one = run_conform(argv, cases, adapter=command, vectors=None, **kwargs)
    many = run_conform_jobs(
        argv, cases, jobs=3, adapter=command, vectors=None, min_shard=1, **kwargs
    )
    return _comparable(one), _comparable(many), many.jobs


def test_shards_report_what_one_process_reports(cases: list[dict[str, Any]]) -> None:
    one, many, jobs = _both(REFERENCE_ADAPTER, cases)
    assert jobs == 3
    assert one == many
    assert one["totals"]["passed"] == len(cases)
    assert {row["suite"] for row in one["steps"]} >= {"Q4", "S1.depq", "node"}


def test_shards_report_the_same_differences_and_expected_failures(
    cases: list[dict[str, Any]], tmp_path: Path
) -> None:
    reference = [c for c in cases if c["profile"] == "reference"]
    expect = tmp_path / "expect.json"
    entries = [{"suite": "Q4", "profile": "reference", "reason": "mosaik accepts late data (H1)"}]
    entries.append({"suite": "P6", "reason": "never fails: stale"})
    expect.write_text(
        json.dumps({"format": "snapsync-expected-failures", "version": 1, "entries": entries})
    )
    one, many, _ = _both(MOSAIK_ADAPTER, reference, expectations=load_expectations(expect))
    assert one == many
    assert one["totals"]["failed"] > 0
    assert one["totals"]["expected-fail"] > 0
    assert any(f["difference"]["path"] for f in one["failures"] if "difference" in f)
    assert [e["selectors"] for e in one["stale_expectations"]] == ["suite=P6"]


def test_shards_attribute_a_crash_and_restart_like_one_process(
    cases: list[dict[str, Any]],
) -> None:
    steps = [c for c in cases if c.get("kind") != "sequence"]
    culprit = steps[len(steps) // 2]["id"]  # a case of the middle shard
    argv = split_command(f"{ADAPTERS} crash {culprit}")
    kwargs: dict[str, Any] = {"adapter": f"{ADAPTERS} crash {culprit}", "vectors": None}
    one_report = run_conform(argv, steps, timeout=5.0, **kwargs)
    many_report = run_conform_jobs(argv, steps, jobs=3, min_shard=1, timeout=5.0, **kwargs)
    one, many = _comparable(one_report), _comparable(many_report)
    assert one == many
    assert [(f["case"], f["kind"]) for f in one["failures"]] == [
        (culprit, "crash"),
        (culprit, "crash"),  # each profile's case of it
    ]
    # Each crash restarts its process at least once (more when others were unanswered).
    assert one_report.restarts >= 2
    assert many_report.restarts >= 2


def test_a_shard_holds_each_input_with_every_profile_s_case(
    cases: list[dict[str, Any]],
) -> None:
    shards = shards_of(cases, 3, min_shard=1)
    assert len(shards) == 3
    assert sorted(i for s in shards for i in s) == list(range(len(cases)))
    home: dict[tuple[str, str, str], int] = {}
    for k, shard in enumerate(shards):
        assert shard == sorted(shard)
        for i in shard:
            key = (cases[i]["step"], cases[i]["collection"], cases[i]["id"])
            assert home.setdefault(key, k) == k, f"{key} is in shards {home[key]} and {k}"
    sizes = [len(s) for s in shards]
    assert max(sizes) - min(sizes) <= 2 * 2  # one input more or less, two profiles each
    # A small selection stays in one process; --jobs 1 never shards.
    assert len(shards_of(cases, 3)) == 1
    assert len(shards_of(cases * 10, 1, min_shard=1)) == 1


def test_conform_cli_jobs_2_prints_the_report_of_jobs_1(
    tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["conform", "--adapter", REFERENCE_ADAPTER, "--vectors", str(tree), "--json"]
    reports = []
    for jobs in ("1", "2"):
        assert main([*base, "--jobs", jobs]) == 0
        reports.append(json.loads(capsys.readouterr().out))
    assert [r["jobs"] for r in reports] == [1, 2]
    for r in reports:
        for key in ("seconds", "jobs", "summary"):
            r.pop(key)
        for row in r["steps"]:
            row.pop("seconds")
    assert reports[0] == reports[1]


def test_a_stop_ends_one_process_with_the_partial_report(cases: list[dict[str, Any]]) -> None:
    command = f"{ADAPTERS} slow 0.01"
    reset()
    try:
        with deadline(2.0):
            report = run_conform(split_command(command), cases, adapter=command, vectors=None)
    finally:
        reset()
    assert report.interrupted == "budget"
    assert 0 < report.count("passed") < len(cases)
    left = [o for o in report.outcomes if o.status == "not-attempted"]
    assert left
    assert all(o.detail == "stopped (budget)" for o in left)
    assert not report.ok


def test_ctrl_c_prints_the_partial_report_and_leaves_no_adapter(tree: Path, tmp_path: Path) -> None:
    pids = tmp_path / "adapters"
    adapter = f"sh -c 'echo $$ >> {pids}; exec {ADAPTERS} slow 0.02'"
    code, out, err = ctrl_c(
        [
            *(PY, "-m", "spec.cli", "conform", "--adapter", adapter),
            *("--vectors", str(tree), "--jobs", "2", "--json"),
        ],
        started=lambda _: pids.exists() and len(pids.read_text().split()) >= 2,
        settle_s=2,  # some cases are answered
        what="the two adapters",
    )
    started = [int(p) for p in pids.read_text().split()]
    assert len(started) == 2
    assert code == 130, err
    report = json.loads(out)
    assert report["interrupted"] == "interrupt"
    assert report["jobs"] == 2
    assert report["totals"]["passed"] > 0
    assert report["totals"]["not-attempted"] > 0
    assert not report["ok"]
    assert "stopped (interrupt)" in report["summary"]
    # Every adapter has exited (the adapters run in sessions of their own: Ctrl-C does not
    # reach them; their workers end them).
    assert [p for p in started if alive(p)] == []
