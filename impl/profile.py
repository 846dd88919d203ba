"""Profiles: one code path, parameterised by named switches.

Two kinds of switch, each with an id that means one thing:

* :class:`Hazard` — a hazard of mosaik's code (inventory §5 ids, and H30 and H31,
  found by this project): on reproduces the hazard, off is the reference's fix;
* :class:`Behaviour` — a version behaviour: something mosaik 0.3.13 does that a
  later mosaik version changed and that is not a hazard of the sync protocol
  itself (e.g. readers voting, which 0.3.14 removed).

``mosaik-0.3.13`` turns every switch on and reproduces mosaik as it is;
``reference`` turns every switch off: each switch's "off" behaviour is a
documented spec decision (docs/protocol.md, "Spec decisions"). Switching one on
in ``reference`` is how the project measures the power of its checks.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from impl.errors import UnknownBehaviour, UnknownHazard, UnknownProfile
from impl.registry import tagged

__all__ = [
    "MOSAIK_0_3_13",
    "PROFILES",
    "REFERENCE",
    "Behaviour",
    "Hazard",
    "Profile",
    "get_profile",
    "parse_behaviour",
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
    H30 = "H30"
    """A new leader commits nothing until its next R3, so the previous term's tail waits
    for the next client write (not in the inventory; found by the hunt)."""

    H31 = "H31"
    """A voter behind a candidate abstains and records no vote, and the candidate drops
    it from its denominator: the voter can grant a second candidate of the same term,
    so two leaders of one term with every bond up (not in the inventory; found by the
    hunt)."""

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
    Hazard.H30: "a new leader leaves the previous term's tail uncommitted until the next write",
    Hazard.H31: "an abstention records no vote: the abstainer grants another candidate of the term",
}


class Behaviour(StrEnum):
    """Version-behaviour switches. On = mosaik 0.3.13's behaviour."""

    READERS_VOTE = "readers-vote"
    """Readers (``Observer``) grant RequestVote and acknowledge AppendEntries with
    ``Granted`` (role.rs:379-385, follower.rs:598-608 at 697e37c), so they join the
    leader's committee and count in every quorum. mosaik 0.3.14 (84d02c9, "Readers
    don't inflate quorum anymore") made them abstain; the reference abstains too."""

    @property
    def description(self) -> str:
        """Return the one-line description of this switch."""
        return _BEHAVIOURS[self]


_BEHAVIOURS: dict[Behaviour, str] = {
    Behaviour.READERS_VOTE: "readers grant votes and acknowledgements (mosaik <= 0.3.13)",
}


@tagged("Profile")
@dataclass(frozen=True, slots=True)
class Profile:
    """A named set of enabled switches: hazards and version behaviours.

    >>> MOSAIK_0_3_13.has(Hazard.H1), REFERENCE.has(Hazard.H1)
    (True, False)
    >>> REFERENCE.with_hazards(["H4"]).name
    'reference+H4'
    >>> REFERENCE.with_behaviours(["readers-vote"]).name
    'reference+readers-vote'
    """

    name: str
    hazards: frozenset[Hazard]
    behaviours: frozenset[Behaviour] = frozenset()

    def has(self, switch: Hazard | Behaviour) -> bool:
        """Check if ``switch`` is on (mosaik 0.3.13's behaviour)."""
        if isinstance(switch, Behaviour):
            return switch in self.behaviours
        return switch in self.hazards

    def with_behaviours(self, names: Iterable[str | Behaviour]) -> Profile:
        """Return a copy with the named behaviours switched on (``"readers-vote"``)."""
        added = frozenset(parse_behaviour(n) for n in names)
        if not added - self.behaviours:
            return self
        suffix = "+".join(sorted(b.value for b in added - self.behaviours))
        return Profile(f"{self.name}+{suffix}", self.hazards, self.behaviours | added)

    def without_behaviours(self, names: Iterable[str | Behaviour]) -> Profile:
        """Return a copy with the named behaviours switched off."""
        removed = frozenset(parse_behaviour(n) for n in names) & self.behaviours
        if not removed:
            return self
        suffix = "-".join(sorted(b.value for b in removed))
        return Profile(f"{self.name}-{suffix}", self.hazards, self.behaviours - removed)

    def with_hazards(self, names: Iterable[str | Hazard]) -> Profile:
        """Return a copy with the named hazards switched on (``"H4"`` or ``Hazard.H4``)."""
        added = frozenset(parse_hazard(n) for n in names)
        if not added - self.hazards:
            return self
        suffix = "+".join(sorted(h.value for h in added - self.hazards))
        return Profile(f"{self.name}+{suffix}", self.hazards | added, self.behaviours)

    def without_hazards(self, names: Iterable[str | Hazard]) -> Profile:
        """Return a copy with the named hazards switched off."""
        removed = frozenset(parse_hazard(n) for n in names) & self.hazards
        if not removed:
            return self
        suffix = "-".join(sorted(h.value for h in removed))
        return Profile(f"{self.name}-{suffix}", self.hazards - removed, self.behaviours)


def parse_hazard(name: str | Hazard) -> Hazard:
    """Return the hazard switch called ``name`` (case-insensitive), or raise UnknownHazard."""
    if isinstance(name, Hazard):
        return name
    try:
        return Hazard(name.strip().upper())
    except ValueError:
        raise UnknownHazard(name, tuple(h.value for h in Hazard)) from None


def parse_behaviour(name: str | Behaviour) -> Behaviour:
    """Return the behaviour switch called ``name`` (case-insensitive, ``_`` = ``-``), or raise
    UnknownBehaviour."""
    if isinstance(name, Behaviour):
        return name
    try:
        return Behaviour(name.strip().lower().replace("_", "-"))
    except ValueError:
        raise UnknownBehaviour(name, tuple(b.value for b in Behaviour)) from None


REFERENCE = Profile("reference", frozenset())
MOSAIK_0_3_13 = Profile("mosaik-0.3.13", frozenset(Hazard), frozenset(Behaviour))
PROFILES: dict[str, Profile] = {p.name: p for p in (REFERENCE, MOSAIK_0_3_13)}


def get_profile(name: str, hazards: Iterable[str] = (), behaviours: Iterable[str] = ()) -> Profile:
    """Return the preset called ``name`` with ``hazards`` and ``behaviours`` switched on in
    addition."""
    try:
        base = PROFILES[name]
    except KeyError:
        raise UnknownProfile(name, tuple(PROFILES)) from None
    return base.with_hazards(hazards).with_behaviours(behaviours)
