"""Chunking: the fetch schedule partitions the snapshot, and the drain reassembles it.

Snapshot length ``n`` and batch size ``B >= 1`` are symbolic and unbounded; every claim
is linear arithmetic (plus sequences for the drain), proved by induction where a loop
or a run is involved. The session's ranges are reasoned about through one arbitrary
*representative* range: every property here is a per-range (or per-pair) property,
so a claim proved for an arbitrary range holds for all of them, whatever their number.

``chunk/cover`` (Q11, P4; ideal run)
    Chunks ``[c, min(c + B, n))`` handed out from ``c = 0`` are served unclipped by the
    provider's clamp ``end := min(end, start + B)``, are non-empty and inside
    ``[0, n)``, and extend the covered prefix ``[0, c)`` without overlap or gap, so at
    ``c = n`` every position of ``[0, n)`` was fetched exactly once (the variant
    ``n - c`` decreases by at least 1 per chunk).
``chunk/walk`` (Q11 walk 1)
    Over in-flight and fetched ranges that are disjoint and sorted by start, the walk
    from ``gap_start`` ends on a position no range covers, and every position it
    skipped is covered: the scheduler's cursor is the first unassigned position.
    Induction over the sorted list, with an arbitrary earlier range as representative.
``chunk/schedule`` (Q11 with the reference's clipping, P4)
    From any state satisfying I4, the next chunk ``[c, e)`` is non-empty, inside the
    gap, disjoint from every assigned range and no longer than ``B`` (so P4 serves it
    whole). H2 (no clipping at the next assigned start): a counterexample, a hole
    shorter than ``B`` left by a short response before an assigned range.
``chunk/drain`` (Q4, Q8)
    For any arrival order: every accepted chunk lies in ``[gap_start, n)`` and inside
    what was asked, ``accumulated`` stays the snapshot's prefix ``items[0, gap_start)``
    (z3 sequences), the other fetched chunks stay at or after the new ``gap_start``, a
    fetched chunk containing ``gap_start`` starts there (so the drain, which pops the
    smallest start only if it equals ``gap_start``, cannot stall) and at
    ``gap_start = n`` the accumulated items are the snapshot. H1 (late or unsolicited
    responses accepted) and H10 (responses not validated): a counterexample.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import z3

from impl.profile import Hazard, Profile
from spec.proofs.core import Query, Verdict, as_int, run_queries

__all__ = [
    "ChunkWitness",
    "check_cover",
    "check_drain",
    "check_schedule",
    "check_walk",
]


@dataclass(frozen=True, slots=True)
class ChunkWitness:
    """A concrete session situation on which a chunk obligation fails.

    Positions are item offsets. ``inflight`` and ``fetched`` are ranges ``(start,
    end)``; ``response`` is ``(offset, count, solicited)`` for drain counterexamples,
    ``chunk`` the range the scheduler hands out for schedule counterexamples.
    """

    obligation: str
    snapshot_len: int
    batch: int
    gap_start: int
    inflight: tuple[tuple[int, int], ...]
    fetched: tuple[tuple[int, int], ...]
    chunk: tuple[int, int] | None = None
    response: tuple[int, int, bool] | None = None


def _between(lo: Any, x: Any, hi: Any) -> Any:
    return z3.And(lo <= x, x < hi)


def _min(*xs: Any) -> Any:
    out = xs[0]
    for x in xs[1:]:
        out = z3.If(x < out, x, out)
    return out


# ---------------------------------------------------------------------------------------------
# chunk/cover


def check_cover(profile: Profile, *, end_offset: int = 0) -> Verdict:
    """Prove that in-order chunks tile ``[0, n)`` exactly once (see the module docstring).

    ``end_offset`` is a deliberate mutant of the chunk end (``min(c + B + offset, n)``),
    for the tests.
    """
    del profile  # no hazard switch changes the ideal schedule
    n, b, c, x = z3.Ints("n B c x")
    e = _min(c + b + end_offset, n)
    served = _min(e, c + b)  # P4 clamp on the request [c, e)
    pre = (n >= 0, b >= 1, c >= 0, c < n)

    def explain(model: Any) -> tuple[str, Any]:
        vals = {k: as_int(model, v) for k, v in (("n", n), ("B", b), ("c", c), ("x", x))}
        text = (
            f"n={vals['n']}, B={vals['B']}: after the prefix [0,{vals['c']}) the next chunk "
            f"is [{vals['c']},{as_int(model, e)}) and the provider serves "
            f"[{vals['c']},{as_int(model, served)}); position {vals['x']} is not covered "
            "exactly once"
        )
        witness = ChunkWitness(
            "cover", vals["n"], vals["B"], vals["c"], (), (), (vals["c"], as_int(model, e))
        )
        return text, witness

    queries = [
        Query("clamp: the provider serves the whole chunk", (*pre, served != e), explain),
        Query(
            "progress: the chunk is non-empty and inside [0, n)",
            (*pre, z3.Or(e <= c, e > n)),
            explain,
        ),
        Query(
            "once: the chunk does not overlap the covered prefix",
            (*pre, _between(0, x, c), _between(c, x, served)),
            explain,
        ),
        Query(
            "no gap: the prefix after the chunk is the old prefix plus the served chunk",
            (*pre, _between(0, x, e), z3.Not(z3.Or(_between(0, x, c), _between(c, x, served)))),
            explain,
        ),
    ]
    return run_queries(queries)


# ---------------------------------------------------------------------------------------------
# chunk/walk


def check_walk(profile: Profile) -> Verdict:
    """Prove the walk of Q11 ends on the first unassigned position (module docstring).

    State of the loop: ``cursor``; processed ranges are represented by an arbitrary
    earlier range ``q`` (``q.start <= r.start``, disjoint from ``r``); ``r`` is the range
    being processed; ``x`` an arbitrary position.
    """
    del profile  # the walk is the same code in every profile
    g, gap_end, cur, x = z3.Ints("gap_start gap_end cursor x")
    qs, qe, rs, re_ = z3.Ints("q.start q.end r.start r.end")
    jumped = _between(rs, cur, re_)
    nxt = z3.If(jumped, re_, cur)
    ranges_ok = (
        qs < qe,
        rs < re_,
        g <= qs,
        g <= rs,
        qe <= gap_end,
        re_ <= gap_end,
        qs <= rs,
        z3.Or(qe <= rs, re_ <= qs),  # I4: disjoint
    )
    inv_q = z3.Not(_between(qs, cur, qe))  # the cursor is in no processed range
    pre = (*ranges_ok, cur >= g, inv_q, cur < gap_end)

    def explain(model: Any) -> tuple[str, Any]:
        text = (
            f"gap_start={as_int(model, g)}, cursor={as_int(model, cur)}, processed "
            f"[{as_int(model, qs)},{as_int(model, qe)}), next [{as_int(model, rs)},"
            f"{as_int(model, re_)}): the cursor moves to {as_int(model, nxt)}"
        )
        return text, None

    queries = [
        Query(
            "step: the cursor leaves no processed range covering it",
            (*pre, _between(qs, nxt, qe)),
            explain,
        ),
        Query(
            "step: the cursor is not inside the range just processed",
            (*pre, _between(rs, nxt, re_)),
            explain,
        ),
        Query(
            "step: every skipped position is covered",
            (*pre, _between(cur, x, nxt), z3.Not(_between(rs, x, re_))),
            explain,
        ),
        Query(
            "break: once cursor >= gap_end, no later range can contain it",
            (*ranges_ok, cur >= gap_end, _between(rs, cur, re_)),
            explain,
        ),
    ]
    return run_queries(queries)


# ---------------------------------------------------------------------------------------------
# chunk/schedule


def check_schedule(profile: Profile) -> Verdict:
    """Prove that the next chunk of Q11 is disjoint from every assigned range (module
    docstring); H2 removes the clipping and yields a counterexample."""
    g, n, b, c, e = z3.Ints("gap_start n B cursor end")
    rs, re_ = z3.Ints("r.start r.end")
    clip = not profile.has(Hazard.H2)
    # I4 for the representative assigned range r; the cursor is free (chunk/walk).
    pre = [b >= 1, g >= 0, _between(g, c, n), rs < re_, g <= rs, re_ <= n]
    pre.append(z3.Not(_between(rs, c, re_)))
    # The chunk end: min(cursor + B, gap_end), then (reference) the next assigned start.
    pre += [e <= c + b, e <= n, z3.Or(e == c + b, e == n, e > c)]
    if clip:
        # e is the minimum over c + B, n and every assigned start after the cursor:
        # in particular it is at most r's start when r lies after the cursor.
        pre.append(z3.Implies(rs > c, e <= rs))
        pre.append(e > c)
    else:
        pre.append(e == _min(c + b, n))

    def explain(model: Any) -> tuple[str, Any]:
        vals = [as_int(model, v) for v in (g, n, b, c, e, rs, re_)]
        gv, nv, bv, cv, ev, rsv, rev = vals
        text = (
            f"gap [{gv},{nv}), B={bv}; [{rsv},{rev}) is in flight; the first unassigned "
            f"position is {cv}, and an idle peer is asked for [{cv},{ev}), which overlaps "
            f"[{rsv},{rev})"
            + (" (H2: the chunk is not cut at the next assigned start)" if not clip else "")
        )
        witness = ChunkWitness("schedule", nv, bv, gv, ((rsv, rev),), (), (cv, ev))
        return text, witness

    # Readable shape: the cursor is the gap start and r lies after it (a hole shorter
    # than B, as a short response leaves), with more of the gap after the chunk.
    pretty = ((c == g, e < n, re_ < n, n <= 12, b <= 4, g <= 4), (c == g, n <= 64))
    queries = [
        Query(
            "the chunk is non-empty and inside the gap",
            (*pre, z3.Or(e <= c, c < g, e > n)),
            explain,
            pretty,
        ),
        Query(
            "the chunk is disjoint from every assigned range",
            (*pre, z3.Not(z3.Or(e <= rs, re_ <= c))),
            explain,
            pretty,
        ),
        Query(
            "the provider's clamp serves the chunk whole",
            (*pre, _min(e, c + b) != e),
            explain,
            pretty,
        ),
    ]
    return run_queries(queries)


# ---------------------------------------------------------------------------------------------
# chunk/drain


def check_drain(profile: Profile) -> Verdict:
    """Prove the drain reassembles the snapshot in order for any arrival order (module
    docstring); H1 and H10 yield counterexamples."""
    h1, h10 = profile.has(Hazard.H1), profile.has(Hazard.H10)
    n, b, g = z3.Ints("n B gap_start")
    items = z3.Const("items", z3.SeqSort(z3.IntSort()))
    acc = z3.Const("accumulated", z3.SeqSort(z3.IntSort()))
    # An arriving response from peer p: offset off, count k; its request was [as_, ae)
    # if the peer has one in flight (I4: disjoint from the representative fetched t).
    off, k, as_, ae, ts, te = z3.Ints("offset count asked.start asked.end t.start t.end")
    solicited = z3.Bool("solicited")
    base = [
        b >= 1,
        z3.Length(items) == n,
        _between(0, g, n + 1),
        acc == z3.SubSeq(items, 0, g),
        # I4 for the fetched representative t and the asked range.
        ts < te,
        g <= ts,
        te <= n,
        as_ < ae,
        g <= as_,
        ae <= n,
        ae - as_ <= b,
        z3.Or(ae <= ts, te <= as_),
    ]
    # Q4's acceptance rule per profile (impl.session._check_response).
    accept: list[Any] = []
    if not h1:
        accept += [solicited, off == as_]
    if not h10:
        limit = z3.If(z3.And(solicited, off == as_), ae - as_, _min(b, z3.If(n > off, n - off, 0)))
        accept += [k >= 1, k <= limit]
    accept += [off >= 0, k >= 0]
    end = off + k

    def explain_arrival(model: Any) -> tuple[str, Any]:
        gv, nv, bv = as_int(model, g), as_int(model, n), as_int(model, b)
        ov, kv = as_int(model, off), as_int(model, k)
        sol = z3.is_true(model.eval(solicited, model_completion=True))
        asked = (as_int(model, as_), as_int(model, ae))
        t = (as_int(model, ts), as_int(model, te))
        why = []
        if ov < gv:
            why.append(
                f"its start {ov} is below gap_start {gv}: the drain pops only the smallest "
                f"start and only if it equals gap_start, so [{ov},{ov + kv}) is never "
                "drained and the session stalls"
            )
        if ov + kv > nv or kv == 0:
            why.append(f"[{ov},{ov + kv}) is empty or ends past the snapshot length {nv}")
        if _overlap((ov, ov + kv), t) and kv > 0 and ov != t[0]:
            why.append(f"it overlaps the fetched chunk [{t[0]},{t[1]})")
        kind = f"asked [{asked[0]},{asked[1]})" if sol else "never asked (late or unsolicited)"
        text = (
            f"snapshot of {nv} items, B={bv}, gap_start={gv}, fetched [{t[0]},{t[1]}); a "
            f"response of {kv} items at offset {ov} from a peer {kind} is accepted, and "
            + "; ".join(why or ["it leaves [gap_start, n)"])
        )
        witness = ChunkWitness(
            "drain", nv, bv, gv, (asked,) if sol else (), (t,), None, (ov, kv, sol)
        )
        return text, witness

    def explain_state(model: Any) -> tuple[str, Any]:
        return (
            f"gap_start={as_int(model, g)}, n={as_int(model, n)}: the drain step breaks "
            "the prefix invariant"
        ), None

    # The drain pops the representative fetched chunk d = [g, de) (its start is gap_start).
    de = z3.Int("d.end")
    drain_pre = [*base, ts != g, de > g, de <= n, z3.Or(de <= ts, te <= g)]
    chunk = z3.SubSeq(items, g, de - g)
    x = z3.Int("x")
    # Readable shapes: H1's late chunk below gap_start; else small numbers.
    pretty = (
        (off < g, k >= 1, te < n, n <= 10, b <= 4, b >= 2),
        (n <= 10, b <= 4, b >= 2, g <= 4),
    )
    queries = [
        Query(
            "an accepted response lies in [gap_start, n), inside what was asked, "
            "disjoint from the fetched chunks",
            (
                *base,
                *accept,
                z3.Or(
                    off < g,
                    end > n,
                    k == 0,
                    z3.And(solicited, end > ae),
                    # Same start: the BTreeMap insert replaces t, no overlap.
                    z3.And(k > 0, off != ts, _overlap_z3(off, end, ts, te)),
                ),
            ),
            explain_arrival,
            pretty,
        ),
        Query(
            "drain: accumulated ++ chunk is the prefix up to the chunk's end",
            (*drain_pre, z3.Concat(acc, chunk) != z3.SubSeq(items, 0, de)),
            explain_state,
        ),
        Query(
            "drain: the other fetched chunks start at or after the new gap_start",
            (*drain_pre, ts < de),
            explain_state,
        ),
        Query(
            "no stall: a fetched chunk that contains gap_start starts at gap_start",
            (*base, _between(ts, g, te), ts != g),
            explain_state,
        ),
        Query(
            "completion: at gap_start = n, accumulated is the whole snapshot",
            (*base, g == n, acc != items),
            explain_state,
        ),
        Query(
            "every position below gap_start was drained exactly once",
            (*base, _between(0, x, g), z3.Length(acc) != g),
            explain_state,
        ),
    ]
    return run_queries(queries)


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def _overlap_z3(s1: Any, e1: Any, s2: Any, e2: Any) -> Any:
    return z3.And(s1 < e2, s2 < e1)
