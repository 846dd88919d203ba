"""Tests of impl.config: defaults, builders, validation and is_expired (mosaik sync/mod.rs)."""

from __future__ import annotations

from dataclasses import FrozenInstanceError

import pytest
from hypothesis import given
from hypothesis import strategies as st

from impl.config import Config
from impl.errors import InvalidInput
from impl.messages import SnapshotRequest
from impl.types import U64_MAX, PeerId

U128_MAX = (1 << 128) - 1
PEER = PeerId(bytes(32))


def req(at_ms: int) -> SnapshotRequest:
    return SnapshotRequest(PEER, requested_at_ms=at_ms)


def test_defaults_are_mosaiks() -> None:
    # mod.rs:254-263: 2000 items, 10 s, 15 s, 5 s.
    c = Config()
    assert c.fetch_batch_size == 2000
    assert c.snapshot_ttl_ms == 10_000
    assert c.snapshot_request_timeout_ms == 15_000
    assert c.fetch_timeout_ms == 5_000


def test_builders_set_one_field_and_leave_the_original() -> None:
    base = Config()
    cases = [
        (base.with_fetch_batch_size(7), "fetch_batch_size", 7),
        (base.with_snapshot_ttl(1), "snapshot_ttl_ms", 1),
        (base.with_snapshot_request_timeout(2), "snapshot_request_timeout_ms", 2),
        (base.with_fetch_timeout(3), "fetch_timeout_ms", 3),
    ]
    for changed, name, value in cases:
        assert getattr(changed, name) == value
        for other in ("fetch_batch_size", "snapshot_ttl_ms", "snapshot_request_timeout_ms"):
            if other != name:
                assert getattr(changed, other) == getattr(base, other)
        assert changed is not base
    assert base == Config()


def test_config_is_frozen() -> None:
    with pytest.raises(FrozenInstanceError):
        Config().fetch_batch_size = 1  # type: ignore[misc]


def test_limits_accepted() -> None:
    c = Config(U64_MAX, U128_MAX, U128_MAX, U128_MAX)
    assert c.fetch_batch_size == U64_MAX
    assert Config(1, 0, 0, 0).snapshot_ttl_ms == 0


@pytest.mark.parametrize(
    ("field", "bad"),
    [
        ("fetch_batch_size", 0),  # spec decision: a zero batch can never make progress
        ("fetch_batch_size", -1),
        ("fetch_batch_size", U64_MAX + 1),
        ("fetch_batch_size", 2.0),
        ("fetch_batch_size", True),
        ("snapshot_ttl_ms", -1),
        ("snapshot_ttl_ms", U128_MAX + 1),
        ("snapshot_ttl_ms", "10s"),
        ("snapshot_request_timeout_ms", -5),
        ("snapshot_request_timeout_ms", None),
        ("fetch_timeout_ms", -1),
        ("fetch_timeout_ms", 1.5),
    ],
)
def test_invalid_config_values(field: str, bad: object) -> None:
    with pytest.raises(InvalidInput, match=f"Config.{field}"):
        Config(**{field: bad})  # type: ignore[arg-type]


def test_invalid_builder_value() -> None:
    with pytest.raises(InvalidInput, match="fetch_batch_size"):
        Config().with_fetch_batch_size(0)
    with pytest.raises(InvalidInput, match="snapshot_ttl_ms"):
        Config().with_snapshot_ttl(-1)


# -- is_expired: |now - requested_at| > ttl (mod.rs:239-251, H8) -------------------------


def test_is_expired_boundary_in_the_past() -> None:
    c = Config()  # ttl 10 000 ms
    assert not c.is_expired(req(1_000), 1_000)
    assert not c.is_expired(req(1_000), 11_000)  # exactly ttl old: still served
    assert c.is_expired(req(1_000), 11_001)


def test_is_expired_future_stamp_uses_the_absolute_difference() -> None:
    # mosaik takes .abs() before to_std(), so its "future => expired" branch is dead:
    # a stamp up to ttl in the future (clock skew) is served, beyond that it is not.
    c = Config()
    assert not c.is_expired(req(11_000), 1_000)
    assert c.is_expired(req(11_001), 1_000)
    assert not c.is_expired(req(1), 0)


def test_is_expired_zero_ttl_only_same_millisecond() -> None:
    c = Config().with_snapshot_ttl(0)
    assert not c.is_expired(req(5), 5)
    assert c.is_expired(req(5), 6)
    assert c.is_expired(req(5), 4)


def test_is_expired_negative_and_large_stamps() -> None:
    c = Config()
    assert not c.is_expired(req(-5_000), 5_000)
    assert c.is_expired(req(-(1 << 63)), 0)


def mutant_is_expired(config: Config, request: SnapshotRequest, now: int) -> bool:
    """A plausible mistake: ``>=`` instead of ``>`` and no abs (future stamps never expire)."""
    return now - request.requested_at_ms >= config.snapshot_ttl_ms


def test_boundary_checks_distinguish_the_mutant() -> None:
    c = Config()
    points = [(1_000, 11_000), (11_001, 1_000)]
    assert [c.is_expired(req(a), n) for a, n in points] != [
        mutant_is_expired(c, req(a), n) for a, n in points
    ]


@given(st.integers(-(1 << 40), 1 << 40), st.integers(-(1 << 40), 1 << 40), st.integers(0, 1 << 20))
def test_is_expired_is_symmetric_and_monotonic(at: int, now: int, ttl: int) -> None:
    c = Config().with_snapshot_ttl(ttl)
    expired = c.is_expired(req(at), now)
    assert expired == c.is_expired(req(now), at)
    # Further from the stamp, in either direction, stays expired.
    step = 1 if now >= at else -1
    if expired:
        assert c.is_expired(req(at), now + step)
    # Closer to the stamp (by the whole ttl margin) is never expired.
    assert not c.is_expired(req(at), at + step * min(abs(now - at), ttl))
