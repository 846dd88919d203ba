"""Profiles: one code path, parameterised by named hazard switches.

``mosaik-0.3.13`` turns every switch on and reproduces mosaik as it is;
``reference`` turns every switch off: each switch's "off" behaviour is a
documented spec decision (docs/protocol.md, "Spec decisions"). Switching one
hazard on in ``reference`` is how the project measures the power of its checks.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from impl.errors import UnknownHazard, UnknownProfile
from impl.registry import tagged

__all__ = [
    "MOSAIK_0_3_13",
    "PROFILES",
    "REFERENCE",
    "Hazard",
    "Profile",
    "get_profile",
    "parse_hazard",
]


class Hazard(StrEnum):
    """Hazard switches; the ids are the inventory's (§5). On = mosaik's behaviour."""

    H1 = "H1"
    """Session accepts late/unsolicited fetch responses; a chunk below the drain cursor stalls."""
    H2 = "H2"
    """Scheduler does not clip a chunk at the next assigned range, so ranges overlap."""
    H3 = "H3"
    """Buffered entries are never checked for contiguity; finalize asserts (panics)."""
    H4 = "H4"
    """DEPQ: a mismatching CompareExchangeValue is not counted in the snapshot position."""
    H5 = "H5"
    """Map/Cell compare-exchange compares different encodings; a Some expectation never matches."""
    H6 = "H6"
    """The request-retry timer is stopped by the first offer; nothing recovers a dead session."""
    H7 = "H7"
    """Provider copies expire while a session still depends on them (TTL revived per provider)."""
    H9 = "H9"
    """Offers are not bound to the session's request; stale anchors are accepted."""
    H10 = "H10"
    """Fetch responses are not validated against what was asked (offset, length, sender)."""
    H23 = "H23"
    """Vec Insert has no bounds check (mosaik panics on index > len)."""
    H27 = "H27"
    """A consistent AppendEntries during catch-up is applied while the session is alive."""
    H28 = "H28"
    """Cell/Once iter_range ignores the range end."""

    @property
    def description(self) -> str:
        """Return the one-line description of this switch."""
        return _DESCRIPTIONS[self]


_DESCRIPTIONS: dict[Hazard, str] = {
    Hazard.H1: "late/unsolicited fetch responses accepted; chunk below drain cursor stalls",
    Hazard.H2: "scheduled chunk not clipped at next assigned range (overlap)",
    Hazard.H3: "buffer contiguity unchecked; finalize assert panics",
    Hazard.H4: "DEPQ CompareExchangeValue mismatch not counted in snapshot position",
    Hazard.H5: "Map/Cell compare-exchange with Some expectation never matches",
    Hazard.H6: "retry timer stopped by first offer; no recovery from dead session",
    Hazard.H7: "provider snapshot expires while the session still depends on it",
    Hazard.H9: "offers not bound to the session's request (stale anchors accepted)",
    Hazard.H10: "fetch responses not validated against the request",
    Hazard.H23: "Vec Insert unguarded (panics when index > len)",
    Hazard.H27: "consistent AppendEntries applied during catch-up",
    Hazard.H28: "Cell/Once iter_range ignores the range end",
}


@tagged("Profile")
@dataclass(frozen=True, slots=True)
class Profile:
    """A named set of enabled hazard switches.

    >>> MOSAIK_0_3_13.has(Hazard.H1), REFERENCE.has(Hazard.H1)
    (True, False)
    >>> REFERENCE.with_hazards(["H4"]).name
    'reference+H4'
    """

    name: str
    hazards: frozenset[Hazard]

    def has(self, hazard: Hazard) -> bool:
        """Check if ``hazard`` is switched on (mosaik's behaviour)."""
        return hazard in self.hazards

    def with_hazards(self, names: Iterable[str | Hazard]) -> Profile:
        """Return a copy with the named hazards switched on (``"H4"`` or ``Hazard.H4``)."""
        added = frozenset(parse_hazard(n) for n in names)
        if not added - self.hazards:
            return self
        suffix = "+".join(sorted(h.value for h in added - self.hazards))
        return Profile(f"{self.name}+{suffix}", self.hazards | added)

    def without_hazards(self, names: Iterable[str | Hazard]) -> Profile:
        """Return a copy with the named hazards switched off."""
        removed = frozenset(parse_hazard(n) for n in names) & self.hazards
        if not removed:
            return self
        suffix = "-".join(sorted(h.value for h in removed))
        return Profile(f"{self.name}-{suffix}", self.hazards - removed)


def parse_hazard(name: str | Hazard) -> Hazard:
    """Return the hazard switch called ``name`` (case-insensitive), or raise UnknownHazard."""
    if isinstance(name, Hazard):
        return name
    try:
        return Hazard(name.strip().upper())
    except ValueError:
        raise UnknownHazard(name, tuple(h.value for h in Hazard)) from None


REFERENCE = Profile("reference", frozenset())
MOSAIK_0_3_13 = Profile("mosaik-0.3.13", frozenset(Hazard))
PROFILES: dict[str, Profile] = {p.name: p for p in (REFERENCE, MOSAIK_0_3_13)}


def get_profile(name: str, hazards: Iterable[str] = ()) -> Profile:
    """Return the preset called ``name`` with ``hazards`` switched on in addition."""
    try:
        base = PROFILES[name]
    except KeyError:
        raise UnknownProfile(name, tuple(PROFILES)) from None
    return base.with_hazards(hazards)
