"""Tests of impl.forms: the JSON forms of every state and context record.

Every record type round-trips (Hypothesis): decode(encode(x)) == x, the tagged text
re-encodes byte for byte, and the states a real model run reaches do too. Decoding
validates: items out of canonical order, kinds that do not match, and
representations no state of the reference can hold are rejected with a path.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyrsistent import pmap, pvector

import impl.forms as forms
from impl import codec
from impl.codec import EncodeError, decode, dumps, encode, encode_tagged, loads
from impl.collections import COLLECTIONS
from impl.collections.base import ApplyContext, PendingRequest
from impl.collections.depq import DepqMachine
from impl.collections.encoding import encode as postcard
from impl.collections.encoding import mosaik_wrapped
from impl.collections.map import MAP, MapInsert, MapSnapshot, MapState
from impl.config import Config
from impl.effects import InstallSnapshot
from impl.errors import CodecError
from impl.forms import STATE_TYPES, check_kind, collection_types
from impl.logstore import LogStore
from impl.messages import SnapshotInfo, SnapshotRequest
from impl.node_state import (
    CandidateRole,
    Committee,
    FollowerRole,
    LeaderRole,
    NodeContext,
    NodeState,
    Preference,
)
from impl.profile import MOSAIK_0_3_13, PROFILES, REFERENCE, Behaviour, Hazard, Profile
from impl.provider_state import AvailableSnapshot, ProviderContext, ProviderState
from impl.registry import TAGS
from impl.session_state import (
    BufferedEntry,
    Candidate,
    PendingFetch,
    SessionContext,
    SessionState,
)
from impl.types import U64_MAX, Cursor, ItemRange, PeerId
from model_tests.test_codec import commands, cursors, data, indices, log_stores, peers, terms
from spec.model.actions import ACTIONS, initial_world, node_context
from spec.sim.trace import TraceReader, decode_args, setup_from_header

FINDINGS = Path(__file__).resolve().parent.parent / "docs" / "findings"

u64 = st.integers(0, U64_MAX)
small = st.integers(0, 50)
wall = st.integers(-(1 << 63), (1 << 63) - 1)
kinds = st.sampled_from(sorted(COLLECTIONS))
profiles = st.sampled_from(sorted(PROFILES.values(), key=lambda p: p.name)) | st.builds(
    lambda hs: REFERENCE.with_hazards(hs), st.sets(st.sampled_from(list(Hazard)))
)
configs = st.builds(Config, st.integers(1, U64_MAX), u64, u64, u64)
peer_sets = st.frozensets(peers, max_size=4)


# -- strategies: collections -------------------------------------------------------------------

map_items = st.lists(st.tuples(data, data), max_size=6)
depq_items = st.lists(st.tuples(data, data, data), max_size=6)
ITEMS: dict[str, st.SearchStrategy[list[Any]]] = {
    "map": map_items,
    "vec": st.lists(data, max_size=6),
    "set": st.lists(data, max_size=6),
    "depq": depq_items,
    "cell": st.lists(data, max_size=2),
    "once": st.lists(data, max_size=2),
}


def snapshots_of(kind: str) -> st.SearchStrategy[Any]:
    """Snapshots of ``kind`` built the way a session builds one (append), any profile."""
    machine = COLLECTIONS[kind]
    return st.builds(
        lambda items, p: machine.empty_snapshot(p).append(items), ITEMS[kind], profiles
    )


def states_of(kind: str) -> st.SearchStrategy[Any]:
    """States of ``kind``: the install of an appended snapshot (every reachable shape)."""
    machine = COLLECTIONS[kind]
    return st.builds(
        lambda items: machine.install_snapshot(
            machine.initial(), machine.empty_snapshot().append(items)
        ),
        ITEMS[kind],
    )


any_snapshot = kinds.flatmap(snapshots_of)
any_state = kinds.flatmap(states_of)


# -- strategies: records -------------------------------------------------------------------------


def pmaps(keys: st.SearchStrategy[Any], values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.dictionaries(keys, values, max_size=3).map(pmap)


pending_fetches = st.builds(
    PendingFetch, st.tuples(u64, u64).map(lambda ab: ItemRange(min(ab), max(ab))), u64
)
requests = st.builds(
    PendingRequest,
    st.builds(SnapshotRequest, peers, wall),
    cursors,
    any_snapshot,
)


@st.composite
def sessions(draw: st.DrawFn, kind: str | None = None) -> SessionState:
    """A session state that satisfies the representation checks (not the invariants)."""
    kind = kind if kind is not None else draw(kinds)
    anchor = draw(st.none() | cursors)
    snapshot_len = draw(small) if anchor is not None else 0
    gap_start = draw(st.integers(0, 2 * snapshot_len)) if anchor is not None else None
    gap_end = snapshot_len if anchor is not None else None
    candidates = {
        c: (SnapshotInfo(c, draw(u64)), draw(peer_sets))
        for c in draw(st.lists(cursors, max_size=3, unique=True))
    }
    fetched = {}
    for start in draw(st.lists(small, max_size=3, unique=True)):
        items = tuple(draw(st.lists(data, max_size=3)))
        fetched[start] = (start + len(items), items)
    return SessionState(
        leader=draw(peers),
        trigger_position=draw(u64),
        anchor=anchor,
        snapshot_len=snapshot_len,
        gap_start=gap_start,
        gap_end=gap_end,
        anchor_candidates=pmap(candidates),
        buffered=pvector(draw(st.lists(st.tuples(indices, terms, commands), max_size=3))),
        terminations=tuple(draw(st.lists(peers, max_size=3))),
        known_bonds=draw(peer_sets),
        available_peers=draw(peer_sets),
        inflight=draw(pmaps(peers, pending_fetches)),
        fetched=pmap(fetched),
        accumulated=draw(snapshots_of(kind)),
        snapshot_request_deadline_ms=draw(st.none() | u64),
        downloaded=draw(u64),
        min_anchor=draw(u64),
        retry_due=draw(st.booleans()),
        watched=draw(peer_sets),
    )


@st.composite
def committees(draw: st.DrawFn) -> Committee:
    voters = draw(st.dictionaries(peers, indices, max_size=4))
    others = draw(st.dictionaries(peers, indices, max_size=3))
    non_voters = {p: i for p, i in others.items() if p not in voters}
    return Committee(pmap(voters), pmap(non_voters), draw(st.integers(1, 9)))


def providers(kind: str) -> st.SearchStrategy[ProviderState]:
    snapshot = snapshots_of(kind)
    return st.builds(
        ProviderState,
        pmaps(cursors, st.builds(AvailableSnapshot, snapshot, u64)),
        st.lists(
            st.builds(
                PendingRequest,
                st.builds(SnapshotRequest, peers, wall),
                cursors,
                snapshot,
            ),
            max_size=2,
        ).map(tuple),
    )


def roles(kind: str) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.builds(FollowerRole, st.none() | peers, u64, st.none() | sessions(kind)),
        st.builds(CandidateRole, peer_sets, peer_sets, u64),
        st.builds(LeaderRole, committees(), u64, st.lists(commands, max_size=2).map(tuple)),
    )


@st.composite
def nodes(draw: st.DrawFn) -> NodeState:
    kind = draw(kinds)
    return NodeState(
        id=draw(peers),
        kind=kind,
        preference=draw(st.sampled_from(Preference)),
        term=draw(terms),
        role=draw(roles(kind)),
        log=draw(log_stores()),
        committed=draw(cursors),
        sm=draw(states_of(kind)),
        provider=draw(providers(kind)),
        last_vote=draw(st.none() | st.tuples(terms, peers)),
        online=draw(st.booleans()),
    )


machines = kinds.map(COLLECTIONS.__getitem__)
RECORDS: dict[type, st.SearchStrategy[Any]] = {
    NodeState: nodes(),
    FollowerRole: kinds.flatmap(
        lambda k: st.builds(FollowerRole, st.none() | peers, u64, st.none() | sessions(k))
    ),
    CandidateRole: st.builds(CandidateRole, peer_sets, peer_sets, u64),
    LeaderRole: st.builds(LeaderRole, committees(), u64, st.lists(commands, max_size=2).map(tuple)),
    Committee: committees(),
    ProviderState: kinds.flatmap(providers),
    AvailableSnapshot: st.builds(AvailableSnapshot, any_snapshot, u64),
    PendingRequest: requests,
    SessionState: sessions(),
    PendingFetch: pending_fetches,
    LogStore: log_stores(),
    NodeContext: st.builds(
        NodeContext, u64, wall, peer_sets, configs, profiles, machines, u64, u64
    ),
    SessionContext: st.builds(
        SessionContext, peers, st.none() | peers, peer_sets, configs, machines, profiles
    ),
    ProviderContext: st.builds(ProviderContext, peers, st.booleans(), configs, u64, wall, profiles),
    ApplyContext: st.builds(ApplyContext, cursors, cursors, terms, peers, wall, configs),
    Config: configs,
    Profile: profiles,
    **{cls: snapshots_of(kind) for kind, (_, cls) in forms.COLLECTION_TYPES.items()},
    **{cls: states_of(kind) for kind, (cls, _) in forms.COLLECTION_TYPES.items()},
}
"""One strategy per state and context record type."""


def round_trips(value: object) -> None:
    """Assert every route through the codec gives ``value`` back, canonically."""
    cls = type(value)
    text = dumps(value)
    assert loads(text) == value
    assert decode(encode(value), cls) == value
    assert dumps(loads(text)) == text
    assert dumps(decode(json.loads(text), Any)) == text
    parsed = json.loads(text)
    assert text == json.dumps(parsed, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


# -- round trips ---------------------------------------------------------------------------------


def test_every_state_type_has_a_strategy_and_a_tag() -> None:
    assert set(STATE_TYPES.values()) == set(RECORDS)
    for tag, cls in STATE_TYPES.items():
        assert TAGS[tag] is cls


@pytest.mark.parametrize("cls", list(RECORDS), ids=lambda c: c.__name__)
@given(draw=st.data())
@settings(max_examples=40, deadline=None)
def test_record_round_trips(cls: type, draw: st.DataObject) -> None:
    value = draw.draw(RECORDS[cls])
    assert type(value) is cls
    round_trips(value)


def trace_worlds(path: Path) -> list[Any]:
    """Re-run a finding's trace and return every world it passes through."""
    reader = TraceReader.open(path)
    worlds = []
    world = None
    for line in reader.records():
        record = line.record
        if record["type"] == "header":
            world = initial_world(setup_from_header(record, line.number))
        elif record["type"] == "step" and world is not None:
            world = ACTIONS[record["action"]](world, **decode_args(record["args"])).after
            worlds.append(world)
    return worlds


