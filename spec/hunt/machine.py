"""The group state machine: Hypothesis drives the model through random interleavings.

:class:`GroupMachine` is a ``RuleBasedStateMachine`` over the model of
:mod:`spec.model`. Its rules are the model's actions, under the same names
(``join_late``, ``leave``, ``restart_empty``, ``client_write``, ``node_poll``,
``start_election``, ``advance_time`` (and ``expire_ttl``: ``advance_time`` to a
snapshot's TTL deadline, ±1 ms), ``deliver_message``, ``break_bond``, ``restore_bond``,
``set_clock_skew``, ``duplicate_message``, ``reorder_message``,
``corrupt_response``, ``forge_message``), each with a ``@precondition`` that
restates the action's guard (plus the hunt's discipline, below); two composite
rules drive fair delivery: ``settle`` (a window of model time, optionally with
one slow provider) and ``drain_to_quiescence`` (the liveness check L1/L2, which
also runs at the end of every example, in ``teardown``). Three rules choose slow links
(``slow_node``, ``slow_link``, ``release``: :data:`SCHEDULER_RULES`, in
:class:`SlowLinkMachine`): messages on a held direction stay queued, in order, on a
bond that stays up, while time passes (:meth:`~spec.hunt.driver.Driver.hold`).

There is one ``@invariant`` per safety property; each reads the findings of the
model's :class:`~spec.model.invariants.Checker` (run after every action by the
:class:`~spec.hunt.driver.Driver`) for its own id.

Discipline (what the generator never does, and why — a documented choice, not a
silent filter):

* only the leader may ``leave`` (readers may too), only when another writer is in
  sync. Writer–writer bonds do break: mosaik's Raft shrinks its committee to live
  bonds and a candidate counts only the peers it can ask, so a partition between
  writers can elect a leader that lacks committed entries (``RAFT-LC``, H29: a
  documented limitation of both profiles, recorded under ``limitations``; the
  run's later findings are its consequences and are not judged). A leader leaving
  behind a stale writer would reach the same limitation every time, so the
  generator does not do that — except in campaigns with ``leader_leaves_ahead``,
  where the leader may leave with a tail no other writer holds while another writer
  is up, online and not catching up (a crash with uncommitted entries);
* a slow link delays, never loses: no slow link makes a run partitioned, and the
  drain releases every one (fairness);
* a ``break_bond`` keeps up to two messages per direction that the receiver had
  already received (transport ``deliver_after_break``, :mod:`spec.model.transport`);
* writers restart empty only in campaigns with ``writer_restarts`` (H16, a
  documented limitation of the reference: see docs/findings.md);
* clock skew stays within half the TTL (larger skews make providers refuse every
  request by design: H8, no switch);
* a response is corrupted at most once: a short then a long corruption give a
  response of the right length whose last item is a copy of another — forged
  content that no length or offset check can see (mosaik's responses carry no
  digest), a Byzantine fault outside the model's fault set, which the swarm
  engine found as an I10 divergence.

A failing example prints the seed and, on Hypothesis's final (shrunk) replay,
saves the run as a trace that ``snapsync replay`` reproduces and renders.
"""

from __future__ import annotations

import functools
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from hypothesis import strategies as st
from hypothesis.control import current_build_context
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from impl.messages import FetchDataResponse, SnapshotOffer
from impl.profile import REFERENCE, Profile
from spec.hunt.campaigns import CAMPAIGNS, Campaign
from spec.hunt.client_commands import command_domain, seed_commands
from spec.hunt.consequences import HORIZON_MS, Consequence, hold, judge, probe_write
from spec.hunt.domains import Choice, Domain, Ints, ListOf, Maybe
from spec.hunt.driver import LIVENESS_IDS, UNTIL, Driver, Finding
from spec.hunt.scenario import (
    ELECTION_TIMEOUT_MS,
    FAST_CONFIG,
    HEARTBEAT_MS,
    LAGGING,
    REDRAW,
    GroupShape,
    build_group,
    election_timeout,
    world_setup,
)
from spec.model.actions import (
    advance_time,
    break_bond,
    client_write,
    corrupt_response_action,
    deliver_message,
    duplicate_message,
    forge_message,
    join_late,
    leave,
    node_poll_action,
    reorder_message,
    restart_empty,
    restore_bond,
    set_clock_skew,
    start_election_action,
)
from spec.model.faults import Fault
from spec.model.host import HostedNode, catching_up
from spec.model.state import NodeStatus, World
from spec.model.transport import Transport

__all__ = [
    "SAFETY_IDS",
    "SCHEDULER_RULES",
    "GroupMachine",
    "HuntFailure",
    "RunRecord",
    "Session",
    "SlowLinkMachine",
    "machine_class",
    "run_prelude",
]

SAFETY_IDS: tuple[str, ...] = (
    "I1", "I2", "I3", "I4", "I5", "I6", "I7", "I8", "I9", "I10", "I11", "I12", "I13",
    "I14", "I15", "I16", "FRESH", "RAFT-ES", "RAFT-LAO", "RAFT-LM", "RAFT-LC", "RAFT-SM",
    "PANIC", "STEP", "L2", "L3", "L5", "E1",
)  # fmt: skip
"""Every per-step id a machine checks (one ``@invariant`` each)."""

F = TypeVar("F", bound=Callable[..., Any])

# Jumps stay below every election timeout: a longer jump without heartbeats is a
# partition between writers (see the module docstring); long waits go through
# ``settle``, which delivers heartbeats as time passes.
_DELTAS: tuple[int, ...] = (1, HEARTBEAT_MS, 2 * HEARTBEAT_MS, ELECTION_TIMEOUT_MS - 1)
_WINDOWS: tuple[int, ...] = (
    0,
    HEARTBEAT_MS,
    FAST_CONFIG.fetch_timeout_ms + 1,
    FAST_CONFIG.snapshot_ttl_ms + 1,
)
_SKEWS: tuple[int, ...] = (
    -FAST_CONFIG.snapshot_ttl_ms // 2,
    -1_000,
    0,
    1_000,
    FAST_CONFIG.snapshot_ttl_ms // 2,
)
_CORRUPTIONS: tuple[str, ...] = (
    Fault.SHORT_RESPONSE.value,
    Fault.LONG_RESPONSE.value,
    Fault.WRONG_OFFSET.value,
)


