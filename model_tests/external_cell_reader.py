"""An independent node for the node-level conformance tests: a Cell reader, with optional bugs.

Written from the documents only (docs/formats/adapter.md node-level ops,
docs/formats/json.md, docs/formats/events.md, docs/protocol/), as a port in another
language would be: it imports nothing from snapsync (the tests check that), only
the standard library and ``blake3`` for the state digest. It plays any number of
nodes, each an *observer* (reader) of a Cell collection that is in sync with its
leader: R4/R5 (append, answer, commit, apply, prune), S1 (TakeSnapshot → a
pending request at the end of its run), P2–P5 (offer, serve, revive, expire).
It has no catch-up session: an AppendEntries that does not fit its log is
answered ``unsupported`` (the tests drive it where that cannot happen).

``--bug clear`` ignores ``Cell.Clear`` (its state then differs from the log's
fold); ``--bug offset`` answers a chunk request with an offset one too high.
``--log-dir DIR`` writes each node's event log to ``DIR/<handle>.events.jsonl``.

Run as ``python external_cell_reader.py [--bug B] [--log-dir DIR]``; it speaks the
adapter protocol on stdin/stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import blake3

NODE_OPS = [
    "node_new",
    "receive",
    "poll",
    "client_write",
    "bond_terminated",
    "next_deadline",
    "observe",
]
STATE_SYNC = {"RequestSnapshot", "SnapshotOffer", "FetchDataRequest", "FetchDataResponse"}


def canon(value: Any) -> str:
    """The canonical JSON text (sorted keys, no whitespace, UTF-8)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def cursor(term: int, index: int) -> dict[str, int]:
    return {"index": index, "term": term}


def less(a: dict[str, int], b: dict[str, int]) -> bool:
    """Cursors order by term, then index."""
    return (a["term"], a["index"]) < (b["term"], b["index"])


