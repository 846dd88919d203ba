"""What a trace's sequence diagram shows, derived from the trace's records alone.

:func:`plan_diagram` reads the records of a trace (docs/formats/trace.md) and
returns a :class:`Plan`: the lifelines, the rows to draw (one per shown step),
the collapsed bands, the message arrows, the marks on the lifelines, the red
violation rows, and each node's final state. :mod:`spec.render.draw` lays a plan
out with graphviz. Nothing here re-runs the model: every mark is derived from a
recorded field, as the table in docs/findings.md ("How to read a diagram") lists.

Two kinds of step are collapsed into a labelled band:

* **the lead-in**: every step before the first *story step*. A story step starts a
  catch-up session (Q0), changes the group after it formed (any action but
  ``join_late``, ``client_write``, ``node_poll``, ``advance_time`` and
  ``deliver_message``), or carries a violation, a panic or the hunt's recorded
  finding (``meta.hunt.finding`` / ``meta.hunt.limitation`` of the header). The
  lead-in is group formation and log replication; the band lists who joined,
  who led, how many writes and messages it holds.
* **heartbeat bands**: after the lead-in, every run of at least
  :data:`MIN_BAND` consecutive *routine* steps: a poll, a time advance or a
  delivery that carries no mark, no violation, loses or drops nothing, and whose
  every message is heartbeat traffic (an AppendEntries without entries, or an
  AppendEntriesResponse). Shorter runs are drawn as rows; a routine step with
  no message at all is not drawn.

Deterministic: the plan depends only on the records, in their order.
"""

from __future__ import annotations

import textwrap
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from impl.errors import InvalidInput
from impl.types import PeerId

__all__ = [
    "MIN_BAND",
    "Arrow",
    "Band",
    "BondChange",
    "Mark",
    "MarkKind",
    "Plan",
    "Row",
    "describe_message",
    "plan_diagram",
    "wrap_text",
]

MIN_BAND = 3
"""The shortest run of routine steps collapsed into a heartbeat band."""

_ROUTINE_ACTIONS = frozenset({"node_poll", "advance_time", "deliver_message"})
_FORMATION_ACTIONS = _ROUTINE_ACTIONS | {"join_late", "client_write"}
_HEARTBEAT_TYPES = frozenset({"AppendEntriesResponse"})
_DETAIL_WIDTH = 64


class MarkKind(StrEnum):
    """What a mark on a lifeline reports (each has its own colour in the diagram)."""

    CATCH_UP = "catch-up"
    """The catch-up session and its providers: Q0, Q13 buffering, anchor, retry timer, P2, P3."""
    TIMER = "timer"
    """A timer expired: fetch timeout (Q9), retry timer (Q7), snapshot TTL (P5), election."""
    FINALIZE = "finalize"
    """Q12: the snapshot is installed and the log resumes after the anchor."""
    FAULT = "fault"
    """The environment acted on the node: it left, restarted empty, its clock jumped."""
    NOTE = "note"
    """Something was dropped: an ignored message, a rejected step, a send with no bond."""
    VIOLATION = "violation"
    """An invariant or check is violated at this node after this step, or the node panicked."""


@dataclass(frozen=True, slots=True)
class Mark:
    """A labelled box on one lifeline, in one row."""

    node: str
    kind: MarkKind
    text: str


@dataclass(frozen=True, slots=True)
class BondChange:
    """A bond between two lifelines broke (``up`` false) or re-formed, at a step."""

    a: str
    b: str
    up: bool


@dataclass(slots=True)
class Row:
    """One drawn step."""

    seq: int
    now_ms: int
    label: str
    marks: list[Mark] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    """``"I4 at r8: detail"``, one per violation (the finding's first)."""
    bonds: list[BondChange] = field(default_factory=list)
    finding: bool = False
    """The step of the hunt's recorded finding (drawn bold)."""


@dataclass(slots=True)
class Band:
    """Consecutive steps drawn as one labelled row."""

    kind: str
    """``"lead-in"``, ``"heartbeats"`` or ``"not shown"`` (beyond the row limit)."""
    first: int
    last: int
    t_first: int
    t_last: int
    summary: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Arrow:
    """A message from the step that queued it to the step that delivered or lost it.

    ``end`` is ``None`` for a message still queued when the trace ends.
    """

    mid: int
    src: str
    dst: str
    text: str
    start: int
    """The index in :attr:`Plan.items` of the row or band holding the step that queued it."""
    end: int | None
    """The index of the item holding the step that delivered or lost it; ``None``: the end."""
    fate: str
    """``"delivered"``, ``"after-break"`` (delivered after its bond broke: its receiver had
    received it before, transport ``deliver_after_break``), ``"lost"`` (its bond broke) or
    ``"queued"`` (at the end)."""
    sent_seq: int
    end_seq: int | None


@dataclass(slots=True)
class Plan:
    """Everything :mod:`spec.render.draw` needs to lay out a trace's diagram."""

    title: list[str]
    lifelines: list[str]
    roles: dict[str, str]
    """Lifeline name → ``"writer"`` or ``"reader"`` (its ``join_late``)."""
    peers: dict[str, str]
    """Lifeline name → the first 8 hex digits of its peer id (violation details use them)."""
    items: list[Row | Band]
    arrows: list[Arrow]
    end: dict[str, list[str]]
    """Lifeline name → the lines of its final state (the trace's ``end`` record)."""
    end_ms: int | None
    steps: int
    shown: int


