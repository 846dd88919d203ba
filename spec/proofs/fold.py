"""Snapshot = fold of the log prefix, for each of the six collections (S1, R6, I1, I10, I15).

A log of ``N`` symbolic entries (command, term) is committed in apply batches whose
boundaries are symbolic: a batch may end after any entry and must end where the term
changes (R6 splits ``commit_up_to`` into maximal runs of equal term; different commit
points split it further). One entry ``t`` is a TakeSnapshot; the serving peer takes the
snapshot at the end of ``t``'s batch (S1: after the whole batch) at position
``committed-before-batch + number of counted commands``.

Three obligations per collection:

``fold/<kind>/position`` (unbounded)
    The position of a batch of any length ``m`` is ``committed + m``: by induction over
    the batch, the count starts at 0 and every command, in every state, adds exactly
    one (DEPQ under H4: a mismatching CompareExchangeValue adds zero).
``fold/<kind>/snapshot`` (bounded, ``N <= MAX_LOG``)
    The snapshot equals the fold of ``apply`` over entries ``1..position``.
``fold/<kind>/replay`` (base bounded, step unbounded)
    Installing the snapshot and applying the entries after the position gives the same
    items as applying the whole log ``1..N``: induction over the replayed suffix, whose
    base is the ``snapshot`` obligation and whose step is "``apply`` maps equal states
    to equal states" (proved for every state and command). When the base fails, a
    bounded search finds a log on which the follower really diverges.

The serving peer's run (which is the fold of the log: ``apply_batch`` is the in-order
fold of ``apply``) and the follower's replay are independent chains of fresh states
tied by transition equalities, and the position is symbolic, so z3 must reason about
the batch structure and the commands, not recognise a shared term.

Bound. The bounded checks run every ``N`` from 1 to :data:`MAX_LOG` and stop at the
first counterexample, which is therefore of minimal length. A counterexample of length
``N`` extends to every longer log (append TakeSnapshot entries in new batches), so
"proved at ``MAX_LOG``" covers every shorter log. Longer logs add nothing: the
snapshot is the serving peer's fold up to the batch end (``apply_batch`` is the
in-order fold of ``apply``, per-entry locality), so ``snapshot == fold(1..position)``
and the replay equality (associativity of the fold) hold for every length exactly when
``position == batch end``, which the unbounded ``position`` obligation proves for every
batch length. The bounded checks confirm the encoding against that argument and find
the concrete, minimal counterexamples: DEPQ under H4 needs two uncounted mismatches
and a two-command suffix that is not idempotent, five entries in all; ``MAX_LOG = 6``
leaves one entry of slack.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import z3

from impl.profile import Profile
from spec.proofs.collections import SymCollection, SymCommand, get_encoding
from spec.proofs.core import DEFAULT_TIMEOUT_MS, Result, Verdict, as_int, solve

__all__ = [
    "MAX_LOG",
    "FoldWitness",
    "check_congruence",
    "check_position",
    "check_replay",
    "check_snapshot",
]

MAX_LOG = 6
"""Longest log of the bounded fold checks (see the module docstring for why it suffices)."""

PRETTY_BOUND = 10
"""A found counterexample is re-solved with every integer below this, when possible."""


@dataclass(frozen=True, slots=True)
class FoldWitness:
    """A concrete log on which a fold obligation fails; :mod:`spec.proofs.replay` runs it.

    Indices are 1-based log indices. ``batches`` lists each apply batch as
    ``(first, last)``; the snapshot is taken after batch ``(batch_start + 1, batch_end)``.
    """

    kind: str
    obligation: str
    entries: tuple[tuple[int, SymCommand], ...]
    """``(term, command)`` for entries ``1..N``."""
    batches: tuple[tuple[int, int], ...]
    snapshot_entry: int
    """Index of the TakeSnapshot entry that is served."""
    batch_start: int
    """Committed index before the snapshot's batch."""
    batch_end: int
    position: int
    """The snapshot position the profile computes (should be ``batch_end``)."""
    snapshot_items: tuple[Any, ...] | None
    """Items of the served snapshot (the serving peer's state after the batch)."""
    prefix_items: tuple[Any, ...] | None
    """Items of the fold of entries ``1..position``."""
    leader_items: tuple[Any, ...] | None
    """Items of the fold of the whole log (what every in-sync peer holds)."""
    follower_items: tuple[Any, ...] | None
    """Items after installing the snapshot and applying ``position+1..N``."""

    def render(self) -> str:
        """Return the counterexample as a command sequence."""
        lines = [f"{self.kind} log (index, term, command); apply batches {_spans(self.batches)}:"]
        for i, (term, cmd) in enumerate(self.entries, start=1):
            mark = "  <- served TakeSnapshot" if i == self.snapshot_entry else ""
            lines.append(f"  {i:>2}  t{term}  {cmd}{mark}")
        counted = self.position - self.batch_start
        lines.append(
            f"snapshot after batch [{self.batch_start + 1}..{self.batch_end}] at position "
            f"{self.position} (committed {self.batch_start} + {counted} counted commands; "
            f"the batch ends at {self.batch_end})"
        )
        n = len(self.entries)
        rows = [("snapshot items", self.snapshot_items)]
        if self.obligation == "snapshot":
            rows.append((f"fold of entries 1..{self.position}", self.prefix_items))
        else:
            rows.append((f"leader, fold of entries 1..{n}", self.leader_items))
            rows.append(
                (f"follower, snapshot + entries {self.position + 1}..{n}", self.follower_items)
            )
        width = max(len(label) for label, _ in rows) + 2
        lines += [f"  {(label + ':').ljust(width)}{_items(items)}" for label, items in rows]
        return "\n".join(lines)


