"""The conformance kit (spec/conformance/): vectors, the adapter protocol, ``snapsync conform``.

What the kit must show (issue #10), each through a real adapter process:

* the reference adapter passes every case of both profiles;
* the mosaik-profile adapter fails the reference vectors exactly where mosaik
  differs (Q4 with H1/H10, Q11 with H2, Q12/Q13 with H3, S1 for DEPQ with H4);
* an adapter with one bug in one step fails exactly that step's cases, with a
  readable first difference;
* an adapter written outside the package passes the steps it implements and is
  counted unsupported for the rest;
* timeouts, crashes and malformed answers are attributed to their case, the
  adapter restarts, the run goes on; expected failures need a reason;
* readers are verifiers (one line naming the file and the field, exit 2);
* generation is deterministic and small; every file matches its JSON Schema; every
  step, collection and outcome has vectors; the branch coverage can fail.

The tests share one reduced tree (``vectors generate --quick``); one test generates
the full tree twice, in parallel, with different hash seeds.
"""

from __future__ import annotations

import filecmp
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from impl.effects import IgnoreReason
from impl.steps import STEP_IDS
from spec.cli import main
from spec.conformance.cases import VectorError, outcome_label
from spec.conformance.conventions import (
    COLLECTION_STEPS,
    CONVENTIONS,
    DISPATCH_ONLY_REASONS,
    conventions_markdown,
)
from spec.conformance.diff import first_difference
from spec.conformance.expectations import load_expectations
from spec.conformance.generate import generate
from spec.conformance.jsonio import JSONError, strict_loads
from spec.conformance.process import split_command
from spec.conformance.protocol import MalformedAnswer, parse_answer
from spec.conformance.runner import ConformReport, load_selected, run_conform
from spec.conformance.schemas import SCHEMA_FILES
from spec.conformance.tree import pack

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
REFERENCE_ADAPTER = f"{PY} -m spec.cli adapter"
MOSAIK_ADAPTER = f"{PY} -m spec.cli adapter --profile mosaik-0.3.13"


@pytest.fixture(scope="module")
def tree(quick_tree: Path) -> Path:
    """The reduced vector tree every test of this module reads (conftest.py)."""
    return quick_tree


@pytest.fixture(scope="module")
def cases(tree: Path) -> list[dict[str, Any]]:
    return load_selected(tree)


def conform(command: str, cases: list[dict[str, Any]], **kwargs: Any) -> ConformReport:
    return run_conform(split_command(command), cases, adapter=command, vectors=None, **kwargs)


def failing_suites(report: ConformReport) -> set[str]:
    return {o.job.suite for o in report.outcomes if o.status == "failed"}


# -- the reference, mosaik, one bug, an outside adapter ------------------------------------------


def test_reference_adapter_passes_every_case_of_both_profiles(
    tree: Path, cases: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["conform", "--adapter", REFERENCE_ADAPTER, "--vectors", str(tree)])
    out = capsys.readouterr().out
    assert status == 0, out
    n = len(cases)
    assert f"attempted {n} of {n} cases" in out
    assert f"{n} passed, 0 failed" in out
    assert {c["profile"] for c in cases} == {"reference", "mosaik-0.3.13"}


def test_mosaik_adapter_fails_the_reference_vectors_where_mosaik_differs(
    cases: list[dict[str, Any]],
) -> None:
    reference = [c for c in cases if c["profile"] == "reference"]
    report = conform(MOSAIK_ADAPTER, reference)
    assert not report.ok
    failed = failing_suites(report)
    assert {"Q4", "Q11", "S1.depq"} <= failed
    assert failed & {"Q12", "Q13"}
    hazards = {
        o.job.suite: set(o.case["why"]["hazards"]) for o in report.outcomes if o.status == "failed"
    }
    by_suite: dict[str, set[str]] = {}
    for o in report.outcomes:
        if o.status == "failed":
            by_suite.setdefault(o.job.suite, set()).update(o.case["why"]["hazards"])
    assert by_suite["Q4"] & {"H1", "H10"}
    assert "H2" in by_suite["Q11"]
    assert "H3" in by_suite.get("Q12", set()) | by_suite.get("Q13", set())
    assert "H4" in by_suite["S1.depq"]
    assert hazards  # every failure above was found through a real process
    # The same adapter passes every vector of its own profile.
    own = conform(MOSAIK_ADAPTER, [c for c in cases if c["profile"] == "mosaik-0.3.13"])
    assert own.ok
    assert own.count("passed") == own.selected