@pytest.mark.parametrize(
    "trace", sorted(p.name for p in FINDINGS.glob("*.trace.jsonl") if "H16" not in p.name)
)
def test_every_state_of_a_model_run_round_trips(trace: str) -> None:
    """The states mosaik's hazards really reach (sessions mid-fetch, offers, panics)."""
    seen = 0
    texts: set[str] = set()
    for world in trace_worlds(FINDINGS / trace):
        for name, slot in world.nodes.items():
            text = dumps(slot.node)
            if text in texts:
                continue
            texts.add(text)
            back = loads(text)
            assert back == slot.node
            assert dumps(back) == text
            ctx = node_context(world, name)
            ctx_text = dumps(ctx)
            assert dumps(loads(ctx_text)) == ctx_text
            seen += 1
    assert seen > 5


def test_collection_forms_are_items_in_canonical_order() -> None:
    state = MAP.initial()
    for key in (256, 2, 129, "a"):
        state = MAP.apply_one(state, MapInsert(key, 0))
    # postcard bytes: 0161 < 02 < 8002 < 8101
    assert encode(state) == {"items": [["a", 0], [2, 0], [256, 0], [129, 0]]}
    snapshot = MAP.create_snapshot(state)
    assert encode_tagged(snapshot)["type"] == "Map.Snapshot"
    depq = COLLECTIONS["depq"]
    d = depq.empty_snapshot().append([(5, 129, "x"), (1, 2, "y")])
    assert encode(d) == {"items": [[1, 2, "y"], [5, 129, "x"]]}
    cell = COLLECTIONS["cell"]
    assert encode(cell.empty_snapshot(MOSAIK_0_3_13).append([7])) == {
        "items": [7],
        "range_end_ignored": True,
    }
    assert encode(cell.initial()) == {"items": []}