def _ints(state: tuple[Any, ...]) -> list[Any]:
    return [x for x in state if z3.is_int(x)]


def _spans(batches: tuple[tuple[int, int], ...]) -> str:
    return " ".join(f"[{a}..{b}]" for a, b in batches)


def _items(items: tuple[Any, ...] | None) -> str:
    return "panicked (H23)" if items is None else repr(list(items))


# ---------------------------------------------------------------------------------------------
# Unbounded: the count of a batch


def check_position(kind: str, profile: Profile, *, position_offset: int = 0) -> Verdict:
    """Prove ``position == committed + |batch|`` for batches of every length (I15).

    Induction over the batch: (init) the count of the empty prefix is 0; (step) if the
    count of a prefix of length ``i`` is ``i``, any command in any state makes it
    ``i + 1``; (end) the position of a batch of ``m >= 1`` commands with count ``m`` is
    ``committed + m``. ``position_offset`` is a deliberate mutant of the position
    formula (``committed + count + offset``), for the tests.
    """
    enc = get_encoding(kind)
    s = enc.fresh("s")
    c = enc.cmds.const("c")
    i, committed, m = z3.Ints("i committed m")
    _, counted = enc.apply(s, c, profile)
    count_after = i + z3.If(counted, 1, 0)
    step = [enc.state_ok(s), enc.well_formed(c), i >= 0, count_after != i + 1]
    result, model = solve(step)
    if result is Result.COUNTEREXAMPLE:
        small = [enc.cmds.bounded(c, PRETTY_BOUND), *[x < PRETTY_BOUND for x in _ints(s)]]
        better, better_model = solve([*step, *small])
        if better is Result.COUNTEREXAMPLE:
            model = better_model
        cmd = enc.cmds.read(model, c)
        state = enc.items(model, s)
        text = (
            f"{kind}: {cmd} applied to a state with items {_items(state)} is not counted: "
            "S1's count stays where it was, so a batch containing it is served at a "
            "position one short of its end, per such command"
        )
        return Verdict(Result.COUNTEREXAMPLE, text, (cmd, state))
    if result is Result.UNKNOWN:
        return Verdict.unknown(str(model))
    end = [committed >= 0, m >= 1, committed + m + position_offset != committed + m]
    result, model = solve(end)
    if result is Result.COUNTEREXAMPLE:
        text = (
            f"{kind}: a batch of {as_int(model, m)} commands after committed index "
            f"{as_int(model, committed)} gets position "
            f"{as_int(model, committed + m + position_offset)}, not "
            f"{as_int(model, committed + m)}"
        )
        return Verdict(Result.COUNTEREXAMPLE, text, None)
    if result is Result.UNKNOWN:
        return Verdict.unknown(str(model))
    return Verdict.proved("induction over the batch: init, step, end")


