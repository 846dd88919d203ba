"""The swarm engine: the group machine's own rules at full speed, with a deterministic shrinker.

Hypothesis's stateful engine spends about 0.25–0.4 ms per rule on this kind of
machine before any model code runs (``snapsync bench hunt`` measures a machine
with no state and the group machine's 24 invariants: 2,600–3,600 rules/s on the
reference 2-core box), which caps a hunt far below the model's own speed. The
swarm engine removes that cost and keeps everything else:

* the **same rules**: it instantiates the campaign's :class:`GroupMachine` and
  calls its rule methods, guarded by the same preconditions
  (:meth:`GroupMachine.enabled`), then every ``@invariant`` method Hypothesis
  would run, then ``teardown`` (the liveness drain);
* the **same argument values**: every argument is drawn from the domain the
  rule's Hypothesis strategy is built from (:data:`spec.hunt.machine.RULE_ARGS`,
  :mod:`spec.hunt.domains`), with a seeded :class:`random.Random`;
* **swarm testing** (Groce et al., ISSTA 2012) per walk: a random half of the
  campaign's rules is switched off, and the walk is *fine* or *coarse*
  (:data:`MODES`): a fine walk adds fair delivery's single steps to the campaign's
  rules and draws the composite rules (``settle``, ``settle_until``,
  ``drain_to_quiescence``: many model actions each) rarely; a coarse walk is the
  campaign as Hypothesis runs it;
* a **deterministic shrinker** (:func:`shrink`) in the spirit of delta debugging
  and Hypothesis's own passes: drop spans of calls (halving), collapse runs of
  single transport actions into one ``settle``, simplify arguments and the group
  shape towards their domains' simplest values — keeping a candidate only if it
  fails with the same id. The shrunk program is replayed once more with trace
  saving on, exactly like Hypothesis's final replay.

Walk ``k`` of a call with seed ``s`` depends only on ``(s, campaign, k)``: the
same seed gives the same walks, byte for byte; the budget only decides how many
of them run.
"""

from __future__ import annotations

import copy
import random
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, cast

from hypothesis import strategies as st

from impl.profile import Profile
from spec.hunt.campaigns import Campaign
from spec.hunt.coverage import Coverage
from spec.hunt.domains import Choice
from spec.hunt.machine import (
    MACRO_RULES,
    RULE_ARGS,
    SESSION,
    GroupMachine,
    HuntFailure,
    machine_class,
    shape_domains,
    write_domain,
)
from spec.robust.stop import Stop, shielded, stop_requested

__all__ = [
    "COARSE",
    "FINE",
    "MODES",
    "SHRINK_RUNS",
    "Call",
    "Factory",
    "Mode",
    "Program",
    "Run",
    "Shrunk",
    "run_program",
    "run_walks",
    "shrink",
    "walk",
]


@dataclass(frozen=True, slots=True)
class Mode:
    """How a walk draws its rules."""

    name: str
    share: float
    """Odds that a walk uses this mode."""
    macro_weight: float
    """Odds of a composite rule relative to a single-action rule."""
    length_factor: int
    """A walk runs up to ``length_factor × campaign.steps`` rules (drawn per walk) ..."""
    min_length: int
    """... or up to ``min_length`` rules if that is more."""
    transport: bool
    """Add the transport rules (``deliver_message``, ``node_poll``, ``advance_time``: fair
    delivery's single steps) to the campaign's, always on."""


FINE = Mode("fine", 0.8, 0.01, 60, 1_500, True)
COARSE = Mode("coarse", 0.2, 1.0, 1, 1, False)
MODES: tuple[Mode, ...] = (FINE, COARSE)
"""Fine walks are long runs of single actions: deep interleavings, many rules per second.
Coarse walks are the campaign as written (its rules, equal odds, its length): short
programs built from composite steps, which shrink to few steps."""

