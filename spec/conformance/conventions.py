"""The step call conventions: what a vector of each step id holds, and how the reference runs it.

For every inventory step id (R1–R10, S1–S3, P1–P6, Q0–Q13, Q11a) a
:class:`Convention` says, in the language-neutral terms of docs/formats/json.md:

* ``pre`` — the state the step reads (a record form, or ``null`` for the steps that
  start from nothing, Q0 and P6);
* ``context`` — what the step sees besides its state (a node, session, provider or
  apply context; ``null`` for the steps that take none);
* ``input`` — the step's other arguments, an object with exactly the named fields;
* the **result** — an object with exactly the named fields (``post`` and ``effects``
  for most steps, plus the extra outputs: Q5's ``ready`` cursor, P1's
  ``unconsumed`` message, P3's ``received`` flag, R9's ``pending`` flag, S1's
  ``requests``, P6's ``index``, …);
* ``produces`` — every ignore reason (``ignored:<reason>``) and typed error
  (``error:<Kind>``) the step can produce; the generator makes sure each appears in
  at least one vector and that no vector shows one not listed here.

:func:`run_step` is the reference's side of the protocol: decode a case's
``pre``/``context``/``input`` with the codec, call the pure step of ``impl/``, encode
the result; a typed error becomes ``{"kind": ...}``. ``snapsync adapter`` serves it,
the generator computes every expected outcome with it, and ``vectors stats`` replays
through it. docs/formats/vectors.md's convention table is generated from
:data:`CONVENTIONS` (:func:`conventions_markdown`) and a test keeps the two equal.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import impl.forms  # noqa: F401  (registers the state and context forms)
from impl import provider as _provider
from impl import raft as _raft
from impl import session as _session
from impl.codec import decode, encode
from impl.collections import COLLECTIONS
from impl.collections.base import ApplyContext, StateMachine
from impl.effects import Effect
from impl.errors import CodecError, HazardPanic, SnapshotSyncError
from impl.messages import (
    AppendEntries,
    AppendEntriesResponse,
    Command,
    FetchDataRequest,
    FetchDataResponse,
    LogEntry,
    Message,
    SnapshotInfo,
    SnapshotOffer,
    SnapshotRequest,
    Vote,
)
from impl.node_state import NodeContext, NodeState
from impl.profile import Profile
from impl.provider_state import ProviderContext, ProviderState
from impl.session_state import SessionContext, SessionState
from impl.steps import STEP_IDS
from impl.types import Cursor, Index, ItemRange, PeerId, Term

__all__ = [
    "COLLECTION_STEPS",
    "CONTEXT_KINDS",
    "CONVENTIONS",
    "DISPATCH_ONLY_REASONS",
    "ERROR_KINDS",
    "ApplyStepContext",
    "Convention",
    "Field",
    "ProfileContext",
    "StepError",
    "conventions_json",
    "conventions_markdown",
    "encode_call",
    "error_form",
    "run_step",
    "suite_of",
]

Effects = tuple[Effect, ...]
COLLECTION_STEPS = frozenset({"S1", "S2", "S3"})
"""Steps whose semantics depend on the collection: their vectors are reported per collection."""

ERROR_KINDS = (
    "InvalidInput",
    "InvalidRange",
    "InvalidMessage",
    "InvalidState",
    "NotLeader",
    "HazardPanic",
)
"""The typed error kinds a step can answer with (the classes of impl/errors.py)."""

DISPATCH_ONLY_REASONS = frozenset({"no_session", "stale_term", "unexpected"})
"""Ignore reasons produced by the node's message dispatch (§0.3), not by any step id:
their vectors belong to the node level (``receive``, issue #11)."""


@dataclass(frozen=True, slots=True)
class ApplyStepContext:
    """S1's context: the apply context of ``apply_batch`` and the profile it runs under."""

    apply: ApplyContext
    profile: Profile


@dataclass(frozen=True, slots=True)
class ProfileContext:
    """S2's and S3's context: only the profile (S3's snapshots follow it, H28)."""

    profile: Profile


CONTEXT_KINDS: dict[str, tuple[type, str]] = {
    "node": (NodeContext, "a NodeContext: clocks, bonds, config, profile, collection"),
    "session": (SessionContext, "a SessionContext: local id, leader, bonds, config"),
    "provider": (ProviderContext, "a ProviderContext: local id, leadership, clocks"),
    "apply": (ApplyStepContext, "`{apply: ApplyContext, profile: Profile}`"),
    "profile": (ProfileContext, "`{profile: Profile}`"),
}
"""Context kinds: the record each is decoded as, and its description."""


class _CollectionState:
    """Placeholder type: the state record of the case's collection (resolved by kind)."""


COLLECTION_STATE: Any = _CollectionState
SNAPSHOT: Any = Any


@dataclass(frozen=True, slots=True)
class Field:
    """One named field of a step's ``input`` or result: its static type and meaning."""

    name: str
    tp: Any
    form: str
    doc: str


@dataclass(frozen=True, slots=True)
class Convention:
    """How a vector of one step id is laid out and computed (module docstring)."""

    step: str
    title: str
    pre: Any
    """The static type of ``pre``; ``None`` when ``pre`` is always ``null``."""
    pre_form: str
    context: str | None
    inputs: tuple[Field, ...]
    results: tuple[Field, ...]
    call: Callable[[Any, Any, Mapping[str, Any], StateMachine, Profile], tuple[Any, ...]]
    """``call(pre, ctx, inputs, machine, profile)`` → the result values, in ``results`` order."""
    produces: tuple[str, ...] = ()
    order: str = ""
    """The normative order of the effects (empty: as the step's section documents)."""
    notes: str = ""

    @property
    def function(self) -> str:
        """Return the implementing function, as :data:`impl.steps.STEP_IDS` names it."""
        return STEP_IDS[self.step]

    @property
    def input_names(self) -> tuple[str, ...]:
        """Return the field names of ``input``."""
        return tuple(f.name for f in self.inputs)

    @property
    def result_names(self) -> tuple[str, ...]:
        """Return the field names of the result."""
        return tuple(f.name for f in self.results)


def suite_of(step: str, collection: str) -> str:
    """Return the report row of a case: the step id, per collection for S1–S3.

    >>> suite_of("S1", "depq"), suite_of("Q4", "map")
    ('S1.depq', 'Q4')
    """
    return f"{step}.{collection}" if step in COLLECTION_STEPS else step


# -- field helpers ---------------------------------------------------------------------------

_POST_NODE = Field("post", NodeState, "NodeState", "the node after the step")
_POST_SESSION = Field("post", SessionState, "SessionState", "the session after the step")
_POST_PROVIDER = Field("post", ProviderState, "ProviderState", "the provider after the step")
_EFFECTS = Field("effects", Effects, "[Effect] (tagged)", "the effects, in their normative order")
_NOW = Field("now_ms", int, "u64", "the node's monotonic clock (ms)")
_PEER = Field("peer", PeerId, "PeerId", "the sending peer")
_SENDER = Field("sender", PeerId, "PeerId", "the sending peer")


def _pair(value: tuple[Any, Any]) -> tuple[Any, ...]:
    return value


def _state_only(value: Any) -> tuple[Any, ...]:
    return (value,)


# -- R1–R10 ----------------------------------------------------------------------------------


def _r3(node: Any, ctx: Any, inp: Mapping[str, Any], _m: StateMachine, _p: Profile) -> Any:
    # The leader's dispatch of an acknowledgement by its vote (record_vote / record_no_vote).
    response = AppendEntriesResponse(
        term=node.term, last_log_index=inp["last_log_index"], vote=inp["vote"]
    )
    return _raft.leader_on_append_entries_response(node, ctx, inp["follower"], response)


def _r6(node: Any, ctx: Any, inp: Mapping[str, Any], _m: StateMachine, _p: Profile) -> Any:
    return (_raft.commit_up_to(node, ctx, inp["index"]),)


def _r9(node: Any, ctx: Any, _i: Mapping[str, Any], _m: StateMachine, _p: Profile) -> Any:
    return _raft.follower_poll_catchup(node, ctx)


_NODE_RESULT = (_POST_NODE, _EFFECTS)
_NOT_LEADER_STATE = ("error:InvalidState",)


def _raft_conventions() -> list[Convention]:
    ae = Field("message", AppendEntries, "AppendEntries", "the AppendEntries (untagged)")
    return [
        Convention(
            "R1",
            "the leader publishes its queued commands",
            NodeState,
            "NodeState",
            "node",
            (),
            _NODE_RESULT,
            lambda n, c, i, m, p: _raft.leader_publish_batch(n, c),
            _NOT_LEADER_STATE,
            "Broadcast(AppendEntries); then R3's effects (an immediate heartbeat ArmTimer "
            "when the commit advanced), else ArmTimer(heartbeat)",
        ),
        Convention(
            "R2",
            "the leader's heartbeat",
            NodeState,
            "NodeState",
            "node",
            (),
            _NODE_RESULT,
            lambda n, c, i, m, p: _raft.leader_heartbeat(n, c),
            _NOT_LEADER_STATE,
            "Broadcast(AppendEntries), ArmTimer(heartbeat)",
        ),
        Convention(
            "R3",
            "the leader records an acknowledgement",
            NodeState,
            "NodeState",
            "node",
            (
                Field("follower", PeerId, "PeerId", "who acknowledged (may be the leader)"),
                Field("last_log_index", Index, "u64", "its last log index (read if granted)"),
                Field(
                    "vote",
                    Vote,
                    "Vote",
                    "granted → record_vote; denied / abstained → "
                    "record_no_vote (an abstainer leaves the committee)",
                ),
            ),
            _NODE_RESULT,
            _r3,
            _NOT_LEADER_STATE,
            "ArmTimer(heartbeat, now) when the commit advanced",
        ),
        Convention(
            "R4",
            "a follower checks an AppendEntries",
            NodeState,
            "NodeState",
            "node",
            (_SENDER, ae),
            _NODE_RESULT,
            lambda n, c, i, m, p: _raft.follower_on_append_entries(n, c, i["sender"], i["message"]),
            ("error:InvalidState",),
            "ArmTimer(election) (not for an observer); then R5's, Q0's or Q13's effects",
        ),
        Convention(
            "R5",
            "a consistent follower appends, answers and commits",
            NodeState,
            "NodeState",
            "node",
            (_SENDER, ae),
            _NODE_RESULT,
            lambda n, c, i, m, p: _raft.follower_accept_in_sync(n, c, i["sender"], i["message"]),
            ("error:InvalidState", "error:InvalidInput"),
            "Send(AppendEntriesResponse) when there were entries",
        ),
        Convention(
            "R6",
            "apply committed entries, one batch per term",
            NodeState,
            "NodeState",
            "node",
            (Field("index", Index, "u64", "commit up to this log index"),),
            (_POST_NODE,),
            _r6,
            ("error:InvalidState",),
        ),
        Convention(
            "R7",
            "prune the log to the last committed entry",
            NodeState,
            "NodeState",
            None,
            (),
            (_POST_NODE,),
            lambda n, c, i, m, p: (_raft.prune_safe_prefix(n),),
        ),
        Convention(
            "R8",
            "feed a command at the leader",
            NodeState,
            "NodeState",
            None,
            (Field("command", Command, "Command (tagged record or datum)", "the command"),),
            _NODE_RESULT,
            lambda n, c, i, m, p: _raft.provider_feed_command(n, i["command"]),
            ("error:NotLeader",),
        ),
        Convention(
            "R9",
            "poll the catch-up session and finish it",
            NodeState,
            "NodeState",
            "node",
            (),
            (
                _POST_NODE,
                _EFFECTS,
                Field(
                    "pending",
                    bool,
                    "boolean",
                    "the session is still running (elections stay suppressed)",
                ),
            ),
            _r9,
            ("error:InvalidState", "error:HazardPanic"),
            "Q5's effects",
        ),
        Convention(
            "R10",
            "step down on a higher term",
            NodeState,
            "NodeState",
            "node",
            (
                Field("term", Term, "u64", "the higher term seen"),
                Field("leader", PeerId | None, "PeerId or null", "the leader it names, if any"),
            ),
            _NODE_RESULT,
            lambda n, c, i, m, p: _raft.role_step_down(n, c, i["term"], i["leader"]),
            (),
            "CancelTimer(heartbeat) if it led; ArmTimer(election) unless an observer",
        ),
    ]


# -- S1–S3 -----------------------------------------------------------------------------------


def _s1(state: Any, ctx: Any, inp: Mapping[str, Any], machine: StateMachine, p: Profile) -> Any:
    return machine.apply_batch(state, inp["commands"], ctx.apply, p)


def _s2(state: Any, _c: Any, inp: Mapping[str, Any], machine: StateMachine, _p: Profile) -> Any:
    return (machine.install_snapshot(state, inp["snapshot"]),)


def _s3(state: Any, _c: Any, _i: Mapping[str, Any], machine: StateMachine, p: Profile) -> Any:
    return (machine.create_snapshot(state, p),)


def _collection_conventions() -> list[Convention]:
    from impl.collections.base import PendingRequest

    post = Field("post", COLLECTION_STATE, "collection state", "the collection's state after")
    return [
        Convention(
            "S1",
            "apply a batch; serve TakeSnapshot at the end of the batch",
            COLLECTION_STATE,
            "the collection's state",
            "apply",
            (Field("commands", tuple[Command, ...], "[Command]", "the batch, in log order"),),
            (
                post,
                Field(
                    "requests",
                    tuple[PendingRequest, ...],
                    "[PendingRequest] (snapshot tagged)",
                    "one per TakeSnapshot served, all at the end-of-batch position",
                ),
            ),
            _s1,
            ("error:InvalidMessage", "error:HazardPanic"),
        ),
        Convention(
            "S2",
            "install a snapshot",
            COLLECTION_STATE,
            "the collection's state",
            "profile",
            (Field("snapshot", SNAPSHOT, "snapshot (tagged)", "the snapshot to install"),),
            (post,),
            _s2,
            ("error:InvalidInput",),
        ),
        Convention(
            "S3",
            "take a snapshot",
            COLLECTION_STATE,
            "the collection's state",
            "profile",
            (),
            (Field("snapshot", SNAPSHOT, "snapshot (tagged)", "the snapshot of the state"),),
            _s3,
        ),
    ]


# -- P1–P6 -----------------------------------------------------------------------------------


def _provider_conventions() -> list[Convention]:
    result = (_POST_PROVIDER, _EFFECTS)
    p4_reasons = ("ignored:unknown_anchor", "ignored:empty_range", "ignored:out_of_bounds")
    return [
        Convention(
            "P1",
            "offer a StateSync message to the provider",
            ProviderState,
            "ProviderState",
            "provider",
            (_SENDER, Field("message", Message, "Message (tagged)", "the message received")),
            (
                *result,
                Field(
                    "unconsumed",
                    SnapshotOffer | FetchDataResponse | None,
                    "SnapshotOffer / FetchDataResponse (tagged) or null",
                    "the message handed on to the session, if not the provider's",
                ),
            ),
            lambda s, c, i, m, p: _provider.provider_receive(s, c, i["sender"], i["message"]),
            ("ignored:not_leader", *p4_reasons, "error:InvalidInput"),
            "P2's or P4's",
        ),
        Convention(
            "P2",
            "the leader feeds TakeSnapshot into the log",
            ProviderState,
            "ProviderState",
            "provider",
            (Field("request", SnapshotRequest, "SnapshotRequest", "who asked, and when"),),
            result,
            lambda s, c, i, m, p: _provider.on_snapshot_request(s, c, i["request"]),
            ("ignored:not_leader",),
        ),
        Convention(
            "P3",
            "drain the request channel and offer each snapshot",
            ProviderState,
            "ProviderState",
            "provider",
            (),
            (*result, Field("received", bool, "boolean", "the channel held anything")),
            lambda s, c, i, m, p: _provider.poll_pending_requests(s, c),
            ("ignored:own_request", "ignored:expired_request"),
            "per request, oldest first: Ignored, or ArmTimer(snapshot_ttl) then "
            "Send(SnapshotOffer)",
        ),
        Convention(
            "P4",
            "serve one chunk of a snapshot",
            ProviderState,
            "ProviderState",
            "provider",
            (_SENDER, Field("request", FetchDataRequest, "FetchDataRequest", "the fetch")),
            result,
            lambda s, c, i, m, p: _provider.on_fetch_data_request(s, c, i["sender"], i["request"]),
            p4_reasons,
            "ArmTimer(snapshot_ttl) (the revive), then Send(FetchDataResponse) or Ignored",
        ),
        Convention(
            "P5",
            "forget expired snapshots",
            ProviderState,
            "ProviderState",
            None,
            (_NOW,),
            result,
            lambda s, c, i, m, p: _provider.prune_expired_snapshots(s, i["now_ms"]),
            (),
            "CancelTimer(snapshot_ttl) per removed snapshot, in anchor order",
        ),
        Convention(
            "P6",
            "the prefix a provider no longer needs",
            None,
            "null",
            None,
            (Field("committed", Cursor, "Cursor", "the node's committed cursor"),),
            (Field("index", Index, "u64", "R7 may prune up to this index"),),
            lambda s, c, i, m, p: (_provider.safe_to_prune_prefix(i["committed"]),),
        ),
    ]


# -- Q0–Q13 ----------------------------------------------------------------------------------

_BAD_TIME = "error:InvalidInput"
_SESSION_RESULT = (_POST_SESSION, _EFFECTS)
_TIMERS_LAST = (
    "messages in the order produced, then timer changes (retry timer first, then "
    "fetch timers by PeerId bytes)"
)


def _session_conventions() -> list[Convention]:
    entries = Field("entries", tuple[LogEntry, ...], "[LogEntry]", "the AppendEntries' entries")
    position = Field("position", Cursor, "Cursor", "the AppendEntries' prev_log_position")
    ready = Field(
        "ready",
        Cursor | None,
        "Cursor or null",
        "the log's last cursor after the finalize; null while not finished",
    )
    return [
        Convention(
            "Q0",
            "start a catch-up session",
            None,
            "null",
            "session",
            (
                position,
                Field("leader_commit", Index, "u64", "ignored, as in mosaik"),
                entries,
                _NOW,
            ),
            _SESSION_RESULT,
            lambda s, c, i, m, p: _session.session_new(
                c, i["position"], i["leader_commit"], i["entries"], i["now_ms"]
            ),
            ("error:InvalidState", _BAD_TIME),
            "Send(leader, RequestSnapshot), ArmTimer(snapshot_request_retry)",
        ),
        Convention(
            "Q1",
            "a peer offers a snapshot",
            SessionState,
            "SessionState",
            "session",
            (
                _PEER,
                Field("info", SnapshotInfo, "SnapshotInfo", "the offered anchor and length"),
                _NOW,
            ),
            _SESSION_RESULT,
            lambda s, c, i, m, p: _session.on_snapshot_offer(
                s, c, i["peer"], i["info"], i["now_ms"]
            ),
            ("ignored:unknown_peer", "ignored:stale_offer", _BAD_TIME),
            _TIMERS_LAST,
        ),
        Convention(
            "Q2",
            "select an anchor",
            SessionState,
            "SessionState",
            "session",
            (),
            (_POST_SESSION,),
            lambda s, c, i, m, p: (_session.try_select_anchor(s, c),),
        ),
        Convention(
            "Q3",
            "upgrade to a higher anchor",
            SessionState,
            "SessionState",
            "session",
            (),
            (_POST_SESSION,),
            lambda s, c, i, m, p: (_session.try_upgrade_anchor(s, c),),
        ),
        Convention(
            "Q4",
            "store a chunk of the selected snapshot",
            SessionState,
            "SessionState",
            "session",
            (_PEER, Field("response", FetchDataResponse, "FetchDataResponse", "the chunk"), _NOW),
            _SESSION_RESULT,
            lambda s, c, i, m, p: _session.on_fetch_data_response(
                s, c, i["peer"], i["response"], i["now_ms"]
            ),
            (
                "ignored:unknown_peer",
                "ignored:wrong_anchor",
                "ignored:unsolicited_response",
                "ignored:mismatched_response",
                _BAD_TIME,
            ),
            _TIMERS_LAST,
        ),
        Convention(
            "Q5",
            "one poll of the session",
            SessionState,
            "SessionState",
            "session",
            (_NOW,),
            (*_SESSION_RESULT, ready),
            lambda s, c, i, m, p: _session.session_poll(s, c, i["now_ms"]),
            ("error:InvalidState", "error:HazardPanic", _BAD_TIME),
            "Q12's effects when complete; else " + _TIMERS_LAST,
        ),
        Convention(
            "Q6",
            "forget terminated peers",
            SessionState,
            "SessionState",
            None,
            (),
            (_POST_SESSION,),
            lambda s, c, i, m, p: (_session.poll_terminations(s),),
        ),
        Convention(
            "Q7",
            "ask the leader again when the retry timer fired",
            SessionState,
            "SessionState",
            "session",
            (_NOW,),
            _SESSION_RESULT,
            lambda s, c, i, m, p: _session.poll_snapshot_request_timeout(s, c, i["now_ms"]),
            ("error:InvalidState", _BAD_TIME),
            "Send(leader, RequestSnapshot), ArmTimer(snapshot_request_retry)",
        ),
        Convention(
            "Q8",
            "drain contiguous chunks into the snapshot",
            SessionState,
            "SessionState",
            None,
            (),
            (_POST_SESSION,),
            lambda s, c, i, m, p: (_session.drain_fetched_items(s),),
        ),
        Convention(
            "Q9",
            "time out unanswered fetches",
            SessionState,
            "SessionState",
            None,
            (_NOW,),
            _SESSION_RESULT,
            lambda s, c, i, m, p: _session.poll_timeouts(s, i["now_ms"]),
            (_BAD_TIME,),
            "CancelTimer(fetch_timeout) per expired peer, by PeerId bytes",
        ),
        Convention(
            "Q10",
            "note the live bonds",
            SessionState,
            "SessionState",
            "session",
            (),
            (_POST_SESSION,),
            lambda s, c, i, m, p: (_session.poll_new_bonds(s, c),),
        ),
        Convention(
            "Q11",
            "schedule fetches to idle peers",
            SessionState,
            "SessionState",
            "session",
            (_NOW,),
            _SESSION_RESULT,
            lambda s, c, i, m, p: _session.schedule_fetches(s, c, i["now_ms"]),
            (_BAD_TIME,),
            "every Send(FetchDataRequest) in idle-peer order, then ArmTimer(fetch_timeout) by "
            "PeerId bytes",
        ),
        Convention(
            "Q11a",
            "ask one peer for one chunk",
            SessionState,
            "SessionState",
            "session",
            (
                _PEER,
                Field("anchor", Cursor, "Cursor", "the selected anchor"),
                Field("chunk", ItemRange, "ItemRange", "the chunk to ask for"),
                _NOW,
            ),
            _SESSION_RESULT,
            lambda s, c, i, m, p: _session.send_fetch_request(
                s, c, i["peer"], i["anchor"], i["chunk"], i["now_ms"]
            ),
            ("error:InvalidState", "error:InvalidRange", _BAD_TIME),
            "Send(FetchDataRequest), ArmTimer(fetch_timeout)",
        ),
        Convention(
            "Q12",
            "install the snapshot and resume the log",
            SessionState,
            "SessionState",
            "session",
            (),
            (
                Field("post", type(None), "null", "always null: the session is over"),
                _EFFECTS,
                Field("ready", Cursor, "Cursor", "the log's last cursor afterwards"),
            ),
            lambda s, c, i, m, p: _session.finalize_sync(s, c),
            ("error:InvalidState", "error:HazardPanic"),
            "InstallSnapshot, ResetLog, SetCommitted, AppendLog, then CancelTimer per armed timer",
        ),
        Convention(
            "Q13",
            "buffer an inconsistent AppendEntries",
            SessionState,
            "SessionState",
            "session",
            (position, entries),
            _SESSION_RESULT,
            lambda s, c, i, m, p: _session.buffer(s, c, i["position"], i["entries"]),
            (),
            "CancelTimer per request of a dropped anchor",
        ),
    ]


CONVENTIONS: dict[str, Convention] = {
    c.step: c
    for c in (
        _raft_conventions()
        + _collection_conventions()
        + _provider_conventions()
        + _session_conventions()
    )
}
"""Every step id's convention, in inventory order."""


# -- running a step (the reference's side) ---------------------------------------------------


class StepError(Exception):
    """A step's typed error, as the protocol answers it: ``form`` is ``{"kind", ...}``."""

    def __init__(self, form: dict[str, Any]) -> None:
        super().__init__(form.get("message", form["kind"]))
        self.form = form


def error_form(exc: SnapshotSyncError) -> dict[str, Any]:
    """Return the protocol form of a typed error: ``kind`` (+ ``hazard``) and ``message``."""
    if isinstance(exc, CodecError):
        return {"kind": "MalformedRequest", "field": exc.field, "message": exc.reason}
    form: dict[str, Any] = {"kind": type(exc).__name__, "message": str(exc)}
    if isinstance(exc, HazardPanic):
        form["hazard"] = exc.hazard
    return form


def _resolve(tp: Any, machine: StateMachine) -> Any:
    if tp is COLLECTION_STATE:
        return type(machine.initial())
    return tp


def _decode_at(data: Any, tp: Any, where: str, cache: dict[Any, Any] | None = None) -> Any:
    key = None
    if cache is not None and isinstance(data, dict):
        # Decoded records are immutable, so equal JSON can share one decoded value.
        key = (tp, json.dumps(data, separators=(",", ":")))
        found = cache.get(key)
        if found is not None:
            return found
    try:
        value = decode(data, tp)
    except CodecError as exc:
        path = f"{where}.{exc.field}" if exc.field else where
        raise CodecError(path, exc.reason) from None
    if key is not None and cache is not None:
        if len(cache) >= _CACHE_SIZE:
            cache.clear()
        cache[key] = value
    return value


_CACHE_SIZE = 2048


def machine_of(collection: str) -> StateMachine:
    """Return the state machine of a case's ``collection``, or raise CodecError."""
    machine = COLLECTIONS.get(collection) if isinstance(collection, str) else None
    if machine is None:
        raise CodecError("collection", f"unknown collection {collection!r}")
    return machine


def decode_call(
    step: str,
    collection: str,
    pre: Any,
    context: Any,
    inputs: Any,
    profile: Profile | None = None,
    cache: dict[Any, Any] | None = None,
) -> tuple[Convention, StateMachine, Any, Any, dict[str, Any], Profile]:
    """Decode a case's call per its convention; ``profile`` overrides the case's own.

    Returns ``(convention, machine, pre, ctx, inputs, profile)``. Raises CodecError
    (path from the top of the request) on anything that is not the convention's form.
    """
    conv = CONVENTIONS.get(step) if isinstance(step, str) else None
    if conv is None:
        raise CodecError("step", f"unknown step id {step!r}")
    machine = machine_of(collection)
    if conv.pre is None:
        if pre is not None:
            raise CodecError("pre", f"{step} takes no state: pre must be null")
        state = None
    else:
        state = _decode_at(pre, _resolve(conv.pre, machine), "pre", cache)
    ctx: Any = None
    if conv.context is None:
        if context is not None:
            raise CodecError("context", f"{step} takes no context: context must be null")
    else:
        if profile is not None and isinstance(context, dict):
            context = {**context, "profile": encode(profile)}
        ctx = _decode_at(context, CONTEXT_KINDS[conv.context][0], "context", cache)
    if not isinstance(inputs, dict):
        raise CodecError("input", "expected an object")
    for key in sorted(inputs):
        if key not in conv.input_names:
            raise CodecError(f"input.{key}", f"unexpected field of {step}'s input")
    values: dict[str, Any] = {}
    for f in conv.inputs:
        if f.name not in inputs:
            raise CodecError(f"input.{f.name}", f"missing field of {step}'s input")
        values[f.name] = _decode_at(inputs[f.name], _resolve(f.tp, machine), f"input.{f.name}")
    used = profile or getattr(ctx, "profile", None) or _profile_of_context(ctx)
    return conv, machine, state, ctx, values, used


def _profile_of_context(ctx: Any) -> Profile:
    from impl.profile import REFERENCE

    return REFERENCE if ctx is None else getattr(ctx, "profile", REFERENCE)


def call_step(
    conv: Convention,
    machine: StateMachine,
    pre: Any,
    ctx: Any,
    inputs: Mapping[str, Any],
    profile: Profile,
) -> tuple[Any, ...]:
    """Run the pure step; return its result values (typed errors propagate)."""
    values = conv.call(pre, ctx, inputs, machine, profile)
    if len(values) != len(conv.results):  # pragma: no cover - a convention bug
        raise AssertionError(f"{conv.step} returned {len(values)} values")
    return tuple(values)


def encode_result(
    conv: Convention, machine: StateMachine, values: tuple[Any, ...]
) -> dict[str, Any]:
    """Return the result object: each value in the form of its result field."""
    return {
        f.name: encode(v, _resolve(f.tp, machine))
        for f, v in zip(conv.results, values, strict=True)
    }


def encode_call(
    step: str, collection: str, config: Any, pre: Any, ctx: Any, inputs: Mapping[str, Any]
) -> dict[str, Any]:
    """Return a call's JSON parts (``config``, ``pre``, ``context``, ``input``) from Python
    values, each in the form its convention gives it (the inverse of :func:`decode_call`).

    Raises :class:`impl.codec.EncodeError` if a value does not fit its form.
    """
    from impl.config import Config

    conv = CONVENTIONS[step]
    machine = machine_of(collection)
    return {
        "config": encode(config, Config),
        "pre": None if conv.pre is None else encode(pre, _resolve(conv.pre, machine)),
        "context": None if conv.context is None else encode(ctx, CONTEXT_KINDS[conv.context][0]),
        "input": {f.name: encode(inputs[f.name], _resolve(f.tp, machine)) for f in conv.inputs},
    }


def run_step(
    step: str,
    collection: str,
    pre: Any,
    context: Any,
    inputs: Any,
    profile: Profile | None = None,
    cache: dict[Any, Any] | None = None,
) -> dict[str, Any]:
    """Run one case through the reference: ``{"result": {...}}`` or ``{"error": {...}}``.

    ``profile`` (default: the case's, read from its context) overrides the profile of
    the context: ``snapsync adapter --profile P`` and hazard attribution use it. A
    malformed call answers ``{"error": {"kind": "MalformedRequest", "field": path}}``.
    ``cache`` (a dict the caller keeps) shares decoded states and contexts between calls.
    """
    try:
        conv, machine, state, ctx, values, used = decode_call(
            step, collection, pre, context, inputs, profile, cache
        )
        result = call_step(conv, machine, state, ctx, values, used)
        return {"result": encode_result(conv, machine, result)}
    except SnapshotSyncError as exc:
        return {"error": error_form(exc)}


# -- the machine-readable and the documented forms -------------------------------------------


def conventions_json() -> list[dict[str, Any]]:
    """Return every convention as plain JSON (in the manifest and the docs' table)."""
    out = []
    for conv in CONVENTIONS.values():
        out.append(
            {
                "step": conv.step,
                "title": conv.title,
                "function": conv.function,
                "pre": conv.pre_form,
                "context": conv.context,
                "input": [{"name": f.name, "form": f.form, "doc": f.doc} for f in conv.inputs],
                "result": [{"name": f.name, "form": f.form, "doc": f.doc} for f in conv.results],
                "produces": list(conv.produces),
                "effect_order": conv.order,
            }
        )
    return out


def conventions_markdown() -> str:
    """Return the convention table of docs/formats/vectors.md (kept equal by a test)."""
    lines = [
        "| step | what | `pre` | `context` | `input` fields | result fields | ignores / errors |",
        "|---|---|---|---|---|---|---|",
    ]
    for conv in CONVENTIONS.values():
        inputs = ", ".join(f"`{f.name}`: {f.form}" for f in conv.inputs) or "(none)"
        results = ", ".join(f"`{f.name}`: {f.form}" for f in conv.results)
        produces = ", ".join(f"`{p}`" for p in conv.produces) or "—"
        context = f"`{conv.context}`" if conv.context else "null"
        lines.append(
            f"| {conv.step} | {conv.title} | {conv.pre_form} | {context} | {inputs} | "
            f"{results} | {produces} |"
        )
    return "\n".join(lines) + "\n"


def effect_orders_markdown() -> str:
    """Return the effect-order table of docs/formats/vectors.md."""
    lines = ["| step | effects, in this order |", "|---|---|"]
    for conv in CONVENTIONS.values():
        if conv.order:
            lines.append(f"| {conv.step} | {conv.order} |")
    return "\n".join(lines) + "\n"
