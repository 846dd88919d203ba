"""The executable group model: global state, actions, faults, ghost history, invariants.

* :mod:`spec.model.state` — the global state (:class:`~spec.model.state.World`).
* :mod:`spec.model.actions` — the actions, each named after the impl step it drives.
* :mod:`spec.model.faults` — adversarial fault switches beyond mosaik's transport.
* :mod:`spec.model.ghost` — history variables (*not present in an implementation*).
* :mod:`spec.model.invariants` — safety invariants I1–I16 as predicates.
* :mod:`spec.model.liveness` — liveness L1–L5: quiescence and dead session states.
"""
