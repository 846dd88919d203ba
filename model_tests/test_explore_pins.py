"""Pinned state counts of a table of configurations (model_tests/explore_pins.json).

A change to the model that changes a state space fails here with the table of what
changed; re-pin with ``python -m spec.explore.pins --update`` (``--slow`` for the
slow rows) and say why in the commit.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from spec.explore.pins import (
    PINS_FILE,
    Pin,
    config_of,
    differences,
    format_differences,
    load,
    main,
    measure,
)

PINS = load()


def _check(pin: Pin) -> None:
    rows = differences(pin, measure(config_of(pin.config)))
    assert not rows, (
        "the explored state space changed:\n"
        + format_differences(rows)
        + "\nre-pin with: python -m spec.explore.pins --update"
        + (" --slow" if pin.slow else "")
    )


@pytest.mark.parametrize("pin", [p for p in PINS if not p.slow], ids=lambda p: p.name)
def test_pinned_counts(pin: Pin) -> None:
    _check(pin)


@pytest.mark.slow
@pytest.mark.parametrize("pin", [p for p in PINS if p.slow], ids=lambda p: p.name)
def test_pinned_counts_slow(pin: Pin) -> None:
    _check(pin)


def test_the_reference_rows_are_complete_and_clean() -> None:
    for pin in PINS:
        hazards = pin.config.get("hazards") or pin.config.get("faults")
        bounded = "max_depth" in pin.config or pin.config.get("stop_on_first")
        if hazards or bounded:
            continue
        assert pin.figures["complete"], pin.name
        assert pin.figures["violations"] == [], pin.name
        assert (pin.figures["dead_ends"], pin.figures["stalls"]) == (0, 0), pin.name
        if pin.config.get("writes", 1):
            assert "write_during_sync" in pin.figures["reached"], pin.name


def test_at_least_three_complete_reference_rows_sync_from_two_providers_with_a_write() -> None:
    """Issue #12: three configurations explored completely under reference, each with a
    lagging reader, at least two providers and a write during sync, nothing found."""
    rows = [
        p
        for p in PINS
        if not p.config.get("hazards")
        and p.config.get("profile", "reference") == "reference"
        and p.config.get("readers", 1) >= 1
        and p.config.get("writes", 1) >= 1
        and p.figures.get("complete")
    ]
    assert len(rows) >= 3, [p.name for p in rows]
    for p in rows:
        assert "write_during_sync" in p.figures["reached"], p.name
        assert p.figures["violations"] == [], p.name


def test_a_changed_count_fails_with_a_readable_diff(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A deliberately wrong pin: the tool reports the difference and exits 1.
    text = PINS_FILE.read_text().replace('"states": 373', '"states": 372', 1)
    assert text != PINS_FILE.read_text()
    table = tmp_path / "pins.json"
    table.write_text(text)
    assert main(["--file", str(table), "--only", "tiny"]) == 1
    out = capsys.readouterr().out
    assert ["tiny", "states", "372", "373"] in [line.split() for line in out.splitlines()]
    assert main(["--file", str(table), "--only", "tiny", "--update"]) == 0
    assert '"states": 373' in table.read_text()
