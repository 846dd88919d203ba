"""Per-collection commands and reads used by mosaik's scenarios (inventory §6).

mosaik's sync tests for Map, Vec, Set and DEPQ mirror each other: the same
steps with ``insert(i, 10i)``, ``push_back(10i)``, ``insert(i)`` or
``insert(i, i, 10i)``. A :class:`Flavor` names those per-collection pieces, so
one scenario body runs for every collection. Reads (``len``, ``get``,
``contains``, ``get_min``...) are computed from the canonical items of a node's
state, exactly what a reader would observe.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from impl.collections.cell import CellCompareExchange, CellWrite
from impl.collections.depq import (
    Bound,
    DepqClear,
    DepqExtend,
    DepqInsert,
    DepqRemoveKeys,
    DepqRemoveRange,
    DepqUpdatePriority,
    DepqUpdateValue,
)
from impl.collections.map import MapClear, MapExtend, MapInsert, MapRemoveMany
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
from impl.messages import Command, Item

__all__ = [
    "FLAVORS",
    "Flavor",
    "Reads",
    "cell_cas",
    "cell_write",
    "depq_remove_range",
    "depq_update_priority",
    "depq_update_value",
    "once_write",
    "vec_ops",
]


@dataclass(frozen=True, slots=True)
class Flavor:
    """The per-collection pieces of a mirrored scenario."""

    kind: str
    """Collection kind."""
    item: Callable[[int], Command]
    """The population command for item ``i`` (mosaik: ``insert(i, 10i)`` and siblings)."""
    extend: Callable[[Sequence[int]], Command]
    """One ``extend`` entry carrying the population items of ``indices``."""
    extend_values: Callable[[Sequence[tuple[int, int]]], Command]
    """``extend`` with explicit ``(i, value)`` pairs (keys/positions and values)."""
    clear: Callable[[], Command]
    """``clear``."""
    remove: Callable[[int], Command]
    """Remove key / value ``i`` (Vec: the element at index ``i``)."""
    expected: Callable[[int], Any]
    """What ``get(i)`` returns after populating item ``i`` (Set: membership)."""
    plain_item: Callable[[int], Command]
    """Item ``i`` with value ``i`` (mosaik's ``insert(i, i)`` variants)."""
    plain_extend: Callable[[Sequence[int]], Command]
    """``extend`` of the plain items of ``indices``."""


def _map_extend(indices: Sequence[int]) -> Command:
    return MapExtend(tuple((i, 10 * i) for i in indices))


def _vec_extend(indices: Sequence[int]) -> Command:
    return VecExtend(tuple(10 * i for i in indices))


def _set_extend(indices: Sequence[int]) -> Command:
    return SetExtend(tuple(indices))


def _depq_extend(indices: Sequence[int]) -> Command:
    return DepqExtend(tuple((i, i, 10 * i) for i in indices))


FLAVORS: dict[str, Flavor] = {
    "map": Flavor(
        kind="map",
        item=lambda i: MapInsert(i, 10 * i),
        extend=_map_extend,
        extend_values=lambda pairs: MapExtend(tuple((k, v) for k, v in pairs)),
        clear=MapClear,
        remove=lambda i: MapRemoveMany((i,)),
        expected=lambda i: 10 * i,
        plain_item=lambda i: MapInsert(i, i),
        plain_extend=lambda ix: MapExtend(tuple((i, i) for i in ix)),
    ),
    "vec": Flavor(
        kind="vec",
        item=lambda i: VecPushBack(10 * i),
        extend=_vec_extend,
        extend_values=lambda pairs: VecExtend(tuple(v for _, v in pairs)),
        clear=VecClear,
        remove=lambda i: VecRemove(i),
        expected=lambda i: 10 * i,
        plain_item=lambda i: VecPushBack(i),
        plain_extend=lambda ix: VecExtend(tuple(ix)),
    ),
    "set": Flavor(
        kind="set",
        item=lambda i: SetInsert(i),
        extend=_set_extend,
        extend_values=lambda pairs: SetExtend(tuple(v for _, v in pairs)),
        clear=SetClear,
        remove=lambda i: SetRemoveMany((i,)),
        expected=lambda i: True,
        plain_item=lambda i: SetInsert(i),
        plain_extend=lambda ix: SetExtend(tuple(ix)),
    ),
    "depq": Flavor(
        kind="depq",
        item=lambda i: DepqInsert(i, i, 10 * i),
        extend=_depq_extend,
        extend_values=lambda pairs: DepqExtend(tuple((k, k, v) for k, v in pairs)),
        clear=DepqClear,
        remove=lambda i: DepqRemoveKeys((i,)),
        expected=lambda i: 10 * i,
        plain_item=lambda i: DepqInsert(i, i, i),
        plain_extend=lambda ix: DepqExtend(tuple((i, i, i) for i in ix)),
    ),
}
"""The four collections whose sync tests mirror each other."""


def _pairs(items: tuple[Item, ...]) -> list[tuple[Any, Any]]:
    """Map items are ``(key, value)`` pairs."""
    return [cast(tuple[Any, Any], item) for item in items]


def _triples(items: tuple[Item, ...]) -> list[tuple[Any, Any, Any]]:
    """DEPQ items are ``(priority, key, value)`` triples."""
    return [cast(tuple[Any, Any, Any], item) for item in items]


class Reads:
    """What a reader observes of one node's state, from its canonical items."""

    def __init__(self, kind: str, items: tuple[Item, ...]) -> None:
        self.kind = kind
        self.items = items
        self._index: dict[Any, Any] | None = None

    def __len__(self) -> int:
        return len(self.items)

    def _by_key(self) -> dict[Any, Any]:
        if self._index is None:
            if self.kind == "map":
                self._index = dict(_pairs(self.items))
            elif self.kind == "depq":
                self._index = {k: (p, v) for p, k, v in _triples(self.items)}
            elif self.kind == "set":
                self._index = dict.fromkeys(self.items, True)
            else:
                self._index = dict(enumerate(self.items))
        return self._index

    def get(self, key: Any) -> Any:
        """Map/DEPQ: the key's value; Vec: the element; Set: True if present; Cell/Once: value."""
        if self.kind in ("cell", "once"):
            return self.items[0] if self.items else None
        got = self._by_key().get(key)
        if self.kind == "depq" and got is not None:
            return got[1]
        return got

    def contains(self, key: Any) -> bool:
        """Map/DEPQ ``contains_key``, Set ``contains``, Vec: value present."""
        if self.kind == "vec":
            return key in self.items
        return key in self._by_key()

    def priority(self, key: Any) -> Any:
        """DEPQ ``get_priority``."""
        got = self._by_key().get(key)
        return None if got is None else got[0]

    def get_min(self) -> tuple[Any, Any, Any] | None:
        """DEPQ ``get_min``: ``(priority, key, value)`` of the lowest priority."""
        if not self.items:
            return None
        return min(_triples(self.items), key=lambda t: (t[0], t[1]))

    def get_max(self) -> tuple[Any, Any, Any] | None:
        """DEPQ ``get_max``: ``(priority, key, value)`` of the highest priority."""
        if not self.items:
            return None
        return max(_triples(self.items), key=lambda t: (t[0], t[1]))

    def front(self) -> Any:
        """Vec ``front``."""
        return self.items[0] if self.items else None

    def back(self) -> Any:
        """Vec ``back``."""
        return self.items[-1] if self.items else None


# -- commands of the collection-specific scenarios ------------------------------------------


def vec_ops() -> dict[str, Callable[..., Command]]:
    """Return the Vec commands of ``mixed_mutations`` by mosaik method name."""
    return {
        "push_back": VecPushBack,
        "push_front": VecPushFront,
        "insert": VecInsert,
        "swap": VecSwap,
        "pop_back": VecPopBack,
        "pop_front": VecPopFront,
        "remove": VecRemove,
        "extend": lambda values: VecExtend(tuple(values)),
        "truncate": VecTruncate,
        "clear": VecClear,
    }


def depq_update_priority(key: int, priority: int) -> Command:
    """DEPQ ``update_priority(key, priority)``."""
    return DepqUpdatePriority(key, priority)


def depq_update_value(key: int, value: int) -> Command:
    """DEPQ ``update_value(key, value)``."""
    return DepqUpdateValue(key, value)


def depq_remove_range(start: int, end: int) -> Command:
    """DEPQ ``remove_range(start..end)``: priorities in ``[start, end)``."""
    return DepqRemoveRange(Bound.included(start), Bound.excluded(end))


def cell_write(value: Any) -> Command:
    """Cell ``write(value)``."""
    return CellWrite(value)


def cell_cas(current: Any, new: Any) -> Command:
    """Cell ``compare_exchange(current, new)``."""
    return CellCompareExchange(current, new)


def once_write(value: Any) -> Command:
    """Once ``write(value)`` (ignored once a value is set)."""
    return OnceWrite(value)
