"""``snapsync bench chunks``: serving snapshot chunks by rank vs mosaik's skip.

A provider answers each ``FetchDataRequest`` with ``iter_range(start..end)`` (P4).
mosaik's Map, Set and DEPQ snapshots iterate their hash map from the beginning and
skip ``start`` items for every chunk (map.rs:712-729, H13), so serving all chunks of an
``n``-item snapshot visits about ``n² / (2·batch)`` items. The reference keeps items in
canonical order in a persistent sorted map and slices by rank: every chunk visits only
its own items after an O(log n) descent.

The benchmark builds one Map snapshot (``items`` entries ``i ↦ 10·i``, through the Map
state machine's ``Extend`` command) and serves every chunk of ``batch`` items both
ways in the same run:

* **reference**: ``snapshot.iter_range(ItemRange(start, end))``; its visits are the
  items the slice copies out (rank navigation visits no item);
* **baseline**: what mosaik does: iterate the snapshot's items from the first one and
  skip to ``start``, then take ``end - start``; its visits are counted by a counter
  zipped onto the item iterator (C-level, so counting does not slow it down). It
  walks the same canonical order, so the chunks must be equal; only the access
  pattern differs from the reference (mosaik's HAMT order would not change the count).

Both must return identical chunks, else :class:`ChunkMismatch` (exit status 2).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from itertools import count, islice
from typing import Any

from impl.collections.base import ApplyContext
from impl.collections.map import MAP, MapExtend, MapSnapshot
from impl.config import Config
from impl.errors import SnapshotSyncError
from impl.messages import Item
from impl.profile import REFERENCE
from impl.types import Cursor, Index, ItemRange, PeerId, Term
from spec.robust import options

__all__ = [
    "ChunkMismatch",
    "ChunksResult",
    "Measurement",
    "build_snapshot",
    "register",
    "run",
    "serve_baseline",
    "serve_reference",
]

DEFAULT_ITEMS = 100_000
DEFAULT_BATCH = 100

Chunks = list[tuple[Item, ...]]
Server = Callable[[MapSnapshot, int], tuple[Chunks, int]]


class ChunkMismatch(SnapshotSyncError):
    """The two ways of serving returned different chunks (a bug in one of them)."""


@dataclass(frozen=True, slots=True)
class Measurement:
    """Item visits and wall time of one way of serving every chunk."""

    visits: int
    seconds: float


@dataclass(frozen=True, slots=True)
class ChunksResult:
    """The benchmark's result (the ``--json`` form, field for field)."""

    items: int
    batch: int
    chunks: int
    reference: Measurement
    baseline: Measurement
    visit_ratio: float
    time_ratio: float


def build_snapshot(items: int) -> MapSnapshot:
    """Return a Map snapshot of ``items`` entries ``i ↦ 10·i`` built by the state machine."""
    ctx = ApplyContext(
        committed=Cursor(Term(1), Index(0)),
        log_position=Cursor(Term(1), Index(1)),
        current_term=Term(1),
        local_id=PeerId.from_label("bench"),
        now_wall_ms=0,
        config=Config(),
    )
    command = MapExtend(tuple((i, 10 * i) for i in range(items)))
    state, _ = MAP.apply_batch(MAP.initial(), [command], ctx, REFERENCE)
    return MAP.create_snapshot(state)


def _ranges(total: int, batch: int) -> Iterator[ItemRange]:
    for start in range(0, total, batch):
        yield ItemRange(start, min(start + batch, total))


def serve_reference(snapshot: MapSnapshot, batch: int) -> tuple[Chunks, int]:
    """Serve every chunk with ``iter_range`` (rank slicing); return chunks and visits."""
    chunks: Chunks = []
    visits = 0
    for r in _ranges(len(snapshot), batch):
        chunk = snapshot.iter_range(r)
        if chunk is None:
            raise ChunkMismatch(f"reference iter_range{r} returned None")
        visits += len(chunk)
        chunks.append(chunk)
    return chunks, visits


