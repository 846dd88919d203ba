"""How ``snapsync conform`` shows its report: a table per profile, every failure, the count.

Human form (:func:`print_report`): the adapter's hello, one table per profile with a
row per step (S1–S3 per collection): cases, passed, failed, expected-fail,
unsupported, seconds; then every failure with its case id, its ``why``, the first
differing JSON path with the expected and actual values there, and the command
that reruns that case; then the expected-failure entries that no longer fail; then
"attempted N of M cases". Machine form (:func:`report_json`): the same, as JSON.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from rich.console import Console
from rich.table import Table

from spec.conformance.diff import render
from spec.conformance.runner import STATUSES, CaseOutcome, ConformReport

__all__ = ["print_report", "report_json", "summary_line"]


def _rows(report: ConformReport) -> dict[str, dict[str, dict[str, Any]]]:
    """profile → suite → counts and seconds, in first-seen order."""
    rows: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for o in report.outcomes:
        row = rows[o.case["profile"]].setdefault(
            o.job.suite, {"cases": 0, "seconds": 0.0, **dict.fromkeys(STATUSES, 0)}
        )
        row["cases"] += 1
        row[o.status] += 1
        row["seconds"] += o.seconds
    return rows


def _why(case: dict[str, Any]) -> str:
    why = case["why"]
    parts = [f"{why['kind']}: {why['branch']}"]
    if why.get("hazards"):
        parts.append(f"hazards {', '.join(why['hazards'])}")
    if why.get("behaviours"):
        parts.append(f"behaviours {', '.join(why['behaviours'])}")
    return "; ".join(parts)


def failure_lines(report: ConformReport, o: CaseOutcome) -> list[str]:
    """Return the lines describing one failure (or excused failure)."""
    case = o.case
    head = f"{case['id']}  ({case['profile']}, {o.job.suite})  {o.kind}"
    if o.excused_by is not None:
        head += f"  [expected: {o.excused_by.reason}]"
    lines = [head, f"  why: {_why(case)}"]
    if case["why"].get("effect"):
        lines.append(f"  an implementation failing it: {case['why']['effect']}")
    if o.difference is not None:
        lines.append(f"  first difference: {o.difference.describe()}")
    if o.detail:
        lines.append(f"  {'adapter said' if o.kind == 'mismatch' else 'detail'}: {o.detail}")
    lines.append(f"  rerun: {report.rerun(case)}")
    return lines


def summary_line(report: ConformReport) -> str:
    """Return the final accounting line ("attempted N of M cases ...")."""
    hello_unsupported = sum(
        1 for o in report.outcomes if o.status == "unsupported" and o.kind == "hello"
    )
    answered_unsupported = report.count("unsupported") - hello_unsupported
    rate = report.attempted / report.run_seconds if report.run_seconds > 0 else 0.0
    text = (
        f"attempted {report.attempted} of {report.selected} cases "
        f"({hello_unsupported} not sent: unsupported by the hello); "
        f"{report.count('passed')} passed, {report.count('failed')} failed, "
        f"{report.count('expected-fail')} expected failures, "
        f"{answered_unsupported} answered unsupported; "
        f"{report.restarts} restarts; {report.seconds:.1f} s "
        f"({rate:.0f} cases/s after the adapter's start)"
    )
    if report.count("not-attempted"):
        why = f"stopped ({report.interrupted})" if report.interrupted else report.stopped
        text += f"; {report.count('not-attempted')} not attempted: {why}"
    return text


def print_report(report: ConformReport, console: Console, max_failures: int = 0) -> None:
    """Print the human report; ``max_failures`` > 0 caps the failures shown per step."""
    hello = report.hello

    def out(text: str) -> None:
        console.print(text, markup=False, highlight=False)

    version = f" {hello.version}" if hello.version else ""
    out(
        f"adapter: {hello.implementation}{version} (protocol {hello.protocol_version}); "
        f"claims {', '.join(hello.profiles) or 'no profile'}; "
        f"{len(hello.steps)} step ids; collections {', '.join(sorted(hello.collections))}"
    )
    out(f"vectors: {report.vectors or 'generated for this run'}")
    for event in report.events:
        out(f"note: {event}")
    profiles_run = sorted({o.case["profile"] for o in report.outcomes})
    for profile in profiles_run:
        if profile not in hello.profiles:
            out(
                f"note: the adapter does not claim profile {profile}; its {profile} failures "
                "show where it differs from that profile"
            )
    for profile, suites in _rows(report).items():
        table = Table(title=f"profile {profile}")
        columns = ("step", "cases", "passed", "failed", "expected-fail", "unsupported", "seconds")
        for col in columns:
            table.add_column(col, justify="left" if col == "step" else "right")
        for suite, row in suites.items():
            failed = str(row["failed"] + row["not-attempted"])
            table.add_row(
                suite,
                str(row["cases"]),
                str(row["passed"]),
                f"[red]{failed}[/]" if failed != "0" else failed,
                str(row["expected-fail"]),
                str(row["unsupported"]),
                f"{row['seconds']:.2f}",
            )
        console.print(table)
    failures = [o for o in report.outcomes if o.status in ("failed", "expected-fail")]
    if failures:
        out("")
        out(f"FAILURES ({report.count('failed')} failed, {report.count('expected-fail')} expected)")
        shown: dict[str, int] = defaultdict(int)
        hidden: dict[str, int] = defaultdict(int)
        for o in failures:
            key = f"{o.case['profile']}/{o.job.suite}"
            if max_failures and shown[key] >= max_failures:
                hidden[key] += 1
                continue
            shown[key] += 1
            for line in failure_lines(report, o):
                out(line)
        for key, n in hidden.items():
            out(f"({n} more failures of {key} not shown: --max-failures 0 or --json lists all)")
    for entry in report.stale():
        out(
            f"stale expectation: entries[{entry.index}] ({entry.describe()}) matches no failure "
            f"any more; remove it (reason was: {entry.reason})"
        )
    out(summary_line(report))


def _outcome_json(report: ConformReport, o: CaseOutcome) -> dict[str, Any]:
    data: dict[str, Any] = {
        "case": o.case["id"],
        "profile": o.case["profile"],
        "step": o.case["step"],
        "suite": o.job.suite,
        "status": o.status,
        "kind": o.kind,
        "why": o.case["why"],
        "rerun": report.rerun(o.case),
    }
    if o.difference is not None:
        data["difference"] = {
            "path": o.difference.path,
            "expected": render(o.difference.expected, 10_000),
            "actual": render(o.difference.actual, 10_000),
        }
    if o.detail:
        data["detail"] = o.detail
    if o.excused_by is not None:
        data["expected_failure"] = {"entry": o.excused_by.index, "reason": o.excused_by.reason}
    return data


def report_json(report: ConformReport) -> dict[str, Any]:
    """Return the machine-readable report (``--json``)."""
    rows = _rows(report)
    return {
        "ok": report.ok,
        "adapter": {"command": report.adapter, "hello": report.hello.as_json()},
        "vectors": report.vectors,
        "selected": report.selected,
        "attempted": report.attempted,
        "totals": {status: report.count(status) for status in STATUSES},
        "restarts": report.restarts,
        "stopped": report.stopped,
        "interrupted": report.interrupted,
        "jobs": report.jobs,
        "seconds": round(report.seconds, 3),
        "steps": [
            {
                "profile": profile,
                "suite": suite,
                **{k: (round(v, 3) if k == "seconds" else v) for k, v in row.items()},
            }
            for profile, suites in rows.items()
            for suite, row in suites.items()
        ],
        "failures": [
            _outcome_json(report, o)
            for o in report.outcomes
            if o.status in ("failed", "expected-fail", "not-attempted")
        ],
        "stale_expectations": [
            {"entry": e.index, "selectors": e.describe(), "reason": e.reason}
            for e in report.stale()
        ],
        "summary": summary_line(report),
    }
