"""Symbolic (z3) encodings of the six collections' commands and states (inventory §7).

Each encoding mirrors the impl's ``apply_one`` / ``step`` of one collection
(:mod:`impl.collections`) command by command, with the profile switches that change
a command's semantics (H4 for DEPQ's count, H5 for Map/Cell compare-exchange, H23 for
Vec ``Insert``). A state is a flat tuple of z3 terms; a command is a value of a z3
algebraic datatype with one constructor per command.

Domains (and why they suffice):

* values, priorities and Vec indices are unbounded symbolic integers in
  ``[0, 2**64)``: nothing is made idempotent by a small value domain;
* Map / Set / DEPQ keys range over two keys. Every command of these collections acts
  on each key independently (Clear, RemoveRange and Extend too: per key they are
  an assignment or a test of that key's own entry; DEPQ's CAP eviction is the one
  cross-key effect and the encoding assumes mosaik's default ``CAP = u64::MAX``, under
  which it never fires). A difference between two states is a difference at one key,
  and the projection of a run onto that key is a run of the same length with the same
  batch structure and the same counts (a command on another key becomes a counted
  no-op; a DEPQ mismatching compare-exchange on another key becomes one on this key
  with a never-stored expected value, still uncounted). So one key suffices to
  exhibit any counterexample; the second key lets multi-key commands (Extend,
  RemoveMany) mix keys in the rendered counterexamples;
* Extend / RemoveMany / RemoveKeys carry exactly two entries: an Extend is by
  definition the in-order fold of its entries' inserts, so longer ones are sequences
  of the same per-entry steps (one entry is an Insert, zero a counted no-op);
* Vec is not key-local: its state is a length plus ``2·N`` slots for a log of ``N``
  commands (no command adds more than two elements), so the encoding is exact for
  every log the bounded check considers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import z3

from impl.collections.encoding import encode
from impl.profile import Hazard, Profile
from spec.proofs.core import as_bool, as_int

__all__ = [
    "ENCODINGS",
    "KEYS",
    "U64",
    "CmdSort",
    "SymCollection",
    "SymCommand",
    "get_encoding",
]

KEYS = 2
"""Keys (Map, DEPQ) and elements (Set) of the symbolic domain; see the module docstring."""

U64 = 1 << 64

State = tuple[Any, ...]
"""A symbolic state: a flat tuple of z3 terms."""


@dataclass(frozen=True, slots=True)
class SymCommand:
    """A command read back from a z3 model: its constructor and its arguments."""

    name: str
    args: tuple[tuple[str, int | bool], ...]

    def arg(self, key: str) -> int | bool:
        """Return the argument called ``key``."""
        return dict(self.args)[key]

    def __str__(self) -> str:
        """Render like the impl's constructors: options as ``None``, DEPQ bounds by kind.

        >>> str(SymCommand("X", (("key", 1), ("has_new", False), ("new", 7))))
        'X(key=1, new=None)'
        >>> str(SymCommand("RemoveRange", (("start_kind", 2), ("start", 4),
        ...     ("end_kind", 1), ("end", 9))))
        'RemoveRange(start=Unbounded, end=Excluded(9))'
        """
        args = dict(self.args)
        parts = []
        for key, value in self.args:
            if key.startswith("has_") or key.endswith("_kind"):
                continue
            if f"has_{key}" in args and not args[f"has_{key}"]:
                parts.append(f"{key}=None")
            elif f"{key}_kind" in args:
                kind = args[f"{key}_kind"]
                bound = "Unbounded" if kind == 2 else f"{_BOUNDS[int(kind)]}({value})"
                parts.append(f"{key}={bound}")
            else:
                parts.append(f"{key}={value}")
        return f"{self.name}({', '.join(parts)})"


_BOUNDS = ("Included", "Excluded")


class CmdSort:
    """A z3 datatype with one constructor per command; ``int`` fields are integers."""

    def __init__(self, name: str, ctors: Sequence[tuple[str, Sequence[tuple[str, str]]]]) -> None:
        dt = z3.Datatype(f"proofs.{name}")  # namespaced: other z3 users share the context
        for ctor, fields in ctors:
            dt.declare(
                ctor,
                *[
                    (f"{ctor}_{f}", z3.IntSort() if kind == "int" else z3.BoolSort())
                    for f, kind in fields
                ],
            )
        self.name = name
        self.sort = dt.create()
        self.ctors: dict[str, tuple[tuple[str, str], ...]] = {
            ctor: tuple(fields) for ctor, fields in ctors
        }

    def is_(self, ctor: str, c: Any) -> Any:
        """Return the recognizer ``is_<ctor>(c)``."""
        return getattr(self.sort, f"is_{ctor}")(c)

    def f(self, ctor: str, field: str, c: Any) -> Any:
        """Return the accessor term ``<ctor>_<field>(c)``."""
        return getattr(self.sort, f"{ctor}_{field}")(c)

    def const(self, name: str) -> Any:
        """Return a fresh command constant."""
        return z3.Const(name, self.sort)

    def int_fields(self, c: Any) -> list[tuple[Any, Any]]:
        """Return ``(recognizer, field term)`` for every integer field."""
        return [
            (self.is_(ctor, c), self.f(ctor, field, c))
            for ctor, fields in self.ctors.items()
            for field, kind in fields
            if kind == "int"
        ]

    def bounded(self, c: Any, hi: int) -> Any:
        """Return "every integer field of ``c`` is below ``hi``" (used to prettify)."""
        return z3.And(*[z3.Implies(rec, term < hi) for rec, term in self.int_fields(c)])

    def u64(self, c: Any) -> Any:
        """Return "every integer field of ``c`` is a u64"."""
        return z3.And(
            *[z3.Implies(rec, z3.And(term >= 0, term < U64)) for rec, term in self.int_fields(c)]
        )

    def value(self, cmd: SymCommand) -> Any:
        """Return the concrete datatype value of ``cmd`` (for evaluating the encoding)."""
        fields = self.ctors[cmd.name]
        args = dict(cmd.args)
        ctor = getattr(self.sort, cmd.name)
        if not fields:
            return ctor
        return ctor(
            *[
                z3.IntVal(int(args[f])) if kind == "int" else z3.BoolVal(bool(args[f]))
                for f, kind in fields
            ]
        )

    def read(self, model: Any, c: Any) -> SymCommand:
        """Return the command ``c`` denotes in ``model``."""
        for ctor, fields in self.ctors.items():
            if as_bool(model, self.is_(ctor, c)):
                args: list[tuple[str, int | bool]] = []
                for field, kind in fields:
                    term = self.f(ctor, field, c)
                    args.append(
                        (field, as_int(model, term) if kind == "int" else as_bool(model, term))
                    )
                return SymCommand(ctor, tuple(args))
        raise AssertionError("a datatype value matches one constructor")  # pragma: no cover


def _ite(cond: Any, a: State, b: State) -> State:
    return tuple(z3.If(cond, x, y) for x, y in zip(a, b, strict=True))


def _key(k: Any) -> Any:
    return z3.And(k >= 0, k < KEYS)


class SymCollection:
    """The symbolic twin of one :class:`impl.collections.base.StateMachine`."""

    kind: ClassVar[str]
    cmds: CmdSort

    def for_log(self, length: int) -> SymCollection:
        """Return the encoding sized for a log of ``length`` commands (Vec needs slots)."""
        del length
        return self

    def initial(self) -> State:
        """Return the empty state."""
        raise NotImplementedError

    def fresh(self, name: str) -> State:
        """Return a state of fresh constants."""
        raise NotImplementedError

    def apply(self, s: State, c: Any, profile: Profile) -> tuple[State, Any]:
        """Return the state after ``c`` and whether S1 counts ``c`` (a z3 Bool)."""
        raise NotImplementedError

    def eq(self, a: State, b: State) -> Any:
        """Return "the two states hold the same items"."""
        raise NotImplementedError

    def well_formed(self, c: Any) -> Any:
        """Return the domain constraints of a command."""
        return self.cmds.u64(c)

    def state_ok(self, s: State) -> Any:
        """Return the domain constraints of an arbitrary state (for unbounded checks)."""
        del s
        return z3.BoolVal(True)

    def take_snapshot(self, c: Any) -> Any:
        """Return "``c`` is a TakeSnapshot"."""
        return self.cmds.is_("TakeSnapshot", c)

    def items(self, model: Any, s: State) -> tuple[Any, ...] | None:
        """Return the impl's ``items(state)`` for ``s`` in ``model`` (None: panicked)."""
        raise NotImplementedError

    def ite(self, cond: Any, a: State, b: State) -> State:
        """Return ``a`` if ``cond`` else ``b``, component-wise."""
        return _ite(cond, a, b)

    def bind(self, name: str, value: State) -> tuple[State, list[Any]]:
        """Return fresh constants named ``name`` and the equalities tying them to ``value``.

        Every intermediate state is a fresh constant constrained by its transition, so
        two independently computed runs never share terms: z3 has to reason, not
        hash-cons (field-anchors.md §4).
        """
        fresh = self.fresh(name)
        return fresh, [x == y for x, y in zip(fresh, value, strict=True)]