_PICK = Ints(0, 7)

RULE_ARGS: dict[str, dict[str, Domain]] = {
    "join_late": {"who": _PICK},
    "leave": {"who": _PICK},
    "restart_empty": {"who": _PICK},
    "client_write": {},
    "node_poll": {"who": _PICK},
    "start_election": {"who": _PICK},
    "advance_time": {"delta": Choice(_DELTAS)},
    "expire_ttl": {"which": _PICK, "offset": Choice((-1, 0, 1))},
    "deliver_message": {"which": _PICK},
    "break_bond": {"which": _PICK, "received_by_a": Ints(0, 2), "received_by_b": Ints(0, 2)},
    "restore_bond": {"which": _PICK},
    "set_clock_skew": {"who": _PICK, "skew": Choice(_SKEWS)},
    "duplicate_message": {"which": _PICK},
    "reorder_message": {"which": _PICK, "position": Ints(1, 4)},
    "corrupt_response": {
        "which": _PICK,
        "mode": Choice(_CORRUPTIONS),
        "delta": Choice((1, -1)),
    },
    "forge_message": {"which": _PICK},
    "slow_node": {"who": _PICK},
    "slow_link": {"which": Ints(0, 31)},
    "release": {"who": _PICK},
    "settle": {"window": Choice(_WINDOWS), "slow": Maybe(_PICK)},
    "settle_until": {"until": Choice(tuple(UNTIL)), "slow": Maybe(_PICK)},
    "drain_to_quiescence": {},
}
"""Every rule's arguments, as domains (:mod:`spec.hunt.domains`): the rules' Hypothesis
strategies are built from them, and the swarm engine draws from them. ``client_write``
draws its commands from :func:`write_domain` (they depend on the group's collection)."""

MACRO_RULES: frozenset[str] = frozenset({"settle", "settle_until", "drain_to_quiescence"})
"""Rules that run many model actions (fair delivery); every other rule runs one..."""

SCHEDULER_RULES: frozenset[str] = frozenset({"slow_node", "slow_link", "release"})
"""... but these, which run none: they choose which links fair delivery leaves queued
(:meth:`spec.hunt.driver.Driver.hold`), an adversary's scheduling, not a model event."""


@functools.cache
def write_domain(kind: str) -> Domain:
    """Return the domain of one ``client_write``'s commands (1–3 of collection ``kind``)."""
    return ListOf(command_domain(kind), 1, 3)


@functools.cache
def _write_strategy(kind: str) -> st.SearchStrategy[Any]:
    return write_domain(kind).strategy()


def shape_domains(c: Campaign) -> dict[str, Domain]:
    """Return the domains ``setup_group`` draws a campaign's group shape from, by label."""
    return {
        "kind": Choice(c.kinds),
        "items": Ints(*c.items),
        "batch": Choice(c.batches),
        "writers": Choice(c.writers),
        "readers": Choice(c.readers),
        "lagging": Choice(c.lagging),
    }


def _args(name: str) -> dict[str, Any]:
    return {arg: domain.strategy() for arg, domain in RULE_ARGS[name].items()}


class HuntFailure(AssertionError):
    """A check failed in a hunt run; the message names the id, the seed and the trace."""

    def __init__(self, finding: Finding, message: str) -> None:
        self.finding = finding
        super().__init__(message)


@dataclass(slots=True)
class RunRecord:
    """What a failing run left behind (the last one recorded is Hypothesis's shrunk replay)."""

    campaign: str
    finding: Finding
    rule_steps: int
    model_steps: int
    program: list[str]
    trace: str | None
    final: bool
    trace_error: str | None = None
    """Why the trace could not be saved (the finding stands without it)."""


def _save_trace(
    d: Driver, path: Path, meta: dict[str, Any], *, upto: int | None = None
) -> tuple[str | None, str | None]:
    """Save a failing run's trace (``upto``: its first steps only, a consequence run's
    program); return (path, None), or (None, why) if it cannot be written: an I/O error
    must not replace the finding it was meant to document."""
    try:
        return str(d.write_trace(path, seed=SESSION.seed, meta=meta, upto=upto)), None
    except OSError as exc:
        return None, f"cannot write the trace {path}: {exc.strerror or exc}"


@dataclass(slots=True)
class Session:
    """Process-wide bookkeeping of the machines (reset by the hunt runner per call)."""

    seed: int | None = None
    trace_dir: Path | None = None
    rule_steps: int = 0
    model_steps: int = 0
    examples: int = 0
    first_failure_at: float | None = None
    failures: list[RunRecord] = field(default_factory=list)
    limitations: list[RunRecord] = field(default_factory=list)
    coverage: dict[str, int] = field(default_factory=dict)
    fatal_limitations: bool = False
    shrink_limit: str | None = None
    """How the swarm shrinker's last shrink ended (:class:`spec.hunt.swarm.Shrunk`)."""

    def trace_path(self, campaign: str, ident: str) -> Path:
        base = self.trace_dir
        if base is None:
            env = os.environ.get("SNAPSYNC_HUNT_TRACES")
            base = Path(env) if env else Path(tempfile.gettempdir()) / "snapsync-hunt"
        seed = "derandomized" if self.seed is None else str(self.seed)
        return base / f"{campaign}-{ident}-seed{seed}.trace.jsonl"


SESSION = Session()
"""The bookkeeping the runner reads (one hunt at a time per process)."""

