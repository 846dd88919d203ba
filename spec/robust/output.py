"""Output paths: checked before any work starts, and I/O errors as one-line errors.

A command that will write a file (``--trace``, ``--dot``, ``--traces``,
``--trace-dir``) checks the path first, so an unwritable path is a one-line error
(exit 2) before minutes of work, not a Python exception after them::

    trace = writable_file("--trace", args.trace)       # parent exists, is writable
    traces = writable_dir("--traces", args.traces)     # created if needed, writable

Writing later can still fail (a full disk, a directory removed meanwhile):
:func:`io_errors` turns the ``OSError`` into :class:`~impl.errors.InvalidInput`
naming the option and the path. Work that must not lose its result to a failed
write (the hunt saving a finding's trace) catches :class:`OutputError` and reports
the finding with the error next to it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from impl.errors import InvalidInput

__all__ = ["OutputError", "io_errors", "writable_dir", "writable_file"]


class OutputError(InvalidInput):
    """A file or directory the command was asked to write cannot be written."""

    def __init__(self, option: str, path: str | Path, reason: str) -> None:
        self.option = option
        self.path = str(path)
        self.reason = reason
        super().__init__(f"cannot write {option} {path}: {reason}")


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def writable_file(option: str, path: str | Path) -> Path:
    """Return ``path`` if a file can be created (or replaced) there; else raise
    :class:`OutputError`. Nothing is created."""
    target = Path(path)
    if str(path) == "":
        raise OutputError(option, path, "empty path")
    if target.is_dir():
        raise OutputError(option, path, "is a directory")
    parent = target.parent
    if not parent.exists():
        raise OutputError(option, path, f"directory {parent} does not exist")
    if not parent.is_dir():
        raise OutputError(option, path, f"{parent} is not a directory")
    try:  # a real probe (permission bits do not tell root, or /proc, the truth)
        with tempfile.TemporaryFile(dir=parent, prefix=".snapsync-probe-"):
            pass
    except OSError as exc:
        raise OutputError(option, path, f"{_reason(exc)} (in {parent})") from None
    if target.exists() and not os.access(target, os.W_OK):
        raise OutputError(option, path, "permission denied")
    return target


def writable_dir(option: str, path: str | Path, *, create: bool = True) -> Path:
    """Check that files can be written in directory ``path``; raise :class:`OutputError`
    otherwise. With ``create`` the directory (and its parents) is made now; without it,
    a missing directory is fine if it can be made later (its nearest existing ancestor
    is a writable directory) — nothing is created until there is something to write."""
    target = Path(path)
    if str(path) == "":
        raise OutputError(option, path, "empty path")
    if not create and not target.exists():
        ancestor = target.absolute().parent
        while not ancestor.exists():
            ancestor = ancestor.parent
        if not ancestor.is_dir():
            raise OutputError(option, path, f"{ancestor} is not a directory")
        try:  # a real probe (permission bits do not tell root, or /proc, the truth)
            os.rmdir(tempfile.mkdtemp(dir=ancestor, prefix=".snapsync-probe-"))
        except OSError as exc:
            raise OutputError(option, path, f"{_reason(exc)} (in {ancestor})") from None
        return target
    try:
        target.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise OutputError(option, path, "exists and is not a directory") from None
    except OSError as exc:
        raise OutputError(option, path, _reason(exc)) from None
    try:
        with tempfile.TemporaryFile(dir=target):
            pass
    except OSError as exc:
        raise OutputError(option, path, _reason(exc)) from None
    return target


@contextmanager
def io_errors(option: str, path: str | Path) -> Iterator[None]:
    """Turn an ``OSError`` raised in the block into :class:`OutputError` for ``option``."""
    try:
        yield
    except OSError as exc:
        raise OutputError(option, path, _reason(exc)) from None
