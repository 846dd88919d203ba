"""Worker processes: tasks in, results out as they finish, nothing left running afterwards.

A :class:`Pool` starts ``jobs`` worker processes and hands each one task at a time
(a picklable module-level function and its picklable argument) over its own pipe.
The parent keeps the queue of tasks not yet started, so a queued task can be
cancelled (:meth:`Pool.cancel`) and the order tasks start in is the order they were
submitted. :meth:`Pool.next_done` returns one finished task (:class:`Done`) at a
time, as workers finish them; which worker ran which task is recorded but never
decides a result.

Stopping follows :mod:`spec.robust.stop`. A worker runs under
:func:`~spec.robust.stop.worker_signals`: SIGINT only sets the stop flag, and the
task stops at its next :func:`~spec.robust.stop.stop_point` — returning what it had
done if it catches the :class:`~spec.robust.stop.Stop` (the hunt's calls do), or
reported as stopped if it lets it escape. :meth:`Pool.interrupt` drops the queued
tasks and sends SIGINT to every busy worker (a terminal's Ctrl-C reaches the workers
too, being in its process group: twice is harmless); :meth:`Pool.next_done` goes on
returning their results for up to ``grace_s`` (default: the
:data:`~spec.robust.stop.FINISH_GRACE_S` that shielded work may take, plus a second);
then the workers still busy are terminated and their tasks are lost. :meth:`Pool.cancel`
stops one running task the same way. Leaving the pool (:meth:`Pool.close`, the
``with`` block) ends every worker — idle ones are told to exit, the rest are
terminated then killed by a :class:`~spec.robust.stop.Children` group — and waits for
each, so no worker outlives it, whatever ended the block. A worker also exits by
itself if its parent disappears (killed with SIGKILL): it checks once per
:data:`ORPHAN_CHECK_S`. A task that leaves something running for the tasks after it
in the same worker (an adapter process) registers its end with
:func:`at_worker_exit`, which runs when the worker is told to exit or terminated.

Start method: ``fork`` when the parent has a single thread (workers start in a few
milliseconds and inherit the imported modules and caches), else ``spawn`` (forking
a process that has other threads can copy a lock one of them holds). Results do not
depend on it: a task's result depends only on its argument.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from multiprocessing.reduction import ForkingPickler
from pickle import PicklingError
from types import FrameType
from typing import Any, Protocol

from impl.errors import InvalidInput, SnapshotSyncError
from spec.robust.stop import FINISH_GRACE_S, Children, Stop, cooperative, reset, worker_signals

__all__ = [
    "ORPHAN_CHECK_S",
    "Done",
    "Pool",
    "WorkerError",
    "Workers",
    "at_worker_exit",
    "note",
    "start_method",
    "worker_setup",
]

ORPHAN_CHECK_S = 0.5
"""How often a worker checks that its parent is still alive."""

_EXIT = None  # the message that tells an idle worker to exit


class WorkerError(RuntimeError):
    """A task raised an exception in a worker, or a worker died while running one.

    ``detail`` is the worker's traceback (or how it died); a task that fails is a bug
    in the task, never an expected outcome (tasks report findings as values). A task
    that refuses its input (a :class:`~impl.errors.SnapshotSyncError`, e.g. a trace
    path it cannot write) is raised in the parent as :class:`~impl.errors.InvalidInput`
    with the same message instead, which the CLI prints as one line.
    """

    def __init__(self, task: int, summary: str, detail: str) -> None:
        self.task = task
        self.summary = summary
        self.detail = detail
        super().__init__(f"task {task} failed in a worker process: {summary}")


@dataclass(frozen=True, slots=True)
class Done:
    """A finished task."""

    task: int
    """The number :meth:`Pool.submit` returned."""
    value: Any
    """What the task's function returned (``None`` when ``stopped``)."""
    seconds: float
    """How long the function ran in its worker."""
    worker: int
    """Which worker ran it (0-based): informative only."""
    stopped: bool = False
    """The task was interrupted before its function returned anything."""


def start_method() -> str:
    """Return the start method a new pool uses (module docstring)."""
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        return "fork"
    return "spawn"


class Workers(Protocol):
    """What a scheduler needs of a :class:`Pool` (tests substitute a deterministic fake)."""

    @property
    def idle(self) -> int: ...

    @property
    def interrupted(self) -> bool: ...

    def submit(self, fn: Callable[[Any], Any], arg: Any) -> int: ...

    def cancel(self, task: int) -> None: ...

    def interrupt(self) -> None: ...

    def next_done(self, timeout: float | None = None) -> Done | None: ...

    def notes(self) -> list[tuple[int, Any]]: ...


