"""mosaik's snapshot-sync tests, tests/collections/sync/{map,vec,set,depq}.rs (inventory §6.1–6.4).

Common harness (inventory §6): ``w0`` is the only writer and so the leader, ``r1``
a reader that is online from the start, ``r2`` a reader that joins late and must
catch up by snapshot. Timeouts are mosaik's, in simulated milliseconds.

Adaptations, each documented in docs/model.md:

* Per-item population (``for i in 0..n { w0.insert(..).await }``) submits the n
  commands together: each is still its own log entry, and the leader publishes
  everything queued in one AppendEntries (R1), as mosaik does for commands that
  arrive between two of its polls. Writes *during* a sync are submitted one at a
  time, 1 ms apart, so that they interleave with the catch-up.
* mosaik's concurrent reader task (``concurrent_reads_during_sync``) is a watch
  evaluated after every model step, which is finer than any task schedule.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from spec.scenarios.flavors import (
    FLAVORS,
    Reads,
    depq_remove_range,
    depq_update_priority,
    depq_update_value,
    vec_ops,
)
from spec.scenarios.harness import Harness
from spec.scenarios.registry import Scenario

__all__ = ["SYNC_SCENARIOS"]

P = Mapping[str, Any]


# -- shared steps -----------------------------------------------------------------------------


def _two_nodes(h: Harness) -> None:
    """n0/w0 and n1/r1 join; both come online (15 s each, as mosaik waits)."""
    h.writer("w0")
    h.reader("r1")
    h.online("w0", 15_000)
    h.online("r1", 15_000)


def _populate(h: Harness, size: int, oneshot: bool, start: int = 0) -> int:
    """Populate items ``start..start+size``: one ``extend`` entry, or one entry per item."""
    f = h.flavor
    if oneshot:
        return h.write("w0", f.extend(range(start, start + size)))
    return h.write("w0", *[f.item(i) for i in range(start, start + size)], timeout_ms=60_000)


def _late_reader(h: Harness, name: str = "r2", online_ms: int = 5_000) -> None:
    h.reader(name)
    h.online(name, online_ms)


def _mutate_then_join_late(h: Harness, steps: Sequence[tuple[Any, Callable[[Any], None]]]) -> None:
    """mosaik's ``mixed_mutations`` shape: write each command at ``w0``, check ``r1``
    after it, then let ``r2`` join late and reach the final version."""
    ver = 0
    for command, check in steps:
        ver = h.write("w0", command)
        h.reaches("r1", ver, 5_000)
        check(h.read("r1"))
    _late_reader(h)
    h.reaches("r2", ver, 5_000)


def _check_full(h: Harness, name: str, size: int, *, plain: bool = False) -> None:
    """Every populated item is there with its value (and priority, for DEPQ)."""
    r = h.read(name)
    f = h.flavor
    h.expect_eq(len(r), size, f"{name}.len()")
    for i in range(size):
        want = i if plain else f.expected(i)
        if h.kind == "set":
            h.expect(r.contains(i), f"{name} missing {i}")
        else:
            h.expect_eq(r.get(i), want, f"{name}.get({i})")
        if h.kind == "depq" and not plain:
            h.expect_eq(r.priority(i), i, f"{name}.get_priority({i})")


def _same(h: Harness, *names: str) -> None:
    first = h.read(names[0]).items
    for other in names[1:]:
        h.expect(h.read(other).items == first, f"{names[0]} and {other} differ")


# -- mirrored tests (Map, Vec, Set, DEPQ) -----------------------------------------------------


def frozen(h: Harness, p: P) -> None:
    """Populate w0/r1, then r2 joins and syncs a snapshot of many chunks."""
    size, oneshot = int(p["data_size"]), bool(p["oneshot_data"])
    _two_nodes(h)
    ver = _populate(h, size, oneshot)
    h.reaches("w0", ver, 2_000 + 10 * size)
    h.reaches("r1", ver, 2_000 + 10 * size)
    _check_full(h, "r1", size)
    _check_full(h, "w0", size)
    _late_reader(h)
    h.reaches("r2", ver, 2_000 + 10 * size)
    _check_full(h, "r2", size)
    _same(h, "w0", "r1", "r2")
    if h.kind == "depq" and size > 0:
        h.expect_eq(h.read("r2").get_min(), h.read("w0").get_min(), "min priority")
        h.expect_eq(h.read("r2").get_max(), h.read("w0").get_max(), "max priority")


def writes_during_sync(h: Harness, p: P) -> None:
    """r2 joins while w0 keeps inserting one entry at a time."""
    init, extra = int(p["initial_size"]), int(p["extra_size"])
    total = init + extra
    _two_nodes(h)
    ver = _populate(h, init, bool(p["oneshot_data"]))
    h.reaches("w0", ver, 2_000 + 10 * init)
    h.reaches("r1", ver, 2_000 + 10 * init)
    h.reader("r2")
    f = h.flavor
    for i in range(init, total):
        ver = h.write("w0", f.item(i))
        h.sim.run_for(1)
    for name in ("w0", "r1", "r2"):
        h.reaches(name, ver, 2_000 + 10 * total)
    for name in ("w0", "r1", "r2"):
        _check_full(h, name, total)


def empty(h: Harness, p: P) -> None:
    """No data: the reader converges to empty (no snapshot is involved)."""
    del p
    _two_nodes(h)
    r = h.read("r1")
    h.expect_eq(len(r), 0, "r1.len()")
    h.expect_eq(r.get(0), None, "r1.get(0)")
    if h.kind == "depq":
        h.expect_eq(r.get_min(), None, "r1.get_min()")
        h.expect_eq(r.get_max(), None, "r1.get_max()")


def single_entry(h: Harness, p: P) -> None:
    """One entry; a late joiner gets a 1-item snapshot."""
    del p
    _two_nodes(h)
    command, key, value = _single(h.kind)
    ver = h.write("w0", command)
    h.reaches("r1", ver, 5_000)
    for name in ("r1", "r2"):
        if name == "r2":
            _late_reader(h)
            h.reaches("r2", ver, 5_000)
        r = h.read(name)
        h.expect_eq(len(r), 1, f"{name}.len()")
        if h.kind == "set":
            h.expect(r.contains(key), f"{name} contains {key}")
        else:
            h.expect_eq(r.get(key), value, f"{name}.get({key})")
        if h.kind == "depq":
            h.expect_eq(r.priority(1), 42, f"{name}.get_priority(1)")
            h.expect_eq(r.get_min(), (42, 1, 100), f"{name}.get_min()")


def _single(kind: str) -> tuple[Any, Any, Any]:
    from impl.collections.depq import DepqInsert
    from impl.collections.map import MapInsert
    from impl.collections.set import SetInsert
    from impl.collections.vec import VecPushBack

    if kind == "map":
        return MapInsert(42, 420), 42, 420
    if kind == "vec":
        return VecPushBack(42), 0, 42
    if kind == "set":
        return SetInsert(42), 42, True
    return DepqInsert(42, 1, 100), 1, 100


def reader_before_writer(h: Harness, p: P) -> None:
    """r1 exists before w0; in-sync replication from an empty log."""
    del p
    h.reader("r1")
    h.writer("w0")
    h.online("w0", 15_000)
    h.online("r1", 15_000)
    ver = h.write("w0", h.flavor.extend(range(100)))
    h.reaches("r1", ver, 5_000)
    _check_full(h, "r1", 100)


def extreme_batch_sizes(h: Harness, p: P) -> None:
    """fetch_batch_size far above the snapshot, or 1 (one item per chunk)."""
    size = int(p["data_size"])
    _two_nodes(h)
    ver = h.write("w0", h.flavor.extend(range(size)))
    h.reaches("r1", ver, 5_000 + 10 * size)
    _check_full(h, "r1", size)
    _late_reader(h)
    h.reaches("r2", ver, 5_000 + 10 * size)
    _check_full(h, "r2", size)


def many_readers(h: Harness, p: P) -> None:
    """w0 alone extends 1000; n readers join at once (n sessions, n TakeSnapshots)."""
    n = int(p["num_readers"])
    h.writer("w0")
    h.online("w0", 15_000)
    ver = h.write("w0", h.flavor.extend(range(1000)))
    h.reaches("w0", ver, 5_000)
    names = [f"r{i + 1}" for i in range(n)]
    for name in names:
        h.reader(name)
    for name in names:
        h.online(name, 15_000)
        h.reaches(name, ver, 10_000)
    for name in names:
        _check_full(h, name, 1000)


def incremental_after_convergence(h: Harness, p: P) -> None:
    """All present before data; extend 500 then 500 single inserts: no snapshot needed."""
    del p
    h.writer("w0")
    h.reader("r1")
    h.reader("r2")
    for name in ("w0", "r1", "r2"):
        h.online(name, 15_000)
    f = h.flavor
    ver1 = h.write("w0", f.plain_extend(range(500)))
    h.reaches("r1", ver1, 5_000)
    h.reaches("r2", ver1, 5_000)
    h.expect_eq(len(h.read("r1")), 500, "r1.len()")
    h.expect_eq(len(h.read("r2")), 500, "r2.len()")
    ver2 = h.write_each("w0", [f.plain_item(i) for i in range(500, 1000)])
    h.reaches("r1", ver2, 10_000)
    h.reaches("r2", ver2, 10_000)
    for name in ("w0", "r1", "r2"):
        _check_full(h, name, 1000, plain=True)


def concurrent_reads_during_sync(h: Harness, p: P) -> None:
    """r2's observable state is never half-installed: if it has items, it has item 0."""
    del p
    size = 10_000
    _two_nodes(h)
    ver = h.write("w0", h.flavor.extend(range(size)))
    h.reaches("r1", ver, 10_000)
    kind = h.kind

    def atomic(world: Any) -> str | None:
        slot = world.nodes.get("r2")
        if slot is None:
            return None
        from spec.model.actions import machine_for

        r = Reads(kind, tuple(machine_for(kind).items(slot.node.sm)))
        if len(r) == 0:
            return None
        if kind == "vec":
            ok = r.get(len(r) - 1) is not None and r.get(0) is not None
        elif kind == "set":
            ok = r.contains(0)
        else:
            ok = r.get(0) is not None and r.contains(0)
            if kind == "depq":
                ok = ok and r.get_min() is not None
        return None if ok else f"r2 has {len(r)} items but item 0 is not readable"

    h.watch(atomic)
    h.reader("r2")
    h.online("r2", 15_000)
    h.reaches("r2", ver, 10_000 + 10 * size)
    h.expect_eq(len(h.read("r2")), size, "r2.len()")


