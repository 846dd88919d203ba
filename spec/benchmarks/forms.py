"""``snapsync bench forms``: node states per second through their JSON forms.

The conformance kit writes and reads a pre-state, a context and a post-state for
every step vector, so the JSON forms of the state records (docs/formats/json.md,
"States and contexts"; :mod:`impl.forms`) must be cheap. This benchmark collects
the distinct node states and node contexts that the model reaches on the fixed
workload of ``snapsync bench actions`` (every collection kind under both
profiles, one round: a group forms, two readers catch up while bonds break and
clients write), then times, as the process's CPU time, the best of ``--repeat``:

* **write**: ``impl.codec.dumps`` of each value (the canonical tagged text);
* **read**: ``impl.codec.loads`` of each text (parse, build and check the value).

Every read value must equal the original, and every text re-encode to itself, or
the benchmark fails (exit status 2): it measures the real round trip. It prints
states per CPU second for each direction, for node states and for contexts, and the
mean text size.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from impl.codec import dumps, loads
from impl.errors import SnapshotSyncError
from spec.benchmarks.model_actions import PROFILES, Workload, drive
from spec.hunt.client_commands import KINDS
from spec.model.actions import node_context

__all__ = ["FormsResult", "RoundTripMismatch", "collect", "register", "run"]

DEFAULT_REPEAT = 3
DEFAULT_LIMIT = 4_000


class RoundTripMismatch(SnapshotSyncError):
    """A value did not come back equal, or its text did not re-encode to itself."""


@dataclass(frozen=True, slots=True)
class FormsResult:
    """The benchmark's result (the ``--json`` form, field for field)."""

    states: int
    """Distinct node states timed."""
    contexts: int
    """Distinct node contexts timed."""
    state_bytes: float
    """Mean length of a node state's canonical text (bytes of UTF-8)."""
    write_states_per_s: float
    """``dumps`` of node states per CPU second (best repeat)."""
    read_states_per_s: float
    """``loads`` of node states per CPU second (best repeat)."""
    write_contexts_per_s: float
    read_contexts_per_s: float


def collect(
    limit: int = DEFAULT_LIMIT, kinds: tuple[str, ...] = KINDS
) -> tuple[list[Any], list[Any]]:
    """Return up to ``limit`` distinct node states and contexts from the workload's runs.

    Distinct by canonical text; the contexts' machines are the registered ones, so a
    read context equals the one written.
    """
    work = Workload(items=12, writes=6, rounds=1, kinds=kinds)
    states: dict[str, Any] = {}
    contexts: dict[str, Any] = {}
    for kind in work.kinds:
        for profile in PROFILES:
            driver = drive(kind, profile, work)
            for transition, _ in driver.log:
                world = transition.after
                for name, slot in world.nodes.items():
                    if len(states) < limit:
                        states.setdefault(dumps(slot.node), slot.node)
                    if len(contexts) < limit and slot.up:
                        context = loads(dumps(node_context(world, name)))
                        contexts.setdefault(dumps(context), context)
    return list(states.values()), list(contexts.values())


def _best(action: Callable[[Any], object], values: Sequence[Any], repeat: int) -> float:
    """Return the best values-per-CPU-second of ``repeat`` passes of ``action``."""
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        for value in values:
            action(value)
        best = min(best, time.process_time() - started)
    return len(values) / best if best > 0 else 0.0


def _check(values: Sequence[Any]) -> list[str]:
    texts = []
    for value in values:
        text = dumps(value)
        back = loads(text)
        if back != value or dumps(back) != text:
            raise RoundTripMismatch(f"{type(value).__name__} does not round-trip: {text[:200]}")
        texts.append(text)
    return texts


def run(
    repeat: int = DEFAULT_REPEAT, limit: int = DEFAULT_LIMIT, kinds: tuple[str, ...] = KINDS
) -> FormsResult:
    """Collect the states, check their round trips, and time both directions."""
    states, contexts = collect(limit, kinds)
    state_texts = _check(states)
    context_texts = _check(contexts)
    return FormsResult(
        states=len(states),
        contexts=len(contexts),
        state_bytes=sum(len(t.encode("utf-8")) for t in state_texts) / max(len(state_texts), 1),
        write_states_per_s=_best(dumps, states, repeat),
        read_states_per_s=_best(loads, state_texts, repeat),
        write_contexts_per_s=_best(dumps, contexts, repeat),
        read_contexts_per_s=_best(loads, context_texts, repeat),
    )


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _kinds(text: str) -> tuple[str, ...]:
    kinds = tuple(k.strip() for k in text.split(",") if k.strip())
    if not kinds or any(k not in KINDS for k in kinds):
        raise argparse.ArgumentTypeError(f"kinds must be among {', '.join(KINDS)}, got {text!r}")
    return kinds


def _print_table(result: FormsResult) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="JSON forms: values per CPU second (best repeat)")
    table.add_column("values")
    table.add_column("count", justify="right")
    table.add_column("write (dumps)/s", justify="right")
    table.add_column("read (loads)/s", justify="right")
    table.add_row(
        f"node states ({result.state_bytes:,.0f} bytes each)",
        f"{result.states:,}",
        f"{result.write_states_per_s:,.0f}",
        f"{result.read_states_per_s:,.0f}",
    )
    table.add_row(
        "node contexts",
        f"{result.contexts:,}",
        f"{result.write_contexts_per_s:,.0f}",
        f"{result.read_contexts_per_s:,.0f}",
    )
    Console().print(table)


def _handle(args: argparse.Namespace) -> int:
    result = run(args.repeat, args.limit, args.kinds)
    if args.json:
        print(json.dumps(asdict(result), sort_keys=True))
    else:
        _print_table(result)
    return 0


def register(benches: Any) -> None:
    """Add ``forms`` to the ``bench`` subparsers."""
    parser: argparse.ArgumentParser = benches.add_parser(
        "forms",
        help="node states per second written and read through their JSON forms",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    parser.add_argument(
        "--repeat", type=_count, default=DEFAULT_REPEAT, help="passes (best CPU time taken)"
    )
    parser.add_argument(
        "--limit", type=_count, default=DEFAULT_LIMIT, help="most distinct states and contexts"
    )
    parser.add_argument(
        "--kinds", type=_kinds, default=KINDS, help="comma-separated collection kinds"
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(handler=_handle)
