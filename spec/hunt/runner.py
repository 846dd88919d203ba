"""The hunt runner: the stateful suite against one profile, within a time budget.

:func:`hunt` runs the campaigns (:mod:`spec.hunt.campaigns`) round-robin, each
call a batch of examples with its own seed (``seed + call number``), until the
budget is spent. An example is a swarm walk (:mod:`spec.hunt.swarm`, the default
engine) or a Hypothesis example (``engine="hypothesis"``; the differential
campaign always runs under Hypothesis). A campaign that fails is shrunk (by the
swarm shrinker or by Hypothesis), its shrunk replay saved as a trace
(:mod:`spec.hunt.machine`), and it is not run again; the others go on. With
``stop_on_first`` the hunt ends at the first violation (the per-hazard measurement
uses it).

Budget and stops: the whole hunt runs under ``deadline(budget_s)`` and every model
step is a stop point (:mod:`spec.robust.stop`), so the hunt ends within the budget
plus at most :data:`~spec.robust.stop.FINISH_GRACE_S` (the shielded final replay
that saves a violation found just before the end). Ctrl-C ends it the same way, and
the report of what was run and found so far comes back with ``stopped`` set. A
trace that cannot be written (an unwritable ``trace_dir``) never replaces its
finding: the violation is reported with ``trace: null`` and ``trace_error``.

Limitations: a finding that is a documented limitation of the reference (H16,
L4: a quorum that cannot commit because its writer voters are themselves catching
up; H29, RAFT-LC: a leader elected without a committed entry, which mosaik's
committee allows under a partition between writers) is reported under
``limitations``, never as a violation. Campaigns built to reach a limitation
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
from spec.hunt.machine import SESSION, HuntFailure, RunRecord, machine_class
from spec.hunt.swarm import COARSE, Mode, run_walks
from spec.robust.stop import Stop, StopReason, deadline, stop_point, stopping

__all__ = [
    "DOCUMENTED_LIMITATIONS",
    "ENGINES",
    "GC_THRESHOLD",
    "CampaignStats",
    "HuntReport",
    "ViolationReport",
    "fewer_collections",
    "hunt",
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
        return differential_class(profile)
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
    shrink_budget_s: float = 20.0,
    modes: tuple[Mode, ...] = (),
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
            modes=modes,
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
    shrink_budget_s: float = 20.0,
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
    meta-tests use it to measure detection alone.
    """
    if engine not in ENGINES:
        raise InvalidInput(f"unknown engine {engine!r}; known: {', '.join(ENGINES)}")
    hazards = sorted(h.value for h in profile.hazards)
    report = HuntReport(profile.name, hazards, budget_s, engine=engine)
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
    started = time.perf_counter()
    with deadline(budget_s), stopping() as stopped:
        _rounds(
            report,
            chosen,
            profile,
            started,
            progress,
            _Options(
                budget_s,
                seed_base,
                examples_per_call,
                trace_dir,
                stop_on_first,
                shrink,
                engine,
                walks_per_call,
                shrink_budget_s,
                fatal_limitations,
                frozenset(switched),
            ),
        )
    report.stopped = stopped.reason if stopped.reason != "budget" else None
    report.elapsed_s = time.perf_counter() - started
    if progress is not None:
        progress(report, "stopped" if report.stopped else "done")
    return report


@dataclass(frozen=True, slots=True)
class _Options:
    budget_s: float
    seed_base: int
    examples_per_call: int
    trace_dir: Path | None
    stop_on_first: bool
    shrink: bool
    engine: str
    walks_per_call: int
    shrink_budget_s: float
    fatal_limitations: bool
    switched: frozenset[str]
    """The profile's switches that are on (hazard ids and behaviour names): campaigns
    aimed at one of them get extra turns."""


def _rounds(
    report: HuntReport,
    chosen: list[Campaign],
    profile: Profile,
    started: float,
    progress: Callable[[HuntReport, str], None] | None,
    o: _Options,
) -> None:
    """The round-robin of :func:`hunt` (until every campaign failed, the budget is spent,
    or a stop point raises)."""
    call = 0
    seen_limitations: set[str] = set()
    wanted = o.switched
    aimed = [c for c in chosen if wanted & set(c.aims)] if wanted else []
    while True:
        active = [c for c in chosen if not report.campaigns[c.name].failed]
        if not active:
            return
        # Campaigns aimed at the named hazards get three turns per round.
        extra = [c for c in aimed if c in active] * 2
        for turn, campaign in enumerate(extra + active):
            if report.campaigns[campaign.name].failed:
                continue
            if time.perf_counter() - started >= o.budget_s:
                return
            stop_point()
            call += 1
            run_seed = o.seed_base + call
            if progress is not None:
                progress(report, campaign.name)
            swarm = o.engine == "swarm" and not campaign.differential
            began = time.perf_counter()
            stop: Stop | None = None
            error: BaseException | None = None
            try:
                error, _ = run_campaign(
                    campaign,
                    profile,
                    examples=o.walks_per_call if swarm else o.examples_per_call,
                    run_seed=run_seed,
                    trace_dir=o.trace_dir,
                    shrink=o.shrink,
                    engine=o.engine,
                    shrink_budget_s=o.shrink_budget_s,
                    fatal_limitations=o.fatal_limitations,
                    # An aimed campaign's extra turns run it as written (coarse walks).
                    modes=(COARSE,) if turn < len(extra) else (),
                )
            except Stop as exc:
                # Stopped mid-call: a failure found but not yet shrunk is still reported.
                stop = exc
                error = _pending_failure()
            _account(report, campaign, time.perf_counter() - began, seen_limitations)
            if error is not None:
                report.campaigns[campaign.name].failed = True
                report.violations.append(
                    _violation(campaign, error, run_seed, started, o.trace_dir)
                )
            if stop is not None:
                raise stop
            if error is not None and o.stop_on_first:
                return


def _pending_failure() -> BaseException | None:
    """The failure a stopped call had found (the last one recorded), if any."""
    if not SESSION.failures:
        return None
    record = SESSION.failures[-1]
    return HuntFailure(record.finding, f"{record.finding.id}: {record.finding.detail}")


def _account(
    report: HuntReport, campaign: Campaign, seconds: float, seen_limitations: set[str]
) -> None:
    """Add what the last call did (:data:`SESSION`) to the report."""
    stats = report.campaigns[campaign.name]
    stats.calls += 1
    stats.examples += SESSION.examples
    stats.rule_steps += SESSION.rule_steps
    stats.model_steps += SESSION.model_steps
    stats.seconds += seconds
    report.rule_steps += SESSION.rule_steps
    report.model_steps += SESSION.model_steps
    report.examples += SESSION.examples
    for name, count in SESSION.coverage.items():
        report.coverage[name] = report.coverage.get(name, 0) + count
    for record in SESSION.limitations:
        ident = record.finding.limitation or record.finding.id
        if ident in seen_limitations:
            continue
        seen_limitations.add(ident)
        report.limitations.append(
            {
                "limitation": ident,
                "id": record.finding.id,
                "campaign": campaign.name,
                "detail": record.finding.detail,
                "trace": record.trace,
                "trace_error": record.trace_error,
                "documented": DOCUMENTED_LIMITATIONS.get(ident, {}).get("doc"),
            }
        )


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
