"""World digests: what a trace line records of the world after it, so replay checks inputs.

Replay compares each line with what re-executing it produces. An action's outputs
(effects, messages sent, violations) are recorded in full; but some inputs change
only the world — a clock skew, an election timeout, a reordered queue, a corrupted
response, a queued client command — and show in the outputs late or never. So every
line records the **digest of the world after it** (the header: of the initial world),
and replay compares it with the digest of the world it re-executed. A changed input
is then caught at its own line.

A digest is cheap (it is computed at every step of a traced run): it is built like a
Merkle tree over the world's immutable records (:func:`summary`), so a step costs
what it changed. Three parts, each the first 16 hex digits of a blake3 over
canonical JSON:

* ``setup`` — the header's setup (:func:`spec.model.state.describe_setup`);
* ``net`` — the monotonic time, the next message id, and every bond: up or down,
  and its queued messages in order (id and message summary); and the broken bonds
  whose receiver still holds messages it had received (``World.draining``), if any;
* ``nodes`` — per node: every field of its slot (role, parameters, skew, election
  timing, status) and of its node state, summarised.

Summaries recurse through records, tuples, sequences and maps (an in-flight message
included). Tuples are digested whole (they are rebuilt at every change anyway: queued
client commands, a message's entries and items, a bond's queue); a persistent
sequence, set or map of more than :data:`SMALL` elements (a log, a collection's
items, a snapshot on offer, a session's buffers) is summarised by its length and, for
sequences, its first and last element — it changes by small steps, and digesting it
whole at every step would cost time proportional to its size. Those contents are
built by the protocol's steps, not given as inputs; they are checked in full where
they travel (``sent`` messages) and at the end (the ``end`` record's state digests).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from enum import Enum
from typing import Any

import blake3

from impl.codec import canonical_json, encode
from impl.errors import CodecError
from impl.ids import UniqueId
from impl.types import PeerId
from spec.model.state import World, describe_setup

__all__ = ["DEPTH", "SMALL", "WorldDigests", "summary", "world_digests"]

SMALL = 8
"""Collections with more elements are summarised by length and end elements."""
DEPTH = 8
"""Records nested deeper are summarised by their type name."""

WorldDigests = dict[str, Any]
"""``{"setup": hex, "net": hex, "nodes": {name: hex}}``."""


def _hex16(value: Any) -> str:
    # Tokens hold only lists, str, int, bool and None: their repr is deterministic
    # (and several times cheaper than canonical JSON).
    return blake3.blake3(repr(value).encode("utf-8")).hexdigest()[:16]


def _text16(text: str) -> str:
    return blake3.blake3(text.encode("utf-8")).hexdigest()[:16]


def _flat(expanded: Any) -> bool:
    """A small record of scalars (a Cursor, a range) is its own token: no digest needed."""
    return (
        isinstance(expanded, list)
        and len(expanded) <= 5
        and all(
            x is None or isinstance(x, int | bool) or (isinstance(x, str) and len(x) <= 32)
            for x in expanded
        )
    )


_RECORD_FIELDS: dict[type, tuple[str, ...]] = {}


def _fields(cls: type) -> tuple[str, ...]:
    names = _RECORD_FIELDS.get(cls)
    if names is None:
        names = _RECORD_FIELDS[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names


class _Memo:
    """Tokens of immutable objects by identity: the world shares its unchanged parts from
    step to step, so a step costs only what it changed. Entries keep their object alive
    (an id is never reused while cached); the cache is emptied when it grows large."""

    LIMIT = 1_000_000

    def __init__(self) -> None:
        self.tokens: dict[int, tuple[Any, Any]] = {}

    def get(self, value: Any) -> Any:
        hit = self.tokens.get(id(value))
        if hit is not None and hit[0] is value:
            return hit[1]
        return None

    def put(self, value: Any, token: Any) -> Any:
        if len(self.tokens) >= self.LIMIT:
            self.tokens.clear()
        self.tokens[id(value)] = (value, token)
        return token


_MEMO = _Memo()


def summary(value: Any, depth: int = DEPTH) -> Any:
    """Return a JSON-able token of a model value that does not depend on hash order or
    object ids: scalars as themselves, a small record of scalars as ``[type, fields...]``,
    any other record or collection as the 16-hex digest of its type and its elements'
    tokens (Merkle-style, memoised by identity).

    >>> from impl.types import Cursor, Index, Term
    >>> summary(Cursor(Term(1), Index(4)))
    ['Cursor', 1, 4]
    >>> summary(tuple(range(20)))[:2]
    ['tuple', 20]
    >>> len(summary((Cursor(Term(1), Index(4)), "x")))
    16
    >>> summary(7), summary("a")
    (7, 'a')
    """
    t = type(value)
    if t in _SCALARS:
        return value
    hit = _MEMO.tokens.get(id(value))
    if hit is not None and hit[0] is value:
        return hit[1]
    if isinstance(value, Enum):
        return summary(value.value, depth)
    if isinstance(value, bool | int | str):  # subclasses of the scalars
        return t.__name__, value
    if isinstance(value, PeerId | UniqueId):
        return value.raw.hex()[:16]
    if isinstance(value, bytes):
        return value.hex() if len(value) <= 4 * SMALL else _hex16(["bytes", len(value)])
    if isinstance(value, float):
        return repr(value)
    if depth <= 0:
        return t.__name__
    expanded = _expand(value, depth)
    if _flat(expanded):
        return expanded  # cheaper to rebuild than to keep in the memo
    return _MEMO.put(value, _hex16(expanded))


_SCALARS = frozenset({int, str, bool, type(None)})


def _expand(value: Any, depth: int) -> Any:
    """The summary of one record or collection: its type and its elements' tokens."""
    cls = type(value)
    if dataclasses.is_dataclass(value):
        return [cls.__name__, *(summary(getattr(value, f), depth - 1) for f in _fields(cls))]
    if isinstance(value, Mapping) or callable(getattr(value, "items", None)):
        n = len(value)
        if n > SMALL:
            return [cls.__name__, n]
        pairs = [[summary(k, depth - 1), summary(v, depth - 1)] for k, v in value.items()]
        return [cls.__name__, sorted(pairs, key=repr)]
    if isinstance(value, set | frozenset):
        if len(value) > SMALL:
            return [cls.__name__, len(value)]
        return [cls.__name__, sorted((summary(v, depth - 1) for v in value), key=repr)]
    if isinstance(value, tuple | list):
        # Built whole at every change, so digesting them whole costs the same order of
        # work: queued client commands, a message's entries and items, queues. Long ones
        # of records and data go through the codec (several times faster).
        if len(value) > SMALL:
            try:
                text = canonical_json([encode(v, Any) for v in value])
            except CodecError:
                pass
            else:
                return [cls.__name__, len(value), _text16(text)]
        return [cls.__name__, [summary(v, depth - 1) for v in value]]
    if hasattr(value, "__getitem__"):
        try:
            n = len(value)
        except TypeError:
            return cls.__name__
        if n > SMALL:
            return [cls.__name__, n, summary(value[0], depth - 1), summary(value[n - 1], depth - 1)]
        return [cls.__name__, [summary(v, depth - 1) for v in value]]
    if hasattr(value, "__len__"):
        return [cls.__name__, len(value)]
    return cls.__name__


def world_digests(world: World) -> WorldDigests:
    """Return the digests of ``world`` recorded in trace lines (the module docstring)."""
    bonds = []
    for (lo, hi), bond in sorted(world.bonds.items()):
        bonds.append(
            [
                lo,
                hi,
                bond.up,
                [summary(i) for i in bond.lo_to_hi],
                [summary(i) for i in bond.hi_to_lo],
            ]
        )
    parts: list[Any] = [world.now_ms, world.next_mid, bonds]
    if world.draining:
        # Which broken bonds still list their sender in the receiver's bond table.
        parts.append(sorted(world.draining))
    net = _hex16(parts)
    nodes = {name: summary(world.nodes[name]) for name in sorted(world.nodes)}
    return {"setup": _setup_digest(world.setup), "net": net, "nodes": nodes}


def _setup_digest(setup: Any) -> str:
    cached = _MEMO.get(setup)
    if cached is not None:
        return str(cached)
    return str(_MEMO.put(setup, _hex16(describe_setup(setup))))
