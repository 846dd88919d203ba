"""The catalogue: deliberate one-line bugs in ``impl/``, each the kind of mistake a porter
of the protocol would plausibly make.

A :class:`Mutant` names one exact piece of text in one file of ``impl/`` and what it
becomes. :mod:`spec.mutants.apply` applies it to a copy of the project (the text must
occur exactly once); :mod:`spec.mutants.runner` runs ``snapsync check`` (and, for the
survivors, the test suite) against that copy.

Families: every step family of the inventory has mutants — ``raft`` (R), ``node`` (S),
``provider`` (P), ``session`` (Q), ``collections`` (the six kinds and their snapshots),
``log`` (the log store and positions).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CATALOGUE", "MUTANT_FAMILIES", "Mutant"]

MUTANT_FAMILIES: tuple[str, ...] = ("raft", "node", "provider", "session", "collections", "log")
"""The step families the catalogue covers (module docstring)."""


@dataclass(frozen=True, slots=True)
class Mutant:
    """One deliberate bug: ``before`` (exact text, once in ``path``) becomes ``after``."""

    id: str
    """Stable name, ``<family>-<what>``."""
    family: str
    """One of :data:`MUTANT_FAMILIES`."""
    steps: str
    """The inventory step ids it breaks (``R7``, ``P3``, ``Q4, Q5``)."""
    path: str
    """The file, relative to the project's root (``impl/raft.py``)."""
    before: str
    after: str
    why: str
    """The mistake, as a porter would make it."""


CATALOGUE: tuple[Mutant, ...] = ()
"""Every mutant, by family."""
