"""The hunt runner: the stateful suite against one profile, within a time budget.

:func:`hunt` runs the campaigns (:mod:`spec.hunt.campaigns`) round-robin, each call
a batch of examples with its own seed fixed by the schedule
(:mod:`spec.hunt.schedule`: slot ``n`` has seed ``seed + n + 1``), until the budget
is spent, ``rounds`` are done or every campaign has failed. The calls run in this
process or on ``jobs`` worker processes (:func:`run_call` is what a worker runs);
the report merges the accepted calls in slot order, so it is the same for every
``jobs`` whenever the same calls run. An example is a swarm walk
(:mod:`spec.hunt.swarm`, the default engine) or a Hypothesis example
(``engine="hypothesis"``; the differential campaign always runs under Hypothesis). A
campaign that fails is shrunk (by the swarm shrinker or by Hypothesis), its shrunk
replay saved as a trace (:mod:`spec.hunt.machine`), and it is not run again; the
others go on. With ``stop_on_first`` the hunt ends at the first violation (the
per-hazard measurement uses it).

Budget and stops: the whole hunt runs under ``deadline(budget_s)`` and every model
step is a stop point (:mod:`spec.robust.stop`); a call in a worker runs under what
was left of the budget when it started. So the hunt ends within the budget plus at
most :data:`~spec.robust.stop.FINISH_GRACE_S` (the shielded final replay that saves
a violation found just before the end). Ctrl-C ends it the same way, and
the report of what was run and found so far comes back with ``stopped`` set. A
trace that cannot be written (an unwritable ``trace_dir``) never replaces its
finding: the violation is reported with ``trace: null`` and ``trace_error``.

Limitations: a finding that is a documented limitation of the reference (H16,
L4: a quorum that cannot commit because its writer voters are themselves catching
up; H29, RAFT-LC: a leader elected without a committed entry, which mosaik's
committee allows under a partition between writers; H30-tail, L1: a new leader's
tail of a term older than the one before its own, which only its next write commits)
is reported under ``limitations``, never as a violation. Campaigns built to reach a limitation
(``lagging-voter``, ``writer-partition``) only run with ``include_limitations``;
otherwise the report lists them under ``excluded`` with the documented
counterexample — excluded by that explicit switch, never silently. Other
campaigns may still reach one (``churn`` breaks writer–writer bonds): it is
reported under ``limitations`` too.
"""

from __future__ import annotations

import functools
import gc
import json
import shutil
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from hypothesis import HealthCheck, Phase, seed, settings
from hypothesis.stateful import RuleBasedStateMachine, run_state_machine_as_test

from impl.errors import InvalidInput
from impl.profile import Profile
from spec.hunt import machine as _machine
from spec.hunt.campaigns import (
    LIMITATION_CAMPAIGNS,
    Campaign,
    consequence_campaign,
    order_for,
)
from spec.hunt.consequences import Consequence
from spec.hunt.differential import differential_class
from spec.hunt.machine import SESSION, HuntFailure, RunRecord, Session, machine_class
from spec.hunt.schedule import FOUND, Schedule, Slot, Slots, run_slots
from spec.hunt.swarm import COARSE, SHRINK_RUNS, Mode, run_walks
from spec.parallel.pool import note
from spec.robust.stop import Stop, StopReason, deadline

__all__ = [
    "DOCUMENTED_LIMITATIONS",
    "ENGINES",
    "GC_THRESHOLD",
    "REACHED_LIMITATIONS",
    "CallResult",
    "CallSettings",
    "CampaignStats",
    "HuntReport",
    "ViolationReport",
    "fewer_collections",
    "hunt",
    "run_call",
    "run_campaign",
]

