"""A minimal conformance adapter written from the docs alone: it does not import snapsync.

It implements two steps independently, from docs/formats/adapter.md, vectors.md,
json.md and protocol/provider.md:

* **P4** ``on_fetch_data_request``: serve one chunk of a held snapshot (Map, Vec,
  Set and DEPQ snapshots, whose items are served as stored);
* **P6** ``safe_to_prune_prefix``: the committed index.

Its hello lists only those steps and collections, so ``snapsync conform`` counts every
other case as unsupported; a request it cannot read is answered ``MalformedRequest``.
Run as ``python model_tests/external_adapter.py``; the test suite checks that the
conformance runner passes it on P4 and P6 (model_tests/test_conformance.py).
"""

from __future__ import annotations

import json
import sys
from typing import Any

STEPS = ("P4", "P6")
COLLECTIONS = ("map", "vec", "set", "depq")


def p6(case: dict[str, Any]) -> dict[str, Any]:
    """P6: R7 may prune up to the committed index itself."""
    return {"index": case["input"]["committed"]["index"]}


def p4(case: dict[str, Any]) -> dict[str, Any]:
    """P4: look the anchor up, clamp to the batch, revive the TTL, then serve or ignore."""
    provider = case["pre"]
    context = case["context"]
    sender = case["input"]["sender"]
    request = case["input"]["request"]
    anchor = request["anchor"]
    now = context["now_ms"]
    config = context["config"]
    mosaik_expiry = "H7" in context["profile"]["hazards"]
    available = provider["available"]
    held = [entry for position, entry in available if position == anchor]
    if not held:
        return _ignored(provider, "unknown_anchor")
    entry = held[0]
    if entry["deadline_ms"] <= now and not mosaik_expiry:
        return _ignored(provider, "unknown_anchor")
    start = request["range"]["start"]
    end = min(request["range"]["end"], start + config["fetch_batch_size"])
    if end <= start:
        return _ignored(provider, "empty_range")
    deadline = now + config["snapshot_ttl_ms"]
    post = {
        **provider,
        "available": [
            [pos, {**e, "deadline_ms": deadline}] if pos == anchor else [pos, e]
            for pos, e in available
        ],
    }
    revive = {
        "type": "ArmTimer",
        "timer": {"kind": "snapshot_ttl", "peer": None, "anchor": anchor},
        "deadline_ms": deadline,
    }
    items = entry["snapshot"]["items"]
    if end > len(items):
        ignored = {"type": "Ignored", "reason": "out_of_bounds", "detail": ""}
        return {"post": post, "effects": [revive, ignored]}
    response = {
        "type": "FetchDataResponse",
        "anchor": anchor,
        "offset": start,
        "items": items[start:end],
    }
    return {"post": post, "effects": [revive, {"type": "Send", "to": sender, "message": response}]}


def _ignored(provider: dict[str, Any], reason: str) -> dict[str, Any]:
    return {"post": provider, "effects": [{"type": "Ignored", "reason": reason, "detail": ""}]}


def answer(request: dict[str, Any]) -> dict[str, Any]:
    """Answer one request (hello, step, or an op this adapter does not know)."""
    op = request.get("op")
    if op == "hello":
        return {
            "implementation": "external-minimal-adapter",
            "version": "1",
            "protocol_version": 1,
            "profiles": ["reference", "mosaik-0.3.13"],
            "steps": list(STEPS),
            "collections": list(COLLECTIONS),
            "ops": ["hello", "step"],
        }
    if op != "step":
        raise NotImplementedError(f"unknown op {op!r}")
    step = request["step"]
    if step == "P6":
        return p6(request)
    if step == "P4" and request["collection"] in COLLECTIONS:
        return p4(request)
    raise NotImplementedError(f"step {step} on {request['collection']}")


def main() -> int:
    """Serve requests until end of input."""
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        reply: dict[str, Any] = {"id": request.get("id")}
        try:
            reply["result"] = answer(request)
        except NotImplementedError as exc:
            reply["unsupported"] = str(exc)
        except (KeyError, TypeError, ValueError) as exc:
            reply["error"] = {"kind": "MalformedRequest", "message": repr(exc)}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
