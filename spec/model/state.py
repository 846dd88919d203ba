"""The global state of the group model: nodes, bonds, time, and the ghost history.

One :class:`World` value is one state of the whole system (the model's ``vars``).
It is immutable: every action (:mod:`spec.model.actions`) returns a new world,
so drivers can keep, compare and hash states (the simulator keeps only the
latest; an explorer keeps them all).

* ``nodes`` — every node ever created, by name, with its impl
  :class:`~impl.node_state.NodeState` (role, term, log, committed, collection state,
  provider, session, timers) and the model's per-node inputs: wall-clock skew
  and its election timeouts (the first one chosen by the driver, every later
  one redrawn by :class:`ElectionTiming`, or fixed for the run).
* ``bonds`` — one per unordered pair of nodes: up or down, and one FIFO queue
  per direction (inventory §0.4). Queued messages carry a model-wide id
  (``mid``) so traces can pair each send with its delivery. A broken bond's
  queues hold only what its receiver had already received when it broke
  (transport ``deliver_after_break``, :mod:`spec.model.transport`); ``draining``
  lists those directions.
* ``now_ms`` — the monotonic clock, shared by all nodes (timers). A node's wall
  clock is ``setup.epoch_wall_ms + now_ms + skew_ms`` (``requested_at`` and
  ``is_expired`` only, inventory §0.5).
* ``ghost`` — history variables for the invariants. *This would not be present
  in an implementation* (see :mod:`spec.model.ghost`).

Determinism: every collection of nodes or bonds is iterated in sorted name order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Generic, NoReturn, TypeVar

import blake3

from impl.codec import canonical_json
from impl.config import Config
from impl.errors import InvalidInput
from impl.messages import FetchDataRequest, Message
from impl.node_state import HEARTBEAT_INTERVAL_MS, NodeState
from impl.profile import REFERENCE, Profile
from impl.records import evolve, evolver
from impl.types import PeerId
from spec.model.faults import Fault
from spec.model.host import NodeHost
from spec.model.transport import MOSAIK_TRANSPORT, Transport

if TYPE_CHECKING:
    from spec.model.ghost import Ghost

__all__ = [
    "DEFAULT_EPOCH_WALL_MS",
    "Bond",
    "ElectionTiming",
    "FrozenDict",
    "InFlight",
    "NodeSlot",
    "NodeStatus",
    "World",
    "WorldSetup",
    "bond_key",
    "describe_setup",
    "election_timeout_of",
    "empty_world",
    "frozen",
]

K = TypeVar("K")
V = TypeVar("V")


class FrozenDict(dict[K, V], Generic[K, V]):
    """An immutable dict: ``set`` / ``discard`` return updated copies; hashable.

    The model's maps are small (a handful of nodes, their bonds), so copy-on-write
    is cheaper than a persistent map and lookups run at dict speed.

    >>> a = FrozenDict({"x": 1})
    >>> b = a.set("y", 2)
    >>> sorted(a), sorted(b), b.discard("x") == {"y": 2}
    (['x'], ['x', 'y'], True)
    """

    __slots__ = ()

    def set(self, key: K, value: V) -> FrozenDict[K, V]:
        """Return a copy with ``key`` mapped to ``value``."""
        out: FrozenDict[K, V] = FrozenDict(self)
        dict.__setitem__(out, key, value)
        return out

    def discard(self, key: K) -> FrozenDict[K, V]:
        """Return a copy without ``key`` (the same map if it is absent)."""
        if key not in self:
            return self
        out: FrozenDict[K, V] = FrozenDict(self)
        dict.__delitem__(out, key)
        return out

    def _immutable(self, *args: object, **kwargs: object) -> NoReturn:
        raise TypeError("FrozenDict is immutable")

    __setitem__ = _immutable
    __delitem__ = _immutable
    clear = _immutable
    pop = _immutable
    popitem = _immutable
    setdefault = _immutable
    update = _immutable

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(frozenset(self.items()))

    def __repr__(self) -> str:
        return f"FrozenDict({dict.__repr__(self)})"

    def __reduce__(self) -> tuple[type[FrozenDict[K, V]], tuple[dict[K, V]]]:
        # Pickle (worker processes: the explorer's --jobs) builds it whole, never item by item.
        return (FrozenDict, (dict(self),))


def frozen(items: Iterable[tuple[K, V]] = ()) -> FrozenDict[K, V]:
    """Return a :class:`FrozenDict` of ``items``."""
    return FrozenDict(items)


DEFAULT_EPOCH_WALL_MS = 1_767_225_600_000
"""Wall-clock time (ms since the Unix epoch) at model time 0: 2026-01-01T00:00:00Z."""


class NodeStatus(StrEnum):
    """Whether a node takes part in the run."""

    UP = "up"
    """Running: receives, polls, sends."""
    DOWN = "down"
    """Left the group (dropped by its owner); its bonds are down."""
    CRASHED = "crashed"
    """Its step raised a mosaik panic (``HazardPanic``): the group worker is dead."""


@dataclass(frozen=True, slots=True)
class WorldSetup:
    """The parameters of a run that no action changes."""

    kind: str
    """The collection kind every node runs: map, vec, set, depq, cell or once."""
    config: Config = field(default_factory=Config)
    """The snapshot-sync configuration (uniform: it is part of the group id)."""
    profile: Profile = REFERENCE
    """Which hazard switches are on."""
    faults: frozenset[Fault] = frozenset()
    """Which adversarial fault actions are enabled (:mod:`spec.model.faults`)."""
    transport: frozenset[Transport] = MOSAIK_TRANSPORT
    """Which transport behaviours of mosaik are modelled (:mod:`spec.model.transport`)."""
    heartbeat_interval_ms: int = HEARTBEAT_INTERVAL_MS
    """The leaders' heartbeat interval (R2)."""
    epoch_wall_ms: int = DEFAULT_EPOCH_WALL_MS
    """Wall-clock time at monotonic time 0, before per-node skew."""
    host: NodeHost | None = field(default=None, compare=False, repr=False)
    """Runs the steps of the nodes it hosts outside the model (``snapsync drive``;
    :mod:`spec.model.host`). None: every node is the reference's."""


