"""One-line provider bugs for the detection tests (model_tests/test_provider_life.py).

Each :class:`ProviderMutant` names an impl function and one line of its source to
replace; :func:`applied` recompiles the function with the line changed and installs
it in every loaded module that imported it, for the duration of a ``with`` block.
The hunt's caches of built groups and deadlines are emptied on the way in and out,
so no state built by the mutant outlives it (nor a reference-built one enters it).
"""

from __future__ import annotations

import inspect
import sys
import textwrap
import types
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import impl.provider

__all__ = ["MUTANTS", "ProviderMutant", "applied"]


@dataclass(frozen=True, slots=True)
class ProviderMutant:
    """A one-line change in one function of :mod:`impl.provider`."""

    name: str
    function: str
    old: str
    new: str
    kind: str
    """What a re-implementer got wrong."""


MUTANTS: tuple[ProviderMutant, ...] = (
    ProviderMutant(
        "fetch-no-refresh",
        "on_fetch_data_request",
        "deadline = pctx.now_ms + pctx.config.snapshot_ttl_ms",
        "deadline = entry.deadline_ms",
        "a fetch does not refresh the TTL (P4.4)",
    ),
    ProviderMutant(
        "fetch-refresh-wrong-timeout",
        "on_fetch_data_request",
        "deadline = pctx.now_ms + pctx.config.snapshot_ttl_ms",
        "deadline = pctx.now_ms + pctx.config.fetch_timeout_ms",
        "a fetch refreshes the TTL with the fetch timeout (P4.4)",
    ),
    ProviderMutant(
        "prune-inverted",
        "prune_expired_snapshots",
        "expired = sorted(c for c, a in p.available.items() if a.deadline_ms <= now_ms)",
        "expired = sorted(c for c, a in p.available.items() if a.deadline_ms > now_ms)",
        "P5 drops the live snapshots and keeps the expired ones",
    ),
    ProviderMutant(
        "prune-off-by-one",
        "prune_expired_snapshots",
        "expired = sorted(c for c, a in p.available.items() if a.deadline_ms <= now_ms)",
        "expired = sorted(c for c, a in p.available.items() if a.deadline_ms < now_ms)",
        "P5 keeps a snapshot at its deadline (< for <=)",
    ),
    ProviderMutant(
        "prune-keeps-all-but-last",
        "prune_expired_snapshots",
        "available = available.discard(anchor)",
        "available = p.available.discard(anchor)",
        "P5 drops only the last of several expired snapshots",
    ),
    ProviderMutant(
        "wake-at-last-ttl",
        "provider_next_deadline",
        "return min(a.deadline_ms for a in p.available.values())",
        "return max(a.deadline_ms for a in p.available.values())",
        "the provider asks to be woken at its last TTL, not its first",
    ),
    ProviderMutant(
        "serve-short-chunk",
        "on_fetch_data_request",
        "end = min(request.range.end, start + pctx.config.fetch_batch_size)",
        "end = min(request.range.end - 1, start + pctx.config.fetch_batch_size)",
        "the served range drops its last item (offset/length arithmetic, P4.2)",
    ),
    ProviderMutant(
        "offer-counts-snapshots",
        "poll_pending_requests",
        "info = SnapshotInfo(anchor=pending.position, items_count=len(pending.snapshot))",
        "info = SnapshotInfo(anchor=pending.position, items_count=len(available))",
        "the offer carries the number of snapshots held, not the snapshot's length (P3.3)",
    ),
    ProviderMutant(
        "answer-to-self",
        "on_fetch_data_request",
        "return p, (revive, Send(sender, response))",
        "return p, (revive, Send(pctx.local_id, response))",
        "the chunk goes to the provider itself, not the asker: wrong peer answered (P4.6)",
    ),
    ProviderMutant(
        "serve-ttl-inverted",
        "on_fetch_data_request",
        "if entry.deadline_ms <= pctx.now_ms and not pctx.profile.has(Hazard.H7):",
        "if entry.deadline_ms > pctx.now_ms and not pctx.profile.has(Hazard.H7):",
        "P4's expiry test is inverted: live snapshots are refused (P4.1)",
    ),
    ProviderMutant(
        "request-stamped-own-id",
        "provider_receive",
        "request = SnapshotRequest(requested_by=sender, requested_at_ms=pctx.now_wall_ms)",
        "request = SnapshotRequest(requested_by=pctx.local_id, requested_at_ms=pctx.now_wall_ms)",
        "the request names the leader instead of the asker: wrong peer answered (P1)",
    ),
    ProviderMutant(
        "channel-not-drained",
        "poll_pending_requests",
        "return ProviderState(available=available, requests=()), tuple(effects), True",
        "return ProviderState(available=available, requests=p.requests), tuple(effects), True",
        "P3 does not empty the request channel: every tick offers again (a livelock)",
    ),
)
"""The provider bugs (each one line of :mod:`impl.provider`)."""


def _mutated(function: Any, old: str, new: str) -> Any:
    source = textwrap.dedent(inspect.getsource(function))
    if source.count(old) != 1:
        raise ValueError(f"{function.__name__}: {old!r} is not exactly one line of its source")
    module = sys.modules[function.__module__]
    code = compile(source.replace(old, new), inspect.getsourcefile(function) or "<mutant>", "exec")
    namespace: dict[str, Any] = {}
    exec(code, module.__dict__, namespace)
    result = namespace[function.__name__]
    assert isinstance(result, types.FunctionType)
    return result


def _clear_caches() -> None:
    from spec.hunt import machine
    from spec.model import actions

    machine._GROUPS.clear()
    actions._DEADLINES.clear()


@contextmanager
def applied(mutant: ProviderMutant) -> Iterator[None]:
    """Install ``mutant`` in every loaded module that holds the original function."""
    original = getattr(impl.provider, mutant.function)
    broken = _mutated(original, mutant.old, mutant.new)
    patched = [
        (module, name)
        for module in list(sys.modules.values())
        if module is not None
        for name, value in list(vars(module).items())
        if value is original
    ]
    _clear_caches()
    try:
        for module, name in patched:
            setattr(module, name, broken)
        yield
    finally:
        for module, name in patched:
            setattr(module, name, original)
        _clear_caches()
