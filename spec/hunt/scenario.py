"""Starting points of hunt runs: a formed group with data, and the configurations to draw.

Every run starts from a group the way mosaik's own tests set one up (inventory
§6): writer ``w0`` elects itself, the other members join, ``items`` entries are
written one per log entry, and everybody converges. Then the lagging nodes join
(readers ``r8``, ``r9``): they learn of the group at the leader's next
AppendEntries and must catch up by snapshot. The build is done with the model's
actions only, so it is part of the run's trace and replays like the rest.

Timing parameters keep mosaik's heartbeat (500 ms) and scale its sync timeouts
down (TTL 10 s → 4 s, request retry 15 s → 6 s, fetch timeout 5 s → 2 s) in the
same order (heartbeat < fetch timeout < TTL < retry), so the same interleavings
exist with fewer heartbeats per window. First election timeouts are distinct per
writer (``w0`` 1.5 s, ``wN`` 2.5 s + 100·N ms), so ``w0`` leads first; every
later re-arm is redrawn from mosaik's 2 s + [0, 500) ms (:data:`REDRAW`, seed 0),
as mosaik redraws it: fixed timeouts let a stale writer with the shortest one
start elections the others deny, forever.
"""

from __future__ import annotations

from dataclasses import dataclass

from impl.config import Config
from impl.profile import Profile
from spec.hunt.client_commands import seed_commands
from spec.hunt.driver import Driver
from spec.model.actions import advance_time, client_write, join_late, node_poll_action
from spec.model.faults import Fault
from spec.model.state import ElectionTiming, WorldSetup

__all__ = [
    "FAST_CONFIG",
    "HEARTBEAT_MS",
    "LAGGING",
    "REDRAW",
    "GroupShape",
    "build_group",
    "election_timeout",
    "world_setup",
]

HEARTBEAT_MS = 500
"""Heartbeat interval of hunt runs."""

FAST_CONFIG = Config(
    fetch_batch_size=2,
    snapshot_ttl_ms=4_000,
    snapshot_request_timeout_ms=6_000,
    fetch_timeout_ms=2_000,
)
"""Hunt timing (see the module docstring); the batch size is drawn per run."""

LAGGING: tuple[str, ...] = ("r8", "r9")
"""Names of the readers that join late and catch up by snapshot."""

ELECTION_TIMEOUT_MS = 1_500
"""Election timeout of ``w0`` (the others get larger, distinct ones: ``w0`` leads first)."""


REDRAW = ElectionTiming(base_ms=2_000, jitter_ms=500, seed=0)
"""How hunt nodes redraw their election timeout at every re-arm (mosaik's defaults)."""


@dataclass(frozen=True, slots=True)
class GroupShape:
    """The group a run starts from."""

    kind: str = "map"
    items: int = 5
    """Entries written before anyone lags (one item each)."""
    batch: int = 2
    """``fetch_batch_size``: small batches make many chunks."""
    writers: int = 1
    """Writers ``w0``.. (``w0`` leads); more writers make leader changes possible."""
    readers: int = 2
    """In-sync readers ``r1``.. (providers)."""
    lagging: int = 1
    """Readers that join after the data is written (``r8``, ``r9``)."""
    joint_election: bool = False
    """Every writer and in-sync reader joins before ``w0``'s election, as in mosaik's test
    harness (members discover each other within ``bootstrap_delay``): the other writers
    grant and become voters of its committee, and so do the readers when they vote
    (``readers-vote``). Otherwise later members are non-voters until backfilled:
    mosaik's committee starts with the peers that granted."""

    def names(self) -> tuple[str, ...]:
        """Return every node name of the shape, writers first."""
        return (
            tuple(f"w{i}" for i in range(self.writers))
            + tuple(f"r{i + 1}" for i in range(self.readers))
            + LAGGING[: self.lagging]
        )


def election_timeout(name: str) -> int:
    """Return node ``name``'s election timeout (distinct per writer; see the module docstring).

    >>> election_timeout("w0"), election_timeout("w1"), election_timeout("r1")
    (1500, 2600, 3000)
    """
    if name == "w0":
        return ELECTION_TIMEOUT_MS
    if name.startswith("w") and name[1:].isdigit():
        return ELECTION_TIMEOUT_MS + 1_000 + 100 * int(name[1:])
    return 2 * ELECTION_TIMEOUT_MS


def world_setup(
    shape: GroupShape, profile: Profile, faults: frozenset[Fault] = frozenset()
) -> WorldSetup:
    """Return the model setup of a hunt run over ``shape``."""
    config = Config(
        fetch_batch_size=shape.batch,
        snapshot_ttl_ms=FAST_CONFIG.snapshot_ttl_ms,
        snapshot_request_timeout_ms=FAST_CONFIG.snapshot_request_timeout_ms,
        fetch_timeout_ms=FAST_CONFIG.fetch_timeout_ms,
    )
    return WorldSetup(
        kind=shape.kind,
        config=config,
        profile=profile,
        faults=faults,
        heartbeat_interval_ms=HEARTBEAT_MS,
    )


def build_group(
    driver: Driver,
    shape: GroupShape,
    *,
    join_lagging: bool = True,
    redraw: ElectionTiming | None = REDRAW,
) -> None:
    """Form ``shape``'s group in ``driver`` (module docstring); lagging readers join last.

    ``redraw`` is every node's election-timeout redraw rule (``None``: each node keeps
    its first timeout for its whole life, as the explorer's groups do).
    """
    d = driver
    d.do(join_late, "w0", writer=True, election_timeout_ms=ELECTION_TIMEOUT_MS, redraw=redraw)
    if shape.joint_election:
        for i in range(1, shape.writers):
            d.do(
                join_late,
                f"w{i}",
                writer=True,
                election_timeout_ms=election_timeout(f"w{i}"),
                redraw=redraw,
            )
        _join_readers(d, shape, redraw)
    d.do(advance_time, ELECTION_TIMEOUT_MS)
    for _ in range(6):
        if d.world.leaders():
            break
        d.do(node_poll_action, "w0")
        d.settle(0)
    if not shape.joint_election:
        for i in range(1, shape.writers):
            d.do(
                join_late,
                f"w{i}",
                writer=True,
                election_timeout_ms=election_timeout(f"w{i}"),
                redraw=redraw,
            )
        _join_readers(d, shape, redraw)
    commands = seed_commands(shape.kind, shape.items)
    for command in commands:
        d.do(client_write, "w0", (command,))
        d.settle(0)
    d.settle(2 * HEARTBEAT_MS)
    if join_lagging:
        for name in LAGGING[: shape.lagging]:
            d.do(
                join_late,
                name,
                writer=False,
                election_timeout_ms=election_timeout(name),
                redraw=redraw,
            )


def _join_readers(d: Driver, shape: GroupShape, redraw: ElectionTiming | None) -> None:
    for i in range(shape.readers):
        name = f"r{i + 1}"
        d.do(
            join_late,
            name,
            writer=False,
            election_timeout_ms=election_timeout(name),
            redraw=redraw,
        )