# ---------------------------------------------------------------------------------------------
# Bounded: the log


@dataclass(slots=True)
class _Log:
    """The symbolic log of one bounded query and the handles needed to read a model."""

    enc: SymCollection
    n: int
    cmds: list[Any]
    terms: list[Any]
    cuts: list[Any]
    peer: list[tuple[Any, ...]]
    fold: list[tuple[Any, ...]]
    snap_entry: Any
    batch_start: Any
    batch_end: Any
    position: Any
    snapshot: tuple[Any, ...]
    constraints: list[Any]


@dataclass(frozen=True, slots=True)
class _Chain:
    """The entries of the longest log, shared by the queries of every shorter length."""

    enc: SymCollection
    cmds: list[Any]
    terms: list[Any]
    cuts: list[Any]
    fold: list[tuple[Any, ...]]
    counted: list[Any]
    entry: list[list[Any]]
    """Per entry: its domain, term and transition constraints."""


@functools.lru_cache(maxsize=32)
def _chain(kind: str, max_len: int, profile: Profile) -> _Chain:
    enc = get_encoding(kind).for_log(max_len)
    cmds = [enc.cmds.const(f"c{i}") for i in range(1, max_len + 1)]
    terms = [z3.Int(f"term{i}") for i in range(1, max_len + 1)]
    # cuts[i]: a batch ends after entry i+1 (a log's last entry always ends one).
    cuts = [z3.Bool(f"cut{i}") for i in range(1, max_len)]
    # The serving peer's state after entry i is the fold of 1..i: apply_batch is the
    # in-order fold of apply and R6 feeds the runs in log order.
    fold = [enc.initial()]
    counted: list[Any] = []
    entry: list[list[Any]] = []
    for i in range(max_len):
        cs = [enc.well_formed(cmds[i]), terms[i] >= 1]
        if i:
            cs.append(terms[i - 1] <= terms[i])
            # R6: a batch never spans two terms.
            cs.append(z3.Implies(terms[i - 1] != terms[i], cuts[i - 1]))
        after, cnt = enc.apply(fold[-1], cmds[i], profile)
        counted.append(cnt)
        state, eqs = enc.bind(f"F{i + 1}", after)
        fold.append(state)
        entry.append(cs + eqs)
    return _Chain(enc, cmds, terms, cuts, fold, counted, entry)


def _build_log(
    kind: str, n: int, profile: Profile, position_offset: int, max_len: int = MAX_LOG
) -> _Log:
    chain = _chain(kind, max(n, max_len), profile)
    enc = chain.enc
    cs: list[Any] = [c for i in range(n) for c in chain.entry[i]]
    cmds, terms, fold, counted = chain.cmds[:n], chain.terms[:n], chain.fold[: n + 1], chain.counted
    cuts: list[Any] = [*chain.cuts[: n - 1], z3.BoolVal(True)]
    peer = fold
    # Per entry: the committed index before its batch and the batch's count so far.
    count: list[Any] = []
    start: list[Any] = []
    for i in range(n):
        inc = z3.If(counted[i], 1, 0)
        if i == 0:
            count.append(inc)
            start.append(z3.IntVal(0))
        else:
            count.append(z3.If(cuts[i - 1], inc, count[-1] + inc))
            start.append(z3.If(cuts[i - 1], z3.IntVal(i), start[-1]))
    snap_entry = z3.Int("snapshot_entry")
    batch_end = z3.Int("batch_end")
    batch_start = z3.Int("batch_start")
    position = z3.Int("position")
    snapshot, _ = enc.bind("S", enc.initial())
    cs += [snap_entry >= 1, snap_entry <= n]
    for i in range(n):
        cs.append(z3.Implies(snap_entry == i + 1, enc.take_snapshot(cmds[i])))
        first_cut = z3.And(
            snap_entry <= i + 1,
            cuts[i],
            *[z3.Or(snap_entry > k + 1, z3.Not(cuts[k])) for k in range(i)],
        )
        cs.append(
            z3.Implies(
                first_cut,
                z3.And(
                    batch_end == i + 1,
                    batch_start == start[i],
                    position == start[i] + count[i] + position_offset,
                    # The snapshot is the peer's state itself (S3: an O(1) clone).
                    *[x == y for x, y in zip(snapshot, peer[i + 1], strict=True)],
                ),
            )
        )
    return _Log(
        enc,
        n,
        cmds,
        terms,
        cuts,
        peer,
        fold,
        snap_entry,
        batch_start,
        batch_end,
        position,
        snapshot,
        cs,
    )


