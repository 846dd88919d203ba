"""Canonical fingerprints of worlds: one key for every class of worlds that behave alike.

A state explorer (:mod:`spec.explore`) keeps one representative world per key.
:meth:`Fingerprinter.key` maps a :class:`~spec.model.state.World` to a flat tuple
of small integers; two worlds get the same key iff they are equal after these
abstractions, each of which keeps every future behaviour and every invariant
verdict of the model:

1. **Time is relative.** Every monotonic deadline (the fields of
   :data:`MONOTONIC_FIELDS`) is stored as ``deadline - now``, and a deadline that
   has passed as 0: impl steps read a deadline only by comparing it with the
   clock (``deadline <= now`` fires), so two passed deadlines act alike. Every
   wall-clock stamp (:data:`WALL_FIELDS`) is stored relative to ``epoch + now``;
   a stamp more than ``ttl + skew_bound`` in the past is stale for every node
   from then on (``is_expired`` is ``|now_wall - stamp| > ttl``, I13 the same
   test) and is stored as one value. This is what makes an infinite run of
   heartbeats a cycle of finitely many keys.
2. **Bookkeeping is dropped.** Message ids and send times (``InFlight.mid``,
   ``InFlight.sent_ms``, ``World.next_mid``) exist for traces; the ``peers``
   table is derived from ``nodes``; ``setup`` is the same for every world of one
   exploration (checked).
3. **An observer's election timer is dropped.** Observers never stand
   (``impl.raft.follower_election_timeout``, ``role_next_deadline``), so their
   election deadline and re-arm count change nothing.
4. **Optionally, names are permuted** (symmetry reduction): :meth:`Fingerprinter.key`
   takes the minimum over a group of renamings of interchangeable nodes, node
   names and peer ids renamed together. This is only sound where the model is
   symmetric under the renaming; :mod:`spec.explore` says where it is not
   (impl steps order peers by ``PeerId`` bytes) and measures what it costs.

Everything else — every field of every record reachable from the world, the
ghost history included, and the broken bonds' queues of messages their receivers
had already received (transport ``deliver_after_break``) with ``World.draining`` —
is part of the key. The setup (profile with its hazards and behaviours, faults,
transport) is not in the key: a fingerprinter compares worlds of one setup only
(checked). A record type with a field whose name ends in ``_ms`` that is in none of
the tables raises :class:`UnclassifiedField`, so a new time field cannot silently
break (1).

Keys are the same in every process (hash-consing by content): each compound
value's flat encoding — its fields' encodings, a child compound by its digest —
is interned to the 128-bit blake3 :func:`digest` of its text, so worker processes
(the explorer's ``--jobs``) compute the keys the parent would. Two different
encodings share a digest with probability 2^-128 per pair (the explorer reports
the bound for what it interned). Encodings are memoised by object identity (worlds
are immutable and share their unchanged parts), so a key costs about the size of
what changed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from enum import Enum
from operator import itemgetter
from typing import Any

from blake3 import blake3
from pyrsistent import PMap, PVector

from impl.collections.pseq import PSeq, PSortedMap
from impl.errors import InvalidInput
from impl.messages import SnapshotRequest
from impl.node_state import (
    CandidateRole,
    FollowerRole,
    LeaderRole,
    NodeState,
    Preference,
)
from impl.provider_state import AvailableSnapshot
from impl.session_state import PendingFetch, SessionState
from impl.types import PeerId
from spec.model.ghost import Ghost
from spec.model.state import Bond, ElectionTiming, InFlight, NodeSlot, World, WorldSetup

__all__ = [
    "DURATION_FIELDS",
    "MONOTONIC_FIELDS",
    "SKIPPED_FIELDS",
    "WALL_FIELDS",
    "Fingerprinter",
    "UnclassifiedField",
]

MONOTONIC_FIELDS: frozenset[tuple[type, str]] = frozenset(
    {
        (FollowerRole, "election_deadline_ms"),
        (CandidateRole, "election_deadline_ms"),
        (LeaderRole, "heartbeat_deadline_ms"),
        (AvailableSnapshot, "deadline_ms"),
        (PendingFetch, "deadline_ms"),
        (SessionState, "snapshot_request_deadline_ms"),
    }
)
"""Deadlines on the monotonic clock: stored relative to ``now``, passed ones as 0."""

WALL_FIELDS: frozenset[tuple[type, str]] = frozenset({(SnapshotRequest, "requested_at_ms")})
"""Wall-clock stamps: stored relative to ``epoch + now``, stale-for-good ones as one value."""

DURATION_FIELDS: frozenset[tuple[type, str]] = frozenset(
    {
        (NodeSlot, "skew_ms"),
        (NodeSlot, "election_timeout_ms"),
        (ElectionTiming, "base_ms"),
        (ElectionTiming, "jitter_ms"),
    }
)
"""Fields named ``*_ms`` that are durations, not instants: kept as they are."""

SKIPPED_FIELDS: frozenset[tuple[type, str]] = frozenset({(InFlight, "mid"), (InFlight, "sent_ms")})
"""Trace bookkeeping: not part of the key."""

_NAME_FIELDS: frozenset[tuple[type, str]] = frozenset(
    {(NodeSlot, "name"), (InFlight, "src"), (InFlight, "dst"), (Bond, "lo"), (Bond, "hi")}
)
"""String fields that hold a node name (renamed with the node)."""

_WORLD_FIELDS = frozenset(
    {"setup", "now_ms", "nodes", "bonds", "peers", "next_mid", "ghost", "draining"}
)
_BOND_FIELDS = ("lo", "hi", "up", "lo_to_hi", "hi_to_lo")
_MEMO_LIMIT = 100_000
_TIME = "T"
"""The place of a time value in a shape (the value itself goes to the time lists)."""
_SID = itemgetter(1)
_OBSERVER_ROLE = frozenset({"election_deadline_ms"})
_ROLE = frozenset({"role"})
_ARMS = frozenset({"election_arms"})


Key = tuple[int | bytes, ...]
"""A world's key: counts, component digests, then its time values."""


