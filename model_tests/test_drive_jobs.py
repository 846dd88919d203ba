"""``snapsync drive --jobs N`` (issue #15): walks as slots on workers, each with its own adapter.

What must hold: the slots accepted are those one process runs, with the results it
gets, whatever order the workers finish in (the scheduler against a fake pool, every
finishing order); a real drive under ``mosaik-0.3.13`` finds the same failures with
byte-identical shrunk traces with ``--jobs 1`` and ``--jobs 2`` for a fixed seed, a walk
run ahead without a key found before it being run again; Ctrl-C prints the walks so
far, exits 130 and leaves no worker and no adapter running.
"""

from __future__ import annotations

import functools
import json
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from impl.profile import get_profile
from model_tests.interrupt import alive, ctrl_c
from spec.conformance.drive import DriveSettings, drive
from spec.hunt.campaigns import get_campaign
from spec.parallel.ahead import run_ahead
from spec.parallel.pool import Done

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
MOSAIK_ADAPTER = f"{PY} -m spec.cli adapter --profile mosaik-0.3.13"
REFERENCE_ADAPTER = f"{PY} -m spec.cli adapter"

# -- the scheduler, against every finishing order ------------------------------------------------


@dataclass(frozen=True, slots=True)
class Walked:
    """A model of a walk: it meets ``keys`` in order and stops at the first it was not given."""

    number: int
    known: frozenset[str]
    found: frozenset[str]
    seen: frozenset[str]
    ignored: frozenset[str]
    """What it reports that depends on the keys it was given (as a drive trace's header)."""

    def valid_for(self, known: frozenset[str]) -> bool:
        return self.known <= known and not (known - self.known) & self.seen


def walked(paths: dict[int, list[str]], task: tuple[int, frozenset[str]]) -> Walked:
    n, known = task
    met: list[str] = []
    for key in paths.get(n, []):
        met.append(key)
        if key not in known:
            return Walked(n, known, frozenset({key}), frozenset(met), known & set(met))
    return Walked(n, known, frozenset(), frozenset(met), known & set(met))


def sequential(paths: dict[int, list[str]], end: int) -> list[tuple[Any, ...]]:
    known: frozenset[str] = frozenset()
    out = []
    for n in range(end):
        w = walked(paths, (n, known))
        known |= w.found
        out.append((w.number, w.found, w.ignored))
    return out


class FakePool:
    """Runs each task as it is submitted and hands the results back in a random order."""

    def __init__(self, jobs: int, rng: random.Random) -> None:
        self.jobs = jobs
        self.rng = rng
        self.running: dict[int, Any] = {}
        self.next_task = 0
        self.interrupted = False
        self.cancelled: list[int] = []

    @property
    def idle(self) -> int:
        return self.jobs - len(self.running)

    def submit(self, fn: Any, arg: Any) -> int:
        task = self.next_task
        self.next_task += 1
        self.running[task] = fn(arg)
        return task

    def cancel(self, task: int) -> None:
        self.cancelled.append(task)
        self.running.pop(task, None)

    def interrupt(self) -> None:
        self.interrupted = True

    def next_done(self, timeout: float | None = None) -> Done | None:
        if not self.running:
            return None
        task = self.rng.choice(sorted(self.running))
        return Done(task, self.running.pop(task), 0.0, 0)

    def notes(self) -> list[tuple[int, Any]]:
        return []


@settings(max_examples=300, deadline=None)
@given(
    paths=st.dictionaries(
        st.integers(0, 11), st.lists(st.sampled_from("abcde"), max_size=4), max_size=12
    ),
    end=st.integers(1, 12),
    jobs=st.integers(2, 5),
    order=st.integers(0, 2**32),
)
def test_accepted_slots_are_those_one_process_runs(
    paths: dict[int, list[str]], end: int, jobs: int, order: int
) -> None:
    pool = FakePool(jobs, random.Random(order))
    ahead = run_ahead(
        lambda n, known: (n, known),
        functools.partial(walked, paths),
        jobs=jobs,
        end=end,
        budget_s=1e9,
        started=time.perf_counter(),
        pool=pool,
    )
    got = [(w.number, w.found, w.ignored) for w in ahead.accepted]
    assert got == sequential(paths, end)
    assert ahead.stopped is None