def extend_during_snapshot_sync(h: Harness, p: P) -> None:
    """r2 syncs while w0 does one large extend (a single buffered entry)."""
    init, ext = int(p["initial_size"]), int(p["extend_size"])
    total = init + ext
    _two_nodes(h)
    ver = _populate(h, init, False)
    h.reaches("w0", ver, 2_000 + 10 * init)
    h.reaches("r1", ver, 2_000 + 10 * init)
    h.reader("r2")
    ver = h.write("w0", h.flavor.extend(range(init, total)))
    for name in ("w0", "r1", "r2"):
        h.reaches(name, ver, 5_000 + 10 * total)
    for name in ("w0", "r1", "r2"):
        _check_full(h, name, total)


def _repopulated(kind: str) -> tuple[Any, Callable[[Reads, int], tuple[Any, Any]]]:
    """The repopulation extend of ``clear_and_repopulate`` and how to read item i back."""
    from impl.collections.depq import DepqExtend
    from impl.collections.map import MapExtend
    from impl.collections.set import SetExtend
    from impl.collections.vec import VecExtend

    if kind == "map":
        return MapExtend(tuple((i, 100 * i) for i in range(200))), lambda r, i: (r.get(i), 100 * i)
    if kind == "vec":
        return VecExtend(tuple(100 * i for i in range(200))), lambda r, i: (r.get(i), 100 * i)
    if kind == "set":
        return SetExtend(tuple(i + 1000 for i in range(200))), lambda r, i: (
            r.contains(i + 1000),
            True,
        )
    return DepqExtend(tuple((2 * i, i, 100 * i) for i in range(200))), lambda r, i: (
        (r.get(i), r.priority(i)),
        (100 * i, 2 * i),
    )