class UnclassifiedField(InvalidInput):
    """A record field named ``*_ms`` is in none of the fingerprint's field tables."""


class _Compiled:
    """How one dataclass is encoded: its tag and, per field, name and treatment."""

    __slots__ = ("fields", "tag")

    def __init__(self, cls: type) -> None:
        self.tag = cls.__name__
        plan: list[tuple[str, str]] = []
        for f in dataclasses.fields(cls):
            key = (cls, f.name)
            if key in SKIPPED_FIELDS:
                continue
            if key in MONOTONIC_FIELDS:
                plan.append((f.name, "mono"))
            elif key in WALL_FIELDS:
                plan.append((f.name, "wall"))
            elif key in _NAME_FIELDS:
                plan.append((f.name, "name"))
            elif f.name.endswith("_ms") and key not in DURATION_FIELDS:
                raise UnclassifiedField(
                    f"{cls.__name__}.{f.name}: classify it in spec.model.fingerprint "
                    "(MONOTONIC_FIELDS, WALL_FIELDS, DURATION_FIELDS or SKIPPED_FIELDS)"
                )
            else:
                plan.append((f.name, "plain"))
        self.fields = tuple(plan)


_COMPILED: dict[type, _Compiled] = {}


def _compiled(cls: type) -> _Compiled:
    got = _COMPILED.get(cls)
    if got is None:
        got = _COMPILED[cls] = _Compiled(cls)
    return got


_Encoder = Callable[["_Walk", Any], tuple[Any, ...]]
_ENCODERS: dict[tuple[type, frozenset[str]], _Encoder] = {}


