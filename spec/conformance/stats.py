"""``snapsync vectors stats``: how much of ``impl/`` the vectors alone exercise.

Every vector of a tree is replayed through the reference exactly as ``snapsync
adapter`` answers it (:func:`spec.conformance.conventions.run_step`: decode the
JSON, call the step, encode the result) under coverage.py with branch measurement.
The replay also checks each outcome against the vector's expected one: a mismatch
means the tree is not the reference's.

Reported per module of ``impl/``: branches taken / branches (lines are not reported:
a module's ``def`` and ``class`` lines run when it is imported, before any replay);
the goal (≥ 95 % of the branches of session.py, provider.py, raft.py and
collections/) with its figure; and every branch not taken, with its function.

Branch coverage is coverage.py's: an arc from a line with two or more possible
successors counts once per successor.
"""

from __future__ import annotations

import ast
import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import impl
from impl.codec import canonical_json
from spec.conformance.conventions import run_step
from spec.conformance.diff import normalize_outcome
from spec.conformance.tree import open_tree, read_cases

__all__ = ["GOAL", "GOAL_MODULES", "NOT_STEPS", "ModuleCoverage", "StatsReport", "measure"]

GOAL = 95.0
"""Percent of branches the vectors alone must take in :data:`GOAL_MODULES`."""
GOAL_MODULES = ("session.py", "provider.py", "raft.py", "collections/")
"""Modules (``collections/``: the package) of the goal, relative to ``impl/``."""

NOT_STEPS: dict[str, tuple[str, tuple[str, ...]]] = {
    "node level": (
        "the node's composition of steps (§0.2 poll order, §0.3 dispatch), elections and "
        "bond watchers: no step id calls them; the node-level ops (receive, poll, "
        "bond_terminated, next_deadline) of issue #11 drive them",
        (
            "raft.py:dispatch_message",
            "raft.py:_session_message",
            "raft.py:maybe_cast_vote",
            "raft.py:start_election",
            "raft.py:follower_election_timeout",
            "raft.py:candidate_on_request_vote_response",
            "raft.py:candidate_become_leader",
            "raft.py:candidate_election_timeout",
            "raft.py:candidate_poll",
            "raft.py:_candidate_role",
            "raft.py:follower_poll",
            "raft.py:leader_poll",
            "raft.py:role_poll",
            "raft.py:role_next_deadline",
            "raft.py:follower_bond_terminated",
            "session.py:on_bond_terminated",
            "session.py:next_deadline",
            "provider.py:provider_poll",
            "provider.py:provider_next_deadline",
        ),
    ),
    "checks": (
        "predicates the model's invariants use (I4–I7, L2) and the persistent structures' "
        "self-checks: they judge states, no step runs them",
        (
            "session.py:check_session_invariants",
            "session.py:dead_state",
            "collections/pseq.py:PSortedMap.check_invariants",
            "collections/pseq.py:PSeq.check_invariants",
        ),
    ),
    "read API": (
        "what the model's observations and digests read (a DEPQ's maximum, the canonical "
        "item bytes of a digest): no step reads it",
        (
            "collections/depq.py:DepqState.get_max",
            "collections/encoding.py:encode_items",
        ),
    ),
    "structure API": (
        "methods of the persistent structures that no step calls on a state JSON can "
        "express (min_item serves only DEPQ eviction, which needs a CAP below 2^64-1, and "
        "a DEPQ with another CAP has no JSON form)",
        (
            "collections/pseq.py:PSortedMap.__eq__",
            "collections/pseq.py:PSeq.__eq__",
            "collections/pseq.py:PSortedMap.at",
            "collections/pseq.py:PSortedMap.remove_many",
            "collections/pseq.py:PSortedMap.bisect_right",
            "collections/pseq.py:PSortedMap.min_item",
        ),
    ),
}
"""Functions of the goal modules that no step id runs, by group: (why, module:function)."""