def test_one_bug_in_one_step_fails_exactly_that_steps_cases(
    cases: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    command = f"{PY} -m model_tests.conformance_adapters drain-off-by-one"
    report = conform(command, cases)
    assert failing_suites(report) == {"Q8"}
    failures = [o for o in report.outcomes if o.status == "failed"]
    assert failures
    for o in failures:
        assert o.kind == "mismatch"
        assert o.difference is not None
        assert o.difference.path == "post.gap_start"
        assert o.difference.expected - o.difference.actual == 1
        assert f"--case {o.case['id']}" in report.rerun(o.case)
    # Q8 cases whose drain does not move the cursor still pass.
    assert any(o.job.suite == "Q8" and o.status == "passed" for o in report.outcomes)
    from spec.conformance.report import print_report
    from spec.render import results_console

    print_report(report, results_console())
    out = capsys.readouterr().out
    assert "first difference: post.gap_start: expected" in out
    assert "rerun: snapsync conform --adapter" in out


def test_an_adapter_written_outside_the_package_passes_its_steps(
    cases: list[dict[str, Any]],
) -> None:
    script = ROOT / "model_tests" / "external_adapter.py"
    assert "snapsync" not in script.read_text().split('"""', 2)[2].replace(
        "snapsync conform", ""
    ), "the outside adapter must not use snapsync"
    report = conform(f"{PY} {script}", cases)
    assert report.ok, [o.detail for o in report.outcomes if o.status == "failed"][:3]
    passed = Counter(o.job.suite for o in report.outcomes if o.status == "passed")
    assert passed["P4"] > 0
    assert passed["P6"] > 0
    assert set(passed) == {"P4", "P6"}
    unsupported = {o.job.suite for o in report.outcomes if o.status == "unsupported"}
    assert unsupported >= set(STEP_IDS) - {"P4", "P6", "S1", "S2", "S3"}
    assert report.attempted < report.selected  # the rest was never sent


# -- failures of the adapter itself ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "kind"), [("crash", "crash"), ("garbage", "malformed"), ("hang", "timeout")]
)
def test_a_misbehaving_adapter_is_attributed_restarted_and_the_run_goes_on(
    cases: list[dict[str, Any]], mode: str, kind: str
) -> None:
    chosen = [c for c in cases if c["profile"] == "reference"][:30]
    culprit = chosen[10]["id"]
    command = f"{PY} -m model_tests.conformance_adapters {mode} {culprit}"
    report = conform(command, chosen, timeout=2.0)
    bad = [o for o in report.outcomes if o.status == "failed"]
    assert [(o.case["id"], o.kind) for o in bad] == [(culprit, kind)]
    # A crash or hang with other requests unanswered costs one more restart: those are
    # replayed one at a time to find the culprit (the adapter answers a read batch at once).
    assert report.restarts == (1 if mode == "garbage" else 2)
    assert report.attempted == report.selected == len(chosen)
    assert report.count("passed") == len(chosen) - 1
    if mode == "crash":
        assert "status 3" in bad[0].detail
        assert "crashing on purpose" in bad[0].detail


def test_an_answer_too_many_after_the_last_request_restarts_the_adapter(
    cases: list[dict[str, Any]],
) -> None:
    # The extra line arrives when nothing is outstanding: no case is to blame, the stream
    # is out of step, so the adapter starts afresh (a typed event, never an IndexError).
    chosen = [c for c in cases if c["profile"] == "reference"][:30]
    command = f"{PY} -m model_tests.conformance_adapters twice {chosen[-1]['id']}"
    report = conform(command, chosen, timeout=2.0)
    assert report.count("passed") == len(chosen)
    assert report.restarts == 1
    assert any("no request outstanding" in e for e in report.events)