def _encoder(cls: type, skip: frozenset[str] = frozenset()) -> _Encoder:
    """Return the encoder of records of ``cls`` (fields in ``skip`` left out): a function
    made once per class from its plan, as :mod:`impl.records` makes its updaters, so that
    encoding a record costs one call per field instead of a loop over the plan."""
    key = (cls, skip)
    got = _ENCODERS.get(key)
    if got is not None:
        return got
    plan = _compiled(cls)
    lines = ["def encode(walk, v):", "    enc = walk.enc"]
    parts = [repr(plan.tag)]
    for k, (name, how) in enumerate(plan.fields):
        if name in skip:
            continue
        if how == "plain":
            parts.append(f"enc(v.{name})")
        elif how == "name":
            lines.append(f"    n{k} = v.{name}")
            parts.append(f"walk.names.get(n{k}, n{k})")
        else:
            target = "walk.mono" if how == "mono" else "walk.wall"
            lines.append(f"    t{k} = v.{name}")
            lines.append(f"    if t{k} is not None:")
            lines.append(f"        {target}.append(t{k})")
            lines.append(f"        t{k} = {_TIME!r}")
            parts.append(f"t{k}")
    lines.append(f"    return ({', '.join(parts)},)")
    namespace: dict[str, Any] = {}
    exec(compile("\n".join(lines), f"<fingerprint {plan.tag}>", "exec"), namespace)
    made: _Encoder = namespace["encode"]
    _ENCODERS[key] = made
    return made


DIGEST_BYTES = 16
"""The length of a digest (128 bits)."""


def digest(shape: Any) -> bytes:
    """Return the digest of an encoding: blake3 of its ``repr`` (a tuple of numbers, strings,
    bytes and digests: the same text in every process), :data:`DIGEST_BYTES` long."""
    return blake3(repr(shape).encode("utf-8")).digest(length=DIGEST_BYTES)


def _mixed_order(value: Any) -> tuple[str, str]:
    # Not hash(): a string's hash differs between processes (PYTHONHASHSEED).
    return (type(value).__name__, repr(value))


def _sorted(items: Iterable[Any]) -> tuple[Any, ...]:
    """Return ``items`` in a canonical order (natural order; by type, then text, if mixed)."""
    seq = list(items)
    try:
        seq.sort()
    except TypeError:
        seq.sort(key=_mixed_order)
    return tuple(seq)


class _Ref(tuple[str, bytes]):
    """The encoding of a compound value: the digest of its flat encoding (hash-consing)."""

    __slots__ = ()