@lru_cache(maxsize=4096)
def _jitter(seed: int, name: str, incarnation: int, term: int, arms: int, jitter_ms: int) -> int:
    data = canonical_json(["snapsync/election-timeout/v1", seed, name, incarnation, term, arms])
    digest = blake3.blake3(data.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "little") % jitter_ms


@dataclass(frozen=True, slots=True)
class ElectionTiming:
    """How a node's election timeout is redrawn at every re-arm (mosaik ``election_timeout()``).

    mosaik draws ``base + U[0, jitter)`` each time it arms the election timer
    (``Follower::new``, ``reset_election_timeout``, ``Candidate::new``; inventory
    §3.2). The model draws without hidden RNG state: the draw is a function of
    the run's ``seed``, the node's name and incarnation, its term when the step
    begins and how many times it re-armed in that term (:meth:`draw`), so a
    trace that records this value (``join_late``'s ``redraw`` argument) replays
    exactly.

    >>> t = ElectionTiming(base_ms=2_000, jitter_ms=500, seed=7)
    >>> d = t.draw("w0", incarnation=0, term=3, arms=0)
    >>> 2_000 <= d < 2_500, d == t.draw("w0", incarnation=0, term=3, arms=0)
    (True, True)
    >>> ElectionTiming(base_ms=2_000, jitter_ms=0, seed=7).draw("w0", 0, 3, 0)
    2000
    """

    base_ms: int
    """The smallest timeout."""
    jitter_ms: int
    """Draws are uniform-ish in ``[base_ms, base_ms + jitter_ms)`` (a single value if 0)."""
    seed: int = 0
    """The run's seed (the simulator's seed; hunt runs use 0)."""

    def __post_init__(self) -> None:
        for name in ("base_ms", "jitter_ms", "seed"):
            value = getattr(self, name)
            # Verify each field is a non-negative integer (bool is not a number here).
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidInput(f"ElectionTiming.{name} must be an integer >= 0, got {value!r}")

    def draw(self, name: str, incarnation: int, term: int, arms: int) -> int:
        """Return the timeout of node ``name``'s next re-arm.

        ``base_ms + (blake3(canonical_json([tag, seed, name, incarnation, term,
        arms])) as u64 LE of its first 8 bytes) mod jitter_ms``.
        """
        if self.jitter_ms == 0:
            return self.base_ms
        return self.base_ms + _jitter(self.seed, name, incarnation, term, arms, self.jitter_ms)

    def as_json(self) -> dict[str, int]:
        """Return the trace form (``join_late``'s ``redraw`` argument)."""
        return {"base_ms": self.base_ms, "jitter_ms": self.jitter_ms, "seed": self.seed}

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> ElectionTiming:
        """Return the timing of a trace's ``redraw`` object (raise :class:`InvalidInput`)."""
        if not isinstance(value, Mapping):
            raise InvalidInput(f"redraw must be an object, got {type(value).__name__}")
        keys = {"base_ms", "jitter_ms", "seed"}
        if set(value) != keys:
            raise InvalidInput(
                f"redraw needs exactly the fields {sorted(keys)}, got {sorted(value)}"
            )
        return cls(base_ms=value["base_ms"], jitter_ms=value["jitter_ms"], seed=value["seed"])


