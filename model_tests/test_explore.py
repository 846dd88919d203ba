"""The explorer (spec/explore): search, shortest counterexamples, liveness on the graph, CLI."""

from __future__ import annotations

import json
from array import array
from dataclasses import replace
from pathlib import Path

import pytest

from impl.profile import MOSAIK_0_3_13, REFERENCE, get_profile
from spec.cli import main
from spec.explore import search as search_module
from spec.explore.config import ExploreConfig
from spec.explore.liveness import analyse
from spec.explore.report import Report, explore
from spec.explore.search import GOAL, OPEN, Expander, Explorer, ExploreResult
from spec.model.actions import memoised_steps
from spec.model.faults import parse_faults
from spec.model.fingerprint import Fingerprinter
from spec.model.liveness import quiescent
from spec.sim.replay import replay_file

TINY = ExploreConfig(kind="map", items=1, batch=1, readers=0, lagging=1, writes=0)
"""One provider (the leader), one lagging reader: a few hundred states."""


def test_reference_tiny_is_complete_without_violation_dead_end_or_stall() -> None:
    report = explore(TINY)
    r = report.result
    assert r.complete
    assert r.stopped is None
    assert not r.violations
    assert report.liveness is not None
    assert report.liveness.dead_ends == 0
    assert not report.liveness.stalls
    assert report.liveness.goals > 0
    assert {"session_start", "anchor_select", "session_finalize"} <= set(r.situations)
    assert report.ok


def test_h4_shortest_counterexample_is_a_replayable_trace(tmp_path: Path) -> None:
    config = ExploreConfig(
        kind="depq", items=1, readers=0, writes=1, profile=get_profile("reference", ["H4"])
    )
    report = explore(replace(config, stop_on_first=True), trace_dir=tmp_path)
    found = report.result.violations
    assert "I15" in found
    assert found["I15"].depth == 5
    (ce,) = [c for c in report.counterexamples if c.id == "I15"]
    assert ce.length == 5
    assert len(ce.moves) == 5
    assert ce.replay_exact
    assert ce.replay_found
    replayed = replay_file(ce.trace or "")
    assert replayed.exact
    assert Path(ce.diagram or "").exists()
    assert json.loads(Path(ce.trace or "").read_text().splitlines()[0])["meta"]["explore"][
        "id"
    ] == ("I15")


def test_h6_is_a_dead_end_and_a_stall_on_the_graph_alone(tmp_path: Path) -> None:
    """With the per-step liveness checks left out, no invariant fails under H6, and the
    graph still shows that the session can never finish."""
    config = replace(TINY, profile=get_profile("reference", ["H6"]), step_liveness=False)
    report = explore(config, trace_dir=tmp_path)
    assert not report.result.violations
    live = report.liveness
    assert live is not None
    assert live.dead_ends > 0
    assert any(s.bottom for s in live.stalls)
    dead = [c for c in report.counterexamples if c.kind == "dead-end"]
    assert dead
    assert dead[0].replay_exact
    assert not report.ok
    # With them, L2 (a dead session state after a poll) reports it too.
    with_l2 = explore(replace(config, step_liveness=True))
    assert "L2" in with_l2.result.violations


def test_a_goal_that_needs_empty_queues_shows_a_fair_stall_converged_does_not() -> None:
    """The stall check finds fair cycles without goal states: with 'quiescent' (nothing in
    flight) as the goal, a converged group whose heartbeats are always one interval late
    never reaches it — a fair, non-bottom cycle. 'Converged' is the explorer's goal."""
    explorer = Explorer(TINY)
    worlds: dict[bytes, object] = {}
    step = explorer.expander.step

    def recording(state, move, key):  # type: ignore[no-untyped-def]
        got = step(state, move, key)
        if got is not None:
            worlds.setdefault(got.key, got.state.world)
        return got

    explorer.expander.step = recording  # type: ignore[method-assign]
    result = explorer.run()
    assert not analyse(result).stalls
    strict = _with_goal(result, lambda k: k in worlds and quiescent(worlds[k]))  # type: ignore[arg-type]
    stalls = analyse(strict).stalls
    assert stalls
    assert not any(s.bottom for s in stalls)


