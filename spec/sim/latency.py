"""The simulator's latency model: how long a message spends on a bond.

Each direction of a bond delivers in FIFO order (inventory §0.4), so a sampled
latency only proposes a delivery time: the simulator delivers a message no
earlier than the one queued before it on the same direction
(:meth:`LatencyModel.delivery_time`). Bonds differ through per-bond overrides;
there is no order across bonds.

All randomness comes from the ``random.Random`` the simulator passes in, so a
seed fixes every latency.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field

from impl.errors import InvalidInput

__all__ = ["BondLatency", "LatencyModel"]


@dataclass(frozen=True, slots=True)
class BondLatency:
    """Latency of one bond direction: ``base_ms + U[0, jitter_ms]`` (inclusive).

    >>> BondLatency(5, 0).sample(random.Random(1))
    5
    """

    base_ms: int = 2
    """The minimum one-way delay."""
    jitter_ms: int = 3
    """The largest extra delay drawn uniformly on top of ``base_ms``."""

    def __post_init__(self) -> None:
        for name in ("base_ms", "jitter_ms"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidInput(f"BondLatency.{name} must be a non-negative integer")

    def sample(self, rng: random.Random) -> int:
        """Draw one delay in milliseconds."""
        if self.jitter_ms == 0:
            return self.base_ms
        return self.base_ms + rng.randint(0, self.jitter_ms)


@dataclass(frozen=True, slots=True)
class LatencyModel:
    """Per-bond one-way latencies; ``overrides[(src, dst)]`` replaces the default.

    >>> m = LatencyModel(BondLatency(1, 0), {("w0", "r2"): BondLatency(40, 0)})
    >>> rng = random.Random(0)
    >>> m.delivery_time(rng, "w0", "r1", now_ms=100, last_queued_ms=None)
    101
    >>> m.delivery_time(rng, "w0", "r2", now_ms=100, last_queued_ms=None)
    140
    >>> m.delivery_time(rng, "w0", "r1", now_ms=100, last_queued_ms=130)
    130
    """

    default: BondLatency = field(default_factory=BondLatency)
    """Latency of every bond direction without an override."""
    overrides: Mapping[tuple[str, str], BondLatency] = field(default_factory=dict)
    """Latency of specific directions ``(sender name, receiver name)``."""

    def for_bond(self, src: str, dst: str) -> BondLatency:
        """Return the latency of the direction ``src → dst``."""
        return self.overrides.get((src, dst), self.default)

    def delivery_time(
        self,
        rng: random.Random,
        src: str,
        dst: str,
        *,
        now_ms: int,
        last_queued_ms: int | None,
    ) -> int:
        """Return when a message sent now on ``src → dst`` is delivered (FIFO-adjusted)."""
        at = now_ms + self.for_bond(src, dst).sample(rng)
        if last_queued_ms is not None and at < last_queued_ms:
            # FIFO: never overtake the message queued before on the same direction.
            return last_queued_ms
        return at

    def describe(self) -> dict[str, object]:
        """Return a JSON-able description (for trace headers)."""
        return {
            "default": {"base_ms": self.default.base_ms, "jitter_ms": self.default.jitter_ms},
            "overrides": [
                {"src": s, "dst": d, "base_ms": b.base_ms, "jitter_ms": b.jitter_ms}
                for (s, d), b in sorted(self.overrides.items())
            ],
        }
