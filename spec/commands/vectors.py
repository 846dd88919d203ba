"""``snapsync vectors``: generate, pack, verify and measure the conformance step vectors."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from impl.profile import PROFILES

__all__ = ["register"]


def register(sub: Any) -> None:
    """Add ``vectors`` and its subcommands to the CLI."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "vectors", help="generate, pack and measure the conformance step vectors"
    )
    cmds = parser.add_subparsers(dest="vectors_command", metavar="SUBCOMMAND")

    def _help(_args: argparse.Namespace) -> int:
        parser.print_help()
        return 0

    parser.set_defaults(handler=_help)

    gen = cmds.add_parser(
        "generate",
        help="write the vector tree (DIR/manifest.json, DIR/<profile>/<step>/<case>.json)",
        description=(
            "Generate the step vectors from the model's own runs (scenarios, simulations, "
            "hunt walks; deduplicated by the branches each call takes) and hand-written cases "
            "for every rejection and ignore reason. Deterministic: generating twice gives "
            "identical bytes. DIR is emptied first."
        ),
    )
    gen.add_argument("dir", metavar="DIR", help="output directory")
    gen.add_argument(
        "--profile",
        choices=sorted(PROFILES),
        action="append",
        default=[],
        help="only this profile's cases (repeatable; default: both)",
    )
    gen.add_argument(
        "--quick",
        action="store_true",
        help="fewer model runs (a smaller tree, for tests)",
    )
    gen.add_argument("--json", action="store_true", help="machine-readable output")
    gen.set_defaults(handler=_generate)

    pack = cmds.add_parser(
        "pack",
        help="verify a vector tree and write it as one .tar.gz archive",
        description=(
            "Verify DIR (manifest, sha256 of every file, every case) and write it as one "
            "deterministic .tar.gz (entries under vectors/), printing its sha256."
        ),
    )
    pack.add_argument("dir", metavar="DIR", help="the vector tree")
    pack.add_argument(
        "--output",
        "-o",
        metavar="FILE",
        help="archive path (default: snapsync-vectors-v<format>-<snapsync version>.tar.gz)",
    )
    pack.add_argument("--json", action="store_true", help="machine-readable output")
    pack.set_defaults(handler=_pack)


def _generate(args: argparse.Namespace) -> int:
    import time

    from spec.conformance.generate import generate

    started = time.perf_counter()
    manifest = generate(Path(args.dir), profiles=args.profile or None, quick=args.quick)
    seconds = time.perf_counter() - started
    summary = {
        "dir": args.dir,
        "cases": manifest["cases"],
        "bytes": manifest["bytes"],
        "profiles": manifest["profiles"],
        "counts": manifest["counts"],
        "seconds": round(seconds, 2),
    }
    if args.json:
        print(json.dumps(summary, indent=2, sort_keys=True))
        return 0
    for profile, counts in manifest["counts"].items():
        rows = ", ".join(f"{step} {n}" for step, n in counts.items())
        print(f"{profile}: {sum(counts.values())} cases ({rows})")
    print(
        f"wrote {manifest['cases']} cases, {manifest['bytes'] / 1e6:.2f} MB, to {args.dir} "
        f"in {seconds:.1f} s"
    )
    return 0


def _pack(args: argparse.Namespace) -> int:
    from spec.conformance.cases import FORMAT_VERSION
    from spec.conformance.tree import pack, snapsync_version

    output = Path(args.output or f"snapsync-vectors-v{FORMAT_VERSION}-{snapsync_version()}.tar.gz")
    sha = pack(Path(args.dir), output)
    size = output.stat().st_size
    if args.json:
        print(json.dumps({"archive": str(output), "bytes": size, "sha256": sha}, indent=2))
    else:
        print(f"wrote {output} ({size / 1e6:.2f} MB), sha256 {sha}")
    return 0