# Built groups by (shape, profile, faults): a run starts from a fork of one.
_GROUPS: dict[tuple[Any, ...], Driver] = {}


def _step(fn: F) -> F:
    """Mark a rule: count it, and remember that it is running (teardown skips the drain
    if a rule raised, so the original error is the one reported)."""

    @functools.wraps(fn)
    def wrapper(self: GroupMachine, *args: Any, **kwargs: Any) -> Any:
        # Everything found before this rule was judged by the invariants after the last one.
        if self.d is not None:
            self._reported = len(self.d.findings)
        self._in_rule = True
        SESSION.rule_steps += 1
        self.rule_steps += 1
        result = fn(self, *args, **kwargs)
        self._in_rule = False
        return result

    return wrapper  # type: ignore[return-value]


def _any_directions(m: GroupMachine) -> bool:
    return bool(m.drv.unheld_directions())


def _live_directions(w: World) -> list[tuple[str, str]]:
    """Directions with a queued message on a live bond (where the faults act: a message a
    receiver already received on a broken bond is past the wire)."""
    return [(s, d) for s, d in w.directions() if w.bonded(s, d)]


def _any_live_directions(m: GroupMachine) -> bool:
    return bool(_live_directions(m.drv.world))


def _reorderable(m: GroupMachine) -> bool:
    w = m.drv.world
    return any(len(w.queue(s, d)) > 1 for s, d in _live_directions(w))


def _corruptible(m: GroupMachine) -> bool:
    return bool(m._responses()) and any(Fault(x) in m.drv.setup.faults for x in _CORRUPTIONS)


def _always(m: GroupMachine) -> bool:
    return True


GUARDS: dict[str, Callable[[GroupMachine], bool]] = {
    "join_late": lambda m: bool(m._joinable()),
    "leave": lambda m: bool(m._leavable()),
    "restart_empty": lambda m: bool(m._restartable()),
    "client_write": lambda m: m.drv.leader() is not None,
    "node_poll": lambda m: bool(m.drv.world.up_names()),
    "start_election": lambda m: bool(m._candidates()),
    "advance_time": _always,
    "expire_ttl": lambda m: bool(m._ttl_deadlines()),
    "deliver_message": _any_directions,
    "break_bond": lambda m: bool(m._breakable()),
    "restore_bond": lambda m: bool(m._restorable()),
    "set_clock_skew": _always,
    "duplicate_message": _any_live_directions,
    "reorder_message": _reorderable,
    "corrupt_response": _corruptible,
    "forge_message": lambda m: bool(m._replayable()),
    "slow_node": lambda m: len(m.drv.world.up_names()) > 1,
    "slow_link": lambda m: len(m.drv.world.up_names()) > 1,
    "release": lambda m: bool(m.drv.held),
    "settle": _always,
    "settle_until": _always,
    "drain_to_quiescence": _always,
}
"""Each rule's guard: the model action's own precondition plus the hunt's discipline
(module docstring). A rule runs only if the group is set up, its campaign enables it,
and its guard holds (:meth:`GroupMachine.enabled`; the ``@precondition`` of every rule)."""


def _pre(name: str) -> Callable[[GroupMachine], bool]:
    return lambda self: self.enabled(name)


