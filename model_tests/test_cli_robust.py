"""The CLI keeps its promises (docs/cli.md): issue #14's five classes, and a fuzzer.

One test (at least) per class of issue #14 fails on the main it was filed against:

1. tracebacks: an unwritable output path, Ctrl-C (partial report, exit 130), a hunt
   whose trace cannot be written (the finding must survive);
2. replay as a verifier: model_tests/test_trace_tamper.py;
3. numbers that make no sense, and filters that match nothing, are refused;
4. the codec fails only with CodecError (also model_tests/test_codec_fuzz.py);
5. budgets and livelocks end, progress shows on a terminal only, ``check --json``
   keeps deterministic content apart from timings.
"""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from impl.codec import DATUM, loads
from impl.errors import CodecError
from impl.profile import REFERENCE
from spec.cli import build_parser, main
from spec.commands import check
from spec.commands.check import run_check
from spec.hunt.campaigns import get_campaign
from spec.hunt.runner import hunt
from spec.robust import stop
from spec.robust.stop import FINISH_GRACE_S
from spec.sim.replay import replay_file
from spec.sim.workload import SimulationSpec, simulate

ROOT = Path(__file__).resolve().parent.parent
SNAPSYNC = [sys.executable, "-c", "import sys; from spec.cli import main; sys.exit(main())"]


@pytest.fixture(autouse=True)
def _clean_stop_state() -> Iterator[None]:
    stop.reset()
    yield
    stop.reset()


@pytest.fixture(scope="module")
def small_trace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "small.jsonl"
    simulate(SimulationSpec(items=20, batch=5), trace_path=path)
    return path


def _one_line_error(err: str, *needles: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("snapsync"), err
    assert "error" in lines[0], err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], (needle, err)


# -- class 1: no traceback; Ctrl-C keeps what was found ------------------------------------------