TYPE_GUARD = re.compile(r"\b(isinstance|type)\(|\bkind is (int|str|tuple)\b")
"""A type guard: a branch from a line testing a Python type to a ``raise``. A step
refuses a value of the wrong Python type with it; JSON cannot carry one, because the
codec checks every type before a step runs, so no vector can take these branches."""


def _type_guard(source: list[str], a: int, b: int) -> bool:
    if b <= 0 or a > len(source) or b > len(source):
        return False
    if not source[b - 1].lstrip().startswith("raise "):
        return False
    # The condition, which may continue over the following lines up to its colon.
    condition = [source[a - 1]]
    k = a
    while not condition[-1].rstrip().endswith(":") and k < len(source) and k < a + 6:
        condition.append(source[k])
        k += 1
    return bool(TYPE_GUARD.search(" ".join(condition)))


def _not_step(module: str, function: str) -> bool:
    key = f"{module}:{function}"
    return any(
        key in names or key.startswith(tuple(n + "." for n in names))
        for _, names in NOT_STEPS.values()
    )


_IMPL = Path(impl.__file__).parent


@dataclass(slots=True)
class ModuleCoverage:
    """One module's figures."""

    module: str
    branches: int
    branches_taken: int
    lines: int
    lines_run: int
    missing_branches: list[tuple[int, int, str]] = field(default_factory=list)
    """(from line, to line, enclosing function) of each branch not taken (to -1: exit)."""
    excluded_branches: int = 0
    """Branches (taken or not) inside :data:`NOT_STEPS` functions (type guards apart)."""
    type_guards: int = 0
    """Branches that are type guards (:data:`TYPE_GUARD`), taken or not."""
    type_guards_taken: int = 0

    @property
    def branch_percent(self) -> float:
        """Return branches taken / branches, in percent (100 if there are none)."""
        return 100.0 * self.branches_taken / self.branches if self.branches else 100.0

    @property
    def line_percent(self) -> float:
        """Return lines run / lines, in percent."""
        return 100.0 * self.lines_run / self.lines if self.lines else 100.0


@dataclass(slots=True)
class StatsReport:
    """The replay's result: cases, mismatches, per-module coverage, the goal figure."""

    cases: int
    mismatches: list[str]
    modules: list[ModuleCoverage]

    def goal_modules(self) -> list[ModuleCoverage]:
        """Return the modules the goal is about."""
        return [
            m
            for m in self.modules
            if any(
                m.module == g or (g.endswith("/") and m.module.startswith(g)) for g in GOAL_MODULES
            )
        ]

    def whole_percent(self) -> float:
        """Return the branch coverage of the goal modules taken together, every function."""
        mods = self.goal_modules()
        total = sum(m.branches for m in mods)
        taken = sum(m.branches_taken for m in mods)
        return 100.0 * taken / total if total else 100.0

    def step_branches(self) -> tuple[int, int]:
        """Return (branches, taken) of the goal modules outside :data:`NOT_STEPS`."""
        total = taken = 0
        for m in self.goal_modules():
            counted = m.branches - m.excluded_branches - m.type_guards
            missing_here = sum(1 for a, b, fn in m.missing_branches if not _not_step(m.module, fn))
            total += counted
            taken += counted - missing_here
        return total, taken

    def goal_percent(self) -> float:
        """Return the goal figure: branches of the step code (goal modules minus
        :data:`NOT_STEPS` functions and type guards) taken by the vectors alone."""
        total, taken = self.step_branches()
        return 100.0 * taken / total if total else 100.0

    def as_json(self) -> dict[str, Any]:
        """Return the ``--json`` form."""
        return {
            "cases": self.cases,
            "mismatches": self.mismatches,
            "goal": {
                "modules": list(GOAL_MODULES),
                "percent": round(self.goal_percent(), 2),
                "step_branches": self.step_branches()[0],
                "step_branches_taken": self.step_branches()[1],
                "whole_module_percent": round(self.whole_percent(), 2),
                "type_guards": sum(m.type_guards for m in self.goal_modules()),
                "type_guards_taken": sum(m.type_guards_taken for m in self.goal_modules()),
                "not_steps": {
                    group: {"why": why, "functions": list(names)}
                    for group, (why, names) in NOT_STEPS.items()
                },
                "required": GOAL,
                "met": self.goal_percent() >= GOAL,
            },
            "modules": [
                {
                    "module": m.module,
                    "branches": m.branches,
                    "branches_taken": m.branches_taken,
                    "branch_percent": round(m.branch_percent, 2),
                    "lines": m.lines,
                    "lines_run": m.lines_run,
                    "line_percent": round(m.line_percent, 2),
                    "missing_branches": [
                        {"from": a, "to": b, "function": fn} for a, b, fn in m.missing_branches
                    ],
                }
                for m in self.modules
            ],
        }


