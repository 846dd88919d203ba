"""Upgrade a version-1 trace to version 2 by verifying it and recording it again.

Version 2 (docs/formats/trace.md) added the world digests (``world``, every line)
and the rewritten messages of faults (``rewritten``), and records each input in one
canonical form (``corrupt_response`` records ``delta`` 0 unless the mode is
``wrong_offset``; ``join_late`` records ``bond_to`` null for "every up node").
:func:`upgrade_v1` re-executes a version-1 trace on the model and records it anew;
every version-1 line must be reproduced (up to those canonical forms), so an
upgraded trace is exactly as trustworthy as the original.

    python -m spec.sim.upgrade OLD.jsonl [NEW.jsonl]    # in place without NEW
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from impl.codec import canonical_json, parse_json
from spec.model.actions import ACTIONS, initial_world
from spec.model.invariants import Checker
from spec.sim.simulator import node_summaries
from spec.sim.trace import (
    VERSION,
    TraceError,
    decode_args,
    end_record,
    header_record,
    setup_from_header,
    step_record,
)

__all__ = ["upgrade_v1"]

_V2_ONLY = ("world", "rewritten")


def _as_v1(record: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in record.items() if k not in _V2_ONLY}
    if out.get("action") == "corrupt_response":
        out["args"] = {k: v for k, v in out["args"].items() if k != "delta"}
    return out


def upgrade_v1(lines: list[str]) -> list[str]:
    """Return the version-2 lines of a version-1 trace (raise :class:`TraceError` if a
    line is not what re-executing the trace produces)."""
    records = [parse_json(line) for line in lines]
    header = records[0]
    if header.get("type") != "header" or header.get("version") != 1:
        raise TraceError(1, "version", "not a version-1 trace")
    setup = setup_from_header({**header, "version": VERSION}, 1)
    world = initial_world(setup)
    checker = Checker(setup)
    out = [header_record(world, seed=header["seed"], meta=header["meta"])]
    found = 0
    steps = 0
    for number, record in enumerate(records[1:], start=2):
        steps = number - 2  # steps re-executed so far
        if record.get("type") == "end":
            again = end_record(steps, world, node_summaries(world, checker), found)
            if canonical_json(_as_v1(again)) != canonical_json(_as_v1(record)):
                raise TraceError(number, "", "the end record is not reproduced")
            out.append(again)
            break
        args = dict(record["args"])
        transition = ACTIONS[record["action"]](world, **decode_args(args))
        steps = number - 1
        stamped = [v.at(steps) for v in checker.check(transition)]
        found += len(stamped)
        again = step_record(steps, transition, [v.as_json() for v in stamped])
        if canonical_json(_as_v1(again)) != canonical_json(_as_v1(record)):
            raise TraceError(number, "", "the step is not reproduced by the current model")
        out.append(again)
        world = transition.after
    return [canonical_json(r) for r in out]


def main(argv: list[str]) -> int:
    """Upgrade ``argv[0]`` into ``argv[1]`` (default: in place)."""
    source = Path(argv[0])
    target = Path(argv[1]) if len(argv) > 1 else source
    lines = source.read_text(encoding="utf-8").splitlines()
    target.write_text("\n".join(upgrade_v1(lines)) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":  # pragma: no cover - a maintenance tool
    sys.exit(main(sys.argv[1:]))
