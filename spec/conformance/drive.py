"""``snapsync drive``: the group model with some nodes played by an external process.

Maelstrom's boundary (the harness owns the network and the clock; the node is a
process speaking JSON lines) on top of the hunt's machinery: the same campaigns,
rules, faults and swarm walks (:mod:`spec.hunt`), with the nodes of a *role*
hosted by an adapter (:mod:`spec.conformance.host`):

* ``lagging`` — the readers that join late and catch up by snapshot (``r8``, ``r9``);
* ``reader`` — the in-sync readers (``r1``…), providers of snapshots;
* ``writer`` — the writers (``w0``… ; ``w0`` leads first);
* ``all`` — every node.

After every model step (:class:`DriveDriver`): the model's own checks on the
nodes it plays and on every message on the wire (I2, I13, I14…); the
observation and wire checks on the hosted nodes (:mod:`spec.conformance.judge`:
I4, I5, I6, I9, I11, I12, FRESH, RAFT-ES); a step the adapter fails (``CRASH:kind``:
crash, timeout, malformed answer, refused op) or a panic it reports
(``PANIC:Hx``); and, unless switched off, the online validation of each hosted
node's event log against the spec (``CONFORM``; the failure names the single
hazard switches that explain the node's behaviour, ``CONFORM:H1``). Liveness is
the hunt's drain: every session must end and the group converge within the
model's horizon (``L1``).

A failing walk is shrunk by the swarm shrinker with a fresh adapter process per
attempt (a process cannot be copied mid-run), replayed once more to write its
trace — with the hosted nodes' event logs in its header (``meta.drive.logs``) —
and ``snapsync replay --adapter CMD TRACE`` re-runs it against the process.
Walks continue after a failure, so one run reports every distinct failure
(by its id) it meets within the budget.
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

from impl.codec import canonical_json
from impl.errors import InvalidInput
from impl.messages import FetchDataResponse
from impl.profile import Hazard, Profile
from spec.conformance.events import read_log_lines
from spec.conformance.host import AdapterHost, Deviation
from spec.conformance.judge import Judge
from spec.conformance.nodeclient import NodeProcess
from spec.conformance.process import AdapterError
from spec.conformance.validate import Verdict, attribute
from spec.hunt.campaigns import Campaign, order_for
from spec.hunt.driver import UNTIL, Driver, Finding
from spec.hunt.machine import (
    SCHEDULER_RULES,
    SESSION,
    GroupMachine,
    HuntFailure,
    Session,
    SlowLinkMachine,
    run_prelude,
)
from spec.hunt.scenario import LAGGING, GroupShape, build_group, world_setup
from spec.hunt.swarm import COARSE, Mode, Program, Run, run_program, shrink, walk
from spec.model.actions import ACTIONS, Transition
from spec.model.state import World, WorldSetup
from spec.parallel.ahead import run_ahead
from spec.parallel.pool import at_worker_exit
from spec.robust.stop import StopReason, shielded
from spec.sim.trace import TraceError, TraceReader, decode_args, setup_from_header, step_record

__all__ = [
    "DRIVE_MODES",
    "ROLES",
    "DriveDriver",
    "DriveFinding",
    "DriveMachine",
    "DriveReport",
    "DriveSettings",
    "ReplayReport",
    "drive",
    "drive_machine_class",
    "hosted_names",
    "replay_with_adapter",
]

ROLES: tuple[str, ...] = ("lagging", "reader", "writer", "all")
"""Which nodes of the group the adapter plays (module docstring)."""

DRIVE_FINE = Mode("fine", 0.8, 0.01, 6, 120, True)
DRIVE_MODES: tuple[Mode, ...] = (DRIVE_FINE, COARSE)
"""Walks of drive: like the hunt's, shorter (each model step may cross the process
boundary, and a walk restarts the adapter)."""


def hosted_names(role: str, shape: GroupShape) -> frozenset[str]:
    """Return the names of the nodes of ``shape`` that ``role`` hosts.

    >>> sorted(hosted_names("lagging", GroupShape(readers=2, lagging=1)))
    ['r8']
    >>> sorted(hosted_names("reader", GroupShape(readers=2, lagging=1)))
    ['r1', 'r2']
    """
    names = shape.names()
    lagging = set(LAGGING[: shape.lagging])
    if role == "lagging":
        chosen = [n for n in names if n in lagging]
    elif role == "reader":
        chosen = [n for n in names if n.startswith("r") and n not in lagging]
    elif role == "writer":
        chosen = [n for n in names if n.startswith("w")]
    elif role == "all":
        chosen = list(names)
    else:
        raise InvalidInput(f"unknown role {role!r}; known: {', '.join(ROLES)}")
    return frozenset(chosen)


@dataclass(frozen=True, slots=True)
class DriveSettings:
    """How a drive run reaches its adapter and what it checks."""

    command: str
    """The adapter command (split by POSIX shell rules)."""
    role: str = "lagging"
    timeout_s: float = 10.0
    """Seconds to wait for one answer."""
    conform: bool = True
    """Validate each hosted node's log against the spec as it grows (``CONFORM``)."""
    shared: bool = False
    """Runs share one process, each with its own node handles (walks); otherwise each run
    starts its own (shrink attempts and replays: a run must not depend on an earlier one)."""
    known: frozenset[str] = frozenset()
    """Failure keys already found in this drive: not failures any more, so later runs go
    past them to what lies behind (mosaik's H3 panic behind its H6 deviation)."""


