"""Inductive invariants of the catch-up session, mypyvy style (I4, I5, I6).

The session state (impl/session.py ``SessionState``) is encoded over an uninterpreted
sort of peers and integer item positions:

* ``anchored``, ``anchor`` (its index), ``snapshot_len`` (n), ``gap_start`` (g), ``B``;
* ``available[p]``, ``inflight[p]`` with ``inflight_start[p]``, ``inflight_end[p]`` —
  one request per peer by construction (a map keyed by peer, as in impl and mosaik);
* ``fetched[s]`` with ``fetched_end[s]`` — keyed by start, as mosaik's BTreeMap;
* ``known[a]``, ``offered_len[a]``, ``holders[a][p]`` — the anchor candidates;
* ``accumulated`` abstracted soundly by its length ``acc_len`` and a flag ``acc_ok``,
  "accumulated is the anchor snapshot's items ``[0, acc_len)``". The drain appends the
  chunk at ``[g, e)``, the provider's items of that range (I3), so ``acc_ok`` stays true
  iff the chunk starts at ``acc_len`` and ends inside the snapshot; that this really
  keeps the sequence a prefix is proved on z3 sequences by ``chunk/drain``.

The invariants are universally quantified clauses (I4: ranges non-empty, inside
``[gap_start, snapshot_len)``, pairwise disjoint, none without an anchor; I5:
``acc_ok ∧ acc_len = gap_start ∧ 0 <= gap_start <= snapshot_len``, offered lengths are
u64s; I6: ``inflight ⊆ available ⊆ holders[anchor]`` and the anchor is a known
candidate). For every invariant ``I``: *initiation* (Q0's state satisfies ``I``) and,
for every step ``T``, *consecution* (``I4 ∧ I5 ∧ I6 ∧ T ⇒ I'``). A failure names the
invariant, the step and the violated clause, and prints the pre-state restricted to
the peers and positions involved (a sub-state of a state satisfying universally
quantified invariants satisfies them too, so it is a genuine counterexample to
induction that :mod:`spec.proofs.replay` rebuilds in the impl).

Steps, one loop iteration each where the impl loops (soundly: if every iteration
preserves the invariant, the loop does): Q1 ``on_snapshot_offer`` (its candidate
bookkeeping; the Q2/Q3 it then runs are their own steps), Q2 ``try_select_anchor``,
Q3 ``try_upgrade_anchor``, Q4 ``on_fetch_data_response`` (acceptance per H1/H10 as
impl.session ``_check_response``), Q6 ``poll_terminations`` (one peer), Q7
``poll_snapshot_request_timeout`` (timers only), Q8 ``drain_fetched_items`` (one
chunk), Q9 ``poll_timeouts`` (one peer), Q11 ``schedule_fetches`` (one chunk, at any
position no range covers — the walk's result, ``chunk/walk`` — with the reference's
clipping unless H2), Q13 ``buffer`` (reference: may raise the minimum anchor, forget
lower candidates and drop a lower anchor with its progress; H3: the buffer only).
Which candidate Q2/Q3 pick is left open (any known one, any higher one): the selection
rule restricts it further, so the proof covers it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import z3

from impl.profile import Hazard, Profile
from spec.proofs.core import DEFAULT_TIMEOUT_MS, Result, Verdict, as_bool, as_int, solve

__all__ = [
    "INVARIANTS",
    "MUTANTS",
    "STEPS",
    "InductiveWitness",
    "PeerFacts",
    "SessionFacts",
    "check_consecution",
    "check_initiation",
]

Peer = z3.DeclareSort("proofs.Peer")
IntS = z3.IntSort()
MUTANTS = ("terminations_keep_inflight", "drain_without_append", "upgrade_keeps_fetched")
"""Deliberately broken steps, for the tests: each must make an invariant fail."""


@dataclass(frozen=True, slots=True)
class S:
    """A symbolic session state (see the module docstring)."""

    anchored: Any
    anchor: Any
    n: Any
    g: Any
    batch: Any
    avail: Any
    infl: Any
    infl_s: Any
    infl_e: Any
    fet: Any
    fet_e: Any
    known: Any
    off_len: Any
    holders: Any
    acc_len: Any
    acc_ok: Any


def _fresh(name: str) -> S:
    return S(
        anchored=z3.Bool(f"{name}.anchored"),
        anchor=z3.Int(f"{name}.anchor"),
        n=z3.Int(f"{name}.snapshot_len"),
        g=z3.Int(f"{name}.gap_start"),
        batch=z3.Int("B"),
        avail=z3.Array(f"{name}.available", Peer, z3.BoolSort()),
        infl=z3.Array(f"{name}.inflight", Peer, z3.BoolSort()),
        infl_s=z3.Array(f"{name}.inflight_start", Peer, IntS),
        infl_e=z3.Array(f"{name}.inflight_end", Peer, IntS),
        fet=z3.Array(f"{name}.fetched", IntS, z3.BoolSort()),
        fet_e=z3.Array(f"{name}.fetched_end", IntS, IntS),
        known=z3.Array(f"{name}.known", IntS, z3.BoolSort()),
        off_len=z3.Array(f"{name}.offered_len", IntS, IntS),
        holders=z3.Array(f"{name}.holders", IntS, z3.ArraySort(Peer, z3.BoolSort())),
        acc_len=z3.Int(f"{name}.acc_len"),
        acc_ok=z3.Bool(f"{name}.acc_ok"),
    )


def _initial() -> S:
    """Q0's state: no anchor, nothing offered, assigned or accumulated."""
    no_peer = z3.K(Peer, z3.BoolVal(False))
    return S(
        anchored=z3.BoolVal(False),
        anchor=z3.IntVal(0),
        n=z3.IntVal(0),
        g=z3.IntVal(0),
        batch=z3.Int("B"),
        avail=no_peer,
        infl=no_peer,
        infl_s=z3.K(Peer, z3.IntVal(0)),
        infl_e=z3.K(Peer, z3.IntVal(0)),
        fet=z3.K(IntS, z3.BoolVal(False)),
        fet_e=z3.K(IntS, z3.IntVal(0)),
        known=z3.K(IntS, z3.BoolVal(False)),
        off_len=z3.K(IntS, z3.IntVal(0)),
        holders=z3.K(IntS, no_peer),
        acc_len=z3.IntVal(0),
        acc_ok=z3.BoolVal(True),
    )


