"""``snapsync conform``: run every selected case through an adapter and account for each.

For every case the runner sends one ``step`` request (docs/formats/adapter.md) and
compares the answer with the case's ``expected`` outcome after normalisation
(:mod:`spec.conformance.diff`). Each selected case ends in exactly one status:

* ``passed`` — the normalised answer equals the expected outcome;
* ``failed`` — a ``mismatch`` (with the first differing JSON path), a ``timeout``,
  a ``crash`` or a ``malformed`` answer (each attributed to the case that caused it;
  the process is restarted and the run goes on);
* ``expected-fail`` — failed, and an entry of the expected-failures file excuses it
  (its reason is reported);
* ``unsupported`` — the adapter's hello does not list the step or the collection (the
  case is not sent), or the adapter answered ``unsupported``;
* ``not-attempted`` — the run stopped early (too many restarts).

The run ends with "attempted N of M cases": M selected, N sent and answered (or
failed). The exit status is 0 only if every supported case passed or is an
expected failure, and every supported case was attempted.
"""

from __future__ import annotations

import fnmatch
import shlex
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from impl.codec import canonical_json
from spec.conformance.conventions import suite_of
from spec.conformance.diff import Difference, first_difference, normalize_outcome
from spec.conformance.expectations import Expectation
from spec.conformance.nodeops import request_line
from spec.conformance.process import Exchange, Failure
from spec.conformance.protocol import (
    RUNNER_OPS,
    Answer,
    Hello,
    step_request,
    step_request_parts,
)
from spec.robust.stop import StopReason, stop_point, stopping

__all__ = [
    "STATUSES",
    "CaseOutcome",
    "ConformReport",
    "Job",
    "NodeOpJob",
    "make_jobs",
    "run_conform",
    "select",
    "sequence_job",
]

STATUSES = ("passed", "failed", "expected-fail", "unsupported", "not-attempted")


@dataclass(slots=True)
class Job:
    """One case ready to send: its request halves and its normalised expected outcome."""

    case: dict[str, Any]
    suite: str
    head: str
    tail: str
    expected: dict[str, Any]
    expected_text: str
    exact: bytes
    """The answer line the reference writes for this case, after ``{"id":N,`` (fast path)."""

    def request(self, request_id: int) -> str:
        """Return the case's ``step`` request line with id ``request_id``."""
        return step_request(request_id, self.head, self.tail)


@dataclass(frozen=True, slots=True)
class NodeOpJob:
    """One node-level op of a sequence case, sent through the run's adapter process."""

    op: str
    fields: dict[str, Any]

    def request(self, request_id: int) -> str:
        """Return the op's request line with id ``request_id``."""
        return request_line(request_id, self.op, self.fields)


def make_jobs(cases: Iterable[dict[str, Any]]) -> list[Job]:
    """Prepare ``cases`` for sending (serialise once, normalise the expectation once)."""
    jobs = []
    for case in cases:
        head, tail = step_request_parts(case)
        expected = normalize_outcome(case["expected"])
        jobs.append(
            Job(
                case=case,
                suite=suite_of(case["step"], case["collection"]),
                head=head,
                tail=tail,
                expected=expected,
                expected_text=canonical_json(expected),
                exact=canonical_json(case["expected"])[1:].encode(),
            )
        )
    return jobs


def sequence_job(case: dict[str, Any]) -> Job:
    """Return the job of a sequence case (its ops are sent one by one, not as one line)."""
    return Job(case, "node", "", "", case["expected"], "", b"")


