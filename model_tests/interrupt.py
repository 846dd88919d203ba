"""Ctrl-C at a terminal, for the tests of commands that run workers or adapters: start a
command in a process group of its own (as a terminal's foreground job), wait until it is
under way, and send SIGINT to the whole group, as the terminal does."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def alive(pid: int) -> bool:
    """Check if process ``pid`` exists and is neither a zombie nor dead."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] not in ("Z", "X")


def children(pid: int) -> list[int]:
    """The live child processes of ``pid``."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] not in ("Z", "X"):
            out.append(int(stat.parent.name))
    return out


def ctrl_c(
    argv: Sequence[str],
    *,
    started: Callable[[int], bool],
    settle_s: float,
    what: str,
    start_s: float = 60.0,
) -> tuple[int, str, str]:
    """Run ``argv`` in the project's root; once ``started(pid)`` holds (within ``start_s``;
    else fail naming ``what``), let it work ``settle_s`` more and press Ctrl-C. Return
    (exit code, stdout, stderr); the process never outlives the call."""
    proc = subprocess.Popen(
        list(argv),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    try:
        end = time.monotonic() + start_s
        while not started(proc.pid):
            assert time.monotonic() < end, f"{what} did not start"
            time.sleep(0.2)
        time.sleep(settle_s)
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C does: the whole group gets it
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode, out, err
