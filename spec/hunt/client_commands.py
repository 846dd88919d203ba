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
from spec.hunt.domains import Build, Domain, Ints, Just, ListOf, Maybe, OneOf, TupleOf

__all__ = ["KINDS", "command_domain", "command_strategy", "seed_commands"]

KINDS: tuple[str, ...] = ("map", "vec", "set", "depq", "cell", "once")
"""Every collection kind the hunt drives."""

_keys = Ints(0, 5)
_values = Ints(0, 9)
_index = Ints(0, 8)


def _map() -> Domain:
    return OneOf(
        (
            Build(MapInsert, (_keys, _values)),
            Build(MapCompareExchange, (_keys, Maybe(_values), Maybe(_values))),
            Build(MapRemoveMany, (TupleOf((_keys,)),)),
            Build(MapExtend, (ListOf(TupleOf((_keys, _values)), 0, 3, as_tuple=True),)),
            Just(MapClear()),
        )
    )


def _vec() -> Domain:
    return OneOf(
        (
            Build(VecPushBack, (_values,)),
            Build(VecPushFront, (_values,)),
            Build(VecInsert, (_index, _values)),
            Build(VecSwap, (_index, _index)),
            Build(VecRemove, (_index,)),
            Just(VecPopBack()),
            Just(VecPopFront()),
            Build(VecTruncate, (_index,)),
            Build(VecExtend, (ListOf(_values, 0, 3, as_tuple=True),)),
            Just(VecClear()),
        )
    )


def _set() -> Domain:
    return OneOf(
        (
            Build(SetInsert, (_values,)),
            Build(SetRemoveMany, (TupleOf((_values,)),)),
            Build(SetExtend, (ListOf(_values, 0, 3, as_tuple=True),)),
            Just(SetClear()),
        )
    )


def _bound() -> Domain:
    return OneOf(
        (
            Build(Bound.included, (_values,)),
            Build(Bound.excluded, (_values,)),
            Just(Bound.unbounded()),
        )
    )


def _depq() -> Domain:
    return OneOf(
        (
            Build(DepqInsert, (_values, _keys, _values)),
            Build(DepqCompareExchangeValue, (_keys, _values, Maybe(_values))),
            Build(DepqUpdatePriority, (_keys, _values)),
            Build(DepqUpdateValue, (_keys, _values)),
            Build(DepqRemoveKeys, (TupleOf((_keys,)),)),
            Build(DepqRemoveRange, (_bound(), _bound())),
            Build(DepqExtend, (ListOf(TupleOf((_values, _keys, _values)), 0, 3, as_tuple=True),)),
            Just(DepqClear()),
        )
    )


def _cell() -> Domain:
    return OneOf(
        (
            Build(CellWrite, (_values,)),
            Build(CellCompareExchange, (Maybe(_values), Maybe(_values))),
            Just(CellClear()),
        )
    )


def _once() -> Domain:
    return Build(OnceWrite, (_values,))


_DOMAINS: dict[str, Domain] = {
    "map": _map(),
    "vec": _vec(),
    "set": _set(),
    "depq": _depq(),
    "cell": _cell(),
    "once": _once(),
}
_STRATEGIES = {kind: domain.strategy() for kind, domain in _DOMAINS.items()}


def command_domain(kind: str) -> Domain:
    """Return the domain of one client command of collection ``kind`` (both generators).

    >>> import random
    >>> command_domain("once").draw(random.Random(1))
    OnceWrite(value=2)
    """
    try:
        return _DOMAINS[kind]
    except KeyError:
        raise InvalidInput(f"unknown collection kind {kind!r}; known: {', '.join(KINDS)}") from None


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