@dataclass(frozen=True, slots=True)
class NodeSlot:
    """One node of the model: the impl state plus the model's inputs for it."""

    name: str
    """The node's name in traces (``w0``, ``r1``, ...)."""
    peer: PeerId
    """Its peer id (``PeerId.from_label(name)``)."""
    writer: bool
    """A writer (mosaik ``Normal``: votes, may lead) or a reader (``Observer``)."""
    node: NodeState
    """The node's impl state."""
    skew_ms: int = 0
    """Offset of this node's wall clock from the model's (bounded skew)."""
    election_timeout_ms: int = 2_000
    """The timeout its ``node_new`` armed (chosen by the driver at join/restart). Without
    ``redraw`` it is also passed to every later step: the timeout is fixed for the run."""
    redraw: ElectionTiming | None = None
    """How every later re-arm draws a fresh timeout (:func:`election_timeout_of`)."""
    election_arms: int = 0
    """Re-arms of the election timer since the node entered its current term (the draw key)."""
    status: NodeStatus = NodeStatus.UP
    """Up, down (left), or crashed (panicked)."""
    incarnation: int = 0
    """How many times the node was (re)created empty: ``restart_empty`` and re-joins."""
    disorder: bool = False
    """Fault ``disagree_order``: this provider serves its snapshots in reverse order (H13)."""

    @property
    def up(self) -> bool:
        """Check if the node takes part in the run."""
        return self.status is NodeStatus.UP


@dataclass(frozen=True, slots=True)
class InFlight:
    """A message queued on a bond direction."""

    mid: int
    """Model-wide message id (send order)."""
    src: str
    """Sender's name."""
    dst: str
    """Receiver's name."""
    message: Message
    """The impl message."""
    sent_ms: int
    """Monotonic time of the send."""
    in_reply_to: FetchDataRequest | None = None
    """Ghost: the request a ``FetchDataResponse`` answers (I13). Not on the wire."""


@dataclass(frozen=True, slots=True)
class Bond:
    """A bond between two nodes: up or down, one FIFO queue per direction.

    ``lo``/``hi`` are the two names in sorted order; ``lo_to_hi`` carries the
    messages ``lo`` sent to ``hi``. On a bond that is down, a queue holds the
    messages its receiver had already received when the bond broke (transport
    ``deliver_after_break``): still delivered, never more added.
    """

    lo: str
    hi: str
    up: bool = True
    lo_to_hi: tuple[InFlight, ...] = ()
    hi_to_lo: tuple[InFlight, ...] = ()

    def queue(self, src: str, dst: str) -> tuple[InFlight, ...]:
        """Return the queue of the direction ``src → dst``."""
        if (src, dst) == (self.lo, self.hi):
            return self.lo_to_hi
        if (src, dst) == (self.hi, self.lo):
            return self.hi_to_lo
        raise InvalidInput(f"bond {self.lo}–{self.hi} has no direction {src}→{dst}")

    def with_queue(self, src: str, dst: str, queue: tuple[InFlight, ...]) -> Bond:
        """Return a copy with the queue of ``src → dst`` replaced."""
        if src == self.lo and dst == self.hi:
            return _bond_lo_to_hi(self, queue)
        if src == self.hi and dst == self.lo:
            return _bond_hi_to_lo(self, queue)
        raise InvalidInput(f"bond {self.lo}–{self.hi} has no direction {src}→{dst}")

    def in_flight(self) -> int:
        """Return the number of queued messages, both directions."""
        return len(self.lo_to_hi) + len(self.hi_to_lo)


