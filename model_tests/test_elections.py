"""Election timeouts: fixed ones livelock a stale writer's elections; mosaik's redraws do not.

mosaik draws a fresh ``base + U[0, jitter)`` at every re-arm of the election
timer (inventory §3.2). The model redraws it from (seed, name, incarnation,
term, re-arms in the term) (:class:`spec.model.state.ElectionTiming`).
"""

from __future__ import annotations

import pytest

from impl.errors import CodecError, InvalidInput
from impl.messages import Command
from spec.hunt.client_commands import seed_commands
from spec.model.actions import join_late, leave, restart_empty
from spec.model.state import ElectionTiming, World, WorldSetup
from spec.sim.simulator import SimOptions, Simulator
from spec.sim.trace import decode_args

HORIZON_MS = 60_000


def _terms(world: World) -> int:
    return max(int(s.node.term) for s in world.nodes.values() if s.up)


def _stale_writer_run(redraw: ElectionTiming | None) -> tuple[Simulator, list[int]]:
    """3 writers: w1 leads, writes, leaves; w0 restarts empty with the shortest timeout.

    Returns the simulator after ``HORIZON_MS`` and the leader-term samples taken every 5 s.
    """
    sim = Simulator(WorldSetup(kind="map"), SimOptions(seed=3))
    sim.act(join_late, "w1", writer=True, election_timeout_ms=500, redraw=redraw)
    sim.act(join_late, "w0", writer=True, election_timeout_ms=1_000, redraw=redraw)
    sim.act(join_late, "w2", writer=True, election_timeout_ms=2_100, redraw=redraw)
    sim.run_until(lambda w: w.leaders() == ("w1",), limit_ms=2_000)
    assert sim.world.leaders() == ("w1",)
    commands: tuple[Command, ...] = seed_commands("map", 3)
    sim.write("w1", commands)
    sim.run_until(lambda w: int(w.nodes["w2"].node.committed.index) >= 3, limit_ms=5_000)
    sim.act(leave, "w1")
    # w0 loses its log (stale) and keeps the shortest timeout.
    sim.act(restart_empty, "w0", election_timeout_ms=1_000)
    start = sim.world.now_ms
    samples: list[int] = []
    for k in range(1, HORIZON_MS // 5_000 + 1):
        sim.run_until(lambda _w: False, limit_ms=start + 5_000 * k)
        leaders = sim.world.leaders()
        samples.append(int(sim.world.nodes[leaders[0]].node.term) if leaders else -1)
    return sim, samples


def test_fixed_timeouts_livelock_a_stale_writers_elections() -> None:
    sim, samples = _stale_writer_run(redraw=None)
    # w0 always times out first, w2 denies it (stale log) and steps down: no leader, ever.
    assert samples == [-1] * len(samples)
    assert sim.world.leaders() == ()
    assert _terms(sim.world) > HORIZON_MS // 1_100
    assert sim.violations == []


def test_redrawn_timeouts_elect_a_leader_that_stays() -> None:
    sim, samples = _stale_writer_run(redraw=ElectionTiming(2_000, 500, seed=3))
    assert sim.world.leaders() == ("w2",)
    assert all(s >= 0 for s in samples[1:])
    # Once elected, the leader keeps its term for the rest of the horizon.
    assert len(set(samples[1:])) == 1
    assert _terms(sim.world) < 20
    # The stale writer caught up from the new leader.
    assert sim.world.nodes["w0"].node.committed == sim.world.nodes["w2"].node.committed
    assert sim.violations == []


@pytest.mark.parametrize("seed", [0, 1, 2, 7, 11])
def test_redrawn_timeouts_elect_a_leader_for_several_seeds(seed: int) -> None:
    sim, _ = _stale_writer_run(redraw=ElectionTiming(2_000, 500, seed=seed))
    assert sim.world.leaders() == ("w2",)
    assert _terms(sim.world) < 30


def test_draws_are_fresh_per_term_rearm_and_incarnation() -> None:
    t = ElectionTiming(2_000, 500, seed=5)
    draws = {
        t.draw(name, inc, term, arms)
        for name in ("w0", "w1")
        for inc in (0, 1)
        for term in range(5)
        for arms in range(5)
    }
    assert all(2_000 <= d < 2_500 for d in draws)
    assert len(draws) > 50  # 100 keys over 500 values: almost all distinct
    assert t.draw("w0", 0, 1, 0) == ElectionTiming(2_000, 500, seed=5).draw("w0", 0, 1, 0)
    assert {ElectionTiming(2_000, 500, seed=s).draw("w0", 0, 1, 0) for s in range(8)} != {
        t.draw("w0", 0, 1, 0)
    }


def test_redraw_rule_is_recorded_and_decoded() -> None:
    sim = Simulator(WorldSetup(kind="map"), SimOptions(seed=9))
    t = sim.join("w0", writer=True)
    assert t.args["redraw"] == {"base_ms": 2_000, "jitter_ms": 500, "seed": 9}
    assert decode_args(t.args)["redraw"] == ElectionTiming(2_000, 500, 9)
    fixed = Simulator(WorldSetup(kind="map"), SimOptions(redraw_election_timeouts=False))
    assert "redraw" not in fixed.join("w0", writer=True).args


def test_invalid_election_timing_is_rejected() -> None:
    with pytest.raises(InvalidInput, match="jitter_ms"):
        ElectionTiming(2_000, -1)
    with pytest.raises(InvalidInput, match="base_ms"):
        ElectionTiming(True, 1)
    with pytest.raises(CodecError, match=r"args\.redraw"):
        decode_args({"redraw": {"base_ms": 1, "jitter_ms": 1}})
    with pytest.raises(CodecError, match=r"args\.redraw"):
        decode_args({"redraw": [1, 2, 3]})
    sim = Simulator(WorldSetup(kind="map"))
    with pytest.raises(InvalidInput, match="ElectionTiming"):
        join_late(sim.world, "w0", writer=True, election_timeout_ms=1, redraw={"base_ms": 1})  # type: ignore[arg-type]
