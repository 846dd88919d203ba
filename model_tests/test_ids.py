"""Tests of impl.ids and Config.signature: byte-exact with mosaik (inventory §3.3).

Every expected digest is computed here with the ``blake3`` module directly,
following mosaik's derivations (primitives/id.rs ``From<&str>``, ``derive``,
``hashed``, ``from_parts``; sync/mod.rs ``signature``; groups/builder.rs
``ConsensusConfig::digest``; groups config ``GroupConfig::new``), never with the
code under test. A few are pinned as hex literals so that a change in the
derivation shows up as a diff of this file.
"""

from __future__ import annotations

import blake3
import pytest

from impl.config import Config
from impl.errors import InvalidInput
from impl.ids import (
    CollectionTypes,
    ConsensusDigestParams,
    UniqueId,
    collection_group_id,
    consensus_digest,
    group_id,
    state_machine_signature,
    state_machine_type_name,
)

MAP_SM = "mosaik::collections::map::MapStateMachine<u64, u64>"

# blake3("abc"): the official BLAKE3 test vector.
ABC = "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85"
# Config().signature(MAP_SM) with the defaults 2000 / 10 s / 15 s / 5 s.
SIG_DEFAULT = "cfa5d945f90dc59f736cd08bae5c6978603a0d17c62e1b9d3daf499322a1f95d"
# ... with fetch_batch_size = 100.
SIG_BATCH_100 = "da09ed8061af8664343529eafdc74fbacff5a3dee41090888c96d24237a86459"
# ... if the three durations were (wrongly) written as u64 instead of u128.
SIG_U64_DURATIONS = "bffe612c9eb1d2c52f0cf79974ebc1d14504ccfc9ed22b0a843ab01b8f8472a2"
# ConsensusConfig::default().digest(): 500 ms, 150 ms, 10 missed heartbeats.
CONSENSUS_DEFAULT = "adfe74a86dd01a601b37bf2fa5b6bb292ac49656393b7e0ad47f7766c5bb8022"
# Map<u64, u64> state machine signature for store id from("my-store").
MAP_SIG = "cb9d7c411d8ce3e08426d37b14d7a183661dbcb6bd3ed0793cf4a230529a73ad"
# Its group id with the default consensus and sync configs.
MAP_GROUP = "f100f331061d685f71c081fdca316acede96bad8398aacdec432acca8e97e821"


def h(data: bytes) -> bytes:
    return blake3.blake3(data).digest()


def derive(base: bytes, info: bytes) -> bytes:
    return h(base + info)


def expected_sync_signature(
    sm: str, batch: int, ttl: int, request_timeout: int, fetch_timeout: int, width: int = 16
) -> bytes:
    sig = h(b"mosaik_collections_snapshot_sync")
    sig = derive(sig, sm.encode())
    sig = derive(sig, batch.to_bytes(8, "little"))
    for ms in (ttl, request_timeout, fetch_timeout):
        sig = derive(sig, ms.to_bytes(width, "little"))
    return sig


# -- UniqueId -----------------------------------------------------------------------------


def test_from_str_hashes_ordinary_text() -> None:
    assert UniqueId.from_str("abc").hex() == ABC
    assert UniqueId.from_str("abc").raw == h(b"abc")
    assert UniqueId.from_str("").raw == h(b"")
    assert UniqueId.from_str("é").raw == h("é".encode())


def test_from_str_decodes_64_hex_digits_in_either_case() -> None:
    raw = bytes(range(32))
    assert UniqueId.from_str(raw.hex()).raw == raw
    assert UniqueId.from_str(raw.hex().upper()).raw == raw
    mixed = "".join(ch.upper() if i % 2 else ch for i, ch in enumerate(raw.hex()))
    assert UniqueId.from_str(mixed).raw == raw


@pytest.mark.parametrize(
    "text",
    [
        "0" * 63,  # too short
        "0" * 65,  # too long
        "0" * 62 + "zz",  # not hex
        " " + "0" * 63,  # whitespace is not hex for mosaik's hex::decode
        "0" * 66,
    ],
)
def test_from_str_hashes_anything_else(text: str) -> None:
    assert UniqueId.from_str(text).raw == h(text.encode())


def test_derive_hashed_and_from_parts() -> None:
    base = UniqueId.from_str("base")
    other = UniqueId.from_str("other")
    assert base.derive("x").raw == derive(base.raw, b"x")
    assert base.derive(b"\x00\x01").raw == derive(base.raw, b"\x00\x01")
    assert base.derive(other).raw == derive(base.raw, other.raw)
    assert base.hashed().raw == h(base.raw)
    assert UniqueId.from_parts([b"a", b"bc"]).raw == h(b"abc")
    # derive is not symmetric: the order of the concatenation matters.
    assert base.derive(other) != other.derive(base)