# ---------------------------------------------------------------------------------------------
# Map


class SymMap(SymCollection):
    """Map: per key ``(present, value)`` (impl/collections/map.py ``apply_one``)."""

    kind = "map"
    cmds = CmdSort(
        "MapCmd",
        [
            ("Clear", []),
            ("Insert", [("key", "int"), ("value", "int")]),
            (
                "CompareExchange",
                [
                    ("key", "int"),
                    ("has_expected", "bool"),
                    ("expected", "int"),
                    ("has_new", "bool"),
                    ("new", "int"),
                ],
            ),
            ("RemoveMany", [("key1", "int"), ("key2", "int")]),
            ("Extend", [("key1", "int"), ("value1", "int"), ("key2", "int"), ("value2", "int")]),
            ("TakeSnapshot", []),
        ],
    )

    def initial(self) -> State:
        return tuple(x for _ in range(KEYS) for x in (z3.BoolVal(False), z3.IntVal(0)))

    def fresh(self, name: str) -> State:
        return tuple(
            x for k in range(KEYS) for x in (z3.Bool(f"{name}.has{k}"), z3.Int(f"{name}.val{k}"))
        )

    def apply(self, s: State, c: Any, profile: Profile) -> tuple[State, Any]:
        m, f = self.cmds, self.cmds.f
        h5 = profile.has(Hazard.H5)
        out: list[Any] = []
        for k in range(KEYS):
            has, val = s[2 * k], s[2 * k + 1]
            here = f("CompareExchange", "key", c) == k
            # Some/Some compares values (H5: never equal); None/None matches; else no.
            matches = z3.If(
                has,
                z3.And(
                    f("CompareExchange", "has_expected", c),
                    z3.BoolVal(not h5),
                    val == f("CompareExchange", "expected", c),
                ),
                z3.Not(f("CompareExchange", "has_expected", c)),
            )
            cas = z3.And(m.is_("CompareExchange", c), here, matches)
            ins = z3.And(m.is_("Insert", c), f("Insert", "key", c) == k)
            ext2 = z3.And(m.is_("Extend", c), f("Extend", "key2", c) == k)
            ext1 = z3.And(m.is_("Extend", c), f("Extend", "key1", c) == k)
            rem = z3.And(
                m.is_("RemoveMany", c),
                z3.Or(f("RemoveMany", "key1", c) == k, f("RemoveMany", "key2", c) == k),
            )
            new_has = z3.If(
                z3.Or(ins, ext1, ext2),
                True,
                z3.If(
                    cas,
                    f("CompareExchange", "has_new", c),
                    z3.If(z3.Or(rem, m.is_("Clear", c)), False, has),
                ),
            )
            new_val = z3.If(
                ins,
                f("Insert", "value", c),
                z3.If(
                    ext2,
                    f("Extend", "value2", c),
                    z3.If(
                        ext1,
                        f("Extend", "value1", c),
                        z3.If(cas, f("CompareExchange", "new", c), val),
                    ),
                ),
            )
            out += [new_has, new_val]
        return tuple(out), z3.BoolVal(True)

    def eq(self, a: State, b: State) -> Any:
        return z3.And(
            *[
                z3.And(
                    a[2 * k] == b[2 * k],
                    z3.Implies(a[2 * k], a[2 * k + 1] == b[2 * k + 1]),
                )
                for k in range(KEYS)
            ]
        )

    def well_formed(self, c: Any) -> Any:
        f = self.cmds.f
        return z3.And(
            self.cmds.u64(c),
            _key(f("Insert", "key", c)),
            _key(f("CompareExchange", "key", c)),
            _key(f("RemoveMany", "key1", c)),
            _key(f("RemoveMany", "key2", c)),
            _key(f("Extend", "key1", c)),
            _key(f("Extend", "key2", c)),
        )

    def items(self, model: Any, s: State) -> tuple[Any, ...]:
        pairs = [(k, as_int(model, s[2 * k + 1])) for k in range(KEYS) if as_bool(model, s[2 * k])]
        return tuple(sorted(pairs, key=lambda kv: encode(kv[0])))


