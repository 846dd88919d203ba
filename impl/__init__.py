"""snapsync impl: pure, node-local reference steps of mosaik's snapshot state sync.

Every protocol step is a pure function ``step(state, input, ...) -> (state, effects)``
over frozen dataclasses. Nothing in this package performs I/O, reads a clock or
draws randomness: time and peer identities arrive as arguments.
"""