_TRANSPORT = frozenset({"deliver_message", "node_poll", "advance_time"})


@dataclass(frozen=True, slots=True)
class Call:
    """One rule application: the rule's name and its arguments, in declaration order."""

    rule: str
    args: tuple[tuple[str, Any], ...] = ()

    def render(self) -> str:
        """Return the call as Python-like text.

        >>> Call("settle", (("window", 0), ("slow", None))).render()
        'settle(window=0, slow=None)'
        """
        return f"{self.rule}({', '.join(f'{k}={v!r}' for k, v in self.args)})"


@dataclass(frozen=True, slots=True)
class Program:
    """A whole example: the campaign, the group shape's drawn values, and the calls."""

    campaign: Campaign
    shape: tuple[tuple[str, Any], ...]
    calls: tuple[Call, ...]

    def render(self) -> list[str]:
        """Return the program as lines (the shape first)."""
        shape = ", ".join(f"{k}={v!r}" for k, v in self.shape)
        return [f"setup_group({shape})"] + [c.render() for c in self.calls]


@dataclass(slots=True)
class Run:
    """What executing a program did."""

    program: Program
    executed: list[Call] = field(default_factory=list)
    """The calls that ran (a call whose guard does not hold is skipped)."""
    failure: BaseException | None = None
    """The first failure: a :class:`HuntFailure` or any exception a step raised."""
    failed_at: int | None = None
    """Calls run when it failed (``len(executed)``: in that call, or in the final drain)."""
    rule_steps: int = 0
    model_steps: int = 0

    @property
    def key(self) -> str | None:
        """Return what identifies the failure for the shrinker (its id), or None."""
        return failure_key(self.failure)


def failure_key(error: BaseException | None) -> str | None:
    """Return the shrinker's identity of a failure: the finding id, or the exception type."""
    if error is None:
        return None
    if isinstance(error, HuntFailure):
        return error.finding.id
    return f"ERROR:{type(error).__name__}"


