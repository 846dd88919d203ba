"""JSON Schemas of the conformance formats, generated from the conventions and the forms.

:func:`case_schema` describes one vector file: the envelope (docs/formats/vectors.md)
and, per step id (and per collection for S1–S3), the exact form of ``pre``,
``context``, ``input`` and the expected ``result`` that the step's convention gives
them (:mod:`spec.conformance.conventions`), down to every record field, following
the rules of docs/formats/json.md: exact fields, u64 ranges, 64 lowercase hex
digits for peer ids, tags where the static type does not fix the class, data as
integers, strings or arrays. :func:`manifest_schema`, :func:`request_schema`,
:func:`answer_schema` and :func:`expectations_schema` describe the other files;
:func:`node_op_schemas` the node-level requests and :func:`sequence_schema` a
sequence case (issue #11, :mod:`spec.conformance.sequences`).

The schemas are committed in ``spec/schemas/`` (so an implementer can generate a
loader from them) and a test keeps each file equal to what this module generates
and validates every generated vector against it (a schema that drifts from the files
is the anchor projects' most common complaint).
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from enum import Enum
from pathlib import Path
from typing import Any, NewType

from pyrsistent.typing import PMap, PVector

from impl.codec import DATUM
from impl.collections import COLLECTIONS
from impl.collections.base import Snapshot, StateMachine
from impl.ids import UniqueId
from impl.profile import Behaviour
from impl.registry import TAGS, is_tagged, tag_of
from impl.types import U64_MAX, Index, PeerId, Term
from spec.conformance.cases import (
    CASE_FIELDS,
    FORMAT,
    FORMAT_VERSION,
    SOURCE_KINDS,
    WHY_FIELDS,
    WHY_KINDS,
)
from spec.conformance.conventions import (
    COLLECTION_STATE,
    COLLECTION_STEPS,
    CONTEXT_KINDS,
    CONVENTIONS,
    ERROR_KINDS,
)

__all__ = [
    "SCHEMA_FILES",
    "answer_schema",
    "case_schema",
    "expectations_schema",
    "manifest_schema",
    "node_op_schemas",
    "request_schema",
    "sequence_schema",
    "write_schemas",
]

_DRAFT = "https://json-schema.org/draft/2020-12/schema"
_BASE = "https://snapsync.invalid/schemas/"
_I64_MIN = -(1 << 63)


def _collection_types() -> dict[str, tuple[type, type]]:
    from impl import forms

    types_: dict[str, tuple[type, type]] = forms.COLLECTION_TYPES
    return types_


_INLINE: dict[str, dict[str, Any]] = {
    "u64": {"type": "integer", "minimum": 0, "maximum": U64_MAX},
    "int": {"type": "integer", "minimum": _I64_MIN, "maximum": U64_MAX},
    "hex32": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
}


class _Builder:
    """Turns static types into schemas, collecting one ``$defs`` entry per record."""

    def __init__(self) -> None:
        # Small forms are written inline (a $ref costs a lookup per value); a datum is one
        # subschema whose keywords each apply to one JSON type (no anyOf per value).
        self.defs: dict[str, Any] = {
            "datum": {
                "type": ["integer", "string", "array"],
                "minimum": 0,
                "maximum": U64_MAX,
                "items": {"$ref": "#/$defs/datum"},
            },
        }
        self._any_pending = False

    def ref(self, name: str) -> dict[str, Any]:
        inline = _INLINE.get(name)
        return dict(inline) if inline is not None else {"$ref": f"#/$defs/{name}"}

    def of(self, tp: Any) -> dict[str, Any]:
        if tp is COLLECTION_STATE:
            raise TypeError("resolve the collection state first")
        text = tp if isinstance(tp, str) else getattr(tp, "__forward_arg__", None)
        if text is not None and "Datum" in str(text):
            return self.ref("datum")
        if tp in ("Datum", "Item") or tp is DATUM:
            return self.ref("datum")
        if tp is Any or tp is object:
            self._any_pending = True
            return self.ref("any")
        if tp is None or tp is type(None):
            return {"type": "null"}
        if isinstance(tp, NewType):
            if tp in (Term, Index):
                return self.ref("u64")
            return self.of(tp.__supertype__)
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if origin in (typing.Union, types.UnionType):
            if len(args) == 3 and args[0] is int and args[1] is str:
                return self.ref("datum")
            members = [a for a in args if a is not type(None)]
            inner = self.of(members[0]) if len(members) == 1 else self.union(members)
            if len(members) < len(args):
                return {"anyOf": [inner, {"type": "null"}]}
            return inner
        if origin is tuple:
            if len(args) == 2 and args[1] is Ellipsis:
                return {"type": "array", "items": self.of(args[0])}
            return {
                "type": "array",
                "prefixItems": [self.of(a) for a in args],
                "minItems": len(args),
                "maxItems": len(args),
            }
        if origin is frozenset:
            return {"type": "array", "items": self.of(args[0]), "uniqueItems": True}
        if origin is PVector or (
            origin is not None and getattr(origin, "__name__", "") == "PVector"
        ):
            return {"type": "array", "items": self.of(args[0])}
        if origin is PMap or (origin is not None and getattr(origin, "__name__", "") == "PMap"):
            pair = {
                "type": "array",
                "prefixItems": [self.of(args[0]), self.of(args[1])],
                "minItems": 2,
                "maxItems": 2,
            }
            return {"type": "array", "items": pair}
        if tp is Snapshot:
            return self.union([snap for _, snap in _collection_types().values()])
        if tp is StateMachine:
            return {"enum": list(COLLECTIONS)}
        if isinstance(tp, type):
            if tp is PeerId or tp is UniqueId:
                return self.ref("hex32")
            if issubclass(tp, Enum):
                return {"enum": [m.value for m in tp]}
            if tp is bool:
                return {"type": "boolean"}
            if tp is int:
                return self.ref("int")
            if tp is str:
                return {"type": "string"}
            if tp is bytes:
                return {"type": "string", "pattern": "^([0-9a-f]{2})*$"}
            if dataclasses.is_dataclass(tp):
                return self.record(tp)
        raise TypeError(f"no schema for {tp!r}")

    def _record_body(self, cls: type) -> tuple[dict[str, Any], list[str]]:
        for kind, (state, snap) in _collection_types().items():
            if cls in (state, snap):
                item = self.ref("datum")
                if kind == "map":
                    item = {
                        "type": "array",
                        "prefixItems": [item, item],
                        "minItems": 2,
                        "maxItems": 2,
                    }
                elif kind == "depq":
                    item = {
                        "type": "array",
                        "prefixItems": [item, item, item],
                        "minItems": 3,
                        "maxItems": 3,
                    }
                props: dict[str, Any] = {"items": {"type": "array", "items": item}}
                if kind in ("cell", "once"):
                    props["items"]["maxItems"] = 1
                    if cls is snap:
                        props["range_end_ignored"] = {"type": "boolean"}
                return props, list(props)
        from impl.codec import _LOCALNS  # the codec's reading of Datum/Item annotations

        hints = typing.get_type_hints(cls, localns=_LOCALNS)
        props = {}
        for f in dataclasses.fields(cls):
            props[f.name] = self.of(hints[f.name])
        return props, [f.name for f in dataclasses.fields(cls)]

    def record(self, cls: type) -> dict[str, Any]:
        name = f"rec.{cls.__module__.rsplit('.', 1)[-1]}.{cls.__qualname__}"
        if name not in self.defs:
            self.defs[name] = {}  # placeholder: recursive records terminate
            props, required = self._record_body(cls)
            self.defs[name] = {
                "type": "object",
                "additionalProperties": False,
                "required": required,
                "properties": props,
            }
        return self.ref(name)

    def tagged(self, cls: type) -> dict[str, Any]:
        if not is_tagged(cls):
            raise TypeError(f"{cls.__name__} is not a tagged record")
        tag = tag_of(cls)
        name = f"tag.{tag}"
        if name not in self.defs:
            self.defs[name] = {}
            props, required = self._record_body(cls)
            self.defs[name] = {
                "type": "object",
                "additionalProperties": False,
                "required": [*required, "type"],
                "properties": {**props, "type": {"const": tag}},
            }
        return self.ref(name)

    def union(self, members: list[Any]) -> dict[str, Any]:
        """A tagged union, discriminated by ``type`` (one branch validated, not all)."""
        tags = [tag_of(m) for m in members]
        name = "union." + ".".join(sorted(tags))
        if name not in self.defs:
            self.defs[name] = {}
            self.defs[name] = {
                "type": "object",
                "required": ["type"],
                "properties": {"type": {"enum": sorted(tags)}},
                "allOf": [
                    {"if": {"properties": {"type": {"const": tag_of(m)}}}, "then": self.tagged(m)}
                    for m in members
                ],
            }
        return self.ref(name)

    def finish(self) -> dict[str, Any]:
        """Add the ``any`` definition (a datum or any tagged record) if it is used."""
        if self._any_pending and "any" not in self.defs:
            self.defs["any"] = {}
            tags = sorted(TAGS)
            branches = [
                {"if": {"properties": {"type": {"const": tag}}}, "then": self.tagged(TAGS[tag])}
                for tag in tags
            ]
            self.defs["any"] = {
                "anyOf": [
                    self.ref("datum"),
                    {
                        "type": "object",
                        "required": ["type"],
                        "properties": {"type": {"enum": tags}},
                        "allOf": branches,
                    },
                ]
            }
        return dict(sorted(self.defs.items()))


def _step_rules(b: _Builder) -> list[dict[str, Any]]:
    """One ``if step == X then {...}`` rule per step (per collection for S1–S3)."""
    rules = []
    for conv in CONVENTIONS.values():
        kinds = list(COLLECTIONS) if conv.step in COLLECTION_STEPS else [None]
        for kind in kinds:
            state_type = type(COLLECTIONS[kind or "map"].initial())

            def resolve(tp: Any, state_type: type = state_type) -> Any:
                return state_type if tp is COLLECTION_STATE else tp

            pre = {"type": "null"} if conv.pre is None else b.of(resolve(conv.pre))
            context = (
                {"type": "null"} if conv.context is None else b.of(CONTEXT_KINDS[conv.context][0])
            )
            inputs = {
                "type": "object",
                "additionalProperties": False,
                "required": list(conv.input_names),
                "properties": {f.name: b.of(resolve(f.tp)) for f in conv.inputs},
            }
            result = {
                "type": "object",
                "additionalProperties": False,
                "required": list(conv.result_names),
                "properties": {f.name: b.of(resolve(f.tp)) for f in conv.results},
            }
            when: dict[str, Any] = {"step": {"const": conv.step}}
            if kind is not None:
                when["collection"] = {"const": kind}
            rules.append(
                {
                    "if": {"properties": when, "required": list(when)},
                    "then": {
                        "properties": {
                            "pre": pre,
                            "context": context,
                            "input": inputs,
                            "expected": {
                                "anyOf": [
                                    {"required": ["error"]},
                                    {"properties": {"result": result}},
                                ]
                            },
                        }
                    },
                }
            )
    return rules


def _error_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["kind"],
        "properties": {
            "kind": {"enum": [*ERROR_KINDS, "MalformedRequest"]},
            "hazard": {"type": "string", "pattern": "^H[0-9]+$"},
            "message": {"type": "string"},
            "field": {"type": "string"},
        },
        "additionalProperties": False,
    }


def case_schema() -> dict[str, Any]:
    """Return the JSON Schema of one vector file."""
    b = _Builder()
    rules = _step_rules(b)
    why = {
        "type": "object",
        "additionalProperties": False,
        "required": list(WHY_FIELDS),
        "properties": {
            "kind": {"enum": list(WHY_KINDS)},
            "branch": {"type": "string", "minLength": 1},
            "hazards": {"type": "array", "items": {"type": "string", "pattern": "^H[0-9]+$"}},
            "behaviours": {"type": "array", "items": {"enum": [b.value for b in Behaviour]}},
            "effect": {"type": "string", "minLength": 1},
            "source": {
                "type": "object",
                "additionalProperties": False,
                "required": ["kind", "name"],
                "properties": {"kind": {"enum": list(SOURCE_KINDS)}, "name": {"type": "string"}},
            },
            "profiles_agree": {"type": "boolean"},
            "reachable_in": {"type": "array", "items": {"type": "string"}},
            "description": {"type": "string", "minLength": 1},
        },
    }
    from impl.config import Config

    return {
        "$schema": _DRAFT,
        "$id": _BASE + "conformance-case.schema.json",
        "title": "snapsync step vector (one case)",
        "description": (
            "One conformance case (docs/formats/vectors.md): a step call's pre, context and "
            "input in the forms of its step call convention, and its expected outcome. "
            "Generated by spec/conformance/schemas.py."
        ),
        "type": "object",
        "additionalProperties": False,
        "required": list(CASE_FIELDS),
        "properties": {
            "format": {"const": FORMAT},
            "format_version": {"const": FORMAT_VERSION},
            "kind": {"const": "step"},
            "id": {"type": "string", "pattern": "^[A-Z][0-9]+a?-[0-9a-f]{16}$"},
            "step": {"enum": list(CONVENTIONS)},
            "profile": {"type": "string", "minLength": 1},
            "collection": {"enum": list(COLLECTIONS)},
            "config": b.of(Config),
            "pre": {},
            "context": {"type": ["object", "null"]},
            "input": {"type": "object"},
            "expected": {
                "type": "object",
                "minProperties": 1,
                "maxProperties": 1,
                "properties": {"result": {"type": "object"}, "error": _error_schema()},
                "additionalProperties": False,
            },
            "why": why,
        },
        "allOf": rules,
        "$defs": b.finish(),
    }


def manifest_schema() -> dict[str, Any]:
    """Return the JSON Schema of ``manifest.json``."""
    counts = {"type": "object", "additionalProperties": {"type": "integer", "minimum": 1}}
    return {
        "$schema": _DRAFT,
        "$id": _BASE + "conformance-manifest.schema.json",
        "title": "snapsync step vector tree manifest",
        "description": "DIR/manifest.json of a vector tree (docs/formats/vectors.md).",
        "type": "object",
        "additionalProperties": False,
        "required": [
            "format",
            "format_version",
            "snapsync_version",
            "profiles",
            "cases",
            "bytes",
            "counts",
            "files",
            "conventions",
        ],
        "properties": {
            "format": {"const": FORMAT},
            "format_version": {"const": FORMAT_VERSION},
            "snapsync_version": {"type": "string"},
            "profiles": {"type": "array", "items": {"type": "string"}},
            "cases": {"type": "integer", "minimum": 0},
            "bytes": {"type": "integer", "minimum": 0},
            "counts": {"type": "object", "additionalProperties": counts},
            "files": {
                "type": "object",
                "propertyNames": {
                    "pattern": (
                        "^[^/]+/([A-Z][0-9]+a?/[A-Z][0-9]+a?|node/node)-[0-9a-f]{16}\\.json$"
                    )
                },
                "additionalProperties": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
            },
            "conventions": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": [
                        "step",
                        "title",
                        "function",
                        "pre",
                        "context",
                        "input",
                        "result",
                        "produces",
                        "effect_order",
                    ],
                    "properties": {
                        "step": {"enum": list(CONVENTIONS)},
                        "title": {"type": "string"},
                        "function": {"type": "string"},
                        "pre": {"type": "string"},
                        "context": {"enum": [*CONTEXT_KINDS, None]},
                        "input": {"type": "array", "items": {"$ref": "#/$defs/field"}},
                        "result": {"type": "array", "items": {"$ref": "#/$defs/field"}},
                        "produces": {"type": "array", "items": {"type": "string"}},
                        "effect_order": {"type": "string"},
                    },
                },
            },
        },
        "$defs": {
            "field": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name", "form", "doc"],
                "properties": {
                    "name": {"type": "string"},
                    "form": {"type": "string"},
                    "doc": {"type": "string"},
                },
            }
        },
    }


def request_schema() -> dict[str, Any]:
    """Return the JSON Schema of one adapter request line (protocol version 1)."""
    from impl.config import Config

    b = _Builder()
    config = b.of(Config)
    hello = {
        "type": "object",
        "additionalProperties": False,
        "required": ["id", "op", "ops", "protocol", "version"],
        "properties": {
            "id": {"const": 0},
            "op": {"const": "hello"},
            "ops": {"type": "array", "items": {"type": "string"}},
            "protocol": {"const": "snapsync-adapter"},
            "version": {"const": 1},
        },
    }
    step = {
        "type": "object",
        "additionalProperties": False,
        "required": [
            "id",
            "op",
            "case",
            "step",
            "profile",
            "collection",
            "config",
            "pre",
            "context",
            "input",
        ],
        "properties": {
            "id": {"type": "integer", "minimum": 1},
            "op": {"const": "step"},
            "case": {"type": "string"},
            "step": {"enum": list(CONVENTIONS)},
            "profile": {"type": "string"},
            "collection": {"enum": list(COLLECTIONS)},
            "config": config,
            "pre": {},
            "context": {"type": ["object", "null"]},
            "input": {"type": "object"},
        },
    }
    return {
        "$schema": _DRAFT,
        "$id": _BASE + "adapter-request.schema.json",
        "title": "snapsync adapter request (one line)",
        "description": (
            "A request of the adapter protocol (docs/formats/adapter.md). The pre, context "
            "and input of a step request are a case's, in the forms of "
            "conformance-case.schema.json; the node-level ops are snapsync drive's."
        ),
        "oneOf": [
            hello,
            step,
            *(_with_id(schema) for schema in node_op_schemas(b, config).values()),
        ],
        "$defs": b.finish(),
    }


def answer_schema() -> dict[str, Any]:
    """Return the JSON Schema of one adapter answer line (protocol version 1)."""
    envelope = {"id": {"type": "integer", "minimum": 0}}
    strings = {"type": "array", "items": {"type": "string"}}
    hello = {
        "type": "object",
        "additionalProperties": False,
        "required": ["implementation", "protocol_version", "profiles", "steps"],
        "properties": {
            "implementation": {"type": "string", "minLength": 1},
            "version": {"type": ["string", "null"]},
            "protocol_version": {"const": 1},
            "profiles": strings,
            "steps": strings,
            "collections": strings,
            "ops": strings,
        },
    }
    return {
        "$schema": _DRAFT,
        "$id": _BASE + "adapter-answer.schema.json",
        "title": "snapsync adapter answer (one line)",
        "description": (
            "An answer of the adapter protocol (docs/formats/adapter.md): the request's id "
            "and exactly one of result, error, unsupported. A hello result has the fields "
            "of $defs.hello; a step result the result fields of the step's convention."
        ),
        "type": "object",
        "oneOf": [
            {
                "additionalProperties": False,
                "required": ["id", "result"],
                "properties": {**envelope, "result": {"type": "object"}},
            },
            {
                "additionalProperties": False,
                "required": ["id", "error"],
                "properties": {**envelope, "error": _error_schema()},
            },
            {
                "additionalProperties": False,
                "required": ["id", "unsupported"],
                "properties": {**envelope, "unsupported": {"type": "string"}},
            },
        ],
        "$defs": {"hello": hello},
    }


def expectations_schema() -> dict[str, Any]:
    """Return the JSON Schema of an expected-failures file (``conform --expect-fail``)."""
    selector = {"type": "string", "minLength": 1}
    return {
        "$schema": _DRAFT,
        "$id": _BASE + "expected-failures.schema.json",
        "title": "snapsync conform expected failures",
        "description": "Known differences of an implementation, each with its reason "
        "(docs/conformance.md).",
        "type": "object",
        "additionalProperties": False,
        "required": ["format", "version", "entries"],
        "properties": {
            "format": {"const": "snapsync-expected-failures"},
            "version": {"const": 1},
            "entries": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["reason"],
                    "minProperties": 2,
                    "properties": {
                        "reason": {"type": "string", "pattern": "\\S"},
                        "case": selector,
                        "suite": selector,
                        "profile": selector,
                        "hazard": selector,
                    },
                },
            },
        },
    }


# -- node-level ops and sequence cases (issue #11) ------------------------------------------


def node_op_schemas(b: _Builder, config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Return each node-level request's schema without its ``id`` (docs/formats/adapter.md)."""
    from impl.messages import Command, Message

    def op(name: str, **fields: Any) -> dict[str, Any]:
        return {
            "type": "object",
            "additionalProperties": False,
            "required": ["op", "node", *fields],
            "properties": {"op": {"const": name}, "node": {"type": "string"}, **fields},
        }

    u64 = b.ref("u64")
    ctx = {
        "type": "object",
        "additionalProperties": False,
        "required": ["now_ms", "now_wall_ms", "bonds", "election_timeout_ms"],
        "properties": {
            "now_ms": u64,
            "now_wall_ms": b.ref("int"),
            "bonds": {"type": "array", "items": b.ref("hex32"), "uniqueItems": True},
            "election_timeout_ms": u64,
        },
    }
    return {
        "node_new": op(
            "node_new",
            peer=b.ref("hex32"),
            writer={"type": "boolean"},
            collection={"enum": list(COLLECTIONS)},
            config=config,
            heartbeat_interval_ms=u64,
            profile={"type": "string"},
            now_ms=u64,
            election_timeout_ms=u64,
        ),
        "receive": op("receive", ctx=ctx, message=b.of(Message), **{"from": b.ref("hex32")}),
        "poll": op("poll", ctx=ctx),
        "client_write": op("client_write", ctx=ctx, command=b.of(Command)),
        "bond_terminated": op("bond_terminated", ctx=ctx, peer=b.ref("hex32")),
        "next_deadline": op("next_deadline"),
        "observe": op("observe"),
    }


