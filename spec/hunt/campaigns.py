"""Campaigns: swarm configurations of the stateful machines, each aimed at some deep states.

Swarm testing: instead of every run mixing every rule with equal odds, each
campaign enables a subset of the rules (and of the model's faults) and draws its
group from a narrower family, so that the states it is built for are reached
often (Groce et al., "Swarm testing", ISSTA 2012). Hypothesis adds its own
swarm layer on top: within one example it switches random subsets of the
enabled rules off (``FeatureFlags``).

Every campaign runs under every profile; ``aims`` only documents (and orders,
when ``snapsync hunt --hazard`` names a hazard) what each one is built to reach.
The reference must pass all of them.

A lesson from H30 (docs/hunt.md §7): an event that must come *last* in a run — a
leader change with no write after it — is reached by a broad campaign only by luck
(``churn`` needed about 300 fine walks); a targeted campaign with a prelude that
sets the stage (``leader-change``) reaches it in a fraction of a second.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from impl.errors import InvalidInput
from impl.profile import Behaviour, Hazard
from spec.hunt.client_commands import KINDS
from spec.hunt.consequences import Consequence
from spec.model.faults import Fault

__all__ = [
    "BASE_RULES",
    "CAMPAIGNS",
    "FAMILIES",
    "LIMITATION_CAMPAIGNS",
    "SLOW_LINKS",
    "TARGETED",
    "Campaign",
    "consequence_campaign",
    "get_campaign",
    "order_for",
]

BASE_RULES: frozenset[str] = frozenset(
    {
        "client_write",
        "node_poll",
        "advance_time",
        "deliver_message",
        "join_late",
        "settle",
        "settle_until",
        "drain_to_quiescence",
    }
)
"""Rules every group campaign enables."""


@dataclass(frozen=True, slots=True)
class Campaign:
    """One swarm configuration (module docstring)."""

    name: str
    description: str
    kinds: tuple[str, ...] = KINDS
    """Collection kinds to draw from."""
    items: tuple[int, int] = (0, 8)
    """Range of entries written before anyone lags."""
    batches: tuple[int, ...] = (1, 2, 3)
    """``fetch_batch_size`` values to draw from (small: many chunks)."""
    writers: tuple[int, ...] = (1,)
    readers: tuple[int, ...] = (1, 2)
    lagging: tuple[int, ...] = (1, 2)
    joint_election: bool = False
    """Writers join before the first election (all of them voters: see GroupShape)."""
    rules: frozenset[str] = BASE_RULES
    """Enabled rules (group machine rule names)."""
    faults: frozenset[Fault] = frozenset()
    """Enabled adversarial faults (the model's switches)."""
    steps: int = 25
    """Rule steps per example (Hypothesis ``stateful_step_count``)."""
    aims: tuple[str, ...] = ()
    """Hazards and situations this campaign is built to reach."""
    family: str = "sync"
    """Which part of the protocol the campaign exercises (:data:`FAMILIES`): ``snapsync
    check`` gives each family its share of the hunt's budget and reports which it covered."""
    differential: str = ""
    """Run a differential machine (impl steps against a naive model) instead of a group:
    the name of one in :data:`spec.hunt.differential.DIFFERENTIAL_MACHINES` (``""``: a
    group campaign)."""
    prelude: tuple[str, ...] = ()
    """Driver steps run right after the group is formed, as part of ``setup_group``:
    ``until:<state>[:<slow node>]`` (settle until a deep state of
    :data:`spec.hunt.driver.UNTIL`, optionally with a slow provider),
    ``drain`` (settle to quiescence), ``write`` (one client write at the leader and
    the leader's poll that publishes it), ``restart:<node>`` (``restart_empty``),
    ``deliver:<src>:<dst>`` (deliver the head message from ``src`` to ``dst``, if any:
    after ``write``, the new entry reaches that one follower only), ``leave:<node>``
    (``leave:leader``: the current leader), ``rejoin:<node>`` (a node that left joins
    again, empty), ``hold:<node>`` and ``hold:<src>:<dst>`` (a slow node or one slow
    direction: :meth:`spec.hunt.driver.Driver.hold`), ``release[:<node>]`` (its slow
    links, or all), ``elect:<node>`` (its election timer fires now; fair delivery at this
    instant, slow links held, until it leads), ``settle:<ms>`` (fair delivery for a
    window). A targeted campaign starts its random rules from a deep state instead of
    hoping to reach it."""
    writer_restarts: bool = False
    """Allow writers to restart empty: reaches H16 (a documented limitation)."""
    walk_rules: int = 0
    """A swarm walk runs at most this many rules (0: as its mode says, up to 1,500 for a
    fine walk): for a campaign whose prelude builds a state that the first few rules
    decide (the rest of a long walk only repeats a settled group), short walks mean
    many more decisive starts per second."""
    leader_leaves_ahead: bool = False
    """Let the leader leave while its tail is on no other writer (a crash with entries
    nobody else holds), as long as another writer is up, online and not catching up;
    otherwise the leader leaves only with another writer in sync (machine docstring)."""
    extra: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    """Free-form notes shown by ``snapsync hunt --list``."""
    consequence: Consequence | None = None
    """Hunt for this consequence instead of a broken check (:mod:`spec.hunt.consequences`):
    no per-step check fails the run; at its end the group is held to the horizon and
    the consequence judged. Set by :func:`consequence_campaign`, never in the tables."""

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise InvalidInput(f"campaign {self.name!r}: unknown family {self.family!r}")


FAMILIES: tuple[str, ...] = ("sync", "provider", "raft", "steps")
"""Campaign families: ``sync`` (a catch-up session: fetches, timeouts, buffers, faults),
``provider`` (offers, snapshots and their TTLs over a provider's lifetime), ``raft``
(elections, commitment and log repair in groups whose logs diverge), ``steps`` (single
impl steps against naive models: every collection command, positions, chunks — no group,
so thousands of commands per second reach the corners a group run seldom does)."""

SLOW_LINKS: frozenset[str] = frozenset({"slow_node", "slow_link", "release"})
"""The slow-link rules (:meth:`spec.hunt.driver.Driver.hold`): delays longer than an
election timeout on bonds that stay up."""

TARGETED: frozenset[str] = frozenset()
"""Rules every targeted campaign enables besides its own (none: the liveness drain runs at
the end of every example anyway, and a prelude already reached the deep state)."""

CAMPAIGNS: tuple[Campaign, ...] = (
    Campaign(
        name="positions",
        description="client writes join a pending TakeSnapshot's batch; snapshots of every kind",
        kinds=("depq", "depq", "vec"),
        items=(1, 4),
        readers=(1,),
        lagging=(1,),
        rules=TARGETED | {"client_write", "settle"},
        prelude=("until:snapshot_requested",),
        steps=6,
        aims=("H4", "H23", "H28", "write_during_sync"),
    ),
    Campaign(
        name="late-responses",
        description="a fetch times out, its response arrives late while the chunk is re-asked",
        kinds=("map", "set"),
        items=(2, 4),
        batches=(1, 2),
        readers=(2, 3),
        lagging=(1,),
        rules=TARGETED | {"advance_time", "deliver_message", "node_poll", "settle"},
        prelude=("until:parallel_fetch:w0",),
        steps=8,
        aims=("H1", "fetch_timeout", "late_response_after_timeout"),
    ),
    Campaign(
        name="broken-bond-responses",
        description="a provider's bond breaks after its response was received; the chunk is "
        "re-asked before that response is processed (no fetch timeout)",
        kinds=("map", "set"),
        items=(2, 4),
        batches=(1, 2),
        readers=(2, 3),
        lagging=(1,),
        # No advance_time or settle: time stands still, so no fetch can time out.
        rules=TARGETED | {"break_bond", "deliver_message", "node_poll"},
        prelude=("until:parallel_fetch:w0",),
        steps=8,
        aims=("H1", "deliver_after_break"),
    ),
    # Divergent logs from delays alone (docs/hunt.md §10): a slow node's messages stay
    # queued on bonds that stay up while the others elect and write (Driver.hold), so
    # no run is partitioned and every Raft failure is a violation. Each prelude builds a
    # divergent-log state; the random rules (slow links included) take it from there.
    Campaign(
        name="figure-8-delays",
        family="raft",
        description="five writers, Raft's Figure 8 by slow links: w0's term-1 entry on w0, "
        "w1; w2 leads term 2 and writes a conflicting entry nobody gets; w0 leads term 3 "
        "(its link to w2 slow) holding a two-terms-old tail; w2, now a follower that "
        "has not heard from w0, may stand again",
        kinds=("map",),
        items=(1, 2),
        writers=(5,),
        readers=(0,),
        lagging=(0,),
        joint_election=True,
        rules=TARGETED
        | SLOW_LINKS
        | {
            "start_election",
            "deliver_message",
            "node_poll",
            "client_write",
            "advance_time",
            "settle",
        },
        prelude=(
            "write",
            "deliver:w0:w1",
            "hold:w0",
            "hold:w1",
            "elect:w2",
            "deliver:w2:w0",
            "deliver:w2:w1",
            "write",
            "release:w0",
            "release:w1",
            "hold:w2",
            "elect:w0",
            # w0's old entry and its denial of w2 are stale there; its RequestVote makes
            # w2 a follower of term 3 that has not heard from w0 as leader.
            "deliver:w0:w2",
            "deliver:w0:w2",
            "deliver:w0:w2",
            "release:w2",
            "hold:w0:w2",
        ),
        steps=8,
        walk_rules=40,
        aims=("figure_8", "commit_rule", "conflicting_suffix", "stale_leader"),
    ),
    Campaign(
        name="stale-candidate",
        family="raft",
        description="three writers; the leader's entry stays on it (slow node) while the "
        "others elect and commit a conflicting entry of the next term; the old leader, "
        "its log as long but of an older term, stands or is repaired",
        kinds=("map", "vec"),
        items=(1, 3),
        writers=(3,),
        readers=(0, 1),
        lagging=(0,),
        joint_election=True,
        rules=TARGETED
        | SLOW_LINKS
        | {"start_election", "deliver_message", "node_poll", "client_write", "settle"},
        prelude=(
            "write",
            "hold:w0",
            "elect:w1",
            "deliver:w1:w0",
            "write",
            "settle:0",
            "release:w0",
        ),
        steps=6,
        walk_rules=40,
        aims=("vote_up_to_date", "conflicting_suffix", "log_repair"),
    ),
    Campaign(
        name="two-writers",
        family="raft",
        description="a committee of two writers (and readers): the leader writes, its "
        "links slow down, and it leaves with entries only it holds; the other takes over",
        kinds=("map", "vec"),
        items=(1, 3),
        writers=(2,),
        readers=(0, 1),
        lagging=(0, 1),
        joint_election=True,
        rules=TARGETED
        | SLOW_LINKS
        | {"leave", "client_write", "deliver_message", "node_poll", "settle", "start_election"},
        prelude=("write", "hold:w0"),
        steps=6,
        leader_leaves_ahead=True,
        walk_rules=40,
        aims=("commit_quorum", "leader_leaves_ahead", "leader_change"),
    ),
    Campaign(
        name="reader-voters",
        family="raft",
        description="one writer and readers elected together (readers vote in 0.3.13); a "
        "reader's bond flaps and it misses an AppendEntries",
        kinds=("map",),
        items=(1, 3),
        readers=(1,),
        lagging=(0,),
        joint_election=True,
        rules=TARGETED | {"break_bond", "restore_bond", "client_write", "settle", "node_poll"},
        prelude=("write",),
        steps=6,
        aims=("H16", "readers-vote"),
    ),
    Campaign(
        name="stale-majority",
        family="raft",
        description="two writers and a reader elected together; slow heartbeats, elections "
        "and writes, no partition (readers vote in 0.3.13)",
        kinds=("map",),
        items=(1, 2),
        writers=(2,),
        readers=(1,),
        lagging=(0,),
        joint_election=True,
        rules=TARGETED | {"client_write", "settle", "deliver_message", "node_poll", "advance_time"},
        steps=8,
        aims=("readers-vote", "H29"),
    ),
    Campaign(
        name="leader-change",
        family="raft",
        description="the leader leaves right after publishing; a writer that holds its tail "
        "takes over",
        kinds=("map", "vec"),
        items=(1, 3),
        writers=(2,),
        readers=(0, 1),
        lagging=(0, 1),
        rules=TARGETED | {"deliver_message", "leave", "settle", "client_write"},
        prelude=("write",),
        steps=5,
        aims=("H30", "leader_change"),
    ),
    # Divergent logs without a partition (every bond stays up: mosaik's quorum is then
    # Raft's majority, and a Raft failure is a violation, not H29). Messages are delayed,
    # not lost: a rule picks which queued message is delivered next; elections start at
    # any instant (``start_election``), so candidates compete and votes split.
    Campaign(
        name="leader-churn",
        family="raft",
        description="three writers; the leader leaves with uncommitted entries, elections "
        "compete, writers re-join empty, a lagging reader catches up across the term changes",
        kinds=("map", "vec"),
        items=(2, 4),
        writers=(3,),
        readers=(0, 1),
        lagging=(1,),
        joint_election=True,
        rules=TARGETED
        | {
            "start_election",
            "deliver_message",
            "node_poll",
            "client_write",
            "leave",
            "join_late",
            "settle",
        },
        prelude=("until:session", "write"),
        steps=14,
        aims=("leader_change_during_catchup", "log_repair", "election"),
    ),
    Campaign(
        name="competing-elections",
        family="raft",
        description="three writers; the leader's last entry reached one follower; elections "
        "start at any instant while AppendEntries and votes are delayed",
        kinds=("map", "vec"),
        items=(1, 3),
        writers=(3,),
        readers=(0, 1),
        lagging=(0,),
        joint_election=True,
        rules=TARGETED
        | {"start_election", "deliver_message", "node_poll", "client_write", "advance_time"},
        prelude=("write", "deliver:w0:w1"),
        steps=14,
        # Not H31: two quorums of one term need five writers (figure-8).
        aims=("election", "split_vote", "log_repair"),
    ),
    Campaign(
        name="figure-8",
        family="raft",
        description="five writers; entries of several terms on minorities, overwritten by "
        "later leaders (Raft's Figure 7 and 8 shapes)",
        kinds=("map",),
        items=(1, 2),
        writers=(5,),
        readers=(0,),
        lagging=(0,),
        joint_election=True,
        rules=TARGETED | {"start_election", "deliver_message", "node_poll", "client_write"},
        prelude=("write", "deliver:w0:w1"),
        steps=16,
        aims=("H31", "H30", "H30-tail", "log_repair", "conflicting_suffix"),
    ),
    # R9: a writer catching up by snapshot while its leader goes quiet (leaves). The
    # writer must not stand (elections are suppressed during catch-up); another writer,
    # in sync, takes over. The lagging writer
    # is a leader that left and re-joined empty: its bonds broke, so no committee keeps
    # its old acknowledgements (a writer restarting with its bonds up is H16's limitation).
    Campaign(
        name="quiet-leader",
        family="raft",
        description="three writers; the leader leaves and re-joins empty, and catches up by "
        "snapshot while the new leader leaves",
        kinds=("map", "vec"),
        items=(2, 4),
        writers=(3,),
        readers=(0, 1),
        lagging=(0,),
        joint_election=True,
        rules=TARGETED | {"leave", "node_poll", "settle", "client_write"},
        prelude=("write", "leave:leader", "drain", "rejoin:w0", "until:session"),
        steps=10,
        aims=("election_during_catchup", "leader_change_during_catchup"),
    ),
    Campaign(
        name="lost-sources",
        description="every provider of the anchor times out or expires mid-fetch",
        kinds=("map", "vec"),
        items=(3, 6),
        batches=(1,),
        readers=(1, 2),
        lagging=(1,),
        rules=TARGETED | {"advance_time", "settle", "deliver_message"},
        prelude=("until:fetching",),
        steps=6,
        aims=("H6", "H7", "source_lost", "ttl_expiry_mid_fetch"),
    ),
    Campaign(
        name="buffer-gaps",
        description="AppendEntries lost to a bond break during catch-up while clients write",
        kinds=("map", "vec"),
        items=(1, 4),
        readers=(1,),
        lagging=(1,),
        rules=TARGETED | {"client_write", "break_bond", "restore_bond", "settle", "node_poll"},
        prelude=("until:snapshot_buffered", "write"),
        steps=8,
        aims=("H3", "buffer_gap", "bond_break_during_catchup"),
    ),
    Campaign(
        name="stale-offers",
        description="a reader restarts and an offer from its earlier session arrives (replayed)",
        kinds=("map", "set"),
        items=(1, 4),
        readers=(1,),
        lagging=(1,),
        rules=TARGETED | {"settle", "forge_message", "deliver_message", "node_poll"},
        faults=frozenset({Fault.FORGE}),
        prelude=("drain", "write", "drain", "restart:r8", "until:session"),
        steps=6,
        aims=("H9", "stale_offer"),
    ),
    Campaign(
        name="bad-responses",
        description="a provider answers short, long or shifted while other chunks are in flight",
        kinds=("map", "vec"),
        items=(4, 8),
        batches=(2, 3),
        readers=(2, 3),
        lagging=(1,),
        rules=TARGETED | {"corrupt_response", "deliver_message", "node_poll", "settle"},
        faults=frozenset({Fault.SHORT_RESPONSE, Fault.LONG_RESPONSE, Fault.WRONG_OFFSET}),
        prelude=("until:parallel_fetch:w0",),
        steps=8,
        aims=("H2", "H10", "unsolicited_response"),
    ),
    Campaign(
        name="reordered-appends",
        description="two AppendEntries queued to every follower; one overtakes the other",
        kinds=("map", "vec"),
        items=(1, 3),
        readers=(1, 2),
        lagging=(1,),
        rules=TARGETED | {"reorder_message", "deliver_message", "node_poll", "settle"},
        faults=frozenset({Fault.REORDER}),
        prelude=("write", "write"),
        steps=6,
        aims=("H27",),
    ),
    # -- provider lifetimes: offers, snapshots and TTLs over a provider's life -------------
    Campaign(
        name="provider-lifetime",
        family="provider",
        description="a reader catches up, restarts or leaves and re-joins, and asks again: "
        "providers take second and third snapshots while earlier ones expire",
        kinds=("map", "vec", "set"),
        items=(2, 5),
        batches=(1, 2),
        readers=(1, 2),
        lagging=(1,),
        rules=TARGETED
        | {
            "restart_empty",
            "leave",
            "join_late",
            "client_write",
            "expire_ttl",
            "settle",
            "deliver_message",
            "node_poll",
        },
        prelude=("drain", "write", "restart:r8", "until:fetching"),
        steps=10,
        aims=("provider_second_snapshot", "provider_holds_several", "provider_expiry"),
    ),
    Campaign(
        name="ttl-expiry",
        family="provider",
        description="the clock jumps to a snapshot's TTL deadline (±1 ms) while chunks are "
        "in flight or between them; fetches refresh the TTL",
        kinds=("map", "vec"),
        items=(3, 6),
        batches=(1,),
        readers=(1, 2),
        lagging=(1, 2),
        rules=TARGETED | {"expire_ttl", "deliver_message", "node_poll", "settle"},
        prelude=("until:fetching",),
        steps=10,
        aims=("H7", "ttl_expiry_mid_fetch", "provider_expiry", "provider_refetch_dropped"),
    ),
    Campaign(
        name="shared-provider",
        family="provider",
        description="two readers catch up from the same providers at once while clients "
        "write: one provider serves two sessions and two snapshots, its log moving on",
        kinds=("map", "vec"),
        items=(2, 5),
        batches=(1, 2),
        readers=(1,),
        lagging=(2,),
        rules=TARGETED
        | {"client_write", "expire_ttl", "deliver_message", "node_poll", "settle", "restart_empty"},
        prelude=("until:fetching",),
        steps=10,
        aims=("provider_shared", "provider_log_moved", "provider_reoffer", "concurrent_sessions"),
    ),
    Campaign(
        name="re-asked",
        family="provider",
        description="a reader restarts right after catching up and asks again at once, its "
        "old anchor still on offer or just dropped; offers lapse before they are fetched",
        kinds=("map", "set"),
        items=(1, 4),
        batches=(1, 2),
        readers=(1, 2),
        lagging=(1, 2),
        rules=TARGETED
        | {"restart_empty", "expire_ttl", "deliver_message", "node_poll", "settle", "advance_time"},
        prelude=("drain", "restart:r8", "until:offer_queued"),
        steps=10,
        aims=("provider_reoffer", "provider_refetch_dropped", "provider_expiry"),
    ),
    Campaign(
        name="catch-up",
        description="late joiners catch up by snapshot while clients write; all six kinds",
        aims=("H4", "H23", "H28", "write_during_sync", "multi_chunk_anchor", "anchor_upgrade"),
    ),
    Campaign(
        name="timeouts",
        description="slow providers, fetch timeouts, TTL expiry mid-fetch, late responses",
        kinds=("map", "vec", "set"),
        items=(3, 8),
        batches=(1, 2),
        readers=(2, 3),
        lagging=(1,),
        aims=("H1", "H6", "H7", "fetch_timeout", "ttl_expiry_mid_fetch"),
    ),
    Campaign(
        name="churn",
        description="bond breaks (writer–writer too) and restores, readers leaving and "
        "re-joining, leader changes",
        kinds=("map", "vec"),
        writers=(1, 2),
        rules=BASE_RULES | {"break_bond", "restore_bond", "leave", "restart_empty"},
        aims=("H3", "H6", "H9", "H17", "leader_change_during_catchup", "buffer_gap"),
    ),
    Campaign(
        name="transport-faults",
        description="duplicated and reordered messages on a bond (beyond mosaik's transport)",
        kinds=("map", "vec", "set"),
        items=(3, 8),
        rules=BASE_RULES | {"duplicate_message", "reorder_message"},
        faults=frozenset({Fault.DUPLICATE, Fault.REORDER}),
        aims=("H1", "H3", "H27", "late_response_after_timeout"),
    ),
    Campaign(
        name="provider-faults",
        description="short, long and shifted fetch responses; replays of old messages",
        kinds=("map", "vec", "set"),
        items=(3, 8),
        batches=(2, 3),
        rules=BASE_RULES | {"corrupt_response", "forge_message"},
        faults=frozenset(
            {Fault.SHORT_RESPONSE, Fault.LONG_RESPONSE, Fault.WRONG_OFFSET, Fault.FORGE}
        ),
        aims=("H2", "H9", "H10", "stale_offer", "unsolicited_response"),
    ),
    Campaign(
        name="clocks",
        family="raft",
        description="wall-clock skew within the TTL and elections during catch-up",
        kinds=("map", "depq"),
        writers=(1, 2),
        rules=BASE_RULES | {"set_clock_skew"},
        aims=("H8", "election", "clock_skew"),
    ),
    Campaign(
        name="differential",
        description="impl steps against a naive model: collections, positions, chunks, a session",
        family="steps",
        differential="collections",
        steps=30,
        aims=("H1", "H2", "H4", "H5", "H10", "H23", "H28"),
    ),
    Campaign(
        name="log-steps",
        description="log store operations at the offset, the end and u64::MAX against a naive log",
        family="steps",
        differential="logstore",
        steps=30,
        aims=("get_range_below_offset", "prune_cursor", "truncate_below_offset"),
    ),
    Campaign(
        name="provider-steps",
        description="provider steps at exact TTL boundaries, with odd fetches, several runs "
        "before a drain and re-offers, against a naive provider",
        family="steps",
        differential="provider",
        steps=30,
        aims=("empty_fetch", "ttl_boundary", "re_offer", "enqueue_before_poll"),
    ),
    Campaign(
        name="session-buffer",
        description="session steps against a naive log: AppendEntries that continue, overlap, "
        "re-send, skip ahead of or conflict with the buffer; offers; finalize's replay",
        family="steps",
        differential="session",
        steps=30,
        aims=("H3", "buffer_overlap", "buffer_gap", "buffer_term_conflict"),
    ),
)
"""Every campaign, in the order the hunt runs them."""


LIMITATION_CAMPAIGNS: tuple[Campaign, ...] = (
    Campaign(
        name="writer-partition",
        family="raft",
        description="the bonds between two writers (and a reader) break while clients write "
        "(H29, a limitation)",
        kinds=("map",),
        items=(1, 2),
        writers=(2,),
        readers=(1,),
        lagging=(0,),
        joint_election=True,
        rules=frozenset(
            {
                "break_bond",
                "restore_bond",
                "client_write",
                "settle",
                "deliver_message",
                "node_poll",
                "advance_time",
            }
        ),
        steps=6,
        aims=("H29",),
    ),
    Campaign(
        name="lagging-voter",
        family="raft",
        description="a writer restarts empty in a two-writer committee (H16, a limitation)",
        kinds=("map",),
        items=(1, 3),
        writers=(2,),
        readers=(1,),
        lagging=(1,),
        joint_election=True,
        rules=frozenset({"settle", "client_write"}),
        prelude=("restart:w1",),
        steps=4,
        aims=("H16",),
        writer_restarts=True,
    ),
)
"""Campaigns that reach a documented limitation: run only with ``include_limitations``."""


def get_campaign(name: str) -> Campaign:
    """Return the campaign called ``name`` or raise :class:`InvalidInput`."""
    every = CAMPAIGNS + LIMITATION_CAMPAIGNS
    for campaign in every:
        if campaign.name == name:
            return campaign
    known = ", ".join(c.name for c in every)
    raise InvalidInput(f"unknown campaign {name!r}; known: {known}")


def order_for(hazards: Iterable[Hazard | Behaviour | str]) -> tuple[Campaign, ...]:
    """Return every campaign, those aimed at one of ``hazards`` (hazard or behaviour switch
    names) first (stable order).

    >>> [c.name for c in order_for(["H5"])][:1]
    ['differential']
    """
    wanted = {str(h) for h in hazards}
    first = [c for c in CAMPAIGNS if wanted & set(c.aims)]
    return tuple(first + [c for c in CAMPAIGNS if c not in first])


def consequence_campaign(campaign: Campaign, kind: Consequence | str) -> Campaign:
    """Return ``campaign`` hunting for consequence ``kind`` (``campaign.name+kind``)."""
    kind = Consequence(kind)
    return replace(campaign, name=f"{campaign.name}+{kind.value}", consequence=kind)