def election_timeout_of(slot: NodeSlot) -> int:
    """Return the election timeout passed to ``slot``'s next step (``NodeContext``).

    Fixed (no ``redraw``): ``slot.election_timeout_ms``. Redrawn: the draw keyed by
    the node's name, incarnation, current term and re-arms in that term, so each
    re-arm in mosaik (a step-down, a new candidacy, an AppendEntries, a vote)
    gets a fresh value and two runs of one seed get the same ones.

    >>> from impl.node import node_new
    >>> from impl.node_state import Preference
    >>> class M:
    ...     kind = "cell"
    ...     def initial(self):
    ...         return None
    >>> node = node_new(PeerId.from_label("w0"), M(), Preference.NORMAL, 0, 1_000)
    >>> slot = NodeSlot("w0", PeerId.from_label("w0"), True, node, election_timeout_ms=1_000)
    >>> election_timeout_of(slot)
    1000
    >>> timing = ElectionTiming(2_000, 500, seed=1)
    >>> redrawn = evolve(slot, redraw=timing, election_arms=2)
    >>> election_timeout_of(redrawn) == timing.draw("w0", 0, 0, 2)
    True
    """
    if slot.redraw is None:
        return slot.election_timeout_ms
    return slot.redraw.draw(slot.name, slot.incarnation, int(slot.node.term), slot.election_arms)


def bond_key(a: str, b: str) -> tuple[str, str]:
    """Return the key of the bond between ``a`` and ``b`` (sorted names).

    >>> bond_key("r1", "w0")
    ('r1', 'w0')
    """
    if a == b:
        raise InvalidInput(f"a node has no bond with itself ({a})")
    return (a, b) if a < b else (b, a)


