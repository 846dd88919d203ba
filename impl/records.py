"""Functional updates of frozen records: :func:`evolve`, a fast ``dataclasses.replace``.

Every state of the reference is a ``@dataclass(frozen=True, slots=True)`` value and
every step returns an updated copy. ``dataclasses.replace`` is the obvious way to
make one, but it re-reads the class's field table, builds a keyword dictionary of
every field and goes through the generated ``__init__`` on each call; the group
model makes millions of copies, and that bookkeeping dominated a step.

:func:`evolve` returns exactly what ``dataclasses.replace`` returns (a new object
of the same class whose fields are the old ones with ``changes`` applied, after
the class's ``__post_init__`` ran on it, if it defines one) by running a small
function made once per class and set of changed fields: it allocates the object
and stores each field through its slot, the way the generated ``__init__`` of a
frozen dataclass does (``object.__setattr__``), then calls ``__post_init__``. The
function is generated from the class's field names (Python identifiers), as
:mod:`dataclasses` generates ``__init__``.

Classes outside that shape (no slots, an ``InitVar`` or an ``init=False`` field,
a field without a slot) and unknown field names go through
``dataclasses.replace`` itself, so they behave, and fail, exactly as it does.

For the hottest spots: :func:`evolver` returns the made function for a fixed set
of fields (no per-call lookup), and :func:`constructor` one that builds a new
record from a value for every field (``cls(*values)``, ``__post_init__`` included).
An :func:`evolver` function must be given instances of exactly its class.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["constructor", "evolve", "evolver"]

T = TypeVar("T")

_Maker = Callable[..., Any]
_MAKERS: dict[tuple[Any, ...], _Maker] = {}
"""Makers by ``(class, *changed field names)``."""


def evolve(obj: T, /, **changes: object) -> T:
    """Return a copy of the dataclass instance ``obj`` with ``changes`` applied.

    Same result and errors as ``dataclasses.replace(obj, **changes)`` (see the module
    docstring); ``obj`` is not modified.

    >>> from impl.types import Cursor, Index, Term
    >>> c = Cursor(Term(2), Index(5))
    >>> evolve(c, index=Index(7)), c
    (Cursor(term=2, index=7), Cursor(term=2, index=5))
    >>> evolve(c, index=-1)  # Cursor.__post_init__ runs, as with replace
    Traceback (most recent call last):
    ...
    impl.errors.InvalidInput: Cursor.index must be a u64, got -1
    """
    key = (type(obj), *changes)
    maker = _MAKERS.get(key)
    if maker is None:
        maker = _MAKERS[key] = _make_maker(type(obj), tuple(changes))
    result: T = maker(obj, *changes.values())
    return result


def evolver(cls: type[T], *names: str) -> Callable[..., T]:
    """Return ``f(obj, *values)``: :func:`evolve` of ``obj`` (a ``cls``) setting ``names``.

    For the hottest updates: the function is made once, here, so a call skips
    :func:`evolve`'s lookup. ``obj`` must be exactly a ``cls`` (not a subclass).

    >>> from impl.types import Cursor, Index, Term
    >>> with_index = evolver(Cursor, "index")
    >>> with_index(Cursor(Term(2), Index(5)), Index(9))
    Cursor(term=2, index=9)
    """
    maker = _MAKERS.get((cls, *names))
    if maker is None:
        maker = _MAKERS[(cls, *names)] = _make_maker(cls, names)
    return maker


def constructor(cls: type[T]) -> Callable[..., T]:
    """Return ``f(*values)``: a new ``cls`` from a value for every field, in field order.

    The same object as ``cls(*values)`` (``__post_init__`` included), made as
    :func:`evolve` makes its copies: frozen dataclasses store their fields one
    ``object.__setattr__`` call at a time, which dominates building the records
    the model makes at every step. Classes outside :func:`evolve`'s shape get
    ``cls`` itself.

    >>> from impl.types import Cursor, Index, Term
    >>> make_cursor = constructor(Cursor)
    >>> make_cursor(Term(1), Index(4)) == Cursor(Term(1), Index(4))
    True
    """
    maker = _CONSTRUCTORS.get(cls)
    if maker is None:
        maker = _CONSTRUCTORS[cls] = _make_constructor(cls)
    return maker


_CONSTRUCTORS: dict[type, _Maker] = {}


def _slot_of(cls: type, name: str) -> types.MemberDescriptorType | None:
    """Return the slot descriptor that stores field ``name`` of ``cls``, if there is one."""
    for klass in cls.__mro__:
        found = klass.__dict__.get(name)
        if found is not None:
            return found if isinstance(found, types.MemberDescriptorType) else None
    return None


def _fallback(names: tuple[str, ...]) -> _Maker:
    def maker(obj: Any, *values: object) -> Any:
        return dataclasses.replace(obj, **dict(zip(names, values, strict=True)))

    return maker


def _make_maker(cls: type, names: tuple[str, ...]) -> _Maker:
    """Return ``maker(obj, *values)``: ``cls``'s copy of ``obj`` with ``names`` set to values."""
    fields = _slotted_fields(cls)
    if fields is None or not set(names) <= set(fields):
        return _fallback(names)  # replace decides (and raises its TypeError on a bad name)
    params = [f"_v{i}" for i in range(len(names))]
    value_of = dict(zip(names, params, strict=True))
    values = [value_of.get(name, f"obj.{name}") for name in fields]
    return _compile(cls, fields, ["obj", *params], values)


def _make_constructor(cls: type) -> _Maker:
    """Return ``make(*values)``: a new ``cls`` with every field set, in field order."""
    fields = _slotted_fields(cls)
    if fields is None:
        return cls
    params = [f"_v{i}" for i in range(len(fields))]
    return _compile(cls, fields, params, params)


def _slotted_fields(cls: type) -> tuple[str, ...] | None:
    """Return the field names of ``cls`` if :func:`evolve` may set its slots directly."""
    if not dataclasses.is_dataclass(cls) or "__slots__" not in cls.__dict__:
        return None
    fields = dataclasses.fields(cls)
    if any(not f.init for f in fields):
        return None  # replace re-initialises those: let it
    if len(cls.__dict__.get("__dataclass_fields__", ())) != len(fields):
        return None  # ClassVar or InitVar pseudo-fields: let replace decide
    names = tuple(f.name for f in fields)
    if any(_slot_of(cls, name) is None for name in names):
        return None
    return names


def _compile(cls: type, fields: tuple[str, ...], params: list[str], values: list[str]) -> _Maker:
    """Return ``def f(*params)`` storing ``values`` (expressions) in ``fields``' slots."""
    scope: dict[str, Any] = {"_new": object.__new__, "_cls": cls}
    lines = [f"def maker({', '.join(params)}):", "    new = _new(_cls)"]
    for i, (name, value) in enumerate(zip(fields, values, strict=True)):
        setter = f"_set{i}"
        scope[setter] = _slot_of(cls, name).__set__  # type: ignore[union-attr]
        lines.append(f"    {setter}(new, {value})")
    if hasattr(cls, "__post_init__"):
        lines.append("    new.__post_init__()")
    lines.append("    return new")
    exec("\n".join(lines), scope)  # the source is built from the field names only
    maker: _Maker = scope["maker"]
    return maker