class Node:
    """One Cell observer (module docstring)."""

    def __init__(self, request: dict[str, Any], bug: str, log: Any) -> None:
        self.handle = request["node"]
        self.peer = request["peer"]
        self.writer = request["writer"]
        self.config = request["config"]
        self.term = 0
        self.leader: str | None = None
        self.entries: dict[int, tuple[int, Any]] = {}  # index -> (term, command)
        self.base = cursor(0, 0)  # the log's pruned/reset position
        self.committed = cursor(0, 0)
        self.value: Any = None
        self.online = False
        self.available: dict[str, tuple[dict[str, int], Any, int]] = {}  # anchor text -> ...
        self.requests: list[tuple[dict[str, Any], dict[str, int], Any]] = []
        self.bonds: set[str] = set()
        self.bug = bug
        self.log = log
        self.seq = 0
        if log is not None:
            header = {
                "type": "header",
                "format": "snapsync-events",
                "version": 1,
                "node": {"peer": self.peer, "name": self.handle},
                "writer": self.writer,
                "kind": "cell",
                "config": self.config,
                "heartbeat_interval_ms": request["heartbeat_interval_ms"],
                "logged": ["append", "commit", "poll", "role"],
                "implementation": "external-cell-reader",
                "meta": {"bug": bug},
            }
            log.write(canon(header) + "\n")
        self.event(request["now_ms"], request["now_ms"], "start")

    # -- the log ----------------------------------------------------------------------------

    def event(self, now: int, wall: int, kind: str, **fields: Any) -> None:
        if self.log is None:
            return
        self.seq += 1
        record = {"type": "event", "seq": self.seq, "time_ms": now, "wall_ms": wall, "event": kind}
        record.update(fields)
        self.log.write(canon(record) + "\n")
        self.log.flush()

    # -- the log store ----------------------------------------------------------------------

    def last(self) -> dict[str, int]:
        if self.entries:
            index = max(self.entries)
            return cursor(self.entries[index][0], index)
        return dict(self.base)

    def term_at(self, index: int) -> int | None:
        if index == 0:
            return 0
        if index == self.base["index"]:
            return self.base["term"]
        entry = self.entries.get(index)
        return None if entry is None else entry[0]

    # -- the projection ---------------------------------------------------------------------

    def digest(self) -> tuple[int, str]:
        items = [] if self.value is None else [self.value]
        text = json.dumps(items, separators=(",", ":"), ensure_ascii=False)
        return len(items), blake3.blake3(text.encode()).hexdigest()

    def deadline(self) -> int | None:
        if self.requests:
            return 0
        if not self.available:
            return None
        return min(d for _, _, d in self.available.values())

    def observation(self) -> dict[str, Any]:
        items, digest = self.digest()
        return {
            "role": "follower",
            "term": self.term,
            "leader": self.leader,
            "last_log": self.last(),
            "committed": dict(self.committed),
            "catching_up": False,
            "online": self.online,
            "items": items,
            "digest": digest,
            "next_deadline_ms": self.deadline(),
        }

    # -- steps ------------------------------------------------------------------------------

    def begin(self, ctx: dict[str, Any]) -> tuple[int, int, set[str], tuple[Any, ...]]:
        now, wall, bonds = ctx["now_ms"], ctx["now_wall_ms"], set(ctx["bonds"])
        for peer in sorted(bonds - self.bonds):
            self.event(now, wall, "bond_up", peer=peer)
        self.bonds |= bonds
        return now, wall, bonds, (self.term, self.leader, canon(self.last()), canon(self.committed))

    def finish(self, now: int, wall: int, before: tuple[Any, ...], effects: list[Any]) -> Any:
        for effect in effects:
            if effect["type"] == "Send":
                self.event(now, wall, "send", to=effect["to"], message=effect["message"])
        term, leader, last, committed = before
        if (term, leader) != (self.term, self.leader):
            self.event(now, wall, "role", role="follower", term=self.term, leader=self.leader)
        if last != canon(self.last()):
            self.event(now, wall, "append", last=self.last())
        if committed != canon(self.committed):
            self.event(now, wall, "commit", committed=self.committed, digest=self.digest()[1])
        return {"effects": effects, "observation": self.observation()}

    def receive(self, ctx: dict[str, Any], sender: str, message: dict[str, Any]) -> Any:
        now, wall, bonds, before = self.begin(ctx)
        self.event(now, wall, "recv", **{"from": sender, "message": message, "cause": None})
        kind = message["type"]
        effects: list[Any] = []
        if sender == self.peer or sender not in bonds:
            pass  # an unknown peer: ignored
        elif kind in STATE_SYNC:
            if kind == "FetchDataRequest":
                effects = self.serve(now, sender, message)
            # RequestSnapshot at a non-leader, offers and responses without a session: ignored
        elif message["term"] < self.term:
            pass  # a stale term: ignored
        else:
            if message["term"] > self.term:
                self.term = message["term"]
                self.leader = message["leader"] if kind == "AppendEntries" else None
                self.online = False
            if kind == "RequestVote":
                effects = self.vote(sender, message)
            elif kind == "AppendEntries":
                result = self.append_entries(sender, message, wall)
                if result is None:
                    return None
                effects = result
        return self.finish(now, wall, before, effects)

    def vote(self, sender: str, rv: dict[str, Any]) -> list[Any]:
        # An observer never grants: it denies a candidate behind it, else abstains.
        vote = "denied" if less(rv["log_position"], self.last()) else "abstained"
        response = {"term": rv["term"], "type": "RequestVoteResponse", "vote": vote}
        return [{"message": response, "to": sender, "type": "Send"}]

    def append_entries(self, sender: str, ae: dict[str, Any], wall: int) -> list[Any] | None:
        self.leader = ae["leader"]
        prev = ae["prev_log_position"]
        if self.term_at(prev["index"]) != prev["term"]:
            return None  # a catch-up session would start here: not implemented
        effects: list[Any] = []
        entries = ae["entries"]
        first = prev["index"] + 1
        existing = self.term_at(first)
        if entries and existing is not None and existing != entries[0]["term"]:
            for index in [i for i in self.entries if i >= first]:
                del self.entries[index]
        self.online = True
        for i, entry in enumerate(entries):
            index = first + i
            if self.term_at(index) != entry["term"]:
                self.entries[index] = (entry["term"], entry["command"])
        if entries:
            response = {
                "last_log_index": self.last()["index"],
                "term": self.term,
                "type": "AppendEntriesResponse",
                "vote": "abstained",
            }
            effects.append({"message": response, "to": sender, "type": "Send"})
        commit = min(ae["leader_commit"], self.last()["index"])
        if self.committed["index"] < commit:
            before = self.committed["index"]
            self.commit_up_to(commit, wall)
            if self.committed["index"] > before:
                self.prune(self.committed["index"] - 1)
        return effects

    def commit_up_to(self, index: int, wall: int) -> None:
        at = self.committed["index"] + 1
        while at <= index and at in self.entries:
            term = self.entries[at][0]
            run = []
            while at <= index and at in self.entries and self.entries[at][0] == term:
                run.append(self.entries[at][1])
                at += 1
            self.apply_run(term, run, wall)

    def apply_run(self, term: int, run: list[Any], wall: int) -> None:
        wanted = []
        for command in run:
            kind = command["type"] if isinstance(command, dict) else None
            if kind == "TakeSnapshot":
                request = command["request"]
                fresh = abs(wall - request["requested_at_ms"]) <= self.config["snapshot_ttl_ms"]
                if request["requested_by"] != self.peer and fresh:
                    wanted.append(request)
            elif kind == "Cell.Write":
                self.value = command["value"]
            elif kind == "Cell.CompareExchange":
                current, new = command["current"], command["new"]
                if (self.value is None and current is None) or (
                    self.value is not None
                    and current is not None
                    and canon(self.value) == canon(current)
                ):
                    self.value = new
            elif kind == "Cell.Clear" and self.bug != "clear":
                self.value = None  # the "clear" bug skips it
        position = cursor(term, self.committed["index"] + len(run))
        for request in wanted:
            self.requests.append((request, position, self.value))
        self.committed = cursor(term, self.committed["index"] + len(run))

    def prune(self, up_to: int) -> None:
        if up_to <= self.base["index"]:
            return
        term = self.term_at(up_to)
        for index in [i for i in self.entries if i <= up_to]:
            del self.entries[index]
        self.base = cursor(term if term is not None else 0, up_to)

    def serve(self, now: int, sender: str, request: dict[str, Any]) -> list[Any]:
        key = canon(request["anchor"])
        held = self.available.get(key)
        if held is None or held[2] <= now:
            return []  # unknown or expired anchor
        start = request["range"]["start"]
        end = min(request["range"]["end"], start + self.config["fetch_batch_size"])
        if end <= start:
            return []  # empty range: no reply, no revive
        anchor, snapshot, _ = held
        self.available[key] = (anchor, snapshot, now + self.config["snapshot_ttl_ms"])
        items = [] if snapshot is None else [snapshot]
        if end > len(items):
            return []  # beyond the snapshot (the revive stands)
        offset = start + 1 if self.bug == "offset" else start
        response = {
            "anchor": request["anchor"],
            "items": items[start:end],
            "offset": offset,
            "type": "FetchDataResponse",
        }
        return [{"message": response, "to": sender, "type": "Send"}]

    def poll(self, ctx: dict[str, Any]) -> Any:
        now, wall, _, before = self.begin(ctx)
        self.event(now, wall, "poll")
        effects: list[Any] = []
        if self.requests:
            for request, position, snapshot in self.requests:
                if request["requested_by"] == self.peer:
                    continue
                if abs(wall - request["requested_at_ms"]) > self.config["snapshot_ttl_ms"]:
                    continue
                key = canon(position)
                deadline = now + self.config["snapshot_ttl_ms"]
                held = self.available.get(key)
                kept = snapshot if held is None else held[1]
                self.available[key] = (position, kept, deadline)
                count = 0 if snapshot is None else 1
                offer = {
                    "info": {"anchor": position, "items_count": count},
                    "type": "SnapshotOffer",
                }
                effects.append({"message": offer, "to": request["requested_by"], "type": "Send"})
            self.requests = []
        else:
            for key in [k for k, (_, _, d) in self.available.items() if d <= now]:
                del self.available[key]
        return self.finish(now, wall, before, effects)

    def bond_terminated(self, ctx: dict[str, Any], peer: str) -> Any:
        now, wall, _, before = self.begin(ctx)
        if peer not in self.bonds:
            self.event(now, wall, "bond_up", peer=peer)
        self.event(now, wall, "bond_down", peer=peer)
        self.bonds.discard(peer)
        return self.finish(now, wall, before, [])


