"""The shared robustness pieces (spec/robust/): numbers, JSON lines, output paths, stops."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from impl.errors import InvalidInput
from spec.robust import jsonlines, stop
from spec.robust.jsonlines import LineError, parse_lines, read_lines, read_text
from spec.robust.options import MAX_ITEMS, check_range, count, int_list, probability, seconds, seed
from spec.robust.output import OutputError, io_errors, writable_dir, writable_file


@pytest.fixture(autouse=True)
def _clean_stop_state() -> None:
    stop.reset()


# -- numbers -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["nan", "NaN", "inf", "-inf", "1e999", "-1", "abc", "", " ", "0x10", "١٢", "1.5"]
)
def test_count_refuses_what_is_not_a_count_in_range(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        count(0, MAX_ITEMS)(text)


def test_count_bounds_and_u64_overflow() -> None:
    parse = count(1, 10)
    assert [parse(t) for t in ("1", "10", " 7 ")] == [1, 10, 7]
    for text in ("0", "11", "99999999999999999999999"):
        with pytest.raises(argparse.ArgumentTypeError, match=r"must be in \[1, 10\]"):
            parse(text)
    assert seed(str(2**64 - 1)) == 2**64 - 1
    with pytest.raises(argparse.ArgumentTypeError):
        seed(str(2**64))


@pytest.mark.parametrize("text", ["nan", "inf", "-inf", "1e999", "-0.5", "x", "8e5"])
def test_seconds_refuses_non_finite_negative_and_too_long(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        seconds(positive=True)(text)


def test_seconds_positive_or_zero() -> None:
    assert seconds()("0") == 0.0
    with pytest.raises(argparse.ArgumentTypeError, match="positive"):
        seconds(positive=True)("0")


@pytest.mark.parametrize("text", ["nan", "-0.1", "1.01", "inf"])
def test_probability(text: str) -> None:
    assert probability("0.5") == 0.5
    with pytest.raises(argparse.ArgumentTypeError):
        probability(text)


def test_int_list_and_check_range() -> None:
    assert int_list(0, 5)("1,2, 3") == [1, 2, 3]
    for text in (",", "1,x", "1,9"):
        with pytest.raises(argparse.ArgumentTypeError):
            int_list(0, 5)(text)
    for bad in (float("nan"), float("inf"), -1, True, "3"):
        with pytest.raises(InvalidInput, match="items"):
            check_range("items", bad, 0, 10)


# -- JSON lines --------------------------------------------------------------------------------


def _write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "f.jsonl"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("data", "line", "reason"),
    [
        (b'{"a":1}\n{"a":2}', 2, "no newline"),
        (b"\xef\xbb\xbf{}\n", 1, "byte-order mark"),
        (b'{"a":1}\n{"a":"\xff"}\n', 2, "not UTF-8"),
        (b'{"a":1}\n\n{"a":2}\n', 2, "empty line"),
        (b'{"a":1}\r\n', 1, "carriage return"),
        (b'{"a":1}\n[1]\n', 2, "expected a JSON object"),
        (b'{"a":1,"a":2}\n', 1, "duplicate key"),
        (b'{"a":NaN}\n', 1, "NaN"),
        (b'{"a":"\\ud800"}\n', 1, "lone surrogate"),
        (b"[" * 70 + b"]" * 70 + b"\n", 1, "deeper than 64"),
    ],
)
def test_jsonlines_refusals_name_the_line(
    tmp_path: Path, data: bytes, line: int, reason: str
) -> None:
    path = _write(tmp_path, data)
    with pytest.raises(LineError) as info:
        list(read_lines(path, what="log"))
    assert info.value.line == line
    assert reason in info.value.reason
    assert str(info.value).startswith(f"log line {line}:")


def test_jsonlines_field_path_and_canonical_form(tmp_path: Path) -> None:
    with pytest.raises(LineError) as info:
        list(parse_lines(['{"a":{"b":["x","\\udc00"]}}']))
    assert info.value.field == "a.b[1]"
    with pytest.raises(LineError, match="canonical"):
        list(parse_lines(['{"b":1,"a":2}'], canonical=True))
    assert [x.value for x in parse_lines(['{"a":2,"b":1}'], canonical=True)] == [{"a": 2, "b": 1}]
    assert read_text(_write(tmp_path, b"")) == []
    with pytest.raises(InvalidInput, match="cannot read"):
        read_text(tmp_path / "missing.jsonl")
    with pytest.raises(InvalidInput, match="Is a directory"):
        read_text(tmp_path)


def test_an_endless_file_is_refused_at_the_size_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jsonlines, "MAX_FILE_BYTES", 1 << 16)
    with pytest.raises(InvalidInput, match="larger than 65536 bytes"):
        read_text("/dev/zero")


# -- output paths ------------------------------------------------------------------------------


def test_writable_file_and_dir(tmp_path: Path) -> None:
    assert writable_file("--trace", tmp_path / "t.jsonl") == tmp_path / "t.jsonl"
    a_file = tmp_path / "file"
    a_file.write_text("x")
    for bad in (tmp_path / "no" / "t.jsonl", a_file / "t.jsonl", tmp_path):
        with pytest.raises(OutputError, match="--trace"):
            writable_file("--trace", bad)
    target = tmp_path / "new" / "deeper"
    assert writable_dir("--traces", target, create=False) == target
    assert not target.exists()  # nothing is created until there is something to write
    with pytest.raises(OutputError, match="--traces"):
        writable_dir("--traces", a_file / "sub", create=False)
    with pytest.raises(OutputError, match="not a directory"):
        writable_dir("--traces", a_file)
    writable_dir("--traces", target)
    assert target.is_dir()
    with pytest.raises(OutputError, match="--dot"), io_errors("--dot", a_file / "x"):
        (a_file / "x").write_text("y")


# -- stops -------------------------------------------------------------------------------------


def test_deadline_raises_at_a_stop_point_and_stopping_records_why() -> None:
    with stop.stopping() as stopped, stop.deadline(0.01):
        time.sleep(0.02)
        stop.stop_point()
        pytest.fail("the stop point did not stop")  # pragma: no cover
    assert stopped.reason == "budget"
    assert not stopped.interrupted
    assert stop.exit_status(stopped.reason, 0) == 0
    stop.stop_point()  # outside the deadline nothing stops


def test_an_interrupt_is_kept_and_shielded_work_still_finishes() -> None:
    with stop.stopping() as stopped:
        stop.request_stop()
        with stop.shielded():
            stop.stop_point()  # a shielded block finishes despite the request
        stop.stop_point()
    assert stopped.reason == "interrupt"
    assert stop.exit_status(stopped.reason, 0) == stop.INTERRUPTED
    assert stop.stop_requested() == "interrupt"


def test_shielded_work_has_its_own_grace_deadline() -> None:
    with stop.stopping() as stopped, stop.shielded(0.01):
        time.sleep(0.02)
        stop.stop_point()
    assert stopped.reason == "budget"


def test_a_plain_keyboard_interrupt_is_a_stop_too() -> None:
    with stop.stopping() as stopped:
        raise KeyboardInterrupt
    assert stopped.reason == "interrupt"


def _interrupt() -> None:
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(1)  # the handler runs before this returns


def test_signals_first_is_cooperative_second_is_immediate() -> None:
    with stop.signals_handled():
        with stop.stopping() as stopped:
            os.kill(os.getpid(), signal.SIGINT)  # inside a cooperative block: a flag
            assert stop.stop_requested() == "interrupt"
            with pytest.raises(KeyboardInterrupt):
                _interrupt()  # the second one does not wait for a stop point
            stop.stop_point()
        assert stopped.reason == "interrupt"
    with stop.signals_handled(), pytest.raises(KeyboardInterrupt):
        _interrupt()  # outside any cooperative block: at once
    with stop.signals_handled(), stop.stopping() as terminated:
        os.kill(os.getpid(), signal.SIGTERM)  # SIGTERM is the same stop, exit 143
        stop.stop_point()
    assert terminated.reason == "terminate"
    assert stop.exit_status(terminated.reason, 0) == stop.TERMINATED


def test_children_never_outlive_their_block() -> None:
    children = stop.Children(grace_s=1.0)
    with children:
        proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        children.add(proc)
        assert children.running() == 1
    assert proc.poll() is not None
    # A child that ignores SIGTERM is killed after the grace period.
    stubborn = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "print('ready', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
    )
    assert stubborn.stdout is not None
    stubborn.stdout.readline()
    quick = stop.Children(grace_s=0.2)
    quick.add(stubborn)
    quick.reap()
    stubborn.stdout.close()
    assert stubborn.returncode == -signal.SIGKILL


WORKER = """
import time
from spec.robust.stop import Stop, stop_point, worker_signals
worker_signals()
print("ready", flush=True)
done = 0
try:
    while True:
        stop_point()
        done += 1
        time.sleep(0.001)
except Stop as stop:
    print(f"partial {done} {stop.reason}", flush=True)
"""


def test_a_worker_returns_its_partial_result_on_sigint() -> None:
    """The design #15's workers follow: SIGINT (sent to the whole process group by the
    terminal) makes a worker stop at its next stop point and hand back what it did."""
    with stop.Children(grace_s=5.0) as children:
        worker = subprocess.Popen([sys.executable, "-c", WORKER], stdout=subprocess.PIPE, text=True)
        children.add(worker)
        assert worker.stdout is not None
        assert worker.stdout.readline().strip() == "ready"
        worker.send_signal(signal.SIGINT)
        words = worker.stdout.readline().split()
        assert worker.wait(timeout=10) == 0
        worker.stdout.close()
    assert words[0] == "partial"
    assert int(words[1]) >= 0
    assert words[2] == "interrupt"
