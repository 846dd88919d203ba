"""Tests of the persistent structures (impl/collections/pseq.py) against dict/list models.

The stateful machines check every operation against a plain model, the tree-shape
invariants after every step, and persistence: earlier versions never change. Small
leaf/node sizes force splits, merges and multi-node trees. ``BAD_*`` mutants show that
the machines catch a broken structure.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from typing import Any

import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from impl.collections.pseq import TOP, PSeq, PSortedMap
from impl.errors import InvalidInput

SHAPES = st.sampled_from([(2, 2), (3, 2), (4, 4), (8, 4), (16, 8), (64, 64)])
KEYS = st.integers(0, 120)
VALUES = st.integers(0, 9)
HISTORY = 4  # earlier versions kept and re-checked for persistence


class SortedMapMachine(RuleBasedStateMachine):
    """PSortedMap against a dict; the model's sorted items are the expected order."""

    impl_class: type[PSortedMap[Any, Any]] = PSortedMap

    def __init__(self) -> None:
        super().__init__()
        self.map: PSortedMap[int, int] = PSortedMap.empty()
        self.model: dict[int, int] = {}
        self.history: list[tuple[PSortedMap[int, int], list[tuple[int, int]]]] = []

    @initialize(shape=SHAPES)
    def start(self, shape: tuple[int, int]) -> None:
        self.map = self.impl_class([], [], 0, *shape)

    def _commit(self, new: PSortedMap[int, int]) -> None:
        self.history = [*self.history[-(HISTORY - 1) :], (self.map, sorted(self.model.items()))]
        self.map = new

    @rule(key=KEYS, value=VALUES)
    def set(self, key: int, value: int) -> None:
        self._commit(self.map.set(key, value))
        self.model[key] = value

    @rule(key=KEYS)
    def remove(self, key: int) -> None:
        self._commit(self.map.remove(key))
        self.model.pop(key, None)

    @precondition(lambda self: self.model)
    @rule(data=st.data())
    def remove_existing(self, data: st.DataObject) -> None:
        key = data.draw(st.sampled_from(sorted(self.model)))
        self._commit(self.map.remove(key))
        del self.model[key]

    @rule(pairs=st.lists(st.tuples(KEYS, VALUES), max_size=30))
    def update(self, pairs: list[tuple[int, int]]) -> None:
        self._commit(self.map.update(pairs))
        self.model.update(pairs)

    @rule(keys=st.lists(st.integers(0, 60), unique=True, max_size=40), value=VALUES)
    def extend_sorted(self, keys: list[int], value: int) -> None:
        top = max(self.model, default=-1)
        # Half the time keys above the maximum (fast path), else arbitrary (fallback).
        pairs = [(top + 1 + k, value) for k in sorted(keys)] if keys and keys[0] % 2 else []
        pairs = pairs or [(k, value) for k in keys]
        self._commit(self.map.extend_sorted(pairs))
        self.model.update(pairs)

    @rule(start=st.integers(-3, 130), stop=st.integers(-3, 130))
    def slice(self, start: int, stop: int) -> None:
        expected = sorted(self.model.items())[max(start, 0) : max(stop, 0)]
        assert list(self.map.slice(start, stop)) == expected
        assert list(self.map.slice_keys(start, stop)) == [k for k, _ in expected]
        assert list(self.map.slice_values(start, stop)) == [v for _, v in expected]

    @rule(probe=st.integers(-1, 122))
    def ranks(self, probe: int) -> None:
        keys = sorted(self.model)
        assert self.map.bisect_left(probe) == bisect_left(keys, probe)
        assert self.map.bisect_right(probe) == bisect_right(keys, probe)
        if keys:
            rank = bisect_left(keys, probe) % len(keys)
            assert self.map.at(rank) == (keys[rank], self.model[keys[rank]])

    @rule(key=st.integers(-1, 122))
    def lookup(self, key: int) -> None:
        assert self.map.get(key) == self.model.get(key)
        assert (key in self.map) == (key in self.model)

    @invariant()
    def agrees_with_model(self) -> None:
        self.map.check_invariants()
        expected = sorted(self.model.items())
        assert len(self.map) == len(expected)
        assert list(self.map.items()) == expected
        assert self.map.min_item() == (expected[0] if expected else None)
        assert self.map.max_item() == (expected[-1] if expected else None)

    @invariant()
    def old_versions_unchanged(self) -> None:
        for version, items in self.history:
            assert list(version.items()) == items


