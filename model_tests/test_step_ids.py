"""The step-id table (impl/steps.py) covers exactly the inventory's steps, each documented.

The inventory (``mosaik-protocol-inventory.md`` §1.1–§1.4) names the steps
R1–R10, S1–S3, P1–P6, Q0–Q13 and Q11a; :data:`INVENTORY_IDS` spells them out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import pytest

from impl.errors import InvalidInput
from impl.steps import STEP_IDS, resolve

INVENTORY_IDS = frozenset(
    [f"R{i}" for i in range(1, 11)]
    + ["S1", "S2", "S3"]
    + [f"P{i}" for i in range(1, 7)]
    + [f"Q{i}" for i in range(14)]
    + ["Q11a"]
)


def table_problems(table: Mapping[str, str]) -> list[str]:
    """Return what is wrong with a step table: missing/extra ids, undocumented targets."""
    problems = [f"missing {i}" for i in sorted(INVENTORY_IDS - table.keys())]
    problems += [f"extra {i}" for i in sorted(table.keys() - INVENTORY_IDS)]
    for step_id in sorted(table.keys() & INVENTORY_IDS):
        module_name, _, qualname = table[step_id].partition(":")
        module = __import__(module_name, fromlist=["_"])
        obj: object = module
        for part in qualname.split("."):
            obj = getattr(obj, part, None)
        if not callable(obj):
            problems.append(f"{step_id}: {table[step_id]} is not a function")
            continue
        doc = obj.__doc__ or ""
        if not re.search(rf"\b{re.escape(step_id)}\b", doc):
            problems.append(f"{step_id}: not cited in the docstring of {table[step_id]}")
    return problems


def test_step_table_covers_exactly_the_inventory_and_every_docstring_cites_its_id() -> None:
    assert len(INVENTORY_IDS) == 34
    assert table_problems(STEP_IDS) == []


def test_step_table_check_catches_a_missing_an_extra_and_a_misplaced_id() -> None:
    broken = dict(STEP_IDS)
    del broken["Q11a"]
    broken["R11"] = "impl.raft:commit_up_to"
    broken["R1"], broken["R2"] = STEP_IDS["R2"], STEP_IDS["R1"]
    broken["P6"] = "impl.provider:no_such_function"
    assert table_problems(broken) == [
        "missing Q11a",
        "extra R11",
        "P6: impl.provider:no_such_function is not a function",
        "R1: not cited in the docstring of impl.raft:leader_heartbeat",
        "R2: not cited in the docstring of impl.raft:leader_publish_batch",
    ]


def test_resolve_returns_the_implementing_function() -> None:
    from impl.raft import follower_on_append_entries

    assert resolve("R4") is follower_on_append_entries


def test_invalid_unknown_step_id_is_a_typed_error() -> None:
    with pytest.raises(InvalidInput):
        resolve("Q14")