def test_contexts_name_their_machine_and_profile() -> None:
    ctx = SessionContext(
        PeerId.from_label("a"), None, frozenset(), Config(), COLLECTIONS["depq"], MOSAIK_0_3_13
    )
    body = encode(ctx)
    assert body["machine"] == "depq"
    assert body["profile"] == {
        "behaviours": sorted(b.value for b in Behaviour),
        "hazards": sorted(h.value for h in Hazard),
        "name": "mosaik-0.3.13",
    }
    assert decode(body, SessionContext).machine is COLLECTIONS["depq"]


def test_snapshots_inside_records_are_tagged() -> None:
    snapshot = MAP.create_snapshot(MAP.apply_one(MAP.initial(), MapInsert(1, 2)))
    assert encode(AvailableSnapshot(snapshot, 5))["snapshot"] == {
        "items": [[1, 2]],
        "type": "Map.Snapshot",
    }
    assert encode(InstallSnapshot(snapshot))["snapshot"]["type"] == "Map.Snapshot"


def test_round_trip_check_catches_a_lossy_form(monkeypatch: pytest.MonkeyPatch) -> None:
    snapshot = MAP.empty_snapshot().append([(1, 1), (2, 2)])
    round_trips(snapshot)
    # Mutant: the Map snapshot's form drops its last item on the way in.
    items_codec: Any = codec._compile(MapSnapshot)
    form = items_codec.form
    lossy = dataclasses.replace(form, build=lambda items: form.build(items[:-1]))
    monkeypatch.setattr(items_codec, "form", lossy)
    with pytest.raises(AssertionError):
        round_trips(snapshot)


