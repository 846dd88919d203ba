"""What the state and context records are written as: the content behind their JSON forms.

:mod:`impl.codec` writes most records by its generic rule, an object of exactly
their fields. This module holds what that rule cannot derive from the annotations,
in language-neutral terms (no JSON here; the codec applies it):

* **Collections as items** (:data:`ITEMS_FORMS`). A collection's state and its
  snapshot (Map, Vec, Set, DEPQ, Cell, Once) are their items in canonical order
  (Map: ``(key, value)``; DEPQ: ``(priority, key, value)``; the others: the value),
  never the persistent trees that hold them; Cell and Once snapshots add their
  ``range_end_ignored`` flag (H28). :meth:`ItemsForm.build` rejects items out of
  canonical order or repeated (by their postcard bytes), naming the item.
* **Snapshots in records are one of six** (:data:`SNAPSHOT_TYPES`): the annotation
  :class:`~impl.collections.base.Snapshot` (``SessionState.accumulated``,
  ``AvailableSnapshot.snapshot``, ``PendingRequest.snapshot``,
  ``InstallSnapshot.snapshot``) reads as the tagged union of the snapshot types.
* **A context's machine is its kind** (:func:`machine_kind`, :func:`machine_of`):
  ``NodeContext.machine`` and ``SessionContext.machine`` are the collection kind
  (``"map"``, ...), read back as the registered state machine.
* **Checks of decoded records** (:data:`CHECKS`): what a record's constructor
  accepts but no state of the reference can hold — a deadline or position below
  zero, a session with an anchor but no gap, a chunk whose end is not its start plus
  its items, a candidate filed under another anchor, a committee member who is both
  voter and non-voter, a node whose collection state, session or provider snapshots
  belong to another collection than the node. Protocol invariants (I1–I16) are
  *not* checked: a state that breaks one is still a state, and the hazard profiles
  reach such states on purpose.

:data:`STATE_TYPES` lists every state and context record by tag;
:func:`collection_types` gives a kind's state and snapshot classes and
:func:`check_kind` checks that a decoded state belongs to a given collection. The
JSON forms themselves, with examples, are docs/formats/json.md, "States and contexts".

>>> from impl.collections.map import MAP
>>> MAP_FORM = ITEMS_FORMS[MapState]
>>> MAP_FORM.build([("a", 1), (2, 0)]) == MAP.install_snapshot(MAP.initial(),
...     MAP.empty_snapshot().append([(2, 0), ("a", 1)]))
True
>>> MAP_FORM.build([(2, 0), ("a", 1)])
Traceback (most recent call last):
...
impl.errors.CodecError: cannot decode [1]: not in canonical order: key bytes 0161 after 02
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from impl.collections import COLLECTIONS
from impl.collections.base import ApplyContext, PendingRequest, Snapshot, StateMachine
from impl.collections.cell import CellSnapshot, CellState, OptionSnapshot, OptionState
from impl.collections.depq import DepqMachine, DepqSnapshot, DepqState
from impl.collections.encoding import encode as postcard
from impl.collections.encoding import is_plain_datum, priority_key
from impl.collections.map import MapSnapshot, MapState
from impl.collections.once import OnceSnapshot, OnceState
from impl.collections.pseq import PSeq, PSortedMap
from impl.collections.set import SetSnapshot, SetState
from impl.collections.vec import VecSnapshot, VecState
from impl.config import Config
from impl.errors import CodecError, InvalidInput
from impl.logstore import LogStore
from impl.messages import Item
from impl.node_state import (
    CandidateRole,
    Committee,
    FollowerRole,
    LeaderRole,
    NodeContext,
    NodeState,
)
from impl.profile import Profile
from impl.provider_state import AvailableSnapshot, ProviderContext, ProviderState
from impl.registry import is_tagged, tag_of
from impl.session_state import PendingFetch, SessionContext, SessionState
from impl.types import U64_MAX

__all__ = [
    "CHECKS",
    "COLLECTION_TYPES",
    "ITEMS_FORMS",
    "SNAPSHOT_TYPES",
    "STATE_TYPES",
    "ItemsForm",
    "Snapshot",
    "StateMachine",
    "check_kind",
    "collection_types",
    "machine_kind",
    "machine_of",
]


# -- collections as items --------------------------------------------------------------------


def _at(i: int, j: int | None = None) -> str:
    return f"[{i}]" if j is None else f"[{i}][{j}]"


def _bytes_of(datum: Item, i: int, j: int | None = None) -> bytes:
    """Return the postcard bytes of ``datum`` (its canonical key), or reject it at item
    ``[i]`` (part ``[j]``): a string that is not Unicode text has none."""
    try:
        return postcard(datum)
    except InvalidInput as exc:
        raise CodecError(_at(i, j), str(exc)) from None


def _check_datum(datum: Item, i: int, j: int | None = None) -> None:
    """Reject a datum without a canonical encoding (see :func:`_bytes_of`), cheaply."""
    if not is_plain_datum(datum):
        _bytes_of(datum, i, j)


def _parts(item: Item, i: int, arity: int, what: str) -> tuple[Item, ...]:
    if type(item) is not tuple or len(item) != arity:
        raise CodecError(_at(i), f"a {what} item is an array of {arity} data")
    return item


def _in_canonical_order(keyed: list[tuple[bytes, Any]]) -> None:
    """Reject keys that do not strictly increase (the canonical order, no duplicates)."""
    for i in range(1, len(keyed)):
        before, key = keyed[i - 1][0], keyed[i][0]
        if key <= before:
            problem = "duplicate key" if key == before else "not in canonical order"
            raise CodecError(_at(i), f"{problem}: key bytes {key.hex()} after {before.hex()}")


def _map_entries(items: list[Item]) -> PSortedMap[bytes, Any]:
    keyed = []
    for i, item in enumerate(items):
        key, value = _parts(item, i, 2, "Map")
        _check_datum(value, i, 1)
        keyed.append((_bytes_of(key, i, 0), item))
    _in_canonical_order(keyed)
    return PSortedMap.from_sorted(keyed)


def _set_members(items: list[Item]) -> PSortedMap[bytes, Any]:
    keyed = [(_bytes_of(item, i), item) for i, item in enumerate(items)]
    _in_canonical_order(keyed)
    return PSortedMap.from_sorted(keyed)


def _vec_elements(items: list[Item]) -> PSeq[Any]:
    for i, item in enumerate(items):
        _check_datum(item, i)
    return PSeq.from_iterable(items)


def _depq_state(items: list[Item]) -> DepqState:
    keyed = []
    ranks = []
    for i, item in enumerate(items):
        priority, key, value = _parts(item, i, 3, "DEPQ")
        _check_datum(priority, i, 0)
        _check_datum(value, i, 2)
        raw = _bytes_of(key, i, 1)
        keyed.append((raw, item))
        ranks.append(((priority_key(priority), raw), None))
    _in_canonical_order(keyed)
    by_priority = sorted(ranks)
    return DepqState(PSortedMap.from_sorted(keyed), PSortedMap.from_sorted(by_priority))


def _option_value(items: list[Item]) -> Item | None:
    if len(items) > 1:
        raise CodecError(_at(1), "a Cell or Once holds at most one item")
    if not items:
        return None
    _check_datum(items[0], 0)
    return items[0]


def _option_items(value: OptionState | OptionSnapshot) -> tuple[Item, ...]:
    return () if value.value is None else (value.value,)


@dataclass(frozen=True, slots=True)
class ItemsForm:
    """How one collection state or snapshot class is written: its items and flags.

    ``items_of(value)`` lists the items in canonical order; ``build(items, *flags)``
    makes the value back, raising :class:`CodecError` whose ``field`` is the
    offending item's index (``"[3]"``, ``"[3][0]"``) relative to the item list.
    """

    cls: type
    items_of: Callable[[Any], Iterable[Item]]
    build: Callable[..., Any]
    flags: tuple[str, ...] = ()
    """Boolean fields written next to ``items`` (Cell/Once snapshots: ``range_end_ignored``)."""


def _option_snapshot(cls: type) -> ItemsForm:
    return ItemsForm(
        cls,
        _option_items,
        lambda items, flag: cls(_option_value(items), flag),
        ("range_end_ignored",),
    )


ITEMS_FORMS: dict[type, ItemsForm] = {
    form.cls: form
    for form in (
        ItemsForm(MapState, lambda s: s.entries.values(), lambda i: MapState(_map_entries(i))),
        ItemsForm(
            MapSnapshot, lambda s: s.entries.values(), lambda i: MapSnapshot(_map_entries(i))
        ),
        ItemsForm(VecState, lambda s: s.elements, lambda i: VecState(_vec_elements(i))),
        ItemsForm(VecSnapshot, lambda s: s.elements, lambda i: VecSnapshot(_vec_elements(i))),
        ItemsForm(SetState, lambda s: s.members.values(), lambda i: SetState(_set_members(i))),
        ItemsForm(
            SetSnapshot, lambda s: s.members.values(), lambda i: SetSnapshot(_set_members(i))
        ),
        ItemsForm(DepqState, lambda s: s.by_key.values(), _depq_state),
        ItemsForm(
            DepqSnapshot, lambda s: s.state.by_key.values(), lambda i: DepqSnapshot(_depq_state(i))
        ),
        ItemsForm(CellState, _option_items, lambda i: CellState(_option_value(i))),
        _option_snapshot(CellSnapshot),
        ItemsForm(OnceState, _option_items, lambda i: OnceState(_option_value(i))),
        _option_snapshot(OnceSnapshot),
    )
}
"""The items form of every collection state and snapshot class."""

COLLECTION_TYPES: dict[str, tuple[type, type]] = {
    "map": (MapState, MapSnapshot),
    "vec": (VecState, VecSnapshot),
    "set": (SetState, SetSnapshot),
    "depq": (DepqState, DepqSnapshot),
    "cell": (CellState, CellSnapshot),
    "once": (OnceState, OnceSnapshot),
}
"""Each collection kind's ``(state class, snapshot class)``."""

