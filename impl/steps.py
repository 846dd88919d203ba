"""Where each inventory step is implemented: step id → ``"module:qualified.name"``.

The ids are the inventory's (§1.1 R1–R10, §1.2 S1–S3, §1.3 P1–P6, §1.4 Q0–Q13
and Q11a). Every implementing function cites its id in its docstring; the state
machine steps S1–S3 are the methods of the collection contract
(:class:`impl.collections.base.StateMachine`), which every collection implements.

>>> STEP_IDS["Q4"]
'impl.session:on_fetch_data_response'
>>> resolve("P6").__name__
'safe_to_prune_prefix'
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from impl.errors import InvalidInput

__all__ = ["STEP_IDS", "resolve"]

STEP_IDS: dict[str, str] = {
    # §1.1 Raft-side steps (impl/raft.py)
    "R1": "impl.raft:leader_publish_batch",
    "R2": "impl.raft:leader_heartbeat",
    "R3": "impl.raft:leader_record_vote",
    "R4": "impl.raft:follower_on_append_entries",
    "R5": "impl.raft:follower_accept_in_sync",
    "R6": "impl.raft:commit_up_to",
    "R7": "impl.raft:prune_safe_prefix",
    "R8": "impl.raft:provider_feed_command",
    "R9": "impl.raft:follower_poll_catchup",
    "R10": "impl.raft:role_step_down",
    # §1.2 state-machine steps (the collection contract)
    "S1": "impl.collections.base:StateMachine.apply_batch",
    "S2": "impl.collections.base:StateMachine.install_snapshot",
    "S3": "impl.collections.base:StateMachine.create_snapshot",
    # §1.3 provider steps (impl/provider.py)
    "P1": "impl.provider:provider_receive",
    "P2": "impl.provider:on_snapshot_request",
    "P3": "impl.provider:poll_pending_requests",
    "P4": "impl.provider:on_fetch_data_request",
    "P5": "impl.provider:prune_expired_snapshots",
    "P6": "impl.provider:safe_to_prune_prefix",
    # §1.4 session steps (impl/session.py)
    "Q0": "impl.session:session_new",
    "Q1": "impl.session:on_snapshot_offer",
    "Q2": "impl.session:try_select_anchor",
    "Q3": "impl.session:try_upgrade_anchor",
    "Q4": "impl.session:on_fetch_data_response",
    "Q5": "impl.session:session_poll",
    "Q6": "impl.session:poll_terminations",
    "Q7": "impl.session:poll_snapshot_request_timeout",
    "Q8": "impl.session:drain_fetched_items",
    "Q9": "impl.session:poll_timeouts",
    "Q10": "impl.session:poll_new_bonds",
    "Q11": "impl.session:schedule_fetches",
    "Q11a": "impl.session:send_fetch_request",
    "Q12": "impl.session:finalize_sync",
    "Q13": "impl.session:buffer",
}
"""Every inventory step id and the function (or contract method) that implements it."""


def resolve(step_id: str) -> Callable[..., Any]:
    """Return the function implementing ``step_id``; raise :class:`InvalidInput` if unknown."""
    try:
        target = STEP_IDS[step_id]
    except KeyError:
        raise InvalidInput(f"unknown step id {step_id!r}; known: {', '.join(STEP_IDS)}") from None
    module_name, _, qualname = target.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    if not callable(obj):
        raise InvalidInput(f"{target} is not callable")
    return obj  # type: ignore[no-any-return]
