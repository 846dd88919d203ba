"""The catalogue: deliberate one-line bugs in ``impl/``, each the kind of mistake a porter
of the protocol would plausibly make.

A :class:`Mutant` names one exact piece of text in one file of ``impl/`` and what it
becomes. :mod:`spec.mutants.apply` applies it to a copy of the project (the text must
occur exactly once); :mod:`spec.mutants.runner` runs ``snapsync check`` (and, for the
survivors, the test suite) against that copy.

Families: every step family of the inventory has mutants — ``raft`` (R), ``node`` (S),
``provider`` (P), ``session`` (Q), ``collections`` (the six kinds and their snapshots),
``log`` (the log store and positions).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

__all__ = ["CATALOGUE", "EQUIVALENT", "MUTANT_FAMILIES", "Mutant"]

MUTANT_FAMILIES: tuple[str, ...] = ("raft", "node", "provider", "session", "collections", "log")
"""The step families the catalogue covers (module docstring)."""


@dataclass(frozen=True, slots=True)
class Mutant:
    """One deliberate bug: ``before`` (exact text, once in ``path``) becomes ``after``."""

    id: str
    """Stable name, ``<family>-<what>``."""
    family: str
    """One of :data:`MUTANT_FAMILIES`."""
    steps: str
    """The inventory step ids it breaks (``R7``, ``P3``, ``Q4, Q5``)."""
    path: str
    """The file, relative to the project's root (``impl/raft.py``)."""
    before: str
    after: str
    why: str
    """The mistake, as a porter would make it."""
    equivalent: str = ""
    """Why no run can tell this mutant from the original, when that was shown (then it
    is listed, not run, and not counted in the kill rate); empty for a scored mutant."""


_RAFT = "impl/raft.py"
_NODE = "impl/node.py"
_PROVIDER = "impl/provider.py"
_CONFIG = "impl/config.py"
_SESSION = "impl/session.py"
_LOG = "impl/logstore.py"


def _family(family: str, *mutants: tuple[str, str, str, str, str, str]) -> tuple[Mutant, ...]:
    """Build one family's mutants from ``(short name, steps, path, before, after, why)``."""
    return tuple(
        Mutant(f"{family}-{name}", family, steps, path, before, after, why)
        for name, steps, path, before, after, why in mutants
    )


