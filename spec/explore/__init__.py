"""The explorer: exhaustive breadth-first search over the group model of a small configuration.

Where the hunt (:mod:`spec.hunt`) samples random interleavings, the explorer
enumerates every state a small group can reach — every enabled action with every
argument — so that "no violation found" becomes "no violation exists in this
configuration, under its stated bounds". It drives the same model and checks as
the hunt (one code path): the actions of :mod:`spec.model.actions` (transport
``deliver_after_break`` included, with the hunt's arguments), the hunt's guards and
argument domains, the invariants of :mod:`spec.model.invariants`, the convergence
predicate of :mod:`spec.model.liveness`, the hunt's coverage of situations, and the
trace writer that ``snapsync replay`` reads.

* :mod:`spec.explore.config` — a configuration: the group, the profile, the
  faults, the bounds (writes, breaks, faults, restarts, retries, queue length),
  the time grain, symmetry; its initial state.
* :mod:`spec.explore.moves` — the enabled moves of a state and how one is taken
  (abstract labels such as "time moves to the next deadline").
* :mod:`spec.explore.search` — the search state, the pure expansion of one state
  into its successors (invariants, fault awareness and situations of each edge),
  and the breadth-first search with canonical keys (:mod:`spec.model.fingerprint`),
  in one process or with each level expanded by worker processes (``--jobs``:
  the same states, graph and counterexamples).
* :mod:`spec.explore.liveness` — liveness on the networkx state graph: dead ends
  and fair cycles that never converge.
* :mod:`spec.explore.report` — the report, shortest counterexamples written as
  replayable traces with sequence diagrams, and the state graph as ``.dot``.
* :mod:`spec.explore.pins` — the pinned state counts of a table of configurations.
* :mod:`spec.explore.hazards` — each hazard alone, found in the smallest configuration.
* :mod:`spec.explore.stage` — the explorer's stage of ``snapsync check``.

What is explored, which abstractions make it finite (time, symmetry, bounds) and
what a complete exploration guarantees: docs/explore.md.
"""
