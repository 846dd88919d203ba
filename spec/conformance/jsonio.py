"""Strict JSON reading for the conformance kit (readers are verifiers).

:func:`strict_loads` parses one JSON text the way every reader of the kit must
(docs/formats/json.md, "Limits"): it is :func:`impl.codec.parse_json`, the one strict
parser of every reader in snapsync, so duplicate object keys, ``NaN``/``Infinity``,
numbers that overflow a double, nesting past ``MAX_DEPTH`` and lone surrogates are
errors, not silently accepted. Writers use
:func:`impl.codec.canonical_json`.
"""

from __future__ import annotations

from typing import Any

from impl.codec import parse_json
from impl.errors import CodecError

__all__ = ["JSONError", "json_type", "strict_loads"]


class JSONError(ValueError):
    """A text is not strict JSON; ``str()`` says why (no path: the text itself is bad)."""


def strict_loads(text: str | bytes) -> Any:
    """Parse ``text`` strictly; raise :class:`JSONError` on anything json.md forbids.

    >>> strict_loads('{"a": [1, 2.5, "x"]}')
    {'a': [1, 2.5, 'x']}
    >>> strict_loads('{"a": 1, "a": 2}')
    Traceback (most recent call last):
    ...
    spec.conformance.jsonio.JSONError: duplicate key 'a'
    """
    try:
        return parse_json(text)
    except CodecError as exc:
        raise JSONError(
            str(exc) if exc.field else exc.reason.removeprefix("invalid JSON: ")
        ) from None


def json_type(value: object) -> str:
    """Name a JSON value's type (``integer``, ``number``, ``boolean``, …) for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__
