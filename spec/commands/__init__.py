"""Subcommands of the ``snapsync`` CLI; each module defines ``register(subparsers)``."""
