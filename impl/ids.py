"""mosaik's 32-byte digests and the group-identity derivations built on them.

Byte-exact with mosaik (``src/primitives/id.rs``, ``collections/*/signature``,
``groups/config.rs``): a peer that derives a different group id never bonds, so an
implementation can check here that it would join the same group (inventory §3.3).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import blake3

from impl.errors import InvalidInput

__all__ = [
    "CollectionTypes",
    "ConsensusDigestParams",
    "UniqueId",
    "collection_group_id",
    "consensus_digest",
    "group_id",
    "state_machine_signature",
    "state_machine_type_name",
]

_HEX = frozenset("0123456789abcdefABCDEF")


@dataclass(frozen=True, slots=True, order=True)
class UniqueId:
    """mosaik ``Digest``/``UniqueId``: 32 bytes, usually a blake3 hash.

    >>> UniqueId.from_str("00" * 32).raw == bytes(32)
    True
    >>> UniqueId.from_str("abc").hex() == blake3.blake3(b"abc").hexdigest()
    True
    """

    raw: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.raw, bytes) or len(self.raw) != 32:
            raise InvalidInput("UniqueId must be exactly 32 bytes")

    @staticmethod
    def from_str(text: str) -> UniqueId:
        """Apply mosaik's ``From<&str>``: 64 hex digits decode, anything else is hashed."""
        if len(text) == 64 and all(c in _HEX for c in text):
            return UniqueId(bytes.fromhex(text))
        return UniqueId(blake3.blake3(text.encode("utf-8")).digest())

    @staticmethod
    def from_parts(parts: Sequence[bytes]) -> UniqueId:
        """Return blake3 of the concatenation of ``parts`` (mosaik ``from_parts``)."""
        hasher = blake3.blake3()
        for part in parts:
            hasher.update(part)
        return UniqueId(hasher.digest())

    def derive(self, info: bytes | str | UniqueId) -> UniqueId:
        """Return ``blake3(self ‖ info)``; a str is its UTF-8 bytes, an id its 32 bytes."""
        if isinstance(info, UniqueId):
            data = info.raw
        elif isinstance(info, str):
            data = info.encode("utf-8")
        else:
            data = info
        return UniqueId(blake3.blake3(self.raw + data).digest())

    def hashed(self) -> UniqueId:
        """Return ``blake3(self)``."""
        return UniqueId(blake3.blake3(self.raw).digest())

    def hex(self) -> str:
        """Return the 64-hex-digit form (mosaik's ``Debug``/JSON form)."""
        return self.raw.hex()

    def __str__(self) -> str:
        return self.raw.hex()[:8]


