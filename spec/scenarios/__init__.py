"""mosaik's own sync scenarios (inventory §6), for both profiles.

:data:`SCENARIOS` lists every test of ``tests/collections/sync/{map,vec,set,depq}.rs``,
the Cell/Once late joiners and ``tests/groups/catchup.rs`` (re-run with snapshot
sync), each with its ``#[case(..)]`` parameters and mosaik's assertions. Run one
with :func:`spec.scenarios.registry.run_case`; ``snapsync scenarios`` runs them all.
"""

from __future__ import annotations

from spec.scenarios.catchup import CATCHUP_SCENARIOS
from spec.scenarios.cells import CELL_SCENARIOS
from spec.scenarios.registry import Case, CaseResult, Scenario, run_case, select_cases
from spec.scenarios.sync import SYNC_SCENARIOS

__all__ = ["SCENARIOS", "Case", "CaseResult", "Scenario", "run_case", "select_cases"]

SCENARIOS: tuple[Scenario, ...] = SYNC_SCENARIOS + CELL_SCENARIOS + CATCHUP_SCENARIOS
"""Every scenario, in mosaik's file order."""
