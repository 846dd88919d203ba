"""Z3-checked proof obligations of snapshot sync (``snapsync prove``).

Four families, each in its own module:

* :mod:`spec.proofs.fold` — a snapshot equals the fold of the log prefix, for each of
  the six collections (S1, R6; I1, I9, I10, I15);
* :mod:`spec.proofs.chunking` — the fetch schedule partitions ``[0, n)`` and the
  drain reassembles it in order (Q4, Q8, Q11, P4);
* :mod:`spec.proofs.buffer` — finalize resumes the log right after the anchor and
  never moves ``committed`` back (Q12, Q13; I7, I10, I11);
* :mod:`spec.proofs.inductive` — initiation and consecution of the session
  invariants I4, I5, I6 for every session step.

:mod:`spec.proofs.runner` lists the obligations and runs them under a profile;
:mod:`spec.proofs.replay` runs counterexamples through the impl. docs/proofs.md
describes each encoding, its bound and what it does not cover.
"""

from spec.proofs.core import Obligation, Outcome, Result, Verdict
from spec.proofs.runner import get_obligation, obligations, run

__all__ = ["Obligation", "Outcome", "Result", "Verdict", "get_obligation", "obligations", "run"]
