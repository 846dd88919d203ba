"""``snapsync vectors``: generate, pack, verify and measure the conformance vectors; turn a
failing run into sequence vectors (``from-trace``)."""

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

    # Sequence vectors from failing runs (issue #11): spec/conformance/sequences.py.
    from_trace = cmds.add_parser(
        "from-trace",
        help="turn a drive/validate failure into permanent sequence vectors",
        description=(
            "Turn a run into sequence cases: the node's inputs as node-level ops with the "
            "reference's answer after each (docs/formats/vectors.md, sequence cases). TRACE is "
            "a snapsync drive trace (its hosted nodes' event logs), a model trace (every node, "
            "every poll logged) or an event log. The validator explains the log under the "
            "reference (finding its unlogged polls and elections) up to the line it rejects. "
            "One case per node and profile; --vectors adds them to a tree (manifest updated; a "
            "new directory becomes a tree of these cases), "
            "--keep stores them in the repository (spec/conformance/sequences/), where "
            "'vectors generate' takes them from."
        ),
    )
    from_trace.add_argument("trace", metavar="TRACE", help="a trace or an event log")
    from_trace.add_argument("--node", metavar="N", help="only this node (name or peer id)")
    from_trace.add_argument(
        "--profile",
        choices=sorted(PROFILES),
        action="append",
        default=[],
        help="only this profile's cases (repeatable; default: both)",
    )
    from_trace.add_argument("--vectors", metavar="DIR", help="add the cases to this vector tree")
    from_trace.add_argument(
        "--keep", action="store_true", help="also keep them in spec/conformance/sequences/"
    )
    from_trace.add_argument("--out", metavar="DIR", help="write the case files here")
    from_trace.add_argument("--json", action="store_true", help="machine-readable output")
    from_trace.set_defaults(handler=_from_trace)

    stats = cmds.add_parser(
        "stats",
        help="replay every vector under coverage.py and print the branch coverage of impl/",
        description=(
            "Replay every vector of DIR through the reference under coverage.py (branch "
            "measurement, the step call only) and print, per module of impl/, the branches "
            "and lines the vectors alone exercise, the goal (at least 95%% of the branches of "
            "session.py, provider.py, raft.py and collections/) and every branch not taken. "
            "Also checks that each replayed outcome is the vector's. Exit 1 if the goal is "
            "missed or an outcome differs."
        ),
    )
    stats.add_argument("dir", metavar="DIR", help="the vector tree")
    stats.add_argument(
        "--missing",
        type=int,
        default=40,
        metavar="N",
        help="list at most N branches not taken per module (default 40; 0: all)",
    )
    stats.add_argument("--json", action="store_true", help="machine-readable output")
    stats.set_defaults(handler=_stats)


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


def _stats(args: argparse.Namespace) -> int:
    from rich.table import Table

    from spec.conformance.stats import GOAL, GOAL_MODULES, measure
    from spec.render import results_console

    report = measure(Path(args.dir))
    ok = report.goal_percent() >= GOAL and not report.mismatches
    if args.json:
        print(json.dumps(report.as_json(), indent=2, sort_keys=True))
        return 0 if ok else 1
    console = results_console()
    table = Table(title=f"branch coverage of impl/ by {report.cases} vectors")
    for col in ("module", "branches", "taken", "%", "type guards", "not step code"):
        table.add_column(col, justify="left" if col == "module" else "right")
    for m in report.modules:
        table.add_row(
            m.module,
            str(m.branches),
            str(m.branches_taken),
            f"{m.branch_percent:.1f}",
            str(m.type_guards),
            str(m.excluded_branches),
        )
    console.print(table)
    from spec.conformance.stats import NOT_STEPS, _not_step

    for group, (why, names) in NOT_STEPS.items():
        print(f"not step code ({group}): {why}: {', '.join(names)}")
    guards = sum(m.type_guards for m in report.goal_modules())
    print(
        f"not counted: {guards} type guards (a branch from a Python type test to a raise: "
        "JSON cannot carry a value of the wrong type, the codec refuses it first)"
    )
    for m in report.goal_modules():
        missing = [b for b in m.missing_branches if not _not_step(m.module, b[2])]
        if not missing:
            continue
        shown = missing if args.missing == 0 else missing[: args.missing]
        print(f"not taken in impl/{m.module}, step code ({len(missing)}):")
        for a, b, fn in shown:
            print(f"  {a} -> {'exit' if b < 0 else b}  in {fn}")
        if len(shown) < len(missing):
            print(f"  ... {len(missing) - len(shown)} more (--missing 0 lists all)")
    for mismatch in report.mismatches:
        print(f"replay differs from the vector: {mismatch}")
    verdict = "met" if report.goal_percent() >= GOAL else "MISSED"
    total, taken = report.step_branches()
    print(
        f"goal: {report.goal_percent():.1f}% ({taken} of {total}) of the branches of the step "
        f"code of {', '.join(GOAL_MODULES)} taken by the vectors alone (required {GOAL:.0f}%): "
        f"{verdict}; every function of those modules: {report.whole_percent():.1f}%; "
        f"{len(report.mismatches)} replay mismatches"
    )
    return 0 if ok else 1


def _from_trace(args: argparse.Namespace) -> int:
    from impl.codec import canonical_json
    from impl.errors import InvalidInput
    from spec.conformance.sequences import cases_from_trace, keep
    from spec.conformance.tree import open_tree, read_cases, write_tree

    profiles = args.profile or ["reference", "mosaik-0.3.13"]
    if not (args.vectors or args.keep or args.out):
        raise InvalidInput("say where the cases go: --vectors DIR, --out DIR or --keep")
    cases = cases_from_trace(args.trace, node=args.node, profiles=profiles)
    if not cases:
        raise InvalidInput(f"{args.trace}: no node's log starts there (nothing to replay)")
    written: list[str] = []
    if args.out:
        for case in cases:
            target = Path(args.out) / case["profile"] / f"{case['id']}.json"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(canonical_json(case) + "\n", encoding="utf-8")
            written.append(str(target))
    if args.keep:
        written.extend(str(keep(case)) for case in cases)
    if args.vectors:
        directory = Path(args.vectors)
        kept = []
        # A new (or empty) directory becomes a tree of these cases; anything else must be a
        # tree (write_tree empties the directory first).
        if directory.exists() and any(directory.iterdir()):
            ids = {(c["profile"], c["id"]) for c in cases}
            kept = [
                c for c in read_cases(open_tree(directory)) if (c["profile"], c["id"]) not in ids
            ]
        write_tree(directory, [*kept, *cases])
        written.append(args.vectors)
    summary = [
        {
            "id": c["id"],
            "profile": c["profile"],
            "ops": len(c["input"]["ops"]),
            "profiles_agree": c["why"]["profiles_agree"],
            "description": c["why"]["description"],
        }
        for c in cases
    ]
    if args.json:
        print(json.dumps({"cases": summary, "written": written}, indent=2, sort_keys=True))
        return 0
    for item in summary:
        print(
            f"{item['profile']}/{item['id']}: {item['ops']} ops "
            f"({'both profiles agree' if item['profiles_agree'] else 'the profiles differ'}); "
            f"{item['description']}"
        )
    for path in written:
        print(f"wrote {path}")
    return 0
