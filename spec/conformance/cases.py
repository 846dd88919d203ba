"""One step vector (a *case*): its envelope, its content-derived id, its ``why``.

A case file (docs/formats/vectors.md) is one canonical JSON object:

``format``, ``format_version``, ``kind`` (``"step"``; ``"sequence"`` is reserved for
issue #11), ``id``, ``step``, ``profile``, ``collection``, ``config``, ``pre``,
``context``, ``input``, ``expected`` (exactly one of ``{"result": ...}`` /
``{"error": ...}``) and ``why``.

The id is ``<step>-<16 hex digits>``: the start of the sha256 of the canonical JSON
of everything that defines the call except the profile (``step``, ``collection``,
``config``, ``pre``, ``context`` without its ``profile``, ``input``). Regenerating
gives the same ids, and the two profiles' vectors of one input share the id.

:func:`check_case` reads a case strictly (readers are verifiers): every field
present, no other, of the right JSON type, its coordinates agreeing with where the
file lies. The deep forms of ``pre``/``context``/``input`` are the conventions'
(checked by the JSON Schema and by decoding them, ``snapsync vectors verify``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from impl.codec import canonical_json
from impl.collections import COLLECTIONS
from impl.errors import InvalidInput
from impl.steps import STEP_IDS
from spec.conformance.jsonio import json_type

__all__ = [
    "CASE_FIELDS",
    "FORMAT",
    "FORMAT_VERSION",
    "SOURCE_KINDS",
    "WHY_FIELDS",
    "WHY_KINDS",
    "VectorError",
    "case_id",
    "check_case",
    "outcome_label",
]

FORMAT = "snapsync-step-vectors"
FORMAT_VERSION = 1

CASE_FIELDS = (
    "format",
    "format_version",
    "kind",
    "id",
    "step",
    "profile",
    "collection",
    "config",
    "pre",
    "context",
    "input",
    "expected",
    "why",
)
WHY_FIELDS = (
    "kind",
    "branch",
    "hazards",
    "behaviours",
    "effect",
    "source",
    "profiles_agree",
    "reachable_in",
    "description",
)
WHY_KINDS = ("valid", "rejected", "ignored")
"""valid: the step acts; ignored: it returns Ignored (a documented ignore);
rejected: a typed error."""
SOURCE_KINDS = ("scenario", "simulation", "hunt", "hand", "from-trace")
CASE_KINDS = ("step", "sequence")
"""Case kinds this version defines: one step, or a node's run as node-level ops (issue #11,
:mod:`spec.conformance.sequences`; their step id is ``node``)."""


class VectorError(InvalidInput):
    """A vector file (or the manifest) is malformed: ``where`` names the file, ``field``
    the path inside it (codec path syntax)."""

    def __init__(self, where: str, field: str, reason: str) -> None:
        self.where = where
        self.field = field
        self.reason = reason
        at = f"{where}: {field}" if field else where
        super().__init__(f"{at}: {reason}")


def case_id(step: str, collection: str, config: Any, pre: Any, context: Any, inputs: Any) -> str:
    """Return the content-derived id of a call (profile excluded, see the module docstring).

    >>> case_id("P6", "map", {}, None, None, {"committed": {"index": 9, "term": 1}})
    'P6-2a765c59123410ed'
    """
    if isinstance(context, dict) and "profile" in context:
        context = {k: v for k, v in context.items() if k != "profile"}
    body = {
        "step": step,
        "collection": collection,
        "config": config,
        "pre": pre,
        "context": context,
        "input": inputs,
    }
    digest = hashlib.sha256(canonical_json(body).encode()).hexdigest()
    return f"{step}-{digest[:16]}"


def outcome_label(expected: Mapping[str, Any]) -> list[str]:
    """Return the labels of an outcome: ``error:<Kind>`` or each ``ignored:<reason>``.

    >>> outcome_label({"error": {"kind": "NotLeader"}})
    ['error:NotLeader']
    >>> outcome_label({"result": {"effects": [{"type": "Ignored", "reason": "stale_offer"}]}})
    ['ignored:stale_offer']
    """
    if "error" in expected:
        return [f"error:{expected['error']['kind']}"]
    labels: list[str] = []
    effects = expected["result"].get("effects", [])
    for effect in effects if isinstance(effects, list) else []:
        if isinstance(effect, dict) and effect.get("type") == "Ignored":
            label = f"ignored:{effect.get('reason')}"
            if label not in labels:
                labels.append(label)
    return labels


def _need(data: Mapping[str, Any], key: str, kind: type, what: str, where: str) -> Any:
    value = data[key]
    if not isinstance(value, kind):
        raise VectorError(where, key, f"expected {what}, got {json_type(value)}")
    return value


def _exact(data: Any, fields: tuple[str, ...], where: str, prefix: str, what: str) -> None:
    if not isinstance(data, dict):
        raise VectorError(where, prefix.rstrip("."), f"expected an object, got {json_type(data)}")
    for key in sorted(data):
        if key not in fields:
            raise VectorError(where, prefix + key, f"unexpected field of {what}")
    for key in fields:
        if key not in data:
            raise VectorError(where, prefix + key, f"missing field of {what}")


def check_case(
    data: Any,
    where: str,
    *,
    profile: str | None = None,
    step: str | None = None,
    stem: str | None = None,
) -> dict[str, Any]:
    """Check a case's envelope strictly; return it. ``profile``/``step``/``stem`` are what
    its path says (``DIR/<profile>/<step>/<id>.json``), each checked when given.

    Raises :class:`VectorError` naming ``where`` and the field.
    """
    _exact(data, CASE_FIELDS, where, "", "a case")
    if data["format"] != FORMAT:
        raise VectorError(where, "format", f"expected {FORMAT!r}, got {data['format']!r}")
    if data["format_version"] != FORMAT_VERSION or isinstance(data["format_version"], bool):
        raise VectorError(
            where,
            "format_version",
            f"this reader reads version {FORMAT_VERSION}, got {data['format_version']!r}",
        )
    if data["kind"] not in CASE_KINDS:
        raise VectorError(where, "kind", f"unknown case kind {data['kind']!r}")
    cid = _need(data, "id", str, "a string", where)
    the_step = _need(data, "step", str, "a string", where)
    if data["kind"] == "sequence":
        if the_step != "node":
            raise VectorError(where, "step", f"a sequence case's step is 'node', got {the_step!r}")
    elif the_step not in STEP_IDS:
        raise VectorError(where, "step", f"unknown step id {the_step!r}")
    if not cid.startswith(f"{the_step}-"):
        raise VectorError(where, "id", f"{cid!r} does not start with its step {the_step!r}")
    _need(data, "profile", str, "a string", where)
    collection = _need(data, "collection", str, "a string", where)
    if collection not in COLLECTIONS:
        raise VectorError(where, "collection", f"unknown collection {collection!r}")
    _need(data, "config", dict, "an object", where)
    _need(data, "input", dict, "an object", where)
    if data["context"] is not None and not isinstance(data["context"], dict):
        raise VectorError(
            where, "context", f"expected an object or null, got {json_type(data['context'])}"
        )
    expected = data["expected"]
    if (
        not isinstance(expected, dict)
        or len(expected) != 1
        or not ("result" in expected or "error" in expected)
    ):
        raise VectorError(where, "expected", "expected exactly one of result, error")
    if "result" in expected and not isinstance(expected["result"], dict):
        raise VectorError(where, "expected.result", "expected an object")
    if "error" in expected and not (
        isinstance(expected["error"], dict) and isinstance(expected["error"].get("kind"), str)
    ):
        raise VectorError(where, "expected.error.kind", "expected a string")
    why = data["why"]
    _exact(why, WHY_FIELDS, where, "why.", "why")
    if why["kind"] not in WHY_KINDS:
        raise VectorError(where, "why.kind", f"expected one of {', '.join(WHY_KINDS)}")
    source = why["source"]
    if not isinstance(source, dict) or source.get("kind") not in SOURCE_KINDS:
        raise VectorError(where, "why.source.kind", f"expected one of {', '.join(SOURCE_KINDS)}")
    if profile is not None and data["profile"] != profile:
        raise VectorError(
            where, "profile", f"{data['profile']!r} but the file lies under {profile!r}"
        )
    if step is not None and the_step != step:
        raise VectorError(where, "step", f"{the_step!r} but the file lies under {step!r}")
    if stem is not None and cid != stem:
        raise VectorError(where, "id", f"{cid!r} but the file is named {stem!r}")
    case: dict[str, Any] = data
    return case