def _with_goal(result: ExploreResult, goal: object) -> ExploreResult:
    flags = bytearray(result.flags)
    for v, key in enumerate(result.keys):
        flags[v] &= ~GOAL
        if v and goal(key):  # type: ignore[operator]
            flags[v] |= GOAL
    return replace(result, flags=flags)


def _toy(
    edges: list[tuple[int, int, int]], enabled: list[set[int]], goals: set[int]
) -> ExploreResult:
    r = ExploreResult(TINY)
    r.keys = [bytes([v]) for v in range(len(enabled))]
    r.parent = array("i", [0] * len(enabled))
    r.depth = array("i", range(len(enabled)))
    r.flags = bytearray(GOAL if v in goals else 0 for v in range(len(enabled)))
    r.enabled_sets = [frozenset(e) for e in enabled]
    r.enabled = array("i", range(len(enabled)))
    r.src = array("i", [a for a, _, _ in edges])
    r.dst = array("i", [b for _, b, _ in edges])
    r.fair = array("i", [c for _, _, c in edges])
    r.fair_classes = [("deliver", "a", "b"), ("time",)]
    return r


def test_weak_fairness_per_component() -> None:
    # 0 → 1 ⇄ 2, and 1 → 3 (the goal) by class 1 (time), enabled at 1 and 2.
    cycle = [(0, 1, 0), (1, 2, 0), (2, 1, 0), (1, 3, 1)]
    unfair = _toy(cycle, [{0}, {0, 1}, {0, 1}, set()], {3})
    assert not analyse(unfair).stalls  # time is always enabled on the cycle, never taken
    fair = _toy(cycle, [{0}, {0, 1}, {0}, set()], {3})
    (stall,) = analyse(fair).stalls  # time is off at 2: a fair run may cycle forever
    assert stall.states == 2
    assert stall.entry == 1
    assert not stall.bottom
    assert stall.cycle in ((1, 2, 1),)
    trapped = _toy([(0, 1, 0), (1, 2, 0), (2, 1, 0)], [{0}, {0}, {0}], set())
    (bottom,) = analyse(trapped).stalls
    assert bottom.bottom
    assert analyse(trapped).dead_ends == 3


def test_bounds_leave_states_unexpanded_and_incomplete() -> None:
    capped = Explorer(replace(TINY, max_states=40)).run()
    assert capped.stopped == "max-states"
    assert not capped.complete
    assert capped.states >= 40
    shallow = Explorer(replace(TINY, max_depth=4)).run()
    assert not shallow.complete
    assert shallow.max_depth == 4
    live = analyse(shallow)
    assert live.dead_ends == 0  # open states count as able to converge
    assert live.unknown > 0


def test_memoised_steps_change_no_state_or_transition() -> None:
    fast = Explorer(TINY).run()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(search_module, "memoised_steps", _NoMemo)
        slow = Explorer(TINY).run()
    assert (fast.states, fast.transitions, fast.max_depth) == (
        slow.states,
        slow.transitions,
        slow.max_depth,
    )
    assert list(fast.src) == list(slow.src)
    assert list(fast.dst) == list(slow.dst)


class _NoMemo:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *_: object) -> None:
        return None


def test_memoised_steps_return_the_same_transition_records() -> None:
    explorer = Explorer(replace(TINY, writes=1))
    state = explorer.initial_state()
    plain = []
    for _ in range(12):
        successors = explorer.expander.expand(state)
        plain.append([(s.move, s.key) for s in successors])
        state = successors[0].state
    state = explorer.initial_state()
    with memoised_steps():
        for expected in plain:
            successors = explorer.expander.expand(state)
            assert [(s.move, s.key) for s in successors] == expected
            successors_again = explorer.expander.expand(state)
            assert [(s.move, s.key) for s in successors_again] == expected
            state = successors[0].state


