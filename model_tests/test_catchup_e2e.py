"""A full snapshot catch-up, driven through the node steps alone (impl/node.py).

Four nodes of one Map group: writer W0 (wins the election), writer W1 and reader R1
(in sync), and reader R2, which joins after several hundred writes and must catch
up by snapshot while writes continue. The test is its own tiny deterministic
network: per-bond FIFO queues, delivered in PeerId order, and a clock advanced in
fixed ticks; every node is polled on every tick. No spec model is involved.

Checks at the end (both profiles): every session is gone, R2 went through exactly
one catch-up, R2 holds the leader's state at the leader's committed index, and the
snapshot was fetched in several chunks from more than one provider.
"""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

import pytest

from impl.collections import COLLECTIONS
from impl.collections.base import StateMachine
from impl.collections.map import MapInsert
from impl.config import Config
from impl.effects import Broadcast, Effect, Send
from impl.messages import FetchDataRequest, FetchDataResponse, Message, SnapshotOffer
from impl.node import node_client_write, node_new, node_poll, node_receive
from impl.node_state import LeaderRole, NodeContext, NodeState, Preference
from impl.profile import MOSAIK_0_3_13, REFERENCE, Behaviour, Profile
from impl.types import PeerId

W0, W1, R1, R2 = (PeerId.from_label(n) for n in ("e2e-w0", "e2e-w1", "e2e-r1", "e2e-r2"))
WALL_EPOCH = 1_750_000_000_000
TICK_MS = 50
INITIAL_WRITES = 300
WRITES_DURING_SYNC = 60
BATCH = 32


@dataclass
class Network:
    """A deterministic bonded network: FIFO per directed bond, delivered in PeerId order."""

    machine: StateMachine
    profile: Profile
    config: Config
    nodes: dict[PeerId, NodeState] = field(default_factory=dict)
    timeouts: dict[PeerId, int] = field(default_factory=dict)
    bonds: set[frozenset[PeerId]] = field(default_factory=set)
    queues: dict[tuple[PeerId, PeerId], deque[Message]] = field(
        default_factory=lambda: defaultdict(deque)
    )
    now: int = 0
    log: list[tuple[PeerId, PeerId, Message]] = field(default_factory=list)

    def add(self, peer: PeerId, preference: Preference, election_timeout: int) -> None:
        self.timeouts[peer] = election_timeout
        self.nodes[peer] = node_new(peer, self.machine, preference, self.now, election_timeout)

    def bond(self, a: PeerId, b: PeerId) -> None:
        self.bonds.add(frozenset((a, b)))

    def peers_of(self, peer: PeerId) -> frozenset[PeerId]:
        return frozenset(q for bond in self.bonds if peer in bond for q in bond if q != peer)

    def ctx(self, peer: PeerId) -> NodeContext:
        return NodeContext(
            now_ms=self.now,
            now_wall_ms=WALL_EPOCH + self.now,
            bonds=self.peers_of(peer),
            config=self.config,
            profile=self.profile,
            machine=self.machine,
            election_timeout_ms=self.timeouts[peer],
        )

    def carry(self, src: PeerId, effects: tuple[Effect, ...]) -> None:
        """Put the sends of ``src``'s step on its bonds (dropped without a bond, §0.4)."""
        for effect in effects:
            if isinstance(effect, Send) and effect.to in self.peers_of(src):
                self.queues[(src, effect.to)].append(effect.message)
            elif isinstance(effect, Broadcast):
                for peer in sorted(self.peers_of(src)):
                    self.queues[(src, peer)].append(effect.message)

    def deliver_all(self) -> None:
        """Deliver until quiet: one message per non-empty bond per round, in PeerId order."""
        while any(self.queues.values()):
            for src, dst in sorted(k for k, q in self.queues.items() if q):
                message = self.queues[(src, dst)].popleft()
                self.log.append((src, dst, message))
                node, effects = node_receive(self.nodes[dst], self.ctx(dst), src, message)
                self.nodes[dst] = node
                self.carry(dst, effects)

    def poll_all(self) -> None:
        for peer in sorted(self.nodes):
            node, effects = node_poll(self.nodes[peer], self.ctx(peer))
            self.nodes[peer] = node
            self.carry(peer, effects)

    def tick(self) -> None:
        self.now += TICK_MS
        self.poll_all()
        self.deliver_all()

    def write(self, command: Any) -> None:
        leader = next(p for p, n in self.nodes.items() if isinstance(n.role, LeaderRole))
        node, effects = node_client_write(self.nodes[leader], self.ctx(leader), command)
        self.nodes[leader] = node
        self.carry(leader, effects)