def clear_and_repopulate(h: Harness, p: P) -> None:
    """extend 500 → clear → extend 200 different items; the late joiner sees only those."""
    del p
    _two_nodes(h)
    f = h.flavor
    ver1 = h.write("w0", f.plain_extend(range(500)))
    h.reaches("r1", ver1, 5_000)
    h.expect_eq(len(h.read("r1")), 500, "r1.len()")
    ver2 = h.write("w0", f.clear())
    h.reaches("r1", ver2, 5_000)
    h.expect_eq(len(h.read("r1")), 0, "r1.len() after clear")
    command, check = _repopulated(h.kind)
    ver3 = h.write("w0", command)
    h.reaches("r1", ver3, 5_000)
    _late_reader(h)
    h.reaches("r2", ver3, 5_000)
    for name in ("w0", "r1", "r2"):
        r = h.read(name)
        h.expect_eq(len(r), 200, f"{name}.len()")
        for i in range(200):
            have, want = check(r, i)
            h.expect_eq(have, want, f"{name} item {i}")


def large_values(h: Harness, p: P) -> None:
    """100 values of 10 KB each, fetch_batch_size 10."""
    del p
    from impl.collections.depq import DepqInsert
    from impl.collections.map import MapInsert
    from impl.collections.set import SetInsert
    from impl.collections.vec import VecPushBack

    def payload(i: int) -> str:
        return str(i).rjust(10_000, "0")

    makers: dict[str, Callable[[int], Any]] = {
        "map": lambda i: MapInsert(i, payload(i)),
        "vec": lambda i: VecPushBack(payload(i)),
        "set": lambda i: SetInsert(payload(i)),
        "depq": lambda i: DepqInsert(i, i, payload(i)),
    }
    _two_nodes(h)
    ver = h.write_each("w0", [makers[h.kind](i) for i in range(100)])
    h.reaches("r1", ver, 30_000)
    _late_reader(h)
    h.reaches("r2", ver, 30_000)
    for name in ("r1", "r2"):
        r = h.read(name)
        h.expect_eq(len(r), 100, f"{name}.len()")
        for i in range(100):
            if h.kind == "set":
                h.expect(r.contains(payload(i)), f"{name} missing element {i}")
            else:
                h.expect(r.get(i) == payload(i), f"{name} value {i} differs")