def _with_id(schema: dict[str, Any]) -> dict[str, Any]:
    return {
        **schema,
        "required": ["id", *schema["required"]],
        "properties": {"id": {"type": "integer", "minimum": 1}, **schema["properties"]},
    }


def sequence_schema() -> dict[str, Any]:
    """Return the JSON Schema of one sequence case (docs/formats/vectors.md)."""
    from impl.config import Config
    from impl.effects import Broadcast, Send
    from impl.observe import Observation
    from spec.conformance.sequences import SEQUENCE_OPS, SEQUENCE_STEP

    b = _Builder()
    config = b.of(Config)
    ops = node_op_schemas(b, config)
    answer = {
        "oneOf": [
            {
                "type": "object",
                "additionalProperties": False,
                "required": ["result"],
                "properties": {
                    "result": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["observation"],
                        "properties": {
                            "observation": b.of(Observation),
                            "effects": {"type": "array", "items": b.union([Send, Broadcast])},
                        },
                    }
                },
            },
            {
                "type": "object",
                "additionalProperties": False,
                "required": ["error"],
                "properties": {"error": _error_schema()},
            },
        ]
    }
    case = case_schema()
    return {
        "$schema": _DRAFT,
        "$id": _BASE + "conformance-sequence.schema.json",
        "title": "snapsync sequence vector (one case)",
        "description": (
            "A node's run as node-level ops of the adapter protocol, with the reference's "
            "answer after each (docs/formats/vectors.md, sequence cases). Generated by "
            "spec/conformance/schemas.py."
        ),
        "type": "object",
        "additionalProperties": False,
        "required": list(CASE_FIELDS),
        "properties": {
            "format": {"const": FORMAT},
            "format_version": {"const": FORMAT_VERSION},
            "kind": {"const": "sequence"},
            "id": {"type": "string", "pattern": f"^{SEQUENCE_STEP}-[0-9a-f]{{16}}$"},
            "step": {"const": SEQUENCE_STEP},
            "profile": {"type": "string", "minLength": 1},
            "collection": {"enum": list(COLLECTIONS)},
            "config": config,
            "pre": {"type": "null"},
            "context": {
                "type": "object",
                "additionalProperties": False,
                "required": ["peer", "writer", "heartbeat_interval_ms"],
                "properties": {
                    "peer": b.ref("hex32"),
                    "writer": {"type": "boolean"},
                    "heartbeat_interval_ms": b.ref("u64"),
                },
            },
            "input": {
                "type": "object",
                "additionalProperties": False,
                "required": ["ops"],
                "properties": {
                    "ops": {
                        "type": "array",
                        "minItems": 1,
                        "prefixItems": [ops["node_new"]],
                        "items": {"oneOf": [ops[name] for name in SEQUENCE_OPS]},
                    }
                },
            },
            "expected": {
                "type": "object",
                "additionalProperties": False,
                "required": ["result"],
                "properties": {
                    "result": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["answers"],
                        "properties": {"answers": {"type": "array", "items": answer}},
                    }
                },
            },
            "why": case["properties"]["why"],
        },
        "$defs": b.finish(),
    }


SCHEMA_FILES = {
    "conformance-case.schema.json": case_schema,
    "conformance-manifest.schema.json": manifest_schema,
    "adapter-request.schema.json": request_schema,
    "adapter-answer.schema.json": answer_schema,
    "expected-failures.schema.json": expectations_schema,
    "conformance-sequence.schema.json": sequence_schema,
}
"""Each committed schema file and the function that generates it."""


def write_schemas(directory: Path) -> list[Path]:
    """Write every schema of :data:`SCHEMA_FILES` under ``directory`` (sorted keys, indented)."""
    written = []
    for name, make in SCHEMA_FILES.items():
        path = Path(directory) / name
        path.write_text(json.dumps(make(), indent=1, sort_keys=True, ensure_ascii=False) + "\n")
        written.append(path)
    return written


if __name__ == "__main__":  # regenerate the committed files: python -m spec.conformance.schemas
    write_schemas(Path(__file__).resolve().parent.parent / "schemas")