def answer(
    nodes: dict[str, Node], request: dict[str, Any], args: argparse.Namespace
) -> dict[str, Any]:
    op = request.get("op")
    if op == "hello":
        return {
            "result": {
                "implementation": "external-cell-reader",
                "protocol_version": 1,
                "profiles": ["reference"],
                "steps": [],
                "collections": ["cell"],
                "ops": ["hello", *NODE_OPS],
            }
        }
    if op == "node_new":
        if request["collection"] != "cell" or request["writer"]:
            return {"unsupported": "only Cell readers"}
        log = None
        if args.log_dir:
            Path(args.log_dir).mkdir(parents=True, exist_ok=True)
            path = Path(args.log_dir) / f"{request['node']}.events.jsonl"
            log = path.open("w", encoding="utf-8")
        created = nodes[request["node"]] = Node(request, args.bug, log)
        return {"result": {"observation": created.observation()}}
    node = nodes.get(request.get("node", ""))
    if node is None:
        return {"unsupported": f"op {op!r} on an unknown node"}
    if op == "receive":
        result = node.receive(request["ctx"], request["from"], request["message"])
        if result is None:
            return {"unsupported": "an AppendEntries that needs a catch-up session"}
        return {"result": result}
    if op == "poll":
        return {"result": node.poll(request["ctx"])}
    if op == "client_write":
        return {"error": {"kind": "NotLeader", "message": "a reader does not lead"}}
    if op == "bond_terminated":
        return {"result": node.bond_terminated(request["ctx"], request["peer"])}
    if op == "next_deadline":
        return {"result": {"deadline_ms": node.deadline()}}
    if op == "observe":
        return {"result": {"observation": node.observation()}}
    return {"unsupported": f"unknown op {op!r}"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bug", choices=("none", "clear", "offset"), default="none")
    parser.add_argument("--log-dir", default=None)
    args = parser.parse_args()
    nodes: dict[str, Node] = {}
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        body = answer(nodes, request, args)
        sys.stdout.write(canon({"id": request.get("id"), **body}) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
