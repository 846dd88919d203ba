"""The expected-failures file of ``snapsync conform --expect-fail FILE``.

An implementation that knowingly differs from a profile (mosaik on H1, a port that
has not done DEPQ yet, ...) lists those differences, each **with its reason**, so the
run can pass while saying what it excuses. The file is JSON
(``spec/schemas/expected-failures.schema.json``, docs/conformance.md)::

    {"format": "snapsync-expected-failures", "version": 1,
     "entries": [
       {"reason": "mosaik accepts late responses (H1)", "profile": "reference", "hazard": "H1"},
       {"reason": "DEPQ not done yet", "suite": "S*.depq"}]}

An entry matches a failing case when every selector it gives matches: ``case`` (a
case id), ``suite`` (a glob over report rows: ``Q4``, ``S1.depq``, ``Q*``),
``profile`` (a profile name) and ``hazard`` (an id in the case's ``why.hazards``).
Each entry needs a non-empty ``reason`` and at least one selector. An entry that
matches no failing case is reported as *stale* ("no longer fails").
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spec.conformance.cases import VectorError
from spec.conformance.jsonio import JSONError, json_type, strict_loads

__all__ = ["EXPECT_FORMAT", "Expectation", "load_expectations"]

EXPECT_FORMAT = "snapsync-expected-failures"
_SELECTORS = ("case", "suite", "profile", "hazard")


@dataclass(frozen=True, slots=True)
class Expectation:
    """One entry: its selectors and its reason; ``index`` is its position in the file."""

    index: int
    reason: str
    case: str | None = None
    suite: str | None = None
    profile: str | None = None
    hazard: str | None = None

    def matches(self, case_id: str, suite: str, profile: str, hazards: list[str]) -> bool:
        """Check if this entry excuses a failure of the described case."""
        return (
            (self.case is None or self.case == case_id)
            and (self.suite is None or fnmatch.fnmatchcase(suite, self.suite))
            and (self.profile is None or self.profile == profile)
            and (self.hazard is None or self.hazard in hazards)
        )

    def describe(self) -> str:
        """Return the entry's selectors as ``key=value`` words."""
        parts = [f"{k}={getattr(self, k)}" for k in _SELECTORS if getattr(self, k) is not None]
        return " ".join(parts)


def load_expectations(path: Path) -> list[Expectation]:
    """Read and check an expected-failures file; raise VectorError naming the field."""
    where = str(path)
    try:
        data = strict_loads(Path(path).read_bytes())
    except OSError as exc:
        raise VectorError(where, "", exc.strerror or str(exc)) from None
    except JSONError as exc:
        raise VectorError(where, "", f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise VectorError(where, "", f"expected an object, got {json_type(data)}")
    for key in sorted(data):
        if key not in ("format", "version", "entries"):
            raise VectorError(where, key, "unexpected field")
    if data.get("format") != EXPECT_FORMAT:
        raise VectorError(where, "format", f"expected {EXPECT_FORMAT!r}")
    if data.get("version") != 1 or isinstance(data.get("version"), bool):
        raise VectorError(where, "version", "this reader reads version 1")
    entries = data.get("entries")
    if not isinstance(entries, list):
        raise VectorError(where, "entries", "expected an array")
    out: list[Expectation] = []
    for i, entry in enumerate(entries):
        at = f"entries[{i}]"
        if not isinstance(entry, dict):
            raise VectorError(where, at, f"expected an object, got {json_type(entry)}")
        for key in sorted(entry):
            if key != "reason" and key not in _SELECTORS:
                raise VectorError(where, f"{at}.{key}", "unexpected field of an entry")
        reason = entry.get("reason")
        if not isinstance(reason, str) or not reason.strip():
            raise VectorError(where, f"{at}.reason", "every entry must give its reason")
        selectors: dict[str, Any] = {k: entry[k] for k in _SELECTORS if k in entry}
        if not selectors:
            raise VectorError(
                where, at, "an entry needs at least one of case, suite, profile, hazard"
            )
        for key, value in selectors.items():
            if not isinstance(value, str) or not value:
                raise VectorError(where, f"{at}.{key}", "expected a non-empty string")
        out.append(Expectation(index=i, reason=reason.strip(), **selectors))
    return out