def _cursor(c: object) -> str:
    if not isinstance(c, Mapping):
        return "?"
    return f"({c.get('term')},{c.get('index')})"


def describe_message(message: Mapping[str, Any]) -> str:
    """Return a short label for a tagged message record.

    >>> describe_message({"type": "FetchDataRequest", "anchor": {"term": 1, "index": 9},
    ...                   "range": {"start": 0, "end": 100}})
    'FetchDataRequest (1,9) [0,100)'
    """
    kind = str(message.get("type", "?"))
    if kind == "AppendEntries":
        prev = _cursor(message.get("prev_log_position"))
        commit = message.get("leader_commit")
        return (
            f"AppendEntries t{message.get('term')} prev {prev} +{_entries(message)} commit {commit}"
        )
    if kind == "AppendEntriesResponse":
        return f"AppendEntriesResponse last {message.get('last_log_index')} {message.get('vote')}"
    if kind == "SnapshotOffer":
        info = message.get("info", {})
        if isinstance(info, Mapping):
            return f"SnapshotOffer {_cursor(info.get('anchor'))} n={info.get('items_count')}"
    if kind == "FetchDataRequest":
        r = message.get("range", {})
        if isinstance(r, Mapping):
            anchor = _cursor(message.get("anchor"))
            return f"FetchDataRequest {anchor} [{r.get('start')},{r.get('end')})"
    if kind == "FetchDataResponse":
        items = message.get("items", [])
        n = len(items) if isinstance(items, list) else 0
        return f"FetchDataResponse {_cursor(message.get('anchor'))} @{message.get('offset')} n={n}"
    if kind == "RequestVote":
        return f"RequestVote t{message.get('term')}"
    if kind == "RequestVoteResponse":
        return f"RequestVoteResponse t{message.get('term')} {message.get('vote')}"
    return kind


def _entries(message: Mapping[str, Any]) -> int:
    entries = message.get("entries", [])
    return len(entries) if isinstance(entries, list) else 0


def _is_heartbeat(message: Mapping[str, Any]) -> bool:
    kind = message.get("type")
    return kind in _HEARTBEAT_TYPES or (kind == "AppendEntries" and _entries(message) == 0)


def wrap_text(text: str, width: int = _DETAIL_WIDTH) -> list[str]:
    """Split ``text`` into lines of at most ``width`` characters (at least one line)."""
    return textwrap.wrap(text, width, break_on_hyphens=False) or [""]


def _received(args: Mapping[str, Any]) -> str:
    """`` (r8 had received 1)``: what each end of a breaking bond had received and will still
    process (transport ``deliver_after_break``); empty when nothing was kept."""
    kept = [
        f"{args.get(end)} had received {args.get(key)}"
        for end, key in (("a", "received_by_a"), ("b", "received_by_b"))
        if isinstance(args.get(key), int) and args[key] > 0
    ]
    return f" ({', '.join(kept)})" if kept else ""


def _action_label(step: Mapping[str, Any]) -> str:
    """The row's caption: the action in a reader's words (the full arguments are in the trace)."""
    args = step.get("args", {})
    action = str(step.get("action", "?"))
    if not isinstance(args, Mapping):
        return action
    a = {k: args.get(k) for k in ("name", "src", "dst", "a", "b", "to_ms")}
    captions = {
        "deliver_message": f"deliver {a['src']} → {a['dst']}",
        "duplicate_message": f"deliver {a['src']} → {a['dst']} (duplicated)",
        "node_poll": f"poll {a['name']}",
        "advance_time": f"time → {a['to_ms']} ms",
        "break_bond": f"break bond {a['a']}–{a['b']}{_received(args)}",
        "restore_bond": f"restore bond {a['a']}–{a['b']}",
        "leave": f"{a['name']} leaves",
        "restart_empty": f"{a['name']} restarts empty",
        "start_election": f"{a['name']} starts an election",
        "reorder_message": f"reorder {a['src']} → {a['dst']}: "
        f"message at {args.get('position')} to the head",
        "corrupt_response": f"corrupt {a['src']} → {a['dst']}: response at "
        f"{args.get('position')} ({args.get('mode')}, delta {args.get('delta')})",
        "set_clock_skew": f"{a['name']} wall clock skew → {args.get('skew_ms')} ms",
    }
    if action == "forge_message":
        message = args.get("message")
        what = describe_message(message) if isinstance(message, Mapping) else "?"
        return f"forge {a['src']} → {a['dst']}: {what}"
    if action in captions:
        return captions[action]
    if action == "client_write":
        commands = args.get("commands", [])
        kinds = (
            [str(c.get("type")) for c in commands if isinstance(c, Mapping)]
            if isinstance(commands, list)
            else []
        )
        shown_kinds = ", ".join(kinds[:2]) + (f" +{len(kinds) - 2}" if len(kinds) > 2 else "")
        return f"client write at {a['name']}: {shown_kinds}"
    if action == "join_late":
        role = "writer" if args.get("writer") else "reader"
        return f"{a['name']} joins ({role})"
    shown = {k: v for k, v in args.items() if k not in ("mid", "message", "commands")}
    inner = ", ".join(f"{k}={v}" for k, v in sorted(shown.items()) if v is not None)
    return f"{action}({inner})"


def _lifelines(steps: Iterable[Mapping[str, Any]]) -> list[str]:
    names: list[str] = []
    for step in steps:
        args = step.get("args", {})
        if step.get("action") == "join_late" and isinstance(args, Mapping):
            name = args.get("name")
            if isinstance(name, str) and name not in names:
                names.append(name)
    return names