# ---------------------------------------------------------------------------------------------
# Invariants: named clauses, each universally quantified over its variables


@dataclass(frozen=True, slots=True)
class Clause:
    """One conjunct of an invariant: ``∀ vars. body(state, *vars)``."""

    text: str
    sorts: tuple[str, ...]
    """``"peer"`` or ``"pos"`` (an item position / fetched start / anchor index) per variable."""
    body: Callable[..., Any]


def _disjoint(s1: Any, e1: Any, s2: Any, e2: Any) -> Any:
    return z3.Or(e1 <= s2, e2 <= s1)


INVARIANTS: dict[str, tuple[Clause, ...]] = {
    "I4": (
        Clause(
            "nothing is in flight or fetched without an anchor",
            ("peer", "pos"),
            lambda s, p, x: z3.Implies(
                z3.Not(s.anchored), z3.And(z3.Not(s.infl[p]), z3.Not(s.fet[x]))
            ),
        ),
        Clause(
            "every in-flight range is non-empty and inside [gap_start, snapshot_len)",
            ("peer",),
            lambda s, p: z3.Implies(
                s.infl[p], z3.And(s.g <= s.infl_s[p], s.infl_s[p] < s.infl_e[p], s.infl_e[p] <= s.n)
            ),
        ),
        Clause(
            "every fetched range is non-empty and inside [gap_start, snapshot_len)",
            ("pos",),
            lambda s, x: z3.Implies(s.fet[x], z3.And(s.g <= x, x < s.fet_e[x], s.fet_e[x] <= s.n)),
        ),
        Clause(
            "in-flight ranges are pairwise disjoint",
            ("peer", "peer"),
            lambda s, p, q: z3.Implies(
                z3.And(p != q, s.infl[p], s.infl[q]),
                _disjoint(s.infl_s[p], s.infl_e[p], s.infl_s[q], s.infl_e[q]),
            ),
        ),
        Clause(
            "in-flight and fetched ranges are disjoint",
            ("peer", "pos"),
            lambda s, p, x: z3.Implies(
                z3.And(s.infl[p], s.fet[x]), _disjoint(s.infl_s[p], s.infl_e[p], x, s.fet_e[x])
            ),
        ),
        Clause(
            "fetched ranges are pairwise disjoint",
            ("pos", "pos"),
            lambda s, x, y: z3.Implies(
                z3.And(x != y, s.fet[x], s.fet[y]), _disjoint(x, s.fet_e[x], y, s.fet_e[y])
            ),
        ),
    ),
    "I5": (
        Clause(
            "accumulated is the anchor snapshot's prefix [0, gap_start)",
            (),
            lambda s: z3.And(s.acc_ok, s.acc_len == s.g),
        ),
        Clause(
            "0 <= gap_start <= snapshot_len, and gap_start = 0 without an anchor",
            (),
            lambda s: z3.And(s.g >= 0, s.g <= s.n, z3.Implies(z3.Not(s.anchored), s.g == 0)),
        ),
        Clause(
            "every offered snapshot length is a u64",
            ("pos",),
            lambda s, a: z3.Implies(s.known[a], s.off_len[a] >= 0),
        ),
        Clause(
            "snapshot_len is the item count first offered for the selected anchor",
            (),
            lambda s: z3.Implies(s.anchored, s.n == s.off_len[s.anchor]),
        ),
    ),
    "I6": (
        Clause(
            "a peer with a request in flight is available",
            ("peer",),
            lambda s, p: z3.Implies(s.infl[p], s.avail[p]),
        ),
        Clause(
            "an available peer offered the selected anchor",
            ("peer",),
            lambda s, p: z3.Implies(s.avail[p], z3.And(s.anchored, s.holders[s.anchor][p])),
        ),
        Clause(
            "the selected anchor is a known candidate",
            (),
            lambda s: z3.Implies(s.anchored, s.known[s.anchor]),
        ),
    ),
}
"""The session invariants of the inventory (§4.1) as clause lists."""


