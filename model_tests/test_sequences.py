"""Sequence vectors: a failing run becomes a permanent case that any adapter replays.

``snapsync vectors from-trace`` turns a drive trace, a model trace or an event log into
node-level ops with the reference's answer after each; ``snapsync conform`` replays them
(suite ``node``). Shown here: the kept cases are what the reference answers today and
match their schema; a case from a finding passes the reference and fails a mosaik-like
node at the op where they part; the command line's errors are one line. The external
node's cases (a bug caught by drive becomes a case its fixed version passes) are in
test_drive.py, next to the drive run that finds the bug.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import jsonschema
import jsonschema_rs
import pytest

from impl.profile import get_profile
from spec.cli import main
from spec.conformance.cases import VectorError, check_case
from spec.conformance.schemas import SCHEMA_FILES
from spec.conformance.sequences import (
    answers_of,
    cases_from_trace,
    kept_cases,
    run_sequence,
)
from spec.conformance.tree import open_tree, read_cases

ROOT = Path(__file__).resolve().parents[1]
H6 = ROOT / "docs" / "findings" / "H6.trace.jsonl"
REFERENCE_ADAPTER = "snapsync adapter"
MOSAIK_ADAPTER = "snapsync adapter --profile mosaik-0.3.13"


@pytest.fixture(scope="module")
def h6_cases() -> list[dict[str, Any]]:
    # r8 is the lagging node H6 strands: the two profiles answer its run differently.
    return cases_from_trace(H6, node="r8")


def test_the_kept_cases_are_what_the_reference_answers_and_match_their_schema() -> None:
    cases = kept_cases()
    assert {c["profile"] for c in cases} == {"reference", "mosaik-0.3.13"}
    schema = SCHEMA_FILES["conformance-sequence.schema.json"]()
    slow = jsonschema.Draft202012Validator(schema)
    for case in cases:
        now = answers_of(case["input"]["ops"], get_profile(case["profile"]))
        stored = case["expected"]["result"]["answers"]
        assert now == stored, f"{case['profile']}/{case['id']} drifted: re-run from-trace --keep"
        errors = list(slow.iter_errors(case))
        assert not errors, errors[0].message[:300]
    # Each kept run was kept because the profiles part on it.
    assert all(not c["why"]["profiles_agree"] for c in cases)
    # The schema can fail: an op the sequence does not hold, an answer without observation.
    fast = jsonschema_rs.validator_for(schema)
    broken = json.loads(json.dumps(cases[0]))
    broken["input"]["ops"][1]["op"] = "step"
    assert not fast.is_valid(broken)
    broken = json.loads(json.dumps(cases[0]))
    broken["expected"]["result"]["answers"][0] = {"result": {"effects": []}}
    assert not fast.is_valid(broken)


def test_a_sequence_case_is_checked_like_a_step_case(h6_cases: list[dict[str, Any]]) -> None:
    case = h6_cases[0]
    assert check_case(case, "x", profile=case["profile"], stem=case["id"]) == case
    wrong = {**case, "step": "Q4"}
    with pytest.raises(VectorError, match="step"):
        check_case(wrong, "x", profile=case["profile"], stem=case["id"])


def test_a_finding_becomes_a_case_that_parts_the_profiles(h6_cases: list[dict[str, Any]]) -> None:
    by_profile = {c["profile"]: c for c in h6_cases}
    assert set(by_profile) == {"reference", "mosaik-0.3.13"}
    reference = by_profile["reference"]
    assert reference["id"] == by_profile["mosaik-0.3.13"]["id"]
    assert reference["input"]["ops"][0]["op"] == "node_new"
    assert not reference["why"]["profiles_agree"]
    assert reference["why"]["source"] == {"kind": "from-trace", "name": "H6.trace.jsonl"}
    # The reference adapter passes it; a mosaik-like node fails it at the op where H6 acts.
    assert run_sequence(REFERENCE_ADAPTER, reference)[0] == "passed"
    status, detail, difference = run_sequence(MOSAIK_ADAPTER, reference)
    assert status == "failed", detail
    assert difference is not None
    assert difference.path.startswith("answers[")
    # ... and passes its own profile's case.
    assert run_sequence(MOSAIK_ADAPTER, by_profile["mosaik-0.3.13"])[0] == "passed"


def test_from_trace_into_a_tree_that_conform_runs(tmp_path: Path, capsys: Any) -> None:
    tree = tmp_path / "vectors"
    args = ["vectors", "from-trace", str(H6), "--node", "r8", "--vectors", str(tree), "--json"]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert [c["profile"] for c in out["cases"]] == ["reference", "mosaik-0.3.13"]
    manifest = json.loads((tree / "manifest.json").read_text())
    jsonschema.validate(manifest, SCHEMA_FILES["conformance-manifest.schema.json"]())
    assert manifest["counts"] == {"mosaik-0.3.13": {"node": 1}, "reference": {"node": 1}}
    assert len(list(read_cases(open_tree(tree)))) == 2
    common = ["conform", "--vectors", str(tree), "--profile", "reference", "--json"]
    assert main([*common, "--adapter", REFERENCE_ADAPTER]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["attempted"] == report["selected"] == 1
    assert report["totals"]["passed"] == 1
    assert main([*common, "--adapter", MOSAIK_ADAPTER]) == 1
    report = json.loads(capsys.readouterr().out)
    failure = report["failures"][0]
    assert failure["suite"] == "node"
    assert failure["difference"]["path"].startswith("answers[")
    # A known difference, with its reason, is an expected failure like a step case's.
    expect = tmp_path / "expect.json"
    entry = {"case": failure["case"], "reason": "mosaik 0.3.13 forgets the sources (H6)"}
    expect.write_text(
        json.dumps({"format": "snapsync-expected-failures", "version": 1, "entries": [entry]})
    )
    assert main([*common, "--adapter", MOSAIK_ADAPTER, "--expect-fail", str(expect)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["totals"]["expected-fail"] == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([str(H6)], "say where the cases go"),
        ([str(H6), "--node", "nobody", "--out", "x"], "no log of node 'nobody'"),
        (["/no/such/file", "--out", "x"], "cannot read /no/such/file"),
        ([str(ROOT / "pyproject.toml"), "--out", "x"], "line 1: not JSON"),
    ],
)
def test_from_trace_errors_are_one_line(args: list[str], message: str, capsys: Any) -> None:
    assert main(["vectors", "from-trace", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert message in err[0]


# -- sequence cases inside a conform run ---------------------------------------------------------


def _some_cases() -> list[dict[str, Any]]:
    """A few step cases of each profile and every kept sequence case."""
    from spec.conformance.build import cases_of
    from spec.conformance.handwritten import hand_calls

    steps = [case for call in hand_calls()[:3] for case in cases_of(call)]
    assert steps
    return steps + kept_cases()


def test_conform_replays_every_sequence_case_through_the_run_s_one_process(
    tmp_path: Path,
) -> None:
    """The step cases and the sequence cases share one adapter process (a node_new on a
    handle in use starts a fresh node, so a case never sees an earlier one's node)."""
    from spec.conformance.process import split_command
    from spec.conformance.runner import run_conform

    cases = _some_cases()
    starts = tmp_path / "starts"
    command = f"sh -c 'echo $$ >> {starts}; exec {sys.executable} -m spec.cli adapter'"
    report = run_conform(split_command(command), cases, adapter=command, vectors=None)
    assert report.count("passed") == report.selected == len(cases)
    assert [o.job.suite for o in report.outcomes].count("node") == len(kept_cases()) >= 2
    assert len(starts.read_text().split()) == 1
    assert report.restarts == 0


def test_a_sequence_case_that_crashes_the_adapter_fails_alone(tmp_path: Path) -> None:
    from spec.conformance.process import split_command
    from spec.conformance.runner import run_conform

    cases = _some_cases()
    adapters = f"{sys.executable} -m model_tests.conformance_adapters"
    command = f"{adapters} crash-node-once {tmp_path / 'crashed'}"
    report = run_conform(split_command(command), cases, adapter=command, vectors=None)
    nodes = [o for o in report.outcomes if o.job.suite == "node"]
    assert (nodes[0].status, nodes[0].kind) == ("failed", "crash")
    assert nodes[0].detail.startswith("op 0 (node_new): crash: the adapter exited (status 3)")
    assert all(o.status == "passed" for o in report.outcomes if o is not nodes[0])
    assert report.restarts == 1
    assert report.attempted == report.selected


def test_an_adapter_without_node_ops_is_not_sent_sequence_cases() -> None:
    from spec.conformance.process import split_command
    from spec.conformance.runner import run_conform

    command = f"{sys.executable} {ROOT / 'model_tests' / 'external_adapter.py'}"
    report = run_conform(split_command(command), kept_cases(), adapter=command, vectors=None)
    assert {(o.status, o.kind) for o in report.outcomes} == {("unsupported", "hello")}
    assert "node_new" in report.outcomes[0].detail
    assert report.attempted == 0
