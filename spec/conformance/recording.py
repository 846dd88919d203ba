"""Recorded calls: the real inputs of every step the model calls, deduplicated by branch.

While the model runs (mosaik's scenarios, seeded simulations with adversarial
faults, hunt walks; under both profiles), :class:`Recorder` replaces every step
function of :data:`impl.steps.STEP_IDS` — in every module that holds a reference to
it, and the collection classes' S1–S3 methods — by a wrapper that keeps the call's
arguments (immutable values, so a reference is a copy) and calls the original.
``impl/`` is not changed; the wrappers are removed when the block ends.

The model calls Q7, Q9, Q11 and Q11a only through Q5's private helpers, so for a
recorded Q5 call the recorder also records the inputs those sub-steps see inside
that poll (Q6 → **Q7** → Q2 → Q8 → **Q9** → Q10 → **Q11**, and Q11's first request as
**Q11a**), computed with the original functions.

A run calls the same step thousands of times in the same way; per step and run the
recorder keeps the first calls and then every k-th (:data:`KEEP_FIRST`,
:data:`KEEP_EVERY`, :data:`KEEP_MAX`). The kept calls are encoded (the step's
convention) and deduplicated: by identical JSON, then by **which branches of impl/
they take** under each profile — the set of line-to-line arcs a ``sys.settrace``
tracer sees in the behaviour modules while the step runs. The first call of each
arc set is kept, in run order, so the result is deterministic.
"""

from __future__ import annotations

import contextlib
import inspect
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any

import impl
from impl.codec import canonical_json, encode
from impl.collections import COLLECTIONS
from impl.config import Config
from impl.errors import CodecError, SnapshotSyncError
from impl.messages import Vote
from impl.profile import MOSAIK_0_3_13, REFERENCE, Profile
from impl.steps import STEP_IDS
from spec.conformance.build import Call
from spec.conformance.conventions import (
    CONVENTIONS,
    ApplyStepContext,
    ProfileContext,
    _resolve,
    call_step,
    decode_call,
    machine_of,
)

__all__ = ["KEEP_EVERY", "KEEP_FIRST", "KEEP_MAX", "Recorder", "recorded_calls"]

KEEP_FIRST = 6
KEEP_EVERY = 40
KEEP_MAX = 4

_TRACED = frozenset(
    str(Path(impl.__file__).parent / name)
    for name in (
        "session.py",
        "provider.py",
        "raft.py",
        "logstore.py",
        "node.py",
        "node_state.py",
        "session_state.py",
        "provider_state.py",
        "collections/__init__.py",
        "collections/base.py",
        "collections/map.py",
        "collections/vec.py",
        "collections/set.py",
        "collections/depq.py",
        "collections/cell.py",
        "collections/once.py",
        "collections/pseq.py",
        "collections/encoding.py",
    )
)
"""The behaviour modules whose arcs tell calls apart (not the codec, not evolve)."""


@dataclass(slots=True)
class _Raw:
    """One recorded call, as Python values."""

    step: str
    collection: str
    config: Config
    pre: Any
    ctx: Any
    inputs: dict[str, Any]
    source: tuple[str, str]
    profile: str


# -- argument extraction: real call → (pre, ctx, inputs) per convention --------------------


def _node(
    args: tuple[Any, ...], names: tuple[str, ...], ctx: bool = True
) -> tuple[Any, Any, dict[str, Any]]:
    start = 2 if ctx else 1
    return args[0], args[1] if ctx else None, dict(zip(names, args[start:], strict=True))


def _vote(args: tuple[Any, ...]) -> tuple[Any, Any, dict[str, Any]]:
    node, ctx, follower, log_index = args
    return node, ctx, {"follower": follower, "last_log_index": log_index, "vote": Vote.GRANTED}


def _no_vote(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, Any, dict[str, Any]]:
    node, ctx, follower = args[:3]
    abstained = kwargs["abstained"] if "abstained" in kwargs else args[3]
    vote = Vote.ABSTAINED if abstained else Vote.DENIED
    return node, ctx, {"follower": follower, "last_log_index": 0, "vote": vote}