def _var(sort: str, name: str) -> Any:
    return z3.Const(name, Peer) if sort == "peer" else z3.Int(name)


def _holds(s: S, clause: Clause, tag: str) -> Any:
    if not clause.sorts:
        return clause.body(s)
    xs = [_var(sort, f"{tag}{i}") for i, sort in enumerate(clause.sorts)]
    return z3.ForAll(xs, clause.body(s, *xs))


def _all_invariants(s: S) -> list[Any]:
    out = [s.batch >= 1]
    for name, clauses in INVARIANTS.items():
        for i, clause in enumerate(clauses):
            out.append(_holds(s, clause, f"{name}.{i}."))
    return out


# ---------------------------------------------------------------------------------------------
# Steps


@dataclass(frozen=True, slots=True)
class Step:
    """One session step: its inventory id, the peers/positions it names and its relation."""

    name: str
    qid: str
    hazards: frozenset[Hazard]
    build: Callable[[S, Profile, str | None], tuple[S, list[Any], dict[str, Any]]]


def _lam_peer(f: Callable[[Any], Any]) -> Any:
    p = z3.Const("lp", Peer)
    return z3.Lambda([p], f(p))


def _lam_int(f: Callable[[Any], Any]) -> Any:
    x = z3.Int("lx")
    return z3.Lambda([x], f(x))


def _q1(s: S, profile: Profile, mutant: str | None) -> tuple[S, list[Any], dict[str, Any]]:
    p, a, length = z3.Const("offer.peer", Peer), z3.Int("offer.anchor"), z3.Int("offer.len")
    post = replace(
        s,
        known=z3.Store(s.known, a, True),
        off_len=z3.If(s.known[a], s.off_len, z3.Store(s.off_len, a, length)),
        holders=z3.Store(s.holders, a, z3.Store(s.holders[a], p, True)),
        avail=z3.If(z3.And(s.anchored, s.anchor == a), z3.Store(s.avail, p, True), s.avail),
    )
    return post, [length >= 0, a >= 0], {"peer": p, "anchor": a, "items_count": length}


def _q2(s: S, profile: Profile, mutant: str | None) -> tuple[S, list[Any], dict[str, Any]]:
    a = z3.Int("select.anchor")
    post = replace(
        s,
        anchored=z3.BoolVal(True),
        anchor=a,
        n=s.off_len[a],
        g=z3.IntVal(0),
        avail=_lam_peer(lambda p: z3.Or(s.avail[p], s.holders[a][p])),
    )
    return post, [z3.Not(s.anchored), s.known[a]], {"anchor": a}