def test_collection_types_and_check_kind() -> None:
    assert collection_types("map") == (MapState, MapSnapshot)
    check_kind(MAP.initial(), "map")
    check_kind(Cursor.zero(), "map")  # not a collection value: passes
    with pytest.raises(CodecError) as err:
        check_kind(SessionState_with(accumulated=MAP.empty_snapshot()), "set", "pre")
    assert err.value.field == "pre.accumulated"
    node = decode(encode(sample_node()), NodeState)
    with pytest.raises(CodecError) as err:
        check_kind(node, "vec", "pre")
    assert err.value.field == "pre.kind"
    provider = ProviderState(requests=(PendingRequest(REQUEST, Cursor.zero(), VEC_SNAPSHOT),))
    with pytest.raises(CodecError) as err:
        check_kind(provider, "map", "pre")
    assert err.value.field == "pre.requests[0].snapshot"


# -- rejections ------------------------------------------------------------------------------------

P0 = PeerId.from_label("n0")
REQUEST = SnapshotRequest(P0, 0)
VEC_SNAPSHOT = COLLECTIONS["vec"].empty_snapshot().append([1])


def SessionState_with(**changes: Any) -> SessionState:  # noqa: N802 (reads as a constructor)
    base = SessionState(
        leader=P0,
        trigger_position=3,
        anchor=None,
        snapshot_len=0,
        gap_start=None,
        gap_end=None,
        anchor_candidates=pmap(),
        buffered=pvector(),
        terminations=(),
        known_bonds=frozenset(),
        available_peers=frozenset(),
        inflight=pmap(),
        fetched=pmap(),
        accumulated=MAP.empty_snapshot(),
        snapshot_request_deadline_ms=None,
    )
    fields = {f: getattr(base, f) for f in base.__dataclass_fields__}
    fields.update(changes)
    return SessionState(**fields)