def _functions(path: Path) -> list[tuple[int, int, str]]:
    """Return (first line, last line, qualified name) of every function in a module."""
    tree = ast.parse(path.read_text())
    spans: list[tuple[int, int, str]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                name = f"{prefix}{child.name}"
                spans.append((child.lineno, child.end_lineno or child.lineno, name))
                visit(child, name + ".")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")

    visit(tree, "")
    return spans


def _enclosing(spans: list[tuple[int, int, str]], line: int) -> str:
    best = "<module>"
    width = 1 << 30
    for first, last, name in spans:
        if first <= line <= last and last - first < width:
            best, width = name, last - first
    return best


def measure(directory: Path) -> StatsReport:
    """Replay every vector of the tree at ``directory`` under coverage (module docstring)."""
    import coverage

    tree = open_tree(Path(directory))
    # Step cases only: a sequence case (issue #11) is a node's run, not one step call.
    cases = [c for c in read_cases(tree) if c["kind"] == "step"]
    cov = coverage.Coverage(branch=True, data_file=None, source=[str(_IMPL)])
    mismatches: list[str] = []
    cache: dict[Any, Any] = {}
    for case in cases:
        cov.start()
        try:
            outcome = run_step(
                case["step"],
                case["collection"],
                case["pre"],
                case["context"],
                case["input"],
                cache=cache,
            )
        finally:
            cov.stop()
        if canonical_json(normalize_outcome(outcome)) != canonical_json(
            normalize_outcome(case["expected"])
        ):
            mismatches.append(f"{case['profile']}/{case['step']}/{case['id']}")
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "coverage.json")
        cov.json_report(outfile=out, show_contexts=False)
        data = json.loads(Path(out).read_text())
    modules = []
    for filename, info in sorted(data["files"].items()):
        path = Path(filename)
        if not path.is_absolute():
            path = Path.cwd() / path
        try:
            rel = path.resolve().relative_to(_IMPL.resolve()).as_posix()
        except ValueError:
            continue
        summary = info["summary"]
        spans = _functions(path)
        source = path.read_text().splitlines()
        guards = [
            (a, b)
            for a, b in info.get("missing_branches", []) + info.get("executed_branches", [])
            if _type_guard(source, a, b)
        ]
        missing = [
            (a, b, _enclosing(spans, a))
            for a, b in info.get("missing_branches", [])
            if not _type_guard(source, a, b)
        ]
        every = info.get("executed_branches", []) + info.get("missing_branches", [])
        excluded = sum(
            1
            for a, b in every
            if _not_step(rel, _enclosing(spans, a)) and not _type_guard(source, a, b)
        )
        modules.append(
            ModuleCoverage(
                module=rel,
                branches=summary.get("num_branches", 0),
                branches_taken=summary.get("covered_branches", 0),
                lines=summary["num_statements"],
                lines_run=summary["covered_lines"],
                missing_branches=missing,
                excluded_branches=excluded,
                type_guards=len(guards),
                type_guards_taken=sum(
                    1 for a, b in info.get("executed_branches", []) if _type_guard(source, a, b)
                ),
            )
        )
    return StatsReport(cases=len(cases), mismatches=mismatches, modules=modules)
