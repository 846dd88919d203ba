"""Cell and Once late joiners: tests/collections/{cell,once}.rs (inventory §6.6).

These tests exercise snapshot sync implicitly: a reader or writer that joins
after the writes must take the 0-or-1-item snapshot. A late *writer* is a
``Normal`` node (a potential voter); its writes are forwarded to the leader.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from spec.scenarios.flavors import cell_cas, cell_write, once_write
from spec.scenarios.harness import Harness
from spec.scenarios.registry import Scenario

__all__ = ["CELL_SCENARIOS"]

P = Mapping[str, Any]


def _value(h: Harness, name: str) -> Any:
    return h.read(name).get(None)


def cell_catchup_single_reader(h: Harness, p: P) -> None:
    """100 writes, then write(999); a late reader reads 999; then write(1000) reaches it."""
    del p
    h.writer("w0")
    h.online("w0", 10_000)
    h.write_each("w0", [cell_write(i) for i in range(100)])
    ver = h.write("w0", cell_write(999))
    h.reaches("w0", ver, 2_000)
    h.reader("r1")
    h.online("r1", 10_000)
    h.reaches("r1", ver, 10_000)
    h.expect_eq(_value(h, "r1"), 999, "r1.read()")
    ver = h.write("w0", cell_write(1000))
    h.reaches("r1", ver, 2_000)
    h.expect_eq(_value(h, "r1"), 1000, "r1.read()")


def cell_catchup_multiple_readers(h: Harness, p: P) -> None:
    """Two readers join at different times; both end at 1000."""
    del p
    h.writer("w0")
    h.online("w0", 10_000)
    h.write_each("w0", [cell_write(i) for i in range(50)])
    mid = h.write("w0", cell_write(999))
    h.reaches("w0", mid, 2_000)
    h.reader("r1")
    h.online("r1", 10_000)
    h.reaches("r1", mid, 10_000)
    h.expect_eq(_value(h, "r1"), 999, "r1.read()")
    h.write_each("w0", [cell_write(i) for i in range(50, 80)])
    late = h.write("w0", cell_write(1000))
    h.reaches("w0", late, 2_000)
    h.reader("r2")
    h.online("r2", 10_000)
    h.reaches("r2", late, 10_000)
    h.reaches("r1", late, 2_000)
    h.expect_eq(_value(h, "r2"), 1000, "r2.read()")
    h.expect_eq(_value(h, "r1"), 1000, "r1.read()")


def cell_late_writer_catchup(h: Harness, p: P) -> None:
    """A late writer syncs the value 42, then writes 99 (forwarded to the leader)."""
    del p
    h.writer("w0")
    h.online("w0", 10_000)
    ver = h.write("w0", cell_write(42))
    h.reaches("w0", ver, 2_000)
    h.writer("w1")
    h.online("w1", 10_000)
    h.reaches("w1", ver, 10_000)
    h.expect_eq(_value(h, "w1"), 42, "w1.read()")
    ver = h.write("w1", cell_write(99))
    h.reaches("w0", ver, 2_000)
    h.reaches("w1", ver, 2_000)
    h.expect_eq(_value(h, "w0"), 99, "w0.read()")
    h.expect_eq(_value(h, "w1"), 99, "w1.read()")


def cell_compare_exchange_catchup(h: Harness, p: P) -> None:
    """None→1→2→3 by compare-exchange; a late reader sees 3 (H5 predicts 1 under mosaik)."""
    del p
    h.writer("w0")
    h.online("w0", 10_000)
    h.write("w0", cell_cas(None, 1))
    h.write("w0", cell_cas(1, 2))
    ver = h.write("w0", cell_cas(2, 3))
    h.reaches("w0", ver, 2_000)
    h.reader("r1")
    h.online("r1", 10_000)
    h.reaches("r1", ver, 10_000)
    h.expect_eq(_value(h, "r1"), 3, "r1.read()")


def once_catchup_single_reader(h: Harness, p: P) -> None:
    """write(42); a late reader reads 42."""
    del p
    h.writer("w0")
    h.online("w0", 10_000)
    ver = h.write("w0", once_write(42))
    h.reaches("w0", ver, 2_000)
    h.reader("r1")
    h.online("r1", 10_000)
    h.reaches("r1", ver, 10_000)
    h.expect_eq(_value(h, "r1"), 42, "r1.read()")


def once_late_writer_catchup(h: Harness, p: P) -> None:
    """A late writer syncs 42; its write(99) is ignored: the first value wins."""
    del p
    h.writer("w0")
    h.online("w0", 10_000)
    ver = h.write("w0", once_write(42))
    h.reaches("w0", ver, 2_000)
    h.writer("w1")
    h.online("w1", 10_000)
    h.reaches("w1", ver, 10_000)
    h.expect_eq(_value(h, "w1"), 42, "w1.read()")
    ver = h.write("w1", once_write(99))
    h.reaches("w0", ver, 2_000)
    h.reaches("w1", ver, 2_000)
    h.expect_eq(_value(h, "w0"), 42, "w0.read()")
    h.expect_eq(_value(h, "w1"), 42, "w1.read()")


_CELL = "tests/collections/cell.rs"
_ONCE = "tests/collections/once.rs"

CELL_SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "cell",
        "catchup_single_reader",
        f"{_CELL}::catchup_single_reader",
        cell_catchup_single_reader,
        expectation="the late reader reads 999, then 1000",
        base_size=1,
    ),
    Scenario(
        "cell",
        "catchup_multiple_readers",
        f"{_CELL}::catchup_multiple_readers",
        cell_catchup_multiple_readers,
        expectation="both late readers end at 1000",
        base_size=1,
    ),
    Scenario(
        "cell",
        "late_writer_catchup",
        f"{_CELL}::late_writer_catchup",
        cell_late_writer_catchup,
        expectation="the late writer syncs 42, then 99 everywhere",
        base_size=1,
    ),
    Scenario(
        "cell",
        "compare_exchange_catchup",
        f"{_CELL}::compare_exchange_catchup",
        cell_compare_exchange_catchup,
        expectation="the late reader reads 3",
        base_size=1,
    ),
    Scenario(
        "once",
        "catchup_single_reader",
        f"{_ONCE}::catchup_single_reader",
        once_catchup_single_reader,
        expectation="the late reader reads 42",
        base_size=1,
    ),
    Scenario(
        "once",
        "late_writer_catchup",
        f"{_ONCE}::late_writer_catchup",
        once_late_writer_catchup,
        expectation="the first value (42) wins everywhere",
        base_size=1,
    ),
)
"""The Cell and Once late-joiner tests."""
