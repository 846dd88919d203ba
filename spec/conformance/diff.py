"""What the conformance runner compares, and the first difference when it differs.

Normalisation (docs/formats/adapter.md, "What is compared"):

* an outcome is ``{"result": {...}}`` or ``{"error": {...}}``;
* in a result, the ``detail`` of every ``Ignored`` effect is dropped (the reason is
  normative, the detail informative);
* an error keeps ``kind`` and, for a ``HazardPanic``, ``hazard``; its message is
  informative.

Values are compared by type and value: ``1``, ``1.0`` and ``true`` differ (Python's
``==`` would say ``1 == 1.0 == True``). :func:`first_difference` walks depth first,
object keys in sorted order, array elements in order, and returns the first path at
which the two values differ, in the codec's path syntax (``post.inflight[0][1].x``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from impl.codec import canonical_json

__all__ = [
    "MISSING",
    "Difference",
    "first_difference",
    "normalize_error",
    "normalize_outcome",
    "normalize_result",
    "render",
]


class _Missing:
    """The value at a path that one side does not have."""

    def __repr__(self) -> str:
        return "(absent)"


MISSING: Any = _Missing()
"""Marks a side that has no value at the differing path."""


@dataclass(frozen=True, slots=True)
class Difference:
    """The first path at which expected and actual differ, and both values there."""

    path: str
    expected: Any
    actual: Any

    def describe(self, limit: int = 160) -> str:
        """Return ``path: expected X, got Y`` on one line."""
        where = self.path or "<root>"
        return f"{where}: expected {render(self.expected, limit)}, got {render(self.actual, limit)}"


def render(value: Any, limit: int = 160) -> str:
    """Return ``value`` as compact JSON text, cut to ``limit`` characters."""
    if value is MISSING:
        return "(absent)"
    try:
        text = canonical_json(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def normalize_result(result: Any) -> Any:
    """Return ``result`` without the informative ``detail`` of its ``Ignored`` effects.

    Effects appear only in a result's ``effects`` array (an ``Ignored`` is never inside
    another record), so only that array is looked at; the result is not copied when
    nothing is dropped.

    >>> normalize_result({"effects": [{"type": "Ignored", "reason": "stale_term", "detail": "x"}]})
    {'effects': [{'type': 'Ignored', 'reason': 'stale_term'}]}
    """
    if not isinstance(result, dict):
        return result
    effects = result.get("effects")
    if not isinstance(effects, list) or not any(
        isinstance(e, dict) and e.get("type") == "Ignored" and "detail" in e for e in effects
    ):
        return result
    cleaned = [
        {k: v for k, v in e.items() if k != "detail"}
        if isinstance(e, dict) and e.get("type") == "Ignored"
        else e
        for e in effects
    ]
    return {**result, "effects": cleaned}


def normalize_error(error: Any) -> Any:
    """Return the normative part of an error: ``kind``, and ``hazard`` for a HazardPanic.

    >>> normalize_error({"kind": "HazardPanic", "hazard": "H3", "message": "assert"})
    {'kind': 'HazardPanic', 'hazard': 'H3'}
    """
    if not isinstance(error, dict):
        return error
    out = {"kind": error.get("kind", MISSING)}
    if error.get("kind") == "HazardPanic":
        out["hazard"] = error.get("hazard", MISSING)
    return out


def normalize_outcome(outcome: dict[str, Any]) -> dict[str, Any]:
    """Normalise ``{"result": r}`` or ``{"error": e}`` (see the module docstring)."""
    if "result" in outcome:
        return {"result": normalize_result(outcome["result"])}
    return {"error": normalize_error(outcome["error"])}


def _kind(value: Any) -> str:
    # bool before int: True is an int in Python, not in JSON.
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
    return "null" if value is None else type(value).__name__


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def first_difference(expected: Any, actual: Any, path: str = "") -> Difference | None:
    """Return the first path where ``actual`` differs from ``expected``, or ``None``.

    >>> first_difference({"post": {"a": [1, 2]}}, {"post": {"a": [1, 3]}}).describe()
    'post.a[1]: expected 2, got 3'
    >>> first_difference([1], [1.0]).describe()
    '[0]: expected 1, got 1.0'
    >>> first_difference({"a": 1}, {"a": 1, "b": 2}).describe()
    'b: expected (absent), got 2'
    """
    kind = _kind(expected)
    if kind != _kind(actual):
        return Difference(path, expected, actual)
    if kind == "object":
        for key in sorted(set(expected) | set(actual)):
            if key not in actual:
                return Difference(_join(path, key), expected[key], MISSING)
            if key not in expected:
                return Difference(_join(path, key), MISSING, actual[key])
            found = first_difference(expected[key], actual[key], _join(path, key))
            if found is not None:
                return found
        return None
    if kind == "array":
        for i, (e, a) in enumerate(zip(expected, actual, strict=False)):
            found = first_difference(e, a, f"{path}[{i}]")
            if found is not None:
                return found
        if len(expected) != len(actual):
            i = min(len(expected), len(actual))
            return Difference(
                f"{path}[{i}]",
                expected[i] if i < len(expected) else MISSING,
                actual[i] if i < len(actual) else MISSING,
            )
        return None
    if expected != actual:
        return Difference(path, expected, actual)
    return None