def _q3(s: S, profile: Profile, mutant: str | None) -> tuple[S, list[Any], dict[str, Any]]:
    a = z3.Int("upgrade.anchor")
    post = replace(
        s,
        anchor=a,
        n=s.off_len[a],
        g=z3.IntVal(0),
        infl=z3.K(Peer, z3.BoolVal(False)),
        fet=s.fet if mutant == "upgrade_keeps_fetched" else z3.K(IntS, z3.BoolVal(False)),
        acc_len=z3.IntVal(0),
        acc_ok=z3.BoolVal(True),
        avail=s.holders[a],
    )
    return post, [s.anchored, s.known[a], a > s.anchor], {"anchor": a}


def _q4(s: S, profile: Profile, mutant: str | None) -> tuple[S, list[Any], dict[str, Any]]:
    p, off, k = z3.Const("resp.peer", Peer), z3.Int("resp.offset"), z3.Int("resp.count")
    asked = z3.And(s.infl[p], s.infl_s[p] == off)
    guard = [s.anchored, off >= 0, k >= 0]
    if not profile.has(Hazard.H1):
        guard.append(asked)  # impl.session._check_response: solicited, matching offset
    if not profile.has(Hazard.H10):
        rest = z3.If(s.n > off, s.n - off, 0)
        limit = z3.If(asked, s.infl_e[p] - s.infl_s[p], z3.If(s.batch < rest, s.batch, rest))
        guard += [k >= 1, k <= limit]
    post = replace(
        s,
        infl=z3.Store(s.infl, p, False),
        fet=z3.Store(s.fet, off, True),
        fet_e=z3.Store(s.fet_e, off, off + k),
    )
    return post, guard, {"peer": p, "offset": off, "count": k}


def _q6(s: S, profile: Profile, mutant: str | None) -> tuple[S, list[Any], dict[str, Any]]:
    p = z3.Const("terminated.peer", Peer)
    infl = s.infl if mutant == "terminations_keep_inflight" else z3.Store(s.infl, p, False)
    post = replace(
        s,
        avail=z3.Store(s.avail, p, False),
        infl=infl,
        holders=_lam_int(lambda a: z3.Store(s.holders[a], p, False)),
    )
    return post, [], {"peer": p}


def _q7(s: S, profile: Profile, mutant: str | None) -> tuple[S, list[Any], dict[str, Any]]:
    return s, [], {}  # timers and RequestSnapshot only


def _q8(s: S, profile: Profile, mutant: str | None) -> tuple[S, list[Any], dict[str, Any]]:
    x = z3.Int("q8.any")
    end = s.fet_e[s.g]
    # The loop pops the smallest fetched start while it equals the cursor.
    guard = [s.anchored, s.fet[s.g], z3.ForAll([x], z3.Implies(s.fet[x], x >= s.g))]
    grow = 0 if mutant == "drain_without_append" else end - s.g
    post = replace(
        s,
        fet=z3.Store(s.fet, s.g, False),
        g=end,
        acc_len=s.acc_len + grow,
        acc_ok=z3.And(s.acc_ok, s.acc_len == s.g, end <= s.n),
    )
    return post, guard, {"chunk_start": s.g, "chunk_end": end}


def _q9(s: S, profile: Profile, mutant: str | None) -> tuple[S, list[Any], dict[str, Any]]:
    p = z3.Const("expired.peer", Peer)
    post = replace(s, infl=z3.Store(s.infl, p, False), avail=z3.Store(s.avail, p, False))
    return post, [s.infl[p]], {"peer": p}