def _roles(steps: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    roles: dict[str, str] = {}
    for step in steps:
        args = step.get("args", {})
        if step.get("action") == "join_late" and isinstance(args, Mapping):
            roles.setdefault(str(args.get("name")), "writer" if args.get("writer") else "reader")
    return roles


def _finding(header: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """The hunt's recorded finding (``meta.hunt.finding`` or ``.limitation``), if any."""
    meta = header.get("meta") if header else None
    hunt = meta.get("hunt") if isinstance(meta, Mapping) else None
    if not isinstance(hunt, Mapping):
        return None
    found = hunt.get("finding") or hunt.get("limitation")
    return found if isinstance(found, Mapping) and "id" in found else None


def _violation_text(v: Mapping[str, Any], peers: Mapping[str, str]) -> str:
    """``id at node: detail``, each short peer id in the detail glossed with its name."""
    where = f" at {v['node']}" if v.get("node") else ""
    detail = str(v.get("detail", ""))
    for name, short in peers.items():
        detail = detail.replace(short, f"{short} ({name})")
    return f"{v.get('id')}{where}: {detail}"


def _timer_key(node: str, timer: object) -> tuple[str, str, str, str] | None:
    if not isinstance(timer, Mapping):
        return None
    return (node, str(timer.get("kind")), str(timer.get("peer")), _cursor(timer.get("anchor")))


@dataclass(slots=True)
class _StepReading:
    marks: list[Mark] = field(default_factory=list)
    catch_up_start: bool = False


@dataclass(slots=True)
class _Reader:
    """Walks the steps once, tracking what the marks need: messages, timers, anchors."""

    names: list[str]
    names_by_hex: dict[str, str]
    messages: dict[int, tuple[str, str, Mapping[str, Any], int]] = field(default_factory=dict)
    armed: dict[tuple[str, str, str, str], int] = field(default_factory=dict)
    fetch_anchor: dict[str, str] = field(default_factory=dict)
    catching_up: set[str] = field(default_factory=set)
    queues: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    """(src, dst) → the mids queued on that direction of the bond, head first."""
    corrupted: dict[int, str] = field(default_factory=dict)
    """mid → how a fault rewrote it in its queue (the trace does not record the new message)."""
    snapshots: set[tuple[str, str, str, str]] = field(default_factory=set)
    """The TTL timers of every snapshot taken so far (node, kind, peer, anchor)."""
    requests: dict[tuple[str, str], tuple[str, int]] = field(default_factory=dict)
    """(node, peer) → the range and step of the node's last FetchDataRequest to the peer."""
    kept: set[int] = field(default_factory=set)
    """The mids a bond's receiver had received when the bond broke (``break_bond``'s
    ``received_by_a`` / ``received_by_b``): delivered after the break."""

    def peer(self, hex_id: object) -> str:
        if not isinstance(hex_id, str):
            return "?"
        return self.names_by_hex.get(hex_id, hex_id[:8])

    def read(self, step: Mapping[str, Any]) -> _StepReading:
        out = _StepReading()
        seq = int(step.get("seq", 0))
        now = int(step.get("now_ms", 0))
        for item in step.get("sent") or []:
            if isinstance(item, Mapping) and isinstance(item.get("mid"), int):
                message = item.get("message")
                msg = message if isinstance(message, Mapping) else {}
                self.messages[item["mid"]] = (str(item.get("src")), str(item.get("dst")), msg, seq)
        self._queues(step)
        delivered = [self.messages[m][2] for m in step.get("delivered") or [] if m in self.messages]
        appends = [m for m in delivered if m.get("type") == "AppendEntries"]
        for mid in step.get("delivered") or []:
            if mid in self.kept and mid in self.messages:
                src, dst, message, _ = self.messages[mid]
                what = describe_message(message)
                text = f"{what} from {src}: received before the bond broke"
                out.marks.append(Mark(dst, MarkKind.NOTE, text))
        self._membership(step, out)
        for outcome in step.get("outcomes") or []:
            if isinstance(outcome, Mapping):
                self._outcome(outcome, step, now, appends, out)
        self._anchors(step, out)
        lost: Counter[tuple[str, str]] = Counter()
        for mid in step.get("lost") or []:
            if mid in self.messages and _is_heartbeat(self.messages[mid][2]):
                src, dst, _, _ = self.messages[mid]
                lost[(dst, src)] += 1
        for (dst, src), n in sorted(lost.items()):
            beats = "heartbeat" if n == 1 else "heartbeats"
            out.marks.append(Mark(dst, MarkKind.NOTE, f"{n} {beats} from {src} lost"))
        for item in step.get("dropped") or []:
            if isinstance(item, Mapping) and item.get("src") in self.names:
                text = f"{item.get('kind')} to {item.get('dst')} dropped: no bond"
                out.marks.append(Mark(str(item["src"]), MarkKind.NOTE, text))
        return out

    def _queues(self, step: Mapping[str, Any]) -> None:
        """Follow each bond's queue, to know which message a fault at a position touched."""
        args = step.get("args")
        action = step.get("action")
        if action in ("reorder_message", "corrupt_response") and isinstance(args, Mapping):
            queue = self.queues.get((str(args.get("src")), str(args.get("dst"))), [])
            position = args.get("position")
            if isinstance(position, int) and 0 <= position < len(queue):
                if action == "reorder_message":
                    queue.insert(0, queue.pop(position))
                else:
                    mode = args.get("mode")
                    how = (
                        f"{mode}, offset {args.get('delta'):+}" if mode == "wrong_offset" else mode
                    )
                    self.corrupted[queue[position]] = f"corrupted at #{step.get('seq')}: {how}"
        # The arrow shows the message as delivered: the rewrite, where the trace records one.
        for item in step.get("rewritten") or []:
            mid, message = (
                (item.get("mid"), item.get("message"))
                if isinstance(item, Mapping)
                else (None, None)
            )
            if isinstance(mid, int) and mid in self.messages and isinstance(message, Mapping):
                src, dst, _, sent_seq = self.messages[mid]
                self.messages[mid] = (src, dst, message, sent_seq)
        gone = list(step.get("lost") or [])
        if action != "duplicate_message":
            gone += list(step.get("delivered") or [])
        for mid in gone:
            if mid in self.messages:
                src, dst, _, _ = self.messages[mid]
                queue = self.queues.get((src, dst), [])
                if mid in queue:
                    queue.remove(mid)
        for item in step.get("sent") or []:
            if isinstance(item, Mapping) and isinstance(item.get("mid"), int):
                key = (str(item.get("src")), str(item.get("dst")))
                self.queues.setdefault(key, []).append(item["mid"])
        if action == "break_bond" and isinstance(args, Mapping):
            # What is still queued on the broken bond was received: it is delivered later.
            a, b = str(args.get("a")), str(args.get("b"))
            for key in ((a, b), (b, a)):
                self.kept.update(self.queues.get(key, []))

    def _membership(self, step: Mapping[str, Any], out: _StepReading) -> None:
        args = step.get("args")
        name = args.get("name") if isinstance(args, Mapping) else None
        action = step.get("action")
        if action in ("join_late", "restart_empty") and isinstance(name, str):
            # node_new arms the first election deadline without an ArmTimer record.
            timeout = args.get("election_timeout_ms") if isinstance(args, Mapping) else None
            if isinstance(timeout, int):
                self.armed = {k: v for k, v in self.armed.items() if k[0] != name}
                self.armed[(name, "election", "None", "?")] = int(step.get("now_ms", 0)) + timeout
        if not isinstance(name, str) or action not in ("leave", "restart_empty", "set_clock_skew"):
            return
        # The node's timers and session are gone with it (leave, restart) or unchanged (skew).
        if action == "leave":
            self.armed = {k: v for k, v in self.armed.items() if k[0] != name}
        if action != "set_clock_skew":
            self.catching_up.discard(name)
            self.fetch_anchor.pop(name, None)
        text = {
            "leave": "leaves (its bonds break)",
            "restart_empty": "restarts empty",
            "set_clock_skew": f"wall clock skew → {args.get('skew_ms') if args else '?'} ms",
        }[action]
        out.marks.append(Mark(name, MarkKind.FAULT, text))

    def _outcome(
        self,
        outcome: Mapping[str, Any],
        step: Mapping[str, Any],
        now: int,
        appends: list[Mapping[str, Any]],
        out: _StepReading,
    ) -> None:
        """The marks of one impl step's outcome; then its timer effects are booked."""
        node = str(outcome.get("node"))
        effects = [e for e in outcome.get("effects") or [] if isinstance(e, Mapping)]
        kind = outcome.get("step")
        add = out.marks.append
        sends_request = any(
            e.get("type") == "Send" and e.get("kind") == "RequestSnapshot" for e in effects
        )
        retry_key = (node, "snapshot_request_retry", "None", "?")
        if kind == "node_receive" and appends and sends_request:
            out.catch_up_start = True
            self._session_start(node, effects, retry_key, add)
        elif kind == "node_receive" and appends and node in self.catching_up:
            # With a session, R4 hands the entries to Q13 and answers nothing.
            entries = _entries(appends[0])
            if entries and not any(e.get("type") in ("Send", "Broadcast") for e in effects):
                prev = appends[0].get("prev_log_position")
                first = int(prev.get("index", 0)) + 1 if isinstance(prev, Mapping) else 0
                span = (
                    f"entry {first}" if entries == 1 else f"entries {first}–{first + entries - 1}"
                )
                add(Mark(node, MarkKind.CATCH_UP, f"buffers {span} (Q13),\nno answer"))
        elif kind == "node_poll" and sends_request:
            new_retry = _armed_at(node, effects, retry_key)
            if self.armed.get(retry_key, now + 1) <= now:
                nxt = f", next at {new_retry} ms" if new_retry is not None else ""
                add(Mark(node, MarkKind.TIMER, f"retry timer fired (Q7):\nRequestSnapshot{nxt}"))
            else:
                nxt = f";\nretry at {new_retry} ms" if new_retry is not None else ""
                add(Mark(node, MarkKind.CATCH_UP, f"asks the leader again:\nRequestSnapshot{nxt}"))
        if kind == "node_poll":
            self._expiries(node, effects, step, now, out)
        if any(e.get("type") == "InstallSnapshot" for e in effects):
            add(Mark(node, MarkKind.FINALIZE, _finalize_text(effects)))
            self.catching_up.discard(node)
            self.fetch_anchor.pop(node, None)
        elif not sends_request:
            self._retry_changes(node, effects, retry_key, out)
        for e in effects:
            if e.get("type") == "FeedCommand":
                command = e.get("command")
                if isinstance(command, Mapping) and command.get("type") == "TakeSnapshot":
                    request = command.get("request")
                    by = request.get("requested_by") if isinstance(request, Mapping) else None
                    text = f"P2: TakeSnapshot queued for {self.peer(by)}"
                    add(Mark(node, MarkKind.CATCH_UP, text))
            elif e.get("type") == "Ignored":
                add(Mark(node, MarkKind.NOTE, f"ignored {e.get('detail', '')}: {e.get('reason')}"))
            elif e.get("type") in ("ArmTimer", "CancelTimer"):
                self._book_timer(node, e, add)
        panic = outcome.get("panic")
        if isinstance(panic, Mapping):
            text = f"PANIC {panic.get('hazard')} at {panic.get('site')}:\n{panic.get('detail')}"
            add(Mark(node, MarkKind.VIOLATION, text))
            self.catching_up.discard(node)
        if outcome.get("error"):
            add(Mark(node, MarkKind.NOTE, f"rejected: {outcome['error']}"))

    def _session_start(
        self,
        node: str,
        effects: list[Mapping[str, Any]],
        retry_key: tuple[str, str, str, str],
        add: Callable[[Mark], None],
    ) -> None:
        """Q0: a new session; the old one's timers went with it (Q0 arms its own)."""
        self.catching_up.add(node)
        self.fetch_anchor.pop(node, None)
        self.armed = {
            k: v
            for k, v in self.armed.items()
            if not (k[0] == node and k[1] in ("snapshot_request_retry", "fetch_timeout"))
        }
        new_retry = _armed_at(node, effects, retry_key)
        retry = f"; retry at {new_retry} ms" if new_retry is not None else ""
        add(Mark(node, MarkKind.CATCH_UP, f"catch-up starts (Q0):\nRequestSnapshot{retry}"))

    def _book_timer(
        self, node: str, effect: Mapping[str, Any], add: Callable[[Mark], None]
    ) -> None:
        """Record an ArmTimer / CancelTimer; the first TTL of an anchor is a P3 snapshot."""
        key = _timer_key(node, effect.get("timer"))
        if key is None:
            return
        if effect.get("type") == "CancelTimer":
            self.armed.pop(key, None)
            return
        deadline = int(effect.get("deadline_ms", 0))
        # P3 arms a snapshot's TTL once, when it takes the snapshot; P4 only re-arms it.
        if key[1] == "snapshot_ttl" and key not in self.armed and key not in self.snapshots:
            self.snapshots.add(key)
            text = f"snapshot {key[3]} taken (P3),\nkept until {deadline} ms"
            add(Mark(node, MarkKind.CATCH_UP, text))
        self.armed[key] = deadline

    def _expiries(
        self,
        node: str,
        effects: list[Mapping[str, Any]],
        step: Mapping[str, Any],
        now: int,
        out: _StepReading,
    ) -> None:
        """Timers that fired in this poll: armed, past their deadline, and acted on."""
        for e in effects:
            key = _timer_key(node, e.get("timer"))
            if key is None or e.get("type") != "CancelTimer":
                continue
            deadline = self.armed.get(key)
            if key[1] == "fetch_timeout" and deadline is not None and deadline <= now:
                peer = self.peer(key[2])
                request = self.requests.get((node, peer))
                what = f" {request[0]} (#{request[1]})" if request else ""
                text = f"fetch timeout (Q9):\nrequest to {peer}{what} expired"
                out.marks.append(Mark(node, MarkKind.TIMER, text))
            elif key[1] == "snapshot_ttl":
                text = f"snapshot {key[3]} TTL expired:\ndropped (P5)"
                out.marks.append(Mark(node, MarkKind.TIMER, text))
        votes = any(
            e.get("type") == "Broadcast" and e.get("kind") == "RequestVote" for e in effects
        )
        deadline = self.armed.get((node, "election", "None", "?"))
        if votes and deadline is not None and deadline <= now:
            terms = [
                item["message"].get("term")
                for item in step.get("sent") or []
                if isinstance(item, Mapping)
                and item.get("src") == node
                and isinstance(item.get("message"), Mapping)
                and item["message"].get("type") == "RequestVote"
            ]
            term = f" t{terms[0]}" if terms else ""  # no term shown when nobody was asked
            out.marks.append(Mark(node, MarkKind.TIMER, f"election timeout:\nRequestVote{term}"))

    def _retry_changes(
        self,
        node: str,
        effects: list[Mapping[str, Any]],
        retry_key: tuple[str, str, str, str],
        out: _StepReading,
    ) -> None:
        """The retry timer stopped or armed by something other than Q0, Q7 or finalize."""
        for e in effects:
            if _timer_key(node, e.get("timer")) != retry_key:
                continue
            if e.get("type") == "CancelTimer" and retry_key in self.armed:
                out.marks.append(Mark(node, MarkKind.CATCH_UP, "retry timer stopped"))
            elif e.get("type") == "ArmTimer" and retry_key not in self.armed:
                text = f"retry timer armed:\nfires at {e.get('deadline_ms')} ms"
                out.marks.append(Mark(node, MarkKind.CATCH_UP, text))

    def _anchors(self, step: Mapping[str, Any], out: _StepReading) -> None:
        for item in step.get("sent") or []:
            if not isinstance(item, Mapping):
                continue
            message = item.get("message")
            if not isinstance(message, Mapping) or message.get("type") != "FetchDataRequest":
                continue
            node = str(item.get("src"))
            r = message.get("range")
            span = f"[{r.get('start')},{r.get('end')})" if isinstance(r, Mapping) else "?"
            self.requests[(node, str(item.get("dst")))] = (span, int(step.get("seq", 0)))
            anchor = _cursor(message.get("anchor"))
            before = self.fetch_anchor.get(node)
            if before == anchor:
                continue
            self.fetch_anchor[node] = anchor
            if before is None:
                text = f"anchor {anchor} selected\n(first fetch)"
            else:
                verb = "upgraded" if _index(anchor) > _index(before) else "changed"
                text = f"anchor {verb} {before} → {anchor}\n(first fetch)"
            out.marks.append(Mark(node, MarkKind.CATCH_UP, text))

    def session_timers(self, node: str) -> str | None:
        """The catch-up timers armed for ``node`` at the end, if it is catching up."""
        if node not in self.catching_up:
            return None
        armed = sorted(
            (deadline, kind, peer)
            for (n, kind, peer, _), deadline in self.armed.items()
            if n == node and kind in ("snapshot_request_retry", "fetch_timeout")
        )
        if not armed:
            return "catch-up timers: none armed"
        parts = [
            f"retry at {d} ms"
            if kind == "snapshot_request_retry"
            else f"fetch {self.peer(p)} at {d} ms"
            for d, kind, p in armed
        ]
        return "catch-up timers: " + ", ".join(parts)


def _armed_at(
    node: str, effects: list[Mapping[str, Any]], key: tuple[str, str, str, str]
) -> int | None:
    """The deadline an outcome arms ``key`` at, if it does."""
    for e in effects:
        if e.get("type") == "ArmTimer" and _timer_key(node, e.get("timer")) == key:
            return int(e.get("deadline_ms", 0))
    return None


def _index(cursor: str) -> int:
    try:
        return int(cursor.strip("()").split(",")[1])
    except (IndexError, ValueError):
        return -1


def _finalize_text(effects: list[Mapping[str, Any]]) -> str:
    items = next((e.get("items") for e in effects if e.get("type") == "InstallSnapshot"), "?")
    anchor = next(
        (_cursor(e.get("cursor")) for e in effects if e.get("type") == "SetCommitted"), "?"
    )
    kept = next(
        (
            len(e["entries"])
            for e in effects
            if e.get("type") == "AppendLog" and isinstance(e.get("entries"), list)
        ),
        0,
    )
    return f"finalize (Q12): installs {items} items\nat {anchor}; log resumes +{kept}"


def _story_step(step: Mapping[str, Any], reading: _StepReading, finding_step: int | None) -> bool:
    outcomes = step.get("outcomes") or []
    return bool(
        reading.catch_up_start
        or step.get("action") not in _FORMATION_ACTIONS
        or step.get("violations")
        or step.get("seq") == finding_step
        or any(isinstance(o, Mapping) and o.get("panic") for o in outcomes)
    )


def _routine(
    step: Mapping[str, Any],
    reading: _StepReading,
    finding_step: int | None,
    messages: Mapping[int, tuple[str, str, Mapping[str, Any], int]],
) -> bool:
    if (
        step.get("action") not in _ROUTINE_ACTIONS
        or reading.marks
        or step.get("violations")
        or step.get("seq") == finding_step
        or step.get("lost")
        or step.get("dropped")
    ):
        return False
    sent = [i.get("message") for i in step.get("sent") or [] if isinstance(i, Mapping)]
    got = [messages[m][2] for m in step.get("delivered") or [] if m in messages]
    return all(isinstance(m, Mapping) and _is_heartbeat(m) for m in sent + got)


def _has_content(step: Mapping[str, Any], row: Row) -> bool:
    """Check if a step has anything to draw (a poll that changed nothing has not)."""
    return bool(
        step.get("action") not in ("node_poll", "advance_time")
        or step.get("sent")
        or step.get("delivered")
        or step.get("lost")
        or row.marks
        or row.violations
    )


def _band_summary(
    kind: str,
    steps: Sequence[Mapping[str, Any]],
    messages: Mapping[int, tuple[str, str, Mapping[str, Any], int]],
) -> list[str]:
    """What a band hides, in a reader's words."""
    joins: list[str] = []
    writes = 0
    leaders: dict[str, set[int]] = {}
    kinds: Counter[str] = Counter()
    for step in steps:
        args = step.get("args")
        if step.get("action") == "join_late" and isinstance(args, Mapping):
            joins.append(str(args.get("name")))
        if step.get("action") == "client_write" and isinstance(args, Mapping):
            commands = args.get("commands")
            writes += len(commands) if isinstance(commands, list) else 0
        for item in step.get("sent") or []:
            if not isinstance(item, Mapping) or not isinstance(item.get("message"), Mapping):
                continue
            message = item["message"]
            kinds[str(message.get("type"))] += 1
            if message.get("type") == "AppendEntries":
                leaders.setdefault(str(item.get("src")), set()).add(int(message.get("term", 0)))
    lines: list[str] = []
    if kind == "lead-in":
        lines.append("lead-in: every step before the first catch-up start,")
        lines.append("fault or violation (group formation, replication)")
    elif kind == "heartbeats":
        lines.append("heartbeats only: AppendEntries without entries,")
        lines.append("their responses, and polls that changed nothing")
    else:
        lines.append("not shown: beyond the diagram's row limit")
    if joins:
        lines.append("joined: " + ", ".join(joins))
    if leaders:
        lines.append(
            "leading: "
            + ", ".join(
                f"{n} (term {', '.join(str(t) for t in sorted(ts))})"
                for n, ts in sorted(leaders.items())
            )
        )
    if writes:
        lines.append(f"client commands: {writes}")
    if kinds:
        lines.append(
            "messages sent: "
            + ", ".join(
                f"{k} ×{n}" for k, n in sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0]))
            )
        )
    return lines