_SHARED: dict[tuple[str, float], NodeProcess] = {}
_RUNS = [0]


_SPARE: dict[tuple[str, float], NodeProcess] = {}
"""Per command: a fresh process already starting (its import overlaps the current run)."""

_OWNER = [os.getpid()]
"""The process whose adapters :data:`_SHARED` and :data:`_SPARE` hold: a forked worker
starts with its parent's (not its own children: it must not use or end them)."""


def _own_processes() -> None:
    """In a new (forked) worker: forget the parent's adapters, and end this worker's own
    when the worker ends (:func:`spec.parallel.pool.at_worker_exit`)."""
    if _OWNER[0] == os.getpid():
        return
    _OWNER[0] = os.getpid()
    _SHARED.clear()
    _SPARE.clear()
    at_worker_exit(close_shared)


def _process(settings: DriveSettings) -> tuple[NodeProcess, str]:
    """Return a started adapter process for one run, and the suffix of its node handles."""
    _own_processes()
    key = (settings.command, settings.timeout_s)
    if not settings.shared:
        process = _SPARE.pop(key, None) or NodeProcess(settings.command, timeout=settings.timeout_s)
        process.start()
        spare = _SPARE[key] = NodeProcess(settings.command, timeout=settings.timeout_s)
        spare.spawn()
        return process, ""
    shared = _SHARED.get(key)
    if shared is None or not shared.alive:
        shared = _SHARED[key] = NodeProcess(settings.command, timeout=settings.timeout_s)
        shared.start()
    process = shared
    _RUNS[0] += 1
    return process, f"@{_RUNS[0]}"


def close_shared() -> None:
    """End the processes walks shared, and the spare ones."""
    for pool in (_SHARED, _SPARE):
        while pool:
            _, process = pool.popitem()
            process.close()


# -- the driver ------------------------------------------------------------------------------------

_SEEN: set[str] = set()
"""The failure ids the drivers of this process met, ignored ones included (:func:`run_walk`
clears it before its walk)."""

_WIRE_IDS = frozenset({"I2", "I9", "I13", "I14"})
"""The model's checks that judge a hosted node from the wire (I9: its committed cursor
against the group's log)."""


