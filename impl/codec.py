"""Canonical JSON for every message, command, effect and state record.

The base of the trace, conformance-vector and adapter formats (docs/formats/json.md).
The codec is generic: the JSON form of a value follows from its static type,
read from the dataclass field annotations (``typing.get_type_hints``), plus the
tag registry of :mod:`impl.registry` for records whose static type does not fix
their class.

Forms (the full table with examples is in docs/formats/json.md):

* ``bool`` → ``true``/``false``; ``int`` → a JSON integer in ``[-2**63, 2**64)``;
  ``Term``/``Index`` → a JSON integer in ``[0, 2**64)``; ``str`` → a string;
  ``bytes`` → lowercase hex; ``None`` → ``null``.
* ``PeerId``/``UniqueId`` → 64 lowercase hex digits.
* an enum → its value (e.g. ``"granted"``).
* ``tuple[X, ...]``, ``PVector[X]`` → an array; ``tuple[X, Y]`` → an array of that length.
* ``frozenset[X]`` → an array sorted by each element's canonical JSON text;
  ``PMap[K, V]`` → an array of ``[key, value]`` pairs sorted by the key's canonical text.
* :data:`impl.messages.Datum` / ``Item`` → an integer (u64), a string, or an array of data.
* a dataclass field typed with a concrete dataclass (``Cursor``, ``SnapshotInfo``,
  ``LogEntry``, ...) → an object with exactly its fields, untagged.
* a field typed with a union of registered records (``Message``, ``Effect``) →
  the tagged form ``{"type": tag, ...fields}``.
* a field typed ``object``/``Any`` (``Command``) → the tagged form of a registered
  record, or a datum.
* the state records' own forms (:mod:`impl.forms`): a collection state or snapshot →
  ``{"items": [...]}`` in canonical order; a field typed ``Snapshot`` → a tagged
  snapshot of one of the six collections; a ``StateMachine`` → its kind string.
  Decoded records of the classes in :data:`impl.forms.CHECKS` are checked too.

Canonical text (:func:`dumps`): ``json.dumps(sort_keys=True, separators=(",", ":"),
ensure_ascii=False)``, so equal values give equal bytes. Malformed input raises
:class:`impl.errors.CodecError` whose ``field`` is the path of the culprit, e.g.
``"entries[2].term"``.

Limits (every reader of JSON in snapsync parses through :func:`parse_json`, so they
hold for traces, vectors and adapter answers alike): nesting deeper than
:data:`MAX_DEPTH` levels, a string (value or object key) holding a lone surrogate
(text that cannot be written back as UTF-8), duplicate object keys, ``NaN``,
``Infinity`` and numbers that overflow a double are refused with a ``CodecError``;
the codec raises no other exception type on any input.

Annotation names ``Datum`` and ``Item`` always mean :data:`impl.messages.Datum`.
A tag is known once the module defining its class is imported; this module
imports the foundation modules (messages, effects, logstore) and :mod:`impl.forms`,
which imports every state record's module.

Speed: a record's encoder and decoder are generated once per class
(:func:`_fast_record`); they convert primitive fields inline and defer anything
unusual to the generic code, which decides the result and every error.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import re
import types
import typing
from collections.abc import Callable, Iterable
from enum import Enum
from typing import Any, ForwardRef, NewType, TypeAlias

import pyrsistent.typing
from pyrsistent import PMap, PVector, pmap, pvector

import impl.effects
import impl.forms
import impl.logstore
import impl.messages
from impl.errors import CodecError, InvalidInput, InvalidMessage, InvalidRange, SnapshotSyncError
from impl.ids import UniqueId
from impl.records import constructor
from impl.registry import TAGS, is_tagged, tag_of
from impl.types import U64_MAX, Index, PeerId, Term

__all__ = [
    "DATUM",
    "MAX_DEPTH",
    "EncodeError",
    "JSONValue",
    "canonical_json",
    "check_json_value",
    "decode",
    "decode_tagged",
    "dumps",
    "encode",
    "encode_tagged",
    "loads",
    "parse_json",
]

JSONValue: TypeAlias = Any
"""A value as ``json.loads`` returns it: dict, list, str, int, float, bool or None."""

_I64_MIN = -(1 << 63)
_LOWER_HEX = re.compile("[0-9a-f]*")

MAX_DEPTH = 64
"""Deepest nesting of arrays and objects a reader accepts (the top-level value is depth
1). Real values stay far below it (a trace line: about 12); the limit keeps a
hostile input from exhausting the stack."""


class EncodeError(CodecError):
    """A value does not fit its static type, so it has no JSON form (``field`` is its path)."""

    def __str__(self) -> str:
        return f"cannot encode {self.field or '<root>'}: {self.reason}"


class _DatumType:
    """Annotation marker for :data:`impl.messages.Datum` (a recursive alias Python cannot name)."""


DATUM: Any = _DatumType
"""Pass as ``tp`` to :func:`encode`/:func:`decode` for a datum (``messages.Datum`` works too)."""

_U64_NEWTYPES: frozenset[Any] = frozenset({Term, Index})
"""NewTypes of int whose values are u64 (range-checked by the codec)."""

_LOCALNS: dict[str, Any] = {"Datum": DATUM, "Item": DATUM}


def canonical_json(value: JSONValue) -> str:
    """Return the canonical text of a JSON value (sorted keys, no spaces, UTF-8 as is).

    >>> canonical_json({"b": [1, "é"], "a": None})
    '{"a":null,"b":[1,"é"]}'
    """
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _at(path: str, i: int) -> str:
    return f"{path}[{i}]"


def _jtype(data: object) -> str:
    """Name a JSON value's type for error messages."""
    if data is None:
        return "null"
    if isinstance(data, bool):
        return "boolean"
    if isinstance(data, int):
        return "integer"
    if isinstance(data, float):
        return "number"
    if isinstance(data, str):
        return "string"
    if isinstance(data, list):
        return "array"
    if isinstance(data, dict):
        return "object"
    return type(data).__name__


