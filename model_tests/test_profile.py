"""Tests of impl.profile: presets, hazard switches and their names."""

from __future__ import annotations

import pytest

from impl.errors import InvalidInput, UnknownHazard, UnknownProfile
from impl.profile import (
    MOSAIK_0_3_13,
    PROFILES,
    REFERENCE,
    Hazard,
    Profile,
    get_profile,
    parse_hazard,
)


def test_presets() -> None:
    assert REFERENCE.name == "reference"
    assert REFERENCE.hazards == frozenset()
    assert MOSAIK_0_3_13.name == "mosaik-0.3.13"
    assert MOSAIK_0_3_13.hazards == frozenset(Hazard)
    assert PROFILES == {"reference": REFERENCE, "mosaik-0.3.13": MOSAIK_0_3_13}
    for h in Hazard:
        assert MOSAIK_0_3_13.has(h)
        assert not REFERENCE.has(h)


def test_hazard_ids_and_descriptions() -> None:
    for h in Hazard:
        assert h.value == h.name
        assert h.value.startswith("H")
        assert h.description.strip()


def test_with_hazards_names_the_profile() -> None:
    assert REFERENCE.with_hazards(["H4"]).name == "reference+H4"
    assert REFERENCE.with_hazards([Hazard.H4]).hazards == frozenset({Hazard.H4})
    # Several switches: sorted by id text, joined with "+".
    assert REFERENCE.with_hazards(["H2", "H10", "h1"]).name == "reference+H1+H10+H2"
    # Switching on what is already on changes nothing (same object, same name).
    assert MOSAIK_0_3_13.with_hazards(["H1"]) is MOSAIK_0_3_13
    once = REFERENCE.with_hazards(["H4"])
    assert once.with_hazards(["H4", "H1"]).name == "reference+H4+H1"


def test_without_hazards_names_the_profile() -> None:
    p = MOSAIK_0_3_13.without_hazards(["H3", "H1"])
    assert p.name == "mosaik-0.3.13-H1-H3"
    assert not p.has(Hazard.H1)
    assert not p.has(Hazard.H3)
    assert p.has(Hazard.H4)
    assert REFERENCE.without_hazards(["H1"]) is REFERENCE


def test_profiles_are_values() -> None:
    a = REFERENCE.with_hazards(["H4"])
    assert a == Profile("reference+H4", frozenset({Hazard.H4}))
    assert REFERENCE.hazards == frozenset()  # the preset is unchanged
    assert hash(a) == hash(Profile("reference+H4", frozenset({Hazard.H4})))


def test_get_profile() -> None:
    assert get_profile("reference") is REFERENCE
    assert get_profile("mosaik-0.3.13") is MOSAIK_0_3_13
    assert get_profile("reference", ["h4", " H9 "]).name == "reference+H4+H9"


def test_parse_hazard() -> None:
    assert parse_hazard("H4") is Hazard.H4
    assert parse_hazard(" h10 ") is Hazard.H10
    assert parse_hazard(Hazard.H1) is Hazard.H1


@pytest.mark.parametrize("bad", ["H99", "H0", "", "4", "HH4", "H4x"])
def test_invalid_hazard_name(bad: str) -> None:
    with pytest.raises(UnknownHazard, match="unknown hazard") as exc:
        parse_hazard(bad)
    assert exc.value.name == bad
    assert isinstance(exc.value, InvalidInput)
    with pytest.raises(UnknownHazard):
        REFERENCE.with_hazards([bad])


@pytest.mark.parametrize("bad", ["mosaik", "Reference", "", "mosaik-0.3.18"])
def test_invalid_profile_name(bad: str) -> None:
    with pytest.raises(UnknownProfile, match=r"known: reference, mosaik-0\.3\.13") as exc:
        get_profile(bad)
    assert exc.value.name == bad


def test_invalid_hazard_in_get_profile() -> None:
    with pytest.raises(UnknownHazard):
        get_profile("reference", ["H0"])
