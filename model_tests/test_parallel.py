"""The parallel package: worker processes, ordered results, stops, and no orphaned process.

* :func:`map_ordered` returns the same list for every ``jobs`` and start method,
  whatever order the workers finish in.
* A task that raises, or a worker that dies, is a :class:`WorkerError` naming the task.
* Cancel, notes and interrupt behave as :mod:`spec.parallel.pool` says; after any of
  them, and after an error, no worker process is left.
* A worker whose parent is killed with SIGKILL exits by itself.
* ``--jobs`` refuses what is not a number of workers.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from spec.parallel import MAX_JOBS, Pool, WorkerError, default_jobs, map_ordered, parse_jobs
from spec.parallel.pool import at_worker_exit, note
from spec.robust.stop import stop_point

ROOT = Path(__file__).resolve().parent.parent


# Tasks: module-level, so workers can unpickle them by name.


def square_after(arg: tuple[int, float]) -> tuple[int, int]:
    """Return the square of ``arg[0]`` after sleeping ``arg[1]`` s, and the worker's pid."""
    value, delay = arg
    time.sleep(delay)
    return value * value, os.getpid()


def fail_on(value: int) -> int:
    if value == 3:
        raise ValueError("three is not allowed")
    return value


def die(_: int) -> int:
    os._exit(7)


def spin(seconds: float) -> str:
    """Busy for ``seconds``, with stop points (a stop ends it: the Stop escapes)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        stop_point()
    return "finished"


def nap(arg: tuple[int, float]) -> int:
    """Sleep ``arg[1]`` s in short naps with stop points; return ``arg[0]``."""
    value, seconds = arg
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        stop_point()
        time.sleep(0.02)
    return value


def stubborn(seconds: float) -> str:
    """Busy for ``seconds`` without a stop point: only SIGTERM or SIGKILL ends it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass
    return "finished"


