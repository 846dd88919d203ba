"""One way to stop: Ctrl-C, SIGTERM and time budgets end work cleanly, keeping what was found.

Long-running work (the simulator, the hunt, replay, the stages of ``check``) calls
:func:`stop_point` at safe points — between model steps, between examples, between
lines. A stop point raises :class:`Stop` when

* the user pressed Ctrl-C (SIGINT) or the process got SIGTERM while
  :func:`signals_handled` is active (the CLI installs it), or
* the innermost :func:`deadline` (a time budget) has passed.

``Stop`` derives from :class:`BaseException`, not ``Exception``: Hypothesis and the
hunt's own guards treat an ``Exception`` as a failing example (and would shrink it),
while a stop must unwind at once. The code that owns a result wraps its work in
:func:`stopping`, which catches the stop (and a plain ``KeyboardInterrupt``) and
records why, so the caller can return and print the **partial report** of what was
done and found, marked as stopped::

    report = Report()
    with stopping() as stopped:
        for unit in work:
            stop_point()
            report.add(run(unit))
    report.stopped = stopped.reason          # None, "interrupt", "terminate" or "budget"
    return exit_status(stopped.reason, 0 if report.ok else 1)   # 130 / 143 when interrupted

Signals, precisely (:func:`signals_handled`):

* the first SIGINT/SIGTERM inside a :func:`cooperative` region only sets the flag:
  the next stop point raises ``Stop``, so no step, trace line or counter is left
  half-done; outside such a region (e.g. inside a Z3 call) it raises
  ``KeyboardInterrupt`` at once, which :func:`stopping` also accepts;
* a second signal always raises ``KeyboardInterrupt`` at once: the user insists, the
  CLI prints one line and exits 130 without a report.

Budgets: a command with ``--budget S`` runs its work under ``deadline(S)`` and ends
within S plus the overshoot documented in docs/cli.md (the time to finish the step in
progress, plus :data:`FINISH_GRACE_S` for work shielded by :func:`shielded`, such as
the final replay that saves a found violation's trace).

Worker processes (``--jobs``, issue #15) follow the same rules: a worker runs its
work under :func:`worker_signals` (SIGINT only sets the flag, so it returns its
partial result at its next stop point), and the parent registers every process it
starts in a :class:`Children` group, which terminates (then kills) whatever is still
running when the parent leaves it — on success, on a stop, or on an error — so no
process is ever orphaned.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import Any, Literal, Protocol

__all__ = [
    "FINISH_GRACE_S",
    "INTERRUPTED",
    "TERMINATED",
    "Children",
    "Stop",
    "StopReason",
    "Stopped",
    "cooperative",
    "deadline",
    "exit_status",
    "request_stop",
    "reset",
    "shielded",
    "signals_handled",
    "stop_point",
    "stop_requested",
    "stopping",
    "worker_signals",
]

StopReason = Literal["interrupt", "terminate", "budget"]

INTERRUPTED = 130
"""Exit status after Ctrl-C (128 + SIGINT), printed partial report included."""
TERMINATED = 143
"""Exit status after SIGTERM (128 + SIGTERM)."""
FINISH_GRACE_S = 5.0
"""Longest time :func:`shielded` work may run past a stop or a budget."""


class Stop(BaseException):
    """Raised at a stop point: the work was interrupted or ran out of its time budget."""

    def __init__(self, reason: StopReason) -> None:
        self.reason: StopReason = reason
        super().__init__(reason)


@dataclass(slots=True)
class _State:
    requested: StopReason | None = None
    deadline: float | None = None
    cooperative: int = 0


_STATE = _State()


def reset() -> None:
    """Forget any stop request and deadline (a new command, or a test, starts clean)."""
    global _STATE
    _STATE = _State()


def stop_requested() -> StopReason | None:
    """Return why work should stop now (``None``: go on). Never raises."""
    st = _STATE
    if st.requested is not None:
        return st.requested
    if st.deadline is not None and time.perf_counter() >= st.deadline:
        return "budget"
    return None


def stop_point() -> None:
    """Raise :class:`Stop` if work should stop now."""
    st = _STATE
    if st.requested is not None:
        raise Stop(st.requested)
    if st.deadline is not None and time.perf_counter() >= st.deadline:
        raise Stop("budget")


def request_stop(reason: StopReason = "interrupt") -> None:
    """Ask running work to stop at its next stop point (what the first signal does)."""
    _STATE.requested = reason


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Within the block, stop points raise ``Stop("budget")`` once ``seconds`` have passed
    (nested deadlines: the earliest one counts)."""
    st = _STATE
    outer = st.deadline
    mine = time.perf_counter() + seconds
    st.deadline = mine if outer is None else min(outer, mine)
    try:
        yield
    finally:
        st.deadline = outer


@contextmanager
def shielded(seconds: float = FINISH_GRACE_S) -> Iterator[None]:
    """Finish a short piece of work (saving a trace, a final replay) even after a stop.

    A stop requested before the block, and the budget, do not stop it; the block gets
    its own deadline of ``seconds`` instead, so it overshoots a budget by at most
    ``seconds``. A signal during the block still stops it (at its next stop point).
    Whatever was requested before is requested again after the block.
    """
    st = _STATE
    requested, outer = st.requested, st.deadline
    st.requested = None
    st.deadline = None
    try:
        with deadline(seconds):
            yield
    finally:
        st.requested = requested or st.requested
        st.deadline = outer