def test_expected_failures_need_a_reason_and_stale_ones_are_reported(
    cases: list[dict[str, Any]], tmp_path: Path
) -> None:
    reference = [c for c in cases if c["profile"] == "reference"]
    first = conform(MOSAIK_ADAPTER, reference)
    suites = sorted(failing_suites(first))
    entries: list[dict[str, str]] = [
        {"suite": s, "profile": "reference", "reason": f"mosaik differs on {s}"} for s in suites
    ]
    entries.append({"suite": "P6", "reason": "P6 never failed"})
    path = tmp_path / "expect.json"
    path.write_text(
        json.dumps({"format": "snapsync-expected-failures", "version": 1, "entries": entries})
    )
    report = conform(MOSAIK_ADAPTER, reference, expectations=load_expectations(path))
    assert report.ok
    assert report.count("expected-fail") == first.count("failed")
    assert [e.suite for e in report.stale()] == ["P6"]
    schema = SCHEMA_FILES["expected-failures.schema.json"]()
    jsonschema.validate(json.loads(path.read_text()), schema)
    path.write_text(
        json.dumps(
            {"format": "snapsync-expected-failures", "version": 1, "entries": [{"suite": "Q4"}]}
        )
    )
    with pytest.raises(
        VectorError, match=r"entries\[0\]\.reason: every entry must give its reason"
    ):
        load_expectations(path)


# -- readers are verifiers -------------------------------------------------------------------------


def _one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, err
    assert "Traceback" not in err
    return err


