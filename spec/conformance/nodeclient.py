"""A node-level adapter process seen from the harness: one request, one answer, in order.

``snapsync conform`` pipelines independent cases (:mod:`spec.conformance.process`);
``snapsync drive`` cannot: every request depends on the answers before it, and a
process that crashes has lost the node's state. :class:`NodeProcess` therefore
sends one request at a time and waits for its answer (``timeout`` seconds); a
crash, a timeout or a malformed answer raises :class:`~spec.model.host.HostError`
(``crash`` / ``timeout`` / ``malformed``), which the model records as the node
failing, and the process is not restarted within a run (drive starts a fresh
process per run and per shrink attempt).

The ``hello`` names the node-level ops; an adapter that lacks one the harness
needs is refused with one line saying which (:class:`~spec.conformance.process.AdapterError`).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import time
from collections import deque
from collections.abc import Mapping
from typing import Any, ClassVar

from impl.codec import canonical_json
from spec.conformance.nodeops import NODE_OPS, request_line
from spec.conformance.process import AdapterError, split_command
from spec.conformance.protocol import (
    PROTOCOL,
    PROTOCOL_VERSION,
    Answer,
    Hello,
    MalformedAnswer,
    parse_answer,
    parse_hello,
)
from spec.model.host import HostError

__all__ = ["REQUIRED_OPS", "NodeProcess"]

REQUIRED_OPS: frozenset[str] = frozenset(
    {"node_new", "receive", "poll", "client_write", "bond_terminated"}
)
"""The ops drive needs (the step answers carry the observation and the deadline)."""

_STDERR_LINES = 20


class NodeProcess:
    """One adapter process driven request by request (module docstring)."""

    total_requests: ClassVar[int] = 0
    """Node ops sent by every process of this Python process (drive's report)."""

    def __init__(self, command: str, *, timeout: float = 10.0, hello_timeout: float = 30.0) -> None:
        self.command = command
        self.argv = split_command(command)
        self.timeout = timeout
        self.hello_timeout = hello_timeout
        self.hello: Hello | None = None
        self.requests = 0
        self.seconds = 0.0
        """Time spent waiting for answers (the process boundary's cost)."""
        self._popen: subprocess.Popen[bytes] | None = None
        self._buffer = b""
        self._stderr: deque[str] = deque(maxlen=_STDERR_LINES)
        self._next_id = 0

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> Hello:
        """Start the process and check its hello; raise :class:`AdapterError` if unusable."""
        if self._popen is None:
            self.spawn()
        return self.handshake()

    def spawn(self) -> None:
        """Start the process and send its hello, without waiting for the answer (a harness
        that needs many fresh processes starts the next one while it uses this one)."""
        try:
            self._popen = subprocess.Popen(
                self.argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                bufsize=0,
                start_new_session=True,
            )
        except OSError as exc:
            raise AdapterError(
                f"cannot start adapter {self.argv[0]!r}: {exc.strerror or exc}"
            ) from None
        self._next_id = 0
        self._hello_line = canonical_json(
            {
                "id": 0,
                "op": "hello",
                "ops": ["hello", *NODE_OPS],
                "protocol": PROTOCOL,
                "version": PROTOCOL_VERSION,
            }
        )
        assert self._popen.stdin is not None
        with contextlib.suppress(OSError):  # a process that died at once: handshake says so
            self._popen.stdin.write(self._hello_line.encode() + b"\n")

    def handshake(self) -> Hello:
        """Read and check the hello answer of a spawned process (:meth:`spawn`)."""
        if self._popen is None:
            raise AdapterError(f"adapter {self.command!r} was not started")
        try:
            answer = self._receive(0, "hello", max(self.hello_timeout, self.timeout))
            parsed = parse_hello(answer)
        except (HostError, MalformedAnswer) as exc:
            tail = self.stderr_tail()
            self.close()
            raise AdapterError(
                f"adapter {self.command!r}: no usable hello ({exc})"
                + (f"; stderr: {tail}" if tail else "")
            ) from None
        missing = sorted(REQUIRED_OPS - parsed.ops)
        if missing:
            self.close()
            raise AdapterError(
                f"adapter {self.command!r} does not serve the node-level ops {missing} "
                "(its hello lists the ops it serves; see docs/formats/adapter.md)"
            )
        self.hello = parsed
        return parsed

    def close(self) -> None:
        """End the process: close its stdin (the end of the run), then kill its group."""
        popen, self._popen = self._popen, None
        if popen is None:
            return
        if popen.stdin is not None:
            with contextlib.suppress(OSError):
                popen.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            popen.wait(timeout=1)
        if popen.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(popen.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                popen.wait(timeout=5)
        for pipe in (popen.stdout, popen.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()

    def stderr_tail(self, n: int = 5) -> str:
        """Return the last lines the process wrote on stderr."""
        return " | ".join(line.rstrip() for line in list(self._stderr)[-n:] if line.strip())

    # -- requests ---------------------------------------------------------------------------

    def call(self, op: str, fields: Mapping[str, Any]) -> Answer:
        """Send node op ``op`` and return its answer (raise :class:`HostError` if none)."""
        if self._popen is None:
            raise HostError("crash", "the adapter is not running")
        self._next_id += 1
        self.requests += 1
        NodeProcess.total_requests += 1
        started = time.perf_counter()
        try:
            return self._exchange(request_line(self._next_id, op, fields), self.timeout)
        except HostError:
            self.close()  # out of step with its requests, or dead: never reused
            raise
        finally:
            self.seconds += time.perf_counter() - started

    @property
    def alive(self) -> bool:
        """Check if the process is running and in step with its requests."""
        return self._popen is not None and self._popen.poll() is None

    def _exchange(self, line: str, timeout: float) -> Answer:
        popen = self._popen
        assert popen is not None
        assert popen.stdin is not None
        with contextlib.suppress(OSError):  # a dead pipe: the crash shows when stdout ends
            popen.stdin.write(line.encode() + b"\n")
        return self._receive(self._next_id, _op_of(line), timeout)

    def _receive(self, expected: int, op: str, timeout: float) -> Answer:
        popen = self._popen
        assert popen is not None
        assert popen.stdout is not None
        assert popen.stderr is not None
        out, err = popen.stdout.fileno(), popen.stderr.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            wait = deadline - time.monotonic()
            if wait <= 0:
                raise HostError("timeout", f"no answer to {op} within {timeout:g} s")
            ready, _, _ = select.select([out, err], [], [], wait)
            if err in ready:
                data = os.read(err, 1 << 16)
                if data:
                    self._stderr.extend(data.decode("utf-8", "replace").splitlines())
            if out in ready:
                data = os.read(out, 1 << 16)
                if not data:
                    status = popen.poll()
                    tail = self.stderr_tail()
                    raise HostError(
                        "crash",
                        f"the adapter exited at {op} (status {status})"
                        + (f"; stderr: {tail}" if tail else ""),
                    )
                self._buffer += data
        answer, _, self._buffer = self._buffer.partition(b"\n")
        try:
            return parse_answer(answer, expected)
        except MalformedAnswer as exc:
            raise HostError("malformed", f"answer to {op}: {exc}") from None


def _op_of(line: str) -> str:
    start = line.find('"op":"')
    if start < 0:
        return "the request"
    end = line.find('"', start + 6)
    return line[start + 6 : end]
