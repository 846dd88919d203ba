"""Benchmarks behind ``snapsync bench`` (measurements, never timed unit tests).

Each benchmark module exposes a pure-ish ``run(...)`` returning a result record and a
``register(subparsers)`` that adds its ``snapsync bench <name>`` subcommand.
"""