def _goal_snapshot(log: _Log) -> list[Any]:
    enc = log.enc
    differs = [
        z3.And(log.position == k, z3.Not(enc.eq(log.snapshot, log.fold[k])))
        for k in range(log.n + 1)
    ]
    # A position outside the log cannot be folded to: that is a failure too.
    return [z3.Or(*differs, log.position < 0, log.position > log.n)]


def _replayed(log: _Log, profile: Profile) -> tuple[tuple[Any, ...], list[Any]]:
    enc = log.enc
    state = log.snapshot
    cs: list[Any] = []
    for i in range(log.n):
        after, _ = enc.apply(state, log.cmds[i], profile)
        state, eqs = enc.bind(f"R{i + 1}", enc.ite(log.position < i + 1, after, state))
        cs += eqs
    return state, cs


def _witness(
    log: _Log, model: Any, obligation: str, follower: tuple[Any, ...] | None
) -> FoldWitness:
    enc = log.enc
    n = log.n
    batches: list[tuple[int, int]] = []
    first = 1
    for i in range(n):
        if i == n - 1 or z3.is_true(model.eval(log.cuts[i], model_completion=True)):
            batches.append((first, i + 1))
            first = i + 2
    position = as_int(model, log.position)
    prefix = enc.items(model, log.fold[position]) if 0 <= position <= n else None
    return FoldWitness(
        kind=enc.kind,
        obligation=obligation,
        entries=tuple(
            (as_int(model, log.terms[i]), enc.cmds.read(model, log.cmds[i])) for i in range(n)
        ),
        batches=tuple(batches),
        snapshot_entry=as_int(model, log.snap_entry),
        batch_start=as_int(model, log.batch_start),
        batch_end=as_int(model, log.batch_end),
        position=position,
        snapshot_items=enc.items(model, log.snapshot),
        prefix_items=prefix,
        leader_items=enc.items(model, log.fold[n]),
        follower_items=follower,
    )


def _bounded(
    kind: str,
    profile: Profile,
    obligation: str,
    max_len: int,
    position_offset: int,
    timeout_ms: int,
) -> Verdict:
    for n in range(1, max_len + 1):
        log = _build_log(kind, n, profile, position_offset, max_len)
        follower_state: tuple[Any, ...] | None = None
        if obligation == "snapshot":
            goal = _goal_snapshot(log)
        else:
            follower_state, extra = _replayed(log, profile)
            goal = [*extra, z3.Not(log.enc.eq(follower_state, log.fold[n]))]
        result, model = solve([*log.constraints, *goal], timeout_ms)
        if result is Result.UNKNOWN:
            return Verdict.unknown(f"N={n}: {model}")
        if result is Result.PROVED:
            continue
        # Prefer small numbers in the rendering; fall back to the first model.
        pretty = [log.terms[0] == 1, *[t <= log.terms[0] + 2 for t in log.terms]]
        pretty += [log.enc.cmds.bounded(c, PRETTY_BOUND) for c in log.cmds]
        better, better_model = solve([*log.constraints, *goal, *pretty], timeout_ms)
        if better is Result.COUNTEREXAMPLE:
            model = better_model
        follower = None if follower_state is None else log.enc.items(model, follower_state)
        witness = _witness(log, model, obligation, follower)
        return Verdict(Result.COUNTEREXAMPLE, witness.render(), witness)
    return Verdict.proved(f"all logs of 1..{max_len} entries, all batch splits")