DOCUMENTED_LIMITATIONS: dict[str, dict[str, str]] = {
    "H16": {
        "title": "quorum deadlock with a lagging voter",
        "campaign": "lagging-voter",
        "switch": "--include-limitations",
        "counterexample": "docs/findings/H16.trace.jsonl",
        "doc": "docs/findings.md#h16-quorum-deadlock-with-a-lagging-voter-limitation",
    },
    "H29": {
        "title": "a partition between writers elects a leader without a committed entry",
        "campaign": "writer-partition",
        "switch": "--include-limitations",
        "counterexample": "docs/findings/H29.trace.jsonl",
        "doc": "docs/findings.md#h29-split-commit-under-a-writer-partition-limitation",
    },
}
"""Limitations of the reference the hunt knows, with their documented counterexample."""

REACHED_LIMITATIONS: dict[str, dict[str, str]] = {
    "H30-tail": {
        "title": "a new leader's tail of a term older than the one before its own commits "
        "only with its next client write",
        "doc": "docs/findings.md#h30-tail-an-older-terms-tail-waits-for-the-next-write-limitation",
    },
}
"""Limitations reached by the ordinary campaigns (no campaign is excluded for them)."""


def _limitation_doc(ident: str) -> str | None:
    """Return where limitation ``ident`` is documented, if the hunt knows it."""
    info = DOCUMENTED_LIMITATIONS.get(ident) or REACHED_LIMITATIONS.get(ident)
    return None if info is None else info["doc"]


@dataclass(slots=True)
class ViolationReport:
    """One violation the hunt found (the shrunk run's)."""

    id: str
    campaign: str
    node: str | None
    detail: str
    time_to_find_s: float
    shrunk_steps: int
    model_steps: int
    trace: str | None
    seed: int
    program: list[str]
    trace_error: str | None = None
    """Why no trace was saved (e.g. the trace directory is not writable), if so."""
    shrink: str | None = None
    """How the swarm shrinker ended (:class:`spec.hunt.swarm.Shrunk`: ``converged``,
    ``runs``, ``time`` or ``stopped``); None when not shrunk by it."""

    def as_json(self) -> dict[str, Any]:
        """Return the JSON form."""
        return {
            "id": self.id,
            "campaign": self.campaign,
            "node": self.node,
            "detail": self.detail,
            "time_to_find_s": round(self.time_to_find_s, 3),
            "shrunk_steps": self.shrunk_steps,
            "model_steps": self.model_steps,
            "trace": self.trace,
            "trace_error": self.trace_error,
            "seed": self.seed,
            "program": self.program,
            "shrink": self.shrink,
        }


@dataclass(slots=True)
class CampaignStats:
    """Work done by one campaign."""

    calls: int = 0
    examples: int = 0
    rule_steps: int = 0
    model_steps: int = 0
    seconds: float = 0.0
    failed: bool = False


@dataclass(slots=True)
class HuntReport:
    """Everything :func:`hunt` found and measured."""

    profile: str
    hazards: list[str]
    budget_s: float
    engine: str = "swarm"
    elapsed_s: float = 0.0
    rule_steps: int = 0
    model_steps: int = 0
    examples: int = 0
    violations: list[ViolationReport] = field(default_factory=list)
    limitations: list[dict[str, Any]] = field(default_factory=list)
    excluded: list[dict[str, str]] = field(default_factory=list)
    coverage: dict[str, int] = field(default_factory=dict)
    campaigns: dict[str, CampaignStats] = field(default_factory=dict)
    jobs: int = 1
    """Worker processes that ran the calls (1: the hunt's own process)."""
    cpu_s: float = 0.0
    """Processor time spent: the hunt's process and the accepted calls in its workers."""
    stopped: StopReason | None = None
    """Why the hunt ended before its budget (Ctrl-C, SIGTERM), or None."""

    @property
    def rule_steps_per_s(self) -> float:
        return self.rule_steps / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def model_steps_per_s(self) -> float:
        return self.model_steps / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def as_json(self) -> dict[str, Any]:
        """Return the JSON form (``snapsync hunt --json``)."""
        return {
            "profile": self.profile,
            "engine": self.engine,
            "jobs": self.jobs,
            "cpu_s": round(self.cpu_s, 3),
            "stopped": self.stopped,
            "hazards": self.hazards,
            "budget_s": self.budget_s,
            "elapsed_s": round(self.elapsed_s, 3),
            "steps": self.rule_steps,
            "steps_per_s": round(self.rule_steps_per_s, 1),
            "model_steps": self.model_steps,
            "model_steps_per_s": round(self.model_steps_per_s, 1),
            "examples": self.examples,
            "violations": [v.as_json() for v in self.violations],
            "limitations": self.limitations,
            "excluded": self.excluded,
            "coverage": dict(sorted(self.coverage.items())),
            "campaigns": {
                name: {
                    "calls": s.calls,
                    "examples": s.examples,
                    "rule_steps": s.rule_steps,
                    "model_steps": s.model_steps,
                    "seconds": round(s.seconds, 3),
                    "failed": s.failed,
                }
                for name, s in self.campaigns.items()
            },
        }


