"""Argument domains of the hunt's rules: one declaration, two generators, one shrinker.

A rule argument is declared once as a :class:`Domain`; the declaration gives

* :meth:`Domain.strategy` — the Hypothesis strategy the ``RuleBasedStateMachine``
  draws from (exactly the strategy the rule was written with, so Hypothesis's
  generation and shrinking are unchanged);
* :meth:`Domain.draw` — a draw from a seeded :class:`random.Random`, used by the
  swarm engine (:mod:`spec.hunt.swarm`), which runs the same rules without
  Hypothesis's per-draw cost;
* :meth:`Domain.simpler` — the values the swarm shrinker tries instead of a drawn
  one, simplest first (the order Hypothesis shrinks towards: the first choice,
  the low end of a range, ``None``, shorter lists);
* :meth:`Domain.members` — every value of a finite domain, in order, for the
  explorer (:mod:`spec.explore`), which takes every argument where the hunt draws one.

Both generators draw from the same values, so a program found by one is a program
of the other.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

__all__ = ["Build", "Choice", "Domain", "Ints", "Just", "ListOf", "Maybe", "OneOf", "TupleOf"]


class Domain:
    """A finite family of argument values (module docstring)."""

    def strategy(self) -> st.SearchStrategy[Any]:
        """Return the Hypothesis strategy over this domain."""
        raise NotImplementedError

    def draw(self, rng: random.Random) -> Any:
        """Return one value drawn with ``rng``."""
        raise NotImplementedError

    def simpler(self, value: Any) -> Iterator[Any]:
        """Yield values simpler than ``value``, simplest first (none by default)."""
        return iter(())

    def members(self) -> tuple[Any, ...]:
        """Return every value of this domain, simplest first (finite domains only)."""
        raise TypeError(f"{type(self).__name__} is not enumerated")


@dataclass(frozen=True, slots=True)
class Ints(Domain):
    """The integers ``lo..hi`` (inclusive)."""

    lo: int
    hi: int

    def strategy(self) -> st.SearchStrategy[Any]:
        return st.integers(self.lo, self.hi)

    def draw(self, rng: random.Random) -> Any:
        return rng.randint(self.lo, self.hi)

    def members(self) -> tuple[Any, ...]:
        """``lo, lo + 1, ..., hi``.

        >>> Ints(1, 3).members()
        (1, 2, 3)
        """
        return tuple(range(self.lo, self.hi + 1))

    def simpler(self, value: Any) -> Iterator[Any]:
        """Towards ``lo``: ``lo``, the midpoint, ``value - 1``.

        >>> list(Ints(0, 7).simpler(6))
        [0, 3, 5]
        """
        seen: set[int] = set()
        for v in (self.lo, (self.lo + value) // 2, value - 1):
            if self.lo <= v < value and v not in seen:
                seen.add(v)
                yield v


@dataclass(frozen=True, slots=True)
class Choice(Domain):
    """One of ``values`` (the first is the simplest)."""

    values: tuple[Any, ...]

    def strategy(self) -> st.SearchStrategy[Any]:
        return st.sampled_from(self.values)

    def draw(self, rng: random.Random) -> Any:
        return self.values[rng.randrange(len(self.values))]

    def members(self) -> tuple[Any, ...]:
        """The values, in order.

        >>> Choice((1, -1)).members()
        (1, -1)
        """
        return tuple(self.values)

    def simpler(self, value: Any) -> Iterator[Any]:
        """The values listed before ``value``.

        >>> list(Choice((0, 500, 1000)).simpler(1000))
        [0, 500]
        """
        for v in self.values:
            if v == value:
                return
            yield v


@dataclass(frozen=True, slots=True)
class Just(Domain):
    """Always ``value``."""

    value: Any

    def strategy(self) -> st.SearchStrategy[Any]:
        return st.just(self.value)

    def draw(self, rng: random.Random) -> Any:
        return self.value

    def members(self) -> tuple[Any, ...]:
        """The one value."""
        return (self.value,)


@dataclass(frozen=True, slots=True)
class Maybe(Domain):
    """``None`` or a value of ``inner`` (Hypothesis: ``st.none() | inner``)."""

    inner: Domain

    def strategy(self) -> st.SearchStrategy[Any]:
        return st.none() | self.inner.strategy()

    def draw(self, rng: random.Random) -> Any:
        return None if rng.random() < 0.5 else self.inner.draw(rng)

    def simpler(self, value: Any) -> Iterator[Any]:
        """``None`` first, then simpler inner values.

        >>> list(Maybe(Ints(0, 7)).simpler(2))
        [None, 0, 1]
        """
        if value is None:
            return
        yield None
        yield from self.inner.simpler(value)


@dataclass(frozen=True, slots=True)
class OneOf(Domain):
    """A value of one of ``alternatives`` (each equally likely in a swarm draw)."""

    alternatives: tuple[Domain, ...]

    def strategy(self) -> st.SearchStrategy[Any]:
        return st.one_of(*(a.strategy() for a in self.alternatives))

    def draw(self, rng: random.Random) -> Any:
        return self.alternatives[rng.randrange(len(self.alternatives))].draw(rng)


@dataclass(frozen=True, slots=True)
class Build(Domain):
    """``make(*args)`` with each argument drawn from its domain (``st.builds``)."""

    make: Callable[..., Any]
    args: tuple[Domain, ...] = ()

    def strategy(self) -> st.SearchStrategy[Any]:
        return st.builds(self.make, *(a.strategy() for a in self.args))

    def draw(self, rng: random.Random) -> Any:
        return self.make(*(a.draw(rng) for a in self.args))


@dataclass(frozen=True, slots=True)
class ListOf(Domain):
    """Lists of ``min_size..max_size`` values of ``inner``; tuples if ``as_tuple``."""

    inner: Domain
    min_size: int = 0
    max_size: int = 3
    as_tuple: bool = False

    def strategy(self) -> st.SearchStrategy[Any]:
        s = st.lists(self.inner.strategy(), min_size=self.min_size, max_size=self.max_size)
        return s.map(tuple) if self.as_tuple else s

    def draw(self, rng: random.Random) -> Any:
        out = [self.inner.draw(rng) for _ in range(rng.randint(self.min_size, self.max_size))]
        return tuple(out) if self.as_tuple else out

    def simpler(self, value: Any) -> Iterator[Any]:
        """Shorter: one element dropped at a time (from the front).

        >>> list(ListOf(Ints(0, 9), 1, 3).simpler([4, 5]))
        [[5], [4]]
        """
        items: Sequence[Any] = value
        if len(items) <= self.min_size:
            return
        for k in range(len(items)):
            shorter = list(items[:k]) + list(items[k + 1 :])
            yield tuple(shorter) if self.as_tuple else shorter


@dataclass(frozen=True, slots=True)
class TupleOf(Domain):
    """Tuples with one value of each of ``parts`` (``st.tuples``).

    >>> TupleOf((Ints(0, 0), Just("x"))).draw(random.Random(0))
    (0, 'x')
    """

    parts: tuple[Domain, ...]

    def strategy(self) -> st.SearchStrategy[Any]:
        return st.tuples(*(p.strategy() for p in self.parts))

    def draw(self, rng: random.Random) -> Any:
        return tuple(p.draw(rng) for p in self.parts)