_KIND_OF: dict[type, str] = {cls: kind for kind, pair in COLLECTION_TYPES.items() for cls in pair}

SNAPSHOT_TYPES: tuple[type, ...] = tuple(snapshot for _, snapshot in COLLECTION_TYPES.values())
"""The classes a field annotated :class:`~impl.collections.base.Snapshot` may hold (tagged)."""


def collection_types(kind: str) -> tuple[type, type]:
    """Return the ``(state class, snapshot class)`` of collection ``kind``.

    >>> [c.__name__ for c in collection_types("depq")]
    ['DepqState', 'DepqSnapshot']
    """
    try:
        return COLLECTION_TYPES[kind]
    except KeyError:
        raise InvalidInput(f"unknown collection kind {kind!r}") from None


# -- machines as kinds -----------------------------------------------------------------------


def machine_kind(machine: object) -> str:
    """Return the kind that stands for ``machine`` in a context's JSON form.

    Raises :class:`InvalidInput` for an object without a registered kind, and for a
    DEPQ whose ``CAP`` is not ``u64::MAX`` (the one DEPQ a kind names).
    """
    kind = getattr(machine, "kind", None)
    if not isinstance(kind, str) or kind not in COLLECTIONS:
        raise InvalidInput(f"expected a collection state machine, got {machine!r}")
    if isinstance(machine, DepqMachine) and machine.capacity != U64_MAX:
        raise InvalidInput(f"a DEPQ with CAP {machine.capacity} has no JSON form")
    return kind


