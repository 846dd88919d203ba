"""Tests of impl.codec: canonical JSON for messages, effects and state records."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pyrsistent import PMap, PVector, pmap, pvector

from impl import codec
from impl.codec import (
    DATUM,
    EncodeError,
    decode,
    decode_tagged,
    dumps,
    encode,
    encode_tagged,
    loads,
)
from impl.collections import COLLECTIONS
from impl.effects import (
    AppendLog,
    ArmTimer,
    Broadcast,
    CancelTimer,
    Effect,
    FeedCommand,
    Ignored,
    IgnoreReason,
    InstallSnapshot,
    ResetLog,
    Send,
    SetCommitted,
    TimerId,
    TimerKind,
)
from impl.errors import CodecError
from impl.ids import UniqueId
from impl.logstore import LogStore
from impl.messages import (
    AppendEntries,
    AppendEntriesResponse,
    FetchDataRequest,
    FetchDataResponse,
    LogEntry,
    Message,
    RequestSnapshot,
    RequestVote,
    RequestVoteResponse,
    SnapshotInfo,
    SnapshotOffer,
    SnapshotRequest,
    TakeSnapshot,
    Vote,
)
from impl.profile import MOSAIK_0_3_13, Hazard, Profile
from impl.registry import TAGS
from impl.types import U64_MAX, Cursor, Index, ItemRange, PeerId, Term

DOC = Path(__file__).resolve().parent.parent / "docs" / "formats" / "json.md"

P0 = PeerId.from_label("n0")
P1 = PeerId.from_label("n1")

# -- strategies ---------------------------------------------------------------------------

u64 = st.integers(0, U64_MAX)
terms = u64.map(Term)
indices = u64.map(Index)
peers = st.binary(min_size=32, max_size=32).map(PeerId)
cursors = st.builds(Cursor, terms, indices)
ranges = st.tuples(u64, u64).map(lambda ab: ItemRange(min(ab), max(ab)))
data: st.SearchStrategy[Any] = st.recursive(
    u64 | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3).map(tuple),
    max_leaves=8,
)
requests = st.builds(SnapshotRequest, peers, st.integers(-(1 << 63), (1 << 63) - 1))
commands: st.SearchStrategy[Any] = st.one_of(st.builds(TakeSnapshot, requests), data)
entries = st.builds(LogEntry, terms, commands)

SYNC_MESSAGES: dict[type, st.SearchStrategy[Any]] = {
    RequestSnapshot: st.just(RequestSnapshot()),
    SnapshotOffer: st.builds(SnapshotOffer, st.builds(SnapshotInfo, cursors, u64)),
    FetchDataRequest: st.builds(FetchDataRequest, cursors, ranges),
    FetchDataResponse: st.builds(
        FetchDataResponse, cursors, u64, st.lists(data, max_size=4).map(tuple)
    ),
}
RAFT_MESSAGES: dict[type, st.SearchStrategy[Any]] = {
    AppendEntries: st.builds(
        AppendEntries, terms, peers, cursors, st.lists(entries, max_size=3).map(tuple), indices
    ),
    AppendEntriesResponse: st.builds(AppendEntriesResponse, terms, indices, st.sampled_from(Vote)),
    RequestVote: st.builds(RequestVote, terms, peers, cursors),
    RequestVoteResponse: st.builds(RequestVoteResponse, terms, st.sampled_from(Vote)),
}
snapshots: st.SearchStrategy[Any] = st.builds(
    lambda kind, items: COLLECTIONS[kind].empty_snapshot().append(items),
    st.sampled_from(["vec", "set"]),
    st.lists(data, max_size=4),
)
"""Collection snapshots (their forms: model_tests/test_forms.py)."""
messages: st.SearchStrategy[Any] = st.one_of(*SYNC_MESSAGES.values(), *RAFT_MESSAGES.values())
timer_ids = st.builds(TimerId, st.sampled_from(TimerKind), st.none() | peers, st.none() | cursors)
EFFECTS: dict[type, st.SearchStrategy[Any]] = {
    Send: st.builds(Send, peers, messages),
    Broadcast: st.builds(Broadcast, messages),
    FeedCommand: st.builds(FeedCommand, commands),
    InstallSnapshot: st.builds(InstallSnapshot, snapshots),
    ResetLog: st.builds(ResetLog, cursors),
    SetCommitted: st.builds(SetCommitted, cursors),
    AppendLog: st.builds(AppendLog, st.lists(entries, max_size=3).map(tuple)),
    ArmTimer: st.builds(ArmTimer, timer_ids, st.integers(0, U64_MAX)),
    CancelTimer: st.builds(CancelTimer, timer_ids),
    Ignored: st.builds(Ignored, st.sampled_from(IgnoreReason), st.text(max_size=12)),
}
effects: st.SearchStrategy[Any] = st.one_of(*EFFECTS.values())


@st.composite
def log_stores(draw: st.DrawFn) -> LogStore:
    log = LogStore()
    if draw(st.booleans()):
        log = log.reset_to(draw(st.builds(Cursor, st.integers(0, 9), st.integers(0, 9))))
    for entry in draw(st.lists(entries, max_size=4)):
        log = log.append(entry.command, entry.term)[0]
    return log.prune_prefix(Index(draw(st.integers(0, 12))))


RECORDS: dict[type, st.SearchStrategy[Any]] = {
    **SYNC_MESSAGES,
    **RAFT_MESSAGES,
    **EFFECTS,
    SnapshotRequest: requests,
    TakeSnapshot: st.builds(TakeSnapshot, requests),
    SnapshotInfo: st.builds(SnapshotInfo, cursors, u64),
    LogEntry: entries,
    TimerId: timer_ids,
    LogStore: log_stores(),
}
"""One strategy per registered foundation record type."""


def round_trips(value: object) -> None:
    """Assert every route through the codec gives ``value`` back, canonically."""
    text = dumps(value)
    assert loads(text) == value
    assert decode_tagged(encode_tagged(value)) == value
    assert decode(encode(value), type(value)) == value
    # Canonical: sorted keys, no whitespace; re-encoding the decoded value is byte-identical.
    parsed = json.loads(text)
    assert text == json.dumps(parsed, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert dumps(loads(text)) == text


# -- round trips: every message, effect and foundation record ---------------------------


def test_every_foundation_record_has_a_strategy() -> None:
    foundation = {"impl.messages", "impl.effects", "impl.logstore"}
    registered = {cls for cls in TAGS.values() if cls.__module__ in foundation}
    assert registered == set(RECORDS)


@pytest.mark.parametrize("cls", list(RECORDS), ids=lambda c: c.__name__)
@given(draw=st.data())
def test_record_round_trips(cls: type, draw: st.DataObject) -> None:
    value = draw.draw(RECORDS[cls])
    assert type(value) is cls
    round_trips(value)


@given(messages)
def test_message_union_round_trips(msg: Any) -> None:
    assert decode(encode(msg, Message), Message) == msg


@given(effects)
def test_effect_union_round_trips(effect: Any) -> None:
    assert decode(encode(effect, Effect), Effect) == effect


@given(data)
def test_datum_round_trips(value: Any) -> None:
    assert decode(encode(value, DATUM), DATUM) == value


# -- the forms ---------------------------------------------------------------------------


def test_forms_of_domain_types() -> None:
    assert encode(Cursor(Term(2), Index(5))) == {"term": 2, "index": 5}
    assert encode(ItemRange(3, 7)) == {"start": 3, "end": 7}
    assert encode(P0) == P0.hex()
    assert encode(UniqueId(bytes(range(32)))) == bytes(range(32)).hex()
    assert encode(Vote.ABSTAINED) == "abstained"
    assert encode(b"\x00\xff") == "00ff"
    assert encode(Term(7), Term) == 7
    assert encode(None, type(None)) is None


def test_record_is_untagged_where_its_type_is_fixed_and_tagged_otherwise() -> None:
    offer = SnapshotOffer(SnapshotInfo(Cursor(Term(1), Index(4)), 10))
    # SnapshotOffer.info is typed SnapshotInfo: plain object.
    assert encode(offer) == {"info": {"anchor": {"term": 1, "index": 4}, "items_count": 10}}
    # Send.message is typed Message (a union): tagged.
    assert encode(Send(P0, offer))["message"]["type"] == "SnapshotOffer"
    # LogEntry.command is typed Command (object): a record is tagged, a datum is plain.
    req = SnapshotRequest(P0, 5)
    assert encode(LogEntry(Term(1), TakeSnapshot(req)))["command"]["type"] == "TakeSnapshot"
    assert encode(LogEntry(Term(1), (1, "k")))["command"] == [1, "k"]


def test_dumps_is_canonical_bytes() -> None:
    text = dumps(FetchDataResponse(Cursor(Term(1), Index(2)), 0, ("é", 3)))
    assert text == (
        '{"anchor":{"index":2,"term":1},"items":["é",3],"offset":0,"type":"FetchDataResponse"}'
    )


def test_frozenset_order_is_canonical() -> None:
    hazards = list(Hazard)
    a = Profile("p", frozenset(hazards))
    b = Profile("p", frozenset(reversed(hazards)))
    assert dumps(a) == dumps(b)
    assert encode(MOSAIK_0_3_13)["hazards"] == sorted(h.value for h in Hazard)
    assert decode(encode(MOSAIK_0_3_13), Profile) == MOSAIK_0_3_13


@dataclass(frozen=True, slots=True)
class Sample:
    """An untagged test record exercising the container forms (not registered)."""

    flag: bool
    count: int
    blob: bytes
    peers: frozenset[PeerId]
    pair: tuple[int, str]
    table: PMap[str, Cursor]
    history: PVector[Index]
    maybe: Cursor | None


SAMPLE = Sample(
    flag=True,
    count=-5,
    blob=b"\x01\x02",
    peers=frozenset({P1, P0}),
    pair=(3, "x"),
    table=pmap({"b": Cursor(Term(1), Index(1)), "a": Cursor(Term(2), Index(2))}),
    history=pvector([Index(3), Index(1)]),
    maybe=None,
)


def test_container_forms() -> None:
    data = encode(SAMPLE)
    assert data["peers"] == sorted([P0.hex(), P1.hex()])
    assert data["pair"] == [3, "x"]
    assert data["table"] == [["a", {"term": 2, "index": 2}], ["b", {"term": 1, "index": 1}]]
    assert data["history"] == [3, 1]
    assert data["blob"] == "0102"
    assert data["maybe"] is None
    back = decode(data, Sample)
    assert back == SAMPLE
    assert isinstance(back.table, PMap)
    assert isinstance(back.history, PVector)


def test_pmap_canonical_regardless_of_insertion_order() -> None:
    a = replace(SAMPLE, table=pmap({"a": Cursor.zero(), "b": Cursor.zero()}))
    b = replace(SAMPLE, table=pmap({"b": Cursor.zero(), "a": Cursor.zero()}))
    assert dumps(a) == dumps(b)


def test_datum_accepts_messages_datum_alias() -> None:
    from impl.messages import Datum

    assert decode([1, ["a"]], Datum) == (1, ("a",))


def test_doc_examples_decode_and_are_canonical() -> None:
    """Every ```json block in docs/formats/json.md is a tagged record in canonical form."""
    blocks = re.findall(r"```json\n(.*?)\n```", DOC.read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 10
    for block in blocks:
        value = loads(block)
        assert dumps(value) == block, block


def test_doc_lists_every_enum_value() -> None:
    text = DOC.read_text(encoding="utf-8")
    missing = [
        f"{e.__name__}.{m.name}"
        for e in (Vote, TimerKind, IgnoreReason)
        for m in e
        if f"`{m.value}`" not in text
    ]
    assert missing == []


def test_doc_covers_every_foundation_tag() -> None:
    text = DOC.read_text(encoding="utf-8")
    foundation = {"impl.messages", "impl.effects", "impl.logstore"}
    tags = sorted(t for t, cls in TAGS.items() if cls.__module__ in foundation)
    assert len(tags) >= 20
    missing = [t for t in tags if f"`{t}`" not in text]
    assert missing == []


# -- a lossy codec is caught by the round-trip check -------------------------------------


def test_round_trip_check_catches_a_lossy_datum_decoder(monkeypatch: pytest.MonkeyPatch) -> None:
    value = FetchDataResponse(Cursor(Term(1), Index(1)), 0, ((1, 2),))
    round_trips(value)
    # Mutant: a datum array loses its last element on the way in.
    original = codec._Datum.dec

    def lossy(self: Any, data: Any, path: str) -> object:
        out = original(self, data, path)
        return out[:-1] if isinstance(out, tuple) and len(out) > 1 else out

    monkeypatch.setattr(codec._Datum, "dec", lossy)
    with pytest.raises(AssertionError):
        round_trips(value)


# -- rejections: each names the offending field ------------------------------------------


def field_of(exc: pytest.ExceptionInfo[CodecError] | pytest.ExceptionInfo[EncodeError]) -> str:
    return exc.value.field


def ae_json(**overrides: Any) -> dict[str, Any]:
    entry = {"term": 1, "command": 7}
    base: dict[str, Any] = {
        "type": "AppendEntries",
        "term": 1,
        "leader": P0.hex(),
        "prev_log_position": {"term": 1, "index": 3},
        "entries": [dict(entry), dict(entry), dict(entry)],
        "leader_commit": 3,
    }
    base.update(overrides)
    return base


def test_valid_ae_json_decodes() -> None:
    ae = decode_tagged(ae_json())
    assert isinstance(ae, AppendEntries)
    assert ae.entries[2] == LogEntry(Term(1), 7)


def test_invalid_nested_term_out_of_u64() -> None:
    doc = ae_json()
    doc["entries"][2]["term"] = U64_MAX + 1
    with pytest.raises(CodecError, match="u64") as exc:
        decode_tagged(doc)
    assert field_of(exc) == "entries[2].term"


def test_invalid_negative_index() -> None:
    with pytest.raises(CodecError) as exc:
        decode_tagged(ae_json(leader_commit=-1))
    assert field_of(exc) == "leader_commit"


def test_invalid_wrong_json_type() -> None:
    with pytest.raises(CodecError, match="expected an integer, got string") as exc:
        decode_tagged(ae_json(term="1"))
    assert field_of(exc) == "term"
    with pytest.raises(CodecError, match="expected an array") as exc:
        decode_tagged(ae_json(entries={}))
    assert field_of(exc) == "entries"
    with pytest.raises(CodecError, match="expected an object") as exc:
        decode_tagged(ae_json(prev_log_position=[1, 3]))
    assert field_of(exc) == "prev_log_position"


def test_invalid_boolean_or_float_for_integer() -> None:
    with pytest.raises(CodecError, match="got boolean") as exc:
        decode_tagged(ae_json(term=True))
    assert field_of(exc) == "term"
    with pytest.raises(CodecError, match="got number") as exc:
        loads(json.dumps(ae_json(leader_commit=3.0)))
    assert field_of(exc) == "leader_commit"


def test_invalid_missing_field() -> None:
    doc = ae_json()
    del doc["entries"][1]["command"]
    with pytest.raises(CodecError, match="missing field") as exc:
        decode_tagged(doc)
    assert field_of(exc) == "entries[1].command"


def test_invalid_extra_field() -> None:
    with pytest.raises(CodecError, match="unexpected field") as exc:
        decode_tagged(ae_json(nonce=1))
    assert field_of(exc) == "nonce"


def test_invalid_unknown_tag() -> None:
    with pytest.raises(CodecError, match="unknown record tag") as exc:
        decode_tagged({"type": "InstallSnapshotRequest"})
    assert field_of(exc) == "type"


def test_invalid_missing_or_non_string_tag() -> None:
    with pytest.raises(CodecError, match="missing record tag") as exc:
        loads('{"term": 1}')
    assert field_of(exc) == "type"
    with pytest.raises(CodecError, match="tag string") as exc:
        decode_tagged({"type": 3})
    assert field_of(exc) == "type"


def test_invalid_tag_outside_the_union() -> None:
    doc = {"type": "Send", "to": P0.hex(), "message": {"type": "ResetLog", "cursor": {}}}
    with pytest.raises(CodecError, match="not allowed here") as exc:
        decode_tagged(doc)
    assert field_of(exc) == "message.type"
    with pytest.raises(CodecError, match="not allowed here"):
        decode_tagged({"type": "RequestSnapshot"}, allowed=(SnapshotOffer,))


def test_invalid_tagged_value_where_untagged_expected() -> None:
    data = {"type": "SnapshotInfo", "anchor": {"term": 1, "index": 1}, "items_count": 1}
    with pytest.raises(CodecError, match="unexpected field") as exc:
        decode({"info": data}, SnapshotOffer)
    assert field_of(exc) == "info.type"


def test_invalid_hex() -> None:
    for bad, reason in [
        ("zz" * 32, "not lowercase hex"),
        (P0.hex().upper(), "not lowercase hex"),
        (P0.hex()[:-2], "expected 64 hex digits"),
        (" " + P0.hex()[1:], "not lowercase hex"),
    ]:
        with pytest.raises(CodecError, match=reason) as exc:
            decode_tagged(ae_json(leader=bad))
        assert field_of(exc) == "leader"
    with pytest.raises(CodecError, match="odd number"):
        decode("abc", bytes)
    with pytest.raises(CodecError, match="expected a hex string"):
        decode(7, UniqueId)


def test_invalid_inverted_or_negative_range() -> None:
    doc = {"type": "FetchDataRequest", "anchor": {"term": 1, "index": 1}, "range": {}}
    doc["range"] = {"start": 5, "end": 2}
    with pytest.raises(CodecError, match="end is before start") as exc:
        decode_tagged(doc)
    assert field_of(exc) == "range"
    doc["range"] = {"start": -1, "end": 2}
    with pytest.raises(CodecError, match="negative bound") as exc:
        decode_tagged(doc)
    assert field_of(exc) == "range"


def test_invalid_constructor_rejection_names_the_field() -> None:
    doc = {"info": {"anchor": {"term": 1, "index": 1}, "items_count": -1}}
    with pytest.raises(CodecError, match="u64") as exc:
        decode(doc, SnapshotOffer)
    assert field_of(exc) == "info.items_count"


def test_invalid_plain_int_out_of_range() -> None:
    doc: dict[str, Any] = {
        "type": "ArmTimer",
        "timer": {"kind": "election", "peer": None, "anchor": None},
        "deadline_ms": 1 << 64,
    }
    with pytest.raises(CodecError, match="out of i64/u64 range") as exc:
        decode_tagged(doc)
    assert field_of(exc) == "deadline_ms"


def test_invalid_enum_value() -> None:
    with pytest.raises(CodecError, match="unknown Vote value") as exc:
        decode_tagged({"type": "RequestVoteResponse", "term": 1, "vote": "yes"})
    assert field_of(exc) == "vote"
    with pytest.raises(CodecError, match="TimerKind") as exc:
        decode({"kind": None, "peer": None, "anchor": None}, TimerId)
    assert field_of(exc) == "kind"


def test_invalid_datum() -> None:
    base = {"type": "FetchDataResponse", "anchor": {"term": 1, "index": 1}, "offset": 0}
    for bad, reason in [
        (True, "got boolean"),
        (1.5, "got number"),
        (None, "got null"),
        ({"k": 1}, "got object"),
        (-1, "out of u64 range"),
        (1 << 64, "out of u64 range"),
    ]:
        with pytest.raises(CodecError, match=reason) as exc:
            decode_tagged({**base, "items": [1, [2, bad]]})
        assert field_of(exc) == "items[1][1]"


def test_invalid_command_neither_record_nor_datum() -> None:
    with pytest.raises(CodecError, match="got null") as exc:
        decode_tagged({"type": "FeedCommand", "command": None})
    assert field_of(exc) == "command"


def test_invalid_set_and_map_shapes() -> None:
    data = encode(SAMPLE)
    with pytest.raises(CodecError, match="duplicate set element") as exc:
        decode({**data, "peers": [P0.hex(), P0.hex()]}, Sample)
    assert field_of(exc) == "peers[1]"
    with pytest.raises(CodecError, match="duplicate map key") as exc:
        decode({**data, "table": [["a", {"term": 0, "index": 0}]] * 2}, Sample)
    assert field_of(exc) == "table[1][0]"
    with pytest.raises(CodecError, match="pair") as exc:
        decode({**data, "table": [["a"]]}, Sample)
    assert field_of(exc) == "table[0]"
    with pytest.raises(CodecError, match="length 2") as exc:
        decode({**data, "pair": [1, "a", 2]}, Sample)
    assert field_of(exc) == "pair"


def test_invalid_json_text() -> None:
    cases: list[tuple[str | bytes, str]] = [
        ("{", "invalid JSON"),
        ('{"type":"RequestSnapshot","type":"RequestSnapshot"}', "duplicate key"),
        ("[NaN]", "NaN"),
        ("[Infinity]", "Infinity"),
        ("[1e999]", "overflows"),
        (b"\xff", "invalid JSON"),
    ]
    for text, reason in cases:
        with pytest.raises(CodecError, match=reason) as exc:
            loads(text, DATUM)
        assert field_of(exc) == ""


def test_invalid_encode_inputs() -> None:
    # Records without validation can still hold a bad value; encoding names it.
    with pytest.raises(EncodeError, match="registered record or a datum, got float") as exc:
        encode(AppendLog((LogEntry(Term(1), 1.5),)))
    assert str(exc.value).startswith("cannot encode entries[0].command")
    assert field_of(exc) == "entries[0].command"
    with pytest.raises(EncodeError, match="not one of") as exc:
        encode(Send(P0, LogEntry(Term(1), 1)))  # type: ignore[arg-type]
    assert field_of(exc) == "message"
    with pytest.raises(EncodeError, match="not a registered record"):
        encode_tagged(Cursor.zero())
    with pytest.raises(EncodeError, match="u64"):
        encode(-1, Term)
    with pytest.raises(EncodeError, match="expected a bool"):
        encode(1, bool)


def test_invalid_unsupported_annotation() -> None:
    with pytest.raises(CodecError, match="unsupported"):
        decode({}, dict[str, int])
    with pytest.raises(CodecError, match="unsupported union"):
        decode(1, int | str)


def test_invalid_log_store_invariants() -> None:
    # The decoded value goes through the constructor, so its invariants are enforced.
    with pytest.raises(CodecError, match="no last_pruned") as exc:
        decode({"entries": [], "offset": 3, "last_pruned": None}, LogStore)
    assert field_of(exc) == ""
    doc = {"type": "LogStore", "entries": [], "offset": 3, "last_pruned": {"term": 1, "index": 2}}
    with pytest.raises(CodecError, match="not at offset"):
        decode_tagged(doc)
    doc = {"type": "LogStore", "entries": [{"term": -1, "command": 1}], "offset": 0}
    doc["last_pruned"] = None
    with pytest.raises(CodecError) as exc:
        decode_tagged(doc)
    assert field_of(exc) == "entries[0].term"
