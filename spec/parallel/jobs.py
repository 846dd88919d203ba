"""How many workers: the ``--jobs`` option and its default, the cores this process may use.

    parser.add_argument("--jobs", **jobs_argument("scenario cases"))

The default is the number of cores the process may run on: the scheduler's
affinity mask where the platform has one (a container or ``taskset`` limits it),
else :func:`os.cpu_count`. ``--jobs 1`` runs everything in the command's own
process, as before workers existed.
"""

from __future__ import annotations

import os
from typing import Any

from spec.robust.options import count

__all__ = ["MAX_JOBS", "default_jobs", "jobs_argument", "parse_jobs"]

MAX_JOBS = 256
"""The most workers a command starts (more processes than cores only add overhead)."""


def default_jobs() -> int:
    """Return the number of cores this process may run on (at least 1)."""
    affinity = getattr(os, "sched_getaffinity", None)
    if affinity is not None:
        try:
            return max(1, len(affinity(0)))
        except OSError:  # pragma: no cover - a platform that declares but refuses it
            pass
    return max(1, os.cpu_count() or 1)


parse_jobs = count(1, MAX_JOBS)
"""The argparse type of ``--jobs``: an integer from 1 to :data:`MAX_JOBS`
(:func:`spec.robust.options.count`: refused with a message naming the option).

>>> parse_jobs("2")
2
"""


def jobs_argument(what: str) -> dict[str, Any]:
    """Return the keyword arguments of ``add_argument("--jobs", ...)`` for a command
    whose workers run ``what`` (the help text names it and the default)."""
    return {
        "type": parse_jobs,
        "default": default_jobs(),
        "metavar": "N",
        "help": f"worker processes running {what} (default: the number of cores, here "
        f"{default_jobs()}; 1 runs everything in this process)",
    }