def select(
    cases: Iterable[dict[str, Any]],
    *,
    steps: Sequence[str] = (),
    profiles: Sequence[str] = (),
    case_ids: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """Keep the cases whose report row matches a ``steps`` glob (``Q*``, ``S1.depq``, ``S1``
    for every collection), whose profile is in ``profiles`` and whose id is in ``case_ids``
    (each filter only when given)."""
    out = []
    for case in cases:
        suite = suite_of(case["step"], case["collection"])
        if steps and not any(
            fnmatch.fnmatchcase(suite, pattern) or fnmatch.fnmatchcase(case["step"], pattern)
            for pattern in steps
        ):
            continue
        if profiles and case["profile"] not in profiles:
            continue
        if case_ids and case["id"] not in case_ids:
            continue
        out.append(case)
    return out


@dataclass(slots=True)
class CaseOutcome:
    """What happened to one case."""

    job: Job
    status: str
    kind: str | None = None
    """For a failure: mismatch, timeout, crash or malformed."""
    difference: Difference | None = None
    detail: str = ""
    seconds: float = 0.0
    excused_by: Expectation | None = None

    @property
    def case(self) -> dict[str, Any]:
        """Return the case."""
        return self.job.case


@dataclass
class ConformReport:
    """The whole run: the adapter's hello, every case's outcome, and the accounting."""

    hello: Hello
    adapter: str
    vectors: str | None
    outcomes: list[CaseOutcome]
    expectations: list[Expectation]
    stopped: str | None
    restarts: int
    seconds: float
    events: list[str] = field(default_factory=list)
    run_seconds: float = 0.0
    """Seconds from the first request after the hello to the last answer."""
    interrupted: StopReason | None = None
    """Why the run ended before its cases did (Ctrl-C: ``interrupt``, SIGTERM, a budget)."""
    jobs: int = 1
    """Adapter processes that ran the cases side by side (``conform --jobs``)."""

    @property
    def selected(self) -> int:
        """Return M: the number of selected cases."""
        return len(self.outcomes)

    @property
    def attempted(self) -> int:
        """Return N: the cases sent and answered (or failed)."""
        return sum(
            1
            for o in self.outcomes
            if o.status not in ("not-attempted",)
            and not (o.status == "unsupported" and o.kind == "hello")
        )

    def count(self, status: str) -> int:
        """Return how many cases ended in ``status``."""
        return sum(1 for o in self.outcomes if o.status == status)

    def stale(self) -> list[Expectation]:
        """Return the expected-failure entries that excused no failure (no longer fail)."""
        used = {o.excused_by.index for o in self.outcomes if o.excused_by is not None}
        return [e for e in self.expectations if e.index not in used]

    @property
    def ok(self) -> bool:
        """Check the exit condition: no unexcused failure, nothing left unattempted."""
        return self.count("failed") == 0 and self.count("not-attempted") == 0

    def rerun(self, case: dict[str, Any]) -> str:
        """Return the command that reruns one case."""
        words = ["snapsync", "conform", "--adapter", shlex.quote(self.adapter)]
        if self.vectors is not None:
            words += ["--vectors", shlex.quote(self.vectors)]
        words += ["--profile", shlex.quote(case["profile"]), "--case", case["id"]]
        return " ".join(words)


def _exact(job: Job | NodeOpJob, rid: int, line: bytes) -> bool:
    """Check if ``line`` is byte for byte the reference's answer (then it passes unparsed)."""
    if not isinstance(job, Job):
        return False  # a sequence compares only part of each answer
    prefix = b'{"id":%d,' % rid
    return line.startswith(prefix) and line[len(prefix) :] == job.exact


def _judge(job: Job, reply: Answer | Failure, seconds: float) -> CaseOutcome:
    if isinstance(reply, Failure):
        return CaseOutcome(job, "failed", reply.kind, detail=reply.detail, seconds=seconds)
    if reply.kind == "exact":
        return CaseOutcome(job, "passed", seconds=seconds)
    if reply.kind == "unsupported":
        return CaseOutcome(job, "unsupported", "answer", detail=str(reply.value), seconds=seconds)
    actual = normalize_outcome({reply.kind: reply.value})
    if canonical_json(actual) == job.expected_text:
        return CaseOutcome(job, "passed", seconds=seconds)
    diff = _outcome_difference(job.expected, actual)
    detail = ""
    if reply.kind == "error":
        message = reply.value.get("message") if isinstance(reply.value, dict) else None
        if isinstance(message, str):
            detail = message
    return CaseOutcome(job, "failed", "mismatch", difference=diff, detail=detail, seconds=seconds)


def _outcome_difference(expected: dict[str, Any], actual: dict[str, Any]) -> Difference:
    if "result" in expected and "result" in actual:
        found = first_difference(expected["result"], actual["result"])
    elif "error" in expected and "error" in actual:
        found = first_difference(expected["error"], actual["error"], "error")
    else:
        want = "result" if "result" in expected else "error"
        got = "result" if "result" in actual else "error"
        found = Difference("", {want: expected[want]}, {got: actual[got]})
    if found is None:  # pragma: no cover - the texts differed, so a path differs
        found = Difference("", expected, actual)
    return found


def run_conform(
    argv: Sequence[str],
    cases: Sequence[dict[str, Any]],
    *,
    adapter: str,
    vectors: str | None,
    expectations: Sequence[Expectation] = (),
    timeout: float = 10.0,
    window: int = 32,
    max_restarts: int = 50,
    on_outcome: Callable[[CaseOutcome], None] | None = None,
) -> ConformReport:
    """Run ``cases`` through the adapter ``argv``; return the report (module docstring).

    Every answer is a stop point (:mod:`spec.robust.stop`): Ctrl-C, SIGTERM or a deadline
    ends the run with the adapter closed, the cases not answered yet ``not-attempted``
    and :attr:`ConformReport.interrupted` saying why (the partial report).
    """
    started = time.perf_counter()
    # Sequence cases (issue #11) replay a node's run through the node-level ops, after the
    # step cases and through the same process; the step cases are pipelined.
    sequences = [c for c in cases if c.get("kind") == "sequence"]
    ops: tuple[str, ...] = RUNNER_OPS
    if sequences:
        from spec.conformance.sequences import SEQUENCE_OPS

        ops = (*RUNNER_OPS, *SEQUENCE_OPS)
    exchange: Exchange[Job | NodeOpJob] = Exchange(
        argv,
        lambda job, rid: job.request(rid),
        timeout=timeout,
        window=window,
        max_restarts=max_restarts,
        ops=ops,
        exact=_exact,
    )
    exchange.spawn()  # the adapter imports while the requests are prepared
    try:
        jobs = make_jobs([c for c in cases if c.get("kind") != "sequence"])
        hello = exchange.start()
    except BaseException:
        exchange.close()
        raise
    outcomes: dict[int, CaseOutcome] = {}
    to_send: list[Job | NodeOpJob] = []
    for i, job in enumerate(jobs):
        why = hello.supports(job.case["step"], job.case["collection"])
        if why is not None:
            outcomes[i] = CaseOutcome(job, "unsupported", "hello", detail=why)
        else:
            to_send.append(job)
    index = {id(job): i for i, job in enumerate(jobs)}
    replays: list[tuple[int, Job]] = []
    missing = sorted(set(ops[len(RUNNER_OPS) :]) - hello.ops)
    for case in sequences:
        job = sequence_job(case)
        jobs.append(job)
        if missing:
            why = f"the adapter's hello does not list the node-level ops {missing}"
            outcomes[len(jobs) - 1] = CaseOutcome(job, "unsupported", "hello", detail=why)
        else:
            replays.append((len(jobs) - 1, job))
    run_started = time.perf_counter()
    try:
        with stopping() as stop:
            for sent, reply, seconds in exchange.run(to_send):
                assert isinstance(sent, Job)
                outcome = _excuse(_judge(sent, reply, seconds), expectations)
                outcomes[index[id(sent)]] = outcome
                if on_outcome is not None:
                    on_outcome(outcome)
                stop_point()
            for i, job in replays:
                stop_point()
                outcome = _excuse(_sequence_outcome(exchange, job), expectations)
                outcomes[i] = outcome
                if on_outcome is not None:
                    on_outcome(outcome)
    finally:
        run_seconds = time.perf_counter() - run_started
        exchange.close()
    why_not = f"stopped ({stop.reason})" if stop.reason else exchange.stopped or ""
    for i, job in enumerate(jobs):
        if i not in outcomes:
            outcomes[i] = CaseOutcome(job, "not-attempted", detail=why_not)
    return ConformReport(
        hello=hello,
        adapter=adapter,
        vectors=vectors,
        outcomes=[outcomes[i] for i in range(len(jobs))],
        expectations=list(expectations),
        stopped=exchange.stopped,
        restarts=exchange.restarts,
        seconds=time.perf_counter() - started,
        events=list(exchange.events),
        run_seconds=run_seconds,
        interrupted=stop.reason,
    )


def _excuse(outcome: CaseOutcome, expectations: Sequence[Expectation]) -> CaseOutcome:
    """Mark a failure an expected one if an entry of ``--expect-fail`` matches it."""
    if outcome.status == "failed":
        case = outcome.job.case
        hazards = case["why"].get("hazards") or []
        for entry in expectations:
            if entry.matches(case["id"], outcome.job.suite, case["profile"], hazards):
                outcome.status = "expected-fail"
                outcome.excused_by = entry
                break
    return outcome


def _sequence_outcome(exchange: Exchange[Job | NodeOpJob], job: Job) -> CaseOutcome:
    """Replay one sequence case (:func:`spec.conformance.sequences.replay_sequence`) through
    the run's process, one op at a time; a crash, timeout or malformed answer fails the case
    and the exchange restarts the process for the next one."""
    from spec.conformance.sequences import replay_sequence
    from spec.model.host import HostError

    def send(op: str, fields: dict[str, Any]) -> Answer | None:
        # Drain the generator: after a failure it restarts the process before it ends.
        replies = list(exchange.run([NodeOpJob(op, fields)]))
        if not replies:
            return None
        reply = replies[0][1]
        if isinstance(reply, Failure):
            raise HostError(reply.kind, reply.detail)
        return reply

    started = time.perf_counter()
    result = replay_sequence(job.case, send)
    if result.status == "not-attempted":
        return CaseOutcome(job, "not-attempted", detail=exchange.stopped or "")
    seconds = time.perf_counter() - started
    return CaseOutcome(job, result.status, result.kind, result.difference, result.detail, seconds)


def load_selected(
    directory: Path,
    *,
    steps: Sequence[str] = (),
    profiles: Sequence[str] = (),
    case_ids: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """Open and verify a tree, and return its selected cases (in path order)."""
    from spec.conformance.tree import open_tree, read_cases

    tree = open_tree(directory)
    cases = read_cases(tree, profiles=profiles or None, case_ids=case_ids or None)
    return select(cases, steps=steps)
