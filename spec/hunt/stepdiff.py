"""What every step differential shares: the findings' bookkeeping and one class per profile.

A step differential (:data:`spec.hunt.differential.DIFFERENTIAL_MACHINES`) drives pure
impl steps and a naive model with the same random inputs. Its rules record a
:class:`~spec.hunt.driver.Finding` where the two disagree (:meth:`StepDifferential._find`);
one invariant per check id turns the first such finding into a
:class:`~spec.hunt.machine.HuntFailure` with the shrunk rule list as its program
(:meth:`StepDifferential._check`), which is what ``snapsync hunt`` saves. No rule is a stop
point: a :class:`~spec.robust.stop.Stop` raised inside Hypothesis's run is taken for a
failure and replayed, the replay stops at another step, and Hypothesis reports that as
``FlakyStrategyDefinition`` (an ``ERROR`` row in one ``snapsync check`` of four). A call is
short (25 examples of a few milliseconds each), so the budget ends between calls. The
collections'
(:mod:`spec.hunt.differential`), the log store's (:mod:`spec.hunt.differential_log`), the
provider's (:mod:`spec.hunt.differential_provider`) and the session's
(:mod:`spec.hunt.differential_session`) machines build on it.
"""

from __future__ import annotations

import time
from typing import ClassVar, TypeVar

from hypothesis.stateful import RuleBasedStateMachine

from impl.profile import REFERENCE, Profile
from spec.hunt.campaigns import Campaign
from spec.hunt.driver import Finding

__all__ = ["StepDifferential", "profiled"]


class StepDifferential(RuleBasedStateMachine):
    """Base of the step differentials: a program, findings, and the failure the hunt saves."""

    profile: ClassVar[Profile] = REFERENCE
    campaign: ClassVar[Campaign]

    def __init__(self) -> None:
        super().__init__()
        self.rule_steps = 0
        self.program: list[str] = []
        self.findings: list[Finding] = []
        from spec.hunt.machine import SESSION

        SESSION.examples += 1

    def _count(self, text: str) -> None:
        """Record one rule step (``text``: the call as the shrunk program shows it)."""
        from spec.hunt.machine import SESSION

        SESSION.rule_steps += 1
        self.rule_steps += 1
        self.program.append(text)

    def _find(self, ident: str, detail: str) -> None:
        """Record a disagreement; the invariant of ``ident`` fails the example with it."""
        self.findings.append(Finding(ident, None, detail, self.rule_steps))

    def _check(self, ident: str) -> None:
        for finding in self.findings:
            if finding.id == ident:
                self._fail(finding)

    def _fail(self, finding: Finding) -> None:
        from spec.hunt.machine import SESSION, HuntFailure, RunRecord, _is_final

        if SESSION.first_failure_at is None:
            SESSION.first_failure_at = time.perf_counter()
        SESSION.failures.append(
            RunRecord(
                self.campaign.name,
                finding,
                self.rule_steps,
                0,
                list(self.program),
                None,
                _is_final(),
            )
        )
        seed = "derandomized" if SESSION.seed is None else SESSION.seed
        raise HuntFailure(
            finding,
            f"{finding.id} violated after rule step {finding.step}: {finding.detail}\n"
            f"campaign={self.campaign.name} profile={self.profile.name} seed={seed} "
            f"(differential: the failing program is the shrunk rule list)",
        )


M = TypeVar("M", bound=StepDifferential)

_CLASSES: dict[tuple[str, str, frozenset[object]], type[StepDifferential]] = {}


def profiled(base: type[M], profile: Profile) -> type[M]:
    """Return ``base`` bound to ``profile`` (one class per profile, cached): Hypothesis runs
    a machine class, so the profile is a class attribute."""
    key = (base.__qualname__, profile.name, frozenset(profile.hazards | profile.behaviours))
    cls = _CLASSES.get(key)
    if cls is None:
        cls = type(base.__name__, (base,), {"profile": profile})
        _CLASSES[key] = cls
    return cls  # type: ignore[return-value]
