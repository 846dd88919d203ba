"""The swarm engine (:mod:`spec.hunt.swarm`) and the rule-argument domains it shares with
Hypothesis (:mod:`spec.hunt.domains`).

* It runs exactly the group machine's rules, guards and invariants, with the
  arguments Hypothesis would draw from.
* Same seed, same walk: byte for byte.
* Resuming a candidate from a snapshot of the best program gives the result of
  a run from scratch (and a mutant snapshot that shares state is caught).
* The shrinker keeps the failure, and its output replays from scratch.
* The reference passes a short swarm; each hazard's aimed campaign fails it.
"""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import spec.hunt.swarm as swarm
from impl.collections.set import SetClear, SetInsert
from impl.profile import REFERENCE, Hazard, Profile
from spec.hunt.campaigns import CAMPAIGNS, get_campaign
from spec.hunt.client_commands import KINDS, command_domain
from spec.hunt.domains import Choice, Domain, Ints, ListOf, Maybe
from spec.hunt.machine import GUARDS, MACRO_RULES, RULE_ARGS, SCHEDULER_RULES, machine_class
from spec.hunt.swarm import Call, Program, Run, run_program, run_walks, shrink, walk

GROUP_CAMPAIGNS = [c for c in CAMPAIGNS if not c.differential]


def _failing_walk(profile: Profile, campaign: str, tries: int = 400, longer_than: int = 0) -> Run:
    c = get_campaign(campaign)
    for k in range(tries):
        run = walk(c, profile, random.Random(f"test:{k}"))
        if run.failure is not None and len(run.executed) > longer_than:
            return run
    raise AssertionError(f"no failing walk of {campaign} in {tries} tries")


