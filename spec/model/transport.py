"""Transport behaviours: what mosaik's network and group worker allow, each a named switch.

The model's network (inventory §0.4) is reliable FIFO per bond while the bond is
up; a bond can break and re-form. A break loses what is still on the wire. What
the receiving side had *already received* is a different matter, and depends on
how mosaik hands a bond's traffic to the group worker:

* ``deliver_after_break`` — the bond worker pushes every Raft message it receives
  into an unbounded event channel (bond/worker.rs:252-269, 327-328). When the bond
  dies it leaves its loop, closes the link, queues ``BondEvent::Terminated``
  behind those messages and only then sets ``terminated_tx`` (bond/worker.rs:
  219-226), which the catch-up session's watchers wait on (bond/mod.rs:197-206;
  session.rs:118-124, 333-339). The group worker's ``tokio::select!`` polls its
  branches in random order (group/worker.rs:143-178), so ``raft.poll`` — which
  runs the watchers, Q6 and Q11 — may run *before* the worker takes the queued
  messages out of the channel. The bond stays in the group's bond table until
  its ``Terminated`` event is processed (group/worker.rs:245-264), and no new
  bond to that peer can form before then (``contains_peer``,
  group/worker.rs:375-378, 437-442).

  Modelled as: ``break_bond(a, b, received_by_a=k, received_by_b=m)`` keeps the
  first ``k`` messages queued towards ``a`` (and ``m`` towards ``b``) on the
  broken bond; both ends see the termination at once (the watchers fire), and
  ``deliver_message`` delivers the kept messages afterwards, in order. While a
  node still has kept messages from a peer, that peer is in its bond table (the
  step's ``NodeContext.bonds``), and a termination watcher registered in such a
  delivery fires at once (the bond is already terminated). The bond re-forms
  (``restore_bond``) only after every kept message is delivered.

The switches are part of the world's setup (:class:`~spec.model.state.WorldSetup`,
recorded in trace headers). Unlike the adversarial faults (:mod:`spec.model.faults`),
they describe mosaik's real transport, so they are on by default; a trace header
without the field was recorded before they existed and replays with them off (its
``break_bond`` steps keep nothing, which is the same run either way).
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from impl.errors import InvalidInput

__all__ = ["MOSAIK_TRANSPORT", "Transport", "UnknownTransport", "parse_transports"]


class Transport(StrEnum):
    """Transport-behaviour switches (module docstring)."""

    DELIVER_AFTER_BREAK = "deliver_after_break"

    @property
    def description(self) -> str:
        """Return the one-line description of this switch."""
        return _DESCRIPTIONS[self]


_DESCRIPTIONS: dict[Transport, str] = {
    Transport.DELIVER_AFTER_BREAK: (
        "messages a bond already received are delivered after its termination is seen"
    ),
}

MOSAIK_TRANSPORT: frozenset[Transport] = frozenset(Transport)
"""mosaik's transport: every behaviour on (the default of a world's setup)."""


class UnknownTransport(InvalidInput):
    """A transport-behaviour name that does not exist."""

    def __init__(self, name: str) -> None:
        self.name = name
        known = ", ".join(t.value for t in Transport)
        super().__init__(f"unknown transport behaviour {name!r}; known: {known}")


def parse_transports(names: Iterable[str | Transport]) -> frozenset[Transport]:
    """Return the set of transport behaviours named in ``names`` (``-`` and ``_`` are equal).

    >>> sorted(parse_transports(["deliver-after-break"]))
    [<Transport.DELIVER_AFTER_BREAK: 'deliver_after_break'>]
    """
    out = set()
    for name in names:
        if isinstance(name, Transport):
            out.add(name)
            continue
        if not isinstance(name, str):
            raise UnknownTransport(repr(name))
        try:
            out.add(Transport(name.strip().lower().replace("-", "_")))
        except ValueError:
            raise UnknownTransport(name) from None
    return frozenset(out)
