"""Where a scenario's outcome is predicted to differ from mosaik's green test.

mosaik's tests pass in mosaik's CI, so every scenario is expected to pass. A
:class:`Finding` records a case where this project predicts otherwise for mosaik
as it is (a hazard switch on): the scenario then *should* fail under that
switch, and the explanation says why. docs/model.md ("Scenario findings")
repeats each one. A result that differs from the expectation with no finding
is reported as UNEXPLAINED by ``snapsync scenarios``.
"""

from __future__ import annotations

from dataclasses import dataclass

from impl.profile import Hazard, Profile
from spec.scenarios.registry import Case

__all__ = ["FINDINGS", "Finding", "expected_outcome"]


@dataclass(frozen=True, slots=True)
class Finding:
    """A predicted difference between mosaik's test expectation and mosaik's behaviour."""

    scenario: str
    """Scenario id (``collection/name``)."""
    hazard: Hazard
    """The switch that causes it; the prediction holds whenever it is on."""
    outcome: str
    """The predicted outcome of mosaik's asserts (``fail`` or ``timeout``)."""
    explanation: str
    """Why, with mosaik's code location."""


FINDINGS: tuple[Finding, ...] = (
    Finding(
        scenario="cell/compare_exchange_catchup",
        hazard=Hazard.H5,
        outcome="fail",
        explanation=(
            "H5: Cell's compare-exchange compares the stored value's encoding with the "
            "encoding of the Encoded<T> wrapper (cell.rs:427-429), so a Some(1)→Some(2) "
            "exchange never matches; the cell stays 1 and the late reader reads 1, not 3. "
            "mosaik's test asserts 3, so it would fail on mosaik 0.3.13 if H5 holds "
            "(the inventory marks H5 [S, strong]; mosaik's test was not run here)."
        ),
    ),
)
"""Every predicted difference."""


def expected_outcome(case: Case, profile: Profile) -> tuple[str, str | None]:
    """Return the expected outcome of ``case`` under ``profile`` and the finding behind it."""
    for finding in FINDINGS:
        if finding.scenario == case.scenario.id and profile.has(finding.hazard):
            return finding.outcome, finding.explanation
    return "pass", None
