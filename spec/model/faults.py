"""Adversarial faults beyond mosaik's transport, each a named switch.

mosaik's transport (inventory §0.4) is reliable FIFO per bond while the bond is
up; a bond can break (its queued messages are lost) and re-form. Those are
ordinary model actions (``break_bond`` / ``restore_bond``), always enabled. The
faults below go beyond that transport; an action that injects one is enabled
only when the world's fault set contains its switch, so the default model is
exactly mosaik's network.

* ``duplicate`` – a bond delivers its head message and keeps it queued, so it is
  delivered again (reaches H1 and H3's overlap case without a misbehaving peer).
* ``reorder`` – a queued message moves ahead of the others on its bond (H27).
* ``short_response`` / ``long_response`` / ``wrong_offset`` – a misbehaving
  provider: a queued ``FetchDataResponse`` loses its last item, gains a copy of
  its last item, or has its offset shifted (H2, H10).
* ``disagree_order`` – a provider serves its snapshot in another item order,
  here the reverse of the canonical order (H13: chunks from different providers
  no longer fit together).
* ``forge`` – a misbehaving peer puts an arbitrary message on one of its bonds
  (stale or wrong offers, unsolicited responses: H9, I14).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from enum import StrEnum
from typing import TypeAlias

from impl.errors import InvalidInput
from impl.messages import FetchDataResponse, Item

__all__ = [
    "CORRUPTIONS",
    "Fault",
    "UnknownFault",
    "corrupt_response",
    "parse_fault",
    "parse_faults",
    "reverse_order_chunk",
]

ItemsAt: TypeAlias = Callable[[int, int], tuple[Item, ...]]
"""``items_at(start, end)``: the canonical items ``[start, end)`` of one snapshot."""


class Fault(StrEnum):
    """Fault switches of the model (all off by default)."""

    DUPLICATE = "duplicate"
    REORDER = "reorder"
    SHORT_RESPONSE = "short_response"
    LONG_RESPONSE = "long_response"
    WRONG_OFFSET = "wrong_offset"
    DISAGREE_ORDER = "disagree_order"
    FORGE = "forge"

    @property
    def description(self) -> str:
        """Return the one-line description of this switch."""
        return _DESCRIPTIONS[self]


_DESCRIPTIONS: dict[Fault, str] = {
    Fault.DUPLICATE: "a bond delivers its head message twice",
    Fault.REORDER: "a queued message overtakes others on its bond",
    Fault.SHORT_RESPONSE: "a provider's FetchDataResponse lacks its last item",
    Fault.LONG_RESPONSE: "a provider's FetchDataResponse carries one item too many",
    Fault.WRONG_OFFSET: "a provider's FetchDataResponse has a shifted offset",
    Fault.DISAGREE_ORDER: "a provider serves its snapshot in reverse item order (H13)",
    Fault.FORGE: "a misbehaving peer sends an arbitrary message",
}

CORRUPTIONS: tuple[Fault, ...] = (Fault.SHORT_RESPONSE, Fault.LONG_RESPONSE, Fault.WRONG_OFFSET)
"""The faults that rewrite one queued ``FetchDataResponse``."""


class UnknownFault(InvalidInput):
    """A fault switch name that does not exist."""

    def __init__(self, name: str) -> None:
        self.name = name
        known = ", ".join(f.value for f in Fault)
        super().__init__(f"unknown fault {name!r}; known: {known}")


def parse_fault(name: str | Fault) -> Fault:
    """Return the fault called ``name`` (``-`` and ``_`` are equivalent).

    >>> parse_fault("short-response")
    <Fault.SHORT_RESPONSE: 'short_response'>
    """
    if isinstance(name, Fault):
        return name
    try:
        return Fault(name.strip().lower().replace("-", "_"))
    except ValueError:
        raise UnknownFault(name) from None


def parse_faults(names: Iterable[str | Fault]) -> frozenset[Fault]:
    """Return the set of faults named in ``names``."""
    return frozenset(parse_fault(n) for n in names)


def corrupt_response(
    response: FetchDataResponse, mode: Fault, delta: int = 1
) -> FetchDataResponse | None:
    """Return ``response`` as a misbehaving provider would send it, or ``None`` if
    ``mode`` cannot apply (a short response needs an item to drop, a long one an
    item to repeat, a shifted offset must stay a u64).

    >>> from impl.types import Cursor, Index, Term
    >>> r = FetchDataResponse(Cursor(Term(1), Index(5)), 10, (1, 2, 3))
    >>> corrupt_response(r, Fault.SHORT_RESPONSE).items
    (1, 2)
    >>> corrupt_response(r, Fault.LONG_RESPONSE).items
    (1, 2, 3, 3)
    >>> corrupt_response(r, Fault.WRONG_OFFSET, delta=-2).offset
    8
    """
    if mode is Fault.SHORT_RESPONSE:
        if not response.items:
            return None
        return FetchDataResponse(response.anchor, response.offset, response.items[:-1])
    if mode is Fault.LONG_RESPONSE:
        if not response.items:
            return None
        return FetchDataResponse(
            response.anchor, response.offset, response.items + response.items[-1:]
        )
    if mode is Fault.WRONG_OFFSET:
        if delta == 0 or response.offset + delta < 0:
            return None
        return FetchDataResponse(response.anchor, response.offset + delta, response.items)
    raise InvalidInput(f"{mode.value} is not a response corruption")


def reverse_order_chunk(
    seq_len: int, offset: int, count: int, items_at: ItemsAt
) -> tuple[Item, ...]:
    """Return the ``count`` items at ``offset`` of a snapshot served in reverse order.

    ``items_at(start, end)`` returns the canonical items ``[start, end)``; position
    ``k`` of the reversed order is canonical position ``seq_len - 1 - k``.

    >>> canon = [10, 20, 30, 40]
    >>> reverse_order_chunk(4, 1, 2, lambda s, e: tuple(canon[s:e]))
    (30, 20)
    """
    if count == 0:
        return ()
    start = seq_len - offset - count
    end = seq_len - offset
    if start < 0 or end > seq_len:
        raise InvalidInput(f"chunk [{offset}, {offset + count}) is outside a {seq_len}-item order")
    return tuple(reversed(items_at(start, end)))
