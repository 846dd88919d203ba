"""Findings as fixed regressions: regenerate them, and re-check a saved one.

Every hazard the hunt reproduces is kept under ``docs/findings/`` as the shrunk
run's trace (``Hx.trace.jsonl``), its sequence diagram (``Hx.dot``, and
``Hx.svg`` where graphviz is installed) and, for the differential machine, the
shrunk program (``Hx.program.json``). :func:`recheck` re-drives a saved trace
through a :class:`~spec.hunt.driver.Driver`, so the hunt's own checks (E1, and
the liveness verdicts L1/L2/L4 on the final state) are re-evaluated as well as
the model's; the tests assert that each saved finding is still found, without
depending on the random search finding it again.

``python -m spec.hunt.findings OUT_DIR [Hx ...]`` regenerates them.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from impl.profile import REFERENCE, Hazard, Profile
from spec.hunt.campaigns import LIMITATION_CAMPAIGNS, order_for
from spec.hunt.driver import Driver, Finding
from spec.hunt.runner import ViolationReport, hunt
from spec.model.actions import ACTIONS
from spec.render import write_diagram
from spec.sim.replay import replay_file
from spec.sim.trace import TraceReader, decode_args, setup_from_header

__all__ = ["expected_finding", "generate", "recheck"]


def expected_finding(path: str | Path) -> dict[str, Any]:
    """Return the finding recorded in a saved trace's header (``meta.hunt``)."""
    lines = Path(path).read_text(encoding="utf-8").split("\n")
    header = json.loads(lines[0])
    hunt_meta = header.get("meta", {}).get("hunt", {})
    finding = hunt_meta.get("finding") or hunt_meta.get("limitation")
    if not isinstance(finding, dict):
        raise ValueError(f"{path}: the header records no hunt finding")
    return finding


def recheck(path: str | Path) -> list[Finding]:
    """Re-drive a saved trace through a Driver; return every finding (drain verdicts included).

    The final state is judged as the drain judged it: a dead session (L2), a quorum
    that cannot commit because its voters are catching up (L4, H16), or no
    quiescence (L1).
    """
    reader = TraceReader.open(path)
    driver: Driver | None = None
    for line in reader.records():
        record = line.record
        if record["type"] == "header":
            driver = Driver(setup_from_header(record, line.number))
        elif record["type"] == "step":
            assert driver is not None
            action = ACTIONS[record["action"]]
            driver.act(action(driver.world, **decode_args(record["args"])))
    assert driver is not None
    found = list(driver.findings)
    for name, case in driver.dead_sessions():
        found.append(Finding("L2", name, f"dead session state {case}", driver.steps))
    deadlock = driver.quorum_deadlock()
    if deadlock is not None:
        found.append(deadlock)
    problem = driver.quiescence_problem()
    if problem is not None:
        found.append(Finding("L1", None, problem, driver.steps))
    return found


def _save(report: ViolationReport | dict[str, Any], out: Path, name: str) -> dict[str, Any]:
    trace = report.trace if isinstance(report, ViolationReport) else report.get("trace")
    entry: dict[str, Any] = {"name": name}
    if isinstance(report, ViolationReport):
        entry.update(report.as_json())
    else:
        entry.update(report)
    if trace is None:
        return entry
    src = Path(trace)
    if src.name.endswith(".program.json"):
        dst = out / f"{name}.program.json"
        shutil.copyfile(src, dst)
        entry["trace"] = str(dst)
        return entry
    dst = out / f"{name}.trace.jsonl"
    shutil.copyfile(src, dst)
    entry["trace"] = str(dst)
    result = replay_file(dst)
    dot, svg = write_diagram(result.records, out / f"{name}.dot")
    entry["dot"] = str(dot)
    entry["svg"] = None if svg is None else str(svg)
    entry["replay_exact"] = result.exact
    return entry


def generate(
    out: Path, hazards: Sequence[str] = (), budget_s: float = 120.0
) -> list[dict[str, Any]]:
    """Hunt each hazard (single switch on ``reference``), save its shrunk finding in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    work = out / ".work"
    names = list(hazards) or [h.value for h in Hazard] + ["H16"]
    entries: list[dict[str, Any]] = []
    for name in names:
        if name == "H16":
            report = hunt(
                REFERENCE,
                budget_s=budget_s,
                campaigns=LIMITATION_CAMPAIGNS,
                include_limitations=True,
                trace_dir=work,
            )
            if report.limitations:
                entries.append(_save(report.limitations[0], out, name))
            continue
        profile: Profile = REFERENCE.with_hazards([name])
        report = hunt(
            profile,
            budget_s=budget_s,
            stop_on_first=True,
            trace_dir=work,
            campaigns=order_for([name]),
        )
        if report.violations:
            entries.append(_save(report.violations[0], out, name))
        else:
            entries.append({"name": name, "not_found_within_s": budget_s})
    shutil.rmtree(work, ignore_errors=True)
    index = out / "index.json"
    kept: list[dict[str, Any]] = []
    if index.exists():
        fresh = {e["name"] for e in entries}
        kept = [e for e in json.loads(index.read_text(encoding="utf-8")) if e["name"] not in fresh]
    merged = sorted(kept + entries, key=lambda e: int(str(e["name"])[1:]))
    index.write_text(json.dumps(merged, indent=2) + "\n", encoding="utf-8")
    return entries


if __name__ == "__main__":  # pragma: no cover - a maintenance tool
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/findings")
    for entry in generate(target, sys.argv[2:]):
        print(json.dumps({k: v for k, v in entry.items() if k != "program"}))