def recreate_reader(h: Harness, p: P) -> None:
    """r1 syncs and is dropped; more data; r1 is recreated with the same peer id."""
    del p
    f = h.flavor
    h.writer("w0")
    h.online("w0", 15_000)
    ver1 = h.write("w0", f.plain_extend(range(100)))
    h.reaches("w0", ver1, 5_000)
    h.reader("r1")
    h.online("r1", 15_000)
    h.reaches("r1", ver1, 5_000)
    h.expect_eq(len(h.read("r1")), 100, "r1.len()")
    h.drop("r1")
    ver2 = h.write("w0", f.plain_extend(range(100, 200)))
    h.reaches("w0", ver2, 5_000)
    h.reader("r1")
    h.online("r1", 15_000)
    h.reaches("r1", ver2, 10_000)
    _check_full(h, "r1", 200, plain=True)


# -- collection-specific tests ----------------------------------------------------------------


def map_mixed_mutations(h: Harness, p: P) -> None:
    """insert 1,2,3 → overwrite 1 → remove 2 → extend {10,20,30} → remove 3."""
    del p
    from impl.collections.map import MapExtend, MapInsert, MapRemoveMany

    _two_nodes(h)
    h.write_each("w0", [MapInsert(1, 10), MapInsert(2, 20)])
    steps: list[tuple[Any, Callable[[Reads], None]]] = [
        (MapInsert(3, 30), lambda r: h.expect_eq(len(r), 3, "r1.len()")),
        (MapInsert(1, 100), lambda r: h.expect_eq(r.get(1), 100, "r1.get(1)")),
        (MapRemoveMany((2,)), lambda r: h.expect_eq(r.get(2), None, "r1.get(2)")),
        (
            MapExtend(((10, 100), (20, 200), (30, 300))),
            lambda r: h.expect_eq(len(r), 5, "r1.len()"),
        ),
        (MapRemoveMany((3,)), lambda r: h.expect_eq(len(r), 4, "r1.len()")),
    ]
    _mutate_then_join_late(h, steps)
    r = h.read("r2")
    h.expect_eq(dict(r._by_key()), {1: 100, 10: 100, 20: 200, 30: 300}, "r2 contents")


def map_overwrite_keys(h: Harness, p: P) -> None:
    """100 inserts i→i, then overwrite with i→1000i; the late joiner sees only new values."""
    del p
    from impl.collections.map import MapInsert

    _two_nodes(h)
    ver = h.write_each("w0", [MapInsert(i, i) for i in range(100)])
    h.reaches("r1", ver, 5_000)
    ver = h.write_each("w0", [MapInsert(i, 1000 * i) for i in range(100)])
    h.reaches("r1", ver, 10_000)
    _late_reader(h)
    h.reaches("r2", ver, 5_000)
    for name in ("w0", "r1", "r2"):
        r = h.read(name)
        h.expect_eq(len(r), 100, f"{name}.len()")
        for i in range(100):
            h.expect_eq(r.get(i), 1000 * i, f"{name}.get({i})")


def map_extend_with_overlapping_keys(h: Harness, p: P) -> None:
    """extend 0..100 ↦ i, then keys 50..150 ↦ 10k: 150 keys (r1 only)."""
    del p
    from impl.collections.map import MapExtend

    _two_nodes(h)
    ver = h.write("w0", MapExtend(tuple((i, i) for i in range(100))))
    h.reaches("r1", ver, 5_000)
    ver = h.write("w0", MapExtend(tuple((k, 10 * k) for k in range(50, 150))))
    h.reaches("r1", ver, 5_000)
    r = h.read("r1")
    h.expect_eq(len(r), 150, "r1.len()")
    for i in range(150):
        h.expect_eq(r.get(i), i if i < 50 else 10 * i, f"r1.get({i})")