def plan_diagram(
    records: Sequence[Mapping[str, Any]],
    *,
    max_rows: int = 400,
    collapse: bool = True,
    name: str | None = None,
) -> Plan:
    """Return what the diagram of ``records`` (header, steps, end) shows.

    ``collapse`` false draws every step that has something to draw (no bands).
    ``max_rows`` bounds the drawn rows and bands; steps beyond it are one band,
    except the violation rows, which are always drawn. ``name`` (e.g. ``"H6"``)
    heads the title.
    """
    # Verify the row limit leaves room for a row
    if not isinstance(max_rows, int) or max_rows < 1:
        raise InvalidInput(f"max_rows must be a positive integer, got {max_rows!r}")
    header = next((r for r in records if r.get("type") == "header"), None)
    end = next((r for r in records if r.get("type") == "end"), None)
    steps = [r for r in records if r.get("type") == "step"]
    names = _lifelines(steps)
    peers = {n: PeerId.from_label(n).short() for n in names}
    reader = _Reader(names, {PeerId.from_label(n).hex(): n for n in names})
    finding = _finding(header)
    finding_step = finding.get("step") if finding else None
    if isinstance(finding_step, int) and steps and finding_step > int(steps[-1].get("seq", 0)):
        finding_step = int(steps[-1].get("seq", 0))

    readings = [reader.read(step) for step in steps]
    rows = [
        _row(step, reading, finding, finding_step, peers)
        for step, reading in zip(steps, readings, strict=True)
    ]

    def routine(k: int) -> bool:
        return collapse and _routine(steps[k], readings[k], finding_step, reader.messages)

    lead_in = 0
    if collapse:
        lead_in = next(
            (k for k in range(len(steps)) if _story_step(steps[k], readings[k], finding_step)),
            len(steps),
        )
        lead_in = lead_in if lead_in >= 2 else 0
    items: list[Row | Band] = []
    if lead_in:
        items.append(_band("lead-in", steps[:lead_in], reader.messages))
    i = lead_in
    while i < len(steps):
        j = i
        while j < len(steps) and routine(j):
            j += 1
        if j - i >= MIN_BAND:
            items.append(_band("heartbeats", steps[i:j], reader.messages))
            i = j
            continue
        for k in range(i, max(j, i + 1)):
            if _has_content(steps[k], rows[k]):
                items.append(rows[k])
        i = max(j, i + 1)
    items = _limit(items, max_rows, steps, reader.messages)
    item_of: dict[int, int] = {}  # seq → index of the item that stands for it
    for index, item in enumerate(items):
        if isinstance(item, Band):
            item_of.update(dict.fromkeys(range(item.first, item.last + 1), index))
    for index, item in enumerate(items):
        if isinstance(item, Row):
            item_of[item.seq] = index
    arrows = _arrows(steps, reader.messages, item_of, reader.corrupted, reader.kept)
    shown = sum(1 for item in items if isinstance(item, Row))

    end_lines: dict[str, list[str]] = {}
    nodes = end.get("nodes") if end else None
    for n in names:
        summary = nodes.get(n) if isinstance(nodes, Mapping) else None
        lines = _end_lines(summary) if isinstance(summary, Mapping) else ["(not in the end record)"]
        timers = reader.session_timers(n)
        if timers is not None and (
            not isinstance(summary, Mapping) or summary.get("status") == "up"
        ):
            lines.append(timers)
        end_lines[n] = lines
    return Plan(
        title=_title(header, finding, name, len(steps), shown, peers),
        lifelines=names,
        roles=_roles(steps),
        peers=peers,
        items=items,
        arrows=arrows,
        end=end_lines,
        end_ms=int(end["now_ms"]) if end and isinstance(end.get("now_ms"), int) else None,
        steps=len(steps),
        shown=shown,
    )