def test_unique_id_forms_and_order() -> None:
    u = UniqueId(bytes(range(32)))
    assert u.hex() == bytes(range(32)).hex()
    assert str(u) == "00010203"
    assert UniqueId(bytes(32)) < u


@pytest.mark.parametrize("bad", [bytes(31), bytes(33), "00" * 32, bytearray(32)])
def test_invalid_unique_id(bad: object) -> None:
    with pytest.raises(InvalidInput, match="32 bytes"):
        UniqueId(bad)  # type: ignore[arg-type]


# -- SnapshotSync::signature (mod.rs:383-396) ---------------------------------------------


def test_sync_signature_default_pinned() -> None:
    expected = expected_sync_signature(MAP_SM, 2000, 10_000, 15_000, 5_000)
    assert expected.hex() == SIG_DEFAULT
    assert Config().signature(MAP_SM) == expected
    assert Config().signature_id(MAP_SM).raw == expected


def test_sync_signature_depends_on_batch_size() -> None:
    expected = expected_sync_signature(MAP_SM, 100, 10_000, 15_000, 5_000)
    assert expected.hex() == SIG_BATCH_100
    assert Config().with_fetch_batch_size(100).signature(MAP_SM) == expected
    assert SIG_BATCH_100 != SIG_DEFAULT


def test_sync_signature_durations_are_u128_little_endian() -> None:
    # Writing the durations as 8-byte u64 gives another digest: the width matters.
    narrow = expected_sync_signature(MAP_SM, 2000, 10_000, 15_000, 5_000, width=8)
    assert narrow.hex() == SIG_U64_DURATIONS
    assert Config().signature(MAP_SM).hex() != SIG_U64_DURATIONS


@pytest.mark.parametrize(
    "config",
    [
        Config().with_snapshot_ttl(10_001),
        Config().with_snapshot_request_timeout(1),
        Config().with_fetch_timeout(5_001),
    ],
)
def test_sync_signature_depends_on_every_duration(config: Config) -> None:
    expected = expected_sync_signature(
        MAP_SM,
        config.fetch_batch_size,
        config.snapshot_ttl_ms,
        config.snapshot_request_timeout_ms,
        config.fetch_timeout_ms,
    )
    assert config.signature(MAP_SM) == expected
    assert expected.hex() != SIG_DEFAULT


def test_sync_signature_depends_on_type_name() -> None:
    other = "mosaik::collections::vec::VecStateMachine<u64>"
    assert Config().signature(other) == expected_sync_signature(other, 2000, 10_000, 15_000, 5_000)
    assert Config().signature(other).hex() != SIG_DEFAULT


# -- state machine signatures (map.rs:643-648 and siblings) -------------------------------

STORE = UniqueId.from_str("my-store")


@pytest.mark.parametrize(
    ("kind", "params"),
    [
        ("map", ("u64", "u64")),
        ("vec", ("u64",)),
        ("set", ("alloc::string::String",)),
        ("depq", ("u64", "u64", "u64")),
        ("cell", ("u64",)),
        ("once", ("u64",)),
    ],
)
def test_state_machine_signature_each_kind(kind: str, params: tuple[str, ...]) -> None:
    expected = derive(h(f"mosaik_collections_{kind}".encode()), STORE.raw)
    for name in params:
        expected = derive(expected, name.encode())
    if kind == "depq":
        expected = derive(expected, ((1 << 64) - 1).to_bytes(8, "little"))
    assert state_machine_signature(STORE, CollectionTypes(kind, params)).raw == expected


def test_map_signature_pinned() -> None:
    sig = state_machine_signature(STORE, CollectionTypes("map", ("u64", "u64")))
    assert sig.hex() == MAP_SIG


def test_depq_signature_depends_on_capacity() -> None:
    a = state_machine_signature(STORE, CollectionTypes("depq", ("u64", "u64", "u64")))
    b = state_machine_signature(STORE, CollectionTypes("depq", ("u64", "u64", "u64"), 100))
    assert a != b


def test_signature_depends_on_store_and_type_order() -> None:
    a = state_machine_signature(STORE, CollectionTypes("map", ("u64", "String")))
    b = state_machine_signature(STORE, CollectionTypes("map", ("String", "u64")))
    c = state_machine_signature(
        UniqueId.from_str("other"), CollectionTypes("map", ("u64", "String"))
    )
    assert len({a, b, c}) == 3


@pytest.mark.parametrize(
    ("kind", "params", "depq_capacity", "reason"),
    [
        ("list", ("u64",), (1 << 64) - 1, "unknown collection kind"),
        ("map", ("u64",), (1 << 64) - 1, "takes 2 type parameters"),
        ("vec", ["u64"], (1 << 64) - 1, "tuple of str"),
        ("vec", (7,), (1 << 64) - 1, "tuple of str"),
        ("depq", ("u64", "u64", "u64"), -1, "depq_capacity"),
        ("depq", ("u64", "u64", "u64"), 1 << 64, "depq_capacity"),
    ],
)
def test_invalid_collection_types(
    kind: str, params: object, depq_capacity: int, reason: str
) -> None:
    with pytest.raises(InvalidInput, match=reason):
        CollectionTypes(kind, params, depq_capacity)  # type: ignore[arg-type]