# ---------------------------------------------------------------------------------------------
# Set


class SymSet(SymCollection):
    """Set: per element, membership (impl/collections/set.py ``apply_one``)."""

    kind = "set"
    cmds = CmdSort(
        "SetCmd",
        [
            ("Clear", []),
            ("Insert", [("value", "int")]),
            ("RemoveMany", [("value1", "int"), ("value2", "int")]),
            ("Extend", [("value1", "int"), ("value2", "int")]),
            ("TakeSnapshot", []),
        ],
    )

    def initial(self) -> State:
        return tuple(z3.BoolVal(False) for _ in range(KEYS))

    def fresh(self, name: str) -> State:
        return tuple(z3.Bool(f"{name}.mem{k}") for k in range(KEYS))

    def apply(self, s: State, c: Any, profile: Profile) -> tuple[State, Any]:
        m, f = self.cmds, self.cmds.f
        out = []
        for k in range(KEYS):
            add = z3.Or(
                z3.And(m.is_("Insert", c), f("Insert", "value", c) == k),
                z3.And(
                    m.is_("Extend", c),
                    z3.Or(f("Extend", "value1", c) == k, f("Extend", "value2", c) == k),
                ),
            )
            drop = z3.Or(
                m.is_("Clear", c),
                z3.And(
                    m.is_("RemoveMany", c),
                    z3.Or(f("RemoveMany", "value1", c) == k, f("RemoveMany", "value2", c) == k),
                ),
            )
            out.append(z3.If(add, True, z3.If(drop, False, s[k])))
        return tuple(out), z3.BoolVal(True)

    def eq(self, a: State, b: State) -> Any:
        return z3.And(*[x == y for x, y in zip(a, b, strict=True)])

    def well_formed(self, c: Any) -> Any:
        f = self.cmds.f
        return z3.And(
            _key(f("Insert", "value", c)),
            _key(f("RemoveMany", "value1", c)),
            _key(f("RemoveMany", "value2", c)),
            _key(f("Extend", "value1", c)),
            _key(f("Extend", "value2", c)),
        )

    def items(self, model: Any, s: State) -> tuple[Any, ...]:
        return tuple(sorted((k for k in range(KEYS) if as_bool(model, s[k])), key=encode))