def test_a_tampered_tree_is_refused_with_one_line_naming_file_and_field(
    tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(tree, copy)
    victim = sorted((copy / "reference" / "P6").glob("*.json"))[0]
    argv = ["conform", "--adapter", REFERENCE_ADAPTER, "--vectors", str(copy)]
    victim.write_text(victim.read_text().replace('"P6"', '"P5"', 1))
    err = _one_line_error(capsys, argv)
    assert victim.name in err
    assert "sha256 differs from the manifest's" in err
    shutil.copy(tree / "reference" / "P6" / victim.name, victim)
    (copy / "reference" / "P6" / "P6-0000000000000000.json").write_text("{}\n")
    err = _one_line_error(capsys, argv)
    assert "P6-0000000000000000.json" in err
    assert "not listed in the manifest" in err
    (copy / "reference" / "P6" / "P6-0000000000000000.json").unlink()
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["format_version"] = 2
    (copy / "manifest.json").write_text(json.dumps(manifest))
    err = _one_line_error(capsys, argv)
    assert "manifest.json: format_version: this reader reads version 1, got 2" in err


def test_answers_are_read_strictly() -> None:
    good = parse_answer(b'{"id":3,"result":{"index":1}}', 3)
    assert (good.kind, good.value) == ("result", {"index": 1})
    for line, message in [
        (b"not json", "not a JSON line"),
        (b"[1]", "expected a JSON object"),
        (b'{"id":4,"result":{}}', "id: expected 3"),
        (b'{"id":3,"result":{},"error":{"kind":"X"}}', "exactly one of"),
        (b'{"id":3,"error":{"message":"x"}}', "error.kind"),
        (b'{"id":3,"result":{},"extra":1}', "extra: unexpected field"),
        (b'{"id":3,"result":{"a":1,"a":2}}', "duplicate key"),
        (b'{"id":3,"unsupported":5}', "unsupported: expected a string"),
    ]:
        with pytest.raises(MalformedAnswer, match=message):
            parse_answer(line, 3)
    with pytest.raises(JSONError):
        strict_loads("[NaN]")


def test_the_first_difference_tells_json_types_apart() -> None:
    found = first_difference({"post": {"x": [1, 2]}}, {"post": {"x": [1, 2.0]}})
    assert found is not None
    assert found.describe() == "post.x[1]: expected 2, got 2.0"
    found = first_difference({"a": True}, {"a": 1})
    assert found is not None
    assert found.path == "a"
    found = first_difference({"effects": [1]}, {"effects": []})
    assert found is not None
    assert found.describe() == "effects[0]: expected 1, got (absent)"
    assert first_difference({"a": [1, {"b": "c"}]}, {"a": [1, {"b": "c"}]}) is None


# -- the tree: determinism, size, schemas, what it covers -------------------------------------


def test_the_full_generation_is_deterministic_small_and_meets_the_coverage_goal(
    tmp_path: Path,
) -> None:
    from spec.conformance.stats import GOAL, measure

    # Two generations in parallel processes with different hash seeds: nothing may depend
    # on hash order, and the bytes must be identical (cmp -r).
    procs = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        procs.append(
            subprocess.Popen(
                [PY, "-m", "spec.cli", "vectors", "generate", str(tmp_path / seed), "--json"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=ROOT,
            )
        )
    outputs = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), [e.decode()[-2000:] for _, e in outputs]
    compare = filecmp.dircmp(tmp_path / "1", tmp_path / "2")

    def same(d: filecmp.dircmp[str]) -> bool:
        if d.left_only or d.right_only or d.diff_files or d.funny_files:
            return False
        _, mismatch, errors = filecmp.cmpfiles(d.left, d.right, d.common_files, shallow=False)
        return not mismatch and not errors and all(same(s) for s in d.subdirs.values())

    assert same(compare)
    summary = json.loads(outputs[0][0])
    assert summary["bytes"] < 20_000_000
    assert summary["cases"] > 1_000
    # The vectors alone take at least 95% of the branches of the step code (vectors stats).
    report = measure(tmp_path / "1")
    assert not report.mismatches
    assert report.goal_percent() >= GOAL


def test_the_committed_schemas_are_the_generated_ones() -> None:
    for name, make in SCHEMA_FILES.items():
        committed = json.loads((ROOT / "spec" / "schemas" / name).read_text())
        assert committed == make(), f"{name} drifted: run python -m spec.conformance.schemas"
        jsonschema.Draft202012Validator.check_schema(committed)


def test_every_generated_file_matches_its_schema(tree: Path, cases: list[dict[str, Any]]) -> None:
    import jsonschema_rs

    schema = SCHEMA_FILES["conformance-case.schema.json"]()
    fast = jsonschema_rs.validator_for(schema)
    for case in cases:
        assert fast.is_valid(case), f"{case['id']}: {next(fast.iter_errors(case))}"
    # The reference validator agrees on a sample (one case per step and collection).
    slow = jsonschema.Draft202012Validator(schema)
    sample = {(c["step"], c["collection"], c["profile"]): c for c in cases}
    for case in sample.values():
        errors = list(slow.iter_errors(case))
        assert not errors, f"{case['id']}: {errors[0].message[:300]}"
    manifest = json.loads((tree / "manifest.json").read_text())
    jsonschema.validate(manifest, SCHEMA_FILES["conformance-manifest.schema.json"]())
    # A schema that cannot fail checks nothing: a wrong value is refused by both.
    broken = json.loads(json.dumps(cases[0]))
    broken["why"]["kind"] = "fine"
    assert not fast.is_valid(broken)
    assert list(slow.iter_errors(broken))
    broken = json.loads(json.dumps(next(c for c in cases if c["step"] == "Q4")))
    broken["pre"]["inflight"] = [
        ["not a peer id", {"deadline_ms": 1, "range": {"end": 1, "start": 0}}]
    ]
    assert not fast.is_valid(broken)


def test_adapter_messages_match_their_schemas(cases: list[dict[str, Any]]) -> None:
    from spec.conformance.protocol import hello_request, step_request, step_request_parts
    from spec.conformance.server import AdapterServer

    requests = jsonschema.Draft202012Validator(SCHEMA_FILES["adapter-request.schema.json"]())
    answers = jsonschema.Draft202012Validator(SCHEMA_FILES["adapter-answer.schema.json"]())
    server = AdapterServer()
    lines = [hello_request()] + [
        step_request(i + 1, *step_request_parts(case)) for i, case in enumerate(cases[:200])
    ]
    for line in lines:
        request = json.loads(line)
        assert not list(requests.iter_errors(request)), line[:200]
        answer = json.loads(server.answer(line.encode()))
        assert not list(answers.iter_errors(answer)), str(answer)[:200]
    hello = json.loads(server.answer(hello_request().encode()))["result"]
    hello_schema = SCHEMA_FILES["adapter-answer.schema.json"]()["$defs"]["hello"]
    jsonschema.validate(hello, hello_schema)


def test_every_step_collection_and_outcome_has_vectors(cases: list[dict[str, Any]]) -> None:
    for profile in ("reference", "mosaik-0.3.13"):
        mine = [c for c in cases if c["profile"] == profile]
        assert {c["step"] for c in mine} == set(STEP_IDS)
        for step in COLLECTION_STEPS:
            assert {c["collection"] for c in mine if c["step"] == step} == {
                "map",
                "vec",
                "set",
                "depq",
                "cell",
                "once",
            }
    seen: dict[str, set[str]] = {}
    for case in cases:
        seen.setdefault(case["step"], set()).update(outcome_label(case["expected"]))
    for step, conv in CONVENTIONS.items():
        assert set(conv.produces) <= seen.get(step, set()), (step, set(conv.produces) - seen[step])
        assert seen.get(step, set()) <= set(conv.produces), (step, seen[step] - set(conv.produces))
    reasons = {
        label.split(":", 1)[1]
        for labels in seen.values()
        for label in labels
        if label.startswith("ignored:")
    }
    assert reasons == {r.value for r in IgnoreReason} - DISPATCH_ONLY_REASONS
    kinds = {c["why"]["kind"] for c in cases}
    assert kinds == {"valid", "ignored", "rejected"}
    assert {c["why"]["source"]["kind"] for c in cases} >= {"hand", "scenario", "simulation", "hunt"}
    assert any(not c["why"]["profiles_agree"] for c in cases)


def test_the_vectors_hold_integers_above_2_to_the_53(cases: list[dict[str, Any]]) -> None:
    def big(value: Any) -> bool:
        if isinstance(value, bool):
            return False
        if isinstance(value, int):
            return value > 1 << 53
        if isinstance(value, list):
            return any(big(v) for v in value)
        if isinstance(value, dict):
            return any(big(v) for v in value.values())
        return False

    steps = {c["step"] for c in cases if big([c["pre"], c["context"], c["input"]])}
    assert {"P4", "P6", "Q0", "Q1", "R5", "R10", "S1"} <= steps


def test_the_convention_table_in_the_docs_is_the_code(tree: Path) -> None:
    doc = (ROOT / "docs" / "formats" / "vectors.md").read_text()
    assert conventions_markdown() in doc
    manifest = json.loads((tree / "manifest.json").read_text())
    assert [c["step"] for c in manifest["conventions"]] == list(STEP_IDS)


def test_coverage_is_measured_and_can_fail(tree: Path, tmp_path: Path) -> None:
    from spec.conformance.stats import measure

    hand = _hand_calls()
    some = tmp_path / "hand"
    generate(some, calls=hand)
    report = measure(some)
    assert report.cases == len(load_selected(some))
    assert not report.mismatches
    assert report.goal_percent() > 75.0
    # A tree of P6 vectors alone exercises almost nothing: the same measure says so.
    small = tmp_path / "p6"
    generate(small, calls=[c for c in hand if c.step == "P6"])
    assert measure(small).goal_percent() < 10.0


def _hand_calls() -> list[Any]:
    from spec.conformance.handwritten import hand_calls

    return hand_calls()


def test_pack_is_deterministic_and_conform_reads_the_archive(
    tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = tmp_path / "a.tar.gz", tmp_path / "b.tar.gz"
    assert pack(tree, first) == pack(tree, second)
    assert first.read_bytes() == second.read_bytes()
    status = main(
        [
            "conform",
            "--adapter",
            REFERENCE_ADAPTER,
            "--vectors",
            str(first),
            "--steps",
            "P6",
            "--json",
        ]
    )
    out = json.loads(capsys.readouterr().out)
    assert status == 0
    assert out["ok"]
    assert out["totals"]["passed"] == out["selected"] > 0
