"""Tests of impl.messages: construction and field validation (inventory §3.1)."""

from __future__ import annotations

from dataclasses import FrozenInstanceError, fields
from typing import Any

import pytest

import impl.messages
from impl.errors import InvalidInput, InvalidMessage
from impl.messages import (
    AppendEntries,
    AppendEntriesResponse,
    FetchDataRequest,
    FetchDataResponse,
    LogEntry,
    RequestSnapshot,
    RequestVote,
    RequestVoteResponse,
    SnapshotInfo,
    SnapshotOffer,
    SnapshotRequest,
    TakeSnapshot,
    Vote,
    check_datum,
)
from impl.registry import TAGS, tag_of
from impl.types import U64_MAX, Cursor, Index, ItemRange, PeerId, Term

P = PeerId.from_label("n0")
A = Cursor(Term(2), Index(40))
REQ = SnapshotRequest(P, 1_700_000_000_000)
ENTRY = LogEntry(Term(2), TakeSnapshot(REQ))

VALID: list[Any] = [
    REQ,
    TakeSnapshot(REQ),
    RequestSnapshot(),
    SnapshotInfo(A, 3),
    SnapshotOffer(SnapshotInfo(A, 0)),
    FetchDataRequest(A, ItemRange(0, 2)),
    FetchDataResponse(A, 0, ((1, 10), "x", 7)),
    ENTRY,
    AppendEntries(Term(2), P, A, (ENTRY,), Index(40)),
    AppendEntries(Term(2), P, A, (), Index(0)),
    AppendEntriesResponse(Term(2), Index(41), Vote.GRANTED),
    RequestVote(Term(3), P, A),
    RequestVoteResponse(Term(3), Vote.DENIED),
]


@pytest.mark.parametrize("msg", VALID, ids=lambda m: type(m).__name__)
def test_valid_messages_are_frozen_hashable_and_tagged(msg: Any) -> None:
    field = next((f.name for f in fields(msg)), None)
    assert hash(msg) == hash(msg)
    assert TAGS[tag_of(type(msg))] is type(msg)
    assert tag_of(type(msg)) == type(msg).__name__
    if field is not None:
        with pytest.raises(FrozenInstanceError):
            setattr(msg, field, None)


def test_u64_limits_accepted() -> None:
    assert SnapshotInfo(A, U64_MAX).items_count == U64_MAX
    assert FetchDataResponse(A, U64_MAX, ()).offset == U64_MAX
    assert LogEntry(Term(U64_MAX), 0).term == U64_MAX
    assert SnapshotRequest(P, -(1 << 63)).requested_at_ms == -(1 << 63)
    assert SnapshotRequest(P, (1 << 63) - 1).requested_at_ms == (1 << 63) - 1


def test_vote_values() -> None:
    assert [v.value for v in Vote] == ["granted", "denied", "abstained"]


# -- each rejection names its field -------------------------------------------------------

m: Any = impl.messages  # untyped access: these calls are wrong on purpose

INVALID: list[tuple[str, Any, str]] = [
    ("requested_by", lambda: m.SnapshotRequest(P.raw, 1), "requested_by"),
    ("requested_at_ms bool", lambda: m.SnapshotRequest(P, True), "requested_at_ms"),
    ("requested_at_ms str", lambda: m.SnapshotRequest(P, "now"), "requested_at_ms"),
    ("requested_at_ms > i64", lambda: m.SnapshotRequest(P, 1 << 63), "requested_at_ms"),
    ("requested_at_ms < i64", lambda: m.SnapshotRequest(P, -(1 << 63) - 1), "requested_at_ms"),
    ("take_snapshot", lambda: m.TakeSnapshot(P), "request"),
    ("anchor", lambda: m.SnapshotInfo((2, 40), 1), "anchor"),
    ("items_count", lambda: m.SnapshotInfo(A, -1), "items_count"),
    ("items_count u64", lambda: m.SnapshotInfo(A, U64_MAX + 1), "items_count"),
    ("info", lambda: m.SnapshotOffer(A), "info"),
    ("fetch anchor", lambda: m.FetchDataRequest(None, ItemRange(0, 1)), "anchor"),
    ("fetch range", lambda: m.FetchDataRequest(A, (0, 1)), "range"),
    ("response anchor", lambda: m.FetchDataResponse(40, 0, ()), "anchor"),
    ("response offset", lambda: m.FetchDataResponse(A, -1, ()), "offset"),
    ("response items list", lambda: m.FetchDataResponse(A, 0, [1]), "items"),
    ("response item float", lambda: m.FetchDataResponse(A, 0, (1, 2.5)), "items[1]"),
    ("response nested bool", lambda: m.FetchDataResponse(A, 0, ((1, True),)), "items[0][1]"),
    ("response negative item", lambda: m.FetchDataResponse(A, 0, (-1,)), "items[0]"),
    ("entry term", lambda: m.LogEntry(-1, 0), "term"),
    ("entry term str", lambda: m.LogEntry("2", 0), "term"),
    ("ae term", lambda: m.AppendEntries(-1, P, A, (), Index(0)), "term"),
    ("ae leader", lambda: m.AppendEntries(Term(1), None, A, (), Index(0)), "leader"),
    ("ae prev", lambda: m.AppendEntries(Term(1), P, 3, (), Index(0)), "prev_log_position"),
    ("ae entries list", lambda: m.AppendEntries(Term(1), P, A, [ENTRY], Index(0)), "entries"),
    ("ae entry", lambda: m.AppendEntries(Term(1), P, A, (ENTRY, "x"), Index(0)), "entries[1]"),
    ("ae commit", lambda: m.AppendEntries(Term(1), P, A, (), U64_MAX + 1), "leader_commit"),
    ("aer term", lambda: m.AppendEntriesResponse(1.0, Index(1), Vote.GRANTED), "term"),
    ("aer index", lambda: m.AppendEntriesResponse(Term(1), -1, Vote.GRANTED), "last_log_index"),
    ("aer vote", lambda: m.AppendEntriesResponse(Term(1), Index(1), "granted"), "vote"),
    ("rv term", lambda: m.RequestVote(-2, P, A), "term"),
    ("rv candidate", lambda: m.RequestVote(Term(1), "n0", A), "candidate"),
    ("rv position", lambda: m.RequestVote(Term(1), P, None), "log_position"),
    ("rvr term", lambda: m.RequestVoteResponse(None, Vote.DENIED), "term"),
    ("rvr vote", lambda: m.RequestVoteResponse(Term(1), True), "vote"),
]


@pytest.mark.parametrize(("case", "build", "field"), INVALID, ids=[c[0] for c in INVALID])
def test_invalid_message_field(case: str, build: Any, field: str) -> None:
    with pytest.raises(InvalidMessage) as exc:
        build()
    assert exc.value.field == field, case
    assert isinstance(exc.value, InvalidInput)
    assert repr(field) in str(exc.value)


# -- check_datum --------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, U64_MAX, "", "é", (), (1, ("a", (2,)))])
def test_check_datum_accepts(value: object) -> None:
    check_datum(value, "v")


@pytest.mark.parametrize(
    ("value", "field"),
    [
        (True, "v"),
        (-1, "v"),
        (U64_MAX + 1, "v"),
        (1.0, "v"),
        (None, "v"),
        ([1], "v"),
        ((1, (2, b"x")), "v[1][1]"),
        ({"k": 1}, "v"),
    ],
)
def test_invalid_datum(value: object, field: str) -> None:
    with pytest.raises(InvalidMessage) as exc:
        check_datum(value, "v")
    assert exc.value.field == field