class DriveDriver(Driver):
    """A hunt :class:`~spec.hunt.driver.Driver` whose hosted nodes are judged from outside."""

    def __init__(
        self, setup: WorldSetup, host: AdapterHost, known: frozenset[str] = frozenset()
    ) -> None:
        super().__init__(setup)
        self.host = host
        self.known = known
        self.judge = Judge(host.hosted, self.checker.oracle)
        self.conform_verdicts: list[tuple[str, Verdict, list[str]]] = []
        self.met: set[str] = set()
        """Every failure id this run met, the ignored ones (in ``known``) included."""
        self.partitioned = False
        """A bond between two writers broke in this run (H29 needs one under reference)."""

    def fork(self) -> Driver:
        """A run with an external process cannot be copied."""
        raise TypeError("a drive run cannot be forked: its hosted nodes live in a process")

    def act(self, t: Transition) -> Transition:
        """Commit ``t``: the model's checks, then the hosted nodes' (module docstring).

        A documented limitation (H29: a partition between writers elects a leader without
        a committed entry) ends the judging as in the hunt: the limitation is recorded, and
        what this step and later ones show — a hosted node's digest off the group's log
        (I9), its offers — is its consequence. It is accepted as H29 only after a
        writer–writer bond broke in this run: without a partition a hosted node that breaks
        leader completeness or state machine safety is a failure of its own.
        """
        known = len(self.findings)
        was_limited = self.limited
        if t.action == "break_bond" and all(
            t.before.nodes[n].writer for n in (t.args["a"], t.args["b"]) if n in t.before.nodes
        ):
            self.partitioned = True
        super().act(t)
        hosted = self.host.hosted
        new = self.findings[known:]
        del self.findings[known:]
        if was_limited is not None:
            return t  # after a limitation nothing is judged (its consequences)
        if self.limited is not None:
            if self.partitioned:
                self.findings.append(self.limited)  # the machine records it as a limitation
                _SEEN.add(self.limited.id)
                return t
            # No partition: not H29, judge it like any other finding of a hosted node.
            unexcused = replace(self.limited, limitation=None)
            new = [unexcused if f is self.limited else f for f in new]
            self.limited = None
            wire = _WIRE_IDS | {unexcused.id}
        else:
            wire = _WIRE_IDS
        # About a hosted node, the model judges only the wire and its committed cursor
        # (I2, I13, I14, I9's divergence); a panic or a failed step is named by what the
        # adapter said (the model reports H3's panic as I7, from its own records).
        kept = [f for f in new if f.node not in hosted or f.id in wire]
        for o in t.outcomes:
            if o.name not in hosted:
                continue
            if o.panic is not None:
                kept.append(
                    Finding(
                        f"PANIC:{o.panic.hazard}",
                        o.name,
                        f"the node panicked at {o.panic.site}: {o.panic.detail}",
                        self.steps,
                    )
                )
            elif o.error is not None and o.error.startswith("InvalidState: "):
                detail = o.error.removeprefix("InvalidState: ")
                kind = detail.split(":", 1)[0]
                kept.append(Finding(f"CRASH:{kind}", o.name, f"{o.step}: {detail}", self.steps))
        kept.extend(self.judge.check(t, self.steps))
        for deviation in self.host.take_deviations():
            kept.append(self._conform(deviation))
        met = {f.id for f in kept}
        self.met |= met
        _SEEN.update(met)
        self.findings.extend(f for f in kept if f.id not in self.known)
        return t

    def _conform(self, deviation: Deviation) -> Finding:
        v = deviation.verdict
        log = self.host.logs[deviation.node]
        lines = [canonical_json(r) for r in log.lines()]
        blame = attribute(read_log_lines(lines, f"{deviation.node}.events"), self.setup.profile, v)
        best = [a for a in blame if a.explained == blame[0].explained] if blame else []
        hazards = "|".join(a.switch for a in best)
        ident = "CONFORM" + (f":{hazards}" if hazards else "")
        self.conform_verdicts.append((deviation.node, v, [a.switch for a in best]))
        allowed = f"; the spec allows: {v.allowed[0]}" if v.allowed else ""
        like = f" (behaves like {self.setup.profile.name}+{hazards})" if hazards else ""
        return Finding(
            ident,
            deviation.node,
            f"event log line {v.line} ({v.event}): {v.reason}{allowed}{like}",
            self.steps,
        )

    def until(self, name: str) -> Callable[[World], bool]:
        """Deep states, judged for hosted nodes from what the harness saw (:mod:`judge`)."""
        base = UNTIL[name]
        if name not in ("fetching", "parallel_fetch", "snapshot_buffered"):
            return base
        judge = self.judge

        def hosted(world: World) -> bool:
            for n in judge.hosted:
                view = judge.view(n)
                slot = world.nodes.get(n)
                if view is None or slot is None or not slot.up or not view.session:
                    continue
                if name == "fetching" and view.outstanding:
                    return True
                if name == "snapshot_buffered" and view.own_snapshot:
                    return True
                if name == "parallel_fetch" and len(view.outstanding) >= 2:
                    for src in world.bond_peers(n):
                        if any(
                            isinstance(i.message, FetchDataResponse) for i in world.queue(src, n)
                        ):
                            return True
            return False

        return lambda world: base(world) or hosted(world)