def test_deadline_jumps_lose_no_untimed_state_against_a_finer_clock() -> None:
    """Time moves to the next deadline; a clock that may also stop every 250 ms (half the
    heartbeat, the quantum of every timing constant) reaches more timed states but no
    other untimed one (docs/explore.md, the time abstraction)."""
    projections = []
    shared = Fingerprinter(TINY.setup)
    for grain in (0, 250):
        explorer = Explorer(replace(TINY, grain_ms=grain))
        seen = {explorer.initial_state().world}
        step = explorer.expander.step

        def recording(state, move, key, step=step, seen=seen):  # type: ignore[no-untyped-def]
            got = step(state, move, key)
            if got is not None:
                seen.add(got.state.world)
            return got

        explorer.expander.step = recording  # type: ignore[method-assign]
        result = explorer.run()
        assert result.complete
        projections.append((result.states, {shared.untimed_key(w) for w in seen}))
    (coarse_states, coarse), (fine_states, fine) = projections
    assert fine_states > coarse_states
    assert coarse == fine


def test_symmetry_merges_renamed_readers_and_loses_no_orbit_here() -> None:
    """Two lagging readers are interchangeable up to their peer ids: with symmetry, the
    search keeps one state per orbit; to the depth explored, the orbits it reaches are
    exactly the orbits of the states the plain search reaches (nothing lost here), and
    it keeps fewer states."""
    both = ExploreConfig(kind="map", items=1, readers=0, lagging=2, writes=0, max_depth=9)
    worlds: dict[str, list[object]] = {}
    counts = {}
    for name, config in (("plain", both), ("symmetric", replace(both, symmetry=True))):
        explorer = Explorer(config)
        seen = worlds.setdefault(name, [explorer.initial_state()])
        step = explorer.expander.step

        def recording(state, move, key, step=step, seen=seen):  # type: ignore[no-untyped-def]
            got = step(state, move, key)
            if got is not None and (got.changed or got.violations):
                seen.append(got.state)
            return got

        explorer.expander.step = recording  # type: ignore[method-assign]
        result = explorer.run()
        counts[name] = result.states
        if name == "symmetric":
            assert result.renamings == 2
            orbit = explorer.keys
    assert counts["symmetric"] < counts["plain"] <= 2 * counts["symmetric"]
    plain_orbits = {orbit.key(s) for s in worlds["plain"]}  # type: ignore[arg-type]
    merged = {orbit.key(s) for s in worlds["symmetric"]}  # type: ignore[arg-type]
    assert plain_orbits == merged
    assert len(merged) == counts["symmetric"]


def test_configurations_explored_in_one_process_do_not_leak_into_each_other() -> None:
    alone = Explorer(replace(TINY, writes=1)).run().states
    Explorer(TINY).run()  # a configuration without writes first
    assert Explorer(replace(TINY, writes=1)).run().states == alone


def test_expansion_is_a_function_of_the_state() -> None:
    one, two = Expander(TINY), Expander(TINY)
    state = Explorer(TINY).initial_state()
    a = [(s.move, s.key) for s in one.expand(state)]
    b = [(s.move, s.key) for s in two.expand(state)]
    assert [m for m, _ in a] == [m for m, _ in b]


# -- the command ---------------------------------------------------------------------------


def test_cli_json_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dot = tmp_path / "graph.dot"
    status = main(
        [
            "explore",
            "--readers",
            "0",
            "--writes",
            "0",
            "--traces",
            str(tmp_path),
            "--dot",
            str(dot),
            "--json",
        ]
    )
    out = json.loads(capsys.readouterr().out)
    assert status == 0
    assert out["complete"]
    assert out["ok"]
    assert out["states"] == explore(TINY).result.states
    assert out["violations"] == {}
    assert out["liveness"]["dead_ends"] == 0
    assert "fetch_timeout" in out["sometimes"]
    assert set(out["vacuous"]) <= set(out["sometimes"])
    text = dot.read_text()
    assert text.startswith("digraph")
    assert "#d3f9d8" in text


