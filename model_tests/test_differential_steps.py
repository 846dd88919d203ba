"""The log store's and the provider's step differentials (spec/hunt/differential_log.py,
spec/hunt/differential_provider.py).

The reference agrees with both naive models (and mosaik's profile with the provider's,
which follows H7); every check id fails on a deliberate bug monkeypatched into the impl
step it watches, found by the search (a few dozen examples) or, where noted, by the
fixed program that shows it.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test

import impl.provider as provider
from impl.config import Config
from impl.effects import FeedCommand, Ignored, IgnoreReason
from impl.logstore import LogStore, RangeEntry
from impl.messages import SnapshotRequest, TakeSnapshot
from impl.profile import MOSAIK_0_3_13, REFERENCE, Profile
from impl.provider_state import ProviderState
from impl.records import evolve
from impl.types import Cursor, Index, Term
from spec.hunt import differential_log, differential_provider
from spec.hunt.differential import DIFFERENTIAL_MACHINES, differential_class
from spec.hunt.differential_log import NaiveLog
from spec.hunt.differential_provider import PEERS, POSITIONS, NaiveProvider
from spec.hunt.machine import SESSION, HuntFailure


def _run(machine: str, profile: Profile, examples: int) -> None:
    SESSION.__init__()  # type: ignore[misc]
    cls = differential_class(profile, machine)
    run_state_machine_as_test(
        cls,
        settings=settings(
            max_examples=examples,
            stateful_step_count=30,
            suppress_health_check=list(HealthCheck),
            database=None,
            derandomize=True,
            phases=[Phase.generate],  # detection only: shrinking is the hunt's
        ),
    )


def _found(machine: str, examples: int = 200) -> str:
    with pytest.raises(HuntFailure) as info:
        _run(machine, REFERENCE, examples)
    return info.value.finding.id


def test_both_are_differential_machines() -> None:
    assert DIFFERENTIAL_MACHINES["logstore"] == differential_log.__name__
    assert DIFFERENTIAL_MACHINES["provider"] == differential_provider.__name__
    assert differential_class(REFERENCE, "logstore") is differential_log.machine_class(REFERENCE)


@pytest.mark.parametrize(
    ("machine", "profile"),
    [("logstore", REFERENCE), ("provider", REFERENCE), ("provider", MOSAIK_0_3_13)],
)
def test_the_impl_agrees_with_the_naive_model(machine: str, profile: Profile) -> None:
    _run(machine, profile, 150)
    assert SESSION.failures == []
    assert SESSION.rule_steps > 2000


# -- the log store: one deliberate bug per check id --------------------------------------------


def _patch(monkeypatch: pytest.MonkeyPatch, name: str, broken: Any) -> None:
    monkeypatch.setattr(LogStore, name, broken)


def test_append_returning_the_old_end_is_d_log_append(monkeypatch: pytest.MonkeyPatch) -> None:
    original = LogStore.append

    def append(self: LogStore, command: Any, term: int) -> tuple[LogStore, Index]:
        log, index = original(self, command, term)
        return log, Index(index - 1)

    _patch(monkeypatch, "append", append)
    assert _found("logstore") == "D-LOG-APPEND"


def test_truncate_keeping_the_entry_at_at_is_d_log_truncate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    original = LogStore.truncate
    _patch(monkeypatch, "truncate", lambda self, at: original(self, Index(at + 1)))
    assert _found("logstore") == "D-LOG-TRUNCATE"


def test_a_prune_cursor_one_low_is_d_log_prune(monkeypatch: pytest.MonkeyPatch) -> None:
    # The catalogue's log-prune-cursor-off-by-one: _make skips the constructor's check.
    original = LogStore.prune_prefix

    def prune(self: LogStore, up_to: int) -> LogStore:
        log = original(self, up_to)
        if log is self or log.last_pruned is None:
            return log
        cursor = Cursor(log.last_pruned.term, Index(log.offset - 1))
        return log._make(log.entries, log.offset, cursor)

    _patch(monkeypatch, "prune_prefix", prune)
    assert _found("logstore") == "D-LOG-PRUNE"


def test_a_reset_that_keeps_the_entries_is_d_log_reset(monkeypatch: pytest.MonkeyPatch) -> None:
    def reset(self: LogStore, cursor: Cursor) -> LogStore:
        return self._make(self.entries, cursor.index, cursor)

    _patch(monkeypatch, "reset_to", reset)
    assert _found("logstore") == "D-LOG-RESET"


def test_term_at_one_above_the_offset_is_d_log_get(monkeypatch: pytest.MonkeyPatch) -> None:
    original = LogStore.term_at

    def term_at(self: LogStore, index: int) -> Term | None:
        if index == self.offset + 1 and self.last_pruned is not None:
            return self.last_pruned.term
        return original(self, index)

    _patch(monkeypatch, "term_at", term_at)
    assert _found("logstore") == "D-LOG-GET"


def test_get_range_reaching_the_offset_is_d_log_range(monkeypatch: pytest.MonkeyPatch) -> None:
    # The class of the catalogue's log-get-range-includes-offset: a read from at or
    # below the prune offset returns the pruned entry (group runs never read there).
    original = LogStore.get_range

    def below_offset(self: LogStore, start: int, end: int) -> tuple[RangeEntry, ...]:
        got = original(self, start, end)
        if start <= self.offset <= end and self.last_pruned is not None:
            return ((self.last_pruned.term, self.offset, "pruned"), *got)
        return got

    _patch(monkeypatch, "get_range", below_offset)
    assert _found("logstore") == "D-LOG-RANGE"


def test_last_forgetting_the_offset_is_d_log_last(monkeypatch: pytest.MonkeyPatch) -> None:
    original = LogStore.last

    def last(self: LogStore) -> Cursor:
        got = original(self)
        return Cursor(got.term, Index(len(self.entries))) if self.entries else got

    _patch(monkeypatch, "last", last)
    assert _found("logstore") == "D-LOG-LAST"


def test_the_naive_log_at_its_boundaries() -> None:
    m = NaiveLog()
    for term in (1, 1, 2):
        m.append(f"c{term}", term)
    m.prune_prefix(2)
    assert (m.offset, m.last_pruned, m.term_at(2), m.get(2), m.term_at(1)) == (
        2,
        (1, 2),
        1,
        None,
        None,
    )
    assert m.get_range(0, 99) == [(2, 3, "c2")]
    m.truncate(1)  # below the offset: the prefix stays (H18)
    assert (m.stored, m.last()) == ({}, (1, 2))


# -- the provider: one deliberate bug per check id ---------------------------------------------


def _patch_provider(monkeypatch: pytest.MonkeyPatch, name: str, broken: Any) -> None:
    monkeypatch.setattr(differential_provider, name, broken)


def test_an_enqueue_that_replaces_is_d_prov_enqueue(monkeypatch: pytest.MonkeyPatch) -> None:
    def enqueue(p: ProviderState, requests: Any) -> ProviderState:
        added = tuple(requests)
        return evolve(p, requests=added) if added else p

    _patch_provider(monkeypatch, "provider_enqueue", enqueue)
    assert _found("provider") == "D-PROV-ENQUEUE"


def test_expiry_at_exactly_the_ttl_is_d_prov_offer(monkeypatch: pytest.MonkeyPatch) -> None:
    def inclusive(self: Config, request: SnapshotRequest, now_wall_ms: int) -> bool:
        return abs(now_wall_ms - request.requested_at_ms) >= self.snapshot_ttl_ms

    monkeypatch.setattr(Config, "is_expired", inclusive)
    assert _found("provider") == "D-PROV-OFFER"


def test_a_re_offer_that_does_not_revive_is_d_prov_offer(monkeypatch: pytest.MonkeyPatch) -> None:
    original = provider.poll_pending_requests

    def no_revive(p: ProviderState, pctx: Any) -> Any:
        before = p.available
        p, effects, received = original(p, pctx)
        kept = {
            a: evolve(s, deadline_ms=before[a].deadline_ms)
            for a, s in p.available.items()
            if a in before
        }
        return evolve(p, available=p.available.update(kept)), effects, received

    monkeypatch.setattr(provider, "poll_pending_requests", no_revive)
    assert _found("provider") == "D-PROV-OFFER"


def test_pruning_after_the_deadline_is_d_prov_prune(monkeypatch: pytest.MonkeyPatch) -> None:
    original = provider.prune_expired_snapshots
    late = lambda p, now_ms: original(p, now_ms - 1)  # noqa: E731
    _patch_provider(monkeypatch, "prune_expired_snapshots", late)
    monkeypatch.setattr(provider, "prune_expired_snapshots", late)
    assert _found("provider") == "D-PROV-PRUNE"


def test_serving_an_empty_range_is_d_prov_fetch(monkeypatch: pytest.MonkeyPatch) -> None:
    original = provider.on_fetch_data_request

    def serves_empty(p: ProviderState, pctx: Any, sender: Any, request: Any) -> Any:
        p2, effects = original(p, pctx, sender, request)
        if any(isinstance(e, Ignored) and e.reason is IgnoreReason.EMPTY_RANGE for e in effects):
            entry = p.available[request.anchor]
            deadline = pctx.now_ms + pctx.config.snapshot_ttl_ms
            p2 = evolve(
                p, available=p.available.set(request.anchor, evolve(entry, deadline_ms=deadline))
            )
        return p2, effects

    _patch_provider(monkeypatch, "on_fetch_data_request", serves_empty)
    assert _found("provider") == "D-PROV-FETCH"


def test_a_request_fed_at_a_follower_is_d_prov_request(monkeypatch: pytest.MonkeyPatch) -> None:
    def always_feeds(p: ProviderState, pctx: Any, request: Any) -> Any:
        return p, (FeedCommand(TakeSnapshot(request)),)

    monkeypatch.setattr(provider, "on_snapshot_request", always_feeds)
    assert _found("provider") == "D-PROV-REQUEST"


def test_a_next_deadline_ignoring_requests_is_d_prov_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def ignores_requests(p: ProviderState) -> int | None:
        return min((a.deadline_ms for a in p.available.values()), default=None)

    _patch_provider(monkeypatch, "provider_next_deadline", ignores_requests)
    assert _found("provider") == "D-PROV-DEADLINE"


def test_the_naive_provider_follows_h7() -> None:
    from impl.collections.base import PendingRequest
    from impl.messages import SnapshotRequest
    from spec.hunt.differential_provider import snapshot_of

    for h7, served in ((False, False), (True, True)):
        m = NaiveProvider(Config(fetch_batch_size=2, snapshot_ttl_ms=5), h7)
        m.enqueue([PendingRequest(SnapshotRequest(PEERS[0], 0), POSITIONS[0], snapshot_of((1, 2)))])
        m.poll(now=10, wall=0)
        got = m.fetch(PEERS[0], POSITIONS[0], 0, 1, now=15)  # exactly at the deadline
        assert (len(got) == 2) is served


@pytest.mark.parametrize("module", [differential_log, differential_provider])
def test_every_id_has_its_invariant(module: Any) -> None:
    cls = module.machine_class(REFERENCE)
    for ident in module.DIFF_IDS:
        assert callable(getattr(cls, ident.lower().replace("-", "_"), None)), ident


def test_a_budget_that_ends_mid_example_does_not_stop_a_differential_rule() -> None:
    """A Stop raised inside Hypothesis's run is replayed as a failure and stops the replay
    elsewhere: ``FlakyStrategyDefinition``, an ERROR row in one check of four while rules
    were stop points. The budget must end between calls, never inside a rule."""
    from spec.hunt.differential import differential_class
    from spec.robust.stop import deadline, reset

    for machine in ("collections", "logstore", "provider", "session"):
        m = differential_class(REFERENCE, machine)()
        try:
            with deadline(0.0):  # already over: a stop point here would raise Stop
                m._count("a rule")  # type: ignore[attr-defined]
        finally:
            reset()
        assert m.program == ["a rule"]  # type: ignore[attr-defined]