def _row(
    step: Mapping[str, Any],
    reading: _StepReading,
    finding: Mapping[str, Any] | None,
    finding_step: int | None,
    peers: Mapping[str, str],
) -> Row:
    seq = int(step.get("seq", 0))
    row = Row(seq=seq, now_ms=int(step.get("now_ms", 0)), label=_action_label(step))
    row.marks = list(reading.marks)
    texts: list[str] = []
    nodes: list[str] = []
    if finding is not None and seq == finding_step:
        row.finding = True
        texts.append(_violation_text(finding, peers))
        nodes.append(str(finding.get("node")))
    for v in step.get("violations") or []:
        if isinstance(v, Mapping):
            text = _violation_text(v, peers)
            if text not in texts:
                texts.append(text)
                nodes.append(str(v.get("node")))
    row.violations = texts
    ids: dict[str, list[str]] = {}
    for text, node in zip(texts, nodes, strict=True):
        ids.setdefault(node, []).append(text.split(" ", 1)[0].rstrip(":"))
    panicked = {m.node for m in row.marks if m.kind is MarkKind.VIOLATION}
    for node, found in ids.items():
        found = [i for i in dict.fromkeys(found) if not (i == "PANIC" and node in panicked)]
        if found:
            row.marks.append(Mark(node, MarkKind.VIOLATION, "✗ " + ", ".join(found)))
    args = step.get("args")
    if step.get("action") in ("break_bond", "restore_bond") and isinstance(args, Mapping):
        row.bonds.append(
            BondChange(str(args.get("a")), str(args.get("b")), step["action"] == "restore_bond")
        )
    return row