def machine_of(kind: str) -> StateMachine:
    """Return the registered state machine of ``kind`` (:data:`impl.collections.COLLECTIONS`)."""
    machine = COLLECTIONS.get(kind)
    if machine is None:
        raise InvalidInput(f"unknown collection kind {kind!r}; known: {', '.join(COLLECTIONS)}")
    return machine


# -- checks of decoded records ---------------------------------------------------------------


def _u64(value: object, field: str) -> None:
    """Reject a negative (or non-integer) value of a field that holds a u64."""
    if value is not None and (type(value) is not int or not 0 <= value <= U64_MAX):
        raise CodecError(field, f"expected a u64, got {value!r}")


def _check_deadline(record: Any) -> None:
    for name in ("deadline_ms", "election_deadline_ms", "heartbeat_deadline_ms"):
        if hasattr(record, name):
            _u64(getattr(record, name), name)


def _check_committee(c: Committee) -> None:
    _u64(c.max_committee_size, "max_committee_size")
    if c.max_committee_size < 1:
        raise CodecError("max_committee_size", "a committee has room for at least one voter")
    both = sorted(set(c.voters.keys()) & set(c.non_voters.keys()))
    if both:
        raise CodecError("non_voters", f"{both[0].hex()} is both a voter and a non-voter")


