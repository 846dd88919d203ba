"""The one exception tree of snapsync.

Every rejected input raises a subclass of :class:`SnapshotSyncError` that carries
the offending value, so callers (and the CLI) can report it without a traceback.
"""

from __future__ import annotations

__all__ = [
    "CodecError",
    "HazardPanic",
    "InvalidInput",
    "InvalidMessage",
    "InvalidRange",
    "InvalidState",
    "NotLeader",
    "SnapshotSyncError",
    "UnknownBehaviour",
    "UnknownHazard",
    "UnknownProfile",
]


class SnapshotSyncError(Exception):
    """Root of every error snapsync raises on purpose."""


class InvalidInput(SnapshotSyncError, ValueError):
    """An argument is outside the domain of the function it was passed to."""


class InvalidRange(InvalidInput):
    """A half-open item range is inverted or has a negative bound."""

    def __init__(self, start: object, end: object, reason: str) -> None:
        self.start = start
        self.end = end
        self.reason = reason
        super().__init__(f"invalid item range [{start!r}, {end!r}): {reason}")


class InvalidMessage(InvalidInput):
    """A protocol message is malformed (a field has the wrong type or value)."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"invalid message field {field!r}: {reason}")


class CodecError(InvalidInput):
    """JSON input could not be decoded; ``field`` is a dotted path to the culprit."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"cannot decode {field or '<root>'}: {reason}")


class InvalidState(SnapshotSyncError):
    """A step was called on a state that violates its precondition."""


class NotLeader(InvalidState):
    """A command was fed at a node that does not lead (R8; mosaik ``Err(cmd)``).

    ``command`` is the rejected command; ``leader`` the leader as the node knows it.
    """

    def __init__(self, command: object, leader: object) -> None:
        self.command = command
        self.leader = leader
        super().__init__(f"not the leader (leader: {leader}); command rejected: {command!r}")


class UnknownHazard(InvalidInput):
    """A hazard switch name that does not exist."""

    def __init__(self, name: str, known: tuple[str, ...]) -> None:
        self.name = name
        super().__init__(f"unknown hazard {name!r}; known: {', '.join(known)}")


class UnknownBehaviour(InvalidInput):
    """A version-behaviour switch name that does not exist."""

    def __init__(self, name: str, known: tuple[str, ...]) -> None:
        self.name = name
        super().__init__(f"unknown behaviour {name!r}; known: {', '.join(known)}")


class UnknownProfile(InvalidInput):
    """A profile name that does not exist."""

    def __init__(self, name: str, known: tuple[str, ...]) -> None:
        self.name = name
        super().__init__(f"unknown profile {name!r}; known: {', '.join(known)}")


class HazardPanic(SnapshotSyncError):
    """mosaik would panic here; under the mosaik profile the step raises this instead.

    ``hazard`` names the inventory hazard (e.g. ``"H3"``) and ``site`` the mosaik
    file:line of the panicking assertion.
    """

    def __init__(self, hazard: str, site: str, detail: str) -> None:
        self.hazard = hazard
        self.site = site
        self.detail = detail
        super().__init__(f"{hazard}: mosaik panics at {site}: {detail}")