def _band(
    kind: str,
    steps: Sequence[Mapping[str, Any]],
    messages: Mapping[int, tuple[str, str, Mapping[str, Any], int]],
) -> Band:
    return Band(
        kind=kind,
        first=int(steps[0].get("seq", 0)),
        last=int(steps[-1].get("seq", 0)),
        t_first=int(steps[0].get("now_ms", 0)),
        t_last=int(steps[-1].get("now_ms", 0)),
        summary=_band_summary(kind, steps, messages),
    )


def _limit(
    items: list[Row | Band],
    max_rows: int,
    steps: Sequence[Mapping[str, Any]],
    messages: Mapping[int, tuple[str, str, Mapping[str, Any], int]],
) -> list[Row | Band]:
    """Keep ``max_rows`` items; the rest becomes one band, violation rows excepted."""
    if len(items) <= max_rows:
        return items
    rest = items[max_rows:]
    first = rest[0].seq if isinstance(rest[0], Row) else rest[0].first
    kept = [
        *items[:max_rows],
        _band("not shown", [s for s in steps if int(s.get("seq", 0)) >= first], messages),
    ]
    kept.extend(item for item in rest if isinstance(item, Row) and item.violations)
    return kept


def _arrows(
    steps: Sequence[Mapping[str, Any]],
    messages: Mapping[int, tuple[str, str, Mapping[str, Any], int]],
    item_of: Mapping[int, int],
    corrupted: Mapping[int, str],
    kept: frozenset[int] | set[int] = frozenset(),
) -> list[Arrow]:
    """Messages between drawn rows; a message sent and ended inside one band is not drawn."""
    arrows: list[Arrow] = []
    open_mids: dict[int, None] = {}
    for step in steps:
        seq = int(step.get("seq", 0))
        for item in step.get("sent") or []:
            if isinstance(item, Mapping) and isinstance(item.get("mid"), int):
                open_mids[item["mid"]] = None
        for fate, key in (("delivered", "delivered"), ("lost", "lost")):
            for mid in step.get(key) or []:
                if mid not in messages:
                    continue
                if fate == "lost" or step.get("action") != "duplicate_message":
                    open_mids.pop(mid, None)
                if fate == "lost" and _is_heartbeat(messages[mid][2]):
                    continue  # a mark on the receiver counts them
                if fate == "delivered" and mid in kept:
                    fate = "after-break"
                arrow = _arrow(mid, messages, item_of, seq, fate, corrupted.get(mid))
                if arrow is not None:
                    arrows.append(arrow)
    for mid in open_mids:
        if _is_heartbeat(messages[mid][2]):
            continue  # a heartbeat still queued at the end says nothing
        arrow = _arrow(mid, messages, item_of, None, "queued", corrupted.get(mid))
        if arrow is not None:
            arrows.append(arrow)
    return arrows