class _Walk:
    """Encodes values under one renaming, with time values pulled out (memoised).

    A compound value (a record, a map, a vector, ...) is encoded as a flat tuple
    of its fields' encodings, interned to its digest: its encoding is that digest
    (a :class:`_Ref`), so a parent's tuple holds short references, hashing one
    costs its own size, and equal values get the same reference in every process.
    """

    __slots__ = ("interned", "labels", "memo", "mono", "names", "wall")

    def __init__(self, names: Mapping[str, str], interned: dict[Any, _Ref]) -> None:
        self.names = names
        """Node name → canonical label."""
        self.labels: Mapping[PeerId, str] = {}
        """Peer id → canonical label (unknown ids keep their hex)."""
        self.interned = interned
        """Flat encoding → its reference (shared by every renaming: refs are values)."""
        self.memo: dict[int, tuple[Any, Any, tuple[int, ...], tuple[int, ...]]] = {}
        self.mono: list[int] = []
        self.wall: list[int] = []

    def name(self, name: str) -> str:
        return self.names.get(name, name)

    def intern(self, shape: Any) -> _Ref:
        ref = self.interned.get(shape)
        if ref is None:
            ref = self.interned[shape] = _Ref(("#", digest(shape)))
        return ref

    def enc(self, value: Any) -> Any:
        """Return the encoding of ``value``; its time values are appended to the lists."""
        t = type(value)
        if t is int or t is str or t is bool or value is None or t is bytes or t is float:
            return value
        if t is tuple or t is list:
            return tuple([self.enc(v) for v in value])
        if t is PeerId:
            label = self.labels.get(value)
            return ("P", value.hex() if label is None else label)
        if isinstance(value, Enum):
            return value.value
        memo = self.memo
        hit = memo.get(id(value))
        if hit is not None and hit[0] is value:
            if hit[2]:
                self.mono.extend(hit[2])
            if hit[3]:
                self.wall.extend(hit[3])
            return hit[1]
        mono, wall = self.mono, self.wall
        m0, w0 = len(mono), len(wall)
        ref = self.intern(self._enc_object(value))
        if len(memo) >= _MEMO_LIMIT:
            memo.clear()
        memo[id(value)] = (
            value,
            ref,
            tuple(mono[m0:]) if len(mono) > m0 else (),
            tuple(wall[w0:]) if len(wall) > w0 else (),
        )
        return ref

    def _enc_object(self, value: Any) -> Any:
        if isinstance(value, PVector):
            return ("V", *[self.enc(v) for v in value])
        if isinstance(value, PMap | dict):
            return ("M", *self._pairs(value.items()))
        if isinstance(value, frozenset | set):
            return ("S", *self._members(value))
        if isinstance(value, PSortedMap):
            return ("SM", *[self.enc(kv) for kv in value.items()])
        if isinstance(value, PSeq):
            return ("SQ", *[self.enc(v) for v in value])
        if isinstance(value, NodeState):
            return self._node(value)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return self._record(value)
        raise InvalidInput(f"cannot fingerprint a {type(value).__name__}")

    def _pairs(self, items: Iterable[tuple[Any, Any]]) -> tuple[Any, ...]:
        # Keys never hold time values (deadlines live in values), so sorting by the key's
        # encoding keeps each value's times next to it: encode each pair in sorted key order.
        keyed = [(self._timeless(k), v) for k, v in items]
        try:
            keyed.sort(key=lambda kv: kv[0])
        except TypeError:
            keyed.sort(key=lambda kv: _mixed_order(kv[0]))
        return tuple([(k, self.enc(v)) for k, v in keyed])

    def _members(self, items: Iterable[Any]) -> tuple[Any, ...]:
        return _sorted(self._timeless(v) for v in items)

    def _timeless(self, value: Any) -> Any:
        """Return the encoding of a value that must hold no time value (a key, a member)."""
        m0, w0 = len(self.mono), len(self.wall)
        shape = self.enc(value)
        if len(self.mono) != m0 or len(self.wall) != w0:
            raise InvalidInput(f"a time value inside a map key or set member: {value!r}")
        return shape

    def _record(self, value: Any, skip: frozenset[str] = frozenset()) -> tuple[Any, ...]:
        return _encoder(type(value), skip)(self, value)

    def _node(self, node: NodeState) -> tuple[Any, ...]:
        """A node: an observer's follower role without its (never read) election deadline."""
        if node.preference is Preference.OBSERVER and type(node.role) is FollowerRole:
            role = self.intern(_encoder(FollowerRole, _OBSERVER_ROLE)(self, node.role))
            return (*_encoder(NodeState, _ROLE)(self, node), role)
        return _encoder(NodeState)(self, node)

    # -- world components --------------------------------------------------------------------

    def slot(self, slot: NodeSlot) -> tuple[Any, ...]:
        """A node slot (an observer's election re-arm count dropped with its deadline)."""
        return _encoder(NodeSlot, _ARMS if not slot.writer else frozenset())(self, slot)

    def bond(self, bond: Bond) -> tuple[Any, ...]:
        """A bond as ``(a, b, up, a→b queue, b→a queue)`` with ``a < b`` after renaming."""
        lo, hi = self.name(bond.lo), self.name(bond.hi)
        if lo <= hi:
            return ("Bond", lo, hi, bond.up, self.enc(bond.lo_to_hi), self.enc(bond.hi_to_lo))
        # The renaming swapped the ends: keep the queues with their direction.
        first = self.enc(bond.hi_to_lo)
        return ("Bond", hi, lo, bond.up, first, self.enc(bond.lo_to_hi))

    def ghost(self, ghost: Ghost) -> tuple[Any, ...]:
        """The ghost history, leaders by (renamed) name."""
        leaders = _sorted((term, self.name(name)) for term, name in ghost.leaders.items())
        out: list[Any] = ["Ghost"]
        for f in dataclasses.fields(Ghost):
            out.append(leaders if f.name == "leaders" else self.enc(getattr(ghost, f.name)))
        return tuple(out)