def _q11(s: S, profile: Profile, mutant: str | None) -> tuple[S, list[Any], dict[str, Any]]:
    p, c, e = z3.Const("idle.peer", Peer), z3.Int("chunk.start"), z3.Int("chunk.end")
    q, x = z3.Const("q11.q", Peer), z3.Int("q11.x")
    guard = [
        s.anchored,
        s.g < s.n,
        s.avail[p],
        z3.Not(s.infl[p]),
        s.g <= c,
        c < s.n,
        # The cursor is a position no assigned range covers (chunk/walk).
        z3.ForAll([q], z3.Implies(s.infl[q], z3.Not(z3.And(s.infl_s[q] <= c, c < s.infl_e[q])))),
        z3.ForAll([x], z3.Implies(s.fet[x], z3.Not(z3.And(x <= c, c < s.fet_e[x])))),
    ]
    cap = z3.If(c + s.batch < s.n, c + s.batch, s.n)
    if profile.has(Hazard.H2):
        guard.append(e == cap)
    else:
        # min(cap, every assigned start after the cursor)
        guard += [
            e > c,
            e <= cap,
            z3.ForAll([q], z3.Implies(z3.And(s.infl[q], s.infl_s[q] > c), e <= s.infl_s[q])),
            z3.ForAll([x], z3.Implies(z3.And(s.fet[x], x > c), e <= x)),
        ]
    post = replace(
        s,
        infl=z3.Store(s.infl, p, True),
        infl_s=z3.Store(s.infl_s, p, c),
        infl_e=z3.Store(s.infl_e, p, e),
    )
    return post, guard, {"peer": p, "chunk_start": c, "chunk_end": e}


def _q13(s: S, profile: Profile, mutant: str | None) -> tuple[S, list[Any], dict[str, Any]]:
    if profile.has(Hazard.H3):
        return s, [], {}  # H3: the entries are appended, nothing else changes
    m, gap = z3.Int("buffer.min_anchor"), z3.Bool("buffer.gap")
    known = z3.If(gap, _lam_int(lambda a: z3.And(s.known[a], a >= m)), s.known)
    drop = z3.And(gap, s.anchored, s.anchor < m)
    none = z3.K(Peer, z3.BoolVal(False))
    post = replace(
        s,
        known=known,
        anchored=z3.And(s.anchored, z3.Not(drop)),
        n=z3.If(drop, 0, s.n),
        g=z3.If(drop, 0, s.g),
        infl=z3.If(drop, none, s.infl),
        fet=z3.If(drop, z3.K(IntS, z3.BoolVal(False)), s.fet),
        avail=z3.If(drop, none, s.avail),
        acc_len=z3.If(drop, 0, s.acc_len),
        acc_ok=z3.Or(drop, s.acc_ok),
    )
    return post, [], {"gap": gap, "min_anchor": m}


STEPS: tuple[Step, ...] = (
    Step("on_snapshot_offer", "Q1", frozenset(), _q1),
    Step("try_select_anchor", "Q2", frozenset(), _q2),
    Step("try_upgrade_anchor", "Q3", frozenset(), _q3),
    Step("on_fetch_data_response", "Q4", frozenset({Hazard.H1, Hazard.H10}), _q4),
    Step("poll_terminations", "Q6", frozenset(), _q6),
    Step("poll_snapshot_request_timeout", "Q7", frozenset(), _q7),
    Step("drain_fetched_items", "Q8", frozenset(), _q8),
    Step("poll_timeouts", "Q9", frozenset(), _q9),
    Step("schedule_fetches", "Q11", frozenset({Hazard.H2}), _q11),
    Step("buffer", "Q13", frozenset(), _q13),
)
"""The session steps of the consecution checks, in inventory order."""


def step_hazards(invariant: str, step: str) -> frozenset[Hazard]:
    """Return the switches under which ``invariant`` is not preserved by ``step``."""
    if invariant != "I4":
        return frozenset()
    return next(s.hazards for s in STEPS if s.name == step)


# ---------------------------------------------------------------------------------------------
# Counterexamples


@dataclass(frozen=True, slots=True)
class PeerFacts:
    """What a counterexample says about one peer."""

    label: str
    available: bool
    holds_anchor: bool
    inflight: tuple[int, int] | None