def map_remove_nonexistent_keys(h: Harness, p: P) -> None:
    """Removing absent keys changes nothing; removing key 5 leaves 9 (r1 only)."""
    del p
    from impl.collections.map import MapExtend, MapRemoveMany

    _two_nodes(h)
    ver = h.write("w0", MapExtend(tuple((i, 10 * i) for i in range(10))))
    h.reaches("r1", ver, 5_000)
    ver = h.write_each("w0", [MapRemoveMany((100,)), MapRemoveMany((999,))])
    h.reaches("r1", ver, 5_000)
    h.expect_eq(len(h.read("r1")), 10, "r1.len()")
    ver = h.write("w0", MapRemoveMany((5,)))
    h.reaches("r1", ver, 5_000)
    h.expect_eq(len(h.read("r1")), 9, "r1.len()")
    h.expect_eq(h.read("r1").get(5), None, "r1.get(5)")


def map_string_keys(h: Harness, p: P) -> None:
    """Map<String,String>: 50 inserts; the late joiner has all of them."""
    del p
    from impl.collections.map import MapInsert

    _two_nodes(h)
    ver = h.write_each("w0", [MapInsert(f"key-{i}", f"value-{i}") for i in range(50)])
    h.reaches("r1", ver, 5_000)
    _late_reader(h)
    h.reaches("r2", ver, 5_000)
    for name in ("r1", "r2"):
        r = h.read(name)
        h.expect_eq(len(r), 50, f"{name}.len()")
        for i in range(50):
            h.expect_eq(r.get(f"key-{i}"), f"value-{i}", f"{name}.get(key-{i})")


def vec_mixed_mutations(h: Harness, p: P) -> None:
    """push_back 10,20,30 → push_front 5 → insert(2,15) → swap(0,4) → pop_back → pop_front
    → remove(1) → extend [100,200,300] → truncate(3): [10, 20, 100]."""
    del p
    ops = vec_ops()
    _two_nodes(h)
    h.write_each("w0", [ops["push_back"](10), ops["push_back"](20)])
    steps: list[tuple[Any, Callable[[Reads], None]]] = [
        (ops["push_back"](30), lambda r: h.expect_eq(len(r), 3, "r1.len()")),
        (ops["push_front"](5), lambda r: h.expect_eq(r.get(0), 5, "r1.get(0)")),
        (ops["insert"](2, 15), lambda r: h.expect_eq(r.get(2), 15, "r1.get(2)")),
        (ops["swap"](0, 4), lambda r: h.expect_eq((r.get(0), r.get(4)), (30, 5), "r1 swap")),
        (ops["pop_back"](), lambda r: h.expect_eq(r.back(), 20, "r1.back()")),
        (ops["pop_front"](), lambda r: h.expect_eq(r.front(), 10, "r1.front()")),
        (ops["remove"](1), lambda r: h.expect_eq(r.items, (10, 20), "r1 items")),
        (ops["extend"]([100, 200, 300]), lambda r: h.expect_eq(len(r), 5, "r1.len()")),
        (ops["truncate"](3), lambda r: h.expect_eq(r.items, (10, 20, 100), "r1 items")),
    ]
    _mutate_then_join_late(h, steps)
    h.expect_eq(h.read("r2").items, (10, 20, 100), "r2 items")


def set_mixed_mutations(h: Harness, p: P) -> None:
    """insert 1,2,3 → insert 1 again → remove 2 → extend {10,20,30} → remove 3."""
    del p
    from impl.collections.set import SetExtend, SetInsert, SetRemoveMany

    _two_nodes(h)
    h.write_each("w0", [SetInsert(1), SetInsert(2)])
    steps: list[tuple[Any, Callable[[Reads], None]]] = [
        (SetInsert(3), lambda r: h.expect_eq(len(r), 3, "r1.len()")),
        (SetInsert(1), lambda r: h.expect_eq(len(r), 3, "r1.len() after duplicate")),
        (SetRemoveMany((2,)), lambda r: h.expect(not r.contains(2), "r1 still has 2")),
        (SetExtend((10, 20, 30)), lambda r: h.expect_eq(len(r), 5, "r1.len()")),
        (SetRemoveMany((3,)), lambda r: h.expect_eq(len(r), 4, "r1.len()")),
    ]
    _mutate_then_join_late(h, steps)
    h.expect_eq(set(h.read("r2").items), {1, 10, 20, 30}, "r2 contents")


def set_insert_duplicates(h: Harness, p: P) -> None:
    """Insert 0..100 twice: 100 elements everywhere, late joiner included."""
    del p
    from impl.collections.set import SetInsert

    _two_nodes(h)
    ver = h.write_each("w0", [SetInsert(i) for i in range(100)])
    h.reaches("r1", ver, 5_000)
    ver = h.write_each("w0", [SetInsert(i) for i in range(100)])
    h.reaches("r1", ver, 10_000)
    _late_reader(h)
    h.reaches("r2", ver, 5_000)
    for name in ("w0", "r1", "r2"):
        _check_full(h, name, 100, plain=True)