class GroupMachine(RuleBasedStateMachine):
    """The group machine (module docstring). Subclass per campaign: :func:`machine_class`.

    A campaign with a ``consequence`` (:func:`spec.hunt.campaigns.consequence_campaign`)
    hunts for that consequence instead: no per-step check fails a run, and the
    teardown holds the group to the horizon and judges the consequence
    (:mod:`spec.hunt.consequences`); a run that reaches it fails with id
    ``C-<KIND>`` (``C-STALL``, …), so the engines find and shrink it like any failure.
    """

    campaign: ClassVar[Campaign] = CAMPAIGNS[0]
    profile: ClassVar[Profile] = REFERENCE

    def __init__(self) -> None:
        super().__init__()
        self.d: Driver | None = None
        self.shape: GroupShape | None = None
        self.rule_steps = 0
        self.program: list[str] = []
        self._in_rule = False
        self._failed = False
        self._reported = 0
        self._limitations: list[Finding] = []
        self._consequence: dict[str, Any] | None = None
        self.final: bool | None = None
        """Whether a failure here is the one to save (None: ask Hypothesis)."""
        self.counted_from = 0
        """Model steps already counted elsewhere (a resumed copy's shared prefix)."""
        SESSION.examples += 1

    # -- setup ----------------------------------------------------------------------------------

    @initialize(data=st.data())
    @_step
    def setup_group(self, data: st.DataObject) -> None:
        """Form the starting group (:func:`spec.hunt.scenario.build_group`), drawn per campaign."""
        c = self.campaign
        drawn = {
            label: data.draw(d.strategy(), label=label) for label, d in shape_domains(c).items()
        }
        shape = GroupShape(**drawn, joint_election=c.joint_election)
        self.shape = shape
        self.d = self.start_group(shape)
        self.program.append(f"setup_group({shape}, prelude={list(c.prelude)})")

    def start_group(self, shape: GroupShape) -> Driver:
        """Return the driver of a run's starting group (a fork of a cached build of it)."""
        c = self.campaign
        return _fork_group(shape, self.profile, c.faults, c.prelude)

    # -- helpers --------------------------------------------------------------------------------

    @property
    def drv(self) -> Driver:
        if self.d is None:  # pragma: no cover - preconditions keep rules from running
            raise RuntimeError("the group is not set up")
        return self.d

    def enabled(self, name: str) -> bool:
        """Return whether rule ``name`` may run now (its ``@precondition``)."""
        return self.d is not None and name in self.campaign.rules and GUARDS[name](self)

    def _note(self, text: str) -> None:
        self.program.append(text)

    def _up_readers(self) -> list[str]:
        w = self.drv.world
        return [n for n in w.up_names() if not w.nodes[n].writer]

    def _joinable(self) -> list[str]:
        w = self.drv.world
        out = [n for n in LAGGING if n not in w.nodes]
        out += [n for n in w.names() if w.nodes[n].status is NodeStatus.DOWN]
        return sorted(set(out))

    def _leavable(self) -> list[str]:
        out = self._up_readers()
        leader = self.drv.leader()
        if leader is not None and (
            self._other_writer_in_sync(leader)
            or (self.campaign.leader_leaves_ahead and self._other_writer_online(leader))
        ):
            out.append(leader)
        return out

    def _other_writer_online(self, leader: str) -> bool:
        """Another writer is up, online and not catching up (it may lack the leader's tail)."""
        w = self.drv.world
        return any(
            w.nodes[n].writer and not catching_up(w.nodes[n].node) and w.nodes[n].node.online
            for n in w.up_names()
            if n != leader
        )

    def _other_writer_in_sync(self, leader: str) -> bool:
        w = self.drv.world
        lead = w.nodes[leader].node
        for name in w.up_names():
            slot = w.nodes[name]
            if name == leader or not slot.writer:
                continue
            node = slot.node
            if not catching_up(node) and node.online and node.log.last() == lead.log.last():
                return True
        return False

    def _candidates(self) -> list[str]:
        """Up writers that may stand now: not leading, not catching up (``start_election``)."""
        w = self.drv.world
        return [
            n
            for n in w.up_names()
            if w.nodes[n].writer and n not in w.leaders() and not catching_up(w.nodes[n].node)
        ]

    def _restartable(self) -> list[str]:
        w = self.drv.world
        if self.campaign.writer_restarts:
            leader = self.drv.leader()
            return [n for n in w.up_names() if n != leader]
        return self._up_readers()

    def _ttl_deadlines(self) -> list[int]:
        """TTL deadlines of the snapshots on offer, a jump to which is allowed: later than
        now, and only with at most one writer up (a jump past an election timeout without
        heartbeats is a partition between writers: see the module docstring)."""
        w = self.drv.world
        up = w.up_names()
        if sum(1 for n in up if w.nodes[n].writer) > 1:
            return []
        now = w.now_ms
        out: set[int] = set()
        for name in up:
            node = w.nodes[name].node
            if isinstance(node, HostedNode):
                continue
            out.update(a.deadline_ms for a in node.provider.available.values())
        return sorted(d for d in out if d > now + 1)

    def _breakable(self) -> list[tuple[str, str]]:
        w = self.drv.world
        return [(lo, hi) for (lo, hi), bond in sorted(w.bonds.items()) if bond.up]

    def _restorable(self) -> list[tuple[str, str]]:
        w = self.drv.world
        return [
            (lo, hi)
            for (lo, hi), bond in sorted(w.bonds.items())
            if not bond.up and w.nodes[lo].up and w.nodes[hi].up and not bond.in_flight()
        ]

    def _responses(self) -> list[tuple[str, str, int]]:
        """Queued responses not corrupted yet (one corruption per message: see the module
        docstring)."""
        out = []
        w = self.drv.world
        tampered = self.drv.tampered
        for src, dst in _live_directions(w):
            for k, item in enumerate(w.queue(src, dst)):
                if isinstance(item.message, FetchDataResponse) and item.mid not in tampered:
                    out.append((src, dst, k))
        return out

    def _replayable(self) -> list[int]:
        w = self.drv.world
        return [
            k
            for k, item in enumerate(self.drv.replayable)
            if isinstance(item.message, SnapshotOffer | FetchDataResponse)
            and w.nodes[item.src].up
            and w.bonded(item.src, item.dst)
        ]

    # -- rules: the model's actions -------------------------------------------------------------

    @precondition(_pre("join_late"))
    @rule(**_args("join_late"))
    @_step
    def join_late(self, who: int) -> None:
        """A lagging reader joins (or a node that left re-joins empty): ``join_late``."""
        names = self._joinable()
        name = names[who % len(names)]
        writer = name.startswith("w")
        self.drv.do(
            join_late,
            name,
            writer=writer,
            election_timeout_ms=election_timeout(name),
            redraw=REDRAW,
        )
        self._note(f"join_late({name!r})")

    @precondition(_pre("leave"))
    @rule(**_args("leave"))
    @_step
    def leave(self, who: int) -> None:
        """A reader leaves, or the leader leaves with another writer in sync: ``leave``."""
        names = self._leavable()
        name = names[who % len(names)]
        self.drv.do(leave, name)
        self._note(f"leave({name!r})")

    @precondition(_pre("restart_empty"))
    @rule(**_args("restart_empty"))
    @_step
    def restart_empty(self, who: int) -> None:
        """A node restarts with no state: ``restart_empty``."""
        names = self._restartable()
        name = names[who % len(names)]
        self.drv.do(restart_empty, name, election_timeout_ms=election_timeout(name))
        self._note(f"restart_empty({name!r})")

    @precondition(_pre("client_write"))
    @rule(data=st.data())
    @_step
    def client_write(self, data: st.DataObject) -> None:
        """Clients write 1–3 commands at the leader (R8): ``client_write``."""
        kind = self.drv.setup.kind
        commands = tuple(data.draw(_write_strategy(kind), label="commands"))
        leader = self.drv.leader()
        assert leader is not None
        self.drv.do(client_write, leader, commands)
        self._note(f"client_write({leader!r}, {commands!r})")

    @precondition(_pre("node_poll"))
    @rule(**_args("node_poll"))
    @_step
    def node_poll(self, who: int) -> None:
        """One tick of a node: ``node_poll``."""
        names = self.drv.world.up_names()
        name = names[who % len(names)]
        self.drv.do(node_poll_action, name)
        self._note(f"node_poll({name!r})")

    @precondition(_pre("start_election"))
    @rule(**_args("start_election"))
    @_step
    def start_election(self, who: int) -> None:
        """A writer's election timer fires now (timeouts are random, so any instant is one):
        ``start_election``. Competing candidates and split votes come from this rule."""
        names = self._candidates()
        name = names[who % len(names)]
        self.drv.do(start_election_action, name)
        self._note(f"start_election({name!r})")

    @precondition(_pre("advance_time"))
    @rule(**_args("advance_time"))
    @_step
    def advance_time(self, delta: int) -> None:
        """The clock moves ``delta`` ms and due nodes poll: ``advance_time``."""
        self.drv.do(advance_time, self.drv.world.now_ms + delta)
        self._note(f"advance_time(+{delta})")

    @precondition(_pre("expire_ttl"))
    @rule(**_args("expire_ttl"))
    @_step
    def expire_ttl(self, which: int, offset: int) -> None:
        """The clock jumps to just before, at or just after a snapshot's TTL deadline
        (P5; a time jump on the TTL scale, which ``advance_time``'s short steps reach only
        in long walks): ``advance_time`` to ``deadline + offset``."""
        deadlines = self._ttl_deadlines()
        to = deadlines[which % len(deadlines)] + offset
        self.drv.do(advance_time, to)
        self._note(f"expire_ttl(to={to})")

    @precondition(_pre("deliver_message"))
    @rule(**_args("deliver_message"))
    @_step
    def deliver_message(self, which: int) -> None:
        """A bond delivers its head message (not on a slow link: ``slow_node``):
        ``deliver_message``."""
        dirs = self.drv.unheld_directions()
        src, dst = dirs[which % len(dirs)]
        self.drv.do(deliver_message, src, dst)
        self._note(f"deliver_message({src!r}, {dst!r})")

    @precondition(_pre("break_bond"))
    @rule(**_args("break_bond"))
    @_step
    def break_bond(self, which: int, received_by_a: int = 0, received_by_b: int = 0) -> None:
        """A bond breaks (``break_bond``); each end may already have received the head of
        the queue towards it (at most what is queued), delivered after the termination."""
        bonds = self._breakable()
        a, b = bonds[which % len(bonds)]
        w = self.drv.world
        if Transport.DELIVER_AFTER_BREAK not in w.setup.transport:
            received_by_a = received_by_b = 0
        ka = min(received_by_a, len(w.queue(b, a)))
        kb = min(received_by_b, len(w.queue(a, b)))
        self.drv.do(break_bond, a, b, received_by_a=ka, received_by_b=kb)
        kept = (f", received_by_a={ka}" if ka else "") + (f", received_by_b={kb}" if kb else "")
        self._note(f"break_bond({a!r}, {b!r}{kept})")

    @precondition(_pre("restore_bond"))
    @rule(**_args("restore_bond"))
    @_step
    def restore_bond(self, which: int) -> None:
        """A broken bond between two up nodes re-forms: ``restore_bond``."""
        bonds = self._restorable()
        a, b = bonds[which % len(bonds)]
        self.drv.do(restore_bond, a, b)
        self._note(f"restore_bond({a!r}, {b!r})")

    @precondition(_pre("set_clock_skew"))
    @rule(**_args("set_clock_skew"))
    @_step
    def set_clock_skew(self, who: int, skew: int) -> None:
        """A node's wall clock jumps (within half the TTL): ``set_clock_skew``."""
        names = self.drv.world.up_names()
        name = names[who % len(names)]
        self.drv.do(set_clock_skew, name, skew)
        self._note(f"set_clock_skew({name!r}, {skew})")

    @precondition(_pre("duplicate_message"))
    @rule(**_args("duplicate_message"))
    @_step
    def duplicate_message(self, which: int) -> None:
        """Fault ``duplicate``: a bond delivers its head message and keeps it."""
        dirs = _live_directions(self.drv.world)
        src, dst = dirs[which % len(dirs)]
        self.drv.do(duplicate_message, src, dst)
        self._note(f"duplicate_message({src!r}, {dst!r})")

    @precondition(_pre("reorder_message"))
    @rule(**_args("reorder_message"))
    @_step
    def reorder_message(self, which: int, position: int) -> None:
        """Fault ``reorder``: a queued message overtakes the ones before it."""
        w = self.drv.world
        dirs = [(s, d) for s, d in _live_directions(w) if len(w.queue(s, d)) > 1]
        src, dst = dirs[which % len(dirs)]
        pos = 1 + (position - 1) % (len(w.queue(src, dst)) - 1)
        self.drv.do(reorder_message, src, dst, pos)
        self._note(f"reorder_message({src!r}, {dst!r}, {pos})")

    @precondition(_pre("corrupt_response"))
    @rule(**_args("corrupt_response"))
    @_step
    def corrupt_response(self, which: int, mode: str, delta: int) -> None:
        """Faults ``short_response``/``long_response``/``wrong_offset``: a provider
        misbehaves on one queued response (``corrupt_response``); a no-op if it cannot apply."""
        enabled = [m for m in _CORRUPTIONS if Fault(m) in self.drv.setup.faults]
        if mode not in enabled:
            # The drawn corruption is switched off in this campaign: use an enabled one.
            mode = enabled[_CORRUPTIONS.index(mode) % len(enabled)]
        responses = self._responses()
        src, dst, position = responses[which % len(responses)]
        item = self.drv.world.queue(src, dst)[position]
        assert isinstance(item.message, FetchDataResponse)
        if mode != Fault.WRONG_OFFSET.value and not item.message.items:
            return
        if mode == Fault.WRONG_OFFSET.value and item.message.offset + delta < 0:
            delta = 1
        self.drv.do(corrupt_response_action, src, dst, position, mode, delta)
        self._note(f"corrupt_response({src!r}, {dst!r}, {position}, {mode!r}, {delta})")

    @precondition(_pre("forge_message"))
    @rule(**_args("forge_message"))
    @_step
    def forge_message(self, which: int) -> None:
        """Fault ``forge``: a peer re-sends one of its earlier (genuine) messages —
        a stale offer or an unsolicited response (``forge_message``)."""
        keys = self._replayable()
        item = self.drv.replayable[keys[which % len(keys)]]
        self.drv.do(forge_message, item.src, item.dst, item.message)
        self._note(f"forge_message({item.src!r}, {item.dst!r}, <{type(item.message).__name__}>)")

    # -- rules: composite drivers ---------------------------------------------------------------

    @precondition(_pre("settle"))
    @rule(**_args("settle"))
    @_step
    def settle(self, window: int, slow: int | None) -> None:
        """Fair delivery for ``window`` ms; ``slow`` picks a provider whose responses wait."""
        name = self._slow(slow)
        self.drv.settle(window, slow=name)
        self._note(f"settle({window}, slow={name!r})")

    @precondition(_pre("settle_until"))
    @rule(**_args("settle_until"))
    @_step
    def settle_until(self, until: str, slow: int | None) -> None:
        """Fair delivery until a deep state holds (:data:`spec.hunt.driver.UNTIL`), at most
        one TTL of model time: a targeted scenario step (``slow`` as in ``settle``)."""
        name = self._slow(slow)
        self.drv.settle(FAST_CONFIG.snapshot_ttl_ms, slow=name, until=until)
        self._note(f"settle_until({until!r}, slow={name!r})")

    def _slow(self, slow: int | None) -> str | None:
        if slow is None:
            return None
        up = self.drv.world.up_names()
        return up[slow % len(up)]

    @precondition(_pre("drain_to_quiescence"))
    @rule()
    @_step
    def drain_to_quiescence(self) -> None:
        """Heal, deliver fairly, and check that every session ends and all converge (L1/L2)."""
        self._note("drain_to_quiescence()")
        self._drain()

    def _drain(self) -> None:
        result = self.drv.drain()
        self._flush()
        for finding in result.findings:
            if finding.limitation is not None:
                self._limitation(finding)
                continue
            self._fail(finding)

    # -- invariants: one per safety property ------------------------------------------------------

    def _flush(self) -> None:
        """Raise the earliest finding not reported yet (safety before the drain's liveness);
        record a limitation the drain reached."""
        d = self.d
        if d is None or self.campaign.consequence is not None:
            return
        for finding in d.findings[self._reported :]:
            if finding.limitation is not None:
                self._limitation(finding)
            elif finding.id not in ("L1", "L2"):
                self._fail(finding)

    def _check(self, ident: str) -> None:
        d = self.d
        if d is None or self.campaign.consequence is not None:
            return
        for finding in d.findings[self._reported :]:
            if finding.id != ident:
                continue
            if finding.limitation is not None:
                self._limitation(finding)
            else:
                self._fail(finding)

    def _fail(self, finding: Finding) -> None:
        self._failed = True
        if SESSION.first_failure_at is None:
            SESSION.first_failure_at = time.perf_counter()
        final = _is_final() if self.final is None else self.final
        trace: str | None = None
        trace_error: str | None = None
        if final and self.d is not None:
            path = SESSION.trace_path(self.campaign.name, finding.id.replace(":", "-"))
            meta = self.trace_meta(finding)
            upto = None
            if self._consequence is not None:
                meta["consequence"] = self._consequence
                upto = int(self._consequence["trace_steps"])
            trace, trace_error = _save_trace(self.d, path, meta, upto=upto)
        SESSION.failures.append(
            RunRecord(
                self.campaign.name,
                finding,
                self.rule_steps,
                self.d.steps if self.d is not None else 0,
                list(self.program),
                trace,
                final,
                trace_error if final else None,
            )
        )
        seed = "derandomized" if SESSION.seed is None else SESSION.seed
        raise HuntFailure(
            finding,
            f"{finding.id} violated after model step {finding.step}"
            f"{'' if finding.node is None else ' at ' + finding.node}: {finding.detail}\n"
            f"campaign={self.campaign.name} profile={self.profile.name} seed={seed} "
            f"trace={trace or trace_error or '(saved on the shrunk replay)'}",
        )

    def trace_meta(self, finding: Finding) -> dict[str, Any]:
        """Return the ``meta`` of a failing run's trace header."""
        return {
            "hunt": {
                "campaign": self.campaign.name,
                "finding": finding.as_json(),
                "program": list(self.program),
            }
        }

    def _hold(self, kind: Consequence) -> None:
        """A consequence campaign's end: (probe write), hold to the horizon, judge."""
        d = self.drv
        probe: int | None = None
        if kind is Consequence.DEADLOCK:
            leader = probe_write(d)
            if leader is not None:
                probe = int(d.world.nodes[leader].node.log.last().index)
                self._note(f"client_write({leader!r}, <probe>)  # teardown")
        self._note(f"hold(+{HORIZON_MS})  # teardown")
        held_from = len(d.log)
        hold(d, d.world.now_ms + HORIZON_MS)
        verdict = judge(d, kind, probe_index=probe)
        if verdict is not None:
            # The trace keeps the program; the hold is re-run by recheck_consequence.
            self._consequence = {
                "kind": kind.value,
                "hold_ms": HORIZON_MS,
                "horizon_ms": d.world.now_ms,
                "verdict": verdict,
                "probe_index": probe,
                "trace_steps": held_from,
            }
            self._fail(Finding(f"C-{kind.value.upper()}", None, verdict, d.steps))

    def _limitation(self, finding: Finding) -> None:
        if finding in self._limitations:
            return  # already recorded (a drain's finding is seen by the invariants too)
        self._limitations.append(finding)
        final = _is_final() if self.final is None else self.final
        if SESSION.fatal_limitations:
            self._fail(finding)
        trace: str | None = None
        trace_error: str | None = None
        if self.d is not None and not any(r.finding.id == finding.id for r in SESSION.limitations):
            path = SESSION.trace_path(self.campaign.name, f"limitation-{finding.id}")
            meta = {"hunt": {"campaign": self.campaign.name, "limitation": finding.as_json()}}
            trace, trace_error = _save_trace(self.d, path, meta)
        SESSION.limitations.append(
            RunRecord(
                self.campaign.name,
                finding,
                self.rule_steps,
                self.d.steps if self.d is not None else 0,
                list(self.program),
                trace,
                final,
                trace_error,
            )
        )

    @invariant()
    def i1_snapshot_correctness(self) -> None:
        """I1: every snapshot on offer at (t, i) equals Apply(i)."""
        self._check("I1")

    @invariant()
    def i2_anchor_agreement(self) -> None:
        """I2: every chunk served for an anchor is that anchor's canonical sequence."""
        self._check("I2")

    @invariant()
    def i3_iter_range_contract(self) -> None:
        """I3: iter_range is None past the end and exact inside."""
        self._check("I3")

    @invariant()
    def i4_chunk_disjointness(self) -> None:
        """I4: in-flight and fetched ranges are disjoint and inside the gap."""
        self._check("I4")

    @invariant()
    def i5_exactly_once_prefix(self) -> None:
        """I5: accumulated is exactly the anchor's first gap_start items."""
        self._check("I5")

    @invariant()
    def i6_peer_bookkeeping(self) -> None:
        """I6: inflight ⊆ available ⊆ holders of the anchor."""
        self._check("I6")

    @invariant()
    def i7_anchor_validity(self) -> None:
        """I7: the buffer resumes right after the anchor (no finalize panic, H3)."""
        self._check("I7")

    @invariant()
    def i8_post_finalize(self) -> None:
        """I8: right after finalize the node holds Apply(anchor) and a reset log."""
        self._check("I8")

    @invariant()
    def i9_replication_equivalence(self) -> None:
        """I9: a node at committed k holds Apply(k)."""
        self._check("I9")

    @invariant()
    def i10_no_gap_no_duplicate(self) -> None:
        """I10: each committed entry is reflected exactly once (H4)."""
        self._check("I10")

    @invariant()
    def i11_monotonic_commit(self) -> None:
        """I11: committed never decreases."""
        self._check("I11")

    @invariant()
    def i12_no_apply_during_catchup(self) -> None:
        """I12: nothing is applied while a session is alive (H27)."""
        self._check("I12")

    @invariant()
    def i13_provider_hygiene(self) -> None:
        """I13: offers only for fresh foreign requests; responses answer their request."""
        self._check("I13")

    @invariant()
    def i14_anchor_term(self) -> None:
        """I14: offered anchors are committed positions with the right term."""
        self._check("I14")

    @invariant()
    def i15_position_arithmetic(self) -> None:
        """I15: a snapshot's position is the end of its apply run (H4)."""
        self._check("I15")

    @invariant()
    def i16_pruning(self) -> None:
        """I16: pruning keeps the committed entry."""
        self._check("I16")

    @invariant()
    def fresh_anchor(self) -> None:
        """FRESH: an anchor is never below the trigger position or a buffer gap (H9, H3)."""
        self._check("FRESH")

    @invariant()
    def raft_es_election_safety(self) -> None:
        """RAFT-ES: at most one leader per term."""
        self._check("RAFT-ES")

    @invariant()
    def raft_lao_leader_append_only(self) -> None:
        """RAFT-LAO: a leader never overwrites or deletes an entry of its log."""
        self._check("RAFT-LAO")

    @invariant()
    def raft_lm_log_matching(self) -> None:
        """RAFT-LM: logs with an entry of the same index and term agree up to it."""
        self._check("RAFT-LM")

    @invariant()
    def raft_lc_leader_completeness(self) -> None:
        """RAFT-LC: a new leader holds every committed entry (H29, a documented limitation)."""
        self._check("RAFT-LC")

    @invariant()
    def raft_sm_state_machine_safety(self) -> None:
        """RAFT-SM: no leader commits an entry other than the one committed at its index
        (H29, a documented limitation)."""
        self._check("RAFT-SM")

    @invariant()
    def no_panic(self) -> None:
        """PANIC: no step raises mosaik's panic (H3, H23)."""
        self._check("PANIC")

    @invariant()
    def no_refused_step(self) -> None:
        """STEP: no step refuses the state it is given."""
        self._check("STEP")

    @invariant()
    def l3_retry_armed(self) -> None:
        """L3: while no offer has come, the retry timer is armed."""
        self._check("L3")

    @invariant()
    def l5_bounded_restarts(self) -> None:
        """L5: at most one upgrade per distinct anchor offered."""
        self._check("L5")

    @invariant()
    def l2_no_dead_session(self) -> None:
        """L2: no session is left in a dead state after a poll."""
        self._check("L2")

    @invariant()
    def other_checks(self) -> None:
        """Any other id the model's checker reports (new checks are never ignored)."""
        d = self.d
        if d is None or self.campaign.consequence is not None:
            return
        for finding in d.findings[self._reported :]:
            if finding.id not in SAFETY_IDS and finding.id not in LIVENESS_IDS:
                self._fail(finding)

    @invariant()
    def e1_prompt_rerequest(self) -> None:
        """E1 (efficiency): a session that lost its last source asks again at once (H6, H7)."""
        self._check("E1")

    # -- the end of every example -------------------------------------------------------------

    def teardown(self) -> None:
        """Run the final drain (liveness) unless the example already failed."""
        d = self.d
        if d is None:
            return
        try:
            if self.campaign.consequence is not None:
                if not self._failed and not self._in_rule:
                    self._hold(self.campaign.consequence)
            elif not self._failed and not self._in_rule and d.limited is None:
                self._note("drain_to_quiescence()  # teardown")
                self._drain()
        finally:
            SESSION.model_steps += d.steps - self.counted_from
            for name, count in d.coverage.counts.items():
                SESSION.coverage[name] = SESSION.coverage.get(name, 0) + count


