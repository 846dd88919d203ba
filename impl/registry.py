"""Registry of tagged record types: the ``"type"`` names of the JSON forms.

Every message, command, effect and state record that crosses a process boundary
(traces, vectors, adapters) is a frozen dataclass registered here under a stable,
language-neutral tag. :mod:`impl.codec` encodes a registered record as
``{"type": tag, ...fields}`` and decodes by looking the tag up here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from impl.errors import InvalidInput

__all__ = ["TAGS", "is_tagged", "tag_of", "tagged"]

T = TypeVar("T", bound=type)

TAGS: dict[str, type] = {}
"""Tag → class, for every registered record type."""

_BY_CLASS: dict[type, str] = {}


def tagged(tag: str) -> Callable[[T], T]:
    """Register a dataclass under ``tag`` (class decorator)."""

    def deco(cls: T) -> T:
        if tag in TAGS and TAGS[tag] is not cls:
            raise InvalidInput(f"tag {tag!r} is already registered for {TAGS[tag].__name__}")
        TAGS[tag] = cls
        _BY_CLASS[cls] = tag
        return cls

    return deco


def tag_of(cls: type) -> str:
    """Return the tag ``cls`` is registered under, or raise :class:`InvalidInput`."""
    try:
        return _BY_CLASS[cls]
    except KeyError:
        raise InvalidInput(f"{cls.__name__} is not a registered record type") from None


def is_tagged(cls: type) -> bool:
    """Check if ``cls`` itself is a registered record type."""
    return cls in _BY_CLASS
