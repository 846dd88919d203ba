"""An adapter process seen from the runner: start, ``hello``, pipelined requests, restarts.

:func:`exchange` sends requests to an adapter command and yields, for each, the
answer or the failure it caused, in request order:

* up to ``window`` requests are in flight (written, not yet answered); answers must
  come back in order, one line each (docs/formats/adapter.md);
* no answer for ``timeout`` seconds → the oldest unanswered request gets a
  ``timeout``; stdout closed → it gets a ``crash`` (with the exit status and the last
  stderr lines); an answer that is not a well-formed answer line → ``malformed``;
* after each of these the process is killed (its whole process group) and started
  again, it gets a new ``hello``, and the requests that were in flight behind the
  culprit are sent again; after ``max_restarts`` restarts the exchange stops
  (:attr:`Exchange.stopped` says why);
* a timeout or crash with several requests unanswered is not pinned on the oldest:
  those requests are replayed one at a time, and the one that fails alone is the
  culprit (an adapter may answer a batch of requests in one write).

A request written into a dead pipe is not a crash by itself: answers already on
stdout are read first, and the crash is attributed when stdout ends.
"""

from __future__ import annotations

import contextlib
import os
import select
import shlex
import signal
import subprocess
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from impl.errors import InvalidInput
from spec.conformance.protocol import (
    RUNNER_OPS,
    Answer,
    Hello,
    MalformedAnswer,
    hello_request,
    parse_answer,
    parse_hello,
)
from spec.robust.stop import stop_point

__all__ = ["AdapterError", "Exchange", "Failure", "split_command"]

J = TypeVar("J")
_READ = 1 << 16
_STOP_S = 0.25
"""Longest wait for an answer between two stop points (:mod:`spec.robust.stop`)."""
_STDERR_LINES = 20


class AdapterError(InvalidInput):
    """The adapter cannot be used at all (it does not start, or its hello fails)."""


@dataclass(frozen=True, slots=True)
class Failure:
    """A request that got no usable answer: ``kind`` is timeout, crash or malformed."""

    kind: str
    detail: str


def split_command(command: str) -> list[str]:
    """Split an adapter command into words (POSIX shell rules, no shell).

    >>> split_command("snapsync adapter --profile 'mosaik-0.3.13'")
    ['snapsync', 'adapter', '--profile', 'mosaik-0.3.13']
    """
    try:
        words = shlex.split(command)
    except ValueError as exc:
        raise AdapterError(f"--adapter {command!r}: {exc}") from None
    if not words:
        raise AdapterError("--adapter: empty command")
    return words


class _Dead(Exception):
    """stdout ended: the process exited or closed it."""


