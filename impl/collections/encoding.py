"""Canonical encoding of data, the canonical snapshot order, and state digests.

A :data:`~impl.messages.Datum` is encoded the way postcard (mosaik's wire format)
encodes the corresponding Rust value:

* a u64 as an unsigned LEB128 varint (7 bits per byte, least significant first);
* a string as the varint of its UTF-8 length, then the UTF-8 bytes;
* a tuple as the concatenation of its parts' encodings (postcard tuples carry no
  length: the Rust type fixes the arity).

**Canonical order** (DESIGN.md): Map, Set and DEPQ snapshot items are ordered by these
bytes of the key (Set: the value; DEPQ: the key), compared lexicographically; Vec by
position; Cell and Once hold 0 or 1 item. mosaik orders by its HAMT hash order
(map.rs:712-729, set.rs:606-623, depq.rs:1115-1131), which depends on the Rust
release, the endianness and the pointer width (H13): not portable. The bytes compared
are the key's own postcard bytes, without the length prefix of mosaik's ``Encoded<K>``
wrapper on the wire: ``(1, 200)`` (``01 c8 01``) sorts before ``(2, 1)`` (``02 01``).

**Key identity** (spec decision): a collection's keys all have one Rust type, for
which postcard is injective, so this model takes the canonical encoding as the key's
identity. Data of different shapes whose encodings coincide (``0`` and ``""`` both
encode as ``00``; ``5`` and ``(5,)``) are therefore the same key. A collection holds
keys of one shape; nothing else in the model depends on this.

**Priority order** (DEPQ): priorities compare by the Rust ``Ord`` of their type, which
for one shape is: u64 numerically, strings by UTF-8 bytes (= code points), tuples
lexicographically. :func:`priority_key` extends this to mixed shapes with the
documented rule int < str < tuple.

>>> encode(0).hex(), encode(127).hex(), encode(128).hex(), encode(300).hex()
('00', '7f', '8001', 'ac02')
>>> encode("hi").hex(), encode((1, "a")).hex()
('026869', '010161')
>>> sorted([129, 256, 1], key=encode)  # bytes order, not numeric: 80 02 < 81 01
[1, 256, 129]
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import blake3

from impl.errors import InvalidInput, InvalidMessage
from impl.messages import Datum
from impl.types import U64_MAX

__all__ = [
    "encode",
    "encode_items",
    "encode_u64",
    "is_plain_datum",
    "mosaik_wrapped",
    "priority_key",
    "state_digest",
    "validated",
    "validated_entries",
    "validated_optional",
    "validated_tuple",
    "validated_u64",
]

_ONE_BYTE: tuple[bytes, ...] = tuple(bytes((b,)) for b in range(0x80))


def encode_u64(value: int) -> bytes:
    """Return the LEB128 varint of a u64 (postcard's integer encoding).

    >>> encode_u64(U64_MAX).hex()
    'ffffffffffffffffff01'
    """
    if type(value) is not int or not 0 <= value <= U64_MAX:
        raise InvalidInput(f"not a u64: {value!r}")
    if value < 0x80:
        return _ONE_BYTE[value]
    if value < 0x4000:  # two bytes: the common case for keys below 16384
        return bytes(((value & 0x7F) | 0x80, value >> 7))
    if value < 0x200000:
        return bytes(((value & 0x7F) | 0x80, ((value >> 7) & 0x7F) | 0x80, value >> 14))
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def encode(datum: Datum) -> bytes:
    """Return the canonical (postcard) bytes of ``datum``.

    Raises :class:`~impl.errors.InvalidInput` for anything that is not a datum:
    booleans, negative or oversized integers, strings that are not valid Unicode
    scalar sequences (lone surrogates), or other types.

    >>> encode(-1)
    Traceback (most recent call last):
    ...
    impl.errors.InvalidInput: not a u64: -1
    """
    kind = type(datum)
    if kind is int:
        if 0 <= datum < 0x80:  # type: ignore[operator]
            return _ONE_BYTE[datum]  # type: ignore[index]
        return encode_u64(datum)  # type: ignore[arg-type]
    if kind is str:
        try:
            raw = datum.encode("utf-8")  # type: ignore[union-attr]
        except UnicodeEncodeError:
            raise InvalidInput(f"string is not valid UTF-8 text: {datum!r}") from None
        return encode_u64(len(raw)) + raw
    if kind is tuple:
        return b"".join([encode(part) for part in datum])  # type: ignore[union-attr]
    raise InvalidInput(f"{kind.__name__} is not a datum: {datum!r}")


def is_plain_datum(value: object) -> bool:
    """Check, without encoding, if ``value`` certainly encodes (the fast path of
    :func:`validated`): an exact ``int`` in u64 range, an ASCII ``str``, or an exact
    ``tuple`` of such. ``False`` means "not certain" (other strings, bad values, other
    types): the caller then encodes to decide.

    >>> is_plain_datum((1, "a", ())), is_plain_datum(-1), is_plain_datum("\\ud800")
    (True, False, False)
    """
    kind = type(value)
    if kind is int:
        return 0 <= value <= U64_MAX  # type: ignore[operator]
    if kind is str:
        return bool(value.isascii())  # type: ignore[attr-defined]
    if kind is tuple:
        try:
            return all(map(is_plain_datum, value))  # type: ignore[call-overload]
        except RecursionError:
            return False
    return False


def validated(value: object, field: str) -> Datum:
    """Return ``value`` if it is a datum, else raise :class:`~impl.errors.InvalidMessage`
    naming ``field`` (used by the command dataclasses)."""
    if is_plain_datum(value):
        return value  # type: ignore[return-value]
    try:
        encode(value)  # type: ignore[arg-type]
    except InvalidInput as exc:
        raise InvalidMessage(field, str(exc)) from None
    return value  # type: ignore[return-value]


def validated_optional(value: object, field: str) -> Datum | None:
    """Return ``value`` if it is ``None`` or a datum (an ``Option<V>`` field)."""
    return None if value is None else validated(value, field)


def validated_u64(value: object, field: str) -> int:
    """Return ``value`` if it is a u64 (an index or length field)."""
    if type(value) is not int or not 0 <= value <= U64_MAX:
        raise InvalidMessage(field, f"must be a u64, got {value!r}")
    return value


def validated_tuple(value: object, field: str) -> tuple[Datum, ...]:
    """Return ``value`` if it is a tuple of data (a ``Vec<V>`` field)."""
    if type(value) is not tuple:
        raise InvalidMessage(field, f"must be a tuple, got {type(value).__name__}")
    for i, part in enumerate(value):
        validated(part, f"{field}[{i}]")
    return value


def validated_entries(value: object, field: str, arity: int) -> tuple[tuple[Datum, ...], ...]:
    """Return ``value`` if it is a tuple of ``arity``-tuples of data (``Vec<(K, V)>``)."""
    if type(value) is not tuple:
        raise InvalidMessage(field, f"must be a tuple, got {type(value).__name__}")
    for i, entry in enumerate(value):
        if type(entry) is not tuple or len(entry) != arity:
            raise InvalidMessage(f"{field}[{i}]", f"must be a tuple of {arity} data")
        for j, part in enumerate(entry):
            validated(part, f"{field}[{i}][{j}]")
    return value


def mosaik_wrapped(encoded: bytes) -> bytes:
    """Return postcard's encoding of ``Encoded<V>`` for a value whose bytes are ``encoded``:
    a varint length prefix, then the bytes (H5; datum.rs:34-48 per the inventory).

    mosaik's Map and Cell compare-exchange compare ``encode(current)`` with this
    wrapped form of the expectation, so a ``Some`` expectation matches only when the
    current value's own encoding happens to equal the wrapped bytes.

    >>> mosaik_wrapped(encode(10)).hex()
    '010a'
    """
    return encode_u64(len(encoded)) + encoded


def priority_key(datum: Datum) -> tuple[Any, ...]:
    """Return a sort key that orders priorities as Rust's ``Ord`` does for one shape
    (u64 numerically, str by code points, tuples lexicographically); across shapes
    int < str < tuple.

    >>> sorted([300, 2, 10], key=priority_key)
    [2, 10, 300]
    >>> priority_key((1, "a")) < priority_key((1, "b")) < priority_key((2,))
    True
    """
    kind = type(datum)
    if kind is int:
        return (0, datum)
    if kind is str:
        return (1, datum)
    if kind is tuple:
        return (2, tuple(priority_key(part) for part in datum))  # type: ignore[union-attr]
    raise InvalidInput(f"{kind.__name__} is not a datum: {datum!r}")


def encode_items(items: Iterable[Datum]) -> bytes:
    """Return the canonical byte string of a sequence of items (the digest's input):
    the varint item count, then for each item the varint length of its encoding and
    the encoding. The length prefixes make the string unambiguous (tuple encodings
    alone are not self-delimiting).

    >>> encode_items([1, "a"]).hex()
    '020101020161'
    """
    parts: list[bytes] = []
    for item in items:
        raw = encode(item)
        parts.append(encode_u64(len(raw)))
        parts.append(raw)
    return encode_u64(len(parts) // 2) + b"".join(parts)


def state_digest(items: Iterable[Datum]) -> str:
    """Return the blake3 hex digest of :func:`encode_items` of ``items`` (in the given
    order: pass a collection's items in canonical order).

    >>> state_digest([]) == blake3.blake3(b"\\x00").hexdigest()
    True
    """
    return str(blake3.blake3(encode_items(items)).hexdigest())