def sample_node() -> NodeState:
    from impl.node import node_new

    return node_new(P0, MAP, Preference.NORMAL, 0, 10)


def rejected(data: Any, tp: Any) -> CodecError:
    with pytest.raises(CodecError) as err:
        decode(data, tp)
    return err.value


@pytest.mark.parametrize(
    ("kind", "items", "field", "reason"),
    [
        ("map", [[129, 1], [2, 0]], "items[1]", "not in canonical order: key bytes 02 after 8101"),
        ("map", [[0, 1], ["", 2]], "items[1]", "duplicate key: key bytes 00 after 00"),
        ("map", [[1]], "items[0]", "a Map item is an array of 2 data"),
        ("map", [[1, True]], "items[0][1]", "expected a datum"),
        ("set", ["b", "a"], "items[1]", "not in canonical order"),
        ("set", [5, 5], "items[1]", "duplicate key"),
        (
            "depq",
            [[1, 9, 0], [0, 2, 0]],
            "items[1]",
            "not in canonical order: key bytes 02 after 09",
        ),
        ("depq", [[1, 2]], "items[0]", "a DEPQ item is an array of 3 data"),
        ("cell", [1, 2], "items[1]", "at most one item"),
        ("once", [1, 2], "items[1]", "at most one item"),
        ("vec", [1, -1], "items[1]", "out of u64 range"),
        ("vec", ["\ud800"], "items[0]", "lone surrogate U+D800"),
    ],
)
def test_invalid_collection_items(kind: str, items: Any, field: str, reason: str) -> None:
    state_cls, snapshot_cls = collection_types(kind)
    for cls in (state_cls, snapshot_cls):
        body: dict[str, Any] = {"items": items}
        if kind in ("cell", "once") and cls is snapshot_cls:
            body["range_end_ignored"] = False
        err = rejected(body, cls)
        assert err.field == field
        assert reason in err.reason


def test_invalid_collection_object_shape() -> None:
    assert rejected({"items": [], "entries": []}, MapState).field == "entries"
    assert rejected({}, MapState).field == "items"
    assert rejected({"items": {}}, MapState).field == "items"
    assert rejected([], MapState).field == ""
    cell_snapshot = collection_types("cell")[1]
    assert rejected({"items": []}, cell_snapshot).field == "range_end_ignored"
    err = rejected({"items": [], "range_end_ignored": 1}, cell_snapshot)
    assert (err.field, err.reason) == ("range_end_ignored", "expected a boolean, got integer")


def test_invalid_snapshot_where_a_snapshot_is_expected() -> None:
    # A state, a datum, or an untagged object is not a snapshot.
    err = rejected(
        {"deadline_ms": 1, "snapshot": {"items": [], "type": "Map.State"}}, AvailableSnapshot
    )
    assert err.field == "snapshot.type"
    assert "not allowed here" in err.reason
    assert rejected({"deadline_ms": 1, "snapshot": [1, 2]}, AvailableSnapshot).field == "snapshot"
    err = rejected({"snapshot": [[1, 10]]}, InstallSnapshot)
    assert err.field == "snapshot"


def test_invalid_machine_kind() -> None:
    body = encode(SessionContext(P0, None, frozenset(), Config(), MAP, REFERENCE))
    err = rejected({**body, "machine": "hashmap"}, SessionContext)
    assert err.field == "machine"
    assert "unknown collection kind 'hashmap'" in err.reason
    assert rejected({**body, "machine": {"kind": "map"}}, SessionContext).field == "machine"


def test_invalid_encode_of_a_machine_without_a_json_form() -> None:
    ctx = SessionContext(P0, None, frozenset(), Config(), DepqMachine(capacity=3), REFERENCE)
    with pytest.raises(EncodeError) as err:
        encode(ctx)
    assert err.value.field == "machine"
    with pytest.raises(EncodeError):
        encode(MAP.initial(), MapSnapshot)


