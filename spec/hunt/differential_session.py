"""The session differential: Q0/Q13 buffering, anchors and Q12's replay against a naive model.

A catch-up session keeps the AppendEntries it receives while it fetches a snapshot
(Q0 starts it from one, Q13 buffers the next ones) and, once the snapshot is in,
appends the buffered entries after the anchor (Q12). Group runs seldom deliver to a
syncing follower the AppendEntries that matter here: entries that continue the buffer
exactly, overlap it, re-send a range, come after a gap, start before the buffer, or
carry a later term that conflicts. This machine drives the pure session steps of
:mod:`impl.session` (``session_new``, ``buffer``, ``on_snapshot_offer``,
``finalize_sync``) with random sequences of exactly those, all cut from one
*leader log* that a ``new_leader`` rule may rewrite from some index with a higher term,
and compares the session with :class:`NaiveSession`: a ``dict`` index → (term,
command) updated by the rules of docs/protocol/session.md (Q0, Q13), spelled out
one entry at a time.

=============  ==============================================================================
id             what must agree
=============  ==============================================================================
``D-BUFFER``   the buffered entries (index, term, command) equal the model's, after Q0 and
               after every Q13 (reference: the model's contiguous run from its first kept
               index; mosaik, H3 on: every entry as it came, in arrival order)
``D-ANCHOR``   the selected anchor is the model's: the best usable offered candidate, by
               index then term (Q1–Q3); usable = at or above the earliest buffered index
               and (reference) at or above the floor a gap raised; reference offers below
               ``max(trigger, floor)`` are ignored (H9 fix)
``D-REPLAY``   finalize at anchor ``a`` resets the log and the committed cursor to ``a``
               and appends exactly the model's entries ``a+1, a+2, …`` (the kept entries,
               Q12); its ready cursor is the last of them (or ``a``)
``PANIC``      finalize does not raise mosaik's panic (H3: a non-contiguous kept buffer,
               session.rs:662) — under ``mosaik-0.3.13`` the model predicts it, and an
               unpredicted panic is a ``D-REPLAY`` disagreement
=============  ==============================================================================

Every offer carries an empty snapshot (``items_count = 0``): the session is complete
as soon as an anchor is selected, so finalize is reachable after any step. Fetching
the items is the collections differential's and the group campaigns' ground.

Within mosaik a session lives in one term (a higher term replaces the role and drops
the session, R10), so its AppendEntries are slices of one append-only leader log and
never conflict; ``new_leader`` explores Q13's term-conflict rule anyway, as the step
contract states it. Like the documented rule, the model ignores the term of
``prev_log_position`` (Raft would refuse an AppendEntries whose prev it holds with
another term): the session step is handed the index only.
"""

from __future__ import annotations

from typing import Any, ClassVar

from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, precondition, rule

from impl.collections import COLLECTIONS
from impl.collections.map import MapInsert
from impl.config import Config
from impl.effects import AppendLog, ResetLog, SetCommitted
from impl.errors import HazardPanic, InvalidState
from impl.messages import LogEntry, SnapshotInfo
from impl.profile import REFERENCE, Hazard, Profile
from impl.session import buffer, finalize_sync, on_snapshot_offer, session_new
from impl.session_state import SessionContext, SessionState
from impl.types import Cursor, Index, PeerId, Term
from spec.hunt.campaigns import Campaign, get_campaign
from spec.hunt.stepdiff import StepDifferential, profiled

__all__ = ["DIFF_IDS", "NaiveSession", "SessionDifferential", "machine_class"]

DIFF_IDS: tuple[str, ...] = ("D-BUFFER", "D-ANCHOR", "D-REPLAY", "PANIC")
"""Every id the session differential checks."""

LOCAL = "diff-follower"
PEERS: tuple[str, ...] = ("diff-leader", "diff-p1", "diff-p2")
"""The leader and two other providers; every one is bonded for the whole session."""

Entry = tuple[int, int, Any]
"""(log index, term, command), as the session buffers it."""

WHERE: tuple[str, ...] = ("contiguous", "gap", "overlap", "resend", "before", "heartbeat", "any")
"""Where an AppendEntries starts, relative to the model's buffer (:meth:`SessionDifferential.
append_entries`)."""

ANCHOR_AT: tuple[str, ...] = ("tail", "first", "last", "trigger", "floor", "any")
"""Where an offered anchor lies (:meth:`SessionDifferential.offer`), plus an offset."""


