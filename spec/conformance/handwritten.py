"""Hand-written calls: every rejection and ignore reason of every step, and edge values.

Recorded calls cover what the model does; these cover what it never does on
purpose: malformed or hostile inputs, guards that only a direct caller can reach,
values above 2^53 (a JavaScript reader that goes through doubles fails them), u64
boundaries (H25). Each names the guard it exercises (``branch``), what an
implementation failing it does wrong (``effect``) and says so in one sentence.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from impl.codec import encode
from impl.config import Config
from impl.types import U64_MAX, Cursor, Index, Term
from spec.conformance.build import Call

__all__ = ["hand_calls"]

BIG = (1 << 53) + 1
"""The smallest integer a double cannot hold."""

_CONFIG = encode(Config())


def _call(
    step: str,
    pre: Any,
    context: Any,
    inputs: dict[str, Any],
    name: str,
    branch: str,
    effect: str,
    description: str,
    *,
    collection: str = "map",
    config: dict[str, Any] | None = None,
) -> Call:
    return Call(
        step=step,
        collection=collection,
        config=_CONFIG if config is None else config,
        pre=pre,
        context=context,
        input=inputs,
        source={"kind": "hand", "name": name},
        branch=branch,
        effect=effect,
        description=description,
    )


def _p6() -> Iterator[Call]:
    for name, cursor in (
        ("p6-zero", Cursor(Term(0), Index(0))),
        ("p6-above-2^53", Cursor(Term(3), Index(BIG))),
        ("p6-u64-max", Cursor(Term(U64_MAX), Index(U64_MAX))),
    ):
        yield _call(
            "P6",
            None,
            None,
            {"committed": encode(cursor)},
            name,
            "P6 returns the committed index itself (provider.rs:124-129)",
            "prunes less (replays from the log) or more (loses the last committed entry) "
            "than mosaik's provider allows, or loses precision above 2^53",
            f"safe_to_prune_prefix at {cursor}: everything but the last committed entry",
        )


def hand_calls() -> list[Call]:
    """Return every hand-written call, in a fixed order."""
    return [*_p6()]
