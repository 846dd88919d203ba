"""``snapsync bench actions`` at a small size (not a timed test): fields, the digest."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from impl.profile import REFERENCE
from impl.types import Cursor, Index, Term
from spec.benchmarks import model_actions
from spec.benchmarks.model_actions import Workload, canonical, drive, outcome_digest, world_digest
from spec.cli import main
from spec.model.actions import advance_time

_SMALL = ["--items", "4", "--writes", "2", "--rounds", "1", "--kinds", "map,cell"]


def test_actions_json_fields(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "actions", "--json", "--repeat", "2", *_SMALL]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {
        "runs",
        "actions",
        "findings",
        "seconds",
        "actions_per_s",
        "cpu_seconds",
        "actions_per_cpu_s",
        "repeats",
        "cpu_repeats",
        "digest",
    }
    assert out["runs"] == 4  # two kinds, two profiles
    assert out["actions"] > 100
    assert out["findings"] > 0  # Cell under mosaik's hazards breaks I3
    assert len(out["repeats"]) == len(out["cpu_repeats"]) == 2
    assert out["seconds"] == min(out["repeats"])
    assert out["actions_per_s"] == pytest.approx(out["actions"] / out["seconds"])
    assert len(out["digest"]) == 64


def test_actions_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "actions", "--repeat", "1", *_SMALL]) == 0
    text = capsys.readouterr().out
    assert "actions/s" in text
    assert "digest " in text


def test_digest_is_the_behaviour() -> None:
    work = Workload(items=4, writes=2, rounds=1, kinds=("map",))
    one = model_actions.run(work, repeat=2)  # the repeats agree, or DigestMismatch
    assert model_actions.run(work, repeat=1).digest == one.digest
    other = model_actions.run(Workload(items=5, writes=2, rounds=1, kinds=("map",)), repeat=1)
    assert other.digest != one.digest
    # One more action changes the digest: it covers the transitions.
    d = drive("map", REFERENCE, work)
    before = outcome_digest([d])
    d.do(advance_time, d.world.now_ms + 1)
    assert outcome_digest([d]) != before


def test_world_digest_sees_one_field() -> None:
    d = drive("map", REFERENCE, Workload(items=4, writes=2, rounds=1, kinds=("map",)))
    world = d.world
    name = world.up_names()[0]
    slot = world.nodes[name]
    moved = world.with_slot(replace(slot, skew_ms=slot.skew_ms + 1))
    assert world_digest(world) == world_digest(d.world)
    assert world_digest(moved) != world_digest(world)


def test_canonical_is_order_free() -> None:
    a = {"x": frozenset({3, 1, 2}), "y": Cursor(Term(1), Index(2))}
    b = {"y": Cursor(Term(1), Index(2)), "x": frozenset({2, 3, 1})}
    assert canonical(a) == canonical(b) == [["x", [1, 2, 3]], ["y", ["Cursor", 1, 2]]]


def test_invalid_canonical_value() -> None:
    with pytest.raises(TypeError, match="no canonical form"):
        canonical(object())


@pytest.mark.parametrize(
    "args",
    [["--kinds", "map,nope"], ["--kinds", ""], ["--repeat", "0"], ["--items", "x"]],
)
def test_invalid_options(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "actions", *args]) == 2
    err = capsys.readouterr().err
    assert "error" in err
    assert len(err.strip().splitlines()) == 1