class SlowLinkMachine(GroupMachine):
    """The group machine with the slow-link rules (:data:`SCHEDULER_RULES`): the base of a
    campaign's machine when the campaign enables one of them (:func:`machine_class`), so
    that the other campaigns' machines keep their rule set, and Hypothesis draws their
    examples exactly as before."""

    @precondition(_pre("slow_node"))
    @rule(**_args("slow_node"))
    @_step
    def slow_node(self, who: int) -> None:
        """Every link to and from a node turns slow: its messages stay queued, in order, on
        bonds that stay up, while time passes (:meth:`Driver.hold`), until ``release``."""
        names = self.drv.world.up_names()
        name = names[who % len(names)]
        self.drv.hold(name)
        self._note(f"slow_node({name!r})")

    @precondition(_pre("slow_link"))
    @rule(**_args("slow_link"))
    @_step
    def slow_link(self, which: int) -> None:
        """One direction of one bond turns slow (:meth:`Driver.hold`), until ``release``."""
        names = self.drv.world.up_names()
        pairs = [(a, b) for a in names for b in names if a != b]
        src, dst = pairs[which % len(pairs)]
        self.drv.hold(src, dst)
        self._note(f"slow_link({src!r}, {dst!r})")

    @precondition(_pre("release"))
    @rule(**_args("release"))
    @_step
    def release(self, who: int) -> None:
        """The slow links of one node speed up: what they held is delivered in order by the
        next fair delivery (:meth:`Driver.release`)."""
        names = self.drv.held_nodes()
        name = names[who % len(names)]
        self.drv.release(name)
        self._note(f"release({name!r})")