def node_json(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = encode(sample_node())
    body.update(changes)
    return body


def test_invalid_node_of_mixed_kinds() -> None:
    err = rejected(node_json(sm={"items": [], "type": "Vec.State"}), NodeState)
    assert (err.field, err.reason) == ("sm", "Vec.State is not the state of a 'map' node")
    assert rejected(node_json(sm=[1]), NodeState).field == "sm"
    assert rejected(node_json(kind="tree"), NodeState).field == "kind"
    session = encode(SessionState_with(accumulated=VEC_SNAPSHOT))
    role = {"type": "FollowerRole", "leader": None, "election_deadline_ms": 0, "catchup": session}
    err = rejected(node_json(role=role), NodeState)
    assert err.field == "role.catchup.accumulated"
    provider = encode(
        ProviderState(available=pmap({Cursor.zero(): AvailableSnapshot(VEC_SNAPSHOT, 1)}))
    )
    assert rejected(node_json(provider=provider), NodeState).field == "provider.available"
    provider = encode(
        ProviderState(requests=(PendingRequest(REQUEST, Cursor.zero(), VEC_SNAPSHOT),))
    )
    assert (
        rejected(node_json(provider=provider), NodeState).field == "provider.requests[0].snapshot"
    )


def session_json(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = encode(SessionState_with())
    body.update(changes)
    return body


ANCHOR = {"index": 4, "term": 1}


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"anchor": ANCHOR}, "gap_start", "set exactly when an anchor is selected"),
        ({"gap_start": 0, "gap_end": 0}, "gap_start", "set exactly when an anchor is selected"),
        ({"anchor": ANCHOR, "gap_start": 0}, "gap_start", "set exactly when an anchor"),
        ({"snapshot_len": 3}, "snapshot_len", "must be 0 while no anchor is selected"),
        (
            {"anchor": ANCHOR, "snapshot_len": 3, "gap_start": 0, "gap_end": 2},
            "gap_end",
            "must equal snapshot_len (3)",
        ),
        ({"trigger_position": -1}, "trigger_position", "expected a u64"),
        ({"snapshot_request_deadline_ms": -5}, "snapshot_request_deadline_ms", "expected a u64"),
        ({"fetched": [[0, [3, [7]]]]}, "fetched", "ends at 3, not after its 1 items"),
        ({"fetched": [[-2, [-1, [7]]]]}, "fetched", "expected a u64"),
        (
            {
                "anchor_candidates": [
                    [ANCHOR, [{"anchor": {"index": 5, "term": 1}, "items_count": 1}, []]]
                ]
            },
            "anchor_candidates",
            "offers",
        ),
    ],
)
def test_invalid_session_representation(changes: dict[str, Any], field: str, reason: str) -> None:
    err = rejected(session_json(**changes), SessionState)
    assert err.field == field
    assert reason in err.reason
    # The same check names the full path inside a node.
    role: dict[str, Any] = {"type": "FollowerRole", "leader": None, "election_deadline_ms": 0}
    role["catchup"] = session_json(**changes)
    assert rejected(node_json(role=role), NodeState).field == f"role.catchup.{field}"


def test_invalid_committee_and_deadlines() -> None:
    p = P0.hex()
    body = {"voters": [[p, 1]], "non_voters": [[p, 0]], "max_committee_size": 5}
    err = rejected(body, Committee)
    assert (err.field, err.reason) == ("non_voters", f"{p} is both a voter and a non-voter")
    assert rejected({**body, "non_voters": [], "max_committee_size": 0}, Committee).field == (
        "max_committee_size"
    )
    err = rejected({"range": {"start": 0, "end": 1}, "deadline_ms": -1}, PendingFetch)
    assert (err.field, err.reason) == ("deadline_ms", "expected a u64, got -1")
    role = {"leader": None, "election_deadline_ms": -1, "catchup": None}
    assert rejected(role, FollowerRole).field == "election_deadline_ms"
    leader = {
        "committee": {**body, "non_voters": []},
        "heartbeat_deadline_ms": -3,
        "client_commands": [],
    }
    assert rejected(leader, LeaderRole).field == "heartbeat_deadline_ms"
    err = rejected(
        node_json(
            role={**leader, "heartbeat_deadline_ms": 0, "committee": body, "type": "LeaderRole"}
        ),
        NodeState,
    )
    assert err.field == "role.committee.non_voters"