def set_remove_nonexistent_values(h: Harness, p: P) -> None:
    """Removing absent values changes nothing; removing 5 leaves 9 (r1 only)."""
    del p
    from impl.collections.set import SetExtend, SetRemoveMany

    _two_nodes(h)
    ver = h.write("w0", SetExtend(tuple(range(10))))
    h.reaches("r1", ver, 5_000)
    ver = h.write_each("w0", [SetRemoveMany((100,)), SetRemoveMany((999,))])
    h.reaches("r1", ver, 5_000)
    h.expect_eq(len(h.read("r1")), 10, "r1.len()")
    ver = h.write("w0", SetRemoveMany((5,)))
    h.reaches("r1", ver, 5_000)
    h.expect_eq(len(h.read("r1")), 9, "r1.len()")
    h.expect(not h.read("r1").contains(5), "r1 still has 5")


def set_string_elements(h: Harness, p: P) -> None:
    """Set<String>: 50 elements "item-i"; the late joiner has all of them."""
    del p
    from impl.collections.set import SetInsert

    _two_nodes(h)
    ver = h.write_each("w0", [SetInsert(f"item-{i}") for i in range(50)])
    h.reaches("r1", ver, 5_000)
    _late_reader(h)
    h.reaches("r2", ver, 5_000)
    for name in ("r1", "r2"):
        r = h.read(name)
        h.expect_eq(len(r), 50, f"{name}.len()")
        for i in range(50):
            h.expect(r.contains(f"item-{i}"), f"{name} missing item-{i}")


def depq_mixed_mutations(h: Harness, p: P) -> None:
    """insert 3 → update_priority(1,50) → update_value(2,999) → remove(3) → extend 3."""
    del p
    from impl.collections.depq import DepqExtend, DepqInsert, DepqRemoveKeys

    _two_nodes(h)
    h.write_each("w0", [DepqInsert(10, 1, 100), DepqInsert(20, 2, 200)])
    steps: list[tuple[Any, Callable[[Reads], None]]] = [
        (
            DepqInsert(30, 3, 300),
            lambda r: h.expect_eq(
                (r.get_min(), r.get_max()), ((10, 1, 100), (30, 3, 300)), "min/max"
            ),
        ),
        (
            depq_update_priority(1, 50),
            lambda r: h.expect_eq(
                (r.get_max(), r.get_min()), ((50, 1, 100), (20, 2, 200)), "max/min"
            ),
        ),
        (depq_update_value(2, 999), lambda r: h.expect_eq(r.get(2), 999, "r1.get(2)")),
        (DepqRemoveKeys((3,)), lambda r: h.expect_eq(len(r), 2, "r1.len()")),
        (
            DepqExtend(((5, 10, 500), (15, 20, 600), (25, 30, 700))),
            lambda r: h.expect_eq(len(r), 5, "r1.len()"),
        ),
    ]
    _mutate_then_join_late(h, steps)
    r = h.read("r2")
    want = {1: (50, 100), 2: (20, 999), 10: (5, 500), 20: (15, 600), 30: (25, 700)}
    h.expect_eq({k: (r.priority(k), r.get(k)) for k in want}, want, "r2 contents")
    h.expect_eq(len(r), 5, "r2.len()")


def depq_overwrite_keys(h: Harness, p: P) -> None:
    """insert(i,i,i) then insert(1000i, i, 1000i): 100 keys with the new priorities/values."""
    del p
    from impl.collections.depq import DepqInsert

    _two_nodes(h)
    ver = h.write_each("w0", [DepqInsert(i, i, i) for i in range(100)])
    h.reaches("r1", ver, 5_000)
    ver = h.write_each("w0", [DepqInsert(1000 * i, i, 1000 * i) for i in range(100)])
    h.reaches("r1", ver, 10_000)
    _late_reader(h)
    h.reaches("r2", ver, 5_000)
    for name in ("w0", "r1", "r2"):
        r = h.read(name)
        h.expect_eq(len(r), 100, f"{name}.len()")
        for i in range(100):
            h.expect_eq((r.priority(i), r.get(i)), (1000 * i, 1000 * i), f"{name} key {i}")


