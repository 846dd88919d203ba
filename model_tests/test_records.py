"""``impl.records``: ``evolve`` / ``evolver`` / ``constructor`` give exactly what
``dataclasses.replace`` and the class's own constructor give (values, errors, inputs
untouched), on every record of a real group run and on the edge shapes."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from impl.errors import InvalidInput
from impl.logstore import LogStore
from impl.node_state import NodeContext, NodeState
from impl.profile import REFERENCE
from impl.records import constructor, evolve, evolver
from impl.session_state import SessionContext
from impl.types import Cursor, Index, PeerId, Term
from spec.hunt.driver import Driver
from spec.hunt.scenario import GroupShape, build_group, world_setup
from spec.model.state import Bond, NodeSlot, World


def _records(value: Any, seen: dict[int, Any], depth: int = 0) -> None:
    """Collect the dataclass instances reachable from ``value`` (by identity)."""
    if depth > 6 or id(value) in seen:
        return
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        seen[id(value)] = value
        for f in dataclasses.fields(value):
            _records(getattr(value, f.name), seen, depth + 1)
    elif isinstance(value, dict):
        for v in value.values():
            _records(v, seen, depth + 1)
    elif isinstance(value, tuple):
        for v in value:
            _records(v, seen, depth + 1)


@pytest.fixture(scope="module")
def records() -> list[Any]:
    """Every record of a group with a lagging reader in the middle of its catch-up."""
    shape = GroupShape(kind="map", items=6, readers=2, lagging=1)
    d = Driver(world_setup(shape, REFERENCE))
    build_group(d, shape)
    d.settle(1_000, until="fetching")
    seen: dict[int, Any] = {}
    _records(d.world, seen)
    for t, _ in d.log[-40:]:
        _records(t, seen)
    return list(seen.values())


def _field_values(obj: Any, other: Any) -> list[dict[str, Any]]:
    """Changes to try: each field alone, and all fields at once, taken from ``other``."""
    names = [f.name for f in dataclasses.fields(obj)]
    changes = [{n: getattr(other, n)} for n in names]
    changes.append({n: getattr(other, n) for n in names})
    changes.append({})
    return changes


def _result(make: Any) -> tuple[Any, ...]:
    """Return ``("ok", type, value)`` or ``("error", type, message)`` of ``make()``."""
    try:
        value = make()
    except Exception as exc:  # both sides must fail the same way
        return ("error", type(exc), str(exc))
    return ("ok", type(value), value)


def test_evolve_equals_replace_on_every_record_of_a_run(records: list[Any]) -> None:
    by_type: dict[type, list[Any]] = {}
    for r in records:
        by_type.setdefault(type(r), []).append(r)
    for cls in (World, NodeSlot, NodeState, Bond, LogStore, Cursor):
        assert cls in by_type, f"the run has no {cls.__name__}"
    outcomes = set()
    for objs in by_type.values():
        first, last = objs[0], objs[-1]
        for changes in _field_values(first, last):
            before = replace(first)
            got = _result(lambda: evolve(first, **changes))  # noqa: B023
            want = _result(lambda: replace(first, **changes))  # noqa: B023
            assert got == want, (type(first).__name__, sorted(changes))
            assert first == before  # the input is not modified
            outcomes.add(got[0])
    assert outcomes == {"ok", "error"}  # mixed LogStore fields fail their __post_init__


def test_evolve_runs_post_init_like_replace() -> None:
    c = Cursor(Term(2), Index(5))
    with pytest.raises(InvalidInput, match=r"Cursor\.index must be a u64"):
        evolve(c, index=-1)
    with pytest.raises(InvalidInput, match=r"Cursor\.index must be a u64"):
        replace(c, index=Index(-1))
    # The broken variant (slots set without __post_init__) would accept it: the check matters.
    bad = object.__new__(Cursor)
    for name, value in (("term", Term(2)), ("index", -1)):
        object.__setattr__(bad, name, value)
    assert bad.index == -1
    log = LogStore()
    with pytest.raises(InvalidInput, match=r"LogStore\.entries must be a pyrsistent PVector"):
        evolve(log, entries=[])
    peer = PeerId.from_label("a")
    ctx = SessionContext(peer, None, frozenset(), None, None, REFERENCE)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="bonds must be a frozenset of PeerId"):
        evolve(ctx, bonds={PeerId.from_label("b")})


def test_invalid_field_name_raises_like_replace() -> None:
    c = Cursor(Term(1), Index(1))
    with pytest.raises(TypeError) as got:
        evolve(c, nope=1)
    with pytest.raises(TypeError) as want:
        replace(c, nope=1)  # type: ignore[call-arg]
    assert str(got.value) == str(want.value)


def test_invalid_not_a_dataclass_raises_like_replace() -> None:
    with pytest.raises(TypeError) as got:
        evolve(object(), x=1)
    with pytest.raises(TypeError) as want:
        replace(object(), x=1)  # type: ignore[type-var]
    assert str(got.value) == str(want.value)


@dataclass(frozen=True)
class _NoSlots:
    a: int
    b: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class _Derived:
    a: int
    b: int = field(init=False, default=7)


def test_other_shapes_fall_back_to_replace() -> None:
    x = _NoSlots(1, (2,))
    assert evolve(x, a=3) == replace(x, a=3) == _NoSlots(3, (2,))
    y = _Derived(1)
    assert evolve(y, a=2) == replace(y, a=2)
    with pytest.raises(ValueError, match="init=False") as got:
        evolve(y, b=1)
    with pytest.raises(ValueError, match="init=False") as want:
        replace(y, b=1)
    assert str(got.value) == str(want.value)


def test_evolver_and_constructor_match_replace_and_the_class(records: list[Any]) -> None:
    slot = next(r for r in records if isinstance(r, NodeSlot))
    node = next(r for r in records if isinstance(r, NodeState) and r is not slot.node)
    assert evolver(NodeSlot, "node")(slot, node) == replace(slot, node=node)
    both = evolver(NodeSlot, "node", "skew_ms")
    assert both(slot, node, 9) == replace(slot, node=node, skew_ms=9)
    make = constructor(NodeSlot)
    values = [getattr(slot, f.name) for f in dataclasses.fields(NodeSlot)]
    assert make(*values) == NodeSlot(*values)
    assert constructor(_NoSlots) is _NoSlots  # outside the shape: the class itself


def test_invalid_constructor_values_run_post_init() -> None:
    make = constructor(NodeContext)
    args: list[Any] = [0, 0, frozenset(), None, REFERENCE, None, 1_000, 500]
    assert make(*args) == NodeContext(*args)
    for position, bad, message in (
        (0, -1, "NodeContext.now_ms must be a u64"),
        (1, "x", "now_wall_ms must be an integer"),
        (2, set(), "bonds must be a frozenset"),
        (6, 2**64, "election_timeout_ms must be a u64"),
        (7, True, "heartbeat_interval_ms must be an integer"),
    ):
        broken = list(args)
        broken[position] = bad
        with pytest.raises(InvalidInput, match=message):
            make(*broken)
        with pytest.raises(InvalidInput, match=message):
            NodeContext(*broken)