# -- the machine -----------------------------------------------------------------------------------


class DriveMachine(GroupMachine):
    """The group machine with the role's nodes hosted by the adapter (a fresh process per run)."""

    settings: ClassVar[DriveSettings]

    def start_group(self, shape: GroupShape) -> Driver:
        """Start the adapter, form the group through it, run the campaign's prelude."""
        s = self.settings
        process, suffix = _process(s)
        base = world_setup(shape, self.profile, self.campaign.faults)
        host = AdapterHost(
            process,
            hosted_names(s.role, shape),
            kind=base.kind,
            config=base.config,
            heartbeat_interval_ms=base.heartbeat_interval_ms,
            profile=self.profile,
            epoch_wall_ms=base.epoch_wall_ms,
            validate=s.conform,
            handle_suffix=suffix,
            owns_process=not s.shared,
        )
        self.host: AdapterHost | None = host
        driver = DriveDriver(replace(base, host=host), host, s.known)
        self.d = driver  # teardown closes the process even if the build fails
        build_group(driver, shape)
        run_prelude(driver, self.campaign.prelude)
        return driver

    def _breakable(self) -> list[tuple[str, str]]:
        """The hunt's breakable bonds, except between two writers when one is hosted.

        A partition between writers reaches H29 (a leader without a committed entry), a
        documented limitation of both profiles. The model names it from the nodes' logs
        (RAFT-LC); a hosted writer shows only its projection, so its part of H29 would
        surface later as a divergence or a stall that cannot be told apart from a bug of
        its own. With model writers the hunt's rule applies: the limitation is recorded
        and the run is not judged past it (:meth:`DriveDriver.act`).
        """
        bonds = super()._breakable()
        d = self.d
        if not isinstance(d, DriveDriver):
            return bonds
        w, hosted = d.world, d.host.hosted
        return [
            (a, b)
            for a, b in bonds
            if not (w.nodes[a].writer and w.nodes[b].writer and (a in hosted or b in hosted))
        ]

    def trace_meta(self, finding: Finding) -> dict[str, Any]:
        """The hunt's meta plus the adapter, the role and the hosted nodes' event logs."""
        meta = super().trace_meta(finding)
        host = getattr(self, "host", None)
        info: dict[str, Any] = {
            "adapter": self.settings.command,
            "role": self.settings.role,
            # The failures found before that this run met and went past (a run that met
            # none of them is the same whichever were found before it: --jobs).
            "ignored": sorted(self.settings.known & getattr(self.d, "met", set())),
        }
        if host is not None:
            hello = host.process.hello
            info["hosted"] = sorted(host.hosted)
            info["implementation"] = None if hello is None else hello.implementation
            info["logs"] = {name: log.lines() for name, log in sorted(host.logs.items())}
        meta["drive"] = info
        return meta

    def teardown(self) -> None:
        """The hunt's teardown (the liveness drain), then the adapter process ends."""
        try:
            super().teardown()
        finally:
            host = getattr(self, "host", None)
            if host is not None:
                host.close()


_CLASSES: dict[tuple[Any, ...], type[GroupMachine]] = {}


def drive_machine_class(
    campaign: Campaign, profile: Profile, settings: DriveSettings
) -> type[GroupMachine]:
    """Return the drive machine class of ``campaign`` under ``profile`` (cached)."""
    key = (campaign.name, profile.name, profile.hazards, profile.behaviours, settings)
    cls = _CLASSES.get(key)
    if cls is None:
        name = "Drive" + "".join(part.title() for part in campaign.name.split("-")) + "Machine"
        attrs = {"campaign": campaign, "profile": profile, "settings": settings}
        # The slow-link rules, if the campaign enables them (as machine_class does).
        slow = campaign.rules & SCHEDULER_RULES
        bases: tuple[type, ...] = (DriveMachine, SlowLinkMachine) if slow else (DriveMachine,)
        cls = _CLASSES[key] = type(name, bases, attrs)
    return cls