def _expect(data: object, kind: type, what: str, path: str) -> None:
    if not isinstance(data, kind) or (kind is int and isinstance(data, bool)):
        raise CodecError(path, f"expected {what}, got {_jtype(data)}")


# -- codec nodes --------------------------------------------------------------------------


class _Codec:
    """Encoder/decoder of one static type."""

    def enc(self, value: object, path: str) -> JSONValue:
        raise NotImplementedError

    def dec(self, data: JSONValue, path: str) -> object:
        raise NotImplementedError


class _Bool(_Codec):
    def enc(self, value: object, path: str) -> JSONValue:
        if not isinstance(value, bool):
            raise EncodeError(path, f"expected a bool, got {type(value).__name__}")
        return value

    def dec(self, data: JSONValue, path: str) -> object:
        _expect(data, bool, "a boolean", path)
        return data


class _Int(_Codec):
    """A JSON integer; ``lo``/``hi`` bound it (u64 for Term/Index, i64 ∪ u64 otherwise)."""

    def __init__(self, lo: int, hi: int, what: str) -> None:
        self.lo, self.hi, self.what = lo, hi, what

    def _check(self, value: int, path: str, error: type[CodecError]) -> int:
        if not self.lo <= value <= self.hi:
            raise error(path, f"integer {value} is out of {self.what} range")
        return value

    def enc(self, value: object, path: str) -> JSONValue:
        if isinstance(value, bool) or not isinstance(value, int):
            raise EncodeError(path, f"expected an int, got {type(value).__name__}")
        return self._check(int(value), path, EncodeError)

    def dec(self, data: JSONValue, path: str) -> object:
        if type(data) is int and self.lo <= data <= self.hi:
            return data  # the common case, checked without a call
        _expect(data, int, "an integer", path)
        return self._check(data, path, CodecError)


def _unicode_problem(text: str) -> str | None:
    """Return why ``text`` cannot be written as UTF-8 (a lone surrogate), or None."""
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = text[exc.start]
        return f"lone surrogate U+{ord(bad):04X} at character {exc.start}: not Unicode"
    return None


class _Str(_Codec):
    def enc(self, value: object, path: str) -> JSONValue:
        if not isinstance(value, str):
            raise EncodeError(path, f"expected a str, got {type(value).__name__}")
        problem = _unicode_problem(value)
        if problem is not None:
            raise EncodeError(path, problem)
        return str(value)

    def dec(self, data: JSONValue, path: str) -> object:
        _expect(data, str, "a string", path)
        return data


def _parse_hex(data: JSONValue, path: str, length: int | None) -> bytes:
    _expect(data, str, "a hex string", path)
    if _LOWER_HEX.fullmatch(data) is None:
        raise CodecError(path, f"not lowercase hex: {data!r}")
    if len(data) % 2:
        raise CodecError(path, f"odd number of hex digits: {data!r}")
    if length is not None and len(data) != 2 * length:
        raise CodecError(path, f"expected {2 * length} hex digits, got {len(data)}")
    return bytes.fromhex(data)


class _Bytes(_Codec):
    def enc(self, value: object, path: str) -> JSONValue:
        if not isinstance(value, bytes):
            raise EncodeError(path, f"expected bytes, got {type(value).__name__}")
        return value.hex()

    def dec(self, data: JSONValue, path: str) -> object:
        return _parse_hex(data, path, None)


class _HexId(_Codec):
    """PeerId and UniqueId: 32 bytes as 64 lowercase hex digits."""

    def __init__(self, cls: type[PeerId] | type[UniqueId]) -> None:
        self.cls = cls

    def enc(self, value: object, path: str) -> JSONValue:
        if not isinstance(value, self.cls):
            raise EncodeError(path, f"expected a {self.cls.__name__}, got {type(value).__name__}")
        return value.raw.hex()

    def dec(self, data: JSONValue, path: str) -> object:
        return self.cls(_parse_hex(data, path, 32))


class _None(_Codec):
    def enc(self, value: object, path: str) -> JSONValue:
        if value is not None:
            raise EncodeError(path, f"expected None, got {type(value).__name__}")
        return None

    def dec(self, data: JSONValue, path: str) -> object:
        if data is not None:
            raise CodecError(path, f"expected null, got {_jtype(data)}")
        return None


class _Optional(_Codec):
    def __init__(self, inner: _Codec) -> None:
        self.inner = inner

    def enc(self, value: object, path: str) -> JSONValue:
        return None if value is None else self.inner.enc(value, path)

    def dec(self, data: JSONValue, path: str) -> object:
        return None if data is None else self.inner.dec(data, path)