class _Drawn:
    """Stands in for Hypothesis's ``st.data()`` object: hands out values drawn beforehand."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self.values = values

    def draw(self, strategy: Any, label: str | None = None) -> Any:
        if label is None or label not in self.values:
            raise KeyError(f"no pre-drawn value for {label!r}")
        return self.values[label]


def _as_data(values: Mapping[str, Any]) -> st.DataObject:
    return cast(st.DataObject, _Drawn(values))


Factory = Callable[[Campaign, Profile], type[GroupMachine]]
"""Makes the machine class of a campaign under a profile (default :func:`machine_class`;
``snapsync drive`` makes machines whose group hosts nodes outside the model)."""


class _Executor:
    """One machine, driven call by call (generation and replay share it)."""

    def __init__(
        self, program: Program, profile: Profile, final: bool, factory: Factory | None = None
    ) -> None:
        self.run = Run(program)
        self.factory = factory
        self.machine: GroupMachine = (factory or machine_class)(program.campaign, profile)()
        self.machine.final = final
        self.invariants = [inv.function for inv in self.machine.invariants]
        self.done = False
        self._guard(lambda: self.machine.setup_group(_as_data(dict(program.shape))))

    def _guard(self, action: Any) -> None:
        try:
            action()
            for check in self.invariants:
                check(self.machine)
        except Exception as exc:  # a HuntFailure, or any error a step raised
            self.run.failure = exc
            self.run.failed_at = len(self.run.executed)
            self.done = True

    def apply(self, call: Call) -> bool:
        """Run ``call`` if its guard holds; return whether it ran."""
        if self.done or not self.machine.enabled(call.rule):
            return False
        method = getattr(self.machine, call.rule)
        if call.rule == "client_write":
            data = _as_data(dict(call.args))
            self.run.executed.append(call)
            self._guard(lambda: method(data))
        else:
            kwargs = dict(call.args)
            self.run.executed.append(call)
            self._guard(lambda: method(**kwargs))
        return True

    def clone(self) -> _Executor:
        """Return an independent copy at the same point (the shrinker resumes from it)."""
        other = _Executor.__new__(_Executor)
        other.factory = self.factory
        r = self.run
        other.run = Run(r.program, list(r.executed), r.failure, r.failed_at)
        machine = copy.copy(self.machine)
        if self.machine.d is not None:
            machine.d = self.machine.d.fork()
            # The shared prefix's work and coverage are not counted again.
            machine.d.coverage = Coverage()
            machine.counted_from = machine.d.steps
        machine.program = list(self.machine.program)
        machine._limitations = list(self.machine._limitations)
        other.machine = machine
        other.invariants = self.invariants
        other.done = self.done
        return other

    def finish(self) -> Run:
        """Run the teardown (the final liveness drain) and return the run."""
        m = self.machine
        try:
            m.teardown()
        except Exception as exc:
            if self.run.failure is None:
                self.run.failure = exc
                self.run.failed_at = len(self.run.executed)
        self.run.rule_steps = m.rule_steps
        self.run.model_steps = m.d.steps if m.d is not None else 0
        return self.run


def run_program(
    program: Program, profile: Profile, *, final: bool = False, factory: Factory | None = None
) -> Run:
    """Execute ``program`` (skipping calls whose guard does not hold); ``final`` saves a
    failure's trace, as Hypothesis's final replay does."""
    ex = _Executor(program, profile, final, factory)
    for call in program.calls:
        if ex.done:
            break
        ex.apply(call)
    return ex.finish()


def _draw_call(rule: str, machine: GroupMachine, rng: random.Random) -> Call:
    if rule == "client_write":
        kind = machine.drv.setup.kind
        return Call(rule, (("commands", write_domain(kind).draw(rng)),))
    return Call(rule, tuple((name, d.draw(rng)) for name, d in RULE_ARGS[rule].items()))


def walk(
    campaign: Campaign,
    profile: Profile,
    rng: random.Random,
    modes: tuple[Mode, ...] = (),
    factory: Factory | None = None,
) -> Run:
    """Generate and run one example: a mode (of ``modes``, default :data:`MODES`), a shape,
    a swarm subset of rules, random calls."""
    modes = modes or MODES
    mode = rng.choices(modes, [m.share for m in modes])[0]
    shape = tuple((label, d.draw(rng)) for label, d in shape_domains(campaign).items())
    own = sorted(campaign.rules - _TRANSPORT) if mode.transport else sorted(campaign.rules)
    subset = [r for r in own if rng.random() < 0.5]
    if mode.transport:
        subset += sorted(_TRANSPORT)
    elif not subset:
        subset = [own[rng.randrange(len(own))]]
    longest = max(mode.length_factor * campaign.steps, mode.min_length)
    if campaign.walk_rules:
        longest = min(longest, max(campaign.walk_rules, campaign.steps))
    length = rng.randint(1, longest)
    ex = _Executor(Program(campaign, shape, ()), profile, final=False, factory=factory)
    calls: list[Call] = []
    for _ in range(length):
        if ex.done:
            break
        enabled = [r for r in subset if ex.machine.enabled(r)]
        if not enabled:
            break
        weights = [mode.macro_weight if r in MACRO_RULES else 1.0 for r in enabled]
        rule = rng.choices(enabled, weights)[0]
        call = _draw_call(rule, ex.machine, rng)
        calls.append(call)
        ex.apply(call)
    ex.run.program = Program(campaign, shape, tuple(calls))
    return ex.finish()


# -- the shrinker ---------------------------------------------------------------------------------


def _trimmed(run: Run) -> Program:
    """The program of ``run`` reduced to the calls that ran, up to the failing one."""
    end = len(run.executed) if run.failed_at is None else run.failed_at
    return replace(run.program, calls=tuple(run.executed[:end]))


def _size(p: Program) -> tuple[int, int]:
    """Shrink order: fewer calls, then fewer model-heavy (composite) calls."""
    return (len(p.calls), sum(c.rule in MACRO_RULES for c in p.calls))


def _without(p: Program, start: int, end: int) -> Program:
    return replace(p, calls=p.calls[:start] + p.calls[end:])


class _Shrinker:
    """The shrinker's state: the best program so far and the runs tried (see :func:`shrink`)."""

    def __init__(
        self,
        run: Run,
        profile: Profile,
        deadline: float,
        max_runs: int,
        factory: Factory | None = None,
        resume: bool = True,
    ) -> None:
        self.factory = factory
        self.resume = resume
        key = run.key
        if key is None:
            raise ValueError("shrink needs a failing run")
        self.key = key
        self.profile = profile
        self.best = _trimmed(run)
        self.deadline = deadline
        self.max_runs = max_runs
        self.tried = 0
        self._points: list[_Executor] | None = None

    def _snapshots(self) -> list[_Executor]:
        """The best program's executor after each of its first k calls (k = 0..n-1)."""
        if self._points is None:
            ex = _Executor(replace(self.best, calls=()), self.profile, False, self.factory)
            points = [ex.clone()]
            for call in self.best.calls[:-1]:
                if ex.done:
                    break
                ex.apply(call)
                points.append(ex.clone())
            self._points = points
        return self._points

    def _run(self, candidate: Program) -> Run:
        """Run ``candidate``, resuming after the longest prefix it shares with the best."""
        if candidate.shape != self.best.shape or not self.resume:
            return run_program(candidate, self.profile, factory=self.factory)
        points = self._snapshots()
        shared = 0
        limit = min(len(candidate.calls), len(points) - 1)
        while shared < limit and candidate.calls[shared] == self.best.calls[shared]:
            shared += 1
        ex = points[shared].clone()
        ex.run.program = candidate
        for call in candidate.calls[shared:]:
            if ex.done:
                break
            ex.apply(call)
        return ex.finish()

    @property
    def spent(self) -> bool:
        return (
            self.tried >= self.max_runs
            or time.perf_counter() >= self.deadline
            or stop_requested() is not None
        )

    def consider(self, candidate: Program, *, simpler: bool = False) -> bool:
        """Run ``candidate``; keep it (trimmed) if it fails the same way and is smaller —
        or, for a ``simpler`` candidate (simpler values by construction), no larger."""
        if self.spent or not _better(_size(candidate), _size(self.best), simpler):
            return False
        self.tried += 1
        attempt = self._run(candidate)
        if attempt.key != self.key:
            return False
        smaller = _trimmed(attempt)
        if not _better(_size(smaller), _size(self.best), simpler):
            return False
        self.best = smaller
        self._points = None
        return True

    def drop_rules(self) -> bool:
        """Every call of one rule at once (heaviest rules first)."""
        found = False
        names = sorted({c.rule for c in self.best.calls}, key=lambda r: (r not in MACRO_RULES, r))
        for name in names:
            calls = tuple(c for c in self.best.calls if c.rule != name)
            found |= self.consider(replace(self.best, calls=calls))
        return found

    def delete_spans(self) -> bool:
        """Spans of calls, halving the span length; a success retries the same place."""
        found = False
        chunk = max(len(self.best.calls) // 2, 1)
        while chunk >= 1 and not self.spent:
            i = len(self.best.calls) - chunk
            while i >= 0 and not self.spent:
                if self.consider(_without(self.best, i, i + chunk)):
                    found = True
                    i = min(i, len(self.best.calls) - chunk)
                else:
                    i -= chunk if chunk > 1 else 1
            chunk //= 2
        return found

    def first_success(self, candidates: Iterator[Program], *, simpler: bool = False) -> bool:
        for candidate in candidates:
            if self.spent:
                return False
            if self.consider(candidate, simpler=simpler):
                return True
        return False


def _better(new: tuple[int, int], old: tuple[int, int], simpler: bool) -> bool:
    return new <= old if simpler else new < old


def _macros() -> list[Call]:
    """The composite calls a shrinker may put in place of a run of single steps."""
    untils = cast(Choice, RULE_ARGS["settle_until"]["until"]).values
    windows = cast(Choice, RULE_ARGS["settle"]["window"]).values
    out = [Call("settle", (("window", w), ("slow", None))) for w in windows]
    return out + [Call("settle_until", (("until", u), ("slow", None))) for u in untils]


def _collapses(p: Program) -> Iterator[Program]:
    """A run of two or more transport calls (or its head), replaced by one composite call."""
    macros = _macros()
    calls = p.calls
    i = 0
    while i < len(calls):
        j = i
        while j < len(calls) and calls[j].rule in _TRANSPORT:
            j += 1
        for k in range(j, i + 1, -1):
            for macro in macros:
                yield replace(p, calls=(*calls[:i], macro, *calls[k:]))
        i = max(j, i + 1)


def _prefixes(p: Program) -> Iterator[Program]:
    """The first ``j`` calls (longest first) replaced by one composite call that drives the
    group fairly: a ``settle_until`` of each deep state, or a ``settle`` of each window."""
    macros = _macros()
    # Cut right before a call that is not fair delivery's (a fault, a write, a break):
    # what precedes it is most often just the way to a deep state.
    cuts = [j for j in range(len(p.calls), 1, -1) if j == len(p.calls) or _cut_before(p, j)]
    for j in cuts:
        for macro in macros:
            yield replace(p, calls=(macro, *p.calls[j:]))


def _cut_before(p: Program, j: int) -> bool:
    return p.calls[j].rule not in _TRANSPORT and p.calls[j - 1].rule in _TRANSPORT


def _shapes(p: Program) -> Iterator[Program]:
    domains = shape_domains(p.campaign)
    for a, (label, value) in enumerate(p.shape):
        for v in domains[label].simpler(value):
            yield replace(p, shape=(*p.shape[:a], (label, v), *p.shape[a + 1 :]))


def _arguments(p: Program) -> Iterator[Program]:
    for k, call in enumerate(p.calls):
        domains = RULE_ARGS.get(call.rule, {})
        for a, (name, value) in enumerate(call.args):
            if call.rule == "client_write":
                kind = dict(p.shape).get("kind", "map")
                candidates: Iterator[Any] = write_domain(str(kind)).simpler(value)
            elif name in domains:
                candidates = domains[name].simpler(value)
            else:
                continue
            for v in candidates:
                args = (*call.args[:a], (name, v), *call.args[a + 1 :])
                yield replace(p, calls=(*p.calls[:k], Call(call.rule, args), *p.calls[k + 1 :]))


@dataclass(frozen=True, slots=True)
class Shrunk:
    """What :func:`shrink` found."""

    program: Program
    """The smallest program found that fails like the run did."""
    tried: int
    """Candidate programs run."""
    limit: str
    """Why it ended: ``converged`` (a whole round of passes changed nothing) or ``runs``
    (``max_runs`` reached) — both deterministic — or ``time`` (the deadline passed
    first) or ``stopped`` (Ctrl-C, the hunt's budget): then the program depends on the
    machine's speed."""


SHRINK_RUNS = 1_000
"""The default bound on a shrink's candidate runs: far above what shrinking a hunt's
findings has needed (170–320 runs for the slowest ones under ``mosaik-0.3.13``), and
deterministic, unlike a time budget, so the shrunk trace is the same on any machine
and for any ``--jobs``."""


def shrink(
    run: Run,
    profile: Profile,
    *,
    deadline: float,
    max_runs: int = SHRINK_RUNS,
    factory: Factory | None = None,
    resume: bool = True,
) -> Shrunk:
    """Return the smallest program found that fails like ``run`` did (:class:`Shrunk`).

    Rounds of passes until a round changes nothing, or ``deadline`` (a
    ``time.perf_counter()`` value) or ``max_runs`` is reached: drop every call of
    one rule; delete spans of calls (halving their length, as delta debugging
    does); simplify the group shape; collapse runs of transport calls into one
    ``settle``, and a prefix of the program into one composite call
    (:func:`_prefixes`); simplify arguments. A candidate is kept when it fails with the
    same :func:`failure_key` and is smaller (:func:`_size`: fewer calls first); it
    is kept trimmed to the calls that ran up to its failure. A stop (Ctrl-C, the
    hunt's budget) ends the shrinking with the smallest program found so far.

    ``resume=False`` runs every candidate from the start (a machine that cannot be
    copied: ``snapsync drive``'s external process restarts per attempt).
    """
    sh = _Shrinker(run, profile, deadline, max_runs, factory, resume)
    progress = True
    stopped = False
    try:
        while progress and not sh.spent:
            progress = sh.drop_rules()
            progress |= sh.delete_spans()
            while sh.first_success(_prefixes(sh.best)):
                progress = True
            while sh.first_success(_collapses(sh.best)):
                progress = True
            while sh.first_success(_shapes(sh.best), simpler=True):
                progress = True
            while sh.first_success(_arguments(sh.best), simpler=True):
                progress = True
    except Stop:
        stopped = True  # the candidate in progress is dropped; ``best`` still fails the same way
    if stopped or stop_requested() is not None:
        limit = "stopped"
    elif not sh.spent:
        limit = "converged"
    elif sh.tried >= sh.max_runs:
        limit = "runs"
    else:
        limit = "time"
    return Shrunk(sh.best, sh.tried, limit)


# -- a campaign's turn ----------------------------------------------------------------------------


def run_walks(
    campaign: Campaign,
    profile: Profile,
    *,
    walks: int,
    run_seed: int,
    shrink_failures: bool = True,
    shrink_budget_s: float = 60.0,
    shrink_runs: int = SHRINK_RUNS,
    modes: tuple[Mode, ...] = (),
    found: Callable[[], None] | None = None,
) -> BaseException | None:
    """Run ``walks`` walks of ``campaign``; on a failure, shrink it and replay it for the trace.

    Fills :data:`spec.hunt.machine.SESSION` as a Hypothesis run does (the caller
    resets it), including how the shrink ended (``SESSION.shrink_limit``); returns the
    failure of the final replay, or None. Shrinking stops after ``shrink_runs``
    candidate runs or ``shrink_budget_s`` seconds, whichever comes first. ``found`` is
    called as soon as a walk fails, before shrinking (the hunt's scheduler then stops
    running this campaign ahead). A stop during a walk unwinds
    (:class:`~spec.robust.stop.Stop`); a stop while a failure is shrunk keeps the
    smallest program so far, whose final replay (that saves the trace) runs
    :func:`~spec.robust.stop.shielded`, so a found violation is never lost to a stop.
    """
    for k in range(walks):
        rng = random.Random(f"swarm:{run_seed}:{campaign.name}:{k}")
        run = walk(campaign, profile, rng, modes)
        if run.failure is None:
            continue
        if found is not None:
            found()
        program = _trimmed(run)
        if shrink_failures:
            shrunk = shrink(
                run,
                profile,
                deadline=time.perf_counter() + shrink_budget_s,
                max_runs=shrink_runs,
            )
            program = shrunk.program
            SESSION.shrink_limit = shrunk.limit
        try:
            with shielded():
                final = run_program(program, profile, final=True)
        except Stop:
            return run.failure  # not replayed for its trace: reported with its program
        if final.failure is None:  # pragma: no cover - programs replay deterministically
            raise RuntimeError(f"shrunk program no longer fails: {program.render()}")
        return final.failure
    return None
