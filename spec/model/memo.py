"""Memoised state machines: the model shares the results of identical pure applies.

A collection's ``apply_batch`` is a pure function, and for a batch without a
``TakeSnapshot`` command its result does not depend on the apply context at all
(S1: the context only decides which snapshot requests to serve and at which
position; with no TakeSnapshot there are none). So when two nodes — or a node
and the ghost's oracle — apply *the same commands* (the same objects, as they
travel in the same AppendEntries) to *the same state*, the result is the same
value, and the model may hand out the one it already computed. This is how a
model checker caches transitions; it changes no outcome, only the cost: in a
run where a leader and its followers apply n commands, the work is done once.

"The same state" is decided by identity, or by both states being empty (every
node starts from its own ``initial()`` value; empty states of one collection
are equal values). Anything else misses the cache and is computed for real, so
a node that applies different commands, or applies them to a different state,
is computed independently and checked against the oracle as usual.

The machine also keeps the *provenance* of recent results: which state and which
commands produced them. The invariant checker uses it to verify I9 inductively
(a state derived by applying exactly ``L[k0+1..k]`` to a state already verified
equal to ``Apply(k0)`` equals ``Apply(k)``, because ``apply_batch`` is a pure
function), which costs the batch's length instead of the state's size.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from impl.collections.base import ApplyContext, PendingRequest, Snapshot, StateMachine
from impl.messages import Command, Item, TakeSnapshot
from impl.profile import Profile

__all__ = ["MemoMachine"]

_EMPTY = ("empty",)


class MemoMachine:
    """A :class:`~impl.collections.base.StateMachine` that memoises ``apply_batch``.

    Every other method delegates to the wrapped machine unchanged.
    """

    def __init__(self, inner: StateMachine, capacity: int = 8) -> None:
        self.inner = inner
        self.kind = inner.kind
        self._capacity = capacity
        self._cache: OrderedDict[tuple[Any, ...], tuple[Any, tuple[Command, ...], Any]] = (
            OrderedDict()
        )
        self.hits = 0
        self.misses = 0
        self._provenance: OrderedDict[int, tuple[Any, tuple[Command, ...], Any]] = OrderedDict()

    def provenance(self, state: Any) -> tuple[Any, tuple[Command, ...]] | None:
        """Return ``(input state, commands)`` of the recent ``apply_batch`` that returned
        ``state`` (the identical object), or ``None`` if it is not known."""
        got = self._provenance.get(id(state))
        if got is None or got[2] is not state:
            return None
        return got[0], got[1]

    def _record(self, base: Any, batch: tuple[Command, ...], result: Any) -> None:
        if result is base:
            return  # an empty or no-op batch: nothing new to record
        self._provenance[id(result)] = (base, batch, result)
        if len(self._provenance) > 4 * self._capacity + 64:
            self._provenance.popitem(last=False)

    def _state_key(self, state: Any) -> Any:
        if len(self.inner.create_snapshot(state)) == 0:
            return _EMPTY
        return id(state)

    def initial(self) -> Any:
        """Return the wrapped machine's empty state."""
        return self.inner.initial()

    def apply_batch(
        self, state: Any, commands: Sequence[Command], ctx: ApplyContext, profile: Profile
    ) -> tuple[Any, tuple[PendingRequest, ...]]:
        """S1, memoised for batches without TakeSnapshot (see the module docstring)."""
        batch = tuple(commands)
        if not batch or any(isinstance(c, TakeSnapshot) for c in batch):
            result, requests = self.inner.apply_batch(state, batch, ctx, profile)
            self._record(state, batch, result)
            return result, requests
        skey = self._state_key(state)
        key = (skey, profile.hazards, len(batch), tuple(map(id, batch)))
        hit = self._cache.get(key)
        if hit is not None:
            base, cached_batch, result = hit
            same_base = skey == _EMPTY or base is state
            if same_base and all(a is b for a, b in zip(cached_batch, batch, strict=True)):
                self._cache.move_to_end(key)
                self.hits += 1
                if base is state:
                    self._record(state, batch, result)
                return result, ()
        self.misses += 1
        result, requests = self.inner.apply_batch(state, batch, ctx, profile)
        self._record(state, batch, result)
        self._cache[key] = (state, batch, result)
        if len(self._cache) > self._capacity:
            self._cache.popitem(last=False)
        return result, requests

    def create_snapshot(self, state: Any, *args: Any, **kwargs: Any) -> Snapshot:
        """S3 of the wrapped machine (arguments passed through)."""
        return self.inner.create_snapshot(state, *args, **kwargs)

    def install_snapshot(self, state: Any, snapshot: Snapshot) -> Any:
        """S2 of the wrapped machine."""
        return self.inner.install_snapshot(state, snapshot)

    def empty_snapshot(self, *args: Any, **kwargs: Any) -> Snapshot:
        """``Snapshot::default()`` of the wrapped machine (arguments passed through)."""
        return self.inner.empty_snapshot(*args, **kwargs)

    def items(self, state: Any) -> tuple[Item, ...]:
        """Every item of ``state`` in canonical order."""
        return self.inner.items(state)