def insert(key: int, value: int) -> MapInsert:
    return MapInsert(key, value)


@pytest.mark.parametrize("profile", [REFERENCE, MOSAIK_0_3_13], ids=lambda p: p.name)
def test_a_late_reader_catches_up_by_snapshot_while_writes_continue(profile: Profile) -> None:
    machine = COLLECTIONS["map"]
    net = Network(machine, profile, Config(fetch_batch_size=BATCH))
    net.add(W0, Preference.NORMAL, 3_000)
    net.add(W1, Preference.NORMAL, 60_000)
    net.add(R1, Preference.OBSERVER, 60_000)
    for a, b in ((W0, W1), (W0, R1), (W1, R1)):
        net.bond(a, b)

    # W0 times out first, W1 grants, R1 abstains: W0 leads with committee {W0, W1}. In
    # mosaik 0.3.13 (readers-vote) R1 grants too and is a voter.
    while not isinstance(net.nodes[W0].role, LeaderRole):
        net.tick()
    role = net.nodes[W0].role
    assert isinstance(role, LeaderRole)
    readers_vote = profile.has(Behaviour.READERS_VOTE)
    assert set(role.committee.voters) == {W0, W1} | ({R1} if readers_vote else set())

    for i in range(INITIAL_WRITES):
        net.write(insert(i, 10 * i))
        if i % 10 == 9:
            net.tick()
    for _ in range(20):
        net.tick()
    assert net.nodes[R1].committed == net.nodes[W0].committed
    assert net.nodes[W0].committed.index == INITIAL_WRITES

    # R2 joins: its first AppendEntries cannot match, so it starts a session (R4 → Q0).
    net.add(R2, Preference.OBSERVER, 60_000)
    for peer in (W0, W1, R1):
        net.bond(peer, R2)
    sessions_started, most_buffered = 0, 0

    def tick_and_watch() -> None:
        nonlocal sessions_started, most_buffered
        had_session = net.nodes[R2].catchup is not None
        net.tick()
        session = net.nodes[R2].catchup
        if session is not None:
            sessions_started += not had_session
            most_buffered = max(most_buffered, len(session.buffered))

    for i in range(WRITES_DURING_SYNC):
        net.write(insert(INITIAL_WRITES + i, i))
        tick_and_watch()
    for _ in range(400):
        last = net.nodes[W0].log.last()
        if all(n.catchup is None and n.committed == last for n in net.nodes.values()):
            break
        tick_and_watch()

    leader, lagging = net.nodes[W0], net.nodes[R2]
    assert sessions_started == 1
    assert most_buffered > 0, "entries written during the sync were buffered"
    assert all(n.catchup is None for n in net.nodes.values())
    assert leader.committed == leader.log.last()
    assert leader.committed.index >= INITIAL_WRITES + WRITES_DURING_SYNC + 1
    for node in net.nodes.values():
        assert node.committed == leader.committed
        assert machine.items(node.sm) == machine.items(leader.sm)
    expected = {(i, 10 * i) for i in range(INITIAL_WRITES)}
    expected |= {(INITIAL_WRITES + i, i) for i in range(WRITES_DURING_SYNC)}
    assert set(machine.items(lagging.sm)) == expected
    assert lagging.online

    offers = [(s, m) for s, d, m in net.log if d == R2 and isinstance(m, SnapshotOffer)]
    fetches = [(s, d, m) for s, d, m in net.log if s == R2 and isinstance(m, FetchDataRequest)]
    chunks = [m for s, d, m in net.log if d == R2 and isinstance(m, FetchDataResponse)]
    assert {s for s, _ in offers} == {W0, W1, R1}, "every other node offered"
    assert len(chunks) >= INITIAL_WRITES // BATCH
    assert len({d for _, d, _ in fetches}) >= 2, "chunks came from more than one provider"
