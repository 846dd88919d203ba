"""Client commands for the hunt: Hypothesis strategies and the setup's seed items, per kind.

Keys and values come from small domains so that commands collide (overwrites,
removals of present keys, compare-exchanges that match and that do not), which
is what the hazard-relevant paths need: DEPQ's mismatching
``CompareExchangeValue`` (H4), Map/Cell ``CompareExchange`` with a ``Some``
expectation (H5), Vec ``Insert`` past the end (H23).
"""

from __future__ import annotations

from hypothesis import strategies as st

from impl.collections.cell import CellClear, CellCompareExchange, CellWrite
from impl.collections.depq import (
    Bound,
    DepqClear,
    DepqCompareExchangeValue,
    DepqExtend,
    DepqInsert,
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
from impl.errors import InvalidInput
from impl.messages import Command

__all__ = ["KINDS", "command_strategy", "seed_commands"]

KINDS: tuple[str, ...] = ("map", "vec", "set", "depq", "cell", "once")
"""Every collection kind the hunt drives."""

_keys = st.integers(0, 5)
_values = st.integers(0, 9)
_index = st.integers(0, 8)


def _map() -> st.SearchStrategy[Command]:
    return st.one_of(
        st.builds(MapInsert, _keys, _values),
        st.builds(MapCompareExchange, _keys, st.none() | _values, st.none() | _values),
        st.builds(MapRemoveMany, st.tuples(_keys)),
        st.builds(MapExtend, st.lists(st.tuples(_keys, _values), max_size=3).map(tuple)),
        st.just(MapClear()),
    )


def _vec() -> st.SearchStrategy[Command]:
    return st.one_of(
        st.builds(VecPushBack, _values),
        st.builds(VecPushFront, _values),
        st.builds(VecInsert, _index, _values),
        st.builds(VecSwap, _index, _index),
        st.builds(VecRemove, _index),
        st.just(VecPopBack()),
        st.just(VecPopFront()),
        st.builds(VecTruncate, _index),
        st.builds(VecExtend, st.lists(_values, max_size=3).map(tuple)),
        st.just(VecClear()),
    )


def _set() -> st.SearchStrategy[Command]:
    return st.one_of(
        st.builds(SetInsert, _values),
        st.builds(SetRemoveMany, st.tuples(_values)),
        st.builds(SetExtend, st.lists(_values, max_size=3).map(tuple)),
        st.just(SetClear()),
    )


def _bound() -> st.SearchStrategy[Bound]:
    return st.one_of(
        st.builds(Bound.included, _values),
        st.builds(Bound.excluded, _values),
        st.just(Bound.unbounded()),
    )


def _depq() -> st.SearchStrategy[Command]:
    return st.one_of(
        st.builds(DepqInsert, _values, _keys, _values),
        st.builds(DepqCompareExchangeValue, _keys, _values, st.none() | _values),
        st.builds(DepqUpdatePriority, _keys, _values),
        st.builds(DepqUpdateValue, _keys, _values),
        st.builds(DepqRemoveKeys, st.tuples(_keys)),
        st.builds(DepqRemoveRange, _bound(), _bound()),
        st.builds(DepqExtend, st.lists(st.tuples(_values, _keys, _values), max_size=3).map(tuple)),
        st.just(DepqClear()),
    )


def _cell() -> st.SearchStrategy[Command]:
    return st.one_of(
        st.builds(CellWrite, _values),
        st.builds(CellCompareExchange, st.none() | _values, st.none() | _values),
        st.just(CellClear()),
    )


def _once() -> st.SearchStrategy[Command]:
    return st.builds(OnceWrite, _values)


_STRATEGIES = {
    "map": _map(),
    "vec": _vec(),
    "set": _set(),
    "depq": _depq(),
    "cell": _cell(),
    "once": _once(),
}


def command_strategy(kind: str) -> st.SearchStrategy[Command]:
    """Return the strategy of one client command of collection ``kind``."""
    try:
        return _STRATEGIES[kind]
    except KeyError:
        raise InvalidInput(f"unknown collection kind {kind!r}; known: {', '.join(KINDS)}") from None


def seed_commands(kind: str, count: int) -> tuple[Command, ...]:
    """Return ``count`` commands that give a fresh collection ``count`` items (one per entry).

    Map/Set/DEPQ/Vec gain one item per command; Cell and Once hold at most one.

    >>> [c.key for c in seed_commands("map", 3)]
    [0, 1, 2]
    >>> seed_commands("once", 2)
    (OnceWrite(value=0), OnceWrite(value=1))
    """
    out: list[Command] = []
    for i in range(count):
        if kind == "map":
            out.append(MapInsert(i, 10 * i))
        elif kind == "vec":
            out.append(VecPushBack(10 * i))
        elif kind == "set":
            out.append(SetInsert(i))
        elif kind == "depq":
            out.append(DepqInsert(i, i, 10 * i))
        elif kind == "cell":
            out.append(CellWrite(i))
        elif kind == "once":
            out.append(OnceWrite(i))
        else:
            raise InvalidInput(f"unknown collection kind {kind!r}; known: {', '.join(KINDS)}")
    return tuple(out)