_RAFT_MUTANTS = _family(
    "raft",
    (
        "quorum-ceil-half",
        "R3",
        _RAFT,
        "    quorum = len(indices) // 2 + 1",
        "    quorum = (len(indices) + 1) // 2",
        "The commit quorum is taken as ceil(n/2) instead of floor(n/2)+1: the same for odd "
        "committees, a single voter for a committee of two.",
    ),
    (
        "election-quorum-ceil-half",
        "R10",
        _RAFT,
        "    return len(role.votes_granted) >= len(role.requested_from) // 2 + 1",
        "    return len(role.votes_granted) >= (len(role.requested_from) + 1) // 2",
        "The election majority is ceil(n/2): with an even number of peers asked, half the "
        "votes elect, so two candidates can win one term.",
    ),
    (
        "commit-two-terms-back",
        "R3, R6",
        _RAFT,
        "    return term is not None and int(term) + 1 >= int(node.term)",
        "    return term is not None and int(term) + 2 >= int(node.term)",
        "Raft's commitment rule (Figure 8) is loosened by one term: an entry two terms old "
        "commits by counting replicas, and can still be overwritten.",
    ),
    (
        "ae-conflict-inverted",
        "R4",
        _RAFT,
        "            if existing is not None and existing != ae.entries[0].term:",
        "            if existing is not None and existing == ae.entries[0].term:",
        "The conflict test is inverted: a matching entry after prev is truncated and a "
        "conflicting suffix is kept, so the new entries land after it.",
    ),
    (
        "ae-prev-term-ignored",
        "R4",
        _RAFT,
        "    if local_term == prev.term:",
        "    if local_term is not None:",
        "The consistency check only asks that an entry exists at prev.index, not that its "
        "term matches: Log Matching is lost.",
    ),
    (
        "ack-prev-index",
        "R5, R3",
        _RAFT,
        "        response = AppendEntriesResponse(term=node.term, last_log_index=log.last().index"
        ", vote=vote)",
        "        response = AppendEntriesResponse(term=node.term, last_log_index=ae.prev_log_posi"
        "tion.index, vote=vote)",
        "The follower acknowledges the AppendEntries' prev index instead of its new last "
        "index: the leader never counts the entries just sent.",
    ),
    (
        "append-start-off-by-one",
        "R5",
        _RAFT,
        "        log = _append_new_entries(log, ae.prev_log_position.index + 1, ae.entries)",
        "        log = _append_new_entries(log, ae.prev_log_position.index, ae.entries)",
        "Entry i is compared with the log at prev+i instead of prev+1+i: the first entry is "
        "dropped as a redelivery when prev has the same term.",
    ),
    (
        "vote-log-index-only",
        "R10",
        _RAFT,
        "    if not can_vote or rv.log_position < local:",
        "    if not can_vote or rv.log_position.index < local.index:",
        "The up-to-date check compares log indices only: a candidate with a longer log of an "
        "older term is not denied.",
    ),
    (
        "vote-twice-in-term",
        "R10",
        _RAFT,
        "        or last_vote[0] < rv.term",
        "        or last_vote[0] <= rv.term",
        "A vote already cast in this term does not bind: a node grants a second candidate of "
        "the same term (Election Safety).",
    ),
    (
        "abstain-keeps-denominator",
        "R10",
        _RAFT,
        "        role = evolve(role, requested_from=role.requested_from - {sender})",
        "        role = evolve(role, requested_from=role.requested_from)",
        "An abstention is tallied like a denial: abstaining readers still count in the "
        "majority a candidate needs.",
    ),
    (
        "candidate-no-self-vote",
        "R10",
        _RAFT,
        "    node = evolve(node, term=term, role=role, last_vote=(term, node.id), online=False)",
        "    node = evolve(node, term=term, role=role, last_vote=node.last_vote, online=False)",
        "A candidate counts its own vote but does not record it, so it can still grant "
        "another candidate of its term.",
    ),
    (
        "committee-from-asked",
        "R3, R10",
        _RAFT,
        "    committee = new_committee(role.votes_granted, node.log.last().index)",
        "    committee = new_committee(role.requested_from, node.log.last().index)",
        "The new leader's committee is every peer it asked, each at the leader's last index, "
        "not the peers that granted (and so hold its log).",
    ),
    (
        "leader-not-alive",
        "R3",
        _RAFT,
        "    committee = committee_remove_dead(role.committee, ctx.bonds | {node.id})",
        "    committee = committee_remove_dead(role.committee, ctx.bonds)",
        "The dead-voter sweep uses the bonds alone and so removes the leader from its own "
        "committee.",
    ),
    (
        "prune-last-committed",
        "R7, P6",
        _RAFT,
        "    up_to = min(safe_to_prune_prefix(node.committed), node.committed.index - 1)",
        "    up_to = safe_to_prune_prefix(node.committed)",
        "The prune keeps nothing: the last committed entry is pruned too (R7 keeps it).",
    ),
    (
        "leader-self-ack-prev",
        "R1, R3",
        _RAFT,
        "    node, vote_effects = leader_record_vote(node, ctx, node.id, Index(prev.index + len("
        "entries)))",
        "    node, vote_effects = leader_record_vote(node, ctx, node.id, Index(prev.index))",
        "The leader records its own acknowledgement at the batch's prev index, not at its "
        "last entry: a batch commits only with the next one.",
    ),
    (
        "commit-cursor-node-term",
        "R6",
        _RAFT,
        "        committed = Cursor(Term(term), Index(committed.index + len(run)))",
        "        committed = Cursor(node.term, Index(committed.index + len(run)))",
        "The committed cursor takes the node's current term instead of the applied run's term.",
    ),
    (
        "apply-context-node-term",
        "R6, S1",
        _RAFT,
        "            current_term=Term(term),",
        "            current_term=node.term,",
        "apply_batch sees the node's current term instead of the run's, so a snapshot "
        "position of an older-term entry carries the wrong term (H20).",
    ),
    (
        "ae-no-timer-reset",
        "R4",
        _RAFT,
        "    role = evolve(role, leader=ae.leader, election_deadline_ms=deadline)",
        "    role = evolve(role, leader=ae.leader)",
        "An AppendEntries updates the leader but does not push the election deadline back: "
        "followers of a live leader stand for election.",
    ),
)