_EXTRACT: dict[str, Callable[[tuple[Any, ...]], tuple[Any, Any, dict[str, Any]]]] = {
    "R1": lambda a: _node(a, ()),
    "R2": lambda a: _node(a, ()),
    "R3": _vote,
    "R4": lambda a: _node(a, ("sender", "message")),
    "R5": lambda a: _node(a, ("sender", "message")),
    "R6": lambda a: _node(a, ("index",)),
    "R7": lambda a: _node(a, (), ctx=False),
    "R8": lambda a: _node(a, ("command",), ctx=False),
    "R9": lambda a: _node(a, ()),
    "R10": lambda a: _node(a, ("term", "leader")),
    "P1": lambda a: _node(a, ("sender", "message")),
    "P2": lambda a: _node(a, ("request",)),
    "P3": lambda a: _node(a, ()),
    "P4": lambda a: _node(a, ("sender", "request")),
    "P5": lambda a: _node(a, ("now_ms",), ctx=False),
    "P6": lambda a: (None, None, {"committed": a[0]}),
    "Q0": lambda a: (
        None,
        a[0],
        dict(zip(("position", "leader_commit", "entries", "now_ms"), a[1:], strict=True)),
    ),
    "Q1": lambda a: _node(a, ("peer", "info", "now_ms")),
    "Q2": lambda a: _node(a, ()),
    "Q3": lambda a: _node(a, ()),
    "Q4": lambda a: _node(a, ("peer", "response", "now_ms")),
    "Q5": lambda a: _node(a, ("now_ms",)),
    "Q6": lambda a: _node(a, (), ctx=False),
    "Q7": lambda a: _node(a, ("now_ms",)),
    "Q8": lambda a: _node(a, (), ctx=False),
    "Q9": lambda a: _node(a, ("now_ms",), ctx=False),
    "Q10": lambda a: _node(a, ()),
    "Q11": lambda a: _node(a, ("now_ms",)),
    "Q11a": lambda a: _node(a, ("peer", "anchor", "chunk", "now_ms")),
    "Q12": lambda a: _node(a, ()),
    "Q13": lambda a: _node(a, ("position", "entries")),
}