def _check_session(s: SessionState) -> None:
    for name in ("trigger_position", "snapshot_len", "gap_start", "gap_end", "downloaded"):
        _u64(getattr(s, name), name)
    _u64(s.min_anchor, "min_anchor")
    _u64(s.snapshot_request_deadline_ms, "snapshot_request_deadline_ms")
    selected = s.anchor is not None
    if (s.gap_start is not None) != selected or (s.gap_end is not None) != selected:
        raise CodecError(
            "gap_start", "gap_start and gap_end are set exactly when an anchor is selected"
        )
    if not selected and s.snapshot_len != 0:
        raise CodecError("snapshot_len", "must be 0 while no anchor is selected")
    if selected and s.gap_end != s.snapshot_len:
        raise CodecError("gap_end", f"must equal snapshot_len ({s.snapshot_len})")
    for cursor, (info, _) in s.anchor_candidates.items():
        if info.anchor != cursor:
            raise CodecError("anchor_candidates", f"the candidate at {cursor} offers {info.anchor}")
    for start, (end, items) in s.fetched.items():
        _u64(start, "fetched")
        if end != start + len(items):
            raise CodecError(
                "fetched", f"the chunk at {start} ends at {end}, not after its {len(items)} items"
            )


def _what(value: object) -> str:
    """Name a decoded value for an error: its tag, or 'a datum'."""
    return tag_of(type(value)) if is_tagged(type(value)) else "a datum"


def _join(field: str, name: str) -> str:
    return f"{field}.{name}" if field else name


def check_kind(value: object, kind: str, field: str = "") -> None:
    """Raise :class:`CodecError` at ``field`` unless ``value`` belongs to collection ``kind``.

    A collection state or snapshot must be ``kind``'s; a node must be a ``kind`` node;
    a session, an available snapshot, a pending request or a provider state must hold
    ``kind`` snapshots. Any other value passes. For callers that decode a state
    apart from the context that names its machine (a step's ``pre`` and ``context``).

    >>> from impl.collections.map import MAP
    >>> check_kind(MAP.initial(), "vec", "pre")
    Traceback (most recent call last):
    ...
    impl.errors.CodecError: cannot decode pre: a Map.State where a vec value is expected
    """
    if kind not in COLLECTION_TYPES:
        raise CodecError(field, f"unknown collection kind {kind!r}")
    if isinstance(value, NodeState):
        if value.kind != kind:
            raise CodecError(_join(field, "kind"), f"the node is {value.kind!r}, not {kind!r}")
    elif isinstance(value, SessionState):
        check_kind(value.accumulated, kind, _join(field, "accumulated"))
    elif isinstance(value, AvailableSnapshot | PendingRequest):
        check_kind(value.snapshot, kind, _join(field, "snapshot"))
    elif isinstance(value, ProviderState):
        for anchor, entry in value.available.items():
            if _KIND_OF.get(type(entry.snapshot)) != kind:
                raise CodecError(
                    _join(field, "available"),
                    f"the snapshot at {anchor} is a {_what(entry.snapshot)}, not a {kind} one",
                )
        for i, pending in enumerate(value.requests):
            check_kind(pending, kind, f"{_join(field, 'requests')}[{i}]")
    elif _KIND_OF.get(type(value), kind) != kind:
        raise CodecError(field, f"a {_what(value)} where a {kind} value is expected")


def _check_node(n: NodeState) -> None:
    if n.kind not in COLLECTION_TYPES:
        raise CodecError("kind", f"unknown collection kind {n.kind!r}")
    if type(n.sm) is not COLLECTION_TYPES[n.kind][0]:
        raise CodecError("sm", f"{_what(n.sm)} is not the state of a {n.kind!r} node")
    if n.catchup is not None:
        check_kind(n.catchup, n.kind, "role.catchup")
    check_kind(n.provider, n.kind, "provider")


CHECKS: dict[type, Callable[[Any], None]] = {
    NodeState: _check_node,
    SessionState: _check_session,
    Committee: _check_committee,
    **dict.fromkeys(
        (FollowerRole, CandidateRole, LeaderRole, AvailableSnapshot, PendingFetch),
        _check_deadline,
    ),
}
"""The checks the codec runs on every record of these classes it decodes: each raises
:class:`CodecError` whose ``field`` is relative to the record."""


STATE_TYPES: dict[str, type] = {
    tag_of(cls): cls
    for cls in (
        NodeState,
        FollowerRole,
        CandidateRole,
        LeaderRole,
        Committee,
        ProviderState,
        AvailableSnapshot,
        PendingRequest,
        SessionState,
        PendingFetch,
        LogStore,
        NodeContext,
        SessionContext,
        ProviderContext,
        ApplyContext,
        Config,
        Profile,
        *(cls for pair in COLLECTION_TYPES.values() for cls in pair),
    )
}
"""Every state and context record with a JSON form, by tag."""