class _Enum(_Codec):
    def __init__(self, cls: type[Enum]) -> None:
        self.cls = cls

    def enc(self, value: object, path: str) -> JSONValue:
        if not isinstance(value, self.cls):
            raise EncodeError(path, f"expected a {self.cls.__name__}, got {type(value).__name__}")
        return value.value

    def dec(self, data: JSONValue, path: str) -> object:
        if isinstance(data, bool) or not isinstance(data, str | int):
            raise CodecError(path, f"expected a {self.cls.__name__} value, got {_jtype(data)}")
        try:
            return self.cls(data)
        except ValueError:
            known = ", ".join(repr(m.value) for m in self.cls)
            raise CodecError(
                path, f"unknown {self.cls.__name__} value {data!r}; known: {known}"
            ) from None


def _array(data: JSONValue, path: str) -> list[JSONValue]:
    _expect(data, list, "an array", path)
    result: list[JSONValue] = data
    return result


class _Seq(_Codec):
    """``tuple[X, ...]`` (``make=tuple``) or ``PVector[X]`` (``make=pvector``)."""

    def __init__(self, inner: _Codec, kind: type, make: Callable[[list[object]], object]) -> None:
        self.inner, self.kind, self.make = inner, kind, make

    def enc(self, value: object, path: str) -> JSONValue:
        if not isinstance(value, self.kind):
            raise EncodeError(path, f"expected a {self.kind.__name__}, got {type(value).__name__}")
        items = typing.cast(Iterable[object], value)
        return [self.inner.enc(v, _at(path, i)) for i, v in enumerate(items)]

    def dec(self, data: JSONValue, path: str) -> object:
        items = _array(data, path)
        return self.make([self.inner.dec(v, _at(path, i)) for i, v in enumerate(items)])


class _FixedTuple(_Codec):
    def __init__(self, inners: tuple[_Codec, ...]) -> None:
        self.inners = inners

    def enc(self, value: object, path: str) -> JSONValue:
        if not isinstance(value, tuple) or len(value) != len(self.inners):
            raise EncodeError(path, f"expected a tuple of length {len(self.inners)}")
        return [
            c.enc(v, _at(path, i)) for i, (c, v) in enumerate(zip(self.inners, value, strict=True))
        ]

    def dec(self, data: JSONValue, path: str) -> object:
        items = _array(data, path)
        if len(items) != len(self.inners):
            raise CodecError(
                path, f"expected an array of length {len(self.inners)}, got {len(items)}"
            )
        return tuple(
            c.dec(v, _at(path, i)) for i, (c, v) in enumerate(zip(self.inners, items, strict=True))
        )


class _FrozenSet(_Codec):
    """An array sorted by each element's canonical JSON text; duplicates are rejected."""

    def __init__(self, inner: _Codec) -> None:
        self.inner = inner

    def enc(self, value: object, path: str) -> JSONValue:
        if not isinstance(value, frozenset):
            raise EncodeError(path, f"expected a frozenset, got {type(value).__name__}")
        encoded = [self.inner.enc(v, _at(path, i)) for i, v in enumerate(value)]
        return sorted(encoded, key=canonical_json)

    def dec(self, data: JSONValue, path: str) -> object:
        items = _array(data, path)
        out: set[object] = set()
        for i, v in enumerate(items):
            element = self.inner.dec(v, _at(path, i))
            if element in out:
                raise CodecError(_at(path, i), "duplicate set element")
            out.add(element)
        return frozenset(out)


class _PMap(_Codec):
    """An array of ``[key, value]`` pairs sorted by the key's canonical JSON text."""

    def __init__(self, key: _Codec, value: _Codec) -> None:
        self.key, self.value = key, value

    def enc(self, value: object, path: str) -> JSONValue:
        if not isinstance(value, PMap):
            raise EncodeError(path, f"expected a PMap, got {type(value).__name__}")
        pairs = [
            [self.key.enc(k, _at(path, i) + "[0]"), self.value.enc(v, _at(path, i) + "[1]")]
            for i, (k, v) in enumerate(value.items())
        ]
        return sorted(pairs, key=lambda kv: canonical_json(kv[0]))

    def dec(self, data: JSONValue, path: str) -> object:
        items = _array(data, path)
        out: dict[object, object] = {}
        for i, pair in enumerate(items):
            p = _at(path, i)
            kv = _array(pair, p)
            if len(kv) != 2:
                raise CodecError(p, f"expected a [key, value] pair, got {len(kv)} elements")
            k = self.key.dec(kv[0], p + "[0]")
            if k in out:
                raise CodecError(p + "[0]", "duplicate map key")
            out[k] = self.value.dec(kv[1], p + "[1]")
        return pmap(out)


