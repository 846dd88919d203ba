"""``snapsync bench forms`` at a small size (not a timed test): fields, the round-trip check."""

from __future__ import annotations

import json

import pytest

from impl.codec import loads as real_loads
from spec.benchmarks import forms as bench_forms
from spec.benchmarks.forms import RoundTripMismatch
from spec.cli import main


def test_forms_json_fields(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["bench", "forms", "--json", "--repeat", "1", "--limit", "60", "--kinds", "map"]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {
        "states",
        "contexts",
        "state_bytes",
        "write_states_per_s",
        "read_states_per_s",
        "write_contexts_per_s",
        "read_contexts_per_s",
    }
    assert out["states"] == out["contexts"] == 60
    assert out["state_bytes"] > 200
    assert out["read_states_per_s"] > 0
    assert out["write_contexts_per_s"] > 0


def test_forms_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "forms", "--repeat", "1", "--limit", "20", "--kinds", "cell"]) == 0
    assert "node states" in capsys.readouterr().out


def test_a_lossy_round_trip_fails_the_benchmark(monkeypatch: pytest.MonkeyPatch) -> None:
    """Mutant: reading forgets that a node is online; the benchmark refuses to time it."""
    states, _ = bench_forms.collect(40, ("map",))
    assert any(s.online for s in states)
    original = real_loads

    def forgetful(text: str) -> object:
        value = original(text)
        return value.__class__(
            **{**{f: getattr(value, f) for f in value.__dataclass_fields__}, "online": False}
        )

    monkeypatch.setattr(bench_forms, "loads", forgetful)
    with pytest.raises(RoundTripMismatch):
        bench_forms._check([s for s in states if s.online])