def depq_remove_range_sync(h: Harness, p: P) -> None:
    """extend priorities 0..100, remove_range(20..50): 70 left; the late joiner lacks 20..49."""
    del p
    _two_nodes(h)
    ver = h.write("w0", FLAVORS["depq"].plain_extend(range(100)))
    h.reaches("r1", ver, 5_000)
    ver = h.write("w0", depq_remove_range(20, 50))
    h.reaches("r1", ver, 5_000)
    _late_reader(h)
    h.reaches("r2", ver, 5_000)
    for name in ("r1", "r2"):
        r = h.read(name)
        h.expect_eq(len(r), 70, f"{name}.len()")
        for i in range(100):
            h.expect_eq(r.contains(i), not 20 <= i < 50, f"{name}.contains_key({i})")


def depq_min_max_after_sync(h: Harness, p: P) -> None:
    """Scattered priorities {500,100,999,1,750}: min (1,4,40), max (999,3,30) everywhere."""
    del p
    from impl.collections.depq import DepqExtend

    _two_nodes(h)
    entries = ((500, 1, 10), (100, 2, 20), (999, 3, 30), (1, 4, 40), (750, 5, 50))
    ver = h.write("w0", DepqExtend(entries))
    h.reaches("r1", ver, 5_000)
    _late_reader(h)
    h.reaches("r2", ver, 5_000)
    for name in ("r1", "r2"):
        r = h.read(name)
        h.expect_eq(len(r), 5, f"{name}.len()")
        h.expect_eq(r.get_min(), (1, 4, 40), f"{name}.get_min()")
        h.expect_eq(r.get_max(), (999, 3, 30), f"{name}.get_max()")


# -- the registry -----------------------------------------------------------------------------

_FILE = "tests/collections/sync/{}.rs"

_FROZEN_CASES = tuple(
    {"data_size": s, "fetch_batch_size": b, "oneshot_data": o}
    for s, b, o in (
        (1, 100, False),
        (100, 30, False),
        (1000, 100, False),
        (10_000, 100, False),
        (10_000, 1000, False),
        (100_000, 100, False),
        (100_000, 100, True),
    )
)
_WRITES_CASES = tuple(
    {"initial_size": i, "extra_size": e, "fetch_batch_size": b, "oneshot_data": o}
    for i, e, b, o in (
        (100, 50, 100, True),
        (1000, 500, 100, True),
        (100_000, 5000, 100, False),
        (100_000, 5000, 100, True),
        (100_000, 5000, 1000, False),
        (100_000, 5000, 1000, True),
    )
)
_EXTREME_CASES = tuple(
    {"data_size": s, "fetch_batch_size": b}
    for s, b in ((10, 10_000), (100, 100_000), (100, 1), (1000, 1))
)
_EXTEND_CASES = tuple(
    {"initial_size": i, "extend_size": e, "fetch_batch_size": b}
    for i, e, b in ((1000, 500, 100), (10_000, 5000, 100), (10_000, 5000, 1000))
)


def _mirrored(kind: str) -> list[Scenario]:
    src = _FILE.format(kind)
    single = "single_entry" if kind in ("map", "depq") else "single_element"
    large = "large_values" if kind in ("map", "depq") else "large_elements"
    return [
        Scenario(
            kind,
            "frozen",
            f"{src}::frozen",
            frozen,
            _FROZEN_CASES,
            "r2 gets every item after a late join; w0, r1, r2 are identical",
            "fetch_batch_size",
            ("data_size",),
        ),
        Scenario(
            kind,
            "writes_during_sync",
            f"{src}::writes_during_sync",
            writes_during_sync,
            _WRITES_CASES,
            "all three reach the final version with init + extra items",
            "fetch_batch_size",
            ("initial_size", "extra_size"),
        ),
        Scenario(kind, "empty", f"{src}::empty", empty, expectation="r1 is empty"),
        Scenario(
            kind,
            single,
            f"{src}::{single}",
            single_entry,
            expectation="r1 and the late r2 hold exactly the one entry",
            base_size=1,
        ),
        Scenario(
            kind,
            "reader_before_writer",
            f"{src}::reader_before_writer",
            reader_before_writer,
            expectation="r1 has the 100 items",
            base_size=100,
        ),
        Scenario(
            kind,
            "extreme_batch_sizes",
            f"{src}::extreme_batch_sizes",
            extreme_batch_sizes,
            _EXTREME_CASES,
            "r1 and the late r2 have every item",
            "fetch_batch_size",
            ("data_size",),
        ),
        Scenario(
            kind,
            "many_readers",
            f"{src}::many_readers",
            many_readers,
            ({"num_readers": 5},),
            "every reader converges to the 1000 items",
            base_size=1000,
        ),
        Scenario(
            kind,
            "incremental_after_convergence",
            f"{src}::incremental_after_convergence",
            incremental_after_convergence,
            expectation="both readers reach 1000 items without a snapshot",
            base_size=1000,
        ),
        Scenario(
            kind,
            "concurrent_reads_during_sync",
            f"{src}::concurrent_reads_during_sync",
            concurrent_reads_during_sync,
            expectation="r2's state is empty or the whole snapshot, never in between",
            base_size=10_000,
        ),
        Scenario(
            kind,
            "extend_during_snapshot_sync",
            f"{src}::extend_during_snapshot_sync",
            extend_during_snapshot_sync,
            _EXTEND_CASES,
            "all nodes hold init + ext items",
            "fetch_batch_size",
            ("initial_size", "extend_size"),
        ),
        Scenario(
            kind,
            "clear_and_repopulate",
            f"{src}::clear_and_repopulate",
            clear_and_repopulate,
            expectation="the late r2 holds exactly the 200 new items",
            base_size=500,
        ),
        Scenario(
            kind,
            large,
            f"{src}::{large}",
            large_values,
            expectation="r1 and the late r2 hold the 100 values of 10 KB",
            base_size=100,
        ),
        Scenario(
            kind,
            "recreate_reader",
            f"{src}::recreate_reader",
            recreate_reader,
            expectation="the recreated r1 holds 200 items",
            base_size=200,
        ),
    ]


