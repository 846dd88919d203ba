"""The adapter protocol (docs/formats/adapter.md): requests, answers, the op table.

One table, :data:`OPS`, lists every op the protocol defines, with the request
fields each carries; the runner sends only ops listed there and advertised by the
adapter's ``hello``, and the reference adapter serves exactly the ops it has
handlers for (everything else is ``unsupported``). The node-level ops of issue #11
(:data:`RESERVED_OPS`) are added as entries of this table with their fields.

Answers are read strictly (:func:`parse_answer`): a line that is not one JSON
object, an ``id`` that is not the expected one, not exactly one of ``result`` /
``error`` / ``unsupported``, or an ``error`` without a string ``kind`` is a
:class:`MalformedAnswer` whose message names the field.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from impl.codec import canonical_json
from impl.collections import COLLECTIONS
from impl.steps import STEP_IDS
from spec.conformance.conventions import COLLECTION_STEPS
from spec.conformance.jsonio import JSONError, json_type, strict_loads
from spec.conformance.nodeops import NODE_OP_FIELDS

__all__ = [
    "ANSWER_KINDS",
    "OPS",
    "PROTOCOL",
    "PROTOCOL_VERSION",
    "RESERVED_OPS",
    "RUNNER_OPS",
    "Answer",
    "Hello",
    "MalformedAnswer",
    "OpSpec",
    "hello_request",
    "parse_answer",
    "parse_hello",
    "step_request",
]

PROTOCOL = "snapsync-adapter"
PROTOCOL_VERSION = 1
ANSWER_KINDS = ("result", "error", "unsupported")


@dataclass(frozen=True, slots=True)
class OpSpec:
    """One op: the request fields it carries besides ``id`` and ``op``."""

    name: str
    fields: tuple[str, ...]
    doc: str


OPS: dict[str, OpSpec] = {
    "hello": OpSpec(
        "hello",
        ("ops", "protocol", "version"),
        "first request of every process: the protocol and the ops the runner may send",
    ),
    "step": OpSpec(
        "step",
        ("case", "collection", "config", "context", "input", "pre", "profile", "step"),
        "run one step on one vector (the step call conventions)",
    ),
}
# The node-level ops (issue #11): the adapter plays whole nodes for snapsync drive.
OPS.update(
    {
        name: OpSpec(name, fields, "node level: see spec.conformance.nodeops")
        for name, fields in NODE_OP_FIELDS.items()
    }
)
"""Every op of protocol version 1, by name."""

RESERVED_OPS = (
    "node_new",
    "receive",
    "poll",
    "client_write",
    "bond_terminated",
    "next_deadline",
    "observe",
)
"""Op names reserved for the node level (issue #11, ``snapsync drive``)."""

RUNNER_OPS = ("hello", "step")
"""The ops ``snapsync conform`` sends for step cases (sequence cases add the node-level ops
they replay)."""


class MalformedAnswer(ValueError):
    """An adapter's answer is not a well-formed answer line; ``str()`` says where and why."""


@dataclass(frozen=True, slots=True)
class Answer:
    """One well-formed answer: its ``kind`` (result / error / unsupported) and value.

    ``kind`` is ``"exact"`` (value ``None``) when the runner found the line byte for byte
    equal to the reference's answer and did not parse it."""

    id: int
    kind: str
    value: Any


def hello_request(request_id: int = 0, ops: Sequence[str] = RUNNER_OPS) -> str:
    """Return the ``hello`` request line (without the newline); ``ops`` are the ops the
    runner may send (``conform`` adds the node-level ops when it runs sequence cases).

    >>> hello_request()
    '{"id":0,"op":"hello","ops":["hello","step"],"protocol":"snapsync-adapter","version":1}'
    """
    return canonical_json(
        {
            "id": request_id,
            "op": "hello",
            "ops": list(ops),
            "protocol": PROTOCOL,
            "version": PROTOCOL_VERSION,
        }
    )


def step_request(request_id: int, head: str, tail: str) -> str:
    """Return a ``step`` request line from its two precomputed halves.

    A step request is canonical JSON; its keys sort as ``case collection config context``
    | ``id`` | ``input op pre profile step``, so the runner serialises a case's two
    halves once (:func:`step_request_parts`) and only formats the id per request.
    """
    return f'{head},"id":{request_id},{tail}'


def step_request_parts(case: dict[str, Any]) -> tuple[str, str]:
    """Return the text before and after ``"id"`` of the canonical step request of ``case``.

    >>> h, t = step_request_parts({"id": "P6-x", "step": "P6", "profile": "reference",
    ...     "collection": "map", "config": {}, "pre": None, "context": None, "input": {}})
    >>> step_request(3, h, t)
    '{"case":"P6-x","collection":"map","config":{},"context":null,"id":3,"input":{},"op":"step","pre":null,"profile":"reference","step":"P6"}'
    """
    dump = canonical_json
    head = (
        f'{{"case":{dump(case["id"])},"collection":{dump(case["collection"])},'
        f'"config":{dump(case["config"])},"context":{dump(case["context"])}'
    )
    tail = (
        f'"input":{dump(case["input"])},"op":"step","pre":{dump(case["pre"])},'
        f'"profile":{dump(case["profile"])},"step":{dump(case["step"])}}}'
    )
    return head, tail


def parse_answer(line: bytes | str, expected_id: int) -> Answer:
    """Read one answer line strictly; raise :class:`MalformedAnswer` naming the field."""
    try:
        data = strict_loads(line)
    except JSONError as exc:
        raise MalformedAnswer(f"not a JSON line: {exc}") from None
    if not isinstance(data, dict):
        raise MalformedAnswer(f"expected a JSON object, got {json_type(data)}")
    if "id" not in data:
        raise MalformedAnswer("id: missing")
    got = data["id"]
    if isinstance(got, bool) or not isinstance(got, int) or got != expected_id:
        raise MalformedAnswer(
            f"id: expected {expected_id} (answers come in request order), got {got!r}"
        )
    kinds = [k for k in ANSWER_KINDS if k in data]
    extra = sorted(k for k in data if k != "id" and k not in ANSWER_KINDS)
    if extra:
        raise MalformedAnswer(f"{extra[0]}: unexpected field of an answer")
    if len(kinds) != 1:
        found = ", ".join(kinds) or "none"
        raise MalformedAnswer(f"expected exactly one of result, error, unsupported; got {found}")
    kind = kinds[0]
    value = data[kind]
    if kind == "result" and not isinstance(value, dict):
        raise MalformedAnswer(f"result: expected an object, got {json_type(value)}")
    if kind == "error":
        if not isinstance(value, dict):
            raise MalformedAnswer(f"error: expected an object, got {json_type(value)}")
        if not isinstance(value.get("kind"), str):
            raise MalformedAnswer("error.kind: expected a string")
    if kind == "unsupported" and not isinstance(value, str):
        raise MalformedAnswer(f"unsupported: expected a string (why), got {json_type(value)}")
    return Answer(got, kind, value)


@dataclass(frozen=True, slots=True)
class Hello:
    """What an adapter says it is and implements (the ``hello`` result)."""

    implementation: str
    version: str | None
    protocol_version: int
    profiles: tuple[str, ...]
    steps: frozenset[str]
    collections: frozenset[str]
    ops: frozenset[str]

    def supports(self, step: str, collection: str) -> str | None:
        """Return why a case of ``step``/``collection`` is unsupported, or None if it is not."""
        if "step" not in self.ops:
            return "the adapter does not serve the step op"
        if collection not in self.collections:
            return f"collection {collection} is not in the hello"
        if step in self.steps or (
            step in COLLECTION_STEPS and f"{step}.{collection}" in self.steps
        ):
            return None
        return f"step {step} is not in the hello"

    def as_json(self) -> dict[str, Any]:
        """Return the hello as reported (``--json``)."""
        return {
            "implementation": self.implementation,
            "version": self.version,
            "protocol_version": self.protocol_version,
            "profiles": list(self.profiles),
            "steps": sorted(self.steps),
            "collections": sorted(self.collections),
            "ops": sorted(self.ops),
        }


_HELLO_FIELDS = {
    "implementation",
    "version",
    "protocol_version",
    "profiles",
    "steps",
    "collections",
    "ops",
}


def _strings(value: Any, field: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise MalformedAnswer(f"result.{field}: expected an array of strings")
    return list(value)


def parse_hello(answer: Answer) -> Hello:
    """Check a ``hello`` answer; raise :class:`MalformedAnswer` naming the field."""
    if answer.kind != "result":
        raise MalformedAnswer(f"hello answered {answer.kind}: {answer.value!r}")
    data = answer.value
    for key in sorted(data):
        if key not in _HELLO_FIELDS:
            raise MalformedAnswer(f"result.{key}: unexpected field of the hello result")
    for key in ("implementation", "protocol_version", "profiles", "steps"):
        if key not in data:
            raise MalformedAnswer(f"result.{key}: missing")
    name = data["implementation"]
    if not isinstance(name, str) or not name:
        raise MalformedAnswer("result.implementation: expected a non-empty string")
    version = data.get("version")
    if version is not None and not isinstance(version, str):
        raise MalformedAnswer("result.version: expected a string")
    proto = data["protocol_version"]
    if isinstance(proto, bool) or not isinstance(proto, int):
        raise MalformedAnswer("result.protocol_version: expected an integer")
    if proto != PROTOCOL_VERSION:
        raise MalformedAnswer(
            f"result.protocol_version: the adapter speaks version {proto}, "
            f"this runner speaks {PROTOCOL_VERSION}"
        )
    steps = _strings(data["steps"], "steps")
    for i, step in enumerate(steps):
        base, _, kind = step.partition(".")
        if base not in STEP_IDS or (
            kind and (base not in COLLECTION_STEPS or kind not in COLLECTIONS)
        ):
            raise MalformedAnswer(f"result.steps[{i}]: unknown step id {step!r}")
    collections = _strings(data.get("collections", sorted(COLLECTIONS)), "collections")
    for i, kind in enumerate(collections):
        if kind not in COLLECTIONS:
            raise MalformedAnswer(f"result.collections[{i}]: unknown collection {kind!r}")
    ops = _strings(data.get("ops", list(RUNNER_OPS)), "ops")
    return Hello(
        implementation=name,
        version=version,
        protocol_version=proto,
        profiles=tuple(_strings(data["profiles"], "profiles")),
        steps=frozenset(steps),
        collections=frozenset(collections),
        ops=frozenset(ops),
    )
