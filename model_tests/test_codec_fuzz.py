"""Codec fuzzing: any input gives a value or a CodecError — deep nesting, invalid Unicode, noise."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from impl.codec import (
    DATUM,
    MAX_DEPTH,
    EncodeError,
    canonical_json,
    check_json_value,
    decode,
    decode_tagged,
    encode,
    encode_tagged,
    loads,
    parse_json,
)
from impl.effects import Effect
from impl.errors import CodecError
from impl.messages import AppendEntries, Message
from impl.types import Cursor
from model_tests.test_codec import RECORDS

TARGETS: list[Any] = [None, DATUM, Cursor, Message, Effect, AppendEntries, int, str]
"""Static types the fuzzers decode as (None: a tagged record of any kind)."""

SURROGATES = ["\ud800", "a\udfff", "\udc00b", "x\ud83d"]  # lone, not pairs


def _nest(depth: int) -> Any:
    value: Any = []
    for _ in range(depth - 1):
        value = [value]
    return value


def _paths(value: Any, path: str = "") -> list[tuple[str, str]]:
    """Every string leaf and object key of a JSON value: (path, kind)."""
    out: list[tuple[str, str]] = []
    if isinstance(value, str):
        out.append((path, "value"))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out += _paths(item, f"{path}[{i}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else key
            out.append((where, "key"))
            out += _paths(item, where)
    return out


def _replace(value: Any, path: str, kind: str, bad: str) -> Any:
    """``value`` with the string (or the key) at ``path`` replaced by ``bad``."""
    if isinstance(value, list):
        head, _, _ = path.partition("]")
        i = int(head[1:])
        rest = path[len(head) + 1 :].lstrip(".")
        copy = list(value)
        copy[i] = bad if not rest and kind == "value" else _replace(value[i], rest, kind, bad)
        return copy
    if isinstance(value, dict):
        for key in value:
            if path == key:
                if kind == "key":
                    return {(bad if k == key else k): v for k, v in value.items()}
                return {**value, key: bad}
            for sep in (".", "["):
                if path.startswith(key + sep):
                    rest = path[len(key) + (1 if sep == "." else 0) :]
                    return {**value, key: _replace(value[key], rest, kind, bad)}
    raise AssertionError(f"no {path!r} in {value!r}")  # pragma: no cover


def _renamed(path: str, key: str) -> str:
    """``path`` with its last key replaced by ``key``."""
    head, dot, _ = path.rpartition(".")
    return f"{head}.{key}" if dot else key


def _shown(text: str) -> str:
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _decoders(text: str, tp: Any) -> Any:
    return loads(text) if tp is None else loads(text, tp)


def _name(cls: object) -> str:
    return str(getattr(cls, "__name__", cls))


# -- invalid Unicode in every string field ------------------------------------------------------


@pytest.mark.parametrize("cls", sorted(RECORDS, key=_name), ids=_name)
@given(data=st.data())
def test_every_string_field_refuses_a_lone_surrogate(cls: type, data: st.DataObject) -> None:
    """Each string of a record's JSON — values, tags, hex ids, enum values, and keys —
    holding a lone surrogate is a CodecError naming that field, never a value."""
    value = data.draw(RECORDS[cls])
    doc = encode_tagged(value)
    paths = _paths(doc)
    if not paths:
        return
    path, kind = data.draw(st.sampled_from(paths))
    bad = data.draw(st.sampled_from(SURROGATES))
    tampered = _replace(doc, path, kind, bad)
    expected = path if kind == "value" else _renamed(path, bad)
    # Both as raw text (a Python str) and as escaped JSON (what a file holds).
    for text in (canonical_json(tampered), json.dumps(tampered, ensure_ascii=True)):
        with pytest.raises(CodecError) as info:
            loads(text)
        assert _shown(info.value.field) == _shown(expected)
        assert "surrogate" in info.value.reason
    with pytest.raises(CodecError):
        decode_tagged(tampered)


def test_a_surrogate_pair_is_text_and_round_trips() -> None:
    assert loads('"\\ud83d\\ude00"', DATUM) == "😀"
    assert loads(json.dumps(["😀"]), DATUM) == ("😀",)


def test_encoding_a_lone_surrogate_is_an_encode_error() -> None:
    for bad in SURROGATES:
        with pytest.raises(EncodeError, match="surrogate"):
            encode((1, bad), DATUM)


# -- deep nesting --------------------------------------------------------------------------------


def test_the_depth_limit_is_exact() -> None:
    ok = canonical_json(_nest(MAX_DEPTH))
    assert parse_json(ok) == _nest(MAX_DEPTH)
    assert loads(ok, DATUM) is not None
    with pytest.raises(CodecError) as info:
        loads(canonical_json(_nest(MAX_DEPTH + 1)), DATUM)
    assert info.value.field == "[0]" * MAX_DEPTH
    assert f"deeper than {MAX_DEPTH}" in info.value.reason


@pytest.mark.parametrize(
    "text",
    [
        '["\\ud800"]',  # an escaped lone surrogate in short ASCII text
        '{"\\udfff":1}',  # ... as an object key
        b'["\\ud800"]',
        '["\ud800"]',  # a raw lone surrogate in a Python str
        b'["\xed\xa0\x80"]',  # a surrogate encoded as UTF-8 (json reads it with surrogatepass)
        '["\ud800"]'.encode("utf-16-le", "surrogatepass"),  # NUL bytes: read as UTF-16
        canonical_json(_nest(MAX_DEPTH + 1)),
        canonical_json(_nest(MAX_DEPTH + 1)).encode(),
        '{"a":' * (MAX_DEPTH + 1) + "1" + "}" * (MAX_DEPTH + 1),
    ],
    ids=repr,
)
def test_the_text_shortcut_never_skips_a_value_past_the_limits(text: str | bytes) -> None:
    """parse_json skips the walk of check_json_value when the text alone shows that the
    value is within the limits (ASCII, no \\u escape, at most MAX_DEPTH brackets); each
    text here breaks one of those conditions and must still be refused."""
    with pytest.raises(CodecError, match=r"surrogate|deeper than"):
        parse_json(text)


@given(value=st.deferred(lambda: json_values))
def test_the_text_shortcut_agrees_with_the_walk(value: Any) -> None:
    """Whatever the shortcut lets through, the walk accepts too (for every way a reader
    may get the text: str, escaped ASCII, UTF-8 and UTF-16 bytes)."""
    from impl.codec import _surely_within_limits

    try:
        strings = [json.dumps(value), json.dumps(value, ensure_ascii=False)]
    except ValueError:  # pragma: no cover - floats only
        return
    texts: list[str | bytes] = [*strings, *(t.encode("utf-8", "surrogatepass") for t in strings)]
    texts.append(strings[1].encode("utf-16-le", "surrogatepass"))
    for text in texts:
        if _surely_within_limits(text):
            check_json_value(json.loads(text))


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 900, 5_000, 200_000])
@pytest.mark.parametrize("tp", TARGETS, ids=repr)
def test_deep_nesting_is_a_codec_error_never_a_recursion_error(depth: int, tp: Any) -> None:
    for text in ("[" * depth + "]" * depth, '{"a":' * depth + "1" + "}" * depth):
        with pytest.raises(CodecError, match="deeper than"):
            _decoders(text, tp)


def test_deep_values_built_in_python() -> None:
    deep = _nest(50_000)
    with pytest.raises(CodecError, match="deeper than"):
        decode(deep, DATUM)
    with pytest.raises(CodecError, match="deeper than"):
        check_json_value(deep)
    nested: Any = ()
    for _ in range(50_000):
        nested = (nested,)
    with pytest.raises(EncodeError):
        encode(nested, DATUM)


# -- noise -----------------------------------------------------------------------------------

json_values: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(st.characters(codec=None, categories=None), max_size=6),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.text(st.characters(codec=None, categories=None), max_size=4), inner, max_size=4
        )
    ),
    max_leaves=30,
)
"""JSON values whose strings may hold any code point, lone surrogates included."""


@given(
    text=st.text(st.characters(codec=None, categories=None), max_size=80),
    tp=st.sampled_from(TARGETS),
)
def test_any_text_is_a_value_or_a_codec_error(text: str, tp: Any) -> None:
    with contextlib.suppress(CodecError):
        _decoders(text, tp)


@given(raw=st.binary(max_size=80), tp=st.sampled_from(TARGETS))
def test_any_bytes_are_a_value_or_a_codec_error(raw: bytes, tp: Any) -> None:
    try:
        _decoders(raw.decode("latin-1"), tp)
        loads(raw) if tp is None else loads(raw, tp)
    except CodecError:
        pass


@given(value=json_values, tp=st.sampled_from(TARGETS))
def test_any_json_value_is_a_value_or_a_codec_error(value: Any, tp: Any) -> None:
    tagged = {"type": "AppendEntries", "term": value, "entries": [value]}
    for data in (value, tagged, [value, {"type": "TakeSnapshot", "request": value}]):
        with contextlib.suppress(CodecError):
            decode_tagged(data) if tp is None else decode(data, tp)
        try:
            text = json.dumps(data)
        except (ValueError, OverflowError):  # pragma: no cover - floats only
            continue
        with contextlib.suppress(CodecError):
            _decoders(text, tp)


@given(data=st.data())
def test_a_valid_record_with_one_mutation_is_a_value_or_a_codec_error(data: st.DataObject) -> None:
    """Records mutated at one place (a value swapped for any JSON value) never crash."""
    cls = data.draw(st.sampled_from(sorted(RECORDS, key=lambda c: c.__name__)))
    doc = encode_tagged(data.draw(RECORDS[cls]))
    paths = [p for p, kind in _paths(doc) if kind == "value"]
    if not paths:
        return
    path = data.draw(st.sampled_from(paths))
    tampered = _replace(doc, path, "value", data.draw(json_values))
    with contextlib.suppress(CodecError):
        decode_tagged(tampered)
