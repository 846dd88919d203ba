"""Validated command-line options: refuse what makes no sense, name the option.

Every numeric option of every command is parsed by one of these argparse types, so
``nan``, ``inf``, negative values, values past a documented bound and text that is
not a number are refused before any work starts, with a message naming the option
(argparse adds ``argument --budget:``; :mod:`spec.cli` prints it as one line, exit 2)::

    parser.add_argument("--items", type=count(0, MAX_ITEMS), default=10_000)
    parser.add_argument("--budget", type=seconds(positive=True), default=60.0)
    parser.add_argument("--seed", type=seed, default=0)

The bounds are part of the CLI's contract (docs/cli.md lists them): a value past
one would exhaust memory or run for days, never finish a useful job.

Outside argparse (library entry points, specs built in code),
:func:`check_range` applies the same rules and raises
:class:`~impl.errors.InvalidInput` naming the parameter. :func:`require_matches`
makes a filter that selects nothing an error instead of an empty success.
:func:`add_behaviour_option` is the one ``--behaviour`` of every command that builds a
profile.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Collection
from typing import TypeVar

from impl.errors import InvalidInput
from impl.profile import Behaviour

__all__ = [
    "MAX_BATCH",
    "MAX_COUNT",
    "MAX_ITEMS",
    "MAX_NODES",
    "MAX_SECONDS",
    "U64_MAX",
    "add_behaviour_option",
    "check_range",
    "count",
    "int_list",
    "probability",
    "require_matches",
    "seconds",
    "seed",
]

U64_MAX = (1 << 64) - 1
MAX_ITEMS = 10_000_000
"""Items of one collection (``simulate --items``, ``--writes-during-sync``, bench sizes):
ten times the largest benchmark size; the model keeps every item in memory."""
MAX_BATCH = 1 << 32
"""A fetch batch size (``--batch``): larger is the same as "everything in one chunk"."""
MAX_NODES = 64
"""Nodes of one group (``simulate --providers``)."""
MAX_COUNT = 1_000_000
"""Repetitions (``--examples``, ``--walks``, ``--repeat``, ``--rounds``, ``--max-rows``)."""
MAX_SECONDS = 7 * 24 * 3600.0
"""A time budget: one week."""

_T = TypeVar("_T")


def _named(fn: Callable[[str], _T], name: str) -> Callable[[str], _T]:
    # argparse names the type in "invalid <name> value" messages.
    fn.__name__ = name
    return fn


def _parse_int(text: str) -> int:
    stripped = text.strip()
    if not stripped or not all(c.isascii() for c in stripped):
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}")
    try:
        return int(stripped)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def _parse_float(text: str) -> float:
    stripped = text.strip()
    try:
        value = float(stripped) if stripped.isascii() else math.nan
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def count(lo: int = 0, hi: int = MAX_COUNT) -> Callable[[str], int]:
    """Return an argparse type: an integer in ``[lo, hi]``.

    >>> count(1, 10)("3")
    3
    >>> count(1, 10)("0")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: must be in [1, 10], got 0
    """

    def parse(text: str) -> int:
        value = _parse_int(text)
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"must be in [{lo}, {hi}], got {value}")
        return value

    return _named(parse, "count")


def seed(text: str) -> int:
    """An argparse type: a seed, an integer in ``[0, 2**64)``.

    >>> seed("7")
    7
    """
    return count(0, U64_MAX)(text)


def seconds(*, positive: bool = False, hi: float = MAX_SECONDS) -> Callable[[str], float]:
    """Return an argparse type: a finite number of seconds, ``> 0`` (``positive``) or
    ``>= 0``, at most ``hi``.

    >>> seconds(positive=True)("1.5")
    1.5
    >>> seconds()("nan")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: expected a finite number, got 'nan'
    """

    def parse(text: str) -> float:
        value = _parse_float(text)
        if positive and value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text!r}")
        if value < 0:
            raise argparse.ArgumentTypeError(f"must not be negative, got {text!r}")
        if value > hi:
            raise argparse.ArgumentTypeError(f"must be at most {hi:g} seconds, got {text!r}")
        return value

    return _named(parse, "seconds")


def probability(text: str) -> float:
    """An argparse type (and parser of ``NAME=RATE`` rates): a finite number in ``[0, 1]``.

    >>> probability("0.25")
    0.25
    """
    value = _parse_float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], got {text!r}")
    return value


def int_list(lo: int, hi: int) -> Callable[[str], list[int]]:
    """Return an argparse type: a non-empty comma-separated list of integers in ``[lo, hi]``.

    >>> int_list(1, 100)("1,10, 100")
    [1, 10, 100]
    """
    one = count(lo, hi)

    def parse(text: str) -> list[int]:
        parts = [p for p in text.split(",") if p.strip()]
        if not parts:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list, got {text!r}")
        return [one(p) for p in parts]

    return _named(parse, "list")


def check_range(name: str, value: object, lo: float, hi: float) -> None:
    """Raise :class:`InvalidInput` naming ``name`` unless ``value`` is a finite number
    (not a bool) in ``[lo, hi]``.

    >>> check_range("items", 5, 0, 10)
    >>> check_range("items", -1, 0, 10)
    Traceback (most recent call last):
    ...
    impl.errors.InvalidInput: items must be in [0, 10], got -1
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"{name} must be a number, got {type(value).__name__}")
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidInput(f"{name} must be a finite number, got {value}")
    if not lo <= value <= hi:
        raise InvalidInput(f"{name} must be in [{lo:g}, {hi:g}], got {value}")


def require_matches(option: str, pattern: object, matches: Collection[object]) -> None:
    """Raise :class:`InvalidInput` when a filter selects nothing (never an empty success).

    >>> require_matches("--filter", "nope", [])
    Traceback (most recent call last):
    ...
    impl.errors.InvalidInput: --filter 'nope' matches nothing
    """
    if not matches:
        raise InvalidInput(f"{option} {pattern!r} matches nothing")


def add_behaviour_option(parser: argparse.ArgumentParser, *, where: str = "") -> None:
    """Add ``--behaviour B`` (repeatable): a version behaviour switched on in addition.

    ``where`` says what the switch applies to (``" in the model"`` for ``drive``, whose
    external node is not switched). An unknown name is refused by argparse, naming the
    option and the known names.
    """
    names = [b.value for b in Behaviour]
    parser.add_argument(
        "--behaviour",
        action="append",
        default=[],
        metavar="B",
        choices=names,
        help=f"switch a version behaviour on{where} in addition (repeatable): " + ", ".join(names),
    )