# -- consensus digest and group id --------------------------------------------------------


def test_consensus_digest_default_pinned() -> None:
    expected = h(
        (500).to_bytes(16, "little") + (150).to_bytes(16, "little") + (10).to_bytes(16, "little")
    )
    assert expected.hex() == CONSENSUS_DEFAULT
    assert consensus_digest().raw == expected
    assert consensus_digest(ConsensusDigestParams()).raw == expected


def test_consensus_digest_custom_params() -> None:
    params = ConsensusDigestParams(heartbeat_interval_ms=250, max_missed_heartbeats=3)
    expected = h(
        (250).to_bytes(16, "little") + (150).to_bytes(16, "little") + (3).to_bytes(16, "little")
    )
    assert consensus_digest(params).raw == expected


@pytest.mark.parametrize(
    "kwargs",
    [
        {"heartbeat_interval_ms": -1},
        {"heartbeat_jitter_ms": 1 << 128},
        {"max_missed_heartbeats": 1 << 32},
        {"max_missed_heartbeats": 2.0},
    ],
)
def test_invalid_consensus_params(kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidInput, match=next(iter(kwargs))):
        ConsensusDigestParams(**kwargs)  # type: ignore[arg-type]


def test_group_id_chain() -> None:
    key = UniqueId.from_str("secret")
    cons, sm, sync = (UniqueId.from_str(x) for x in ("c", "s", "y"))
    validators = [UniqueId.from_str("v1"), UniqueId.from_str("v2")]
    base = derive(derive(derive(h(key.raw), cons.raw), sm.raw), sync.raw)
    assert group_id(key, cons, sm, sync).raw == base
    with_validators = derive(derive(base, validators[0].raw), validators[1].raw)
    assert group_id(key, cons, sm, sync, validators).raw == with_validators
    assert group_id(key, cons, sm, sync, validators[::-1]).raw != with_validators


def test_collection_group_id_pinned() -> None:
    types = CollectionTypes("map", ("u64", "u64"))
    sync = Config().signature_id(MAP_SM)
    expected = derive(
        derive(derive(h(STORE.raw), bytes.fromhex(CONSENSUS_DEFAULT)), bytes.fromhex(MAP_SIG)),
        bytes.fromhex(SIG_DEFAULT),
    )
    assert expected.hex() == MAP_GROUP
    assert collection_group_id(STORE, types, sync).hex() == MAP_GROUP


def test_group_id_changes_with_sync_config() -> None:
    types = CollectionTypes("map", ("u64", "u64"))
    a = collection_group_id(STORE, types, Config().signature_id(MAP_SM))
    b = collection_group_id(STORE, types, Config().with_fetch_batch_size(100).signature_id(MAP_SM))
    assert a != b


# -- the type_name strings of the sync signature (sync/mod.rs:383-396) -------------------------


@pytest.mark.parametrize(
    ("kind", "params", "cap", "name"),
    [
        # Printed by rustc 1.95.0 (and 1.97.0-nightly) for structs at mosaik's paths.
        ("map", ("u64", "u64"), None, MAP_SM),
        (
            "map",
            ("(u64, alloc::string::String)", "alloc::vec::Vec<u8>"),
            None,
            "mosaik::collections::map::MapStateMachine<(u64, alloc::string::String), "
            "alloc::vec::Vec<u8>>",
        ),
        ("vec", ("u64",), None, "mosaik::collections::vec::VecStateMachine<u64>"),
        (
            "set",
            ("alloc::string::String",),
            None,
            "mosaik::collections::set::SetStateMachine<alloc::string::String>",
        ),
        (
            "depq",
            ("u64", "alloc::string::String", "u64"),
            None,
            "mosaik::collections::depq::DepqStateMachine"
            "<u64, alloc::string::String, u64, u64::MAX>",
        ),
        (
            "depq",
            ("u64", "u64", "u64"),
            8,
            "mosaik::collections::depq::DepqStateMachine<u64, u64, u64, 8>",
        ),
        ("cell", ("(u64,)",), None, "mosaik::collections::cell::CellStateMachine<(u64,)>"),
        ("once", ("&str",), None, "mosaik::collections::once::OnceStateMachine<&str>"),
    ],
)
def test_state_machine_type_name(
    kind: str, params: tuple[str, ...], cap: int | None, name: str
) -> None:
    types = CollectionTypes(kind, params) if cap is None else CollectionTypes(kind, params, cap)
    assert state_machine_type_name(types) == name


def test_sync_signature_of_the_type_name_is_the_pinned_default() -> None:
    name = state_machine_type_name(CollectionTypes("map", ("u64", "u64")))
    assert Config().signature(name).hex() == SIG_DEFAULT
