"""tests/groups/catchup.rs re-run with snapshot sync (inventory §6.5).

mosaik runs these with a ``Counter`` state machine and LogReplaySync. The model
has mosaik's six collections, so the counter is a Vec of operations:
``Increment(n)`` appends ``("inc", n)``, ``Decrement(n)`` appends ``("dec", n)``,
and the counter's value is their signed sum. Each command is still one log
entry; the snapshot holds one item per operation, so with ``fetch_batch_size``
= mosaik's replay batch the catch-up spans as many chunks as mosaik's does.
Expected values are mosaik's, unchanged. Expected log *indices* are adapted:
under snapshot sync every catch-up commits one ``TakeSnapshot`` entry (P2), which
LogReplaySync does not have, so an index that mosaik asserts to be ``n`` is
``n + m`` here, ``m`` being the number of TakeSnapshot entries committed at or
below it (read from the ghost log). docs/model.md lists this as a finding. g0, g1
and g2 are all writers (``Normal``); g1's commands are forwarded to the leader g0.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from impl.collections.vec import VecPushBack
from impl.messages import Command
from spec.scenarios.harness import Harness
from spec.scenarios.registry import Scenario

__all__ = ["CATCHUP_SCENARIOS", "counter_value", "dec", "inc", "markers"]

P = Mapping[str, Any]

_TIMEOUT = 2 * (3_000 + 2_000 + 500)
"""mosaik: 2 × (bootstrap_delay + election_timeout + election_timeout_jitter)."""


def inc(n: int) -> Command:
    """``CounterCommand::Increment(n)``."""
    return VecPushBack(("inc", n))


def dec(n: int) -> Command:
    """``CounterCommand::Decrement(n)``."""
    return VecPushBack(("dec", n))


def counter_value(h: Harness, name: str) -> int:
    """The counter's value at ``name`` (``CounterValueQuery``, weak consistency)."""
    total = 0
    for item in h.read(name).items:
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], int):
            total += item[1] if item[0] == "inc" else -item[1]
    return total


def markers(h: Harness, up_to: int) -> int:
    """Return how many TakeSnapshot entries the committed log holds at or below ``up_to``."""
    return sum(1 for i, _ in h.sim.world.ghost.take_snapshots if i <= up_to)


def _expect_index(h: Harness, actual: int, commands: int, what: str) -> None:
    """mosaik asserts ``actual == commands``; with snapshot sync the markers count too."""
    h.expect_eq(actual, commands + markers(h, actual), f"{what} (commands + TakeSnapshot entries)")


def _committed(h: Harness, name: str) -> int:
    return int(h.sim.world.nodes[name].node.committed.index)


def _leader_is(h: Harness, name: str, leader: str) -> None:
    peer = h.sim.world.nodes[leader].peer

    def follows(w: Any) -> bool:
        return bool(w.nodes[name].node.leader == peer)

    h._wait(follows, _TIMEOUT, f"{name} recognizes {leader} as leader")


def one_leader_one_follower_small(h: Harness, p: P) -> None:
    """4 commands (committed 4, value 6); g1 joins and catches up; 2 more give 6 and 8."""
    del p
    h.writer("g0")
    h.online("g0", _TIMEOUT)
    h.expect_eq(h.leader(), "g0", "g0.leader()")
    h.write("g0", inc(3))
    ver = h.write("g0", inc(4), dec(2), inc(1))
    h.reaches("g0", ver, 2_000)
    _expect_index(h, _committed(h, "g0"), 4, "g0.committed()")
    h.expect_eq(counter_value(h, "g0"), 6, "g0 value")
    h.writer("g1")
    _leader_is(h, "g1", "g0")
    last = int(h.sim.world.nodes["g0"].node.log.last().index)

    def log_reaches(w: Any) -> bool:
        return bool(w.nodes["g1"].node.log.last().index >= last)

    h._wait(log_reaches, 10_000, f"g1 log reaches {last}")
    h.reaches("g1", int(h.sim.world.nodes["g0"].node.committed.index), 2_000)
    h.expect_eq(counter_value(h, "g1"), 6, "g1 value")
    ver = h.write("g0", inc(5), dec(3))
    h.reaches("g1", ver, 2_000)
    _expect_index(h, _committed(h, "g1"), 6, "g1.committed()")
    h.expect_eq(counter_value(h, "g1"), 8, "g1 value")


def one_leader_one_follower_large(h: Harness, p: P) -> None:
    """200 increments; g1 catches up (19900), issues 200 more; g2 catches up to 400 (39800)."""
    del p
    h.writer("g0")
    h.online("g0", _TIMEOUT)
    ix = h.write("g0", *[inc(i) for i in range(200)], timeout_ms=5_000)
    _expect_index(h, ix, 200, "execute_many index")
    h.reaches("g0", ix, 5_000)
    h.writer("g1")
    _leader_is(h, "g1", "g0")
    h.reaches("g1", int(h.sim.world.nodes["g0"].node.log.last().index), 20_000)
    _expect_index(h, _committed(h, "g1"), 200, "g1.committed()")
    h.expect_eq(counter_value(h, "g1"), 19_900, "g1 value")
    ix = h.write("g1", *[inc(i) for i in range(200)], timeout_ms=5_000)
    _expect_index(h, ix, 400, "g1 execute_many index")
    h.reaches("g1", ix, 5_000)
    h.reaches("g0", ix, 20_000)
    h.writer("g2")
    _leader_is(h, "g2", "g0")
    h.reaches("g2", int(h.sim.world.nodes["g0"].node.log.last().index), 20_000)
    _expect_index(h, _committed(h, "g2"), 400, "g2.committed()")
    h.expect_eq(counter_value(h, "g2"), 39_800, "g2 value")


_SRC = "tests/groups/catchup.rs"

CATCHUP_SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "vec",
        "catchup.one_leader_one_follower_small",
        f"{_SRC}::one_leader_one_follower_small",
        one_leader_one_follower_small,
        expectation="g1 catches up to committed 4 / value 6, then 6 / 8",
        base_size=6,
    ),
    Scenario(
        "vec",
        "catchup.one_leader_one_follower_large",
        f"{_SRC}::one_leader_one_follower_large",
        one_leader_one_follower_large,
        tuple({"batch": b} for b in (7, 20, 100, 1000)),
        "g1 reaches 200 / 19900; g2 reaches 400 / 39800",
        "batch",
        (),
        400,
    ),
)
"""catchup.rs with a Vec-of-operations counter, under snapshot sync."""
