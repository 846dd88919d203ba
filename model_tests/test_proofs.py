"""Z3 proof obligations (spec/proofs, ``snapsync prove``).

* every obligation is proved under ``reference`` and behaves as expected under
  ``mosaik-0.3.13`` and under each single hazard switch that touches it;
* every counterexample is replayed through the impl and reproduces there (and the
  reference profile does not fail on the same input);
* one deliberate mutant per family shows that the checks can fail;
* the symbolic collection encodings agree with the impl on random logs;
* the CLI's exit status, JSON rows and bad-input errors.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import z3
from hypothesis import given
from hypothesis import strategies as st

from impl.collections import get_collection
from impl.collections.base import ApplyContext
from impl.config import Config
from impl.errors import HazardPanic
from impl.messages import SnapshotRequest
from impl.profile import MOSAIK_0_3_13, REFERENCE, Hazard, Profile
from impl.types import Cursor, Index, PeerId, Term
from spec import cli
from spec.proofs import buffer, chunking, fold, inductive, replay, runner
from spec.proofs.buffer import BufferWitness
from spec.proofs.chunking import ChunkWitness
from spec.proofs.collections import ENCODINGS, KEYS, SymCommand, get_encoding
from spec.proofs.core import Obligation, Outcome, Result, Verdict, solve
from spec.proofs.fold import FoldWitness
from spec.proofs.inductive import InductiveWitness

KINDS = tuple(ENCODINGS)


@pytest.fixture(scope="module")
def reference_run() -> dict[str, Outcome]:
    return {o.obligation: o for o in runner.run(REFERENCE)}


@pytest.fixture(scope="module")
def mosaik_run() -> dict[str, Outcome]:
    return {o.obligation: o for o in runner.run(MOSAIK_0_3_13)}


def _outcome(run: dict[str, Outcome], name: str) -> Outcome:
    outcome = run[name]
    assert outcome.result is Result.COUNTEREXAMPLE, outcome.note
    return outcome


# ---------------------------------------------------------------------------------------------
# Results per profile


def test_every_obligation_proved_under_reference(reference_run: dict[str, Outcome]) -> None:
    assert len(reference_run) == len(runner.obligations()) == 57
    not_proved = {n: (o.result, o.note) for n, o in reference_run.items() if o.result != "proved"}
    assert not_proved == {}


def test_mosaik_results_are_the_expected_ones(mosaik_run: dict[str, Outcome]) -> None:
    wrong = {n: (o.result, o.expected) for n, o in mosaik_run.items() if not o.as_expected}
    assert wrong == {}
    failing = {n for n, o in mosaik_run.items() if o.result is Result.COUNTEREXAMPLE}
    assert failing == {
        "fold/depq/position",
        "fold/depq/snapshot",
        "fold/depq/replay",
        "chunk/schedule",
        "chunk/drain",
        "buffer/contiguity",
        "buffer/commit-monotonic",
        "inductive/I4/on_fetch_data_response",
        "inductive/I4/schedule_fetches",
    }


def test_obligations_run_within_their_time_target(reference_run: dict[str, Outcome]) -> None:
    # Targets: each obligation about 1 s, the whole run well under 60 s (2 shared cores).
    assert sum(o.seconds for o in reference_run.values()) < 60
    assert max(o.seconds for o in reference_run.values()) < 10


TOUCHING = sorted({h for o in runner.obligations() for h in o.hazards}, key=str)


@pytest.mark.parametrize("hazard", TOUCHING, ids=str)
def test_single_hazard_yields_counterexamples_where_it_touches(hazard: Hazard) -> None:
    profile = REFERENCE.with_hazards([hazard])
    touched = [o for o in runner.obligations() if hazard in o.hazards]
    assert touched
    for obligation in touched:
        outcome = Outcome.run(obligation, profile)
        assert outcome.result is Result.COUNTEREXAMPLE, (obligation.name, outcome.note)
        assert outcome.counterexample


def test_hazards_without_a_proof_obligation_leave_the_touched_ones_proved() -> None:
    # H6 touches no obligation: the hazard-sensitive ones stay proved under it.
    profile = REFERENCE.with_hazards([Hazard.H6])
    for obligation in runner.obligations():
        if obligation.hazards:
            assert Outcome.run(obligation, profile).result is Result.PROVED, obligation.name


def test_inductive_failure_names_invariant_and_step(mosaik_run: dict[str, Outcome]) -> None:
    text = _outcome(mosaik_run, "inductive/I4/on_fetch_data_response").counterexample
    assert text is not None
    assert text.startswith("invariant I4 is not preserved by on_fetch_data_response")
    assert "before:" in text
    assert "after:" in text
    text = _outcome(mosaik_run, "inductive/I4/schedule_fetches").counterexample
    assert text is not None
    assert text.startswith("invariant I4 is not preserved by schedule_fetches")


# ---------------------------------------------------------------------------------------------
# Replays: counterexamples reproduce in the impl


def test_depq_h4_replay_diverges_in_impl(mosaik_run: dict[str, Outcome]) -> None:
    outcome = _outcome(mosaik_run, "fold/depq/replay")
    witness = outcome.witness
    assert isinstance(witness, FoldWitness)
    assert outcome.counterexample is not None
    assert "CompareExchangeValue" in outcome.counterexample
    for profile in (MOSAIK_0_3_13, REFERENCE.with_hazards(["H4"])):
        impl = replay.replay_fold(witness, profile)
        assert impl.position == witness.position < impl.batch_end == witness.batch_end
        assert impl.diverged
        # The model predicted exactly what the impl computes.
        assert impl.leader_items == witness.leader_items
        assert impl.follower_items == witness.follower_items
        assert impl.snapshot_items == witness.snapshot_items
    fixed = replay.replay_fold(witness, REFERENCE)
    assert fixed.position == fixed.batch_end
    assert not fixed.diverged
    assert fixed.snapshot_is_prefix


def test_depq_h4_snapshot_replay_is_not_the_prefix(mosaik_run: dict[str, Outcome]) -> None:
    witness = _outcome(mosaik_run, "fold/depq/snapshot").witness
    assert isinstance(witness, FoldWitness)
    impl = replay.replay_fold(witness, MOSAIK_0_3_13)
    assert impl.position == witness.position
    assert not impl.snapshot_is_prefix
    assert impl.prefix_items == witness.prefix_items
    assert replay.replay_fold(witness, REFERENCE).snapshot_is_prefix


def test_depq_h4_position_replay_is_uncounted(mosaik_run: dict[str, Outcome]) -> None:
    cmd, items = _outcome(mosaik_run, "fold/depq/position").witness
    assert isinstance(cmd, SymCommand)
    assert cmd.name == "CompareExchangeValue"
    depq = get_collection("depq")
    state = depq.install_snapshot(depq.initial(), depq.empty_snapshot().append(items))
    command = replay.impl_command("depq", cmd, SnapshotRequest(replay.FOLLOWER, 0))
    assert depq.step(state, command, MOSAIK_0_3_13) == (state, False)  # type: ignore[attr-defined]
    assert depq.step(state, command, REFERENCE) == (state, True)  # type: ignore[attr-defined]


def test_chunk_schedule_h2_replay_overlaps_and_stalls(mosaik_run: dict[str, Outcome]) -> None:
    witness = _outcome(mosaik_run, "chunk/schedule").witness
    assert isinstance(witness, ChunkWitness)
    for profile in (MOSAIK_0_3_13, REFERENCE.with_hazards(["H2"])):
        impl = replay.replay_chunk(witness, profile)
        assert impl.problems_before == ()
        assert impl.violates("I4")
        assert witness.chunk in [(p.range.start, p.range.end) for p in impl.after.inflight.values()]
        assert replay.run_to_completion(impl) == (False, "L2(c)")
    fixed = replay.replay_chunk(witness, REFERENCE)
    assert fixed.problems_after == ()
    assert replay.run_to_completion(fixed) == (True, None)


def test_chunk_drain_h1_replay_late_chunk_stalls(mosaik_run: dict[str, Outcome]) -> None:
    witness = _outcome(mosaik_run, "chunk/drain").witness
    assert isinstance(witness, ChunkWitness)
    assert witness.response is not None
    offset, _, solicited = witness.response
    assert offset < witness.gap_start
    assert not solicited
    for profile in (MOSAIK_0_3_13, REFERENCE.with_hazards(["H1"])):
        impl = replay.replay_chunk(witness, profile)
        assert impl.problems_before == ()
        assert not impl.ignored
        assert impl.violates("I4")
        assert replay.run_to_completion(impl) == (False, "L2(c)")
    fixed = replay.replay_chunk(witness, REFERENCE)
    assert fixed.ignored
    assert replay.run_to_completion(fixed) == (True, None)


def test_chunk_drain_h10_replay_accepts_an_overlong_chunk() -> None:
    profile = REFERENCE.with_hazards(["H10"])
    verdict = chunking.check_drain(profile)
    witness = verdict.witness
    assert isinstance(witness, ChunkWitness)
    impl = replay.replay_chunk(witness, profile)
    assert impl.problems_before == ()
    assert impl.violates("I4")
    assert replay.replay_chunk(witness, REFERENCE).ignored


@pytest.mark.parametrize(
    ("hazards", "step"),
    [
        (["H1"], "on_fetch_data_response"),
        (["H10"], "on_fetch_data_response"),
        (list(Hazard), "on_fetch_data_response"),
        (["H2"], "schedule_fetches"),
        (list(Hazard), "schedule_fetches"),
    ],
    ids=["H1-Q4", "H10-Q4", "mosaik-Q4", "H2-Q11", "mosaik-Q11"],
)
def test_inductive_cti_replays_in_impl(hazards: list[str], step: str) -> None:
    profile = REFERENCE.with_hazards(hazards)
    verdict = inductive.check_consecution("I4", step, profile)
    witness = verdict.witness
    assert isinstance(witness, InductiveWitness)
    impl = replay.replay_inductive(witness, profile)
    assert impl.problems_before == ()  # a state satisfying the invariants ...
    assert impl.violates("I4")  # ... that the impl's step takes out of I4
    fixed = replay.replay_inductive(witness, REFERENCE)
    assert fixed.problems_after == ()


def test_buffer_h3_replay_panics_at_finalize(mosaik_run: dict[str, Outcome]) -> None:
    witness = _outcome(mosaik_run, "buffer/contiguity").witness
    assert isinstance(witness, BufferWitness)
    for profile in (MOSAIK_0_3_13, REFERENCE.with_hazards(["H3"])):
        impl = replay.replay_buffer(witness, profile)
        assert impl.anchor is not None
        assert impl.anchor.index == witness.anchor
        assert impl.kept == witness.kept
        assert isinstance(impl.panic, HazardPanic)
        assert impl.panic.hazard == "H3"
    fixed = replay.replay_buffer(witness, REFERENCE)
    assert fixed.panic is None
    if fixed.committed is not None:
        assert fixed.kept == tuple(
            range(fixed.committed.index + 1, fixed.committed.index + 1 + len(fixed.kept))
        )


def test_buffer_h9_replay_moves_committed_back(mosaik_run: dict[str, Outcome]) -> None:
    witness = _outcome(mosaik_run, "buffer/commit-monotonic").witness
    assert isinstance(witness, BufferWitness)
    for profile in (MOSAIK_0_3_13, REFERENCE.with_hazards(["H9"])):
        impl = replay.replay_buffer(witness, profile)
        assert impl.committed is not None
        assert impl.committed.index < witness.committed_before < witness.trigger
    fixed = replay.replay_buffer(witness, REFERENCE)
    assert fixed.committed is None or fixed.committed.index >= witness.committed_before
    assert fixed.ignored


# ---------------------------------------------------------------------------------------------
# Deliberate mutants: every family can fail


@pytest.mark.parametrize("kind", KINDS)
def test_mutant_off_by_one_position_fails_fold(kind: str) -> None:
    assert fold.check_position(kind, REFERENCE, position_offset=-1).result is Result.COUNTEREXAMPLE
    snap = fold.check_snapshot(kind, REFERENCE, max_len=3, position_offset=-1)
    assert snap.result is Result.COUNTEREXAMPLE
    assert isinstance(snap.witness, FoldWitness)
    assert snap.witness.position == snap.witness.batch_end - 1
    # The replay proof fails too: its base case is the snapshot obligation.
    assert fold.check_replay(kind, REFERENCE, max_len=3, position_offset=-1).result != "proved"


def test_mutant_off_by_one_vec_replay_diverges_in_impl() -> None:
    verdict = fold.check_replay("vec", REFERENCE, max_len=4, position_offset=-1)
    assert verdict.result is Result.COUNTEREXAMPLE
    witness = verdict.witness
    assert isinstance(witness, FoldWitness)
    assert witness.follower_items != witness.leader_items


def test_mutant_chunk_end_leaves_a_gap() -> None:
    verdict = chunking.check_cover(REFERENCE, end_offset=1)
    assert verdict.result is Result.COUNTEREXAMPLE
    assert verdict.counterexample is not None
    assert "clamp" in verdict.counterexample


@pytest.mark.parametrize(
    ("mutant", "obligation"),
    [("gap_keeps_anchor", "contiguity"), ("offer_floor_minus_two", "commit-monotonic")],
)
def test_mutant_buffer_rule_fails(mutant: str, obligation: str) -> None:
    verdict = buffer.check_buffer(obligation, REFERENCE, mutant=mutant)
    assert verdict.result is Result.COUNTEREXAMPLE
    assert isinstance(verdict.witness, BufferWitness)


@pytest.mark.parametrize(
    ("mutant", "invariant", "step"),
    [
        ("terminations_keep_inflight", "I6", "poll_terminations"),
        ("drain_without_append", "I5", "drain_fetched_items"),
        ("upgrade_keeps_fetched", "I4", "try_upgrade_anchor"),
    ],
)
def test_mutant_step_breaks_consecution(mutant: str, invariant: str, step: str) -> None:
    verdict = inductive.check_consecution(invariant, step, REFERENCE, mutant=mutant)
    assert verdict.result is Result.COUNTEREXAMPLE
    assert verdict.counterexample is not None
    assert verdict.counterexample.startswith(f"invariant {invariant} is not preserved by {step}")


def test_mutants_are_all_exercised() -> None:
    assert set(inductive.MUTANTS) == {
        "terminations_keep_inflight",
        "drain_without_append",
        "upgrade_keeps_fetched",
    }
    assert set(buffer.MUTANTS) == {"gap_keeps_anchor", "offer_floor_minus_two"}


# ---------------------------------------------------------------------------------------------
# The encodings agree with the impl


def _field_values(kind: str, field: str) -> st.SearchStrategy[int | bool]:
    if field.startswith("has_"):
        return st.booleans()
    if field.endswith("_kind"):
        return st.integers(0, 2)
    if "key" in field or kind == "set":
        return st.integers(0, KEYS - 1)
    return st.integers(0, 4)


@st.composite
def _logs(draw: st.DrawFn, kind: str) -> list[SymCommand]:
    enc = get_encoding(kind)
    ctors = [c for c in enc.cmds.ctors if c != "TakeSnapshot"]
    out = []
    for _ in range(draw(st.integers(1, 6))):
        name = draw(st.sampled_from(ctors))
        args = tuple((f, draw(_field_values(kind, f))) for f, _ in enc.cmds.ctors[name])
        out.append(SymCommand(name, args))
    return out


def _impl_items(kind: str, log: list[SymCommand], profile: Profile) -> tuple[Any, ...] | None:
    machine = get_collection(kind)
    me = PeerId.from_label("encoding-check")
    state = machine.initial()
    try:
        for i, cmd in enumerate(log):
            command = replay.impl_command(kind, cmd, SnapshotRequest(me, 0))
            ctx = ApplyContext(
                Cursor(Term(1), Index(i)),
                Cursor(Term(1), Index(len(log))),
                Term(1),
                me,
                0,
                Config(),
            )
            state, _ = machine.apply_batch(state, [command], ctx, profile)
    except HazardPanic:
        return None
    return machine.items(state)


def _model_items(kind: str, log: list[SymCommand], profile: Profile) -> tuple[Any, ...] | None:
    enc = get_encoding(kind).for_log(len(log))
    state = enc.initial()
    for cmd in log:
        state, _ = enc.apply(state, enc.cmds.value(cmd), profile)
    solver = z3.Solver()
    assert solver.check() == z3.sat
    return enc.items(solver.model(), tuple(z3.simplify(x) for x in state))


@pytest.mark.parametrize("profile", [REFERENCE, MOSAIK_0_3_13], ids=lambda p: p.name)
@pytest.mark.parametrize("kind", KINDS)
def test_encoding_agrees_with_impl(kind: str, profile: Profile) -> None:
    @given(_logs(kind))
    def check(log: list[SymCommand]) -> None:
        assert _model_items(kind, log, profile) == _impl_items(kind, log, profile)

    check()


# ---------------------------------------------------------------------------------------------
# CLI


def test_cli_json_rows(capsys: pytest.CaptureFixture[str]) -> None:
    status = cli.main(["prove", "--only", "chunk", "--only", "buffer", "--json"])
    assert status == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["obligation"] for r in rows] == [
        "chunk/cover",
        "chunk/walk",
        "chunk/schedule",
        "chunk/drain",
        "buffer/contiguity",
        "buffer/commit-monotonic",
    ]
    for row in rows:
        assert set(row) == {"obligation", "profile", "result", "seconds", "counterexample"}
        assert row["profile"] == "reference"
        assert row["result"] == "proved"
        assert row["counterexample"] is None


def test_cli_hazard_counterexample_is_expected(capsys: pytest.CaptureFixture[str]) -> None:
    status = cli.main(["prove", "--hazard", "H2", "--only", "chunk/schedule", "--json"])
    assert status == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["profile"] == "reference+H2"
    assert row["result"] == "counterexample"
    assert "overlaps" in row["counterexample"]


def test_cli_human_table(capsys: pytest.CaptureFixture[str]) -> None:
    status = cli.main(["prove", "--profile", "mosaik-0.3.13", "--only", "buffer"])
    assert status == 0
    out = capsys.readouterr().out
    assert "buffer/contiguity" in out
    assert "counterexample" in out
    assert "session.rs:662" in out
    assert "all as expected for mosaik-0.3.13" in out


def test_cli_unexpected_result_exits_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = Obligation(
        "chunk/cover",
        "chunk",
        "expects a counterexample it cannot get",
        frozenset(Hazard),
        lambda p: Verdict.proved(),
    )
    monkeypatch.setattr(runner, "obligations", lambda: (wrong,))
    monkeypatch.setattr("spec.commands.prove.obligations", lambda: (wrong,))
    assert cli.main(["prove", "--profile", "mosaik-0.3.13", "--json"]) == 1
    assert json.loads(capsys.readouterr().out)[0]["result"] == "proved"


def test_invalid_hazard_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["prove", "--hazard", "H99"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("snapsync: error: unknown hazard 'H99'")
    assert "\n" not in err


def test_invalid_profile_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["prove", "--profile", "mosaik-9"]) == 2
    err = capsys.readouterr().err
    assert "--profile: invalid choice: 'mosaik-9'" in err
    assert len(err.strip().splitlines()) == 1


def test_invalid_only_prefix_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["prove", "--only", "nothing/here"]) == 2
    assert "no obligation" in capsys.readouterr().err


def test_unknown_z3_answer_is_reported_not_proved() -> None:
    # A query z3 cannot decide within its budget is "unknown", never "proved".
    x, y, z = z3.Ints("x y z")
    hard = [x > 0, y > 0, z > 0, x * x * x + y * y * y == z * z * z]
    result, reason = solve(hard, 1)
    assert result is Result.UNKNOWN
    assert reason