@dataclass(frozen=True, slots=True)
class World:
    """One state of the whole group (see the module docstring)."""

    setup: WorldSetup
    """Run parameters."""
    now_ms: int
    """Monotonic time, shared by every node."""
    nodes: FrozenDict[str, NodeSlot]
    """Every node ever created, by name."""
    bonds: FrozenDict[tuple[str, str], Bond]
    """One bond per pair of nodes that ever bonded, by :func:`bond_key`."""
    peers: FrozenDict[PeerId, str]
    """Name of each peer id (derived from ``nodes``; kept for O(1) lookups)."""
    next_mid: int
    """The id the next queued message gets."""
    ghost: Ghost
    """History variables: *not present in an implementation*."""
    draining: frozenset[tuple[str, str]] = frozenset()
    """Directions ``(src, dst)`` of broken bonds that still hold messages ``dst`` had
    received (transport ``deliver_after_break``): ``src`` stays in ``dst``'s bond table
    (its steps' ``NodeContext.bonds``) until they are delivered."""

    # -- lookups ----------------------------------------------------------------------------

    def slot(self, name: str) -> NodeSlot:
        """Return the node called ``name`` or raise :class:`InvalidInput`."""
        slot = self.nodes.get(name)
        if slot is None:
            raise InvalidInput(f"no node called {name!r}")
        return slot

    def names(self) -> tuple[str, ...]:
        """Return every node name, sorted."""
        return tuple(sorted(self.nodes))

    def up_names(self) -> tuple[str, ...]:
        """Return the names of the nodes that are up, sorted."""
        nodes = self.nodes
        return tuple([n for n in sorted(nodes) if nodes[n].up])

    def name_of(self, peer: PeerId) -> str:
        """Return the name of ``peer`` or raise :class:`InvalidInput`."""
        name = self.peers.get(peer)
        if name is None:
            raise InvalidInput(f"no node has peer id {peer}")
        return name

    def bond(self, a: str, b: str) -> Bond | None:
        """Return the bond between ``a`` and ``b``, if they ever bonded."""
        return self.bonds.get(bond_key(a, b))

    def bonded(self, a: str, b: str) -> bool:
        """Check if ``a`` and ``b`` have a live bond."""
        bond = self.bonds.get(bond_key(a, b))
        return bond is not None and bond.up

    def bond_peers(self, name: str) -> tuple[str, ...]:
        """Return the names of the nodes ``name`` has a live bond with, sorted."""
        table = _peer_table(self.bonds).peers
        peers = table.get(name)
        if peers is None:
            out = []
            for (lo, hi), bond in self.bonds.items():
                if bond.up and name in (lo, hi):
                    out.append(hi if lo == name else lo)
            peers = table[name] = tuple(sorted(out))
        return peers

    def bond_peer_ids(self, name: str) -> frozenset[PeerId]:
        """Return the peer ids of :meth:`bond_peers` (a step's ``NodeContext.bonds``)."""
        tables = _peer_table(self.bonds)
        peers = tables.peers.get(name) or self.bond_peers(name)
        table = tables.ids
        nodes = self.nodes
        hit = table.get(name)
        if hit is not None:
            # The same peer objects as last time: the same set (hashing them is the cost).
            for peer, known in zip(peers, hit[0], strict=True):
                if nodes[peer].peer is not known:
                    break
            else:
                return hit[1]
        objects = tuple(nodes[p].peer for p in peers)
        ids = frozenset(objects)
        table[name] = (objects, ids)
        return ids

    def table_peer_ids(self, name: str) -> frozenset[PeerId]:
        """Return the peers in ``name``'s bond table: its live bonds, and the peers of broken
        bonds whose messages it has yet to process (``draining``; a step's
        ``NodeContext.bonds``)."""
        live = self.bond_peer_ids(name)
        if not self.draining:
            return live
        extra = {self.nodes[src].peer for src, dst in self.draining if dst == name}
        return live | extra if extra else live

    def queue(self, src: str, dst: str) -> tuple[InFlight, ...]:
        """Return the messages queued on ``src → dst`` (empty if there is no bond)."""
        bond = self.bonds.get(bond_key(src, dst))
        return bond.queue(src, dst) if bond is not None else ()

    def in_flight(self) -> int:
        """Return the number of queued messages over all bonds."""
        return sum([len(b.lo_to_hi) + len(b.hi_to_lo) for b in self.bonds.values()])

    def directions(self) -> tuple[tuple[str, str], ...]:
        """Return every bond direction with a queued message, sorted ``(src, dst)``."""
        out = []
        for (lo, hi), bond in self.bonds.items():
            if bond.lo_to_hi:
                out.append((lo, hi))
            if bond.hi_to_lo:
                out.append((hi, lo))
        return tuple(sorted(out))

    def wall_ms(self, name: str) -> int:
        """Return the wall clock of node ``name`` now (epoch + monotonic + skew)."""
        return self.setup.epoch_wall_ms + self.now_ms + self.nodes[name].skew_ms

    def leaders(self) -> tuple[str, ...]:
        """Return the names of the up nodes that currently lead, sorted."""
        nodes = self.nodes
        return tuple([n for n in self.up_names() if nodes[n].node.leader == nodes[n].peer])

    # -- functional updates -----------------------------------------------------------------

    def with_slot(self, slot: NodeSlot) -> World:
        """Return a copy with ``slot`` stored under its name."""
        if slot.peer in self.peers:
            return _world_nodes(self, self.nodes.set(slot.name, slot))
        peers = self.peers.set(slot.peer, slot.name)
        return evolve(self, nodes=self.nodes.set(slot.name, slot), peers=peers)

    def with_node(self, name: str, node: NodeState) -> World:
        """Return a copy with node ``name``'s impl state replaced."""
        slot = self.nodes[name]
        if slot.node is node:
            return self
        return _world_nodes(self, self.nodes.set(name, _slot_node(slot, node)))

    def with_bond(self, bond: Bond) -> World:
        """Return a copy with ``bond`` stored under its key."""
        return _world_bonds(self, _set_bonds(self.bonds, (bond,)))

    def with_queued(
        self, bonds: Mapping[tuple[str, str], Bond], next_mid: int, ghost: Ghost
    ) -> World:
        """Return a copy with ``bonds`` stored under their keys (queues that grew), and
        ``next_mid`` and ``ghost`` replaced (the transport's update of one step)."""
        return _world_queued(self, _set_bonds(self.bonds, bonds.values()), next_mid, ghost)