_NODE_MUTANTS = _family(
    "node",
    (
        "next-deadline-max",
        "§0.2",
        _NODE,
        "    return min(deadlines) if deadlines else None",
        "    return max(deadlines) if deadlines else None",
        "The node's wake-up is the latest of its deadlines instead of the earliest.",
    ),
    (
        "leader-wakes-at-heartbeat",
        "R1, R8",
        _RAFT,
        "    return 0 if role.client_commands else role.heartbeat_deadline_ms",
        "    return role.heartbeat_deadline_ms",
        "A leader with queued commands is not polled at once: writes wait for the heartbeat.",
    ),
    (
        "catchup-election-deadline",
        "R9, Q5",
        _RAFT,
        "            return _session.next_deadline(role.catchup)",
        "            return role.election_deadline_ms",
        "During catch-up the node wakes at its election deadline, ignoring the session's own "
        "timers (retry, fetch timeouts, completion).",
    ),
    (
        "unbonded-sender-accepted",
        "§0.3",
        _RAFT,
        "    if sender == node.id or sender not in ctx.bonds:",
        "    if sender == node.id:",
        "The dispatch drops its own messages but accepts messages from peers without a bond.",
    ),
    (
        "feed-command-dropped",
        "P1, P2, R8",
        _RAFT,
        "        node = _apply_internal(with_provider(node, provider), ctx, effects)",
        "        node = with_provider(node, provider)",
        "The provider's FeedCommand is returned but never applied: RequestSnapshot never "
        "becomes a TakeSnapshot entry.",
    ),
    (
        "install-keeps-committed",
        "Q12, R9",
        _RAFT,
        "            node = evolve(node, committed=effect.cursor)",
        "            node = evolve(node, committed=node.committed)",
        "The finalize's SetCommitted is not applied: after the install the committed index "
        "stays below the reset log.",
    ),
    (
        "election-during-catchup",
        "R9",
        _RAFT,
        "    if pending:\n        return node, effects\n",
        '    if pending and ctx.now_ms < _follower_role(node, "R9").election_deadline_ms:\n'
        "        return node, effects\n",
        "Elections are not suppressed during catch-up: a lagging follower whose leader went "
        "quiet stands for election and drops its session.",
    ),
)

_PROVIDER_MUTANTS = _family(
    "provider",
    (
        "offer-to-self",
        "P3",
        _PROVIDER,
        "        effects.append(Send(request.requested_by, SnapshotOffer(info)))",
        "        effects.append(Send(pctx.local_id, SnapshotOffer(info)))",
        "The offer is addressed to the provider's own node instead of the requester.",
    ),
    (
        "offer-no-revive",
        "P3",
        _PROVIDER,
        "            available = available.set(pending.position, evolve(existing, deadline_ms=dead"
        "line))",
        "            available = available.set(pending.position, evolve(existing, deadline_ms=exis"
        "ting.deadline_ms))",
        "A snapshot already on offer at the position is offered again without reviving its "
        "TTL, so it can expire under the new requester.",
    ),
    (
        "offer-count-off-by-one",
        "P3",
        _PROVIDER,
        "        info = SnapshotInfo(anchor=pending.position, items_count=len(pending.snapshot))",
        "        info = SnapshotInfo(anchor=pending.position, items_count=len(pending.snapshot) - "
        "1)",
        "The offer announces the last item's offset instead of the item count.",
    ),
    (
        "fetch-clamp-absolute",
        "P4",
        _PROVIDER,
        "    end = min(request.range.end, start + pctx.config.fetch_batch_size)",
        "    end = min(request.range.end, pctx.config.fetch_batch_size)",
        "The batch clamp treats fetch_batch_size as an end offset instead of a length: "
        "chunks past the first batch come back empty.",
    ),
    (
        "fetch-offset-end",
        "P4",
        _PROVIDER,
        "    response = FetchDataResponse(anchor=request.anchor, offset=start, items=tuple(items))",
        "    response = FetchDataResponse(anchor=request.anchor, offset=end, items=tuple(items))",
        "The response's offset is the end of the served range instead of its start.",
    ),
    (
        "fetch-serves-at-deadline",
        "P4, P5",
        _PROVIDER,
        "    if entry.deadline_ms <= pctx.now_ms and not pctx.profile.has(Hazard.H7):",
        "    if entry.deadline_ms < pctx.now_ms and not pctx.profile.has(Hazard.H7):",
        "A snapshot is still served (and revived) at the very tick its TTL runs out.",
    ),
    (
        "fetch-empty-range-served",
        "P4",
        _PROVIDER,
        "    if end <= start:",
        "    if end < start:",
        "An empty range is served with an empty response and revives the TTL.",
    ),
    (
        "fetch-no-revive",
        "P4",
        _PROVIDER,
        "    deadline = pctx.now_ms + pctx.config.snapshot_ttl_ms",
        "    deadline = entry.deadline_ms",
        "Serving a chunk does not revive the snapshot's TTL: a long download outlives it.",
    ),
    (
        "prune-after-deadline",
        "P5",
        _PROVIDER,
        "    expired = sorted(c for c, a in p.available.items() if a.deadline_ms <= now_ms)",
        "    expired = sorted(c for c, a in p.available.items() if a.deadline_ms < now_ms)",
        "A snapshot is pruned only after its deadline, not at it, while the provider asks "
        "to be woken at the deadline.",
    ),
    (
        "request-stamped-self",
        "P1, P2",
        _PROVIDER,
        "        request = SnapshotRequest(requested_by=sender, requested_at_ms=pctx.now_wall_ms)",
        "        request = SnapshotRequest(requested_by=pctx.local_id, requested_at_ms=pctx.now_"
        "wall_ms)",
        "The leader stamps the snapshot request with its own id instead of the requester's.",
    ),
    (
        "enqueue-overwrites",
        "S1, P3",
        _PROVIDER,
        "    return evolve(p, requests=p.requests + added)",
        "    return evolve(p, requests=added)",
        "Requests from a second committed run replace those still undrained from the first.",
    ),
    (
        "request-expiry-inclusive",
        "P3, S1",
        _CONFIG,
        "        return abs(now_wall_ms - request.requested_at_ms) > self.snapshot_ttl_ms",
        "        return abs(now_wall_ms - request.requested_at_ms) >= self.snapshot_ttl_ms",
        "A request exactly snapshot_ttl old counts as expired (mosaik: only older ones).",
    ),
)