def _arrow(
    mid: int,
    messages: Mapping[int, tuple[str, str, Mapping[str, Any], int]],
    item_of: Mapping[int, int],
    end_seq: int | None,
    fate: str,
    note: str | None,
) -> Arrow | None:
    src, dst, message, sent_seq = messages[mid]
    start = item_of.get(sent_seq, -1)
    end = None if end_seq is None else item_of.get(end_seq, -1)
    if start < 0 or (end is not None and end < 0) or start == end:
        return None
    text = describe_message(message) + (f" ({note})" if note else "")
    return Arrow(mid, src, dst, text, start, end, fate, sent_seq, end_seq)


def _end_lines(node: Mapping[str, Any]) -> list[str]:
    status = node.get("status")
    online = "online" if node.get("online") else "offline"
    lines = [f"{status} · {node.get('role')} t{node.get('term')} · {online}"]
    lines.append(f"committed {_cursor(node.get('committed'))} · {node.get('items')} items")
    digest = node.get("digest")
    if isinstance(digest, str):
        lines.append(f"state {digest[:8]}")
    return lines


def _title(
    header: Mapping[str, Any] | None,
    finding: Mapping[str, Any] | None,
    name: str | None,
    steps: int,
    shown: int,
    peers: Mapping[str, str],
) -> list[str]:
    setup = header.get("setup") if header else None
    setup = setup if isinstance(setup, Mapping) else {}
    meta = header.get("meta") if header else None
    hunt = meta.get("hunt") if isinstance(meta, Mapping) else None
    campaign = hunt.get("campaign") if isinstance(hunt, Mapping) else None
    hazards = setup.get("hazards") or []
    first = f"{name}: " if name else ""
    if finding is not None:
        first += _violation_text(finding, peers)
    else:
        first += "trace"
    lines = wrap_text(first, 100)
    facts = [f"profile {setup.get('profile')}"]
    if hazards:
        facts.append("switches " + " ".join(str(h) for h in hazards))
    facts.append(f"{setup.get('kind')} collection")
    if campaign:
        facts.append(f"campaign {campaign}")
    facts.append(f"{steps} steps, {shown} drawn")
    lines.append(" · ".join(facts))
    return lines