class NaiveSession:
    """What a session holds after Q0/Q13 and a few offers, written for obviousness.

    Reference: ``log`` is a dict index -> (term, command) whose keys are one run
    ``first..last``. An AppendEntries at ``prev`` with entries ``prev+1, prev+2, …``:

    * no entries: nothing changes;
    * a gap — ``prev`` past the last held index, or (nothing held) past the selected
      anchor — restarts the log with the new entries and raises ``floor`` to ``prev``:
      no anchor below it can serve (the entries in between never arrived);
    * otherwise, entry by entry (Raft's rule): below ``first`` skipped (the snapshot
      covers it), held with the same term skipped, held with another term deletes it
      and everything after it, then the entry is written.

    mosaik (H3 on): ``raw`` is every entry in arrival order, nothing checked
    (session.rs:749-762); ``floor`` stays 0.
    """

    def __init__(self, profile: Profile, trigger: int, entries: list[Entry]) -> None:
        self.blind = profile.has(Hazard.H3)
        self.stale_offers = profile.has(Hazard.H9)
        self.trigger = trigger
        self.floor = 0
        self.log: dict[int, tuple[int, Any]] = {i: (t, c) for i, t, c in entries}
        self.raw: list[Entry] = list(entries)
        self.candidates: set[tuple[int, int]] = set()
        """Offered anchors as (index, term)."""
        self.anchor: tuple[int, int] | None = None

    # -- the buffer ------------------------------------------------------------------------

    def entries(self) -> list[Entry]:
        """The buffered entries, in the session's order."""
        if self.blind:
            return list(self.raw)
        return [(i, *self.log[i]) for i in sorted(self.log)]

    def earliest(self) -> int | None:
        """The first buffered index (mosaik: of the first entry that arrived)."""
        if self.blind:
            return self.raw[0][0] if self.raw else None
        return min(self.log) if self.log else None

    def receive(self, prev: int, entries: list[Entry]) -> None:
        """One AppendEntries at ``prev`` while the session runs (Q13)."""
        if self.blind:
            self.raw.extend(entries)
            return
        if not entries:
            return
        if self.log:
            gap = prev > max(self.log)
        else:
            gap = self.anchor is not None and prev > self.anchor[0]
        if gap or not self.log:
            self.log = {}
        if gap:
            self.floor = max(self.floor, prev)
            self.candidates = {c for c in self.candidates if c[0] >= self.floor}
            if self.anchor is not None and self.anchor[0] < self.floor:
                self.anchor = None
        for index, term, command in entries:
            if self.log and index < min(self.log):
                continue
            held = self.log.get(index)
            if held is not None and held[0] == term:
                continue
            if held is not None:
                for later in [i for i in self.log if i >= index]:
                    del self.log[later]
            self.log[index] = (term, command)
        self.select()

    # -- anchors ---------------------------------------------------------------------------

    def offer(self, anchor: tuple[int, int]) -> None:
        """A provider offers a snapshot at ``anchor`` (Q1), then selection (Q2/Q3)."""
        if not self.stale_offers and anchor[0] < max(self.trigger, self.floor):
            return
        self.candidates.add(anchor)
        self.select()

    def usable(self, anchor: tuple[int, int]) -> bool:
        earliest = self.earliest()
        if earliest is not None and anchor[0] < earliest:
            return False
        return self.blind or anchor[0] >= self.floor

    def select(self) -> None:
        """No anchor: take the best usable one; else move to a higher usable one."""
        usable = [c for c in self.candidates if self.usable(c)]
        if self.anchor is not None:
            usable = [c for c in usable if c[0] > self.anchor[0]]
        if usable:
            self.anchor = max(usable)

    # -- finalize --------------------------------------------------------------------------

    def replay(self) -> tuple[list[Entry], bool]:
        """What finalize appends after the anchor, and whether mosaik panics instead.

        Reference: the model's entries ``a+1, a+2, …`` while it holds them. mosaik: every
        entry after the anchor in arrival order; a panic unless they are ``a+1, a+2, …``.
        """
        assert self.anchor is not None
        start = self.anchor[0] + 1
        if self.blind:
            kept = [e for e in self.raw if e[0] > self.anchor[0]]
            return kept, [e[0] for e in kept] != list(range(start, start + len(kept)))
        run: list[Entry] = []
        while start + len(run) in self.log:
            index = start + len(run)
            run.append((index, *self.log[index]))
        return run, False


