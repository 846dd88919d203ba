"""Upgrade an older trace to the current version 2 by verifying it and recording it again.

Version 2 (docs/formats/trace.md) added the world digests (``world``, every line)
and the rewritten messages of faults (``rewritten``), records each input in one
canonical form (``corrupt_response`` records ``delta`` 0 unless the mode is
``wrong_offset``; ``join_late`` records ``bond_to`` null for "every up node";
``break_bond`` records ``received_by_a`` and ``received_by_b``, 0 included), and
its header's setup lists the version behaviours (``behaviours``) and the transport
behaviours (``transport``) that are on.

:func:`upgrade` re-executes an older trace on the model and records it anew; every
old line must be reproduced (up to those forms), so an upgraded trace is exactly as
trustworthy as the original. Two kinds of older trace are read:

* version 1 (with or without ``behaviours`` / ``transport``);
* an *early* version 2, written before the setup had ``behaviours`` and
  ``transport``: its ``world`` digests are compared except the setup's (which
  covers the fields it lacks).

A missing ``behaviours`` or ``transport`` means none on: the run was recorded
before the switch existed, and is re-recorded as it ran.

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

__all__ = ["upgrade", "upgrade_v1"]

_V2_ONLY = ("world", "rewritten")
_SETUP_ADDED = ("behaviours", "transport")


def _as_old(record: dict[str, Any], version: int) -> dict[str, Any]:
    """``record`` as the older ``version`` wrote it (what the comparison can rely on)."""
    out = dict(record)
    if version == 1:
        out = {k: v for k, v in out.items() if k not in _V2_ONLY}
        if out.get("action") == "corrupt_response":
            out["args"] = {k: v for k, v in out["args"].items() if k != "delta"}
    elif isinstance(out.get("world"), dict):
        out["world"] = {k: v for k, v in out["world"].items() if k != "setup"}
    if out.get("action") == "break_bond":
        # Older traces recorded the counts only when not 0.
        out["args"] = {k: v for k, v in out["args"].items() if v != 0}
    return out


def upgrade(lines: list[str]) -> list[str]:
    """Return the version-2 lines of an older trace (module docstring); raise
    :class:`TraceError` if it is not an older trace or a line is not what re-executing
    the trace produces."""
    records = [parse_json(line) for line in lines if line.strip()]
    header = records[0] if records else {}
    version = header.get("version") if isinstance(header, dict) else None
    setup = header.get("setup") if isinstance(header, dict) else None
    if header.get("type") != "header" or not isinstance(setup, dict):
        raise TraceError(1, "type", "not a trace header")
    early_v2 = version == VERSION and not all(k in setup for k in _SETUP_ADDED)
    if version != 1 and not early_v2:
        raise TraceError(1, "version", "not a version-1 or early version-2 trace")
    old = 1 if version == 1 else VERSION
    full = {**setup, **{k: setup.get(k, []) for k in _SETUP_ADDED}}
    world = initial_world(setup_from_header({**header, "version": VERSION, "setup": full}, 1))
    checker = Checker(world.setup)
    out = [header_record(world, seed=header["seed"], meta=header["meta"])]
    if early_v2 and canonical_json(_as_old(out[0], old)["world"]) != canonical_json(
        _as_old(header, old)["world"]
    ):
        raise TraceError(1, "world", "the initial world is not reproduced")
    found = 0
    for number, record in enumerate(records[1:], start=2):
        steps = number - 2  # steps re-executed so far
        if record.get("type") == "end":
            again = end_record(steps, world, node_summaries(world, checker), found)
            if canonical_json(_as_old(again, old)) != canonical_json(_as_old(record, old)):
                raise TraceError(number, "", "the end record is not reproduced")
            out.append(again)
            break
        args = dict(record["args"])
        transition = ACTIONS[record["action"]](world, **decode_args(args))
        steps = number - 1
        stamped = [v.at(steps) for v in checker.check(transition)]
        found += len(stamped)
        again = step_record(steps, transition, [v.as_json() for v in stamped])
        if canonical_json(_as_old(again, old)) != canonical_json(_as_old(record, old)):
            raise TraceError(number, "", "the step is not reproduced by the current model")
        out.append(again)
        world = transition.after
    return [canonical_json(r) for r in out]


def upgrade_v1(lines: list[str]) -> list[str]:
    """Return the version-2 lines of a version-1 trace (:func:`upgrade`)."""
    header = parse_json(lines[0]) if lines else {}
    if not isinstance(header, dict) or header.get("version") != 1:
        raise TraceError(1, "version", "not a version-1 trace")
    return upgrade(lines)


def main(argv: list[str]) -> int:
    """Upgrade ``argv[0]`` into ``argv[1]`` (default: in place)."""
    source = Path(argv[0])
    target = Path(argv[1]) if len(argv) > 1 else source
    lines = source.read_text(encoding="utf-8").splitlines()
    target.write_text("\n".join(upgrade(lines)) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":  # pragma: no cover - a maintenance tool
    sys.exit(main(sys.argv[1:]))