TestSortedMap = SortedMapMachine.TestCase


class SeqMachine(RuleBasedStateMachine):
    """PSeq against a list."""

    impl_class: type[PSeq[Any]] = PSeq

    def __init__(self) -> None:
        super().__init__()
        self.seq: PSeq[int] = PSeq.empty()
        self.model: list[int] = []
        self.history: list[tuple[PSeq[int], list[int]]] = []

    @initialize(shape=SHAPES)
    def start(self, shape: tuple[int, int]) -> None:
        self.seq = self.impl_class([], 0, *shape)

    def _commit(self, new: PSeq[int]) -> None:
        self.history = [*self.history[-(HISTORY - 1) :], (self.seq, list(self.model))]
        self.seq = new

    def _index(self, data: st.DataObject, *, end: bool = False) -> int:
        return data.draw(st.integers(0, len(self.model) - (0 if end else 1)))

    @rule(value=VALUES)
    def push_back(self, value: int) -> None:
        self._commit(self.seq.push_back(value))
        self.model.append(value)

    @rule(value=VALUES)
    def push_front(self, value: int) -> None:
        self._commit(self.seq.push_front(value))
        self.model.insert(0, value)

    @rule()
    def pop_back(self) -> None:
        self._commit(self.seq.pop_back())
        if self.model:
            self.model.pop()

    @rule()
    def pop_front(self) -> None:
        self._commit(self.seq.pop_front())
        if self.model:
            self.model.pop(0)

    @rule(data=st.data(), value=VALUES)
    def insert(self, data: st.DataObject, value: int) -> None:
        index = self._index(data, end=True)
        self._commit(self.seq.insert(index, value))
        self.model.insert(index, value)

    @precondition(lambda self: self.model)
    @rule(data=st.data())
    def delete(self, data: st.DataObject) -> None:
        index = self._index(data)
        self._commit(self.seq.delete(index))
        del self.model[index]

    @precondition(lambda self: self.model)
    @rule(data=st.data(), value=VALUES)
    def set(self, data: st.DataObject, value: int) -> None:
        index = self._index(data)
        self._commit(self.seq.set(index, value))
        self.model[index] = value

    @precondition(lambda self: self.model)
    @rule(data=st.data())
    def swap(self, data: st.DataObject) -> None:
        a, b = self._index(data), self._index(data)
        self._commit(self.seq.swap(a, b))
        self.model[a], self.model[b] = self.model[b], self.model[a]

    @rule(values=st.lists(VALUES, max_size=40))
    def extend(self, values: list[int]) -> None:
        self._commit(self.seq.extend(values))
        self.model.extend(values)

    @rule(length=st.integers(0, 80))
    def truncate(self, length: int) -> None:
        self._commit(self.seq.truncate(length))
        del self.model[length:]

    @rule(start=st.integers(-3, 90), stop=st.integers(-3, 90))
    def slice(self, start: int, stop: int) -> None:
        assert list(self.seq.slice(start, stop)) == self.model[max(start, 0) : max(stop, 0)]

    @precondition(lambda self: self.model)
    @rule(data=st.data())
    def get(self, data: st.DataObject) -> None:
        index = self._index(data)
        assert self.seq.get(index) == self.seq[index] == self.model[index]

    @invariant()
    def agrees_with_model(self) -> None:
        self.seq.check_invariants()
        assert len(self.seq) == len(self.model)
        assert self.seq.to_tuple() == tuple(self.model)

    @invariant()
    def old_versions_unchanged(self) -> None:
        for version, items in self.history:
            assert list(version) == items


TestSeq = SeqMachine.TestCase


# -- mutants: the machines must catch them -------------------------------------------


class _StaleFirstKeys(PSortedMap[Any, Any]):
    """Mutant: a removal keeps the root's old first-key index."""

    def _new(self, nodes: Any, firsts: Any, length: int) -> PSortedMap[Any, Any]:
        return _StaleFirstKeys(nodes, firsts, length, self._leaf, self._node)

    def _replace_leaf(
        self, i: int, j: int, leaf_k: list[Any], leaf_v: list[Any], delta: int
    ) -> PSortedMap[Any, Any]:
        new = super()._replace_leaf(i, j, leaf_k, leaf_v, delta)
        if delta < 0 and len(new._firsts) == len(self._firsts):
            new._firsts = self._firsts
        return new