def _settings(campaign: Campaign, examples: int, shrink: bool = True) -> settings:
    phases = [Phase.explicit, Phase.generate] + ([Phase.shrink] if shrink else [])
    return settings(
        max_examples=examples,
        stateful_step_count=campaign.steps,
        deadline=None,
        database=None,
        derandomize=False,
        print_blob=False,
        report_multiple_bugs=False,
        phases=phases,
        suppress_health_check=list(HealthCheck),
    )


def _factory(campaign: Campaign, profile: Profile) -> type[RuleBasedStateMachine]:
    if campaign.differential:
        return differential_class(profile, campaign.differential)
    return machine_class(campaign, profile)


ENGINES: tuple[str, ...] = ("swarm", "hypothesis")
"""How group campaigns are run: :mod:`spec.hunt.swarm` (default) or Hypothesis's stateful
engine. The differential campaign always runs under Hypothesis."""


def run_campaign(
    campaign: Campaign,
    profile: Profile,
    *,
    examples: int,
    run_seed: int,
    trace_dir: Path | None = None,
    fatal_limitations: bool = False,
    shrink: bool = True,
    engine: str = "hypothesis",
    shrink_budget_s: float = 60.0,
    shrink_runs: int = SHRINK_RUNS,
    modes: tuple[Mode, ...] = (),
    found: Callable[[], None] | None = None,
) -> tuple[BaseException | None, float]:
    """Run ``examples`` examples of ``campaign``; return (error, seconds).

    ``engine`` is ``"hypothesis"`` (Hypothesis examples) or ``"swarm"`` (walks of
    :mod:`spec.hunt.swarm`, for group campaigns). :data:`spec.hunt.machine.SESSION`
    holds what the run left (failures, steps, coverage); it is reset here first.
    """
    if engine not in ENGINES:
        raise InvalidInput(f"unknown engine {engine!r}; known: {', '.join(ENGINES)}")
    SESSION.__init__()  # type: ignore[misc]
    SESSION.seed = run_seed
    SESSION.trace_dir = trace_dir
    SESSION.fatal_limitations = fatal_limitations
    if engine == "swarm" and not campaign.differential:
        started = time.perf_counter()
        failure = run_walks(
            campaign,
            profile,
            walks=examples,
            run_seed=run_seed,
            shrink_failures=shrink,
            shrink_budget_s=shrink_budget_s,
            shrink_runs=shrink_runs,
            modes=modes,
            found=found,
        )
        return failure, time.perf_counter() - started
    cls = _factory(campaign, profile)

    def factory() -> RuleBasedStateMachine:
        return cls()

    seed(run_seed)(factory)
    started = time.perf_counter()
    error: BaseException | None = None
    try:
        # A factory function (not the class) so that @seed applies per call.
        run_state_machine_as_test(
            factory,  # type: ignore[arg-type]
            settings=_settings(campaign, examples, shrink),
        )
    except Exception as exc:  # a HuntFailure, or any error a step or the machine raised
        error = exc
    return error, time.perf_counter() - started


def _final_record() -> RunRecord | None:
    finals = [r for r in SESSION.failures if r.final]
    if finals:
        return finals[-1]
    return SESSION.failures[-1] if SESSION.failures else None