def check_snapshot(
    kind: str,
    profile: Profile,
    *,
    max_len: int = MAX_LOG,
    position_offset: int = 0,
    timeout_ms: int = DEFAULT_TIMEOUT_MS,
) -> Verdict:
    """Prove that the served snapshot equals the fold of entries ``1..position``."""
    return _snapshot_cached(kind, profile, max_len, position_offset, timeout_ms)


@functools.lru_cache(maxsize=64)
def _snapshot_cached(
    kind: str, profile: Profile, max_len: int, position_offset: int, timeout_ms: int
) -> Verdict:
    # The replay obligation reuses this result as its base case.
    return _bounded(kind, profile, "snapshot", max_len, position_offset, timeout_ms)


def check_congruence(kind: str, profile: Profile, *, max_len: int = MAX_LOG) -> Verdict:
    """Prove that ``apply`` maps equal states to equal states, for every command.

    With it, "the follower equals the fold after entry ``i``" carries from ``i`` to
    ``i + 1`` whatever the command: the induction step of the replay obligation, for
    suffixes of any length.
    """
    enc = get_encoding(kind).for_log(max_len)
    a, b = enc.fresh("a"), enc.fresh("b")
    c = enc.cmds.const("c")
    a2, _ = enc.apply(a, c, profile)
    b2, _ = enc.apply(b, c, profile)
    query = [
        enc.state_ok(a),
        enc.state_ok(b),
        enc.well_formed(c),
        enc.eq(a, b),
        z3.Not(enc.eq(a2, b2)),
    ]
    result, model = solve(query)
    if result is Result.COUNTEREXAMPLE:
        text = (
            f"{kind}: {enc.cmds.read(model, c)} maps the equal states "
            f"{_items(enc.items(model, a))} and {_items(enc.items(model, b))} to "
            f"{_items(enc.items(model, a2))} and {_items(enc.items(model, b2))}"
        )
        return Verdict(Result.COUNTEREXAMPLE, text, None)
    if result is Result.UNKNOWN:
        return Verdict.unknown(str(model))
    return Verdict.proved()


def check_replay(
    kind: str,
    profile: Profile,
    *,
    max_len: int = MAX_LOG,
    position_offset: int = 0,
    timeout_ms: int = DEFAULT_TIMEOUT_MS,
) -> Verdict:
    """Prove that installing the snapshot and applying ``position+1..N`` gives the items
    of the whole log's fold.

    Induction over the replayed suffix: the base is :func:`check_snapshot` (the
    installed snapshot equals the fold up to the position), the step is
    :func:`check_congruence`. When the base fails, the proof fails; a bounded search
    (``N <= max_len``) then looks for a log on which the follower really ends with
    other items than the leader, and returns it as the counterexample. If there is
    none within the bound (e.g. the skipped commands are idempotent), the result is
    *unknown*: the position is wrong but no divergence was exhibited.
    """
    step = check_congruence(kind, profile, max_len=max_len)
    if step.result is not Result.PROVED:
        return step
    base = check_snapshot(
        kind, profile, max_len=max_len, position_offset=position_offset, timeout_ms=timeout_ms
    )
    if base.result is Result.PROVED:
        return Verdict.proved(
            f"base: snapshot = fold(1..position) for logs of 1..{max_len} entries; "
            "step: apply respects equal states"
        )
    if base.result is Result.UNKNOWN:
        return base
    found = _bounded(kind, profile, "replay", max_len, position_offset, timeout_ms)
    if found.result is Result.PROVED:
        return Verdict.unknown(
            "the snapshot is not the fold up to its position, but no log of "
            f"1..{max_len} entries makes the follower diverge"
        )
    return found