class _Datum(_Codec):
    """:data:`impl.messages.Datum`: a u64, a string, or an array (tuple) of data."""

    def enc(self, value: object, path: str) -> JSONValue:
        if isinstance(value, bool):
            raise EncodeError(path, "booleans are not data")
        if isinstance(value, int):
            if not 0 <= value <= U64_MAX:
                raise EncodeError(path, f"integer {value} is out of u64 range")
            return int(value)
        if isinstance(value, str):
            problem = _unicode_problem(value)
            if problem is not None:
                raise EncodeError(path, problem)
            return str(value)
        if isinstance(value, tuple):
            return [self.enc(v, _at(path, i)) for i, v in enumerate(value)]
        raise EncodeError(path, f"{type(value).__name__} is not a datum")

    def dec(self, data: JSONValue, path: str) -> object:
        if isinstance(data, bool):
            raise CodecError(path, "expected a datum (integer, string or array), got boolean")
        if isinstance(data, int):
            if not 0 <= data <= U64_MAX:
                raise CodecError(path, f"integer {data} is out of u64 range")
            return data
        if isinstance(data, str):
            return data
        if isinstance(data, list):
            return tuple(self.dec(v, _at(path, i)) for i, v in enumerate(data))
        raise CodecError(path, f"expected a datum (integer, string or array), got {_jtype(data)}")


_DATUM_CODEC = _Datum()


class _Record(_Codec):
    """A dataclass as an object with exactly its fields (untagged).

    :meth:`enc` and :meth:`dec` run a function generated once per class (see
    :func:`_fast_record`) that handles the fields of primitive types inline and
    falls back to :meth:`_generic_enc` / :meth:`_generic_dec` for anything it does
    not accept at once, so results and errors are those of the generic code.
    """

    def __init__(self, cls: type) -> None:
        self.cls = cls
        self._fields: tuple[tuple[str, _Codec], ...] | None = None
        self._names: frozenset[str] = frozenset()
        self._tagged_names: frozenset[str] = frozenset()
        self._fast_enc: Callable[[object, str], JSONValue] | None = None
        self._fast_dec: Callable[[JSONValue, str, str | None], object] | None = None

    def fields(self) -> tuple[tuple[str, _Codec], ...]:
        # Compiled on first use, so that self-referencing records terminate.
        if self._fields is None:
            try:
                hints = typing.get_type_hints(self.cls, localns=_LOCALNS)
            except (NameError, TypeError) as exc:
                raise CodecError(
                    "", f"cannot resolve the annotations of {self.cls}: {exc}"
                ) from None
            compiled = []
            for f in dataclasses.fields(self.cls):
                try:
                    compiled.append((f.name, _compile(hints[f.name])))
                except CodecError as exc:
                    raise CodecError(f.name, exc.reason) from None
            self._fields = tuple(compiled)
            self._names = frozenset(name for name, _ in compiled)
            self._tagged_names = self._names | {"type"}
        return self._fields

    def enc(self, value: object, path: str) -> JSONValue:
        fast = self._fast_enc
        if fast is None:
            fast = self._fast_enc = _fast_record(self, "enc")
        return fast(value, path)

    def dec(self, data: JSONValue, path: str, *, skip: str | None = None) -> object:
        fast = self._fast_dec
        if fast is None:
            fast = self._fast_dec = _fast_record(self, "dec")
        return fast(data, path, skip)

    def _generic_enc(self, value: object, path: str) -> JSONValue:
        if not isinstance(value, self.cls):
            raise EncodeError(path, f"expected a {self.cls.__name__}, got {type(value).__name__}")
        return {name: c.enc(getattr(value, name), _join(path, name)) for name, c in self.fields()}

    def _generic_dec(self, data: JSONValue, path: str, skip: str | None = None) -> object:
        _expect(data, dict, f"an object ({self.cls.__name__})", path)
        fields = self.fields()
        for key in sorted(data):
            if key not in self._names and key != skip:
                raise CodecError(_join(path, key), f"unexpected field of {self.cls.__name__}")
        kwargs: dict[str, object] = {}
        for name, c in fields:
            if name not in data:
                raise CodecError(_join(path, name), f"missing field of {self.cls.__name__}")
            kwargs[name] = c.dec(data[name], _join(path, name))
        return self._checked(_construct(self.cls, kwargs, path), path)

    def _checked(self, value: object, path: str) -> object:
        check = _CHECKS.get(self.cls)
        if check is not None:
            try:
                check(value)
            except CodecError as exc:
                raise CodecError(_join(path, exc.field), exc.reason) from None
        return value