_SESSION_MUTANTS = _family(
    "session",
    (
        "buffer-index-off-by-one",
        "Q0",
        _SESSION,
        "    first = position.index + 1",
        "    first = position.index",
        "The entries of the triggering AppendEntries are buffered from prev.index instead of "
        "prev.index + 1.",
    ),
    (
        "anchor-rule-inverted",
        "Q2, Q3",
        _SESSION,
        "    if earliest is not None and cursor.index < earliest:",
        "    if earliest is not None and cursor.index > earliest:",
        "The anchor rule is read backwards: anchors past the earliest buffered entry are "
        "refused and anchors below it (leaving a hole) are taken.",
    ),
    (
        "upgrade-keeps-accumulated",
        "Q3",
        _SESSION,
        "            s = _cleared_progress(s, ctx)",
        "            s = replace(s, inflight=pmap(), fetched=pmap())",
        "An anchor upgrade clears the requests and chunks but keeps the items already "
        "accumulated from the old anchor.",
    ),
    (
        "upgrade-same-index",
        "Q3",
        _SESSION,
        "        if cursor.index <= current.index:",
        "        if cursor.index < current.index:",
        "An upgrade also takes a candidate at the current anchor's index (itself included), "
        "discarding all progress at every poll.",
    ),
    (
        "upgrade-keeps-old-peers",
        "Q3",
        _SESSION,
        "                available_peers=peers,",
        "                available_peers=s.available_peers | peers,",
        "After an upgrade the peers of the old anchor stay available and are asked for a "
        "snapshot they do not hold.",
    ),
    (
        "late-offer-not-available",
        "Q1",
        _SESSION,
        "        s = replace(s, available_peers=s.available_peers | {peer})",
        "        s = replace(s, available_peers=s.available_peers)",
        "A peer that offers the already-selected anchor is recorded as a candidate but never "
        "becomes available to fetch from.",
    ),
    (
        "chunk-end-off-by-one",
        "Q4, Q8",
        _SESSION,
        "    end = resp.offset + len(resp.items)",
        "    end = resp.offset + len(resp.items) - 1",
        "A stored chunk's end is its last item's offset instead of one past it.",
    ),
    (
        "response-keeps-inflight",
        "Q4",
        _SESSION,
        "        inflight=s.inflight.discard(peer),",
        "        inflight=s.inflight,",
        "An answered request stays in flight, so its peer is never idle again until the "
        "fetch timeout removes it.",
    ),
    (
        "fetch-timeout-after-deadline",
        "Q9",
        _SESSION,
        "    expired = [p for p, pending in s.inflight.items() if pending.deadline_ms <= now_ms]",
        "    expired = [p for p, pending in s.inflight.items() if pending.deadline_ms < now_ms]",
        "A fetch expires only after its deadline, not at it, while the session asks to be "
        "woken at the deadline.",
    ),
    (
        "timeout-keeps-peer",
        "Q9",
        _SESSION,
        "    return replace(s, inflight=inflight, available_peers=s.available_peers - frozenset"
        "(expired))",
        "    return replace(s, inflight=inflight)",
        "A timed-out peer is freed but stays available, so an unreachable peer is asked "
        "again and again.",
    ),
    (
        "retry-silent",
        "Q7",
        _SESSION,
        '    msgs = _send_request(s, ctx, "Q7")',
        "    msgs: list[Effect] = []",
        "The retry timer is re-armed but the RequestSnapshot is not sent again.",
    ),
    (
        "busy-peer-scheduled",
        "Q11",
        _SESSION,
        "    idle = idle_peer_order((p for p in s.available_peers if p not in s.inflight), s.le"
        "ader)",
        "    idle = idle_peer_order(s.available_peers, s.leader)",
        "Peers with a request in flight are scheduled again, replacing their pending request.",
    ),
    (
        "kept-includes-anchor",
        "Q12",
        _SESSION,
        "    return [entry for entry in s.buffered if entry[0] > anchor]",
        "    return [entry for entry in s.buffered if entry[0] >= anchor]",
        "Finalize keeps the buffered entry at the anchor's index, which the snapshot "
        "already contains.",
    ),
    (
        "ready-cursor-swapped",
        "Q12, R9",
        _SESSION,
        "    ready = Cursor(kept[-1][1], kept[-1][0]) if kept else anchor",
        "    ready = Cursor(kept[-1][0], kept[-1][1]) if kept else anchor",
        "The ready cursor is built with index and term swapped.",
    ),
    (
        "merge-truncate-off-by-one",
        "Q13",
        _SESSION,
        "            buffered = buffered[: index - first]  # term conflict: truncate here",
        "            buffered = buffered[: index - first + 1]  # term conflict: truncate here",
        "A term conflict in the buffer truncates after the conflicting entry instead of at it.",
    ),
    (
        "contiguous-buffer-as-gap",
        "Q13",
        _SESSION,
        "        if position.index <= s.buffered[-1][0]:",
        "        if position.index < s.buffered[-1][0]:",
        "An AppendEntries that continues the buffer exactly is taken for one after a gap: "
        "the buffer restarts and older anchors are dropped.",
    ),
    (
        "fetch-deadline-relative",
        "Q11a, Q9",
        _SESSION,
        "    pending = PendingFetch(chunk, now + ctx.config.fetch_timeout_ms)",
        "    pending = PendingFetch(chunk, ctx.config.fetch_timeout_ms)",
        "The fetch deadline is the timeout itself (a duration) instead of now + timeout.",
    ),
)