def test_unwritable_output_paths_are_one_line_errors(
    tmp_path: Path, small_trace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue #14: ``simulate --trace /nonexistent/dir/t.jsonl`` raised a Python exception."""
    a_file = tmp_path / "file"
    a_file.write_text("x")
    cases = [
        (["simulate", "--items", "5", "--trace", "/nonexistent/dir/t.jsonl"], "--trace"),
        (["replay", str(small_trace), "--dot", str(a_file / "d.dot")], "--dot"),
        (["scenarios", "--filter", "map/empty", "--trace-dir", str(a_file / "t")], "--trace-dir"),
        (["hunt", "--budget", "1", "--traces", str(a_file / "t")], "--traces"),
    ]
    for argv, option in cases:
        assert main(argv) == 2, argv
        _one_line_error(capsys.readouterr().err, option)


def test_a_finding_survives_a_trace_that_cannot_be_written(tmp_path: Path) -> None:
    """Issue #14: when the hunt could not write its trace, the I/O error replaced the finding."""
    a_file = tmp_path / "file"
    a_file.write_text("x")
    report = hunt(
        REFERENCE.with_hazards(["H4"]),
        budget_s=60,
        stop_on_first=True,
        trace_dir=a_file / "traces",  # cannot be created: its parent is a file
        campaigns=[get_campaign("positions")],
        shrink_budget_s=2,
    )
    assert report.violations, "the H4 campaign finds H4 at once"
    violation = report.violations[0]
    assert violation.id != "ERROR"
    assert violation.trace is None
    assert violation.trace_error is not None
    assert "cannot write" in violation.trace_error


def test_a_stopped_simulation_reports_what_ran_and_its_trace_replays(tmp_path: Path) -> None:
    trace = tmp_path / "stopped.jsonl"

    def interrupt(_phase: str, sim: Any) -> None:
        stop.request_stop()  # at the first progress report (every 256 steps)

    report = simulate(SimulationSpec(items=2000, batch=10), trace_path=trace, progress=interrupt)
    assert report.stopped == "interrupt"
    assert report.converged is False
    assert report.steps == 256
    stop.reset()  # the request stays until reset, so that enclosing work stops too
    result = replay_file(trace)
    assert result.exact  # the partial trace ends with the end record of the state reached
    assert result.steps == report.steps


def test_a_stopped_replay_is_never_exact(small_trace: Path) -> None:
    def interrupt(done: int, _total: int) -> None:
        stop.request_stop()

    result = replay_file(small_trace, progress=interrupt)
    assert result.stopped == "interrupt"
    assert not result.exact
    assert 0 < result.lines < result.total_lines


def test_a_stopped_hunt_reports_the_work_done() -> None:
    def interrupt(report: Any, campaign: str) -> None:
        if campaign not in ("done", "stopped"):
            stop.request_stop()  # as the first call starts

    report = hunt(REFERENCE, budget_s=120, progress=interrupt)
    assert report.stopped == "interrupt"
    assert report.elapsed_s < 30
    assert sum(c.calls for c in report.campaigns.values()) == 1  # the stopped call counts


def test_a_stopped_check_reports_its_rows_and_never_passes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(check, "_stage_prove", lambda p: ("2 obligations: 2 proved", True))

    def interrupt_after_the_proofs(row: check.Row) -> None:
        if row.stage == "prove" and row.profile == "mosaik-0.3.13":
            stop.request_stop()

    rows, stopped = run_check(5, 0, on_row=interrupt_after_the_proofs, jobs=1)
    assert stopped == "interrupt"
    assert [(r.stage, r.interrupted) for r in rows] == [
        ("prove", False),
        ("prove", False),
        ("scenarios", True),
        ("scenarios", True),
        ("explore", True),
        ("explore", True),
    ]
    assert rows[2].outcome.startswith("interrupted: 0 of ")
    assert rows[4].outcome == "interrupted: 0 of 1 tasks done"
    assert not any(r.as_expected for r in rows[2:])


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _interrupt_after(argv: list[str], cpu_s: float) -> tuple[int, str, str]:
    """Run snapsync, send SIGINT once it has worked ``cpu_s`` CPU seconds (imports
    included), return (status, stdout, stderr)."""
    proc = subprocess.Popen(
        [*SNAPSYNC, *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if _cpu_seconds(proc.pid) >= cpu_s:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the command ended before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    return proc.returncode, out, err


CTRL_C = [
    pytest.param(["simulate", "--items", "300000", "--batch", "100", "--json"], id="simulate"),
    pytest.param(["hunt", "--budget", "300", "--json"], id="hunt", marks=pytest.mark.slow),
    pytest.param(["check", "--json", "--max-size", "10"], id="check", marks=pytest.mark.slow),
    pytest.param(["replay", "{trace}", "--json"], id="replay", marks=pytest.mark.slow),
]
"""Ctrl-C through the real signal path. One runs by default; the in-process tests above
cover each command's partial report quickly, these (``-m slow``) the signal for each."""


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
@pytest.mark.parametrize("argv", CTRL_C)
def test_ctrl_c_stops_cleanly_with_the_partial_report(argv: list[str], tmp_path: Path) -> None:
    """Issue #14: Ctrl-C printed a KeyboardInterrupt traceback and no output."""
    if "{trace}" in argv:
        trace = tmp_path / "big.jsonl"
        simulate(SimulationSpec(items=100_000, batch=100), trace_path=trace)
        argv = [str(trace) if a == "{trace}" else a for a in argv]
    status, out, err = _interrupt_after(argv, 3.0)
    assert status == stop.INTERRUPTED, (status, err)
    assert "Traceback" not in err
    report = json.loads(out)
    assert report["stopped"] == "interrupt"
    if argv[0] == "replay":
        assert report["exact"] is False
        assert 0 < report["lines"] < report["total_lines"]
    if argv[0] == "check":
        assert report["passed"] is False
        assert report["rows"]
    if argv[0] == "simulate":
        assert report["converged"] is False


# -- class 3: numbers that make no sense are refused; empty filters are errors ---------------------

BAD_NUMBERS = ["nan", "inf", "-inf", "-1", "1e999", "99999999999999999999999", "x", ""]
NUMERIC_OPTIONS = [
    ["simulate", "--items"],
    ["simulate", "--batch"],
    ["simulate", "--providers"],
    ["simulate", "--writes-during-sync"],
    ["simulate", "--seed"],
    ["hunt", "--budget"],
    ["hunt", "--examples"],
    ["hunt", "--walks"],
    ["hunt", "--shrink-budget"],
    ["hunt", "--seed"],
    ["check", "--max-size"],
    ["check", "--hunt-budget"],
    ["scenarios", "--max-size"],
    ["scenarios", "--seed"],
    ["bench", "simulate", "--sizes"],
    ["bench", "simulate", "--batch"],
    ["bench", "simulate", "--frozen-items"],
    ["bench", "simulate", "--repeat"],
    ["bench", "chunks", "--items"],
    ["bench", "chunks", "--batch"],
    ["bench", "actions", "--items"],
    ["bench", "actions", "--rounds"],
    ["bench", "hunt", "--seconds"],
]


@pytest.mark.parametrize("option", NUMERIC_OPTIONS, ids=" ".join)
def test_every_numeric_option_refuses_nonsense_naming_the_option(
    option: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    for value in BAD_NUMBERS:
        assert main([*option, value]) == 2, (option, value)
        _one_line_error(capsys.readouterr().err, option[-1])


def test_nan_budget_is_refused_at_once() -> None:
    """Issue #14: ``hunt --budget nan`` never ended."""
    done = subprocess.run(
        [*SNAPSYNC, "hunt", "--budget", "nan"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 2
    _one_line_error(done.stderr, "--budget", "nan")


def test_a_filter_that_matches_nothing_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    """Issue #14: ``scenarios --filter`` matching nothing printed "all as expected"."""
    assert main(["scenarios", "--filter", "no-such-case"]) == 2
    _one_line_error(capsys.readouterr().err, "--filter", "matches no case")
    assert main(["prove", "--only", "no/such"]) == 2
    _one_line_error(capsys.readouterr().err, "no obligation")


# -- class 4: the codec fails only with its own errors ---------------------------------------------


def test_the_codec_fails_only_with_codec_errors() -> None:
    """Issue #14: deep nesting raised RecursionError; lone surrogates were accepted."""
    with pytest.raises(CodecError):
        loads("[" * 100_000 + "]" * 100_000, DATUM)
    with pytest.raises(CodecError):
        loads('["ok", "\\ud800"]', DATUM)


# -- class 5: budgets, livelocks, progress, deterministic JSON -----------------------------------

MUTANT = """
import sys
import impl.session as s
from impl.session import ItemRange, idle_peer_order, _q11a, _first_unassigned

def busy_peers_too(st, ctx, now_ms):
    # Q11 broken on purpose: every available peer gets a chunk, busy or not.
    if st.anchor is None or st.gap_start is None or st.gap_end is None:
        return st, []
    if st.gap_start >= st.gap_end:
        return st, []
    cursor, idle, msgs = _first_unassigned(st), idle_peer_order(st.available_peers, st.leader), []
    while cursor < st.gap_end and idle:
        end = min(cursor + ctx.config.fetch_batch_size, st.gap_end)
        st, sent = _q11a(st, ctx, idle.pop(0), st.anchor, ItemRange(cursor, end), now_ms)
        msgs += sent
        cursor = end
    return st, msgs

s._q11 = busy_peers_too
from spec.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_livelock_is_a_reported_finding_not_a_hang() -> None:
    """Issue #14: with Q11 broken (chunks assigned to busy peers) ``check`` ran for more
    than 10 minutes; the scenario's step budget now ends it as a livelock."""
    done = subprocess.run(
        [sys.executable, "-c", MUTANT, "scenarios", "--filter", "map/extreme_batch_sizes(100, 1)",
         "--profile", "reference", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        check=False,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    (result,) = json.loads(done.stdout)["results"]
    assert result["outcome"] == "livelock"
    assert result["status"] == "UNEXPLAINED"
    assert "step budget" in result["message"]


def test_the_hunt_ends_within_its_budget_plus_the_documented_overshoot() -> None:
    budget = 3.0
    started = time.perf_counter()
    report = hunt(REFERENCE.with_hazards(["H4", "H10"]), budget_s=budget, shrink_budget_s=60)
    elapsed = time.perf_counter() - started
    assert elapsed <= budget + FINISH_GRACE_S + 1.0, elapsed
    assert report.stopped is None


def test_check_json_keeps_deterministic_content_apart_from_timings(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue #14: ``check --json`` mixed seconds and rates into its rows. The proof stage
    is stubbed here and the scenarios are the small ones (model_tests/test_check.py runs
    them for real)."""
    from spec.explore import stage
    from spec.explore.config import ExploreConfig

    monkeypatch.setattr(check, "_stage_prove", lambda p: ("2 obligations: 2 proved", True))
    monkeypatch.setattr(stage, "CHECK_CONFIG", ExploreConfig(readers=0, writes=0))
    assert main(["check", "--hunt-budget", "1", "--max-size", "10", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {r["stage"] for r in out["rows"]} == {"prove", "scenarios", "hunt", "explore"}
    text = json.dumps(out["rows"])
    assert "seconds" not in text
    assert "/s" not in text
    assert "rule_steps" not in text
    assert all(set(t) >= {"stage", "profile", "seconds"} for t in out["timings"])
    hunt_timing = next(t for t in out["timings"] if t["stage"] == "hunt")
    assert "rule_steps_per_s" in hunt_timing
    explore_timing = next(t for t in out["timings"] if t["stage"] == "explore")
    assert "states_per_s" in explore_timing


def _stderr_through(argv: list[str], terminal: bool) -> bytes:
    env = {**os.environ, "TERM": "xterm", "COLUMNS": "100"}
    if not terminal:
        done = subprocess.run(
            [*SNAPSYNC, *argv], capture_output=True, cwd=ROOT, env=env, check=False
        )
        assert done.returncode == 0
        return done.stderr
    controller, child = pty.openpty()
    proc = subprocess.Popen(
        [*SNAPSYNC, *argv], stdout=subprocess.DEVNULL, stderr=child, cwd=ROOT, env=env
    )
    os.close(child)
    seen = b""
    while True:
        ready, _, _ = select.select([controller], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(controller, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        elif proc.poll() is not None:
            break
    os.close(controller)
    assert proc.wait() == 0
    return seen


def test_progress_on_a_terminal_and_none_on_a_pipe() -> None:
    argv = ["replay", str(ROOT / "docs" / "findings" / "H4.trace.jsonl")]
    assert _stderr_through(argv, terminal=False) == b""
    assert b"replay" in _stderr_through(argv, terminal=True)


# -- the CLI fuzzer ------------------------------------------------------------------------------

HOSTILE = [
    "nan",
    "inf",
    "-1",
    "0",
    "1",
    "2",
    "1e999",
    "18446744073709551616",
    "",
    " ",
    "x",
    "\udcff",
    "١",
    "/nonexistent/dir/x",
]
"""Values for any option: nonsense, the smallest numbers, bad paths, invalid text."""

BOUNDED: dict[tuple[str, ...], list[str]] = {
    ("bench", "simulate"): ["--sizes", "10", "--frozen-items", "10", "--repeat", "1"],
    ("bench", "chunks"): ["--items", "10"],
    ("bench", "actions"): ["--items", "5", "--rounds", "1", "--repeat", "1", "--writes", "1"],
    ("bench", "hunt"): ["--seconds", "0.3"],
    ("bench", "explore"): ["--config", "smallest"],
    ("explore",): ["--readers", "0", "--writes", "0"],
    ("hunt",): ["--budget", "1"],
    ("check",): ["--max-size", "2", "--hunt-budget", "0.5"],
    ("simulate",): ["--items", "20"],
}
"""Options that keep a command's defaults small (the fuzzer adds its own after them)."""


def _commands() -> dict[tuple[str, ...], Any]:
    """Every (sub)command's parser, by its words."""
    out: dict[tuple[str, ...], Any] = {}

    def visit(words: tuple[str, ...], parser: Any) -> None:
        subs = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
        if words:
            out[words] = parser
        for sub in subs:
            for name, child in sub.choices.items():
                visit((*words, name), child)

    visit((), build_parser())
    return out


COMMANDS = _commands()


@st.composite
def invocations(draw: st.DrawFn, files: dict[str, str]) -> list[str]:
    words = draw(st.sampled_from(sorted(COMMANDS)))
    parser = COMMANDS[words]
    argv = [*words, *BOUNDED.get(words, [])]
    options = [a for a in parser._actions if a.option_strings and a.dest != "help"]
    positionals = [a for a in parser._actions if not a.option_strings and a.dest != "help"]
    for action in (
        draw(st.lists(st.sampled_from(options), max_size=3, unique_by=id)) if options else []
    ):
        flag = action.option_strings[-1]
        if action.nargs == 0:
            argv.append(flag)
            continue
        pool = list(HOSTILE) + list(files.values())
        if action.choices:
            pool += [str(c) for c in action.choices]
        argv += [flag, draw(st.sampled_from(pool))]
    for action in positionals:
        if action.__class__.__name__ == "_SubParsersAction":
            continue
        argv.append(draw(st.sampled_from([*files.values(), *HOSTILE])))
    return argv


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, small_trace: Path) -> dict[str, str]:
    tmp = tmp_path_factory.mktemp("fuzz")
    garbage = tmp / "garbage.jsonl"
    garbage.write_bytes(b"\xff\xfe{not json\n")
    empty = tmp / "empty.jsonl"
    empty.write_text("")
    return {
        "trace": str(small_trace),
        "v1": str(ROOT / "model_tests" / "__init__.py"),
        "garbage": str(garbage),
        "empty": str(empty),
        "dir": str(tmp),
        "out": str(tmp / "out.jsonl"),
    }


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_cli_fuzzer_no_traceback_and_one_line_errors(
    files: dict[str, str], data: st.DataObject, capsys: pytest.CaptureFixture[str]
) -> None:
    """Any command with any options: exit 0, 1 or 2; an error is one line; no traceback,
    no internal error (status 70). Each run is stopped after 1 s (a budget), in a scratch
    directory (relative paths it draws, such as ``--dot nan``, are written there)."""
    argv = data.draw(invocations(files))
    stop.reset()
    cwd = os.getcwd()
    os.chdir(files["dir"])
    try:
        with stop.deadline(1.0):
            status = main(argv)
    finally:
        os.chdir(cwd)
    _, err = capsys.readouterr()
    assert "Traceback" not in err, (argv, err)
    assert status in (0, 1, 2), (argv, status, err)
    if status == 2:
        _one_line_error(err)