def serve_baseline(snapshot: MapSnapshot, batch: int) -> tuple[Chunks, int]:
    """Serve every chunk as mosaik does: iterate from the first item and skip to the
    range start (``into_iter().skip(start).take(end - start)``); return chunks and visits.
    """
    chunks: Chunks = []
    visits = 0
    for r in _ranges(len(snapshot), batch):
        counter = count()
        pulled = zip(counter, snapshot.entries.values(), strict=False)
        chunk = tuple(item for _, item in islice(pulled, r.start, r.end))
        visits += next(counter)  # items pulled through zip: start + (end - start)
        chunks.append(chunk)
    return chunks, visits


def _measure(server: Server, snapshot: MapSnapshot, batch: int) -> tuple[Chunks, Measurement]:
    started = time.perf_counter()
    chunks, visits = server(snapshot, batch)
    return chunks, Measurement(visits, time.perf_counter() - started)


def run(
    items: int = DEFAULT_ITEMS,
    batch: int = DEFAULT_BATCH,
    *,
    reference: Server = serve_reference,
    baseline: Server = serve_baseline,
) -> ChunksResult:
    """Build the snapshot, serve it both ways, check the chunks agree, return the result.

    Raises :class:`ChunkMismatch` if the two ways disagree on any chunk.
    """
    snapshot = build_snapshot(items)
    ref_chunks, ref = _measure(reference, snapshot, batch)
    base_chunks, base = _measure(baseline, snapshot, batch)
    if len(ref_chunks) != len(base_chunks):
        raise ChunkMismatch(f"{len(ref_chunks)} reference chunks vs {len(base_chunks)} baseline")
    for i, (a, b) in enumerate(zip(ref_chunks, base_chunks, strict=True)):
        if a != b:
            raise ChunkMismatch(f"chunk {i} (items from {i * batch}) differs between the two ways")
    return ChunksResult(
        items=items,
        batch=batch,
        chunks=len(ref_chunks),
        reference=ref,
        baseline=base,
        visit_ratio=base.visits / ref.visits if ref.visits else 0.0,
        time_ratio=base.seconds / ref.seconds if ref.seconds > 0 else 0.0,
    )


def _print_table(result: ChunksResult) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=(
            f"Serving a {result.items:,}-item Map snapshot in {result.chunks:,} chunks "
            f"of {result.batch}"
        )
    )
    table.add_column("way")
    table.add_column("item visits", justify="right")
    table.add_column("seconds", justify="right")
    table.add_row(
        "reference (iter_range by rank)",
        f"{result.reference.visits:,}",
        f"{result.reference.seconds:.4f}",
    )
    table.add_row(
        "baseline (skip from start, map.rs:712-729)",
        f"{result.baseline.visits:,}",
        f"{result.baseline.seconds:.4f}",
    )
    table.add_row(
        "baseline / reference", f"{result.visit_ratio:,.1f}x", f"{result.time_ratio:,.1f}x"
    )
    Console().print(table)


def _handle(args: argparse.Namespace) -> int:
    result = run(args.items, args.batch)
    if args.json:
        print(json.dumps(asdict(result), sort_keys=True))
    else:
        _print_table(result)
    return 0


def register(benches: Any) -> None:
    """Add ``chunks`` to the ``bench`` subparsers."""
    parser: argparse.ArgumentParser = benches.add_parser(
        "chunks",
        help="serve every snapshot chunk by rank vs mosaik's skip-from-start",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    parser.add_argument(
        "--items",
        type=options.count(1, options.MAX_ITEMS),
        default=DEFAULT_ITEMS,
        help="snapshot size (default 100000)",
    )
    parser.add_argument(
        "--batch",
        type=options.count(1, options.MAX_BATCH),
        default=DEFAULT_BATCH,
        help="chunk size (default 100)",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(handler=_handle)