# Updates made at every step (impl.records.evolve, without its per-call lookup).
_world_nodes = evolver(World, "nodes")
_world_bonds = evolver(World, "bonds")
_world_queued = evolver(World, "bonds", "next_mid", "ghost")
_slot_node = evolver(NodeSlot, "node")
_bond_lo_to_hi = evolver(Bond, "lo_to_hi")
_bond_hi_to_lo = evolver(Bond, "hi_to_lo")


class _PeerTable:
    """Each node's live-bond peers under one set of live bonds, filled on demand."""

    __slots__ = ("ids", "peers")

    def __init__(self) -> None:
        self.peers: dict[str, tuple[str, ...]] = {}
        """:meth:`World.bond_peers` by node."""
        self.ids: dict[str, tuple[tuple[PeerId, ...], frozenset[PeerId]]] = {}
        """By node: the peer objects of its peers when last asked, and their set."""


_PEER_TABLES: dict[int, tuple[FrozenDict[tuple[str, str], Bond], _PeerTable]] = {}
"""Per bonds map (by id; the map is kept so the id stays its own), its peer table.
Maps that differ only in queued messages share one (:func:`_set_bonds`): the live
bonds are the same."""


def _peer_table(bonds: FrozenDict[tuple[str, str], Bond]) -> _PeerTable:
    hit = _PEER_TABLES.get(id(bonds))
    if hit is not None and hit[0] is bonds:
        return hit[1]
    if len(_PEER_TABLES) >= 256:
        _PEER_TABLES.clear()
    table = _PeerTable()
    _PEER_TABLES[id(bonds)] = (bonds, table)
    return table


def _set_bonds(
    bonds: FrozenDict[tuple[str, str], Bond], new: Iterable[Bond]
) -> FrozenDict[tuple[str, str], Bond]:
    """Return ``bonds`` with each bond of ``new`` stored under its key, in order (one copy),
    sharing the peer table if each replaces a bond that is just as up or down."""
    out: FrozenDict[tuple[str, str], Bond] = FrozenDict(bonds)
    same = True
    for bond in new:
        key = (bond.lo, bond.hi)
        old = bonds.get(key)
        if old is None or bool(old.up) != bool(bond.up):
            same = False
        dict.__setitem__(out, key, bond)
    if same:
        hit = _PEER_TABLES.get(id(bonds))
        if hit is not None and hit[0] is bonds and len(_PEER_TABLES) < 256:
            _PEER_TABLES[id(out)] = (out, hit[1])
    return out


def empty_world(setup: WorldSetup, ghost: Ghost) -> World:
    """Return a world with no nodes at time 0 (nodes join through actions)."""
    return World(
        setup=setup,
        now_ms=0,
        nodes=frozen(),
        bonds=frozen(),
        peers=frozen(),
        next_mid=1,
        ghost=ghost,
    )


def describe_setup(setup: WorldSetup) -> dict[str, Any]:
    """Return a JSON-able description of ``setup`` (trace headers, CLI output)."""
    return {
        "kind": setup.kind,
        "profile": setup.profile.name,
        "hazards": sorted(h.value for h in setup.profile.hazards),
        "behaviours": sorted(b.value for b in setup.profile.behaviours),
        "faults": sorted(f.value for f in setup.faults),
        "transport": sorted(t.value for t in setup.transport),
        "config": {
            "fetch_batch_size": setup.config.fetch_batch_size,
            "snapshot_ttl_ms": setup.config.snapshot_ttl_ms,
            "snapshot_request_timeout_ms": setup.config.snapshot_request_timeout_ms,
            "fetch_timeout_ms": setup.config.fetch_timeout_ms,
        },
        "heartbeat_interval_ms": setup.heartbeat_interval_ms,
        "epoch_wall_ms": setup.epoch_wall_ms,
    }