def test_a_result_that_met_a_key_found_before_it_is_run_again() -> None:
    # Slot 1 meets "a" (found by slot 0) while both run: it must run again given "a", and
    # then goes past it to "b". A scheduler that kept the first result would report "a"
    # twice (the mutant below).
    paths = {0: ["a"], 1: ["a", "b"], 2: ["c"]}
    expected = sequential(paths, 3)
    assert [e[1] for e in expected] == [{"a"}, {"b"}, {"c"}]
    for order in range(20):
        pool = FakePool(3, random.Random(order))
        ahead = run_ahead(
            lambda n, known: (n, known),
            functools.partial(walked, paths),
            jobs=3,
            end=3,
            budget_s=1e9,
            started=time.perf_counter(),
            pool=pool,
        )
        assert [(w.number, w.found, w.ignored) for w in ahead.accepted] == expected
        assert ahead.reruns >= 1
    # Mutant: every result valid whatever it met.
    broken = functools.partial(_always_valid, paths)
    pool = FakePool(3, random.Random(0))
    ahead = run_ahead(
        lambda n, known: (n, known), broken, jobs=3, end=3, budget_s=1e9, started=0.0, pool=pool
    )
    assert [(w.number, w.found, w.ignored) for w in ahead.accepted] != expected


@dataclass(frozen=True, slots=True)
class _Lenient(Walked):
    def valid_for(self, known: frozenset[str]) -> bool:
        return True


def _always_valid(paths: dict[int, list[str]], task: tuple[int, frozenset[str]]) -> Walked:
    w = walked(paths, task)
    return _Lenient(w.number, w.known, w.found, w.seen, w.ignored)


# -- a real drive: --jobs 1 and --jobs 2 give the same findings and traces ------------------------


def _drive(jobs: int, traces: Path) -> Any:
    return drive(
        DriveSettings(MOSAIK_ADAPTER, "lagging"),
        get_profile("reference"),
        budget_s=600,
        seed=2,
        trace_dir=traces,
        campaigns=[get_campaign("lost-sources")],
        rounds=3,
        shrink_budget_s=600,
        max_shrinks=4,
        jobs=jobs,
    )


def test_drive_jobs_2_finds_what_jobs_1_finds_with_the_same_traces(tmp_path: Path) -> None:
    one = _drive(1, tmp_path / "one")
    two = _drive(2, tmp_path / "two")
    assert (one.jobs, two.jobs) == (1, 2)
    assert one.walks == two.walks == 3
    assert (one.model_steps, one.requests) == (two.model_steps, two.requests)
    # Walk 0 finds H6; walk 1 (run ahead, usually meeting H6 too: then run again) goes past
    # it to H1.
    assert [f.key for f in one.findings][:2] == ["CONFORM:H6|H7", "CONFORM:H1"]

    def same(f: Any) -> dict[str, Any]:
        data: dict[str, Any] = f.as_json()
        data.pop("seconds_to_find")
        data["trace"] = Path(data["trace"]).name if data["trace"] else None
        return data

    assert [same(f) for f in one.findings] == [same(f) for f in two.findings]
    assert all(f.shrink in ("converged", "runs") for f in one.findings)
    for f in one.findings:
        assert f.trace is not None
        name = Path(f.trace).name
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()
    # Nothing else was kept: the slots run ahead and dropped left no trace.
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == sorted(
        Path(f.trace).name for f in one.findings if f.trace
    )


# -- Ctrl-C ------------------------------------------------------------------------------------


def test_ctrl_c_reports_the_walks_so_far_and_leaves_no_adapter(tmp_path: Path) -> None:
    pids = tmp_path / "adapters"
    adapter = f"sh -c 'echo $$ >> {pids}; exec {REFERENCE_ADAPTER}'"
    code, out, err = ctrl_c(
        [
            *(PY, "-m", "spec.cli", "drive", "--adapter", adapter, "--budget", "300"),
            *("--jobs", "2", "--traces", str(tmp_path / "t"), "--json"),
        ],
        # The probe, then one shared adapter per worker.
        started=lambda _: pids.exists() and len(pids.read_text().split()) >= 3,
        settle_s=3,  # some walks finish
        what="the workers' adapters",
    )
    assert code == 130, err
    report = json.loads(out)
    assert report["stopped"] == "interrupt"
    assert report["jobs"] == 2
    assert report["walks"] > 0
    started = [int(p) for p in pids.read_text().split()]
    assert [p for p in started if alive(p)] == []
