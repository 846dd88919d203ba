"""From a call to its cases: the expected outcome per profile and a structured ``why``.

A :class:`Call` is one step call in JSON form (``pre``, ``context``, ``input`` per
the step's convention) plus where it came from. :func:`cases_of` turns it into one
case per profile: the expected outcome is what the reference computes for that
profile (:func:`spec.conformance.conventions.run_step`, the same function
``snapsync adapter`` answers with), and ``why`` says

* ``kind`` — ``valid``, ``ignored`` (an ``Ignored`` effect) or ``rejected`` (a typed error);
* ``branch`` — the guard or branch the case exercises (hand-written cases name it;
  recorded ones summarise the outcome);
* ``hazards`` — the hazard switches that change this case's outcome on their own
  (reference: switching one on; mosaik: switching one off), found by re-running the
  call with each hazard the step actually consulted flipped;
* ``behaviours`` — the same for the version-behaviour switches (``readers-vote``);
* ``effect`` — what an implementation that fails the case would do wrong;
* ``source`` — scenario, simulation, hunt walk or hand-written, and its name;
* ``profiles_agree`` — whether both profiles expect the same outcome (Wycheproof's
  "acceptable": where they disagree, each profile's tree has its own expectation);
* ``reachable_in`` — the profiles of the model runs where this input occurred
  (empty for hand-written cases);
* ``description`` — one sentence.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from impl.codec import canonical_json, encode
from impl.profile import MOSAIK_0_3_13, REFERENCE, Behaviour, Hazard, Profile
from spec.conformance.cases import FORMAT, FORMAT_VERSION, case_id, outcome_label
from spec.conformance.conventions import CONVENTIONS, run_step
from spec.conformance.diff import normalize_outcome

__all__ = ["PROFILE_ORDER", "Call", "cases_of", "consulted_switches"]

PROFILE_ORDER: tuple[Profile, ...] = (REFERENCE, MOSAIK_0_3_13)


@dataclass(frozen=True, slots=True)
class Call:
    """One step call in JSON form and where it came from."""

    step: str
    collection: str
    config: dict[str, Any]
    pre: Any
    context: dict[str, Any] | None
    input: dict[str, Any]
    source: dict[str, str]
    reachable_in: tuple[str, ...] = ()
    branch: str = ""
    """The guard or branch, for hand-written cases (else summarised from the outcome)."""
    effect: str = ""
    """What an implementation failing it does wrong, for hand-written cases."""
    description: str = ""
    profiles: tuple[str, ...] | None = None
    """Hand-written: only these profiles get the case (else both)."""

    @property
    def id(self) -> str:
        """Return the content-derived case id."""
        return case_id(self.step, self.collection, self.config, self.pre, self.context, self.input)


@contextmanager
def consulted_switches() -> Iterator[set[Hazard | Behaviour]]:
    """Collect the switches (hazards and behaviours) every ``Profile.has`` call asks about
    inside the block."""
    original = Profile.has
    seen: set[Hazard | Behaviour] = set()

    def has(self: Profile, switch: Hazard | Behaviour) -> bool:
        seen.add(switch)
        if isinstance(switch, Behaviour):
            return switch in self.behaviours
        return switch in self.hazards

    Profile.has = has  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        Profile.has = original  # type: ignore[method-assign]


def _outcome(call: Call, profile: Profile) -> dict[str, Any]:
    return run_step(call.step, call.collection, call.pre, call.context, call.input, profile)


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return canonical_json(normalize_outcome(a)) == canonical_json(normalize_outcome(b))


def _summary(step: str, outcome: dict[str, Any], pre: Any) -> tuple[str, str]:
    """Return (kind, branch) summarising an outcome."""
    labels = outcome_label(outcome)
    if "error" in outcome:
        error = outcome["error"]
        hazard = f" ({error['hazard']})" if error.get("hazard") else ""
        return "rejected", f"rejects the input: {error['kind']}{hazard}"
    result = outcome["result"]
    if labels:
        reasons = ", ".join(label.split(":", 1)[1] for label in labels)
        return "ignored", f"ignores it ({reasons})"
    effects = result.get("effects")
    parts = []
    if isinstance(effects, list):
        counts: dict[str, int] = {}
        for effect in effects:
            name = effect.get("type", "?")
            message = effect.get("message")
            if isinstance(message, dict):
                name = f"{name}({message.get('type')})"
            timer = effect.get("timer")
            if isinstance(timer, dict):
                name = f"{name}({timer.get('kind')})"
            counts[name] = counts.get(name, 0) + 1
        shown = ", ".join(f"{n}×{k}" if k > 1 else n for n, k in counts.items())
        parts.append(f"effects: {shown}" if shown else "no effects")
    if "post" in result and pre is not None:
        parts.append("state unchanged" if result["post"] == pre else "state changes")
    extras = [
        f"{name}={canonical_json(value)}"
        for name, value in result.items()
        if name not in ("post", "effects") and not isinstance(value, (dict, list))
    ]
    parts += extras
    return "valid", "acts: " + "; ".join(parts) if parts else "acts"


def _effect_text(
    step: str, kind: str, hazards: list[str], behaviours: list[str], outcome: dict[str, Any]
) -> str:
    if hazards or behaviours:
        return "behaves like mosaik's " + "; ".join(
            [f"{h}: {Hazard(h).description}" for h in hazards]
            + [f"{b}: {Behaviour(b).description}" for b in behaviours]
        )
    title = CONVENTIONS[step].title
    if kind == "rejected":
        return f"accepts an input {step} ({title}) must reject with {outcome['error']['kind']}"
    if kind == "ignored":
        reasons = ", ".join(label.split(":", 1)[1] for label in outcome_label(outcome))
        return f"acts on an input {step} must ignore ({reasons}), or ignores it for another reason"
    return f"computes a different result than the reference when {step} ({title}) acts"


def _flipped(profile: Profile, switch: Hazard | Behaviour) -> Profile:
    if isinstance(switch, Behaviour):
        if profile.has(switch):
            return profile.without_behaviours([switch])
        return profile.with_behaviours([switch])
    if profile.has(switch):
        return profile.without_hazards([switch])
    return profile.with_hazards([switch])


def cases_of(call: Call) -> list[dict[str, Any]]:
    """Return the case of ``call`` for each profile (module docstring)."""
    outcomes: dict[str, dict[str, Any]] = {}
    consulted: dict[str, set[Hazard | Behaviour]] = {}
    for profile in PROFILE_ORDER:
        with consulted_switches() as seen:
            outcomes[profile.name] = _outcome(call, profile)
        consulted[profile.name] = set(seen)
    agree = _same(outcomes[REFERENCE.name], outcomes[MOSAIK_0_3_13.name])
    cid = call.id
    cases = []
    for profile in PROFILE_ORDER:
        if call.profiles is not None and profile.name not in call.profiles:
            continue
        outcome = outcomes[profile.name]
        changing = [
            s
            for s in consulted[profile.name]
            if not _same(outcome, _outcome(call, _flipped(profile, s)))
        ]
        hazards = sorted(
            (s.value for s in changing if isinstance(s, Hazard)), key=lambda v: int(v[1:])
        )
        behaviours = sorted(s.value for s in changing if isinstance(s, Behaviour))
        kind, branch = _summary(call.step, outcome, call.pre)
        context = call.context
        if isinstance(context, dict) and "profile" in context:
            context = {**context, "profile": encode(profile)}
        why = {
            "kind": kind,
            "branch": call.branch or branch,
            "hazards": hazards,
            "behaviours": behaviours,
            "effect": call.effect or _effect_text(call.step, kind, hazards, behaviours, outcome),
            "source": dict(call.source),
            "profiles_agree": agree,
            "reachable_in": sorted(call.reachable_in),
            "description": call.description
            or f"a real call of {call.step} ({CONVENTIONS[call.step].title}) from "
            f"{call.source['kind']} {call.source['name']}",
        }
        cases.append(
            {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "kind": "step",
                "id": cid,
                "step": call.step,
                "profile": profile.name,
                "collection": call.collection,
                "config": call.config,
                "pre": call.pre,
                "context": context,
                "input": call.input,
                "expected": outcome,
                "why": why,
            }
        )
    return cases