def _fast_record(record: _Record, which: str) -> Callable[..., Any]:
    """Generate ``record``'s fast encoder (``which="enc"``) or decoder (``"dec"``).

    A field of a primitive type (a bounded integer, a bool, a string, a peer or unique
    id, an enum, or one of these or null) is converted inline; any other field calls
    its codec. Whatever the inline code does not accept at once (a wrong type, an
    integer out of range, a key set that is not exactly the fields, a constructor that
    refuses the values) goes through the generic method, which returns the same
    value or raises the same error, with the same path.
    """
    fields = record.fields()
    cls = record.cls
    scope: dict[str, Any] = {
        "_cls": cls,
        "_make": constructor(cls),
        "_record": record,
        "_names": record._names,
        "_tagged": record._tagged_names,
        "_construct": _construct,
        "_checks": _CHECKS,
        "_hex": _LOWER_HEX.fullmatch,
        "_fromhex": bytes.fromhex,
        "_failed": (SnapshotSyncError, TypeError, ValueError),
    }
    lines: list[str] = []
    names = [name for name, _ in fields]
    for i, (name, codec) in enumerate(fields):
        scope[f"_c{i}"] = codec
        join = f'(path + ".{name}" if path else "{name}")'
        inner, optional = (codec.inner, True) if isinstance(codec, _Optional) else (codec, False)
        guard = _fast_guard(inner, f"x{i}", scope, i, which)
        if which == "enc":
            load = f"    x{i} = value.{name}"
            slow = f"x{i} = _c{i}.enc(x{i}, {join})"
        else:
            load = f'    x{i} = data["{name}"]'
            slow = f"x{i} = _c{i}.dec(x{i}, {join})"
        lines.append(load)
        if guard is None:
            lines.append(f"    {slow}")
            continue
        test, convert = guard
        if optional:
            test = f"x{i} is not None and ({test})"
        lines.append(f"    if {test}:")
        lines.append(f"        {slow}")
        if convert:
            lines.append("    else:" if not optional else f"    elif x{i} is not None:")
            lines.append(f"        {convert}")
    if which == "enc":
        body = [
            "def fast(value, path):",
            "    if type(value) is not _cls:",
            "        return _record._generic_enc(value, path)",
            *lines,
            "    return {" + ", ".join(f'"{n}": x{i}' for i, n in enumerate(names)) + "}",
        ]
    else:
        body = [
            "def fast(data, path, skip):",
            "    if type(data) is not dict:",
            "        return _record._generic_dec(data, path, skip)",
            "    keys = data.keys()",
            '    if keys != _names and not (skip == "type" and keys == _tagged):',
            "        return _record._generic_dec(data, path, skip)",
            *lines,
            "    try:",
            f"        value = _make({', '.join(f'x{i}' for i in range(len(names)))})",
            "    except _failed:",
            "        value = _construct(_cls, {"
            + ", ".join(f'"{n}": x{i}' for i, n in enumerate(names))
            + "}, path)",
            "    if _cls in _checks:",
            "        return _record._checked(value, path)",
            "    return value",
        ]
    exec("\n".join(body), scope)  # the source is built from the field names only
    fast: Callable[..., Any] = scope["fast"]
    return fast


def _fast_guard(
    codec: _Codec, x: str, scope: dict[str, Any], i: int, which: str
) -> tuple[str, str] | None:
    """Return ``(test, convert)`` for a primitive field: ``test`` is true when the value
    needs the generic codec, ``convert`` (may be empty) turns it into its form; or None."""
    if isinstance(codec, _Int):
        scope[f"_lo{i}"], scope[f"_hi{i}"] = codec.lo, codec.hi
        return f"type({x}) is not int or {x} < _lo{i} or {x} > _hi{i}", ""
    if isinstance(codec, _Bool):
        return f"type({x}) is not bool", ""
    if isinstance(codec, _Str):
        return f"type({x}) is not str", ""
    if isinstance(codec, _HexId):
        scope[f"_id{i}"] = codec.cls
        if which == "enc":
            return f"type({x}) is not _id{i}", f"{x} = {x}.raw.hex()"
        return (
            f"type({x}) is not str or len({x}) != 64 or _hex({x}) is None",
            f"{x} = _id{i}(_fromhex({x}))",
        )
    if isinstance(codec, _Enum):
        scope[f"_enum{i}"] = codec.cls
        if which == "enc":
            return f"type({x}) is not _enum{i}", f"{x} = {x}.value"
        scope[f"_members{i}"] = {m.value: m for m in codec.cls if isinstance(m.value, str)}
        return f"type({x}) is not str or {x} not in _members{i}", f"{x} = _members{i}[{x}]"
    return None


def _construct(cls: type, kwargs: dict[str, object], path: str) -> object:
    """Build ``cls(**kwargs)``; the constructor's validation errors become CodecErrors."""
    try:
        return cls(**kwargs)
    except InvalidMessage as exc:
        raise CodecError(_join(path, exc.field), exc.reason) from None
    except InvalidRange as exc:
        raise CodecError(path, str(exc)) from None
    except (SnapshotSyncError, TypeError, ValueError) as exc:
        raise CodecError(path, str(exc)) from None


def _record_codec(cls: type) -> _Record | _Items:
    codec = _compile(cls)
    if not isinstance(codec, _Record | _Items):
        raise CodecError("", f"{cls.__name__} is not a record type")
    return codec


def _encode_tagged(value: object, path: str) -> JSONValue:
    cls = type(value)
    if not dataclasses.is_dataclass(value) or not is_tagged(cls):
        raise EncodeError(path, f"{cls.__name__} is not a registered record type")
    body = _record_codec(cls).enc(value, path)
    if "type" in body:
        raise EncodeError(_join(path, "type"), f"{cls.__name__} has a field named 'type'")
    body["type"] = tag_of(cls)
    return body


def _decode_tagged(data: JSONValue, path: str, allowed: tuple[type, ...] | None) -> object:
    _expect(data, dict, "a tagged object", path)
    if "type" not in data:
        raise CodecError(_join(path, "type"), "missing record tag")
    tag = data["type"]
    if not isinstance(tag, str):
        raise CodecError(_join(path, "type"), f"expected a tag string, got {_jtype(tag)}")
    cls = TAGS.get(tag)
    if cls is None:
        raise CodecError(_join(path, "type"), f"unknown record tag {tag!r}")
    if allowed is not None and cls not in allowed:
        names = ", ".join(tag_of(c) for c in allowed)
        raise CodecError(_join(path, "type"), f"tag {tag!r} is not allowed here; expected {names}")
    return _record_codec(cls).dec(data, path, skip="type")


