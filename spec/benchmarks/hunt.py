"""``snapsync bench hunt``: the hunt's throughput, per engine, against Hypothesis's own ceiling.

Three measurements on the same machine, one after the other:

* **ceiling** — Hypothesis's stateful engine on a machine with the group machine's
  rules and argument strategies (:data:`spec.hunt.machine.RULE_ARGS`) and as many
  invariants, all with empty bodies. No model runs: this is the most rules per
  second Hypothesis can drive with this machine's shape, whatever the model costs.
* **hypothesis** — ``snapsync hunt --engine hypothesis`` on ``reference``.
* **swarm** — ``snapsync hunt --engine swarm`` (the default) on ``reference``.

For the two hunts it reports rule steps and model actions per second, and the
hazard-relevant situations reached per second (:mod:`spec.hunt.coverage`): a
faster engine that reached fewer deep states would not be a better one.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from impl.errors import InvalidInput
from impl.profile import REFERENCE
from spec.hunt.machine import RULE_ARGS, SAFETY_IDS
from spec.hunt.runner import hunt
from spec.robust.options import seconds

__all__ = ["EngineResult", "HuntBench", "ceiling", "register", "run"]


@dataclass(frozen=True, slots=True)
class EngineResult:
    """One engine's hunt on ``reference``."""

    engine: str
    seconds: float
    rule_steps: int
    rule_steps_per_s: float
    model_steps_per_s: float
    violations: int
    coverage_per_s: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class HuntBench:
    """The benchmark's result (the ``--json`` form)."""

    ceiling_rules_per_s: float
    engines: list[EngineResult]


def _empty_machine() -> type[RuleBasedStateMachine]:
    """A machine shaped like the group machine (same rules' strategies, as many invariants)
    whose rules and invariants do nothing."""
    body: dict[str, Any] = {}
    count = [0]

    def make_rule(name: str) -> Any:
        def step(self: Any, **kwargs: Any) -> None:
            count[0] += 1

        step.__name__ = name
        strategies: dict[str, Any] = {a: d.strategy() for a, d in RULE_ARGS[name].items()}
        decorate: Any = rule(**strategies)
        return decorate(step)

    for name in RULE_ARGS:
        body[name] = make_rule(name)
    for k in range(len(SAFETY_IDS) + 2):  # + other_checks and e1, as in GroupMachine

        def check(self: Any) -> None:
            return None

        check.__name__ = f"inv{k}"
        body[f"inv{k}"] = invariant()(check)
    cls = type("EmptyGroupShape", (RuleBasedStateMachine,), body)
    cls.counter = count  # type: ignore[attr-defined]
    return cls


def ceiling(seconds: float) -> float:
    """Return the rules per second Hypothesis drives on the empty machine (best of 3 runs)."""
    cls = _empty_machine()
    counter: list[int] = cls.counter  # type: ignore[attr-defined]
    best = 0.0
    for _ in range(3):
        counter[0] = 0
        started = time.perf_counter()
        examples = 1
        while time.perf_counter() - started < seconds / 3:
            run_state_machine_as_test(
                cls,
                settings=settings(
                    max_examples=20 * examples,
                    stateful_step_count=25,
                    deadline=None,
                    database=None,
                    suppress_health_check=list(HealthCheck),
                ),
            )
            examples += 1
        best = max(best, counter[0] / (time.perf_counter() - started))
    return best


def _engine(engine: str, seconds: float) -> EngineResult:
    report = hunt(REFERENCE, budget_s=seconds, seed_base=0, engine=engine)
    elapsed = report.elapsed_s or 1e-9
    return EngineResult(
        engine=engine,
        seconds=round(elapsed, 3),
        rule_steps=report.rule_steps,
        rule_steps_per_s=round(report.rule_steps_per_s, 1),
        model_steps_per_s=round(report.model_steps_per_s, 1),
        violations=len(report.violations),
        coverage_per_s={k: round(v / elapsed, 2) for k, v in sorted(report.coverage.items())},
    )


def run(seconds: float = 20.0) -> HuntBench:
    """Run the three measurements (``seconds`` each)."""
    if seconds <= 0:
        raise InvalidInput(f"--seconds must be positive, got {seconds}")
    top = ceiling(seconds)
    return HuntBench(round(top, 1), [_engine("hypothesis", seconds), _engine("swarm", seconds)])


def register(sub: Any) -> None:
    """Add ``bench hunt`` to the CLI."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "hunt",
        help="hunt throughput per engine, and Hypothesis's ceiling",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--seconds",
        type=seconds(positive=True),
        default=20.0,
        help="time per measurement, > 0 (default 20)",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(handler=_main)


def _main(args: argparse.Namespace) -> int:
    result = run(args.seconds)
    if args.json:
        print(json.dumps(asdict(result), indent=2, sort_keys=True))
        return 0
    print(f"Hypothesis ceiling (empty machine): {result.ceiling_rules_per_s:.0f} rules/s")
    for e in result.engines:
        print(
            f"{e.engine:>10}: {e.rule_steps_per_s:7.0f} rule steps/s, "
            f"{e.model_steps_per_s:7.0f} model actions/s, {e.violations} violations"
        )
    names = sorted(set().union(*(e.coverage_per_s for e in result.engines)))
    print(f"{'situation per s':<32}" + "".join(f"{e.engine:>12}" for e in result.engines))
    for name in names:
        row = "".join(f"{e.coverage_per_s.get(name, 0.0):12.2f}" for e in result.engines)
        print(f"{name:<32}{row}")
    return 0
