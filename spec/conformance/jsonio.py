"""Strict JSON reading for the conformance kit (readers are verifiers).

:func:`strict_loads` parses one JSON text the way every reader of the kit must
(docs/formats/json.md): duplicate object keys, ``NaN``/``Infinity`` and numbers
that overflow a double are errors, not silently accepted. Writers use
:func:`impl.codec.canonical_json`.
"""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = ["JSONError", "json_type", "strict_loads"]


class JSONError(ValueError):
    """A text is not strict JSON; ``str()`` says why (no path: the text itself is bad)."""


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"duplicate key {key!r}")
            seen.add(key)
    return out


def _constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"number {text} overflows a double")
    return value


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
        return json.loads(
            text, object_pairs_hook=_pairs, parse_constant=_constant, parse_float=_float
        )
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise JSONError(str(exc)) from None
    except RecursionError:
        raise JSONError("nested too deeply") from None


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
