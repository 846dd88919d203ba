"""Run ``snapsync check`` (and the test suite) against every mutant of the catalogue.

For each mutant: copy the project (:mod:`spec.mutants.apply`), apply the mutant, and run
``python -m spec.cli check --fail-fast --json`` in the copy, in a process of its own.
The mutant is **killed** when check exits 1 (a row not as expected: the row is named)
or 70 (check itself crashed on the mutated code); it **survives** when check passes.
A check that outlives ``timeout`` is ended and counted as a survivor marked
``timeout`` (check's own watchdog should have failed it first). The time to kill is
the wall-clock time of that check process, start-up included.

With ``tests``, each survivor of check is then run against the test suite
(``python -m pytest -x`` in the copy): check + tests must kill every mutant.

Before any mutant, the unmutated copy must pass check (the baseline): a failing or
flaky baseline would make every kill meaningless. Mutants shown equivalent to the
original (:attr:`Mutant.equivalent`) are listed, not run, and not counted in the rates.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from impl.errors import InvalidInput
from spec.mutants.apply import apply_mutant, copy_project, mutant_env, project_root
from spec.mutants.catalogue import CATALOGUE, Mutant

__all__ = ["Kill", "MutantResult", "MutantsReport", "run_suite", "select"]

KILLED = "killed"
SURVIVED = "survived"
TIMEOUT = "timeout"


@dataclass(frozen=True, slots=True)
class Kill:
    """What one run (check, or the tests) did to one copy."""

    verdict: str
    """``killed``, ``survived`` or ``timeout``."""
    seconds: float
    by: str = ""
    """What killed it: the first row not as expected, a crash, the first failing test."""
    exit: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "seconds": round(self.seconds, 1),
            "by": self.by,
            "exit": self.exit,
        }


@dataclass(frozen=True, slots=True)
class MutantResult:
    """One mutant: what check did to it and, if it survived check, what the tests did."""

    mutant: Mutant
    check: Kill
    tests: Kill | None = None

    @property
    def killed(self) -> bool:
        """Check if check, or failing that the tests, killed it."""
        return self.check.verdict == KILLED or (
            self.tests is not None and self.tests.verdict == KILLED
        )

    def as_json(self) -> dict[str, Any]:
        m = self.mutant
        return {
            "id": m.id,
            "family": m.family,
            "steps": m.steps,
            "path": m.path,
            "why": m.why,
            "check": self.check.as_json(),
            "tests": None if self.tests is None else self.tests.as_json(),
        }


@dataclass(slots=True)
class MutantsReport:
    """The whole run: the baseline and every mutant's result."""

    baseline: Kill
    hunt_budget: float
    jobs: int
    results: list[MutantResult] = field(default_factory=list)
    tests_run: bool = False
    equivalent: list[Mutant] = field(default_factory=list)
    """Chosen mutants shown equivalent: not run, not scored."""

    @property
    def check_kills(self) -> int:
        return sum(r.check.verdict == KILLED for r in self.results)

    @property
    def total_kills(self) -> int:
        return sum(r.killed for r in self.results)

    def survivors(self) -> list[MutantResult]:
        """The mutants check did not kill."""
        return [r for r in self.results if r.check.verdict != KILLED]

    def kill_times(self) -> list[float]:
        return sorted(r.check.seconds for r in self.results if r.check.verdict == KILLED)

    def by_family(self) -> dict[str, tuple[int, int]]:
        """Per family: (killed by check, mutants)."""
        out: dict[str, tuple[int, int]] = {}
        for r in self.results:
            k, n = out.get(r.mutant.family, (0, 0))
            out[r.mutant.family] = (k + (r.check.verdict == KILLED), n + 1)
        return out

    def as_json(self) -> dict[str, Any]:
        n = len(self.results)
        times = self.kill_times()
        return {
            "baseline": self.baseline.as_json(),
            "hunt_budget": self.hunt_budget,
            "jobs": self.jobs,
            "mutants": n,
            "killed_by_check": self.check_kills,
            "check_kill_rate": round(self.check_kills / n, 4) if n else None,
            "tests_run": self.tests_run,
            "killed_by_check_or_tests": self.total_kills if self.tests_run else None,
            "time_to_kill_s": {
                "median": round(times[len(times) // 2], 1) if times else None,
                "max": round(times[-1], 1) if times else None,
            },
            "by_family": {f: {"killed": k, "mutants": t} for f, (k, t) in self.by_family().items()},
            "survivors": [r.mutant.id for r in self.survivors()],
            "equivalent": {m.id: m.equivalent for m in self.equivalent},
            "results": [r.as_json() for r in self.results],
        }


def select(filters: Sequence[str] = (), families: Sequence[str] = ()) -> list[Mutant]:
    """The catalogue's mutants whose id contains one of ``filters`` (all when none) and
    whose family is one of ``families`` (all when none); an empty choice is an error."""
    chosen = [
        m
        for m in CATALOGUE
        if (not filters or any(f in m.id for f in filters))
        and (not families or m.family in families)
    ]
    if not chosen:
        raise InvalidInput("no mutant matches the filters")
    return chosen


def _run(
    argv: list[str], cwd: Path, env: dict[str, str], timeout: float
) -> tuple[int | None, str, str, float]:
    """Run ``argv``; return (exit status or None on timeout, stdout, stderr, seconds).
    The process gets a session of its own so that a timeout ends its workers too."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
        return proc.returncode, out, err, time.perf_counter() - started
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        return None, out, err, time.perf_counter() - started
    except BaseException:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise


def _last_line(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:300] if lines else ""


def check_copy(
    copy: Path,
    tmp: Path,
    *,
    hunt_budget: float,
    jobs: int,
    timeout: float,
    extra: Sequence[str] = (),
) -> Kill:
    """Run ``snapsync check --fail-fast`` (with ``extra`` options) in ``copy``; say whether
    it failed and on what."""
    argv = [sys.executable, "-m", "spec.cli", "check", "--fail-fast", "--json"]
    argv += ["--jobs", str(jobs), "--hunt-budget", f"{hunt_budget:g}", *extra]
    status, out, err, seconds = _run(argv, copy, mutant_env(copy, tmp), timeout)
    if status is None:
        return Kill(TIMEOUT, seconds, f"check still running after {timeout:g} s")
    if status == 0:
        return Kill(SURVIVED, seconds, exit=0)
    if status == 1:
        try:
            rows = json.loads(out)["rows"]
            bad = next(r for r in rows if not r["as_expected"] and "skipped" not in r["outcome"])
            by = f"{bad['stage']} ({bad['profile']}): {bad['outcome']}"
        except (ValueError, KeyError, StopIteration):
            by = "check failed: " + _last_line(out + err)
        return Kill(KILLED, seconds, by, 1)
    if status in (130, 143):
        raise KeyboardInterrupt
    # 70: check crashed on the mutated code (an exception it could not place); other
    # statuses: the copy could not even start (an import-time failure).
    return Kill(KILLED, seconds, f"check exited {status}: {_last_line(err)}", status)


_FAILED = re.compile(r"^(?:FAILED|ERROR) (\S+)", re.MULTILINE)


def nearest_tests(copy: Path, mutated: str) -> list[str]:
    """The test files named after the mutated module (``impl/raft.py`` →
    ``model_tests/test_raft*.py``), in name order: the first the tests run."""
    stem = Path(mutated).stem
    return sorted(str(p.relative_to(copy)) for p in (copy / "model_tests").glob(f"test_{stem}*.py"))


def tests_on_copy(copy: Path, tmp: Path, *, timeout: float, first: Sequence[str]) -> Kill:
    """Run the test suite (``pytest -x``, the default selection) in ``copy``: the files
    ``first`` (:func:`nearest_tests`) alone, then, if they pass, the whole suite. A kill
    by the first files is the same verdict in a fraction of the time (the whole suite
    takes ten minutes on two busy cores)."""
    argv = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider"]
    started = time.perf_counter()
    for chosen in ([*first], ["model_tests"]) if first else (["model_tests"],):
        left = timeout - (time.perf_counter() - started)
        status, out, err, _ = _run([*argv, *chosen], copy, mutant_env(copy, tmp), left)
        seconds = time.perf_counter() - started
        if status is None:
            return Kill(TIMEOUT, seconds, f"tests still running after {timeout:g} s")
        if status in (130, 143):
            raise KeyboardInterrupt
        if status != 0:
            failed = _FAILED.search(out)
            by = failed.group(1) if failed else _last_line(out + err)
            return Kill(KILLED, seconds, by, status)
    return Kill(SURVIVED, time.perf_counter() - started, exit=0)


def run_suite(
    mutants: Sequence[Mutant],
    *,
    hunt_budget: float,
    jobs: int,
    tests: bool = False,
    timeout: float = 600.0,
    tests_timeout: float = 1_800.0,
    root: Path | None = None,
    on_result: Callable[[MutantResult], None] | None = None,
    check_options: Sequence[str] = (),
) -> MutantsReport:
    """Run check (and, with ``tests``, the tests on check's survivors) against each mutant.

    ``check_options`` go to every check (the meta-tests shrink the run with them).
    Raises :class:`InvalidInput` when the unmutated project fails its own check."""
    root = project_root() if root is None else root
    with tempfile.TemporaryDirectory(prefix="snapsync-mutants-") as scratch:
        base = Path(scratch)
        # One snapshot of the project for the whole run: edits made meanwhile to the
        # working tree do not leak into later mutants.
        root = copy_project(root, base / "pristine")
        clean = copy_project(root, base / "baseline")
        (base / "baseline-tmp").mkdir()
        baseline = check_copy(
            clean,
            base / "baseline-tmp",
            hunt_budget=hunt_budget,
            jobs=jobs,
            timeout=timeout,
            extra=check_options,
        )
        if baseline.verdict != SURVIVED:
            raise InvalidInput(f"the unmutated project fails its check: {baseline.by}")
        report = MutantsReport(baseline, hunt_budget, jobs, tests_run=tests)
        report.equivalent = [m for m in mutants if m.equivalent]
        for index, mutant in enumerate(mutants):
            if mutant.equivalent:
                continue
            copy = copy_project(root, base / f"m{index}")
            tmp = base / f"m{index}-tmp"
            tmp.mkdir()
            apply_mutant(mutant, copy)
            killed = check_copy(
                copy,
                tmp,
                hunt_budget=hunt_budget,
                jobs=jobs,
                timeout=timeout,
                extra=check_options,
            )
            tested = None
            if tests and killed.verdict != KILLED:
                first = nearest_tests(copy, mutant.path)
                tested = tests_on_copy(copy, tmp, timeout=tests_timeout, first=first)
            result = MutantResult(mutant, killed, tested)
            report.results.append(result)
            if on_result is not None:
                on_result(result)
    return report