class _Process:
    """One running adapter process and its three pipes."""

    def __init__(self, argv: Sequence[str]) -> None:
        try:
            self.popen = subprocess.Popen(
                list(argv),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                bufsize=0,
                start_new_session=True,
            )
        except OSError as exc:
            raise AdapterError(f"cannot start adapter {argv[0]!r}: {exc.strerror or exc}") from None
        assert self.popen.stdin
        assert self.popen.stdout
        assert self.popen.stderr
        self.stdin = self.popen.stdin.fileno()
        self.stdout = self.popen.stdout.fileno()
        self.stderr: int | None = self.popen.stderr.fileno()
        os.set_blocking(self.stdin, False)
        self.out = bytearray()
        self.inbuf = b""
        self.stdin_open = True
        self.stderr_tail: deque[str] = deque(maxlen=_STDERR_LINES)
        self._partial_err = b""

    def write(self, data: bytes) -> None:
        self.out += data

    def kill(self) -> int | None:
        """Kill the process group; return the exit status if it had already exited."""
        status = self.popen.poll()
        if status is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.popen.pid, signal.SIGKILL)
        for pipe in (self.popen.stdin, self.popen.stdout, self.popen.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        try:
            final = self.popen.wait(timeout=5)
        except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL does not fail
            final = None
        return status if status is not None else final

    def exit_status(self) -> int | None:
        """Wait briefly for the process to exit after its stdout ended; return its status."""
        try:
            return self.popen.wait(timeout=2)
        except subprocess.TimeoutExpired:
            return None

    def last_stderr(self, n: int = 5) -> str:
        lines = list(self.stderr_tail)
        if self._partial_err:
            lines.append(self._partial_err.decode("utf-8", "replace"))
        return " | ".join(line.rstrip() for line in lines[-n:] if line.strip())

    def pump(self, wait: float) -> list[bytes]:
        """Write what is pending, read what is available; return complete stdout lines.

        Raises :class:`_Dead` when stdout ends (after returning every line before it).
        """
        readers = [self.stdout] + ([self.stderr] if self.stderr is not None else [])
        writers = [self.stdin] if self.out and self.stdin_open else []
        ready_r, ready_w, _ = select.select(readers, writers, [], max(wait, 0.0))
        if ready_w:
            try:
                n = os.write(self.stdin, self.out[:_READ])
                del self.out[:n]
            except BlockingIOError:
                pass
            except (BrokenPipeError, OSError):
                self.stdin_open = False  # the crash shows when stdout ends
                self.out.clear()
        if self.stderr is not None and self.stderr in ready_r:
            data = os.read(self.stderr, _READ)
            if not data:
                self.stderr = None
            else:
                *lines, self._partial_err = (self._partial_err + data).split(b"\n")
                self.stderr_tail.extend(line.decode("utf-8", "replace") for line in lines)
        if self.stdout in ready_r:
            data = os.read(self.stdout, _READ)
            if not data:
                raise _Dead
            self.inbuf += data
            if b"\n" in data:
                *lines, self.inbuf = self.inbuf.split(b"\n")
                return lines
        return []


@dataclass
class Exchange(Generic[J]):
    """Runs requests through an adapter command (see the module docstring).

    ``request(job, id)`` returns the request line of ``job`` (without newline).
    """

    argv: Sequence[str]
    request: Callable[[J, int], str]
    timeout: float = 10.0
    hello_timeout: float = 30.0
    window: int = 32
    max_restarts: int = 50
    ops: Sequence[str] = RUNNER_OPS
    """The ops the hello says the runner may send."""
    exact: Callable[[J, int, bytes], bool] | None = None
    """Optional fast path: a line for which ``exact(job, id, line)`` holds is answered as
    ``Answer(id, "exact", None)`` without being parsed (the runner's byte-equal check)."""
    hello: Hello | None = None
    restarts: int = 0
    stopped: str | None = None
    events: list[str] = field(default_factory=list)
    _proc: _Process | None = None
    _spawned: _Process | None = None

    def spawn(self) -> None:
        """Start the process and queue its hello, without waiting: :meth:`start` reads the
        answer (the caller prepares its requests while the adapter imports)."""
        if self._spawned is None:
            self._spawned = _Process(self.argv)
            self._spawned.write(hello_request(0, self.ops).encode() + b"\n")

    def start(self) -> Hello:
        """Start the process (unless :meth:`spawn` did) and read its hello; raise
        :class:`AdapterError` if that fails."""
        self.spawn()
        proc, self._spawned = self._spawned, None
        assert proc is not None
        deadline = time.monotonic() + max(self.hello_timeout, self.timeout)
        try:
            while True:
                lines = proc.pump(deadline - time.monotonic())
                if lines:
                    hello = parse_hello(parse_answer(lines[0], 0))
                    break
                if time.monotonic() >= deadline:
                    raise AdapterError(
                        f"adapter {self.argv[0]!r}: no answer to hello within "
                        f"{max(self.hello_timeout, self.timeout):g} s"
                    )
        except _Dead:
            status = proc.exit_status()
            tail = proc.last_stderr()
            proc.kill()
            raise AdapterError(
                f"adapter {self.argv[0]!r} exited before answering hello (status {status})"
                + (f"; stderr: {tail}" if tail else "")
            ) from None
        except MalformedAnswer as exc:
            proc.kill()
            raise AdapterError(f"adapter {self.argv[0]!r}: bad hello answer: {exc}") from None
        except AdapterError:
            proc.kill()
            raise
        if self.hello is not None and hello != self.hello:
            self.events.append(
                "the restarted adapter's hello differs from the first; keeping the first"
            )
        self.hello = self.hello or hello
        self._proc = proc
        return hello

    def close(self) -> None:
        """End the process: close its stdin (the protocol's end of run), then kill it."""
        if self._spawned is not None:  # spawned, its hello never read
            self._spawned.kill()
            self._spawned = None
        if self._proc is not None:
            proc, self._proc = self._proc, None
            if proc.popen.stdin is not None:
                with contextlib.suppress(OSError):
                    proc.popen.stdin.close()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.popen.wait(timeout=2)
            proc.kill()

    def _restart(self, why: str) -> bool:
        if self._proc is not None:
            self._proc.kill()
            self._proc = None
        self.restarts += 1
        if self.restarts > self.max_restarts:
            self.stopped = f"stopped after {self.max_restarts} restarts (last: {why})"
            return False
        try:
            self.start()
        except AdapterError as exc:
            self.stopped = f"stopped: the adapter could not be restarted ({exc})"
            return False
        return True

    def run(self, jobs: Sequence[J]) -> Iterator[tuple[J, Answer | Failure, float]]:
        """Yield ``(job, answer or failure, seconds)`` for each job, in order.

        A timeout or crash while several requests are unanswered cannot name its culprit
        (an adapter may hold back the answers of a batch it read at once): those requests
        are sent again, one at a time, to the restarted process, and the one that fails
        alone is the culprit (steps are pure, so a failure repeats).
        """
        if self.stopped is not None:
            return  # too many restarts, or a restart failed: nothing more is sent
        if self._proc is None:
            self.start()
        queue: deque[J] = deque(jobs)
        careful = 0  # the next `careful` jobs of the queue go one at a time
        while queue and self._proc is not None:
            proc = self._proc
            inflight: deque[tuple[J, int, float]] = deque()
            next_id = 1
            last = time.monotonic()
            failure: Failure | None = None
            stray: bytes | None = None  # an answer line with no request outstanding
            while (queue or inflight) and stray is None:
                now = time.monotonic()
                while queue and len(inflight) < self.window and not (careful and inflight):
                    job = queue.popleft()
                    careful = max(careful - 1, 0)
                    proc.write(self.request(job, next_id).encode() + b"\n")
                    inflight.append((job, next_id, now))
                    next_id += 1
                started = max(last, inflight[0][2])
                wait = started + self.timeout - now
                if wait <= 0:
                    failure = Failure("timeout", f"no answer within {self.timeout:g} s")
                    break
                stop_point()  # Ctrl-C while the adapter thinks: the run stops within _STOP_S
                try:
                    lines = proc.pump(min(wait, _STOP_S))
                except _Dead:
                    status = proc.exit_status()
                    tail = proc.last_stderr()
                    failure = Failure(
                        "crash",
                        f"the adapter exited (status {status})"
                        + (f"; last stderr: {tail}" if tail else ""),
                    )
                    break
                exact = self.exact
                for line in lines:
                    if not inflight:
                        stray = line
                        break
                    job, rid, sent = inflight[0]
                    now = time.monotonic()
                    if exact is not None and exact(job, rid, line):
                        answer = Answer(rid, "exact", None)
                    else:
                        try:
                            answer = parse_answer(line, rid)
                        except MalformedAnswer as exc:
                            failure = Failure("malformed", str(exc))
                            break
                    inflight.popleft()
                    yield job, answer, now - max(last, sent)
                    last = now
                if failure is not None:
                    break
            if failure is None and stray is not None:
                # More answers than requests: the adapter broke the one-answer-per-request
                # rule after the last answer it owed; no case can be blamed, and the stream
                # is out of step, so it starts afresh for the rest.
                text = stray.decode("utf-8", "replace")
                self.events.append(
                    f"an answer line with no request outstanding ({text[:80]!r}): "
                    "the adapter was restarted"
                )
                if not self._restart("an answer with no request outstanding"):
                    return
                continue
            if failure is None:
                return
            if failure.kind != "malformed" and len(inflight) > 1:
                # Unattributable: replay the unanswered requests one at a time.
                queue.extendleft(job for job, _, _ in reversed(inflight))
                careful = len(inflight)
                self.events.append(
                    f"{failure.kind} with {len(inflight)} requests unanswered: "
                    "sent again one at a time to find the culprit"
                )
            else:
                culprit, _, sent = inflight.popleft()
                yield culprit, failure, time.monotonic() - max(last, sent)
                queue.extendleft(job for job, _, _ in reversed(inflight))
            if not self._restart(f"{failure.kind} at a request"):
                return