class Fingerprinter:
    """Canonical keys of the worlds of one setup (module docstring).

    ``renamings`` is a group of node renamings (each a mapping of some names to
    others; unnamed nodes keep theirs), the identity included; the key of a world
    is the least of its keys under them. ``skew_bound`` bounds every node's
    wall-clock skew for as long as the keys are compared (stale stamps are merged
    only beyond ``ttl + skew_bound``).

    >>> from spec.model.actions import initial_world, join_late
    >>> w0 = join_late(initial_world(WorldSetup("map")), "w0", writer=True,
    ...                election_timeout_ms=1_000).after
    >>> from spec.model.actions import advance_time
    >>> later = advance_time(w0, 100).after
    >>> fp = Fingerprinter(w0.setup)
    >>> fp.key(w0) == fp.key(later)   # only the clock moved: 900 ms to the deadline vs 1000
    False
    >>> fp.key(w0) == fp.key(join_late(initial_world(WorldSetup("map")), "w0", writer=True,
    ...                election_timeout_ms=1_000).after)
    True
    """

    def __init__(
        self,
        setup: WorldSetup,
        renamings: Sequence[Mapping[str, str]] = (),
        *,
        skew_bound: int = 0,
    ) -> None:
        self.setup = setup
        self.skew_bound = skew_bound
        self.stale_floor = -(setup.config.snapshot_ttl_ms + skew_bound + 1)
        """Wall stamps at or below this (relative to epoch + now) are stale for good."""
        identity: dict[str, str] = {}
        maps = [identity] + [dict(r) for r in renamings if any(a != b for a, b in r.items())]
        self._renamings: list[dict[str, str]] = maps
        self._refs: dict[Any, _Ref] = {}
        self._walks: list[_Walk] = [_Walk(m, self._refs) for m in maps]
        self._last_peers: Any = None
        self._orders: dict[tuple[int, tuple[str, ...]], tuple[str, ...]] = {}
        self._peer_names: dict[PeerId, str] = {}
        """Every peer id seen in a world's ``peers`` table, by name: encoded by (renamed)
        name, so that renaming a node renames its id wherever it appears."""
        self._interned: dict[Any, bytes] = {}
        self._components: list[dict[int, tuple[Any, bytes, tuple[int, ...], tuple[int, ...]]]] = [
            {} for _ in maps
        ]
        missing = {f.name for f in dataclasses.fields(World)} ^ _WORLD_FIELDS
        if missing or tuple(f.name for f in dataclasses.fields(Bond)) != _BOND_FIELDS:
            raise UnclassifiedField(
                f"World/Bond fields changed ({sorted(missing)}): update spec.model.fingerprint"
            )

    @property
    def renamings(self) -> int:
        """Return how many renamings a key is the least over (1: no symmetry)."""
        return len(self._walks)

    @property
    def interned(self) -> int:
        """Return how many distinct encodings (components and their parts) were seen."""
        return len(self._interned) + len(self._refs)

    def _component(
        self, k: int, obj: Any, encode: Callable[[Any], Any]
    ) -> tuple[Any, bytes, tuple[int, ...], tuple[int, ...]]:
        """Encode one component of a world (a node slot, a bond, the ghost) and cache it
        by identity: ``(obj, interned number, monotonic times, wall stamps)``."""
        cache = self._components[k]
        walk = self._walks[k]
        walk.mono.clear()
        walk.wall.clear()
        shape = encode(obj)
        sid = self._interned.get(shape)
        if sid is None:
            sid = self._interned[shape] = digest(shape)
        mono, wall = tuple(walk.mono), tuple(walk.wall)
        if len(cache) >= _MEMO_LIMIT:
            cache.clear()
        hit = cache[id(obj)] = (obj, sid, mono, wall)
        return hit

    def _learn_peers(self, world: World) -> None:
        """Label every peer id of ``world`` by its node's (renamed) name; a peer learnt after
        keys were made invalidates the memos (an encoding may hold its hex form)."""
        peers = world.peers
        if peers is self._last_peers:
            return
        known = self._peer_names
        if len(peers) <= len(known) and all(p in known for p in peers):
            self._last_peers = peers
            return
        known.update(peers)
        self._last_peers = peers
        for walk in self._walks:
            walk.labels = {p: walk.names.get(n, n) for p, n in known.items()}
            walk.memo.clear()
        for cache in self._components:
            cache.clear()

    def _key_under(self, world: World, k: int, timed: bool) -> Key:
        walk = self._walks[k]
        cache = self._components[k]
        ids: list[int | bytes] = []
        mono: list[int] = []
        wall: list[int] = []
        nodes = world.nodes
        slot_names = (k, tuple(nodes))
        order = self._orders.get(slot_names)
        if order is None:
            names = walk.names
            order = self._orders[slot_names] = tuple(sorted(nodes, key=lambda n: names.get(n, n)))
        ids.append(len(order))
        obj: Any
        for name in order:
            obj = nodes[name]
            hit = cache.get(id(obj))
            if hit is None or hit[0] is not obj:
                hit = self._component(k, obj, walk.slot)
            ids.append(hit[1])
            if hit[2]:
                mono.extend(hit[2])
            if hit[3]:
                wall.extend(hit[3])
        bonds = []
        for obj in world.bonds.values():
            hit = cache.get(id(obj))
            if hit is None or hit[0] is not obj:
                hit = self._component(k, obj, walk.bond)
            bonds.append(hit)
        bonds.sort(key=_SID)  # by the interned encoding (which names its ends)
        ids.append(len(bonds))
        for hit in bonds:
            ids.append(hit[1])
            if hit[2]:
                mono.extend(hit[2])
            if hit[3]:
                wall.extend(hit[3])
        obj = world.ghost
        hit = cache.get(id(obj))
        if hit is None or hit[0] is not obj:
            hit = self._component(k, obj, walk.ghost)
        ids.append(hit[1])
        # Which broken bonds' receivers still hold messages they had received (transport
        # deliver_after_break): their senders stay in the receivers' bond tables.
        draining = world.draining
        if draining:
            names = walk.names
            shape = ("D", *sorted((names.get(s, s), names.get(d, d)) for s, d in draining))
            sid = self._interned.get(shape)
            if sid is None:
                sid = self._interned[shape] = digest(shape)
            ids.append(sid)
        else:
            ids.append(-1)
        if not timed:
            return tuple(ids)
        mono.extend(hit[2])
        wall.extend(hit[3])
        now = world.now_ms
        if mono:
            ids.extend([t - now if t > now else 0 for t in mono])
        if wall:
            base = world.setup.epoch_wall_ms + now
            floor = self.stale_floor
            ids.extend([d if d > floor else floor for d in [t - base for t in wall]])
        return tuple(ids)

    def key(self, world: World) -> Key:
        """Return the canonical key of ``world`` (the least over the renamings)."""
        if world.setup is not self.setup and world.setup != self.setup:
            raise InvalidInput("a Fingerprinter compares worlds of one setup only")
        self._learn_peers(world)
        if len(self._walks) == 1:
            return self._key_under(world, 0, True)
        return min(self._key_under(world, k, True) for k in range(len(self._walks)))

    def key_under(self, world: World, renaming: int) -> Key:
        """Return the key of ``world`` under renaming number ``renaming`` only."""
        self._learn_peers(world)
        return self._key_under(world, renaming, True)

    def untimed_key(self, world: World) -> Key:
        """Return the key of ``world`` without its time values (no symmetry): two worlds
        that differ only in when their timers fire get the same untimed key."""
        self._learn_peers(world)
        return self._key_under(world, 0, False)
