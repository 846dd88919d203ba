"""WAKE: a node is never left asleep past a deadline it holds (spec/model/invariants.py).

The host polls a node at ``node_next_deadline``; a wake-up computed wrongly makes
timers fire late or never, which the protocol's other checks see only as a slow run.
Each broken variant below is a one-line porter's bug in that computation."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import spec.model.actions as actions
from impl.node import node_next_deadline
from impl.node_state import FollowerRole, NodeState
from impl.profile import REFERENCE
from impl.provider import provider_next_deadline
from impl.raft import role_next_deadline
from spec.hunt.driver import Driver
from spec.hunt.scenario import GroupShape, build_group, world_setup

SHAPE = GroupShape(kind="map", items=3, batch=1, writers=1, readers=1, lagging=1)


def _run(
    monkeypatch: pytest.MonkeyPatch, next_deadline: Callable[[NodeState], int | None]
) -> list[str]:
    """Form the group, let the lagging reader catch up; return the finding ids."""
    monkeypatch.setattr(actions, "node_next_deadline", next_deadline)
    monkeypatch.setattr(actions, "_DEADLINES", {})  # the memo must not serve the old answers
    d = Driver(world_setup(SHAPE, REFERENCE))
    build_group(d, SHAPE)
    d.settle(3_000)
    d.drain()
    return [f.id for f in d.findings]


def _latest(node: NodeState) -> int | None:
    """The latest deadline instead of the earliest."""
    found = [
        d
        for d in (role_next_deadline(node), provider_next_deadline(node.provider))
        if d is not None
    ]
    return max(found) if found else None


def _session_ignored(node: NodeState) -> int | None:
    """During catch-up, the election deadline (suppressed by R9) instead of the session's."""
    role = node.role
    if isinstance(role, FollowerRole) and role.catchup is not None:
        return role.election_deadline_ms
    return node_next_deadline(node)


def test_the_reference_wakes_for_every_deadline_it_holds(monkeypatch: pytest.MonkeyPatch) -> None:
    assert "WAKE" not in _run(monkeypatch, node_next_deadline)


@pytest.mark.parametrize("broken", [_latest, _session_ignored], ids=["latest", "session-ignored"])
def test_a_wake_up_computed_wrongly_is_caught(
    monkeypatch: pytest.MonkeyPatch, broken: Callable[[NodeState], int | None]
) -> None:
    assert "WAKE" in _run(monkeypatch, broken)