# ---------------------------------------------------------------------------------------------
# DEPQ


class SymDepq(SymCollection):
    """DEPQ: per key ``(present, priority, value)`` (impl/collections/depq.py ``step``).

    ``RemoveRange`` bounds are ``kind`` 0 = Included, 1 = Excluded, 2 = Unbounded.
    CAP is mosaik's default ``u64::MAX`` (no eviction).
    """

    kind = "depq"
    cmds = CmdSort(
        "DepqCmd",
        [
            ("Clear", []),
            ("Insert", [("priority", "int"), ("key", "int"), ("value", "int")]),
            (
                "Extend",
                [
                    ("priority1", "int"),
                    ("key1", "int"),
                    ("value1", "int"),
                    ("priority2", "int"),
                    ("key2", "int"),
                    ("value2", "int"),
                ],
            ),
            ("UpdatePriority", [("key", "int"), ("priority", "int")]),
            ("UpdateValue", [("key", "int"), ("value", "int")]),
            (
                "CompareExchangeValue",
                [("key", "int"), ("expected", "int"), ("has_new", "bool"), ("new", "int")],
            ),
            ("RemoveKeys", [("key1", "int"), ("key2", "int")]),
            (
                "RemoveRange",
                [("start_kind", "int"), ("start", "int"), ("end_kind", "int"), ("end", "int")],
            ),
            ("TakeSnapshot", []),
        ],
    )

    def initial(self) -> State:
        return tuple(
            x for _ in range(KEYS) for x in (z3.BoolVal(False), z3.IntVal(0), z3.IntVal(0))
        )

    def fresh(self, name: str) -> State:
        return tuple(
            x
            for k in range(KEYS)
            for x in (
                z3.Bool(f"{name}.has{k}"),
                z3.Int(f"{name}.prio{k}"),
                z3.Int(f"{name}.val{k}"),
            )
        )

    def _in_range(self, c: Any, p: Any) -> Any:
        f = self.cmds.f
        sk, sv = f("RemoveRange", "start_kind", c), f("RemoveRange", "start", c)
        ek, ev = f("RemoveRange", "end_kind", c), f("RemoveRange", "end", c)
        lower = z3.Or(sk == 2, z3.And(sk == 0, p >= sv), z3.And(sk == 1, p > sv))
        upper = z3.Or(ek == 2, z3.And(ek == 0, p <= ev), z3.And(ek == 1, p < ev))
        return z3.And(lower, upper)

    def mismatch(self, s: State, c: Any) -> Any:
        """Return "``c`` is a CompareExchangeValue on a present key with another value"."""
        f = self.cmds.f
        key, exp = f("CompareExchangeValue", "key", c), f("CompareExchangeValue", "expected", c)
        return z3.And(
            self.cmds.is_("CompareExchangeValue", c),
            z3.Or(*[z3.And(key == k, s[3 * k], s[3 * k + 2] != exp) for k in range(KEYS)]),
        )

    def apply(self, s: State, c: Any, profile: Profile) -> tuple[State, Any]:
        m, f = self.cmds, self.cmds.f
        out: list[Any] = []
        for k in range(KEYS):
            has, prio, val = s[3 * k], s[3 * k + 1], s[3 * k + 2]
            ins = z3.And(m.is_("Insert", c), f("Insert", "key", c) == k)
            ext2 = z3.And(m.is_("Extend", c), f("Extend", "key2", c) == k)
            ext1 = z3.And(m.is_("Extend", c), f("Extend", "key1", c) == k)
            upp = z3.And(m.is_("UpdatePriority", c), f("UpdatePriority", "key", c) == k, has)
            upv = z3.And(m.is_("UpdateValue", c), f("UpdateValue", "key", c) == k, has)
            cas = z3.And(
                m.is_("CompareExchangeValue", c),
                f("CompareExchangeValue", "key", c) == k,
                has,
                val == f("CompareExchangeValue", "expected", c),
            )
            rk = z3.And(
                m.is_("RemoveKeys", c),
                z3.Or(f("RemoveKeys", "key1", c) == k, f("RemoveKeys", "key2", c) == k),
            )
            rr = z3.And(m.is_("RemoveRange", c), has, self._in_range(c, prio))
            new_has = z3.If(
                z3.Or(ins, ext1, ext2),
                True,
                z3.If(
                    cas,
                    f("CompareExchangeValue", "has_new", c),
                    z3.If(z3.Or(rk, rr, m.is_("Clear", c)), False, has),
                ),
            )
            new_prio = z3.If(
                ins,
                f("Insert", "priority", c),
                z3.If(
                    ext2,
                    f("Extend", "priority2", c),
                    z3.If(
                        ext1,
                        f("Extend", "priority1", c),
                        z3.If(upp, f("UpdatePriority", "priority", c), prio),
                    ),
                ),
            )
            new_val = z3.If(
                ins,
                f("Insert", "value", c),
                z3.If(
                    ext2,
                    f("Extend", "value2", c),
                    z3.If(
                        ext1,
                        f("Extend", "value1", c),
                        z3.If(
                            upv,
                            f("UpdateValue", "value", c),
                            z3.If(cas, f("CompareExchangeValue", "new", c), val),
                        ),
                    ),
                ),
            )
            out += [new_has, new_prio, new_val]
        counted = z3.BoolVal(True)
        if profile.has(Hazard.H4):
            counted = z3.Not(self.mismatch(s, c))
        return tuple(out), counted

    def eq(self, a: State, b: State) -> Any:
        return z3.And(
            *[
                z3.And(
                    a[3 * k] == b[3 * k],
                    z3.Implies(
                        a[3 * k],
                        z3.And(a[3 * k + 1] == b[3 * k + 1], a[3 * k + 2] == b[3 * k + 2]),
                    ),
                )
                for k in range(KEYS)
            ]
        )

    def well_formed(self, c: Any) -> Any:
        f = self.cmds.f
        return z3.And(
            self.cmds.u64(c),
            _key(f("Insert", "key", c)),
            _key(f("Extend", "key1", c)),
            _key(f("Extend", "key2", c)),
            _key(f("UpdatePriority", "key", c)),
            _key(f("UpdateValue", "key", c)),
            _key(f("CompareExchangeValue", "key", c)),
            _key(f("RemoveKeys", "key1", c)),
            _key(f("RemoveKeys", "key2", c)),
            f("RemoveRange", "start_kind", c) <= 2,
            f("RemoveRange", "end_kind", c) <= 2,
        )

    def state_ok(self, s: State) -> Any:
        return z3.And(*[z3.And(s[3 * k + 1] >= 0, s[3 * k + 2] >= 0) for k in range(KEYS)])

    def items(self, model: Any, s: State) -> tuple[Any, ...]:
        entries = [
            (as_int(model, s[3 * k + 1]), k, as_int(model, s[3 * k + 2]))
            for k in range(KEYS)
            if as_bool(model, s[3 * k])
        ]
        return tuple(sorted(entries, key=lambda e: encode(e[1])))