class _Union(_Codec):
    """A union of registered records: the tagged form, restricted to the union's members."""

    def __init__(self, members: tuple[type, ...]) -> None:
        self.members = members

    def enc(self, value: object, path: str) -> JSONValue:
        if type(value) not in self.members:
            names = ", ".join(c.__name__ for c in self.members)
            raise EncodeError(path, f"{type(value).__name__} is not one of {names}")
        return _encode_tagged(value, path)

    def dec(self, data: JSONValue, path: str) -> object:
        return _decode_tagged(data, path, self.members)


class _AnyValue(_Codec):
    """``object``/``Any``: a registered record (tagged) or a datum."""

    def enc(self, value: object, path: str) -> JSONValue:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return _encode_tagged(value, path)
        try:
            return _DATUM_CODEC.enc(value, path)
        except CodecError:
            raise EncodeError(
                path, f"expected a registered record or a datum, got {type(value).__name__}"
            ) from None

    def dec(self, data: JSONValue, path: str) -> object:
        if isinstance(data, dict):
            return _decode_tagged(data, path, None)
        return _DATUM_CODEC.dec(data, path)


# -- compiling annotations ----------------------------------------------------------------

_CACHE: dict[Any, _Codec] = {}
_DATUM_TEXT = impl.messages.Datum


def _is_datum(tp: Any) -> bool:
    """Recognise the Datum alias in any of the forms annotation evaluation leaves it in."""
    if tp is DATUM:
        return True
    if isinstance(tp, str):
        return tp == _DATUM_TEXT
    if isinstance(tp, ForwardRef):
        return tp.__forward_arg__ == _DATUM_TEXT
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if len(args) == 3 and args[0] is int and args[1] is str:
            inner = typing.get_args(args[2])
            return (
                typing.get_origin(args[2]) is tuple
                and len(inner) == 2
                and inner[1] is Ellipsis
                and _is_datum(inner[0])
            )
    return False


def _compile(tp: Any) -> _Codec:
    """Return the codec of annotation ``tp`` (cached)."""
    try:
        cached = _CACHE.get(tp)
    except TypeError:  # an unhashable annotation: compile without caching
        cached = None
    if cached is not None:
        return cached
    codec = _compile_uncached(tp)
    with contextlib.suppress(TypeError):  # unhashable annotations are not cached
        _CACHE[tp] = codec
    return codec


def _compile_uncached(tp: Any) -> _Codec:
    if _is_datum(tp):
        return _DATUM_CODEC
    state_form = _compile_state_form(tp)
    if state_form is not None:
        return state_form
    if tp is Any or tp is object:
        return _AnyValue()
    if tp is None or tp is type(None):
        return _None()
    if isinstance(tp, NewType):
        if tp in _U64_NEWTYPES:
            return _Int(0, U64_MAX, "u64")
        return _compile(tp.__supertype__)
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        members = tuple(a for a in args if a is not type(None))
        inner: _Codec
        if len(members) == 1:
            inner = _compile(members[0])
        elif all(isinstance(m, type) and is_tagged(m) for m in members):
            inner = _Union(members)
        else:
            raise CodecError("", f"unsupported union {tp}: only registered records may be mixed")
        return _Optional(inner) if len(members) < len(args) else inner
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return _Seq(_compile(args[0]), tuple, tuple)
        return _FixedTuple(tuple(_compile(a) for a in args))
    if origin is frozenset:
        return _FrozenSet(_compile(args[0]))
    if origin is PVector or origin is pyrsistent.typing.PVector:
        return _Seq(_compile(args[0]), PVector, pvector)
    if origin is PMap or origin is pyrsistent.typing.PMap:
        return _PMap(_compile(args[0]), _compile(args[1]))
    if isinstance(tp, type):
        if tp is PeerId or tp is UniqueId:
            return _HexId(tp)
        if issubclass(tp, Enum):
            return _Enum(tp)
        if tp is bool:
            return _Bool()
        if tp is int:
            return _Int(_I64_MIN, U64_MAX, "i64/u64")
        if tp is str:
            return _Str()
        if tp is bytes:
            return _Bytes()
        if dataclasses.is_dataclass(tp):
            return _Record(tp)
    raise CodecError("", f"unsupported annotation {tp!r}")


# -- the state records' forms (impl.forms): collections as items, machines as kinds ----------

_CHECKS: dict[type, Callable[[Any], None]] = impl.forms.CHECKS
"""Checks of decoded records: ``check(record)`` raises CodecError with a relative field."""