@dataclass
class Recorder:
    """Wraps the step functions and keeps a sample of their real calls (module docstring)."""

    raws: list[_Raw] = field(default_factory=list)
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    source: tuple[str, str] = ("", "")
    profile: Profile = REFERENCE
    collection: str = "map"
    config: Config = field(default_factory=Config)
    _active: bool = True

    def begin(
        self, kind: str, name: str, profile: Profile, collection: str, config: Config
    ) -> None:
        """Start attributing calls to one model run."""
        self.source = (kind, name)
        self.profile = profile
        self.collection = collection
        self.config = config

    def _keep(self, step: str) -> bool:
        key = (step, f"{self.source[1]}@{self.profile.name}")
        n = self.counts[key]
        self.counts[key] = n + 1
        return (n < KEEP_FIRST or n % KEEP_EVERY == 0) and n < KEEP_FIRST + KEEP_MAX * KEEP_EVERY

    def add(
        self, step: str, pre: Any, ctx: Any, inputs: dict[str, Any], collection: str | None = None
    ) -> None:
        """Record one call (already in convention form)."""
        config = getattr(ctx, "config", None)
        if isinstance(ctx, ApplyStepContext):
            config = ctx.apply.config
        machine = getattr(ctx, "machine", None)
        kind = collection or (machine.kind if machine is not None else self.collection)
        self.raws.append(
            _Raw(
                step, kind, config or self.config, pre, ctx, inputs, self.source, self.profile.name
            )
        )

    def _plain(self, step: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        extract = _EXTRACT[step]

        signature = inspect.signature(fn)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if self._active and self._keep(step):
                self._active = False
                try:
                    if kwargs:
                        bound = signature.bind(*args, **kwargs)
                        bound.apply_defaults()
                        pre, ctx, inputs = extract(tuple(bound.arguments.values()))
                    else:
                        pre, ctx, inputs = extract(args)
                    self.add(step, pre, ctx, inputs)
                    if step == "Q5":
                        self._derive_poll(pre, ctx, inputs["now_ms"])
                finally:
                    self._active = True
            return fn(*args, **kwargs)

        return wrapper

    def _no_vote(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if self._active and self._keep("R3"):
                pre, ctx, inputs = _no_vote(args, kwargs)
                self.add("R3", pre, ctx, inputs)
            return fn(*args, **kwargs)

        return wrapper

    def _method(self, step: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(machine: Any, *args: Any, **kwargs: Any) -> Any:
            if self._active and self._keep(f"{step}.{machine.kind}"):
                state = args[0]
                if step == "S1":
                    commands, apply, profile = args[1], args[2], args[3]
                    ctx: Any = ApplyStepContext(apply, profile)
                    inputs: dict[str, Any] = {"commands": tuple(commands)}
                elif step == "S2":
                    ctx, inputs = ProfileContext(self.profile), {"snapshot": args[1]}
                else:
                    profile = args[1] if len(args) > 1 else kwargs.get("profile", REFERENCE)
                    ctx, inputs = ProfileContext(profile), {}
                self.add(step, state, ctx, inputs, collection=machine.kind)
            return fn(machine, *args, **kwargs)

        return wrapper

    def _derive_poll(self, s: Any, ctx: Any, now_ms: Any) -> None:
        """Record Q7, Q9, Q11 and Q11a with the inputs they see inside this Q5 call."""
        from impl import session as q
        from impl.effects import Send
        from impl.messages import FetchDataRequest

        originals = _ORIGINALS
        try:
            if q.is_sync_complete(s):
                return
            s = originals["Q6"](s)
            self.add("Q7", s, ctx, {"now_ms": now_ms})
            s, _ = originals["Q7"](s, ctx, now_ms)
            s = originals["Q8"](originals["Q2"](s, ctx))
            self.add("Q9", s, None, {"now_ms": now_ms})
            s, _ = originals["Q9"](s, now_ms)
            s = originals["Q10"](s, ctx)
            self.add("Q11", s, ctx, {"now_ms": now_ms})
            _, effects = originals["Q11"](s, ctx, now_ms)
        except SnapshotSyncError:
            return
        for effect in effects:
            if isinstance(effect, Send) and isinstance(effect.message, FetchDataRequest):
                m = effect.message
                self.add(
                    "Q11a",
                    s,
                    ctx,
                    {"peer": effect.to, "anchor": m.anchor, "chunk": m.range, "now_ms": now_ms},
                )
                break

    @contextmanager
    def installed(self) -> Iterator[Recorder]:
        """Wrap every step function for the duration of the block."""
        patches: list[tuple[Any, str, Any]] = []
        for step in STEP_IDS:
            if step in ("S1", "S2", "S3"):
                continue
            original = _ORIGINALS[step]
            patches += _patch_everywhere(original, self._plain(step, original))
        from impl import raft

        no_vote = raft.leader_record_no_vote
        patches += _patch_everywhere(no_vote, self._no_vote(no_vote))
        method = {"S1": "apply_batch", "S2": "install_snapshot", "S3": "create_snapshot"}
        for machine in COLLECTIONS.values():
            cls = type(machine)
            for step, name in method.items():
                original = cls.__dict__[name]
                patches.append((cls, name, original))
                setattr(cls, name, self._method(step, original))
        try:
            yield self
        finally:
            for owner, name, original in reversed(patches):
                setattr(owner, name, original)


def _resolve_step(step: str) -> Any:
    module_name, _, qualname = STEP_IDS[step].partition(":")
    module = sys.modules.get(module_name) or __import__(module_name, fromlist=["_"])
    obj: Any = module
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


_ORIGINALS: dict[str, Any] = {
    step: _resolve_step(step) for step in STEP_IDS if step not in ("S1", "S2", "S3")
}


def _patch_everywhere(original: Any, wrapper: Any) -> list[tuple[Any, str, Any]]:
    """Replace ``original`` by ``wrapper`` in every loaded impl/spec module that holds it."""
    patches = []
    for name, module in list(sys.modules.items()):
        if not isinstance(module, ModuleType) or not name.startswith(("impl", "spec")):
            continue
        for attr, value in list(vars(module).items()):
            if value is original:
                patches.append((module, attr, original))
                setattr(module, attr, wrapper)
    return patches


# -- the model runs --------------------------------------------------------------------------


def _sources(quick: bool) -> list[tuple[str, str, Callable[[Profile], tuple[str, Config]]]]:
    """Every model run: (kind, name, run(profile) → (collection, config))."""
    from spec.scenarios import SCENARIOS, run_case, select_cases

    runs: list[tuple[str, str, Callable[[Profile], tuple[str, Config]]]] = []
    for case in select_cases(SCENARIOS, None, 12 if quick else 40):

        def scenario(profile: Profile, case: Any = case) -> tuple[str, Config]:
            run_case(case, profile, check=False)
            return case.scenario.collection, Config().with_fetch_batch_size(case.batch)

        runs.append(("scenario", case.id, scenario))
    from spec.model.faults import Fault
    from spec.sim.workload import SimulationSpec, simulate

    faults = {
        Fault.DUPLICATE: 0.05,
        Fault.REORDER: 0.05,
        Fault.SHORT_RESPONSE: 0.1,
        Fault.LONG_RESPONSE: 0.1,
        Fault.WRONG_OFFSET: 0.1,
        Fault.DISAGREE_ORDER: 1.0,
    }
    kinds = ("map", "vec", "set", "depq", "cell", "once")
    for seed in range(2 if quick else 6):
        kind = kinds[seed % len(kinds)]

        def simulation(profile: Profile, kind: str = kind, seed: int = seed) -> tuple[str, Config]:
            spec = SimulationSpec(
                collection=kind,
                items=12,
                batch=3,
                providers=3,
                writes_during_sync=4,
                seed=seed,
                profile=profile,
                faults=faults,
                check=False,
                max_steps=4_000,
            )
            simulate(spec)
            return kind, Config().with_fetch_batch_size(3)

        runs.append(("simulation", f"{kind} seed {seed} with faults", simulation))
    from spec.hunt.campaigns import CAMPAIGNS

    for campaign in CAMPAIGNS[: 3 if quick else len(CAMPAIGNS)]:

        def hunt_walks(profile: Profile, campaign: Any = campaign) -> tuple[str, Config]:
            import random

            from spec.hunt.swarm import COARSE, walk

            for k in range(2 if quick else 4):
                rng = random.Random(f"vectors:{campaign.name}:{k}")
                walk(campaign, profile, rng, (COARSE,))
            return campaign.kinds[0], Config()

        runs.append(("hunt", f"campaign {campaign.name}", hunt_walks))
    return runs


def _arcs(raw_call: Call, profile: Profile) -> frozenset[tuple[str, int, int, int]]:
    """Return the arcs the call takes in the behaviour modules under ``profile``."""
    try:
        conv, machine, pre, ctx, inputs, used = decode_call(
            raw_call.step,
            raw_call.collection,
            raw_call.pre,
            raw_call.context,
            raw_call.input,
            profile,
        )
    except CodecError:
        return frozenset()
    arcs: set[tuple[str, int, int, int]] = set()

    def tracer(frame: FrameType, event: str, arg: Any) -> Any:
        code = frame.f_code
        filename = code.co_filename
        if filename not in _TRACED:
            return None
        first = code.co_firstlineno
        last = [0]

        def local(frame: FrameType, event: str, arg: Any) -> Any:
            if event == "line":
                arcs.add((filename, first, last[0], frame.f_lineno))
                last[0] = frame.f_lineno
            elif event == "return":
                arcs.add((filename, first, last[0], -1))
            return local

        return local

    sys.settrace(tracer)
    try:
        call_step(conv, machine, pre, ctx, inputs, used)
    except SnapshotSyncError:
        pass
    finally:
        sys.settrace(None)
    return frozenset(arcs)


def _encode(raw: _Raw) -> Call | None:
    conv = CONVENTIONS[raw.step]
    machine = machine_of(raw.collection)
    try:
        pre = None if conv.pre is None else encode(raw.pre, _resolve(conv.pre, machine))
        ctx = None
        if conv.context is not None:
            from spec.conformance.conventions import CONTEXT_KINDS

            ctx = encode(raw.ctx, CONTEXT_KINDS[conv.context][0])
        inputs = {f.name: encode(raw.inputs[f.name], _resolve(f.tp, machine)) for f in conv.inputs}
        config = encode(raw.config, Config)
    except (CodecError, TypeError):
        return None
    return Call(
        step=raw.step,
        collection=raw.collection,
        config=config,
        pre=pre,
        context=ctx,
        input=inputs,
        source={"kind": raw.source[0], "name": raw.source[1]},
        reachable_in=(raw.profile,),
    )


@dataclass
class RecordingStats:
    """How many calls each stage kept (``vectors generate --json`` shows them)."""

    recorded: int = 0
    unencodable: Counter[str] = field(default_factory=Counter)
    distinct: int = 0
    kept: int = 0


STATS = RecordingStats()


@contextmanager
def _fresh_model() -> Iterator[None]:
    """Run with empty model caches, restored afterwards.

    The model shares results across runs (memoised state machines, pre-built hunt groups);
    a run that hits a cache does not call the steps a fresh run calls, so what is recorded
    would depend on what ran before in the process.
    """
    from spec.hunt import machine as hunt_machine
    from spec.model import actions

    saved = (dict(actions._MACHINES), dict(hunt_machine._GROUPS))
    actions._MACHINES.clear()
    hunt_machine._GROUPS.clear()
    try:
        yield
    finally:
        actions._MACHINES.clear()
        actions._MACHINES.update(saved[0])
        hunt_machine._GROUPS.clear()
        hunt_machine._GROUPS.update(saved[1])


def recorded_calls(quick: bool = False) -> list[Call]:
    """Run every source under both profiles while recording; return the deduplicated calls."""
    from spec.sim.simulator import cyclic_gc_paused

    recorder = Recorder()
    with _fresh_model(), recorder.installed(), cyclic_gc_paused():
        for kind, name, run in _sources(quick):
            for profile in (REFERENCE, MOSAIK_0_3_13):
                recorder.begin(kind, name, profile, "map", Config())
                # A run that hits mosaik's panic has recorded its calls up to it.
                with contextlib.suppress(SnapshotSyncError):
                    run(profile)
    STATS.recorded = len(recorder.raws)
    by_text: dict[str, Call] = {}
    for raw in recorder.raws:
        call = _encode(raw)
        if call is None:
            STATS.unencodable[raw.step] += 1
            continue
        key = canonical_json(
            [call.step, call.collection, call.config, call.pre, call.context, call.input]
        )
        known = by_text.get(key)
        if known is None:
            by_text[key] = call
        elif raw.profile not in known.reachable_in:
            by_text[key] = _with_reachable(known, raw.profile)
    STATS.distinct = len(by_text)
    kept: dict[tuple[Any, ...], Call] = {}
    profiles = {REFERENCE.name: REFERENCE, MOSAIK_0_3_13.name: MOSAIK_0_3_13}
    for call in by_text.values():
        # The branches the call takes under the first (by name) profile it occurred in.
        arcs_key = (
            call.step,
            call.collection if call.step in ("S1", "S2", "S3") else "",
            _arcs(call, profiles[call.reachable_in[0]]),
        )
        if arcs_key not in kept:
            kept[arcs_key] = call
    STATS.kept = len(kept)
    return list(kept.values())


def _with_reachable(call: Call, profile: str) -> Call:
    from dataclasses import replace

    return replace(call, reachable_in=tuple(sorted({*call.reachable_in, profile})))