# ---------------------------------------------------------------------------------------------
# Cell, Once


class SymCell(SymCollection):
    """Cell: ``(present, value)`` (impl/collections/cell.py ``apply_one``)."""

    kind = "cell"
    cmds = CmdSort(
        "CellCmd",
        [
            ("Write", [("value", "int")]),
            (
                "CompareExchange",
                [("has_current", "bool"), ("current", "int"), ("has_new", "bool"), ("new", "int")],
            ),
            ("Clear", []),
            ("TakeSnapshot", []),
        ],
    )

    def initial(self) -> State:
        return (z3.BoolVal(False), z3.IntVal(0))

    def fresh(self, name: str) -> State:
        return (z3.Bool(f"{name}.has"), z3.Int(f"{name}.val"))

    def apply(self, s: State, c: Any, profile: Profile) -> tuple[State, Any]:
        m, f = self.cmds, self.cmds.f
        has, val = s
        h5 = profile.has(Hazard.H5)
        matches = z3.If(
            has,
            z3.And(
                f("CompareExchange", "has_current", c),
                z3.BoolVal(not h5),
                val == f("CompareExchange", "current", c),
            ),
            z3.Not(f("CompareExchange", "has_current", c)),
        )
        cas = z3.And(m.is_("CompareExchange", c), matches)
        new_has = z3.If(
            m.is_("Write", c),
            True,
            z3.If(cas, f("CompareExchange", "has_new", c), z3.If(m.is_("Clear", c), False, has)),
        )
        new_val = z3.If(
            m.is_("Write", c),
            f("Write", "value", c),
            z3.If(cas, f("CompareExchange", "new", c), val),
        )
        return (new_has, new_val), z3.BoolVal(True)

    def eq(self, a: State, b: State) -> Any:
        return z3.And(a[0] == b[0], z3.Implies(a[0], a[1] == b[1]))

    def items(self, model: Any, s: State) -> tuple[Any, ...]:
        return (as_int(model, s[1]),) if as_bool(model, s[0]) else ()