def run_prelude(driver: Driver, prelude: tuple[str, ...]) -> None:
    """Run a campaign's prelude (:attr:`spec.hunt.campaigns.Campaign.prelude`)."""
    for step in prelude:
        verb, _, arg = step.partition(":")
        if verb == "until":
            state, _, slow = arg.partition(":")
            driver.settle(FAST_CONFIG.snapshot_ttl_ms, slow=slow or None, until=state)
        elif verb == "drain":
            driver.run_fair(
                driver.world.now_ms + driver.default_horizon_ms(),
                stop=lambda: driver.quiescence_problem() is None,
            )
        elif verb == "write":
            # One more entry: a client write at the leader, published by its next poll.
            leader = driver.leader()
            if leader is None:
                raise ValueError("prelude step 'write' needs a leader")
            items = len(driver.world.ghost.committed) + 100
            command = seed_commands(driver.setup.kind, items)[-1]
            driver.do(client_write, leader, (command,))
            driver.do(node_poll_action, leader)
        elif verb == "restart":
            driver.do(restart_empty, arg, election_timeout_ms=election_timeout(arg))
        elif verb == "leave":
            # ``leave:leader``: the current leader leaves (its bonds break).
            name = driver.leader() if arg == "leader" else arg
            if name is None:
                raise ValueError("prelude step 'leave:leader' needs a leader")
            driver.do(leave, name)
        elif verb == "rejoin":
            # A node that left joins again, empty (a writer then catches up by snapshot).
            driver.do(
                join_late,
                arg,
                writer=driver.world.nodes[arg].writer,
                election_timeout_ms=election_timeout(arg),
                redraw=REDRAW,
            )
        elif verb == "deliver":
            # The head message from one node to another, if any (the others stay queued).
            src, _, dst = arg.partition(":")
            if driver.world.queue(src, dst):
                driver.do(deliver_message, src, dst)
        elif verb == "hold":
            # A slow node, or one slow direction (Driver.hold): a delay, not a loss.
            src, _, dst = arg.partition(":")
            driver.hold(src, dst or None)
        elif verb == "release":
            driver.release(arg or None)
        elif verb == "elect":
            # The node's election timer fires now; fair delivery (slow links held) at this
            # instant until it leads or nothing more can happen without time passing.
            driver.do(start_election_action, arg)
            leads = functools.partial(lambda name: name in driver.world.leaders(), arg)
            driver.run_fair(driver.world.now_ms, stop=leads)
        elif verb == "settle":
            driver.settle(int(arg))
        else:
            raise ValueError(f"unknown prelude step {step!r}")


