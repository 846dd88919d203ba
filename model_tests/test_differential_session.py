"""The session differential (spec/hunt/differential_session.py): Q0/Q13/Q12 against a naive log.

The reference agrees with the naive model; each check id fails on a broken session
(a deliberate one-line bug compiled into a private copy of ``impl/session.py`` and
patched into the machine), and under ``mosaik-0.3.13`` a re-sent range ends in the
documented H3 panic. The short programs are explicit (they do not depend on the search
finding them); one search test per bug of the buffering class shows the machine finds
it unaided, within a few hundred examples.
"""

from __future__ import annotations

import types
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test

import impl.session
import spec.hunt.differential_session as ds
from impl.profile import MOSAIK_0_3_13, REFERENCE, Profile
from spec.hunt.differential import differential_class
from spec.hunt.differential_session import NaiveSession, SessionDifferential, machine_class
from spec.hunt.machine import SESSION, HuntFailure
from spec.mutants.catalogue import CATALOGUE

STEPS = ("session_new", "buffer", "on_snapshot_offer", "finalize_sync")


def _broken(monkeypatch: pytest.MonkeyPatch, before: str, after: str) -> None:
    """Patch the machine's session steps with a copy of impl/session.py where ``before``
    (exactly once in the file) reads ``after``."""
    source = Path(impl.session.__file__).read_text(encoding="utf-8")
    assert source.count(before) == 1
    module = types.ModuleType("broken_session")
    module.__dict__["__file__"] = impl.session.__file__
    exec(compile(source.replace(before, after), "broken_session", "exec"), module.__dict__)
    for name in STEPS:
        monkeypatch.setattr(ds, name, getattr(module, name))


def _catalogue(monkeypatch: pytest.MonkeyPatch, ident: str) -> None:
    mutant = next(m for m in CATALOGUE if m.id == ident)
    _broken(monkeypatch, mutant.before, mutant.after)


def _machine(
    profile: Profile = REFERENCE, terms: tuple[int, ...] = (1, 1, 1, 1)
) -> SessionDifferential:
    m = machine_class(profile)()
    m.setup_session(list(terms), prev=2, count=3)  # buffers 3, 4, 5
    return m


def _ids(m: SessionDifferential) -> set[str]:
    return {f.id for f in m.findings}


def _run(profile: Profile, examples: int) -> None:
    SESSION.__init__()  # type: ignore[misc]
    run_state_machine_as_test(
        differential_class(profile, "session"),
        settings=settings(
            settings.default,
            max_examples=examples,
            stateful_step_count=30,
            suppress_health_check=list(HealthCheck),
            database=None,
            phases=[Phase.explicit, Phase.generate],
        ),
    )


# -- the reference agrees -----------------------------------------------------------------------


def test_reference_agrees_with_the_naive_session() -> None:
    _run(REFERENCE, 100)
    assert SESSION.failures == []
    assert SESSION.rule_steps > 0


def test_every_buffering_case_agrees_in_the_reference() -> None:
    m = _machine()
    for where in ("contiguous", "overlap", "resend", "before", "heartbeat", "any"):
        m.append_entries(where, off=1, count=2)
    m.new_leader(back=1, count=2)
    m.append_entries("overlap", off=0, count=3)  # a later term: conflict, truncate
    m.offer("first", off=0, peer=1, bump=False)
    m.append_entries("gap", off=1, count=2)  # drops the anchor below the gap
    m.offer("floor", off=0, peer=2, bump=False)  # at the floor, below the new buffer
    assert m.model.anchor is None
    assert m.model.floor > 0
    m.offer("last", off=0, peer=2, bump=False)
    m.finalize()
    m.start_session(ahead=1, count=2)
    assert m.findings == []


# -- each id fails on a broken session -----------------------------------------------------------


def test_d_buffer_q0_entries_one_index_early(monkeypatch: pytest.MonkeyPatch) -> None:
    _catalogue(monkeypatch, "session-buffer-index-off-by-one")
    assert _ids(_machine()) == {"D-BUFFER"}


def test_d_buffer_conflict_truncates_one_entry_late(monkeypatch: pytest.MonkeyPatch) -> None:
    _catalogue(monkeypatch, "session-merge-truncate-off-by-one")
    m = _machine()
    m.new_leader(back=1, count=2)  # rewrites 5 with a later term
    m.append_entries("overlap", off=0, count=2)
    assert _ids(m) == {"D-BUFFER"}


