"""The differential machine: the pure impl steps and a naive model, side by side.

In the spirit of Hypothesis's ``DatabaseComparison`` example: the same random
operations go to the implementation under test (the collection state machines
of :mod:`impl.collections`, through ``apply_batch``, ``create_snapshot``,
``iter_range``, ``append`` and ``install_snapshot``) and to a model written for
obviousness, not speed (Python ``dict`` / ``list`` / ``set`` with the reference
semantics of each command, spelled out below). Every rule compares the two where
they can disagree:

=================  ===========================================================================
id                 what must agree
=================  ===========================================================================
``D-APPLY``        the state after ``apply_batch`` equals the naive model's (H5: Map/Cell
                   compare-exchange with a ``Some`` expectation)
``D-POSITION``     a TakeSnapshot served from a batch is positioned at ``committed + |batch|``
                   (S1, I15; H4: DEPQ undercounts mismatching ``CompareExchangeValue``)
``D-SNAPSHOT``     the served snapshot holds the state after the whole batch (I1)
``D-RANGE``        ``iter_range(r)`` is ``None`` iff ``r.end > len``, else exactly the
                   model's slice (I3; H28: Cell/Once ignore the range end)
``D-REASSEMBLY``   a snapshot fetched in chunks of ``fetch_batch_size`` and reassembled with
                   ``append`` installs to the state it was taken from (I5, I8)
``D-ORDER``        a Map, Set or DEPQ snapshot lists its keys in the canonical order: by the
                   postcard bytes of the key, a proper prefix first (docs/protocol/
                   collections.md), over the fixed key sets of :data:`ORDER_CASES` (keys a
                   group run never writes: multi-byte varints, strings), at every setup
``PANIC``          no step raises mosaik's panic (H23: Vec ``Insert`` past the end)
=================  ===========================================================================

The other rules compare content (Vec by position, the others as mappings or sets),
and ``D-RANGE`` compares the slices of the implementation's own canonical sequence
against its length; ``D-ORDER`` holds that sequence to the documented order, with the
encoding spelled out naively (:func:`naive_postcard`), since every provider of one
build agrees with itself and only an independent statement shows a wrong order.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any, ClassVar

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from impl.collections import COLLECTIONS
from impl.collections.base import ApplyContext, StateMachine
from impl.collections.cell import CellClear, CellCompareExchange, CellWrite
from impl.collections.depq import (
    Bound,
    BoundKind,
    DepqClear,
    DepqCompareExchangeValue,
    DepqExtend,
    DepqInsert,
    DepqMachine,
    DepqRemoveKeys,
    DepqRemoveRange,
    DepqUpdatePriority,
    DepqUpdateValue,
)
from impl.collections.map import (
    MapClear,
    MapCompareExchange,
    MapExtend,
    MapInsert,
    MapRemoveMany,
)
from impl.collections.once import OnceWrite
from impl.collections.set import SetClear, SetExtend, SetInsert, SetRemoveMany
from impl.collections.vec import (
    VecClear,
    VecExtend,
    VecInsert,
    VecPopBack,
    VecPopFront,
    VecPushBack,
    VecPushFront,
    VecRemove,
    VecSwap,
    VecTruncate,
)
from impl.config import Config
from impl.errors import HazardPanic, InvalidInput
from impl.messages import Command, Item, SnapshotRequest, TakeSnapshot
from impl.profile import REFERENCE, Profile
from impl.types import Cursor, Index, ItemRange, PeerId, Term
from spec.hunt.campaigns import Campaign, get_campaign
from spec.hunt.client_commands import command_strategy, seed_commands
from spec.hunt.stepdiff import StepDifferential, profiled

__all__ = [
    "DIFFERENTIAL_MACHINES",
    "DIFF_IDS",
    "DifferentialMachine",
    "NaiveModel",
    "differential_class",
]

DIFF_IDS: tuple[str, ...] = (
    "D-APPLY",
    "D-POSITION",
    "D-SNAPSHOT",
    "D-RANGE",
    "D-REASSEMBLY",
    "PANIC",
)
"""Every id the differential machine checks."""

LOCAL = PeerId.from_label("diff-local")
REQUESTER = PeerId.from_label("diff-requester")
WALL_MS = 1_767_225_600_000


def naive_postcard(datum: Any) -> bytes:
    """postcard's bytes of a key, written for obviousness: a u64 as LEB128, a string as
    the LEB128 of its UTF-8 length then the bytes, a tuple as its parts in turn."""
    if isinstance(datum, tuple):
        return b"".join(naive_postcard(part) for part in datum)
    if isinstance(datum, str):
        raw = datum.encode("utf-8")
        return naive_postcard(len(raw)) + raw
    out = bytearray()
    value = int(datum)
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | 0x80 if value else low)
        if not value:
            return bytes(out)


ORDER_CASES: tuple[tuple[Any, ...], ...] = (
    (5, 127, 128, 129, 255, 256, 16_383, 16_384, 1 << 20),
    (300, 2, 129, 1, 256),
    ("", "a", "b", "c", "ab", "ba", "abc", "bc", "\u00e9", "a\u00e9"),
    ("b", "ab", "\u00e9", "c"),
)
"""Key sets (of one type: a collection's keys have one Rust type) beyond what group runs
write: varints of one, two and three bytes (``256`` before ``129``), strings of several
lengths, one of two UTF-8 bytes — where byte order, numeric order and postcard's
length-first order part. Checked at every setup of a Map, Set or DEPQ (``D-ORDER``):
a fixed set, not drawn, so it does not change what Hypothesis draws for the other rules."""


class NaiveModel:
    """The obvious model of one collection (module docstring); values are plain Python."""

    def __init__(self, kind: str, capacity: int | None = None) -> None:
        if kind not in COLLECTIONS:
            raise InvalidInput(f"unknown collection kind {kind!r}")
        self.kind = kind
        self.capacity = capacity
        """A bounded DEPQ's ``CAP`` (None: unbounded): every insertion then evicts the
        lowest entries — by priority, then by the key's postcard bytes — down to it."""
        self.map: dict[Any, Any] = {}
        self.vec: list[Any] = []
        self.set: set[Any] = set()
        self.cell: Any = None

    def apply(self, command: Command) -> None:
        """Apply one data command with the reference semantics."""
        getattr(self, f"_{self.kind}")(command)

    def view(self) -> Any:
        """Return the model's content in the comparison form of :func:`view_items`."""
        if self.kind in ("map", "depq"):
            return dict(self.map)
        if self.kind == "vec":
            return list(self.vec)
        if self.kind == "set":
            return set(self.set)
        return None if self.cell is None else self.cell

    # -- per kind --------------------------------------------------------------------------

    def _map(self, c: Command) -> None:
        m = self.map
        if isinstance(c, MapInsert):
            m[c.key] = c.value
        elif isinstance(c, MapExtend):
            for k, v in c.entries:
                m[k] = v
        elif isinstance(c, MapRemoveMany):
            for k in c.keys:
                m.pop(k, None)
        elif isinstance(c, MapCompareExchange):
            # Exchange iff the expectation holds: absent/None, or present with that value.
            present = c.key in m
            if present != (c.expected is not None):
                return
            if present and m[c.key] != c.expected:
                return
            if c.new is None:
                m.pop(c.key, None)
            else:
                m[c.key] = c.new
        elif isinstance(c, MapClear):
            m.clear()

    def _vec(self, c: Command) -> None:
        v = self.vec
        if isinstance(c, VecPushBack):
            v.append(c.value)
        elif isinstance(c, VecPushFront):
            v.insert(0, c.value)
        elif isinstance(c, VecInsert):
            if c.index <= len(v):  # past the end: a no-op in the reference
                v.insert(c.index, c.value)
        elif isinstance(c, VecSwap):
            if c.i < len(v) and c.j < len(v):
                v[c.i], v[c.j] = v[c.j], v[c.i]
        elif isinstance(c, VecRemove):
            if c.index < len(v):
                del v[c.index]
        elif isinstance(c, VecPopBack):
            if v:
                v.pop()
        elif isinstance(c, VecPopFront):
            if v:
                v.pop(0)
        elif isinstance(c, VecTruncate):
            del v[c.len :]
        elif isinstance(c, VecExtend):
            v.extend(c.entries)
        elif isinstance(c, VecClear):
            v.clear()

    def _set(self, c: Command) -> None:
        s = self.set
        if isinstance(c, SetInsert):
            s.add(c.value)
        elif isinstance(c, SetExtend):
            s.update(c.entries)
        elif isinstance(c, SetRemoveMany):
            s.difference_update(c.values)
        elif isinstance(c, SetClear):
            s.clear()

    def _depq(self, c: Command) -> None:
        self._depq_apply(c)
        if self.capacity is not None:
            # Every command of this model either inserts at most one entry at a time or
            # removes; an Extend inserts one by one, so it is evicted item by item below.
            self._evict()

    def _evict(self) -> None:
        m = self.map
        assert self.capacity is not None
        while len(m) > self.capacity:
            del m[min(m, key=lambda k: (m[k][0], naive_postcard(k)))]

    def _depq_apply(self, c: Command) -> None:
        m = self.map  # key -> (priority, value)
        if isinstance(c, DepqInsert):
            m[c.key] = (c.priority, c.value)
        elif isinstance(c, DepqExtend):
            for p, k, v in c.entries:
                m[k] = (p, v)
                if self.capacity is not None:
                    self._evict()
        elif isinstance(c, DepqUpdatePriority):
            if c.key in m:
                m[c.key] = (c.priority, m[c.key][1])
        elif isinstance(c, DepqUpdateValue):
            if c.key in m:
                m[c.key] = (m[c.key][0], c.value)
        elif isinstance(c, DepqCompareExchangeValue):
            if c.key in m and m[c.key][1] == c.expected:
                if c.new is None:
                    del m[c.key]
                else:
                    m[c.key] = (m[c.key][0], c.new)
        elif isinstance(c, DepqRemoveKeys):
            for k in c.keys:
                m.pop(k, None)
        elif isinstance(c, DepqRemoveRange):
            for k in [k for k, (p, _) in m.items() if _within(p, c.start, c.end)]:
                del m[k]
        elif isinstance(c, DepqClear):
            m.clear()

    def _cell(self, c: Command) -> None:
        if isinstance(c, CellWrite):
            self.cell = c.value
        elif isinstance(c, CellCompareExchange):
            if (self.cell is None and c.current is None) or (
                self.cell is not None and c.current is not None and self.cell == c.current
            ):
                self.cell = c.new
        elif isinstance(c, CellClear):
            self.cell = None

    def _once(self, c: Command) -> None:
        if isinstance(c, OnceWrite) and self.cell is None:
            self.cell = c.value


def _within(p: Any, start: Bound, end: Bound) -> bool:
    """Rust's ``RangeBounds::contains`` for priorities."""
    if start.kind is BoundKind.INCLUDED and not p >= start.value:
        return False
    if start.kind is BoundKind.EXCLUDED and not p > start.value:
        return False
    if end.kind is BoundKind.INCLUDED and not p <= end.value:
        return False
    return not (end.kind is BoundKind.EXCLUDED and not p < end.value)


def view_items(kind: str, items: Sequence[Item]) -> Any:
    """Return the implementation's canonical items in the model's comparison form."""
    if kind == "map":
        return {item[0]: item[1] for item in items if isinstance(item, tuple)}
    if kind == "depq":
        return {item[1]: (item[0], item[2]) for item in items if isinstance(item, tuple)}
    if kind == "vec":
        return list(items)
    if kind == "set":
        return set(items)
    return items[0] if items else None


class DifferentialMachine(StepDifferential):
    """Impl collection steps against :class:`NaiveModel` (module docstring)."""

    profile: ClassVar[Profile] = REFERENCE
    campaign: ClassVar[Campaign] = get_campaign("differential")

    def __init__(self) -> None:
        super().__init__()
        self.kind = "map"
        self.machine: StateMachine = COLLECTIONS["map"]
        self.model = NaiveModel("map")
        self.state: Any = None
        self.committed = 0
        self.batch = 2
        self.crashed = False

    @initialize(
        kind=st.sampled_from(tuple(COLLECTIONS)),
        batch=st.integers(1, 3),
        items=st.integers(1, 4),
        capacity=st.sampled_from((None, None, 2, 3)),
    )
    def setup_collection(
        self, kind: str, batch: int, items: int, capacity: int | None = None
    ) -> None:
        """Pick the collection kind and the fetch batch size; write ``items`` entries. A DEPQ
        may be bounded (mosaik's ``CAP``): group runs only build unbounded ones."""
        self.kind = kind
        cap = capacity if kind == "depq" else None
        self.machine = COLLECTIONS[kind] if cap is None else DepqMachine(capacity=cap)
        self.model = NaiveModel(kind, cap)
        self.state = self.machine.initial()
        self.batch = batch
        self._count(f"setup_collection({kind!r}, batch={batch}, items={items}, capacity={cap})")
        self._apply(list(seed_commands(kind, items)), None)
        if kind in ("map", "set", "depq"):
            for keys in ORDER_CASES:
                self.canonical_order(list(keys))

    # -- rules --------------------------------------------------------------------------------

    @precondition(lambda self: not self.crashed)
    @rule(data=st.data(), take=st.none() | st.integers(0, 3))
    def apply_batch(self, data: st.DataObject, take: int | None) -> None:
        """S1: one commit run of 1–4 commands, with a TakeSnapshot at ``take`` if given."""
        commands = list(
            data.draw(st.lists(command_strategy(self.kind), min_size=1, max_size=4), label="batch")
        )
        self._apply(commands, take)

    def _apply(self, commands: list[Command], take: int | None) -> None:
        if take is not None:
            request = SnapshotRequest(REQUESTER, WALL_MS)
            commands.insert(min(take, len(commands)), TakeSnapshot(request))
        self._count(f"apply_batch({commands!r})")
        ctx = ApplyContext(
            committed=Cursor(Term(1), Index(self.committed)),
            log_position=Cursor(Term(1), Index(self.committed + len(commands))),
            current_term=Term(1),
            local_id=LOCAL,
            now_wall_ms=WALL_MS,
            config=Config(fetch_batch_size=self.batch),
        )
        try:
            state, served = self.machine.apply_batch(self.state, commands, ctx, self.profile)
        except HazardPanic as panic:
            self.crashed = True
            self._find("PANIC", f"{panic.hazard} at {panic.site}: {panic.detail}")
            return
        for command in commands:
            if not isinstance(command, TakeSnapshot):
                self.model.apply(command)
        self.state = state
        self.committed += len(commands)
        have = view_items(self.kind, self.machine.items(state))
        if have != self.model.view():
            self._find("D-APPLY", f"state {have!r}, the model has {self.model.view()!r}")
        for pending in served:
            if pending.position.index != self.committed:
                self._find(
                    "D-POSITION",
                    f"snapshot served at {pending.position}, the batch ends at {self.committed}",
                )
            snap = pending.snapshot
            got = snap.iter_range(ItemRange(0, len(snap)))
            if got is None or view_items(self.kind, tuple(got)) != have:
                self._find("D-SNAPSHOT", "the served snapshot is not the state after the batch")

    @precondition(
        lambda self: (
            not self.crashed
            and self.kind in ("map", "cell", "depq")
            and self.model.view() not in (None, {})
        )
    )
    @rule(
        pick=st.integers(0, 7),
        matching=st.booleans(),
        new=st.none() | st.integers(0, 9),
        take=st.booleans(),
    )
    def compare_exchange(self, pick: int, matching: bool, new: int | None, take: bool) -> None:
        """A compare-exchange on a present key (Map, DEPQ) or the Cell's value, expecting
        its current value (``matching``) or another one, then optionally a TakeSnapshot in
        the same batch: the commands where H4 and H5 live, drawn on purpose."""
        command: Command
        if self.kind == "cell":
            current = self.model.cell
            expected = current if matching else current + 1
            command = CellCompareExchange(expected, new)
        else:
            keys = sorted(self.model.map)
            key = keys[pick % len(keys)]
            value = self.model.map[key][1] if self.kind == "depq" else self.model.map[key]
            expected = value if matching else value + 1
            if self.kind == "depq":
                command = DepqCompareExchangeValue(key, expected, new)
            else:
                command = MapCompareExchange(key, expected, new)
        self._apply([command], take=1 if take else None)

    @precondition(lambda self: not self.crashed)
    @rule(start=st.integers(0, 6), length=st.integers(0, 4))
    def iter_range(self, start: int, length: int) -> None:
        """``iter_range`` of a fresh snapshot against the slice of its canonical sequence."""
        self._count(f"iter_range({start}, {start + length})")
        snap = self.machine.create_snapshot(self.state, self.profile)
        n = len(snap)
        full = snap.iter_range(ItemRange(0, n))
        got = snap.iter_range(ItemRange(start, start + length))
        if start + length > n:
            if got is not None:
                self._find(
                    "D-RANGE", f"iter_range[{start},{start + length}) of {n} items is not None"
                )
        elif full is None or got is None or tuple(got) != tuple(full)[start : start + length]:
            self._find("D-RANGE", f"iter_range[{start},{start + length}) is not the slice")

    def canonical_order(self, keys: list[Any]) -> None:
        """A fresh collection of ``keys``: its snapshot lists them in the canonical order."""
        self._count(f"canonical_order({keys!r})")
        if self.kind == "map":
            commands: list[Command] = [MapInsert(k, 0) for k in keys]
        elif self.kind == "set":
            commands = [SetInsert(k) for k in keys]
        else:
            commands = [DepqInsert(0, k, 0) for k in keys]
        ctx = ApplyContext(
            committed=Cursor(Term(1), Index(0)),
            log_position=Cursor(Term(1), Index(len(commands))),
            current_term=Term(1),
            local_id=LOCAL,
            now_wall_ms=WALL_MS,
            config=Config(fetch_batch_size=self.batch),
        )
        machine = COLLECTIONS[self.kind]  # unbounded: every key stays
        state, _ = machine.apply_batch(machine.initial(), commands, ctx, self.profile)
        snap = machine.create_snapshot(state, self.profile)
        items = tuple(snap.iter_range(ItemRange(0, len(snap))) or ())
        at = {"set": None, "map": 0, "depq": 1}[self.kind]
        got = [item if at is None or not isinstance(item, tuple) else item[at] for item in items]
        want = sorted(keys, key=naive_postcard)
        if got != want:
            self._find("D-ORDER", f"{self.kind} keys served as {got!r}, canonical order {want!r}")

    @precondition(lambda self: not self.crashed)
    @rule()
    def reassemble(self) -> None:
        """Fetch the snapshot in chunks of ``batch``, reassemble, install: same state."""
        self._count("reassemble()")
        snap = self.machine.create_snapshot(self.state, self.profile)
        acc = self.machine.empty_snapshot(self.profile)
        for start in range(0, len(snap), self.batch):
            chunk = snap.iter_range(ItemRange(start, min(start + self.batch, len(snap))))
            if chunk is None:
                self._find("D-REASSEMBLY", f"chunk at {start} is None")
                return
            acc = acc.append(tuple(chunk))
        installed = self.machine.install_snapshot(self.machine.initial(), acc)
        if self.machine.items(installed) != self.machine.items(self.state):
            self._find("D-REASSEMBLY", "the reassembled snapshot installs to another state")

    # -- invariants -----------------------------------------------------------------------------

    @invariant()
    def d_apply(self) -> None:
        """D-APPLY: the impl state equals the naive model's."""
        self._check("D-APPLY")

    @invariant()
    def d_position(self) -> None:
        """D-POSITION: snapshots are positioned at the end of their batch."""
        self._check("D-POSITION")

    @invariant()
    def d_snapshot(self) -> None:
        """D-SNAPSHOT: the served snapshot is the state after the batch."""
        self._check("D-SNAPSHOT")

    @invariant()
    def d_range(self) -> None:
        """D-RANGE: iter_range is None past the end, the exact slice inside."""
        self._check("D-RANGE")

    @invariant()
    def d_reassembly(self) -> None:
        """D-REASSEMBLY: chunks reassemble to the state."""
        self._check("D-REASSEMBLY")

    @invariant()
    def d_order(self) -> None:
        """D-ORDER: snapshots list their keys in the canonical order."""
        self._check("D-ORDER")

    @invariant()
    def no_panic(self) -> None:
        """PANIC: no mosaik panic."""
        self._check("PANIC")


DIFFERENTIAL_MACHINES: dict[str, str] = {
    "collections": __name__,
    "logstore": "spec.hunt.differential_log",
    "provider": "spec.hunt.differential_provider",
    "session": "spec.hunt.differential_session",
}
"""Every differential machine, by the name a campaign's ``differential`` gives: the module
that defines it. Each module has ``machine_class(profile) -> type[RuleBasedStateMachine]``
and a ``DIFF_IDS`` tuple of the ids it checks. Imported on first use, so that a module
may import the campaign table."""


def machine_class(profile: Profile = REFERENCE) -> type[DifferentialMachine]:
    """Return the collections' differential machine class under ``profile`` (cached)."""
    return profiled(DifferentialMachine, profile)


def differential_class(
    profile: Profile = REFERENCE, machine: str = "collections"
) -> type[RuleBasedStateMachine]:
    """Return the differential machine ``machine`` (:data:`DIFFERENTIAL_MACHINES`) under
    ``profile``; raise :class:`InvalidInput` for an unknown name."""
    module = DIFFERENTIAL_MACHINES.get(machine)
    if module is None:
        known = ", ".join(DIFFERENTIAL_MACHINES)
        raise InvalidInput(f"unknown differential machine {machine!r}; known: {known}")
    factory = importlib.import_module(module).machine_class
    cls: type[RuleBasedStateMachine] = factory(profile)
    return cls