class SessionDifferential(StepDifferential):
    """Impl session steps against :class:`NaiveSession` (module docstring)."""

    profile: ClassVar[Profile] = REFERENCE
    campaign: ClassVar[Campaign] = get_campaign("session-buffer")

    def __init__(self) -> None:
        super().__init__()
        self.peers = [PeerId.from_label(p) for p in PEERS]
        self.ctx = SessionContext(
            local_id=PeerId.from_label(LOCAL),
            leader=self.peers[0],
            bonds=frozenset(self.peers),
            config=Config(),
            machine=COLLECTIONS["map"],
            profile=self.profile,
        )
        self.leader_log: list[tuple[int, Any]] = []
        """The current leader's log: entry ``i`` is index ``i + 1``."""
        self.term = 1
        self.writes = 0
        self.session: SessionState | None = None
        self.model = NaiveSession(self.profile, 0, [])

    # -- the leader's log --------------------------------------------------------------------

    def _write(self, upto: int) -> None:
        """The leader appends writes of its term until its log reaches index ``upto``."""
        while len(self.leader_log) < upto:
            self.writes += 1
            self.leader_log.append((self.term, MapInsert(self.writes, self.term)))

    def _ae(self, prev: int, count: int) -> tuple[Cursor, tuple[LogEntry, ...], list[Entry]]:
        """The leader's AppendEntries at ``prev`` with ``count`` entries (written if need be)."""
        self._write(prev + count)
        prev_term = self.leader_log[prev - 1][0] if prev else 0
        cut = self.leader_log[prev : prev + count]
        entries = tuple(LogEntry(Term(t), c) for t, c in cut)
        model = [(prev + 1 + i, t, c) for i, (t, c) in enumerate(cut)]
        return Cursor(Term(prev_term), Index(prev)), entries, model

    def _tail(self) -> int:
        """The index the buffer would continue from: its last, else the anchor or trigger."""
        held = [e[0] for e in self.model.entries()]
        if held:
            return max(held)
        if self.model.anchor is not None:
            return self.model.anchor[0]
        return self.model.trigger

    # -- rules --------------------------------------------------------------------------------

    @initialize(
        terms=st.lists(st.integers(1, 3), max_size=8).map(sorted),
        prev=st.integers(0, 8),
        count=st.integers(0, 4),
    )
    def setup_session(self, terms: list[int], prev: int, count: int) -> None:
        """The leader's log (terms non-decreasing), then Q0 from its AppendEntries at
        ``prev`` carrying ``count`` entries."""
        self.term = max(terms, default=1)
        for t in terms:
            self.writes += 1
            self.leader_log.append((t, MapInsert(self.writes, t)))
        self._count(f"setup_session(terms={terms}, prev={prev}, count={count})")
        self._start(min(prev, len(self.leader_log)), count)

    def _start(self, prev: int, count: int) -> None:
        position, entries, model = self._ae(prev, count)
        self.session, _ = session_new(self.ctx, position, Index(0), entries, 0)
        self.model = NaiveSession(self.profile, prev, model)
        self._compare("Q0")

    @precondition(lambda self: self.session is None)
    @rule(ahead=st.integers(0, 3), count=st.integers(0, 4))
    def start_session(self, ahead: int, count: int) -> None:
        """Q0 again after a finalize (or mosaik's panic, then on a restarted follower): the
        leader wrote on, the follower lags again."""
        self._count(f"start_session(ahead={ahead}, count={count})")
        self._start(len(self.leader_log) + ahead, count)

    @precondition(lambda self: self.session is not None)
    @rule(where=st.sampled_from(WHERE), off=st.integers(0, 2), count=st.integers(0, 4))
    def append_entries(self, where: str, off: int, count: int) -> None:
        """Q13: an AppendEntries placed relative to the buffer: continuing it exactly,
        after a gap, overlapping its end, re-sending it from its first index, starting
        before it, a heartbeat at the leader's end, or anywhere in the leader's log."""
        held = [e[0] for e in self.model.entries()]
        tail = self._tail()
        first = min(held) if held else tail + 1
        prev = {
            "contiguous": tail,
            "gap": tail + 1 + off,
            "overlap": tail - 1 - off,
            "resend": first - 1,
            "before": first - 2 - off,
            "heartbeat": len(self.leader_log),
            "any": (len(self.leader_log) * off) // 2,
        }[where]
        prev = max(prev, 0)
        if where == "heartbeat":
            count = 0
        elif where == "resend" and held:
            count = max(count, max(held) - first + 1)
        self._count(f"append_entries({where!r}, prev={prev}, count={count})")
        assert self.session is not None
        position, entries, model = self._ae(prev, count)
        self.session, _ = buffer(self.session, self.ctx, position, entries)
        self.model.receive(prev, model)
        self._compare("Q13")

    @precondition(lambda self: self.session is not None)
    @rule(back=st.integers(0, 3), count=st.integers(1, 3))
    def new_leader(self, back: int, count: int) -> None:
        """A leader of a higher term that lacks the last ``back + 1`` entries of the tail
        writes ``count`` of its own there: later AppendEntries carry conflicting terms."""
        cut = max(self._tail() - back, 0)
        self._count(f"new_leader(cut={cut}, count={count})")
        self.term += 1
        del self.leader_log[cut:]
        self._write(cut + count)

    @precondition(lambda self: self.session is not None)
    @rule(
        at=st.sampled_from(ANCHOR_AT),
        off=st.integers(-2, 2),
        peer=st.integers(0, len(PEERS) - 1),
        bump=st.booleans(),
    )
    def offer(self, at: str, off: int, peer: int, bump: bool) -> None:
        """Q1: a provider offers an (empty) snapshot at an anchor near the buffer's edges,
        the trigger or the floor; its term is the leader log's there (``bump``: one more)."""
        held = [e[0] for e in self.model.entries()]
        base = {
            "tail": self._tail(),
            "first": min(held) if held else self._tail(),
            "last": max(held) if held else self._tail(),
            "trigger": self.model.trigger,
            "floor": self.model.floor,
            "any": len(self.leader_log) // 2,
        }[at]
        index = max(base + off, 0)
        term = self.leader_log[index - 1][0] if 0 < index <= len(self.leader_log) else self.term
        term += int(bump)
        self._count(f"offer({at!r}, index={index}, term={term}, peer={peer})")
        assert self.session is not None
        info = SnapshotInfo(Cursor(Term(term), Index(index)), 0)
        self.session, _ = on_snapshot_offer(self.session, self.ctx, self.peers[peer], info, 0)
        self.model.offer((index, term))
        self._compare("Q1")

    @precondition(lambda self: self.session is not None and self.session.anchor is not None)
    @rule()
    def finalize(self) -> None:
        """Q12: install at the anchor and append the kept entries; the session ends."""
        self._count("finalize()")
        session = self.session
        assert session is not None
        assert session.anchor is not None
        self.session = None
        if self.model.anchor is None:
            return  # D-ANCHOR already reported the disagreement
        want, panics = self.model.replay()
        anchor = session.anchor
        try:
            _, effects, ready = finalize_sync(session, self.ctx)
        except HazardPanic as panic:
            if panics:
                self._find("PANIC", f"{panic.hazard} at {panic.site}: {panic.detail}")
            else:
                self._find(
                    "D-REPLAY",
                    f"finalize panicked ({panic.detail}); the model replays {_show(want)}",
                )
            return
        except InvalidState as refused:
            self._find("D-REPLAY", f"finalize refused ({refused}); the model replays {_show(want)}")
            return
        if panics:
            self._find("D-REPLAY", f"finalize did not panic; mosaik asserts on {_show(want)}")
            return
        appended = [e for e in effects if isinstance(e, AppendLog)]
        got = [
            (anchor.index + 1 + i, int(e.term), e.command)
            for i, e in enumerate(appended[0].entries if appended else ())
        ]
        resets = [e.cursor for e in effects if isinstance(e, ResetLog | SetCommitted)]
        last = Cursor(Term(want[-1][1]), Index(want[-1][0])) if want else anchor
        if len(appended) != 1 or got != want:
            self._find(
                "D-REPLAY", f"finalize at {anchor} appends {_show(got)}, the model {_show(want)}"
            )
        elif resets != [anchor, anchor]:
            self._find("D-REPLAY", f"finalize at {anchor} resets and commits to {resets}")
        elif ready != last:
            self._find("D-REPLAY", f"finalize at {anchor} is ready at {ready}, the model at {last}")

    # -- comparisons --------------------------------------------------------------------------

    def _compare(self, step: str) -> None:
        s = self.session
        assert s is not None
        have = [(int(i), int(t), c) for i, t, c in s.buffered]
        want = self.model.entries()
        if have != want:
            self._find(
                "D-BUFFER", f"after {step} the buffer is {_show(have)}, the model's {_show(want)}"
            )
        anchor = None if s.anchor is None else (int(s.anchor.index), int(s.anchor.term))
        if anchor != self.model.anchor:
            self._find(
                "D-ANCHOR",
                f"after {step} the anchor is {anchor}, the model's "
                f"{self.model.anchor} (candidates {sorted(self.model.candidates)}, "
                f"floor {self.model.floor})",
            )

    # -- invariants -----------------------------------------------------------------------------

    @invariant()
    def d_buffer(self) -> None:
        """D-BUFFER: the buffered entries are the model's."""
        self._check("D-BUFFER")

    @invariant()
    def d_anchor(self) -> None:
        """D-ANCHOR: the selected anchor is the model's."""
        self._check("D-ANCHOR")

    @invariant()
    def d_replay(self) -> None:
        """D-REPLAY: finalize appends exactly the model's entries after the anchor."""
        self._check("D-REPLAY")

    @invariant()
    def no_panic(self) -> None:
        """PANIC: no mosaik panic at finalize."""
        self._check("PANIC")


def _show(entries: list[Entry]) -> str:
    return "[" + ", ".join(f"{i}@{t}" for i, t, _ in entries) + "]"


def machine_class(profile: Profile = REFERENCE) -> type[SessionDifferential]:
    """Return the session differential machine class under ``profile`` (cached)."""
    return profiled(SessionDifferential, profile)
