"""``snapsync adapter``: the reference served through the adapter protocol on stdio."""

from __future__ import annotations

import argparse
from typing import Any

from impl.profile import PROFILES, get_profile

__all__ = ["register"]


def register(sub: Any) -> None:
    """Add ``adapter`` to the CLI."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "adapter",
        help="serve the reference as a conformance adapter (JSON lines on stdin/stdout)",
        description=(
            "Serve the reference through the adapter protocol (docs/formats/adapter.md): "
            "read requests as JSON lines on stdin, answer one JSON line each on stdout, "
            "until end of input. Used by 'snapsync conform --adapter \"snapsync adapter\"'."
        ),
    )
    parser.add_argument(
        "--profile",
        choices=sorted(PROFILES),
        default=None,
        help=(
            "behave as this profile whatever each case's context says (default: run each "
            "case under its own profile)"
        ),
    )
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from spec.conformance.server import AdapterServer, serve

    profile = get_profile(args.profile) if args.profile else None
    return serve(AdapterServer(profile))