# -- the run ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class DriveFinding:
    """One distinct failure a drive run found, shrunk."""

    key: str
    """What identifies it (the finding id: ``I9``, ``CONFORM:H1``, ``PANIC:H3``, ``L1``…)."""
    campaign: str
    node: str | None
    detail: str
    seconds_to_find: float
    shrunk_calls: int
    attempts: int
    """Shrink attempts (each one a fresh adapter process)."""
    trace: str | None
    program: list[str]
    seed: int
    shrink: str | None = None
    """How its shrink ended (:class:`spec.hunt.swarm.Shrunk`): ``converged`` or ``runs``
    (``--max-shrinks``) are the same on any machine; ``time`` (``--shrink-budget``) or
    ``stopped`` depend on its speed."""

    @property
    def hazards(self) -> list[str]:
        """Return the hazard switches the finding names (``CONFORM:H1|H10``, ``PANIC:H3``)."""
        _, _, tail = self.key.partition(":")
        known = {h.value for h in Hazard}
        return [h for h in tail.split("|") if h in known]

    def as_json(self) -> dict[str, Any]:
        """Return the JSON form."""
        return {
            "key": self.key,
            "hazards": self.hazards,
            "campaign": self.campaign,
            "node": self.node,
            "detail": self.detail,
            "seconds_to_find": round(self.seconds_to_find, 3),
            "shrunk_calls": self.shrunk_calls,
            "attempts": self.attempts,
            "trace": self.trace,
            "program": self.program,
            "seed": self.seed,
            "shrink": self.shrink,
        }


@dataclass(slots=True)
class DriveReport:
    """What :func:`drive` did and found."""

    adapter: str
    implementation: str | None
    role: str
    profile: str
    budget_s: float
    seed: int
    elapsed_s: float = 0.0
    walks: int = 0
    rule_steps: int = 0
    model_steps: int = 0
    requests: int = 0
    """Node ops sent to the adapter (every walk and shrink attempt included)."""
    findings: list[DriveFinding] = field(default_factory=list)
    campaigns: dict[str, int] = field(default_factory=dict)
    """Walks per campaign."""
    limitations: dict[str, int] = field(default_factory=dict)
    """Per documented limitation (H29), the walks that reached it: not failures, and not
    judged past that step (docs/findings.md)."""
    jobs: int = 1
    """Worker processes that ran the walks, each with its own adapter process."""
    reruns: int = 0
    """Walks run again because they had run without a failure found before them."""
    stopped: StopReason | None = None
    """Why the drive ended before its budget (Ctrl-C, SIGTERM), or None."""

    @property
    def model_steps_per_s(self) -> float:
        return self.model_steps / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def as_json(self) -> dict[str, Any]:
        """Return the JSON form (``snapsync drive --json``)."""
        return {
            "adapter": self.adapter,
            "implementation": self.implementation,
            "role": self.role,
            "profile": self.profile,
            "budget_s": self.budget_s,
            "seed": self.seed,
            "elapsed_s": round(self.elapsed_s, 3),
            "walks": self.walks,
            "rule_steps": self.rule_steps,
            "model_steps": self.model_steps,
            "model_steps_per_s": round(self.model_steps_per_s, 1),
            "requests": self.requests,
            "clean": not self.findings,
            "findings": [f.as_json() for f in self.findings],
            "campaigns": dict(self.campaigns),
            "limitations": dict(self.limitations),
            "jobs": self.jobs,
            "reruns": self.reruns,
            "stopped": self.stopped,
        }