def test_invalid_context_values_are_the_constructors_rejections() -> None:
    body = encode(NodeContext(0, 0, frozenset(), Config(), REFERENCE, MAP, 10))
    assert rejected({**body, "now_ms": -1}, NodeContext).field == ""
    assert rejected(
        {**body, "config": {**body["config"], "fetch_batch_size": 0}}, NodeContext
    ).field == ("config")
    assert rejected({**body, "profile": {"name": "x", "hazards": ["H99"]}}, NodeContext).field == (
        "profile.hazards[0]"
    )


def test_a_profile_is_written_as_its_name_hazards_and_behaviours() -> None:
    """json.md: ``{"name", "hazards", "behaviours"}``; both switch lists are checked on decode
    (known names, no duplicates, present)."""
    profile = REFERENCE.with_hazards(["H1"]).with_behaviours(["readers-vote"])
    body = encode(profile)
    assert body == {"behaviours": ["readers-vote"], "hazards": ["H1"], "name": profile.name}
    assert decode(body, Profile) == profile
    for bad, field in (
        ({**body, "behaviours": ["readers-abstain"]}, "behaviours[0]"),
        ({**body, "behaviours": ["readers-vote", "readers-vote"]}, "behaviours[1]"),
        ({k: v for k, v in body.items() if k != "behaviours"}, "behaviours"),
        ({**body, "behaviours": "readers-vote"}, "behaviours"),
    ):
        assert rejected(bad, Profile).field == field


# -- the documentation ---------------------------------------------------------------------------

DOC = Path(__file__).resolve().parent.parent / "docs" / "formats" / "json.md"


def test_doc_has_an_example_of_every_state_form() -> None:
    """Every state and context tag has a canonical example in json.md (test_codec checks
    that every example decodes and re-encodes byte for byte)."""
    text = DOC.read_text(encoding="utf-8")
    examples = [json.loads(b) for b in re.findall(r"```json\n(.*?)\n```", text, re.S)]
    shown = {e["type"] for e in examples if isinstance(e, dict) and "type" in e}
    assert sorted(set(STATE_TYPES) - shown) == []
    for tag in STATE_TYPES:
        assert f"`{tag}`" in text, tag


def test_canonical_order_compares_the_key_bytes_without_the_encoded_prefix() -> None:
    """collections.md, "Exactly which bytes": (1, 200) before (2, 1); mosaik's
    length-prefixed Encoded<K> bytes would put them the other way round."""
    a, b = (1, 200), (2, 1)
    assert postcard(a).hex() == "01c801"
    assert postcard(b).hex() == "0201"
    assert postcard(a) < postcard(b)
    assert mosaik_wrapped(postcard(b)) < mosaik_wrapped(postcard(a))
    snapshot = MAP.empty_snapshot().append([(b, 0), (a, 0)])
    assert encode(snapshot) == {"items": [[[1, 200], 0], [[2, 1], 0]]}
    err = rejected({"items": [[[2, 1], 0], [[1, 200], 0]]}, MapSnapshot)
    assert err.field == "items[1]"
    assert err.reason == "not in canonical order: key bytes 01c801 after 0201"


@given(
    st.tuples(indices, terms, commands),
    st.tuples(st.builds(SnapshotInfo, cursors, u64), peer_sets),
)
def test_buffered_entry_and_candidate_forms_round_trip(entry: Any, candidate: Any) -> None:
    """The two tuple aliases of SessionState: ``[index, term, command]`` and
    ``[SnapshotInfo, [PeerId]]``."""
    body = encode(entry, BufferedEntry)
    assert body[:2] == [entry[0], entry[1]]
    assert decode(json.loads(json.dumps(body)), BufferedEntry) == entry
    body = encode(candidate, Candidate)
    assert body[0] == encode(candidate[0])
    assert body[1] == sorted(p.hex() for p in candidate[1])
    assert decode(json.loads(json.dumps(body)), Candidate) == candidate
