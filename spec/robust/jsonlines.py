"""The one strict JSON-lines reader: every file a user hands snapsync is read through it.

A JSON-lines file (a trace, an implementation's event log, a stream of adapter
answers) is read with the rules of a verifier, and every refusal names the line
(1-based) and the field (a dotted path inside the line's value):

* the file holds at most :data:`MAX_FILE_BYTES` (a device such as ``/dev/zero``
  never exhausts memory), in UTF-8 (an invalid byte is reported at its line),
  without a byte-order mark;
* every line ends with ``\\n`` — a missing final newline means a truncated file —
  and no line is empty or ends with ``\\r``;
* each line is one JSON value parsed by :func:`impl.codec.parse_json` (duplicate
  keys, ``NaN``/``Infinity``, nesting past :data:`impl.codec.MAX_DEPTH` and lone
  surrogates are refused);
* with ``canonical=True``, each line must be the canonical text of its value
  (:func:`impl.codec.canonical_json`: sorted keys, no whitespace), which is what
  lets a verifier compare lines byte for byte;
* with ``objects=True`` (the default), each value must be a JSON object.

Use :func:`read_lines` on a path, or :func:`parse_lines` on lines already split
(without their ``\\n``). Errors are :class:`LineError`; a format's own reader
subclasses it (e.g. :class:`spec.sim.trace.TraceError`) so the CLI prints them
as one line: ``trace line 7: field args.commands[0].key: ...``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from impl.codec import canonical_json, parse_json
from impl.errors import CodecError, InvalidInput

__all__ = ["MAX_FILE_BYTES", "Line", "LineError", "parse_lines", "read_lines", "read_text"]

MAX_FILE_BYTES = 1 << 30
"""Largest file a reader accepts (1 GiB; the 100,000-item frozen case's trace: 16 MB)."""


class LineError(InvalidInput):
    """A line of a JSON-lines file is refused: ``line`` is 1-based, ``field`` a dotted path
    in the line's value (``""``: the line itself); ``what`` names the kind of file."""

    def __init__(self, line: int, field: str, reason: str, what: str = "line") -> None:
        self.line = line
        self.field = field
        self.reason = reason
        self.what = what
        super().__init__(f"{what} line {line}: field {field or '<line>'}: {reason}")


@dataclass(frozen=True, slots=True)
class Line:
    """One parsed line: its number, its value and its exact text."""

    number: int
    value: Any
    text: str


def read_text(path: str | Path, what: str = "file") -> list[str]:
    """Return the lines of the JSON-lines file at ``path`` (without their ``\\n``).

    Raises :class:`InvalidInput` if it cannot be read, :class:`LineError` for bytes that
    are not UTF-8, a byte-order mark, or a missing final newline.
    """
    try:
        with Path(path).open("rb") as stream:
            data = stream.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise InvalidInput(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_FILE_BYTES:
        raise InvalidInput(f"cannot read {what} {path}: larger than {MAX_FILE_BYTES} bytes")
    if data.startswith(b"\xef\xbb\xbf"):
        raise LineError(1, "", "starts with a UTF-8 byte-order mark", what)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise LineError(
            line, "", f"not UTF-8 text: {exc.reason} at byte {exc.start}", what
        ) from None
    if not text:
        return []
    if not text.endswith("\n"):
        line = text.count("\n") + 1
        raise LineError(line, "", "the last line has no newline (truncated file?)", what)
    return text[:-1].split("\n")


def parse_lines(
    lines: Sequence[str],
    *,
    what: str = "file",
    canonical: bool = False,
    objects: bool = True,
    error: type[LineError] = LineError,
) -> Iterator[Line]:
    """Yield every line parsed (see the module docstring); raise ``error`` at the first
    refused one. ``error`` is :class:`LineError` or a subclass with its signature."""

    def fail(number: int, field: str, reason: str) -> LineError:
        if error is LineError:
            return LineError(number, field, reason, what)
        return error(number, field, reason)

    for number, text in enumerate(lines, start=1):
        if not text:
            raise fail(number, "", "empty line")
        if text.endswith("\r"):
            raise fail(number, "", "ends with a carriage return (CRLF line ends are not allowed)")
        try:
            value = parse_json(text)
        except CodecError as exc:
            raise fail(number, exc.field, exc.reason) from None
        if objects and not isinstance(value, dict):
            raise fail(number, "", f"expected a JSON object, got {_jtype(value)}")
        if canonical and canonical_json(value) != text:
            raise fail(number, "", _canonical_reason(text, canonical_json(value)))
        yield Line(number, value, text)


def read_lines(
    path: str | Path,
    *,
    what: str = "file",
    canonical: bool = False,
    objects: bool = True,
    error: type[LineError] = LineError,
) -> Iterator[Line]:
    """Yield every line of the file at ``path`` (:func:`read_text`, then :func:`parse_lines`)."""
    lines = read_text(path, what)
    yield from parse_lines(lines, what=what, canonical=canonical, objects=objects, error=error)


def _canonical_reason(text: str, expected: str) -> str:
    at = next(
        (i for i, (a, b) in enumerate(zip(text, expected, strict=False)) if a != b),
        min(len(text), len(expected)),
    )
    return (
        "not in canonical form (sorted keys, no whitespace; docs/formats/json.md): "
        f"first difference at column {at + 1}"
    )


def _jtype(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return type(value).__name__
