"""The six collection state machines of mosaik (inventory §1.2 S1–S3, §7).

Each collection is a module (:mod:`~impl.collections.map`, ``vec``, ``set``, ``depq``,
``cell``, ``once``) with frozen command dataclasses, a state value, a snapshot value and
a module-level :class:`~impl.collections.base.StateMachine` object. They are registered
here in :data:`COLLECTIONS` by kind. The contract they satisfy is
:mod:`impl.collections.base`; the part of S1 that is the same for all six is
:mod:`impl.collections.apply`.
"""

from __future__ import annotations

from impl.collections.base import StateMachine
from impl.collections.cell import CELL
from impl.collections.depq import DEPQ
from impl.collections.map import MAP
from impl.collections.once import ONCE
from impl.collections.set import SET
from impl.collections.vec import VEC
from impl.errors import InvalidInput

__all__ = ["COLLECTIONS", "get_collection"]

COLLECTIONS: dict[str, StateMachine] = {
    machine.kind: machine for machine in (MAP, VEC, SET, DEPQ, CELL, ONCE)
}
"""Every collection state machine by kind: map, vec, set, depq, cell, once."""


def get_collection(kind: str) -> StateMachine:
    """Return the state machine of ``kind``, or raise :class:`InvalidInput`.

    >>> get_collection("map").kind
    'map'
    """
    try:
        return COLLECTIONS[kind]
    except KeyError:
        raise InvalidInput(
            f"unknown collection {kind!r}; known: {', '.join(COLLECTIONS)}"
        ) from None