class _Items(_Codec):
    """A collection state or snapshot: ``{"items": [datum, ...]}`` plus its flag fields.

    The items are data in canonical order; :class:`impl.forms.ItemsForm` builds the
    value from them (checking order, arity and duplicates) and lists them back.
    """

    def __init__(self, form: impl.forms.ItemsForm) -> None:
        self.form = form
        self.names = ("items", *form.flags)

    def enc(self, value: object, path: str) -> JSONValue:
        form = self.form
        if type(value) is not form.cls:
            raise EncodeError(path, f"expected a {form.cls.__name__}, got {type(value).__name__}")
        at = _join(path, "items")
        enc = _DATUM_CODEC.enc
        body: dict[str, JSONValue] = {
            "items": [enc(item, _at(at, i)) for i, item in enumerate(form.items_of(value))]
        }
        for flag in form.flags:
            body[flag] = getattr(value, flag)
        return body

    def dec(self, data: JSONValue, path: str, *, skip: str | None = None) -> object:
        form = self.form
        _expect(data, dict, f"an object ({form.cls.__name__})", path)
        for key in sorted(data):
            if key not in self.names and key != skip:
                raise CodecError(_join(path, key), f"unexpected field of {form.cls.__name__}")
        for name in self.names:
            if name not in data:
                raise CodecError(_join(path, name), f"missing field of {form.cls.__name__}")
        at = _join(path, "items")
        dec = _DATUM_CODEC.dec
        items = [
            # A string or an in-range integer is its own datum: no call, no path string.
            item
            if type(item) is str or (type(item) is int and 0 <= item <= U64_MAX)
            else dec(item, _at(at, i))
            for i, item in enumerate(_array(data["items"], at))
        ]
        flags = []
        for flag in form.flags:
            _expect(data[flag], bool, "a boolean", _join(path, flag))
            flags.append(data[flag])
        try:
            return form.build(items, *flags)
        except CodecError as exc:
            raise CodecError(at + exc.field, exc.reason) from None  # exc.field is "[i]..."


class _Machine(_Codec):
    """A collection state machine, written as its kind (``"map"``, ...)."""

    def enc(self, value: object, path: str) -> JSONValue:
        try:
            return impl.forms.machine_kind(value)
        except InvalidInput as exc:
            raise EncodeError(path, str(exc)) from None

    def dec(self, data: JSONValue, path: str) -> object:
        _expect(data, str, "a collection kind string", path)
        try:
            return impl.forms.machine_of(data)
        except InvalidInput as exc:
            raise CodecError(path, str(exc)) from None


def _compile_state_form(tp: Any) -> _Codec | None:
    """Return the codec of a type :mod:`impl.forms` gives a form, or None."""
    form = impl.forms.ITEMS_FORMS.get(tp)
    if form is not None:
        return _Items(form)
    if tp is impl.forms.Snapshot:
        return _Union(impl.forms.SNAPSHOT_TYPES)
    if tp is impl.forms.StateMachine:
        return _Machine()
    return None


# -- public API ---------------------------------------------------------------------------


def encode(value: object, tp: Any = None) -> JSONValue:
    """Return the JSON value of ``value`` read as static type ``tp`` (default: its own class).

    A record encoded as its own class is untagged; see :func:`encode_tagged`.

    >>> from impl.types import Cursor
    >>> encode(Cursor(Term(2), Index(5)))
    {'term': 2, 'index': 5}
    >>> encode((1, "a", (2,)), DATUM)
    [1, 'a', [2]]
    """
    codec = _compile(type(value) if tp is None else tp)
    try:
        return codec.enc(value, "")
    except RecursionError:
        raise EncodeError("", "the value is nested too deeply to encode") from None


def decode(data: JSONValue, tp: Any) -> Any:
    """Return the value of static type ``tp`` whose JSON value is ``data``.

    Raises :class:`CodecError` (with the path of the culprit) on malformed input,
    including input past the limits of :func:`check_json_value`.

    >>> from impl.types import Cursor
    >>> decode({"term": 2, "index": 5}, Cursor)
    Cursor(term=2, index=5)
    >>> decode({"term": 2, "index": -1}, Cursor)
    Traceback (most recent call last):
    ...
    impl.errors.CodecError: cannot decode index: integer -1 is out of u64 range
    """
    codec = _compile(tp)
    check_json_value(data)
    return codec.dec(data, "")


def encode_tagged(record: object) -> dict[str, JSONValue]:
    """Return ``{"type": tag, ...fields}`` for a registered record.

    >>> from impl.messages import RequestSnapshot
    >>> encode_tagged(RequestSnapshot())
    {'type': 'RequestSnapshot'}
    """
    try:
        body: dict[str, JSONValue] = _encode_tagged(record, "")
    except RecursionError:
        raise EncodeError("", "the value is nested too deeply to encode") from None
    return body


def decode_tagged(data: JSONValue, allowed: tuple[type, ...] | None = None) -> Any:
    """Return the registered record whose tagged form is ``data``.

    ``allowed`` restricts the accepted record classes (default: any registered one).
    """
    check_json_value(data)
    return _decode_tagged(data, "", allowed)


def dumps(value: object, tp: Any = None) -> str:
    """Return the canonical JSON text of ``value``.

    With ``tp=None`` a registered record is written in its tagged form (self-describing,
    as traces need it); anything else as its own class. Otherwise as static type ``tp``.

    >>> from impl.messages import SnapshotInfo
    >>> from impl.types import Cursor
    >>> dumps(SnapshotInfo(Cursor(Term(1), Index(4)), 10))
    '{"anchor":{"index":4,"term":1},"items_count":10,"type":"SnapshotInfo"}'
    """
    if tp is None and is_tagged(type(value)):
        return canonical_json(encode_tagged(value))
    return canonical_json(encode(value, tp))


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON")


def _no_duplicate_keys(pairs: list[tuple[str, JSONValue]]) -> dict[str, JSONValue]:
    out: dict[str, JSONValue] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"number {text} overflows")
    return value