def test_d_buffer_and_anchor_contiguous_taken_for_a_gap(monkeypatch: pytest.MonkeyPatch) -> None:
    _catalogue(monkeypatch, "session-contiguous-buffer-as-gap")
    m = _machine()
    m.offer("first", off=0, peer=1, bump=False)  # anchor 3
    m.append_entries("contiguous", off=0, count=1)  # 6 continues 3..5
    assert _ids(m) == {"D-BUFFER", "D-ANCHOR"}


def test_d_anchor_first_buffered_index_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # A porter's bug: the anchor must lie past the earliest buffered entry, not at it
    # (the snapshot at 3 and the buffer from 3 leave no hole; finalize skips 3).
    _broken(
        monkeypatch,
        "if earliest is not None and cursor.index < earliest:",
        "if earliest is not None and cursor.index <= earliest:",
    )
    m = _machine()
    m.offer("first", off=0, peer=1, bump=False)
    assert _ids(m) == {"D-ANCHOR"}


def test_d_replay_ready_at_the_first_kept_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    _broken(
        monkeypatch,
        "ready = Cursor(kept[-1][1], kept[-1][0])",
        "ready = Cursor(kept[0][1], kept[0][0])",
    )
    m = _machine()
    m.offer("first", off=0, peer=1, bump=False)  # anchor 3: replays 4, 5
    m.finalize()
    assert _ids(m) == {"D-REPLAY"}


def test_d_replay_kept_includes_the_anchor(monkeypatch: pytest.MonkeyPatch) -> None:
    _catalogue(monkeypatch, "session-kept-includes-anchor")
    m = _machine()
    m.offer("first", off=1, peer=1, bump=False)  # anchor 4
    m.finalize()
    assert _ids(m) == {"D-REPLAY"}


def test_panic_under_mosaik_on_a_resent_range() -> None:
    m = _machine(MOSAIK_0_3_13)
    m.append_entries("resend", off=0, count=3)  # 3, 4, 5 again: mosaik appends them
    m.offer("first", off=0, peer=1, bump=False)
    m.finalize()
    assert _ids(m) == {"PANIC"}
    assert "H3" in m.findings[0].detail
    ok = _machine()
    ok.append_entries("resend", off=0, count=3)
    ok.offer("first", off=0, peer=1, bump=False)
    ok.finalize()
    assert ok.findings == []


@pytest.mark.parametrize(
    "ident",
    [
        "session-buffer-index-off-by-one",
        "session-merge-truncate-off-by-one",
        "session-contiguous-buffer-as-gap",
    ],
)
def test_the_search_finds_a_buffering_bug(monkeypatch: pytest.MonkeyPatch, ident: str) -> None:
    _catalogue(monkeypatch, ident)
    with pytest.raises(HuntFailure) as info:
        _run(REFERENCE, 300)
    assert info.value.finding.id in {"D-BUFFER", "D-ANCHOR", "D-REPLAY"}


def _anchor(n: NaiveSession) -> tuple[int, int] | None:
    return n.anchor


# -- the naive model ----------------------------------------------------------------------------


def test_naive_session_follows_the_documented_rules() -> None:
    n = NaiveSession(REFERENCE, 2, [(3, 1, "a"), (4, 1, "b"), (5, 1, "c")])
    n.receive(3, [(4, 1, "b"), (5, 2, "C"), (6, 2, "D")])  # 5 conflicts: truncated there
    assert n.entries() == [(3, 1, "a"), (4, 1, "b"), (5, 2, "C"), (6, 2, "D")]
    n.receive(0, [(1, 1, "x"), (2, 1, "y"), (3, 1, "a")])  # before the buffer: skipped
    n.receive(6, [])  # a heartbeat
    assert [e[0] for e in n.entries()] == [3, 4, 5, 6]
    n.offer((4, 1))
    assert _anchor(n) == (4, 1)
    assert n.replay() == ([(5, 2, "C"), (6, 2, "D")], False)
    n.receive(8, [(9, 2, "E")])  # a gap after 6: restart, floor 8, anchor 4 dropped
    assert (n.entries(), n.floor) == ([(9, 2, "E")], 8)
    assert n.candidates == set()  # (4, 1) is below the floor: forgotten
    assert _anchor(n) is None
    n.offer((7, 2))  # below the floor: ignored (H9 fix)
    assert n.candidates == set()
    blind = NaiveSession(MOSAIK_0_3_13, 2, [(3, 1, "a"), (4, 1, "b")])
    blind.receive(2, [(3, 1, "a"), (4, 1, "b")])  # mosaik appends a re-sent range
    blind.offer((3, 1))
    assert blind.replay() == ([(4, 1, "b"), (4, 1, "b")], True)