def _check_uint(value: object, what: str, bits: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < (1 << bits):
        raise InvalidInput(f"{what} must be a u{bits}, got {value!r}")


def _u64_le(value: int) -> bytes:
    return value.to_bytes(8, "little")


def _u128_le(value: int) -> bytes:
    return value.to_bytes(16, "little")


@dataclass(frozen=True, slots=True)
class CollectionTypes:
    """Rust ``type_name`` strings of a collection's type parameters (for signatures).

    ``kind`` is one of ``map``, ``vec``, ``set``, ``depq``, ``cell``, ``once``;
    ``params`` lists the type names in mosaik's derive order (Map: K, V; DEPQ: P, K, V;
    the others: T). ``depq_capacity`` is DEPQ's ``CAP`` const (default ``u64::MAX``).
    """

    kind: str
    params: tuple[str, ...]
    depq_capacity: int = (1 << 64) - 1

    _ARITY = {"map": 2, "vec": 1, "set": 1, "depq": 3, "cell": 1, "once": 1}  # noqa: RUF012

    def __post_init__(self) -> None:
        arity = self._ARITY.get(self.kind)
        if arity is None:
            raise InvalidInput(f"unknown collection kind {self.kind!r}")
        if not isinstance(self.params, tuple) or not all(isinstance(n, str) for n in self.params):
            raise InvalidInput(
                f"CollectionTypes.params must be a tuple of str, got {self.params!r}"
            )
        if len(self.params) != arity:
            raise InvalidInput(f"{self.kind} takes {arity} type parameters, got {len(self.params)}")
        _check_uint(self.depq_capacity, "depq_capacity", 64)


_MACHINE_PATHS = {
    "map": "mosaik::collections::map::MapStateMachine",
    "vec": "mosaik::collections::vec::VecStateMachine",
    "set": "mosaik::collections::set::SetStateMachine",
    "depq": "mosaik::collections::depq::DepqStateMachine",
    "cell": "mosaik::collections::cell::CellStateMachine",
    "once": "mosaik::collections::once::OnceStateMachine",
}
"""Where mosaik 0.3.13 defines each collection's state machine (src/collections/<kind>.rs)."""


def state_machine_type_name(types: CollectionTypes) -> str:
    """Return ``core::any::type_name`` of the collection's state machine (the sync signature's).

    mosaik's sync signature derives ``type_name::<M>()`` of the private state machine
    struct (sync/mod.rs:383-396): its path in the ``mosaik`` crate, then its type
    parameters as ``type_name`` prints them (``params``, e.g. ``u64`` or
    ``alloc::string::String``), and for DEPQ the ``CAP`` const, which rustc prints
    as ``u64::MAX`` for the default and in decimal otherwise. Observed with rustc
    1.95.0 and 1.97.0-nightly; Rust does not guarantee ``type_name``'s output, so
    another compiler may print another string, and hence derive another group id.

    >>> state_machine_type_name(CollectionTypes("map", ("u64", "alloc::string::String")))
    'mosaik::collections::map::MapStateMachine<u64, alloc::string::String>'
    >>> state_machine_type_name(CollectionTypes("depq", ("u64", "u64", "u64")))
    'mosaik::collections::depq::DepqStateMachine<u64, u64, u64, u64::MAX>'
    """
    params = list(types.params)
    if types.kind == "depq":
        cap = types.depq_capacity
        params.append("u64::MAX" if cap == (1 << 64) - 1 else str(cap))
    return f"{_MACHINE_PATHS[types.kind]}<{', '.join(params)}>"


def state_machine_signature(store_id: UniqueId, types: CollectionTypes) -> UniqueId:
    """Return a collection state machine's ``signature()`` (map.rs:643-648 and siblings).

    ``from("mosaik_collections_<kind>").derive(store_id)`` then each type name in
    order; DEPQ also derives ``CAP.to_le_bytes()`` (u64).
    """
    sig = UniqueId.from_str(f"mosaik_collections_{types.kind}").derive(store_id)
    for name in types.params:
        sig = sig.derive(name)
    if types.kind == "depq":
        sig = sig.derive(_u64_le(types.depq_capacity))
    return sig


@dataclass(frozen=True, slots=True)
class ConsensusDigestParams:
    """The consensus parameters that enter the group id (builder.rs:316-324).

    Election timeouts are not part of the digest in mosaik 0.3.13.
    """

    heartbeat_interval_ms: int = 500
    heartbeat_jitter_ms: int = 150
    max_missed_heartbeats: int = 10

    def __post_init__(self) -> None:
        # mosaik: Duration::as_millis() is a u128; max_missed_heartbeats is a u32.
        _check_uint(self.heartbeat_interval_ms, "heartbeat_interval_ms", 128)
        _check_uint(self.heartbeat_jitter_ms, "heartbeat_jitter_ms", 128)
        _check_uint(self.max_missed_heartbeats, "max_missed_heartbeats", 32)


def consensus_digest(params: ConsensusDigestParams | None = None) -> UniqueId:
    """Return ``ConsensusConfig::digest()``: blake3 of three u128 little-endian values."""
    p = params or ConsensusDigestParams()
    return UniqueId.from_parts(
        [
            _u128_le(p.heartbeat_interval_ms),
            _u128_le(p.heartbeat_jitter_ms),
            _u128_le(p.max_missed_heartbeats),
        ]
    )


def group_id(
    key_secret: UniqueId,
    consensus: UniqueId,
    sm_signature: UniqueId,
    sync_signature: UniqueId,
    validator_signatures: Sequence[UniqueId] = (),
) -> UniqueId:
    """Return ``GroupId`` as in groups/config.rs: ``secret.hashed()`` then derive each part."""
    gid = key_secret.hashed().derive(consensus).derive(sm_signature).derive(sync_signature)
    for sig in validator_signatures:
        gid = gid.derive(sig)
    return gid


def collection_group_id(
    store_id: UniqueId,
    types: CollectionTypes,
    sync_signature: UniqueId,
    consensus: ConsensusDigestParams | None = None,
) -> UniqueId:
    """Return the group id of a collection: its key secret is its ``store_id``."""
    return group_id(
        store_id,
        consensus_digest(consensus),
        state_machine_signature(store_id, types),
        sync_signature,
    )
