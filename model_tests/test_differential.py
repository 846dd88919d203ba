"""The differential machine: impl collection steps against the naive model.

The reference must agree with the naive model on every kind; each collection
hazard switch (H4, H5, H23, H28) must make it disagree. The minimal programs the
hunt found are kept as fixed regressions below (``@example``-style: explicit
cases that do not depend on the search finding them again).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from impl.collections.cell import CellCompareExchange, CellWrite
from impl.collections.depq import (
    Bound,
    DepqCompareExchangeValue,
    DepqExtend,
    DepqInsert,
    DepqRemoveRange,
)
from impl.collections.map import MapCompareExchange, MapInsert
from impl.collections.once import OnceWrite
from impl.collections.vec import VecInsert, VecPushBack, VecSwap
from impl.errors import InvalidInput
from impl.profile import REFERENCE, Profile
from spec.hunt.differential import (
    DifferentialMachine,
    NaiveModel,
    differential_class,
    machine_class,
    naive_postcard,
    view_items,
)
from spec.hunt.machine import SESSION, HuntFailure


def _default_examples() -> int:
    """``max_examples`` of the active settings profile (model_tests/conftest.py)."""
    active = settings.default
    return active.max_examples if active is not None else 50


def _settings(examples: int, shrink: bool) -> settings:
    # The meta-tests only need detection: shrinking a found failure is what the hunt
    # (and its regressions below) are for, and it would dominate the file's time.
    phases = [Phase.explicit, Phase.generate] + ([Phase.shrink] if shrink else [])
    return settings(
        settings.default,
        max_examples=examples,
        stateful_step_count=30,
        suppress_health_check=list(HealthCheck),
        database=None,
        phases=phases,
    )


def _run(profile: Profile, examples: int, shrink: bool = True) -> None:
    SESSION.__init__()  # type: ignore[misc]
    run_state_machine_as_test(differential_class(profile), settings=_settings(examples, shrink))


def test_reference_agrees_with_the_naive_model() -> None:
    _run(REFERENCE, _default_examples())
    assert SESSION.failures == []
    assert SESSION.rule_steps > 0


@pytest.mark.parametrize(
    ("hazard", "ids"),
    [
        ("H4", {"D-POSITION"}),
        ("H5", {"D-APPLY"}),
        ("H23", {"PANIC"}),
        ("H28", {"D-RANGE", "D-SNAPSHOT", "D-REASSEMBLY"}),
    ],
)
def test_collection_hazard_makes_it_disagree(hazard: str, ids: set[str]) -> None:
    with pytest.raises(HuntFailure) as info:
        _run(REFERENCE.with_hazards([hazard]), 200, shrink=False)
    assert info.value.finding.id in ids


def _machine(profile: Profile, kind: str, items: int = 2) -> DifferentialMachine:
    cls = machine_class(profile)
    m = cls()
    m.setup_collection(kind, batch=1, items=items)
    return m


# -- fixed regressions (the shrunk programs of docs/findings.md) ------------------------------


def test_regression_h5_map_compare_exchange_some() -> None:
    m = _machine(REFERENCE.with_hazards(["H5"]), "map", items=1)
    m._apply([MapCompareExchange(0, 0, None)], None)
    assert [f.id for f in m.findings] == ["D-APPLY"]
    ok = _machine(REFERENCE, "map", items=1)
    ok._apply([MapCompareExchange(0, 0, None)], None)
    assert ok.findings == []


def test_regression_h4_depq_mismatch_position() -> None:
    m = _machine(REFERENCE.with_hazards(["H4"]), "depq", items=1)
    m.compare_exchange(pick=0, matching=False, new=None, take=True)
    assert [f.id for f in m.findings] == ["D-POSITION"]
    ok = _machine(REFERENCE, "depq", items=1)
    ok.compare_exchange(pick=0, matching=False, new=None, take=True)
    assert ok.findings == []


def test_regression_h23_vec_insert_past_end() -> None:
    m = _machine(REFERENCE.with_hazards(["H23"]), "vec", items=1)
    m._apply([VecInsert(5, 1)], None)
    assert [f.id for f in m.findings] == ["PANIC"]
    ok = _machine(REFERENCE, "vec", items=1)
    ok._apply([VecInsert(5, 1)], None)
    assert ok.findings == []


def test_regression_h28_cell_range_end() -> None:
    m = _machine(REFERENCE.with_hazards(["H28"]), "cell", items=1)
    m.iter_range(0, 2)
    assert [f.id for f in m.findings] == ["D-RANGE"]
    ok = _machine(REFERENCE, "cell", items=1)
    ok.iter_range(0, 2)
    assert ok.findings == []


# -- the naive model ------------------------------------------------------------------------


def test_naive_model_semantics() -> None:
    m = NaiveModel("map")
    m.apply(MapInsert(1, 10))
    m.apply(MapCompareExchange(1, 10, 11))
    m.apply(MapCompareExchange(2, None, 5))
    m.apply(MapCompareExchange(2, 9, None))  # wrong expectation: no change
    assert m.view() == {1: 11, 2: 5}
    v = NaiveModel("vec")
    v.apply(VecPushBack(1))
    v.apply(VecInsert(3, 2))  # past the end: a no-op in the reference
    v.apply(VecSwap(0, 5))  # out of range: guarded
    assert v.view() == [1]
    q = NaiveModel("depq")
    q.apply(DepqInsert(5, 1, 50))
    q.apply(DepqInsert(9, 2, 90))
    q.apply(DepqCompareExchangeValue(1, 49, None))  # mismatch: no change
    q.apply(DepqRemoveRange(Bound.included(6), Bound.unbounded()))
    assert q.view() == {1: (5, 50)}
    c = NaiveModel("cell")
    c.apply(CellCompareExchange(None, 3))
    c.apply(CellCompareExchange(3, 4))
    c.apply(CellWrite(7))
    assert c.view() == 7
    o = NaiveModel("once")
    o.apply(OnceWrite(1))
    o.apply(OnceWrite(2))
    assert o.view() == 1


def test_view_items_forms() -> None:
    assert view_items("map", ((1, 2),)) == {1: 2}
    assert view_items("depq", ((5, 1, 50),)) == {1: (5, 50)}
    assert view_items("vec", (3, 1)) == [3, 1]
    assert view_items("set", (1, 2)) == {1, 2}
    assert view_items("cell", ()) is None
    assert view_items("once", (4,)) == 4


def test_invalid_naive_model_kind() -> None:
    with pytest.raises(InvalidInput, match="unknown collection kind"):
        NaiveModel("tree")


def test_naive_postcard_is_the_documented_encoding() -> None:
    assert naive_postcard(5) == b"\x05"
    assert naive_postcard(129) == b"\x81\x01"
    assert naive_postcard(256) == b"\x80\x02"
    assert naive_postcard("ab") == b"\x02ab"
    assert naive_postcard((1, 200)) == b"\x01\xc8\x01"


@pytest.mark.parametrize("kind", ["map", "set", "depq"])
def test_canonical_order_holds_in_the_reference(kind: str) -> None:
    m = _machine(REFERENCE, kind)
    m.canonical_order([129, 256, 5])
    m.canonical_order(["b", "ab", "c"])
    assert m.findings == []


@pytest.mark.parametrize("kind", ["map", "set", "depq"])
def test_a_key_encoded_without_its_length_breaks_the_canonical_order(
    monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    # A porter's bug: string keys compared by their bytes alone, not postcard's
    # length-prefixed encoding ("ab" then "b" instead of "b" then "ab").
    import impl.collections.encoding as encoding

    original = encoding.encode

    def unprefixed(datum: object) -> bytes:
        if isinstance(datum, str):
            return datum.encode("utf-8")
        return original(datum)  # type: ignore[arg-type]

    for module in (encoding, *_users_of_encode()):
        monkeypatch.setattr(module, "encode", unprefixed, raising=False)
    m = _machine(REFERENCE, kind)  # the setup checks ORDER_CASES
    m.canonical_order(["b", "ab"])
    ids = {f.id for f in m.findings}
    assert ids == {"D-ORDER"}


def _users_of_encode() -> list[object]:
    import impl.collections.depq
    import impl.collections.map
    import impl.collections.set

    return [
        mod
        for mod in (impl.collections.map, impl.collections.set, impl.collections.depq)
        if hasattr(mod, "encode")
    ]


def _bounded(capacity: int) -> DifferentialMachine:
    m = machine_class(REFERENCE)()
    m.setup_collection("depq", batch=1, items=3, capacity=capacity)
    return m


def test_a_bounded_depq_agrees_with_the_naive_model() -> None:
    m = _bounded(2)
    m._apply([DepqInsert(5, 7, 0), DepqInsert(0, 8, 0), DepqExtend(((9, 1, 1), (1, 2, 2)))], None)
    assert m.findings == []
    assert len(m.model.map) == 2


def test_a_bounded_depq_that_evicts_one_too_many_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    import impl.collections.depq as depq

    original = depq._insert

    def evicts_to_cap_minus_one(state: Any, priority: Any, key: Any, value: Any, cap: int) -> Any:
        return original(state, priority, key, value, max(cap - 1, 0))

    monkeypatch.setattr(depq, "_insert", evicts_to_cap_minus_one)
    m = _bounded(3)
    assert [f.id for f in m.findings] == ["D-APPLY"]