class _SliceOffByOne(PSortedMap[Any, Any]):
    """Mutant: slices start one rank late."""

    def _slice_parts(self, start: int, stop: int, part: int) -> list[Any]:
        return PSortedMap._slice_parts(self, start + 1, stop, part)

    def _new(self, nodes: Any, firsts: Any, length: int) -> PSortedMap[Any, Any]:
        return _SliceOffByOne(nodes, firsts, length, self._leaf, self._node)


class _MutatingSeq(PSeq[Any]):
    """Mutant: ``set`` writes into the shared leaf (breaks persistence)."""

    def set(self, index: int, value: Any) -> PSeq[Any]:
        i, j, p = self._locate(index)
        self._nodes[i][0][j][p] = value
        return _MutatingSeq(self._nodes, len(self), self._leaf, self._node)

    def _new(self, nodes: Any, length: int) -> PSeq[Any]:
        return _MutatingSeq(nodes, length, self._leaf, self._node)


class _BadSortedMapMachine(SortedMapMachine):
    impl_class = _StaleFirstKeys


class _BadSliceMachine(SortedMapMachine):
    impl_class = _SliceOffByOne


class _BadSeqMachine(SeqMachine):
    impl_class = _MutatingSeq


@pytest.mark.parametrize("machine", [_BadSortedMapMachine, _BadSliceMachine, _BadSeqMachine])
def test_machines_catch_mutants(machine: type[RuleBasedStateMachine]) -> None:
    # Any failure counts (an assertion, an invariant error, or an exception group).
    with pytest.raises(Exception):  # noqa: B017, PT011
        run_state_machine_as_test(
            machine,
            settings=settings(
                max_examples=200, derandomize=True, database=None, phases=[Phase.generate]
            ),
        )


# -- unit tests -----------------------------------------------------------------------


def test_from_sorted_and_bulk_equal_incremental() -> None:
    pairs = [(k, k * k) for k in range(0, 3000, 3)]
    bulk = PSortedMap.from_sorted(pairs, leaf_size=8, node_size=4)
    bulk.check_invariants()
    step: PSortedMap[int, int] = PSortedMap.empty(8, 4)
    for k, v in reversed(pairs):
        step = step.set(k, v)
    assert bulk == step
    assert hash(bulk) == hash(step)
    assert bulk.slice(10, 13) == ((30, 900), (33, 1089), (36, 1296))


def test_set_same_value_shares_keys() -> None:
    m = PSortedMap.from_sorted([(1, "a"), (2, "b")])
    n = m.set(2, "c")
    assert n._nodes[0][0] is m._nodes[0][0]  # the key leaves are shared, not copied
    assert m.get(2) == "b"
    assert n.get(2) == "c"


def test_top_sentinel_bounds_tuple_keys() -> None:
    m = PSortedMap.from_sorted([((p, k), None) for p in range(5) for k in (b"a", b"b")])
    assert m.bisect_left((2,)) == 4  # priorities 0, 1 below
    assert m.bisect_left((2, TOP)) == 6  # priorities 0, 1, 2 at or below
    assert m.bisect_right((4, TOP)) == len(m)
    assert TOP > b"zzz"
    assert not TOP < 10**9
    assert TOP == TOP
    assert TOP != b""


def test_iteration_orders() -> None:
    m = PSortedMap.empty(2, 2).update([(3, "c"), (1, "a"), (2, "b")])
    assert list(m) == [1, 2, 3]
    assert list(m.values()) == ["a", "b", "c"]
    assert repr(m) == "PSortedMap({1: 'a', 2: 'b', 3: 'c'})"
    assert m.remove_many([1, 3, 7]).slice(0, 9) == ((2, "b"),)
    s = PSeq.from_iterable("abc", 2, 2)
    assert repr(s) == "PSeq(['a', 'b', 'c'])"
    assert s == PSeq.from_iterable("abc")
    assert hash(s) == hash(PSeq.from_iterable("abc"))
    assert (s == 3) is False


