"""The hunt: Hypothesis state machines over the group model, and ``snapsync hunt``.

* :mod:`spec.hunt.driver` — one run of the model: checks after every action,
  fair delivery, the liveness drain, traces.
* :mod:`spec.hunt.machine` — the group ``RuleBasedStateMachine`` (rules = model actions).
* :mod:`spec.hunt.differential` — impl steps against a naive model, side by side: the
  collections' machine and the table of every differential machine.
* :mod:`spec.hunt.stepdiff` — what every step differential shares (findings, failures).
* :mod:`spec.hunt.differential_log` — the log store against a naive log (boundaries).
* :mod:`spec.hunt.differential_provider` — the provider steps against a naive provider.
* :mod:`spec.hunt.differential_session` — the catch-up session's buffering (Q0, Q13)
  and finalize's replay (Q12) against a naive follower log.
* :mod:`spec.hunt.campaigns` — swarm configurations (enabled rules, faults, shapes).
* :mod:`spec.hunt.coverage` — counters of hazard-relevant situations.
* :mod:`spec.hunt.scenario` — the starting group of every run.
* :mod:`spec.hunt.runner` — budgeted runs, shrunk traces, the report.
* :mod:`spec.hunt.findings` — the reproduced hazards kept as regressions (docs/findings/).
"""