_COLLECTIONS_MUTANTS = _family(
    "collections",
    (
        "position-off-by-one",
        "S1",
        "impl/collections/apply.py",
        "    position = Cursor(ctx.current_term, Index(ctx.committed.index + count))",
        "    position = Cursor(ctx.current_term, Index(ctx.committed.index + count - 1))",
        "The snapshot position is one before the end of the batch the snapshot reflects.",
    ),
    (
        "marker-not-counted",
        "S1",
        "impl/collections/apply.py",
        "            count += 1\n            continue",
        "            continue",
        "A TakeSnapshot marker is not counted, so positions after it lag the log (as H4 "
        "does for one DEPQ command).",
    ),
    (
        "vec-insert-at-end-ignored",
        "S1",
        "impl/collections/vec.py",
        "            if command.index > size:",
        "            if command.index >= size:",
        "Vec insert at index len (an append) is refused as out of range.",
    ),
    (
        "vec-last-chunk-out-of-bounds",
        "S3, P4",
        "impl/collections/vec.py",
        "        if r.end > len(self.elements):",
        "        if r.end >= len(self.elements):",
        "A Vec snapshot refuses a range that ends exactly at its length: the last chunk is "
        "never served.",
    ),
    (
        "map-cas-writes-expected",
        "S1",
        "impl/collections/map.py",
        "                entries = entries.set(key_bytes, (command.key, command.new))",
        "                entries = entries.set(key_bytes, (command.key, command.expected))",
        "A successful Map compare-exchange stores the expected value instead of the new one.",
    ),
    (
        "depq-cap-off-by-one",
        "S1",
        "impl/collections/depq.py",
        "    while len(by_key) > cap:",
        "    while len(by_key) >= cap:",
        "A bounded DEPQ evicts down to cap - 1 entries.",
    ),
    (
        "depq-update-stale-priority",
        "S1",
        "impl/collections/depq.py",
        "        by_priority = by_priority.remove((priority_key(old[0]), key_bytes))",
        "        by_priority = by_priority.remove((priority_key(priority), key_bytes))",
        "Re-inserting a key removes its entry under the new priority instead of the old one.",
    ),
    (
        "depq-range-start-bound-swapped",
        "S1",
        "impl/collections/depq.py",
        "        probe = (pk,) if start.kind is BoundKind.INCLUDED else (pk, TOP)",
        "        probe = (pk, TOP) if start.kind is BoundKind.INCLUDED else (pk,)",
        "A DEPQ range's start bound treats Included as Excluded and the other way round.",
    ),
    (
        "encode-str-no-length",
        "S3",
        "impl/collections/encoding.py",
        "        return encode_u64(len(raw)) + raw",
        "        return raw",
        "A string key is encoded without its length prefix (not postcard).",
    ),
    (
        "pseq-slice-stop-as-length",
        "S3, P4",
        "impl/collections/pseq.py",
        "                taken = leaf[rest : rest + want]",
        "                taken = leaf[rest:want]",
        "A rank slice starting inside a leaf uses the wanted count as the stop index.",
    ),
)