def _is_final() -> bool:
    try:
        return bool(current_build_context().is_final)
    except Exception:  # outside a Hypothesis test (a direct call): treat as final
        return True


def _fork_group(
    shape: GroupShape, profile: Profile, faults: frozenset[Fault], prelude: tuple[str, ...]
) -> Driver:
    key = (shape, profile, faults, prelude)
    template = _GROUPS.get(key)
    if template is None:
        template = Driver(world_setup(shape, profile, faults))
        build_group(template, shape)
        run_prelude(template, prelude)
        _GROUPS[key] = template
        if len(_GROUPS) > 256:
            _GROUPS.pop(next(iter(_GROUPS)))
    return template.fork()


_CLASSES: dict[tuple[Campaign, Profile], type[GroupMachine]] = {}


def machine_class(campaign: Campaign, profile: Profile = REFERENCE) -> type[GroupMachine]:
    """Return the machine class of ``campaign`` under ``profile`` (cached)."""
    key = (campaign, profile)
    cls = _CLASSES.get(key)
    if cls is None:
        parts = campaign.name.replace("+", "-").split("-")
        name = "".join(part.title() for part in parts) + "Machine"
        base = SlowLinkMachine if campaign.rules & SCHEDULER_RULES else GroupMachine
        cls = type(name, (base,), {"campaign": campaign, "profile": profile})
        _CLASSES[key] = cls
    return cls