def _save_program(trace_dir: Path | None, campaign: str, record: RunRecord, run_seed: int) -> str:
    """Write a differential failure's shrunk program (it has no model trace)."""
    base = trace_dir if trace_dir is not None else SESSION.trace_path(campaign, "x").parent
    base.mkdir(parents=True, exist_ok=True)
    path = base / f"{campaign}-{record.finding.id}-seed{run_seed}.program.json"
    path.write_text(
        json.dumps(
            {"campaign": campaign, "finding": record.finding.as_json(), "program": record.program},
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    return str(path)


_P = ParamSpec("_P")
_R = TypeVar("_R")

GC_THRESHOLD: tuple[int, int, int] = (100_000, 50, 100)
"""The cyclic collector's thresholds during a hunt (Python's default: 700, 10, 10)."""


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Run the cyclic garbage collector less often (:data:`GC_THRESHOLD`) inside the block.

    A hunt allocates millions of short-lived objects (immutable model states, freed by
    reference counting) while holding large long-lived ones (built groups, run
    histories). With the default thresholds the collector walks the long-lived ones
    hundreds of times per second: ``snapsync bench hunt`` measured about 1.6× more
    rule steps per second with these thresholds. Nothing the hunt computes depends on
    when the collector runs.
    """
    old = gc.get_threshold()
    gc.set_threshold(*GC_THRESHOLD)
    try:
        yield
    finally:
        gc.set_threshold(*old)


def _tuned(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """Run ``fn`` inside :func:`fewer_collections`."""

    @functools.wraps(fn)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with fewer_collections():
            return fn(*args, **kwargs)

    return wrapper


@_tuned
def hunt(
    profile: Profile,
    *,
    budget_s: float,
    seed_base: int = 0,
    examples_per_call: int = 25,
    trace_dir: Path | None = None,
    campaigns: Sequence[Campaign] | None = None,
    include_limitations: bool = False,
    stop_on_first: bool = False,
    shrink: bool = True,
    progress: Callable[[HuntReport, str], None] | None = None,
    engine: str = "swarm",
    walks_per_call: int = 10,
    shrink_budget_s: float = 60.0,
    shrink_runs: int = SHRINK_RUNS,
    rounds: int | None = None,
    jobs: int = 1,
    consequence: Consequence | str | None = None,
    fatal_limitations: bool = False,
) -> HuntReport:
    """Run the stateful suite against ``profile`` for about ``budget_s`` seconds.

    ``consequence`` hunts for a stated consequence (stall, deadlock, divergence,
    panic) instead of a broken check, in the group campaigns
    (:func:`~spec.hunt.campaigns.consequence_campaign`). ``fatal_limitations``
    reports a documented limitation as a violation (so that it is shrunk).

    Campaigns aimed at the profile's hazards run first (:func:`order_for`) and get
    three turns per round to the others' one; under the swarm engine their two extra
    turns run coarse walks (the campaign as written: :data:`spec.hunt.swarm.COARSE`).
    ``shrink=False`` reports the first failing run as found (no minimisation): the
    meta-tests use it to measure detection alone. ``rounds`` bounds the work (a fixed
    number of rounds of the schedule, whatever the speed). ``jobs`` worker processes
    run the calls (:mod:`spec.hunt.schedule`); the report is the same for every
    ``jobs`` except for timings and rates.
    """
    if engine not in ENGINES:
        raise InvalidInput(f"unknown engine {engine!r}; known: {', '.join(ENGINES)}")
    hazards = sorted(h.value for h in profile.hazards)
    report = HuntReport(profile.name, hazards, budget_s, engine=engine, jobs=jobs)
    # Campaigns aimed at a switch that is on (hazard ids and behaviour names) get extra turns.
    switched = [h.value for h in profile.hazards] + [b.value for b in profile.behaviours]
    chosen = list(campaigns) if campaigns is not None else list(order_for(switched))
    if include_limitations:
        chosen += [c for c in LIMITATION_CAMPAIGNS if c not in chosen]
    else:
        for ident, info in DOCUMENTED_LIMITATIONS.items():
            report.excluded.append({"limitation": ident, **info})
    if consequence is not None:
        kind = Consequence(consequence)
        chosen = [consequence_campaign(c, kind) for c in chosen if not c.differential]
    for c in chosen:
        report.campaigns[c.name] = CampaignStats()
    wanted = set(switched)
    aimed = [c for c in chosen if wanted & set(c.aims)] if wanted else []
    schedule = Schedule.build(chosen, aimed, seed_base=seed_base, rounds=rounds)
    final_dir = _trace_base(trace_dir)
    started = time.perf_counter()
    cpu_started = time.process_time()
    with _staging(final_dir) as staging:
        settings = CallSettings(
            profile,
            examples_per_call,
            walks_per_call,
            shrink,
            engine,
            shrink_budget_s,
            shrink_runs,
            staging,
            fatal_limitations,
        )
        live = _Live(report, progress, started)
        # Every model step is a stop point: in this process (jobs=1) the deadline stops
        # the call in progress; a worker gets what is left of it with each call.
        with deadline(budget_s):
            slots = run_slots(
                schedule,
                functools.partial(run_call, settings),
                jobs=jobs,
                budget_s=budget_s,
                started=started,
                stop_on_first=stop_on_first,
                on_result=live.result,
                on_tick=live.tick,
            )
        _merge(report, slots, staging, final_dir)
    report.stopped = slots.stopped if slots.stopped != "budget" else None
    report.elapsed_s = time.perf_counter() - started
    if jobs > 1:  # the calls ran in workers: add their processor time to the parent's
        report.cpu_s += time.process_time() - cpu_started
    else:
        report.cpu_s = time.process_time() - cpu_started
    if progress is not None:
        progress(report, "stopped" if report.stopped else "done")
    return report


@dataclass(frozen=True, slots=True)
class CallSettings:
    """How every call of one hunt runs (the same for every slot)."""

    profile: Profile
    examples_per_call: int
    walks_per_call: int
    shrink: bool
    engine: str
    shrink_budget_s: float
    shrink_runs: int
    trace_dir: Path
    """Where the call writes its traces (the hunt's staging directory)."""
    fatal_limitations: bool = False
    """A limitation the call reaches fails it like a violation (consequence runs)."""


@dataclass(slots=True)
class CallResult:
    """What one call (one slot of the schedule) did: the report adds these up in slot order."""

    campaign: str
    seconds: float
    cpu_s: float
    """Processor time of the call (in the process that ran it)."""
    examples: int
    rule_steps: int
    model_steps: int
    coverage: dict[str, int]
    limitations: list[dict[str, Any]]
    """Every limitation the call reached (the report keeps the first of each id)."""
    violation: ViolationReport | None
    """The call's violation; its ``time_to_find_s`` counts from the call's start."""
    files: list[str]
    """The files the call wrote (traces, differential programs), by name."""
    stopped: StopReason | None = None
    """Why the call ended before its walks did (its counts are those of a partial call)."""

    @property
    def failed(self) -> bool:
        """Check if the call found a violation (its campaign is not run again)."""
        return self.violation is not None


def run_call(settings: CallSettings, slot: Slot) -> CallResult:
    """Run one call of the schedule (in a worker process, or in the hunt's own).

    Everything it returns depends only on ``settings`` and ``slot``: the walks of the
    slot's seed, the shrinker's passes, the traces' contents.
    """
    with fewer_collections():  # a spawned worker does not inherit the hunt's thresholds
        return _run_call(settings, slot)


def _run_call(settings: CallSettings, slot: Slot) -> CallResult:
    campaign = slot.campaign
    swarm = settings.engine == "swarm" and not campaign.differential
    began = time.perf_counter()
    cpu_began = time.process_time()
    stopped: StopReason | None = None
    try:
        error, seconds = run_campaign(
            campaign,
            settings.profile,
            examples=settings.walks_per_call if swarm else settings.examples_per_call,
            run_seed=slot.seed,
            trace_dir=settings.trace_dir,
            shrink=settings.shrink,
            engine=settings.engine,
            shrink_budget_s=settings.shrink_budget_s,
            shrink_runs=settings.shrink_runs,
            fatal_limitations=settings.fatal_limitations,
            # An aimed campaign's extra turns run it as written (coarse walks).
            modes=(COARSE,) if slot.coarse else (),
            found=_found,
        )
    except Stop as stop:
        # Stopped mid-call (Ctrl-C, the budget): a failure found but not yet shrunk is
        # still reported, with the program it had.
        stopped = stop.reason
        error, seconds = _pending_failure(), time.perf_counter() - began
    violation = None
    if error is not None:
        violation = _violation(campaign, error, slot.seed, began, settings.trace_dir)
        violation.shrink = SESSION.shrink_limit if swarm and settings.shrink else None
    limitations = [
        {
            "limitation": record.finding.limitation or record.finding.id,
            "id": record.finding.id,
            "campaign": campaign.name,
            "detail": record.finding.detail,
            "trace": record.trace,
            "trace_error": record.trace_error,
        }
        for record in SESSION.limitations
    ]
    written = [r.trace for r in SESSION.failures + SESSION.limitations if r.trace is not None]
    if violation is not None and violation.trace is not None:
        written.append(violation.trace)
    return CallResult(
        campaign=campaign.name,
        seconds=seconds,
        cpu_s=time.process_time() - cpu_began,
        examples=SESSION.examples,
        rule_steps=SESSION.rule_steps,
        model_steps=SESSION.model_steps,
        coverage=dict(SESSION.coverage),
        limitations=limitations,
        violation=violation,
        files=sorted({Path(f).name for f in written}),
        stopped=stopped,
    )


def _pending_failure() -> BaseException | None:
    """The failure a stopped call had found (the last one recorded), if any."""
    if not SESSION.failures:
        return None
    record = SESSION.failures[-1]
    return HuntFailure(record.finding, f"{record.finding.id}: {record.finding.detail}")


def _found() -> None:
    """Tell the scheduler (when in a worker) that this call failed: it stops running the
    campaign's later slots ahead while the failure is shrunk."""
    note(FOUND)


def _trace_base(trace_dir: Path | None) -> Path:
    """The directory traces end up in (``trace_dir``, else the machines' default)."""
    return Session(trace_dir=trace_dir).trace_path("x", "y").parent


@contextmanager
def _staging(final_dir: Path) -> Iterator[Path]:
    """A fresh directory the calls write into; the files of accepted calls are moved to
    ``final_dir`` (:func:`_merge`), the rest (calls run ahead and dropped, calls cut
    off by a stop) go with the directory."""
    try:
        final_dir.mkdir(parents=True, exist_ok=True)
        path = Path(tempfile.mkdtemp(prefix=".snapsync-staging-", dir=final_dir))
    except OSError:  # an unwritable trace directory: the traces fail to save later
        path = Path(tempfile.mkdtemp(prefix="snapsync-staging-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _keep(
    final_dir: Path, staged: str | None, errors: dict[str, str]
) -> tuple[str | None, str | None]:
    """Return where a staged file is once moved to ``final_dir`` (None if it was not), and
    why it could not be moved (``errors``: by file name), if so."""
    if staged is None:
        return None, None
    name = Path(staged).name
    target = final_dir / name
    if name in errors:
        return None, errors[name]
    return (str(target), None) if target.exists() else (None, None)


def _merge(report: HuntReport, slots: Slots[CallResult], staging: Path, final_dir: Path) -> None:
    """Add the accepted calls to ``report`` in slot order, and keep their files."""
    seen_limitations: set[str] = set()
    errors: dict[str, str] = {}
    for number, r in slots.in_order():
        for name in r.files:
            try:
                shutil.move(staging / name, final_dir / name)
            except OSError as exc:  # the finding is kept, with why its trace is missing
                errors[name] = f"cannot write {final_dir / name}: {exc.strerror or exc}"
        stats = report.campaigns[r.campaign]
        stats.calls += 1
        stats.examples += r.examples
        stats.rule_steps += r.rule_steps
        stats.model_steps += r.model_steps
        stats.seconds += r.seconds
        report.cpu_s += r.cpu_s
        report.rule_steps += r.rule_steps
        report.model_steps += r.model_steps
        report.examples += r.examples
        for name, count in r.coverage.items():
            report.coverage[name] = report.coverage.get(name, 0) + count
        for lim in r.limitations:
            ident = lim["limitation"]
            if ident in seen_limitations:
                continue
            seen_limitations.add(ident)
            trace, error = _keep(final_dir, lim["trace"], errors)
            report.limitations.append(
                {
                    **lim,
                    "trace": trace,
                    "trace_error": lim["trace_error"] or error,
                    "documented": _limitation_doc(ident),
                }
            )
        if r.violation is not None:
            stats.failed = True
            v = r.violation
            v.time_to_find_s += slots.dispatched.get(number, 0.0)
            v.trace, error = _keep(final_dir, v.trace, errors)
            v.trace_error = v.trace_error or error
            report.violations.append(v)


@dataclass(slots=True)
class _Live:
    """Running totals for the progress display (every finished call, in finishing order)."""

    final: HuntReport
    progress: Callable[[HuntReport, str], None] | None
    started: float
    report: HuntReport = field(init=False)

    def __post_init__(self) -> None:
        f = self.final
        self.report = HuntReport(f.profile, f.hazards, f.budget_s, engine=f.engine, jobs=f.jobs)
        self.report.campaigns = {name: CampaignStats() for name in f.campaigns}

    def result(self, slot: Slot, r: CallResult) -> None:
        live = self.report
        live.rule_steps += r.rule_steps
        live.model_steps += r.model_steps
        live.examples += r.examples
        live.campaigns[r.campaign].seconds += r.seconds
        live.campaigns[r.campaign].failed |= r.failed
        if r.violation is not None and r.campaign not in {v.campaign for v in live.violations}:
            live.violations.append(r.violation)
        live.elapsed_s = time.perf_counter() - self.started
        if self.progress is not None:
            self.progress(live, slot.campaign.name)

    def tick(self, running: list[Slot]) -> None:
        if self.progress is None:
            return
        self.report.elapsed_s = time.perf_counter() - self.started
        names = sorted({s.campaign.name for s in running})
        self.progress(self.report, ", ".join(names) if names else "")


def _violation(
    campaign: Campaign,
    error: BaseException,
    run_seed: int,
    started: float,
    trace_dir: Path | None,
) -> ViolationReport:
    found_at = SESSION.first_failure_at
    ttf = (found_at - started) if found_at is not None else (time.perf_counter() - started)
    record = _final_record()
    if record is None or not isinstance(error, HuntFailure):
        # Not one of our checks: an exception in a step or in the machine itself.
        text = "".join(traceback.format_exception_only(type(error), error)).strip()
        return ViolationReport(
            id="ERROR",
            campaign=campaign.name,
            node=None,
            detail=text.splitlines()[0] if text else type(error).__name__,
            time_to_find_s=ttf,
            shrunk_steps=record.rule_steps if record is not None else 0,
            model_steps=record.model_steps if record is not None else 0,
            trace=record.trace if record is not None else None,
            seed=run_seed,
            program=record.program if record is not None else [],
        )
    trace, trace_error = record.trace, record.trace_error
    if trace is None and campaign.differential:
        try:
            trace = _save_program(trace_dir, campaign.name, record, run_seed)
        except OSError as exc:
            trace_error = f"cannot write the program: {exc.strerror or exc}"
    return ViolationReport(
        id=record.finding.id,
        campaign=campaign.name,
        node=record.finding.node,
        detail=record.finding.detail,
        time_to_find_s=ttf,
        shrunk_steps=record.rule_steps,
        model_steps=record.model_steps,
        trace=trace,
        seed=run_seed,
        program=record.program,
        trace_error=trace_error,
    )


# Kept for type checkers: the machine module is imported for its SESSION side effects.
_ = _machine