def with_a_child(pid_file: str) -> str:
    """Start a child process (as a conformance task starts an adapter), then hang without
    a stop point; the ``finally`` ends the child."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        Path(pid_file).write_text(str(child.pid))
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        time.sleep(120)
        return "finished"
    finally:
        child.kill()
        child.wait()


def keeps_a_resource(path: str) -> str:
    """Register a cleanup that writes ``path`` when the worker ends."""
    at_worker_exit(lambda: Path(path).write_text("cleaned"))
    return "registered"


def noisy(_: int) -> str:
    note("halfway")
    return "done"


def alive(pid: int) -> bool:
    """Check if ``pid`` runs (a zombie waiting for its reaper counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def wait_gone(pids: list[int], seconds: float = 5.0) -> list[int]:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        left = [p for p in pids if alive(p)]
        if not left:
            return []
        time.sleep(0.05)
    return [p for p in pids if alive(p)]


def _drain(pool: Pool) -> None:
    while pool.next_done(timeout=10) is not None:
        pass


# -- map_ordered ----------------------------------------------------------------------------------


@pytest.mark.parametrize("jobs", [1, 2, 3])
def test_results_come_back_in_the_tasks_order_whatever_finishes_first(jobs: int) -> None:
    # Later tasks are quicker, and the cost hint starts the last ones first.
    args = [(i, 0.02 * (6 - i)) for i in range(6)]
    mapped = map_ordered(square_after, args, jobs=jobs, cost=lambda a: a[0])
    assert mapped.complete
    assert mapped.stopped is None
    assert [r[0] for r in mapped.in_order()] == [i * i for i in range(6)]
    pids = {r[1] for r in mapped.in_order()}
    if jobs == 1:
        assert pids == {os.getpid()}  # no process started at all
    else:
        assert os.getpid() not in pids
        assert len(pids) <= jobs


def test_spawned_workers_give_the_same_results(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("spec.parallel.pool.start_method", lambda: "spawn")
    args = [(i, 0.0) for i in range(5)]
    mapped = map_ordered(square_after, args, jobs=2)
    assert [r[0] for r in mapped.in_order()] == [i * i for i in range(5)]


def test_on_done_sees_every_result_once() -> None:
    seen: list[int] = []
    args = [(i, 0.0) for i in range(5)]
    map_ordered(square_after, args, jobs=2, on_done=lambda i, r: seen.append(i))
    assert sorted(seen) == list(range(5))


# -- errors ---------------------------------------------------------------------------------------


def test_a_task_that_raises_is_a_worker_error_and_leaves_no_worker() -> None:
    with Pool(2) as pool:
        pids = pool.pids()
        for v in range(5):
            pool.submit(fail_on, v)
        with pytest.raises(WorkerError, match="three is not allowed") as info:
            _drain(pool)
    assert info.value.task == 3
    assert "ValueError" in info.value.detail
    assert wait_gone(pids, 0.1) == []


def test_a_worker_that_dies_is_a_worker_error() -> None:
    with Pool(1) as pool:
        pool.submit(die, 0)
        with pytest.raises(WorkerError, match=r"died \(exit code 7\)"):
            _drain(pool)


def test_an_unpicklable_result_is_a_worker_error() -> None:
    with Pool(1) as pool:
        pool.submit(eval, "lambda: 0")
        with pytest.raises(WorkerError, match="pickle"):
            _drain(pool)


def test_a_task_that_cannot_be_handed_over_is_a_worker_error() -> None:
    with Pool(1) as pool, pytest.raises(WorkerError, match="cannot hand the task over"):
        pool.submit(lambda x: x, 1)  # a lambda cannot be pickled
    assert wait_gone(pool.pids(), 0.1) == []


# -- cancel, notes, interrupt ---------------------------------------------------------------------


def test_cancel_drops_a_queued_task_and_interrupts_a_running_one() -> None:
    with Pool(1) as pool:
        running = pool.submit(spin, 30.0)
        queued = pool.submit(spin, 30.0)
        after = pool.submit(square_after, (4, 0.0))
        time.sleep(0.2)
        started = time.monotonic()
        pool.cancel(queued)
        pool.cancel(running)
        done = pool.next_done(timeout=10)
        assert done is not None
        assert (done.task, done.value[0]) == (after, 16)
        assert time.monotonic() - started < 5  # the running task was stopped, not waited for
        assert pool.next_done(timeout=0.1) is None


def test_notes_reach_the_parent_before_the_result() -> None:
    with Pool(1) as pool:
        task = pool.submit(noisy, 0)
        got: list[tuple[int, object]] = []
        done = None
        while done is None:
            done = pool.next_done(timeout=5)
            got += pool.notes()
        assert got == [(task, "halfway")]
        assert done.value == "done"


def test_interrupt_returns_stopped_tasks_and_ends_stubborn_ones_after_the_grace() -> None:
    with Pool(2, grace_s=1.0) as pool:
        pids = pool.pids()
        a = pool.submit(spin, 30.0)
        b = pool.submit(stubborn, 30.0)
        c = pool.submit(spin, 30.0)  # queued: dropped by the interrupt
        time.sleep(0.3)
        started = time.monotonic()
        pool.interrupt()
        finished = []
        while (done := pool.next_done(timeout=5)) is not None:
            finished.append(done)
        assert time.monotonic() - started < 4
        assert sorted(d.task for d in finished) == [a, b]
        assert all(d.stopped and d.value is None for d in finished)
        assert c not in {d.task for d in finished}
    assert wait_gone(pids, 0.1) == []


def test_leaving_the_pool_ends_busy_workers() -> None:
    with Pool(2) as pool:
        pids = pool.pids()
        pool.submit(stubborn, 60.0)
        pool.submit(spin, 60.0)
        time.sleep(0.2)
    assert wait_gone(pids, 0.1) == []


def test_a_worker_ended_by_sigterm_ends_the_process_its_task_started(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    with Pool(1) as pool:
        pool.submit(with_a_child, str(pid_file))
        end = time.monotonic() + 30
        while not pid_file.exists() and time.monotonic() < end:
            time.sleep(0.05)
        child = int(pid_file.read_text())
        assert alive(child)
    # Leaving the pool terminated the busy worker: its cleanup ended the child.
    assert wait_gone([child]) == []


@pytest.mark.parametrize("busy", [False, True], ids=["told to exit", "terminated"])
def test_a_worker_runs_its_cleanups_when_it_ends(tmp_path: Path, busy: bool) -> None:
    marker = tmp_path / "cleaned"
    with Pool(1) as pool:
        pool.submit(keeps_a_resource, str(marker))
        assert pool.next_done(timeout=30) is not None
        if busy:  # still running a task when the pool closes: SIGTERM
            pool.submit(stubborn, 60.0)
            time.sleep(0.3)
    assert marker.read_text() == "cleaned"


def test_one_pool_serves_several_maps() -> None:
    with Pool(2) as pool:
        first = map_ordered(square_after, [(i, 0.0) for i in range(4)], jobs=2, pool=pool)
        second = map_ordered(square_after, [(i, 0.0) for i in range(4, 8)], jobs=2, pool=pool)
        pids = set(pool.pids())
    assert [r[0] for r in first.in_order() + second.in_order()] == [i * i for i in range(8)]
    assert {r[1] for r in first.in_order() + second.in_order()} <= pids


def test_a_ctrl_c_in_map_ordered_keeps_the_finished_results() -> None:
    # The parent gets SIGINT (as from a terminal) while two quick tasks are done and two
    # slow ones run: the slow ones stop, the quick ones' results are kept.
    script = (
        "import os, signal, json\n"
        "from spec.parallel import map_ordered\n"
        "from spec.robust.stop import signals_handled\n"
        "from model_tests.test_parallel import nap\n"
        # An alarm, not a timer thread: a thread would make the pool spawn, not fork.
        "signal.signal(signal.SIGALRM, lambda *_: os.kill(os.getpid(), signal.SIGINT))\n"
        "signal.setitimer(signal.ITIMER_REAL, 2.0)\n"
        "with signals_handled():\n"
        "    m = map_ordered(nap, [(1, 0.0), (2, 0.0), (3, 60.0), (4, 60.0)], jobs=2,"
        " cost=lambda a: -a[0])\n"
        "print(json.dumps({'stopped': m.stopped, 'done': sorted(m.results)}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == '{"stopped": "interrupt", "done": [0, 1]}'


def test_workers_exit_when_their_parent_is_killed() -> None:
    script = (
        "from spec.parallel import Pool\n"
        "from model_tests.test_parallel import spin\n"
        "pool = Pool(2); pool.start(); print(*pool.pids(), flush=True)\n"
        "pool.submit(spin, 120.0); pool.next_done()\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert parent.stdout is not None
    pids = [int(p) for p in parent.stdout.readline().split()]
    assert len(pids) == 2
    assert all(alive(p) for p in pids)
    parent.kill()  # SIGKILL: no cleanup runs in the parent
    parent.wait()
    parent.stdout.close()
    assert wait_gone(pids) == []


# -- the option -----------------------------------------------------------------------------------


def test_default_jobs_is_the_cores_this_process_may_use() -> None:
    expected = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert default_jobs() == expected


@pytest.mark.parametrize("text", ["0", "-1", "2.5", "nan", "", "two", str(MAX_JOBS + 1)])
def test_jobs_refuses_what_is_not_a_number_of_workers(text: str) -> None:
    refused = rf"must be in \[1, {MAX_JOBS}\]|expected an integer"
    with pytest.raises(argparse.ArgumentTypeError, match=refused):
        parse_jobs(text)