def _deletions(p: Program, count: int = 8) -> list[Program]:
    """``count`` one-call deletions spread over the program."""
    n = len(p.calls)
    starts = sorted({(n - 1) * k // max(count - 1, 1) for k in range(count)})
    return [replace(p, calls=p.calls[:i] + p.calls[i + 1 :]) for i in starts]


# -- the same rules, guards, invariants and argument values as Hypothesis ----------------------


def test_rule_tables_cover_exactly_the_machines_rules() -> None:
    machine = machine_class(CAMPAIGNS[0])()
    names = {r.function.__name__ for r in machine.rules}
    assert names | SCHEDULER_RULES == set(RULE_ARGS) == set(GUARDS)
    assert names > MACRO_RULES
    # The slow-link rules: only in the machines of the campaigns that enable them.
    assert not names & SCHEDULER_RULES
    slow = machine_class(get_campaign("figure-8-delays"))()
    assert {r.function.__name__ for r in slow.rules} == set(RULE_ARGS)


def test_rule_strategies_are_built_from_the_domains() -> None:
    machine = machine_class(get_campaign("figure-8-delays"))()
    for r in machine.rules:
        name = r.function.__name__
        expected = {arg: repr(d.strategy()) for arg, d in RULE_ARGS[name].items()}
        if name == "client_write":
            assert set(r.arguments) == {"data"}
            continue
        assert {arg: repr(s) for arg, s in r.arguments.items()} == expected, name


@pytest.mark.parametrize(
    "domain",
    [Ints(0, 7), Choice((0, 500, 1000)), Maybe(Ints(1, 4)), ListOf(Ints(0, 9), 1, 3)],
    ids=repr,
)
def test_domain_draws_are_values_of_its_strategy(domain: Domain) -> None:
    rng = random.Random(5)
    drawn = [domain.draw(rng) for _ in range(200)]

    @given(domain.strategy())
    def in_strategy(value: Any) -> None:
        seen.add(repr(value))

    seen: set[str] = set()
    in_strategy()
    # Every drawn value is one Hypothesis could produce (same finite domain).
    universe = _universe(domain)
    assert all(repr(v) in universe for v in drawn)
    assert seen <= universe


def _universe(domain: Domain) -> set[str]:
    if isinstance(domain, Ints):
        return {repr(v) for v in range(domain.lo, domain.hi + 1)}
    if isinstance(domain, Choice):
        return {repr(v) for v in domain.values}
    if isinstance(domain, Maybe):
        return {"None"} | _universe(domain.inner)
    assert isinstance(domain, ListOf)
    assert isinstance(domain.inner, Ints)
    lo, hi = domain.inner.lo, domain.inner.hi
    out: set[str] = set()
    for n in range(domain.min_size, domain.max_size + 1):
        for combo in _products(range(lo, hi + 1), n):
            out.add(repr(list(combo)))
    return out


def _products(values: range, n: int) -> list[tuple[int, ...]]:
    if n == 0:
        return [()]
    return [(v, *rest) for v in values for rest in _products(values, n - 1)]


@given(st.data())
def test_simpler_values_are_strictly_simpler(data: st.DataObject) -> None:
    domain = data.draw(
        st.sampled_from([Ints(0, 7), Choice((1, 500, 1000, 1499)), Maybe(Ints(0, 7))])
    )
    value = data.draw(domain.strategy())
    for v in domain.simpler(value):
        assert v != value
        # Simpler values come before the value in the domain's order (None first).
        assert _rank(domain, v) < _rank(domain, value)


def _rank(domain: Domain, value: Any) -> int:
    if isinstance(domain, Maybe):
        return -1 if value is None else _rank(domain.inner, value)
    if isinstance(domain, Choice):
        return domain.values.index(value)
    return int(value)


@pytest.mark.parametrize("kind", KINDS)
def test_command_domains_draw_valid_commands(kind: str) -> None:
    rng = random.Random(kind)
    drawn = {type(command_domain(kind).draw(rng)).__name__ for _ in range(300)}

    # Every command type of the kind's strategy shows up in the swarm's draws too.
    @given(command_domain(kind).strategy())
    def collect(value: Any) -> None:
        seen.add(type(value).__name__)

    seen: set[str] = set()
    collect()
    assert seen <= drawn


# -- determinism ---------------------------------------------------------------------------------


@pytest.mark.parametrize("campaign", ["catch-up", "transport-faults"])
def test_same_seed_same_walk(campaign: str) -> None:
    c = get_campaign(campaign)
    a = walk(c, REFERENCE, random.Random("same"))
    b = walk(c, REFERENCE, random.Random("same"))
    assert a.program == b.program
    assert (a.key, a.rule_steps, a.model_steps) == (b.key, b.rule_steps, b.model_steps)
    other = walk(c, REFERENCE, random.Random("other"))
    assert other.program != a.program


def test_a_program_replays_like_its_walk() -> None:
    run = walk(get_campaign("churn"), REFERENCE, random.Random(3))
    again = run_program(run.program, REFERENCE)
    assert [c.render() for c in again.executed] == [c.render() for c in run.executed]
    assert (again.key, again.model_steps) == (run.key, run.model_steps)


# -- the shrinker ---------------------------------------------------------------------------------


def test_resumed_candidates_match_runs_from_scratch() -> None:
    run = _failing_walk(REFERENCE.with_hazards([Hazard.H3]), "buffer-gaps", longer_than=3)
    sh = swarm._Shrinker(run, REFERENCE.with_hazards([Hazard.H3]), float("inf"), 10_000)
    compared = 0
    for candidate in _deletions(sh.best):
        resumed = sh._run(candidate)
        scratch = run_program(candidate, sh.profile)
        assert (resumed.key, resumed.model_steps, resumed.failed_at) == (
            scratch.key,
            scratch.model_steps,
            scratch.failed_at,
        ), candidate.render()
        compared += 1
    assert compared >= 2


def test_mutant_snapshot_sharing_state_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """A clone that shares the model with its snapshot leaks one candidate into the next."""
    profile = REFERENCE.with_hazards([Hazard.H3])
    run = _failing_walk(profile, "buffer-gaps", longer_than=3)

    def shallow(self: Any) -> Any:
        other = swarm._Executor.__new__(swarm._Executor)
        other.run = Run(self.run.program, list(self.run.executed))
        other.machine = self.machine
        other.invariants = self.invariants
        other.done = self.done
        return other

    monkeypatch.setattr(swarm._Executor, "clone", shallow)
    sh = swarm._Shrinker(run, profile, float("inf"), 10_000)
    mismatches = 0
    for candidate in _deletions(sh.best):
        resumed = sh._run(candidate)
        scratch = run_program(candidate, profile)
        mismatches += (resumed.key, resumed.model_steps) != (scratch.key, scratch.model_steps)
    assert mismatches > 0


@pytest.mark.parametrize(
    ("hazard", "campaign"),
    [(Hazard.H3, "buffer-gaps"), (Hazard.H4, "positions"), (Hazard.H9, "stale-offers")],
)
def test_shrunk_program_fails_the_same_way_from_scratch(hazard: Hazard, campaign: str) -> None:
    profile = REFERENCE.with_hazards([hazard])
    run = _failing_walk(profile, campaign)
    shrunk = shrink(run, profile, deadline=float("inf"), max_runs=3_000)
    best = shrunk.program
    assert shrunk.tried > 0
    assert shrunk.limit == "converged"
    assert len(best.calls) <= len(run.executed)
    again = run_program(best, profile)
    assert again.key == run.key
    assert len(best.calls) <= 12, best.render()


def test_shrink_refuses_a_passing_run() -> None:
    run = walk(get_campaign("positions"), REFERENCE, random.Random(0))
    assert run.failure is None
    with pytest.raises(ValueError, match="failing run"):
        shrink(run, REFERENCE, deadline=float("inf"))


def test_call_and_program_render() -> None:
    p = Program(
        get_campaign("positions"),
        (("kind", "map"), ("items", 1)),
        (Call("settle", (("window", 0), ("slow", None))),),
    )
    assert p.render() == ["setup_group(kind='map', items=1)", "settle(window=0, slow=None)"]


# -- hunting ---------------------------------------------------------------------------------


@pytest.mark.parametrize("campaign", GROUP_CAMPAIGNS, ids=lambda c: c.name)
def test_reference_walks_find_nothing(campaign: Any) -> None:
    assert run_walks(campaign, REFERENCE, walks=4, run_seed=7) is None


SWARM_AIMED = [h for h in Hazard if any(h.value in c.aims for c in GROUP_CAMPAIGNS)]


def test_hazards_no_group_campaign_aims_at_are_the_differentials() -> None:
    rest = {h.value for h in Hazard} - {h.value for h in SWARM_AIMED}
    aims = {a for c in CAMPAIGNS if c.differential for a in c.aims}
    assert rest <= aims


@pytest.mark.parametrize("hazard", SWARM_AIMED, ids=lambda h: h.value)
def test_each_hazard_fails_a_swarm_of_its_aimed_campaigns(hazard: Hazard) -> None:
    profile = REFERENCE.with_hazards([hazard])
    aimed = [c for c in GROUP_CAMPAIGNS if hazard.value in c.aims]
    for seed in range(40):
        for c in aimed:
            if run_walks(c, profile, walks=5, run_seed=seed, shrink_failures=False):
                return
    raise AssertionError(f"{hazard.value}: no failing walk")


# -- a finding of the swarm engine, kept as a regression ----------------------------------------

_STALE_APPEND = (
    ("join_late", (("who", 0),)),
    ("settle_until", (("until", "snapshot_requested"), ("slow", None))),
    ("client_write", (("commands", [SetClear()]),)),
    ("node_poll", (("who", 4),)),
    ("client_write", (("commands", [SetInsert(value=0)]),)),
    ("reorder_message", (("which", 5), ("position", 1))),
    ("deliver_message", (("which", 0),)),
    ("node_poll", (("who", 4),)),
    ("deliver_message", (("which", 0),)),
    ("deliver_message", (("which", 1),)),
    ("reorder_message", (("which", 2), ("position", 1))),
    ("deliver_message", (("which", 7),)),
    ("deliver_message", (("which", 3),)),
    ("deliver_message", (("which", 7),)),
    ("reorder_message", (("which", 4), ("position", 1))),
    ("deliver_message", (("which", 3),)),
    ("reorder_message", (("which", 7), ("position", 2))),
    ("reorder_message", (("which", 7), ("position", 2))),
)


def test_stale_append_entries_then_late_offer_regresses_commit_only_under_h9() -> None:
    """docs/findings/H9-committed: r8 installs a snapshot at 6 and commits 7; an older
    AppendEntries (reordered) starts a new session, and a late offer at 6 is installed
    again under H9 (I11). Reference: the session's minimum anchor is the committed index."""
    program = Program(
        get_campaign("transport-faults"),
        (
            ("kind", "set"),
            ("items", 3),
            ("batch", 1),
            ("writers", 1),
            ("readers", 2),
            ("lagging", 1),
        ),
        tuple(Call(rule, args) for rule, args in _STALE_APPEND),
    )
    assert run_program(program, REFERENCE.with_hazards([Hazard.H9])).key == "I11"
    assert run_program(program, REFERENCE).key is None


def test_two_corruptions_of_one_response_forge_its_content() -> None:
    """Why ``corrupt_response`` touches a response at most once: short then long keeps the
    length and replaces the last item, which no length or offset check can see."""
    from impl.messages import FetchDataResponse
    from impl.types import Cursor, Index, Term
    from spec.model.faults import Fault, corrupt_response

    r = FetchDataResponse(Cursor(Term(1), Index(4)), 0, (1, 2, 3))
    short = corrupt_response(r, Fault.SHORT_RESPONSE)
    assert short is not None
    forged = corrupt_response(short, Fault.LONG_RESPONSE)
    assert forged is not None
    assert (forged.offset, len(forged.items)) == (r.offset, len(r.items))
    assert forged.items != r.items