@contextmanager
def cooperative() -> Iterator[None]:
    """Declare that the block calls :func:`stop_point` often: a first signal inside it only
    sets the stop flag instead of raising ``KeyboardInterrupt`` at an arbitrary point."""
    _STATE.cooperative += 1
    try:
        yield
    finally:
        _STATE.cooperative -= 1


@dataclass(slots=True)
class Stopped:
    """Why a :func:`stopping` block ended early (``reason`` is ``None`` if it did not)."""

    reason: StopReason | None = None

    @property
    def interrupted(self) -> bool:
        """Check if a signal (not a budget) ended the block."""
        return self.reason in ("interrupt", "terminate")


class _Stopping:
    """The context manager :func:`stopping` returns (it may swallow a stop: ``-> bool``)."""

    def __init__(self) -> None:
        self.stopped = Stopped()

    def __enter__(self) -> Stopped:
        _STATE.cooperative += 1
        return self.stopped

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any
    ) -> bool:
        _STATE.cooperative -= 1
        if isinstance(exc, Stop):
            self.stopped.reason = exc.reason
            return True
        if isinstance(exc, KeyboardInterrupt):
            self.stopped.reason = _STATE.requested or "interrupt"
            _STATE.requested = self.stopped.reason
            return True
        return False


def stopping() -> _Stopping:
    """Run a block of cooperative work; a stop (or ``KeyboardInterrupt``) ends the block
    quietly and is recorded in the yielded :class:`Stopped`, so the partial result
    assembled so far can be returned and reported.

    An interrupt stays requested after the block, so the work around it (``check``
    around the hunt) stops at its next stop point too; :func:`reset` (or the end of
    :func:`signals_handled`) clears it.
    """
    return _Stopping()


def exit_status(reason: StopReason | None, otherwise: int) -> int:
    """Return 130 after SIGINT, 143 after SIGTERM, else ``otherwise`` (a budget is no error).

    >>> exit_status("interrupt", 0), exit_status("budget", 1), exit_status(None, 0)
    (130, 1, 0)
    """
    if reason == "interrupt":
        return INTERRUPTED
    if reason == "terminate":
        return TERMINATED
    return otherwise


def _handler(signum: int, frame: FrameType | None) -> None:
    del frame
    st = _STATE
    reason: StopReason = "terminate" if signum == signal.SIGTERM else "interrupt"
    first = st.requested is None
    if first:
        st.requested = reason
    if not first or not st.cooperative:
        raise KeyboardInterrupt


@contextmanager
def signals_handled() -> Iterator[None]:
    """Install the SIGINT/SIGTERM handling of the module docstring for the block (main
    thread only; elsewhere a no-op). The CLI runs every command inside it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    # A stop requested before belongs to the caller; a caller's deadline stays in force.
    saved = _STATE.requested
    _STATE.requested = None
    old = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for s in old:
        signal.signal(s, _handler)
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        _STATE.requested = saved


def _worker_handler(signum: int, frame: FrameType | None) -> None:
    del signum, frame
    _STATE.requested = "interrupt"


def worker_signals() -> None:
    """Call first in a worker process: SIGINT (the terminal sends it to the whole process
    group) only sets the stop flag, so the worker returns its partial result at its next
    stop point and the parent reports it. SIGTERM keeps its default (the parent's
    :class:`Children` uses it to end a worker that does not stop in time)."""
    reset()
    signal.signal(signal.SIGINT, _worker_handler)


class _Process(Protocol):
    def poll(self) -> int | None: ...

    def terminate(self) -> None: ...

    def kill(self) -> None: ...


class Children:
    """The worker processes a command started; none outlives the ``with`` block.

    ``add`` registers a :class:`subprocess.Popen` (or anything with ``poll``,
    ``terminate`` and ``kill``; wrap a :class:`multiprocessing.Process` with
    :meth:`add_mp`). Leaving the block — normally, on a stop, or on an error —
    terminates every child still running, waits up to ``grace_s``, then kills the rest.
    """

    def __init__(self, grace_s: float = 2.0) -> None:
        self.grace_s = grace_s
        self._procs: list[_Process] = []

    def add(self, proc: _Process) -> None:
        """Register a started child process."""
        self._procs.append(proc)

    def add_mp(self, proc: Any) -> None:
        """Register a started :class:`multiprocessing.Process`."""
        self._procs.append(_MpProcess(proc))

    def running(self) -> int:
        """Return how many registered children are still running."""
        return sum(1 for p in self._procs if p.poll() is None)

    def reap(self) -> None:
        """Terminate the running children, wait up to ``grace_s``, kill what is left."""
        alive = [p for p in self._procs if p.poll() is None]
        for p in alive:
            p.terminate()
        end = time.monotonic() + self.grace_s
        while alive and time.monotonic() < end:
            alive = [p for p in alive if p.poll() is None]
            if alive:
                time.sleep(0.02)
        for p in alive:
            p.kill()
        for p in alive:
            if isinstance(p, subprocess.Popen):
                p.wait()

    def __enter__(self) -> Children:
        return self

    def __exit__(self, *exc: object) -> None:
        self.reap()


class _MpProcess:
    """A :class:`multiprocessing.Process` seen through the Popen-like interface."""

    def __init__(self, proc: Any) -> None:
        self.proc = proc

    def poll(self) -> int | None:
        code = self.proc.exitcode
        return None if code is None else int(code)

    def terminate(self) -> None:
        self.proc.terminate()

    def kill(self) -> None:
        self.proc.kill()
        self.proc.join()