def test_a_graph_too_large_to_draw_is_skipped_with_a_note(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from spec.explore import report as report_module

    monkeypatch.setattr(report_module, "DOT_LIMIT", 10)
    dot = tmp_path / "graph.dot"
    args = ["--readers", "0", "--writes", "0", "--traces", str(tmp_path), "--dot", str(dot)]
    assert main(["explore", *args]) == 0
    assert "state graph not written" in capsys.readouterr().out
    assert not dot.exists()


def test_cli_finds_a_hazard_and_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(
        ["explore", "--readers", "0", "--writes", "0", "--hazard", "H6", "--traces", str(tmp_path)]
    )
    out = capsys.readouterr().out
    assert status == 1
    assert "L2" in out
    assert "dead ends" in out
    assert "replays exactly" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--items", "-1"], "argument --items: must be in [0, 64], got -1"),
        (["--max-states", "nan"], "argument --max-states: expected an integer, got 'nan'"),
        (["--depth", "2.5"], "argument --depth: expected an integer, got '2.5'"),
        (["--batch", "0"], "argument --batch: must be in [1, 1000], got 0"),
        (["--lagging", "3"], "argument --lagging: must be in [1, 2], got 3"),
        (["--jobs", "0"], "argument --jobs"),
        (["--behaviour", "nope"], "argument --behaviour: invalid choice: 'nope'"),
        (["--hazard", "H99"], "H99"),
        (["--fault", "bogus"], "unknown fault 'bogus'"),
        (["--collection", "tree"], "unknown collection kind 'tree'"),
        (["--traces", "/proc/nope"], "--traces"),
        (["--dot", "/nonexistent/dir/g.dot"], "--dot"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["explore", *args])
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1
    assert err.startswith(("snapsync: error: ", "snapsync explore: error: "))
    assert message in err


def test_cli_interrupt_gives_a_partial_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    expand = Expander.expand
    calls = [0]

    def interrupted(self, state, key=None):  # type: ignore[no-untyped-def]
        calls[0] += 1
        if calls[0] > 30:
            raise KeyboardInterrupt
        return expand(self, state, key)

    monkeypatch.setattr(Expander, "expand", interrupted)
    status = main(["explore", "--readers", "0", "--traces", str(tmp_path), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert status == 130
    assert out["stopped"] == "interrupt"
    assert not out["complete"]
    assert out["states"] > 30
    assert out["liveness"] is None


def test_check_stage_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    from spec.explore import stage

    monkeypatch.setattr(stage, "CHECK_CONFIG", TINY)
    row = stage.run_stage(REFERENCE)
    assert row.ok
    assert "complete" in row.outcome
    assert "no violation" in row.outcome
    assert row.counts["states"] == explore(TINY).result.states
    assert row.counts["dead_ends"] == 0
    assert row.measures["states_per_s"] > 0
    row = stage.run_stage(MOSAIK_0_3_13)
    assert row.ok
    assert "violations:" in row.outcome
    # A broken variant: a stage that finds nothing under mosaik is not as expected.
    monkeypatch.setattr(stage, "CHECK_CONFIG", replace(TINY, max_depth=1))
    assert not stage.run_stage(MOSAIK_0_3_13).ok


# -- each hazard alone ---------------------------------------------------------------------

SMALLEST: dict[str, tuple[int, str, int]] = {
    "H1": (1, "I4", 19),
    "H2": (1, "I4", 17),
    "H3": (1, "I7", 14),
    "H4": (0, "I15", 5),
    "H6": (0, "L2", 13),
    "H9": (0, "FRESH", 11),
    "H10": (0, "I5", 12),
}
"""Per hazard: the rung of its ladder (spec.explore.hazards.LADDERS) that first shows it,
the first violation found there and the length of its shortest counterexample."""


def _smallest(hazard: str) -> ExploreConfig:
    from spec.explore.hazards import LADDERS, spec_of
    from spec.explore.pins import config_of

    rung = SMALLEST[hazard][0]
    return config_of(spec_of(hazard, LADDERS[hazard][rung], stop_on_first=True))


_BY_NUMBER = sorted(SMALLEST, key=lambda h: int(h[1:]))
_QUICK = ("H4", "H6", "H9", "H10")
"""The hazards whose smallest configurations take under a second: their counterexamples
are replayed and their hazard-free twins explored in the default run."""


@pytest.mark.parametrize("hazard", _BY_NUMBER)
def test_each_hazard_alone_is_found_at_its_shortest_length(hazard: str) -> None:
    _, violation, length = SMALLEST[hazard]
    found = Explorer(_smallest(hazard)).run().violations
    assert violation in found
    assert found[violation].depth == length
    assert min(f.depth for f in found.values()) == length


def _counterexamples_replay_and_the_hazard_is_the_cause(hazard: str, tmp_path: Path) -> None:
    """The counterexamples replay exactly (and the one-run checker finds them), and the same
    configuration without the hazard shows no violation as deep as the counterexample."""
    config = _smallest(hazard)
    report = explore(config, trace_dir=tmp_path)
    assert report.counterexamples
    assert all(c.replay_exact and c.replay_found for c in report.counterexamples)
    length = SMALLEST[hazard][2]
    clean = replace(config, profile=REFERENCE, max_depth=length, graph=False)
    assert not Explorer(clean).run().violations


@pytest.mark.parametrize("hazard", _QUICK)
def test_hazard_counterexamples_replay_and_the_hazard_is_the_cause(
    hazard: str, tmp_path: Path
) -> None:
    _counterexamples_replay_and_the_hazard_is_the_cause(hazard, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("hazard", [h for h in _BY_NUMBER if h not in _QUICK])
def test_hazard_counterexamples_replay_and_the_hazard_is_the_cause_slow(
    hazard: str, tmp_path: Path
) -> None:
    _counterexamples_replay_and_the_hazard_is_the_cause(hazard, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("hazard", [h for h, (rung, _, _) in SMALLEST.items() if rung > 0])
def test_the_smaller_rungs_of_a_ladder_show_nothing(hazard: str) -> None:
    """Smallest: every rung below the one that shows the hazard is explored completely
    and shows nothing (the fast test above covers the finding itself)."""
    from spec.explore.hazards import LADDERS, find

    found = find(hazard)
    assert found is not None
    rung, violation, length = SMALLEST[hazard]
    assert found.config == {**found.config, **LADDERS[hazard][rung]}
    assert found.as_json()["violation"] == violation
    assert found.as_json()["length"] == length


@pytest.mark.slow
def test_h1_stalls_on_the_graph_alone(tmp_path: Path) -> None:
    """H1 explored completely without the per-step checks: dead ends and stalls on the graph
    (the per-step finding is covered fast above; H6's graph liveness by its own fast test)."""
    from spec.explore.hazards import liveness

    found = liveness("H1", tmp_path)
    row = found.as_json()
    assert row["complete"]
    assert row["dead_ends"] > 0
    assert row["stalls"] > 0


# -- --jobs ----------------------------------------------------------------------------------


def _graph(report: Report) -> tuple[object, ...]:
    r = report.result
    live = report.liveness
    return (
        r.keys,
        list(r.parent),
        list(r.depth),
        bytes(r.flags),
        list(r.src),
        list(r.dst),
        list(r.fair),
        r.fair_classes,
        [r.enabled_sets[i] for i in r.enabled],
        r.transitions,
        {v: (f.violation, f.src, f.move, f.depth, f.edges) for v, f in r.violations.items()},
        r.situations,
        r.complete,
        r.stopped,
        None if live is None else (live.dead_ends, live.dead, [s.states for s in live.stalls]),
    )


_H9_FIRST = replace(
    TINY,
    writes=1,
    write_when="any",
    restarts=1,
    faults=parse_faults(["forge"]),
    profile=get_profile("reference", ["H9"]),
    stop_on_first=True,
)
"""H9's smallest configuration: a violation (FRESH) at depth 11, after 1,291 states."""


@pytest.mark.parametrize(
    "config",
    [
        replace(TINY, breaks=1),
        _H9_FIRST,
        replace(TINY, lagging=2, symmetry=True, max_depth=12),
    ],
    ids=["break-kept-messages", "H9-first-violation", "two-lagging-symmetric"],
)
def test_jobs_give_the_same_graph_and_counterexample_traces(
    config: ExploreConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--jobs 2 expands the levels in worker processes (small chunks here, so that most
    levels do) and finds the same states, numbers, edges, flags, liveness and the same
    counterexamples, written as byte-identical traces."""
    monkeypatch.setattr(search_module, "MIN_PARALLEL_LEVEL", 4)
    one = explore(config, trace_dir=tmp_path / "one", jobs=1)
    two = explore(config, trace_dir=tmp_path / "two", jobs=2)
    assert one.result.worker_states == 0
    assert two.result.worker_states > one.result.states // 2
    assert _graph(two) == _graph(one)
    assert [c.id for c in two.counterexamples] == [c.id for c in one.counterexamples]
    for a, b in zip(one.counterexamples, two.counterexamples, strict=True):
        assert Path(a.trace or "").name == Path(b.trace or "").name
        assert Path(a.trace or "").read_bytes() == Path(b.trace or "").read_bytes()
    if config.stop_on_first:
        assert one.counterexamples
    elif config.breaks:
        assert "delivered_after_break" in one.result.situations


def test_a_worker_that_does_not_hold_its_states_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A worker expands the states it found itself; asked for one it does not hold, it says
    so, and the search fails loudly (never a silently missing state)."""
    from spec.explore.search import Part, _Worker

    explorer = Explorer(TINY)
    state = explorer.initial_state()
    key = explorer.keys.key(state)
    worker = _Worker(TINY)
    assert worker.expand(Part(TINY, 0, 0, ((7, key),), (), 1)).missing == (7,)
    given = worker.expand(Part(TINY, 0, 0, (), ((0, key, state),), 1))
    assert not given.missing
    assert [e.key for e in given.edges[0]] == [s.key for s in explorer.expander.expand(state)]
    # It kept the successors: the next level may name them by key alone.
    held = tuple((k, e.key) for k, e in enumerate(given.edges[0], start=1) if e.changed)
    assert not worker.expand(Part(TINY, 0, 1, held, (), 1)).missing

    monkeypatch.setattr(search_module, "MIN_PARALLEL_LEVEL", 2)
    original = _Worker.expand

    def forget(self: _Worker, part: Part) -> object:
        self.store.clear()
        return original(self, part)

    monkeypatch.setattr(_Worker, "expand", forget)
    with pytest.raises(RuntimeError, match="did not hold"):
        Explorer(TINY, jobs=2).run()


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_budget_stops_the_search_with_a_partial_result_and_no_worker_left(
    jobs: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    import multiprocessing

    from spec.robust import stop

    monkeypatch.setattr(search_module, "MIN_PARALLEL_LEVEL", 4)
    stop.reset()
    with stop.deadline(0.5):
        report = explore(replace(TINY, readers=1), jobs=jobs)
    r = report.result
    assert r.stopped == "budget"
    assert r.interrupted
    assert not r.complete
    assert 0 < r.states < 9_211
    assert report.liveness is None
    assert any(f & OPEN for f in r.flags)
    assert not multiprocessing.active_children()