def _specific() -> list[Scenario]:
    m, v, s, d = (_FILE.format(k) for k in ("map", "vec", "set", "depq"))
    return [
        Scenario(
            "map",
            "mixed_mutations",
            f"{m}::mixed_mutations",
            map_mixed_mutations,
            expectation="r2 has {1:100, 10:100, 20:200, 30:300}",
            base_size=5,
        ),
        Scenario(
            "map",
            "overwrite_keys",
            f"{m}::overwrite_keys",
            map_overwrite_keys,
            expectation="len stays 100; r2 sees only the new values",
            base_size=100,
        ),
        Scenario(
            "map",
            "extend_with_overlapping_keys",
            f"{m}::extend_with_overlapping_keys",
            map_extend_with_overlapping_keys,
            expectation="len 150; keys < 50 keep their value",
            base_size=150,
        ),
        Scenario(
            "map",
            "remove_nonexistent_keys",
            f"{m}::remove_nonexistent_keys",
            map_remove_nonexistent_keys,
            expectation="len 9 after removing key 5",
            base_size=10,
        ),
        Scenario(
            "map",
            "string_keys",
            f"{m}::string_keys",
            map_string_keys,
            expectation="the late r2 has all 50 string pairs",
            base_size=50,
        ),
        Scenario(
            "vec",
            "mixed_mutations",
            f"{v}::mixed_mutations",
            vec_mixed_mutations,
            expectation="r1 and the late r2 hold [10, 20, 100]",
            base_size=5,
        ),
        Scenario(
            "set",
            "mixed_mutations",
            f"{s}::mixed_mutations",
            set_mixed_mutations,
            expectation="r2 holds {1, 10, 20, 30}",
            base_size=5,
        ),
        Scenario(
            "set",
            "insert_duplicates",
            f"{s}::insert_duplicates",
            set_insert_duplicates,
            expectation="len 100 on w0, r1 and the late r2",
            base_size=100,
        ),
        Scenario(
            "set",
            "remove_nonexistent_values",
            f"{s}::remove_nonexistent_values",
            set_remove_nonexistent_values,
            expectation="len 9 after removing 5",
            base_size=10,
        ),
        Scenario(
            "set",
            "string_elements",
            f"{s}::string_elements",
            set_string_elements,
            expectation="the late r2 has all 50 strings",
            base_size=50,
        ),
        Scenario(
            "depq",
            "mixed_mutations",
            f"{d}::mixed_mutations",
            depq_mixed_mutations,
            expectation="r2 sees the same values and priorities",
            base_size=5,
        ),
        Scenario(
            "depq",
            "overwrite_keys",
            f"{d}::overwrite_keys",
            depq_overwrite_keys,
            expectation="len 100 with the new priorities and values",
            base_size=100,
        ),
        Scenario(
            "depq",
            "remove_range_sync",
            f"{d}::remove_range_sync",
            depq_remove_range_sync,
            expectation="70 entries; r2 lacks keys 20..49",
            base_size=100,
        ),
        Scenario(
            "depq",
            "min_max_after_sync",
            f"{d}::min_max_after_sync",
            depq_min_max_after_sync,
            expectation="min (1,4,40) and max (999,3,30) on r1 and r2",
            base_size=5,
        ),
    ]


SYNC_SCENARIOS: tuple[Scenario, ...] = tuple(
    [sc for kind in ("map", "vec", "set", "depq") for sc in _mirrored(kind)] + _specific()
)
"""Every test of tests/collections/sync/{map,vec,set,depq}.rs."""
