"""Every invariant and liveness check can fail: each is shown violated by a hazard switch,
an injected fault, or a deliberate mutant, and holding on the same run under ``reference``."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from typing import Any

import pytest
from pyrsistent import pmap

import impl.raft
from impl.collections.depq import DepqCompareExchangeValue, DepqInsert, DepqUpdatePriority
from impl.collections.map import MapInsert
from impl.config import Config
from impl.messages import RequestSnapshot, SnapshotInfo, SnapshotOffer
from impl.node_state import FollowerRole, LeaderRole, NodeState
from impl.profile import MOSAIK_0_3_13, REFERENCE, Profile, get_profile
from impl.types import Cursor, Index, Term
from spec.model.actions import Transition, deliver_message, forge_message, node_poll_action
from spec.model.faults import Fault
from spec.model.invariants import INVARIANTS, Checker, Violation
from spec.model.liveness import quiescent, settle_report
from spec.model.state import World, WorldSetup
from spec.scenarios.flavors import depq_remove_range
from spec.sim.simulator import SimOptions, Simulator
from spec.sim.workload import SimulationSpec, simulate


def _ids(violations: list[Violation]) -> Counter[str]:
    return Counter(v.id for v in violations)


def _sim(kind: str, profile: Profile, *faults: Fault, batch: int = 2000) -> Simulator:
    setup = WorldSetup(kind, Config().with_fetch_batch_size(batch), profile, frozenset(faults))
    sim = Simulator(setup, SimOptions(seed=3))
    sim.join("w0", writer=True)
    sim.join("r1", writer=False)
    assert sim.run_until(lambda w: w.nodes["r1"].node.online, limit_ms=20_000)
    return sim


def _settle(sim: Simulator) -> list[Violation]:
    sim.run_until(quiescent, limit_ms=sim.world.now_ms + 30_000)
    return settle_report(sim.world, sim.checker)


# -- H4 (DEPQ position undercount): I1, I2, I5, I8, I9, I10, I15 ------------------------------


def _h4_run(profile: Profile) -> list[Violation]:
    """A batch [CASV mismatch ×2, TakeSnapshot, RemoveRange(5..10), UpdatePriority(k, 7)]
    (inventory H4): the snapshot reflects the whole batch, its position only 3 of 5."""
    sim = _sim("depq", profile)
    sim.write("w0", (DepqInsert(3, 7, 70), DepqInsert(1, 8, 80)))
    sim.run_until(
        lambda w: w.nodes["r1"].node.committed.index >= 2, limit_ms=sim.world.now_ms + 5_000
    )
    sim.join("r2", writer=False)

    def asked(w: World) -> bool:
        return any(isinstance(i.message, RequestSnapshot) for i in w.queue("r2", "w0"))

    assert sim.run_until(asked, limit_ms=sim.world.now_ms + 5_000)
    sim.write("w0", (DepqCompareExchangeValue(7, 999, 1), DepqCompareExchangeValue(8, 999, 1)))
    sim.act(deliver_message, "r2", "w0")  # P2: TakeSnapshot joins the same queue
    sim.write("w0", (depq_remove_range(5, 10), DepqUpdatePriority(7, 7)))
    return sim.violations + _settle(sim)


def test_h4_violates_position_and_state_invariants() -> None:
    found = _ids(_h4_run(MOSAIK_0_3_13))
    for inv in ("I1", "I2", "I5", "I8", "I9", "I10", "I15"):
        assert found[inv] >= 1, inv
    # The single switch is enough; without it the same run is clean.
    assert _ids(_h4_run(get_profile("reference", ["H4"])))["I15"] >= 1
    assert not _h4_run(REFERENCE)


# -- H3 (non-contiguous buffer at finalize): I7 -----------------------------------------------


def _h3_run(profile: Profile) -> tuple[list[Violation], World]:
    """An AppendEntries lost during catch-up leaves a hole in the buffer after the anchor."""
    sim = _sim("map", profile, batch=1)
    sim.write("w0", tuple(MapInsert(i, i) for i in range(30)))
    sim.run_until(
        lambda w: w.nodes["r1"].node.committed.index >= 30, limit_ms=sim.world.now_ms + 5_000
    )
    sim.join("r2", writer=False)

    def anchored(w: World) -> bool:
        s = w.nodes["r2"].node.catchup
        return s is not None and s.anchor is not None

    assert sim.run_until(anchored, limit_ms=sim.world.now_ms + 5_000)
    sim.write("w0", (MapInsert(100, 1),))
    sim.act(node_poll_action, "w0")
    sim.break_bond("w0", "r2")  # the AppendEntries carrying entry 32 is lost
    sim.restore_bond("w0", "r2")
    sim.write("w0", (MapInsert(101, 1),))
    sim.act(node_poll_action, "w0")
    return sim.violations + _settle(sim), sim.world


def test_h3_violates_anchor_validity_and_crashes_the_node() -> None:
    found, world = _h3_run(get_profile("reference", ["H3"]))
    assert _ids(found)["I7"] == 2  # the inductive form, then the finalize panic
    assert world.nodes["r2"].status.value == "crashed"
    assert any(v.id == "L1" and "crashed" in v.detail for v in found)
    clean, world = _h3_run(REFERENCE)
    assert not clean
    assert quiescent(world)


# -- H28 (Cell/Once iter_range ignores the end): I3 -------------------------------------------


def _cell_sync(profile: Profile) -> list[Violation]:
    from impl.collections.cell import CellWrite

    sim = _sim("cell", profile)
    sim.write("w0", (CellWrite(5), CellWrite(6)))
    sim.run_until(
        lambda w: w.nodes["r1"].node.committed.index >= 2, limit_ms=sim.world.now_ms + 5_000
    )
    sim.join("r2", writer=False)
    return sim.violations + _settle(sim)


def test_h28_violates_the_iter_range_contract() -> None:
    assert _ids(_cell_sync(get_profile("reference", ["H28"])))["I3"] >= 1
    assert not _cell_sync(REFERENCE)


# -- faults: I2 (H13), I4/I5/I13 (misbehaving providers), L1/L2 (H1 stall) --------------------


def _faulty(profile: Profile, fault: Fault, rate: float) -> tuple[bool, Counter[str]]:
    spec = SimulationSpec(items=1000, batch=100, providers=3, profile=profile, faults={fault: rate})
    report = simulate(spec)
    return report.converged, _ids(report.violations)


def test_disagreeing_providers_violate_anchor_agreement() -> None:
    converged, found = _faulty(REFERENCE, Fault.DISAGREE_ORDER, 1.0)
    # H13 is outside the protocol's reach: the model catches it, the reference cannot.
    assert found["I2"] >= 1
    assert found["I5"] >= 1
    assert found["I9"] >= 1
    assert not converged


def test_duplicates_stall_mosaik_by_h1_but_not_the_reference() -> None:
    converged, found = _faulty(get_profile("reference", ["H1"]), Fault.DUPLICATE, 0.5)
    assert not converged
    assert found["I4"] >= 1
    assert found["L2"] >= 1
    assert found["L1"] == 1
    converged, found = _faulty(REFERENCE, Fault.DUPLICATE, 0.5)
    assert converged
    assert not found


def test_long_responses_break_the_exactly_once_prefix_under_h10() -> None:
    converged, found = _faulty(MOSAIK_0_3_13, Fault.LONG_RESPONSE, 0.5)
    assert not converged
    assert found["I5"] >= 1
    assert found["I13"] >= 1
    converged, found = _faulty(REFERENCE, Fault.LONG_RESPONSE, 0.5)
    # The misbehaving provider is caught (I13); the reference session rejects it and converges.
    assert converged
    assert set(found) == {"I13"}


@pytest.mark.parametrize("fault", [Fault.SHORT_RESPONSE, Fault.WRONG_OFFSET])
def test_short_and_shifted_responses_violate_chunk_disjointness(fault: Fault) -> None:
    converged, found = _faulty(MOSAIK_0_3_13, fault, 0.5)
    assert not converged
    assert found["I4"] >= 1
    assert found["I13"] >= 1
    converged, found = _faulty(REFERENCE, fault, 0.5)
    assert converged
    assert set(found) == {"I13"}


# -- H27 (consistent AppendEntries during catch-up, reachable by reordering): I11, I12 ----------


def test_h27_applies_during_catchup_and_commit_goes_back() -> None:
    spec = SimulationSpec(
        items=1000,
        batch=100,
        providers=3,
        profile=get_profile("reference", ["H27"]),
        faults={Fault.REORDER: 0.5},
    )
    found = _ids(simulate(spec).violations)
    assert found["I12"] >= 1
    assert found["I11"] >= 1
    assert not simulate(replace(spec, profile=REFERENCE)).violations


# -- H16 (lagging voter): L4 --------------------------------------------------------------------


def test_h16_two_writer_deadlock_is_detected_as_l4() -> None:
    setup = WorldSetup("map", Config(), REFERENCE)
    sim = Simulator(setup, SimOptions(seed=3))
    sim.join("w0", writer=True)
    sim.join("w1", writer=True)
    assert sim.run_until(lambda w: len(w.leaders()) == 1, limit_ms=20_000)
    sim.write("w0", tuple(MapInsert(i, i) for i in range(3)))
    assert sim.run_until(quiescent, limit_ms=sim.world.now_ms + 10_000)
    sim.write("w0", (MapInsert(100, 1),))
    sim.act(node_poll_action, "w0")
    sim.break_bond("w0", "w1")  # the voter w1 misses an entry and starts a session
    sim.restore_bond("w0", "w1")
    sim.write("w0", (MapInsert(101, 1),))
    found = _ids(_settle(sim))
    # A documented limitation of both profiles: the TakeSnapshot needs w1's own vote.
    assert found["L4"] == 1
    assert found["L1"] == 1


# -- mutants: I6, I11 (direct), I14, I16, RAFT-ES, L3, L5 --------------------------------------


def _session_world() -> World:
    sim = _sim("map", REFERENCE, batch=1)
    sim.write("w0", tuple(MapInsert(i, i) for i in range(20)))
    sim.run_until(
        lambda w: w.nodes["r1"].node.committed.index >= 20, limit_ms=sim.world.now_ms + 5_000
    )
    sim.join("r2", writer=False)

    def anchored(w: World) -> bool:
        s = w.nodes["r2"].node.catchup
        return s is not None and s.anchor is not None and bool(s.inflight)

    assert sim.run_until(anchored, limit_ms=sim.world.now_ms + 5_000)
    return sim.world


def _mutate(world: World, name: str, node: NodeState) -> list[Violation]:
    checker = Checker(world.setup)
    after = world.with_node(name, node)
    return checker.check(Transition("mutant", {}, world, after))


def _with_session(node: NodeState, **changes: Any) -> NodeState:
    role, session = node.role, node.catchup
    if not isinstance(role, FollowerRole) or session is None:
        raise AssertionError("the node has no session to mutate")
    return replace(node, role=replace(role, catchup=replace(session, **changes)))


def test_mutant_peer_bookkeeping_violates_i6() -> None:
    world = _session_world()
    node = world.nodes["r2"].node
    assert node.catchup is not None
    stranger = world.nodes["r2"].peer
    bad = _with_session(node, available_peers=node.catchup.available_peers | {stranger})
    assert "I6" in _ids(_mutate(world, "r2", bad))


def test_mutant_commit_regression_violates_i11() -> None:
    world = _session_world()
    node = world.nodes["r1"].node
    bad = replace(node, committed=Cursor(node.committed.term, Index(node.committed.index - 1)))
    assert "I11" in _ids(_mutate(world, "r1", bad))


def test_mutant_retry_timer_violates_l3() -> None:
    world = _session_world()
    node = world.nodes["r2"].node
    bad = _with_session(
        node,
        anchor=None,
        anchor_candidates=pmap(),
        available_peers=frozenset(),
        inflight=pmap(),
        fetched=pmap(),
        gap_start=None,
        gap_end=None,
        snapshot_len=0,
        snapshot_request_deadline_ms=None,
        retry_due=False,
    )
    assert "L3" in _ids(_mutate(world, "r2", bad))


def test_mutant_upgrade_without_offer_violates_l5() -> None:
    world = _session_world()
    node = world.nodes["r2"].node
    session = node.catchup
    assert session is not None
    assert session.anchor is not None
    higher = Cursor(session.anchor.term, Index(session.anchor.index + 5))
    bad = _with_session(node, anchor=higher, anchor_candidates=pmap())
    assert "L5" in _ids(_mutate(world, "r2", bad))


def test_mutant_second_leader_violates_election_safety() -> None:
    world = _session_world()
    leader = world.nodes["w0"].node
    r1 = world.nodes["r1"].node
    assert isinstance(leader.role, LeaderRole)
    bad = replace(r1, term=leader.term, role=replace(leader.role, heartbeat_deadline_ms=0))
    assert "RAFT-ES" in _ids(_mutate(world, "r1", bad))


def test_forged_offer_with_a_wrong_term_violates_i14() -> None:
    sim = _sim("map", MOSAIK_0_3_13, Fault.FORGE)
    sim.write("w0", (MapInsert(1, 1),))
    sim.run_until(
        lambda w: w.nodes["r1"].node.committed.index >= 1, limit_ms=sim.world.now_ms + 5_000
    )
    offer = SnapshotOffer(SnapshotInfo(Cursor(Term(9), Index(1)), 1))
    sim.act(forge_message, "r1", "w0", offer)
    while sim.world.queue("r1", "w0"):
        sim.act(deliver_message, "r1", "w0")
    assert any(v.id == "I14" and "term 1" in v.detail for v in sim.violations)


def test_mutant_pruning_past_committed_violates_i16(monkeypatch: pytest.MonkeyPatch) -> None:
    real = impl.raft.prune_safe_prefix

    def prune_too_far(node: NodeState) -> NodeState:
        pruned = real(node)
        return replace(pruned, log=pruned.log.prune_prefix(node.committed.index))

    sim = _sim("map", REFERENCE)
    monkeypatch.setattr(impl.raft, "prune_safe_prefix", prune_too_far)
    sim.write("w0", (MapInsert(1, 1), MapInsert(2, 2)))
    sim.run_until(
        lambda w: w.nodes["w0"].node.committed.index >= 2, limit_ms=sim.world.now_ms + 5_000
    )
    assert "I16" in _ids(sim.violations)


def test_every_check_is_named_and_documented() -> None:
    ids = {i for inv in INVARIANTS for i in inv.ids}
    assert {f"I{n}" for n in range(1, 17)} <= ids
    assert {"L2", "L3", "L5"} <= ids
    for inv in INVARIANTS:
        doc = inv.check.__doc__ or ""
        assert any(i in doc for i in inv.ids), inv.title


def _vec_insert_past_end(profile: Profile) -> Simulator:
    from impl.collections.vec import VecInsert

    sim = _sim("vec", profile)
    sim.write("w0", (VecInsert(5, 1),))  # index 5 > len 0
    _settle(sim)
    return sim


def test_h23_panic_is_reported_and_crashes_the_node() -> None:
    sim = _vec_insert_past_end(get_profile("reference", ["H23"]))
    panics = [v for v in sim.violations if v.id == "PANIC"]
    # The leader panics while committing its own R1: the step is atomic, so its
    # AppendEntries never leaves and the followers never apply the entry.
    assert {v.node for v in panics} == {"w0"}
    assert all("H23" in v.detail for v in panics)
    assert sim.world.nodes["w0"].status.value == "crashed"
    clean = _vec_insert_past_end(REFERENCE)
    assert not clean.violations
    assert all(slot.up for slot in clean.world.nodes.values())


def test_mutant_serving_expired_requests_violates_i13(monkeypatch: pytest.MonkeyPatch) -> None:
    from impl.config import Config as ConfigClass

    def never_expired(self: ConfigClass, request: object, now_wall_ms: int) -> bool:
        del self, request, now_wall_ms
        return False

    sim = _sim("map", REFERENCE)
    sim.write("w0", tuple(MapInsert(i, i) for i in range(10)))
    sim.run_until(
        lambda w: w.nodes["r1"].node.committed.index >= 10, limit_ms=sim.world.now_ms + 5_000
    )
    from spec.model.actions import set_clock_skew

    sim.act(set_clock_skew, "r1", 60_000)  # r1's clock runs a minute ahead: beyond the TTL
    monkeypatch.setattr(ConfigClass, "is_expired", never_expired)
    sim.join("r2", writer=False)
    _settle(sim)
    assert any(v.id == "I13" and v.node == "r1" and "fresh" in v.detail for v in sim.violations)


def test_mutant_step_refusing_its_state_is_reported_as_step(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import impl.session
    from impl.errors import InvalidState

    def refuse(*args: object, **kwargs: object) -> object:
        raise InvalidState("finalize refused (mutant)")

    sim = _sim("map", REFERENCE)
    sim.write("w0", tuple(MapInsert(i, i) for i in range(10)))
    sim.run_until(
        lambda w: w.nodes["r1"].node.committed.index >= 10, limit_ms=sim.world.now_ms + 5_000
    )
    monkeypatch.setattr(impl.session, "finalize_sync", refuse)
    sim.join("r2", writer=False)
    found = sim.violations + _settle(sim)
    assert any(v.id == "STEP" and v.node == "r2" and "mutant" in v.detail for v in found)
    assert sim.world.nodes["r2"].status.value == "crashed"