# -- the worker side ------------------------------------------------------------------------------


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    del signum, frame
    raise SystemExit(128 + signal.SIGTERM)


def worker_setup() -> None:
    """Prepare a worker process's signals: SIGINT only asks the running task to stop at its
    next stop point (:func:`spec.robust.stop.worker_signals`); SIGTERM (the parent ending a
    worker that did not stop in time) exits at once but runs the task's cleanup
    (``finally`` blocks, ``with`` exits), so a process the task started — an adapter —
    is ended with it. The parent kills a worker that is still there a second later."""
    worker_signals()
    signal.signal(signal.SIGTERM, _on_sigterm)


def _watch_parent(parent: int) -> None:
    """Exit this worker as soon as its parent is gone (nobody would read its results)."""

    def watch() -> None:
        while True:
            time.sleep(ORPHAN_CHECK_S)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="snapsync-orphan-check", daemon=True).start()


def _describe(exc: BaseException) -> tuple[str, str]:
    summary = "".join(traceback.format_exception_only(type(exc), exc)).strip().splitlines()
    detail = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return (summary[-1] if summary else type(exc).__name__), detail


@dataclass(slots=True)
class _Current:
    """The worker's connection and the task it is running (for :func:`note`)."""

    conn: Connection | None = None
    task: int | None = None
    cleanups: list[Callable[[], object]] = field(default_factory=list)


_CURRENT = _Current()


def note(payload: Any) -> None:
    """Tell the parent something about the running task before it returns (e.g. the hunt:
    "this call found a violation and is shrinking it"). Outside a worker: nothing."""
    cur = _CURRENT
    if cur.conn is not None and cur.task is not None:
        _send(cur.conn, ("note", cur.task, payload, 0.0))


def _send(conn: Connection, message: tuple[Any, ...]) -> None:
    """Send one message: pickled first, so a value that cannot be pickled raises before
    anything is written."""
    conn.send_bytes(ForkingPickler.dumps(message))


def _run(fn: Callable[[Any], Any], arg: Any, task: int) -> tuple[Any, ...]:
    """Run one task. A stop asked for the task before (a cancel that came as it ended)
    is forgotten first; a task that lets a stop escape is reported as stopped."""
    started = time.perf_counter()
    reset()
    try:
        with cooperative():
            value = fn(arg)
        return ("ok", task, value, time.perf_counter() - started)
    except (Stop, KeyboardInterrupt):
        return ("stopped", task, None, time.perf_counter() - started)
    except SystemExit:
        raise  # SIGTERM: the worker ends
    except SnapshotSyncError as exc:  # bad input the task was given: the parent's to report
        return ("invalid", task, str(exc), time.perf_counter() - started)
    except BaseException as exc:
        return ("error", task, _describe(exc), time.perf_counter() - started)


def _worker_main(conn: Connection, parent: int) -> None:
    """A worker's loop: receive a task, run it, send back its result, until told to exit;
    then run the cleanups tasks registered (:func:`at_worker_exit`)."""
    worker_setup()
    _watch_parent(parent)
    _CURRENT.conn = conn
    try:
        _serve(conn)
    finally:
        for cleanup in reversed(_CURRENT.cleanups):
            with contextlib.suppress(Exception):
                cleanup()


def _serve(conn: Connection) -> None:
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is _EXIT:
            return
        task, payload = message
        try:
            fn, arg = ForkingPickler.loads(payload)
        except Exception as exc:  # e.g. a function a spawned worker cannot import
            reply: tuple[Any, ...] = ("error", task, _describe(exc), 0.0)
        else:
            _CURRENT.task = task
            reply = _run(fn, arg, task)
            _CURRENT.task = None
        try:
            _send(conn, reply)
        except (EOFError, OSError):
            return
        except Exception as exc:  # the value cannot be pickled: a bug in the task
            _send(conn, ("error", task, _describe(exc), reply[3]))


def at_worker_exit(cleanup: Callable[[], object]) -> None:
    """Run ``cleanup`` when this worker ends — told to exit, or terminated (SIGTERM) — e.g.
    to end an adapter process a worker keeps for all its tasks (conform, drive). Outside
    a worker it runs when the interpreter exits. (A worker killed with SIGKILL runs
    nothing: an adapter then sees its input closed.)"""
    if _CURRENT.conn is not None:
        _CURRENT.cleanups.append(cleanup)
    else:
        atexit.register(cleanup)


