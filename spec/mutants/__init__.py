"""The mutation suite: would ``snapsync check`` catch a bug somebody made?

* :mod:`spec.mutants.catalogue` — deliberate one-line bugs in ``impl/``, by step family;
* :mod:`spec.mutants.apply` — a copy of the project with one mutant applied;
* :mod:`spec.mutants.runner` — ``snapsync check --fail-fast`` (and, for the survivors,
  the test suite) against each copy: the kill rate, the time to kill, the survivors
  (``snapsync bench mutants``).
"""