_LOG_MUTANTS = _family(
    "log",
    (
        "term-at-offset-off-by-one",
        "R4, §1.5",
        _LOG,
        "        if i == self.offset:",
        "        if i == self.offset + 1:",
        "term_at answers the pruned cursor's term one index too high, and nothing at the "
        "offset itself.",
    ),
    (
        "get-range-includes-offset",
        "R6, §1.5",
        _LOG,
        '        s = max(_index(start, "start"), self.offset + 1)',
        '        s = max(_index(start, "start"), self.offset)',
        "get_range clamps to the offset instead of offset + 1, reaching below the stored entries.",
    ),
    (
        "truncate-keeps-at",
        "R4, §1.5",
        _LOG,
        "        keep = a - self.offset - 1",
        "        keep = a - self.offset",
        "truncate(at) keeps the entry at index at.",
    ),
    (
        "prune-cursor-off-by-one",
        "R7, §1.5",
        _LOG,
        "            self.entries[n:], new_offset, Cursor(last_drained.term, Index(new_offset))",
        "            self.entries[n:], new_offset, Cursor(last_drained.term, Index(new_offset - 1"
        "))",
        "The last pruned cursor records the index before the last drained entry.",
    ),
    (
        "last-ignores-offset",
        "R1, R4, §1.5",
        _LOG,
        "            return Cursor(last.term, self.end())",
        "            return Cursor(last.term, Index(len(self.entries)))",
        "last() counts the stored entries and forgets the pruned offset.",
    ),
)

EQUIVALENT: dict[str, str] = {
    "node-election-during-catchup": "R9 is guarded twice on its one path: a pending "
    "session makes follower_poll return, and follower_election_timeout itself does nothing "
    "while a session exists (role.catchup is not None). Pending implies a session, so "
    "loosening the first guard reaches the second, which holds. mosaik has the first "
    "guard only (follower.rs:181-213); model_tests/test_mutants_catalogue.py shows the "
    "second one holding at any time.",
    "node-unbonded-sender-accepted": "The dispatch's guard drops messages from a peer not in "
    "the receiver's bond table, and no delivery ever reaches it: the model, as mosaik "
    "(inventory §0.3-0.4), delivers only over a bond in the receiver's table, and after a "
    "break the sender stays there until the messages the receiver had taken are processed "
    "(mosaik queues the bond's Terminated event behind them; World.draining). "
    "model_tests/test_raft_liveness.py shows such a message handled, not dropped; "
    "docs/model.md §4.",
}
"""The mutants shown equivalent to the original, and why (:attr:`Mutant.equivalent`)."""

CATALOGUE: tuple[Mutant, ...] = tuple(
    replace(m, equivalent=EQUIVALENT.get(m.id, ""))
    for m in _RAFT_MUTANTS
    + _NODE_MUTANTS
    + _PROVIDER_MUTANTS
    + _SESSION_MUTANTS
    + _COLLECTIONS_MUTANTS
    + _LOG_MUTANTS
)
"""Every mutant, by family."""