# -- the parent side ------------------------------------------------------------------------------


@dataclass(slots=True)
class _Worker:
    index: int
    process: BaseProcess
    conn: Connection
    task: int | None = None
    """The task it is running (None: idle)."""


@dataclass(slots=True)
class _Queued:
    task: int
    fn: Callable[[Any], Any]
    arg: Any


@dataclass(slots=True)
class _State:
    queued: deque[_Queued] = field(default_factory=deque)
    done: deque[Done] = field(default_factory=deque)
    notes: deque[tuple[int, Any]] = field(default_factory=deque)
    cancelled: set[int] = field(default_factory=set)
    interrupted_at: float | None = None


class Pool:
    """``jobs`` worker processes (module docstring). Use it as a context manager."""

    def __init__(
        self, jobs: int, *, grace_s: float = FINISH_GRACE_S + 1.0, method: str | None = None
    ) -> None:
        if jobs < 1:
            raise ValueError(f"a pool needs at least one worker, got {jobs}")
        self.jobs = jobs
        self.grace_s = grace_s
        self.method = method or start_method()
        self._workers: list[_Worker] = []
        self._children = Children(grace_s=1.0)
        self._next_task = 0
        self._state = _State()
        self._closed = False

    # -- life cycle

    def __enter__(self) -> Pool:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        """Start the worker processes (idempotent)."""
        if self._workers or self._closed:
            return
        ctx = multiprocessing.get_context(self.method)
        # Forked workers share the parent's objects page by page until they write to them;
        # the cyclic collector writes to every object it visits. Frozen objects are never
        # visited, so the workers keep sharing the parent's modules and caches.
        gc.freeze()
        try:
            for index in range(self.jobs):
                parent_end, child_end = ctx.Pipe(duplex=True)
                proc: BaseProcess = ctx.Process(  # type: ignore[attr-defined]
                    target=_worker_main,
                    args=(child_end, os.getpid()),
                    name=f"snapsync-worker-{index}",
                    daemon=True,
                )
                proc.start()
                self._children.add_mp(proc)
                child_end.close()
                self._workers.append(_Worker(index, proc, parent_end))
        except BaseException:
            self.close()
            raise
        finally:
            gc.unfreeze()

    def close(self) -> None:
        """End every worker and wait for it (idle ones exit by themselves; busy ones,
        and any that does not exit within a second, are terminated, then killed)."""
        if self._closed:
            return
        self._closed = True
        self._state.queued.clear()
        for w in self._workers:
            if w.task is None:
                with contextlib.suppress(OSError, ValueError):
                    w.conn.send(_EXIT)
        end = time.monotonic() + 1.0
        for w in self._workers:
            if w.task is None:
                w.process.join(max(0.0, end - time.monotonic()))
        self._children.reap()  # what is still running: SIGTERM, then SIGKILL
        for w in self._workers:
            w.conn.close()

    def pids(self) -> list[int]:
        """Return the worker processes' ids (tests check that none outlives the pool)."""
        return [w.process.pid for w in self._workers if w.process.pid is not None]

    # -- tasks

    def submit(self, fn: Callable[[Any], Any], arg: Any) -> int:
        """Queue ``fn(arg)``; return its task number (0, 1, 2, ... in submission order)."""
        if self._closed:
            raise RuntimeError("submit to a closed pool")
        self.start()
        task = self._next_task
        self._next_task += 1
        self._state.queued.append(_Queued(task, fn, arg))
        self._dispatch()
        return task

    def cancel(self, task: int) -> None:
        """Forget ``task``: dropped if it has not started; if it runs, its worker is
        interrupted (SIGINT: it stops at once and takes the next task) and whatever it
        returns is ignored."""
        st = self._state
        st.cancelled.add(task)
        st.queued = deque(q for q in st.queued if q.task != task)
        for w in self._workers:
            if w.task == task:
                self._signal(w)

    def notes(self) -> list[tuple[int, Any]]:
        """Return (and forget) what running tasks told with :func:`note`, as (task, payload)."""
        st = self._state
        out = list(st.notes)
        st.notes.clear()
        return out

    def _signal(self, w: _Worker) -> None:
        if w.process.pid is not None and w.process.exitcode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(w.process.pid, signal.SIGINT)

    @property
    def idle(self) -> int:
        """Workers with nothing to do (a submitted task would start at once)."""
        return sum(1 for w in self._workers if w.task is None) - len(self._state.queued)

    @property
    def outstanding(self) -> int:
        """Tasks submitted whose result has not been returned by :meth:`next_done` yet."""
        st = self._state
        running = sum(1 for w in self._workers if w.task is not None)
        return len(st.queued) + running + len(st.done)

    def interrupt(self) -> None:
        """Stop: drop the queued tasks, ask every busy worker to stop (SIGINT) and give
        them ``grace_s`` to return what they did (module docstring)."""
        st = self._state
        if st.interrupted_at is None:
            st.interrupted_at = time.monotonic()
        st.queued.clear()
        for w in self._workers:
            if w.task is not None:
                self._signal(w)

    @property
    def interrupted(self) -> bool:
        """Check if :meth:`interrupt` was called."""
        return self._state.interrupted_at is not None

    def next_done(self, timeout: float | None = None) -> Done | None:
        """Return the next finished task, waiting up to ``timeout`` seconds (None: until
        one finishes). Returns None on a timeout, when nothing is outstanding, or when a
        note arrived (:meth:`notes`).

        Raises :class:`WorkerError` if the task raised or its worker died.
        """
        st = self._state
        end = None if timeout is None else time.monotonic() + timeout
        while True:
            self._dispatch()
            if st.done:
                return st.done.popleft()
            busy = [w for w in self._workers if w.task is not None]
            if not busy:
                return None
            now = time.monotonic()
            wait_s = None if end is None else max(0.0, end - now)
            if st.interrupted_at is not None:
                left = st.interrupted_at + self.grace_s - now
                if left <= 0:
                    self._abandon(busy)
                    continue
                wait_s = left if wait_s is None else min(wait_s, left)
            handles: list[Any] = [w.conn for w in busy] + [w.process.sentinel for w in busy]
            ready = multiprocessing.connection.wait(handles, timeout=wait_s)
            for w in busy:
                if w.conn in ready:
                    self._receive(w)
                elif w.process.sentinel in ready and w.task is not None:
                    self._died(w)
            if st.notes and not st.done:
                return None
            if not ready and end is not None and time.monotonic() >= end and not st.done:
                return None

    def _dispatch(self) -> None:
        st = self._state
        for w in self._workers:
            if not st.queued:
                return
            if w.task is None and w.process.exitcode is None:
                q = st.queued.popleft()
                w.task = q.task
                try:
                    # The task and its argument travel pickled apart from the task number,
                    # so a worker that cannot unpickle them can still say which task failed.
                    w.conn.send((q.task, bytes(ForkingPickler.dumps((q.fn, q.arg)))))
                except (OSError, ValueError, TypeError, AttributeError, PicklingError) as exc:
                    w.task = None
                    summary, detail = _describe(exc)
                    raise WorkerError(
                        q.task, f"cannot hand the task over: {summary}", detail
                    ) from exc

    def _receive(self, w: _Worker) -> None:
        try:
            kind, task, payload, seconds = w.conn.recv()
        except (EOFError, OSError):
            self._died(w)
            return
        if kind == "note":
            if task not in self._state.cancelled:
                self._state.notes.append((task, payload))
            return
        w.task = None
        if task in self._state.cancelled:
            self._state.cancelled.discard(task)
            return
        if kind == "error":
            summary, detail = payload
            raise WorkerError(task, summary, detail)
        if kind == "invalid":
            raise InvalidInput(payload)
        self._state.done.append(Done(task, payload, seconds, w.index, stopped=kind == "stopped"))

    def _died(self, w: _Worker) -> None:
        task = w.task
        w.task = None
        w.process.join(1.0)  # its pipe can close a moment before it is reaped
        code = w.process.exitcode
        if task is None or task in self._state.cancelled:
            return
        if self._state.interrupted_at is not None:  # killed while stopping: its work is lost
            self._state.done.append(Done(task, None, 0.0, w.index, stopped=True))
            return
        raise WorkerError(task, f"worker {w.index} died (exit code {code})", "")

    def _abandon(self, busy: list[_Worker]) -> None:
        """The grace after an interrupt is over: end the workers that are still busy."""
        stubborn = Children(grace_s=1.0)
        for w in busy:
            stubborn.add_mp(w.process)
        stubborn.reap()
        for w in busy:
            if w.task is not None:
                self._state.done.append(Done(w.task, None, 0.0, w.index, stopped=True))
                w.task = None
