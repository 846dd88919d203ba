"""Slow links (:meth:`spec.hunt.driver.Driver.hold`): delays longer than an election timeout
on bonds that stay up, and the raft campaigns built on them (docs/hunt.md §10).

Each campaign's prelude reaches its divergent-log state under the reference rules; each
finds a deliberately broken Raft rule (monkeypatched, as in test_raft_properties.py) with
a shrunk trace that replays; the reference passes them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import impl.raft
from impl.node_state import FollowerRole, LeaderRole
from impl.profile import REFERENCE
from impl.records import evolve
from impl.types import Cursor, Index, Term
from spec.hunt import machine
from spec.hunt.campaigns import get_campaign
from spec.hunt.driver import Driver
from spec.hunt.machine import run_prelude
from spec.hunt.runner import hunt
from spec.hunt.scenario import GroupShape, build_group, world_setup
from spec.hunt.swarm import Call, Program, run_program
from spec.sim.replay import replay_file


def _at(term: int, index: int) -> Cursor:
    return Cursor(Term(term), Index(index))


DELAY_CAMPAIGNS = ("figure-8-delays", "stale-candidate", "two-writers")


def _group(writers: int, readers: int = 0) -> Driver:
    shape = GroupShape(kind="map", items=1, batch=1, writers=writers, readers=readers,
                       lagging=0, joint_election=True)  # fmt: skip
    d = Driver(world_setup(shape, REFERENCE))
    build_group(d, shape)
    return d


def test_a_slow_link_delays_without_a_break_and_delivers_in_order_on_release() -> None:
    d = _group(3)
    run_prelude(d, ("write",))
    queued = [i.mid for i in d.world.queue("w0", "w1")]
    assert queued
    d.hold("w0", "w1")
    d.settle(10_000)  # several election timeouts
    w = d.world
    assert [i.mid for i in w.queue("w0", "w1")][: len(queued)] == queued  # held, in order
    assert w.bonded("w0", "w1")
    assert not d.partitioned
    assert not d.world.queue("w0", "w2")  # the other links flowed
    assert ("w0", "w1") not in d.unheld_directions()
    d.release("w0")
    assert d.held == frozenset()
    start = len(d.log)
    d.settle(0)
    delivered = [
        item.mid
        for t, _ in d.log[start:]
        if t.action == "deliver_message" and (t.args["src"], t.args["dst"]) == ("w0", "w1")
        for item in t.delivered
    ]
    assert delivered[: len(queued)] == queued  # FIFO, nothing lost
    d.hold("w1")  # a slow node: every link to and from it
    assert {("w1", "w0"), ("w0", "w1"), ("w1", "w2"), ("w2", "w1")} <= d.held
    assert d.held_nodes() == ["w0", "w1", "w2"]
    d.heal()  # the drain's heal ends every delay
    assert d.held == frozenset()
    fork = d.fork()
    d.hold("w2")
    assert fork.held == frozenset()


def test_the_slow_link_rules_hold_and_release() -> None:
    c = get_campaign("two-writers")
    shape = (("kind", "map"), ("items", 1), ("batch", 1), ("writers", 2), ("readers", 0),
             ("lagging", 0))  # fmt: skip
    calls = (
        Call("release", (("who", 0),)),
        Call("slow_link", (("which", 0),)),
        Call("slow_node", (("who", 1),)),
        Call("settle", (("window", 0), ("slow", None))),
    )
    run = run_program(Program(c, shape, ()), REFERENCE)
    assert run.failure is None
    run = run_program(Program(c, shape, calls), REFERENCE)
    assert run.failure is None, run.failure
    # release needs a slow link (the prelude's): it ran, then each rule in turn.
    assert [call.rule for call in run.executed] == [call.rule for call in calls]


def test_figure_8_delays_prelude_reaches_figure_8() -> None:
    """w0 leads term 3 with its term-1 entry on w0 and w1 only (uncommitted: two terms
    old); w2, a follower of term 3 that never heard w0 lead, holds a term-2 entry there."""
    d = _group(5)
    run_prelude(d, get_campaign("figure-8-delays").prelude)
    n = {name: d.world.nodes[name].node for name in d.world.up_names()}
    assert isinstance(n["w0"].role, LeaderRole)
    assert int(n["w0"].term) == 3
    assert n["w0"].log.last() == n["w1"].log.last() == _at(1, 2)
    assert n["w0"].committed.index == 1
    assert isinstance(n["w2"].role, FollowerRole)
    assert int(n["w2"].term) == 3
    assert n["w2"].log.last() == _at(2, 2)
    assert d.held == {("w0", "w2")}
    assert not d.partitioned
    assert d.findings == []


def test_stale_candidate_prelude_reaches_an_older_log_of_equal_length() -> None:
    d = _group(3)
    run_prelude(d, get_campaign("stale-candidate").prelude)
    n = {name: d.world.nodes[name].node for name in d.world.up_names()}
    assert isinstance(n["w1"].role, LeaderRole)
    assert n["w1"].committed == _at(2, 2)
    assert n["w0"].log.last() == _at(1, 2)
    assert n["w0"].committed.index == 1
    assert d.held == frozenset()
    assert d.findings == []


def _commit_two_terms_back() -> Callable[..., Any]:
    # Raft's commitment rule loosened by one term (Figure 8).
    def rule(node: Any, ctx: Any, index: Any) -> bool:
        term = node.log.term_at(index)
        return term is not None and int(term) + 2 >= int(node.term)

    return rule


def _vote_by_index_only() -> Callable[..., Any]:
    real = impl.raft.maybe_cast_vote

    def vote(node: Any, ctx: Any, sender: Any, rv: Any) -> Any:
        # The up-to-date check compares indices: a log as long, of an older term, is equal.
        last = node.log.last()
        if rv.log_position < last and rv.log_position.index >= last.index:
            rv = evolve(rv, log_position=last)
        return real(node, ctx, sender, rv)

    return vote


def _quorum_ceil_half() -> Callable[..., Any]:
    def quorum_index(c: Any) -> Any:
        # ceil(n/2) voters: one of a committee of two.
        indices = sorted(c.voters.values())
        return indices[len(indices) - (len(indices) + 1) // 2]

    return quorum_index


def _prev_term_ignored() -> Callable[..., Any]:
    real = impl.raft.follower_on_append_entries

    def on_append(node: Any, ctx: Any, sender: Any, ae: Any) -> Any:
        # The consistency check asks only that an entry exists at prev's index.
        prev = ae.prev_log_position
        local = node.log.term_at(prev.index)
        if local is not None and local != prev.term:
            ae = evolve(ae, prev_log_position=Cursor(local, prev.index))
        return real(node, ctx, sender, ae)

    return on_append


BROKEN = {
    "figure-8-delays": ("commits_by_counting", _commit_two_terms_back, {"RAFT-LC", "RAFT-SM"}),
    "stale-candidate": ("maybe_cast_vote", _vote_by_index_only, {"RAFT-LC", "STEP"}),
    "two-writers": ("highest_quorum_index", _quorum_ceil_half, {"RAFT-LC", "RAFT-SM"}),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_each_delay_campaign_finds_a_broken_raft_rule(
    name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    rule, make, ids = BROKEN[name]
    monkeypatch.setattr(impl.raft, rule, make())
    monkeypatch.setattr(machine, "_GROUPS", {})  # groups built by the broken rules
    report = hunt(
        REFERENCE,
        budget_s=60,
        rounds=4,
        campaigns=[get_campaign(name)],
        stop_on_first=True,
        trace_dir=tmp_path,
    )
    assert report.violations, name
    v = report.violations[0]
    assert v.id in ids, v.as_json()
    assert v.campaign == name
    assert v.trace is not None
    assert v.shrunk_steps <= 12
    replayed = replay_file(v.trace)
    assert replayed.complete
    assert replayed.divergence is None


def test_log_repair_with_the_prev_term_ignored_is_found(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A follower whose entry at prev conflicts is taken as consistent (RAFT-LM or I9)."""
    monkeypatch.setattr(impl.raft, "follower_on_append_entries", _prev_term_ignored())
    monkeypatch.setattr(machine, "_GROUPS", {})
    report = hunt(
        REFERENCE,
        budget_s=60,
        rounds=2,
        campaigns=[get_campaign(n) for n in ("figure-8-delays", "stale-candidate")],
        stop_on_first=True,
        trace_dir=tmp_path,
    )
    assert {v.id for v in report.violations} & {"RAFT-LM", "I9"}, [
        v.as_json() for v in report.violations
    ]


def test_the_reference_passes_the_delay_campaigns() -> None:
    report = hunt(
        REFERENCE, budget_s=60, rounds=2, campaigns=[get_campaign(n) for n in DELAY_CAMPAIGNS]
    )
    assert report.violations == [], [v.as_json() for v in report.violations]
    assert {lim["id"] for lim in report.limitations} <= {"L1"}  # H30-tail only