@dataclass(frozen=True, slots=True)
class SessionFacts:
    """The part of a symbolic session state a counterexample is about."""

    anchored: bool
    anchor: int
    snapshot_len: int
    gap_start: int
    batch: int
    acc_len: int
    acc_ok: bool
    peers: tuple[PeerFacts, ...]
    fetched: tuple[tuple[int, int], ...]
    candidates: tuple[tuple[int, int, tuple[str, ...]], ...]
    """``(anchor index, offered length, holders)`` for the anchors involved."""

    def render(self) -> str:
        """Return a one-paragraph description."""
        if self.anchored:
            head = (
                f"anchor {self.anchor}, snapshot_len {self.snapshot_len}, gap_start "
                f"{self.gap_start}, B {self.batch}, accumulated {self.acc_len} items"
                + ("" if self.acc_ok else " (not the prefix)")
            )
        else:
            head = f"no anchor, B {self.batch}, accumulated {self.acc_len} items"
        parts = [head]
        for peer in self.peers:
            bits = ["available" if peer.available else "unavailable"]
            if peer.inflight is not None:
                bits.append(f"asked [{peer.inflight[0]},{peer.inflight[1]})")
            else:
                bits.append("nothing in flight")
            if self.anchored:
                bits.append("offered the anchor" if peer.holds_anchor else "did not offer it")
            parts.append(f"{peer.label}: {', '.join(bits)}")
        if self.fetched:
            parts.append("fetched " + ", ".join(f"[{a},{b})" for a, b in self.fetched))
        else:
            parts.append("nothing fetched")
        for anchor, length, holders in self.candidates:
            parts.append(f"candidate {anchor} ({length} items) held by {{{', '.join(holders)}}}")
        return "; ".join(parts)


@dataclass(frozen=True, slots=True)
class InductiveWitness:
    """A counterexample to initiation or consecution, restricted to what it involves."""

    invariant: str
    step: str
    clause: str
    pre: SessionFacts | None
    params: tuple[tuple[str, int | bool | str], ...]
    post: SessionFacts

    def render(self) -> str:
        """Return the mypyvy-style report."""
        if self.pre is None:
            return (
                f"invariant {self.invariant} does not hold initially: {self.clause}\n"
                f"  initial state: {self.post.render()}"
            )
        args = ", ".join(f"{k}={v}" for k, v in self.params)
        return (
            f"invariant {self.invariant} is not preserved by {self.step}: {self.clause}\n"
            f"  before: {self.pre.render()}\n"
            f"  step:   {self.step}({args})\n"
            f"  after:  {self.post.render()}"
        )


class _Labels:
    """Stable names ``p0, p1, …`` for the peers a model mentions."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.names: dict[str, str] = {}

    def __call__(self, term: Any) -> str:
        key = str(self.model.eval(term, model_completion=True))
        if key not in self.names:
            self.names[key] = f"p{len(self.names)}"
        return self.names[key]


def _facts(
    model: Any,
    s: S,
    labels: _Labels,
    peers: Sequence[Any],
    positions: Sequence[Any],
    anchors: Sequence[Any],
) -> SessionFacts:
    seen: dict[str, Any] = {}
    for term in peers:
        seen.setdefault(labels(term), term)
    peer_facts = []
    for label in sorted(seen, key=lambda x: int(x[1:])):
        p = seen[label]
        inflight = None
        if as_bool(model, s.infl[p]):
            inflight = (as_int(model, s.infl_s[p]), as_int(model, s.infl_e[p]))
        peer_facts.append(
            PeerFacts(
                label,
                as_bool(model, s.avail[p]),
                as_bool(model, s.holders[s.anchor][p]),
                inflight,
            )
        )
    fetched = sorted(
        {
            (as_int(model, x), as_int(model, s.fet_e[x]))
            for x in positions
            if as_bool(model, s.fet[x])
        }
    )
    cands = []
    for a in {as_int(model, a) for a in anchors}:
        if as_bool(model, s.known[a]):
            holders = tuple(
                sorted(
                    (label for label, p in seen.items() if as_bool(model, s.holders[a][p])),
                    key=lambda x: int(x[1:]),
                )
            )
            cands.append((a, as_int(model, s.off_len[a]), holders))
    return SessionFacts(
        anchored=as_bool(model, s.anchored),
        anchor=as_int(model, s.anchor),
        snapshot_len=as_int(model, s.n),
        gap_start=as_int(model, s.g),
        batch=as_int(model, s.batch),
        acc_len=as_int(model, s.acc_len),
        acc_ok=as_bool(model, s.acc_ok),
        peers=tuple(peer_facts),
        fetched=tuple(fetched),
        candidates=tuple(sorted(cands)),
    )


def _violations(post: S, invariant: str) -> list[tuple[Clause, list[Any], Any]]:
    out = []
    for i, clause in enumerate(INVARIANTS[invariant]):
        xs = [_var(sort, f"cex.{invariant}.{i}.{j}") for j, sort in enumerate(clause.sorts)]
        out.append((clause, xs, z3.Not(clause.body(post, *xs))))
    return out


def _render_param(model: Any, labels: _Labels, value: Any) -> int | bool | str:
    if value.sort() == Peer:
        return labels(value)
    if value.sort() == z3.BoolSort():
        return as_bool(model, value)
    return as_int(model, value)


def _pretty(step: str, pre: S, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Readable shapes of counterexamples to induction (never decide the result)."""
    small = (pre.n <= 12, pre.batch <= 4, pre.g <= 4, pre.anchor >= 1, pre.anchor <= 9)
    if step == "schedule_fetches":
        # The impl's cursor is the first unassigned position: make it gap_start.
        return [(params["chunk_start"] == pre.g, params["chunk_end"] < pre.n, *small), small]
    if step == "on_fetch_data_response":
        late = z3.Not(pre.infl[params["peer"]])
        count = params["count"]
        shape = (count >= 1, count <= pre.n, *small)
        return [(late, params["offset"] < pre.g, *shape), shape, small]
    return [small]


