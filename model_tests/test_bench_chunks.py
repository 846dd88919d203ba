"""``snapsync bench chunks`` through the CLI at a small size (not a timed test)."""

from __future__ import annotations

import functools
import json

import pytest

from impl.collections.map import MapSnapshot
from spec.benchmarks import chunks
from spec.cli import main


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, object]:
    """Run ``snapsync bench chunks --json`` with ``args``; return the parsed output."""
    assert main(["bench", "chunks", "--json", *args]) == 0
    out: dict[str, object] = json.loads(capsys.readouterr().out)
    return out


def test_chunks_json_fields_and_ratio(capsys: pytest.CaptureFixture[str]) -> None:
    out = run_json(capsys, "--items", "1000", "--batch", "10")
    assert set(out) == {
        "items",
        "batch",
        "chunks",
        "reference",
        "baseline",
        "visit_ratio",
        "time_ratio",
    }
    assert (out["items"], out["batch"], out["chunks"]) == (1000, 10, 100)
    reference, baseline = out["reference"], out["baseline"]
    assert isinstance(reference, dict)
    assert isinstance(baseline, dict)
    assert set(reference) == set(baseline) == {"visits", "seconds"}
    # Reference: each chunk visits its own items. Baseline: chunk k visits its end 10(k+1).
    assert reference["visits"] == 1000
    assert baseline["visits"] == sum(10 * (k + 1) for k in range(100)) == 50_500
    assert out["visit_ratio"] == pytest.approx(50.5)
    assert out["time_ratio"] == pytest.approx(baseline["seconds"] / reference["seconds"])


def test_chunks_last_chunk_shorter(capsys: pytest.CaptureFixture[str]) -> None:
    out = run_json(capsys, "--items", "95", "--batch", "30")
    assert out["chunks"] == 4
    baseline = out["baseline"]
    assert isinstance(baseline, dict)
    assert baseline["visits"] == 30 + 60 + 90 + 95
    assert out["visit_ratio"] == pytest.approx(275 / 95)


def test_chunks_table_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "chunks", "--items", "200", "--batch", "50"]) == 0
    text = capsys.readouterr().out
    assert "reference" in text
    assert "baseline" in text
    assert "2.5x" in text  # visits 50+100+150+200 = 500 vs 200


def test_chunks_mismatch_fails_loudly(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A baseline that serves a wrong chunk is caught (mutant); the CLI exits 2."""

    def broken(snapshot: MapSnapshot, batch: int) -> tuple[chunks.Chunks, int]:
        served, visits = chunks.serve_baseline(snapshot, batch)
        served[1] = served[1][::-1]
        return served, visits

    with pytest.raises(chunks.ChunkMismatch, match="chunk 1"):
        chunks.run(100, 10, baseline=broken)
    monkeypatch.setattr(chunks, "run", functools.partial(chunks.run, baseline=broken))
    assert main(["bench", "chunks", "--items", "100", "--batch", "10"]) == 2
    assert "differs" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["0", "-3", "ten"])
def test_invalid_bench_arguments(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "chunks", "--items", value]) == 2
    err = capsys.readouterr().err
    assert "--items" in err
    assert len(err.strip().splitlines()) == 1