class SymOnce(SymCell):
    """Once: ``(present, value)``; ``Write`` only while empty (impl/collections/once.py)."""

    kind = "once"
    cmds = CmdSort("OnceCmd", [("Write", [("value", "int")]), ("TakeSnapshot", [])])

    def apply(self, s: State, c: Any, profile: Profile) -> tuple[State, Any]:
        has, val = s
        write = z3.And(self.cmds.is_("Write", c), z3.Not(has))
        return (
            z3.Or(has, write),
            z3.If(write, self.cmds.f("Write", "value", c), val),
        ), z3.BoolVal(True)


# ---------------------------------------------------------------------------------------------
# Vec


class SymVec(SymCollection):
    """Vec: ``(alive, length, slot_0 … slot_{M-1})`` (impl/collections/vec.py ``apply_one``).

    ``alive`` is False once an ``Insert`` beyond the end panicked (H23 on; every replica
    panics alike, so the panic is sticky); the reference ignores such an Insert.
    """

    kind = "vec"
    cmds = CmdSort(
        "VecCmd",
        [
            ("Clear", []),
            ("Swap", [("i", "int"), ("j", "int")]),
            ("Insert", [("index", "int"), ("value", "int")]),
            ("PushBack", [("value", "int")]),
            ("PushFront", [("value", "int")]),
            ("PopBack", []),
            ("PopFront", []),
            ("Remove", [("index", "int")]),
            ("Truncate", [("len", "int")]),
            ("Extend", [("value1", "int"), ("value2", "int")]),
            ("TakeSnapshot", []),
        ],
    )

    def __init__(self, slots: int = 8) -> None:
        self.slots = slots

    def for_log(self, length: int) -> SymCollection:
        return SymVec(max(2 * length, 1))

    def initial(self) -> State:
        return (z3.BoolVal(True), z3.IntVal(0), *[z3.IntVal(0) for _ in range(self.slots)])

    def fresh(self, name: str) -> State:
        return (
            z3.Bool(f"{name}.alive"),
            z3.Int(f"{name}.len"),
            *[z3.Int(f"{name}.x{i}") for i in range(self.slots)],
        )

    def state_ok(self, s: State) -> Any:
        return z3.And(s[1] >= 0, s[1] <= self.slots)

    def apply(self, s: State, c: Any, profile: Profile) -> tuple[State, Any]:
        m, f = self.cmds, self.cmds.f
        alive, n, xs = s[0], s[1], list(s[2:])
        size = self.slots

        def at(i: Any) -> Any:
            term: Any = z3.IntVal(0)
            for t in range(size - 1, -1, -1):
                term = z3.If(i == t, xs[t], term)
            return term

        def shifted_down(t: int) -> Any:  # element t+1 moves to t
            return xs[t + 1] if t + 1 < size else z3.IntVal(0)

        def shifted_up(t: int) -> Any:  # element t-1 moves to t
            return xs[t - 1] if t > 0 else z3.IntVal(0)

        idx, ival = f("Insert", "index", c), f("Insert", "value", c)
        si, sj = f("Swap", "i", c), f("Swap", "j", c)
        ridx = f("Remove", "index", c)
        ins_ok = z3.And(m.is_("Insert", c), idx <= n)
        swap_ok = z3.And(m.is_("Swap", c), si < n, sj < n)
        rem_ok = z3.And(m.is_("Remove", c), ridx < n)
        pop_front = z3.And(m.is_("PopFront", c), n > 0)
        vi, vj = at(si), at(sj)
        new_xs = []
        for t in range(size):
            x = xs[t]
            value = z3.If(
                z3.And(m.is_("PushBack", c), n == t),
                f("PushBack", "value", c),
                z3.If(
                    m.is_("PushFront", c),
                    z3.If(t == 0, f("PushFront", "value", c), shifted_up(t)),
                    z3.If(
                        ins_ok,
                        z3.If(t < idx, x, z3.If(idx == t, ival, shifted_up(t))),
                        z3.If(
                            swap_ok,
                            z3.If(si == t, vj, z3.If(sj == t, vi, x)),
                            z3.If(
                                z3.Or(rem_ok, pop_front),
                                z3.If(z3.And(rem_ok, t < ridx), x, shifted_down(t)),
                                z3.If(
                                    m.is_("Extend", c),
                                    z3.If(
                                        n == t,
                                        f("Extend", "value1", c),
                                        z3.If(n + 1 == t, f("Extend", "value2", c), x),
                                    ),
                                    x,
                                ),
                            ),
                        ),
                    ),
                ),
            )
            new_xs.append(value)
        trunc = f("Truncate", "len", c)
        new_n = z3.If(
            z3.Or(m.is_("PushBack", c), m.is_("PushFront", c), ins_ok),
            n + 1,
            z3.If(
                z3.Or(rem_ok, pop_front, z3.And(m.is_("PopBack", c), n > 0)),
                n - 1,
                z3.If(
                    m.is_("Truncate", c),
                    z3.If(trunc < n, trunc, n),
                    z3.If(m.is_("Extend", c), n + 2, z3.If(m.is_("Clear", c), 0, n)),
                ),
            ),
        )
        panic = z3.And(m.is_("Insert", c), idx > n, z3.BoolVal(profile.has(Hazard.H23)))
        new_alive = z3.And(alive, z3.Not(panic))
        changed = (new_alive, new_n, *new_xs)
        return _ite(z3.And(alive, z3.Not(panic)), changed, (new_alive, *s[1:])), z3.BoolVal(True)

    def eq(self, a: State, b: State) -> Any:
        same = z3.And(
            a[1] == b[1],
            *[z3.Implies(t < a[1], a[2 + t] == b[2 + t]) for t in range(self.slots)],
        )
        return z3.And(a[0] == b[0], z3.Implies(a[0], same))

    def items(self, model: Any, s: State) -> tuple[Any, ...] | None:
        if not as_bool(model, s[0]):
            return None
        n = as_int(model, s[1])
        return tuple(as_int(model, s[2 + t]) for t in range(n))


ENCODINGS: dict[str, SymCollection] = {
    e.kind: e for e in (SymMap(), SymVec(), SymSet(), SymDepq(), SymCell(), SymOnce())
}
"""One symbolic encoding per collection kind, in the inventory's order."""


def get_encoding(kind: str) -> SymCollection:
    """Return the encoding of ``kind`` (``map``, ``vec``, ``set``, ``depq``, ``cell``, ``once``)."""
    return ENCODINGS[kind]