def check_initiation(invariant: str, profile: Profile) -> Verdict:
    """Check that Q0's initial state satisfies ``invariant``."""
    del profile  # Q0's state is the same in every profile
    init = _initial()
    checks = _violations(init, invariant)
    query = [init.batch >= 1, z3.Or(*[bad for _, _, bad in checks])]
    result, model = solve(query)
    if result is Result.PROVED:
        return Verdict.proved()
    if result is Result.UNKNOWN:
        return Verdict.unknown(str(model))
    labels = _Labels(model)
    clause = next(c for c, _, bad in checks if as_bool(model, bad))
    post = _facts(model, init, labels, [], [], [])
    witness = InductiveWitness(invariant, "session_new", clause.text, None, (), post)
    return Verdict(Result.COUNTEREXAMPLE, witness.render(), witness)


def check_consecution(
    invariant: str,
    step: str,
    profile: Profile,
    *,
    mutant: str | None = None,
    timeout_ms: int = DEFAULT_TIMEOUT_MS,
) -> Verdict:
    """Check ``I4 ∧ I5 ∧ I6 ∧ step ⇒ invariant'`` (one consecution obligation).

    ``mutant`` names a deliberately broken step (:data:`MUTANTS`), for the tests.
    """
    spec = next(s for s in STEPS if s.name == step)
    pre = _fresh("pre")
    post, guard, params = spec.build(pre, profile, mutant)
    checks = _violations(post, invariant)
    context = [*_all_invariants(pre), *guard]
    # Vacuity: a step that no state satisfying the invariants can take proves nothing.
    enabled, _ = solve(context, timeout_ms)
    if enabled is not Result.COUNTEREXAMPLE:
        return Verdict.unknown(f"vacuous: {step} is never enabled under the invariants")
    query = [*context, z3.Or(*[bad for _, _, bad in checks])]
    result, model = solve(query, timeout_ms)
    if result is Result.PROVED:
        return Verdict.proved()
    if result is Result.UNKNOWN:
        return Verdict.unknown(str(model))
    for tier in _pretty(step, pre, params):
        better, better_model = solve([*query, *tier], timeout_ms)
        if better is Result.COUNTEREXAMPLE:
            model = better_model
            break
    labels = _Labels(model)
    clause, xs, _ = next(c for c in checks if as_bool(model, c[2]))
    peers = [v for v in params.values() if v.sort() == Peer]
    peers += [x for x, sort in zip(xs, clause.sorts, strict=True) if sort == "peer"]
    positions = [pre.g]
    positions += [v for k, v in params.items() if v.sort() == IntS and k != "count"]
    positions += [x for x, sort in zip(xs, clause.sorts, strict=True) if sort == "pos"]
    anchors = [pre.anchor, post.anchor] + [v for k, v in params.items() if k == "anchor"]
    witness = InductiveWitness(
        invariant=invariant,
        step=step,
        clause=clause.text,
        pre=_facts(model, pre, labels, peers, positions, anchors),
        params=tuple((k, _render_param(model, labels, v)) for k, v in params.items()),
        post=_facts(model, post, labels, peers, positions, anchors),
    )
    return Verdict(Result.COUNTEREXAMPLE, witness.render(), witness)