@given(
    st.lists(st.binary(max_size=4), unique=True, max_size=300),
    st.integers(0, 310),
    st.integers(0, 310),
)
def test_bytes_keys_slice_matches_sorted(keys: list[bytes], a: int, b: int) -> None:
    m: PSortedMap[bytes, int] = PSortedMap.empty(4, 4)
    for i, key in enumerate(keys):
        m = m.set(key, i)
    order = sorted(keys)
    assert m.slice_keys(a, b) == tuple(order[a:b])
    m.check_invariants()


def test_scales_to_100k_and_snapshots_are_independent() -> None:
    """Not a timing test: 100k inserts build a valid tree, and a snapshot taken half way
    is untouched by the second half."""
    m: PSortedMap[int, int] = PSortedMap.empty()
    half = None
    for k in range(100_000):
        m = m.set((k * 7919) % 100_003, k)
        if k == 50_000:
            half = m
    assert half is not None
    m.check_invariants()
    half.check_invariants()
    assert len(m) == 100_000
    assert len(half) == 50_001
    assert m.slice_keys(0, 3) == (0, 1, 2)


def test_invalid_sizes() -> None:
    with pytest.raises(InvalidInput, match="leaf_size"):
        PSortedMap.empty(leaf_size=1)
    with pytest.raises(InvalidInput, match="node_size"):
        PSeq.empty(node_size=True)


def test_invalid_from_sorted_unsorted_keys() -> None:
    with pytest.raises(InvalidInput, match="strictly increasing"):
        PSortedMap.from_sorted([(2, 0), (1, 0)])
    with pytest.raises(InvalidInput, match="strictly increasing"):
        PSortedMap.from_sorted([(1, 0), (1, 0)])


def test_invalid_positions() -> None:
    s = PSeq.from_iterable([1, 2])
    with pytest.raises(IndexError):
        s.get(2)
    with pytest.raises(IndexError):
        s.insert(3, 0)
    with pytest.raises(IndexError):
        s.delete(-1)
    with pytest.raises(InvalidInput):
        s.truncate(-1)
    with pytest.raises(IndexError):
        PSortedMap.from_sorted([(1, 1)]).at(1)


def test_check_invariants_detects_corruption() -> None:
    m = PSortedMap.from_sorted([(k, k) for k in range(20)], leaf_size=4, node_size=2)
    m.check_invariants()
    m._nodes[0][0][0][0] = 99  # corrupt in place (tests only)
    with pytest.raises(InvalidInput, match=r"out of order|first key"):
        m.check_invariants()
    s = PSeq.from_iterable(range(10), 4, 2)
    s._nodes[0] = (s._nodes[0][0], 99)
    with pytest.raises(InvalidInput, match="count"):
        s.check_invariants()


@given(st.permutations(range(120)), st.sampled_from([(8, 8), (4, 8), (8, 4)]))
def test_removals_rebalance_full_trees(order: list[int], shape: tuple[int, int]) -> None:
    """Bulk-built trees have full leaves and nodes: removals in any order drive small
    leaves to merge with full neighbours (and re-split), and nodes to merge."""
    m = PSortedMap.from_sorted([(k, -k) for k in range(120)], *shape)
    s = PSeq.from_iterable(range(120), *shape)
    model = list(range(120))
    for key in order:
        position = model.index(key)
        model.remove(key)
        m = m.remove(key)
        s = s.delete(position)
        m.check_invariants()
        s.check_invariants()
        assert list(m) == model
        assert list(s) == model


@pytest.mark.parametrize("shape", [(8, 8), (4, 8)])
def test_prefix_removal_merges_a_small_node_into_a_full_one(shape: tuple[int, int]) -> None:
    """Emptying the first node leaf by leaf leaves it with one leaf next to a full node:
    the merge overflows and re-splits (both structures)."""
    m = PSortedMap.from_sorted([(k, k) for k in range(200)], *shape)
    s = PSeq.from_iterable(range(200), *shape)
    for key in range(150):
        m = m.remove(key)
        s = s.pop_front()
        m.check_invariants()
        s.check_invariants()
        assert m.min_item() == (key + 1, key + 1)
        assert s.get(0) == key + 1
    assert list(m.values()) == list(s) == list(range(150, 200))
