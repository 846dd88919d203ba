"""Buffer and anchor: finalize resumes the log right after the snapshot (I7, I10, I11).

The session buffers the entries of inconsistent AppendEntries (Q0, Q13) and selects an
anchor (Q1 offers, Q2 select, Q3 upgrade); finalize (Q12) installs the snapshot at the
anchor ``a``, resets the log to ``a``, sets ``committed := a`` and appends the buffered
entries with index ``> a``, asserting that they are ``a+1, a+2, …`` (session.rs:662).

Model (impl/session.py, reference rules in ``_q13`` and ``_usable``): the buffer is a
set of log indices ``buf`` with first ``e`` and last ``L``; ``p0`` is the trigger
position (the AppendEntries' ``prev`` that started the session) and ``c0 <= p0`` the
node's committed index before the session (Raft: the leader's log holds every
committed entry, and ``p0`` is the leader's last index); ``m`` is the reference's
minimum anchor; candidates are anchor indices. An AppendEntries ``(p, k)`` carries
entries ``p+1..p+k``; the leader sends its log in order and never re-sends
(inventory §0.4), so a received one starts at or after the last buffered index
(``p >= L``); ``p > L`` means the ones between were lost.

``buffer/contiguity`` (I7, I10)
    Invariant: the buffer is the contiguous range ``[e, L]`` of entries after ``p0``,
    and with an anchor selected, ``e <= a + 1`` or ``L <= a``. Consequence at finalize:
    the kept entries are exactly ``a+1..L`` — no gap (the assert holds, I7) and no
    overlap, so every index is reflected once: ``1..a`` by the snapshot and
    ``a+1..L`` by the log (I10; the snapshot is the fold up to ``a`` by ``fold/*``).
    H3 (buffer appended as it comes): a lost AppendEntries leaves a gap, finalize's
    assert panics (inventory H3 (a)).
``buffer/commit-monotonic`` (I11)
    Invariant: every candidate and the anchor are ``>= p0`` and ``>= m``. Consequence at
    finalize: ``committed := a >= p0 >= c0``, the committed index never goes back.
    H9 (offers not bound to the session): a stale offer below ``c0`` is selected and
    finalize moves ``committed`` backwards.

Both are proved by induction (initiation, consecution for Q13, Q1, Q2, Q3 — the other
steps do not touch these variables — and the finalize consequence), for unboundedly
many AppendEntries and offers. When a hazard breaks the induction, a bounded search
from Q0 over at most :data:`MAX_EVENTS` events finds a concrete run that reaches the
violation; that run is the counterexample, replayed by :mod:`spec.proofs.replay`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import z3

from impl.profile import Hazard, Profile
from spec.proofs.core import DEFAULT_TIMEOUT_MS, Result, Verdict, as_bool, as_int, solve

__all__ = ["MAX_EVENTS", "MUTANTS", "SPECS", "BufferWitness", "check_buffer"]

MAX_EVENTS = 4
"""Longest run (after Q0) the counterexample search considers: H3 (a) needs a Q13, an
offer and a selection (3), H9 an offer and a selection (2)."""

IntS = z3.IntSort()


@dataclass(frozen=True, slots=True)
class B:
    """The symbolic buffer/anchor state (see the module docstring)."""

    p0: Any
    c0: Any
    buf: Any
    ne: Any
    e: Any
    last: Any
    m: Any
    anchored: Any
    a: Any
    cand: Any


def _fresh(name: str) -> B:
    return B(
        p0=z3.Int("p0"),
        c0=z3.Int("c0"),
        buf=z3.Array(f"{name}.buffered", IntS, z3.BoolSort()),
        ne=z3.Bool(f"{name}.nonempty"),
        e=z3.Int(f"{name}.first"),
        last=z3.Int(f"{name}.last"),
        m=z3.Int(f"{name}.min_anchor"),
        anchored=z3.Bool(f"{name}.anchored"),
        a=z3.Int(f"{name}.anchor"),
        cand=z3.Array(f"{name}.candidates", IntS, z3.BoolSort()),
    )


def _run(lo: Any, hi: Any) -> Any:
    """The index set ``(lo, hi]``."""
    i = z3.Int("ri")
    return z3.Lambda([i], z3.And(lo < i, i <= hi))


def _initial(k0: Any) -> tuple[B, list[Any]]:
    """Q0: the entries ``p0+1..p0+k0`` buffered, no anchor, no candidate."""
    p0, c0 = z3.Int("p0"), z3.Int("c0")
    s = B(
        p0=p0,
        c0=c0,
        buf=_run(p0, p0 + k0),
        ne=k0 > 0,
        e=p0 + 1,
        last=p0 + k0,
        m=z3.IntVal(0),
        anchored=z3.BoolVal(False),
        a=z3.IntVal(0),
        cand=z3.K(IntS, z3.BoolVal(False)),
    )
    # c0 < p0: a node that committed p0 holds the leader's entry there, so an
    # AppendEntries with prev p0 would be consistent and start no session.
    return s, [p0 >= 1, k0 >= 0, c0 >= 0, c0 < p0]


def _max(x: Any, y: Any) -> Any:
    return z3.If(x > y, x, y)


# ---------------------------------------------------------------------------------------------
# Steps


MUTANTS = ("gap_keeps_anchor", "offer_floor_minus_two")
"""Deliberately broken rules, for the tests: each must make an obligation fail."""


def _q13(s: B, profile: Profile, p: Any, k: Any, mutant: str | None = None) -> tuple[B, Any]:
    """Q13 ``buffer(prev=p, k entries)`` (impl.session ``_q13``)."""
    guard = z3.And(k >= 1, z3.If(s.ne, p >= s.last, p >= s.p0))
    new_run = _run(p, p + k)
    if profile.has(Hazard.H3):
        i = z3.Int("bi")
        post = replace(
            s,
            buf=z3.Lambda([i], z3.Or(s.buf[i], new_run[i])),
            e=z3.If(s.ne, s.e, p + 1),
            last=p + k,
            ne=z3.BoolVal(True),
        )
        return post, guard
    extend = z3.And(s.ne, p == s.last)
    gap = z3.If(s.ne, p > s.last, z3.And(s.anchored, p > s.a))
    m2 = z3.If(gap, _max(s.m, p), s.m)
    c = z3.Int("ci")
    i = z3.Int("bi")
    post = B(
        p0=s.p0,
        c0=s.c0,
        buf=z3.If(extend, z3.Lambda([i], z3.Or(s.buf[i], new_run[i])), new_run),
        ne=z3.BoolVal(True),
        e=z3.If(extend, s.e, p + 1),
        last=p + k,
        m=m2,
        anchored=z3.And(
            s.anchored,
            z3.Not(z3.And(gap, s.a < m2, z3.BoolVal(mutant != "gap_keeps_anchor"))),
        ),
        a=s.a,
        cand=z3.If(gap, z3.Lambda([c], z3.And(s.cand[c], c >= m2)), s.cand),
    )
    return post, guard


def _q1(s: B, profile: Profile, c: Any, mutant: str | None = None) -> tuple[B, Any]:
    """Q1 ``on_snapshot_offer(anchor c)``: reference ignores ``c < max(p0, m)`` (H9 fix)."""
    floor = _max(s.p0, s.m) - (2 if mutant == "offer_floor_minus_two" else 0)
    accept = z3.BoolVal(True) if profile.has(Hazard.H9) else c >= floor
    post = replace(s, cand=z3.If(accept, z3.Store(s.cand, c, True), s.cand))
    return post, c >= 0


def _usable(s: B, profile: Profile, c: Any) -> Any:
    rule = z3.Or(z3.Not(s.ne), c >= s.e)  # mosaik: no buffered entry precedes it
    if not profile.has(Hazard.H3):
        rule = z3.And(rule, c >= s.m)  # reference: not below a gap
    return z3.And(s.cand[c], rule)


def _q2(s: B, profile: Profile, c: Any) -> tuple[B, Any]:
    """Q2 ``try_select_anchor`` picking candidate ``c``."""
    post = replace(s, anchored=z3.BoolVal(True), a=c)
    return post, z3.And(z3.Not(s.anchored), _usable(s, profile, c))


def _q3(s: B, profile: Profile, c: Any) -> tuple[B, Any]:
    """Q3 ``try_upgrade_anchor`` to candidate ``c``."""
    post = replace(s, a=c)
    return post, z3.And(s.anchored, c > s.a, _usable(s, profile, c))


# ---------------------------------------------------------------------------------------------
# Invariants and the finalize consequences


Body = Callable[[B], Any]


def _contiguous(s: B) -> Any:
    i = z3.Int("inv_i")
    return z3.And(
        z3.Implies(s.ne, z3.And(s.p0 + 1 <= s.e, s.e <= s.last)),
        z3.ForAll([i], s.buf[i] == z3.And(s.ne, s.e <= i, i <= s.last)),
    )


def _resumes(s: B) -> Any:
    return z3.Implies(z3.And(s.anchored, s.ne), z3.Or(s.e <= s.a + 1, s.last <= s.a))


def _fresh_cands(s: B) -> Any:
    c = z3.Int("inv_c")
    return z3.And(
        z3.ForAll([c], z3.Implies(s.cand[c], z3.And(c >= s.p0, c >= s.m))),
        z3.Implies(s.anchored, z3.And(s.a >= s.p0, s.a >= s.m)),
    )


@dataclass(frozen=True, slots=True)
class _Spec:
    name: str
    hazards: frozenset[Hazard]
    invariants: tuple[tuple[str, Body], ...]
    consequence_text: str
    bad: Callable[[B, Any], Any]
    """``bad(state, i)``: the finalize property fails (``i`` a free index)."""


SPECS: dict[str, _Spec] = {
    "contiguity": _Spec(
        "contiguity",
        frozenset({Hazard.H3}),
        (
            ("the buffer is the contiguous range [first, last] after the trigger", _contiguous),
            ("with an anchor, the buffer resumes at or before anchor+1", _resumes),
        ),
        "the kept entries are exactly anchor+1..last (I7), each index reflected once (I10)",
        lambda s, i: z3.And(s.anchored, s.ne, s.a < i, i <= s.last, z3.Not(s.buf[i])),
    ),
    "commit-monotonic": _Spec(
        "commit-monotonic",
        frozenset({Hazard.H9}),
        (("candidates and the anchor are >= the trigger and the minimum anchor", _fresh_cands),),
        "finalize sets committed to the anchor >= the committed index before (I11)",
        lambda s, i: z3.And(s.anchored, s.a < s.c0),
    ),
}


# ---------------------------------------------------------------------------------------------
# Counterexamples: a run from Q0


@dataclass(frozen=True, slots=True)
class BufferWitness:
    """A run from Q0 that ends in a finalize violating I7/I10 or I11.

    ``events`` are ``(step, args)``: ``("buffer", (prev, count))``,
    ``("on_snapshot_offer", (anchor,))``, ``("try_select_anchor", (anchor,))``,
    ``("try_upgrade_anchor", (anchor,))``. Every anchor is in term 1.
    """

    obligation: str
    trigger: int
    initial_entries: int
    committed_before: int
    events: tuple[tuple[str, tuple[int, ...]], ...]
    anchor: int
    buffered: tuple[int, ...]
    kept: tuple[int, ...]

    def render(self) -> str:
        """Return the run and what finalize does with it."""
        first = self.trigger + 1
        entries = (
            f"entries {first}..{self.trigger + self.initial_entries}"
            if self.initial_entries
            else "no entries"
        )
        lines = [
            f"node committed {self.committed_before}; Q0 session_new(prev index "
            f"{self.trigger}, {entries})"
        ]
        for step, args in self.events:
            if step == "buffer":
                prev, count = args
                lines.append(f"Q13 buffer(prev index {prev}, entries {prev + 1}..{prev + count})")
            elif step == "on_snapshot_offer":
                lines.append(f"Q1  on_snapshot_offer(anchor index {args[0]})")
            elif step == "try_select_anchor":
                lines.append(f"Q2  try_select_anchor -> anchor {args[0]}")
            else:
                lines.append(f"Q3  try_upgrade_anchor -> anchor {args[0]}")
        kept = ", ".join(map(str, self.kept)) or "none"
        if self.obligation == "contiguity":
            expected = self.anchor + 1
            for index in self.kept:
                if index != expected:
                    break
                expected += 1
            found = "nothing" if len(self.kept) < expected - self.anchor else f"{index}"
            lines.append(
                f"Q12 finalize_sync at anchor {self.anchor}: buffered {list(self.buffered)}, "
                f"kept [{kept}]; {found} stands where {expected} belongs: the assert at "
                "session.rs:662 panics"
            )
        else:
            lines.append(
                f"Q12 finalize_sync at anchor {self.anchor}: committed goes from "
                f"{self.committed_before} back to {self.anchor}"
            )
        return "\n".join(lines)


_KINDS = ("buffer", "on_snapshot_offer", "try_select_anchor", "try_upgrade_anchor")


def _search(
    spec: _Spec, profile: Profile, timeout_ms: int, mutant: str | None
) -> BufferWitness | None:
    for depth in range(1, MAX_EVENTS + 1):
        k0 = z3.Int("k0")
        state, cs = _initial(k0)
        kinds, args = [], []
        for d in range(depth):
            kind, p, k, c = z3.Ints(f"ev{d}.kind ev{d}.prev ev{d}.count ev{d}.anchor")
            options = [
                _q13(state, profile, p, k, mutant),
                _q1(state, profile, c, mutant),
                _q2(state, profile, c),
                _q3(state, profile, c),
            ]
            cs += [kind >= 0, kind < len(options)]
            nxt = options[-1][0]
            for j in range(len(options) - 2, -1, -1):
                nxt = _ite_state(kind == j, options[j][0], nxt)
            cs.append(z3.Or(*[z3.And(kind == j, g) for j, (_, g) in enumerate(options)]))
            kinds.append(kind)
            args.append((p, k, c))
            state = nxt
        i = z3.Int("bad_i")
        bad = spec.bad(state, i)
        result, model = solve([*cs, bad], timeout_ms)
        if result is not Result.COUNTEREXAMPLE:
            continue
        numbers = (state.p0, k0, *[v for t in args for v in t])
        small = [state.p0 >= 2, state.c0 >= 1, *[x <= 9 for x in numbers]]
        for tier in (
            # H3 (a)'s shape: the kept entries start right, a lost AppendEntries later.
            [k0 >= 2, state.buf[state.a + 1], *small],
            small,
            [x <= 20 for x in numbers],
        ):
            better, better_model = solve([*cs, bad, *tier], timeout_ms)
            if better is Result.COUNTEREXAMPLE:
                model = better_model
                break
        events = []
        for kind, (p, k, c) in zip(kinds, args, strict=True):
            name = _KINDS[as_int(model, kind)]
            vals = (as_int(model, p), as_int(model, k)) if name == "buffer" else (as_int(model, c),)
            events.append((name, vals))
        p0, last, anchor = (
            as_int(model, state.p0),
            as_int(model, state.last),
            as_int(model, state.a),
        )
        buffered = tuple(j for j in range(p0 + 1, last + 1) if as_bool(model, state.buf[j]))
        return BufferWitness(
            obligation=spec.name,
            trigger=p0,
            initial_entries=as_int(model, k0),
            committed_before=as_int(model, state.c0),
            events=tuple(events),
            anchor=anchor,
            buffered=buffered,
            kept=tuple(j for j in buffered if j > anchor),
        )
    return None


def _ite_state(cond: Any, x: B, y: B) -> B:
    return B(*[z3.If(cond, a, b) for a, b in zip(_fields(x), _fields(y), strict=True)])


def _fields(s: B) -> tuple[Any, ...]:
    return (s.p0, s.c0, s.buf, s.ne, s.e, s.last, s.m, s.anchored, s.a, s.cand)


# ---------------------------------------------------------------------------------------------
# The obligation


def _induction(
    spec: _Spec, profile: Profile, timeout_ms: int, mutant: str | None
) -> tuple[Result, str]:
    """Return (PROVED, "") or the first failing part of the induction as text."""
    k0 = z3.Int("k0")
    init, background = _initial(k0)
    for text, body in spec.invariants:
        result, _ = solve([*background, z3.Not(body(init))], timeout_ms)
        if result is not Result.PROVED:
            return result, f"initiation of '{text}'"
    pre = _fresh("pre")
    hyp = [pre.c0 >= 0, pre.c0 < pre.p0] + [body(pre) for _, body in spec.invariants]
    p, k, c = z3.Ints("step.prev step.count step.anchor")
    steps = {
        "buffer": _q13(pre, profile, p, k, mutant),
        "on_snapshot_offer": _q1(pre, profile, c, mutant),
        "try_select_anchor": _q2(pre, profile, c),
        "try_upgrade_anchor": _q3(pre, profile, c),
    }
    for step, (post, guard) in steps.items():
        enabled, _ = solve([*hyp, guard], timeout_ms)
        if enabled is not Result.COUNTEREXAMPLE:
            return Result.UNKNOWN, f"vacuous: {step} is never enabled"
        for text, body in spec.invariants:
            result, _ = solve([*hyp, guard, z3.Not(body(post))], timeout_ms)
            if result is not Result.PROVED:
                return result, f"'{text}' is not preserved by {step}"
    i = z3.Int("fin_i")
    result, _ = solve([*hyp, spec.bad(pre, i)], timeout_ms)
    if result is not Result.PROVED:
        return result, f"the invariant does not imply: {spec.consequence_text}"
    return Result.PROVED, ""


def check_buffer(
    obligation: str,
    profile: Profile,
    *,
    mutant: str | None = None,
    timeout_ms: int = DEFAULT_TIMEOUT_MS,
) -> Verdict:
    """Check ``buffer/<obligation>`` (``contiguity`` or ``commit-monotonic``).

    ``mutant`` names a deliberately broken rule (:data:`MUTANTS`), for the tests.
    """
    spec = SPECS[obligation]
    result, failure = _induction(spec, profile, timeout_ms, mutant)
    if result is Result.PROVED:
        return Verdict.proved(f"induction: {spec.consequence_text}")
    witness = _search(spec, profile, timeout_ms, mutant)
    if witness is not None:
        return Verdict(Result.COUNTEREXAMPLE, f"[{failure}]\n{witness.render()}", witness)
    why = "z3 could not decide it" if result is Result.UNKNOWN else "no run of the bound reaches it"
    return Verdict.unknown(f"{failure}; {why} (runs of <= {MAX_EVENTS} events)")