def _first_problem(data: JSONValue) -> tuple[list[str | int], str] | None:
    """Walk ``data`` (iteratively: no recursion) for the first value past the limits;
    return its path (keys and indices) and the reason, or None."""
    stack: list[tuple[JSONValue, int, tuple[str | int, ...]]] = [(data, 1, ())]
    while stack:
        value, depth, path = stack.pop()
        if isinstance(value, str):
            problem = _unicode_problem(value)
            if problem is not None:
                return list(path), problem
        elif isinstance(value, list | dict):
            if depth > MAX_DEPTH:
                return list(path), f"nested deeper than {MAX_DEPTH} levels"
            if isinstance(value, list):
                for i in range(len(value) - 1, -1, -1):
                    item = value[i]
                    if isinstance(item, str | list | dict):
                        stack.append((item, depth + 1, (*path, i)))
            else:
                for key, item in reversed(list(value.items())):
                    if not isinstance(key, str):
                        return [*path, str(key)], f"object key {key!r} is not a string"
                    problem = _unicode_problem(key)
                    if problem is not None:
                        return [*path, key], f"object key: {problem}"
                    if isinstance(item, str | list | dict):
                        stack.append((item, depth + 1, (*path, key)))
    return None


def _render_path(parts: list[str | int]) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out = _at(out, part)
        else:  # a key that is not Unicode text is shown escaped
            out = _join(out, part.encode("utf-8", "backslashreplace").decode("utf-8"))
    return out


def _fast_ok(value: JSONValue, depth: int = 1) -> bool:
    """Check the limits without building paths (the common case: everything is fine).

    Recursive, but never deeper than :data:`MAX_DEPTH` + 1 calls.
    """
    t = type(value)
    if t is str:
        return value.isascii() or _unicode_problem(value) is None
    if t is not dict and t is not list:
        return True
    if depth > MAX_DEPTH:
        return False
    items = value.values() if t is dict else value
    if t is dict:
        for key in value:
            if type(key) is not str or (not key.isascii() and _unicode_problem(key) is not None):
                return False
    for item in items:
        ti = type(item)
        if ti is str:
            if not item.isascii() and _unicode_problem(item) is not None:
                return False
        elif (ti is dict or ti is list) and not _fast_ok(item, depth + 1):
            return False
    return True


def check_json_value(data: JSONValue) -> None:
    """Raise :class:`CodecError` (with the path) if ``data`` is past the readers' limits:
    nested deeper than :data:`MAX_DEPTH`, or holding a string or key that is not
    Unicode text (a lone surrogate, which the JSON text ``"\\ud800"`` decodes to).

    >>> check_json_value({"a": ["ok", chr(0xD800)]})
    Traceback (most recent call last):
    ...
    impl.errors.CodecError: cannot decode a[1]: lone surrogate U+D800 at character 0: not Unicode
    """
    if _fast_ok(data):
        return
    found = _first_problem(data)
    if found is not None:
        parts, reason = found
        raise CodecError(_render_path(parts), reason)


def parse_json(text: str | bytes) -> JSONValue:
    """Parse JSON text strictly: the one JSON parser of every snapsync reader.

    Refuses (with :class:`CodecError`) invalid JSON and invalid UTF-8, duplicate
    object keys, ``NaN``/``Infinity``, numbers that overflow a double, and what
    :func:`check_json_value` refuses (too deep, lone surrogates).
    """
    try:
        data = json.loads(
            text,
            object_pairs_hook=_no_duplicate_keys,
            parse_constant=_reject_constant,
            parse_float=_finite,
        )
    except RecursionError:
        raise CodecError("", f"invalid JSON: nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:  # includes json.JSONDecodeError and UnicodeDecodeError
        raise CodecError("", f"invalid JSON: {exc}") from None
    if not _surely_within_limits(text):
        check_json_value(data)
    return data


def _surely_within_limits(text: str | bytes) -> bool:
    """Check, from the text alone, that its value cannot be past the limits, so the walk of
    :func:`check_json_value` is not needed (most texts: a request, a vector, a trace line).

    Sound, not complete: in ASCII text (bytes with no NUL, which ``json`` reads as UTF-8
    char for char) a lone surrogate can only come from a ``\\u`` escape, and a value
    cannot nest deeper than the number of ``[`` and ``{`` in the text.
    """
    if isinstance(text, bytes):
        if not text.isascii() or b"\\u" in text or b"\x00" in text:
            return False
        return text.count(b"[") + text.count(b"{") <= MAX_DEPTH
    if not text.isascii() or "\\u" in text:
        return False
    return text.count("[") + text.count("{") <= MAX_DEPTH


def loads(text: str | bytes, tp: Any = None) -> Any:
    """Parse canonical (or any valid) JSON text and decode it.

    With ``tp=None`` the text must be a tagged record; otherwise it is decoded as ``tp``.
    The text is parsed by :func:`parse_json` (its limits apply).
    """
    data = parse_json(text)
    if tp is None:
        return _decode_tagged(data, "", None)
    return _compile(tp).dec(data, "")


# The foundation modules register their record tags on import (kept referenced); impl.forms
# imports every state record's module.
_REGISTERING_MODULES = (impl.messages, impl.effects, impl.logstore, impl.forms)