def drive(
    settings: DriveSettings,
    profile: Profile,
    *,
    budget_s: float,
    seed: int = 0,
    trace_dir: Path | None = None,
    campaigns: list[Campaign] | None = None,
    shrink_budget_s: float = 10.0,
    max_shrinks: int = 40,
    rounds: int | None = None,
    jobs: int = 1,
    progress: Callable[[DriveReport, str], None] | None = None,
) -> DriveReport:
    """Drive the adapter through the campaigns for about ``budget_s`` seconds (module doc).

    The walks are slots (:func:`run_walk`): slot ``n`` is walk ``n // C`` of campaign
    ``n % C`` (``C`` campaigns), its seed ``drive:{seed}:{campaign}:{k}``, and it ignores
    the failure keys the slots before it found; a failure whose key is new is shrunk
    there (within ``shrink_budget_s`` and ``max_shrinks`` attempts, a fresh process per
    attempt) and replayed once more to save its trace. ``rounds`` bounds the walks (each
    campaign ``rounds`` times, whatever the speed). ``jobs`` worker processes run the
    slots, each with its own adapter process (:func:`spec.parallel.ahead.run_ahead`):
    the walks, findings and traces are those of ``jobs=1`` whenever the same walks run
    (``rounds``) and each shrink ends by its attempts, not its time. Ctrl-C returns the
    walks accepted so far (``stopped``). Raises :class:`AdapterError` when the adapter
    cannot be used at all (it does not start, or lacks the node-level ops).
    """
    if settings.role not in ROLES:
        raise InvalidInput(f"unknown role {settings.role!r}; known: {', '.join(ROLES)}")
    switched = [h.value for h in profile.hazards] + [b.value for b in profile.behaviours]
    chosen = campaigns or [c for c in order_for(switched) if not c.differential]
    report = DriveReport(settings.command, None, settings.role, profile.name, budget_s, seed)
    report.jobs = jobs
    # The adapter must at least start and say hello (one clear line if it cannot).
    probe = NodeProcess(settings.command, timeout=settings.timeout_s)
    hello = probe.start()
    probe.close()
    report.implementation = hello.implementation
    # Groups only of the collections the adapter implements (its hello says which).
    chosen = [
        replace(c, kinds=tuple(k for k in c.kinds if k in hello.collections))
        for c in chosen
        if any(k in hello.collections for k in c.kinds)
    ]
    if not chosen:
        kinds = ", ".join(sorted(hello.collections)) or "none"
        raise InvalidInput(f"no campaign drives the collections the adapter implements ({kinds})")
    final_dir = Path(trace_dir) if trace_dir is not None else None
    staging = Path(tempfile.mkdtemp(prefix="snapsync-drive-"))
    base = WalkTask(
        replace(settings, shared=False, known=frozenset()),
        profile,
        seed,
        0,
        chosen[0],
        0,
        frozenset(),
        shrink_budget_s,
        max_shrinks,
        staging,
    )

    def task_of(n: int, known: frozenset[str]) -> WalkTask:
        campaign = chosen[n % len(chosen)]
        return replace(base, number=n, campaign=campaign, k=n // len(chosen), known=known)

    def accept(n: int, result: WalkResult, dispatched: float) -> None:
        if result.adapter_error is not None:
            raise AdapterError(result.adapter_error)
        report.walks += 1
        report.campaigns[result.campaign] = report.campaigns.get(result.campaign, 0) + 1
        report.rule_steps += result.rule_steps
        report.model_steps += result.model_steps
        report.requests += result.requests
        for limitation in sorted(result.limitations):
            report.limitations[limitation] = report.limitations.get(limitation, 0) + 1
        if result.finding is not None:
            finding = result.finding
            finding.seconds_to_find += dispatched
            finding.trace = _keep(staging, finding.trace, final_dir)
            report.findings.append(finding)
        if progress is not None:
            progress(report, chosen[(n + 1) % len(chosen)].name)

    started = time.perf_counter()
    try:
        ahead = run_ahead(
            task_of,
            run_walk,
            jobs=jobs,
            end=None if rounds is None else rounds * len(chosen),
            budget_s=budget_s,
            started=started,
            on_accept=accept,
        )
    finally:
        close_shared()
        shutil.rmtree(staging, ignore_errors=True)
    report.stopped = ahead.stopped
    report.reruns = ahead.reruns
    report.elapsed_s = time.perf_counter() - started
    if progress is not None:
        progress(report, "done")
    return report


@dataclass(frozen=True, slots=True)
class WalkTask:
    """One slot of a drive: what :func:`run_walk` needs (picklable, for a worker)."""

    settings: DriveSettings
    profile: Profile
    seed: int
    number: int
    campaign: Campaign
    k: int
    """Which walk of its campaign (the seed's last part)."""
    known: frozenset[str]
    """The failure keys the slots before it found (its walk goes past them)."""
    shrink_budget_s: float
    max_shrinks: int
    staging: Path
    """Where its trace is written first (a directory per slot: a slot run ahead and dropped
    must not overwrite the trace of the one that counts)."""


@dataclass(slots=True)
class WalkResult:
    """What one slot did (:func:`run_walk`); the drive adds the accepted ones up in order."""

    number: int
    campaign: str
    known: frozenset[str]
    found: frozenset[str]
    """The new failure key of its walk (none, or one)."""
    seen: frozenset[str] = frozenset()
    """Every failure key its runs met (the walk, the shrink attempts, the final replay),
    ignored or not."""
    rule_steps: int = 0
    model_steps: int = 0
    requests: int = 0
    """Node ops sent (the walk, the shrink attempts and the final replay)."""
    finding: DriveFinding | None = None
    adapter_error: str | None = None
    """The adapter could not be used at all (it does not start, or lacks the node ops)."""
    limitations: frozenset[str] = frozenset()
    """The documented limitations its walk reached (H29: not judged past that step)."""

    def valid_for(self, known: frozenset[str]) -> bool:
        """Check if the slot run with ``known`` (a superset of its own keys) would have
        returned this: a run differs only where it meets a key it ignores, so a slot whose
        walk, shrink attempts and final replay met none of the extra keys ran the same (its
        trace's header lists only the ignored keys a run met)."""
        return self.known <= known and not (known - self.known) & self.seen


def run_walk(task: WalkTask) -> WalkResult:
    """Run slot ``task.number`` (in a worker, or in the drive's own process): its walk with
    the worker's shared adapter process and, if it fails with a new key, the shrink (a
    fresh process per attempt) and the final replay that saves the trace.

    What it returns depends only on ``task``: the walk of its seed, the keys it ignores,
    the shrinker's passes (while they end by ``max_shrinks``, not by the time).
    """
    known = task.known
    settings = task.settings
    campaign, profile = task.campaign, task.profile
    SESSION.__init__()  # type: ignore[misc]
    SESSION.seed = task.seed
    SESSION.trace_dir = task.staging / f"slot-{task.number}"

    def walker(c: Campaign, p: Profile) -> type[GroupMachine]:
        return drive_machine_class(c, p, replace(settings, shared=True, known=known))

    def factory(c: Campaign, p: Profile) -> type[GroupMachine]:
        # Shrink attempts and the final replay: a fresh process each, the keys found before
        # this one still ignored (so the attempt fails the same way as the walk did).
        return drive_machine_class(c, p, replace(settings, shared=False, known=known))

    requests = NodeProcess.total_requests
    started = time.perf_counter()
    rng = random.Random(f"drive:{task.seed}:{campaign.name}:{task.k}")
    _SEEN.clear()
    run = walk(campaign, profile, rng, DRIVE_MODES, walker)
    result = WalkResult(task.number, campaign.name, known, frozenset())
    result.rule_steps, result.model_steps = run.rule_steps, run.model_steps
    if isinstance(run.failure, AdapterError):
        result.adapter_error = str(run.failure)
    elif run.key is not None and run.key not in known:
        at = time.perf_counter() - started
        shrunk = shrink(
            run,
            profile,
            deadline=time.perf_counter() + task.shrink_budget_s,
            max_runs=task.max_shrinks,
            factory=factory,
            resume=False,
        )
        with shielded():  # a stop during the shrink keeps the smallest program so far
            final = run_program(shrunk.program, profile, final=True, factory=factory)
        result.finding = _finding(
            run.key, campaign, shrunk.program, final, shrunk.tried, at, task.seed
        )
        result.finding.shrink = shrunk.limit
        if result.finding.trace is not None:  # relative to the staging directory
            result.finding.trace = str(Path(result.finding.trace).relative_to(task.staging))
        result.found = frozenset({run.key})
    result.limitations = frozenset(
        r.finding.limitation for r in SESSION.limitations if r.finding.limitation is not None
    )
    result.seen = frozenset(_SEEN | ({run.key} if run.key is not None else set()))
    result.requests = NodeProcess.total_requests - requests
    return result


def _keep(staging: Path, trace: str | None, final_dir: Path | None) -> str | None:
    """Move an accepted slot's trace from the staging directory to ``final_dir`` (the
    machines' default trace directory when None); return where it is."""
    if trace is None:
        return None
    source = staging / trace
    target_dir = final_dir if final_dir is not None else Session().trace_path("x", "y").parent
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / source.name
    shutil.move(source, target)
    return str(target)


def _finding(
    key: str,
    campaign: Campaign,
    program: Program,
    final: Run,
    attempts: int,
    at: float,
    seed: int,
) -> DriveFinding:
    failure = final.failure
    records = [r for r in SESSION.failures if r.final and r.trace is not None]
    record = records[-1] if records else None
    if isinstance(failure, HuntFailure):
        finding = failure.finding
        node, detail = finding.node, finding.detail
    else:
        node, detail = None, f"{type(failure).__name__}: {failure}" if failure else "no failure"
    if final.key != key:
        detail += f" (the shrunk program's final replay failed as {final.key})"
    return DriveFinding(
        key=key,
        campaign=campaign.name,
        node=node,
        detail=detail,
        seconds_to_find=at,
        shrunk_calls=len(program.calls),
        attempts=attempts,
        trace=record.trace if record is not None else None,
        program=program.render(),
        seed=seed,
    )


# -- replay against the adapter --------------------------------------------------------------------


@dataclass(slots=True)
class ReplayReport:
    """What re-running a drive trace against an adapter did."""

    steps: int = 0
    divergence: str | None = None
    """The first step whose re-execution differs from the recording, or None."""
    findings: list[Finding] = field(default_factory=list)
    """Every finding of the re-run (model, hosted checks, conformance)."""
    expected: dict[str, Any] | None = None
    """The finding the trace recorded (``meta.hunt.finding``)."""

    @property
    def reproduced(self) -> bool:
        """Check if the recorded finding was found again."""
        if self.expected is None:
            return False
        return any(f.id == self.expected.get("id") for f in self.findings)

    def as_json(self) -> dict[str, Any]:
        """Return the JSON form."""
        return {
            "steps": self.steps,
            "exact": self.divergence is None,
            "divergence": self.divergence,
            "expected": self.expected,
            "reproduced": self.reproduced,
            "findings": [f.as_json() for f in self.findings],
        }


def replay_with_adapter(
    path: str | Path, command: str, *, timeout_s: float = 10.0, conform: bool | None = None
) -> ReplayReport:
    """Re-run a drive trace with its hosted nodes played by ``command`` (a fresh process).

    The header's ``meta.drive`` names the hosted nodes; every step is re-executed,
    re-checked (the model's checks, the hosted nodes' and, as the trace was made, the
    conformance check) and compared with its recorded line.
    """
    reader = TraceReader.open(path)
    report = ReplayReport()
    driver: DriveDriver | None = None
    host: AdapterHost | None = None
    try:
        for line in reader.records():
            record = line.record
            if record["type"] == "header":
                meta = record.get("meta", {})
                info = meta.get("drive") if isinstance(meta, Mapping) else None
                if not isinstance(info, Mapping) or not isinstance(info.get("hosted"), list):
                    raise TraceError(line.number, "meta.drive.hosted", "not a snapsync drive trace")
                hunt = meta.get("hunt", {})
                report.expected = hunt.get("finding") if isinstance(hunt, Mapping) else None
                setup = setup_from_header(record, line.number)
                process = NodeProcess(command, timeout=timeout_s)
                process.start()
                host = AdapterHost(
                    process,
                    frozenset(str(n) for n in info["hosted"]),
                    kind=setup.kind,
                    config=setup.config,
                    heartbeat_interval_ms=setup.heartbeat_interval_ms,
                    profile=setup.profile,
                    epoch_wall_ms=setup.epoch_wall_ms,
                    validate=True if conform is None else conform,
                )
                driver = DriveDriver(replace(setup, host=host), host)
                continue
            if driver is None:
                raise TraceError(line.number, "type", "no header before this record")
            if record["type"] == "end":
                break
            fn = ACTIONS.get(record["action"])
            if fn is None:
                raise TraceError(line.number, "action", f"unknown action {record['action']!r}")
            try:
                t = driver.do(fn, **decode_args(record["args"]))
            except (TypeError, InvalidInput) as exc:
                if isinstance(exc, AdapterError):
                    raise
                report.divergence = f"line {line.number}: {record['action']} cannot run: {exc}"
                break
            report.steps += 1
            raw = driver.log[-1][1] if driver.log else []
            again = step_record(report.steps, t, [v.as_json() for v in raw])
            if report.divergence is None and canonical_json(again) != line.text:
                report.divergence = f"line {line.number}: {record['action']} gives a different step"
        if driver is not None:
            report.findings = list(driver.findings)
            expected = report.expected or {}
            if expected.get("id") == "L1":
                # The run ended with the liveness drain: judge its last state as it did.
                problem = driver.quiescence_problem()
                if problem is not None:
                    report.findings.append(Finding("L1", None, problem, driver.steps))
    finally:
        if host is not None:
            host.close()
    return report
